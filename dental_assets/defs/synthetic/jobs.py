"""The demo: ``demo_job`` materializes the whole graph from the synthetic practice.

A Dagster run covers one partitions definition, and the graph has three: unpartitioned, monthly (raw
transactional tables and the incremental dbt facts) and yearly (the treatment-journey dataset). A run over a partition range also
records a planned event per partition for each unpartitioned asset it holds. So ``demo_job`` plans the
graph as a sequence of runs with ``plan_runs``, each over a single partitions definition, in dependency
order. Its one step launches them on the same instance, where they show in the UI as ordinary asset
runs tagged ``dental/demo_run_id``:

- unpartitioned assets: one run;
- monthly assets: one run over every monthly partition (a single-run backfill): first the raw
  transactional tables, later, after the unpartitioned dbt models they read, the incremental dbt facts
  (a range over every month is their full refresh, see ``dental_assets.defs.dbt.assets``);
- yearly assets: one run per year holding procedures (the treatment-journey dataset);
- assets downstream of those (the models): one more unpartitioned run.

The runs are recorded with the code location's origin (``execute_asset_run``), as runs launched from
the UI are, so the UI's Overview timeline shows them. On the console the demo logs one INFO line per
planned step with its elapsed time and a progress line every ``PROGRESS_SECONDS``; the launched runs
log only warnings and errors there (their full event log is in the UI) unless demo_job's console
logger is at DEBUG (``dental demo --verbose``).

At the end it logs, and writes to ``$DENTAL_HOME/demo_summary.json``, row counts per warehouse schema
and where the outputs are.
"""

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import dagster as dg

from dental_assets.partitions import (monthly_partitions, partition_range_tags, planned_events_per_range,
                                     yearly_partitions)
from dental_assets.warehouse import dental_home

PARENT_TAG = "dental/demo_run_id"
CODE_LOCATION = "dental_assets.definitions"  # the code location's name under `dagster dev -m`, workspace.yaml, dg
REPOSITORY_NAME = "__repository__"  # Dagster's name for the repository of a Definitions object


@dataclass(frozen=True)
class PlannedRun:
    """One run of the demo: assets sharing a partitions definition (None: unpartitioned)."""

    partitions_def: dg.PartitionsDefinition | None
    keys: tuple[dg.AssetKey, ...]


def plan_runs(
    keys: Iterable[dg.AssetKey],
    parents: Mapping[dg.AssetKey, Iterable[dg.AssetKey]],
    partitions_of: Callable[[dg.AssetKey], dg.PartitionsDefinition | None],
    node_of: Callable[[dg.AssetKey], object],
) -> list[PlannedRun]:
    """Order ``keys`` into runs that each hold one partitions definition.

    A key's wave is the smallest that comes after every parent's wave, or shares it when the parent has
    the same partitions definition. Keys of one node (a multi-asset such as the dbt models) share the
    latest wave among them, so each node executes once. Returns the runs in execution order (by wave,
    then unpartitioned before partitioned). Raises ValueError on a dependency cycle.
    """
    keys = list(keys)
    selected = set(keys)
    wave = {key: 0 for key in keys}
    for _ in range(len(keys) + 1):
        changed = False
        for key in keys:
            for parent in parents.get(key, ()):
                if parent not in selected:
                    continue
                step = 0 if partitions_of(parent) == partitions_of(key) else 1
                if wave[parent] + step > wave[key]:
                    wave[key] = wave[parent] + step
                    changed = True
        by_node: dict[object, int] = {}
        for key in keys:
            by_node[node_of(key)] = max(by_node.get(node_of(key), 0), wave[key])
        for key in keys:
            if by_node[node_of(key)] > wave[key]:
                wave[key] = by_node[node_of(key)]
                changed = True
        if not changed:
            break
    else:
        raise ValueError("the asset selection has a dependency cycle")

    groups: dict[tuple[int, int], list[dg.AssetKey]] = {}
    defs_in_order: list[dg.PartitionsDefinition | None] = []
    for key in sorted(keys, key=lambda k: k.to_user_string()):
        pdef = partitions_of(key)
        if pdef not in defs_in_order:
            defs_in_order.append(pdef)
        groups.setdefault((wave[key], defs_in_order.index(pdef)), []).append(key)

    def order(group_key: tuple[int, int]) -> tuple[int, int, int]:
        w, index = group_key
        return (w, defs_in_order[index] is not None, index)

    return [
        PlannedRun(defs_in_order[index], tuple(groups[(w, index)]))
        for (w, index) in sorted(groups, key=order)
    ]


def _code_location_defs() -> dg.Definitions:
    from dental_assets.definitions import defs  # resolved at run time: the job is part of defs

    return defs


def demo_plan() -> list[PlannedRun]:
    """The runs that materialize every asset of the code location."""
    graph = _code_location_defs().resolve_asset_graph()
    keys = [k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable]
    return plan_runs(
        keys,
        parents={k: graph.get(k).parent_keys for k in keys},
        partitions_of=lambda k: graph.get(k).partitions_def,
        node_of=lambda k: graph.get(k).assets_def,
    )


def journey_years(warehouse) -> list[str]:
    """The yearly partitions that hold procedures of the treatment-journey model, oldest first."""
    from dental_assets.defs.dbt.assets import relation_for_model
    from dental_assets.defs.journey.assets import JOURNEY_MODEL

    conn = warehouse.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT DISTINCT procedure_year FROM {relation_for_model(JOURNEY_MODEL)} "
                        "WHERE procedure_year IS NOT NULL")
            years = {str(row[0]) for row in cur.fetchall()}
    finally:
        conn.close()
    return [key for key in yearly_partitions.get_partition_keys() if key in years]


def _run_kwargs(run: PlannedRun, warehouse) -> list[dict]:
    """The runs of one planned step: one run, except for yearly assets, one run per year with data."""
    if run.partitions_def is None:
        return [{}]
    if run.partitions_def == monthly_partitions:
        months = monthly_partitions.get_partition_keys()
        return [{"tags": partition_range_tags(months[0], months[-1])}]
    if run.partitions_def == yearly_partitions:
        return [{"partition_key": year} for year in journey_years(warehouse)]
    raise dg.Failure(description=f"the demo has no partition to pick for {run.partitions_def}")


def remote_job_origin(job_name: str, parent: dg.DagsterRun | None = None):
    """The origin Dagster's UI knows a run's job by (code location and repository): the parent run's
    repository when it has one (a run launched from the UI), else the code location
    ``dental_assets.definitions`` loaded from this Python and the current folder. The UI's Overview
    timeline leaves out runs without one, which runs made with ``execute_in_process`` or ``dagster job
    execute`` are."""
    from dagster._core.remote_origin import (
        ManagedGrpcPythonEnvCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    if parent is not None and parent.remote_job_origin is not None:
        return RemoteJobOrigin(parent.remote_job_origin.repository_origin, job_name)
    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name=CODE_LOCATION,
                             working_directory=os.getcwd()),
        location_name=CODE_LOCATION,
    )
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, REPOSITORY_NAME), job_name)


def execute_asset_run(job: dg.JobDefinition, instance: dg.DagsterInstance, keys: Iterable[dg.AssetKey],
                      tags: Mapping[str, str], partition_key: str | None = None,
                      parent: dg.DagsterRun | None = None, run_config: Mapping | None = None,
                      on_created: Callable[[str], None] | None = None):
    """Run ``keys`` of the asset job ``job`` in this process on ``instance``, as ``execute_in_process``
    does (in-process executor, the job's resources), but recorded with the code location's origin
    (``remote_job_origin``) so the run shows on the UI's Overview and can be re-executed from the UI.
    ``run_config`` is merged into the run's config (e.g. the console logger's level); ``on_created`` is
    called with the run id before the run starts. Returns Dagster's execution result (``success``, ``run_id``); step failures do not raise."""
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.api import (
        ExecuteRunWithPlanIterable,
        create_execution_plan,
        job_execution_iterator,
    )
    from dagster._core.execution.context_creation_job import (
        PlanOrchestrationContextManager,
        orchestration_context_event_generator,
    )
    from dagster._core.execution.execute_in_process import merge_run_tags
    from dagster._core.execution.execute_in_process_result import ExecuteInProcessResult

    # the steps of JobDefinition.execute_in_process, with the origin added to the run
    keys = list(keys)
    subset = job.as_ephemeral_job(resource_defs={}, input_values={}, asset_selection=keys)
    extra_config = dict(run_config or {})
    run_config = {}
    if partition_key and subset.partitioned_config:
        run_config = dict(subset.partitioned_config.get_run_config_for_partition_key(partition_key))
    run_config.update(extra_config)
    run_tags = merge_run_tags(job_def=job, partition_key=partition_key, tags=tags, asset_selection=keys,
                              instance=instance, run_config=run_config)
    in_memory = InMemoryJob(subset)
    plan = create_execution_plan(in_memory, run_config=run_config,
                                 instance_ref=instance.get_ref() if instance.is_persistent else None)
    run = instance.create_run_for_job(
        job_def=subset, run_config=run_config, tags={**subset.run_tags, **run_tags},
        asset_selection=frozenset(keys), execution_plan=plan,
        remote_job_origin=remote_job_origin(job.name, parent),
    )
    if on_created is not None:
        on_created(run.run_id)
    events = list(ExecuteRunWithPlanIterable(
        execution_plan=plan,
        iterator=job_execution_iterator,
        execution_context_manager=PlanOrchestrationContextManager(
            context_event_generator=orchestration_context_event_generator,
            job=in_memory, execution_plan=plan, dagster_run=run, instance=instance,
            run_config=run_config, executor_defs=None, output_capture=None, raise_on_error=False,
        ),
    ))
    return ExecuteInProcessResult(job_def=subset, event_list=events,
                                  dagster_run=instance.get_run_by_id(run.run_id), output_capture={})


# The console. The demo's own run logs one INFO line per planned step with its elapsed time and, during
# a step, a progress line every PROGRESS_SECONDS; the runs it launches log to the console only what is
# WARNING or worse (their full event log is in the UI), unless the demo's console logger is at DEBUG
# (``dental demo --verbose``), which they then share.
PROGRESS_SECONDS = 20.0
LAUNCHED_RUNS_CONSOLE_LEVEL = "WARNING"
DEMO_CONSOLE_LEVEL = "INFO"  # demo_job's default console log level (run config loggers.console)


def console_level(run_config: Mapping, default: str = "DEBUG") -> str:
    """The console logger's level given in a run's config (``loggers.console.config.log_level``), else
    ``default`` (Dagster's is DEBUG; demo_job's, whose default config a run's stored config leaves out,
    is ``DEMO_CONSOLE_LEVEL``), upper case."""
    level = run_config.get("loggers", {}).get("console", {}).get("config", {}).get("log_level", default)
    return str(level).upper()


def step_label(run: PlannedRun, group_of: Callable[[dg.AssetKey], str | None]) -> str:
    """A planned run as the console names it: its asset groups (as in the UI; the assets themselves
    when there are one or two) and its partitions, e.g. ``raw_opendental, every month``."""
    what = ", ".join(sorted({group_of(k) or "default" for k in run.keys}))
    if len(run.keys) <= 2:  # a step of one or two assets: name them
        what = ", ".join(k.to_user_string() for k in run.keys)
    if run.partitions_def is None:
        return f"{what}, unpartitioned"
    if run.partitions_def == monthly_partitions:
        return f"{what}, every month"
    if run.partitions_def == yearly_partitions:
        return f"{what}, one run per year"
    return what


class MaterializedAssets:
    """The distinct assets a run has materialized so far (a run over many partitions records one
    materialization per partition and asset), read incrementally: each ``count()`` reads only the
    run's materialization events since the previous one."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str):
        self.instance, self.run_id = instance, run_id
        self.keys: set[dg.AssetKey] = set()
        self._cursor: str | None = None

    def count(self) -> int:
        while True:
            result = self.instance.get_records_for_run(
                self.run_id, cursor=self._cursor, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=1000)
            self.keys.update(r.event_log_entry.dagster_event.asset_key for r in result.records
                             if r.event_log_entry.dagster_event)
            self._cursor = result.cursor or self._cursor
            if not result.has_more:
                return len(self.keys)


class _Progress:
    """While a launched run executes, logs every ``PROGRESS_SECONDS`` how many of its assets are
    materialized (a background thread reading the run's event log), or that the run is being created."""

    def __init__(self, context: dg.OpExecutionContext, label: str, total: int):
        self.context, self.label, self.total = context, label, total
        self.run_id: str | None = None
        self._materialized: MaterializedAssets | None = None
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="demo-progress", daemon=True)

    def started_run(self, run_id: str) -> None:
        self.run_id = run_id

    def _loop(self) -> None:
        while not self._stop.wait(PROGRESS_SECONDS):
            elapsed = f"{time.monotonic() - self.started:.0f} s"
            if self.run_id is None:  # Dagster is still planning the run (a planned event per partition)
                self.context.log.info(f"  still running: {self.label}: creating the run ({elapsed})")
                continue
            if self._materialized is None or self._materialized.run_id != self.run_id:
                self._materialized = MaterializedAssets(self.context.instance, self.run_id)
            try:
                done = self._materialized.count()
            except Exception as exc:  # a progress line is not worth failing the demo for
                self.context.log.debug(f"progress of run {self.run_id} not read: {exc}")
                continue
            self.context.log.info(f"  still running: {self.label}: {done} of {self.total} assets "
                                  f"materialized ({elapsed})")

    def __enter__(self) -> "_Progress":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@dg.op(
    description="Materialize every asset: one run per partitions definition, in dependency order.",
    required_resource_keys={"opendental", "warehouse"},
)
def materialize_demo(context: dg.OpExecutionContext) -> None:
    year = str(context.resources.opendental.as_of.year)
    if year not in yearly_partitions.get_partition_keys():
        raise dg.Failure(description=f"as-of year {year} is outside the yearly partitions")
    defs = _code_location_defs()
    job = defs.resolve_implicit_global_asset_job_def()
    graph = defs.resolve_asset_graph()
    verbose = console_level(context.run_config, default=DEMO_CONSOLE_LEVEL) == "DEBUG"
    launched_config = {"loggers": {"console": {"config": {
        "log_level": "DEBUG" if verbose else LAUNCHED_RUNS_CONSOLE_LEVEL}}}}
    plan = demo_plan()
    demo_started = time.monotonic()
    with planned_events_per_range():
        for number, run in enumerate(plan, start=1):
            label = f"step {number}/{len(plan)}: {step_label(run, lambda k: graph.get(k).group_name)}"
            step_started = time.monotonic()
            runs = _run_kwargs(run, context.resources.warehouse)
            context.log.info(f"{label}: {len(run.keys)} assets, {len(runs)} run(s) ...")
            for kwargs in runs:
                tags = {PARENT_TAG: context.run_id, **kwargs.pop("tags", {})}
                ranged = "dagster/asset_partition_range_start" in tags
                scope = kwargs.get("partition_key") or ("every month" if ranged else "unpartitioned")
                with _Progress(context, f"{label} ({scope})" if len(runs) > 1 else label, len(run.keys)) as progress:
                    result = execute_asset_run(job, context.instance, run.keys, tags,
                                               partition_key=kwargs.get("partition_key"), parent=context.dagster_run,
                                               run_config=launched_config, on_created=progress.started_run)
                if not result.success:
                    raise dg.Failure(
                        description=f"demo run {result.run_id} ({label}, {scope}) failed; open it in the UI",
                        metadata={"run_id": result.run_id},
                    )
                context.log.debug(f"run {result.run_id}: {len(run.keys)} assets ({scope}) materialized")
            context.log.info(f"{label}: done in {time.monotonic() - step_started:.0f} s")
    summary = demo_summary(context.resources.warehouse, year)
    path = dental_home() / "demo_summary.json"
    path.write_text(json.dumps(summary, indent=2, sort_keys=True))
    context.log.info(f"demo finished in {time.monotonic() - demo_started:.0f} s: "
                     f"{json.dumps(summary['rows_by_schema'])}; summary in {path}")


def demo_summary(warehouse, year: str) -> dict:
    """Row counts per warehouse schema (raw, staging, intermediate, marts) and output locations."""
    from dental_assets.defs.journey.assets import journey_dir

    conn = warehouse.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema IN ('raw', 'staging', 'intermediate', 'marts') ORDER BY 1, 2"
            )
            relations = cur.fetchall()
            counts: dict[str, dict[str, int]] = {}
            for schema, name in relations:
                cur.execute(f'SELECT count(*) FROM "{schema}"."{name}"')
                counts.setdefault(schema, {})[name] = cur.fetchone()[0]
    finally:
        conn.close()
    journey = sorted(journey_dir(year).glob("treatment_journey_*.parquet"))
    return {
        "warehouse": warehouse.params.describe(),
        "rows_by_schema": {schema: sum(tables.values()) for schema, tables in counts.items()},
        "rows_by_relation": counts,
        "treatment_journey_file": str(journey[-1]) if journey else None,
        "journey_partition": year,
    }


@dg.job(
    description="The demo: synthetic practice -> raw -> dbt -> treatment-journey Parquet.",
    executor_def=dg.in_process_executor,
    # INFO on the console by default; a run config file of `{"loggers": {"console": {"config": {"log_level":
    # "DEBUG"}}}}` (`-c`; `dental demo --verbose` writes one) shows every event of the demo and of the runs
    # it launches
    config={"loggers": {"console": {"config": {"log_level": DEMO_CONSOLE_LEVEL}}}},
)
def demo_job():
    materialize_demo()

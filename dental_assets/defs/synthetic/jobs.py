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

At the end it logs, and writes to ``$DENTAL_HOME/demo_summary.json``, row counts per warehouse schema
and where the outputs are.
"""

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import dagster as dg

from dental_assets.partitions import monthly_partitions, partition_range_tags, yearly_partitions
from dental_assets.warehouse import dental_home

PARENT_TAG = "dental/demo_run_id"


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


@dg.op(
    description="Materialize every asset: one run per partitions definition, in dependency order.",
    required_resource_keys={"opendental", "warehouse"},
)
def materialize_demo(context: dg.OpExecutionContext) -> None:
    year = str(context.resources.opendental.as_of.year)
    if year not in yearly_partitions.get_partition_keys():
        raise dg.Failure(description=f"as-of year {year} is outside the yearly partitions")
    job = _code_location_defs().resolve_implicit_global_asset_job_def()
    with _planned_events_per_range():
        _launch_runs(context, job)
    summary = demo_summary(context.resources.warehouse, year)
    path = dental_home() / "demo_summary.json"
    path.write_text(json.dumps(summary, indent=2, sort_keys=True))
    context.log.info(f"demo finished: {json.dumps(summary['rows_by_schema'])}; summary in {path}")


# Dagster's switch for one "planned" event per asset of a partition-range run (the range as a subset)
# instead of one per asset and partition. The demo's two ranges cover every month: about 2,000 planned
# events, each a separate write to the instance's storage before the run starts (with SQLite storage
# on a busy machine, 1,680 of them took 4 minutes before the raw range run started). The materializations are unchanged (one per asset
# and partition). What changes, and only for the demo's runs: if a range run fails, Dagster does not
# mark its months as failed (they show as missing); the run itself shows as failed and the demo stops.
PLANNED_SUBSET_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


@contextlib.contextmanager
def _planned_events_per_range() -> Iterator[None]:
    """Set ``PLANNED_SUBSET_ENV`` for the runs launched inside (in this process), then restore it."""
    saved = os.environ.get(PLANNED_SUBSET_ENV)
    os.environ[PLANNED_SUBSET_ENV] = "true"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(PLANNED_SUBSET_ENV, None)
        else:
            os.environ[PLANNED_SUBSET_ENV] = saved


def _launch_runs(context: dg.OpExecutionContext, job: dg.JobDefinition) -> None:
    """Execute the runs of ``demo_plan`` one after the other on the op's instance; raises dg.Failure
    naming the first run that fails."""
    for run in demo_plan():
        for kwargs in _run_kwargs(run, context.resources.warehouse):
            tags = {PARENT_TAG: context.run_id, **kwargs.pop("tags", {})}
            result = job.execute_in_process(
                instance=context.instance,
                asset_selection=list(run.keys),
                tags=tags,
                raise_on_error=False,
                **kwargs,
            )
            ranged = "dagster/asset_partition_range_start" in tags
            scope = kwargs.get("partition_key") or ("every month" if ranged else "unpartitioned")
            if not result.success:
                raise dg.Failure(
                    description=f"demo run {result.run_id} ({scope}) failed; open it in the UI",
                    metadata={"run_id": result.run_id},
                )
            context.log.info(f"run {result.run_id}: {len(run.keys)} assets ({scope}) materialized")


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
)
def demo_job():
    materialize_demo()

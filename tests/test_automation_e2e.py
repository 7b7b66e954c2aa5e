"""Automation end to end: a change in a MariaDB OpenDental database reaches the marts by itself.

Issue #6's "done when": turning on the sensors against a MariaDB source picks up a change within one
sensor interval and refreshes the affected marts. This test plays the daemon's part, with real parts
everywhere else:

- a small synthetic practice written to a real MariaDB database (``write_mariadb``), marked as a demo
  target, as the OpenDental source (``DENTAL_SOURCE=opendental``, ``OPENDENTAL_URL``);
- a fresh PostgreSQL warehouse (``DENTAL_WAREHOUSE_URL``) and a persistent Dagster instance (SQLite,
  under a temporary ``DAGSTER_HOME`` holding the demo's ``dagster.demo.yaml``);
- the code location's own definitions (``build_definitions``), so the sensors, the automation
  conditions, the freshness policies and the resources are those a deployment loads.

Steps: ``dental sync``'s code path copies the source; the dbt models upstream of
``marts.mart_production_daily`` are built through Dagster; the automation sensor's first tick requests
nothing. Then one completed procedure's fee is edited in an old month and another completed procedure
is hard-deleted in a second, non-adjacent month. One tick of ``raw_change_sensor`` must request exactly
those two partitions of ``opendental/procedurelog``; its runs are executed. Then the automation sensor
is ticked (``dg.evaluate_automation_conditions`` with the sensor's own target, runs built the way the
daemon builds them) and each tick's requests are executed, until it requests nothing: the first tick
must request the staging model of procedurelog, the intermediate models and ``mart_production_daily``
(only models downstream of procedurelog). After the first tick's runs the practice edits the same fee
again, and the change sensor's run syncs it before the automation's next tick (a sync right after the
models' build): that tick must request the staging model and the mart again (Dagster's eager() let the
build swallow it). The mart must show the new production on both days, with both edits.

dbt assets are selected by key and may be partitioned: whatever partitions a tick requests are run.
The sensor tick's wall time is printed (``-s``) next to its ``minimum_interval_seconds``: a figure,
not an assertion.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from dental_synthetic import SyntheticConfig, generate
from dental_synthetic.mariadb_writer import mark_mariadb_demo_target, write_mariadb
from test_replication_support import mysql_conn, pg_conn, source_sql

REPO_ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2025, 6, 30)
PATIENTS = 200
EDIT_MONTH, DELETE_MONTH = "2024-03", "2024-09"  # old months, not adjacent: two separate sensor requests
MAX_AUTOMATION_TICKS = 12

RAW_PROCEDURELOG = dg.AssetKey(["opendental", "procedurelog"])
STG_PROCEDURELOG = dg.AssetKey(["staging", "stg_opendental__procedurelog"])
MART = dg.AssetKey(["marts", "mart_production_daily"])
AUTOMATION_SENSOR = "dental_automation_sensor"
RAW_SENSOR = "raw_change_sensor"


@pytest.fixture
def env(monkeypatch, tmp_path, mariadb_url, pg_url):
    """The practice in MariaDB, the environment of an operated deployment, a persistent instance."""
    mark_mariadb_demo_target(mariadb_url)
    write_mariadb(generate(SyntheticConfig(as_of=AS_OF, patients=PATIENTS, seed=11)), mariadb_url)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.demo.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DENTAL_SOURCE", "opendental")
    monkeypatch.setenv("OPENDENTAL_URL", mariadb_url)
    monkeypatch.setenv("DENTAL_WAREHOUSE_URL", pg_url)
    monkeypatch.setenv("DENTAL_AS_OF", AS_OF.isoformat())
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt_target"))  # dbt's runs: keep_partial_parse
    monkeypatch.setenv("DENTAL_DATA_DIR", str(tmp_path / "data"))  # the journey dataset: not ./data
    with dg.DagsterInstance.get() as instance:
        yield mariadb_url, pg_url, instance


# ------------------------------------------------------------------------------------------ helpers

def _execute(defs: dg.Definitions, instance, keys, partition=None, tags=None) -> dg.ExecuteInProcessResult:
    """One run of ``keys`` (one partitions definition): ``partition`` is None, a key, or a
    ``(first, last)`` range. The run must succeed and every check in it must pass."""
    job = defs.get_repository_def().get_implicit_job_def_for_assets(list(keys))
    tags = dict(tags or {})
    partition_key = None
    if isinstance(partition, tuple):
        tags |= {"dagster/asset_partition_range_start": partition[0],
                 "dagster/asset_partition_range_end": partition[1]}
    else:
        partition_key = partition
    result = job.execute_in_process(instance=instance, asset_selection=list(keys),
                                    partition_key=partition_key, tags=tags, raise_on_error=False)
    assert result.success, f"run of {sorted(k.to_user_string() for k in keys)} ({partition}) failed"
    failed = [e.asset_check_key.to_user_string() for e in result.get_asset_check_evaluations() if not e.passed]
    assert not failed, f"checks failed: {failed}"
    return result


def _build_in_dependency_order(defs, instance, keys) -> None:
    """Materialize ``keys`` through Dagster, every partition. A run covers one partitions definition,
    so the keys are split into stages: an asset's stage is its parents' (within ``keys``), one more
    when a parent has another partitions definition. Each stage is one run per partitions definition,
    so a run holds whole chains of models (dbt then runs each test after all of its parents)."""
    graph = defs.resolve_asset_graph()
    keys = set(keys)
    stage: dict[dg.AssetKey, int] = {}
    for key in graph.toposorted_asset_keys:
        if key in keys:
            node = graph.get(key)
            stage[key] = max((stage[p] + (graph.get(p).partitions_def != node.partitions_def)
                              for p in node.parent_keys if p in keys), default=0)
    for number in sorted(set(stage.values())):
        by_def = defaultdict(set)
        for key in (k for k, s in stage.items() if s == number):
            by_def[graph.get(key).partitions_def].add(key)
        for partitions_def, group in by_def.items():
            partition = None
            if partitions_def is not None:
                all_keys = partitions_def.get_partition_keys()
                partition = (all_keys[0], all_keys[-1])
            _execute(defs, instance, group, partition)


def _models_for_mart(graph, mart: dg.AssetKey) -> set[dg.AssetKey]:
    """The dbt models ``mart`` is built from, plus every model a dbt test on one of them reads (a
    relationship test reads two models), closed under upstream: the smallest set whose tests can all
    run. Without the other model, the dbt assets leave such a test out of the run (docs/dbt.md,
    "Selecting part of the project"), so the run succeeds, but the test's check, blocking, has then
    never passed, and the dbt models' condition waits until the blocking checks of a model's inputs
    passed (``policies.ancestors_blocking_checks_passed``): the automation would not carry a change past
    ``int_procedures`` to the mart."""
    from dental_assets.defs.dbt.assets import dbt_project

    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"]
    models = {uid: node["name"] for uid, node in nodes.items() if node["resource_type"] == "model"}
    key_of = {key.path[-1]: key for key in graph.get_all_asset_keys() if key.path[0] != "opendental"}
    tests = [{models[d] for d in node["depends_on"]["nodes"] if d in models}
             for node in nodes.values() if node["resource_type"] == "test"]
    selected: set[str] = set()
    wanted = {mart.path[-1]}
    while wanted - selected:
        closure = dg.AssetSelection.assets(*(key_of[n] for n in wanted)).upstream().resolve(graph)
        selected = {k.path[-1] for k in closure if k.path[0] != "opendental"}
        wanted = selected | {name for read in tests if read & selected for name in read}
    return {key_of[name] for name in selected}


def _run_requests(defs, result) -> list[dg.RunRequest]:
    """The runs the automation sensor would launch for one evaluation, built by Dagster's own
    ``build_run_requests`` (one run per partitions definition and partition; checks ride along)."""
    from dagster._core.definitions.automation_tick_evaluation_context import build_run_requests

    return list(build_run_requests(result._requested_subsets, defs.resolve_asset_graph(),  # noqa: SLF001
                                   run_tags=None, emit_backfills=False))


def _explain(result, key) -> str:
    """The evaluation tree of ``key``'s condition in ``result``: each operand's label and how many
    partitions it was true for (for a failure message)."""
    lines = []

    def walk(node, depth):
        label = node.condition.get_label() or node.condition.name
        lines.append(f"{'  ' * depth}{label}: {node.true_subset.size}")
        for child in node.child_results:
            walk(child, depth + 1)

    for r in result.results:
        if r.key == key:
            walk(r, 0)
    return "\n".join(lines)


def _requested_keys(result) -> set[dg.AssetKey]:
    return {r.key for r in result.results if r.true_subset.size and isinstance(r.key, dg.AssetKey)}


def _day_totals(pg_url: str, day: dt.date) -> tuple[int, Decimal]:
    conn = pg_conn(pg_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT coalesce(sum(completed_procedure_count), 0), coalesce(sum(gross_production), 0) "
                        "FROM marts.mart_production_daily WHERE production_date = %s", (day,))
            count, gross = cur.fetchone()
    finally:
        conn.close()
    return int(count), Decimal(gross)


def _pick_procedures(source_url: str) -> tuple[tuple, tuple]:
    """Two completed procedures, as ``(ProcNum, ProcDate, charge in dollars)``: one in EDIT_MONTH to
    edit, and one to delete in the first month from DELETE_MONTH on that has one no other row refers
    to (so the delete leaves no orphan claimproc, paysplit or adjustment behind for the dbt tests)."""
    unreferenced = " AND ".join(f"NOT EXISTS (SELECT 1 FROM {t} WHERE {t}.ProcNum = p.ProcNum)"
                                for t in ("claimproc", "paysplit", "adjustment"))
    query = ("SELECT p.ProcNum, p.ProcDate, ROUND(p.ProcFee * (p.UnitQty + p.BaseUnits), 2) "
             "FROM procedurelog p WHERE p.ProcStatus = 2 AND p.ProcFee > 0 AND p.ProcDate >= %s "
             "AND p.ProcDate < %s {extra} ORDER BY p.ProcNum LIMIT 1")
    edit_first = dt.date.fromisoformat(f"{EDIT_MONTH}-01")
    conn = mysql_conn(source_url)
    try:
        with conn.cursor() as cur:
            cur.execute(query.format(extra=""), (edit_first, _next_month(edit_first)))
            edited = cur.fetchone()
            assert edited, f"no completed procedure in {EDIT_MONTH}"
            cur.execute(query.format(extra=f"AND {unreferenced}"),
                        (dt.date.fromisoformat(f"{DELETE_MONTH}-01"), AS_OF))
            deleted = cur.fetchone()
            assert deleted, f"no completed procedure without references from {DELETE_MONTH} on"
    finally:
        conn.close()
    return edited, deleted


def _raise_fee(source_url: str, proc_num: int, dollars: int) -> Decimal:
    """Adds ``dollars`` to a procedure's fee in the source; returns its new charge (fee times units)."""
    ((charge,),) = source_sql(
        source_url, ("UPDATE procedurelog SET ProcFee = ProcFee + %s WHERE ProcNum = %s", (dollars, proc_num)),
        ("SELECT ROUND(ProcFee * (UnitQty + BaseUnits), 2) FROM procedurelog WHERE ProcNum = %s", (proc_num,)))
    return charge


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


# ------------------------------------------------------------------------------------------- the test

def test_a_source_change_reaches_the_mart_through_the_sensors(env, capsys):
    from dental_assets.defs.raw.sync_command import run_sync
    from dental_assets.definitions import build_definitions

    source_url, pg_url, instance = env
    defs = build_definitions()  # resources from this test's environment
    graph = defs.resolve_asset_graph()
    automation_sensor = defs.resolve_sensor_def(AUTOMATION_SENSOR)
    raw_sensor = defs.resolve_sensor_def(RAW_SENSOR)

    # 1. the initial sync (`dental sync`), then the models the mart is built from, through Dagster
    report = run_sync(instance=instance, defs=defs)
    assert report.ok and report.runs >= 1
    # `dental sync` records every month, those without rows included (Dagster would count them as
    # missing inputs of every model downstream); "turning on the sensors" then finds nothing to do
    for key in graph.get_all_asset_keys():
        if key.path[0] == "opendental" and graph.get(key).partitions_def is not None:
            assert instance.get_materialized_partitions(key) == set(graph.get(key).partitions_def.get_partition_keys())
    sensor_context = dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(),
                                             resources=defs.resources, sensor_name=RAW_SENSOR)
    first_tick = raw_sensor.evaluate_tick(sensor_context)
    assert not first_tick.run_requests and first_tick.skip_message
    dbt_upstream = _models_for_mart(graph, MART)
    assert STG_PROCEDURELOG in dbt_upstream
    _build_in_dependency_order(defs, instance, dbt_upstream)
    # the sensor's own target, narrowed to what was built: a model never built (a fact, another mart)
    # would otherwise be requested as soon as its inputs exist, which is right but not this test's point
    target = automation_sensor.asset_selection & dg.AssetSelection.assets(*dbt_upstream)
    baseline = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=target)
    assert baseline.total_requested == 0  # everything is up to date

    # 2. an old row edited in place, another hard-deleted
    edited, deleted = _pick_procedures(source_url)
    before_edit, before_delete = _day_totals(pg_url, edited[1]), _day_totals(pg_url, deleted[1])
    new_charge = _raise_fee(source_url, edited[0], 100)
    source_sql(source_url, ("DELETE FROM procedurelog WHERE ProcNum = %s", (deleted[0],)))

    # 3. one tick of the change sensor requests exactly the two changed partitions
    started = time.perf_counter()
    tick = raw_sensor.evaluate_tick(sensor_context)
    tick_seconds = time.perf_counter() - started
    requested = sorted((r.partition_key, tuple(k.to_user_string() for k in r.asset_selection))
                       for r in tick.run_requests)
    delete_month = deleted[1].strftime("%Y-%m")
    assert requested == [(EDIT_MONTH, ("opendental/procedurelog",)), (delete_month, ("opendental/procedurelog",))]
    for request in tick.run_requests:
        assert request.job_name in (None, raw_sensor.job_name)
        _execute(defs, instance, request.asset_selection, request.partition_key, request.tags)

    # 4. the automation sensor's ticks, each tick's runs executed, until it requests nothing
    downstream = dg.AssetSelection.assets(RAW_PROCEDURELOG).downstream().resolve(graph) - {RAW_PROCEDURELOG}
    cursor, ticks = baseline.cursor, []
    automation_seconds = []
    for _ in range(MAX_AUTOMATION_TICKS):
        started = time.perf_counter()
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=target,
                                                   cursor=cursor)
        automation_seconds.append(time.perf_counter() - started)
        cursor = result.cursor
        keys = _requested_keys(result)
        if not keys:
            assert ticks, "the first tick requested nothing:\n" + _explain(result, STG_PROCEDURELOG)
            break
        unexpected = keys - downstream
        assert not unexpected, f"requested models not downstream of procedurelog: {sorted(map(str, unexpected))}"
        ticks.append(keys)
        for request in _run_requests(defs, result):
            _execute(defs, instance, request.asset_selection, request.partition_key, request.tags)
        if len(ticks) == 1:
            # the practice edits the same fee again, synced after the tick's build and before the next tick:
            # eager()'s reset used to swallow that sync (nothing requested, the mart kept the first edit)
            new_charge = _raise_fee(source_url, edited[0], 50)
            late = raw_sensor.evaluate_tick(sensor_context)
            assert [r.partition_key for r in late.run_requests] == [EDIT_MONTH]
            for request in late.run_requests:
                _execute(defs, instance, request.asset_selection, request.partition_key, request.tags)
    else:
        pytest.fail(f"the automation still requested runs after {MAX_AUTOMATION_TICKS} ticks")

    # eager() counts an input that will be requested in the same tick as updated, and a blocking check
    # of such an input as passed (the run stops the child if it fails): the first tick requests the
    # whole chain staging -> intermediate -> mart, as one run in dependency order
    assert ticks and STG_PROCEDURELOG in ticks[0], "the first tick did not refresh the staging model"
    assert MART in ticks[0], "mart_production_daily was not requested with its inputs"
    assert any(k.path[0] == "intermediate" for k in ticks[0])
    assert len(ticks) > 1 and {STG_PROCEDURELOG, MART} <= ticks[1], "the sync after the build was not built from"

    # 5. the mart shows the change on both days
    count, gross = _day_totals(pg_url, edited[1])
    assert count == before_edit[0]
    assert gross == before_edit[1] - Decimal(edited[2]) + Decimal(new_charge)
    count, gross = _day_totals(pg_url, deleted[1])
    assert count == before_delete[0] - 1
    assert gross == before_delete[1] - Decimal(deleted[2])

    # and the change sensor is quiet again
    after = raw_sensor.evaluate_tick(sensor_context)
    assert not after.run_requests and after.skip_message

    with capsys.disabled():
        print(f"\n{RAW_SENSOR}: one tick {tick_seconds:.2f} s (minimum_interval_seconds "
              f"{raw_sensor.minimum_interval_seconds}); {AUTOMATION_SENSOR}: {len(ticks)} ticks with requests, "
              f"{max(automation_seconds):.2f} s the slowest (minimum_interval_seconds "
              f"{automation_sensor.minimum_interval_seconds}); requested per tick: {[len(t) for t in ticks]}")

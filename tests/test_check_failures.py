"""A failed raw check blocks dbt until a passing check covers its window (``replication.check_failures``).

The raw checks (``matches_source``) run after the window's rows are committed, and the staging models
are views over raw. Dagster's blocking-check condition only looks at each raw table's latest check
evaluation, whatever its month, and the nightly ``dbt_job`` at none: a failed month's rows reached the
marts as soon as another month's check passed. The verdicts are now recorded in the warehouse, and
every dbt build in Dagster fails before dbt runs while a raw table it reads has a failed window left.

Against the real servers: a practice in MariaDB, raw and dbt in a fresh PostgreSQL database; the raw
check failed by a planted defect in raw's row hash (as ``test_replication.py`` does), every row hashed
(``DENTAL_SYNC_CHECK_SAMPLE=1``).
"""

from __future__ import annotations

import datetime as dt
import types

import dagster as dg
import pytest

from dental_assets.catalog import raw_table, raw_tables
from dental_assets.partitions import Window
from dental_assets.replication import check_failures
from dental_assets.replication.check_failures import failed_partitions, uncovered, window_text
from dental_synthetic import SyntheticConfig, generate
from test_replication_support import (assert_raw_equals_source, mysql_conn, persistent_dagster_home, pg_conn,
                                      quiet_source, raw_rows, run_raw_request, source_rows, wait_past_records)

D = dt.date
FAILED = Window(D(2025, 5, 1), D(2025, 6, 1))


# ------------------------------------------------------------------------------------------ pure

def test_a_passing_window_clears_what_it_covers_and_nothing_else():
    assert uncovered(FAILED, FAILED) == []
    assert uncovered(FAILED, Window(None, None)) == []  # a full refresh
    assert uncovered(FAILED, Window(D(2025, 1, 1), None)) == []  # a range run holding it
    assert uncovered(FAILED, Window(D(2025, 4, 1), D(2025, 5, 1))) == [FAILED]  # the month before
    assert uncovered(FAILED, Window(D(2025, 6, 1), None)) == [FAILED]  # the months after
    # a range failed as one window, one of its months passed: the rest is still unverified
    assert uncovered(Window(D(2025, 1, 1), D(2025, 7, 1)), FAILED) == [
        Window(D(2025, 1, 1), D(2025, 5, 1)), Window(D(2025, 6, 1), D(2025, 7, 1))]
    # an open lower end holds the undated rows: a window from the first month's date does not cover them
    assert uncovered(Window(None, D(2020, 2, 1)), Window(D(2020, 1, 1), D(2020, 2, 1))) == [
        Window(None, D(2020, 1, 1))]
    # the latest month's window is open above (later dates): its month alone leaves them
    assert uncovered(Window(D(2026, 6, 1), None), Window(D(2026, 6, 1), D(2026, 7, 1))) == [
        Window(D(2026, 7, 1), None)]
    assert uncovered(Window(None, None), Window(None, None)) == []


def test_windows_are_named_by_their_months():
    assert window_text(Window(None, None)) == "all rows"
    assert window_text(FAILED) == "2025-05"
    assert window_text(Window(D(2025, 1, 1), D(2025, 7, 1))) == "2025-01..2025-06"
    assert window_text(Window(D(2026, 6, 1), None)) == "months from 2026-06"
    assert window_text(Window(None, D(2020, 2, 1))) == "months up to 2020-01"
    assert window_text(Window(D(2025, 5, 3), D(2025, 6, 1))) == "dates in [2025-05-03, 2025-06-01)"


KEYS = [f"{y}-{m:02d}" for y in range(2020, 2027) for m in range(1, 13)][:78]  # 2020-01..2026-06


def test_the_months_of_a_failed_window_are_planned_whole():
    """``failed_partitions``: every month whose window overlaps a failed one, so that the runs of those
    months cover it whole (a passing check then clears it, ``uncovered``): the first month holds the
    earlier and undated rows, the last month the later dates; a reference table's failure is ``all``."""
    from dental_assets.partitions import month_window

    assert failed_partitions(True, [FAILED], KEYS) == ("2025-05",)
    assert failed_partitions(True, [Window(D(2025, 1, 1), D(2025, 7, 1))], KEYS) == tuple(
        f"2025-{m:02d}" for m in range(1, 7))
    assert failed_partitions(True, [Window(D(2025, 5, 3), D(2025, 5, 4))], KEYS) == ("2025-05",)  # dates
    assert failed_partitions(True, [Window(None, D(2020, 2, 1))], KEYS) == ("2020-01",)
    assert failed_partitions(True, [Window(D(2019, 3, 1), D(2019, 4, 1))], KEYS) == ("2020-01",)  # before the first
    # recorded as the last month when it was the last (open above); months added since are synced with it
    assert failed_partitions(True, [Window(D(2026, 4, 1), None)], KEYS) == ("2026-04", "2026-05", "2026-06")
    assert failed_partitions(True, [Window(D(2026, 6, 1), D(2026, 7, 1))], KEYS) == ("2026-06",)
    assert failed_partitions(True, [Window(None, None)], KEYS) == tuple(KEYS)
    assert failed_partitions(True, [FAILED, Window(D(2021, 2, 1), D(2021, 3, 1))], KEYS) == ("2021-02", "2025-05")
    assert failed_partitions(False, [Window(None, None)], KEYS) == ("all",)
    assert failed_partitions(True, [], KEYS) == failed_partitions(False, [], KEYS) == ()
    for window in (FAILED, Window(None, D(2020, 2, 1)), Window(D(2026, 4, 1), None),
                   Window(D(2025, 5, 3), D(2025, 5, 4)), Window(D(2019, 3, 1), D(2019, 4, 1))):
        months = failed_partitions(True, [window], KEYS)
        assert uncovered(window, month_window(months[0], months[-1], KEYS)) == []


def test_a_plan_lists_the_failed_windows_whatever_the_fingerprints_say():
    """``plan.plan_tables`` on fingerprints equal on both sides: a table with a failed window left lists
    its months (a reference table ``all``), its digest says so and stays the same while the same windows
    are left (the sensor's run key requests them once), and ``dental sync``'s fast path does not stop
    (``Fingerprints`` is falsy)."""
    from dental_assets.replication.fingerprint import Fingerprint
    from dental_assets.replication.plan import Fingerprints, plan_tables

    tables = [raw_table("definition"), raw_table("procedurelog"), raw_table("payment")]
    equal = {t.name: {"2025-05" if t.partitioned else "all": Fingerprint(1, 2, 3)} for t in tables}

    def plan(failed):
        prints = Fingerprints(tuple(t.name for t in tables), equal, dict(equal), failed=failed)
        return bool(prints), {p.table.name: (p.partitions, p.digest) for p in plan_tables(None, None, tables, KEYS,
                                                                                           prefetched=prints)}

    quiet, plans = plan({})
    assert quiet and all(partitions == () for partitions, _ in plans.values())
    unchanged, failing = plan({"procedurelog": (FAILED,), "definition": (Window(None, None),)})
    assert not unchanged
    assert failing["procedurelog"][0] == ("2025-05",) and failing["definition"][0] == ("all",)
    assert failing["payment"] == plans["payment"]
    assert failing["procedurelog"][1].startswith(plans["procedurelog"][1] + "!")
    assert plan({"procedurelog": (FAILED,), "definition": (Window(None, None),)})[1] == failing
    other = plan({"procedurelog": (Window(D(2025, 4, 1), D(2025, 5, 1)),)})[1]["procedurelog"]
    assert other[0] == ("2025-04",) and other[1] != failing["procedurelog"][1]


def test_a_build_is_refused_for_the_raw_tables_it_reads_through_any_model():
    import json

    from dental_assets.defs.dbt.assets import dbt_project, raw_tables_read

    manifest = json.loads(dbt_project.manifest_path.read_text())
    ids = {node["name"]: uid for uid, node in manifest["nodes"].items()}
    assert raw_tables_read(manifest, [ids["stg_opendental__definition"]]) == {"raw.definition"}
    # a mart reads procedurelog through intermediate models the run may not rebuild
    assert "raw.procedurelog" in raw_tables_read(manifest, [ids["mart_production_daily"]])
    assert "raw.procedurelog" not in raw_tables_read(manifest, [ids["stg_opendental__patient"]])
    assert raw_tables_read(manifest, []) == set()


# ------------------------------------------------------------------------------- the state table

def test_recorded_failures_are_kept_until_a_passing_check_covers_them(pg_url):
    """A failure adds a row (a second one of the same window counts); a pass of another month leaves
    it, a pass of a range holding part of it leaves the rest, a full refresh clears the table's rows
    only. A pass with nothing recorded creates nothing."""
    from dental_assets.replication.check_failures import FAILURES_TABLE, record, unrepaired

    conn = pg_conn(pg_url)
    record(conn, "raw.procedurelog", FAILED, True, 5, 5)
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s), to_regnamespace('dental_sync')", (FAILURES_TABLE,))
        assert cur.fetchone() == (None, None)  # (the demo's warehouse never gets the table)
        assert unrepaired(cur) == []
    conn.rollback()
    record(conn, "raw.procedurelog", Window(D(2025, 4, 1), D(2025, 7, 1)), False, 30, 29)
    record(conn, "raw.procedurelog", Window(D(2025, 4, 1), D(2025, 7, 1)), False, 31, 29)
    record(conn, "raw.definition", None, False, 12, 11)

    def left(tables=None):
        with conn.cursor() as cur:
            found = [(f.raw_table, f.window, f.source_rows, f.raw_rows, f.failures) for f in unrepaired(cur, tables)]
        conn.rollback()
        return found

    assert left(["raw.procedurelog"]) == [("raw.procedurelog", Window(D(2025, 4, 1), D(2025, 7, 1)), 31, 29, 2)]
    record(conn, "raw.procedurelog", Window(D(2025, 7, 1), D(2025, 8, 1)), True)  # another month
    assert len(left(["raw.procedurelog"])) == 1
    record(conn, "raw.procedurelog", FAILED, True)  # its middle month passed
    assert left(["raw.procedurelog"]) == [
        ("raw.procedurelog", Window(D(2025, 4, 1), D(2025, 5, 1)), 31, 29, 2),
        ("raw.procedurelog", Window(D(2025, 6, 1), D(2025, 7, 1)), 31, 29, 2)]
    record(conn, "raw.procedurelog", Window(None, None), True)  # a full refresh of the table
    assert left() == [("raw.definition", Window(None, None), 12, 11, 1)]
    record(conn, "raw.definition", None, True)
    assert left() == []
    conn.close()


def test_a_role_that_may_not_read_the_failures_gets_an_error_not_an_empty_list(pg_url):
    """The guard must not read "no failure" where it may not read at all: a role without USAGE on
    ``dental_sync`` (the transformer's, docs/security.md) sees that the table exists (the catalog) and
    its read raises InsufficientPrivilege, which the dbt assets turn into a failed build."""
    import uuid

    import psycopg2.errors

    from dental_assets.replication.check_failures import record, unrepaired

    conn = pg_conn(pg_url)
    record(conn, "raw.procedurelog", FAILED, False, 3, 2)
    role = f"t_no_sync_{uuid.uuid4().hex[:8]}"
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE ROLE {role} NOLOGIN")
        try:
            cur.execute(f"SET ROLE {role}")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                unrepaired(cur, ["raw.procedurelog"])
            assert unrepaired(cur, []) == []  # (nothing asked: nothing read)
        finally:
            cur.execute("RESET ROLE")
            cur.execute(f"DROP ROLE {role}")
    conn.close()


# ---------------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def practice():
    return generate(SyntheticConfig(as_of=dt.date(2025, 6, 30), patients=80, seed=11))


@pytest.fixture
def source_url(mariadb_url, practice, write_practice):
    write_practice(practice, mariadb_url)
    return mariadb_url


@pytest.fixture
def dbt_target(tmp_path, monkeypatch):
    """A dbt target folder of this test's own (the dbt assets run dbt in a subfolder of it per run)."""
    target = tmp_path / "dbt_target"
    target.mkdir()
    monkeypatch.setenv("DBT_TARGET_PATH", str(target))
    monkeypatch.setenv("DENTAL_RUN_FOLDERS_KEEP", "1")
    return target


def _resources(source_url, pg_url):
    from dental_assets.defs.dbt.assets import dbt_resource
    from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource

    return {"opendental": OpenDentalSourceResource(kind="opendental", url=source_url),
            "warehouse": WarehouseResource(url=pg_url), "dbt": dbt_resource()}


def _sync_month(resources, month: str) -> bool:
    """The raw step of procedurelog's ``month`` with its check (as the change sensor's run); whether
    the check passed."""
    from dental_assets.defs.raw.assets import raw_asset_key, raw_assets

    result = dg.materialize(raw_assets, selection=[raw_asset_key("procedurelog")], partition_key=month,
                            resources={k: resources[k] for k in ("opendental", "warehouse")}, raise_on_error=False)
    [check] = result.get_asset_check_evaluations()
    return check.passed


def _dbt(resources, model: str, partition: str | None = None) -> dg.ExecuteInProcessResult:
    from dental_assets.defs.dbt.assets import dental_dbt_facts, dental_dbt_models

    if partition is None:
        return dg.materialize([dental_dbt_models], selection=[dg.AssetKey(["staging", model])],
                              resources=resources, raise_on_error=False)
    return dg.materialize([dental_dbt_facts], selection=[dg.AssetKey(["marts", model])], partition_key=partition,
                          resources=resources, raise_on_error=False)


def _failure(result) -> str:
    return "\n".join(str(e.event_specific_data.error) for e in result.all_events
                     if e.event_type == dg.DagsterEventType.STEP_FAILURE)


def _exists(pg_url, relation: str) -> bool:
    conn = pg_conn(pg_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (relation,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def _left(pg_url) -> list[tuple[str, str]]:
    conn = pg_conn(pg_url)
    try:
        with conn.cursor() as cur:
            return [(f.raw_table, window_text(f.window)) for f in check_failures.unrepaired(cur)]
    finally:
        conn.close()


def test_a_failed_month_blocks_dbt_until_its_own_window_passes(source_url, pg_url, dbt_target, monkeypatch):
    """The audit's case: procedurelog's 2025-05 fails its check (a defect in raw's row hash, planted);
    then 2025-04 is synced and passes, which made Dagster's condition true again. Every dbt build
    reading procedurelog (a staging view, an incremental fact) still fails before dbt runs, with one
    line naming the table, the month and the counts; dbt built nothing. Once 2025-05 passes, dbt runs.
    A failure, then a full copy of the whole table (``dental sync``'s code: ``replicate_tables``)
    passing, clears it too."""
    from dental_assets.partitions import month_keys, month_window
    from dental_assets.replication import fingerprint, replicate
    from dental_assets.replication.mysql import MySqlParams

    monkeypatch.setenv("DENTAL_SYNC_CHECK_SAMPLE", "1")  # every row hashed: the planted defect always shows
    resources = _resources(source_url, pg_url)
    row_hash_pg = fingerprint.row_hash_pg
    with monkeypatch.context() as planted:
        planted.setattr(fingerprint, "row_hash_pg", lambda cols: f"({row_hash_pg(cols)} + 1)")
        assert not _sync_month(resources, "2025-05")
    assert _left(pg_url) == [("raw.procedurelog", "2025-05")]
    assert _sync_month(resources, "2025-04")  # another month passes: Dagster's latest check is a pass
    assert _left(pg_url) == [("raw.procedurelog", "2025-05")]

    for result in (_dbt(resources, "stg_opendental__procedurelog"), _dbt(resources, "fct_procedure", "2025-04")):
        assert not result.success
        text = _failure(result)
        assert "dbt not run: the raw matches_source check failed, and no check has passed since, for " \
               "raw.procedurelog 2025-05 (source " in text, text
        assert "full_refresh: true" in text and "dental sync --full-refresh" in text, text
    assert not _exists(pg_url, "staging.stg_opendental__procedurelog")  # dbt never ran
    assert not _exists(pg_url, "marts.fct_procedure")

    assert _sync_month(resources, "2025-05")  # the failed month passes: repaired
    assert _left(pg_url) == []
    result = _dbt(resources, "stg_opendental__procedurelog")
    assert result.success, _failure(result)
    assert _exists(pg_url, "staging.stg_opendental__procedurelog")

    with monkeypatch.context() as planted:
        planted.setattr(fingerprint, "row_hash_pg", lambda cols: f"({row_hash_pg(cols)} + 1)")
        assert not _sync_month(resources, "2025-03")
    assert _left(pg_url) == [("raw.procedurelog", "2025-03")]
    keys = month_keys()
    warehouse = types.SimpleNamespace(connect=lambda: pg_conn(pg_url))
    table = raw_table("procedurelog")
    [done] = replicate.replicate_tables(MySqlParams.from_url(source_url), warehouse, [table],
                                        month_window(keys[0], keys[-1], keys), "full", {table.name}, 1)
    assert done.check[0] and _left(pg_url) == []
    assert_raw_equals_source(source_url, pg_url, [table])


def test_the_synthetic_source_records_its_check_too(pg_url, dbt_target, monkeypatch):
    """The demo's path: the synthetic source's row-count check passing leaves no state table (nothing
    to read before dbt); a load that leaves a row out fails it, is recorded, and the dbt build of the
    table's staging view is refused; the next load, passing, clears it."""
    from dental_assets.defs.dbt.assets import dbt_resource
    from dental_assets.defs.raw import assets as raw_module
    from dental_assets.defs.raw.assets import raw_asset_key, raw_assets
    from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource
    from dental_assets.warehouse import PgParams, mark_demo_target

    mark_demo_target(PgParams.from_url(pg_url))
    resources = {"opendental": OpenDentalSourceResource(synthetic_patients=20, synthetic_seed=3,
                                                        synthetic_as_of="2025-06-30"),
                 "warehouse": WarehouseResource(url=pg_url), "dbt": dbt_resource()}

    def load() -> dg.ExecuteInProcessResult:
        return dg.materialize(raw_assets, selection=[raw_asset_key("definition")], raise_on_error=False,
                              resources={k: resources[k] for k in ("opendental", "warehouse")})

    result = load()
    assert result.success and [e.passed for e in result.get_asset_check_evaluations()] == [True]
    assert not _exists(pg_url, check_failures.FAILURES_TABLE)
    replace = raw_module._replace_window

    def replace_then_lose_a_row(conn, table, window, data):
        replaced = replace(conn, table, window, data)
        with conn, conn.cursor() as cur:
            cur.execute('DELETE FROM raw.definition WHERE "DefNum" = (SELECT min("DefNum") FROM raw.definition)')
        return replaced

    monkeypatch.setattr(raw_module, "_replace_window", replace_then_lose_a_row)
    assert [e.passed for e in load().get_asset_check_evaluations()] == [False]
    assert _left(pg_url) == [("raw.definition", "all rows")]
    result = _dbt(resources, "stg_opendental__definition")
    assert not result.success and "raw.definition all rows (source " in _failure(result), _failure(result)
    monkeypatch.setattr(raw_module, "_replace_window", replace)
    assert [e.passed for e in load().get_asset_check_evaluations()] == [True]
    assert _left(pg_url) == []


# ------------------------------------------------- a failed window equal to the source is synced again

def _sync_env(monkeypatch, source_url, pg_url) -> None:
    monkeypatch.setenv("DENTAL_SOURCE", "opendental")
    monkeypatch.setenv("OPENDENTAL_URL", source_url)
    monkeypatch.setenv("DENTAL_WAREHOUSE_URL", pg_url)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("DENTAL_SYNC_CHECK_SAMPLE", "1")  # every row hashed: the planted defect always shows


def _planted_defect(monkeypatch):
    """A defect in raw's row hash (as above): every check fails, whatever raw holds."""
    from dental_assets.replication import fingerprint

    row_hash_pg = fingerprint.row_hash_pg
    monkeypatch.setattr(fingerprint, "row_hash_pg", lambda cols: f"({row_hash_pg(cols)} + 1)")


def test_a_failed_window_equal_to_the_source_is_requested_by_the_next_sensor_tick(source_url, pg_url, dbt_target,
                                                                                  monkeypatch, capsys):
    """procedurelog's 2025-05 fails its check (the planted defect) though raw equals the source: the
    fingerprints see no difference, so nothing requested the month again and dbt stayed refused until an
    operator forced a sync. Now the next tick of ``raw_change_sensor`` requests exactly that month (the
    same run key at the tick after, while nothing changed); its run's check passes, the failure is
    cleared, dbt builds, and a tick after that requests nothing."""
    from dental_assets import cli
    from dental_assets.defs.raw.sensors import raw_change_sensor
    from dental_assets.instance import ephemeral_instance

    _sync_env(monkeypatch, source_url, pg_url)
    assert cli.main(["sync"]) == 0  # the first sync (without DAGSTER_HOME: no Dagster run)
    capsys.readouterr()
    resources = _resources(source_url, pg_url)
    with monkeypatch.context() as planted:
        _planted_defect(planted)
        assert not _sync_month(resources, "2025-05")
    assert _left(pg_url) == [("raw.procedurelog", "2025-05")]
    assert_raw_equals_source(source_url, pg_url, [raw_table("procedurelog")])  # the window equals the source
    assert not _dbt(resources, "stg_opendental__procedurelog").success

    raw_resources = {k: resources[k] for k in ("opendental", "warehouse")}
    instance = ephemeral_instance()
    requests = raw_change_sensor(dg.build_sensor_context(instance=instance, resources=raw_resources))
    assert isinstance(requests, list), requests  # (before: "raw equals the source's fingerprints")
    [request] = requests
    assert request.partition_key == "2025-05" and [k.path[-1] for k in request.asset_selection] == ["procedurelog"]
    again = raw_change_sensor(dg.build_sensor_context(instance=instance, resources=raw_resources))
    assert [r.run_key for r in again] == [request.run_key]  # requested once while nothing changes

    run = run_raw_request(request, raw_resources, instance)
    assert run.success and [e.passed for e in run.get_asset_check_evaluations()] == [True]
    assert _left(pg_url) == []
    result = _dbt(resources, "stg_opendental__procedurelog")
    assert result.success, _failure(result)
    # (a fresh instance: this one records 2025-05 only, and the sensor would request procedurelog's
    # other months once, as months Dagster never saw materialized)
    assert isinstance(raw_change_sensor(dg.build_sensor_context(instance=ephemeral_instance(),
                                                                resources=raw_resources)), dg.SkipReason)


@pytest.mark.parametrize("with_dagster", [False, True], ids=["direct", "dagster_home"])
def test_dental_sync_syncs_a_failed_window_equal_to_the_source(with_dagster, source_url, pg_url, dbt_target,
                                                               tmp_path, monkeypatch, capsys):
    """`dental sync`, without DAGSTER_HOME (the direct path) and with it (Dagster runs): an edit in
    2025-05 synced with the planted defect fails procedurelog's check after its repairs (exit 1, the
    failure recorded) though raw equals the source. The next `dental sync` (no defect) used to say "raw
    equals the source: nothing to sync" and leave dbt refused; now it syncs the failed window, its check
    passes, the failure is cleared and dbt builds. A failure left on a table verified equal (a plan
    recorded it between a sync's write and that sync's failed check, or before this version) is not
    skipped either: the table is read and synced. Then nothing is left to sync."""
    from dental_assets import cli
    from dental_assets.replication import fingerprint

    _sync_env(monkeypatch, source_url, pg_url)
    if with_dagster:
        persistent_dagster_home(monkeypatch, tmp_path)
    names = [t.name for t in raw_tables()]
    table = raw_table("procedurelog")
    quiet_source(source_url, names)
    assert cli.main(["sync"]) == 0
    capsys.readouterr()
    wait_past_records(source_url, pg_url)  # (the edit counts as written after the verification)
    conn = mysql_conn(source_url)
    with conn.cursor() as cur:
        cur.execute("UPDATE procedurelog SET ProcFee = ProcFee + 1 "
                    "WHERE ProcDate >= '2025-05-01' AND ProcDate < '2025-06-01' LIMIT 3")
    conn.close()
    with monkeypatch.context() as planted:
        _planted_defect(planted)
        assert cli.main(["sync"]) == 1
    out = capsys.readouterr().out
    assert any(line.startswith("procedurelog ") and line.endswith("CHECK FAILED") for line in out.splitlines()), out
    # Dagster's runs are months; the direct path syncs a table written since verified whole-range
    assert _left(pg_url) == [("raw.procedurelog", "2025-05" if with_dagster else "all rows")]
    assert_raw_equals_source(source_url, pg_url, [table])  # the repairs brought the edit: equal

    quiet_source(source_url, names)
    assert cli.main(["sync"]) == 0
    out = capsys.readouterr().out
    assert "nothing to sync" not in out and "CHECK FAILED" not in out, out
    assert [line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["incremental"]] == ["procedurelog"]
    assert _left(pg_url) == []
    resources = _resources(source_url, pg_url)
    result = _dbt(resources, "stg_opendental__procedurelog")
    assert result.success, _failure(result)
    capsys.readouterr()

    # every table recorded verified again (procedurelog by its passing check); a failure on it now
    pg = pg_conn(pg_url)
    with pg.cursor() as cur:
        cur.execute("SELECT count(*) FROM dental_sync.raw_verified WHERE threshold IS NOT NULL")
        assert cur.fetchone()[0] == len(names)
        cur.execute('SELECT count(*) FROM raw.procedurelog WHERE "ProcDate" >= %s AND "ProcDate" < %s',
                    (D(2025, 3, 1), D(2025, 4, 1)))
        rows = cur.fetchone()[0]
    pg.rollback()
    check_failures.record(pg, "raw.procedurelog", Window(D(2025, 3, 1), D(2025, 4, 1)), False, rows, rows)
    pg.close()
    read = []  # the tables whose source fingerprints the plan reads
    source_fingerprints = fingerprint.source_fingerprints
    monkeypatch.setattr(fingerprint, "source_fingerprints",
                        lambda conn, t, *a, **k: read.append(t.name) or source_fingerprints(conn, t, *a, **k))
    assert cli.main(["sync"]) == 0
    monkeypatch.setattr(fingerprint, "source_fingerprints", source_fingerprints)
    out = capsys.readouterr().out
    assert "procedurelog" in read and "nothing to sync" not in out, out  # read, not skipped as verified
    assert [line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["incremental"]] == ["procedurelog"]
    assert _left(pg_url) == []
    assert cli.main(["sync"]) == 0
    assert capsys.readouterr().out.strip() == "raw equals the source: nothing to sync"
    assert_raw_equals_source(source_url, pg_url, raw_tables())


def _edit_raw_by_hand(pg_url, month_start: str, month_end: str) -> int:
    """Change one raw procedurelog row of the month (its ProcFee, its DateTStamp kept) as a hand edit of
    the warehouse would: nothing the source or the plan's fingerprints show. Returns its key."""
    conn = pg_conn(pg_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute('SELECT min("ProcNum") FROM raw.procedurelog WHERE "ProcDate" >= %s AND "ProcDate" < %s',
                        (month_start, month_end))
            key = cur.fetchone()[0]
            cur.execute('UPDATE raw.procedurelog SET "ProcFee" = "ProcFee" + 1 WHERE "ProcNum" = %s', (key,))
        return key
    finally:
        conn.close()


def test_a_sampled_check_never_clears_a_failure_it_did_not_look_at(source_url, pg_url, dbt_target, monkeypatch):
    """A recorded failure of a window whose differing row is still there: the next sync of that window
    (nothing changed at the source: an incremental sync that re-reads nothing) checks every row, not the
    sample (here one key block in a million, which misses the row), so the row is found, the window
    repaired and only then the failure cleared. A sampled check passed and cleared it with the row
    still wrong."""
    from dental_assets.partitions import month_window

    monkeypatch.setenv("DENTAL_SYNC_CHECK_SAMPLE", "1000000")
    resources = _resources(source_url, pg_url)
    assert _sync_month(resources, "2025-05")
    _edit_raw_by_hand(pg_url, "2025-05-01", "2025-06-01")
    conn = pg_conn(pg_url)
    try:
        window = month_window("2025-05", "2025-05", ["2025-04", "2025-05", "2025-06"])
        check_failures.record(conn, "raw.procedurelog", window, False, 1, 1)
    finally:
        conn.close()
    assert _left(pg_url) == [("raw.procedurelog", "2025-05")]
    assert _sync_month(resources, "2025-05")  # after the repair its check hashes every row
    assert _left(pg_url) == []
    table, month = raw_table("procedurelog"), "\"ProcDate\" >= '2025-05-01' AND \"ProcDate\" < '2025-06-01'"
    assert raw_rows(pg_url, table, month) == source_rows(source_url, table, month.replace('"', "`"))


def test_a_repair_that_raises_still_records_the_failed_check(source_url, pg_url, dbt_target, monkeypatch):
    """The check fails (a defect in raw's row hash, planted) and the repair's sync then raises (a value
    raw refuses, say): the window is still as the failed check found it, so the failure is recorded
    and dbt refused, as when the repair ends without a pass."""
    from dental_assets.replication import replicate

    monkeypatch.setenv("DENTAL_SYNC_CHECK_SAMPLE", "1")
    resources = _resources(source_url, pg_url)
    _planted_defect(monkeypatch)
    sync_window = replicate.sync_window
    calls = []

    def failing_repair(*args, **kwargs):
        calls.append(kwargs.get("mode"))
        if len(calls) > 1:  # the first call is the sync itself, the next ones the repairs
            raise RuntimeError("a repair that raised")
        return sync_window(*args, **kwargs)

    monkeypatch.setattr(replicate, "sync_window", failing_repair)
    assert not _sync_month_raises(resources, "2025-05")
    assert len(calls) == 2
    assert _left(pg_url) == [("raw.procedurelog", "2025-05")]


def _sync_month_raises(resources, month: str) -> bool:
    """The raw step of procedurelog's ``month``; whether it succeeded."""
    from dental_assets.defs.raw.assets import raw_asset_key, raw_assets

    result = dg.materialize(raw_assets, selection=[raw_asset_key("procedurelog")], partition_key=month,
                            resources={k: resources[k] for k in ("opendental", "warehouse")}, raise_on_error=False)
    return result.success

"""Replication from a real MariaDB OpenDental database into raw: exactness, change detection, checks."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from dagster_instances import dental_instance_for_test

from dental_assets.catalog import pg_create_table_sql, raw_table, raw_tables
from dental_assets.defs.raw.assets import raw_asset_key
from dental_assets.defs.raw.sensors import raw_change_sensor
from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource
from dental_assets.instance import ephemeral_instance  # in-process runs, as the sensor's would be
from dental_synthetic import SyntheticConfig, generate
from dental_synthetic.mariadb_writer import DEMO_MARK, mark_mariadb_demo_target, write_mariadb
from dental_synthetic.safety import NotADemoTargetError
from test_replication_support import (assert_raw_equals_source, mysql_conn, pg_conn, quiet_source, raw_freshness,
                                      run_raw_request, select_only_user, wait_past_records)

AS_OF = dt.date(2025, 6, 30)


@pytest.fixture(scope="module")
def practice():
    return generate(SyntheticConfig(as_of=AS_OF, patients=150, seed=7))


@pytest.fixture
def source_url(mariadb_url, practice, write_practice):
    write_practice(practice, mariadb_url)
    return mariadb_url


@pytest.fixture
def env(monkeypatch, source_url, pg_url):
    monkeypatch.setenv("DENTAL_SOURCE", "opendental")
    monkeypatch.setenv("OPENDENTAL_URL", source_url)
    monkeypatch.setenv("DENTAL_WAREHOUSE_URL", pg_url)
    return source_url, pg_url


def _sync(capsys=None, instance=None, full_refresh=False):
    """`dental sync` in this process (Dagster runs on ``instance``, else an ephemeral one)."""
    from dental_assets.defs.raw.sync_command import run_sync

    return run_sync(instance=instance or ephemeral_instance(), full_refresh=full_refresh)


def _sync_direct(source_url: str, pg_url: str, tables=None, mode: str = "auto") -> dict:
    """The replication functions without Dagster (fast): every table whole (``mode`` as
    ``sync_window``'s); returns results by table, raising AssertionError when a table's verification
    fails."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window, verify_window

    params = MySqlParams.from_url(source_url)
    pg = pg_conn(pg_url)
    results = {}
    try:
        for table in tables or raw_tables():
            results[table.name] = sync_window(params, pg, table, None, mode=mode)
            equal, src, raw = verify_window(params, pg, table, None)
            assert equal, f"{table.name}: source {src} != raw {raw}"
    finally:
        pg.close()
    return results


def _raw_primary_keys(pg_url: str) -> dict[str, str]:
    """Raw's tables and the column of each one's primary key."""
    pg = pg_conn(pg_url)
    try:
        with pg.cursor() as cur:
            cur.execute("SELECT c.relname, a.attname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                        "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey) "
                        "WHERE k.contype = 'p' AND c.relnamespace = 'raw'::regnamespace")
            return dict(cur.fetchall())
    finally:
        pg.close()


def _assert_no_table(mariadb_url: str) -> None:
    conn = mysql_conn(mariadb_url)
    with conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        assert cur.fetchall() == ()
    conn.close()


def test_write_mariadb_refuses_unmarked_database(mariadb_url, practice):
    with pytest.raises(NotADemoTargetError):
        write_mariadb(practice, mariadb_url)
    _assert_no_table(mariadb_url)


def test_an_unmarked_database_is_refused_naming_it_without_credentials(mariadb_url, practice):
    """The refusal names the server and database, never the password (dental_synthetic/safety.py), whether
    the CLI asks first (``ensure_mariadb_demo_target``) or the writer does; nothing is written."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_synthetic.mariadb_writer import ensure_mariadb_demo_target

    params = MySqlParams.from_url(mariadb_url)
    for refuse in (lambda: ensure_mariadb_demo_target(mariadb_url), lambda: write_mariadb(practice, mariadb_url)):
        with pytest.raises(NotADemoTargetError) as refused:
            refuse()
        assert params.database in str(refused.value)
        assert f":{params.password}@" not in str(refused.value) and mariadb_url not in str(refused.value)
    _assert_no_table(mariadb_url)


def test_the_mark_of_another_database_on_the_server_does_not_count(mariadb_url, make_mariadb_database, practice):
    """The mark is a table of the target database itself (``DATABASE()``): a demo database marked beside it
    on the same server does not make it writable."""
    with make_mariadb_database() as marked:
        mark_mariadb_demo_target(marked)
        with pytest.raises(NotADemoTargetError):
            write_mariadb(practice, mariadb_url)
    _assert_no_table(mariadb_url)


def test_write_mariadb_loads_every_table(mariadb_url, practice):
    mark_mariadb_demo_target(mariadb_url)
    write_mariadb(practice, mariadb_url)
    conn = mysql_conn(mariadb_url)
    with conn.cursor() as cur:
        for name, table in practice.tables.items():
            cur.execute(f"SELECT COUNT(*) FROM `{name}`")
            assert cur.fetchone()[0] == table.num_rows, name
    conn.close()


def _tables_as_written(url: str) -> dict[str, tuple[str, int]]:
    """Every table of the database of ``url``: its definition (SHOW CREATE TABLE) and CHECKSUM TABLE."""
    conn = mysql_conn(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW TABLES")
            found = {}
            for (name,) in cur.fetchall():
                cur.execute(f"SHOW CREATE TABLE `{name}`")
                definition = cur.fetchone()[1]
                cur.execute(f"CHECKSUM TABLE `{name}`")
                found[name] = (definition, cur.fetchone()[1])
            return found
    finally:
        conn.close()


def test_the_tests_copy_of_a_practice_equals_what_write_mariadb_writes(source_url, make_mariadb_database, practice):
    """The source of these tests (``write_practice``: a server-side copy of a template) has the tables,
    definitions and rows ``mark_mariadb_demo_target`` and ``write_mariadb`` give."""
    with make_mariadb_database() as written_url:
        mark_mariadb_demo_target(written_url)
        write_mariadb(practice, written_url)
        written = _tables_as_written(written_url)
    copied = _tables_as_written(source_url)
    assert sorted(copied) == sorted(written) and len(written) == len(practice.tables) + 1  # + the demo mark
    assert ({n: t for n, t in copied.items() if n != DEMO_MARK}
            == {n: t for n, t in written.items() if n != DEMO_MARK})
    assert copied[DEMO_MARK][0] == written[DEMO_MARK][0]  # the mark's row holds the time it was made


def _edit_and_delete(url: str) -> None:
    conn = mysql_conn(url)
    with conn.cursor() as cur:
        # in-place edits of old rows (DateTStamp moves), hard deletes, a moved business date, an insert
        cur.execute("UPDATE procedurelog SET ProcFee = ProcFee + 1 WHERE ProcNum % 17 = 3")
        cur.execute("DELETE FROM procedurelog WHERE ProcNum % 23 = 5")
        cur.execute("UPDATE procedurelog SET ProcDate = '2024-02-10' WHERE ProcNum % 29 = 1")
        cur.execute("DELETE FROM paysplit WHERE SplitNum % 31 = 2")
        cur.execute("UPDATE patient SET LName = CONCAT(LName, 'x') WHERE PatNum % 7 = 0")
        cur.execute("DELETE FROM definition WHERE DefNum % 11 = 4")
        cur.execute("INSERT INTO adjustment (AdjDate, AdjAmt, PatNum) VALUES ('2023-03-03', 12.5, 1)")
    conn.close()


def test_sync_then_sensor_keeps_raw_equal_to_source(env):
    source_url, pg_url = env
    instance = ephemeral_instance()  # the sync's and the sensor's, as in a deployment
    report = _sync(instance=instance)
    assert report.ok
    assert {t for t in report.tables} == {t.name for t in raw_tables()}
    assert_raw_equals_source(source_url, pg_url, raw_tables())
    # the first sync creates each table and adds its primary key after the COPY (sync._drop_primary_key)
    assert _raw_primary_keys(pg_url) == {t.name: t.primary_key for t in raw_tables()}

    resources = {
        "opendental": OpenDentalSourceResource(kind="opendental", url=source_url),
        "warehouse": WarehouseResource(url=pg_url),
    }
    # nothing changed: the sensor skips
    result = raw_change_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert isinstance(result, dg.SkipReason)

    _edit_and_delete(source_url)
    requests = raw_change_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert isinstance(requests, list) and requests
    requested = {k.path[-1] for r in requests for k in r.asset_selection}
    assert requested == {"procedurelog", "paysplit", "patient", "definition", "adjustment"}

    for request in requests:
        run = run_raw_request(request, resources, instance)
        assert run.success
        assert all(e.passed for e in run.get_asset_check_evaluations())
        modes = {e.event_specific_data.materialization.metadata["sync_mode"].value
                 for e in run.get_asset_materialization_events()}
        assert modes <= {"incremental", "full"}
    assert_raw_equals_source(source_url, pg_url, raw_tables())
    result = raw_change_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert isinstance(result, dg.SkipReason)


def test_sensor_requests_only_changed_partitions(env):
    source_url, pg_url = env
    _sync_direct(source_url, pg_url)
    conn = mysql_conn(source_url)
    with conn.cursor() as cur:
        cur.execute("SELECT ProcNum FROM procedurelog WHERE ProcDate >= '2024-05-01' AND ProcDate < '2024-06-01' LIMIT 1")
        (key,) = cur.fetchone()
        cur.execute("UPDATE procedurelog SET ProcFee = ProcFee + 3 WHERE ProcNum = %s", (key,))
    conn.close()
    resources = {
        "opendental": OpenDentalSourceResource(kind="opendental", url=source_url),
        "warehouse": WarehouseResource(url=pg_url),
    }
    requests = raw_change_sensor(dg.build_sensor_context(instance=ephemeral_instance(), resources=resources))
    assert len(requests) == 1
    assert requests[0].partition_key == "2024-05"
    assert [k.path[-1] for k in requests[0].asset_selection] == ["procedurelog"]


def test_dirty_values_and_schema_drift(env):
    source_url, pg_url = env
    conn = mysql_conn(source_url)
    with conn.cursor() as cur:
        cur.execute("UPDATE procedurelog SET ProcDate = '0000-00-00', DateEntryC = '0000-00-00' WHERE ProcNum = 1")
        cur.execute("UPDATE patient SET Address = CONCAT('1', CHAR(0), '2') WHERE PatNum = 2")
        cur.execute("UPDATE procedurelog SET ProcTime = '-01:30:00', ProcTimeEnd = '838:59:59' WHERE ProcNum = 3")
        cur.execute("UPDATE procedurelog SET DateTP = '0001-01-01' WHERE ProcNum = 4")
        cur.execute("UPDATE patient SET LName = 'quote \"x\", comma\\nnewline\\\\ tab\\t' WHERE PatNum = 1")
        cur.execute("ALTER TABLE procedurelog ADD COLUMN FutureField varchar(40) NOT NULL DEFAULT 'v25'")
    conn.close()
    _sync_direct(source_url, pg_url)
    pg = pg_conn(pg_url)
    with pg.cursor() as cur:
        cur.execute('SELECT "ProcDate", "DateEntryC" FROM raw.procedurelog WHERE "ProcNum" = 1')
        assert cur.fetchone() == (None, None)
        cur.execute('SELECT "Address" FROM raw.patient WHERE "PatNum" = 2')
        assert cur.fetchone() == ("12",)
        cur.execute('SELECT "ProcTime", "ProcTimeEnd" FROM raw.procedurelog WHERE "ProcNum" = 3')
        assert cur.fetchone() == (-dt.timedelta(hours=1, minutes=30), dt.timedelta(hours=838, minutes=59, seconds=59))
        cur.execute('SELECT "DateTP" FROM raw.procedurelog WHERE "ProcNum" = 4')
        assert cur.fetchone() == (dt.date(1, 1, 1),)
        cur.execute('SELECT count(*), min("FutureField") FROM raw.procedurelog')
        count, value = cur.fetchone()
        assert value == "v25"
    pg.close()
    assert_raw_equals_source(source_url, pg_url, [raw_table("procedurelog"), raw_table("patient")])


def test_a_full_copy_is_analyzed_from_a_small_sample(env, monkeypatch):
    """After a full copy (of ``ANALYZE_MIN_ROWS`` rows or more) raw's table has its row count and
    statistics of every column, the key's histogram included (the check's key ranges are planned with
    it), from PostgreSQL's sample for ``COPY_STATISTICS_TARGET`` 10: a histogram of at most 10 buckets
    (the default target's has up to 100)."""
    from dental_assets.replication import replicate
    from dental_assets.replication.mysql import MySqlParams

    source_url, pg_url = env
    monkeypatch.setattr(replicate, "ANALYZE_MIN_ROWS", 100)  # the test practice's tables are small
    table = raw_table("procedurelog")
    pg = pg_conn(pg_url)
    try:
        with pg.cursor() as cur:  # raw's empty table, kept from autovacuum for the test's assertions
            cur.execute("CREATE SCHEMA IF NOT EXISTS raw")
            cur.execute(pg_create_table_sql(table))
            cur.execute("ALTER TABLE raw.procedurelog SET (autovacuum_enabled = false)")
        pg.commit()
        done = replicate.replicate_table(MySqlParams.from_url(source_url), pg, table, None, "auto", True, 32)
        assert done.result.mode == "full" and done.result.rows_copied > 200
        assert done.check[0], "the check passed"
        with pg.cursor() as cur:
            cur.execute("SELECT reltuples FROM pg_class WHERE oid = 'raw.procedurelog'::regclass")
            assert cur.fetchone()[0] == done.result.rows_copied
            cur.execute("SELECT attname, cardinality(histogram_bounds::text::text[]) FROM pg_stats "
                        "WHERE schemaname = 'raw' AND tablename = 'procedurelog'")
            analyzed = dict(cur.fetchall())
        pg.commit()
    finally:
        pg.close()
    assert set(analyzed) == {c.name for c in table.columns}
    assert 2 <= analyzed[table.primary_key] <= 11


def test_conversions_are_counted(env):
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window

    source_url, pg_url = env
    conn = mysql_conn(source_url)
    with conn.cursor() as cur:
        cur.execute("UPDATE procedurelog SET ProcDate = '0000-00-00' WHERE ProcNum IN (1, 2)")
        cur.execute("UPDATE procedurelog SET ToothNum = CONCAT(CHAR(0), CHAR(0)) WHERE ProcNum = 5")
    conn.close()
    pg = pg_conn(pg_url)
    result = sync_window(MySqlParams.from_url(source_url), pg, raw_table("procedurelog"), None)
    pg.close()
    assert result.mode == "full"
    assert result.conversions == {"zero_dates_to_null": 2, "nul_bytes_removed": 2}


def test_read_only_user_is_enough(env, mariadb_server_url):
    source_url, pg_url = env
    with select_only_user(mariadb_server_url, source_url, "ro", "ro-pass") as ro_url:
        _sync_direct(ro_url, pg_url)
        assert_raw_equals_source(source_url, pg_url, raw_tables())
        # and the session really is read-only
        from dental_assets.replication.mysql import MySqlParams, connect

        conn = connect(MySqlParams.from_url(source_url))
        with pytest.raises(Exception, match="READ ONLY|read only|read-only"):
            with conn.cursor() as cur:
                cur.execute("UPDATE patient SET LName = 'y' WHERE PatNum = 1")
        conn.close()


def test_direct_work_is_what_the_raw_assets_read_from_the_sensors_requests():
    """Without DAGSTER_HOME, `dental sync` does the planned runs' work itself (``direct.planned_work``):
    the same runs as the sensor's requests (``plan.run_groups``), each with the tables the request
    selects, in catalog order, and the window the raw assets read from it (its partition, or its
    partition range tags); ``full`` for every table in a full refresh, as ``full_refresh_requests``."""
    from dental_assets.defs.raw.sensors import _requests
    from dental_assets.defs.raw.sync_command import full_refresh_requests
    from dental_assets.partitions import Window, month_keys, month_window, monthly_partitions
    from dental_assets.replication.direct import Work, full_refresh_work, planned_work
    from dental_assets.replication.plan import TablePlan

    keys = monthly_partitions.get_partition_keys()
    assert month_keys() == keys

    def read(request: dg.RunRequest) -> tuple[list, Window | None, str]:  # as the raw multi-assets do
        names = {key.path[-1] for key in request.asset_selection}
        tags = request.tags or {}
        window = None
        if request.partition_key:
            window = month_window(request.partition_key, request.partition_key, keys)
        elif "dagster/asset_partition_range_start" in tags:
            window = month_window(tags["dagster/asset_partition_range_start"],
                                  tags["dagster/asset_partition_range_end"], keys)
        ops = (request.run_config or {}).get("ops", {})
        full = any(op.get("config", {}).get("full_refresh") for op in ops.values())
        return [t for t in raw_tables() if t.name in names], window, "full" if full else "auto"

    def month(key: str) -> dt.date:
        return dt.date(int(key[:4]), int(key[5:7]), 1)

    plans = [TablePlan(raw_table("patient"), ("all",), "a"), TablePlan(raw_table("definition"), ("all",), "b"),
             TablePlan(raw_table("procedurelog"), (keys[3], keys[6], keys[7]), "c"),
             TablePlan(raw_table("adjustment"), (keys[7],), "d"), TablePlan(raw_table("payment"), (), "e")]
    work = planned_work(plans, keys)
    assert [(w.tables, w.window, w.mode) for w in work] == [read(r) for r in _requests(plans, keys, False)]
    assert work == [Work([raw_table("patient"), raw_table("definition")], None),
                    Work([raw_table("procedurelog")], Window(month(keys[3]), month(keys[4]))),
                    Work([raw_table("procedurelog"), raw_table("adjustment")], Window(month(keys[6]), month(keys[8])))]
    assert planned_work([TablePlan(raw_table("procedurelog"), tuple(keys), "f")], keys) == \
        [Work([raw_table("procedurelog")], Window(None, None))]
    assert planned_work([p for p in plans if p.table.name == "payment"], keys) == []
    everything = full_refresh_work(keys)
    assert [(w.tables, w.window, w.mode) for w in everything] == [read(r) for r in full_refresh_requests()]
    assert [w.mode for w in everything] == ["full", "full"] and everything[1].window == Window(None, None)


def test_run_keys_name_each_runs_months_and_every_digest_of_its_tables():
    """The sensor's run keys (Dagster starts a run key once, ever): ``reference``, the month, or
    ``first..last``, then ``:`` and the digests of the run's tables joined by ``-`` in plan order. A run is
    requested again when the digest of any one of its tables changes, and only that run."""
    from dental_assets.defs.raw.sensors import _requests
    from dental_assets.partitions import monthly_partitions
    from dental_assets.replication.plan import TablePlan

    keys = monthly_partitions.get_partition_keys()

    def plans(**digests) -> list:
        d = {"patient": "a", "definition": "b", "procedurelog": "c", "adjustment": "d", **digests}
        return [TablePlan(raw_table("patient"), ("all",), d["patient"]),
                TablePlan(raw_table("definition"), ("all",), d["definition"]),
                TablePlan(raw_table("procedurelog"), (keys[3], keys[6], keys[7]), d["procedurelog"]),
                TablePlan(raw_table("adjustment"), (keys[7],), d["adjustment"])]

    def run_keys(**digests) -> list:
        return [r.run_key for r in _requests(plans(**digests), keys, True)]

    assert run_keys() == ["reference:a-b", f"{keys[3]}:c", f"{keys[6]}..{keys[7]}:c-d"]
    assert run_keys(definition="B") == ["reference:a-B", f"{keys[3]}:c", f"{keys[6]}..{keys[7]}:c-d"]
    assert run_keys(adjustment="D") == ["reference:a-b", f"{keys[3]}:c", f"{keys[6]}..{keys[7]}:c-D"]
    assert [r.run_key for r in _requests(plans(), keys, False)] == [None, None, None]


def test_a_plans_digest_changes_with_either_side_and_a_failed_digest_with_any_windows_month():
    """``TablePlan.digest`` (a run key's part): raw's fingerprints change it as the source's do (a raw
    window emptied by hand while the source is unchanged must be requested again, under a new run key), and
    no raw table is not an empty one; the failed windows' suffix names each window by both its ends, in
    no particular order."""
    from dental_assets.partitions import Window
    from dental_assets.replication.fingerprint import Fingerprint
    from dental_assets.replication.plan import _digest, _failed_digest

    source = {"2024-05": Fingerprint(3, 30, 900), "2024-06": Fingerprint(1, 7, 300)}
    raw = {"2024-05": Fingerprint(3, 30, 900), "2024-06": Fingerprint(1, 7, 300)}
    emptied = {"2024-05": Fingerprint(3, 30, 900)}
    assert _digest(source, raw) == _digest(dict(reversed(list(source.items()))), dict(raw))
    assert len({_digest(source, raw), _digest(source, emptied), _digest(source, {}), _digest(source, None),
                _digest(emptied, raw)}) == 5
    may, june = Window(dt.date(2024, 5, 1), dt.date(2024, 6, 1)), Window(dt.date(2024, 6, 1), dt.date(2024, 7, 1))
    may_june, from_may = Window(dt.date(2024, 5, 1), dt.date(2024, 7, 1)), Window(dt.date(2024, 5, 1), None)
    assert _failed_digest([may, june]) == _failed_digest([june, may])
    assert len({_failed_digest([may]), _failed_digest([may_june]), _failed_digest([from_may]),
                _failed_digest([june]), _failed_digest([may, june])}) == 5


def test_dental_sync_without_dagster_home_never_imports_dagster(env, monkeypatch):
    """`dental sync` with no DAGSTER_HOME, as a process: a first sync and a sync after an edit leave raw
    equal to the source without importing Dagster (its imports took 1.8-2.0 s of each sync's start-up)."""
    import subprocess
    import sys

    source_url, pg_url = env
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    program = ("import sys; from dental_assets import cli; code = cli.main(['sync']); "
               "print('dagster imported' if 'dagster' in sys.modules else 'no dagster'); sys.exit(code)")

    def sync() -> str:
        done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    first = sync()
    assert first.splitlines()[-1] == "no dagster" and "procedurelog           full" in first
    conn = mysql_conn(source_url)
    with conn.cursor() as cur:
        cur.execute("UPDATE procedurelog SET ProcFee = ProcFee + 2 WHERE ProcNum % 7 = 3")
    conn.close()
    second = sync()
    assert second.splitlines()[-1] == "no dagster" and "procedurelog           incremental" in second
    assert_raw_equals_source(source_url, pg_url, raw_tables())


def test_dental_sync_without_dagster_home_does_the_runs_work_itself(env, monkeypatch, capsys):
    """`dental sync` with no DAGSTER_HOME executes no Dagster run: the first sync, then one after edits,
    deletes, a moved date and an insert, leave raw equal to the source, and every table checked and
    recorded verified. A source table gone after the plan fails its run (exit 1, the table named) once
    the run's other tables, those after it included, are synced, and the other run goes on; a wrong
    content hash in raw's check (a planted bug) fails the checks and the exit."""
    from dental_assets import cli
    from dental_assets.replication import fingerprint

    source_url, pg_url = env
    monkeypatch.delenv("DAGSTER_HOME", raising=False)

    def no_dagster_run(*args, **kwargs):
        raise AssertionError("dental sync without DAGSTER_HOME executed a Dagster run")

    monkeypatch.setattr(dg.JobDefinition, "execute_in_process", no_dagster_run)
    # no older transaction open on the server (another test process's): it would pull the plan's
    # threshold back, the fixture's writes would count as written after it (verified.written_tables),
    # and the next sync would sync those tables again instead of finding nothing to do
    quiet_source(source_url, [t.name for t in raw_tables()])
    assert cli.main(["sync"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert {line.split()[0] for line in lines if line.split()[1:2] == ["full"]} == {t.name for t in raw_tables()}
    assert_raw_equals_source(source_url, pg_url, raw_tables())
    assert _raw_primary_keys(pg_url) == {t.name: t.primary_key for t in raw_tables()}
    pg = pg_conn(pg_url)  # every table checked under the sync's claim, so recorded verified
    with pg.cursor() as cur:
        cur.execute("SELECT count(*) FROM dental_sync.raw_verified WHERE threshold IS NOT NULL")
        assert cur.fetchone()[0] == len(raw_tables())
    pg.close()
    assert cli.main(["sync"]) == 0
    assert capsys.readouterr().out.strip() == "raw equals the source: nothing to sync"

    wait_past_records(source_url, pg_url)  # (else procedurelog's edit may fall in the verification's margin)
    _edit_and_delete(source_url)
    read = []  # the fingerprints read: none of a table written since verified (synced whole-range)
    source_fingerprints = fingerprint.source_fingerprints
    monkeypatch.setattr(fingerprint, "source_fingerprints",
                        lambda conn, table, *a, **k: read.append(table.name) or source_fingerprints(conn, table, *a, **k))
    assert cli.main(["sync"]) == 0
    monkeypatch.setattr(fingerprint, "source_fingerprints", source_fingerprints)
    out = capsys.readouterr().out
    assert "procedurelog           incremental" in out and "CHECK FAILED" not in out and "procedurelog" not in read
    assert_raw_equals_source(source_url, pg_url, raw_tables())

    # patient, then definition in the reference tables' run; procedurelog in a run of its own
    conn = mysql_conn(source_url)
    with conn.cursor() as cur:
        cur.execute("UPDATE patient SET LName = CONCAT(LName, 'y') WHERE PatNum % 5 = 1")
        gone = cur.execute("DELETE FROM definition WHERE DefNum % 11 = 5")
        cur.execute("DELETE FROM patientlink")  # (after patient and before definition: it fails there)
        cur.execute("INSERT INTO patientlink (PatNumFrom, PatNumTo, LinkType) VALUES (1, 2, 1)")
        cur.execute("UPDATE procedurelog SET ProcFee = ProcFee + 3 WHERE ProcNum % 13 = 2")
    conn.close()
    from dental_assets.replication import direct

    plan = direct.plan_tables

    def plan_then_lose_a_table(*args, **kwargs):
        plans = plan(*args, **kwargs)
        conn = mysql_conn(source_url)
        with conn.cursor() as cur:
            cur.execute("RENAME TABLE patientlink TO patientlink_gone")
        conn.close()
        return plans

    monkeypatch.setattr(direct, "plan_tables", plan_then_lose_a_table)
    assert cli.main(["sync"]) == 1
    out = capsys.readouterr().out
    assert "failed: ConfigurationError" in out and "patientlink" in out and "1 run(s) failed" in out
    # definition's line: its rows deleted at the source as deleted, none replaced (no row of it was edited)
    (line,) = [line.split() for line in out.splitlines() if line.startswith("definition ")]
    assert (line[1], line[4:8]) == ("incremental", ["0", "replaced", f"{gone:,}", "deleted"]), line
    # the table after the failed one in its run is synced too (replicate.table_error)
    assert_raw_equals_source(source_url, pg_url, [raw_table(n) for n in ("patient", "procedurelog", "definition")])
    monkeypatch.setattr(direct, "plan_tables", plan)
    conn = mysql_conn(source_url)
    with conn.cursor() as cur:
        cur.execute("RENAME TABLE patientlink_gone TO patientlink")
    conn.close()
    assert cli.main(["sync"]) == 0
    capsys.readouterr()
    assert_raw_equals_source(source_url, pg_url, raw_tables())

    row_hash_pg = fingerprint.row_hash_pg
    monkeypatch.setattr(fingerprint, "row_hash_pg", lambda cols: f"({row_hash_pg(cols)} + 1)")
    conn = mysql_conn(source_url)
    with conn.cursor() as cur:
        cur.execute("UPDATE procedurelog SET ProcFee = ProcFee + 1 WHERE ProcNum % 19 = 4")
    conn.close()
    assert cli.main(["sync"]) == 1
    out = capsys.readouterr().out
    assert ("raw.procedurelog: the window differed from the source after the sync: synced again (2x), "
            "copied it whole") in out
    # (any other table this sync writes fails alike: the planted bug is in every check)
    assert any(line.startswith("procedurelog ") and line.endswith("CHECK FAILED") for line in out.splitlines())


def test_failed_check_blocks(env):
    """A raw window that disagrees with the source fails the blocking check (and `dental sync`)."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import verify_window

    source_url, pg_url = env
    _sync_direct(source_url, pg_url, [raw_table("procedurelog")])
    pg = pg_conn(pg_url)
    with pg.cursor() as cur:
        cur.execute('UPDATE raw.procedurelog SET "CodeNum" = "CodeNum" + 1 WHERE "ProcNum" = 1')
    pg.commit()
    equal, src, raw = verify_window(MySqlParams.from_url(source_url), pg, raw_table("procedurelog"), None)
    pg.close()
    assert not equal and src[:3] == raw[:3] and src[3] != raw[3]  # same keys, other content

    # the repair: `dental sync --full-refresh` runs the raw assets with the full_refresh config, every
    # table is copied whole, and every check passes
    report = _sync(full_refresh=True)
    assert report.ok and report.runs == 2
    assert {entry["mode"] for entry in report.tables.values()} == {"full"}
    assert_raw_equals_source(source_url, pg_url, raw_tables())


def test_dental_sync_full_refresh_without_dagster_home_repairs_a_hand_edit(env, monkeypatch, capsys):
    """A value edited in raw by hand, which no fingerprint of the plan covers: `dental sync` finds
    nothing to do; `dental sync --full-refresh` with no DAGSTER_HOME (the direct path) copies every
    table whole, every check passes, and raw equals the source again."""
    from dental_assets import cli

    source_url, pg_url = env
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    quiet_source(source_url, [t.name for t in raw_tables()])
    assert cli.main(["sync"]) == 0
    capsys.readouterr()
    pg = pg_conn(pg_url)
    with pg.cursor() as cur:
        cur.execute('UPDATE raw.procedurelog SET "ProcFee" = "ProcFee" + 1 WHERE "ProcNum" = 3')
    pg.commit()
    pg.close()
    assert cli.main(["sync"]) == 0
    assert capsys.readouterr().out.strip() == "raw equals the source: nothing to sync"
    with pytest.raises(AssertionError):
        assert_raw_equals_source(source_url, pg_url, [raw_table("procedurelog")])
    assert cli.main(["sync", "--full-refresh"]) == 0
    lines = capsys.readouterr().out.splitlines()
    modes = {line.split()[0]: line.split()[1] for line in lines if line.split()[1:2] in (["full"], ["incremental"])}
    assert modes == {t.name: "full" for t in raw_tables()} and not any("CHECK FAILED" in line for line in lines)
    assert_raw_equals_source(source_url, pg_url, raw_tables())


def test_a_failed_table_does_not_stop_the_tables_after_it(env):
    """A run's tables are synced in order on a worker thread while Dagster records the finished ones:
    when a table fails with its own error (here its source table is gone), the tables before and after
    it are synced and recorded, and the step fails after the last one with that table's error."""
    from dental_assets.defs.raw.assets import raw_assets
    from dental_assets.defs.resources import build_resources

    source_url, pg_url = env
    reference = [t for t in raw_tables() if not t.partitioned]
    first, broken, later = reference[0], reference[1], reference[2:8]
    conn = mysql_conn(source_url)
    with conn.cursor() as cur:
        cur.execute(f"RENAME TABLE `{broken.name}` TO `{broken.name}_gone`")
    conn.close()
    result = dg.materialize(
        raw_assets, resources=build_resources(), raise_on_error=False,
        selection=[raw_asset_key(t.name) for t in (first, broken, *later)],
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert broken.name in str(failure.step_failure_data.error)
    assert {e.asset_key for e in result.get_asset_materialization_events()} == {
        raw_asset_key(t.name) for t in (first, *later)}
    assert all(e.passed for e in result.get_asset_check_evaluations())
    pg = pg_conn(pg_url)
    with pg.cursor() as cur:
        cur.execute("SELECT t, to_regclass('raw.' || quote_ident(t)) IS NOT NULL FROM unnest(%s::text[]) t",
                    ([t.name for t in (first, broken, *later)],))
        exists = dict(cur.fetchall())
    pg.close()
    assert exists == {broken.name: False, **{t.name: True for t in (first, *later)}}
    assert_raw_equals_source(source_url, pg_url, [first, *later])


def test_backstop_recopies_tables_without_modified_column(env):
    """An in-place edit of `definition` (no modified column) leaves the fingerprints equal; the nightly
    backstop re-copies such tables anyway, and only them when nothing else changed."""
    from dental_assets.defs.raw.sensors import raw_sync_backstop

    source_url, pg_url = env
    _sync_direct(source_url, pg_url)
    conn = mysql_conn(source_url)
    with conn.cursor() as cur:
        cur.execute("UPDATE definition SET ItemName = CONCAT(ItemName, ' (edited)') WHERE DefNum = 1")
    conn.close()
    resources = {
        "opendental": OpenDentalSourceResource(kind="opendental", url=source_url),
        "warehouse": WarehouseResource(url=pg_url),
    }
    instance = ephemeral_instance()
    assert isinstance(raw_change_sensor(dg.build_sensor_context(instance=instance, resources=resources)),
                      dg.SkipReason)
    with dg.build_schedule_context(instance=instance, resources=resources) as context:
        requests = raw_sync_backstop(context)
    assert len(requests) == 1 and requests[0].partition_key is None
    # no run key (docs/operations.md): a change whose sensor run failed keeps its digest, and a keyed request
    # would never be launched again by this schedule
    assert requests[0].run_key is None
    selected = {k.path[-1] for k in requests[0].asset_selection}
    assert "definition" in selected
    assert all(raw_table(name).modified_column is None for name in selected)
    assert requests[0].run_config == {"ops": {"raw_opendental_reference": {"config": {"full_refresh": True}}}}
    # what that run does: a normal sync moves only added or removed keys of such a table, the backstop's
    # full_refresh copies it whole. The request run as the schedule's run would be: the edit reaches raw
    def raw_item_name() -> str:
        pg = pg_conn(pg_url)
        try:
            with pg.cursor() as cur:
                cur.execute('SELECT "ItemName" FROM raw.definition WHERE "DefNum" = 1')
                return cur.fetchone()[0]
        finally:
            pg.close()

    conn = mysql_conn(source_url)
    with conn.cursor() as cur:
        cur.execute("SELECT ItemName FROM definition WHERE DefNum = 1")
        (edited,) = cur.fetchone()
    conn.close()
    assert edited.endswith(" (edited)") and raw_item_name() != edited  # not in raw before the run
    run = run_raw_request(requests[0], resources, instance)
    assert run.success and all(e.passed for e in run.get_asset_check_evaluations())
    modes = {e.asset_key.path[-1]: e.event_specific_data.materialization.metadata["sync_mode"].value
             for e in run.get_asset_materialization_events()}
    assert modes.keys() == selected and modes["definition"] == "full"
    assert raw_item_name() == edited
    assert_raw_equals_source(source_url, pg_url, [raw_table(name) for name in sorted(selected)])


def test_the_backstop_keeps_raw_fresh_on_a_quiet_source(env):
    """Nobody edits the source after a sync. 30 hours later Dagster's own freshness evaluator says WARN
    for every raw table (raw's policy reads materializations only); that night's backstop requests a
    sync of every table (the latest month of a monthly one, a reference table whole), tagged keep_fresh,
    not a full refresh; the runs delete nothing and pass their checks, and every raw table is PASS again.
    The automation sensor's next tick requests no model for them (the nightly dbt backstop rebuilds the
    models). An hour later the backstop has nothing to request."""
    from dagster._core.test_utils import freeze_time

    from dental_assets.definitions import defs
    from dental_assets.defs.raw.sensors import KEEP_FRESH_TAG, plan_run_requests
    from dental_assets.partitions import monthly_partitions

    source_url, pg_url = env
    instance = ephemeral_instance()
    resources = {"opendental": OpenDentalSourceResource(kind="opendental", url=source_url),
                 "warehouse": WarehouseResource(url=pg_url)}

    def backstop():
        # raw_sync_backstop's plan: a schedule context hands out no ephemeral instance (the daemon's has a
        # persistent one), and a persistent instance records dental sync's events 30 s slower
        return plan_run_requests(resources["opendental"], resources["warehouse"], with_run_keys=False,
                                 backstop=True, instance=instance)

    assert _sync(instance=instance).ok
    assert raw_freshness(instance) == {"PASS"}
    models = dg.evaluate_automation_conditions(defs=defs, instance=instance)  # the automation sensor's tick
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=30)
    with freeze_time(later):
        assert raw_freshness(instance) == {"WARN"}  # the defect, as Dagster sees it
        requests = backstop()
        assert isinstance(requests, list) and requests
        latest_month = monthly_partitions.get_partition_keys()[-1]
        assert {(r.partition_key, k.path[-1]) for r in requests for k in r.asset_selection} == {
            (latest_month if t.partitioned else None, t.name) for t in raw_tables()}
        assert all(r.tags.items() >= KEEP_FRESH_TAG.items() and "dental/full_refresh" not in r.tags
                   and not r.run_config for r in requests)
        for request in requests:
            run = run_raw_request(request, resources, instance)
            assert run.success and all(e.passed for e in run.get_asset_check_evaluations())
            deleted = {e.event_specific_data.materialization.metadata["rows_deleted"].value
                       for e in run.get_asset_materialization_events()}
            assert deleted == {0}  # the source is quiet
        assert raw_freshness(instance) == {"PASS"}
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=models.cursor)
        assert after.total_requested == 0, sorted(r.key.to_user_string() for r in after.results
                                                  if r.true_subset.size)[:5]
    with freeze_time(later + dt.timedelta(hours=1)):
        assert backstop() == []
    assert_raw_equals_source(source_url, pg_url, raw_tables())


def test_the_backstop_schedule_keeps_fresh_the_tables_the_daemons_instance_saw_long_ago(env):
    """``raw_sync_backstop`` itself, on a persistent instance (the daemon's kind, which a schedule context
    hands out) whose records say every reference table was last synced 30 hours ago and no monthly table
    ever: one keep-fresh run selects exactly the reference tables; the monthly ones are requested whole
    as unrecorded (``_with_unrecorded``), not kept fresh."""
    from dagster._core.test_utils import freeze_time

    from dental_assets.defs.raw.sensors import KEEP_FRESH_TAG, raw_sync_backstop

    source_url, pg_url = env
    _sync_direct(source_url, pg_url)
    resources = {"opendental": OpenDentalSourceResource(kind="opendental", url=source_url),
                 "warehouse": WarehouseResource(url=pg_url)}
    reference = {t.name for t in raw_tables() if not t.partitioned}
    with dental_instance_for_test() as instance:
        with freeze_time(dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=30)):
            for name in reference:
                instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=raw_asset_key(name)))
        with dg.build_schedule_context(instance=instance, resources=resources) as context:
            requests = raw_sync_backstop(context)
    assert isinstance(requests, list), requests
    kept = [r for r in requests if r.tags.items() >= KEEP_FRESH_TAG.items()]
    assert len(kept) == 1 and kept[0].partition_key is None
    assert {k.path[-1] for k in kept[0].asset_selection} == reference
    others = {k.path[-1] for r in requests if r not in kept for k in r.asset_selection}
    assert others == {t.name for t in raw_tables() if t.partitioned}


def test_dirty_practice_replicates_exactly(mariadb_url, pg_url, practice):
    """The generator's dirty mode (NUL and BEL bytes, sentinel dates, orphans...) through MariaDB."""
    from dental_synthetic.dirty import make_dirty

    dirty = make_dirty(practice, rate=0.02, seed=3)
    mark_mariadb_demo_target(mariadb_url)
    write_mariadb(dirty, mariadb_url)
    results = _sync_direct(mariadb_url, pg_url)
    assert results["commlog"].conversions.get("nul_bytes_removed", 0) >= 1
    assert_raw_equals_source(mariadb_url, pg_url, raw_tables())


def test_months_before_the_first_partition_fold_into_it():
    """``fingerprint.fold_months``: a business date earlier than the first partition (a practice's history
    before ``DENTAL_PARTITION_START``) and a zero date belong to the first partition, a later one to the
    last (partitions.py: the first partition holds every earlier date). A change among those rows
    requests the first (or last) partition; none is lost for lack of a partition of its own."""
    from dental_assets.replication.fingerprint import FIRST, Fingerprint, changed_partitions, fold_months

    keys = ["2020-01", "2020-02", "2020-03"]
    months = {"2019-05": Fingerprint(1, 10, 100), FIRST: Fingerprint(2, 20, 200), "2020-01": Fingerprint(4, 40, 400),
              "2020-02": Fingerprint(8, 80, 800), "2031-07": Fingerprint(16, 160, 1600)}
    assert fold_months(months, keys) == {"2020-01": Fingerprint(7, 70, 700), "2020-02": Fingerprint(8, 80, 800),
                                         "2020-03": Fingerprint(16, 160, 1600)}
    table = raw_table("procedurelog")
    edited = {**months, "2019-05": Fingerprint(1, 10, 101)}
    assert changed_partitions(table, edited, months, keys) == ["2020-01"]

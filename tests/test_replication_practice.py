"""Replication tried as a practice's database behaves (issue 13), against the real MariaDB and PostgreSQL:
rows re-dated into any month, transactions that commit late, values edited without their timestamp,
the snapshot under a READ COMMITTED default, and a source that lacks a table or a column."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import dagster as dg
import pytest

from dental_assets.catalog import quote_pg, raw_table, raw_tables
from dental_assets.instance import ephemeral_instance  # the instance of `dental sync` without DAGSTER_HOME
from dental_assets.partitions import month_window, monthly_partitions
from dental_synthetic import SyntheticConfig, generate
from test_replication_support import assert_raw_equals_source, mysql_conn, pg_conn, run_raw_request, source_sql

AS_OF = dt.date(2025, 6, 30)
PROCEDURES = "procedurelog"


@pytest.fixture(scope="module")
def practice():
    return generate(SyntheticConfig(as_of=AS_OF, patients=120, seed=13))


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


def _params(url):
    from dental_assets.replication.mysql import MySqlParams

    return MySqlParams.from_url(url)


def _keys() -> list[str]:
    return monthly_partitions.get_partition_keys()


def _window(first: str, last: str | None = None):
    return month_window(first, last or first, _keys())


def _sync(source_url, pg_url, table_name, window, mode="auto"):
    """sync_window of one table's window, then its content check (which must pass)."""
    from dental_assets.replication.sync import sync_window, verify_window

    pg = pg_conn(pg_url)
    try:
        table = raw_table(table_name)
        result = sync_window(_params(source_url), pg, table, window, mode=mode)
        equal, src, raw = verify_window(_params(source_url), pg, table, window)
        assert equal, f"{table_name} {window}: source {src} != raw {raw}"
        return result
    finally:
        pg.close()


def _busy_month_row(url, skip=()) -> tuple[int, str]:
    """A procedure of a month holding several procedures (not one of ``skip``), and that month."""
    rows = source_sql(url, "SELECT DATE_FORMAT(ProcDate, '%Y-%m') m, MIN(ProcNum) FROM procedurelog "
                           "WHERE ProcDate >= '2021-01-01' AND ProcDate < '2025-06-01' GROUP BY m HAVING COUNT(*) > 3 "
                           "ORDER BY m")
    for month, key in rows:
        if month not in skip:
            return int(key), month
    raise AssertionError("no busy month")


def _empty_month(url, pg_url, month: str) -> None:
    """Make ``month`` empty in the source and in raw (deleted at the source, then synced)."""
    if month == _keys()[0]:
        source_sql(url, "DELETE FROM procedurelog WHERE ProcDate < '2020-02-01'")
    else:
        start = dt.date.fromisoformat(month + "-01")
        end = (start + dt.timedelta(days=32)).replace(day=1)
        source_sql(url, f"DELETE FROM procedurelog WHERE ProcDate >= '{start}' AND ProcDate < '{end}'")
    _sync(url, pg_url, PROCEDURES, _window(month))
    pg = pg_conn(pg_url)
    with pg.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM raw.procedurelog WHERE {_window(month).sql_predicate(quote_pg('ProcDate'))}")
        assert cur.fetchone()[0] == 0
    pg.close()


# ----------------------------------------------------------------------------- rows re-dated (defect 1)

@pytest.mark.parametrize("case", ["earlier_empty_month", "zero_date_first_month", "later_empty_range", "full_refresh"])
def test_redated_row_into_a_month(env, case):
    """A row re-dated into another month, that month synced before the row's old month (runs may go in
    any order): no UniqueViolation, no duplicate, raw ends equal to the source."""
    source_url, pg_url = env
    _sync(source_url, pg_url, PROCEDURES, None)  # the first sync: everything
    key, old_month = _busy_month_row(source_url, skip=("2021-03",))
    if case == "earlier_empty_month":
        _empty_month(source_url, pg_url, "2021-03")
        source_sql(source_url, f"UPDATE procedurelog SET ProcDate = '2021-03-15' WHERE ProcNum = {key}")
        target = _window("2021-03")
        mode = "auto"
    elif case == "zero_date_first_month":
        _empty_month(source_url, pg_url, _keys()[0])
        source_sql(source_url, f"UPDATE procedurelog SET ProcDate = '0000-00-00' WHERE ProcNum = {key}")
        target = _window(_keys()[0])
        mode = "auto"
    elif case == "later_empty_range":
        source_sql(source_url, "DELETE FROM procedurelog WHERE ProcDate >= '2025-08-01' AND ProcDate < '2025-11-01'")
        _sync(source_url, pg_url, PROCEDURES, _window("2025-08", "2025-10"))
        source_sql(source_url, f"UPDATE procedurelog SET ProcDate = '2025-09-09' WHERE ProcNum = {key}")
        target = _window("2025-08", "2025-10")  # a range run of three empty months
        mode = "auto"
    else:  # a month that has rows, re-copied whole (the full_refresh config)
        other_key, other_month = _busy_month_row(source_url, skip=(old_month,))
        source_sql(source_url, f"UPDATE procedurelog SET ProcDate = '{other_month}-11' WHERE ProcNum = {key}")
        target = _window(other_month)
        mode = "full"
    result = _sync(source_url, pg_url, PROCEDURES, target, mode=mode)  # the new month first
    assert result.rows_deleted >= 1  # the row's old copy was removed
    _sync(source_url, pg_url, PROCEDURES, _window(old_month))  # then the old month: nothing left to do
    assert_raw_equals_source(source_url, pg_url, [raw_table(PROCEDURES)])


def test_redated_rows_through_dental_sync(env):
    """`dental sync` after rows re-dated into an empty earlier month, a zero date and a later month, then
    `dental sync --full-refresh` after one more: every run succeeds and raw equals the source."""
    from dental_assets.defs.raw.sync_command import run_sync

    source_url, pg_url = env
    instance = ephemeral_instance()
    # the first month (which also holds zero dates) and the months after August 2025 without procedures
    source_sql(source_url, "DELETE FROM procedurelog WHERE ProcDate < '2020-02-01' OR ProcDate >= '2025-09-01'")
    assert run_sync(instance=instance).ok  # the first sync: a range over every month
    # one "planned" event per asset of a run, not one per asset and month (thousands of writes)
    for run in instance.get_runs():
        planned = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
        keys = [e.dagster_event.asset_key for e in planned]
        assert len(keys) == len(set(keys)), run.run_id
    months = instance.get_materialized_partitions(dg.AssetKey(["opendental", PROCEDURES]))
    assert {"2020-01", "2025-12"} <= months  # every month recorded, those without rows too
    keys = sorted(k for (k,) in source_sql(source_url, "SELECT ProcNum FROM procedurelog "
                                                       "WHERE ProcDate >= '2023-01-01' AND ProcDate < '2025-01-01' "
                                                       "ORDER BY ProcNum"))
    source_sql(source_url,
               f"UPDATE procedurelog SET ProcDate = '0000-00-00' WHERE ProcNum = {keys[0]}",
               f"UPDATE procedurelog SET ProcDate = '2019-12-31' WHERE ProcNum = {keys[1]}",
               f"UPDATE procedurelog SET ProcDate = '2025-10-02' WHERE ProcNum = {keys[2]}")
    report = run_sync(instance=instance)
    assert report.ok, (report.failed_runs, report.failed_checks)
    assert_raw_equals_source(source_url, pg_url, [raw_table(PROCEDURES)])
    source_sql(source_url, f"UPDATE procedurelog SET ProcDate = '2020-01-05' WHERE ProcNum = {keys[3]}")
    report = run_sync(instance=instance, full_refresh=True)
    assert report.ok, (report.failed_runs, report.failed_checks)
    assert_raw_equals_source(source_url, pg_url, raw_tables())


# ------------------------------------------------------------------------------ late commit (defect 2)

def test_transaction_committing_after_the_sync_is_copied(env):
    """A transaction stamps DateTStamp, a sync runs (and copies a later edit), then the transaction
    commits: the next sync copies its row (look-back)."""
    source_url, pg_url = env
    _sync(source_url, pg_url, PROCEDURES, None)
    (late_key, other_key), = [tuple(k for (k,) in source_sql(source_url, "SELECT ProcNum FROM procedurelog "
                                                                         "ORDER BY ProcNum LIMIT 2"))]
    late = mysql_conn(source_url)  # a second session, its transaction left open
    late.autocommit(False)
    try:
        with late.cursor() as cur:
            cur.execute("START TRANSACTION")
            cur.execute(f"UPDATE procedurelog SET ProcFee = ProcFee + 7, Surf = 'LATE' WHERE ProcNum = {late_key}")
        time.sleep(1.2)  # DateTStamp has one-second steps: the other edit is stamped later
        source_sql(source_url, f"UPDATE procedurelog SET ProcFee = ProcFee + 1 WHERE ProcNum = {other_key}")
        result = _sync(source_url, pg_url, PROCEDURES, None, mode="incremental")  # sees the other edit only
        assert result.rows_copied >= 1
        late.commit()
    finally:
        late.close()
    from dental_assets.replication.sync import sync_window, verify_window

    pg = pg_conn(pg_url)
    table = raw_table(PROCEDURES)
    sync_window(_params(source_url), pg, table, None, mode="incremental")
    equal, src, raw = verify_window(_params(source_url), pg, table, None)
    pg.close()
    assert equal, (src, raw)
    assert_raw_equals_source(source_url, pg_url, [table])


def test_rows_read_again_unchanged_are_left_in_place(env):
    """The look-back reads the last sync's edits again: the ones raw holds unchanged keep their row
    versions in raw (not deleted and inserted again), and one edited since without its timestamp is
    replaced; raw equals the source."""
    from dental_assets.replication.sync import sync_window, verify_window

    source_url, pg_url = env
    _sync(source_url, pg_url, PROCEDURES, None)
    keys = [k for (k,) in source_sql(source_url, "SELECT ProcNum FROM procedurelog ORDER BY ProcNum LIMIT 3")]
    listed = ", ".join(str(k) for k in keys)
    source_sql(source_url, f"UPDATE procedurelog SET ProcFee = ProcFee + 1 WHERE ProcNum IN ({listed})")
    assert _sync(source_url, pg_url, PROCEDURES, None, mode="incremental").rows_copied >= 3
    pg = pg_conn(pg_url)

    def versions() -> dict[int, str]:  # each row's physical version in raw
        with pg.cursor() as cur:
            cur.execute(f'SELECT "ProcNum", ctid::text FROM raw.procedurelog WHERE "ProcNum" IN ({listed})')
            versions = dict(cur.fetchall())
        pg.commit()
        return versions

    before = versions()
    source_sql(source_url, "UPDATE procedurelog SET ProcFee = ProcFee + 5, DateTStamp = DateTStamp "
                           f"WHERE ProcNum = {keys[0]}")
    table = raw_table(PROCEDURES)
    result = sync_window(_params(source_url), pg, table, None, mode="incremental")
    after = versions()
    equal, src, raw = verify_window(_params(source_url), pg, table, None)
    pg.close()
    # read again: 3; replaced: the edited one; nothing deleted at the source
    assert (result.rows_copied, result.rows_deleted, result.rows_gone) == (3, 1, 0)
    assert after[keys[0]] != before[keys[0]]
    assert [after[k] for k in keys[1:]] == [before[k] for k in keys[1:]]
    assert equal, (src, raw)
    assert_raw_equals_source(source_url, pg_url, [table])


def test_lookback_setting_is_checked(monkeypatch):
    from dental_assets.errors import ConfigurationError
    from dental_assets.replication.sync import DEFAULT_LOOKBACK_SECONDS, lookback_seconds

    monkeypatch.delenv("DENTAL_SYNC_LOOKBACK_SECONDS", raising=False)
    assert lookback_seconds() == DEFAULT_LOOKBACK_SECONDS == 3600
    monkeypatch.setenv("DENTAL_SYNC_LOOKBACK_SECONDS", "7200")
    assert lookback_seconds() == 7200
    monkeypatch.setenv("DENTAL_SYNC_LOOKBACK_SECONDS", "an hour")
    with pytest.raises(ConfigurationError, match="DENTAL_SYNC_LOOKBACK_SECONDS"):
        lookback_seconds()


# ------------------------------------------------------------ edits that keep their timestamp (defect 3)

def _resources(source_url, pg_url):
    from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource

    return {"opendental": OpenDentalSourceResource(kind="opendental", url=source_url),
            "warehouse": WarehouseResource(url=pg_url)}


def _run(request, resources, instance):
    run = run_raw_request(request, resources, instance)
    assert run.success
    checks = run.get_asset_check_evaluations()
    assert checks and all(e.passed for e in checks)
    return run


def test_edits_keeping_their_timestamp_are_found_and_repaired(env, monkeypatch):
    """ProcFee (a double) changed by a cent and a name's letter changed, both without their
    timestamp: the check fails, the sensor sees nothing, the nightly backstop requests exactly those
    windows (re-copied whole) and they end equal. Then a silent edit beside a normal one in the same
    month: the sensor's incremental run re-copies the window whole and its check passes."""
    from dental_assets.defs.raw.sensors import raw_change_sensor, raw_sync_backstop
    from dental_assets.replication.sync import sync_window, verify_window

    source_url, pg_url = env
    pg = pg_conn(pg_url)
    for table in raw_tables():
        sync_window(_params(source_url), pg, table, None)
    key, month = _busy_month_row(source_url)
    (pat,), = source_sql(source_url, "SELECT MIN(PatNum) FROM patient WHERE LName <> ''")
    source_sql(source_url,
               f"UPDATE procedurelog SET ProcFee = ProcFee + 0.01, DateTStamp = DateTStamp WHERE ProcNum = {key}",
               f"UPDATE patient SET LName = CONCAT(IF(LEFT(LName, 1) = 'Q', 'R', 'Q'), SUBSTRING(LName, 2)), "
               f"DateTStamp = DateTStamp WHERE PatNum = {pat}")
    for name, window in ((PROCEDURES, _window(month)), ("patient", None)):
        equal, src, raw = verify_window(_params(source_url), pg, raw_table(name), window)
        assert not equal and src[0] == raw[0], name  # the check sees it: same rows, other content
    pg.close()

    resources, instance = _resources(source_url, pg_url), ephemeral_instance()
    assert isinstance(raw_change_sensor(dg.build_sensor_context(instance=instance, resources=resources)),
                      dg.SkipReason)  # the cheap fingerprints cannot see it
    with dg.build_schedule_context(instance=instance, resources=resources) as context:
        requests = raw_sync_backstop(context)
    assert isinstance(requests, list)
    wanted = {(None, "patient"), (month, PROCEDURES)}
    assert {(r.partition_key, k.path[-1]) for r in requests for k in r.asset_selection} == wanted
    assert all(r.tags.get("dental/full_refresh") == "true" for r in requests)
    for request in requests:
        _run(request, resources, instance)
    assert_raw_equals_source(source_url, pg_url, [raw_table(PROCEDURES), raw_table("patient")])

    # a silent edit beside a normal one: the sensor requests the month, the incremental read misses the
    # silent one, and the window is re-copied whole before the check. With every row hashed by the check
    # (DENTAL_SYNC_CHECK_SAMPLE=1); under the default sample the check sees it only when the row is
    # sampled (test_check_hashes_the_re_read_rows_and_a_sample), and the backstop above otherwise
    monkeypatch.setenv("DENTAL_SYNC_CHECK_SAMPLE", "1")
    in_month = f"DATE_FORMAT(ProcDate, '%Y-%m') = '{month}'"
    (other, spread), = source_sql(source_url, f"SELECT MAX(ProcNum), TIMESTAMPDIFF(SECOND, MIN(DateTStamp), "
                                              f"MAX(DateTStamp)) FROM procedurelog WHERE {in_month}")
    (oldest,), = source_sql(source_url,
                            f"SELECT ProcNum FROM procedurelog WHERE {in_month} ORDER BY DateTStamp LIMIT 1")
    assert spread > 2 * 3600 and oldest != other  # the silent edit is older than watermark - look-back
    source_sql(source_url,
               f"UPDATE procedurelog SET ProcFee = ProcFee + 0.5, DateTStamp = DateTStamp WHERE ProcNum = {oldest}",
               f"UPDATE procedurelog SET CodeNum = CodeNum + 1 WHERE ProcNum = {other}")
    instance = ephemeral_instance()  # no recorded months: the sensor requests the changed one only
    requests = raw_change_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert [r.partition_key for r in requests] == [month]
    run = _run(requests[0], resources, instance)
    (check,) = run.get_asset_check_evaluations()
    assert check.metadata["recopied_whole"].value is True and check.metadata["synced_again"].value == 1
    assert_raw_equals_source(source_url, pg_url, [raw_table(PROCEDURES)])


def test_table_without_modified_column_moves_only_added_and_removed_rows(env):
    """securitylog has no modified column (OpenDental never stamps its rows again): after the first
    copy a sync moves only the keys the source added or removed (key buckets), not the whole window,
    and leaves raw equal to the source row for row. A value edited in place is not seen by that sync
    (nor by the plan's fingerprints): the nightly backstop's content comparison names its month."""
    from dental_assets.replication.plan import plan_content
    from dental_assets.replication.sync import sync_window

    source_url, pg_url = env
    first = _sync(source_url, pg_url, "securitylog", None)
    assert first.mode == "full" and first.rows_copied > 100
    (top,), = source_sql(source_url, "SELECT MAX(SecurityLogNum) FROM securitylog")
    source_sql(source_url,
               "INSERT INTO securitylog (SecurityLogNum, PermType, UserNum, LogDateTime, LogText, PatNum, CompName) "
               f"SELECT SecurityLogNum + {top}, PermType, UserNum, LogDateTime, 'added', PatNum, CompName "
               "FROM securitylog ORDER BY SecurityLogNum LIMIT 3",
               "DELETE FROM securitylog WHERE SecurityLogNum IN (2, 5)")
    second = _sync(source_url, pg_url, "securitylog", None)  # its check hashes every row: all equal
    assert (second.mode, second.keys_only, second.rows_copied, second.rows_deleted, second.rows_gone) == (
        "incremental", True, 3, 2, 2)
    assert second.rows_total == first.rows_total + 1

    (key, stamp), = source_sql(source_url, "SELECT SecurityLogNum, LogDateTime FROM securitylog "
                                           "ORDER BY SecurityLogNum DESC LIMIT 1 OFFSET 10")
    source_sql(source_url, f"UPDATE securitylog SET LogText = 'edited in place' WHERE SecurityLogNum = {key}")
    pg = pg_conn(pg_url)
    try:
        third = sync_window(_params(source_url), pg, raw_table("securitylog"), None)
        assert (third.mode, third.rows_copied, third.rows_deleted) == ("incremental", 0, 0)
        plans = plan_content(_params(source_url), pg, [raw_table("securitylog")], _keys())
    finally:
        pg.close()
    assert plans[0].partitions == (stamp.strftime("%Y-%m"),)


def test_check_scope_is_pure():
    from dental_assets.replication.fingerprint import EVERY_ROW
    from dental_assets.replication.sync import SyncResult, check_scope

    since = dt.datetime(2025, 6, 1, 12)
    incremental = SyncResult(PROCEDURES, "incremental", changed_since=since)
    assert check_scope(incremental, 1) is EVERY_ROW
    assert check_scope(SyncResult(PROCEDURES, "incremental"), 32) is EVERY_ROW  # it re-read everything
    keys_only = check_scope(SyncResult("securitylog", "incremental", keys_only=True), 32, residue=3)
    assert (keys_only.since, keys_only.sample, keys_only.residue) == (None, 32, 3)  # it moved keys only
    scope = check_scope(incremental, 32, residue=37)
    assert (scope.since, scope.sample, scope.residue, scope.everything) == (since, 32, 5, False)
    copied = SyncResult(PROCEDURES, "full")
    full = check_scope(copied, 32)
    assert full.since is None and 0 <= full.residue < 32
    with pytest.raises(ValueError):
        check_scope(copied, 0)
    # the sample: every 32nd block of keys; the blocks of all residues tile the key span exactly once
    for lo, hi in ((1, 3000), (1, 5_000_000), (-70, 70), (7, 7)):
        tiles = [r for residue in range(32) for r in check_scope(copied, 32, residue).key_ranges(lo, hi)]
        keys = sorted(k for a, b in tiles for k in range(max(a, lo), min(b, hi) + 1)) if hi - lo < 10_000 else None
        assert keys is None or keys == list(range(lo, hi + 1))
        assert len(check_scope(copied, 32, 0).key_ranges(lo, hi)) <= 257
        assert sum(min(b, hi) - max(a, lo) + 1 for a, b in tiles) == hi - lo + 1
    assert full.key_ranges(None, None) == []


def test_check_hashes_the_re_read_rows_and_a_sample(env):
    """After an incremental sync the check hashes the rows it re-read (modified since the watermark minus
    the look-back) on both sides, and the rows of one key residue: a value edited without its timestamp
    is seen when its row is sampled, and left to the backstop when not; a re-read row edited in raw
    fails whatever the sample; a missing row fails on the key count."""
    from dental_assets.replication.sync import check_scope, sync_window, verify_window

    source_url, pg_url = env
    table = raw_table(PROCEDURES)
    pg = pg_conn(pg_url)
    sync_window(_params(source_url), pg, table, None)
    (silent, normal), = source_sql(source_url, "SELECT MIN(ProcNum), MAX(ProcNum) FROM procedurelog")
    source_sql(source_url,
               f"UPDATE procedurelog SET ProcFee = ProcFee + 0.01, DateTStamp = DateTStamp WHERE ProcNum = {silent}",
               f"UPDATE procedurelog SET CodeNum = CodeNum + 1 WHERE ProcNum = {normal}")
    result = sync_window(_params(source_url), pg, table, None)
    assert result.mode == "incremental" and result.changed_since is not None

    def check(residue, sample=32):
        return verify_window(_params(source_url), pg, table, None, scope=check_scope(result, sample, residue))

    (lo, hi), = source_sql(source_url, "SELECT MIN(ProcNum), MAX(ProcNum) FROM procedurelog")

    def sampled(key, residue):
        return any(a <= key <= b for a, b in check_scope(result, 32, residue).key_ranges(lo, hi))

    hit = next(r for r in range(32) if sampled(silent, r))
    miss = next(r for r in range(32) if not sampled(silent, r) and not sampled(silent + 1, r))
    equal, src, raw = check(miss)
    assert equal and 0 < src[2] < src[0] / 8  # the re-read rows and about 1 in 32 of the rest
    assert not check(hit)[0]  # sampled: seen
    assert not check(0, sample=1)[0]  # every row: seen
    with pg.cursor() as cur:  # a re-read row wrong in raw: seen whatever the residue
        cur.execute(f'UPDATE raw.procedurelog SET "ProcFee" = "ProcFee" + 1 WHERE "ProcNum" = {normal}')
    pg.commit()
    assert not check(miss)[0]
    with pg.cursor() as cur:  # a row missing from raw: seen by the key count and sum
        cur.execute(f'UPDATE raw.procedurelog SET "ProcFee" = "ProcFee" - 1 WHERE "ProcNum" = {normal}')
        cur.execute(f'DELETE FROM raw.procedurelog WHERE "ProcNum" = {silent + 1}')
    pg.commit()
    equal, src, raw = check(miss)
    assert not equal and src[0] == raw[0] + 1
    pg.close()


def test_writes_while_a_window_is_checked_are_left_to_the_next_sync(env, monkeypatch):
    """A busy practice writes while a window is synced and checked. The source's rows stamped at or after
    its clock, read before the sync's first read (``SyncResult.source_clock``), are left out of the check
    on both sides: after a full copy and after an incremental sync (each with an edit between the clock's
    read and the sync's, and writes after the sync), with every row hashed and with the sample (raw's
    totals then from the window's record, less the rows left out), the check passes,
    where the same check without the clock fails. A value edited since without its timestamp, and a row
    stamped back before the clock, are still seen. The next sync brings every row."""
    from dental_assets.replication import sync
    from dental_assets.replication.sync import check_scope, sync_window, verify_window

    source_url, pg_url = env
    table = raw_table(PROCEDURES)
    pg = pg_conn(pg_url)
    keys = [k for (k,) in source_sql(source_url, "SELECT ProcNum FROM procedurelog ORDER BY ProcNum")]
    edited = iter(keys[::7])
    marks = sync._source_marks
    for mode in ("full", "incremental"):
        source_sql(source_url, f"UPDATE procedurelog SET ProcFee = ProcFee + 1 WHERE ProcNum = {next(edited)}")
        between = f"UPDATE procedurelog SET ProcFee = ProcFee + 3 WHERE ProcNum = {next(edited)}"
        # (one edit between the clock's read and the sync's: raw has it, stamped after the clock)
        monkeypatch.setattr(sync, "_source_marks", lambda *a: (marks(*a), source_sql(source_url, between))[0])
        result = sync_window(_params(source_url), pg, table, None, mode=mode)
        monkeypatch.setattr(sync, "_source_marks", marks)
        assert result.mode == mode and result.source_clock is not None
        # while it is checked: an edit (stamped now), an insert, and an edit of a row the sync re-read
        source_sql(source_url, f"UPDATE procedurelog SET ProcFee = ProcFee + 2 WHERE ProcNum = {next(edited)}",
                   "INSERT INTO procedurelog (PatNum, ProcDate, ProcFee) VALUES (1, '2025-06-01', 12.5)",
                   f"UPDATE procedurelog SET Surf = 'B' WHERE ProcNum = {keys[0] if mode == 'full' else keys[::7][-2]}")
        for sample in (1, 32):
            scope = check_scope(result, sample, residue=0)

            def check(clock):
                return verify_window(_params(source_url), pg, table, None, scope=scope,
                                     reread_keys=result.reread_keys, clock=clock)

            equal, src, raw = check(result.source_clock)
            assert equal and src[0] == raw[0] < len(keys) + 2, (mode, sample, src, raw)
            assert not check(None)[0], (mode, sample)  # the same check, the writes compared
    silent, earlier = keys[3], keys[5]

    def every_row() -> bool:
        return verify_window(_params(source_url), pg, table, None, clock=result.source_clock)[0]

    source_sql(source_url, "UPDATE procedurelog SET CodeNum = CodeNum + 1, DateTStamp = DateTStamp "
                           f"WHERE ProcNum = {silent}")
    assert not every_row()
    source_sql(source_url, "UPDATE procedurelog SET CodeNum = CodeNum - 1, DateTStamp = DateTStamp "
                           f"WHERE ProcNum = {silent}")
    assert every_row()  # (as the sync left it)
    source_sql(source_url, f"UPDATE procedurelog SET DateTStamp = '2020-01-01 00:00:00' WHERE ProcNum = {earlier}")
    assert not every_row()
    after = sync_window(_params(source_url), pg, table, None, mode="full")
    assert verify_window(_params(source_url), pg, table, None, clock=after.source_clock)[0]
    pg.close()
    assert_raw_equals_source(source_url, pg_url, [table])


def test_each_part_of_the_check_lists_the_rows_it_leaves_out_in_its_own_snapshot(env, monkeypatch):
    """The source's side of the check lists the keys stamped at or after the clock in the same snapshot as
    the totals (or hashed rows) it leaves them out of, and raw leaves out each part's own list: an edit that
    commits after a part's snapshot began is invisible to that part's list and totals alike (every row
    hashed: the edit commits between the list and the totals), and with the sample's two snapshots an edit
    committed between them is in the second part's list only, raw's totals and its hashed rows each leaving
    out their own part's list (the row edited is one the sample hashes: with fewer than 8,192 keys its blocks
    are single keys, every 32nd from ``residue`` 0, ``fingerprint.CheckScope.key_ranges``). The check passes
    either way."""
    import threading

    from dental_assets.replication import fingerprint
    from dental_assets.replication.sync import check_scope, sync_window, verify_window

    source_url, pg_url = env
    table = raw_table(PROCEDURES)
    keys = [k for (k,) in source_sql(source_url, "SELECT ProcNum FROM procedurelog ORDER BY ProcNum")]
    pg = pg_conn(pg_url)
    try:
        result = sync_window(_params(source_url), pg, table, None, mode="full")

        def edit(key: int) -> None:  # stamped now: at or after the sync's clock
            source_sql(source_url, f"UPDATE procedurelog SET ProcFee = ProcFee + 1 WHERE ProcNum = {key}")

        real_run = fingerprint.run_queries
        edited = []

        def edit_then_run(cur, queries):
            if not edited:
                edited.append(keys[10])
                edit(keys[10])  # after this session's snapshot and its list of later keys
            return real_run(cur, queries)

        with monkeypatch.context() as patch:
            patch.setattr(fingerprint, "run_queries", edit_then_run)
            equal, src, raw = verify_window(_params(source_url), pg, table, None, clock=result.source_clock)
        assert edited and equal and src[0] == raw[0] == len(keys), (src, raw)  # the edit unseen: every row

        assert keys[-1] - keys[0] < 32 * 256
        sampled = next(k for k in keys if k % 32 == 0 and k != keys[10])
        first_started, lock, calls = threading.Event(), threading.Lock(), []
        real_start = fingerprint.snapshot_start

        def staggered_start(conn):
            with lock:
                calls.append(conn)
                second = len(calls) == 2
            if second:  # the second part's snapshot: after the first's began and an edit committed
                assert first_started.wait(30)
                edit(sampled)
            real_start(conn)
            if not second:
                first_started.set()

        scope = check_scope(result, 32, residue=0)
        with monkeypatch.context() as patch:
            patch.setattr(fingerprint, "snapshot_start", staggered_start)
            equal, src, raw = verify_window(_params(source_url), pg, table, None, scope=scope,
                                            reread_keys=result.reread_keys, clock=result.source_clock)
        assert len(calls) == 2 and equal, (src, raw)
    finally:
        pg.close()


def test_the_checks_marks_are_the_sources_clock_or_largest_key_when_the_sync_begins(env):
    """``SyncResult.source_clock``/``source_key_max`` as ``sync._source_marks`` reads them before a sync's
    first read: the source's clock now (UTC wall time as DateTStamp holds it, whole seconds) for a table
    with a modified column, no key; the largest key, no clock, for securitylog (no modified column). An
    earlier clock or a smaller key would leave rows the sync read out of its check."""
    from dental_assets.replication import sync

    source_url, _ = env
    params = _params(source_url)
    procedures, logs = raw_table(PROCEDURES), raw_table("securitylog")
    [(before,)] = source_sql(source_url, "SELECT UTC_TIMESTAMP()")
    clock, key_max = sync._source_marks(params, procedures, sync.source_columns(params, procedures))
    [(after,)] = source_sql(source_url, "SELECT UTC_TIMESTAMP()")
    assert before <= clock <= after and key_max is None, (before, clock, after)
    [(smallest, largest)] = source_sql(source_url, "SELECT MIN(SecurityLogNum), MAX(SecurityLogNum) FROM securitylog")
    assert smallest < largest
    assert sync._source_marks(params, logs, sync.source_columns(params, logs)) == (None, largest)


def test_a_row_of_another_month_stamped_after_the_clock_leaves_a_windows_check_alone(env):
    """A sampled check of one month takes raw's totals from the window's record less raw's rows the source
    listed as stamped after the clock, in that window only: an edit after the sync to a procedure of another
    month (listed: the list spans the table) takes nothing from May's totals, and May's check passes with
    every May procedure counted on both sides."""
    from dental_assets.replication.sync import check_scope, sync_window, verify_window

    source_url, pg_url = env
    table = raw_table(PROCEDURES)
    [(in_may,)] = source_sql(source_url, "SELECT COUNT(*) FROM procedurelog WHERE ProcDate >= '2024-05-01' "
                                         "AND ProcDate < '2024-06-01'")
    [(july,)] = source_sql(source_url, "SELECT MIN(ProcNum) FROM procedurelog WHERE ProcDate >= '2024-07-01' "
                                       "AND ProcDate < '2024-08-01'")
    assert in_may > 0 and july is not None
    pg = pg_conn(pg_url)
    try:
        sync_window(_params(source_url), pg, table, None, mode="full")
        may = _window("2024-05")
        result = sync_window(_params(source_url), pg, table, may)
        source_sql(source_url, f"UPDATE procedurelog SET ProcFee = ProcFee + 1 WHERE ProcNum = {july}")
        equal, src, raw = verify_window(_params(source_url), pg, table, may, scope=check_scope(result, 32, residue=0),
                                        reread_keys=result.reread_keys, clock=result.source_clock)
        assert equal and src[0] == raw[0] == in_may, (src, raw)
    finally:
        pg.close()


def test_a_check_whose_source_read_is_lost_once_is_tried_again_and_passes(env, monkeypatch):
    """A source connection lost during the check's reads (after its list of later keys) is read again on a
    new session (``with_retries``) and the check completes: raw kept the first try's list, the second try's
    is not given again (its future is already set)."""
    import pymysql

    from dental_assets.replication import fingerprint, mysql
    from dental_assets.replication.sync import sync_window, verify_window

    source_url, pg_url = env
    table = raw_table(PROCEDURES)
    pg = pg_conn(pg_url)
    try:
        result = sync_window(_params(source_url), pg, table, None, mode="full")
        real_run, lost = fingerprint.run_queries, []

        def lost_once(cur, queries):
            if isinstance(cur, pymysql.cursors.Cursor) and not lost:
                lost.append(cur)
                raise pymysql.err.OperationalError(2013, "Lost connection to server during query")
            return real_run(cur, queries)

        monkeypatch.setattr(mysql.time, "sleep", lambda seconds: None)
        monkeypatch.setattr(fingerprint, "run_queries", lost_once)
        equal, src, raw = verify_window(_params(source_url), pg, table, None, clock=result.source_clock)
        assert lost and equal, (src, raw)
    finally:
        pg.close()


def test_rows_added_while_a_table_without_modified_column_is_checked_are_left_out(env, monkeypatch):
    """securitylog has no modified column and its keys only grow: the rows keyed above the source's
    largest key read before the sync (``SyncResult.source_key_max``) are left out of the check on both
    sides. One added between that read and the sync's (raw has it), one after the sync (raw has not):
    the check passes, every row hashed and sampled (raw's totals from the record, less its rows above
    the bound), where the same check without the bound fails. The next sync brings them."""
    from dental_assets.replication import sync

    source_url, pg_url = env
    table = raw_table("securitylog")
    insert = "INSERT INTO securitylog (PermType, UserNum, LogDateTime, PatNum) VALUES (1, 1, NOW(), 1)"
    pg = pg_conn(pg_url)
    sync.sync_window(_params(source_url), pg, table, None)
    marks = sync._source_marks
    monkeypatch.setattr(sync, "_source_marks", lambda *a: (marks(*a), source_sql(source_url, insert))[0])
    result = sync.sync_window(_params(source_url), pg, table, None)
    monkeypatch.setattr(sync, "_source_marks", marks)
    assert result.mode == "incremental" and result.rows_copied == 1 and result.source_key_max is not None
    source_sql(source_url, insert)
    for sample in (1, 32):
        scope = sync.check_scope(result, sample, residue=0)

        def check(key_max):
            return sync.verify_window(_params(source_url), pg, table, None, scope=scope,
                                      reread_keys=result.reread_keys, key_max=key_max)

        equal, src, raw = check(result.source_key_max)
        assert equal, (sample, src, raw)
        assert not check(None)[0], sample
    sync.sync_window(_params(source_url), pg, table, None)
    assert sync.verify_window(_params(source_url), pg, table, None)[0]
    pg.close()
    assert_raw_equals_source(source_url, pg_url, [table])


def test_a_row_deleted_while_the_window_is_checked_is_synced_again(env, monkeypatch):
    """A row deleted from the source after the sync read it, before the check: raw has a row the source
    no longer has, and the check fails. The incremental sync that follows (``replicate.REPAIRS``) removes
    it and its check passes: no whole copy."""
    from dental_assets.replication import replicate

    source_url, pg_url = env
    _sync(source_url, pg_url, PROCEDURES, None)
    first, gone = [k for (k,) in source_sql(source_url, "SELECT ProcNum FROM procedurelog ORDER BY ProcNum LIMIT 2")]
    source_sql(source_url, f"UPDATE procedurelog SET ProcFee = ProcFee + 1 WHERE ProcNum = {first}")
    real, checks = replicate.verify_window, []

    def deleting_first(*args, **kwargs):
        if not checks:  # the first check: the row goes first
            source_sql(source_url, f"DELETE FROM procedurelog WHERE ProcNum = {gone}")
        checks.append(real(*args, **kwargs))
        return checks[-1]

    monkeypatch.setattr(replicate, "verify_window", deleting_first)
    pg = pg_conn(pg_url)
    try:
        done = replicate.replicate_table(_params(source_url), pg, raw_table(PROCEDURES), None, "auto", True, 32)
    finally:
        pg.close()
    equal, src, raw, _, synced_again, recopied, _ = done.check
    assert done.result.mode == "incremental" and [c[0] for c in checks] == [False, True]
    assert equal and (synced_again, recopied) == (1, False) and src[0] == raw[0]
    assert_raw_equals_source(source_url, pg_url, [raw_table(PROCEDURES)])


def test_check_compares_doubles_exactly(env):
    """A double changed in its 17th significant digit fails the check."""
    from dental_assets.replication.sync import sync_window, verify_window

    source_url, pg_url = env
    table = raw_table(PROCEDURES)
    pg = pg_conn(pg_url)
    source_sql(source_url, "UPDATE procedurelog SET ProcFee = 0.1e0 + 0.2e0 WHERE ProcNum = 1")
    sync_window(_params(source_url), pg, table, None)
    assert verify_window(_params(source_url), pg, table, None)[0]
    source_sql(source_url, "UPDATE procedurelog SET ProcFee = 0.3e0, DateTStamp = DateTStamp "
                           "WHERE ProcNum = 1")  # 0.30000000000000004 -> 0.3, and nothing else
    equal, src, raw = verify_window(_params(source_url), pg, table, None)
    pg.close()
    assert not equal and src[0] == raw[0]


# ---------------------------------------------------------------------------- the snapshot (defect 4)

READ_COMMITTED = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"


def _insert(url) -> None:
    source_sql(url, "INSERT INTO procedurelog (PatNum, ProcDate, ProcFee) VALUES (1, '2024-01-02', 5)")


def _count(url) -> int:
    ((count,),) = source_sql(url, "SELECT COUNT(*) FROM procedurelog")
    return count


def _wait_until_held(url, lock: str) -> None:
    """Return once some session holds the user lock ``lock`` (a marker another session takes at a point
    of its script); fails after a minute."""
    conn = mysql_conn(url)
    try:
        with conn.cursor() as cur:
            for _ in range(6000):
                cur.execute("SELECT IS_USED_LOCK(%s) IS NOT NULL", (lock,))
                if cur.fetchone()[0]:
                    return
                time.sleep(0.01)  # a poll interval: what is waited for is the marker
    finally:
        conn.close()
    raise AssertionError(f"no session took the lock {lock}")


def test_snapshot_holds_under_a_read_committed_default(env, monkeypatch):
    """Sessions whose default isolation is READ COMMITTED (set at connection, as a server default
    would): a count taken twice in one sync session, with a row committed in between, is the same."""
    from dental_assets.replication import extract, fingerprint, mysql

    source_url, _ = env
    params = _params(source_url)
    # the bulk client: every session starts in READ COMMITTED, as under such a server default
    real_command = mysql.client_command

    def read_committed_command(p, raw=True, option_file="/dev/null"):
        argv, environ = real_command(p, raw, option_file)
        assert argv[1].startswith("--defaults-file=")  # which must come first
        return [*argv[:2], f"--init-command={READ_COMMITTED}", *argv[2:]], environ

    monkeypatch.setattr(mysql, "client_command", read_committed_command)
    plain = mysql.start_client(params, "SELECT @@SESSION.tx_isolation;\n")  # no session preamble
    isolation = plain.stdout.read()
    assert mysql.client_error(plain) is None
    assert isolation.split() == [b"READ-COMMITTED"]  # the simulation works: a plain session is READ COMMITTED
    assert extract.query_text(params, "SELECT @@SESSION.tx_isolation").split() == [b"REPEATABLE-READ"]
    # the reader counts, takes `read` (a marker: its first count is done), waits for `go`, counts again;
    # the row is committed between the two, and `go` released only then
    read, go = (f"dental_test_{name}_{uuid.uuid4().hex}" for name in ("read", "go"))
    gate = mysql_conn(source_url)
    with gate.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, 0)", (go,))
        assert cur.fetchone()[0] == 1
    with extract.SourceQuery(params, "SELECT COUNT(*) FROM procedurelog", f"SELECT GET_LOCK('{read}', 60)",
                             f"SELECT GET_LOCK('{go}', 60)", "SELECT COUNT(*) FROM procedurelog") as reader:
        _wait_until_held(source_url, read)
        _insert(source_url)
        outside = _count(source_url)
        with gate.cursor() as cur:
            cur.execute("SELECT RELEASE_LOCK(%s)", (go,))
        gate.close()
        before, got_read, got_go, after = (int(v) for v in reader.result().split())
    assert (got_read, got_go) == (1, 1)  # the reader waited for `go`, not for its timeout
    assert outside == before + 1 and after == before  # committed before the second count, unseen by it

    # the PyMySQL sessions (fingerprints, the check): the same, through the class ``mysql.connect`` uses
    class ReadCommittedConnection(mysql.Connection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, init_command=READ_COMMITTED, **kwargs)

    monkeypatch.setattr(mysql, "Connection", ReadCommittedConnection)
    probe = ReadCommittedConnection(**{k: getattr(params, k) for k in ("host", "port", "user", "password",
                                                                       "database")})
    with probe.cursor() as cur:  # the simulation works: a plain session is READ COMMITTED
        cur.execute("SELECT @@SESSION.tx_isolation")
        assert cur.fetchone()[0] == "READ-COMMITTED"
    probe.close()
    conn = mysql.connect(params)
    assert type(conn) is ReadCommittedConnection  # the session under test started READ COMMITTED
    fingerprint.snapshot_start(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM procedurelog")
        (before,) = cur.fetchone()
        _insert(source_url)
        outside = _count(source_url)
        cur.execute("SELECT COUNT(*) FROM procedurelog")
        (after,) = cur.fetchone()
    conn.close()
    assert outside == before + 1 and after == before


# -------------------------------------------------------- a table or column missing from the source

@pytest.mark.parametrize("change, named", [
    ("DROP TABLE definition", "definition"),
    ("ALTER TABLE procedurelog DROP COLUMN ProcDate", "ProcDate"),
])
def test_missing_table_or_column_is_a_configuration_error(env, capsys, change, named):
    from dental_assets import cli

    source_url, _ = env
    source_sql(source_url, change)
    assert cli.main(["sync"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and named in err and "Traceback" not in err, err
    assert "OPENDENTAL_URL" in err


# ------------------------------------------------------------------------------ MyISAM tables

def _engines(url) -> set[str]:
    return {e for (e,) in source_sql(url, "SELECT DISTINCT ENGINE FROM information_schema.TABLES "
                                          "WHERE TABLE_SCHEMA = DATABASE()")}


def test_a_myisam_source_is_replicated_exactly(env, monkeypatch, capsys):
    """Many practices' OpenDental tables are MyISAM: no transactions, so no snapshot, and a table's
    update time from its file (what lets a plan skip a table verified equal). The first `dental sync`;
    a practice's changes (timestamped edits, rows re-dated into an earlier month and to a zero date,
    deletes, an insert); a sync with nothing changed; a write in the second after it: each sync
    succeeds and leaves raw equal to the source, every table."""
    from dental_assets import cli

    source_url, pg_url = env
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    tables = [name for (name,) in source_sql(source_url, "SELECT TABLE_NAME FROM information_schema.TABLES "
                                                         "WHERE TABLE_SCHEMA = DATABASE()")]
    source_sql(source_url, *[f"ALTER TABLE `{name}` ENGINE=MyISAM" for name in tables])
    assert _engines(source_url) == {"MyISAM"}
    assert cli.main(["sync"]) == 0
    assert_raw_equals_source(source_url, pg_url, raw_tables())
    keys = [k for (k,) in source_sql(source_url, "SELECT ProcNum FROM procedurelog WHERE ProcDate >= '2023-01-01' "
                                                 "ORDER BY ProcNum LIMIT 3")]
    source_sql(source_url,
               "UPDATE procedurelog SET ProcFee = ProcFee + 1 WHERE ProcNum % 7 = 0",
               f"UPDATE procedurelog SET ProcDate = '0000-00-00' WHERE ProcNum = {keys[0]}",
               f"UPDATE procedurelog SET ProcDate = '2019-12-31' WHERE ProcNum = {keys[1]}",
               "DELETE FROM procedurelog WHERE ProcNum % 11 = 0",
               "DELETE FROM claimproc WHERE ClaimProcNum % 13 = 0",
               "UPDATE patient SET Address = CONCAT(Address, ' B') WHERE PatNum % 5 = 0",
               "INSERT INTO commlog (PatNum, CommDateTime, Note) VALUES (1, NOW(), 'called back')")
    assert cli.main(["sync"]) == 0
    assert_raw_equals_source(source_url, pg_url, raw_tables())
    capsys.readouterr()
    assert cli.main(["sync"]) == 0  # nothing changed
    unchanged = capsys.readouterr().out
    source_sql(source_url, f"UPDATE procedurelog SET ProcFee = ProcFee + 2 WHERE ProcNum = {keys[2]}")
    assert cli.main(["sync"]) == 0, unchanged
    assert_raw_equals_source(source_url, pg_url, raw_tables())
    assert _engines(source_url) == {"MyISAM"}


# ------------------------------------------------------------------------------ zero modified stamps

def test_rows_with_a_zero_modified_stamp(env, monkeypatch):
    """Rows whose DateTStamp is the zero timestamp (a conversion or an import tool wrote them so; MariaDB
    keeps it outside strict mode): the first `dental sync` copies them (raw: NULL); an edit that stamps
    one moves it as any edit; a row inserted after the sync with a zero stamp, which no incremental
    read sees, is found by the check and repaired: every sync succeeds and raw equals the source."""
    from dental_assets import cli

    source_url, pg_url = env
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    keys = [k for (k,) in source_sql(source_url, "SELECT ProcNum FROM procedurelog ORDER BY ProcNum LIMIT 5")]
    source_sql(source_url, "UPDATE procedurelog SET DateTStamp = '0000-00-00 00:00:00' "
                           f"WHERE ProcNum IN ({', '.join(map(str, keys))})")
    assert source_sql(source_url, "SELECT COUNT(*) FROM procedurelog WHERE DateTStamp = 0") == [(5,)]
    assert cli.main(["sync"]) == 0
    assert_raw_equals_source(source_url, pg_url, raw_tables())
    pg = pg_conn(pg_url)
    with pg.cursor() as cur:
        cur.execute('SELECT count(*) FROM raw.procedurelog WHERE "DateTStamp" IS NULL')
        assert cur.fetchone()[0] == 5
    pg.close()
    source_sql(source_url,
               f"UPDATE procedurelog SET ProcFee = ProcFee + 1 WHERE ProcNum = {keys[0]}",  # stamped now
               "INSERT INTO procedurelog (PatNum, ProcDate, ProcFee, DateTStamp) "
               "VALUES (1, '2024-03-05', 40, '0000-00-00 00:00:00')")
    assert cli.main(["sync"]) == 0
    assert_raw_equals_source(source_url, pg_url, raw_tables())


# ------------------------------------------------------------------------------ what the source shows


def test_a_table_the_user_may_not_read_is_named_as_such(env, mariadb_server_url, capsys, monkeypatch):
    """A user granted SELECT on every table but procedurelog (information_schema then lists no such
    table): `dental sync` says the user may not read it, not that it is missing; one line, exit 2."""
    from dental_assets import cli
    from test_replication_support import select_only_user

    source_url, _ = env
    others = [t for (t,) in source_sql(source_url, "SHOW TABLES") if t != PROCEDURES]
    with select_only_user(mariadb_server_url, source_url, "nt", "nt-secret",
                          tuple(f"SELECT ON `{{database}}`.`{t}`" for t in others)) as limited:
        monkeypatch.setenv("OPENDENTAL_URL", limited)
        assert cli.main(["sync"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nt-secret" not in err, err
    assert "may not read table procedurelog (error 1142): GRANT SELECT ON" in err, err
    assert "has no table" not in err


@pytest.mark.parametrize("hidden, with_dagster", [("dropped", False), ("no_column_grant", False),
                                                   ("dropped", True)])
def test_catalog_columns_the_source_does_not_show_are_named_at_each_sync(env, mariadb_server_url, capsys,
                                                                         monkeypatch, tmp_path, hidden,
                                                                         with_dagster):
    """A catalog column the source does not show (dropped: an OpenDental older than the catalog; or
    hidden by column-level grants, as a DBA keeping a column from the sync would): `dental sync` loads
    it as NULL, as before, and now names it at each sync of its table (with Dagster runs: in the raw
    asset's metadata); the other columns equal the source."""
    import contextlib
    import dataclasses

    from dental_assets import cli
    from dental_assets.defs.raw.assets import raw_asset_key
    from test_replication_support import persistent_dagster_home, raw_rows, select_only_user

    source_url, pg_url = env
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    if with_dagster:
        home = persistent_dagster_home(monkeypatch, tmp_path)
    columns = [c.name for c in raw_table(PROCEDURES).columns]
    with contextlib.ExitStack() as stack:
        if hidden == "dropped":
            source_sql(source_url, "ALTER TABLE procedurelog DROP COLUMN DrugQty")
        else:
            others = [t for (t,) in source_sql(source_url, "SHOW TABLES") if t != PROCEDURES]
            shown = ", ".join(f"`{c}`" for c in columns if c != "DrugQty")
            limited = stack.enter_context(select_only_user(
                mariadb_server_url, source_url, "nc", "nc-secret",
                (f"SELECT ({shown}) ON `{{database}}`.`procedurelog`",
                 *(f"SELECT ON `{{database}}`.`{t}`" for t in others))))
            monkeypatch.setenv("OPENDENTAL_URL", limited)
        assert cli.main(["sync"]) == 0
    out = capsys.readouterr().out
    if with_dagster:
        instance = dg.DagsterInstance.from_config(str(home))
        event = instance.get_latest_materialization_event(raw_asset_key(PROCEDURES))
        assert event.asset_materialization.metadata["columns_missing_at_source"].value == "DrugQty"
        instance.dispose()
    else:
        assert ("raw.procedurelog: the source shows no column DrugQty: NULL in raw (an OpenDental older than "
                "the catalog's 24.3, or a user without SELECT on them)") in out, out
    raw = raw_rows(pg_url, raw_table(PROCEDURES))
    assert raw and all(row[columns.index("DrugQty")] is None for row in raw)
    table = raw_table(PROCEDURES)
    shown = dataclasses.replace(table, columns=tuple(c for c in table.columns if c.name != "DrugQty"))
    assert_raw_equals_source(source_url, pg_url, [shown])

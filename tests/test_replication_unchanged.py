"""The plan's skip of tables unchanged since verified equal (``replication.verified``), against the real
MariaDB and PostgreSQL servers: what is skipped, and every way a change must still be found."""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest

from dental_assets.catalog import raw_table
from dental_assets.instance import ephemeral_instance  # the instance of `dental sync` without DAGSTER_HOME
from dental_synthetic import SyntheticConfig, generate
from test_replication_support import (
    mysql_conn,
    pg_conn,
    quiet_source,
    select_only_user,
    source_sql,
    wait_past_records,
)

AS_OF = dt.date(2025, 6, 30)
TABLES = ("procedurelog", "patient", "definition", "adjustment")


# ----------------------------------------------------------------------------- the pure decision

def test_unchanged_tables_boundaries():
    from dental_assets.replication.verified import unchanged_tables

    theta = 1_000_000
    records = {"same_second": theta, "second_before": theta, "null": theta, "other_engine": theta}
    times = {"same_second": theta, "second_before": theta - 1, "null": None, "other_engine": None,
             "no_record": 5}
    # U == θ: a write in the verifying read's own second may be unseen by it; U = θ - 1 is before it
    assert unchanged_tables(records, times, theta + 60) == {"second_before"}
    assert unchanged_tables(records, times, None) == set()  # no threshold now (no PROCESS privilege)
    assert unchanged_tables({"t": theta}, {}, theta) == set()  # the source lacks the table
    assert unchanged_tables({"t": theta}, {"t": theta - 1}, theta - 1) == set()  # a record from the future
    assert unchanged_tables({"t": theta}, {"t": 0}, theta) == {"t"}


def test_written_tables_boundaries():
    """The tables `dental sync` syncs whole-range without reading their fingerprints: a commit 3 s or
    more after the record's threshold (the verifying read started by 2 s after it, so it cannot have
    seen that commit); one in between is compared, and a table whose state is unknown never counts."""
    from dental_assets.replication.verified import unchanged_tables, written_tables

    theta = 1_000_000
    records = {"same_second": theta, "second_before": theta, "two_after": theta, "three_after": theta,
               "later": theta, "null": theta}
    times = {"same_second": theta, "second_before": theta - 1, "two_after": theta + 2, "three_after": theta + 3,
             "later": theta + 30, "null": None, "no_record": theta + 30}
    assert written_tables(records, times, theta + 60) == {"three_after", "later"}
    # compared (neither skipped nor synced unread): the writes the verifying read may have seen
    assert set(records) - written_tables(records, times, theta + 60) - unchanged_tables(records, times, theta + 60) \
        == {"same_second", "two_after", "null"}
    assert written_tables(records, times, None) == set()  # no threshold now (no PROCESS privilege)
    assert written_tables({"t": theta}, {}, theta) == set()  # the source lacks the table
    assert written_tables({"t": theta}, {"t": theta + 5}, theta - 1) == set()  # a record from the future


# ----------------------------------------------------------------------------- against the servers

@pytest.fixture(scope="module")
def practice():
    return generate(SyntheticConfig(as_of=AS_OF, patients=60, seed=11))


@pytest.fixture
def urls(mariadb_url, pg_url, practice, write_practice):
    write_practice(practice, mariadb_url)
    return mariadb_url, pg_url


def _tables():
    return [raw_table(name) for name in TABLES]


def _params(url: str):
    from dental_assets.replication.mysql import MySqlParams

    return MySqlParams.from_url(url)


def _quiet(url: str, tables=TABLES) -> None:
    quiet_source(url, tables)


def _sync(source_url: str, pg_url: str, tables=None, mode: str = "auto") -> None:
    from dental_assets.replication.sync import sync_window

    pg = pg_conn(pg_url)
    try:
        for table in tables or _tables():
            sync_window(_params(source_url), pg, table, None, mode=mode)
    finally:
        pg.close()


def _plan(source_url: str, pg_url: str):
    """``plan_tables`` over the test's tables: {name: TablePlan}."""
    from dental_assets.partitions import monthly_partitions
    from dental_assets.replication.plan import plan_tables

    pg = pg_conn(pg_url)
    try:
        plans = plan_tables(_params(source_url), pg, _tables(), monthly_partitions.get_partition_keys())
    finally:
        pg.close()
    return {p.table.name: p for p in plans}


def _nothing_changed(source_url: str, pg_url: str):
    from dental_assets.replication.plan import nothing_changed

    pg = pg_conn(pg_url)
    try:
        return nothing_changed(_params(source_url), pg, _tables())
    finally:
        pg.close()


def _scanned(plans) -> set[str]:
    return {name for name, plan in plans.items() if plan.scanned}


def _verified(source_url: str, pg_url: str) -> dict:
    """Sync, wait for a quiet source, verify with a plan (every table read: the sync dropped any
    record), check that the next plan skips every table; the plans of the verifying plan."""
    _sync(source_url, pg_url)
    _quiet(source_url)
    first = _plan(source_url, pg_url)
    assert _scanned(first) == set(TABLES) and not any(p.partitions for p in first.values())
    return first


def test_second_plan_skips_verified_tables(urls):
    source_url, pg_url = urls
    first = _verified(source_url, pg_url)
    unchanged = _nothing_changed(source_url, pg_url)
    assert unchanged and unchanged.scanned == () and set(unchanged.skipped) == set(TABLES)
    second = _plan(source_url, pg_url)
    assert _scanned(second) == set()
    assert all(p.partitions == () for p in second.values())
    # the digest (the sensor's run keys) stays what it was when the tables were read
    assert {n: p.digest for n, p in second.items()} == {n: p.digest for n, p in first.items()}
    pg = pg_conn(pg_url)
    with pg.cursor() as cur:
        cur.execute("SELECT raw_table FROM dental_sync.raw_verified WHERE threshold IS NOT NULL")
        assert {r[0] for r in cur.fetchall()} == {f"raw.{n}" for n in TABLES}
    pg.close()


@pytest.mark.parametrize("change", ["insert", "update_keeping_stamp", "moved_month_keeping_stamp", "delete"])
def test_changes_after_verification_are_found(urls, change):
    source_url, pg_url = urls
    _verified(source_url, pg_url)
    conn = mysql_conn(source_url)
    with conn.cursor() as cur:
        cur.execute("SELECT ProcNum, DATE_FORMAT(ProcDate, '%Y-%m') FROM procedurelog "
                    "WHERE ProcDate >= '2024-01-01' ORDER BY ProcNum LIMIT 1")
        key, month = cur.fetchone()
    conn.close()
    statements = {
        "insert": [f"INSERT INTO procedurelog (PatNum, ProcDate, DateTStamp) VALUES (1, '{month}-15', "
                   "'2024-01-01 00:00:00')"],
        "update_keeping_stamp": [f"UPDATE procedurelog SET ProcFee = ProcFee + 1, DateTStamp = DateTStamp "
                                 f"WHERE ProcNum = {key}"],
        "moved_month_keeping_stamp": [f"UPDATE procedurelog SET ProcDate = '2020-01-05', DateTStamp = DateTStamp "
                                      f"WHERE ProcNum = {key}"],
        "delete": [f"DELETE FROM procedurelog WHERE ProcNum = {key}"],
    }[change]
    source_sql(source_url, *statements)
    plans = _plan(source_url, pg_url)
    assert _scanned(plans) == {"procedurelog"}  # the others are still skipped
    listed = plans["procedurelog"].partitions
    if change == "update_keeping_stamp":
        assert listed == ()  # read, but invisible to the cheap fingerprints, as without the skip: the
        return  # nightly content backstop's (plan_content, which never skips)
    assert listed == (("2020-01", month) if change == "moved_month_keeping_stamp" else (month,))
    assert not _nothing_changed(source_url, pg_url)  # and dental sync's fast path does not stop
    _sync(source_url, pg_url, [raw_table("procedurelog")], mode="full")  # (a month moved without its stamp)
    _quiet(source_url)
    assert _nothing_changed(source_url, pg_url)


@pytest.mark.parametrize("change", ["insert_old_stamp", "moved_to_zero_date", "delete", "moved_month_keeping_stamp"])
def test_written_tables_are_planned_whole_range_unread(urls, monkeypatch, change):
    """`dental sync` without Dagster runs (``sync_written``): a table written on the source since it was
    verified is planned over every partition with neither side's fingerprints read (its sync reads
    both sides anyway); the tables not written are still skipped; the whole-range sync and its check
    then leave raw equal to the source. A row re-dated into another month without its timestamp, which
    only the plan's per-month fingerprints would have seen, fails the check's business-date sum, and
    the window is re-copied whole."""
    from dental_assets.partitions import monthly_partitions
    from dental_assets.replication import fingerprint
    from dental_assets.replication.plan import plan_tables
    from dental_assets.replication.replicate import replicate_table
    from test_replication_support import assert_raw_equals_source

    source_url, pg_url = urls
    _verified(source_url, pg_url)
    conn = mysql_conn(source_url)
    with conn.cursor() as cur:
        cur.execute("SELECT ProcNum FROM procedurelog WHERE ProcDate >= '2024-01-01' ORDER BY ProcNum LIMIT 1")
        key = cur.fetchone()[0]
    conn.close()
    wait_past_records(source_url, pg_url)  # (a write right after could have been seen by the verifying read)
    source_sql(source_url, {
          "insert_old_stamp": "INSERT INTO procedurelog (PatNum, ProcDate, DateTStamp) VALUES (1, '2023-02-15', "
                              "'2023-02-15 00:00:00')",
          "moved_to_zero_date": f"UPDATE procedurelog SET ProcDate = '0000-00-00' WHERE ProcNum = {key}",
          "delete": f"DELETE FROM procedurelog WHERE ProcNum = {key}",
          "moved_month_keeping_stamp": f"UPDATE procedurelog SET ProcDate = '2020-01-05', DateTStamp = DateTStamp "
                                       f"WHERE ProcNum = {key}",
    }[change])
    read = []
    for name in ("source_fingerprints", "raw_fingerprints"):
        original = getattr(fingerprint, name)
        monkeypatch.setattr(fingerprint, name, lambda conn, table, *a, _f=original, **k: read.append(table.name)
                            or _f(conn, table, *a, **k))
    keys = monthly_partitions.get_partition_keys()
    pg = pg_conn(pg_url)
    try:
        plans = {p.table.name: p for p in plan_tables(_params(source_url), pg, _tables(), keys, sync_written=True)}
    finally:
        pg.close()
    assert read == []  # the written table unread, the others skipped as before
    assert plans["procedurelog"].partitions == tuple(keys) and not plans["procedurelog"].scanned
    assert all(p.partitions == () for n, p in plans.items() if n != "procedurelog")
    assert _plan(source_url, pg_url)["procedurelog"].scanned  # (the sensor's plan still reads it)
    pg = pg_conn(pg_url)
    try:  # the whole range, synced and checked as dental sync's run does
        done = replicate_table(_params(source_url), pg, raw_table("procedurelog"), None, "auto", True, 32)
    finally:
        pg.close()
    equal, *_, synced_again, repaired, _ = done.check
    silent = change == "moved_month_keeping_stamp"  # (the incremental sync after the failed check misses it too)
    assert done.result.mode == "incremental" and equal and (synced_again, repaired) == ((1, True) if silent else (0, False))
    assert_raw_equals_source(source_url, pg_url, [raw_table("procedurelog")])


def test_transaction_open_across_the_verifying_plan(urls):
    """A row written before the verifying plan, committed after it: the table's UPDATE_TIME becomes
    the time of the write, before the plan's read; the threshold (the oldest open transaction's start)
    is earlier still, so the next plan reads the table and finds the row."""
    source_url, pg_url = urls
    _sync(source_url, pg_url)
    _quiet(source_url)
    writer = mysql_conn(source_url)
    try:
        with writer.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("INSERT INTO procedurelog (PatNum, ProcDate, DateTStamp) "
                        "VALUES (1, '2024-03-15', NOW() - INTERVAL 5 SECOND)")
        time.sleep(2.5)  # the plan's read is seconds after the write
        verifying = _plan(source_url, pg_url)
        assert _scanned(verifying) == set(TABLES) and verifying["procedurelog"].partitions == ()
        writer.commit()
    finally:
        writer.close()
    plans = _plan(source_url, pg_url)
    assert "procedurelog" in _scanned(plans)
    assert plans["procedurelog"].partitions == ("2024-03",)


def test_a_sync_drops_the_record(urls):
    from dental_assets.replication.sync import sync_window

    source_url, pg_url = urls
    first = _verified(source_url, pg_url)
    assert _scanned(_plan(source_url, pg_url)) == set()
    pg = pg_conn(pg_url)
    result = sync_window(_params(source_url), pg, raw_table("patient"), None)  # nothing to move, still a write
    assert result.mode == "incremental"
    with pg.cursor() as cur:
        cur.execute("SELECT threshold FROM dental_sync.raw_verified WHERE raw_table = 'raw.patient'")
        assert cur.fetchone() == (None,)
    pg.close()
    plans = _plan(source_url, pg_url)
    assert _scanned(plans) == {"patient"}
    assert plans["patient"].digest == first["patient"].digest
    assert _scanned(_plan(source_url, pg_url)) == set()  # verified again


def test_a_sync_between_the_plans_read_and_its_record_is_not_recorded(urls, monkeypatch):
    """A plan records in the transaction that read raw: a sync that writes a table (and drops its
    record) after that read and before the plan records makes the plan record nothing, instead of
    records describing raw before the sync's write."""
    from dental_assets.replication import verified

    source_url, pg_url = urls
    _sync(source_url, pg_url)
    _quiet(source_url)
    record = verified.record

    def record_after_a_sync(cur, *args):
        sync_side = pg_conn(pg_url)  # another session, as a sync's transaction
        with sync_side.cursor() as other:
            verified.forget(other, ["raw.patient"])
        sync_side.commit()
        sync_side.close()
        record(cur, *args)

    monkeypatch.setattr(verified, "record", record_after_a_sync)
    assert _scanned(_plan(source_url, pg_url)) == set(TABLES)
    monkeypatch.setattr(verified, "record", record)
    pg = pg_conn(pg_url)
    with pg.cursor() as cur:
        cur.execute("SELECT count(*) FROM dental_sync.raw_verified WHERE threshold IS NOT NULL")
        assert cur.fetchone()[0] == 0
    pg.close()
    assert _scanned(_plan(source_url, pg_url)) == set(TABLES)  # read again, and recorded this time
    assert _scanned(_plan(source_url, pg_url)) == set()


def test_without_process_privilege_every_table_is_scanned(urls, mariadb_server_url, caplog):
    from dental_assets.replication import verified

    source_url, pg_url = urls
    _verified(source_url, pg_url)
    with select_only_user(mariadb_server_url, source_url, "np", "np-secret") as limited:
        source_sql(source_url, "DELETE FROM procedurelog ORDER BY ProcNum LIMIT 1")
        verified._warned_no_threshold = False
        with caplog.at_level(logging.WARNING, logger="dental_assets.replication.verified"):
            plans = _plan(limited, pg_url)
        assert _scanned(plans) == set(TABLES)  # the fast path is off: every table read
        assert plans["procedurelog"].partitions
        assert not any(p.partitions for n, p in plans.items() if n != "procedurelog")
        warnings = [r.getMessage() for r in caplog.records]
        assert len(warnings) == 1 and "PROCESS" in warnings[0] and "np-secret" not in warnings[0]
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="dental_assets.replication.verified"):
            assert not _nothing_changed(limited, pg_url)
        assert not caplog.records  # once per process


def test_the_synthetic_writer_drops_the_records(urls, practice):
    """A load of raw that is not a sync (the synthetic writer, into a demo warehouse) drops the records
    too, in its transaction."""
    from dental_synthetic.writers import write_postgres_raw

    source_url, pg_url = urls
    _verified(source_url, pg_url)
    write_postgres_raw(practice, pg_url, force=True, ledger=False)
    pg = pg_conn(pg_url)
    with pg.cursor() as cur:
        cur.execute("SELECT count(*) FROM dental_sync.raw_verified WHERE threshold IS NOT NULL")
        assert cur.fetchone()[0] == 0
    pg.close()
    assert _scanned(_plan(source_url, pg_url)) == set(TABLES)


# ----------------------------------------------------------------------------- dental sync's own claim

@pytest.fixture
def sync_env(monkeypatch, urls):
    source_url, pg_url = urls
    monkeypatch.setenv("DENTAL_SOURCE", "opendental")
    monkeypatch.setenv("OPENDENTAL_URL", source_url)
    monkeypatch.setenv("DENTAL_WAREHOUSE_URL", pg_url)
    return source_url, pg_url


def _every_table_skipped(source_url: str, pg_url: str) -> set[str]:
    """The tables the next plan over the whole catalog reads, besides those the source gives no
    UPDATE_TIME (never written since the server started: the empty ones here), which are always read
    (empty: every other one skipped as verified)."""
    from dental_assets.catalog import raw_tables
    from dental_assets.replication import verified
    from dental_assets.replication.plan import nothing_changed

    names = [t.name for t in raw_tables()]
    no_time = {n for n, u in verified.probe(_params(source_url), names).update_times.items() if u is None}
    assert len(no_time) < len(names) / 4
    pg = pg_conn(pg_url)
    try:
        prints = nothing_changed(_params(source_url), pg, list(raw_tables()))
    finally:
        pg.close()
    assert prints
    assert no_time <= set(prints.scanned)
    return set(prints.scanned) - no_time


def test_dental_sync_records_the_tables_it_wrote_and_checked(sync_env, monkeypatch):
    """`dental sync` claims every table its plan compares; its own writes keep the claim, and once every
    run succeeded the tables are recorded verified at the plan's threshold: the next plan reads none
    of them. A write to a claimed table by anything else (here another session's sync, after the runs
    and before the confirmation) drops the claim: that table is read again. A stamp set back (a commit
    older than the look-back) fails the incremental sync's check (it sums the modified timestamps),
    the window is re-copied whole, and raw equals the source."""
    from dental_assets.catalog import raw_tables
    from dental_assets.defs.raw.sync_command import run_sync
    from dental_assets.replication import verified
    from test_replication_support import assert_raw_equals_source

    source_url, pg_url = sync_env
    instance = ephemeral_instance()
    names = [t.name for t in raw_tables()]
    _quiet(source_url, names)
    confirm = verified.confirm

    def confirm_after_another_write(cur, token, checked):
        other = pg_conn(pg_url)
        with other.cursor() as other_cur:
            verified.forget(other_cur, ["raw.patient"], writer=verified.new_claim())
        other.commit()
        other.close()
        return confirm(cur, token, checked)

    monkeypatch.setattr(verified, "confirm", confirm_after_another_write)
    report = run_sync(instance=instance, out=open("/dev/null", "w"))  # the first sync
    monkeypatch.setattr(verified, "confirm", confirm)
    assert report.ok and report.verified == len(names) - 1  # every table claimed, all but one recorded
    assert _every_table_skipped(source_url, pg_url) == {"patient"}  # (and recorded by that plan)
    conn = mysql_conn(source_url)
    with conn.cursor() as cur:
        cur.execute("SELECT ProcNum FROM procedurelog WHERE DateTStamp > '2020-01-01' ORDER BY ProcNum LIMIT 2")
        edited, set_back = [r[0] for r in cur.fetchall()]
    conn.close()
    monkeypatch.setenv("DENTAL_SYNC_LOOKBACK_SECONDS", "0")
    source_sql(source_url,
               f"UPDATE procedurelog SET ProcFee = ProcFee + 1, DateTStamp = NOW() WHERE ProcNum = {edited}",
               f"UPDATE procedurelog SET ProcFee = ProcFee + 2, DateTStamp = DateTStamp - INTERVAL 1 DAY "
               f"WHERE ProcNum = {set_back}",
               "DELETE FROM adjustment ORDER BY AdjNum LIMIT 1")
    _quiet(source_url, names)
    report = run_sync(instance=instance, out=open("/dev/null", "w"))
    assert report.ok, (report.failed_runs, report.failed_checks)
    assert {"procedurelog", "adjustment"} <= set(report.tables) and report.verified >= 2
    assert_raw_equals_source(source_url, pg_url, [raw_table("procedurelog"), raw_table("adjustment")])
    assert _every_table_skipped(source_url, pg_url) == set()  # verified by the sync itself
    # a table the plan skipped is claimed too: a sync that writes it anyway (with a persistent
    # instance, the months Dagster has not recorded) and checks it keeps it recorded
    from dental_assets.partitions import monthly_partitions
    from dental_assets.replication.plan import plan_tables
    from dental_assets.replication.sync import sync_window

    token = verified.new_claim()
    pg = pg_conn(pg_url)
    try:
        plans = plan_tables(_params(source_url), pg, list(raw_tables()), monthly_partitions.get_partition_keys(),
                            claim=token)
        assert not plans[names.index("patient")].scanned
        sync_window(_params(source_url), pg, raw_table("patient"), None, writer=token)
        with pg, pg.cursor() as cur:
            assert "raw.patient" in verified.confirm(cur, token, ["raw.patient"])
    finally:
        pg.close()
    assert _every_table_skipped(source_url, pg_url) == set()

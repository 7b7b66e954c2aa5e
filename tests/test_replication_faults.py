"""Faults during replication: a source connection dropped mid-partition, a loader killed with SIGKILL.
After a rerun raw equals the source: nothing duplicated, nothing lost."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from dental_assets.catalog import raw_table, raw_tables
from dental_synthetic import SyntheticConfig, generate
from test_replication_support import (
    assert_raw_equals_source,
    mysql_conn,
    persistent_dagster_home,
    pg_conn,
    source_sql,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

EXTRA_ROWS = 80_000
SECRET = "Zelda-Quist-7731"  # stands for a patient's value: it must never appear in an error


@pytest.fixture(scope="module")
def practice():
    return generate(SyntheticConfig(as_of=dt.date(2025, 6, 30), patients=100, seed=11))


@pytest.fixture
def source_url(mariadb_url, practice, write_practice):
    """The practice in MariaDB (100 patients, ~1,500 procedurelog rows)."""
    write_practice(practice, mariadb_url)
    return mariadb_url


@pytest.fixture
def long_source_url(source_url):
    """``source_url`` with ``EXTRA_ROWS`` more procedurelog rows: enough that a copy is still streaming when
    a fault planted after its first chunk hits. Only the tests that plant one use it: comparing these rows
    row by row (``assert_raw_equals_source``) in every test would slow them all."""
    source_sql(
        source_url, "SELECT MAX(ProcNum) INTO @top FROM procedurelog",
        f"INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, ProcFee, CodeNum, ToothNum, DateTStamp) "
        f"SELECT @top + seq, 1 + seq % 100, DATE_SUB('2025-06-01', INTERVAL seq % 900 DAY), seq % 300, "
        f"1 + seq % 40, '', NOW() FROM seq_1_to_{EXTRA_ROWS}")
    return source_url


def _kill_the_stream(mariadb_server_url: str, database: str) -> list[int]:
    """Kill the server side of the session streaming procedurelog; returns the killed session ids."""
    admin = mysql_conn(mariadb_server_url)
    with admin.cursor() as cur:
        cur.execute(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND COMMAND = 'Query' "
            "AND INFO LIKE 'SELECT %%FROM `procedurelog`%%'", (database,))
        ids = [row[0] for row in cur.fetchall()]
        for session in ids:
            cur.execute(f"KILL CONNECTION {int(session)}")
    admin.close()
    return ids


def test_connection_dropped_mid_partition_is_retried(long_source_url, pg_url, mariadb_server_url, monkeypatch,
                                                      caplog):
    from sqlalchemy.engine import make_url

    from dental_assets.replication import extract
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window, verify_window

    database = make_url(long_source_url).database
    original = extract.TextReader.read
    killed = []

    def read_then_drop(self, size=-1):
        chunk = original(self, size)
        if not killed and chunk:
            # the first chunk has arrived: kill the server side of the streaming session
            killed.extend(_kill_the_stream(mariadb_server_url, database))
        return chunk

    monkeypatch.setattr(extract.TextReader, "read", read_then_drop)
    params = MySqlParams.from_url(long_source_url)
    pg = pg_conn(pg_url)
    table = raw_table("procedurelog")
    with caplog.at_level(logging.WARNING, logger="dental_assets.replication.mysql"):
        result = sync_window(params, pg, table, None)
    assert killed, "the streaming session was not found to kill"
    assert any("connection lost" in r.getMessage() for r in caplog.records)
    assert result.mode == "full" and result.rows_total == result.rows_copied
    equal, src, raw = verify_window(params, pg, table, None)
    pg.close()
    assert equal, (src, raw)
    assert_raw_equals_source(long_source_url, pg_url, [table])


def test_a_check_part_failing_before_it_lists_its_keys_stops_the_check(source_url, pg_url, monkeypatch):
    """The check reads raw while its source parts run, and raw's side waits for the keys each part lists
    (the rows stamped after the sync's clock, read in the part's own snapshot). A part that fails before
    listing them (here its snapshot, at its first statement) makes the check raise that part's error at
    once: raw's side must not wait for keys that will never come."""
    import threading

    from dental_assets.replication import fingerprint
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window, verify_window

    params = MySqlParams.from_url(source_url)
    pg = pg_conn(pg_url)
    table = raw_table("procedurelog")
    result = sync_window(params, pg, table, None)
    assert result.source_clock is not None
    started = fingerprint.snapshot_start
    calls = []

    def second_part_fails(conn):
        calls.append(threading.current_thread().name)
        if len(calls) == 2:
            raise RuntimeError("planted: the part's session failed")
        started(conn)

    monkeypatch.setattr(fingerprint, "snapshot_start", second_part_fails)
    outcome: dict[str, BaseException] = {}

    def check():
        try:
            verify_window(params, pg, table, None, clock=result.source_clock,
                          scope=fingerprint.CheckScope(sample=32, residue=0))  # two source parts
        except BaseException as error:  # noqa: BLE001 - what the check raised is the assertion
            outcome["error"] = error

    worker = threading.Thread(target=check, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the check is still waiting for the keys of a part that failed"
    pg.close()
    assert len(calls) == 2, calls  # both parts started, one failed
    assert isinstance(outcome.get("error"), RuntimeError) and "planted" in str(outcome["error"]), outcome


def test_a_client_killed_mid_row_at_every_try_quotes_no_row(long_source_url, pg_url, monkeypatch):
    """The CSV path (a nullable string column), its `mariadb` client killed (SIGKILL, as the OOM killer
    does) while streaming, at every try: COPY fails on the cut last line, and PostgreSQL's error
    quotes that partial row. The SourceConnectionLost raised after the last try does not chain it, so
    no traceback (Dagster's event log stores one) holds a row."""
    import traceback

    from dental_assets.replication import extract
    from dental_assets.replication.mysql import MySqlParams, SourceConnectionLost
    from dental_assets.replication.sync import sync_window

    source_sql(long_source_url, "ALTER TABLE procedurelog MODIFY BillingNote text NULL",
               ("UPDATE procedurelog SET BillingNote = %s", (SECRET,)))
    original = extract.SanitizingReader.read
    killed = {}  # per try (a reader each): the client's pid

    def read_then_kill(self, size=-1):
        chunk = original(self, size)
        if chunk and id(self) not in killed:
            clients = subprocess.run(["pgrep", "-P", str(os.getpid()), "-x", "mariadb"], capture_output=True,
                                     text=True).stdout.split()
            for pid in clients:
                os.kill(int(pid), signal.SIGKILL)
            killed[id(self)] = clients
        return chunk

    monkeypatch.setattr(extract.SanitizingReader, "read", read_then_kill)
    pg = pg_conn(pg_url)
    with pytest.raises(SourceConnectionLost) as raised:
        sync_window(MySqlParams.from_url(long_source_url), pg, raw_table("procedurelog"), None, attempts=2)
    pg.close()
    assert len(killed) == 2 and all(killed.values()), killed
    text = "".join(traceback.format_exception(raised.value))
    assert "COPY procedurelog, line" not in text and SECRET not in text, text


def test_retries_give_up_with_a_clear_error(pg_url, monkeypatch, caplog):
    """A source lost for good: ``sync_window`` tries ``attempts`` times in all, its first read (the
    source's columns) included, then raises SourceConnectionLost."""
    from dental_assets.replication import mysql
    from dental_assets.replication.mysql import MySqlParams, SourceConnectionLost
    from dental_assets.replication.sync import sync_window

    params = MySqlParams("127.0.0.1", 1, "nobody", "x", "nowhere")  # nothing listens on port 1
    # as if this process had reached it before: a loss, retried (a server never reached is a
    # configuration error at once, tests/test_settings.py)
    monkeypatch.setattr(mysql, "_reached", {("127.0.0.1", 1)})
    pg = pg_conn(pg_url)
    with caplog.at_level(logging.WARNING, logger="dental_assets.replication.mysql"), \
            pytest.raises(SourceConnectionLost):
        sync_window(params, pg, raw_table("procedurelog"), None, attempts=2)
    pg.close()
    retries = [r.getMessage() for r in caplog.records if "connection lost" in r.getMessage()]
    assert len(retries) == 1 and "retry 1/1" in retries[0], retries


def _terminate_the_copying_backend(monkeypatch, pg_url, every_time: bool) -> list[int]:
    """Make the warehouse backend of a sync's COPY from the source be terminated by another session
    (``pg_terminate_backend``, as a server restart or an idle-session timeout would end it) just before
    the COPY starts: the first time only, or every time. Returns the list of terminated backend pids."""
    from dental_assets.replication import extract

    original = extract.copy_from_source
    terminated: list[int] = []

    def terminate_then_copy(params, cur, *args, **kwargs):
        if every_time or not terminated:
            pid = cur.connection.get_backend_pid()
            admin = pg_conn(pg_url)
            admin.autocommit = True
            with admin.cursor() as admin_cur:
                admin_cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
            admin.close()
            terminated.append(pid)
        return original(params, cur, *args, **kwargs)

    monkeypatch.setattr(extract, "copy_from_source", terminate_then_copy)
    return terminated


def _replicate_procedurelog(source_url, pg_url):
    """``replicate_tables`` of procedurelog (every window, checked) on new warehouse connections."""
    import types

    from dental_assets.replication import replicate
    from dental_assets.replication.mysql import MySqlParams

    warehouse = types.SimpleNamespace(connect=lambda: pg_conn(pg_url))
    table = raw_table("procedurelog")
    return list(replicate.replicate_tables(MySqlParams.from_url(source_url), warehouse, [table], None, "auto",
                                           {table.name}, 32))


def test_warehouse_connection_lost_mid_table_is_retried_on_a_new_one(source_url, pg_url, monkeypatch, caplog):
    """The warehouse session of a table's copy is terminated mid-transaction: the table is tried again
    on a new connection (its first transaction rolled back by the server), then checked equal."""
    from dental_assets.replication import replicate

    monkeypatch.setattr(replicate, "WAREHOUSE_RETRY_SECONDS", 0.01)
    terminated = _terminate_the_copying_backend(monkeypatch, pg_url, every_time=False)
    with caplog.at_level(logging.WARNING, logger="dental_assets.replication.replicate"):
        done = _replicate_procedurelog(source_url, pg_url)
    assert len(terminated) == 1
    assert any("warehouse connection lost" in r.getMessage() for r in caplog.records)
    assert [d.table.name for d in done] == ["procedurelog"] and done[0].check[0], done[0].check
    assert_raw_equals_source(source_url, pg_url, [raw_table("procedurelog")])


def test_warehouse_lost_on_every_try_is_one_clear_line(source_url, pg_url, monkeypatch):
    """Lost on every try: one line naming the table and the server (``PgParams.describe``: no
    password), after
    ``WAREHOUSE_ATTEMPTS`` tries; raw left as it was (nothing of the table committed)."""
    from dental_assets.replication import replicate
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.warehouse import PgParams

    monkeypatch.setattr(replicate, "WAREHOUSE_RETRY_SECONDS", 0.01)
    terminated = _terminate_the_copying_backend(monkeypatch, pg_url, every_time=True)
    warehouse = PgParams.from_url(pg_url)
    table = raw_table("procedurelog")
    with pytest.raises(replicate.WarehouseConnectionLost) as raised:
        list(replicate.replicate_tables(MySqlParams.from_url(source_url), warehouse, [table], None, "auto",
                                        {table.name}, 32))
    message = str(raised.value)
    assert len(terminated) == replicate.WAREHOUSE_ATTEMPTS
    assert "\n" not in message and "raw.procedurelog" in message and warehouse.describe() in message, message
    pg = pg_conn(pg_url)
    with pg.cursor() as cur:
        cur.execute("SELECT to_regclass('raw.procedurelog')")
        assert cur.fetchone()[0] is None  # the first copy created the table in its transaction: none left
    pg.close()


def _sync_env(monkeypatch, source_url, pg_url) -> None:
    monkeypatch.setenv("DENTAL_SOURCE", "opendental")
    monkeypatch.setenv("OPENDENTAL_URL", source_url)
    monkeypatch.setenv("DENTAL_WAREHOUSE_URL", pg_url)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def _sync_env_with(monkeypatch, source_url, pg_url, tmp_path, with_dagster: bool):
    """``_sync_env``, and with ``with_dagster`` a persistent instance in ``tmp_path`` as ``DAGSTER_HOME``
    (``persistent_dagster_home``). Returns that instance's folder."""
    _sync_env(monkeypatch, source_url, pg_url)
    return persistent_dagster_home(monkeypatch, tmp_path) if with_dagster else tmp_path / "dagster_home"


def _terminate_while_planning(monkeypatch, pg_url, times: int) -> list[int]:
    """The warehouse session of `dental sync`'s plan terminated (``pg_terminate_backend``) as the plan
    starts reading raw, the first ``times`` times. Returns the terminated backend pids."""
    from dental_assets.replication import plan

    original = plan._existing_raw_tables
    terminated: list[int] = []

    def terminated_first(pgconn, tables):
        if len(terminated) < times:
            admin = pg_conn(pg_url)
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(%s)", (pgconn.get_backend_pid(),))
            admin.close()
            terminated.append(pgconn.get_backend_pid())
        return original(pgconn, tables)

    monkeypatch.setattr(plan, "_existing_raw_tables", terminated_first)
    return terminated


def test_dental_sync_runs_again_when_the_warehouse_is_lost_while_planning(source_url, pg_url, monkeypatch,
                                                                         capsys):
    """The plan's warehouse session terminated once: `dental sync` says so and runs again from the
    start on a new connection; exit 0 and raw equal to the source."""
    from dental_assets import cli
    from dental_assets.replication import replicate

    _sync_env(monkeypatch, source_url, pg_url)
    monkeypatch.setattr(replicate, "WAREHOUSE_RETRY_SECONDS", 0.01)
    terminated = _terminate_while_planning(monkeypatch, pg_url, times=1)
    assert cli.main(["sync"]) == 0
    err = capsys.readouterr().err
    assert len(terminated) == 1
    assert "dental sync: the warehouse connection was lost (OperationalError), run 2/3" in err, err
    assert_raw_equals_source(source_url, pg_url, raw_tables())


def test_dental_sync_says_in_one_line_that_the_warehouse_was_lost(source_url, pg_url, monkeypatch, capsys):
    """Lost at every run's plan: after ``WAREHOUSE_ATTEMPTS`` runs, one line naming the setting and the
    driver's first line, exit 1, no traceback."""
    from dental_assets import cli
    from dental_assets.replication import replicate

    _sync_env(monkeypatch, source_url, pg_url)
    monkeypatch.setattr(replicate, "WAREHOUSE_RETRY_SECONDS", 0.01)
    terminated = _terminate_while_planning(monkeypatch, pg_url, times=99)
    assert cli.main(["sync"]) == 1
    err = capsys.readouterr().err
    assert len(terminated) == replicate.WAREHOUSE_ATTEMPTS and "Traceback" not in err, err
    assert err.splitlines()[-1].startswith(
        "dental: the connection to the warehouse (DENTAL_WAREHOUSE_URL) was lost: OperationalError: "), err
    assert err.count("run 2/3") == err.count("run 3/3") == 1, err


def test_a_statement_error_is_not_taken_for_a_lost_connection(pg_url):
    """A cancelled statement (statement_timeout, filed by PostgreSQL as operational) is not a loss."""
    import psycopg2

    from dental_assets.cli import lost_connection_text

    pg = pg_conn(pg_url)
    with pg.cursor() as cur, pytest.raises(psycopg2.OperationalError) as cancelled:
        cur.execute("SET statement_timeout = 10")
        cur.execute("SELECT pg_sleep(1)")
    pg.close()
    assert cancelled.value.pgcode == "57014" and lost_connection_text(cancelled.value) is None
    assert lost_connection_text(ValueError("x")) is None


def test_nested_retries_do_not_multiply(monkeypatch):
    """A read retried inside a window's retried sync runs once per outer try: a source gone for good
    costs the outer tries' waits only (0.5 s, 1 s, ...), not tries of tries. On another thread the
    inner read is the outermost there, and retries itself."""
    import threading

    from dental_assets.replication import mysql
    from dental_assets.replication.mysql import SOURCE_ATTEMPTS, SourceConnectionLost, with_retries

    waits, calls = [], []
    monkeypatch.setattr(mysql.time, "sleep", waits.append)

    def lost():
        calls.append(threading.get_ident())
        raise SourceConnectionLost("gone")

    with pytest.raises(SourceConnectionLost):
        with_retries(lambda: with_retries(lost, what="inner"), attempts=3, what="outer")
    assert len(calls) == 3 and waits == [0.5, 1.0]
    calls.clear()
    waits.clear()
    outcome = []

    def other_thread():
        try:
            with_retries(lost, what="alone")
        except SourceConnectionLost:
            outcome.append("lost")

    with_retries(lambda: (lambda t: (t.start(), t.join()))(threading.Thread(target=other_thread)), what="outer")
    assert outcome == ["lost"] and len(calls) == SOURCE_ATTEMPTS
    assert waits == [0.5 * 2 ** n for n in range(SOURCE_ATTEMPTS - 1)] and sum(waits) == 15.5


def _source_runs(home, statuses):
    import dagster as dg

    from dental_assets.defs.raw.sensors import SOURCE_TAG

    instance = dg.DagsterInstance.from_config(str(home))
    try:
        return [r.run_id for r in instance.get_runs(filters=dg.RunsFilter(statuses=statuses, tags=SOURCE_TAG))]
    finally:
        instance.dispose()


def test_sigkill_mid_copy_then_rerun(long_source_url, pg_url, tmp_path):
    """`dental sync` killed with SIGKILL mid-copy: nothing half-written, and its run, left STARTED (with
    the source tag whose concurrency limit is 1), is marked failed by the next `dental sync`."""
    import dagster as dg
    from sqlalchemy.engine import make_url

    home = tmp_path / "dagster_home"  # a persistent instance, as on a workstation (./dev's dagster.demo.yaml)
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.demo.yaml", home / "dagster.yaml")
    env = dict(os.environ, DENTAL_SOURCE="opendental", OPENDENTAL_URL=long_source_url, DENTAL_WAREHOUSE_URL=pg_url,
               DAGSTER_HOME=str(home))
    log = open(tmp_path / "killed_sync.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "dental_assets.cli", "sync"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    database = make_url(pg_url).database
    watcher = pg_conn(pg_url)
    watcher.autocommit = True
    caught = False
    try:
        deadline = time.monotonic() + 600  # a loaded machine
        while time.monotonic() < deadline and proc.poll() is None:
            with watcher.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query LIKE 'COPY%%' "
                            "AND state = 'active' AND query LIKE '%%procedurelog%%'", (database,))
                if cur.fetchone()[0]:
                    caught = True
                    break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the loader and its mariadb client, which we started
        proc.wait()
    log.close()
    assert caught, ("the loader finished before the COPY of procedurelog was seen: "
                    + (tmp_path / "killed_sync.log").read_text(errors="replace")[-1500:])
    # the killed transaction left nothing half-written: procedurelog is absent or empty
    with watcher.cursor() as cur:
        cur.execute("SELECT to_regclass('raw.procedurelog')")
        if cur.fetchone()[0] is not None:
            cur.execute("SELECT count(*) FROM raw.procedurelog")
            assert cur.fetchone()[0] == 0
    watcher.close()
    stale = _source_runs(home, [dg.DagsterRunStatus.STARTED])
    assert stale, "the killed sync left no STARTED run"
    rerun = subprocess.run([sys.executable, "-m", "dental_assets.cli", "sync"], env=env,
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-2000:]
    assert_raw_equals_source(long_source_url, pg_url, raw_tables())
    assert not _source_runs(home, [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING])
    assert set(stale) <= set(_source_runs(home, [dg.DagsterRunStatus.FAILURE]))
    assert "marked 1 run(s) of a killed dental sync as failed" in rerun.stdout


def _provnum_holds_a_name(source_url) -> None:
    """The source's ProvNum turned text (varchar), its first procedure's holding ``SECRET``."""
    source_sql(source_url, "ALTER TABLE procedurelog MODIFY ProvNum varchar(40) NOT NULL DEFAULT '0'",
               ("UPDATE procedurelog SET ProvNum = %s ORDER BY ProcNum LIMIT 1", (SECRET,)))


def _assert_not_quoted(exc: BaseException, *values: str) -> None:
    """One line, and neither it nor its traceback (with its chain) holds ``values``."""
    import traceback

    text = "".join(traceback.format_exception(exc))
    assert "\n" not in str(exc), str(exc)
    for value in values:
        assert value not in text, text


def test_a_value_raw_cannot_take_is_named_by_its_column_never_quoted(source_url, pg_url):
    """The source's column changed type (an integer column now text, one row holding a name): the first
    sync's COPY is refused (22P02). The error names the table, the column with raw's type and the COPY's
    line; neither it nor its traceback quotes the value, which PostgreSQL's own message and context do."""
    from dental_assets.replication.replicate import RawValueRefused

    _provnum_holds_a_name(source_url)
    with pytest.raises(RawValueRefused) as raised:
        _replicate_procedurelog(source_url, pg_url)
    message = str(raised.value)
    assert message.startswith("raw.procedurelog: the warehouse refused a value from the source "
                              "(invalid_text_representation, SQLSTATE 22P02; column ProvNum (raw's type bigint); "
                              "line 1 of the COPY into "), message
    _assert_not_quoted(raised.value, SECRET)


def test_a_row_a_constraint_on_raw_refuses_is_not_quoted_and_comes_once_allowed(source_url, pg_url):
    """A CHECK a DBA added to raw refuses an edited row on the incremental sync; PostgreSQL's detail
    quotes the whole row ("Failing row contains ..."), the error only the constraint. Nothing is lost:
    with the constraint dropped, the next sync brings the row and raw equals the source."""
    from dental_assets.replication.replicate import RawValueRefused

    assert _replicate_procedurelog(source_url, pg_url)[0].check[0]
    pg = pg_conn(pg_url)
    with pg, pg.cursor() as cur:
        cur.execute('ALTER TABLE raw.procedurelog ADD CONSTRAINT dba_fee_cap CHECK ("ProcFee" < 100000)')
    source_sql(source_url, ("UPDATE procedurelog SET ProcFee = 123456.78, BillingNote = %s "
                            "ORDER BY ProcNum LIMIT 1", (SECRET,)))
    with pytest.raises(RawValueRefused) as raised:
        _replicate_procedurelog(source_url, pg_url)
    message = str(raised.value)
    assert "(check_violation, SQLSTATE 23514; constraint dba_fee_cap" in message, message
    _assert_not_quoted(raised.value, SECRET, "123456")
    with pg, pg.cursor() as cur:
        cur.execute("ALTER TABLE raw.procedurelog DROP CONSTRAINT dba_fee_cap")
    pg.close()
    assert _replicate_procedurelog(source_url, pg_url)[0].check[0]
    assert_raw_equals_source(source_url, pg_url, [raw_table("procedurelog")])


@pytest.mark.parametrize("with_dagster", [False, True], ids=["direct", "dagster_runs"])
def test_dental_sync_never_prints_or_stores_a_refused_value(source_url, pg_url, monkeypatch, capsys, tmp_path,
                                                            with_dagster):
    """`dental sync` with a value raw refuses: exit 1 and the table named, the value neither printed nor,
    with ``DAGSTER_HOME``, stored in the instance's event log (the run's failure)."""
    from dental_assets import cli

    _provnum_holds_a_name(source_url)
    home = _sync_env_with(monkeypatch, source_url, pg_url, tmp_path, with_dagster)
    assert cli.main(["sync"]) == 1
    printed = capsys.readouterr()
    assert "raw.procedurelog: the warehouse refused a value from the source" in printed.out + printed.err
    assert SECRET not in printed.out + printed.err
    if with_dagster:
        stored = b"".join(path.read_bytes() for path in home.rglob("*") if path.is_file())
        assert b"refused a value from the source" in stored and SECRET.encode() not in stored


@pytest.mark.parametrize("with_dagster", [False, True], ids=["direct", "dagster_runs"])
def test_a_source_column_wider_than_raws_is_named_then_its_long_value_refused(source_url, pg_url, monkeypatch,
                                                                              capsys, tmp_path, with_dagster):
    """An OpenDental upgrade widened a column (ClaimNote varchar(80) -> varchar(500)): while its values
    fit, `dental sync` succeeds and names the column and both types (with Dagster: in the raw asset's
    metadata too); a longer value then fails the table as a refused value, naming raw's type, not
    quoting the value."""
    import dagster as dg

    from dental_assets import cli
    from dental_assets.defs.raw.assets import raw_asset_key

    source_sql(source_url, "ALTER TABLE procedurelog MODIFY ClaimNote varchar(500) NOT NULL DEFAULT ''")
    home = _sync_env_with(monkeypatch, source_url, pg_url, tmp_path, with_dagster)
    assert cli.main(["sync"]) == 0
    named = "ClaimNote (varchar(500) at the source, varchar(80) in raw)"
    printed = capsys.readouterr()
    if with_dagster:
        instance = dg.DagsterInstance.from_config(str(home))
        event = instance.get_latest_materialization_event(raw_asset_key("procedurelog"))
        assert event.asset_materialization.metadata["source_wider_than_raw"].value == named
        instance.dispose()
    else:
        assert f"raw.procedurelog: the source's type is wider than raw's for {named}" in printed.out
    assert_raw_equals_source(source_url, pg_url, [raw_table("procedurelog")])
    long_note = SECRET * 6  # 96 characters
    source_sql(source_url, ("UPDATE procedurelog SET ClaimNote = %s ORDER BY ProcNum LIMIT 1", (long_note,)))
    assert cli.main(["sync"]) == 1
    printed = capsys.readouterr()
    assert ("string_data_right_truncation, SQLSTATE 22001; column ClaimNote (raw's type varchar(80))"
            in printed.out + printed.err), printed
    assert SECRET not in printed.out + printed.err


# ------------------------------------------------------------ a table's own error, the run's other tables

def _appointment_provnum_holds_a_name(source_url) -> None:
    """As ``_provnum_holds_a_name``, for appointment: a second table whose value raw refuses."""
    source_sql(source_url, "ALTER TABLE appointment MODIFY ProvNum varchar(40) NOT NULL DEFAULT '0'",
               ("UPDATE appointment SET ProvNum = %s ORDER BY AptNum LIMIT 1", (SECRET,)))


def _raw_exists(pg_url, names) -> dict[str, bool]:
    pg = pg_conn(pg_url)
    with pg.cursor() as cur:
        cur.execute("SELECT t, to_regclass('raw.' || quote_ident(t)) IS NOT NULL FROM unnest(%s::text[]) t",
                    (list(names),))
        found = dict(cur.fetchall())
    pg.close()
    return found


def test_a_refused_table_and_a_table_gone_do_not_stop_the_tables_after_them(source_url, pg_url):
    """procedurelog's value refused, then claim synced, then payment gone at the source, then paysplit
    synced: both good tables are synced and checked equal, and the run fails after the last one with
    one line per failed table (``TablesFailed``), neither quoting the value."""
    from dental_assets.replication import replicate
    from dental_assets.replication.mysql import MySqlParams

    _provnum_holds_a_name(source_url)
    source_sql(source_url, "RENAME TABLE payment TO payment_gone")
    warehouse = types.SimpleNamespace(connect=lambda: pg_conn(pg_url))
    tables = [raw_table(name) for name in ("procedurelog", "claim", "payment", "paysplit")]
    done = []
    with pytest.raises(replicate.TablesFailed) as raised:
        for replicated in replicate.replicate_tables(MySqlParams.from_url(source_url), warehouse, tables, None,
                                                     "auto", {t.name for t in tables}, 32):
            done.append(replicated)
    assert [(d.table.name, d.check[0]) for d in done] == [("claim", True), ("paysplit", True)]
    lines = str(raised.value).splitlines()
    assert lines[0] == "2 of 4 tables failed, the others were synced and checked:", lines
    assert lines[1].startswith("RawValueRefused: raw.procedurelog: the warehouse refused a value from the source "
                               "(invalid_text_representation, SQLSTATE 22P02; column ProvNum"), lines
    assert lines[2].startswith("ConfigurationError: OPENDENTAL_URL table payment: "), lines
    assert len(lines) == 3
    _assert_not_quoted(raised.value.errors[0][1], SECRET)
    assert SECRET not in str(raised.value)
    assert _raw_exists(pg_url, ["procedurelog", "claim", "payment", "paysplit"]) == {
        "procedurelog": False, "claim": True, "payment": False, "paysplit": True}
    assert_raw_equals_source(source_url, pg_url, [raw_table("claim"), raw_table("paysplit")])


def test_a_query_the_source_refuses_does_not_stop_the_tables_after_it(source_url, pg_url, monkeypatch):
    """procedurelog's read refused by MariaDB (its SELECT names a column the source lacks: error 1054, a
    ``SourceQueryError``, not a lost connection), then claim: claim is synced and checked equal, and the
    run fails after it with procedurelog's own error (``replicate.table_error``; docs/replication.md,
    *Verification*: a query the source refuses does not stop the run's tables after it)."""
    from dental_assets.replication import extract, replicate
    from dental_assets.replication.mysql import MySqlParams, SourceQueryError

    text_select = extract.text_select

    def refused_for_procedurelog(table, cols, where, ordered=True):
        sql = text_select(table, cols, where, ordered)
        return sql.replace(" WHERE ", " WHERE NoSuchColumn = 1 AND ", 1) if table.name == "procedurelog" else sql

    monkeypatch.setattr(extract, "text_select", refused_for_procedurelog)
    warehouse = types.SimpleNamespace(connect=lambda: pg_conn(pg_url))
    tables = [raw_table(name) for name in ("procedurelog", "claim")]
    done = []
    with pytest.raises(SourceQueryError, match="ERROR 1054"):
        for replicated in replicate.replicate_tables(MySqlParams.from_url(source_url), warehouse, tables, None,
                                                     "auto", {t.name for t in tables}, 32):
            done.append(replicated)
    assert [(d.table.name, d.check[0]) for d in done] == [("claim", True)]
    assert_raw_equals_source(source_url, pg_url, [raw_table("claim")])


def test_a_lost_warehouse_still_stops_the_tables_after_it(source_url, pg_url, monkeypatch):
    """The warehouse lost on every try of procedurelog: the run stops there (claim is not started),
    and the table that failed before it with its own error is named in the error's note."""
    import traceback

    from dental_assets.replication import replicate
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.warehouse import PgParams

    monkeypatch.setattr(replicate, "WAREHOUSE_RETRY_SECONDS", 0.01)
    source_sql(source_url, "RENAME TABLE payment TO payment_gone")
    _terminate_the_copying_backend(monkeypatch, pg_url, every_time=True)
    tables = [raw_table(name) for name in ("payment", "procedurelog", "claim")]
    with pytest.raises(replicate.WarehouseConnectionLost) as raised:
        list(replicate.replicate_tables(MySqlParams.from_url(source_url), PgParams.from_url(pg_url), tables, None,
                                        "auto", {t.name for t in tables}, 32))
    assert "raw.procedurelog" in str(raised.value)
    assert "failed before it in this run: ConfigurationError: OPENDENTAL_URL table payment: " in \
        "".join(traceback.format_exception(raised.value))
    assert _raw_exists(pg_url, ["payment", "procedurelog", "claim"]) == {
        "payment": False, "procedurelog": False, "claim": False}


@pytest.mark.parametrize("with_dagster", [False, True], ids=["direct", "dagster_runs"])
def test_dental_sync_syncs_the_other_tables_and_names_each_refused_one(source_url, pg_url, monkeypatch, capsys,
                                                                      tmp_path, with_dagster):
    """`dental sync`'s first sync with two partitioned tables whose values raw refuses (procedurelog,
    the catalog's first, and appointment): every other table of their run is synced and equals the
    source; the command exits 1 naming both tables, one line each, no value printed or stored."""
    import dagster as dg

    from dental_assets import cli

    _provnum_holds_a_name(source_url)
    _appointment_provnum_holds_a_name(source_url)
    home = _sync_env_with(monkeypatch, source_url, pg_url, tmp_path, with_dagster)
    assert cli.main(["sync"]) == 1
    printed = capsys.readouterr()
    text = printed.out + printed.err
    others = [t for t in raw_tables() if t.name not in ("procedurelog", "appointment")]
    assert_raw_equals_source(source_url, pg_url, others)
    assert _raw_exists(pg_url, ["procedurelog", "appointment"]) == {"procedurelog": False, "appointment": False}
    assert SECRET not in text
    if with_dagster:
        instance = dg.DagsterInstance.from_config(str(home))
        failures = [str(e.dagster_event.event_specific_data.error) for run in instance.get_runs()
                    for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)]
        recorded = {k.path[-1] for k in instance.get_asset_keys() if instance.get_latest_materialization_event(k)}
        instance.dispose()
        assert {t.name for t in others} <= recorded and not {"procedurelog", "appointment"} & recorded
        text = "\n".join(failures)
        stored = b"".join(path.read_bytes() for path in home.rglob("*") if path.is_file())
        assert SECRET.encode() not in stored
    else:
        assert "1 run(s) failed" in text, text
    named = [line for line in text.splitlines() if "the warehouse refused a value from the source" in line]
    assert any(line.startswith("RawValueRefused: raw.procedurelog: ") for line in named), text
    assert any(line.startswith("RawValueRefused: raw.appointment: ") for line in named), text
    assert "2 of " in text and "tables failed, the others were synced and checked:" in text, text

"""The source sessions a sync reuses (``mysql.reusing``/``mysql.session``), on the test MariaDB: a reused
session never carries a snapshot or an error over, nothing stays open after the block, and a sync logs in
once per session it holds at a time, not once per read."""

from __future__ import annotations

import datetime as dt
import types

import pytest

from dental_assets.catalog import raw_table
from dental_assets.replication import mysql
from dental_assets.replication.mysql import MySqlParams, reusing, session
from dental_synthetic import SyntheticConfig, generate
from dental_synthetic.mariadb_writer import mark_mariadb_demo_target, write_mariadb
from test_replication_support import assert_raw_equals_source, mysql_conn, pg_conn, source_sql


@pytest.fixture
def counter_url(mariadb_url):
    source_sql(mariadb_url, "CREATE TABLE counted (n INT PRIMARY KEY)", "INSERT INTO counted VALUES (1)")
    return mariadb_url


def _session_id(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID()")
        return cur.fetchone()[0]


def _count(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM counted")
        return cur.fetchone()[0]


def _open_sessions(url: str, ids: list[int], settle_seconds: float = 5.0) -> list[int]:
    """Which of the session ids the server still has, once those the client closed are gone: a close
    (COM_QUIT) ends the server's thread asynchronously, so a thread just closed can still be listed for
    a few milliseconds on a loaded machine (a CI run saw one). The ids still listed after
    ``settle_seconds`` are returned: far below the server's wait_timeout (8 hours), so only a session the
    client really closed can leave the list in time."""
    import time

    deadline = time.monotonic() + settle_seconds
    while True:
        admin = mysql_conn(url)
        with admin.cursor() as cur:
            cur.execute("SELECT ID FROM information_schema.PROCESSLIST")
            alive = {row[0] for row in cur.fetchall()}
        admin.close()
        still = [i for i in ids if i in alive]
        if not still or time.monotonic() >= deadline:
            return still
        time.sleep(0.05)


def test_a_reused_session_sees_what_was_committed_after_its_last_snapshot(counter_url):
    """The session given back after a snapshot is handed out again, its snapshot ended: a plain read then
    sees a row committed in between (a session kept in its transaction would not)."""
    params = MySqlParams.from_url(counter_url)
    with reusing():
        with session(params) as conn:
            first = _session_id(conn)
            mysql.snapshot(conn)
            assert _count(conn) == 1
        source_sql(counter_url, "INSERT INTO counted VALUES (2)")
        with session(params) as conn:
            assert _session_id(conn) == first  # the same login, reused
            assert _count(conn) == 2


def test_a_session_whose_block_failed_is_closed_not_reused(counter_url):
    params = MySqlParams.from_url(counter_url)
    with reusing():
        with pytest.raises(ZeroDivisionError):
            with session(params) as conn:
                failed = _session_id(conn)
                1 / 0
        with session(params) as conn:
            assert _session_id(conn) != failed
    assert _open_sessions(counter_url, [failed]) == []


def test_no_session_outlives_the_block_and_none_is_kept_outside_it(counter_url):
    params = MySqlParams.from_url(counter_url)
    with session(params) as conn:
        outside = _session_id(conn)
    assert _open_sessions(counter_url, [outside]) == []  # closed at once: no block running
    with reusing():
        with session(params) as a, session(params) as b:  # two at once: two logins
            ids = [_session_id(a), _session_id(b)]
        with reusing():  # a nested block shares the sessions and closes none of them
            with session(params) as conn:
                assert _session_id(conn) in ids
        assert sorted(_open_sessions(counter_url, ids, settle_seconds=0)) == sorted(ids)
    assert _open_sessions(counter_url, ids) == []


def test_an_idle_session_past_its_age_is_closed_instead_of_reused(counter_url, monkeypatch):
    params = MySqlParams.from_url(counter_url)
    monkeypatch.setattr(mysql, "IDLE_SESSION_SECONDS", 0)
    with reusing():
        with session(params) as conn:
            old = _session_id(conn)
        with session(params) as conn:
            assert _session_id(conn) != old
        assert _open_sessions(counter_url, [old]) == []


def test_a_session_the_server_dropped_while_idle_is_replaced_by_the_retry(counter_url, monkeypatch):
    """A kept session killed on the server (a restart, wait_timeout) fails its next read as a lost
    connection: the read is tried again on a new login and succeeds."""
    params = MySqlParams.from_url(counter_url)
    monkeypatch.setattr(mysql.time, "sleep", lambda seconds: None)
    with reusing():
        with session(params) as conn:
            dropped = _session_id(conn)
        source_sql(counter_url, f"KILL CONNECTION {dropped}")

        def read():
            with session(params) as conn:
                return _session_id(conn), _count(conn)

        again, rows = mysql.with_retries(read, what="test read")
    assert again != dropped and rows == 1


def test_a_sync_of_several_tables_logs_in_per_session_held_at_once(mariadb_url, pg_url, monkeypatch):
    """``replicate_tables`` of five tables, each synced and checked (eight PyMySQL reads each), logs in
    at most three times: the check's two snapshot sessions and one more; before, six times per table.
    Raw equals the source."""
    from dental_assets.replication import replicate

    mark_mariadb_demo_target(mariadb_url)
    write_mariadb(generate(SyntheticConfig(as_of=dt.date(2025, 6, 30), patients=60, seed=5)), mariadb_url)
    logins = []
    real_connect = mysql.connect

    def counted(params, *args, **kwargs):
        logins.append(params)
        return real_connect(params, *args, **kwargs)

    monkeypatch.setattr(mysql, "connect", counted)
    tables = [raw_table(n) for n in ("procedurelog", "patient", "claimproc", "adjustment", "definition")]
    warehouse = types.SimpleNamespace(connect=lambda: pg_conn(pg_url))
    done = list(replicate.replicate_tables(MySqlParams.from_url(mariadb_url), warehouse, tables, None, "auto",
                                           {t.name for t in tables}, 32))
    assert [d.check[0] for d in done] == [True] * len(tables)
    assert 1 <= len(logins) <= 3, len(logins)
    assert_raw_equals_source(mariadb_url, pg_url, tables)


def test_a_session_idle_past_a_few_seconds_is_replaced_and_one_idle_less_is_reused(counter_url, monkeypatch):
    """A session given back is handed out again after 4 s idle (less than ``IDLE_SESSION_SECONDS``, 5), and
    replaced (and closed) after 6 s more: the few seconds a large table's copy keeps it idle, after which a
    server's shorter ``wait_timeout`` may have dropped it (the clock is simulated)."""
    params = MySqlParams.from_url(counter_url)
    now = [1_000.0]
    with reusing():
        with monkeypatch.context() as clock:
            clock.setattr(mysql.time, "monotonic", lambda: now[0])
            with session(params) as conn:
                old = _session_id(conn)
            now[0] += 4
            with session(params) as conn:
                assert _session_id(conn) == old  # idle 4 s: reused
            now[0] += 6
            with session(params) as conn:
                new = _session_id(conn)
        assert new != old  # idle 6 s: replaced
        assert _open_sessions(counter_url, [old]) == []


class _PracticeDefaults(mysql.Connection):
    """A connection as a server whose defaults are READ COMMITTED, writable and in a time zone 5 hours east
    of UTC would give it (the settings an OpenDental host may have), before ``mysql.connect``'s own."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, init_command="SET SESSION time_zone = '+05:00', SESSION tx_isolation = "
                                             "'READ-COMMITTED', SESSION tx_read_only = 0", **kwargs)


def _settings(conn) -> tuple:
    with conn.cursor() as cur:
        cur.execute("SELECT @@SESSION.time_zone, @@SESSION.tx_isolation, @@SESSION.tx_read_only, "
                    "TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())")
        return cur.fetchone()


def test_every_session_new_or_reused_is_utc_repeatable_read_and_read_only(counter_url, monkeypatch):
    """Whatever the server's defaults, a session ``session`` hands out, a new login or one reused, reads in
    UTC (NOW() is UTC wall time, as DateTStamp arrives), REPEATABLE READ (a snapshot holds) and read-only (a
    write is refused, error 1792), as ``mysql.connect`` pins them."""
    import pymysql

    params = MySqlParams.from_url(counter_url)
    monkeypatch.setattr(mysql, "Connection", _PracticeDefaults)
    plain = _PracticeDefaults(host=params.host, port=params.port, user=params.user, password=params.password,
                              database=params.database)
    assert _settings(plain) == ("+05:00", "READ-COMMITTED", 0, 5 * 3600)  # the simulation works
    plain.close()
    with reusing():
        seen = []
        for _ in range(2):
            with session(params) as conn:
                seen.append(_session_id(conn))
                assert type(conn) is _PracticeDefaults
                assert _settings(conn) == ("+00:00", "REPEATABLE-READ", 1, 0)
                with pytest.raises(pymysql.err.MySQLError) as refused, conn.cursor() as cur:
                    cur.execute("INSERT INTO counted VALUES (3)")
                assert refused.value.args[0] == 1792  # ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
        assert seen[0] == seen[1]  # the second one reused
    assert source_sql(counter_url, "SELECT COUNT(*) FROM counted") == [(1,)]


def test_a_session_closed_in_its_block_is_not_handed_out_again(counter_url):
    """A session that ends its block closed (its connection broken, or closed by the reader) is not kept:
    the next ``session`` is a working one, not a closed connection whose first read fails."""
    params = MySqlParams.from_url(counter_url)
    with reusing():
        with session(params) as conn:
            closed = _session_id(conn)
            conn.close()
        with session(params) as conn:
            assert _session_id(conn) != closed and _count(conn) == 1

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

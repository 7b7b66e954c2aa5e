"""Helpers for the replication tests: a synthetic practice in MariaDB and table-by-table comparison."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import decimal
import shutil
import time
from pathlib import Path
from typing import Iterator

import asyncmy
import psycopg2
from sqlalchemy.engine import make_url

from dental_assets.catalog import RAW_SCHEMA, Table, quote_pg
from dental_assets.replication.mysql import Connection


def mysql_conn(url: str):
    """A connection to ``url`` (PyMySQL's, with the TLS context shared as the replication's own: building
    one per connection was 13 s of test_replication.py's 89 s), in UTC, without strict SQL mode."""
    u = make_url(url)
    conn = Connection(host=u.host, port=int(u.port), user=u.username, password=u.password or "",
                      database=u.database, charset="utf8mb4", autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute("SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'")
    return conn


@contextlib.contextmanager
def select_only_user(server_url: str, source_url: str, prefix: str, password: str,
                     grants: tuple[str, ...] = ("SELECT ON `{database}`.*",)) -> Iterator[str]:
    """A MariaDB user granted SELECT on ``source_url``'s database only (no PROCESS privilege), for the
    block: yields ``source_url`` with that user and ``password``; the user is dropped after. ``grants``:
    what is granted instead, each ``<privileges> ON <object>`` with ``{database}`` for the database."""
    database = make_url(source_url).database
    user = f"{prefix}_{database}"[:32]
    admin = mysql_conn(server_url)
    with admin.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'")
        for grant in grants:
            cur.execute(f"GRANT {grant.format(database=database)} TO '{user}'@'127.0.0.1'")
    try:
        yield make_url(source_url).set(username=user, password=password).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER '{user}'@'127.0.0.1'")
        admin.close()


def source_sql(url: str, *statements) -> list[tuple]:
    """Run ``statements`` on the source at ``url``, in order, each SQL text or ``(sql, args)``; returns the
    last one's rows."""
    conn = mysql_conn(url)
    try:
        rows: list[tuple] = []
        with conn.cursor() as cur:
            for statement in statements:
                sql, args = statement if isinstance(statement, tuple) else (statement, None)
                cur.execute(sql, args)
                rows = list(cur.fetchall())
        return rows
    finally:
        conn.close()


def persistent_dagster_home(monkeypatch, tmp_path: Path) -> Path:
    """A Dagster instance in ``tmp_path`` as a workstation keeps one (./dev's dagster.demo.yaml), set as
    ``DAGSTER_HOME``; returns its folder."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(Path(__file__).resolve().parents[1] / "dagster.demo.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def pg_conn(url: str):
    u = make_url(url)
    return psycopg2.connect(host=u.host, port=u.port, user=u.username, password=u.password or "", dbname=u.database)


def _norm(value, kind: str):
    if isinstance(value, str):
        if kind in ("date", "datetime", "timestamp"):  # pymysql gives zero dates back as text
            return None if value.startswith("0000") or "-00" in value[:10] else value
        return value.replace("\x00", "")
    if isinstance(value, decimal.Decimal):
        return int(value)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return value


_NORMALISED_TYPES = (str, decimal.Decimal, dt.datetime)  # the types ``_norm`` changes; it returns others as given


def _normalised(rows, kinds: list[str]) -> list[tuple]:
    """``rows`` with ``_norm`` applied to every value, column by column: a column none of whose values is of a
    type ``_norm`` changes (integers, doubles, dates, NULLs) is kept as fetched, without a Python call per value
    (the comparison's largest cost after the drivers' decoding)."""
    columns = []
    for values, kind in zip(zip(*rows), kinds):
        if any(issubclass(t, _NORMALISED_TYPES) for t in set(map(type, values))):
            values = [_norm(v, kind) for v in values]
        columns.append(values)
    return list(zip(*columns))


async def _fetch_source(url: str, queries: list[str]) -> list[list[tuple]]:
    """The rows of each of ``queries`` on the source at ``url``, in UTC, read through asyncmy on one connection."""
    u = make_url(url)
    conn = await asyncmy.connect(host=u.host, port=int(u.port), user=u.username, password=u.password or "",
                                 database=u.database, charset="utf8mb4", autocommit=True)
    try:
        results = []
        async with conn.cursor() as cur:
            await cur.execute("SET time_zone = '+00:00'")
            for sql in queries:
                await cur.execute(sql)
                results.append(list(await cur.fetchall()))
        return results
    finally:
        await conn.ensure_closed()


def source_tables_rows(url: str, tables: list[Table], where: str = "TRUE") -> list[list[tuple]]:
    """For each of ``tables``, its source rows matching ``where`` (MariaDB SQL), by key, normalised (``_norm``).
    Read through asyncmy, not the PyMySQL the replication reads with: the oracle shares no driver with what it
    checks, and asyncmy's compiled protocol decodes rows faster (the replication tests' 2,303 table reads, 1.09M
    rows: 11 s on one connection per call, against 44 s through PyMySQL on one per table, the same values)."""
    queries = [f"SELECT {', '.join(f'`{c.name}`' for c in table.columns)} FROM `{table.name}` WHERE {where} "
               f"ORDER BY `{table.primary_key}`" for table in tables]
    results = asyncio.run(_fetch_source(url, queries))
    return [_normalised(rows, [c.kind for c in table.columns]) for table, rows in zip(tables, results)]


def source_rows(url: str, table: Table, where: str = "TRUE") -> list[tuple]:
    """``source_tables_rows`` of one table."""
    return source_tables_rows(url, [table], where)[0]


def raw_tables_rows(url: str, tables: list[Table], where: str = "TRUE") -> list[list[tuple]]:
    """For each of ``tables``, raw's rows matching ``where`` (PostgreSQL SQL), by key, normalised as
    ``source_tables_rows``; read on one connection (the same 2,303 reads: 15 s, against 28 s on one per table)."""
    conn = pg_conn(url)
    try:
        results = []
        with conn.cursor() as cur:
            for table in tables:
                cur.execute(f"SELECT {', '.join(quote_pg(c.name) for c in table.columns)} "
                            f"FROM {quote_pg(RAW_SCHEMA)}.{quote_pg(table.name)} WHERE {where} "
                            f"ORDER BY {quote_pg(table.primary_key)}")
                results.append(_normalised(cur.fetchall(), [c.kind for c in table.columns]))
        return results
    finally:
        conn.close()


def raw_rows(url: str, table: Table, where: str = "TRUE") -> list[tuple]:
    """``raw_tables_rows`` of one table."""
    return raw_tables_rows(url, [table], where)[0]


def assert_raw_equals_source(mariadb_url: str, pg_url: str, tables) -> int:
    """Every row and value of every table equal on both sides; returns the rows compared."""
    tables = list(tables)
    compared = 0
    for table, src, raw in zip(tables, source_tables_rows(mariadb_url, tables), raw_tables_rows(pg_url, tables)):
        assert len(src) == len(raw), f"{table.name}: {len(src)} source rows, {len(raw)} raw rows"
        for a, b in zip(src, raw):
            assert a == b, f"{table.name}: row with key {a[[c.name for c in table.columns].index(table.primary_key)]} differs"
        compared += len(src)
    return compared


def quiet_source(url: str, tables) -> None:
    """Wait until the source's clock is 2 s past the tables' last write and no transaction on the server
    started at or before that write is still open, so that a plan now verifies them with a threshold
    above their UPDATE_TIME (the threshold is the second before the plan's read, or the oldest open
    transaction's start, whichever is earlier: another test process's extraction running on the same
    server pulls it back)."""
    conn = mysql_conn(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT MAX(UNIX_TIMESTAMP(UPDATE_TIME)) FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN %s", (list(tables),))
            last = int(cur.fetchone()[0] or 0)
            deadline = time.monotonic() + 120
            while True:
                conn.commit()  # (INNODB_TRX anew: this session keeps no read view of its own)
                cur.execute("SELECT UNIX_TIMESTAMP(), (SELECT MIN(UNIX_TIMESTAMP(trx_started)) "
                            "FROM information_schema.INNODB_TRX)")
                now, oldest = cur.fetchone()
                if now >= last + 2 and (oldest is None or oldest > last):
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"a transaction started at {oldest}, at or before the tables' last "
                                         f"write ({last}), is still open after 120 s")
                time.sleep(0.2)
    finally:
        conn.close()


# the longest a coarse clock reading (``time()``) lags the precise one: one kernel tick is 1-10 ms
CLOCK_TICK_SECONDS = decimal.Decimal("0.1")


def wait_past_records(source_url: str, pg_url: str) -> None:
    """Wait until the source's clock is ``verified.WRITTEN_MARGIN_SECONDS`` (and ``CLOCK_TICK_SECONDS``)
    past the latest threshold recorded in the warehouse, so that a write now counts as written after
    the verification (``verified.written_tables``) rather than possibly seen by it. InnoDB stamps
    UPDATE_TIME with ``time()``, the kernel's coarse clock, which lags ``UNIX_TIMESTAMP(NOW(6))`` by
    up to a tick: a write in the first milliseconds of a second can carry the second before."""
    from dental_assets.replication.verified import VERIFIED_TABLE, WRITTEN_MARGIN_SECONDS

    pg = pg_conn(pg_url)
    try:
        with pg.cursor() as cur:
            cur.execute(f"SELECT max(threshold) FROM {VERIFIED_TABLE}")
            latest = cur.fetchone()[0]
    finally:
        pg.close()
    conn = mysql_conn(source_url)
    try:
        with conn.cursor() as cur:
            while latest is not None:
                cur.execute("SELECT UNIX_TIMESTAMP(NOW(6))")
                if cur.fetchone()[0] >= latest + WRITTEN_MARGIN_SECONDS + CLOCK_TICK_SECONDS:
                    return
                time.sleep(0.2)
    finally:
        conn.close()


def raw_lock_waiters(params, mode: str) -> int:
    """Sessions of the database of ``params`` (a ``PgParams``) waiting for ``warehouse.RAW_STEADY_LOCK`` in
    ``mode``: ExclusiveLock for a raw write, ShareLock for a dbt build."""
    conn = params.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND mode = %s "
                        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())", (mode,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def raw_freshness(instance) -> set[str]:
    """The freshness states (``"PASS"``, ``"WARN"``...) of the raw assets on the records of ``instance``
    (ephemeral too), by Dagster's own evaluator of their time-window policy, the one its freshness daemon
    runs, at Dagster's clock."""
    from dagster._core.definitions.freshness_evaluator import TimeWindowFreshnessPolicyEvaluator
    from dagster._core.loader import LoadingContextForTest

    from dental_assets.catalog import raw_tables
    from dental_assets.defs.raw.assets import raw_asset_key
    from dental_assets.definitions import defs

    graph, evaluator = defs.resolve_asset_graph(), TimeWindowFreshnessPolicyEvaluator()

    async def states():
        return await asyncio.gather(*(evaluator.evaluate_freshness(LoadingContextForTest(instance),
                                                                   graph.get(raw_asset_key(t.name)))
                                      for t in raw_tables()))

    return {state.value for state in asyncio.run(states())}


def run_raw_request(request, resources: dict, instance):
    """Execute a ``RunRequest`` of the raw change sensor or backstop in this process, as the daemon would
    launch it: ``raw_opendental_job`` with ``resources`` (``opendental``, ``warehouse``), the request's
    assets, partition (or range tags) and run config, on ``instance``. Returns Dagster's result (raises
    when a step fails, as ``execute_in_process`` does)."""
    import dagster as dg

    from dental_assets.defs.raw import defs as raw_defs
    from dental_assets.defs.raw.sensors import RAW_JOB_NAME

    job = dg.Definitions.merge(raw_defs, dg.Definitions(resources=resources)).resolve_job_def(RAW_JOB_NAME)
    return job.execute_in_process(instance=instance, asset_selection=list(request.asset_selection),
                                  partition_key=request.partition_key, tags=request.tags,
                                  run_config=request.run_config or None)

"""Bringing one raw table's window up to date with the source: full copy or incremental sync.

``sync_window`` is what a raw materialization of the MariaDB source does for one table and one window
(a partition or a range of them; None for an unpartitioned table). It works in one PostgreSQL
transaction, so a crash or a lost connection leaves raw as it was, and a re-run leaves the same data:

- **full** (raw has no rows in the window, or the table has no modified column): delete the window,
  COPY the source's window in (``extract.copy_from_source``).
- **incremental** (otherwise):
  1. *changed rows*: watermark = raw's latest modified timestamp in the window; the source rows of the
     window modified at or after it are copied into a temporary table and replace their keys in raw
     (a row whose business date moved to this window is removed from wherever it was);
  2. *deletes and stray inserts*: when the window's (rows, key sum) still differ from the source, the
     primary keys of both sides are compared: keys only in raw are deleted, keys only in the source
     are copied.

The steps read the source in separate snapshots; a change that lands between them is picked up by
the next sync (the fingerprints still differ), and the blocking check reports it meanwhile.

``verify_window`` compares the content fingerprints of source and raw (see ``fingerprint``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from dental_assets.catalog import RAW_SCHEMA, Table, pg_create_table_sql, quote_pg
from dental_assets.partitions import Window
from dental_assets.replication import extract, fingerprint
from dental_assets.replication.mysql import MySqlParams, connect, with_retries


@dataclass
class SyncResult:
    """What ``sync_window`` did to one table's window (counts only, never values)."""

    table: str
    mode: str  # "full" | "incremental"
    rows_copied: int = 0  # rows read from the source and written
    rows_deleted: int = 0  # rows removed from raw (replaced window rows, or hard deletes)
    rows_total: int = 0  # rows in the raw window afterwards
    columns_added: list[str] = field(default_factory=list)
    conversions: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add_conversions(self, more: dict[str, int]) -> None:
        for key, value in more.items():
            if value:
                self.conversions[key] = self.conversions.get(key, 0) + value


def source_columns(params: MySqlParams, table: Table) -> extract.SourceColumns:
    """The columns to move, reconciled with the source's ``information_schema`` (schema drift).
    Raises ValueError when the source has no such table."""

    def read():
        conn = connect(params)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                    (table.name,),
                )
                return {name: ctype for name, ctype in cur.fetchall()}
        finally:
            conn.close()

    types = with_retries(read, what=f"{table.name} columns")
    if not types:
        raise ValueError(f"the source has no table {table.name}")
    return extract.effective_columns(table, types)


def _target(table: Table, schema: str) -> str:
    return f"{quote_pg(schema)}.{quote_pg(table.name)}"


def _pg_where(table: Table, window: Window | None) -> str:
    if window is None or not table.partitioned:
        return "TRUE"
    return window.sql_predicate(quote_pg(table.business_date))


def ensure_raw_table(cur, table: Table, cols: extract.SourceColumns, schema: str = RAW_SCHEMA) -> list[str]:
    """Create ``schema.table`` if missing and add the source's extra columns (never drops any).
    Returns the names of the columns added."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtext('dental_raw_ddl'))")
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_pg(schema)}")
    cur.execute(pg_create_table_sql(table, schema))
    cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
        (schema, table.name),
    )
    present = {row[0] for row in cur.fetchall()}
    added = []
    for col in cols.extra:
        if col.name not in present:
            cur.execute(f"ALTER TABLE {_target(table, schema)} ADD COLUMN {quote_pg(col.name)} {col.pg_type}")
            added.append(col.name)
    return added


def _zero_date_nulls(cur, table: Table, cols: extract.SourceColumns, target: str, where: str) -> int:
    dates = [c for c in cols.columns if c.kind in ("date", "datetime", "timestamp") and c.name not in cols.missing]
    if not dates:
        return 0
    terms = " + ".join(f"({quote_pg(c.name)} IS NULL)::int" for c in dates)
    cur.execute(f"SELECT coalesce(sum({terms}), 0) FROM {target} WHERE {where}")
    return int(cur.fetchone()[0])


def _key_bounds(params: MySqlParams, table: Table) -> tuple[int | None, int | None]:
    def read():
        conn = connect(params)
        try:
            with conn.cursor() as cur:
                pk = extract.q(table.primary_key)
                cur.execute(f"SELECT MIN({pk}), MAX({pk}) FROM {extract.q(table.name)}")
                lo, hi = cur.fetchone()
                return (int(lo) if lo is not None else None, int(hi) if hi is not None else None)
        finally:
            conn.close()

    return with_retries(read, what=f"{table.name} key bounds")


def _raw_keys(cur, target: str, pk: str, where: str) -> np.ndarray:
    import io

    buffer = io.BytesIO()
    cur.copy_expert(f"COPY (SELECT {pk} FROM {target} WHERE {where}) TO STDOUT", buffer)
    data = buffer.getvalue()
    return np.array(data.split(), dtype=np.int64) if data else np.zeros(0, dtype=np.int64)


def _copy_into_temp(params, cur, table, cols, where, target):
    cur.execute("DROP TABLE IF EXISTS pg_temp.dental_sync_rows")
    cur.execute(f"CREATE TEMP TABLE dental_sync_rows (LIKE {target}) ON COMMIT DROP")
    return extract.copy_from_source(params, cur, "pg_temp.dental_sync_rows", table, cols, where, ordered=False)


def _merge_temp(cur, table: Table, target: str) -> int:
    """Replace raw rows by the temp table's (by key, anywhere in raw); returns rows removed first."""
    pk = quote_pg(table.primary_key)
    cur.execute(f"DELETE FROM {target} t USING pg_temp.dental_sync_rows s WHERE t.{pk} = s.{pk}")
    removed = cur.rowcount
    cur.execute(f"INSERT INTO {target} SELECT * FROM pg_temp.dental_sync_rows")
    return removed


def _keys_in(table: Table, keys: np.ndarray) -> str:
    return f"{extract.q(table.primary_key)} IN ({','.join(str(int(k)) for k in keys)})"


def sync_window(
    params: MySqlParams,
    pgconn,
    table: Table,
    window: Window | None,
    mode: str = "auto",
    schema: str = RAW_SCHEMA,
    attempts: int = 4,
) -> SyncResult:
    """Bring ``schema.table``'s rows in ``window`` up to date with the source, in one transaction on
    ``pgconn`` (committed on success, rolled back on error). ``mode``: ``auto`` (incremental when
    possible), ``full`` or ``incremental``. Source connection losses are retried ``attempts`` times
    (the whole window again, backoff 0.5 s doubling). Raises SourceConnectionLost, SourceQueryError,
    ValueError (schema drift the catalog cannot map) or psycopg2 errors."""
    cols = source_columns(params, table)

    def attempt() -> SyncResult:
        try:
            result = _sync_once(params, pgconn, table, window, mode, schema, cols)
            pgconn.commit()
            return result
        except BaseException:
            pgconn.rollback()
            raise

    return with_retries(attempt, attempts=attempts, what=f"sync {table.name}")


def _sync_once(params, pgconn, table, window, mode, schema, cols) -> SyncResult:
    started = time.perf_counter()
    target = _target(table, schema)
    pg_where = _pg_where(table, window)
    src_where = extract.window_where(table, window)
    pk = quote_pg(table.primary_key)
    with pgconn.cursor() as cur:
        added = ensure_raw_table(cur, table, cols, schema)
        watermark = None
        if mode != "full" and table.modified_column is not None and table.modified_column not in cols.missing:
            cur.execute(f"SELECT max({quote_pg(table.modified_column)}) FROM {target} WHERE {pg_where}")
            watermark = cur.fetchone()[0]
        if mode == "auto":
            mode = "incremental" if watermark is not None else "full"
        result = SyncResult(table.name, mode, columns_added=added)
        if mode == "full":
            cur.execute(f"DELETE FROM {target} WHERE {pg_where}")
            result.rows_deleted = cur.rowcount
            rows, stats = extract.copy_from_source(params, cur, target, table, cols, src_where,
                                                   _key_bounds(params, table))
            result.rows_copied = rows
            result.add_conversions(stats.conversions)
        else:
            mod = table.modified_column
            changed_where = src_where
            if watermark is not None:
                changed_where = f"({src_where}) AND {extract.q(mod)} >= '{watermark.isoformat(sep=' ')}'"
            rows, stats = _copy_into_temp(params, cur, table, cols, changed_where, target)
            result.add_conversions(stats.conversions)
            result.add_conversions({"zero_dates_to_null": _zero_date_nulls(
                cur, table, cols, "pg_temp.dental_sync_rows", "TRUE")} if rows else {})
            result.rows_copied += rows
            result.rows_deleted += _merge_temp(cur, table, target) if rows else 0
            # deletes (and rows inserted with an old timestamp): compare the window's keys, read from
            # both sides at once
            def source_count():
                conn = connect(params)
                try:
                    with conn.cursor() as mcur:
                        mcur.execute(f"SELECT COUNT(*), SUM({extract.q(table.primary_key)}) FROM "
                                     f"{extract.q(table.name)} WHERE {src_where}")
                        return tuple(int(v or 0) for v in mcur.fetchone())
                finally:
                    conn.close()

            with ThreadPoolExecutor(max_workers=1) as pool:
                counted = pool.submit(with_retries, source_count, what=f"{table.name} count")
                cur.execute(f"SELECT count(*), sum({pk}) FROM {target} WHERE {pg_where}")
                raw_count = tuple(int(v or 0) for v in cur.fetchone())
                source_count_sum = counted.result()
            if source_count_sum != raw_count:
                with ThreadPoolExecutor(max_workers=1) as pool:
                    keys = pool.submit(with_retries, lambda: extract.stream_keys(params, table, src_where),
                                       what=f"{table.name} keys")
                    raw_keys = _raw_keys(cur, target, pk, pg_where)
                    source_keys = keys.result()
                gone = np.setdiff1d(raw_keys, source_keys, assume_unique=True)
                new = np.setdiff1d(source_keys, raw_keys, assume_unique=True)
                for start in range(0, len(gone), 10_000):
                    cur.execute(f"DELETE FROM {target} WHERE {pk} = ANY(%s)", ([int(k) for k in gone[start:start + 10_000]],))
                    result.rows_deleted += cur.rowcount
                for start in range(0, len(new), 5_000):
                    rows, stats = _copy_into_temp(params, cur, table, cols, _keys_in(table, new[start:start + 5_000]),
                                                  target)
                    result.add_conversions(stats.conversions)
                    result.add_conversions({"zero_dates_to_null": _zero_date_nulls(
                        cur, table, cols, "pg_temp.dental_sync_rows", "TRUE")})
                    result.rows_copied += rows
                    result.rows_deleted += _merge_temp(cur, table, target)
        if mode == "full":
            result.add_conversions({"zero_dates_to_null": _zero_date_nulls(cur, table, cols, target, pg_where)})
        cur.execute(f"SELECT count(*) FROM {target} WHERE {pg_where}")
        result.rows_total = int(cur.fetchone()[0])
    result.seconds = time.perf_counter() - started
    return result


def verify_window(params: MySqlParams, pgconn, table: Table, window: Window | None,
                  schema: str = RAW_SCHEMA) -> tuple[bool, tuple[int, ...], tuple[int, ...]]:
    """Compare the content fingerprints of the source window and the raw window.
    Returns (equal, source tuple, raw tuple); tuples are (rows, int sum, string chars, date seconds,
    time seconds)."""
    cols = source_columns(params, table)

    def read():
        conn = connect(params)
        try:
            return fingerprint.source_content(conn, table, cols, window)
        finally:
            conn.close()

    source = with_retries(read, what=f"{table.name} check")
    with pgconn.cursor() as cur:
        raw = fingerprint.raw_content(cur, table, cols, window, schema)
    pgconn.rollback()
    return source == raw, source, raw

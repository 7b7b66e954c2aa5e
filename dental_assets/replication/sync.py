"""Bringing one raw table's window up to date with the source: full copy or incremental sync.

``sync_window`` is what a raw materialization of the MariaDB source does for one table and one window
(a partition or a range of them; None for an unpartitioned table). It works in one PostgreSQL
transaction, so a crash or a lost connection leaves raw as it was, and a re-run leaves the same data:

- **full** (raw has no rows in the window, or the table has no modified column): delete the window,
  COPY the source's window in (``extract.copy_from_source``).
- **incremental** (otherwise):
  1. *raw's side*: one binary COPY of the window's keys and modified timestamps gives raw's key set
     and the watermark (raw's latest modified timestamp in the window);
  2. *changed rows*: the source rows of the window modified at or after the watermark are copied
     into a temporary table and replace their keys in raw (a row whose business date moved to this
     window is removed from wherever it was); the same source session (same snapshot) then lists
     the window's primary keys;
  3. *deletes and stray inserts*: the key sets are compared in numpy: keys only in raw are deleted,
     keys only in the source are copied. Raw's key set is kept up to date through the merges, so
     the window is never counted again.

Each extraction reads the source in one snapshot; the key comparison of step 3 uses the snapshot of
step 2, so a change that lands afterwards is picked up by the next sync (the fingerprints still
differ), and the blocking check reports it meanwhile.

``SyncResult.steps`` gives the seconds of each step (for profiling and the benchmark).

``verify_window`` compares the content fingerprints of source and raw (see ``fingerprint``).
"""

from __future__ import annotations

import time
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
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step (profiling, the benchmark)

    def add_conversions(self, more: dict[str, int]) -> None:
        for key, value in more.items():
            if value:
                self.conversions[key] = self.conversions.get(key, 0) + value


def source_columns(params: MySqlParams, table: Table) -> extract.SourceColumns:
    """The columns to move, reconciled with the source's ``information_schema`` (schema drift), with
    the source's NOT NULL columns (which choose the plain-text read path). Raises ValueError when the
    source has no such table."""

    def read():
        conn = connect(params)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                    (table.name,),
                )
                return cur.fetchall()
        finally:
            conn.close()

    rows = with_retries(read, what=f"{table.name} columns")
    if not rows:
        raise ValueError(f"the source has no table {table.name}")
    types = {name: ctype for name, ctype, _ in rows}
    not_null = {name for name, _, nullable in rows if nullable == "NO"}
    return extract.effective_columns(table, types, not_null)


def _target(table: Table, schema: str) -> str:
    return f"{quote_pg(schema)}.{quote_pg(table.name)}"


def _pg_where(table: Table, window: Window | None, prefix: str = "") -> str:
    """PostgreSQL predicate of the window on raw's business date (``prefix``: a table alias and dot)."""
    if window is None or not table.partitioned:
        return "TRUE"
    return window.sql_predicate(prefix + quote_pg(table.business_date))


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


def _copy_into_temp(params, cur, table, cols, where, target, keys_where=None):
    cur.execute("DROP TABLE IF EXISTS pg_temp.dental_sync_rows")
    cur.execute(f"CREATE TEMP TABLE dental_sync_rows (LIKE {target}) ON COMMIT DROP")
    return extract.copy_from_source(params, cur, "pg_temp.dental_sync_rows", table, cols, where, ordered=False,
                                    keys_where=keys_where)


def _count_temp(cur, table, cols, result: SyncResult, rows: int, stats: extract.StreamStats) -> None:
    """Add the conversions of rows copied into the temp table to ``result``."""
    result.rows_copied += rows
    result.add_conversions(stats.conversions)
    if rows and not stats.counts_zero_dates:  # the CSV path: count the copied rows' NULL dates
        result.add_conversions({"zero_dates_to_null": _zero_date_nulls(
            cur, table, cols, "pg_temp.dental_sync_rows", "TRUE")})


def _merge_temp(cur, table: Table, window: Window | None, target: str,
                window_keys: np.ndarray) -> tuple[int, np.ndarray]:
    """Replace raw rows by the temp table's (by key, anywhere in raw). ``window_keys``: raw's keys in
    the window before. Returns (rows removed first, raw's keys in the window after)."""
    pk = quote_pg(table.primary_key)
    cur.execute(f"DELETE FROM {target} t USING pg_temp.dental_sync_rows s WHERE t.{pk} = s.{pk}")
    removed = cur.rowcount
    cur.execute(f"INSERT INTO {target} SELECT * FROM pg_temp.dental_sync_rows")
    cur.execute(f"SELECT {pk}, ({_pg_where(table, window)}) IS TRUE FROM pg_temp.dental_sync_rows")
    pairs = cur.fetchall()
    replaced = np.array([k for k, _ in pairs], dtype=np.int64)
    inside = np.array([k for k, w in pairs if w], dtype=np.int64)
    kept = np.setdiff1d(window_keys, replaced, assume_unique=True)
    return removed, np.union1d(kept, inside)


def _raw_keys_and_watermark(cur, target: str, pk: str, mod: str, where: str):
    """Raw's primary keys in the window (sorted int64 array) and the latest modified timestamp there
    (None when the window is empty or has no timestamp), from one binary COPY (26 bytes a row)."""
    import datetime as dt
    import io

    buffer = io.BytesIO()
    cur.copy_expert(f"COPY (SELECT {pk}::bigint, coalesce({mod}::timestamp, '-infinity') FROM {target} "
                    f"WHERE {where}) TO STDOUT (FORMAT binary)", buffer)
    data = buffer.getvalue()
    header, row = 19, np.dtype([("n", ">i2"), ("l1", ">i4"), ("k", ">i8"), ("l2", ">i4"), ("t", ">i8")])
    count, rest = divmod(len(data) - header - 2, row.itemsize)
    if rest or not data.startswith(b"PGCOPY\n\xff\r\n\x00"):
        raise ValueError(f"unexpected binary COPY layout from {target}")
    rows = np.frombuffer(data, dtype=row, count=count, offset=header)
    keys = np.sort(rows["k"].astype(np.int64))
    stamps = rows["t"]
    latest = int(stamps.max()) if count else None
    if latest is None or latest == np.iinfo(np.int64).min:  # '-infinity': every timestamp NULL
        return keys, None
    return keys, dt.datetime(2000, 1, 1) + dt.timedelta(microseconds=latest)


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
    steps: dict[str, float] = {}
    clock = [started]

    def lap(name: str) -> None:
        now = time.perf_counter()
        steps[name] = steps.get(name, 0.0) + now - clock[0]
        clock[0] = now

    target = _target(table, schema)
    pg_where = _pg_where(table, window)
    src_where = extract.window_where(table, window)
    pk = quote_pg(table.primary_key)
    mod = table.modified_column
    with pgconn.cursor() as cur:
        added = ensure_raw_table(cur, table, cols, schema)
        watermark, raw_keys = None, None
        if mode != "full" and mod is not None and mod not in cols.missing:
            # one read of raw's window: its keys and the watermark (kept up to date through the merges)
            raw_keys, watermark = _raw_keys_and_watermark(cur, target, pk, quote_pg(mod), pg_where)
            lap("raw_keys_watermark")
        if mode == "auto":
            mode = "incremental" if watermark is not None else "full"
        result = SyncResult(table.name, mode, columns_added=added, steps=steps)
        if mode == "full":
            cur.execute(f"DELETE FROM {target} WHERE {pg_where}")
            result.rows_deleted = cur.rowcount
            lap("delete_window")
            rows, stats = extract.copy_from_source(params, cur, target, table, cols, src_where,
                                                   _key_bounds(params, table))
            result.rows_copied = result.rows_total = rows
            result.add_conversions(stats.conversions)
            lap("copy")
            if not stats.counts_zero_dates:  # the CSV path: count the window's NULL dates
                result.add_conversions({"zero_dates_to_null": _zero_date_nulls(cur, table, cols, target, pg_where)})
                lap("zero_dates")
        else:
            if raw_keys is None:
                raw_keys = _raw_keys(cur, target, pk, pg_where)
            changed_where = src_where
            if watermark is not None:
                changed_where = f"({src_where}) AND {extract.q(mod)} >= '{watermark.isoformat(sep=' ')}'"
            # the changed rows, then the window's keys, in one source session (one snapshot)
            rows, stats = _copy_into_temp(params, cur, table, cols, changed_where, target, keys_where=src_where)
            _count_temp(cur, table, cols, result, rows, stats)
            window_keys = raw_keys
            if rows:
                removed, window_keys = _merge_temp(cur, table, window, target, raw_keys)
                result.rows_deleted += removed
            lap("changed_rows")
            source_keys = stats.keys
            if source_keys is None:  # the CSV path (or a one-column table): a session of its own, later
                source_keys = with_retries(lambda: extract.stream_keys(params, table, src_where),
                                           what=f"{table.name} keys")
            lap("source_keys")
            # deletes (and rows inserted with an old timestamp): keys only in raw, keys only in the source
            gone = np.setdiff1d(window_keys, source_keys, assume_unique=True)
            new = np.setdiff1d(source_keys, window_keys, assume_unique=True)
            lap("key_diff")
            for start in range(0, len(gone), 10_000):
                part = gone[start:start + 10_000]
                cur.execute(f"DELETE FROM {target} WHERE {pk} = ANY(%s)", ([int(k) for k in part],))
                result.rows_deleted += cur.rowcount
            window_keys = np.setdiff1d(window_keys, gone, assume_unique=True)
            lap("delete_gone")
            for start in range(0, len(new), 5_000):
                rows, stats = _copy_into_temp(params, cur, table, cols, _keys_in(table, new[start:start + 5_000]),
                                              target)
                _count_temp(cur, table, cols, result, rows, stats)
                removed, window_keys = _merge_temp(cur, table, window, target, window_keys)
                result.rows_deleted += removed
            lap("copy_new")
            result.rows_total = len(window_keys)
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

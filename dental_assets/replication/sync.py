"""Bringing one raw table's window up to date with the source: full copy or incremental sync.

``sync_window`` is what a raw materialization of the MariaDB source does for one table and one window
(a partition or a range of them; None for an unpartitioned table). It works in one PostgreSQL
transaction, so a crash or a lost connection leaves raw as it was, and a re-run leaves the same data:

- **full** (raw has no rows in the window, or the table has no modified column): delete the window,
  COPY the source's window in (``extract.copy_from_source``). When raw holds rows outside the window,
  the COPY goes through a temporary table whose keys are first deleted from raw wherever they are: a
  row re-dated into this window (from another month, or to a zero date) is still in raw under its old
  date.
- **incremental** (otherwise):
  1. *both sides' key buckets* (``buckets``: per 128 key values, the count and two xors): a source
     session computes the source's. Raw's and the watermark come from the window's record
     (``window_state``) when nothing has written the raw table since the last sync recorded it;
     otherwise one scan of raw's window gives its buckets, and the watermark is the recorded one
     while raw's key totals still match it, else raw's latest modified timestamp in the window (from
     the same scan);
  2. *changed rows*: the source rows of the window modified at or after the watermark minus the
     look-back (``lookback_seconds``: transactions that stamped before the last snapshot and
     committed after it) are copied
     into a temporary table and replace their keys in raw (a row whose business date moved to this
     window is removed from wherever it was); raw's buckets are updated in numpy;
  3. *deletes and stray inserts*: the two sides' buckets are compared: a bucket that differs by one
     row names its key outright; the keys of the other differing buckets are listed on both sides
     and compared in numpy. Keys only in raw are deleted, keys only in the source are copied.
     Nothing else of the window is read. The new watermark, key totals, buckets and check totals are
     recorded (the check totals kept from the rows each DELETE returns and the rows it inserts). A
     full copy drops the window's record; the check after it records the new copy
     (``record_window``).

Each extraction reads the source in one snapshot. Step 1's source buckets come from a snapshot taken
just before step 2's, so a key copied in step 2 is never taken for a delete; the key lists of step 3,
and the rows it copies, come from later sessions. A change that lands meanwhile is picked up by the
next sync (the fingerprints still differ), and the blocking check reports it meanwhile.

Every sync of a window drops the table's record of a plan's verification (``verified.forget``) in
its transaction: the next plan reads the table's fingerprints again.

``SyncResult.steps`` gives the seconds of each step (for profiling and the benchmark).

``verify_window`` compares the content fingerprints of source and raw (see ``fingerprint``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from dental_assets.catalog import DATE_KINDS, RAW_SCHEMA, Table, pg_create_table_sql, quote_pg
from dental_assets.partitions import Window
from dental_assets.replication import buckets, extract, fingerprint, verified, window_state
from dental_assets.replication.mysql import SOURCE_ATTEMPTS, MySqlParams, session, with_retries
from dental_assets.replication.verified import STATE_SCHEMA
from dental_assets.replication.window_state import WindowState
from dental_assets.warehouse import lock_raw_for_write, rollback_unless_lost


@dataclass
class SyncResult:
    """What ``sync_window`` did to one table's window (counts only, never values)."""

    table: str
    mode: str  # "full" | "incremental"
    rows_copied: int = 0  # rows read from the source and written
    rows_deleted: int = 0  # rows removed from raw (replaced window rows, or hard deletes)
    rows_gone: int = 0  # among rows_deleted: the rows removed because the source no longer has them (hard deletes)
    rows_total: int = 0  # rows in the raw window afterwards
    columns_added: list[str] = field(default_factory=list)
    # catalog columns whose source type is wider than raw's (``extract.SourceColumns.narrower_in_raw``)
    narrower_in_raw: list[str] = field(default_factory=list)
    # among them, date columns the source declares DATETIME or TIMESTAMP and raw still holds as date: a time
    # of day other than midnight there fails the table (``extract.SourceColumns.date_only_in_raw``)
    date_only_in_raw: list[str] = field(default_factory=list)
    # number columns whose source values raw's real, double precision or numeric(p,s) may round: such a
    # value fails the table (``extract.SourceColumns.rounded_in_raw``)
    rounded_in_raw: list[str] = field(default_factory=list)
    # date, datetime or timestamp columns the source declares another type (text): a value that is not a
    # date in raw's form fails the table (``extract.SourceColumns.text_as_date_in_raw``)
    text_as_date_in_raw: list[str] = field(default_factory=list)
    # raw's columns the source does not show, NULL in the rows the sync writes: catalog columns (an older
    # OpenDental, or no SELECT on them) and ``columns_dropped_at_source``
    columns_missing: list[str] = field(default_factory=list)
    # raw's columns beyond the catalog that the source does not show (an earlier sync added them from a
    # source column dropped since): the sync overwrites raw's values there with NULL
    columns_dropped_at_source: list[str] = field(default_factory=list)
    conversions: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step (profiling, the benchmark)
    changed_since: object = None  # incremental: the re-read rows' lower modified bound (datetime), else None
    keys_only: bool = False  # incremental without a modified column: only the rows added or removed moved
    buckets_recorded: bool = False  # incremental: raw's key buckets taken from the window's record, unread
    # incremental: the keys of the rows it wrote or found unchanged (the check reads raw's re-read rows by them)
    reread_keys: np.ndarray | None = field(default=None, repr=False)
    # the source's clock (naive UTC) read before the sync's first source read, when the table has a
    # modified column: rows stamped at or after it may be newer than what the sync read (the check
    # leaves them to the next sync)
    source_clock: object = None
    # without a modified column: the source's largest key then (keys only grow: rows added since are above)
    source_key_max: int | None = None

    def add_conversions(self, more: dict[str, int]) -> None:
        for key, value in more.items():
            if value:
                self.conversions[key] = self.conversions.get(key, 0) + value


def source_columns(params: MySqlParams, table: Table) -> extract.SourceColumns:
    """The columns to move, reconciled with the source's ``information_schema`` (schema drift), with
    the source's NOT NULL columns (which choose the plain-text read path). Raises ConfigurationError
    when the source has no such table, or lacks its primary key or business-date column."""
    return extract.read_source_columns(params, [table])[table.name]


LOOKBACK_ENV = "DENTAL_SYNC_LOOKBACK_SECONDS"
DEFAULT_LOOKBACK_SECONDS = 3600  # re-read an hour before the watermark: transactions up to an hour long


def lookback_seconds() -> int:
    """The look-back of the incremental read, in seconds (``DENTAL_SYNC_LOOKBACK_SECONDS``, default
    3600): rows modified at or after the watermark minus this are read again. A transaction stamps
    ``DateTStamp`` when it writes and becomes visible when it commits; one that wrote before the last
    sync's snapshot and committed after it is copied by the next sync when its write-to-commit time is
    shorter than the look-back. Raises ConfigurationError for a value that is not a whole number >= 0."""
    from dental_assets import settings

    return settings.sync_lookback_seconds()


def _target(table: Table, schema: str) -> str:
    return f"{quote_pg(schema)}.{quote_pg(table.name)}"


def _pg_where(table: Table, window: Window | None, prefix: str = "") -> str:
    """PostgreSQL predicate of the window on raw's business date (``prefix``: a table alias and dot)."""
    if window is None or not table.partitioned:
        return "TRUE"
    return window.sql_predicate(prefix + quote_pg(table.business_date))


def ensure_raw_table(cur, table: Table, cols: extract.SourceColumns, schema: str = RAW_SCHEMA) -> list[str]:
    """Create ``schema.table`` if missing, with the trigger that counts its writes
    (``window_state.count_writes``), and add the source's extra columns (never drops any); create the
    replication's state tables (``window_state.STATE_TABLE``, ``verified.VERIFIED_TABLE``) if missing.
    Returns the names of the columns added."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtext('dental_raw_ddl'))")
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_pg(schema)}")
    cur.execute(pg_create_table_sql(table, schema))
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {STATE_SCHEMA}")
    window_state.create_tables(cur)
    window_state.count_writes(cur, _target(table, schema))
    verified.create_state_table(cur)
    if not cols.extra:  # (the usual case: the query took 1.7 ms of a small table's sync)
        return []
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


def _raw_columns(cur, target: str) -> list[str] | None:
    """The column names of raw's ``target`` (a quoted, schema-qualified name), None when it does not
    exist: one catalog lookup by its oid."""
    cur.execute("SELECT c IS NULL, ARRAY(SELECT attname::text FROM pg_attribute "
                "WHERE attrelid = c AND attnum > 0 AND NOT attisdropped) FROM to_regclass(%s) AS c", (target,))
    absent, names = cur.fetchone()
    return None if absent else list(names)


def with_raw_column_types(cur, target: str, cols: extract.SourceColumns) -> extract.SourceColumns:
    """``cols`` with raw's own types for its columns the source widened (``SourceColumns.retyped``;
    ``target``: raw's table, quoted, schema-qualified, existing): a column widened by hand (docs/operations.md:
    a varchar made longer, a date to timestamp, a real to double precision) is then checked against raw's
    type, or not at all when that takes every value (its times, or its digits, then move as they are), and
    no longer named as narrower in raw. One catalog lookup, only when there are such columns."""
    if not cols.retyped:
        return cols
    cur.execute("SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                "to_regclass(%s) AND attnum > 0 AND NOT attisdropped AND attname = ANY(%s)",
                (target, sorted(r.name for r in cols.retyped)))
    return cols.with_raw_types(dict(cur.fetchall()))


def dropped_at_source(raw_columns: list[str] | None, cols: extract.SourceColumns) -> list[str]:
    """The names among ``raw_columns`` (raw's table's; None: no table yet) that are neither the catalog's
    nor the source's (``cols.columns``): columns an earlier sync added that the source has dropped since.
    Sorted. Pure."""
    moved = {c.name for c in cols.columns}
    return sorted(name for name in raw_columns or () if name not in moved)


def _zero_date_nulls(cur, table: Table, cols: extract.SourceColumns, target: str, where: str) -> int:
    dates = [c for c in cols.columns if c.kind in DATE_KINDS and c.name not in cols.missing]
    if not dates:
        return 0
    terms = " + ".join(f"({quote_pg(c.name)} IS NULL)::int" for c in dates)
    cur.execute(f"SELECT coalesce(sum({terms}), 0) FROM {target} WHERE {where}")
    return int(cur.fetchone()[0])


def _drop_primary_key(cur, target: str) -> bool:
    """Drop the primary key of ``target``, a table created empty in this transaction, so that its first
    COPY writes no index and the key is built once, sorted, when the caller adds it back (``ALTER TABLE
    ... ADD PRIMARY KEY``, in the same transaction: no other session ever sees the table without it).
    Returns whether there was one to drop."""
    cur.execute("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'", (target,))
    row = cur.fetchone()
    if row is None:
        return False
    cur.execute(f"ALTER TABLE {target} DROP CONSTRAINT {quote_pg(row[0])}")
    return True


def _source_row(params: MySqlParams, sql: str, what: str) -> tuple:
    """The one row ``sql`` returns, read on a source session (``mysql.session``; connection losses
    retried)."""
    def read():
        with session(params) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()

    return with_retries(read, what=what)


def _key_bounds(params: MySqlParams, table: Table) -> tuple[int | None, int | None]:
    pk = extract.q(table.primary_key)
    lo, hi = _source_row(params, f"SELECT MIN({pk}), MAX({pk}) FROM {extract.q(table.name)}",
                         f"{table.name} key bounds")
    return (int(lo) if lo is not None else None, int(hi) if hi is not None else None)


def _source_marks(params: MySqlParams, table: Table, cols: extract.SourceColumns) -> tuple[object, int | None]:
    """What the source holds before a sync's first read, for its check (``verify_window``): the server's
    clock now (``NOW()`` in a UTC session: the wall time DateTStamp holds, whole seconds) when the table
    has a modified column, else its largest key (None when empty)."""
    if fingerprint.modified_column(table, cols) is not None:
        return _source_row(params, "SELECT NOW()", f"{table.name} clock")[0], None
    _, key_max = _key_bounds(params, table)
    return None, key_max


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


def _count_temp(cur, table, cols, result: SyncResult, rows: int, stats: extract.StreamStats) -> None:
    """Add the conversions of rows copied into the temp table to ``result``."""
    result.rows_copied += rows
    result.add_conversions(stats.conversions)
    if rows and not stats.counts_zero_dates:  # the CSV path: count the copied rows' NULL dates
        result.add_conversions({"zero_dates_to_null": _zero_date_nulls(
            cur, table, cols, "pg_temp.dental_sync_rows", "TRUE")})


def _drop_unchanged(cur, target: str, pk: str, mod: str, before) -> np.ndarray:
    """Remove from the temp table the rows modified at or before ``before`` (raw's watermark: rows the
    look-back read again) that raw holds already, equal in every column; returns their keys. Raw's
    copies of those rows are then left as they are instead of being deleted and inserted again (a row
    edited without its timestamp differs, and is replaced). Only those rows are compared, so the rows
    edited since the last sync keep the merge's index-only join."""
    cur.execute(f"DELETE FROM pg_temp.dental_sync_rows s USING {target} t "
                f"WHERE s.{mod} <= %s AND t.{pk} = s.{pk} AND ROW(t.*) IS NOT DISTINCT FROM ROW(s.*) "
                f"RETURNING s.{pk}", (before,))
    return np.array([r[0] for r in cur.fetchall()], dtype=np.int64)


def _ints(values) -> tuple[int, ...]:
    return tuple(int(v) if v is not None else 0 for v in values)


def _plus(a: tuple[int, ...], b: tuple[int, ...], sign: int = 1) -> tuple[int, ...]:
    return tuple(x + sign * y for x, y in zip(a, b))


def _totals_columns(table: Table, cols: extract.SourceColumns, prefix: str = "") -> str:
    """The columns ``fingerprint.raw_totals_sql`` reads (for a DELETE's RETURNING; ``prefix``: an alias
    and dot)."""
    names = [table.primary_key, fingerprint.modified_column(table, cols),
             table.business_date if table.partitioned else None]
    return ", ".join(prefix + quote_pg(n) for n in dict.fromkeys(names) if n)


def _delete_counted(cur, table: Table, cols: extract.SourceColumns, sql: str, params=None,
                    where: str = "TRUE", alias: str = "") -> tuple[list[int], tuple[int, ...]]:
    """Run ``sql``, a DELETE on raw without a RETURNING clause (``alias``: raw's alias and dot in it);
    returns the keys it removed and the check totals (``fingerprint.raw_totals_sql``) of the removed
    rows matching ``where`` (on the removed rows, prefix ``d.``): what the window's record loses."""
    cur.execute(f"WITH d AS ({sql} RETURNING {_totals_columns(table, cols, alias)}) "
                f"SELECT coalesce(array_agg(d.{quote_pg(table.primary_key)}), '{{}}'), "
                f"{fingerprint.raw_totals_sql(table, cols, 'd.', where)} FROM d", params)
    keys, *totals = cur.fetchone()
    return keys, _ints(totals)


def _merge_changed(cur, table: Table, cols: extract.SourceColumns, window: Window | None, target: str,
                   raw: buckets.Buckets, totals: tuple[int, ...], mod: str | None, reread_before=None,
                   ) -> tuple[int, np.ndarray, buckets.Buckets, tuple[int, ...], object]:
    """Replace raw rows by the temp table's (by key, anywhere in raw), keeping raw's key buckets and
    check ``totals`` of the window up to date (the rows removed as the DELETE returns them, the rows
    added as the temp table holds them); with ``reread_before`` (raw's watermark), the rows modified at
    or before it that raw already holds unchanged are left alone (``_drop_unchanged``). Returns (rows
    removed first, the copied keys inside the window, the buckets after, the totals after, the latest
    ``mod`` timestamp of the rows written: those left alone are no later than ``reread_before``)."""
    pk = quote_pg(table.primary_key)
    unchanged = np.zeros(0, dtype=np.int64)
    if mod is not None and reread_before is not None:  # (their timestamps are no later than the watermark)
        unchanged = _drop_unchanged(cur, target, pk, mod, reread_before)
    cur.execute(f"SELECT {f'max(s.{mod})::timestamp' if mod else 'NULL'}, "
                f"{fingerprint.raw_totals_sql(table, cols, 's.', _pg_where(table, window, 's.'))} "
                f"FROM pg_temp.dental_sync_rows s")
    latest, *added = cur.fetchone()
    added = _ints(added)
    cur.execute(f"SELECT s.{pk}, ({_pg_where(table, window, 's.')}) IS TRUE, t.{pk} IS NOT NULL "
                f"FROM pg_temp.dental_sync_rows s LEFT JOIN {target} t "
                f"ON t.{pk} = s.{pk} AND ({_pg_where(table, window, 't.')}) IS TRUE")
    flags = np.array(cur.fetchall(), dtype=np.int64).reshape(-1, 3)
    keys, inside, was_inside = flags[:, 0], flags[:, 1] == 1, flags[:, 2] == 1
    removed_keys, removed = _delete_counted(
        cur, table, cols, f"DELETE FROM {target} t USING pg_temp.dental_sync_rows s WHERE t.{pk} = s.{pk}",
        where=_pg_where(table, window, "d."), alias="t.")
    cur.execute(f"INSERT INTO {target} SELECT * FROM pg_temp.dental_sync_rows")
    raw = raw.with_keys(keys[inside & ~was_inside]).with_keys(keys[~inside & was_inside], remove=True)
    totals = _plus(_plus(totals, removed, -1), added)
    # raw's unchanged rows: in the window
    return len(removed_keys), np.union1d(keys[inside], unchanged), raw, totals, latest


def _raw_buckets(cur, table: Table, cols: extract.SourceColumns, target: str, where: str, mod: str | None):
    """Raw's key buckets of the window, its watermark (latest modified timestamp; None when the window
    is empty or has none, or without ``mod``) and its check totals (``fingerprint.raw_totals_sql``),
    from one scan."""
    cur.execute(buckets.raw_sql(target, quote_pg(table.primary_key), where, mod,
                                more=fingerprint.raw_totals_sql(table, cols)))
    rows = cur.fetchall()
    first = 5 if mod else 4
    stamps = [r[4] for r in rows if r[4] is not None] if mod else []
    totals = tuple(sum(_ints(r[first + i] for r in rows)) for i in range(4))
    return buckets.Buckets.from_rows([r[:4] for r in rows]), (max(stamps) if stamps else None), totals


def _raw_watermark(cur, target: str, mod: str, where: str):
    """Raw's latest modified timestamp in the window (None when the window is empty or has none)."""
    cur.execute(f"SELECT max({mod})::timestamp FROM {target} WHERE {where}")
    return cur.fetchone()[0]


def _rows_outside(cur, target: str, where: str) -> bool:
    """Whether raw holds any row outside the window (``where``)."""
    cur.execute(f"SELECT EXISTS (SELECT 1 FROM {target} WHERE ({where}) IS NOT TRUE)")
    return bool(cur.fetchone()[0])


def _window_has_rows(cur, target: str, where: str) -> bool:
    cur.execute(f"SELECT EXISTS (SELECT 1 FROM {target} WHERE {where})")
    return bool(cur.fetchone()[0])


def record_window(cur, table: Table, cols: extract.SourceColumns, window: Window | None,
                  schema: str = RAW_SCHEMA) -> tuple[int, int, int, int] | None:
    """The window's check totals (``WindowState.check_totals``) for the check's raw side, on ``cur``
    (which the caller commits). When the window's record is current they are the record's. Otherwise,
    when the raw table counts its writes (``window_state.TRIGGER``), one scan of raw's window, under the
    table's write lock, gives its key buckets, watermark and check totals, recorded as the window's
    record (the watermark: the record's while its key totals still match raw's, else raw's latest
    modified timestamp, as ``sync_window`` does): after a full copy, which records nothing, the next
    sync starts from it. None when the replication's state tables are missing or the table does not
    count its writes (the check then reads every row)."""
    state_key, target, where = f"{schema}.{table.name}", _target(table, schema), _pg_where(table, window)
    if not window_state.counts_writes(cur, target):
        return None
    writes = window_state.lock_writes(cur, state_key)
    state = window_state.read(cur, state_key, where, target, writes)
    if state is not None and state.current:
        return state.check_totals
    mod = fingerprint.modified_column(table, cols)
    found, latest, totals = _raw_buckets(cur, table, cols, target, where, quote_pg(mod) if mod else None)
    if state is not None and state.totals == found.totals:
        latest = state.modified_max if mod else None
    window_state.write(cur, state_key, where, target, WindowState(latest, found.totals, found, totals))
    return totals


def _later(a, b):
    return b if a is None else a if b is None else max(a, b)


def _raw_keys_in_ranges(cur, target: str, pk: str, where: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Raw's keys in the window within the inclusive ranges ``lo[i]..hi[i]`` (sorted int64 array)."""
    cur.execute(f"SELECT {pk} FROM {buckets.joined_ranges(lo, hi, target, pk, mysql=False)} WHERE {where}")
    return np.sort(np.array([r[0] for r in cur.fetchall()], dtype=np.int64))


def _keys_in(table: Table, keys: np.ndarray) -> str:
    return f"{extract.q(table.primary_key)} IN ({','.join(str(int(k)) for k in keys)})"


def _key_difference(params: MySqlParams, cur, table: Table, target: str, src_where: str, pg_where: str,
                    source: buckets.Buckets, raw: buckets.Buckets, copied: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keys only in raw's window (``gone``) and only in the source's (``new``), from the key buckets
    (``buckets``) and the key lists of the buckets that differ by more than one row; the full key lists
    when keys are negative. ``copied``: the keys just copied from a later snapshot than ``source``'s,
    never gone."""
    pk_pg = quote_pg(table.primary_key)
    if not buckets.usable(source, raw):
        source_keys = with_retries(lambda: extract.stream_keys(params, table, src_where), what=f"{table.name} keys")
        raw_keys = _raw_keys(cur, target, pk_pg, pg_where)
        return np.setdiff1d(raw_keys, source_keys), np.setdiff1d(source_keys, raw_keys)
    diff = buckets.compare(source, raw)
    gone, new = np.setdiff1d(diff.gone, copied), diff.new
    if len(diff.lo):
        source_keys = with_retries(lambda: extract.stream_keys_in_ranges(params, table, src_where, diff.lo, diff.hi),
                                   what=f"{table.name} keys")
        raw_keys = _raw_keys_in_ranges(cur, target, pk_pg, pg_where, diff.lo, diff.hi)
        gone = np.union1d(gone, np.setdiff1d(raw_keys, source_keys))
        new = np.union1d(new, np.setdiff1d(source_keys, raw_keys))
    return gone, new


def sync_window(
    params: MySqlParams,
    pgconn,
    table: Table,
    window: Window | None,
    mode: str = "auto",
    schema: str = RAW_SCHEMA,
    attempts: int = SOURCE_ATTEMPTS,
    writer: str | None = None,
) -> SyncResult:
    """Bring ``schema.table``'s rows in ``window`` up to date with the source, in one transaction on
    ``pgconn`` (committed on success, rolled back on error). ``mode``: ``auto`` (incremental when
    possible), ``full`` or ``incremental``. Source connection losses are retried ``attempts`` times
    (the whole window again, backoff 0.5 s doubling). ``writer``: the token of the ``dental sync``
    doing it, whose claim on the table survives (``verified.forget``). Raises SourceConnectionLost,
    SourceQueryError, ValueError (schema drift the catalog cannot map) or psycopg2 errors."""
    # the columns' read is tried ``attempts`` times too (inside, its own retries give way to these)
    cols = with_retries(lambda: source_columns(params, table), attempts=attempts, what="source columns")

    def attempt() -> SyncResult:
        try:
            result = _sync_once(params, pgconn, table, window, mode, schema, cols, writer)
            pgconn.commit()
            return result
        except BaseException:
            rollback_unless_lost(pgconn)
            raise

    return with_retries(attempt, attempts=attempts, what=f"sync {table.name}")


@dataclass
class _Job:
    """What one sync of a table's window works with: the source, raw's transaction (``cur``), the
    window's predicates on both sides, and the clock of its steps (``lap``, ``SyncResult.steps``)."""

    params: MySqlParams
    cur: object
    table: Table
    cols: extract.SourceColumns
    window: Window | None
    target: str  # raw's quoted table
    state_key: str  # the window record's table name (``window_state``)
    pg_where: str  # the window on raw's business date
    src_where: str  # the window on the source's
    mod_pg: str | None  # raw's quoted modified column, None when the table (or the source) has none
    steps: dict[str, float]
    clock: float

    @property
    def pk(self) -> str:
        return quote_pg(self.table.primary_key)

    def lap(self, name: str) -> None:
        """Add the seconds since the last lap to step ``name``."""
        now = time.perf_counter()
        self.steps[name] = self.steps.get(name, 0.0) + now - self.clock
        self.clock = now


def _sync_once(params, pgconn, table, window, mode, schema, cols, writer=None) -> SyncResult:
    started = time.perf_counter()
    state_key = f"{schema}.{table.name}"
    # before any source read of this sync: a row stamped earlier (keyed lower) that the sync did not see
    # is a late commit
    source_clock, source_key_max = _source_marks(params, table, cols)
    with pgconn.cursor() as cur, contextlib.ExitStack() as stack:
        lock_raw_for_write(cur)  # after the dbt builds reading raw; none starts until this commits
        fingerprint.no_jit(cur)
        fingerprint.serial(cur)
        target = _target(table, schema)
        raw_columns = _raw_columns(cur, target)
        created = raw_columns is None  # raw's table is created in this transaction: its COPY can FREEZE
        dropped = dropped_at_source(raw_columns, cols)
        added = ensure_raw_table(cur, table, cols, schema)
        cols = with_raw_column_types(cur, target, cols)
        writes = window_state.lock_writes(cur, state_key)  # no other write to the table until commit
        job = _Job(params, cur, table, cols, window, target, state_key, _pg_where(table, window),
                   extract.window_where(table, window),
                   quote_pg(table.modified_column) if fingerprint.modified_column(table, cols) else None,
                   {}, started)
        source_query, raw = None, _RawSide(None, None, None, False)
        if mode == "incremental" or (mode == "auto" and _window_has_rows(cur, target, job.pg_where)):
            # the source's key buckets (its own session) while raw's are read
            source_query = stack.enter_context(extract.SourceQuery(params, buckets.source_sql(
                extract.q(table.name), extract.q(table.primary_key), job.src_where)))
            raw = _raw_side(job, writes)
            job.lap("raw_buckets")
        # a table without a modified column (securitylog, sheetfield...: OpenDental never stamps its
        # edits) moves only the keys added or removed; its edits are found by the check's sample and
        # the nightly backstop, as before (the plan's fingerprints never saw them either)
        keys_only = job.mod_pg is None and raw.buckets is not None
        if mode == "auto":
            mode = "incremental" if raw.watermark is not None or keys_only else "full"
        result = SyncResult(table.name, mode, columns_added=added, steps=job.steps, keys_only=keys_only,
                            buckets_recorded=raw.recorded, source_clock=source_clock,
                            source_key_max=source_key_max, narrower_in_raw=list(cols.narrower_in_raw),
                            date_only_in_raw=sorted(cols.date_only_in_raw), rounded_in_raw=sorted(cols.rounded_in_raw),
                            text_as_date_in_raw=sorted(cols.text_as_date_in_raw),
                            columns_missing=sorted(cols.missing | set(dropped)), columns_dropped_at_source=dropped)
        if mode == "full":
            stack.close()
            _full_copy(job, result, created)
        else:
            _incremental(job, result, source_query, raw)
        # raw is written: no longer what a plan verified (even when nothing moved: ``forget``)
        verified.forget(cur, [state_key], writer)
    result.seconds = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class _RawSide:
    """Raw's window before an incremental sync: its key ``buckets``, check ``totals``
    (``fingerprint.raw_totals_sql``), ``watermark`` (latest modified timestamp, or None) and whether
    they came from the window's record (``recorded``) rather than a scan."""

    buckets: buckets.Buckets | None
    totals: tuple[int, ...] | None
    watermark: object
    recorded: bool


def _raw_side(job: _Job, writes) -> _RawSide:
    """Raw's buckets, totals and watermark: from the window's record when nothing has written the raw
    table since the last sync recorded it; otherwise from one scan of raw's window, the watermark being
    the recorded one while raw's key totals still match it, else raw's latest modified timestamp."""
    cur, mod_pg = job.cur, job.mod_pg
    state = window_state.read(cur, job.state_key, job.pg_where, job.target, writes)
    if state is not None and state.current:  # nothing wrote the table since: raw is as recorded
        return _RawSide(state.buckets, state.check_totals, state.modified_max if mod_pg else None, True)
    if state is None or not mod_pg:  # raw's watermark (if any) from the same scan
        found, watermark, totals = _raw_buckets(cur, job.table, job.cols, job.target, job.pg_where, mod_pg)
        return _RawSide(found, totals, watermark, False)
    # the recorded watermark, while raw's window is still what the last sync left
    found, _, totals = _raw_buckets(cur, job.table, job.cols, job.target, job.pg_where, None)
    watermark = state.modified_max if found.totals == state.totals else \
        _raw_watermark(cur, job.target, mod_pg, job.pg_where)
    return _RawSide(found, totals, watermark, False)


def _full_copy(job: _Job, result: SyncResult, created: bool) -> None:
    """Replace raw's window by the source's (``result``: rows deleted, copied, total, conversions).
    ``created``: raw's table was created in this transaction (COPY with FREEZE, primary key built
    after)."""
    cur, table, cols, target, pk = job.cur, job.table, job.cols, job.target, job.pk
    cur.execute(f"DELETE FROM {target} WHERE {job.pg_where}")
    result.rows_deleted = cur.rowcount
    job.lap("delete_window")
    if job.pg_where != "TRUE" and _rows_outside(cur, target, job.pg_where):
        # raw holds other windows: a row whose business date moved into this window since they were
        # synced is still there under its old date. Copy through a temporary table and remove those
        # keys first (else COPY fails on the primary key).
        rows, stats = _copy_into_temp(job.params, cur, table, cols, job.src_where, target)
        cur.execute(f"DELETE FROM {target} t USING pg_temp.dental_sync_rows s WHERE t.{pk} = s.{pk}")
        result.rows_deleted += cur.rowcount
        cur.execute(f"INSERT INTO {target} SELECT * FROM pg_temp.dental_sync_rows")
    else:  # straight into raw: nothing else there
        key_after = created and _drop_primary_key(cur, target)
        rows, stats = extract.copy_from_source(job.params, cur, target, table, cols, job.src_where,
                                               _key_bounds(job.params, table), freeze=created)
        if key_after:
            cur.execute(f"ALTER TABLE {target} ADD PRIMARY KEY ({pk})")
    result.rows_copied = result.rows_total = rows
    result.add_conversions(stats.conversions)
    job.lap("copy")
    if not stats.counts_zero_dates:  # the CSV path: count the window's NULL dates
        result.add_conversions({"zero_dates_to_null": _zero_date_nulls(cur, table, cols, target, job.pg_where)})
        job.lap("zero_dates")
    # the window's record no longer holds: the check that follows records the new copy from the scan
    # of raw it makes anyway (``record_window``), while the source's side is read; without a check,
    # the next sync reads raw
    window_state.forget(cur, job.state_key, job.pg_where)


def _incremental(job: _Job, result: SyncResult, source_query, raw: _RawSide) -> None:
    """Steps 2 and 3 of the module docstring: the changed rows merged, then the deletes and stray
    inserts the key buckets find; records the window's new state (``window_state.write``)."""
    raw_buckets, raw_totals, watermark = raw.buckets, raw.totals, raw.watermark
    rows, copied = 0, np.zeros(0, dtype=np.int64)
    if not result.keys_only:
        rows = _copy_changed(job, result, watermark)
    job.lap("changed_rows")
    if rows:
        removed, copied, raw_buckets, raw_totals, latest = _merge_changed(
            job.cur, job.table, job.cols, job.window, job.target, raw_buckets, raw_totals, job.mod_pg,
            reread_before=watermark)
        result.rows_deleted += removed
        watermark = _later(watermark, latest)
    job.lap("merge")
    source_buckets = buckets.Buckets.parse(source_query.result())
    job.lap("source_buckets")
    # deletes (and rows inserted with an old timestamp): raw's window after the merge against the
    # source's, bucket by bucket
    gone, new = _key_difference(job.params, job.cur, job.table, job.target, job.src_where, job.pg_where,
                                source_buckets, raw_buckets, copied)
    job.lap("key_diff")
    raw_buckets, raw_totals = _delete_gone(job, result, gone, raw_buckets, raw_totals)
    job.lap("delete_gone")
    for start in range(0, len(new), 5_000):
        rows, stats = _copy_into_temp(job.params, job.cur, job.table, job.cols,
                                      _keys_in(job.table, new[start:start + 5_000]), job.target)
        _count_temp(job.cur, job.table, job.cols, result, rows, stats)
        removed, more, raw_buckets, raw_totals, latest = _merge_changed(
            job.cur, job.table, job.cols, job.window, job.target, raw_buckets, raw_totals, job.mod_pg)
        result.rows_deleted += removed
        copied = np.union1d(copied, more)
        watermark = _later(watermark, latest)
    job.lap("copy_new")
    result.rows_total, result.reread_keys = raw_buckets.total_rows, copied
    window_state.write(job.cur, job.state_key, job.pg_where, job.target,
                       WindowState(watermark, raw_buckets.totals, raw_buckets, raw_totals))


def _copy_changed(job: _Job, result: SyncResult, watermark) -> int:
    """Copy into the temp table the source's rows of the window modified at or after ``watermark``
    minus the look-back (transactions that stamped before the last snapshot and committed after it;
    every row of the window without a watermark); sets ``result.changed_since``. Returns the rows."""
    changed_where = job.src_where
    if watermark is not None:
        since = watermark - dt.timedelta(seconds=lookback_seconds())
        changed_where = (f"({job.src_where}) AND {extract.q(job.table.modified_column)} >= "
                         f"{fingerprint.sql_timestamp(since)}")
        result.changed_since = since
    rows, stats = _copy_into_temp(job.params, job.cur, job.table, job.cols, changed_where, job.target)
    _count_temp(job.cur, job.table, job.cols, result, rows, stats)
    return rows


def _delete_gone(job: _Job, result: SyncResult, gone: np.ndarray, raw_buckets: buckets.Buckets,
                 raw_totals: tuple[int, ...]) -> tuple[buckets.Buckets, tuple[int, ...]]:
    """Delete raw's rows keyed ``gone`` (gone from the source) in the window, 10,000 keys a statement;
    returns raw's buckets and check totals without them."""
    for start in range(0, len(gone), 10_000):
        part = gone[start:start + 10_000]
        keys, removed_totals = _delete_counted(job.cur, job.table, job.cols,
                                               f"DELETE FROM {job.target} WHERE {job.pk} = ANY(%s) AND {job.pg_where}",
                                               ([int(k) for k in part],))
        deleted = np.array(keys, dtype=np.int64)
        result.rows_deleted += len(deleted)
        result.rows_gone += len(deleted)
        raw_buckets = raw_buckets.with_keys(deleted, remove=True)
        raw_totals = _plus(raw_totals, removed_totals, -1)
    return raw_buckets, raw_totals


def check_scope(result: SyncResult | None, sample: int, residue: int | None = None) -> fingerprint.CheckScope:
    """The rows whose content the blocking check hashes after ``result``'s sync: the rows an incremental
    sync re-read (modified at or after ``result.changed_since``) and about one row in ``sample`` of the
    rest, by blocks of keys (``fingerprint.CheckScope.key_ranges``; ``residue``: which block of each
    ``sample``; random when None, so that successive syncs sample other rows). ``sample`` 1, or an
    incremental sync that re-read its whole window: every row (a keys-only sync of a table without a
    modified column, ``SyncResult.keys_only``, re-read nothing: the sample). Pure when ``residue`` is
    given; raises ValueError for ``sample`` < 1."""
    if sample < 1:
        raise ValueError(f"sample must be 1 or more, got {sample}")
    if sample == 1 or (result is not None and result.mode == "incremental" and result.changed_since is None
                       and not result.keys_only):
        return fingerprint.EVERY_ROW
    if residue is None:
        import secrets

        residue = secrets.randbelow(sample)
    since = result.changed_since if result is not None else None
    return fingerprint.CheckScope(since=since, sample=sample, residue=residue % sample)


def verify_window(params: MySqlParams, pgconn, table: Table, window: Window | None,
                  schema: str = RAW_SCHEMA, scope: fingerprint.CheckScope = fingerprint.EVERY_ROW,
                  reread_keys: np.ndarray | None = None, clock=None,
                  key_max: int | None = None) -> tuple[bool, tuple[int, ...], tuple[int, ...]]:
    """Compare the window's content fingerprints on the source and in raw (``fingerprint``): every row
    counted, its key and its modified timestamp summed (so a passed check is also the plan's
    fingerprint of the window, ``fingerprint.Fingerprint``), its business date summed (a row re-dated
    without its timestamp fails the check), and the content of ``scope``'s rows
    (default every row: every column of every row, ``fingerprint.row_hash_mysql``; a sample's key
    ranges come from the source's key bounds). Returns (equal, source tuple, raw tuple); tuples are
    (rows, sum of the keys, rows hashed, sum of their 60-bit row hashes, sum of the modified
    timestamps in seconds, sum of the business dates in days: ``fingerprint.combine_check``).

    ``clock``: the source's clock before the sync read it (``SyncResult.source_clock``). The source's
    rows stamped at or after it were written while the window was synced or checked, and may be newer
    than what the sync read: both sides leave them out (the source by their timestamp, raw by the keys
    the source lists in the same snapshot, ``fingerprint.later_keys_query``), and the next sync brings
    them. Without it, a busy practice's edits during the check fail it. What still fails it: a row
    deleted from the source, or a transaction that stamped before ``clock`` committing, after the sync
    read the window. ``key_max`` (``SyncResult.source_key_max``, a table without a modified column): the
    rows keyed above it are left out on both sides, as rows added since.

    When ``scope`` is a sample, raw's totals come from the window's record (``record_window``: kept by
    the incremental sync from the rows it removed and added, or recorded now from a scan of raw's window
    after a full copy or a write by another); its re-read rows are then read by ``reread_keys``
    (``SyncResult.reread_keys``). A record written here is committed; otherwise nothing is.
    The source's totals (every row of the window) and its hashed rows (through indexes) are read on two
    connections at once, each in its own snapshot, while raw is read."""
    cols = source_columns(params, table)
    ranges = None if scope.everything else scope.key_ranges(*_key_bounds(params, table))
    queries = fingerprint.source_check_queries(table, cols, window, scope, ranges, clock, key_max)
    later_sql = fingerprint.later_keys_query(table, cols, clock)
    parts = [queries[:1], queries[1:]] if len(queries) > 1 else [queries]
    listed = [Future() for _ in parts]  # each part's keys stamped after the clock, in its own snapshot

    def read(part: list[str], keys: Future) -> list[tuple[int, ...]]:
        with session(params) as conn:
            fingerprint.snapshot_start(conn)  # the part's queries see one state of the source
            with conn.cursor() as cur:
                if later_sql is not None:
                    cur.execute(later_sql)
                    found = np.array([r[0] for r in cur.fetchall()], dtype=np.int64)
                    if not keys.done():  # (a retry's list may differ: raw used the first)
                        keys.set_result(found)
                return fingerprint.run_queries(cur, part)

    def job(part: list[str], keys: Future) -> list[tuple[int, ...]]:
        try:
            return with_retries(lambda: read(part, keys), what=f"{table.name} check")
        finally:
            if not keys.done():  # failed before listing them: the error comes from this job
                keys.set_result(None)

    with ThreadPoolExecutor(max_workers=len(parts)) as pool:  # the source's parts and raw at once
        pending = [pool.submit(job, part, keys) for part, keys in zip(parts, listed)]
        try:
            with pgconn.cursor() as cur:
                fingerprint.no_jit(cur)
                fingerprint.serial(cur)
                totals = None if scope.everything else record_window(cur, table, cols, window, schema)
                later = None
                if later_sql is not None:
                    found = [keys.result() for keys in listed]
                    if any(f is None for f in found):
                        [future.result() for future in pending]  # raises the part's error
                    later = (found[0], found[-1])
                raw = fingerprint.raw_content(cur, table, cols, window, schema, scope, ranges, totals, reread_keys,
                                              later, key_max)
            pgconn.commit()  # the record, if one was written
        finally:
            rollback_unless_lost(pgconn)
        source = fingerprint.combine_check([row for future in pending for row in future.result()])
    return source == raw, source, raw

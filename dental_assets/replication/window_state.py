"""What a sync records about a raw window, and when the next sync may take it as raw's truth (issue 13).

Each sync of a window records, in the PostgreSQL transaction that writes it (``STATE_TABLE``, one row
per raw table and window):

- ``modified_max``: the latest modified timestamp of the rows it copied there (the next incremental
  read's watermark; NULL for a table without a modified column);
- the window's key totals (rows, xor of the keys, xor of the key hashes) and its key buckets
  (``buckets.Buckets``, packed as little-endian int64: ids, rows, xors, hashes);
- the blocking check's totals of the window (``fingerprint.raw_totals_sql``: sums of the keys, of the
  modified timestamps in seconds and of the business dates in days; since 2026-12-05): the check takes
  raw's side of them from the record (``sync.record_window``) instead of reading every row of the window;
- the raw table's write count and oid when it committed.

**Writes to raw are counted.** Every raw table the sync creates or writes carries a statement-level
trigger (``TRIGGER``) that adds one to the table's row of ``WRITES_TABLE`` after any INSERT, UPDATE,
DELETE or TRUNCATE, whoever runs it (the function is SECURITY DEFINER, so a role that may write raw
need not write the bookkeeping). A sync locks that row first (``lock_writes``), so no other write to the
table commits while it runs, and records the count its own writes left. The next sync finds the
recorded state **current** when the count and the table's oid are unchanged: nothing has written the
table since, and it was not dropped and re-created (a table created without the trigger, by the
synthetic writer say, has another oid). Then raw's key buckets, watermark and check totals are taken
from the record instead of a scan of raw's window (the scan cost ~2 s of a 50,000-patient incremental
sync, and the check's own ~1.8 s).

An incremental sync keeps the record from its own writes: the key buckets in numpy, the check totals
from the rows each DELETE returns and the rows it inserts, in SQL. A full copy drops its window's
record (``forget``); the blocking check that follows records the new copy from one scan of raw's
window (``sync.record_window``, under ``lock_writes``), which it reads anyway for raw's totals, while
the source's side of the check is read: at 50,000 patients that scan (grouped by bucket, with the
check's sums: 3.2 s over 9.9M rows) cost the first sync ~3 s more when the sync itself made it.

Otherwise (another window's sync, a write by hand, a new table) the sync reads raw's buckets from raw
and trusts the recorded watermark only while the window's key totals still match it, as before; the
check reads raw's totals from raw. A record that is wrong for any other reason (a bug in the
bookkeeping) shows as a blocking check that fails, whose whole-window copy records the window afresh.
A write that fires no trigger (``session_replication_role = replica``, a superuser's choice) is not
counted: until the next full copy or the nightly backstop's content comparison, the check compares
the source with the record, not with what that write left.

Imports no Dagster (``dental sync``'s fast path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dental_assets.replication.buckets import Buckets
from dental_assets.replication.verified import STATE_SCHEMA

STATE_TABLE = f"{STATE_SCHEMA}.raw_windows"  # one row per (raw table, window): ``WindowState``
WRITES_TABLE = f"{STATE_SCHEMA}.raw_writes"  # one row per raw table: its count of writing statements
WRITES_FUNCTION = f"{STATE_SCHEMA}.count_raw_write"
TRIGGER = "dental_raw_writes"
ADDED_COLUMNS = {"buckets": "bytea", "raw_writes": "bigint", "raw_oid": "oid",  # since 2026-12-05
                 "key_sum": "numeric", "modified_sum": "numeric", "date_sum": "numeric"}  # the check totals, later
# the trigger function's body; it runs as its owner (the role that first synced), so that any role
# allowed to write a raw table counts its write without rights on the bookkeeping
WRITES_BODY = f"""
BEGIN
    INSERT INTO {WRITES_TABLE} AS w VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, 1)
    ON CONFLICT (raw_table) DO UPDATE SET writes = w.writes + 1;
    RETURN NULL;
END
"""


@dataclass(frozen=True)
class WindowState:
    """A window's record: ``modified_max`` (datetime or None), ``totals`` (rows, xor of keys, xor of
    key hashes), ``buckets`` (None when not recorded), ``check_totals`` (the blocking check's totals
    of the window: rows, sum of the keys, of the modified timestamps in seconds, of the business dates
    in days, ``fingerprint.raw_totals_sql``; None when not recorded) and, as read back, ``current``: no
    write to the raw table since (``lock_writes``), and buckets and check totals recorded."""

    modified_max: object
    totals: tuple[int, int, int]
    buckets: Buckets | None = None
    check_totals: tuple[int, int, int, int] | None = None
    current: bool = False


def pack(buckets: Buckets) -> bytes:
    """The buckets as bytes: four little-endian int64 arrays, one after the other. Pure."""
    return np.stack([buckets.ids, buckets.rows, buckets.xors, buckets.hashes]).astype("<i8").tobytes()


def unpack(data: bytes) -> Buckets:
    """``pack``'s bytes as ``Buckets``. Raises ValueError when their length is not a multiple of 32."""
    if len(data) % 32:
        raise ValueError("a window's recorded buckets are not whole int64 quadruples")
    values = np.frombuffer(bytes(data), dtype="<i8").astype(np.int64).reshape(4, -1)
    return Buckets(*(values[i].copy() for i in range(4)))


def create_tables(cur) -> None:
    """Create ``STATE_TABLE`` and ``WRITES_TABLE`` if missing and the trigger function if missing or
    different (``WRITES_BODY``; ``STATE_SCHEMA`` must exist); add the columns of ``ADDED_COLUMNS`` to a
    state table created before them."""
    cur.execute(f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (raw_table text NOT NULL, window_sql text NOT NULL, "
                "modified_max timestamp, rows bigint NOT NULL, key_xor bigint NOT NULL, hash_xor bigint NOT NULL, "
                "buckets bytea, raw_writes bigint, raw_oid oid, key_sum numeric, modified_sum numeric, "
                "date_sum numeric, PRIMARY KEY (raw_table, window_sql))")
    cur.execute("SELECT array_agg(attname::text) FROM pg_attribute WHERE attrelid = %s::regclass "
                "AND attnum > 0 AND NOT attisdropped", (STATE_TABLE,))
    present = set(cur.fetchone()[0] or [])
    for name, kind in ADDED_COLUMNS.items():
        if name not in present:
            cur.execute(f"ALTER TABLE {STATE_TABLE} ADD COLUMN IF NOT EXISTS {name} {kind}")
    cur.execute(f"CREATE TABLE IF NOT EXISTS {WRITES_TABLE} (raw_table text PRIMARY KEY, writes bigint NOT NULL)")
    cur.execute("SELECT prosrc, prosecdef FROM pg_proc WHERE oid = to_regprocedure(%s)", (f"{WRITES_FUNCTION}()",))
    if cur.fetchone() != (WRITES_BODY, True):  # missing, or another version's
        cur.execute(f"CREATE OR REPLACE FUNCTION {WRITES_FUNCTION}() RETURNS trigger LANGUAGE plpgsql "
                    f"SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body${WRITES_BODY}$body$")


def count_writes(cur, target: str) -> None:
    """Put ``TRIGGER`` on ``target`` (a quoted ``schema.table``) if it lacks it."""
    cur.execute("SELECT NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = %s)",
                (target, TRIGGER))
    if cur.fetchone()[0]:
        cur.execute(f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {target} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION {WRITES_FUNCTION}()")


def lock_writes(cur, raw_table: str) -> int:
    """Lock ``raw_table``'s write count (``schema.table``) until the caller's transaction ends and
    return it: no other write to the table commits meanwhile (it waits on its trigger)."""
    cur.execute(f"INSERT INTO {WRITES_TABLE} VALUES (%s, 0) ON CONFLICT (raw_table) DO NOTHING", (raw_table,))
    cur.execute(f"SELECT writes FROM {WRITES_TABLE} WHERE raw_table = %s FOR UPDATE", (raw_table,))
    return int(cur.fetchone()[0])


def read(cur, raw_table: str, where: str, target: str, writes: int) -> WindowState | None:
    """The window's record (None when there is none); ``current`` when it was recorded at ``writes``
    (the count ``lock_writes`` returned) for the table that is ``target`` now."""
    cur.execute(f"SELECT modified_max, rows, key_xor, hash_xor, buckets, key_sum, modified_sum, date_sum, "
                f"raw_writes = %s AND raw_oid = %s::regclass "
                f"FROM {STATE_TABLE} WHERE raw_table = %s AND window_sql = %s", (writes, target, raw_table, where))
    row = cur.fetchone()
    if row is None:
        return None
    modified_max, rows, key_xor, hash_xor, packed, key_sum, modified_sum, date_sum, current = row
    sums = None if key_sum is None else (int(rows), int(key_sum), int(modified_sum), int(date_sum))
    return WindowState(modified_max, (int(rows), int(key_xor), int(hash_xor)),
                       unpack(packed) if packed is not None else None, sums,
                       bool(current) and packed is not None and sums is not None)


def counts_writes(cur, target: str) -> bool:
    """Whether ``target`` (a quoted ``schema.table``) carries ``TRIGGER`` and the state tables exist."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL AND EXISTS (SELECT 1 FROM "
                "pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname = %s)",
                (WRITES_TABLE, STATE_TABLE, target, TRIGGER))
    return bool(cur.fetchone()[0])


def forget(cur, raw_table: str, where: str) -> None:
    """Drop the window's record (a full copy replaces the window: the record no longer holds)."""
    cur.execute(f"DELETE FROM {STATE_TABLE} WHERE raw_table = %s AND window_sql = %s", (raw_table, where))


def write(cur, raw_table: str, where: str, target: str, state: WindowState) -> None:
    """Record ``state`` for the window, with the table's write count as the caller's own writes left it
    (the caller holds ``lock_writes``) and its oid."""
    cur.execute(f"SELECT writes FROM {WRITES_TABLE} WHERE raw_table = %s", (raw_table,))
    writes = int(cur.fetchone()[0])
    packed = pack(state.buckets) if state.buckets is not None else None
    sums = state.check_totals[1:] if state.check_totals is not None else (None, None, None)
    cur.execute(f"INSERT INTO {STATE_TABLE} (raw_table, window_sql, modified_max, rows, key_xor, hash_xor, buckets, "
                "key_sum, modified_sum, date_sum, raw_writes, raw_oid) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::regclass) "
                "ON CONFLICT (raw_table, window_sql) DO UPDATE SET modified_max = EXCLUDED.modified_max, "
                "rows = EXCLUDED.rows, key_xor = EXCLUDED.key_xor, hash_xor = EXCLUDED.hash_xor, "
                "buckets = EXCLUDED.buckets, key_sum = EXCLUDED.key_sum, modified_sum = EXCLUDED.modified_sum, "
                "date_sum = EXCLUDED.date_sum, raw_writes = EXCLUDED.raw_writes, raw_oid = EXCLUDED.raw_oid",
                (raw_table, where, state.modified_max, *state.totals, packed, *sums, writes, target))

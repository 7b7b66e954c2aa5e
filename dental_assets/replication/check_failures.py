"""Failed raw checks, kept in the warehouse until a passing check repairs them (``FAILURES_TABLE``).

A raw table's blocking check (``matches_source``) runs after its window's rows are committed, and the
staging models are views over raw, so a window that failed its check is what dbt reads next. Inside
the failing run Dagster stops the steps downstream of the check; nothing stops the next run: the raw
checks have no partitions, so the dbt models' automation condition (``ancestors_blocking_checks_passed``)
sees only each table's latest check, whatever its month (a later month's passing check hides an
earlier month's failure), and the nightly ``dbt_job`` does not look at checks at all.

So the verdict is recorded where it is known (``replicate.replicate_table``, which both the Dagster raw
assets and ``dental sync`` run, and the synthetic source's row-count check in ``defs/raw/assets.py``),
in a transaction of its own:

- a failed check adds (or refreshes) a row: the raw table, the window (a ``daterange`` on the business
  date, half-open like ``partitions.Window``; an unbounded lower end also holds the undated rows, an
  unpartitioned table's window is unbounded at both ends), when it failed, how many times since it
  was last clear, and both sides' row counts (counts only);
- a passing check removes what it covers of the table's rows (``uncovered``): a check of the same
  window, of a range holding it, of the whole table (a full refresh) clears it; a check of another
  month leaves it; a check of part of it leaves the rest (with the counts of the failed window).

Every dbt build in Dagster reads the rows of the raw tables it reads (``unrepaired``) and fails before
dbt starts while any is left (``blocking_text``; ``defs/dbt/assets.py``).

Every plan reads them too (``plan._fingerprints_both_sides``): the months of each failed window
(``failed_partitions``) are planned as changed, whatever the fingerprints say, so the change sensor's
next tick, the nightly backstop and the next ``dental sync`` (both paths) sync and check them again. A
difference that was transient (a write landing during every repair) leaves the two sides' fingerprints
equal, and nothing else would request the window: dbt stayed refused until an operator forced a sync.

Imports no Dagster (``dental sync``'s fast path).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from dental_assets.partitions import Window, month_window
from dental_assets.replication.verified import STATE_SCHEMA

FAILURES_NAME = "check_failures"
FAILURES_TABLE = f"{STATE_SCHEMA}.{FAILURES_NAME}"  # one row per raw table and failed window: ``CheckFailure``
_LOCK = "dental_check_failures"  # one writer at a time (a pass reads, splits and rewrites a table's rows)
EVERYTHING = Window(None, None)


@dataclass(frozen=True)
class CheckFailure:
    """A failed check not yet repaired: ``raw_table`` (``schema.table``), its ``window``
    (``EVERYTHING`` for an unpartitioned table), both sides' row counts then (None: not counted),
    ``failed_at`` (UTC, naive) and ``failures``: the checks of that window failed since it was last
    clear."""

    raw_table: str
    window: Window
    source_rows: int | None
    raw_rows: int | None
    failed_at: dt.datetime
    failures: int = 1


def uncovered(failed: Window, passed: Window) -> list[Window]:
    """What of ``failed`` a passing check of ``passed`` leaves unverified: ``[failed]`` when they do not
    overlap, ``[]`` when ``passed`` holds it, else the one or two pieces outside ``passed``. An open
    lower end (None) is below every date and holds the undated rows, an open upper end above every
    date (``partitions.Window``). Pure."""
    if not overlaps(failed, passed):
        return [failed]
    pieces = []
    if passed.lower is not None and (failed.lower is None or failed.lower < passed.lower):
        pieces.append(Window(failed.lower, passed.lower))
    if passed.upper is not None and (failed.upper is None or failed.upper > passed.upper):
        pieces.append(Window(passed.upper, failed.upper))
    return pieces


def overlaps(a: Window, b: Window) -> bool:
    """Whether the windows ``a`` and ``b`` share a date (or the undated rows: both open below). Pure."""
    return not ((a.upper is not None and b.lower is not None and a.upper <= b.lower)
                or (b.upper is not None and a.lower is not None and b.upper <= a.lower))


def failed_partitions(partitioned: bool, windows: Iterable[Window], partition_keys: list[str]) -> tuple[str, ...]:
    """The partitions that hold ``windows`` (a table's unrepaired failures), in ``partition_keys``'
    order: for an unpartitioned table ``("all",)``; else every month whose window (``month_window``: the
    first month open below, the last open above) overlaps one of them, so that the runs of those months
    (one per contiguous range, ``plan.run_groups``) cover each failed window whole and a passing check
    clears it (``uncovered``). Empty without windows. Pure."""
    windows = list(windows)
    if not windows:
        return ()
    if not partitioned:
        return ("all",)
    return tuple(key for key in partition_keys
                 if any(overlaps(month_window(key, key, partition_keys), w) for w in windows))


def _months(lower: dt.date, upper: dt.date) -> str | None:
    """``YYYY-MM`` or ``YYYY-MM..YYYY-MM`` for a window of whole months, else None."""
    if lower.day != 1 or upper.day != 1:
        return None
    first, last = lower.strftime("%Y-%m"), (upper - dt.timedelta(days=1)).strftime("%Y-%m")
    return first if first == last else f"{first}..{last}"


def window_text(window: Window) -> str:
    """A window in words, by month when it is whole months (the raw job's partition keys): ``all rows``,
    ``2026-06``, ``2026-01..2026-06``, ``months from 2026-06`` (later dates included), ``months up to
    2026-05`` (earlier and undated rows included); dates otherwise. Pure."""
    lower, upper = window.lower, window.upper
    if lower is None and upper is None:
        return "all rows"
    if lower is None:
        end = upper - dt.timedelta(days=1)
        return f"months up to {end.strftime('%Y-%m')}" if upper.day == 1 else f"dates before {upper.isoformat()}"
    if upper is None:
        return f"months from {lower.strftime('%Y-%m')}" if lower.day == 1 else f"dates from {lower.isoformat()}"
    return _months(lower, upper) or f"dates in [{lower.isoformat()}, {upper.isoformat()})"


def create_table(cur) -> None:
    """Create ``FAILURES_TABLE`` (and its schema) if missing."""
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {STATE_SCHEMA}")
    cur.execute(f"CREATE TABLE IF NOT EXISTS {FAILURES_TABLE} (raw_table text NOT NULL, "
                "failed_window daterange NOT NULL, source_rows bigint, raw_rows bigint, "
                "failed_at timestamptz NOT NULL DEFAULT now(), failures integer NOT NULL DEFAULT 1, "
                "PRIMARY KEY (raw_table, failed_window))")


def _exists(cur) -> bool:
    """Whether ``FAILURES_TABLE`` exists (read from the catalog: needs no right on its schema)."""
    cur.execute("SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s)", (STATE_SCHEMA, FAILURES_NAME))
    return bool(cur.fetchone()[0])


def record(conn, raw_table: str, window: Window | None, passed: bool,
           source_rows: int | None = None, raw_rows: int | None = None) -> None:
    """Record a ``matches_source`` verdict on ``raw_table``'s ``window`` (None: the whole table) in a
    transaction of its own on ``conn`` (committed; the caller has none open): a failure adds or
    refreshes its row (creating ``FAILURES_TABLE`` if missing), a pass removes what it covers of the
    table's rows (``uncovered``; nothing to do, one query, when the table does not exist)."""
    window = window or EVERYTHING
    with conn, conn.cursor() as cur:
        if passed and not _exists(cur):
            return
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_LOCK,))
        if not passed:
            create_table(cur)
            cur.execute(f"INSERT INTO {FAILURES_TABLE} AS f (raw_table, failed_window, source_rows, raw_rows) "
                        "VALUES (%s, daterange(%s::date, %s::date, '[)'), %s, %s) "
                        "ON CONFLICT (raw_table, failed_window) DO UPDATE SET source_rows = EXCLUDED.source_rows, "
                        "raw_rows = EXCLUDED.raw_rows, failed_at = now(), failures = f.failures + 1",
                        (raw_table, window.lower, window.upper, source_rows, raw_rows))
            return
        cur.execute(f"SELECT lower(failed_window), upper(failed_window), source_rows, raw_rows, failed_at, failures "
                    f"FROM {FAILURES_TABLE} WHERE raw_table = %s", (raw_table,))
        for lower, upper, src, raw, failed_at, failures in cur.fetchall():
            failed = Window(lower, upper)
            left = uncovered(failed, window)
            if left == [failed]:
                continue
            cur.execute(f"DELETE FROM {FAILURES_TABLE} WHERE raw_table = %s "
                        "AND failed_window = daterange(%s::date, %s::date, '[)')", (raw_table, lower, upper))
            for piece in left:
                cur.execute(f"INSERT INTO {FAILURES_TABLE} (raw_table, failed_window, source_rows, raw_rows, "
                            "failed_at, failures) VALUES (%s, daterange(%s::date, %s::date, '[)'), %s, %s, %s, %s) "
                            "ON CONFLICT (raw_table, failed_window) DO NOTHING",
                            (raw_table, piece.lower, piece.upper, src, raw, failed_at, failures))


def overlaps_unrepaired(conn, raw_table: str, window: Window | None) -> bool:
    """Whether ``window`` (None: the whole table) of ``raw_table`` shares a date with one of its failed
    checks not yet repaired (``unrepaired``), read in a transaction of its own on ``conn``: a check of
    that window must then hash every row (``replicate.replicate_table``), or a sample that missed the
    differing row would clear the failure."""
    window = window or EVERYTHING
    with conn, conn.cursor() as cur:
        return any(overlaps(f.window, window) for f in unrepaired(cur, [raw_table]))


def unrepaired(cur, raw_tables: Iterable[str] | None = None) -> list[CheckFailure]:
    """The failed checks not yet repaired, of ``raw_tables`` (``schema.table`` names; None: every
    table), by table and window; empty when ``FAILURES_TABLE`` does not exist (or no table is asked
    about: nothing is read). Raises psycopg2's InsufficientPrivilege when the session's role may not
    read it."""
    names = None if raw_tables is None else sorted(set(raw_tables))
    if names == [] or not _exists(cur):
        return []
    cur.execute(f"SELECT raw_table, lower(failed_window), upper(failed_window), source_rows, raw_rows, "
                f"failed_at AT TIME ZONE 'UTC', failures FROM {FAILURES_TABLE} "
                "WHERE %s::text[] IS NULL OR raw_table = ANY(%s::text[]) "
                "ORDER BY raw_table, lower(failed_window) NULLS FIRST", (names, names))
    return [CheckFailure(name, Window(lower, upper), src, raw, failed_at, failures)
            for name, lower, upper, src, raw, failed_at, failures in cur.fetchall()]


def _failure_text(failure: CheckFailure) -> str:
    """``raw.procedurelog 2026-06 (source 1,234 rows, raw 1,233; failed 2026-12-07 10:03 UTC)``:
    names, months, counts and a time, no value."""
    counts = []
    if failure.source_rows is not None and failure.raw_rows is not None:
        counts.append(f"source {failure.source_rows:,} rows, raw {failure.raw_rows:,}")
    times = f"{failure.failures}x, last " if failure.failures > 1 else ""
    counts.append(f"failed {times}{failure.failed_at:%Y-%m-%d %H:%M} UTC")
    return f"{failure.raw_table} {window_text(failure.window)} ({'; '.join(counts)})"


def blocking_text(failures: list[CheckFailure]) -> str:
    """The one line a dbt build fails with while ``failures`` are left: each table and window with its
    counts, what clears it and how to force that (no value)."""
    return ("dbt not run: the raw matches_source check failed, and no check has passed since, for "
            + "; ".join(_failure_text(f) for f in failures)
            + ". The staging views read raw as it is. A sync of that window whose check passes clears it "
            "(the next sync that brings the window; to force one, run raw_opendental_job for those months, or "
            "the reference tables, with full_refresh: true, or `dental sync --full-refresh`: docs/operations.md, "
            "When a raw check repairs or fails)")

"""Tables unchanged since they were verified equal: the plan's fast path when nothing changed (issue 13).

The plan (``plan.nothing_changed`` / ``plan.plan_tables``) compares per-month fingerprints, a GROUP BY
over every row of every table on both sides. Most tables do not change between two plans, and the
source says which ones might have: ``information_schema.TABLES.UPDATE_TIME``.

- **Threshold** (``Probe.threshold``, epoch seconds). Read in a source session before the plan's
  snapshot starts: ``min(UNIX_TIMESTAMP() - 1, oldest trx_started of information_schema.INNODB_TRX)``,
  whole seconds. A change the plan's snapshot does not see belongs to a transaction open at that read
  (listed, so it started at or after the threshold) or started later; InnoDB sets a table's
  UPDATE_TIME when such a transaction commits, to the time of its write, so at or after the
  threshold. The second subtracted from ``UNIX_TIMESTAMP()`` covers the 0.1 s for which InnoDB caches
  INNODB_TRX, and InnoDB's clock: UPDATE_TIME is stamped from the kernel's coarse clock, a tick
  behind ``UNIX_TIMESTAMP()`` (measured: a write in the first 3 ms of a second carries the second
  before). ``trx_started`` is the server's system-time-zone wall time (whatever the session's time
  zone): it is converted with ``CONVERT_TZ(.., 'SYSTEM', '+00:00')``, and an hour earlier when the
  system zone is not UTC (a local time in the hour a daylight-saving change repeats is ambiguous).
  Without the PROCESS privilege INNODB_TRX cannot be read: there is no threshold, every table is
  scanned, and one log line says so.
- **Record** (``VERIFIED_TABLE``, one row per raw table): a plan that scanned a table and found its
  source and raw per-month fingerprints equal records the threshold of its read, with the digest of
  the fingerprints and the source's identity. Any write to a raw table (``sync.sync_window``, the
  synthetic source's loads) drops the record in the same PostgreSQL transaction (``forget``), so a
  record describes raw as it was when verified. A plan writes its records in the transaction that read
  raw (REPEATABLE READ): a sync that dropped a record meanwhile makes that write fail, and nothing is
  recorded by that plan.
- **Skip** (``unchanged_tables``, pure). At the next plan, a table whose record's threshold is above
  its UPDATE_TIME (not NULL) has not been written on the source since, nor in raw: neither side is
  read, and it counts as equal. Everything else is scanned: no record, a NULL UPDATE_TIME (after a
  server restart, a table evicted from the dictionary cache, a partitioned table), an engine other
  than InnoDB and MyISAM (MyISAM: UPDATE_TIME is the data file's modification time; Aria caches
  pages, so its file time can lag a write), or no threshold now.

- **Claim and confirm** (``dental sync``: ``claim``, ``confirm``). A sync would otherwise leave every
  table it wrote to be read again by the next plan. ``dental sync`` gives its plan a token: the plan
  claims every table (compared, missing in raw, or skipped as verified) with its threshold, in the
  transaction of its records. The sync's own writes keep the claim (``forget`` with the token); any
  other write drops it. When every run of the sync succeeded, the sync records each claimed table
  with the plan's threshold: one it did not write (still recorded), or one whose blocking checks all
  passed (a passed check compares the window's count, key sum and modified-timestamp sum: the plan's
  fingerprints). The windows the sync did not write were equal at the plan's snapshot, the ones it
  wrote at the check's (later); a source change since the plan's threshold shows in UPDATE_TIME as
  above, so the next plan reads such a table anyway.

- **Written since** (``written_tables``, ``dental sync`` without Dagster runs only). A table whose
  UPDATE_TIME is ``WRITTEN_MARGIN_SECONDS`` or more after its record's threshold was written after the
  read that verified it: the plan reads neither side of it and plans it whole-range; its sync and its
  check (which also sums the business dates, so a silent re-date still fails it) compare it.

The nightly content backstop (``plan.plan_content``) never skips: it still compares every column of
every row, and finds what leaves no trace here (raw edited by hand, a source clock set back).

Imports no Dagster (``dental sync``'s fast path).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pymysql

from dental_assets.replication.mysql import MySqlParams, connect, is_connection_loss

log = logging.getLogger(__name__)

STATE_SCHEMA = "dental_sync"  # the replication's bookkeeping schema in the warehouse
VERIFIED_TABLE = f"{STATE_SCHEMA}.raw_verified"  # one row per raw table: ``Record``
# engines whose UPDATE_TIME moves with every write (InnoDB at commit, MyISAM the data file's time)
ENGINES = ("innodb", "myisam")
CLAIM_TAG = "dental/sync_claim"  # the run tag carrying a ``dental sync``'s token to its writes (``claim``)
ERR_UNKNOWN_VARIABLE = 1193  # MariaDB has no information_schema_stats_expiry


CLAIM_COLUMNS = ("claim", "claim_threshold", "claim_digest")


def create_state_table(cur) -> None:
    """Create ``VERIFIED_TABLE`` (and its schema) if missing: ``raw_table`` (``schema.table``),
    ``source`` (the source's identity, ``Probe.source``), ``threshold`` (epoch seconds; NULL: dropped),
    ``digest`` (``plan.TablePlan.digest`` when verified), ``verified_at``, and a ``dental sync``'s
    claim (``claim``: its token, ``claim_threshold``, ``claim_digest``); adds the claim columns to a
    table created before them."""
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {STATE_SCHEMA}")
    cur.execute(f"CREATE TABLE IF NOT EXISTS {VERIFIED_TABLE} (raw_table text PRIMARY KEY, source text, "
                "threshold bigint, digest text, verified_at timestamptz NOT NULL DEFAULT now(), "
                "claim text, claim_threshold bigint, claim_digest text)")
    _ready(cur)


def _ready(cur, create: bool = False) -> bool:
    """Whether ``VERIFIED_TABLE`` exists (created when missing and ``create``); a table created before
    the claim columns gets them."""
    cur.execute("SELECT array_agg(attname::text) FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                "AND attnum > 0 AND NOT attisdropped", (VERIFIED_TABLE,))
    names = cur.fetchone()[0]
    if not names:
        if create:
            create_state_table(cur)
        return create
    if not set(CLAIM_COLUMNS) <= set(names):
        cur.execute(f"ALTER TABLE {VERIFIED_TABLE} ADD COLUMN IF NOT EXISTS claim text, "
                    "ADD COLUMN IF NOT EXISTS claim_threshold bigint, ADD COLUMN IF NOT EXISTS claim_digest text")
    return True


@dataclass(frozen=True)
class Record:
    """A raw table verified equal to the source: ``threshold`` (epoch seconds) of the read that
    verified it, the ``digest`` of both sides' fingerprints then."""

    threshold: int
    digest: str


@dataclass(frozen=True)
class Probe:
    """What the source says before a plan's snapshot: ``threshold`` (epoch seconds, None without the
    PROCESS privilege), ``source`` (the server's ``@@hostname:@@port/DATABASE()``) and each table's
    ``update_times`` (epoch seconds by table name; None for NULL, an engine outside ``ENGINES``, a
    partitioned table or a table the source lacks)."""

    threshold: int | None
    source: str
    update_times: dict[str, int | None] = field(default_factory=dict)


def unchanged_tables(records: Mapping[str, int], update_times: Mapping[str, int | None],
                     threshold: int | None) -> set[str]:
    """The tables a plan can skip: those with a record (``records``: recorded threshold by table name)
    whose ``update_times`` entry is not None and below the recorded threshold, when this plan has a
    ``threshold`` at all and the record's is not above it (a record from the source's future: its
    clock went back). Pure."""
    if threshold is None:
        return set()
    return {name for name, recorded in records.items()
            if recorded <= threshold and update_times.get(name) is not None and update_times[name] < recorded}


# with no transaction open at the probe, the threshold is the second before it and the verifying read's
# snapshot starts in the probe's second or the next: a commit that read saw has an UPDATE_TIME at most
# 2 s after the threshold (InnoDB's coarse clock only lowers it), so a table written 3 s or more after
# it was written after that read (an open transaction pulls the threshold back: then some tables written
# before the read count as written too, which costs their sync, never a missed change; a write in the
# first milliseconds of the third second may carry the second before and is compared, as in the margin)
WRITTEN_MARGIN_SECONDS = 3


def written_tables(records: Mapping[str, int], update_times: Mapping[str, int | None],
                   threshold: int | None) -> set[str]:
    """The tables written on the source after a plan verified them equal: those with a record
    (``records``: recorded threshold by table name) whose ``update_times`` entry is not None and at
    least ``WRITTEN_MARGIN_SECONDS`` after the recorded threshold, when this plan has a ``threshold``
    and the record's is not above it. Such a table was (almost always) committed to after the read
    that verified it, so comparing its fingerprints would not spare its sync: ``dental sync`` syncs it
    whole-range without reading them (``plan._fingerprints_both_sides``). A table written in the
    margin (perhaps before the verifying read) is neither this nor ``unchanged_tables``: it is
    compared, as one with no record (right after a sync, the writes just before its plan cost no
    sync). Either class is safe: both end with the table compared to the source. Pure."""
    if threshold is None:
        return set()
    return {name for name, recorded in records.items()
            if recorded <= threshold and update_times.get(name) is not None
            and update_times[name] >= recorded + WRITTEN_MARGIN_SECONDS}


_warned_no_threshold = False


def probe(params: MySqlParams, tables: Iterable[str]) -> Probe:
    """Read the threshold, the source's identity and ``tables``' UPDATE_TIME (one query each, in a
    session of its own, before the plan's snapshot). Connection losses propagate (the caller retries);
    an INNODB_TRX that cannot be read (error 1227, no PROCESS privilege) gives no threshold, logged
    once per process."""
    global _warned_no_threshold
    names = list(tables)
    conn = connect(params)
    try:
        with conn.cursor() as cur:
            try:  # MySQL 8 caches UPDATE_TIME for a day unless told not to
                cur.execute("SET SESSION information_schema_stats_expiry = 0")
            except pymysql.err.MySQLError as exc:
                if is_connection_loss(exc) or exc.args[0] != ERR_UNKNOWN_VARIABLE:
                    raise
            cur.execute("SELECT UNIX_TIMESTAMP(), @@hostname, @@port, DATABASE()")
            now, host, port, database = cur.fetchone()
            threshold = None
            try:
                cur.execute("SELECT COUNT(*), UNIX_TIMESTAMP(CONVERT_TZ(MIN(trx_started), 'SYSTEM', '+00:00')), "
                            "@@system_time_zone FROM information_schema.INNODB_TRX")
                open_transactions, oldest, zone = cur.fetchone()
                if not open_transactions:
                    threshold = int(now) - 1
                elif oldest is not None:  # (None: a start time the server could not convert: no threshold)
                    oldest = int(oldest) - (0 if str(zone).upper() in ("UTC", "GMT", "") else 3600)
                    threshold = min(int(now) - 1, oldest)
            except pymysql.err.MySQLError as exc:
                if is_connection_loss(exc):
                    raise
                if not _warned_no_threshold:
                    _warned_no_threshold = True
                    log.warning("source: information_schema.INNODB_TRX not readable (error %s, the PROCESS "
                                "privilege): every table's fingerprints are read at each plan",
                                exc.args[0] if exc.args else "?")
            times: dict[str, int | None] = {}
            if names:
                cur.execute("SELECT TABLE_NAME, ENGINE, CREATE_OPTIONS, UNIX_TIMESTAMP(UPDATE_TIME) "
                            "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN %s",
                            (names,))
                for name, engine, options, updated in cur.fetchall():
                    usable = (str(engine or "").lower() in ENGINES and "partitioned" not in str(options or "")
                              and updated is not None)
                    times[name.lower()] = int(updated) if usable else None
    finally:
        conn.close()
    return Probe(threshold, f"{host}:{port}/{database}", {n: times.get(n.lower()) for n in names})


def read_records(cur, source: str, raw_tables: Iterable[str]) -> dict[str, Record]:
    """The records of ``raw_tables`` (``schema.table`` names) verified against ``source``, by name
    (empty when ``VERIFIED_TABLE`` does not exist)."""
    if not _ready(cur):
        return {}
    cur.execute(f"SELECT raw_table, threshold, digest FROM {VERIFIED_TABLE} WHERE raw_table = ANY(%s) "
                "AND source = %s AND threshold IS NOT NULL", (list(raw_tables), source))
    return {name: Record(int(threshold), digest) for name, threshold, digest in cur.fetchall()}


def record(cur, source: str, threshold: int, digests: Mapping[str, str]) -> None:
    """Record ``digests``' raw tables (``schema.table`` -> digest) as verified equal to ``source`` at
    ``threshold``, creating ``VERIFIED_TABLE`` if missing. Under REPEATABLE READ, raises
    psycopg2's SerializationFailure when a sync dropped one of the records after the transaction's
    snapshot (or LockNotAvailable when it still holds it after 5 s)."""
    if not digests:
        return
    _ready(cur, create=True)
    cur.execute("SET LOCAL lock_timeout = '5s'")
    names = sorted(digests)
    cur.execute(f"INSERT INTO {VERIFIED_TABLE} (raw_table, source, threshold, digest) "
                "SELECT n, %s, %s, d FROM unnest(%s::text[], %s::text[]) AS t(n, d) "
                "ON CONFLICT (raw_table) DO UPDATE SET source = EXCLUDED.source, threshold = EXCLUDED.threshold, "
                "digest = EXCLUDED.digest, verified_at = now()",
                (source, threshold, names, [digests[n] for n in names]))


def new_claim() -> str:
    """A token for one ``dental sync``'s claim on the tables its plan compares (``claim``)."""
    return uuid.uuid4().hex


def claim(cur, source: str, threshold: int, token: str, digests: Mapping[str, str],
          equal: Iterable[str] = ()) -> None:
    """Claim ``digests``' raw tables (``schema.table`` -> the digest to record when confirmed) for the
    ``dental sync`` whose token is ``token``, verified against ``source`` as of ``threshold`` if its
    sync succeeds (``confirm``); in the plan's transaction, after ``record``. A table not in ``equal``
    (the ones ``record`` just recorded) loses any record: only its passed checks can confirm it.
    Creates ``VERIFIED_TABLE`` if missing; raises as ``record`` on a conflict with a concurrent write."""
    if not digests:
        return
    _ready(cur, create=True)
    cur.execute("SET LOCAL lock_timeout = '5s'")
    names = sorted(digests)
    cur.execute(f"INSERT INTO {VERIFIED_TABLE} AS v (raw_table, source, claim, claim_threshold, claim_digest) "
                "SELECT n, %s, %s, %s, d FROM unnest(%s::text[], %s::text[]) AS t(n, d) "
                "ON CONFLICT (raw_table) DO UPDATE SET claim = EXCLUDED.claim, "
                "claim_threshold = EXCLUDED.claim_threshold, claim_digest = EXCLUDED.claim_digest, "
                "threshold = CASE WHEN v.source = EXCLUDED.source AND v.raw_table = ANY(%s) THEN v.threshold END, "
                "source = EXCLUDED.source",
                (source, token, threshold, names, [digests[n] for n in names], sorted(set(equal))))


def confirm(cur, token: str, checked: Iterable[str]) -> list[str]:
    """Record the tables ``token`` still claims as verified at their claim's threshold: those no write
    touched since the claim (still recorded) and those in ``checked`` (``schema.table`` names whose
    blocking checks all passed after this sync's writes). Every claim of ``token`` is released. Call
    only when every run of the sync succeeded. Returns the tables recorded, sorted."""
    if not _ready(cur):
        return []
    cur.execute(f"UPDATE {VERIFIED_TABLE} SET threshold = claim_threshold, digest = claim_digest, "
                "verified_at = now() WHERE claim = %s AND (threshold IS NOT NULL OR raw_table = ANY(%s)) "
                "RETURNING raw_table", (token, sorted(set(checked))))
    recorded = sorted(r[0] for r in cur.fetchall())
    release(cur, token)
    return recorded


def release(cur, token: str) -> None:
    """Drop every claim of ``token`` (a sync that did not confirm, or after ``confirm``)."""
    if not _ready(cur):
        return
    cur.execute(f"UPDATE {VERIFIED_TABLE} SET claim = NULL, claim_threshold = NULL, claim_digest = NULL "
                "WHERE claim = %s", (token,))


def forget(cur, raw_tables: Iterable[str], writer: str | None = None) -> None:
    """Drop the records of ``raw_tables`` (``schema.table`` names) in the caller's transaction, the one
    that writes them: each keeps a row with no threshold, so that a plan recording it concurrently
    fails (``record``). A claim (``claim``) survives only a write by its own ``dental sync``
    (``writer``, its token). Nothing to do when ``VERIFIED_TABLE`` does not exist."""
    names = sorted(set(raw_tables))
    if not names or not _ready(cur):
        return
    cur.execute(f"INSERT INTO {VERIFIED_TABLE} AS v (raw_table, threshold, digest) SELECT n, NULL, NULL "
                "FROM unnest(%s::text[]) AS t(n) ON CONFLICT (raw_table) DO UPDATE SET threshold = NULL, "
                "digest = NULL, verified_at = now(), claim = CASE WHEN v.claim = %s THEN v.claim END, "
                "claim_threshold = CASE WHEN v.claim = %s THEN v.claim_threshold END, "
                "claim_digest = CASE WHEN v.claim = %s THEN v.claim_digest END",
                (names, writer, writer, writer))

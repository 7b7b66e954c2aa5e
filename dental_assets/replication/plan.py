"""Which raw partitions differ from the source: the plan the change sensor, the backstop schedule and
``dental sync`` share.

For every table of the selection, one aggregate query on each side (``fingerprint``) gives the
per-partition fingerprints (the two sides are read at the same time); a partition is requested when
they differ. Unchanged partitions cost
nothing more. Contiguous changed partitions form a range, so a whole-history change is one run.
A table unchanged on both sides since a plan verified it equal is read on neither (``verified``);
for ``dental sync`` without Dagster runs (``sync_written``), neither is a table written on the source
since then: it lists every partition, and its sync and check compare it. The content comparison of
the nightly backstop (``plan_content``) reads every table.

A table with a failed ``matches_source`` check that no passing check has covered since
(``check_failures``) lists the months of each failed window as changed, whatever its fingerprints say
(a difference that was transient leaves them equal, and dbt would stay refused), and is neither skipped
as verified nor recorded verified: its runs' passing checks clear the failure and, for ``dental sync``,
confirm it (``verified.confirm``).
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg2

from dental_assets.catalog import RAW_SCHEMA, Table, quote_pg
from dental_assets.replication import check_failures, fingerprint, verified
from dental_assets.replication.extract import read_source_columns
from dental_assets.replication.mysql import MySqlParams, connect, with_retries
from dental_assets.warehouse import rollback_unless_lost

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TablePlan:
    """A table's changed partitions (``["all"]`` for a changed unpartitioned table) and a digest of
    both sides' fingerprints (stable while nothing changes: a table skipped as unchanged since it was
    verified keeps the digest recorded then). ``scanned``: False when neither side was read
    (``verified``: unchanged, or written since with ``sync_written``). A table with unrepaired failed
    checks (``Fingerprints.failed``) lists their months too, and its digest ends with ``!`` and theirs."""

    table: Table
    partitions: tuple[str, ...]
    digest: str
    scanned: bool = True


def _digest(source: dict, raw: dict | None) -> str:
    """16 hex digits of SHA-256 over both sides' fingerprints by month (``raw`` None: no raw table)."""
    text = repr((sorted(source.items()), None if raw is None else sorted(raw.items())))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _existing_raw_tables(pgconn, tables: list[Table]) -> set[str]:
    """The names of ``tables`` whose raw table exists (leaves ``pgconn`` rolled back)."""
    with pgconn.cursor() as cur:
        cur.execute("SELECT n FROM unnest(%s::text[], %s::text[]) AS t(n, q) WHERE to_regclass(q) IS NOT NULL",
                    ([t.name for t in tables], [f"{quote_pg(RAW_SCHEMA)}.{quote_pg(t.name)}" for t in tables]))
        names = {row[0] for row in cur.fetchall()}
    pgconn.rollback()
    return names


@dataclass(frozen=True)
class Fingerprints:
    """Both sides' per-month fingerprints of ``tables``, read at the same time (``nothing_changed``
    hands them on, so that ``dental sync`` does not read them twice). ``source`` and ``raw`` by table
    name (raw None: no raw table, source ``{}`` then, not read; or a skipped table); ``skipped``: the
    tables neither side was read of, unchanged since verified equal (``verified.unchanged_tables``),
    with their recorded digests; ``written``: the tables neither side was read of because the source
    was written since they were verified equal (``verified.written_tables``; only when asked,
    ``sync_written``), with a digest of that state: they are synced whole-range; ``failed``: the tables
    with a failed check no passing check has covered since (``check_failures.unrepaired``, read with
    raw), their windows by table name: never skipped, and planned whatever their fingerprints say.
    Truthy when every table is equal and none has a failure left (``unchanged``)."""

    tables: tuple[str, ...]
    source: dict
    raw: dict
    skipped: dict = field(default_factory=dict)
    written: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)

    @property
    def scanned(self) -> tuple[str, ...]:
        """The tables whose fingerprints were read (on both sides, or raw only when it has no table)."""
        return tuple(name for name in self.tables if name not in self.skipped and name not in self.written)

    @property
    def unchanged(self) -> bool:
        return (not self.written and not self.failed
                and all(self.raw[name] == self.source[name] for name in self.scanned))

    def __bool__(self) -> bool:
        return self.unchanged


def _key(name: str) -> str:
    """A raw table's name in ``verified``'s records."""
    return f"{RAW_SCHEMA}.{name}"


def _failed_windows(cur, names: list[str]) -> dict[str, tuple]:
    """The unrepaired failed checks of the raw tables ``names`` (``check_failures.unrepaired``), their
    windows by table name. Raises psycopg2's InsufficientPrivilege when the session's role may not read
    ``check_failures.FAILURES_TABLE`` (a plan must not take "cannot read" for "none")."""
    by_key = {_key(n): n for n in names}
    found: dict[str, list] = {}
    for failure in check_failures.unrepaired(cur, list(by_key)):
        found.setdefault(by_key[failure.raw_table], []).append(failure.window)
    return {name: tuple(windows) for name, windows in found.items()}


def _failed_digest(windows) -> str:
    """8 hex digits naming a table's failed windows (``TablePlan.digest``'s ``!`` suffix): the same
    while the same windows are left, whatever their counts and times, so a run key requests them once
    per state of the fingerprints (the nightly backstop requests without run keys)."""
    text = repr(sorted((w.lower is not None, w.lower, w.upper is None, w.upper) for w in windows))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _written_digest(record: verified.Record, update_time: int) -> str:
    """16 hex digits naming a table written on the source since its record (``Fingerprints.written``):
    the record's digest and the source's UPDATE_TIME, so that it differs from the recorded digest."""
    return hashlib.sha256(f"written:{record.digest}:{update_time}".encode()).hexdigest()[:16]


def _fingerprints_both_sides(params: MySqlParams, pgconn, tables: list[Table],
                             claim: str | None = None, sync_written: bool = False) -> Fingerprints:
    """Per-month fingerprints of ``tables`` read from the source (one snapshot, with retries) and from
    raw at the same time. A table missing from raw is None there and is not read from the source (it
    is copied whole: ``{}``), so a first sync does not scan the source once more before copying it. A
    table unchanged on both sides since a plan verified it equal is read on neither (``verified``);
    the tables found equal now are recorded, in the REPEATABLE READ transaction that read raw (not
    recorded when a sync wrote one of them meanwhile, or the state table cannot be written: logged).
    ``claim``: a ``dental sync``'s token; every table is claimed for it in the same transaction
    (``verified.claim``), with the digest its record gets when the sync confirms it (a skipped or equal
    table's own, else ``digest_after_sync``). ``sync_written``: a table written on the source since a
    plan verified it equal (``verified.written_tables``) is read on neither side either: it changed,
    and its sync (whole-range, ``plan_tables``) reads both sides anyway (``dental sync`` without
    Dagster runs, whose windows are not Dagster's partitions). A table with a failed check left
    (``check_failures``, read in the same transaction as raw) is compared as one without a record
    (never skipped, never taken as written) and is not recorded now, though equal: only its passing
    checks are. Leaves ``pgconn`` rolled back or
    committed. Raises ConfigurationError when the source lacks a table or a needed column."""
    cols = read_source_columns(params, tables)
    existing = _existing_raw_tables(pgconn, tables)
    names = [t.name for t in tables if t.name in existing]
    probe = with_retries(lambda: verified.probe(params, names), what="source update times")
    try:
        with pgconn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # raw and the records at one time
            fingerprint.serial(cur)
            records = verified.read_records(cur, probe.source, [_key(n) for n in names]) \
                if probe.threshold is not None else {}
            failed = _failed_windows(cur, [t.name for t in tables])
        # a table with a failed check left is read as one without a record: its windows are planned anyway
        recorded = {n: records[_key(n)].threshold for n in names if _key(n) in records and n not in failed}
        skip = verified.unchanged_tables(recorded, probe.update_times, probe.threshold)
        written = {n: _written_digest(records[_key(n)], probe.update_times[n])
                   for n in verified.written_tables(recorded, probe.update_times, probe.threshold)} \
            if sync_written else {}
        scan = [t for t in tables if t.name in existing and t.name not in skip and t.name not in written]

        def read_source() -> dict[str, dict]:
            conn = connect(params)
            try:
                fingerprint.snapshot_start(conn)
                return {t.name: fingerprint.source_fingerprints(
                    conn, t, has_modified=t.modified_column not in cols[t.name].missing) for t in scan}
            finally:
                conn.close()

        with ThreadPoolExecutor(max_workers=1) as pool:  # both sides at once
            pending = pool.submit(with_retries, read_source, what="source fingerprints")
            with pgconn.cursor() as cur:
                raws = {t.name: fingerprint.raw_fingerprints(cur, t) if t in scan else None for t in tables}
            source = pending.result()
        source = {t.name: source.get(t.name, {}) for t in tables}
        if probe.threshold is not None:
            digests = {_key(t.name): written[t.name] if t.name in written else _digest(source[t.name], raws[t.name])
                       for t in tables if t.name not in skip}
            equal = {_key(t.name): digests[_key(t.name)] for t in scan
                     if raws[t.name] == source[t.name] and t.name not in failed}
            claimed = {name: d if name in equal else digest_after_sync(d) for name, d in digests.items()}
            kept = {_key(n): records[_key(n)].digest for n in skip}  # equal since their record, and now
            claimed.update(kept)
            _record(pgconn, probe, equal, claim, claimed if claim else {}, {*equal, *kept})
        log.debug("plan: %d of %d tables unchanged since verified, %d written since, not read",
                  len(skip), len(tables), len(written))
        return Fingerprints(tuple(t.name for t in tables), source, raws,
                            {n: records[_key(n)].digest for n in sorted(skip)}, written, failed)
    finally:
        rollback_unless_lost(pgconn)


def digest_after_sync(digest: str) -> str:
    """The digest recorded for a table a ``dental sync`` wrote and confirmed (``verified.confirm``):
    derived from the plan's, and unlike it, so that a later run key never repeats the plan's."""
    return hashlib.sha256(f"synced:{digest}".encode()).hexdigest()[:16]


def _record(pgconn, probe: verified.Probe, digests: dict[str, str], claim: str | None = None,
            claimed: dict[str, str] | None = None, equal: set[str] = frozenset()) -> None:
    """``verified.record`` (and ``verified.claim`` of ``claimed`` for ``claim``, ``equal``: the tables
    found or known equal now) in the transaction that read raw, committed; on a conflict with a sync's
    write (or no right to write the state table) nothing is recorded or claimed, logged."""
    try:
        with pgconn.cursor() as cur:
            verified.record(cur, probe.source, probe.threshold, digests)
            if claim and claimed:
                verified.claim(cur, probe.source, probe.threshold, claim, claimed, equal)
        pgconn.commit()
    except psycopg2.Error as exc:
        rollback_unless_lost(pgconn)
        log.info("plan: %d tables verified equal not recorded, %d not claimed (%s): read again at the "
                 "next plan", len(digests), len(claimed or {}), type(exc).__name__)


def plan_tables(params: MySqlParams, pgconn, tables: list[Table], partition_keys: list[str],
                prefetched: Fingerprints | None = None, claim: str | None = None,
                sync_written: bool = False) -> list[TablePlan]:
    """The fingerprint comparison of every table (all of them, changed or not; a table skipped as
    unchanged since verified lists no partition, ``TablePlan.scanned`` False; with ``sync_written``, a
    table written on the source since verified lists every partition, unread, ``Fingerprints.written``;
    a table with a failed check left lists the months of each failed window too, ``Fingerprints.failed``).
    ``prefetched``: the fingerprints just read by ``nothing_changed`` for the same tables (else they are
    read now, claimed for ``claim``: ``_fingerprints_both_sides``)."""
    if prefetched is not None and prefetched.tables == tuple(t.name for t in tables):
        prints = prefetched
    else:
        prints = _fingerprints_both_sides(params, pgconn, tables, claim, sync_written)
    plans = []
    for table in tables:
        if table.name in prints.skipped:
            plan = TablePlan(table, (), prints.skipped[table.name], scanned=False)
        elif table.name in prints.written:
            every = tuple(partition_keys) if table.partitioned else ("all",)
            plan = TablePlan(table, every, prints.written[table.name], scanned=False)
        else:
            source, raw = prints.source[table.name], prints.raw[table.name]
            changed = fingerprint.changed_partitions(table, source, raw, partition_keys)
            plan = TablePlan(table, tuple(changed), _digest(source, raw))
        plans.append(_with_failed(plan, prints.failed.get(table.name, ()), partition_keys))
    return plans


def _with_failed(plan: TablePlan, windows, partition_keys: list[str]) -> TablePlan:
    """``plan`` with the partitions of its table's failed windows (``check_failures.failed_partitions``)
    added, in ``partition_keys``' order, and ``!`` and their digest (``_failed_digest``) after its
    digest; unchanged without windows. Pure."""
    if not windows:
        return plan
    extra = check_failures.failed_partitions(plan.table.partitioned, windows, partition_keys)
    if plan.table.partitioned:
        wanted = {*plan.partitions, *extra}
        partitions = tuple(k for k in partition_keys if k in wanted)
    else:
        partitions = ("all",)
    return TablePlan(plan.table, partitions, f"{plan.digest}!{_failed_digest(windows)}", plan.scanned)


def contiguous_ranges(keys: list[str], partition_keys: list[str]) -> list[tuple[str, str]]:
    """Group ``keys`` (a subset of ``partition_keys``) into maximal runs of adjacent partitions."""
    index = sorted(partition_keys.index(k) for k in set(keys))
    ranges: list[tuple[str, str]] = []
    for i in index:
        if ranges and partition_keys.index(ranges[-1][1]) == i - 1:
            ranges[-1] = (ranges[-1][0], partition_keys[i])
        else:
            ranges.append((partition_keys[i], partition_keys[i]))
    return ranges


@dataclass(frozen=True)
class RunGroup:
    """The tables one run of ``raw_opendental_job`` brings up to date: the changed reference tables
    (``first``/``last`` None: whole tables), or the partitioned tables changed in the contiguous months
    ``first``..``last`` (inclusive). ``plans`` in the order given (``plan_tables``: catalog order);
    ``digest`` joins theirs."""

    plans: tuple[TablePlan, ...]
    first: str | None = None
    last: str | None = None

    @property
    def tables(self) -> list[Table]:
        return [p.table for p in self.plans]

    @property
    def digest(self) -> str:
        return "-".join(p.digest for p in self.plans)


def run_groups(plans: list[TablePlan], partition_keys: list[str]) -> list[RunGroup]:
    """The runs that carry out ``plans``: one for the changed reference tables, then one per maximal
    range of contiguous changed months (``contiguous_ranges`` of every partitioned table's changed
    months), with the partitioned tables changed in it (each table's whole range: a month of the range
    it did not change is synced too, and finds little). The raw change sensor turns them into run
    requests; ``dental sync`` without ``DAGSTER_HOME`` does their work directly. Pure."""
    groups: list[RunGroup] = []
    reference = tuple(p for p in plans if not p.table.partitioned and p.partitions)
    if reference:
        groups.append(RunGroup(reference))
    changed = [p for p in plans if p.table.partitioned and p.partitions]
    for first, last in contiguous_ranges(sorted({k for p in changed for k in p.partitions}), partition_keys):
        span = set(partition_keys[partition_keys.index(first): partition_keys.index(last) + 1])
        groups.append(RunGroup(tuple(p for p in changed if span & set(p.partitions)), first, last))
    return groups


def nothing_changed(params: MySqlParams, pgconn, tables: list[Table],
                    claim: str | None = None, sync_written: bool = False) -> Fingerprints | None:
    """Whether every raw table exists and its per-month fingerprints (before folding into partitions)
    equal the source's, or it is unchanged on both sides since a plan verified it equal
    (``verified``): then no partition can differ and there is nothing to sync. The answer is the
    ``Fingerprints`` read, truthy in that case; falsy ("maybe": the caller runs the full plan, and
    ``plan_tables`` can take them instead of reading them again) when some table differs; None when a
    raw table does not exist yet (the source is not read then: a first sync plans everything anyway).
    Needs no Dagster import (``dental sync``'s fast path when nothing changed). ``claim``,
    ``sync_written``: as in ``_fingerprints_both_sides``. Raises ConfigurationError when the source
    lacks a table or a needed column."""
    if not tables or len(_existing_raw_tables(pgconn, tables)) < len(tables):
        read_source_columns(params, tables)  # a missing table or column is still reported first
        return None
    return _fingerprints_both_sides(params, pgconn, tables, claim, sync_written)


def plan_content(params: MySqlParams, pgconn, tables: list[Table], partition_keys: list[str]) -> list[TablePlan]:
    """The nightly backstop's comparison: every table's per-month *content* fingerprints (every column
    of every row hashed, ``fingerprint.source_content_months``) on both sides, read at the same time.
    A partition listed here differs in some value even if its cheap fingerprints agree (a value edited
    without its timestamp, a late commit older than the look-back): the backstop re-copies it whole.
    Costs one scan of every table on each side."""
    cols = read_source_columns(params, tables)

    def read_source() -> dict[str, dict]:
        conn = connect(params)
        try:
            fingerprint.snapshot_start(conn)
            return {t.name: fingerprint.source_content_months(conn, t, cols[t.name]) for t in tables}
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(with_retries, read_source, what="source content fingerprints")
        try:
            with pgconn.cursor() as cur:
                fingerprint.serial(cur)
                raws = {t.name: fingerprint.raw_content_months(cur, t, cols[t.name]) for t in tables}
        finally:
            rollback_unless_lost(pgconn)
        source = pending.result()
    plans = []
    for table in tables:
        changed = fingerprint.changed_content_partitions(table, source[table.name], raws[table.name], partition_keys)
        plans.append(TablePlan(table, tuple(changed), _digest(source[table.name], raws[table.name])))
    return plans

"""Which raw partitions differ from the source: the plan the change sensor, the backstop schedule and
``dental sync`` share.

For every table of the selection, one aggregate query on each side (``fingerprint``) gives the
per-partition fingerprints (the two sides are read at the same time); a partition is requested when
they differ. Unchanged partitions cost
nothing more. Contiguous changed partitions form a range, so a whole-history change is one run.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from dental_assets.catalog import RAW_SCHEMA, Table, quote_pg
from dental_assets.replication import fingerprint
from dental_assets.replication.extract import read_source_columns
from dental_assets.replication.mysql import MySqlParams, connect, with_retries


@dataclass(frozen=True)
class TablePlan:
    """A table's changed partitions (``["all"]`` for a changed unpartitioned table) and a digest of
    both sides' fingerprints (stable while nothing changes)."""

    table: Table
    partitions: tuple[str, ...]
    digest: str


def _existing_raw_tables(pgconn, tables: list[Table]) -> set[str]:
    """The names of ``tables`` whose raw table exists (leaves ``pgconn`` rolled back)."""
    with pgconn.cursor() as cur:
        cur.execute("SELECT n FROM unnest(%s::text[], %s::text[]) AS t(n, q) WHERE to_regclass(q) IS NOT NULL",
                    ([t.name for t in tables], [f"{quote_pg(RAW_SCHEMA)}.{quote_pg(t.name)}" for t in tables]))
        names = {row[0] for row in cur.fetchall()}
    pgconn.rollback()
    return names


def _fingerprints_both_sides(params: MySqlParams, pgconn, tables: list[Table]) -> tuple[dict, dict]:
    """Per-month fingerprints of ``tables`` read from the source (one snapshot, with retries) and from
    raw at the same time; returns ``(source, raw)`` by table name. A table missing from raw is None
    there and is not read from the source (it is copied whole: ``{}``), so a first sync does not scan
    the source once more before copying it. Leaves ``pgconn`` rolled back. Raises ConfigurationError
    when the source lacks a table or a needed column."""
    cols = read_source_columns(params, tables)
    existing = _existing_raw_tables(pgconn, tables)

    def read_source() -> dict[str, dict]:
        conn = connect(params)
        try:
            fingerprint.snapshot_start(conn)
            return {t.name: fingerprint.source_fingerprints(
                conn, t, has_modified=t.modified_column not in cols[t.name].missing) for t in tables
                if t.name in existing}
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=1) as pool:  # both sides at once
        pending = pool.submit(with_retries, read_source, what="source fingerprints")
        try:
            with pgconn.cursor() as cur:
                raws = {t.name: fingerprint.raw_fingerprints(cur, t) if t.name in existing else None
                        for t in tables}
        finally:
            pgconn.rollback()
        source = pending.result()
    return {t.name: source.get(t.name, {}) for t in tables}, raws


@dataclass(frozen=True)
class Fingerprints:
    """Both sides' per-month fingerprints of ``tables``, read at the same time (``nothing_changed``
    hands them on, so that ``dental sync`` does not read them twice)."""

    tables: tuple[str, ...]
    source: dict
    raw: dict


def plan_tables(params: MySqlParams, pgconn, tables: list[Table], partition_keys: list[str],
                prefetched: Fingerprints | None = None) -> list[TablePlan]:
    """The fingerprint comparison of every table (all of them, changed or not). ``prefetched``: the
    fingerprints just read by ``nothing_changed`` for the same tables (else they are read now)."""
    if prefetched is not None and prefetched.tables == tuple(t.name for t in tables):
        source, raws = prefetched.source, prefetched.raw
    else:
        source, raws = _fingerprints_both_sides(params, pgconn, tables)
    plans = []
    for table in tables:
        raw = raws[table.name]
        changed = fingerprint.changed_partitions(table, source[table.name], raw, partition_keys)
        digest = hashlib.sha256(repr((sorted(source[table.name].items()),
                                      None if raw is None else sorted(raw.items()))).encode())
        plans.append(TablePlan(table, tuple(changed), digest.hexdigest()[:16]))
    return plans


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


def nothing_changed(params: MySqlParams, pgconn, tables: list[Table]) -> bool | Fingerprints | None:
    """True when every raw table exists and its per-month fingerprints (before folding into
    partitions) equal the source's: then no partition can differ and there is nothing to sync.
    Otherwise a falsy answer ("maybe": the caller runs the full plan): None when a raw table does not
    exist yet (the source is not read then: a first sync plans everything anyway), else the
    ``Fingerprints`` read, which ``plan_tables`` can take instead of reading them again (its
    ``__bool__`` is False). Needs no Dagster import (``dental sync``'s fast path when nothing
    changed). Raises ConfigurationError when the source lacks a table or a needed column."""
    if not tables or len(_existing_raw_tables(pgconn, tables)) < len(tables):
        read_source_columns(params, tables)  # a missing table or column is still reported first
        return None
    source, raws = _fingerprints_both_sides(params, pgconn, tables)
    if all(raws[t.name] == source[t.name] for t in tables):
        return True
    return _Changed(tuple(t.name for t in tables), source, raws)


class _Changed(Fingerprints):
    """``Fingerprints`` that differ: falsy, so ``if nothing_changed(...)`` reads as before."""

    def __bool__(self) -> bool:
        return False


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
                raws = {t.name: fingerprint.raw_content_months(cur, t, cols[t.name]) for t in tables}
        finally:
            pgconn.rollback()
        source = pending.result()
    plans = []
    for table in tables:
        changed = fingerprint.changed_content_partitions(table, source[table.name], raws[table.name], partition_keys)
        digest = hashlib.sha256(repr((sorted(source[table.name].items()),
                                      None if raws[table.name] is None else sorted(raws[table.name].items()))).encode())
        plans.append(TablePlan(table, tuple(changed), digest.hexdigest()[:16]))
    return plans

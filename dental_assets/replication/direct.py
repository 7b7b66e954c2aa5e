"""``dental sync`` without ``DAGSTER_HOME``: the planned runs' work done directly, without Dagster.

No instance would keep the runs' records, so nothing here imports Dagster (its modules took ~1.5 s of
every sync's start-up, docs/replication.md, *Figures*). The work is the same as the raw change
sensor's runs: the same plan (``plan.plan_tables``) grouped into the same runs (``plan.run_groups``:
the reference tables, then one window per range of contiguous changed months), and the same database
work per run as the raw assets' step (``replicate.replicate_tables``: sync, indexes, statistics, the
``matches_source`` check, a whole re-copy after a failed incremental check). One difference: a table
written on the source since a plan verified it equal is planned over its whole range without its
fingerprints being read (``verified.written_tables``; no Dagster partition records the windows).
As in every plan, the months of a failed ``matches_source`` check left (``check_failures``) are planned
as changed (``plan.plan_tables``), so this sync checks them again and a pass clears the failure.

``SyncReport`` and its printing serve ``defs/raw/sync_command.run_sync`` too (with ``DAGSTER_HOME``).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field

import psycopg2

from dental_assets import settings
from dental_assets.catalog import RAW_SCHEMA, Table, raw_tables
from dental_assets.partitions import Window, month_keys, month_window
from dental_assets.replication import verified
from dental_assets.replication.plan import plan_tables, run_groups
from dental_assets.roles import layer_session

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    """Per-table outcome of a ``dental sync``: ``tables[name] = {mode, rows_copied, rows_replaced,
    rows_deleted, seconds}`` (replaced: raw's rows rewritten by the copy, a whole window's in a full copy;
    deleted: rows removed because the source no longer has them); ``failed_checks`` lists tables whose
    check failed; ``failed_runs`` counts failed runs."""

    runs: int = 0
    tables: dict[str, dict] = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)
    failed_runs: int = 0
    check_seconds: float = 0.0  # the matches_source checks' time, all tables
    checked: set[str] = field(default_factory=set)  # tables with a check evaluation
    verified: int = 0  # tables recorded verified after the sync (``replication.verified.confirm``)

    @property
    def ok(self) -> bool:
        return not self.failed_checks and not self.failed_runs

    def add_table(self, name: str, mode: str, copied: int, replaced: int, deleted: int, seconds: float) -> None:
        """Add a table's sync (a range run's tables are added once per run)."""
        entry = self.tables.setdefault(name, {"mode": "", "rows_copied": 0, "rows_replaced": 0, "rows_deleted": 0,
                                              "seconds": 0.0})
        entry["mode"] = mode
        entry["rows_copied"] += copied
        entry["rows_replaced"] += replaced
        entry["rows_deleted"] += deleted
        entry["seconds"] += seconds

    def add_check(self, name: str, passed: bool, seconds: float) -> None:
        """Add a table's ``matches_source`` evaluation."""
        self.check_seconds += seconds
        self.checked.add(name)
        if not passed and name not in self.failed_checks:
            self.failed_checks.append(name)

    def print(self, out, direct: bool) -> None:
        """One line per table (mode, rows copied, raw's rows replaced, rows deleted at the source, seconds),
        the checks' seconds, and the failed runs (``direct``: their errors were printed above; else they are
        in Dagster's event log)."""
        for name, entry in sorted(self.tables.items()):
            flag = "  CHECK FAILED" if name in self.failed_checks else ""
            print(f"{name:<22} {entry['mode']:<12} {entry['rows_copied']:>10,} copied "
                  f"{entry['rows_replaced']:>10,} replaced {entry['rows_deleted']:>8,} deleted "
                  f"{entry['seconds']:8.2f} s{flag}", file=out)
        if self.tables:
            print(f"checks: {self.check_seconds:.2f} s", file=out)
        if self.failed_runs:
            where = "see the lines above" if direct else "see the Dagster event log"
            print(f"{self.failed_runs} run(s) failed: {where}", file=out)


def settle_claim(warehouse, claim: str, report: SyncReport) -> None:
    """After the runs: confirm ``claim`` (``verified.confirm``) when every run succeeded, recording the
    tables whose checks all passed; else release it. ``warehouse``: anything whose ``connect()`` gives a
    psycopg2 connection. A warehouse error here is logged, not raised (the next plan reads those tables
    again)."""
    try:
        conn = layer_session(warehouse, RAW_SCHEMA)  # as the loader (``roles.act_as_layer``)
    except Exception as exc:  # the runs already reported their own errors
        log.info("dental sync: claim not settled (%s)", type(exc).__name__)
        return
    try:
        with conn, conn.cursor() as cur:
            if report.ok:
                checked = [f"{RAW_SCHEMA}.{name}" for name in report.checked - set(report.failed_checks)]
                report.verified = len(verified.confirm(cur, claim, checked))
            else:
                verified.release(cur, claim)
    except psycopg2.Error as exc:
        log.info("dental sync: claim not settled (%s): the next plan reads the tables", type(exc).__name__)
    finally:
        conn.close()


@dataclass(frozen=True)
class Work:
    """One planned run's work: its tables in catalog order, its row window (None: whole tables, the
    reference tables' run) and its sync mode (``auto``, or ``full`` for a full refresh)."""

    tables: list[Table]
    window: Window | None
    mode: str = "auto"


def planned_work(plans, keys: list[str]) -> list[Work]:
    """``plans`` as the runs ``plan.run_groups`` groups them, each with the window its raw assets would
    read from the run (``month_window`` of its months; None for the reference tables). Pure."""
    return [Work(group.tables, None if group.first is None else month_window(group.first, group.last, keys))
            for group in run_groups(plans, keys)]


def full_refresh_work(keys: list[str]) -> list[Work]:
    """Every raw table re-copied whole: the reference tables, then the partitioned ones over every
    month (as ``sync_command.full_refresh_requests``' two runs). Pure."""
    tables = raw_tables()
    return [Work([t for t in tables if not t.partitioned], None, "full"),
            Work([t for t in tables if t.partitioned], month_window(keys[0], keys[-1], keys), "full")]


def _do(work: Work, params, warehouse, claim: str, report: SyncReport, out) -> None:
    """One run's work, added to ``report``, every table checked. A table's error fails the run as it
    fails the raw assets' step: a table's own error (``replicate.table_error``: a value raw refuses, the
    table's schema at the source) after the run's other tables are synced, naming each failed table on
    a line of its own (``replicate.TablesFailed``); any other error (a lost connection) at once, the
    tables after it not synced. The error's type and message (codes and keys, no values) are printed,
    and the next run goes on."""
    from dental_assets.replication.replicate import column_warnings, repair_text, replicate_tables

    try:
        for done in replicate_tables(params, warehouse, work.tables, work.window, work.mode,
                                     {t.name for t in work.tables}, settings.sync_check_sample(), claim):
            result = done.result
            report.add_table(result.table, result.mode, result.rows_copied, result.rows_deleted - result.rows_gone,
                             result.rows_gone, result.seconds)
            for warning in column_warnings(result):
                print(warning, file=out)
            if done.check is not None:
                equal, *_, synced_again, repaired, seconds = done.check
                if synced_again or repaired:
                    print(f"raw.{result.table}: {repair_text(synced_again, repaired)}", file=out)
                report.add_check(result.table, equal, seconds)
    except Exception as exc:  # as Dagster fails the step: reported, and the other runs go on
        report.failed_runs += 1
        print(f"run {report.runs} failed: {type(exc).__name__}: {exc}", file=out)


def sync_directly(out=None, full_refresh: bool = False, prefetched=None, claim: str | None = None) -> SyncReport:
    """Plan and do ``dental sync``'s work in this process, with the source of ``OPENDENTAL_URL`` and
    the warehouse of ``DENTAL_WAREHOUSE_URL`` (else the embedded one), printing to ``out`` (default
    stdout) one line per table and the checks' seconds. ``full_refresh``: every table re-copied whole
    (``full_refresh_work``); ``prefetched``: the fingerprints the no-change check just read
    (``plan.nothing_changed``); ``claim``: the token the plan claims the tables for (a new one when
    None); when every run succeeds, the tables written and checked are recorded verified
    (``verified.confirm``). Raises ConfigurationError for a bad setting, ValueError when the source is
    not MariaDB (``DENTAL_SOURCE`` other than ``opendental``)."""
    from dental_assets.warehouse import resolve

    kind = settings.source_kind()
    if kind != "opendental":
        raise ValueError(f"source {kind!r} has no change detection (DENTAL_SOURCE=opendental has)")
    params = settings.source_params(settings.opendental_url())
    warehouse = resolve(os.environ.get("DENTAL_WAREHOUSE_URL"), os.environ.get("DENTAL_HOME"))
    out = out or sys.stdout
    claim = claim or verified.new_claim()
    keys = month_keys()
    conn = layer_session(warehouse, RAW_SCHEMA)  # the plan writes dental_sync: as the loader when a member
    try:  # a table written on the source since verified: whole range, its fingerprints unread
        plans = plan_tables(params, conn, list(raw_tables()), keys, prefetched=prefetched,
                            claim=None if full_refresh else claim, sync_written=True)
    finally:
        conn.close()
    work = full_refresh_work(keys) if full_refresh else planned_work(plans, keys)
    report = SyncReport()
    for run in work:
        report.runs += 1
        _do(run, params, warehouse, claim, report, out)
    settle_claim(warehouse, claim, report)
    if not work:
        print("raw equals the source: nothing to sync", file=out)
    report.print(out, direct=True)
    return report

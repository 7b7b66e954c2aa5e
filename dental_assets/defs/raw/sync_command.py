"""``dental sync``: bring raw up to date with the OpenDental source in-process, then exit.

It plans what ``raw_change_sensor`` would request (everything on the first run; without
``DAGSTER_HOME``, a table written on the source since verified is planned over its whole range
unread, ``replication.verified.written_tables``). With ``DAGSTER_HOME`` set, it executes those runs
of ``raw_opendental_job`` in this process on that instance, so the runs, materializations and checks
are recorded like the sensor's. Without it, no instance would
keep those records, so it does each run's work directly, without Dagster runs or events (the same
database work and ``matches_source`` checks, ``assets.replicate_tables``): on a 50,000-patient practice
that took the first sync from 43.0-43.7 s to 39.2-39.7 s and an incremental one from 22.8-23.3 s to
18.4-19.2 s (docs/replication.md, *Figures*). It prints one line per table (mode, rows copied, rows
removed, seconds) and returns non-zero when a run fails or a ``matches_source`` check fails. For cron
users, tests and the benchmark.

Its Dagster runs carry this process's pid, host and start time; at the next start (of ``dental sync``
or a ``raw_change_sensor`` tick) the runs still recorded as started whose process is gone are marked
failed (``fail_stale_runs``).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import dagster as dg
import psycopg2

from dental_assets.replication.verified import CLAIM_TAG, new_claim

if TYPE_CHECKING:
    from dental_assets.catalog import Table
    from dental_assets.partitions import Window

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    """Per-table outcome of ``run_sync``: ``tables[name] = {mode, rows_copied, rows_replaced, seconds}``;
    ``failed_checks`` lists tables whose check failed; ``failed_runs`` counts failed runs."""

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


# ``dental sync`` runs execute in its own process: these tags say which one, so that the next start can
# tell a run whose process was killed (SIGKILL, a reboot) from one still going.
PID_TAG = "dental/pid"
HOST_TAG = "dental/host"
PROCESS_START_TAG = "dental/process_started"  # the process's start time (a reused pid differs)
_LIVE_STATUSES = ("NOT_STARTED", "STARTING", "STARTED")


def process_tags() -> dict[str, str]:
    """The tags naming this process: pid, host name, process start time (epoch seconds)."""
    import socket

    import psutil

    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(),
            PROCESS_START_TAG: f"{psutil.Process().create_time():.2f}"}


def _process_alive(pid: int, started: str) -> bool:
    import psutil

    try:
        return f"{psutil.Process(pid).create_time():.2f}" == started
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def fail_stale_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs of ``dental sync`` on this host that are still recorded as started (or
    starting, or not started) but whose process is gone: killed with SIGKILL, or the machine
    restarted. Such runs would otherwise stay STARTED forever, holding the ``dental/opendental_source``
    tag whose concurrency limit is 1. Runs of other hosts, and runs launched by the daemon (which has
    run monitoring, ``dagster.yaml``), are left alone. Returns the failed runs' ids."""
    import socket

    from dental_assets.defs.raw.sensors import SOURCE_TAG

    statuses = [getattr(dg.DagsterRunStatus, name) for name in _LIVE_STATUSES]
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=statuses,
                                                   tags={**SOURCE_TAG, HOST_TAG: socket.gethostname()}))
    failed = []
    for run in runs:
        pid, started = run.tags.get(PID_TAG, ""), run.tags.get(PROCESS_START_TAG, "")
        if not pid.isdigit() or _process_alive(int(pid), started):
            continue
        instance.report_run_failed(run, message=f"the dental sync process (pid {pid}) that ran this run is gone: "
                                                "marked failed at the next start")
        failed.append(run.run_id)
    return failed


def _value(entry):
    return getattr(entry, "value", entry)


def full_refresh_requests() -> list[dg.RunRequest]:
    """Every raw table re-copied whole (run config ``full_refresh``): one run for the reference tables,
    one range run over every month for the partitioned ones."""
    from dental_assets.catalog import raw_tables
    from dental_assets.defs.raw.assets import raw_asset_key
    from dental_assets.partitions import monthly_partitions, partition_range_tags

    keys = monthly_partitions.get_partition_keys()
    tables = raw_tables()
    return [
        dg.RunRequest(asset_selection=[raw_asset_key(t.name) for t in tables if not t.partitioned],
                      run_config={"ops": {"raw_opendental_reference": {"config": {"full_refresh": True}}}},
                      tags={"dental/full_refresh": "true"}),
        dg.RunRequest(asset_selection=[raw_asset_key(t.name) for t in tables if t.partitioned],
                      run_config={"ops": {"raw_opendental_transactional": {"config": {"full_refresh": True}}}},
                      tags={"dental/full_refresh": "true", **partition_range_tags(keys[0], keys[-1])}),
    ]


def _settle_claim(warehouse, claim: str, report: SyncReport) -> None:
    """After the runs: confirm ``claim`` (``verified.confirm``) when every run succeeded, recording the
    tables whose checks all passed; else release it. A warehouse error here is logged, not raised
    (the next plan reads those tables again)."""
    from dental_assets.catalog import RAW_SCHEMA
    from dental_assets.replication import verified

    try:
        conn = warehouse.connect()
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


def _request_work(request: dg.RunRequest, partition_keys: list[str]) -> tuple[list[Table], Window | None, str]:
    """What a planned run does, for ``_run_directly``: (its tables in catalog order, its window, its sync
    mode), as the raw multi-assets would read them from the run: the selected assets, the partition
    key or the partition range tags (``month_window``; None for the reference tables' run), and
    ``full`` when the run config sets ``full_refresh``, else ``auto``. Pure."""
    from dental_assets.catalog import raw_tables
    from dental_assets.partitions import month_window

    names = {key.path[-1] for key in request.asset_selection or []}
    tables = [t for t in raw_tables() if t.name in names]
    tags = request.tags or {}
    window = None
    if request.partition_key:
        window = month_window(request.partition_key, request.partition_key, partition_keys)
    elif "dagster/asset_partition_range_start" in tags:
        window = month_window(tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"],
                              partition_keys)
    ops = (request.run_config or {}).get("ops", {})
    full = any(op.get("config", {}).get("full_refresh") for op in ops.values())
    return tables, window, "full" if full else "auto"


def _add_table(report: SyncReport, name: str, mode: str, copied: int, replaced: int, seconds: float) -> None:
    entry = report.tables.setdefault(name, {"mode": "", "rows_copied": 0, "rows_replaced": 0, "seconds": 0.0})
    entry["mode"] = mode
    entry["rows_copied"] += copied
    entry["rows_replaced"] += replaced
    entry["seconds"] += seconds


def _add_check(report: SyncReport, name: str, passed: bool, seconds: float) -> None:
    report.check_seconds += seconds
    report.checked.add(name)
    if not passed and name not in report.failed_checks:
        report.failed_checks.append(name)


def _run_in_dagster(job, instance: dg.DagsterInstance, request: dg.RunRequest, claim: str,
                    report: SyncReport) -> None:
    """Execute one planned run of ``raw_opendental_job`` in this process on ``instance`` and add its
    materializations and check evaluations to ``report``."""
    from dental_assets.partitions import planned_events_per_range

    with planned_events_per_range():  # the first sync and a full refresh are ranges over every month
        result = job.execute_in_process(
            instance=instance,
            asset_selection=list(request.asset_selection or []),
            partition_key=request.partition_key,
            tags={**request.tags, "dental/trigger": "dental sync", **process_tags(), CLAIM_TAG: claim},
            run_config=request.run_config or None,
            raise_on_error=False,
        )
    if not result.success:
        report.failed_runs += 1
    seen = set()  # a range run records one materialization per partition, with the same metadata
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        meta = mat.metadata
        name = mat.asset_key.path[-1]
        if name in seen:
            continue
        seen.add(name)
        _add_table(report, name, str(_value(meta.get("sync_mode", "copy"))), int(_value(meta.get("rows_copied", 0))),
                   int(_value(meta.get("rows_replaced", 0))), float(_value(meta.get("seconds", 0.0))))
    for evaluation in result.get_asset_check_evaluations():
        _add_check(report, evaluation.asset_key.path[-1], evaluation.passed,
                   float(_value(evaluation.metadata.get("seconds", 0.0))))


def _run_directly(request: dg.RunRequest, partition_keys: list[str], params, warehouse, claim: str,
                  report: SyncReport, out) -> None:
    """Do one planned run's work without a Dagster run (``dental sync`` with no ``DAGSTER_HOME``: no
    instance would keep its events): the same database work as the raw assets' step
    (``assets.replicate_tables``: sync, indexes, statistics, ``matches_source`` check, a whole re-copy
    after a failed incremental check), every table checked, added to ``report``. A table's error fails
    the run as it fails the step: the tables after it are not synced, the error's type and message
    (codes and keys, no values) are printed, and the next run goes on."""
    from dental_assets import settings
    from dental_assets.defs.raw.assets import replicate_tables

    tables, window, mode = _request_work(request, partition_keys)
    try:
        for done in replicate_tables(params, warehouse, tables, window, mode, {t.name for t in tables},
                                     settings.sync_check_sample(), claim):
            result = done.result
            _add_table(report, result.table, result.mode, result.rows_copied, result.rows_deleted, result.seconds)
            if done.check is not None:
                equal, *_, repaired, seconds = done.check
                if repaired:
                    print(f"raw.{result.table}: the window differed from the source after an incremental sync: "
                          "copied it whole", file=out)
                _add_check(report, result.table, equal, seconds)
    except Exception as exc:  # as Dagster fails the step: reported, and the other runs go on
        report.failed_runs += 1
        print(f"run {report.runs} failed: {type(exc).__name__}: {exc}", file=out)


def run_sync(instance: dg.DagsterInstance | None = None, defs: dg.Definitions | None = None,
             out=None, full_refresh: bool = False, prefetched=None, claim: str | None = None) -> SyncReport:
    """Plan and execute the sync with the resources the environment configures (``DENTAL_SOURCE``,
    ``OPENDENTAL_URL``, ``DENTAL_WAREHOUSE_URL``); ``full_refresh``: re-copy every table whole instead
    (``full_refresh_requests``); ``prefetched``: the fingerprints the no-change check just read
    (``plan.nothing_changed``); ``claim``: the token its plan claimed the tables for (a new one when
    None): when every run succeeds, the tables it wrote and checked are recorded as verified at the
    plan's threshold (``replication.verified.confirm``), so the next plan need not read them.

    The planned runs execute as Dagster runs of ``raw_opendental_job`` on ``instance``, or on the
    instance of ``DAGSTER_HOME``. With neither, no instance would keep what the runs record, so each
    run's work is done directly, without Dagster's runs and events (``_run_directly``: the same
    database work and checks, the same report), and a table written on the source since a plan
    verified it equal is synced whole-range without its fingerprints being read first (no Dagster
    partition records the windows: ``replication.verified.written_tables``). Raises ValueError when the
    source is not MariaDB."""
    from dental_assets.defs.raw.sensors import RAW_JOB_NAME, plan_run_requests
    from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource
    from dental_assets.partitions import monthly_partitions

    # plain copies of the resources for planning in this process (the definitions keep EnvVar references)
    opendental = OpenDentalSourceResource(
        kind=os.environ.get("DENTAL_SOURCE", "synthetic"), url=os.environ.get("OPENDENTAL_URL")
    )
    warehouse = WarehouseResource(url=os.environ.get("DENTAL_WAREHOUSE_URL"), home=os.environ.get("DENTAL_HOME"))
    out = out or sys.stdout
    direct = instance is None and not os.environ.get("DAGSTER_HOME")
    if not direct:
        instance = instance or dg.DagsterInstance.get()
        stale = fail_stale_runs(instance)
        if stale:
            print(f"marked {len(stale)} run(s) of a killed dental sync as failed", file=out)
    # every month Dagster has not recorded is synced too (months without rows included), so no raw
    # partition is left "missing" for the eager dbt models downstream; without an instance (no
    # DAGSTER_HOME), or on an ephemeral one, nothing downstream sees a record, so it gets only what changed
    claim = claim or new_claim()
    requests = plan_run_requests(opendental, warehouse, with_run_keys=False,
                                 instance=None if direct or instance.is_ephemeral else instance,
                                 every_table=True, prefetched=prefetched, claim=None if full_refresh else claim,
                                 sync_written=direct)
    if full_refresh and not isinstance(requests, dg.SkipReason):
        requests = full_refresh_requests()
    if isinstance(requests, dg.SkipReason):
        raise ValueError(requests.skip_message)
    report = SyncReport()
    if direct:
        params, keys = opendental.source().params, monthly_partitions.get_partition_keys()
    else:
        if defs is None:  # built now, so that the environment of this call decides the resources
            from dental_assets.defs.raw import defs as raw_defs
            from dental_assets.defs.resources import build_resources

            defs = dg.Definitions.merge(raw_defs, dg.Definitions(resources=build_resources()))
        job = defs.resolve_job_def(RAW_JOB_NAME)
    for request in requests:
        report.runs += 1
        if direct:
            _run_directly(request, keys, params, warehouse, claim, report, out)
        else:
            _run_in_dagster(job, instance, request, claim, report)
    _settle_claim(warehouse, claim, report)
    if not requests:
        print("raw equals the source: nothing to sync", file=out)
    for name, entry in sorted(report.tables.items()):
        flag = "  CHECK FAILED" if name in report.failed_checks else ""
        print(f"{name:<22} {entry['mode']:<12} {entry['rows_copied']:>10,} copied "
              f"{entry['rows_replaced']:>10,} removed {entry['seconds']:8.2f} s{flag}", file=out)
    if report.tables:
        print(f"checks: {report.check_seconds:.2f} s", file=out)
    if report.failed_runs:
        where = "see the Dagster event log" if not direct else "see the lines above"
        print(f"{report.failed_runs} run(s) failed: {where}", file=out)
    return report

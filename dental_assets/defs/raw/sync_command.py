"""``dental sync``: bring raw up to date with the OpenDental source in-process, then exit.

It plans what ``raw_change_sensor`` would request (everything on the first run; without
``DAGSTER_HOME``, a table written on the source since verified is planned over its whole range
unread, ``replication.verified.written_tables``), the windows of the failed ``matches_source`` checks
left included (``replication.check_failures``; ``plan.plan_tables``). With ``DAGSTER_HOME`` set, it executes those runs
of ``raw_opendental_job`` in this process on that instance, so the runs, materializations and checks
are recorded like the sensor's. Without it, no instance would keep those records, so it does each
run's work directly, without Dagster runs, events or imports (``replication.direct``: the same
database work and ``matches_source`` checks, ``replication.replicate.replicate_tables``;
docs/replication.md, *Figures*). It prints one line per table (mode, rows copied, rows removed,
seconds) and returns non-zero when a run fails or a ``matches_source`` check fails. For cron users,
tests and the benchmark.

Its Dagster runs carry this process's pid, host and start time; at its next start the runs still
recorded as started whose process is gone are marked failed (``fail_stale_runs``), by the rule with
which the sensors ``dental_dead_run_reaper`` and ``raw_change_sensor`` do the same for every run of
this host (``automation/dead_runs.fail_dead_runs``, which reads these tags; a run both find is ended
once).
"""

from __future__ import annotations

import os
import sys

import dagster as dg

from dental_assets.replication.direct import SyncReport, settle_claim
from dental_assets.replication.verified import CLAIM_TAG, new_claim


# ``dental sync`` runs execute in its own process: these tags say which one, so that the next start can
# tell a run whose process was killed (SIGKILL, a reboot) from one still going.
PID_TAG = "dental/pid"
HOST_TAG = "dental/host"
PROCESS_START_TAG = "dental/process_started"  # the process's start time (a reused pid differs)


def process_tags() -> dict[str, str]:
    """The tags naming this process: pid, host name, process start time (epoch seconds, 2 decimals:
    ``automation/dead_runs.process_start``, which compares them)."""
    import socket

    from dental_assets.defs.automation.dead_runs import process_start

    pid = os.getpid()
    return {PID_TAG: str(pid), HOST_TAG: socket.gethostname(), PROCESS_START_TAG: process_start(pid)}


def fail_stale_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs of ``dental sync`` on this host that are still recorded as started (or
    starting, or not started; canceling ones: canceled) but whose process is gone: killed with SIGKILL,
    or the machine restarted. Such runs would otherwise stay STARTED forever, holding the
    ``dental/opendental_source`` tag whose concurrency limit is 1. The rule is the dead-run reaper's
    (``automation/dead_runs.fail_dead_runs``, which reads these tags), applied to the runs carrying that
    tag and this host's ``dental/host``: runs of other hosts, and runs launched by the daemon (whose
    run monitoring fails them after their ``dagster/max_runtime``, ``SOURCE_TAG``; the reaper sensor,
    those of this host), are left alone. A run the reaper ends at the same time is ended once
    (``dead_runs.end_dead_run``). Returns the failed runs' ids."""
    import socket

    from dental_assets.defs.automation.dead_runs import fail_dead_runs
    from dental_assets.defs.raw.sensors import SOURCE_CONCURRENCY_TAG

    host = socket.gethostname()
    return fail_dead_runs(instance, host, tags={**SOURCE_CONCURRENCY_TAG, HOST_TAG: host})


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
        report.add_table(name, str(_value(meta.get("sync_mode", "copy"))), int(_value(meta.get("rows_copied", 0))),
                         int(_value(meta.get("rows_replaced", 0))), int(_value(meta.get("rows_deleted", 0))),
                         float(_value(meta.get("seconds", 0.0))))
    for evaluation in result.get_asset_check_evaluations():
        report.add_check(evaluation.asset_key.path[-1], evaluation.passed,
                         float(_value(evaluation.metadata.get("seconds", 0.0))))


def run_sync(instance: dg.DagsterInstance | None = None, defs: dg.Definitions | None = None,
             out=None, full_refresh: bool = False, prefetched=None, claim: str | None = None) -> SyncReport:
    """Plan and execute the sync with the resources the environment configures (``DENTAL_SOURCE``,
    ``OPENDENTAL_URL``, ``DENTAL_WAREHOUSE_URL``); ``full_refresh``: re-copy every table whole instead
    (``full_refresh_requests``); ``prefetched``: the fingerprints the no-change check just read
    (``plan.nothing_changed``); ``claim``: the token its plan claimed the tables for (a new one when
    None): when every run succeeds, the tables it wrote and checked are recorded as verified at the
    plan's threshold (``replication.verified.confirm``), so the next plan need not read them.

    The planned runs execute as Dagster runs of ``raw_opendental_job`` on ``instance``, or on the
    instance of ``DAGSTER_HOME``. With neither, no instance would keep what the runs record:
    ``replication.direct.sync_directly`` does the runs' work without Dagster (the same plan, database
    work, checks and report; a table written on the source since a plan verified it equal is synced
    whole-range without its fingerprints being read first). Raises ValueError when the source is not
    MariaDB."""
    if instance is None and not os.environ.get("DAGSTER_HOME"):
        from dental_assets.replication.direct import sync_directly

        return sync_directly(out=out, full_refresh=full_refresh, prefetched=prefetched, claim=claim)
    from dental_assets.defs.raw.sensors import RAW_JOB_NAME, plan_run_requests
    from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource

    # plain copies of the resources for planning in this process (the definitions keep EnvVar references)
    opendental = OpenDentalSourceResource(
        kind=os.environ.get("DENTAL_SOURCE", "synthetic"), url=os.environ.get("OPENDENTAL_URL")
    )
    warehouse = WarehouseResource(url=os.environ.get("DENTAL_WAREHOUSE_URL"), home=os.environ.get("DENTAL_HOME"))
    out = out or sys.stdout
    instance = instance or dg.DagsterInstance.get()
    stale = fail_stale_runs(instance)
    if stale:
        print(f"marked {len(stale)} run(s) of a killed dental sync as failed", file=out)
    # every month and reference table Dagster has not recorded is synced too (months without rows
    # included: sensors._with_unrecorded), so no raw input is left "missing" for the eager dbt models
    # downstream; on an ephemeral instance nothing downstream sees a record, so it gets only what changed
    claim = claim or new_claim()
    requests = plan_run_requests(opendental, warehouse, with_run_keys=False,
                                 instance=None if instance.is_ephemeral else instance,
                                 prefetched=prefetched, claim=None if full_refresh else claim)
    if full_refresh and not isinstance(requests, dg.SkipReason):
        requests = full_refresh_requests()
    if isinstance(requests, dg.SkipReason):
        raise ValueError(requests.skip_message)
    report = SyncReport()
    if defs is None:  # built now, so that the environment of this call decides the resources
        from dental_assets.defs.raw import defs as raw_defs
        from dental_assets.defs.resources import build_resources

        defs = dg.Definitions.merge(raw_defs, dg.Definitions(resources=build_resources()))
    job = defs.resolve_job_def(RAW_JOB_NAME)
    for request in requests:
        report.runs += 1
        _run_in_dagster(job, instance, request, claim, report)
    settle_claim(warehouse, claim, report)
    if not requests:
        print("raw equals the source: nothing to sync", file=out)
    report.print(out, direct=False)
    return report

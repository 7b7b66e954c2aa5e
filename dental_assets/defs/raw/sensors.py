"""Change detection for the raw layer: a sensor and a backstop schedule over the same plan.

``raw_change_sensor`` (every 5 minutes) compares the per-partition fingerprints of every raw table with
the source's (``dental_assets.replication.plan``) and requests exactly the partitions that differ:
one run for the changed reference tables, and one run per contiguous range of changed months for the
transactional tables that changed in it (a range is one run, the assets' backfill policy is single-run).
Months of a table that Dagster has no materialization of are requested as well (the first tick after
``dental sync`` records the months without rows): a month the fingerprints call equal because neither
side has rows would otherwise stay "missing" in Dagster, and a missing input stops every eager dbt
model downstream.
The run key is a digest of both sides' fingerprints, so a change is requested once; if its run fails,
the nightly ``raw_sync_backstop`` schedule (03:30 UTC, no run key) requests it again. The backstop also
re-copies every reference table without a modified column (``definition``, ``userod``...), whose
in-place edits leave no timestamp for the fingerprints to see.

Both only act with the MariaDB source (``DENTAL_SOURCE=opendental``); with the synthetic source they
skip. The sensor is RUNNING by default when ``DENTAL_SOURCE=opendental``, else STOPPED.
"""

from __future__ import annotations

import dataclasses
import os

import dagster as dg

from dental_assets.catalog import raw_tables
from dental_assets.defs.raw.assets import raw_asset_key
from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource
from dental_assets.partitions import monthly_partitions, partition_range_tags
from dental_assets.sources import MariaDBSource

RAW_JOB_NAME = "raw_opendental_job"
# Runs that read the OpenDental source carry this tag; dagster.yaml's run coordinator lets one such run
# go at a time, so a sync never loads the practice's server with parallel extractions.
SOURCE_TAG = {"dental/opendental_source": "opendental"}


def _with_unrecorded(plans, keys: list[str], instance: dg.DagsterInstance, every_table: bool = False):
    """``plans`` plus the monthly partitions Dagster has never seen materialized, for every table
    of which it has recorded some: a month with no rows on either side is equal by fingerprint, so
    a sync never copies it, yet Dagster counts it as missing, and a missing input stops every eager
    dbt model downstream (``any_deps_missing``). Such months are requested once, as empty copies. A
    table with nothing recorded is left to the fingerprints unless ``every_table`` (``dental sync``
    records every month of every table). The digest gets a ``+<count>`` suffix for them."""
    out = []
    for plan in plans:
        if plan.table.partitioned:
            recorded = instance.get_materialized_partitions(raw_asset_key(plan.table.name))
            extra = sorted(set(keys) - recorded - set(plan.partitions)) if recorded or every_table else []
            if extra:
                plan = dataclasses.replace(plan, partitions=tuple(sorted({*plan.partitions, *extra})),
                                           digest=f"{plan.digest}+{len(extra)}")
        out.append(plan)
    return out


def plan_run_requests(
    opendental: OpenDentalSourceResource, warehouse: WarehouseResource, with_run_keys: bool = True,
    backstop: bool = False, instance: dg.DagsterInstance | None = None, every_table: bool = False,
) -> list[dg.RunRequest] | dg.SkipReason:
    """The runs that bring raw up to date with the source (empty when nothing changed); a SkipReason
    for a source other than MariaDB. Run tags say how many partitions and tables each run covers.
    With ``instance``, the months of a table that Dagster has no materialization of are requested too
    (``_with_unrecorded``)."""
    from dental_assets.replication.plan import contiguous_ranges, plan_tables

    source = opendental.source()
    if not isinstance(source, MariaDBSource):
        return dg.SkipReason(f"source {source.name!r} has no change detection (DENTAL_SOURCE=opendental has)")
    keys = monthly_partitions.get_partition_keys()
    conn = warehouse.connect()
    try:
        plans = plan_tables(source.params, conn, list(raw_tables()), keys)
    finally:
        conn.close()
    if instance is not None:
        plans = _with_unrecorded(plans, keys, instance, every_table)
    requests: list[dg.RunRequest] = []
    reference = [p for p in plans if not p.table.partitioned and p.partitions]
    if backstop:  # the backstop also re-copies small tables whose edits leave no timestamp
        reference += [p for p in plans if not p.table.partitioned and not p.partitions
                      and p.table.modified_column is None]
    if reference:
        digest = "-".join(p.digest for p in reference)
        requests.append(
            dg.RunRequest(
                run_key=f"reference:{digest}" if with_run_keys else None,
                asset_selection=[raw_asset_key(p.table.name) for p in reference],
                tags={**SOURCE_TAG, "dental/changed_tables": str(len(reference))},
            )
        )
    changed = [p for p in plans if p.table.partitioned and p.partitions]
    all_changed = sorted({k for p in changed for k in p.partitions})
    for first, last in contiguous_ranges(all_changed, keys):
        span = set(keys[keys.index(first): keys.index(last) + 1])
        in_range = [p for p in changed if span & set(p.partitions)]
        digest = "-".join(p.digest for p in in_range)
        tags = {**SOURCE_TAG, "dental/changed_tables": str(len(in_range)),
                "dental/changed_partitions": str(len(span))}
        selection = [raw_asset_key(p.table.name) for p in in_range]
        if first == last:
            requests.append(dg.RunRequest(run_key=f"{first}:{digest}" if with_run_keys else None,
                                          asset_selection=selection, partition_key=first, tags=tags))
        else:
            requests.append(dg.RunRequest(run_key=f"{first}..{last}:{digest}" if with_run_keys else None,
                                          asset_selection=selection,
                                          tags={**tags, **partition_range_tags(first, last)}))
    return requests


def _default_status() -> dg.DefaultSensorStatus:
    return (dg.DefaultSensorStatus.RUNNING if os.environ.get("DENTAL_SOURCE") == "opendental"
            else dg.DefaultSensorStatus.STOPPED)


@dg.sensor(
    name="raw_change_sensor",
    job_name=RAW_JOB_NAME,
    minimum_interval_seconds=300,
    default_status=_default_status(),
    description="Requests the raw partitions whose fingerprints differ from the source's.",
)
def raw_change_sensor(context: dg.SensorEvaluationContext, opendental: OpenDentalSourceResource,
                      warehouse: WarehouseResource):
    result = plan_run_requests(opendental, warehouse, instance=context.instance)
    if isinstance(result, dg.SkipReason):
        return result
    if not result:
        return dg.SkipReason("raw equals the source's fingerprints")
    return result


@dg.schedule(
    name="raw_sync_backstop",
    cron_schedule="30 3 * * *",
    job_name=RAW_JOB_NAME,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING if os.environ.get("DENTAL_SOURCE") == "opendental"
    else dg.DefaultScheduleStatus.STOPPED,
    description="Nightly: requests every raw partition that still differs from the source.",
)
def raw_sync_backstop(context: dg.ScheduleEvaluationContext, opendental: OpenDentalSourceResource,
                      warehouse: WarehouseResource):
    # a schedule context built in a test may have no instance to hand out
    instance = context.instance if context.instance_ref is not None else None
    result = plan_run_requests(opendental, warehouse, with_run_keys=False, backstop=True, instance=instance)
    if isinstance(result, dg.SkipReason) or not result:
        return dg.SkipReason("nothing to sync")
    return result

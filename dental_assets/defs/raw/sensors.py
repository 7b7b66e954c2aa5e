"""Change detection for the raw layer: a sensor and a backstop schedule over the same plan.

``raw_change_sensor`` (every 5 minutes) compares the per-partition fingerprints of every raw table with
the source's (``dental_assets.replication.plan``) and requests exactly the partitions that differ:
one run for the changed reference tables, and one run per contiguous range of changed months for the
transactional tables that changed in it (a range is one run, the assets' backfill policy is single-run).
Months of a table that Dagster has no materialization of are requested as well (the first tick after
``dental sync`` records the months without rows): a month the fingerprints call equal because neither
side has rows would otherwise stay "missing" in Dagster, and a missing input stops every eager dbt
model downstream. On an instance that keeps its records, so is every month of a table it has recorded
nothing of, and every reference table it has never recorded (``_with_unrecorded``): a new Dagster
instance over a warehouse already synced (by ``dental sync`` without ``DAGSTER_HOME``, or another
instance) is recorded by the first tick's runs, once; the dbt models' conditions wait for exactly that.
A table unchanged on both sides since a plan verified it equal is not read
(``dental_assets.replication.verified``) and requests nothing.
The windows of a failed ``matches_source`` check that no passing check has covered since
(``dental_assets.replication.check_failures``, which every dbt build refuses to run past) are requested
as changed, whatever the fingerprints say (``plan.plan_tables``): a difference that was transient (a write
landing during every repair) leaves the fingerprints equal, and nothing else would sync the window again.
The run key is a digest of both sides' fingerprints (and of the failed windows left), so a change is
requested once; if its run fails, the nightly ``raw_sync_backstop`` schedule (03:30 UTC, no run key)
requests it again. The backstop also
compares every table's per-month *content* fingerprints (an exact hash of every column of every row, one
scan of each side) and re-copies whole (``full_refresh``) the partitions that differ only there: a value
edited without its timestamp (or in a table without a modified column, ``definition``, ``userod``...),
a transaction that committed later than the look-back. Last, it syncs every table not materialized in
the last ``keep_fresh_age()`` (1.5 hours; the latest month of a monthly table, a reference table whole) that nothing
else requested: Dagster's freshness policy of raw (warn 26 hours after the last materialization,
``automation/policies.py``) reads materializations only, and a table nobody edits (``definition``,
``provider``, every table over a weekend with the practice closed) would otherwise turn WARN, then FAIL,
while raw equals the source. Such a run copies nothing, and its check proves the window equal again.

Both only act with the MariaDB source (``DENTAL_SOURCE=opendental``); with the synthetic source they
skip. The sensor is RUNNING by default when ``DENTAL_SOURCE=opendental``, else STOPPED.

While a run the sensor requested is still queued or in progress, its ticks skip (the skip reason counts
them) without reading either side: the run key is a digest of the fingerprints, so every tick after a
new edit would otherwise queue one more run behind a queue that does not move. When the source cannot
be used (down, unreachable, refusing the login), both skip with a reason naming ``host:port`` and the
error's class, and the sensor records one alert when that starts and one when it ends
(``dental_assets/defs/automation/outage.py``). Before planning, the sensor marks failed the runs of
this host whose process is gone (``automation/dead_runs.fail_dead_runs``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os

import dagster as dg
from dagster._time import get_current_timestamp

from dental_assets.catalog import RAW_SCHEMA, raw_tables
from dental_assets.defs.raw.assets import raw_asset_key
from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource
from dental_assets.partitions import monthly_partitions, partition_range_tags
from dental_assets.roles import layer_session
from dental_assets.sources import MariaDBSource

RAW_JOB_NAME = "raw_opendental_job"
# Runs that read the OpenDental source carry these tags. dagster.yaml's run coordinator lets one such run
# go at a time, so a sync never loads the practice's server with parallel extractions (the raw assets'
# concurrency pool, SOURCE_POOL in defs/raw/assets.py, does the same for runs without the tags: the UI's
# Materialize, a backfill). The default run launcher cannot tell that a run's process died (a reboot, an out-of-memory
# kill): such a run would stay STARTED and hold that one place for good. The dead-run reaper fails it when
# its process on this host is gone (defs/automation/dead_runs.py); otherwise the daemon's run monitoring
# fails a run older than ``dagster/max_runtime`` seconds (then run_retries tries it once more). A sync of
# the practices this serves takes minutes (a first sync of 9.9M rows: under a minute with `dental sync`,
# docs/replication.md).
SOURCE_RUN_MAX_SECONDS = 6 * 3600
SOURCE_CONCURRENCY_TAG = {"dental/opendental_source": "opendental"}  # the tag dagster.yaml limits; runs made
# before the max runtime was added carry it alone
SOURCE_TAG = {**SOURCE_CONCURRENCY_TAG, "dagster/max_runtime": str(SOURCE_RUN_MAX_SECONDS)}
KEEP_FRESH_TAG = {"dental/keep_fresh": "true"}  # a backstop run of tables nothing changed in

# The backstop syncs a table materialized longer ago than keep_fresh_age(): raw's freshness warns
# DAILY_WARN (26 h) after the last materialization and the backstop comes back BACKSTOP_PERIOD (24 h)
# later, so a table it leaves out must have been materialized less than 26 - 24 = 2 hours before the tick;
# KEEP_FRESH_MARGIN keeps a late tick, or a run queued behind a build, inside that (tested).
BACKSTOP_PERIOD = dt.timedelta(hours=24)
KEEP_FRESH_MARGIN = dt.timedelta(minutes=30)


def keep_fresh_age() -> dt.timedelta:
    """How recently a raw table must have been materialized for the nightly backstop to leave it out:
    raw's freshness warn window (``policies.DAILY_WARN``) less ``BACKSTOP_PERIOD`` and
    ``KEEP_FRESH_MARGIN`` (1.5 hours)."""
    from dental_assets.defs.automation.policies import DAILY_WARN

    return DAILY_WARN - BACKSTOP_PERIOD - KEEP_FRESH_MARGIN


def quiet_tables(latest: dict[str, float | None], now: float, requested: set[str]) -> list[str]:
    """The tables the nightly backstop syncs only to keep them fresh, in the order of ``latest``
    (table name -> epoch seconds of its latest materialization on the instance, None: never): those
    materialized before ``now`` less ``keep_fresh_age()`` and not in ``requested`` (already synced
    tonight). A table never materialized is left out: its freshness is UNKNOWN, not stale, and a
    persistent instance requests it anyway (``_with_unrecorded``). Pure."""
    oldest = now - keep_fresh_age().total_seconds()
    return [name for name, at in latest.items() if at is not None and at < oldest and name not in requested]


def _with_unrecorded(plans, keys: list[str], instance: dg.DagsterInstance):
    """``plans`` plus what Dagster has never seen materialized on ``instance``, requested once:

    - the monthly partitions of a table of which it has recorded some: a month with no rows on either
      side is equal by fingerprint, so a sync never copies it, yet Dagster counts it as missing, and a
      missing input stops every eager dbt model downstream (``any_deps_missing``); such months are
      requested as empty copies (for example a month that has just begun);
    - on an instance that keeps its records (not ephemeral), every month of a table it has recorded
      nothing of, and every reference table it has never recorded: a new instance over a warehouse
      whose raw is already synced (``dental sync`` from cron without ``DAGSTER_HOME``, a new or wiped
      instance storage) finds the fingerprints equal, and without this it never recorded raw, so the
      dbt models' conditions never requested a model (they wait for an input materialized in this
      instance, none of it missing; ``tests/test_automation_fresh_instance.py``). The runs copy what
      differs (nothing) and check every window, once.

    An ephemeral instance (the tests', ``bench/``'s) keeps nothing: a table it has recorded nothing of
    is left to the fingerprints there. The digest gets a ``+<count>`` suffix for what is added."""
    whole = not instance.is_ephemeral
    reference_seen = {}
    if whole:
        unpartitioned = [raw_asset_key(p.table.name) for p in plans if not p.table.partitioned]
        reference_seen = {key: event is not None
                          for key, event in instance.get_latest_materialization_events(unpartitioned).items()}
    out = []
    for plan in plans:
        key = raw_asset_key(plan.table.name)
        if plan.table.partitioned:
            recorded = instance.get_materialized_partitions(key)
            extra = sorted(set(keys) - recorded - set(plan.partitions)) if recorded or whole else []
            if extra:
                plan = dataclasses.replace(plan, partitions=tuple(sorted({*plan.partitions, *extra})),
                                           digest=f"{plan.digest}+{len(extra)}")
        elif whole and not plan.partitions and not reference_seen.get(key):
            plan = dataclasses.replace(plan, partitions=("all",), digest=f"{plan.digest}+1")
        out.append(plan)
    return out


def _requests(plans, keys: list[str], with_run_keys: bool, full_refresh: bool = False,
              extra_tags: dict[str, str] | None = None) -> list[dg.RunRequest]:
    """A run request per ``plan.run_groups`` group: one run for the changed reference tables, one per
    contiguous range of changed months for the partitioned tables changed in it; ``full_refresh``: the
    runs re-copy their windows whole (run config), and their run keys start with ``refresh:``;
    ``extra_tags`` are added to every run's."""
    from dental_assets.replication.plan import run_groups

    requests: list[dg.RunRequest] = []
    prefix = "refresh:" if full_refresh else ""
    run_tags = {**({"dental/full_refresh": "true"} if full_refresh else {}), **(extra_tags or {})}

    def config(op: str) -> dict | None:
        return {"ops": {op: {"config": {"full_refresh": True}}}} if full_refresh else None

    for group in run_groups(plans, keys):
        selection = [raw_asset_key(t.name) for t in group.tables]
        tags = {**SOURCE_TAG, "dental/changed_tables": str(len(group.plans)), **run_tags}
        if group.first is None:
            requests.append(dg.RunRequest(run_key=f"{prefix}reference:{group.digest}" if with_run_keys else None,
                                          asset_selection=selection, run_config=config("raw_opendental_reference"),
                                          tags=tags))
            continue
        first, last = group.first, group.last
        tags["dental/changed_partitions"] = str(keys.index(last) - keys.index(first) + 1)
        run_config = config("raw_opendental_transactional")
        if first == last:
            requests.append(dg.RunRequest(run_key=f"{prefix}{first}:{group.digest}" if with_run_keys else None,
                                          asset_selection=selection, partition_key=first, tags=tags,
                                          run_config=run_config))
        else:
            requests.append(dg.RunRequest(run_key=f"{prefix}{first}..{last}:{group.digest}" if with_run_keys else None,
                                          asset_selection=selection, run_config=run_config,
                                          tags={**tags, **partition_range_tags(first, last)}))
    return requests


def plan_run_requests(
    opendental: OpenDentalSourceResource, warehouse: WarehouseResource, with_run_keys: bool = True,
    backstop: bool = False, instance: dg.DagsterInstance | None = None, prefetched=None,
    claim: str | None = None,
) -> list[dg.RunRequest] | dg.SkipReason:
    """The runs that bring raw up to date with the source (empty when nothing changed); a SkipReason
    for a source other than MariaDB. Run tags say how many partitions and tables each run covers.
    With ``instance``, what it has no materialization of is requested too (``_with_unrecorded``).
    ``backstop``: the per-month content fingerprints of every table are compared as well
    (``plan.plan_content``, one scan of each side), and the partitions that differ
    only there (a value edited without its timestamp) are requested as ``full_refresh`` runs, and with
    ``instance``, the tables nothing requested that it has not materialized in the last
    ``keep_fresh_age()`` (by Dagster's clock, which its freshness evaluator reads) as normal syncs of
    their latest month, tagged ``dental/keep_fresh`` (``quiet_tables``). Raises
    ConfigurationError when the source lacks a table or a needed column. ``prefetched``: the
    fingerprints ``plan.nothing_changed`` just read (``dental sync``), used instead of reading them
    again; ``claim``: ``dental sync``'s token (``replication.verified.claim``)."""
    from dental_assets.replication.plan import plan_content, plan_tables

    source = opendental.source()
    if not isinstance(source, MariaDBSource):
        return dg.SkipReason(f"source {source.name!r} has no change detection (DENTAL_SOURCE=opendental has)")
    keys = monthly_partitions.get_partition_keys()
    conn = layer_session(warehouse, RAW_SCHEMA)  # the plan writes dental_sync: as the loader when a member
    try:
        tables = list(raw_tables())
        plans = plan_tables(source.params, conn, tables, keys, prefetched=prefetched, claim=claim)
        content = plan_content(source.params, conn, tables, keys) if backstop else []
    finally:
        conn.close()
    if instance is not None:
        plans = _with_unrecorded(plans, keys, instance)
    requests = _requests(plans, keys, with_run_keys)
    if content:
        requested = {p.table.name: set(p.partitions) for p in plans}
        silent = [dataclasses.replace(c, partitions=tuple(k for k in c.partitions
                                                          if k not in requested[c.table.name]))
                  for c in content]
        requests += _requests(silent, keys, with_run_keys, full_refresh=True)
    if backstop and instance is not None:
        requests += _keep_fresh_requests(plans, content, keys, instance, get_current_timestamp())
    return requests


def _keep_fresh_requests(plans, content, keys: list[str], instance: dg.DagsterInstance,
                         now: float) -> list[dg.RunRequest]:
    """The backstop's runs of ``quiet_tables``: one for the reference tables (whole), one for the
    latest month of the monthly ones; a normal sync, which finds nothing to copy and checks the window."""
    requested = {p.table.name for p in (*plans, *content) if p.partitions}
    latest = instance.get_latest_materialization_events([raw_asset_key(p.table.name) for p in plans])
    stamps = {}
    for plan in plans:
        event = latest.get(raw_asset_key(plan.table.name))
        stamps[plan.table.name] = None if event is None else event.timestamp
    quiet = set(quiet_tables(stamps, now, requested))
    keep = [dataclasses.replace(p, partitions=(keys[-1],) if p.table.partitioned else ("all",))
            for p in plans if p.table.name in quiet]
    return _requests(keep, keys, with_run_keys=False, extra_tags=KEEP_FRESH_TAG)


def _default_status() -> dg.DefaultSensorStatus:
    return (dg.DefaultSensorStatus.RUNNING if os.environ.get("DENTAL_SOURCE") == "opendental"
            else dg.DefaultSensorStatus.STOPPED)


def _plan_while_usable(source, plan):
    """``(None, plan())``, or ``(why, None)`` when the OpenDental ``source`` cannot be used (``why``: an
    ``outage.SourceDown``): a MariaDB source is logged in to once first (``outage.probe``), and one lost
    while ``plan`` reads it (``SourceConnectionLost``, after the retries) is down too. Another source
    is not probed. The one rule of the change sensor and the backstop."""
    from dental_assets.defs.automation import outage
    from dental_assets.replication.mysql import SourceConnectionLost

    if isinstance(source, MariaDBSource):
        down = outage.probe(source.params)
        if down is not None:
            return down, None
    try:
        return None, plan()
    except SourceConnectionLost as exc:  # lost while planning, after the retries
        return outage.source_down(source.params, exc), None


@dg.sensor(
    name="raw_change_sensor",
    job_name=RAW_JOB_NAME,
    minimum_interval_seconds=300,
    default_status=_default_status(),
    description="Requests the raw partitions whose fingerprints differ from the source's.",
)
def raw_change_sensor(context: dg.SensorEvaluationContext, opendental: OpenDentalSourceResource,
                      warehouse: WarehouseResource):
    from dental_assets.defs.automation import outage
    from dental_assets.defs.automation.dead_runs import fail_dead_runs

    # a killed dental sync's runs, or the daemon's runs after a reboot, would hold their places for good
    for run_id in fail_dead_runs(context.instance):
        context.log.warning(f"run {run_id}: its process is gone; marked ended")
    source = opendental.source()
    if not isinstance(source, MariaDBSource):
        return dg.SkipReason(f"source {source.name!r} has no change detection (DENTAL_SOURCE=opendental has)")

    def plan():
        waiting = unfinished_requests(context.instance)
        if waiting:
            return dg.SkipReason(
                f"{sum(waiting.values())} run(s) requested by an earlier tick not finished yet ("
                + ", ".join(f"{n} {status.lower()}" for status, n in sorted(waiting.items()))
                + "): the next comparison waits for them")
        return plan_run_requests(opendental, warehouse, instance=context.instance)

    down, result = _plan_while_usable(source, plan)
    _settle_outage(context, down)
    if down is not None:
        return dg.SkipReason(outage.skip_text(down, context.cursor))
    if isinstance(result, dg.SkipReason):
        return result
    if not result:
        return dg.SkipReason("raw equals the source's fingerprints")
    return result


_UNFINISHED = (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)


def unfinished_requests(instance: dg.DagsterInstance, sensor_name: str = "raw_change_sensor") -> dict[str, int]:
    """The runs ``sensor_name`` requested that are not finished, counted by status (``QUEUED``,
    ``STARTED``...): every run a sensor launches carries its name in ``dagster/sensor_name``."""
    counts: dict[str, int] = {}
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=list(_UNFINISHED),
                                                       tags={"dagster/sensor_name": sensor_name})):
        counts[run.status.value] = counts.get(run.status.value, 0) + 1
    return counts


def _settle_outage(context: dg.SensorEvaluationContext, down) -> None:
    """Record the alert of an outage that starts or ends at this tick (``outage.transition``) and keep
    the outage in the cursor."""
    import datetime as dt

    from dental_assets.defs.automation import outage
    from dental_assets.defs.automation.alerts import record_alert, webhook_from_environment

    cursor, alert = outage.transition(context.cursor, down, dt.datetime.now(dt.timezone.utc))
    if alert is not None:
        record_alert(alert, webhook_from_environment(), context.log, level="error" if down else "warning")
    if cursor != context.cursor:
        context.update_cursor(cursor)


@dg.schedule(
    name="raw_sync_backstop",
    cron_schedule="30 3 * * *",
    job_name=RAW_JOB_NAME,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING if os.environ.get("DENTAL_SOURCE") == "opendental"
    else dg.DefaultScheduleStatus.STOPPED,
    description="Nightly: requests every raw partition that still differs from the source, by the cheap "
                "fingerprints and by the content of every column (re-copied whole), and a sync of the "
                "tables not materialized since the last night (keeps raw's freshness on a quiet source).",
)
def raw_sync_backstop(context: dg.ScheduleEvaluationContext, opendental: OpenDentalSourceResource,
                      warehouse: WarehouseResource):
    # a schedule context built in a test may have no instance to hand out
    instance = context.instance if context.instance_ref is not None else None
    down, result = _plan_while_usable(opendental.source(), lambda: plan_run_requests(
        opendental, warehouse, with_run_keys=False, backstop=True, instance=instance))
    if down is not None:  # (raw_change_sensor sends the outage's alerts)
        return dg.SkipReason(f"{down.describe()}: nothing compared tonight")
    if isinstance(result, dg.SkipReason) or not result:
        return dg.SkipReason("nothing to sync")
    return result

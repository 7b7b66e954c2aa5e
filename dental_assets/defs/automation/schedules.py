"""The nightly backstops of the dbt layer.

The automation sensor builds dbt models eagerly after their inputs change; these schedules rebuild
the dbt project every night regardless, so a missed evaluation, a manual raw load or a change only in
dbt code still reaches the marts within a day. Raw has its own backstop (the replication's schedule in
``dental_assets/defs/raw``, 03:30 UTC), which runs first. All times UTC:

- 04:30 ``nightly_dbt_backstop``: ``dbt_job``, every unpartitioned model (staging, intermediate, marts);
- 04:45 ``nightly_dbt_facts_backstop``: ``dbt_facts_job``, the monthly incremental facts over every
  month as one run (a range of all months is a full refresh).

The automation sensor does not count these runs' builds as updates of the models' inputs
(``policies.input_updated``): after ``dbt_job`` it requested every month of the facts, which
``dbt_facts_job`` rebuilt again at 04:45.
"""

from __future__ import annotations

import dagster as dg

from dental_assets.partitions import monthly_partitions, partition_range_tags

NIGHTLY_DBT_CRON = "30 4 * * *"
NIGHTLY_SCHEDULE_NAME = "nightly_dbt_backstop"
NIGHTLY_FACTS_CRON = "45 4 * * *"
NIGHTLY_FACTS_SCHEDULE_NAME = "nightly_dbt_facts_backstop"
NIGHTLY_BACKSTOP_TAG = {"dental/trigger": "nightly_backstop"}  # both schedules' runs (policies.input_updated)


def build_nightly_dbt_schedule(job_name: str = "dbt_job") -> dg.ScheduleDefinition:
    """A RUNNING schedule launching ``job_name`` at 04:30 UTC; the run key is the tick's date, so a
    daemon restart never launches the same night twice."""

    @dg.schedule(
        name=NIGHTLY_SCHEDULE_NAME,
        cron_schedule=NIGHTLY_DBT_CRON,
        job_name=job_name,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Nightly backstop: dbt build of every unpartitioned model at 04:30 UTC, after the raw backstop.",
    )
    def nightly_dbt_backstop(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        night = context.scheduled_execution_time.strftime("%Y-%m-%d")
        return dg.RunRequest(
            run_key=f"nightly-dbt-{night}",
            tags={**NIGHTLY_BACKSTOP_TAG, "dental/night": night},
        )

    return nightly_dbt_backstop


def build_nightly_dbt_facts_schedule(job_name: str = "dbt_facts_job") -> dg.ScheduleDefinition:
    """A RUNNING schedule launching ``job_name`` (the monthly facts) at 04:45 UTC over every monthly
    partition that exists at the tick (one run: the facts' backfill policy is single-run); run key
    ``nightly-dbt-facts-<date>``."""

    @dg.schedule(
        name=NIGHTLY_FACTS_SCHEDULE_NAME,
        cron_schedule=NIGHTLY_FACTS_CRON,
        job_name=job_name,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Nightly backstop: the monthly dbt facts over every month at 04:45 UTC, after dbt_job.",
    )
    def nightly_dbt_facts_backstop(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        night = context.scheduled_execution_time.strftime("%Y-%m-%d")
        months = monthly_partitions.get_partition_keys(current_time=context.scheduled_execution_time)
        return dg.RunRequest(
            run_key=f"nightly-dbt-facts-{night}",
            tags={**NIGHTLY_BACKSTOP_TAG, "dental/night": night, **partition_range_tags(months[0], months[-1])},
        )

    return nightly_dbt_facts_backstop

"""The nightly backstop of the dbt layer.

The automation sensor builds dbt models eagerly after their inputs change; the schedule rebuilds the
whole dbt project every night at 04:30 UTC regardless, so a missed evaluation, a manual raw load or a
change only in dbt code still reaches the marts within a day. Raw has its own backstop (the
replication's schedule in ``dental_assets/defs/raw``, 03:30 UTC), which runs before it.
"""

from __future__ import annotations

import dagster as dg

NIGHTLY_DBT_CRON = "30 4 * * *"
NIGHTLY_SCHEDULE_NAME = "nightly_dbt_backstop"


def build_nightly_dbt_schedule(job_name: str = "dbt_job") -> dg.ScheduleDefinition:
    """A RUNNING schedule launching ``job_name`` at 04:30 UTC; the run key is the tick's date, so a
    daemon restart never launches the same night twice."""

    @dg.schedule(
        name=NIGHTLY_SCHEDULE_NAME,
        cron_schedule=NIGHTLY_DBT_CRON,
        job_name=job_name,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Nightly backstop: dbt build of every model at 04:30 UTC, after the raw backstop.",
    )
    def nightly_dbt_backstop(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        night = context.scheduled_execution_time.strftime("%Y-%m-%d")
        return dg.RunRequest(
            run_key=f"nightly-dbt-{night}",
            tags={"dental/trigger": "nightly_backstop", "dental/night": night},
        )

    return nightly_dbt_backstop

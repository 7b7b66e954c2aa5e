"""Automation: how the graph runs itself and says when it is stale or broken.

- ``dental_automation_sensor``: Dagster's automation sensor, declared RUNNING (it defaults to
  STOPPED). It evaluates the automation conditions of ``policies.py``: dbt models eagerly after
  their inputs (only when upstream blocking checks passed), the journey dataset monthly. Evaluated in
  the code location, not the daemon (``use_user_code_server``): two operands are Python (``stale_builds.py``,
  ``ancestor_checks.py``).
- ``nightly_dbt_backstop`` / ``nightly_dbt_facts_backstop``: RUNNING schedules, dbt build of the
  unpartitioned models at 04:30 UTC and of the monthly facts over every month at 04:45 (``schedules.py``).
- ``dental_run_failure_alerts``: a RUNNING run-failure sensor (``alerts.py``).
- ``dental_dead_run_reaper``: a RUNNING sensor that marks failed the unfinished runs of this host whose
  process is gone, so they give back their places in the run queue (``dead_runs.py``; every asset
  job's executor, ``in_process_executor_recording_its_process``, records the run's process).
- ``outage.py``: what the raw change sensor does when the OpenDental source cannot be used (a skip
  reason, one alert when the outage starts and one when it ends).
- ``policies.apply_operational_policies``: the freshness policy and automation condition of every
  asset spec, applied in ``dental_assets/definitions.py``.

The raw layer's change sensor and backstop schedule belong to ``dental_assets/defs/raw``.
"""

import warnings

import dagster as dg

from dental_assets.defs.automation.alerts import alert_webhook_resource, dental_run_failure_alerts
from dental_assets.defs.automation.dead_runs import dental_dead_run_reaper, in_process_executor_recording_its_process
from dental_assets.defs.automation.policies import apply_operational_policies
from dental_assets.defs.automation.schedules import build_nightly_dbt_facts_schedule, build_nightly_dbt_schedule
from dental_assets.defs.dbt.assets import MODELS_TAG

with warnings.catch_warnings():
    # evaluated in the code location, not the daemon: the dbt condition has Python operands (policies'
    # built_before_an_input_update, ancestors_blocking_checks_passed); "beta" in 1.13, limited to 500
    # conditioned assets and checks
    warnings.simplefilter("ignore", dg.BetaWarning)
    automation_sensor = dg.AutomationConditionSensorDefinition(
        "dental_automation_sensor",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        run_tags=MODELS_TAG,  # its runs build models: one at a time, also on a new instance (defs/dbt/assets.py)
        use_user_code_server=True,
    )

nightly_dbt_backstop = build_nightly_dbt_schedule("dbt_job")
nightly_dbt_facts_backstop = build_nightly_dbt_facts_schedule("dbt_facts_job")

defs = dg.Definitions(
    sensors=[automation_sensor, dental_run_failure_alerts, dental_dead_run_reaper],
    schedules=[nightly_dbt_backstop, nightly_dbt_facts_backstop],
    resources={"alerts": alert_webhook_resource()},
)

__all__ = ["apply_operational_policies", "defs", "in_process_executor_recording_its_process"]

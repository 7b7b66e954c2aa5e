"""Automation: Dagster's automation sensor, declared RUNNING (it defaults to STOPPED)."""

import dagster as dg

automation_sensor = dg.AutomationConditionSensorDefinition(
    "dental_automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
)

defs = dg.Definitions(sensors=[automation_sensor])

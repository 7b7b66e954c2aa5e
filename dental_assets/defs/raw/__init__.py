"""Raw layer: OpenDental tables replicated into the warehouse schema ``raw``."""

import dagster as dg

from dental_assets.defs.raw.assets import RAW_GROUP, raw_assets
from dental_assets.defs.raw.sensors import RAW_JOB_NAME, SOURCE_TAG, raw_change_sensor, raw_sync_backstop

raw_job = dg.define_asset_job(
    RAW_JOB_NAME,
    selection=dg.AssetSelection.groups(RAW_GROUP),
    description="Replicate the raw OpenDental tables (a partition or a range of months per run).",
    tags=SOURCE_TAG,
)

defs = dg.Definitions(
    assets=raw_assets, jobs=[raw_job], sensors=[raw_change_sensor], schedules=[raw_sync_backstop]
)

"""Raw layer: OpenDental tables replicated into the warehouse schema ``raw``.

Both raw multi-assets read the OpenDental source, so their ops are in the concurrency pool
``opendental_source`` (``SOURCE_POOL``, set on their decorators in ``assets.py``), whose limit
``dagster.yaml`` sets to 1 (``concurrency: pools: default_limit: 1``, granularity ``run``): the run queue
starts a run that holds a raw step only while no other such run is in progress, whichever way it was
launched (the raw job, the change sensor, the backstop, Materialize in the UI, a backfill). The job's
tags (``SOURCE_TAG``) add the older tag limit and the runs' maximum runtime.
"""

import dagster as dg

from dental_assets.defs.raw.assets import RAW_GROUP, SOURCE_POOL, raw_assets
from dental_assets.defs.raw.sensors import RAW_JOB_NAME, SOURCE_TAG, raw_change_sensor, raw_sync_backstop

__all__ = ["SOURCE_POOL", "defs", "raw_job"]

raw_job = dg.define_asset_job(
    RAW_JOB_NAME,
    selection=dg.AssetSelection.groups(RAW_GROUP),
    description="Replicate the raw OpenDental tables (a partition or a range of months per run).",
    tags=SOURCE_TAG,
)

defs = dg.Definitions(
    assets=raw_assets, jobs=[raw_job], sensors=[raw_change_sensor], schedules=[raw_sync_backstop]
)

"""Raw layer: OpenDental tables replicated into the warehouse schema ``raw``."""

import dagster as dg

from dental_assets.defs.raw.assets import RAW_GROUP, raw_assets

raw_job = dg.define_asset_job(
    "raw_opendental_job",
    selection=dg.AssetSelection.groups(RAW_GROUP),
    description="Replicate the raw OpenDental tables (a partition or a range of months per run).",
)

defs = dg.Definitions(assets=raw_assets, jobs=[raw_job])

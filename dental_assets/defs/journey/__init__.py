"""Treatment-journey dataset: versioned, yearly-partitioned Parquet for machine learning."""

import dagster as dg

from dental_assets.defs.journey.assets import JOURNEY_GROUP, treatment_journey

journey_job = dg.define_asset_job(
    "treatment_journey_job",
    selection=dg.AssetSelection.groups(JOURNEY_GROUP),
    description="Write the treatment-journey dataset for a year partition.",
)

defs = dg.Definitions(assets=[treatment_journey], jobs=[journey_job])

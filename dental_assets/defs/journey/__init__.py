"""Treatment-journey dataset (versioned, yearly-partitioned Parquet) and the models trained on it."""

import dagster as dg

from dental_assets.defs.dbt.assets import MODELS_TAG
from dental_assets.defs.journey.assets import treatment_journey
from dental_assets.defs.journey.models import no_show_model, treatment_journey_models

journey_job = dg.define_asset_job(
    "treatment_journey_job",
    selection=dg.AssetSelection.assets(treatment_journey),
    description="Write the treatment-journey dataset for a year partition.",
    tags=MODELS_TAG,  # it reads a model: one such run at a time (defs/dbt/assets.py)
)

journey_models_job = dg.define_asset_job(
    "journey_models_job",
    selection=dg.AssetSelection.assets(treatment_journey_models, no_show_model),
    description="Train and evaluate the treatment-journey and no-show models.",
)

defs = dg.Definitions(
    assets=[treatment_journey, treatment_journey_models, no_show_model],
    jobs=[journey_job, journey_models_job],
)

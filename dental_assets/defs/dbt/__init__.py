"""dbt layer: the models of ``dental_dbt/`` (staging, intermediate, marts) and their tests."""

import dagster as dg

from dental_assets.defs.dbt.assets import dbt_resource, dental_dbt_models

dbt_job = dg.define_asset_job(
    "dbt_job",
    selection=dg.AssetSelection.assets(dental_dbt_models),
    description="dbt build of every model (tests run as asset checks).",
)

defs = dg.Definitions(assets=[dental_dbt_models], jobs=[dbt_job], resources={"dbt": dbt_resource()})

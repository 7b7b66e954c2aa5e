"""dbt layer: the models of ``dental_dbt/`` (staging, intermediate, marts) and their tests: the
unpartitioned models (``dbt_job``) and the monthly incremental facts (``dbt_facts_job``)."""

import dagster as dg

from dental_assets.defs.dbt.assets import MODELS_TAG, dbt_resource, dental_dbt_facts, dental_dbt_models

dbt_job = dg.define_asset_job(
    "dbt_job",
    selection=dg.AssetSelection.assets(dental_dbt_models),
    description="dbt build of every unpartitioned model (tests run as asset checks).",
    tags=MODELS_TAG,
)
dbt_facts_job = dg.define_asset_job(
    "dbt_facts_job",
    selection=dg.AssetSelection.assets(dental_dbt_facts),
    description="Incremental dbt build of the monthly fact models (partitioned like them: monthly_partitions) "
    "for a month or a range of months.",
    tags=MODELS_TAG,
)

defs = dg.Definitions(
    assets=[dental_dbt_models, dental_dbt_facts],
    jobs=[dbt_job, dbt_facts_job],
    resources={"dbt": dbt_resource()},
)

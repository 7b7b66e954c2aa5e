"""Raw layer: OpenDental tables replicated into the warehouse schema ``raw``.

Both raw multi-assets read the OpenDental source, so their ops are in the concurrency pool
``opendental_source`` (``SOURCE_POOL``), whose limit ``dagster.yaml`` sets to 1 (``concurrency: pools:
default_limit: 1``, granularity ``run``): the run queue starts a run that holds a raw step only while no
other such run is in progress, whichever way it was launched (the raw job, the change sensor, the
backstop, Materialize in the UI, a backfill). The job's tags (``SOURCE_TAG``) add the older tag limit and
the runs' maximum runtime.
"""

import dagster as dg

from dental_assets.defs.raw.assets import RAW_GROUP, raw_assets
from dental_assets.defs.raw.sensors import RAW_JOB_NAME, SOURCE_TAG, raw_change_sensor, raw_sync_backstop

SOURCE_POOL = "opendental_source"


def with_pool(assets_def: dg.AssetsDefinition, pool: str) -> dg.AssetsDefinition:
    """``assets_def`` with its op in concurrency pool ``pool`` (what ``pool=`` on ``@multi_asset`` sets;
    ``defs/raw/assets.py`` is another developer's, so it is applied here; unchanged when its op already
    has that pool)."""
    from dagster._core.definitions.op_definition import OpDefinition

    op = assets_def.op
    if op.pool == pool:
        return assets_def
    if op.pool is not None:
        raise ValueError(f"{op.name} is already in pool {op.pool!r}, not {pool!r}")
    # the op as OpDefinition.with_replaced_properties copies it (Dagster 1.13), with the pool
    pooled = OpDefinition.dagster_internal_init(
        compute_fn=op.compute_fn, name=op.name, ins=op.ins, outs=op.outs, description=op.description,
        config_schema=op.config_schema, required_resource_keys=op.required_resource_keys, tags=op.tags,
        version=None, retry_policy=op.retry_policy, code_version=op._version, pool=pool,  # noqa: SLF001
    )
    return dg.AssetsDefinition.dagster_internal_init(**{**assets_def.get_attributes_dict(), "node_def": pooled})


pooled_raw_assets = [with_pool(a, SOURCE_POOL) for a in raw_assets]

raw_job = dg.define_asset_job(
    RAW_JOB_NAME,
    selection=dg.AssetSelection.groups(RAW_GROUP),
    description="Replicate the raw OpenDental tables (a partition or a range of months per run).",
    tags=SOURCE_TAG,
)

defs = dg.Definitions(
    assets=pooled_raw_assets, jobs=[raw_job], sensors=[raw_change_sensor], schedules=[raw_sync_backstop]
)

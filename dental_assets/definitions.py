"""The Dagster code location: the domain modules of ``dental_assets/defs/`` assembled with shared resources.

Run the demo with ``dagster job execute -m dental_assets.definitions -j demo_job`` (or ``dental demo``);
open the UI with ``dagster dev -m dental_assets.definitions`` (or ``dental ui``).
Freshness policies and automation conditions are applied here to every asset spec; the schedules and
sensors are in ``dental_assets/defs/automation`` (and the raw change sensor in ``defs/raw``).
"""

import warnings

import dagster as dg

from dental_assets.defs import automation, dbt, journey, raw, synthetic
from dental_assets.defs.automation.dead_runs import in_process_executor_recording_its_process
from dental_assets.defs.automation.policies import apply_operational_policies
from dental_assets.defs.resources import build_resources


def build_definitions() -> dg.Definitions:
    """The code location's definitions, with resources configured from the environment as it is now
    (``build_resources``): tests that set ``DENTAL_SOURCE``/``OPENDENTAL_URL``/``DENTAL_WAREHOUSE_URL``
    after this module was imported build their own copy with this function.

    Every asset spec gets its layer's freshness policy and automation condition
    (``dental_assets/defs/automation/policies.py``); an asset in an unknown group raises
    ``UnknownAssetGroupError``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # map_asset_specs is "preview" in 1.13
        return dg.Definitions.merge(
            raw.defs,
            dbt.defs,
            journey.defs,
            synthetic.defs,
            automation.defs,
            # Dagster's in-process executor, which also records the run's process (pid, host) in the run's
            # tags when it starts, so that a run whose process dies is failed (defs/automation/dead_runs.py)
            dg.Definitions(resources=build_resources(), executor=in_process_executor_recording_its_process),
        ).map_asset_specs(func=apply_operational_policies)


defs = build_definitions()

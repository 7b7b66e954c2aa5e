"""The Dagster code location: the domain modules of ``dental_assets/defs/`` assembled with shared resources.

Run the demo with ``dagster job execute -m dental_assets.definitions -j demo_job`` (or ``dental demo``);
open the UI with ``dagster dev -m dental_assets.definitions`` (or ``dental ui``).
"""

import dagster as dg

from dental_assets.defs import automation, dbt, journey, raw, synthetic
from dental_assets.defs.resources import build_resources

defs = dg.Definitions.merge(
    raw.defs,
    dbt.defs,
    journey.defs,
    synthetic.defs,
    automation.defs,
    dg.Definitions(resources=build_resources(), executor=dg.in_process_executor),
)

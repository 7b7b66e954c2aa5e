"""The synthetic practice and the demo job that runs the whole graph on it."""

import dagster as dg

from dental_assets.defs.synthetic.jobs import demo_job

defs = dg.Definitions(jobs=[demo_job])

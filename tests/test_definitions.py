"""The code location loads, and lineage joins raw -> staging -> marts -> journey with no glue code."""

import subprocess
import sys

import dagster as dg

from dental_assets.catalog import raw_tables


def test_definitions_load_with_every_job(defs):
    for job in ("demo_job", "raw_opendental_job", "dbt_job", "treatment_journey_job"):
        assert defs.resolve_job_def(job) is not None
    sensor = defs.resolve_sensor_def("dental_automation_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


# Imported only where a journey model is trained or saved (dental_assets/journey_models.py): with the
# definitions they cost every process that loads them about a second (bench/import_time.py).
TRAINING_ONLY_MODULES = ("sklearn", "scipy", "joblib")


def test_loading_the_definitions_leaves_the_training_libraries_out():
    # a fresh interpreter: this test process may have trained a model already
    probe = ("import sys, dental_assets.definitions as d; d.defs.resolve_asset_graph(); "
             f"print(' '.join(m for m in {TRAINING_ONLY_MODULES!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [], f"imported with the definitions: {proc.stdout.strip()}"


def test_every_catalog_table_is_a_raw_asset(graph):
    keys = graph.get_all_asset_keys()
    for table in raw_tables():
        key = dg.AssetKey(["opendental", table.name])
        assert key in keys
        node = graph.get(key)
        assert node.group_name == "raw_opendental"
        assert (node.partitions_def is not None) == table.partitioned


def test_staging_models_depend_on_raw_keys(graph):
    for table in raw_tables():
        staging = dg.AssetKey(["staging", f"stg_opendental__{table.name}"])
        assert staging in graph.get_all_asset_keys(), staging
        assert dg.AssetKey(["opendental", table.name]) in graph.get(staging).parent_keys


def test_mart_and_journey_lineage(graph):
    mart = dg.AssetKey(["marts", "mart_production_daily"])
    assert graph.get(mart).group_name == "dbt_marts"
    ancestors = set()
    frontier = [mart]
    while frontier:
        key = frontier.pop()
        for parent in graph.get(key).parent_keys:
            if parent not in ancestors:
                ancestors.add(parent)
                frontier.append(parent)
    assert dg.AssetKey(["opendental", "procedurelog"]) in ancestors
    journey = graph.get(dg.AssetKey(["treatment_journey"]))
    assert dg.AssetKey(["marts", "fct_treatment_journey"]) in journey.parent_keys
    assert journey.partitions_def is not None


def test_dbt_tests_are_asset_checks(graph):
    checks = graph.asset_check_keys
    assert any(c.asset_key == dg.AssetKey(["marts", "mart_production_daily"]) for c in checks)

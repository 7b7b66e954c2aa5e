"""plan_runs: the demo's runs, one partitions definition each, in dependency order."""

from pathlib import Path

import dagster as dg
import pytest
from dagster_instances import dental_instance_for_test

from dental_assets.defs.synthetic.jobs import plan_runs

MONTHLY = dg.MonthlyPartitionsDefinition(start_date="2024-01", fmt="%Y-%m")
YEARLY = dg.TimeWindowPartitionsDefinition(cron_schedule="0 0 1 1 *", fmt="%Y", start="2024")


def k(name: str) -> dg.AssetKey:
    return dg.AssetKey(name)


def plan(parents, partitions, nodes=None):
    keys = [k(name) for name in partitions]
    nodes = nodes or {}
    return [
        (run.partitions_def, sorted(key.path[0] for key in run.keys))
        for run in plan_runs(
            keys,
            parents={k(a): [k(p) for p in ps] for a, ps in parents.items()},
            partitions_of=lambda key: partitions[key.path[0]],
            node_of=lambda key: nodes.get(key.path[0], key.path[0]),
        )
    ]


def test_the_demo_graph_shape():
    partitions = {"ref": None, "tx": MONTHLY, "stg_ref": None, "stg_tx": None, "mart": None,
                  "journey": YEARLY}
    parents = {"stg_ref": ["ref"], "stg_tx": ["tx"], "mart": ["stg_ref", "stg_tx"], "journey": ["mart"]}
    dbt = {"stg_ref": "dbt", "stg_tx": "dbt", "mart": "dbt"}
    assert plan(parents, partitions, dbt) == [
        (None, ["ref"]),
        (MONTHLY, ["tx"]),
        (None, ["mart", "stg_ref", "stg_tx"]),  # one node: one run, after both raw runs
        (YEARLY, ["journey"]),
    ]


def test_partitioned_dbt_facts_run_monthly_after_the_unpartitioned_dbt_models():
    # the dbt project as two nodes: unpartitioned models, and incremental facts partitioned monthly
    partitions = {"ref": None, "tx": MONTHLY, "stg_ref": None, "stg_tx": None, "int": None, "mart": None,
                  "fct": MONTHLY, "fct2": MONTHLY, "journey": YEARLY, "model": None}
    parents = {"stg_ref": ["ref"], "stg_tx": ["tx"], "int": ["stg_ref", "stg_tx"], "mart": ["int"],
               "fct": ["int"], "fct2": ["stg_tx"], "journey": ["mart"], "model": ["journey"]}
    nodes = {"stg_ref": "dbt", "stg_tx": "dbt", "int": "dbt", "mart": "dbt", "fct": "facts", "fct2": "facts"}
    assert plan(parents, partitions, nodes) == [
        (None, ["ref"]),
        (MONTHLY, ["tx"]),
        (None, ["int", "mart", "stg_ref", "stg_tx"]),
        (MONTHLY, ["fct", "fct2"]),  # one node, one run over the months, after the models it reads
        (YEARLY, ["journey"]),
        (None, ["model"]),
    ]


def test_without_a_shared_node_reference_models_may_run_early():
    partitions = {"ref": None, "tx": MONTHLY, "stg_ref": None, "stg_tx": None}
    parents = {"stg_ref": ["ref"], "stg_tx": ["tx"]}
    assert plan(parents, partitions) == [
        (None, ["ref", "stg_ref"]),
        (MONTHLY, ["tx"]),
        (None, ["stg_tx"]),
    ]


def test_unpartitioned_assets_never_share_a_run_with_partitioned_ones():
    partitions = {"a": None, "b": MONTHLY, "c": None, "d": MONTHLY}
    parents = {"b": ["a"], "c": ["b"], "d": ["c"]}
    runs = plan(parents, partitions)
    assert runs == [(None, ["a"]), (MONTHLY, ["b"]), (None, ["c"]), (MONTHLY, ["d"])]


def test_a_cycle_raises():
    with pytest.raises(ValueError):
        plan({"a": ["b"], "b": ["a"]}, {"a": None, "b": MONTHLY})


# ------------------------------------------------------------------------------ the demo's console

def test_the_console_names_each_step_of_the_real_plan():
    from dental_assets.definitions import defs
    from dental_assets.defs.synthetic.jobs import demo_plan, step_label

    graph = defs.resolve_asset_graph()
    labels = [step_label(run, lambda key: graph.get(key).group_name) for run in demo_plan()]
    assert labels[0] == "raw_opendental, unpartitioned"
    assert labels[1] == "raw_opendental, every month"
    assert "treatment_journey, one run per year" in labels
    assert len(set(labels)) == len(labels)  # every step tells itself apart


def test_console_level_reads_the_run_config_with_the_job_default():
    from dental_assets.defs.synthetic.jobs import DEMO_CONSOLE_LEVEL, console_level, demo_job

    assert console_level({}) == "DEBUG"  # Dagster's default console level
    assert console_level({}, default=DEMO_CONSOLE_LEVEL) == "INFO"
    assert console_level({"loggers": {"console": {"config": {"log_level": "debug"}}}}, "INFO") == "DEBUG"
    # demo_job's own default: INFO on the console
    assert console_level(demo_job.run_config) == "INFO"


def test_demo_command_is_the_dagster_command_a_person_types(tmp_path):
    """The demo's command, plain and ``--verbose``, is one the pinned ``dagster job execute`` accepts (its
    options parsed before ``--help`` ends it: an unknown option exits 2, as ``--config-json`` did), and
    the verbose run config file is valid config of demo_job that sets the console to DEBUG."""
    import json
    import subprocess
    import sys

    from dental_assets.cli import demo_command, main, verbose_config
    from dental_assets.defs.synthetic.jobs import console_level, demo_job

    assert demo_command() == ["dagster", "job", "execute", "-m", "dental_assets.definitions", "-j", "demo_job"]
    config_file = verbose_config(tmp_path)
    verbose = demo_command(config_file)
    assert verbose == demo_command() + ["-c", str(config_file)]
    config = json.loads(config_file.read_text())  # (JSON is YAML, which `-c` reads)
    assert dg.validate_run_config(demo_job, config) and console_level(config, default="INFO") == "DEBUG"
    dagster = str(Path(sys.executable).parent / "dagster")
    for command in (demo_command(), verbose):
        parsed = subprocess.run([dagster, *command[1:], "--help"], capture_output=True, text=True)
        assert parsed.returncode == 0, parsed.stderr[-500:]
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--help"])
    assert exit_info.value.code == 0


# ------------------------------------------------------------------- the runs the demo launches

def test_launched_runs_carry_the_code_location_origin_and_their_partition():
    from dental_assets.defs.synthetic.jobs import execute_asset_run

    years = dg.StaticPartitionsDefinition(["2025", "2026"])

    @dg.asset
    def reference():
        return 1

    @dg.asset(partitions_def=years)
    def yearly(context):
        return context.partition_key

    @dg.asset
    def broken():
        raise RuntimeError("planted")

    job = dg.Definitions(assets=[reference, yearly, broken]).resolve_implicit_global_asset_job_def()
    created = []
    with dental_instance_for_test() as instance:
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        result = execute_asset_run(job, instance, [reference.key], {"dental/demo_run_id": "parent"},
                                   run_config=quiet, on_created=created.append)
        assert result.success and created == [result.run_id]
        run = instance.get_run_by_id(result.run_id)
        assert run.remote_job_origin.location_name == "dental_assets.definitions"
        assert run.remote_job_origin.repository_origin.repository_name == "__repository__"
        assert run.tags["dental/demo_run_id"] == "parent" and run.run_config == quiet
        assert run.asset_selection == {reference.key}

        result = execute_asset_run(job, instance, [yearly.key], {}, partition_key="2026")
        assert result.success
        assert instance.get_run_by_id(result.run_id).tags["dagster/partition"] == "2026"
        assert instance.get_latest_materialization_event(yearly.key).dagster_event.partition == "2026"

        # a failing step fails the run without raising
        assert not execute_asset_run(job, instance, [broken.key], {}).success


def test_the_demo_prints_its_steps_short_and_everything_else_as_it_is():
    from dental_assets.cli import short_log_line

    prefix = "2026-12-02 20:01:55 +0000 - dagster - {} - demo_job - 3f01db86-9dad-4ff6-9498-198b2ba2c951 - "
    assert short_log_line(prefix.format("INFO") + "materialize_demo - step 1/6: raw: done in 42 s") \
        == "20:01:55  step 1/6: raw: done in 42 s"
    colored = "\x1b[32m2026-12-02 20:01:55 +0000\x1b[0m - dagster - \x1b[34mINFO\x1b[0m - demo_job - " \
              "3f01db86-9dad-4ff6-9498-198b2ba2c951 - materialize_demo - step 2/6: dbt"
    assert short_log_line(colored) == "20:01:55  step 2/6: dbt"
    assert short_log_line(prefix.format("ERROR") + "materialize_demo - boom") == "20:01:55  ERROR: boom"
    event = prefix.format("ERROR") + "4242 - materialize_demo - STEP_FAILURE - Execution of step failed."
    assert short_log_line(event) == event  # Dagster's events (failures) keep their full form
    assert short_log_line("Traceback (most recent call last):") == "Traceback (most recent call last):"


def test_materialized_assets_counts_distinct_assets_across_partitions_incrementally():
    from dental_assets.defs.synthetic.jobs import MaterializedAssets

    months = dg.StaticPartitionsDefinition(["2026-01", "2026-02", "2026-03"])

    @dg.asset(partitions_def=months, backfill_policy=dg.BackfillPolicy.single_run())
    def monthly(context) -> None:
        return None

    with dental_instance_for_test() as instance:
        result = dg.materialize([monthly], instance=instance, tags={
            "dagster/asset_partition_range_start": "2026-01", "dagster/asset_partition_range_end": "2026-03"})
        counter = MaterializedAssets(instance, result.run_id)
        assert counter.count() == 1  # three materializations (one per month) of one asset
        assert counter.count() == 1  # nothing new since
        records = instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        assert len(records.records) == 3


def test_the_demo_leaves_dbt_progress_out_and_keeps_its_errors():
    from dental_assets.cli import shown_in_demo

    for progress in ("22 of 563 START sql view model staging.stg_opendental__payplan ....... [RUN]",
                     "21 of 563 OK created sql view model staging.stg_x .... [\x1b[32mCREATE VIEW\x1b[0m in 0.88s]",
                     "227 of 563 PASS accepted_values_stg_opendental__treatplan_tp_status  [PASS in 0.32s]",
                     "Running with dbt=1.11.2", "Found 120 models, 443 data tests", "", "   "):
        assert not shown_in_demo(progress), progress
    for kept in ("12 of 563 ERROR creating sql table model marts.mart_x ..... [ERROR in 0.1s]",
                 "13 of 563 FAIL 3 not_null_mart_x_id ............ [FAIL 3 in 0.2s]",
                 "14 of 563 WARN 1 recency_mart_x ......... [WARN 1 in 0.2s]",
                 "Done. PASS=500 WARN=0 ERROR=2 SKIP=3 NO-OP=0 TOTAL=505",
                 "2026-12-02 20:01:55 +0000 - dagster - INFO - demo_job - x - materialize_demo - step 1/6",
                 "Traceback (most recent call last):"):
        assert shown_in_demo(kept), kept
    step = "2026-12-02 20:31:25 +0000 - dagster - {} - demo_job - 3f01db86-9dad-4ff6-9498-198b2ba2c951 - " \
           "materialize_demo - {}"
    assert shown_in_demo(step.format("INFO", "step 3/6: dbt: done in 45 s"))
    assert shown_in_demo(step.format("INFO", "  still running: step 3/6: dbt: 8 of 88 assets materialized"))
    assert shown_in_demo(step.format("INFO", "demo finished in 300 s"))
    assert not shown_in_demo(step.format("INFO", "Running dbt command: `dbt build --vars ...`"))
    assert shown_in_demo(step.format("WARNING", "Running dbt command: `dbt build --vars ...`"))

"""plan_runs: the demo's runs, one partitions definition each, in dependency order."""

import dagster as dg
import pytest

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

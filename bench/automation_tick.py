"""Time of one automation-sensor evaluation over the whole graph, with the dbt models' condition.

    .venv/bin/python bench/automation_tick.py              # 3 edited ticks
    .venv/bin/python bench/automation_tick.py --repeat 5

A temporary Dagster instance records every asset of the code location (each partition) and its
blocking checks passing, as a graph built once and checked; then, per repeat, one month of
``opendental.procedurelog`` is materialized again and Dagster's own evaluation
(``dg.evaluate_automation_conditions``, what ``dental_automation_sensor`` runs at each tick) is timed over
every asset. Reports the seconds of the first (initial) evaluation and of each edited tick, the assets
requested and the condition's label; then the tick after the whole graph is recorded again (every model
newly updated: the most work for ``policies.built_before_an_input_update``). No database server needed;
the instance lives in a temporary folder.
"""

import argparse
import logging
import time
import warnings

import dagster as dg


def record_graph(instance, graph) -> int:
    """Every asset's materializations (each partition) and its blocking checks passing, inputs before the
    models built from them (as a run builds them); returns events."""
    events = 0
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        if not node.is_materializable:
            continue
        months = node.partitions_def.get_partition_keys() if node.partitions_def is not None else [None]
        for month in months:
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=month))
            events += 1
        for check in graph.asset_check_keys:
            if check.asset_key == key and graph.get_check_spec(check).blocking:
                instance.report_runless_asset_event(dg.AssetCheckEvaluation(
                    asset_key=key, check_name=check.name, passed=True, severity=dg.AssetCheckSeverity.ERROR))
                events += 1
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="edited ticks to time (default 3)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("dagster").setLevel(logging.WARNING)

    from dental_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    raw = dg.AssetKey(["opendental", "procedurelog"])
    condition = graph.get(dg.AssetKey(["marts", "mart_production_daily"])).automation_condition
    print(f"condition of the dbt models: {condition.get_label()}")
    with dg.instance_for_test() as instance:
        started = time.perf_counter()
        events = record_graph(instance, graph)
        print(f"recorded {events} events in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        print(f"initial evaluation: {time.perf_counter() - started:.2f} s, {result.total_requested} requested")
        months = graph.get(raw).partitions_def.get_partition_keys()
        for repeat in range(args.repeat):
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=raw, partition=months[-1 - repeat]))
            started = time.perf_counter()
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
            seconds = time.perf_counter() - started
            requested = sum(1 for r in result.results if r.true_subset.size and isinstance(r.key, dg.AssetKey))
            print(f"tick after a procedurelog month: {seconds:.2f} s, {requested} assets requested")
        # the worst case of built_before_an_input_update: every model newly updated (a whole build, as the
        # nightly dbt backstops make), each one's build and its inputs' materializations looked up
        record_graph(instance, graph)
        started = time.perf_counter()
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        seconds = time.perf_counter() - started
        requested = sum(1 for r in result.results if r.true_subset.size and isinstance(r.key, dg.AssetKey))
        print(f"tick after the whole graph rebuilt: {seconds:.2f} s, {requested} assets requested")


if __name__ == "__main__":
    main()

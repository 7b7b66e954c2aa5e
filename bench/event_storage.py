"""Time of one range run's events in the ephemeral instance of `dental sync` against Dagster's own.

    .venv/bin/python bench/event_storage.py                    # 3,000 partitions, 2 alternations
    .venv/bin/python bench/event_storage.py --partitions 2940 --repeat 3

A partitioned asset that does nothing is materialized over all its partitions in one run (a range run,
as the raw layer's first sync makes: one materialization event per partition), with Dagster's batched
event writes on (DAGSTER_EVENT_BATCH_SIZE, 256 as the code location sets it), alternately in
`dagster.DagsterInstance.ephemeral()` and `dental_assets.instance.ephemeral_instance()`. Reports the
wall seconds of each run and checks that both recorded every partition. No database server needed.
"""

import argparse
import logging
import os
import time
import warnings

import dagster as dg

from dental_assets.instance import ephemeral_instance
from dental_assets.partitions import partition_range_tags, planned_events_per_range


def range_run_seconds(make_instance, keys: list[str]) -> tuple[float, int]:
    """(wall seconds of the range run over ``keys`` in a new instance, partitions it recorded)."""
    partitions = dg.StaticPartitionsDefinition(keys)

    @dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run())
    def table(context) -> None:
        return None

    instance = make_instance()
    started = time.perf_counter()
    with planned_events_per_range():
        dg.materialize([table], instance=instance, tags=partition_range_tags(keys[0], keys[-1]))
    seconds = time.perf_counter() - started
    recorded = len(instance.get_materialized_partitions(dg.AssetKey("table")))
    instance.dispose()
    return seconds, recorded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", "256")
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    keys = [f"p{i:05d}" for i in range(args.partitions)]
    for _ in range(args.repeat):
        for name, make in (("DagsterInstance.ephemeral()", dg.DagsterInstance.ephemeral),
                           ("ephemeral_instance()", ephemeral_instance)):
            seconds, recorded = range_run_seconds(make, keys)
            status = "ok" if recorded == len(keys) else f"ONLY {recorded} PARTITIONS RECORDED"
            print(f"{name:30s} {seconds:6.2f} s  {len(keys)} materializations  {status}")


if __name__ == "__main__":
    main()

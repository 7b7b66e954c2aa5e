"""Time of one range run's events in this project's instances against Dagster's own.

    .venv/bin/python bench/event_storage.py                    # 3,000 partitions, 2 alternations, both kinds
    .venv/bin/python bench/event_storage.py --partitions 2940 --repeat 3 --storage sqlite

A partitioned asset that does nothing is materialized over all its partitions in one run (a range run,
as the raw layer's first sync makes: one materialization event per partition), with Dagster's batched
event writes on (DAGSTER_EVENT_BATCH_SIZE, 256 as the code location sets it), alternately in Dagster's
instance and ours, of each kind asked for (``--storage``): ``ephemeral``, `dagster.DagsterInstance.ephemeral()`
against `dental_assets.instance.ephemeral_instance()`; ``sqlite``, an instance folder with Dagster's
SQLite storage against one with `dagster.demo.yaml`'s `DentalInstance` (`DentalSqliteStorage`), each
in a new temporary folder. Reports the wall and CPU seconds of each run and checks that each recorded
every partition. No database server needed.
"""

import argparse
import atexit
import logging
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import dagster as dg

from dental_assets.instance import ephemeral_instance
from dental_assets.partitions import partition_range_tags, planned_events_per_range


REPO_ROOT = Path(__file__).resolve().parents[1]


def sqlite_instance(config: str) -> dg.DagsterInstance:
    """An instance in a new temporary folder whose ``dagster.yaml`` is ``config`` (the folder is removed
    when the process ends)."""
    folder = tempfile.mkdtemp(prefix="dental-event-storage-")
    atexit.register(shutil.rmtree, folder, True)
    Path(folder, "dagster.yaml").write_text(config)
    return dg.DagsterInstance.from_config(folder)


# kind: [(name, make an instance)], Dagster's first, ours second
INSTANCES = {
    "ephemeral": [("DagsterInstance.ephemeral()", dg.DagsterInstance.ephemeral),
                  ("ephemeral_instance()", ephemeral_instance)],
    "sqlite": [("Dagster's SQLite storage", lambda: sqlite_instance("telemetry:\n  enabled: false\n")),
               ("DentalSqliteStorage", lambda: sqlite_instance((REPO_ROOT / "dagster.demo.yaml").read_text()))],
}


def range_run_seconds(make_instance, keys: list[str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, of the range run over ``keys`` in a new instance;
    partitions it recorded)."""
    partitions = dg.StaticPartitionsDefinition(keys)

    @dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run())
    def table(context) -> None:
        return None

    instance = make_instance()
    started, cpu_started = time.perf_counter(), time.process_time()
    with planned_events_per_range():
        dg.materialize([table], instance=instance, tags=partition_range_tags(keys[0], keys[-1]))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    recorded = len(instance.get_materialized_partitions(dg.AssetKey("table")))
    instance.dispose()
    return seconds, cpu_seconds, recorded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--storage", choices=["ephemeral", "sqlite", "both"], default="both")
    args = parser.parse_args()
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", "256")
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    keys = [f"p{i:05d}" for i in range(args.partitions)]
    kinds = list(INSTANCES) if args.storage == "both" else [args.storage]
    for _ in range(args.repeat):
        for kind in kinds:
            for name, make in INSTANCES[kind]:
                seconds, cpu_seconds, recorded = range_run_seconds(make, keys)
                status = "ok" if recorded == len(keys) else f"ONLY {recorded} PARTITIONS RECORDED"
                print(f"{name:30s} {seconds:6.2f} s, CPU {cpu_seconds:6.2f} s  {len(keys)} materializations  "
                      f"{status}", flush=True)


if __name__ == "__main__":
    main()

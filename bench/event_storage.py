"""Time of one range run's events in this project's instances against Dagster's own.

    .venv/bin/python bench/event_storage.py                    # 3,000 partitions, 2 alternations, both kinds
    .venv/bin/python bench/event_storage.py --partitions 2940 --repeat 3 --storage sqlite
    .venv/bin/python bench/event_storage.py --workload checks --storage sqlite   # events one by one

A partitioned asset that does nothing is materialized over all its partitions in one run (a range run,
as the raw layer's first sync makes: one materialization event per partition), with Dagster's batched
event writes on (DAGSTER_EVENT_BATCH_SIZE, 256 as the code location sets it), alternately in Dagster's
instance and ours, of each kind asked for (``--storage``): ``ephemeral``, `dagster.DagsterInstance.ephemeral()`
against `dental_assets.instance.ephemeral_instance()`; ``sqlite``, an instance folder with Dagster's
SQLite storage against one with `dagster.demo.yaml`'s `DentalInstance` (`DentalSqliteStorage`), each
in a new temporary folder. Reports the wall and CPU seconds of each run and checks that each recorded
every partition. No database server needed.

``--workload checks``: instead, one unpartitioned step of 160 assets with 5 checks each (960 events that
Dagster stores one by one, as it does a dbt step's outputs and check evaluations), run twice in each new
instance, the second run timed; checks that every check evaluation was recorded.
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


STEP_ASSETS, CHECKS_PER_ASSET = 160, 5


def step_run_seconds(make_instance) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, of the second run of a step of ``STEP_ASSETS`` assets with
    ``CHECKS_PER_ASSET`` checks each in a new instance; check evaluations it recorded)."""
    specs = [dg.AssetSpec(f"model_{i}") for i in range(STEP_ASSETS)]
    checks = [dg.AssetCheckSpec(f"test_{j}", asset=spec.key) for spec in specs for j in range(CHECKS_PER_ASSET)]

    @dg.multi_asset(specs=specs, check_specs=checks)
    def models():
        for spec in specs:
            yield dg.MaterializeResult(asset_key=spec.key)
            for j in range(CHECKS_PER_ASSET):
                yield dg.AssetCheckResult(asset_key=spec.key, check_name=f"test_{j}", passed=True)

    instance = make_instance()
    dg.materialize([models], instance=instance)  # the first run creates the files and the asset rows
    started, cpu_started = time.perf_counter(), time.process_time()
    result = dg.materialize([models], instance=instance)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    recorded = len(result.get_asset_check_evaluations())
    instance.dispose()
    return seconds, cpu_seconds, recorded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--storage", choices=["ephemeral", "sqlite", "both"], default="both")
    parser.add_argument("--workload", choices=["range", "checks"], default="range")
    args = parser.parse_args()
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", "256")
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    keys = [f"p{i:05d}" for i in range(args.partitions)]
    kinds = list(INSTANCES) if args.storage == "both" else [args.storage]
    for _ in range(args.repeat):
        for kind in kinds:
            for name, make in INSTANCES[kind]:
                if args.workload == "checks":
                    seconds, cpu_seconds, recorded = step_run_seconds(make)
                    expected, what = STEP_ASSETS * CHECKS_PER_ASSET, "check evaluations"
                else:
                    seconds, cpu_seconds, recorded = range_run_seconds(make, keys)
                    expected, what = len(keys), "materializations"
                status = "ok" if recorded == expected else f"ONLY {recorded} RECORDED"
                print(f"{name:30s} {seconds:6.2f} s, CPU {cpu_seconds:6.2f} s  {expected} {what}  {status}",
                      flush=True)


if __name__ == "__main__":
    main()

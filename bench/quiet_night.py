"""A quiet night on a large practice: what the nightly raw backstop costs when nobody edited the source.

After a first `dental sync` of a synthetic practice (``--patients``, default 50,000) in MariaDB, the raw
tables' last materializations are recorded 30 hours back on an ephemeral Dagster instance (what a
practice closed for a weekend leaves: every raw table WARN by Dagster's own freshness evaluator). Then,
timed:

1. the backstop's tick: `plan_run_requests(backstop=True)`, as `raw_sync_backstop` calls it (the cheap
   fingerprints, every table's content fingerprints on both sides, and the tables to keep fresh). This is
   what must finish inside the daemon's schedule tick timeout (`cli.TICK_TIMEOUTS`: 600 s under
   `dental ui`; Dagster's default 60 s);
2. its runs, in this process as the daemon's would run them: the keep-fresh syncs (the latest month of
   every monthly table, every reference table whole) with their `matches_source` checks.

Then every raw table must be PASS by Dagster's evaluator, the automation sensor's tick (its conditions
evaluated over the whole graph, from a cursor taken before the runs) must request no model, and the
backstop run again right after must request nothing. Exits 1 otherwise.

    .venv/bin/python bench/quiet_night.py [--patients 50000] [--buffer-pool-mb 3072]

Uses the test servers (TEST_MARIADB_URL / TEST_PG_URL, e.g. from `eval "$(scripts/services.sh start)"`)
and the benchmark's databases (`bench_repl`, dropped and recreated). Timings on a shared 2-core machine
are noisy: run it more than once.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import replication as bench  # noqa: E402  (bench/replication.py: servers, databases, timed processes)

AS_OF = dt.date(2025, 6, 30)
QUIET_HOURS = 30  # since the last materializations: past raw's 26-hour warn window


def record_last_sync(instance, hours_ago: float) -> None:
    """Record a materialization of every raw table (every month of a monthly one) ``hours_ago``."""
    import dagster as dg
    from dagster._core.test_utils import freeze_time

    from dental_assets.catalog import raw_tables
    from dental_assets.defs.raw.assets import raw_asset_key
    from dental_assets.partitions import monthly_partitions

    months = monthly_partitions.get_partition_keys()
    with freeze_time(dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=hours_ago)):
        for table in raw_tables():
            for month in months if table.partitioned else [None]:
                instance.report_runless_asset_event(dg.AssetMaterialization(
                    asset_key=raw_asset_key(table.name), partition=month))


def quiet_night(maria_url: str, pg_url: str) -> bool:
    """The backstop's tick and runs on a quiet source; prints the figures; True when raw ends PASS and the
    automation rebuilds nothing."""
    import dagster as dg

    from dental_assets.definitions import defs
    from dental_assets.defs.raw.sensors import plan_run_requests
    from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource
    from dental_assets.instance import ephemeral_instance
    from test_replication_support import raw_freshness, run_raw_request

    opendental = OpenDentalSourceResource(kind="opendental", url=maria_url)
    warehouse = WarehouseResource(url=pg_url)
    instance = ephemeral_instance()
    record_last_sync(instance, QUIET_HOURS)
    before = raw_freshness(instance)
    models = dg.evaluate_automation_conditions(defs=defs, instance=instance)  # the sensor's tick before
    started = time.perf_counter()
    requests = plan_run_requests(opendental, warehouse, with_run_keys=False, backstop=True, instance=instance)
    tick = time.perf_counter() - started
    tables = sum(len(r.asset_selection) for r in requests)
    print(f"raw freshness {QUIET_HOURS} h after the last sync: {sorted(before)}", flush=True)
    print(f"backstop tick: {tick:.1f} s, {len(requests)} run(s) requested over {tables} tables", flush=True)
    started = time.perf_counter()
    checks = []
    for request in requests:
        run = run_raw_request(request, {"opendental": opendental, "warehouse": warehouse}, instance)
        checks += [e.passed for e in run.get_asset_check_evaluations()]
        print(f"  run {request.partition_key or request.tags.get('dagster/asset_partition_range_start') or 'whole'}: "
              f"{len(request.asset_selection)} tables, "
              f"{'succeeded' if run.success else 'FAILED'}", flush=True)
    runs = time.perf_counter() - started
    after = raw_freshness(instance)
    started = time.perf_counter()
    rebuilds = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=models.cursor).total_requested
    print(f"automation tick after the runs: {time.perf_counter() - started:.1f} s, {rebuilds} model "
          "partition(s) requested", flush=True)
    again = plan_run_requests(opendental, warehouse, with_run_keys=False, backstop=True, instance=instance)
    print(f"backstop runs: {runs:.1f} s, {sum(checks)}/{len(checks)} checks passed", flush=True)
    print(f"raw freshness after them: {sorted(after)}; the backstop again right after requests "
          f"{len(again)} run(s)", flush=True)
    return after == {"PASS"} and all(checks) and not again and rebuilds == 0


def main() -> int:
    maria_url, pg_url, _, env = bench.practice_source_from_arguments(__doc__.splitlines()[0], AS_OF)
    first = bench._timed_process([sys.executable, "-m", "dental_assets.cli", "sync"], env)
    print(f"first dental sync: {first['seconds']:.1f} s (exit {first['exit']})", flush=True)
    if first["exit"] != 0:
        return 1
    bench.settle(maria_url, pg_url)
    return 0 if quiet_night(maria_url, pg_url) else 1


if __name__ == "__main__":
    sys.exit(main())

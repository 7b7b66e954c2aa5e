"""Wall time of the full `dbt build` (every model, data test and unit test) at a practice size, and
of the incremental fact models' partition runs.

    .venv/bin/python bench/dbt_build.py --patients 5000 [--patients 100000] --pg-url URL
    .venv/bin/python bench/dbt_build.py --patients 5000 --incremental      # partition runs only
    .venv/bin/python bench/dbt_build.py --patients 5000 --dirty 0.01 --builds 1   # dirty practice

For each size: generate the synthetic practice (as of 2026-06-30), load it into a fresh database's
`raw` schema on the PostgreSQL server at --pg-url (default $TEST_PG_URL, e.g. the test server of
`scripts/services.sh start`), run `dbt build` `--builds` times (default 2) and report each wall time and the row counts of
the largest marts, then drop the database. The server must be started by the project's scripts (fsync off, as in tests).

With --incremental: build the incremental facts and what they read (`dbt run --select
+config.materialized:incremental`, no vars: every row), then run the four facts (`dbt run --select
config.materialized:incremental`) over windows of 1, 3, 12 months and everything (no vars), three
times each. For each it reports the rows the facts inserted and the facts' own execution time (the sum
of the four models' `execution_time` in dbt's run_results.json: dbt's start-up and parsing, a fixed
5-10 s, are left out) and the best wall time of the dbt command.
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

import dental_synthetic
from dental_assets.warehouse import PgParams, mark_demo_target

DBT_DIR = Path(__file__).resolve().parents[1] / "dental_dbt"


def fresh_database(server_url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = PgParams.from_url(server_url).connect()
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    admin.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, url: str) -> None:
    """Drop the size's database (it holds GBs at 100,000 patients)."""
    admin = PgParams.from_url(server_url).connect()
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {make_url(url).database} WITH (FORCE)")
    admin.close()


def dbt_build(params: PgParams, target: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "build", "--project-dir", str(DBT_DIR),
         "--profiles-dir", str(DBT_DIR), "--target-path", str(target), "--log-path", str(target),
         "--vars", "{as_of_date: '2026-06-30'}"],
        env={**os.environ, **params.dbt_env()}, capture_output=True, text=True,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"dbt build failed:\n{result.stdout[-4000:]}")
    summary = [line for line in result.stdout.splitlines() if "PASS=" in line]
    print(f"    {summary[-1].split('Done. ')[-1] if summary else ''}")
    return seconds


def dbt_facts(params: PgParams, target: Path, *args: str) -> tuple[float, float, int]:
    """``dbt run`` of the incremental facts with ``args``: (wall seconds, the facts' execution seconds,
    rows inserted). Exits with dbt's output when dbt fails."""
    started = time.perf_counter()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "run", "--select", "config.materialized:incremental",
         "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--target-path", str(target),
         "--log-path", str(target), *args],
        env={**os.environ, **params.dbt_env()}, capture_output=True, text=True,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"dbt run failed:\n{result.stdout[-4000:]}")
    results = json.loads((target / "run_results.json").read_text())["results"]
    execution = sum(r["execution_time"] for r in results)
    inserted = sum(int((r.get("adapter_response") or {}).get("rows_affected") or 0) for r in results)
    return wall, execution, inserted


def incremental_bench(params: PgParams, target: Path) -> None:
    """The partition runs of the incremental facts (see the module docstring)."""
    subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "run", "--select", "+config.materialized:incremental",
         "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--target-path", str(target),
         "--log-path", str(target)],
        env={**os.environ, **params.dbt_env()}, capture_output=True, text=True, check=True,
    )
    windows = {
        "1 month (2025-03)": ("2025-03-01", "2025-04-01"),
        "3 months (2025-01..03)": ("2025-01-01", "2025-04-01"),
        "12 months (2024-07..2025-06)": ("2024-07-01", "2025-07-01"),
        "everything (no vars)": None,
    }
    print("  window | rows inserted | facts' execution (best of 3) | dbt wall (best of 3)")
    for label, window in windows.items():
        args = [] if window is None else ["--vars", json.dumps({"min_date": window[0], "max_date": window[1]})]
        runs = [dbt_facts(params, target, *args) for _ in range(3)]
        print(f"  {label} | {runs[0][2]:,} | {min(r[1] for r in runs):.2f} s | {min(r[0] for r in runs):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, action="append")
    parser.add_argument("--pg-url", default=os.environ.get("TEST_PG_URL"))
    parser.add_argument("--incremental", action="store_true",
                        help="time the incremental facts' partition runs instead of the full build")
    parser.add_argument("--builds", type=int, default=2, help="full builds per size (default 2)")
    parser.add_argument("--dirty", type=float, default=0.0, metavar="RATE",
                        help="inject every kind of dirty data at RATE (dental_synthetic.dirty.make_dirty, "
                             "e.g. 0.01); the build must still pass every test")
    args = parser.parse_args()
    if not args.pg_url:
        sys.exit("give --pg-url or set TEST_PG_URL (eval \"$(scripts/services.sh start)\")")
    for patients in args.patients or [5000]:
        url = fresh_database(args.pg_url)
        params = PgParams.from_url(url)
        mark_demo_target(params)
        practice = dental_synthetic.generate(
            dental_synthetic.SyntheticConfig(patients=patients, seed=42, as_of=dt.date(2026, 6, 30))
        )
        if args.dirty:
            from dental_synthetic.dirty import make_dirty

            practice = make_dirty(practice, args.dirty)
        dental_synthetic.write_postgres_raw(practice, params)
        rows = sum(t.num_rows for t in practice.tables.values())
        print(f"{patients:,} patients ({rows:,} raw rows{f', dirty at {args.dirty:g}' if args.dirty else ''})")
        if args.incremental:
            with tempfile.TemporaryDirectory() as target:
                incremental_bench(params, Path(target))
            drop_database(args.pg_url, url)
            continue
        with tempfile.TemporaryDirectory() as target:
            for attempt in range(1, args.builds + 1):
                seconds = dbt_build(params, Path(target))
                print(f"  dbt build #{attempt}: {seconds:.1f} s")
        conn = params.connect()
        with conn.cursor() as cur:
            for mart in ("mart_ar_aging", "mart_production_daily", "fct_treatment_journey"):
                cur.execute(f"SELECT count(*) FROM marts.{mart}")
                print(f"  marts.{mart}: {cur.fetchone()[0]:,} rows")
        conn.close()
        drop_database(args.pg_url, url)


if __name__ == "__main__":
    main()

"""Wall time of the full `dbt build` (every model, data test and unit test) at a practice size.

    .venv/bin/python bench/dbt_build.py --patients 5000 [--patients 100000] --pg-url URL

For each size: generate the synthetic practice (as of 2026-06-30), load it into a fresh database's
`raw` schema on the PostgreSQL server at --pg-url (default $TEST_PG_URL, e.g. the test server of
`scripts/services.sh start`), run `dbt build` twice and report both wall times and the row counts of
the largest marts. The server must be started by the project's scripts (fsync off, as in tests).
"""

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, action="append")
    parser.add_argument("--pg-url", default=os.environ.get("TEST_PG_URL"))
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
        dental_synthetic.write_postgres_raw(practice, params)
        rows = sum(t.num_rows for t in practice.tables.values())
        print(f"{patients:,} patients ({rows:,} raw rows)")
        with tempfile.TemporaryDirectory() as target:
            for attempt in (1, 2):
                seconds = dbt_build(params, Path(target))
                print(f"  dbt build #{attempt}: {seconds:.1f} s")
        conn = params.connect()
        with conn.cursor() as cur:
            for mart in ("mart_ar_aging", "mart_production_daily", "fct_treatment_journey"):
                cur.execute(f"SELECT count(*) FROM marts.{mart}")
                print(f"  marts.{mart}: {cur.fetchone()[0]:,} rows")
        conn.close()


if __name__ == "__main__":
    main()

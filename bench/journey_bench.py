"""Wall time of the treatment-journey dataset at a practice size: the dbt model, then the Parquet files.

    .venv/bin/python bench/journey_bench.py [--patients 5000] [--patients 100000] [--pg-url URL]

For each size (default 5,000 then 100,000 patients):
1. generate the synthetic practice (seed 42, as of 2026-06-30) and load it into a fresh database's `raw`
   schema on the PostgreSQL server at --pg-url (default $TEST_PG_URL, e.g. the test server of
   `scripts/services.sh start`), as `bench/dbt_build.py` does; the load creates the raw indexes that
   `dental_assets/catalog/tables.yml` declares;
2. build the models upstream of `fct_treatment_journey` (`dbt run`, not timed);
3. indexes before/after: with the declared raw indexes dropped, then created again (creation timed),
   time the model's compiled query (`CREATE TABLE ... AS`, JIT off as in the model) and the keyed
   look-ups those indexes serve (one procedure's claimprocs and paysplits, one patient's appointments
   before a date, one family's members: --lookups of each, random keys, fixed seed);
4. the model build: `dbt run --select fct_treatment_journey`, its own execution time from
   run_results.json (the figure that counts inside a full `dbt build`) and the invocation's wall time
   (dbt's start-up and parse included);
5. the Parquet write: every year partition through `write_journey_partition` (read, de-identify, write,
   statistics) plus the data-quality summary, as the `treatment_journey` asset does, into a temporary
   data directory.
The dataset's time is model + Parquet; targets: <= 10 s at 5,000 patients, <= 120 s at 100,000.
The size's database is dropped at the end.
Timings are wall seconds of one run each (two for the model query): on a shared machine they move with
the load.
"""

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dental_synthetic  # noqa: E402
from bench.dbt_build import DBT_DIR, fresh_database  # noqa: E402
from dental_assets.catalog import pg_create_indexes_sql, pg_index_name, quote_pg, raw_tables  # noqa: E402
from dental_assets.warehouse import PgParams, mark_demo_target  # noqa: E402

AS_OF = dt.date(2026, 6, 30)
MODEL = "fct_treatment_journey"


def dbt(params: PgParams, target: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), *args, "--project-dir", str(DBT_DIR),
         "--profiles-dir", str(DBT_DIR), "--target-path", str(target), "--log-path", str(target),
         "--vars", f"{{as_of_date: '{AS_OF}'}}"],
        env={**os.environ, **params.dbt_env()}, capture_output=True, text=True,
    )
    if result.returncode != 0:
        sys.exit(f"dbt {args[0]} failed:\n{result.stdout[-4000:]}")
    return result


def execute(params: PgParams, sql: str, fetch: bool = False):
    conn = params.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if fetch else None
    finally:
        conn.close()


def timed(params: PgParams, sql: str) -> float:
    started = time.perf_counter()
    execute(params, sql)
    return time.perf_counter() - started


def drop_indexes(params: PgParams) -> None:
    for table in raw_tables():
        for columns in table.indexes:
            execute(params, f"DROP INDEX IF EXISTS raw.{quote_pg(pg_index_name(table.name, columns))}")


def create_indexes(params: PgParams) -> float:
    started = time.perf_counter()
    for table in raw_tables():
        for statement in pg_create_indexes_sql(table):
            execute(params, statement)
            execute(params, f"ANALYZE raw.{quote_pg(table.name)}")
    return time.perf_counter() - started


def lookups(params: PgParams, count: int) -> dict[str, float]:
    """Wall seconds of ``count`` keyed look-ups of each kind, on one connection."""
    rng = random.Random(7)
    procs = [r[0] for r in execute(params, 'SELECT "ProcNum" FROM raw.procedurelog', fetch=True)]
    patients = execute(params, 'SELECT "PatNum", "Guarantor" FROM raw.patient', fetch=True)
    queries = {
        "procedure's claimprocs + paysplits": [
            f'SELECT sum("InsPayAmt") FROM raw.claimproc WHERE "ProcNum" = {p}; '
            f'SELECT sum("SplitAmt") FROM raw.paysplit WHERE "ProcNum" = {p}'
            for p in rng.sample(procs, count)],
        "patient's appointments before a date": [
            f'SELECT count(*) FROM raw.appointment WHERE "PatNum" = {p} AND "AptDateTime" < \'{AS_OF}\''
            for p, _ in rng.sample(patients, count)],
        "family's members": [
            f'SELECT count(*) FROM raw.patient WHERE "Guarantor" = {g}' for _, g in rng.sample(patients, count)],
    }
    conn = params.connect()
    seconds = {}
    try:
        with conn.cursor() as cur:
            for name, statements in queries.items():
                started = time.perf_counter()
                for statement in statements:
                    cur.execute(statement)
                    cur.fetchall()
                seconds[name] = time.perf_counter() - started
        conn.rollback()
    finally:
        conn.close()
    return seconds


def bench_size(server_url: str, patients: int, lookup_count: int) -> None:
    url = fresh_database(server_url)
    try:
        _bench_database(url, patients, lookup_count)
    finally:
        drop_database(server_url, url)


def _bench_database(url: str, patients: int, lookup_count: int) -> None:
    from dental_assets.defs.journey.assets import data_quality_summary, write_journey_partition

    params = PgParams.from_url(url)
    mark_demo_target(params)
    started = time.perf_counter()
    practice = dental_synthetic.generate(dental_synthetic.SyntheticConfig(patients=patients, seed=42, as_of=AS_OF))
    dental_synthetic.write_postgres_raw(practice, params)
    rows = sum(t.num_rows for t in practice.tables.values())
    del practice
    print(f"{patients:,} patients ({rows:,} raw rows), generated and loaded in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "target"
        dbt(params, target, "run", "--select", f"+{MODEL}", "--exclude", MODEL)
        dbt(params, target, "snapshot", "--select", f"+{MODEL}")  # the fee and coverage history it reads
        dbt(params, target, "compile", "--select", MODEL)
        compiled = next((target / "compiled").rglob(f"{MODEL}.sql")).read_text()
        query = f"SET jit = off; DROP TABLE IF EXISTS public.journey_probe; CREATE TABLE public.journey_probe AS {compiled}"

        drop_indexes(params)
        before = [timed(params, query) for _ in range(2)]
        look_before = lookups(params, lookup_count)
        creation = create_indexes(params)
        after = [timed(params, query) for _ in range(2)]
        look_after = lookups(params, lookup_count)
        execute(params, "DROP TABLE IF EXISTS public.journey_probe")
        print(f"  indexes: created in {creation:.2f} s")
        print(f"    model query without / with: {', '.join(f'{s:.1f}' for s in before)} s / "
              f"{', '.join(f'{s:.1f}' for s in after)} s")
        for name in look_before:
            print(f"    {lookup_count} look-ups, {name}: {look_before[name]:.3f} s / {look_after[name]:.3f} s")

        started = time.perf_counter()
        dbt(params, target, "run", "--select", MODEL)
        wall = time.perf_counter() - started
        results = json.loads((target / "run_results.json").read_text())["results"]
        model_seconds = sum(r["execution_time"] for r in results)
        print(f"  dbt model {MODEL}: {model_seconds:.1f} s (dbt invocation {wall:.1f} s)")

        os.environ["DENTAL_DATA_DIR"] = str(Path(tmp) / "data")
        relation = f'"marts"."{MODEL}"'
        years = [int(r[0]) for r in execute(
            params, f"SELECT DISTINCT procedure_year FROM {relation} WHERE procedure_year IS NOT NULL "
                    "ORDER BY 1", fetch=True)]
        parquet_seconds, written = 0.0, 0
        for year in years:
            started = time.perf_counter()
            path, table, _ = write_journey_partition(params, relation, str(year), "synthetic")
            data_quality_summary(table, year)
            seconds = time.perf_counter() - started
            parquet_seconds += seconds
            written += table.num_rows
            print(f"    {year}: {table.num_rows:,} rows, {path.stat().st_size / 1e6:.1f} MB, {seconds:.2f} s")
        print(f"  Parquet write ({len(years)} years, {written:,} rows): {parquet_seconds:.1f} s")
        print(f"  dataset (model + Parquet): {model_seconds + parquet_seconds:.1f} s")


def drop_database(server_url: str, url: str) -> None:
    """Drop the size's database (a 100,000-patient practice takes gigabytes)."""
    admin = PgParams.from_url(server_url).connect()
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {quote_pg(PgParams.from_url(url).dbname)} WITH (FORCE)")
    finally:
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, action="append")
    parser.add_argument("--pg-url", default=os.environ.get("TEST_PG_URL"))
    parser.add_argument("--lookups", type=int, default=200)
    args = parser.parse_args()
    if not args.pg_url:
        sys.exit("give --pg-url or set TEST_PG_URL (eval \"$(scripts/services.sh start)\")")
    for patients in args.patients or [5000, 100000]:
        bench_size(args.pg_url, patients, args.lookups)


if __name__ == "__main__":
    main()

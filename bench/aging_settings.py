"""Issue 12's "Done when" measured: the aging and production marts against the generator's books under
each combination of the practice's aging settings, on a clean and on a dirty practice.

    nice -n 19 .venv/bin/python bench/aging_settings.py --patients 5000 [--dirty-rate 0.01] [--pg-url URL]
        [--dirty-first] [--project DIR]    # dirty runs first; another copy of the dbt project

For each of AgingProcLifo on (stored 1) / off (stored 2) x PayPlansVersion 1, 2, 4 (``COMBINATIONS``),
clean and dirty (``dental_synthetic.dirty.make_dirty`` at --dirty-rate, as bench/dbt_build.py --dirty
and tests/test_marts_dirty.py make one): generate the practice (seed 42, as of ``AS_OF``) with those
settings in its ``preference`` table, load it into ``raw`` (replaced) of one fresh database on the
PostgreSQL server at --pg-url (default $TEST_PG_URL, ``scripts/services.sh start``), ``dbt build``
``SELECT`` (models and their tests; one dbt target for all runs, so dbt parses the project once), then
compare, to the cent (tests/ledger_compare.py), with the generator's ledger
computed over the same (clean or dirty) tables by OpenDental 24.3's rules:

- aging: every family's four buckets, total, insurance estimate and PayPlanDue at the run date and at
  every month end of mart_ar_aging (``dental_synthetic.ledger.family_aging``, historic before the run
  date);
- days: every (date, clinic, provider)'s gross production, adjustments, write-offs, capitation write-offs
  and total production (mart_production_daily) and every (date, clinic)'s patient and insurance income
  (mart_collections_daily), against ``dental_synthetic.ledger.daily_ledger`` (dates before 1880,
  OpenDental's "no date", are in no report's range).

Printed per combination: rows compared and mismatching (aging family-dates, days), the largest
difference of one amount in cents, "unlisted" (family-month ends with a non-zero expected aging that
mart_ar_aging leaves out by its documented row set: before the family's first dated transaction; "of
which beyond PayPlanDue" counts those with more than a PayPlanDue), and the wall seconds of the dbt
build. Exit status 1 when any row mismatches.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' shared helpers

import dental_synthetic  # noqa: E402
from dbt_build import drop_database, fresh_database  # noqa: E402
from dbt_runner import DBT_DIR, run_dbt  # noqa: E402
from dental_assets.warehouse import PgParams, mark_demo_target  # noqa: E402
from dental_synthetic.dirty import make_dirty  # noqa: E402
from dental_synthetic.ledger import daily_ledger  # noqa: E402
from ledger_compare import (diff, expected_aging, expected_income, expected_production,  # noqa: E402
                            guarantors, largest_cents, mart_aging, mart_income, mart_production,
                            month_end_agings)

AS_OF = dt.date(2026, 6, 30)
SEED = 42
AGING_PROC_LIFO = {"on": 1, "off": 2}  # stored YN codes
PAY_PLANS_VERSIONS = (1, 2, 4)
COMBINATIONS = [(lifo, version) for lifo in AGING_PROC_LIFO for version in PAY_PLANS_VERSIONS]
SELECT = ("+mart_ar_aging", "+mart_production_daily", "+mart_collections_daily")


def build(params: PgParams, practice, target: Path, project: Path) -> float:
    """Load ``practice`` into raw and build ``SELECT`` with its tests (dbt project ``project``); the
    build's wall seconds."""
    dental_synthetic.write_postgres_raw(practice, params)
    started = time.perf_counter()
    run_dbt(params, target, "build", "--select", *SELECT, "--indirect-selection", "cautious",
            settings={"as_of_date": AS_OF.isoformat()}, project=project)
    return time.perf_counter() - started


def compare(params: PgParams, practice) -> dict[str, int]:
    """The marts against the ledger over ``practice.tables``: counts of rows compared, mismatching and
    unlisted (module docstring), and the largest difference in cents."""
    tables, guarantor = practice.tables, guarantors(practice)
    out = dict(aging_rows=0, aging_mismatches=0, unlisted=0, unlisted_beyond_plan_due=0, day_rows=0,
               day_mismatches=0, max_cents=0)

    def count(kind: str, got: dict, want: dict) -> None:
        differences = diff(got, want)
        out[f"{kind}_rows"] += len(set(got) | set(want))
        out[f"{kind}_mismatches"] += len(differences)
        out["max_cents"] = max(out["max_cents"], largest_cents(differences))

    count("aging", mart_aging(params, AS_OF), expected_aging(tables, guarantor, AS_OF, AS_OF))
    for _day, got, want, unlisted in month_end_agings(params, tables, guarantor, AS_OF):
        count("aging", got, want)
        out["unlisted"] += len(unlisted)
        out["unlisted_beyond_plan_due"] += sum(1 for v in unlisted.values() if any(v[:6]))
    daily = daily_ledger(tables)
    count("day", mart_production(params), expected_production(daily))
    count("day", mart_income(params), expected_income(daily))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--dirty-rate", type=float, default=0.01, help="make_dirty's rate (default 0.01)")
    parser.add_argument("--pg-url", default=os.environ.get("TEST_PG_URL"))
    parser.add_argument("--dirty-first", action="store_true", help="the dirty practice before the clean one")
    parser.add_argument("--project", type=Path, default=DBT_DIR,
                        help="the dbt project (default: this checkout's dental_dbt)")
    args = parser.parse_args()
    if not args.pg_url:
        sys.exit("give --pg-url or set TEST_PG_URL (source /tmp/services.env after scripts/services.sh start)")
    print(f"{args.patients:,} patients, seed {SEED}, as of {AS_OF}; dirty rate {args.dirty_rate:g}")
    print("data  | AgingProcLifo | PayPlansVersion | aging rows | aging mismatches | unlisted (beyond PayPlanDue) "
          "| day rows | day mismatches | max cents | build s")
    failed = False
    url = fresh_database(args.pg_url)  # one database and dbt target for every run: dbt parses once
    try:
        params = PgParams.from_url(url)
        mark_demo_target(params)
        with tempfile.TemporaryDirectory() as target:
            for dirty in ((True, False) if args.dirty_first else (False, True)):
                for lifo, version in COMBINATIONS:
                    practice = dental_synthetic.generate(dental_synthetic.SyntheticConfig(
                        patients=args.patients, seed=SEED, as_of=AS_OF, aging_proc_lifo=AGING_PROC_LIFO[lifo],
                        pay_plans_version=version))
                    if dirty:
                        practice = make_dirty(practice, args.dirty_rate)
                    seconds = build(params, practice, Path(target), args.project)
                    r = compare(params, practice)
                    failed |= bool(r["aging_mismatches"] or r["day_mismatches"])
                    print(f"{'dirty' if dirty else 'clean'} | {lifo} | {version} | {r['aging_rows']:,} | "
                          f"{r['aging_mismatches']:,} | {r['unlisted']:,} ({r['unlisted_beyond_plan_due']:,}) | "
                          f"{r['day_rows']:,} | {r['day_mismatches']:,} | {r['max_cents']:,} | {seconds:.1f}",
                          flush=True)
    finally:
        drop_database(args.pg_url, url)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

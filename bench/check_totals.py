"""The matches_source check's every-row totals on the source, with and without the business-date sum.

    .venv/bin/python bench/check_totals.py --source-url mysql+pymysql://user:pass@127.0.0.1:53306/db [--rounds 2]

For issue 13's 10% (docs/replication.md, *Limits*): the check's first query sums, over every row of a
table, the count, the keys, the modified timestamps and the business dates
(``fingerprint.source_check_queries``). The date sum makes MariaDB read the clustered index; without it
the modified column's index holds everything the query reads. This times both forms, one query at a
time, over every partitioned table with a modified column of an existing source (e.g. the database
``bench/replication.py --patients 50000`` leaves, ``bench_repl``). Read-only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dental_assets.catalog import raw_tables  # noqa: E402
from dental_assets.replication.fingerprint import TO_SECONDS_1970  # noqa: E402
from dental_assets.replication.mysql import MySqlParams, connect  # noqa: E402

CLOCK = "'2099-01-01 00:00:00'"  # the check leaves out rows stamped at or after the sync's start: none here


def totals_queries(table) -> dict[str, str]:
    """The check's totals query of ``table`` as the sync sends it (whole table), and without the date sum."""
    key, mod, date = f"`{table.primary_key}`", f"`{table.modified_column}`", f"`{table.business_date}`"
    where = f"TRUE AND COALESCE({mod} < {CLOCK}, TRUE)"
    common = f"COUNT(*), SUM({key}), SUM(TO_SECONDS({mod}) - {TO_SECONDS_1970})"
    return {"with the date sum": f"SELECT {common}, SUM(TO_DAYS({date})) FROM `{table.name}` WHERE {where}",
            "without it": f"SELECT {common} FROM `{table.name}` WHERE {where}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-url", required=True)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    conn = connect(MySqlParams.from_url(args.source_url))
    tables = [t for t in raw_tables() if t.partitioned and t.modified_column]
    with conn.cursor() as cur:
        for round_ in range(1, args.rounds + 1):
            seconds: dict[str, float] = {}
            for table in tables:
                for form, sql in totals_queries(table).items():
                    started = time.perf_counter()
                    cur.execute(sql)
                    cur.fetchall()
                    seconds[form] = seconds.get(form, 0.0) + time.perf_counter() - started
            print(f"round {round_}, {len(tables)} tables: " + ", ".join(f"{f} {s:.2f} s" for f, s in seconds.items()),
                  flush=True)
    conn.close()


if __name__ == "__main__":
    main()

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
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dental_assets.catalog import raw_tables  # noqa: E402
from dental_assets.replication import fingerprint  # noqa: E402
from dental_assets.replication.extract import q, read_source_columns  # noqa: E402
from dental_assets.replication.mysql import MySqlParams, connect  # noqa: E402

CLOCK = dt.datetime(2099, 1, 1)  # the check leaves out rows stamped at or after the sync's start: none here


def totals_queries(table, cols) -> dict[str, str]:
    """The check's totals query of ``table``'s whole window as a sampled check sends it
    (``fingerprint.source_check_queries``' first query), and the same without the date sum."""
    sent = fingerprint.source_check_queries(table, cols, None, fingerprint.CheckScope(sample=32), [], CLOCK)[0]
    date_sum = fingerprint._date_sum_mysql(q(table.business_date))
    assert date_sum in sent, sent
    return {"with the date sum": sent, "without it": sent.replace(f", {date_sum}", "")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-url", required=True)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    params = MySqlParams.from_url(args.source_url)
    tables = [t for t in raw_tables() if t.partitioned and t.modified_column]
    cols = read_source_columns(params, tables)
    conn = connect(params)
    with conn.cursor() as cur:
        for round_ in range(1, args.rounds + 1):
            seconds: dict[str, float] = {}
            for table in tables:
                for form, sql in totals_queries(table, cols[table.name]).items():
                    started = time.perf_counter()
                    cur.execute(sql)
                    cur.fetchall()
                    seconds[form] = seconds.get(form, 0.0) + time.perf_counter() - started
            print(f"round {round_}, {len(tables)} tables: " + ", ".join(f"{f} {s:.2f} s" for f, s in seconds.items()),
                  flush=True)
    conn.close()


if __name__ == "__main__":
    main()

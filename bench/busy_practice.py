"""A busy practice writing while `dental sync` runs (issue 13: replication a practice can leave running).

After a first sync, a writer edits, inserts and deletes rows on the MariaDB source at a steady rate
while `dental sync` runs again and again as a process (what a practice's scheduler, or the sensor,
does). Then the writer stops, one more `dental sync` runs, and raw must equal the source: every table by
the content check over every row and column (`practice_day.every_table_equal`).

    .venv/bin/python bench/busy_practice.py [--patients 50000] [--buffer-pool-mb 3072]
                                            [--writes-per-second 5] [--syncs 5] [--reuse]

Uses the test servers (TEST_MARIADB_URL / TEST_PG_URL, e.g. from `eval "$(scripts/services.sh start)"`)
and the benchmark's databases (`bench_repl`, dropped and recreated; with `--reuse`, the practice and
raw already there, as another benchmark left them, are used as they are).

The writes, each in its own transaction, keys drawn at random over the whole history (a key that is
gone changes nothing; `WRITE_MIX`'s shares): a procedure's fee, an appointment's note, a new procedure
dated today, a payment split deleted, a security log entry added (a table without a modified column).
Their timestamps move as OpenDental's do.

Prints, for each sync while the writer runs: its exit code and seconds, the tables it synced, the
checks that failed, the tables synced again or re-copied whole after a failed check (the lines `dental
sync` prints). Exits 1 when a sync failed or raw differs from the source at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import pymysql  # noqa: E402
import practice_day  # noqa: E402  (bench/practice_day.py: the practice, `dental sync` as a process, the comparison)
import replication as bench  # noqa: E402  (bench/replication.py: servers, databases)

# the writer's statements and their shares of the writes ({key}: a key drawn between the table's bounds)
WRITE_MIX = (
    ("procedurelog", "ProcNum", 0.5, "UPDATE procedurelog SET ProcFee = ProcFee + 1 WHERE ProcNum = {key}"),
    ("appointment", "AptNum", 0.2, "UPDATE appointment SET Note = CONCAT(Note, '.') WHERE AptNum = {key}"),
    ("procedurelog", "ProcNum", 0.2,
     "INSERT INTO procedurelog (PatNum, ProcDate, ProcFee, CodeNum) "
     "SELECT PatNum, CURDATE(), ProcFee, CodeNum FROM procedurelog WHERE ProcNum = {key}"),
    ("paysplit", "SplitNum", 0.1, "DELETE FROM paysplit WHERE SplitNum = {key}"),
    # a security log entry (no modified column: OpenDental only ever adds them), today
    ("securitylog", "SecurityLogNum", 0.3,
     "INSERT INTO securitylog ({columns}) SELECT {values} FROM securitylog WHERE SecurityLogNum = {key}"),
)
NOW_COLUMNS = {"LogDateTime": "NOW()"}  # values a copied row takes from now instead of the row copied
SEED = 13


class Writer(threading.Thread):
    """Writes ``WRITE_MIX`` at ``rate`` statements a second (autocommit) until ``stop``; counts them."""

    def __init__(self, maria_url: str, rate: float):
        super().__init__(daemon=True)
        self.conn = bench.mysql(maria_url)  # (autocommit)
        self.rate, self.stop_event, self.done, self.errors = rate, threading.Event(), 0, 0
        self.random = random.Random(SEED)
        with self.conn.cursor() as cur:
            self.bounds, self.columns = {}, {}
            for table, key, _, _ in WRITE_MIX:
                cur.execute(f"SELECT MIN({key}), MAX({key}) FROM {table}")
                self.bounds[table] = cur.fetchone()
                cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                            "AND TABLE_NAME = %s AND COLUMN_NAME <> %s ORDER BY ORDINAL_POSITION", (table, key))
                self.columns[table] = [name for (name,) in cur.fetchall()]

    def run(self) -> None:
        weights = [share for _, _, share, _ in WRITE_MIX]
        with self.conn.cursor() as cur:
            while not self.stop_event.wait(self.random.expovariate(self.rate)):
                table, _, _, statement = self.random.choices(WRITE_MIX, weights)[0]
                lo, hi = self.bounds[table]
                columns = self.columns[table]
                try:
                    cur.execute(statement.format(key=self.random.randint(lo, hi),
                                                 columns=", ".join(f"`{c}`" for c in columns),
                                                 values=", ".join(NOW_COLUMNS.get(c, f"`{c}`") for c in columns)))
                    self.done += 1
                except pymysql.MySQLError:  # (a lock wait or deadlock: counted, the writer goes on)
                    self.errors += 1

    def stop(self) -> None:
        self.stop_event.set()
        self.join()
        self.conn.close()


def summary(stdout: str) -> dict:
    """Counts from `dental sync`'s output: tables synced, checks failed, tables synced again and re-copied
    whole after a failed check."""
    lines = stdout.splitlines()
    table_lines = [line for line in lines if re.search(r"\s(incremental|full)\s", line)]
    repairs = [line for line in lines if "differed from the source" in line]
    return {"tables": len(table_lines), "checks_failed": sum(line.endswith("CHECK FAILED") for line in lines),
            "synced_again": sum(int(m.group(1)) for line in repairs for m in [re.search(r"again \((\d+)x\)", line)]
                                if m),
            "recopied_whole": sum("copied it whole" in line for line in repairs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--buffer-pool-mb", type=int, default=None,
                        help="resize the source's InnoDB buffer pool first (e.g. 3072 for 50,000 patients)")
    parser.add_argument("--writes-per-second", type=float, default=5.0)
    parser.add_argument("--syncs", type=int, default=5, help="`dental sync` runs while the writer runs")
    parser.add_argument("--reuse", action="store_true", help="use the practice and raw already in bench_repl")
    args = parser.parse_args()
    maria_url, pg_url = bench.urls()
    env = dict(os.environ, DENTAL_SOURCE="opendental", OPENDENTAL_URL=maria_url, DENTAL_WAREHOUSE_URL=pg_url)
    env.pop("DAGSTER_HOME", None)
    ok = True
    if not args.reuse:
        from dental_synthetic import SyntheticConfig, generate
        from dental_synthetic.mariadb_writer import write_mariadb

        bench.recreate(maria_url, pg_url)
        bench.buffer_pool_mb(maria_url, args.buffer_pool_mb)
        practice = generate(SyntheticConfig(as_of=practice_day.AS_OF, patients=args.patients, seed=42))
        write_mariadb(practice, maria_url, force=True)  # bench_repl was created by this script just now
    ok &= practice_day._sync(env, "first sync" if not args.reuse else "sync before the writer")["exit"] == 0
    writer = Writer(maria_url, args.writes_per_second)
    writer.start()
    totals = {"tables": 0, "checks_failed": 0, "synced_again": 0, "recopied_whole": 0}
    try:
        for number in range(1, args.syncs + 1):
            result = bench._timed_process([sys.executable, "-m", "dental_assets.cli", "sync"], env)
            counts = summary(result["stdout"])
            ok &= result["exit"] == 0
            for name, value in counts.items():
                totals[name] += value
            print(f"sync {number} while writing: exit {result['exit']}, {result['seconds']:.2f} s, "
                  f"{counts['tables']} table(s), {counts['checks_failed']} check(s) failed, "
                  f"synced again {counts['synced_again']}x, re-copied whole {counts['recopied_whole']}x",
                  flush=True)
    finally:
        writer.stop()
    print(f"writer: {writer.done:,} statements at {args.writes_per_second:g}/s ({writer.errors} failed); "
          f"over the {args.syncs} syncs: "
          f"{totals['tables']} table syncs, {totals['checks_failed']} failed check(s), synced again "
          f"{totals['synced_again']}x, re-copied whole {totals['recopied_whole']}x", flush=True)
    ok &= practice_day._sync(env, "sync after the writer stopped")["exit"] == 0
    differing = practice_day.every_table_equal(maria_url, pg_url)
    print(f"content check, every row and column of every table: {len(differing)} table(s) differ "
          f"{differing if differing else ''}", flush=True)
    return 0 if ok and not differing else 1


if __name__ == "__main__":
    sys.exit(main())

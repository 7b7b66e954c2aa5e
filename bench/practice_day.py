"""A day of practice activity on a large synthetic practice, replicated by `dental sync` (issue 13's
"done when"): after a first sync, the day below happens on the MariaDB source, then

1. `dental sync` while one transaction is still open (it stamped its row before the sync and commits
   after it: a long transaction committing late);
2. the transaction commits, and `dental sync` runs again (the look-back brings its row);
3. the nightly backstop (`raw_sync_backstop`: content fingerprints of every column) and its runs, for
   the values edited without their timestamp that the checks' sample did not happen to hash.

Then raw must equal the source: every table by the content check over every row and column
(`verify_window`, every row hashed on both sides), and every row the day touched compared value by
value in Python, read back from both servers (`tests/test_replication_support.source_rows`, `raw_rows`:
a zero date is NULL in raw, a NUL byte is removed, as documented in docs/replication.md).

    .venv/bin/python bench/practice_day.py [--patients 50000] [--buffer-pool-mb 3072]

Uses the test servers (TEST_MARIADB_URL / TEST_PG_URL, e.g. from `eval "$(scripts/services.sh start)"`)
and the benchmark's databases (`bench_repl`, dropped and recreated). Prints each step's seconds and the
rows compared; exits 1 when raw differs from the source.

The day (keys picked by modulo, spread over the whole history):
- edits with their timestamp: ProcFee of 1% of procedures, a name letter of 1% of patients;
- procedures re-dated into an earlier month the practice has no rows for, into a later month, and
  to a zero date (`0000-00-00`);
- hard deletes: 0.1% of procedures, payment splits and security-log rows;
- inserts: new procedures dated yesterday;
- values edited without their timestamp (`DateTStamp = DateTStamp`): ProcFee by a cent, a claim
  procedure's write-off;
- control bytes (NUL, SOH, tab, carriage return, newline) in patients' addresses;
- 1 MB notes on documents (`document.Note`, mediumtext);
- the late transaction: one procedure's fee, stamped before the first sync, committed after it.
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
EDIT_EVERY = 100  # 1% of the rows
DELETE_EVERY = 1000  # 0.1%
REDATE_EVERY = 997  # each of the three re-datings
SILENT_EVERY = 4999  # edits without their timestamp
CONTROL_EVERY = 499  # addresses with control bytes
NOTE_BYTES = 1 << 20  # a 1 MB document note
NOTES = 8
EARLIER_EMPTY_DAY = "2019-01-15"  # before the practice's first day (AS_OF minus three years)
LATER_DAY = "2025-06-20"


def _keys(cur, table: str, key: str, where: str) -> list[int]:
    cur.execute(f"SELECT `{key}` FROM `{table}` WHERE {where}")
    return [int(k) for (k,) in cur.fetchall()]


def practice_day(maria_url: str) -> dict[str, set[int]]:
    """The day's statements on the source (autocommit, one statement each), except the late
    transaction (``LateTransaction``). Returns the keys touched, by table (deleted keys included)."""
    conn = bench.mysql(maria_url)
    touched: dict[str, set[int]] = {}

    def run(table: str, key: str, where: str, statement: str) -> None:
        # the rows are picked first, then written by primary key, as OpenDental writes (a scan would wait
        # for the late transaction's row lock)
        keys = _keys(cur, table, key, where)
        touched.setdefault(table, set()).update(keys)
        for start in range(0, len(keys), 10_000):
            listed = ", ".join(str(k) for k in keys[start:start + 10_000])
            cur.execute(statement.format(where=f"`{key}` IN ({listed})"))

    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")  # zero dates and implicit defaults, as OpenDental writes
        run("procedurelog", "ProcNum", f"ProcNum % {EDIT_EVERY} = 11",
            "UPDATE procedurelog SET ProcFee = ProcFee + 1 WHERE {where}")
        run("patient", "PatNum", f"PatNum % {EDIT_EVERY} = 12",
            "UPDATE patient SET LName = CONCAT(IF(LEFT(LName, 1) = 'Q', 'R', 'Q'), SUBSTRING(LName, 2)) WHERE {where}")
        run("procedurelog", "ProcNum", f"ProcNum % {REDATE_EVERY} = 13",
            f"UPDATE procedurelog SET ProcDate = '{EARLIER_EMPTY_DAY}' WHERE {{where}}")
        run("procedurelog", "ProcNum", f"ProcNum % {REDATE_EVERY} = 14",
            f"UPDATE procedurelog SET ProcDate = '{LATER_DAY}' WHERE {{where}}")
        run("procedurelog", "ProcNum", f"ProcNum % {REDATE_EVERY} = 15",
            "UPDATE procedurelog SET ProcDate = '0000-00-00' WHERE {where}")
        for table, key in (("procedurelog", "ProcNum"), ("paysplit", "SplitNum"), ("securitylog", "SecurityLogNum")):
            run(table, key, f"{key} % {DELETE_EVERY} = 16", f"DELETE FROM {table} WHERE {{where}}")
        cur.execute("SELECT COALESCE(MAX(ProcNum), 0) FROM procedurelog")
        before = int(cur.fetchone()[0])
        cur.execute(f"SELECT PatNum, ProcFee, CodeNum, ProvNum FROM procedurelog WHERE ProcNum % {DELETE_EVERY} = 17")
        day = (AS_OF - dt.timedelta(days=1)).isoformat()
        cur.executemany("INSERT INTO procedurelog (PatNum, ProcDate, ProcFee, CodeNum, ProvNum, ProcStatus) "
                        f"VALUES (%s, '{day}', %s, %s, %s, 1)", cur.fetchall())
        touched["procedurelog"].update(_keys(cur, "procedurelog", "ProcNum", f"ProcNum > {before}"))
        run("procedurelog", "ProcNum", f"ProcNum % {SILENT_EVERY} = 18",
            "UPDATE procedurelog SET ProcFee = ProcFee + 0.01, DateTStamp = DateTStamp WHERE {where}")
        run("claimproc", "ClaimProcNum", f"ClaimProcNum % {SILENT_EVERY} = 19",
            "UPDATE claimproc SET WriteOff = WriteOff + 0.01, SecDateTEdit = SecDateTEdit WHERE {where}")
        run("patient", "PatNum", f"PatNum % {CONTROL_EVERY} = 20",
            "UPDATE patient SET Address = CONCAT('ctl', CHAR(0), CHAR(1), CHAR(9), CHAR(13), CHAR(10), Address) "
            "WHERE {where}")
        cur.execute(f"SELECT DocNum FROM document ORDER BY DocNum LIMIT {NOTES}")
        notes = [int(k) for (k,) in cur.fetchall()]
        if notes:
            run("document", "DocNum", f"DocNum IN ({', '.join(map(str, notes))})",
                f"UPDATE document SET Note = REPEAT('0123456789abcdef', {NOTE_BYTES // 16}) WHERE {{where}}")
    conn.close()
    return touched


class LateTransaction:
    """One procedure's fee changed in a transaction that stays open (its DateTStamp is stamped now);
    ``commit()`` makes it visible later."""

    def __init__(self, maria_url: str):
        self.conn = bench.mysql(maria_url)
        self.conn.autocommit(False)
        with self.conn.cursor() as cur:
            cur.execute("SELECT ProcNum FROM procedurelog WHERE ProcNum % 101 = 21 ORDER BY ProcNum LIMIT 1")
            self.key = int(cur.fetchone()[0])
            cur.execute(f"UPDATE procedurelog SET ProcFee = ProcFee + 7 WHERE ProcNum = {self.key}")

    def commit(self) -> None:
        self.conn.commit()
        self.conn.close()


def _sync(env: dict, name: str) -> dict:
    result = bench._timed_process([sys.executable, "-m", "dental_assets.cli", "sync"], env)
    print(f"{name}: exit {result['exit']}, {result['seconds']:.1f} s", flush=True)
    for line in result["stdout"].splitlines():
        if ("CHECK FAILED" in line or line.startswith("checks:") or "run(s) failed" in line
                or "differed from the source" in line):  # (a window synced again after a failed check)
            print(f"  {line.strip()}", flush=True)
    return result


def run_backstop(maria_url: str, pg_url: str) -> int:
    """The nightly backstop's plan and its runs, in this process (as Dagster's schedule would launch
    them); returns the runs (raises AssertionError when one fails)."""
    import dagster as dg

    from dental_assets.defs.raw.sensors import raw_sync_backstop
    from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource
    from dental_assets.instance import ephemeral_instance
    from test_replication_support import run_raw_request

    resources = {"opendental": OpenDentalSourceResource(kind="opendental", url=maria_url),
                 "warehouse": WarehouseResource(url=pg_url)}
    instance = ephemeral_instance()
    requests = raw_sync_backstop(dg.build_schedule_context(instance=instance, resources=resources))
    if isinstance(requests, dg.SkipReason):
        return 0
    for request in requests:
        run = run_raw_request(request, resources, instance)
        assert run.success, f"backstop run of partition {request.partition_key} failed"
    return len(requests)


def every_table_equal(maria_url: str, pg_url: str) -> list[str]:
    """Tables whose content differs: the check's fingerprints with every row and column hashed."""
    from dental_assets.catalog import raw_tables
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import verify_window

    params, conn = MySqlParams.from_url(maria_url), bench.pg(pg_url)
    try:
        return [t.name for t in raw_tables() if not verify_window(params, conn, t, None)[0]]
    finally:
        conn.close()


def touched_rows_equal(maria_url: str, pg_url: str, touched: dict[str, set[int]]) -> tuple[int, list[str]]:
    """The touched rows read from both servers and compared value by value (deleted keys: absent on
    both sides). Returns (rows compared, differences as "table key")."""
    from test_replication_support import raw_rows, source_rows

    from dental_assets.catalog import quote_pg, raw_table

    compared, differences = 0, []
    for name, keys in sorted(touched.items()):
        table = raw_table(name)
        at = [c.name for c in table.columns].index(table.primary_key)
        listed = ", ".join(str(k) for k in sorted(keys))
        source = {row[at]: row for row in source_rows(maria_url, table, f"`{table.primary_key}` IN ({listed})")}
        raw = {row[at]: row for row in raw_rows(pg_url, table, f"{quote_pg(table.primary_key)} IN ({listed})")}
        for key in sorted(keys):
            compared += 1
            if source.get(key) != raw.get(key):
                differences.append(f"{name} {key}")
    return compared, differences


def main() -> int:
    maria_url, pg_url, _, env = bench.practice_source_from_arguments(__doc__.splitlines()[0], AS_OF)
    ok = _sync(env, "first sync")["exit"] == 0
    late = LateTransaction(maria_url)
    time.sleep(1.2)  # DateTStamp has one-second steps: the day's edits are stamped later than the late row
    started = time.perf_counter()
    touched = practice_day(maria_url)
    touched.setdefault("procedurelog", set()).add(late.key)
    print(f"the day: {sum(map(len, touched.values())):,} rows touched in {len(touched)} tables, "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    ok &= _sync(env, "sync with the late transaction still open")["exit"] == 0
    late.commit()
    ok &= _sync(env, "sync after it committed")["exit"] == 0
    started = time.perf_counter()
    runs = run_backstop(maria_url, pg_url)
    print(f"nightly backstop: {runs} run(s), {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    differing = every_table_equal(maria_url, pg_url)
    print(f"content check, every row and column of every table: {len(differing)} table(s) differ "
          f"{differing}, {time.perf_counter() - started:.1f} s", flush=True)
    compared, differences = touched_rows_equal(maria_url, pg_url, touched)
    print(f"touched rows compared value by value: {compared:,}, {len(differences)} differ {differences[:10]}",
          flush=True)
    return 0 if ok and not differing and not differences else 1


if __name__ == "__main__":
    sys.exit(main())

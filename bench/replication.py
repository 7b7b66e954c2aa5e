"""Replication benchmark: MariaDB -> PostgreSQL raw, side by side with the `mariadb | psql` pipe.

    .venv/bin/python bench/replication.py [--rows 1000000] [--demo-patients 5000] [--repeat N]
                                          [--no-demo | --demo-only]
    .venv/bin/python bench/replication.py --patients 50000 --buffer-pool-mb 3072   # the whole-database comparison
    # (the warehouse's shared_buffers is the server's: DENTAL_TEST_PG_SHARED_BUFFERS=4GB scripts/services.sh start)

Uses the test servers (TEST_MARIADB_URL / TEST_PG_URL, e.g. from `eval "$(scripts/services.sh start)"`),
in databases of its own (`bench_repl`, dropped and recreated). Measures, in one run:

1. baseline: `mariadb --batch --quick -e "SELECT <cols> FROM procedurelog" | psql -c "\\copy ..."`
   into a PostgreSQL table with the same DDL as raw (primary key included);
2. ours, full copy: `sync_window(mode="full")` of the same table into an empty raw table, in a child
   process so that its peak RSS (ru_maxrss of the loader, plus the mariadb client's) is measured;
   `--repeat N` runs N pipe/full-copy pairs alternately and reports every pair's ratio (the load of a
   shared machine moves between them);
3. ours, incremental: after 1% of the rows changed across the whole history (0.7% edited in place,
   0.3% hard-deleted), `sync_window` (auto -> incremental) over the whole table, with the seconds of
   its steps (`SyncResult.steps`: raw's key buckets, the changed rows, their merge, the source's key
   buckets, the key difference, the deletes);
4. no-change sync at demo size: a synthetic practice (``--demo-patients``) in MariaDB, replicated, then
   the change plan over every raw table (what `dental sync` and the sensor do when nothing changed):
   first right after the sync (every table was just written, so every table is read on both sides),
   then twice in the steady state (tables verified equal and unwritten since are skipped:
   ``replication.verified``), each with the tables it read; then `dental sync` end to end as a
   process (Python start-up and imports included).

With ``--patients N`` it runs the whole-database comparison instead (issue 13): a synthetic practice of
N patients in MariaDB; the pipe over every raw table, one after the other; the first `dental sync` as a
process (wall time, peak RSS of the process and its clients); then ~1% of the rows of every table with
a modified column edited and 0.1% of the partitioned tables' rows deleted, and `dental sync` again; then
`dental sync` with nothing changed, twice (the first reads the tables the incremental sync wrote, the
second is the steady state); then a practice's few minutes (``change_recent``) and `dental sync`; then
another 1% edited and 0.1% deleted, on other rows, and `dental sync` (an incremental sync after
incremental ones: raw's key buckets recorded). Each sync's time is split into the tables' own sync
time (the sum of the per-table seconds it prints), the checks' time, and the rest (start-up, planning,
Dagster's runs and events, indexes, statistics). ``source_logins`` counts the logins on the source
during each sync (MariaDB's ``Connections``: PyMySQL sessions and ``mariadb`` clients alike).

Before the pipe, before the first sync and before the change, both servers settle (``settle``: MariaDB's
dirty pages flushed, a PostgreSQL CHECKPOINT; the pipe's tables are dropped once counted), so that no
timed step pays for the background writes of the step before it (until 2026-12-05 the first sync ran
beside the checkpoint and autovacuum of the pipe's 10M rows).

Prints a table of figures. Timings on a shared 2-core machine are noisy: run it more than once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402

from dental_assets.catalog import mysql_create_table_sql, pg_create_table_sql, raw_table  # noqa: E402

DB = "bench_repl"


def urls() -> tuple[str, str]:
    maria = os.environ.get("BENCH_MARIADB_URL") or os.environ.get("TEST_MARIADB_URL")
    pg = os.environ.get("BENCH_PG_URL") or os.environ.get("TEST_PG_URL")
    if not maria or not pg:
        sys.exit("set TEST_MARIADB_URL and TEST_PG_URL (eval \"$(scripts/services.sh start)\")")
    return (make_url(maria).set(database=DB).render_as_string(hide_password=False),
            make_url(pg).set(database=DB).render_as_string(hide_password=False))


def recreate(maria_server: str, pg_server: str) -> None:
    import psycopg2
    import pymysql

    m = make_url(maria_server)
    conn = pymysql.connect(host=m.host, port=m.port, user=m.username, password=m.password, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    conn.close()
    p = make_url(pg_server)
    conn = psycopg2.connect(host=p.host, port=p.port, user=p.username, password=p.password, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {DB}")
    conn.close()


def mysql(url: str):
    import pymysql

    m = make_url(url)
    conn = pymysql.connect(host=m.host, port=m.port, user=m.username, password=m.password, database=m.database,
                           autocommit=True, local_infile=True)
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
    return conn


def pg(url: str):
    import psycopg2

    p = make_url(url)
    return psycopg2.connect(host=p.host, port=p.port, user=p.username, password=p.password, dbname=p.database)


def fill_procedurelog(maria_url: str, rows: int) -> float:
    """1M realistic-width procedurelog rows over 5 years (every column filled by OpenDental's DDL)."""
    table = raw_table("procedurelog")
    conn = mysql(maria_url)
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(mysql_create_table_sql(table))
        step = 200_000
        for lo in range(0, rows, step):
            n = min(step, rows - lo)
            cur.execute(
                "INSERT INTO procedurelog (ProcNum, PatNum, AptNum, ProcDate, ProcFee, Surf, ToothNum, ProcStatus, "
                "ProvNum, ClinicNum, CodeNum, DateEntryC, DiagnosticCode, BillingNote, ClaimNote, ProcTime, "
                "DateTStamp, SecDateEntry, DateComplete, UnitQty, Discount) "
                f"SELECT {lo} + seq, 1 + seq % 25000, seq % 7 * seq, DATE_SUB('2025-12-31', INTERVAL seq % 1826 DAY), "
                "ROUND(50 + (seq % 1777) * 0.37, 2), ELT(1 + seq % 5, 'MOD', 'O', 'DL', '', 'B'), "
                "LPAD(seq % 33, 2, '0'), 1 + seq % 6, 1 + seq % 9, seq % 3, 1 + seq % 900, "
                "DATE_SUB('2025-12-31', INTERVAL seq % 1826 DAY), CONCAT('K0', seq % 97), "
                "IF(seq % 11 = 0, CONCAT('billing note, \"quoted\" ', seq), ''), "
                "IF(seq % 13 = 0, 'claim note', ''), SEC_TO_TIME(seq % 36000), "
                "TIMESTAMP('2024-01-01') + INTERVAL seq % 60000000 SECOND, "
                "TIMESTAMP('2021-01-01') + INTERVAL seq % 90000000 SECOND, '0001-01-01', 1, 0 "
                f"FROM seq_1_to_{n}"
            )
    conn.close()
    return time.perf_counter() - started


def baseline_pipe(maria_url: str, pg_url: str) -> dict:
    """`mariadb --batch | psql \\copy` into bench_pipe.procedurelog."""
    table = raw_table("procedurelog")
    conn = pg(pg_url)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS bench_pipe")
        cur.execute("DROP TABLE IF EXISTS bench_pipe.procedurelog")
        cur.execute(pg_create_table_sql(table, "bench_pipe"))
    conn.close()
    m, p = make_url(maria_url), make_url(pg_url)
    cols_my = ", ".join(f"`{c.name}`" for c in table.columns)
    cols_pg = ", ".join(f'"{c.name}"' for c in table.columns)
    env = dict(os.environ, MYSQL_PWD=m.password or "", PGPASSWORD=p.password or "")
    command = (
        f"mariadb --no-defaults --batch --quick --skip-column-names -h {m.host} -P {m.port} -u {m.username} "
        f"--protocol=TCP {m.database} -e 'SELECT {cols_my} FROM procedurelog' | "
        f"psql -q -h {p.host} -p {p.port} -U {p.username} -d {p.database} "
        f"-c '\\copy bench_pipe.procedurelog ({cols_pg}) from stdin'"
    )
    started = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", command], env=env, check=True)
    seconds = time.perf_counter() - started
    conn = pg(pg_url)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM bench_pipe.procedurelog")
        rows = cur.fetchone()[0]
    conn.close()
    return {"seconds": seconds, "rows": rows}


def empty_raw(pg_url: str) -> None:
    conn = pg(pg_url)
    with conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS raw.procedurelog")
    conn.close()


def ours(maria_url: str, pg_url: str, mode: str) -> dict:
    """sync_window of procedurelog (whole table) in a child process; its and its children's peak RSS."""
    code = (
        "import json, sys, time\n"
        "from dental_assets.catalog import raw_table\n"
        "from dental_assets.replication.mysql import MySqlParams\n"
        "from dental_assets.replication.sync import sync_window, verify_window\n"
        "sys.path.insert(0, %r)\n"
        "from replication import pg\n"
        "conn = pg(sys.argv[2])\n"
        "t = raw_table('procedurelog'); params = MySqlParams.from_url(sys.argv[1])\n"
        "started = time.perf_counter()\n"
        "r = sync_window(params, conn, t, None, mode=sys.argv[3])\n"
        "seconds = time.perf_counter() - started\n"
        "ok = verify_window(params, conn, t, None)[0]\n"
        "print(json.dumps({'seconds': seconds, 'mode': r.mode, 'copied': r.rows_copied, 'deleted': r.rows_deleted,"
        " 'rows': r.rows_total, 'verified': ok, 'steps': {k: round(v, 2) for k, v in r.steps.items()}}))\n"
    ) % str(Path(__file__).parent)
    proc = subprocess.Popen([sys.executable, "-c", code, maria_url, pg_url, mode], stdout=subprocess.PIPE,
                            cwd=ROOT, text=True)
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"ours ({mode}) failed")
    result = json.loads(out.strip().splitlines()[-1])
    # the largest process waited for so far (the loader, its mariadb client, the baseline's tools)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def change_one_percent(maria_url: str, rows: int) -> dict:
    conn = mysql(maria_url)
    with conn.cursor() as cur:
        cur.execute("UPDATE procedurelog SET ProcFee = ProcFee + 1 WHERE ProcNum % 143 = 7")
        edited = cur.rowcount
        cur.execute("DELETE FROM procedurelog WHERE ProcNum % 337 = 11")
        deleted = cur.rowcount
    conn.close()
    return {"edited": edited, "deleted": deleted, "share": (edited + deleted) / rows}


def buffer_pool_mb(maria_url: str, set_mb: int | None = None) -> int:
    """The source server's InnoDB buffer pool in MiB; ``set_mb``: resize it first (``SET GLOBAL``, until
    the server restarts: a practice sizes its pool to its data, the test server starts with 1 GB)."""
    conn = mysql(maria_url)
    with conn.cursor() as cur:
        if set_mb:
            cur.execute(f"SET GLOBAL innodb_buffer_pool_size = {int(set_mb) << 20}")
            time.sleep(2)  # the resize runs in the background
        cur.execute("SELECT @@innodb_buffer_pool_size")
        size = int(cur.fetchone()[0])
    conn.close()
    return size // (1 << 20)


def shared_buffers(pg_url: str) -> str:
    """The warehouse's ``shared_buffers`` (set when the server starts: ``DENTAL_TEST_PG_SHARED_BUFFERS``
    for ``scripts/services.sh start``; PostgreSQL's default is 128 MB)."""
    conn = pg(pg_url)
    with conn.cursor() as cur:
        cur.execute("SHOW shared_buffers")
        size = cur.fetchone()[0]
    conn.close()
    return size


def demo_no_change(maria_url: str, pg_url: str, patients: int) -> dict:
    from dental_synthetic import SyntheticConfig, generate
    from dental_synthetic.mariadb_writer import write_mariadb

    practice = generate(SyntheticConfig(as_of=dt.date(2025, 6, 30), patients=patients, seed=42))
    conn = mysql(maria_url)
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS procedurelog")
    conn.close()
    write_mariadb(practice, maria_url, force=True)  # bench_repl was created by this script just now
    env = dict(os.environ, DENTAL_SOURCE="opendental", OPENDENTAL_URL=maria_url, DENTAL_WAREHOUSE_URL=pg_url)
    env.pop("DAGSTER_HOME", None)
    c = pg(pg_url)
    with c, c.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS raw CASCADE")
    c.close()
    started = time.perf_counter()
    first = subprocess.run([sys.executable, "-m", "dental_assets.cli", "sync"], env=env, cwd=ROOT,
                           capture_output=True, text=True)
    first_seconds = time.perf_counter() - started
    if first.returncode != 0:
        raise SystemExit("first dental sync failed:\n" + first.stdout[-3000:])
    # the plan alone, in this process: first right after the sync (every table was synced, so every
    # table's fingerprints are read on both sides, as before the skip), then twice more (steady state:
    # the tables verified equal by the first plan and unwritten since are skipped, replication.verified)
    from dental_assets.catalog import raw_tables
    from dental_assets.partitions import monthly_partitions
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.plan import plan_tables

    plan_runs = []
    for _ in range(3):
        conn = pg(pg_url)
        started = time.perf_counter()
        plans = plan_tables(MySqlParams.from_url(maria_url), conn, list(raw_tables()),
                            monthly_partitions.get_partition_keys())
        plan_runs.append({"seconds": time.perf_counter() - started,
                          "tables_read": sum(1 for p in plans if p.scanned),
                          "changed_tables": sum(1 for p in plans if p.partitions)})
        conn.close()
    started = time.perf_counter()
    again = subprocess.run([sys.executable, "-m", "dental_assets.cli", "sync"], env=env, cwd=ROOT,
                           capture_output=True, text=True)
    again_seconds = time.perf_counter() - started
    return {
        "rows": sum(t.num_rows for t in practice.tables.values()),
        "tables": len(plans),
        "first_sync_seconds": first_seconds,
        "plan_after_sync": plan_runs[0],
        "plan_steady": plan_runs[1:],
        "no_change_sync_process_seconds": again_seconds,
        "no_change_exit": again.returncode,
        "no_change_output": again.stdout.strip().splitlines()[-1:] if again.stdout else [],
    }


# ------------------------------------------------------------------------------------ whole database

def _timed_process(argv: list[str], env: dict) -> dict:
    """Run ``argv`` in a fresh child that reports its wall time and the peak RSS of its own children
    (the process and its mariadb clients), so the pipe's tools are not counted."""
    code = ("import json, resource, subprocess, sys, time\n"
            "started = time.perf_counter()\n"
            "proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "print(json.dumps({'seconds': time.perf_counter() - started, 'exit': proc.returncode,\n"
            "  'peak_rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,\n"
            "  'stdout': proc.stdout[-20000:], 'stderr': proc.stderr[-3000:]}))\n")
    out = subprocess.run([sys.executable, "-c", code, *argv], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


SETTLE_TIMEOUT_SECONDS = 120


def source_logins(maria_url: str) -> int:
    """MariaDB's count of logins since it started (``Connections``, this query's own included)."""
    conn = mysql(maria_url)
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Connections'")
        count = int(cur.fetchone()[1])
    conn.close()
    return count


def settle(maria_url: str, pg_url: str) -> float:
    """Let both servers finish the previous step's background writes before a timed step, so that no
    step pays for the one before (on this 2-core machine they compete for the same cores): MariaDB's
    dirty InnoDB pages flushed (polled until fewer than 1,000 remain, at most ``SETTLE_TIMEOUT_SECONDS``),
    then a PostgreSQL ``CHECKPOINT``. Returns the seconds it took."""
    started = time.perf_counter()
    conn = mysql(maria_url)
    with conn.cursor() as cur:
        while time.perf_counter() - started < SETTLE_TIMEOUT_SECONDS:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
            if int(cur.fetchone()[1]) < 1000:
                break
            time.sleep(0.5)
    conn.close()
    conn = pg(pg_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CHECKPOINT")
    conn.close()
    return time.perf_counter() - started


def pipe_all_tables(maria_url: str, pg_url: str, tables) -> dict:
    """`mariadb --batch | psql \\copy` of every table, one after the other, into empty tables of the
    schema bench_pipe with raw's DDL (primary keys included), dropped after its rows are counted (so
    that autovacuum's analyze of 10M new rows does not run beside the next step). Returns seconds and
    rows."""
    conn = pg(pg_url)
    with conn, conn.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS bench_pipe CASCADE")
        cur.execute("CREATE SCHEMA bench_pipe")
        for table in tables:
            cur.execute(pg_create_table_sql(table, "bench_pipe"))
    conn.close()
    m, p = make_url(maria_url), make_url(pg_url)
    env = dict(os.environ, MYSQL_PWD=m.password or "", PGPASSWORD=p.password or "")
    started = time.perf_counter()
    for table in tables:
        cols_my = ", ".join(f"`{c.name}`" for c in table.columns)
        cols_pg = ", ".join(f'"{c.name}"' for c in table.columns)
        command = (
            f"mariadb --no-defaults --batch --quick --skip-column-names -h {m.host} -P {m.port} -u {m.username} "
            f"--protocol=TCP {m.database} -e 'SELECT {cols_my} FROM `{table.name}`' | "
            f"psql -q -h {p.host} -p {p.port} -U {p.username} -d {p.database} "
            f"-c '\\copy bench_pipe.{table.name} ({cols_pg}) from stdin'"
        )
        subprocess.run(["bash", "-o", "pipefail", "-c", command], env=env, check=True)
    seconds = time.perf_counter() - started
    conn = pg(pg_url)
    with conn.cursor() as cur:
        rows = 0
        for table in tables:
            cur.execute(f"SELECT count(*) FROM bench_pipe.{table.name}")
            rows += cur.fetchone()[0]
        cur.execute("DROP SCHEMA bench_pipe CASCADE")
    conn.commit()
    conn.close()
    return {"seconds": seconds, "rows": rows}


def _sync_breakdown(result: dict) -> dict:
    """From `dental sync`'s output: the tables' own sync seconds, the checks' seconds, and the rest
    (process start-up, planning, Dagster's runs and events, indexes and statistics)."""
    tables = checks = 0.0
    for line in result["stdout"].splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[-1] == "s" and parts[-2].replace(".", "", 1).isdigit():
            tables += float(parts[-2])
        elif line.startswith("checks:"):
            checks = float(line.split()[1])
    return {"tables_own_seconds": round(tables, 2), "checks_seconds": round(checks, 2),
            "rest_seconds": round(result["seconds"] - tables - checks, 2)}


def change_practice(maria_url: str, tables, edit_share: float = 0.01, delete_share: float = 0.001,
                    residue: int = 0) -> dict:
    """About ``edit_share`` of the rows of every table with a modified column edited in place (their
    timestamp moves), ``delete_share`` of the partitioned tables' rows hard-deleted, spread over the
    whole history (by key; ``residue`` shifts which rows: another change of the same size)."""
    edit_every, delete_every = round(1 / edit_share), round(1 / delete_share)
    conn = mysql(maria_url)
    edited = deleted = 0
    with conn.cursor() as cur:
        for table in tables:
            pk = f"`{table.primary_key}`"
            if table.modified_column:
                target = next((c for c in table.columns if c.kind == "int" and not c.is_pk
                               and c.name != table.modified_column), None)
                if target is not None:
                    cur.execute(f"UPDATE `{table.name}` SET `{target.name}` = `{target.name}` + 1 "
                                f"WHERE {pk} % {edit_every} = {7 + residue}")
                    edited += cur.rowcount
            if table.partitioned:
                cur.execute(f"DELETE FROM `{table.name}` WHERE {pk} % {delete_every} = {3 + residue}")
                deleted += cur.rowcount
    conn.close()
    return {"edited": edited, "deleted": deleted}


def change_recent(maria_url: str, seed: int) -> dict:
    """A practice's few minutes rather than a bulk edit: ~200 of the latest 20,000 procedures' fees and
    ~100 of the latest 5,000 appointments' notes edited, 30 procedures inserted, 5 of the latest
    deleted (which rows: ``seed``)."""
    conn = mysql(maria_url)
    counts = {}
    with conn.cursor() as cur:
        cur.execute("SELECT MAX(ProcNum) FROM procedurelog")
        top_proc = cur.fetchone()[0]
        cur.execute("SELECT MAX(AptNum) FROM appointment")
        top_apt = cur.fetchone()[0]
        cur.execute(f"UPDATE procedurelog SET ProcFee = ProcFee + 1 WHERE ProcNum > {top_proc - 20000} "
                    f"AND ProcNum % 100 = {seed % 100}")
        counts["edited"] = cur.rowcount
        cur.execute(f"UPDATE appointment SET Note = CONCAT(Note, 'x') WHERE AptNum > {top_apt - 5000} "
                    f"AND AptNum % 50 = {seed % 50}")
        counts["edited"] += cur.rowcount
        cur.execute("INSERT INTO procedurelog (PatNum, ProcDate, ProcFee) "
                    "SELECT PatNum, ProcDate, ProcFee FROM procedurelog ORDER BY ProcNum DESC LIMIT 30")
        counts["inserted"] = cur.rowcount
        cur.execute(f"DELETE FROM procedurelog WHERE ProcNum > {top_proc - 20000} AND ProcNum % 1000 = {seed % 1000} "
                    "LIMIT 5")
        counts["deleted"] = cur.rowcount
    conn.close()
    return counts


def practice_source(patients: int, as_of: dt.date, buffer_pool: int | None = None):
    """The benchmark's databases recreated, the source's buffer pool resized to ``buffer_pool`` MB (None:
    as it is), and a synthetic practice of ``patients`` (seed 42) generated and loaded into the source;
    prints the time. Returns (source URL, warehouse URL, the practice, the environment of a `dental
    sync` from the one to the other, without Dagster runs)."""
    from dental_synthetic import SyntheticConfig, generate
    from dental_synthetic.mariadb_writer import write_mariadb

    maria_url, pg_url = urls()
    recreate(maria_url, pg_url)
    buffer_pool_mb(maria_url, buffer_pool)
    started = time.perf_counter()
    practice = generate(SyntheticConfig(as_of=as_of, patients=patients, seed=42))
    write_mariadb(practice, maria_url, force=True)  # bench_repl was created by this script just now
    print(f"practice of {patients:,} patients: {time.perf_counter() - started:.1f} s to generate and load",
          flush=True)
    env = dict(os.environ, DENTAL_SOURCE="opendental", OPENDENTAL_URL=maria_url, DENTAL_WAREHOUSE_URL=pg_url)
    env.pop("DAGSTER_HOME", None)
    return maria_url, pg_url, practice, env


def practice_source_from_arguments(description: str, as_of: dt.date):
    """``practice_source`` with the command line's ``--patients`` (default 50,000) and
    ``--buffer-pool-mb``: the benchmarks of a day or a night of a large practice."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--buffer-pool-mb", type=int, default=None,
                        help="resize the source's InnoDB buffer pool first (e.g. 3072 for 50,000 patients)")
    args = parser.parse_args()
    return practice_source(args.patients, as_of, args.buffer_pool_mb)


def whole_database(maria_url: str, pg_url: str, patients: int, profile: Path | None = None) -> dict:
    """The issue's figures on a synthetic practice of ``patients``: first `dental sync` against the pipe
    over every raw table (same run), the incremental sync after ~1% edited and 0.1% deleted, the
    no-change sync, then a sync after a practice's few minutes (``change_recent``); peak RSS; where the
    time goes. ``profile``: a folder for a cProfile of each sync
    (first.prof, incremental.prof, no_change.prof; the profiler slows the syncs)."""
    from dental_assets.catalog import raw_tables
    from dental_assets.replication.verified import WRITTEN_MARGIN_SECONDS
    from dental_synthetic import SyntheticConfig, generate
    from dental_synthetic.mariadb_writer import write_mariadb

    tables = list(raw_tables())
    started = time.perf_counter()
    practice = generate(SyntheticConfig(as_of=dt.date(2025, 6, 30), patients=patients, seed=42))
    write_mariadb(practice, maria_url, force=True)  # bench_repl was created by this script just now
    rows = sum(t.num_rows for t in practice.tables.values() if t.num_rows)
    print(f"practice of {patients:,} patients: {rows:,} rows, {len(tables)} raw tables, "
          f"{time.perf_counter() - started:.1f} s to generate and load", flush=True)
    settle(maria_url, pg_url)  # (the load's dirty pages)
    pipe = pipe_all_tables(maria_url, pg_url, tables)
    print(f"pipe, all tables: {pipe['seconds']:.2f} s ({pipe['rows']:,} rows)", flush=True)
    env = dict(os.environ, DENTAL_SOURCE="opendental", OPENDENTAL_URL=maria_url, DENTAL_WAREHOUSE_URL=pg_url)
    env.pop("DAGSTER_HOME", None)
    logins = {}

    def timed_sync(name: str) -> dict:
        """`dental sync` as a process, timed; ``logins[name]``: the logins on the source meanwhile."""
        before = source_logins(maria_url)
        result = _timed_process(sync(name), env)
        logins[name] = source_logins(maria_url) - before - 1  # (less the second count's own login)
        return result

    def sync(name: str) -> list[str]:
        if profile is None:
            return [sys.executable, "-m", "dental_assets.cli", "sync"]
        profile.mkdir(parents=True, exist_ok=True)
        return [sys.executable, "-m", "cProfile", "-o", str(profile / f"{name}.prof"), "-m", "dental_assets.cli",
                "sync"]

    settle(maria_url, pg_url)
    first = timed_sync("first")
    if first["exit"] != 0:
        raise SystemExit("first dental sync failed:\n" + first["stdout"][-3000:] + first["stderr"])
    print(f"dental sync, first: {first['seconds']:.2f} s ({pipe['seconds'] / first['seconds']:.2f}x the pipe)",
          flush=True)
    settle(maria_url, pg_url)  # (the first sync's writes; the change's own are the incremental's to bear)
    changed = change_practice(maria_url, tables)
    incremental = timed_sync("incremental")
    if incremental["exit"] != 0:
        raise SystemExit("incremental dental sync failed:\n" + incremental["stdout"][-3000:])
    print(f"dental sync after {changed}: {incremental['seconds']:.2f} s", flush=True)
    # the first no-change sync reads the tables the incremental sync wrote (their records dropped),
    # the second is the steady state (tables verified equal and unwritten since are skipped)
    none = timed_sync("no_change")
    steady = timed_sync("no_change_steady")
    time.sleep(WRITTEN_MARGIN_SECONDS + 1)  # past the verification's margin: the change counts as written after it
    recent = change_recent(maria_url, seed=7)
    small = timed_sync("small_change")
    if small["exit"] != 0:
        raise SystemExit("dental sync after a small change failed:\n" + small["stdout"][-3000:])
    # the same 1% again, on other rows: the incremental sync of a practice synced incrementally before
    # (raw's key buckets recorded by the syncs above, ``replication/window_state.py``)
    settle(maria_url, pg_url)
    changed_again = change_practice(maria_url, tables, residue=1)
    again = timed_sync("incremental_again")
    if again["exit"] != 0:
        raise SystemExit("second incremental dental sync failed:\n" + again["stdout"][-3000:])
    print(f"dental sync after {changed_again} more: {again['seconds']:.2f} s", flush=True)
    return {
        "patients": patients,
        "rows": rows,
        "tables": len(tables),
        "pipe_seconds": round(pipe["seconds"], 2),
        "first_sync_seconds": round(first["seconds"], 2),
        "first_sync_vs_pipe": round(pipe["seconds"] / first["seconds"], 2),
        "first_sync_breakdown": _sync_breakdown(first),
        "first_sync_peak_rss_mb": round(first["peak_rss_mb"]),
        "changed": changed,
        "incremental_seconds": round(incremental["seconds"], 2),
        "incremental_vs_first": round(incremental["seconds"] / first["seconds"], 3),
        "incremental_breakdown": _sync_breakdown(incremental),
        "incremental_peak_rss_mb": round(incremental["peak_rss_mb"]),
        "no_change_seconds": round(none["seconds"], 2),
        "no_change_exit": none["exit"],
        "no_change_output": none["stdout"].strip().splitlines()[-1:],
        "no_change_steady_seconds": round(steady["seconds"], 2),
        "no_change_steady_exit": steady["exit"],
        "small_change": recent,
        "small_change_seconds": round(small["seconds"], 2),
        "small_change_breakdown": _sync_breakdown(small),
        "changed_again": changed_again,
        "incremental_again_seconds": round(again["seconds"], 2),
        "incremental_again_vs_first": round(again["seconds"] / first["seconds"], 3),
        "incremental_again_breakdown": _sync_breakdown(again),
        "source_logins": logins,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--demo-patients", type=int, default=5000)
    parser.add_argument("--no-demo", action="store_true", help="skip part 4 (the demo-size no-change sync)")
    parser.add_argument("--demo-only", action="store_true", help="only part 4")
    parser.add_argument("--repeat", type=int, default=1, help="pipe/full-copy pairs (the figures: the last pair, "
                        "and every pair's ratio)")
    parser.add_argument("--patients", type=int, default=None,
                        help="the whole-database comparison instead: a synthetic practice of this many patients, "
                             "`dental sync` (first, after ~1%% changed, no change) against the pipe over every table")
    parser.add_argument("--buffer-pool-mb", type=int, default=None,
                        help="resize the source MariaDB's InnoDB buffer pool first (SET GLOBAL; e.g. 3072 for "
                             "--patients 50000, whose data is larger than the test server's 1 GB)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="with --patients: write a cProfile of each `dental sync` into this folder")
    args = parser.parse_args()
    maria_url, pg_url = urls()
    recreate(maria_url, pg_url)
    pool_mb = buffer_pool_mb(maria_url, args.buffer_pool_mb)
    buffers = shared_buffers(pg_url)
    print(f"source InnoDB buffer pool: {pool_mb:,} MiB; warehouse shared_buffers: {buffers}", flush=True)
    if args.patients:
        figures = whole_database(maria_url, pg_url, args.patients, args.profile)
        print(json.dumps({"mariadb_innodb_buffer_pool_mb": pool_mb, "postgresql_shared_buffers": buffers,
                          **figures}, indent=2, default=str))
        return
    if args.demo_only:
        print(json.dumps(demo_no_change(maria_url, pg_url, args.demo_patients), indent=2, default=str))
        return
    fill = fill_procedurelog(maria_url, args.rows)
    print(f"filled procedurelog: {args.rows:,} rows in {fill:.1f} s", flush=True)
    ratios = []
    for _ in range(args.repeat):  # pipe and full copy alternately: the load moves between them
        base = baseline_pipe(maria_url, pg_url)
        print(f"pipe: {base['seconds']:.2f} s", flush=True)
        empty_raw(pg_url)  # both copies start from an empty table
        full = ours(maria_url, pg_url, "full")
        ratios.append(base["seconds"] / full["seconds"])
        print(f"ours full: {full['seconds']:.2f} s ({ratios[-1]:.2f}x the pipe), steps {full.get('steps')}",
              flush=True)
        assert full["verified"] and full["rows"] == base["rows"] == args.rows, (full, base)
    changed = change_one_percent(maria_url, args.rows)
    inc = ours(maria_url, pg_url, "auto")
    print(f"ours incremental: {inc['seconds']:.2f} s ({inc['seconds'] / full['seconds']:.3f} of the full copy), "
          f"steps {inc.get('steps')}", flush=True)
    assert inc["verified"] and inc["mode"] == "incremental", inc
    demo = {} if args.no_demo else demo_no_change(maria_url, pg_url, args.demo_patients)
    figures = {
        "rows": args.rows,
        "mariadb_innodb_buffer_pool_mb": buffer_pool_mb(maria_url),
        "pipe_seconds": round(base["seconds"], 2),
        "pipe_rows_per_s": round(base["rows"] / base["seconds"]),
        "ours_full_seconds": round(full["seconds"], 2),
        "ours_full_rows_per_s": round(full["rows"] / full["seconds"]),
        "ours_vs_pipe": round(base["seconds"] / full["seconds"], 2),
        "ours_vs_pipe_every_pair": [round(r, 2) for r in ratios],
        "ours_peak_rss_mb": round(full["peak_rss_mb"]),
        "changed": changed,
        "incremental_seconds": round(inc["seconds"], 2),
        "incremental_copied": inc["copied"],
        "incremental_deleted": inc["deleted"],
        "incremental_vs_full": round(inc["seconds"] / full["seconds"], 3),
        "incremental_steps": inc.get("steps"),
        "demo": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in demo.items()},
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

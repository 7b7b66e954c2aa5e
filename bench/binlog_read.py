"""What reading the source's binary log would cost an incremental sync (issue 13, a measurement only).

    .venv/bin/pip install -e ".[bench]"      # python-mysql-replication: not a dependency of the sync
    .venv/bin/python bench/binlog_read.py --patients 50000 --buffer-pool-mb 3072

The incremental sync finds hard deletes by a pass over every source row of each changed table (its key
buckets, ``buckets.source_sql``) and reads the changed rows through the modified column's index. A
sync that read the binary log instead would take both from the log's row events. This script measures
the two on the same server and the same change, without building that sync:

1. starts a MariaDB of its own (temporary data directory, loopback, a free port) with the binary log
   on, as a practice would have to set it: ``log_bin``, ``binlog_format=ROW``, ``binlog_row_image=FULL``
   and, for the library's column names, ``binlog_row_metadata=FULL`` (MariaDB 10.5+);
2. loads a synthetic practice of ``--patients`` (as ``bench/replication.py --patients`` does), then
   ``RESET MASTER``, so that the log holds only what follows;
3. makes ``bench/replication.py``'s change: ~1% of the rows of every table with a modified column
   edited, 0.1% of the partitioned tables' rows deleted;
4. times, twice each, one after the other:
   - the log read: every row event from the start of the log to ``SHOW MASTER STATUS``, decoded by
     the python-mysql-replication library (pure Python, a replica's protocol), keeping per table the
     set of keys written and the set deleted;
   - the same through MariaDB's own decoder: ``mariadb-binlog --read-from-remote-server`` (C) piped
     through ``grep`` to the key lines, which Python reads (``read_log_text``); both must name the same
     keys;
   - the key buckets of every partitioned table (the sync's delete finder, one query at a time);
   - the changed rows' keys through each modified column (``WHERE modified >= since``).
5. prints the figures, the number of row events and rows, the log's size, and checks that the log
   named exactly the keys the change touched.

The server is stopped and its data directory removed at the end. Nothing here touches the test servers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DB = "bench_binlog"
USER = "bench"
PASSWORD = "bench-binlog"  # a throwaway server on loopback, removed at the end
SERVER_ID = 4242  # the log reader's replica id (any id the server does not have)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(datadir: Path, port: int, buffer_pool_mb: int) -> subprocess.Popen:
    """A MariaDB with the binary log on, in ``datadir``, on 127.0.0.1:``port``."""
    mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(["mariadb-install-db", "--no-defaults", *user, f"--datadir={datadir / 'data'}",
                    "--auth-root-authentication-method=normal"], check=True, capture_output=True)
    sock = datadir / "mariadb.sock"
    proc = subprocess.Popen(
        [mariadbd, "--no-defaults", *user, f"--datadir={datadir / 'data'}", f"--socket={sock}",
         f"--port={port}", "--bind-address=127.0.0.1", "--skip-name-resolve",
         "--sql-mode=NO_ENGINE_SUBSTITUTION", "--character-set-server=utf8mb4",
         "--collation-server=utf8mb4_general_ci", "--innodb-flush-log-at-trx-commit=0",
         "--innodb-doublewrite=0", f"--innodb-buffer-pool-size={buffer_pool_mb}M",
         "--server-id=1", f"--log-bin={datadir / 'data' / 'binlog'}", "--binlog-format=ROW",
         "--binlog-row-image=FULL", "--binlog-row-metadata=FULL", "--max-binlog-size=1G"],
        stdout=open(datadir / "mariadb.log", "ab"), stderr=subprocess.STDOUT)
    for _ in range(60):
        if subprocess.run(["mariadb-admin", "--no-defaults", f"--socket={sock}", "ping"],
                          capture_output=True).returncode == 0:
            break
        time.sleep(1)
    else:
        proc.kill()
        sys.exit(f"the binlog MariaDB did not start (log: {datadir / 'mariadb.log'})")
    sql = (f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; "
           f"GRANT ALL ON *.* TO '{USER}'@'127.0.0.1'; CREATE DATABASE {DB} CHARACTER SET utf8mb4;")
    subprocess.run(["mariadb", "--no-defaults", f"--socket={sock}", "-e", sql], check=True)
    return proc


def log_position(conn) -> tuple[str, int]:
    with conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        row = cur.fetchone()
    return row[0], int(row[1])


def read_log(port: int, start: tuple[str, int], end: tuple[str, int], keys: dict[str, str]) -> dict:
    """Every row event of ``DB`` from ``start`` to ``end``: per table the keys written and deleted."""
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

    written: dict[str, set[int]] = {}
    deleted: dict[str, set[int]] = {}
    events = rows = 0
    started = time.perf_counter()
    stream = BinLogStreamReader(
        connection_settings={"host": "127.0.0.1", "port": port, "user": USER, "passwd": PASSWORD},
        server_id=SERVER_ID, log_file=start[0], log_pos=start[1], resume_stream=True, blocking=False,
        # file and position, in the library's MySQL mode (MariaDB serves it): its MariaDB mode reads by GTID only
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent], only_schemas=[DB])
    try:
        for event in stream:
            events += 1
            key = keys[event.table]
            for row in event.rows:
                rows += 1
                if isinstance(event, DeleteRowsEvent):
                    deleted.setdefault(event.table, set()).add(row["values"][key])
                elif isinstance(event, UpdateRowsEvent):
                    written.setdefault(event.table, set()).add(row["after_values"][key])
                    if row["before_values"][key] != row["after_values"][key]:
                        deleted.setdefault(event.table, set()).add(row["before_values"][key])
                else:
                    written.setdefault(event.table, set()).add(row["values"][key])
            if (stream.log_file, stream.log_pos) >= end:
                break
    finally:
        stream.close()
    return {"seconds": time.perf_counter() - started, "events": events, "rows": rows,
            "written": written, "deleted": deleted}


KEY_LINES = r"^### (INSERT INTO|UPDATE|DELETE FROM|WHERE|SET)|^###   @1="  # OpenDental's key is column 1


def read_log_text(port: int, start: tuple[str, int], end: tuple[str, int]) -> dict:
    """The same events through MariaDB's own decoder (``mariadb-binlog``, C, rows as commented
    pseudo-SQL), its lines filtered by ``grep`` to the statements and the first column, whose values
    Python collects: per table the keys written and deleted. ``KEY_LINES`` assumes the key is the first
    column, as in every OpenDental table but ``preference`` (not touched by the change)."""
    started = time.perf_counter()
    decode = subprocess.Popen(
        ["mariadb-binlog", "--no-defaults", "--read-from-remote-server", "--host=127.0.0.1", f"--port={port}",
         f"--user={USER}", "--base64-output=decode-rows", "--verbose",
         f"--database={DB}", f"--start-position={start[1]}", f"--stop-position={end[1]}", start[0]],
        stdout=subprocess.PIPE, env=dict(os.environ, MYSQL_PWD=PASSWORD))  # not on the command line
    grep = subprocess.Popen(["grep", "-E", KEY_LINES], stdin=decode.stdout, stdout=subprocess.PIPE, text=True)
    decode.stdout.close()
    written: dict[str, set[int]] = {}
    deleted: dict[str, set[int]] = {}
    table = kind = image = before = None
    lines = 0
    for line in grep.stdout:
        lines += 1
        words = line[4:].strip()
        if words.startswith("@1="):
            key = int(words[3:].split()[0])
            if kind == "DELETE FROM":
                deleted.setdefault(table, set()).add(key)
            elif kind == "UPDATE" and image == "WHERE":
                before = key
            else:
                written.setdefault(table, set()).add(key)
                if kind == "UPDATE" and key != before:
                    deleted.setdefault(table, set()).add(before)
        elif words in ("WHERE", "SET"):
            image = words
        else:
            kind = words.split(" `", 1)[0]
            table = words.rsplit(".", 1)[1].strip("`")
    grep.wait()
    if decode.wait() != 0:
        sys.exit("mariadb-binlog failed")
    return {"seconds": time.perf_counter() - started, "lines": lines, "written": written, "deleted": deleted}


def bucket_pass(conn, tables) -> float:
    """The sync's delete finder over every partitioned table, one query at a time."""
    from dental_assets.replication import buckets, extract

    started = time.perf_counter()
    with conn.cursor() as cur:
        for table in tables:
            if table.partitioned:
                cur.execute(buckets.source_sql(extract.q(table.name), extract.q(table.primary_key), "1=1"))
                cur.fetchall()
    return time.perf_counter() - started


def changed_keys(conn, tables, since: dt.datetime) -> float:
    """The keys of the rows stamped at or after ``since``, through each table's modified column."""
    started = time.perf_counter()
    with conn.cursor() as cur:
        for table in tables:
            if table.modified_column:
                cur.execute(f"SELECT `{table.primary_key}` FROM `{table.name}` "
                            f"WHERE `{table.modified_column}` >= %s", (since,))
                cur.fetchall()
    return time.perf_counter() - started


def load_and_change(url: str, workdir: Path, patients: int, tables) -> dict:
    """Steps 2-3: the practice loaded, the log reset, the change made. Returns the connection, the
    source's clock before the change (``since``), the log's ``start`` and ``end`` positions and the
    change's counts."""
    from replication import change_practice, mysql  # bench/replication.py

    from dental_synthetic import SyntheticConfig, generate
    from dental_synthetic.mariadb_writer import write_mariadb

    started = time.perf_counter()
    practice = generate(SyntheticConfig(as_of=dt.date(2025, 6, 30), patients=patients, seed=42))
    write_mariadb(practice, url, force=True)  # bench_binlog: this script's own server
    print(f"practice of {patients:,} patients loaded in {time.perf_counter() - started:.1f} s", flush=True)
    conn = mysql(url)
    with conn.cursor() as cur:
        cur.execute("RESET MASTER")
        cur.execute("SELECT UTC_TIMESTAMP()")
        since = cur.fetchone()[0]
    start = log_position(conn)
    time.sleep(1.1)  # the change's stamps fall after ``since``
    change = change_practice(url, tables)
    end = log_position(conn)
    log_bytes = sum(p.stat().st_size for p in (workdir / "data").glob("binlog.[0-9]*"))
    print(f"change: {change['edited']:,} rows edited, {change['deleted']:,} deleted; "
          f"log {log_bytes / 1e6:.1f} MB", flush=True)
    return {"conn": conn, "since": since, "start": start, "end": end, "change": change}


def measure(port: int, tables, loaded: dict, rounds: int = 2) -> None:
    """Step 4-5: each reading, ``rounds`` times in turn; exits non-zero when the two decoders differ or
    the log's keys are not the change's."""
    keys = {t.name: t.primary_key for t in tables}
    start, end, change = loaded["start"], loaded["end"], loaded["change"]
    for attempt in range(rounds):
        log = read_log(port, start, end, keys)
        text = read_log_text(port, start, end)
        if (text["written"], text["deleted"]) != (log["written"], log["deleted"]):
            sys.exit("the two decoders differ")
        buckets_s = bucket_pass(loaded["conn"], tables)
        changed_s = changed_keys(loaded["conn"], tables, loaded["since"])
        print(f"round {attempt + 1}: log read {log['seconds']:.2f} s ({log['events']:,} row events, "
              f"{log['rows']:,} rows); mariadb-binlog | grep | Python {text['seconds']:.2f} s "
              f"({text['lines']:,} lines); key buckets {buckets_s:.2f} s; changed rows' keys "
              f"{changed_s:.2f} s", flush=True)
    written = sum(len(v) for v in log["written"].values())
    deleted = sum(len(v) for v in log["deleted"].values())
    print(f"the log named {written:,} keys written and {deleted:,} deleted "
          f"(the change: {change['edited']:,} and {change['deleted']:,})")
    if (written, deleted) != (change["edited"], change["deleted"]):
        sys.exit("the log's keys differ from the change")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=50000)
    parser.add_argument("--buffer-pool-mb", type=int, default=3072)
    args = parser.parse_args()

    from dental_assets.catalog import raw_tables

    tables = list(raw_tables())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # the server is stopped on the way out
    workdir = Path(tempfile.mkdtemp(prefix="dental-binlog-bench-"))
    port = free_port()
    server = start_server(workdir, port, args.buffer_pool_mb)
    try:
        loaded = load_and_change(f"mysql+pymysql://{USER}:{PASSWORD}@127.0.0.1:{port}/{DB}", workdir,
                                 args.patients, tables)
        measure(port, tables, loaded)
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        loaded["conn"].close()
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Run the project's dbt against a test database (for tests that build models from a raw schema)."""

import atexit
import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from dental_assets.defs.dbt.assets import (PARTIAL_PARSE_FILE, PRODUCTION_BUILD_EXCLUDES, dbt_file_log_env,
                                           keep_partial_parse, run_settings_env, seed_partial_parse)
from dental_assets.warehouse import PgParams

DBT_DIR = Path(__file__).resolve().parents[1] / "dental_dbt"
# a build whose subject is the practice's data leaves out the dbt unit tests, as Dagster's production builds
# do: they check the models' SQL on hand-made rows whatever the data, and test_marts_dirty.py's whole
# build runs every one of them (and asserts it passed)
DATA_ONLY = PRODUCTION_BUILD_EXCLUDES


class _DbtProcess:
    """This test process's dbt process (``warm_dbt.py``), started at the first run and again if it
    died; one run at a time."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._answers = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        read_fd, write_fd = os.pipe()
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("warm_dbt.py")), str(write_fd)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, pass_fds=(write_fd,), text=True,
            cwd=str(DBT_DIR.parent),
        )
        os.close(write_fd)
        self._answers = os.fdopen(read_fd)

    def run(self, args: Sequence[str], env: Mapping[str, str]) -> tuple[bool, str]:
        """``dbt <args>`` with the environment ``env``: (succeeded, dbt's messages and its exception)."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            self._proc.stdin.write(json.dumps({"args": list(args), "env": dict(env)}) + "\n")
            self._proc.stdin.flush()
            line = self._answers.readline()
            if not line:
                code = self._proc.wait()
                self._proc = None
                return False, f"the dbt process ended (exit {code}) during: dbt {' '.join(args)}"
            answer = json.loads(line)
            return answer["ok"], answer["output"] + ("\n" + answer["error"] if answer["error"] else "")

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()


_DBT = _DbtProcess()
atexit.register(_DBT.close)


def run_dbt(params: PgParams, target: Path, *args: str, settings: Mapping[str, str] | None = None,
            project: Path = DBT_DIR, artifacts: bool = False, fails: bool = False) -> str:
    """``dbt <args>`` on the database of ``params`` with its own target/log folder, in this test
    process's dbt process (``warm_dbt``); returns dbt's console messages, one a line.

    ``settings`` are the run settings (``as_of_date``, ``min_date``, ``max_date``) passed the way
    Dagster passes them (``run_settings_env``); none given means none set. When ``target`` holds no
    parse, the run starts from the latest one of a run on the same database (this one's or a Dagster dbt
    run's, ``partial_parse_cache(connection)``), else from the latest run's (dbt parses in full if it
    does not fit); its parse is kept the same way (``keep_partial_parse``).
    ``project``: the dbt project (default: this checkout's ``dental_dbt``; a test may pass a modified
    copy, which starts from the same saved parse, dbt parsing again only the files that differ: 2-4 s
    instead of a full parse's 9-12 s; the copy's parse is not kept). ``artifacts``: dbt writes its JSON
    artifacts to ``target`` (``manifest.json``, ``run_results.json``, ``catalog.json``); by default it does not
    (``--no-write-json``: a build writes the manifest twice, 1.2-1.8 s of a test's run), and keeps only
    its saved parse. Fails the test with dbt's messages (and the exception it ended with) when the run
    fails; with ``fails``, when it succeeds."""
    connection = params.dbt_env()
    if not (target / PARTIAL_PARSE_FILE).exists():
        seed_partial_parse(target, connection)
    ok, output = _DBT.run(
        [*args, "--project-dir", str(project), "--profiles-dir", str(project), "--target-path", str(target),
         "--log-path", str(target), *([] if artifacts else ["--no-write-json"])],
        # dbt's file log off, as for Dagster's dbt runs (dbt_file_log_env; DBT_LOG_LEVEL_FILE=debug brings
        # dbt.log back): at debug level it was 15% of the tests' dbt processes' CPU (py-spy, 2026-12-07); the
        # messages a test reads come through warm_dbt's callback, whatever the log levels
        {**os.environ, **connection, **run_settings_env(settings or {}), **dbt_file_log_env()},
    )
    if project == DBT_DIR:
        keep_partial_parse(target, connection)
    assert ok != fails, output[-6000:]
    return output


def execute_sql(params: PgParams, *statements) -> None:
    """Run ``statements`` (strings or psycopg2 ``sql`` objects) on the database of ``params``, in one
    transaction on its own connection, closed after."""
    conn = params.connect()
    try:
        with conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def query_rows(params: PgParams, sql: str) -> list[tuple]:
    """Every row of ``sql`` on the database of ``params`` (its own connection, closed after)."""
    conn = params.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def write_raw_rows(params: PgParams, rows: Mapping[str, list[dict]]) -> None:
    """Create every raw table of the catalog (empty, OpenDental's column defaults) and insert ``rows``
    ({table: [{column: value}]}; columns left out take their defaults)."""
    from dental_assets.catalog import RAW_SCHEMA, pg_create_table_sql, quote_pg, raw_tables

    conn = params.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_pg(RAW_SCHEMA)}")
            for table in raw_tables():
                cur.execute(pg_create_table_sql(table, RAW_SCHEMA))
            for table, table_rows in rows.items():
                _insert_raw_rows(cur, table, table_rows)
    finally:
        conn.close()


def replace_raw_rows(params: PgParams, table: str, rows: list[dict]) -> None:
    """Replace every row of raw ``table`` (created by ``write_raw_rows``) by ``rows``, in one transaction."""
    from dental_assets.catalog import RAW_SCHEMA, quote_pg

    conn = params.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"DELETE FROM {quote_pg(RAW_SCHEMA)}.{quote_pg(table)}")
            _insert_raw_rows(cur, table, rows)
    finally:
        conn.close()


def _insert_raw_rows(cur, table: str, rows: list[dict]) -> None:
    from dental_assets.catalog import RAW_SCHEMA, quote_pg

    for row in rows:
        cur.execute(f"INSERT INTO {quote_pg(RAW_SCHEMA)}.{quote_pg(table)} "
                    f"({', '.join(quote_pg(c) for c in row)}) VALUES ({', '.join(['%s'] * len(row))})",
                    list(row.values()))

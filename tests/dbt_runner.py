"""Run the project's dbt against a test database (for tests that build models from a raw schema)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from dental_assets.warehouse import PgParams

DBT_DIR = Path(__file__).resolve().parents[1] / "dental_dbt"


def run_dbt(params: PgParams, target: Path, *args: str, project: Path = DBT_DIR) -> str:
    """``dbt <args>`` on the database of ``params`` with its own target/log folder; returns stdout.
    ``project``: the dbt project (default: this checkout's ``dental_dbt``; a test may pass a modified
    copy). Fails the test with dbt's output when dbt exits non-zero."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), *args, "--project-dir", str(project),
         "--profiles-dir", str(project), "--target-path", str(target), "--log-path", str(target)],
        env={**os.environ, **params.dbt_env()}, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:]
    return result.stdout


def query_rows(params: PgParams, sql: str) -> list[tuple]:
    """Every row of ``sql`` on the database of ``params`` (its own connection, closed after)."""
    conn = params.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def keep_partial_parse(target: Path) -> None:
    """Make dbt's latest parse under ``target`` the starting point of the next dagster-dbt run.

    With ``DBT_TARGET_PATH=target``, dagster-dbt runs dbt in a new subfolder of ``target`` per run and
    copies ``target/partial_parse.msgpack`` into it first. This copies the newest subfolder's
    ``partial_parse.msgpack`` there, so a later run with the same vars and database parses only what
    changed (dbt checks the vars, profile, version and file hashes and parses in full if any differ).
    Nothing happens when no run has parsed yet."""
    parses = sorted(target.glob("*/partial_parse.msgpack"), key=lambda f: f.stat().st_mtime)
    if parses:
        shutil.copy(parses[-1], target / "partial_parse.msgpack")

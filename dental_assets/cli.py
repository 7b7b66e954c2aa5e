"""``dental``: the project's command line.

- ``dental demo``: run ``demo_job`` with ``dagster job execute`` and print where the outputs are.
- ``dental ui``: open the Dagster UI (``dagster dev``) on http://127.0.0.1:3000.
- ``dental warehouse url|start|mark-demo``: the warehouse the graph uses.
- ``dental sync``: bring raw up to date with the OpenDental source (``DENTAL_SOURCE=opendental``,
  ``OPENDENTAL_URL``) in one in-process run; exits 1 if a run or a verification fails.

Unless ``DAGSTER_HOME`` is set, the Dagster instance lives in ``$DENTAL_HOME/dagster_home`` (default
``./.dental/dagster_home``) with a copy of the project's ``dagster.yaml`` (PostgreSQL storage, when
``DAGSTER_POSTGRES_URL`` is set) or ``dagster.demo.yaml`` (SQLite files), so the demo's runs show in the UI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dental_assets.warehouse import dental_home

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CODE_LOCATION = "dental_assets.definitions"


def prepare_environment() -> dict[str, str]:
    """The environment for Dagster commands: DAGSTER_HOME and DENTAL_HOME set, their folders made,
    the instance's dagster.yaml in place, and this Python's bin folder first on PATH (dbt, dagster)."""
    env = dict(os.environ)
    home = dental_home()
    env["DENTAL_HOME"] = str(home)
    dagster_home = Path(env.get("DAGSTER_HOME") or home / "dagster_home")
    dagster_home.mkdir(parents=True, exist_ok=True)
    env["DAGSTER_HOME"] = str(dagster_home)
    # PostgreSQL instance storage (dagster.yaml) when DAGSTER_POSTGRES_URL is set, else SQLite files
    template = PROJECT_ROOT / ("dagster.yaml" if env.get("DAGSTER_POSTGRES_URL") else "dagster.demo.yaml")
    target = dagster_home / "dagster.yaml"
    if template.exists() and dagster_home.resolve() != PROJECT_ROOT and not target.exists():
        shutil.copyfile(template, target)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def _dagster(env: dict[str, str]) -> str:
    beside = Path(env["PATH"].split(os.pathsep)[0]) / "dagster"
    return str(beside) if beside.exists() else "dagster"


def cmd_demo(args: argparse.Namespace) -> int:
    env = prepare_environment()
    started = time.perf_counter()
    command = [_dagster(env), "job", "execute", "-m", CODE_LOCATION, "-j", "demo_job"]
    print("$ " + " ".join(command[1:] if command[0] != "dagster" else command), flush=True)
    code = subprocess.call(command, env=env, cwd=os.getcwd())
    seconds = time.perf_counter() - started
    if code != 0:
        print(f"\ndemo_job failed (exit {code}) after {seconds:.0f} s; the log above shows the failing step.")
        return code
    summary_path = Path(env["DENTAL_HOME"]) / "demo_summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    print(f"\ndemo_job succeeded in {seconds:.0f} s.")
    if summary:
        print(f"  warehouse:        {summary['warehouse']}")
        for schema, rows in summary["rows_by_schema"].items():
            print(f"  {schema + ':':<17} {rows:,} rows")
        print(f"  journey dataset:  {summary['treatment_journey_file']}")
    print(f"  Dagster instance: {env['DAGSTER_HOME']}")
    print("Open the UI with `dental ui` (or `./dev ui`), then http://127.0.0.1:3000")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    env = prepare_environment()
    command = [_dagster(env), "dev", "-m", CODE_LOCATION, "-h", args.host, "-p", str(args.port)]
    return subprocess.call(command, env=env)


def cmd_warehouse(args: argparse.Namespace) -> int:
    from dental_assets.warehouse import EmbeddedPostgres, PgParams, mark_demo_target

    url = os.environ.get("DENTAL_WAREHOUSE_URL")
    if args.action == "url":
        print(url or EmbeddedPostgres().url)
        return 0
    if args.action == "mark-demo":
        params = PgParams.from_url(url) if url else EmbeddedPostgres().start()
        mark_demo_target(params)
        print(f"marked {params.describe()} as a demo target")
        return 0
    if args.action == "start":
        if url:
            print("DENTAL_WAREHOUSE_URL is set: nothing to start")
            return 0
        server = EmbeddedPostgres()
        params = server.start()
        print(f"embedded warehouse running: {params.describe()} (Ctrl-C stops it)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0
    return 2


def _nothing_to_sync():
    """The no-change fast path of ``dental sync``, without importing Dagster (~2 s of start-up): True
    when the source is MariaDB, the warehouse is ``DENTAL_WAREHOUSE_URL`` and every raw table's
    per-month fingerprints equal the source's (``replication.plan.nothing_changed``). Anything else
    (the embedded warehouse, a difference) goes the full way: a falsy answer, which may carry the
    fingerprints read (for the plan). Raises ValueError for a bad URL."""
    if os.environ.get("DENTAL_SOURCE") != "opendental" or not os.environ.get("DENTAL_WAREHOUSE_URL"):
        return None
    from dental_assets.catalog import raw_tables
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.plan import nothing_changed
    from dental_assets.warehouse import PgParams

    params = MySqlParams.from_url(os.environ["OPENDENTAL_URL"])
    conn = PgParams.from_url(os.environ["DENTAL_WAREHOUSE_URL"]).connect()
    try:
        return nothing_changed(params, conn, list(raw_tables()))
    finally:
        conn.close()


def cmd_sync(args: argparse.Namespace) -> int:
    os.environ.setdefault("DENTAL_SOURCE", "opendental")
    if not os.environ.get("OPENDENTAL_URL"):
        print("dental sync: set OPENDENTAL_URL (mysql+pymysql://user:pass@host:port/db)", file=sys.stderr)
        return 2
    try:
        unchanged = None if args.full_refresh else _nothing_to_sync()
        if unchanged:
            print("raw equals the source: nothing to sync")
            return 0
        from dental_assets.defs.raw.sync_command import run_sync

        report = run_sync(full_refresh=args.full_refresh, prefetched=unchanged)
    except ValueError as exc:
        print(f"dental sync: {exc}", file=sys.stderr)
        return 2
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dental", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run demo_job: synthetic practice -> raw -> dbt -> journey Parquet")
    ui = sub.add_parser("ui", help="open the Dagster UI")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    wh = sub.add_parser("warehouse", help="the warehouse: url, start (embedded, foreground), mark-demo")
    wh.add_argument("action", choices=["url", "start", "mark-demo"])
    sync = sub.add_parser("sync", help="replicate the OpenDental source into raw now (exit 1 on a failed check)")
    sync.add_argument("--full-refresh", action="store_true",
                      help="re-copy every table whole (after raw was restored or edited by hand)")
    args = parser.parse_args(argv)
    handlers = {"demo": cmd_demo, "ui": cmd_ui, "warehouse": cmd_warehouse, "sync": cmd_sync}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

"""``dental``: the project's command line.

- ``dental demo [--patients N] [--seed N] [--as-of YYYY-MM-DD] [--verbose]``: run ``demo_job`` with
  ``dagster job execute`` (one line per step of the demo, dbt's progress lines left out; ``--verbose``:
  every Dagster event) and print where the outputs are.
- ``dental ui``: open the Dagster UI (``dagster dev``) on http://127.0.0.1:3000.
- ``dental warehouse url|start|mark-demo``: the warehouse the graph uses (``url`` masks a password).
- ``dental warehouse grant``: create or update the warehouse's access roles (``dental_assets.roles``,
  docs/security.md); idempotent.
- ``dental sync``: bring raw up to date with the OpenDental source (``DENTAL_SOURCE=opendental``,
  ``OPENDENTAL_URL``) in one in-process run; exits 1 if a run or a verification fails.

Unless ``DAGSTER_HOME`` is set, the Dagster instance lives in ``$DENTAL_HOME/dagster_home`` (default
``./.dental/dagster_home``) with a copy of the project's ``dagster.yaml`` (PostgreSQL storage, when
``DAGSTER_POSTGRES_URL`` is set) or ``dagster.demo.yaml`` (SQLite files), so the demo's runs show in the UI.

Every setting (environment and arguments) is checked by ``dental_assets.settings`` before anything
starts; a bad one prints ``dental: <setting>: <problem> (example: ...)`` and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dental_assets import settings
from dental_assets.errors import ConfigurationError
from dental_assets.warehouse import dental_home

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CODE_LOCATION = "dental_assets.definitions"


# How long the daemon waits for a schedule's or a sensor's tick (Dagster's default: 60 s), unless set.
# The raw backstop compares every table's content inside its tick: 36-49 s at 50,000 patients
# (docs/replication.md), so a larger practice would pass 60 s, and that night's comparison (and its
# keep-fresh syncs) would be skipped with no failed run. The raw change sensor reads every changed
# table's fingerprints (9.7 s at 50,000 patients with every table compared); it runs every 300 s.
TICK_TIMEOUTS = {"DAGSTER_SCHEDULE_GRPC_TIMEOUT_SECONDS": 600, "DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS": 300}


def prepare_environment() -> dict[str, str]:
    """The environment for Dagster commands: DAGSTER_HOME and DENTAL_HOME set, their folders made,
    the instance's dagster.yaml in place, this Python's bin folder first on PATH (dbt, dagster), and
    the daemon's tick timeouts (``TICK_TIMEOUTS``, seconds) unless set."""
    env = dict(os.environ)
    home = dental_home()
    env["DENTAL_HOME"] = str(home)
    dagster_home = Path(env.get("DAGSTER_HOME") or home / "dagster_home")
    dagster_home.mkdir(parents=True, exist_ok=True)
    env["DAGSTER_HOME"] = str(dagster_home)
    # the journey dataset and models under ./data of the folder the command was started in, also for
    # `dental ui`, whose Dagster processes run in the instance folder
    env["DENTAL_DATA_DIR"] = str(Path(env.get("DENTAL_DATA_DIR") or "data").expanduser().resolve())
    # PostgreSQL instance storage (dagster.yaml) when DAGSTER_POSTGRES_URL is set, else SQLite files
    template = PROJECT_ROOT / ("dagster.yaml" if env.get("DAGSTER_POSTGRES_URL") else "dagster.demo.yaml")
    target = dagster_home / "dagster.yaml"
    if template.exists() and dagster_home.resolve() != PROJECT_ROOT and not target.exists():
        shutil.copyfile(template, target)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    for name, seconds in TICK_TIMEOUTS.items():
        env.setdefault(name, str(seconds))
    return env


def _dagster(env: dict[str, str]) -> str:
    beside = Path(env["PATH"].split(os.pathsep)[0]) / "dagster"
    return str(beside) if beside.exists() else "dagster"


# Python warnings the demo and the UI leave out of their output: Dagster 1.13 marks `dagster job execute`
# and `dagster dev` as superseded by `dg launch` / `dg dev` (both work here; the docs name the dagster
# commands CI runs), and platformdirs warns when XDG_RUNTIME_DIR is not set (root shells, containers)
QUIET_WARNINGS = ("ignore:Function `job_execute_command` is superseded",
                  "ignore:Function `dev_command` is superseded", "ignore:XDG_RUNTIME_DIR is not set")


def _quiet_warnings(env: dict[str, str]) -> None:
    env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"), *QUIET_WARNINGS]))


# A line of Dagster's console logger written by demo_job's step: "<date> <time> +0000 - dagster - <LEVEL> -
# demo_job - <run id> - materialize_demo - <message>"
_DEMO_STEP_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d (?P<time>\d\d:\d\d:\d\d) [+-]\d{4} - dagster - (?P<level>[A-Z]+) - demo_job - "
    r"[0-9a-f-]{36} - materialize_demo - (?P<message>.*)$")


_ANSI_COLOR = re.compile(r"\x1b\[[0-9;]*m")  # coloredlogs' colors, when it colors a pipe


# dbt's progress lines, which dagster-dbt echoes to stdout (they stay in the run's captured stdout in the
# UI): left out of the demo's terminal unless --verbose. Errors, failures and warnings are kept.
_DBT_PROGRESS_LINE = re.compile(
    r"^(\d+ of \d+ (START|OK|PASS|SKIP|NO-OP)\b|Running with dbt=|Registered adapter:|Found \d+ |"
    r"Concurrency: |Finished running |Completed successfully|Done\. PASS=\d+ WARN=0 ERROR=0 |"
    r"Unable to do partial parsing|\d\d:\d\d:\d\d +\d+ of \d+ (START|OK|PASS)\b|\s*$)")


# What demo_job's step itself logs at INFO (dental_assets.defs.synthetic.jobs.materialize_demo). Other
# INFO lines attributed to the step are libraries' Python logs it picks up while the runs it launches
# execute in its process (dagster-dbt's "Running dbt command: ..."); they are in those runs' logs.
DEMO_MESSAGES = ("step ", "  still running: ", "demo finished")


def shown_in_demo(line: str) -> bool:
    """Whether the demo's terminal shows a line of ``dagster job execute`` (without --verbose): not
    dbt's progress lines (``_DBT_PROGRESS_LINE``), blank lines, or INFO lines of demo_job's step other
    than its own (``DEMO_MESSAGES``); every other line (warnings, errors, tracebacks) is shown."""
    plain = _ANSI_COLOR.sub("", line)
    if _DBT_PROGRESS_LINE.match(plain):
        return False
    step = _DEMO_STEP_LINE.match(plain)
    return not (step and step["level"] == "INFO" and not step["message"].startswith(DEMO_MESSAGES))


def short_log_line(line: str) -> str:
    """A console line of demo_job's step as ``HH:MM:SS  message`` (the level too when it is not INFO);
    any other line unchanged."""
    match = _DEMO_STEP_LINE.match(_ANSI_COLOR.sub("", line))
    if not match:
        return line
    level = "" if match["level"] == "INFO" else f"{match['level']}: "
    return f"{match['time']}  {level}{match['message']}"


# `dental demo --verbose`: the console logger at DEBUG for demo_job (INFO by default, see
# dental_assets.defs.synthetic.jobs) and for the runs it launches. `dagster job execute` takes run config
# only as files (`-c`), so it is written to $DENTAL_HOME/VERBOSE_CONFIG_FILE (JSON is YAML).
VERBOSE_CONFIG = '{"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}'
VERBOSE_CONFIG_FILE = "demo_verbose.yaml"


def demo_command(config_file: Path | None = None) -> list[str]:
    """The ``dagster job execute`` command of the demo, as a person would type it (``dagster`` from the
    virtualenv's PATH); ``config_file``: a run config file for it (``-c``), e.g. ``verbose_config``'s."""
    command = ["dagster", "job", "execute", "-m", CODE_LOCATION, "-j", "demo_job"]
    return command + (["-c", str(config_file)] if config_file is not None else [])


def verbose_config(home: Path) -> Path:
    """Write ``VERBOSE_CONFIG`` to ``home`` / ``VERBOSE_CONFIG_FILE`` (``home``: $DENTAL_HOME, which
    exists); returns the file's path."""
    path = home / VERBOSE_CONFIG_FILE
    path.write_text(VERBOSE_CONFIG + "\n")
    return path


def cmd_demo(args: argparse.Namespace) -> int:
    env = prepare_environment()
    started = time.perf_counter()
    verbose = getattr(args, "verbose", False)
    command = demo_command(verbose_config(Path(env["DENTAL_HOME"])) if verbose else None)
    print("$ " + shlex.join(command), flush=True)
    _quiet_warnings(env)
    env["PYTHONUNBUFFERED"] = "1"  # each line as it happens, also through a pipe
    proc = subprocess.Popen([_dagster(env), *command[1:]], env=env, cwd=os.getcwd(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            line = line.rstrip("\n")
            if verbose:
                print(line, flush=True)
            elif shown_in_demo(line):
                print(short_log_line(line), flush=True)
        code = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reached dagster too (same process group): let it stop the run
        code = proc.wait()
        print(f"\ndemo_job interrupted (exit {code}).")
        return 130
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
    # Started in the instance folder, where the instance's dagster.yaml is: `dagster dev` warns about a
    # dagster.yaml in its current folder that is not $DAGSTER_HOME's (the repository root's). The code
    # location is still loaded from the project (-d).
    command = [_dagster(env), "dev", "-m", CODE_LOCATION, "-d", str(PROJECT_ROOT),
               "-h", args.host, "-p", str(args.port)]
    _quiet_warnings(env)
    return subprocess.call(command, env=env, cwd=env["DAGSTER_HOME"])


def cmd_warehouse(args: argparse.Namespace) -> int:
    from dental_assets.warehouse import EmbeddedPostgres, mark_demo_target

    url = os.environ.get("DENTAL_WAREHOUSE_URL")
    if args.action == "url":  # the password of a configured URL is masked: it is only ever read from the environment
        print(settings.mask_url(url) if url else EmbeddedPostgres().url)
        return 0
    if args.action == "mark-demo":
        params = settings.warehouse_params(url) if url else EmbeddedPostgres().start()
        mark_demo_target(params)
        print(f"marked {params.describe()} as a demo target")
        return 0
    if args.action == "grant":
        return cmd_warehouse_grant(url)
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


def cmd_warehouse_grant(url: str | None) -> int:
    """``dental warehouse grant``: the four access roles on ``DENTAL_WAREHOUSE_URL`` (or the embedded
    warehouse), named by ``DENTAL_ROLE_PREFIX``; prints what changed (names and counts only)."""
    from dental_assets.errors import ConfigurationError
    from dental_assets.roles import WarehouseRoles, grant
    from dental_assets.warehouse import EmbeddedPostgres, PgParams

    try:
        roles = WarehouseRoles.from_env()
        params = PgParams.from_url(url) if url else EmbeddedPostgres().start()
    except (ConfigurationError, ValueError) as exc:
        print(f"dental warehouse grant: {exc}", file=sys.stderr)
        return 2
    conn = params.connect()
    try:
        report = grant(conn, roles)
    finally:
        conn.close()
    print(f"roles {', '.join(roles.all)} on {params.describe()}: {report.summary()}")
    return 0


def _nothing_to_sync(claim: str):
    """The no-change fast path of ``dental sync``, without importing Dagster (~2 s of start-up): truthy
    when the source is MariaDB, the warehouse is ``DENTAL_WAREHOUSE_URL`` and every raw table's
    per-month fingerprints equal the source's, or the table is unchanged on both sides since a plan
    verified it equal (``replication.plan.nothing_changed``, ``replication.verified``), and no raw table
    has a failed check left (``replication.check_failures``: its windows are synced again). Anything else
    (the embedded warehouse, a difference) goes the full way: a falsy answer, which may carry the
    fingerprints read (for the plan). ``claim``: the sync's token, for which the plan claims the
    tables (``replication.verified.claim``). Raises ConfigurationError for a bad URL."""
    if os.environ.get("DENTAL_SOURCE") != "opendental" or not os.environ.get("DENTAL_WAREHOUSE_URL"):
        return None
    from dental_assets.catalog import raw_tables
    from dental_assets.replication import verified
    from dental_assets.replication.plan import nothing_changed

    params = settings.source_params(os.environ["OPENDENTAL_URL"])
    conn = settings.warehouse_params(os.environ["DENTAL_WAREHOUSE_URL"]).connect()
    try:
        # without Dagster runs (no DAGSTER_HOME), a table written on the source since verified is synced
        # whole-range, its fingerprints unread (replication.plan._fingerprints_both_sides)
        answer = nothing_changed(params, conn, list(raw_tables()), claim=claim,
                                 sync_written=not os.environ.get("DAGSTER_HOME"))
        if answer:  # nothing to write: the tables it claimed are recorded already
            with conn, conn.cursor() as cur:
                verified.release(cur, claim)
        return answer
    finally:
        conn.close()


def cmd_sync(args: argparse.Namespace) -> int:
    """``dental sync``; run again from the start, on new connections, when the warehouse connection is
    lost where no table's retry covers it (the plan, the no-change check): every write is idempotent
    and atomic, so a second run finishes the first's work. ``replicate.WAREHOUSE_ATTEMPTS`` runs in
    all, 1 s then 2 s apart; the last loss is raised (``main`` prints it as one line)."""
    from dental_assets.replication.replicate import WAREHOUSE_ATTEMPTS, WAREHOUSE_RETRY_SECONDS
    from dental_assets.warehouse import connection_lost

    for attempt in range(WAREHOUSE_ATTEMPTS):
        try:
            return _sync(args)
        except Exception as exc:
            if not connection_lost(exc) or attempt == WAREHOUSE_ATTEMPTS - 1:
                raise
            delay = WAREHOUSE_RETRY_SECONDS * 2**attempt
            print(f"dental sync: the warehouse connection was lost ({type(exc).__name__}), "
                  f"run {attempt + 2}/{WAREHOUSE_ATTEMPTS} in {delay:.0f} s", file=sys.stderr)
            time.sleep(delay)
    raise AssertionError("unreachable")


def _sync(args: argparse.Namespace) -> int:
    from dental_assets.replication.verified import new_claim

    claim = new_claim()  # the plan claims the tables for this sync (replication.verified)
    unchanged = None if args.full_refresh else _nothing_to_sync(claim)
    if unchanged:
        print("raw equals the source: nothing to sync")
        return 0
    if not os.environ.get("DENTAL_WAREHOUSE_URL"):  # said, so that a warehouse URL left unset is seen
        print(f"warehouse: the embedded PostgreSQL in {settings.dental_home() / 'pgdata'} "
              "(DENTAL_WAREHOUSE_URL is unset)")
    if os.environ.get("DAGSTER_HOME"):  # Dagster runs on that instance
        from dental_assets.defs.raw.sync_command import run_sync
    else:  # no instance keeps runs: the work directly, without importing Dagster
        from dental_assets.replication.direct import sync_directly as run_sync

    report = run_sync(full_refresh=args.full_refresh, prefetched=unchanged, claim=claim)
    return 0 if report.ok else 1


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, ``<prog>: <message>``, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dental", description=__doc__.splitlines()[0].replace("``", ""))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="run demo_job: synthetic practice -> raw -> dbt -> journey Parquet")
    demo.add_argument("--patients", metavar="N",
                      help=f"patients of the synthetic practice, 1 to {settings.MAX_PATIENTS:,} "
                           f"(DENTAL_SYNTHETIC_PATIENTS, default {settings.DEFAULT_PATIENTS})")
    demo.add_argument("--seed", metavar="N",
                      help=f"random seed of the synthetic practice (DENTAL_SYNTHETIC_SEED, default {settings.DEFAULT_SEED})")
    demo.add_argument("--as-of", metavar="YYYY-MM-DD",
                      help="last day of the synthetic practice (DENTAL_AS_OF, default today)")
    demo.add_argument("--verbose", action="store_true",
                      help="log every Dagster event (DEBUG) of the demo and the runs it launches")
    ui = sub.add_parser("ui", help="open the Dagster UI")
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=int, default=3000, help="port to listen on (default 3000)")
    wh = sub.add_parser("warehouse", help="the warehouse: url, start (embedded, foreground), mark-demo, grant")
    wh.add_argument("action", choices=["url", "start", "mark-demo", "grant"])
    sync = sub.add_parser("sync", help="replicate the OpenDental source into raw now (exit 1 on a failed check)")
    sync.add_argument("--full-refresh", action="store_true",
                      help="re-copy every table whole (after raw was restored or edited by hand)")
    return parser


def apply_arguments(args: argparse.Namespace) -> None:
    """Put the command's setting arguments into the environment (``dental demo --patients`` ->
    ``DENTAL_SYNTHETIC_PATIENTS``...), each checked as its variable is. Raises ConfigurationError
    naming the argument."""
    if args.command == "demo":
        if args.patients is not None:
            os.environ["DENTAL_SYNTHETIC_PATIENTS"] = str(settings.parse_patients(args.patients, "--patients"))
        if args.seed is not None:
            os.environ["DENTAL_SYNTHETIC_SEED"] = str(settings.parse_seed(args.seed, "--seed"))
        if args.as_of is not None:
            os.environ["DENTAL_AS_OF"] = settings.parse_as_of(args.as_of, "--as-of").isoformat()
    if args.command == "sync":
        os.environ.setdefault("DENTAL_SOURCE", "opendental")
    if args.command == "ui" and not 1 <= args.port <= 65535:
        raise ConfigurationError("--port", f"must be between 1 and 65535, got {args.port}", "3000")


def check_settings(args: argparse.Namespace) -> None:
    """Every setting the command uses, checked before it starts anything; ``demo`` and ``sync`` also
    reach the source and warehouse servers once. Raises ConfigurationError."""
    apply_arguments(args)
    if args.command == "sync" and os.environ["DENTAL_SOURCE"] != "opendental":
        raise ConfigurationError("DENTAL_SOURCE", "must be opendental for dental sync", "opendental")
    loaded = settings.load()
    if args.command in ("demo", "sync"):
        settings.check_connections(loaded)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"demo": cmd_demo, "ui": cmd_ui, "warehouse": cmd_warehouse, "sync": cmd_sync}
    try:
        check_settings(args)
        return handlers[args.command](args)
    except ConfigurationError as exc:
        print(f"dental: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: each table's window is one transaction, rolled back when cut
        if args.command != "ui":
            print(f"dental {args.command}: interrupted; what was being written was rolled back, what was "
                  "committed is kept: run the command again to finish", file=sys.stderr)
        return 130
    except Exception as exc:
        lost = lost_connection_text(exc)
        if lost is None:
            raise
        print(f"dental: {lost}", file=sys.stderr)
        return 1


def lost_connection_text(exc: BaseException) -> str | None:
    """One line for a database connection lost after the command reached its servers (a restart, a
    failover, a terminated session; the source's losses are retried first), or None for any other
    error. Names the setting, not the URL (no credentials), and the driver's first line."""
    from dental_assets.replication.mysql import SourceConnectionLost
    from dental_assets.warehouse import connection_lost

    if connection_lost(exc):
        which = "the warehouse (DENTAL_WAREHOUSE_URL)"
    elif isinstance(exc, SourceConnectionLost):
        which = "the source (OPENDENTAL_URL)"
    else:
        return None
    said = str(exc).strip().splitlines()
    return (f"the connection to {which} was lost: {type(exc).__name__}: {said[0] if said else 'no message'}; "
            "what was being written was rolled back; run the command again")


if __name__ == "__main__":
    sys.exit(main())

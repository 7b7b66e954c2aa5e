"""Shared test fixtures: real PostgreSQL and MariaDB servers, one fresh database per test.

The servers come from ``TEST_PG_URL`` / ``TEST_MARIADB_URL`` (``./dev test`` sets both). When a
variable is missing, ``scripts/services.sh start`` is run once per session: it installs and starts
loopback-only test servers of this checkout and prints the URLs.

Fixtures:
  pg_server_url, mariadb_server_url   (session) the server URLs, pointing at an admin database
  pg_url, mariadb_url                 (function) a freshly created, uniquely named database, dropped after
  pg_module_url, mariadb_module_url   (module) the same, shared by the tests of one module
  pg_params                           (function) ``PgParams`` for ``pg_url``
  make_pg_database, make_mariadb_database
                                      (session) context-manager factories for more databases:
                                      ``with make_pg_database() as url: ...``
  write_practice                      (session) ``write_practice(practice, mariadb_url)``: a generated practice
                                      in a MariaDB database, marked as a demo target, copied from a template

Every test session gets its own ``DENTAL_HOME`` (a temporary directory) unless one is set, so tests never
touch the checkout's ``.dental``; under pytest-xdist (``./dev test`` runs ``-n``) every worker gets its
own. Database names are unique per test, so workers never share a database.

A test that leaves a Dagster instance entered fails at its teardown (``_no_leftover_defs_state_storage``):
exit what you enter, schedule contexts included (``with dg.build_schedule_context(...) as context:``).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import hashlib
import itertools
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES_SCRIPT = REPO_ROOT / "scripts" / "services.sh"


# --------------------------------------------------------------------------------------- DENTAL_HOME

# Set to the process id of the test process that made DENTAL_HOME: a pytest-xdist worker inherits the
# environment of the process that started it, and makes a DENTAL_HOME of its own when that variable is
# not its own process id (each worker's embedded PostgreSQL, Dagster instance and data folder apart).
_HOME_OWNER = "DENTAL_TEST_HOME_OWNER_PID"


def _isolate_dental_home() -> None:
    """Point DENTAL_HOME at a temporary directory of this process (before any test module imports the
    project), unless the caller set DENTAL_HOME itself. It starts with the dbt parses earlier sessions
    saved (``SAVED_PARSES_DIR``) and gives this session's back when the process ends."""
    owner = os.environ.get(_HOME_OWNER)
    if os.environ.get("DENTAL_HOME") and (owner is None or owner == str(os.getpid())):
        return
    home = tempfile.mkdtemp(prefix=f"dental-test-home-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-")
    # mkdtemp makes the directory 0700; as root, the embedded PostgreSQL runs as another OS user
    # (``pgserver``) that must be able to reach its data directory inside it.
    os.chmod(home, 0o755)
    os.environ["DENTAL_HOME"] = home
    os.environ[_HOME_OWNER] = str(os.getpid())
    # atexit, not a session finaliser: embedded servers stop from their own atexit handlers, which were
    # registered later and therefore run first. Handlers run last-registered first: the parses are
    # kept before the folder goes.
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    parses = Path(home) / "dbt"
    _copy_saved_parses(SAVED_PARSES_DIR, parses)
    atexit.register(_keep_saved_parses, parses, time.time())


# dbt parses the whole project (6-9 s of CPU) the first time it runs on a connection it has no saved parse
# for (``dental_assets.defs.dbt.assets.partial_parse_cache``: one per host, port, user and database). The
# test databases' names stay the same from one session to the next (``_pg_slot_name``), and the parses a
# test process saved in its DENTAL_HOME are kept here for the next session: ``./dev test`` run again does
# not parse in full once per worker and database slot. Ignored by git (dbt's target folder); a fresh
# clone, as in CI, starts with none. dbt itself decides whether a saved parse still fits (its version,
# the connection, the vars; changed files are parsed again).
SAVED_PARSES_DIR = REPO_ROOT / "dental_dbt" / "target" / "test_parses"
SAVED_PARSES_KEEP = 16  # the newest; a session of two workers leaves about six
_SAVED_PARSE_GLOB = "partial_parse-*.msgpack"


def _copy_saved_parses(source: Path, dest: Path, newer_than: float = 0.0) -> None:
    """Copy the per-connection dbt parses in ``source`` modified after ``newer_than`` (epoch seconds) to
    ``dest``, keeping their modification times; each file is replaced whole (another process may read it)."""
    for parse in source.glob(_SAVED_PARSE_GLOB):
        with contextlib.suppress(OSError):  # removed meanwhile by another session's pruning
            if parse.stat().st_mtime <= newer_than:
                continue
            dest.mkdir(parents=True, exist_ok=True)
            partial = dest / f".{parse.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
            shutil.copy2(parse, partial)
            os.replace(partial, dest / parse.name)


def _keep_saved_parses(parses: Path, started: float) -> None:
    """At exit: the parses this process saved since ``started`` into ``SAVED_PARSES_DIR``, which keeps its
    ``SAVED_PARSES_KEEP`` newest. Never fails the session (a missing folder, a full disk: the next one
    parses in full)."""
    with contextlib.suppress(OSError):
        _copy_saved_parses(parses, SAVED_PARSES_DIR, newer_than=started)
        kept = sorted(SAVED_PARSES_DIR.glob(_SAVED_PARSE_GLOB), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[SAVED_PARSES_KEEP:]:
            old.unlink(missing_ok=True)


_isolate_dental_home()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a slow test (deselect with -m 'not slow')")


# ------------------------------------------------------------------------------- order under xdist

# The test files that take longest, longest first. ``./dev test`` runs files in parallel (pytest-xdist
# ``--dist loadfile``: a file on one worker, handed out in collection order); starting the longest
# files first keeps one long file from running alone at the end. Files not listed keep their order,
# after these. Only the order changes (tests are independent); measured with bench/test_time.py.
SLOWEST_FILES = (  # bench/test_time.py, 2026-12-07 00:26 (sum of each file's tests, 2 workers, quiet machine)
    "test_ui_browser.py",  # the suite's one 300-patient demo, then the browser (132 s; its demo test 96 s)
    "test_replication_faults.py",  # 224 s
    "test_replication.py",  # 157 s
    "test_replication_practice.py",  # 113 s
    "test_journey_dataset.py",
    "test_check_failures.py",
    "test_marts_dirty.py",
    "test_replication_unchanged.py",
    "test_automation_e2e.py",
    "test_security_roles.py",
    "test_journey_decision_date.py",
    "test_settings.py",
    "test_dbt_partial_selection.py",
    "test_marts_reconcile.py",
    "test_automation_fresh_instance.py",
    "test_marts_settings.py",
)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the files of ``SLOWEST_FILES`` first (a stable sort: the order within a
    file and among the other files is kept)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rank = {name: index for index, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


# ------------------------------------------------------------------------------------------- servers

_started_urls: dict[str, str] | None = None


def _services_urls() -> dict[str, str]:
    """Run ``scripts/services.sh start`` once per session; return the variables it exports."""
    global _started_urls
    if _started_urls is None:
        proc = subprocess.run(
            ["bash", str(SERVICES_SCRIPT), "start"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=1800,  # the first run may install packages
        )
        if proc.returncode != 0:
            pytest.fail(
                f"scripts/services.sh start failed (exit {proc.returncode}):\n{proc.stderr}",
                pytrace=False,
            )
        urls: dict[str, str] = {}
        for line in proc.stdout.splitlines():
            words = shlex.split(line)
            if len(words) == 2 and words[0] == "export" and "=" in words[1]:
                name, _, value = words[1].partition("=")
                urls[name] = value
        _started_urls = urls
    return _started_urls


def _server_url(variable: str) -> str:
    url = os.environ.get(variable)
    if not url:
        url = _services_urls().get(variable)
        if not url:
            pytest.fail(f"scripts/services.sh start did not print {variable}", pytrace=False)
        os.environ[variable] = url  # for subprocesses the tests start
    return url


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """URL of the test PostgreSQL server (``postgresql+psycopg2://...``), as a superuser."""
    return _server_url("TEST_PG_URL")


@pytest.fixture(scope="session")
def mariadb_server_url() -> str:
    """URL of the test MariaDB server (``mysql+pymysql://...``), as a user who may create databases."""
    return _server_url("TEST_MARIADB_URL")


# ------------------------------------------------------------------------------ per-test databases

def _unique_name() -> str:
    return f"t_{uuid.uuid4().hex[:8]}"


# PostgreSQL test databases are named per process and slot, ``t_<process token>_<slot>``, the slot being
# the lowest one this process has no database open on: a process's successive databases share a name.
# dbt keeps its saved parse only for the connection it was made on (the database name is part of the
# profile's hash), so the next module's dbt run parses partially (under 1 s) instead of fully (6-9 s).
# The token is the same from one session to the next (``_claim_process_token``), so the parses kept in
# ``SAVED_PARSES_DIR`` fit the next session's databases too.
_process_token: str | None = None
_token_locks: list[int] = []  # the lock files this process holds open, so holds, until it ends
_pg_slots_open: set[int] = set()
_pg_slots_lock = threading.Lock()


def _claim_process_token() -> str:
    """``<checkout>_<n>``: a digest of this checkout's path (two checkouts may test on one server) and the
    lowest n whose lock file in ``SAVED_PARSES_DIR`` no running test process holds (held until this one
    ends: two sessions never share a database name). A random token when no lock can be taken."""
    checkout = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:6]
    with contextlib.suppress(OSError):
        SAVED_PARSES_DIR.mkdir(parents=True, exist_ok=True)
        for n in range(64):
            fd = os.open(SAVED_PARSES_DIR / f"token-{n}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            _token_locks.append(fd)
            return f"{checkout}_{n}"
    return uuid.uuid4().hex[:8]


def process_token() -> str:
    """This test process's token (``_claim_process_token``, claimed at the first call): the same from one
    session to the next, for names dbt's saved parse depends on."""
    global _process_token
    with _token_lock:
        if _process_token is None:
            _process_token = _claim_process_token()
        return _process_token


_token_lock = threading.Lock()


@contextlib.contextmanager
def stable_dental_home(name: str) -> Iterator[Path]:
    """A DENTAL_HOME at the same path in every session (``<temp>/dental-test-<name>-<token>``), emptied
    first and removed at the end, that starts with the dbt parses kept from earlier sessions and gives
    its new ones back. For an embedded warehouse, whose connection for dbt is its folder."""
    home = Path(tempfile.gettempdir()) / f"dental-test-{name}-{process_token()}"
    shutil.rmtree(home, ignore_errors=True)  # left by a killed session
    home.mkdir()
    os.chmod(home, 0o755)  # the embedded PostgreSQL's OS user must reach its data directory (as above)
    started = time.time()
    _copy_saved_parses(SAVED_PARSES_DIR, home / "dbt")
    try:
        yield home
    finally:
        _keep_saved_parses(home / "dbt", started)
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def _pg_slot_name() -> Iterator[str]:
    token = process_token()
    with _pg_slots_lock:
        slot = next(n for n in itertools.count() if n not in _pg_slots_open)
        _pg_slots_open.add(slot)
    try:
        yield f"t_{token}_{slot}"
    finally:
        with _pg_slots_lock:
            _pg_slots_open.discard(slot)


def _with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


@contextlib.contextmanager
def _pg_database(server_url: str) -> Iterator[str]:
    from dental_assets.warehouse import PgParams

    admin = PgParams.from_url(server_url)
    with _pg_slot_name() as name:
        conn = admin.connect()
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                # a database of this name is left only if dropping it after its last use failed
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        try:
            yield _with_database(server_url, name)
        finally:
            _drop_pg_database(admin, name)


def _drop_pg_database(admin, name: str) -> None:
    conn = admin.connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            # FORCE ends the sessions a test left open (PostgreSQL 13+).
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # never hide the test's own result behind a clean-up problem
        warnings.warn(f"could not drop test database {name}: {exc}", stacklevel=1)
    finally:
        conn.close()


def _mariadb_connect(url: str):
    from sqlalchemy.engine import make_url

    from dental_assets.replication.mysql import Connection  # PyMySQL's, its TLS context built once

    parsed = make_url(url)
    return Connection(
        host=parsed.host or "127.0.0.1",
        port=int(parsed.port or 3306),
        user=parsed.username,
        password=parsed.password or "",
        database=parsed.database,
        charset="utf8mb4",
        autocommit=True,
    )


@contextlib.contextmanager
def _mariadb_database(server_url: str) -> Iterator[str]:
    name = _unique_name()
    conn = _mariadb_connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    finally:
        conn.close()
    try:
        yield _with_database(server_url, name)
    finally:
        conn = _mariadb_connect(server_url)
        try:
            with conn.cursor() as cur:
                # A session left open inside the database (an undisposed engine, an open transaction)
                # would hold metadata locks and make DROP DATABASE wait: end those sessions first.
                cur.execute(
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()",
                    (name,),
                )
                for (session_id,) in cur.fetchall():
                    with contextlib.suppress(Exception):
                        cur.execute(f"KILL {int(session_id)}")
                cur.execute("SET SESSION lock_wait_timeout = 30")
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        except Exception as exc:
            warnings.warn(f"could not drop test database {name}: {exc}", stacklevel=1)
        finally:
            conn.close()


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for this test: ``postgresql+psycopg2://.../t_<token>_<slot>``."""
    with _pg_database(pg_server_url) as url:
        yield url


@pytest.fixture(scope="module")
def pg_module_url(pg_server_url: str) -> Iterator[str]:
    """A new PostgreSQL database shared by the tests of one module."""
    with _pg_database(pg_server_url) as url:
        yield url


@pytest.fixture
def mariadb_url(mariadb_server_url: str) -> Iterator[str]:
    """A new, empty MariaDB database for this test: ``mysql+pymysql://.../t_xxxxxxxx``."""
    with _mariadb_database(mariadb_server_url) as url:
        yield url


@pytest.fixture(scope="module")
def mariadb_module_url(mariadb_server_url: str) -> Iterator[str]:
    """A new MariaDB database shared by the tests of one module."""
    with _mariadb_database(mariadb_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def make_pg_database(pg_server_url: str):
    """``make_pg_database()`` is a context manager yielding the URL of a new PostgreSQL database."""
    return functools.partial(_pg_database, pg_server_url)


@pytest.fixture(scope="session")
def make_mariadb_database(mariadb_server_url: str):
    """``make_mariadb_database()`` is a context manager yielding the URL of a new MariaDB database."""
    return functools.partial(_mariadb_database, mariadb_server_url)


@pytest.fixture(scope="session")
def write_practice(mariadb_server_url: str):
    """``write_practice(practice, url)``: the MariaDB database of ``url`` as ``mark_mariadb_demo_target`` then
    ``write_mariadb(practice, url)`` leave it (the same tables, definitions and rows, marked as a demo target),
    copied on the server from a template database of ``practice`` written once per test process
    (``CREATE TABLE ... LIKE``, ``INSERT ... SELECT``): 0.37 s a copy of the 150-patient practice against 0.68 s
    for ``write_mariadb`` (2026-12-07). The templates are dropped at the session's end."""
    from dental_synthetic.mariadb_writer import mark_mariadb_demo_target, write_mariadb

    templates: dict[int, tuple[object, str, list[str]]] = {}  # id(practice) -> (practice, database, tables)
    with contextlib.ExitStack() as stack:

        def template(practice) -> tuple[str, list[str]]:
            kept = templates.get(id(practice))
            if kept is None:  # (the practice is held in ``templates``: its id is not reused)
                url = stack.enter_context(_mariadb_database(mariadb_server_url))
                mark_mariadb_demo_target(url)
                write_mariadb(practice, url)
                conn = _mariadb_connect(url)
                try:
                    with conn.cursor() as cur:
                        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
                        tables = [name for (name,) in cur.fetchall()]
                finally:
                    conn.close()
                kept = templates[id(practice)] = (practice, url.rsplit("/", 1)[1], tables)
            return kept[1], kept[2]

        def write(practice, url: str) -> None:
            source, tables = template(practice)
            conn = _mariadb_connect(url)
            try:
                with conn.cursor() as cur:
                    # as write_mariadb's session: UTC (TIMESTAMP values copied unchanged) and no strict mode
                    # (zero dates copied as written)
                    cur.execute("SET time_zone = '+00:00'")
                    cur.execute("SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'")
                    for name in tables:
                        cur.execute(f"CREATE TABLE `{name}` LIKE `{source}`.`{name}`")
                        cur.execute(f"INSERT INTO `{name}` SELECT * FROM `{source}`.`{name}`")
            finally:
                conn.close()

        yield write


@pytest.fixture
def pg_params(pg_url: str):
    """``dental_assets.warehouse.PgParams`` for this test's PostgreSQL database."""
    from dental_assets.warehouse import PgParams

    return PgParams.from_url(pg_url)


# ------------------------------------------------------------------------ Dagster's current state storage

# Where each Dagster instance entered (``with instance:``, or an ExitStack's ``enter_context``) and not yet
# exited was entered: id(instance) -> "tests/<file>.py:<line>" (the innermost frame of a test file).
_open_instances: dict[int, str] = {}
_TESTS_DIR = str(Path(__file__).resolve().parent) + os.sep


def _where_in_tests() -> str:
    frame = sys._getframe(2)
    while frame is not None and not frame.f_code.co_filename.startswith(_TESTS_DIR):
        frame = frame.f_back
    return "?" if frame is None else f"tests/{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"


@pytest.fixture(scope="session", autouse=True)
def _entered_instances_tracked():
    """For the session, every ``DagsterInstance`` entered and not yet exited is noted in ``_open_instances``
    (its ``__enter__``/``__exit__`` wrapped, their behaviour unchanged; put back at the end)."""
    from dagster import DagsterInstance

    enter, exit_ = DagsterInstance.__enter__, DagsterInstance.__exit__

    def tracked_enter(self):
        _open_instances[id(self)] = _where_in_tests()
        return enter(self)

    def tracked_exit(self, *exc_info):
        _open_instances.pop(id(self), None)
        return exit_(self, *exc_info)

    DagsterInstance.__enter__, DagsterInstance.__exit__ = tracked_enter, tracked_exit
    yield
    DagsterInstance.__enter__, DagsterInstance.__exit__ = enter, exit_


@pytest.fixture(autouse=True)
def _no_leftover_defs_state_storage(_entered_instances_tracked):
    """Every Dagster instance a test enters is exited by the test's end; a test that leaves one open fails.

    Entering an instance sets Dagster's current defs state storage (a context variable holding a weak
    reference to the instance) through a generator context manager, which puts back the value it replaced
    when it is exited. An instance left entered (a ``dg.build_schedule_context`` never exited enters an
    instance of its own the first time ``context.instance`` is read) is exited when the garbage collector
    finalizes that generator, at any later moment in this worker: it then puts back the storage of an
    instance that is gone by then, and the next ``Definitions`` built (any ``dg.materialize``) fails with
    "Attempted to resolve undefined DagsterInstance weakref", in whichever test the collection happened to
    run (seen once on 3 workers, 2026-12-07, in test_check_failures.py after test_automation.py's schedule
    tests on the same worker). Every test also starts with no current storage."""
    from dagster._core.storage.defs_state.base import _current_storage

    _open_instances.clear()
    _current_storage.set(None)
    yield
    left = sorted(set(_open_instances.values()))
    _open_instances.clear()
    _current_storage.set(None)
    if left:
        pytest.fail(f"Dagster instance(s) entered and never exited, at {', '.join(left)}: exit them (``with``; "
                    "for a schedule or sensor context, ``with dg.build_schedule_context(...) as context:``)",
                    pytrace=False)


@pytest.fixture(scope="module")
def monkeypatch_module():
    """``monkeypatch`` for a module-scoped fixture (environment variables set for the whole module)."""
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def defs():
    """The project's Dagster definitions (``dental_assets.definitions.defs``)."""
    from dental_assets.definitions import defs

    return defs


@pytest.fixture(scope="module")
def graph(defs):
    """The resolved asset graph of ``defs``."""
    return defs.resolve_asset_graph()


@pytest.fixture(scope="session", autouse=True)
def _code_location_built_from_the_session_environment():
    """Import the code location before any test sets ``DENTAL_SOURCE``, ``OPENDENTAL_URL`` or
    ``DENTAL_WAREHOUSE_URL``: its module-level ``defs`` is built from the environment of its first import
    (``dental_assets.definitions.build_definitions``), and a worker whose first import happened inside a test
    of the MariaDB source kept resources reading those variables for every later test file (test_run_queue
    then failed on the unset DENTAL_WAREHOUSE_URL, depending on which files shared the worker)."""
    import dental_assets.definitions

    return dental_assets.definitions

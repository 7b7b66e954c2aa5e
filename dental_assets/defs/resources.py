"""Dagster resources shared by every domain: the warehouse and the OpenDental source.

Configuration comes from the environment (credentials only through ``dg.EnvVar``):

- ``DENTAL_WAREHOUSE_URL``: the warehouse, a ``postgresql+psycopg2://`` URL. Unset: the embedded
  PostgreSQL in ``$DENTAL_HOME/pgdata`` (see ``dental_assets.warehouse``).
- ``DENTAL_SOURCE``: ``synthetic`` (the default; the demo practice) or ``opendental`` (a real OpenDental
  database on MariaDB/MySQL at ``OPENDENTAL_URL``, a ``mysql+pymysql://user:pass@host:port/db`` URL
  read through ``dg.EnvVar``; a read-only database user is enough).
- ``DENTAL_SYNTHETIC_PATIENTS`` (default 5000), ``DENTAL_SYNTHETIC_SEED`` (default 42) and
  ``DENTAL_AS_OF`` (ISO date; default today, UTC) configure the synthetic practice.
- ``DENTAL_JOURNEY_SALT``: the secret key of the journey dataset's keyed hashes, read through
  ``dg.EnvVar`` (``JourneyKeysResource``; see ``dental_assets.defs.journey.assets``).
"""

import contextlib
import datetime as dt
import os
from pathlib import Path
from typing import Iterator

import dagster as dg
from pydantic import PrivateAttr

from dental_assets.sources import MariaDBSource, OpenDentalSource, SyntheticSource
from dental_assets.warehouse import EmbeddedPostgres, PgParams


class WarehouseResource(dg.ConfigurableResource):
    """The PostgreSQL warehouse (schemas ``raw``, ``staging``, ``intermediate``, ``marts``).

    ``url`` is a ``postgresql+psycopg2://`` URL, or None for the embedded server under ``home``
    (default ``$DENTAL_HOME``, else ``./.dental``), which starts when a run first needs it. The last
    process using it stops it when it exits.
    """

    url: str | None = None
    home: str | None = None

    _params: PgParams | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._params = self._resolve()

    def _resolve(self) -> PgParams:
        if self.url:
            return PgParams.from_url(self.url)
        return EmbeddedPostgres(Path(self.home) if self.home else None).start()

    @property
    def params(self) -> PgParams:
        if self._params is None:
            self._params = self._resolve()
        return self._params

    def connect(self):
        """A new psycopg2 connection (the caller closes it)."""
        return self.params.connect()

    @contextlib.contextmanager
    def dbt_environment(self) -> Iterator[None]:
        """Export the connection for ``dental_dbt/profiles.yml`` while dbt runs, then restore."""
        env = self.params.dbt_env()
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def default_as_of() -> dt.date:
    """``DENTAL_AS_OF`` when set, else today's date in UTC."""
    value = os.environ.get("DENTAL_AS_OF")
    return dt.date.fromisoformat(value) if value else dt.datetime.now(dt.timezone.utc).date()


class OpenDentalSourceResource(dg.ConfigurableResource):
    """Where raw OpenDental rows come from. ``kind`` is ``synthetic``: the demo practice of
    ``dental_synthetic`` (``synthetic_patients`` patients, ``synthetic_seed``, as of
    ``synthetic_as_of``, an ISO date; None means ``DENTAL_AS_OF`` or today); or ``opendental``: the
    MariaDB/MySQL database at ``url`` (``OPENDENTAL_URL``)."""

    kind: str = "synthetic"
    url: str | None = None
    synthetic_patients: int = 5000
    synthetic_seed: int = 42
    synthetic_as_of: str | None = None

    @property
    def as_of(self) -> dt.date:
        return dt.date.fromisoformat(self.synthetic_as_of) if self.synthetic_as_of else default_as_of()

    def source(self) -> OpenDentalSource:
        """The source object. Raises ValueError for an unknown ``kind``."""
        if self.kind == "synthetic":
            return SyntheticSource(self.synthetic_patients, self.synthetic_seed, self.as_of)
        if self.kind == "opendental":
            if not self.url:
                raise ValueError("DENTAL_SOURCE=opendental needs OPENDENTAL_URL (a mysql+pymysql:// URL)")
            return MariaDBSource(self.url)
        raise ValueError(f"unknown OpenDental source kind {self.kind!r} (known: synthetic, opendental)")


class JourneyKeysResource(dg.ConfigurableResource):
    """The secret key (``salt``, text) of the treatment-journey dataset's keyed hashes (HMAC-SHA256 of
    every raw key it would otherwise carry). From ``DENTAL_JOURNEY_SALT`` through ``dg.EnvVar``, so the
    value never enters run configuration or logs; None when unset (the synthetic source then uses a
    random key kept in ``$DENTAL_HOME``, any other source refuses to write the dataset)."""

    salt: str | None = None


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """The resources of the code location, configured from the environment."""
    warehouse_url = dg.EnvVar("DENTAL_WAREHOUSE_URL") if os.environ.get("DENTAL_WAREHOUSE_URL") else None
    return {
        "warehouse": WarehouseResource(url=warehouse_url, home=os.environ.get("DENTAL_HOME")),
        "opendental": OpenDentalSourceResource(
            kind=os.environ.get("DENTAL_SOURCE", "synthetic"),
            url=dg.EnvVar("OPENDENTAL_URL") if os.environ.get("OPENDENTAL_URL") else None,
            synthetic_patients=int(os.environ.get("DENTAL_SYNTHETIC_PATIENTS", "5000")),
            synthetic_seed=int(os.environ.get("DENTAL_SYNTHETIC_SEED", "42")),
            synthetic_as_of=os.environ.get("DENTAL_AS_OF") or None,
        ),
        "journey_keys": JourneyKeysResource(
            salt=dg.EnvVar("DENTAL_JOURNEY_SALT") if os.environ.get("DENTAL_JOURNEY_SALT") else None,
        ),
    }

"""Dagster resources shared by every domain: the warehouse and the OpenDental source.

Configuration comes from the environment (credentials only through ``dg.EnvVar``):

- ``DENTAL_WAREHOUSE_URL``: the warehouse, a ``postgresql+psycopg2://`` URL. Unset: the embedded
  PostgreSQL in ``$DENTAL_HOME/pgdata`` (see ``dental_assets.warehouse``).
- ``DENTAL_SOURCE``: ``synthetic`` (the default; the demo practice) or ``opendental`` (a real OpenDental
  database on MariaDB/MySQL at ``OPENDENTAL_URL``, a ``mysql+pymysql://user:pass@host:port/db`` URL
  read through ``dg.EnvVar``; a read-only database user is enough).
- ``DENTAL_SYNTHETIC_PATIENTS`` (default 5000), ``DENTAL_SYNTHETIC_SEED`` (default 42) and
  ``DENTAL_AS_OF`` (ISO date; default today in ``DENTAL_PRACTICE_TIMEZONE``, the machine's local zone
  when unset) configure the synthetic practice; the as-of date is also every dbt run's ``as_of_date``.

Every setting is checked by ``dental_assets.settings`` when the definitions load
(``build_resources``), so a bad one stops ``dagster job execute`` / ``dagster dev`` with one
``ConfigurationError`` naming the variable before any run starts; the resources check their own
values again when a run uses them.
- ``DENTAL_JOURNEY_SALT``: the secret key of the journey dataset's keyed hashes, read through
  ``dg.EnvVar`` (``JourneyKeysResource``; see ``dental_assets.defs.journey.assets``).
"""

import contextlib
import datetime as dt
import os
from collections.abc import Iterator, Mapping

import dagster as dg
from pydantic import PrivateAttr

from dental_assets import settings
from dental_assets.sources import MariaDBSource, OpenDentalSource, SyntheticSource
from dental_assets.warehouse import PgParams
from dental_assets.warehouse import resolve as resolve_warehouse


def masked_repr_args(args, secret: tuple[str, ...] = ("url",)) -> list:
    """A resource's ``(field, value)`` pairs for ``repr``/``str``, with the password of each URL field in
    ``secret`` masked (a ``dg.EnvVar`` reference shows as itself: the variable's name)."""
    return [(name, settings.mask_url(value) if name in secret and isinstance(value, str)
             and not isinstance(value, dg.EnvVar) else value) for name, value in args]


class WarehouseResource(dg.ConfigurableResource):
    """The PostgreSQL warehouse (schemas ``raw``, ``staging``, ``intermediate``, ``marts``).

    ``url`` is a ``postgresql+psycopg2://`` URL, or None for the embedded server under ``home``
    (default ``$DENTAL_HOME``, else ``./.dental``), which starts when a run first needs it. The last
    process using it stops it when it exits.
    """

    url: str | None = None
    home: str | None = None

    _params: PgParams | None = PrivateAttr(default=None)

    def __repr_args__(self):  # repr/str: the URL's password masked
        return masked_repr_args(super().__repr_args__())

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._params = self._resolve()

    def _resolve(self) -> PgParams:
        return resolve_warehouse(self.url, self.home)

    @property
    def params(self) -> PgParams:
        if self._params is None:
            self._params = self._resolve()
        return self._params

    def connect(self):
        """A new psycopg2 connection (the caller closes it)."""
        return self.params.connect()

    @contextlib.contextmanager
    def dbt_environment(self, env: dict[str, str] | None = None) -> Iterator[None]:
        """Export the connection for ``dental_dbt/profiles.yml`` while dbt runs, then restore. ``env``: the
        variables ``self.params.dbt_env()`` gave already (it asks the server for the role), else asked now."""
        with exported(env if env is not None else self.params.dbt_env()):
            yield


@contextlib.contextmanager
def exported(env: Mapping[str, str]) -> Iterator[None]:
    """Set ``env`` in ``os.environ`` (which dagster-dbt hands to dbt), then restore what was there."""
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
    """``DENTAL_AS_OF`` when set, else today at the practice: the date in ``DENTAL_PRACTICE_TIMEZONE``
    (default the machine's local zone), as OpenDental ages as of the workstation's local day
    (``settings.practice_today``). Raises ConfigurationError for a bad date or time zone."""
    return settings.as_of()


class OpenDentalSourceResource(dg.ConfigurableResource):
    """Where raw OpenDental rows come from. ``kind`` is ``synthetic``: the demo practice of
    ``dental_synthetic`` (``synthetic_patients`` patients, ``synthetic_seed``, as of
    ``synthetic_as_of``, an ISO date; None means ``DENTAL_AS_OF`` or today at the practice,
    ``default_as_of``); or ``opendental``: the
    MariaDB/MySQL database at ``url`` (``OPENDENTAL_URL``)."""

    kind: str = "synthetic"
    url: str | None = None
    synthetic_patients: int = 5000
    synthetic_seed: int = 42
    synthetic_as_of: str | None = None

    def __repr_args__(self):  # repr/str: the URL's password masked
        return masked_repr_args(super().__repr_args__())

    @property
    def as_of(self) -> dt.date:
        return settings.parse_as_of(self.synthetic_as_of) if self.synthetic_as_of else default_as_of()

    def source(self) -> OpenDentalSource:
        """The source object. Raises ConfigurationError (naming the variable) for an unknown ``kind``,
        a missing or bad URL, or bad synthetic settings."""
        env = {"DENTAL_SOURCE": self.kind, "OPENDENTAL_URL": self.url or ""}
        if settings.source_kind(env) == "opendental":
            return MariaDBSource(settings.opendental_url(env))
        patients = settings.parse_patients(str(self.synthetic_patients))
        seed = settings.parse_seed(str(self.synthetic_seed))
        return SyntheticSource(patients, seed, self.as_of)


class JourneyKeysResource(dg.ConfigurableResource):
    """The secret key (``salt``, text) of the treatment-journey dataset's keyed hashes (HMAC-SHA256 of
    every raw key it would otherwise carry). From ``DENTAL_JOURNEY_SALT`` through ``dg.EnvVar``, so the
    value never enters run configuration or logs; None when unset (the synthetic source then uses a
    random key kept in ``$DENTAL_HOME``, any other source refuses to write the dataset). ``repr``/``str``
    show ``***`` for a value, the variable's name for a ``dg.EnvVar`` reference."""

    salt: str | None = None

    def __repr_args__(self):  # repr/str never show the key: a run resolves the EnvVar to its value
        return [(name, "***" if name == "salt" and value and not isinstance(value, dg.EnvVar) else value)
                for name, value in super().__repr_args__()]


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """The resources of the code location, configured from the environment once every setting has
    been checked (``settings.load``). Raises ConfigurationError naming the first bad variable. The
    URLs stay ``dg.EnvVar`` references, so the UI shows the variable, never its value."""
    checked = settings.load()
    return {
        "warehouse": WarehouseResource(url=dg.EnvVar("DENTAL_WAREHOUSE_URL") if checked.warehouse_url else None,
                                       home=os.environ.get("DENTAL_HOME")),
        "opendental": OpenDentalSourceResource(
            kind=checked.source,
            url=dg.EnvVar("OPENDENTAL_URL") if checked.opendental_url else None,
            synthetic_patients=checked.synthetic_patients,
            synthetic_seed=checked.synthetic_seed,
            synthetic_as_of=checked.as_of.isoformat() if checked.as_of_given else None,
        ),
        "journey_keys": JourneyKeysResource(
            salt=dg.EnvVar("DENTAL_JOURNEY_SALT") if os.environ.get("DENTAL_JOURNEY_SALT") else None,
        ),
    }

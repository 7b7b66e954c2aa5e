"""Every setting of the project, validated in one place.

The environment variables below (and the command-line arguments that set them) are read through this
module only. ``load()`` checks every one before any run starts: the ``dental`` and
``dental-synthetic`` commands call it first, and the code location's resources
(``dental_assets.defs.resources.build_resources``) call it when Dagster loads the definitions, so
``dagster job execute`` checks the same. A bad value raises ``ConfigurationError(setting, problem,
example)``: one line naming the variable, what is wrong and a good value, never a password (URLs are
shown with the password masked, secrets not at all).

``SETTINGS`` lists every variable with its default and an example (docs/operations.md, "Settings").
This module imports no Dagster.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dental_assets.errors import ConfigurationError, check_single_at

MAX_PATIENTS = 5_000_000  # the generator's own bound (dental_synthetic.config.SyntheticConfig)
EARLIEST_YEAR = 1990  # the generator's earliest as-of year
DEFAULT_PATIENTS = 5000
DEFAULT_SEED = 42
DEFAULT_PARTITION_START = "2020-01"
DEFAULT_KEEP = 5
DEFAULT_CHECK_SAMPLE = 32
DEFAULT_EVENT_BATCH_SIZE = 256  # Dagster's DAGSTER_EVENT_BATCH_SIZE when unset (instance.enable_event_batches)
SOURCE_KINDS = ("synthetic", "opendental")

MYSQL_EXAMPLE = "mysql+pymysql://opendental_ro:PASSWORD@db-host:3306/opendental"
WAREHOUSE_EXAMPLE = "postgresql+psycopg2://dental:PASSWORD@127.0.0.1:5432/dental"
DAGSTER_PG_EXAMPLE = "postgresql+psycopg2://dagster:PASSWORD@127.0.0.1:5432/dagster"
TARGET_URL_EXAMPLE = "postgresql+psycopg2://user:PASSWORD@host:5432/db"  # a generator/validator target
TARGET_FOLDER_EXAMPLE = "./practice_parquet"
TARGET_FORMS = ("postgresql+psycopg2://user:PASSWORD@host:5432/db, mysql+pymysql://user:PASSWORD@host:3306/db "
                "or a folder for Parquet")
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
# a URL gone wrong rather than a folder: a scheme of two letters or more and a colon (postgres:/..., not
# C:/...), or user:password@host
_URL_LIKE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+:|[^/]*@)")


def _looks_like_url(text: str) -> bool:
    """A URL (``scheme://``), or one gone wrong (``postgres:/...``, ``user:password@host``), not a folder."""
    return bool(_URL_SCHEME.match(text.strip()) or _URL_LIKE.match(text.strip()))


@dataclass(frozen=True)
class Setting:
    """One environment variable: its ``name``, ``default`` (as a person reads it), an ``example`` and
    what it ``means``. ``secret``: never shown."""

    name: str
    default: str
    example: str
    means: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("DENTAL_SOURCE", "synthetic", "opendental",
            "what fills raw: the synthetic practice or the OpenDental database at OPENDENTAL_URL"),
    Setting("OPENDENTAL_URL", "unset (required when DENTAL_SOURCE=opendental)", MYSQL_EXAMPLE,
            "the practice's OpenDental database on MariaDB/MySQL; a read-only user is enough", secret=True),
    Setting("DENTAL_WAREHOUSE_URL", "unset: the embedded PostgreSQL in $DENTAL_HOME/pgdata", WAREHOUSE_EXAMPLE,
            "the PostgreSQL warehouse", secret=True),
    Setting("DAGSTER_POSTGRES_URL", "unset: SQLite files in $DENTAL_HOME/dagster_home", DAGSTER_PG_EXAMPLE,
            "Dagster's instance storage (dagster.yaml)", secret=True),
    Setting("DENTAL_SYNTHETIC_PATIENTS", str(DEFAULT_PATIENTS), "300",
            f"patients of the synthetic practice, 1 to {MAX_PATIENTS:,} (dental demo --patients)"),
    Setting("DENTAL_SYNTHETIC_SEED", str(DEFAULT_SEED), "7",
            "the synthetic practice's random seed, 0 or more (dental demo --seed)"),
    Setting("DENTAL_AS_OF", "today in DENTAL_PRACTICE_TIMEZONE", "2025-06-30",
            "the as-of date of the dbt runs (aging) and the synthetic practice's last day, YYYY-MM-DD, not "
            "after today (dental demo --as-of)"),
    Setting("DENTAL_PRACTICE_TIMEZONE", "the machine's local time zone", "America/Los_Angeles",
            "the practice's IANA time zone: its date is the default as-of date, as OpenDental ages as of the "
            "workstation's local day (Ledgers.GetAgingGuarTransQuery: DateTime.Today)"),
    Setting("DENTAL_HOME", "./.dental", "/srv/dental",
            "state folder: embedded PostgreSQL, Dagster instance, demo summary, alerts"),
    Setting("DENTAL_DATA_DIR", "./data", "/srv/dental/data", "the journey dataset and the trained models"),
    Setting("DENTAL_EXTRA_TABLES", "none", "perioexam:ExamDate,labcase",
            "more OpenDental tables for raw, `table` or `table:BusinessDateColumn`, comma-separated"),
    Setting("DENTAL_PARTITION_START", DEFAULT_PARTITION_START, "2018-01", "the first monthly partition, YYYY-MM"),
    Setting("DENTAL_JOURNEY_KEEP", str(DEFAULT_KEEP), "10", "journey Parquet files kept per year, 1 or more"),
    Setting("DENTAL_MODEL_KEEP", str(DEFAULT_KEEP), "10", "trained model versions kept per model, 1 or more"),
    Setting("DENTAL_RUN_FOLDERS_KEEP", str(DEFAULT_KEEP), "10",
            "finished dbt run folders kept under the dbt target folder ($DBT_TARGET_PATH), 1 or more"),
    Setting("DENTAL_JOURNEY_SALT", "synthetic source: a random key kept in $DENTAL_HOME/journey_salt (mode 0600)",
            "the output of `openssl rand -hex 32`",
            "secret key (16 characters or more) of the journey dataset's keyed hashes; required with DENTAL_SOURCE=opendental",
            secret=True),
    Setting("DENTAL_SYNC_LOOKBACK_SECONDS", "3600", "7200",
            "seconds before the last watermark that an incremental sync reads again (late commits; "
            "docs/replication.md)"),
    Setting("DENTAL_SYNC_CHECK_SAMPLE", str(DEFAULT_CHECK_SAMPLE), "1",
            "the blocking check after a sync hashes the rows it re-read and 1 row in this many of the rest; "
            "1 = every row of the window every time (docs/replication.md)"),
    Setting("DAGSTER_EVENT_BATCH_SIZE", f"{DEFAULT_EVENT_BATCH_SIZE} (set by the code location when unset)", "0",
            "Dagster stores a step's materializations in batches of this many; 0 = one by one "
            "(docs/operations.md)"),
    Setting("DENTAL_ROLE_PREFIX", "dental", "clinic_a",
            "prefix of the warehouse roles `dental warehouse grant` maintains (docs/security.md)"),
    Setting("DENTAL_ALERT_WEBHOOK_URL", "unset: alerts go to the log and $DENTAL_HOME/alerts.jsonl",
            "https://hooks.example.com/services/T000/B000/XXXX", "where failure alerts are posted", secret=True),
)


# variables of the project's own tools that are not settings: dbt's connection (``PgParams.dbt_env``), dbt's
# run settings (``run_settings_env``), the test servers' and the benchmark's
NOT_SETTINGS_PREFIXES = ("DENTAL_PG_", "DENTAL_DBT_", "DENTAL_TEST_", "DENTAL_BENCH_")
MISSPELLING_CUTOFF = 0.8  # difflib's similarity ratio from which a name is taken for a misspelled setting


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def check_names(env: Mapping[str, str] | None = None) -> None:
    """Raise ConfigurationError for a variable of ``env`` named almost like a setting but not one
    (a misspelled ``DENTAL_WAREHOUSE_URL``, U-L-R): the setting meant is then unset, and its default
    taken silently (for the warehouse, the embedded PostgreSQL, with the practice's data copied there).
    Names beginning with ``NOT_SETTINGS_PREFIXES``, and names like no setting, are left alone."""
    known = [s.name for s in SETTINGS]
    for name in sorted(_env(env)):
        if (name in known or not name.startswith(("DENTAL_", "OPENDENTAL_"))
                or name.startswith(NOT_SETTINGS_PREFIXES)):
            continue
        meant = difflib.get_close_matches(name, known, n=1, cutoff=MISSPELLING_CUTOFF)
        if meant:
            raise ConfigurationError(name, f"is not a setting: did you mean {meant[0]}? (docs/operations.md, "
                                     "\"Settings\")")


def _get(env: Mapping[str, str] | None, name: str) -> str | None:
    """The variable's value, or None when it is unset or blank."""
    value = _env(env).get(name)
    return value.strip() if value and value.strip() else None


def _example(name: str) -> str:
    return next(s.example for s in SETTINGS if s.name == name)


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages); ``<unparsable URL>`` when it
    cannot be parsed, since then the password cannot be told apart."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        check_single_at(url, "url")
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # (ConfigurationError is a ValueError)
        return "<unparsable URL>"


# ------------------------------------------------------------------------------- values of one kind

def parse_int(text: str, setting: str, low: int, high: int | None = None, example: str | None = None) -> int:
    """``text`` as a whole number in ``[low, high]`` (no upper bound when ``high`` is None)."""
    bounds = f"between {low:,} and {high:,}" if high is not None else f"{low:,} or more"
    try:
        value = int(text.strip().replace("_", ""))
    except (ValueError, AttributeError):
        raise ConfigurationError(setting, f"must be a whole number {bounds}, got {text!r}", example) from None
    if value < low or (high is not None and value > high):
        raise ConfigurationError(setting, f"must be {bounds}, got {value:,}", example)
    return value


def parse_patients(text: str, setting: str = "DENTAL_SYNTHETIC_PATIENTS") -> int:
    return parse_int(text, setting, 1, MAX_PATIENTS, str(DEFAULT_PATIENTS))


def parse_seed(text: str, setting: str = "DENTAL_SYNTHETIC_SEED") -> int:
    return parse_int(text, setting, 0, None, str(DEFAULT_SEED))


def parse_as_of(text: str, setting: str = "DENTAL_AS_OF", today: dt.date | None = None) -> dt.date:
    """An ISO date from ``EARLIEST_YEAR`` to ``today`` (default: today in the practice's time zone,
    ``practice_today``)."""
    try:
        day = dt.date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise ConfigurationError(setting, f"must be a date YYYY-MM-DD, got {text!r}", "2025-06-30") from None
    today = today or practice_today()
    if day.year < EARLIEST_YEAR or day > today:
        raise ConfigurationError(setting, f"must be from {EARLIEST_YEAR}-01-01 to today ({today}), got {day}",
                                 "2025-06-30")
    return day


def parse_month(text: str, setting: str = "DENTAL_PARTITION_START") -> str:
    """A month ``YYYY-MM`` from ``EARLIEST_YEAR`` on."""
    try:
        month = dt.datetime.strptime(text.strip(), "%Y-%m").date()
    except (ValueError, AttributeError):
        raise ConfigurationError(setting, f"must be a month YYYY-MM, got {text!r}", "2018-01") from None
    if month.year < EARLIEST_YEAR or month > dt.date.today():
        raise ConfigurationError(setting, f"must be a month from {EARLIEST_YEAR}-01 to this month, got {text!r}",
                                 "2018-01")
    return month.strftime("%Y-%m")


def parse_folder(text: str, setting: str, example: str | None = None) -> Path:
    """A folder that exists or can be created: not a file, and writable (or under a writable folder), and not
    a URL (``postgresql+psycopg2://...``, ``user:pw@host``: a setting given the wrong value would otherwise
    become a folder named after it, password included).
    ``example``: a good value for the error's text (default: the setting's own, ``SETTINGS``)."""
    example = example or _example(setting)
    if _looks_like_url(text):  # (not quoted: it may hold a password)
        raise ConfigurationError(setting, "looks like a URL (scheme: or user@host), not a folder; write ./name for "
                                 "a folder of that name", example)
    path = Path(text).expanduser().resolve()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigurationError(setting, f"{existing} is a file, not a folder", example)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigurationError(setting, f"{existing} is not writable by this user", example)
    return path


def warehouse_params(url: str, setting: str = "DENTAL_WAREHOUSE_URL", example: str = WAREHOUSE_EXAMPLE):
    """``PgParams`` of a ``postgresql+psycopg2://`` URL. Raises ConfigurationError for anything else."""
    from dental_assets.warehouse import PgParams

    return PgParams.from_url(url, setting=setting, example=example)


def source_params(url: str, setting: str = "OPENDENTAL_URL"):
    """``MySqlParams`` of a ``mysql+pymysql://`` URL. Raises ConfigurationError for anything else."""
    from dental_assets.replication.mysql import MySqlParams

    return MySqlParams.from_url(url, setting=setting)


def parse_target(text: str, setting: str = "--target", parquet: bool = True):
    """A generator/validator target: ``PgParams``, ``MySqlParams`` or (``parquet``) a folder ``Path``.
    A URL with an unknown or missing driver is an error (never taken as a folder name)."""
    scheme = _URL_SCHEME.match(text.strip())
    if scheme:
        name = scheme.group(1).lower()
        if name.startswith("postgresql+"):
            return warehouse_params(text, setting, TARGET_URL_EXAMPLE)
        if name.startswith(("mysql+", "mariadb+")):
            return source_params(text, setting)
        forms = TARGET_FORMS if parquet else TARGET_FORMS.replace(" or a folder for Parquet", "")
        raise ConfigurationError(setting, f"a {name}:// URL is not accepted; use {forms}",
                                 TARGET_URL_EXAMPLE)
    if not parquet:
        raise ConfigurationError(setting, "must be a database URL", TARGET_URL_EXAMPLE)
    if not text.strip():
        raise ConfigurationError(setting, f"is empty; use {TARGET_FORMS}", TARGET_FOLDER_EXAMPLE)
    if _looks_like_url(text):  # (not quoted: it may hold a password)
        raise ConfigurationError(setting, f"looks like a database URL but is not one (scheme://...); use "
                                 f"{TARGET_FORMS}", TARGET_URL_EXAMPLE)
    return parse_folder(text, setting, TARGET_FOLDER_EXAMPLE)


# ------------------------------------------------------------------------------- the variables

def source_kind(env: Mapping[str, str] | None = None) -> str:
    kind = _get(env, "DENTAL_SOURCE") or "synthetic"
    if kind not in SOURCE_KINDS:
        raise ConfigurationError("DENTAL_SOURCE", f"must be synthetic or opendental, got {kind!r}", "opendental")
    return kind


def opendental_url(env: Mapping[str, str] | None = None) -> str | None:
    """``OPENDENTAL_URL`` checked (required when ``DENTAL_SOURCE=opendental``), or None."""
    url = _get(env, "OPENDENTAL_URL")
    if url is None and source_kind(env) == "opendental":
        raise ConfigurationError("OPENDENTAL_URL", "is not set; DENTAL_SOURCE=opendental reads the practice's "
                                 "database from it", MYSQL_EXAMPLE)
    if url is not None:
        source_params(url)
    return url


def warehouse_url(env: Mapping[str, str] | None = None) -> str | None:
    """``DENTAL_WAREHOUSE_URL`` checked, or None (the embedded warehouse)."""
    url = _get(env, "DENTAL_WAREHOUSE_URL")
    if url is not None:
        warehouse_params(url)
    return url


def dagster_postgres_url(env: Mapping[str, str] | None = None) -> str | None:
    """``DAGSTER_POSTGRES_URL`` checked, or None (SQLite instance storage)."""
    url = _get(env, "DAGSTER_POSTGRES_URL")
    if url is not None:
        warehouse_params(url, "DAGSTER_POSTGRES_URL", DAGSTER_PG_EXAMPLE)
    return url


def synthetic_patients(env: Mapping[str, str] | None = None) -> int:
    return parse_patients(_get(env, "DENTAL_SYNTHETIC_PATIENTS") or str(DEFAULT_PATIENTS))


def synthetic_seed(env: Mapping[str, str] | None = None) -> int:
    return parse_seed(_get(env, "DENTAL_SYNTHETIC_SEED") or str(DEFAULT_SEED))


def partition_start(env: Mapping[str, str] | None = None) -> str:
    """``DENTAL_PARTITION_START``, the first monthly partition ``YYYY-MM``."""
    return parse_month(_get(env, "DENTAL_PARTITION_START") or DEFAULT_PARTITION_START)


def parse_timezone(text: str, setting: str = "DENTAL_PRACTICE_TIMEZONE") -> zoneinfo.ZoneInfo:
    """An IANA time zone name (``America/Los_Angeles``, ``Europe/Paris``, ``UTC``) as a ``ZoneInfo``."""
    name = text.strip()
    try:
        return zoneinfo.ZoneInfo(name)
    # unknown; not a key (an absolute path, "../x"); not a zone file (zone.tab) or a folder (America)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigurationError(setting, f"must be an IANA time zone name, got {name!r}",
                                 _example(setting)) from None


def practice_timezone(env: Mapping[str, str] | None = None) -> zoneinfo.ZoneInfo | None:
    """``DENTAL_PRACTICE_TIMEZONE`` checked, or None: the machine's local time zone (``TZ``, else the
    system's)."""
    text = _get(env, "DENTAL_PRACTICE_TIMEZONE")
    return parse_timezone(text) if text is not None else None


def date_in_zone(now: dt.datetime, zone: dt.tzinfo | None) -> dt.date:
    """The calendar date at the aware moment ``now`` in ``zone`` (None: the machine's local zone)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(zone).date()


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def practice_today(env: Mapping[str, str] | None = None, now: dt.datetime | None = None) -> dt.date:
    """Today at the practice: the date in ``DENTAL_PRACTICE_TIMEZONE`` (default the machine's local zone)
    at ``now`` (default the current moment). OpenDental ages as of the workstation's local day
    (OpenDentBusiness/Db Multi Table/Ledgers.cs, ``GetAgingGuarTransQuery``: ``asOfDate=DateTime.Today``;
    ``ComputeAging(0, DateTime.Today)``), so a rebuild at 18:00 in California, when the UTC date is
    already the next day, must still age as of the California date."""
    return date_in_zone(now or _utc_now(), practice_timezone(env))


def as_of(env: Mapping[str, str] | None = None) -> dt.date:
    """``DENTAL_AS_OF``, else today at the practice (``practice_today``); not before the year of
    ``DENTAL_PARTITION_START``."""
    text = _get(env, "DENTAL_AS_OF")
    today = practice_today(env)
    if text is None:
        return today
    day = parse_as_of(text, today=today)
    start = partition_start(env)
    if day.year < int(start[:4]):
        raise ConfigurationError("DENTAL_AS_OF", f"{day} is before the year of DENTAL_PARTITION_START ({start})",
                                 f"{start[:4]}-12-31")
    return day


def dental_home(env: Mapping[str, str] | None = None) -> Path:
    """``DENTAL_HOME`` (default ``./.dental``), checked to be a usable folder (not created here)."""
    return parse_folder(_get(env, "DENTAL_HOME") or ".dental", "DENTAL_HOME")


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """``DENTAL_DATA_DIR`` (default ``./data``), checked to be a usable folder."""
    return parse_folder(_get(env, "DENTAL_DATA_DIR") or "data", "DENTAL_DATA_DIR")


def keep(name: str, env: Mapping[str, str] | None = None) -> int:
    """``DENTAL_JOURNEY_KEEP`` / ``DENTAL_MODEL_KEEP`` / ``DENTAL_RUN_FOLDERS_KEEP``: versions kept, 1 or
    more (default 5)."""
    return parse_int(_get(env, name) or str(DEFAULT_KEEP), name, 1, None, "10")


def sync_lookback_seconds(env: Mapping[str, str] | None = None) -> int:
    """``DENTAL_SYNC_LOOKBACK_SECONDS``: seconds, 0 or more (default 3600)."""
    return parse_int(_get(env, "DENTAL_SYNC_LOOKBACK_SECONDS") or "3600", "DENTAL_SYNC_LOOKBACK_SECONDS", 0, None,
                     _example("DENTAL_SYNC_LOOKBACK_SECONDS"))


def sync_check_sample(env: Mapping[str, str] | None = None) -> int:
    """``DENTAL_SYNC_CHECK_SAMPLE``: 1 row in N, N from 1 (every row) to 1,000,000 (default 32)."""
    return parse_int(_get(env, "DENTAL_SYNC_CHECK_SAMPLE") or str(DEFAULT_CHECK_SAMPLE), "DENTAL_SYNC_CHECK_SAMPLE",
                     1, 1_000_000, _example("DENTAL_SYNC_CHECK_SAMPLE"))


def event_batch_size(env: Mapping[str, str] | None = None) -> int:
    """``DAGSTER_EVENT_BATCH_SIZE``: events per batch, 0 (one by one) to 100,000 (the code location sets
    256 when it is unset: ``dental_assets.instance.enable_event_batches``). Dagster reads it itself;
    a value it cannot parse would fail every step, so it is checked here with the others."""
    return parse_int(_get(env, "DAGSTER_EVENT_BATCH_SIZE") or str(DEFAULT_EVENT_BATCH_SIZE), "DAGSTER_EVENT_BATCH_SIZE",
                     0, 100_000,
                     _example("DAGSTER_EVENT_BATCH_SIZE"))


def role_prefix(env: Mapping[str, str] | None = None) -> str:
    """``DENTAL_ROLE_PREFIX`` (default ``dental``): lower-case letters, digits and _, starting with a
    letter, at most 40 characters (role names are ``<prefix>_loader`` ...)."""
    import re

    prefix = _get(env, "DENTAL_ROLE_PREFIX") or "dental"
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", prefix):
        raise ConfigurationError("DENTAL_ROLE_PREFIX", "must be lower-case letters, digits and _, starting with a "
                                 "letter, at most 40 characters", _example("DENTAL_ROLE_PREFIX"))
    return prefix


def extra_tables(env: Mapping[str, str] | None = None) -> tuple[tuple[str, str | None], ...]:
    """``DENTAL_EXTRA_TABLES`` as ``(table, business-date column or None)`` pairs, each an OpenDental
    24.3 table (lower case) and, when given, one of its date or datetime columns."""
    from dental_assets.catalog import opendental_schema

    text = _get(env, "DENTAL_EXTRA_TABLES")
    if text is None:
        return ()
    schema = opendental_schema()
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, column = (part.strip() for part in item.partition(":"))
        name = name.lower()
        if name not in schema:
            raise ConfigurationError("DENTAL_EXTRA_TABLES", f"{name!r} is not an OpenDental 24.3 table",
                                     _example("DENTAL_EXTRA_TABLES"))
        if column:
            kinds = {c.name: c.kind for c in schema[name].columns}
            if kinds.get(column) not in ("date", "datetime", "timestamp"):
                raise ConfigurationError("DENTAL_EXTRA_TABLES", f"{name} has no date column {column!r}",
                                         _example("DENTAL_EXTRA_TABLES"))
        pairs.append((name, column or None))
    return tuple(pairs)


JOURNEY_SALT_MIN_CHARS = 16


def journey_salt(env: Mapping[str, str] | None = None, required: bool = False) -> str | None:
    """``DENTAL_JOURNEY_SALT`` (at least ``JOURNEY_SALT_MIN_CHARS`` characters); ``required`` (a real
    source): an error when unset."""
    salt = _get(env, "DENTAL_JOURNEY_SALT")
    if salt is None and required:
        raise ConfigurationError("DENTAL_JOURNEY_SALT", "is not set; the journey dataset of a real practice "
                                 "needs a secret key", _example("DENTAL_JOURNEY_SALT"))
    if salt is not None and len(salt) < JOURNEY_SALT_MIN_CHARS:
        raise ConfigurationError("DENTAL_JOURNEY_SALT", f"is shorter than {JOURNEY_SALT_MIN_CHARS} characters",
                                 _example("DENTAL_JOURNEY_SALT"))
    return salt


def alert_webhook_url(env: Mapping[str, str] | None = None) -> str | None:
    """``DENTAL_ALERT_WEBHOOK_URL``, an http(s) URL with a host, or None."""
    from urllib.parse import urlsplit

    url = _get(env, "DENTAL_ALERT_WEBHOOK_URL")
    if url is not None:
        try:
            parts = urlsplit(url)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 (raises ValueError for a port that is not a number from 0 to 65535)
        except ValueError:  # (an unbalanced IPv6 bracket, a bad port)
            usable = False
        if not usable:
            raise ConfigurationError("DENTAL_ALERT_WEBHOOK_URL", "must be an http:// or https:// URL with a "
                                     "host and a valid port, if any", _example("DENTAL_ALERT_WEBHOOK_URL"))
    return url


# ------------------------------------------------------------------------------- all at once

@dataclass(frozen=True)
class Settings:
    """The checked settings. URLs are kept as given (for ``dg.EnvVar``) and never shown by ``repr``."""

    source: str
    opendental_url: str | None = field(repr=False)
    warehouse_url: str | None = field(repr=False)
    dagster_postgres_url: str | None = field(repr=False)
    synthetic_patients: int
    synthetic_seed: int
    as_of: dt.date
    as_of_given: bool
    practice_timezone: zoneinfo.ZoneInfo | None
    partition_start: str
    home: Path
    data_dir: Path
    extra_tables: tuple[tuple[str, str | None], ...]
    journey_keep: int
    model_keep: int
    run_folders_keep: int


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Check every setting of ``env`` (default ``os.environ``). Raises ConfigurationError for the first
    bad one."""
    check_names(env)
    alert_webhook_url(env)
    journey_salt(env)
    sync_lookback_seconds(env)
    sync_check_sample(env)
    event_batch_size(env)
    role_prefix(env)
    return Settings(
        source=source_kind(env),
        opendental_url=opendental_url(env),
        warehouse_url=warehouse_url(env),
        dagster_postgres_url=dagster_postgres_url(env),
        synthetic_patients=synthetic_patients(env),
        synthetic_seed=synthetic_seed(env),
        as_of=as_of(env),
        as_of_given=_get(env, "DENTAL_AS_OF") is not None,
        practice_timezone=practice_timezone(env),
        partition_start=partition_start(env),
        home=dental_home(env),
        data_dir=data_dir(env),
        extra_tables=extra_tables(env),
        journey_keep=keep("DENTAL_JOURNEY_KEEP", env),
        model_keep=keep("DENTAL_MODEL_KEEP", env),
        run_folders_keep=keep("DENTAL_RUN_FOLDERS_KEEP", env),
    )


def check_connections(loaded: Settings) -> None:
    """Reach the servers ``loaded`` names (the OpenDental source when it is the source, the warehouse
    when it is a URL) once, so a wrong host, port or password, or a source database without the raw
    tables, is reported before any run starts; also that the source's bulk reader (the ``mariadb`` or
    ``mysql`` client) is installed. Raises ConfigurationError naming the variable, host and port."""
    if loaded.source == "opendental" and loaded.opendental_url:
        from dental_assets.replication.mysql import client_binary

        try:
            client_binary()
        except RuntimeError as exc:
            raise ConfigurationError("OPENDENTAL_URL", f"cannot be read: {exc}") from None
        check_source_tables(source_params(loaded.opendental_url), {name for name, _ in loaded.extra_tables})
    if loaded.warehouse_url:
        warehouse_params(loaded.warehouse_url).connect().close()


def check_source_tables(params, extra: set[str]) -> None:
    """Every raw table (``tables.yml`` and ``extra``, the ``DENTAL_EXTRA_TABLES``) exists in the source
    database with its primary key column, and the user may read it (``mysql.absent_table_text`` tells
    a table the user may not read from one that does not exist). Other missing columns are schema
    drift, loaded as NULL and named at each sync (``replication.extract.effective_columns``). Raises
    ConfigurationError naming ``DENTAL_EXTRA_TABLES`` for an extra table, else the source's setting."""
    from dental_assets.catalog import raw_tables
    from dental_assets.replication.mysql import absent_table_text, connect

    conn = connect(params)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT LOWER(TABLE_NAME), LOWER(COLUMN_NAME) FROM information_schema.COLUMNS "
                        "WHERE TABLE_SCHEMA = DATABASE()")
            present = set(cur.fetchall())
            tables = {table for table, _ in present}
            for table in raw_tables():
                setting = "DENTAL_EXTRA_TABLES" if table.name in extra else params.setting
                if table.name.lower() not in tables:
                    raise ConfigurationError(setting, absent_table_text(params, cur, table.name))
                if (table.name.lower(), table.primary_key.lower()) not in present:
                    raise ConfigurationError(setting, f"{params.describe()}: table {table.name} has no primary "
                                             f"key column {table.primary_key}")
    finally:
        conn.close()

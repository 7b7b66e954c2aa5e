"""Every setting is checked in one place (``dental_assets.settings``): a bad value is one line naming the
setting, what is wrong and a good value, without a secret; the commands print it and exit 2.

The first half checks the validators on plain dictionaries; the second runs the real commands
(``dental``, ``python -m dental_synthetic``, ``dagster job execute``) as subprocesses, against the real
test MariaDB and PostgreSQL where a server is involved."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from dental_assets import settings
from dental_assets.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "s3cret-Pw-7731"  # planted in every URL below: it must never be printed


def _error(env: dict[str, str]) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        settings.load(env)
    return info.value


def _one_line(error: ConfigurationError, setting: str, example: bool = True) -> str:
    """The error's text, checked: one line, naming ``setting``, with an example (unless ``example`` is
    False: a refused login has none), without the planted password."""
    text = str(error)
    assert "\n" not in text
    assert error.setting == setting and text.startswith(f"{setting}: ")
    assert not example or (error.example and "(example: " in text)
    assert SECRET not in text
    return text


# ------------------------------------------------------------------------------------ the validators

def test_defaults_are_valid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loaded = settings.load({})
    assert loaded.source == "synthetic" and loaded.opendental_url is None and loaded.warehouse_url is None
    assert (loaded.synthetic_patients, loaded.synthetic_seed) == (5000, 42)
    assert loaded.as_of == settings.practice_today({}) and not loaded.as_of_given
    assert loaded.practice_timezone is None  # the machine's local zone
    assert loaded.partition_start == "2020-01" and loaded.extra_tables == ()
    assert loaded.home == tmp_path / ".dental" and loaded.data_dir == tmp_path / "data"
    assert (loaded.journey_keep, loaded.model_keep, loaded.run_folders_keep) == (5, 5, 5)


def test_good_values_are_read(tmp_path):
    env = {
        "DENTAL_SOURCE": "opendental", "OPENDENTAL_URL": f"mysql+pymysql://ro:{SECRET}@db:3307/od",
        "DENTAL_WAREHOUSE_URL": f"postgresql+psycopg2://u:{SECRET}@pg:5433/dw",
        "DAGSTER_POSTGRES_URL": f"postgresql+psycopg2://u:{SECRET}@pg/dagster",
        "DENTAL_SYNTHETIC_PATIENTS": "300", "DENTAL_SYNTHETIC_SEED": "0", "DENTAL_AS_OF": "2025-06-30",
        "DENTAL_PARTITION_START": "2019-03", "DENTAL_HOME": str(tmp_path / "h"), "DENTAL_DATA_DIR": str(tmp_path),
        "DENTAL_EXTRA_TABLES": "perioexam:ExamDate, LabCase", "DENTAL_JOURNEY_KEEP": "1", "DENTAL_MODEL_KEEP": "9",
        "DENTAL_RUN_FOLDERS_KEEP": "2",
        "DENTAL_ALERT_WEBHOOK_URL": "https://hooks.example.com/x", "DENTAL_JOURNEY_SALT": SECRET * 2,
    }
    loaded = settings.load(env)
    assert loaded.source == "opendental" and loaded.as_of == dt.date(2025, 6, 30) and loaded.as_of_given
    assert (loaded.synthetic_patients, loaded.synthetic_seed, loaded.partition_start) == (300, 0, "2019-03")
    assert loaded.extra_tables == (("perioexam", "ExamDate"), ("labcase", None))
    assert (loaded.journey_keep, loaded.model_keep, loaded.run_folders_keep) == (1, 9, 2)
    assert SECRET not in repr(loaded) and SECRET not in str(loaded)


BAD_VALUES = [
    ("DENTAL_SOURCE", {"DENTAL_SOURCE": "mysql"}, "must be synthetic or opendental"),
    ("OPENDENTAL_URL", {"DENTAL_SOURCE": "opendental"}, "is not set"),
    ("OPENDENTAL_URL", {"OPENDENTAL_URL": "notaurl"}, "is not a database URL"),
    ("OPENDENTAL_URL", {"OPENDENTAL_URL": f"postgresql+psycopg2://u:{SECRET}@h/db"}, "mysql:// or mariadb://"),
    ("OPENDENTAL_URL", {"OPENDENTAL_URL": f"mysql+pymysql://u:{SECRET}@h:3306"}, "names no database"),
    ("OPENDENTAL_URL", {"OPENDENTAL_URL": f"mysql+pymysql://u:{SECRET}@h:port/db"}, "not a"),
    ("DENTAL_WAREHOUSE_URL", {"DENTAL_WAREHOUSE_URL": f"mysql+pymysql://u:{SECRET}@h/db"}, "PostgreSQL URL"),
    ("DENTAL_WAREHOUSE_URL", {"DENTAL_WAREHOUSE_URL": f"postgresql://u:{SECRET}@h/db"}, "got a postgresql:// URL"),
    ("DENTAL_WAREHOUSE_URL", {"DENTAL_WAREHOUSE_URL": f"{SECRET}"}, "is not a database URL"),
    ("DAGSTER_POSTGRES_URL", {"DAGSTER_POSTGRES_URL": f"sqlite:///{SECRET}.db"}, "PostgreSQL URL"),
    ("DAGSTER_POSTGRES_URL", {"DAGSTER_POSTGRES_URL": f"postgres://u:{SECRET}@h/db"}, "got a postgres:// URL"),
    ("DENTAL_SYNTHETIC_PATIENTS", {"DENTAL_SYNTHETIC_PATIENTS": "-5"}, "between 1 and 5,000,000"),
    ("DENTAL_SYNTHETIC_PATIENTS", {"DENTAL_SYNTHETIC_PATIENTS": "5000000.5"}, "whole number"),
    ("DENTAL_SYNTHETIC_PATIENTS", {"DENTAL_SYNTHETIC_PATIENTS": "5000001"}, "between 1 and 5,000,000"),
    ("DENTAL_SYNTHETIC_SEED", {"DENTAL_SYNTHETIC_SEED": "-1"}, "0 or more"),
    ("DENTAL_SYNTHETIC_SEED", {"DENTAL_SYNTHETIC_SEED": "abc"}, "whole number"),
    ("DENTAL_AS_OF", {"DENTAL_AS_OF": "notadate"}, "YYYY-MM-DD"),
    ("DENTAL_AS_OF", {"DENTAL_AS_OF": "2999-01-01"}, "to today"),
    ("DENTAL_AS_OF", {"DENTAL_AS_OF": "2019-06-30"}, "before the year of DENTAL_PARTITION_START"),
    ("DENTAL_PARTITION_START", {"DENTAL_PARTITION_START": "2020"}, "YYYY-MM"),
    ("DENTAL_PARTITION_START", {"DENTAL_PARTITION_START": "1900-01"}, "from 1990-01"),
    ("DENTAL_EXTRA_TABLES", {"DENTAL_EXTRA_TABLES": "perioexam,nosuchtable"}, "'nosuchtable' is not an OpenDental"),
    ("DENTAL_EXTRA_TABLES", {"DENTAL_EXTRA_TABLES": "perioexam:Note"}, "no date column 'Note'"),
    ("DENTAL_JOURNEY_KEEP", {"DENTAL_JOURNEY_KEEP": "0"}, "1 or more"),
    ("DENTAL_MODEL_KEEP", {"DENTAL_MODEL_KEEP": "many"}, "whole number"),
    ("DENTAL_RUN_FOLDERS_KEEP", {"DENTAL_RUN_FOLDERS_KEEP": "0"}, "1 or more"),
    ("DENTAL_ALERT_WEBHOOK_URL", {"DENTAL_ALERT_WEBHOOK_URL": f"ftp://x/{SECRET}"}, "http:// or https://"),
    ("DENTAL_ALERT_WEBHOOK_URL", {"DENTAL_ALERT_WEBHOOK_URL": f"https://[::1/{SECRET}"}, "http:// or https://"),
    ("DENTAL_ALERT_WEBHOOK_URL", {"DENTAL_ALERT_WEBHOOK_URL": f"https://u:{SECRET}@h:port/x"}, "a valid port"),
    # an '@' of the password not written %40: parsers take the rest of the password for the host
    ("OPENDENTAL_URL", {"OPENDENTAL_URL": f"mysql+pymysql://u:a@{SECRET}@h/db"}, "more than one '@'"),
    ("DENTAL_WAREHOUSE_URL", {"DENTAL_WAREHOUSE_URL": f"postgresql+psycopg2://u:a@{SECRET}@h/db"},
     "more than one '@'"),
    ("DENTAL_SYNC_CHECK_SAMPLE", {"DENTAL_SYNC_CHECK_SAMPLE": "0"}, "between 1 and 1,000,000"),
    ("DENTAL_SYNC_CHECK_SAMPLE", {"DENTAL_SYNC_CHECK_SAMPLE": "1/32"}, "whole number"),
    ("DAGSTER_EVENT_BATCH_SIZE", {"DAGSTER_EVENT_BATCH_SIZE": "many"}, "whole number"),
    ("DAGSTER_EVENT_BATCH_SIZE", {"DAGSTER_EVENT_BATCH_SIZE": "-1"}, "between 0 and 100,000"),
    ("DENTAL_PRACTICE_TIMEZONE", {"DENTAL_PRACTICE_TIMEZONE": "Pacific"}, "must be an IANA time zone name"),
    ("DENTAL_PRACTICE_TIMEZONE", {"DENTAL_PRACTICE_TIMEZONE": "America"}, "must be an IANA time zone name"),
    ("DENTAL_PRACTICE_TIMEZONE", {"DENTAL_PRACTICE_TIMEZONE": "/etc/passwd"}, "must be an IANA time zone name"),
    ("DENTAL_PRACTICE_TIMEZONE", {"DENTAL_PRACTICE_TIMEZONE": "UTC-8"}, "must be an IANA time zone name"),
]


@pytest.mark.parametrize("setting, env, problem", BAD_VALUES, ids=[f"{s}-{i}" for i, (s, _, _) in enumerate(BAD_VALUES)])
def test_a_bad_value_names_its_setting(setting, env, problem):
    text = _one_line(_error(env), setting)
    assert problem in text, text


def test_the_bounds_a_setting_names_are_accepted(tmp_path):
    """"1 to 5,000,000", "between 0 and 100,000"...: both ends are good values (the values one past them
    are in BAD_VALUES)."""
    env = {"DENTAL_HOME": str(tmp_path), "DENTAL_DATA_DIR": str(tmp_path), "DENTAL_SYNTHETIC_PATIENTS": "5000000",
           "DENTAL_SYNC_CHECK_SAMPLE": "1000000", "DAGSTER_EVENT_BATCH_SIZE": "100000", "DENTAL_JOURNEY_KEEP": "1"}
    assert settings.load(env).synthetic_patients == 5_000_000
    assert (settings.sync_check_sample(env), settings.event_batch_size(env)) == (1_000_000, 100_000)
    assert settings.parse_patients("1", "--patients") == 1
    assert settings.event_batch_size({"DAGSTER_EVENT_BATCH_SIZE": "0"}) == 0
    assert "between 0 and 100,000" in _one_line(_raises(lambda: settings.event_batch_size(
        {"DAGSTER_EVENT_BATCH_SIZE": "100001"})), "DAGSTER_EVENT_BATCH_SIZE")


# 2026-07-01 01:30 UTC is still June 30 in California (18:30 PDT) and already July 1 in Tokyo and London
BOUNDARY = dt.datetime(2026, 7, 1, 1, 30, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("zone, day", [
    ("America/Los_Angeles", dt.date(2026, 6, 30)), ("America/New_York", dt.date(2026, 6, 30)),
    ("UTC", dt.date(2026, 7, 1)), ("Europe/London", dt.date(2026, 7, 1)), ("Asia/Tokyo", dt.date(2026, 7, 1)),
])
def test_the_practice_date_is_the_date_in_its_time_zone(zone, day):
    """OpenDental ages as of the workstation's local day (Ledgers.GetAgingGuarTransQuery:
    asOfDate=DateTime.Today), so the default as-of date is the date in the practice's zone, not UTC's."""
    assert settings.practice_today({"DENTAL_PRACTICE_TIMEZONE": zone}, now=BOUNDARY) == day
    # the day boundary itself: the last second of June 30 and the first of July 1 in California
    pacific = {"DENTAL_PRACTICE_TIMEZONE": "America/Los_Angeles"}
    assert settings.practice_today(pacific, now=dt.datetime(2026, 7, 1, 6, 59, 59, tzinfo=dt.timezone.utc)) \
        == dt.date(2026, 6, 30)
    assert settings.practice_today(pacific, now=dt.datetime(2026, 7, 1, 7, 0, 0, tzinfo=dt.timezone.utc)) \
        == dt.date(2026, 7, 1)


def test_without_a_zone_the_practice_date_is_the_machines_local_date(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        assert settings.practice_today({}, now=BOUNDARY) == dt.date(2026, 6, 30)
        monkeypatch.setenv("TZ", "Asia/Tokyo")
        time.tzset()
        assert settings.practice_today({}, now=BOUNDARY) == dt.date(2026, 7, 1)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_every_dbt_run_ages_as_of_the_practice_date(monkeypatch):
    """The as-of date the dbt runs get (``OpenDentalSourceResource.as_of``, passed as ``as_of_date``)
    and the one ``load`` checks follow ``DENTAL_PRACTICE_TIMEZONE``; ``DENTAL_AS_OF`` may not be after the
    practice's today."""
    from dental_assets.defs.resources import OpenDentalSourceResource

    monkeypatch.setattr(settings, "_utc_now", lambda: BOUNDARY)
    monkeypatch.delenv("DENTAL_AS_OF", raising=False)
    monkeypatch.setenv("DENTAL_PRACTICE_TIMEZONE", "America/Los_Angeles")
    assert OpenDentalSourceResource(kind="opendental").as_of == dt.date(2026, 6, 30)
    assert settings.load().as_of == dt.date(2026, 6, 30)
    assert "to today (2026-06-30)" in _one_line(_error({"DENTAL_PRACTICE_TIMEZONE": "America/Los_Angeles",
                                                        "DENTAL_AS_OF": "2026-07-01"}), "DENTAL_AS_OF")
    monkeypatch.setenv("DENTAL_PRACTICE_TIMEZONE", "Asia/Tokyo")
    assert OpenDentalSourceResource(kind="opendental").as_of == dt.date(2026, 7, 1)


def test_folders_must_be_usable(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    for name in ("DENTAL_HOME", "DENTAL_DATA_DIR"):
        assert "is a file, not a folder" in _one_line(_error({name: str(a_file / "below")}), name)
        for url in (f"postgresql+psycopg2://u:{SECRET}@h/db", f"u:{SECRET}@h/db", "s3:/bucket"):
            assert "looks like a URL" in _one_line(_error({name: url}), name)  # and no secret: _one_line
    assert settings.parse_folder(str(tmp_path / "C:" / "x"), "DENTAL_HOME") == tmp_path / "C:" / "x"
    # a folder no user may create entries in, root included (CI runs as root, who may write to a 0500 folder)
    assert "not writable" in _one_line(_error({"DENTAL_DATA_DIR": "/proc/self/data"}), "DENTAL_DATA_DIR")


def test_journey_salt_is_required_for_a_real_source():
    assert settings.journey_salt({}) is None
    assert "is not set" in _one_line(_raises(lambda: settings.journey_salt({}, required=True)),
                                     "DENTAL_JOURNEY_SALT")
    assert settings.journey_salt({"DENTAL_JOURNEY_SALT": SECRET * 2}, required=True) == SECRET * 2
    assert "shorter than" in _one_line(_raises(lambda: settings.journey_salt({"DENTAL_JOURNEY_SALT": "short"})),
                                       "DENTAL_JOURNEY_SALT")
    # "16 characters or more" (SETTINGS): 16 is enough, 15 is not
    assert settings.journey_salt({"DENTAL_JOURNEY_SALT": "k" * 16}, required=True) == "k" * 16
    assert "shorter than 16" in _one_line(_raises(lambda: settings.journey_salt({"DENTAL_JOURNEY_SALT": "k" * 15})),
                                          "DENTAL_JOURNEY_SALT")


def _raises(action) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        action()
    return info.value


def test_targets_of_the_generator(tmp_path):
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.warehouse import PgParams

    assert isinstance(settings.parse_target(f"postgresql+psycopg2://u:{SECRET}@h/db"), PgParams)
    assert isinstance(settings.parse_target(f"mariadb+pymysql://u:{SECRET}@h/db"), MySqlParams)
    assert settings.parse_target(str(tmp_path / "out")) == tmp_path / "out"
    for url in (f"postgres://user:{SECRET}@host/db", f"postgresql://user:{SECRET}@host/db",
                f"mysql://user:{SECRET}@host/db", f"sqlite:///{SECRET}"):
        text = _one_line(_raises(lambda url=url: settings.parse_target(url)), "--target")
        assert "postgresql+psycopg2://" in text and "mysql+pymysql://" in text and "folder for Parquet" in text
    assert "database URL" in _one_line(_raises(lambda: settings.parse_target("out", parquet=False)), "--target")
    # not folders: a URL gone wrong (it may hold a password), nothing at all
    for text, problem in ((f"postgres:/user:{SECRET}@host/db", "looks like a database URL"),
                          (f"user:{SECRET}@host:5432/db", "looks like a database URL"),
                          (f"postgresql+psycopg2://u:a@{SECRET}@h/db", "more than one '@'"),
                          ("", "is empty"), ("  ", "is empty")):
        assert problem in _one_line(_raises(lambda text=text: settings.parse_target(text)), "--target"), text
    assert not list(tmp_path.iterdir())  # nothing was created
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert "is a file" in _one_line(_raises(lambda: settings.parse_target(str(a_file))), "--target")
    assert settings.mask_url(f"postgresql+psycopg2://u:a@{SECRET}@h/db") == "<unparsable URL>"


def test_every_variable_the_code_reads_is_a_setting():
    names = {s.name for s in settings.SETTINGS}
    read = set()
    for folder in ("dental_assets", "dental_synthetic"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            read |= set(re.findall(r"[\"'](DENTAL_[A-Z_]+)[\"']", path.read_text()))
    # set by the code for dbt, never by a person: PgParams.dbt_env (DENTAL_PG_*) and the dbt assets' run
    # settings (the prefix DENTAL_DBT_ of run_settings_env)
    # (and the prefixes settings.check_names leaves alone, written as such)
    profile_only = {n for n in read if n.startswith("DENTAL_PG_") or n == "DENTAL_DBT_"
                    or n in settings.NOT_SETTINGS_PREFIXES}
    assert read - profile_only <= names, sorted(read - profile_only - names)
    assert {"OPENDENTAL_URL", "DAGSTER_POSTGRES_URL"} <= names


def test_a_name_almost_a_setting_is_refused_and_the_tools_own_names_are_not():
    """A misspelled setting leaves the one meant unset, its default taken silently: a warehouse URL
    misspelled copied the practice into the embedded PostgreSQL. Every name the code, the scripts and
    the tests use passes (not the docs: docs/operations.md shows misspelled names as examples); a name
    like no setting passes too."""
    used = set()
    for folder in ("dental_assets", "dental_synthetic", "scripts", "bench", "tests"):
        for path in (REPO_ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".sh", ".md") and path.is_file() and path != Path(__file__).resolve():
                used |= set(re.findall(r"\b(?:OPEN)?DENTAL_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    assert "DENTAL_TEST_MARIADB_BUFFER_POOL" in used and "DENTAL_DBT_AS_OF_DATE" in used
    settings.check_names(dict.fromkeys(used, "x"))
    settings.check_names({"DENTAL_SCREENSHOTS_DIR": "x", "DENTAL_SOMETHING_ELSE": "x"})
    for typo, meant in (("DENTAL_WAREHOUSE_ULR", "DENTAL_WAREHOUSE_URL"), ("OPENDENTAL_ULR", "OPENDENTAL_URL"),
                        ("DENTAL_SORCE", "DENTAL_SOURCE"), ("DENTAL_AS_OF_DATE", "DENTAL_AS_OF"),
                        ("DENTAL_SYNC_LOOKBACK", "DENTAL_SYNC_LOOKBACK_SECONDS")):
        error = _raises(lambda: settings.load({typo: "x"}))
        assert str(error).startswith(f"{typo}: is not a setting: did you mean {meant}?"), error


def test_operations_doc_lists_every_setting():
    text = (REPO_ROOT / "docs" / "operations.md").read_text()
    section = text[text.index("## Settings"):]
    for setting in settings.SETTINGS:
        assert f"`{setting.name}`" in section, setting.name


def test_resources_check_their_values():
    from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource

    assert "DENTAL_SOURCE" in str(_raises(lambda: OpenDentalSourceResource(kind="other").source()))
    assert "OPENDENTAL_URL" in str(_raises(lambda: OpenDentalSourceResource(kind="opendental").source()))
    assert "DENTAL_AS_OF" in str(_raises(lambda: OpenDentalSourceResource(synthetic_as_of="30/06/2025").as_of))
    bad = WarehouseResource(url=f"mysql+pymysql://u:{SECRET}@h/db")
    assert "DENTAL_WAREHOUSE_URL" in _one_line(_raises(lambda: bad.params), "DENTAL_WAREHOUSE_URL")


def test_build_resources_checks_every_setting(monkeypatch):
    from dental_assets.defs.resources import build_resources

    monkeypatch.setenv("DENTAL_SYNTHETIC_PATIENTS", "-5")
    _one_line(_raises(build_resources), "DENTAL_SYNTHETIC_PATIENTS")


# ------------------------------------------------------------------ connection failures, real servers

def _mysql_url(server_url: str, **parts) -> str:
    return make_url(server_url).set(**parts).render_as_string(hide_password=False)


def test_source_connections_share_one_tls_context(mariadb_url):
    """PyMySQL's preferred-TLS context is built once per process, not per connection (loading the CA
    certificates cost 12.6 s of a 50,000-patient first sync's ~150 connections)."""
    from dental_assets.replication.mysql import MySqlParams, connect

    params = MySqlParams.from_url(mariadb_url)
    first, second = connect(params), connect(params)
    try:
        assert first.ctx is not None and first.ctx is second.ctx
    finally:
        first.close()
        second.close()


def test_refused_login_and_wrong_port_are_configuration_errors(mariadb_url, pg_server_url, monkeypatch):
    from dental_assets.replication import mysql

    monkeypatch.setattr(mysql, "_reached", set())
    good = make_url(mariadb_url)
    wrong = settings.source_params(_mysql_url(mariadb_url, password=SECRET))
    pg = make_url(pg_server_url)
    not_mysql = settings.source_params(_mysql_url(mariadb_url, host=pg.host, port=pg.port, password=SECRET))
    nothing = settings.source_params(_mysql_url(mariadb_url, port=1, password=SECRET))
    for params, expected in ((wrong, f"{good.host}:{good.port} refused user '{good.username}'"),
                             (not_mysql, f"{pg.host}:{pg.port} does not answer as a MySQL"),
                             (nothing, f"cannot connect to {good.host}:1")):
        began = time.monotonic()
        error = _raises(lambda params=params: mysql.connect(params))
        assert expected in _one_line(error, "OPENDENTAL_URL", example=False)
        error = mysql.client_error(mysql.start_client(params, "SELECT 1;"))  # the bulk client: the same
        assert isinstance(error, ConfigurationError)
        assert expected in _one_line(error, "OPENDENTAL_URL", example=False)
        assert time.monotonic() - began < 2 * mysql.HANDSHAKE_TIMEOUT_S + 1
        # a script longer than the pipe's buffer: the client exits unread (no BrokenPipeError, the same error)
        error = mysql.client_error(mysql.start_client(params, "SELECT 1;\n" * 100_000))
        assert isinstance(error, ConfigurationError) and expected in str(error), error
    # a server reached before that cannot be reached now: a lost connection, retried by with_retries
    monkeypatch.setattr(mysql, "_reached", {("127.0.0.1", 1)})
    with pytest.raises(mysql.SourceConnectionLost):
        mysql.connect(mysql.MySqlParams("127.0.0.1", 1, "nobody", SECRET, "nowhere"))


def _refused_pg_url(pg_url: str) -> str:
    """``pg_url`` with a login the server refuses (the test server trusts loopback, so: an unknown role)."""
    return make_url(pg_url).set(username="no_such_role", password=SECRET).render_as_string(hide_password=False)


def test_warehouse_connection_failure_names_host_and_user(pg_url):
    params = settings.warehouse_params(_refused_pg_url(pg_url))
    text = _one_line(_raises(params.connect), "DENTAL_WAREHOUSE_URL", example=False)
    assert f"{params.host}:{params.port} as user '{params.user}'" in text


def test_warehouse_that_never_answers_fails_in_seconds_and_a_short_password_garbles_nothing():
    """A peer that accepts the TCP connection and says nothing (a firewall's tarpit, a hung server): one
    line naming host and port once libpq's ``connect_timeout`` (``CONNECT_TIMEOUT_S``, under the issue's
    10 s) expires. A one-letter password is masked where it stands as a word, not inside the server's
    words ("timeout expired")."""
    from dental_assets import warehouse

    assert warehouse.CONNECT_TIMEOUT_S < 10
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        params = settings.warehouse_params(f"postgresql+psycopg2://u:p@127.0.0.1:{port}/db")
        text = _one_line(_raises(params.connect), "DENTAL_WAREHOUSE_URL", example=False)
    assert f"127.0.0.1:{port} as user 'u'" in text and "timeout expired" in text, text


# --------------------------------------------------------------------------------- the commands

def _run(argv: list[str], tmp_path: Path, env: dict[str, str] | None = None,
         timeout: float = 60) -> subprocess.CompletedProcess:
    base = {key: value for key, value in os.environ.items()
            if not key.startswith(("DENTAL_", "OPENDENTAL_", "DAGSTER_"))}
    base.update({"DENTAL_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "dagster_home"),
                 "DENTAL_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO_ROOT),
                 "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    return subprocess.run([sys.executable, *argv], env={**base, **(env or {})}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=timeout)


def _assert_one_line(result: subprocess.CompletedProcess, prefix: str, *expected: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prefix}: "), output
    assert "Traceback" not in output and SECRET not in output
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


DENTAL = ["-m", "dental_assets.cli"]

COMMAND_CASES = [
    (["demo"], {"DENTAL_SYNTHETIC_PATIENTS": "-5"}, "DENTAL_SYNTHETIC_PATIENTS: must be between 1 and 5,000,000"),
    (["demo"], {"DENTAL_AS_OF": "notadate"}, "DENTAL_AS_OF: must be a date YYYY-MM-DD"),
    (["demo"], {"DENTAL_SOURCE": "opendental"}, "OPENDENTAL_URL: is not set"),
    (["sync"], {"OPENDENTAL_URL": "notaurl"}, "OPENDENTAL_URL: is not a database URL"),
    (["sync"], {"OPENDENTAL_URL": f"mysql+pymysql://u:{SECRET}@127.0.0.1/od",
                "DENTAL_WAREHOUSE_URL": f"mysql+pymysql://u:{SECRET}@127.0.0.1/dw"}, "DENTAL_WAREHOUSE_URL: must be a PostgreSQL"),
    (["demo"], {"DENTAL_WAREHOUSE_URL": f"mysql+pymysql://u:{SECRET}@127.0.0.1:3306/dw"},
     "DENTAL_WAREHOUSE_URL: must be a PostgreSQL URL naming the psycopg2 driver"),
    (["ui"], {"DAGSTER_POSTGRES_URL": f"mysql+pymysql://u:{SECRET}@127.0.0.1/dagster"}, "DAGSTER_POSTGRES_URL: must be a PostgreSQL"),
    (["warehouse", "url"], {"DENTAL_WAREHOUSE_URL": f"postgres://u:{SECRET}@h/dw"}, "DENTAL_WAREHOUSE_URL: must be a PostgreSQL URL naming the psycopg2 driver"),
    (["demo"], {"DENTAL_EXTRA_TABLES": "nosuchtable"}, "DENTAL_EXTRA_TABLES: 'nosuchtable'"),
    (["demo"], {"DENTAL_PARTITION_START": "June"}, "DENTAL_PARTITION_START: must be a month"),
    (["demo"], {"DENTAL_JOURNEY_KEEP": "0"}, "DENTAL_JOURNEY_KEEP: must be 1 or more"),
    (["demo"], {"DENTAL_PRACTICE_TIMEZONE": "Mars/Olympus"},
     "DENTAL_PRACTICE_TIMEZONE: must be an IANA time zone name, got 'Mars/Olympus'"),
    (["demo", "--patients", "-5"], {}, "--patients: must be between 1 and 5,000,000"),
    (["demo", "--seed", "x"], {}, "--seed: must be a whole number"),
    (["demo", "--as-of", "2025-13-01"], {}, "--as-of: must be a date YYYY-MM-DD"),
    (["ui", "--port", "0"], {}, "--port: must be between 1 and 65535, got 0"),
    (["ui", "--port", "65536"], {}, "--port: must be between 1 and 65535, got 65536"),
    (["sync"], {"DENTAL_SOURCE": "synthetic", "OPENDENTAL_URL": f"mysql+pymysql://u:{SECRET}@h/od"},
     "DENTAL_SOURCE: must be opendental for dental sync"),
]


@pytest.mark.parametrize("argv, env, expected", COMMAND_CASES,
                         ids=[" ".join(a) + f"-{i}" for i, (a, _, _) in enumerate(COMMAND_CASES)])
def test_dental_reports_a_bad_setting_in_one_line(argv, env, expected, tmp_path):
    _assert_one_line(_run(DENTAL + argv, tmp_path, env), "dental", expected, "(example: ")
    assert not (tmp_path / "dagster_home").exists()  # nothing started


def test_dental_sync_with_a_wrong_mariadb_password(mariadb_url, tmp_path):
    url = _mysql_url(mariadb_url, password=SECRET)
    parsed = make_url(mariadb_url)
    result = _run(DENTAL + ["sync"], tmp_path, {"OPENDENTAL_URL": url})
    _assert_one_line(result, "dental", "OPENDENTAL_URL:", f"{parsed.host}:{parsed.port}", f"'{parsed.username}'",
                     "refused user")  # and not the (planted) password: _assert_one_line


def test_dental_sync_against_a_server_that_is_not_mysql(mariadb_url, pg_server_url, tmp_path):
    pg = make_url(pg_server_url)
    url = _mysql_url(mariadb_url, host=pg.host, port=pg.port, password=SECRET)
    began = time.monotonic()
    result = _run(DENTAL + ["sync"], tmp_path, {"OPENDENTAL_URL": url}, timeout=30)
    assert time.monotonic() - began < 10
    _assert_one_line(result, "dental", "OPENDENTAL_URL:", f"{pg.host}:{pg.port}", "does not answer as a MySQL")


def test_dental_sync_from_a_database_without_the_opendental_tables(mariadb_url, tmp_path):
    parsed = make_url(mariadb_url)
    with _mariadb(mariadb_url) as cur:
        cur.execute("CREATE TABLE patient (Name varchar(10))")  # no PatNum
    result = _run(DENTAL + ["sync"], tmp_path, {"OPENDENTAL_URL": mariadb_url})
    _assert_one_line(result, "dental", f"OPENDENTAL_URL: MariaDB {parsed.host}:{parsed.port}/{parsed.database}: "
                     "table patient has no primary key column PatNum")
    with _mariadb(mariadb_url) as cur:
        cur.execute("DROP TABLE patient")
    result = _run(DENTAL + ["sync"], tmp_path, {"OPENDENTAL_URL": mariadb_url})
    _assert_one_line(result, "dental", "OPENDENTAL_URL:", "has no table patient")


def test_dental_sync_with_a_misspelled_warehouse_url_starts_nothing(mariadb_url, pg_url, tmp_path):
    result = _run(DENTAL + ["sync"], tmp_path, {"OPENDENTAL_URL": _mysql_url(mariadb_url, password=SECRET),
                                                "DENTAL_WAREHOUSE_ULR": _refused_pg_url(pg_url)})
    _assert_one_line(result, "dental", "DENTAL_WAREHOUSE_ULR: is not a setting: did you mean DENTAL_WAREHOUSE_URL?")
    assert not (tmp_path / "home" / "pgdata").exists()  # no embedded warehouse started, nothing copied


def test_dental_sync_without_the_mariadb_client_says_so_before_reading(tmp_path):
    """The bulk reader is the ``mariadb`` (or ``mysql``) client: without it, one line before any plan or
    run (the URL names no reachable server: nothing is connected to)."""
    bare = tmp_path / "bin"
    bare.mkdir()
    result = _run(DENTAL + ["sync"], tmp_path, {"OPENDENTAL_URL": f"mysql+pymysql://u:{SECRET}@127.0.0.1:9/od",
                                                "PATH": str(bare)})
    _assert_one_line(result, "dental", "OPENDENTAL_URL: cannot be read: the mariadb command-line client is "
                     "required for bulk reads (apt-get install mariadb-client)")


def test_dental_interrupted_says_what_is_kept_in_one_line(monkeypatch, tmp_path, capsys):
    from dental_assets import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setenv("DENTAL_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(cli, "cmd_demo", interrupted)
    assert cli.main(["demo", "--patients", "300"]) == 130
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["dental demo: interrupted; what was being written was rolled back, what was committed is "
                     "kept: run the command again to finish"], lines


@contextlib.contextmanager
def _mariadb(url: str):
    from dental_assets.replication.mysql import connect

    conn = connect(settings.source_params(url), read_only=False)
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def test_dental_demo_with_an_unreachable_warehouse(pg_url, tmp_path):
    result = _run(DENTAL + ["demo", "--patients", "300"], tmp_path, {"DENTAL_WAREHOUSE_URL": _refused_pg_url(pg_url)})
    _assert_one_line(result, "dental", "DENTAL_WAREHOUSE_URL: cannot connect to PostgreSQL")


def test_dental_help_lists_the_demo_options(tmp_path):
    top = _run(DENTAL + ["--help"], tmp_path)
    assert top.returncode == 0 and "``" not in top.stdout
    demo = _run(DENTAL + ["demo", "--help"], tmp_path)
    assert demo.returncode == 0
    for option in ("--patients N", "--seed N", "--as-of YYYY-MM-DD"):
        assert option in demo.stdout
    ui = _run(DENTAL + ["ui", "--help"], tmp_path)
    assert "address to listen on" in ui.stdout and "port to listen on" in ui.stdout


def test_dental_warehouse_url_masks_the_password(tmp_path):
    result = _run(DENTAL + ["warehouse", "url"], tmp_path,
                  {"DENTAL_WAREHOUSE_URL": f"postgresql+psycopg2://u:{SECRET}@h:5432/dw"})
    assert result.returncode == 0 and result.stdout.strip() == "postgresql+psycopg2://u:***@h:5432/dw"


SYNTHETIC = ["-m", "dental_synthetic"]


def test_generate_refuses_a_url_without_driver_and_creates_nothing(tmp_path):
    result = _run(SYNTHETIC + ["generate", "--patients", "50", "--as-of", "2025-06-30",
                               "--target", f"postgres://user:{SECRET}@host/db"], tmp_path)
    _assert_one_line(result, "dental-synthetic", "--target: a postgres:// URL is not accepted",
                     "postgresql+psycopg2://", "mysql+pymysql://", "folder for Parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, expected", [
    (["generate", "--patients", "-5", "--as-of", "2025-06-30", "--target", "out"], "--patients: must be between"),
    (["generate", "--seed", "-1", "--as-of", "2025-06-30", "--target", "out"], "--seed: must be 0 or more"),
    (["generate", "--as-of", "2025-06-30", "--target", f"mysql+pymysql://u:{SECRET}@h"], "--target: names no database"),
    (["validate", "--target", "out"], "--target: must be a database URL"),
    (["generate", "--as-of", "2999-01-01", "--target", "out"], "--as-of: must be from 1990-01-01 to today"),
    (["validate", "--target", f"postgresql://u:{SECRET}@h/db"], "--target: a postgresql:// URL is not accepted"),
])
def test_dental_synthetic_reports_a_bad_argument_in_one_line(argv, expected, tmp_path):
    _assert_one_line(_run(SYNTHETIC + argv, tmp_path), "dental-synthetic", expected)
    assert not (tmp_path / "out").exists()


def test_generate_writes_parquet_to_a_folder_whose_name_looks_like_a_uri_scheme(tmp_path):
    """``C:/x`` on Linux is the folder ``x`` inside ``C:``; Arrow, given the path as a string, would parse
    it as a URI with the scheme ``c`` and fail with a traceback after creating the folder."""
    result = _run(SYNTHETIC + ["generate", "--patients", "20", "--as-of", "2025-06-30", "--target", "C:/x"],
                  tmp_path)
    assert result.returncode == 0, result.stderr[-500:]
    assert (tmp_path / "C:" / "x" / "patient.parquet").is_file()
    assert (tmp_path / "C:" / "x" / "_ledger" / "daily.parquet").is_file()


def test_dagster_job_execute_names_the_variable(tmp_path):
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-m", "dental_assets.definitions", "-j", "demo_job"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("DENTAL_")},
             "DAGSTER_HOME": str(tmp_path / "dagster_home"), "DENTAL_HOME": str(tmp_path / "home"),
             "PYTHONPATH": str(REPO_ROOT), "DENTAL_AS_OF": "notadate"},
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    assert "DENTAL_AS_OF: must be a date YYYY-MM-DD, got 'notadate'" in result.stdout + result.stderr
    assert not (tmp_path / "home" / "pgdata").exists()  # failed before any run touched the warehouse

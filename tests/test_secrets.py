"""Passwords never show: every connection parameter object formatted every way (repr, str, f-string,
describe, the errors raised from it; the journey dataset's key too), and the MariaDB client gets its password from a private option
file (mode 0600, deleted once the client has started), never from argv or its environment."""

from __future__ import annotations

import logging
import os
import stat
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url

from dental_assets.errors import ConfigurationError
from dental_assets.replication import mysql
from dental_assets.replication.mysql import MySqlParams, client_command, client_option_file, start_client
from dental_assets.warehouse import PgParams

SECRET = 'Pw"with\\odd chars-9921'  # quotes and a backslash: the option file must escape them


def _formatted(obj) -> list[str]:
    texts = [repr(obj), str(obj), f"{obj}", f"{obj!r}", "%s %r" % (obj, obj), str([obj]), str({"p": obj})]
    if hasattr(obj, "describe"):
        texts.append(obj.describe())
    return texts


def _logged(obj, caplog) -> str:
    with caplog.at_level(logging.INFO, logger="test_secrets"):
        logging.getLogger("test_secrets").info("params %s %r", obj, obj)
    return caplog.text


def _secret_objects():
    from dental_assets import settings
    from dental_assets.defs.automation.alerts import AlertWebhookResource
    from dental_assets.defs.resources import JourneyKeysResource, OpenDentalSourceResource, WarehouseResource
    from dental_assets.sources import MariaDBSource

    mysql_url = f"mysql+pymysql://ro:{quote(SECRET, safe='')}@db.example:3306/opendental"
    pg_url = f"postgresql+psycopg2://dw:{quote(SECRET, safe='')}@pg.example:5432/dental"
    assert MySqlParams.from_url(mysql_url).password == SECRET and PgParams.from_url(pg_url).password == SECRET
    return [
        PgParams("pg.example", 5432, "dw", SECRET, "dental"),
        PgParams.from_url(pg_url),
        settings.warehouse_params(pg_url, "DAGSTER_POSTGRES_URL"),
        MySqlParams("db.example", 3306, "ro", SECRET, "opendental"),
        MySqlParams.from_url(mysql_url),
        settings.parse_target(mysql_url),
        MariaDBSource(mysql_url),
        WarehouseResource(url=pg_url),
        OpenDentalSourceResource(kind="opendental", url=mysql_url),
        AlertWebhookResource(webhook_url=f"https://hooks.example/{SECRET}"),
        JourneyKeysResource(salt=SECRET),
        settings.load({"DENTAL_SOURCE": "opendental", "OPENDENTAL_URL": mysql_url, "DENTAL_WAREHOUSE_URL": pg_url,
                       "DAGSTER_POSTGRES_URL": pg_url, "DENTAL_JOURNEY_SALT": SECRET * 2}),
    ]


def test_no_parameter_object_shows_its_password(caplog):
    objects = _secret_objects()
    for obj in objects:
        for text in [*_formatted(obj), _logged(obj, caplog)]:
            assert SECRET not in text, (type(obj).__name__, text)
            assert "Pw" not in text, (type(obj).__name__, text)  # not even a part of it
    assert "db.example:3306/opendental" in objects[3].describe()  # where, still: host, port, database


def test_the_journey_salt_never_shows(monkeypatch, caplog):
    """The journey dataset's key (``DENTAL_JOURNEY_SALT``, ``JourneyKeysResource.salt``) as the code
    location configures it (a ``dg.EnvVar``: shown as the variable's name) and as a run resolves it (the
    value itself, which repr/str used to print), and from a plain value."""
    import dagster as dg

    from dental_assets.defs.resources import JourneyKeysResource, build_resources

    monkeypatch.setenv("DENTAL_JOURNEY_SALT", SECRET)
    configured = build_resources()["journey_keys"]
    assert isinstance(configured.salt, dg.EnvVar)
    with dg.build_resources({"journey_keys": configured}) as resolved, \
            dg.build_resources({"journey_keys": JourneyKeysResource(salt=SECRET)}) as plain:
        objects = [configured, resolved.journey_keys, plain.journey_keys, JourneyKeysResource(salt=SECRET)]
        assert resolved.journey_keys.salt == SECRET and plain.journey_keys.salt == SECRET  # the key is there
        for obj in objects:
            for text in [*_formatted(obj), _logged(obj, caplog)]:
                assert "Pw" not in text, (type(obj).__name__, text)
    assert "DENTAL_JOURNEY_SALT" in repr(configured)  # which variable, still
    assert "salt='***'" in repr(objects[1]) and "salt=None" in repr(JourneyKeysResource())


def test_errors_raised_from_parameter_objects_hold_no_password(pg_url, mariadb_url, pg_server_url):
    from dental_assets import settings

    # a login each server refuses (the test PostgreSQL trusts loopback: an unknown role there)
    pg = PgParams.from_url(make_url(pg_url).set(username="no_such_role").render_as_string(hide_password=False))
    pg = PgParams(pg.host, pg.port, pg.user, SECRET, pg.dbname)
    maria = MySqlParams.from_url(mariadb_url)
    wrong = MySqlParams(maria.host, maria.port, maria.user, SECRET, maria.database)
    pg_port = make_url(pg_server_url).port
    errors = []
    for action in (pg.connect, lambda: mysql.connect(wrong),
                   lambda: mysql.connect(MySqlParams(maria.host, pg_port, "ro", SECRET, "od")),
                   lambda: settings.source_params(f"postgresql+psycopg2://u:{quote(SECRET, safe='')}@h/db"),
                   lambda: settings.warehouse_params(f"mysql+pymysql://u:{quote(SECRET, safe='')}@h/db"),
                   lambda: settings.parse_target(f"postgres://u:{quote(SECRET, safe='')}@h/db"),
                   lambda: settings.parse_target(f"mysql+pymysql://u:{SECRET}@h:notaport/db")):
        with pytest.raises(ConfigurationError) as info:
            action()
        errors.append(info.value)
    client = mysql.client_error(start_client(wrong, "SELECT 1;"))
    assert isinstance(client, ConfigurationError)
    errors.append(client)
    for error in errors:
        text = f"{error} {error!r} {error.args} {error.__cause__!r} {error.__context__!r}"
        assert "Pw" not in text and "\n" not in str(error), text


def test_client_option_file_is_private_and_removed():
    params = MySqlParams("db.example", 3306, "ro", SECRET, "opendental")
    with client_option_file(params) as path:
        mode = os.stat(path).st_mode
        assert stat.S_IMODE(mode) == 0o600 and os.stat(path).st_uid == os.getuid()
        with open(path) as file:
            assert file.read() == '[client]\npassword="Pw\\"with\\\\odd chars-9921"\n'
    assert not os.path.exists(path)


def test_client_command_has_no_password(monkeypatch):
    monkeypatch.setenv("MYSQL_PWD", "inherited-value")  # one from the caller's shell is dropped too
    argv, env = client_command(MySqlParams("db.example", 3306, "ro", SECRET, "opendental"), True, "/dev/fd/9")
    assert argv[1] == "--defaults-file=/dev/fd/9"  # the first option: no other option file is read
    assert not any("Pw" in arg for arg in argv) and "--no-defaults" not in argv
    assert "MYSQL_PWD" not in env and not any("Pw" in value for value in env.values())


def _exec_done_cmdline(pid: int, seconds: float = 10.0) -> list[bytes]:
    """The process's command line once it has executed its program: read right after the start, /proc
    may show it empty (the exec in progress, seen in CI) or still Python's (forked, not yet executed), and
    its environment then is not yet the program's."""
    import sys
    import time

    deadline = time.monotonic() + seconds
    while True:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        if (cmdline[0] and os.path.realpath(cmdline[0]) != os.path.realpath(sys.executable)) \
                or time.monotonic() > deadline:
            return cmdline
        time.sleep(0.01)


def test_the_client_logs_in_with_the_option_file_alone(mariadb_url, tmp_path, monkeypatch):
    """Against the real MariaDB: the client reads the password from its private option file (named on
    its command line, not in its environment). The file stays until the client has exited: the client
    resolves its real path before reading it, so a file deleted right after the start made clients fail
    under load ("Could not open required defaults file"). Then it is gone, on success and on a kill."""
    monkeypatch.setattr(mysql.tempfile, "tempdir", str(tmp_path))  # mkstemp's folder, to watch it
    params = MySqlParams.from_url(mariadb_url)
    proc = start_client(params, "SELECT SLEEP(1); SELECT CURRENT_USER();")
    (path,) = list(tmp_path.iterdir())  # still there while the client runs
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid == os.getuid()
    cmdline = _exec_done_cmdline(proc.pid)
    assert "MYSQL_PWD" not in (open(f"/proc/{proc.pid}/environ", "rb").read().decode(errors="replace"))
    assert cmdline[1] == f"--defaults-file={path}".encode()
    out = proc.stdout.read().decode()
    assert mysql.client_error(proc) is None
    assert f"{params.user}@" in out
    assert list(tmp_path.iterdir()) == []  # removed once the client exited
    proc = start_client(params, "SELECT SLEEP(30);")
    assert len(list(tmp_path.iterdir())) == 1
    mysql.stop_client(proc)  # a client killed early (a failed COPY, a cancelled run)
    assert proc.returncode is not None and list(tmp_path.iterdir()) == []

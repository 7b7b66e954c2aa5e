"""The raw change sensor and the backstop when the OpenDental source cannot be used, and while the
sensor's own runs are not finished.

The source is a port nothing listens on (connection refused, MySQL error 2003), then the real test
MariaDB; the alerts go to ``$DENTAL_HOME/alerts.jsonl`` and to a webhook that is a real HTTP server on
loopback. The sensor is called as the daemon calls it, each tick with the cursor the one before left.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import socket
import threading

import dagster as dg
import pytest
from dagster_instances import dental_instance_for_test

from dental_assets.defs.automation import outage
from dental_assets.defs.automation.alerts import ALERT_WEBHOOK_ENV, alerts_path
from dental_assets.defs.raw import sensors
from dental_assets.defs.raw.sensors import raw_change_sensor, raw_sync_backstop
from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource

SECRET = "s3cret-Pw-4417"
USER = "odreader"


class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(monkeypatch, tmp_path):
    """Alerts to a loopback webhook and a fresh ``$DENTAL_HOME``; yields the posted bodies."""
    _Collector.received = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(ALERT_WEBHOOK_ENV, f"http://127.0.0.1:{server.server_port}/hook")
    monkeypatch.setenv("DENTAL_HOME", str(tmp_path))
    yield _Collector.received
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _resources(url: str) -> dict:
    # the warehouse is never reached in these tests: planning is replaced or never gets that far
    return {"opendental": OpenDentalSourceResource(kind="opendental", url=url),
            "warehouse": WarehouseResource(url=f"postgresql+psycopg2://u:{SECRET}@127.0.0.1:1/none")}


def _tick(instance, url: str, cursor: str | None):
    context = dg.build_sensor_context(instance=instance, resources=_resources(url), cursor=cursor)
    return raw_change_sensor(context), context.cursor


def _alerts() -> list[dict]:
    path = alerts_path()
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_an_unreachable_source_skips_and_alerts_once_when_it_starts_and_once_when_it_ends(
        webhook, mariadb_url, monkeypatch):
    port = _closed_port()
    down_url = f"mysql+pymysql://{USER}:{SECRET}@127.0.0.1:{port}/opendental"
    monkeypatch.setattr(sensors, "plan_run_requests", lambda *args, **kwargs: [])  # raw equals the source
    with dental_instance_for_test() as instance:
        first, cursor = _tick(instance, down_url, None)
        assert isinstance(first, dg.SkipReason)
        assert f"127.0.0.1:{port}" in first.skip_message and "error 2003" in first.skip_message
        assert "ConfigurationError" in first.skip_message or "SourceConnectionLost" in first.skip_message
        assert SECRET not in first.skip_message and USER not in first.skip_message
        assert outage.outage_in(cursor)["source"] == f"127.0.0.1:{port}"
        assert [a["alert"] for a in _alerts()] == ["source_unavailable"] and len(webhook) == 1
        assert f"127.0.0.1:{port}" in webhook[0]["text"] and SECRET not in json.dumps(webhook)

        for _ in range(3):  # every tick of the outage skips; no alert per tick
            later, cursor = _tick(instance, down_url, cursor)
            assert isinstance(later, dg.SkipReason) and f"127.0.0.1:{port}" in later.skip_message
        assert len(_alerts()) == 1 and len(webhook) == 1

        back, cursor = _tick(instance, mariadb_url, cursor)  # the source answers again
        assert isinstance(back, dg.SkipReason) and back.skip_message == "raw equals the source's fingerprints"
        assert outage.outage_in(cursor) is None
        assert [a["alert"] for a in _alerts()] == ["source_unavailable", "source_available"]
        assert len(webhook) == 2 and "can be used again" in webhook[1]["text"]
        again, cursor = _tick(instance, mariadb_url, cursor)
        assert len(_alerts()) == 2 and len(webhook) == 2


def test_the_backstop_skips_naming_the_source_when_it_cannot_be_used(webhook):
    port = _closed_port()
    url = f"mysql+pymysql://{USER}:{SECRET}@127.0.0.1:{port}/opendental"
    with dental_instance_for_test() as instance:
        with dg.build_schedule_context(instance=instance, resources=_resources(url)) as context:
            result = raw_sync_backstop(context)
    assert isinstance(result, dg.SkipReason)
    assert f"127.0.0.1:{port}" in result.skip_message and "error 2003" in result.skip_message
    assert SECRET not in result.skip_message and USER not in result.skip_message


def test_transition_alerts_only_when_the_state_changes():
    start = dt.datetime(2026, 12, 6, 22, 5, tzinfo=dt.timezone.utc)
    down = outage.SourceDown(source="db-host:3306", error="SourceConnectionLost, error 2013")
    cursor, alert = outage.transition(None, down, start)
    assert alert["alert"] == "source_unavailable" and alert["since"] == "2026-12-06T22:05:00+00:00"
    assert outage.transition(cursor, down, start + dt.timedelta(minutes=5)) == (cursor, None)
    cleared, alert = outage.transition(cursor, None, start + dt.timedelta(minutes=47))
    assert cleared is None and alert["alert"] == "source_available" and alert["minutes"] == 47
    assert outage.transition(None, None, start) == (None, None)
    assert outage.transition("not json", None, start) == ("not json", None)


def test_the_sensor_skips_while_a_run_it_requested_is_queued_or_in_progress(mariadb_url, monkeypatch):
    """The run key is a digest of the fingerprints: without this, every tick after a new edit would
    queue one more run behind a queue that does not move. While one of its runs is not finished, the
    sensor does not compare (nor request) at all, and says how many runs it waits for."""
    from dagster._core.test_utils import create_run_for_test

    from dental_assets.defs.synthetic.jobs import remote_job_origin

    planned = []
    monkeypatch.setattr(sensors, "plan_run_requests", lambda *args, **kwargs: planned.append(1) or [])
    with dental_instance_for_test() as instance:
        queued = create_run_for_test(instance, job_name=sensors.RAW_JOB_NAME, status=dg.DagsterRunStatus.QUEUED,
                                     tags={"dagster/sensor_name": "raw_change_sensor"},
                                     remote_job_origin=remote_job_origin(sensors.RAW_JOB_NAME))
        started = create_run_for_test(instance, job_name=sensors.RAW_JOB_NAME, status=dg.DagsterRunStatus.STARTED,
                                      tags={"dagster/sensor_name": "raw_change_sensor"})
        create_run_for_test(instance, job_name=sensors.RAW_JOB_NAME, status=dg.DagsterRunStatus.STARTED,
                            tags={"dagster/sensor_name": "another_sensor"})
        result, _ = _tick(instance, mariadb_url, None)
        assert isinstance(result, dg.SkipReason), result
        assert result.skip_message.startswith("2 run(s) requested by an earlier tick not finished yet")
        assert "1 queued" in result.skip_message and "1 started" in result.skip_message
        assert planned == []
        instance.report_run_failed(started)
        instance.report_run_canceled(queued)
        result, _ = _tick(instance, mariadb_url, None)
        assert isinstance(result, dg.SkipReason) and result.skip_message == "raw equals the source's fingerprints"
        assert planned == [1]


def test_a_refused_login_skips_and_alerts_without_the_user_or_the_drivers_text(webhook, mariadb_url, monkeypatch):
    """The real MariaDB refusing a wrong password: the driver's text names the user ("refused user 'x'"),
    so the skip reason and the alert keep only the error's class and MySQL's code (outage.source_down)."""
    from sqlalchemy.engine import make_url

    real = make_url(mariadb_url)
    wrong = real.set(password=SECRET).render_as_string(hide_password=False)
    source = f"{real.host}:{real.port}"
    monkeypatch.setattr(sensors, "plan_run_requests", lambda *args, **kwargs: [])
    with dental_instance_for_test() as instance:
        result, cursor = _tick(instance, wrong, None)
        with dg.build_schedule_context(instance=instance, resources=_resources(wrong)) as context:
            backstop = raw_sync_backstop(context)
    # MySQL error 1045: access denied (wrong password); the project's connect raises ConfigurationError for it
    why = f"the OpenDental source {source} cannot be used (ConfigurationError, error 1045)"
    assert isinstance(result, dg.SkipReason) and result.skip_message.startswith(why + " since ")
    assert isinstance(backstop, dg.SkipReason) and backstop.skip_message == f"{why}: nothing compared tonight"
    (alert,) = _alerts()
    assert alert["error"] == "ConfigurationError, error 1045" and alert["text"].startswith(why)
    said = json.dumps([result.skip_message, backstop.skip_message, alert, webhook])
    assert SECRET not in said and f"'{real.username}'" not in said and "refused" not in said


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                                    dg.DagsterRunStatus.CANCELING])
def test_a_run_starting_or_canceling_holds_the_next_comparison_too(mariadb_url, monkeypatch, status):
    """Every status of a run that is not finished (the test above: queued and started)."""
    from dagster._core.test_utils import create_run_for_test

    planned = []
    monkeypatch.setattr(sensors, "plan_run_requests", lambda *args, **kwargs: planned.append(1) or [])
    with dental_instance_for_test() as instance:
        create_run_for_test(instance, job_name=sensors.RAW_JOB_NAME, status=status,
                            tags={"dagster/sensor_name": "raw_change_sensor"})
        result, _ = _tick(instance, mariadb_url, None)
    assert isinstance(result, dg.SkipReason) and planned == []
    waiting = f"1 run(s) requested by an earlier tick not finished yet (1 {status.value.lower()})"
    assert result.skip_message.startswith(waiting), result.skip_message

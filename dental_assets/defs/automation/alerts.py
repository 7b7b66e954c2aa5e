"""The run-failure sensor: every failed run of the code location becomes an alert.

An alert is recorded three ways (``record_alert``):

1. an error line in the sensor's log (visible in the UI under the sensor's ticks);
2. a JSON line appended to ``$DENTAL_HOME/alerts.jsonl``;
3. when ``DENTAL_ALERT_WEBHOOK_URL`` is set, a JSON ``POST`` to that URL (e.g. a Slack or Teams
   incoming webhook; the body has a ``text`` field those services display). A webhook that does not
   answer 2xx within ``AlertWebhookResource.timeout_seconds`` (3 s) is logged and recorded in the alert
   line as ``webhook: "failed: ..."``; it never stops the sensor.

An alert holds the job name, run id, failed step keys, the class names of the root errors (e.g.
``ValueError``, not Dagster's wrapper) and the run's partition
tags: counts and keys only, never an error message (those may quote source values) or row data.

The raw change sensor records two more kinds the same way when the OpenDental source cannot be used
(``outage.py``): ``source_unavailable`` when an outage starts and ``source_available`` when it ends.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import dagster as dg

from dental_assets.warehouse import dental_home

ALERT_WEBHOOK_ENV = "DENTAL_ALERT_WEBHOOK_URL"
ALERTS_FILE = "alerts.jsonl"
_PARTITION_TAGS = ("dagster/partition", "dagster/asset_partition_range_start",
                   "dagster/asset_partition_range_end")


class AlertWebhookResource(dg.ConfigurableResource):
    """Where alerts go besides the log and ``$DENTAL_HOME/alerts.jsonl``: an optional webhook URL,
    from ``DENTAL_ALERT_WEBHOOK_URL`` (it may hold a token: environment only)."""

    webhook_url: str | None = None
    # a failure sensor's tick handles up to 5 runs within Dagster's 60 s: five posts to an endpoint that
    # never answers must not use them up (a tick that times out loses its cursor, and the same runs
    # would be posted again at every tick)
    timeout_seconds: float = 3.0

    def __repr_args__(self):  # repr/str never show the URL (its path may hold a token)
        return [(name, "***" if name == "webhook_url" and value and not isinstance(value, dg.EnvVar) else value)
                for name, value in super().__repr_args__()]

    def post(self, payload: dict[str, Any]) -> str:
        """POST ``payload`` as JSON; returns ``"sent"``, ``"not configured"`` or ``"failed: <reason>"``
        (the reason is an HTTP status or an exception class, never the URL)."""
        if not self.webhook_url:
            return "not configured"
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            self.webhook_url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            return f"failed: HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return f"failed: {type(exc).__name__}"
        return "sent" if 200 <= status < 300 else f"failed: HTTP {status}"


def alert_webhook_resource() -> AlertWebhookResource:
    """The resource, reading the webhook URL through ``dg.EnvVar`` when the variable is set."""
    if os.environ.get(ALERT_WEBHOOK_ENV):
        return AlertWebhookResource(webhook_url=dg.EnvVar(ALERT_WEBHOOK_ENV))
    return AlertWebhookResource()


def webhook_from_environment() -> AlertWebhookResource:
    """The resource with the URL of ``DENTAL_ALERT_WEBHOOK_URL`` as it is now, for code that posts
    outside Dagster's resource injection (the raw change sensor's outage alerts)."""
    return AlertWebhookResource(webhook_url=os.environ.get(ALERT_WEBHOOK_ENV) or None)


def alerts_path() -> Path:
    """``$DENTAL_HOME/alerts.jsonl``."""
    return dental_home() / ALERTS_FILE


def record_alert(alert: dict[str, Any], alerts: AlertWebhookResource, log, level: str = "error") -> dict[str, Any]:
    """Record ``alert`` (a dict with a ``text``): post it to the webhook, log ``ALERT <text>`` at ``level``
    on ``log`` and append it, with the webhook's outcome, to ``$DENTAL_HOME/alerts.jsonl``. Returns the
    recorded alert."""
    alert = {**alert, "webhook": alerts.post({"text": alert["text"],
                                              "alert": {k: v for k, v in alert.items() if k != "text"}})}
    getattr(log, level)(f"ALERT {alert['text']} (webhook: {alert['webhook']})")
    path = alerts_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(alert, sort_keys=True) + "\n")
    return alert


def _root_class(error) -> str | None:
    """The class name of the innermost cause of a serialized error (Dagster wraps user errors)."""
    while error is not None and getattr(error, "cause", None) is not None:
        error = error.cause
    return getattr(error, "cls_name", None) if error is not None else None


def build_alert(context: dg.RunFailureSensorContext) -> dict[str, Any]:
    """The alert of a failed run: keys and class names only (see the module docstring)."""
    run = context.dagster_run
    failed_steps, error_classes = [], []
    for event in context.get_step_failure_events():
        if event.step_key:
            failed_steps.append(event.step_key)
        cls_name = _root_class(getattr(event.event_specific_data, "error", None))
        if cls_name:
            error_classes.append(cls_name)
    run_error_class = _root_class(getattr(context.failure_event.event_specific_data, "error", None))
    if not error_classes and run_error_class:
        error_classes.append(run_error_class)
    partitions = {k: v for k, v in run.tags.items() if k in _PARTITION_TAGS}
    text = (
        f"Dagster run failed: job {run.job_name}, run {run.run_id}"
        + (f", steps {', '.join(failed_steps)}" if failed_steps else "")
        + (f" ({', '.join(sorted(set(error_classes)))})" if error_classes else "")
    )
    return {
        "alert": "run_failure",
        "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "job": run.job_name,
        "run_id": run.run_id,
        "failed_steps": failed_steps,
        "error_classes": sorted(set(error_classes)),
        "partition_tags": partitions,
        "ui_path": f"/runs/{run.run_id}",
        "text": text,
    }


@dg.run_failure_sensor(
    name="dental_run_failure_alerts",
    # every run of the instance: `dental sync`'s runs (execute_in_process) and `dagster job execute`'s
    # record no code location, and a sensor matching its own location would never see them fail
    monitor_all_code_locations=True,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Record an alert for every failed run: log, $DENTAL_HOME/alerts.jsonl and an optional "
    "webhook (DENTAL_ALERT_WEBHOOK_URL).",
)
def dental_run_failure_alerts(context: dg.RunFailureSensorContext, alerts: AlertWebhookResource):
    record_alert(build_alert(context), alerts, context.log)

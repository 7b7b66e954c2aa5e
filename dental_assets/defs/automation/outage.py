"""An OpenDental source that cannot be used: a skip reason at every tick, one alert when it starts, one when
it ends.

``raw_change_sensor`` (every 5 minutes) and ``raw_sync_backstop`` (03:30 UTC) first log in to the source
once (``probe``, 10 s at most). When that fails (the server is down or unreachable, refuses the login,
or does not answer as MySQL), or the source is lost while they plan, they return a ``SkipReason`` naming
the server (``host:port``) and the error's class (and MySQL's error code when there is one): never the
error's text, the user or the password. Before, they raised at every tick, no run was created, and the
run-failure alerts never heard of it.

The sensor keeps the outage in its cursor (``{"source_down": {"since", "source", "error"}}``), so that
``transition`` records one ``source_unavailable`` alert when an outage starts and one
``source_available`` alert when the first tick after it reaches the source again (with how long it
lasted), through the project's alerts (``alerts.record_alert``: the log, ``$DENTAL_HOME/alerts.jsonl``
and ``DENTAL_ALERT_WEBHOOK_URL``); the ticks in between only skip.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

PROBE_TIMEOUT_SECONDS = 10  # a tick has 60 s; a host that drops packets would hold the default 30 s
_ERROR_CODE = re.compile(r"\(error (\d+)")  # the code the project's connection errors quote


@dataclass(frozen=True)
class SourceDown:
    """Why the source cannot be used: ``source`` is ``host:port``, ``error`` the exception's class with
    MySQL's error code when known (``SourceConnectionLost, error 2003``)."""

    source: str
    error: str

    def describe(self) -> str:
        return f"the OpenDental source {self.source} cannot be used ({self.error})"


def source_down(params, exc: BaseException) -> SourceDown:
    """The ``SourceDown`` of ``exc``, raised while connecting to or reading the source at ``params``
    (``MySqlParams``). Only the class and the error code are kept: messages can name the user."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    if code is None:
        found = _ERROR_CODE.search(str(exc))
        code = int(found.group(1)) if found else None
    error = type(exc).__name__ + (f", error {code}" if code is not None else "")
    return SourceDown(source=f"{params.host}:{params.port}", error=error)


def probe(params, timeout: int = PROBE_TIMEOUT_SECONDS) -> SourceDown | None:
    """Log in to the source at ``params`` once (``mysql.connect``, no retry); None when that works, else
    why not."""
    import pymysql

    from dental_assets.errors import ConfigurationError
    from dental_assets.replication.mysql import SourceConnectionLost, connect

    try:
        connect(params, timeout=timeout).close()
    except (ConfigurationError, SourceConnectionLost, pymysql.err.MySQLError, OSError) as exc:
        return source_down(params, exc)
    return None


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def outage_in(cursor: str | None) -> dict[str, str] | None:
    """The outage a cursor records (``since``, ``source``, ``error``), or None."""
    if not cursor:
        return None
    try:
        state = json.loads(cursor)
    except ValueError:  # a cursor of another shape: no outage recorded
        return None
    down = state.get("source_down") if isinstance(state, dict) else None
    return down if isinstance(down, dict) and down.get("since") else None


def transition(cursor: str | None, down: SourceDown | None,
               now: dt.datetime) -> tuple[str | None, dict[str, Any] | None]:
    """The sensor's next cursor and the alert to record (None: none) when the source is ``down`` (None:
    reachable) at ``now``, given the ``cursor`` of the tick before. An alert only when the state changes:
    ``source_unavailable`` at the first tick that cannot use it, ``source_available`` at the first that
    can after that."""
    before = outage_in(cursor)
    if down is not None:
        if before is not None:
            return cursor, None  # still down: the alert went out when it started
        since = _iso(now)
        state = {"since": since, "source": down.source, "error": down.error}
        text = f"{down.describe()} since {since}: no raw sync runs until it can"
        return json.dumps({"source_down": state}, sort_keys=True), {
            "alert": "source_unavailable", "at": since, **state, "text": text}
    if before is None:
        return cursor, None
    started = dt.datetime.fromisoformat(before["since"])
    minutes = max(0, round((now - started).total_seconds() / 60))
    text = (f"the OpenDental source {before.get('source', '?')} can be used again, after {minutes} min "
            f"unavailable ({before.get('error', '?')}, since {before['since']})")
    return None, {"alert": "source_available", "at": _iso(now), "source": before.get("source"),
                  "error": before.get("error"), "since": before["since"], "minutes": minutes, "text": text}


def skip_text(down: SourceDown, cursor: str | None) -> str:
    """The skip reason of a tick that cannot use the source (``cursor``: the one it leaves)."""
    outage = outage_in(cursor)
    since = f" since {outage['since']}" if outage else ""
    return f"{down.describe()}{since}; nothing requested (an alert went out when it started)"

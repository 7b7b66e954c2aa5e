"""Two enders find the same dead run at once: it is ended once.

``dental sync``'s start (``sync_command.fail_stale_runs``), the reaper sensor ``dental_dead_run_reaper``
and ``raw_change_sensor``'s tick all end the unfinished runs of this host whose process is gone
(``dead_runs.fail_dead_runs``). Dagster's ``report_run_failed`` does not look at the run's status: a
second call stores a second run-failure event, which ``dental_run_failure_alerts`` turns into a second
alert, and on a run the other ender has just canceled it turns CANCELED into FAILURE (which run retries
would retry). ``dead_runs.end_dead_run`` reads the run again and reports under one lock per host.

On an instance of the project's ``dagster.yaml`` (SQLite in a temporary ``DAGSTER_HOME``), each ender with
an instance of its own, as in two processes; the second ender runs in a thread, started at the moment the
first one is about to report (or has just found the process gone), which is where the race lies.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType

from dental_assets.defs.automation import dead_runs
from dental_assets.defs.automation.alerts import ALERT_WEBHOOK_ENV, AlertWebhookResource, alerts_path
from dental_assets.defs.automation.alerts import dental_run_failure_alerts
from dental_assets.defs.automation.dead_runs import dental_dead_run_reaper, end_dead_run, fail_dead_runs
from dental_assets.defs.raw.sensors import RAW_JOB_NAME, SOURCE_TAG
from dental_assets.defs.raw.sync_command import HOST_TAG, PID_TAG, PROCESS_START_TAG, fail_stale_runs

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = socket.gethostname()
HOLD_SECONDS = 1.0  # how long the first ender waits, about to report, for the second to get in


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A DAGSTER_HOME with the project's dagster.yaml (SQLite); alerts to a temporary DENTAL_HOME; the
    enders' lock in the test's folder (the same for both: they run in this process)."""
    monkeypatch.delenv("DAGSTER_POSTGRES_URL", raising=False)
    monkeypatch.delenv(ALERT_WEBHOOK_ENV, raising=False)
    monkeypatch.setenv("DENTAL_HOME", str(tmp_path / "dental_home"))
    monkeypatch.setattr(dead_runs, "_lock_path", lambda: tmp_path / "enders.lock")
    path = tmp_path / "dagster_home"
    path.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(path))
    return path


def _dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def _dead_sync_run(instance) -> dg.DagsterRun:
    """A ``dental sync`` run of this host left STARTED by a killed process: both enders take it."""
    from dagster._core.test_utils import create_run_for_test

    return create_run_for_test(instance, job_name=RAW_JOB_NAME, status=dg.DagsterRunStatus.STARTED,
                               tags={**SOURCE_TAG, HOST_TAG: HOST, PID_TAG: str(_dead_pid()),
                                     PROCESS_START_TAG: "0.00"})


def _ends(instance, run_id) -> list[DagsterEventType]:
    return [e.dagster_event.event_type for e in instance.all_logs(run_id)
            if e.dagster_event and e.dagster_event.event_type in (DagsterEventType.RUN_FAILURE,
                                                                  DagsterEventType.RUN_CANCELED)]


class _Second:
    """The second ender, in a thread with an instance of its own: ``dental_dead_run_reaper``'s tick."""

    def __init__(self, home: Path):
        self.home, self.result, self.thread = home, None, None

    def _tick(self):
        with dg.DagsterInstance.from_config(str(self.home)) as instance:
            self.result = dental_dead_run_reaper(dg.build_sensor_context(instance=instance))

    def start_and_wait(self, seconds: float) -> bool:
        """Start it and give it ``seconds`` to finish; True when it did not (it waits for the lock)."""
        self.thread = threading.Thread(target=self._tick)
        self.thread.start()
        self.thread.join(seconds)
        return self.thread.is_alive()

    def finish(self):
        self.thread.join(60)
        assert not self.thread.is_alive()
        return self.result


def _alerts_for(run_id: str) -> int:
    import json

    path = alerts_path()
    lines = path.read_text().splitlines() if path.exists() else []
    return sum(1 for line in lines if json.loads(line).get("run_id") == run_id)


def _failure_sensor_tick(instance, cursor):
    result = dental_run_failure_alerts.evaluate_tick(
        dg.build_sensor_context(instance=instance, cursor=cursor, resources={"alerts": AlertWebhookResource()}))
    return result.cursor


def test_a_dead_run_found_by_dental_sync_and_the_reaper_at_once_is_failed_and_alerted_once(home, monkeypatch):
    """``dental sync``'s start has found the run dead and is about to report it failed when the reaper's
    tick finds it too. Before, both reported: two run-failure events, two alerts. Now the reaper waits
    for the lock, reads the run again, finds it failed and leaves it."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        cursor = _failure_sensor_tick(instance, None)  # the failure sensor starts from here
        run = _dead_sync_run(instance)
        second, report = _Second(home), instance.report_run_failed
        waited = []

        def report_after_the_second_got_in(dagster_run, **kwargs):
            waited.append(second.start_and_wait(HOLD_SECONDS))
            return report(dagster_run, **kwargs)

        monkeypatch.setattr(instance, "report_run_failed", report_after_the_second_got_in)
        first = fail_stale_runs(instance)
        monkeypatch.undo()
        later = second.finish()

        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert _ends(instance, run.run_id) == [DagsterEventType.RUN_FAILURE]
        _failure_sensor_tick(instance, cursor)
        assert _alerts_for(run.run_id) == 1
        assert first == [run.run_id]
        assert isinstance(later, dg.SkipReason) and "no unfinished run" in later.skip_message, later
        assert waited == [True]  # the reaper waited for dental sync's report


def test_a_run_the_reaper_canceled_meanwhile_is_not_turned_into_a_failure(home, monkeypatch):
    """``dental sync``'s start finds the run's process gone; meanwhile the run is terminated from the UI
    (CANCELING) and the reaper ends it as canceled. Reporting the failure it had decided on would turn
    CANCELED into FAILURE (and run retries retry a failed run): it reads the run again and leaves it."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = _dead_sync_run(instance)
        second, gone = _Second(home), dead_runs.process_gone
        calls = []

        def gone_then_canceled_by_the_reaper(pid, started):
            dead = gone(pid, started)
            if not calls:  # dental sync's look; the reaper's own look comes next, inside its tick
                calls.append(pid)
                instance.report_run_canceling(instance.get_run_by_id(run.run_id))
                assert not second.start_and_wait(30)  # the reaper's tick runs to its end
            return dead

        monkeypatch.setattr(dead_runs, "process_gone", gone_then_canceled_by_the_reaper)
        first = fail_stale_runs(instance)
        monkeypatch.undo()

        later = second.finish()
        assert isinstance(later, dg.SkipReason) and "1 run(s)" in later.skip_message, later
        assert first == []
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.CANCELED
        assert _ends(instance, run.run_id) == [DagsterEventType.RUN_CANCELED]


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED,
                                    dg.DagsterRunStatus.SUCCESS])
def test_a_run_that_has_ended_is_left_as_it_is(home, status):
    """``end_dead_run`` on a run another ender (or the run itself) has ended: nothing stored, False."""
    from dagster._core.test_utils import create_run_for_test

    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = create_run_for_test(instance, job_name=RAW_JOB_NAME, status=status)
        assert end_dead_run(instance, run.run_id, "gone") is False
        assert instance.get_run_by_id(run.run_id).status == status
        assert _ends(instance, run.run_id) == []


def test_while_another_ender_holds_the_lock_too_long_the_run_is_left_for_the_next_tick(home, monkeypatch):
    """An ender that cannot have the lock within ``ENDER_LOCK_SECONDS`` leaves the run as it is (the next
    tick ends it) rather than report without it."""
    monkeypatch.setattr(dead_runs, "ENDER_LOCK_SECONDS", 0.2)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = _dead_sync_run(instance)
        with dead_runs._one_ender_at_a_time() as held:  # noqa: SLF001 (another ender's hold)
            assert held
            assert fail_dead_runs(instance) == []
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
        assert fail_dead_runs(instance) == [run.run_id]
        assert _ends(instance, run.run_id) == [DagsterEventType.RUN_FAILURE]

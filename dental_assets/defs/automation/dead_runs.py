"""Runs whose process is gone give back their places in the run queue.

The queued run coordinator counts every STARTING, STARTED and CANCELING run against
``max_concurrent_runs`` (and the raw runs against the source's limits); the default run launcher
cannot tell that a run's process died (a reboot, an out-of-memory kill: ``supports_check_run_worker_health``
is False), so such a run stays STARTED and holds its place until something ends it. Two things do:

- every run records the process that executes it in the tag ``dental/worker`` (JSON: this run's id,
  the host name, the pid and the process's start time), written by the code location's executor
  (``in_process_executor_recording_its_process``, the in-process executor of every asset job) when the
  run's execution starts. ``dental sync``'s runs carry ``dental/host``, ``dental/pid`` and
  ``dental/process_started`` from the start (``defs/raw/sync_command.py``);
- ``fail_dead_runs``, called by the RUNNING sensor ``dental_dead_run_reaper`` every minute (and by
  ``raw_change_sensor`` before it plans, and by ``dental sync`` at its start for its own runs,
  ``sync_command.fail_stale_runs``), marks failed (CANCELING ones: canceled) the unfinished runs
  of this host whose recorded process no longer exists, or is another process that took its pid (its
  start time differs). Runs of other hosts and runs that recorded no process are left to Dagster's run
  monitoring: ``max_runtime_seconds`` in ``dagster.yaml`` (6 hours) or the run's ``dagster/max_runtime``
  tag. A run that two of them find at once is ended once (``end_dead_run``).

A retry or re-execution copies its parent's tags: ``dental/worker`` names the run it was written for,
and a copy (another run's id) is ignored until the run's own execution writes it again.

The sensor runs in the code server that launches the runs (the run worker is its child process, on its
host), so "this host" is where those processes ran.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

# dental sync's tags, which its runs carry from the start
from dental_assets.defs.raw.sync_command import HOST_TAG as SYNC_HOST_TAG
from dental_assets.defs.raw.sync_command import PID_TAG as SYNC_PID_TAG
from dental_assets.defs.raw.sync_command import PROCESS_START_TAG as SYNC_START_TAG

WORKER_TAG = "dental/worker"
UNFINISHED = (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
              dg.DagsterRunStatus.CANCELING)
REAPER_INTERVAL_SECONDS = 60
ENDER_LOCK_SECONDS = 20  # another ender holds the lock for one run's re-read and report: milliseconds
ENDER_LOCK_POLL_SECONDS = 0.05


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` on this host (epoch seconds, 2 decimals, as ``dental sync``
    writes it), or None when there is no such process of this user."""
    import psutil

    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        # AccessDenied: another user's process took the pid (the runs and this sensor run as one user, so
        # a run's own process is always readable): the run's process is gone, as dental sync decides too
        return None


def worker_tags(run_id: str) -> dict[str, str]:
    """The ``dental/worker`` tag of run ``run_id`` executed by this process."""
    pid = os.getpid()
    return {WORKER_TAG: json.dumps({"run": run_id, "host": socket.gethostname(), "pid": pid,
                                    "started": process_start(pid)}, sort_keys=True)}


def recorded_process(run: dg.DagsterRun) -> tuple[str, int, str] | None:
    """``(host, pid, start time)`` of the process a run recorded, or None: no process recorded, or a
    ``dental/worker`` tag copied from the run it retries."""
    text = run.tags.get(WORKER_TAG)
    if text:
        try:
            worker = json.loads(text)
            if worker["run"] == run.run_id and worker["started"]:
                return str(worker["host"]), int(worker["pid"]), str(worker["started"])
        except (ValueError, KeyError, TypeError):
            pass
        return None
    pid = run.tags.get(SYNC_PID_TAG, "")
    if pid.isdigit() and run.tags.get(SYNC_HOST_TAG) and run.tags.get(SYNC_START_TAG):
        return run.tags[SYNC_HOST_TAG], int(pid), run.tags[SYNC_START_TAG]
    return None


def process_gone(pid: int, started: str) -> bool:
    """True when process ``pid`` of this host no longer exists, or is another process (started at
    another time: the pid was reused)."""
    now = process_start(pid)
    return now is None or now != started


def fail_dead_runs(instance: dg.DagsterInstance, host: str | None = None,
                   tags: dict[str, str] | None = None) -> list[str]:
    """Mark failed the unfinished runs (NOT_STARTED, STARTING, STARTED; CANCELING ones canceled) that
    recorded a process of ``host`` (default this one) that is gone, and free the concurrency slots they
    held; ``tags``: only the runs carrying them (``dental sync``'s start: ``sync_command.fail_stale_runs``).
    Each run is ended by ``end_dead_run``, at most once whoever else does the same. Returns their ids."""
    host = host or socket.gethostname()
    ended = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=list(UNFINISHED), tags=tags or {})):
        process = recorded_process(run)
        if process is None or process[0] != host or not process_gone(process[1], process[2]):
            continue
        message = (f"the process that ran this run (pid {process[1]} on {host}) is gone (killed, or the "
                   "machine restarted): marked ended by the dead-run rule (defs/automation/dead_runs.py), so "
                   "it no longer holds a place in the run queue")
        if end_dead_run(instance, run.run_id, message):
            ended.append(run.run_id)
    return ended


def _lock_path() -> Path:
    """The file whose lock the run enders of this host and user take (``end_dead_run``)."""
    return Path(tempfile.gettempdir()) / f"dental-dead-runs-{os.getuid()}.lock"


@contextmanager
def _one_ender_at_a_time() -> Iterator[bool]:
    """Hold this host's lock (``flock`` on ``_lock_path``) for the block; yields False when it could not be
    had within ``ENDER_LOCK_SECONDS``. A lock of its own open file description, so two threads of one
    process exclude each other as two processes do; released when the file is closed, by a process that
    dies too."""
    import fcntl

    fd = os.open(_lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        held, deadline = False, time.monotonic() + ENDER_LOCK_SECONDS
        while not held:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(ENDER_LOCK_POLL_SECONDS)
        yield held
    finally:
        os.close(fd)


def end_dead_run(instance: dg.DagsterInstance, run_id: str, message: str) -> bool:
    """Mark run ``run_id``, whose process is gone, failed (canceled when it is CANCELING) and free the
    concurrency slots it held, unless it has ended meanwhile; True when this call ended it.

    Two enders can find the same dead run (``dental_dead_run_reaper``, ``raw_change_sensor``'s tick and
    ``dental sync``'s start, in two processes or two threads of the code server). Dagster's
    ``report_run_failed`` does not look at the run's status: a second call stores a second run-failure
    event (``dental_run_failure_alerts`` alerts once per event, and the run's end time moves), and on a
    run the other marked canceled it turns CANCELED into FAILURE (which run retries then retry). So the
    status is read again and the end reported under one lock per host (``_one_ender_at_a_time``; every
    ender of a run works on the run's host): the second ender finds the run ended and leaves it. When the
    lock cannot be had in time, the run is left to the next tick."""
    with _one_ender_at_a_time() as held:
        if not held:
            return False
        run = instance.get_run_by_id(run_id)
        if run is None or run.status not in UNFINISHED:
            return False
        if run.status == dg.DagsterRunStatus.CANCELING:
            instance.report_run_canceled(run, message=message)
        else:
            instance.report_run_failed(run, message=message)
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return True


class _RecordingExecutor(dg.Executor):
    """Dagster's in-process executor that first records the run's process (``worker_tags``)."""

    def __init__(self, inner: dg.Executor):
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan):
        plan_context.instance.add_run_tags(plan_context.run_id, worker_tags(plan_context.run_id))
        yield from self._inner.execute(plan_context, execution_plan)


@dg.executor(name=dg.in_process_executor.name, config_schema=dg.in_process_executor.config_schema)
def in_process_executor_recording_its_process(init_context: dg.InitExecutorContext) -> dg.Executor:
    """Dagster's ``in_process_executor`` (same name and config) whose runs record their process in the
    ``dental/worker`` tag when they start, for ``fail_dead_runs``."""
    return _RecordingExecutor(dg.in_process_executor.executor_creation_fn(init_context))


@dg.sensor(
    name="dental_dead_run_reaper",
    minimum_interval_seconds=REAPER_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed the unfinished runs of this host whose process is gone (a reboot, an "
    "out-of-memory kill), so that they give back their places in the run queue.",
)
def dental_dead_run_reaper(context: dg.SensorEvaluationContext):
    ended = fail_dead_runs(context.instance)
    host = socket.gethostname()
    for run_id in ended:
        context.log.warning(f"run {run_id}: its process on {host} is gone; marked ended")
    if ended:
        return dg.SkipReason(f"{len(ended)} run(s) of {host} whose process is gone marked ended: {', '.join(ended)}")
    return dg.SkipReason(f"no unfinished run of {host} has lost its process")

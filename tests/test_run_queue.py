"""The run queue keeps moving: runs whose process died give back their places, every run has a maximum
runtime, and at most one run at a time reads the OpenDental source however it was launched.

On an instance loaded from the project's ``dagster.yaml`` (SQLite under a temporary ``DAGSTER_HOME``),
with Dagster's own dequeue logic (``QueuedRunCoordinatorDaemon._get_runs_to_dequeue``, what the daemon
calls at every iteration) and run monitoring (``check_run_timeout``), and the code location's own
definitions (``dental_assets.definitions.defs``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dental_assets.defs.automation.dead_runs import (
    WORKER_TAG,
    dental_dead_run_reaper,
    fail_dead_runs,
    in_process_executor_recording_its_process,
    process_start,
    recorded_process,
)
from dental_assets.defs.dbt.assets import MODELS_POOL, MODELS_TAG
from dental_assets.defs.raw import SOURCE_POOL
from dental_assets.defs.raw.assets import RAW_GROUP, raw_asset_key
from dental_assets.defs.raw.sensors import RAW_JOB_NAME, SOURCE_TAG

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = socket.gethostname()


@pytest.fixture(params=["dagster.yaml", "dagster.demo.yaml"])
def project_instance(request, tmp_path, monkeypatch):
    """A Dagster instance of the project's dagster.yaml, then of the demo's dagster.demo.yaml (the same
    limits; SQLite storage in a temporary DAGSTER_HOME)."""
    monkeypatch.delenv("DAGSTER_POSTGRES_URL", raising=False)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / request.param, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def _dequeued(instance: dg.DagsterInstance) -> list[str]:
    """The queued runs the daemon's next iteration would launch, as it chooses them."""
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    daemon = QueuedRunCoordinatorDaemon(interval_seconds=5)
    return [run.run_id for run in daemon._get_runs_to_dequeue(  # noqa: SLF001 (the daemon's own choice)
        instance, instance.get_concurrency_config(), fixed_iteration_time=None)]


def _dead_pid() -> int:
    """The pid of a process that has exited."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def _worker(run_id: str, host: str = HOST, pid: int | None = None, started: str | None = None) -> dict[str, str]:
    pid = pid if pid is not None else _dead_pid()
    return {WORKER_TAG: json.dumps({"run": run_id, "host": host, "pid": pid,
                                    "started": started if started is not None else "0.00"})}


def _run(instance, job_name: str, status, tags: dict[str, str] | None = None, run_id: str | None = None):
    """A run of ``job_name`` recorded with ``status``, as launched from the code location (a queued run
    needs the location's origin)."""
    from dagster._core.test_utils import create_run_for_test

    from dental_assets.defs.synthetic.jobs import remote_job_origin

    return create_run_for_test(instance, job_name=job_name, status=status, tags=tags or {}, run_id=run_id,
                               remote_job_origin=remote_job_origin(job_name))


def _status(instance, run) -> dg.DagsterRunStatus:
    return instance.get_run_by_id(run.run_id).status


def _report(instance, run, event: str = "RUN_START") -> None:
    """``run``'s process reports ``event`` (a ``DagsterEventType`` name: RUN_START makes it STARTED,
    RUN_SUCCESS SUCCESS)."""
    from dagster._core.events import DagsterEvent, DagsterEventType

    instance.report_dagster_event(DagsterEvent(event_type_value=DagsterEventType[event].value,
                                               job_name=run.job_name), run_id=run.run_id)


# ------------------------------------------------------------------------------ runs whose process died

def test_dead_runs_of_other_jobs_are_failed_so_a_queued_raw_run_starts(project_instance):
    """Four dbt runs left STARTED by a reboot fill the queue's 4 places (every STARTING/STARTED/CANCELING
    run counts); the reaper sensor fails them (their process on this host is gone) and the queued raw
    run is dequeued. A live run, a run of another host and a retry carrying its parent's tag are kept."""
    from dagster._core.utils import make_new_run_id

    instance = project_instance
    dead = []
    for _ in range(4):
        run_id = make_new_run_id()
        dead.append(_run(instance, "dbt_facts_job", dg.DagsterRunStatus.STARTED, _worker(run_id), run_id))
    raw = _run(instance, RAW_JOB_NAME, dg.DagsterRunStatus.QUEUED, dict(SOURCE_TAG))
    assert _dequeued(instance) == []  # 4 runs "in progress": the queue is full, silently

    live_id, other_id, retry_id = make_new_run_id(), make_new_run_id(), make_new_run_id()
    live = _run(instance, "dbt_job", dg.DagsterRunStatus.STARTED,
                _worker(live_id, pid=os.getpid(), started=process_start(os.getpid())), live_id)
    other_host = _run(instance, "dbt_job", dg.DagsterRunStatus.STARTED, _worker(other_id, host="another-host"),
                      other_id)
    retry = _run(instance, "dbt_job", dg.DagsterRunStatus.STARTING, _worker(dead[0].run_id), retry_id)

    result = dental_dead_run_reaper(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SkipReason) and "4 run(s)" in result.skip_message, result
    assert {_status(instance, r) for r in dead} == {dg.DagsterRunStatus.FAILURE}
    assert _status(instance, live) == dg.DagsterRunStatus.STARTED
    assert _status(instance, other_host) == dg.DagsterRunStatus.STARTED
    assert _status(instance, retry) == dg.DagsterRunStatus.STARTING  # its tag is its parent's
    # 3 places taken (live, other host, retry): the raw run goes
    assert _dequeued(instance) == [raw.run_id]


def test_a_reused_pid_is_a_dead_process_and_dental_sync_runs_are_reaped_too(project_instance):
    """A recorded pid now held by another process (its start time differs) is gone; ``dental sync``'s
    own tags (``dental/pid``, ``dental/host``, ``dental/process_started``) are read as well."""
    from dagster._core.test_utils import create_run_for_test
    from dagster._core.utils import make_new_run_id

    from dental_assets.defs.raw.sync_command import HOST_TAG, PID_TAG, PROCESS_START_TAG

    instance = project_instance
    run_id = make_new_run_id()
    reused = _run(instance, "dbt_job", dg.DagsterRunStatus.STARTED,
                  _worker(run_id, pid=os.getpid(), started="12.00"), run_id)
    sync = create_run_for_test(instance, job_name=RAW_JOB_NAME, status=dg.DagsterRunStatus.STARTED,
                               tags={**SOURCE_TAG, HOST_TAG: HOST, PID_TAG: str(_dead_pid()),
                                     PROCESS_START_TAG: "0.00"})
    canceling_id = make_new_run_id()
    canceling = _run(instance, "dbt_job", dg.DagsterRunStatus.CANCELING, _worker(canceling_id), canceling_id)
    assert sorted(fail_dead_runs(instance)) == sorted([reused.run_id, sync.run_id, canceling.run_id])
    assert _status(instance, reused) == _status(instance, sync) == dg.DagsterRunStatus.FAILURE
    assert _status(instance, canceling) == dg.DagsterRunStatus.CANCELED
    assert fail_dead_runs(instance) == []


@dg.op
def _noop():
    return 1


@dg.job(executor_def=in_process_executor_recording_its_process)
def recording_job():
    _noop()


def test_every_asset_job_records_the_process_that_runs_it(defs, project_instance):
    """The code location's executor writes ``dental/worker`` when a run starts: the run's id, this host,
    the pid and start time of the process executing it (what the reaper compares)."""
    for name in ("dbt_job", "dbt_facts_job", RAW_JOB_NAME, "treatment_journey_job", "journey_models_job"):
        assert defs.resolve_job_def(name).executor_def is in_process_executor_recording_its_process, name
    assert defs.resolve_implicit_global_asset_job_def().executor_def is in_process_executor_recording_its_process

    result = dg.execute_job(dg.reconstructable(recording_job), instance=project_instance)
    assert result.success
    run = project_instance.get_run_by_id(result.run_id)
    worker = json.loads(run.tags[WORKER_TAG])
    assert worker == {"run": run.run_id, "host": HOST, "pid": os.getpid(), "started": process_start(os.getpid())}
    assert recorded_process(run) == (HOST, os.getpid(), process_start(os.getpid()))


# ------------------------------------------------------------------------------------- maximum runtime

def test_every_run_has_a_maximum_runtime(project_instance):
    """A run without a ``dagster/max_runtime`` tag (any job: dbt, the UI's Materialize) is failed by
    run monitoring after the instance's ``max_runtime_seconds``, 6 hours: one that recorded no process
    (or ran on another host) gives back its place then."""
    from dagster._daemon.monitoring import run_monitoring

    instance = project_instance
    assert instance.run_monitoring_enabled and instance.run_monitoring_max_runtime_seconds == 6 * 3600
    run = _run(instance, "dbt_facts_job", dg.DagsterRunStatus.NOT_STARTED)
    _report(instance, run)
    started = instance.get_run_record_by_id(run.run_id).start_time
    for hours, status in ((5.9, dg.DagsterRunStatus.STARTED), (6.1, dg.DagsterRunStatus.FAILURE)):
        now = started + hours * 3600
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(run_monitoring, "get_current_timestamp", lambda now=now: now)
            run_monitoring.check_run_timeout(instance, instance.get_run_record_by_id(run.run_id),
                                             logging.getLogger(__name__),
                                             float(instance.run_monitoring_max_runtime_seconds))
        assert _status(instance, run) == status, hours


# ------------------------------------------------------------------------- one reader of the source

def test_raw_assets_are_in_the_source_pool_which_the_instance_limits_to_one(defs, project_instance):
    from dagster._core.instance.config import PoolGranularity

    repository = defs.get_repository_def()
    raw_defs = {id(a): a for key, a in repository.assets_defs_by_key.items()
                if repository.asset_graph.get(key).group_name == RAW_GROUP}
    assert len(raw_defs) == 2
    assert {a.op.pool for a in raw_defs.values()} == {SOURCE_POOL}
    others = {a.op.pool for a in repository.assets_defs_by_key.values()
              if id(a) not in raw_defs and a.is_executable and hasattr(a, "op")}
    assert SOURCE_POOL not in others

    config = project_instance.get_concurrency_config()
    assert config.pool_config.default_pool_limit == 1
    assert config.pool_config.pool_granularity == PoolGranularity.RUN
    assert config.run_queue_config.max_concurrent_runs == 4
    assert config.run_queue_config.tag_concurrency_limits == [{"key": "dental/opendental_source", "limit": 1},
                                                              {"key": "dental/warehouse_models", "limit": 1}]


def _asset_run(instance, defs, keys: list[dg.AssetKey], status, job_name: str | None = None,
               tags: dict[str, str] | None = None) -> dg.DagsterRun:
    """A run of the implicit asset job (what Materialize in the UI, backfills and the automation sensor
    launch; ``tags``: the launcher's, none from the UI), or of ``job_name``'s job with its tags, for
    ``keys``, with its execution plan (from which Dagster records the run's pools)."""
    from dagster._core.execution.api import create_execution_plan

    from dental_assets.defs.synthetic.jobs import remote_job_origin

    job = defs.resolve_job_def(job_name) if job_name else defs.resolve_implicit_global_asset_job_def()
    job = job.get_subset(asset_selection=set(keys))
    return instance.create_run_for_job(job_def=job, execution_plan=create_execution_plan(job), status=status,
                                       asset_selection=frozenset(keys), tags={**job.run_tags, **(tags or {})},
                                       remote_job_origin=remote_job_origin(job.name))


def test_a_raw_materialization_from_the_ui_waits_for_the_raw_run_in_progress(defs, project_instance):
    """Without the tag of the raw job, a raw asset materialized from the UI still waits while another run
    holding a raw step is in progress; a dbt run does not wait."""
    instance = project_instance
    provider, definition = raw_asset_key("provider"), raw_asset_key("definition")
    dbt_key = next(k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "staging")
    running = _asset_run(instance, defs, [provider], dg.DagsterRunStatus.STARTED)
    assert SOURCE_POOL in running.run_op_concurrency.all_pools and "dental/opendental_source" not in running.tags
    queued_raw = _asset_run(instance, defs, [definition], dg.DagsterRunStatus.QUEUED)
    queued_dbt = _asset_run(instance, defs, [dbt_key], dg.DagsterRunStatus.QUEUED)
    _dequeued(instance)  # Dagster records the pool's limit (the default, 1) the first time it sees it queued
    assert instance.event_log_storage.get_pool_limits()[0].limit == 1
    assert _dequeued(instance) == [queued_dbt.run_id]
    instance.report_run_failed(running)
    assert set(_dequeued(instance)) == {queued_raw.run_id, queued_dbt.run_id}


# ---------------------------------------------------------------------- one build from the models

def _key(defs, *path: str) -> dg.AssetKey:
    key = dg.AssetKey(list(path))
    assert key in defs.resolve_asset_graph().get_all_asset_keys(), key
    return key


def test_every_asset_that_builds_from_the_models_is_in_the_models_pool(defs):
    """Both dbt asset definitions and the journey dataset (it reads ``fct_treatment_journey``) are in the
    pool ``warehouse_models``, and nothing else is (raw has its own; the journey models read Parquet). The
    runs the project launches to build them carry the tag limited to 1 as well: the automation sensor's,
    ``dbt_job``'s and ``dbt_facts_job``'s (so the nightly schedules'), the journey job's."""
    repository = defs.get_repository_def()
    pooled = {a.op.name for a in repository.assets_defs_by_key.values()
              if a.is_executable and hasattr(a, "op") and a.op.pool == MODELS_POOL}
    assert pooled == {"dental_dbt_models", "dental_dbt_facts", "treatment_journey"}
    assert defs.resolve_sensor_def("dental_automation_sensor").run_tags == MODELS_TAG
    for job in ("dbt_job", "dbt_facts_job", "treatment_journey_job"):
        assert MODELS_TAG.items() <= defs.resolve_job_def(job).run_tags.items(), job


def test_a_model_build_waits_for_the_build_in_progress(defs, project_instance):
    """The daemon's case, on a new instance: the automation's first run is still building
    ``int_employees`` when its next tick asks for ``int_clock_events``, whose foreign key to
    ``int_employees`` would be left out (the relation does not exist yet) and its blocking check never
    executed. From the very first dequeue (Dagster applies a pool's limit only once it has seen the pool
    queued: the tag holds meanwhile), the second run and a nightly ``dbt_facts_job`` run wait until no
    other run builds models; a raw run does not wait for them. Then one of them goes, never both at once,
    and a model materialized from the UI (no tag: the pool) waits too."""
    instance = project_instance
    employees = _key(defs, "intermediate", "int_employees")
    clock_events = _key(defs, "intermediate", "int_clock_events")
    fact = _key(defs, "marts", "fct_procedure")
    journey = _key(defs, "treatment_journey")
    building = _asset_run(instance, defs, [employees], dg.DagsterRunStatus.STARTED, tags=MODELS_TAG)
    assert MODELS_POOL in building.run_op_concurrency.all_pools
    next_tick = _asset_run(instance, defs, [clock_events], dg.DagsterRunStatus.QUEUED, tags=MODELS_TAG)
    nightly = _asset_run(instance, defs, [fact], dg.DagsterRunStatus.QUEUED, job_name="dbt_facts_job")
    raw = _asset_run(instance, defs, [raw_asset_key("provider")], dg.DagsterRunStatus.QUEUED)
    assert _dequeued(instance) == [raw.run_id]  # the first dequeue of this instance
    _report(instance, raw)

    _report(instance, building, "RUN_SUCCESS")
    assert _dequeued(instance) == [next_tick.run_id]  # the queue's order, one at a time
    _report(instance, next_tick)
    from_the_ui = _asset_run(instance, defs, [journey], dg.DagsterRunStatus.QUEUED)
    assert _dequeued(instance) == []
    instance.report_run_failed(instance.get_run_by_id(next_tick.run_id))
    assert _dequeued(instance) == [nightly.run_id]
    _report(instance, nightly)
    _report(instance, nightly, "RUN_SUCCESS")
    assert _dequeued(instance) == [from_the_ui.run_id]

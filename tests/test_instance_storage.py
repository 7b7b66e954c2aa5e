"""The demo's SQLite instance storage (``dental_assets.instance.DentalSqliteStorage``) against Dagster's
own ``DagsterSqliteStorage`` as the oracle: the same partition-range run, with Dagster's batched event
writes on, recorded in each, leaves the same rows in the event log's index shard (events, asset rows,
asset event tags, check executions) and gives the same answers to the instance's asset queries.

Also: ``dagster.demo.yaml`` loads that storage, and the project's ``dagster.yaml`` without
``DAGSTER_POSTGRES_URL`` does too; and ``ephemeral_instance()`` (``dental sync`` without DAGSTER_HOME)
records the same range run as Dagster's own ephemeral instance."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dental_assets.instance import (DentalSqliteEventLogStorage, DentalSqliteStorage, ephemeral_instance,
                                    no_sync_per_commit_in_wal, stored_in_bulk)
from dental_assets.partitions import partition_range_tags

REPO_ROOT = Path(__file__).resolve().parents[1]

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-03-01")
SPECS = [dg.AssetSpec(dg.AssetKey(["opendental", f"table_{i}"])) for i in range(3)]
CHECKS = [dg.AssetCheckSpec("matches_source", asset=spec.key, blocking=True) for spec in SPECS]


@dg.multi_asset(specs=SPECS, check_specs=CHECKS, partitions_def=DAYS, can_subset=True,
                backfill_policy=dg.BackfillPolicy.single_run())
def tables(context):
    for number, spec in enumerate(SPECS):
        yield dg.MaterializeResult(asset_key=spec.key, metadata={"rows_copied": dg.MetadataValue.int(number)})
        yield dg.AssetCheckResult(asset_key=spec.key, check_name="matches_source", passed=number != 1)


JOB = dg.Definitions(assets=[tables], jobs=[dg.define_asset_job("tables_job", selection=[tables])]) \
    .resolve_job_def("tables_job")

# Index-shard rows compared between the two storages: everything but timestamps, run ids and
# serialized events (which carry them; of an asset's last materialization, its event id and partition).
INDEX_QUERIES = {
    "event_logs": "select id, dagster_event_type, asset_key, partition, step_key from event_logs order by id",
    "asset_keys": "select asset_key, json_extract(last_materialization, '$.storage_id'), json_extract("
                  "last_materialization, '$.event_log_entry.dagster_event.event_specific_data.materialization"
                  ".partition'), last_run_id is not null, wipe_timestamp, last_materialization_timestamp is not "
                  "null from asset_keys order by asset_key",
    "asset_event_tags": "select event_id, asset_key, key from asset_event_tags order by id",
    "asset_check_executions": "select asset_key, check_name, partition, execution_status, "
                              "evaluation_event_storage_id from asset_check_executions order by id",
}


def _record_run(home: Path, storage: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Run the range over every day in an instance at ``home`` with ``storage``; returns what the
    instance answers and its index shard's rows."""
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": False}, "storage": storage}))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "16")
    with dg.DagsterInstance.get() as instance:
        answers = _run_and_ask(instance)
    with sqlite3.connect(home / "history" / "runs" / "index.db") as conn:
        rows = {table: conn.execute(query).fetchall() for table, query in INDEX_QUERIES.items()}
    [shard] = [path for path in (home / "history" / "runs").glob("*.db") if path.name != "index.db"]
    with sqlite3.connect(shard) as conn:  # the run's own shard holds every event of the run
        rows["run shard"] = conn.execute(INDEX_QUERIES["event_logs"]).fetchall()
    return {"answers": answers, "rows": rows}


def _run_and_ask(instance: dg.DagsterInstance) -> dict:
    """Run the range over every day in ``instance``; returns what the instance answers."""
    keys = DAYS.get_partition_keys()
    result = JOB.execute_in_process(instance=instance, tags=partition_range_tags(keys[0], keys[-1]),
                                    raise_on_error=False)
    answers = {
        "materializations": len(result.get_asset_materialization_events()),
        "storage": type(instance.event_log_storage).__name__,
    }
    for spec in SPECS:
        name = spec.key.to_user_string()
        answers[f"{name} partitions"] = sorted(instance.get_materialized_partitions(spec.key))
        latest = instance.get_latest_materialization_event(spec.key)
        answers[f"{name} latest"] = latest.dagster_event.partition if latest else None
        records = instance.fetch_materializations(spec.key, limit=1000).records
        answers[f"{name} records"] = [record.partition_key for record in records]
        answers[f"{name} rows_copied"] = {
            record.asset_materialization.metadata["rows_copied"].value for record in records}
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(spec.key, "matches_source")])
        answers[f"{name} check"] = {key.name: record.status.value for key, record in check.items()}
    return answers


def test_range_run_leaves_the_same_index_as_dagsters_sqlite_storage(tmp_path, monkeypatch):
    dagster_storage = {"sqlite": {"base_dir": str(tmp_path / "dagster")}}
    ours = {"custom": {"module": "dental_assets.instance", "class": "DentalSqliteStorage",
                       "config": {"base_dir": str(tmp_path / "ours")}}}
    expected = _record_run(tmp_path / "dagster", dagster_storage, monkeypatch)
    got = _record_run(tmp_path / "ours", ours, monkeypatch)

    _assert_recorded_alike(expected, got, ("SqliteEventLogStorage", "DentalSqliteEventLogStorage"))


def _assert_recorded_alike(expected: dict, got: dict, storages: tuple[str, str]) -> None:
    """The range run recorded whole by Dagster's storage (``expected``) and alike by ours (``got``):
    the same answers and index rows; ``storages``: the two event log classes' names."""
    assert (expected["answers"].pop("storage"), got["answers"].pop("storage")) == storages
    partitions = len(DAYS.get_partition_keys())
    assert expected["answers"]["materializations"] == len(SPECS) * partitions
    assert len(expected["rows"]["asset_event_tags"]) >= len(SPECS) * partitions  # the batches carry tags
    assert got["answers"] == expected["answers"]
    for table, rows in expected["rows"].items():
        assert got["rows"][table] == rows, table


def _store_batch_failing_at_the_third(storage, batch: list, monkeypatch: pytest.MonkeyPatch) -> None:
    """``storage.store_event_batch(batch)`` with the third write of an asset's row failing ("disk full"),
    after every event row of the batch is written when it is stored in bulk, after two events when event
    by event: the call must raise it. The storage's ``_store_asset_event`` is restored after."""
    cls = type(storage)
    store_asset_event = cls._store_asset_event
    stored: list = []

    def store_asset_event_failing_at_the_third(self, conn, event, event_id):
        stored.append(event)
        if len(stored) == 3:
            raise RuntimeError("disk full")
        store_asset_event(self, conn, event, event_id)

    monkeypatch.setattr(cls, "_store_asset_event", store_asset_event_failing_at_the_third)
    with pytest.raises(RuntimeError, match="disk full"):
        storage.store_event_batch(batch)
    monkeypatch.setattr(cls, "_store_asset_event", store_asset_event)


def _record_ephemeral(instance: dg.DagsterInstance) -> dict:
    """The range run in an ephemeral ``instance`` (batched event writes on): its answers and the rows of
    its in-memory event log."""
    answers = _run_and_ask(instance)
    with instance.event_log_storage.index_connection() as conn:
        rows = {table: conn.exec_driver_sql(query).fetchall() for table, query in INDEX_QUERIES.items()}
    return {"answers": answers, "rows": rows}


def test_ephemeral_instance_records_a_range_run_as_dagsters_ephemeral_instance(monkeypatch):
    """``ephemeral_instance()`` (``dental sync`` without DAGSTER_HOME; its event log on one connection,
    a batch in one transaction) against ``DagsterInstance.ephemeral()``: the same answers and rows."""
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "16")
    expected = _record_ephemeral(dg.DagsterInstance.ephemeral())
    got = _record_ephemeral(ephemeral_instance())

    _assert_recorded_alike(expected, got, ("InMemoryEventLogStorage", "DentalInMemoryEventLogStorage"))


def test_a_batch_that_fails_midway_leaves_no_rows_in_the_ephemeral_event_log(monkeypatch):
    """As for the SQLite storage below: Dagster stores a failed batch again event by event, so a batch
    commits whole or not at all."""
    keys = DAYS.get_partition_keys()
    source = dg.DagsterInstance.ephemeral()
    run = JOB.execute_in_process(instance=source, tags=partition_range_tags(keys[0], keys[-1]),
                                 raise_on_error=False)
    batch = [record.event_log_entry for record in source.get_records_for_run(run.run_id).records
             if record.event_log_entry.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION]
    assert len(batch) == len(SPECS) * len(keys)

    storage = ephemeral_instance().event_log_storage
    _store_batch_failing_at_the_third(storage, batch, monkeypatch)

    def counts() -> tuple[int, int]:
        with storage.index_connection() as conn:
            return (conn.exec_driver_sql("select count(*) from event_logs").fetchone()[0],
                    conn.exec_driver_sql("select count(*) from asset_event_tags").fetchone()[0])

    assert counts() == (0, 0)
    storage.store_event_batch(batch)
    events, tags = counts()
    assert events == len(batch) and tags >= len(batch)
    assert sorted(storage.get_materialized_partitions(SPECS[0].key)) == keys


def test_which_batches_are_stored_in_bulk():
    """A run's planned materializations and checks, or a step's materializations, are stored in bulk; a
    batch with another kind of event, two runs, or one asset's events of two types is not."""
    keys = DAYS.get_partition_keys()
    instance = dg.DagsterInstance.ephemeral()
    run = JOB.execute_in_process(instance=instance, tags=partition_range_tags(keys[0], keys[-1]),
                                 raise_on_error=False)
    events: dict = {}
    for record in instance.get_records_for_run(run.run_id).records:
        events.setdefault(record.event_log_entry.dagster_event_type, []).append(record.event_log_entry)
    planned = events[dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED]
    checks_planned = events[dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED]
    materialized = events[dg.DagsterEventType.ASSET_MATERIALIZATION]

    assert stored_in_bulk(planned + checks_planned) and stored_in_bulk(materialized)
    assert stored_in_bulk(checks_planned)
    assert not stored_in_bulk(planned + materialized)  # an asset's events of two types
    assert not stored_in_bulk(materialized + events[dg.DagsterEventType.ASSET_CHECK_EVALUATION])
    assert not stored_in_bulk(materialized + events[dg.DagsterEventType.STEP_START])
    assert not stored_in_bulk(materialized[:2] + [materialized[2]._replace(run_id="another run")])


def test_demo_instance_and_project_instance_without_postgres_use_the_storage(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_POSTGRES_URL", raising=False)
    for template in ("dagster.demo.yaml", "dagster.yaml"):
        home = tmp_path / template
        home.mkdir()
        shutil.copy(REPO_ROOT / template, home / "dagster.yaml")
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.get() as instance:
            assert isinstance(instance.get_ref().storage, DentalSqliteStorage), template
            assert isinstance(instance.event_log_storage, DentalSqliteEventLogStorage), template
        assert (home / "history" / "runs" / "index.db").exists(), template


def test_demo_storage_lives_in_the_folder_of_the_instance_that_loads_it(tmp_path, monkeypatch):
    """Like Dagster's default storage, ``dagster.demo.yaml``'s storage keeps its files in the folder
    of the instance that loads it, even when the environment names another one (a test or a script
    opening a demo's instance with ``DagsterInstance.from_config``)."""
    monkeypatch.delenv("DAGSTER_POSTGRES_URL", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("DENTAL_HOME", str(tmp_path / "dental_home"))
    home = tmp_path / "demo_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.demo.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_id = JOB.execute_in_process(instance=instance, partition_key=DAYS.get_first_partition_key(),
                                        raise_on_error=False).run_id
    assert (home / "history" / "runs" / f"{run_id}.db").exists()
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "dental_home").exists()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(run_id) is not None
        checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(spec.key, "matches_source") for spec in SPECS])
        assert len(checks) == len(SPECS)


def test_a_batch_that_fails_midway_leaves_no_rows(tmp_path, monkeypatch):
    """Dagster stores a failed batch again event by event: a batch must commit whole or not at all."""
    storage_config = {"sqlite": {"base_dir": str(tmp_path / "recorded")}}
    home = tmp_path / "recorded"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": False}, "storage": storage_config}))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    keys = DAYS.get_partition_keys()
    with dg.DagsterInstance.get() as instance:
        run = JOB.execute_in_process(instance=instance, tags=partition_range_tags(keys[0], keys[-1]),
                                     raise_on_error=False)
        entries = [record.event_log_entry for record in instance.get_records_for_run(run.run_id).records]
    batch = [entry for entry in entries if entry.is_dagster_event and
             entry.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION]
    assert len(batch) == len(SPECS) * len(keys)

    storage = DentalSqliteEventLogStorage(str(tmp_path / "replayed"))
    _store_batch_failing_at_the_third(storage, batch, monkeypatch)

    def counts() -> tuple[int, int, int]:
        with sqlite3.connect(tmp_path / "replayed" / "index.db") as index, \
                sqlite3.connect(tmp_path / "replayed" / f"{run.run_id}.db") as shard:
            return (index.execute("select count(*) from event_logs").fetchone()[0],
                    index.execute("select count(*) from asset_event_tags").fetchone()[0],
                    shard.execute("select count(*) from event_logs").fetchone()[0])

    assert counts() == (0, 0, 0)
    storage.store_event_batch(batch)
    index_events, tags, shard_events = counts()
    assert (index_events, shard_events) == (len(batch), len(batch)) and tags >= len(batch)
    assert sorted(storage.get_materialized_partitions(SPECS[0].key)) == keys
    storage.dispose()


def _locked_shards(folder: Path) -> list[str]:
    """The shard files of ``folder`` on which another connection cannot start a write transaction at
    once: someone holds one open (Dagster's files are in WAL mode, where an open read blocks no writer;
    the test's read through another storage covers reads)."""
    locked = []
    for path in sorted(folder.glob("*.db")):
        conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            locked.append(path.name)
        finally:
            conn.close()
    return locked


def test_kept_connections_hold_no_lock_between_uses_and_serve_every_thread(tmp_path, monkeypatch):
    """The storage keeps one connection per shard open between events. Between two uses it must hold
    no transaction and no read: another process, such as the UI's, writes at once and reads every
    event stored, and what another storage writes is read at once. Threads storing at the same time
    each get all their events in."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": False}, "storage": {
        "custom": {"module": "dental_assets.instance", "class": "DentalSqliteStorage",
                   "config": {"base_dir": str(home)}}}}))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    keys = DAYS.get_partition_keys()
    runs = home / "history" / "runs"
    per_thread = 40
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, DentalSqliteEventLogStorage)
        run = JOB.execute_in_process(instance=instance, tags=partition_range_tags(keys[0], keys[-1]),
                                     raise_on_error=False)
        assert _locked_shards(runs) == []

        def report(thread: int) -> None:
            for number in range(per_thread):
                instance.report_runless_asset_event(dg.AssetMaterialization(
                    asset_key=["opendental", f"thread_{thread}"], partition=keys[number % len(keys)]))

        threads = [threading.Thread(target=report, args=(thread,)) for thread in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert _locked_shards(runs) == []
        for thread in range(4):
            key = dg.AssetKey(["opendental", f"thread_{thread}"])
            assert len(instance.fetch_materializations(key, limit=1000).records) == per_thread
        # a write through another storage on the same files (another process's) is read at once: no
        # kept connection reads from an old snapshot (WAL mode: a read left open would pin one)
        with dg.DagsterInstance.get() as other:
            assert other.event_log_storage is not instance.event_log_storage
            other.report_runless_asset_event(dg.AssetMaterialization(asset_key=["opendental", "thread_0"]))
        key = dg.AssetKey(["opendental", "thread_0"])
        assert len(instance.fetch_materializations(key, limit=1000).records) == per_thread + 1
        # what another process reads while the connections stay open: every event of the run
        with sqlite3.connect(runs / f"{run.run_id}.db") as conn:
            stored = conn.execute("select count(*) from event_logs").fetchone()[0]
        assert stored == len(instance.get_records_for_run(run.run_id, limit=100_000).records)
        assert stored > len(SPECS) * len(keys)


LOCK_HELD_SECONDS = 7  # longer than pysqlite's default wait (5 s), well within the storages' 30 s


def test_run_and_schedule_writes_wait_for_another_connections_lock(tmp_path, monkeypatch):
    """The daemon's case: another process holds the write lock of ``runs.db`` and ``schedules.db`` (here
    another connection, ``BEGIN IMMEDIATE``) for 7 s. A run recorded and a sensor's state saved by the
    demo's instance wait for it and succeed; with pysqlite's default 5 s (Dagster's own run and schedule
    storages) they failed with "database is locked"."""
    from dagster._core.scheduler.instigation import (InstigatorState, InstigatorStatus, InstigatorType,
                                                     SensorInstigatorData)
    from dagster._core.test_utils import create_run_for_test

    from dental_assets.instance import DentalSqliteRunStorage, DentalSqliteScheduleStorage
    from dental_assets.defs.synthetic.jobs import remote_job_origin

    monkeypatch.delenv("DAGSTER_POSTGRES_URL", raising=False)
    home = tmp_path / "demo_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.demo.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, DentalSqliteRunStorage)
        assert isinstance(instance.schedule_storage, DentalSqliteScheduleStorage)
        holders = []
        for path in (home / "history" / "runs.db", home / "schedules" / "schedules.db"):
            holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            holder.execute("BEGIN IMMEDIATE")  # the write lock, as a writer in another process holds it
            holders.append(holder)
        release = threading.Timer(LOCK_HELD_SECONDS, lambda: [h.execute("COMMIT") for h in holders])
        release.start()
        try:
            run = create_run_for_test(instance, job_name="dbt_job", remote_job_origin=remote_job_origin("dbt_job"))
            origin = remote_job_origin("dbt_job").repository_origin.get_instigator_origin("raw_change_sensor")
            instance.add_instigator_state(InstigatorState(origin, InstigatorType.SENSOR, InstigatorStatus.RUNNING,
                                                          SensorInstigatorData()))
        finally:
            release.join()
            for holder in holders:
                holder.close()
        assert instance.get_run_by_id(run.run_id) is not None
        assert instance.all_instigator_state()[0].status == InstigatorStatus.RUNNING


def test_asset_key_columns_once_found_are_remembered_and_a_missing_one_looked_up_again(tmp_path):
    """Both event logs answer Dagster's per-event question (does ``asset_keys`` have a column) from the
    table at first, then from memory once the column is found; a column not found is asked again, so a
    migration that adds it is seen."""
    for storage in (DentalSqliteEventLogStorage(str(tmp_path)), ephemeral_instance().event_log_storage):
        with storage.index_connection() as conn:
            assert storage._has_asset_key_col_on_connection(conn, "last_materialization_timestamp")
            assert not storage._has_asset_key_col_on_connection(conn, "added_later")
            conn.exec_driver_sql("ALTER TABLE asset_keys ADD COLUMN added_later TEXT")
            assert storage._has_asset_key_col_on_connection(conn, "added_later")
            conn.exec_driver_sql("ALTER TABLE asset_keys DROP COLUMN added_later")
            # remembered: no longer read from the table (nothing here drops a column; this test does)
            assert storage._has_asset_key_col_on_connection(conn, "added_later")
        storage.dispose()


def test_event_log_shards_commit_without_a_sync_only_in_wal_mode(tmp_path):
    """The event log's connections to its shards (Dagster creates them in WAL mode) run at
    ``synchronous=NORMAL``; a database in another journal mode keeps SQLite's default, FULL (NORMAL would
    leave it open to corruption on a power cut)."""
    normal, full = 1, 2
    storage = DentalSqliteEventLogStorage(str(tmp_path / "runs"))
    for connection in (storage.index_connection(), storage.run_connection("a-run")):
        with connection as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == normal
    storage.dispose()

    rollback_journal = sqlite3.connect(tmp_path / "other.db")
    assert rollback_journal.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    no_sync_per_commit_in_wal(rollback_journal)
    assert rollback_journal.execute("PRAGMA synchronous").fetchone()[0] == full
    rollback_journal.close()

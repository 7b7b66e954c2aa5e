"""The Dagster instance's storage, chosen by the environment when the instance is loaded.

The project's ``dagster.yaml`` names ``DentalInstanceStorage`` as its storage, so the same file serves
an operated deployment and a workstation:

- ``DAGSTER_POSTGRES_URL`` set (a SQLAlchemy URL naming its driver,
  ``postgresql+psycopg2://user:password@host:5432/dagster``): runs, event logs and schedule/sensor
  state in that PostgreSQL database (dagster-postgres' ``DagsterPostgresStorage``);
- otherwise SQLite files (``DentalSqliteStorage``: Dagster's default layout and schema, with a faster
  event log, ``DentalSqliteEventLogStorage``) in ``$DAGSTER_HOME``, or,
  when ``DAGSTER_HOME`` is not set (``dagster dev``, ``dagster definitions validate``, ``dg dev`` or
  ``dg check defs`` started in the repository root, which read ./dagster.yaml), in the demo's instance
  folder ``$DENTAL_HOME/dagster_home`` (default ``./.dental/dagster_home``), so those commands show
  the runs of ``./dev demo``.

``ephemeral_instance()`` is Dagster's ephemeral instance with a faster in-memory event log
(``DentalInMemoryEventLogStorage``), for runs in this process whose records need not outlive it (the
tests' and ``bench/practice_day.py``'s sensor runs). ``dental sync`` without ``DAGSTER_HOME`` uses no
instance at all: it does its runs' work without Dagster runs (``defs/raw/sync_command.py``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import yaml

from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import InMemoryEventLogStorage
from dagster._core.storage.event_log.base import EventLogCursor
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.schedules import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (DagsterSqliteStorage, _event_logs_directory, _runs_directory,
                                                  _schedule_directory)
from dagster._serdes import ConfigurableClass, ConfigurableClassData, serialize_value
from sqlalchemy import create_engine
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, StaticPool

POSTGRES_URL_ENV = "DAGSTER_POSTGRES_URL"
EVENT_BATCH_ENV = "DAGSTER_EVENT_BATCH_SIZE"


def enable_event_batches(environ: os._Environ[str] | dict[str, str] = os.environ) -> None:
    """Turn on Dagster's batched event writes (``DAGSTER_EVENT_BATCH_SIZE``, read by Dagster at each
    event) unless the environment already sets it: the materializations one step records for a range
    of partitions (a range run of the raw layer: one per table and month, 2,940 for 35 tables over 84
    months) are stored as one batch. PostgreSQL instance storage writes a batch in one statement
    (measured: 96 s -> 12 s for 2,940 events); this project's SQLite and in-memory event logs store it
    in bulk (``_EventBatchesInBulk``; docs/operations.md). ``0`` turns it off."""
    from dental_assets.settings import DEFAULT_EVENT_BATCH_SIZE

    environ.setdefault(EVENT_BATCH_ENV, str(DEFAULT_EVENT_BATCH_SIZE))


def sqlite_storage_dir(environ: os._Environ[str] | dict[str, str] = os.environ) -> Path:
    """Where the SQLite storage lives: ``$DAGSTER_HOME``, else ``$DENTAL_HOME/dagster_home`` (DENTAL_HOME
    defaults to ``./.dental``), as an absolute path."""
    if environ.get("DAGSTER_HOME"):
        return Path(environ["DAGSTER_HOME"]).expanduser().resolve()
    return (Path(environ.get("DENTAL_HOME") or ".dental").expanduser() / "dagster_home").resolve()


class DentalInstanceStorage(DagsterStorage, ConfigurableClass):
    """A storage entry for ``dagster.yaml`` (``storage: custom: module: dental_assets.instance, class:
    DentalInstanceStorage``) that takes no config. Loading it returns the storage itself: a
    ``DagsterPostgresStorage`` on ``$DAGSTER_POSTGRES_URL`` when that is set, else a
    ``DagsterSqliteStorage`` in ``sqlite_storage_dir()``. The class is never instantiated."""

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: dict) -> DagsterStorage:  # type: ignore[override]
        url = os.environ.get(POSTGRES_URL_ENV)
        if url:
            from dagster_postgres import DagsterPostgresStorage

            return DagsterPostgresStorage(postgres_url=url, inst_data=inst_data)
        return DentalSqliteStorage(str(sqlite_storage_dir()), inst_data=inst_data)


class _AssetKeyColumnsFound:
    """Dagster's event log asks, for every asset event it stores, whether its ``asset_keys`` table has the
    index columns (``last_materialization_timestamp``), by reading the table's columns from the database
    (SQLAlchemy's inspector: a ``PRAGMA table_info`` each time). Here a column once found is remembered
    (migrations add columns, nothing here drops one); a column not found is looked up again."""

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        found: set[str] = self.__dict__.setdefault("_asset_key_columns_found", set())
        if column_name in found:
            return True
        if super()._has_asset_key_col_on_connection(conn, column_name):  # type: ignore[misc]
            found.add(column_name)
            return True
        return False


# The event types whose batches are stored in bulk (``_EventBatchesInBulk``). Storing an asset event one by
# one inserts its event row and its tags and sets its asset's row of ``asset_keys`` from that event alone
# (``SqlEventLogStorage._store_asset_event``), so among an asset's events of one type the last one
# decides that row; storing a planned check evaluation inserts its event row and its rows of
# ``asset_check_executions``, from that event alone.
ASSET_EVENT_TYPES = frozenset({DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION,
                               DagsterEventType.ASSET_MATERIALIZATION_PLANNED})
CHECK_PLANNED = DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED


def stored_in_bulk(events: Sequence[EventLogEntry]) -> bool:
    """Whether a batch can be stored in bulk: the events of one run, each a planned check evaluation or an
    asset event of ``ASSET_EVENT_TYPES`` naming its asset, and each asset's events of one type."""
    if len({event.run_id for event in events}) != 1:
        return False
    type_of_asset: dict = {}
    for event in events:
        event_type = event.dagster_event_type
        if event_type == CHECK_PLANNED:
            continue
        dagster_event = event.get_dagster_event()
        asset_key = dagster_event.asset_key if event_type in ASSET_EVENT_TYPES else None
        if asset_key is None or type_of_asset.setdefault(asset_key, event_type) != event_type:
            return False
    return True


class _EventBatchesInBulk:
    """A batch of asset events and planned check evaluations (``stored_in_bulk``: the materializations one
    step records for a range of partitions, a run's planned materializations and checks) stored as
    Dagster's ``store_event`` stores them one by one, leaving the same rows, with fewer statements: the
    event rows in one multi-row insert; the asset events' tags in another, and each asset's row of
    ``asset_keys`` set once, from its last event of the batch, instead of an insert (which fails once the
    asset has a row) and an update per event, each serializing the event again; a planned check
    evaluation's rows of ``asset_check_executions`` (one per partition) with the event serialized once
    instead of once per partition."""

    def _store_events_in_bulk(self, conn: Connection, events: Sequence[EventLogEntry], rows: list[dict]) -> None:
        """Insert ``rows`` (``_event_to_row`` of ``events``, in order) into ``conn``'s event log, then what
        each event adds to the other tables. Call inside the batch's transaction."""
        inserted = conn.execute(
            SqlEventLogStorageTable.insert().returning(SqlEventLogStorageTable.c.id, sort_by_parameter_order=True),
            rows)
        stored = list(zip(events, [row[0] for row in inserted]))
        asset_events = [(event, event_id) for event, event_id in stored if event.dagster_event_type != CHECK_PLANNED]
        if asset_events:
            self._store_asset_event_tags(conn, *zip(*asset_events))  # type: ignore[attr-defined]
        last_of_asset = {event.dagster_event.asset_key: (event, event_id)  # type: ignore[union-attr]
                         for event, event_id in asset_events}
        for event, event_id in last_of_asset.values():
            self._store_asset_event(conn, event, event_id)  # type: ignore[attr-defined]
        for event, event_id in stored:
            if event.dagster_event_type == CHECK_PLANNED:
                self._store_asset_check_evaluation_planned(event, event_id)

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id: int | None) -> None:
        """Dagster's rows of ``asset_check_executions`` for a planned check evaluation, one per partition
        planned (one row without a partition when none is), in one insert, with the event serialized once."""
        planned = event.dagster_event.event_specific_data  # type: ignore[union-attr]
        partitions = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        row = {"asset_key": planned.asset_key.to_string(), "check_name": planned.check_name,
               "run_id": event.run_id, "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
               "evaluation_event": serialize_value(event),
               "evaluation_event_timestamp": self._event_insert_timestamp(event),  # type: ignore[attr-defined]
               "evaluation_event_storage_id": event_id}
        with self.index_connection() as conn:  # type: ignore[attr-defined]
            conn.execute(AssetCheckExecutionsTable.insert(), [{**row, "partition": key} for key in partitions])


def no_sync_per_commit_in_wal(dbapi_connection, _record=None) -> None:
    """On a new connection to an event log shard in WAL mode (Dagster creates its shards so), SQLite's
    ``synchronous=NORMAL``: a commit appends to the write-ahead log without waiting for the disk, which
    is synced at each checkpoint. The file stays consistent whatever happens; a power cut or an operating
    system crash (not a crash of the process) can lose the last commits, the last events of a run. In any
    other journal mode the connection keeps SQLite's default (``FULL``), which NORMAL would make open to
    corruption on a power cut. Measured on 960 events stored one by one (a dbt step's materializations
    and check evaluations, ``bench/event_storage.py --workload checks``): 5.5 s -> 3.8-4.8 s."""
    cursor = dbapi_connection.cursor()
    try:
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


# How many run shards keep an engine between events; the index shard counts as one of them.
SQLITE_ENGINES_KEPT = 8


class DentalSqliteEventLogStorage(_AssetKeyColumnsFound, _EventBatchesInBulk, SqliteEventLogStorage):
    """Dagster's SQLite event log (an ``index.db`` shard plus one ``<run_id>.db`` shard per run: the same
    files, schema and rows), with three changes to how events are written:

    - an engine and one open connection per shard are kept (the last ``SQLITE_ENGINES_KEPT`` shards)
      instead of an engine and a connection per use, so SQLAlchemy's compiled-statement cache works
      and SQLite neither reopens the file nor re-reads the schema for every event. Every use of a
      shard is one transaction on its connection, under the storage's lock (one thread at a time), so
      a use never shares a transaction with another thread's; a connection whose use raised is closed,
      not reused. Between uses a connection holds no transaction, hence no lock on the file;
    - a batch of events (``DAGSTER_EVENT_BATCH_SIZE``: the planned events of a run's assets and checks,
      the partitions one step records for a range run) is stored inside one transaction on the run's
      shard and one on the index shard (a thread's nested connection to a shard it holds open joins the
      open transaction), instead of two to four transactions per event: in bulk when
      ``stored_in_bulk`` (``_EventBatchesInBulk``; the rows written to the run's shard and mirrored in
      the index shard, as Dagster's ``store_event`` does), else event by event with Dagster's
      ``store_event``. A batch that fails is rolled back whole; Dagster then stores its events one by one;
    - a shard in WAL mode commits without a sync (``no_sync_per_commit_in_wal``).

    Measured on 3,000 partition materializations of one step (``bench/event_storage.py``): Dagster's
    storage 32-37 s, this one 1.0-1.4 s (docs/operations.md). Opening and closing a connection per use
    cost 13 s of the warm demo's 67 s of Dagster CPU (py-spy), mostly for the dbt step's 1,650 check
    evaluations and outputs, which Dagster stores one by one."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._connections: dict[str, tuple[int, Connection]] = {}  # shard -> (pid, open connection)
        self._engines_lock = threading.Lock()
        self._open = threading.local()  # shard -> the connection this thread holds open on it
        self._tables_found: set[str] = set()
        super().__init__(base_dir, inst_data)
        self._db_lock = threading.RLock()  # a batch holds two shards' connections on one thread

    def _shard_engine(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            # check_same_thread off: a shard's connection serves every thread, one at a time (_db_lock)
            engine = create_engine(self.conn_string_for_shard(shard), poolclass=NullPool,
                                   connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                                                 "check_same_thread": False})
            sqlalchemy_event.listen(engine, "connect", no_sync_per_commit_in_wal)
            self._engines[shard] = engine
            while len(self._engines) > SQLITE_ENGINES_KEPT:
                evicted, old = self._engines.popitem(last=False)
                self._close_connection(evicted)
                old.dispose()
            return engine

    def _shard_connection(self, shard: str) -> Connection:
        """The shard's open connection (opened on first use, and again in a forked process). Call under
        ``_db_lock``."""
        engine = self._shard_engine(shard)
        kept = self._connections.get(shard)
        if kept is not None and kept[0] == os.getpid():
            return kept[1]
        conn = engine.connect()
        self._connections[shard] = (os.getpid(), conn)
        return conn

    def _close_connection(self, shard: str) -> None:
        kept = self._connections.pop(shard, None)
        if kept is not None and kept[0] == os.getpid():
            kept[1].close()

    def _close_connections(self) -> None:
        with self._db_lock:
            for shard in list(self._connections):
                self._close_connection(shard)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        held: dict[str, Connection] = self._open.__dict__.setdefault("shards", {})
        if shard in held:  # nested on this thread: join the open transaction
            yield held[shard]
            return
        with self._db_lock:
            if shard not in self._initialized_dbs:
                self._initdb(self._shard_engine(shard))
                self._initialized_dbs.add(shard)
            conn = self._shard_connection(shard)
            try:
                with conn.begin():
                    held[shard] = conn
                    try:
                        yield conn
                    finally:
                        del held[shard]
            except BaseException:
                self._close_connection(shard)  # rolled back; a failed connection is not reused
                raise

    def has_table(self, table_name: str) -> bool:
        """Whether the index shard has the table; a table once found is remembered (migrations add
        tables, nothing here drops one)."""
        if table_name in self._tables_found:
            return True
        with self._db_lock:
            engine = self._shard_engine(INDEX_SHARD_NAME)
            with engine.connect() as conn:
                found = bool(engine.dialect.has_table(conn, table_name))
        if found:
            self._tables_found.add(table_name)
        return found

    def wipe(self) -> None:
        self._close_connections()
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
        super().wipe()

    def dispose(self) -> None:
        self._close_connections()
        super().dispose()

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        run_ids = {event.run_id for event in events}
        if len(run_ids) != 1:
            super().store_event_batch(events)
            return
        with self.run_connection(run_ids.pop()) as run_conn, self.index_connection() as index_conn:
            if not stored_in_bulk(events):
                for event in events:
                    self.store_event(event)
                return
            rows = [self._event_to_row(event) for event in events]
            run_conn.execute(SqlEventLogStorageTable.insert(), rows)
            self._store_events_in_bulk(index_conn, events, rows)


class DentalInMemoryEventLogStorage(_AssetKeyColumnsFound, _EventBatchesInBulk, InMemoryEventLogStorage):
    """Dagster's in-memory event log (same tables, in a named shared-cache SQLite memory database) on one
    connection, instead of a new connection and two PRAGMAs for every use, and with a batch of events
    (``DAGSTER_EVENT_BATCH_SIZE``) stored in one transaction, in bulk when ``stored_in_bulk``
    (``_EventBatchesInBulk``): Dagster's in-memory storage stores a batch event by event, each in
    transactions of its own. Every use is a transaction on that connection under
    the storage's lock (one thread at a time); a thread's nested use (a batch) joins its open
    transaction. The event log of ``ephemeral_instance()``: a range run over every month of a
    50,000-patient practice stores ~3,000 materializations."""

    def __init__(self, inst_data: ConfigurableClassData | None = None):
        super().__init__(inst_data)  # the database, kept alive by the connection it holds
        # check_same_thread off: the one connection serves every thread, one at a time (_db_lock)
        self._engine = create_engine(self._engine.url, poolclass=StaticPool,
                                     connect_args={"check_same_thread": False})
        self._db_lock = threading.RLock()
        self._open = threading.local()
        with self._engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        held = getattr(self._open, "conn", None)
        if held is not None:  # nested on this thread: join the open transaction
            yield held
            return
        with self._db_lock, self._engine.connect() as conn, conn.begin():
            self._open.conn = conn
            try:
                yield conn
            finally:
                self._open.conn = None

    def has_table(self, table_name: str) -> bool:
        # on the storage's connection: a connection of its own would be the same one (one connection in
        # the pool), and returning it to the pool rolls back the open transaction of a batch
        with self._connect() as conn:
            return bool(self._engine.dialect.has_table(conn, table_name))

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        if not stored_in_bulk(events):
            with self._connect():
                for event in events:
                    self.store_event(event)
            return
        with self._connect() as conn:
            self._store_events_in_bulk(conn, events, [self._event_to_row(event) for event in events])
        for event in events:  # the run's watchers, told of each event as Dagster's store_event tells them
            self._storage_id += 1
            for handler in list(self._handlers[event.run_id]):
                try:
                    handler(event, str(EventLogCursor.from_storage_id(self._storage_id)))
                except Exception:  # a watcher's failure is logged, the events are stored
                    logging.getLogger(__name__).exception("a watcher of run %s failed", event.run_id)


def ephemeral_instance() -> DagsterInstance:
    """An ephemeral instance as ``DagsterInstance.ephemeral()`` makes (in-memory runs, no compute logs,
    runs launched in this process) with ``DentalInMemoryEventLogStorage`` as its event log."""
    from dagster._core.instance.types import InstanceType
    from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher
    from dagster._core.run_coordinator import DefaultRunCoordinator
    from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
    from dagster._core.storage.root import TemporaryLocalArtifactStorage
    from dagster._core.storage.runs import InMemoryRunStorage

    return DagsterInstance(
        instance_type=InstanceType.EPHEMERAL,
        local_artifact_storage=TemporaryLocalArtifactStorage(),
        run_storage=InMemoryRunStorage(),
        event_storage=DentalInMemoryEventLogStorage(),
        compute_log_manager=NoOpComputeLogManager(),
        run_coordinator=DefaultRunCoordinator(),
        run_launcher=SyncInMemoryRunLauncher(),
    )


class _WaitingForTheLock:
    """``connect()`` of Dagster's SQLite run and schedule storages (a new engine per use, one transaction),
    whose connections wait ``SQLITE_BUSY_TIMEOUT_SECONDS`` (30 s, what Dagster's event log waits) for
    another process's write lock instead of pysqlite's default 5 s. Under ``dagster-daemon`` on the demo's
    instance (2026-12-06), sensors, the queue and runs writing at once failed 13 operations in an hour
    with "database is locked": one lost a raw sensor tick's requests (asked again 5 minutes later), one
    recorded an alert twice."""

    _conn_string: str

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        engine = create_engine(self._conn_string, poolclass=NullPool,
                               connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        with engine.connect() as conn, conn.begin():
            yield conn


class DentalSqliteRunStorage(_WaitingForTheLock, SqliteRunStorage):
    """Dagster's SQLite run storage (``runs.db``), waiting up to 30 s for a write lock."""


class DentalSqliteScheduleStorage(_WaitingForTheLock, SqliteScheduleStorage):
    """Dagster's SQLite schedule and sensor storage (``schedules.db``), waiting up to 30 s for a write lock."""


class DentalSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite instance storage (runs, event logs, schedules as files under ``base_dir``, the
    same config) with ``DentalSqliteEventLogStorage`` as its event log, and run and schedule storages
    that wait for another process's write lock as long as the event log does (``_WaitingForTheLock``).
    ``DentalInstance`` makes it the default storage of the demo's instance; ``DentalInstanceStorage``
    uses it without PostgreSQL."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        # what DagsterSqliteStorage.__init__ sets, with this module's storages: calling it would open (and
        # create or migrate) Dagster's own three first
        self.base_dir = base_dir
        self._run_storage = DentalSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = DentalSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = DentalSqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: dict) -> DentalSqliteStorage:  # type: ignore[override]
        return cls.from_local(inst_data=inst_data, **config_value)


class DentalInstance(DagsterInstance):
    """The demo's Dagster instance (``dagster.demo.yaml``: ``instance_class: module:
    dental_assets.instance, class: DentalInstance``): Dagster's own instance whose default storage is
    ``DentalSqliteStorage`` in the instance's folder, as Dagster's default SQLite storage is (the folder
    of ``$DAGSTER_HOME`` or the one given to ``DagsterInstance.from_config``). A ``storage`` key in the
    same file still overrides it. No config of its own."""

    @classmethod
    def config_schema(cls) -> dict:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, ConfigurableClassData | None]:
        return {
            **InstanceRef.config_defaults(base_dir),
            "storage": ConfigurableClassData(
                "dental_assets.instance", "DentalSqliteStorage", yaml.safe_dump({"base_dir": base_dir})),
        }

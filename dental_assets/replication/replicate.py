"""One window of raw tables brought up to date with the MariaDB source, without Dagster: each table
synced (``sync.sync_window``), its declared indexes created, a full copy analyzed, then checked against
the source (``sync.verify_window``), the check's verdict recorded in the warehouse
(``check_failures``: a failed check blocks the dbt builds until a passing one covers its window). The
raw assets' step (``defs/raw/assets.py``) records each finished table in Dagster; ``dental sync``
without ``DAGSTER_HOME`` (``replication.direct``) only reports it. A table whose own data or schema
fails it (``table_error``) does not stop the tables after it; the run fails at the end, naming each.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from psycopg2 import errorcodes

from dental_assets.catalog import RAW_SCHEMA, Table, create_raw_indexes, quote_pg
from dental_assets.errors import ConfigurationError
from dental_assets.partitions import Window
from dental_assets.replication import check_failures
from dental_assets.replication.extract import COPY_CONTEXT, RawValueRefused  # (raised by the COPY too)
from dental_assets.replication.mysql import SourceQueryError, reusing
from dental_assets.replication.sync import check_scope, sync_window, verify_window
from dental_assets.roles import layer_session
from dental_assets.warehouse import connection_lost

# a fully copied table of at least this many rows is analyzed at once (``copy_statistics_sql``; smaller
# ones: by autovacuum)
ANALYZE_MIN_ROWS = 10_000
# PostgreSQL's statistics target of that analysis (it samples 300 x target rows; PostgreSQL's default: 100)
COPY_STATISTICS_TARGET = 10
# a table whose warehouse connection is lost mid-way (a server restart, a failover, an idle-session
# timeout, pg_terminate_backend) is tried this many times in all, each on a new connection, after
# WAREHOUSE_RETRY_SECONDS * 2**n seconds: its transaction was rolled back, so raw is as before each try
WAREHOUSE_ATTEMPTS = 3
WAREHOUSE_RETRY_SECONDS = 1.0

log = logging.getLogger(__name__)


class WarehouseConnectionLost(RuntimeError):
    """The warehouse connection was lost during a table's sync or check on every attempt
    (``WAREHOUSE_ATTEMPTS``); the message names the table and the server (no credentials)."""


class TablesFailed(RuntimeError):
    """Two or more tables of one run failed with their own errors (``table_error``) while the other
    tables were synced and checked: one line per failed table (its error's type and message: names,
    codes and counts, no value). ``errors``: ``(table name, exception)`` in the run's order."""

    def __init__(self, errors: list[tuple[str, BaseException]], tables: int):
        self.errors = errors
        super().__init__(f"{len(errors)} of {tables} tables failed, the others were synced and checked:\n"
                         + "\n".join(failed_line(name, exc) for name, exc in errors))


def failed_line(name: str, exc: BaseException) -> str:
    """One line naming the failed table ``name`` and its error (type and message, on one line)."""
    text = " ".join(str(exc).split()) or "no message"
    named = f"raw.{name}" in text or f"table {name}" in text
    return f"{type(exc).__name__}: {text}" if named else f"raw.{name}: {type(exc).__name__}: {text}"


def table_error(exc: BaseException, table: Table) -> bool:
    """Whether ``exc`` (after ``refused_value``) is ``table``'s own: the other tables of the run go on.
    Those are a value or row the warehouse refused (``RawValueRefused``: a column an OpenDental upgrade
    retyped, a constraint on raw), the table's schema at the source (``ConfigurationError`` of
    ``OPENDENTAL_URL table <table>``: the table, its key or business-date column gone, a column of a
    type the catalog cannot map) and a query the source refused (``SourceQueryError``: not a
    connection loss). Anything else stops the run's later tables: a lost connection (the source's or
    the warehouse's, after their retries), the source's login refused (``ConfigurationError`` of
    ``OPENDENTAL_URL``), another warehouse error, an interruption, a defect."""
    if isinstance(exc, (RawValueRefused, SourceQueryError)):
        return True
    return isinstance(exc, ConfigurationError) and exc.setting == f"OPENDENTAL_URL table {table.name}"


REFUSED_CLASSES = ("22", "23")  # SQLSTATE classes: data exception, integrity constraint violation


def refused_value(exc: BaseException, table: Table) -> RawValueRefused | None:
    """``exc`` as a ``RawValueRefused`` naming ``table`` when it is PostgreSQL refusing a value or a row
    (``REFUSED_CLASSES``), else None. Of the error it keeps the SQLSTATE and its name, the column (the
    error's own field, or the COPY's context) with raw's type for it from the catalog, the constraint's
    name and the COPY's line number; its message, detail and context, which quote the value or the
    whole row, are left out."""
    code = getattr(exc, "pgcode", None)
    diag = getattr(exc, "diag", None)
    if not code or code[:2] not in REFUSED_CLASSES or diag is None:
        return None
    copy = COPY_CONTEXT.search(diag.context or "")
    column = diag.column_name or (copy["column"].strip() if copy and copy["column"] else None)
    found = []
    if column:
        pg_type = next((c.pg_type for c in table.columns if c.name == column), None)
        found.append(f"column {column}" + (f" (raw's type {pg_type})" if pg_type else ""))
    if diag.constraint_name:
        found.append(f"constraint {diag.constraint_name}")
    if copy:
        found.append(f"line {copy['line']} of the COPY into {copy['relation']}")
    name = (errorcodes.lookup(code) or "error").lower()
    return RawValueRefused(
        f"raw.{table.name}: the warehouse refused a value from the source ({name}, SQLSTATE {code}"
        + "".join(f"; {part}" for part in found)
        + "); the value is not shown, as it may be patient data: compare the source column's type and "
        "values with raw's, or the constraint")


def _where(warehouse) -> str:
    """The warehouse's server, without credentials, for an error message."""
    for owner in (warehouse, getattr(warehouse, "params", None)):
        describe = getattr(owner, "describe", None)
        if callable(describe):
            return describe()
    return "the warehouse"


@dataclasses.dataclass
class Replicated:
    """One table's outcome on the MariaDB path: the sync, and the check when it is selected (``equal``,
    both sides' fingerprints, the scope hashed, whether the window was re-copied whole, its seconds)."""

    table: Table
    result: object  # replication.sync.SyncResult
    # (equal, source, raw, scope, incremental syncs after a failed check, re-copied whole, seconds)
    check: tuple | None = None


def copy_statistics_sql(table: Table) -> str:
    """The statements that analyze raw's ``table`` after a full copy of ``ANALYZE_MIN_ROWS`` rows or more,
    in the caller's transaction: every column, from a sample of 3,000 rows (``COPY_STATISTICS_TARGET``
    10; PostgreSQL's default samples 30,000). They give the table's row count (``pg_class.reltuples``),
    the key's histogram, which the blocking check's key ranges need (without it PostgreSQL reads every
    row for each range), and every column's null fraction, distinct count and most common values for
    dbt's plans. Autovacuum analyzes the table again at the server's own target once a tenth of it has
    changed (``autovacuum_analyze_scale_factor``'s default). At the default target, the 43 tables of
    10,000 rows or more of a 50,000-patient practice took 8.3 s to analyze; at 10, 0.7 s
    (docs/replication.md)."""
    return (f"SET LOCAL default_statistics_target = {COPY_STATISTICS_TARGET}; "
            f"ANALYZE {quote_pg(RAW_SCHEMA)}.{quote_pg(table.name)}")


def replicate_table(params, conn, table: Table, window: Window | None, mode: str, check: bool,
                    sample: int, writer: str | None = None) -> Replicated:
    """Sync ``table``'s window on ``conn``, create its declared indexes, analyze a full copy
    (``copy_statistics_sql``), then (``check``) compare the window with the source; when they differ, the
    window is synced again and compared again, as ``REPAIRS`` says, until they agree or the list ends.
    The check's final verdict is recorded in its own committed transaction (``check_failures.record``:
    a failure blocks the dbt builds reading the table until a passing check covers the window).
    Database work only: no Dagster call, so it can run on the worker thread of ``replicate_tables``.
    ``writer``: the token of the ``dental sync`` running this (``verified.CLAIM_TAG``), whose claim on the
    table survives the write (``verified.forget``)."""
    result = sync_window(params, conn, table, window, mode=mode, writer=writer)
    with conn, conn.cursor() as cur:  # the declared indexes, on the warehouse copy only
        create_raw_indexes(cur, table)
    if result.mode == "full" and result.rows_copied >= ANALYZE_MIN_ROWS:
        # statistics of the new rows, for the check's key ranges and dbt's plans (a smaller table is
        # left to autovacuum: the planner's size estimate serves until then)
        with conn, conn.cursor() as cur:
            cur.execute(copy_statistics_sql(table))
    if not check:
        return Replicated(table, result)
    started = time.perf_counter()
    name = f"{RAW_SCHEMA}.{table.name}"
    if check_failures.overlaps_unrepaired(conn, name, window):
        sample = 1  # a sample that missed the differing row would clear the failure: every row
    scope = check_scope(result, sample)
    equal, src, raw = verify_window(params, conn, table, window, scope=scope, reread_keys=result.reread_keys,
                                    clock=result.source_clock, key_max=result.source_key_max)
    synced_again, repaired = 0, False
    try:
        for step in REPAIRS[result.mode]:
            if equal:
                break
            again = sync_window(params, conn, table, window, mode=step, writer=writer)
            synced_again += step == "incremental"
            repaired = repaired or step == "full"
            scope = check_scope(again, sample)
            equal, src, raw = verify_window(params, conn, table, window, scope=scope,
                                            reread_keys=again.reread_keys, clock=again.source_clock,
                                            key_max=again.source_key_max)
    except BaseException:  # a repair that raised leaves the window as the failed check found it
        with contextlib.suppress(Exception):
            check_failures.record(conn, name, window, False, src[0], raw[0])
        raise
    check_failures.record(conn, name, window, equal, src[0], raw[0])
    return Replicated(table, result, (equal, src, raw, scope, synced_again, repaired, time.perf_counter() - started))


# after a failed check, the syncs that bring the window back, in order, each checked, until one passes:
# an incremental sync first (a row deleted, or a transaction committed, on the source after the sync read
# it: the next sync's business, which it does at once), then a whole copy (what no incremental sync sees:
# a value edited without its timestamp, a commit later than the look-back), then an incremental sync
# (what landed during that copy)
REPAIRS = {"incremental": ("incremental", "full", "incremental"), "full": ("incremental",)}


def column_warnings(result) -> list[str]:
    """The warnings a table's sync (``SyncResult``) gives about its columns, for ``dental sync``'s output
    and the raw step's log: source types wider than raw's (``narrower_in_raw``; names and types; the columns
    whose values raw's type would change without an error are named with what it would change, since the
    sync refuses those values: ``checked_text``), catalog columns the source does not show
    (``columns_missing``; names), and raw's columns beyond the catalog the source no longer shows
    (``columns_dropped_at_source``; names). Empty when none."""
    warnings = []
    if result.narrower_in_raw:
        warnings.append(f"raw.{result.table}: the source's type is wider than raw's for "
                        f"{'; '.join(result.narrower_in_raw)}: a value raw's type cannot take{checked_text(result)} "
                        "will fail the table (docs/operations.md, When the warehouse refuses a value)")
    dropped = result.columns_dropped_at_source
    catalog_missing = [name for name in result.columns_missing if name not in dropped]
    if catalog_missing:
        warnings.append(f"raw.{result.table}: the source shows no column {', '.join(catalog_missing)}: NULL "
                        "in raw (an OpenDental older than the catalog's 24.3, or a user without SELECT on them)")
    if dropped:
        warnings.append(f"raw.{result.table}: the source no longer shows column {', '.join(dropped)}, which an "
                        "earlier sync added to raw: the rows this sync wrote hold NULL there, their earlier "
                        "values overwritten (restore the column at the source, or drop it from raw)")
    return warnings


# the values the sync refuses in a retyped column rather than let raw's type change them, in words
_CHECKED = (("date_only_in_raw", "a time of day other than midnight, which raw's date would drop"),
            ("rounded_in_raw", "a number raw's type would round"),
            ("text_as_date_in_raw", "a value that is not a date as raw's type takes it unchanged (YYYY-MM-DD, "
                                    "or for a timestamp YYYY-MM-DD hh:mm:ss), which raw would read as another value"))


def checked_text(result) -> str:
    """`` (in <columns>: <what>; ...)`` for the columns of a ``SyncResult`` whose values raw's type would
    change without an error (``_CHECKED``), '' when none. Names only."""
    parts = [f"in {', '.join(getattr(result, field))}: {what}" for field, what in _CHECKED if getattr(result, field)]
    return f" ({'; '.join(parts)})" if parts else ""


def repair_text(synced_again: int, recopied: bool) -> str:
    """What the repairs after a failed check did, in words (``REPAIRS``; counts only)."""
    done = [f"synced again ({synced_again}x)"] if synced_again else []
    done += ["copied it whole"] if recopied else []
    return "the window differed from the source after the sync: " + ", ".join(done)


def replicate_tables(params, warehouse, tables: list[Table], window: Window | None,
                     mode: str, checked: set[str], sample: int, writer: str | None = None) -> Iterator[Replicated]:
    """The MariaDB path's database work for one window: yields each table's ``Replicated`` (its sync,
    and its check when its name is in ``checked``) in the order of ``tables``. ``params``: the source's
    ``MySqlParams``; ``warehouse``: anything whose ``connect()`` gives a new psycopg2 connection (a
    ``WarehouseResource``, ``PgParams``); ``sample``: the check's ``DENTAL_SYNC_CHECK_SAMPLE``.

    The tables run in order on one worker thread with its own warehouse connection, one table at a
    time (the source sees one extraction at a time), while the caller handles the finished ones (the
    Dagster step stores their events meanwhile). A table whose warehouse connection is lost is tried
    again on a new connection (``WAREHOUSE_ATTEMPTS``; raises WarehouseConnectionLost after the last).
    A value or row the warehouse refuses is a RawValueRefused, which does not quote it
    (``refused_value``). A table's own error (``table_error``: a refused value, the table's schema at the
    source, a query the source refused) does not stop the tables after it: they are synced and yielded,
    and the error is raised after the last one (the table's own error when it is the only one, else
    ``TablesFailed`` naming each, one line a table). Any other error is raised when its turn comes and
    no table after it starts (the tables that failed before it are added to it as a note). Closing the
    generator early stops the tables not yet started. Its warehouse sessions run as the loader group
    when the login is a member of it (``roles.layer_session``): what they create belongs to the group."""
    conn = layer_session(warehouse, RAW_SCHEMA)
    stop = threading.Event()  # set by an error that stops the run or a caller that stops early

    def work(table: Table) -> Replicated | tuple[str, BaseException] | None:
        nonlocal conn
        for attempt in range(WAREHOUSE_ATTEMPTS):
            if stop.is_set():
                return None
            try:
                return replicate_table(params, conn, table, window, mode, table.name in checked, sample, writer)
            except BaseException as exc:
                if not connection_lost(exc, conn):
                    refused = refused_value(exc, table)
                    error = refused if refused is not None else exc  # (the original quotes the value)
                    if table_error(error, table):
                        log.warning("raw.%s failed (%s); the next tables go on", table.name, type(error).__name__)
                        return table.name, error
                    stop.set()
                    if refused is not None:
                        raise refused from None
                    raise
                if attempt == WAREHOUSE_ATTEMPTS - 1:
                    stop.set()
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise WarehouseConnectionLost(
                        f"the warehouse connection ({_where(warehouse)}) was lost during raw.{table.name}, "
                        f"{WAREHOUSE_ATTEMPTS} times: {first}; its transaction was rolled back each time"
                    ) from exc
                delay = WAREHOUSE_RETRY_SECONDS * 2**attempt
                log.warning("raw.%s: warehouse connection lost (%s), retry %d/%d in %.1f s on a new connection",
                            table.name, type(exc).__name__, attempt + 1, WAREHOUSE_ATTEMPTS - 1, delay)
                time.sleep(delay)
                conn.close()  # (already broken: frees the client side)
                conn = layer_session(warehouse, RAW_SCHEMA)
        return None

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-sync")
    failed: list[tuple[str, BaseException]] = []  # the tables' own errors (``table_error``), in order
    with reusing():  # the tables' source sessions are opened once, not per read (``mysql.reusing``)
        try:
            for future in [pool.submit(work, t) for t in tables]:
                try:
                    done = future.result()  # re-raises an error that stops the run here
                except Exception as exc:
                    if failed:
                        exc.add_note("failed before it in this run: "
                                     + "; ".join(failed_line(name, error) for name, error in failed))
                    raise
                if isinstance(done, tuple):
                    failed.append(done)
                elif done is not None:
                    yield done
            if len(failed) == 1:
                raise failed[0][1]
            if failed:
                raise TablesFailed(failed, len(tables))
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)  # a table being synced commits or rolls back first
            conn.close()

"""The raw layer: every catalog table is an asset keyed ``["opendental", "<table>"]``.

Those keys are the default keys of the dbt sources ``source('opendental', '<table>')``, so lineage
joins with no code. The catalog builds two multi-assets:

- ``raw_opendental_reference``: the unpartitioned reference tables, replaced whole.
- ``raw_opendental_transactional``: the tables with a business date, partitioned monthly, with a
  single-run backfill policy (a range of months is one run and one window).

Each table of a window is replaced in one transaction: create the table if it is missing, delete the
window's rows, COPY the source's rows. A re-run leaves identical data, and a failed run leaves the
previous data in place. Metadata gives counts only, never values.

With the MariaDB source (``DENTAL_SOURCE=opendental``) a window is synced instead
(``dental_assets.replication.sync.sync_window``): a full copy the first time, then only the rows modified
since raw's watermark, plus the hard deletes found by comparing key buckets, still in one transaction. The
run config ``full_refresh`` re-copies the window whole.

Every table has a blocking asset check ``matches_source``: after its window is written, the source's and
raw's fingerprints of the window must be equal (synthetic source: the row count): every row's key (count
and sum), and an exact hash of every column (``replication.fingerprint``) of the rows the sync re-read
and of one row in ``DENTAL_SYNC_CHECK_SAMPLE`` of the rest (``sync.check_scope``; 1 = every row); raw's
counts and sums come from the window's record when nothing has written the table since the sync kept
them (``sync.record_window``). Rows the source stamped after the sync began (a practice writing
meanwhile) are left out on both sides, for the next sync (``sync.verify_window``'s ``clock``). The
nightly backstop compares every row's content. When the check fails, the window is synced again and
checked again before the check is reported (``replication.replicate.REPAIRS``: an incremental sync, then
a whole copy, then an incremental sync). The rows a failed check found are committed by then, and the
staging views read them: inside the run, Dagster stops the steps downstream of the failed check; across
runs, the failure is recorded in the warehouse (``replication.check_failures``, for the synthetic source
here too) and every dbt build in Dagster refuses to start while a raw table it reads has a failed window
no passing check has covered since (``defs/dbt/assets.py``). Dagster's own blocking-check condition
cannot do that: these checks have no partitions, so a passing check of another month hides the failure.

With the MariaDB source, a table whose own data or schema fails (a value raw refuses, a table or
column gone at the source: ``replicate.table_error``) does not stop the run's later tables; the step
fails after them, naming every failed table.
"""

import time

import dagster as dg
import pydantic

from dental_assets.catalog import RAW_SCHEMA, Table, create_raw_indexes, pg_create_table_sql, quote_pg, raw_tables
from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource
from dental_assets.partitions import Window, month_window, monthly_partitions
from dental_assets.pgcopy import copy_arrow
from dental_assets.replication import check_failures, verified
from dental_assets.replication.replicate import Replicated, column_warnings, repair_text, replicate_tables
from dental_assets.roles import as_login, layer_session
from dental_assets.sources import MariaDBSource
from dental_assets.warehouse import is_demo_target, lock_raw_for_write

RAW_GROUP = "raw_opendental"
# both multi-assets read the source: their ops are in this concurrency pool, whose limit dagster.yaml sets
# to 1, so a Materialize or a backfill never reads the source beside a sync (defs/raw/__init__.py)
SOURCE_POOL = "opendental_source"
RAW_KINDS = {"postgres", "mysql"}
CHECK_NAME = "matches_source"


class RawSyncConfig(dg.Config):
    """Run configuration of the raw assets (the Dagster launchpad: ``ops: {raw_opendental_...: {config:
    {full_refresh: true}}}``)."""

    full_refresh: bool = pydantic.Field(
        default=False,
        description="MariaDB source: re-copy the window whole instead of syncing what changed (after raw "
                    "was restored or edited by hand, or a failed matches_source check that a normal sync "
                    "does not repair).",
    )


class NotADemoTargetError(RuntimeError):
    """Synthetic rows were about to be written into a warehouse that is not marked as a demo target."""


def raw_asset_key(table_name: str) -> dg.AssetKey:
    """``["opendental", "<table>"]``: the raw asset of an OpenDental table."""
    return dg.AssetKey(["opendental", table_name])


def _spec(table: Table) -> dg.AssetSpec:
    partitioning = (
        f"monthly by `{table.business_date}`" if table.partitioned else "unpartitioned (replaced whole)"
    )
    return dg.AssetSpec(
        key=raw_asset_key(table.name),
        group_name=RAW_GROUP,
        kinds=RAW_KINDS,
        description=(
            f"OpenDental `{table.name}` replicated into `{RAW_SCHEMA}.{table.name}` "
            f"({len(table.columns)} columns, primary key `{table.primary_key}`), {partitioning}."
        ),
        metadata={
            "dagster/table_name": f"{RAW_SCHEMA}.{table.name}",
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(c.name, c.pg_type) for c in table.columns]
            ),
            "opendental/primary_key": table.primary_key,
            "opendental/modified_column": table.modified_column or "",
            "opendental/business_date": table.business_date or "",
        },
    )


def _window_predicate(table: Table, window: Window | None) -> str | None:
    """SQL selecting the window's rows of the raw table, or None when the window is everything."""
    if window is None or not table.partitioned or (window.lower is None and window.upper is None):
        return None
    return window.sql_predicate(quote_pg(table.business_date))


def load_tables(
    context: dg.AssetExecutionContext,
    tables: list[Table],
    window: Window | None,
    opendental: OpenDentalSourceResource,
    warehouse: WarehouseResource,
    full_refresh: bool = False,
):
    """Replace ``window`` of each selected table in ``raw`` with the source's rows; yields one
    ``MaterializeResult`` per table. ``full_refresh``: the MariaDB source copies the window whole (the
    synthetic source always does). Raises NotADemoTargetError when synthetic rows would go into a
    warehouse not marked as a demo target."""
    source = opendental.source()
    if source.name == "synthetic" and not is_demo_target(warehouse.params):
        raise NotADemoTargetError(
            f"refusing to write synthetic rows into {warehouse.params.describe()}: it is not marked as a "
            "demo target (create the table public.dental_demo_target there, e.g. with "
            "`dental warehouse mark-demo`)"
        )
    selected = [t for t in tables if raw_asset_key(t.name) in context.selected_asset_keys]
    if isinstance(source, MariaDBSource):
        yield from _replicate(context, selected, window, source, warehouse, "full" if full_refresh else "auto")
        return
    yield from _load_arrow(context, selected, window, source, warehouse)


def _load_arrow(context: dg.AssetExecutionContext, selected: list[Table], window: Window | None, source,
                warehouse: WarehouseResource):
    """``load_tables`` for a source that hands over Arrow tables (the synthetic practice): each table's
    window replaced in one transaction; yields its ``MaterializeResult`` and, when selected, the
    ``matches_source`` check (raw's rows in the window against the rows handed over). The session runs as
    the loader group when the login is a member of it (``roles.layer_session``)."""
    conn = layer_session(warehouse, RAW_SCHEMA)
    try:
        for table in selected:
            started = time.perf_counter()
            data = source.read_window(table, window)
            replaced, stats, total = _replace_window(conn, table, window, data)
            seconds = time.perf_counter() - started
            rate = stats.rows / seconds if seconds > 0 else 0.0
            context.log.info(
                f"raw.{table.name}: {stats.rows} rows copied, {replaced} replaced, "
                f"{seconds:.2f} s ({rate:,.0f} rows/s)"
            )
            metadata = {
                "dagster/row_count": dg.MetadataValue.int(total),
                "rows_copied": dg.MetadataValue.int(stats.rows),
                "rows_replaced": dg.MetadataValue.int(replaced),
                "source": source.name,
                "window": _describe(window, table),
                "seconds": dg.MetadataValue.float(round(seconds, 3)),
            }
            for conversion, count in sorted(stats.conversions.items()):
                metadata[f"converted/{conversion}"] = dg.MetadataValue.int(count)
            yield dg.MaterializeResult(asset_key=raw_asset_key(table.name), metadata=metadata)
            if _check_selected(context, table):
                yield _rows_check(conn, table, window, data.num_rows)
    finally:
        conn.close()


# the dbt snapshots' schema (dental_dbt/dbt_project.yml), named snap_opendental__<table>
SNAPSHOT_SCHEMA = "snapshots"


def _replace_window(conn, table: Table, window: Window | None, data):
    """Replace ``window`` of ``raw.table`` by the Arrow table ``data`` in one transaction (the table and
    its indexes created on the first load), then ANALYZE it. Returns (rows replaced, the COPY's
    ``CopyStats``, rows in the raw table afterwards). A whole table replaced (``window`` None) is a new
    synthetic practice's: its dbt snapshot (``snapshots.snap_opendental__<table>``), the versions of the
    practice before, is dropped in the same transaction, and the next dbt build snapshots the new one
    from scratch, as on a fresh warehouse. Kept, it mixed two practices' histories: a ``./dev demo``
    after the generator changed its row numbering (a practice regenerated into the warehouse of an
    earlier one) held two fee versions of one schedule and code at once, and fct_treatment_journey
    repeated 668 procedures."""
    target = f"{quote_pg(RAW_SCHEMA)}.{quote_pg(table.name)}"
    predicate = _window_predicate(table, window)
    with conn, conn.cursor() as cur:
        lock_raw_for_write(cur)  # after the dbt builds reading raw; none starts until this commits
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('dental_raw_ddl'))")
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_pg(RAW_SCHEMA)}")
        cur.execute(pg_create_table_sql(table))
        cur.execute(f"DELETE FROM {target}" if predicate is None else f"DELETE FROM {target} WHERE {predicate}")
        replaced = cur.rowcount
        if predicate is None:  # a whole new practice's table: the history of the one before is not its own
            with as_login(cur):  # (the transformer's table: not the loader's to drop, its login's may be)
                cur.execute(f"DROP TABLE IF EXISTS {SNAPSHOT_SCHEMA}.{quote_pg(f'snap_opendental__{table.name}')}")
        verified.forget(cur, [f"{RAW_SCHEMA}.{table.name}"])  # a plan's verification no longer holds
        stats = copy_arrow(cur, RAW_SCHEMA, table.name, data)
        create_raw_indexes(cur, table)  # after the first load's COPY: built once, then maintained
        cur.execute(f"SELECT count(*) FROM {target}")
        total = cur.fetchone()[0]
    with conn.cursor() as cur:  # fresh statistics for the models that read the table next
        cur.execute(f"ANALYZE {target}")
    conn.commit()
    return replaced, stats, total


def _rows_check(conn, table: Table, window: Window | None, handed_over: int) -> dg.AssetCheckResult:
    """``matches_source`` for an Arrow source: raw's rows in ``window`` equal the rows handed over. The
    verdict is recorded as the MariaDB path's is (``check_failures.record``: a pass with no failure on
    record costs one catalog query)."""
    target = f"{quote_pg(RAW_SCHEMA)}.{quote_pg(table.name)}"
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {target} WHERE {_window_predicate(table, window) or 'TRUE'}")
        in_raw = cur.fetchone()[0]
    conn.rollback()
    check_failures.record(conn, f"{RAW_SCHEMA}.{table.name}", window if table.partitioned else None,
                          in_raw == handed_over, handed_over, in_raw)
    return dg.AssetCheckResult(
        asset_key=raw_asset_key(table.name),
        check_name=CHECK_NAME,
        passed=in_raw == handed_over,
        metadata={"source_rows": handed_over, "raw_rows": in_raw},
    )


def _replicate(context, tables: list[Table], window: Window | None, source: MariaDBSource,
               warehouse: WarehouseResource, mode: str = "auto"):
    """The MariaDB path of a run: sync each table's window, then check it against the source
    (``replicate_tables``), and record each finished table in Dagster while the next one is synced (a
    range run records one materialization per table and month)."""
    from dental_assets import settings

    checked = {t.name for t in tables if _check_selected(context, t)}
    writer = context.run.tags.get(verified.CLAIM_TAG)
    for done in replicate_tables(source.params, warehouse, tables, window, mode, checked,
                                 settings.sync_check_sample(), writer):
        yield from _replicated_events(context, done, source, window)


def _replicated_events(context, done: Replicated, source: MariaDBSource, window: Window | None):
    """The log line, ``MaterializeResult`` and (when checked) ``AssetCheckResult`` of one synced table;
    counts and keys only."""
    table, result = done.table, done.result
    rate = result.rows_copied / result.seconds if result.seconds > 0 else 0.0
    context.log.info(
        f"raw.{table.name}: {result.mode}, {result.rows_copied} rows copied, "
        f"{result.rows_deleted - result.rows_gone} replaced, {result.rows_gone} deleted at the source, "
        f"{result.seconds:.2f} s ({rate:,.0f} rows/s)"
    )
    metadata = {
        "dagster/row_count": dg.MetadataValue.int(result.rows_total),
        "rows_copied": dg.MetadataValue.int(result.rows_copied),
        "rows_replaced": dg.MetadataValue.int(result.rows_deleted - result.rows_gone),
        "rows_deleted": dg.MetadataValue.int(result.rows_gone),
        "sync_mode": result.mode,
        "source": source.name,
        "window": _describe(window, table),
        "seconds": dg.MetadataValue.float(round(result.seconds, 3)),
    }
    if result.columns_added:
        metadata["columns_added"] = ", ".join(result.columns_added)
    if result.narrower_in_raw:
        metadata["source_wider_than_raw"] = "; ".join(result.narrower_in_raw)
    if result.columns_missing:
        metadata["columns_missing_at_source"] = ", ".join(result.columns_missing)
    for warning in column_warnings(result):
        context.log.warning(warning)
    for conversion, count in sorted(result.conversions.items()):
        metadata[f"converted/{conversion}"] = dg.MetadataValue.int(count)
    yield dg.MaterializeResult(asset_key=raw_asset_key(table.name), metadata=metadata)
    if done.check is None:
        return
    equal, src, raw, scope, synced_again, repaired, seconds = done.check
    if synced_again or repaired:
        context.log.warning(f"raw.{table.name}: {repair_text(synced_again, repaired)}")
    check_meta = check_metadata(src, raw)
    check_meta["hashed"] = _describe_scope(scope)
    check_meta["synced_again"] = dg.MetadataValue.int(synced_again)
    check_meta["recopied_whole"] = repaired
    check_meta["seconds"] = dg.MetadataValue.float(round(seconds, 3))
    yield dg.AssetCheckResult(
        asset_key=raw_asset_key(table.name), check_name=CHECK_NAME, passed=equal, metadata=check_meta
    )


def check_metadata(source: tuple[int, ...], raw: tuple[int, ...]) -> dict[str, object]:
    """The check's metadata from both sides' fingerprints (``sync.verify_window``: rows, key sum, rows
    hashed, content hash sum, modified-timestamp sum, business-date sum): counts and keys as they are
    (``*_rows``, ``*_key_sum``, ``*_rows_hashed``), and for the sums that derive from values, only whether
    they agree (``modified_equal``, ``business_dates_equal``, ``content_equal``): over a window of one row
    the date sum is that row's date of service, and its content hash an unsalted digest of its values,
    which a guess of one field could be tested against. Pure."""
    meta: dict[str, object] = {}
    for side, (rows, key_sum, hashed, _, _, _) in (("source", source), ("raw", raw)):
        meta[f"{side}_rows"] = dg.MetadataValue.int(rows)
        meta[f"{side}_key_sum"] = dg.MetadataValue.text(str(key_sum))  # may exceed 64 bits
        meta[f"{side}_rows_hashed"] = dg.MetadataValue.int(hashed)
    for name, position in (("content_equal", 3), ("modified_equal", 4), ("business_dates_equal", 5)):
        meta[name] = source[position] == raw[position]
    return meta


def _describe_scope(scope) -> str:
    """Which rows the check hashed, in words (no values)."""
    if scope.everything:
        return "every row"
    text = f"key block {scope.residue} of every {scope.sample}"
    if scope.since is not None:
        text = f"rows modified since {scope.since.isoformat(sep=' ')} (re-read by the sync), and {text}"
    return text


def _check_selected(context, table: Table) -> bool:
    key = dg.AssetCheckKey(raw_asset_key(table.name), CHECK_NAME)
    return key in context.selected_asset_check_keys


def _check_specs(tables) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=raw_asset_key(t.name),
            blocking=True,
            description="Source and raw agree on the window: every row's key (count and sum), and a hash of "
                        "every column of the rows the sync re-read and of 1 row in DENTAL_SYNC_CHECK_SAMPLE "
                        "(default 32) of the rest; the nightly backstop compares every row's content.",
        )
        for t in tables
    ]


def _describe(window: Window | None, table: Table) -> str:
    if window is None or not table.partitioned:
        return "all rows"
    lower = window.lower.isoformat() if window.lower else "-inf"
    upper = window.upper.isoformat() if window.upper else "+inf"
    return f"{table.business_date} in [{lower}, {upper})"


def build_raw_assets(tables: tuple[Table, ...]) -> list[dg.AssetsDefinition]:
    """The two raw multi-assets for the given catalog tables."""
    reference = [t for t in tables if not t.partitioned]
    transactional = [t for t in tables if t.partitioned]

    @dg.multi_asset(
        name="raw_opendental_reference",
        specs=[_spec(t) for t in reference],
        check_specs=_check_specs(reference),
        can_subset=True,
        pool=SOURCE_POOL,
    )
    def raw_opendental_reference(
        context: dg.AssetExecutionContext,
        config: RawSyncConfig,
        opendental: OpenDentalSourceResource,
        warehouse: WarehouseResource,
    ):
        yield from load_tables(context, reference, None, opendental, warehouse, config.full_refresh)

    @dg.multi_asset(
        name="raw_opendental_transactional",
        specs=[_spec(t) for t in transactional],
        check_specs=_check_specs(transactional),
        can_subset=True,
        partitions_def=monthly_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=SOURCE_POOL,
    )
    def raw_opendental_transactional(
        context: dg.AssetExecutionContext,
        config: RawSyncConfig,
        opendental: OpenDentalSourceResource,
        warehouse: WarehouseResource,
    ):
        key_range = context.partition_key_range
        window = month_window(key_range.start, key_range.end, monthly_partitions.get_partition_keys())
        yield from load_tables(context, transactional, window, opendental, warehouse, config.full_refresh)

    return [raw_opendental_reference, raw_opendental_transactional]


raw_assets = build_raw_assets(raw_tables())

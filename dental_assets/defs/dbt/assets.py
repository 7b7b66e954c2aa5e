"""The dbt layer: every model of ``dental_dbt/`` is an asset, every dbt test an asset check.

dbt sources ``source('opendental', '<table>')`` map to the raw asset keys ``["opendental", "<table>"]``
(dagster-dbt's default key for a source), so lineage from raw to marts needs no code. Model keys are
dagster-dbt's default for a model with a custom schema: ``[schema, model]``, e.g.
``["marts", "mart_production_daily"]``. dbt connects to the same warehouse as the rest of the graph:
the ``warehouse`` resource exports its connection as ``DENTAL_PG_*`` variables, which
``dental_dbt/profiles.yml`` reads.

The models are split by materialization into two asset definitions:

- ``dental_dbt_models``: every model except the incremental ones, unpartitioned (``dbt build`` of the
  whole set, each table rebuilt), and the snapshots (``dental_dbt/snapshots``, keys
  ``["snapshots", "snap_opendental__<table>"]``, group ``dbt_snapshots``), which ``dbt build`` runs
  after the staging views they read and before the models that read them;
- ``dental_dbt_facts``: the incremental fact models (``config.materialized:incremental``: fct_procedure,
  fct_appointment, fct_payment, fct_claim), partitioned by ``monthly_partitions`` like the raw
  transactional tables, with a single-run backfill policy. A run over a range of months passes the whole
  range's window once as the run settings ``min_date``/``max_date`` (``dbt_window_vars``); a range
  covering every month is a ``--full-refresh``.

Run settings. A run's ``as_of_date`` and window reach dbt as environment variables
``DENTAL_DBT_AS_OF_DATE``, ``DENTAL_DBT_MIN_DATE``, ``DENTAL_DBT_MAX_DATE`` (``run_settings_env``; the
project's ``run_setting`` macro reads a var of that name first, then the variable), not as ``--vars``:
dbt throws its saved parse away whenever ``--vars`` differ, and the models read the settings only
when they execute, so a change of a setting costs no parsing at all. dbt still parses in full when the
connection differs from its saved parse's (another warehouse), so each dbt run here starts from the
latest run's parse on the same warehouse, else the latest run's (``partial_parse_cache``, kept in
``$DENTAL_HOME``): the runs after the first one on a warehouse parse only what changed, also when runs
on another warehouse came in between.

The manifest (``dental_dbt/target/manifest.json``) is produced by ``dbt parse``: by the set-up script
(``./dev``), here when it is missing or older than a model, test or macro file, and on every load
under ``dagster dev``.

Failed raw checks. A raw table's blocking check runs after its rows are committed, and the staging
models are views over raw: every dbt build here first reads the failed checks no passing check has
covered since (``replication.check_failures``) for the raw tables its selection reads, and fails with
one line naming them, before dbt starts (``refuse_after_failed_raw_checks``). The automation
condition cannot do it (the raw checks have no partitions: a passing check of another month hides a
failed one) and the nightly schedules do not look at checks.

Partial selections. dbt's default ("eager") indirect selection runs every test that reads a selected
model, so a relationship test (our ``foreign_key``) also runs when only one of its two models is in
the run. On a warehouse where the other model was never built, that test could only fail with
"relation does not exist". Each run therefore leaves out (``--exclude``) exactly the tests that read a
relation which is neither built by the run nor present in the warehouse (``unrunnable_tests``),
and logs them; their asset checks are reported as not executed, never as passed. Once both relations
exist, the test runs again in every run that selects either model.

One build at a time. Both dbt asset definitions (and the journey dataset, which reads a model) are in the
concurrency pool ``warehouse_models`` (``MODELS_POOL``), whose limit the instance files set to 1 with
granularity ``run``: the run queue starts a run that builds models only while no other such run is in
progress, whichever way it was launched (the automation sensor, the nightly schedules, Materialize,
a backfill, a retry). The runs the project launches also carry the tag ``dental/warehouse_models``
(``MODELS_TAG``, limit 1), which holds from a new instance's first dequeue on. Two overlapping builds
went wrong under the daemon: a run started while another was still creating ``int_employees`` left out
the tests that read it (above), so their blocking checks stayed not executed and held a mart back; a
retry rebuilt ``int_procedures`` while another run's ``fct_procedure`` was reading it, and Dagster
counted the parent's update as handled by that child.
"""

import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

import dagster as dg
import psycopg2.errors
from filelock import FileLock
from packaging import version
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from dental_assets import settings as dental_settings
from dental_assets.catalog import RAW_SCHEMA
from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource, exported
from dental_assets.partitions import Window, dbt_window_vars, month_window, monthly_partitions
from dental_assets.replication import check_failures
from dental_assets.warehouse import dental_home, raw_held_steady

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dental_dbt"


def dbt_executable() -> str:
    """The ``dbt`` beside this Python (a venv's bin need not be on PATH), else ``dbt`` from PATH."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


# the files dbt parse reads, relative to the project folder: a manifest older than any of them is stale
DBT_SOURCE_FOLDERS = ("models", "macros", "snapshots", "tests", "seeds", "analyses")
DBT_SOURCE_FILES = ("dbt_project.yml", "packages.yml", "dependencies.yml")
PARSE_LOCK_FILE = ".dbt_parse.lock"  # beside manifest.json: one ``dbt parse`` at a time (``ensure_manifest``)


def manifest_is_stale(project_dir: Path, manifest_path: Path) -> bool:
    """True when ``manifest_path`` is missing or older (mtime) than a file dbt parses in ``project_dir``
    (its ``DBT_SOURCE_FOLDERS`` and ``DBT_SOURCE_FILES``): a model, test or macro edited since the last
    parse. A stale manifest would make the dbt steps stop on a node it does not know."""
    try:
        parsed = manifest_path.stat().st_mtime
    except FileNotFoundError:
        return True
    candidates = [project_dir / name for name in DBT_SOURCE_FILES]
    for folder in DBT_SOURCE_FOLDERS:
        for root, _dirs, files in os.walk(project_dir / folder):
            candidates.extend(Path(root) / name for name in files)
    for path in candidates:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime > parsed:
                return True
    return False


def _parse_needed(project: DbtProject) -> bool:
    return bool(os.environ.get("DAGSTER_IS_DEV_CLI")) or manifest_is_stale(project.project_dir,
                                                                          project.manifest_path)


def ensure_manifest(project: DbtProject) -> Path:
    """Run ``dbt parse`` when the manifest is missing or older than a project file
    (``manifest_is_stale``), and on every load under ``dagster dev``; returns the manifest's path.
    Processes loading the code location at once (``dagster dev``'s webserver and daemon, pytest's
    workers) check and parse one at a time, under a lock file beside the manifest: two parses writing
    one manifest.json left it torn ("unexpected content after document"), and a load that found it
    fresh while another parse was writing it read half a file. A process that waited uses the
    manifest the other wrote when it is no longer stale. Raises RuntimeError with dbt's output when
    parsing fails."""
    project.manifest_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(project.manifest_path.with_name(PARSE_LOCK_FILE)):
        if not _parse_needed(project):
            return project.manifest_path
        result = subprocess.run(
            [dbt_executable(), "parse", "--quiet", "--project-dir", str(project.project_dir),
             "--profiles-dir", str(project.profiles_dir)],
            capture_output=True, text=True, cwd=project.project_dir,
        )
    if result.returncode != 0 or not project.manifest_path.exists():
        raise RuntimeError(f"dbt parse failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return project.manifest_path


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
ensure_manifest(dbt_project)


SNAPSHOT_GROUP = "dbt_snapshots"


class DentalDbtTranslator(DagsterDbtTranslator):
    """Groups models by their layer folder (staging, intermediate, marts), snapshots in
    ``dbt_snapshots``."""

    def get_group_name(self, dbt_resource_props) -> str | None:
        if dbt_resource_props["resource_type"] == "snapshot":
            return SNAPSHOT_GROUP
        if dbt_resource_props["resource_type"] == "model":
            fqn = dbt_resource_props.get("fqn", [])
            if len(fqn) > 2:
                return f"dbt_{fqn[1]}"
            return "dbt"
        return super().get_group_name(dbt_resource_props)


translator = DentalDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


# ------------------------------------------------------------------ metadata people look at (marts)
#
# After dbt builds a mart, a small summary of it goes into the materialization's metadata, shown on the
# asset's page in the UI: a markdown table with a text bar per row. Aggregates only (dollars, counts),
# never a patient's row.

SUMMARY_MONTHS = 12
_BAR_WIDTH = 24


def _bar(value: float, largest: float) -> str:
    """A bar of full blocks proportional to ``value`` / ``largest`` (empty for <= 0)."""
    if largest <= 0 or value <= 0:
        return ""
    return "\u2588" * max(1, round(_BAR_WIDTH * value / largest))


def _dollars(value) -> str:
    """``value`` (dollars; None as 0) as US currency to the cent, the sign before the dollar sign:
    ``1644.95`` -> ``$1,644.95``, ``-1644.95`` -> ``-$1,644.95``."""
    amount = round(float(value or 0), 2)
    return f"{'-' if amount < 0 else ''}${abs(amount):,.2f}"


def production_by_month(cur, relation: str) -> dict[str, dg.MetadataValue]:
    """The last ``SUMMARY_MONTHS`` months of ``mart_production_daily``: completed procedures, gross
    production, adjustments and net production (dollars) per month of ``production_date``."""
    cur.execute(
        f"SELECT to_char(date_trunc('month', production_date), 'YYYY-MM') AS month, "
        "sum(completed_procedure_count), sum(gross_production), sum(adjustments), sum(net_production) "
        f"FROM {relation} GROUP BY 1 ORDER BY 1 DESC LIMIT %s",
        (SUMMARY_MONTHS,),
    )
    rows = list(reversed(cur.fetchall()))
    largest = max((float(r[4] or 0) for r in rows), default=0.0)
    lines = ["| month | procedures | gross | adjustments | net | |", "|---|--:|--:|--:|--:|---|"]
    lines += [
        f"| {m} | {int(n or 0):,} | {_dollars(g)} | {_dollars(a)} | {_dollars(net)} | {_bar(float(net or 0), largest)} |"
        for m, n, g, a, net in rows
    ]
    return {
        "production_by_month": dg.MetadataValue.md("\n".join(lines)),
        "net_production_last_month": dg.MetadataValue.float(float(rows[-1][4] or 0) if rows else 0.0),
    }


def collections_by_month(cur, relation: str) -> dict[str, dg.MetadataValue]:
    """The last ``SUMMARY_MONTHS`` months of ``mart_collections_daily``: patient payments, insurance
    payments and total collections (dollars) per month of ``collection_date``."""
    cur.execute(
        f"SELECT to_char(date_trunc('month', collection_date), 'YYYY-MM') AS month, "
        "sum(patient_payments), sum(insurance_payments), sum(total_collections) "
        f"FROM {relation} GROUP BY 1 ORDER BY 1 DESC LIMIT %s",
        (SUMMARY_MONTHS,),
    )
    rows = list(reversed(cur.fetchall()))
    largest = max((float(r[3] or 0) for r in rows), default=0.0)
    lines = ["| month | patient | insurance | total | |", "|---|--:|--:|--:|---|"]
    lines += [
        f"| {m} | {_dollars(p)} | {_dollars(i)} | {_dollars(t)} | {_bar(float(t or 0), largest)} |"
        for m, p, i, t in rows
    ]
    return {"collections_by_month": dg.MetadataValue.md("\n".join(lines))}


AGING_BUCKETS = (
    ("0-30 days", "balance_0_30"),
    ("31-60 days", "balance_31_60"),
    ("61-90 days", "balance_61_90"),
    ("over 90 days", "balance_over_90"),
)


def ar_by_aging_bucket(cur, relation: str) -> dict[str, dg.MetadataValue]:
    """``mart_ar_aging`` at the run's as-of date (``is_run_date``): dollars per aging bucket, their
    share of the aged total, the insurance estimate and patient portion, and the number of families
    (guarantors) with a positive balance."""
    sums = ", ".join(f"sum({column})" for _, column in AGING_BUCKETS)
    cur.execute(
        f"SELECT {sums}, sum(total_balance), sum(insurance_estimate), sum(patient_portion), "
        "count(*) FILTER (WHERE total_balance > 0), max(as_of_date) "
        f"FROM {relation} WHERE is_run_date"
    )
    row = cur.fetchone()
    buckets = [float(v or 0) for v in row[: len(AGING_BUCKETS)]]
    total, estimate, portion, families, as_of = row[len(AGING_BUCKETS):]
    aged = sum(buckets)
    largest = max(buckets, default=0.0)
    lines = ["| bucket | balance | share | |", "|---|--:|--:|---|"]
    lines += [
        f"| {label} | {_dollars(value)} | {value / aged if aged else 0:.1%} | {_bar(value, largest)} |"
        for (label, _), value in zip(AGING_BUCKETS, buckets)
    ]
    lines += [
        f"| **total balance** | {_dollars(total)} | | |",
        f"| insurance estimate | {_dollars(estimate)} | | |",
        f"| patient portion | {_dollars(portion)} | | |",
    ]
    return {
        "ar_by_aging_bucket": dg.MetadataValue.md("\n".join(lines)),
        "ar_as_of_date": str(as_of) if as_of else "",
        "ar_total_balance": dg.MetadataValue.float(float(total or 0)),
        "ar_families_with_balance": dg.MetadataValue.int(int(families or 0)),
    }


MART_SUMMARIES = {
    "mart_production_daily": production_by_month,
    "mart_collections_daily": collections_by_month,
    "mart_ar_aging": ar_by_aging_bucket,
}


def mart_summary(warehouse: WarehouseResource, model_name: str) -> dict[str, dg.MetadataValue]:
    """The summary metadata of a mart listed in ``MART_SUMMARIES`` (empty for any other model).
    Database errors propagate: a summary that cannot be computed fails the step loudly."""
    summarize = MART_SUMMARIES.get(model_name)
    if summarize is None:
        return {}
    conn = warehouse.connect()
    try:
        with conn.cursor() as cur:
            return summarize(cur, relation_for_model(model_name))
    finally:
        conn.close()


# The incremental facts. With dbt's default ("eager") indirect selection, excluding them also excludes
# every test with one of them as a parent (e.g. a fact's foreign key to a dimension), so those tests
# run, as the facts' asset checks, only in the facts' build.
INCREMENTAL_SELECT = "config.materialized:incremental"


# every asset that builds from the warehouse's models is in this concurrency pool, whose limit the instance
# files (dagster.yaml, dagster.demo.yaml) set to 1: one such run at a time (module docstring)
MODELS_POOL = "warehouse_models"
# and the runs launched to build them (the automation sensor's, dbt_job's, dbt_facts_job's, the journey
# job's) carry this tag, limited to 1 in the same files: Dagster records a pool's limit only the first time
# it sees a run of the pool queued, so on a new instance the first dequeue would start every queued model
# run at once (the automation's first tick may request the unpartitioned models and the facts together)
MODELS_TAG = {"dental/warehouse_models": "build"}
DEMO_RUN_TAG = "dental/demo_run_id"  # dental_assets.defs.synthetic.jobs.PARENT_TAG: a run the demo launched
UNIQUE_ID = "dagster_dbt/unique_id"  # dagster-dbt's metadata key for a spec's dbt node
BUILT_RESOURCE_TYPES = ("model", "seed", "snapshot")


def _relation(manifest: dict, unique_id: str) -> str | None:
    """``schema.name`` (lower case, as PostgreSQL stores unquoted names) of a model, seed, snapshot or
    source of ``manifest``; None for any other node (a macro, an ephemeral model)."""
    if unique_id in manifest.get("sources", {}):
        node = manifest["sources"][unique_id]
        return f"{node['schema']}.{node.get('identifier') or node['name']}".lower()
    node = manifest["nodes"].get(unique_id)
    if not node or node["resource_type"] not in BUILT_RESOURCE_TYPES:
        return None
    if node.get("config", {}).get("materialized") == "ephemeral":
        return None
    return f"{node['schema']}.{node.get('alias') or node['name']}".lower()


def unrunnable_tests(manifest: dict, built: set[str], selected_tests: set[str],
                     existing: set[str]) -> dict[str, list[str]]:
    """The dbt tests of a run that cannot run because they read a relation that does not exist.

    ``built``: unique ids of the models (seeds, snapshots) the run builds; ``selected_tests``: unique
    ids of tests the run selects explicitly (asset checks chosen without their asset); ``existing``:
    ``schema.name`` of every table and view in the warehouse (lower case). A test is considered when it
    reads a built node or is selected explicitly (what dbt's indirect selection or an explicit
    selection may run); it is returned when one of the relations it reads (its parents in
    ``manifest["parent_map"]``) is neither built by the run nor in ``existing``.

    Returns {test name (the dbt node name, which ``--exclude`` accepts): the absent relations, sorted}.
    Pure: reads nothing but its arguments."""
    absent: dict[str, list[str]] = {}
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] != "test":
            continue
        parents = manifest["parent_map"].get(unique_id, node.get("depends_on", {}).get("nodes", []))
        if unique_id not in selected_tests and not built.intersection(parents):
            continue
        missing = sorted({rel for p in parents if p not in built
                          for rel in [_relation(manifest, p)] if rel is not None and rel not in existing})
        if missing:
            absent[node["name"]] = missing
    return absent


def existing_relations(warehouse: WarehouseResource) -> set[str]:
    """``schema.name`` of every table and view of the warehouse (information_schema.tables)."""
    conn = warehouse.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT lower(table_schema || '.' || table_name) FROM information_schema.tables "
                        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def exclude_unrunnable_tests(context, warehouse: WarehouseResource) -> list[str]:
    """``["--exclude", "<tests>"]`` for the tests of this run that read a relation neither built by the
    run nor present in the warehouse (``unrunnable_tests``), each logged with the relations it lacks
    (names of tables, no data); ``[]`` when there are none. Their asset checks are then reported as
    not executed by Dagster."""
    assets_def = context.assets_def
    built = {assets_def.specs_by_key[key].metadata[UNIQUE_ID] for key in context.selected_asset_keys
             if UNIQUE_ID in assets_def.specs_by_key[key].metadata}
    check_ids = {spec.key: spec.metadata.get(UNIQUE_ID) for spec in assets_def.check_specs}
    selected_tests = {check_ids[key] for key in context.selected_asset_check_keys if check_ids.get(key)}
    manifest = json.loads(dbt_project.manifest_path.read_text())
    absent = unrunnable_tests(manifest, built, selected_tests, existing_relations(warehouse))
    if not absent:
        return []
    tests = "; ".join(f"{name} (needs {', '.join(rels)})" for name, rels in sorted(absent.items()))
    if context.run.tags.get(DEMO_RUN_TAG):
        # the demo builds the graph in several runs; a later run of it builds these relations, and the
        # tests run there (as that run's asset checks): expected, so not a warning
        context.log.info(f"{len(absent)} dbt test(s) left for a later run of the demo, which builds the "
                         f"relations they read: {tests}")
    else:
        context.log.warning(
            f"{len(absent)} dbt test(s) not run: they read a relation that does not exist in the warehouse "
            "and is not built by this run (their asset checks are not executed; they run once the "
            f"relation exists): {tests}")
    return ["--exclude", " ".join(sorted(absent))]


def raw_tables_read(manifest: dict, unique_ids) -> set[str]:
    """``raw.<table>`` (lower case) of every dbt source in the ``raw`` schema that the nodes
    ``unique_ids`` read, directly or through other nodes (``manifest["parent_map"]``, followed to the
    sources): what a build of those nodes reads of raw, also through models it does not rebuild. Pure."""
    parents = manifest.get("parent_map", {})
    sources = manifest.get("sources", {})
    found: set[str] = set()
    seen: set[str] = set()
    stack = [u for u in unique_ids if u]
    while stack:
        unique_id = stack.pop()
        if unique_id in seen:
            continue
        seen.add(unique_id)
        if unique_id in sources:
            relation = _relation(manifest, unique_id)
            if relation and relation.split(".", 1)[0] == RAW_SCHEMA:
                found.add(relation)
            continue
        stack.extend(parents.get(unique_id, ()))
    return found


def refuse_after_failed_raw_checks(context, warehouse: WarehouseResource, manifest: dict) -> None:
    """Raise ``dg.Failure`` before dbt starts when a raw table the run's selection reads
    (``raw_tables_read`` of the selected models and snapshots, and of the assets of selected checks)
    has a failed ``matches_source`` check that no passing check has covered since
    (``replication.check_failures``): the staging views would read those rows. Whatever launched the
    run (the automation sensor, the nightly schedule, the UI, ``dagster job execute``). The message
    is one line: tables, windows and counts, what clears them (no value). A warehouse user that may
    not read ``dental_sync.check_failures`` fails it too, saying so (docs/security.md)."""
    assets_def = context.assets_def
    keys = set(context.selected_asset_keys) | {check.asset_key for check in context.selected_asset_check_keys}
    ids = {assets_def.specs_by_key[key].metadata.get(UNIQUE_ID) for key in keys if key in assets_def.specs_by_key}
    tables = raw_tables_read(manifest, ids)
    if not tables:
        return
    conn = warehouse.connect()
    try:
        with conn.cursor() as cur:
            failures = check_failures.unrepaired(cur, tables)
    except psycopg2.errors.InsufficientPrivilege:
        raise dg.Failure(
            description=f"dbt not run: the warehouse user may not read {check_failures.FAILURES_TABLE}, where "
                        "the raw checks that failed are kept: Dagster's warehouse user must be a member of the "
                        "loader or the transformer role, and `dental warehouse grant` must have run since the "
                        "table was created (docs/security.md, a Dagster deployment's user)",
            allow_retries=False) from None
    finally:
        conn.close()
    if failures:
        raise dg.Failure(
            description=check_failures.blocking_text(failures),
            metadata={"failed_raw_checks": dg.MetadataValue.int(len(failures)),
                      "raw_tables": ", ".join(sorted({f.raw_table for f in failures}))},
            allow_retries=False,
        )


COLUMN_SCHEMA = "dagster/column_schema"  # Dagster's metadata key for a table's columns (the UI's Columns table)


def _table_schema(value) -> dg.TableSchema | None:
    """The ``TableSchema`` of a ``dagster/column_schema`` metadata entry (a schema or its metadata value)."""
    if isinstance(value, dg.TableSchemaMetadataValue):
        return value.schema
    return value if isinstance(value, dg.TableSchema) else None


def column_types(cur, relation: str) -> list[tuple[str, str]]:
    """``(column, type)`` of a table or view in the table's column order, the type as PostgreSQL
    spells it (``format_type``: ``bigint``, ``numeric(12,2)``, ``character varying(20)``, ``date``);
    ``relation`` is ``schema.name``. Empty when the relation does not exist."""
    cur.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (relation,),
    )
    return [(name, type_) for name, type_ in cur.fetchall()]


def column_schema_with_descriptions(built: list[tuple[str, str]], declared: dg.TableSchema | None) -> dg.TableSchema:
    """The columns of a built relation (``column_types``: names and database types, in the table's
    order) with the descriptions declared in the dbt YAML (``declared``, the asset spec's column
    schema; matched by name, case-insensitively). Columns the YAML does not describe have none."""
    descriptions = {c.name.lower(): c.description for c in (declared.columns if declared else [])}
    return dg.TableSchema(columns=[
        dg.TableColumn(name=name, type=type_, description=descriptions.get(name.lower()))
        for name, type_ in built
    ])


RUN_SETTINGS = ("as_of_date", "min_date", "max_date")
RUN_SETTING_PREFIX = "DENTAL_DBT_"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"


def run_settings_env(settings: Mapping[str, str]) -> dict[str, str]:
    """The environment that passes ``settings`` ({name: value}, names from ``RUN_SETTINGS``) to the dbt
    project's ``run_setting`` macro: ``{"DENTAL_DBT_<NAME>": value}`` for every name of
    ``RUN_SETTINGS``, empty (unset for dbt) when ``settings`` lacks it. Raises ValueError for a name
    outside ``RUN_SETTINGS``."""
    unknown = sorted(set(settings) - set(RUN_SETTINGS))
    if unknown:
        raise ValueError(f"unknown dbt run setting(s) {unknown}; known: {list(RUN_SETTINGS)}")
    return {RUN_SETTING_PREFIX + name.upper(): str(settings.get(name, "")) for name in RUN_SETTINGS}


# the connection fields dbt's saved parse depends on (its "profile hash"; the database name is also
# written into every node of the parse)
PARSE_CONNECTION_KEYS = ("DENTAL_PG_HOST", "DENTAL_PG_PORT", "DENTAL_PG_USER", "DENTAL_PG_DBNAME")
PARSE_CACHES_KEEP = 8  # per-connection saved parses kept in $DENTAL_HOME/dbt (the newest)


def partial_parse_cache(connection: Mapping[str, str] | None = None) -> Path:
    """A saved dbt parse in ``$DENTAL_HOME/dbt`` (dbt itself decides whether it still fits: same dbt
    version, connection and vars; changed files re-parsed). ``connection`` None: the latest dbt run's
    (``partial_parse.msgpack``); else the latest run's on that connection (``dbt_env()``'s variables,
    ``PARSE_CONNECTION_KEYS``): ``partial_parse-<16 hex digits>.msgpack``, named by a digest of those
    fields (no password)."""
    folder = dental_home() / "dbt"
    if connection is None:
        return folder / PARTIAL_PARSE_FILE
    key = "\x1f".join(str(connection.get(name, "")) for name in PARSE_CONNECTION_KEYS)
    return folder / f"partial_parse-{hashlib.sha256(key.encode()).hexdigest()[:16]}.msgpack"


def run_targets_base() -> Path:
    """Where the dbt run folders go: ``$DBT_TARGET_PATH``, default the dbt project's ``target``."""
    base = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    return base if base.is_absolute() else dbt_project.project_dir / base


def run_target_path(context) -> Path:
    """A new dbt target folder for one run of ``context``: under ``run_targets_base()``, named by op,
    run id and a random suffix as dagster-dbt names its own (``RUN_FOLDER_NAME``)."""
    name = f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}-{uuid.uuid4().hex[:7]}"
    return run_targets_base() / name


# A dbt run folder: <op name>-<7 characters of the run id>-<7 hex digits>; 30-50 MB each at 5,000 patients
# (manifest, compiled and run SQL, logs), made by every dbt step.
RUN_FOLDER_NAME = re.compile(r"^[A-Za-z0-9_]+-[0-9a-f]{7}-[0-9a-f]{7}$")
# A run folder without run_results.json (dbt writes it when it ends) older than this is a run that died.
ABANDONED_RUN_FOLDER_SECONDS = 24 * 3600
RUN_FOLDERS_KEEP = "DENTAL_RUN_FOLDERS_KEEP"  # the setting: finished run folders kept


def prune_run_targets(base: Path, keep: int, now: float | None = None) -> list[Path]:
    """Remove the dbt run folders under ``base`` (``RUN_FOLDER_NAME``) but the ``keep`` newest finished
    ones (a finished run has ``run_results.json``; newest by that file's time), and the unfinished ones
    not touched for ``ABANDONED_RUN_FOLDER_SECONDS`` (a killed run; a running one is left alone). Other
    files and folders (``dbt parse``'s own) are never touched. Returns the folders removed. Without it
    every dbt step adds a folder for good: an hourly sensor would fill the disk."""
    now = time.time() if now is None else now
    finished, abandoned = [], []
    for folder in base.iterdir() if base.is_dir() else ():
        if not (folder.is_dir() and RUN_FOLDER_NAME.match(folder.name)):
            continue
        results = folder / "run_results.json"
        if results.exists():
            finished.append((results.stat().st_mtime, folder))
        elif now - folder.stat().st_mtime > ABANDONED_RUN_FOLDER_SECONDS:
            abandoned.append(folder)
    finished.sort(reverse=True)
    removed = abandoned + [folder for _, folder in finished[keep:]]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def seed_partial_parse(target: Path, connection: Mapping[str, str] | None = None) -> None:
    """Start the dbt run in ``target`` from the saved parse of the latest run on ``connection``
    (``partial_parse_cache(connection)``), else of the latest run (dbt then parses in full if the
    connection differs), else nothing (dagster-dbt copies the project's ``target/partial_parse.msgpack``,
    the parse of ``dbt parse``)."""
    for cache in ([partial_parse_cache(connection)] if connection else []) + [partial_parse_cache()]:
        if cache.exists():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cache, target / PARTIAL_PARSE_FILE)
            return


def keep_partial_parse(target: Path, connection: Mapping[str, str] | None = None) -> None:
    """Make the parse dbt saved in ``target`` the next run's start (``partial_parse_cache()``, and
    ``partial_parse_cache(connection)`` when given), each replaced atomically so runs of other
    processes read either the old or the new file whole; of the per-connection parses, the
    ``PARSE_CACHES_KEEP`` newest stay."""
    parsed = target / PARTIAL_PARSE_FILE
    if not parsed.exists():
        return
    caches = [partial_parse_cache()] + ([partial_parse_cache(connection)] if connection else [])
    for cache in caches:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f"{cache.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        shutil.copyfile(parsed, partial)
        os.replace(partial, cache)
    keyed = sorted(caches[0].parent.glob("partial_parse-*.msgpack"), key=_mtime_or_zero, reverse=True)
    for old in keyed[PARSE_CACHES_KEEP:]:
        old.unlink(missing_ok=True)


def _mtime_or_zero(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # removed by another process meanwhile
        return 0.0


# dbt's file log (dbt.log in the run folder) under Dagster: off. dagster-dbt sets DBT_LOG_FORMAT=json, which
# dbt also applies to its file log, so every debug event (each statement, each cache action) was
# serialised to JSON and written: 15-25% of the dbt process's CPU in the demo's dbt step (py-spy). The
# run's own log keeps dbt's info, warning and error events (dbt's structured stdout). Setting
# DBT_LOG_LEVEL_FILE in the environment (e.g. ``debug``) brings the file back.
DBT_FILE_LOG_ENV = "DBT_LOG_LEVEL_FILE"
DBT_FILE_LOG_DEFAULT = "none"


def dbt_file_log_env() -> dict[str, str]:
    """``{"DBT_LOG_LEVEL_FILE": "none"}`` unless the environment sets ``DBT_LOG_LEVEL_FILE`` (then {}):
    the file-log setting of dbt invocations run by Dagster (``DBT_FILE_LOG_DEFAULT``)."""
    return {} if os.environ.get(DBT_FILE_LOG_ENV) else {DBT_FILE_LOG_ENV: DBT_FILE_LOG_DEFAULT}


# dbt's unit tests check the models' SQL on hand-made rows, not the practice's data: they run in the test
# suite (tests/test_marts_dirty.py builds the project with every one of them) and not in the production
# builds, where they cost 23-30 s a full build (dbt's own guidance: development and CI only)
PRODUCTION_BUILD_EXCLUDES = ("--exclude-resource-type", "unit_test")
RAW_WRITE_WAIT = "dbt waits for a raw write in progress (a sync's transaction) to commit before it reads raw"


def _stream_with_summaries(context, dbt: DbtCliResource, warehouse: WarehouseResource, args: list[str],
                           settings: Mapping[str, str]):
    """Run ``dbt <args>`` for ``context`` with the run settings ``settings`` (``run_settings_env``),
    without the unit tests (``PRODUCTION_BUILD_EXCLUDES``) and the tests that read absent relations
    (``exclude_unrunnable_tests``), and yield its events:
    each model's output with its columns' database types read from the warehouse after the build
    (``column_schema_with_descriptions``, the UI's Columns table), mart outputs with their summary.
    dbt runs with raw held steady (``warehouse.raw_held_steady``: no raw write commits during the build,
    which waits for one in progress). The run starts from, and then leaves, the latest saved parse; dbt
    writes no file log (``dbt_file_log_env``). First of all, it fails without running dbt while a raw table
    the selection reads has a failed check not yet repaired (``refuse_after_failed_raw_checks``)."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    refuse_after_failed_raw_checks(context, warehouse, manifest)
    args = [*args, *PRODUCTION_BUILD_EXCLUDES, *exclude_unrunnable_tests(context, warehouse)]
    target = run_target_path(context)
    connection = warehouse.params.dbt_env()
    seed_partial_parse(target, connection)
    conn = warehouse.connect()
    conn.autocommit = True
    try:
        with warehouse.dbt_environment(connection), exported({**run_settings_env(settings), **dbt_file_log_env()}), \
                raw_held_steady(warehouse.params, lambda: context.log.info(RAW_WRITE_WAIT)):
            invocation = dbt.cli(args, context=context, target_path=target)
            for event in invocation.stream():
                if isinstance(event, dg.Output):
                    key = context.asset_key_for_output(event.output_name)
                    spec_metadata = context.assets_def.specs_by_key[key].metadata
                    extra = mart_summary(warehouse, key.path[-1])
                    relation = _relation(manifest, spec_metadata.get(UNIQUE_ID, ""))
                    with conn.cursor() as cur:
                        built = column_types(cur, relation) if relation else []
                    if built:
                        extra[COLUMN_SCHEMA] = dg.MetadataValue.table_schema(
                            column_schema_with_descriptions(built, _table_schema(spec_metadata.get(COLUMN_SCHEMA))))
                    if extra:
                        event = event.with_metadata({**event.metadata, **extra})
                yield event
    finally:
        conn.close()
        removed = prune_run_targets(run_targets_base(), dental_settings.keep(RUN_FOLDERS_KEEP))
        if removed:
            context.log.info(f"removed {len(removed)} old dbt run folder(s) from {run_targets_base()}")
    keep_partial_parse(target, connection)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    name="dental_dbt_models",
    pool=MODELS_POOL,
    exclude=INCREMENTAL_SELECT,
)
def dental_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    opendental: OpenDentalSourceResource,
):
    """``dbt build`` of the selected unpartitioned models (their tests run as asset checks), with the
    run setting ``as_of_date`` set to the source's as-of date (the synthetic practice's, else
    ``DENTAL_AS_OF`` or today), which dates the AR aging and the scores. The marts of
    ``MART_SUMMARIES`` get a summary table in their materialization metadata."""
    yield from _stream_with_summaries(context, dbt, warehouse, ["build"],
                                      {"as_of_date": opendental.as_of.isoformat()})


def fact_build_args(first_key: str, last_key: str, all_keys: list[str],
                    as_of: str) -> tuple[list[str], dict[str, str]]:
    """The ``dbt build`` arguments and run settings (``run_settings_env``) of an incremental run over
    the monthly partitions ``first_key..last_key`` (inclusive): settings ``min_date``/``max_date``
    (``dbt_window_vars`` of the range's window) and ``as_of_date``; ``--full-refresh`` when the range
    is every partition (the window is open at both ends), so the tables are rebuilt from scratch, new
    columns included. Raises ValueError for a key outside ``all_keys`` or a reversed range
    (``month_window``)."""
    window = month_window(first_key, last_key, all_keys)
    args = ["build"]
    if window == Window(None, None):
        args.append("--full-refresh")
    return args, {**dbt_window_vars(window), "as_of_date": as_of}


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    name="dental_dbt_facts",
    pool=MODELS_POOL,
    select=INCREMENTAL_SELECT,
    partitions_def=monthly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def dental_dbt_facts(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    opendental: OpenDentalSourceResource,
):
    """Incremental ``dbt build`` of the fact models for the run's monthly partition or partition range
    (one dbt invocation for the whole range: each model deletes the window's rows and inserts them
    again, by business date). Tests on the facts run as asset checks on the whole tables."""
    key_range = context.partition_key_range
    args, settings = fact_build_args(key_range.start, key_range.end,
                                     monthly_partitions.get_partition_keys(), opendental.as_of.isoformat())
    context.log.info(f"dbt facts over {key_range.start}..{key_range.end}: {' '.join(args[1:])} "
                     f"{json.dumps(settings, sort_keys=True)}")
    yield from _stream_with_summaries(context, dbt, warehouse, args, settings)


class DentalDbtCliResource(DbtCliResource):
    """dagster-dbt's ``DbtCliResource``, except how it learns dbt's version before each invocation:
    for the ``dbt`` installed beside this Python (``dbt_executable()``'s first choice), the version of
    the installed ``dbt-core`` package, instead of running ``dbt --version`` (measured 4.2 s: dbt
    imports itself and asks PyPI for its latest release). Any other executable is asked as before."""

    @cached_property
    def _cli_version(self) -> version.Version:
        beside = Path(sys.executable).parent / "dbt"
        if Path(self.dbt_executable).absolute() == beside.absolute():
            return version.parse(importlib.metadata.version("dbt-core"))
        return super()._cli_version


def dbt_resource() -> DbtCliResource:
    return DentalDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())


def relation_for_model(model_name: str) -> str:
    """``"schema"."alias"`` of a dbt model, from the manifest. Raises KeyError for an unknown model."""
    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"]
    for node in nodes.values():
        if node["resource_type"] == "model" and node["name"] == model_name:
            return f'"{node["schema"]}"."{node["alias"]}"'
    raise KeyError(f"no dbt model named {model_name}")

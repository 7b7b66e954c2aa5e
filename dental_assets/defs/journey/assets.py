"""The treatment-journey dataset: versioned Parquet files, one folder per year partition.

The dbt model ``fct_treatment_journey`` computes one row per procedure (ProcStatus 1, 2, 5 or 6; not the
broken-appointment charges D9986 and D9987) with its features and targets in SQL. This asset reads one
year of it, de-identifies it (``deidentify``) and writes it to
``$DENTAL_DATA_DIR/processed/treatment_journey/<year>/treatment_journey_<source>_<UTC timestamp>.parquet``,
keeping the newest ``DENTAL_JOURNEY_KEEP`` versions (default 5). A statistics JSON goes beside each
file, with the outcome of the data-quality rules (``data_quality_check``). A version that fails them is
not published: it is written to ``<year>/quarantine/`` (``QUARANTINE_DIR``), which the models' loader
never reads (``journey_models.load_dataset`` also skips any version whose statistics do not record a
pass), so the models keep reading the year's previous passing version.

De-identification, by HIPAA Safe Harbor (docs/journey.md, "De-identification"):
- every raw key (ProcNum, PatNum, ClinicNum, ProvNum, CarrierNum) becomes a keyed hash,
  ``HMAC-SHA256(salt, "<kind>:<key>")`` as 16 hex characters (``KEY_COLUMNS``). The salt is a secret
  that is not in the warehouse: ``DENTAL_JOURNEY_SALT`` (``JourneyKeysResource``), or, for the synthetic
  source only, a random key kept in ``$DENTAL_HOME/journey_salt`` (mode 0600). The hashes are computed
  here, in Python, so neither the salt nor the keyed hashes ever reach the warehouse or dbt's logs;
- the date of service and the decision date are dropped (``procedure_year`` and intervals in days
  remain), and so is the bookkeeping flag ``decision_date_fallback``, counted in the statistics instead;
- the model computes the features shared across patients and the age per calendar year of the decision
  date (the carrier's statistics over its claims of the year before; the age as the year minus the year
  of birth, capped at 90), so that their values tell the year, not the day (the fees excepted: they
  change at the practice's fee review; docs/journey.md);
- ``patient_zip3`` is set to ``000`` for the ZIP3 areas HHS lists as 20,000 people or fewer
  (``RESTRICTED_ZIP3``) and where the file holds fewer than ``ZIP3_MIN_PATIENTS`` patients in that area;
- rows are ordered by ``procedure_key``, not by ProcNum;
- the result is checked (``check_deidentified``): no date column, no ``*_id`` column.
The files hold no names, addresses, contact details or notes.
"""

import datetime as dt
import dataclasses
import hashlib
import hmac
import io
import json
import os
import secrets
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from dagster_dbt import get_asset_key_for_model

from dental_assets import settings
from dental_assets.defs.dbt.assets import MODELS_POOL, dental_dbt_models, relation_for_model
from dental_assets.defs.resources import JourneyKeysResource, OpenDentalSourceResource, WarehouseResource
from dental_assets.errors import ConfigurationError
from dental_assets.journey_models import DATA_QUALITY_STATS_KEY, version_stamp
from dental_assets.partitions import yearly_partitions
from dental_assets.warehouse import PgParams, dental_home

JOURNEY_MODEL = "fct_treatment_journey"
JOURNEY_GROUP = "journey"
JOURNEY_SALT_SETTING = "DENTAL_JOURNEY_SALT"
DEMO_SALT_FILE = "journey_salt"
# the shortest salt accepted: 16 characters, as a 64-bit random key written in hex
MIN_SALT_CHARS = 16
# hex characters kept of each keyed hash (64 bits: a collision among 1.5M keys has probability ~6e-8)
KEY_HEX_CHARS = 16
# raw key column of the model -> (key column of the file, the kind named inside the hashed message)
KEY_COLUMNS = {
    "procedure_id": ("procedure_key", "procedure"),
    "patient_id": ("patient_key", "patient"),
    "clinic_id": ("clinic_key", "clinic"),
    "provider_id": ("provider_key", "provider"),
    "carrier_id": ("carrier_key", "carrier"),
}
# the model's exact dates, left out of the file (procedure_year and intervals remain): procedurelog.ProcDate
# and the decision date every feature is read at (procedurelog.DateTP, else ProcDate)
DATE_COLUMNS = ("procedure_date", "decision_date")
# the model's flag of rows whose decision date fell back to ProcDate (DateTP a sentinel or after ProcDate):
# counted in the statistics and the data-quality summary, not written (bookkeeping, not a feature; whether
# DateTP was usable may differ between completed and planned rows, so it could leak target_accepted)
DECISION_FALLBACK_COLUMN = "decision_date_fallback"
ZIP3_COLUMN = "patient_zip3"
# Safe Harbor keeps a ZIP3 only where its area holds more than 20,000 people (45 CFR
# 164.514(b)(2)(i)(B)). HHS names the three-digit ZIP areas of 20,000 people or fewer in the 2000 census
# (67 FR 53182, 53233-53234; HHS's de-identification guidance of 2012): always written "000".
RESTRICTED_ZIP3 = frozenset({
    "036", "059", "063", "102", "203", "556", "692", "790", "821",
    "823", "830", "831", "878", "879", "884", "890", "893",
})
# Any other ZIP3 is kept only when the file holds at least this many distinct patients in it, else "000":
# a rare area in the file singles its few patients out, whatever its population.
ZIP3_MIN_PATIENTS = 20
SUPPRESSED_ZIP3 = "000"
# The folder, inside a year's, of the versions that failed the data-quality rules (``data_quality_check``):
# kept for inspection with their statistics, never read by the models (journey_models.load_dataset reads
# the year's folder itself, not its subfolders).
QUARANTINE_DIR = "quarantine"


def data_dir() -> Path:
    """``$DENTAL_DATA_DIR``, default ``./data``."""
    return settings.data_dir()


def journey_dir(partition_key: str) -> Path:
    return data_dir() / "processed" / "treatment_journey" / partition_key


def demo_salt() -> str:
    """The synthetic source's salt: ``$DENTAL_HOME/journey_salt``, created on first use with 32 random
    bytes in hex and mode 0600 (owner read/write only), then reused so keys stay stable across runs."""
    path = dental_home() / DEMO_SALT_FILE
    if not path.exists():
        # written under a temporary name and linked into place, so a concurrent run (another year)
        # never reads a half-written key: the first link wins, the other run reads the winner's key
        tmp = path.with_name(f".{DEMO_SALT_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    os.chmod(path, 0o600)
    return path.read_text().strip()


def journey_salt(configured: str | None, source_name: str) -> bytes:
    """The secret key of the keyed hashes: ``configured`` (``DENTAL_JOURNEY_SALT``) when set; else, for
    the synthetic source, ``demo_salt()``. Raises ConfigurationError when a real source has none, or when
    it is shorter than ``MIN_SALT_CHARS``. The value is never logged."""
    if configured:
        if len(configured) < MIN_SALT_CHARS:
            raise ConfigurationError(JOURNEY_SALT_SETTING, f"shorter than {MIN_SALT_CHARS} characters",
                                     "the output of `openssl rand -hex 32`")
        return configured.encode()
    if source_name == "synthetic":
        return demo_salt().encode()
    raise ConfigurationError(JOURNEY_SALT_SETTING, "required to write the treatment-journey dataset "
                             "of a real practice", "the output of `openssl rand -hex 32`")


def keyed_hash(values: list[int | None], salt: bytes, kind: str) -> list[str | None]:
    """``HMAC-SHA256(salt, "<kind>:<value>")`` of each value, its first ``KEY_HEX_CHARS`` hex characters;
    None stays None. ``kind`` (procedure, patient, ...) keeps equal numbers of different tables apart."""
    cache: dict[int, str] = {}
    out: list[str | None] = []
    for value in values:
        if value is None:
            out.append(None)
            continue
        key = cache.get(value)
        if key is None:
            key = hmac.digest(salt, f"{kind}:{value}".encode(), hashlib.sha256).hex()[:KEY_HEX_CHARS]
            cache[value] = key
        out.append(key)
    return out


def suppress_sparse_zip3(zip3: list[str | None], patient_keys: list[str | None],
                         min_patients: int = ZIP3_MIN_PATIENTS) -> list[str | None]:
    """Each ZIP3 kept when it is not one of HHS's ``RESTRICTED_ZIP3`` and at least ``min_patients``
    distinct patients of the same rows have it, else ``SUPPRESSED_ZIP3`` ("000"); None stays None."""
    patients: dict[str, set] = {}
    for area, patient in zip(zip3, patient_keys):
        if area is not None:
            patients.setdefault(area, set()).add(patient)
    kept = {area for area, members in patients.items()
            if len(members) >= min_patients and area not in RESTRICTED_ZIP3}
    return [None if area is None else (area if area in kept else SUPPRESSED_ZIP3) for area in zip3]


def check_deidentified(table: pa.Table) -> None:
    """Fail closed: raises ValueError when a column of ``table`` is a date or timestamp, or is named like a
    raw key (``*_id``) or a date (``*_date``): a new model column must be de-identified here first."""
    bad = [f.name for f in table.schema
           if pa.types.is_temporal(f.type) or f.name.endswith(("_id", "_date"))]
    if bad:
        raise ValueError(f"the journey dataset would carry identifying columns: {', '.join(bad)}")


def deidentify(table: pa.Table, salt: bytes) -> pa.Table:
    """The model's rows made Safe Harbor de-identified: each ``KEY_COLUMNS`` column replaced, in place,
    by its keyed hash; ``DATE_COLUMNS`` and ``DECISION_FALLBACK_COLUMN`` dropped; ``patient_zip3`` of sparse
    areas set to "000"; rows sorted by ``procedure_key``. Raises ValueError (``check_deidentified``) when an
    identifying column remains."""
    for raw, (keyed, kind) in KEY_COLUMNS.items():
        if raw in table.column_names:
            index = table.column_names.index(raw)
            keys = keyed_hash(table.column(raw).to_pylist(), salt, kind)
            table = table.remove_column(index).add_column(index, keyed, pa.array(keys, pa.string()))
    table = table.drop_columns([c for c in (*DATE_COLUMNS, DECISION_FALLBACK_COLUMN) if c in table.column_names])
    if ZIP3_COLUMN in table.column_names and "patient_key" in table.column_names:
        index = table.column_names.index(ZIP3_COLUMN)
        areas = suppress_sparse_zip3(table.column(ZIP3_COLUMN).to_pylist(), table.column("patient_key").to_pylist())
        table = table.remove_column(index).add_column(index, ZIP3_COLUMN, pa.array(areas, pa.string()))
    if "procedure_key" in table.column_names and table.num_rows:
        table = table.take(pc.sort_indices(table, [("procedure_key", "ascending")]))
    check_deidentified(table)
    return table


# PostgreSQL type OID -> Arrow type of the column in the Parquet file (numeric becomes float64).
_ARROW_BY_OID = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    700: pa.float32(),
    701: pa.float64(),
    1700: pa.float64(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    25: pa.string(),
    1043: pa.string(),
}


def _fetch_year(warehouse: WarehouseResource | PgParams, relation: str, year: int) -> pa.Table:
    """The model's rows with ``procedure_date`` in ``year`` (ordered by ``procedure_id``), typed by the
    model's column types (``_ARROW_BY_OID``; numeric becomes float64, the nearest double).

    The rows travel as ``COPY ... TO STDOUT (FORMAT csv)`` and are parsed by pyarrow with the column
    types fixed in advance (a NULL is an unquoted empty field, an empty string a quoted one, booleans
    ``t``/``f``): at 100,000 patients a year is ~500,000 rows x 38 columns, which row-by-row fetching
    turned into Python objects far more slowly. Raises TypeError for a column type with no Arrow mapping.
    """
    conn = warehouse.connect()
    try:
        with conn.cursor() as cur:
            # the text forms pyarrow parses, whatever the server's defaults: ISO dates, and floats
            # written with every digit they need to read back exactly
            cur.execute("SET datestyle = 'ISO, YMD'; SET extra_float_digits = 3")
            cur.execute(f"SELECT * FROM {relation} LIMIT 0")
            description = cur.description
            fields = []
            for column in description:
                arrow_type = _ARROW_BY_OID.get(column.type_code)
                if arrow_type is None:
                    raise TypeError(f"column {column.name} has PostgreSQL type oid {column.type_code}, unmapped")
                fields.append(pa.field(column.name, arrow_type))
            schema = pa.schema(fields)
            query = cur.mogrify(
                f"SELECT * FROM {relation} WHERE procedure_date >= %s AND procedure_date < %s "
                "ORDER BY procedure_id",
                (dt.date(year, 1, 1), dt.date(year + 1, 1, 1)),
            ).decode()
            buffer = io.BytesIO()
            cur.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)", buffer)
    finally:
        conn.close()
    if buffer.getbuffer().nbytes == 0:
        return schema.empty_table()
    buffer.seek(0)
    return pa_csv.read_csv(
        buffer,
        read_options=pa_csv.ReadOptions(column_names=schema.names, block_size=1 << 24),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=schema,
            true_values=["t"],
            false_values=["f"],
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    ).select(schema.names).cast(schema)


def prune_versions(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` Parquet versions (by their names' timestamps, whatever the source;
    and their statistics); returns deleted files."""
    versions = sorted(folder.glob("treatment_journey_*.parquet"), key=version_stamp)
    deleted = []
    for old in versions[: max(len(versions) - keep, 0)]:
        for path in (old, old.with_suffix(".stats.json")):
            if path.exists():
                path.unlink()
                deleted.append(path)
    return deleted


def _share(column: pa.ChunkedArray) -> float | None:
    """Share of true among the non-null values of a boolean column (None when all are null)."""
    values = [v for v in column.to_pylist() if v is not None]
    return sum(1 for v in values if v) / len(values) if values else None


def decision_date_fallbacks(table: pa.Table) -> int | None:
    """Rows of the model's ``table`` whose decision date fell back to ``procedure_date`` (procedurelog.DateTP
    a sentinel or after ProcDate: ``DECISION_FALLBACK_COLUMN`` true); None when the column is absent (the
    de-identified file)."""
    if DECISION_FALLBACK_COLUMN not in table.column_names:
        return None
    return int(pc.sum(table.column(DECISION_FALLBACK_COLUMN).cast(pa.int64())).as_py() or 0)


def data_quality_summary(table: pa.Table, year: int, fallbacks: int | None = None) -> dict[str, dg.MetadataValue]:
    """The data-quality summary of one year of the dataset, as materialization metadata.

    Entries (counts, shares and dates only, no row values): ``dq/rows``, ``dq/patients`` (distinct
    ``patient_key``), ``dq/duplicate_procedure_ids`` (rows whose ``procedure_key``, else
    ``procedure_id``, repeats: must be 0), ``dq/rows_outside_year`` (``procedure_date``, else
    ``procedure_year``, outside ``year``: must be 0), ``dq/first_date`` and ``dq/last_date`` (of
    ``procedure_date``; empty for the de-identified file, which has none), ``dq/target_accepted_rate`` and
    ``dq/target_fully_paid_rate`` (share of true among non-null), ``dq/columns_with_nulls`` (a count)
    and ``dq/null_columns`` (their names), ``dq/decision_date_fallbacks`` (rows whose decision date fell
    back to ProcDate: counted from ``table``'s ``decision_date_fallback`` when it has one, else
    ``fallbacks``, the count ``write_journey_partition`` took before de-identifying; null when neither), and
    ``data_quality``, a markdown table of all of them with a verdict ``ok`` / ``CHECK``."""
    names = set(table.column_names)
    rows = table.num_rows
    id_column = "procedure_key" if "procedure_key" in names else "procedure_id"
    ids = table.column(id_column).to_pylist() if id_column in names else []
    duplicates = len(ids) - len(set(ids))
    dates = [d for d in table.column("procedure_date").to_pylist() if d is not None] if (
        "procedure_date" in names) else []
    if dates:
        outside = sum(1 for d in dates if d.year != year)
    else:  # the de-identified file: its year column
        years = table.column("procedure_year").to_pylist() if "procedure_year" in names else []
        outside = sum(1 for y in years if y is not None and y != year)
    patients = len({k for k in table.column("patient_key").to_pylist() if k is not None}) if (
        "patient_key" in names) else 0
    accepted = _share(table.column("target_accepted")) if "target_accepted" in names else None
    fully_paid = _share(table.column("target_fully_paid")) if "target_fully_paid" in names else None
    with_nulls = sorted(n for n in table.column_names if table.column(n).null_count)
    counted = decision_date_fallbacks(table)
    fallbacks = counted if counted is not None else fallbacks
    rate = lambda v: "n/a" if v is None else f"{v:.1%}"  # noqa: E731
    lines = [
        "| measure | value | verdict |", "|---|--:|---|",
        f"| rows | {rows:,} | {'ok' if rows else 'CHECK: empty'} |",
        f"| patients (distinct keys) | {patients:,} | |",
        f"| duplicate procedure ids | {duplicates:,} | {'ok' if duplicates == 0 else 'CHECK'} |",
        f"| rows dated outside {year} | {outside:,} | {'ok' if outside == 0 else 'CHECK'} |",
        f"| procedure dates | {min(dates) if dates else '-'} to {max(dates) if dates else '-'} | |",
        f"| target_accepted rate | {rate(accepted)} | |",
        f"| target_fully_paid rate | {rate(fully_paid)} | |",
        f"| columns with nulls | {len(with_nulls)} of {table.num_columns} | |",
        "| decision date fell back to the procedure date (DateTP missing or after ProcDate) | "
        + ("n/a" if fallbacks is None else f"{fallbacks:,} ({rate(fallbacks / rows if rows else None)})") + " | |",
    ]
    return {
        "data_quality": dg.MetadataValue.md("\n".join(lines)),
        "dq/rows": dg.MetadataValue.int(rows),
        "dq/patients": dg.MetadataValue.int(patients),
        "dq/duplicate_procedure_ids": dg.MetadataValue.int(duplicates),
        "dq/rows_outside_year": dg.MetadataValue.int(outside),
        "dq/first_date": str(min(dates)) if dates else "",
        "dq/last_date": str(max(dates)) if dates else "",
        "dq/target_accepted_rate": dg.MetadataValue.float(round(accepted, 4)) if accepted is not None else dg.MetadataValue.null(),
        "dq/target_fully_paid_rate": dg.MetadataValue.float(round(fully_paid, 4)) if fully_paid is not None else dg.MetadataValue.null(),
        "dq/columns_with_nulls": dg.MetadataValue.int(len(with_nulls)),
        "dq/null_columns": ", ".join(with_nulls) or "none",
        "dq/decision_date_fallbacks": (dg.MetadataValue.int(fallbacks) if fallbacks is not None
                                       else dg.MetadataValue.null()),
    }


DATA_QUALITY_CHECK = "data_quality"
JOURNEY_KEY_COLUMNS = ("procedure_key", "patient_key", "procedure_year")  # never NULL in the file


def data_quality_check(table: pa.Table, quality: dict[str, dg.MetadataValue]) -> dg.AssetCheckResult:
    """The blocking check of a year's file (``treatment_journey``'s ``data_quality``), from
    ``data_quality_summary``'s ``quality``: fails (ERROR) when a procedure repeats, a row lies outside
    the year, or a key column (``JOURNEY_KEY_COLUMNS``) is missing or holds a NULL; metadata counts only
    (the summary's keys, plus ``dq/null_keys`` and ``dq/missing_key_columns``). A year that fails it is
    written to quarantine (``write_journey_checked``), so the models (``treatment_journey_models``) are not
    trained on it: they read the year's previous passing version, if any."""
    present = [name for name in JOURNEY_KEY_COLUMNS if name in table.column_names]
    failures = {
        "dq/duplicate_procedure_ids": quality["dq/duplicate_procedure_ids"].value,
        "dq/rows_outside_year": quality["dq/rows_outside_year"].value,
        "dq/null_keys": sum(table.column(name).null_count for name in present),
        "dq/missing_key_columns": len(JOURNEY_KEY_COLUMNS) - len(present),
    }
    passed = not any(failures.values())
    return dg.AssetCheckResult(
        check_name=DATA_QUALITY_CHECK,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if passed else (f"failed: the year's file is written to {QUARANTINE_DIR}/, not read "
                                         "by the models"),
        metadata={**{k: dg.MetadataValue.int(v) for k, v in failures.items()}, "dq/rows": quality["dq/rows"]},
    )


@dataclasses.dataclass
class JourneyWrite:
    """One year written by ``write_journey_checked``: the file (under ``QUARANTINE_DIR`` when it failed
    the data-quality rules), the de-identified table, the files pruned, the data-quality summary
    (``data_quality_summary``) and the check's result (``data_quality_check``)."""

    path: Path
    table: pa.Table
    pruned: list[Path]
    quality: dict[str, dg.MetadataValue]
    check: dg.AssetCheckResult

    @property
    def quarantined(self) -> bool:
        return not self.check.passed


def write_journey_checked(
    warehouse: WarehouseResource | PgParams, relation: str, partition_key: str, source_name: str, keep: int = 5,
    salt: str | None = None,
) -> JourneyWrite:
    """Write one year of the dataset: read ``relation`` (``_fetch_year``), de-identify it (``deidentify``,
    with the key ``journey_salt(salt or $DENTAL_JOURNEY_SALT, source_name)``, which raises
    ConfigurationError for a real source without one) and judge it by the data-quality rules
    (``data_quality_summary``, ``data_quality_check``: no repeated procedure, no row outside the year, no
    NULL key). A year that passes is published as
    ``<data dir>/processed/treatment_journey/<partition_key>/treatment_journey_<source>_<UTC timestamp>.parquet``;
    one that fails goes to ``<partition_key>/quarantine/`` under the same name, where the models' loader
    never reads it. Its ``.stats.json`` goes beside it first (rows, column types, null rates 0-1,
    ``decision_date_fallbacks``: rows whose decision date fell back to ProcDate, counted before the flag is
    dropped, null when the model has no such flag; and ``data_quality``: ``passed`` and the check's counts),
    then the Parquet, through a temporary file renamed into place, so a published file always has its
    statistics. The newest ``keep`` versions of the folder written to are kept."""
    year = int(partition_key)
    key = journey_salt(salt or os.environ.get(JOURNEY_SALT_SETTING), source_name)
    fetched = _fetch_year(warehouse, relation, year)
    fallbacks = decision_date_fallbacks(fetched)
    table = deidentify(fetched, key)
    quality = data_quality_summary(table, year, fallbacks=fallbacks)
    check = data_quality_check(table, quality)

    folder = journey_dir(partition_key) if check.passed else journey_dir(partition_key) / QUARANTINE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"treatment_journey_{source_name}_{stamp}.parquet"

    null_rates = {
        name: round(table.column(name).null_count / table.num_rows, 4) if table.num_rows else 0.0
        for name in table.column_names
    }
    stats = {
        "partition": partition_key,
        "source": source_name,
        "rows": table.num_rows,
        "columns": {name: str(table.schema.field(name).type) for name in table.column_names},
        "null_rates": null_rates,
        "decision_date_fallbacks": fallbacks,
        DATA_QUALITY_STATS_KEY: {"passed": bool(check.passed),
                                 **{name: value.value for name, value in check.metadata.items()}},
    }
    stats_path = path.with_suffix(".stats.json")
    stats_tmp = stats_path.with_suffix(".json.tmp")
    stats_tmp.write_text(json.dumps(stats, indent=2, sort_keys=True))
    stats_tmp.replace(stats_path)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, filesystem=pafs.LocalFileSystem())  # a path, never parsed as a URI
    tmp.replace(path)
    return JourneyWrite(path, table, prune_versions(folder, keep), quality, check)


def write_journey_partition(
    warehouse: WarehouseResource | PgParams, relation: str, partition_key: str, source_name: str, keep: int = 5,
    salt: str | None = None,
) -> tuple[Path, pa.Table, list[Path]]:
    """``write_journey_checked``'s file (under ``QUARANTINE_DIR`` when it failed the data-quality rules), the
    table written and the files pruned."""
    written = write_journey_checked(warehouse, relation, partition_key, source_name, keep=keep, salt=salt)
    return written.path, written.table, written.pruned


@dg.asset(
    key="treatment_journey",
    partitions_def=yearly_partitions,
    deps=[get_asset_key_for_model([dental_dbt_models], JOURNEY_MODEL)],
    group_name=JOURNEY_GROUP,
    kinds={"parquet", "python"},
    pool=MODELS_POOL,  # one build from the models at a time (defs/dbt/assets.py)
    description=(
        "One row per procedure (ProcStatus 1, 2, 5, 6; not the broken-appointment charges D9986, D9987) of the "
        "year, features and targets from "
        f"`{JOURNEY_MODEL}`, de-identified by HIPAA Safe Harbor (keyed hashes for keys, no dates of "
        "service, ages over 89 as 90, ZIP3); versioned Parquet under "
        "data/processed/treatment_journey/<year>/."
    ),
    check_specs=[dg.AssetCheckSpec(DATA_QUALITY_CHECK, asset="treatment_journey", blocking=True,
                                   description="no repeated procedure, no row outside the year, no NULL key; "
                                               "a failing year is written to quarantine, not read by the models")],
)
def treatment_journey(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    opendental: OpenDentalSourceResource,
    journey_keys: JourneyKeysResource,
) -> dg.MaterializeResult:
    source_name = opendental.source().name
    written = write_journey_checked(
        warehouse, relation_for_model(JOURNEY_MODEL), context.partition_key, source_name,
        keep=settings.keep("DENTAL_JOURNEY_KEEP"), salt=journey_keys.salt,
    )
    path, table, pruned = written.path, written.table, written.pruned
    null_rates = json.loads(path.with_suffix(".stats.json").read_text())["null_rates"]
    if written.quarantined:
        failures = ", ".join(f"{k} {v.value}" for k, v in written.check.metadata.items() if k != "dq/rows" and v.value)
        context.log.error(f"treatment_journey {context.partition_key}: {table.num_rows} rows failed the data-quality "
                          f"rules ({failures}); quarantined -> {path}, not read by the models")
    else:
        context.log.info(f"treatment_journey {context.partition_key}: {table.num_rows} rows -> {path}")
    return dg.MaterializeResult(
        check_results=[written.check],
        metadata={
            **written.quality,
            "dagster/row_count": dg.MetadataValue.int(table.num_rows),
            "path": dg.MetadataValue.path(str(path)),
            "quarantined": dg.MetadataValue.bool(written.quarantined),
            "source": source_name,
            "columns": dg.MetadataValue.int(table.num_columns),
            "versions_pruned": dg.MetadataValue.int(len([p for p in pruned if p.suffix == ".parquet"])),
            "null_rates": dg.MetadataValue.md(
                "| column | null rate |\n|---|---|\n"
                + "\n".join(f"| {k} | {v:.2%} |" for k, v in null_rates.items())
            ),
        }
    )

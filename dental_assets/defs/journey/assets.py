"""The treatment-journey dataset: versioned Parquet files, one folder per year partition.

The dbt model ``fct_treatment_journey`` computes one row per procedure (ProcStatus 1, 2, 5 or 6) with
its features and targets in SQL. This asset reads one year of it and replaces the patient key with a
salted hash. It writes the rows to
``$DENTAL_DATA_DIR/processed/treatment_journey/<year>/treatment_journey_<source>_<UTC timestamp>.parquet``
and keeps the newest ``DENTAL_JOURNEY_KEEP`` versions (default 5). A statistics JSON goes beside each
file.

Pseudonymization: ``patient_key = sha256(salt + ":" + PatNum)`` (hex, 16 characters), with the salt
from ``DENTAL_PSEUDONYM_SALT``. The synthetic source, which holds no real patients, falls back to a
fixed demo salt. Any other source refuses to run without one. The files hold no names, addresses or notes.
"""

import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from dagster_dbt import get_asset_key_for_model

from dental_assets import settings
from dental_assets.defs.dbt.assets import dental_dbt_models, relation_for_model
from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource
from dental_assets.partitions import yearly_partitions
from dental_assets.warehouse import PgParams

JOURNEY_MODEL = "fct_treatment_journey"
JOURNEY_GROUP = "journey"
SYNTHETIC_DEMO_SALT = "synthetic-demo-salt"


def data_dir() -> Path:
    """``$DENTAL_DATA_DIR``, default ``./data``."""
    return settings.data_dir()


def journey_dir(partition_key: str) -> Path:
    return data_dir() / "processed" / "treatment_journey" / partition_key


def pseudonym_salt(source_name: str) -> str:
    """The salt for patient keys. Raises ConfigurationError when a real source has no salt configured."""
    return settings.pseudonym_salt(required=source_name != "synthetic") or SYNTHETIC_DEMO_SALT


def pseudonymize(patient_ids: list[int | None], salt: str) -> list[str | None]:
    """Salted SHA-256 of each PatNum, 16 hex characters; None stays None."""
    return [
        None if pid is None else hashlib.sha256(f"{salt}:{pid}".encode()).hexdigest()[:16]
        for pid in patient_ids
    ]


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
    ``t``/``f``): at 100,000 patients a year is ~500,000 rows x 36 columns, which row-by-row fetching
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
    """Delete all but the newest ``keep`` Parquet versions (and their statistics); returns deleted files."""
    versions = sorted(folder.glob("treatment_journey_*.parquet"))
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


def data_quality_summary(table: pa.Table, year: int) -> dict[str, dg.MetadataValue]:
    """The data-quality summary of one year of the dataset, as materialization metadata.

    Entries (counts, shares and dates only, no row values): ``dq/rows``, ``dq/patients`` (distinct
    ``patient_key``), ``dq/duplicate_procedure_ids`` (rows whose ``procedure_id`` repeats: must be 0),
    ``dq/rows_outside_year`` (``procedure_date`` outside ``year``: must be 0), ``dq/first_date`` and
    ``dq/last_date`` (of ``procedure_date``), ``dq/target_accepted_rate`` and
    ``dq/target_fully_paid_rate`` (share of true among non-null), ``dq/columns_with_nulls`` (a count)
    and ``dq/null_columns`` (their names), and
    ``data_quality``, a markdown table of all of them with a verdict ``ok`` / ``CHECK``."""
    names = set(table.column_names)
    rows = table.num_rows
    ids = table.column("procedure_id").to_pylist() if "procedure_id" in names else []
    duplicates = len(ids) - len(set(ids))
    dates = [d for d in table.column("procedure_date").to_pylist() if d is not None] if (
        "procedure_date" in names) else []
    outside = sum(1 for d in dates if d.year != year)
    patients = len({k for k in table.column("patient_key").to_pylist() if k is not None}) if (
        "patient_key" in names) else 0
    accepted = _share(table.column("target_accepted")) if "target_accepted" in names else None
    fully_paid = _share(table.column("target_fully_paid")) if "target_fully_paid" in names else None
    with_nulls = sorted(n for n in table.column_names if table.column(n).null_count)
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
    }


def write_journey_partition(
    warehouse: WarehouseResource | PgParams, relation: str, partition_key: str, source_name: str, keep: int = 5,
) -> tuple[Path, pa.Table, list[Path]]:
    """Write one year of the dataset: read ``relation`` (``_fetch_year``), replace ``patient_id`` with
    ``patient_key`` (``pseudonymize``; the salt from ``pseudonym_salt``, which raises ConfigurationError for a
    real source without one), write
    ``<data dir>/processed/treatment_journey/<partition_key>/treatment_journey_<source>_<UTC timestamp>.parquet``
    (through a temporary file renamed into place) and its ``.stats.json`` (rows, column types, null
    rates 0-1), then keep the newest ``keep`` versions. Returns the file, the table written and the
    files pruned."""
    year = int(partition_key)
    table = _fetch_year(warehouse, relation, year)
    if "patient_id" in table.column_names:
        keys = pseudonymize(table.column("patient_id").to_pylist(), pseudonym_salt(source_name))
        index = table.column_names.index("patient_id")
        table = table.remove_column(index).add_column(index, "patient_key", pa.array(keys, pa.string()))

    folder = journey_dir(partition_key)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"treatment_journey_{source_name}_{stamp}.parquet"
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)

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
    }
    path.with_suffix(".stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True))
    return path, table, prune_versions(folder, keep)


@dg.asset(
    key="treatment_journey",
    partitions_def=yearly_partitions,
    deps=[get_asset_key_for_model([dental_dbt_models], JOURNEY_MODEL)],
    group_name=JOURNEY_GROUP,
    kinds={"parquet", "python"},
    description=(
        "One row per procedure (ProcStatus 1, 2, 5, 6) of the year, features and targets from "
        f"`{JOURNEY_MODEL}`, patient keys pseudonymized; versioned Parquet under "
        "data/processed/treatment_journey/<year>/."
    ),
)
def treatment_journey(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    opendental: OpenDentalSourceResource,
) -> dg.MaterializeResult:
    year = int(context.partition_key)
    source_name = opendental.source().name
    path, table, pruned = write_journey_partition(
        warehouse, relation_for_model(JOURNEY_MODEL), context.partition_key, source_name,
        keep=settings.keep("DENTAL_JOURNEY_KEEP"),
    )
    null_rates = json.loads(path.with_suffix(".stats.json").read_text())["null_rates"]
    context.log.info(f"treatment_journey {context.partition_key}: {table.num_rows} rows -> {path}")
    quality = data_quality_summary(table, year)
    return dg.MaterializeResult(
        metadata={
            **quality,
            "dagster/row_count": dg.MetadataValue.int(table.num_rows),
            "path": dg.MetadataValue.path(str(path)),
            "source": source_name,
            "columns": dg.MetadataValue.int(table.num_columns),
            "versions_pruned": dg.MetadataValue.int(len([p for p in pruned if p.suffix == ".parquet"])),
            "null_rates": dg.MetadataValue.md(
                "| column | null rate |\n|---|---|\n"
                + "\n".join(f"| {k} | {v:.2%} |" for k, v in null_rates.items())
            ),
        }
    )

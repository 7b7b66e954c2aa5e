"""Writing a generated practice: into PostgreSQL's ``raw`` schema, or as Parquet files."""

from __future__ import annotations

import io
import json
import queue
import shutil
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from dental_assets.catalog import RAW_SCHEMA, create_raw_indexes, pg_create_table_sql, quote_pg, raw_tables
from dental_assets.pgcopy import copy_arrow, sanitize_for_postgres
from dental_assets.replication.verified import forget
from dental_assets.warehouse import PgParams

from .generate import Practice
from .safety import DEMO_FOLDER_MARKER, ensure_demo_folder, ensure_demo_target

LOCAL_FILES = pafs.LocalFileSystem()  # Parquet paths are local paths, never parsed as URIs (a folder "C:" is a folder)


def _params(url_or_params: str | PgParams) -> PgParams:
    return url_or_params if isinstance(url_or_params, PgParams) else PgParams.from_url(url_or_params)


def write_postgres_raw(practice: Practice, url_or_params: str | PgParams, force: bool = False,
                       ledger: bool = True) -> dict[str, int]:
    """Replace the contents of the ``raw`` tables with the practice, in one transaction.

    With ``ledger`` (default), the ground truth goes beside it in schema ``synthetic`` (replaced in the same
    transaction): ``run`` (one row: AsOf, Start, Patients, Seed, the rates, DirtyRate), ``ledger_daily``,
    ``ledger_aging`` and ``injections`` (dirty mode; empty otherwise), with the ledger's column names.

    Creates schema ``raw`` and any missing table (``pg_create_table_sql``), truncates every table of the
    practice and COPYs it. ``url_or_params`` is a ``postgresql+psycopg2://`` URL or PgParams. Raises
    NotADemoTargetError (before touching anything) when the database is not marked as a demo target,
    unless ``force``. Returns rows written per table.
    """
    params = _params(url_or_params)
    ensure_demo_target(params, force=force)
    catalog = {t.name: t for t in raw_tables()}
    names = [name for name in practice.tables if name in catalog]
    counts: dict[str, int] = {}
    conn = params.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_pg(RAW_SCHEMA)}")
            for name in names:
                cur.execute(pg_create_table_sql(catalog[name], RAW_SCHEMA))
            if names:
                cur.execute("TRUNCATE " + ", ".join(f"{quote_pg(RAW_SCHEMA)}.{quote_pg(n)}" for n in names))
                forget(cur, [f"{RAW_SCHEMA}.{n}" for n in names])  # a replication plan's verifications
            counts = _copy_pipelined(cur, RAW_SCHEMA, {name: practice.tables[name] for name in names})
            for name in names:  # the catalog's declared indexes, built after the COPY (once, not row by row)
                create_raw_indexes(cur, catalog[name], RAW_SCHEMA)
            if ledger:
                _write_ledger(cur, practice)
        with conn.cursor() as cur:  # statistics now, so the first queries on raw are planned well
            for name in names:
                cur.execute(f"ANALYZE {quote_pg(RAW_SCHEMA)}.{quote_pg(name)}")
        conn.commit()
    finally:
        conn.close()
    return counts


_CHUNK_ROWS = 100_000


def _copy_pipelined(cur, schema: str, tables: dict[str, pa.Table]) -> dict[str, int]:
    """COPY every table (same CSV and NUL handling as ``dental_assets.pgcopy.copy_arrow``), with the CSV
    of the next chunk encoded in a background thread while PostgreSQL parses the current one (pyarrow
    and libpq both release the GIL). Returns rows per table. Errors of either side are raised here."""
    work: queue.Queue = queue.Queue(maxsize=3)
    stop = threading.Event()

    def produce() -> None:
        try:
            options = pcsv.WriteOptions(include_header=False, quoting_style="needed")
            for name, table in tables.items():
                data, _ = sanitize_for_postgres(table)
                for offset in range(0, data.num_rows, _CHUNK_ROWS):
                    if stop.is_set():
                        return
                    buffer = io.BytesIO()
                    pcsv.write_csv(data.slice(offset, _CHUNK_ROWS), buffer, options)
                    buffer.seek(0)
                    work.put((name, data.column_names, min(_CHUNK_ROWS, data.num_rows - offset), buffer))
            work.put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            work.put(exc)

    producer = threading.Thread(target=produce, name="synthetic-csv", daemon=True)
    producer.start()
    counts = {name: 0 for name in tables}
    try:
        while True:
            item = work.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            name, columns, rows, buffer = item
            cols = ", ".join(quote_pg(c) for c in columns)
            cur.copy_expert(f"COPY {quote_pg(schema)}.{quote_pg(name)} ({cols}) FROM STDIN WITH (FORMAT csv)",
                            buffer, size=1 << 20)
            counts[name] += rows
    finally:
        stop.set()
        while producer.is_alive():  # unblock a producer waiting on a full queue
            try:
                work.get_nowait()
            except queue.Empty:
                producer.join(0.05)
    return counts


def write_parquet(practice: Practice, directory: str | Path, force: bool = False) -> dict[str, Path]:
    """One ``<table>.parquet`` per table in ``directory`` (created if missing). Returns the paths.

    The ground truth goes beside them in ``directory/_ledger/``: ``daily.parquet``, ``aging.parquet``,
    ``injections.parquet`` (dirty mode only) and ``run.json`` (the configuration and as-of date).

    Raises NotADemoTargetError (before writing) for a folder holding files without the demo mark
    (``safety.ensure_demo_folder``), unless ``force``. The folder is marked; in a folder marked before,
    the earlier run's ``_ledger/`` and table files (``<table>.parquet`` of the tables written here; no
    other file) are removed first, so nothing of it (a dirty run's injections) is left beside this run's.

    Parquet has no seconds unit: datetime columns are stored as timestamp[ms] (same instants).
    """
    out = Path(directory)
    ensure_demo_folder(out, force)
    if (out / DEMO_FOLDER_MARKER).is_file():
        _clear_earlier_run(out, practice.tables)
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_FOLDER_MARKER).write_text("written by dental_synthetic: synthetic data, no patient's\n")
    paths = {}
    for name, table in practice.tables.items():
        path = out / f"{name}.parquet"
        pq.write_table(table, path, filesystem=LOCAL_FILES)
        paths[name] = path
    ledger_dir = out / "_ledger"
    ledger_dir.mkdir(exist_ok=True)
    for name, table in practice.ledger.items():
        pq.write_table(table, ledger_dir / f"{name}.parquet", filesystem=LOCAL_FILES)
    (ledger_dir / "run.json").write_text(json.dumps(run_info(practice), indent=1, sort_keys=True) + "\n")
    return paths


def _clear_earlier_run(out: Path, tables) -> None:
    """Remove what an earlier run wrote into the marked folder ``out``: ``<name>.parquet`` of each of
    ``tables`` (the names the generator writes) and ``_ledger/``; any other file stays."""
    for name in tables:
        (out / f"{name}.parquet").unlink(missing_ok=True)
    shutil.rmtree(out / "_ledger", ignore_errors=True)


def run_info(practice: Practice) -> dict[str, object]:
    """The configuration that produced ``practice`` (JSON-ready: dates as ISO strings)."""
    c = practice.config
    injections = practice.ledger.get("injections")
    return {"AsOf": c.as_of.isoformat(), "Start": c.start.isoformat(), "Patients": c.patients, "Seed": c.seed,
            "InsuranceRate": c.insurance_rate, "CompletionRate": c.completion_rate, "BrokenRate": c.broken_rate,
            "FeeMatchRate": c.fee_match_rate, "DirtyRate": practice.dirty_rate,
            "Injections": 0 if injections is None else injections.num_rows}


def _write_ledger(cur, practice: Practice) -> None:
    from .dirty import INJECTION_SCHEMA

    cur.execute("CREATE SCHEMA IF NOT EXISTS synthetic")
    info = run_info(practice)
    cur.execute("DROP TABLE IF EXISTS synthetic.run, synthetic.ledger_daily, synthetic.ledger_aging, "
                "synthetic.injections")
    cur.execute('CREATE TABLE synthetic.run ("AsOf" date, "Start" date, "Patients" bigint, "Seed" bigint, '
                '"InsuranceRate" double precision, "CompletionRate" double precision, "BrokenRate" double precision, '
                '"FeeMatchRate" double precision, "DirtyRate" double precision, "Injections" bigint)')
    cur.execute("INSERT INTO synthetic.run VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [info[k] for k in ("AsOf", "Start", "Patients", "Seed", "InsuranceRate", "CompletionRate",
                                   "BrokenRate", "FeeMatchRate", "DirtyRate", "Injections")])
    pg = {pa.types.is_date32: "date", pa.types.is_integer: "bigint", pa.types.is_floating: "double precision",
          pa.types.is_string: "text"}
    tables = {"ledger_daily": practice.ledger["daily"], "ledger_aging": practice.ledger["aging"],
              "injections": practice.ledger.get("injections", INJECTION_SCHEMA.empty_table())}
    for name, table in tables.items():
        cols = []
        for f in table.schema:
            sql_type = next(t for test, t in pg.items() if test(f.type))
            cols.append(f"{quote_pg(f.name)} {sql_type}")
        cur.execute(f"CREATE TABLE synthetic.{name} ({', '.join(cols)})")
        copy_arrow(cur, "synthetic", name, table)

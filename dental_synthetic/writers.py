"""Writing a generated practice: into PostgreSQL's ``raw`` schema, or as Parquet files."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from dental_assets.catalog import RAW_SCHEMA, pg_create_table_sql, quote_pg, raw_tables
from dental_assets.pgcopy import copy_arrow
from dental_assets.warehouse import PgParams

from .generate import Practice
from .safety import ensure_demo_target


def _params(url_or_params: str | PgParams) -> PgParams:
    return url_or_params if isinstance(url_or_params, PgParams) else PgParams.from_url(url_or_params)


def write_postgres_raw(practice: Practice, url_or_params: str | PgParams, force: bool = False) -> dict[str, int]:
    """Replace the contents of the ``raw`` tables with the practice, in one transaction.

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
            for name in names:
                counts[name] = copy_arrow(cur, RAW_SCHEMA, name, practice.tables[name]).rows
    finally:
        conn.close()
    return counts


def write_parquet(practice: Practice, directory: str | Path) -> dict[str, Path]:
    """One ``<table>.parquet`` per table in ``directory`` (created if missing). Returns the paths.

    Parquet has no seconds unit: datetime columns are stored as timestamp[ms] (same instants).
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in practice.tables.items():
        path = out / f"{name}.parquet"
        pq.write_table(table, path)
        paths[name] = path
    return paths

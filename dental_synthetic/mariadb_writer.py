"""Writing a generated practice into MariaDB/MySQL as a real OpenDental database.

``write_mariadb(practice, url)`` creates every table of the practice with OpenDental's own DDL
(``dental_assets.catalog.mysql_create_table_sql``: InnoDB, utf8mb4, NOT NULL columns with OpenDental's
defaults) and bulk-loads it with ``LOAD DATA LOCAL INFILE`` from a temporary CSV file per table, one
transaction per table. Existing tables of the practice are emptied first, so writing twice leaves the
same data.

Like the PostgreSQL writer it refuses any database that is not marked as a demo target: the MariaDB
database must hold a table named ``dental_demo_target`` (``mark_mariadb_demo_target(url)`` creates it;
never mark a database that holds real practice data). ``force=True`` skips the check.

Values: the practice's Arrow tables have no nulls; dates and datetimes are written as ISO text
(``0001-01-01`` kept), TIME columns as ``HH:MM:SS`` strings, strings quoted with ``"`` doubled.
The session uses ``time_zone = '+00:00'`` so ``timestamp`` columns (DateTStamp) hold the generated UTC
instants, and a permissive ``sql_mode`` as OpenDental's own installations do.
"""

from __future__ import annotations

import os
import tempfile

import pyarrow as pa
import pyarrow.csv as pcsv

from dental_assets.catalog import mysql_create_table_sql, opendental_schema, raw_tables
from dental_assets.replication.mysql import MySqlParams, connect

from .generate import Practice
from .safety import NotADemoTargetError

DEMO_MARK = "dental_demo_target"


def _connect(url: str):
    """A writable UTC connection to the MariaDB database of ``url``, and its description (no
    credentials). Raises ValueError for a URL of another engine or without a database."""
    params = MySqlParams.from_url(url, setting="--target")
    return connect(params, read_only=False, local_infile=True), params.describe()


def is_mariadb_demo_target(conn) -> bool:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            (DEMO_MARK,),
        )
        return cur.fetchone()[0] > 0


def mark_mariadb_demo_target(url: str) -> None:
    """Mark the MariaDB database of ``url`` as a demo target (creates ``dental_demo_target``)."""
    conn, _ = _connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS `{DEMO_MARK}` (marked_at datetime NOT NULL)")
            cur.execute(f"INSERT INTO `{DEMO_MARK}` VALUES (NOW())")
    finally:
        conn.close()


def _refuse_unless_marked(conn, described: str, force: bool) -> None:
    if not force and not is_mariadb_demo_target(conn):
        raise NotADemoTargetError(
            f"refusing to write synthetic data into {described}: it is not marked as a demo target "
            f"(no table {DEMO_MARK}). Mark a disposable database with "
            "dental_synthetic.mariadb_writer.mark_mariadb_demo_target, or pass force=True (--force on the "
            "command line)."
        )


def ensure_mariadb_demo_target(url: str, force: bool = False) -> None:
    """Return if the MariaDB database of ``url`` holds ``dental_demo_target`` (or ``force``); raise
    NotADemoTargetError otherwise. The CLI asks before it generates the practice."""
    if force:
        return
    conn, described = _connect(url)
    try:
        _refuse_unless_marked(conn, described, force=False)
    finally:
        conn.close()


def write_mariadb(practice: Practice, url: str, force: bool = False) -> dict[str, int]:
    """Create and fill the practice's OpenDental tables in the MariaDB database of ``url``
    (``mysql+pymysql://user:pass@host:port/db``). Raises NotADemoTargetError (before touching
    anything) unless the database holds ``dental_demo_target`` or ``force``; pymysql errors as the
    server reports them. Returns rows written per table."""
    conn, described = _connect(url)
    schema = opendental_schema()
    catalog = {t.name: t for t in raw_tables()}
    counts: dict[str, int] = {}
    try:
        _refuse_unless_marked(conn, described, force)
        with conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")
            cur.execute("SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'")
            cur.execute("SET unique_checks = 0")
            cur.execute("SET foreign_key_checks = 0")
            for name, data in practice.tables.items():
                table = catalog.get(name) or schema[name]
                cur.execute(mysql_create_table_sql(table))
                cur.execute(f"TRUNCATE TABLE `{name}`")
                counts[name] = _load(cur, name, data) if data.num_rows else 0
    finally:
        conn.close()
    return counts


def _load(cur, name: str, data: pa.Table) -> int:
    columns = ", ".join(f"`{c}`" for c in data.column_names)
    fd, path = tempfile.mkstemp(prefix=f"dental-{name}-", suffix=".csv")
    os.close(fd)
    try:
        pcsv.write_csv(
            data, path, pcsv.WriteOptions(include_header=False, quoting_style="all_valid")
        )
        cur.execute("START TRANSACTION")
        cur.execute(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE `{name}` CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
            f"LINES TERMINATED BY '\\n' ({columns})",
            (path,),
        )
        loaded = cur.rowcount
        cur.execute("COMMIT")
    finally:
        os.unlink(path)
    if loaded != data.num_rows:
        raise RuntimeError(f"LOAD DATA loaded {loaded} of {data.num_rows} rows into {name}")
    return loaded

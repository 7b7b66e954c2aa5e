"""The catalog's DDL, run against real servers: every table comes out exactly as the catalog says.

Each check runs twice: for the raw-layer selection (``raw_tables()``) and, marked slow, for all 408
OpenDental tables (``opendental_schema()``), each in a database of its own.

MariaDB: the tables are OpenDental's own (``mysql_create_table_sql``): columns, MySQL base types,
NOT NULL, primary key, InnoDB/utf8mb4, and OpenDental's defaults (a row given only its key reads
0 / '' / 0001-01-01). OpenDental's data holds zero dates ('0000-00-00'), which MariaDB accepts only
with a permissive sql_mode: the test server runs with NO_ENGINE_SUBSTITUTION alone.

PostgreSQL: the raw copies (``pg_create_table_sql``): columns, mapped types, nullability, primary key.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from dental_assets.catalog import (
    RAW_SCHEMA,
    Table,
    mysql_create_table_sql,
    opendental_schema,
    pg_create_table_sql,
    raw_tables,
)

SELECTIONS = [
    pytest.param("raw", id="raw-selection"),
    pytest.param("all", id="all-408", marks=pytest.mark.slow),
]


def _selected_tables(selection: str) -> list[Table]:
    if selection == "raw":
        return list(raw_tables())
    tables = list(opendental_schema().values())
    assert len(tables) == 408
    return tables


def _report(problems: list[str], what: str) -> None:
    """Fail with every problem listed (at most 60), not just the first one."""
    if problems:
        shown = "\n  ".join(problems[:60])
        more = f"\n  ... and {len(problems) - 60} more" if len(problems) > 60 else ""
        pytest.fail(f"{len(problems)} {what}:\n  {shown}{more}", pytrace=False)


# ------------------------------------------------------------------------------------------- MariaDB

@pytest.fixture(scope="module", params=SELECTIONS)
def mariadb_tables(request, make_mariadb_database):
    """(engine, tables): the selected tables created with the catalog's MySQL DDL in a new database."""
    tables = _selected_tables(request.param)
    with make_mariadb_database() as url:
        # NullPool: a test that changes its session (sql_mode) must not hand that session on.
        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as conn:
            for table in tables:
                conn.exec_driver_sql(mysql_create_table_sql(table))
        try:
            yield engine, tables
        finally:
            engine.dispose()


def test_mariadb_tables_exist_as_innodb_utf8mb4(mariadb_tables):
    engine, tables = mariadb_tables
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE()"
        ).all()
    found = {name: (engine_name, collation) for name, engine_name, collation in rows}
    assert sorted(found) == sorted(t.name for t in tables)
    problems = [
        f"{name}: {engine_name} {collation}"
        for name, (engine_name, collation) in found.items()
        if (engine_name, collation) != ("InnoDB", "utf8mb4_general_ci")
    ]
    _report(problems, "tables are not InnoDB utf8mb4_general_ci")


def test_mariadb_columns_match_catalog(mariadb_tables):
    """Names in order, MySQL base type (and length for char types), NOT NULL everywhere."""
    engine, tables = mariadb_tables
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION"
        ).all()
    actual = defaultdict(list)
    for table_name, *column in rows:
        actual[table_name].append(tuple(column))

    problems = []
    for table in tables:
        columns = actual.get(table.name, [])
        names = [c[0] for c in columns]
        if names != table.column_names:
            problems.append(f"{table.name}: columns {names} != catalog {table.column_names}")
            continue
        for col, (_, data_type, length, nullable) in zip(table.columns, columns):
            expected_length = col.length if col.base_type in ("varchar", "char") else None
            if data_type.lower() != col.base_type or (
                expected_length is not None and length != expected_length
            ):
                problems.append(
                    f"{table.name}.{col.name}: {data_type}({length}) != catalog {col.mysql_type}"
                )
            if nullable != "NO":
                problems.append(f"{table.name}.{col.name}: nullable, OpenDental's columns are NOT NULL")
    _report(problems, "column mismatches")


def test_mariadb_primary_keys_match_catalog(mariadb_tables):
    engine, tables = mariadb_tables
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_NAME = 'PRIMARY' "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION"
        ).all()
    actual = defaultdict(list)
    for table_name, column in rows:
        actual[table_name].append(column)
    problems = [
        f"{t.name}: primary key {actual.get(t.name)} != catalog [{t.primary_key}]"
        for t in tables
        if actual.get(t.name) != [t.primary_key]
    ]
    _report(problems, "primary key mismatches")


def _opendental_default_ok(kind: str, value) -> bool:
    """Does ``value`` (as PyMySQL returns it) equal OpenDental's default for a column of this kind?"""
    if kind in ("int", "float"):
        return value == 0
    if kind == "str":
        return value == ""
    if kind == "date":
        return value == dt.date(1, 1, 1)
    if kind == "datetime":
        return value == dt.datetime(1, 1, 1, 0, 0, 0)
    if kind == "time":
        return value == dt.timedelta(0)
    if kind == "timestamp":  # DEFAULT CURRENT_TIMESTAMP
        return isinstance(value, dt.datetime) and value.year >= 2000
    raise AssertionError(f"no expectation for column kind {kind!r}")


def test_mariadb_pk_only_insert_fills_opendental_defaults(mariadb_tables):
    """A row given only its key reads 0 / '' / 0001-01-01 (TEXT columns have no default: with a
    permissive sql_mode MariaDB stores '' and warns, as it does for OpenDental)."""
    engine, tables = mariadb_tables
    problems = []
    with engine.begin() as conn:
        for table in tables:
            conn.exec_driver_sql(f"INSERT INTO `{table.name}` (`{table.primary_key}`) VALUES (1)")
            row = conn.exec_driver_sql(
                f"SELECT * FROM `{table.name}` WHERE `{table.primary_key}` = 1"
            ).mappings().one()
            for col in table.columns:
                if col.name == table.primary_key:
                    continue
                if not _opendental_default_ok(col.kind, row[col.name]):
                    problems.append(f"{table.name}.{col.name} ({col.mysql_type}): {row[col.name]!r}")
    _report(problems, "columns without OpenDental's default")


def test_mariadb_stores_zero_dates(mariadb_tables):
    """'0000-00-00' goes into every date and datetime column and reads back unchanged."""
    engine, tables = mariadb_tables
    with engine.connect() as conn:
        sql_mode = conn.exec_driver_sql("SELECT @@GLOBAL.sql_mode").scalar_one()
    assert not {"STRICT_TRANS_TABLES", "STRICT_ALL_TABLES", "NO_ZERO_DATE"} & set(sql_mode.split(",")), (
        f"the test MariaDB runs with sql_mode={sql_mode!r}; OpenDental needs a permissive one "
        "(scripts/services.sh starts it with --sql-mode=NO_ENGINE_SUBSTITUTION)"
    )

    zero = {"date": "0000-00-00", "datetime": "0000-00-00 00:00:00"}
    problems = []
    with engine.begin() as conn:
        for table in tables:
            dated = [c for c in table.columns if c.kind in zero and c.name != table.primary_key]
            if not dated:
                continue
            names = ", ".join(f"`{c.name}`" for c in dated)
            values = ", ".join(f"'{zero[c.kind]}'" for c in dated)
            conn.exec_driver_sql(
                f"INSERT INTO `{table.name}` (`{table.primary_key}`, {names}) VALUES (2, {values})"
            )
            casts = ", ".join(f"CAST(`{c.name}` AS CHAR)" for c in dated)
            stored = conn.exec_driver_sql(
                f"SELECT {casts} FROM `{table.name}` WHERE `{table.primary_key}` = 2"
            ).one()
            for col, value in zip(dated, stored):
                if value != zero[col.kind]:
                    problems.append(f"{table.name}.{col.name}: stored {value!r}")
    _report(problems, "zero dates not stored")


def test_mariadb_strict_mode_would_reject_opendental_rows(mariadb_tables):
    """Why the server's sql_mode matters: a strict session refuses OpenDental's rows twice over:
    the zero date, and any insert leaving out a TEXT column (TEXT columns have no default)."""
    engine, tables = mariadb_tables
    table, col = next(
        (t, c) for t in tables for c in t.columns if c.kind == "date" and c.name != t.primary_key
    )
    texts = [c.name for c in table.columns if c.base_type in ("text", "mediumtext", "longtext")]
    names = ", ".join(f"`{name}`" for name in [table.primary_key, col.name, *texts])
    values = ", ".join(["3", "'0000-00-00'", *["''"] * len(texts)])
    with engine.connect() as conn:
        conn.exec_driver_sql("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE'")
        with pytest.raises(DBAPIError, match="(?i)incorrect date value"):
            conn.exec_driver_sql(f"INSERT INTO `{table.name}` ({names}) VALUES ({values})")
        if texts:
            with pytest.raises(DBAPIError, match="(?i)doesn't have a default value"):
                conn.exec_driver_sql(
                    f"INSERT INTO `{table.name}` (`{table.primary_key}`) VALUES (4)"
                )


# ---------------------------------------------------------------------------------------- PostgreSQL

# Column.pg_type -> information_schema.columns.data_type (varchar(n) is handled apart: it carries a length).
PG_INFORMATION_SCHEMA_TYPES = {
    "bigint": "bigint",
    "integer": "integer",
    "smallint": "smallint",
    "double precision": "double precision",
    "real": "real",
    "date": "date",
    "timestamp": "timestamp without time zone",
    "interval": "interval",
    "text": "text",
}


def _expected_pg_type(pg_type: str) -> tuple[str, int | None]:
    if pg_type.startswith("varchar(") and pg_type.endswith(")"):
        return "character varying", int(pg_type[len("varchar("):-1])
    if pg_type not in PG_INFORMATION_SCHEMA_TYPES:
        raise AssertionError(f"the catalog maps a column to {pg_type!r}, which this test does not know")
    return PG_INFORMATION_SCHEMA_TYPES[pg_type], None


def _create_pg_tables(engine, tables: list[Table]) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{RAW_SCHEMA}"')
        for table in tables:
            conn.exec_driver_sql(pg_create_table_sql(table, RAW_SCHEMA))


@pytest.fixture(scope="module", params=SELECTIONS)
def pg_tables(request, make_pg_database):
    """(engine, tables): the selected tables created with the catalog's PostgreSQL DDL in a new database."""
    tables = _selected_tables(request.param)
    with make_pg_database() as url:
        engine = create_engine(url, poolclass=NullPool)
        _create_pg_tables(engine, tables)
        try:
            yield engine, tables
        finally:
            engine.dispose()


def _pg_columns(engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable "
            "FROM information_schema.columns WHERE table_schema = %s "
            "ORDER BY table_name, ordinal_position",
            (RAW_SCHEMA,),
        ).all()
    columns = defaultdict(list)
    for table_name, *column in rows:
        columns[table_name].append(tuple(column))
    return columns


def test_pg_tables_exist(pg_tables):
    engine, tables = pg_tables
    with engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            (RAW_SCHEMA,),
        ).scalars().all()
    assert sorted(found) == sorted(t.name for t in tables)


def test_pg_columns_match_catalog(pg_tables):
    """Names in order, the type family of ``Column.pg_type``; only the primary key is NOT NULL."""
    engine, tables = pg_tables
    actual = _pg_columns(engine)
    problems = []
    for table in tables:
        columns = actual.get(table.name, [])
        names = [c[0] for c in columns]
        if names != table.column_names:
            problems.append(f"{table.name}: columns {names} != catalog {table.column_names}")
            continue
        for col, (_, data_type, length, nullable) in zip(table.columns, columns):
            expected_type, expected_length = _expected_pg_type(col.pg_type)
            if (data_type, length) != (expected_type, expected_length):
                problems.append(
                    f"{table.name}.{col.name}: {data_type}({length}) != catalog {col.pg_type}"
                )
            expected_nullable = "NO" if col.name == table.primary_key else "YES"
            if nullable != expected_nullable:
                problems.append(f"{table.name}.{col.name}: is_nullable={nullable}, want {expected_nullable}")
    _report(problems, "column mismatches")


def test_pg_primary_keys_match_catalog(pg_tables):
    engine, tables = pg_tables
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT tc.table_name, kcu.column_name "
            "FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu "
            "  ON kcu.constraint_schema = tc.constraint_schema "
            " AND kcu.constraint_name = tc.constraint_name "
            " AND kcu.table_name = tc.table_name "
            "WHERE tc.table_schema = %s AND tc.constraint_type = 'PRIMARY KEY' "
            "ORDER BY tc.table_name, kcu.ordinal_position",
            (RAW_SCHEMA,),
        ).all()
    actual = defaultdict(list)
    for table_name, column in rows:
        actual[table_name].append(column)
    problems = [
        f"{t.name}: primary key {actual.get(t.name)} != catalog [{t.primary_key}]"
        for t in tables
        if actual.get(t.name) != [t.primary_key]
    ]
    _report(problems, "primary key mismatches")


def test_pg_ddl_is_idempotent(pg_tables):
    """The DDL says IF NOT EXISTS: running it again over existing tables changes nothing."""
    engine, tables = pg_tables
    before = _pg_columns(engine)
    _create_pg_tables(engine, tables)
    assert _pg_columns(engine) == before

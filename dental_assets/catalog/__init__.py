"""The one table catalog: every fact about an OpenDental table that the project uses, in one place.

The facts (columns, MySQL types, primary keys, modified/entry timestamp columns, enum and foreign-key
annotations) are OpenDental 24.3's own, carried in ``opendental_schema_24_3.json`` beside this file.
The raw-layer selection and its partitioning live in ``tables.yml``. Everything that lists tables or
columns reads them from here: PostgreSQL and MariaDB DDL, the raw assets, the synthetic generator, the
dbt sources. This module imports no Dagster, so the generator can use it too.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

CATALOG_DIR = Path(__file__).resolve().parent
SCHEMA_FILE = CATALOG_DIR / "opendental_schema_24_3.json"
ENUMS_FILE = CATALOG_DIR / "opendental_enums_24_3.json"
SELECTION_FILE = CATALOG_DIR / "tables.yml"

RAW_SCHEMA = "raw"

# MySQL base type -> PostgreSQL type. Every tinyint becomes smallint whatever the data holds (OpenDental
# uses tinyint for flags, enums and a few signed small numbers); every TIME becomes interval, because
# OpenDental stores negative and over-24-hour time spans in TIME columns.
_PG_TYPES = {
    "bigint": "bigint",
    "int": "integer",
    "smallint": "smallint",
    "tinyint": "smallint",
    "double": "double precision",
    "float": "real",
    "date": "date",
    "datetime": "timestamp",
    "timestamp": "timestamp",
    "time": "interval",
    "text": "text",
    "mediumtext": "text",
    "longtext": "text",
}

# The value kind a column holds, for generators and converters.
_KINDS = {
    "bigint": "int",
    "int": "int",
    "smallint": "int",
    "tinyint": "int",
    "double": "float",
    "float": "float",
    "date": "date",
    "datetime": "datetime",
    "timestamp": "timestamp",
    "time": "time",
    "varchar": "str",
    "char": "str",
    "text": "str",
    "mediumtext": "str",
    "longtext": "str",
}

DATE_KINDS = frozenset({"date", "datetime", "timestamp"})  # the kinds (``Column.kind``) that hold a date

# OpenDental's column defaults, as its schema creates them (NOT NULL everywhere, "no date" 0001-01-01).
_MYSQL_DEFAULTS = {
    "int": "0",
    "float": "0",
    "date": "'0001-01-01'",
    "datetime": "'0001-01-01 00:00:00'",
    "time": "'00:00:00'",
    "str": "''",
}

# tinyint columns that hold numbers or codes, not C# bools (OpenDental reads a bool from any tinyint
# without an enum; these are its byte/int fields). Every other tinyint without an enum and without
# the TinyIntSigned annotation is a flag. Extend this set when a table with such a column is added.
NON_FLAG_TINYINTS = frozenset(
    {
        ("patient", "SchedDayOfWeek"),
        ("patient", "CanadianEligibilityCode"),
        ("procedurelog", "IcdVersion"),
        ("userod", "FailedAttempts"),
        ("userod", "MobileWebPinFailedAttempts"),
        ("insplan", "DentaideCardSequence"),
        ("insplan", "MonthRenew"),
        ("patplan", "Ordinal"),
        ("carrier", "CanadianEncryptionMethod"),
        ("benefit", "Quantity"),
        ("claim", "OrthoRemainM"),
        ("claim", "OrthoTotalM"),
        ("claim", "Radiographs"),
        ("claim", "CanadianReferralReason"),
        ("claim", "CanadianMandProsthMaterial"),
        ("claim", "CanadianMaxProsthMaterial"),
        ("claim", "CanadaPaymentMode"),
        ("claim", "CanadaTreatDuration"),
        ("claim", "CanadaNumAnticipatedPayments"),
        ("claimproc", "LineNumber"),
        ("paysplit", "DiscountType"),
        ("apptview", "RowsPerIncr"),
    }
)


def _is_flag(table_name: str, col: dict) -> bool:
    return (
        col["mysql_type"].lower().startswith("tinyint")
        and not col.get("enum")
        and col.get("special") != "TinyIntSigned"
        and (table_name, col["name"]) not in NON_FLAG_TINYINTS
    )


_TYPE_RE = re.compile(r"^([a-z]+)(?:\((\d+)\))?$")


@dataclass(frozen=True)
class Column:
    """One OpenDental column.

    ``name`` is OpenDental's CamelCase name; ``mysql_type`` its MySQL type as OpenDental declares it
    (e.g. ``bigint(20)``, ``varchar(255)``, ``tinyint``); ``special`` OpenDental's annotation
    (``TimeStamp``, ``DateTEntry``, ``TimeSpanNeg``...); ``fk`` the table a key points at; ``enum``
    the C# enum its integer codes belong to.
    """

    name: str
    mysql_type: str
    position: int
    is_pk: bool = False
    special: str | None = None
    fk: str | None = None
    enum: str | None = None
    is_flag: bool = False

    @property
    def base_type(self) -> str:
        match = _TYPE_RE.match(self.mysql_type.lower())
        if not match:
            raise ValueError(f"unparsable MySQL type {self.mysql_type!r} for column {self.name}")
        return match.group(1)

    @property
    def length(self) -> int | None:
        match = _TYPE_RE.match(self.mysql_type.lower())
        return int(match.group(2)) if match and match.group(2) else None

    @property
    def kind(self) -> str:
        """One of int, float, str, date, datetime, timestamp, time."""
        return _KINDS[self.base_type]

    @property
    def pg_type(self) -> str:
        base = self.base_type
        if base in ("varchar", "char"):
            return f"varchar({self.length or 255})"
        return _PG_TYPES[base]

    @property
    def mysql_ddl(self) -> str:
        """The column as OpenDental's MySQL schema declares it: NOT NULL with OpenDental's default."""
        quoted = f"`{self.name}`"
        if self.is_pk:
            return f"{quoted} {self.mysql_type} NOT NULL AUTO_INCREMENT"
        if self.kind == "timestamp":
            return f"{quoted} timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP"
        default = _MYSQL_DEFAULTS.get(self.kind)
        if self.base_type in ("text", "mediumtext", "longtext"):
            return f"{quoted} {self.mysql_type} NOT NULL"
        return f"{quoted} {self.mysql_type} NOT NULL DEFAULT {default}"

    @property
    def snake_name(self) -> str:
        return snake_case(self.name)


@dataclass(frozen=True)
class Table:
    """One OpenDental table with the raw layer's settings.

    ``columns`` are in the database's column order; ``business_date`` is the column whose month places
    a row in a monthly partition, or None for an unpartitioned reference table.
    """

    name: str
    columns: tuple[Column, ...]
    primary_key: str
    modified_column: str | None
    entry_column: str | None
    is_large: bool
    business_date: str | None = None
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def partitioned(self) -> bool:
        return self.business_date is not None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name} has no column {name}")

    @property
    def business_date_column(self) -> Column | None:
        return self.column(self.business_date) if self.business_date else None


def snake_case(name: str) -> str:
    """OpenDental CamelCase -> snake_case (``PatNum`` -> ``pat_num``, ``DateTStamp`` -> ``date_t_stamp``,
    ``Bal_0_30`` -> ``bal_0_30``, ``BalOver90`` -> ``bal_over_90``)."""
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    out = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", out)
    out = re.sub(r"(?<=[A-Za-z])(\d)", r"_\1", out)
    return re.sub(r"_+", "_", out).lower()


@functools.lru_cache(maxsize=1)
def opendental_schema() -> dict[str, Table]:
    """All 408 OpenDental 24.3 tables, keyed by lower-case table name (no partitioning applied)."""
    data = json.loads(SCHEMA_FILE.read_text())
    tables: dict[str, Table] = {}
    for name, raw in data["tables"].items():
        cols = []
        unplaced = 10_000
        for col in raw["columns"]:
            position = col.get("db_position")
            if position is None:  # in the C# class but not in the database: place after the rest
                position = unplaced
                unplaced += 1
            cols.append(
                Column(
                    name=col["name"],
                    mysql_type=col["mysql_type"],
                    position=position,
                    is_pk=bool(col.get("is_pk")),
                    special=col.get("special"),
                    fk=col.get("fk"),
                    enum=col.get("enum"),
                    is_flag=_is_flag(name, col),
                )
            )
        cols.sort(key=lambda c: c.position)
        tables[name] = Table(
            name=name,
            columns=tuple(cols),
            primary_key=raw["primary_key"],
            modified_column=raw["modified_column"],
            entry_column=raw["entry_column"],
            is_large=bool(raw["is_large_table"]),
        )
    return tables


@functools.lru_cache(maxsize=1)
def opendental_enums() -> dict[str, dict]:
    """OpenDental's enum codes: ``{EnumName: {"values": [{"name", "value"}...], "used_by": [...]}}``."""
    return json.loads(ENUMS_FILE.read_text())["enums"]


def _selection_entries() -> dict[str, dict]:
    from dental_assets import settings

    entries = dict(yaml.safe_load(SELECTION_FILE.read_text())["tables"])
    for name, business_date in settings.extra_tables():
        entries[name] = {"business_date": business_date}
    return entries


@functools.lru_cache(maxsize=8)
def _raw_tables(extra: str) -> tuple[Table, ...]:
    schema = opendental_schema()
    tables = []
    for name, settings in _selection_entries().items():
        if name not in schema:
            raise ValueError(f"tables.yml names {name!r}, which is not an OpenDental 24.3 table")
        base = schema[name]
        business_date = (settings or {}).get("business_date")
        if business_date is not None:
            base.column(business_date)  # raises KeyError on a typo
        indexes = tuple(tuple(columns) for columns in (settings or {}).get("indexes") or ())
        for columns in indexes:
            if not columns:
                raise ValueError(f"tables.yml: an index of {name} names no column")
            for column in columns:
                base.column(column)  # raises KeyError on a typo
        tables.append(
            Table(
                name=base.name,
                columns=base.columns,
                primary_key=base.primary_key,
                modified_column=base.modified_column,
                entry_column=base.entry_column,
                is_large=base.is_large,
                business_date=business_date,
                indexes=indexes,
            )
        )
    return tuple(tables)


def raw_tables() -> tuple[Table, ...]:
    """The tables of the raw layer, in ``tables.yml`` order (plus ``DENTAL_EXTRA_TABLES``).

    Raises ConfigurationError for a ``DENTAL_EXTRA_TABLES`` entry that is not an OpenDental 24.3 table
    or date column; ValueError / KeyError for such a mistake in ``tables.yml``.
    """
    return _raw_tables(os.environ.get("DENTAL_EXTRA_TABLES", ""))


def raw_table(name: str) -> Table:
    for table in raw_tables():
        if table.name == name:
            return table
    raise KeyError(f"{name} is not in the raw-layer selection")


def quote_pg(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def pg_create_table_sql(table: Table, schema: str = RAW_SCHEMA) -> str:
    """PostgreSQL DDL for the raw copy of ``table``: OpenDental's column names quoted, types mapped by
    the catalog, primary key declared. Every other column is nullable: a MySQL zero date arrives as NULL.
    """
    lines = []
    for col in table.columns:
        null = " NOT NULL" if col.name == table.primary_key else ""
        lines.append(f"    {quote_pg(col.name)} {col.pg_type}{null}")
    lines.append(f"    PRIMARY KEY ({quote_pg(table.primary_key)})")
    body = ",\n".join(lines)
    return f"CREATE TABLE IF NOT EXISTS {quote_pg(schema)}.{quote_pg(table.name)} (\n{body}\n)"


def pg_index_name(table_name: str, columns: tuple[str, ...]) -> str:
    """The deterministic name of a declared raw index: ``ix_<table>_<columns>`` in lower case, joined by
    ``_`` (``ix_claimproc_procnum``). A name longer than PostgreSQL's 63 bytes is cut and ends with the
    first 8 hex digits of its SHA-1, so two declarations never share a name."""
    name = "ix_" + "_".join([table_name, *columns]).lower()
    if len(name) <= 63:
        return name
    return name[:54] + "_" + hashlib.sha1(name.encode()).hexdigest()[:8]


def pg_create_indexes_sql(table: Table, schema: str = RAW_SCHEMA) -> list[str]:
    """``CREATE INDEX IF NOT EXISTS`` statements of the indexes ``tables.yml`` declares for ``table``
    (its ``indexes:`` entry), one per declaration, in declaration order. Idempotent: an index that
    exists under its name is left as it is. Only ever run on the warehouse, never on OpenDental."""
    return [
        f"CREATE INDEX IF NOT EXISTS {quote_pg(pg_index_name(table.name, columns))} "
        f"ON {quote_pg(schema)}.{quote_pg(table.name)} ({', '.join(quote_pg(c) for c in columns)})"
        for columns in table.indexes
    ]


def create_raw_indexes(cur, table: Table, schema: str = RAW_SCHEMA) -> list[str]:
    """Run ``pg_create_indexes_sql`` on a psycopg2 cursor of the warehouse, in the cursor's transaction,
    under the raw layer's DDL lock (the advisory lock ``dental_raw_ddl``, so two runs never race on one
    name); returns the index names."""
    statements = pg_create_indexes_sql(table, schema)
    if statements:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('dental_raw_ddl'))")
    for statement in statements:
        cur.execute(statement)
    return [pg_index_name(table.name, columns) for columns in table.indexes]


def mysql_create_table_sql(table: Table) -> str:
    """MariaDB/MySQL DDL creating the OpenDental table as OpenDental does (InnoDB, utf8mb4, NOT NULL
    columns with OpenDental's defaults, ``timestamp`` columns maintained ON UPDATE)."""
    lines = [f"  {col.mysql_ddl}" for col in table.columns]
    lines.append(f"  PRIMARY KEY (`{table.primary_key}`)")
    if table.modified_column:
        lines.append(f"  KEY `idx_{table.modified_column}` (`{table.modified_column}`)")
    body = ",\n".join(lines)
    return (
        f"CREATE TABLE IF NOT EXISTS `{table.name}` (\n{body}\n) "
        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
    )

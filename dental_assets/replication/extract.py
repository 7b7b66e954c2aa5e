"""Row extraction from MariaDB straight into PostgreSQL ``COPY``, and the per-partition fingerprints.

Two paths, chosen per table by ``SourceColumns.text_ok``. Both use bounded memory (one 1 MiB chunk
at a time):

- **plain text** (every string column NOT NULL in the source, as OpenDental declares them): the server
  sends the plain columns (``text_select``), the ``mariadb --batch`` client escapes them, and
  ``TextReader`` makes that COPY text format (``COPY ... FROM STDIN``). The server thread formats
  nothing. Python only scans each chunk for the few things that need a fix, and splits only those
  lines into fields.
- **CSV** (otherwise): the source formats each row as one CSV line (``CONCAT_WS``, ``csv_select``),
  the client streams it ``--raw``, and ``SanitizingReader`` hands it to ``COPY ... (FORMAT csv)``.

Values, by catalog kind:

- integers, doubles: MariaDB's text form (doubles to 17 significant digits, as the client prints them).
- strings: as stored. '' stays '', the string 'NULL' stays 'NULL', and NULL (CSV path) stays NULL.
- dates and datetimes: ``0001-01-01`` kept; MySQL zero dates (``0000-00-00``, and dates with a zero
  month or day) become NULL: PostgreSQL has no such date. Counted as ``zero_dates_to_null``: by the
  reader on the text path; on the CSV path from the NULL count in raw (OpenDental's date columns are
  NOT NULL, so every NULL there is a zero date).
- ``timestamp`` columns: read with ``time_zone = '+00:00'`` (UTC wall time).
- a catalog column the source retyped so that raw's type would change some values without an error
  (``Retyped.mark``) fails the table on such a value (``marked_refused``): the source sends a fixed mark
  in its place, which raw's type refuses. A date column the source declares DATETIME or TIMESTAMP
  (``SourceColumns.date_only_in_raw``): a time of day other than midnight, which raw's date would drop. A
  number column raw holds as real, double precision or numeric(p,s) that the source declares a wider
  number type (``rounded_in_raw``): a value raw's type would round. A date, datetime or timestamp column
  the source declares another type, text mostly (``text_as_date_in_raw``): any value that is not a date
  (``YYYY-MM-DD``; for raw's timestamp also ``YYYY-MM-DD hh:mm:ss``), which raw's parser would read
  leniently ('epoch', ' 2024-1-5', a time or zone dropped).
- ``time``: MariaDB's text (``-01:30:00``, ``838:59:59``) into ``interval``: negative and over-24-hour
  spans are kept.
- NUL bytes (U+0000), which PostgreSQL text cannot hold, are removed from the stream and counted as
  ``nul_bytes_removed`` (bytes). Bytes that are not valid UTF-8 are replaced by U+FFFD and counted as
  ``invalid_utf8_replaced`` (chunks are validated incrementally, so a split character is not an error).
  Only a column the source declares binary (``SourceColumns.binary``) sends such bytes: the server
  converts every other string column to utf8mb4.

Columns are addressed by name on both sides. ``effective_columns`` reconciles the catalog with the
source's ``information_schema``: a column the source has beyond the catalog (a newer OpenDental) is
carried too, typed from its MySQL type so that raw's type takes every value (``extra_column``: an
unsigned integer one size up), and raw is migrated (``ALTER TABLE ... ADD COLUMN``); a catalog column
the source lacks (an older OpenDental) is loaded as NULL.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dental_assets.catalog import DATE_KINDS, Column, Table, quote_pg
from dental_assets.errors import ConfigurationError
from dental_assets.replication import buckets
from dental_assets.replication.mysql import (MySqlParams, absent_table_text, client_error, session,
                                             session_preamble, start_client, stop_client, with_retries)

if TYPE_CHECKING:  # the partitions module imports Dagster: not at run time (dental sync's fast path)
    from dental_assets.partitions import Window

CHUNK = 1 << 20
PAGE_KEYS = 250_000  # keyset page: primary-key span per SELECT


def q(name: str) -> str:
    """MySQL identifier quoting."""
    return "`" + name.replace("`", "``") + "`"


@dataclass(frozen=True)
class SourceColumns:
    """The columns to move for a table: ``columns`` (catalog order, then source extras) and
    ``missing`` (catalog columns the source lacks: loaded as NULL)."""

    columns: tuple[Column, ...]
    missing: frozenset[str] = frozenset()
    extra: tuple[Column, ...] = ()
    # columns the source declares NOT NULL (information_schema IS_NULLABLE = 'NO'); None: unknown
    not_null: frozenset[str] | None = None
    # catalog string columns the source declares binary (BINARY, VARBINARY, BLOB...): their bytes reach
    # the readers as stored, not converted to utf8mb4, so bytes that are not UTF-8 become U+FFFD
    binary: frozenset[str] = frozenset()
    # catalog columns whose source type holds values raw's type cannot (``raw_holds``), with both types:
    # an OpenDental upgrade widened them. Those with a ``Retyped.mark`` are sent as that mark where raw's
    # type would change the value without an error
    retyped: tuple[Retyped, ...] = ()

    @property
    def narrower_in_raw(self) -> tuple[str, ...]:
        """The ``retyped`` columns raw's type (the catalog's, or raw's own once ``with_raw_types`` read it:
        a column widened by hand drops out) still does not hold, each as "<name> (<source type> at the
        source, <raw type> in raw)"."""
        return tuple(f"{r.name} ({r.source_type} at the source, {r.raw_type} in raw)" for r in self.retyped
                     if not pg_type_holds(r.raw_type, r.source_type))

    @functools.cached_property
    def marked(self) -> dict[str, Retyped]:
        """``{name: Retyped}`` of the ``retyped`` columns whose values the source checks (a ``mark``);
        empty when the source's types are the catalog's."""
        return {r.name: r for r in self.retyped if r.mark is not None}

    def _marked_with(self, mark: str) -> frozenset[str]:
        return frozenset(name for name, r in self.marked.items() if r.mark == mark)

    @property
    def date_only_in_raw(self) -> frozenset[str]:
        """Columns raw holds as ``date`` that the source declares DATETIME or TIMESTAMP: a time of day
        other than midnight is sent as ``TIME_OF_DAY_MARK``."""
        return self._marked_with(TIME_OF_DAY_MARK)

    @property
    def rounded_in_raw(self) -> frozenset[str]:
        """Number columns whose source type has values raw's real, double precision or numeric(p,s) would
        round: such a value is sent as ``ROUNDED_MARK``."""
        return self._marked_with(ROUNDED_MARK)

    @property
    def text_as_date_in_raw(self) -> frozenset[str]:
        """Date, datetime or timestamp columns the source declares another type (VARCHAR, TEXT...): a value
        not in raw's form (``RAWS_FORM``) is sent as ``NOT_RAWS_FORM_MARK``."""
        return self._marked_with(NOT_RAWS_FORM_MARK)

    def with_raw_types(self, raw_types: dict[str, str]) -> SourceColumns:
        """These columns with raw's own types (``{name: format_type}``, PostgreSQL's spelling) for the
        ``retyped`` ones it names: a column widened by hand is then checked against raw's type, or not at
        all when that takes every value. Pure."""
        retyped = tuple(dataclasses.replace(r, raw_type=raw_type_name(raw_types[r.name]))
                        if r.name in raw_types else r for r in self.retyped)
        return dataclasses.replace(self, retyped=retyped)

    @property
    def text_ok(self) -> bool:
        """True when the plain ``--batch`` text path is exact for these columns: the source declares
        every string column NOT NULL (the client prints NULL and the string 'NULL' alike, and only a
        string column can hold the latter). OpenDental declares every column NOT NULL."""
        if self.not_null is None:
            return False
        return all(c.name in self.not_null for c in self.columns if c.kind == "str" and c.name not in self.missing)


_TYPE_RE = re.compile(r"^([a-z]+)(\(\d+\))?")

# the largest value of MySQL's integer types (signed, unsigned) and of PostgreSQL's
_MYSQL_INT_MAX = {"tinyint": (2**7 - 1, 2**8 - 1), "smallint": (2**15 - 1, 2**16 - 1),
                  "mediumint": (2**23 - 1, 2**24 - 1), "int": (2**31 - 1, 2**32 - 1),
                  "integer": (2**31 - 1, 2**32 - 1), "bigint": (2**63 - 1, 2**64 - 1)}
_PG_INT_MAX = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": 2**63 - 1}
# the most characters of MySQL's text types (their byte limits: at least as many characters)
_MYSQL_TEXT_CHARS = {"tinytext": 2**8 - 1, "text": 2**16 - 1, "mediumtext": 2**24 - 1, "longtext": 2**32 - 1}
# the MySQL date and time types each of raw's types takes
_PG_TIME_HOLDS = {"date": ("date",), "timestamp": ("date", "datetime", "timestamp"), "interval": ("time",)}


# the largest integer each of raw's floating-point types holds exactly, with every integer below it
_PG_FLOAT_EXACT = {"real": 2**24, "double precision": 2**53}
# the most significant digits a DECIMAL may have that double precision always gives back as written (DBL_DIG)
_DOUBLE_DIGITS = 15
_DECIMAL_RE = re.compile(r"^decimal\((\d+),(\d+)\)")
_NUMERIC_RE = re.compile(r"^numeric\((\d+),(\d+)\)$")
# (integer digits, scale) of PostgreSQL's numeric without a precision
_NUMERIC_ANY = (131072, 16383)


def raw_holds(col: Column, source_type: str) -> bool:
    """Whether raw's type for ``col`` (``Column.pg_type``, from the catalog) takes every value of the
    source's ``COLUMN_TYPE`` for it as it is (``pg_type_holds``). Pure."""
    return pg_type_holds(col.pg_type, source_type)


def pg_type_holds(pg: str, source_type: str) -> bool:
    """Whether PostgreSQL type ``pg`` (``real``, ``numeric(12,2)``, ``varchar(80)``...) takes every value of
    the MySQL ``COLUMN_TYPE`` ``source_type`` unchanged: an integer type no larger (unsigned counted; into
    real or double precision up to 2**24 or 2**53, into numeric(p,s) fewer than p - s digits), FLOAT into
    real or double precision and DOUBLE into double precision, a DECIMAL(p,s) of at most 15 digits into
    double precision (of at most 7 and no scale into real; into a numeric with room for its digits on
    both sides of the point), any number into numeric, a string no longer (a varchar's length, any text
    type into text), a date or time type raw's type takes (a DATE into timestamp, not a DATETIME into
    date). Any other source type (ENUM, BLOB...) is taken as not held. Pure."""
    declared = source_type.lower()
    match = _TYPE_RE.match(declared)
    if not match:
        return False
    base = match.group(1)
    if base in _MYSQL_INT_MAX:
        return _integers_held(pg, _MYSQL_INT_MAX[base]["unsigned" in declared])
    if base in ("float", "double"):
        return pg in ("double precision", "numeric") or (base == "float" and pg == "real")
    if base == "decimal":
        return _decimal_held(pg, declared)
    if base in ("varchar", "char") or base in _MYSQL_TEXT_CHARS:
        return _string_held(pg, base, match.group(2))
    return base in _PG_TIME_HOLDS.get(pg, ())


def _numeric_digits(pg: str) -> tuple[int, int] | None:
    """(integer digits, scale) PostgreSQL type ``pg`` holds when it is a numeric, else None. Pure."""
    if pg == "numeric":
        return _NUMERIC_ANY
    match = _NUMERIC_RE.match(pg)
    return (int(match[1]) - int(match[2]), int(match[2])) if match else None


def _integers_held(pg: str, largest: int) -> bool:
    """Whether ``pg`` takes every integer of magnitude up to ``largest`` (a MySQL type's) exactly. Pure."""
    if pg in _PG_INT_MAX:
        return largest <= _PG_INT_MAX[pg]
    if pg in _PG_FLOAT_EXACT:
        return largest <= _PG_FLOAT_EXACT[pg]
    digits = _numeric_digits(pg)
    return digits is not None and largest < 10 ** digits[0]


def _decimal_held(pg: str, declared: str) -> bool:
    """Whether ``pg`` takes every value of the MySQL DECIMAL(p,s) ``declared`` (lower case) exactly: its
    decimal text read back as written. Pure."""
    match = _DECIMAL_RE.match(declared)
    if not match:
        return False
    precision, scale = int(match[1]), int(match[2])
    if pg == "double precision":
        return precision <= _DOUBLE_DIGITS
    if pg == "real":  # (0.1 is not a single-precision value: raw's real widened to double is not 0.1)
        return scale == 0 and 10**precision <= _PG_FLOAT_EXACT["real"]
    digits = _numeric_digits(pg)
    return digits is not None and precision - scale <= digits[0] and scale <= digits[1]


def _string_held(pg: str, base: str, length: str | None) -> bool:
    """Whether ``pg`` takes every value of a MySQL string type (``base``, its ``(length)`` or None). Pure."""
    if pg == "text":
        return True
    if not pg.startswith("varchar(") or (base in ("varchar", "char") and not length):
        return False
    chars = int(length[1:-1]) if base in ("varchar", "char") else _MYSQL_TEXT_CHARS[base]
    return chars <= int(pg[len("varchar("):-1])


# the MySQL types a source column beyond the catalog may have that the catalog does not name -> one
# it does, of the same kind (how the values move)
_STAND_INS = {"mediumint": "int", "integer": "int", "tinytext": "text"}
# raw's type for an unsigned integer column beyond the catalog: one size up (``raw_holds`` counts the
# same ranges), numeric(20,0) for a bigint, as no PostgreSQL integer type holds 2**64 - 1
_UNSIGNED_PG = {"tinyint": "smallint", "smallint": "integer", "mediumint": "integer", "int": "bigint",
                "integer": "bigint", "bigint": "numeric(20,0)"}


@dataclass(frozen=True)
class ExtraColumn(Column):
    """A source column beyond the catalog: ``mysql_type`` the catalog type whose kind its values move
    as, ``raw_pg_type`` raw's type for it (``pg_type``), which holds every value of the source's type."""

    raw_pg_type: str = ""

    @property
    def pg_type(self) -> str:
        return self.raw_pg_type


def extra_column(name: str, source_type: str, position: int) -> ExtraColumn:
    """A source column the catalog lacks, typed from its ``COLUMN_TYPE`` (``source_type``, e.g. ``int(10)
    unsigned``) so that raw's type takes every value: an unsigned integer one size up (tinyint ->
    smallint, smallint -> integer, int -> bigint, bigint -> numeric(20,0)), a mediumint as integer, a
    tinytext as text, any other type as the catalog maps it. Raises KeyError for a type it cannot map
    (DECIMAL, ENUM, BLOB...). Pure."""
    declared = source_type.lower()
    match = _TYPE_RE.match(declared)
    if not match:
        raise KeyError(source_type)
    base = match.group(1)
    stand_in = Column(name=name, mysql_type=_STAND_INS.get(base, base + (match.group(2) or "")), position=position)
    unsigned = base in _UNSIGNED_PG and "unsigned" in declared
    pg_type = _UNSIGNED_PG[base] if unsigned else stand_in.pg_type  # KeyError: a type the catalog cannot map
    return ExtraColumn(name=name, mysql_type=stand_in.mysql_type, position=position, raw_pg_type=pg_type)


_BINARY_TYPES = ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob")
_TIMED_TYPES = ("datetime", "timestamp")


def _source_base(source_type: str) -> str:
    """The base name of a MySQL ``COLUMN_TYPE`` (``varbinary(255)`` -> ``varbinary``), lower case. Pure."""
    match = _TYPE_RE.match(source_type.lower())
    return match.group(1) if match else ""


_DATE_TYPES = ("date",) + _TIMED_TYPES
_NUMBER_TYPES = tuple(_MYSQL_INT_MAX) + ("decimal", "float", "double")

# What the source sends in place of a value raw's type would change without an error (``Retyped.mark``).
# Raw's type refuses each (SQLSTATE 22007 for a date or timestamp, 22P02 for a number), and
# ``marked_refused`` names the column, never the value.
TIME_OF_DAY_MARK = "time-of-day-not-midnight"
ROUNDED_MARK = "digits-raw-would-round"
NOT_RAWS_FORM_MARK = "text-not-in-raws-form"

# the text raw's date and timestamp take unchanged from a source column of another type: (its lengths, a
# PCRE pattern; extended mode off, whatever the server's ``default_regex_flags``). Hours to 23, seconds
# to 59: PostgreSQL reads 24:00:00 as the next day's midnight and :60 as the next minute
RAWS_FORM = {
    "date": ((10,), "[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "timestamp": ((10, 19), "[0-9]{4}-[0-9]{2}-[0-9]{2}( ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9])?"),
}


def raw_type_name(pg: str) -> str:
    """PostgreSQL's ``format_type`` spelling of a type as the catalog spells raw's (``timestamp(3)
    without time zone`` -> ``timestamp``, ``character varying(9)`` -> ``varchar(9)``). Pure."""
    pg = re.sub(r"^timestamp(\(\d+\))? without time zone$", "timestamp", pg)
    return re.sub(r"^character varying", "varchar", pg)


def _rounding_cast(pg: str) -> str | None:
    """MariaDB's CAST target rounding a number as raw's ``pg`` does, None for a type that is not a
    number raw could round (numeric without a precision holds every source number). Pure."""
    if pg in _PG_FLOAT_EXACT:
        return "FLOAT" if pg == "real" else "DOUBLE"
    match = _NUMERIC_RE.match(pg)
    return f"DECIMAL({min(int(match[1]), 65)},{min(int(match[2]), 38)})" if match else None


@dataclass(frozen=True)
class Retyped:
    """A catalog column whose source type raw's does not hold (``raw_holds``): its ``name``, catalog
    ``kind``, the source's ``COLUMN_TYPE`` and raw's type (PostgreSQL's name as the catalog spells it:
    ``real``, ``date``, ``timestamp``, ``numeric(12,2)``; the catalog's until ``SourceColumns.with_raw_types``
    gives raw's own)."""

    name: str
    kind: str
    source_type: str
    raw_type: str

    @property
    def mark(self) -> str | None:
        """What the source sends in place of a value raw's type would change without an error, or None
        when raw's type refuses every value it cannot take as it is (an integer type, a varchar): a
        value that is not a date in raw's form (``RAWS_FORM``) of a date kind the source declares
        another type; a date and time not at midnight into raw's date; a number raw's real, double
        precision or numeric(p,s) would round. Pure."""
        base = _source_base(self.source_type)
        if self.kind in DATE_KINDS and self.raw_type in RAWS_FORM:
            if base not in _DATE_TYPES:
                return NOT_RAWS_FORM_MARK
            return TIME_OF_DAY_MARK if self.raw_type == "date" and base in _TIMED_TYPES else None
        if base in _NUMBER_TYPES and _rounding_cast(self.raw_type) and not pg_type_holds(self.raw_type, self.source_type):
            return ROUNDED_MARK
        return None


def _has_time_of_day(r: Retyped, c: str) -> str:
    """MariaDB: the date and time in ``c`` is not at midnight (and not a zero date), which raw's date would
    drop. ``r`` is unused: every mark's condition takes the retyped column (``_MARK_WHEN``)."""
    return f"TIME({c}) <> 0 AND NOT {zero_date(c)}"


def _rounds(r: Retyped, c: str) -> str:
    """MariaDB: the number in ``c`` is not what raw's type would hold. A DECIMAL or an integer compares
    as a decimal with the float raw would hold, read back as raw's check reads it (its shortest text,
    ``fingerprint``); a FLOAT or DOUBLE compares as a double; a numeric(p,s) compares with its rounding."""
    cast = _rounding_cast(r.raw_type)
    if _source_base(r.source_type) in ("float", "double") or cast.startswith("DECIMAL"):
        return f"CAST({c} AS {cast}) <> {c}"
    return f"CAST(CAST({c} AS {cast}) AS DECIMAL(65,30)) <> {c}"


def _not_raws_form(r: Retyped, c: str) -> str:
    """MariaDB: the text in ``c`` is not in raw's form for ``r.raw_type`` (``RAWS_FORM``: ``YYYY-MM-DD``,
    for a timestamp also ``YYYY-MM-DD hh:mm:ss``), which PostgreSQL's date input would read leniently."""
    lengths, pattern = RAWS_FORM[r.raw_type]  # (the length: a PCRE $ also matches before a final newline)
    return f"CHAR_LENGTH({c}) NOT IN ({', '.join(map(str, lengths))}) OR {c} NOT RLIKE '(?-x)^{pattern}$'"


# each mark's MariaDB condition (the retyped column, the quoted column): the value is sent as the mark
_MARK_WHEN = {TIME_OF_DAY_MARK: _has_time_of_day, ROUNDED_MARK: _rounds, NOT_RAWS_FORM_MARK: _not_raws_form}


def _declared(columns, source_types: dict[str, str], lower: dict[str, str], kind: str, bases) -> frozenset[str]:
    """The names of ``columns`` of catalog ``kind`` whose source type (``source_types`` by
    ``lower``-cased name) has one of the base names ``bases``. Pure."""
    return frozenset(c.name for c in columns if c.kind == kind and c.name.lower() in lower
                     and _source_base(source_types[lower[c.name.lower()]]) in bases)


def effective_columns(table: Table, source_types: dict[str, str] | None,
                      not_null: set[str] | frozenset[str] | None = None) -> SourceColumns:
    """Reconcile ``table``'s catalog columns with the source's ``{column: COLUMN_TYPE}`` (None: trust
    the catalog) and the source's NOT NULL column names (``not_null``; None: unknown, which selects the
    CSV path). Names compare case-insensitively, as MySQL does. Raises ConfigurationError when the
    source lacks the primary key or the business-date column, or has a column of a type the catalog
    cannot map. A catalog column whose source type is wider than raw's is listed in
    ``narrower_in_raw`` (the values that fit still move; one that does not fails its table) and ``retyped``
    (those raw's type would change without an error are checked: ``Retyped.mark``); a string column the
    source declares binary in ``binary``."""
    if source_types is None:
        return SourceColumns(table.columns)
    lower = {name.lower(): name for name in source_types}
    for role, name in (("primary key", table.primary_key), ("business-date", table.business_date)):
        if name is not None and name.lower() not in lower:
            raise ConfigurationError(
                f"OPENDENTAL_URL table {table.name}",
                f"the source table has no {role} column {name}, which the raw table needs "
                "(an OpenDental version this catalog does not describe?)")
    catalog = {c.name.lower() for c in table.columns}
    missing = frozenset(c.name for c in table.columns if c.name.lower() not in lower)
    retyped = tuple(Retyped(c.name, c.kind, source_types[lower[c.name.lower()]], c.pg_type) for c in table.columns
                    if c.name.lower() in lower and not raw_holds(c, source_types[lower[c.name.lower()]]))
    extra = []
    for position, (name, mysql_type) in enumerate(source_types.items()):
        if name.lower() in catalog:
            continue
        try:
            extra.append(extra_column(name, mysql_type, 20_000 + position))
        except KeyError as exc:
            raise ConfigurationError(f"OPENDENTAL_URL table {table.name}",
                                     f"the source column {name} has a type the catalog cannot map: "
                                     f"{mysql_type}") from exc
    columns = table.columns + tuple(extra)
    known = None
    if not_null is not None:
        by_lower = {n.lower() for n in not_null}
        known = frozenset(c.name for c in columns if c.name.lower() in by_lower)
    return SourceColumns(columns, missing, tuple(extra), known,
                         binary=_declared(table.columns, source_types, lower, "str", _BINARY_TYPES), retyped=retyped)


def read_source_columns(params: MySqlParams, tables) -> dict[str, SourceColumns]:
    """``{table name: SourceColumns}`` for ``tables``, from one ``information_schema.COLUMNS`` query
    (with retries). Raises ConfigurationError naming the first table the source lacks (or whose
    primary key or business-date column it lacks), SourceConnectionLost."""
    names = [t.name for t in tables]

    def read():
        with session(params) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN %s ORDER BY TABLE_NAME, ORDINAL_POSITION",
                (names,),
            )
            return cur.fetchall()

    by_table: dict[str, list] = {}
    for table_name, name, ctype, nullable in with_retries(read, what="source columns") if names else ():
        by_table.setdefault(table_name.lower(), []).append((name, ctype, nullable))
    out = {}
    for table in tables:
        rows = by_table.get(table.name.lower())
        if not rows:
            with session(params) as conn, conn.cursor() as cur:
                why = absent_table_text(params, cur, table.name)
            raise ConfigurationError(f"OPENDENTAL_URL table {table.name}", f"{why}; a table of the raw selection "
                                     "(dental_assets/catalog/tables.yml or DENTAL_EXTRA_TABLES)")
        types = {name: ctype for name, ctype, _ in rows}
        not_null = {name for name, _, nullable in rows if nullable == "NO"}
        out[table.name] = effective_columns(table, types, not_null)
    return out


def _source_value(col: Column, cols: SourceColumns) -> str:
    """MariaDB: the (quoted) column as the source sends it: its ``Retyped.mark`` instead of a value raw's
    type would change without an error (NULL and zero dates as they are); the column itself otherwise."""
    c = q(col.name)
    retyped = cols.marked.get(col.name)
    if retyped is None:
        return c
    return f"IF({_MARK_WHEN[retyped.mark](retyped, c)}, '{retyped.mark}', {c})"


def _csv_expr(col: Column, cols: SourceColumns) -> str:
    if col.name in cols.missing:
        return "''"
    c = _source_value(col, cols)
    kind = col.kind
    if kind == "str":
        if cols.binary and col.name not in cols.binary:
            # CONCAT_WS with a binary column makes the line binary: the other strings then come in their
            # own charset's bytes (latin1's 'é' as E9), not converted to utf8mb4 as the client would
            c = f"CONVERT({c} USING utf8mb4)"
        return f"IFNULL(CONCAT('\"', REPLACE({c}, '\"', '\"\"'), '\"'), '')"
    if kind in DATE_KINDS:  # (a mark has no month: it is sent as it is)
        return f"IF({c} IS NULL OR MONTH({c}) = 0 OR DAYOFMONTH({c}) = 0, '', {c})"
    return f"IFNULL({c}, '')"


def csv_select(table: Table, cols: SourceColumns, where: str, ordered: bool = True) -> str:
    """``SELECT`` of one CSV line per row (columns in ``cols`` order) for rows matching ``where``, in
    primary-key order when ``ordered`` (unordered lets MariaDB use another index, e.g. the modified
    column's for an incremental read)."""
    exprs = ", ".join(_csv_expr(c, cols) for c in cols.columns)
    order = f" ORDER BY {q(table.primary_key)}" if ordered else ""
    return f"SELECT CONCAT_WS(',', {exprs}) FROM {q(table.name)} WHERE {where}{order}"


def zero_date(column: str) -> str:
    """MySQL predicate: the (quoted) date column holds a zero date or a date with a zero month/day."""
    return f"(MONTH({column}) = 0 OR DAYOFMONTH({column}) = 0)"


def window_where(table: Table, window: Window | None) -> str:
    """MySQL predicate of the window on the table's business date (TRUE when unpartitioned)."""
    if window is None or not table.partitioned:
        return "TRUE"
    column = q(table.business_date)
    predicate = window.sql_predicate(column)
    if window.lower is None and predicate != "TRUE":
        # the first partition also holds zero dates, which compare as '0000-00-00'
        return f"({predicate} OR {zero_date(column)})"
    if window.lower is not None:
        predicate = f"({predicate} AND NOT {zero_date(column)})"
    return predicate


def keyset_pages(table: Table, where: str, key_min: int | None, key_max: int | None) -> list[str]:
    """Predicates of the keyset pages covering every key: ``pk <= b``, ``pk > a AND pk <= b``...,
    ``pk > z`` (open ends, so keys inserted after the bounds were read are not missed)."""
    pk = q(table.primary_key)
    if key_min is None or key_max is None or key_max - key_min < PAGE_KEYS:
        return [where]
    bounds = list(range(key_min - 1 + PAGE_KEYS, key_max, PAGE_KEYS))
    pages = [f"{pk} <= {bounds[0]}"]
    pages += [f"{pk} > {a} AND {pk} <= {b}" for a, b in zip(bounds, bounds[1:])]
    pages.append(f"{pk} > {bounds[-1]}")
    return [f"({where}) AND {p}" for p in pages]


@dataclass
class StreamStats:
    """What a stream carried: ``nul_bytes_removed`` and ``invalid_utf8_replaced`` counts."""

    bytes: int = 0
    conversions: dict[str, int] = field(default_factory=dict)
    counts_zero_dates: bool = False  # the text path counts ``zero_dates_to_null`` itself

    def count(self, key: str, n: int) -> None:
        if n:
            self.conversions[key] = self.conversions.get(key, 0) + n


def _valid_utf8(data: bytes, stats) -> bytes:
    """``data`` unchanged when it is valid UTF-8 (the fast path); else every invalid sequence replaced by
    U+FFFD, counted in ``stats`` as ``invalid_utf8_replaced`` (U+FFFD already in the data not counted)."""
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        replaced = data.decode("utf-8", errors="replace")
        legit = data.decode("utf-8", errors="ignore").count("\ufffd")
        stats.count("invalid_utf8_replaced", replaced.count("\ufffd") - legit)
        return replaced.encode("utf-8")


def _incomplete_tail(data: bytes) -> int:
    """Length of a UTF-8 sequence cut off at the end of ``data`` (0 when the end is complete)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return 0
        if byte >= 0xC0:  # a lead byte: how long should its sequence be?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return back if need > back else 0
    return 0


class SanitizingReader:
    """A file-like ``read(n)`` over the client's stdout that removes NUL bytes and replaces bytes that
    are not valid UTF-8 by U+FFFD (both counted in ``stats``), for ``cursor.copy_expert``."""

    def __init__(self, raw, stats: StreamStats):
        self.raw = raw
        self.stats = stats
        self.carry = b""
        self.done = False

    def read(self, size: int = -1) -> bytes:
        if self.done:
            return b""
        chunk = self.raw.read(CHUNK)
        final = not chunk
        if b"\x00" in chunk:
            self.stats.count("nul_bytes_removed", chunk.count(b"\x00"))
            chunk = chunk.replace(b"\x00", b"")
        data = self.carry + chunk
        cut = 0 if final else _incomplete_tail(data)
        self.carry = data[len(data) - cut:] if cut else b""
        data = data[: len(data) - cut] if cut else data
        data = _valid_utf8(data, self.stats)
        self.stats.bytes += len(data)
        if final:
            self.done = True
        return data

    readline = read


def text_select(table: Table, cols: SourceColumns, where: str, ordered: bool = True) -> str:
    """``SELECT`` of the plain columns (``cols`` order; a column the source lacks as NULL) for rows
    matching ``where``: the server formats nothing, ``TextReader`` makes the client's ``--batch``
    output PostgreSQL COPY text."""
    exprs = ", ".join("NULL" if c.name in cols.missing else _source_value(c, cols) for c in cols.columns)
    order = f" ORDER BY {q(table.primary_key)}" if ordered else ""
    return f"SELECT {exprs} FROM {q(table.name)} WHERE {where}{order}"


# Substrings that may need a per-line fix in the client's --batch output (a fast ``in`` test per chunk;
# most chunks hold none): an escaped NUL (``\0``), a zero month or day (``-00-``, ``-00`` before a
# tab, newline or time), a NULL field.
_TRIGGER_RE = re.compile(rb"\\0|-00[-\t\n ]|(?:^|\t)NULL(?=[\t\n])", re.M)
_ZERO_DATE_RE = re.compile(rb"\d{4}-(?:00-\d\d|\d\d-00)(?: |$)")
_ESCAPE_RE = re.compile(rb"\\(.)", re.S)


class TextReader:
    """A file-like ``read(n)`` turning the ``mariadb --batch`` (not ``--raw``) output of
    ``text_select`` into PostgreSQL ``COPY ... FROM STDIN`` text format, for ``cursor.copy_expert``.

    The client already escapes tab, newline and backslash as COPY text does (``\\t \\n \\\\``). What
    differs, and is fixed here:

    - ``NULL`` fields of non-string columns (and of columns the source lacks) -> ``\\N``; in a string
      column (NOT NULL, see ``SourceColumns.text_ok``) ``NULL`` is the four-letter string and stays;
    - zero dates (``0000-00-00``, a zero month or day) in date/datetime/timestamp columns -> ``\\N``;
    - ``\\0`` (a NUL byte, which PostgreSQL text cannot hold) -> removed, counted ``nul_bytes_removed``;
    - a raw carriage return (the client prints it unescaped) -> ``\\r``;
    - bytes that are not UTF-8 -> U+FFFD, counted ``invalid_utf8_replaced``.

    It works on whole lines: a chunk is cut after its last newline and the rest carried over. A chunk
    without any trigger substring passes with a few ``bytes.find`` scans; only lines holding one are
    split into fields. Raises ValueError on a line whose field count is not the column count.
    """

    def __init__(self, raw, stats: StreamStats, cols: SourceColumns):
        self.raw = raw
        self.stats = stats
        stats.counts_zero_dates = True
        self.carry = b""
        self.done = False
        self.kinds = [c.kind for c in cols.columns]
        self.null_ok = [c.kind != "str" or c.name in cols.missing for c in cols.columns]

    def _fix_field(self, index: int, field: bytes) -> bytes:
        kind = self.kinds[index]
        if field == b"NULL" and self.null_ok[index]:
            return b"\\N"
        if kind in DATE_KINDS and _ZERO_DATE_RE.match(field):
            self.stats.count("zero_dates_to_null", 1)
            return b"\\N"
        if kind == "str" and b"\\0" in field:
            removed = 0

            def unescape(match: re.Match) -> bytes:
                nonlocal removed
                if match.group(1) == b"0":
                    removed += 1
                    return b""
                return match.group(0)

            field = _ESCAPE_RE.sub(unescape, field)
            self.stats.count("nul_bytes_removed", removed)
        return field

    def _fix_line(self, line: bytes) -> bytes:
        fields = line.split(b"\t")
        if len(fields) != len(self.kinds):
            raise ValueError(f"source row with {len(fields)} fields, expected {len(self.kinds)}")
        return b"\t".join(self._fix_field(i, f) for i, f in enumerate(fields))

    def _fix(self, data: bytes) -> bytes:
        if b"NULL" not in data and b"-00" not in data and (b"\\" not in data or b"\\0" not in data):
            return data  # the usual chunk: nothing to fix (one memchr for the rare backslash)
        out, pos = [], 0
        for match in _TRIGGER_RE.finditer(data):
            start = data.rfind(b"\n", 0, match.start()) + 1
            if start < pos:
                continue  # a line already fixed
            end = data.find(b"\n", match.start())
            end = len(data) if end < 0 else end
            out.append(data[pos:start])
            out.append(self._fix_line(data[start:end]))
            pos = end
        out.append(data[pos:])
        return b"".join(out)

    def read(self, size: int = -1) -> bytes:
        if self.done:
            return b""
        data = b""
        while not data and not self.done:  # until a whole line (a line may be longer than a chunk)
            chunk = self.raw.read(CHUNK)
            data = self.carry + chunk
            if not chunk:
                self.carry = b""
                self.done = True
            else:
                cut = data.rfind(b"\n") + 1
                self.carry = data[cut:]
                data = data[:cut]
        if not data:
            return b""
        data = self._fix(data)
        if b"\r" in data:
            data = data.replace(b"\r", b"\\r")
        data = _valid_utf8(data, self.stats)
        self.stats.bytes += len(data)
        return data

    readline = read


def parse_keys(data: bytes):
    """Newline-separated integers (primary keys) as an int64 numpy array. Raises ValueError when a
    line is not an integer, or is one outside int64 (raw's bigint keys); the message gives the line's
    position, never its text."""
    import numpy as np

    if not data.strip():
        return np.zeros(0, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            keys = np.fromstring(data, dtype=np.int64, sep="\n")
        except (ValueError, DeprecationWarning):  # numpy 2 raises, older versions warn
            keys = None
    if keys is None or len(keys) != data.count(b"\n") + (not data.endswith(b"\n")):
        raise ValueError("the source key list holds a line that is not an integer key")
    _refuse_clamped(data, keys)
    return keys


def _refuse_clamped(data: bytes, keys) -> None:
    """Raise ValueError naming the first line (1-based, of ``len(keys)``) of ``data`` whose integer is
    outside int64: numpy's parser clamps those to int64's bounds, so only the lines parsed as a bound
    (rare among keys) are read again."""
    import numpy as np

    info = np.iinfo(np.int64)
    at_bounds = np.flatnonzero((keys == info.max) | (keys == info.min))
    if not len(at_bounds):
        return
    lines = data.split(b"\n")
    for index in at_bounds:
        if not info.min <= int(lines[index]) <= info.max:
            raise ValueError(f"the source key list holds a key outside int64 (line {index + 1} of {len(keys)})")


class RawValueRefused(RuntimeError):
    """The warehouse refused a row the source holds while a table was synced: a PostgreSQL data
    exception (SQLSTATE class 22: a value raw's column type cannot take) or integrity violation (class
    23: a constraint on raw), or a value raw's type would have changed without an error, sent as a mark
    (``marked_refused``). The message names the table, the condition, the column or constraint and
    the line of the COPY; never the value or the row, which PostgreSQL's own message quotes and which
    may be patient data (``replicate.refused_value``)."""


# the context PostgreSQL gives a COPY's error: 'COPY <relation>, line <n>, column <name>: "<value>"', or
# 'COPY <relation>, line <n>: "<the whole line>"'; only the names and the number are read
COPY_CONTEXT = re.compile(r"COPY (?P<relation>[^,\s]+), line (?P<line>\d+)(?:, column (?P<column>[^:]+))?")


# each mark's refusal: what was refused, and what to do ({name}, {raw_type}, {source_type}, {form}: the
# column's, never a value)
_REFUSED = {
    TIME_OF_DAY_MARK: ("a time of day other than midnight in column {name}, a date and time at the source and a "
                       "date in raw, which would drop the time",
                       "widen raw's column to timestamp, or set the source's times to midnight"),
    ROUNDED_MARK: ("a number in column {name} that raw's {raw_type} would round or cannot hold, {source_type} at "
                   "the source",
                   "widen raw's column to a type that holds the source's (double precision for a DOUBLE, numeric "
                   "for a DECIMAL or an integer)"),
    NOT_RAWS_FORM_MARK: ("a value in column {name} that is not a date as raw's {raw_type} takes it unchanged "
                         "({form}), {source_type} at the source, which raw would read as another value",
                         "correct the source's values, or give the column a date type back at the source"),
}
_FORM_TEXT = {"date": "YYYY-MM-DD", "timestamp": "YYYY-MM-DD or YYYY-MM-DD hh:mm:ss"}


def marked_refused(exc: BaseException, table: Table, cols: SourceColumns) -> RawValueRefused | None:
    """``exc`` as a one-line ``RawValueRefused`` naming ``table``, the column, the condition and the COPY's
    line when it is raw's type refusing the ``Retyped.mark`` the source sent for a column of
    ``cols.marked`` (SQLSTATE 22007 or 22P02, the mark in the message), else None. The value is not in
    the message (the source sent the mark instead of it)."""
    diag = getattr(exc, "diag", None)
    if getattr(exc, "pgcode", None) not in ("22007", "22P02") or diag is None:
        return None
    copy = COPY_CONTEXT.search(diag.context or "")
    retyped = cols.marked.get(copy["column"].strip() if copy and copy["column"] else "")
    if retyped is None or retyped.mark not in (diag.message_primary or ""):
        return None
    what, remedy = _REFUSED[retyped.mark]
    fields = dataclasses.asdict(retyped) | {"form": _FORM_TEXT.get(retyped.raw_type, "")}
    return RawValueRefused(
        f"raw.{table.name}: the warehouse refused a value from the source ({what.format(**fields)}; line "
        f"{copy['line']} of the COPY into {copy['relation']}); the value is not shown, as it may be patient "
        f"data: {remedy} (docs/operations.md, When the warehouse refuses a value)")


def copy_from_source(
    params: MySqlParams,
    cursor,
    target: str,
    table: Table,
    cols: SourceColumns,
    where: str,
    key_bounds: tuple[int | None, int | None] = (None, None),
    ordered: bool = True,
    freeze: bool = False,
) -> tuple[int, StreamStats]:
    """Stream the source rows matching ``where`` into PostgreSQL ``target`` (a quoted, possibly
    schema-qualified name) with ``cursor``'s transaction: one read-only client session, one consistent
    snapshot, keyset pages. ``freeze``: ``COPY ... FREEZE``, for a table created in this transaction
    (its rows are written frozen, so the first reader after the commit does not rewrite every page to
    set hint bits). Returns (rows copied, stream stats). Raises
    SourceConnectionLost or SourceQueryError when the client fails (the caller's transaction must
    then be rolled back)."""
    text = cols.text_ok
    select = text_select if text else csv_select
    statements = [select(table, cols, page, ordered) for page in keyset_pages(table, where, *key_bounds)]
    script = session_preamble() + ";\n".join(statements) + ";\nCOMMIT;\n"
    proc = start_client(params, script, raw=not text)
    stats = StreamStats()
    columns = ", ".join(quote_pg(c.name) for c in cols.columns)
    options = ", FREEZE" if freeze else ""
    if text:
        reader = TextReader(proc.stdout, stats, cols)
        sql = f"COPY {target} ({columns}) FROM STDIN WITH (FORMAT text{options})"
    else:
        sql = f"COPY {target} ({columns}) FROM STDIN WITH (FORMAT csv{options})"
        reader = SanitizingReader(proc.stdout, stats)
    try:
        cursor.copy_expert(sql, reader)
        rows = cursor.rowcount
    except Exception as exc:
        # a client that died mid-line makes COPY fail on a broken row: report the connection loss, without
        # COPY's error (from None), which quotes the cut row; a mark the source sent in place of a value
        # raw's type would have changed is named here (``marked_refused``); another refused value goes up as
        # it is, for ``replicate.refused_value`` to name without quoting
        exited = proc.poll()
        stop_client(proc)
        error = client_error(proc) if exited not in (None, 0) else None
        if error is not None:
            raise error from None
        refused = marked_refused(exc, table, cols)
        if refused is not None:
            raise refused from None
        raise
    except BaseException:
        stop_client(proc)
        raise
    error = client_error(proc)
    if error is not None:
        raise error
    return rows, stats


class SourceQuery:
    """``statements`` running in one read-only client session (one snapshot) while the caller does
    something else; ``result()`` waits for the tab-separated output. Use as a context manager (the
    client is killed if the block is left before ``result()``)."""

    def __init__(self, params: MySqlParams, *statements: str):
        script = session_preamble() + "".join(f"{s};\n" for s in statements) + "COMMIT;\n"
        self.proc = start_client(params, script)

    def result(self) -> bytes:
        """The output. Raises SourceConnectionLost or SourceQueryError."""
        assert self.proc.stdout is not None
        data = self.proc.stdout.read()
        error = client_error(self.proc)
        if error is not None:
            raise error
        return data

    def __enter__(self) -> "SourceQuery":
        return self

    def __exit__(self, *exc) -> None:
        stop_client(self.proc)


def query_text(params: MySqlParams, *statements: str) -> bytes:
    """The tab-separated output of ``statements`` run in one read-only client session (one snapshot).
    Raises SourceConnectionLost or SourceQueryError."""
    with SourceQuery(params, *statements) as query:
        return query.result()


def stream_keys(params: MySqlParams, table: Table, where: str):
    """Primary keys of the source rows matching ``where`` as an int64 numpy array (with no window,
    MariaDB reads them from the smallest index)."""
    pk = q(table.primary_key)
    return parse_keys(query_text(params, f"SELECT {pk} FROM {q(table.name)} WHERE {where}"))


def stream_keys_in_ranges(params: MySqlParams, table: Table, where: str, lo, hi):
    """Primary keys of the source rows matching ``where`` whose key lies in one of the disjoint
    inclusive ranges ``lo[i]..hi[i]`` (int64 arrays), as an int64 numpy array, in one session: each
    range read through the primary key (``buckets.joined_ranges``), 2,000 ranges a statement."""
    pk = q(table.primary_key)
    statements = [f"SELECT {pk} FROM {buckets.joined_ranges(a, b, q(table.name), pk, mysql=True)} WHERE {where}"
                  for a, b in buckets.chunks(lo, hi)]
    return parse_keys(query_text(params, *statements)) if statements else parse_keys(b"")

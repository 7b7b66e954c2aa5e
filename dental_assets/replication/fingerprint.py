"""Per-partition fingerprints of a table, computed the same way on the source and on raw.

A fingerprint is a tuple of exact integer aggregates over the rows of one monthly partition:

- ``rows``: ``COUNT(*)``
- ``key_sum``: ``SUM(primary key)``: a deleted or inserted row changes it
- ``modified_sum``: ``SUM(seconds since 1970-01-01 of the modified column)`` (DateTStamp /
  SecDateTEdit, wall time in UTC): an in-place edit moves the row's timestamp, so it changes it

Both sides group by the month of the business date (``YYYY-MM``); months outside the defined
partitions fold into the first/last partition, as the windows do; zero dates and NULL go to the first.
Comparing the source's and raw's fingerprints needs no stored state: a partition whose tuples differ has
changed since the last sync (edits, inserts, hard deletes), and an unchanged one costs one aggregate
query per table on each side.

The *content* fingerprint (``source_content``/``raw_content``, the blocking check; per month,
``source_content_months``/``raw_content_months``, the nightly backstop) covers every column: each row's
canonical text (every value the source has, money included) is hashed with MD5 on both sides, and the
first 60 bits of the hashes are summed exactly, with the row count. The canonical text of a value:

- integers: their decimal text; strings: as stored (NUL bytes removed, as raw holds them);
- dates ``YYYY-MM-DD`` and datetimes/timestamps ``YYYY-MM-DD HH:MM:SS`` (zero dates as NULL);
  TIME: its signed seconds;
- doubles: the shortest decimal that reads back as the same double (MariaDB: through
  ``DECIMAL(65,30)``; PostgreSQL: ``float8::text::numeric``), so two doubles compare equal only when
  they are the same double (within +-1e35 and 30 decimals; beyond, both sides clamp alike).

A value changed without its timestamp (invisible to the cheap fingerprints above) changes the month's
content fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dental_assets.catalog import RAW_SCHEMA, Table, quote_pg
from dental_assets.replication.extract import SourceColumns, q, window_where, zero_date

if TYPE_CHECKING:  # the partitions module imports Dagster: not at run time (dental sync's fast path)
    from dental_assets.partitions import Window

FIRST = "<first>"


@dataclass(frozen=True)
class Fingerprint:
    rows: int
    key_sum: int
    modified_sum: int

    def __add__(self, other: "Fingerprint") -> "Fingerprint":
        return Fingerprint(self.rows + other.rows, self.key_sum + other.key_sum,
                           self.modified_sum + other.modified_sum)


ZERO = Fingerprint(0, 0, 0)


def _int(value) -> int:
    return int(value) if value is not None else 0


def fold_months(months: dict[str, Fingerprint], partition_keys: list[str]) -> dict[str, Fingerprint]:
    """Fold ``{YYYY-MM | FIRST: fingerprint}`` into the partitions: earlier months (and zero dates) go
    to the first key, later months to the last."""
    out: dict[str, Fingerprint] = {}
    first, last = partition_keys[0], partition_keys[-1]
    for month, fp in months.items():
        key = first if month == FIRST or month < first else last if month > last else month
        out[key] = out.get(key, ZERO) + fp
    return out


def snapshot_start(conn) -> None:
    """One consistent snapshot for every fingerprint read on ``conn`` afterwards (``conn`` comes from
    ``mysql.connect``, which pins REPEATABLE READ: under READ COMMITTED there would be no snapshot)."""
    with conn.cursor() as cur:
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")


def source_fingerprints(conn, table: Table, has_modified: bool = True) -> dict[str, Fingerprint]:
    """``{YYYY-MM or FIRST: Fingerprint}`` of the source table (unpartitioned: one entry ``"all"``).
    ``has_modified``: False when the source lacks the table's modified column (an older OpenDental;
    raw then holds NULL there, whose sum is 0 as well)."""
    pk = q(table.primary_key)
    mod = (f"SUM(TIMESTAMPDIFF(SECOND, '1970-01-01', {q(table.modified_column)}))"
           if table.modified_column and has_modified else "0")
    if table.partitioned:
        bd = q(table.business_date)
        month = f"IF({zero_date(bd)}, '{FIRST}', DATE_FORMAT({bd}, '%Y-%m'))"
        sql = f"SELECT {month} AS m, COUNT(*), SUM({pk}), {mod} FROM {q(table.name)} GROUP BY m"
    else:
        sql = f"SELECT 'all', COUNT(*), SUM({pk}), {mod} FROM {q(table.name)}"
    with conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
    return {m: Fingerprint(_int(n), _int(k), _int(s)) for m, n, k, s in rows if n}


def raw_fingerprints(pgcur, table: Table, schema: str = RAW_SCHEMA) -> dict[str, Fingerprint] | None:
    """The same fingerprints of ``schema.table`` in PostgreSQL (None when the table does not exist)."""
    pgcur.execute("SELECT to_regclass(%s)", (f"{quote_pg(schema)}.{quote_pg(table.name)}",))
    if pgcur.fetchone()[0] is None:
        return None
    pk = quote_pg(table.primary_key)
    mod = (f"sum(extract(epoch from {quote_pg(table.modified_column)}))::numeric"
           if table.modified_column else "0")
    target = f"{quote_pg(schema)}.{quote_pg(table.name)}"
    if table.partitioned:
        bd = quote_pg(table.business_date)
        month = f"coalesce(to_char({bd}, 'YYYY-MM'), '{FIRST}')"
        sql = f"SELECT {month} AS m, count(*), sum({pk}), {mod} FROM {target} GROUP BY m"
    else:
        sql = f"SELECT 'all', count(*), sum({pk}), {mod} FROM {target}"
    pgcur.execute(sql)
    return {m: Fingerprint(_int(n), _int(k), _int(s)) for m, n, k, s in pgcur.fetchall() if n}


def changed_partitions(table: Table, source: dict[str, Fingerprint], raw: dict[str, Fingerprint] | None,
                       partition_keys: list[str]) -> list[str]:
    """Partition keys whose fingerprints differ (unpartitioned: ``["all"]`` or ``[]``). A raw table that
    does not exist yet needs a run even for an empty source (to create it): its first partition then."""
    if raw is None:
        if not table.partitioned:
            return ["all"]
        return sorted(fold_months(source, partition_keys)) or [partition_keys[0]]
    if not table.partitioned:
        return ["all"] if source.get("all", ZERO) != raw.get("all", ZERO) else []
    src = fold_months(source, partition_keys)
    dst = fold_months(raw, partition_keys)
    return [k for k in partition_keys if src.get(k, ZERO) != dst.get(k, ZERO)]


# ------------------------------------------------------------------------------------ content check

# Doubles go through DECIMAL(65,30) on both sides: MariaDB's double -> DECIMAL and PostgreSQL's float8
# -> text -> numeric both give the shortest decimal that reads back as the same double, so equal text
# means the same double. Magnitudes beyond the DECIMAL's range are clamped to it on both sides.
DECIMAL_MAX = "99999999999999999999999999999999999.999999999999999999999999999999"
NULL_MARK = 30  # ASCII record separator: a NULL value in the row text
SEPARATOR = 31  # ASCII unit separator: between two values of the row text
HASH_HEX_DIGITS = 15  # 60 bits of each row's MD5, summed exactly


def _value_text_mysql(col) -> str:
    """MariaDB: the column's canonical text (NULL for a zero date or NULL)."""
    name = q(col.name)
    kind = col.kind
    if kind == "str":
        return f"REPLACE(CONVERT({name} USING utf8mb4), CHAR(0), '')"
    if kind == "date":
        return f"IF({zero_date(name)}, NULL, DATE_FORMAT({name}, '%Y-%m-%d'))"
    if kind in ("datetime", "timestamp"):
        return f"IF({zero_date(name)}, NULL, DATE_FORMAT({name}, '%Y-%m-%d %H:%i:%s'))"
    if kind == "time":
        return f"TIME_TO_SEC({name})"
    if kind == "float":
        return f"TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({name} AS DECIMAL(65,30))))"
    return f"CAST({name} AS CHAR)"


def _value_text_pg(col) -> str:
    """PostgreSQL: the same canonical text of raw's column."""
    name = quote_pg(col.name)
    kind = col.kind
    if kind == "str":
        return f"{name}::text"
    if kind == "date":
        return f"to_char({name}, 'YYYY-MM-DD')"
    if kind in ("datetime", "timestamp"):
        return f"to_char({name}, 'YYYY-MM-DD HH24:MI:SS')"
    if kind == "time":
        return f"extract(epoch from {name})::bigint::text"
    if kind == "float":
        return (f"trim_scale(round(least(greatest({name}::text::numeric, -{DECIMAL_MAX}), {DECIMAL_MAX}), "
                "30))::text")
    return f"{name}::text"


def row_hash_mysql(cols: SourceColumns) -> str:
    """MariaDB: each row's content hash, an integer in [0, 2**60): the first 60 bits of the MD5 of the
    row's canonical text (every column the source has, in ``cols`` order, separated by CHAR(31); NULL
    as CHAR(30))."""
    parts = [f"IFNULL({_value_text_mysql(c)}, CHAR({NULL_MARK}))" for c in cols.columns if c.name not in cols.missing]
    text = f"CONCAT_WS(CHAR({SEPARATOR}), {', '.join(parts)})" if parts else "''"
    return f"CAST(CONV(LEFT(MD5({text}), {HASH_HEX_DIGITS}), 16, 10) AS UNSIGNED)"


def row_hash_pg(cols: SourceColumns) -> str:
    """PostgreSQL: the same row hash of raw's rows (``row_hash_mysql``)."""
    parts = [f"coalesce({_value_text_pg(c)}, chr({NULL_MARK}))" for c in cols.columns if c.name not in cols.missing]
    text = f"concat_ws(chr({SEPARATOR}), {', '.join(parts)})" if parts else "''"
    return f"('x' || left(md5({text}), {HASH_HEX_DIGITS}))::bit({HASH_HEX_DIGITS * 4})::bigint"


def source_content(conn, table: Table, cols: SourceColumns, window: Window | None) -> tuple[int, int]:
    """(rows, sum of the row hashes) of the source window (see ``row_hash_mysql``)."""
    sql = (f"SELECT COUNT(*), SUM({row_hash_mysql(cols)}) FROM {q(table.name)} "
           f"WHERE {window_where(table, window)}")
    with conn.cursor() as cur:
        cur.execute(sql)
        return tuple(_int(v) for v in cur.fetchone())


def raw_content(pgcur, table: Table, cols: SourceColumns, window: Window | None,
                schema: str = RAW_SCHEMA) -> tuple[int, int]:
    """The same tuple from raw."""
    where = "TRUE"
    if window is not None and table.partitioned:
        where = window.sql_predicate(quote_pg(table.business_date))
    sql = (f"SELECT count(*), sum({row_hash_pg(cols)}) FROM {quote_pg(schema)}.{quote_pg(table.name)} "
           f"WHERE {where}")
    pgcur.execute(sql)
    return tuple(_int(v) for v in pgcur.fetchone())


def source_content_months(conn, table: Table, cols: SourceColumns) -> dict[str, tuple[int, int]]:
    """``{YYYY-MM or FIRST: (rows, row hash sum)}`` of the whole source table (``{"all": ...}`` when
    unpartitioned): the backstop's per-month content fingerprints."""
    month = "'all'"
    if table.partitioned:
        bd = q(table.business_date)
        month = f"IF({zero_date(bd)}, '{FIRST}', DATE_FORMAT({bd}, '%Y-%m'))"
    sql = f"SELECT {month} AS m, COUNT(*), SUM({row_hash_mysql(cols)}) FROM {q(table.name)} GROUP BY m"
    with conn.cursor() as cur:
        cur.execute(sql)
        return {m: (_int(n), _int(h)) for m, n, h in cur.fetchall() if n}


def raw_content_months(pgcur, table: Table, cols: SourceColumns,
                       schema: str = RAW_SCHEMA) -> dict[str, tuple[int, int]] | None:
    """The same from raw (None when the raw table does not exist)."""
    pgcur.execute("SELECT to_regclass(%s)", (f"{quote_pg(schema)}.{quote_pg(table.name)}",))
    if pgcur.fetchone()[0] is None:
        return None
    pgcur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                  "AND table_name = %s", (schema, table.name))
    present = {r[0] for r in pgcur.fetchall()}
    if any(c.name not in present for c in cols.columns if c.name not in cols.missing):
        return None  # a column the next sync adds: the table differs
    month = "'all'"
    if table.partitioned:
        month = f"coalesce(to_char({quote_pg(table.business_date)}, 'YYYY-MM'), '{FIRST}')"
    pgcur.execute(f"SELECT {month} AS m, count(*), sum({row_hash_pg(cols)}) "
                  f"FROM {quote_pg(schema)}.{quote_pg(table.name)} GROUP BY m")
    return {m: (_int(n), _int(h)) for m, n, h in pgcur.fetchall() if n}


def changed_content_partitions(table: Table, source: dict[str, tuple[int, int]],
                               raw: dict[str, tuple[int, int]] | None, partition_keys: list[str]) -> list[str]:
    """Partition keys (``["all"]`` unpartitioned) whose content fingerprints differ."""
    def fold(months: dict) -> dict:
        if not table.partitioned:
            return dict(months)
        out: dict[str, tuple[int, int]] = {}
        first, last = partition_keys[0], partition_keys[-1]
        for month, (n, h) in months.items():
            key = first if month == FIRST or month < first else last if month > last else month
            a, b = out.get(key, (0, 0))
            out[key] = (a + n, b + h)
        return out

    keys = partition_keys if table.partitioned else ["all"]
    if raw is None:
        return list(keys) if not table.partitioned else sorted(fold(source)) or [partition_keys[0]]
    src, dst = fold(source), fold(raw)
    return [k for k in keys if src.get(k, (0, 0)) != dst.get(k, (0, 0))]

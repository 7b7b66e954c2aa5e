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

``content_fingerprint`` adds, for the blocking check, the sum of every integer column, the total
length of every string (NUL bytes excluded), the day numbers of every date and the seconds of every
time span, so a value changed without its timestamp is caught too. Doubles are compared through
``rows`` and the keys only (their text form round-trips exactly; their sums do not).
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
    """One consistent snapshot for every fingerprint read on ``conn`` afterwards."""
    with conn.cursor() as cur:
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")


def source_fingerprints(conn, table: Table) -> dict[str, Fingerprint]:
    """``{YYYY-MM or FIRST: Fingerprint}`` of the source table (unpartitioned: one entry ``"all"``)."""
    pk = q(table.primary_key)
    mod = (f"SUM(TIMESTAMPDIFF(SECOND, '1970-01-01', {q(table.modified_column)}))"
           if table.modified_column else "0")
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

def _content_terms_mysql(cols: SourceColumns) -> list[str]:
    ints, strs, days, secs = [], [], [], []
    for c in cols.columns:
        if c.name in cols.missing:
            continue
        name = q(c.name)
        if c.kind == "int":
            ints.append(f"CAST({name} AS DECIMAL(40,0))")
        elif c.kind == "str":
            strs.append(f"CHAR_LENGTH(REPLACE({name}, CHAR(0), ''))")
        elif c.kind in ("date", "datetime", "timestamp"):
            days.append(f"IFNULL(TIMESTAMPDIFF(SECOND, '1970-01-01', "
                        f"IF({zero_date(name)}, NULL, {name})), 0)")
        elif c.kind == "time":
            secs.append(f"TIME_TO_SEC({name})")
    return [f"SUM({' + '.join(x) if x else '0'})" for x in (ints, strs, days, secs)]


def _content_terms_pg(cols: SourceColumns) -> list[str]:
    ints, strs, days, secs = [], [], [], []
    for c in cols.columns:
        if c.name in cols.missing:
            continue
        name = quote_pg(c.name)
        if c.kind == "int":
            ints.append(f"coalesce({name}::numeric, 0)")
        elif c.kind == "str":
            strs.append(f"coalesce(char_length({name}), 0)")
        elif c.kind in ("date", "datetime", "timestamp"):
            days.append(f"coalesce(extract(epoch from {name}::timestamp)::numeric, 0)")
        elif c.kind == "time":
            secs.append(f"coalesce(extract(epoch from {name})::numeric, 0)")
    return [f"sum({' + '.join(x) if x else '0'})" for x in (ints, strs, days, secs)]


def source_content(conn, table: Table, cols: SourceColumns, window: Window | None) -> tuple[int, ...]:
    """(rows, integer sum, string length, date seconds, time seconds) of the source window."""
    sql = (f"SELECT COUNT(*), {', '.join(_content_terms_mysql(cols))} FROM {q(table.name)} "
           f"WHERE {window_where(table, window)}")
    with conn.cursor() as cur:
        cur.execute(sql)
        return tuple(_int(v) for v in cur.fetchone())


def raw_content(pgcur, table: Table, cols: SourceColumns, window: Window | None,
                schema: str = RAW_SCHEMA) -> tuple[int, ...]:
    """The same tuple from raw."""
    where = "TRUE"
    if window is not None and table.partitioned:
        where = window.sql_predicate(quote_pg(table.business_date))
    sql = (f"SELECT count(*), {', '.join(_content_terms_pg(cols))} FROM {quote_pg(schema)}.{quote_pg(table.name)} "
           f"WHERE {where}")
    pgcur.execute(sql)
    return tuple(_int(v) for v in pgcur.fetchone())

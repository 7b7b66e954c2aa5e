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

The *content* fingerprint covers every column: each row's canonical text (every value the source has,
money included) is hashed with MD5 on both sides, and the first 60 bits of the hashes are summed
exactly, with the row count. The nightly backstop compares it per month for every row
(``source_content_months``/``raw_content_months``); the blocking check after a sync
(``source_check_queries``/``raw_content``) counts every row of the window, sums its keys, its modified
timestamps and its business dates (as days: a date moved without its timestamp moves the sum, so a row
re-dated silently into another month fails the check even when no plan compared the months), and
hashes the rows of a ``CheckScope``: the rows the sync re-read and a sample of key blocks (or every
row), leaving out on both sides the rows the source stamped after the sync began (``later_keys_query``).
The canonical text of a value:

- integers: their decimal text; strings: as stored (NUL bytes removed, as raw holds them);
- dates as their day number (MariaDB's ``TO_DAYS``), datetimes and timestamps as whole seconds since
  year 0 (``TO_SECONDS``; zero dates as NULL); TIME: its signed seconds;
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
from dental_assets.replication import buckets
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


def _source_month(table: Table) -> str:
    """MariaDB: the month of the business date as an integer ``YYYYMM``, 0 for a zero date or NULL (a
    source that declares the column nullable; ``month_key`` names 0 FIRST, the partition the rows' window
    and ``_raw_month`` put them in): grouping by an integer costs about half of grouping by ``DATE_FORMAT``
    text."""
    bd = q(table.business_date)
    return f"COALESCE(IF({zero_date(bd)}, 0, EXTRACT(YEAR_MONTH FROM {bd})), 0)"


def _raw_month(table: Table) -> str:
    """PostgreSQL: the month of raw's business date as ``_source_month`` gives it (``YYYYMM``, 0 for
    NULL, a zero date on the source). Grouping the backstop's content months by ``to_char(..., 'YYYY-MM')``
    instead cost 0.63 s against 0.45 s over the 50,000-patient benchmark's procedurelog."""
    bd = quote_pg(table.business_date)
    return f"coalesce((date_part('year', {bd}) * 100 + date_part('month', {bd}))::int, 0)"


def month_key(value) -> str:
    """``YYYY-MM`` (or FIRST for 0) of a ``_source_month`` value; ``all`` passes through. Pure."""
    if value == "all":
        return value
    number = int(value)
    return FIRST if number == 0 else f"{number // 100:04d}-{number % 100:02d}"


TO_SECONDS_1970 = 62167219200  # MariaDB's TO_SECONDS('1970-01-01')


def _modified_sum_mysql(column: str) -> str:
    """SQL summing a source timestamp column as whole seconds since 1970 (zero dates, and dates with a
    zero month or day: NULL, not summed). ``TO_SECONDS(x) - TO_SECONDS('1970-01-01')`` equals
    ``TIMESTAMPDIFF(SECOND, '1970-01-01', x)`` for every value, before 1970, the zero dates and
    9999-12-31 included, and cost 0.99 s against 1.35 s over the 50,000-patient benchmark's tables."""
    return f"SUM(TO_SECONDS({column}) - {TO_SECONDS_1970})"


SERIAL_SQL = "SET LOCAL max_parallel_workers_per_gather = 0"


def serial(pgcur) -> None:
    """Run the rest of ``pgcur``'s transaction without parallel workers (``SERIAL_SQL``). Raw's scans
    (fingerprints, key buckets, checks) run while the source's session scans too: parallel workers
    only take CPU from it. On the 2-core benchmark machine (50,000 patients, ``dental sync`` as a
    process, alternating): first sync 38.9-39.1 s against 39.7-41.0 s with them, incremental 11.3-13.2 s
    against 12.0-12.5 s, the checks ~1 s shorter in both (docs/replication.md, *Figures*)."""
    pgcur.execute(SERIAL_SQL)


JIT_OFF_SQL = "SET LOCAL jit = off"


def no_jit(pgcur) -> None:
    """Run the rest of ``pgcur``'s transaction without JIT compilation (``JIT_OFF_SQL``). The sync's
    key-bucket scan and the check's sampled key ranges are costed high enough for PostgreSQL to compile
    them, which costs more than it saves: the check's sample (a join of 256 key ranges, the row hash of
    every column) took 5.9 s with JIT against 1.4 s without, over the 50,000-patient benchmark's tables."""
    pgcur.execute(JIT_OFF_SQL)


def _date_sum_mysql(column: str) -> str:
    """SQL summing a source business-date column (date or datetime) as days since year 0
    (``TO_DAYS``: NULL, not summed, for a zero date or a zero month or day, which raw holds as NULL)."""
    return f"SUM(TO_DAYS({column}))"


def _days_pg(column: str) -> str:
    """PostgreSQL: MariaDB's ``TO_DAYS`` of raw's date or datetime column: the date part's days since
    0001-01-01 plus ``TO_DAYS('0001-01-01')`` (366; both servers count in the proleptic Gregorian
    calendar)."""
    return f"(({column})::date - date '0001-01-01' + 366)"


def _date_sum_pg(column: str) -> str:
    """The same sum in raw (``_days_pg``)."""
    return f"sum{_days_pg(column)}"


def _modified_sum_pg(column: str) -> str:
    """The same sum in raw: whole seconds (raw's timestamps have none finer), so the double is exact,
    summed as bigint (NULL, a zero date on the source, not summed)."""
    return f"sum(date_part('epoch', {column})::bigint)"


def source_fingerprints(conn, table: Table, has_modified: bool = True) -> dict[str, Fingerprint]:
    """``{YYYY-MM or FIRST: Fingerprint}`` of the source table (unpartitioned: one entry ``"all"``).
    ``has_modified``: False when the source lacks the table's modified column (an older OpenDental;
    raw then holds NULL there, whose sum is 0 as well)."""
    pk = q(table.primary_key)
    mod = _modified_sum_mysql(q(table.modified_column)) if table.modified_column and has_modified else "0"
    if table.partitioned:
        sql = f"SELECT {_source_month(table)} AS m, COUNT(*), SUM({pk}), {mod} FROM {q(table.name)} GROUP BY m"
    else:
        sql = f"SELECT 'all', COUNT(*), SUM({pk}), {mod} FROM {q(table.name)}"
    with conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
    return {month_key(m): Fingerprint(_int(n), _int(k), _int(s)) for m, n, k, s in rows if n}


def raw_fingerprints(pgcur, table: Table, schema: str = RAW_SCHEMA) -> dict[str, Fingerprint] | None:
    """The same fingerprints of ``schema.table`` in PostgreSQL (None when the table does not exist)."""
    pgcur.execute("SELECT to_regclass(%s)", (f"{quote_pg(schema)}.{quote_pg(table.name)}",))
    if pgcur.fetchone()[0] is None:
        return None
    pk = quote_pg(table.primary_key)
    mod = _modified_sum_pg(quote_pg(table.modified_column)) if table.modified_column else "0"
    target = f"{quote_pg(schema)}.{quote_pg(table.name)}"
    if table.partitioned:
        sql = f"SELECT {_raw_month(table)} AS m, count(*), sum({pk}), {mod} FROM {target} GROUP BY m"
    else:
        sql = f"SELECT 'all', count(*), sum({pk}), {mod} FROM {target}"
    pgcur.execute(sql)
    return {month_key(m): Fingerprint(_int(n), _int(k), _int(s)) for m, n, k, s in pgcur.fetchall() if n}


def changed_partitions(table: Table, source: dict[str, Fingerprint], raw: dict[str, Fingerprint] | None,
                       partition_keys: list[str]) -> list[str]:
    """Partition keys whose fingerprints differ (unpartitioned: ``["all"]`` or ``[]``). A raw table that
    does not exist yet (``raw`` None) needs every partition (its source fingerprints are not read)."""
    if raw is None:
        return list(partition_keys) if table.partitioned else ["all"]
    if not table.partitioned:
        return ["all"] if source.get("all", ZERO) != raw.get("all", ZERO) else []
    src = fold_months(source, partition_keys)
    dst = fold_months(raw, partition_keys)
    return [k for k in partition_keys if src.get(k, ZERO) != dst.get(k, ZERO)]


# ------------------------------------------------------------------------------------ content check

# Doubles go through DECIMAL(65,30) on both sides: MariaDB's double -> DECIMAL and PostgreSQL's float8
# -> text -> numeric both give the shortest decimal that reads back as the same double, so equal text
# means the same double. Magnitudes beyond the DECIMAL's range are clamped to it on both sides. A
# single-precision FLOAT (raw's real) is widened to double first on both sides: MariaDB's CAST does so
# (FLOAT 0.1 gives 0.10000000149011612), where real::text would give 0.1 (until 2026-12-05 the check
# failed on every such value).
DECIMAL_MAX = "99999999999999999999999999999999999.999999999999999999999999999999"
NULL_MARK = 30  # ASCII record separator: a NULL value in the row text
SEPARATOR = 31  # ASCII unit separator: between two values of the row text
HASH_HEX_DIGITS = 15  # 60 bits of each row's MD5, summed exactly


# Each kind's canonical text in the row text ({v}: the quoted column). Dates are their day number
# (MariaDB's ``TO_DAYS``; raw: days since 0001-01-01 plus 366), datetimes and timestamps their whole
# seconds since year 0 (``TO_SECONDS``, fractions dropped; raw: floored seconds since 1970 plus
# ``TO_SECONDS_1970``): NULL for a zero date or a zero month or day, as raw holds them, and no session
# setting (DateStyle) plays a part. Numbers, not ``DATE_FORMAT``/``to_char`` text: the backstop's
# content months of the 50,000-patient benchmark's 97 tables took 33.4 s on the source and 33.0 s on
# raw, against 47.9 s and 46.1 s with formatted dates, cast integers and every value marked
# (docs/replication.md).
_TEXT_MYSQL = {
    "int": "{v}",  # CONCAT_WS writes the digits itself
    "str": "REPLACE(CONVERT({v} USING utf8mb4), CHAR(0), '')",
    "date": "TO_DAYS({v})",
    "datetime": "TO_SECONDS({v})",
    "timestamp": "TO_SECONDS({v})",
    "time": "TIME_TO_SEC({v})",
    "float": "TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({v} AS DECIMAL(65,30))))",
}
_SECONDS_PG = f"(floor(date_part('epoch', {{v}}))::bigint + {TO_SECONDS_1970})"  # TO_SECONDS, fractions dropped
_TEXT_PG = {
    "int": "{v}",
    "str": "{v}::text",
    "date": _days_pg("{v}"),
    "datetime": _SECONDS_PG,
    "timestamp": _SECONDS_PG,
    "time": "extract(epoch from {v})::bigint",
    "float": f"trim_scale(round(least(greatest({{v}}::text::numeric, -{DECIMAL_MAX}), {DECIMAL_MAX}), 30))",
}
UNMARKED_KINDS = ("int", "str")  # NOT NULL on the source: the value as it is, no NULL mark

# A string column the source declares binary (``SourceColumns.binary``) reaches the readers as stored: they
# replace each maximal subpart of an ill-formed UTF-8 sequence by one U+FFFD (Python's ``decode("utf-8",
# "replace")``, ``extract._valid_utf8``), after removing NUL bytes. MariaDB's CONVERT gives '?' a byte
# instead, so the check reproduces the readers' replacement on the bytes: a PCRE pattern (a binary subject:
# bytes, no UTF mode) that, from where the last match ended (\G), takes every well-formed sequence
# (possessive: none given back; Unicode's table 3-7) and then one maximal subpart, which the replacement
# turns into U+FFFD. Equal to Python's on 20,000 random byte strings (tests/test_replication_text.py). The
# server's ``default_regex_flags`` are unset for it (``(?-Ux)``): UNGREEDY would make a subpart's ``?`` lazy.
_UTF8_WELL_FORMED = (r"[\x00-\x7F]|[\xC2-\xDF][\x80-\xBF]|\xE0[\xA0-\xBF][\x80-\xBF]"
                     r"|[\xE1-\xEC\xEE\xEF][\x80-\xBF]{2}|\xED[\x80-\x9F][\x80-\xBF]|\xF0[\x90-\xBF][\x80-\xBF]{2}"
                     r"|[\xF1-\xF3][\x80-\xBF]{3}|\xF4[\x80-\x8F][\x80-\xBF]{2}")
_UTF8_MAXIMAL_SUBPART = (r"\xE0[\xA0-\xBF]?|[\xE1-\xEC\xEE\xEF][\x80-\xBF]?|\xED[\x80-\x9F]?"
                         r"|\xF0(?:[\x90-\xBF][\x80-\xBF]?)?|[\xF1-\xF3](?:[\x80-\xBF][\x80-\xBF]?)?"
                         r"|\xF4(?:[\x80-\x8F][\x80-\xBF]?)?|[\x80-\xDF\xF5-\xFF]")
_NOT_UTF8 = rf"(?-Ux)\G((?:{_UTF8_WELL_FORMED})*+)(?:{_UTF8_MAXIMAL_SUBPART})"


def utf8_replaced_mysql(column: str) -> str:
    """MariaDB: the (quoted) binary column's bytes as the readers load them, as utf8mb4 text: NUL bytes
    removed, then each maximal subpart of an ill-formed UTF-8 sequence replaced by one U+FFFD
    (``_NOT_UTF8``; U+FFFD already in the bytes kept). The pattern and replacement go as hex literals (no
    quoting, whatever the server's ``sql_mode``)."""
    pattern, replacement = _NOT_UTF8.encode().hex(), (b"\\1" + "\ufffd".encode()).hex()
    return f"CONVERT(REGEXP_REPLACE(REPLACE({column}, CHAR(0), ''), X'{pattern}', X'{replacement}') USING utf8mb4)"


def _value_text_mysql(col, not_null: bool = False, binary: bool = False) -> str:
    """MariaDB: the column's canonical text in the row text (``row_hash_mysql``, ``_TEXT_MYSQL``; a string
    column the source declares ``binary``: ``utf8_replaced_mysql``); CHAR(30) when NULL, unless the source
    declares the integer or string column NOT NULL (``not_null``)."""
    if binary and col.kind == "str":
        text = utf8_replaced_mysql(q(col.name))
    else:
        text = _TEXT_MYSQL[col.kind].format(v=q(col.name))
    return text if not_null and col.kind in UNMARKED_KINDS else f"IFNULL({text}, CHAR({NULL_MARK}))"


def _value_text_pg(col, not_null: bool = False) -> str:
    """PostgreSQL: the same canonical text of raw's column (``_TEXT_PG``). A single-precision FLOAT
    (raw's real) is widened to double first, as MariaDB's CAST does."""
    name = quote_pg(col.name) + ("::float8" if col.base_type == "float" else "")
    text = _TEXT_PG[col.kind].format(v=name)
    return text if not_null and col.kind in UNMARKED_KINDS else f"coalesce({text}::text, chr({NULL_MARK}))"


def _hashed_columns(cols: SourceColumns):
    """(column, declared NOT NULL on the source) for every column the source has, in ``cols`` order
    (``not_null`` unknown: none counted NOT NULL)."""
    not_null = cols.not_null or frozenset()
    return [(c, c.name in not_null) for c in cols.columns if c.name not in cols.missing]


def row_hash_mysql(cols: SourceColumns) -> str:
    """MariaDB: each row's content hash, an integer in [0, 2**60): the first 60 bits of the MD5 of the
    row's canonical text (every column the source has, in ``cols`` order, each as
    ``_value_text_mysql`` gives it, separated by CHAR(31); NULL as CHAR(30)). A string column the source
    declares binary is hashed as the readers load it (``utf8_replaced_mysql``), so it equals raw's."""
    parts = [_value_text_mysql(c, not_null, c.name in cols.binary) for c, not_null in _hashed_columns(cols)]
    text = f"CONCAT_WS(CHAR({SEPARATOR}), {', '.join(parts)})" if parts else "''"
    return f"CAST(CONV(LEFT(MD5({text}), {HASH_HEX_DIGITS}), 16, 10) AS UNSIGNED)"


def row_hash_pg(cols: SourceColumns) -> str:
    """PostgreSQL: the same row hash of raw's rows (``row_hash_mysql``)."""
    parts = [_value_text_pg(c, not_null) for c, not_null in _hashed_columns(cols)]
    text = f"concat_ws(chr({SEPARATOR}), {', '.join(parts)})" if parts else "''"
    return f"('x' || left(md5({text}), {HASH_HEX_DIGITS}))::bit({HASH_HEX_DIGITS * 4})::bigint"


SAMPLE_RANGES = 256  # key ranges a sampled check reads at most (fewer for small key spans)


@dataclass(frozen=True)
class CheckScope:
    """Which rows of a window the content check hashes. Every row of the window is counted and its key
    summed; a row's content is hashed when it was modified at or after ``since`` (the rows an incremental
    sync re-read; None: none of them) or its key falls in the sample: the blocks of consecutive keys
    whose number modulo ``sample`` is ``residue`` (``key_ranges``; ``sample`` 1: every row). Blocks of
    keys, not keys modulo ``sample``, so that both servers read the sampled rows by primary-key ranges
    instead of scanning every row (a full-row scan of the source cost ~7 µs a row, hashing or not). The
    rest of the window's content is compared by the nightly backstop."""

    since: object = None  # datetime.datetime | None, UTC wall time like DateTStamp
    sample: int = 1
    residue: int = 0

    @property
    def everything(self) -> bool:
        return self.sample == 1

    def key_ranges(self, lo: int | None, hi: int | None) -> list[tuple[int, int]]:
        """The sampled keys between ``lo`` and ``hi`` (the source's smallest and largest key) as
        inclusive ranges: blocks of ``ceil(span / (sample * SAMPLE_RANGES))`` keys, every ``sample``-th
        block from ``residue``. Pure; empty when the table is."""
        if lo is None or hi is None or hi < lo:
            return []
        block = max(1, -(-(hi - lo + 1) // (self.sample * SAMPLE_RANGES)))
        first, last = lo // block, hi // block
        ranges = []
        number = first + (self.residue - first) % self.sample
        while number <= last:
            ranges.append((number * block, number * block + block - 1))
            number += self.sample
        return ranges


EVERY_ROW = CheckScope()


def _sampled_from(ranges: list[tuple[int, int]] | None, name: str, key: str, mysql: bool) -> str | None:
    """The FROM clause reading the sampled key ``ranges`` of ``name`` through its primary key
    (``buckets.joined_ranges``: a WHERE of 256 OR'ed ranges made MariaDB compare each row read with
    every range, 2.06 s against 1.61 s over the 50,000-patient benchmark's tables); None when there are
    no ranges (an empty table)."""
    if not ranges:
        return None
    return buckets.joined_ranges([a for a, _ in ranges], [b for _, b in ranges], name, key, mysql)


def raw_totals_sql(table: Table, cols: SourceColumns, prefix: str = "", where: str | None = None) -> str:
    """PostgreSQL: the check's totals over raw rows, as ``raw_content`` reads them and a window's record
    keeps them (``window_state``): ``count, sum of the keys, sum of the modified timestamps in seconds
    since 1970 (NULL without a modified column), sum of the business dates in days (NULL when
    unpartitioned)``. ``prefix``: a table alias and dot; ``where``: count only the rows matching it (a
    FILTER). Sums are numeric or bigint; NULL for no row."""
    only = f" FILTER (WHERE {where})" if where else ""
    modified = modified_column(table, cols)
    terms = [f"count(*){only}", f"sum({prefix}{quote_pg(table.primary_key)}){only}",
             f"{_modified_sum_pg(prefix + quote_pg(modified))}{only}" if modified else "NULL",
             f"{_date_sum_pg(prefix + quote_pg(table.business_date))}{only}" if table.partitioned else "NULL"]
    return ", ".join(terms)


def _check_queries(scope: CheckScope, sampled_from: str | None, name: str, where: str, row_hash: str,
                   modified: str | None, since: str | None, totals: str, one_scan: bool = False) -> list[str]:
    """The check's queries on one side: every row's ``totals`` (count, key sum, modified sum: the plan's
    fingerprint of the window, ``Fingerprint``; and the business dates' sum), with every row's hash when
    ``scope`` is everything; else the sampled key ranges' count and hash sum (a read of those ranges
    only: ``sampled_from``, ``_sampled_from``), and the re-read rows' (``modified >= since``): in a query
    of their own, or with ``one_scan`` in the totals' scan. The first query gives the totals, the others
    (count, hash sum) pairs (``combine_check``). Raw has no index on the modified column, so its own query
    would scan the window a second time (``one_scan`` saved 0.6 s of 4.3 s on raw's side at 50,000
    patients); MariaDB reads the re-read rows through the source's index on it, and evaluating the
    condition in the totals' scan cost it 2.7 s more."""
    if scope.everything:
        return [f"SELECT {totals}, COUNT(*), SUM({row_hash}) FROM {name} WHERE {where}"]
    reread = scope.since is not None and modified is not None
    in_totals = (f", COUNT(CASE WHEN {modified} >= {since} THEN 1 END), "
                 f"SUM(CASE WHEN {modified} >= {since} THEN {row_hash} END)") if reread and one_scan else ""
    queries = [f"SELECT {totals}{in_totals} FROM {name} WHERE {where}",
               f"SELECT COUNT(*), SUM({row_hash}) FROM {sampled_from} WHERE {where}" if sampled_from
               else "SELECT 0, 0"]
    if reread and not one_scan:
        queries.append(f"SELECT COUNT(*), SUM({row_hash}) FROM {name} WHERE ({where}) AND {modified} >= {since}")
    return queries


def run_queries(cur, queries: list) -> list[tuple[int, ...]]:
    """Each query's one row as integers (a query is SQL, or SQL and its parameters)."""
    results = []
    for query in queries:
        sql, params = (query, None) if isinstance(query, str) else query
        cur.execute(sql, params)
        results.append(tuple(_int(v) for v in cur.fetchone()))
    return results


def combine_check(results: list[tuple[int, ...]]) -> tuple[int, int, int, int, int, int]:
    """(rows, key sum, rows hashed, hash sum, modified sum, date sum) from the results of a side's check
    queries (``_check_queries``: the totals first, then (count, hash sum) pairs). Pure."""
    (rows, key_sum, modified_sum, date_sum, *in_totals), *hashed_parts = results
    hashed = ([tuple(in_totals)] if in_totals else []) + hashed_parts  # (rows, hash sum) pairs
    return (rows, key_sum, sum(n for n, _ in hashed), sum(h for _, h in hashed), modified_sum, date_sum)


def modified_column(table: Table, cols: SourceColumns) -> str | None:
    """The table's modified column when the source has it (else neither side counts a row re-read)."""
    return table.modified_column if table.modified_column and table.modified_column not in cols.missing else None


def sql_timestamp(moment) -> str:
    """A naive datetime as a SQL timestamp literal, for MariaDB and PostgreSQL alike (whole seconds and
    fractions as given)."""
    return f"'{moment.isoformat(sep=' ')}'"


def later_keys_query(table: Table, cols: SourceColumns, clock) -> str | None:
    """MariaDB: the keys of the source rows stamped at or after ``clock`` (the source's clock read before
    the sync's reads, ``SyncResult.source_clock``), anywhere in the table (through the modified column's
    index): rows written since the sync began, which it may not have seen. The check leaves them out on
    both sides (``source_check_queries``, ``raw_content``'s ``later``). None without a modified column or
    a clock."""
    modified = modified_column(table, cols)
    if modified is None or clock is None:
        return None
    return f"SELECT {q(table.primary_key)} FROM {q(table.name)} WHERE {q(modified)} >= {sql_timestamp(clock)}"


def source_check_queries(table: Table, cols: SourceColumns, window: Window | None,
                         scope: CheckScope = EVERY_ROW, ranges: list[tuple[int, int]] | None = None,
                         clock=None, key_max: int | None = None) -> list[str]:
    """MariaDB: the check's queries over the source window (``combine_check`` gives (rows, sum of the keys,
    rows hashed, sum of their row hashes, sum of the modified timestamps in seconds:
    ``Fingerprint.modified_sum``, sum of the business dates in days since year 0: 0 when unpartitioned);
    see ``row_hash_mysql``). The rows hashed are ``scope``'s, its sample given as ``ranges`` of keys
    (``scope.key_ranges`` of the source's key bounds). A row both re-read and sampled is hashed twice, on
    both sides alike. The first query (the totals) reads every row of the window; the others read the
    hashed rows only, through the primary key and the modified column's index, so they may run on a
    second connection at the same time (``sync.verify_window``). With ``clock`` (a naive UTC datetime),
    the rows stamped at or after it are left out (``later_keys_query`` lists them, for raw's side); with
    ``key_max``, the rows whose key is above it (added since it was read: a table without a modified
    column, whose keys only grow)."""
    modified = modified_column(table, cols)
    since = sql_timestamp(scope.since) if scope.since is not None else None
    name, key = q(table.name), q(table.primary_key)
    where = window_where(table, window)
    if clock is not None and modified is not None:
        # not a range MariaDB would read through the modified column's index: the sample's key ranges
        # must stay the way in (with ``< clock OR IS NULL`` it read the index: 7.5 s against 0.2 s)
        where = f"({where}) AND COALESCE({q(modified)} < {sql_timestamp(clock)}, TRUE)"
    if key_max is not None:  # (as an expression, not a range of the key: the sample's ranges stay the way
        # in; ``key <= max`` made MariaDB read the whole key range for each sampled range, 9.7 s against 0.1 s)
        where = f"({where}) AND {key} + 0 <= {int(key_max)}"
    totals = (f"COUNT(*), SUM({key}), {_modified_sum_mysql(q(modified)) if modified else '0'}, "
              f"{_date_sum_mysql(q(table.business_date)) if table.partitioned else '0'}")
    return _check_queries(scope, _sampled_from(ranges, name, key, mysql=True), name, where,
                          row_hash_mysql(cols), q(modified) if modified else None, since, totals)


def _left_out_pg(key: str, key_max: int | None, keys) -> str | None:
    """PostgreSQL: the condition of raw's rows the check leaves out: keyed above ``key_max``, or with one
    of ``keys``; None when there are none."""
    terms = [f"{key} > {int(key_max)}"] if key_max is not None else []
    if keys is not None and len(keys):
        terms.append(f"{key} = ANY('{{{','.join(str(int(k)) for k in keys)}}}'::bigint[])")
    return " OR ".join(terms) or None


def _kept(left_out: str | None) -> str:
    """`` AND NOT (left_out)``, or nothing."""
    return f" AND NOT ({left_out})" if left_out else ""


def raw_content(pgcur, table: Table, cols: SourceColumns, window: Window | None,
                schema: str = RAW_SCHEMA, scope: CheckScope = EVERY_ROW,
                ranges: list[tuple[int, int]] | None = None, totals: tuple[int, int, int, int] | None = None,
                reread_keys=None, later=None, key_max: int | None = None) -> tuple[int, int, int, int, int, int]:
    """The same tuple from raw (the same ``ranges``). Raw holds NULL where the source has a zero
    timestamp, which neither side counts as re-read.

    ``totals``: the window's (rows, key sum, modified sum, date sum) as its record keeps them
    (``sync.record_window``: nothing has written the table since they were recorded), instead of a scan
    of every row; the re-read rows (modified at or after ``scope.since``) are then read by key among
    ``reread_keys`` (the keys the sync wrote or found unchanged; a row of raw's window modified since
    then that the sync did not read is one the source no longer has there, which the row count and key
    sum show, or has with an earlier timestamp, which the modified sum shows). Not used when ``scope``
    hashes every row, or re-read rows are hashed and ``reread_keys`` is None.

    ``later``: (keys left out of the totals, keys left out of the hashed rows), each the keys the
    source's side found stamped after its clock in the snapshot of that query (``later_keys_query``);
    raw's rows with those keys are left out too (from the record's totals: subtracted); ``key_max``:
    raw's rows whose key is above it are left out, as on the source."""
    where = "TRUE"
    if window is not None and table.partitioned:
        where = window.sql_predicate(quote_pg(table.business_date))
    modified = modified_column(table, cols)
    since = f"{sql_timestamp(scope.since)}::timestamp" if scope.since is not None else None
    name, key = f"{quote_pg(schema)}.{quote_pg(table.name)}", quote_pg(table.primary_key)
    keys_out, hashed_keys_out = later if later is not None else (None, None)
    left_out, hashed_left_out = _left_out_pg(key, key_max, keys_out), _left_out_pg(key, key_max, hashed_keys_out)
    reread = since is not None and modified is not None
    if scope.everything or (reread and reread_keys is None):
        totals = None  # every row read anyway, or no keys to read the re-read rows by

    def queries(extra: str, one_scan: bool) -> list[str]:
        return _check_queries(scope, _sampled_from(ranges, name, key, mysql=False), name, f"({where}){extra}",
                              row_hash_pg(cols), quote_pg(modified) if modified else None, since,
                              raw_totals_sql(table, cols), one_scan=one_scan)

    hashed_queries = queries(_kept(hashed_left_out), one_scan=later is None)
    if totals is None:
        if scope.everything:  # one query, one snapshot on the source: one list of keys left out
            return combine_check(run_queries(pgcur, queries(_kept(left_out), one_scan=True)))
        return combine_check(run_queries(pgcur, queries(_kept(left_out), later is None)[:1] + hashed_queries[1:]))
    if left_out is not None:  # raw's rows left out, out of the record's totals
        pgcur.execute(f"SELECT {raw_totals_sql(table, cols)} FROM {name} WHERE ({where}) AND ({left_out})")
        totals = tuple(t - int(v or 0) for t, v in zip(totals, pgcur.fetchone()))
    hashed = [hashed_queries[1]]  # the sample's ranges
    if reread and len(reread_keys):
        hashed.append((f"SELECT count(*), sum({row_hash_pg(cols)}) FROM {name} WHERE {key} = ANY(%s) "
                       f"AND ({where}){_kept(hashed_left_out)} AND {quote_pg(modified)} >= {since}",
                       ([int(k) for k in reread_keys],)))
    return combine_check([tuple(totals)] + run_queries(pgcur, hashed))


def source_content_months(conn, table: Table, cols: SourceColumns) -> dict[str, tuple[int, int]]:
    """``{YYYY-MM or FIRST: (rows, row hash sum)}`` of the whole source table (``{"all": ...}`` when
    unpartitioned): the backstop's per-month content fingerprints."""
    month = _source_month(table) if table.partitioned else "'all'"
    sql = f"SELECT {month} AS m, COUNT(*), SUM({row_hash_mysql(cols)}) FROM {q(table.name)} GROUP BY m"
    with conn.cursor() as cur:
        cur.execute(sql)
        return {month_key(m): (_int(n), _int(h)) for m, n, h in cur.fetchall() if n}


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
    month = _raw_month(table) if table.partitioned else "'all'"
    pgcur.execute(f"SELECT {month} AS m, count(*), sum({row_hash_pg(cols)}) "
                  f"FROM {quote_pg(schema)}.{quote_pg(table.name)} GROUP BY m")
    return {month_key(m): (_int(n), _int(h)) for m, n, h in pgcur.fetchall() if n}


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

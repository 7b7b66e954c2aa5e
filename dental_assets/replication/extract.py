"""Row extraction from MariaDB straight into PostgreSQL ``COPY``, and the per-partition fingerprints.

The source formats each row as one CSV line server-side (``CONCAT_WS``), the ``mariadb`` client
streams those lines, and this module hands the bytes to ``COPY ... FROM STDIN (FORMAT csv)``: no
per-value Python work, bounded memory (one 1 MiB chunk at a time). Values, by catalog kind:

- integers, doubles: MariaDB's text form (doubles to 17 significant digits, as the client prints them).
- strings: always quoted (``"`` doubled), so '' stays '' and NULL stays NULL.
- dates and datetimes: ``0001-01-01`` kept; MySQL zero dates (``0000-00-00``, and dates with a zero
  month or day) become NULL: PostgreSQL has no such date. Counted as ``zero_dates_to_null`` (from the
  NULL count in raw: OpenDental's date columns are NOT NULL, so every NULL there is a zero date).
- ``timestamp`` columns: read with ``time_zone = '+00:00'`` (UTC wall time).
- ``time``: MariaDB's text (``-01:30:00``, ``838:59:59``) into ``interval``: negative and over-24-hour
  spans are kept.
- NUL bytes (U+0000), which PostgreSQL text cannot hold, are removed from the stream and counted as
  ``nul_bytes_removed`` (bytes). Bytes that are not valid UTF-8 are replaced by U+FFFD and counted as
  ``invalid_utf8_replaced`` (chunks are validated incrementally, so a split character is not an error).

Columns are addressed by name on both sides. ``effective_columns`` reconciles the catalog with the
source's ``information_schema``: a column the source has beyond the catalog (a newer OpenDental) is
carried too, typed from its MySQL type, and raw is migrated (``ALTER TABLE ... ADD COLUMN``); a catalog
column the source lacks (an older OpenDental) is loaded as NULL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dental_assets.catalog import Column, Table, quote_pg
from dental_assets.partitions import Window
from dental_assets.replication.mysql import MySqlParams, client_error, session_preamble, start_client

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


_TYPE_RE = re.compile(r"^([a-z]+)(\(\d+\))?")


def effective_columns(table: Table, source_types: dict[str, str] | None) -> SourceColumns:
    """Reconcile ``table``'s catalog columns with the source's ``{column: COLUMN_TYPE}`` (None: trust
    the catalog). Names compare case-insensitively, as MySQL does. Raises ValueError when the source
    lacks the primary key or has a column of a type the catalog cannot map."""
    if source_types is None:
        return SourceColumns(table.columns)
    lower = {name.lower(): name for name in source_types}
    if table.primary_key.lower() not in lower:
        raise ValueError(f"source table {table.name} has no primary key column {table.primary_key}")
    catalog = {c.name.lower() for c in table.columns}
    missing = frozenset(c.name for c in table.columns if c.name.lower() not in lower)
    extra = []
    for position, (name, mysql_type) in enumerate(source_types.items()):
        if name.lower() in catalog:
            continue
        match = _TYPE_RE.match(mysql_type.lower())
        base = match.group(1) if match else mysql_type
        declared = base + (match.group(2) or "" if match else "")
        column = Column(name=name, mysql_type=declared, position=20_000 + position)
        try:
            column.pg_type  # noqa: B018 - raises on an unmappable type
        except KeyError as exc:
            raise ValueError(f"source column {table.name}.{name} has unmapped type {mysql_type}") from exc
        extra.append(column)
    return SourceColumns(table.columns + tuple(extra), missing, tuple(extra))


def _csv_expr(col: Column, missing: frozenset[str]) -> str:
    if col.name in missing:
        return "''"
    c = q(col.name)
    kind = col.kind
    if kind == "str":
        return f"IFNULL(CONCAT('\"', REPLACE({c}, '\"', '\"\"'), '\"'), '')"
    if kind in ("date", "datetime", "timestamp"):
        return f"IF({c} IS NULL OR MONTH({c}) = 0 OR DAYOFMONTH({c}) = 0, '', {c})"
    return f"IFNULL({c}, '')"


def csv_select(table: Table, cols: SourceColumns, where: str, ordered: bool = True) -> str:
    """``SELECT`` of one CSV line per row (columns in ``cols`` order) for rows matching ``where``, in
    primary-key order when ``ordered`` (unordered lets MariaDB use another index, e.g. the modified
    column's for an incremental read)."""
    exprs = ", ".join(_csv_expr(c, cols.missing) for c in cols.columns)
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

    def count(self, key: str, n: int) -> None:
        if n:
            self.conversions[key] = self.conversions.get(key, 0) + n


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
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            replaced = data.decode("utf-8", errors="replace")
            legit = data.decode("utf-8", errors="ignore").count("\ufffd")
            self.stats.count("invalid_utf8_replaced", replaced.count("\ufffd") - legit)
            data = replaced.encode("utf-8")
        self.stats.bytes += len(data)
        if final:
            self.done = True
        return data

    readline = read


def copy_from_source(
    params: MySqlParams,
    cursor,
    target: str,
    table: Table,
    cols: SourceColumns,
    where: str,
    key_bounds: tuple[int | None, int | None] = (None, None),
    ordered: bool = True,
) -> tuple[int, StreamStats]:
    """Stream the source rows matching ``where`` into PostgreSQL ``target`` (a quoted, possibly
    schema-qualified name) with ``cursor``'s transaction: one read-only client session, one consistent
    snapshot, keyset pages. Returns (rows copied, stream stats). Raises SourceConnectionLost or
    SourceQueryError when the client fails (the caller's transaction must then be rolled back)."""
    statements = [csv_select(table, cols, page, ordered) for page in keyset_pages(table, where, *key_bounds)]
    script = session_preamble() + ";\n".join(statements) + ";\nCOMMIT;\n"
    proc = start_client(params, script)
    stats = StreamStats()
    columns = ", ".join(quote_pg(c.name) for c in cols.columns)
    try:
        cursor.copy_expert(
            f"COPY {target} ({columns}) FROM STDIN WITH (FORMAT csv)", SanitizingReader(proc.stdout, stats)
        )
        rows = cursor.rowcount
    except Exception as exc:
        # a client that died mid-line makes COPY fail on a broken row: report the connection loss
        exited = proc.poll()
        proc.kill()
        proc.wait()
        error = client_error(proc) if exited not in (None, 0) else None
        if error is not None:
            raise error from exc
        raise
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    error = client_error(proc)
    if error is not None:
        raise error
    return rows, stats


def stream_keys(params: MySqlParams, table: Table, where: str):
    """Primary keys of the source rows matching ``where`` as an int64 numpy array (one read-only
    client session; with no window, MariaDB reads them from the smallest index)."""
    script = session_preamble() + f"SELECT {q(table.primary_key)} FROM {q(table.name)} WHERE {where};\nCOMMIT;\n"
    proc = start_client(params, script)
    assert proc.stdout is not None
    data = proc.stdout.read()
    error = client_error(proc)
    if error is not None:
        raise error
    import numpy as np

    return np.array(data.split(), dtype=np.int64) if data else np.zeros(0, dtype=np.int64)

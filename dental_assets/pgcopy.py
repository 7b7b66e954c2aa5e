"""Bulk loading into PostgreSQL: Arrow tables -> ``COPY ... FROM STDIN (FORMAT csv)``.

Values PostgreSQL cannot hold get a documented conversion and are counted, never dropped silently.
A NUL byte (U+0000) in a string is removed, because PostgreSQL text cannot contain it. The number
of bytes removed is returned as ``nul_bytes_removed``, as the replication counts it. Nulls are written
as unquoted empty fields and empty strings as ``""``, so COPY keeps NULL and '' apart.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from dental_assets.catalog import quote_pg

_BATCH_ROWS = 200_000


@dataclass
class CopyStats:
    """What a COPY loaded: ``rows`` written and per-conversion counts (``sanitize_for_postgres``)."""

    rows: int = 0
    conversions: dict[str, int] = field(default_factory=dict)

    def add(self, other: CopyStats) -> None:
        self.rows += other.rows
        for key, value in other.conversions.items():
            self.conversions[key] = self.conversions.get(key, 0) + value


def sanitize_for_postgres(table: pa.Table) -> tuple[pa.Table, dict[str, int]]:
    """Remove NUL bytes from string columns. Returns the new table and ``{"nul_bytes_removed": n}``
    (the number of NUL bytes removed, ``'a\\x00b\\x00'`` counting 2: the unit of the replication's
    ``converted/nul_bytes_removed``), omitting zero counts."""
    removed = 0
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            hits = int(pc.sum(pc.count_substring(column, "\x00")).as_py() or 0)
            if hits:
                removed += hits
                column = pc.replace_substring(column, "\x00", "")
        columns.append(column)
    conversions = {"nul_bytes_removed": removed} if removed else {}
    return pa.Table.from_arrays(columns, names=table.column_names), conversions


def copy_arrow(cursor, schema: str, table_name: str, data: pa.Table) -> CopyStats:
    """COPY ``data`` into ``schema.table_name`` using the cursor's transaction (columns by name).

    ``data`` column names must be the target's column names; its types must be ones PostgreSQL parses
    from CSV text for the target columns (ints, floats, strings, date32, timestamps, "HH:MM:SS" strings
    for intervals). Raises psycopg2 errors as COPY reports them.
    """
    stats = CopyStats()
    if data.num_rows == 0:
        return stats
    data, conversions = sanitize_for_postgres(data)
    stats.conversions = conversions
    columns = ", ".join(quote_pg(name) for name in data.column_names)
    sql = f"COPY {quote_pg(schema)}.{quote_pg(table_name)} ({columns}) FROM STDIN WITH (FORMAT csv)"
    options = pcsv.WriteOptions(include_header=False, quoting_style="needed")
    for offset in range(0, data.num_rows, _BATCH_ROWS):
        chunk = data.slice(offset, _BATCH_ROWS)
        buffer = io.BytesIO()
        pcsv.write_csv(chunk, buffer, options)
        buffer.seek(0)
        cursor.copy_expert(sql, buffer)
        stats.rows += chunk.num_rows
    return stats

"""What fills the raw layer: an OpenDental source behind one interface.

The raw assets ask a source for the rows of one table in one business-date window, as an Arrow table
whose columns are the catalog's columns of that table, by name. The rest of the graph cannot tell which
source filled ``raw``.

- ``SyntheticSource``: the synthetic practice of ``dental_synthetic``, generated once per process for a
  given configuration (deterministic for a seed and an as-of date) and sliced by window.
- ``MariaDBSource``: a real OpenDental database on MariaDB/MySQL (``OPENDENTAL_URL``), read through
  read-only, UTC, consistent-snapshot sessions (``dental_assets.replication``). Besides ``read_window``
  it offers ``params`` for the replication path, which streams rows straight into PostgreSQL and syncs
  windows incrementally (``dental_assets.replication.sync``).

Windows select rows by the table's business date (``tables.yml``). An unpartitioned table is read whole.
This module imports no Dagster.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from dental_assets.catalog import Table
from dental_assets.partitions import Window


class OpenDentalSource(Protocol):
    """Reads OpenDental tables. ``name`` is the source's label in file names and metadata."""

    name: str

    def read_window(self, table: Table, window: Window | None) -> pa.Table:
        """Rows of ``table`` whose business date falls in ``window`` (all rows when None), with every
        catalog column of the table, named as OpenDental names it."""
        ...


def window_mask(values: pa.ChunkedArray | pa.Array, window: Window) -> pa.ChunkedArray | pa.Array:
    """Boolean mask of the dates or timestamps in ``window``, as ``Window.contains`` decides: a null
    (MySQL zero date) counts as the earliest date."""
    if pa.types.is_timestamp(values.type):
        values = pc.cast(values, pa.date32())
    mask = pc.is_valid(values) if window.lower is None else pc.fill_null(
        pc.greater_equal(values, pa.scalar(window.lower, pa.date32())), False
    )
    if window.lower is None:
        mask = pc.or_(mask, pc.is_null(values))  # every row passes the open lower end
    if window.upper is not None:
        below = pc.fill_null(pc.less(values, pa.scalar(window.upper, pa.date32())), True)
        mask = pc.and_(mask, below)
    return mask


@functools.lru_cache(maxsize=2)
def _synthetic_practice(patients: int, seed: int, as_of: dt.date):
    import dental_synthetic

    return dental_synthetic.generate(
        dental_synthetic.SyntheticConfig(patients=patients, seed=seed, as_of=as_of)
    )


class SyntheticSource:
    """The synthetic practice as an OpenDental source (generated once per process and configuration)."""

    name = "synthetic"

    def __init__(self, patients: int, seed: int, as_of: dt.date):
        self.patients = patients
        self.seed = seed
        self.as_of = as_of

    def read_window(self, table: Table, window: Window | None) -> pa.Table:
        practice = _synthetic_practice(self.patients, self.seed, self.as_of)
        data = practice.tables[table.name].select(table.column_names)
        if window is None or not table.partitioned:
            return data
        return data.filter(window_mask(data.column(table.business_date), window))


class MariaDBSource:
    """An OpenDental database on MariaDB/MySQL. ``url`` is a ``mysql+pymysql://`` URL (from the
    environment only). The raw assets replicate it with ``dental_assets.replication.sync``;
    ``read_window`` returns a window as Arrow (for small reads and tests): ints as int64, doubles as
    float64, strings as string, dates as date32, datetimes/timestamps as timestamp[s] (UTC wall time for
    ``timestamp``), TIME as ``[-]HH:MM:SS`` strings; MySQL zero dates as null. Raises ValueError for a
    URL that is not mysql/mariadb or names no database."""

    name = "opendental"

    def __init__(self, url: str):
        from dental_assets.replication.mysql import MySqlParams

        self.params = MySqlParams.from_url(url)

    def read_window(self, table: Table, window: Window | None) -> pa.Table:
        import pyarrow.csv as pcsv

        from dental_assets.replication import extract
        from dental_assets.replication.mysql import client_error, session_preamble, start_client

        cols = extract.SourceColumns(table.columns)
        sql = extract.csv_select(table, cols, extract.window_where(table, window))
        proc = start_client(self.params, session_preamble() + sql + ";\nCOMMIT;\n")
        data = proc.stdout.read()
        error = client_error(proc)
        if error is not None:
            raise error
        types = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "date": pa.date32(),
                 "datetime": pa.timestamp("s"), "timestamp": pa.timestamp("s"), "time": pa.string()}
        schema = pa.schema([pa.field(c.name, types[c.kind]) for c in table.columns])
        if not data:
            return schema.empty_table()
        options = pcsv.ConvertOptions(
            column_types=schema, strings_can_be_null=False, quoted_strings_can_be_null=False,
            null_values=[""],
        )
        read = pcsv.ReadOptions(column_names=table.column_names)
        parse = pcsv.ParseOptions(newlines_in_values=True)
        return pcsv.read_csv(pa.BufferReader(data), read_options=read, parse_options=parse,
                             convert_options=options).select(table.column_names)

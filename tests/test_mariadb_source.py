"""``MariaDBSource.read_window``: a window of an OpenDental table on MariaDB as Arrow, compared with the
practice the generator wrote there (its own Arrow tables, windowed the way ``SyntheticSource`` does),
value by value, with the conversions its docstring promises: a MySQL zero date read as null, TIME
columns (negative and over 24 hours included) as ``[-]HH:MM:SS``, an empty window as an empty table
of the catalog's schema."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from dental_assets.catalog import raw_table
from dental_assets.partitions import Window
from dental_assets.sources import MariaDBSource, window_mask
from dental_synthetic import SyntheticConfig, generate
from dental_synthetic.mariadb_writer import mark_mariadb_demo_target, write_mariadb
from test_replication_support import source_sql

TABLES = ("procedurelog", "appointment", "patient", "schedule", "clockevent", "claimproc")
HALF_YEAR = Window(dt.date(2025, 1, 1), dt.date(2025, 7, 1))


@pytest.fixture(scope="module")
def practice():
    return generate(SyntheticConfig(as_of=dt.date(2025, 6, 30), patients=40, seed=7))


@pytest.fixture(scope="module")
def source(mariadb_module_url, practice):
    mark_mariadb_demo_target(mariadb_module_url)
    write_mariadb(practice, mariadb_module_url)
    return MariaDBSource(mariadb_module_url)


def _expected(practice, name: str, window: Window | None) -> list[dict]:
    table = raw_table(name)
    data = practice.tables[name].select(table.column_names)
    if window is not None and table.partitioned:
        data = data.filter(window_mask(data.column(table.business_date), window))
    return sorted(data.to_pylist(), key=lambda row: row[table.primary_key])


def _read(source, name: str, window: Window | None) -> list[dict]:
    table = raw_table(name)
    data = source.read_window(table, window)
    assert data.column_names == table.column_names
    return sorted(data.to_pylist(), key=lambda row: row[table.primary_key])


def _comparable(value):
    """The generator's value as read_window returns it: TIME as text, datetimes without a zone."""
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
        return f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


@pytest.mark.parametrize("name", TABLES)
@pytest.mark.parametrize("window", [None, HALF_YEAR], ids=["whole", "2025_h1"])
def test_a_window_reads_back_what_the_generator_wrote(source, practice, name, window):
    expected = [{k: _comparable(v) for k, v in row.items()} for row in _expected(practice, name, window)]
    got = _read(source, name, window)
    assert len(got) == len(expected) > 0, (name, len(got), len(expected))
    for want, row in zip(expected, got):
        assert row == want, name


def test_zero_dates_read_as_null_and_times_as_text(practice, mariadb_url):
    """A procedure's ProcDate set to MySQL's zero date comes back null (whole-table read); ProcTime
    -01:30:00 and 27:05:09 (TIME's range is +-838 hours) as that text."""
    table = raw_table("procedurelog")
    mark_mariadb_demo_target(mariadb_url)
    write_mariadb(practice, mariadb_url)
    source = MariaDBSource(mariadb_url)
    source_sql(mariadb_url,
               "SET SESSION sql_mode = ''",
               "UPDATE procedurelog SET ProcDate = '0000-00-00', ProcTime = '-01:30:00' ORDER BY ProcNum LIMIT 1",
               "UPDATE procedurelog SET ProcTime = '27:05:09' ORDER BY ProcNum DESC LIMIT 1")
    rows = _read(source, "procedurelog", None)
    first, last = rows[0], rows[-1]
    assert first["ProcDate"] is None and first["ProcTime"] == "-01:30:00"
    assert last["ProcTime"] == "27:05:09"
    assert source.read_window(table, None).schema.field("ProcDate").type == pa.date32()


def test_an_empty_window_is_an_empty_table_of_the_catalogs_schema(source):
    table = raw_table("procedurelog")
    data = source.read_window(table, Window(dt.date(1990, 1, 1), dt.date(1990, 2, 1)))
    assert data.num_rows == 0 and data.column_names == table.column_names
    assert data.schema.field("ProcFee").type == pa.float64()
    assert data.schema.field("DateTStamp").type == pa.timestamp("s")

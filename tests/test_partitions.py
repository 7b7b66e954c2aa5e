"""Pure functions of the partitions module: windows, dbt vars, run tags."""

import datetime as dt

import pyarrow as pa
import pytest

from dental_assets.partitions import (
    Window,
    dbt_window_vars,
    month_window,
    monthly_partitions,
    partition_range_tags,
    yearly_partitions,
)
from dental_assets.sources import window_mask

KEYS = ["2024-01", "2024-02", "2024-03", "2024-04"]


def test_inner_month_is_half_open():
    assert month_window("2024-02", "2024-02", KEYS) == Window(dt.date(2024, 2, 1), dt.date(2024, 3, 1))


def test_range_spans_months():
    assert month_window("2024-02", "2024-03", KEYS) == Window(dt.date(2024, 2, 1), dt.date(2024, 4, 1))


def test_first_partition_is_open_below_and_last_open_above():
    assert month_window("2024-01", "2024-01", KEYS) == Window(None, dt.date(2024, 2, 1))
    assert month_window("2024-04", "2024-04", KEYS) == Window(dt.date(2024, 4, 1), None)
    assert month_window("2024-01", "2024-04", KEYS) == Window(None, None)


def test_december_rolls_into_next_year():
    keys = ["2023-11", "2023-12", "2024-01"]
    assert month_window("2023-12", "2023-12", keys) == Window(dt.date(2023, 12, 1), dt.date(2024, 1, 1))


def test_bad_ranges_raise():
    with pytest.raises(ValueError):
        month_window("2024-03", "2024-02", KEYS)
    with pytest.raises(ValueError):
        month_window("2019-01", "2024-02", KEYS)


def test_every_date_falls_in_exactly_one_partition():
    windows = [month_window(k, k, KEYS) for k in KEYS]
    days = [None, dt.date(1, 1, 1), dt.date(2023, 12, 31), dt.date(2024, 1, 1), dt.date(2024, 2, 29),
            dt.date(2024, 3, 31), dt.date(2024, 4, 1), dt.date(2031, 5, 5)]
    for day in days:
        assert sum(w.contains(day) for w in windows) == 1, day


def test_sql_predicate_matches_contains():
    assert Window(None, None).sql_predicate('"D"') == "TRUE"
    assert Window(None, dt.date(2024, 2, 1)).sql_predicate('"D"') == "(\"D\" < '2024-02-01' OR \"D\" IS NULL)"
    assert Window(dt.date(2024, 1, 1), dt.date(2024, 2, 1)).sql_predicate('"D"') == (
        "\"D\" >= '2024-01-01' AND \"D\" < '2024-02-01'"
    )


def test_arrow_mask_agrees_with_contains():
    values = [dt.date(1, 1, 1), None, dt.date(2024, 1, 15), dt.date(2024, 2, 1), dt.date(2030, 1, 1)]
    array = pa.array(values, pa.date32())
    stamps = pa.array([None if v is None else dt.datetime(v.year, v.month, v.day, 13) for v in values],
                      pa.timestamp("s"))
    for window in (Window(None, dt.date(2024, 2, 1)), Window(dt.date(2024, 1, 1), dt.date(2024, 2, 1)),
                   Window(dt.date(2024, 2, 1), None), Window(None, None)):
        expected = [window.contains(v) for v in values]
        assert window_mask(array, window).to_pylist() == expected
        assert window_mask(stamps, window).to_pylist() == expected


def test_dbt_vars_close_open_ends():
    assert dbt_window_vars(Window(None, None)) == {"min_date": "0001-01-01", "max_date": "9999-12-31"}
    assert dbt_window_vars(Window(dt.date(2024, 2, 1), dt.date(2024, 3, 1))) == {
        "min_date": "2024-02-01",
        "max_date": "2024-03-01",
    }


def test_partition_definitions_and_tags():
    months = monthly_partitions.get_partition_keys()
    assert months[0] == "2020-01" and all(len(k) == 7 for k in months)
    assert dt.datetime.now(dt.timezone.utc).strftime("%Y-%m") == months[-1]  # current month included
    assert yearly_partitions.get_partition_keys()[-1] == str(dt.datetime.now(dt.timezone.utc).year)
    assert partition_range_tags("2024-01", "2024-03") == {
        "dagster/asset_partition_range_start": "2024-01",
        "dagster/asset_partition_range_end": "2024-03",
    }


def test_month_keys_are_dagsters_partition_keys():
    """``partitions.month_keys`` (no Dagster import) lists the keys ``monthly_partitions`` gives at the
    same time, around month and year boundaries, with and without a time zone."""
    from dental_assets.partitions import PARTITION_START, month_keys, monthly_partitions

    utc = dt.timezone.utc
    start = dt.datetime.strptime(PARTITION_START, "%Y-%m").replace(tzinfo=utc)
    east, west = dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-5))
    times = [start, start + dt.timedelta(days=40), dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=utc),
             dt.datetime(2026, 12, 1, tzinfo=utc), dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=utc),
             dt.datetime(2027, 1, 1, tzinfo=utc), dt.datetime(2027, 1, 1, 0, 30, tzinfo=east),
             dt.datetime(2026, 12, 31, 23, 0, tzinfo=west), dt.datetime(2026, 12, 1, 0, 30)]
    for now in times:
        assert month_keys(now) == monthly_partitions.get_partition_keys(current_time=now), now
    assert month_keys(dt.datetime(2027, 1, 1, tzinfo=utc))[-1] == "2027-01"

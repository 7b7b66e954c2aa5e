"""The partitions of the asset graph, defined once.

- ``monthly_partitions``: transactional raw tables (by their business date, see ``tables.yml``) and the
  incremental dbt facts. Keys are ``YYYY-MM``; the first month is ``DENTAL_PARTITION_START``
  (default ``2020-01``) and the current month is included (``end_offset=1``).
- ``yearly_partitions``: the treatment-journey dataset. Keys are ``YYYY``.
- Reference tables and rebuilt models are unpartitioned.

A partition's row window is half-open, ``[lower, upper)`` on the business date, with two open ends.
The first partition also holds every earlier date, which includes OpenDental's ``0001-01-01`` "no date"
and NULL (a MySQL zero date). The last partition also holds every later date, such as appointments
booked months ahead. So every row of a table belongs to exactly one partition.

The two Dagster partitions definitions are built when first used (``__getattr__``), so that the
window helpers (``Window``, ``month_window``, ``month_keys``) import without Dagster: ``dental sync``
without ``DAGSTER_HOME`` never imports Dagster (~1.5 s of its start-up, ``replication.direct``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass

from typing import TYPE_CHECKING

from dental_assets import settings

if TYPE_CHECKING:
    import dagster as dg

    monthly_partitions: dg.MonthlyPartitionsDefinition
    yearly_partitions: dg.TimeWindowPartitionsDefinition

PARTITION_START = settings.partition_start()
MONTH_FMT = "%Y-%m"
YEAR_FMT = "%Y"


def _definitions() -> dict[str, object]:
    import dagster as dg

    return {
        "monthly_partitions": dg.MonthlyPartitionsDefinition(start_date=PARTITION_START, fmt=MONTH_FMT, end_offset=1),
        "yearly_partitions": dg.TimeWindowPartitionsDefinition(cron_schedule="0 0 1 1 *", fmt=YEAR_FMT,
                                                               start=PARTITION_START[:4], end_offset=1),
    }


def __getattr__(name: str):
    """``monthly_partitions`` and ``yearly_partitions``, built (importing Dagster) on first use."""
    if name in ("monthly_partitions", "yearly_partitions"):
        globals().update(_definitions())
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def month_keys(now: dt.datetime | None = None) -> list[str]:
    """The keys of ``monthly_partitions`` at ``now`` (default: the current time; a naive time is UTC),
    without Dagster: ``YYYY-MM`` from ``PARTITION_START`` through ``now``'s month in UTC, the current
    month included (``end_offset=1``). Equal to ``monthly_partitions.get_partition_keys(now)`` for
    every time from ``PARTITION_START`` on (``settings.parse_month`` refuses a later start). Pure when
    ``now`` is given."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is not None:
        now = now.astimezone(dt.timezone.utc)
    month, last = _month_start(PARTITION_START), dt.date(now.year, now.month, 1)
    keys = []
    while month <= last:
        keys.append(month.strftime(MONTH_FMT))
        month = _next_month(month)
    return keys


@dataclass(frozen=True)
class Window:
    """A half-open date window ``[lower, upper)``; ``None`` is an open end."""

    lower: dt.date | None
    upper: dt.date | None

    def contains(self, day: dt.date | None) -> bool:
        """Whether a business date falls in the window (None, a MySQL zero date, counts as earliest)."""
        if day is None:
            return self.lower is None
        if self.lower is not None and day < self.lower:
            return False
        return self.upper is None or day < self.upper

    def sql_predicate(self, quoted_column: str) -> str:
        """A PostgreSQL/MySQL predicate selecting the window's rows (dates rendered as literals)."""
        parts = []
        if self.lower is not None:
            parts.append(f"{quoted_column} >= '{self.lower.isoformat()}'")
        if self.upper is not None:
            parts.append(f"{quoted_column} < '{self.upper.isoformat()}'")
        if not parts:
            return "TRUE"
        predicate = " AND ".join(parts)
        if self.lower is None:
            predicate = f"({predicate} OR {quoted_column} IS NULL)"
        return predicate


def _month_start(key: str) -> dt.date:
    return dt.datetime.strptime(key, MONTH_FMT).date()


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def month_window(first_key: str, last_key: str, all_keys: list[str]) -> Window:
    """The row window of the monthly partitions ``first_key..last_key`` (inclusive).

    ``all_keys`` are the partitions that exist now, in order: the window is open below when
    ``first_key`` is the first of them and open above when ``last_key`` is the last. Raises ValueError
    when a key is not one of ``all_keys`` or the range is reversed.
    """
    if first_key not in all_keys or last_key not in all_keys:
        raise ValueError(f"partition range {first_key}..{last_key} is not within the defined months")
    if all_keys.index(first_key) > all_keys.index(last_key):
        raise ValueError(f"partition range {first_key}..{last_key} is reversed")
    lower = None if first_key == all_keys[0] else _month_start(first_key)
    upper = None if last_key == all_keys[-1] else _next_month(_month_start(last_key))
    return Window(lower, upper)


def dbt_window_vars(window: Window) -> dict[str, str]:
    """``min_date``/``max_date`` vars for dbt incremental models: ISO dates, ``max_date`` exclusive.

    Open ends become ``0001-01-01`` and ``9999-12-31`` so that models can compare without NULL checks.
    """
    return {
        "min_date": (window.lower or dt.date(1, 1, 1)).isoformat(),
        "max_date": (window.upper or dt.date(9999, 12, 31)).isoformat(),
    }


def partition_range_tags(first_key: str, last_key: str) -> dict[str, str]:
    """Run tags that make one run cover a range of partitions (assets with a single-run backfill policy)."""
    return {
        "dagster/asset_partition_range_start": first_key,
        "dagster/asset_partition_range_end": last_key,
    }


# Dagster's switch for one "planned" event per asset of a partition-range run (the range as a subset)
# instead of one per asset and partition. A range over every month (the demo's two runs, the first
# `dental sync`, a full refresh) writes about 2,000 planned events otherwise, each a separate write to
# the instance's storage before the run starts (with SQLite storage on a busy machine, 1,680 of them
# took 4 minutes). The materializations are unchanged (one per asset and partition). What changes, for
# the runs launched inside `planned_events_per_range` only: if a range run fails, Dagster does not mark
# its months as failed (they show as missing); the run itself shows as failed.
PLANNED_SUBSET_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


@contextlib.contextmanager
def planned_events_per_range() -> Iterator[None]:
    """Set ``PLANNED_SUBSET_ENV`` for the runs launched inside (in this process), then restore it."""
    saved = os.environ.get(PLANNED_SUBSET_ENV)
    os.environ[PLANNED_SUBSET_ENV] = "true"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(PLANNED_SUBSET_ENV, None)
        else:
            os.environ[PLANNED_SUBSET_ENV] = saved

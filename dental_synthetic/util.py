"""Vectorized helpers: day numbers, timestamps, money in cents, grouping and key assignment.

Dates are ``int64`` day numbers (days since 1970-01-01), datetimes ``int64`` seconds since
1970-01-01 00:00:00 (naive practice-local time), money ``int64`` cents. OpenDental's "no date"
0001-01-01 is ``ZERO_DAY`` / ``ZERO_TS``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

EPOCH = dt.date(1970, 1, 1)
ZERO_DAY = (dt.date(1, 1, 1) - EPOCH).days  # -719162
DAY = 86_400  # seconds
ZERO_TS = ZERO_DAY * DAY
OPEN_MINUTE = 8 * 60  # the clinics open at 08:00
CLOSE_MINUTE = 17 * 60  # and close at 17:00
OFFICE_SECONDS = (OPEN_MINUTE * 60, CLOSE_MINUTE * 60)  # those hours as seconds of the day, [open, close)
SETUP_SECOND = 9 * 3600  # the practice's set-up rows and lists are entered at 09:00 of its opening day


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01."""
    return (day - EPOCH).days


def to_date(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 ... Sunday = 6 (1970-01-01 was a Thursday)."""
    return (np.asarray(days) + 3) % 7


def business_day(days: np.ndarray) -> np.ndarray:
    """Move Saturdays and Sundays forward to the next Monday."""
    days = np.asarray(days, dtype=np.int64)
    wd = weekday(days)
    return days + np.where(wd == 5, 2, np.where(wd == 6, 1, 0))


WEEKEND_TO_WEEK_BEFORE = 0.5  # share of weekend dates weekday_near moves to the week before (the rest: after)


def weekday_near(rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
    """Move Saturdays and Sundays to a random weekday of the week before or after (for dates drawn at
    random, so that weekdays stay evenly used); weekdays are kept."""
    days = np.asarray(days, dtype=np.int64)
    wd = weekday(days)
    monday = days - wd + np.where(rng.random(len(days)) < WEEKEND_TO_WEEK_BEFORE, 0, 7)
    return np.where(wd >= 5, monday + rng.integers(0, 5, size=len(days)), days)


def add_months(days: np.ndarray, months: np.ndarray | int) -> np.ndarray:
    """Calendar month arithmetic: the same day of month ``months`` later, clamped to the month's end."""
    d64 = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    month = d64.astype("datetime64[M]")
    day_of_month = (d64 - month.astype("datetime64[D]")).astype(np.int64)
    target = month + np.asarray(months, dtype=np.int64)
    first = target.astype("datetime64[D]")
    length = ((target + 1).astype("datetime64[D]") - first).astype(np.int64)
    return (first + np.minimum(day_of_month, length - 1)).astype(np.int64)


def year_of(days: np.ndarray) -> np.ndarray:
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def ts(days: np.ndarray, seconds: np.ndarray | int = 0) -> np.ndarray:
    """Datetime (seconds since epoch) from a day number and seconds into the day."""
    return np.asarray(days, dtype=np.int64) * DAY + np.asarray(seconds, dtype=np.int64)


def pct_of(cents: np.ndarray, percent: np.ndarray) -> np.ndarray:
    """``cents * percent / 100`` rounded half up, for non-negative amounts."""
    return (np.asarray(cents, dtype=np.int64) * np.asarray(percent, dtype=np.int64) + 50) // 100


def dollars(cents: np.ndarray) -> np.ndarray:
    """Integer cents -> float dollars (the nearest double to the exact amount)."""
    return np.asarray(cents, dtype=np.int64) / 100.0


def group_bounds(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For keys sorted so equal keys are adjacent: (start index of each row's group, group id per row)."""
    keys = np.asarray(sorted_keys)
    n = len(keys)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    new = np.ones(n, dtype=bool)
    new[1:] = keys[1:] != keys[:-1]
    gid = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    return starts[gid], gid


def group_firsts(sorted_keys: np.ndarray) -> np.ndarray:
    """Index of the first row of each run of equal (adjacent) keys."""
    keys = np.asarray(sorted_keys)
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.ones(len(keys), dtype=bool)
    new[1:] = keys[1:] != keys[:-1]
    return np.flatnonzero(new)


def dense_codes(values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """For non-negative ints below ``size``: (sorted distinct values, index of each value among them)."""
    values = np.asarray(values, dtype=np.int64)
    present = np.zeros(size, dtype=bool)
    present[values] = True
    position = np.cumsum(present) - 1
    return np.flatnonzero(present), position[values]


def group_by_patient_day(rows: np.ndarray, pat: np.ndarray, day: np.ndarray, start: int) -> tuple[
        np.ndarray, np.ndarray, int, np.ndarray]:
    """Row indexes ``rows`` (into ``pat`` and ``day``, day numbers from about ``start``) grouped by patient
    and day: (the rows sorted by patient, day and index; the group of each, from 0; the number of groups;
    each group's first position)."""
    rows = rows[key_order(pat[rows], day[rows], rows)]
    _, group = group_bounds(pat[rows] * 100_000 + (day[rows] - start + 50_000))
    return rows, group, int(group[-1]) + 1 if len(group) else 0, group_firsts(group)


def rank_within(sorted_keys: np.ndarray) -> np.ndarray:
    """0-based position of each row within its run of equal (adjacent) keys."""
    start, _ = group_bounds(sorted_keys)
    return np.arange(len(start)) - start


def cumsum_before(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Sum of ``values`` of the earlier rows of the same group (exclusive cumulative sum)."""
    values = np.asarray(values, dtype=np.int64)
    if len(values) == 0:
        return values.copy()
    start, _ = group_bounds(sorted_keys)
    total = np.cumsum(values) - values
    return total - total[start]


def at(values: np.ndarray, rows: np.ndarray, default) -> np.ndarray:
    """``values[rows]`` where a row was found (>= 0), ``default`` where it was not (-1): an orphan's or
    an unmatched row's side of a join, also when ``values`` is empty. Keeps ``values``' dtype."""
    out = np.full(len(rows), default, dtype=values.dtype)
    found = rows >= 0
    out[found] = values[rows[found]]
    return out


def lookup(keys: np.ndarray, values: np.ndarray, targets: np.ndarray, missing) -> np.ndarray:
    """For each of ``targets``, the value of ``values`` at the same position as it in ``keys`` (unique
    keys), ``missing`` when it is not one of them."""
    if len(keys) == 0:
        return np.full(len(targets), missing)
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    pos = np.clip(np.searchsorted(sk, targets), 0, len(sk) - 1)
    return np.where(sk[pos] == targets, values[order][pos], missing)


def group_sum(group: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Exact integer sums of ``values`` per group id ``0..n_groups-1``."""
    out = np.zeros(n_groups, dtype=np.int64)
    np.add.at(out, np.asarray(group, dtype=np.int64), np.asarray(values, dtype=np.int64))
    return out


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeat index ``i`` ``counts[i]`` times: (owner index per row, 0-based position within owner)."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    first = np.cumsum(counts) - counts
    return owner, np.arange(len(owner)) - first[owner]


def key_order(*keys: np.ndarray) -> np.ndarray:
    """Stable lexicographic order by ``keys`` (first key most significant)."""
    if not keys or len(keys[0]) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.lexsort(tuple(reversed(keys)))


def primary_keys(order: np.ndarray) -> np.ndarray:
    """Given the order rows should be numbered in, the 1..n key of each row (by original position)."""
    nums = np.empty(len(order), dtype=np.int64)
    nums[order] = np.arange(1, len(order) + 1)
    return nums


def choice_index(rng: np.random.Generator, weights, size: int) -> np.ndarray:
    """Indices drawn with the given (unnormalised) weights."""
    w = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(w), size=size, p=w / w.sum())

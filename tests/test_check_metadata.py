"""The raw check's metadata carries counts, keys and verdicts, never a value of a patient's row.

Over a window of one row, the fingerprint's business-date sum is that row's date of service, its
modified sum the row's edit time, and its content sum an unsalted hash of its values, against which a
guess of one field (an SSN) could be tested. ``check_metadata`` keeps the counts and the key sum and says
only whether each value-derived sum agrees."""

import datetime as dt

from dental_assets.defs.raw.assets import check_metadata

# one row on each side: key 41, its date of service 2026-03-04 as MariaDB's TO_DAYS, its edit time in
# seconds since 1970, a 60-bit content hash
DAYS = (dt.date(2026, 3, 4) - dt.date(1, 1, 1)).days + 366
EDITED = int(dt.datetime(2026, 3, 5, 9, 30, tzinfo=dt.timezone.utc).timestamp())
CONTENT = 0x0ABC_DEF0_1234_5678
ONE_ROW = (1, 41, 1, CONTENT, EDITED, DAYS)


def _values(meta) -> list[str]:
    return [str(getattr(v, "value", v)) for v in meta.values()]


def test_no_value_derived_sum_reaches_the_metadata():
    meta = check_metadata(ONE_ROW, ONE_ROW)
    shown = _values(meta)
    for secret in (DAYS, EDITED, CONTENT):
        assert not any(str(secret) in value for value in shown), secret
    assert meta["source_rows"].value == meta["raw_rows"].value == 1
    assert meta["source_key_sum"].value == "41" and meta["raw_rows_hashed"].value == 1
    assert meta["content_equal"] is True and meta["modified_equal"] is True and meta["business_dates_equal"] is True


def test_each_sum_that_differs_is_named():
    for position, name in ((3, "content_equal"), (4, "modified_equal"), (5, "business_dates_equal")):
        raw = list(ONE_ROW)
        raw[position] += 1
        meta = check_metadata(ONE_ROW, tuple(raw))
        assert meta[name] is False
        assert [n for n in ("content_equal", "modified_equal", "business_dates_equal") if meta[n] is False] == [name]

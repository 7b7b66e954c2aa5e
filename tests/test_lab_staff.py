"""The lab and staff stage (dental_synthetic/lab_staff.py): keys, foreign keys, OpenDental's codes, dates
within the simulated span, the rules the stage simulates, and determinism."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from dental_synthetic import SyntheticConfig, generate, lab_staff
from dental_synthetic.extras import _c as column_values
from dental_synthetic.practice import enum_codes
from dental_synthetic.util import DAY, ZERO_TS, day_number

AS_OF = dt.date(2025, 6, 30)
CONFIG = SyntheticConfig(as_of=AS_OF, patients=1000, seed=11)
LAST_TS = day_number(AS_OF) * DAY + 19 * 3600


@pytest.fixture(scope="module")
def practice():
    return generate(CONFIG)


def col(practice, table, name):
    """A column as numpy: dates as day numbers, timestamps as epoch seconds."""
    return column_values(practice.tables[table], name)


def seconds(text):
    out = []
    for t in text:
        sign = -1 if t.startswith("-") else 1
        h, m, s = (int(x) for x in t.lstrip("-").split(":"))
        out.append(sign * (h * 3600 + m * 60 + s))
    return np.array(out, dtype=np.int64)


def test_every_table_has_rows_and_unique_keys(practice):
    for table, key in (("laboratory", "LaboratoryNum"), ("labcase", "LabCaseNum"), ("employee", "EmployeeNum"),
                       ("clockevent", "ClockEventNum"), ("timeadjust", "TimeAdjustNum"),
                       ("usergroup", "UserGroupNum"), ("usergroupattach", "UserGroupAttachNum"),
                       ("apptview", "ApptViewNum"), ("userodapptview", "UserodApptViewNum"),
                       ("userodpref", "UserOdPrefNum")):
        keys = col(practice, table, key)
        assert len(keys) > 0, table
        assert list(keys) == list(range(1, len(keys) + 1)), table


def test_lab_cases_sit_on_lab_procedures_appointments(practice):
    apt = dict(zip(col(practice, "appointment", "AptNum").tolist(), zip(
        col(practice, "appointment", "PatNum").tolist(), col(practice, "appointment", "AptStatus").tolist(),
        (col(practice, "appointment", "AptDateTime") // DAY).tolist())))
    codes = dict(zip(col(practice, "procedurecode", "CodeNum").tolist(),
                     col(practice, "procedurecode", "ProcCode").tolist()))
    lab_apts = {a for a, c in zip(col(practice, "procedurelog", "AptNum").tolist(),
                                  col(practice, "procedurelog", "CodeNum").tolist())
                if codes[c].startswith(lab_staff.LAB_CODE_PREFIXES)}
    status = enum_codes("ApptStatus")
    apts = col(practice, "labcase", "AptNum")
    assert len(set(apts.tolist())) == len(apts)  # one case per appointment, as OpenDental allows
    for a, p, lab, sent, due, recd, checked in zip(
            apts.tolist(), col(practice, "labcase", "PatNum").tolist(), col(practice, "labcase", "LaboratoryNum"),
            col(practice, "labcase", "DateTimeSent").tolist(), col(practice, "labcase", "DateTimeDue").tolist(),
            col(practice, "labcase", "DateTimeRecd").tolist(), col(practice, "labcase", "DateTimeChecked").tolist()):
        assert a in lab_apts and apt[a][0] == p and apt[a][1] in (status["Complete"], status["Scheduled"])
        assert 1 <= lab <= len(lab_staff.LABS)
        seat = apt[a][2]
        assert day_number(CONFIG.start) * DAY <= sent <= LAST_TS
        # due 10 working days after the sent day, at 17:00
        assert np.busday_count(np.datetime64(sent // DAY, "D"), np.datetime64(due // DAY, "D")) == \
            lab_staff.TURNAROUND_WORKING_DAYS and due % DAY == 17 * 3600
        assert due // DAY < seat
        if recd != ZERO_TS:
            assert sent < recd <= LAST_TS and recd // DAY <= seat
        if checked != ZERO_TS:
            assert recd != ZERO_TS and recd < checked <= LAST_TS
            assert checked // DAY <= seat
        if apt[a][1] == status["Complete"]:  # a seated case came back and was checked before the visit
            assert recd != ZERO_TS and checked != ZERO_TS
    fees = col(practice, "labcase", "LabFee")
    assert fees.min() > 100 and fees.max() < 700


def test_lab_cases_late_share_and_cases_still_out(practice):
    sent = col(practice, "labcase", "DateTimeSent")
    due = col(practice, "labcase", "DateTimeDue") // DAY
    recd = col(practice, "labcase", "DateTimeRecd")
    got = recd != ZERO_TS
    late = got & (recd // DAY > due)
    assert 0.05 < late.sum() / got.sum() < 0.3
    assert (~got).sum() > 0  # some cases are out at as_of: sent in the last weeks
    assert (sent[~got] // DAY >= day_number(AS_OF) - 30).all()


def test_employees_users_and_groups(practice):
    emp = col(practice, "employee", "EmployeeNum")
    user_emp = col(practice, "userod", "EmployeeNum")
    linked = user_emp[user_emp > 0]
    assert sorted(linked.tolist()) == emp.tolist()  # every employee has exactly one user
    # hygienist employees are their provider: same name as the provider of their user
    prov = dict(zip(col(practice, "provider", "ProvNum").tolist(), col(practice, "provider", "LName").tolist()))
    lname = dict(zip(emp.tolist(), col(practice, "employee", "LName").tolist()))
    for e, p in zip(user_emp.tolist(), col(practice, "userod", "ProvNum").tolist()):
        if e and p:
            assert lname[e] == prov[p]
    users = set(col(practice, "userod", "UserNum").tolist())
    attached = col(practice, "usergroupattach", "UserNum")
    assert set(attached.tolist()) == users
    assert set(col(practice, "usergroupattach", "UserGroupNum").tolist()) <= set(
        col(practice, "usergroup", "UserGroupNum").tolist())
    assert set(col(practice, "userod", "UserGroupNum").tolist()) <= set(col(practice, "usergroup", "UserGroupNum"))
    assert set(col(practice, "userodapptview", "UserNum").tolist()) == users
    assert set(col(practice, "userodapptview", "ApptViewNum").tolist()) <= set(col(practice, "apptview", "ApptViewNum"))
    assert set(col(practice, "userodpref", "UserNum").tolist()) <= users
    defs = col(practice, "definition", "DefNum")
    assert list(defs) == list(range(1, len(defs) + 1))


def test_clock_events_follow_opendental(practice):
    status = col(practice, "clockevent", "ClockStatus")
    assert set(status.tolist()) == {0, 1, 2}
    t1 = col(practice, "clockevent", "TimeDisplayed1")
    t2 = col(practice, "clockevent", "TimeDisplayed2")
    e1 = col(practice, "clockevent", "TimeEntered1")
    emp = col(practice, "clockevent", "EmployeeNum")
    assert (t2 > t1).all() and (t1 // DAY == t2 // DAY).all() and (e1 >= t1).all() and (t2 <= LAST_TS).all()
    assert ((t1 // DAY + 3) % 7 < 5).all()  # weekdays only
    assert (t1 // DAY >= day_number(CONFIG.start)).all()
    # each break sits inside the employee's Home row of the same day; at most one Lunch row a day
    home = status == 0
    key = emp * 100_000 + t1 // DAY
    home_of = dict(zip(key[home].tolist(), zip(t1[home].tolist(), t2[home].tolist())))
    for k, a, b in zip(key[status == 2].tolist(), t1[status == 2].tolist(), t2[status == 2].tolist()):
        assert home_of[k][0] < a < b < home_of[k][1] and b - a < 30 * 60
    _, lunches = np.unique(key[status == 1], return_counts=True)
    assert lunches.max() == 1
    assert set(practice.tables["clockevent"].column("OTimeHours").to_pylist()) == {lab_staff.NO_OVERRIDE}
    # hygienists clock in on their provider's scheduled days only
    sched = set(zip(col(practice, "schedule", "ProvNum").tolist(), col(practice, "schedule", "SchedDate").tolist()))
    prov_of = dict(zip(col(practice, "userod", "EmployeeNum").tolist(), col(practice, "userod", "ProvNum").tolist()))
    for e, d in zip(emp.tolist(), (t1 // DAY).tolist()):
        if prov_of.get(e):
            assert (prov_of[e], d) in sched


def _week_first(day: int, first_day: int) -> int:
    """The first day (day number) of the OpenDental time card week holding ``day``, weeks starting on .NET
    DayOfWeek ``first_day`` (Sunday 0), computed with Python's calendar (date.weekday(): Monday 0)."""
    date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    return day - (date.weekday() + 1 - first_day) % 7


def expected_overtime(practice, first_day: int) -> tuple[dict, dict]:
    """OpenDental's TimeCardRules.CalculateWeeklyOvertime on the generated time cards, recomputed here:
    per (employee, first day of the week) with weeks from ``first_day``, the paid seconds (work rows, not
    breaks, and manual RegHours) and the day of the week's last row (clock rows by TimeDisplayed1, manual
    and PTO adjustments by TimeEntry). Returns ({(emp, week): (overtime, TimeEntry)} for the weeks that
    ended before as_of with more than 40 hours, {(emp, week): set of years of its rows})."""
    as_of = day_number(practice.config.as_of)
    week, last, years = {}, {}, {}

    def add(emp, moment, seconds):
        day = moment // DAY
        key = (emp, _week_first(day, first_day))
        week[key] = week.get(key, 0) + seconds
        last[key] = max(last.get(key, day), day)
        years.setdefault(key, set()).add((dt.date(1970, 1, 1) + dt.timedelta(days=day)).year)

    for e, a, b, s in zip(col(practice, "clockevent", "EmployeeNum").tolist(),
                          col(practice, "clockevent", "TimeDisplayed1").tolist(),
                          col(practice, "clockevent", "TimeDisplayed2").tolist(),
                          col(practice, "clockevent", "ClockStatus").tolist()):
        if s != 2:
            add(e, a, b - a)
    ta = practice.tables["timeadjust"]
    for e, t, r, is_auto in zip(col(practice, "timeadjust", "EmployeeNum").tolist(),
                                col(practice, "timeadjust", "TimeEntry").tolist(),
                                seconds(ta.column("RegHours").to_pylist()).tolist(),
                                col(practice, "timeadjust", "IsAuto").tolist()):
        if not is_auto:
            add(e, t, r)
    ot = {k: (v - 40 * 3600, last[k] * DAY + 20 * 3600) for k, v in week.items()
          if v > 40 * 3600 and k[1] + 6 < as_of}
    return ot, years


def auto_overtime(practice, first_day: int) -> dict:
    """The generated IsAuto timeadjust rows: {(emp, week of TimeEntry): (OTimeHours, TimeEntry)}."""
    ta = practice.tables["timeadjust"]
    return {(e, _week_first(t // DAY, first_day)): (o, t) for e, t, o, a in zip(
        col(practice, "timeadjust", "EmployeeNum").tolist(), col(practice, "timeadjust", "TimeEntry").tolist(),
        seconds(ta.column("OTimeHours").to_pylist()).tolist(), col(practice, "timeadjust", "IsAuto").tolist()) if a}


def test_time_adjustments_pto_and_weekly_overtime(practice):
    ta = practice.tables["timeadjust"]
    reg = seconds(ta.column("RegHours").to_pylist())
    ot = seconds(ta.column("OTimeHours").to_pylist())
    pto = seconds(ta.column("PtoHours").to_pylist())
    auto = col(practice, "timeadjust", "IsAuto") == 1
    entry = col(practice, "timeadjust", "TimeEntry")
    pto_def = col(practice, "timeadjust", "PtoDefNum")
    assert (entry <= LAST_TS).all()
    assert (reg[auto] == -ot[auto]).all() and (ot[auto] > 0).all()
    cat = dict(zip(col(practice, "definition", "DefNum").tolist(), col(practice, "definition", "Category").tolist()))
    assert {cat[d] for d in pto_def[pto > 0].tolist()} == {enum_codes("DefCat")["TimeCardAdjTypes"]}
    # the practice stores OpenDental's default first day of the time card week, Sunday (0)
    prefs = dict(zip(practice.tables["preference"].column("PrefName").to_pylist(),
                     practice.tables["preference"].column("ValueString").to_pylist()))
    assert prefs["TimeCardOvertimeFirstDayOfWeek"] == "0"
    # an automatic overtime row for exactly the ended Sunday-Saturday weeks whose paid time went over 40
    # hours, dated on the week's last row's day at 20:00 (TimeCardRules.CalculateWeeklyOvertime)
    expected, years = expected_overtime(practice, 0)
    assert auto_overtime(practice, 0) == expected and expected
    # weeks run across New Year unsplit (GetWeekOfYear with FirstFullWeek): some week holds rows of two years
    assert any(len(y) == 2 for y in years.values())


def test_time_card_weeks_follow_the_preference():
    """With TimeCardOvertimeFirstDayOfWeek 3 (Wednesday) the generator writes that preference and computes
    its weekly overtime on Wednesday-Tuesday weeks: some automatic row is then dated on a Tuesday, the last
    working day of such a week."""
    config = dataclasses.replace(CONFIG, patients=300, time_card_first_day_of_week=3)
    wednesday = generate(config)
    prefs = dict(zip(wednesday.tables["preference"].column("PrefName").to_pylist(),
                     wednesday.tables["preference"].column("ValueString").to_pylist()))
    assert prefs["TimeCardOvertimeFirstDayOfWeek"] == "3"
    expected, _ = expected_overtime(wednesday, 3)
    assert auto_overtime(wednesday, 3) == expected and expected
    assert any((dt.date(1970, 1, 1) + dt.timedelta(days=t // DAY)).weekday() == 1 for _, t in expected.values())
    # on Sunday weeks the same time cards would give other overtime amounts
    assert sorted(v[0] for v in expected_overtime(wednesday, 0)[0].values()) != sorted(v[0] for v in expected.values())


def test_time_card_week_start_by_hand():
    """lab_staff.week_start against hand-picked dates (.NET DayOfWeek: Sunday 0): Sunday-Saturday weeks by
    default, a week across New Year not split (CalendarWeekRule.FirstFullWeek), a Wednesday week; and the
    preference read as OpenDental's Database Maintenance resets it (outside 0-6: Sunday)."""
    def start(day: str, first_day: int) -> dt.date:
        got = lab_staff.week_start(np.array([day_number(dt.date.fromisoformat(day))]), first_day)[0]
        return dt.date(1970, 1, 1) + dt.timedelta(days=int(got))

    for day in ("2026-06-07", "2026-06-10", "2026-06-13"):  # Sunday, Wednesday, Saturday
        assert start(day, 0) == dt.date(2026, 6, 7)
    assert start("2026-06-14", 0) == dt.date(2026, 6, 14)
    assert start("2026-01-02", 0) == start("2025-12-29", 0) == dt.date(2025, 12, 28)
    assert start("2026-06-09", 3) == dt.date(2026, 6, 3) and start("2026-06-10", 3) == dt.date(2026, 6, 10)
    assert start("2026-06-07", 1) == dt.date(2026, 6, 1)  # Monday weeks: a Sunday ends the week
    for value, want in (("3", 3), ("6", 6), ("7", 0), ("-1", 0), ("x", 0)):
        pref = pa.table({"PrefName": ["TimeCardOvertimeFirstDayOfWeek"], "ValueString": [value]})
        assert lab_staff.time_card_first_day({"preference": pref}) == want, value
    assert lab_staff.time_card_first_day({}) == 0


def test_deterministic_and_other_tables_unchanged(practice, monkeypatch):
    again = generate(CONFIG)
    for name in lab_staff.TABLES + ("userod", "definition"):
        assert again.tables[name].equals(practice.tables[name]), name
    import importlib
    gen = importlib.import_module("dental_synthetic.generate")
    monkeypatch.setattr(gen, "LATER_STAGES", tuple(s for s in gen.LATER_STAGES if s is not lab_staff))
    without = generate(CONFIG)
    for name, table in without.tables.items():
        if name in lab_staff.TABLES:
            continue
        if name in ("userod", "definition"):  # amended: rows appended, userod.EmployeeNum set
            mine = practice.tables[name].slice(0, table.num_rows)
            keep = [c for c in table.column_names if c != "EmployeeNum"]
            assert mine.select(keep).equals(table.select(keep)), name
        else:
            assert table.equals(practice.tables[name]), name


def test_validate_passes_and_flags_an_unknown_clock_status(practice):
    from dental_synthetic.validate import check_tables, validate_practice
    assert validate_practice(practice).ok
    tables = dict(practice.tables)
    ce = tables["clockevent"]
    status = ce.column("ClockStatus").to_numpy().copy()
    status[0] = 3  # TimeClockStatus has 0 Home, 1 Lunch, 2 Break
    tables["clockevent"] = ce.set_column(ce.schema.get_field_index("ClockStatus"), "ClockStatus", pa.array(status))
    report = check_tables(tables, AS_OF)
    assert [(f.check, f.table, f.count) for f in report.findings] == [("status_enum", "clockevent", 1)]

"""mart_lab_cases_monthly and mart_staff_hours_weekly against the lab and staff stage's ground truth
(recomputed in Python from the generated Arrow tables, a 1,000-patient practice) and against hand-computed
edge cases on a tiny raw data set written here (expected values written by hand). Building the marts also
runs their dbt unit tests (dental_dbt/models/marts/_lab_staff__unit_tests.yml, and those of int_employees,
int_lab_cases and int_practice_settings)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pyarrow as pa
import pytest

import dental_synthetic
from dental_synthetic.extras import _c as column_values
from dbt_runner import query_rows as rows
from dbt_runner import run_dbt
from dental_assets.catalog import raw_tables
from dental_assets.warehouse import PgParams, mark_demo_target
from dental_synthetic.columns import build_table
from dental_synthetic.util import DAY, ZERO_TS, day_number

AS_OF = dt.date(2026, 6, 30)  # a Tuesday
CENT = Decimal("0.01")
SELECT = ("+mart_lab_cases_monthly", "+mart_staff_hours_weekly")
LAB_COLUMNS = ("cases_sent", "cases_received", "cases_out", "avg_turnaround_days", "median_turnaround_days",
               "late_cases", "lab_fees")
STAFF_COLUMNS = ("clocked_hours", "regular_hours", "overtime_hours", "pto_hours", "clinical_hours",
                 "employees_clocked", "production", "production_per_clinical_hour")


def money(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _build(url: str, practice, target) -> PgParams:
    params = PgParams.from_url(url)
    mark_demo_target(params)
    dental_synthetic.write_postgres_raw(practice, params)
    run_dbt(params, target, "build", "--indirect-selection", "cautious", "--select", *SELECT,
            settings={"as_of_date": AS_OF.isoformat()})
    return params


@pytest.fixture(scope="module")
def built(pg_module_url, tmp_path_factory):
    practice = dental_synthetic.generate(dental_synthetic.SyntheticConfig(patients=1000, seed=7, as_of=AS_OF))
    return _build(pg_module_url, practice, tmp_path_factory.mktemp("dbt_target")), practice


def _np(practice, table, name):
    """A column as numpy: dates as day numbers, timestamps as epoch seconds."""
    return column_values(practice.tables[table], name)


def _seconds(texts) -> list[int]:
    """OpenDental TIME text ``[-]HH:MM:SS`` -> seconds."""
    out = []
    for t in texts:
        sign = -1 if t.startswith("-") else 1
        h, m, s = (int(x) for x in t.lstrip("-").split(":"))
        out.append(sign * (h * 3600 + m * 60 + s))
    return out


def _month(day: int) -> dt.date:
    d = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    return d.replace(day=1)


def _week_first(day: int, first_day: int = 0) -> dt.date:
    """The first day of OpenDental's time card week holding ``day`` (a day number): weeks start on .NET
    DayOfWeek ``first_day`` (TimeCardOvertimeFirstDayOfWeek; 0 Sunday, the synthetic practice's and
    OpenDental's default), from Python's calendar (date.weekday(): Monday 0)."""
    date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    return date - dt.timedelta(days=(date.weekday() + 1 - first_day) % 7)


def expected_lab(practice) -> dict:
    """The mart recomputed from the labcase rows: (month, laboratory_id) -> LAB_COLUMNS. A case is back
    when received or checked on or before the as-of date (OpenDental's lab case list tests DateTimeChecked
    first), on DateTimeRecd's date, else DateTimeChecked's; cases sent after the as-of date are left out."""
    as_of = day_number(AS_OF)
    groups = defaultdict(list)
    for sent, due, recd, checked, lab, fee in zip(*(_np(practice, "labcase", c).tolist() for c in (
            "DateTimeSent", "DateTimeDue", "DateTimeRecd", "DateTimeChecked", "LaboratoryNum", "LabFee"))):
        if sent // DAY > as_of:
            continue
        known = [t // DAY for t in (recd, checked) if t != ZERO_TS and t // DAY <= as_of]
        received = known[0] if known else None
        groups[(_month(sent // DAY), lab)].append((sent // DAY, due // DAY, received, fee))
    out = {}
    for key, cases in groups.items():
        turn = [r - s for s, _, r, _ in cases if r is not None]
        late = sum(1 for _, d, r, _ in cases if (r is not None and r > d) or (r is None and d < as_of))
        out[key] = (len(cases), len(turn), len(cases) - len(turn),
                    money(sum(turn) / len(turn)) if turn else None,
                    money(statistics.median(turn)) if turn else None,
                    late, money(sum(Decimal(str(f)) for _, _, _, f in cases)))
    return out


def mart_lab(params) -> dict:
    return {(r[0], r[1]): (r[2], r[3], r[4], money(r[5]), money(r[6]), r[7], money(r[8])) for r in rows(
        params, "SELECT month, laboratory_id, " + ", ".join(LAB_COLUMNS) + " FROM marts.mart_lab_cases_monthly")}


def expected_staff(practice) -> dict:
    """The mart recomputed from the Arrow tables: (week_start, clinic_id) -> STAFF_COLUMNS, weeks from the
    practice's TimeCardOvertimeFirstDayOfWeek."""
    prefs = dict(zip(practice.tables["preference"].column("PrefName").to_pylist(),
                     practice.tables["preference"].column("ValueString").to_pylist()))
    first_day = int(prefs["TimeCardOvertimeFirstDayOfWeek"])
    attach = defaultdict(set)
    for u, g in zip(_np(practice, "usergroupattach", "UserNum").tolist(),
                    _np(practice, "usergroupattach", "UserGroupNum").tolist()):
        attach[u].add(g)
    group_name = dict(zip(_np(practice, "usergroup", "UserGroupNum").tolist(),
                          practice.tables["usergroup"].column("Description").to_pylist()))
    clinical = set()  # groups through usergroupattach only (Userods.IsInUserGroup; UserGroupNum is deprecated)
    for u, e, p in zip(*(_np(practice, "userod", c).tolist() for c in ("UserNum", "EmployeeNum", "ProvNum"))):
        if e and (p or "Clinical Staff" in {group_name.get(x) for x in attach[u]}):
            clinical.add(e)
    acc = defaultdict(lambda: {"reg": 0, "ot": 0, "pto": 0, "clin": 0,  # seconds
                               "emps": set(), "prod": Decimal(0)})
    ce = practice.tables["clockevent"]
    adj = _seconds(ce.column("Adjust").to_pylist())
    adj_auto = _seconds(ce.column("AdjustAuto").to_pylist())
    ot_hours = _seconds(ce.column("OTimeHours").to_pylist())
    ot_auto = _seconds(ce.column("OTimeAuto").to_pylist())
    columns = ("EmployeeNum", "TimeDisplayed1", "TimeDisplayed2", "ClockStatus", "ClinicNum", "AdjustIsOverridden")
    for i, (emp, t1, t2, status, clinic, overridden) in enumerate(zip(*(_np(practice, "clockevent", c).tolist()
                                                                         for c in columns))):
        if status == 2 or t2 == ZERO_TS:  # breaks and open rows add nothing
            continue
        paid = t2 - t1 + (adj[i] if overridden else adj_auto[i])
        ot = ot_hours[i] if ot_hours[i] != -3600 else ot_auto[i]
        row = acc[(_week_first(t1 // DAY, first_day), clinic)]
        row["reg"] += paid - ot
        row["ot"] += ot
        row["emps"].add(emp)
        if emp in clinical:
            row["clin"] += paid
    ta = practice.tables["timeadjust"]
    reg, ot, pto = (_seconds(ta.column(c).to_pylist()) for c in ("RegHours", "OTimeHours", "PtoHours"))
    for i, (emp, entry, clinic, unpaid) in enumerate(zip(*(_np(practice, "timeadjust", c).tolist() for c in (
            "EmployeeNum", "TimeEntry", "ClinicNum", "IsUnpaidProtectedLeave")))):
        row = acc[(_week_first(entry // DAY, first_day), clinic)]
        row["pto"] += pto[i]
        if unpaid:
            continue
        row["reg"] += reg[i]
        row["ot"] += ot[i]
        if emp in clinical:
            row["clin"] += reg[i] + ot[i]
    for day, clinic, fee, qty, base, status in zip(*(_np(practice, "procedurelog", c).tolist() for c in (
            "ProcDate", "ClinicNum", "ProcFee", "UnitQty", "BaseUnits", "ProcStatus"))):
        if status == 2:
            acc[(_week_first(day, first_day), clinic)]["prod"] += money(Decimal(str(fee)) * (qty + base))
    out = {}
    for key, r in acc.items():
        hours = {k: Decimal(r[k]) / 3600 for k in ("reg", "ot", "pto", "clin")}
        out[key] = (money(Decimal(r["reg"] + r["ot"]) / 3600), money(hours["reg"]), money(hours["ot"]),
                    money(hours["pto"]), money(hours["clin"]), len(r["emps"]), money(r["prod"]),
                    money(r["prod"] / hours["clin"]) if r["clin"] else None)
    return out


def mart_staff(params) -> dict:
    return {(r[0], r[1]): tuple(money(v) if j != 5 else v for j, v in enumerate(r[2:])) for r in rows(
        params, "SELECT week_start, clinic_id, " + ", ".join(STAFF_COLUMNS) + " FROM marts.mart_staff_hours_weekly")}


def test_lab_cases_monthly_equals_the_generated_cases(built):
    params, practice = built
    expected, mart = expected_lab(practice), mart_lab(params)
    assert mart == expected
    assert sum(v[5] for v in expected.values()) > 0 and sum(v[2] for v in expected.values()) > 0


def test_staff_hours_weekly_equals_the_generated_time_cards(built):
    params, practice = built
    expected, mart = expected_staff(practice), mart_staff(params)
    assert set(mart) == set(expected)
    diffs = {k: (mart[k], expected[k]) for k in expected if mart[k] != expected[k]}
    assert not diffs, dict(list(diffs.items())[:3])
    assert sum(v[2] for v in expected.values()) > 0  # weekly overtime happened
    assert sum(v[3] for v in expected.values()) > 0  # and paid time off


def test_generated_weeks_are_about_forty_hours_per_employee(built):
    params, _ = built
    (avg,) = rows(params, "SELECT avg(clocked_hours / employees_clocked) FROM marts.mart_staff_hours_weekly "
                          "WHERE employees_clocked > 0 AND week_start < date '2026-06-22'")[0:1][0]
    assert 34 < avg < 42


# --- hand-computed edge cases ------------------------------------------------------------------------


def _ts(day: str, hms: str = "00:00:00") -> int:
    h, m, s = (int(x) for x in hms.split(":"))
    return day_number(dt.date.fromisoformat(day)) * DAY + h * 3600 + m * 60 + s


def _tiny(practice):
    """The practice with every table empty except a few hand-written rows (see the expected values)."""
    catalog = {t.name: t for t in raw_tables()}

    def table(name, values: dict[str, list]):
        n = len(next(iter(values.values())))
        return build_table(catalog[name], n, {k: (np.array(v) if not isinstance(v[0], str) else pa.array(v))
                                              for k, v in values.items()})

    z = ZERO_TS
    tables = {name: t.slice(0, 0) for name, t in practice.tables.items()}
    tables["laboratory"] = table("laboratory", {"LaboratoryNum": [1, 2], "Description": ["Lab A", "Lab B"]})
    tables["labcase"] = table("labcase", {
        "LabCaseNum": [1, 2, 3, 4, 5, 6, 7, 8],
        "LaboratoryNum": [1, 1, 1, 2, 2, 2, 2, 2],
        "PatNum": [1, 1, 1, 1, 1, 1, 1, 1],
        # 1: received on its due date (on time); 2: the day after (late); 3: out, due before as_of (late);
        # 4: out, due after as_of; 5: out, due on the as-of date (not late yet); 6: quality checked without a
        # received date (back); 7: received and checked after the as-of date (out at the as-of date, late);
        # 8: sent after the as-of date (not counted)
        "DateTimeSent": [_ts("2026-05-04", "09:00:00"), _ts("2026-05-04", "10:00:00"), _ts("2026-05-20", "11:00:00"),
                         _ts("2026-06-25", "11:00:00"), _ts("2026-06-16", "11:00:00"), _ts("2026-06-01", "09:00:00"),
                         _ts("2026-06-02", "09:00:00"), _ts("2026-07-01", "09:00:00")],
        "DateTimeDue": [_ts("2026-05-18", "17:00:00"), _ts("2026-05-18", "17:00:00"), _ts("2026-06-03", "17:00:00"),
                        _ts("2026-07-09", "17:00:00"), _ts("2026-06-30", "17:00:00"), _ts("2026-06-15", "17:00:00"),
                        _ts("2026-06-16", "17:00:00"), _ts("2026-07-15", "17:00:00")],
        "DateTimeRecd": [_ts("2026-05-18", "23:00:00"), _ts("2026-05-19", "09:00:00"), z, z, z, z,
                         _ts("2026-07-02", "10:00:00"), z],
        "DateTimeChecked": [z, z, z, z, z, _ts("2026-06-12", "10:00:00"), _ts("2026-07-02", "11:00:00"), z],
        "LabFee": [200.0, 150.5, 99.99, 300.0, 100.0, 120.0, 80.25, 55.0],
    })
    tables["employee"] = table("employee", {"EmployeeNum": [1, 2, 3, 4], "LName": ["x", "y", "z", "w"]})
    # E1 front desk (group 3), E2 a hygienist (a provider), E3 an assistant (Clinical Staff by attachment),
    # E4 front desk: its user's deprecated UserGroupNum says Clinical Staff, its only attachment Front Desk
    tables["userod"] = table("userod", {"UserNum": [1, 2, 3, 4], "UserName": ["a", "b", "c", "d"],
                                        "EmployeeNum": [1, 2, 3, 4], "ProvNum": [0, 1, 0, 0],
                                        "UserGroupNum": [3, 4, 3, 5]})
    tables["usergroup"] = table("usergroup", {"UserGroupNum": [3, 4, 5],
                                              "Description": ["Front Desk", "Providers", "Clinical Staff"]})
    tables["usergroupattach"] = table("usergroupattach", {"UserGroupAttachNum": [1, 2, 3, 4, 5],
                                                          "UserNum": [1, 2, 3, 3, 4], "UserGroupNum": [3, 4, 3, 5, 3]})
    none = "-01:00:00"
    ce = [  # employee, day, in, out, status, Adjust, AdjustAuto, overridden, OTimeHours, OTimeAuto
        (1, "2026-06-22", "08:00:00", "12:00:00", 1, "00:00:00", "00:00:00", 0, none, "00:00:00"),  # lunch out
        (1, "2026-06-22", "13:00:00", "17:00:00", 0, "00:00:00", "00:00:00", 0, none, "00:00:00"),
        (1, "2026-06-22", "15:00:00", "15:15:00", 2, "00:00:00", "00:00:00", 0, none, "00:00:00"),  # break: 0
        (1, "2026-06-23", "08:00:00", "17:00:00", 0, "00:00:00", "00:00:00", 0, none, "00:00:00"),  # spans lunch: 9
        (1, "2026-06-28", "10:00:00", "12:00:00", 0, "00:00:00", "00:00:00", 0, none, "00:00:00"),  # Sunday: 2
        (1, "2026-06-29", "08:00:00", "10:00:00", 0, "00:00:00", "00:00:00", 0, none, "00:00:00"),  # next week
        (2, "2026-06-22", "08:00:00", "12:30:00", 0, "-00:30:00", "01:00:00", 1, none, "00:00:00"),  # 4.5-0.5
        (2, "2026-06-23", "08:00:00", "16:00:00", 0, "00:00:00", "00:00:00", 0, "02:00:00", "00:00:00"),  # OT 2
        (3, "2026-06-24", "09:00:00", "13:00:00", 0, "00:00:00", "-00:15:00", 0, none, "00:30:00"),  # 3.75, OT .5
        (3, "2026-06-25", "08:00:00", None, 0, "00:00:00", "00:00:00", 0, none, "00:00:00"),  # still clocked in
        (4, "2026-06-24", "08:00:00", "10:00:00", 0, "00:00:00", "00:00:00", 0, none, "00:00:00"),  # not clinical
    ]
    tables["clockevent"] = table("clockevent", {
        "ClockEventNum": list(range(1, len(ce) + 1)),
        "EmployeeNum": [r[0] for r in ce],
        "TimeDisplayed1": [_ts(r[1], r[2]) for r in ce],
        "TimeEntered1": [_ts(r[1], r[2]) for r in ce],
        "TimeDisplayed2": [_ts(r[1], r[3]) if r[3] else z for r in ce],
        "TimeEntered2": [_ts(r[1], r[3]) if r[3] else z for r in ce],
        "ClockStatus": [r[4] for r in ce],
        "Adjust": [r[5] for r in ce], "AdjustAuto": [r[6] for r in ce], "AdjustIsOverridden": [r[7] for r in ce],
        "OTimeHours": [r[8] for r in ce], "OTimeAuto": [r[9] for r in ce],
        "ClinicNum": [1] * len(ce),
    })
    ta = [  # employee, entry, RegHours, OTimeHours, PtoHours, IsAuto, unpaid
        (1, _ts("2026-06-26", "20:00:00"), "-01:00:00", "01:00:00", "00:00:00", 1, 0),  # weekly OT
        (1, _ts("2026-06-25", "08:00:00"), "00:00:00", "00:00:00", "08:00:00", 0, 0),  # PTO
        (3, _ts("2026-06-24", "18:00:00"), "00:30:00", "00:00:00", "00:00:00", 0, 0),  # manual +0.5
        (2, _ts("2026-06-25", "08:00:00"), "08:00:00", "00:00:00", "00:00:00", 0, 1),  # unpaid leave: 0
    ]
    tables["timeadjust"] = table("timeadjust", {
        "TimeAdjustNum": [1, 2, 3, 4], "EmployeeNum": [r[0] for r in ta], "TimeEntry": [r[1] for r in ta],
        "RegHours": [r[2] for r in ta], "OTimeHours": [r[3] for r in ta], "PtoHours": [r[4] for r in ta],
        "IsAuto": [r[5] for r in ta], "IsUnpaidProtectedLeave": [r[6] for r in ta], "ClinicNum": [1, 1, 1, 1],
    })
    # the patient of the rows above (a procedure of no patient row is not production, as in OpenDental's report)
    tables["patient"] = table("patient", {"PatNum": [1], "Guarantor": [1]})
    tables["procedurelog"] = table("procedurelog", {"ProcNum": [1, 2], "PatNum": [1, 1], "ProcStatus": [2, 1],
                                                    "ProcDate": [day_number(dt.date(2026, 6, 23))] * 2,
                                                    "ClinicNum": [1, 1], "ProcFee": [325.0, 999.0],
                                                    "UnitQty": [1, 1]})
    return dataclasses.replace(practice, tables=tables)


@pytest.fixture(scope="module")
def tiny(built, pg_server_url, tmp_path_factory):
    from conftest import _pg_database
    with _pg_database(pg_server_url) as url:
        yield _build(url, _tiny(built[1]), tmp_path_factory.mktemp("dbt_tiny"))


def test_lab_cases_edge_cases(tiny):
    mart = mart_lab(tiny)
    d = Decimal
    assert mart == {
        # May, lab 1: cases 1-3; turnarounds 14 and 15 days; late: case 2 (a day after due) and case 3 (out,
        # due 2026-06-03 before the as-of date); case 1 received on its due date is on time
        (dt.date(2026, 5, 1), 1): (3, 2, 1, d("14.50"), d("14.50"), 2, d("450.49")),
        # June, lab 2: cases 4-7. Case 6, quality checked on 06-12 without a received date, is back (OpenDental
        # tests DateTimeChecked first: LabCases.Refresh), 11 days, on time (due 06-15). Case 7, received
        # 07-02 after the as-of date 06-30, is out and late (due 06-16). Cases 4 and 5 out, not late (due
        # after / on the as-of date). Case 8, sent 07-01 after the as-of date, is not counted (no July row)
        (dt.date(2026, 6, 1), 2): (4, 1, 3, d("11.00"), d("11.00"), 1, d("600.25")),
    }


def test_staff_hours_edge_cases(tiny):
    mart = mart_staff(tiny)
    d = Decimal
    # OpenDental's time card weeks start on TimeCardOvertimeFirstDayOfWeek, Sunday by default (the tiny
    # practice has no preference row). Week of Sunday 2026-06-21, clinic 1:
    #   E1 clock 4 + 4 (lunch rows; the break adds nothing) + 9 (a row spanning lunch) = 17, auto weekly OT
    #      moves 1 from regular to overtime; PTO 8 (not worked); Sunday 06-28 starts the next week
    #   E2 (4.5 - 0.5 overridden Adjust; AdjustAuto ignored) + 8 (OTimeHours 2 overridden) = 12, OT 2;
    #      unpaid protected leave adds nothing
    #   E3 4 - 0.25 AdjustAuto = 3.75, OTimeAuto 0.5; manual +0.5 regular; the open row adds nothing
    #   E4 2, not clinical: attached only to Front Desk (its deprecated UserGroupNum, Clinical Staff, is not
    #      read: Userods.IsInUserGroup)
    # regular 16 + 10 + 3.75 + 2 = 31.75; overtime 1 + 2 + 0.5 = 3.5; clocked 35.25;
    # clinical (E2, E3) 12 + 4.25 = 16.25; production 325.00 (the treatment-planned row is not
    # production) -> 20.00 per clinical hour
    # week of Sunday 2026-06-28: E1 2 (Sunday) + 2 (Monday)
    assert mart == {
        (dt.date(2026, 6, 21), 1): (d("35.25"), d("31.75"), d("3.50"), d("8.00"), d("16.25"), 4, d("325.00"),
                                    d("20.00")),
        (dt.date(2026, 6, 28), 1): (d("4.00"), d("4.00"), d("0.00"), d("0.00"), d("0.00"), 1, d("0.00"), None),
    }
    (week_year, week_of_year), = rows(tiny, "SELECT DISTINCT week_year, week_of_year "
                                            "FROM marts.mart_staff_hours_weekly WHERE week_start = date '2026-06-21'")
    assert (week_year, week_of_year) == (2026, 25)  # day 172: (172 - 1) // 7 + 1; the first Sunday, 01-04, week 1

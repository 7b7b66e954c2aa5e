"""Issue #14's lab and staff tables: dental laboratories and the lab cases of crown, bridge and denture
procedures; employees, their time clock and time card adjustments; user groups, appointment views and
user preferences.

Every value is drawn from a random stream of its own (``ctx.stream(STREAM)``), so this stage changes no
other table's rows, except two documented amendments of ``userod`` (``EmployeeNum`` set on the users
who are employees, and one appended user per employee who had none) and the ``definition`` rows it
uses (the stock ``TimeCardAdjTypes`` PTO type, ``reference.STOCK_DEFINITIONS``).

Lab cases (OpenDental ``labcase``; ``laboratory``)
    One case per appointment carrying a lab procedure (CDT D27xx crowns, D51xx/D52xx dentures,
    D62xx/D67xx bridge parts), for Complete and Scheduled appointments. OpenDental attaches a case to
    the appointment the case must be back for (``labcase.AptNum``: the seat visit); the synthetic
    schedule books such a procedure as one appointment, so that appointment is the seat visit and the
    prep visit (when the case is created and sent) lies ``TURNAROUND_WORKING_DAYS`` + a slack of
    ``SEAT_SLACK_DAYS`` working days before it. ``DateTimeDue`` = sent + ``TURNAROUND_WORKING_DAYS``
    working days at 17:00. Received: a share ``LAB_LATE_SHARE[lab]`` arrives ``LATE_OFFSETS`` working
    days after the due date, the rest ``ON_TIME_OFFSETS`` (<= 0) days; a case that would arrive on or
    after a completed seat day arrives that morning at 07:30 (and is checked at 07:45). Checked the same
    day (``CHECKED_SAME_DAY``) or the next working day, always before the seat visit. Cases sent before
    ``start`` or after ``as_of`` are not produced; received/checked moments after ``as_of`` are left at 0001-01-01 (the
    case is still out). ``PlannedAptNum`` stays 0 (no planned appointment carries lab procedures
    here). LabFee in dollars: ``LAB_FEE`` by kind x the lab's ``LAB_PRICE_FACTOR``.

Staff (``employee``, ``clockevent``, ``timeadjust``)
    Per clinic: an office manager (clinic 1), ``max(2, ceil(patients / FRONT_DESK_PATIENTS))`` front
    desk employees, an assistant per dentist and a hygienist employee per hygienist provider (the same
    person: the provider's name, the provider's user). Working days: every weekday from ``start`` to
    ``as_of``; for hygienists the days of their provider's ``schedule`` rows. A share ``PTO_RATE`` of
    days is paid time off (no clock events; a ``timeadjust`` row with PtoHours 8:00 and the PTO
    definition). A worked day is OpenDental's clock rows: clocked in ~08:00, out for Lunch
    (ClockStatus 1) ~12:00, back after ``LUNCH_MINUTES``, out Home (ClockStatus 0) ~17:00; a share
    ``HALF_DAY_RATE`` of days is one Home row ending ~12:30; on a share ``BREAK_RATE`` of afternoons a
    Break row (ClockStatus 2, out/in, inside the Home row, < 30 min so OpenDental's TimeCardRules
    deduct nothing). ``EDIT_RATE`` of clock-ins were corrected: TimeEntered1 later than TimeDisplayed1.
    OTimeHours/Rate2Hours/Rate3Hours are OpenDental's "no override" -01:00:00. Weekly overtime as
    OpenDental's TimeCardRules.CalculateWeeklyOvertime stores it, on OpenDental's time card weeks: seven
    days from the practice's ``preference`` TimeCardOvertimeFirstDayOfWeek (.NET DayOfWeek, 0 Sunday: the
    default, ``SyntheticConfig.time_card_first_day_of_week``; outside 0-6 read as 0, as Database Maintenance
    resets it). OpenDental ends a week where Calendar.GetWeekOfYear(date, FirstFullWeek, that day) changes,
    which under FirstFullWeek never happens at New Year: a week runs across it. For each week that ended
    before ``as_of`` whose paid hours (clock rows and manual RegHours) exceed 40, an IsAuto ``timeadjust``
    with OTimeHours = the excess and RegHours = -the excess, dated as OpenDental dates it: the date of the
    week's last time card row (clock row or adjustment) at 20:00. ``MANUAL_ADJUST_RATE`` of employee-weeks
    carry a manual RegHours adjustment (after-hours staff meeting, the week's Wednesday 18:00).

Users (``usergroup``, ``usergroupattach``, ``apptview``, ``userodapptview``, ``userodpref``)
    Groups 1-4 are the ``userod.UserGroupNum`` values of the set-up (Admin, Billing, Front Desk,
    Providers), plus 5 Clinical Staff (the assistants' users). Every user is attached to its own group;
    the office manager's user also to Front Desk, hygienists' users also to Clinical Staff. Views: All
    Operatories and Hygiene (every clinic), one per clinic; each user's last view per clinic; a
    ClinicLast preference per clinic-restricted user.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import identity
from .columns import append_rows, constant_string, strings
from .context import PEOPLE_STREAM, Context
from .extras import _c  # a column as numpy: dates as day numbers, timestamps as epoch seconds
from .ledger import preference_values
from .practice import CLINICAL_GROUP, FRONT_DESK_GROUP, enum_codes
from .util import DAY, ZERO_TS, key_order, weekday

TABLES = ("laboratory", "labcase", "employee", "clockevent", "timeadjust", "usergroup", "usergroupattach",
          "apptview", "userodapptview", "userodpref")
STREAM = 9301

APT = enum_codes("ApptStatus")
CLOCK = enum_codes("TimeClockStatus")  # Home 0, Lunch 1, Break 2
FKEY = enum_codes("UserOdFkeyType")
SCHED_PROVIDER = enum_codes("ScheduleType")["Provider"]

# --- labs ---------------------------------------------------------------------------------------------
LAB_CODE_PREFIXES = ("D27", "D51", "D52", "D62", "D67")
DENTURE_CODE_PREFIXES = ("D51", "D52")  # of those, the denture cases (the rest: crown/bridge)
LABS = (  # Description, Phone (fictional 555-01xx), City, kinds it takes (crown/bridge, denture)
    ("Keystone Dental Laboratory", "5035550141", "Portland", True, False),
    ("Cascade Ceramics Lab", "5035550142", "Beaverton", True, False),
    ("Riverside Denture Studio", "5035550143", "Salem", False, True),
    ("Northwest Milled Restorations", "5035550144", "Gresham", True, True),
)
LAB_WEIGHT = (0.45, 0.25, 0.6, 0.3)  # choice weight among the labs that take the case's kind
LAB_LATE_SHARE = (0.08, 0.15, 0.25, 0.10)  # share of cases received after the due date, per lab
LAB_PRICE_FACTOR = (1.0, 0.9, 1.0, 1.1)  # per lab, times the LAB_FEE draw
LAB_FEE = {"crown": (160, 260), "denture": (320, 520)}  # whole dollars, uniform, before the lab's factor
TURNAROUND_WORKING_DAYS = 10  # due date = sent + this many working days
SEAT_SLACK_DAYS = ((1, 2, 3, 4, 5), (0.15, 0.3, 0.25, 0.2, 0.1))  # working days from due date to seat visit
ON_TIME_OFFSETS = ((-3, -2, -1, 0), (0.1, 0.25, 0.35, 0.3))  # working days received relative to due
LATE_OFFSETS = ((1, 2, 3, 5), (0.45, 0.3, 0.15, 0.1))  # working days received after due, for a late case
CHECKED_SAME_DAY = 0.7  # share of cases checked the day they arrive (else the next working day, before the seat)
CREATED_SECONDS = (9 * 3600, 15 * 3600)  # DateTimeCreated's time of day on the prep visit, seconds [low, high)
SENT_AFTER_SECONDS = (15 * 60, 120 * 60)  # DateTimeSent after DateTimeCreated, seconds [low, high)
RECEIVED_SECONDS = (10 * 3600, 16 * 3600)  # DateTimeRecd's time of day, seconds [low, high)
CHECK_AFTER_SECONDS = (30 * 60, 120 * 60)  # checked the same day: this long after DateTimeRecd, seconds [low, high)
NEXT_DAY_CHECK_SECONDS = (8 * 3600, 12 * 3600)  # checked the next working day: time of day, seconds [low, high)
AT_SEAT_RECEIVED_SECOND = 7 * 3600 + 1800  # a case arriving on the seat day: received at 07:30
AT_SEAT_CHECK_AFTER = 15 * 60  # and checked this many seconds later (07:45)
DUE_SECOND = 17 * 3600  # DateTimeDue's time of day (17:00)
SHADES = ("A1", "A2", "A3", "B1", "B2")

# --- staff --------------------------------------------------------------------------------------------
FRONT_DESK_PATIENTS = 2500  # patients per front desk employee of a clinic
MIN_FRONT_DESK = 2  # front desk employees per clinic at least
FEMALE_STAFF_SHARE = 0.8  # share of employees given a female first name (hygienists then take their provider's)
PTO_RATE = 0.03  # share of working days taken as paid time off
HALF_DAY_RATE = 0.04  # share of worked days that are half days (one Home row)
BREAK_RATE = 0.4  # share of full days with an afternoon Break row
EDIT_RATE = 0.04  # share of clock-ins corrected (TimeEntered1 later than TimeDisplayed1)
# a worked day's clock times: (second of day, sd in minutes, clip low, clip high in minutes) of a normal
# offset in whole minutes, plus a uniform second within the minute
CLOCK_IN = (8 * 3600, 5, -12, 15)
LUNCH_OUT = (12 * 3600, 6, -15, 20)
CLOCK_OUT = (17 * 3600, 8, -20, 30)
LUNCH_MINUTES = (50, 76)  # uniform [lo, hi)
HALF_DAY_END = 12 * 3600 + 1800  # a half day's Home row ends around 12:30 (second of day)
HALF_DAY_END_MINUTES = (-10, 20)  # minutes from HALF_DAY_END, uniform [low, high)
BREAK_START = 15 * 3600  # an afternoon break starts in the hour after 15:00 (second of day)
BREAK_START_MINUTES = (0, 60)  # minutes after BREAK_START, uniform [low, high)
BREAK_MINUTES = (10, 21)  # a break's length in minutes, uniform [low, high) (< 30: TimeCardRules deduct nothing)
EDIT_LATE_MINUTES = (10, 91)  # a corrected clock-in was entered this many minutes late, uniform [low, high)
PTO_ENTRY_SECOND = 8 * 3600  # a PTO day's timeadjust at 08:00
PTO_DAY_SECONDS = 8 * 3600  # its PtoHours (8:00)
MANUAL_ADJUST_RATE = 0.02  # share of employee-weeks with a manual RegHours adjustment (staff meeting)
SHORT_MEETING_RATE = 0.5  # share of those meetings lasting MEETING_SECONDS[0] (else [1])
MEETING_SECONDS = (1800, 3600)  # a meeting's RegHours, seconds: short, long
MEETING_WEEKDAY = 2  # the meeting's day of the week (Monday 0): Wednesday
MEETING_SECOND = 18 * 3600  # at 18:00
FIRST_DAY_PREF = "TimeCardOvertimeFirstDayOfWeek"  # the preference naming the time card week's first day
DEFAULT_FIRST_DAY = 0  # its OpenDental default (.NET DayOfWeek.Sunday; ConvertDatabases2.cs inserts '0')
OT_ENTRY_SECOND = 20 * 3600  # the overtime timeadjust at 20:00 of the week's last row's date
WEEKLY_OT_SECONDS = 40 * 3600
NO_OVERRIDE = "-01:00:00"  # OpenDental's ClockEvent.OTimeHours / Rate2Hours / Rate3Hours "not overridden"
ROLES = ("manager", "frontdesk", "assistant", "hygienist")
GROUPS = ("Admin", "Billing", "Front Desk", "Providers", "Clinical Staff")


def _busday(days: np.ndarray, offset) -> np.ndarray:
    """Day numbers moved by ``offset`` working days (Monday-Friday); weekend days roll forward first."""
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    return np.busday_offset(d, offset, roll="forward").astype(np.int64)


def _draw(rng: np.random.Generator, spec, size: int) -> np.ndarray:
    values, probs = spec
    return np.asarray(values, dtype=np.int64)[rng.choice(len(values), size=size, p=np.asarray(probs))]


def time_card_first_day(tables: dict[str, pa.Table]) -> int:
    """The practice's TimeCardOvertimeFirstDayOfWeek (.NET DayOfWeek: 0 Sunday .. 6 Saturday) from its
    ``preference`` rows; missing or outside 0-6: 0, Sunday (OpenDental's default, and what Database
    Maintenance resets an invalid value to: DatabaseMaintenances.PreferenceTimeCardOvertimeFirstDayOfWeek)."""
    value = preference_values(tables).get(FIRST_DAY_PREF, DEFAULT_FIRST_DAY)
    return value if 0 <= value <= 6 else DEFAULT_FIRST_DAY


def week_start(days: np.ndarray, first_day: int) -> np.ndarray:
    """Day numbers -> the first day of their OpenDental time card week: the latest day on or before them
    whose .NET DayOfWeek (Sunday 0; 1970-01-01 was a Thursday, 4) is ``first_day``. Weeks are not split at
    New Year: TimeCardRules compares Calendar.GetWeekOfYear(..., CalendarWeekRule.FirstFullWeek, ...), which
    gives the January days before the first full week the number of the last December week."""
    days = np.asarray(days, dtype=np.int64)
    return days - (days + 4 - first_day) % 7


def signed_hms(seconds: np.ndarray) -> pa.Array:
    """Seconds (may be negative) -> OpenDental TIME text ``[-]HH:MM:SS``."""
    secs = np.asarray(seconds, dtype=np.int64)
    uniq, inverse = np.unique(secs, return_inverse=True)
    text = [("-" if s < 0 else "") + f"{abs(s) // 3600:02d}:{abs(s) % 3600 // 60:02d}:{abs(s) % 60:02d}"
            for s in uniq.tolist()]
    return strings(text, inverse)


def build(ctx: Context, setup, people, tables: dict[str, pa.Table]) -> None:
    """Put this stage's ten tables into ``ctx``; amend ``tables['userod']`` and ``tables['definition']``
    in place (see the module docstring)."""
    rng = ctx.stream(STREAM)
    _labs(ctx, rng, setup, tables)
    _staff(ctx, rng, setup, tables)


@dataclass(frozen=True)
class LabCases:
    """The lab cases to make, one per appointment with a lab procedure, aligned arrays: ``proc`` (the
    procedurelog row naming the case), ``row`` (its appointment's row), the seat day (day number), whether
    the seat visit is Complete, whether the case is a denture."""

    proc: np.ndarray
    row: np.ndarray
    seat: np.ndarray
    completed: np.ndarray
    denture: np.ndarray


@dataclass(frozen=True)
class LabDraws:
    """Per lab case, everything drawn: slack (working days), lab index, received offset (working days from
    due), times of day and delays (seconds), checked the same day, fee (whole dollars), shade index."""

    slack: np.ndarray
    lab: np.ndarray
    offset: np.ndarray
    created_sec: np.ndarray
    sent_after: np.ndarray
    recd_sec: np.ndarray
    same_day: np.ndarray
    check_after: np.ndarray
    next_sec: np.ndarray
    fee: np.ndarray
    shade: np.ndarray


@dataclass(frozen=True)
class LabMoments:
    """Per lab case: the due day (day number); seconds created, sent, received and checked (0001-01-01 when
    after as_of); ``exists``: sent on or after start and by last_ts."""

    due_day: np.ndarray
    created_ts: np.ndarray
    sent_ts: np.ndarray
    recd_ts: np.ndarray
    checked_ts: np.ndarray
    exists: np.ndarray


def _labs(ctx: Context, rng: np.random.Generator, setup, tables) -> None:
    """``laboratory`` (one row per ``LABS`` entry) and ``labcase`` (module docstring)."""
    n_labs = len(LABS)
    ctx.put("laboratory", n_labs, {
        "LaboratoryNum": np.arange(1, n_labs + 1),
        "Description": [lab[0] for lab in LABS],
        "Phone": [lab[1] for lab in LABS],
        "City": [lab[2] for lab in LABS],
        "State": "OR",
        "Slip": 0,
    })
    cases = _lab_cases(setup, tables["procedurelog"], tables["appointment"])
    draws = _lab_draws(rng, cases.denture)
    _put_lab_cases(ctx, setup, tables, cases, draws, _lab_moments(ctx, cases, draws))


def _lab_cases(setup, pl: pa.Table, ap: pa.Table) -> LabCases:
    """One case per Complete or Scheduled appointment carrying a lab procedure (``LAB_CODE_PREFIXES``),
    named by its first lab procedure (by ProcNum); in appointment order."""
    is_lab_code = np.array([any(c.startswith(p) for p in LAB_CODE_PREFIXES) for c in setup.code_proccode])
    is_denture_code = np.array([c.startswith(DENTURE_CODE_PREFIXES) for c in setup.code_proccode])
    code = _c(pl, "CodeNum")
    apt_of = _c(pl, "AptNum")
    lab_proc = np.flatnonzero(is_lab_code[code] & (apt_of > 0))
    apt_num = _c(ap, "AptNum")
    apt_row = np.full(int(apt_num.max(initial=0)) + 1, -1, dtype=np.int64)
    apt_row[apt_num] = np.arange(len(apt_num))
    status = _c(ap, "AptStatus")
    keep = np.isin(status[apt_row[apt_of[lab_proc]]], [APT["Complete"], APT["Scheduled"]])
    lab_proc = lab_proc[keep]
    # one case per appointment: its first lab procedure (by ProcNum) names it
    order = key_order(apt_of[lab_proc], _c(pl, "ProcNum")[lab_proc])
    lab_proc = lab_proc[order]
    first = np.ones(len(lab_proc), dtype=bool)
    first[1:] = apt_of[lab_proc][1:] != apt_of[lab_proc][:-1]
    proc = lab_proc[first]
    row = apt_row[apt_of[proc]]
    return LabCases(proc=proc, row=row, seat=_c(ap, "AptDateTime")[row] // DAY,
                    completed=status[row] == APT["Complete"], denture=is_denture_code[code[proc]])


def _choose_labs(rng: np.random.Generator, denture: np.ndarray) -> np.ndarray:
    """Per case the lab index, by ``LAB_WEIGHT`` among the labs that take the case's kind."""
    takes = np.array([[lab[4] if d else lab[3] for lab in LABS] for d in (False, True)])
    weights = np.where(takes[denture.astype(int)], np.array(LAB_WEIGHT)[None, :], 0.0)
    u = rng.random(len(denture))
    cum = np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True)
    return (u[:, None] > cum).sum(axis=1)


def _lab_draws(rng: np.random.Generator, denture: np.ndarray) -> LabDraws:
    """Every draw of the lab cases, for every candidate (so the stream does not depend on as_of censoring)."""
    n = len(denture)
    slack = _draw(rng, SEAT_SLACK_DAYS, n)
    lab = _choose_labs(rng, denture)
    late = rng.random(n) < np.array(LAB_LATE_SHARE)[lab]
    offset = np.where(late, _draw(rng, LATE_OFFSETS, n), _draw(rng, ON_TIME_OFFSETS, n))
    created_sec = rng.integers(*CREATED_SECONDS, size=n)
    sent_after = rng.integers(*SENT_AFTER_SECONDS, size=n)
    recd_sec = rng.integers(*RECEIVED_SECONDS, size=n)
    same_day = rng.random(n) < CHECKED_SAME_DAY
    check_after = rng.integers(*CHECK_AFTER_SECONDS, size=n)
    next_sec = rng.integers(*NEXT_DAY_CHECK_SECONDS, size=n)
    fee = np.where(denture, rng.integers(*LAB_FEE["denture"], size=n), rng.integers(*LAB_FEE["crown"], size=n))
    shade = rng.integers(0, len(SHADES), size=n)
    return LabDraws(slack=slack, lab=lab, offset=offset, created_sec=created_sec, sent_after=sent_after,
                    recd_sec=recd_sec, same_day=same_day, check_after=check_after, next_sec=next_sec, fee=fee,
                    shade=shade)


def _lab_moments(ctx: Context, cases: LabCases, d: LabDraws) -> LabMoments:
    """When each case was created, sent, due, received and checked (module docstring), censored at as_of."""
    seat = cases.seat
    sent_day = _busday(seat, -(TURNAROUND_WORKING_DAYS + d.slack))
    due_day = _busday(sent_day, TURNAROUND_WORKING_DAYS)
    recd_day = _busday(due_day, d.offset)
    at_seat = cases.completed & (recd_day >= seat)
    recd_day = np.where(at_seat, seat, recd_day)
    recd_ts = recd_day * DAY + np.where(at_seat, AT_SEAT_RECEIVED_SECOND, d.recd_sec)
    next_day = _busday(recd_day, 1)
    check_next = ~d.same_day & ~at_seat & (next_day < seat)
    checked_ts = np.where(at_seat, recd_ts + AT_SEAT_CHECK_AFTER,
                          np.where(check_next, next_day * DAY + d.next_sec, recd_ts + d.check_after))
    created_ts = sent_day * DAY + d.created_sec
    sent_ts = created_ts + d.sent_after
    exists = (sent_day >= ctx.start) & (sent_ts <= ctx.last_ts)
    zero = np.int64(ZERO_TS)
    recd_ts = np.where(recd_ts <= ctx.last_ts, recd_ts, zero)
    checked_ts = np.where((checked_ts <= ctx.last_ts) & (recd_ts > zero), checked_ts, zero)
    return LabMoments(due_day=due_day, created_ts=created_ts, sent_ts=sent_ts, recd_ts=recd_ts,
                      checked_ts=checked_ts, exists=exists)


def _put_lab_cases(ctx: Context, setup, tables, cases: LabCases, d: LabDraws, t: LabMoments) -> None:
    """``labcase``: the cases that exist, in DateTimeCreated order; LabFee in dollars, InvoiceNum per
    received case."""
    pl, ap = tables["procedurelog"], tables["appointment"]
    code = _c(pl, "CodeNum")
    apt_of = _c(pl, "AptNum")
    proc, lab = cases.proc, d.lab
    idx = np.flatnonzero(t.exists)
    idx = idx[key_order(t.created_ts[idx], apt_of[proc][idx])]
    m = len(idx)
    recd, checked = t.recd_ts[idx], t.checked_ts[idx]
    received = recd > np.int64(ZERO_TS)
    invoice = np.where(received, np.cumsum(received), 0)
    tooth = pl.column("ToothNum").to_numpy(zero_copy_only=False)[proc][idx]
    code_text = np.array(setup.code_proccode, dtype=object)
    abbr = np.array(setup.code_abbr, dtype=object)[code[proc][idx]]
    instructions = [f"{c} {a} #{tt}, shade {SHADES[s]}" if tt else f"{c} {a}, try-in at seat"
                    for c, a, tt, s in zip(code_text[code[proc][idx]], abbr, tooth, d.shade[idx])]
    ctx.put("labcase", m, {
        "LabCaseNum": np.arange(1, m + 1),
        "PatNum": _c(ap, "PatNum")[cases.row][idx],
        "LaboratoryNum": lab[idx] + 1,
        "AptNum": apt_of[proc][idx],
        "PlannedAptNum": 0,
        "DateTimeDue": t.due_day[idx] * DAY + DUE_SECOND,
        "DateTimeCreated": t.created_ts[idx],
        "DateTimeSent": t.sent_ts[idx],
        "DateTimeRecd": recd,
        "DateTimeChecked": checked,
        "ProvNum": _c(pl, "ProvNum")[proc][idx],
        "Instructions": instructions,
        "LabFee": np.round(d.fee[idx] * np.array(LAB_PRICE_FACTOR)[lab[idx]], 2),
        "DateTStamp": np.maximum(np.maximum(t.sent_ts[idx], recd), checked),
        "InvoiceNum": [f"INV-{k:05d}" if k else "" for k in invoice.tolist()],
    })


def _staff(ctx: Context, rng: np.random.Generator, setup, tables) -> None:
    pools = identity.faker_pools(ctx.config.seed)
    n_clinics = len(setup.clinic_dentists)
    prov = tables["provider"]
    prov_fname = dict(zip(_c(prov, "ProvNum").tolist(), prov.column("FName").to_pylist()))
    prov_lname = dict(zip(_c(prov, "ProvNum").tolist(), prov.column("LName").to_pylist()))
    # employees: (clinic, role, ProvNum of a hygienist)
    emp_clinic, emp_role, emp_prov = [], [], []
    for c in range(n_clinics):
        pats = ctx.config.patients * float(setup.clinic_share[c])
        if c == 0:
            emp_clinic.append(1), emp_role.append(0), emp_prov.append(0)
        for role, count, provs in ((1, max(MIN_FRONT_DESK, math.ceil(pats / FRONT_DESK_PATIENTS)), None),
                                   (2, len(setup.clinic_dentists[c]), None),
                                   (3, len(setup.clinic_hygienists[c]), setup.clinic_hygienists[c])):
            for k in range(count):
                emp_clinic.append(c + 1)
                emp_role.append(role)
                emp_prov.append(int(provs[k]) if provs is not None else 0)
    emp_clinic, emp_role, emp_prov = np.array(emp_clinic), np.array(emp_role), np.array(emp_prov)
    n_emp = len(emp_clinic)
    emp_num = np.arange(1, n_emp + 1)
    # names from a stream of their own (as ``ctx.people_rng``): other pools change the names only
    names_rng = np.random.Generator(np.random.PCG64([ctx.config.seed + STREAM, PEOPLE_STREAM]))
    female = names_rng.random(n_emp) < FEMALE_STAFF_SHARE
    fnames = np.where(female, np.array(identity.pick(names_rng, pools.female, n_emp).to_pylist(), dtype=object),
                      np.array(identity.pick(names_rng, pools.male, n_emp).to_pylist(), dtype=object))
    lnames = np.array(identity.pick(names_rng, pools.last, n_emp).to_pylist(), dtype=object)
    hyg = emp_role == 3
    fnames[hyg] = [prov_fname[p] for p in emp_prov[hyg]]
    lnames[hyg] = [prov_lname[p] for p in emp_prov[hyg]]
    ctx.put("employee", n_emp, {
        "EmployeeNum": emp_num,
        "LName": lnames.tolist(),
        "FName": fnames.tolist(),
        "ClockStatus": "Home",
        "PhoneExt": 100 + emp_num,
        "PayrollID": [f"P{1000 + e}" for e in emp_num.tolist()],
        "ReportsTo": np.where(emp_role == 0, 0, 1),
    })

    _users(ctx, setup, tables, emp_num, emp_clinic, emp_role, emp_prov)
    pto_def = setup.defs[("TimeCardAdjTypes", "pto")]  # reference.STOCK_DEFINITIONS
    _clock(ctx, rng, tables, emp_num, emp_clinic, emp_prov, pto_def)


def _users(ctx, setup, tables, emp_num, emp_clinic, emp_role, emp_prov) -> None:
    """Amend ``tables['userod']`` (EmployeeNum; a user for each employee who had none) and put
    ``usergroup``, ``usergroupattach``, ``apptview``, ``userodapptview``, ``userodpref``."""
    users = _employee_users(ctx, setup, tables, emp_num, emp_clinic, emp_role, emp_prov)
    _user_groups(ctx, users, emp_role)
    _appt_views(ctx, setup, tables, users)


def _employee_users(ctx, setup, tables, emp_num, emp_clinic, emp_role, emp_prov) -> pa.Table:
    """``userod`` with EmployeeNum set (admin: the office manager; a clinic's front desk user: its first
    front desk employee; a hygienist provider's user: the hygienist) and one appended clinic-restricted user
    per other employee (front desk: group Front Desk, assistants: Clinical Staff). Returns the table."""
    users = tables["userod"]
    user_num = _c(users, "UserNum")
    n_old = len(user_num)
    employee_of = _c(users, "EmployeeNum").copy()
    employee_of[setup.admin_user - 1] = emp_num[emp_role == 0][0]
    new_emp = []
    for c in range(1, len(setup.clinic_dentists) + 1):
        desk = emp_num[(emp_role == 1) & (emp_clinic == c)]
        employee_of[setup.frontdesk_user[c] - 1] = desk[0]
        new_emp.extend(desk[1:].tolist())
        new_emp.extend(emp_num[(emp_role == 2) & (emp_clinic == c)].tolist())
    for e, p in zip(emp_num[emp_role == 3].tolist(), emp_prov[emp_role == 3].tolist()):
        employee_of[setup.prov_user[p] - 1] = e
    new_emp = np.array(new_emp, dtype=np.int64)
    k = len(new_emp)
    role = emp_role[new_emp - 1]
    names = [("reception" if r == 1 else "assistant") + str(e) for r, e in zip(role.tolist(), new_emp.tolist())]
    group = np.where(role == 1, FRONT_DESK_GROUP, CLINICAL_GROUP)
    users = users.set_column(users.schema.get_field_index("EmployeeNum"), "EmployeeNum", pa.array(employee_of))
    tables["userod"] = users
    return append_rows(tables, "userod", k, {
        "UserNum": n_old + 1 + np.arange(k), "UserName": names, "UserGroupNum": group, "EmployeeNum": new_emp,
        "ClinicNum": emp_clinic[new_emp - 1], "ClinicIsRestricted": 1, "DateTLastLogin": ctx.as_of * DAY + 8 * 3600})


def _user_groups(ctx: Context, users: pa.Table, emp_role: np.ndarray) -> None:
    """``usergroup`` (``GROUPS``) and ``usergroupattach``: every user in its own group, the office manager's
    user also in Front Desk, hygienists' users also in Clinical Staff."""
    u_num = _c(users, "UserNum")
    u_group = _c(users, "UserGroupNum")
    u_emp = _c(users, "EmployeeNum")
    ctx.put("usergroup", len(GROUPS), {"UserGroupNum": np.arange(1, len(GROUPS) + 1), "Description": list(GROUPS)})
    role_of_user = np.where(u_emp > 0, emp_role[np.maximum(u_emp, 1) - 1], -1)
    extra_user = np.concatenate([u_num[role_of_user == 0], u_num[role_of_user == 3]])
    extra_group = np.concatenate([np.full((role_of_user == 0).sum(), FRONT_DESK_GROUP),
                                  np.full((role_of_user == 3).sum(), CLINICAL_GROUP)])
    a_user = np.concatenate([u_num, extra_user])
    a_group = np.concatenate([u_group, extra_group])
    order = key_order(a_user, a_group)
    na = len(a_user)
    ctx.put("usergroupattach", na, {"UserGroupAttachNum": np.arange(1, na + 1), "UserNum": a_user[order],
                                    "UserGroupNum": a_group[order]})


def _appt_views(ctx: Context, setup, tables, users: pa.Table) -> None:
    """``apptview`` (All Operatories, Hygiene, one per clinic), ``userodapptview`` (each user's last view)
    and ``userodpref`` (ClinicLast per clinic-restricted user)."""
    n_users = users.num_rows
    u_num = _c(users, "UserNum")
    u_clinic = _c(users, "ClinicNum")
    u_prov = _c(users, "ProvNum")
    n_clinics = len(setup.clinic_dentists)
    abbr = tables["clinic"].column("Abbr").to_pylist()
    view_names = ["All Operatories", "Hygiene"] + [f"{a} Day" for a in abbr]
    view_clinic = np.array([0, 0] + list(range(1, n_clinics + 1)))
    nv = len(view_names)
    ctx.put("apptview", nv, {
        "ApptViewNum": np.arange(1, nv + 1), "Description": view_names, "ItemOrder": np.arange(nv),
        "RowsPerIncr": 1, "ClinicNum": view_clinic, "ApptTimeScrollStart": "08:00:00",
        "OnlySchedBeforeTime": "00:00:00", "OnlySchedAfterTime": "00:00:00",
    })
    # each user's last view: hygienists the Hygiene view, users of one clinic its day view, others All
    is_hyg_user = (u_prov > 0) & np.isin(u_prov, np.concatenate(setup.clinic_hygienists))
    view = np.where(is_hyg_user, 2, np.where(u_clinic > 0, 2 + u_clinic, 1))
    ctx.put("userodapptview", n_users, {"UserodApptViewNum": np.arange(1, n_users + 1), "UserNum": u_num,
                                        "ClinicNum": u_clinic, "ApptViewNum": view})
    restricted = np.flatnonzero(u_clinic > 0)
    npref = len(restricted)
    ctx.put("userodpref", npref, {
        "UserOdPrefNum": np.arange(1, npref + 1), "UserNum": u_num[restricted], "Fkey": u_clinic[restricted],
        "FkeyType": FKEY["ClinicLast"], "ValueString": "", "ClinicNum": 0,
    })


@dataclass(frozen=True)
class DayDraws:
    """Per (employee, working day) row, everything drawn: PTO, half day, afternoon break, edited clock-in
    (bool); seconds of day: in, out for lunch, back, out home, half day's end, break start; seconds: the
    break's length, how late an edited clock-in was entered."""

    pto: np.ndarray
    half: np.ndarray
    brk: np.ndarray
    edit: np.ndarray
    t_in: np.ndarray
    t_lunch: np.ndarray
    t_back: np.ndarray
    t_out: np.ndarray
    t_half: np.ndarray
    b_start: np.ndarray
    b_len: np.ndarray
    late_entry: np.ndarray


@dataclass(frozen=True)
class ClockRows:
    """``clockevent`` rows in (moment, employee) order: ``day`` (index of the working-day row), start and
    stop (seconds of day), ClockStatus, the clock-in's TimeEntered1 (seconds of day)."""

    day: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    status: np.ndarray
    entered1: np.ndarray


@dataclass(frozen=True)
class Weeks:
    """Per employee-week (OpenDental's time card week): EmployeeNum, its first day and the day of its
    meeting (day numbers), a manual meeting adjustment (bool) and its length (seconds), the day of the
    week's last time card row, the overtime (seconds, 0 unless the week ended before as_of)."""

    emp: np.ndarray
    first: np.ndarray
    meeting: np.ndarray
    manual: np.ndarray
    manual_sec: np.ndarray
    last_day: np.ndarray
    ot: np.ndarray


def _clock(ctx, rng, tables, emp_num, emp_clinic, emp_prov, pto_def) -> None:
    """``clockevent`` and ``timeadjust`` (module docstring)."""
    owner, wday = _working_days(ctx, tables["schedule"], emp_num, emp_prov)
    draws = _day_draws(rng, len(owner))
    rows = _clock_rows(owner, wday, draws)
    _put_clock_events(ctx, owner, wday, rows, emp_clinic)
    weeks = _weeks(ctx, rng, owner, wday, rows, time_card_first_day(tables))
    _put_time_adjusts(ctx, owner, wday, draws.pto, weeks, emp_clinic, pto_def)


def _working_days(ctx: Context, sched: pa.Table, emp_num: np.ndarray,
                  emp_prov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (employee, working day) row: EmployeeNum and day number. Every weekday from start to as_of; a
    hygienist's days are their provider's ``schedule`` days (SchedType Provider)."""
    days = np.arange(ctx.start, ctx.as_of + 1)
    days = days[weekday(days) < 5]
    s_prov, s_day = _c(sched, "ProvNum"), _c(sched, "SchedDate")
    s_ok = (s_day >= ctx.start) & (s_day <= ctx.as_of) & (_c(sched, "SchedType") == SCHED_PROVIDER)
    owners, wdays = [], []
    for e, p in zip(emp_num.tolist(), emp_prov.tolist()):
        d = np.unique(s_day[s_ok & (s_prov == p)]) if p else days
        owners.append(np.full(len(d), e))
        wdays.append(d)
    return np.concatenate(owners), np.concatenate(wdays)


def _clock_time(rng: np.random.Generator, spec: tuple[int, int, int, int], n: int) -> np.ndarray:
    """Seconds of day: ``spec`` = (second of day, sd in minutes, clip low, clip high in minutes) of a normal
    offset in whole minutes, plus a uniform second within the minute."""
    second, sd, lo, hi = spec
    return second + np.clip(np.rint(rng.normal(0, sd, n)), lo, hi).astype(np.int64) * 60 + rng.integers(0, 60, n)


def _day_draws(rng: np.random.Generator, n: int) -> DayDraws:
    """Every draw of the ``n`` working-day rows, for every row (PTO days too)."""
    pto = rng.random(n) < PTO_RATE
    half = rng.random(n) < HALF_DAY_RATE
    brk = (rng.random(n) < BREAK_RATE) & ~half
    edit = rng.random(n) < EDIT_RATE
    t_in = _clock_time(rng, CLOCK_IN, n)
    t_lunch = _clock_time(rng, LUNCH_OUT, n)
    t_back = t_lunch + rng.integers(*LUNCH_MINUTES, n) * 60 + rng.integers(0, 60, n)
    t_out = _clock_time(rng, CLOCK_OUT, n)
    t_half = HALF_DAY_END + rng.integers(*HALF_DAY_END_MINUTES, n) * 60
    b_start = BREAK_START + rng.integers(*BREAK_START_MINUTES, n) * 60
    b_len = rng.integers(*BREAK_MINUTES, n) * 60
    late_entry = rng.integers(*EDIT_LATE_MINUTES, n) * 60
    return DayDraws(pto=pto, half=half, brk=brk, edit=edit, t_in=t_in, t_lunch=t_lunch, t_back=t_back, t_out=t_out,
                    t_half=t_half, b_start=b_start, b_len=b_len, late_entry=late_entry)


def _clock_rows(owner: np.ndarray, wday: np.ndarray, d: DayDraws) -> ClockRows:
    """The clock rows of the worked days: morning (Lunch) and afternoon (Home), or one half-day Home row;
    a Break row inside the afternoon."""
    w = np.flatnonzero(~d.pto)
    full = w[~d.half[w]]
    halfd = w[d.half[w]]
    br = w[d.brk[w]]
    # rows: (day row, kind) kind 0 morning/half-day, 1 afternoon, 2 break
    r_day = np.concatenate([full, halfd, full, br])
    r_kind = np.concatenate([np.zeros(len(full) + len(halfd), np.int64), np.ones(len(full), np.int64),
                             np.full(len(br), 2)])
    start = np.select([r_kind == 0, r_kind == 1], [d.t_in[r_day], d.t_back[r_day]], d.b_start[r_day])
    is_half = d.half[r_day]
    stop = np.select([(r_kind == 0) & is_half, r_kind == 0, r_kind == 1],
                     [d.t_half[r_day], d.t_lunch[r_day], d.t_out[r_day]], d.b_start[r_day] + d.b_len[r_day])
    status = np.select([(r_kind == 0) & ~is_half, r_kind == 2], [CLOCK["Lunch"], CLOCK["Break"]], CLOCK["Home"])
    entered1 = start + np.where((r_kind == 0) & d.edit[r_day], d.late_entry[r_day], 0)
    order = key_order(wday[r_day] * DAY + start, owner[r_day])
    return ClockRows(day=r_day[order], start=start[order], stop=stop[order], status=status[order],
                     entered1=entered1[order])


def _put_clock_events(ctx: Context, owner: np.ndarray, wday: np.ndarray, rows: ClockRows,
                      emp_clinic: np.ndarray) -> None:
    """``clockevent``: one row per clock row, timestamps in seconds; overrides left at ``NO_OVERRIDE``."""
    base = wday[rows.day] * DAY
    m = len(rows.day)
    emp = owner[rows.day]
    ctx.put("clockevent", m, {
        "ClockEventNum": np.arange(1, m + 1),
        "EmployeeNum": emp,
        "TimeEntered1": base + rows.entered1,
        "TimeDisplayed1": base + rows.start,
        "ClockStatus": rows.status,
        "TimeEntered2": base + rows.stop,
        "TimeDisplayed2": base + rows.stop,
        "OTimeHours": constant_string(NO_OVERRIDE, m),
        "Rate2Hours": constant_string(NO_OVERRIDE, m),
        "Rate3Hours": constant_string(NO_OVERRIDE, m),
        "ClinicNum": emp_clinic[emp - 1],
    })


def _weeks(ctx: Context, rng: np.random.Generator, owner: np.ndarray, wday: np.ndarray,
           rows: ClockRows, first_day: int) -> Weeks:
    """Per employee-week (weeks from ``first_day``, ``week_start``) the paid seconds (breaks sit inside a
    paid row), the manual meeting adjustment (``MANUAL_ADJUST_RATE``, not after last_ts), the week's last
    row's day (its last working day, PTO days included, or the meeting's) and the overtime beyond
    ``WEEKLY_OT_SECONDS`` of the weeks that ended before as_of."""
    paid = np.where(rows.status == CLOCK["Break"], 0, rows.stop - rows.start)
    first = week_start(wday, first_day)
    week_key = owner * 100_000 + (first - ctx.start + 10)
    uniq_week, week_of_day = np.unique(week_key, return_inverse=True)
    week_sec = np.zeros(len(uniq_week), dtype=np.int64)
    np.add.at(week_sec, week_of_day[rows.day], paid)
    week_first = uniq_week % 100_000 - 10 + ctx.start
    manual = rng.random(len(uniq_week)) < MANUAL_ADJUST_RATE
    manual_sec = np.where(rng.random(len(uniq_week)) < SHORT_MEETING_RATE, *MEETING_SECONDS)
    meeting = week_first + (MEETING_WEEKDAY - weekday(week_first)) % 7
    manual &= meeting * DAY + MEETING_SECOND <= ctx.last_ts
    week_sec += np.where(manual, manual_sec, 0)
    last_day = np.full(len(uniq_week), np.iinfo(np.int64).min)
    np.maximum.at(last_day, week_of_day, wday)  # every working-day row is clock rows or a PTO adjustment
    last_day = np.where(manual, np.maximum(last_day, meeting), last_day)
    ended = week_first + 6 < ctx.as_of
    ot = np.where(ended, np.maximum(week_sec - WEEKLY_OT_SECONDS, 0), 0)
    return Weeks(emp=uniq_week // 100_000, first=week_first, meeting=meeting, manual=manual, manual_sec=manual_sec,
                 last_day=last_day, ot=ot)


def _put_time_adjusts(ctx: Context, owner: np.ndarray, wday: np.ndarray, pto: np.ndarray, weeks: Weeks,
                      emp_clinic: np.ndarray, pto_def: int) -> None:
    """``timeadjust``: a PTO row per PTO day (PtoHours ``PTO_DAY_SECONDS``), a RegHours row per manual
    meeting, an IsAuto overtime row per week with overtime (OTimeHours = excess, RegHours = -excess) at
    ``OT_ENTRY_SECOND`` of the week's last row's day."""
    ot_week = np.flatnonzero(weeks.ot > 0)
    man_week = np.flatnonzero(weeks.manual)
    pto_day = np.flatnonzero(pto)
    a_emp = np.concatenate([owner[pto_day], weeks.emp[man_week], weeks.emp[ot_week]])
    a_time = np.concatenate([wday[pto_day] * DAY + PTO_ENTRY_SECOND,
                             weeks.meeting[man_week] * DAY + MEETING_SECOND,
                             weeks.last_day[ot_week] * DAY + OT_ENTRY_SECOND])
    a_reg = np.concatenate([np.zeros(len(pto_day), np.int64), weeks.manual_sec[man_week], -weeks.ot[ot_week]])
    a_ot = np.concatenate([np.zeros(len(pto_day) + len(man_week), np.int64), weeks.ot[ot_week]])
    a_pto = np.concatenate([np.full(len(pto_day), PTO_DAY_SECONDS), np.zeros(len(man_week) + len(ot_week), np.int64)])
    a_kind = np.concatenate([np.zeros(len(pto_day), np.int64), np.ones(len(man_week), np.int64),
                             np.full(len(ot_week), 2)])
    order = key_order(a_time, a_emp, a_kind)
    a_emp, a_time, a_reg, a_ot, a_pto, a_kind = (x[order] for x in (a_emp, a_time, a_reg, a_ot, a_pto, a_kind))
    k = len(a_emp)
    notes = ("Paid time off", "Staff meeting after hours", "")
    ctx.put("timeadjust", k, {
        "TimeAdjustNum": np.arange(1, k + 1),
        "EmployeeNum": a_emp,
        "TimeEntry": a_time,
        "RegHours": signed_hms(a_reg),
        "OTimeHours": signed_hms(a_ot),
        "Note": strings(notes, a_kind),
        "IsAuto": (a_kind == 2).astype(np.int64),
        "ClinicNum": emp_clinic[a_emp - 1],
        "PtoDefNum": np.where(a_kind == 0, pto_def, 0),
        "PtoHours": signed_hms(a_pto),
        "SecuUserNumEntry": 1,
    })

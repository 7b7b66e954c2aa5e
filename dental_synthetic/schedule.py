"""Appointments, procedures and recalls.

The simulation, per patient over ``[max(start, entry), min(leaving day, as_of + 120 days)]``:

1. Hygiene visits every 6 months (3 for perio patients), the first one a new-patient visit for
   patients who joined during the simulated years; some are skipped; only the next future visit is
   booked. Each visit carries exam, cleaning, radiograph and fluoride procedures by age and rhythm.
2. Hygiene visits are placed on the hygienist's operatory on the weekdays the hygienist works (part-time
   providers work some: ``Setup.op_minutes``), between 08:00 and 17:00 without overlap, first come first
   served: a visit that does not fit takes the next working day with room (``pack``). A recall visit is as
   long as its recall type's time pattern (``recall_visit_minutes``, as OpenDental books a recall), a
   new-patient visit as its procedures. Past ones are completed, broken or on the
   unscheduled list (``completion_rate``, ``broken_rate``); future ones are scheduled. A broken one is
   broken as OpenDental's AppointmentL.BreakApptHelper does it: a completed D9986 (no-show) or D9987 (late
   cancellation) on the day (``broken_appointments``).
3. Emergency visits (limited exam, radiographs, palliative care) on the dentist's operatory, on the first
   day the dentist works.
4. Completed exams and emergencies produce treatment items (fillings, crowns, root canals, scaling,
   extractions, ...). An item is referred out (ProcStatus R), accepted and booked on the dentist's
   operatory (then completed, broken or still scheduled), put on a planned appointment, or left
   treatment-planned.
5. New patients' existing restorations (ProcStatus EC) and a few procedures deleted after entry
   (ProcStatus D).
6. One prophy/perio/child recall per active patient.

Keys are assigned in order of creation time, as OpenDental's auto-increment would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import reference as ref
from .columns import strings
from .context import Context
from .people import NEVER, People
from .practice import Setup, enum_codes, time_pattern
from .util import (
    CLOSE_MINUTE,
    DAY,
    OPEN_MINUTE,
    ZERO_DAY,
    add_months,
    business_day,
    cumsum_before,
    dense_codes,
    expand,
    group_bounds,
    group_firsts,
    key_order,
    primary_keys,
    rank_within,
    ts,
    weekday,
    weekday_near,
)

APT = enum_codes("ApptStatus")
PROC = enum_codes("ProcStat")

SURFS = ("", "O", "B", "L", "MO", "DO", "OL", "OB", "MOD", "MOB", "DOL", "F", "M", "D", "MF", "DF", "ML", "DL",
         "UR", "UL", "LR", "LL", "U", "L")
_SURF = {s: i for i, s in enumerate(SURFS)}
MOLARS = np.array([2, 3, 14, 15, 18, 19, 30, 31])
PREMOLARS = np.array([4, 5, 12, 13, 20, 21, 28, 29])
POSTERIOR = np.concatenate([MOLARS, PREMOLARS])
ANTERIOR = np.array([6, 7, 8, 9, 10, 11, 22, 23, 24, 25, 26, 27])
WISDOM = np.array([1, 16, 17, 32])
SEALANT_TEETH = np.array([3, 14, 19, 30, 2, 15, 18, 31])

# treatment item kinds
FILL, SEAL, CROWN, RCT, SRP, EXT, IMPLANT, GUARD, DENTURE, BLEACH = range(10)
KIND_APT_TYPE = {FILL: "restorative", SEAL: "restorative", CROWN: "crown", RCT: "endo", SRP: "perio_tx",
                 EXT: "surgery", IMPLANT: "surgery", GUARD: "restorative", DENTURE: "restorative",
                 BLEACH: "restorative"}


# --- rates, shares and ranges of the simulation. Ranges are [low, high) as rng.integers takes them, unless
# said otherwise; "weights" are relative (normalised by their sum).
SLOT_MINUTES = 10  # appointments last and start on whole 10-minute slots
GAP_WEIGHT = (1, 1000)  # random weight of each gap before an appointment (and after the day's last one)
NO_SHOW_SHAPE = 0.8  # gamma shape of the no-show propensity (scale 1 / shape, so mean 1); smaller spreads more
MAX_BROKEN_P = 0.9  # cap on the probability that an appointment breaks
CHILD_AGE_YEARS = 14  # younger patients get child cleanings and bitewings, child treatment and child recalls
FLUORIDE_AGE_YEARS = 16  # younger patients get fluoride (D1206) at every hygiene visit

# 1-2. hygiene visits
HYGIENE_INTERVAL_DAYS = 182  # days between hygiene visits (about 6 months)
PERIO_INTERVAL_DAYS = 91  # days between a perio patient's hygiene visits (about 3 months)
HYGIENE_JITTER_DAYS = (-12, 13)  # a recall visit moves by this many days around its rhythm
HYGIENE_SKIP_RATE = 0.12  # share of recall visits (not new-patient visits) skipped
NEXT_VISIT_BOOKED_RATE = 0.75  # share of patients whose next future hygiene visit is already booked
BITEWING_RHYTHM = (2, 1)  # bitewings (D0272/D0274) at recall visit j with j % 2 == 1: every other visit
PANORAMIC_RHYTHM = (8, 4)  # panoramic film (D0330) at adult recall visit j with j % 8 == 4: every 4 years
HYGIENE_MINUTES = (30, 120)  # a new-patient visit's length, minutes, [low, high] after rounding up to a slot
# A recall visit is as long as OpenDental makes an appointment booked for a recall
# (Appointments.FillAppointmentForRecall: Pattern = RecallTypes.ConvertTimePattern(Recalls.GetRecallTimePattern)),
# its recall type's TimePattern, one character per AppointmentTimeIncrement minutes (the bitewing and pano
# recall types appended to it have none); the generator writes no AppointmentTimeIncrement preference, so
# OpenDental's stock value applies (10: UnitTests/Resources/dump.txt)
APPOINTMENT_TIME_INCREMENT = 10
HYGIENE_BOOKING_LEAD_DAYS = (7, 183)  # a hygiene visit is booked 1-26 weeks ahead (days)
MORNING_ENTRY_SECONDS = (7 * 3600, 8 * 3600)  # same-day and emergency appointments entered 07:00-08:00 (s of day)

# 3. emergency visits
EMERGENCY_RATE = 0.06  # emergency visits per patient-year (Poisson)
EXTRA_PA_RATE = 0.35  # share of emergencies with additional periapical films (D0230)
EXTRA_PA_COUNT = (1, 3)  # how many (UnitQty)
PALLIATIVE_RATE = 0.3  # share of emergencies with palliative treatment (D9110)
EMERGENCY_MINUTES = (30, 60)  # emergency appointment length, minutes, [low, high] after rounding up to a slot

# 4. treatment items found at completed exams and emergencies
EMERGENCY_ITEM_COUNT_P = (0.3, 0.6, 0.1)  # probability of 0, 1, 2 treatment items found at an emergency
NEW_PATIENT_ITEM_COUNT_P = (0.3, 0.3, 0.25, 0.15)  # probability of 0-3 items at a new patient's first exam
RECALL_ITEM_COUNT_P = (0.68, 0.2, 0.09, 0.03)  # probability of 0-3 items at a recall exam
EMERGENCY_CHILD_KINDS = (FILL, EXT)  # a child's treatment found at an emergency, equally likely
EMERGENCY_ADULT_KIND_WEIGHTS = {RCT: 35, EXT: 35, FILL: 20, CROWN: 10}  # an adult's, found at an emergency
CHILD_KIND_WEIGHTS = {FILL: 55, SEAL: 35, EXT: 10}  # a child's treatment found at an exam
ADULT_KIND_WEIGHTS = {FILL: 50, SEAL: 0, CROWN: 16, RCT: 5, SRP: 6, EXT: 6, IMPLANT: 2, GUARD: 4, DENTURE: 2,
                      BLEACH: 2}  # an adult's treatment found at an exam (every kind, in kind order)
DENTURE_MIN_AGE_YEARS = 55  # younger patients get a crown instead of a denture
NEW_PATIENT_SRP_RATE = 0.1  # share of new adult patients' fillings that are scaling and root planing instead
FILLINGS = (  # filling codes: (code, surfaces, on an anterior tooth, percent of fillings)
    ("D2391", 1, False, 30), ("D2392", 2, False, 25), ("D2393", 3, False, 8), ("D2140", 1, False, 5),
    ("D2150", 2, False, 5), ("D2330", 1, True, 15), ("D2331", 2, True, 12))
SEALANT_COUNT = (2, 5)  # sealed teeth (D1351) per sealant item
CERAMIC_CROWN_RATE = 0.6  # share of crowns porcelain/ceramic (D2740), the rest porcelain fused to metal (D2750)
BUILDUP_RATE = 0.6  # share of crowns with a core buildup (D2950)
RCT_TOOTH_P = (0.25, 0.3, 0.45)  # root canal on an anterior (D3310), premolar (D3320), molar (D3330) tooth
FULL_MOUTH_SRP_RATE = 0.6  # share of scaling items on 4 quadrants, the rest on 2
SRP_4PLUS_RATE = 0.75  # share of scaling items of 4+ teeth per quadrant (D4341), the rest 1-3 teeth (D4342)
EXTRACTION_P = (0.65, 0.25, 0.1)  # simple (D7140), surgical (D7210), impacted wisdom tooth (D7240)
SEDATION_RATE = 0.35  # share of surgical and impacted extractions with IV sedation (D9243)
SEDATION_UNITS = (1, 4)  # its UnitQty (15-minute increments)

# 4. what becomes of a treatment item
REFER_MOLAR_RCT_RATE = 0.5  # share of molar root canals (D3330) referred out to an endodontist (ProcStatus R)
REFER_IMPACTION_RATE = 0.7  # share of impacted wisdom teeth (D7240) referred out to oral surgery
REFER_IMPLANT_RATE = 0.5  # share of implants referred out to oral surgery
ACCEPT_RATE_EMERGENCY = 0.9  # share of items (not referred) accepted and booked, found at an emergency
ACCEPT_RATE_NEW_PATIENT = 0.65  # found at a new patient's first exam
ACCEPT_RATE_RECALL = 0.6  # found at a recall exam
EMERGENCY_TX_LAG_DAYS = (1, 11)  # days from an emergency to its treatment appointment
TX_LAG_DAYS = (10, 51)  # days from an exam to its treatment appointment
TX_LAG_PER_ITEM_DAYS = 14  # each further item found at the same visit is booked this many days later
BOOKING_CUTOFF_DAYS = 14  # treatment is booked no later than this many days before the horizon
PLANNED_RATE = 0.5  # share of the remaining items (not referred, not booked) put on a planned appointment
RESTORATIVE_MINUTES = (30, 180)  # treatment appointment length, minutes, [low, high] after rounding up to a slot
TX_ENTRY_DELAY_SECONDS = (0, 600)  # treatment (and its appointment) entered this long after the visit ended

# 5. existing restorations, deleted procedures; the procedurelog table
EXISTING_RESTORATION_RATE = 0.45  # share of completed new-patient visits charting existing restorations (EC)
EXISTING_RESTORATION_COUNT = (1, 4)  # how many
EXISTING_RESTORATION_WEIGHTS = {"D2391": 30, "D2392": 25, "D2740": 15, "D2750": 10, "D3330": 5, "D2140": 15}
EXISTING_ENTRY_SECONDS = 600  # charted this many seconds after the new-patient visit started
DELETED_COPY_RATE = 0.008  # share of completed procedures entered twice, the copy deleted (ProcStatus D)
DELETED_COPY_DELAY_SECONDS = 60  # the copy was entered this long after the original
DELETED_AFTER_SECONDS = 3600  # and deleted this long after it was entered (its DateTStamp)
# closing time: the completion time of procedures without an appointment; recalls' update time
DAY_END_SECOND = CLOSE_MINUTE * 60
FEE_DRIFT = (0.8, 1.2)  # factor range of the fees that differ from the fee schedule (uniform)
FEE_NUDGE_CENTS = 500  # added when a differing fee rounds back to the fee schedule's fee
PROSTH_REPLACEMENT_RATE = 0.2  # share of prosthetic procedures replacing an older prosthesis (Prosthesis R)
ORIGINAL_PROSTH_AGE_DAYS = (5 * 365, 20 * 365)  # DateOriginalProsth: this many days before ProcDate

# the appointment table
CONFIRM_WINDOW_DAYS = 3  # scheduled appointments at most this many days after as_of have been reminded
BROKEN_CONFIRMED = ("not_called", "left_message")  # Confirmed of broken appointments, equally likely
SOON_CONFIRMED_WEIGHTS = {"texted": 35, "confirmed": 45, "left_message": 20}  # Confirmed of reminded ones
LATER_CONFIRMED_WEIGHTS = {"not_called": 70, "texted": 30}  # Confirmed of later scheduled ones
UNSCHED_STATUSES = ("left_message", "no_answer", "will_call")  # UnschedStatus of unscheduled ones, equally likely
ARRIVED_EARLY_MINUTES = (0, 16)  # DateTimeArrived: this many minutes before the start
SEATED_LATE_MINUTES = (0, 11)  # DateTimeSeated: this many minutes after the start
DISMISSED_LATE_MINUTES = (0, 11)  # DateTimeDismissed: this many minutes after the planned end
BROKEN_MARKED_SECONDS = 900  # broken appointments marked (DateTStamp) 15 minutes after their start
# broken appointments: how and when they were broken (AppointmentL.BreakApptHelper), on a stream of their own
BREAK_STREAM = 7417  # seed offset of the Missed / Cancelled draw: every draw of ctx.rng stays as it was
BROKEN_MISSED_SHARE = 0.55  # share of broken appointments that were no-shows, broken with D9986 (Missed);
#                             the rest late cancellations, broken with D9987 (Cancelled)
BREAK_MISSED_AFTER = 900  # seconds after AptDateTime a no-show is broken (Missed, D9986)
BREAK_CANCELLED_BEFORE = DAY  # seconds before AptDateTime a late cancellation is broken (Cancelled, D9987)
REMINDED_DAYS = (0, 4)  # scheduled appointments last edited this many days before as_of (DateTStamp)

# 6. recalls
RECALL_MONTHS = (6, 3, 6)  # months from the last hygiene visit to the due date: prophy, perio, child
RECALL_MOVED_RATE = 0.05  # share of due dates moved by hand
RECALL_MOVE_DAYS = (-30, 31)  # by this many days
RECALL_CONTACTED_RATE = 0.5  # share of overdue recalls (none booked) with a RecallStatus
RECALL_STATUSES = ("left_message", "no_answer", "will_call", "postcard")  # that status, equally likely
RECALL_CONTACT_DAYS = (1, 60)  # the contact this many days before as_of (DateTStamp)

# internal appointment segments, in the order the appointments are created
_HYGIENE, _EMERGENCY, _RESTORATIVE, _PLANNED = range(4)


@dataclass
class Procedures:
    """Procedure rows (index = ProcNum - 1). Money in cents, days as day numbers."""

    pat: np.ndarray
    apt: np.ndarray  # AptNum or 0
    code: np.ndarray
    status: np.ndarray
    date: np.ndarray
    fee: np.ndarray  # ProcFee, cents
    units: np.ndarray  # UnitQty + BaseUnits
    prov: np.ndarray
    clinic: np.ndarray
    created: np.ndarray  # SecDateEntry, seconds
    tooth: np.ndarray  # tooth number, 0 none
    referred_to: np.ndarray  # specialty key index into SPECIALTIES for ProcStatus R, -1 otherwise


@dataclass
class Appointments:
    """Appointment rows (index = AptNum - 1)."""

    pat: np.ndarray
    status: np.ndarray
    date: np.ndarray
    start: np.ndarray  # minute of the day
    minutes: np.ndarray
    prov: np.ndarray
    clinic: np.ndarray
    is_new: np.ndarray
    created: np.ndarray  # SecDateTEntry, seconds
    break_day: np.ndarray  # the day a Broken appointment was broken (``broken_appointments``), ZERO_DAY others


@dataclass(frozen=True)
class Breaks:
    """The broken appointments (AptStatus Broken) of appointment arrays in AptNum order, as broken with
    AppointmentL.BreakApptHelper: per broken appointment its position in those arrays (``rows``), whether
    it was broken as Missed with D9986 (``missed``; else Cancelled with D9987) and the moment (seconds)."""

    rows: np.ndarray
    missed: np.ndarray
    moment: np.ndarray


def broken_appointments(ctx: Context, status: np.ndarray, when: np.ndarray, created: np.ndarray) -> Breaks:
    """How and when each broken appointment was broken (appointment columns AptStatus, AptDateTime and
    SecDateTEntry in seconds, in AptNum order): BROKEN_MISSED_SHARE of them as no-shows (Missed, D9986)
    BREAK_MISSED_AFTER their time, the others as late cancellations (Cancelled, D9987)
    BREAK_CANCELLED_BEFORE it; never before the appointment was entered. Drawn on a stream of its own
    (BREAK_STREAM), so the schedule (the D9986/D9987 procedures), billing (the broken-appointment fee) and
    the history (histappointment Missed / Cancelled rows) agree without passing anything along."""
    rows = np.flatnonzero(np.asarray(status) == APT["Broken"])
    missed = ctx.stream(BREAK_STREAM).random(len(rows)) < BROKEN_MISSED_SHARE
    when = np.asarray(when, dtype=np.int64)[rows]
    moment = np.where(missed, when + BREAK_MISSED_AFTER, when - BREAK_CANCELLED_BEFORE)
    return Breaks(rows=rows, missed=missed, moment=np.maximum(moment, np.asarray(created, dtype=np.int64)[rows]))


def broken_procedure_fee(fee: np.ndarray, pat_fee_sched: np.ndarray, prov_fee_sched: int | np.ndarray,
                         primary_is_ppo: np.ndarray, code: np.ndarray) -> np.ndarray:
    """ProcFee (cents) of a D9986/D9987 charted by AppointmentL.BreakApptHelper (``fee[FeeSchedNum, CodeNum]``
    in cents; per procedure the patient's FeeSched (0 none), the provider's, whether the primary plan is a
    PPO, the CodeNum). The codes are NoBillIns, so the schedule is FeeScheds.GetFeeSched(0, patient.FeeSched,
    provNum): the patient's, else the provider's; with a PPO primary plan (PlanType 'p') the larger of that
    fee and the provider's schedule's (``procedureBroken.ProcFee=Math.Max(provFee,procFee)``)."""
    sched = np.where(pat_fee_sched > 0, pat_fee_sched, prov_fee_sched)
    proc_fee = fee[sched, code]
    return np.where(primary_is_ppo, np.maximum(fee[prov_fee_sched, code], proc_fee), proc_fee)


SPECIALTIES = ("endo", "oral_surgery")


@dataclass
class Clinical:
    procs: Procedures
    apts: Appointments


# ---------------------------------------------------------------------------------------------------------
def _weekday_hours(op_minutes: np.ndarray | None, n_ops: int) -> np.ndarray:
    """[OperatoryNum, weekday] -> minutes from opening its provider is scheduled (``Setup.op_minutes``); an
    operatory nobody is scheduled in, or ``op_minutes`` None: the clinics' hours Monday to Friday."""
    hours = np.zeros((n_ops, 7), dtype=np.int64)
    if op_minutes is not None:
        known = min(n_ops, len(op_minutes))
        hours[:known] = np.asarray(op_minutes, dtype=np.int64)[:known]
    hours[~(hours > 0).any(axis=1), :5] = CLOSE_MINUTE - OPEN_MINUTE
    return hours


def _days_to_work(hours: np.ndarray) -> np.ndarray:
    """[operatory, weekday] -> days from that weekday to the first one the operatory is scheduled (0-6)."""
    shift = np.full(hours.shape, 7, dtype=np.int64)
    for k in range(6, -1, -1):
        shift = np.where(np.roll(hours > 0, -k, axis=1), k, shift)
    return shift


def working_day(op_minutes: np.ndarray, op: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The first day on or after ``day`` on which the provider of operatory ``op`` is scheduled
    (``op_minutes``: ``Setup.op_minutes``, [OperatoryNum, weekday] -> minutes scheduled, 0 none); an
    operatory nobody is scheduled in (OperatoryNum 0) takes the next business day, as ``business_day``."""
    day = np.asarray(day, dtype=np.int64)
    shift = _days_to_work(_weekday_hours(op_minutes, len(op_minutes)))
    return day + shift[np.asarray(op, dtype=np.int64), weekday(day)]


def _book(hours: np.ndarray, op: np.ndarray, wanted: np.ndarray, minutes: np.ndarray, order: np.ndarray,
          taken: dict[tuple[int, int], int]) -> np.ndarray:
    """Days of the appointments ``order`` (rows, by operatory and then first come, first served), booked on
    each operatory's days (``hours``: ``_weekday_hours``) on top of the minutes already ``taken`` ((op, day)
    -> minutes, updated): each on the first day, from the day it is wanted on, with its length left (the
    first opening a scheduler finds), so a short appointment may still fill a day a longer one did not fit.
    Days of an operatory with less than ``SLOT_MINUTES`` left are not looked at again. A sequential scan
    per operatory, in plain Python."""
    shift = _days_to_work(hours).tolist()
    cap = hours.tolist()
    out = np.empty(len(order), dtype=np.int64)
    last_op, full_to = -1, 0  # the operatory scanned; its days before full_to have no slot left
    for i, (o, w, m) in enumerate(zip(op[order].tolist(), wanted[order].tolist(), minutes[order].tolist())):
        if o != last_op:
            last_op, op_cap, op_shift, full_to = o, cap[o], shift[o], w
        d = max(w, full_to)
        d += op_shift[(d + 3) % 7]  # weekday(day) = (day + 3) % 7: 1970-01-01 was a Thursday
        while taken.get((o, d), 0) + m > op_cap[(d + 3) % 7]:
            d += 1
            d += op_shift[(d + 3) % 7]
        taken[(o, d)] = taken.get((o, d), 0) + m
        out[i] = d
        while full_to <= d and taken.get((o, full_to), 0) + SLOT_MINUTES > op_cap[(full_to + 3) % 7]:
            full_to += 1  # a day off has no slot either
    return out


def pack(rng: np.random.Generator, op: np.ndarray, day: np.ndarray, minutes: np.ndarray,
         pinned: np.ndarray | None = None, op_minutes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Place appointments on operatories: returns (day, start minute). Within a day an operatory's
    appointments follow each other in random order with random gaps, all within its provider's hours that
    day (``op_minutes``: ``Setup.op_minutes``, minutes from opening per operatory and weekday; None: every
    business day, opening to closing). An appointment on a day its operatory's provider does not work moves
    to their next one first. Days are booked first come, first served (``_book``): ``pinned`` appointments
    first, then the others, those wanted on the same day in random order, each on the first working day of
    its operatory, from the day it is wanted on, with its length left. Their times follow a random order of
    the day's appointments, ``pinned`` ones first."""
    n = len(op)
    day = np.asarray(day, dtype=np.int64).copy()
    if n == 0:
        return day, np.zeros(0, dtype=np.int64)
    op = np.asarray(op, dtype=np.int64)
    pinned = np.zeros(n, dtype=bool) if pinned is None else np.asarray(pinned, dtype=bool)
    hours = _weekday_hours(op_minutes, int(op.max()) + 1)
    minutes = np.minimum(minutes, CLOSE_MINUTE - OPEN_MINUTE)
    if (minutes > hours.max(axis=1)[op]).any():
        raise ValueError("an appointment is longer than any day its operatory's provider works")
    rank = rng.integers(0, 1 << 30, size=n)  # the random order of the appointments wanted on the same day
    taken: dict[tuple[int, int], int] = {}
    for rows in (np.flatnonzero(pinned), np.flatnonzero(~pinned)):
        order = rows[key_order(op[rows], day[rows], rank[rows])]
        day[order] = _book(hours, op, day, minutes, order, taken)
    first = day.min()
    # the day's appointments in random order (pinned first) for their times
    order = key_order(op, day, (~pinned).astype(np.int64), rng.integers(0, 1 << 30, size=n))
    key = op[order] * (1 << 24) + (day[order] - first)
    capacity = hours[op[order], weekday(day[order])]
    _, gid = group_bounds(key)
    n_groups = gid[-1] + 1
    total = np.bincount(gid, weights=minutes[order], minlength=n_groups).astype(np.int64)
    group_capacity = np.zeros(n_groups, dtype=np.int64)
    group_capacity[gid] = capacity
    free_slots = (group_capacity - total) // SLOT_MINUTES
    weight = rng.integers(*GAP_WEIGHT, size=n)
    weight_total = np.bincount(gid, weights=weight, minlength=n_groups).astype(np.int64)
    weight_total += rng.integers(*GAP_WEIGHT, size=n_groups)  # slack after the last appointment
    gap = free_slots[gid] * weight // weight_total[gid] * SLOT_MINUTES
    start_sorted = OPEN_MINUTE + cumsum_before(minutes[order] + gap, key) + gap
    start = np.empty(n, dtype=np.int64)
    start[order] = start_sorted
    return day, start


NO_SHOW_STREAM = 7919  # seed offset of the no-show propensity's own random stream


def no_show_propensity(ctx: Context, patient: np.ndarray) -> np.ndarray:
    """Each patient's tendency to break appointments, mean 1 (gamma, shape NO_SHOW_SHAPE), indexed by
    PatNum - 1.

    Drawn from a random stream of its own (seed + NO_SHOW_STREAM), so it leaves every other draw as
    it is. This is the signal the no-show model and the patient scores can find: a patient's earlier
    broken appointments predict the next ones."""
    size = int(patient.max(initial=-1)) + 1
    stream = ctx.stream(NO_SHOW_STREAM)
    return stream.gamma(NO_SHOW_SHAPE, 1 / NO_SHOW_SHAPE, size)[patient] if size else np.zeros(0)


def _status(rng: np.random.Generator, ctx: Context, day: np.ndarray, patient: np.ndarray) -> np.ndarray:
    """Past appointments: completed, broken or on the unscheduled list; future ones: scheduled.

    An appointment breaks with probability broken_rate x its patient's no-show propensity (at most
    MAX_BROKEN_P); the rest complete or go to the unscheduled list in the configured proportions."""
    cfg = ctx.config
    u = rng.random(len(day))
    broken = np.minimum(cfg.broken_rate * no_show_propensity(ctx, patient), MAX_BROKEN_P)
    rest = (u - broken) / (1 - broken)
    complete_share = cfg.completion_rate / max(1e-9, 1 - cfg.broken_rate)
    past = np.where(u < broken, APT["Broken"],
                    np.where(rest < complete_share, APT["Complete"], APT["UnschedList"]))
    return np.where(day <= ctx.as_of, past, APT["Scheduled"])


def _round_minutes(total: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Minutes rounded up to a whole slot, clipped to [lo, hi]."""
    return np.clip((total + SLOT_MINUTES - 1) // SLOT_MINUTES * SLOT_MINUTES, lo, hi)


@dataclass
class _ProcBlock:
    """Procedures produced for some owner rows (visits or items) before keys exist."""

    owner: np.ndarray
    code: np.ndarray
    tooth: np.ndarray
    surf: np.ndarray
    qty: np.ndarray
    base: np.ndarray

    @staticmethod
    def concat(blocks: list[_ProcBlock]) -> _ProcBlock:
        return _ProcBlock(*[np.concatenate([getattr(b, f) for b in blocks]).astype(np.int64)
                            for f in ("owner", "code", "tooth", "surf", "qty", "base")])


def _block(owner, code, tooth=0, surf=0, qty=1, base=0) -> _ProcBlock:
    owner = np.asarray(owner, dtype=np.int64)
    n = len(owner)

    def full(x):
        return np.broadcast_to(np.asarray(x, dtype=np.int64), (n,)).copy()

    return _ProcBlock(owner, full(code), full(tooth), full(surf), full(qty), full(base))


def _chair_minutes(setup: Setup, procs: _ProcBlock, n: int) -> np.ndarray:
    """Chair minutes of each of ``n`` owners: the sum of its procedures' code minutes (int64)."""
    return np.bincount(procs.owner, weights=setup.code_minutes[procs.code], minlength=n).astype(np.int64)


def _pick(rng, values, size, p=None) -> np.ndarray:
    values = np.asarray(values)
    return values[rng.choice(len(values), size=size, p=None if p is None else np.asarray(p) / np.sum(p))]


def _pick_weighted(rng, weights: dict, size, value=None) -> np.ndarray:
    """``_pick`` of the keys of ``weights`` (mapped by ``value``), with the dict's values as weights."""
    return _pick(rng, [k if value is None else value(k) for k in weights], size, p=list(weights.values()))


@dataclass(frozen=True)
class _Span:
    """Each patient's simulated span, indexed by PatNum - 1 (day numbers)."""

    start: np.ndarray  # max(simulation start, the day the patient was entered)
    end: np.ndarray  # min(last day the patient may have an appointment, horizon)
    new: np.ndarray  # bool: joined during the simulated years


@dataclass(frozen=True)
class _Hygiene:
    """Hygiene visits in patient order, one row per visit (internal appointment rows of segment _HYGIENE)."""

    pat: np.ndarray  # patient index (PatNum - 1)
    is_new: np.ndarray  # bool: the new-patient visit
    procs: _ProcBlock  # owner = visit row
    day: np.ndarray
    start: np.ndarray  # minute of the day
    minutes: np.ndarray
    hyg: np.ndarray  # the hygienist's ProvNum
    status: np.ndarray  # ApptStatus
    apt_type: np.ndarray  # AppointmentTypeNum


@dataclass(frozen=True)
class _Emergencies:
    """Emergency visits on the dentist's operatory, one row per visit (segment _EMERGENCY)."""

    pat: np.ndarray
    procs: _ProcBlock  # owner = visit row
    day: np.ndarray
    start: np.ndarray  # minute of the day as first placed (the treatment found there dates from its end)
    minutes: np.ndarray
    prov: np.ndarray  # the patient's dentist (ProvNum)


@dataclass(frozen=True)
class _Sources:
    """The visits treatment is found at: completed hygiene visits, then the emergencies."""

    pat: np.ndarray
    day: np.ndarray
    end: np.ndarray  # minute of the day the visit ended
    is_new: np.ndarray  # bool: a new-patient visit
    emerg: np.ndarray  # bool: an emergency


@dataclass(frozen=True)
class _Items:
    """Treatment items, one row per item in source order; their procedures have owner = item row."""

    src: np.ndarray  # index into _Sources
    rank: np.ndarray  # 0-based position among the items of its source visit
    pat: np.ndarray
    emerg: np.ndarray  # bool: found at an emergency
    kind: np.ndarray  # FILL .. BLEACH
    procs: _ProcBlock


@dataclass(frozen=True)
class _Dispositions:
    """What becomes of each treatment item (bool per item: referred out, accepted and booked, put on a planned
    appointment; else left treatment-planned), the day it would be booked and its chair minutes."""

    referred: np.ndarray
    accepted: np.ndarray
    planned: np.ndarray
    book_day: np.ndarray
    minutes: np.ndarray


@dataclass(frozen=True)
class _Restorative:
    """The appointments of accepted items (segment _RESTORATIVE), one row per item."""

    items: np.ndarray  # item row
    pat: np.ndarray
    day: np.ndarray
    start: np.ndarray  # minute of the day
    minutes: np.ndarray
    status: np.ndarray  # ApptStatus


@dataclass(frozen=True)
class _Apts:
    """Every appointment in internal order (hygiene, emergency, restorative, planned; ``seg`` tells which),
    with its AptNum (``num``, by creation time) and the internal rows in AptNum order (``order``)."""

    seg: np.ndarray
    pat: np.ndarray
    day: np.ndarray
    start: np.ndarray  # minute of the day
    minutes: np.ndarray
    status: np.ndarray
    prov: np.ndarray
    hyg: np.ndarray  # ProvHyg, 0 but for hygiene visits
    op: np.ndarray
    apt_type: np.ndarray
    is_new: np.ndarray
    created: np.ndarray  # SecDateTEntry, seconds
    order: np.ndarray
    num: np.ndarray

    def of(self, seg: int) -> tuple[np.ndarray, np.ndarray]:
        """(AptNum, SecDateTEntry) of the appointments of one segment, in internal order."""
        rows = self.seg == seg
        return self.num[rows], self.created[rows]


_PROC_FIELDS = ("pat", "apt", "planned", "code", "tooth", "surf", "qty", "base", "status", "date", "date_tp",
                "created", "priority", "referred_to", "from_apt")


@dataclass(frozen=True)
class _ProcRows:
    """Procedure columns (int64 arrays, one row per procedure): patient index, AptNum, PlannedAptNum, CodeNum,
    tooth, surface index into SURFS, UnitQty, BaseUnits, ProcStatus, ProcDate, DateTP, SecDateEntry (seconds),
    Priority (DefNum or 0), referred_to (index into SPECIALTIES or -1), from_apt (the AptNum of the
    appointment a procedure was charted from without being attached to it, a broken appointment's
    D9986/D9987; 0 for the others)."""

    pat: np.ndarray
    apt: np.ndarray
    planned: np.ndarray
    code: np.ndarray
    tooth: np.ndarray
    surf: np.ndarray
    qty: np.ndarray
    base: np.ndarray
    status: np.ndarray
    date: np.ndarray
    date_tp: np.ndarray
    created: np.ndarray
    priority: np.ndarray
    referred_to: np.ndarray
    from_apt: np.ndarray

    def take(self, rows: np.ndarray) -> _ProcRows:
        return _ProcRows(*(getattr(self, f)[rows] for f in _PROC_FIELDS))

    @staticmethod
    def concat(parts: list[_ProcRows]) -> _ProcRows:
        return _ProcRows(*(np.concatenate([getattr(p, f) for p in parts]).astype(np.int64) for f in _PROC_FIELDS))


# ---------------------------------------------------------------------------------------------------------
def build_schedule(ctx: Context, setup: Setup, people: People) -> Clinical:
    """Simulate the visits of ``people`` (steps 1-6 of the module docstring) and record the appointment,
    procedurelog and recall tables in ``ctx``; updates patient.DateFirstVisit and DateTStamp in
    ``people.patient_values``. Returns the procedures (by ProcNum) and appointments (by AptNum)."""
    rng = ctx.rng
    cn = setup.code_num
    span = _span(ctx, people)
    # 1-2. hygiene visits, placed on the hygienists' operatories
    owner, j, np_visit, day = _hygiene_visit_days(ctx, setup, people, rng, span)
    h_procs, perio = _hygiene_procedures(cn, people, owner, j, np_visit, day)
    hyg = _place_hygiene_visits(ctx, setup, people, rng, owner, np_visit, perio, h_procs, day)
    # 3. emergency visits
    e_owner, e_day = _emergency_days(ctx, setup, people, rng, span)
    emerg = _place_emergencies(setup, people, rng, e_owner, e_day, _emergency_procedures(rng, cn, len(e_owner)))
    # 4. treatment items, booked with the emergencies on the dentists' operatories
    src = _treatment_sources(hyg, emerg)
    items = _treatment_items(rng, cn, people, src)
    disp = _dispositions(ctx, setup, people, rng, items, src, span)
    e_start, rest = _place_dentist_visits(ctx, setup, people, rng, emerg, items, disp)
    p_items = np.flatnonzero(disp.planned)
    created, h_booked = _appointment_created(ctx, people, rng, hyg, emerg, src, items, rest, p_items)
    apts = _all_appointments(setup, people, hyg, emerg, e_start, src, items, disp, rest, p_items, created)
    # 5. procedures: of the visits and items, existing restorations, deleted copies
    it_rows = _item_proc_rows(ctx, setup, rng, src, items, disp, rest, p_items, apts)
    breaks = _breaks(ctx, apts)
    rows = _ProcRows.concat([_hygiene_proc_rows(hyg, apts, h_booked), _emergency_proc_rows(emerg, apts), it_rows,
                             _existing_restorations(rng, cn, hyg), _broken_procedures(cn, apts, breaks)])
    rows = _with_deleted_copies(ctx, rng, rows)
    procs = _procedure_table(ctx, setup, people, rng, rows, apts)
    appointments = _appointment_table(ctx, setup, people, rng, apts, rows, breaks)
    # 6. first visits, recalls
    _first_visits(ctx, people, span, apts)
    _recalls(ctx, setup, people, rng, hyg)
    return Clinical(procs=procs, apts=appointments)


def _span(ctx: Context, people: People) -> _Span:
    """Each patient's simulated span: [max(start, entry), min(leaving day, horizon)] in day numbers."""
    return _Span(start=np.maximum(ctx.start, people.entry), end=np.minimum(people.end, ctx.horizon),
                 new=people.entry >= ctx.start)


def _hygiene_visit_days(ctx: Context, setup: Setup, people: People, rng: np.random.Generator,
                        span: _Span) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The hygiene visits kept, in patient order: (patient index, visit number j in the rhythm, bool new-patient
    visit, day number: a day the patient's hygienist works). Skipped visits are dropped; of the future ones only
    the next may be booked."""
    interval = np.where(people.perio, PERIO_INTERVAL_DAYS, HYGIENE_INTERVAL_DAYS)
    first = np.where(span.new, people.entry, ctx.start + (rng.random(people.n) * interval).astype(np.int64))
    visits = (people.end != NEVER) & (span.end >= first)
    count = np.where(visits, (span.end - first) // interval + 1, 0)
    owner, j = expand(count)
    np_visit = span.new[owner] & (j == 0)
    day = first[owner] + j * interval[owner] + np.where(np_visit, 0, rng.integers(*HYGIENE_JITTER_DAYS,
                                                                                  size=len(owner)))
    day = np.clip(day, span.start[owner], span.end[owner])
    keep = np_visit | (rng.random(len(owner)) >= HYGIENE_SKIP_RATE)
    future = day > ctx.as_of
    fut_rows = np.flatnonzero(keep & future)
    first_fut = group_firsts(owner[fut_rows])  # rows are in patient order
    keep[fut_rows] = False
    booked = fut_rows[first_fut]
    keep[booked] = rng.random(len(booked)) < NEXT_VISIT_BOOKED_RATE
    owner, j, np_visit, day = owner[keep], j[keep], np_visit[keep], day[keep]
    # new-patient visits stay on or after the day the patient was entered; recall visits may move to the
    # Friday before a weekend; then to the next day the hygienist works
    day = business_day(np.where(np_visit, day, np.maximum(weekday_near(rng, day), span.start[owner])))
    return owner, j, np_visit, working_day(setup.op_minutes, setup.prov_op[people.sec_prov[owner]], day)


def _hygiene_procedures(cn: dict[str, int], people: People, owner: np.ndarray, j: np.ndarray,
                        np_visit: np.ndarray, day: np.ndarray) -> tuple[_ProcBlock, np.ndarray]:
    """Each hygiene visit's procedures (owner = visit row): exam, cleaning, bitewings, panoramic film and
    fluoride by age and rhythm; and per visit whether it is a perio maintenance visit (bool)."""
    n_h = len(owner)
    age_years = (day - people.birth[owner]) / 365.25
    child = age_years < CHILD_AGE_YEARS
    perio = people.perio[owner] & ~np_visit
    cleaning = np.where(child, cn["D1120"], np.where(perio, cn["D4910"], cn["D1110"]))
    idx = np.arange(n_h)
    bitewing = ~np_visit & (j % BITEWING_RHYTHM[0] == BITEWING_RHYTHM[1])
    blocks = [
        _block(idx, np.where(np_visit, cn["D0150"], cn["D0120"])),
        _block(idx, cleaning),
        _block(idx[np_visit], cn["D0210"]),
        _block(idx[bitewing], np.where(child[bitewing], cn["D0272"], cn["D0274"])),
        _block(idx[~np_visit & ~child & (j % PANORAMIC_RHYTHM[0] == PANORAMIC_RHYTHM[1])], cn["D0330"]),
        _block(idx[age_years < FLUORIDE_AGE_YEARS], cn["D1206"]),
    ]
    return _ProcBlock.concat(blocks), perio


def _place_hygiene_visits(ctx: Context, setup: Setup, people: People, rng: np.random.Generator,
                          owner: np.ndarray, np_visit: np.ndarray, perio: np.ndarray, procs: _ProcBlock,
                          day: np.ndarray) -> _Hygiene:
    """Hygiene visits placed on their hygienist's operatory (day, start minute, length in minutes), with
    their ApptStatus and AppointmentTypeNum."""
    child = (day - people.birth[owner]) / 365.25 < CHILD_AGE_YEARS
    minutes = np.where(np_visit, _round_minutes(_chair_minutes(setup, procs, len(owner)), *HYGIENE_MINUTES),
                       recall_visit_minutes(np.select([perio, child], ["perio", "child"], "prophy")))
    hyg = people.sec_prov[owner]
    day, start = pack(rng, setup.prov_op[hyg], day, minutes, op_minutes=setup.op_minutes)
    status = _status(rng, ctx, day, owner)
    apt_type = np.where(np_visit, setup.apt_type["new_patient"],
                        np.where(perio, setup.apt_type["perio_maint"], setup.apt_type["hygiene"]))
    return _Hygiene(pat=owner, is_new=np_visit, procs=procs, day=day, start=start, minutes=minutes, hyg=hyg,
                    status=status, apt_type=apt_type)


def recall_visit_minutes(recall_type: np.ndarray) -> np.ndarray:
    """Length in minutes of appointments booked for recalls of the given recall type keys (``reference.RECALL_TYPES``
    keys "prophy", "perio", "child"), as OpenDental's Appointments.FillAppointmentForRecall sets it: the recall
    type's TimePattern (Recalls.GetRecallTimePattern, with nothing appended: the special types' patterns are
    empty) converted to 5-minute characters by RecallTypes.ConvertTimePattern, one character per
    APPOINTMENT_TIME_INCREMENT minutes; not the sum of the procedures' times."""
    minutes = {key: len(pattern) * APPOINTMENT_TIME_INCREMENT for key, _d, _i, pattern, _p in ref.RECALL_TYPES}
    return np.array([minutes[k] for k in np.asarray(recall_type).tolist()], dtype=np.int64)


def _emergency_days(ctx: Context, setup: Setup, people: People, rng: np.random.Generator,
                    span: _Span) -> tuple[np.ndarray, np.ndarray]:
    """Emergency visits (Poisson, EMERGENCY_RATE a patient-year up to as_of): (patient index, day: the first
    day on or after the emergency that the patient's dentist works, at most as_of)."""
    e_end = np.minimum(span.end, ctx.as_of)
    years = np.where(people.end != NEVER, np.maximum(e_end - span.start, 0) / 365.25, 0.0)
    e_owner, _ = expand(rng.poisson(EMERGENCY_RATE * years))
    days = np.maximum(e_end[e_owner] - span.start[e_owner], 1)
    e_day = span.start[e_owner] + (rng.random(len(e_owner)) * days).astype(np.int64)
    e_day = business_day(np.maximum(weekday_near(rng, e_day), span.start[e_owner]))
    e_day = working_day(setup.op_minutes, setup.prov_op[people.pri_prov[e_owner]], e_day)
    ok = e_day <= ctx.as_of
    return e_owner[ok], e_day[ok]


def _emergency_procedures(rng: np.random.Generator, cn: dict[str, int], n_e: int) -> _ProcBlock:
    """Each emergency's procedures (owner = visit row): limited exam, periapical film(s), palliative care."""
    e_idx = np.arange(n_e)
    extra_pa = rng.random(n_e) < EXTRA_PA_RATE
    return _ProcBlock.concat([
        _block(e_idx, cn["D0140"]),
        _block(e_idx, cn["D0220"], tooth=_pick(rng, POSTERIOR, n_e)),
        _block(e_idx[extra_pa], cn["D0230"], tooth=_pick(rng, POSTERIOR, extra_pa.sum()),
               qty=rng.integers(*EXTRA_PA_COUNT, size=extra_pa.sum())),
        _block(e_idx[rng.random(n_e) < PALLIATIVE_RATE], cn["D9110"]),
    ])


def _place_emergencies(setup: Setup, people: People, rng: np.random.Generator, owner: np.ndarray,
                       day: np.ndarray, procs: _ProcBlock) -> _Emergencies:
    """Emergency visits placed on their dentist's operatory (day, start minute, length in minutes)."""
    minutes = _round_minutes(_chair_minutes(setup, procs, len(owner)), *EMERGENCY_MINUTES)
    prov = people.pri_prov[owner]
    day, start = pack(rng, setup.prov_op[prov], day, minutes, op_minutes=setup.op_minutes)
    return _Emergencies(pat=owner, procs=procs, day=day, start=start, minutes=minutes, prov=prov)


def _treatment_sources(hyg: _Hygiene, emerg: _Emergencies) -> _Sources:
    """The visits treatment is found at: the completed hygiene visits, then the emergencies."""
    done = np.flatnonzero(hyg.status == APT["Complete"])
    n_e = len(emerg.pat)
    return _Sources(pat=np.concatenate([hyg.pat[done], emerg.pat]),
                    day=np.concatenate([hyg.day[done], emerg.day]),
                    end=np.concatenate([hyg.start[done] + hyg.minutes[done], emerg.start + emerg.minutes]),
                    is_new=np.concatenate([hyg.is_new[done], np.zeros(n_e, dtype=bool)]),
                    emerg=np.concatenate([np.zeros(len(done), dtype=bool), np.ones(n_e, dtype=bool)]))


def _treatment_items(rng: np.random.Generator, cn: dict[str, int], people: People, src: _Sources) -> _Items:
    """The treatment items found at each source visit: how many, their kind (by age and kind of visit) and
    their procedures."""
    n_src = len(src.pat)
    n_items = np.select(
        [src.emerg, src.is_new],
        [rng.choice(len(EMERGENCY_ITEM_COUNT_P), p=EMERGENCY_ITEM_COUNT_P, size=n_src),
         rng.choice(len(NEW_PATIENT_ITEM_COUNT_P), p=NEW_PATIENT_ITEM_COUNT_P, size=n_src)],
        rng.choice(len(RECALL_ITEM_COUNT_P), p=RECALL_ITEM_COUNT_P, size=n_src))
    it_src, it_rank = expand(n_items)
    n_it = len(it_src)
    it_pat = src.pat[it_src]
    it_age = (src.day[it_src] - people.birth[it_pat]) / 365.25
    it_child = it_age < CHILD_AGE_YEARS
    it_emerg = src.emerg[it_src]
    kind = np.where(
        it_emerg,
        np.where(it_child, _pick(rng, EMERGENCY_CHILD_KINDS, n_it),
                 _pick_weighted(rng, EMERGENCY_ADULT_KIND_WEIGHTS, n_it)),
        np.where(it_child, _pick_weighted(rng, CHILD_KIND_WEIGHTS, n_it),
                 _pick_weighted(rng, ADULT_KIND_WEIGHTS, n_it)))
    kind = np.where((kind == SRP) & people.perio[it_pat], FILL, kind)
    kind = np.where((kind == DENTURE) & (it_age < DENTURE_MIN_AGE_YEARS), CROWN, kind)
    kind = np.where(src.is_new[it_src] & ~it_child & ~it_emerg & (kind == FILL)
                    & (rng.random(n_it) < NEW_PATIENT_SRP_RATE), SRP, kind)
    return _Items(src=it_src, rank=it_rank, pat=it_pat, emerg=it_emerg, kind=kind,
                  procs=_item_procedures(rng, cn, kind))


def _dispositions(ctx: Context, setup: Setup, people: People, rng: np.random.Generator, items: _Items,
                  src: _Sources, span: _Span) -> _Dispositions:
    """Each item referred out, accepted (and booked while still a patient, before the horizon), put on a
    planned appointment or left treatment-planned; the day it would be booked (one the patient's dentist
    works); its chair minutes."""
    cn = setup.code_num
    n_it = len(items.pat)
    first_code = np.zeros(n_it, dtype=np.int64)  # the first procedure of each item
    first_row = group_firsts(items.procs.owner)
    first_code[items.procs.owner[first_row]] = items.procs.code[first_row]
    u = rng.random(n_it)
    referred = (((first_code == cn["D3330"]) & (u < REFER_MOLAR_RCT_RATE))
                | ((first_code == cn["D7240"]) & (u < REFER_IMPACTION_RATE))
                | ((items.kind == IMPLANT) & (u < REFER_IMPLANT_RATE)))
    accept_p = np.where(items.emerg, ACCEPT_RATE_EMERGENCY,
                        np.where(src.is_new[items.src], ACCEPT_RATE_NEW_PATIENT, ACCEPT_RATE_RECALL))
    accepted = ~referred & (rng.random(n_it) < accept_p)
    lag = (np.where(items.emerg, rng.integers(*EMERGENCY_TX_LAG_DAYS, size=n_it),
                    rng.integers(*TX_LAG_DAYS, size=n_it)) + TX_LAG_PER_ITEM_DAYS * items.rank)
    found = src.day[items.src]
    book_day = business_day(np.maximum(weekday_near(rng, found + lag), found + 1))
    book_day = working_day(setup.op_minutes, setup.prov_op[people.pri_prov[items.pat]], book_day)
    accepted &= (book_day <= ctx.horizon - BOOKING_CUTOFF_DAYS) & (book_day <= span.end[items.pat])
    planned = ~referred & ~accepted & (rng.random(n_it) < PLANNED_RATE)
    return _Dispositions(referred=referred, accepted=accepted, planned=planned, book_day=book_day,
                         minutes=_chair_minutes(setup, items.procs, n_it))


def _place_dentist_visits(ctx: Context, setup: Setup, people: People, rng: np.random.Generator,
                          emerg: _Emergencies, items: _Items, disp: _Dispositions) -> tuple[np.ndarray, _Restorative]:
    """One appointment per accepted item, packed with the emergencies (placed first) on the dentists'
    operatories: (the emergencies' start minutes as re-placed, the restorative appointments)."""
    r_items = np.flatnonzero(disp.accepted)
    n_e, n_r = len(emerg.pat), len(r_items)
    r_pat = items.pat[r_items]
    r_minutes = _round_minutes(disp.minutes[r_items], *RESTORATIVE_MINUTES)
    d_op = setup.prov_op[np.concatenate([emerg.prov, people.pri_prov[r_pat]])]
    d_day, d_start = pack(rng, d_op, np.concatenate([emerg.day, disp.book_day[r_items]]),
                          np.concatenate([emerg.minutes, r_minutes]),
                          pinned=np.concatenate([np.ones(n_e, dtype=bool), np.zeros(n_r, dtype=bool)]),
                          op_minutes=setup.op_minutes)
    r_day, r_start = d_day[n_e:], d_start[n_e:]
    r_status = _status(rng, ctx, r_day, r_pat)
    return d_start[:n_e], _Restorative(items=r_items, pat=r_pat, day=r_day, start=r_start, minutes=r_minutes,
                                       status=r_status)


def _appointment_created(ctx: Context, people: People, rng: np.random.Generator, hyg: _Hygiene,
                         emerg: _Emergencies, src: _Sources, items: _Items, rest: _Restorative,
                         p_items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SecDateTEntry (seconds) of every appointment in internal order, and the day each hygiene visit was
    booked: hygiene visits 1-26 weeks ahead (not before the patient existed), emergencies the same morning,
    restorative and planned ones at the end of the visit that found the treatment."""
    n_h, n_e, n_r, n_p = len(hyg.pat), len(emerg.pat), len(rest.items), len(p_items)
    lead = rng.integers(*HYGIENE_BOOKING_LEAD_DAYS, size=n_h)
    booked = np.clip(hyg.day - lead, people.entry[hyg.pat], np.minimum(hyg.day, ctx.as_of))
    r_src, p_src = items.src[rest.items], items.src[p_items]
    created = np.concatenate([
        np.where(booked == hyg.day, ts(hyg.day, rng.integers(*MORNING_ENTRY_SECONDS, size=n_h)),
                 ctx.clock(booked)),
        ts(emerg.day, rng.integers(*MORNING_ENTRY_SECONDS, size=n_e)),
        ts(src.day[r_src], src.end[r_src] * 60 + rng.integers(*TX_ENTRY_DELAY_SECONDS, size=n_r)),
        ts(src.day[p_src], src.end[p_src] * 60 + rng.integers(*TX_ENTRY_DELAY_SECONDS, size=n_p)),
    ])
    return ctx.stamp(created), booked


def _all_appointments(setup: Setup, people: People, hyg: _Hygiene, emerg: _Emergencies, e_start: np.ndarray,
                      src: _Sources, items: _Items, disp: _Dispositions, rest: _Restorative, p_items: np.ndarray,
                      created: np.ndarray) -> _Apts:
    """Every appointment: hygiene, emergency, restorative, planned (at the end of the visit that found the
    treatment); AptNum in order of creation, as OpenDental's auto-increment would."""
    n_h, n_e, n_r, n_p = len(hyg.pat), len(emerg.pat), len(rest.items), len(p_items)
    p_src = items.src[p_items]
    seg = np.concatenate([np.full(n_h, _HYGIENE), np.full(n_e, _EMERGENCY), np.full(n_r, _RESTORATIVE),
                          np.full(n_p, _PLANNED)])
    pat = np.concatenate([hyg.pat, emerg.pat, rest.pat, items.pat[p_items]])
    prov = people.pri_prov[pat]
    hyg_prov = np.concatenate([hyg.hyg, np.zeros(n_e + n_r + n_p, dtype=np.int64)])
    kind_type = np.array([setup.apt_type[KIND_APT_TYPE[k]] for k in range(10)])
    order = key_order(created, np.arange(len(pat)))
    return _Apts(
        seg=seg, pat=pat, prov=prov, hyg=hyg_prov, created=created, order=order, num=primary_keys(order),
        day=np.concatenate([hyg.day, emerg.day, rest.day, src.day[p_src]]),
        start=np.concatenate([hyg.start, e_start, rest.start, src.end[p_src]]),
        minutes=np.concatenate([hyg.minutes, emerg.minutes, rest.minutes,
                                _round_minutes(disp.minutes[p_items], *RESTORATIVE_MINUTES)]),
        status=np.concatenate([hyg.status, np.full(n_e, APT["Complete"]), rest.status,
                               np.full(n_p, APT["Planned"])]),
        op=np.where(seg == _HYGIENE, setup.prov_op[hyg_prov], np.where(seg == _PLANNED, 0, setup.prov_op[prov])),
        apt_type=np.concatenate([hyg.apt_type, np.full(n_e, setup.apt_type["emergency"]),
                                 kind_type[items.kind[rest.items]], kind_type[items.kind[p_items]]]),
        is_new=np.concatenate([hyg.is_new, np.zeros(n_e + n_r + n_p, dtype=bool)]))


def _proc_rows(block: _ProcBlock, pat, apt, status, date, date_tp, created, planned=0, priority=0,
               referred_to=-1, from_apt=0) -> _ProcRows:
    """Procedure columns of ``block``'s procedures; scalars are repeated for every row."""
    n = len(block.code)

    def full(x):
        return np.broadcast_to(np.asarray(x, dtype=np.int64), (n,))

    return _ProcRows(pat=full(pat), apt=full(apt), planned=full(planned), code=block.code, tooth=block.tooth,
                     surf=block.surf, qty=block.qty, base=block.base, status=full(status), date=full(date),
                     date_tp=full(date_tp), created=full(created), priority=full(priority),
                     referred_to=full(referred_to), from_apt=full(from_apt))


def _hygiene_proc_rows(hyg: _Hygiene, apts: _Apts, booked: np.ndarray) -> _ProcRows:
    """The hygiene visits' procedures: completed with a completed visit, else treatment-planned (on the day
    the visit was booked), entered with their appointment."""
    o = hyg.procs.owner
    num, created = apts.of(_HYGIENE)
    status = np.where(hyg.status == APT["Complete"], PROC["C"], PROC["TP"])
    return _proc_rows(hyg.procs, pat=hyg.pat[o], apt=num[o], status=status[o], date=hyg.day[o],
                      date_tp=booked[o], created=created[o])


def _emergency_proc_rows(emerg: _Emergencies, apts: _Apts) -> _ProcRows:
    """The emergencies' procedures, completed and entered with their appointment."""
    o = emerg.procs.owner
    num, created = apts.of(_EMERGENCY)
    return _proc_rows(emerg.procs, pat=emerg.pat[o], apt=num[o], status=PROC["C"], date=emerg.day[o],
                      date_tp=emerg.day[o], created=created[o])


def _item_proc_rows(ctx: Context, setup: Setup, rng: np.random.Generator, src: _Sources, items: _Items,
                    disp: _Dispositions, rest: _Restorative, p_items: np.ndarray, apts: _Apts) -> _ProcRows:
    """The treatment items' procedures: referred (R), completed with a completed appointment (C, on its day),
    else treatment-planned (TP) on the day found; entered at the end of that visit; Priority by kind."""
    n_it = len(items.pat)
    it_apt = np.zeros(n_it, dtype=np.int64)
    it_apt[rest.items] = apts.of(_RESTORATIVE)[0]
    it_planned = np.zeros(n_it, dtype=np.int64)
    it_planned[p_items] = apts.of(_PLANNED)[0]
    it_status = np.full(n_it, PROC["TP"])
    it_status[disp.referred] = PROC["R"]
    it_rstatus = np.zeros(n_it, dtype=np.int64)
    it_rstatus[rest.items] = rest.status
    it_status[disp.accepted & (it_rstatus == APT["Complete"])] = PROC["C"]
    found = src.day[items.src]
    it_date = found.copy()
    it_date[rest.items] = rest.day  # attached procedures carry their appointment's date
    it_created = ts(found, src.end[items.src] * 60 + rng.integers(*TX_ENTRY_DELAY_SECONDS, size=n_it))
    it_priority = np.select(
        [items.emerg, np.isin(items.kind, [CROWN, RCT, EXT, SRP]),
         np.isin(items.kind, [GUARD, BLEACH, DENTURE, IMPLANT])],
        [setup.defs[("TxPriorities", "urgent")], setup.defs[("TxPriorities", "soon")],
         setup.defs[("TxPriorities", "elective")]], 0)
    o = items.procs.owner
    return _proc_rows(items.procs, pat=items.pat[o], apt=it_apt[o], planned=it_planned[o], status=it_status[o],
                      date=it_date[o], date_tp=found[o], created=it_created[o], priority=it_priority[o],
                      referred_to=np.where(it_status[o] == PROC["R"], np.where(items.kind[o] == RCT, 0, 1), -1))


def _existing_restorations(rng: np.random.Generator, cn: dict[str, int], hyg: _Hygiene) -> _ProcRows:
    """Existing restorations (ProcStatus EC, on a posterior tooth) charted at completed new-patient visits."""
    np_done = np.flatnonzero(hyg.is_new & (hyg.status == APT["Complete"]))
    count = np.where(rng.random(len(np_done)) < EXISTING_RESTORATION_RATE,
                     rng.integers(*EXISTING_RESTORATION_COUNT, size=len(np_done)), 0)
    visit, _ = expand(count)
    visit = np_done[visit]
    n_ec = len(visit)
    code = _pick_weighted(rng, EXISTING_RESTORATION_WEIGHTS, n_ec, value=cn.__getitem__)
    surf = np.where(code == cn["D2391"], _SURF["O"], np.where(np.isin(code, [cn["D2392"], cn["D2140"]]),
                                                              _SURF["MO"], 0))
    block = _block(visit, code, tooth=_pick(rng, POSTERIOR, n_ec), surf=surf)
    return _proc_rows(block, pat=hyg.pat[visit], apt=0, status=PROC["EC"], date=hyg.day[visit],
                      date_tp=hyg.day[visit], created=ts(hyg.day[visit], hyg.start[visit] * 60
                                                         + EXISTING_ENTRY_SECONDS))


def _breaks(ctx: Context, apts: _Apts) -> Breaks:
    """``broken_appointments`` of every appointment, in AptNum order (as the appointment table holds them)."""
    o = apts.order
    return broken_appointments(ctx, apts.status[o], ts(apts.day[o], apts.start[o] * 60), apts.created[o])


def _broken_procedures(cn: dict[str, int], apts: _Apts, breaks: Breaks) -> _ProcRows:
    """The procedure AppointmentL.BreakApptHelper charts when an appointment is broken: D9986 (Missed) or
    D9987 (Cancelled), ProcStatus C, ProcDate = DateTP = the day it was broken (DateTime.Today), attached to
    no appointment (AptNum 0), entered at that moment; its provider is the appointment's (``from_apt``)."""
    code = np.where(breaks.missed, cn[ref.BROKEN_MISSED_CODE], cn[ref.BROKEN_CANCELLED_CODE])
    day = breaks.moment // DAY
    return _proc_rows(_block(np.arange(len(code)), code), pat=apts.pat[apts.order[breaks.rows]], apt=0,
                      status=PROC["C"], date=day, date_tp=day, created=breaks.moment, from_apt=breaks.rows + 1)


def _with_deleted_copies(ctx: Context, rng: np.random.Generator, rows: _ProcRows) -> _ProcRows:
    """Adds a deleted copy (ProcStatus D, entered a minute later) of a few completed procedures that were
    entered twice (not the broken appointments' D9986/D9987, which BreakApptHelper charts itself), clamps
    SecDateEntry and returns the rows in ProcNum order (of entry)."""
    dup = np.flatnonzero((rows.status == PROC["C"]) & (rows.from_apt == 0)
                         & (rng.random(len(rows.status)) < DELETED_COPY_RATE))
    copy = rows.take(dup)
    copy.status[:] = PROC["D"]
    copy.apt[:] = 0
    copy.planned[:] = 0
    copy.created[:] += DELETED_COPY_DELAY_SECONDS
    copy.referred_to[:] = -1
    rows = _ProcRows.concat([rows, copy])
    rows = replace(rows, created=ctx.stamp(rows.created))
    return rows.take(key_order(rows.created, np.arange(len(rows.created))))


def _proc_providers(setup: Setup, people: People, p: _ProcRows, apts: _Apts) -> np.ndarray:
    """ProvNum of each procedure (no code has a ProvNumDefault):

    - on an appointment (AptNum), OpenDental's Procedures.GetProvNumFromAppointment: the appointment's
      hygienist (ProvHyg) for a hygiene code when the appointment has one, else the appointment's
      ProvNum (``else if(apt.ProvHyg==0 || !procCode.IsHygiene) provNum=apt.ProvNum``), so a sealant on a
      dentist's appointment is the dentist's;
    - charted from an appointment it is not attached to (``_ProcRows.from_apt``, a broken appointment's
      D9986/D9987): that appointment's ProvNum (AppointmentL.BreakApptHelper);
    - on none: the chart's default, the patient's secondary provider (hygienist) for a hygiene code when
      the patient has one, else the primary provider (FormApptProcs, HL7 MessageParser)."""
    apt_prov_by_num = np.zeros(len(apts.pat) + 1, dtype=np.int64)
    apt_prov_by_num[apts.num] = apts.prov
    apt_hyg_by_num = np.zeros(len(apts.pat) + 1, dtype=np.int64)
    apt_hyg_by_num[apts.num] = apts.hyg
    hygiene = setup.code_hygiene[p.code]
    sec = people.sec_prov[p.pat]
    chart_default = np.where(hygiene & (sec > 0), sec, people.pri_prov[p.pat])
    on_apt = np.where(hygiene & (apt_hyg_by_num[p.apt] > 0), apt_hyg_by_num[p.apt], apt_prov_by_num[p.apt])
    return np.select([p.apt > 0, p.from_apt > 0], [on_apt, apt_prov_by_num[p.from_apt]], chart_default)


def _proc_times(p: _ProcRows, apts: _Apts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ProcTime, ProcTimeEnd) in seconds of the day (the appointment's, for completed attached procedures,
    else 0) and the DateTStamp before clamping (seconds): completion, else entry (deletion an hour later)."""
    a_of = np.zeros(len(apts.pat) + 1, dtype=np.int64)
    a_of[apts.num] = np.arange(len(apts.pat))
    attached = p.apt > 0
    ai = a_of[p.apt]
    done = p.status == PROC["C"]
    start_sec = np.where(done & attached, apts.start[ai] * 60, 0)
    end_sec = np.where(done & attached, (apts.start[ai] + apts.minutes[ai]) * 60, 0)
    completed_ts = ts(p.date, np.where(attached, (apts.start[ai] + apts.minutes[ai]) * 60, DAY_END_SECOND))
    # a broken appointment's D9986/D9987 was last edited when it was charted
    stamp = np.where(done & (p.from_apt == 0), completed_ts,
                     p.created + np.where(p.status == PROC["D"], DELETED_AFTER_SECONDS, 0))
    return start_sec, end_sec, stamp


def _procedure_table(ctx: Context, setup: Setup, people: People, rng: np.random.Generator, p: _ProcRows,
                     apts: _Apts) -> Procedures:
    """Records the procedurelog table (rows in ProcNum order) and returns its rows (fees in cents)."""
    n_proc = len(p.pat)
    prov = _proc_providers(setup, people, p, apts)
    units = p.qty + p.base
    fee = _proc_fees(ctx, setup, people, p.pat, p.code)
    fee[p.status == PROC["EC"]] = 0
    broken = p.from_apt > 0  # D9986/D9987 of a broken appointment: the fee BreakApptHelper looks up
    fee[broken] = broken_procedure_fee(setup.fee, people.fee_sched[p.pat[broken]], ref.FEE_STANDARD,
                                       setup.plan_feesched[people.plan[p.pat[broken]]] > 0, p.code[broken])
    done = p.status == PROC["C"]
    start_sec, end_sec, stamp = _proc_times(p, apts)
    prosth = np.isin(p.code, [setup.code_num[c.code] for c in ref.CODES if c.prosth])
    replacement = prosth & (rng.random(n_proc) < PROSTH_REPLACEMENT_RATE)
    clinic = people.clinic[p.pat]
    tooth_str = pc.if_else(pa.array(p.tooth > 0), pa.array(p.tooth).cast(pa.string()), "")
    ctx.put("procedurelog", n_proc, {
        "ProcNum": np.arange(1, n_proc + 1),
        "PatNum": p.pat + 1,
        "AptNum": p.apt,
        "ProcDate": p.date,
        "ProcFee": fee / 100.0,
        "Surf": strings(SURFS, p.surf),
        "ToothNum": tooth_str,
        "Priority": p.priority,
        "ProcStatus": p.status,
        "ProvNum": prov,
        "PlannedAptNum": p.planned,
        "Prosthesis": np.where(prosth, np.where(replacement, "R", "I"), ""),
        "DateOriginalProsth": np.where(replacement, p.date - rng.integers(*ORIGINAL_PROSTH_AGE_DAYS, size=n_proc),
                                       ZERO_DAY),
        "DateEntryC": np.where(done, p.date, p.created // DAY),
        "ClinicNum": clinic,
        "CodeNum": p.code,
        "UnitQty": p.qty,
        "BaseUnits": p.base,
        "DateTP": p.date_tp,
        "ProcTime": start_sec,
        "ProcTimeEnd": end_sec,
        "DateTStamp": ctx.stamp(stamp),
        "IcdVersion": 10,
        # the user who entered it: the provider's, the front desk's who broke an appointment (Procedures.Insert)
        "SecUserNumEntry": np.where(broken, setup.frontdesk_user[clinic], setup.prov_user[prov]),
        "SecDateEntry": p.created,
        "DateComplete": np.where(done, p.date, ZERO_DAY),
    })
    return Procedures(pat=p.pat + 1, apt=p.apt, code=p.code, status=p.status, date=p.date, fee=fee, units=units,
                      prov=prov, clinic=clinic, created=p.created, tooth=p.tooth, referred_to=p.referred_to)


def _proc_fees(ctx: Context, setup: Setup, people: People, pat: np.ndarray, code: np.ndarray) -> np.ndarray:
    """ProcFee in cents: the patient's fee schedule (else the provider's, Standard); a share
    ``1 - fee_match_rate`` differs (older or negotiated fees), by a factor in FEE_DRIFT, in whole dollars."""
    rng = ctx.rng
    sched = np.where(people.fee_sched[pat] > 0, people.fee_sched[pat], ref.FEE_STANDARD)
    fee = setup.fee[sched, code].copy()
    off = rng.random(len(fee)) >= ctx.config.fee_match_rate
    factor = rng.uniform(*FEE_DRIFT, size=len(fee))
    changed = np.rint(fee * factor / 100).astype(np.int64) * 100
    changed = np.where(changed == fee, fee + FEE_NUDGE_CENTS, changed)
    return np.where(off, changed, fee)


def _item_procedures(rng: np.random.Generator, cn: dict[str, int], kind: np.ndarray) -> _ProcBlock:
    """The procedures of each treatment item (owner = item index), in item order."""
    items = np.arange(len(kind))
    blocks = [_fillings(rng, cn, items[kind == FILL]), _sealants(rng, cn, items[kind == SEAL]),
              *_crowns(rng, cn, items[kind == CROWN]), _root_canals(rng, cn, items[kind == RCT]),
              _scalings(rng, cn, items[kind == SRP]), *_extractions(rng, cn, items[kind == EXT])]
    ii = items[kind == IMPLANT]
    blocks.append(_block(ii, cn["D6010"], tooth=_pick(rng, POSTERIOR, len(ii))))
    gi = items[kind == GUARD]
    blocks.append(_block(gi, cn["D9944"], surf=_pick(rng, [_SURF["U"], _SURF["L"]], len(gi))))
    di = items[kind == DENTURE]
    blocks.append(_block(di, _pick(rng, [cn["D5110"], cn["D5213"]], len(di)), surf=_SURF["U"]))
    bi = items[kind == BLEACH]
    blocks.append(_block(np.repeat(bi, 2), cn["D9972"], surf=np.tile([_SURF["U"], _SURF["L"]], len(bi))))
    out = _ProcBlock.concat(blocks)
    order = np.argsort(out.owner, kind="stable")
    return _ProcBlock(*(getattr(out, f)[order] for f in ("owner", "code", "tooth", "surf", "qty", "base")))


def _fillings(rng: np.random.Generator, cn: dict[str, int], fi: np.ndarray) -> _ProcBlock:
    """One filling per item ``fi``: code by FILLINGS, surfaces and a tooth to match (anterior or posterior)."""
    codes = np.array([cn[c] for c, _, _, _ in FILLINGS])
    nsurf = np.array([s for _, s, _, _ in FILLINGS])
    anterior = np.array([a for _, _, a, _ in FILLINGS])
    which = rng.choice(len(FILLINGS), size=len(fi), p=np.array([pct for _, _, _, pct in FILLINGS]) / 100)
    post_surfs = {1: ["O", "B", "L"], 2: ["MO", "DO", "OL", "OB"], 3: ["MOD", "MOB", "DOL"]}
    ant_surfs = {1: ["F", "L", "M", "D"], 2: ["MF", "DF", "ML", "DL"]}
    surf = np.zeros(len(fi), dtype=np.int64)
    for k in (1, 2, 3):
        for is_ant, table in ((False, post_surfs), (True, ant_surfs)):
            if k not in table:
                continue
            m = (nsurf[which] == k) & (anterior[which] == is_ant)
            surf[m] = _pick(rng, [_SURF[s] for s in table[k]], m.sum())
    tooth = np.where(anterior[which], _pick(rng, ANTERIOR, len(fi)), _pick(rng, POSTERIOR, len(fi)))
    return _block(fi, codes[which], tooth=tooth, surf=surf)


def _sealants(rng: np.random.Generator, cn: dict[str, int], si: np.ndarray) -> _ProcBlock:
    """SEALANT_COUNT sealants (D1351) per item ``si``, on distinct molars."""
    most = SEALANT_COUNT[1] - 1
    n_seal = rng.integers(*SEALANT_COUNT, size=len(si))
    teeth = np.argsort(rng.random((len(si), len(SEALANT_TEETH))), axis=1)[:, :most]
    rows, col = np.nonzero(np.arange(most)[None, :] < n_seal[:, None])
    return _block(si[rows], cn["D1351"], tooth=SEALANT_TEETH[teeth[rows, col]])


def _crowns(rng: np.random.Generator, cn: dict[str, int], ci: np.ndarray) -> tuple[_ProcBlock, _ProcBlock]:
    """A crown per item ``ci`` (ceramic or PFM) on a posterior tooth, and the core buildups of some."""
    tooth = _pick(rng, POSTERIOR, len(ci))
    crown = _block(ci, np.where(rng.random(len(ci)) < CERAMIC_CROWN_RATE, cn["D2740"], cn["D2750"]), tooth=tooth)
    bu = rng.random(len(ci)) < BUILDUP_RATE
    return crown, _block(ci[bu], cn["D2950"], tooth=tooth[bu])


def _root_canals(rng: np.random.Generator, cn: dict[str, int], ri: np.ndarray) -> _ProcBlock:
    """A root canal per item ``ri`` on an anterior, premolar or molar tooth (RCT_TOOTH_P)."""
    kind_tooth = rng.choice(len(RCT_TOOTH_P), size=len(ri), p=list(RCT_TOOTH_P))
    tooth = np.select([kind_tooth == 0, kind_tooth == 1], [_pick(rng, ANTERIOR, len(ri)),
                                                           _pick(rng, PREMOLARS, len(ri))],
                      _pick(rng, MOLARS, len(ri)))
    return _block(ri, np.array([cn["D3310"], cn["D3320"], cn["D3330"]])[kind_tooth], tooth=tooth)


def _scalings(rng: np.random.Generator, cn: dict[str, int], pi: np.ndarray) -> _ProcBlock:
    """Scaling and root planing per item ``pi``: one procedure per quadrant (Surf UR/UL/LR/LL), 4 or 2 of them."""
    n_quads = np.where(rng.random(len(pi)) < FULL_MOUTH_SRP_RATE, 4, 2)
    quads = np.argsort(rng.random((len(pi), 4)), axis=1)
    rows, col = np.nonzero(np.arange(4)[None, :] < n_quads[:, None])
    srp_code = np.where(rng.random(len(pi)) < SRP_4PLUS_RATE, cn["D4341"], cn["D4342"])
    return _block(pi[rows], srp_code[rows], surf=np.array([_SURF[q] for q in ("UR", "UL", "LR", "LL")])[
        quads[rows, col]])


def _extractions(rng: np.random.Generator, cn: dict[str, int], xi: np.ndarray) -> tuple[_ProcBlock, _ProcBlock]:
    """An extraction per item ``xi`` (simple, surgical or impacted wisdom tooth) and the IV sedation of some
    surgical ones."""
    ext = rng.choice(len(EXTRACTION_P), size=len(xi), p=list(EXTRACTION_P))
    tooth = np.where(ext == 2, _pick(rng, WISDOM, len(xi)), _pick(rng, POSTERIOR, len(xi)))
    extraction = _block(xi, np.array([cn["D7140"], cn["D7210"], cn["D7240"]])[ext], tooth=tooth)
    sed = (ext > 0) & (rng.random(len(xi)) < SEDATION_RATE)
    return extraction, _block(xi[sed], cn["D9243"], qty=rng.integers(*SEDATION_UNITS, size=sed.sum()), base=1)


def _appointment_table(ctx: Context, setup: Setup, people: People, rng: np.random.Generator, apts: _Apts,
                       p: _ProcRows, breaks: Breaks) -> Appointments:
    """Records the appointment table (rows in AptNum order) and returns its rows (with the day each broken
    one was broken, ``breaks``)."""
    rows = apts.order  # internal indices in AptNum order
    n = len(rows)
    pat, status, day = apts.pat[rows], apts.status[rows], apts.day[rows]
    start, minutes = apts.start[rows], apts.minutes[rows]
    start_ts = ts(day, start * 60)
    end_ts = start_ts + minutes * 60
    done = status == APT["Complete"]
    broken = np.isin(status, [APT["Broken"], APT["UnschedList"]])
    sched = status == APT["Scheduled"]
    confirmed, unsched = _confirmations(ctx, setup, rng, status, day, done, broken, sched)
    cre = apts.created[rows]
    arrived = start_ts - rng.integers(*ARRIVED_EARLY_MINUTES, size=n) * 60
    seated = start_ts + rng.integers(*SEATED_LATE_MINUTES, size=n) * 60
    dismissed = end_ts + rng.integers(*DISMISSED_LATE_MINUTES, size=n) * 60
    stamp = np.select([done, broken, sched], [dismissed, start_ts + BROKEN_MARKED_SECONDS,
                                              np.maximum(cre, ctx.clock(np.full(n, ctx.as_of)) - rng.integers(
                                                  *REMINDED_DAYS, size=n) * DAY)], cre)
    ctx.put("appointment", n, {
        "AptNum": np.arange(1, n + 1),
        "PatNum": pat + 1,
        "AptStatus": status,
        "Pattern": _patterns(minutes),
        "Confirmed": confirmed,
        "Op": apts.op[rows],
        "ProvNum": apts.prov[rows],
        "ProvHyg": apts.hyg[rows],
        "AptDateTime": start_ts,
        "UnschedStatus": unsched,
        "IsNewPatient": apts.is_new[rows].astype(np.int64),
        "ProcDescript": _proc_descriptions(setup, p, n),
        "ClinicNum": people.clinic[pat],
        "IsHygiene": (apts.seg[rows] == _HYGIENE).astype(np.int64),
        "DateTStamp": ctx.stamp(stamp),
        "DateTimeArrived": np.where(done, arrived, ZERO_DAY * DAY),
        "DateTimeSeated": np.where(done, seated, ZERO_DAY * DAY),
        "DateTimeDismissed": np.where(done, dismissed, ZERO_DAY * DAY),
        "InsPlan1": people.plan[pat],
        "AppointmentTypeNum": apts.apt_type[rows],
        "SecUserNumEntry": setup.frontdesk_user[people.clinic[pat]],
        "SecDateTEntry": cre,
        "ItemOrderPlanned": _planned_order(status, pat),
    })
    break_day = np.full(n, ZERO_DAY, dtype=np.int64)
    break_day[breaks.rows] = breaks.moment // DAY
    return Appointments(pat=pat + 1, status=status, date=day, start=start, minutes=minutes, prov=apts.prov[rows],
                        clinic=people.clinic[pat], is_new=apts.is_new[rows], created=cre, break_day=break_day)


def _confirmations(ctx: Context, setup: Setup, rng: np.random.Generator, status: np.ndarray, day: np.ndarray,
                   done: np.ndarray, broken: np.ndarray, sched: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confirmed and UnschedStatus (DefNums, 0 none) of each appointment by its status and how soon it is."""
    n = len(status)
    d = setup.defs
    soon = (day - ctx.as_of) <= CONFIRM_WINDOW_DAYS

    def confirm(k):
        return d[("ApptConfirmed", k)]

    confirmed = np.select(
        [done, broken, sched & soon, sched, status == APT["Planned"]],
        [confirm("arrived"),
         _pick(rng, [confirm(k) for k in BROKEN_CONFIRMED], n),
         _pick_weighted(rng, SOON_CONFIRMED_WEIGHTS, n, value=confirm),
         _pick_weighted(rng, LATER_CONFIRMED_WEIGHTS, n, value=confirm),
         confirm("not_called")], 0)
    unsched = np.where(status == APT["UnschedList"],
                       _pick(rng, [d[("RecallUnschedStatus", k)] for k in UNSCHED_STATUSES], n), 0)
    return confirmed, unsched


def _proc_descriptions(setup: Setup, p: _ProcRows, n: int) -> pa.Array:
    """ProcDescript of each of the ``n`` appointments (by AptNum): the abbreviations of the attached (or
    planned) procedures, in ProcNum order, joined by ", "."""
    link = np.where(p.apt > 0, p.apt, p.planned)
    has = link > 0
    order = np.argsort(link[has], kind="stable")
    linked_apt = link[has][order]
    abbr = strings(setup.code_abbr, p.code[has][order])
    counts = np.bincount(linked_apt, minlength=n + 1)[1:]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), abbr), ", ")


def _planned_order(status: np.ndarray, pat: np.ndarray) -> np.ndarray:
    """ItemOrderPlanned: 1, 2, ... over each patient's planned appointments (in AptNum order), else 0."""
    order_planned = np.zeros(len(status), dtype=np.int64)
    planned = status == APT["Planned"]
    if planned.any():
        pl = np.flatnonzero(planned)
        by_pat = pl[np.argsort(pat[pl], kind="stable")]
        order_planned[by_pat] = rank_within(pat[by_pat]) + 1
    return order_planned


def _patterns(minutes: np.ndarray) -> pa.Array:
    uniq, inverse = dense_codes(minutes, int(minutes.max(initial=0)) + 1)
    return strings([time_pattern(int(m)) for m in uniq], inverse)


def _first_visits(ctx: Context, people: People, span: _Span, apts: _Apts) -> None:
    """patient.DateFirstVisit of the patients who joined during the simulated years (their first completed
    appointment, else none), and patient.DateTStamp moved to the end of their last completed one."""
    pv = people.patient_values
    done_apt = apts.status == APT["Complete"]
    first_done = np.full(people.n, np.iinfo(np.int64).max)
    np.minimum.at(first_done, apts.pat[done_apt], apts.day[done_apt])
    last_done_ts = np.full(people.n, np.iinfo(np.int64).min)
    np.maximum.at(last_done_ts, apts.pat[done_apt], ts(apts.day[done_apt],
                                                       (apts.start[done_apt] + apts.minutes[done_apt]) * 60))
    visited = first_done < np.iinfo(np.int64).max
    pv["DateFirstVisit"] = np.where(span.new, np.where(visited, first_done, ZERO_DAY), pv["DateFirstVisit"])
    pv["DateTStamp"] = ctx.stamp(np.maximum(pv["DateTStamp"], last_done_ts))


def _recalls(ctx: Context, setup: Setup, people: People, rng: np.random.Generator, hyg: _Hygiene) -> None:
    """One recall per active patient: due RECALL_MONTHS after the last completed hygiene visit (else on entry);
    records the recall table."""
    status_code = enum_codes("PatientStatus")
    pats = np.flatnonzero(people.status == status_code["Patient"])
    n = len(pats)
    done = hyg.status == APT["Complete"]
    last = np.full(people.n, ZERO_DAY, dtype=np.int64)
    np.maximum.at(last, hyg.pat[done], hyg.day[done])
    booked = np.full(people.n, ZERO_DAY, dtype=np.int64)
    fut = hyg.status == APT["Scheduled"]
    np.maximum.at(booked, hyg.pat[fut], hyg.day[fut])
    age = (ctx.as_of - people.birth[pats]) / 365.25
    rtype = np.where(people.perio[pats], "perio", np.where(age < CHILD_AGE_YEARS, "child", "prophy"))
    type_num = np.array([setup.recall_type[t] for t in ("prophy", "perio", "child")])
    kind = np.select([rtype == "perio", rtype == "child"], [1, 2], 0)
    months = np.array(RECALL_MONTHS)[kind]
    prev = last[pats]
    has_prev = prev != ZERO_DAY
    due_calc = np.where(has_prev, add_months(np.where(has_prev, prev, 0), months), ZERO_DAY)
    moved = has_prev & (rng.random(n) < RECALL_MOVED_RATE)
    due = np.where(moved, business_day(due_calc + rng.integers(*RECALL_MOVE_DAYS, size=n)), due_calc)
    due = np.where(has_prev, due, np.minimum(np.maximum(people.entry[pats], ctx.start), ctx.as_of))
    scheduled = booked[pats]
    overdue = (due < ctx.as_of) & (scheduled == ZERO_DAY)
    d = setup.defs
    recall_status = np.where(overdue & (rng.random(n) < RECALL_CONTACTED_RATE), _pick(
        rng, [d[("RecallUnschedStatus", k)] for k in RECALL_STATUSES], n), 0)
    interval = np.array([setup.recall_interval[k] for k in ("prophy", "perio", "child")])[kind]
    stamp = np.where(has_prev, ts(np.where(has_prev, prev, 0), DAY_END_SECOND),
                     ctx.clock(np.minimum(people.entry[pats], ctx.as_of)))
    stamp = np.where(recall_status > 0, np.maximum(stamp, ctx.clock(np.full(n, ctx.as_of)) - rng.integers(
        *RECALL_CONTACT_DAYS, size=n) * DAY), stamp)
    ctx.put("recall", n, {
        "RecallNum": np.arange(1, n + 1),
        "PatNum": pats + 1,
        "DateDueCalc": due_calc,
        "DateDue": due,
        "DatePrevious": prev,
        "RecallInterval": interval,
        "RecallStatus": recall_status,
        "DateTStamp": ctx.stamp(stamp),
        "RecallTypeNum": type_num[kind],
        "DateScheduled": scheduled,
    })

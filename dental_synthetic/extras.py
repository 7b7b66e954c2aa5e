"""The eleven tables derived from the simulated practice once its core tables exist (issue #3):
recalltrigger, toothinitial, procnote, treatplan + proctp, histappointment, schedule + scheduleop,
statement, task, securitylog.

Each is built from the finished Arrow tables (so it agrees with them by construction) and draws its own
randomness from the shared generator after every other stage, so adding them changed no other table.

- ``recalltrigger``: one row per (recall type, CDT code in recalltype.Procedures).
- ``toothinitial``: teeth marked Missing (InitialType 0) for about a quarter of adult patients.
- ``procnote``: one signed-off clinical note per completed procedure, entered at the end of its day by
  the treating provider's user; a broken appointment's D9986/D9987 carries OpenDental's "Appt BROKEN for
  ..." note instead, by the front desk user when it was broken.
- ``treatplan``: an Active plan for every patient with treatment-planned procedures (DateTP = the
  earliest DateTP of them) and a Saved plan for about half (SAVED_PLAN_RATE) of the presentations of
  diagnosed treatment: a patient's procedures planned on one day before they were done (still planned or
  completed later; not a recall visit's own procedures, nor deleted ones: ``_is_diagnosed``), dated that day,
  with its ``proctp`` rows (FeeAmt = ProcFee x units, PriInsAmt = the procedure's pending insurance
  estimate, PatAmt = the rest, dollars). Work charted complete the day it was planned was never presented.
- ``histappointment``: OpenDental's appointment audit trail: a Created row per appointment (at
  SecDateTEntry), then Changed (completed, at dismissal), for a broken appointment Missed (a no-show,
  broken with D9986 after its time) or Cancelled (a late cancellation, broken with D9987 the day before;
  both rows show AptStatus 5, as OpenDental's BreakApptHelper writes them), Changed to the unscheduled
  list (AptStatus 3), and Created + Deleted pairs for appointments deleted since (their AptNum no longer
  exists in ``appointment``). Nothing is stamped after ``as_of``.
- ``schedule``: each provider's working day (SchedType Provider, 08:00-17:00) on each of the weekdays they
  work (``Setup.prov_minutes``: part-time providers work some weekdays) from ``start`` to the booking
  horizon (or the last day an appointment was booked on, when a full book pushed one past it).
- ``scheduleop``: the operatories each schedule row covers: one row per (schedule row, operatory whose
  ProvDentist or ProvHygienist is the row's provider), the operatories the provider's appointments are
  booked in. Derived from the operatory table alone (no random draw); ScheduleOpNum in ScheduleNum,
  OperatoryNum order.
- ``statement``: monthly mailed or e-mailed statements to families whose balance at the end of the
  previous month was over $5; BalTotal is that balance (dollars, from the same transactions as the
  aging), InsEst 0 (OpenDental's default when estimates are not shown).
- ``task``: a reschedule call task per broken appointment (ObjectType Patient, KeyNum = PatNum).
- ``securitylog``: PatientCreate, AppointmentCreate, ProcComplCreate, PaymentCreate and AdjustmentCreate
  entries (FKey = the row's key; LogText names keys and codes, never patient data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import reference as ref
from .columns import constant_string, strings
from .context import Context
from .ledger import cents, proc_charge, transactions
from .practice import enum_codes
from .schedule import BREAK_CANCELLED_BEFORE, broken_appointments
from .util import (DAY, OFFICE_SECONDS, ZERO_DAY, ZERO_TS, add_months, business_day, group_by_patient_day,
                   key_order, primary_keys, rank_within, weekday)

EXTRA_TABLES = ("recalltrigger", "toothinitial", "procnote", "treatplan", "proctp", "histappointment", "schedule",
                "scheduleop", "statement", "task", "securitylog")
STATEMENT_DOCUMENTS = "document:statements"  # ctx.values key of the statements' documents (see generate)
APT = enum_codes("ApptStatus")
PERM = enum_codes("EnumPermType")

MISSING_TEETH_MIN_AGE = 25  # years: only patients at least this old have teeth marked missing
MISSING_TEETH_RATE = 0.25  # share of those patients with teeth marked missing
MISSING_TEETH_YEARS_PER_TOOTH = 20  # years past MISSING_TEETH_MIN_AGE per expected extra missing tooth
MISSING_TEETH_EXTRA_MEAN_MAX = 3  # cap of that expected number (Poisson mean) of extra missing teeth
MISSING_TEETH_MAX = 6  # at most this many teeth missing per patient
THIRD_MOLARS_FIRST = 2  # a patient's first this many missing teeth are third molars
NOTE_SECONDS = (16 * 3600, 18 * 3600)  # procnote entry time of day, seconds, [low, high): 16:00-18:00
SAVED_PLAN_RATE = 0.5  # share of presentations of diagnosed treatment (``_is_diagnosed``: a patient's treatment
#                         planned on one day) saved as a plan
HIST_COMPLETE_AFTER = 3600  # seconds after AptDateTime a completed visit without a dismissal time is marked
HIST_UNSCHED_BEFORE = BREAK_CANCELLED_BEFORE  # seconds before AptDateTime an appointment was sent to the
#                                               unscheduled list (as a late cancellation is broken)
HIST_RESCHEDULE_RATE = 0.4  # share of Scheduled appointments with one Changed row since they were booked
HIST_DELETED_RATE = 0.02  # appointments deleted since, as a share of the appointment rows
HIST_DELETED_MIN_AGE_DAYS = 7  # a deleted appointment was created at least this many days before as_of
HIST_DELETED_AFTER = (600, 5 * DAY)  # seconds from a deleted appointment's creation to its deletion, [low, high)


def _clock_time(second: int) -> str:
    """A time of day in seconds as OpenDental's TimeSpan text, "HH:MM:SS"."""
    return f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"


# a provider's working day starts at the clinics' opening: schedule StartTime ("08:00:00"); StopTime is the end
# of the provider's hours that weekday (``Setup.prov_minutes``: the clinics' closing, "17:00:00")
SCHEDULE_HOURS = tuple(_clock_time(second) for second in OFFICE_SECONDS)
SCHEDULE_POSTED_DAYS = 28  # a schedule row is entered this many days before its day (at most as_of)
STATEMENT_DAY_OF_MONTH = 5  # statements are sent on this day of the month (a weekend: the Monday after)
STATEMENT_MIN_BALANCE = 500  # cents: a family owing more than this at the month's end gets a statement
STATEMENT_EMAIL_RATE = 0.35  # share of statements e-mailed (the rest mailed)
TASK_AFTER_BROKEN = DAY // 8  # seconds after a broken appointment's time its reschedule task is entered (3 h)
TASK_FINISHED_AFTER = (DAY // 24, 5 * DAY)  # seconds from a task's entry to its completion, [low, high)
PATIENT_CREATE_SECOND = 9 * 3600  # time of day (seconds) of a PatientCreate log entry: 09:00
PROC_COMPLETE_SECOND = 16 * 3600  # time of day (seconds) of a ProcComplCreate log entry: 16:00


def _c(table: pa.Table, name: str) -> np.ndarray:
    arr = table.column(name)
    if pa.types.is_date32(arr.type):
        return arr.cast(pa.int32()).to_numpy().astype(np.int64)
    if pa.types.is_timestamp(arr.type):
        return arr.cast(pa.int64()).to_numpy()
    return arr.to_numpy(zero_copy_only=False)


def build_extras(ctx: Context, setup, people, tables: dict[str, pa.Table]) -> None:
    """Put the eleven tables into ``ctx`` (see the module docstring)."""
    _recalltrigger(ctx, setup, tables)
    _toothinitial(ctx, people, tables)
    _procnote(ctx, setup, tables)
    _treatplans(ctx, setup, people, tables)
    _histappointment(ctx, setup, tables)
    _schedule(ctx, setup, tables)
    _statements(ctx, setup, people, tables)
    _tasks(ctx, setup, tables)
    _securitylog(ctx, setup, tables)


def _recalltrigger(ctx: Context, setup, tables) -> None:
    rt = tables["recalltype"]
    types, codes = [], []
    for num, procs in zip(_c(rt, "RecallTypeNum").tolist(), rt.column("Procedures").to_pylist()):
        for code in filter(None, procs.split(",")):
            if code in setup.code_num:
                types.append(num)
                codes.append(setup.code_num[code])
    n = len(types)
    ctx.put("recalltrigger", n, {"RecallTriggerNum": np.arange(1, n + 1), "RecallTypeNum": np.array(types, np.int64),
                                 "CodeNum": np.array(codes, np.int64)})


_MISSING_TEETH = np.array(["1", "16", "17", "32", "2", "15", "18", "31", "3", "14", "19", "30", "4", "5", "12",
                           "13", "20", "21", "28", "29"])


def _toothinitial(ctx: Context, people, tables) -> None:
    rng = ctx.rng
    age = (ctx.as_of - people.birth) / 365.25
    has = (age >= MISSING_TEETH_MIN_AGE) & (rng.random(people.n) < MISSING_TEETH_RATE)
    pats = np.flatnonzero(has)
    extra_mean = np.clip((age[pats] - MISSING_TEETH_MIN_AGE) / MISSING_TEETH_YEARS_PER_TOOTH, 0,
                         MISSING_TEETH_EXTRA_MEAN_MAX)
    count = np.minimum(1 + rng.poisson(extra_mean), MISSING_TEETH_MAX)
    owner = np.repeat(pats, count)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    # third molars first, then a random start among the other teeth, no tooth twice per patient
    offset = np.repeat(rng.integers(0, 4, size=len(pats)), count)
    tooth = np.where(rank < THIRD_MOLARS_FIRST, (offset + rank) % 4, 4 + (offset * 3 + rank) % 16)
    n = len(owner)
    entered = ctx.stamp(ctx.clock(np.maximum(people.entry[owner], ctx.opened)))
    ctx.put("toothinitial", n, {
        "ToothInitialNum": np.arange(1, n + 1),
        "PatNum": owner + 1,
        "ToothNum": strings(_MISSING_TEETH.tolist(), tooth),
        "InitialType": enum_codes("ToothInitialType")["Missing"],
        "Movement": 0.0,
        "ColorDraw": 0,
        "SecDateTEntry": entered,
        "SecDateTEdit": entered,
    })


_NOTE_TEMPLATES = (
    "{code} {abbr} completed as planned. Pt tolerated procedure well. No complications. NV per tx plan.",
    "{code} {abbr}. Reviewed med hx, no changes. Procedure completed without incident. Post-op instructions given.",
    "{code} {abbr} done. Local anesthetic as needed. Pt left in good condition.",
)


def _procnote(ctx: Context, setup, tables) -> None:
    """procnote: a clinical note per completed procedure by the treating provider's user at the end of its
    day; a broken appointment's D9986/D9987 carries the note BreakApptHelper gives it instead
    (``_broken_notes``)."""
    rng = ctx.rng
    pl = tables["procedurelog"]
    done = np.flatnonzero(_c(pl, "ProcStatus") == 2)
    n = len(done)
    code = _c(pl, "CodeNum")[done]
    n_codes = len(setup.code_abbr)
    texts = [t.format(code=setup.code_proccode[c], abbr=setup.code_abbr[c]) for t in _NOTE_TEMPLATES
             for c in range(n_codes)]
    pick = rng.integers(0, len(_NOTE_TEMPLATES), size=n) * n_codes + code
    entry = ctx.stamp(_c(pl, "ProcDate")[done] * DAY + rng.integers(*NOTE_SECONDS, size=n))
    user = setup.prov_user[_c(pl, "ProvNum")[done]]
    broken_rows, broken_text, broken_user, broken_entry = _broken_notes(ctx, setup, tables)
    at = np.searchsorted(done, broken_rows)  # the broken procedures' positions among the completed ones
    entry[at], user[at] = broken_entry, broken_user
    pick[at] = len(texts) + np.arange(len(at))
    order = key_order(entry, done)
    ctx.put("procnote", n, {
        "ProcNoteNum": np.arange(1, n + 1),
        "PatNum": _c(pl, "PatNum")[done][order],
        "ProcNum": _c(pl, "ProcNum")[done][order],
        "EntryDateTime": entry[order],
        "UserNum": user[order],
        "Note": strings(texts + broken_text, pick[order]),
        "SigIsTopaz": 0,
        "Signature": "",
    })


def _broken_notes(ctx: Context, setup, tables) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """The notes of the broken appointments' D9986/D9987 procedures, as AppointmentL.BreakApptHelper writes
    them (``procedureBroken.Note``, saved as a procnote by Procedures.Insert): "Appt BROKEN for " + the
    appointment's ProcDescript + " " + AptDateTime as "ddd" and as the default (en-US) date and time, by
    the user who broke it (the clinic's front desk) at that moment. Returns (their procedurelog rows in
    ProcNum order, the texts, UserNum, EntryDateTime in seconds). The schedule charted those procedures at
    the moments ``broken_appointments`` gives and numbered procedures in order of entry, so in ProcNum order
    they are the breaks in (moment, AptNum) order; AssertionError when patient or day disagree."""
    pl, ap = tables["procedurelog"], tables["appointment"]
    breaks = broken_appointments(ctx, _c(ap, "AptStatus"), _c(ap, "AptDateTime"), _c(ap, "SecDateTEntry"))
    codes = [setup.code_num[ref.BROKEN_MISSED_CODE], setup.code_num[ref.BROKEN_CANCELLED_CODE]]
    rows = np.flatnonzero(np.isin(_c(pl, "CodeNum"), codes) & (_c(pl, "ProcStatus") == 2)
                          & (_c(pl, "AptNum") == 0))
    order = key_order(ctx.stamp(breaks.moment), breaks.rows)
    apt_rows, moment = breaks.rows[order], ctx.stamp(breaks.moment[order])
    if (len(rows) != len(apt_rows) or (_c(pl, "PatNum")[rows] != _c(ap, "PatNum")[apt_rows]).any()
            or (_c(pl, "ProcDate")[rows] != moment // DAY).any()):
        raise AssertionError("the D9986/D9987 procedures do not match the broken appointments")
    descript = ap.column("ProcDescript").take(pa.array(apt_rows)).to_pylist()
    texts = [f"Appt BROKEN for {d + ' ' if d.strip() else ''}{when}" for d, when in
             zip(descript, _csharp_ddd_date_time(_c(ap, "AptDateTime")[apt_rows]))]
    user = setup.frontdesk_user[_c(ap, "ClinicNum")[apt_rows]]
    return rows, texts, user, moment


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _csharp_ddd_date_time(seconds: np.ndarray) -> list[str]:
    """Moments (seconds since 1970) as C# writes ``t.ToString("ddd")+" "+t.ToString()`` in en-US
    ("Fri 3/7/2025 2:05:00 PM")."""
    days = seconds // DAY
    ymd = days.astype("datetime64[D]")
    year = ymd.astype("datetime64[Y]").astype(np.int64) + 1970
    month = ymd.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (ymd - ymd.astype("datetime64[M]")).astype(np.int64) + 1
    second = seconds % DAY
    hour = second // 3600
    return [f"{_WEEKDAYS[w]} {mo}/{d}/{y} {h % 12 or 12}:{mi:02d}:{s:02d} {'AM' if h < 12 else 'PM'}"
            for w, mo, d, y, h, mi, s in zip(((days + 3) % 7).tolist(), month.tolist(), day.tolist(), year.tolist(),
                                             hour.tolist(), (second // 60 % 60).tolist(), (second % 60).tolist())]


@dataclass(frozen=True)
class _PlannedProcedures:
    """Treatment-planned procedures (procedurelog ProcStatus 1) in (PatNum, DateTP, row) order, and per
    patient who has one (``pats``, ascending) the plan's day and provider."""

    rows: np.ndarray  # procedurelog row of each procedure
    pat: np.ndarray  # its PatNum
    pats: np.ndarray  # each patient with a planned procedure, once
    plan_day: np.ndarray  # per patient: the earliest DateTP (day number; ProcDate when unset, at most as_of)
    prov: np.ndarray  # per patient: the ProvNum of that earliest procedure


@dataclass(frozen=True)
class _Presentations:
    """Treatment presented to a patient and saved: per presentation (a patient and a day, procedurelog
    DateTP) the diagnosed treatment planned that day (``_is_diagnosed``), still planned or completed later.
    Work charted complete the day it was planned was never presented."""

    rows: np.ndarray  # procedurelog row of each presented procedure, in (PatNum, DateTP, row) order
    group: np.ndarray  # per row: its presentation's index
    pat: np.ndarray  # per presentation: PatNum
    day: np.ndarray  # per presentation: the day (day number)
    prov: np.ndarray  # per presentation: the ProvNum of its first procedure


def _treatplans(ctx: Context, setup, people, tables) -> None:
    """treatplan (an Active plan per patient with planned procedures; a Saved plan for SAVED_PLAN_RATE of
    the presentations, dated the day the treatment was presented) and proctp (the Saved plans'
    procedures: OpenDental's Treatment Plan Presentation report reads them)."""
    pl = tables["procedurelog"]
    planned = _planned_procedures(ctx, pl)
    presented = _presentations(ctx, pl, tables["appointment"])
    plan_num = _put_treatplan(ctx, setup, planned, presented)
    _put_proctp(ctx, setup, people, tables, presented, plan_num[len(planned.pats):])


def _planned_procedures(ctx: Context, pl: pa.Table) -> _PlannedProcedures:
    """The treatment-planned procedures and each patient's plan (see ``_PlannedProcedures``)."""
    tp = np.flatnonzero(_c(pl, "ProcStatus") == 1)
    pat = _c(pl, "PatNum")[tp]
    date_tp = _presented_day(ctx, pl, tp)
    order = key_order(pat, date_tp, tp)
    tp, pat, date_tp = tp[order], pat[order], date_tp[order]
    pats, first = np.unique(pat, return_index=True)
    return _PlannedProcedures(rows=tp, pat=pat, pats=pats, plan_day=date_tp[first], prov=_c(pl, "ProvNum")[tp][first])


def _presented_day(ctx: Context, pl: pa.Table, rows: np.ndarray) -> np.ndarray:
    """The day the procedures at ``rows`` were planned: DateTP, else ProcDate, at most as_of (day numbers)."""
    date_tp = _c(pl, "DateTP")[rows]
    return np.minimum(np.where(date_tp == ZERO_DAY, _c(pl, "ProcDate")[rows], date_tp), ctx.as_of)


def _is_diagnosed(pl: pa.Table, ap: pa.Table) -> np.ndarray:
    """Per procedurelog row: diagnosed treatment, the only work the practice presents and saves as a plan.
    A saved plan exists only where a user saved one (OpenDental's ControlTreat "Save TP"); nothing saves a
    plan when a recall visit is booked, so a recall (hygiene) visit's own exam, cleaning, radiographs and
    fluoride are left out: a procedure attached to a hygiene appointment (AptNum of an appointment with
    IsHygiene 1). So are deleted procedures (ProcStatus 6: the generator's are copies of completed work
    entered twice by mistake, never presented)."""
    apt_is_hygiene = np.zeros(int(_c(ap, "AptNum").max(initial=0)) + 1, dtype=bool)
    apt_is_hygiene[_c(ap, "AptNum")] = _c(ap, "IsHygiene") == 1
    apt = _c(pl, "AptNum")
    on_hygiene_visit = apt_is_hygiene[np.where(apt < len(apt_is_hygiene), apt, 0)]
    return ~on_hygiene_visit & (_c(pl, "ProcStatus") != 6)


def _presentations(ctx: Context, pl: pa.Table, ap: pa.Table) -> _Presentations:
    """The saved presentations (see ``_Presentations``): diagnosed treatment (``_is_diagnosed``) planned (1)
    or completed (2) that was planned before the day it was done, grouped by patient and planning day; each
    group is saved with SAVED_PLAN_RATE."""
    status = _c(pl, "ProcStatus")
    day = _presented_day(ctx, pl, np.arange(pl.num_rows))
    ahead = ((status == 1) | ((status == 2) & (day < _c(pl, "ProcDate")))) & _is_diagnosed(pl, ap)
    pat_num = _c(pl, "PatNum")
    rows, group, _, first = group_by_patient_day(np.flatnonzero(ahead), pat_num, day, ctx.start)
    pat, d = pat_num[rows], day[rows]
    saved = ctx.rng.random(len(first)) < SAVED_PLAN_RATE
    keep = saved[group]
    renumber = np.cumsum(saved) - 1
    first = first[saved]
    return _Presentations(rows=rows[keep], group=renumber[group[keep]], pat=pat[first], day=d[first],
                          prov=_c(pl, "ProvNum")[rows[first]])


def _put_treatplan(ctx: Context, setup, planned: _PlannedProcedures, presented: _Presentations) -> np.ndarray:
    """Put ``treatplan``: every Active plan, then the Saved plans (one per presentation); keys by
    (DateTP, PatNum, saved). Returns each plan's TreatPlanNum in that (active, then saved) order."""
    n_saved = len(presented.pat)
    p_pat = np.concatenate([planned.pats, presented.pat])
    p_day = np.concatenate([planned.plan_day, presented.day])
    p_prov = np.concatenate([planned.prov, presented.prov])
    p_saved = np.concatenate([np.zeros(len(planned.pats), bool), np.ones(n_saved, bool)])
    order = key_order(p_day, p_pat, p_saved.astype(np.int64))
    n = len(order)
    plan_num = primary_keys(order)
    status = enum_codes("TreatPlanStatus")
    edit = ctx.stamp(ctx.clock(p_day))
    ctx.put("treatplan", n, {
        "TreatPlanNum": np.arange(1, n + 1),
        "PatNum": p_pat[order],
        "DateTP": p_day[order],
        "Heading": pc.if_else(pa.array(p_saved[order]), "Saved Treatment Plan", "Active Treatment Plan"),
        "Note": "",
        "Signature": "",
        "SigIsTopaz": 0,
        "ResponsParty": 0,
        "DocNum": 0,
        "TPStatus": np.where(p_saved[order], status["Saved"], status["Active"]),
        "SecUserNumEntry": setup.prov_user[p_prov[order]],
        "SecDateEntry": p_day[order],
        "SecDateTEdit": edit[order],
        "UserNumPresenter": setup.prov_user[p_prov[order]],
        "TPType": enum_codes("TreatPlanType")["Insurance"],
        "DateTSigned": ZERO_TS,
        "DateTPracticeSigned": ZERO_TS,
    })
    return plan_num


def _put_proctp(ctx: Context, setup, people, tables, presented: _Presentations, plan_num: np.ndarray) -> None:
    """Put ``proctp``: the procedures of each Saved plan (``plan_num``: per presentation), in the order
    they were charted (dollars: FeeAmt = ProcFee x units, PriInsAmt / SecInsAmt = the pending estimates,
    PatAmt = the rest)."""
    pl = tables["procedurelog"]
    rows = presented.rows
    n_r = len(rows)
    item = rank_within(presented.group)
    fee = proc_charge(pl)[rows]
    pri, sec = _planned_insurance(tables, people, rows, fee)
    code = _c(pl, "CodeNum")[rows]
    tp_day = presented.day[presented.group]
    tp_edit = ctx.stamp(ctx.clock(tp_day))
    ctx.put("proctp", n_r, {
        "ProcTPNum": np.arange(1, n_r + 1),
        "TreatPlanNum": plan_num[presented.group],
        "PatNum": _c(pl, "PatNum")[rows],
        "ProcNumOrig": _c(pl, "ProcNum")[rows],
        "ItemOrder": item,
        "Priority": _c(pl, "Priority")[rows],
        "ToothNumTP": pl.column("ToothNum").take(pa.array(rows)),
        "Surf": pl.column("Surf").take(pa.array(rows)),
        "ProcCode": strings(setup.code_proccode, code),
        "Descript": strings(setup.code_descript, code),
        "FeeAmt": fee / 100.0,
        "PriInsAmt": pri / 100.0,
        "SecInsAmt": sec / 100.0,
        "PatAmt": (fee - pri - sec) / 100.0,
        "Discount": 0.0,
        "Prognosis": "",
        "Dx": "",
        "ProcAbbr": strings(setup.code_abbr, code),
        "SecUserNumEntry": setup.prov_user[_c(pl, "ProvNum")[rows]],
        "SecDateEntry": tp_day,
        "SecDateTEdit": tp_edit,
        "FeeAllowed": fee / 100.0,
        "TaxAmt": 0.0,
        "ProvNum": _c(pl, "ProvNum")[rows],
        "DateTP": tp_day,
        "ClinicNum": _c(pl, "ClinicNum")[rows],
        "CatPercUCR": 0.0,
    })


def _planned_insurance(tables, people, rows: np.ndarray, fee: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per planned procedure (procedurelog ``rows``, ``fee`` in cents): the primary and secondary plans'
    pending estimates (claimproc Status Estimate, InsPayEst), in cents, capped so they never exceed the fee."""
    pl, cp = tables["procedurelog"], tables["claimproc"]
    est_rows = _c(cp, "Status") == 6  # Estimate
    cp_pat = _c(cp, "PatNum") - 1
    is_sec = (people.plan2[cp_pat] > 0) & (_c(cp, "PlanNum") == people.plan2[cp_pat])
    est = np.zeros((2, pl.num_rows + 1), dtype=np.int64)
    np.add.at(est, (is_sec[est_rows].astype(np.int64), _c(cp, "ProcNum")[est_rows]),
              cents(cp.column("InsPayEst"))[est_rows])
    pri = np.minimum(est[0, _c(pl, "ProcNum")[rows]], fee)
    sec = np.minimum(est[1, _c(pl, "ProcNum")[rows]], fee - pri)
    return pri, sec


_HIST_SKIP = {"HistApptNum", "HistUserNum", "HistDateTStamp", "HistApptAction", "ApptSource"}
_HIST_TIMES = ("AptDateTime", "DateTStamp", "DateTimeArrived", "DateTimeSeated", "DateTimeDismissed",
               "DateTimeAskedToArrive", "SecDateTEntry")  # copied as seconds (then clipped to the row's stamp)


@dataclass(frozen=True)
class _HistEvents:
    """histappointment rows before ordering, aligned: the appointment row copied, HistApptAction, the
    AptStatus shown, the stamp (seconds) and the AptNum (a retired one for the deleted appointments)."""

    rows: np.ndarray
    action: np.ndarray
    shown: np.ndarray
    stamp: np.ndarray
    apt_num: np.ndarray


def _histappointment(ctx: Context, setup, tables) -> None:
    """histappointment: the audit trail of the live appointments, then of appointments deleted since."""
    ap = tables["appointment"]
    live = _live_appointment_events(ctx, ap)
    events = _deleted_appointment_events(ctx, ap, live)
    _put_histappointment(ctx, setup, tables, events)


def _live_appointment_events(ctx: Context, ap: pa.Table) -> _HistEvents:
    """Per appointment a Created row (at SecDateTEntry), then Changed to Complete (at dismissal); Missed or
    Cancelled, showing Broken, at the moment it was broken with D9986 or D9987 (``schedule.broken_appointments``,
    which charted those procedures: AppointmentL.BreakApptHelper writes the history entry with them);
    Changed to the unscheduled list; and, for HIST_RESCHEDULE_RATE of the Scheduled ones, a Changed row at a
    random moment between booking and the visit (or as_of). Stamps in seconds."""
    rng = ctx.rng
    n_apt = ap.num_rows
    status = _c(ap, "AptStatus")
    when = _c(ap, "AptDateTime")
    created = _c(ap, "SecDateTEntry")
    dismissed = _c(ap, "DateTimeDismissed")
    act = enum_codes("HistAppointmentAction")
    parts = []  # (appointment row, action, status shown, stamp)

    def add(rows, action, shown, stamp):
        parts.append((rows, np.full(len(rows), action), np.broadcast_to(shown, (len(rows),)).astype(np.int64),
                      np.asarray(stamp, dtype=np.int64)))

    first_status = np.where(status == APT["Planned"], APT["Planned"], APT["Scheduled"])
    add(np.arange(n_apt), act["Created"], first_status, np.minimum(created, ctx.last_ts))
    done = np.flatnonzero(status == APT["Complete"])
    add(done, act["Changed"], APT["Complete"], np.maximum(
        np.where(dismissed[done] > ZERO_TS, dismissed[done], when[done] + HIST_COMPLETE_AFTER), created[done]))
    breaks = broken_appointments(ctx, status, when, created)
    add(breaks.rows[breaks.missed], act["Missed"], APT["Broken"], breaks.moment[breaks.missed])
    add(breaks.rows[~breaks.missed], act["Cancelled"], APT["Broken"], breaks.moment[~breaks.missed])
    unsched = np.flatnonzero(status == APT["UnschedList"])
    add(unsched, act["Changed"], APT["UnschedList"],
        np.maximum(when[unsched] - HIST_UNSCHED_BEFORE, created[unsched]))
    future = np.flatnonzero((status == APT["Scheduled"]) & (rng.random(n_apt) < HIST_RESCHEDULE_RATE))
    span = np.maximum(np.minimum(when[future], ctx.last_ts) - created[future], 1)
    add(future, act["Changed"], APT["Scheduled"], created[future] + (rng.random(len(future)) * span).astype(np.int64))
    rows = np.concatenate([p[0] for p in parts])
    return _HistEvents(rows=rows, action=np.concatenate([p[1] for p in parts]),
                       shown=np.concatenate([p[2] for p in parts]),
                       stamp=ctx.stamp(np.concatenate([p[3] for p in parts])), apt_num=_c(ap, "AptNum")[rows])


def _deleted_appointment_events(ctx: Context, ap: pa.Table, live: _HistEvents) -> _HistEvents:
    """``live`` plus Created + Deleted pairs for HIST_DELETED_RATE x appointments deleted since: each a copy
    of a random appointment created at least HIST_DELETED_MIN_AGE_DAYS before as_of, under a retired
    AptNum (past the last one), deleted HIST_DELETED_AFTER seconds after it was created (at most as_of)."""
    rng = ctx.rng
    created = _c(ap, "SecDateTEntry")
    n_del = int(round(HIST_DELETED_RATE * ap.num_rows))
    past = np.flatnonzero(created <= ctx.last_ts - HIST_DELETED_MIN_AGE_DAYS * DAY)
    src = past[rng.integers(0, len(past), size=n_del)] if len(past) and n_del else np.zeros(0, np.int64)
    del_num = int(_c(ap, "AptNum").max(initial=0)) + 1 + np.arange(len(src))
    del_created = created[src]
    del_stamp = np.minimum(del_created + rng.integers(*HIST_DELETED_AFTER, size=len(src)), ctx.last_ts)
    act = enum_codes("HistAppointmentAction")
    return _HistEvents(
        rows=np.concatenate([live.rows, src, src]),
        action=np.concatenate([live.action, np.full(len(src), act["Created"]), np.full(len(src), act["Deleted"])]),
        shown=np.concatenate([live.shown, np.full(len(src), APT["Scheduled"]), np.full(len(src), APT["Scheduled"])]),
        stamp=np.concatenate([live.stamp, del_created, del_stamp]),
        apt_num=np.concatenate([live.apt_num, del_num, del_num]))


def _put_histappointment(ctx: Context, setup, tables, events: _HistEvents) -> None:
    """Put ``histappointment``: each event a copy of its appointment row in (stamp, AptNum, action) order,
    its times after the stamp cleared (ZERO_TS), HistUserNum the clinic's front-desk user."""
    ap = tables["appointment"]
    order = key_order(events.stamp, events.apt_num, events.action)
    n = len(order)
    rows, stamp = events.rows[order], events.stamp[order]
    take = pa.array(rows)
    values: dict[str, object] = {}
    for name in ap.column_names:
        if name not in _HIST_SKIP and name in tables_columns("histappointment"):
            values[name] = ap.column(name).take(take).combine_chunks()
    for name in _HIST_TIMES:
        values[name] = _c(ap, name)[rows]
    values["SecDateTEntry"] = np.minimum(values["SecDateTEntry"], stamp)
    for name in ("DateTimeArrived", "DateTimeSeated", "DateTimeDismissed"):
        values[name] = np.where(values[name] > stamp, ZERO_TS, values[name])
    values.update({
        "HistApptNum": np.arange(1, n + 1),
        "HistUserNum": setup.frontdesk_user[_c(ap, "ClinicNum")[rows]],
        "HistDateTStamp": stamp,
        "HistApptAction": events.action[order],
        "ApptSource": 0,
        "AptNum": events.apt_num[order],
        "AptStatus": events.shown[order],
        "DateTStamp": stamp,
    })
    ctx.put("histappointment", n, values)


def tables_columns(name: str) -> set[str]:
    from dental_assets.catalog import raw_table

    return set(raw_table(name).column_names)


def _schedule(ctx: Context, setup, tables) -> None:
    prov = tables["provider"]
    ops = tables["operatory"]
    # each provider works at the clinic of their operatory
    op_clinic = dict(zip(_c(ops, "OperatoryNum").tolist(), _c(ops, "ClinicNum").tolist()))
    provs = _c(prov, "ProvNum")
    clinic = np.array([op_clinic.get(int(setup.prov_op[p]), 0) for p in provs], dtype=np.int64)
    # to the booking horizon, or the last day booked when a full book pushed a visit past it
    apt_day = _c(tables["appointment"], "AptDateTime") // DAY
    days = np.arange(ctx.start, max(ctx.horizon, int(apt_day.max(initial=ctx.horizon))) + 1)
    d_idx = np.repeat(days, len(provs))
    p_idx = np.tile(np.arange(len(provs)), len(days))
    minutes = setup.prov_minutes[provs[p_idx], weekday(d_idx)]  # the provider's hours (practice.weekday_rota)
    works = minutes > 0
    d_idx, p_idx, minutes = d_idx[works], p_idx[works], minutes[works]
    n = len(d_idx)
    stop, stop_code = np.unique(OFFICE_SECONDS[0] + minutes * 60, return_inverse=True)
    stamp = ctx.stamp(ctx.clock(np.minimum(d_idx - SCHEDULE_POSTED_DAYS, ctx.as_of)))
    ctx.put("schedule", n, {
        "ScheduleNum": np.arange(1, n + 1),
        "SchedDate": d_idx,
        "StartTime": constant_string(SCHEDULE_HOURS[0], n),
        "StopTime": strings([_clock_time(int(second)) for second in stop], stop_code),
        "SchedType": enum_codes("ScheduleType")["Provider"],
        "ProvNum": provs[p_idx],
        "BlockoutType": 0,
        "Note": "",
        "Status": enum_codes("SchedStatus")["Open"],
        "EmployeeNum": 0,
        "DateTStamp": stamp,
        "ClinicNum": clinic[p_idx],
    })
    _scheduleop(ctx, provs[p_idx], ops)


def _scheduleop(ctx: Context, sched_prov: np.ndarray, ops: pa.Table) -> None:
    """One scheduleop row per (schedule row, operatory the row's provider is the dentist or hygienist of).
    ``sched_prov``: the ProvNum of each schedule row, in ScheduleNum order (ScheduleNum = index + 1).
    Deterministic: draws nothing from ``ctx.rng``."""
    op_num = _c(ops, "OperatoryNum")
    pairs = sorted({(int(p), int(o)) for p, o in zip(_c(ops, "ProvDentist"), op_num) if p > 0}
                   | {(int(p), int(o)) for p, o in zip(_c(ops, "ProvHygienist"), op_num) if p > 0})
    op_prov = np.array([p for p, _ in pairs], dtype=np.int64)
    op_of = np.array([o for _, o in pairs], dtype=np.int64)
    # for each schedule row, the slice of (provider, operatory) pairs of its provider (pairs sorted by provider)
    lo = np.searchsorted(op_prov, sched_prov, side="left")
    count = np.searchsorted(op_prov, sched_prov, side="right") - lo
    sched_num = np.repeat(np.arange(1, len(sched_prov) + 1), count)
    first = np.repeat(lo - (np.cumsum(count) - count), count)
    pair = first + np.arange(len(sched_num))
    n = len(sched_num)
    ctx.put("scheduleop", n, {
        "ScheduleOpNum": np.arange(1, n + 1),
        "ScheduleNum": sched_num,
        "OperatoryNum": op_of[pair],
    })


def _statement_documents(ctx: Context, setup, tables, guarantor: np.ndarray, sent_at: np.ndarray) -> np.ndarray:
    """The PDF OpenDental archives for each sent statement: a ``document`` row in the image category
    marked "S" (``STATEMENT_DOCUMENTS``, appended after the other documents by ``generate``), on the
    guarantor, created when the statement was sent (epoch seconds). Returns each statement's DocNum."""
    m = len(guarantor)
    doc_num = tables["document"].num_rows + np.arange(1, m + 1)
    ctx.put(STATEMENT_DOCUMENTS, m, {
        "DocNum": doc_num,
        "Description": "Statement",
        "DateCreated": sent_at,
        "DocCategory": setup.defs[("ImageCats", "statements")],
        "PatNum": guarantor,
        "FileName": pc.binary_join_element_wise("Statement", pa.array(doc_num).cast(pa.string()), ".pdf", ""),
        "ImgType": enum_codes("ImageType")["Document"],
        "DateTStamp": sent_at,
    })
    return doc_num


def _statement_runs(ctx: Context) -> list[tuple[int, int]]:
    """The monthly statement runs, as (first day of the month, day sent): on STATEMENT_DAY_OF_MONTH of each
    month (moved to Monday at a weekend) for balances at the previous month's end, from the first month
    after ``start`` to the last run on or before as_of (day numbers)."""
    month_starts = []
    month_first = _month_first(int(add_months(np.array([ctx.start]), 1)[0]))
    while True:
        send = month_first + STATEMENT_DAY_OF_MONTH - 1
        send = int(business_day(np.array([send]))[0])
        if send > ctx.as_of:
            break
        month_starts.append((month_first, send))
        month_first = int(add_months(np.array([month_first]), 1)[0])
    return month_starts


def _statements(ctx: Context, setup, people, tables) -> None:
    rng = ctx.rng
    pat, day, amount = transactions(tables)
    fam = people.guarantor[pat - 1]
    month_starts = _statement_runs(ctx)
    if not month_starts:
        ctx.put("statement", 0, {})
        return
    cut = np.array([s[0] for s in month_starts], dtype=np.int64)  # balance as of the day before
    send = np.array([s[1] for s in month_starts], dtype=np.int64)
    guars, fam_idx = np.unique(fam, return_inverse=True)
    period = np.searchsorted(cut, day, side="right")  # transactions before cut[k] count for statement k
    bal = np.zeros((len(guars), len(cut) + 1), dtype=np.int64)
    np.add.at(bal, (fam_idx, period), amount)
    running = np.cumsum(bal, axis=1)[:, :-1]  # [family, k]: balance before cut[k]
    g_i, k_i = np.nonzero(running > STATEMENT_MIN_BALANCE)
    n = len(g_i)
    email = rng.random(n) < STATEMENT_EMAIL_RATE
    mode = enum_codes("StatementMode")
    sent = send[k_i]
    order = key_order(sent, guars[g_i])
    stamp = ctx.stamp(ctx.clock(sent))
    doc_num = _statement_documents(ctx, setup, tables, guars[g_i][order], stamp[order])
    ctx.put("statement", n, {
        "StatementNum": np.arange(1, n + 1),
        "PatNum": guars[g_i][order],
        "DateSent": sent[order],
        "DateRangeFrom": add_months(cut[k_i], -1)[order],
        "DateRangeTo": (cut[k_i] - 1)[order],
        "Note": "",
        "NoteBold": "",
        "Mode_": np.where(email, mode["Email"], mode["Mail"])[order],
        "HidePayment": 0,
        "SinglePatient": 0,
        "Intermingled": 0,
        "IsSent": 1,
        "DocNum": doc_num,
        "DateTStamp": stamp[order],
        "IsReceipt": 0,
        "IsInvoice": 0,
        "IsInvoiceCopy": 0,
        "EmailSubject": pc.if_else(pa.array(email[order]), "Your account statement", ""),
        "EmailBody": pc.if_else(pa.array(email[order]), "Please find your account statement attached.", ""),
        "SuperFamily": 0,
        "IsBalValid": 1,
        "InsEst": 0.0,
        "BalTotal": running[g_i, k_i][order] / 100.0,
        "StatementType": "NotSet",
        "ShortGUID": "",
        "StatementShortURL": "",
        "StatementURL": "",
        "SmsSendStatus": 0,
        "LimitedCustomFamily": 0,
    })


def _month_first(day: int) -> int:
    return int(np.datetime64(day, "D").astype("datetime64[M]").astype("datetime64[D]").astype(np.int64))


def _tasks(ctx: Context, setup, tables) -> None:
    rng = ctx.rng
    ap = tables["appointment"]
    broken = np.flatnonzero(_c(ap, "AptStatus") == APT["Broken"])
    when = _c(ap, "AptDateTime")[broken]
    entry = ctx.stamp(when + TASK_AFTER_BROKEN)
    finished = entry + rng.integers(*TASK_FINISHED_AFTER, size=len(broken))
    is_done = finished <= ctx.last_ts
    order = key_order(entry, broken)
    n = len(broken)
    user = setup.frontdesk_user[_c(ap, "ClinicNum")[broken]]
    st = enum_codes("TaskStatusEnum")
    ctx.put("task", n, {
        "TaskNum": np.arange(1, n + 1),
        "TaskListNum": 0,
        "DateTask": ZERO_DAY,
        "KeyNum": _c(ap, "PatNum")[broken][order],
        "Descript": constant_string("Call patient to reschedule broken appointment", n),
        "TaskStatus": np.where(is_done, st["Done"], st["New"])[order],
        "IsRepeating": 0,
        "DateType": 0,
        "FromNum": 0,
        "ObjectType": enum_codes("TaskObjectType")["Patient"],
        "DateTimeEntry": entry[order],
        "UserNum": user[order],
        "DateTimeFinished": np.where(is_done, finished, ZERO_TS)[order],
        "PriorityDefNum": 0,
        "ReminderGroupId": "",
        "ReminderType": 0,
        "ReminderFrequency": 0,
        "DateTimeOriginal": entry[order],
        "SecDateTEdit": np.where(is_done, finished, entry)[order],
        "DescriptOverride": "",
        "IsReadOnly": 0,
        "TriageCategory": 0,
    })


def _securitylog(ctx: Context, setup, tables) -> None:
    parts = []

    def add(perm, user, when, pat, fkey, text):
        n = len(fkey)
        parts.append((np.full(n, PERM[perm]), np.broadcast_to(user, (n,)).astype(np.int64),
                      np.asarray(when, np.int64), np.asarray(pat, np.int64), np.asarray(fkey, np.int64),
                      np.full(n, len(texts))))
        texts.append(text)

    texts: list[str] = []
    pt = tables["patient"]
    add("PatientCreate", setup.frontdesk_user[_c(pt, "ClinicNum")],
        _c(pt, "SecDateEntry") * DAY + PATIENT_CREATE_SECOND, _c(pt, "PatNum"), _c(pt, "PatNum"), "Patient created")
    ap = tables["appointment"]
    add("AppointmentCreate", _c(ap, "SecUserNumEntry"), _c(ap, "SecDateTEntry"), _c(ap, "PatNum"),
        _c(ap, "AptNum"), "Appointment created")
    pl = tables["procedurelog"]
    done = _c(pl, "ProcStatus") == 2
    add("ProcComplCreate", setup.prov_user[_c(pl, "ProvNum")[done]],
        _c(pl, "ProcDate")[done] * DAY + PROC_COMPLETE_SECOND, _c(pl, "PatNum")[done], _c(pl, "ProcNum")[done],
        "Procedure set complete")
    pay = tables["payment"]
    add("PaymentCreate", _c(pay, "SecUserNumEntry"), _c(pay, "SecDateTEdit"), _c(pay, "PatNum"), _c(pay, "PayNum"),
        "Payment created")
    adj = tables["adjustment"]
    add("AdjustmentCreate", _c(adj, "SecUserNumEntry"), _c(adj, "SecDateTEdit"), _c(adj, "PatNum"),
        _c(adj, "AdjNum"), "Adjustment created")
    perm, user, when, pat, fkey, text = (np.concatenate([p[i] for p in parts]) for i in range(6))
    when = ctx.stamp(when)
    order = key_order(when, perm, fkey)
    n = len(order)
    user_comp = {int(u): f"WS-{int(u):02d}" for u in np.unique(user)}
    comp_names = sorted(user_comp.values())
    comp_idx = np.searchsorted(np.array(comp_names), np.array([user_comp[int(u)] for u in np.unique(user)]))
    u_lookup = np.zeros(int(user.max(initial=0)) + 1, dtype=np.int64)
    u_lookup[np.unique(user)] = comp_idx
    ctx.put("securitylog", n, {
        "SecurityLogNum": np.arange(1, n + 1),
        "PermType": perm[order],
        "UserNum": user[order],
        "LogDateTime": when[order],
        "LogText": strings(texts, text[order]),
        "PatNum": pat[order],
        "CompName": strings(comp_names, u_lookup[user[order]]),
        "FKey": fkey[order],
        "LogSource": 0,
        "DefNum": 0,
        "DefNumError": 0,
        "DateTPrevious": ZERO_TS,
    })

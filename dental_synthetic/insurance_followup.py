"""Insurance follow-up (issue #14): verification before appointments, claim tracking on aging claims,
scanned EOBs, the stock claim forms and OpenDental's blue book.

Tables: insverify, insverifyhist, claimtracking, eobattach, claimform, insbluebook, insbluebooklog.
Built from the finished Arrow tables; every draw comes from ``ctx.stream(STREAM)``, so no other table's
values change. Two existing tables gain rows or a column value (see ``build``): ``definition`` (appended
InsuranceVerificationStatus and ClaimCustomTracking rows) and ``insplan.IsBlueBookEnabled``.

- **Verification** (OpenDental's Insurance Verification List, ``OpenDentBusiness/Data Interface/
  InsVerifies.cs`` ``GetVerifyGridListQuery``): an appointment (AptStatus Scheduled or Complete) of a
  patient with insurance appears on the list from ``InsVerifyAppointmentScheduledDays`` (default 7) days
  before it when the patient's enrollment (insverify VerifyType PatientEnrollment, FKey = PatPlanNum) was
  last verified more than ``InsVerifyPatientEnrollmentDays`` (default 30) days before, or the plan's
  benefits (VerifyType InsuranceBenefit, FKey = PlanNum) more than ``InsVerifyBenefitEligibilityDays``
  (default 90) days before (defaults: ``OpenDentBusiness/Misc/ConvertDatabases3.cs``). For each listed
  appointment the front desk verifies in time (on one of the 7 days before it, not before it was booked)
  with ``VERIFY_IN_TIME_RATE``, late (1 to ``LATE_MAX_DAYS`` days after it) with ``VERIFY_LATE_RATE``,
  else never. Each verification is an ``insverifyhist`` row (a copy of the insverify row at that moment,
  VerifyUserNum = the clinic's front-desk user); ``insverify`` keeps the latest one on or before as_of.
  ``verification_ground_truth`` classifies every appointment from these events.
- **Claim tracking**: a sent claim (ClaimStatus S, or R before it was received) gets a first custom
  tracking entry (TrackingType ``StatusHistory``, TrackingDefNum = a ClaimCustomTracking definition) 28-35
  days after it was sent, then one every 14-28 days until it is received or as_of. ``CLAIM_NEGLECT_RATE``
  of the claims are neglected: at most one entry, then none.
- **eobattach**: ``EOB_SCAN_RATE`` of the insurance payments get a scanned EOB, created when the payment
  was entered (claimpayment.SecDateTEdit).
- **claimform**: OpenDental's stock forms as its upgrade scripts insert them (ConvertDatabases2/3/8.cs).
- **insbluebook**: ``InsBlueBooks.SynchForClaimNums``: one row per (claim, procedure) of the received and
  supplemental claimprocs of primary and secondary claims of category percentage plans (PlanType '')
  with IsBlueBookEnabled; InsPayAmt summed, AllowedOverride per unit (-1: none), kept when
  0 <= InsPayAmt <= the procedure's fee x units.
- **insbluebooklog**: one row per claimproc estimate on such a plan (``InsBlueBooks.GetAllowed``): no
  claim reports an allowed amount, so the UCR rule applies: ``InsBlueBookUcrFeePercent`` (default 80) %
  of the standard fee.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import reference as ref
from .columns import append_rows, constant_string, strings
from .context import Context
from .extras import _c  # a column as numpy: day numbers for dates, seconds for timestamps
from .practice import enum_codes
from .util import DAY, OFFICE_SECONDS, ZERO_DAY, business_day, expand, key_order, rank_within

TABLES = ("insverify", "insverifyhist", "claimtracking", "eobattach", "claimform", "insbluebook", "insbluebooklog")
STREAM = 9201  # this stage's random stream: ctx.stream(STREAM)

# OpenDental's preference defaults (ConvertDatabases3.cs; InsVerifies.cs reads them)
APPOINTMENT_SCHEDULED_DAYS = 7  # InsVerifyAppointmentScheduledDays: the list shows appointments this close
PATIENT_ENROLLMENT_DAYS = 30  # InsVerifyPatientEnrollmentDays: an enrollment verification lasts this long
BENEFIT_ELIGIBILITY_DAYS = 90  # InsVerifyBenefitEligibilityDays: a benefits verification lasts this long
UCR_FEE_PERCENT = 80  # InsBlueBookUcrFeePercent (ConvertDatabases6.cs)

VERIFY_IN_TIME_RATE = 0.86  # a listed appointment verified on one of the days before it
VERIFY_LATE_RATE = 0.06  # verified after the visit (then never: the rest)
LATE_MAX_DAYS = APPOINTMENT_SCHEDULED_DAYS  # a late verification: 1..LATE_MAX_DAYS days after the visit

CLAIM_FIRST_FOLLOWUP_DAYS = (28, 35)  # first tracking entry this many days after the claim was sent
CLAIM_FOLLOWUP_INTERVAL_DAYS = (14, 28)  # then one every this many days
CLAIM_NEGLECT_RATE = 0.25  # claims that get at most one tracking entry
EOB_SCAN_RATE = 0.6  # insurance payments whose EOB is scanned
NEGLECTED_MAX_ENTRIES = 1  # a neglected claim gets 0 to this many tracking entries
BLUEBOOK_LOG_START = 9 * 3600  # time of day (seconds) an estimate's insbluebooklog entries start on DateEntry
BLUEBOOK_LOG_SPREAD = 28_800  # seconds (8 h) over which they are spread, by ClaimProcNum modulo this

NEVER = -(10**9)  # "no verification yet" in day-number arithmetic

VERIFY_STATUS_DEFS = (("verified", "Verified", ""), ("pending", "Pending Carrier Response", ""))
TRACKING_DEFS = (  # ClaimCustomTracking: (key, ItemName, ItemValue = days the outstanding report suppresses)
    ("called", "Called carrier - claim in process", "14"),
    ("resubmitted", "Claim resubmitted", "21"),
    ("info", "Carrier requested information", "14"),
    ("voicemail", "Left voicemail with carrier", "7"),
)
TRACKING_NOTES = ("Called carrier, claim is in process.", "Resubmitted claim electronically.",
                  "Carrier asked for x-rays and narrative; sent.", "Left voicemail for claims department.")
CLAIM_FORMS = (  # Description, FontName, FontSize, UniqueID, PrintImages, Width, Height
    ("ADA 2012", "Arial", 9.0, "OD11", 1, 0, 0),
    ("1500", "Arial", 9.0, "OD9", 1, 0, 0),
    ("UB04", "Tahoma", 9.75, "OD10", 0, 0, 0),
    ("1500_02_12", "Arial", 9.0, "OD12", 0, 0, 0),
    ("ADA 2019", "Arial", 9.0, "OD11", 1, 850, 1100),
    ("ADA 2024", "Arial", 9.0, "OD11", 1, 850, 1100),
)

VT = enum_codes("VerifyTypes")
APT = enum_codes("ApptStatus")
CPS = enum_codes("ClaimProcStatus")


@dataclass(frozen=True)
class InsuredAppointments:
    """The appointments the verification list considers: AptStatus Scheduled or Complete, of a patient
    with a primary patplan (Ordinal 1). Arrays are aligned; ``day`` is the appointment's day number."""

    apt_num: np.ndarray
    day: np.ndarray
    ts: np.ndarray  # AptDateTime, seconds
    created: np.ndarray  # SecDateTEntry, seconds
    clinic: np.ndarray
    pat_plan: np.ndarray  # PatPlanNum of the primary patplan
    plan: np.ndarray  # its inssub.PlanNum


def insured_appointments(tables: dict[str, pa.Table]) -> InsuredAppointments:
    """Appointments of insured patients in Scheduled or Complete status (OpenDental's verification list)."""
    ap, pp, sub = tables["appointment"], tables["patplan"], tables["inssub"]
    primary = _c(pp, "Ordinal") == 1
    n_pat = int(_c(tables["patient"], "PatNum").max(initial=0)) + 1
    pp_of_pat = np.zeros(n_pat, dtype=np.int64)
    pp_of_pat[_c(pp, "PatNum")[primary]] = _c(pp, "PatPlanNum")[primary]
    sub_plan = np.zeros(int(_c(sub, "InsSubNum").max(initial=0)) + 1, dtype=np.int64)
    sub_plan[_c(sub, "InsSubNum")] = _c(sub, "PlanNum")
    pp_plan = np.zeros(int(_c(pp, "PatPlanNum").max(initial=0)) + 1, dtype=np.int64)
    pp_plan[_c(pp, "PatPlanNum")] = sub_plan[_c(pp, "InsSubNum")]
    status = _c(ap, "AptStatus")
    pat_plan = pp_of_pat[_c(ap, "PatNum")]
    keep = np.isin(status, [APT["Scheduled"], APT["Complete"]]) & (pat_plan > 0)
    ts = _c(ap, "AptDateTime")[keep]
    return InsuredAppointments(apt_num=_c(ap, "AptNum")[keep], day=ts // DAY, ts=ts,
                               created=_c(ap, "SecDateTEntry")[keep], clinic=_c(ap, "ClinicNum")[keep],
                               pat_plan=pat_plan[keep], plan=pp_plan[pat_plan[keep]])


def build(ctx: Context, setup, people, tables: dict[str, pa.Table]) -> None:
    """Put the seven tables into ``ctx``; append this stage's definitions to ``tables["definition"]`` and
    set ``insplan.IsBlueBookEnabled`` as OpenDental's upgrade does (1 unless the plan has a fee schedule)."""
    rng = ctx.stream(STREAM)
    defs = _append_definitions(tables)
    plan_fs = _c(tables["insplan"], "FeeSched")
    tables["insplan"] = tables["insplan"].set_column(
        tables["insplan"].schema.get_field_index("IsBlueBookEnabled"), "IsBlueBookEnabled",
        pa.array((plan_fs == 0).astype(np.int64)))
    _verification(ctx, setup, tables, rng, defs)
    _claimtracking(ctx, setup, tables, rng, defs)
    _eobattach(ctx, tables, rng)
    _claimform(ctx)
    _bluebook(ctx, tables)


def _append_definitions(tables: dict[str, pa.Table]) -> dict[str, int]:
    """Append InsuranceVerificationStatus and ClaimCustomTracking definitions; return key -> DefNum."""
    d = tables["definition"]
    cats = enum_codes("DefCat")
    start = int(_c(d, "DefNum").max(initial=0)) + 1
    rows = [("InsuranceVerificationStatus", *r) for r in VERIFY_STATUS_DEFS] + \
           [("ClaimCustomTracking", *r) for r in TRACKING_DEFS]
    category = _c(d, "Category")
    order = {c: int((category == cats[c]).sum()) for c in ("InsuranceVerificationStatus", "ClaimCustomTracking")}
    keys, category_of, item_order = {}, [], []
    for i, (cat, key, _name, _value) in enumerate(rows):
        keys[key] = start + i
        category_of.append(cats[cat])
        item_order.append(order[cat])
        order[cat] += 1
    append_rows(tables, "definition", len(rows), {
        "DefNum": start + np.arange(len(rows)), "Category": np.array(category_of), "ItemOrder": np.array(item_order),
        "ItemName": [r[2] for r in rows], "ItemValue": [r[3] for r in rows]})
    return keys


@dataclass(frozen=True)
class _VerifyEvents:
    """The verifications that happened on or before as_of, aligned per event: VerifyType, FKey (PatPlanNum
    or PlanNum), day (day number), stamp (seconds), UserNum (the clinic's front-desk user) and the hours
    the appointment was on the list before it."""

    kind: np.ndarray
    fkey: np.ndarray
    day: np.ndarray
    stamp: np.ndarray
    user: np.ndarray
    hours: np.ndarray


def _verification(ctx: Context, setup, tables, rng: np.random.Generator, defs: dict[str, int]) -> None:
    """insverify and insverifyhist (see the module docstring's **Verification**)."""
    events = _verification_events(ctx, setup, tables, rng)
    _put_insverify(ctx, tables, events, defs)


def _verification_events(ctx: Context, setup, tables, rng: np.random.Generator) -> _VerifyEvents:
    """The enrollment and benefit verifications of the insured appointments (``_enrollment_events``,
    ``_benefit_events``), on or before as_of."""
    apts = insured_appointments(tables)
    n = len(apts.day)
    # the list shows appointments up to APPOINTMENT_SCHEDULED_DAYS ahead: later ones are not acted on yet
    u_e, u_b = rng.random(n), rng.random(n)
    before_e, before_b = rng.integers(0, APPOINTMENT_SCHEDULED_DAYS + 1, size=(2, n))
    after_e, after_b = rng.integers(1, LATE_MAX_DAYS + 1, size=(2, n))
    seconds = rng.integers(*OFFICE_SECONDS, size=(2, n))
    created_day = apts.created // DAY
    acted = apts.day <= ctx.as_of + APPOINTMENT_SCHEDULED_DAYS

    e_rows, e_days = _enrollment_events(apts, acted, u_e, before_e, after_e, created_day)
    b_rows, b_days = _benefit_events(apts, acted, u_b, before_b, after_b, created_day)
    kind = np.concatenate([np.full(len(e_rows), VT["PatientEnrollment"]), np.full(len(b_rows), VT["InsuranceBenefit"])])
    rows = np.concatenate([e_rows, b_rows])
    day = np.concatenate([e_days, b_days])
    sec = np.concatenate([seconds[0][e_rows], seconds[1][b_rows]])
    keep = day <= ctx.as_of  # nothing after as_of
    kind, rows, day, sec = kind[keep], rows[keep], day[keep], sec[keep]
    # hours the appointment was on the list before it: from max(7 days before, booked) to its time
    listed_from = np.maximum(apts.ts[rows] - APPOINTMENT_SCHEDULED_DAYS * DAY, apts.created[rows])
    fkey = np.where(kind == VT["PatientEnrollment"], apts.pat_plan[rows], apts.plan[rows])
    return _VerifyEvents(kind=kind, fkey=fkey, day=day, stamp=np.minimum(day * DAY + sec, ctx.last_ts),
                         user=setup.frontdesk_user[apts.clinic[rows]],
                         hours=np.round((apts.ts[rows] - listed_from) / 3600.0, 2))


def _put_insverify(ctx: Context, tables, ev: _VerifyEvents, defs: dict[str, int]) -> None:
    """Put ``insverify`` (one row per patplan, then one per insplan, each with its latest verification)
    and ``insverifyhist`` (one row per verification, in (stamp, insverify row) order)."""
    pp, ip = tables["patplan"], tables["insplan"]
    pp_nums, plan_nums = _c(pp, "PatPlanNum"), _c(ip, "PlanNum")
    iv_kind = np.concatenate([np.full(len(pp_nums), VT["PatientEnrollment"]), np.full(len(plan_nums), VT["InsuranceBenefit"])])
    iv_fkey = np.concatenate([pp_nums, plan_nums])
    iv_entry = np.concatenate([_c(pp, "SecDateTEntry"), _c(ip, "SecDateTEdit")])
    n_iv = len(iv_fkey)
    iv_num = np.arange(1, n_iv + 1)
    slot = np.where(ev.kind == VT["PatientEnrollment"], ev.fkey - 1, len(pp_nums) + ev.fkey - 1)  # insverify row
    # a verification is recorded on its row after the row was entered (an enrollment's patplan can be
    # entered later on the verification's day: the verification then follows it, the same day)
    stamp = np.maximum(ev.stamp, iv_entry[slot]) if len(slot) else ev.stamp
    o = key_order(stamp, slot)
    last = np.full(n_iv, -1, dtype=np.int64)
    last[slot[o]] = o  # the latest event per insverify row (later assignments win)
    has = last >= 0
    li = np.where(has, last, 0)
    ctx.put("insverify", n_iv, {
        "InsVerifyNum": iv_num,
        "DateLastVerified": np.where(has, ev.day[li] if len(ev.day) else ZERO_DAY, ZERO_DAY),
        "UserNum": np.where(has, ev.user[li] if len(ev.user) else 0, 0),
        "VerifyType": iv_kind,
        "FKey": iv_fkey,
        "DefNum": np.where(has, defs["verified"], 0),
        "Note": "",
        "DateLastAssigned": ZERO_DAY,
        "DateTimeEntry": iv_entry,
        "HoursAvailableForVerification": np.where(has, ev.hours[li] if len(ev.hours) else 0.0, 0.0),
        "SecDateTEdit": np.where(has, stamp[li] if len(stamp) else 0, iv_entry),
    })
    n_h = len(o)
    ctx.put("insverifyhist", n_h, {
        "InsVerifyHistNum": np.arange(1, n_h + 1),
        "InsVerifyNum": iv_num[slot[o]],
        "DateLastVerified": ev.day[o],
        "UserNum": ev.user[o],
        "VerifyType": ev.kind[o],
        "FKey": ev.fkey[o],
        "DefNum": defs["verified"],
        "Note": "",
        "DateLastAssigned": ZERO_DAY,
        "DateTimeEntry": iv_entry[slot[o]],
        "HoursAvailableForVerification": ev.hours[o],
        "VerifyUserNum": ev.user[o],
        "SecDateTEdit": stamp[o],
    })


def _in_time_day(day, before, created_day, prev):
    """The day an in-time verification happens: ``before`` days ahead of the appointment, not before it
    was booked, and not while the previous verification was still current (it was not on the list)."""
    return np.minimum(np.maximum.reduce([day - before, created_day, prev]), day)


def _enrollment_events(apts, acted, u, before, after, created_day):
    """Per patplan, appointments in date order (vectorised across patplans, one rank at a time): an
    appointment not covered by the last verification (within PATIENT_ENROLLMENT_DAYS before it) is
    listed; the front desk verifies in time, late or never. Returns (appointment row, day) per event."""
    idx = np.flatnonzero(acted)
    idx = idx[key_order(apts.pat_plan[idx], apts.day[idx], apts.apt_num[idx])]
    rank = rank_within(apts.pat_plan[idx])
    last = np.full(int(apts.pat_plan.max(initial=0)) + 1, NEVER, dtype=np.int64)
    by_rank = idx[np.argsort(rank, kind="stable")]
    bounds = np.searchsorted(np.sort(rank), np.arange(int(rank.max(initial=-1)) + 2))
    out_rows, out_days = [], []
    for k in range(len(bounds) - 1):
        r = by_rank[bounds[k]:bounds[k + 1]]
        p, d = apts.pat_plan[r], apts.day[r]
        prev = last[p]
        covered = (prev <= d) & (d - prev <= PATIENT_ENROLLMENT_DAYS)
        in_time = ~covered & (u[r] < VERIFY_IN_TIME_RATE)
        late = ~covered & ~in_time & (u[r] < VERIFY_IN_TIME_RATE + VERIFY_LATE_RATE)
        lower = np.where(prev <= d, prev + PATIENT_ENROLLMENT_DAYS + 1, NEVER)
        v = np.where(in_time, _in_time_day(d, before[r], created_day[r], lower), d + after[r])
        has = in_time | late
        last[p[has]] = v[has]
        out_rows.append(r[has])
        out_days.append(v[has])
    if not out_rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_rows), np.concatenate(out_days)


def _benefit_events(apts, acted, u, before, after, created_day):
    """Per plan, walk its appointments in date order, jumping over those the last verification covers
    (within BENEFIT_ELIGIBILITY_DAYS before them). Returns (appointment row, day) per event."""
    rows_out, days_out = [], []
    for plan in np.unique(apts.plan[acted]):
        idx = np.flatnonzero(acted & (apts.plan == plan))
        idx = idx[key_order(apts.day[idx], apts.apt_num[idx])]
        d_sorted = apts.day[idx]
        i, last = 0, NEVER
        while i < len(idx):
            d = int(d_sorted[i])
            if last <= d and d - last <= BENEFIT_ELIGIBILITY_DAYS:
                i = max(i + 1, int(np.searchsorted(d_sorted, last + BENEFIT_ELIGIBILITY_DAYS + 1)))
                continue
            r = idx[i]
            if u[r] < VERIFY_IN_TIME_RATE:
                lower = last + BENEFIT_ELIGIBILITY_DAYS + 1 if last <= d else NEVER
                last = int(min(max(d - before[r], created_day[r], lower), d))
            elif u[r] < VERIFY_IN_TIME_RATE + VERIFY_LATE_RATE:
                last = d + int(after[r])
            else:
                i += 1
                continue
            rows_out.append(r)
            days_out.append(last)
            i += 1
    return np.array(rows_out, dtype=np.int64), np.array(days_out, dtype=np.int64)


def verification_ground_truth(tables: dict[str, pa.Table], as_of_day: int) -> dict[str, np.ndarray]:
    """Per insured appointment on or before ``as_of_day``: how its primary patplan's enrollment and its plan's
    benefits were verified, from the insverifyhist events on or before ``as_of_day``. Codes: 0 in time
    (an event within PATIENT_ENROLLMENT_DAYS / BENEFIT_ELIGIBILITY_DAYS before the appointment's day, or
    on it), 1 late (none in time, one 1..LATE_MAX_DAYS days after it), 2 not verified.
    Returns ``apt_num``, ``day``, ``clinic``, ``enrollment``, ``benefits``."""
    apts = insured_appointments(tables)
    keep = apts.day <= as_of_day
    h = tables["insverifyhist"]
    h_day, h_kind, h_fkey = _c(h, "DateLastVerified"), _c(h, "VerifyType"), _c(h, "FKey")
    ok = h_day <= as_of_day
    out = {"apt_num": apts.apt_num[keep], "day": apts.day[keep], "clinic": apts.clinic[keep]}
    for name, kind, keys, window in (("enrollment", VT["PatientEnrollment"], apts.pat_plan, PATIENT_ENROLLMENT_DAYS),
                                     ("benefits", VT["InsuranceBenefit"], apts.plan, BENEFIT_ELIGIBILITY_DAYS)):
        sel = ok & (h_kind == kind)
        ev = np.sort(h_fkey[sel] * 100_000_000 + (h_day[sel] + 50_000_000))  # (key, day) packed, sorted
        base = keys[keep] * 100_000_000 + 50_000_000
        d = apts.day[keep]

        def any_between(lo, hi):
            return np.searchsorted(ev, base + hi, side="right") > np.searchsorted(ev, base + lo, side="left")

        in_time = any_between(d - window, d)
        late = ~in_time & any_between(d + 1, d + LATE_MAX_DAYS)
        out[name] = np.where(in_time, 0, np.where(late, 1, 2))
    return out


def _claimtracking(ctx: Context, setup, tables, rng: np.random.Generator, defs: dict[str, int]) -> None:
    cl = tables["claim"]
    status = cl.column("ClaimStatus").to_pylist()
    sent = _c(cl, "DateSent")
    received = _c(cl, "DateReceived")
    is_open = np.array([s == "S" for s in status], dtype=bool)
    is_recv = np.array([s == "R" for s in status], dtype=bool)
    end = np.where(is_open, ctx.as_of, received - 1)  # tracked until the day before it was received
    span = end - sent
    cand = np.flatnonzero((is_open | is_recv) & (sent > ZERO_DAY) & (span >= CLAIM_FIRST_FOLLOWUP_DAYS[0]))
    n_c = len(cand)
    neglected = rng.random(n_c) < CLAIM_NEGLECT_RATE
    cap = np.where(neglected, rng.integers(0, NEGLECTED_MAX_ENTRIES + 1, size=n_c), 10**6)
    lo, hi = CLAIM_FOLLOWUP_INTERVAL_DAYS
    most = (span[cand] - CLAIM_FIRST_FOLLOWUP_DAYS[0]) // lo + 1 if n_c else np.zeros(0, np.int64)
    owner, pos = expand(np.minimum(most, cap))
    step = np.where(pos == 0, rng.integers(CLAIM_FIRST_FOLLOWUP_DAYS[0], CLAIM_FIRST_FOLLOWUP_DAYS[1] + 1, size=len(owner)),
                    rng.integers(lo, hi + 1, size=len(owner)))
    offset = np.cumsum(step)
    first = np.cumsum(np.bincount(owner, minlength=n_c)) - np.bincount(owner, minlength=n_c)
    offset = offset - np.concatenate([[0], offset])[first[owner]]
    claim = cand[owner]
    day = sent[claim] + offset
    day = np.where(business_day(day) <= end[claim], business_day(day), day)
    keep = day <= end[claim]
    claim, day = claim[keep], day[keep]
    which = rng.integers(0, len(TRACKING_DEFS), size=len(claim))
    stamp = np.minimum(day * DAY + rng.integers(*OFFICE_SECONDS, size=len(claim)), ctx.last_ts)
    o = key_order(stamp, claim)
    n = len(o)
    def_nums = np.array([defs[k] for k, _, _ in TRACKING_DEFS], dtype=np.int64)
    ctx.put("claimtracking", n, {
        "ClaimTrackingNum": np.arange(1, n + 1),
        "ClaimNum": _c(cl, "ClaimNum")[claim][o],
        "TrackingType": constant_string("StatusHistory", n),
        "UserNum": setup.billing_user,
        "DateTimeEntry": stamp[o],
        "Note": strings(TRACKING_NOTES, which[o]),
        "TrackingDefNum": def_nums[which[o]],
        "TrackingErrorDefNum": 0,
    })


def _eobattach(ctx: Context, tables, rng: np.random.Generator) -> None:
    cp = tables["claimpayment"]
    nums = _c(cp, "ClaimPaymentNum")
    scanned = np.flatnonzero(rng.random(len(nums)) < EOB_SCAN_RATE)
    created = np.minimum(_c(cp, "SecDateTEdit")[scanned], ctx.last_ts)
    o = key_order(created, nums[scanned])
    rows = scanned[o]
    n = len(rows)
    check_day = _c(cp, "CheckDate")[rows].astype("datetime64[D]").astype(str)
    ctx.put("eobattach", n, {
        "EobAttachNum": np.arange(1, n + 1),
        "ClaimPaymentNum": nums[rows],
        "DateTCreated": created[o],
        "FileName": [f"EOB_{d.replace('-', '')}_{int(k)}.pdf" for d, k in zip(check_day, nums[rows])],
        "RawBase64": "",
    })


def _claimform(ctx: Context) -> None:
    n = len(CLAIM_FORMS)
    ctx.put("claimform", n, {
        "ClaimFormNum": np.arange(1, n + 1),
        "Description": [f[0] for f in CLAIM_FORMS],
        "IsHidden": 0,
        "FontName": [f[1] for f in CLAIM_FORMS],
        "FontSize": np.array([f[2] for f in CLAIM_FORMS]),
        "UniqueID": [f[3] for f in CLAIM_FORMS],
        "PrintImages": np.array([f[4] for f in CLAIM_FORMS]),
        "OffsetX": 0,
        "OffsetY": 0,
        "Width": np.array([f[5] for f in CLAIM_FORMS]),
        "Height": np.array([f[6] for f in CLAIM_FORMS]),
    })


@dataclass(frozen=True)
class _BlueBookRefs:
    """The lookups the blue book reads. Per PlanNum: ``category`` (a category percentage plan, PlanType '',
    with IsBlueBookEnabled), ``carrier`` (CarrierNum), ``group`` (its insplan row); per ClaimNum:
    ``pri_sec`` (ClaimType P or S), ``claim_type``; per ProcNum: ``proc_row`` (procedurelog row); per
    procedurelog row: ``fee`` (ProcFee, cents), ``units`` (UnitQty + BaseUnits, at least 1)."""

    category: np.ndarray
    carrier: np.ndarray
    group: np.ndarray
    pri_sec: np.ndarray
    claim_type: np.ndarray
    proc_row: np.ndarray
    fee: np.ndarray
    units: np.ndarray


def _bluebook(ctx: Context, tables) -> None:
    """insbluebook and insbluebooklog (see the module docstring)."""
    refs = _bluebook_refs(tables)
    _insbluebook(ctx, tables, refs)
    _insbluebooklog(ctx, tables, refs)


def _bluebook_refs(tables) -> _BlueBookRefs:
    """The plan, claim and procedure lookups of ``_BlueBookRefs``."""
    cl, ip, pl = tables["claim"], tables["insplan"], tables["procedurelog"]
    plan_num = _c(ip, "PlanNum")
    n_plan = int(plan_num.max(initial=0)) + 1
    category = np.zeros(n_plan, dtype=bool)
    category[plan_num] = (np.array(ip.column("PlanType").to_pylist()) == "") & (_c(ip, "IsBlueBookEnabled") == 1)
    carrier = np.zeros(n_plan, dtype=np.int64)
    carrier[plan_num] = _c(ip, "CarrierNum")
    group_of_plan = np.zeros(n_plan, dtype=np.int64)
    group_of_plan[plan_num] = np.arange(len(plan_num))
    n_claim = int(_c(cl, "ClaimNum").max(initial=0)) + 1
    claim_pri_sec = np.zeros(n_claim, dtype=bool)
    claim_pri_sec[_c(cl, "ClaimNum")] = np.isin(np.array(cl.column("ClaimType").to_pylist()), ["P", "S"])
    claim_type = np.full(n_claim, "", dtype=object)
    claim_type[_c(cl, "ClaimNum")] = np.array(cl.column("ClaimType").to_pylist(), dtype=object)
    proc_row = np.zeros(int(_c(pl, "ProcNum").max(initial=0)) + 1, dtype=np.int64)
    proc_row[_c(pl, "ProcNum")] = np.arange(pl.num_rows)
    units = _c(pl, "UnitQty") + _c(pl, "BaseUnits")
    units = np.where(units > 0, units, 1)  # OpenDental's ProcFeeTotal counts at least one unit
    return _BlueBookRefs(category=category, carrier=carrier, group=group_of_plan, pri_sec=claim_pri_sec,
                         claim_type=claim_type, proc_row=proc_row,
                         fee=np.rint(_c(pl, "ProcFee") * 100).astype(np.int64), units=units)


def _insbluebook(ctx: Context, tables, refs: _BlueBookRefs) -> None:
    """Put ``insbluebook``: per (claim, procedure) of the received and supplemental claimprocs of primary
    and secondary claims on category percentage plans, InsPayAmt summed (dollars), AllowedOverride per
    unit (-1: none); kept when 0 <= InsPayAmt <= the procedure's fee x units."""
    cp, ip, pl = tables["claimproc"], tables["insplan"], tables["procedurelog"]
    n_claim = len(refs.pri_sec)
    status, c_plan, c_claim, c_proc = _c(cp, "Status"), _c(cp, "PlanNum"), _c(cp, "ClaimNum"), _c(cp, "ProcNum")
    paid = (np.isin(status, [CPS["Received"], CPS["Supplemental"]]) & (c_claim > 0) & (c_proc > 0)
            & refs.category[c_plan] & refs.pri_sec[np.minimum(c_claim, n_claim - 1)])
    rows = np.flatnonzero(paid)
    rows = rows[key_order(c_claim[rows], c_proc[rows])]
    key = c_claim[rows] * 10**9 + c_proc[rows]
    firsts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(rows) else np.zeros(0, np.int64)
    pay = np.rint(_c(cp, "InsPayAmt")[rows] * 100).astype(np.int64)
    g_pay = np.add.reduceat(pay, firsts) if len(rows) else np.zeros(0, np.int64)
    is_recv = status[rows] == CPS["Received"]
    allowed = np.where(is_recv, _c(cp, "AllowedOverride")[rows], -np.inf)
    g_allowed = np.maximum.reduceat(allowed, firsts) if len(rows) else np.zeros(0)
    g_date = np.maximum.reduceat(np.where(is_recv, _c(cp, "ProcDate")[rows], ZERO_DAY), firsts) if len(rows) else np.zeros(0, np.int64)
    g_entry = np.maximum.reduceat(_c(cp, "SecDateTEdit")[rows], firsts) if len(rows) else np.zeros(0, np.int64)
    g_claim, g_proc, g_plan = c_claim[rows][firsts], c_proc[rows][firsts], c_plan[rows][firsts]
    pr = refs.proc_row[g_proc]
    fee_total = refs.fee[pr] * refs.units[pr]
    valid = (g_pay >= 0) & (g_pay <= fee_total)
    g_allowed = np.where(g_allowed == -1, -1.0, np.round(g_allowed / refs.units[pr], 2))
    o = key_order(g_entry, g_claim, g_proc)
    o = o[valid[o]]
    n = len(o)
    group_nums = ip.column("GroupNum").to_pylist()
    ctx.put("insbluebook", n, {
        "InsBlueBookNum": np.arange(1, n + 1),
        "ProcCodeNum": _c(pl, "CodeNum")[pr][o],
        "CarrierNum": refs.carrier[g_plan][o],
        "PlanNum": g_plan[o],
        "GroupNum": strings(group_nums, refs.group[g_plan][o]),
        "InsPayAmt": g_pay[o] / 100.0,
        "AllowedOverride": g_allowed[o],
        "DateTEntry": np.minimum(g_entry[o], ctx.last_ts),
        "ProcNum": g_proc[o],
        "ProcDate": g_date[o],
        "ClaimType": [refs.claim_type[c] for c in g_claim[o]],
        "ClaimNum": g_claim[o],
    })


def _insbluebooklog(ctx: Context, tables, refs: _BlueBookRefs) -> None:
    """Put ``insbluebooklog``: one entry per claimproc estimate (NotReceived, Received, Estimate) on a
    category percentage plan, made when the claimproc was entered; no claim reports an allowed amount,
    so GetAllowed falls through to the UCR fee rule: UCR_FEE_PERCENT % of the standard fee x UnitQty, or
    the procedure's fee x units when that is less (AllowedFee, dollars)."""
    cp, pl, fee = tables["claimproc"], tables["procedurelog"], tables["fee"]
    status, c_plan, c_proc = _c(cp, "Status"), _c(cp, "PlanNum"), _c(cp, "ProcNum")
    est = np.flatnonzero(np.isin(status, [CPS["NotReceived"], CPS["Received"], CPS["Estimate"]])
                         & (c_proc > 0) & refs.category[c_plan])
    pr = refs.proc_row[c_proc[est]]
    std = np.rint(_c(fee, "Amount") * 100).astype(np.int64)
    fee_of_code = np.zeros(int(_c(pl, "CodeNum").max(initial=0)) + 1, dtype=np.int64)
    std_rows = _c(fee, "FeeSched") == ref.FEE_STANDARD
    codes = _c(fee, "CodeNum")[std_rows]
    fee_of_code[codes[codes < len(fee_of_code)]] = std[std_rows][codes < len(fee_of_code)]
    qty = np.maximum(_c(pl, "UnitQty")[pr], 1)
    allowed_c = (fee_of_code[_c(pl, "CodeNum")[pr]] * UCR_FEE_PERCENT + 50) // 100 * qty
    total = refs.fee[pr] * refs.units[pr]
    over = allowed_c > total
    used = np.where(over, total, allowed_c)
    text = [f"Rule Type: UCR Fee. Allowed amount was greater than procedure's fee. Procedure's fee used as "
            f"allowed amount: {a / 100:.2f}." if o_ else
            f"Rule Type: UCR Fee. Allowed amount: {a / 100:.2f} ({UCR_FEE_PERCENT}% of UCR fee)."
            for a, o_ in zip(used.tolist(), over.tolist())]
    entry = np.minimum(_c(cp, "DateEntry")[est] * DAY + BLUEBOOK_LOG_START
                       + (_c(cp, "ClaimProcNum")[est] % BLUEBOOK_LOG_SPREAD), ctx.last_ts)
    o = key_order(entry, _c(cp, "ClaimProcNum")[est])
    n = len(o)
    ctx.put("insbluebooklog", n, {
        "InsBlueBookLogNum": np.arange(1, n + 1),
        "ClaimProcNum": _c(cp, "ClaimProcNum")[est][o],
        "AllowedFee": used[o] / 100.0,
        "DateTEntry": entry[o],
        "Description": [text[i] for i in o.tolist()],
    })

"""Money: insurance claims and estimates (primary and secondary, supplementals, denials), insurance
checks, adjustments, patient payments and payment plans, unearned money (prepayments, deposits,
overpayments), income transfers and refunds. Everything is computed in integer cents; no procedure is
ever paid beyond its charge (money beyond what is owed stays unearned, on no procedure), so a family's
credit balance is exactly its unearned money not yet used or refunded (of the types shown on the account).

Per completed procedure (charge = ProcFee x (UnitQty + BaseUnits)):

- insured and billable: allowed = the PPO fee schedule's fee (category-percentage plans: the charge),
  write-off = charge - allowed; the estimate applies the calendar-year deductible (basic and major
  services) and the plan's percentage, capped by the calendar-year maximum. Procedures of one patient
  on one day form a claim; claims are sent 0-3 days later and received 8-40 days after that (a few late,
  60-150 days, and a few never: LATE_CLAIM_RATE, UNRECEIVED_CLAIM_RATE) when that is on or before as_of;
  while pending a PPO claimproc's WriteOff holds its write-off estimate. Most pay the estimate, some pay
  less, a few are denied: received with InsPayAmt 0 (the write-off holds, Remarks and
  claim.ReasonUnderPaid say why). How often a carrier denies or underpays is its own: 4 % denied and 8 %
  reduced on average, times a per-carrier factor (`carrier_reliability`, 0.25-1.75 spread over the
  carriers, the signal behind the journey's target_insurance_accurate). About a third of the underpaid claims
  get a supplemental payment later;
- a second plan (patplan Ordinal 2): a secondary claim per primary claim, held until the primary is
  received, estimating at most what the primary left (coordination of benefits); denied 5 % and
  reduced 7 % of the time on average (`SECONDARY_DENIED_RATE`, `SECONDARY_REDUCED_BELOW`), with the
  same per-carrier factor;
- discounts (uninsured only): cash, senior and professional-courtesy adjustments, negative;
- the patient pays at the visit (all or half of the estimated portion, or nothing) and usually the rest
  later (after the claim is received when insured); large uninsured balances may go on a payment plan
  paid monthly; tiny leftovers are written off; a broken appointment may carry a missed-appointment fee
  (an adjustment on the day it was broken);
- finance charges and discounts dated exactly on the aging bucket boundaries (``dental_synthetic.boundary``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .boundary import BoundaryProcedures, boundary_adjustments
from .columns import strings
from .context import Context
from .people import People, relationship
from .practice import Setup, enum_codes
from .schedule import APT, PROC, Appointments, Clinical, Procedures
from .util import (
    group_by_patient_day,
    DAY,
    ZERO_DAY,
    add_months,
    at,
    cumsum_before,
    expand,
    group_bounds,
    group_firsts,
    group_sum,
    key_order,
    lookup,
    pct_of,
    primary_keys,
    rank_within,
    ts,
    weekday,
    year_of,
)

CP = enum_codes("ClaimProcStatus")
CARRIER_STREAM = 6271  # seed offset of the per-carrier denial/underpayment factor's own random stream
KIND_PAYMENT, KIND_TRANSFER, KIND_REFUND = 0, 1, 2  # what a paysplit's payment is
AT_VISIT_NONE, AT_VISIT_HALF, AT_VISIT_ALL = 0, 1, 2  # a visit pays none, half or all of its estimate at the visit
PREPAY_RATE = 0.15  # share of visits paid at the visit with >= PREPAY_MIN cents that were prepaid instead
PREPAY_MIN = 20_000  # cents
PREPAY_DEPOSIT_RATE = 0.08  # share of appointments booked in the DEPOSIT_AHEAD_DAYS after as_of paid ahead
OVERPAY_RATE = 0.04  # share of later payments rounded up (OVERPAY_ROUND; the excess is unearned)
PLAN_CREDIT_SECOND = 9 * 3600  # a plan's credit row is entered at 09:00 on the plan's date
DYNAMIC_PLAN_RATE = 0.4  # share of payment plans made dynamic (procedure linked, debits issued when due)
DYNAMIC_PLAN_STREAM = 8233  # seed offset of that draw's own random stream: every other draw stays as it was
REFUND_RATE = 0.5  # share of overpayments refunded (REFUND_DAYS later)
TP_PREPAYMENT_SHARE = 0.5  # share of the deposits taken as a Treatment Plan Prepayment (hidden unearned type)
TP_PREPAYMENT_STREAM = 7109  # seed offset of the deposits' type draw: every other draw stays as it was
WRITEOFF_BY_CLAIM_DATE = 2  # ReportsPPOwriteoffDefaultToProcDate: initial claim date / insurance pay date
NOT_ON_CHECK_DAYS = 7  # claims received in this many days before as-of may not be on a check yet
NOT_ON_CHECK_RATE = 0.3  # share of them (drawn on a stream of its own, seed + NOT_ON_CHECK_STREAM)
NOT_ON_CHECK_STREAM = 5147
CAPITATION_COPAY_PCT = 25  # a capitation plan's copay, in percent of the office fee (see _capitation)

# claims: created, sent, received, paid (day ranges are [low, high), as drawn)
CLAIM_CREATED_HOUR = 17  # a claim is created in the hour from 17:00 on the visit day
PRIMARY_SENT_SAME_DAY_RATE = 0.7  # share of primary claims sent on the visit day
SECONDARY_SENT_SAME_DAY_RATE = 0.6  # share of secondary claims sent on the day the primary is received
CLAIM_SENT_DELAY_DAYS = (1, 4)  # days the other claims wait before they are sent
CLAIM_RECEIVED_DAYS = (8, 41)  # days from sending to payment, then on to the carrier's next pay weekday
LATE_CLAIM_RATE = 0.05  # share of sent claims the carrier pays late: LATE_CLAIM_DAYS after sending instead
LATE_CLAIM_DAYS = (60, 151)  # days from sending to a late payment, then on to the carrier's pay weekday
UNRECEIVED_CLAIM_RATE = 0.01  # share of sent claims the carrier never pays by as-of (lost or disputed: still open)
CLAIM_DELAY_STREAM = 6389  # seed offset of the late / unreceived draw (primary claims; secondary + 1): a stream
#                            of its own, so every draw of ctx.rng stays as it was
PRIMARY_DENIED_RATE = 0.04  # a primary claim's outcome draw (over its carrier factor) below this: denied
PRIMARY_REDUCED_BELOW = 0.12  # from PRIMARY_DENIED_RATE up to this: paid at a reduced rate (8 %)
SECONDARY_DENIED_RATE = 0.05  # the same thresholds for secondary claims (5 % denied, 7 % reduced)
SECONDARY_REDUCED_BELOW = 0.12
REDUCED_PAY_PCT = (50, 96)  # percent of its estimate a claim paid at a reduced rate pays
CARRIER_FACTORS = (0.25, 1.75)  # lowest and highest carrier factor on those rates (evenly spaced, mean 1)
SUPPLEMENTAL_RATE = 0.35  # share of reduced primary claims (patient without a second plan) paid a supplemental
SUPPLEMENTAL_DAYS = (14, 46)  # days after the claim was received, then on to the carrier's pay weekday
SUPPLEMENTAL_FULL_SHARE = 0.6  # share of supplementals paying the whole shortfall (the others half of it)
EFT_SHARE = 0.55  # share of insurance checks paid by EFT (no check number)
INS_CHECK_NUMBERS = (100_000, 999_999)  # an insurance check's number, [low, high)
CHECK_ISSUED_DAYS = (1, 6)  # days an insurance check is issued before its date (not before its claims were sent)

# visits: what the patient pays and when, discounts (uninsured only)
PAY_AT_VISIT_INSURED = (0.78, 0.85)  # insured visits: draw below the first pays all the estimated portion
#                                      at the visit, below the second half of it, the others nothing
PAY_AT_VISIT_UNINSURED = (0.62, 0.74)  # the same for uninsured visits
PAYS_REST_RATE = 0.88  # share of visits whose remaining balance is paid later
LATER_PAY_DAYS = (7, 61)  # days after the visit (or after insurance settled it) that later payment comes
PREPAY_DAYS = (1, 22)  # days before the visit a prepaid visit's prepayment comes
COURTESY_RATE = 0.004  # share of uninsured visits given a professional courtesy (the whole charge)
SENIOR_AGE = 65  # years: uninsured patients this old may get the senior discount
SENIOR_RATE = 0.6  # share of those patients' visits that get it
SENIOR_DISCOUNT_PCT = 10  # the senior discount, percent of the charge
CASH_DISCOUNT_RATE = 0.5  # share of the other uninsured visits paid in full at the visit given a cash discount
CASH_DISCOUNT_PCT = 5  # the cash discount, percent of the charge, on procedures of CASH_DISCOUNT_MIN or more
CASH_DISCOUNT_MIN = 10_000  # cents

# payment plans: large uninsured balances not paid at the visit
PAYMENT_PLAN_MIN = 60_000  # cents owed on the procedure, at least
PAYMENT_PLAN_RATE = 0.4  # share of those procedures put on a plan
PAYMENT_PLAN_AFTER_DAYS = 30  # only procedures done more than this many days before as_of
PLAN_PAYMENT_COUNTS = (3, 6, 10, 12)  # number of monthly installments, equally likely
INSTALLMENT_PAY_DAYS = (0, 6)  # days after its due date an installment is paid
INSTALLMENT_PAID_RATE = 0.93  # share of the due installments paid

# adjustments and the missed-appointment fee
MISSED_FEE = 5_000  # cents
MISSED_FEE_RATE = 0.15  # share of broken appointments charged the fee (an appointment sent to the unscheduled
#                         list was not broken: no fee)
MISSED_FEE_PAID_RATE = 0.5  # share of the fees paid
MISSED_FEE_PAY_DAYS = (0, 31)  # days after the fee (the day the appointment was broken) it is paid
SMALL_BALANCE_MAX = 500  # cents: a leftover this small (settled, partly paid) may be written off
SMALL_BALANCE_DAYS = 30  # days after the last payment it is written off
SMALL_BALANCE_RATE = 0.7  # share of such leftovers written off

# unearned money (see _unearned_flows) and the payments' own columns
DEPOSIT_AHEAD_DAYS = 21  # appointments booked this many days after as_of may carry a deposit
DEPOSIT_DAYS_BEFORE = (0, 11)  # days before as_of the deposit was paid
DEPOSIT_AMOUNTS = (5_000, 10_000, 15_000, 25_000)  # cents, equally likely
OVERPAY_ROUND = 5_000  # cents: an overpaid later payment is rounded up to the next multiple of this
REFUND_DAYS = (14, 61)  # days after the overpayment a refund comes
PAYMENT_TYPE_SHARES = (0.15, 0.25, 0.55, 0.05)  # shares of cash, check, card and financing payments
PATIENT_CHECK_NUMBERS = (1000, 9999)  # a patient check's number, [low, high)


def carrier_reliability(ctx: Context, n_carriers: int) -> np.ndarray:
    """Per-carrier factor on the denial and underpayment rates, indexed by CarrierNum (index 0 unused):
    the evenly spaced factors 0.25 ... 1.75 (CARRIER_FACTORS; mean 1, so the rates averaged over carriers
    stay 4 % denied and 8 % reduced) dealt to the carriers in a random order. The order comes from a
    random stream of its own (seed + CARRIER_STREAM), leaving every other draw as it was."""
    stream = ctx.stream(CARRIER_STREAM)
    return np.concatenate([[1.0], stream.permutation(np.linspace(*CARRIER_FACTORS, n_carriers))])


def build_billing(ctx: Context, setup: Setup, people: People, clinical: Clinical) -> None:
    """Puts the money tables: ``claim``, ``claimproc``, ``claimsnapshot``, ``claimpayment`` (insurance),
    ``payplan``, ``payplancharge``, ``payplanlink``, ``adjustment``, ``payment``, ``paysplit`` (the
    patients), computed in integer cents from the completed and planned procedures (module docstring)."""
    procs = _procs(clinical.procs)
    cov = _coverage(setup, people, procs)
    # insurance: claims, what they pay, checks
    pri = _primary_claims(ctx, setup, people, procs, cov)
    sec = _secondary_claims(ctx, setup, people, procs, cov, pri)
    supp = _supplementals(ctx, pri, sec.has_sec)
    settled = _settlement(procs, cov, pri, sec, supp)
    claims = _all_claims(people, pri, sec)
    checks = _insurance_checks(ctx, claims, supp)
    cp = _claimproc_rows(people, procs, cov, pri, sec, supp, checks, _planned(setup, procs, cov, settled))
    _put_claimprocs(ctx, setup, procs, claims, _claimproc_days(ctx, procs, claims, supp, checks, cp), cp)
    _put_claim_payments(ctx, setup, checks, cp)
    _put_claims(ctx, setup, people, claims, supp, cp)
    # the patients: visits, what they pay and when, payment plans, adjustments, unearned money
    visits = _visits(ctx, people, procs)
    behaviour, pays_rest = _visit_behaviour(ctx.rng, visits)
    disc, disc_type = _discounts(ctx.rng, setup, people, procs, visits, behaviour)
    pay = _patient_payments(ctx, procs, cov, settled, visits, behaviour, pays_rest, disc)
    prepaid = _prepayments(ctx, people, visits, behaviour, pay.first_pay)
    splits = _SplitRows()
    paid, last_paid = _visit_payments(splits, procs, visits, pay, prepaid)
    plans = _payment_plans(ctx, procs, visits, pay)
    debit_num = _put_plan_charges(ctx, people, procs, plans)
    events = 2 * visits.n  # paysplit event keys taken so far: two per visit, then one per installment ...
    paid, last_paid = _plan_payments(ctx, people, procs, plans, debit_num, splits, events, paid, last_paid)
    events += len(plans.ch_plan)
    missed, fee_adj = _adjustments(ctx, setup, people, clinical.apts, procs, cov, settled, visits, disc, disc_type,
                                   paid, last_paid)
    _missed_fee_payments(ctx, clinical.apts, missed, fee_adj, splits, events)
    events += len(missed)  # ... and one per missed-appointment fee
    _unearned_flows(ctx, setup, people, clinical.apts, procs, visits, pay, prepaid, splits, events)
    _payments(ctx, setup, people, splits, procs.num)


def _n_groups(group: np.ndarray) -> int:
    """The number of groups of a group id per row that counts up from 0 (``group_bounds``)."""
    return int(group[-1]) + 1 if len(group) else 0


def _by_visit(ctx: Context, rows: np.ndarray, pat: np.ndarray, day: np.ndarray) -> tuple[
        np.ndarray, np.ndarray, int, np.ndarray]:
    """Procedure indexes ``rows`` grouped by patient and day (a visit, or a claim): (the rows sorted by
    patient, day and index; the group of each, from 0; the number of groups; each group's first position)."""
    return group_by_patient_day(rows, pat, day, ctx.start)


def _year_key(pat: np.ndarray, day: np.ndarray) -> np.ndarray:
    """A key equal for the procedures of one patient in one calendar year (deductible and maximum)."""
    return pat * 8192 + (year_of(day) - 1900)


def _on_pay_weekday(day: np.ndarray, pay_weekday: np.ndarray) -> np.ndarray:
    """``day`` moved on (0-6 days) to the carrier's pay weekday (0 Monday), as day numbers."""
    return day + (pay_weekday - weekday(day)) % 7


def _send_delay(rng: np.random.Generator, n: int, same_day_rate: float) -> np.ndarray:
    """Days until each of ``n`` claims is sent: 0 for ``same_day_rate`` of them, else CLAIM_SENT_DELAY_DAYS."""
    return np.where(rng.random(n) < same_day_rate, 0, rng.integers(*CLAIM_SENT_DELAY_DAYS, size=n))


@dataclass(frozen=True)
class _Procs:
    """The procedures as billing sees them, index = ProcNum - 1 (procedurelog)."""

    pr: Procedures
    pat: np.ndarray  # patient index, PatNum - 1
    num: np.ndarray  # ProcNum
    charge: np.ndarray  # ProcFee x (UnitQty + BaseUnits), cents
    done: np.ndarray  # bool: ProcStatus C (complete)


def _procs(pr: Procedures) -> _Procs:
    """The procedure rows with the patient index, ProcNum, charge (cents) and completion billing reads."""
    n_proc = len(pr.pat)
    return _Procs(pr=pr, pat=pr.pat - 1, num=np.arange(1, n_proc + 1), charge=pr.fee * pr.units,
                  done=pr.status == PROC["C"])


@dataclass(frozen=True)
class _Coverage:
    """Per procedure: the plans that pay for it and the primary plan's estimate, money in cents."""

    plan: np.ndarray  # primary PlanNum (0: uninsured)
    plan2: np.ndarray  # second PlanNum billed (0: none; never a capitation plan, nor behind one)
    tier: np.ndarray  # the code's benefit tier (negative: not covered)
    capitated: np.ndarray  # bool: on a capitation plan (no claim: CapComplete / CapEstimate claimprocs)
    billable: np.ndarray  # bool: billed to the primary plan on a claim
    copay: np.ndarray  # capitation copay (claimproc.CopayAmt)
    cap_wo: np.ndarray  # capitation write-off
    allowed: np.ndarray  # the PPO fee schedule's fee, at most the charge
    wo_est: np.ndarray  # PPO write-off estimate of billable procedures (WriteOffEst)
    pct: np.ndarray  # the primary plan's percentage of billable procedures (Percentage)
    ins_est: np.ndarray  # primary insurance estimate of completed billable work (InsPayEst)
    ins_base: np.ndarray  # its base estimate before the annual maximum (BaseEst)
    ins_ded: np.ndarray  # its deductible (DedApplied)


def _coverage(setup: Setup, people: People, procs: _Procs) -> _Coverage:
    """Per procedure: plans, allowed fee, percentage, write-off estimate and the primary estimate (cents)."""
    pr, pat, charge = procs.pr, procs.pat, procs.charge
    plan = people.plan[pat]
    tier = setup.code_tier[pr.code]
    capitated = (plan > 0) & (tier >= 0) & setup.plan_capitation[plan]
    billable = (plan > 0) & (tier >= 0) & ~capitated
    copay, cap_wo = _capitation(charge, capitated)
    ppo_sched = setup.plan_feesched[plan]
    allowed = np.where(ppo_sched > 0, setup.fee[ppo_sched, pr.code] * pr.units, charge)
    allowed = np.minimum(allowed, charge)
    pct = np.where(billable, setup.plan_pct[plan, np.maximum(tier, 0)], 0)
    est, base, ded = _primary_estimates(setup, procs, plan, tier, allowed, pct, billable)
    # a capitation plan is never billed as the second plan (nor is a second plan behind a capitation one:
    # its procedures have no primary claim)
    plan2 = np.where(setup.plan_capitation[people.plan2], 0, people.plan2)[pat]
    return _Coverage(plan=plan, plan2=plan2, tier=tier, capitated=capitated, billable=billable, copay=copay,
                     cap_wo=cap_wo, allowed=allowed, wo_est=np.where(billable, charge - allowed, 0), pct=pct,
                     ins_est=est, ins_base=base, ins_ded=ded)


def _primary_estimates(setup: Setup, procs: _Procs, plan: np.ndarray, tier: np.ndarray, allowed: np.ndarray,
                       pct: np.ndarray, billable: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per procedure, completed and billable (zero elsewhere): (insurance estimate, base estimate, deductible)
    in cents. Per patient and calendar year in date order, the deductible (tiers above 0) comes off the
    allowed fee (plan_deductible), the plan's percentage of the rest is the base, capped by what is left
    of the annual maximum (plan_annual_max)."""
    pr, pat = procs.pr, procs.pat
    ins_done = np.flatnonzero(procs.done & billable)
    ord_ = ins_done[key_order(pat[ins_done], year_of(pr.date[ins_done]), pr.date[ins_done], ins_done)]
    year_key = _year_key(pat[ord_], pr.date[ord_])
    eligible = tier[ord_] > 0
    used_ded = cumsum_before(np.where(eligible, allowed[ord_], 0), year_key)
    ded = np.where(eligible, np.clip(setup.plan_deductible[plan[ord_]] - used_ded, 0, allowed[ord_]), 0)
    base = pct_of(allowed[ord_] - ded, pct[ord_])
    used_max = cumsum_before(base, year_key)
    est = np.clip(setup.plan_annual_max[plan[ord_]] - used_max, 0, base)
    ins_est = np.zeros(len(pat), dtype=np.int64)
    ins_base = np.zeros(len(pat), dtype=np.int64)
    ins_ded = np.zeros(len(pat), dtype=np.int64)
    ins_est[ord_], ins_base[ord_], ins_ded[ord_] = est, base, ded
    return ins_est, ins_base, ins_ded


@dataclass(frozen=True)
class _Adjudication:
    """Per claim: when the carrier pays it and what it decides (days as day numbers)."""

    recv: np.ndarray  # day received: CLAIM_RECEIVED_DAYS (or late) after sending, on the carrier's pay weekday;
    #                   NEVER_RECEIVED for a claim the carrier never pays
    is_recv: np.ndarray  # bool: sent and received on or before as_of
    denied: np.ndarray  # bool: received and denied (pays 0, the write-off holds)
    reduced: np.ndarray  # bool: received and paid at a reduced rate
    factor: np.ndarray  # percent of the estimate a reduced claim pays (REDUCED_PAY_PCT)

    def pay(self, claim: np.ndarray, est: np.ndarray) -> np.ndarray:
        """Per claim row (``claim``: its claim): InsPayAmt in cents on the estimate ``est``, 0 until received."""
        paid = np.where(self.denied[claim], 0, np.where(self.reduced[claim], est * self.factor[claim] // 100, est))
        return np.where(self.is_recv[claim], paid, 0)


def _adjudicate(ctx: Context, sent: np.ndarray, is_sent: np.ndarray, carrier: np.ndarray, pay_weekday: np.ndarray,
                unreliable: np.ndarray, denied_below: float, reduced_below: float, delay_stream: int) -> _Adjudication:
    """Per claim (``sent``: day sent; ``carrier``: CarrierNum): received day and outcome. A claim is paid
    CLAIM_RECEIVED_DAYS after it was sent, LATE_CLAIM_DAYS for LATE_CLAIM_RATE of them, never (still open at
    as-of) for UNRECEIVED_CLAIM_RATE (``_claim_delays``, on the stream ``delay_stream``). An outcome draw over
    the carrier's factor (``unreliable``, by CarrierNum) below ``denied_below`` denies the claim, below
    ``reduced_below`` reduces it."""
    rng = ctx.rng
    delay = _claim_delays(ctx, rng.integers(*CLAIM_RECEIVED_DAYS, size=len(sent)), delay_stream)
    recv = np.where(delay < 0, NEVER_RECEIVED, _on_pay_weekday(sent + delay, pay_weekday[carrier]))
    is_recv = is_sent & (recv <= ctx.as_of)
    outcome = rng.random(len(sent)) / unreliable[carrier]  # a less reliable carrier lands more claims lower
    denied = is_recv & (outcome < denied_below)
    reduced = is_recv & (outcome >= denied_below) & (outcome < reduced_below)
    return _Adjudication(recv=recv, is_recv=is_recv, denied=denied, reduced=reduced,
                         factor=rng.integers(*REDUCED_PAY_PCT, size=len(sent)))


NEVER_RECEIVED = np.iinfo(np.int32).max  # the received day of a claim the carrier never pays (after any as-of)


def _claim_delays(ctx: Context, on_time: np.ndarray, stream_offset: int) -> np.ndarray:
    """Per claim: days from sending to payment; ``on_time`` (CLAIM_RECEIVED_DAYS, drawn) for most,
    LATE_CLAIM_DAYS for LATE_CLAIM_RATE of the claims, -1 (never paid) for UNRECEIVED_CLAIM_RATE. Drawn on
    the stream ``seed + stream_offset``, so no draw of ctx.rng moves."""
    stream = ctx.stream(stream_offset)
    u = stream.random(len(on_time))
    late = stream.integers(*LATE_CLAIM_DAYS, size=len(on_time))
    return np.select([u < LATE_CLAIM_RATE, u < LATE_CLAIM_RATE + UNRECEIVED_CLAIM_RATE], [late, -1], on_time)


@dataclass(frozen=True)
class _PrimaryClaims:
    """Primary claims (claim ClaimType 'P'), per claim, and their procedure rows (claimprocs), per row."""

    rows: np.ndarray  # per row: procedure index, sorted by patient, date and index
    claim: np.ndarray  # per row: claim index (claims numbered in row order)
    n: int  # number of claims
    pat: np.ndarray  # per claim: patient index
    date: np.ndarray  # per claim: DateService, day number
    created: np.ndarray  # per claim: creation moment, seconds
    sent: np.ndarray  # per claim: day sent (counts only if is_sent)
    is_sent: np.ndarray  # per claim: bool, sent on or before as_of
    carrier: np.ndarray  # per claim: CarrierNum
    pay_weekday: np.ndarray  # per CarrierNum: the weekday it pays on (0 Monday)
    unreliable: np.ndarray  # per CarrierNum: its factor on the denial and underpayment rates
    out: _Adjudication  # per claim
    est: np.ndarray  # per row: InsPayEst, cents
    recv: np.ndarray  # per row: bool, its claim is received
    pay: np.ndarray  # per row: InsPayAmt, cents
    wo: np.ndarray  # per row: WriteOff once received, cents


def _primary_claims(ctx: Context, setup: Setup, people: People, procs: _Procs, cov: _Coverage) -> _PrimaryClaims:
    """Primary claims: one per patient and day of completed billable work, created at CLAIM_CREATED_HOUR,
    sent, then received and paid, reduced or denied (``_adjudicate``) when that is by as_of."""
    rng = ctx.rng
    pr, pat = procs.pr, procs.pat
    rows, claim, n, first = _by_visit(ctx, np.flatnonzero(procs.done & cov.billable), pat, pr.date)
    c_pat = pat[rows[first]]
    c_date = pr.date[rows[first]]
    created = ts(c_date, CLAIM_CREATED_HOUR * 3600 + rng.integers(0, 3600, size=n))
    sent = c_date + _send_delay(rng, n, PRIMARY_SENT_SAME_DAY_RATE)
    is_sent = sent <= ctx.as_of
    # each carrier pays once a week on its own weekday (Monday to Friday)
    pay_weekday = rng.permutation(5)[np.arange(len(setup.carrier_names) + 1) % 5]  # by CarrierNum
    carrier = setup.plan_carrier[people.plan[c_pat]]
    unreliable = carrier_reliability(ctx, len(setup.carrier_names))  # a stream of its own: no draw of rng
    out = _adjudicate(ctx, sent, is_sent, carrier, pay_weekday, unreliable, PRIMARY_DENIED_RATE,
                      PRIMARY_REDUCED_BELOW, CLAIM_DELAY_STREAM)
    est = cov.ins_est[rows]
    recv = out.is_recv[claim]
    return _PrimaryClaims(rows=rows, claim=claim, n=n, pat=c_pat, date=c_date, created=created, sent=sent,
                          is_sent=is_sent, carrier=carrier, pay_weekday=pay_weekday, unreliable=unreliable, out=out,
                          est=est, recv=recv, pay=out.pay(claim, est), wo=np.where(recv, cov.wo_est[rows], 0))


@dataclass(frozen=True)
class _SecondaryClaims:
    """Secondary claims (claim ClaimType 'S'), per claim, and their procedure rows (claimprocs), per row."""

    rows: np.ndarray  # per row: position in the primary claims' rows
    proc: np.ndarray  # per row: procedure index
    claim: np.ndarray  # per row: secondary claim index (in the order of the primary claims)
    pct: np.ndarray  # per row: the second plan's percentage
    base: np.ndarray  # per row: BaseEst, cents
    paid_other: np.ndarray  # per row: PaidOtherIns (the primary's payment, its estimate while pending), cents
    est: np.ndarray  # per row: InsPayEst, cents
    est_at_visit: np.ndarray  # per row: the estimate at the visit (after the primary estimate), cents
    recv: np.ndarray  # per row: bool, its claim is received
    pay: np.ndarray  # per row: InsPayAmt, cents
    n: int  # number of claims
    of_pri: np.ndarray  # per claim: its primary claim
    has_sec: np.ndarray  # per primary claim: bool, it has a secondary claim
    pat: np.ndarray  # per claim: patient index
    ready: np.ndarray  # per claim: bool, the primary is received (no longer held)
    sent: np.ndarray  # per claim: day sent (far after as_of while held)
    is_sent: np.ndarray  # per claim: bool
    carrier: np.ndarray  # per claim: CarrierNum
    out: _Adjudication  # per claim


def _secondary_claims(ctx: Context, setup: Setup, people: People, procs: _Procs, cov: _Coverage,
                      pri: _PrimaryClaims) -> _SecondaryClaims:
    """Coordination of benefits: a patient with a second plan (patplan Ordinal 2) gets a secondary claim for
    every primary claim, created with it and held (ClaimStatus 'H') until the primary is received, then
    sent. Per procedure the estimate is the benefit (``_secondary_benefit``) capped by what is left after
    the primary: charge - primary write-off - primary payment (its estimate while the primary is pending).
    No deductible, no write-off on the secondary."""
    rng = ctx.rng
    rows = np.flatnonzero(cov.plan2[pri.rows] > 0)  # positions in pri.rows (sorted by patient and date)
    proc = pri.rows[rows]
    pri_claim = pri.claim[rows]
    pct, base, benefit = _secondary_benefit(setup, procs, cov, proc)
    paid_other = np.where(pri.recv[rows], pri.pay[rows], pri.est[rows])
    est = np.minimum(benefit, np.maximum(procs.charge[proc] - cov.wo_est[proc] - paid_other, 0))
    est_at_visit = np.minimum(benefit, np.maximum(procs.charge[proc] - cov.wo_est[proc] - pri.est[rows], 0))
    has_sec = np.zeros(pri.n, dtype=bool)
    has_sec[pri_claim] = True
    of_pri = np.flatnonzero(has_sec)
    n = len(of_pri)
    sec_of_pri = np.full(pri.n, -1, dtype=np.int64)
    sec_of_pri[of_pri] = np.arange(n)
    claim = sec_of_pri[pri_claim]
    c_pat = pri.pat[of_pri]
    ready = pri.out.is_recv[of_pri]
    held = ctx.as_of + 10_000  # the "sent" day of a held claim: never reached
    sent = np.where(ready, pri.out.recv[of_pri] + _send_delay(rng, n, SECONDARY_SENT_SAME_DAY_RATE), held)
    is_sent = ready & (sent <= ctx.as_of)
    carrier = setup.plan_carrier[people.plan2[c_pat]]
    out = _adjudicate(ctx, sent, is_sent, carrier, pri.pay_weekday, pri.unreliable, SECONDARY_DENIED_RATE,
                      SECONDARY_REDUCED_BELOW, CLAIM_DELAY_STREAM + 1)
    return _SecondaryClaims(rows=rows, proc=proc, claim=claim, pct=pct, base=base, paid_other=paid_other, est=est,
                            est_at_visit=est_at_visit, recv=out.is_recv[claim], pay=out.pay(claim, est), n=n,
                            of_pri=of_pri, has_sec=has_sec, pat=c_pat, ready=ready, sent=sent, is_sent=is_sent,
                            carrier=carrier, out=out)


def _secondary_benefit(setup: Setup, procs: _Procs, cov: _Coverage, proc: np.ndarray) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """Per procedure ``proc`` on a secondary claim (in patient and date order): (the second plan's
    percentage; the base estimate, that percentage of the allowed fee; the benefit, the base capped by
    what is left of the plan's calendar-year maximum), in cents."""
    pct = setup.plan_pct[cov.plan2[proc], np.maximum(cov.tier[proc], 0)]
    base = pct_of(cov.allowed[proc], pct)
    used = cumsum_before(base, _year_key(procs.pat[proc], procs.pr.date[proc]))
    return pct, base, np.clip(setup.plan_annual_max[cov.plan2[proc]] - used, 0, base)


@dataclass(frozen=True)
class _Supplementals:
    """Supplemental payments on underpaid primary claims: per primary claim, then per paid procedure row."""

    day: np.ndarray  # per primary claim: the day a supplemental would be paid
    has: np.ndarray  # per primary claim: bool, it has one
    rows: np.ndarray  # per row: position in the primary claims' rows
    claim: np.ndarray  # per row: primary claim index
    proc: np.ndarray  # per row: procedure index
    pay: np.ndarray  # per row: InsPayAmt, cents


def _supplementals(ctx: Context, pri: _PrimaryClaims, has_sec: np.ndarray) -> _Supplementals:
    """Of the reduced primary claims of patients without a second plan, SUPPLEMENTAL_RATE get a supplemental
    payment SUPPLEMENTAL_DAYS after the claim was received (on the carrier's weekday, on a later check): one
    Supplemental claimproc (Status 4) per underpaid procedure, paying all or half of the shortfall
    (InsPayEst - InsPayAmt); FeeBilled, InsPayEst, WriteOff 0, as OpenDental enters them."""
    rng = ctx.rng
    day = _on_pay_weekday(pri.out.recv + rng.integers(*SUPPLEMENTAL_DAYS, size=pri.n), pri.pay_weekday[pri.carrier])
    chosen = pri.out.reduced & ~has_sec & (rng.random(pri.n) < SUPPLEMENTAL_RATE) & (day <= ctx.as_of)
    full = rng.random(pri.n) < SUPPLEMENTAL_FULL_SHARE
    shortfall = pri.est - pri.pay
    rows = np.flatnonzero(chosen[pri.claim] & (shortfall > 0))
    claim = pri.claim[rows]
    pay = np.where(full[claim], shortfall[rows], shortfall[rows] // 2)
    keep = pay > 0
    rows, claim, pay = rows[keep], claim[keep], pay[keep]
    has = np.zeros(pri.n, dtype=bool)
    has[claim] = True
    return _Supplementals(day=day, has=has, rows=rows, claim=claim, proc=pri.rows[rows], pay=pay)


@dataclass(frozen=True)
class _Settled:
    """Per procedure: what insurance paid and wrote off (cents) and whether and when that was settled."""

    inspay: np.ndarray  # primary + secondary + supplemental InsPayAmt
    writeoff: np.ndarray  # PPO write-off once received, capitation write-off
    sec_est_visit: np.ndarray  # the secondary estimate at the visit
    received: np.ndarray  # bool: every claim on it received (capitation: at once)
    recv_day: np.ndarray  # the last day insurance paid on it (ZERO_DAY: none)
    cap_done: np.ndarray  # indexes of completed capitation procedures


def _settlement(procs: _Procs, cov: _Coverage, pri: _PrimaryClaims, sec: _SecondaryClaims,
                supp: _Supplementals) -> _Settled:
    """Per procedure: insurance paid, written off, and the day insurance was settled (no draw)."""
    n_proc = len(procs.pat)
    inspay = np.zeros(n_proc, dtype=np.int64)
    writeoff = np.zeros(n_proc, dtype=np.int64)
    inspay[pri.rows], writeoff[pri.rows] = pri.pay, pri.wo
    np.add.at(inspay, sec.proc, sec.pay)
    np.add.at(inspay, supp.proc, supp.pay)
    sec_est_visit = np.zeros(n_proc, dtype=np.int64)
    sec_est_visit[sec.proc] = sec.est_at_visit
    received = np.zeros(n_proc, dtype=bool)
    received[pri.rows] = pri.recv
    received[sec.proc] &= sec.recv  # settled once the secondary is received too
    recv_day = np.full(n_proc, ZERO_DAY, dtype=np.int64)
    recv_day[pri.rows] = np.where(pri.recv, pri.out.recv[pri.claim], ZERO_DAY)
    np.maximum.at(recv_day, sec.proc, np.where(sec.recv, sec.out.recv[sec.claim], ZERO_DAY))
    np.maximum.at(recv_day, supp.proc, supp.day[supp.claim])
    cap_done = np.flatnonzero(procs.done & cov.capitated)  # written off down to the copay on the day of service
    writeoff[cap_done] = cov.cap_wo[cap_done]
    received[cap_done] = True
    recv_day[cap_done] = procs.pr.date[cap_done]
    return _Settled(inspay=inspay, writeoff=writeoff, sec_est_visit=sec_est_visit, received=received,
                    recv_day=recv_day, cap_done=cap_done)


@dataclass(frozen=True)
class _AllClaims:
    """Every claim, per claim index: the primary claims (0 .. n_pri - 1), then the secondary ones."""

    n_pri: int  # number of primary claims
    n: int  # number of claims
    pat: np.ndarray  # patient index
    date: np.ndarray  # DateService, day number
    created: np.ndarray  # creation moment, seconds (a secondary claim one second after its primary)
    is_sec: np.ndarray  # bool: ClaimType 'S'
    held: np.ndarray  # bool: a secondary claim whose primary is not received (ClaimStatus 'H')
    sent: np.ndarray  # day sent (counts only if is_sent)
    is_sent: np.ndarray  # bool
    recv: np.ndarray  # day received (counts only if is_recv)
    is_recv: np.ndarray  # bool
    denied: np.ndarray  # bool
    reduced: np.ndarray  # bool
    carrier: np.ndarray  # CarrierNum
    clinic: np.ndarray  # ClinicNum (the patient's)
    order: np.ndarray  # claim indexes in ClaimNum order (by creation)
    num: np.ndarray  # ClaimNum


def _all_claims(people: People, pri: _PrimaryClaims, sec: _SecondaryClaims) -> _AllClaims:
    """Primary and secondary claims side by side, numbered (ClaimNum) in order of creation (no draw)."""
    pat = np.concatenate([pri.pat, sec.pat])
    created = np.concatenate([pri.created, pri.created[sec.of_pri] + 1])
    is_sec = np.concatenate([np.zeros(pri.n, bool), np.ones(sec.n, bool)])
    order = key_order(created, pat, is_sec.astype(np.int64))
    return _AllClaims(
        n_pri=pri.n, n=pri.n + sec.n, pat=pat, date=np.concatenate([pri.date, pri.date[sec.of_pri]]),
        created=created, is_sec=is_sec, held=is_sec & ~np.concatenate([np.zeros(pri.n, bool), sec.ready]),
        sent=np.concatenate([pri.sent, sec.sent]), is_sent=np.concatenate([pri.is_sent, sec.is_sent]),
        recv=np.concatenate([pri.out.recv, sec.out.recv]), is_recv=np.concatenate([pri.out.is_recv, sec.out.is_recv]),
        denied=np.concatenate([pri.out.denied, sec.out.denied]),
        reduced=np.concatenate([pri.out.reduced, sec.out.reduced]),
        carrier=np.concatenate([pri.carrier, sec.carrier]), clinic=people.clinic[pat], order=order,
        num=primary_keys(order))


@dataclass(frozen=True)
class _Checks:
    """Insurance checks (claimpayment): per item paid (a received claim on a check, or a supplemental
    payment), and per check (index = ClaimPaymentNum - 1, in check-date order)."""

    not_on_check: np.ndarray  # per claim: bool, received but not on a check yet
    item_of_claim: np.ndarray  # per claim: its item (-1: none)
    item_of_supp: np.ndarray  # per primary claim: its supplemental payment's item (-1: none)
    n_items: int
    day: np.ndarray  # per item: the day paid
    carrier: np.ndarray  # per item: CarrierNum
    clinic: np.ndarray  # per item: ClinicNum
    sorted: np.ndarray  # the items in check order
    gid: np.ndarray  # per sorted item: its check
    item_chk: np.ndarray  # per item: ClaimPaymentNum
    n: int  # number of checks
    first: np.ndarray  # per check: its first item
    last_sent: np.ndarray  # per check: the last day one of its claims was sent
    date: np.ndarray  # per check: CheckDate


def _insurance_checks(ctx: Context, claims: _AllClaims, supp: _Supplementals) -> _Checks:
    """One check per carrier, clinic and day paid, batching the received claims and the supplementals.
    A claim received in the last days before as-of may be entered by procedure and not be on a check yet."""
    not_on_check = _not_on_check_yet(ctx, claims.is_recv, claims.recv)
    recv_claims = np.flatnonzero(claims.is_recv & ~not_on_check)
    supp_claims = np.flatnonzero(supp.has)
    i_claim = np.concatenate([recv_claims, supp_claims])
    i_day = np.concatenate([claims.recv[recv_claims], supp.day[supp_claims]])
    n_items = len(i_claim)
    item_of_claim = np.full(claims.n, -1, dtype=np.int64)
    item_of_claim[recv_claims] = np.arange(len(recv_claims))
    item_of_supp = np.full(claims.n_pri, -1, dtype=np.int64)
    item_of_supp[supp_claims] = len(recv_claims) + np.arange(len(supp_claims))
    i_carrier, i_clinic = claims.carrier[i_claim], claims.clinic[i_claim]
    chk_sorted = key_order(i_day, i_carrier, i_clinic)
    skey = (i_day[chk_sorted] - ctx.start + 50_000) * 10_000 + i_carrier[chk_sorted] * 100 + i_clinic[chk_sorted]
    _, chk_gid = group_bounds(skey)
    n_chk = _n_groups(chk_gid)
    item_chk = np.zeros(n_items, dtype=np.int64)
    item_chk[chk_sorted] = chk_gid + 1  # ClaimPaymentNum, already in check-date order
    chk_first = chk_sorted[group_firsts(chk_gid)]
    chk_last_sent = np.full(n_chk, np.iinfo(np.int64).min)
    np.maximum.at(chk_last_sent, chk_gid, claims.sent[i_claim[chk_sorted]])
    return _Checks(not_on_check=not_on_check, item_of_claim=item_of_claim, item_of_supp=item_of_supp,
                   n_items=n_items, day=i_day, carrier=i_carrier, clinic=i_clinic, sorted=chk_sorted, gid=chk_gid,
                   item_chk=item_chk, n=n_chk, first=chk_first, last_sent=chk_last_sent, date=i_day[chk_first])


@dataclass(frozen=True)
class _Planned:
    """Estimates of planned work (ProcStatus TP; claimproc Status Estimate), cents, and capitation rows."""

    rows: np.ndarray  # billable planned procedures
    est: np.ndarray  # per row: the primary estimate (also its BaseEst)
    rows2: np.ndarray  # those of them with a second plan
    pct2: np.ndarray  # per rows2: the second plan's percentage
    base2: np.ndarray  # per rows2: its BaseEst
    est2: np.ndarray  # per rows2: its estimate, after the primary estimate
    paid_other2: np.ndarray  # per rows2: the primary estimate (PaidOtherIns)
    cap_rows: np.ndarray  # capitation procedures: completed (CapComplete), then planned (CapEstimate)
    n_cap_done: int  # how many of them are completed


def _planned(setup: Setup, procs: _Procs, cov: _Coverage, settled: _Settled) -> _Planned:
    """Estimates of planned work: the plan's percentage of the allowed fee; on a second plan, capped by
    what is left after the primary estimate (no deductible, no annual maximum)."""
    planned = procs.pr.status == PROC["TP"]
    rows = np.flatnonzero(planned & cov.billable)
    est = pct_of(cov.allowed[rows], cov.pct[rows])
    second = cov.plan2[rows] > 0
    rows2 = rows[second]
    pct2 = setup.plan_pct[cov.plan2[rows2], np.maximum(cov.tier[rows2], 0)]
    base2 = pct_of(cov.allowed[rows2], pct2)
    est2 = np.minimum(base2, np.maximum(procs.charge[rows2] - cov.wo_est[rows2] - est[second], 0))
    cap_rows = np.concatenate([settled.cap_done, np.flatnonzero(planned & cov.capitated)])
    return _Planned(rows=rows, est=est, rows2=rows2, pct2=pct2, base2=base2, est2=est2, paid_other2=est[second],
                    cap_rows=cap_rows, n_cap_done=len(settled.cap_done))


@dataclass(frozen=True)
class _ClaimProcRows:
    """Claimproc rows before ordering (money in cents): primary, secondary and supplemental claim rows, then
    planned-work estimates (primary, secondary), then capitation rows (completed, planned)."""

    proc: np.ndarray  # procedure index
    kind: np.ndarray  # 0 primary, 1 secondary, 2 supplemental, 3 / 4 primary / secondary estimate,
    #                   5 CapComplete, 6 CapEstimate
    n_pri: int  # rows of kind 0 (they come first), then
    n_sec: int  # rows of kind 1, then
    n_supp: int  # rows of kind 2
    claim: np.ndarray  # claim index (-1: none)
    recv: np.ndarray  # bool: on a received claim (supplementals: always)
    status: np.ndarray  # ClaimProcStatus
    is_sec: np.ndarray  # bool: for the second plan
    plan: np.ndarray  # PlanNum
    inssub: np.ndarray  # InsSubNum
    fee: np.ndarray  # FeeBilled
    est: np.ndarray  # InsPayEst
    base: np.ndarray  # BaseEst
    ded: np.ndarray  # DedApplied
    pay: np.ndarray  # InsPayAmt
    wo: np.ndarray  # WriteOff
    wo_est: np.ndarray  # WriteOffEst
    pct: np.ndarray  # Percentage (-1: none)
    paid_other: np.ndarray  # PaidOtherIns
    copay: np.ndarray  # the procedure's capitation copay (CopayAmt of capitation rows)
    item: np.ndarray  # the check item that paid it (-1: none)


def _claimproc_rows(people: People, procs: _Procs, cov: _Coverage, pri: _PrimaryClaims,
                    sec: _SecondaryClaims, supp: _Supplementals, checks: _Checks,
                    planned: _Planned) -> _ClaimProcRows:
    """The claimproc rows of every claim, estimate and capitation procedure, with their amounts (no draw)."""
    n_p, n_s, n_sp, n_t, n_t2 = len(pri.rows), len(sec.proc), len(supp.proc), len(planned.rows), len(planned.rows2)
    cap_rows = planned.cap_rows
    n_c7, n_cap = planned.n_cap_done, len(cap_rows)
    zeros = lambda k: np.zeros(k, dtype=np.int64)  # noqa: E731
    proc = np.concatenate([pri.rows, sec.proc, supp.proc, planned.rows, planned.rows2, cap_rows])
    kind = np.concatenate([np.full(n_p, 0), np.full(n_s, 1), np.full(n_sp, 2), np.full(n_t, 3), np.full(n_t2, 4),
                           np.full(n_c7, 5), np.full(n_cap - n_c7, 6)])
    on_claim = kind <= 2
    recv = np.concatenate([pri.recv, sec.recv, np.ones(n_sp, bool), np.zeros(n_t + n_t2 + n_cap, bool)])
    status = np.select([kind == 2, on_claim & recv, on_claim, kind == 5, kind == 6],
                       [CP["Supplemental"], CP["Received"], CP["NotReceived"], CP["CapComplete"],
                        CP["CapEstimate"]], CP["Estimate"])
    is_sec = (kind == 1) | (kind == 4)
    pat = procs.pat[proc]
    return _ClaimProcRows(
        proc=proc, kind=kind, n_pri=n_p, n_sec=n_s, n_supp=n_sp,
        claim=np.concatenate([pri.claim, pri.n + sec.claim, supp.claim, np.full(n_t + n_t2 + n_cap, -1)]),
        recv=recv, status=status, copay=cov.copay[proc], is_sec=is_sec,
        plan=np.where(is_sec, cov.plan2[proc], cov.plan[proc]),
        inssub=np.where(is_sec, people.inssub2[pat], people.inssub[pat]),
        fee=np.where(kind <= 1, procs.charge[proc], 0),
        est=np.concatenate([pri.est, sec.est, zeros(n_sp), planned.est, planned.est2, zeros(n_cap)]),
        base=np.concatenate([cov.ins_base[pri.rows], sec.base, zeros(n_sp), planned.est, planned.base2,
                             zeros(n_cap)]),
        ded=np.concatenate([cov.ins_ded[pri.rows], zeros(n_s + n_sp + n_t + n_t2 + n_cap)]),
        pay=np.concatenate([pri.pay, sec.pay, supp.pay, zeros(n_t + n_t2 + n_cap)]),
        wo=np.concatenate([_claim_writeoffs(pri, cov), zeros(n_s + n_sp + n_t + n_t2), cov.cap_wo[cap_rows]]),
        wo_est=np.concatenate([cov.wo_est[pri.rows], zeros(n_s + n_sp), cov.wo_est[planned.rows], zeros(n_t2),
                               cov.cap_wo[cap_rows]]),
        pct=np.concatenate([cov.pct[pri.rows], sec.pct, zeros(n_sp), cov.pct[planned.rows], planned.pct2,
                            np.full(n_cap, -1)]),
        paid_other=np.concatenate([zeros(n_p), sec.paid_other, zeros(n_sp + n_t), planned.paid_other2, zeros(n_cap)]),
        item=np.concatenate([np.where(pri.recv, checks.item_of_claim[pri.claim], -1),
                             np.where(sec.recv, checks.item_of_claim[pri.n + sec.claim], -1),
                             checks.item_of_supp[supp.claim], np.full(n_t + n_t2 + n_cap, -1)]))


def _claim_writeoffs(pri: _PrimaryClaims, cov: _Coverage) -> np.ndarray:
    """Per primary claim row: claimproc.WriteOff, cents. Received: the write-off taken (``pri.wo``); still
    NotReceived: the write-off estimate, as OpenDental fills it when the claim is created and recomputes it
    while it is pending (Claims.CalculateAndUpdate: ``if(Status==NotReceived) WriteOff=
    ClaimProcs.GetWriteOffEstimate(claimProc)``, which is WriteOffEstOverride, else WriteOffEst, else 0;
    the generator sets no override). The aging's pending write-off (Ledgers.cs InsWoEst) and claim.WriteOff
    (the sum over the claim's claimprocs) read it."""
    return np.where(pri.recv, pri.wo, cov.wo_est[pri.rows])


@dataclass(frozen=True)
class _ClaimProcDays:
    """Per claimproc row (before ordering): its check, claim and the days it carries."""

    chk: np.ndarray  # ClaimPaymentNum (0: not on a check)
    claimnum: np.ndarray  # ClaimNum (0: no claim)
    line: np.ndarray  # LineNumber on its claim
    datecp: np.ndarray  # DateCP, day number
    unfinalized: np.ndarray  # bool: not finalized on a check (DateInsFinalized unset): received but on no check
    #                           yet, or not received (NotReceived, Estimate)
    entry_day: np.ndarray  # DateEntry, SecDateEntry
    created: np.ndarray  # its claim's creation moment, seconds (0: no claim)
    edit: np.ndarray  # SecDateTEdit, seconds (before the as-of clamp)


def _claimproc_days(ctx: Context, procs: _Procs, claims: _AllClaims, supp: _Supplementals, checks: _Checks,
                    cp: _ClaimProcRows) -> _ClaimProcDays:
    """Per claimproc row: check, ClaimNum, line number, DateCP (the check's day; a capitation, estimate or
    not yet received row's ProcDate; the day received when on no check yet), entry day and last edit (a
    draw of the clock)."""
    pr = procs.pr
    on_claim, is_cap = cp.kind <= 2, cp.kind >= 5
    datecp = at(checks.day, cp.item, ZERO_DAY)
    # OpenDental creates every claimproc as an estimate with DateCP = ProcDate (Procedures.ComputeEstimates:
    # ``cp.DateCP=proc.ProcDate``; ClaimProcs.CreateEst); attaching it to a claim (NotReceived) keeps it, and
    # receiving the payment sets the day paid. A capitation row keeps ProcDate for aging.
    pending = np.isin(cp.status, [CP["NotReceived"], CP["Estimate"]])
    datecp = np.where(is_cap | pending, pr.date[cp.proc], datecp)
    unfinalized = on_claim & cp.recv & at(checks.not_on_check, cp.claim, False)
    datecp = np.where(unfinalized, at(claims.recv, cp.claim, ZERO_DAY), datecp)  # received, no check
    n_p, n_ps, n_on = cp.n_pri, cp.n_pri + cp.n_sec, cp.n_pri + cp.n_sec + cp.n_supp
    line = np.zeros(len(cp.proc), dtype=np.int64)
    line[:n_p] = rank_within(cp.claim[:n_p]) + 1
    line[n_p:n_ps] = rank_within(cp.claim[n_p:n_ps]) + 1  # sorted: secondary rows follow the primary rows' order
    line[n_ps:n_on] = line[supp.rows]
    entry_day = np.where(on_claim, at(claims.date, cp.claim, 0), pr.created[cp.proc] // DAY)
    entry_day[n_ps:n_on] = supp.day[supp.claim]
    created = at(claims.created, cp.claim, 0)
    edit = np.where(cp.recv | (cp.kind == 5), ctx.clock(datecp), np.where(on_claim, created, pr.created[cp.proc]))
    return _ClaimProcDays(chk=at(checks.item_chk, cp.item, 0),
                          claimnum=np.where(on_claim, at(claims.num, cp.claim, 0), 0), line=line, datecp=datecp,
                          unfinalized=unfinalized | pending, entry_day=entry_day, created=created, edit=edit)


def _put_claimprocs(ctx: Context, setup: Setup, procs: _Procs, claims: _AllClaims, days: _ClaimProcDays,
                    cp: _ClaimProcRows) -> None:
    """``claimproc`` (ClaimProcNum in order of entry), money in dollars; and ``claimsnapshot`` when the
    practice reports write-offs by initial claim date."""
    pr, proc_num = procs.pr, procs.num
    on_claim, is_cap, n_cp = cp.kind <= 2, cp.kind >= 5, len(cp.proc)
    denied_row = on_claim & cp.recv & (cp.kind <= 1) & at(claims.denied, cp.claim, False)
    # numbered in order of entry; a supplemental row as if entered at 23:00 on its day
    o = key_order(np.where(cp.kind == 2, ts(days.entry_day, 23 * 3600), pr.created[cp.proc]), cp.proc, cp.kind)
    minus_one = np.full(n_cp, -1.0)
    ctx.put("claimproc", n_cp, {
        "ClaimProcNum": np.arange(1, n_cp + 1),
        "ProcNum": proc_num[cp.proc][o],
        "ClaimNum": days.claimnum[o],
        "PatNum": pr.pat[cp.proc][o],
        "ProvNum": pr.prov[cp.proc][o],
        "FeeBilled": cp.fee[o] / 100.0,
        "InsPayEst": cp.est[o] / 100.0,
        "DedApplied": cp.ded[o] / 100.0,
        "Status": cp.status[o],
        "InsPayAmt": cp.pay[o] / 100.0,
        "Remarks": pc.if_else(pa.array(denied_row[o]), "Denied: frequency limitation", ""),
        "ClaimPaymentNum": days.chk[o],
        "PlanNum": cp.plan[o],
        "DateCP": days.datecp[o],
        "WriteOff": cp.wo[o] / 100.0,
        "CodeSent": strings(setup.code_proccode, pr.code[cp.proc][o]),
        "AllowedOverride": minus_one,
        "Percentage": np.where(cp.kind == 2, -1, cp.pct)[o],
        "PercentOverride": -1,
        "CopayAmt": np.where(is_cap, cp.copay / 100.0, -1.0)[o],
        "PaidOtherIns": cp.paid_other[o] / 100.0,
        "BaseEst": cp.base[o] / 100.0,
        "CopayOverride": minus_one,
        "ProcDate": pr.date[cp.proc][o],
        "DateEntry": days.entry_day[o],
        "LineNumber": days.line[o],
        "DedEst": cp.ded[o] / 100.0,
        "DedEstOverride": minus_one,
        "InsEstTotal": cp.est[o] / 100.0,
        "InsEstTotalOverride": minus_one,
        "PaidOtherInsOverride": minus_one,
        "WriteOffEst": cp.wo_est[o] / 100.0,
        "WriteOffEstOverride": minus_one,
        "ClinicNum": pr.clinic[cp.proc][o],
        "InsSubNum": cp.inssub[o],
        "SecUserNumEntry": setup.billing_user,
        "SecDateEntry": days.entry_day[o],
        "SecDateTEdit": ctx.stamp(days.edit)[o],
        "DateInsFinalized": np.where(is_cap | days.unfinalized, ZERO_DAY, days.datecp)[o],
    })
    if ctx.config.ppo_writeoff_date == WRITEOFF_BY_CLAIM_DATE:
        claimproc_num = primary_keys(o)  # row (before ordering) -> ClaimProcNum
        _claim_snapshots(ctx, np.flatnonzero(cp.kind <= 1), claimproc_num, proc_num[cp.proc], cp.is_sec,
                         cp.wo_est, cp.est, cp.fee, days.created)


def _put_claim_payments(ctx: Context, setup: Setup, checks: _Checks, cp: _ClaimProcRows) -> None:
    """``claimpayment``: the insurance checks, CheckAmt (dollars) totalled from their claimprocs; EFT_SHARE
    of them by EFT, the others numbered (distinct across carriers) and issued CHECK_ISSUED_DAYS before."""
    rng = ctx.rng
    on_check = cp.item >= 0
    item_pay = group_sum(cp.item[on_check], cp.pay[on_check], checks.n_items)
    chk_amt = group_sum(checks.gid, item_pay[checks.sorted], checks.n)
    n_chk, chk_date, chk_first = checks.n, checks.date, checks.first
    is_eft = rng.random(n_chk) < EFT_SHARE
    d = setup.defs
    ctx.put("claimpayment", n_chk, {
        "ClaimPaymentNum": np.arange(1, n_chk + 1),
        "CheckDate": chk_date,
        "CheckAmt": chk_amt / 100.0,
        "CheckNum": pc.if_else(pa.array(is_eft), "", pa.array(
            distinct_check_numbers(rng.integers(*INS_CHECK_NUMBERS, size=n_chk), ~is_eft, *INS_CHECK_NUMBERS)).cast(
            pa.string())),
        "ClinicNum": checks.clinic[chk_first],
        "CarrierName": strings(setup.carrier_names, checks.carrier[chk_first] - 1),
        "DateIssued": np.maximum(chk_date - rng.integers(*CHECK_ISSUED_DAYS, size=n_chk), checks.last_sent),
        "PayType": np.where(is_eft, d[("InsurancePaymentType", "eft")], d[("InsurancePaymentType", "check")]),
        "SecUserNumEntry": setup.billing_user,
        "SecDateEntry": chk_date,
        "SecDateTEdit": ctx.stamp(ctx.clock(chk_date)),
        "PayGroup": d[("ClaimPaymentGroups", "default")],
    })


def _relationships(people: People, pat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per patient index: the Relat of the patient to the subscriber of (the primary plan, the second plan)."""
    role = people.role[pat]
    # the spouse subscribes the second plan: head and spouse swap
    return relationship(role, False), relationship(role, people.sub2_is_spouse[pat])


def _put_claims(ctx: Context, setup: Setup, people: People, claims: _AllClaims, supp: _Supplementals,
                cp: _ClaimProcRows) -> None:
    """``claim``: ClaimNum in order of creation, amounts (dollars) totalled from its claimprocs; the last
    edit on the day last paid, else sent (draws of the clock). DateSent of a claim not sent yet (W, H) is
    its creation day, as OpenDental writes it; DateSentOrig is set only once sent."""
    a_pat, a_is_sec, a_is_sent, a_is_recv = claims.pat, claims.is_sec, claims.is_sent, claims.is_recv
    rel_pri, rel_sec = _relationships(people, a_pat)
    has2 = people.plan2[a_pat] > 0
    c_stat = np.where(a_is_recv, "R", np.where(a_is_sent, "S", np.where(claims.held, "H", "W")))
    last_paid_day = claims.recv.copy()
    last_paid_day[:claims.n_pri] = np.where(supp.has, supp.day, claims.recv[:claims.n_pri])
    c_edit = np.where(a_is_recv, ctx.clock(last_paid_day), np.where(a_is_sent, ctx.clock(claims.sent), claims.created))
    on = cp.kind <= 2
    totals = {name: group_sum(cp.claim[on], values[on], claims.n)
              for name, values in (("fee", cp.fee), ("est", cp.est), ("pay", cp.pay), ("ded", cp.ded), ("wo", cp.wo))}
    prov = people.pri_prov[a_pat]
    co = claims.order
    ctx.put("claim", claims.n, {
        "ClaimNum": np.arange(1, claims.n + 1),
        "PatNum": a_pat[co] + 1,
        "DateService": claims.date[co],
        "DateSent": np.where(a_is_sent, claims.sent, claims.date)[co],  # OpenDental: the creation date until sent
        "ClaimStatus": c_stat[co],
        "DateReceived": np.where(a_is_recv, claims.recv, ZERO_DAY)[co],
        "PlanNum": np.where(a_is_sec, people.plan2[a_pat], people.plan[a_pat])[co],
        "ProvTreat": prov[co],
        "ClaimFee": totals["fee"][co] / 100.0,
        "InsPayEst": totals["est"][co] / 100.0,
        "InsPayAmt": totals["pay"][co] / 100.0,
        "DedApplied": totals["ded"][co] / 100.0,
        "ClaimType": np.where(a_is_sec, "S", "P")[co],
        "ProvBill": prov[co],
        "PatRelat": np.where(a_is_sec, rel_sec, rel_pri)[co],
        "PlanNum2": np.where(a_is_sec, people.plan[a_pat], people.plan2[a_pat])[co],
        "PatRelat2": np.where(has2, np.where(a_is_sec, rel_pri, rel_sec), 0)[co],
        "WriteOff": totals["wo"][co] / 100.0,
        "ClinicNum": claims.clinic[co],
        "InsSubNum": np.where(a_is_sec, people.inssub2[a_pat], people.inssub[a_pat])[co],
        "InsSubNum2": np.where(a_is_sec, people.inssub[a_pat], people.inssub2[a_pat])[co],
        "ReasonUnderPaid": np.where(claims.denied, "Denied: frequency limitation", np.where(
            claims.reduced, "Paid at a reduced rate", ""))[co],
        "SecUserNumEntry": setup.billing_user,
        "SecDateEntry": claims.date[co],
        "SecDateTEdit": ctx.stamp(c_edit)[co],
        "DateSentOrig": np.where(a_is_sent, claims.sent, ZERO_DAY)[co],
    })


@dataclass(frozen=True)
class _Visits:
    """Completed procedures grouped into visits (a patient's procedures of one day): per row and per visit."""

    rows: np.ndarray  # per row: procedure index, sorted by patient, date and index
    visit: np.ndarray  # per row: visit index
    n: int  # number of visits
    pat: np.ndarray  # per visit: patient index
    date: np.ndarray  # per visit: day number
    clinic: np.ndarray  # per visit: ClinicNum of its first procedure
    insured: np.ndarray  # per visit: bool, the patient has a primary plan


def _visits(ctx: Context, people: People, procs: _Procs) -> _Visits:
    """The visits of the completed procedures (no draw)."""
    pr = procs.pr
    rows, visit, n, first = _by_visit(ctx, np.flatnonzero(procs.done), procs.pat, pr.date)
    pat = procs.pat[rows[first]]
    return _Visits(rows=rows, visit=visit, n=n, pat=pat, date=pr.date[rows[first]], clinic=pr.clinic[rows[first]],
                   insured=people.plan[pat] > 0)


def _at_visit(u: np.ndarray, shares: tuple[float, float]) -> np.ndarray:
    """Per draw ``u``: AT_VISIT_ALL below ``shares[0]``, AT_VISIT_HALF below ``shares[1]``, else AT_VISIT_NONE."""
    return np.select([u < shares[0], u < shares[1]], [AT_VISIT_ALL, AT_VISIT_HALF], AT_VISIT_NONE)


def _visit_behaviour(rng: np.random.Generator, visits: _Visits) -> tuple[np.ndarray, np.ndarray]:
    """Per visit: (what the patient pays at the visit, an AT_VISIT_ code (PAY_AT_VISIT_INSURED / _UNINSURED);
    bool, the rest is paid later (PAYS_REST_RATE))."""
    u = rng.random(visits.n)
    behaviour = np.where(visits.insured, _at_visit(u, PAY_AT_VISIT_INSURED), _at_visit(u, PAY_AT_VISIT_UNINSURED))
    return behaviour, rng.random(visits.n) < PAYS_REST_RATE


def _discounts(rng: np.random.Generator, setup: Setup, people: People, procs: _Procs, visits: _Visits,
               behaviour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per visit row: (the discount in cents, its AdjType). Uninsured visits only: a professional courtesy
    (the whole charge), else the senior discount, else a cash discount on visits paid in full at the visit."""
    n, uninsured = visits.n, ~visits.insured
    age = (visits.date - people.birth[visits.pat]) / 365.25  # years
    courtesy = uninsured & (rng.random(n) < COURTESY_RATE)
    senior = uninsured & ~courtesy & (age >= SENIOR_AGE) & (rng.random(n) < SENIOR_RATE)
    cash = uninsured & ~courtesy & ~senior & (behaviour == AT_VISIT_ALL) & (rng.random(n) < CASH_DISCOUNT_RATE)
    rc = procs.charge[visits.rows]
    vis = visits.visit
    disc = np.select([courtesy[vis], senior[vis], cash[vis] & (rc >= CASH_DISCOUNT_MIN)],
                     [rc, pct_of(rc, SENIOR_DISCOUNT_PCT), pct_of(rc, CASH_DISCOUNT_PCT)], 0)
    d = setup.defs
    disc_type = np.select([courtesy[vis], senior[vis]],
                          [d[("AdjTypes", "courtesy")], d[("AdjTypes", "senior_discount")]],
                          d[("AdjTypes", "cash_discount")])
    return disc, disc_type


@dataclass(frozen=True)
class _VisitPay:
    """What the patients pay on their visits' procedures (cents): per visit row, and per visit."""

    final_due: np.ndarray  # per row: owed after discount, insurance and write-off (estimates while pending)
    on_plan: np.ndarray  # per row: bool, put on a payment plan instead
    first_pay: np.ndarray  # per row: paid at the visit
    second_pay: np.ndarray  # per row: paid later
    later: np.ndarray  # per visit: the day of the later payment


def _patient_payments(ctx: Context, procs: _Procs, cov: _Coverage, settled: _Settled, visits: _Visits,
                      behaviour: np.ndarray, pays_rest: np.ndarray, disc: np.ndarray) -> _VisitPay:
    """The patient pays at the visit (all or half of the estimated portion, or nothing) and the rest later
    (LATER_PAY_DAYS after the visit, or after insurance settled every procedure of it), by as_of; large
    uninsured balances not paid at the visit may go on a payment plan."""
    rng = ctx.rng
    rows, vis, n = visits.rows, visits.visit, visits.n
    rc = procs.charge[rows]
    ins_billable = cov.billable[rows]
    received = settled.received[rows]
    # what the patient owes at the visit: after the estimates, or after the capitation write-off
    due_visit = rc - disc - np.where(ins_billable, cov.wo_est[rows] + cov.ins_est[rows] + settled.sec_est_visit[rows],
                                     settled.writeoff[rows])
    known = ~ins_billable | received
    final_due = rc - disc - settled.writeoff[rows] - settled.inspay[rows]
    final_due = np.where(ins_billable & ~received, due_visit, final_due)
    on_plan = (~ins_billable & (behaviour[vis] == AT_VISIT_NONE) & (final_due >= PAYMENT_PLAN_MIN)
               & (rng.random(len(rows)) < PAYMENT_PLAN_RATE)
               & (procs.pr.date[rows] < ctx.as_of - PAYMENT_PLAN_AFTER_DAYS))
    first_pay = np.select([behaviour[vis] == AT_VISIT_ALL, behaviour[vis] == AT_VISIT_HALF],
                          [due_visit, due_visit // 2], 0)
    first_pay = np.where(on_plan, 0, first_pay)
    v_recv_day = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(v_recv_day, vis, np.where(ins_billable, settled.recv_day[rows], np.iinfo(np.int64).min))
    later = np.maximum(visits.date, v_recv_day) + rng.integers(*LATER_PAY_DAYS, size=n)
    all_known = np.ones(n, dtype=bool)
    np.logical_and.at(all_known, vis, known)
    later_ok = pays_rest[vis] & all_known[vis] & (later[vis] <= ctx.as_of) & ~on_plan
    return _VisitPay(final_due=final_due, on_plan=on_plan, first_pay=first_pay,
                     second_pay=np.where(later_ok, final_due - first_pay, 0), later=later)


@dataclass(frozen=True)
class _Prepaid:
    """Per visit: prepaid visits (cents, day numbers)."""

    first_total: np.ndarray  # what the visit pays at the visit
    prepaid: np.ndarray  # bool: paid ahead as unearned money instead
    day: np.ndarray  # the day the prepayment is made


def _prepayments(ctx: Context, people: People, visits: _Visits, behaviour: np.ndarray,
                 first_pay: np.ndarray) -> _Prepaid:
    """PREPAY_RATE of the visits paying PREPAY_MIN or more at the visit paid it PREPAY_DAYS ahead (not before
    the patient's entry) as unearned money, moved onto the procedures at the visit (``_unearned_flows``)."""
    rng = ctx.rng
    first_total = group_sum(visits.visit, first_pay, visits.n)
    prepaid = (behaviour == AT_VISIT_ALL) & (first_total >= PREPAY_MIN) & (rng.random(visits.n) < PREPAY_RATE)
    ahead = visits.date - rng.integers(*PREPAY_DAYS, size=visits.n)
    return _Prepaid(first_total=first_total, prepaid=prepaid,
                    day=np.minimum(np.maximum(ahead, people.entry[visits.pat]), visits.date))


def _visit_payments(splits: _SplitRows, procs: _Procs, visits: _Visits, pay: _VisitPay,
                    prepaid: _Prepaid) -> tuple[np.ndarray, np.ndarray]:
    """Adds the visits' paysplits: event 0 at the visit (none when prepaid: the transfer brings that money),
    event 1 later; one payment per visit and event. Per procedure: (paid in cents, the last day paid)."""
    pr, rows, vis = procs.pr, visits.rows, visits.visit
    for event, amount, day in ((0, np.where(prepaid.prepaid[vis], 0, pay.first_pay), pr.date[rows]),
                               (1, pay.second_pay, pay.later[vis])):
        m = amount > 0
        splits.add(event_key=vis[m] * 2 + event, day=day[m], amount=amount[m], proc=rows[m],
                   pat=procs.pat[rows[m]], prov=pr.prov[rows[m]], clinic=pr.clinic[rows[m]],
                   proc_date=pr.date[rows[m]])
    paid = np.zeros(len(procs.pat), dtype=np.int64)
    paid[rows] = pay.first_pay + pay.second_pay
    last_paid = np.full(len(procs.pat), ZERO_DAY, dtype=np.int64)
    last_paid[rows] = np.where(pay.second_pay > 0, pay.later[vis],
                               np.where(pay.first_pay > 0, pr.date[rows], ZERO_DAY))
    return paid, last_paid


@dataclass(frozen=True)
class _Plans:
    """Payment plans (payplan, index = PayPlanNum - 1) and their installments; cents and day numbers."""

    rows: np.ndarray  # per plan: the procedure put on it
    n: int  # number of plans
    principal: np.ndarray  # per plan: the amount put on it
    n_pay: np.ndarray  # per plan: number of installments
    per: np.ndarray  # per plan: the installment (the last one takes the rounding)
    date: np.ndarray  # per plan: PayPlanDate (the procedure's date)
    dynamic: np.ndarray  # per plan: bool, IsDynamic
    credit_stamp: np.ndarray  # per plan: its credit row's (or link's) entry moment, seconds
    ch_plan: np.ndarray  # per installment: its plan
    ch_amount: np.ndarray  # per installment
    ch_date: np.ndarray  # per installment: due day (monthly from a month after the plan's date)
    ch_pay_day: np.ndarray  # per installment: the day it is paid
    ch_paid: np.ndarray  # per installment: bool, paid by as_of


def _payment_plans(ctx: Context, procs: _Procs, visits: _Visits, pay: _VisitPay) -> _Plans:
    """The procedures put on a plan: the balance in PLAN_PAYMENT_COUNTS monthly installments, each paid
    INSTALLMENT_PAY_DAYS after it is due (INSTALLMENT_PAID_RATE of them); DYNAMIC_PLAN_RATE of the plans are
    dynamic (payplan.IsDynamic, drawn on a stream of its own): the procedure is linked (payplanlink)
    instead of credited, and OpenDental's service issues each debit only when it is due (none after as_of)."""
    rng = ctx.rng
    rows = visits.rows[pay.on_plan]
    n_pp = len(rows)
    principal = pay.final_due[pay.on_plan]
    n_pay = rng.choice(PLAN_PAYMENT_COUNTS, size=n_pp)
    per = -(-principal // n_pay)  # ceiling
    date = procs.pr.date[rows]
    ch_plan, ch_k = expand(n_pay)
    ch_amount = np.where(ch_k == n_pay[ch_plan] - 1, principal[ch_plan] - per[ch_plan] * (n_pay[ch_plan] - 1),
                         per[ch_plan])
    ch_date = add_months(date[ch_plan], ch_k + 1)
    ch_pay_day = ch_date + rng.integers(*INSTALLMENT_PAY_DAYS, size=len(ch_plan))
    ch_paid = (ch_pay_day <= ctx.as_of) & (rng.random(len(ch_plan)) < INSTALLMENT_PAID_RATE)
    dynamic = ctx.stream(DYNAMIC_PLAN_STREAM).random(n_pp) < DYNAMIC_PLAN_RATE
    credit_stamp = ctx.stamp(date * DAY + PLAN_CREDIT_SECOND)  # no draw: the other tables stay as they were
    return _Plans(rows=rows, n=n_pp, principal=principal, n_pay=n_pay, per=per, date=date, dynamic=dynamic,
                  credit_stamp=credit_stamp, ch_plan=ch_plan, ch_amount=ch_amount, ch_date=ch_date,
                  ch_pay_day=ch_pay_day, ch_paid=ch_paid)


def _put_plan_charges(ctx: Context, people: People, procs: _Procs, plans: _Plans) -> np.ndarray:
    """``payplancharge``: the debits (the installments; a dynamic plan's only those due by as_of), then one
    credit per static plan: the procedure's amount put on the plan on the plan's date, attached to the
    procedure (as OpenDental writes a patient payment plan since version 2); ``payplanlink``: a dynamic
    plan's procedure. Returns per installment the PayPlanChargeNum of its debit (if kept)."""
    pr, proc_num, ch_plan = procs.pr, procs.num, plans.ch_plan
    keep_debit = ~plans.dynamic[ch_plan] | (plans.ch_date <= ctx.as_of)
    debit_num = np.cumsum(keep_debit)
    credit_plan = np.flatnonzero(~plans.dynamic)
    debit_entry = ctx.stamp(ctx.clock(plans.date[ch_plan]))
    # the last edit is not before the entry (both drawn on the plan's day; the later one is the edit)
    debit_edit = np.maximum(ctx.stamp(ctx.clock(plans.date[ch_plan])), debit_entry)
    charge_type = enum_codes("PayPlanChargeType")
    link_type = enum_codes("PayPlanLinkType")
    d_rows = np.flatnonzero(keep_debit)
    d_plan = ch_plan[d_rows]
    ch_dynamic = plans.dynamic[d_plan]
    d_proc = proc_num[plans.rows[d_plan]]
    n_d, n_c = len(d_rows), len(credit_plan)
    guar = people.guarantor[procs.pat[plans.rows]]
    both = lambda per_plan: np.concatenate([per_plan[d_plan], per_plan[credit_plan]])  # noqa: E731
    ctx.put("payplancharge", n_d + n_c, {
        "PayPlanChargeNum": np.arange(1, n_d + n_c + 1),
        "PayPlanNum": both(np.arange(1, plans.n + 1)),
        "Guarantor": both(guar),
        "PatNum": both(pr.pat[plans.rows]),
        "ChargeDate": np.concatenate([plans.ch_date[d_rows], plans.date[credit_plan]]),
        "Principal": np.concatenate([plans.ch_amount[d_rows], plans.principal[credit_plan]]) / 100.0,
        "ProvNum": both(pr.prov[plans.rows]),
        "ClinicNum": both(pr.clinic[plans.rows]),
        "ChargeType": np.concatenate([np.full(n_d, charge_type["Debit"]), np.full(n_c, charge_type["Credit"])]),
        # a dynamic plan's debit names its production by FKey / LinkType, not ProcNum
        "ProcNum": np.concatenate([np.where(ch_dynamic, 0, d_proc), proc_num[plans.rows][credit_plan]]),
        "FKey": np.concatenate([np.where(ch_dynamic, d_proc, 0), np.zeros(n_c, np.int64)]),
        "LinkType": np.concatenate([np.where(ch_dynamic, link_type["Procedure"], link_type["None"]),
                                    np.full(n_c, link_type["None"])]),
        "SecDateTEntry": np.concatenate([debit_entry[d_rows], plans.credit_stamp[credit_plan]]),
        "SecDateTEdit": np.concatenate([debit_edit[d_rows], plans.credit_stamp[credit_plan]]),
    })
    dyn_plan = np.flatnonzero(plans.dynamic)
    ctx.put("payplanlink", len(dyn_plan), {
        "PayPlanLinkNum": np.arange(1, len(dyn_plan) + 1),
        "PayPlanNum": dyn_plan + 1,
        "LinkType": np.full(len(dyn_plan), link_type["Procedure"]),
        "FKey": proc_num[plans.rows][dyn_plan],
        "AmountOverride": np.zeros(len(dyn_plan)),  # 0: the procedure's amount still owed
        "SecDateTEntry": plans.credit_stamp[dyn_plan],
    })
    return debit_num


def _plan_payments(ctx: Context, people: People, procs: _Procs, plans: _Plans, debit_num: np.ndarray,
                   splits: _SplitRows, event_base: int, paid: np.ndarray,
                   last_paid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adds the paid installments' paysplits (event keys from ``event_base``, one payment each) and puts
    ``payplan``. Per procedure: (``paid`` plus the installments paid, cents; the last day paid)."""
    pr, pat = procs.pr, procs.pat
    all_paid = np.ones(plans.n, dtype=bool)
    np.logical_and.at(all_paid, plans.ch_plan, plans.ch_paid)
    pc_rows = np.flatnonzero(plans.ch_paid)  # paid on or after the debit's date, by as_of: every one was issued
    proc = plans.rows[plans.ch_plan][pc_rows]
    splits.add(event_key=event_base + pc_rows, day=plans.ch_pay_day[pc_rows], amount=plans.ch_amount[pc_rows],
               proc=proc, pat=pat[proc], prov=pr.prov[proc], clinic=pr.clinic[proc], proc_date=pr.date[proc],
               payplan=plans.ch_plan[pc_rows] + 1, payplan_charge=debit_num[pc_rows], debit_type=1)
    paid, last_paid = paid.copy(), last_paid.copy()
    np.add.at(paid, proc, plans.ch_amount[pc_rows])
    np.maximum.at(last_paid, proc, plans.ch_pay_day[pc_rows])
    dynamic = plans.dynamic
    ctx.put("payplan", plans.n, {
        "PayPlanNum": np.arange(1, plans.n + 1),
        "PatNum": pr.pat[plans.rows],
        "Guarantor": people.guarantor[pat[plans.rows]],
        "PayPlanDate": plans.date,
        "CompletedAmt": plans.principal / 100.0,
        "PaySchedule": enum_codes("PaymentSchedule")["Monthly"],
        "NumberOfPayments": np.where(dynamic, 0, plans.n_pay),  # a dynamic plan stores the payment amount only
        "PayAmt": plans.per / 100.0,
        "IsClosed": all_paid.astype(np.int64),
        "IsDynamic": dynamic.astype(np.int64),
        "DynamicPayPlanTPOption": np.where(dynamic, enum_codes("DynamicPayPlanTPOptions")["AwaitComplete"], 0),
        "ChargeFrequency": enum_codes("PayPlanFrequency")["Monthly"],
        "DatePayPlanStart": add_months(plans.date, 1),
        "DateInterestStart": ZERO_DAY,
    })
    return paid, last_paid


def _proc_adjustments(procs: _Procs, rows: np.ndarray, day: np.ndarray, amount: np.ndarray,
                      adj_type: np.ndarray) -> dict[str, np.ndarray]:
    """The adjustment columns (cents, day numbers) of adjustments on the procedures ``rows``."""
    pr = procs.pr
    return dict(day=day, amount=amount, pat=procs.pat[rows], type=adj_type, prov=pr.prov[rows], proc=procs.num[rows],
                proc_date=pr.date[rows], clinic=pr.clinic[rows])


def _adjustments(ctx: Context, setup: Setup, people: People, apts: Appointments, procs: _Procs, cov: _Coverage,
                 settled: _Settled, visits: _Visits, disc: np.ndarray, disc_type: np.ndarray, paid: np.ndarray,
                 last_paid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``adjustment``: the visits' discounts (negative), a MISSED_FEE on MISSED_FEE_RATE of the broken
    appointments (``_broken_appointment_fees``), small-balance write-offs (``_small_balances``), then the
    charges and credits on the aging bucket boundaries. Returns (the appointments charged a fee, the fee's
    AdjNum)."""
    pr, rows, d = procs.pr, visits.rows, setup.defs
    dm = disc > 0
    parts = [_proc_adjustments(procs, rows[dm], pr.date[rows[dm]], -disc[dm], disc_type[dm])]
    missed = _broken_appointment_fees(ctx, apts)
    n_missed = len(missed)
    parts.append(dict(day=apts.break_day[missed], amount=np.full(n_missed, MISSED_FEE), pat=apts.pat[missed] - 1,
                      type=np.full(n_missed, d[("AdjTypes", "missed_fee")]), prov=apts.prov[missed],
                      proc=np.zeros(n_missed, np.int64), proc_date=apts.break_day[missed],
                      clinic=apts.clinic[missed]))
    discount = np.zeros(len(procs.pat), dtype=np.int64)
    discount[rows] = disc
    remaining, small, sb_day = _small_balances(ctx, procs, cov, settled, discount, paid, last_paid)
    sb = np.flatnonzero(small)
    parts.append(_proc_adjustments(procs, sb, sb_day[sb], -remaining[sb],
                                   np.full(len(sb), d[("AdjTypes", "small_balance")])))
    open_ = np.where(procs.done & (~cov.billable | settled.received), remaining - np.where(small, remaining, 0), 0)
    adj_num = _put_adjustments(ctx, setup, people, procs, parts, open_)
    return missed, adj_num[len(parts[0]["day"]) + np.arange(n_missed)]


def _broken_appointment_fees(ctx: Context, apts: Appointments) -> np.ndarray:
    """The appointments (indexes, AptNum - 1) charged MISSED_FEE: MISSED_FEE_RATE of the broken ones. OpenDental
    makes the broken-appointment adjustment (BrokenAppointmentAdjustmentType) only while breaking an
    appointment, in AppointmentL.BreakApptHelper (AdjDate = ProcDate = DateEntry = the day it is broken,
    ProvNum and ClinicNum the appointment's); an appointment sent to the unscheduled list is not broken."""
    return np.flatnonzero((apts.status == APT["Broken"]) & (ctx.rng.random(len(apts.pat)) < MISSED_FEE_RATE))


def _small_balances(ctx: Context, procs: _Procs, cov: _Coverage, settled: _Settled, discount: np.ndarray,
                    paid: np.ndarray, last_paid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per procedure: (the balance left, cents; bool, written off as a small balance; the day it would be).
    SMALL_BALANCE_RATE of the completed, partly paid procedures that insurance settled with at most
    SMALL_BALANCE_MAX left, SMALL_BALANCE_DAYS after the last payment, by as_of. Raises AssertionError
    when a procedure was paid beyond its charge."""
    done = procs.done
    remaining = procs.charge - discount - settled.writeoff - settled.inspay - paid
    if (remaining[done] < 0).any():
        raise AssertionError(f"{int((remaining[done] < 0).sum())} procedures were paid beyond their charge")
    small = done & (remaining > 0) & (remaining <= SMALL_BALANCE_MAX) & (paid > 0) & (~cov.billable | settled.received)
    sb_day = last_paid + SMALL_BALANCE_DAYS
    small &= (sb_day <= ctx.as_of) & (ctx.rng.random(len(done)) < SMALL_BALANCE_RATE)
    return remaining, small, sb_day


def _put_adjustments(ctx: Context, setup: Setup, people: People, procs: _Procs, parts: list[dict[str, np.ndarray]],
                     open_: np.ndarray) -> np.ndarray:
    """Puts ``adjustment`` (AdjNum in order of entry, AdjAmt in dollars): the rows of ``parts`` (columns in
    cents), then the aging-boundary charges and credits (on ``open_``, per procedure the balance left
    open, cents; a stream of their own). Returns the AdjNum of each row of ``parts``."""
    pr = procs.pr
    adj = {k: np.concatenate([part[k] for part in parts]).astype(np.int64) for k in parts[0]}
    adj_ts = ctx.stamp(ctx.clock(adj["day"]))
    edge = boundary_adjustments(ctx, setup, people, BoundaryProcedures(
        day=pr.date, pat=procs.pat, prov=pr.prov, clinic=pr.clinic, proc_num=procs.num, charge=procs.charge,
        open=open_))
    adj = {k: np.concatenate([adj[k], edge[k]]) for k in adj}
    adj_ts = np.concatenate([adj_ts, edge["ts"]])
    n_adj = len(adj["day"])
    adj_order = key_order(adj_ts, adj["pat"], adj["proc"])
    ctx.put("adjustment", n_adj, {
        "AdjNum": np.arange(1, n_adj + 1),
        "AdjDate": adj["day"][adj_order],
        "AdjAmt": adj["amount"][adj_order] / 100.0,
        "PatNum": adj["pat"][adj_order] + 1,
        "AdjType": adj["type"][adj_order],
        "ProvNum": adj["prov"][adj_order],
        "ProcDate": adj["proc_date"][adj_order],
        "ProcNum": adj["proc"][adj_order],
        "DateEntry": adj["day"][adj_order],
        "ClinicNum": adj["clinic"][adj_order],
        "SecUserNumEntry": setup.billing_user,
        "SecDateTEdit": adj_ts[adj_order],
    })
    return primary_keys(adj_order)


def _missed_fee_payments(ctx: Context, apts: Appointments, missed: np.ndarray, fee_adj: np.ndarray,
                         splits: _SplitRows, event_base: int) -> None:
    """Adds the paysplits of the missed-appointment fees paid (MISSED_FEE_PAID_RATE of them,
    MISSED_FEE_PAY_DAYS after the fee, by as_of), each on its fee (AdjNum ``fee_adj``), one payment each
    (event keys from ``event_base``)."""
    rng = ctx.rng
    n_missed = len(missed)
    fee_paid = rng.random(n_missed) < MISSED_FEE_PAID_RATE
    fee_day = apts.break_day[missed] + rng.integers(*MISSED_FEE_PAY_DAYS, size=n_missed)
    fp = fee_paid & (fee_day <= ctx.as_of)
    splits.add(event_key=event_base + np.flatnonzero(fp), day=fee_day[fp], amount=np.full(fp.sum(), MISSED_FEE),
               proc=np.full(fp.sum(), -1), pat=apts.pat[missed][fp] - 1, prov=apts.prov[missed][fp],
               clinic=apts.clinic[missed][fp], proc_date=apts.break_day[missed][fp], adj=fee_adj[fp])


def distinct_check_numbers(drawn: np.ndarray, used: np.ndarray, low: int, high: int) -> np.ndarray:
    """``drawn`` with every repeat among the ``used`` rows replaced, so that no two used rows share a
    number (a carrier's check number is never another check's, whichever carrier): the first row keeps
    a number, a later row holding it gets the next free number at or above it (wrapping to ``low``),
    all within ``[low, high)``. Deterministic, draws nothing. Raises ValueError when the used rows
    outnumber the range."""
    out = np.asarray(drawn, dtype=np.int64).copy()
    rows = np.flatnonzero(used)
    if len(rows) > high - low:
        raise ValueError(f"{len(rows)} check numbers do not fit in [{low}, {high})")
    values = out[rows]
    _, first = np.unique(values, return_index=True)
    repeat = np.ones(len(rows), dtype=bool)
    repeat[first] = False
    taken = set(values[first].tolist())
    for i in np.flatnonzero(repeat):
        number = int(values[i])
        while number in taken:
            number = low if number + 1 >= high else number + 1
        taken.add(number)
        out[rows[i]] = number
    return out


def _claim_snapshots(ctx: Context, rows: np.ndarray, claimproc_num: np.ndarray, proc_num: np.ndarray,
                     is_secondary: np.ndarray, wo_est: np.ndarray, est: np.ndarray, fee: np.ndarray,
                     created: np.ndarray) -> None:
    """``claimsnapshot``: one row per claimproc of a primary or secondary claim (``rows``), taken when the
    claim was created (SnapshotTrigger 0 ClaimCreate, OpenDental's default trigger): the write-off
    estimate, insurance estimate and fee of that moment, in dollars. OpenDental takes snapshots when
    the practice reports write-offs by initial claim date; the generator takes them under that setting
    only (``SyntheticConfig.ppo_writeoff_date`` 2)."""
    order = rows[key_order(created[rows], claimproc_num[rows])]
    n = len(order)
    ctx.put("claimsnapshot", n, {
        "ClaimSnapshotNum": np.arange(1, n + 1),
        "ProcNum": proc_num[order],
        "ClaimType": np.where(is_secondary[order], "S", "P"),
        "Writeoff": wo_est[order] / 100.0,
        "InsPayEst": est[order] / 100.0,
        "Fee": fee[order] / 100.0,
        "DateTEntry": created[order],
        "ClaimProcNum": claimproc_num[order],
        "SnapshotTrigger": enum_codes("ClaimSnapshotTrigger")["ClaimCreate"],
    })


def _not_on_check_yet(ctx: Context, received: np.ndarray, received_day: np.ndarray) -> np.ndarray:
    """Per claim: received (its payment entered by procedure, claimprocs Received with DateCP) but not
    attached to an insurance check yet (ClaimPaymentNum 0, DateInsFinalized unset): ``NOT_ON_CHECK_RATE``
    of the claims received in the ``NOT_ON_CHECK_DAYS`` days up to as-of. OpenDental ages such a payment
    on its DateCP; its Production and Income report counts it as income only once on a check."""
    stream = ctx.stream(NOT_ON_CHECK_STREAM)
    recent = received & (received_day > ctx.as_of - NOT_ON_CHECK_DAYS)
    return recent & (stream.random(len(received)) < NOT_ON_CHECK_RATE)


def _capitation(charge: np.ndarray, capitated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per procedure of a capitation plan: (the patient's copay, the capitation write-off), in cents;
    zero elsewhere. The copay is ``CAPITATION_COPAY_PCT`` of the office fee (OpenDental reads it from the
    plan's copay fee schedule, which the generator does not model); OpenDental writes off the rest
    (claimproc.WriteOff = fee - CopayAmt on CapComplete and CapEstimate rows, ClaimProcs.ComputeBaseEst)."""
    copay = np.where(capitated, pct_of(charge, CAPITATION_COPAY_PCT), 0)
    return copay, np.where(capitated, charge - copay, 0)


def _unearned_flows(ctx: Context, setup: Setup, people: People, apts: Appointments, procs: _Procs, visits: _Visits,
                    pay: _VisitPay, prepaid: _Prepaid, splits: _SplitRows, base: int) -> None:
    """Unearned money (paysplits with ProcNum 0 and UnearnedType = the Prepayment definition of category
    PaySplitUnearnedType, ProvNum 0) and what later happens to it, in cents (event keys from ``base``):

    - prepaid visits: a payment of the visit's first payment PREPAY_DAYS before it, then on the visit day an
      income transfer (payment PayType 0, PayAmt 0) whose splits come in pairs: -amount on the unearned
      type (FSplitNum = the prepayment split) and +amount on the procedure (FSplitNum = that negative split);
    - deposits: about PREPAY_DEPOSIT_RATE of the appointments booked in the DEPOSIT_AHEAD_DAYS after as_of
      were paid ahead (DEPOSIT_AMOUNTS, DEPOSIT_DAYS_BEFORE as_of); they are still unearned at as_of; about
      TP_PREPAYMENT_SHARE of them on the Treatment Plan Prepayment type, which the practice hides from
      the account ("Do Not Show on Account": no balance, no aging, no income);
    - overpayments: about OVERPAY_RATE of the later payments are rounded up to the next OVERPAY_ROUND, the
      excess landing on the unearned type (OpenDental's default for money beyond what is owed); about
      REFUND_RATE of these are refunded REFUND_DAYS later by a negative payment whose one split is -excess
      on the unearned type (FSplitNum = the overpayment split); the rest stay a credit on the family's account.

    Link ids (``_SplitRows`` link / from_link): 1..n_visits prepayments, then the transfers' negative
    splits (one per visit row), then the overpayments.
    """
    unearned = setup.defs[("PaySplitUnearnedType", "prepayment")]
    taken = 2 * visits.n + len(visits.rows)  # event keys after ``base`` and link ids used by the transfers
    _prepaid_transfers(procs, visits, pay, prepaid, splits, base, unearned)
    n_dep = _deposits(ctx, setup, people, apts, splits, base + taken, unearned)
    _overpayments(ctx, visits, pay, splits, unearned, refund_base=base + taken + n_dep, link_base=taken + 1)


def _prepaid_transfers(procs: _Procs, visits: _Visits, pay: _VisitPay, prepaid: _Prepaid, splits: _SplitRows,
                       base: int, unearned: int) -> None:
    """Adds the prepaid visits' prepayments (one payment each, event keys ``base`` + visit) and their income
    transfers on the visit day (event keys ``base`` + n_visits + visit), cents."""
    pr, vis = procs.pr, visits.visit
    pv = np.flatnonzero(prepaid.prepaid)
    splits.add(event_key=base + pv, day=prepaid.day[pv], amount=prepaid.first_total[pv], proc=-1,
               pat=visits.pat[pv], prov=0, clinic=visits.clinic[pv], proc_date=prepaid.day[pv],
               unearned=unearned, link=pv + 1)
    rows = np.flatnonzero(prepaid.prepaid[vis] & (pay.first_pay > 0))  # positions in visits.rows
    proc = visits.rows[rows]
    amount = pay.first_pay[rows]
    day = pr.date[proc]
    link_neg = visits.n + 1 + rows
    transfer = base + visits.n + vis[rows]
    splits.add(event_key=transfer, day=day, amount=-amount, proc=-1, pat=procs.pat[proc], prov=0,
               clinic=pr.clinic[proc], proc_date=day, unearned=unearned, link=link_neg,
               from_link=vis[rows] + 1, kind=KIND_TRANSFER)
    splits.add(event_key=transfer, day=day, amount=amount, proc=proc, pat=procs.pat[proc], prov=pr.prov[proc],
               clinic=pr.clinic[proc], proc_date=day, from_link=link_neg, kind=KIND_TRANSFER)


def _deposits(ctx: Context, setup: Setup, people: People, apts: Appointments, splits: _SplitRows,
              event_base: int, unearned: int) -> int:
    """Adds the deposits ahead of booked appointments, unearned at as_of (one payment each, event keys
    from ``event_base``; their unearned type on a stream of its own). Returns how many."""
    rng = ctx.rng
    soon = np.flatnonzero((apts.status == APT["Scheduled"]) & (apts.date > ctx.as_of)
                          & (apts.date <= ctx.as_of + DEPOSIT_AHEAD_DAYS))
    dep = soon[rng.random(len(soon)) < PREPAY_DEPOSIT_RATE]
    dep_pat = apts.pat[dep] - 1
    dep_day = np.minimum(np.maximum(ctx.as_of - rng.integers(*DEPOSIT_DAYS_BEFORE, size=len(dep)),
                                    people.entry[dep_pat]), ctx.as_of)
    tp_stream = ctx.stream(TP_PREPAYMENT_STREAM)
    dep_type = np.where(tp_stream.random(len(dep)) < TP_PREPAYMENT_SHARE,
                        setup.defs[("PaySplitUnearnedType", "tp_prepayment")], unearned)
    splits.add(event_key=event_base + np.arange(len(dep)), day=dep_day,
               amount=rng.choice(DEPOSIT_AMOUNTS, size=len(dep)), proc=-1, pat=dep_pat, prov=0,
               clinic=apts.clinic[dep], proc_date=dep_day, unearned=dep_type)
    return len(dep)


def _overpayments(ctx: Context, visits: _Visits, pay: _VisitPay, splits: _SplitRows, unearned: int, refund_base: int,
                  link_base: int) -> None:
    """Adds the overpayments (in the visit's later payment, event key 2 x visit + 1) and the refunds of
    some (one payment each, event keys from ``refund_base``); link ids from ``link_base``."""
    rng = ctx.rng
    v_second = group_sum(visits.visit, pay.second_pay, visits.n)
    over = np.flatnonzero((v_second > 0) & (rng.random(visits.n) < OVERPAY_RATE))
    excess = OVERPAY_ROUND - v_second[over] % OVERPAY_ROUND
    over_day = pay.later[over]
    link_over = link_base + np.arange(len(over))
    splits.add(event_key=over * 2 + 1, day=over_day, amount=excess, proc=-1, pat=visits.pat[over], prov=0,
               clinic=visits.clinic[over], proc_date=over_day, unearned=unearned, link=link_over)
    refund_day = over_day + rng.integers(*REFUND_DAYS, size=len(over))
    refunded = (rng.random(len(over)) < REFUND_RATE) & (refund_day <= ctx.as_of)
    r = np.flatnonzero(refunded)
    splits.add(event_key=refund_base + r, day=refund_day[r], amount=-excess[r], proc=-1, pat=visits.pat[over[r]],
               prov=0, clinic=visits.clinic[over[r]], proc_date=refund_day[r], unearned=unearned,
               from_link=link_over[r], kind=KIND_REFUND)


class _SplitRows:
    """Paysplit rows collected before payments get their keys. ``event_key`` groups splits into payments."""

    fields = ("event_key", "day", "amount", "proc", "pat", "prov", "clinic", "proc_date", "payplan",
              "payplan_charge", "debit_type", "adj", "unearned", "link", "from_link", "kind")

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, **cols) -> None:
        n = len(cols["day"])
        defaults = {"payplan": 0, "payplan_charge": 0, "debit_type": 0, "adj": 0, "unearned": 0, "link": 0,
                    "from_link": 0, "kind": KIND_PAYMENT}
        row = {}
        for f in self.fields:
            v = cols.get(f, defaults.get(f))
            row[f] = np.broadcast_to(np.asarray(v, dtype=np.int64), (n,)).copy()
        self.parts.append(row)

    def columns(self) -> dict[str, np.ndarray]:
        return {f: np.concatenate([p[f] for p in self.parts]) for f in self.fields}


def _payments(ctx: Context, setup: Setup, people: People, splits: _SplitRows, proc_num: np.ndarray) -> None:
    """``payment`` and ``paysplit`` from the collected split rows: one payment per (day, event key), PayNum
    and SplitNum in order of day, event and procedure, amounts in dollars; PayType drawn by
    PAYMENT_TYPE_SHARES (an income transfer: 0), a check's number from PATIENT_CHECK_NUMBERS."""
    rng = ctx.rng
    s = splits.columns()
    order = key_order(s["day"], s["event_key"], s["proc"])
    for k in s:
        s[k] = s[k][order]
    _, pay_of = group_bounds(_dense(s["day"], s["event_key"]))
    n_pay = _n_groups(pay_of)
    first = group_firsts(pay_of)
    p_pat = s["pat"][first]
    p_day = s["day"][first]
    p_amount = group_sum(pay_of, s["amount"], n_pay)
    p_count = np.bincount(pay_of, minlength=n_pay)
    d = setup.defs
    kinds = ("cash", "check", "card", "financing")
    pay_type = np.array([d[("PaymentTypes", k)] for k in kinds])[rng.choice(4, size=n_pay, p=PAYMENT_TYPE_SHARES)]
    transfer = s["kind"][first] == KIND_TRANSFER
    pay_type = np.where(transfer, 0, pay_type)  # OpenDental's income transfer: PayType 0 ("None"), PayAmt 0
    is_check = pay_type == d[("PaymentTypes", "check")]
    p_ts = ctx.stamp(ctx.clock(p_day))
    guar = people.guarantor[p_pat]
    ctx.put("payment", n_pay, {
        "PayNum": np.arange(1, n_pay + 1),
        "PayType": pay_type,
        "PayDate": p_day,
        "PayAmt": p_amount / 100.0,
        "CheckNum": pc.if_else(pa.array(is_check),
                               pa.array(rng.integers(*PATIENT_CHECK_NUMBERS, size=n_pay)).cast(pa.string()), ""),
        "IsSplit": (p_count > 1).astype(np.int64),
        "PatNum": guar,
        "ClinicNum": s["clinic"][first],
        "DateEntry": p_day,
        "SecUserNumEntry": setup.frontdesk_user[s["clinic"][first]],
        "SecDateTEdit": p_ts,
    })
    _put_paysplits(ctx, setup, s, pay_of, p_ts[pay_of], proc_num)


def _put_paysplits(ctx: Context, setup: Setup, s: dict[str, np.ndarray], pay_of: np.ndarray, pay_ts: np.ndarray,
                   proc_num: np.ndarray) -> None:
    """``paysplit``: the split rows ``s`` (``_SplitRows`` columns in SplitNum order, cents), ``pay_of`` the
    payment of each (PayNum - 1), ``pay_ts`` its payment's SecDateTEdit (seconds)."""
    n_split = len(pay_of)
    proc = s["proc"]
    ctx.put("paysplit", n_split, {
        "SplitNum": np.arange(1, n_split + 1),
        "SplitAmt": s["amount"] / 100.0,
        "PatNum": s["pat"] + 1,
        "ProcDate": s["proc_date"],
        "PayNum": pay_of + 1,
        "ProvNum": s["prov"],
        "PayPlanNum": s["payplan"],
        "DatePay": s["day"],
        "ProcNum": np.where(proc >= 0, proc_num[np.maximum(proc, 0)], 0),
        "DateEntry": s["day"],
        "ClinicNum": s["clinic"],
        "SecUserNumEntry": setup.frontdesk_user[s["clinic"]],
        "SecDateTEdit": pay_ts,
        "AdjNum": s["adj"],
        "PayPlanChargeNum": s["payplan_charge"],
        "PayPlanDebitType": s["debit_type"],
        "UnearnedType": s["unearned"],
        "FSplitNum": _fsplit_nums(s["link"], s["from_link"]),
    })


def _fsplit_nums(link: np.ndarray, from_link: np.ndarray) -> np.ndarray:
    """Per split in SplitNum order: FSplitNum, the SplitNum of the split a transfer or refund split draws
    from (the split whose ``link`` is its ``from_link``; OpenDental links them so), 0 for none. Raises
    AssertionError when a split draws from a split that does not exist."""
    has_link = np.flatnonzero(link > 0)
    fsplit = lookup(link[has_link], has_link + 1, from_link, 0)
    if len(has_link) and ((from_link > 0) & (fsplit == 0)).any():
        raise AssertionError("a transfer or refund split draws from a split that does not exist")
    return fsplit


def _dense(day: np.ndarray, event: np.ndarray) -> np.ndarray:
    """A key equal exactly for rows of the same (day, event), for rows sorted by (day, event)."""
    if len(day) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.ones(len(day), dtype=bool)
    change[1:] = (day[1:] != day[:-1]) | (event[1:] != event[:-1])
    return np.cumsum(change)

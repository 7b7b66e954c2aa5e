"""Money: insurance claims and estimates (primary and secondary, supplementals, denials), insurance
checks, adjustments, patient payments and payment plans, unearned money (prepayments, deposits,
overpayments), income transfers and refunds. Everything is computed in integer cents; no procedure is
ever paid beyond its charge (money beyond what is owed stays unearned, on no procedure), so a family's
credit balance is exactly its unearned money not yet used or refunded (of the types shown on the account).

Per completed procedure (charge = ProcFee x (UnitQty + BaseUnits)):

- insured and billable: allowed = the PPO fee schedule's fee (category-percentage plans: the charge),
  write-off = charge - allowed; the estimate applies the calendar-year deductible (basic and major
  services) and the plan's percentage, capped by the calendar-year maximum. Procedures of one patient
  on one day form a claim; claims are sent 0-3 days later and received 8-40 days after that when that
  is on or before as_of. Most pay the estimate, some pay less, a few are denied: received with
  InsPayAmt 0 (the write-off holds, Remarks and claim.ReasonUnderPaid say why). How often a carrier
  denies or underpays is its own: 4 % denied and 8 % reduced on average, times a per-carrier factor
  (`carrier_reliability`, 0.25-1.75 spread over the carriers, the signal behind the journey's target_insurance_accurate). About
  a third of the underpaid claims get a supplemental payment later;
- a second plan (patplan Ordinal 2): a secondary claim per primary claim, held until the primary is
  received, estimating at most what the primary left (coordination of benefits);
- discounts (uninsured only): cash, senior and professional-courtesy adjustments, negative;
- the patient pays at the visit (all or half of the estimated portion, or nothing) and usually the rest
  later (after the claim is received when insured); large uninsured balances may go on a payment plan
  paid monthly; tiny leftovers are written off; broken appointments may carry a missed-appointment fee;
- finance charges and discounts dated exactly on the aging bucket boundaries (``dental_synthetic.boundary``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .boundary import BoundaryProcedures, boundary_adjustments
from .columns import strings
from .context import Context
from .people import ROLE_CHILD, ROLE_HEAD, ROLE_SPOUSE, People
from .practice import Setup, enum_codes
from .schedule import APT, PROC, Clinical
from .util import (
    DAY,
    ZERO_DAY,
    add_months,
    cumsum_before,
    expand,
    group_bounds,
    group_firsts,
    group_sum,
    key_order,
    pct_of,
    primary_keys,
    rank_within,
    ts,
    weekday,
    year_of,
)

CP = enum_codes("ClaimProcStatus")
CARRIER_STREAM = 6271  # seed offset of the per-carrier denial/underpayment factor's own random stream


def carrier_reliability(ctx: Context, n_carriers: int) -> np.ndarray:
    """Per-carrier factor on the denial and underpayment rates, indexed by CarrierNum (index 0 unused):
    the evenly spaced factors 0.25 ... 1.75 (mean 1, so the rates averaged over carriers stay 4 % denied
    and 8 % reduced) dealt to the carriers in a random order. The order comes from a random stream of
    its own (seed + CARRIER_STREAM), leaving every other draw as it was."""
    stream = ctx.stream(CARRIER_STREAM)
    return np.concatenate([[1.0], stream.permutation(np.linspace(0.25, 1.75, n_carriers))])
KIND_PAYMENT, KIND_TRANSFER, KIND_REFUND = 0, 1, 2  # what a paysplit's payment is
PREPAY_RATE = 0.15  # share of visits paid at the visit with >= PREPAY_MIN cents that were prepaid instead
PREPAY_MIN = 20_000
PREPAY_DEPOSIT_RATE = 0.08  # share of appointments booked in the 21 days after as_of paid ahead
OVERPAY_RATE = 0.04  # share of later payments rounded up to the next $50 (the excess is unearned)
PLAN_CREDIT_SECOND = 9 * 3600  # a plan's credit row is entered at 09:00 on the plan's date
DYNAMIC_PLAN_RATE = 0.4  # share of payment plans made dynamic (procedure linked, debits issued when due)
DYNAMIC_PLAN_STREAM = 8233  # seed offset of that draw's own random stream: every other draw stays as it was
REFUND_RATE = 0.5  # share of overpayments refunded 14-60 days later
TP_PREPAYMENT_SHARE = 0.5  # share of the deposits taken as a Treatment Plan Prepayment (hidden unearned type)
TP_PREPAYMENT_STREAM = 7109  # seed offset of the deposits' type draw: every other draw stays as it was
WRITEOFF_BY_CLAIM_DATE = 2  # ReportsPPOwriteoffDefaultToProcDate: initial claim date / insurance pay date
NOT_ON_CHECK_DAYS = 7  # claims received in this many days before as-of may not be on a check yet
NOT_ON_CHECK_RATE = 0.3  # share of them (drawn on a stream of its own, seed + NOT_ON_CHECK_STREAM)
NOT_ON_CHECK_STREAM = 5147
CAPITATION_COPAY_PCT = 25  # a capitation plan's copay, in percent of the office fee (see _capitation)


def build_billing(ctx: Context, setup: Setup, people: People, clinical: Clinical) -> None:
    rng = ctx.rng
    pr = clinical.procs
    n_proc = len(pr.pat)
    proc_num = np.arange(1, n_proc + 1)
    pat = pr.pat - 1  # patient index
    charge = pr.fee * pr.units

    # --- insurance estimates ------------------------------------------------------------------------------
    plan = people.plan[pat]
    tier = setup.code_tier[pr.code]
    capitated = (plan > 0) & (tier >= 0) & setup.plan_capitation[plan]  # no claim: CapComplete/CapEstimate
    billable = (plan > 0) & (tier >= 0) & ~capitated
    copay, cap_wo = _capitation(charge, capitated)
    ppo_sched = setup.plan_feesched[plan]
    allowed = np.where(ppo_sched > 0, setup.fee[ppo_sched, pr.code] * pr.units, charge)
    allowed = np.minimum(allowed, charge)
    wo_est = np.where(billable, charge - allowed, 0)
    pct = np.where(billable, setup.plan_pct[plan, np.maximum(tier, 0)], 0)

    done = pr.status == PROC["C"]
    ins_done = np.flatnonzero(done & billable)
    ord_ = ins_done[key_order(pat[ins_done], year_of(pr.date[ins_done]), pr.date[ins_done], ins_done)]
    year_key = pat[ord_] * 8192 + (year_of(pr.date[ord_]) - 1900)
    eligible = tier[ord_] > 0
    used_ded = cumsum_before(np.where(eligible, allowed[ord_], 0), year_key)
    ded = np.where(eligible, np.clip(setup.plan_deductible[plan[ord_]] - used_ded, 0, allowed[ord_]), 0)
    base = pct_of(allowed[ord_] - ded, pct[ord_])
    used_max = cumsum_before(base, year_key)
    est = np.clip(setup.plan_annual_max[plan[ord_]] - used_max, 0, base)
    ins_est = np.zeros(n_proc, dtype=np.int64)
    ins_base = np.zeros(n_proc, dtype=np.int64)
    ins_ded = np.zeros(n_proc, dtype=np.int64)
    ins_est[ord_], ins_base[ord_], ins_ded[ord_] = est, base, ded

    # --- primary claims: one per patient and day ------------------------------------------------------------
    cl_rows = ins_done[key_order(pat[ins_done], pr.date[ins_done], ins_done)]
    visit_key = pat[cl_rows] * 100_000 + (pr.date[cl_rows] - ctx.start + 50_000)
    _, claim_of_row = group_bounds(visit_key)
    n_claims = int(claim_of_row[-1]) + 1 if len(cl_rows) else 0
    first_row = group_firsts(claim_of_row)
    c_pat = pat[cl_rows[first_row]]
    c_date = pr.date[cl_rows[first_row]]
    c_created = ts(c_date, 17 * 3600 + rng.integers(0, 3600, size=n_claims))
    c_sent = c_date + np.where(rng.random(n_claims) < 0.7, 0, rng.integers(1, 4, size=n_claims))
    c_is_sent = c_sent <= ctx.as_of
    # each carrier pays once a week on its own weekday: a claim is received on that weekday 8-40 days out
    pay_weekday = rng.permutation(5)[np.arange(len(setup.carrier_names) + 1) % 5]  # by CarrierNum
    c_carrier = setup.plan_carrier[people.plan[c_pat]]
    c_recv = c_sent + rng.integers(8, 41, size=n_claims)
    c_recv += (pay_weekday[c_carrier] - weekday(c_recv)) % 7
    c_is_recv = c_is_sent & (c_recv <= ctx.as_of)
    outcome = rng.random(n_claims)
    unreliable = carrier_reliability(ctx, len(setup.carrier_names))
    outcome = outcome / unreliable[c_carrier]  # a less reliable carrier lands more claims under the thresholds
    denied = c_is_recv & (outcome < 0.04)
    reduced = c_is_recv & (outcome >= 0.04) & (outcome < 0.12)
    factor = rng.integers(50, 96, size=n_claims)

    row_claim = claim_of_row
    r_est = ins_est[cl_rows]
    r_recv = c_is_recv[row_claim]
    r_pay = np.where(r_recv, np.where(denied[row_claim], 0,
                                      np.where(reduced[row_claim], r_est * factor[row_claim] // 100, r_est)), 0)
    r_wo = np.where(r_recv, wo_est[cl_rows], 0)

    # --- secondary claims: coordination of benefits ----------------------------------------------------------
    # A patient with a second plan (patplan Ordinal 2) gets a secondary claim (ClaimType 'S') for every
    # primary claim, created with it and held (ClaimStatus 'H') until the primary is received, then sent.
    # Per procedure the secondary estimate is the plan's percentage of the allowed fee, capped by its
    # calendar-year maximum and by what is left after the primary: charge - primary write-off - primary
    # payment (its estimate while the primary is pending). No deductible, no write-off on the secondary.
    # a capitation plan is never billed as the second plan (nor is a second plan behind a capitation one:
    # its procedures have no primary claim)
    plan2 = np.where(setup.plan_capitation[people.plan2], 0, people.plan2)[pat]
    s_rows = np.flatnonzero(plan2[cl_rows] > 0)  # positions in cl_rows (sorted by patient and date)
    s_proc = cl_rows[s_rows]
    s_pri_claim = row_claim[s_rows]
    pct2 = setup.plan_pct[plan2[s_proc], np.maximum(tier[s_proc], 0)]
    s_base = pct_of(allowed[s_proc], pct2)
    s_year_key = pat[s_proc] * 8192 + (year_of(pr.date[s_proc]) - 1900)
    s_benefit = np.clip(setup.plan_annual_max[plan2[s_proc]] - cumsum_before(s_base, s_year_key), 0, s_base)
    pri_recv = r_recv[s_rows]
    s_paid_other = np.where(pri_recv, r_pay[s_rows], r_est[s_rows])
    s_est = np.minimum(s_benefit, np.maximum(charge[s_proc] - wo_est[s_proc] - s_paid_other, 0))
    s_est_at_visit = np.minimum(s_benefit, np.maximum(charge[s_proc] - wo_est[s_proc] - r_est[s_rows], 0))
    pri_has_sec = np.zeros(n_claims, dtype=bool)
    pri_has_sec[s_pri_claim] = True
    sc_pri = np.flatnonzero(pri_has_sec)  # the primary claim of each secondary claim
    n_sec = len(sc_pri)
    sec_of_pri = np.full(n_claims, -1, dtype=np.int64)
    sec_of_pri[sc_pri] = np.arange(n_sec)
    s_claim = sec_of_pri[s_pri_claim]
    sc_pat = c_pat[sc_pri]
    sc_ready = c_is_recv[sc_pri]
    sc_sent = np.where(sc_ready, c_recv[sc_pri] + np.where(rng.random(n_sec) < 0.6, 0, rng.integers(1, 4, size=n_sec)),
                       ctx.as_of + 10_000)
    sc_is_sent = sc_ready & (sc_sent <= ctx.as_of)
    sc_carrier = setup.plan_carrier[people.plan2[sc_pat]]
    sc_recv = sc_sent + rng.integers(8, 41, size=n_sec)
    sc_recv += (pay_weekday[sc_carrier] - weekday(sc_recv)) % 7
    sc_is_recv = sc_is_sent & (sc_recv <= ctx.as_of)
    outcome2 = rng.random(n_sec) / unreliable[sc_carrier]
    denied2 = sc_is_recv & (outcome2 < 0.05)
    reduced2 = sc_is_recv & (outcome2 >= 0.05) & (outcome2 < 0.12)
    factor2 = rng.integers(50, 96, size=n_sec)
    s_recv = sc_is_recv[s_claim]
    s_pay = np.where(s_recv, np.where(denied2[s_claim], 0, np.where(reduced2[s_claim],
                                                                     s_est * factor2[s_claim] // 100, s_est)), 0)

    # --- supplementals: a later payment on some underpaid primary claims -------------------------------------
    # Of the reduced primary claims of patients without a second plan, about a third get a supplemental
    # payment 14-45 days after the claim was received (on the carrier's weekday, on a later check): one
    # Supplemental claimproc (Status 4) per underpaid procedure, paying all or half of the shortfall
    # (InsPayEst - InsPayAmt); FeeBilled, InsPayEst, WriteOff 0, as OpenDental enters them.
    supp_day = c_recv + rng.integers(14, 46, size=n_claims)
    supp_day += (pay_weekday[c_carrier] - weekday(supp_day)) % 7
    supp_claim = reduced & ~pri_has_sec & (rng.random(n_claims) < 0.35) & (supp_day <= ctx.as_of)
    supp_full = rng.random(n_claims) < 0.6
    shortfall = r_est - r_pay
    sp_rows = np.flatnonzero(supp_claim[row_claim] & (shortfall > 0))  # positions in cl_rows
    sp_claim = row_claim[sp_rows]
    sp_pay = np.where(supp_full[sp_claim], shortfall[sp_rows], shortfall[sp_rows] // 2)
    keep = sp_pay > 0
    sp_rows, sp_claim, sp_pay = sp_rows[keep], sp_claim[keep], sp_pay[keep]
    sp_proc = cl_rows[sp_rows]
    has_supp = np.zeros(n_claims, dtype=bool)
    has_supp[sp_claim] = True

    # --- per procedure: insurance paid, written off, and the day insurance was settled ---------------------
    inspay = np.zeros(n_proc, dtype=np.int64)
    writeoff = np.zeros(n_proc, dtype=np.int64)
    inspay[cl_rows], writeoff[cl_rows] = r_pay, r_wo
    np.add.at(inspay, s_proc, s_pay)
    np.add.at(inspay, sp_proc, sp_pay)
    sec_est_visit = np.zeros(n_proc, dtype=np.int64)
    sec_est_visit[s_proc] = s_est_at_visit
    proc_received = np.zeros(n_proc, dtype=bool)
    proc_received[cl_rows] = r_recv
    proc_received[s_proc] &= s_recv  # settled once the secondary is received too
    proc_recv_day = np.full(n_proc, ZERO_DAY, dtype=np.int64)
    proc_recv_day[cl_rows] = np.where(r_recv, c_recv[row_claim], ZERO_DAY)
    np.maximum.at(proc_recv_day, s_proc, np.where(s_recv, sc_recv[s_claim], ZERO_DAY))
    np.maximum.at(proc_recv_day, sp_proc, supp_day[sp_claim])
    cap_done = np.flatnonzero(done & capitated)  # written off down to the copay on the day of service
    writeoff[cap_done] = cap_wo[cap_done]
    proc_received[cap_done] = True
    proc_recv_day[cap_done] = pr.date[cap_done]

    # --- all claims: primary (0..n_claims-1) then secondary --------------------------------------------------
    n_all = n_claims + n_sec
    a_pat = np.concatenate([c_pat, sc_pat])
    a_date = np.concatenate([c_date, c_date[sc_pri]])
    a_created = np.concatenate([c_created, c_created[sc_pri] + 1])
    a_is_sec = np.concatenate([np.zeros(n_claims, bool), np.ones(n_sec, bool)])
    a_sent = np.concatenate([c_sent, sc_sent])
    a_is_sent = np.concatenate([c_is_sent, sc_is_sent])
    a_recv = np.concatenate([c_recv, sc_recv])
    a_is_recv = np.concatenate([c_is_recv, sc_is_recv])
    a_denied = np.concatenate([denied, denied2])
    a_reduced = np.concatenate([reduced, reduced2])
    a_carrier = np.concatenate([c_carrier, sc_carrier])
    a_clinic = people.clinic[a_pat]
    claim_order = key_order(a_created, a_pat, a_is_sec.astype(np.int64))
    claim_num = primary_keys(claim_order)  # claim index -> ClaimNum

    # insurance checks: per carrier, clinic and day paid; a check batches received claims and supplementals
    # a claim received in the last days before as-of may be entered by procedure and not be on a check yet
    not_on_check = _not_on_check_yet(ctx, a_is_recv, a_recv)
    recv_claims = np.flatnonzero(a_is_recv & ~not_on_check)
    supp_claims = np.flatnonzero(has_supp)
    i_claim = np.concatenate([recv_claims, supp_claims])
    i_day = np.concatenate([a_recv[recv_claims], supp_day[supp_claims]])
    n_items = len(i_claim)
    item_of_claim = np.full(n_all, -1, dtype=np.int64)
    item_of_claim[recv_claims] = np.arange(len(recv_claims))
    item_of_supp = np.full(n_claims, -1, dtype=np.int64)
    item_of_supp[supp_claims] = len(recv_claims) + np.arange(len(supp_claims))
    i_carrier, i_clinic = a_carrier[i_claim], a_clinic[i_claim]
    chk_sorted = key_order(i_day, i_carrier, i_clinic)
    skey = (i_day[chk_sorted] - ctx.start + 50_000) * 10_000 + i_carrier[chk_sorted] * 100 + i_clinic[chk_sorted]
    _, chk_gid = group_bounds(skey)
    n_chk = int(chk_gid[-1]) + 1 if n_items else 0
    item_chk = np.zeros(n_items, dtype=np.int64)
    item_chk[chk_sorted] = chk_gid + 1  # ClaimPaymentNum, already in check-date order
    chk_first = chk_sorted[group_firsts(chk_gid)]
    chk_last_sent = np.full(n_chk, np.iinfo(np.int64).min)
    np.maximum.at(chk_last_sent, chk_gid, a_sent[i_claim[chk_sorted]])
    chk_date = i_day[chk_first]

    # --- claimprocs: primary, secondary and supplemental claim rows, then estimates of planned work ---------
    tp_rows = np.flatnonzero((pr.status == PROC["TP"]) & billable)
    tp_est = pct_of(allowed[tp_rows], pct[tp_rows])
    tp2 = tp_rows[plan2[tp_rows] > 0]
    tp2_first = tp_est[plan2[tp_rows] > 0]
    tp2_est = np.minimum(pct_of(allowed[tp2], setup.plan_pct[plan2[tp2], np.maximum(tier[tp2], 0)]),
                         np.maximum(charge[tp2] - wo_est[tp2] - tp2_first, 0))
    # capitation: CapComplete (7) for completed procedures, CapEstimate (8) for planned ones; no claim
    cap_rows = np.concatenate([cap_done, np.flatnonzero((pr.status == PROC["TP"]) & capitated)])
    n_p, n_s, n_sp, n_t, n_t2 = len(cl_rows), len(s_proc), len(sp_proc), len(tp_rows), len(tp2)
    n_c7, n_cap = len(cap_done), len(cap_rows)
    zeros = lambda k: np.zeros(k, dtype=np.int64)  # noqa: E731
    cp_proc = np.concatenate([cl_rows, s_proc, sp_proc, tp_rows, tp2, cap_rows])
    n_cp = len(cp_proc)
    kind = np.concatenate([np.full(n_p, 0), np.full(n_s, 1), np.full(n_sp, 2), np.full(n_t, 3), np.full(n_t2, 4),
                           np.full(n_c7, 5), np.full(n_cap - n_c7, 6)])
    on_claim = kind <= 2
    is_cap = kind >= 5
    cp_claim_idx = np.concatenate([row_claim, n_claims + s_claim, sp_claim, np.full(n_t + n_t2 + n_cap, -1)])
    pad = lambda values, fill: np.concatenate([values, [fill]])  # noqa: E731  (index -1: no claim)
    cp_recv = np.concatenate([r_recv, s_recv, np.ones(n_sp, bool), np.zeros(n_t + n_t2 + n_cap, bool)])
    cp_status = np.select([kind == 2, on_claim & cp_recv, on_claim, kind == 5, kind == 6],
                          [CP["Supplemental"], CP["Received"], CP["NotReceived"], CP["CapComplete"],
                           CP["CapEstimate"]], CP["Estimate"])
    cp_est = np.concatenate([r_est, s_est, zeros(n_sp), tp_est, tp2_est, zeros(n_cap)])
    cp_base = np.concatenate([ins_base[cl_rows], s_base, zeros(n_sp), tp_est,
                              pct_of(allowed[tp2], setup.plan_pct[plan2[tp2], np.maximum(tier[tp2], 0)]),
                              zeros(n_cap)])
    cp_ded = np.concatenate([ins_ded[cl_rows], zeros(n_s + n_sp + n_t + n_t2 + n_cap)])
    cp_pay = np.concatenate([r_pay, s_pay, sp_pay, zeros(n_t + n_t2 + n_cap)])
    cp_wo = np.concatenate([r_wo, zeros(n_s + n_sp + n_t + n_t2), cap_wo[cap_rows]])
    cp_wo_est = np.concatenate([wo_est[cl_rows], zeros(n_s + n_sp), wo_est[tp_rows], zeros(n_t2), cap_wo[cap_rows]])
    cp_fee = np.where(kind <= 1, charge[cp_proc], 0)
    cp_is_sec = (kind == 1) | (kind == 4)
    cp_plan = np.where(cp_is_sec, plan2[cp_proc], plan[cp_proc])
    cp_inssub = np.where(cp_is_sec, people.inssub2[pat[cp_proc]], people.inssub[pat[cp_proc]])
    cp_pct = np.concatenate([pct[cl_rows], pct2, zeros(n_sp), pct[tp_rows],
                             setup.plan_pct[plan2[tp2], np.maximum(tier[tp2], 0)], np.full(n_cap, -1)])
    cp_paid_other = np.concatenate([zeros(n_p), s_paid_other, zeros(n_sp + n_t), tp2_first, zeros(n_cap)])
    cp_item = np.concatenate([np.where(r_recv, item_of_claim[row_claim], -1),
                              np.where(s_recv, item_of_claim[n_claims + s_claim], -1),
                              item_of_supp[sp_claim], np.full(n_t + n_t2 + n_cap, -1)])
    cp_chk = np.where(cp_item >= 0, item_chk[np.maximum(cp_item, 0)], 0)
    cp_datecp = np.where(cp_item >= 0, np.concatenate([i_day, [ZERO_DAY]])[cp_item], ZERO_DAY)
    cp_datecp = np.where(is_cap, pr.date[cp_proc], cp_datecp)  # OpenDental: DateCP = ProcDate, for aging
    cp_unfinalized = on_claim & cp_recv & pad(not_on_check, False)[cp_claim_idx]
    cp_datecp = np.where(cp_unfinalized, pad(a_recv, ZERO_DAY)[cp_claim_idx], cp_datecp)  # received, no check
    cp_claimnum = np.where(on_claim, pad(claim_num, 0)[cp_claim_idx], 0)
    line = np.zeros(n_cp, dtype=np.int64)
    line[:n_p] = rank_within(row_claim) + 1
    line[n_p:n_p + n_s] = rank_within(s_claim) + 1  # s_claim is sorted: s_rows follow cl_rows' order
    line[n_p + n_s:n_p + n_s + n_sp] = line[sp_rows]
    cp_entry_day = np.where(on_claim, pad(a_date, 0)[cp_claim_idx], pr.created[cp_proc] // DAY)
    cp_entry_day[n_p + n_s:n_p + n_s + n_sp] = supp_day[sp_claim]
    cp_edit = np.where(cp_recv | (kind == 5), ctx.clock(cp_datecp),
                       np.where(on_claim, pad(a_created, 0)[cp_claim_idx], pr.created[cp_proc]))
    denied_row = on_claim & cp_recv & (kind <= 1) & pad(a_denied, False)[cp_claim_idx]
    cp_order = key_order(np.where(kind == 2, ts(cp_entry_day, 23 * 3600), pr.created[cp_proc]), cp_proc, kind)
    o = cp_order
    minus_one = np.full(n_cp, -1.0)
    ctx.put("claimproc", n_cp, {
        "ClaimProcNum": np.arange(1, n_cp + 1),
        "ProcNum": proc_num[cp_proc][o],
        "ClaimNum": cp_claimnum[o],
        "PatNum": pr.pat[cp_proc][o],
        "ProvNum": pr.prov[cp_proc][o],
        "FeeBilled": cp_fee[o] / 100.0,
        "InsPayEst": cp_est[o] / 100.0,
        "DedApplied": cp_ded[o] / 100.0,
        "Status": cp_status[o],
        "InsPayAmt": cp_pay[o] / 100.0,
        "Remarks": pc.if_else(pa.array(denied_row[o]), "Denied: frequency limitation", ""),
        "ClaimPaymentNum": cp_chk[o],
        "PlanNum": cp_plan[o],
        "DateCP": cp_datecp[o],
        "WriteOff": cp_wo[o] / 100.0,
        "CodeSent": strings(setup.code_proccode, pr.code[cp_proc][o]),
        "AllowedOverride": minus_one,
        "Percentage": np.where(kind == 2, -1, cp_pct)[o],
        "PercentOverride": -1,
        "CopayAmt": np.where(is_cap, copay[cp_proc] / 100.0, -1.0)[o],
        "PaidOtherIns": cp_paid_other[o] / 100.0,
        "BaseEst": cp_base[o] / 100.0,
        "CopayOverride": minus_one,
        "ProcDate": pr.date[cp_proc][o],
        "DateEntry": cp_entry_day[o],
        "LineNumber": line[o],
        "DedEst": cp_ded[o] / 100.0,
        "DedEstOverride": minus_one,
        "InsEstTotal": cp_est[o] / 100.0,
        "InsEstTotalOverride": minus_one,
        "PaidOtherInsOverride": minus_one,
        "WriteOffEst": cp_wo_est[o] / 100.0,
        "WriteOffEstOverride": minus_one,
        "ClinicNum": pr.clinic[cp_proc][o],
        "InsSubNum": cp_inssub[o],
        "SecUserNumEntry": setup.billing_user,
        "SecDateEntry": cp_entry_day[o],
        "SecDateTEdit": ctx.stamp(cp_edit)[o],
        "DateInsFinalized": np.where(is_cap | cp_unfinalized, ZERO_DAY, cp_datecp)[o],
    })

    if ctx.config.ppo_writeoff_date == WRITEOFF_BY_CLAIM_DATE:
        claim_num_of_cp = np.empty(n_cp, dtype=np.int64)
        claim_num_of_cp[o] = np.arange(1, n_cp + 1)  # row (before ordering) -> ClaimProcNum
        _claim_snapshots(ctx, np.flatnonzero(kind <= 1), claim_num_of_cp, proc_num[cp_proc], cp_is_sec,
                         cp_wo_est, cp_est, cp_fee, pad(a_created, 0)[cp_claim_idx])

    # --- checks and claims, totalled from their claimprocs ----------------------------------------------------
    item_pay = group_sum(cp_item[cp_item >= 0], cp_pay[cp_item >= 0], n_items)
    chk_amt = group_sum(chk_gid, item_pay[chk_sorted], n_chk)
    is_eft = rng.random(n_chk) < 0.55
    d = setup.defs
    ctx.put("claimpayment", n_chk, {
        "ClaimPaymentNum": np.arange(1, n_chk + 1),
        "CheckDate": chk_date,
        "CheckAmt": chk_amt / 100.0,
        "CheckNum": pc.if_else(pa.array(is_eft), "", pa.array(
            distinct_check_numbers(rng.integers(100_000, 999_999, size=n_chk), ~is_eft, 100_000, 999_999)).cast(
            pa.string())),
        "ClinicNum": i_clinic[chk_first],
        "CarrierName": strings(setup.carrier_names, i_carrier[chk_first] - 1),
        "DateIssued": np.maximum(chk_date - rng.integers(1, 6, size=n_chk), chk_last_sent),
        "PayType": np.where(is_eft, d[("InsurancePaymentType", "eft")], d[("InsurancePaymentType", "check")]),
        "SecUserNumEntry": setup.billing_user,
        "SecDateEntry": chk_date,
        "SecDateTEdit": ctx.stamp(ctx.clock(chk_date)),
        "PayGroup": d[("ClaimPaymentGroups", "default")],
    })

    relat = enum_codes("Relat")
    role = people.role[a_pat]
    rel_pri = np.select([role == ROLE_HEAD, role == ROLE_SPOUSE], [relat["Self"], relat["Spouse"]], relat["Child"])
    swap = people.sub2_is_spouse[a_pat]  # the spouse subscribes the second plan: head and spouse swap
    rel_sec = np.where(role == ROLE_CHILD, relat["Child"],
                       np.where((role == ROLE_HEAD) != swap, relat["Self"], relat["Spouse"]))
    has2 = people.plan2[a_pat] > 0
    c_stat = np.where(a_is_recv, "R", np.where(a_is_sent, "S", np.where(a_is_sec & ~np.concatenate(
        [np.zeros(n_claims, bool), sc_ready]), "H", "W")))
    last_paid_day = a_recv.copy()
    last_paid_day[:n_claims] = np.where(has_supp, supp_day, c_recv)
    c_edit = np.where(a_is_recv, ctx.clock(last_paid_day), np.where(a_is_sent, ctx.clock(a_sent), a_created))
    on = on_claim
    totals = {name: group_sum(cp_claim_idx[on], values[on], n_all)
              for name, values in (("fee", cp_fee), ("est", cp_est), ("pay", cp_pay), ("ded", cp_ded), ("wo", cp_wo))}
    prov = people.pri_prov[a_pat]
    co = claim_order
    ctx.put("claim", n_all, {
        "ClaimNum": np.arange(1, n_all + 1),
        "PatNum": a_pat[co] + 1,
        "DateService": a_date[co],
        "DateSent": np.where(a_is_sent, a_sent, ZERO_DAY)[co],
        "ClaimStatus": c_stat[co],
        "DateReceived": np.where(a_is_recv, a_recv, ZERO_DAY)[co],
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
        "ClinicNum": a_clinic[co],
        "InsSubNum": np.where(a_is_sec, people.inssub2[a_pat], people.inssub[a_pat])[co],
        "InsSubNum2": np.where(a_is_sec, people.inssub[a_pat], people.inssub2[a_pat])[co],
        "ReasonUnderPaid": np.where(a_denied, "Denied: frequency limitation", np.where(
            a_reduced, "Paid at a reduced rate", ""))[co],
        "SecUserNumEntry": setup.billing_user,
        "SecDateEntry": a_date[co],
        "SecDateTEdit": ctx.stamp(c_edit)[co],
        "DateSentOrig": np.where(a_is_sent, a_sent, ZERO_DAY)[co],
    })

    # --- visits, payment behaviour, discounts ------------------------------------------------------------------
    c_rows = np.flatnonzero(done)
    c_rows = c_rows[key_order(pat[c_rows], pr.date[c_rows], c_rows)]
    v_key = pat[c_rows] * 100_000 + (pr.date[c_rows] - ctx.start + 50_000)
    _, visit_of = group_bounds(v_key)
    n_visits = int(visit_of[-1]) + 1 if len(c_rows) else 0
    v_first = group_firsts(visit_of)
    v_pat = pat[c_rows[v_first]]
    v_date = pr.date[c_rows[v_first]]
    v_insured = people.plan[v_pat] > 0
    u = rng.random(n_visits)
    # 2: pays the estimated portion at the visit, 1: half of it, 0: nothing at the visit
    behaviour = np.where(v_insured, np.select([u < 0.78, u < 0.85], [2, 1], 0),
                         np.select([u < 0.62, u < 0.74], [2, 1], 0))
    pays_rest = rng.random(n_visits) < 0.88
    age = (v_date - people.birth[v_pat]) / 365.25
    courtesy = ~v_insured & (rng.random(n_visits) < 0.004)
    senior = ~v_insured & ~courtesy & (age >= 65) & (rng.random(n_visits) < 0.6)
    cash = ~v_insured & ~courtesy & ~senior & (behaviour == 2) & (rng.random(n_visits) < 0.5)
    rc = charge[c_rows]
    vis = visit_of
    disc = np.select([courtesy[vis], senior[vis], cash[vis] & (rc >= 10_000)],
                     [rc, pct_of(rc, 10), pct_of(rc, 5)], 0)
    disc_type = np.select([courtesy[vis], senior[vis]], [d[("AdjTypes", "courtesy")],
                                                         d[("AdjTypes", "senior_discount")]],
                          d[("AdjTypes", "cash_discount")])
    discount = np.zeros(n_proc, dtype=np.int64)
    discount[c_rows] = disc

    # --- patient payments ---------------------------------------------------------------------------------------
    ins_billable = billable[c_rows]
    # what the patient owes at the visit: after the estimates, or after the capitation write-off
    due_visit = rc - disc - np.where(ins_billable, wo_est[c_rows] + ins_est[c_rows] + sec_est_visit[c_rows],
                                     writeoff[c_rows])
    known = ~ins_billable | proc_received[c_rows]
    final_due = rc - disc - writeoff[c_rows] - inspay[c_rows]
    final_due = np.where(ins_billable & ~proc_received[c_rows], due_visit, final_due)
    # large uninsured balances that were not paid at the visit may go on a payment plan
    on_plan = (~ins_billable & (behaviour[vis] == 0) & (final_due >= 60_000)
               & (rng.random(len(c_rows)) < 0.4) & (pr.date[c_rows] < ctx.as_of - 30))
    first_pay = np.select([behaviour[vis] == 2, behaviour[vis] == 1], [due_visit, due_visit // 2], 0)
    first_pay = np.where(on_plan, 0, first_pay)
    v_recv_day = np.full(n_visits, np.iinfo(np.int64).min)
    np.maximum.at(v_recv_day, vis, np.where(ins_billable, proc_recv_day[c_rows], np.iinfo(np.int64).min))
    v_later = np.maximum(v_date, v_recv_day) + rng.integers(7, 61, size=n_visits)
    v_all_known = np.ones(n_visits, dtype=bool)
    np.logical_and.at(v_all_known, vis, known)
    later_ok = pays_rest[vis] & v_all_known[vis] & (v_later[vis] <= ctx.as_of) & ~on_plan
    second_pay = np.where(later_ok, final_due - first_pay, 0)

    # prepaid visits: the visit's first payment was made 1-21 days ahead as unearned money (a prepayment),
    # moved onto the procedures at the visit by an income transfer
    v_first_total = group_sum(vis, first_pay, n_visits)
    v_clinic = pr.clinic[c_rows[v_first]]
    prepaid_v = (behaviour == 2) & (v_first_total >= PREPAY_MIN) & (rng.random(n_visits) < PREPAY_RATE)
    prepay_day = np.minimum(np.maximum(v_date - rng.integers(1, 22, size=n_visits), people.entry[v_pat]), v_date)

    splits = _SplitRows()
    # event 1 at the visit, event 2 later; one payment per visit and event
    for event, amount, day in ((0, np.where(prepaid_v[vis], 0, first_pay), pr.date[c_rows]),
                               (1, second_pay, v_later[vis])):
        m = amount > 0
        splits.add(event_key=vis[m] * 2 + event, day=day[m], amount=amount[m], proc=c_rows[m],
                   pat=pat[c_rows[m]], prov=pr.prov[c_rows[m]], clinic=pr.clinic[c_rows[m]],
                   proc_date=pr.date[c_rows[m]])
    paid = np.zeros(n_proc, dtype=np.int64)
    paid[c_rows] = first_pay + second_pay
    last_paid = np.full(n_proc, ZERO_DAY, dtype=np.int64)
    last_paid[c_rows] = np.where(second_pay > 0, v_later[vis], np.where(first_pay > 0, pr.date[c_rows], ZERO_DAY))

    # payment plans
    plan_rows = c_rows[on_plan]
    n_pp = len(plan_rows)
    principal = final_due[on_plan]
    n_pay = rng.choice([3, 6, 10, 12], size=n_pp)
    per = -(-principal // n_pay)  # ceiling
    pp_date = pr.date[plan_rows]
    pp_num = np.arange(1, n_pp + 1)
    ch_plan, ch_k = expand(n_pay)
    ch_amount = np.where(ch_k == n_pay[ch_plan] - 1, principal[ch_plan] - per[ch_plan] * (n_pay[ch_plan] - 1),
                         per[ch_plan])
    ch_date = add_months(pp_date[ch_plan], ch_k + 1)
    n_ch = len(ch_plan)
    ch_pay_day = ch_date + rng.integers(0, 6, size=n_ch)
    ch_paid = (ch_pay_day <= ctx.as_of) & (rng.random(n_ch) < 0.93)
    pp_rows_of_ch = plan_rows[ch_plan]
    pp_guar = people.guarantor[pat[plan_rows]]
    # a share of the plans are dynamic (payplan.IsDynamic): the procedure is linked (payplanlink) instead of
    # credited, and OpenDental's service issues each debit only when it is due (none after as_of)
    dynamic = ctx.stream(DYNAMIC_PLAN_STREAM).random(n_pp) < DYNAMIC_PLAN_RATE
    keep_debit = ~dynamic[ch_plan] | (ch_date <= ctx.as_of)
    debit_num = np.cumsum(keep_debit)  # PayPlanChargeNum of each kept debit
    credit_plan = np.flatnonzero(~dynamic)
    # the debits (the installments), then one credit per static plan: the procedure's amount put on the plan
    # on the plan's date, attached to the procedure (as OpenDental writes a patient payment plan since
    # version 2)
    debit_entry = ctx.stamp(ctx.clock(pp_date[ch_plan]))
    debit_edit = ctx.stamp(ctx.clock(pp_date[ch_plan]))
    credit_stamp = ctx.stamp(pp_date * DAY + PLAN_CREDIT_SECOND)  # no draw: the other tables stay as they were
    charge_type = enum_codes("PayPlanChargeType")
    link_type = enum_codes("PayPlanLinkType")
    d_rows = np.flatnonzero(keep_debit)
    ch_dynamic = dynamic[ch_plan][d_rows]
    d_proc = proc_num[pp_rows_of_ch][d_rows]
    n_d, n_c = len(d_rows), len(credit_plan)
    ctx.put("payplancharge", n_d + n_c, {
        "PayPlanChargeNum": np.arange(1, n_d + n_c + 1),
        "PayPlanNum": np.concatenate([pp_num[ch_plan][d_rows], pp_num[credit_plan]]),
        "Guarantor": np.concatenate([pp_guar[ch_plan][d_rows], pp_guar[credit_plan]]),
        "PatNum": np.concatenate([pr.pat[pp_rows_of_ch][d_rows], pr.pat[plan_rows][credit_plan]]),
        "ChargeDate": np.concatenate([ch_date[d_rows], pp_date[credit_plan]]),
        "Principal": np.concatenate([ch_amount[d_rows], principal[credit_plan]]) / 100.0,
        "ProvNum": np.concatenate([pr.prov[pp_rows_of_ch][d_rows], pr.prov[plan_rows][credit_plan]]),
        "ClinicNum": np.concatenate([pr.clinic[pp_rows_of_ch][d_rows], pr.clinic[plan_rows][credit_plan]]),
        "ChargeType": np.concatenate([np.full(n_d, charge_type["Debit"]), np.full(n_c, charge_type["Credit"])]),
        # a dynamic plan's debit names its production by FKey / LinkType, not ProcNum
        "ProcNum": np.concatenate([np.where(ch_dynamic, 0, d_proc), proc_num[plan_rows][credit_plan]]),
        "FKey": np.concatenate([np.where(ch_dynamic, d_proc, 0), np.zeros(n_c, np.int64)]),
        "LinkType": np.concatenate([np.where(ch_dynamic, link_type["Procedure"], link_type["None"]),
                                    np.full(n_c, link_type["None"])]),
        "SecDateTEntry": np.concatenate([debit_entry[d_rows], credit_stamp[credit_plan]]),
        "SecDateTEdit": np.concatenate([debit_edit[d_rows], credit_stamp[credit_plan]]),
    })
    dyn_plan = np.flatnonzero(dynamic)
    ctx.put("payplanlink", len(dyn_plan), {
        "PayPlanLinkNum": np.arange(1, len(dyn_plan) + 1),
        "PayPlanNum": pp_num[dyn_plan],
        "LinkType": np.full(len(dyn_plan), link_type["Procedure"]),
        "FKey": proc_num[plan_rows][dyn_plan],
        "AmountOverride": np.zeros(len(dyn_plan)),  # 0: the procedure's amount still owed
        "SecDateTEntry": credit_stamp[dyn_plan],
    })
    all_paid = np.ones(n_pp, dtype=bool)
    np.logical_and.at(all_paid, ch_plan, ch_paid)
    pc_rows = np.flatnonzero(ch_paid)  # paid on or after the debit's date, by as_of: every one was issued
    splits.add(event_key=2 * n_visits + pc_rows, day=ch_pay_day[pc_rows], amount=ch_amount[pc_rows],
               proc=pp_rows_of_ch[pc_rows], pat=pat[pp_rows_of_ch[pc_rows]], prov=pr.prov[pp_rows_of_ch[pc_rows]],
               clinic=pr.clinic[pp_rows_of_ch[pc_rows]], proc_date=pr.date[pp_rows_of_ch[pc_rows]],
               payplan=ch_plan[pc_rows] + 1, payplan_charge=debit_num[pc_rows], debit_type=1)
    np.add.at(paid, pp_rows_of_ch[pc_rows], ch_amount[pc_rows])
    np.maximum.at(last_paid, pp_rows_of_ch[pc_rows], ch_pay_day[pc_rows])
    ctx.put("payplan", n_pp, {
        "PayPlanNum": pp_num,
        "PatNum": pr.pat[plan_rows],
        "Guarantor": pp_guar,
        "PayPlanDate": pp_date,
        "CompletedAmt": principal / 100.0,
        "PaySchedule": enum_codes("PaymentSchedule")["Monthly"],
        "NumberOfPayments": np.where(dynamic, 0, n_pay),  # a dynamic plan stores the payment amount only
        "PayAmt": per / 100.0,
        "IsClosed": all_paid.astype(np.int64),
        "IsDynamic": dynamic.astype(np.int64),
        "DynamicPayPlanTPOption": np.where(dynamic, enum_codes("DynamicPayPlanTPOptions")["AwaitComplete"], 0),
        "ChargeFrequency": enum_codes("PayPlanFrequency")["Monthly"],
        "DatePayPlanStart": add_months(pp_date, 1),
        "DateInterestStart": ZERO_DAY,
    })

    # --- adjustments: discounts, missed-appointment fees, small-balance write-offs, boundary charges/credits -----
    adj_parts = []
    dm = disc > 0
    adj_parts.append(dict(day=pr.date[c_rows[dm]], amount=-disc[dm], pat=pat[c_rows[dm]], type=disc_type[dm],
                          prov=pr.prov[c_rows[dm]], proc=proc_num[c_rows[dm]], proc_date=pr.date[c_rows[dm]],
                          clinic=pr.clinic[c_rows[dm]]))
    ap = clinical.apts
    missed = np.flatnonzero(np.isin(ap.status, [APT["Broken"], APT["UnschedList"]]) & (rng.random(len(ap.pat)) < 0.15))
    n_missed = len(missed)
    adj_parts.append(dict(day=ap.date[missed], amount=np.full(n_missed, 5000), pat=ap.pat[missed] - 1,
                          type=np.full(n_missed, d[("AdjTypes", "missed_fee")]), prov=ap.prov[missed],
                          proc=np.zeros(n_missed, np.int64), proc_date=ap.date[missed], clinic=ap.clinic[missed]))
    remaining = charge - discount - writeoff - inspay - paid
    if (remaining[done] < 0).any():
        raise AssertionError(f"{int((remaining[done] < 0).sum())} procedures were paid beyond their charge")
    small = done & (remaining > 0) & (remaining <= 500) & (paid > 0) & (~billable | proc_received)
    sb_day = last_paid + 30
    small &= (sb_day <= ctx.as_of) & (rng.random(n_proc) < 0.7)
    sb = np.flatnonzero(small)
    adj_parts.append(dict(day=sb_day[sb], amount=-remaining[sb], pat=pat[sb],
                          type=np.full(len(sb), d[("AdjTypes", "small_balance")]), prov=pr.prov[sb],
                          proc=proc_num[sb], proc_date=pr.date[sb], clinic=pr.clinic[sb]))
    adj = {k: np.concatenate([part[k] for part in adj_parts]).astype(np.int64) for k in adj_parts[0]}
    adj_ts = ctx.stamp(ctx.clock(adj["day"]))
    # charges and credits on the aging bucket boundaries (their own random stream: the rows above stay)
    edge = boundary_adjustments(ctx, setup, people, BoundaryProcedures(
        day=pr.date, pat=pat, prov=pr.prov, clinic=pr.clinic, proc_num=proc_num, charge=charge,
        open=np.where(done & (~billable | proc_received), remaining - np.where(small, remaining, 0), 0)))
    adj = {k: np.concatenate([adj[k], edge[k]]) for k in adj}
    adj_ts = np.concatenate([adj_ts, edge["ts"]])
    n_adj = len(adj["day"])
    adj_order = key_order(adj_ts, adj["pat"], adj["proc"])
    adj_num = primary_keys(adj_order)
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
    # some missed-appointment fees are paid within a month
    fee_idx = len(adj_parts[0]["day"]) + np.arange(n_missed)
    fee_paid = rng.random(n_missed) < 0.5
    fee_day = ap.date[missed] + rng.integers(0, 31, size=n_missed)
    fp = fee_paid & (fee_day <= ctx.as_of)
    splits.add(event_key=2 * n_visits + n_ch + np.flatnonzero(fp), day=fee_day[fp], amount=np.full(fp.sum(), 5000),
               proc=np.full(fp.sum(), -1), pat=ap.pat[missed][fp] - 1, prov=ap.prov[missed][fp],
               clinic=ap.clinic[missed][fp], proc_date=ap.date[missed][fp], adj=adj_num[fee_idx][fp])

    base = 2 * n_visits + n_ch + n_missed  # event keys below are taken
    _unearned_flows(ctx, setup, people, clinical, splits, base, dict(
        n_visits=n_visits, vis=vis, c_rows=c_rows, first_pay=first_pay, second_pay=second_pay, pat=pat,
        prov=pr.prov, proc_clinic=pr.clinic, proc_date=pr.date, prepaid_v=prepaid_v, prepay_day=prepay_day,
        v_first_total=v_first_total, v_pat=v_pat, v_date=v_date, v_clinic=v_clinic, v_later=v_later))
    _payments(ctx, setup, people, splits, proc_num)


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


def _unearned_flows(ctx: Context, setup: Setup, people: People, clinical: Clinical, splits: _SplitRows, base: int,
                    v: dict) -> None:
    """Unearned money (paysplits with ProcNum 0 and UnearnedType = the Prepayment definition of category
    PaySplitUnearnedType, ProvNum 0) and what later happens to it, in cents:

    - prepaid visits: a payment of the visit's first payment 1-21 days before it, then on the visit day an
      income transfer (payment PayType 0, PayAmt 0) whose splits come in pairs: -amount on the unearned
      type (FSplitNum = the prepayment split) and +amount on the procedure (FSplitNum = that negative split);
    - deposits: about PREPAY_DEPOSIT_RATE of the appointments booked in the 21 days after as_of were paid
      ahead ($50-$250, up to 10 days before as_of); they are still unearned at as_of; about
      TP_PREPAYMENT_SHARE of them on the Treatment Plan Prepayment type, which the practice hides from
      the account ("Do Not Show on Account": no balance, no aging, no income);
    - overpayments: about OVERPAY_RATE of the later payments are rounded up to the next $50, the excess
      landing on the unearned type (OpenDental's default for money beyond what is owed); about half of
      these are refunded 14-60 days later by a negative payment whose one split is -excess on the unearned
      type (FSplitNum = the overpayment split); the rest stay a credit on the family's account.
    """
    rng = ctx.rng
    unearned = setup.defs[("PaySplitUnearnedType", "prepayment")]
    n_visits, vis, c_rows = v["n_visits"], v["vis"], v["c_rows"]

    # prepaid visits: the prepayment, then the transfer pairs
    pv = np.flatnonzero(v["prepaid_v"])
    link_prepay = pv + 1  # link ids: 1..n_visits prepayments, then transfer negatives, then overpayments
    splits.add(event_key=base + pv, day=v["prepay_day"][pv], amount=v["v_first_total"][pv], proc=-1,
               pat=v["v_pat"][pv], prov=0, clinic=v["v_clinic"][pv], proc_date=v["prepay_day"][pv],
               unearned=unearned, link=link_prepay)
    rows = np.flatnonzero(v["prepaid_v"][vis] & (v["first_pay"] > 0))  # positions in c_rows
    procs = c_rows[rows]
    amount = v["first_pay"][rows]
    day = v["proc_date"][procs]
    link_neg = n_visits + 1 + rows
    transfer = base + n_visits + vis[rows]
    splits.add(event_key=transfer, day=day, amount=-amount, proc=-1, pat=v["pat"][procs], prov=0,
               clinic=v["proc_clinic"][procs], proc_date=day, unearned=unearned, link=link_neg,
               from_link=vis[rows] + 1, kind=KIND_TRANSFER)
    splits.add(event_key=transfer, day=day, amount=amount, proc=procs, pat=v["pat"][procs], prov=v["prov"][procs],
               clinic=v["proc_clinic"][procs], proc_date=day, from_link=link_neg, kind=KIND_TRANSFER)

    # deposits ahead of booked appointments, unearned at as_of
    ap = clinical.apts
    soon = np.flatnonzero((ap.status == APT["Scheduled"]) & (ap.date > ctx.as_of) & (ap.date <= ctx.as_of + 21))
    dep = soon[rng.random(len(soon)) < PREPAY_DEPOSIT_RATE]
    dep_pat = ap.pat[dep] - 1
    dep_day = np.minimum(np.maximum(ctx.as_of - rng.integers(0, 11, size=len(dep)), people.entry[dep_pat]), ctx.as_of)
    # about TP_PREPAYMENT_SHARE of them on the Treatment Plan Prepayment type, "Do Not Show on Account":
    # out of the family's balance, its aging and the day's income until used (drawn on a stream of its own)
    tp_stream = ctx.stream(TP_PREPAYMENT_STREAM)
    dep_type = np.where(tp_stream.random(len(dep)) < TP_PREPAYMENT_SHARE,
                        setup.defs[("PaySplitUnearnedType", "tp_prepayment")], unearned)
    splits.add(event_key=base + 2 * n_visits + len(c_rows) + np.arange(len(dep)), day=dep_day,
               amount=rng.choice([5_000, 10_000, 15_000, 25_000], size=len(dep)), proc=-1, pat=dep_pat, prov=0,
               clinic=ap.clinic[dep], proc_date=dep_day, unearned=dep_type)

    # overpayments of the later payment, some refunded
    v_second = group_sum(vis, v["second_pay"], n_visits)
    over = np.flatnonzero((v_second > 0) & (rng.random(n_visits) < OVERPAY_RATE))
    excess = 5_000 - v_second[over] % 5_000
    over_day = v["v_later"][over]
    link_over = 2 * n_visits + len(c_rows) + 1 + np.arange(len(over))
    splits.add(event_key=over * 2 + 1, day=over_day, amount=excess, proc=-1, pat=v["v_pat"][over], prov=0,
               clinic=v["v_clinic"][over], proc_date=over_day, unearned=unearned, link=link_over)
    refund_day = over_day + rng.integers(14, 61, size=len(over))
    refunded = (rng.random(len(over)) < REFUND_RATE) & (refund_day <= ctx.as_of)
    r = np.flatnonzero(refunded)
    splits.add(event_key=base + 2 * n_visits + len(c_rows) + len(dep) + r, day=refund_day[r], amount=-excess[r],
               proc=-1, pat=v["v_pat"][over[r]], prov=0, clinic=v["v_clinic"][over[r]], proc_date=refund_day[r],
               unearned=unearned, from_link=link_over[r], kind=KIND_REFUND)


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
    rng = ctx.rng
    s = splits.columns()
    order = key_order(s["day"], s["event_key"], s["proc"])
    for k in s:
        s[k] = s[k][order]
    _, pay_of = group_bounds(_dense(s["day"], s["event_key"]))
    n_pay = int(pay_of[-1]) + 1 if len(pay_of) else 0
    n_split = len(pay_of)
    first = group_firsts(pay_of)
    p_pat = s["pat"][first]
    p_day = s["day"][first]
    p_amount = group_sum(pay_of, s["amount"], n_pay)
    p_count = np.bincount(pay_of, minlength=n_pay)
    d = setup.defs
    kinds = ("cash", "check", "card", "financing")
    pay_type = np.array([d[("PaymentTypes", k)] for k in kinds])[rng.choice(4, size=n_pay,
                                                                             p=[0.15, 0.25, 0.55, 0.05])]
    transfer = s["kind"][first] == KIND_TRANSFER
    pay_type = np.where(transfer, 0, pay_type)  # OpenDental's income transfer: PayType 0 ("None"), PayAmt 0
    is_check = pay_type == d[("PaymentTypes", "check")]
    p_ts = ctx.stamp(ctx.clock(p_day))
    # FSplitNum: the split a transfer or refund split draws from (OpenDental links them so)
    link, from_link = s["link"], s["from_link"]
    has_link = np.flatnonzero(link > 0)
    link_order = np.argsort(link[has_link], kind="stable")
    link_ids, link_nums = link[has_link][link_order], has_link[link_order] + 1
    pos = np.clip(np.searchsorted(link_ids, from_link), 0, max(len(link_ids) - 1, 0))
    fsplit = np.where(from_link > 0, link_nums[pos] if len(link_ids) else 0, 0)
    if len(link_ids) and (from_link > 0).any() and not (link_ids[pos][from_link > 0] == from_link[from_link > 0]).all():
        raise AssertionError("a transfer or refund split draws from a split that does not exist")
    guar = people.guarantor[p_pat]
    ctx.put("payment", n_pay, {
        "PayNum": np.arange(1, n_pay + 1),
        "PayType": pay_type,
        "PayDate": p_day,
        "PayAmt": p_amount / 100.0,
        "CheckNum": pc.if_else(pa.array(is_check), pa.array(rng.integers(1000, 9999, size=n_pay)).cast(pa.string()),
                               ""),
        "IsSplit": (p_count > 1).astype(np.int64),
        "PatNum": guar,
        "ClinicNum": s["clinic"][first],
        "DateEntry": p_day,
        "SecUserNumEntry": setup.frontdesk_user[s["clinic"][first]],
        "SecDateTEdit": p_ts,
    })
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
        "SecDateTEdit": p_ts[pay_of],
        "AdjNum": s["adj"],
        "PayPlanChargeNum": s["payplan_charge"],
        "PayPlanDebitType": s["debit_type"],
        "UnearnedType": s["unearned"],
        "FSplitNum": fsplit,
    })


def _dense(day: np.ndarray, event: np.ndarray) -> np.ndarray:
    """A key equal exactly for rows of the same (day, event), for rows sorted by (day, event)."""
    if len(day) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.ones(len(day), dtype=bool)
    change[1:] = (day[1:] != day[:-1]) | (event[1:] != event[:-1])
    return np.cumsum(change)

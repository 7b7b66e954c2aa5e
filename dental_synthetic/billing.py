"""Money: insurance claims and estimates, insurance checks, adjustments, patient payments and payment
plans. Everything is computed in integer cents; no procedure is ever paid beyond its charge, so no
family ends with a credit balance.

Per completed procedure (charge = ProcFee x (UnitQty + BaseUnits)):

- insured and billable: allowed = the PPO fee schedule's fee (category-percentage plans: the charge),
  write-off = charge - allowed; the estimate applies the calendar-year deductible (basic and major
  services) and the plan's percentage, capped by the calendar-year maximum. Procedures of one patient
  on one day form a claim; claims are sent 0-3 days later and received 8-40 days after that when that
  is on or before as_of. Most pay the estimate, some pay less, a few are denied (the write-off holds).
- discounts (uninsured only): cash, senior and professional-courtesy adjustments, negative;
- the patient pays at the visit (all or half of the estimated portion, or nothing) and usually the rest
  later (after the claim is received when insured); large uninsured balances may go on a payment plan
  paid monthly; tiny leftovers are written off; broken appointments may carry a missed-appointment fee.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .columns import strings
from .context import Context
from .people import ROLE_HEAD, ROLE_SPOUSE, People
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
    billable = (plan > 0) & (tier >= 0)
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

    # --- claims: one per patient and day ----------------------------------------------------------------------
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
    c_pay_wd = pay_weekday[setup.plan_carrier[people.plan[c_pat]]]
    c_recv = c_sent + rng.integers(8, 41, size=n_claims)
    c_recv += (c_pay_wd - weekday(c_recv)) % 7
    c_is_recv = c_is_sent & (c_recv <= ctx.as_of)
    outcome = rng.random(n_claims)
    denied = c_is_recv & (outcome < 0.04)
    reduced = c_is_recv & (outcome >= 0.04) & (outcome < 0.12)
    factor = rng.integers(50, 96, size=n_claims)
    claim_order = key_order(c_created, c_pat)
    claim_num = primary_keys(claim_order)  # claim index -> ClaimNum

    row_claim = claim_of_row
    r_est = ins_est[cl_rows]
    r_recv = c_is_recv[row_claim]
    r_pay = np.where(r_recv, np.where(denied[row_claim], 0,
                                      np.where(reduced[row_claim], r_est * factor[row_claim] // 100, r_est)), 0)
    r_wo = np.where(r_recv, wo_est[cl_rows], 0)
    inspay = np.zeros(n_proc, dtype=np.int64)
    writeoff = np.zeros(n_proc, dtype=np.int64)
    inspay[cl_rows], writeoff[cl_rows] = r_pay, r_wo
    proc_received = np.zeros(n_proc, dtype=bool)
    proc_received[cl_rows] = r_recv
    proc_recv_day = np.full(n_proc, ZERO_DAY, dtype=np.int64)
    proc_recv_day[cl_rows] = np.where(r_recv, c_recv[row_claim], ZERO_DAY)

    # insurance checks: per carrier, clinic and day received
    c_carrier = setup.plan_carrier[people.plan[c_pat]]
    c_clinic = people.clinic[c_pat]
    recv_claims = np.flatnonzero(c_is_recv)
    chk_key = np.stack([c_recv[recv_claims], c_carrier[recv_claims], c_clinic[recv_claims]])
    chk_sorted = recv_claims[key_order(*chk_key)]
    skey = (c_recv[chk_sorted] - ctx.start + 50_000) * 10_000 + c_carrier[chk_sorted] * 100 + c_clinic[chk_sorted]
    _, chk_gid = group_bounds(skey)
    n_chk = int(chk_gid[-1]) + 1 if len(chk_sorted) else 0
    claim_chk = np.zeros(n_claims, dtype=np.int64)
    claim_chk[chk_sorted] = chk_gid + 1  # ClaimPaymentNum, already in check-date order
    claim_pay_total = group_sum(row_claim, r_pay, n_claims)
    claim_wo_total = group_sum(row_claim, r_wo, n_claims)
    chk_first = group_firsts(chk_gid)
    chk_claims = chk_sorted[chk_first]
    chk_amt = group_sum(chk_gid, claim_pay_total[chk_sorted], n_chk)
    chk_last_sent = np.full(n_chk, np.iinfo(np.int64).min)
    np.maximum.at(chk_last_sent, chk_gid, c_sent[chk_sorted])
    chk_date = c_recv[chk_claims]
    is_eft = rng.random(n_chk) < 0.55
    d = setup.defs
    ctx.put("claimpayment", n_chk, {
        "ClaimPaymentNum": np.arange(1, n_chk + 1),
        "CheckDate": chk_date,
        "CheckAmt": chk_amt / 100.0,
        "CheckNum": pc.if_else(pa.array(is_eft), "", pa.array(rng.integers(100_000, 999_999, size=n_chk)).cast(
            pa.string())),
        "ClinicNum": c_clinic[chk_claims],
        "CarrierName": strings(setup.carrier_names, c_carrier[chk_claims] - 1),
        "DateIssued": np.maximum(chk_date - rng.integers(1, 6, size=n_chk), chk_last_sent),
        "PayType": np.where(is_eft, d[("InsurancePaymentType", "eft")], d[("InsurancePaymentType", "check")]),
        "SecUserNumEntry": setup.billing_user,
        "SecDateEntry": chk_date,
        "SecDateTEdit": ctx.stamp(ctx.clock(chk_date)),
        "PayGroup": d[("ClaimPaymentGroups", "default")],
    })

    relat = enum_codes("Relat")
    role = people.role[c_pat]
    c_stat = np.where(c_is_recv, "R", np.where(c_is_sent, "S", "W"))
    c_edit = np.where(c_is_recv, ctx.clock(c_recv), np.where(c_is_sent, ctx.clock(c_sent), c_created))
    co = claim_order
    ctx.put("claim", n_claims, {
        "ClaimNum": np.arange(1, n_claims + 1),
        "PatNum": c_pat[co] + 1,
        "DateService": c_date[co],
        "DateSent": np.where(c_is_sent, c_sent, ZERO_DAY)[co],
        "ClaimStatus": c_stat[co],
        "DateReceived": np.where(c_is_recv, c_recv, ZERO_DAY)[co],
        "PlanNum": people.plan[c_pat][co],
        "ProvTreat": people.pri_prov[c_pat][co],
        "ClaimFee": group_sum(row_claim, charge[cl_rows], n_claims)[co] / 100.0,
        "InsPayEst": group_sum(row_claim, r_est, n_claims)[co] / 100.0,
        "InsPayAmt": claim_pay_total[co] / 100.0,
        "DedApplied": group_sum(row_claim, ins_ded[cl_rows], n_claims)[co] / 100.0,
        "ClaimType": "P",
        "ProvBill": people.pri_prov[c_pat][co],
        "PatRelat": np.select([role == ROLE_HEAD, role == ROLE_SPOUSE], [relat["Self"], relat["Spouse"]],
                              relat["Child"])[co],
        "WriteOff": claim_wo_total[co] / 100.0,
        "ClinicNum": c_clinic[co],
        "InsSubNum": people.inssub[c_pat][co],
        "ReasonUnderPaid": np.where(denied, "Denied: frequency limitation", np.where(
            reduced, "Paid at a reduced rate", ""))[co],
        "SecUserNumEntry": setup.billing_user,
        "SecDateEntry": c_date[co],
        "SecDateTEdit": ctx.stamp(c_edit)[co],
        "DateSentOrig": np.where(c_is_sent, c_sent, ZERO_DAY)[co],
    })

    # --- claimprocs: claim rows (NotReceived/Received) and estimates for treatment-planned work -----------
    tp_rows = np.flatnonzero((pr.status == PROC["TP"]) & billable)
    tp_est = pct_of(allowed[tp_rows], pct[tp_rows])
    cp_proc = np.concatenate([cl_rows, tp_rows])
    n_cp = len(cp_proc)
    on_claim = np.concatenate([np.ones(len(cl_rows), dtype=bool), np.zeros(len(tp_rows), dtype=bool)])
    cp_claim = np.concatenate([claim_num[row_claim], np.zeros(len(tp_rows), dtype=np.int64)])
    cp_recv = np.concatenate([r_recv, np.zeros(len(tp_rows), dtype=bool)])
    cp_status = np.where(on_claim, np.where(cp_recv, CP["Received"], CP["NotReceived"]), CP["Estimate"])
    cp_est = np.concatenate([r_est, tp_est])
    cp_base = np.concatenate([ins_base[cl_rows], tp_est])
    cp_ded = np.concatenate([ins_ded[cl_rows], np.zeros(len(tp_rows), dtype=np.int64)])
    cp_pay = np.concatenate([r_pay, np.zeros(len(tp_rows), dtype=np.int64)])
    cp_wo = np.concatenate([r_wo, np.zeros(len(tp_rows), dtype=np.int64)])
    cp_claim_idx = np.concatenate([row_claim, np.zeros(len(tp_rows), dtype=np.int64)])
    line = np.zeros(n_cp, dtype=np.int64)
    line[: len(cl_rows)] = rank_within(row_claim) + 1
    cp_datecp = np.where(cp_recv, c_recv[cp_claim_idx], ZERO_DAY)
    cp_entry_day = np.where(on_claim, c_date[cp_claim_idx], pr.created[cp_proc] // DAY)
    cp_edit = np.where(cp_recv, ctx.clock(cp_datecp), np.where(on_claim, c_created[cp_claim_idx],
                                                               pr.created[cp_proc]))
    cp_order = key_order(pr.created[cp_proc], cp_proc, on_claim.astype(np.int64))
    o = cp_order
    minus_one = np.full(n_cp, -1.0)
    ctx.put("claimproc", n_cp, {
        "ClaimProcNum": np.arange(1, n_cp + 1),
        "ProcNum": proc_num[cp_proc][o],
        "ClaimNum": cp_claim[o],
        "PatNum": pr.pat[cp_proc][o],
        "ProvNum": pr.prov[cp_proc][o],
        "FeeBilled": np.where(on_claim, charge[cp_proc], 0)[o] / 100.0,
        "InsPayEst": cp_est[o] / 100.0,
        "DedApplied": cp_ded[o] / 100.0,
        "Status": cp_status[o],
        "InsPayAmt": cp_pay[o] / 100.0,
        "ClaimPaymentNum": np.where(cp_recv, claim_chk[cp_claim_idx], 0)[o],
        "PlanNum": plan[cp_proc][o],
        "DateCP": cp_datecp[o],
        "WriteOff": cp_wo[o] / 100.0,
        "CodeSent": strings(setup.code_proccode, pr.code[cp_proc][o]),
        "AllowedOverride": minus_one,
        "Percentage": pct[cp_proc][o],
        "PercentOverride": -1,
        "CopayAmt": minus_one,
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
        "WriteOffEst": wo_est[cp_proc][o] / 100.0,
        "WriteOffEstOverride": minus_one,
        "ClinicNum": pr.clinic[cp_proc][o],
        "InsSubNum": people.inssub[pat[cp_proc]][o],
        "SecUserNumEntry": setup.billing_user,
        "SecDateEntry": cp_entry_day[o],
        "SecDateTEdit": ctx.stamp(cp_edit)[o],
        "DateInsFinalized": cp_datecp[o],
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
    due_visit = rc - disc - np.where(ins_billable, wo_est[c_rows] + ins_est[c_rows], 0)
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

    splits = _SplitRows()
    # event 1 at the visit, event 2 later; one payment per visit and event
    for event, amount, day in ((0, first_pay, pr.date[c_rows]), (1, second_pay, v_later[vis])):
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
    ctx.put("payplancharge", n_ch, {
        "PayPlanChargeNum": np.arange(1, n_ch + 1),
        "PayPlanNum": pp_num[ch_plan],
        "Guarantor": pp_guar[ch_plan],
        "PatNum": pr.pat[pp_rows_of_ch],
        "ChargeDate": ch_date,
        "Principal": ch_amount / 100.0,
        "ProvNum": pr.prov[pp_rows_of_ch],
        "ClinicNum": pr.clinic[pp_rows_of_ch],
        "ChargeType": enum_codes("PayPlanChargeType")["Debit"],
        "ProcNum": proc_num[pp_rows_of_ch],
        "SecDateTEntry": ctx.stamp(ctx.clock(pp_date[ch_plan])),
        "SecDateTEdit": ctx.stamp(ctx.clock(pp_date[ch_plan])),
    })
    all_paid = np.ones(n_pp, dtype=bool)
    np.logical_and.at(all_paid, ch_plan, ch_paid)
    pc_rows = np.flatnonzero(ch_paid)
    splits.add(event_key=2 * n_visits + pc_rows, day=ch_pay_day[pc_rows], amount=ch_amount[pc_rows],
               proc=pp_rows_of_ch[pc_rows], pat=pat[pp_rows_of_ch[pc_rows]], prov=pr.prov[pp_rows_of_ch[pc_rows]],
               clinic=pr.clinic[pp_rows_of_ch[pc_rows]], proc_date=pr.date[pp_rows_of_ch[pc_rows]],
               payplan=ch_plan[pc_rows] + 1, payplan_charge=pc_rows + 1, debit_type=1)
    np.add.at(paid, pp_rows_of_ch[pc_rows], ch_amount[pc_rows])
    np.maximum.at(last_paid, pp_rows_of_ch[pc_rows], ch_pay_day[pc_rows])
    ctx.put("payplan", n_pp, {
        "PayPlanNum": pp_num,
        "PatNum": pr.pat[plan_rows],
        "Guarantor": pp_guar,
        "PayPlanDate": pp_date,
        "CompletedAmt": principal / 100.0,
        "PaySchedule": enum_codes("PaymentSchedule")["Monthly"],
        "NumberOfPayments": n_pay,
        "PayAmt": per / 100.0,
        "IsClosed": all_paid.astype(np.int64),
        "ChargeFrequency": enum_codes("PayPlanFrequency")["Monthly"],
        "DatePayPlanStart": add_months(pp_date, 1),
        "DateInterestStart": ZERO_DAY,
    })

    # --- adjustments: discounts, missed-appointment fees, small-balance write-offs ------------------------------
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
    n_adj = len(adj["day"])
    adj_ts = ctx.stamp(ctx.clock(adj["day"]))
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

    _payments(ctx, setup, people, splits, proc_num)


class _SplitRows:
    """Paysplit rows collected before payments get their keys. ``event_key`` groups splits into payments."""

    fields = ("event_key", "day", "amount", "proc", "pat", "prov", "clinic", "proc_date", "payplan",
              "payplan_charge", "debit_type", "adj")

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, **cols) -> None:
        n = len(cols["day"])
        defaults = {"payplan": 0, "payplan_charge": 0, "debit_type": 0, "adj": 0}
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
    is_check = pay_type == d[("PaymentTypes", "check")]
    p_ts = ctx.stamp(ctx.clock(p_day))
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
    })


def _dense(day: np.ndarray, event: np.ndarray) -> np.ndarray:
    """A key equal exactly for rows of the same (day, event), for rows sorted by (day, event)."""
    if len(day) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.ones(len(day), dtype=bool)
    change[1:] = (day[1:] != day[:-1]) | (event[1:] != event[:-1])
    return np.cumsum(change)

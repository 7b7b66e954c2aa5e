"""The books of a generated practice, computed from its raw tables the way OpenDental computes them.

Family aging (``family_aging``) follows OpenDental 24.3's aging query under the practice's settings
(its preference rows: AgingProcLifo, PayPlansVersion, PayPlansBillInAdvanceDays; hidden unearned types),
docs/opendental_aging.md; ``transactions`` (statements, patient balances) keeps the simpler set below:

- transactions per patient: completed procedures (+ProcFee x (UnitQty + BaseUnits) on ProcDate),
  adjustments (+AdjAmt on AdjDate), paysplits (-SplitAmt on DatePay, whatever their UnearnedType:
  prepayments and overpayments are credits, refunds (negative splits) are charges on their day, and the
  two splits of an income-transfer pair cancel out), claimprocs with Status
  Received/Supplemental/CapClaim/CapComplete (-(InsPayAmt + WriteOff) on DateCP);
- per family (patient.Guarantor): positive transactions are charges, bucketed by age in days as of
  ``as_of`` (0-30, 31-60, 61-90, over 90); negative ones are credits, applied to the oldest bucket
  first; BalTotal is the sum of all transactions. A family whose credits exceed its charges (a credit
  balance, e.g. unearned prepayments or an overpayment not refunded) has every bucket 0 and a negative
  BalTotal; otherwise the buckets add up to BalTotal;
- InsEst = InsPayEst + WriteOff of NotReceived claimprocs (``family_aging``: InsPayEst and InsWoEst, as
  Ledgers.cs sums them); a NotReceived claimproc's WriteOff holds its write-off estimate, as OpenDental
  fills it on a claim (Claims.CalculateAndUpdate: WriteOff = ClaimProcs.GetWriteOffEstimate), so a
  pending PPO claim's write-off is part of InsEst;
- PayPlanDue = payment-plan debits due on or before ``as_of`` minus paysplits on payment plans.

Money is handled in integer cents and returned as float dollars (the nearest double to each amount).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa

from .util import at, day_number, group_sum, lookup

AGING_COLUMNS = ("Bal_0_30", "Bal_31_60", "Bal_61_90", "BalOver90", "BalTotal", "InsEst", "PayPlanDue")
DAILY_MEASURES = ("Production", "Adjustments", "WriteOffs", "PatientIncome", "InsuranceIncome", "CapitationWriteOffs")
_AGING_STATUSES = (1, 4, 5, 7)  # Received, Supplemental, CapClaim, CapComplete
_WRITEOFF_STATUSES = (1, 4)  # Received, Supplemental: the report's insurance write-offs
_CAP_COMPLETE = 7  # CapComplete: the report's capitation write-offs


def cents(column) -> np.ndarray:
    """Dollar amounts (Arrow or numpy) -> int64 cents."""
    values = column.to_numpy() if hasattr(column, "to_numpy") else np.asarray(column)
    return np.rint(np.asarray(values, dtype=np.float64) * 100).astype(np.int64)


def _col(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy()


def _days(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).cast(pa.int32()).to_numpy().astype(np.int64)


def proc_charge(pl: pa.Table) -> np.ndarray:
    """Per procedurelog row: ProcFee x (UnitQty + BaseUnits), in cents."""
    return cents(pl.column("ProcFee")) * (_col(pl, "UnitQty") + _col(pl, "BaseUnits"))


def _claimproc_credit(cp: pa.Table) -> np.ndarray:
    """Per claimproc row: -(InsPayAmt + WriteOff) in cents, InsPayAmt left out for a claimproc on a
    payment plan (PayPlanNum != 0)."""
    return -(np.where(_col(cp, "PayPlanNum") == 0, cents(cp.column("InsPayAmt")), 0) + cents(cp.column("WriteOff")))


def transactions(tables: dict[str, pa.Table]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every balance-changing transaction: (PatNum, day number, signed cents); splits of hidden unearned
    types (``shown_splits``) change no balance."""
    pl = tables["procedurelog"]
    done = _col(pl, "ProcStatus") == 2
    proc_amt = proc_charge(pl)
    adj = tables["adjustment"]
    ps = tables["paysplit"]
    cp = tables["claimproc"]
    received = np.isin(_col(cp, "Status"), _AGING_STATUSES)
    cp_amt = _claimproc_credit(cp)
    shown = shown_splits(tables)
    pat = np.concatenate([_col(pl, "PatNum")[done], _col(adj, "PatNum"), _col(ps, "PatNum")[shown],
                          _col(cp, "PatNum")[received]])
    day = np.concatenate([_days(pl, "ProcDate")[done], _days(adj, "AdjDate"), _days(ps, "DatePay")[shown],
                          _days(cp, "DateCP")[received]])
    amount = np.concatenate([proc_amt[done], cents(adj.column("AdjAmt")), -cents(ps.column("SplitAmt"))[shown],
                             cp_amt[received]])
    keep = amount != 0
    return pat[keep], day[keep], amount[keep]


@dataclass(frozen=True)
class AgingSettings:
    """The practice settings OpenDental 24.3's aging reads (docs/opendental_aging.md section 1).

    ``proc_lifo``: AgingProcLifo on (stored 1, or unset 0: on by default; 2: off). ``pay_plans_version``:
    PayPlansVersion 1-4. ``bill_in_advance_days``: PayPlansBillInAdvanceDays. ``hidden_unearned``:
    DefNums of PaySplitUnearnedType definitions (Category 29) with an ItemValue ("Do Not Show on Account").
    """

    proc_lifo: bool = True
    pay_plans_version: int = 2
    bill_in_advance_days: int = 10
    hidden_unearned: tuple[int, ...] = ()

    @classmethod
    def from_tables(cls, tables: dict[str, pa.Table]) -> "AgingSettings":
        """The settings stored in the practice's ``preference`` and ``definition`` tables, OpenDental's
        defaults for a missing table or row (an unparsable value reads as 0, as OpenDental's PIn.Int)."""
        values = preference_values(tables)
        hidden: tuple[int, ...] = ()
        defs = tables.get("definition")
        if defs is not None and defs.num_rows:
            hidden = tuple(int(num) for num, cat, item in zip(
                _col(defs, "DefNum"), _col(defs, "Category"), defs.column("ItemValue").to_pylist())
                if cat == _UNEARNED_CATEGORY and item)
        return cls(proc_lifo=values.get("AgingProcLifo", 0) != _YN_NO,
                   pay_plans_version=values.get("PayPlansVersion", 2),
                   bill_in_advance_days=values.get("PayPlansBillInAdvanceDays", 10),
                   hidden_unearned=hidden)


def preference_values(tables: dict[str, pa.Table]) -> dict[str, int]:
    """``{PrefName: int}`` of the practice's ``preference`` table (an unparsable value reads as 0, as
    OpenDental's PIn.Int; no table: empty)."""
    values: dict[str, int] = {}
    pref = tables.get("preference")
    if pref is not None and pref.num_rows:
        for name, value in zip(pref.column("PrefName").to_pylist(), pref.column("ValueString").to_pylist()):
            text = (value or "").strip()
            values[name] = int(text) if text.lstrip("-").isdigit() else 0
    return values


_UNEARNED_CATEGORY = 29  # DefCat.PaySplitUnearnedType
_YN_NO = 2
_NO_PROC = 0


def shown_splits(tables: dict[str, pa.Table]) -> np.ndarray:
    """Per paysplit row: False for a split of an unearned type marked "Do Not Show on Account" (a
    PaySplitUnearnedType definition with an ItemValue), which OpenDental leaves out of the account's
    balance, its aging and the Production and Income report's patient income."""
    hidden = np.array(AgingSettings.from_tables(tables).hidden_unearned, dtype=np.int64)
    return ~np.isin(_col(tables["paysplit"], "UnearnedType"), hidden)


@dataclass(frozen=True)
class _AgingRows:
    """OpenDental's aging transactions (Ledgers.GetTransQueryString), aligned int64 arrays, one entry per
    row: ``pat`` (PatNum), ``day`` (day number), ``amount`` (cents, signed), ``plan`` (its PayPlanDue part,
    cents), ``aged_proc`` / ``aged_day`` (the attached procedure for AgingProcLifo and its day, 0 when
    none); bool arrays ``dated`` (counted only at as-of dates on or after ``day``), ``due`` (plan debits,
    PayPlanDue only)."""

    pat: np.ndarray
    day: np.ndarray
    amount: np.ndarray
    plan: np.ndarray
    aged_proc: np.ndarray
    aged_day: np.ndarray
    dated: np.ndarray
    due: np.ndarray

    def take(self, mask: np.ndarray) -> "_AgingRows":
        """The rows where ``mask`` is True."""
        return _AgingRows(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})


def _aging_part(pat, day, amount, plan=None, aged_proc=None, aged_day=None, dated=False,
                due=False) -> _AgingRows:
    """One kind of aging row as ``_AgingRows`` (int64; a missing ``plan`` / ``aged_proc`` / ``aged_day`` is
    0; each flag the same for every row)."""
    n = len(pat)

    def ints(values):
        return np.zeros(n, np.int64) if values is None else np.asarray(values, np.int64)

    return _AgingRows(pat=np.asarray(pat, np.int64), day=np.asarray(day, np.int64),
                      amount=np.asarray(amount, np.int64), plan=ints(plan), aged_proc=ints(aged_proc),
                      aged_day=ints(aged_day), dated=np.full(n, dated), due=np.full(n, due))


def _on_complete_procedure(tables: dict[str, pa.Table]) -> np.ndarray:
    """Per claimproc row: True when it is attached to no procedure (ProcNum 0) or to a complete one
    (procedurelog.ProcStatus 2), as the aging query's join reads them."""
    pl = tables["procedurelog"]
    complete = set(_col(pl, "ProcNum")[_col(pl, "ProcStatus") == 2].tolist())
    return np.array([p == _NO_PROC or p in complete for p in _col(tables["claimproc"], "ProcNum").tolist()],
                    dtype=bool)


@dataclass(frozen=True)
class _PayPlans:
    """The ``payplan`` rows the aging reads, aligned per row: PayPlanNum, IsClosed != 0, PlanNum != 0 (an
    insurance payment plan), and ``row_of``: PayPlanNum -> row."""

    num: np.ndarray
    closed: np.ndarray
    ins: np.ndarray
    row_of: dict[int, int]

    @classmethod
    def from_table(cls, pp: pa.Table) -> "_PayPlans":
        num = _col(pp, "PayPlanNum")
        return cls(num=num, closed=_col(pp, "IsClosed") != 0, ins=_col(pp, "PlanNum") != 0,
                   row_of={int(n): i for i, n in enumerate(num.tolist())})


def _aging_rows(tables: dict[str, pa.Table], settings: AgingSettings, on_complete: np.ndarray) -> _AgingRows:
    """OpenDental's aging transactions (Ledgers.GetTransQueryString) under ``settings``: completed
    procedures, final claimprocs, adjustments, paysplits, then the payment-plan rows PayPlansVersion
    (``settings.pay_plans_version``) adds. ``on_complete``: ``_on_complete_procedure``'s claimproc
    rows. Cents; see ``_AgingRows``."""
    v = settings.pay_plans_version
    plans = _PayPlans.from_table(tables["payplan"])
    parts = [_procedure_rows(tables["procedurelog"]), _claimproc_rows(tables["claimproc"], on_complete),
             _adjustment_rows(tables["adjustment"]), _paysplit_rows(tables["paysplit"], plans, settings)]
    if v == 1 or v == 4:
        parts.append(_plan_completed_rows(tables["payplan"], plans, v))
    parts += _plan_charge_rows(tables, plans, v)
    if v in (2, 3):
        parts.append(_plan_link_rows(tables, plans.num))
    return _AgingRows(**{f.name: np.concatenate([getattr(part, f.name) for part in parts])
                         for f in fields(_AgingRows)})


def _procedure_rows(pl: pa.Table) -> _AgingRows:
    """Completed procedures with a fee (procedurelog ProcStatus 2, ProcFee != 0): +fee x units on ProcDate."""
    done = (_col(pl, "ProcStatus") == 2) & (_col(pl, "ProcFee") != 0)
    return _aging_part(_col(pl, "PatNum")[done], _days(pl, "ProcDate")[done], proc_charge(pl)[done])


def _claimproc_rows(cp: pa.Table, on_complete: np.ndarray) -> _AgingRows:
    """Claimprocs Received/Supplemental/CapClaim/CapComplete of complete procedures or none
    (``on_complete``): -(InsPayAmt + WriteOff) on DateCP (``_claimproc_credit``)."""
    final = np.isin(_col(cp, "Status"), _AGING_STATUSES) & on_complete
    return _aging_part(_col(cp, "PatNum")[final], _days(cp, "DateCP")[final], _claimproc_credit(cp)[final])


def _adjustment_rows(adj: pa.Table) -> _AgingRows:
    """Adjustments: +AdjAmt on AdjDate, attached to their procedure (ProcNum, ProcDate) for AgingProcLifo."""
    return _aging_part(_col(adj, "PatNum"), _days(adj, "AdjDate"), cents(adj.column("AdjAmt")),
                 aged_proc=_col(adj, "ProcNum"), aged_day=_days(adj, "ProcDate"))


def _paysplit_rows(ps: pa.Table, plans: _PayPlans, settings: AgingSettings) -> _AgingRows:
    """Paysplits of shown unearned types: -SplitAmt on DatePay (0 on a plan under PayPlansVersion 1 and 3);
    a split on a plan (not closed under version 2) also counts -SplitAmt against PayPlanDue."""
    v = settings.pay_plans_version
    split_plan = _col(ps, "PayPlanNum")
    shown = ~np.isin(_col(ps, "UnearnedType"), np.array(settings.hidden_unearned, dtype=np.int64))
    split_amt = cents(ps.column("SplitAmt"))
    on_plan = split_plan != 0
    split_closed = np.array([plans.closed[plans.row_of[p]] if p in plans.row_of else False
                             for p in split_plan.tolist()], dtype=bool)
    amount = np.where((v in (1, 3)) & on_plan, 0, -split_amt)
    plan_part = np.where(on_plan & ~((v == 2) & split_closed), -split_amt, 0)
    return _aging_part(_col(ps, "PatNum")[shown], _days(ps, "DatePay")[shown], amount[shown],
                       plan=plan_part[shown])


def _plan_completed_rows(pp: pa.Table, plans: _PayPlans, v: int) -> _AgingRows:
    """PayPlansVersion 1 and 4: each payment plan's -CompletedAmt on PayPlanDate (version 4: insurance
    plans only, payplan.PlanNum != 0)."""
    keep = (_col(pp, "CompletedAmt") != 0) & (plans.ins if v == 4 else True)
    return _aging_part(_col(pp, "PatNum")[keep], _days(pp, "PayPlanDate")[keep],
                       -cents(pp.column("CompletedAmt"))[keep])


def _plan_charge_rows(tables: dict[str, pa.Table], plans: _PayPlans, v: int) -> list[_AgingRows]:
    """Payplancharge rows: under PayPlansVersion 2 debits (Principal + Interest, 0 on insurance plans) on
    the Guarantor and credits (-Principal) on the plan's patient, under 3 the credits only, each dated
    on ChargeDate (credits attached to their procedure); then, in every version, the debits of
    patient plans (not closed under 2) as PayPlanDue only (amount 0, plan = Principal + Interest)."""
    pl, ppc = tables["procedurelog"], tables["payplancharge"]
    ch_plan = np.array([plans.row_of.get(int(p), -1) for p in _col(ppc, "PayPlanNum").tolist()], dtype=np.int64)
    ch_type = _col(ppc, "ChargeType")
    ch_total = cents(ppc.column("Principal")) + cents(ppc.column("Interest"))
    ch_proc = _col(ppc, "ProcNum")
    proc_day_of = dict(zip(_col(pl, "ProcNum").tolist(), _days(pl, "ProcDate").tolist()))
    ch_proc_day = np.array([proc_day_of.get(p, 0) for p in ch_proc.tolist()], dtype=np.int64)
    has_plan = ch_plan >= 0
    ch_ins = at(plans.ins, ch_plan, False)
    ch_closed = at(plans.closed, ch_plan, False)
    credit = ch_type == 1
    parts = []
    if v == 2:
        plan_pat = at(_col(tables["payplan"], "PatNum"), ch_plan, 0)
        pat = np.where(ch_type == 0, _col(ppc, "Guarantor"), plan_pat)
        # a debit of a plan row that is gone ages 0 ("WHEN pp.PlanNum=0 ..." is NULL under the LEFT JOIN)
        amt = np.where(ch_type != 0, -cents(ppc.column("Principal")), np.where(ch_ins | ~has_plan, 0, ch_total))
        keep = pat != 0
        parts.append(_aging_part(pat[keep], _days(ppc, "ChargeDate")[keep], amt[keep],
                                 aged_proc=np.where(credit, ch_proc, 0)[keep], aged_day=ch_proc_day[keep],
                                 dated=True))
    elif v == 3:
        parts.append(_aging_part(_col(ppc, "PatNum")[credit], _days(ppc, "ChargeDate")[credit],
                                 -cents(ppc.column("Principal"))[credit], aged_proc=ch_proc[credit],
                                 aged_day=ch_proc_day[credit], dated=True))
    debit_due = (ch_type == 0) & has_plan & ~ch_ins & (ch_total != 0) & ~((v == 2) & ch_closed)
    parts.append(_aging_part(_col(ppc, "Guarantor")[debit_due], _days(ppc, "ChargeDate")[debit_due],
                             np.zeros(int(debit_due.sum())), plan=ch_total[debit_due], due=True))
    return parts


_LINK_ADJUSTMENT, _LINK_PROCEDURE = 1, 2  # PayPlanLinkType
_PREAUTH = 2  # ClaimProcStatus.Preauth
_PAID_STATUSES = (1, 4, 7)  # Received, Supplemental, CapComplete: paid amounts, not estimates


def _index_of(keys: np.ndarray, universe: np.ndarray) -> np.ndarray:
    """Per key, its row in ``universe`` (unique keys), -1 when absent."""
    return lookup(universe, np.arange(len(universe)), np.asarray(keys, dtype=np.int64), -1)


def _sum_by_row(rows: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sums of ``values`` per row index (rows of -1 left out), length ``n``."""
    keep = rows >= 0
    return group_sum(rows[keep], values[keep], n)


def _plan_link_rows(tables: dict[str, pa.Table], plan_num: np.ndarray) -> _AgingRows:
    """Dynamic payment plans' links (PayPlansVersion 2 and 3), as OpenDental's aging query reads them: a
    credit per linked complete procedure or adjustment, -AmountOverride, or when 0 what the item still
    owes today (docs/opendental_aging.md section 5): a procedure's fee x units + its adjustments of the
    same patient, provider and clinic - insurance (paid: InsPayAmt and WriteOff; otherwise the estimate,
    its override unless -1; Preauth left out) - splits not on a plan; an adjustment's AdjAmt - its splits
    not on a plan. Dated on ProcDate / AdjDate, attached to the procedure, counted from that date on."""
    link = tables.get("payplanlink")
    if link is None or link.num_rows == 0:
        return _aging_part(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), dated=True)
    pl, adj, ps, cp = tables["procedurelog"], tables["adjustment"], tables["paysplit"], tables["claimproc"]
    proc_num, adj_num = _col(pl, "ProcNum"), _col(adj, "AdjNum")
    n_proc, n_adj = len(proc_num), len(adj_num)
    # what each procedure / adjustment still owes, in cents
    owed = proc_charge(pl)
    a_proc = _index_of(_col(adj, "ProcNum"), proc_num)
    same = a_proc >= 0
    for column in ("PatNum", "ProvNum", "ClinicNum"):
        same &= _col(adj, column) == at(_col(pl, column), a_proc, 0)
    owed += _sum_by_row(np.where(same, a_proc, -1), cents(adj.column("AdjAmt")), n_proc)
    status = _col(cp, "Status")
    paid = np.isin(status, _PAID_STATUSES)
    est_override, wo_override = _col(cp, "InsEstTotalOverride"), _col(cp, "WriteOffEstOverride")
    wo_est = _col(cp, "WriteOffEst")
    ins = np.where(paid, cents(cp.column("InsPayAmt")),
                   np.where(est_override != -1, cents(est_override), cents(cp.column("InsPayEst"))))
    wo = np.where(paid, cents(cp.column("WriteOff")),
                  np.where(wo_override != -1, cents(wo_override), np.where(wo_est != -1, cents(wo_est), 0)))
    c_proc = np.where(status != _PREAUTH, _index_of(_col(cp, "ProcNum"), proc_num), -1)
    owed -= _sum_by_row(c_proc, ins + wo, n_proc)
    off_plan = _col(ps, "PayPlanNum") == 0
    split = cents(ps.column("SplitAmt"))
    owed -= _sum_by_row(np.where(off_plan, _index_of(_col(ps, "ProcNum"), proc_num), -1), split, n_proc)
    adj_owed = cents(adj.column("AdjAmt")) - _sum_by_row(
        np.where(off_plan, _index_of(_col(ps, "AdjNum"), adj_num), -1), split, n_adj)

    link_type, fkey = _col(link, "LinkType"), _col(link, "FKey")
    override = cents(link.column("AmountOverride"))
    on_plan = _index_of(_col(link, "PayPlanNum"), plan_num) >= 0
    lp = np.where(link_type == _LINK_PROCEDURE, _index_of(fkey, proc_num), -1)
    is_proc = (lp >= 0) & on_plan
    is_proc &= at(_col(pl, "ProcStatus"), lp, 0) == 2
    la = np.where(link_type == _LINK_ADJUSTMENT, _index_of(fkey, adj_num), -1)
    is_adj = la >= 0
    lp, la = lp[is_proc], la[is_adj]
    proc_day = _days(pl, "ProcDate")[lp]
    return _aging_part(np.concatenate([_col(pl, "PatNum")[lp], _col(adj, "PatNum")[la]]),
                       np.concatenate([proc_day, _days(adj, "AdjDate")[la]]),
                       -np.concatenate([np.where(override[is_proc] != 0, override[is_proc], owed[lp]),
                                        np.where(override[is_adj] != 0, override[is_adj], adj_owed[la])]),
                       aged_proc=np.concatenate([proc_num[lp], np.zeros(len(la), np.int64)]),
                       aged_day=np.concatenate([proc_day, np.zeros(len(la), np.int64)]), dated=True)


def family_aging(tables: dict[str, pa.Table], guarantor: np.ndarray, as_of: dt.date,
                 run_date: dt.date | None = None) -> pa.Table:
    """Aging per guarantor as of ``as_of``, by OpenDental 24.3's rules under the practice's settings read
    from its own ``preference``/``definition`` tables (AgingSettings.from_tables); one row per guarantor
    patient, ordered by Guarantor. docs/opendental_aging.md sections 2-7 give the rules.

    ``guarantor[PatNum - 1]`` is each patient's Guarantor; rows of other PatNums are left out (OpenDental
    joins the patient). ``run_date`` (default ``as_of``): the day the aging runs; an earlier ``as_of`` is
    OpenDental's historic aging (only rows dated on or before it; estimates of claimprocs pending then:
    NotReceived, or Received after it; PayPlanDue debits due by ``run_date`` + bill-in-advance days, plan
    splits paid by ``as_of``). Columns: Guarantor, AGING_COLUMNS, InsPayEst, InsWoEst (dollars).
    """
    settings = AgingSettings.from_tables(tables)
    guarantor = np.asarray(guarantor, dtype=np.int64)
    n_pat = len(guarantor)
    asof = day_number(as_of)
    run = asof if run_date is None else day_number(run_date)
    historic = asof != run
    on_complete = _on_complete_procedure(tables)
    r = _aging_rows(tables, settings, on_complete)
    r = r.take((r.pat >= 1) & (r.pat <= n_pat))
    fam_of = guarantor[r.pat - 1]
    due = _pay_plan_due(r, fam_of, n_pat, settings.bill_in_advance_days, asof, run)
    fam, eff, amount, instant = _aged_entries(r, fam_of, guarantor, settings.proc_lifo, asof, historic)
    balances = _bucket_balances(fam, eff, amount, instant, asof, n_pat)
    pay_est, wo_est = _pending_estimates(tables["claimproc"], on_complete, guarantor, asof, historic)

    guars = np.unique(guarantor)
    columns = {"Guarantor": pa.array(guars)}
    for name, values in zip(AGING_COLUMNS + ("InsPayEst", "InsWoEst"),
                            (*balances, pay_est + wo_est, due, pay_est, wo_est)):
        columns[name] = pa.array(values[guars] / 100.0)
    return pa.table(columns)


def _pay_plan_due(r: _AgingRows, fam_of: np.ndarray, n_pat: int, advance_days: int, asof: int,
                  run: int) -> np.ndarray:
    """PayPlanDue per guarantor PatNum (length ``n_pat + 1``, cents): plan debits due by the run date (or
    as-of) + ``advance_days`` (PayPlansBillInAdvanceDays), minus splits paid to plans (by ``asof`` in
    historic aging, when ``run`` != ``asof``)."""
    historic = asof != run
    due_until = (run if historic else asof) + advance_days
    counts_due = np.where(r.due, r.day <= due_until, (not historic) | (r.day <= asof)).astype(bool)
    due = np.zeros(n_pat + 1, dtype=np.int64)
    np.add.at(due, fam_of[counts_due], r.plan[counts_due])
    return due


def _aged_entries(r: _AgingRows, fam_of: np.ndarray, guarantor: np.ndarray, proc_lifo: bool, asof: int,
                  historic: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The entries the buckets age, as (guarantor PatNum, effective day, cents, instant): plan debits due
    are PayPlanDue only and left out, plan charges count from their own date on; under AgingProcLifo the
    rows attached to a procedure are netted per (PatNum, procedure, day) and ``instant`` (a net credit is
    dated on the procedure's day and applied in its bucket). Historic aging keeps entries on or before
    ``asof``."""
    live = ~r.due & (~r.dated | (r.day <= asof)) & (r.amount != 0)
    attached = live & (r.aged_proc != 0) & proc_lifo
    single = live & ~attached
    fam = [fam_of[single]]
    eff = [r.day[single]]
    amount = [r.amount[single]]
    instant = [np.zeros(int(single.sum()), dtype=bool)]
    if attached.any():
        keys = np.stack([r.pat[attached], r.aged_proc[attached], r.day[attached]], axis=1)
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        net = np.zeros(len(uniq), dtype=np.int64)
        np.add.at(net, inverse, r.amount[attached])
        aged_day = np.full(len(uniq), np.iinfo(np.int64).max)
        np.minimum.at(aged_day, inverse, r.aged_day[attached])
        fam.append(guarantor[uniq[:, 0] - 1])
        eff.append(np.where(net < 0, aged_day, uniq[:, 2]))
        amount.append(net)
        instant.append(np.ones(len(uniq), dtype=bool))
    fam, eff, amount, instant = (np.concatenate(x) for x in (fam, eff, amount, instant))
    if historic:
        keep = eff <= asof
        fam, eff, amount, instant = fam[keep], eff[keep], amount[keep], instant[keep]
    return fam, eff, amount, instant


def _bucket_balances(fam: np.ndarray, eff: np.ndarray, amount: np.ndarray, instant: np.ndarray, asof: int,
                     n_pat: int) -> tuple[np.ndarray, ...]:
    """Per guarantor PatNum (length ``n_pat + 1``, cents): (Bal_0_30, Bal_31_60, Bal_61_90, BalOver90,
    BalTotal). Charges (and instant entries) go to the bucket of their age in days, credits are applied
    to the oldest bucket first; BalTotal is the sum of every entry."""
    charges = np.zeros((4, n_pat + 1), dtype=np.int64)
    is_charge = (amount > 0) | instant
    bucket = np.select([eff < asof - 90, eff < asof - 60, eff < asof - 30, eff <= asof], [3, 2, 1, 0], -1)
    aged = is_charge & (bucket >= 0)
    np.add.at(charges, (bucket[aged], fam[aged]), amount[aged])
    credits = np.zeros(n_pat + 1, dtype=np.int64)
    credit = (amount < 0) & ~instant & (eff <= asof)
    np.add.at(credits, fam[credit], -amount[credit])
    total = np.zeros(n_pat + 1, dtype=np.int64)
    np.add.at(total, fam, amount)
    # a bucket a net credit took below zero is floored and the excess joins the credits
    credits -= np.minimum(charges, 0).sum(axis=0)
    charges = np.maximum(charges, 0)
    over90, d61, d31, d0 = charges[3], charges[2], charges[1], charges[0]
    # credits applied to the oldest charges first, bucket by bucket
    bal_over90 = np.maximum(over90 - credits, 0)
    bal_61 = np.clip(over90 + d61 - credits, 0, d61)
    bal_31 = np.clip(over90 + d61 + d31 - credits, 0, d31)
    bal_0 = np.clip(over90 + d61 + d31 + d0 - credits, 0, d0)
    return bal_0, bal_31, bal_61, bal_over90, total


def _pending_estimates(cp: pa.Table, on_complete: np.ndarray, guarantor: np.ndarray, asof: int,
                       historic: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per guarantor PatNum (length ``len(guarantor) + 1``, cents): (InsPayEst, WriteOff) of the claimprocs
    pending as of ``asof`` (NotReceived; in historic aging also Received after it, of procedures dated on
    or before it), on complete procedures or none (``on_complete``)."""
    n_pat = len(guarantor)
    status, cp_pat = _col(cp, "Status"), _col(cp, "PatNum")
    if historic:
        pending = (_days(cp, "ProcDate") <= asof) & ((status == 0) | ((status == 1) & (_days(cp, "DateCP") > asof)))
    else:
        pending = status == 0
    pending &= on_complete & (cp_pat >= 1) & (cp_pat <= n_pat)
    pay_est = np.zeros(n_pat + 1, dtype=np.int64)
    wo_est = np.zeros(n_pat + 1, dtype=np.int64)
    np.add.at(pay_est, guarantor[cp_pat[pending] - 1], cents(cp.column("InsPayEst"))[pending])
    np.add.at(wo_est, guarantor[cp_pat[pending] - 1], cents(cp.column("WriteOff"))[pending])
    return pay_est, wo_est


def patient_balances(tables: dict[str, pa.Table], n_patients: int) -> tuple[np.ndarray, np.ndarray]:
    """Per patient (index PatNum - 1): (own balance, own pending insurance estimate), in cents."""
    pat, _day, amount = transactions(tables)
    balance = np.zeros(n_patients + 1, dtype=np.int64)
    np.add.at(balance, pat, amount)
    cp = tables["claimproc"]
    pending = _col(cp, "Status") == 0
    est = np.zeros(n_patients + 1, dtype=np.int64)
    np.add.at(est, _col(cp, "PatNum")[pending], cents(cp.column("InsPayEst"))[pending])
    return balance[1:], est[1:]


def _insurance_income(tables: dict[str, pa.Table]) -> tuple[np.ndarray, ...]:
    """The report's insurance income as (day, ClinicNum, ProvNum, cents): InsPayAmt of claimprocs Received
    or Supplemental that are on an insurance check, by the check's CheckDate (a payment entered but not
    on a check yet is no income yet; RpProdInc joins claimproc to claimpayment)."""
    cp, checks = tables["claimproc"], tables["claimpayment"]
    check_day = dict(zip(_col(checks, "ClaimPaymentNum").tolist(), _days(checks, "CheckDate").tolist()))
    rows = np.flatnonzero(np.isin(_col(cp, "Status"), _WRITEOFF_STATUSES)
                          & np.isin(_col(cp, "ClaimPaymentNum"), list(check_day)))
    day = np.array([check_day[n] for n in _col(cp, "ClaimPaymentNum")[rows].tolist()], dtype=np.int64)
    return day, _col(cp, "ClinicNum")[rows], _col(cp, "ProvNum")[rows], cents(cp.column("InsPayAmt"))[rows]


def _capitation_writeoffs(tables: dict[str, pa.Table]) -> tuple[np.ndarray, ...]:
    """The report's capitation write-offs as (day, ClinicNum, ProvNum, cents): WriteOff of CapComplete
    claimprocs (Status 7) of completed procedures, on the procedure's ProcDate, ClinicNum and ProvNum
    (RpProdInc subtracts them from the procedure's production row, joining procedurelog to its claimprocs;
    the claimproc's own copies of the date, clinic and provider are not read)."""
    cp, pl = tables["claimproc"], tables["procedurelog"]
    done = np.flatnonzero(_col(pl, "ProcStatus") == 2)
    row_of = dict(zip(_col(pl, "ProcNum")[done].tolist(), done.tolist()))
    rows = np.flatnonzero((_col(cp, "Status") == _CAP_COMPLETE) & np.isin(_col(cp, "ProcNum"), list(row_of)))
    proc = np.array([row_of[n] for n in _col(cp, "ProcNum")[rows].tolist()], dtype=np.int64)
    return _days(pl, "ProcDate")[proc], _col(pl, "ClinicNum")[proc], _col(pl, "ProvNum")[proc], \
        cents(cp.column("WriteOff"))[rows]


def _writeoff_parts(tables: dict[str, pa.Table], mode: int) -> list[tuple[np.ndarray, ...]]:
    """The insurance (PPO) write-offs of the Production and Income report as (day, ClinicNum, ProvNum,
    cents) parts, by ReportsPPOwriteoffDefaultToProcDate (``mode``): 0 (default) claimprocs Received or
    Supplemental by DateCP; 1 NotReceived, Received and Supplemental by the claimproc's ProcDate; 2 the
    write-off estimate of the claimproc's first claimsnapshot on the snapshot's day (NotReceived,
    Received, Supplemental; the procedure's clinic), plus, when paid (Received, Supplemental), the final
    write-off minus that estimate by DateCP (a snapshot's -1 counts as 0). Claimproc's ProvNum throughout."""
    cp = tables["claimproc"]
    status, writeoff = _col(cp, "Status"), cents(cp.column("WriteOff"))
    paid = np.isin(status, _WRITEOFF_STATUSES)
    if mode == 1:
        rows = np.isin(status, (0,) + _WRITEOFF_STATUSES)
        return [(_days(cp, "ProcDate")[rows], _col(cp, "ClinicNum")[rows], _col(cp, "ProvNum")[rows], writeoff[rows])]
    if mode != 2:
        return [(_days(cp, "DateCP")[paid], _col(cp, "ClinicNum")[paid], _col(cp, "ProvNum")[paid], writeoff[paid])]
    snap = tables["claimsnapshot"]
    first: dict[int, tuple[int, int]] = {}  # ClaimProcNum -> (day, estimate cents) of its first snapshot
    snap_day = snap.column("DateTEntry").cast(pa.timestamp("s")).cast(pa.int64()).to_numpy() // 86_400
    order = np.lexsort((_col(snap, "ClaimSnapshotNum"), snap_day))
    snap_wo = np.maximum(cents(snap.column("Writeoff")), 0)  # -1: no estimate
    for num, d, w in zip(_col(snap, "ClaimProcNum")[order].tolist(), snap_day[order].tolist(),
                         snap_wo[order].tolist()):
        if num and num not in first:
            first[num] = (d, w)
    proc_clinic = dict(zip(_col(tables["procedurelog"], "ProcNum").tolist(),
                           _col(tables["procedurelog"], "ClinicNum").tolist()))
    cp_num = _col(cp, "ClaimProcNum")
    rows = np.array([i for i, (num, st) in enumerate(zip(cp_num.tolist(), status.tolist()))
                     if num in first and st in (0,) + _WRITEOFF_STATUSES], dtype=np.int64)
    estimate = np.zeros(cp.num_rows, dtype=np.int64)
    estimate[rows] = [first[n][1] for n in cp_num[rows].tolist()]
    return [
        (np.array([first[n][0] for n in cp_num[rows].tolist()], dtype=np.int64),
         np.array([proc_clinic.get(p, 0) for p in _col(cp, "ProcNum")[rows].tolist()], dtype=np.int64),
         _col(cp, "ProvNum")[rows], estimate[rows]),
        (_days(cp, "DateCP")[paid], _col(cp, "ClinicNum")[paid], _col(cp, "ProvNum")[paid],
         writeoff[paid] - estimate[paid]),
    ]


def daily_ledger(tables: dict[str, pa.Table]) -> pa.Table:
    """Per (Date, ClinicNum, ProvNum), dollars, as OpenDental's Production and Income report counts them:
    Production (completed procedures' charges by ProcDate), Adjustments (AdjAmt by AdjDate, signed),
    WriteOffs (``_writeoff_parts``: by the practice's ReportsPPOwriteoffDefaultToProcDate), PatientIncome
    (SplitAmt by DatePay; hidden unearned types left out, ``shown_splits``), InsuranceIncome
    (``_insurance_income``: on a check, by its CheckDate), CapitationWriteOffs (``_capitation_writeoffs``:
    WriteOff of CapComplete claimprocs, Status 7, on their procedure's date, clinic and provider: the
    report's Production column is Production - CapitationWriteOffs)."""
    pl = tables["procedurelog"]
    done = _col(pl, "ProcStatus") == 2
    adj = tables["adjustment"]
    ps = tables["paysplit"]
    parts = [
        (pl, "ProcDate", done, proc_charge(pl), 0),
        (adj, "AdjDate", None, cents(adj.column("AdjAmt")), 1),
        (ps, "DatePay", shown_splits(tables), cents(ps.column("SplitAmt")), 3),
    ]
    day, clinic, prov, measure, amount = [], [], [], [], []
    for table, date_col, mask, values, m in parts:
        mask = np.ones(table.num_rows, dtype=bool) if mask is None else mask
        day.append(_days(table, date_col)[mask])
        clinic.append(_col(table, "ClinicNum")[mask])
        prov.append(_col(table, "ProvNum")[mask])
        measure.append(np.full(mask.sum(), m))
        amount.append(values[mask])
    mode = preference_values(tables).get("ReportsPPOwriteoffDefaultToProcDate", 0)
    named = [("InsuranceIncome", _insurance_income(tables)), ("CapitationWriteOffs", _capitation_writeoffs(tables))] + [
        ("WriteOffs", part) for part in _writeoff_parts(tables, mode)]
    for name, part in named:
        for out, values in zip((day, clinic, prov, amount), part):
            out.append(values)
        measure.append(np.full(len(part[0]), DAILY_MEASURES.index(name)))
    day, clinic, prov = np.concatenate(day), np.concatenate(clinic), np.concatenate(prov)
    measure, amount = np.concatenate(measure), np.concatenate(amount)
    if len(day) == 0:
        day, clinic, prov = (np.zeros(0, dtype=np.int64) for _ in range(3))
    first_day = int(day.min(initial=0))
    n_clinic = int(clinic.max(initial=0)) + 1
    n_prov = int(prov.max(initial=0)) + 1
    key = ((day - first_day) * n_clinic + clinic) * n_prov + prov
    uniq, inverse = np.unique(key, return_inverse=True)
    sums = np.zeros((len(uniq), len(DAILY_MEASURES)), dtype=np.int64)
    np.add.at(sums, (inverse, measure), amount)
    columns = {
        "Date": pa.array((uniq // n_prov // n_clinic + first_day).astype(np.int32), type=pa.date32()),
        "ClinicNum": pa.array(uniq // n_prov % n_clinic),
        "ProvNum": pa.array(uniq % n_prov),
    }
    for i, name in enumerate(DAILY_MEASURES):
        columns[name] = pa.array(sums[:, i] / 100.0)
    return pa.table(columns)

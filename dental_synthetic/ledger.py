"""The books of a generated practice, computed from its raw tables the way OpenDental computes them.

Family aging (``family_aging``) follows OpenDental's aging query with payment plans that do not touch
the balance (PayPlansVersion "NoCharges"):

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
- InsEst = InsPayEst + WriteOff of NotReceived claimprocs (the generator keeps NotReceived write-offs
  in WriteOffEst, so this is the sum of InsPayEst);
- PayPlanDue = payment-plan debits due on or before ``as_of`` minus paysplits on payment plans.

Money is handled in integer cents and returned as float dollars (the nearest double to each amount).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from .util import day_number

AGING_COLUMNS = ("Bal_0_30", "Bal_31_60", "Bal_61_90", "BalOver90", "BalTotal", "InsEst", "PayPlanDue")
DAILY_MEASURES = ("Production", "Adjustments", "WriteOffs", "PatientIncome", "InsuranceIncome")
_AGING_STATUSES = (1, 4, 5, 7)  # Received, Supplemental, CapClaim, CapComplete


def cents(column) -> np.ndarray:
    """Dollar amounts (Arrow or numpy) -> int64 cents."""
    values = column.to_numpy() if hasattr(column, "to_numpy") else np.asarray(column)
    return np.rint(np.asarray(values, dtype=np.float64) * 100).astype(np.int64)


def _col(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy()


def _days(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).cast(pa.int32()).to_numpy().astype(np.int64)


def transactions(tables: dict[str, pa.Table]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every balance-changing transaction: (PatNum, day number, signed cents)."""
    pl = tables["procedurelog"]
    done = _col(pl, "ProcStatus") == 2
    proc_amt = cents(pl.column("ProcFee")) * (_col(pl, "UnitQty") + _col(pl, "BaseUnits"))
    adj = tables["adjustment"]
    ps = tables["paysplit"]
    cp = tables["claimproc"]
    received = np.isin(_col(cp, "Status"), _AGING_STATUSES)
    cp_amt = -(np.where(_col(cp, "PayPlanNum") == 0, cents(cp.column("InsPayAmt")), 0) + cents(cp.column("WriteOff")))
    pat = np.concatenate([_col(pl, "PatNum")[done], _col(adj, "PatNum"), _col(ps, "PatNum"),
                          _col(cp, "PatNum")[received]])
    day = np.concatenate([_days(pl, "ProcDate")[done], _days(adj, "AdjDate"), _days(ps, "DatePay"),
                          _days(cp, "DateCP")[received]])
    amount = np.concatenate([proc_amt[done], cents(adj.column("AdjAmt")), -cents(ps.column("SplitAmt")),
                             cp_amt[received]])
    keep = amount != 0
    return pat[keep], day[keep], amount[keep]


def family_aging(tables: dict[str, pa.Table], guarantor: np.ndarray, as_of: dt.date) -> pa.Table:
    """Aging per guarantor as of ``as_of``: one row per guarantor patient, ordered by Guarantor.

    ``guarantor[PatNum - 1]`` is each patient's Guarantor. Columns: Guarantor and AGING_COLUMNS
    (dollars).
    """
    guarantor = np.asarray(guarantor, dtype=np.int64)
    n_pat = len(guarantor)
    asof = day_number(as_of)
    pat, day, amount = transactions(tables)
    fam = guarantor[pat - 1]
    age = asof - day
    charges = np.zeros((4, n_pat + 1), dtype=np.int64)
    is_charge = amount > 0
    bucket = np.select([age > 90, age > 60, age > 30, age >= 0], [3, 2, 1, 0], -1)
    aged = is_charge & (bucket >= 0)
    np.add.at(charges, (bucket[aged], fam[aged]), amount[aged])
    credits = np.zeros(n_pat + 1, dtype=np.int64)
    np.add.at(credits, fam[~is_charge], -amount[~is_charge])
    total = np.zeros(n_pat + 1, dtype=np.int64)
    np.add.at(total, fam, amount)
    over90, d61, d31, d0 = charges[3], charges[2], charges[1], charges[0]
    # credits applied to the oldest charges first, bucket by bucket
    bal_over90 = np.maximum(over90 - credits, 0)
    bal_61 = np.clip(over90 + d61 - credits, 0, d61)
    bal_31 = np.clip(over90 + d61 + d31 - credits, 0, d31)
    bal_0 = np.clip(over90 + d61 + d31 + d0 - credits, 0, d0)

    cp = tables["claimproc"]
    pending = _col(cp, "Status") == 0
    ins_est = np.zeros(n_pat + 1, dtype=np.int64)
    np.add.at(ins_est, guarantor[_col(cp, "PatNum")[pending] - 1],
              cents(cp.column("InsPayEst"))[pending] + cents(cp.column("WriteOff"))[pending])

    due = np.zeros(n_pat + 1, dtype=np.int64)
    ppc = tables["payplancharge"]
    debit_due = (_col(ppc, "ChargeType") == 0) & (_days(ppc, "ChargeDate") <= asof)
    np.add.at(due, guarantor[_col(ppc, "Guarantor")[debit_due] - 1],
              cents(ppc.column("Principal"))[debit_due] + cents(ppc.column("Interest"))[debit_due])
    ps = tables["paysplit"]
    on_plan = _col(ps, "PayPlanNum") != 0
    np.add.at(due, guarantor[_col(ps, "PatNum")[on_plan] - 1], -cents(ps.column("SplitAmt"))[on_plan])

    guars = np.unique(guarantor)
    columns = {"Guarantor": pa.array(guars)}
    for name, values in zip(AGING_COLUMNS, (bal_0, bal_31, bal_61, bal_over90, total, ins_est, due)):
        columns[name] = pa.array(values[guars] / 100.0)
    return pa.table(columns)


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


def daily_ledger(tables: dict[str, pa.Table]) -> pa.Table:
    """Per (Date, ClinicNum, ProvNum): Production (completed procedures' charges by ProcDate),
    Adjustments (AdjAmt by AdjDate, signed), WriteOffs (received claimprocs' WriteOff by DateCP),
    PatientIncome (SplitAmt by DatePay), InsuranceIncome (received InsPayAmt by DateCP); dollars."""
    pl = tables["procedurelog"]
    done = _col(pl, "ProcStatus") == 2
    adj = tables["adjustment"]
    cp = tables["claimproc"]
    rec = np.isin(_col(cp, "Status"), _AGING_STATUSES)
    ps = tables["paysplit"]
    parts = [
        (pl, "ProcDate", done, cents(pl.column("ProcFee")) * (_col(pl, "UnitQty") + _col(pl, "BaseUnits")), 0),
        (adj, "AdjDate", None, cents(adj.column("AdjAmt")), 1),
        (cp, "DateCP", rec, cents(cp.column("WriteOff")), 2),
        (ps, "DatePay", None, cents(ps.column("SplitAmt")), 3),
        (cp, "DateCP", rec, cents(cp.column("InsPayAmt")), 4),
    ]
    day, clinic, prov, measure, amount = [], [], [], [], []
    for table, date_col, mask, values, m in parts:
        mask = np.ones(table.num_rows, dtype=bool) if mask is None else mask
        day.append(_days(table, date_col)[mask])
        clinic.append(_col(table, "ClinicNum")[mask])
        prov.append(_col(table, "ProvNum")[mask])
        measure.append(np.full(mask.sum(), m))
        amount.append(values[mask])
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

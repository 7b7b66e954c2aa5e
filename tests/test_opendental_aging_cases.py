"""mart_ar_aging against OpenDental's own aging tests: the oracle is OpenDental, not our rules.

Every aging case of OpenDental 24.3's ``UnitTests/UnitTests/LedgersTests.cs`` (dynamic payment plans
included, with the links and issued debits ``PayPlanT.CreateDynamicPaymentPlan`` writes; not the one
version-1 case aged 31 days back) becomes a fixture family here, with the rows its test
creates (dates relative to its as-of day, amounts) and the buckets its test asserts, under each
``AgingProcLifo`` value the test tries (1 yes, 2 no, 0 unset) and the ``PayPlansVersion`` it sets. The
facts are listed in docs/opendental_aging.md section 9. Hand-computed cases from OpenDental's rules
(section 2-7 there) add each bucket boundary, the as-of day, pay plan versions 1-4 with bill-in-advance
days, a dynamic plan's link after a capitation write-off, hidden unearned types, claimproc statuses, plan
insurance, the month-end pending write-off and the month end's own day.

The rows go into raw tables of a real PostgreSQL database; dbt builds only mart_ar_aging and the models
it reads, once per combination of settings (the preference table's rows changed in between).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest

from dbt_runner import query_rows, run_dbt, write_raw_rows
from dental_assets.catalog import RAW_SCHEMA, quote_pg
from dental_assets.warehouse import PgParams

# OpenDental's PayPlan tests run as of 2019-08-09; the "today" tests run as of any day. One as-of day
# serves both (our mart's run date is the var as_of_date, OpenDental's aging "today").
T = dt.date(2019, 8, 9)
ZERO_DATE = dt.date(1, 1, 1)
LIFO_YES, LIFO_NO, LIFO_UNSET = 1, 2, 0
HIDDEN_UNEARNED_DEF = 9001   # definition Category 29 with ItemValue set: "Do Not Show on Account"
VISIBLE_UNEARNED_DEF = 9002  # definition Category 29, shown on the account
CENT = Decimal("0.01")


def days(n: int) -> dt.date:
    """T + n days."""
    return T + dt.timedelta(days=n)


def add_months(day: dt.date, months: int) -> dt.date:
    """.NET DateTime.AddMonths: the same day of the month, clipped to the month's last day."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class Family:
    """Rows of one fixture family (or two, for the cross-family case), keys from ``base`` up."""

    def __init__(self, name: str, base: int):
        self.name = name
        self.next_key = base
        self.rows: dict[str, list[dict]] = defaultdict(list)
        self.guarantors: list[int] = []
        self.expected_total: float | None = None  # BalTotal when it is not the buckets' sum

    def key(self) -> int:
        self.next_key += 1
        return self.next_key

    def patient(self, guarantor: int | None = None) -> int:
        pat = self.key()
        self.rows["patient"].append({"PatNum": pat, "Guarantor": guarantor or pat, "LName": "Case", "FName": self.name})
        if guarantor is None:
            self.guarantors.append(pat)
        return pat

    def proc(self, pat: int, fee: float, day: dt.date, status: int = 2) -> tuple[int, dt.date]:
        num = self.key()
        self.rows["procedurelog"].append({"ProcNum": num, "PatNum": pat, "ProcFee": fee, "ProcDate": day,
                                          "ProcStatus": status, "UnitQty": 1, "BaseUnits": 0})
        return num, day

    def adj(self, pat: int, amount: float, day: dt.date, proc: tuple[int, dt.date] | None = None) -> int:
        num = self.key()
        self.rows["adjustment"].append({"AdjNum": num, "PatNum": pat, "AdjAmt": amount, "AdjDate": day,
                                        "ProcNum": proc[0] if proc else 0, "ProcDate": proc[1] if proc else ZERO_DATE})
        return num

    def pay(self, pat: int, amount: float, day: dt.date = T, plan: int = 0, proc: int = 0, unearned: int = 0) -> None:
        pay_num = self.key()
        self.rows["payment"].append({"PayNum": pay_num, "PatNum": pat, "PayAmt": amount, "PayDate": day, "PayType": 1})
        self.rows["paysplit"].append({"SplitNum": self.key(), "PayNum": pay_num, "PatNum": pat, "SplitAmt": amount,
                                      "DatePay": day, "PayPlanNum": plan, "ProcNum": proc, "UnearnedType": unearned})

    def claimproc(self, pat: int, proc: tuple[int, dt.date], status: int, *, ins_pay_est: float = 0,
                  write_off: float = 0, ins_pay_amt: float = 0, date_cp: dt.date = ZERO_DATE,
                  pay_plan: int = 0, **columns) -> None:
        self.rows["claimproc"].append({"ClaimProcNum": self.key(), "PatNum": pat, "ProcNum": proc[0],
                                       "ProcDate": proc[1], "Status": status, "InsPayEst": ins_pay_est,
                                       "WriteOff": write_off, "InsPayAmt": ins_pay_amt, "DateCP": date_cp,
                                       "PayPlanNum": pay_plan, **columns})

    def estimate(self, pat: int, proc: tuple[int, dt.date], ins_pay_est: float, status: int = 0) -> None:
        """A claimproc as LedgersTests' dynamic-plan cases make it: ClaimProcs.CreateEst, then InsPayEst set,
        no write-off, the overrides unset (-1)."""
        self.claimproc(pat, proc, status, ins_pay_est=ins_pay_est, InsEstTotal=-1, InsEstTotalOverride=-1,
                       WriteOffEst=0, WriteOffEstOverride=-1)

    def dynamic_payplan(self, pat: int, start: dt.date, pay_amt: float,
                        procs: tuple[tuple[int, dt.date], ...] = (), adjs: tuple[int, ...] = ()) -> int:
        """A dynamic payment plan as OpenDental's PayPlanT.CreateDynamicPaymentPlan makes it with APR 0: a
        payplanlink per procedure (LinkType 2) and per adjustment not attached to one (LinkType 1),
        AmountOverride 0; its first weekly charge (a debit of pay_amt) issued when it is due by T."""
        num = self.key()
        self.rows["payplan"].append({"PayPlanNum": num, "PatNum": pat, "Guarantor": pat, "PayPlanDate": start,
                                     "PlanNum": 0, "IsDynamic": 1, "PayAmt": pay_amt, "DatePayPlanStart": start,
                                     "ChargeFrequency": 0, "NumberOfPayments": 0})
        links = [(2, proc[0]) for proc in procs] + [(1, adj) for adj in adjs]
        for link_type, fkey in links:
            self.rows["payplanlink"].append({"PayPlanLinkNum": self.key(), "PayPlanNum": num, "LinkType": link_type,
                                             "FKey": fkey, "AmountOverride": 0})
        if start <= T:
            self.charge(num, pat, start, pay_amt, charge_type=0, FKey=links[0][1], LinkType=links[0][0])
        return num

    def payplan(self, pat: int, total: float, pay_amt: float, start: dt.date, *, plan_num: int = 0,
                completed: float = 0, closed: int = 0, debits: bool = True) -> int:
        """A plan as OpenDental's PayPlanT.CreatePayPlan makes it: monthly debits of pay_amt from start
        (the last one the rest) until total, guarantor = patient."""
        num = self.key()
        self.rows["payplan"].append({"PayPlanNum": num, "PatNum": pat, "Guarantor": pat, "PayPlanDate": start,
                                     "PlanNum": plan_num, "CompletedAmt": completed, "IsClosed": closed,
                                     "PayAmt": pay_amt})
        charged, k = Decimal(0), 0
        while debits and charged < Decimal(str(total)):
            principal = min(Decimal(str(pay_amt)), Decimal(str(total)) - charged)
            self.charge(num, pat, add_months(start, k), float(principal), charge_type=0)
            charged += principal
            k += 1
        return num

    def charge(self, plan: int, pat: int, day: dt.date, principal: float, *, charge_type: int,
               proc: int = 0, **columns) -> None:
        self.rows["payplancharge"].append({"PayPlanChargeNum": self.key(), "PayPlanNum": plan, "Guarantor": pat,
                                           "PatNum": pat, "ChargeDate": day, "Principal": principal,
                                           "Interest": 0, "ChargeType": charge_type, "ProcNum": proc, **columns})


# expected run-date aging of one guarantor: (0-30, 31-60, 61-90, over 90, PayPlanDue)
Buckets = tuple[float, float, float, float, float]
SETTINGS = [(LIFO_YES, 2), (LIFO_NO, 2), (LIFO_UNSET, 2), (LIFO_UNSET, 1), (LIFO_UNSET, 3), (LIFO_UNSET, 4),
            (LIFO_NO, 4)]


def _lifo(on: Buckets, off: Buckets) -> dict:
    """Expected buckets per AgingProcLifo value, any PayPlansVersion (no plans in the case)."""
    return {(lifo, version): (off if lifo == LIFO_NO else on) for lifo, version in SETTINGS}


def _v2(on: Buckets, off: Buckets) -> dict:
    """Expected buckets per AgingProcLifo value under PayPlansVersion 2 (the case's own setting)."""
    return {(lifo, version): (off if lifo == LIFO_NO else on) for lifo, version in SETTINGS if version == 2}


def _cases() -> list[tuple[Family, dict[int, dict]]]:
    """(family, {guarantor: {(AgingProcLifo, PayPlansVersion): Buckets}}) per case."""
    cases = []

    def case(name: str) -> Family:
        return Family(name, 1000 * (len(cases) + 1))

    # ---- LedgersTests.cs ------------------------------------------------------------------------------------
    f = case("ProcLifo_Case1")
    p = f.patient()
    proc85 = f.proc(p, 100, days(-85))
    f.adj(p, 10, days(-55), proc85)
    f.adj(p, -8, days(-2), proc85)
    cases.append((f, {p: _lifo((0, 10, 92, 0, 0), (0, 10, 92, 0, 0))}))

    for name, attach in (("ProcLifo_Case2", "first"), ("ProcLifo_Case3", None), ("ProcLifo_Case4", "second")):
        f = case(name)
        p = f.patient()
        proc85 = f.proc(p, 100, days(-85))
        proc55 = f.proc(p, 150, days(-55))
        f.adj(p, -100, days(-2), {"first": proc85, "second": proc55, None: None}[attach])
        on = (0, 50, 100, 0, 0) if attach == "second" else (0, 150, 0, 0, 0)
        cases.append((f, {p: _lifo(on, (0, 150, 0, 0, 0))}))

    f = case("ProcLifo_Case5")
    p = f.patient()
    f.proc(p, 1000, days(-95))
    proc85 = f.proc(p, 100, days(-85))
    f.adj(p, 10, days(-40), proc85)
    f.adj(p, -800, days(-2), proc85)
    cases.append((f, {p: _lifo((0, 10, 0, 300, 0), (0, 10, 100, 200, 0))}))

    f = case("ProcLifo_Case5B")
    p = f.patient()
    f.proc(p, 1000, days(-95))
    proc85 = f.proc(p, 100, days(-85))
    for amount, day in ((4, -40), (6, -40), (-200, -2), (-250, -2), (-350, -2)):
        f.adj(p, amount, days(day), proc85)
    cases.append((f, {p: _lifo((0, 10, 0, 300, 0), (0, 10, 100, 200, 0))}))

    f = case("ProcLifo_Case5C")
    p = f.patient()
    f.proc(p, 1000, days(-95))
    proc85 = f.proc(p, 100, days(-85))
    f.adj(p, -800, days(-40), proc85)
    f.adj(p, 10, days(-2), proc85)
    cases.append((f, {p: _lifo((10, 0, 0, 300, 0), (10, 0, 100, 200, 0))}))

    f = case("ProcLifo_Case6")
    p = f.patient()
    f.proc(p, 1000, days(-95))
    proc85 = f.proc(p, 100, days(-85))
    f.adj(p, 10, days(-2), proc85)
    f.adj(p, -30, days(-2), proc85)
    cases.append((f, {p: _lifo((0, 0, 80, 1000, 0), (10, 0, 100, 970, 0))}))

    f = case("ProcLifo_PayPlan1")
    p = f.patient()
    start = add_months(T, -6) - dt.timedelta(days=1)
    proc = f.proc(p, 4000, start)
    plan = f.payplan(p, 4000, 166.67, start)
    f.adj(p, -2800, start, proc)
    f.pay(p, 166.67, start, plan=plan, proc=proc[0])
    f.charge(plan, p, start, 1200, charge_type=1, proc=proc[0])
    for months in (5, 4, 3, 2, 1):
        day = add_months(T, -months) - dt.timedelta(days=1)
        f.adj(p, 121.74, day, proc)
        if months == 5:
            f.pay(p, 166.67, day, plan=plan, proc=proc[0])
        f.charge(plan, p, day, 121.74, charge_type=1, proc=proc[0])
    cases.append((f, {p: _v2((166.67, 166.67, 166.67, 333.34, 833.35), (166.67, 288.41, 288.41, 89.86, 833.35))}))

    f = case("ProcLifo_PayPlan2")
    p = f.patient()
    start = add_months(T, -6) - dt.timedelta(days=1)
    proc6 = f.proc(p, 1200, start)
    plan = f.payplan(p, 4000, 166.67, start)
    f.pay(p, 166.67, start, plan=plan, proc=proc6[0])
    f.charge(plan, p, start, 1200, charge_type=1, proc=proc6[0])
    for months in (5, 4, 3, 2, 1):
        day = add_months(T, -months) - dt.timedelta(days=1)
        proc_m = f.proc(p, 121.74, day)
        if months == 5:
            f.pay(p, 166.67, day, plan=plan, proc=proc_m[0])
        f.charge(plan, p, day, 121.74, charge_type=1, proc=proc_m[0])
    cases.append((f, {p: _v2((166.67, 166.67, 166.67, 333.34, 833.35), (166.67, 288.41, 288.41, 89.86, 833.35))}))

    f = case("ProcLifo_PayPlan3")
    p = f.patient()
    f.proc(p, 200, days(-95))
    proc35 = f.proc(p, 100, days(-35))
    plan = f.payplan(p, 100, 50, days(-35))
    f.adj(p, -5.50, days(-5), proc35)
    f.charge(plan, p, days(-5), 100, charge_type=1, proc=proc35[0])
    cases.append((f, {p: _v2((50, 44.50, 0, 200, 100), (50, 150, 0, 94.50, 100))}))

    f = case("ComputeAgingForPaysplitsAllocatedToDiffPats")
    dad = f.patient()
    child = f.patient(guarantor=dad)
    proc1 = f.proc(child, 50, days(-45))
    f.proc(child, 40, days(-45))
    mom = f.patient()
    proc3 = f.proc(mom, 50, days(-1))
    f.proc(mom, 40, days(-1))
    f.pay(mom, 50, T, proc=proc3[0])
    f.pay(child, 50, T, proc=proc1[0])  # the same payment's split to the other family
    cases.append((f, {dad: _lifo((0, 40, 0, 0, 0), (0, 40, 0, 0, 0)),
                      mom: _lifo((40, 0, 0, 0, 0), (40, 0, 0, 0, 0))}))

    # ---- LedgersTests.cs, dynamic payment plans (PayPlansVersion 2; links credit what the item still owes) ----
    f = case("PayPlanDynamicSimpleAdjustment")
    p = f.patient()
    f.proc(p, 35, days(-91))
    adj = f.adj(p, 45, days(-61))
    f.dynamic_payplan(p, days(-1), 40, adjs=(adj,))
    cases.append((f, {p: _v2((40, 0, 35, 0, 40), (40, 0, 35, 0, 40))}))

    f = case("PayPlanDynamic")
    p = f.patient()
    proc1 = f.proc(p, 45, days(-61))
    proc2 = f.proc(p, 55, days(-32))
    proc3 = f.proc(p, 65, days(-15))
    f.adj(p, 10, proc2[1], proc2)
    f.adj(p, 20, proc3[1], proc3)
    adj = f.adj(p, 30, days(-5))
    f.dynamic_payplan(p, days(-1), 40, procs=(proc1, proc2, proc3), adjs=(adj,))
    f.proc(p, 35, days(-91))
    cases.append((f, {p: _v2((70, 0, 0, 5, 40), (75, 0, 0, 0, 40))}))

    f = case("PayPlanDynamicCredits")
    unrelated = f.patient()  # another family's plan, which must not credit this one's
    proc_attach = f.proc(unrelated, 200, T)
    adj15 = f.adj(unrelated, 15, days(-2))
    f.adj(unrelated, 5, T, (proc_attach[0], days(-2)))
    f.dynamic_payplan(unrelated, days(1), 20, procs=(proc_attach,), adjs=(adj15,))
    p = f.patient()
    proc = f.proc(p, 65, days(-1))
    f.adj(p, 20, days(-1), proc)
    f.dynamic_payplan(p, days(1), 30, procs=(proc,))
    cases.append((f, {p: _v2((0, 0, 0, 0, 0), (0, 0, 0, 0, 0))}))

    for name, preauth in (("PayPlanDynamicCreditsWithClaimProcs", False),
                          ("PayPlanDynamicCreditsWithClaimProcsWithPreAuth", True)):
        f = case(name)
        p = f.patient()
        proc45 = f.proc(p, 45, days(-61))
        f.estimate(p, proc45, 15)
        if preauth:  # a preauthorization (Status 2) like the estimate: not counted
            f.estimate(p, proc45, 15, status=2)
        f.dynamic_payplan(p, days(-1), 30, procs=(proc45,))
        f.proc(p, 35, days(-91))
        cases.append((f, {p: _v2((30, 0, 15, 35, 30), (30, 0, 45, 5, 30))}))

    f = case("PayPlanDynamicCreditsPatientPaymentsReduceTheAmountAttached")
    p = f.patient()
    proc68 = f.proc(p, 68, days(-61))
    f.pay(p, 22, proc=proc68[0])
    f.dynamic_payplan(p, days(-1), 46, procs=(proc68,))
    cases.append((f, {p: _v2((46, 0, 0, 0, 46), (46, 0, 0, 0, 46))}))

    f = case("PayPlanDynamicCreditsPatientPaymentsToPayPlanDoNotReduceTheAmountAttached")
    p = f.patient()
    proc68 = f.proc(p, 68, days(-61))
    plan = f.dynamic_payplan(p, days(-1), 68, procs=(proc68,))
    f.pay(p, 22, plan=plan, proc=proc68[0])
    cases.append((f, {p: _v2((46, 0, 0, 0, 46), (46, 0, 0, 0, 46))}))

    f = case("PayPlanDynamicCreditsWithClaimProcsAndPatPay")
    p = f.patient()
    proc45 = f.proc(p, 45, days(-61))
    f.estimate(p, proc45, 15)
    f.pay(p, 7, proc=proc45[0])
    f.pay(p, 3, proc=proc45[0])
    f.dynamic_payplan(p, days(-1), 20, procs=(proc45,))
    f.proc(p, 35, days(-91))
    cases.append((f, {p: _v2((20, 0, 25, 25, 20), (20, 0, 45, 5, 20))}))

    # ---- hand-computed from OpenDental's rules (docs/opendental_aging.md sections 2-7) ----------------------
    for age, bucket in ((0, 0), (30, 0), (31, 1), (60, 1), (61, 2), (90, 2), (91, 3)):
        f = case(f"boundary_{age}_days")
        p = f.patient()
        f.proc(p, 100, days(-age))
        expected = [0.0] * 5
        expected[bucket] = 100
        cases.append((f, {p: _lifo(tuple(expected), tuple(expected))}))

    # a charge dated after the as-of day is in no bucket (and in BalTotal at the run date)
    f = case("future_charge")
    p = f.patient()
    f.proc(p, 100, days(-10))
    f.proc(p, 70, days(1))
    f.expected_total = 170
    cases.append((f, {p: _lifo((100, 0, 0, 0, 0), (100, 0, 0, 0, 0))}))

    # statuses: a treatment-planned procedure is no charge; received (1), supplemental (4), CapClaim (5)
    # and CapComplete (7) claimprocs are credits on DateCP; a NotReceived one (0) is an estimate only
    for status in (1, 4, 5, 7):
        f = case(f"claimproc_status_{status}")
        p = f.patient()
        proc = f.proc(p, 500, days(-100))
        f.proc(p, 300, days(-10), status=1)
        f.claimproc(p, proc, status, ins_pay_amt=200, write_off=50, date_cp=days(-20))
        cases.append((f, {p: _lifo((0, 0, 0, 250, 0), (0, 0, 0, 250, 0))}))

    # insurance paid through an insurance payment plan is counted by the plan, not twice
    f = case("insurance_payplan")
    p = f.patient()
    proc = f.proc(p, 500, days(-100))
    ins_plan = f.payplan(p, 300, 0, days(-50), plan_num=1, completed=300, debits=False)
    f.claimproc(p, proc, 1, ins_pay_amt=300, date_cp=days(-50), pay_plan=ins_plan)
    only_completed = (0, 0, 0, 200, 0)  # versions 1 and 4 credit the insurance plan's CompletedAmt
    cases.append((f, {p: {(lifo, v): only_completed if v in (1, 4) else (0, 0, 0, 500, 0) for lifo, v in SETTINGS}}))

    # a patient payment plan under each version, with bill-in-advance days (10): debits due by T+10
    f = case("patient_payplan_versions")
    p = f.patient()
    proc = f.proc(p, 1000, days(-100))
    plan = f.payplan(p, 0, 0, days(-100), completed=1000, debits=False)
    f.charge(plan, p, days(-100), 1000, charge_type=1, proc=proc[0])
    for day in (-70, -40, -10, 10, 11):
        f.charge(plan, p, days(day), 250, charge_type=0)
    f.pay(p, 250, days(-70), plan=plan)
    f.pay(p, 250, days(-40), plan=plan)
    by_version = {1: (0, 0, 0, 0, 500), 2: (250, 0, 0, 0, 500), 3: (0, 0, 0, 0, 500), 4: (0, 0, 0, 500, 500)}
    cases.append((f, {p: {(lifo, v): by_version[v] for lifo, v in SETTINGS}}))

    # a debit whose payment plan row is gone (payplancharge.PayPlanNum naming no plan, which OpenDental does not
    # prevent) ages nothing: version 2's amount is "WHEN pp.PlanNum=0 THEN ppc.Principal+ppc.Interest ELSE 0"
    # over "LEFT JOIN payplan pp", NULL there, so 0; PayPlanDue's debits "INNER JOIN payplan pp"
    # (Ledgers.GetTransQueryString, regions "PayPlan Version 2" and "PayPlan Charges")
    f = case("debit_of_a_deleted_plan")
    p = f.patient()
    f.proc(p, 100, days(-10))
    f.charge(f.key(), p, days(-40), 250, charge_type=0)
    cases.append((f, {p: {(lifo, v): (100, 0, 0, 0, 0) for lifo, v in SETTINGS}}))

    # a dynamic plan's link (AmountOverride 0) credits what its procedure still owes today, the fee less the
    # insurance of Received, Supplemental and CapComplete claimprocs as paid, InsPayAmt and WriteOff
    # (Ledgers.GetTransQueryString, PayPlanLinks: "claimproc.Status IN ({Received},{Supplemental},{CapComplete})
    # THEN claimproc.WriteOff"); the other statuses' estimates would be InsPayEst 0 and WriteOffEst -1 (none).
    # Fee 100, a CapComplete write-off of 40 (itself a credit of 40 on DateCP): the link credits 100 - 40 = 60,
    # so the procedure is settled (100 - 40 - 60); what is left is the plan's first debit, 30 on T-1, and
    # PayPlanDue 30. Were the link 100, the family would be 10 in credit and the debit's bucket 0.
    f = case("dynamic_payplan_capcomplete_writeoff")
    p = f.patient()
    proc = f.proc(p, 100, days(-61))
    f.claimproc(p, proc, 7, write_off=40, date_cp=days(-61), InsEstTotalOverride=-1, WriteOffEst=-1,
                WriteOffEstOverride=-1)
    f.dynamic_payplan(p, days(-1), 30, procs=(proc,))
    cases.append((f, {p: _v2((30, 0, 0, 0, 30), (30, 0, 0, 0, 30))}))

    # unearned money of a type hidden from the account ("Do Not Show on Account") is not aged
    f = case("hidden_unearned")
    p = f.patient()
    f.proc(p, 100, days(-10))
    f.pay(p, 50, days(-5), unearned=HIDDEN_UNEARNED_DEF)
    f.pay(p, 30, days(-5), unearned=VISIBLE_UNEARNED_DEF)
    cases.append((f, {p: _lifo((70, 0, 0, 0, 0), (70, 0, 0, 0, 0))}))
    return cases


CASES = _cases()


def _insert(cur, table: str, rows: list[dict]) -> None:
    for row in rows:
        columns = ", ".join(quote_pg(c) for c in row)
        cur.execute(f"INSERT INTO {quote_pg(RAW_SCHEMA)}.{quote_pg(table)} ({columns}) "
                    f"VALUES ({', '.join(['%s'] * len(row))})", list(row.values()))


def _write_raw(params: PgParams) -> None:
    rows: dict[str, list[dict]] = defaultdict(list)
    rows["definition"] = [
        {"DefNum": HIDDEN_UNEARNED_DEF, "Category": 29, "ItemName": "Treatment plan prepayment", "ItemValue": "X"},
        {"DefNum": VISIBLE_UNEARNED_DEF, "Category": 29, "ItemName": "Prepayment", "ItemValue": ""},
    ]
    for family, _ in CASES_AND_ESTIMATES:
        for table, table_rows in family.rows.items():
            rows[table].extend(table_rows)
    write_raw_rows(params, rows)


def _set_preferences(params: PgParams, lifo: int, version: int) -> None:
    conn = params.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"DELETE FROM {quote_pg(RAW_SCHEMA)}.preference")
            _insert(cur, "preference", [
                {"PrefNum": 1, "PrefName": "AgingProcLifo", "ValueString": str(lifo)},
                {"PrefNum": 2, "PrefName": "PayPlansVersion", "ValueString": str(version)},
                {"PrefNum": 3, "PrefName": "PayPlansBillInAdvanceDays", "ValueString": "10"},
            ])
    finally:
        conn.close()


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


@pytest.fixture(scope="module")
def aged(pg_module_url, tmp_path_factory) -> dict[tuple[int, int], dict[int, tuple]]:
    """Run-date aging per settings: {(AgingProcLifo, PayPlansVersion): {guarantor: (buckets..., total, due)}}."""
    params = PgParams.from_url(pg_module_url)
    _write_raw(params)
    target = tmp_path_factory.mktemp("dbt_target")
    results = {}
    selection = "+mart_ar_aging"
    for lifo, version in SETTINGS:
        _set_preferences(params, lifo, version)
        run_dbt(params, target, "run", "--select", selection, settings={"as_of_date": T.isoformat()})
        selection = "int_practice_settings int_aging_transactions mart_ar_aging"  # staging views stand
        results[(lifo, version)] = {
            row[0]: tuple(_money(v) for v in row[1:])
            for row in query_rows(params, """
                SELECT guarantor_id, balance_0_30, balance_31_60, balance_61_90, balance_over_90, pay_plan_due,
                       total_balance, insurance_pay_estimate, writeoff_estimate
                FROM marts.mart_ar_aging WHERE is_run_date""")
        }
    results["params"] = params
    return results


@pytest.mark.parametrize("family, expected", CASES, ids=[f.name for f, _ in CASES])
def test_opendental_aging_case(aged, family, expected):
    for guarantor, per_setting in expected.items():
        for setting, buckets in per_setting.items():
            got = aged[setting].get(guarantor)
            assert got is not None, (family.name, setting)
            want = tuple(_money(v) for v in buckets)
            assert got[:5] == want, (family.name, "AgingProcLifo/PayPlansVersion", setting, got[:5], want)
            if family.expected_total is not None:
                assert got[5] == _money(family.expected_total), (family.name, setting, got[5])
            else:  # OpenDental's test: BalTotal is the four buckets' sum (0 when all four are 0)
                assert got[5] == sum(want[:4]), (family.name, setting, got[5])


def test_opendental_estimates_of_not_received_claimprocs(aged):
    """LedgersTests ComputeAgingProcLifo_InsWoEst_And_InsPayEst and
    GetAgingGuarTransTable_IgnoreInsPayEstOnTpProcs: InsPayEst and the pending write-off of NotReceived
    claimprocs of complete procedures; a claimproc on a treatment-planned procedure is ignored."""
    assert ESTIMATE_CASES
    for (guarantor, want_pay, want_wo) in ESTIMATE_CASES:
        for setting in ((LIFO_YES, 2), (LIFO_NO, 2)):
            got = aged[setting][guarantor]
            assert (got[6], got[7]) == (_money(want_pay), _money(want_wo)), (guarantor, setting)


def _estimate_cases() -> list[tuple[Family, int, float, float]]:
    out = []
    for name, tp in (("InsWoEst_And_InsPayEst", False), ("IgnoreInsPayEstOnTpProcs", True)):
        f = Family(name, 100_000 + 1000 * len(out))
        p = f.patient()
        proc95 = f.proc(p, 1000, days(-95))
        f.claimproc(p, proc95, 0, ins_pay_est=800, write_off=200)
        proc85 = f.proc(p, 100, days(-85), status=1 if tp else 2)
        f.claimproc(p, proc85, 0, ins_pay_est=60, write_off=40)
        out.append((f, p, 800 if tp else 860, 200 if tp else 240))
    return out


_ESTIMATES = _estimate_cases()
ESTIMATE_CASES = [(p, pay, wo) for _, p, pay, wo in _ESTIMATES]
CASES_AND_ESTIMATES = CASES + [(f, {}) for f, *_ in _ESTIMATES]


def test_month_end_estimate_subtracts_the_pending_writeoff(aged):
    """Historic aging (a month end): a claim received after the month end was pending then, with its
    InsPayEst and its write-off; after it, the payment and write-off are credits on DateCP."""
    params = aged["params"]
    guarantor = MONTH_END_FAMILY.guarantors[0]
    got = {row[0]: tuple(_money(v) for v in row[1:]) for row in query_rows(params, f"""
        SELECT as_of_date, balance_31_60, balance_over_90, total_balance, insurance_pay_estimate,
               writeoff_estimate, patient_portion
        FROM marts.mart_ar_aging WHERE guarantor_id = {guarantor} AND as_of_date IN ('2019-06-30', '2019-07-31')""")}
    assert got[dt.date(2019, 6, 30)] == tuple(_money(v) for v in (1000, 0, 1000, 600, 200, 200))
    assert got[dt.date(2019, 7, 31)] == tuple(_money(v) for v in (0, 200, 200, 0, 0, 200))


def _month_end_family() -> Family:
    f = Family("month_end_writeoff", 110_000)
    p = f.patient()
    proc = f.proc(p, 1000, dt.date(2019, 5, 1))
    f.claimproc(p, proc, 1, ins_pay_est=600, write_off=200, ins_pay_amt=600, date_cp=dt.date(2019, 7, 15))
    return f


MONTH_END_FAMILY = _month_end_family()
CASES_AND_ESTIMATES.append((MONTH_END_FAMILY, {}))


def test_month_end_counts_its_own_day(aged):
    """Historic aging at a month end counts what is dated on the month end itself: the family's transactions
    "AND trans.TranDate <= "+asOfDateStr (Ledgers.GetAgingGuarTransQuery), and a Received claimproc is
    pending only when received after it, "(cp.Status = 0 OR (cp.Status = 1 AND cp.DateCP > "+asOfDateStr+"))"
    (Ledgers.GetTransQueryString). Columns: the four buckets, total, InsPayEst, write-off estimate, patient
    portion."""
    params = aged["params"]
    paid_on_the_day, received_on_the_day = (family.guarantors[0] for family in MONTH_END_DAY_FAMILIES)
    got = {(row[0], row[1]): tuple(_money(v) for v in row[2:]) for row in query_rows(params, f"""
        SELECT guarantor_id, as_of_date, balance_0_30, balance_31_60, balance_61_90, balance_over_90, total_balance,
               insurance_pay_estimate, writeoff_estimate, patient_portion
        FROM marts.mart_ar_aging
        WHERE guarantor_id IN ({paid_on_the_day}, {received_on_the_day}) AND NOT is_run_date""")}
    assert got == {
        # 100 charged 7/10, paid 100 on 7/31: nothing owed at 7/31 (June: no transaction yet, no row)
        (paid_on_the_day, dt.date(2019, 7, 31)): tuple(_money(v) for v in (0, 0, 0, 0, 0, 0, 0, 0)),
        # 100 charged 6/20, insurance received 7/31 paying 80 (InsPayEst 80): at 6/30 the claim is pending,
        # 100 aged 10 days, 80 estimated, the patient's 20; at 7/31 it is received: the 80 is a credit that
        # day, 20 left aged 41 days, nothing pending
        (received_on_the_day, dt.date(2019, 6, 30)): tuple(_money(v) for v in (100, 0, 0, 0, 100, 80, 0, 20)),
        (received_on_the_day, dt.date(2019, 7, 31)): tuple(_money(v) for v in (0, 20, 0, 0, 20, 0, 0, 20)),
    }


def _month_end_day_families() -> list[Family]:
    paid = Family("month_end_paid_on_the_day", 120_000)
    p = paid.patient()
    paid.proc(p, 100, dt.date(2019, 7, 10))
    paid.pay(p, 100, dt.date(2019, 7, 31))
    received = Family("month_end_received_on_the_day", 130_000)
    p = received.patient()
    proc = received.proc(p, 100, dt.date(2019, 6, 20))
    received.claimproc(p, proc, 1, ins_pay_est=80, ins_pay_amt=80, date_cp=dt.date(2019, 7, 31))
    return [paid, received]


MONTH_END_DAY_FAMILIES = _month_end_day_families()
CASES_AND_ESTIMATES.extend((family, {}) for family in MONTH_END_DAY_FAMILIES)

"""mart_production_daily and mart_collections_daily on hand-computed cases, against OpenDental 24.3's
Production and Income report itself (``OpenDentBusiness/Reports/RpProdInc.cs``, ``GetDailyProdIncDataSet``
and ``GetDailyData``), not against our generator's ledger (tests/test_marts_reconcile.py).

Every procedure status (only ``ProcStat.C`` = 2 is production), every claimproc status (capitation
write-offs: ``CapComplete`` = 7 only; PPO write-offs: ``Received`` 1 and ``Supplemental`` 4, plus
``NotReceived`` 0 by procedure date and claim date; insurance income: 1 and 4 on a check), the three
write-off date settings (``ReportsPPOwriteoffDefaultToProcDate``), the unearned types hidden from the report,
a reversed (negative) write-off, a refund, a split of no payment, OpenDental's sentinel date, and a
month's last day beside the next month's first. The expected figures are written out by hand below, each
with its reason; the SQL of the report is the only rule they follow. A tiny raw schema in a real PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from dbt_runner import DATA_ONLY, query_rows, replace_raw_rows, run_dbt, write_raw_rows
from dental_assets.warehouse import PgParams

MARCH_31, APRIL_1, APRIL_2 = "2026-03-31", "2026-04-01", "2026-04-02"  # a month's last day, the next two
NO_DATE = "0001-01-01"  # OpenDental's "no date": in no report's range
PREPAYMENT, HIDDEN_PREPAYMENT = 288, 289  # definition.DefNum, category 29 (PaySplitUnearnedType)
WRITEOFF_SETTING = "ReportsPPOwriteoffDefaultToProcDate"  # 0 insurance pay date, 1 procedure date, 2 claim date


def _procedure(num: int, status: int, date: str, fee: float, clinic: int = 1, provider: int = 1, units: int = 1,
               base_units: int = 0) -> dict:
    return {"ProcNum": num, "PatNum": 1, "CodeNum": 1, "ProcStatus": status, "ProcDate": date, "ProcFee": fee,
            "UnitQty": units, "BaseUnits": base_units, "ClinicNum": clinic, "ProvNum": provider}


def _claimproc(num: int, proc: int, status: int, write_off: float, paid: float = 0.0, date_cp: str = NO_DATE,
               proc_date: str = MARCH_31, check: int = 0) -> dict:
    return {"ClaimProcNum": num, "ProcNum": proc, "Status": status, "WriteOff": write_off, "InsPayAmt": paid,
            "DateCP": date_cp, "ProcDate": proc_date, "ClaimPaymentNum": check, "PatNum": 1, "PlanNum": 1,
            "ClaimNum": 1, "ClinicNum": 1, "ProvNum": 1}


def _split(num: int, payment: int, date: str, amount: float, clinic: int = 1, unearned: int = 0) -> dict:
    return {"SplitNum": num, "PayNum": payment, "DatePay": date, "SplitAmt": amount, "ClinicNum": clinic,
            "ProvNum": 1, "PatNum": 1, "UnearnedType": unearned}


def _rows() -> dict[str, list[dict]]:
    procedures = [
        _procedure(1, 2, MARCH_31, 100.00),
        _procedure(2, 2, APRIL_1, 45.50, units=2, base_units=1),  # 45.50 x (2 + 1) = 136.50
        _procedure(10, 2, MARCH_31, 300.00, clinic=2, provider=2),  # capitation: its write-off goes with it
        _procedure(11, 2, NO_DATE, 999.00),  # no date: no day
        # every other status on the same day, none of them production: 1 TP, 3 EC, 4 EO, 5 R, 6 D, 7 Cn, 8 TPi
        *[_procedure(100 + status, status, MARCH_31, 1000.00 + status) for status in (1, 3, 4, 5, 6, 7, 8)],
    ]
    claimprocs = [
        # CapComplete on procedure 10: on the procedure's day, clinic and provider, not its own copies
        _claimproc(1, 10, 7, 120.00, proc_date="2026-03-15"),
        _claimproc(2, 1, 8, 30.00),  # CapEstimate: no capitation write-off
        _claimproc(3, 1, 1, 40.00, paid=80.00, date_cp=APRIL_1, check=1),  # Received, paid on the check of 4/2
        _claimproc(4, 1, 4, 5.00, paid=12.00, date_cp=APRIL_1, check=1),  # Supplemental, on the same check
        # Supplemental reversing 20.00 of procedure 1's write-off (no payment, on no check): a negative write-off
        # counts, "AND (claimproc.WriteOff > '.0001' OR claimproc.WriteOff < -.0001)" (settings 0 and 1)
        _claimproc(12, 1, 4, -20.00, date_cp=APRIL_1),
        _claimproc(5, 10, 0, 15.00, paid=33.00, check=1),  # NotReceived: a write-off by procedure or claim date
        _claimproc(6, 2, 6, 60.00, paid=70.00, date_cp=APRIL_1, proc_date=APRIL_1, check=1),  # Estimate
        _claimproc(7, 2, 2, 7.00, paid=9.00, date_cp=APRIL_1, proc_date=APRIL_1, check=1),  # Preauth
        _claimproc(8, 2, 3, 3.00, paid=11.00, date_cp=APRIL_1, proc_date=APRIL_1, check=1),  # Adjustment
        _claimproc(9, 2, 1, 0.00, paid=50.00, date_cp=APRIL_1, proc_date=APRIL_1),  # Received, not on a check
        _claimproc(10, 2, 5, 4.00, paid=13.00, date_cp=APRIL_1, proc_date=APRIL_1, check=1),  # CapClaim
        _claimproc(11, 2, 9, 6.00, paid=14.00, date_cp=APRIL_1, proc_date=APRIL_1, check=1),  # InsHist
    ]
    snapshots = [  # the write-off estimate when the claim was made (setting 2)
        {"ClaimSnapshotNum": 1, "ClaimProcNum": 3, "DateTEntry": "2026-03-20 10:15:00", "Writeoff": 35.00},
        {"ClaimSnapshotNum": 2, "ClaimProcNum": 5, "DateTEntry": "2026-03-25 09:00:00", "Writeoff": 15.00},
        {"ClaimSnapshotNum": 3, "ClaimProcNum": 6, "DateTEntry": "2026-03-26 09:00:00", "Writeoff": 60.00},
        {"ClaimSnapshotNum": 4, "ClaimProcNum": 9, "DateTEntry": "2026-03-27 09:00:00", "Writeoff": -1.0},  # none
    ]
    return {
        "patient": [{"PatNum": 1, "Guarantor": 1}],
        "provider": [{"ProvNum": 1, "Abbr": "DOC1"}, {"ProvNum": 2, "Abbr": "DOC2"}],
        "procedurecode": [{"CodeNum": 1, "ProcCode": "D0120"}],
        "insplan": [{"PlanNum": 1, "CarrierNum": 1}],
        "carrier": [{"CarrierNum": 1}],
        "definition": [
            {"DefNum": 300, "Category": 1, "ItemName": "Discount"},  # an adjustment type
            {"DefNum": 70, "Category": 10, "ItemName": "Check"},  # a payment type
            {"DefNum": PREPAYMENT, "Category": 29, "ItemName": "Prepayment", "ItemValue": ""},
            {"DefNum": HIDDEN_PREPAYMENT, "Category": 29, "ItemName": "TP prepayment", "ItemValue": "X"},
        ],
        "procedurelog": procedures,
        "claimproc": claimprocs,
        "claimsnapshot": snapshots,
        "claimpayment": [{"ClaimPaymentNum": 1, "CheckDate": APRIL_2, "CheckAmt": 92.00}],
        "adjustment": [
            {"AdjNum": 1, "AdjDate": MARCH_31, "AdjAmt": -25.00, "ClinicNum": 1, "ProvNum": 1, "PatNum": 1,
             "AdjType": 300},
            {"AdjNum": 2, "AdjDate": APRIL_1, "AdjAmt": 10.00, "ClinicNum": 1, "ProvNum": 1, "PatNum": 1,
             "AdjType": 300},
            {"AdjNum": 3, "AdjDate": NO_DATE, "AdjAmt": 77.00, "ClinicNum": 1, "ProvNum": 1, "PatNum": 1,
             "AdjType": 300},
        ],
        "payment": [
            {"PayNum": 1, "PayDate": MARCH_31, "PayType": 70, "PayAmt": 95.00, "PatNum": 1},
            {"PayNum": 2, "PayDate": APRIL_1, "PayType": 70, "PayAmt": -10.00, "PatNum": 1},  # a refund
            {"PayNum": 3, "PayDate": APRIL_1, "PayType": 70, "PayAmt": 30.00, "PatNum": 1},
        ],
        "paysplit": [
            _split(1, 1, MARCH_31, 60.00),
            _split(2, 1, MARCH_31, 20.00, unearned=PREPAYMENT),  # unearned: income when received
            _split(3, 1, MARCH_31, 15.00, unearned=HIDDEN_PREPAYMENT),  # a type hidden from the report
            _split(4, 2, APRIL_1, -10.00),
            _split(5, 99, APRIL_1, 44.00),  # of no payment: the report's payment.PayDate filter drops it
            _split(6, 3, APRIL_1, 30.00, clinic=2),
        ],
    }


@pytest.fixture(scope="module")
def warehouse(pg_module_url, tmp_path_factory):
    """The rows above in raw, and both marts with everything they read built by dbt, with the tests of
    what was built (a relationship test to a model outside the selection is not run)."""
    params = PgParams.from_url(pg_module_url)
    write_raw_rows(params, _rows())
    target = tmp_path_factory.mktemp("dbt_target")
    run_dbt(params, target, "build", *DATA_ONLY, "--select", "+mart_production_daily", "+mart_collections_daily",
            "--indirect-selection", "cautious")
    return params, target


def _production(warehouse, setting: int) -> dict[tuple, tuple]:
    """mart_production_daily rebuilt under write-off date ``setting``: {(day, clinic, provider): (completed
    procedures, gross production, capitation write-offs, adjustments, adjustment amount, write-offs, net)}."""
    params, target = warehouse
    replace_raw_rows(params, "preference", [{"PrefNum": 1, "PrefName": WRITEOFF_SETTING, "ValueString": str(setting)}])
    run_dbt(params, target, "run", "--select", "int_practice_settings", "mart_production_daily")
    return {(str(day), clinic, provider): tuple(rest) for day, clinic, provider, *rest in query_rows(
        params, "SELECT production_date, clinic_id, provider_id, completed_procedure_count, gross_production, "
                "capitation_writeoffs, adjustment_count, adjustments, writeoffs, net_production "
                "FROM marts.mart_production_daily")}


def D(text: str) -> Decimal:
    return Decimal(text)


def test_production_by_insurance_payment_date(warehouse):
    """Setting 0 (OpenDental's default): PPO write-offs of Received and Supplemental claimprocs by DateCP."""
    assert _production(warehouse, 0) == {
        # procedure 1 (100.00); adjustment 1 (-25.00); the write-offs of its claimprocs are paid on 4/1
        (MARCH_31, 1, 1): (1, D("100.00"), D("0.00"), 1, D("-25.00"), D("0.00"), D("75.00")),
        # procedure 10 (300.00) less its CapComplete write-off (120.00), on its own day, clinic and provider
        (MARCH_31, 2, 2): (1, D("300.00"), D("120.00"), 0, D("0.00"), D("0.00"), D("180.00")),
        # procedure 2: 45.50 x 3 units = 136.50; adjustment 2 (+10.00); write-offs 40.00 (Received),
        # 5.00 (Supplemental) and -20.00 (claimproc 12's reversal) paid on 4/1: 136.50 + 10.00 - 25.00 = 121.50
        (APRIL_1, 1, 1): (1, D("136.50"), D("0.00"), 1, D("10.00"), D("25.00"), D("121.50")),
    }


def test_production_by_procedure_date(warehouse):
    """Setting 1: Received, Supplemental and NotReceived write-offs by the claimproc's ProcDate, clinic and
    provider."""
    assert _production(warehouse, 1) == {
        # 100.00 - 25.00 - (40.00 + 5.00 + 15.00 - 20.00): claimprocs 3, 4, 5 and 12, all dated 3/31 at clinic 1
        (MARCH_31, 1, 1): (1, D("100.00"), D("0.00"), 1, D("-25.00"), D("40.00"), D("35.00")),
        (MARCH_31, 2, 2): (1, D("300.00"), D("120.00"), 0, D("0.00"), D("0.00"), D("180.00")),
        (APRIL_1, 1, 1): (1, D("136.50"), D("0.00"), 1, D("10.00"), D("0.00"), D("146.50")),
    }


def test_production_by_claim_date(warehouse):
    """Setting 2: the snapshot's write-off estimate on the day the claim was made (the procedure's clinic,
    the claimproc's provider), then what insurance's final write-off changed, on DateCP."""
    assert _production(warehouse, 2) == {
        # claimproc 3's estimate of 35.00 when its claim was made (procedure 1: clinic 1)
        ("2026-03-20", 1, 1): (0, D("0.00"), D("0.00"), 0, D("0.00"), D("35.00"), D("-35.00")),
        # claimproc 5 (NotReceived) estimated 15.00: procedure 10's clinic 2, the claimproc's provider 1
        ("2026-03-25", 2, 1): (0, D("0.00"), D("0.00"), 0, D("0.00"), D("15.00"), D("-15.00")),
        (MARCH_31, 1, 1): (1, D("100.00"), D("0.00"), 1, D("-25.00"), D("0.00"), D("75.00")),
        (MARCH_31, 2, 2): (1, D("300.00"), D("120.00"), 0, D("0.00"), D("0.00"), D("180.00")),
        # on 4/1: claimproc 3's final 40.00 less its estimate 35.00, Supplemental 4's 5.00 and 12's -20.00 (no
        # snapshot): 136.50 + 10.00 - (-10.00); claimproc 9's estimate of -1 is none, and its final write-off 0.00
        (APRIL_1, 1, 1): (1, D("136.50"), D("0.00"), 1, D("10.00"), D("-10.00"), D("156.50")),
    }


def test_collections_by_payment_and_check_date(warehouse):
    """Patient income: the splits of payments by DatePay, unearned ones included, the hidden unearned type
    and a split of no payment left out, a refund negative. Insurance income: Received and Supplemental
    claimprocs on a check, by the check's CheckDate (not DateCP); every other status, and a payment not
    on a check, is no income."""
    params, _ = warehouse
    got = {(str(day), clinic): tuple(rest) for day, clinic, *rest in query_rows(
        params, "SELECT collection_date, clinic_id, paysplit_count, insurance_claimproc_count, patient_payments, "
                "insurance_payments, total_collections FROM marts.mart_collections_daily")}
    assert got == {
        (MARCH_31, 1): (2, 0, D("80.00"), D("0.00"), D("80.00")),  # splits 1 (60.00) and 2 (20.00)
        (APRIL_1, 1): (1, 0, D("-10.00"), D("0.00"), D("-10.00")),  # the refund
        (APRIL_1, 2): (1, 0, D("30.00"), D("0.00"), D("30.00")),
        (APRIL_2, 1): (0, 2, D("0.00"), D("92.00"), D("92.00")),  # claimprocs 3 (80.00) and 4 (12.00)
    }

"""fct_treatment_journey reads every feature as of the decision date, on a hand-made practice.

OpenDental moves a completed procedure's ProcDate to the day it was completed; a procedure still planned
keeps the day it was planned. Features read at ProcDate were taken after the decision for accepted rows
only (a label leak for target_accepted). The model reads them at decision_date: procedurelog.DateTP when
set and not after ProcDate, else ProcDate (docs/journey.md).

The case, written by hand (D1 = the day of planning, days counted from it):
- patient 1, born so that they turn 40 on D1+14; first visit D1-200 (a completed appointment), the exam
  that planned the crown on D1 (completed), a completed appointment on D1+10, a broken one on D1+12, the
  crown done on D1+30 (completed appointment; procedurelog ProcDate D1+30, DateTP D1, ProcStatus 2);
- the fee of the crown in the patient's fee schedule: $100 from D1-100, $150 from D1+15 (SecDateTEdit of
  the changed fee row: the snapshot sees two versions); ProcFee $120;
- patient 1's coverage (patplan, inssub, carrier 1's plan) added on D1+20 (DateEffective and SecDateTEdit);
- patient 2, of patient 1's family, first seen on D1+5;
- carrier 1's claims (patient 3's): received D1-50 after 20 days, $80 paid of $100 estimated; received D1+5
  after 10 days, $100 of $100;
- patient 3, covered by carrier 1 since D1-400, has a crown planned D1 and done D1+30.
Each procedure's expected features are written from these dates, at D1 (the decision) and, for the
planted bug, at D1+30 (the completion).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import defaultdict
from decimal import Decimal

import pytest

from dbt_runner import DBT_DIR, query_rows, replace_raw_rows, run_dbt, write_raw_rows
from dental_assets.warehouse import PgParams

D1 = dt.date(2025, 3, 1)  # the day the crown was planned
AS_OF = D1 + dt.timedelta(days=200)  # every target known (90 days after D1+30)
TP, C = 1, 2  # procedurelog.ProcStatus: treatment planned, complete
COMPLETE, BROKEN = 2, 5  # appointment.AptStatus
CROWN = 1  # CodeNum
FEE_SCHED = 1
SENTINEL = dt.date(1, 1, 1)  # OpenDental's "no date"
# ProcNum of each case
ACCEPTED = 1  # planned D1, completed D1+30
DATE_TP_LATE = 2  # completed D1+30 with a DateTP after it (D1+35): bad data, falls back to ProcDate
DATE_TP_MISSING = 3  # completed D1+30 without a DateTP: falls back to ProcDate
STILL_PLANNED = 4  # planned D1, not done (unscheduled: ProcDate D1)
COVERED = 5  # patient 3's crown, planned D1 and done D1+30, under carrier 1 all along

FEATURES = ("decision_date", "decision_date_fallback", "patient_age_years", "has_insurance", "coverage_count",
            "standard_fee", "fee_ratio", "carrier_id", "carrier_median_days_to_payment",
            "carrier_estimate_accuracy", "prior_visit_count", "prior_broken_count", "days_since_last_visit",
            "days_since_first_visit", "family_size", "procedure_date", "target_accepted")


def day(n: int) -> dt.date:
    return D1 + dt.timedelta(days=n)


def at(n: int) -> dt.datetime:
    """A time on day D1+n (SecDateTEdit, AptDateTime), 09:00."""
    return dt.datetime.combine(day(n), dt.time(9))


# Patient 1's features on D1 (the decision) and on D1+30 (the completion, what ProcDate gave), written from
# the case above. Days are calendar days; fees in dollars.
PATIENT_1_AT_DECISION = {
    "patient_age_years": 39,  # turns 40 on D1+14
    "has_insurance": False, "coverage_count": 0,  # coverage added D1+20
    "standard_fee": Decimal("100.00"), "fee_ratio": Decimal("1.2000"),  # $120 / $100; $150 from D1+15
    "carrier_id": None, "carrier_median_days_to_payment": None, "carrier_estimate_accuracy": None,
    "prior_visit_count": 1, "prior_broken_count": 0,  # D1-200 only (D1's exam is not before D1)
    "days_since_last_visit": 200, "days_since_first_visit": 200,
    "family_size": 1,  # patient 2 first seen D1+5
}
PATIENT_1_AT_COMPLETION = {
    "patient_age_years": 40,
    "has_insurance": True, "coverage_count": 1,
    "standard_fee": Decimal("150.00"), "fee_ratio": Decimal("0.8000"),
    "carrier_id": 1, "carrier_median_days_to_payment": 15.0,  # claims after 20 and 10 days
    "carrier_estimate_accuracy": 0.9,  # (80 + 100) / (100 + 100)
    "prior_visit_count": 3, "prior_broken_count": 1,  # D1-200, D1, D1+10; broken D1+12
    "days_since_last_visit": 20, "days_since_first_visit": 230,
    "family_size": 2,
}
EXPECTED = {
    ACCEPTED: {**PATIENT_1_AT_DECISION, "decision_date": D1, "decision_date_fallback": False,
               "procedure_date": day(30), "target_accepted": True},
    STILL_PLANNED: {**PATIENT_1_AT_DECISION, "decision_date": D1, "decision_date_fallback": False,
                    "procedure_date": D1, "target_accepted": False},
    DATE_TP_LATE: {**PATIENT_1_AT_COMPLETION, "decision_date": day(30), "decision_date_fallback": True,
                   "procedure_date": day(30), "target_accepted": True},
    DATE_TP_MISSING: {**PATIENT_1_AT_COMPLETION, "decision_date": day(30), "decision_date_fallback": True,
                      "procedure_date": day(30), "target_accepted": True},
    COVERED: {"decision_date": D1, "decision_date_fallback": False, "has_insurance": True, "coverage_count": 1,
              "carrier_id": 1,
              "carrier_median_days_to_payment": 20.0,  # only the claim received D1-50 is before D1
              "carrier_estimate_accuracy": 0.8,  # 80 / 100
              "procedure_date": day(30), "target_accepted": True},
}


def practice() -> dict[str, list[dict]]:
    """The raw rows of the case (the fee's first version: $100 from D1-100)."""
    rows: dict[str, list[dict]] = defaultdict(list)
    rows["procedurecode"] = [{"CodeNum": CROWN, "ProcCode": "D2740"}]
    rows["provider"] = [{"ProvNum": 1, "Abbr": "DOC1", "FeeSched": 0}]
    rows["carrier"] = [{"CarrierNum": 1, "CarrierName": "Carrier One"}]
    rows["fee"] = [fee_row(100, at(-100))]
    rows["patient"] = [
        {"PatNum": 1, "Guarantor": 1, "LName": "Case", "FName": "One", "Birthdate": dt.date(1985, 3, 15),
         "FeeSched": FEE_SCHED, "DateFirstVisit": day(-200), "PriProv": 1},
        {"PatNum": 2, "Guarantor": 1, "LName": "Case", "FName": "Two", "Birthdate": dt.date(2015, 6, 1),
         "FeeSched": FEE_SCHED, "DateFirstVisit": day(5), "PriProv": 1},
        {"PatNum": 3, "Guarantor": 3, "LName": "Case", "FName": "Three", "Birthdate": dt.date(1970, 1, 1),
         "FeeSched": FEE_SCHED, "DateFirstVisit": day(-400), "PriProv": 1},
    ]
    for apt, (n, status) in enumerate([(-200, COMPLETE), (0, COMPLETE), (10, COMPLETE), (12, BROKEN),
                                       (30, COMPLETE)], start=1):
        rows["appointment"].append({"AptNum": apt, "PatNum": 1, "AptStatus": status, "AptDateTime": at(n),
                                    "Pattern": "XXXX", "ProvNum": 1})
    for num, pat, status, proc_date, date_tp, apt in [
        (ACCEPTED, 1, C, day(30), D1, 5),
        (DATE_TP_LATE, 1, C, day(30), day(35), 5),
        (DATE_TP_MISSING, 1, C, day(30), SENTINEL, 5),
        (STILL_PLANNED, 1, TP, D1, D1, 0),
        (COVERED, 3, C, day(30), D1, 0),
    ]:
        rows["procedurelog"].append({"ProcNum": num, "PatNum": pat, "CodeNum": CROWN, "ProcStatus": status,
                                     "ProcDate": proc_date, "DateTP": date_tp, "ProcFee": 120, "UnitQty": 1,
                                     "AptNum": apt, "ProvNum": 1})
    # carrier 1's plan since D1-400; patient 3 covered since then, patient 1 from D1+20
    rows["insplan"] = [{"PlanNum": 1, "CarrierNum": 1, "SecDateTEdit": at(-400)}]
    for sub, pat, start in ((1, 3, -400), (2, 1, 20)):
        rows["inssub"].append({"InsSubNum": sub, "PlanNum": 1, "Subscriber": pat, "DateEffective": day(start),
                               "SecDateTEdit": at(start)})
        rows["patplan"].append({"PatPlanNum": sub, "PatNum": pat, "InsSubNum": sub, "Ordinal": 1,
                                "SecDateTEdit": at(start)})
    # carrier 1's received claims: (sent, received, estimated, paid)
    for claim, (sent, received, estimate, paid) in enumerate([(-70, -50, 100, 80), (-5, 5, 100, 100)], start=1):
        rows["claim"].append({"ClaimNum": claim, "PatNum": 3, "PlanNum": 1, "InsSubNum": 1, "ClaimType": "P",
                              "ClaimStatus": "R", "DateService": day(sent), "DateSent": day(sent),
                              "DateReceived": day(received), "InsPayEst": estimate, "InsPayAmt": paid})
        rows["claimproc"].append({"ClaimProcNum": claim, "ClaimNum": claim, "PatNum": 3, "PlanNum": 1, "Status": 1,
                                  "InsPayEst": estimate, "InsPayAmt": paid, "DateCP": day(received)})
    return rows


def fee_row(amount: float, edited: dt.datetime) -> dict:
    """The crown's fee in the patient's fee schedule (no clinic, no provider), last edited at ``edited``."""
    return {"FeeNum": 1, "FeeSched": FEE_SCHED, "CodeNum": CROWN, "ClinicNum": 0, "ProvNum": 0, "Amount": amount,
            "SecDateTEdit": edited}


def features(params: PgParams) -> dict[int, dict]:
    rows = query_rows(params, f"SELECT procedure_id, {', '.join(FEATURES)} FROM marts.fct_treatment_journey")
    return {row[0]: dict(zip(FEATURES, row[1:])) for row in rows}


@pytest.fixture(scope="module")
def journey(pg_module_url, tmp_path_factory):
    """The case built: the practice with the fee at $100, its snapshots, then the fee review of D1+15
    ($150, a new SecDateTEdit) snapshotted as a second version, and the model built on them."""
    params = PgParams.from_url(pg_module_url)
    write_raw_rows(params, practice())
    target = tmp_path_factory.mktemp("dbt_target")
    settings = {"as_of_date": AS_OF.isoformat()}
    run_dbt(params, target, "build", "--select", "+fct_treatment_journey", "--exclude", "test_type:data",
            "test_type:unit", settings=settings)
    replace_raw_rows(params, "fee", [fee_row(150, at(15))])
    run_dbt(params, target, "snapshot", "--select", "snap_opendental__fee", settings=settings)
    run_dbt(params, target, "run", "--select", "fct_treatment_journey", settings=settings)
    return params, target, features(params)


def test_the_fee_has_two_versions(journey):
    """The case's premise: the fee snapshot holds $100 until D1+15 and $150 from then."""
    params, _, _ = journey
    versions = query_rows(params, "SELECT amount, dbt_valid_from, dbt_valid_to FROM snapshots.snap_opendental__fee "
                                  "ORDER BY dbt_valid_from")
    assert [(float(a), f, t) for a, f, t in versions] == [(100.0, at(-100), at(15)), (150.0, at(15), None)]


@pytest.mark.parametrize("procedure", sorted(EXPECTED))
def test_features_are_those_of_the_decision_date(journey, procedure):
    """Each procedure's features are the values on its decision date: the accepted crown's are those of
    D1, when it was planned, the same as the crown still planned from that day; a DateTP after ProcDate,
    or none, falls back to ProcDate. target_accepted is unchanged (ProcStatus 2)."""
    _, _, rows = journey
    got = {name: rows[procedure][name] for name in EXPECTED[procedure]}
    assert got == EXPECTED[procedure]


def test_accepted_and_still_planned_are_read_alike(journey):
    """The leak closed: two crowns planned the same day, one done a month later and one not, have the
    same features; only the targets and procedure_date (not written to the file) tell them apart."""
    _, _, rows = journey
    same = [name for name in FEATURES if name not in ("procedure_date", "target_accepted")]
    assert {n: rows[ACCEPTED][n] for n in same} == {n: rows[STILL_PLANNED][n] for n in same}
    assert rows[ACCEPTED]["target_accepted"] is True and rows[STILL_PLANNED]["target_accepted"] is False


PLANTED_BUG = (
    "        case when date_tp <= procedure_date then date_tp else procedure_date end as decision_date,\n",
    "        procedure_date                                              as decision_date,\n",
)


def test_features_read_at_the_procedure_date_fail_the_case(journey, tmp_path):
    """The detector works: the same model with decision_date = procedure_date (the old behaviour), built
    on the same warehouse, gives the accepted crown its features of the completion day (D1+30), which
    the expectations above reject; the real model is built again afterwards."""
    params, target, honest = journey
    project = tmp_path / "dental_dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    model = project / "models" / "marts" / "fct_treatment_journey.sql"
    text = model.read_text()
    assert text.count(PLANTED_BUG[0]) == 1
    model.write_text(text.replace(*PLANTED_BUG))
    settings = {"as_of_date": AS_OF.isoformat()}
    try:
        run_dbt(params, tmp_path / "leaky_target", "run", "--select", "fct_treatment_journey", project=project,
                settings=settings)
        leaky = features(params)
    finally:
        run_dbt(params, target, "run", "--select", "fct_treatment_journey", settings=settings)
    assert {n: leaky[ACCEPTED][n] for n in PATIENT_1_AT_COMPLETION} == PATIENT_1_AT_COMPLETION
    assert {n: leaky[ACCEPTED][n] for n in EXPECTED[ACCEPTED]} != EXPECTED[ACCEPTED]
    moved = sorted(n for n in PATIENT_1_AT_DECISION if leaky[ACCEPTED][n] != EXPECTED[ACCEPTED][n])
    assert moved == sorted(PATIENT_1_AT_DECISION)  # every feature of the case tells the two dates apart
    assert features(params) == honest

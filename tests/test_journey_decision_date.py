"""fct_treatment_journey reads every feature as of the decision date, on a hand-made practice.

OpenDental moves a completed procedure's ProcDate to the day it was completed; a procedure still planned
keeps the day it was planned. Features read at ProcDate were taken after the decision for accepted rows
only (a label leak for target_accepted). The model reads them at decision_date: procedurelog.DateTP when
set and not after ProcDate, else ProcDate (docs/journey.md).

The features computed from many patients' rows, and the age, are read per calendar year of the decision
date, so that no value changes at a date shared across patients finer than the year (the de-identified
files must not date a row; docs/journey.md, "De-identification"): the carrier's statistics are those of
its claims received in the calendar year before the decision's year (NULL with fewer than 10 claims), and
the age is the year of the decision date minus the year of birth.

The case, written by hand (D1 = the day of planning, 2024-12-10, days counted from it; the crown is
completed on D1+30, in the next year, so that the yearly features differ between the two dates too):
- patient 1, born 1985-12-20 (turns 39 on D1+10: 39 in the year of D1, 40 in the next; the whole years
  at D1 are 38); first visit D1-200 (a completed appointment), the exam that planned the crown on D1
  (completed), a completed appointment on D1+10, a broken one on D1+12, the crown done on D1+30 (completed
  appointment; procedurelog ProcDate D1+30, DateTP D1, ProcStatus 2);
- the fee of the crown in the patient's fee schedule: $100 from D1-400, $150 from D1+15 (SecDateTEdit of
  the changed fee row: the snapshot sees two versions); ProcFee $120;
- patient 1's coverage (patplan, inssub, carrier 1's plan) added on D1+20 (DateEffective and SecDateTEdit);
- patient 2, of patient 1's family, first seen on D1+5;
- carrier 1's received claims (patient 3's; its plan known since D1-700): ten received 2023-06-01 to
  2023-06-10 after 21 to 30 days, $70 paid of $100 estimated each (median 25.5, accuracy 0.7); in D1's
  year, five received D1-50 after 20 days, $80 of $100, and five received D1+5 after 10 days, $100 of
  $100 (median 15, accuracy 0.9; the five of D1-50 alone, the 365 days before D1: 20 and 0.8);
- patient 3, born 1970-12-31 (54 in D1's year, 53 whole years at D1), covered by carrier 1 since D1-400,
  has a crown planned D1 and done D1+30, and one planned D1+20 and not done;
- carrier 2's nine claims received in 2023 (fewer than 10), and patient 4, covered by it since D1-400,
  with a crown planned D1.
Each procedure's expected features are written from these dates, at D1 (the decision) and, for the
planted bug, at D1+30 (the completion).

The same warehouse runs the hand-made dbt unit tests of dental_dbt/models/marts/_journey__unit_tests.yml:
broken-appointment charges (D9986, D9987: AppointmentL.BreakApptHelper) are not rows of the journey, a
completed procedure charged $0 or less has its paid targets NULL (nothing to collect), and the patient
scores that read them (payment_history, treatment_acceptance) follow; each old rule, planted alone in a
copy of the project, fails its unit test.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections import defaultdict
from decimal import Decimal

import pytest

from dbt_runner import DBT_DIR, query_rows, replace_raw_rows, run_dbt, write_raw_rows
from dental_assets.warehouse import PgParams

D1 = dt.date(2024, 12, 10)  # the day the crown was planned (the completion, D1+30, is in the next year)
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
LATER_SAME_YEAR = 6  # patient 3's crown planned D1+20 (after ten of carrier 1's claims of D1's year), not done
SMALL_CARRIER = 7  # patient 4's crown planned D1, under carrier 2 (nine claims the year before)
CARRIER_YEAR_BEFORE = (25.5, 0.7)  # carrier 1's claims of 2023: median days to payment, paid / estimated
CARRIER_YEAR_OF_D1 = (15.0, 0.9)  # its claims of 2024 (D1's year), what the decisions of 2025 read

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
    "patient_age_years": 39,  # 2024 - 1985 (turns 39 on D1+10: whole years at D1, 38, are not written)
    "has_insurance": False, "coverage_count": 0,  # coverage added D1+20
    "standard_fee": Decimal("100.00"), "fee_ratio": Decimal("1.2000"),  # $120 / $100; $150 from D1+15
    "carrier_id": None, "carrier_median_days_to_payment": None, "carrier_estimate_accuracy": None,
    "prior_visit_count": 1, "prior_broken_count": 0,  # D1-200 only (D1's exam is not before D1)
    "days_since_last_visit": 200, "days_since_first_visit": 200,
    "family_size": 1,  # patient 2 first seen D1+5
}
PATIENT_1_AT_COMPLETION = {
    "patient_age_years": 40,  # 2025 - 1985
    "has_insurance": True, "coverage_count": 1,
    "standard_fee": Decimal("150.00"), "fee_ratio": Decimal("0.8000"),
    "carrier_id": 1,  # carrier 1's claims of 2024: five after 20 days, five after 10; (5 x 80 + 5 x 100) / 1000
    "carrier_median_days_to_payment": CARRIER_YEAR_OF_D1[0], "carrier_estimate_accuracy": CARRIER_YEAR_OF_D1[1],
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
    # carrier 1's claims of 2023 only: the five received D1-50 are of D1's own year (a window of the 365
    # days before D1 took them: 20.0 and 0.8)
    COVERED: {"decision_date": D1, "decision_date_fallback": False, "patient_age_years": 54,  # 2024 - 1970
              "has_insurance": True, "coverage_count": 1, "carrier_id": 1,
              "carrier_median_days_to_payment": CARRIER_YEAR_BEFORE[0],
              "carrier_estimate_accuracy": CARRIER_YEAR_BEFORE[1],
              "procedure_date": day(30), "target_accepted": True},
    # later in the same year, after ten more claims were received: the same carrier values (the 365 days
    # before D1+20 gave 15.0 and 0.9); the fee is the one on the date ($150 from D1+15)
    LATER_SAME_YEAR: {"decision_date": day(20), "decision_date_fallback": False, "patient_age_years": 54,
                      "has_insurance": True, "coverage_count": 1, "carrier_id": 1,
                      "carrier_median_days_to_payment": CARRIER_YEAR_BEFORE[0],
                      "carrier_estimate_accuracy": CARRIER_YEAR_BEFORE[1],
                      "standard_fee": Decimal("150.00"), "fee_ratio": Decimal("0.8000"),
                      "procedure_date": day(20), "target_accepted": False},
    # carrier 2 received nine claims the year before: too few for its statistics
    SMALL_CARRIER: {"decision_date": D1, "has_insurance": True, "carrier_id": 2,
                    "carrier_median_days_to_payment": None, "carrier_estimate_accuracy": None},
}


def practice() -> dict[str, list[dict]]:
    """The raw rows of the case (the fee's first version: $100 from D1-100)."""
    rows: dict[str, list[dict]] = defaultdict(list)
    rows["procedurecode"] = [{"CodeNum": CROWN, "ProcCode": "D2740"}]
    rows["provider"] = [{"ProvNum": 1, "Abbr": "DOC1", "FeeSched": 0}]
    rows["carrier"] = [{"CarrierNum": 1, "CarrierName": "Carrier One"}, {"CarrierNum": 2, "CarrierName": "Carrier Two"}]
    rows["fee"] = [fee_row(100, at(-400))]
    rows["patient"] = [
        {"PatNum": 1, "Guarantor": 1, "LName": "Case", "FName": "One", "Birthdate": dt.date(1985, 12, 20),
         "FeeSched": FEE_SCHED, "DateFirstVisit": day(-200), "PriProv": 1},
        {"PatNum": 2, "Guarantor": 1, "LName": "Case", "FName": "Two", "Birthdate": dt.date(2015, 6, 1),
         "FeeSched": FEE_SCHED, "DateFirstVisit": day(5), "PriProv": 1},
        {"PatNum": 3, "Guarantor": 3, "LName": "Case", "FName": "Three", "Birthdate": dt.date(1970, 12, 31),
         "FeeSched": FEE_SCHED, "DateFirstVisit": day(-400), "PriProv": 1},
        {"PatNum": 4, "Guarantor": 4, "LName": "Case", "FName": "Four", "Birthdate": dt.date(1980, 1, 1),
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
        (LATER_SAME_YEAR, 3, TP, day(20), day(20), 0),
        (SMALL_CARRIER, 4, TP, D1, D1, 0),
    ]:
        rows["procedurelog"].append({"ProcNum": num, "PatNum": pat, "CodeNum": CROWN, "ProcStatus": status,
                                     "ProcDate": proc_date, "DateTP": date_tp, "ProcFee": 120, "UnitQty": 1,
                                     "AptNum": apt, "ProvNum": 1})
    # carrier 1's plan 1 and carrier 2's plan 2, known since D1-700; patients 3 (plan 1) and 4 (plan 2) covered
    # since D1-400, patient 1 (plan 1) from D1+20
    rows["insplan"] = [{"PlanNum": plan, "CarrierNum": plan, "SecDateTEdit": at(-700)} for plan in (1, 2)]
    for sub, pat, plan, start in ((1, 3, 1, -400), (2, 1, 1, 20), (3, 4, 2, -400)):
        rows["inssub"].append({"InsSubNum": sub, "PlanNum": plan, "Subscriber": pat, "DateEffective": day(start),
                               "SecDateTEdit": at(start)})
        rows["patplan"].append({"PatPlanNum": sub, "PatNum": pat, "InsSubNum": sub, "Ordinal": 1,
                                "SecDateTEdit": at(start)})
    # the received claims: (patient, plan, subscription, received on, days to payment, estimated, paid)
    june = dt.date(2023, 6, 1)
    claims = ([(3, 1, 1, june + dt.timedelta(days=i), 21 + i, 100, 70) for i in range(10)]
              + [(3, 1, 1, day(-50), 20, 100, 80)] * 5 + [(3, 1, 1, day(5), 10, 100, 100)] * 5
              + [(4, 2, 3, june + dt.timedelta(days=i), 30, 100, 50) for i in range(9)])
    for claim, (pat, plan, sub, received, days, estimate, paid) in enumerate(claims, start=1):
        sent = received - dt.timedelta(days=days)
        rows["claim"].append({"ClaimNum": claim, "PatNum": pat, "PlanNum": plan, "InsSubNum": sub, "ClaimType": "P",
                              "ClaimStatus": "R", "DateService": sent, "DateSent": sent,
                              "DateReceived": received, "InsPayEst": estimate, "InsPayAmt": paid})
        rows["claimproc"].append({"ClaimProcNum": claim, "ClaimNum": claim, "PatNum": pat, "PlanNum": plan,
                                  "Status": 1, "InsPayEst": estimate, "InsPayAmt": paid, "DateCP": received})
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
    assert [(float(a), f, t) for a, f, t in versions] == [(100.0, at(-400), at(15)), (150.0, at(15), None)]


@pytest.mark.parametrize("procedure", sorted(EXPECTED))
def test_features_are_those_of_the_decision_date(journey, procedure):
    """Each procedure's features are the values on its decision date: the accepted crown's are those of
    D1, when it was planned, the same as the crown still planned from that day; a DateTP after ProcDate,
    or none, falls back to ProcDate. target_accepted is unchanged (ProcStatus 2)."""
    _, _, rows = journey
    got = {name: rows[procedure][name] for name in EXPECTED[procedure]}
    assert got == EXPECTED[procedure]


def test_a_year_reads_one_carrier_history_and_age(journey):
    """The features that many patients' rows share, or that bracket a birthday, change only on January 1:
    patient 3's two decisions of D1's year, before and after ten of carrier 1's claims were received and
    on either side of their birthday's month, read the same carrier values (its claims of the year
    before) and the same age (the year minus the year of birth; whole years at the date are 53); a carrier
    with fewer than 10 claims that year has none."""
    _, _, rows = journey
    yearly = ("carrier_id", "carrier_median_days_to_payment", "carrier_estimate_accuracy", "patient_age_years")
    assert {n: rows[COVERED][n] for n in yearly} == {n: rows[LATER_SAME_YEAR][n] for n in yearly} == {
        "carrier_id": 1, "carrier_median_days_to_payment": CARRIER_YEAR_BEFORE[0],
        "carrier_estimate_accuracy": CARRIER_YEAR_BEFORE[1], "patient_age_years": 54}
    assert rows[SMALL_CARRIER]["carrier_id"] == 2
    assert rows[SMALL_CARRIER]["carrier_median_days_to_payment"] is None
    assert rows[SMALL_CARRIER]["carrier_estimate_accuracy"] is None


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


# ------------------------------------------------------------------ broken-appointment charges, $0 charges

UNIT_TESTS = "path:models/marts/_journey__unit_tests.yml"
JOURNEY_UNIT_TEST = "fct_treatment_journey::journey_leaves_out_broken_appointment_charges"
SCORES_UNIT_TEST = "mart_patient_scores::scores_pay_and_accept_without_broken_charges"
_FULLY_PAID_KNOWN = "{{ journey_known_days('target_fully_paid') }}"
_PAID_30D_KNOWN = "{{ journey_known_days('target_paid_30d') }}"
# Each old rule, planted alone in a copy of the project: (model file, the rule now, the old rule, the unit
# test it must fail). OpenDental charts a completed D9986 (Missed) or D9987 (Cancelled) when it breaks an
# appointment (OpenDental/Logic/AppointmentL.cs, BreakApptHelper) and counts completed procedures without
# them (OpenDentBusiness/Data Interface/Procedures.cs, GetCountPatsComplete).
OLD_RULES = {
    "broken_appointment_charges_are_rows": (
        "fct_treatment_journey.sql", "        and coalesce(procedure_code, '') not in ('D9986', 'D9987')\n", "",
        JOURNEY_UNIT_TEST),
    "zero_charge_is_paid": (
        "fct_treatment_journey.sql",
        "        case when procedures.proc_status = 2 and procedures.procedure_charge > 0\n"
        f"                and procedures.procedure_date <= run_date.as_of_date - {_FULLY_PAID_KNOWN}\n",
        "        case when procedures.proc_status = 2\n"
        f"                and procedures.procedure_date <= run_date.as_of_date - {_FULLY_PAID_KNOWN}\n",
        JOURNEY_UNIT_TEST),
    "zero_charge_is_paid_within_30_days": (
        "fct_treatment_journey.sql",
        "        case when procedures.proc_status = 2 and procedures.procedure_charge > 0\n"
        f"                and procedures.procedure_date <= run_date.as_of_date - {_PAID_30D_KNOWN}\n",
        "        case when procedures.proc_status = 2\n"
        f"                and procedures.procedure_date <= run_date.as_of_date - {_PAID_30D_KNOWN}\n",
        JOURNEY_UNIT_TEST),
    "payment_history_counts_accepted_rows": (
        "mart_patient_scores.sql", "    where journey.target_paid_30d is not null\n",
        "    where journey.target_accepted\n", SCORES_UNIT_TEST),
    "acceptance_counts_broken_charges": (
        "mart_patient_scores.sql",
        "        and coalesce(procedures.procedure_code, '') not in ('D9986', 'D9987')\n", "", SCORES_UNIT_TEST),
}


def unit_test_results(output: str) -> dict[str, str]:
    """{model::unit test: PASS or FAIL} from dbt's console messages."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    return {name: status for status, name in
            re.findall(r"\d+ of \d+ (PASS|FAIL|ERROR)(?: \d+)? ([a-z_]+::[a-z_]+)", plain)}


@pytest.fixture(scope="module")
def unit_ready(journey):
    """The case's warehouse with every model the unit tests' inputs name (dbt reads their columns):
    mart_patient_scores also reads int_patients, which the journey does not."""
    params, target, _ = journey
    run_dbt(params, target, "run", "--select", "int_patients")
    return params, target


def test_journey_unit_tests_pass(unit_ready):
    """The hand-made unit tests: a D9986 and a D9987 (one of them charged $50) are not rows; a $0 and a
    -$20 completed procedure are accepted with NULL paid targets, the $0 one's insurance accuracy (its
    carrier paid $0 of $0 estimated) still defined; a $100 crown paid in 5 days is paid, one never paid
    is not; payment_history counts the rows whose target_paid_30d is known (30 days, not target_accepted's
    90) and treatment_acceptance leaves out a $50 missed-appointment charge."""
    params, target = unit_ready
    output = run_dbt(params, target, "test", "--select", UNIT_TESTS)
    assert unit_test_results(output) == {JOURNEY_UNIT_TEST: "PASS", SCORES_UNIT_TEST: "PASS"}


@pytest.mark.parametrize("old_rule", sorted(OLD_RULES))
def test_each_old_rule_fails_its_unit_test(unit_ready, tmp_path, old_rule):
    """The old rule, planted alone in a copy of the project, fails its unit test and only that one."""
    params, _ = unit_ready
    model, now, old, failing = OLD_RULES[old_rule]
    project = tmp_path / "dental_dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    path = project / "models" / "marts" / model
    text = path.read_text()
    assert text.count(now) == 1
    path.write_text(text.replace(now, old))
    output = run_dbt(params, tmp_path / "planted_target", "test", "--select", UNIT_TESTS, project=project,
                     fails=True)
    expected = {JOURNEY_UNIT_TEST: "PASS", SCORES_UNIT_TEST: "PASS", failing: "FAIL"}
    assert unit_test_results(output) == expected

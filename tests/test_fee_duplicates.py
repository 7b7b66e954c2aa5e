"""Duplicate fee rows: fct_treatment_journey reads the one OpenDental reads, and repeats no procedure.

A real OpenDental database can hold several `fee` rows with the same FeeSched, CodeNum, ClinicNum and
ProvNum: OpenDental ships a Database Maintenance method that finds and deletes them,
DatabaseMaintenances.FeeDeleteDuplicates (OpenDentBusiness/Data Interface/DatabaseMaintenances.cs:
`SELECT FeeNum,... FROM fee GROUP BY FeeSched,CodeNum,ClinicNum,ProvNum HAVING COUNT(CodeNum)>1`, then it
keeps that row, "a random fee", and deletes the others). Until someone runs it, OpenDental reads a fee by
Fees.GetFee (OpenDentBusiness/Data Interface/Fees.cs), which takes the first row of a query without ORDER
BY: GetFeeFromDb's `SELECT fee.* FROM fee WHERE CodeNum=.. AND FeeSched=.. AND ClinicNum=.. AND ProvNum=..
UNION ALL ...` through Crud.FeeCrud.SelectOne (`list[0]`), or GetFeeFromList's `listFees.Find(...)` on a
list read by `SELECT * FROM fee WHERE ...` (Fees.GetListFromObjects, GetListForSchedsAndClinics).
InnoDB returns rows equal on those four columns in primary-key order, whatever index it reads them
through, so OpenDental reads the lowest FeeNum; `test_opendental_reads_the_lowest_feenum` runs the three
queries on MariaDB with OpenDental's indexes, under every access path, and the maintenance query keeps
that row too.

The journey joined every clinic- and provider-independent fee version held on the decision date, so a
duplicate repeated the procedure (one row per duplicate, with different standard_fee values) and failed
the model's unique test, stopping the build. It now reads, per schedule, code and decision date, the
version of the lowest FeeNum held then (`fees_then` in the model). Tested here:
- the dbt unit test `journey_fee_of_duplicates` (dental_dbt/models/marts/fct_treatment_journey.yml);
- a hand-made practice with duplicate fee rows in raw, snapshotted, a later fee review and a later
  FeeDeleteDuplicates run snapshotted again: the build and its unique test pass, each procedure reads
  the lowest FeeNum held on its decision date;
- each old rule planted in a copy of the project (every version joined; the highest FeeNum, the row a
  "last loaded wins" lookup would take) fails the unit test, and on the practice the first fails the
  unique test and the second gives other fees.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import shutil
from decimal import Decimal

import pytest
import sqlalchemy as sa

from dbt_runner import DBT_DIR, query_rows, replace_raw_rows, run_dbt, write_raw_rows
from dental_assets.catalog import mysql_create_table_sql, raw_table
from dental_assets.warehouse import PgParams

# ----------------------------------------------------------------- OpenDental's own lookups, on MariaDB

# OpenDental's indexes on fee (OpenDentBusiness/Misc/ConvertDatabases*.cs): FeeSchedCodeClinicProv
# (ConvertDatabases7, which drops the older FeeSched ones), ClinicNum (17.3.1), CodeNum, ProvNum.
OPENDENTAL_FEE_INDEXES = {"FeeSchedCodeClinicProv": "FeeSched, CodeNum, ClinicNum, ProvNum",
                          "ClinicNum": "ClinicNum", "CodeNum": "CodeNum", "ProvNum": "ProvNum"}
DUPLICATES = {7: 70.0, 3: 30.0, 5: 50.0}  # FeeNum: Amount of schedule 2, code 50, no clinic, no provider
ACCESS_PATHS = ["", *(f"FORCE INDEX ({name})" for name in OPENDENTAL_FEE_INDEXES),
                f"IGNORE INDEX ({', '.join(OPENDENTAL_FEE_INDEXES)})"]  # the optimizer's, each index, a scan


def get_fee_from_db(hint: str, code: int, sched: int, clinic: int, prov: int) -> str:
    """Fees.GetFeeFromDb's query: the exact match, then the provider, the clinic and the default rows."""
    branches = [(clinic, prov), (0, prov), (clinic, 0), (0, 0)]
    return " UNION ALL ".join(f"SELECT fee.* FROM fee {hint} WHERE fee.CodeNum={code} AND fee.FeeSched={sched} "
                              f"AND fee.ClinicNum={c} AND fee.ProvNum={p}" for c, p in branches)


@pytest.fixture
def opendental_fees(mariadb_url):
    """OpenDental's fee table on MariaDB with its indexes: schedules 1-5 x codes 1-199, one row each, but
    schedule 2's code 50 has three rows, inserted highest FeeNum first among the others, shuffled."""
    engine = sa.create_engine(mariadb_url)
    rows = [(1000 + i, 100.0, sched, code) for i, (sched, code) in
            enumerate((s, c) for s in range(1, 6) for c in range(1, 200) if (s, c) != (2, 50))]
    rows += [(num, amount, 2, 50) for num, amount in sorted(DUPLICATES.items(), reverse=True)]
    random.Random(7).shuffle(rows)
    with engine.begin() as conn:
        conn.exec_driver_sql(mysql_create_table_sql(raw_table("fee")))
        for name, columns in OPENDENTAL_FEE_INDEXES.items():
            conn.exec_driver_sql(f"ALTER TABLE fee ADD INDEX {name} ({columns})")
        conn.exec_driver_sql("INSERT INTO fee (FeeNum, Amount, FeeSched, CodeNum, ClinicNum, ProvNum) "
                             "VALUES (%s, %s, %s, %s, 0, 0)", rows)
        conn.exec_driver_sql("ANALYZE TABLE fee")
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.mark.parametrize("hint", ACCESS_PATHS)
def test_opendental_reads_the_lowest_feenum(opendental_fees, hint):
    """Of three duplicate rows (FeeNum 7, 3, 5, inserted in that order), OpenDental's lookups read FeeNum
    3: GetFeeFromDb's first row (a procedure of clinic 4 and provider 9 without overrides), GetFeeFromList's
    first match in the lists GetListFromObjects and GetListForSchedsAndClinics read; and
    FeeDeleteDuplicates keeps FeeNum 3 (deleting 7 and 5), so running it changes no fee OpenDental reads."""
    lowest = min(DUPLICATES)
    with opendental_fees.connect() as conn:
        def first(sql: str) -> int:
            return next(r.FeeNum for r in conn.exec_driver_sql(sql) if (r.FeeSched, r.CodeNum) == (2, 50))

        assert first(get_fee_from_db(hint, code=50, sched=2, clinic=4, prov=9)) == lowest
        assert first(f"SELECT * FROM fee {hint} WHERE ClinicNum IN(0,4) AND FeeSched IN(1,2,3) "
                     "AND CodeNum IN(49,50,51)") == lowest
        assert first(f"SELECT * FROM fee {hint} WHERE (FeeSched=2 AND ClinicNum IN(0,4) AND ProvNum IN(0,9))") == lowest
        kept = conn.exec_driver_sql(f"SELECT FeeNum,FeeSched,CodeNum,Amount,ClinicNum,ProvNum FROM fee {hint} "
                                    "GROUP BY FeeSched,CodeNum,ClinicNum,ProvNum HAVING COUNT(CodeNum)>1").all()
        assert [(r.FeeNum, r.Amount) for r in kept] == [(lowest, DUPLICATES[lowest])]


# ------------------------------------------------------------------------- the journey, on PostgreSQL

D1 = dt.date(2025, 3, 10)  # the decision date of most procedures
AS_OF = dt.date(2026, 6, 30)
CROWN = 1  # CodeNum
PATIENT_SCHED, PROVIDER_SCHED = 1, 2
TP, C = 1, 2  # procedurelog.ProcStatus
PROC_FEE = 260
# ProcNum of each case
PLANNED = 1  # patient 1, planned D1
ACCEPTED = 2  # patient 1, planned D1, completed D1+30
PROVIDER_FEE = 3  # patient 2 (no fee schedule: the provider's), planned D1
AFTER_REVIEW = 4  # patient 1, planned D1+20, after FeeNum 3 went from $130 to $135 on D1+10


def day(n: int) -> dt.date:
    return D1 + dt.timedelta(days=n)


def at(n: int) -> dt.datetime:
    return dt.datetime.combine(day(n), dt.time(9))


def fee(num: int, sched: int, amount: float, edited: int, clinic: int = 0) -> dict:
    """A fee row of the crown, last edited on D1+``edited``."""
    return {"FeeNum": num, "FeeSched": sched, "CodeNum": CROWN, "ClinicNum": clinic, "ProvNum": 0,
            "Amount": amount, "SecDateTEdit": at(edited)}


# the fee rows before the review: schedule 1 has FeeNum 9, 5 and 3 (and a clinic override, 4), schedule 2
# FeeNum 8 and 6; none is the lowest FeeNum of its schedule and the latest edited at once
FEES_AT_FIRST = [fee(9, PATIENT_SCHED, 190, -400), fee(5, PATIENT_SCHED, 150, -300), fee(3, PATIENT_SCHED, 130, -200),
                 fee(4, PATIENT_SCHED, 140, -300, clinic=1),
                 fee(8, PROVIDER_SCHED, 180, -400), fee(6, PROVIDER_SCHED, 160, -100)]
# the review of D1+10 sets FeeNum 3 to $135; FeeDeleteDuplicates, run later, deletes 9 and 5 (keeping 3)
FEES_LATER = [fee(3, PATIENT_SCHED, 135, 10), fee(4, PATIENT_SCHED, 140, -300, clinic=1),
              fee(8, PROVIDER_SCHED, 180, -400), fee(6, PROVIDER_SCHED, 160, -100)]
# OpenDental's fee on each decision date: the lowest FeeNum of the clinic- and provider-free rows then
EXPECTED = {PLANNED: (Decimal("130.00"), Decimal("2.0000")), ACCEPTED: (Decimal("130.00"), Decimal("2.0000")),
            PROVIDER_FEE: (Decimal("160.00"), Decimal("1.6250")),
            AFTER_REVIEW: (Decimal("135.00"), Decimal("1.9259"))}


def practice() -> dict[str, list[dict]]:
    rows = {
        "procedurecode": [{"CodeNum": CROWN, "ProcCode": "D2740"}],
        "provider": [{"ProvNum": 1, "Abbr": "DOC1", "FeeSched": PROVIDER_SCHED}],
        "patient": [{"PatNum": 1, "Guarantor": 1, "LName": "Case", "FName": "One", "FeeSched": PATIENT_SCHED,
                     "Birthdate": dt.date(1980, 1, 1), "DateFirstVisit": day(-400), "PriProv": 1},
                    {"PatNum": 2, "Guarantor": 2, "LName": "Case", "FName": "Two", "FeeSched": 0,
                     "Birthdate": dt.date(1980, 1, 1), "DateFirstVisit": day(-400), "PriProv": 1}],
        "fee": FEES_AT_FIRST,
        "procedurelog": [],
    }
    for num, pat, status, proc_date, date_tp in [(PLANNED, 1, TP, D1, D1), (ACCEPTED, 1, C, day(30), D1),
                                                 (PROVIDER_FEE, 2, TP, D1, D1),
                                                 (AFTER_REVIEW, 1, TP, day(20), day(20))]:
        rows["procedurelog"].append({"ProcNum": num, "PatNum": pat, "CodeNum": CROWN, "ProcStatus": status,
                                     "ProcDate": proc_date, "DateTP": date_tp, "ProcFee": PROC_FEE,
                                     "UnitQty": 1, "ProvNum": 1})
    return rows


def fees_read(params: PgParams) -> dict[int, tuple]:
    """(standard_fee, fee_ratio) of every journey row, by procedure; a repeated procedure fails here."""
    rows = query_rows(params, "SELECT procedure_id, standard_fee, fee_ratio FROM marts.fct_treatment_journey")
    assert len({r[0] for r in rows}) == len(rows), rows
    return {r[0]: (r[1], r[2]) for r in rows}


def results(output: str) -> dict[str, str]:
    """{test name: PASS, FAIL or ERROR} from dbt's console messages (unit tests as model::name)."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    return {name: status for status, name in
            re.findall(r"\d+ of \d+ (PASS|FAIL|ERROR)(?: \d+)? ([a-z_0-9]+(?:::[a-z_0-9]+)?)", plain)}


SETTINGS = {"as_of_date": AS_OF.isoformat()}
UNIQUE_TEST = "unique_fct_treatment_journey_procedure_id"
UNIT_TEST = "fct_treatment_journey::journey_fee_of_duplicates"
UNIT_TESTS = "unit_test:journey_fee_of_duplicates"
THE_MODEL = ("fct_treatment_journey", "--exclude", "test_type:unit")  # the model and its data tests


@pytest.fixture(scope="module")
def journey(pg_module_url, tmp_path_factory):
    """The practice built (the snapshots take the duplicates as they are), then the review and the
    maintenance run snapshotted, and the model built with its data tests: the output of that build."""
    params = PgParams.from_url(pg_module_url)
    write_raw_rows(params, practice())
    target = tmp_path_factory.mktemp("dbt_target")
    run_dbt(params, target, "build", "--select", "+fct_treatment_journey", "--exclude", "test_type:data",
            "test_type:unit", settings=SETTINGS)
    replace_raw_rows(params, "fee", FEES_LATER)
    run_dbt(params, target, "snapshot", "--select", "snap_opendental__fee", settings=SETTINGS)
    output = run_dbt(params, target, "build", "--select", *THE_MODEL, settings=SETTINGS)
    return params, target, output


def test_the_snapshot_holds_the_duplicates(journey):
    """The case's premise: on D1 three clinic- and provider-free versions of schedule 1's crown held."""
    params, _, _ = journey
    held = query_rows(params, f"""SELECT fee_num FROM snapshots.snap_opendental__fee
        WHERE fee_sched = {PATIENT_SCHED} AND clinic_num IS NULL AND dbt_valid_from < date '{day(1)}'
            AND (dbt_valid_to IS NULL OR dbt_valid_to >= date '{day(1)}') ORDER BY fee_num""")
    assert [r[0] for r in held] == [3, 5, 9]


def test_the_build_passes_and_reads_opendentals_fee(journey):
    """The build and the unique test pass; each procedure reads the lowest FeeNum held at the end of its
    decision date: $130 (FeeNum 3, not 5's $150 or 9's $190) on D1, completed or not; the provider's
    schedule's $160 (FeeNum 6, not 8's $180); $135 after FeeNum 3's review of D1+10."""
    params, _, output = journey
    assert results(output)[UNIQUE_TEST] == "PASS"
    assert fees_read(params) == EXPECTED


def test_the_unit_test_passes(journey):
    params, target, _ = journey
    assert results(run_dbt(params, target, "test", "--select", UNIT_TESTS, settings=SETTINGS)) == {UNIT_TEST: "PASS"}


# the journey's fee joins before this rule: every version held on the decision date
EVERY_VERSION = """    left join fees as patient_fee
        on patient_fee.fee_sched = patients.fee_sched
        and patient_fee.code_num = procedures.code_id
        and patient_fee.known_from < procedures.decision_date + 1
        and (patient_fee.known_until is null or patient_fee.known_until >= procedures.decision_date + 1)
    left join fees as provider_fee
        on provider_fee.fee_sched = providers.fee_sched
        and provider_fee.code_num = procedures.code_id
        and provider_fee.known_from < procedures.decision_date + 1
        and (provider_fee.known_until is null or provider_fee.known_until >= procedures.decision_date + 1)
"""
OLD_RULES = {
    "every_version_joined": ("""    left join fees_then as patient_fee
        on patient_fee.fee_sched = patients.fee_sched
        and patient_fee.code_num = procedures.code_id
        and patient_fee.decision_date = procedures.decision_date
    left join fees_then as provider_fee
        on provider_fee.fee_sched = providers.fee_sched
        and provider_fee.code_num = procedures.code_id
        and provider_fee.decision_date = procedures.decision_date
""", EVERY_VERSION),
    "highest_feenum": ("fee_questions.decision_date, fees.fee_num\n",
                       "fee_questions.decision_date, fees.fee_num desc\n"),
}


@pytest.mark.parametrize("old_rule", sorted(OLD_RULES))
def test_each_old_rule_fails(journey, tmp_path, old_rule):
    """Planted in a copy of the project, each old rule fails the unit test; on the practice, every
    version joined repeats procedures and fails the unique test (the build stops), and the highest FeeNum
    reads $190 and $180 instead of $130 and $160. The real model is built again afterwards."""
    params, target, _ = journey
    now, old = OLD_RULES[old_rule]
    project = tmp_path / "dental_dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    model = project / "models" / "marts" / "fct_treatment_journey.sql"
    text = model.read_text()
    assert text.count(now) == 1
    model.write_text(text.replace(now, old))
    planted = tmp_path / "planted_target"
    try:
        unit = run_dbt(params, planted, "test", "--select", UNIT_TESTS, project=project, settings=SETTINGS,
                       fails=True)
        assert results(unit) == {UNIT_TEST: "FAIL"}
        if old_rule == "every_version_joined":
            build = run_dbt(params, planted, "build", "--select", *THE_MODEL, project=project, settings=SETTINGS,
                            fails=True)
            assert results(build)[UNIQUE_TEST] == "FAIL"
        else:
            run_dbt(params, planted, "build", "--select", *THE_MODEL, project=project, settings=SETTINGS)
            read = fees_read(params)
            assert read[PLANNED][0] == read[ACCEPTED][0] == Decimal("190.00")
            assert read[PROVIDER_FEE][0] == Decimal("180.00")
    finally:
        run_dbt(params, target, "run", "--select", "fct_treatment_journey", settings=SETTINGS)
    assert fees_read(params) == EXPECTED

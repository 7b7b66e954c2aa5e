"""mart_perio_followup on hand-written charts: each case's expected row is written by hand from the rules
in docs/dbt.md (a site of exactly 5 mm counts, 4 mm does not, -1 is no measurement; bleeding and skipped
rows are not depths; SRP done before the latest exam does not count, done on its day does; a later exam
replaces an earlier one; exams after the as-of date are not seen). A tiny raw data set goes into a real
PostgreSQL database and dbt builds only the mart and the models it reads.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from dbt_runner import query_rows, run_dbt, write_raw_rows
from dental_assets.warehouse import PgParams

T = dt.date(2026, 6, 30)  # the as-of date
PROBING, SKIP, BLEED = 4, 5, 6  # PerioSequenceType
TP, C, D = 1, 2, 6  # ProcStat
SRP4, SRP13, PERIO_MAINT = 1, 2, 3  # CodeNum
SITES = ("MBvalue", "Bvalue", "DBvalue", "MLvalue", "Lvalue", "DLvalue")


def days(n: int) -> dt.date:
    return T + dt.timedelta(days=n)


class Rows:
    def __init__(self):
        self.rows: dict[str, list[dict]] = defaultdict(list)
        self.exam_num = 0

    def patient(self, pat: int) -> int:
        self.rows["patient"].append({"PatNum": pat, "Guarantor": pat, "LName": "Case", "FName": f"P{pat}"})
        return pat

    def exam(self, pat: int, day: dt.date, teeth: dict[int, list[int]], prov: int = 2,
             bleeding: dict[int, list[int]] | None = None, skipped: tuple[int, ...] = ()) -> int:
        self.exam_num += 1
        num = self.exam_num
        self.rows["perioexam"].append({"PerioExamNum": num, "PatNum": pat, "ExamDate": day, "ProvNum": prov})
        for seq, rows in ((PROBING, teeth), (BLEED, bleeding or {}), (SKIP, {t: [-1] * 6 for t in skipped})):
            for tooth, values in rows.items():
                self.rows["periomeasure"].append({
                    "PerioMeasureNum": len(self.rows["periomeasure"]) + 1, "PerioExamNum": num, "SequenceType": seq,
                    "IntTooth": tooth, "ToothValue": 1 if seq == SKIP else -1, **dict(zip(SITES, values))})
        return num

    def proc(self, pat: int, code: int, status: int, day: dt.date, date_tp: dt.date | None = None) -> None:
        self.rows["procedurelog"].append({
            "ProcNum": len(self.rows["procedurelog"]) + 1, "PatNum": pat, "CodeNum": code, "ProcStatus": status,
            "ProcDate": day, "DateTP": date_tp or day, "ProcFee": 100, "UnitQty": 1})


R = Rows()
HEALTHY = {3: [2, 3, 2, 3, 2, 3], 14: [3, 2, 1, 2, 3, 3]}
# expected: patient -> (latest exam num, its date, probed sites, sites >= 5 mm, max depth, srp_planned,
#                       srp_done_since_exam, needs_srp_followup, exam_count)
EXPECTED: dict[int, tuple] = {}

# 1. one site of exactly 5 mm counts, and nobody treats it
p = R.patient(1)
e = R.exam(p, days(-30), {3: [2, 3, 5, 3, 2, 3], 14: [3, 3, 3, 3, 3, 3]})
EXPECTED[p] = (e, days(-30), 12, 1, 5, False, False, True, 1)
# 2. 4 mm does not count; a -1 site is not probed; the bleeding row's flags (5 = Blood | Plaque) are no depths
p = R.patient(2)
e = R.exam(p, days(-30), {3: [4, 4, -1, 4, 4, 4]}, bleeding={3: [5, 5, 5, 5, 5, 13]}, skipped=(1, 16))
EXPECTED[p] = (e, days(-30), 5, 0, 4, False, False, False, 1)
# 3. SRP done before the exam does not count: the pockets are back, on the list
p = R.patient(3)
e = R.exam(p, days(-100), {3: [5, 6, 5, 3, 3, 3], 14: [3, 3, 3, 3, 3, 3]})
R.proc(p, SRP4, C, days(-200), days(-230))
EXPECTED[p] = (e, days(-100), 12, 3, 6, False, False, True, 1)
# 4. SRP done on the exam's day counts
p = R.patient(4)
e = R.exam(p, days(-100), {19: [6, 3, 3, 3, 3, 3]})
R.proc(p, SRP13, C, days(-100), days(-100))
EXPECTED[p] = (e, days(-100), 6, 1, 6, False, True, False, 1)
# 5. SRP treatment-planned: not on the list
p = R.patient(5)
e = R.exam(p, days(-100), {19: [7, 3, 3, 3, 3, 5]})
R.proc(p, SRP4, TP, days(20), days(-100))
EXPECTED[p] = (e, days(-100), 6, 2, 7, True, False, False, 1)
# 6. a later healthy exam replaces an earlier deep one
p = R.patient(6)
R.exam(p, days(-400), {19: [6, 6, 3, 3, 3, 3]})
e = R.exam(p, days(-50), HEALTHY)
EXPECTED[p] = (e, days(-50), 12, 0, 3, False, False, False, 2)
# 7. a later deep exam replaces an earlier healthy one; an exam after the as-of date is not seen
p = R.patient(7)
R.exam(p, days(-400), HEALTHY)
e = R.exam(p, days(-10), {30: [3, 3, 8, 3, 3, 3]})
R.exam(p, days(10), HEALTHY)
EXPECTED[p] = (e, days(-10), 6, 1, 8, False, False, True, 2)
# 8. nothing probed: every site -1
p = R.patient(8)
e = R.exam(p, days(-5), {3: [-1] * 6})
EXPECTED[p] = (e, days(-5), 0, 0, None, False, False, False, 1)
# 9. a deleted SRP and perio maintenance are no SRP; a completed SRP after the as-of date is not seen yet
p = R.patient(9)
e = R.exam(p, days(-60), {2: [5, 5, 5, 5, 5, 5]})
R.proc(p, SRP4, D, days(-30))
R.proc(p, PERIO_MAINT, C, days(-20))
R.proc(p, SRP4, C, days(5), days(-50))
EXPECTED[p] = (e, days(-60), 6, 6, 5, False, False, True, 1)
# 10. two exams on the same day: the higher PerioExamNum is the latest
p = R.patient(10)
R.exam(p, days(-40), {2: [6, 3, 3, 3, 3, 3]})
e = R.exam(p, days(-40), HEALTHY)
EXPECTED[p] = (e, days(-40), 12, 0, 3, False, False, False, 2)
# 11. a patient without a perio chart has no row
R.patient(11)
R.proc(11, SRP4, TP, days(1), days(-3))


@pytest.fixture(scope="module")
def mart(pg_module_url, tmp_path_factory):
    params = PgParams.from_url(pg_module_url)
    write_raw_rows(params, {
        "procedurecode": [{"CodeNum": SRP4, "ProcCode": "D4341"}, {"CodeNum": SRP13, "ProcCode": "D4342"},
                          {"CodeNum": PERIO_MAINT, "ProcCode": "D4910"}],
        "provider": [{"ProvNum": 2, "Abbr": "HYG1"}],
        **R.rows,
    })
    run_dbt(params, tmp_path_factory.mktemp("dbt_target"), "run", "--select", "+mart_perio_followup",
            settings={"as_of_date": T.isoformat()})
    return {row[0]: tuple(row[1:]) for row in query_rows(params, """
        SELECT patient_id, latest_exam_id, latest_exam_date, probed_sites, sites_5mm_plus, max_depth_mm, srp_planned,
               srp_done_since_exam, needs_srp_followup, exam_count
        FROM marts.mart_perio_followup""")}


def test_only_charted_patients(mart):
    assert set(mart) == set(EXPECTED)


@pytest.mark.parametrize("patient", sorted(EXPECTED))
def test_case(mart, patient):
    assert mart[patient] == EXPECTED[patient]

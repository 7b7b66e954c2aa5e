"""mart_perio_followup against the generator's ground truth (a 1,000-patient practice): which patients'
latest perio chart shows pockets of 5 mm or more, and whether scaling and root planing is planned or done.

The oracle is what dental_synthetic.clinical_history decided (``practice.ledger["perio_followup"]``:
the latest exam, its deep and probed sites, and the patients it put on the follow-up list), and the SRP
procedures of the generated procedurelog read in Python. Hand-computed edge cases are in
tests/test_marts_perio_cases.py.
"""

import datetime as dt

import pytest

import dental_synthetic
from dbt_runner import DATA_ONLY, query_rows, run_dbt
from dental_assets.warehouse import PgParams, mark_demo_target

AS_OF = dt.date(2026, 6, 30)
SRP_CODES = ("D4341", "D4342")
TP, C = 1, 2  # OpenDental ProcStat


@pytest.fixture(scope="module")
def built(pg_module_url, tmp_path_factory):
    params = PgParams.from_url(pg_module_url)
    mark_demo_target(params)
    practice = dental_synthetic.generate(dental_synthetic.SyntheticConfig(patients=1000, seed=7, as_of=AS_OF))
    dental_synthetic.write_postgres_raw(practice, params)
    run_dbt(params, tmp_path_factory.mktemp("dbt_target"), "build", *DATA_ONLY, "--select", "+mart_perio_followup",
            "--indirect-selection", "cautious",
            settings={"as_of_date": AS_OF.isoformat()})
    columns = ("patient_id", "latest_exam_id", "latest_exam_date", "latest_exam_provider_id", "probed_sites",
               "sites_5mm_plus", "max_depth_mm", "srp_planned", "srp_done_since_exam", "needs_srp_followup")
    mart = {row[0]: dict(zip(columns, row))
            for row in query_rows(params, f"SELECT {', '.join(columns)} FROM marts.mart_perio_followup")}
    return practice, mart


def srp_procedures(practice):
    codes = {r["CodeNum"] for r in practice.tables["procedurecode"].to_pylist() if r["ProcCode"] in SRP_CODES}
    return [r for r in practice.tables["procedurelog"].select(["PatNum", "CodeNum", "ProcStatus", "ProcDate",
                                                               "DateTP"]).to_pylist() if r["CodeNum"] in codes]


def test_one_row_per_charted_patient_with_the_latest_exam(built):
    practice, mart = built
    truth = {t["PatNum"]: t for t in practice.ledger["perio_followup"].to_pylist()}
    assert set(mart) == set(truth)
    assert len(mart) > 100
    for pat, t in truth.items():
        row = mart[pat]
        assert row["latest_exam_id"] == t["PerioExamNum"], pat
        assert row["latest_exam_date"] == dt.date(1970, 1, 1) + dt.timedelta(days=t["ExamDate"]), pat
        assert row["latest_exam_provider_id"] == t["ProvNum"], pat
        assert (row["probed_sites"], row["sites_5mm_plus"], row["max_depth_mm"]) == (
            t["ProbedSites"], t["DeepSites"], t["MaxDepth"]), pat


def test_srp_planned_and_done_since_the_exam(built):
    practice, mart = built
    planned, done_days = set(), {}
    for r in srp_procedures(practice):
        if r["ProcStatus"] == TP and r["DateTP"] <= AS_OF:
            planned.add(r["PatNum"])
        elif r["ProcStatus"] == C and r["ProcDate"] <= AS_OF:
            done_days.setdefault(r["PatNum"], []).append(r["ProcDate"])
    for pat, row in mart.items():
        assert row["srp_planned"] == (pat in planned), pat
        since = any(d >= row["latest_exam_date"] for d in done_days.get(pat, []))
        assert row["srp_done_since_exam"] == since, pat
    assert any(row["srp_planned"] for row in mart.values())
    assert any(row["srp_done_since_exam"] for row in mart.values())


def test_the_follow_up_list_is_the_one_the_generator_made(built):
    practice, mart = built
    truth = {t["PatNum"]: t["NeedsFollowup"] for t in practice.ledger["perio_followup"].to_pylist()}
    listed = {pat for pat, row in mart.items() if row["needs_srp_followup"]}
    assert listed == {pat for pat, needs in truth.items() if needs}
    assert listed
    # pockets under treatment are not on the list: SRP patients with deep sites exist and are excluded
    assert any(row["sites_5mm_plus"] > 0 and not row["needs_srp_followup"] for row in mart.values())

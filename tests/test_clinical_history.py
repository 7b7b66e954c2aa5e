"""The perio charts, medical history and prescriptions stage (dental_synthetic/clinical_history.py):
its invariants against the rest of the practice, its ground truth, and its determinism."""

import datetime as dt
import importlib
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest

from dental_synthetic import SyntheticConfig, generate
from dental_synthetic import clinical_history as ch
from dental_synthetic.practice import enum_codes

AS_OF = dt.date(2026, 6, 30)
AS_OF_DAY = (AS_OF - dt.date(1970, 1, 1)).days
CONFIG = SyntheticConfig(as_of=AS_OF, patients=1000, seed=5)
PROBING = enum_codes("PerioSequenceType")["Probing"]
SKIP = enum_codes("PerioSequenceType")["SkipTooth"]
BLEED = enum_codes("PerioSequenceType")["BleedSupPlaqCalc"]
STAT = enum_codes("ProcStat")
generate_module = importlib.import_module("dental_synthetic.generate")  # the package exports the function


@pytest.fixture(scope="module")
def practice():
    return generate(CONFIG)


def col(practice, table, name):
    arr = practice.tables[table].column(name)
    if pa.types.is_date32(arr.type):
        return arr.cast(pa.int32()).to_numpy().astype(np.int64)
    if pa.types.is_timestamp(arr.type):
        return arr.cast(pa.int64()).to_numpy()
    return arr.to_numpy(zero_copy_only=False)


def rows(practice, table):
    return practice.tables[table].to_pylist()


def code_nums(practice, codes):
    return {r["CodeNum"] for r in rows(practice, "procedurecode") if r["ProcCode"] in codes}


def srp_plan_days(practice):
    """PatNum -> the earliest DateTP of its SRP procedures (TP or C)."""
    srp = code_nums(practice, ch.SRP_CODES)
    plan = {}
    for r in rows(practice, "procedurelog"):
        if r["CodeNum"] in srp and r["ProcStatus"] in (STAT["TP"], STAT["C"]):
            day = (r["DateTP"] - dt.date(1970, 1, 1)).days
            plan[r["PatNum"]] = min(plan.get(r["PatNum"], day), day)
    return plan


def test_every_table_is_generated(practice):
    for name in ch.TABLES:
        assert practice.tables[name].num_rows > 0, name


def test_exams_are_at_completed_hygiene_visits_of_adults_or_on_the_srp_plan_day(practice):
    apts = defaultdict(list)
    birth = dict(zip(col(practice, "patient", "PatNum").tolist(), col(practice, "patient", "Birthdate").tolist()))
    for r in rows(practice, "appointment"):
        if r["AptStatus"] == enum_codes("ApptStatus")["Complete"]:
            apts[(r["PatNum"], r["AptDateTime"].date())].append(r)
    plan = srp_plan_days(practice)
    by_pat = defaultdict(list)
    for exam in rows(practice, "perioexam"):
        day = (exam["ExamDate"] - dt.date(1970, 1, 1)).days
        assert day <= AS_OF_DAY
        assert exam["DateTMeasureEdit"].date() == exam["ExamDate"]
        visits = apts.get((exam["PatNum"], exam["ExamDate"]), [])
        forced = plan.get(exam["PatNum"]) == day
        if not forced:
            hyg = [v for v in visits if v["IsHygiene"] == 1]
            assert hyg, exam
            assert (day - birth[exam["PatNum"]]) / 365.25 >= ch.ADULT_AGE
            assert exam["ProvNum"] in {v["ProvHyg"] or v["ProvNum"] for v in hyg}
        by_pat[exam["PatNum"]].append((day, forced))
    for exams in by_pat.values():
        exams.sort()
        for (d0, f0), (d1, f1) in zip(exams, exams[1:]):
            assert d1 - d0 >= ch.MIN_GAP_DAYS or f0 or f1
    assert len(by_pat) > 100


def test_one_probing_row_per_present_tooth_and_skip_rows_for_missing_teeth(practice):
    missing = defaultdict(set)
    for r in rows(practice, "toothinitial"):
        if r["InitialType"] == enum_codes("ToothInitialType")["Missing"]:
            missing[r["PatNum"]].add(int(r["ToothNum"]))
    exam_pat = dict(zip(col(practice, "perioexam", "PerioExamNum").tolist(), col(practice, "perioexam", "PatNum").tolist()))
    seen = defaultdict(set)
    for r in rows(practice, "periomeasure"):
        key = (r["PerioExamNum"], r["SequenceType"], r["IntTooth"])
        assert key not in seen[r["PerioExamNum"]]
        seen[r["PerioExamNum"]].add(key)
        assert 1 <= r["IntTooth"] <= 32
        sites = [r[s] for s in ch.SITES]
        gone = r["IntTooth"] in missing[exam_pat[r["PerioExamNum"]]]
        if r["SequenceType"] == PROBING:
            assert not gone and r["ToothValue"] == -1
            assert all(v == -1 or 1 <= v <= 8 for v in sites)
        elif r["SequenceType"] == SKIP:
            assert gone and r["ToothValue"] == 1 and sites == [-1] * 6
        else:
            assert r["SequenceType"] == BLEED and not gone and r["ToothValue"] == -1
            assert all(0 <= v <= 15 for v in sites) and any(v & 1 for v in sites)
    for exam, keys in seen.items():
        teeth = {t for _, s, t in keys if s in (PROBING, SKIP)}
        assert teeth == set(range(1, 33)), exam


def test_volume_is_bounded(practice):
    assert practice.tables["periomeasure"].num_rows / CONFIG.patients <= 40


def sites_by_exam(practice):
    probed, deep, top = defaultdict(int), defaultdict(int), defaultdict(lambda: -1)
    for r in rows(practice, "periomeasure"):
        if r["SequenceType"] != PROBING:
            continue
        for s in ch.SITES:
            v = r[s]
            if v >= 0:
                probed[r["PerioExamNum"]] += 1
                deep[r["PerioExamNum"]] += v >= ch.DEEP_MM
                top[r["PerioExamNum"]] = max(top[r["PerioExamNum"]], v)
    return probed, deep, top


def test_ground_truth_agrees_with_the_rows(practice):
    probed, deep, top = sites_by_exam(practice)
    truth = practice.ledger["perio_exams"].to_pylist()
    assert len(truth) == practice.tables["perioexam"].num_rows
    for t in truth:
        n = t["PerioExamNum"]
        assert (t["ProbedSites"], t["DeepSites"], t["MaxDepth"]) == (probed[n], deep[n], top[n])
    all_sites = sum(probed.values())
    shallow = sum(1 for r in rows(practice, "periomeasure") if r["SequenceType"] == PROBING
                  for s in ch.SITES if 1 <= r[s] <= 3)
    assert shallow / all_sites > 0.8  # most sites 1-3 mm
    latest = {}
    for e in rows(practice, "perioexam"):
        if e["PatNum"] not in latest or e["ExamDate"] >= latest[e["PatNum"]]["ExamDate"]:
            latest[e["PatNum"]] = e
    followup = practice.ledger["perio_followup"].to_pylist()
    assert {f["PatNum"] for f in followup} == set(latest)
    for f in followup:
        assert f["PerioExamNum"] == latest[f["PatNum"]]["PerioExamNum"]
        assert f["ProvNum"] == latest[f["PatNum"]]["ProvNum"]
        assert f["DeepSites"] == deep[f["PerioExamNum"]]
        if f["NeedsFollowup"]:
            assert f["DeepSites"] > 0
    share = sum(f["NeedsFollowup"] for f in followup) / len(followup)
    assert 0.02 < share < 0.2


def test_srp_patients_have_deep_sites_at_the_exam_before_the_plan(practice):
    plan = srp_plan_days(practice)
    _, deep, _ = sites_by_exam(practice)
    exams = defaultdict(list)
    for e in rows(practice, "perioexam"):
        exams[e["PatNum"]].append(((e["ExamDate"] - dt.date(1970, 1, 1)).days, e["PerioExamNum"]))
    checked = 0
    for pat, day in plan.items():
        if day > AS_OF_DAY:
            continue
        before = [num for d, num in sorted(exams[pat]) if d <= day]
        assert before, pat
        assert deep[before[-1]] > 0, pat
        checked += 1
    assert checked > 10


def test_medical_history(practice):
    defs = rows(practice, "diseasedef")
    assert all(d["Icd10Code"] and d["SnomedCode"].isdigit() for d in defs)
    statuses = set(col(practice, "disease", "ProbStatus").tolist())
    assert statuses <= set(enum_codes("ProblemStatus").values()) and len(statuses) == 3
    assert set(col(practice, "disease", "DiseaseDefNum").tolist()) <= {d["DiseaseDefNum"] for d in defs}
    assert (practice.tables["disease"].column("PatNote").to_pylist() == [""] * practice.tables["disease"].num_rows)
    pats = set(col(practice, "disease", "PatNum").tolist()) | set(col(practice, "allergy", "PatNum").tolist())
    assert pats <= set(col(practice, "patient", "PatNum").tolist())
    assert {r["Description"] for r in rows(practice, "allergydef")} >= {"Penicillin", "Latex"}
    used = (set(col(practice, "medication", "RxCui").tolist()) | set(col(practice, "rxdef", "RxCui").tolist())
            | set(col(practice, "rxpat", "RxCui").tolist()))
    assert {str(c) for c in used} <= set(practice.tables["rxnorm"].column("RxCui").to_pylist())


def test_prescriptions_follow_their_procedures(practice):
    procs = {r["ProcNum"]: r for r in rows(practice, "procedurelog")}
    ext = code_nums(practice, ch.EXTRACTION_CODES)
    srp = code_nums(practice, ch.SRP_CODES)
    drugs = {d[0]: i for i, d in enumerate(ch.RX_DEFS)}
    links = {(r["PharmacyNum"], r["ClinicNum"]) for r in rows(practice, "pharmclinic")}
    pen = {r["AllergyDefNum"] for r in rows(practice, "allergydef") if r["Description"] in ("Penicillin", "Amoxicillin")}
    allergic = {r["PatNum"] for r in rows(practice, "allergy") if r["AllergyDefNum"] in pen and r["StatusIsActive"]}
    kinds = defaultdict(int)
    for rx in rows(practice, "rxpat"):
        p = procs[rx["ProcNum"]]
        assert p["ProcStatus"] == STAT["C"]
        assert (rx["PatNum"], rx["RxDate"], rx["ProvNum"], rx["ClinicNum"]) == (p["PatNum"], p["ProcDate"], p["ProvNum"],
                                                                             p["ClinicNum"])
        rx_def = drugs[rx["Drug"]]
        if p["CodeNum"] in srp:
            assert rx_def == ch.RX_CHX
        else:
            assert p["CodeNum"] in ext and rx_def in (ch.RX_IBUPROFEN, ch.RX_OPIOID, ch.RX_AMOX, ch.RX_CLINDA)
        if rx_def == ch.RX_AMOX:
            assert rx["PatNum"] not in allergic
        assert rx["PharmacyNum"] == 0 or (rx["PharmacyNum"], rx["ClinicNum"]) in links
        assert rx["RxDate"] <= AS_OF
        kinds[rx_def] += 1
    assert kinds[ch.RX_IBUPROFEN] and kinds[ch.RX_CHX]


def test_deterministic_and_leaves_every_other_table_unchanged(practice, monkeypatch):
    again = generate(CONFIG)
    for name in ch.TABLES:
        assert again.tables[name].equals(practice.tables[name]), name
    monkeypatch.setattr(generate_module, "LATER_STAGES", tuple(s for s in generate_module.LATER_STAGES if s is not ch))
    without = generate_module.generate(CONFIG)
    for name, table in without.tables.items():
        if name not in ch.TABLES:
            assert table.equals(practice.tables[name]), name
    other = generate(SyntheticConfig(as_of=AS_OF, patients=1000, seed=6))
    assert not other.tables["periomeasure"].equals(practice.tables["periomeasure"])


def test_validate_checks_perio_depths(practice):
    from dental_synthetic.validate import check_tables

    tables = {name: practice.tables[name] for name in ("perioexam", "periomeasure", "patient", "provider")}
    assert "perio_depth" not in check_tables(tables, AS_OF).checks()
    pm = tables["periomeasure"]
    values = pm.column("Bvalue").to_numpy().copy()
    first_probing = int(np.flatnonzero(pm.column("SequenceType").to_numpy() == PROBING)[0])
    values[first_probing] = 25
    broken = dict(tables, periomeasure=pm.set_column(pm.schema.get_field_index("Bvalue"), "Bvalue", pa.array(values)))
    assert "perio_depth" in check_tables(broken, AS_OF).checks()

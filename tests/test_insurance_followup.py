"""The insurance follow-up stage (dental_synthetic/insurance_followup.py): keys, foreign keys, OpenDental's
codes, dates, the verification windows, claim tracking rules, blue book rows, determinism and isolation."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from dental_synthetic import SyntheticConfig, generate
from dental_synthetic import insurance_followup as stage
from dental_synthetic.practice import enum_codes
from dental_synthetic.util import day_number

AS_OF = dt.date(2026, 6, 30)
AS_OF_DAY = day_number(AS_OF)
LAST_TS = dt.datetime.combine(AS_OF, dt.time(19, 0))


@pytest.fixture(scope="module")
def practice():
    return generate(SyntheticConfig(as_of=AS_OF, patients=600, seed=11))


def col(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist()


def test_keys_are_one_to_n(practice):
    keys = {"insverify": "InsVerifyNum", "insverifyhist": "InsVerifyHistNum", "claimtracking": "ClaimTrackingNum",
            "eobattach": "EobAttachNum", "claimform": "ClaimFormNum", "insbluebook": "InsBlueBookNum",
            "insbluebooklog": "InsBlueBookLogNum"}
    for table, key in keys.items():
        t = practice.tables[table]
        assert t.num_rows > 0, table
        assert col(t, key) == list(range(1, t.num_rows + 1)), table


def test_insverify_one_row_per_patplan_and_per_plan(practice):
    t = practice.tables
    iv = t["insverify"]
    vt = enum_codes("VerifyTypes")
    pairs = Counter(zip(col(iv, "VerifyType"), col(iv, "FKey")))
    assert set(pairs.values()) == {1}
    assert {f for v, f in pairs if v == vt["PatientEnrollment"]} == set(col(t["patplan"], "PatPlanNum"))
    assert {f for v, f in pairs if v == vt["InsuranceBenefit"]} == set(col(t["insplan"], "PlanNum"))
    assert set(col(iv, "VerifyType")) == {vt["PatientEnrollment"], vt["InsuranceBenefit"]}


def test_insverify_holds_the_latest_event(practice):
    t = practice.tables
    latest: dict[int, dt.date] = {}
    for num, day in zip(col(t["insverifyhist"], "InsVerifyNum"), col(t["insverifyhist"], "DateLastVerified")):
        latest[num] = max(latest.get(num, day), day)
    for num, day in zip(col(t["insverify"], "InsVerifyNum"), col(t["insverify"], "DateLastVerified")):
        assert day == latest.get(num, dt.date(1, 1, 1))


def test_history_copies_its_insverify_row(practice):
    t = practice.tables
    iv = {r["InsVerifyNum"]: r for r in t["insverify"].to_pylist()}
    users = set(col(t["userod"], "UserNum"))
    for r in t["insverifyhist"].to_pylist():
        parent = iv[r["InsVerifyNum"]]
        assert (r["VerifyType"], r["FKey"], r["DateTimeEntry"]) == (parent["VerifyType"], parent["FKey"],
                                                                     parent["DateTimeEntry"])
        assert r["VerifyUserNum"] == r["UserNum"] and r["UserNum"] in users
        assert r["DateLastVerified"] <= AS_OF and r["SecDateTEdit"] <= LAST_TS
        assert r["SecDateTEdit"].date() == r["DateLastVerified"]


def test_definitions_appended_not_renumbered(practice):
    d = practice.tables["definition"]
    nums = col(d, "DefNum")
    assert nums == list(range(1, len(nums) + 1))
    cats = enum_codes("DefCat")
    by_num = dict(zip(nums, col(d, "Category")))
    assert {by_num[n] for n in set(col(practice.tables["claimtracking"], "TrackingDefNum"))} == {cats["ClaimCustomTracking"]}
    assert {by_num[n] for n in set(col(practice.tables["insverify"], "DefNum")) - {0}} == {cats["InsuranceVerificationStatus"]}
    # the earlier rows are those of a practice generated without this stage's definitions
    assert len(nums) == len(set(nums))


def test_verification_shares(practice):
    truth = stage.verification_ground_truth(practice.tables, AS_OF_DAY)
    n = len(truth["apt_num"])
    assert n > 500
    enroll = Counter(truth["enrollment"].tolist())
    assert 0.75 < enroll[0] / n < 0.97  # most verified in time
    assert enroll[1] > 0 and enroll[2] > 0  # some late, some never
    assert Counter(truth["benefits"].tolist())[0] / n > 0.9  # plans are shared: mostly current


def test_verification_in_time_means_within_the_window_before(practice):
    """Recompute the in-time rule by hand for every appointment (plain Python, no numpy)."""
    t = practice.tables
    truth = stage.verification_ground_truth(t, AS_OF_DAY)
    events: dict[tuple[int, int], list[int]] = {}
    for r in t["insverifyhist"].to_pylist():
        events.setdefault((r["VerifyType"], r["FKey"]), []).append(day_number(r["DateLastVerified"]))
    pp = {r["PatNum"]: r for r in t["patplan"].to_pylist() if r["Ordinal"] == 1}
    sub_plan = dict(zip(col(t["inssub"], "InsSubNum"), col(t["inssub"], "PlanNum")))
    apt = {r["AptNum"]: r for r in t["appointment"].to_pylist()}
    vt = enum_codes("VerifyTypes")
    for num, enr, ben in zip(truth["apt_num"].tolist(), truth["enrollment"].tolist(), truth["benefits"].tolist()):
        a = apt[num]
        d = day_number(a["AptDateTime"].date())
        p = pp[a["PatNum"]]
        for code, key, window in ((enr, (vt["PatientEnrollment"], p["PatPlanNum"]), 30),
                                  (ben, (vt["InsuranceBenefit"], sub_plan[p["InsSubNum"]]), 90)):
            days = events.get(key, [])
            if any(d - window <= v <= d for v in days):
                assert code == 0
            elif any(d < v <= d + 7 for v in days):
                assert code == 1
            else:
                assert code == 2


def test_claimtracking_rules(practice):
    t = practice.tables
    claims = {r["ClaimNum"]: r for r in t["claim"].to_pylist()}
    ct = t["claimtracking"]
    assert set(col(ct, "TrackingType")) == {"StatusHistory"}  # ClaimTrackingType name, as OpenDental stores it
    per_claim: dict[int, list[dt.date]] = {}
    for num, when in zip(col(ct, "ClaimNum"), col(ct, "DateTimeEntry")):
        c = claims[num]
        assert c["ClaimStatus"] in ("S", "R")
        assert when.date() >= c["DateSent"] + dt.timedelta(days=28)
        assert when <= LAST_TS
        if c["ClaimStatus"] == "R":
            assert when.date() < c["DateReceived"]
        per_claim.setdefault(num, []).append(when.date())
    # every claim not neglected has its first entry by day 37 (35, moved off a weekend); neglected ones
    # (CLAIM_NEGLECT_RATE, half of them with no entry at all) may have none; later entries come every
    # 14-28 days (moved off weekends: 12-30)
    silent, tracked = 0, 0
    for num, c in claims.items():
        if c["ClaimStatus"] not in ("S", "R"):
            continue
        end = AS_OF if c["ClaimStatus"] == "S" else c["DateReceived"] - dt.timedelta(days=1)
        days = sorted(per_claim.get(num, []))
        assert all(12 <= (b - a).days <= 30 for a, b in zip(days, days[1:]))
        if (end - c["DateSent"]).days >= 37:
            silent += not days
            tracked += 1
    assert 0.05 < silent / tracked < 0.25


def test_eobattach_and_claimform(practice):
    t = practice.tables
    pay = {r["ClaimPaymentNum"]: r for r in t["claimpayment"].to_pylist()}
    eob = t["eobattach"]
    assert len(set(col(eob, "ClaimPaymentNum"))) == eob.num_rows
    for r in eob.to_pylist():
        assert r["DateTCreated"] == pay[r["ClaimPaymentNum"]]["SecDateTEdit"]
        assert r["FileName"].endswith(".pdf") and r["RawBase64"] == ""
    assert 0.4 < eob.num_rows / len(pay) < 0.8
    assert {"ADA 2019", "ADA 2024"} <= set(col(t["claimform"], "Description"))


def test_bluebook_rows_follow_synch_for_claim_nums(practice):
    t = practice.tables
    plans = {r["PlanNum"]: r for r in t["insplan"].to_pylist()}
    for p in plans.values():
        assert p["IsBlueBookEnabled"] == (1 if p["FeeSched"] == 0 else 0)
    claims = {r["ClaimNum"]: r for r in t["claim"].to_pylist()}
    cps = Counter()
    pay = Counter()
    cps_status = enum_codes("ClaimProcStatus")
    for r in t["claimproc"].to_pylist():
        if (r["Status"] in (cps_status["Received"], cps_status["Supplemental"]) and r["ClaimNum"]
                and plans[r["PlanNum"]]["PlanType"] == ""):
            cps[(r["ClaimNum"], r["ProcNum"])] += 1
            pay[(r["ClaimNum"], r["ProcNum"])] += round(r["InsPayAmt"] * 100)
    bb = t["insbluebook"].to_pylist()
    assert {(r["ClaimNum"], r["ProcNum"]) for r in bb} <= set(cps)
    assert len(bb) >= 0.95 * len(cps)
    for r in bb:
        assert plans[r["PlanNum"]]["PlanType"] == "" and r["CarrierNum"] == plans[r["PlanNum"]]["CarrierNum"]
        assert r["GroupNum"] == plans[r["PlanNum"]]["GroupNum"]
        assert round(r["InsPayAmt"] * 100) == pay[(r["ClaimNum"], r["ProcNum"])]
        assert r["ClaimType"] == claims[r["ClaimNum"]]["ClaimType"]
        assert r["DateTEntry"] <= LAST_TS
    log = t["insbluebooklog"].to_pylist()
    cp_plan = dict(zip(col(t["claimproc"], "ClaimProcNum"), col(t["claimproc"], "PlanNum")))
    assert all(plans[cp_plan[r["ClaimProcNum"]]]["PlanType"] == "" for r in log)
    assert all(r["Description"].startswith("Rule Type: UCR Fee.") and r["DateTEntry"] <= LAST_TS for r in log)


def test_deterministic_and_isolated():
    """Same seed: byte-identical tables. Tables other than this stage's (and the definitions it appends,
    and insplan.IsBlueBookEnabled) are those of a practice generated without the stage."""
    import sys

    gen = sys.modules["dental_synthetic.generate"]

    cfg = SyntheticConfig(as_of=AS_OF, patients=200, seed=5)
    a, b = generate(cfg), generate(cfg)
    for name in stage.TABLES + ("definition", "insplan"):
        assert a.tables[name].equals(b.tables[name]), name
    saved = gen.LATER_STAGES
    gen.LATER_STAGES = tuple(s for s in saved if s is not stage)
    try:
        without = generate(cfg)
    finally:
        gen.LATER_STAGES = saved
    for name, table in without.tables.items():
        if name in stage.TABLES:
            continue
        if name == "definition":
            assert a.tables[name].slice(0, table.num_rows).equals(table)
        elif name == "insplan":
            assert a.tables[name].drop_columns(["IsBlueBookEnabled"]).equals(table.drop_columns(["IsBlueBookEnabled"]))
        else:
            assert a.tables[name].equals(table), name


def test_validate_checks_insverify_fkey(practice):
    from dental_synthetic.validate import check_tables, validate_practice

    assert validate_practice(practice).ok
    tables = dict(practice.tables)
    iv = tables["insverify"]
    fkey = np.array(col(iv, "FKey"))
    fkey[0] = 10**7  # a patplan that does not exist
    tables["insverify"] = iv.set_column(iv.schema.get_field_index("FKey"), "FKey", pa.array(fkey))
    assert [f.check for f in check_tables(tables, AS_OF, practice.ledger).findings] == ["insverify_fkey"]


def test_practice_without_insurance():
    """No insured patient: no verification events, no claims to track, no blue book; the plans' insverify
    rows and the claim forms remain."""
    p = generate(SyntheticConfig(as_of=AS_OF, patients=150, seed=3, insurance_rate=0.0))
    rows = {name: p.tables[name].num_rows for name in stage.TABLES}
    assert rows == {"insverify": p.tables["insplan"].num_rows, "insverifyhist": 0, "claimtracking": 0,
                    "eobattach": 0, "claimform": len(stage.CLAIM_FORMS), "insbluebook": 0, "insbluebooklog": 0}

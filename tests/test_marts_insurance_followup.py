"""mart_insurance_verification_daily and mart_claim_followup equal the generator's ground truth.

A 1,000-patient practice is written to a real PostgreSQL `raw` schema and dbt builds the two marts (and
runs their data and unit tests, the hand-computed edge cases of
dental_dbt/models/marts/_insurance_followup__unit_tests.yml). The expected values come from the
generator's own record (``insurance_followup.verification_ground_truth``: which appointments were
verified in time, late or not at all) and from the generated claim and claimtracking rows, computed
in Python, not with the marts' SQL.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

import pytest

import dental_synthetic
from dbt_runner import query_rows as rows
from dbt_runner import run_dbt
from dental_assets.warehouse import PgParams, mark_demo_target
from dental_synthetic import insurance_followup as stage
from dental_synthetic.util import day_number, to_date

AS_OF = dt.date(2026, 6, 30)
MARTS = ("mart_insurance_verification_daily", "mart_claim_followup")


@pytest.fixture(scope="module")
def built(pg_module_url, tmp_path_factory):
    params = PgParams.from_url(pg_module_url)
    mark_demo_target(params)
    practice = dental_synthetic.generate(dental_synthetic.SyntheticConfig(patients=1000, seed=7, as_of=AS_OF))
    dental_synthetic.write_postgres_raw(practice, params)
    run_dbt(params, tmp_path_factory.mktemp("dbt_target"), "build", "--select", *(f"+{m}" for m in MARTS),
            "--indirect-selection", "cautious", settings={"as_of_date": AS_OF.isoformat()})
    return params, practice


def expected_verification(practice) -> dict[tuple[dt.date, int], tuple[int, ...]]:
    """Per (appointment day, clinic): the mart's counts from the generator's ground truth."""
    truth = stage.verification_ground_truth(practice.tables, day_number(AS_OF))
    out: dict[tuple[dt.date, int], Counter] = defaultdict(Counter)
    for day, clinic, enr, ben in zip(truth["day"].tolist(), truth["clinic"].tolist(), truth["enrollment"].tolist(),
                                     truth["benefits"].tolist()):
        c = out[(to_date(day), clinic)]
        c["insured"] += 1
        c[f"enr{enr}"] += 1
        c[f"ben{ben}"] += 1
        if enr == 0 and ben == 0:
            c["in_time"] += 1
        elif enr == 2 or ben == 2:
            c["not"] += 1
        else:
            c["late"] += 1
    keys = ("insured", "enr0", "enr1", "enr2", "ben0", "ben1", "ben2", "in_time", "late", "not")
    return {k: tuple(c[name] for name in keys) for k, c in out.items()}


def test_verification_mart_equals_ground_truth(built):
    params, practice = built
    mart = {
        (r[0], r[1]): tuple(r[2:])
        for r in rows(params, """
            select appointment_date, clinic_id, insured_appointment_count, enrollment_in_time_count,
                   enrollment_late_count, enrollment_not_verified_count, benefits_in_time_count,
                   benefits_late_count, benefits_not_verified_count, verified_in_time_count,
                   verified_late_count, not_verified_count
            from marts.mart_insurance_verification_daily""")
    }
    expected = expected_verification(practice)
    assert mart == expected
    totals = [sum(v[i] for v in expected.values()) for i in range(10)]
    assert totals[0] > 1000 and totals[7] > 0 and totals[8] > 0 and totals[9] > 0  # every outcome occurs


def expected_followup(practice) -> dict[int, tuple]:
    """Per open claim: (days since sent, entries, days since last entry or sent, last status, bucket, needs)."""
    t = practice.tables
    names = dict(zip(t["definition"].column("DefNum").to_pylist(), t["definition"].column("ItemName").to_pylist()))
    entries: dict[int, list[tuple[dt.datetime, int, str]]] = defaultdict(list)
    for r in t["claimtracking"].to_pylist():
        if r["TrackingType"] == "StatusHistory" and r["DateTimeEntry"].date() <= AS_OF:
            entries[r["ClaimNum"]].append((r["DateTimeEntry"], r["ClaimTrackingNum"], names[r["TrackingDefNum"]]))
    out = {}
    for c in t["claim"].to_pylist():
        if c["ClaimStatus"] != "S" or c["DateSent"] > AS_OF:
            continue
        mine = sorted(entries.get(c["ClaimNum"], []))
        last_day = mine[-1][0].date() if mine else c["DateSent"]
        since = (AS_OF - last_day).days
        bucket = "0-30" if since <= 30 else "31-60" if since <= 60 else "61-90" if since <= 90 else "90+"
        out[c["ClaimNum"]] = ((AS_OF - c["DateSent"]).days, len(mine), since, mine[-1][2] if mine else "none",
                              bucket, since > 30)
    return out


def test_claim_followup_mart_equals_claims_and_tracking(built):
    params, practice = built
    mart = {r[0]: tuple(r[1:]) for r in rows(params, """
        select claim_id, days_since_sent_days, follow_up_count, days_since_follow_up_days, last_tracking_status,
               follow_up_bucket, needs_followup
        from marts.mart_claim_followup""")}
    expected = expected_followup(practice)
    assert mart == expected
    assert len(expected) > 20
    assert any(v[1] > 0 for v in expected.values())  # some open claims have been followed up


def test_outstanding_report_lists_what_its_status_does_not_suppress(built):
    """OpenDental's Outstanding Insurance report hides an open claim while its latest status entry's day
    + the status's ItemValue (days suppressed) is after today (FormRpOutstandingIns.GetGridRows);
    recomputed here from the generated claimtracking and definition rows."""
    params, practice = built
    t = practice.tables
    days = {d: int(v) for d, v, c in zip(t["definition"].column("DefNum").to_pylist(),
                                         t["definition"].column("ItemValue").to_pylist(),
                                         t["definition"].column("Category").to_pylist()) if c == 31}
    latest: dict[int, tuple] = {}
    for r in t["claimtracking"].to_pylist():
        if r["TrackingType"] == "StatusHistory" and r["DateTimeEntry"].date() <= AS_OF:
            key = (r["DateTimeEntry"], r["ClaimTrackingNum"])
            if r["ClaimNum"] not in latest or key > latest[r["ClaimNum"]][0]:
                latest[r["ClaimNum"]] = (key, r["TrackingDefNum"])
    mart = {r[0]: (r[1], r[2]) for r in rows(params, """
        select claim_id, suppressed_until, on_outstanding_report from marts.mart_claim_followup""")}
    expected = {}
    for claim in mart:
        if claim in latest:
            (when, _), def_num = latest[claim]
            until = when.date() + dt.timedelta(days=days[def_num])
            expected[claim] = (until, until <= AS_OF)
        else:
            expected[claim] = (None, True)
    assert mart == expected
    shown = Counter(v[1] for v in expected.values())
    assert shown[True] > 0 and shown[False] > 0  # both kinds in the practice


def test_received_claims_are_not_open(built):
    params, practice = built
    status = dict(zip(practice.tables["claim"].column("ClaimNum").to_pylist(),
                      practice.tables["claim"].column("ClaimStatus").to_pylist()))
    ids = [r[0] for r in rows(params, "select claim_id from marts.mart_claim_followup")]
    assert {status[i] for i in ids} == {"S"}
    assert Counter(status.values())["R"] > 0

"""The synthetic practice's billing depth (issue #3, second pass): secondary insurance with coordination of
benefits, supplementals and denials, prepayments and income transfers, credit balances and refunds; the
books stay exact and ``validate`` catches a break of each new invariant.

One 2,000-patient practice is shared; every check recomputes from the raw tables with its own code.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest

from dental_assets.catalog import opendental_enums
from dental_synthetic import SyntheticConfig, generate
from dental_synthetic.validate import check_tables, validate_practice

AS_OF = dt.date(2025, 6, 30)


@pytest.fixture(scope="module")
def practice():
    return generate(SyntheticConfig(as_of=AS_OF, patients=2000, seed=11))


def enum(name: str) -> dict[str, int]:
    return {v["name"]: int(v["value"]) for v in opendental_enums()[name]["values"]}


CP = enum("ClaimProcStatus")
DEFCAT = enum("DefCat")


def col(practice_or_table, *names) -> np.ndarray:
    t = practice_or_table.tables[names[0]] if len(names) == 2 else practice_or_table
    arr = t.column(names[-1])
    if pa.types.is_date32(arr.type):
        return arr.cast(pa.int32()).to_numpy().astype(np.int64)
    return arr.to_numpy(zero_copy_only=False)


def cents(values) -> np.ndarray:
    return np.rint(np.asarray(values, dtype=np.float64) * 100).astype(np.int64)


def replaced(practice, table: str, **columns) -> dict[str, pa.Table]:
    """The practice's tables with some columns of one table replaced."""
    tables = dict(practice.tables)
    t = tables[table]
    for name, values in columns.items():
        t = t.set_column(t.schema.get_field_index(name), name, pa.array(values, type=t.schema.field(name).type))
    tables[table] = t
    return tables


def charges(practice) -> dict[int, int]:
    pl = practice.tables["procedurelog"]
    amount = cents(col(pl, "ProcFee")) * (col(pl, "UnitQty") + col(pl, "BaseUnits"))
    return dict(zip(col(pl, "ProcNum").tolist(), amount.tolist()))


def test_the_practice_passes_validate(practice):
    report = validate_practice(practice)
    assert report.ok, report.text()


# ------------------------------------------------------------------------------------- secondary insurance

def test_secondary_plans_have_their_own_subscriber_and_plan(practice):
    pp = practice.tables["patplan"]
    ordinal, pat, sub = col(pp, "Ordinal"), col(pp, "PatNum"), col(pp, "InsSubNum")
    assert set(ordinal.tolist()) == {1, 2}
    share = (ordinal == 2).sum() / (ordinal == 1).sum()
    assert 0.05 < share < 0.25
    sub_plan = dict(zip(col(practice, "inssub", "InsSubNum").tolist(), col(practice, "inssub", "PlanNum").tolist()))
    subscriber = dict(zip(col(practice, "inssub", "InsSubNum").tolist(),
                          col(practice, "inssub", "Subscriber").tolist()))
    by_pat = defaultdict(dict)
    for p, o, s in zip(pat.tolist(), ordinal.tolist(), sub.tolist()):
        assert o not in by_pat[p]
        by_pat[p][o] = s
    seconds = [v for v in by_pat.values() if 2 in v]
    assert all(1 in v and v[1] != v[2] and sub_plan[v[1]] != sub_plan[v[2]] for v in seconds)
    # some second plans are the spouse's: then the subscriber differs from the primary's
    assert any(subscriber[v[2]] != subscriber[v[1]] for v in seconds)
    relat = enum("Relat")
    rel = dict(zip(zip(pat.tolist(), ordinal.tolist()), col(pp, "Relationship").tolist()))
    for (p, o), r in rel.items():
        if subscriber[by_pat[p][o]] == p:
            assert r == relat["Self"]


def test_secondary_claims_follow_the_primary_and_coordinate_benefits(practice):
    cl = practice.tables["claim"]
    num = col(cl, "ClaimNum").tolist()
    ctype = dict(zip(num, col(cl, "ClaimType").tolist()))
    status = dict(zip(num, col(cl, "ClaimStatus").tolist()))
    recv = dict(zip(num, col(cl, "DateReceived").tolist()))
    sent = dict(zip(num, col(cl, "DateSent").tolist()))
    sent_orig = dict(zip(num, col(cl, "DateSentOrig").tolist()))
    service = dict(zip(num, col(cl, "DateService").tolist()))
    plan, plan2 = dict(zip(num, col(cl, "PlanNum").tolist())), dict(zip(num, col(cl, "PlanNum2").tolist()))
    sub, sub2 = dict(zip(num, col(cl, "InsSubNum").tolist())), dict(zip(num, col(cl, "InsSubNum2").tolist()))
    secondary = [c for c in num if ctype[c] == "S"]
    assert len(secondary) > 50 and set(ctype.values()) == {"P", "S"}
    cp = practice.tables["claimproc"]
    cp_claim, cp_proc = col(cp, "ClaimNum").tolist(), col(cp, "ProcNum").tolist()
    cp_status = col(cp, "Status").tolist()
    pay, wo, est = cents(col(cp, "InsPayAmt")), cents(col(cp, "WriteOff")), cents(col(cp, "InsPayEst"))
    wo_est = cents(col(cp, "WriteOffEst"))
    primary_of = {}  # procedure -> its primary claim
    taken = defaultdict(int)  # procedure -> what the primary paid and wrote off (or estimates so while pending)
    for i, (c, p, s) in enumerate(zip(cp_claim, cp_proc, cp_status)):
        if c and ctype[c] == "P":
            primary_of[p] = c
            taken[p] += int(pay[i] + wo[i]) if s in (CP["Received"], CP["Supplemental"]) else int(est[i] + wo_est[i])
    charge = charges(practice)
    held = 0
    for i, (c, p) in enumerate(zip(cp_claim, cp_proc)):
        if not c or ctype[c] != "S":
            continue
        pri = primary_of[p]
        assert plan2[pri] == plan[c] and plan2[c] == plan[pri] and sub2[c] == sub[pri] and sub2[pri] == sub[c]
        left = max(charge[p] - taken[p], 0)
        assert 0 <= est[i] <= left and 0 <= pay[i] <= left and wo[i] == 0
        if status[c] == "H":
            held += 1
            assert status[pri] != "R" and cp_status[i] == CP["NotReceived"]
            # DateSent as OpenDental writes it at creation (the visit day); no DateSentOrig until sent
            assert sent[c] == service[c] and sent_orig[c] < 0
        if status[c] in ("S", "R"):
            assert status[pri] == "R" and sent[c] >= recv[pri]
        if status[c] == "R":
            assert recv[c] > sent[c]
    assert held > 0
    paid_secondary = [pay[i] for i, c in enumerate(cp_claim) if c and ctype[c] == "S"]
    assert sum(x > 0 for x in paid_secondary) > 50


# ----------------------------------------------------------------------------------- supplementals, denials

def test_supplementals_pay_later_on_received_claims(practice):
    cp = practice.tables["claimproc"]
    status, claim, proc = col(cp, "Status"), col(cp, "ClaimNum"), col(cp, "ProcNum")
    pay, check, datecp = cents(col(cp, "InsPayAmt")), col(cp, "ClaimPaymentNum"), col(cp, "DateCP")
    supp = np.flatnonzero(status == CP["Supplemental"])
    assert len(supp) > 20
    assert (pay[supp] > 0).all()
    for name in ("FeeBilled", "InsPayEst", "WriteOff"):
        assert (cents(col(cp, name))[supp] == 0).all(), name
    received = {(c, p): i for i, (c, p, s) in enumerate(zip(claim, proc, status)) if s == CP["Received"]}
    cl = practice.tables["claim"]
    claim_status = dict(zip(col(cl, "ClaimNum").tolist(), col(cl, "ClaimStatus").tolist()))
    claim_recv = dict(zip(col(cl, "ClaimNum").tolist(), col(cl, "DateReceived").tolist()))
    check_date = dict(zip(col(practice, "claimpayment", "ClaimPaymentNum").tolist(),
                          col(practice, "claimpayment", "CheckDate").tolist()))
    for i in supp.tolist():
        orig = received[(claim[i], proc[i])]
        assert claim_status[claim[i]] == "R"
        assert datecp[i] > claim_recv[claim[i]] and check[i] != check[orig] and check_date[check[i]] == datecp[i]
        # the supplemental pays at most the shortfall: the insurer never pays beyond its estimate
        assert pay[orig] + pay[i] <= cents(col(cp, "InsPayEst"))[orig]
    # the claim's InsPayAmt counts its supplementals
    total = defaultdict(int)
    for c, p in zip(claim.tolist(), pay.tolist()):
        total[c] += p
    assert all(total[c] == a for c, a in zip(col(cl, "ClaimNum").tolist(), cents(col(cl, "InsPayAmt")).tolist()))


def test_denials_are_received_claimprocs_paying_nothing(practice):
    cl = practice.tables["claim"]
    denied = set(col(cl, "ClaimNum")[np.char.startswith(col(cl, "ReasonUnderPaid").astype(str), "Denied")].tolist())
    assert len(denied) > 10
    cp = practice.tables["claimproc"]
    on_denied = np.isin(col(cp, "ClaimNum"), list(denied)) & (col(cp, "Status") != CP["Supplemental"])
    assert (col(cp, "Status")[on_denied] == CP["Received"]).all()
    assert (cents(col(cp, "InsPayAmt"))[on_denied] == 0).all()
    assert (cents(col(cp, "InsPayEst"))[on_denied] > 0).any()
    assert (col(cp, "Remarks")[on_denied] != "").all()
    assert (col(cp, "Remarks")[~on_denied] == "").all()


# ----------------------------------------------------------------------- unearned money, income transfers

def _splits(practice):
    ps = practice.tables["paysplit"]
    return {name: col(ps, name) for name in ("SplitNum", "PayNum", "ProcNum", "UnearnedType", "FSplitNum",
                                             "PatNum", "ClinicNum", "DatePay")} | {"amt": cents(col(ps, "SplitAmt"))}


def test_unearned_splits_use_the_prepayment_definition(practice):
    s = _splits(practice)
    df = practice.tables["definition"]
    category = dict(zip(col(df, "DefNum").tolist(), col(df, "Category").tolist()))
    hidden = dict(zip(col(df, "DefNum").tolist(), col(df, "ItemValue").tolist()))
    unearned = s["UnearnedType"] != 0
    assert unearned.sum() > 100
    assert {category[u] for u in s["UnearnedType"][unearned].tolist()} == {DEFCAT["PaySplitUnearnedType"]}
    # shown on the account, and "Do Not Show on Account" (the Treatment Plan Prepayment type, ItemValue X)
    assert {hidden[u] for u in s["UnearnedType"][unearned].tolist()} == {"", "X"}
    assert (s["ProcNum"][unearned] == 0).all()
    # a hidden split is a deposit for an appointment after the as-of date: nothing draws from it yet
    # (no transfer, no refund) and it is money that came in
    is_hidden = np.array([hidden.get(u, "") == "X" for u in s["UnearnedType"].tolist()])
    assert not np.isin(s["FSplitNum"], s["SplitNum"][is_hidden]).any()
    assert (s["amt"][is_hidden] > 0).all() and (s["FSplitNum"][is_hidden] == 0).all()


def test_income_transfers_move_prepayments_onto_procedures(practice):
    s = _splits(practice)
    pay = practice.tables["payment"]
    transfers = set(col(pay, "PayNum")[col(pay, "PayType") == 0].tolist())
    assert len(transfers) > 50
    assert (cents(col(pay, "PayAmt"))[col(pay, "PayType") == 0] == 0).all()
    row = {n: i for i, n in enumerate(s["SplitNum"].tolist())}
    proc_date = dict(zip(col(practice, "procedurelog", "ProcNum").tolist(),
                         col(practice, "procedurelog", "ProcDate").tolist()))
    drawn = defaultdict(int)  # prepayment split -> transferred out of it
    for t in transfers:
        rows = np.flatnonzero(s["PayNum"] == t)
        assert s["amt"][rows].sum() == 0
        for i in rows.tolist():
            source = row[s["FSplitNum"][i]]
            if s["amt"][i] < 0:  # out of unearned: draws from a prepayment paid earlier
                assert s["UnearnedType"][i] != 0 and s["ProcNum"][i] == 0
                assert s["UnearnedType"][source] != 0 and s["amt"][source] > 0
                assert s["DatePay"][source] <= s["DatePay"][i] and s["PatNum"][source] == s["PatNum"][i]
                drawn[source] -= int(s["amt"][i])
            else:  # onto a procedure: paired with the negative split of the same transfer
                assert s["UnearnedType"][i] == 0 and s["ProcNum"][i] != 0
                assert s["PayNum"][source] == t and s["amt"][source] == -s["amt"][i]
                assert s["ClinicNum"][source] == s["ClinicNum"][i] and s["DatePay"][i] >= proc_date[s["ProcNum"][i]]
    assert drawn and all(amount <= s["amt"][source] for source, amount in drawn.items())


def test_credit_balances_and_refunds(practice):
    s = _splits(practice)
    pay = practice.tables["payment"]
    refunds = col(pay, "PayNum")[cents(col(pay, "PayAmt")) < 0]
    assert len(refunds) > 5
    row = {n: i for i, n in enumerate(s["SplitNum"].tolist())}
    for r in refunds.tolist():
        rows = np.flatnonzero(s["PayNum"] == r)
        assert len(rows) == 1
        i = int(rows[0])
        source = row[s["FSplitNum"][i]]
        assert s["amt"][i] < 0 and s["amt"][source] == -s["amt"][i]
        assert s["UnearnedType"][i] == s["UnearnedType"][source] != 0 and s["ProcNum"][i] == 0
        assert s["DatePay"][i] - s["DatePay"][source] >= 14
    pt = practice.tables["patient"]
    guar = col(pt, "PatNum") == col(pt, "Guarantor")
    total = cents(col(pt, "BalTotal"))[guar]
    buckets = sum(cents(col(pt, n))[guar] for n in ("Bal_0_30", "Bal_31_60", "Bal_61_90", "BalOver90"))
    in_credit = total < 0
    assert in_credit.sum() >= 5
    assert (buckets[in_credit] == 0).all() and (buckets[~in_credit] == total[~in_credit]).all()
    # a family in credit holds unearned money: its credit is at most its unearned splits' sum
    unearned = defaultdict(int)
    guarantor = dict(zip(col(pt, "PatNum").tolist(), col(pt, "Guarantor").tolist()))
    for p, u, a in zip(s["PatNum"].tolist(), s["UnearnedType"].tolist(), s["amt"].tolist()):
        if u:
            unearned[guarantor[p]] += a
    for g, t in zip(col(pt, "PatNum")[guar][in_credit].tolist(), total[in_credit].tolist()):
        assert -t <= unearned[g]


def test_patient_income_nets_transfers_per_day_and_clinic(practice):
    s = _splits(practice)
    pay = practice.tables["payment"]
    transfer = np.isin(s["PayNum"], col(pay, "PayNum")[col(pay, "PayType") == 0])
    net = defaultdict(int)
    for d, c, a in zip(s["DatePay"][transfer].tolist(), s["ClinicNum"][transfer].tolist(),
                       s["amt"][transfer].tolist()):
        net[(d, c)] += a
    assert net and all(v == 0 for v in net.values())
    daily = practice.ledger["daily"]
    df = practice.tables["definition"]
    hidden = col(df, "DefNum")[(col(df, "Category") == DEFCAT["PaySplitUnearnedType"]) & (col(df, "ItemValue") != "")]
    shown = ~np.isin(s["UnearnedType"], hidden)  # OpenDental leaves "Do Not Show on Account" types out
    assert (~shown).any()
    assert cents(col(daily, "PatientIncome")).sum() == s["amt"][~transfer & shown].sum()
    received = np.isin(col(practice, "claimproc", "Status"), (CP["Received"], CP["Supplemental"]))
    received &= col(practice, "claimproc", "ClaimPaymentNum") > 0  # on a check: income
    assert cents(col(daily, "InsuranceIncome")).sum() == cents(col(practice, "claimproc", "InsPayAmt"))[received].sum()


# --------------------------------------------------------------------------------------------- capitation

def test_capitation_plan_procedures_are_written_off_down_to_the_copay(practice):
    """A capitation plan (insplan.PlanType 'c') sends no claims: OpenDental gives each procedure of its
    patients a CapComplete claimproc (Status 7) when completed and a CapEstimate (8) while planned, with
    WriteOff = fee - CopayAmt, DateCP = ProcDate, no insurance payment (ClaimProcs.CreateEst and
    ComputeBaseEst). The daily ledger's CapitationWriteOffs are those write-offs by the procedure's date."""
    ip = practice.tables["insplan"]
    cap_plans = set(col(ip, "PlanNum")[col(ip, "PlanType") == "c"].tolist())
    assert len(cap_plans) == 1
    cp = practice.tables["claimproc"]
    on_cap = np.isin(col(cp, "PlanNum"), list(cap_plans))
    status = col(cp, "Status")
    assert set(status[on_cap].tolist()) == {CP["CapComplete"], CP["CapEstimate"]}
    assert not np.isin(status[~on_cap], [CP["CapComplete"], CP["CapEstimate"], CP["CapClaim"]]).any()
    assert (col(cp, "ClaimNum")[on_cap] == 0).all() and (cents(col(cp, "InsPayAmt"))[on_cap] == 0).all()
    assert (col(cp, "DateCP")[on_cap] == col(cp, "ProcDate")[on_cap]).all()
    fee = charges(practice)
    proc_status = dict(zip(col(practice, "procedurelog", "ProcNum").tolist(),
                           col(practice, "procedurelog", "ProcStatus").tolist()))
    copay, writeoff = cents(col(cp, "CopayAmt")), cents(col(cp, "WriteOff"))
    for proc, st, c, w in zip(col(cp, "ProcNum")[on_cap].tolist(), status[on_cap].tolist(),
                              copay[on_cap].tolist(), writeoff[on_cap].tolist()):
        assert 0 < c < fee[proc] and w == fee[proc] - c
        assert proc_status[proc] == (2 if st == CP["CapComplete"] else 1)  # complete / treatment planned
    complete = on_cap & (status == CP["CapComplete"])
    assert complete.sum() > 50 and len(set(col(cp, "ProcNum")[complete].tolist())) == complete.sum()
    daily = practice.ledger["daily"]
    assert cents(col(daily, "CapitationWriteOffs")).sum() == writeoff[complete].sum()
    received = np.isin(status, [CP["Received"], CP["Supplemental"]])
    assert cents(col(daily, "WriteOffs")).sum() == writeoff[received].sum()


# ------------------------------------------------------------------------- validate catches each break

def test_validate_catches_a_secondary_estimate_beyond_the_primary_remainder(practice):
    cp = practice.tables["claimproc"]
    cl = practice.tables["claim"]
    secondary = np.isin(col(cp, "ClaimNum"), col(cl, "ClaimNum")[col(cl, "ClaimType") == "S"])
    i = int(np.flatnonzero(secondary & (col(cp, "Status") == CP["NotReceived"]))[0])
    est = col(cp, "InsPayEst").copy()
    est[i] = col(cp, "FeeBilled")[i] + 1.0
    report = check_tables(replaced(practice, "claimproc", InsPayEst=est), AS_OF)
    cob = [f for f in report.findings if f.check == "secondary_cob"]
    assert [f.keys for f in cob] == [[int(col(cp, "ClaimProcNum")[i])]]


def test_validate_catches_a_supplemental_without_a_received_claim(practice):
    cp = practice.tables["claimproc"]
    i = int(np.flatnonzero(col(cp, "Status") == CP["Supplemental"])[0])
    proc = col(cp, "ProcNum").copy()
    other = int(np.flatnonzero(col(cp, "Status") == CP["Estimate"])[0])
    proc[i] = proc[other]  # now points at a planned procedure, not at one of its claim's
    report = check_tables(replaced(practice, "claimproc", ProcNum=proc), AS_OF)
    assert ("supplemental", [int(col(cp, "ClaimProcNum")[i])]) in [(f.check, f.keys) for f in report.findings]


def test_validate_catches_an_unbalanced_transfer_and_an_allocated_unearned_split(practice):
    ps = practice.tables["paysplit"]
    pay = practice.tables["payment"]
    transfer = int(col(pay, "PayNum")[col(pay, "PayType") == 0][0])
    i = int(np.flatnonzero((col(ps, "PayNum") == transfer) & (col(ps, "SplitAmt") > 0))[0])
    amt = col(ps, "SplitAmt").copy()
    amt[i] += 1.0
    tables = replaced(practice, "paysplit", SplitAmt=amt)
    checks = {(f.check, tuple(f.keys)) for f in check_tables(tables, AS_OF).findings}
    assert ("income_transfer", (transfer,)) in checks
    j = int(np.flatnonzero(col(ps, "UnearnedType") != 0)[0])
    proc = col(ps, "ProcNum").copy()
    proc[j] = int(col(practice, "procedurelog", "ProcNum")[0])
    found = [f for f in check_tables(replaced(practice, "paysplit", ProcNum=proc), AS_OF).findings
             if f.check == "unearned_split"]
    assert [f.keys for f in found] == [[int(col(ps, "SplitNum")[j])]]
    kind = col(ps, "UnearnedType").copy()
    df = practice.tables["definition"]
    kind[j] = int(col(df, "DefNum")[col(df, "Category") == DEFCAT["PaymentTypes"]][0])
    found = [f for f in check_tables(replaced(practice, "paysplit", UnearnedType=kind), AS_OF).findings
             if f.check == "unearned_split"]
    assert [f.keys for f in found] == [[int(col(ps, "SplitNum")[j])]]


def test_charges_and_credits_fall_on_every_aging_bucket_boundary(practice):
    """Finance charges on every boundary age (0, 30, 31, 60, 61, 90, 91 days) before the run date and
    before each of the month ends the feature names, and discounts attached to procedures dated on a
    boundary, entered on the reference date itself (dental_synthetic.boundary); the same for a seed."""
    from dental_synthetic.boundary import BOUNDARY_AGES, BOUNDARY_MONTH_ENDS

    adj = practice.tables["adjustment"].to_pylist()
    defs = {d["DefNum"]: d["ItemName"] for d in practice.tables["definition"].to_pylist()}
    month_end = AS_OF.replace(day=1)
    references = [AS_OF]
    for _ in range(BOUNDARY_MONTH_ENDS):
        month_end -= dt.timedelta(days=1)
        references.append(month_end)
        month_end = month_end.replace(day=1)
    ages = {(ref, (ref - a["AdjDate"]).days) for a in adj if defs[a["AdjType"]] == "Finance Charge"
            and a["AdjAmt"] > 0 and a["ProcNum"] == 0 for ref in references}
    assert {(ref, age) for ref in references for age in BOUNDARY_AGES} <= ages
    discounts = [a for a in adj if defs[a["AdjType"]] == "Cash Discount" and a["AdjDate"] in references
                 and a["AdjDate"] > a["ProcDate"] and (a["AdjDate"] - a["ProcDate"]).days in BOUNDARY_AGES]
    assert discounts and all(a["AdjAmt"] < 0 and a["ProcNum"] for a in discounts)
    again = generate(SyntheticConfig(as_of=AS_OF, patients=2000, seed=11)).tables["adjustment"]
    assert again.equals(practice.tables["adjustment"])


def test_capitation_write_offs_go_with_their_procedure_row(practice):
    """The Production and Income report subtracts a CapComplete claimproc's WriteOff from its procedure's
    production row (RpProdInc joins procedurelog to its Status 7 claimprocs): on the procedure's ProcDate,
    clinic and provider, even where the claimproc's own copies differ (a procedure whose date was
    edited, or lost to 0001-01-01 in dirty data)."""
    from dental_synthetic.ledger import daily_ledger

    tables = practice.tables
    cp = tables["claimproc"].to_pylist()
    pl = tables["procedurelog"]
    done = {r["ProcNum"]: r for r in pl.to_pylist() if r["ProcStatus"] == 2}
    cap = next(r for r in cp if r["Status"] == CP["CapComplete"] and r["WriteOff"] > 0 and r["ProcNum"] in done)
    moved = dt.date(2001, 2, 5)  # before the practice's first day: nothing else on it
    dates = [moved if n == cap["ProcNum"] else d for n, d in zip(pl.column("ProcNum").to_pylist(),
                                                                  pl.column("ProcDate").to_pylist())]
    i = pl.schema.get_field_index("ProcDate")
    edited = {**tables, "procedurelog": pl.set_column(i, pl.schema.field(i), pa.array(dates, pa.date32()))}
    daily = [r for r in daily_ledger(edited).to_pylist() if r["Date"] == moved]
    proc = done[cap["ProcNum"]]
    assert [(r["ClinicNum"], r["ProvNum"], r["CapitationWriteOffs"]) for r in daily] == [
        (proc["ClinicNum"], proc["ProvNum"], cap["WriteOff"])]
    before = {(r["Date"], r["ClinicNum"], r["ProvNum"]): r["CapitationWriteOffs"]
              for r in daily_ledger(tables).to_pylist()}
    after = {(r["Date"], r["ClinicNum"], r["ProvNum"]): r["CapitationWriteOffs"]
             for r in daily_ledger(edited).to_pylist()}
    key = (cap["ProcDate"], proc["ClinicNum"], proc["ProvNum"])
    assert round(before[key] - after.get(key, 0.0), 2) == round(cap["WriteOff"], 2)


# ------------------------------------------------------------------------ pending claims, broken appointments

def test_a_pending_claimproc_carries_its_write_off_estimate(practice):
    """Claims.CalculateAndUpdate: ``if(Status==NotReceived) WriteOff=ClaimProcs.GetWriteOffEstimate(cp)``
    (WriteOffEstOverride, else WriteOffEst, else 0) and claim.WriteOff is the sum over its claimprocs; the
    aging's pending write-off (Ledgers.cs InsWoEst: WriteOff of Status 0) is therefore not 0 while PPO claims
    are pending. Checked on every NotReceived claimproc on a claim, and the ledger's InsWoEst total."""
    cp = practice.tables["claimproc"]
    pending = (col(cp, "Status") == CP["NotReceived"]) & (col(cp, "ClaimNum") > 0)
    override, est = cents(col(cp, "WriteOffEstOverride")), cents(col(cp, "WriteOffEst"))
    expected = np.where(override != -100, override, np.where(est != -100, est, 0))
    wo = cents(col(cp, "WriteOff"))
    assert pending.sum() > 100 and (wo[pending] > 0).sum() > 50
    assert np.array_equal(wo[pending], expected[pending])
    totals = defaultdict(int)
    for c, w in zip(col(cp, "ClaimNum").tolist(), wo.tolist()):
        totals[c] += w
    assert all(totals[c] == w for c, w in zip(col(practice, "claim", "ClaimNum").tolist(),
                                               cents(col(practice, "claim", "WriteOff")).tolist()))
    complete = set(col(practice, "procedurelog", "ProcNum")[col(practice, "procedurelog", "ProcStatus") == 2].tolist())
    on_complete = np.isin(col(cp, "ProcNum"), list(complete)) & (col(cp, "Status") == CP["NotReceived"])
    assert cents(col(practice.ledger["aging"], "InsWoEst")).sum() == wo[on_complete].sum() > 0


def test_claim_write_offs_rule():
    """``billing._claim_writeoffs`` on hand-made rows: a received claimproc keeps the write-off taken, a
    pending one carries the procedure's write-off estimate (GetWriteOffEstimate), not 0."""
    from types import SimpleNamespace

    from dental_synthetic.billing import _claim_writeoffs

    pri = SimpleNamespace(recv=np.array([True, False, False]), wo=np.array([3_000, 0, 0]), rows=np.array([2, 0, 1]))
    cov = SimpleNamespace(wo_est=np.array([4_500, 0, 3_000]))
    assert _claim_writeoffs(pri, cov).tolist() == [3_000, 4_500, 0]


def test_estimates_and_pending_claimprocs_are_dated_on_their_procedure(practice):
    """Procedures.ComputeEstimates creates a claimproc with ``cp.DateCP=proc.ProcDate`` (ClaimProcs.CreateEst
    too); attached to a claim (NotReceived) it keeps that date until the payment is entered. Such rows are
    not finalized on a check (DateInsFinalized unset)."""
    cp = practice.tables["claimproc"]
    pending = np.isin(col(cp, "Status"), [CP["NotReceived"], CP["Estimate"]])
    assert pending.sum() > 100
    assert np.array_equal(col(cp, "DateCP")[pending], col(cp, "ProcDate")[pending])
    assert (col(cp, "DateInsFinalized")[pending] < 0).all()  # 0001-01-01


def test_the_missed_appointment_fee_is_charged_when_an_appointment_is_broken(practice):
    """OpenDental makes the broken-appointment adjustment only in AppointmentL.BreakApptHelper (AdjDate =
    ProcDate = the day it is broken, the appointment's ProvNum and ClinicNum): every "Missed Appointment Fee"
    sits on the day and patient of a broken appointment's D9986/D9987 (charted at the same moment), with its
    provider and clinic; an appointment sent to the unscheduled list is not broken and carries none."""
    adj = practice.tables["adjustment"]
    defs = dict(zip(col(practice, "definition", "DefNum").tolist(),
                    practice.tables["definition"].column("ItemName").to_pylist()))
    fee = np.array([defs.get(t) == "Missed Appointment Fee" for t in col(adj, "AdjType").tolist()])
    assert fee.sum() > 10
    codes = dict(zip(col(practice, "procedurecode", "CodeNum").tolist(),
                     practice.tables["procedurecode"].column("ProcCode").to_pylist()))
    pl = practice.tables["procedurelog"]
    broken = {(p, d, pv, c) for p, d, pv, c, code in zip(col(pl, "PatNum").tolist(), col(pl, "ProcDate").tolist(),
                                                         col(pl, "ProvNum").tolist(), col(pl, "ClinicNum").tolist(),
                                                         col(pl, "CodeNum").tolist())
              if codes[code] in ("D9986", "D9987")}
    for p, d, pd_, pv, c in zip(col(adj, "PatNum")[fee].tolist(), col(adj, "AdjDate")[fee].tolist(),
                                col(adj, "ProcDate")[fee].tolist(), col(adj, "ProvNum")[fee].tolist(),
                                col(adj, "ClinicNum")[fee].tolist()):
        assert (p, d, pv, c) in broken and pd_ == d
    unsched = col(practice, "appointment", "AptStatus") == enum("ApptStatus")["UnschedList"]
    broken_apt = col(practice, "appointment", "AptStatus") == enum("ApptStatus")["Broken"]
    assert unsched.sum() > 10 and broken_apt.sum() > 10


def test_some_claims_are_paid_late_or_not_at_all():
    """``billing._claim_delays``: LATE_CLAIM_RATE of the claims are paid LATE_CLAIM_DAYS after sending,
    UNRECEIVED_CLAIM_RATE never (-1), the rest on time; a stream of its own (deterministic)."""
    from dental_synthetic.billing import LATE_CLAIM_DAYS, LATE_CLAIM_RATE, UNRECEIVED_CLAIM_RATE, _claim_delays
    from dental_synthetic.context import Context

    ctx = Context.create(SyntheticConfig(as_of=AS_OF, patients=10, seed=5))
    delay = _claim_delays(ctx, np.full(20_000, 20), 11)
    assert np.array_equal(delay, _claim_delays(ctx, np.full(20_000, 20), 11))
    late, never = (delay != 20) & (delay >= 0), delay == -1
    assert abs(late.mean() - LATE_CLAIM_RATE) < 0.01 and abs(never.mean() - UNRECEIVED_CLAIM_RATE) < 0.005
    assert delay[late].min() >= LATE_CLAIM_DAYS[0] and delay[late].max() < LATE_CLAIM_DAYS[1]


def test_open_claims_reach_every_follow_up_age(practice):
    """Late and unpaid claims (LATE_CLAIM_RATE, UNRECEIVED_CLAIM_RATE) leave sent claims open 61-90 and over
    90 days after they were sent at as-of, the claim follow-up's older buckets; received claims include
    some paid 60 days or more after sending."""
    cl = practice.tables["claim"]
    status = np.asarray(cl.column("ClaimStatus").to_pylist())
    sent, recv = col(cl, "DateSent"), col(cl, "DateReceived")
    age = (AS_OF - dt.date(1970, 1, 1)).days - sent[status == "S"]
    assert ((age > 60) & (age <= 90)).sum() > 0 and (age > 90).sum() > 0
    received = status == "R"
    assert (recv[received] - sent[received] >= 60).sum() > 0

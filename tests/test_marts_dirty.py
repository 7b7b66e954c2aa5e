"""dbt on dirty data: every test at severity error passes (the foreign keys of references read from OpenDental
only warn: docs/dbt.md, "Foreign keys"), and the marts equal the books corrected by exactly the injected problems.

A 1,000-patient practice is generated, ``make_dirty`` injects every kind of problem at 1% (each injected
row is recorded in ``ledger["injections"]``), the dirty tables go into a real PostgreSQL ``raw`` and
``dbt build`` runs on the whole project. The expected marts are the clean practice's ledger with each
injected change applied by the rule docs/dbt.md ("Dirty data") gives for its kind:

- ``sentinel_date`` (a completed procedure's ProcDate 0001-01-01): out of production; in AR, as the
  oldest charge;
- ``negative_amount`` (a completed procedure's ProcFee negated): counted as stored, a negative charge;
- ``absurd_amount`` (a paysplit of $987,654.32): counted as stored;
- ``claimproc_claimnum_0`` (a received claimproc on no claim): its payment still counts;
- ``unusual_status`` (AptStatus 9): 'unknown', none of scheduled, complete, broken; (ProcStatus 9 of a
  completed procedure): 'unknown', neither production nor AR (OpenDental's RpProdInc and
  Ledgers.GetTransQueryString count ProcStatus 2 only);
- ``orphan_reference`` (dental_synthetic.dirty.ORPHAN_REFERENCES): the build passes (the foreign keys warn)
  and each row is handled as mart_data_exceptions' handling text says, as the marts' SQL stands: a completed
  procedure of an unknown provider is production of provider 0, one of an unknown code counts as stored;
  a completed procedure of a patient that does not exist is out of production and AR (RpProdInc's and the
  aging's INNER JOIN patient); a patient whose guarantor is gone is in no family mart_ar_aging ages; a TP
  procedure of a deleted appointment, an estimate of a deleted procedure and a claimproc of an unknown claim
  move no money;
- ``missing_key`` (dental_synthetic.dirty.MISSING_KEYS: PatNum 0 on a completed procedure and on an
  adjustment): out of production and AR, as a PatNum that names no row (the orphan comparison skips 0, so
  mart_data_exceptions lists them as their own kind); (PatNum 0 on a paysplit and on a pending claimproc
  estimate of a completed procedure): out of AR, its amount or estimate in no family (the aging joins the
  patient, Ledgers.GetAgingGuarTransQuery); the split still counts in collections (the daily report LEFT
  JOINs patient), the estimate is no income; (PatNum 0 on a payment plan with a credit, Guarantor 0 on a
  patient plan's debit: the plan rows the aging reads under the practice's PayPlansVersion 2,
  Ledgers.GetTransQueryString): out of AR, the credit and the debit aged in no family;
- ``orphan_row``, ``near_duplicate_plan``, ``control_chars``: no money moves; text is cleaned.

Every injected row, and no other, is listed in ``marts.mart_data_exceptions``: so the rules of it no
injection triggers (an undated commlog, securitylog, clockevent or timeadjust row; an undefined commlog
Mode_ or SentOrReceived, securitylog PermType or clockevent ClockStatus: hand-made unit test
``exceptions_list_comm_log_and_time_card_rows``) list no row of this practice either.

``mart_ar_aging`` is compared bucket by bucket (0-30, 31-60, 61-90, over 90, total, insurance estimate,
patient portion) for every family, at the as-of date and at every month end, with the generator's own
aging routine (``dental_synthetic.ledger.family_aging``, OpenDental's rules under the practice's
settings, historic at month ends) run over the clean tables with the injections applied by the rules
above (``corrected_books``).
"""

import datetime as dt
import json
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pyarrow as pa
import pytest

import dental_synthetic
from dbt_runner import run_dbt, query_rows as rows
from dental_assets.warehouse import PgParams, mark_demo_target
from dental_synthetic.dirty import make_dirty
from dental_synthetic.ledger import family_aging

AS_OF = dt.date(2026, 6, 30)
RATE = 0.01
CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def dbt_target(tmp_path_factory):
    return tmp_path_factory.mktemp("dbt_target")


@pytest.fixture(scope="module")
def built(pg_module_url, dbt_target):
    """The clean practice, its dirty copy in raw, and every dbt model and test built from it."""
    params = PgParams.from_url(pg_module_url)
    mark_demo_target(params)
    clean = dental_synthetic.generate(dental_synthetic.SyntheticConfig(patients=1000, seed=7, as_of=AS_OF))
    dirty = make_dirty(clean, RATE)
    dental_synthetic.write_postgres_raw(dirty, params)
    run_dbt(params, dbt_target, "build", settings={"as_of_date": AS_OF.isoformat()}, artifacts=True)
    return params, clean, dirty


def injected(dirty, kind: str, table: str | None = None, column: str | None = None) -> list[int]:
    return [r["KeyNum"] for r in dirty.ledger["injections"].to_pylist() if r["Kind"] == kind
            and table in (None, r["TableName"]) and column in (None, r["ColumnName"])]


def orphaned(dirty, table: str, column: str) -> list[int]:
    return injected(dirty, "orphan_reference", table, column)


def by_key(practice, table: str, key: str) -> dict[int, dict]:
    return {r[key]: r for r in practice.tables[table].to_pylist()}


def charge(proc: dict) -> Decimal:
    """A procedure's charge as int_procedures computes it: ProcFee x (UnitQty + BaseUnits), to cents."""
    units = (proc["UnitQty"] or 0) + (proc["BaseUnits"] or 0)
    return money(Decimal(str(proc["ProcFee"] or 0)) * units)


def guarantors(practice) -> dict[int, int]:
    return {r["PatNum"]: r["Guarantor"] for r in practice.tables["patient"].select(["PatNum", "Guarantor"]).to_pylist()}


def test_every_kind_was_injected(built):
    _, _, dirty = built
    kinds = {r["Kind"] for r in dirty.ledger["injections"].to_pylist()}
    assert kinds == set(dental_synthetic.dirty.KINDS)


def test_every_orphan_reference_kind_was_injected(built):
    _, _, dirty = built
    kinds = {(r["TableName"], r["ColumnName"]) for r in dirty.ledger["injections"].to_pylist()
             if r["Kind"] == "orphan_reference"}
    assert kinds == {(table, column) for table, _, column, _, _ in dental_synthetic.dirty.ORPHAN_REFERENCES}
    missing = {(r["TableName"], r["ColumnName"]) for r in dirty.ledger["injections"].to_pylist()
               if r["Kind"] == "missing_key"}
    assert missing == {(table, column) for table, _, column, _ in dental_synthetic.dirty.MISSING_KEYS}
    assert injected(dirty, "unusual_status", "procedurelog", "ProcStatus")


def test_exceptions_list_exactly_the_injected_rows(built):
    params, _, dirty = built
    expected = {(r["Kind"], r["TableName"], r["ColumnName"], r["KeyNum"])
                for r in dirty.ledger["injections"].to_pylist()}
    listed = set(rows(params, "SELECT exception_kind, table_name, column_name, key_num "
                              "FROM marts.mart_data_exceptions"))
    assert listed == expected


# the foreign_key tests kept at severity error: they check values we compute, not OpenDental's references
OWN_FOREIGN_KEYS = {("int_communications", "patient_id"), ("mart_perio_followup", "latest_exam_id")}


def test_only_the_foreign_keys_of_opendental_references_warn(built, dbt_target):
    """The severity policy (dbt_project.yml, docs/dbt.md "Foreign keys"): every foreign_key test of a column
    read from OpenDental is set to warn in its yml, the foreign keys of our own values and every other test
    stay at error. On this practice the injected orphans made those tests warn, and nothing failed."""
    manifest = json.loads((dbt_target / "manifest.json").read_text())
    tests = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "test"}
    warn = {uid for uid, n in tests.items() if n["config"]["severity"].lower() == "warn"}
    foreign_keys = {uid: n for uid, n in tests.items() if n.get("test_metadata", {}).get("name") == "foreign_key"}
    own = {uid for uid, n in foreign_keys.items()
           if (manifest["nodes"][n["attached_node"]]["name"], n["column_name"]) in OWN_FOREIGN_KEYS}
    assert len(own) == len(OWN_FOREIGN_KEYS)
    assert warn == set(foreign_keys) - own
    assert all(foreign_keys[uid]["unrendered_config"].get("severity") == "warn" for uid in warn)
    results = {r["unique_id"]: r["status"] for r in
               json.loads((dbt_target / "run_results.json").read_text())["results"]}
    assert {uid for uid, status in results.items() if status in ("fail", "error")} == set()
    warned = {foreign_keys[uid]["attached_node"].split(".")[-1] + "." + foreign_keys[uid]["column_name"]
              for uid, status in results.items() if status == "warn"}
    assert {"int_procedures.appointment_id", "int_procedures.patient_id", "int_procedures.provider_id",
            "int_procedures.code_id", "int_claim_procedures.procedure_id", "int_claim_procedures.claim_id",
            "int_patients.guarantor_id"} <= warned


def test_every_dbt_unit_test_ran_and_passed(built, dbt_target):
    """The project's dbt unit tests run here, in the whole build, and nowhere in production: the
    Dagster dbt steps leave them out (``PRODUCTION_BUILD_EXCLUDES``)."""
    manifest = json.loads((dbt_target / "manifest.json").read_text())
    results = {r["unique_id"]: r["status"] for r in
               json.loads((dbt_target / "run_results.json").read_text())["results"]
               if r["unique_id"].startswith("unit_test.")}
    assert manifest["unit_tests"]
    assert results == dict.fromkeys(manifest["unit_tests"], "pass")


def test_production_daily_equals_the_ledger_corrected_by_the_injections(built):
    params, clean, dirty = built
    procs = by_key(clean, "procedurelog", "ProcNum")
    expected = defaultdict(lambda: [ZERO, ZERO])
    for entry in clean.ledger["daily"].to_pylist():
        key = (entry["Date"], entry["ClinicNum"], entry["ProvNum"])
        expected[key][0] += money(entry["Production"])
        expected[key][1] += money(entry["Adjustments"])
    for num in injected(dirty, "sentinel_date"):  # no date of service: out of production
        p = procs[num]
        expected[(p["ProcDate"], p["ClinicNum"], p["ProvNum"])][0] -= charge(p)
    for num in injected(dirty, "negative_amount"):  # counted as stored: +charge becomes -charge
        p = procs[num]
        expected[(p["ProcDate"], p["ClinicNum"], p["ProvNum"])][0] -= 2 * charge(p)
    # ProcStatus 9: not complete, no production; of an unknown provider: production of provider 0; of no
    # patient (a PatNum naming no row, or 0): no production, as RpProdInc.GetDailyProdIncDataSet reads
    # procedures "FROM patient INNER JOIN procedurelog" and adjustments "INNER JOIN patient" (the handling
    # mart_data_exceptions states)
    no_patient = orphaned(dirty, "procedurelog", "PatNum") + injected(dirty, "missing_key", "procedurelog", "PatNum")
    for num in injected(dirty, "unusual_status", "procedurelog") + no_patient:
        p = procs[num]
        expected[(p["ProcDate"], p["ClinicNum"], p["ProvNum"])][0] -= charge(p)
    adjustments = by_key(clean, "adjustment", "AdjNum")
    for num in injected(dirty, "missing_key", "adjustment", "PatNum"):
        a = adjustments[num]
        expected[(a["AdjDate"], a["ClinicNum"], a["ProvNum"])][1] -= money(a["AdjAmt"])
    for num in orphaned(dirty, "procedurelog", "ProvNum"):
        p = procs[num]
        expected[(p["ProcDate"], p["ClinicNum"], p["ProvNum"])][0] -= charge(p)
        expected[(p["ProcDate"], p["ClinicNum"], 0)][0] += charge(p)
    expected = {k: v for k, v in expected.items() if v != [ZERO, ZERO]}
    mart = {
        (r[0], r[1], r[2]): [money(r[3]), money(r[4])]
        for r in rows(params, "SELECT production_date, clinic_id, provider_id, gross_production, "
                              "adjustments FROM marts.mart_production_daily")
        if [money(r[3]), money(r[4])] != [ZERO, ZERO]
    }
    assert mart == expected
    assert injected(dirty, "sentinel_date") and injected(dirty, "negative_amount")
    assert injected(dirty, "unusual_status", "procedurelog") and orphaned(dirty, "procedurelog", "ProvNum")
    assert orphaned(dirty, "procedurelog", "PatNum") and injected(dirty, "missing_key", "procedurelog", "PatNum")
    assert injected(dirty, "missing_key", "adjustment", "PatNum")
    # the rows of no patient were completed, and money: leaving them in would fail the comparison above
    assert all(procs[n]["ProcStatus"] == 2 for n in no_patient) and any(charge(procs[n]) for n in no_patient)
    assert any(money(adjustments[n]["AdjAmt"]) for n in injected(dirty, "missing_key", "adjustment"))


def test_collections_daily_equals_the_ledger_corrected_by_the_injections(built):
    params, clean, dirty = built
    splits = by_key(clean, "paysplit", "SplitNum")
    dirty_splits = by_key(dirty, "paysplit", "SplitNum")
    expected = defaultdict(lambda: [ZERO, ZERO])
    for entry in clean.ledger["daily"].to_pylist():
        key = (entry["Date"], entry["ClinicNum"])
        expected[key][0] += money(entry["PatientIncome"])
        expected[key][1] += money(entry["InsuranceIncome"])
    for num in injected(dirty, "absurd_amount"):  # counted as stored
        s = splits[num]
        expected[(s["DatePay"], s["ClinicNum"])][0] += money(dirty_splits[num]["SplitAmt"]) - money(s["SplitAmt"])
    # claimproc_claimnum_0: the payment was received; it still counts (no correction). missing_key of a
    # paysplit (PatNum 0): still counts, as RpProdInc.GetDailyProdIncDataSet LEFT JOINs the split's patient
    # (no correction); of a pending claimproc estimate: no income either way
    expected = {k: v for k, v in expected.items() if v != [ZERO, ZERO]}
    mart = {
        (r[0], r[1]): [money(r[2]), money(r[3])]
        for r in rows(params, "SELECT collection_date, clinic_id, patient_payments, insurance_payments "
                              "FROM marts.mart_collections_daily")
        if [money(r[2]), money(r[3])] != [ZERO, ZERO]
    }
    assert mart == expected
    assert injected(dirty, "absurd_amount") and injected(dirty, "claimproc_claimnum_0")
    assert any(money(splits[n]["SplitAmt"]) for n in injected(dirty, "missing_key", "paysplit", "PatNum"))


# ------------------------------------------------------------------------------------ AR aging

AGING = (("balance_0_30", "Bal_0_30"), ("balance_31_60", "Bal_31_60"), ("balance_61_90", "Bal_61_90"),
         ("balance_over_90", "BalOver90"), ("total_balance", "BalTotal"), ("insurance_estimate", "InsEst"))
RECEIVED = (1, 4, 5, 7)  # claimproc.Status Received, Supplemental, CapClaim, CapComplete


def _replace(table: pa.Table, column: str, key: str, new_values: dict[int, object]) -> pa.Table:
    """``table`` with ``column`` set to ``new_values[key value]`` on the rows whose key is listed."""
    keys = table.column(key).to_pylist()
    values = [new_values.get(k, v) for k, v in zip(keys, table.column(column).to_pylist())]
    i = table.schema.get_field_index(column)
    return table.set_column(i, table.schema.field(i), pa.array(values, type=table.schema.field(i).type))


def corrected_books(clean, dirty) -> dict[str, pa.Table]:
    """The clean practice's tables with each injected change applied by its rule in docs/dbt.md
    ("Dirty data"), built from the clean rows and the injection records (the dirty tables are read only
    for the absurd amount, whose rule is "as stored"):

    - ``sentinel_date``: the charge is aged as the oldest: ProcDate -> 0001-01-01, older than any as-of
      date, so it is over 90 days at every as-of date;
    - ``negative_amount``: counted as stored: ProcFee -> -ProcFee (a negative transaction is a credit in
      OpenDental's aging, applied to the oldest bucket first);
    - ``absurd_amount``: counted as stored: SplitAmt -> the stored $987,654.32;
    - ``claimproc_claimnum_0``: still paying: nothing changes (ClaimNum plays no part in the aging);
    - ``unusual_status`` of a procedure, ``orphan_reference`` and ``missing_key``: as stored (ProcStatus 9 is
      not complete; a procedure's, adjustment's, paysplit's or claimproc's PatNum of no patient, or 0, is in
      no family, as OpenDental's aging joins the patient; the other references play no part or count as
      stored), except a patient's Guarantor: ``families`` puts that patient in no family mart_ar_aging ages;
    - the other kinds move no money."""
    tables = dict(clean.tables)
    tables["procedurelog"] = _replace(tables["procedurelog"], "ProcDate", "ProcNum",
                                      {n: dt.date(1, 1, 1) for n in injected(dirty, "sentinel_date")})
    fees = by_key(clean, "procedurelog", "ProcNum")
    tables["procedurelog"] = _replace(tables["procedurelog"], "ProcFee", "ProcNum",
                                      {n: -fees[n]["ProcFee"] for n in injected(dirty, "negative_amount")})
    stored = by_key(dirty, "paysplit", "SplitNum")
    tables["paysplit"] = _replace(tables["paysplit"], "SplitAmt", "SplitNum",
                                  {n: stored[n]["SplitAmt"] for n in injected(dirty, "absurd_amount")})
    as_stored = [("unusual_status", "procedurelog", "ProcStatus", "ProcNum")]
    as_stored += [("orphan_reference", table, column, pk) for table, pk, column, _, _
                  in dental_synthetic.dirty.ORPHAN_REFERENCES if (table, column) != ("patient", "Guarantor")]
    as_stored += [("missing_key", table, column, pk) for table, pk, column, _ in dental_synthetic.dirty.MISSING_KEYS]
    for kind, table, column, pk in as_stored:
        stored = by_key(dirty, table, pk)
        tables[table] = _replace(tables[table], column, pk,
                                 {n: stored[n][column] for n in injected(dirty, kind, table, column)})
    return tables


def families(clean, dirty=None) -> dict[int, int]:
    """Each patient's family (Guarantor) as the aging groups it; a patient whose Guarantor the dirty practice
    points at no patient is a family of its own, which mart_ar_aging does not age (the family of a missing
    guarantor: mart_data_exceptions' handling), so ``expected_aging`` drops it."""
    family = guarantors(clean)
    for n in orphaned(dirty, "patient", "Guarantor") if dirty is not None else []:
        family[n] = n
    return family


def expected_aging(tables, clean, day: dt.date, historic: bool = False, dirty=None) -> dict[int, list[Decimal]]:
    """Per guarantor at ``day``: the six AGING amounts and patient_portion (dollars), by the generator's
    own aging (``dental_synthetic.ledger.family_aging``, OpenDental's rules) over ``tables``; families
    with all zeros are left out. ``historic``: an earlier month end, aged as OpenDental's historic aging
    run on AS_OF (only rows dated on or before it; the estimate of claimprocs pending then, their
    InsPayEst and pending write-off). ``dirty``: group by ``families(clean, dirty)``, left out the families
    mart_ar_aging does not age."""
    family = families(clean, dirty)
    unaged = set(orphaned(dirty, "patient", "Guarantor")) if dirty is not None else set()
    guarantor = np.array([family[n] for n in sorted(family)], dtype=np.int64)
    assert sorted(family) == list(range(1, len(family) + 1))  # family_aging indexes PatNum - 1
    aging = family_aging(tables, guarantor, day, run_date=AS_OF if historic else None).to_pylist()
    out = {}
    for entry in aging:
        values = [money(entry[od]) for _, od in AGING]
        values.append(values[4] - values[5])
        if any(values) and entry["Guarantor"] not in unaged:
            out[entry["Guarantor"]] = values
    return out


def mart_aging(params, where: str) -> dict[tuple[dt.date, int], list[Decimal]]:
    columns = ", ".join(m for m, _ in AGING)
    return {
        (r[0], r[1]): [money(v) for v in r[2:]]
        for r in rows(params, f"SELECT as_of_date, guarantor_id, {columns}, patient_portion "
                              f"FROM marts.mart_ar_aging WHERE {where}")
        if any(money(v) for v in r[2:])
    }


def test_the_corrected_books_reproduce_the_clean_aging_without_injections(built):
    """The expected values' routine, checked on the clean books: family_aging over the clean tables is
    the aging the generator stored (so a difference on dirty data comes from the injections)."""
    _, clean, _ = built
    stored = {r["Guarantor"]: [money(r[od]) for _, od in AGING] for r in clean.ledger["aging"].to_pylist()}
    stored = {g: v + [v[4] - v[5]] for g, v in stored.items() if any(v)}
    assert expected_aging(clean.tables, clean, AS_OF) == stored


def test_family_aging_equals_the_corrected_books_at_the_as_of_date(built):
    """Every bucket, the total, the insurance estimate and the patient portion of every family at the
    run's as-of date, to the cent."""
    params, clean, dirty = built
    expected = expected_aging(corrected_books(clean, dirty), clean, AS_OF, dirty=dirty)
    mart = {g: v for (_, g), v in mart_aging(params, "is_run_date").items()}
    assert mart == expected
    # the injections changed the aging of some family, in more than its total
    stored = expected_aging(clean.tables, clean, AS_OF)
    moved = {g for g in set(stored) | set(expected) if stored.get(g) != expected.get(g)}
    assert moved and any(stored.get(g, [ZERO] * 7)[:4] != expected.get(g, [ZERO] * 7)[:4] for g in moved)
    # the paysplits and pending estimates of PatNum 0 carried money their family no longer ages
    splits, claimprocs = by_key(clean, "paysplit", "SplitNum"), by_key(clean, "claimproc", "ClaimProcNum")
    assert any(money(splits[n]["SplitAmt"]) for n in injected(dirty, "missing_key", "paysplit", "PatNum"))
    assert any(money(claimprocs[n]["InsPayEst"]) for n in injected(dirty, "missing_key", "claimproc", "PatNum"))
    # so did the payment plan rows of a key 0 (PayPlansVersion 2: a plan's credits are aged on its PatNum, a
    # debit on its Guarantor)
    charges = clean.tables["payplancharge"].to_pylist()
    plans = set(injected(dirty, "missing_key", "payplan", "PatNum"))
    debits = set(injected(dirty, "missing_key", "payplancharge", "Guarantor"))
    assert any(money(c["Principal"]) for c in charges if c["PayPlanNum"] in plans and c["ChargeType"] != 0)
    assert any(money(c["Principal"]) + money(c["Interest"]) for c in charges if c["PayPlanChargeNum"] in debits)
    # and the credits of a plan row that is gone (version 2 ages a credit on its plan's PatNum: in no family,
    # Ledgers.GetTransQueryString LEFT JOINs payplan)
    gone = set(orphaned(dirty, "payplancharge", "PayPlanNum"))
    assert any(money(c["Principal"]) for c in charges if c["PayPlanChargeNum"] in gone and c["ChargeDate"] <= AS_OF)


def test_family_aging_equals_the_corrected_books_at_every_month_end(built):
    """The same at every month end before the as-of date. mart_ar_aging lists a family from the month of
    its first dated transaction on, and at every month end when it has a sentinel-dated charge (aged as
    the oldest, over 90 days at every date, as OpenDental's historic aging does); a family it does not
    list at a month end must have no aging there but its rows dated 0001-01-01 (``sentinel_dated``: the
    charges and the dynamic payment plan credits that follow them)."""
    params, clean, dirty = built
    tables = corrected_books(clean, dirty)
    mart = mart_aging(params, "NOT is_run_date")
    month_ends = sorted({d for d, _ in mart})
    assert len(month_ends) >= 36 and month_ends[-1] == AS_OF.replace(day=1) - dt.timedelta(days=1)
    assert all((d + dt.timedelta(days=1)).day == 1 for d in month_ends)
    first_listed = first_dated_transaction(tables, clean, dirty)
    undated = sentinel_dated(tables, clean, dirty)
    mismatches, unlisted, early = {}, 0, 0
    for day in month_ends:
        expected = expected_aging(tables, clean, day, historic=True, dirty=dirty)
        for g in [g for g in expected if g not in first_listed or first_listed[g] > day]:
            s = undated[g]
            if s != ZERO:  # rows dated 0001-01-01 are older than every month end: listed and compared
                # their net is over 90 days; a net credit leaves every bucket 0 (a credit balance)
                assert expected[g] == [ZERO, ZERO, ZERO, max(s, ZERO), s, ZERO, s], (day, g)
                early += 1
                continue
            assert expected.pop(g) == [ZERO] * 7, (day, g)
            unlisted += 1
        got = {g: v for (d, g), v in mart.items() if d == day}
        if got != expected:
            mismatches[day] = {g: (got.get(g), expected.get(g)) for g in set(got) | set(expected)
                               if got.get(g) != expected.get(g)}
    assert not mismatches, {d: dict(list(m.items())[:3]) for d, m in list(mismatches.items())[:3]}
    assert early  # a family listed before its first dated month for its sentinel-dated charge


PLAN_LINK_VERSIONS = (2, 3)  # PayPlansVersion AgeCreditsAndDebits, AgeCreditsOnly: dynamic plans' links age
LINK_PROCEDURE = 2  # PayPlanLinkType.Procedure
PREAUTH = 2  # claimproc.Status Preauth: out of a linked procedure's open amount
PAID = (1, 4, 7)  # claimproc.Status Received, Supplemental, CapComplete: paid amounts, not estimates


def sentinel_dated(tables, clean, dirty) -> defaultdict[int, Decimal]:
    """Per guarantor, the net amount of its aging rows dated 0001-01-01 by the sentinel_date injection
    (in ``tables``, the corrected books): each such procedure's charge and, under PayPlansVersion 2 or 3,
    the credit of a dynamic payment plan linked to it, which OpenDental's aging dates on the linked
    procedure's own ProcDate, so it moves to 0001-01-01 with the charge (Ledgers.GetTransQueryString,
    region "PayPlanLinks (Dynamic Payment Plan) for Versions 2 & 3": TranDate = procedurelog.ProcDate,
    TranAmount = -AmountOverride, or when that is 0 -``open_amount``). The claimprocs, adjustments and
    splits of such a procedure keep their own dates."""
    family = families(clean, dirty)
    procs = {r["ProcNum"]: r for r in tables["procedurelog"].to_pylist()}
    sentinel = set(injected(dirty, "sentinel_date"))
    undated = defaultdict(lambda: ZERO)
    for n in sentinel:
        undated[family[procs[n]["PatNum"]]] += charge(procs[n])
    version = {r["PrefName"]: r["ValueString"] for r in tables["preference"].to_pylist()}.get("PayPlansVersion")
    plans = {r["PayPlanNum"] for r in tables["payplan"].select(["PayPlanNum"]).to_pylist()}
    links = [r for r in tables["payplanlink"].to_pylist() if r["LinkType"] == LINK_PROCEDURE
             and r["FKey"] in sentinel and r["PayPlanNum"] in plans]
    if int(version or 2) not in PLAN_LINK_VERSIONS or not links:
        return undated
    rows = {name: tables[name].to_pylist() for name in ("adjustment", "claimproc", "paysplit")}
    for link in links:
        p = procs[link["FKey"]]
        assert p["ProcStatus"] == 2  # the injection picks completed procedures, the only ones a link counts
        override = money(link["AmountOverride"])
        undated[family[p["PatNum"]]] -= override if override != 0 else open_amount(rows, p)
    return undated


def open_amount(rows: dict[str, list[dict]], proc: dict) -> Decimal:
    """What a completed procedure still owes, as a dynamic payment plan link's credit reads it
    (Ledgers.GetTransQueryString, the prodlink subquery's Fee): ProcFee x units + its adjustments of the
    same patient, provider and clinic (procAdj) - insurance (procClaimProc: InsPayAmt and WriteOff when
    Received, Supplemental or CapComplete; otherwise InsEstTotalOverride, else InsPayEst, and
    WriteOffEstOverride, else WriteOffEst, -1 meaning unset; Preauth left out) - its splits not on a
    payment plan (procSplit). ``rows``: the adjustment, claimproc and paysplit rows."""
    owed = charge(proc)
    for a in rows["adjustment"]:
        if a["ProcNum"] == proc["ProcNum"] and all(a[c] == proc[c] for c in ("PatNum", "ProvNum", "ClinicNum")):
            owed += money(a["AdjAmt"])
    for c in rows["claimproc"]:
        if c["ProcNum"] != proc["ProcNum"] or c["Status"] == PREAUTH:
            continue
        if c["Status"] in PAID:
            owed -= money(c["InsPayAmt"]) + money(c["WriteOff"])
            continue
        owed -= money(c["InsEstTotalOverride"] if c["InsEstTotalOverride"] != -1 else c["InsPayEst"])
        owed -= money(c["WriteOffEstOverride"] if c["WriteOffEstOverride"] != -1
                      else c["WriteOffEst"] if c["WriteOffEst"] != -1 else 0)
    for s in rows["paysplit"]:
        if s["ProcNum"] == proc["ProcNum"] and s["PayPlanNum"] == 0:
            owed -= money(s["SplitAmt"])
    return owed


def first_dated_transaction(tables, clean, dirty) -> dict[int, dt.date]:
    """Per guarantor, the last day of the month of its first dated balance-moving transaction (a
    sentinel date is no date): from that month end on, mart_ar_aging lists the family. Rows of a PatNum of
    no patient are in no family."""
    family = families(clean, dirty)
    first: dict[int, dt.date] = {}
    columns = {"procedurelog": ["PatNum", "ProcDate", "ProcStatus", "ProcFee", "UnitQty", "BaseUnits"],
               "adjustment": ["PatNum", "AdjDate", "AdjAmt"], "paysplit": ["PatNum", "DatePay", "SplitAmt"],
               "claimproc": ["PatNum", "DateCP", "Status", "InsPayAmt", "PayPlanNum", "WriteOff"]}
    sources = (("procedurelog", "ProcDate", lambda r: r["ProcStatus"] == 2 and charge(r) != 0),
               ("adjustment", "AdjDate", lambda r: money(r["AdjAmt"]) != 0),
               ("paysplit", "DatePay", lambda r: money(r["SplitAmt"]) != 0),
               ("claimproc", "DateCP", lambda r: r["Status"] in RECEIVED
                and (money(r["InsPayAmt"]) if not r["PayPlanNum"] else ZERO) + money(r["WriteOff"]) != 0))
    for name, column, counts in sources:
        for r in tables[name].select(columns[name]).to_pylist():
            day = r[column]
            if day is None or day.year < 1880 or not counts(r) or r["PatNum"] not in family:
                continue
            g = family[r["PatNum"]]
            if g not in first or day < first[g]:
                first[g] = day
    return {g: month_end(d) for g, d in first.items()}


def month_end(day: dt.date) -> dt.date:
    following = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def test_unknown_status_counts_as_no_appointment_state(built):
    params, clean, dirty = built
    unknown = injected(dirty, "unusual_status", "appointment")
    decoded = rows(params, "SELECT appointment_id, apt_status, apt_status_code, apt_status_name "
                           "FROM marts.fct_appointment WHERE apt_status_name = 'unknown'")
    assert sorted(r[0] for r in decoded) == sorted(unknown)
    assert all(r[1] is None and r[2] == 9 for r in decoded)
    apts = clean.tables["appointment"].to_pylist()
    lost = [a for a in apts if a["AptNum"] in set(unknown) and a["AptDateTime"] is not None
            and a["AptDateTime"].year >= 1880]
    booked = sum(1 for a in apts if a["AptStatus"] in (1, 2, 5) and a["AptDateTime"] is not None
                 and a["AptDateTime"].year >= 1880)
    mart = rows(params, "SELECT sum(scheduled) FROM marts.mart_appointments_daily")[0][0]
    assert mart == booked - sum(1 for a in lost if a["AptStatus"] in (1, 2, 5))


def test_control_characters_are_removed_in_staging(built):
    params, _, dirty = built
    keys = injected(dirty, "control_chars")
    notes = dict(rows(params, "SELECT commlog_num, note FROM staging.stg_opendental__commlog "
                              f"WHERE commlog_num IN ({', '.join(map(str, keys))})"))
    assert set(notes) == set(keys)
    assert not any(re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", n or "") for n in notes.values())
    remaining = rows(params, r"""SELECT count(*) FROM staging.stg_opendental__commlog
                                 WHERE note ~ '[\x01-\x08\x0B\x0C\x0E-\x1F\x7F]'""")[0][0]
    assert remaining == 0


def test_unknown_procedure_status_is_decoded_and_kept_out_of_production(built):
    """ProcStatus 9 (no ProcStat value, OpenDentBusiness/Db/Enumerations.cs): int_procedures keeps the code and
    decodes it to 'unknown'; int_procedures_complete (production, ProcStatus 2 as RpProdInc counts it) does
    not hold it (the production and AR reconciliations above show its money is out)."""
    params, _, dirty = built
    unknown = injected(dirty, "unusual_status", "procedurelog")
    decoded = rows(params, "SELECT procedure_id, proc_status, proc_status_code FROM intermediate.int_procedures "
                           "WHERE proc_status_name = 'unknown'")
    assert sorted(r[0] for r in decoded) == sorted(unknown)
    assert all(r[1] is None and r[2] == 9 for r in decoded)
    keys = ", ".join(map(str, unknown))
    assert rows(params, f"SELECT count(*) FROM intermediate.int_procedures_complete "
                        f"WHERE procedure_id IN ({keys})")[0][0] == 0

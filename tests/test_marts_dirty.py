"""dbt on dirty data: every test at severity error passes, and the marts equal the books corrected by
exactly the injected problems.

A 1,000-patient practice is generated, ``make_dirty`` injects every kind of problem at 1% (each injected
row is recorded in ``ledger["injections"]``), the dirty tables go into a real PostgreSQL ``raw`` and
``dbt build`` runs on the whole project. The expected marts are the clean practice's ledger with each
injected change applied by the rule docs/dbt.md ("Dirty data") gives for its kind:

- ``sentinel_date`` (a completed procedure's ProcDate 0001-01-01): out of production; in AR, as the
  oldest charge;
- ``negative_amount`` (a completed procedure's ProcFee negated): counted as stored, a negative charge;
- ``absurd_amount`` (a paysplit of $987,654.32): counted as stored;
- ``claimproc_claimnum_0`` (a received claimproc on no claim): its payment still counts;
- ``unusual_status`` (AptStatus 9): 'unknown', none of scheduled, complete, broken;
- ``orphan_row``, ``near_duplicate_plan``, ``control_chars``: no money moves; text is cleaned.

Every injected row, and no other, is listed in ``marts.mart_data_exceptions``.
"""

import datetime as dt
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest

import dental_synthetic
from dbt_runner import run_dbt, query_rows as rows
from dental_assets.warehouse import PgParams, mark_demo_target
from dental_synthetic.dirty import make_dirty

AS_OF = dt.date(2026, 6, 30)
RATE = 0.01
CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def built(pg_module_url, tmp_path_factory):
    """The clean practice, its dirty copy in raw, and every dbt model and test built from it."""
    params = PgParams.from_url(pg_module_url)
    mark_demo_target(params)
    clean = dental_synthetic.generate(dental_synthetic.SyntheticConfig(patients=1000, seed=7, as_of=AS_OF))
    dirty = make_dirty(clean, RATE)
    dental_synthetic.write_postgres_raw(dirty, params)
    run_dbt(params, tmp_path_factory.mktemp("dbt_target"), "build",
            "--vars", f"{{as_of_date: '{AS_OF.isoformat()}'}}")
    return params, clean, dirty


def injected(dirty, kind: str) -> list[int]:
    return [r["KeyNum"] for r in dirty.ledger["injections"].to_pylist() if r["Kind"] == kind]


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


def test_exceptions_list_exactly_the_injected_rows(built):
    params, _, dirty = built
    expected = {(r["Kind"], r["TableName"], r["KeyNum"]) for r in dirty.ledger["injections"].to_pylist()}
    listed = set(rows(params, "SELECT exception_kind, table_name, key_num FROM marts.mart_data_exceptions"))
    assert listed == expected


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
    expected = {k: v for k, v in expected.items() if v != [ZERO, ZERO]}
    mart = {
        (r[0], r[1], r[2]): [money(r[3]), money(r[4])]
        for r in rows(params, "SELECT production_date, clinic_id, provider_id, gross_production, "
                              "adjustments FROM marts.mart_production_daily")
        if [money(r[3]), money(r[4])] != [ZERO, ZERO]
    }
    assert mart == expected
    assert injected(dirty, "sentinel_date") and injected(dirty, "negative_amount")


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
    # claimproc_claimnum_0: the payment was received; it still counts (no correction)
    expected = {k: v for k, v in expected.items() if v != [ZERO, ZERO]}
    mart = {
        (r[0], r[1]): [money(r[2]), money(r[3])]
        for r in rows(params, "SELECT collection_date, clinic_id, patient_payments, insurance_payments "
                              "FROM marts.mart_collections_daily")
        if [money(r[2]), money(r[3])] != [ZERO, ZERO]
    }
    assert mart == expected
    assert injected(dirty, "absurd_amount") and injected(dirty, "claimproc_claimnum_0")


def test_family_balances_equal_the_ledger_corrected_by_the_injections(built):
    """Total balance and insurance estimate per family at the as-of date (the buckets of a family
    with a corrected charge move with it; the totals are what the corrections determine)."""
    params, clean, dirty = built
    family = guarantors(clean)
    procs = by_key(clean, "procedurelog", "ProcNum")
    splits = by_key(clean, "paysplit", "SplitNum")
    dirty_splits = by_key(dirty, "paysplit", "SplitNum")
    expected = {r["Guarantor"]: [money(r["BalTotal"]), money(r["InsEst"])] for r in clean.ledger["aging"].to_pylist()}
    for num in injected(dirty, "negative_amount"):
        g = family[procs[num]["PatNum"]]
        expected.setdefault(g, [ZERO, ZERO])[0] -= 2 * charge(procs[num])
    for num in injected(dirty, "absurd_amount"):  # a payment lowers the balance
        g = family[splits[num]["PatNum"]]
        delta = money(dirty_splits[num]["SplitAmt"]) - money(splits[num]["SplitAmt"])
        expected.setdefault(g, [ZERO, ZERO])[0] -= delta
    # sentinel_date: still a charge of the family (aged as the oldest); claimproc_claimnum_0: still paid
    expected = {g: v for g, v in expected.items() if v != [ZERO, ZERO]}
    mart = {
        r[0]: [money(r[1]), money(r[2])]
        for r in rows(params, "SELECT guarantor_id, total_balance, insurance_estimate FROM marts.mart_ar_aging "
                              "WHERE is_run_date")
        if [money(r[1]), money(r[2])] != [ZERO, ZERO]
    }
    assert mart == expected


def test_unknown_status_counts_as_no_appointment_state(built):
    params, clean, dirty = built
    unknown = injected(dirty, "unusual_status")
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

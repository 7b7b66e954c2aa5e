"""The synthetic practice: shape, determinism, referential integrity, dates, money, aging, writers, guard.

Most tests share one generated practice (2,000 patients, two clinics). The database tests use the
``pg_url`` fixture (a fresh database on the test PostgreSQL server, from ``tests/conftest.py``).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dental_assets.catalog import RAW_SCHEMA, opendental_enums, quote_pg, raw_tables
from dental_assets.warehouse import PgParams, mark_demo_target
from dental_synthetic import (
    NotADemoTargetError,
    SyntheticConfig,
    generate,
    write_parquet,
    write_postgres_raw,
)
from dental_synthetic.cli import main

AS_OF = dt.date(2025, 6, 30)
ZERO = dt.date(1, 1, 1)
END_OF_AS_OF = dt.datetime.combine(AS_OF, dt.time(23, 59, 59))
LATEST_TS = int((END_OF_AS_OF - dt.datetime(1970, 1, 1)).total_seconds())  # naive seconds since the epoch
ARROW_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "date": pa.date32(),
    "datetime": pa.timestamp("s"),
    "timestamp": pa.timestamp("s"),
    "time": pa.string(),
}
CATALOG = {t.name: t for t in raw_tables()}


def enum(name: str) -> dict[str, int]:
    return {v["name"]: int(v["value"]) for v in opendental_enums()[name]["values"]}


@pytest.fixture(scope="module")
def practice():
    return generate(SyntheticConfig(as_of=AS_OF, patients=2000, seed=7))


@pytest.fixture(scope="module")
def small_practice():
    return generate(SyntheticConfig(as_of=AS_OF, patients=300, seed=3))


def col(practice, table: str, column: str) -> np.ndarray:
    arr = practice.tables[table].column(column)
    if pa.types.is_date32(arr.type):
        return arr.cast(pa.int32()).to_numpy().astype(np.int64)
    if pa.types.is_timestamp(arr.type):
        return arr.cast(pa.int64()).to_numpy()
    return arr.to_numpy(zero_copy_only=False)


def day(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def cents(values) -> np.ndarray:
    return np.rint(np.asarray(values, dtype=np.float64) * 100).astype(np.int64)


# ------------------------------------------------------------------------------------------ shape

def test_every_table_and_catalog_column_with_its_arrow_type(practice):
    assert list(practice.tables) == [t.name for t in raw_tables()]
    for table in raw_tables():
        data = practice.tables[table.name]
        assert data.column_names == table.column_names, table.name
        for column in table.columns:
            assert data.schema.field(column.name).type == ARROW_TYPES[column.kind], (table.name, column.name)
        assert (data.num_rows > 0) != (table.name in NOT_GENERATED), table.name


# raw tables the generator leaves empty (docs/synthetic.md): claim snapshots, replicated for the
# reports' settings (made only under the write-off setting that reads them); issue #14's tables until their
# stage exists (one per line: a stage's change removes its own)
NOT_GENERATED = {
    "claimsnapshot",
}


def test_no_nulls_and_time_columns_are_hh_mm_ss(practice):
    for name, data in practice.tables.items():
        for column_name, column in zip(data.column_names, data.columns):
            assert column.null_count == 0, (name, column_name)
    for table in raw_tables():
        for column in table.columns:
            if column.kind == "time":
                values = set(practice.tables[table.name].column(column.name).to_pylist())
                # OpenDental's TIME columns are signed (ClockEvent.OTimeHours "-01:00:00": not overridden)
                unsigned = {v.removeprefix("-") for v in values}
                assert all(len(v) == 8 and v[2] == ":" and v[5] == ":" for v in unsigned), (table.name, column.name)


def test_primary_keys_are_1_to_n(practice):
    for table in raw_tables():
        keys = col(practice, table.name, table.primary_key)
        assert np.array_equal(keys, np.arange(1, len(keys) + 1)), table.name


def test_deterministic_and_seed_sensitive():
    config = SyntheticConfig(as_of=AS_OF, patients=1500, seed=11)
    first, second = generate(config), generate(config)
    for name in first.tables:
        a, b = first.tables[name], second.tables[name]
        assert a.equals(b), name
        buf_a, buf_b = io.BytesIO(), io.BytesIO()
        pq.write_table(a, buf_a)
        pq.write_table(b, buf_b)
        assert buf_a.getvalue() == buf_b.getvalue(), name
    for name in first.ledger:
        assert first.ledger[name].equals(second.ledger[name])
    other = generate(SyntheticConfig(as_of=AS_OF, patients=1500, seed=12))
    assert not other.tables["procedurelog"].equals(first.tables["procedurelog"])
    # the people and places too (Faker pools, see tests/test_synthetic_people.py)
    for table, column in (("patient", "LName"), ("patient", "Address"), ("patient", "Email"), ("zipcode", "City"),
                          ("employer", "EmpName")):
        assert not other.tables[table].column(column).equals(first.tables[table].column(column)), (table, column)


def test_config_validation():
    with pytest.raises(ValueError):
        SyntheticConfig(as_of=AS_OF, completion_rate=0.95, broken_rate=0.1)
    with pytest.raises(ValueError):
        SyntheticConfig(as_of=AS_OF, start=AS_OF)
    with pytest.raises(TypeError):
        SyntheticConfig(as_of="2025-06-30")
    assert SyntheticConfig(as_of=dt.date(2024, 2, 29)).start == dt.date(2021, 2, 28)


def test_generator_does_not_import_dagster():
    code = ("import sys, datetime, dental_synthetic as d; "
            "d.generate(d.SyntheticConfig(as_of=datetime.date(2025, 1, 31), patients=50)); "
            "bad = [m for m in sys.modules if m.split('.')[0] == 'dagster']; "
            "sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


# ------------------------------------------------------------------------------ keys and references

FK_TO_TABLES_OUTSIDE_RAW = {("benefit", "CovCatNum")}  # OpenDental's coverage categories, numbered 1..8


def test_every_foreign_key_resolves_or_is_zero(practice):
    keys = {t.name: set(col(practice, t.name, t.primary_key).tolist()) for t in raw_tables()}
    checked = set()
    for table in raw_tables():
        for column in table.columns:
            if not column.fk or column.kind != "int":
                continue
            values = col(practice, table.name, column.name)
            values = set(values[values != 0].tolist())
            if column.fk in keys:
                missing = values - keys[column.fk]
                assert not missing, f"{table.name}.{column.name} -> {column.fk}: {len(missing)} unresolved keys"
                if values:
                    checked.add(column.name)
            elif (table.name, column.name) not in FK_TO_TABLES_OUTSIDE_RAW:
                assert not values, f"{table.name}.{column.name} points at {column.fk}, which raw does not hold"
    for name in ("PatNum", "ProvNum", "CodeNum", "AptNum", "ClaimNum", "PlanNum", "PayNum", "AdjType", "ProcCat",
                 "Guarantor", "InsSubNum", "ClaimPaymentNum", "PayPlanNum", "ReferralNum", "RecallTypeNum", "Op",
                 "CommType", "DocCategory", "Confirmed", "PayType", "FeeSched", "ProcNum"):
        assert name in checked, f"no table references anything through {name}"


def test_definitions_belong_to_the_right_category(practice):
    defcat = enum("DefCat")
    category = dict(zip(col(practice, "definition", "DefNum").tolist(), col(practice, "definition", "Category")))
    expected = {
        ("procedurecode", "ProcCat"): "ProcCodeCats",
        ("adjustment", "AdjType"): "AdjTypes",
        ("payment", "PayType"): "PaymentTypes",
        ("commlog", "CommType"): "CommLogTypes",
        ("appointment", "Confirmed"): "ApptConfirmed",
        ("appointment", "UnschedStatus"): "RecallUnschedStatus",
        ("recall", "RecallStatus"): "RecallUnschedStatus",
        ("document", "DocCategory"): "ImageCats",
        ("claimpayment", "PayType"): "InsurancePaymentType",
        ("patient", "BillingType"): "BillingTypes",
        ("provider", "Specialty"): "ProviderSpecialties",
        ("procedurelog", "Priority"): "TxPriorities",
        ("paysplit", "UnearnedType"): "PaySplitUnearnedType",
    }
    for (table, column), cat in expected.items():
        values = col(practice, table, column)
        assert {category[v] for v in values[values != 0].tolist()} == {defcat[cat]}, (table, column)
    adj_types = col(practice, "adjustment", "AdjType")
    item_value = dict(zip(col(practice, "definition", "DefNum").tolist(),
                          col(practice, "definition", "ItemValue").tolist()))
    amounts = col(practice, "adjustment", "AdjAmt")
    for t, amount in zip(adj_types.tolist(), amounts.tolist()):
        assert (amount > 0) == (item_value[t] == "+")


def test_enum_codes_and_status_mix(practice):
    assert set(col(practice, "procedurelog", "ProcStatus").tolist()) == {
        enum("ProcStat")[k] for k in ("TP", "C", "EC", "R", "D")}
    assert set(col(practice, "appointment", "AptStatus").tolist()) == {
        enum("ApptStatus")[k] for k in ("Scheduled", "Complete", "UnschedList", "Broken", "Planned")}
    assert set(col(practice, "claimproc", "Status").tolist()) == {
        enum("ClaimProcStatus")[k] for k in ("NotReceived", "Received", "Supplemental", "Estimate", "CapComplete",
                                              "CapEstimate")}
    assert set(col(practice, "patient", "PatStatus").tolist()) <= set(enum("PatientStatus").values())
    assert set(col(practice, "claim", "ClaimStatus").tolist()) <= {"U", "W", "S", "R", "H"}
    assert set(col(practice, "claim", "ClaimType").tolist()) == {"P", "S"}


def test_families(practice):
    pat = col(practice, "patient", "PatNum")
    guar = col(practice, "patient", "Guarantor")
    assert np.array_equal(guar[guar - 1], guar)  # every guarantor is their own guarantor
    assert (guar != pat).sum() > len(pat) * 0.3  # most families have more than one member
    birth = col(practice, "patient", "Birthdate")
    assert (birth < day(AS_OF)).all() and (birth > day(dt.date(1920, 1, 1))).all()
    assert (birth < col(practice, "patient", "SecDateEntry")).all()
    links = practice.tables["patientlink"]
    assert links.num_rows >= 1 and set(links.column("LinkType").to_pylist()) == {enum("PatientLinkType")["Merge"]}


# ------------------------------------------------------------------------------------------- dates

def test_dates_are_sequenced(practice):
    proc_date = dict(zip(col(practice, "procedurelog", "ProcNum").tolist(),
                         col(practice, "procedurelog", "ProcDate").tolist()))
    adj_date = dict(zip(col(practice, "adjustment", "AdjNum").tolist(), col(practice, "adjustment", "AdjDate")))
    # paysplits on or after what they pay for (unearned money pays for nothing yet); payments on the day
    # of their splits
    for pn, an, ut, paid in zip(col(practice, "paysplit", "ProcNum").tolist(), col(practice, "paysplit", "AdjNum"),
                                col(practice, "paysplit", "UnearnedType").tolist(),
                                col(practice, "paysplit", "DatePay").tolist()):
        if pn or an:
            assert paid >= (proc_date[pn] if pn else adj_date[an])
        else:
            assert ut != 0
    pay_date = dict(zip(col(practice, "payment", "PayNum").tolist(), col(practice, "payment", "PayDate").tolist()))
    assert all(pay_date[p] == d for p, d in zip(col(practice, "paysplit", "PayNum").tolist(),
                                                 col(practice, "paysplit", "DatePay").tolist()))
    # claims: service <= sent <= received <= check
    service, sent, received = (col(practice, "claim", c) for c in ("DateService", "DateSent", "DateReceived"))
    z = day(ZERO)
    assert ((sent == z) | (sent >= service)).all()
    assert ((received == z) | ((sent != z) & (received >= sent))).all()
    assert (received <= day(AS_OF)).all()
    claim_received = dict(zip(col(practice, "claim", "ClaimNum").tolist(), received.tolist()))
    check_date = dict(zip(col(practice, "claimpayment", "ClaimPaymentNum").tolist(),
                          col(practice, "claimpayment", "CheckDate").tolist()))
    for claim, check, datecp in zip(col(practice, "claimproc", "ClaimNum").tolist(),
                                    col(practice, "claimproc", "ClaimPaymentNum").tolist(),
                                    col(practice, "claimproc", "DateCP").tolist()):
        if check:
            assert check_date[check] >= claim_received[claim] != z
            assert datecp == check_date[check]
    # adjustments attached to a procedure are on or after it
    for pn, d in zip(col(practice, "adjustment", "ProcNum").tolist(), col(practice, "adjustment", "AdjDate").tolist()):
        assert not pn or d >= proc_date[pn]
    # nothing happens after as_of except booked appointments and payment plan installments
    status = col(practice, "procedurelog", "ProcStatus")
    assert (col(practice, "procedurelog", "ProcDate")[status == 2] <= day(AS_OF)).all()
    for table, column in (("payment", "PayDate"), ("adjustment", "AdjDate"), ("claimpayment", "CheckDate"),
                          ("commlog", "CommDateTime"), ("document", "DateCreated"), ("refattach", "RefDate")):
        values = col(practice, table, column)
        limit = day(AS_OF) if practice.tables[table].schema.field(column).type == pa.date32() else LATEST_TS
        assert (values <= limit).all(), (table, column)


def test_timestamps_are_plausible_and_not_after_as_of(practice):
    latest = LATEST_TS
    earliest = day(dt.date(2000, 1, 1)) * 86400
    for table in raw_tables():
        for name in {table.modified_column, table.entry_column} - {None}:
            column = table.column(name)
            values = col(practice, table.name, name)
            if column.kind == "date":
                values = values * 86400
            assert (values <= latest).all(), (table.name, name)
            assert (values >= earliest).all(), (table.name, name)


def test_no_row_is_edited_before_it_was_entered(practice):
    """A row's modified timestamp (DateTStamp, SecDateTEdit) is not before its entry moment (the
    catalog's entry column: SecDateTEntry, DateEntry...; a date compares by day). Was broken for
    payplancharge (the debit's edit drawn apart from its entry) and insverify/insverifyhist (an
    enrollment verified hours before its patplan was entered)."""
    # history rows copy the live row's stamps as they were before the change they record (OpenDental's
    # TaskHist and HistAppointment: their entry column is when the copy was made)
    copies = {"taskhist", "histappointment"}
    # an insverifyhist row copies its insverify row at the verification: the row's entry, the copy's edit
    pairs = {t.name: (t.modified_column, t.entry_column) for t in raw_tables() if t.name not in copies}
    pairs["insverifyhist"] = ("SecDateTEdit", "DateTimeEntry")
    checked = set()
    for table in raw_tables():
        mod, entry = pairs.get(table.name, (None, None))
        if not mod or not entry or mod == entry or not len(col(practice, table.name, mod)):
            continue
        edited, entered = col(practice, table.name, mod), col(practice, table.name, entry)
        if "date" in (table.column(mod).kind, table.column(entry).kind):  # compare days
            edited = edited if table.column(mod).kind == "date" else edited // 86400
            entered = entered if table.column(entry).kind == "date" else entered // 86400
        late = entered > edited
        assert not late.any(), (table.name, int(late.sum()), len(late))
        checked.add(table.name)
    assert {"payplancharge", "insverify", "insverifyhist", "procedurelog", "appointment"} <= checked, checked


def test_appointments_in_business_hours_without_overlap(practice):
    status = col(practice, "appointment", "AptStatus")
    when = col(practice, "appointment", "AptDateTime")
    op = col(practice, "appointment", "Op")
    minutes = np.array([len(p) * 5 for p in practice.tables["appointment"].column("Pattern").to_pylist()])
    on_book = status != enum("ApptStatus")["Planned"]
    assert (op[on_book] > 0).all() and (op[~on_book] == 0).all()
    start = when[on_book] % 86400 // 60
    end = start + minutes[on_book]
    assert (start >= 8 * 60).all() and (end <= 17 * 60).all()
    assert ((when[on_book] // 86400 + 3) % 7 < 5).all()  # Monday..Friday
    order = np.lexsort((when[on_book], op[on_book]))
    same_op = op[on_book][order][1:] == op[on_book][order][:-1]
    overlap = when[on_book][order][1:] < when[on_book][order][:-1] + minutes[on_book][order][:-1] * 60
    assert not (same_op & overlap).any()
    done = status == enum("ApptStatus")["Complete"]
    assert (when[done] // 86400 <= day(AS_OF)).all()
    assert (when[status == enum("ApptStatus")["Scheduled"]] // 86400 > day(AS_OF)).all()
    hyg = col(practice, "appointment", "IsHygiene") == 1
    assert (col(practice, "appointment", "ProvHyg")[hyg] > 0).all()
    # completed procedures attached to an appointment are on its day and the appointment is complete
    apt_day = dict(zip(col(practice, "appointment", "AptNum").tolist(), (when // 86400).tolist()))
    apt_status = dict(zip(col(practice, "appointment", "AptNum").tolist(), status.tolist()))
    for apt, pdate, pstatus in zip(col(practice, "procedurelog", "AptNum").tolist(),
                                   col(practice, "procedurelog", "ProcDate").tolist(),
                                   col(practice, "procedurelog", "ProcStatus").tolist()):
        if apt:
            assert apt_day[apt] == pdate
            assert (pstatus == 2) == (apt_status[apt] == enum("ApptStatus")["Complete"])


def test_recalls(practice):
    due_calc = col(practice, "recall", "DateDueCalc")
    previous = col(practice, "recall", "DatePrevious")
    has = previous != day(ZERO)
    assert has.mean() > 0.7
    assert (due_calc[has] - previous[has] >= 89).all() and (due_calc[has] - previous[has] <= 184).all()
    assert set(col(practice, "recall", "RecallInterval").tolist()) <= {6 << 16, 3 << 16}


def test_automated_reminders_are_logged_as_opendental_logs_them(practice):
    """OpenDental's AutoComm (AutoCommObj.InsertCommlog, 24.3) writes a commlog for a text reminder
    (CommSource ApptReminder, Sent, UserNum of the sending session: 0 outside a logged-on user) and none
    for an e-mailed one, which is an e-mail message instead."""
    source = col(practice, "commlog", "CommSource")
    reminders = source == enum("CommItemSource")["ApptReminder"]
    assert reminders.sum() > 100
    modes = col(practice, "commlog", "Mode_")[reminders]
    assert set(modes.tolist()) == {enum("CommItemMode")["Text"]}
    assert set(col(practice, "commlog", "SentOrReceived")[reminders].tolist()) == {enum("CommSentOrReceived")["Sent"]}
    assert set(col(practice, "commlog", "UserNum")[reminders].tolist()) == {0}
    pat = col(practice, "commlog", "PatNum")[reminders]
    prefer = col(practice, "patient", "PreferContactMethod")[pat - 1]
    assert set(prefer.tolist()) == {enum("ContactMethod")["WirelessPh"]}


# ------------------------------------------------------------------------------------------- money

def test_money_adds_up_to_the_cent(practice):
    t = practice.tables
    # claims total their claimprocs, checks total their claimprocs, payments total their splits
    for claim_col, cp_col in (("ClaimFee", "FeeBilled"), ("InsPayAmt", "InsPayAmt"), ("WriteOff", "WriteOff"),
                              ("InsPayEst", "InsPayEst")):
        totals = defaultdict(int)
        for claim, amount in zip(col(practice, "claimproc", "ClaimNum").tolist(),
                                 cents(col(practice, "claimproc", cp_col)).tolist()):
            if claim:
                totals[claim] += amount
        assert [totals[c] for c in col(practice, "claim", "ClaimNum").tolist()] == cents(
            col(practice, "claim", claim_col)).tolist(), claim_col
    checks = defaultdict(int)
    for check, amount in zip(col(practice, "claimproc", "ClaimPaymentNum").tolist(),
                             cents(col(practice, "claimproc", "InsPayAmt")).tolist()):
        checks[check] += amount
    assert [checks[c] for c in col(practice, "claimpayment", "ClaimPaymentNum").tolist()] == cents(
        col(practice, "claimpayment", "CheckAmt")).tolist()
    pays = defaultdict(int)
    for pay, amount in zip(col(practice, "paysplit", "PayNum").tolist(), cents(col(practice, "paysplit",
                                                                                     "SplitAmt")).tolist()):
        pays[pay] += amount
    assert [pays[p] for p in col(practice, "payment", "PayNum").tolist()] == cents(
        col(practice, "payment", "PayAmt")).tolist()
    # every amount is a whole number of cents
    for name in t:
        for column in CATALOG[name].columns:
            if column.kind == "float":
                values = col(practice, name, column.name)
                assert np.array_equal(values, cents(values) / 100.0), (name, column.name)
    # no completed procedure is paid beyond its charge
    charge = cents(col(practice, "procedurelog", "ProcFee")) * (
        col(practice, "procedurelog", "UnitQty") + col(practice, "procedurelog", "BaseUnits"))
    credit = defaultdict(int)
    for pn, amount in zip(col(practice, "paysplit", "ProcNum").tolist(), cents(col(practice, "paysplit",
                                                                                     "SplitAmt")).tolist()):
        credit[pn] += amount
    received = np.isin(col(practice, "claimproc", "Status"), (1, 4))  # Received, Supplemental
    for pn, amount in zip(col(practice, "claimproc", "ProcNum")[received].tolist(),
                          (cents(col(practice, "claimproc", "InsPayAmt")) + cents(
                              col(practice, "claimproc", "WriteOff")))[received].tolist()):
        credit[pn] += amount
    for pn, amount in zip(col(practice, "adjustment", "ProcNum").tolist(), cents(col(practice, "adjustment",
                                                                                       "AdjAmt")).tolist()):
        credit[pn] -= amount
    done = col(practice, "procedurelog", "ProcStatus") == 2
    for pn, c in zip(col(practice, "procedurelog", "ProcNum")[done].tolist(), charge[done].tolist()):
        assert 0 <= credit[pn] <= c
    assert (col(practice, "procedurelog", "UnitQty") >= 1).all()
    assert (col(practice, "procedurelog", "UnitQty") == 1).mean() > 0.95
    assert (col(practice, "procedurelog", "BaseUnits") == 0).mean() > 0.95


def test_fees_follow_the_schedule_at_the_match_rate(practice):
    fee = {(s, c): a for s, c, a in zip(col(practice, "fee", "FeeSched").tolist(), col(practice, "fee", "CodeNum"),
                                        cents(col(practice, "fee", "Amount")).tolist())}
    pat_sched = dict(zip(col(practice, "patient", "PatNum").tolist(), col(practice, "patient", "FeeSched").tolist()))
    prov_sched = dict(zip(col(practice, "provider", "ProvNum").tolist(), col(practice, "provider", "FeeSched")))
    status = col(practice, "procedurelog", "ProcStatus")
    rows = status != enum("ProcStat")["EC"]
    matches = [
        fee[(pat_sched[p] or prov_sched[v], c)] == f
        for p, v, c, f in zip(col(practice, "procedurelog", "PatNum")[rows].tolist(),
                              col(practice, "procedurelog", "ProvNum")[rows].tolist(),
                              col(practice, "procedurelog", "CodeNum")[rows].tolist(),
                              cents(col(practice, "procedurelog", "ProcFee"))[rows].tolist())
    ]
    assert abs(np.mean(matches) - practice.config.fee_match_rate) < 0.02
    assert (cents(col(practice, "procedurelog", "ProcFee"))[status == enum("ProcStat")["EC"]] == 0).all()


def _hidden_unearned_types(practice) -> set[int]:
    """DefNums of the unearned types marked "Do Not Show on Account": PaySplitUnearnedType definitions
    (category 29) with an ItemValue, read straight from the definition table."""
    defs = practice.tables["definition"].to_pylist()
    return {r["DefNum"] for r in defs if r["Category"] == 29 and r["ItemValue"] != ""}


def _dynamic_plan_links(t, plans):
    """(cents credited, PatNum, ProcNum, ProcDate) per dynamic plan link to a complete procedure, by
    OpenDental's Ledgers.GetTransQueryString: AmountOverride, or when 0 the fee x units + the procedure's
    adjustments (same patient, provider, clinic) - insurance (paid, or estimated; Preauth left out) -
    splits not on a plan."""
    procs = {r["ProcNum"]: r for r in t["procedurelog"]}
    out = []
    for link in t["payplanlink"]:
        proc = procs.get(link["FKey"])
        if link["LinkType"] != 2 or link["PayPlanNum"] not in plans or proc is None or proc["ProcStatus"] != 2:
            continue
        owed = round(proc["ProcFee"] * 100) * (proc["UnitQty"] + proc["BaseUnits"])
        owed += sum(round(a["AdjAmt"] * 100) for a in t["adjustment"] if a["ProcNum"] == proc["ProcNum"]
                    and (a["PatNum"], a["ProvNum"], a["ClinicNum"]) == (proc["PatNum"], proc["ProvNum"], proc["ClinicNum"]))
        for c in t["claimproc"]:
            if c["ProcNum"] != proc["ProcNum"] or c["Status"] == 2:
                continue
            if c["Status"] in (1, 4, 7):
                owed -= round(c["InsPayAmt"] * 100) + round(c["WriteOff"] * 100)
            else:
                owed -= round((c["InsEstTotalOverride"] if c["InsEstTotalOverride"] != -1 else c["InsPayEst"]) * 100)
                owed -= round((c["WriteOffEstOverride"] if c["WriteOffEstOverride"] != -1
                               else c["WriteOffEst"] if c["WriteOffEst"] != -1 else 0) * 100)
        owed -= sum(round(p["SplitAmt"] * 100) for p in t["paysplit"]
                    if p["ProcNum"] == proc["ProcNum"] and p["PayPlanNum"] == 0)
        amount = round(link["AmountOverride"] * 100) or owed
        out.append((amount, proc["PatNum"], proc["ProcNum"], proc["ProcDate"]))
    return out


def _independent_aging(practice):
    """OpenDental 24.3's family aging under its default settings (AgingProcLifo unset = on, PayPlansVersion
    2; docs/opendental_aging.md), recomputed row by row with Python dates (no code shared with ledger.py)."""
    assert practice.config.aging_proc_lifo == 0 and practice.config.pay_plans_version == 2
    as_of = AS_OF
    guarantor = dict(zip(col(practice, "patient", "PatNum").tolist(), col(practice, "patient", "Guarantor").tolist()))
    t = {name: practice.tables[name].to_pylist()
         for name in ("procedurelog", "adjustment", "paysplit", "claimproc", "payplan", "payplancharge",
                      "payplanlink")}
    complete = {r["ProcNum"]: r["ProcDate"] for r in t["procedurelog"] if r["ProcStatus"] == 2}
    plans = {r["PayPlanNum"]: r for r in t["payplan"]}
    hidden = _hidden_unearned_types(practice)
    trans = []  # (guarantor, date, cents, is_instant)
    attached = defaultdict(int)  # (patient, procedure, date) -> cents; its procedure's date apart
    attached_date = {}
    for r in t["procedurelog"]:
        if r["ProcStatus"] == 2 and r["ProcFee"] != 0:
            trans.append((guarantor[r["PatNum"]], r["ProcDate"], round(r["ProcFee"] * 100) * (r["UnitQty"]
                                                                                             + r["BaseUnits"]), False))
    for r in t["adjustment"]:
        if r["ProcNum"]:
            attached[(r["PatNum"], r["ProcNum"], r["AdjDate"])] += round(r["AdjAmt"] * 100)
            attached_date[(r["PatNum"], r["ProcNum"], r["AdjDate"])] = r["ProcDate"]
        else:
            trans.append((guarantor[r["PatNum"]], r["AdjDate"], round(r["AdjAmt"] * 100), False))
    for r in t["paysplit"]:
        if r["UnearnedType"] not in hidden:  # "Do Not Show on Account" types leave the balance alone
            trans.append((guarantor[r["PatNum"]], r["DatePay"], -round(r["SplitAmt"] * 100), False))
    for r in t["payplancharge"]:
        if r["ChargeDate"] > as_of:
            continue
        plan = plans[r["PayPlanNum"]]
        if r["ChargeType"] == 1:  # a credit, attached to its procedure
            key = (plan["PatNum"], r["ProcNum"], r["ChargeDate"])
            attached[key] += -round(r["Principal"] * 100)
            attached_date[key] = complete[r["ProcNum"]]
        elif plan["PlanNum"] == 0:
            trans.append((guarantor[r["Guarantor"]], r["ChargeDate"],
                          round(r["Principal"] * 100) + round(r["Interest"] * 100), False))
    for cents_owed, pat, proc, when in _dynamic_plan_links(t, plans):
        if when <= as_of:  # a link's credit, attached to its procedure
            attached[(pat, proc, when)] += -cents_owed
            attached_date[(pat, proc, when)] = when
    for (pat, _proc, when), amount in attached.items():
        trans.append((guarantor[pat], attached_date[(pat, _proc, when)] if amount < 0 else when, amount, True))
    ins_est = defaultdict(int)
    for r in t["claimproc"]:
        if r["ProcNum"] and r["ProcNum"] not in complete:
            continue
        if r["Status"] in (1, 4, 5, 7):
            paid = round(r["InsPayAmt"] * 100) if r["PayPlanNum"] == 0 else 0
            trans.append((guarantor[r["PatNum"]], r["DateCP"], -paid - round(r["WriteOff"] * 100), False))
        elif r["Status"] == 0:
            ins_est[guarantor[r["PatNum"]]] += round(r["InsPayEst"] * 100) + round(r["WriteOff"] * 100)
    buckets = defaultdict(lambda: [0, 0, 0, 0])  # over 90, 61-90, 31-60, 0-30
    credits = defaultdict(int)
    totals = defaultdict(int)
    for g, when, amount, instant in trans:
        totals[g] += amount
        age = (as_of - when).days
        if amount > 0 or instant:
            if age >= 0:
                buckets[g][0 if age > 90 else 1 if age > 60 else 2 if age > 30 else 3] += amount
        elif age >= 0:
            credits[g] -= amount
    result = {}
    for g in set(guarantor.values()):
        left = credits[g] - sum(min(b, 0) for b in buckets[g])  # a bucket below zero pays the oldest
        aged = []
        for amount in (max(b, 0) for b in buckets[g]):  # oldest first
            paid = min(left, amount)
            aged.append(amount - paid)
            left -= paid
        result[g] = {"BalOver90": aged[0], "Bal_61_90": aged[1], "Bal_31_60": aged[2], "Bal_0_30": aged[3],
                     "BalTotal": totals[g], "InsEst": ins_est[g]}
    return result


def test_guarantor_aging_matches_an_independent_recomputation(practice):
    expected = _independent_aging(practice)
    rows = practice.tables["patient"].to_pylist()
    names = ("Bal_0_30", "Bal_31_60", "Bal_61_90", "BalOver90", "BalTotal", "InsEst")
    with_balance = in_credit = 0
    for r in rows:
        got = {n: round(r[n] * 100) for n in names}
        if r["PatNum"] != r["Guarantor"]:
            assert all(v == 0 for v in got.values()) and r["PayPlanDue"] == 0
            continue
        assert got == expected[r["PatNum"]], r["PatNum"]
        buckets = got["Bal_0_30"] + got["Bal_31_60"] + got["Bal_61_90"] + got["BalOver90"]
        # a family in credit has no aged balance; otherwise the buckets add up to the total
        assert buckets == max(got["BalTotal"], 0)
        with_balance += got["BalTotal"] > 0
        in_credit += got["BalTotal"] < 0
    assert 0.1 < with_balance / len(expected) < 0.9
    assert 0 < in_credit < 0.05 * len(expected)
    assert sum(e["BalOver90"] > 0 for e in expected.values()) > 0
    assert sum(e["InsEst"] > 0 for e in expected.values()) > 0
    aging = practice.ledger["aging"].to_pylist()
    assert len(aging) == len(expected)
    for row in aging:
        assert {n: round(row[n] * 100) for n in names} == expected[row["Guarantor"]]


def _with_plans(tables: dict, plans: pa.Table, version: int) -> dict:
    """``tables`` with ``payplan`` replaced and PayPlansVersion set to ``version`` in ``preference``."""
    pref = tables["preference"]
    keep = pc.not_equal(pref.column("PrefName"), "PayPlansVersion")
    pref = pa.table({"PrefName": pref.filter(keep).column("PrefName").to_pylist() + ["PayPlansVersion"],
                     "ValueString": pref.filter(keep).column("ValueString").to_pylist() + [str(version)]})
    return {**tables, "payplan": plans, "preference": pref}


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_aging_with_every_payment_plan_deleted(small_practice, version):
    """A database whose ``payplan`` rows are all gone while their charges and splits remain (rows left
    behind by hand deletes) ages as one whose plans exist but match none of them and have nothing
    completed: each charge and split is an orphan either way. Before, an empty ``payplan`` raised
    IndexError."""
    from dental_synthetic.ledger import family_aging

    tables = small_practice.tables
    assert tables["payplancharge"].num_rows and tables["payplan"].num_rows
    plans = tables["payplan"]
    # plans matching no charge or split, and adding no row of their own (PayPlansVersion 1 and 4 age a
    # plan's -CompletedAmt)
    moved = pc.add(plans.column("PayPlanNum"), 10_000_000)
    unmatched = plans.set_column(plans.schema.get_field_index("PayPlanNum"), "PayPlanNum", moved)
    no_amount = pa.array([0.0] * plans.num_rows, plans.schema.field("CompletedAmt").type)
    unmatched = unmatched.set_column(plans.schema.get_field_index("CompletedAmt"), "CompletedAmt", no_amount)
    guarantor = col(small_practice, "patient", "Guarantor")
    empty = family_aging(_with_plans(tables, plans.slice(0, 0), version), guarantor, AS_OF)
    assert empty.equals(family_aging(_with_plans(tables, unmatched, version), guarantor, AS_OF))
    # the plans' rows count: without them the aging is another
    assert not empty.equals(family_aging(_with_plans(tables, plans, version), guarantor, AS_OF))


def test_daily_ledger_totals(practice):
    daily = practice.ledger["daily"]
    status = col(practice, "procedurelog", "ProcStatus")
    charge = cents(col(practice, "procedurelog", "ProcFee")) * (
        col(practice, "procedurelog", "UnitQty") + col(practice, "procedurelog", "BaseUnits"))
    assert cents(daily.column("Production")).sum() == charge[status == 2].sum()
    assert cents(daily.column("Adjustments")).sum() == cents(col(practice, "adjustment", "AdjAmt")).sum()
    shown = ~np.isin(col(practice, "paysplit", "UnearnedType"), list(_hidden_unearned_types(practice)))
    assert (~shown).sum() > 0  # the practice has splits of a hidden type, left out of the income
    assert cents(daily.column("PatientIncome")).sum() == cents(col(practice, "paysplit", "SplitAmt"))[shown].sum()
    # Received, Supplemental, on an insurance check (RpProdInc joins claimpayment): entered payments not on a
    # check yet are no income
    received = np.isin(col(practice, "claimproc", "Status"), (1, 4))
    on_check = col(practice, "claimproc", "ClaimPaymentNum") > 0
    assert (received & ~on_check & (col(practice, "claimproc", "InsPayAmt") > 0)).any()
    assert cents(daily.column("InsuranceIncome")).sum() == cents(col(practice, "claimproc", "InsPayAmt"))[
        received & on_check].sum()
    keys = list(zip(*(daily.column(c).to_pylist() for c in ("Date", "ClinicNum", "ProvNum"))))
    assert len(keys) == len(set(keys))
    # production per provider and day matches the completed procedures on that day
    per_day = defaultdict(int)
    for d, c, p, a in zip(col(practice, "procedurelog", "ProcDate")[status == 2].tolist(),
                          col(practice, "procedurelog", "ClinicNum")[status == 2].tolist(),
                          col(practice, "procedurelog", "ProvNum")[status == 2].tolist(), charge[status == 2].tolist()):
        per_day[(d, c, p)] += a
    got = {(day(k[0]), k[1], k[2]): v for k, v in zip(keys, cents(daily.column("Production")).tolist()) if v}
    assert got == {k: v for k, v in per_day.items() if v}


# ------------------------------------------------------------------------------------------ writers

def test_parquet_writer_and_cli(tmp_path, capsys, small_practice):
    paths = write_parquet(small_practice, tmp_path / "direct")
    assert set(paths) == set(CATALOG)
    for name in ("claim", "appointment"):  # Parquet has no seconds unit: timestamps come back in ms
        table = small_practice.tables[name]
        assert pq.read_table(paths[name]).cast(table.schema).equals(table)
    code = main(["generate", "--patients", "300", "--seed", "3", "--as-of", AS_OF.isoformat(),
                 "--target", str(tmp_path / "cli")])
    assert code == 0
    printed = {}
    for line in capsys.readouterr().out.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in CATALOG:
            printed[words[0]] = int(words[1].replace(",", ""))
    assert printed == small_practice.row_counts()
    procs = small_practice.tables["procedurelog"]
    assert pq.read_table(tmp_path / "cli" / "procedurelog.parquet").cast(procs.schema).equals(procs)


def test_parquet_folder_guard(tmp_path, capsys, monkeypatch):
    """A folder holding someone's files is refused before anything is generated (exit 3, the file left
    as it was); a folder the generator marked is cleared of its earlier run first: a dirty run's
    injections do not survive a clean run written after it."""
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "patient.parquet").write_bytes(b"someone's file")
    generated = []
    monkeypatch.setattr("dental_synthetic.cli.generate", lambda config: generated.append(config))
    args = ["generate", "--patients", "40", "--seed", "5", "--as-of", AS_OF.isoformat()]
    assert main([*args, "--target", str(theirs)]) == 3
    assert "not marked as a demo target" in capsys.readouterr().err
    assert not generated and (theirs / "patient.parquet").read_bytes() == b"someone's file"
    assert sorted(p.name for p in theirs.iterdir()) == ["patient.parquet"]
    monkeypatch.undo()

    ours = tmp_path / "ours"
    assert main([*args, "--dirty", "0.1", "--target", str(ours)]) == 0
    assert (ours / "_ledger" / "injections.parquet").is_file()
    (ours / "notes.parquet").write_bytes(b"a file of the user's")  # not a table the generator writes
    assert main([*args, "--target", str(ours)]) == 0
    assert not (ours / "_ledger" / "injections.parquet").exists()
    assert (ours / "notes.parquet").read_bytes() == b"a file of the user's"
    assert json.loads((ours / "_ledger" / "run.json").read_text())["DirtyRate"] == 0
    assert main([*args, "--force", "--target", str(theirs)]) == 0  # disposable, on the user's word
    assert (theirs / "procedurelog.parquet").is_file()


def _raw_counts(url: str) -> dict[str, int]:
    conn = PgParams.from_url(url).connect()
    try:
        with conn.cursor() as cur:
            counts = {}
            for name in CATALOG:
                cur.execute(f"SELECT count(*) FROM {quote_pg(RAW_SCHEMA)}.{quote_pg(name)}")
                counts[name] = cur.fetchone()[0]
            return counts
    finally:
        conn.close()


def _has_raw_schema(url: str) -> bool:
    conn = PgParams.from_url(url).connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s", (RAW_SCHEMA,))
            return cur.fetchone()[0] == 1
    finally:
        conn.close()


def test_refuses_a_database_not_marked_as_demo_target(pg_url, small_practice, capsys):
    with pytest.raises(NotADemoTargetError) as info:
        write_postgres_raw(small_practice, pg_url)
    params = PgParams.from_url(pg_url)
    assert params.dbname in str(info.value)
    assert f":{params.password}@" not in str(info.value)  # where, but never credentials
    assert not _has_raw_schema(pg_url)
    code = main(["generate", "--patients", "50", "--as-of", AS_OF.isoformat(), "--target", pg_url])
    assert code == 3
    err = capsys.readouterr().err
    assert "not marked as a demo target" in err
    assert f":{params.password}@" not in err
    assert not _has_raw_schema(pg_url)


def test_writes_raw_into_a_demo_target(pg_url, small_practice):
    mark_demo_target(PgParams.from_url(pg_url))
    counts = write_postgres_raw(small_practice, pg_url)
    assert counts == small_practice.row_counts()
    assert _raw_counts(pg_url) == counts
    # rewriting replaces the data rather than adding to it
    assert write_postgres_raw(small_practice, PgParams.from_url(pg_url)) == counts
    assert _raw_counts(pg_url) == counts
    conn = PgParams.from_url(pg_url).connect()
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT sum(round(("ProcFee" * ("UnitQty" + "BaseUnits") * 100)::numeric)) '
                        'FROM raw.procedurelog WHERE "ProcStatus" = 2')
            production = int(cur.fetchone()[0])
            cur.execute('SELECT count(*) FROM raw.procedurelog WHERE "DateComplete" = DATE \'0001-01-01\'')
            no_date = cur.fetchone()[0]
            cur.execute('SELECT min("ProcTime"), max("ProcTime") FROM raw.procedurelog')
            time_range = cur.fetchone()
    finally:
        conn.close()
    assert production == cents(small_practice.ledger["daily"].column("Production")).sum()
    assert no_date == int((col(small_practice, "procedurelog", "ProcStatus") != 2).sum())
    assert time_range[0] == dt.timedelta(0) and dt.timedelta(hours=8) <= time_range[1] <= dt.timedelta(hours=17)


def test_force_writes_into_an_unmarked_database(pg_url, small_practice):
    counts = write_postgres_raw(small_practice, pg_url, force=True)
    assert _raw_counts(pg_url) == counts


def test_only_the_mark_in_schema_public_makes_a_demo_target(pg_url, small_practice):
    """The mark is ``public.dental_demo_target`` (dental_assets/warehouse.py): a table of that name in another
    schema on the login's search path (its own schema, ``"$user"``) does not mark the database."""
    params = PgParams.from_url(pg_url)
    conn = params.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{params.user}"')
            cur.execute(f'CREATE TABLE "{params.user}".dental_demo_target (note text)')
            cur.execute("SELECT to_regclass('dental_demo_target') IS NOT NULL")  # found by the bare name
            assert cur.fetchone() == (True,)
    finally:
        conn.close()
    with pytest.raises(NotADemoTargetError):
        write_postgres_raw(small_practice, pg_url)
    assert not _has_raw_schema(pg_url)


def test_the_parquet_writer_itself_refuses_a_folder_of_someone_elses_files(tmp_path, small_practice):
    """``write_parquet`` checks the folder before writing (dental_synthetic/safety.py), not only the command
    line: a caller of the API gets NotADemoTargetError for a folder holding files without the demo mark, and
    the folder is left as it was."""
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "patient.parquet").write_bytes(b"someone's file")
    with pytest.raises(NotADemoTargetError):
        write_parquet(small_practice, theirs)
    assert sorted(p.name for p in theirs.iterdir()) == ["patient.parquet"]
    assert (theirs / "patient.parquet").read_bytes() == b"someone's file"


# --- issue #14: what another project's checks of OpenDental data expect ---------------------------------


def test_no_check_number_is_on_two_claim_payments(practice):
    checks = [n for n in practice.tables["claimpayment"].column("CheckNum").to_pylist() if n]
    assert len(checks) > 100
    assert len(set(checks)) == len(checks)


def test_distinct_check_numbers_keep_the_first_and_take_the_next_free():
    from dental_synthetic.billing import distinct_check_numbers

    drawn = np.array([5, 5, 7, 5, 9, 9, 9])
    used = np.array([True, True, True, True, False, True, True])
    # the second 5 -> 6; the third 5 -> 8 (6 and 7 taken); row 4 is an EFT (unused): its 9 is no one's;
    # the second used 9 wraps past the top (10) to the low end, 3
    assert distinct_check_numbers(drawn, used, 3, 10).tolist() == [5, 6, 7, 8, 9, 9, 3]
    with pytest.raises(ValueError, match="do not fit"):
        distinct_check_numbers(np.zeros(3, dtype=np.int64), np.ones(3, dtype=bool), 0, 2)


def test_definitions_cover_every_category_a_database_in_use_holds(practice):
    categories = enum("DefCat")
    retired = {categories["FeeSchedNamesOld"], categories["OperatoriesOld"]}
    definition = practice.tables["definition"]
    present = set(definition.column("Category").to_pylist())
    assert present == set(categories.values()) - retired
    pairs = list(zip(definition.column("Category").to_pylist(), definition.column("ItemOrder").to_pylist()))
    assert len(set(pairs)) == len(pairs)  # ItemOrder 0, 1, ... within each category
    assert definition.column("DefNum").to_pylist() == list(range(1, definition.num_rows + 1))


def test_every_sent_statement_archives_its_document(practice):
    statement = practice.tables["statement"].to_pylist()
    documents = {d["DocNum"]: d for d in practice.tables["document"].to_pylist()}
    definitions = {d["DefNum"]: d for d in practice.tables["definition"].to_pylist()}
    assert len(statement) > 100
    assert len({s["DocNum"] for s in statement}) == len(statement)
    for s in statement:
        assert s["IsSent"] == 1
        doc = documents[s["DocNum"]]
        assert doc["PatNum"] == s["PatNum"]
        assert doc["DateCreated"].date() == s["DateSent"]
        category = definitions[doc["DocCategory"]]
        assert category["Category"] == enum("DefCat")["ImageCats"] and "S" in category["ItemValue"]


def test_set_up_rows_carry_varied_entry_and_edit_moments(practice):
    start = practice.config.start
    fee = practice.tables["fee"]
    entered = fee.column("SecDateEntry").to_pylist()
    edited = fee.column("SecDateTEdit").to_pylist()
    assert len(set(entered)) > fee.num_rows // 4 and len(set(edited)) > fee.num_rows // 4
    assert all(e <= t.date() for e, t in zip(entered, edited))
    feesched = practice.tables["feesched"].to_pylist()
    assert len({s["SecDateEntry"] for s in feesched}) == len(feesched)
    for s in feesched:  # edited at the last review of its own fees
        own = [t for t, f in zip(edited, fee.column("FeeSched").to_pylist()) if f == s["FeeSchedNum"]]
        assert s["SecDateTEdit"] == max(own)
    stamps = [r["DateTStamp"] for r in practice.tables["referral"].to_pylist()]
    assert len(set(stamps)) == len(stamps)
    assert all(s.date() < start for s in stamps)


def test_constant_columns_share_one_read_only_buffer():
    """OpenDental's defaults fill most columns; they are views of one buffer per type and value (the
    100,000-patient practice fits in 4 GB because of it), and nobody can write through them."""
    from dental_synthetic.columns import build_table

    built = build_table(CATALOG["procedurelog"], 1000, {"ProcNum": np.arange(1, 1001)})
    other = build_table(CATALOG["claimproc"], 500, {"ClaimProcNum": np.arange(1, 501)})
    zero_int = {built.column(c).chunk(0).buffers()[1].address for c in ("PatNum", "AptNum", "ProvNum")}
    zero_int.add(other.column("PatNum").chunk(0).buffers()[1].address)
    assert len(zero_int) == 1
    no_date = {t.column(c).chunk(0).buffers()[1].address for t, c in ((built, "ProcDate"), (built, "DateTP"),
                                                                      (other, "ProcDate"))}
    assert len(no_date) == 1
    assert built.column("ProcDate")[999].as_py() == ZERO and built.column("PatNum")[0].as_py() == 0
    assert built.column("ProcNum").chunk(0).buffers()[1].address not in zero_int
    view = built.column("PatNum").to_numpy()
    with pytest.raises(ValueError):
        view[0] = 5


# ------------------------------------------------------------------- providers and broken appointments

def _proc_code(practice) -> np.ndarray:
    """Per procedurelog row: its ProcCode."""
    codes = dict(zip(col(practice, "procedurecode", "CodeNum").tolist(),
                     practice.tables["procedurecode"].column("ProcCode").to_pylist()))
    return np.array([codes[c] for c in col(practice, "procedurelog", "CodeNum").tolist()])


def test_a_procedure_on_an_appointment_takes_its_provider_as_opendental_does():
    """Procedures.GetProvNumFromAppointment: ``else if(apt.ProvHyg==0 || !procCode.IsHygiene) provNum=
    apt.ProvNum; else provNum=apt.ProvHyg``. A hygiene code (a sealant) on a dentist's appointment, which has
    no hygienist, is the dentist's, not the patient's hygienist's; a procedure on no appointment takes the
    chart's default (the hygienist for a hygiene code); a broken appointment's D9986 its appointment's
    provider (AppointmentL.BreakApptHelper). Hand-made: patient 0 has dentist 1 and hygienist 3."""
    from types import SimpleNamespace

    from dental_synthetic.schedule import _proc_providers

    setup = SimpleNamespace(code_hygiene=np.array([False, True, False]))  # CodeNum 1 a hygiene code
    people = SimpleNamespace(pri_prov=np.array([1]), sec_prov=np.array([3]))
    # AptNum 1: a hygiene visit (ProvNum 2, ProvHyg 4); AptNum 2: a dentist's visit (ProvNum 2, no ProvHyg)
    apts = SimpleNamespace(pat=np.array([0, 0]), num=np.array([1, 2]), prov=np.array([2, 2]), hyg=np.array([4, 0]))
    p = SimpleNamespace(pat=np.zeros(6, np.int64), code=np.array([1, 2, 1, 2, 1, 2]),
                        apt=np.array([1, 1, 2, 2, 0, 0]), from_apt=np.array([0, 0, 0, 0, 0, 2]))
    assert _proc_providers(setup, people, p, apts).tolist() == [4, 2, 2, 2, 3, 2]


def test_procedures_on_appointments_carry_the_appointments_providers(practice):
    """Every procedure attached to an appointment has the provider GetProvNumFromAppointment gives it (see
    the hand-made test above), in the generated practice; sealants on dentists' appointments exist and are
    the dentists'."""
    apt = {a: (p, h) for a, p, h in zip(col(practice, "appointment", "AptNum").tolist(),
                                        col(practice, "appointment", "ProvNum").tolist(),
                                        col(practice, "appointment", "ProvHyg").tolist())}
    hygiene = dict(zip(col(practice, "procedurecode", "CodeNum").tolist(),
                       col(practice, "procedurecode", "IsHygiene").tolist()))
    sealants_on_dentist_visits = 0
    for a, code, prov in zip(col(practice, "procedurelog", "AptNum").tolist(),
                             col(practice, "procedurelog", "CodeNum").tolist(),
                             col(practice, "procedurelog", "ProvNum").tolist()):
        if a == 0:
            continue
        apt_prov, apt_hyg = apt[a]
        assert prov == (apt_hyg if hygiene[code] and apt_hyg else apt_prov)
        sealants_on_dentist_visits += bool(hygiene[code] and not apt_hyg)
    assert sealants_on_dentist_visits > 0


def test_a_broken_appointment_charts_its_d9986_or_d9987_as_opendental_does(practice):
    """AppointmentL.BreakApptHelper: breaking with D9986 writes a Missed history entry, with D9987 a
    Cancelled one, and inserts a completed procedure of that code: ProcDate = DateTP = the day of the break
    (DateTime.Today), AptNum 0, ProvNum and ClinicNum the appointment's, the fee from the fee schedule
    (here 0: the codes carry none), a procnote "Appt BROKEN for <ProcDescript> <ddd> <date time>". One per
    broken appointment; none for an appointment sent to the unscheduled list, nor anywhere else."""
    t = practice.tables
    code = _proc_code(practice)
    broken_code = np.isin(code, ["D9986", "D9987"])
    hist = t["histappointment"]
    action = col(practice, "histappointment", "HistApptAction")
    act = enum("HistAppointmentAction")
    breaks = {}  # AptNum -> (code, day broken)
    for a, ac, stamp in zip(col(practice, "histappointment", "AptNum").tolist(), action.tolist(),
                            col(practice, "histappointment", "HistDateTStamp").tolist()):
        if ac in (act["Missed"], act["Cancelled"]):
            assert a not in breaks
            breaks[a] = ("D9986" if ac == act["Missed"] else "D9987", stamp // 86_400)
    status = col(practice, "appointment", "AptStatus")
    apt_nums = col(practice, "appointment", "AptNum")
    assert set(breaks) == set(apt_nums[status == enum("ApptStatus")["Broken"]].tolist()) and hist.num_rows
    apt = {a: (p, pv, c) for a, p, pv, c in zip(apt_nums.tolist(), col(practice, "appointment", "PatNum").tolist(),
                                               col(practice, "appointment", "ProvNum").tolist(),
                                               col(practice, "appointment", "ClinicNum").tolist())}
    expected = sorted((apt[a][0], c, d, apt[a][1], apt[a][2]) for a, (c, d) in breaks.items())
    pl = {name: col(practice, "procedurelog", name)[broken_code]
          for name in ("PatNum", "ProcDate", "DateTP", "ProvNum", "ClinicNum", "ProcStatus", "AptNum",
                       "PlannedAptNum", "ProcFee")}
    charted = sorted(zip(pl["PatNum"].tolist(), code[broken_code].tolist(), pl["ProcDate"].tolist(),
                         pl["ProvNum"].tolist(), pl["ClinicNum"].tolist()))
    assert charted == expected
    assert {"D9986", "D9987"} <= set(code[broken_code].tolist())
    assert (pl["ProcStatus"] == 2).all() and (pl["AptNum"] == 0).all() and (pl["PlannedAptNum"] == 0).all()
    assert (pl["DateTP"] == pl["ProcDate"]).all() and (pl["ProcFee"] == 0).all()
    # the note: "Appt BROKEN for " + ProcDescript + " " + AptDateTime.ToString("ddd") + " " + .ToString()
    notes = dict(zip(col(practice, "procnote", "ProcNum").tolist(), t["procnote"].column("Note").to_pylist()))
    when = dict(zip(apt_nums.tolist(), t["appointment"].column("AptDateTime").to_pylist()))
    descript = dict(zip(apt_nums.tolist(), t["appointment"].column("ProcDescript").to_pylist()))
    apt_of = defaultdict(list)
    for a, (c, d) in breaks.items():
        apt_of[(apt[a][0], c, d)].append(a)
    checked = 0
    for num, p, c, d in zip(col(practice, "procedurelog", "ProcNum")[broken_code].tolist(), pl["PatNum"].tolist(),
                            code[broken_code].tolist(), pl["ProcDate"].tolist()):
        assert notes[num].startswith("Appt BROKEN for ")
        if len(apt_of[(p, c, d)]) == 1:
            a = apt_of[(p, c, d)][0]
            w = when[a]
            stamp = f"{w:%a} {w.month}/{w.day}/{w.year} {w.hour % 12 or 12}:{w:%M:%S} {'AM' if w.hour < 12 else 'PM'}"
            assert notes[num] == f"Appt BROKEN for {descript[a]} {stamp}"
            checked += 1
    assert checked > 0.9 * len(breaks)


def test_a_broken_appointments_fee_is_looked_up_as_breakappthelper_does():
    """AppointmentL.BreakApptHelper's fee for the NoBillIns D9986: the patient's fee schedule, else the
    provider's (FeeScheds.GetFeeSched(0, patient.FeeSched, provNum)); with a PPO primary plan the larger of
    that and the provider's schedule's fee (Math.Max(provFee, procFee)). Hand-made fees: CodeNum 1 costs
    $50 on the provider's schedule 1, $30 on the patient's schedule 2."""
    from dental_synthetic.schedule import broken_procedure_fee

    fee = np.zeros((3, 2), dtype=np.int64)
    fee[1, 1], fee[2, 1] = 5_000, 3_000
    got = broken_procedure_fee(fee, pat_fee_sched=np.array([2, 2, 0, 0]), prov_fee_sched=1,
                               primary_is_ppo=np.array([False, True, False, True]), code=np.array([1, 1, 1, 1]))
    assert got.tolist() == [3_000, 5_000, 5_000, 5_000]


# ------------------------------------------------------------------------------------ chair time
def test_a_recall_appointment_is_as_long_as_its_recall_types_time_pattern(practice):
    """OpenDental books an appointment for a recall with its recall type's TimePattern
    (Appointments.FillAppointmentForRecall: Pattern = RecallTypes.ConvertTimePattern(
    Recalls.GetRecallTimePattern(...))), one character per AppointmentTimeIncrement minutes (10 in OpenDental's
    stock database; the bitewing and pano types appended to a prophy have no pattern), not the sum of its
    procedures' times. The practice's types: Prophy "/XXXX/" 60 minutes, Perio "/XXXXX/" 70, Child Prophy
    "/XXX/" 50. Every recall (hygiene and perio maintenance) appointment is that long, bitewings or not."""
    from dental_synthetic.schedule import APPOINTMENT_TIME_INCREMENT, CHILD_AGE_YEARS, recall_visit_minutes

    assert APPOINTMENT_TIME_INCREMENT == 10
    assert recall_visit_minutes(np.array(["prophy", "perio", "child", "prophy"])).tolist() == [60, 70, 50, 60]
    types = dict(zip(practice.tables["appointmenttype"].column("AppointmentTypeName").to_pylist(),
                     col(practice, "appointmenttype", "AppointmentTypeNum").tolist()))
    apt_type = col(practice, "appointment", "AppointmentTypeNum")
    minutes = np.array([5 * len(p) for p in practice.tables["appointment"].column("Pattern").to_pylist()])
    birth = dict(zip(col(practice, "patient", "PatNum").tolist(), col(practice, "patient", "Birthdate").tolist()))
    pat = col(practice, "appointment", "PatNum")
    apt_day = col(practice, "appointment", "AptDateTime") // 86400
    on_book = apt_day > day(ZERO)
    # a child's visit: under CHILD_AGE_YEARS on the day it was wanted (a few days before it was booked on)
    age = (apt_day - np.array([birth[p] for p in pat.tolist()])) / 365.25
    child = age < CHILD_AGE_YEARS - 0.5
    adult = age >= CHILD_AGE_YEARS + 0.5
    recall = on_book & (apt_type == types["Recall Hygiene"])
    perio = on_book & (apt_type == types["Perio Maintenance"])
    assert recall.sum() > 1000 and perio.sum() > 100
    assert (minutes[recall & adult] == 60).all() and (minutes[recall & child] == 50).all()
    assert (minutes[perio] == 70).all()
    # bitewings on a recall visit (every other one) add no time: the appointment is still the pattern's
    procs = practice.tables["procedurelog"]
    code = dict(zip(col(practice, "procedurecode", "CodeNum").tolist(),
                    practice.tables["procedurecode"].column("ProcCode").to_pylist()))
    with_bitewings = {a for a, c in zip(col(practice, "procedurelog", "AptNum").tolist(),
                                        procs.column("CodeNum").to_pylist()) if a and code[c] == "D0274"}
    apt_num = col(practice, "appointment", "AptNum")
    bitewing_visit = recall & adult & np.isin(apt_num, list(with_bitewings))
    assert bitewing_visit.sum() > 100 and (minutes[bitewing_visit] == 60).all()


def test_booking_is_first_come_first_served_on_the_providers_days():
    """The schedule's booking (``schedule._book``, hand-made): an operatory whose provider works Monday and
    Wednesday (540 minutes each); appointments in booking order. One wanted on a day the provider does not
    work goes to their next working day; what does not fit on a day goes to the next working day with room
    for it, while a shorter one later in the list still takes the time left (the first opening a scheduler
    finds); days already taken (``taken``) count."""
    from dental_synthetic.schedule import _book, _weekday_hours, working_day

    monday = day(dt.date(2025, 6, 30))
    hours = _weekday_hours(np.array([[0] * 7, [540, 0, 540, 0, 0, 0, 0]]), 2)
    #                    A    B    C (Tue)     D   E   F (Fri)     G (Mon, long)
    wanted = np.array([monday, monday, monday + 1, monday, monday, monday + 4, monday])
    minutes = np.array([300, 200, 100, 60, 40, 120, 180])
    order = np.array([0, 1, 3, 4, 2, 5, 6])  # by day wanted, first come first served
    taken = {(1, monday + 9): 500}  # the second Wednesday is nearly full already
    got = _book(hours, np.ones(7, dtype=np.int64), wanted, minutes, order, taken)
    booked = dict(zip(order.tolist(), (got - monday).tolist()))
    assert booked == {0: 0, 1: 0, 3: 2, 4: 0, 2: 2, 5: 7, 6: 2}
    # A and B fill Monday to 500: D (60) does not fit and goes to Wednesday, E (40) still fits on Monday; C is
    # wanted on Tuesday, the provider's day off: Wednesday; F on Friday: next Monday; G (180) on Wednesday,
    # where D and C left 380 minutes
    assert taken[(1, monday)] == 540 and taken[(1, monday + 2)] == 340 and taken[(1, monday + 7)] == 120
    assert working_day(hours, np.array([1, 1, 0]), np.array([monday + 1, monday + 5, monday + 5])).tolist() == [
        monday + 2, monday + 7, monday + 7]  # Tuesday -> Wednesday; Saturday -> Monday (op 0: business days)


def test_providers_work_part_time_and_book_only_their_scheduled_hours(practice):
    """Providers are staffed by the chair days a week the clinic's patients need (practice.provider_days,
    at most FULL_TIME_DAYS each, spread by weekday_rota); each works the same weekdays every week (their
    schedule rows), and every appointment on an operatory is on a day and within the hours a schedule row of
    its provider opens it (so mart_chair_utilization_daily has no booked minutes on a closed chair)."""
    from dental_synthetic.practice import FULL_TIME_DAYS, provider_days, weekday_rota

    assert provider_days(9) == [3, 3, 3] and provider_days(10) == [4, 3, 3] and provider_days(5) == [3, 2]
    rota = weekday_rota([1, 2, 3])  # one clinic: a one-day dentist, a two- and a three-day hygienist
    assert [np.flatnonzero(r).tolist() for r in rota] == [[0], [2, 4], [1, 3, 4]]
    sched = practice.tables["schedule"].to_pydict()
    weekdays = defaultdict(set)
    open_hours = {}
    for num, d, start, stop, prov in zip(sched["ScheduleNum"], sched["SchedDate"], sched["StartTime"],
                                         sched["StopTime"], sched["ProvNum"]):
        weekdays[prov].add(d.weekday())
        open_hours[(prov, d)] = (start, stop)
    assert all(0 < len(w) <= FULL_TIME_DAYS for w in weekdays.values())
    assert len(weekdays) == practice.tables["provider"].num_rows
    assert sum(len(w) < FULL_TIME_DAYS for w in weekdays.values()) >= 2  # part-timers
    assert max(w for d, w in ((d, d.weekday()) for d in sched["SchedDate"])) <= 4
    op_prov = {o: d or h for o, d, h in zip(col(practice, "operatory", "OperatoryNum").tolist(),
                                            col(practice, "operatory", "ProvDentist").tolist(),
                                            col(practice, "operatory", "ProvHygienist").tolist())}
    apt = practice.tables["appointment"].to_pydict()
    checked = 0
    for when, op, pattern in zip(apt["AptDateTime"], apt["Op"], apt["Pattern"]):
        if op == 0:
            continue  # planned appointments are on no operatory
        start, stop = open_hours[(op_prov[op], when.date())]  # KeyError: booked on a day off
        end = when + dt.timedelta(minutes=5 * len(pattern))
        assert start <= when.strftime("%H:%M:%S") and end.strftime("%H:%M:%S") <= stop
        checked += 1
    assert checked > 10000


def test_the_demo_practice_books_its_chairs_as_practices_do():
    """Calibration (docs/synthetic.md, "Calibration: chair utilization"): the demo's practice (5,000
    patients, seed 42, as-of 2025-06-30), over the 365 days up to as-of, by mart_chair_utilization_daily's
    rule (open minutes of the provider schedule rows on an operatory and day; booked minutes 5 x
    len(Pattern) of its appointments Scheduled, Complete or Broken; completed ones counted), per kind of
    operatory: hygienists book 70-90 % of their chair time and complete 7-9 visits a day, dentists book
    60-85 %, as real practices do. Dentists complete at least 7 a day: the rule of thumb's 8-12 needs a second
    chair (one operatory per dentist, 9 hours, about 60 booked minutes per completed visit: 85 % is 7.7)."""
    practice = generate(SyntheticConfig(as_of=AS_OF, patients=5000, seed=42))
    is_hyg = dict(zip(col(practice, "operatory", "OperatoryNum").tolist(),
                      col(practice, "operatory", "IsHygiene").tolist()))
    sched = practice.tables["schedule"].to_pydict()
    sched_row = {n: (d, 60 * (int(b[:2]) - int(a[:2])) + int(b[3:5]) - int(a[3:5]))
                 for n, d, a, b in zip(sched["ScheduleNum"], sched["SchedDate"], sched["StartTime"], sched["StopTime"])}
    first = AS_OF - dt.timedelta(days=365)
    open_minutes = defaultdict(int)
    for num, op in zip(col(practice, "scheduleop", "ScheduleNum").tolist(),
                       col(practice, "scheduleop", "OperatoryNum").tolist()):
        d, minutes = sched_row[num]
        if first < d <= AS_OF:
            open_minutes[(op, d)] += minutes
    booked, completed = defaultdict(int), defaultdict(int)
    apt = practice.tables["appointment"].to_pydict()
    for when, status, op, pattern in zip(apt["AptDateTime"], apt["AptStatus"], apt["Op"], apt["Pattern"]):
        if status in (1, 2, 5) and first < when.date() <= AS_OF:
            booked[(op, when.date())] += 5 * len(pattern)
            completed[(op, when.date())] += status == 2
    assert set(booked) <= set(open_minutes)  # nothing booked on a closed chair
    share, per_day = {}, {}
    for kind in (0, 1):
        keys = [k for k in open_minutes if is_hyg[k[0]] == kind]
        share[kind] = sum(booked[k] for k in keys) / sum(open_minutes[k] for k in keys)
        per_day[kind] = sum(completed[k] for k in keys) / len(keys)
    assert 0.70 <= share[1] <= 0.90 and 7 <= per_day[1] <= 9, (share, per_day)
    assert 0.60 <= share[0] <= 0.85 and 7 <= per_day[0] <= 12, (share, per_day)

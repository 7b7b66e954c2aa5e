"""The generator's ground truth for aging (``dental_synthetic.ledger.family_aging``) against OpenDental's
own test cases: the fixture families of tests/test_opendental_aging_cases.py (OpenDental's LedgersTests.cs
and hand-computed boundary cases), as Arrow tables, aged by the ledger under each setting. The ledger
is checked against OpenDental's expected buckets, not only against our marts. No database needed."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from dental_assets.catalog import raw_tables
from dental_synthetic.columns import arrow_schema
from dental_synthetic.ledger import family_aging
from test_opendental_aging_cases import (
    CASES, CASES_AND_ESTIMATES, ESTIMATE_CASES, HIDDEN_UNEARNED_DEF, MONTH_END_FAMILY, SETTINGS, T,
    VISIBLE_UNEARNED_DEF, ZERO_DATE, _money,
)

DEFAULTS = {"int": 0, "float": 0.0, "str": "", "date": ZERO_DATE}
TABLES = ("patient", "procedurelog", "claimproc", "adjustment", "payment", "paysplit", "payplan", "payplancharge",
          "payplanlink", "definition", "preference")


def _tables(lifo: int, version: int) -> dict[str, pa.Table]:
    """Every fixture family's rows as catalog-shaped Arrow tables (unset columns: OpenDental's defaults)."""
    rows: dict[str, list[dict]] = defaultdict(list)
    for family, _ in CASES_AND_ESTIMATES:
        for table, table_rows in family.rows.items():
            rows[table].extend(table_rows)
    rows["definition"] = [{"DefNum": HIDDEN_UNEARNED_DEF, "Category": 29, "ItemValue": "X"},
                          {"DefNum": VISIBLE_UNEARNED_DEF, "Category": 29, "ItemValue": ""}]
    rows["preference"] = [{"PrefNum": 1, "PrefName": "AgingProcLifo", "ValueString": str(lifo)},
                          {"PrefNum": 2, "PrefName": "PayPlansVersion", "ValueString": str(version)},
                          {"PrefNum": 3, "PrefName": "PayPlansBillInAdvanceDays", "ValueString": "10"}]
    catalog = {t.name: t for t in raw_tables()}
    out = {}
    for name in TABLES:
        schema = arrow_schema(catalog[name])
        kinds = {c.name: c.kind for c in catalog[name].columns}
        columns = {field.name: pa.array([r.get(field.name, DEFAULTS.get(kinds[field.name])) for r in rows[name]],
                                        type=field.type) for field in schema
                   if kinds[field.name] in DEFAULTS}
        out[name] = pa.table(columns)
    return out


@pytest.fixture(scope="module")
def aged() -> dict:
    """Per setting: {guarantor: (0-30, 31-60, 61-90, over 90, PayPlanDue, BalTotal, InsPayEst, InsWoEst)}."""
    results = {}
    for lifo, version in SETTINGS:
        tables = _tables(lifo, version)
        pats = tables["patient"].column("PatNum").to_pylist()
        guarantor = np.arange(1, max(pats) + 1, dtype=np.int64)
        guarantor[np.array(pats) - 1] = tables["patient"].column("Guarantor").to_pylist()
        aging = family_aging(tables, guarantor, T)
        results[(lifo, version)] = {
            r["Guarantor"]: tuple(_money(r[c]) for c in ("Bal_0_30", "Bal_31_60", "Bal_61_90", "BalOver90",
                                                          "PayPlanDue", "BalTotal", "InsPayEst", "InsWoEst"))
            for r in aging.to_pylist()}
        results[("tables", lifo, version)] = (tables, guarantor)
    return results


@pytest.mark.parametrize("family, expected", CASES, ids=[f.name for f, _ in CASES])
def test_ledger_ages_opendentals_cases(aged, family, expected):
    for guarantor, per_setting in expected.items():
        for setting, buckets in per_setting.items():
            got = aged[setting][guarantor]
            want = tuple(_money(v) for v in buckets)
            assert got[:5] == want, (family.name, setting, got[:5], want)
            total = family.expected_total if family.expected_total is not None else sum(Decimal(str(v)) for v in buckets[:4])
            assert got[5] == _money(total), (family.name, setting, got[5])


def test_ledger_estimates_of_not_received_claimprocs(aged):
    for guarantor, want_pay, want_wo in ESTIMATE_CASES:
        for setting in SETTINGS:
            assert aged[setting][guarantor][6:] == (_money(want_pay), _money(want_wo)), (guarantor, setting)


def test_ledger_month_end_is_opendentals_historic_aging(aged):
    """At a month end before the run date: the claim received after it was pending, with its write-off."""
    tables, guarantor = aged[("tables", 0, 2)]
    g = MONTH_END_FAMILY.guarantors[0]
    for day, want in ((dt.date(2019, 6, 30), (0, 1000, 0, 0, 1000, 600, 200)),
                      (dt.date(2019, 7, 31), (0, 0, 0, 200, 200, 0, 0))):
        row = next(r for r in family_aging(tables, guarantor, day, run_date=T).to_pylist() if r["Guarantor"] == g)
        got = tuple(_money(row[c]) for c in ("Bal_0_30", "Bal_31_60", "Bal_61_90", "BalOver90", "BalTotal",
                                              "InsPayEst", "InsWoEst"))
        assert got == tuple(_money(v) for v in want), (day, got)

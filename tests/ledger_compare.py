"""mart_ar_aging, mart_production_daily and mart_collections_daily next to the synthetic generator's books
(``dental_synthetic.ledger``: OpenDental 24.3's aging and Production and Income rules), row by row.

Shared by the reconciliation tests (test_marts_settings.py, test_marts_reconcile.py) and the benchmark
bench/aging_settings.py. Every amount is a ``Decimal`` in dollars, to the cent; rows whose amounts are
all zero are left out on both sides, so "no row" and "a row of zeros" compare equal.

- Aging, per guarantor (``patient.Guarantor`` PatNum) at one as-of date: ``AGING``'s seven amounts
  (the four buckets, total, insurance estimate, PayPlanDue).
- Production, per (date, ClinicNum, ProvNum): ``PRODUCTION``'s five amounts.
- Income, per (date, ClinicNum): ``INCOME``'s two amounts.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import numpy as np
import pyarrow as pa

from dbt_runner import query_rows as rows
from dental_assets.warehouse import PgParams
from dental_synthetic.ledger import family_aging

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# (mart_ar_aging column, the ledger's aging column)
AGING = (("balance_0_30", "Bal_0_30"), ("balance_31_60", "Bal_31_60"), ("balance_61_90", "Bal_61_90"),
         ("balance_over_90", "BalOver90"), ("total_balance", "BalTotal"), ("insurance_estimate", "InsEst"),
         ("pay_plan_due", "PayPlanDue"))
# mart_production_daily's columns; the ledger's are Production, Adjustments, WriteOffs, CapitationWriteOffs
# and the report's total production, Production - CapitationWriteOffs + Adjustments - WriteOffs
PRODUCTION = ("gross_production", "adjustments", "writeoffs", "capitation_writeoffs", "net_production")
# mart_collections_daily's columns; the ledger's PatientIncome, InsuranceIncome summed over providers
INCOME = ("patient_payments", "insurance_payments")
FIRST_REPORT_DAY = dt.date(1880, 1, 1)  # earlier dates are OpenDental's "no date": in no report's range


def money(value) -> Decimal:
    """A dollar amount (float, Decimal, None) to the cent."""
    return Decimal(str(value or 0)).quantize(CENT)


def guarantors(practice) -> np.ndarray:
    """``guarantor[PatNum - 1]``: each patient's Guarantor (PatNums are 1..n)."""
    patient = practice.tables["patient"]
    order = np.argsort(patient.column("PatNum").to_numpy())
    assert (patient.column("PatNum").to_numpy()[order] == np.arange(1, patient.num_rows + 1)).all()
    return patient.column("Guarantor").to_numpy()[order]


def _nonzero(values: dict) -> dict:
    return {k: v for k, v in values.items() if any(v)}


def expected_aging(tables: dict[str, pa.Table], guarantor: np.ndarray, day: dt.date,
                   run_date: dt.date) -> dict[int, list[Decimal]]:
    """Per guarantor: ``AGING``'s amounts by ``family_aging`` over ``tables`` at ``day`` (historic when
    before ``run_date``)."""
    aging = family_aging(tables, guarantor, day, run_date=run_date if day != run_date else None)
    return _nonzero({e["Guarantor"]: [money(e[od]) for _, od in AGING] for e in aging.to_pylist()})


def mart_aging(params: PgParams, day: dt.date) -> dict[int, list[Decimal]]:
    """Per guarantor: ``AGING``'s amounts of mart_ar_aging at ``day``."""
    columns = ", ".join(m for m, _ in AGING)
    return _nonzero({r[0]: [money(v) for v in r[1:]] for r in rows(
        params, f"SELECT guarantor_id, {columns} FROM marts.mart_ar_aging WHERE as_of_date = '{day.isoformat()}'")})


def diff(got: dict, want: dict) -> dict:
    """``{key: (got, want)}`` for every key whose amounts differ (None: no row)."""
    return {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}


def largest_cents(differences: dict) -> int:
    """The largest difference of any one amount in ``differences`` (``diff``'s result), in cents."""
    worst = 0
    for got, want in differences.values():
        width = len(got or want)
        for a, b in zip(got or [ZERO] * width, want or [ZERO] * width):
            worst = max(worst, int(abs(a - b) / CENT))
    return worst


def month_ends(params: PgParams) -> list[dt.date]:
    """The month ends mart_ar_aging holds (every as-of date but the run date), in order."""
    return [r[0] for r in rows(params, "SELECT DISTINCT as_of_date FROM marts.mart_ar_aging "
                                       "WHERE NOT is_run_date ORDER BY 1")]


def month_end_agings(params: PgParams, tables: dict[str, pa.Table], guarantor: np.ndarray, run_date: dt.date):
    """For every month end of mart_ar_aging: ``(day, mart, expected, unlisted)``. mart_ar_aging lists a
    family from the month end of its first dated transaction on (its documented row set); ``unlisted``
    holds the expected amounts of the families with a non-zero expected aging at ``day`` that the mart
    does not list yet (taken out of ``expected``)."""
    listed_from = dict(rows(params, "SELECT guarantor_id, min(as_of_date) FROM marts.mart_ar_aging "
                                    "WHERE NOT is_run_date GROUP BY 1"))
    for day in month_ends(params):
        want = expected_aging(tables, guarantor, day, run_date)
        unlisted = {g: want.pop(g) for g in [g for g in want if listed_from.get(g, run_date) > day]}
        yield day, mart_aging(params, day), want, unlisted


def expected_production(daily: pa.Table) -> dict[tuple, list[Decimal]]:
    """Per (Date, ClinicNum, ProvNum) of the ledger's ``daily`` table dated in a report's range:
    ``PRODUCTION``'s amounts as the Production and Income report gives them."""
    out = {}
    for e in daily.to_pylist():
        if e["Date"] < FIRST_REPORT_DAY:
            continue
        value = [money(e[m]) for m in ("Production", "Adjustments", "WriteOffs", "CapitationWriteOffs")]
        value.append(value[0] - value[3] + value[1] - value[2])
        out[(e["Date"], e["ClinicNum"], e["ProvNum"])] = value
    return _nonzero(out)


def mart_production(params: PgParams) -> dict[tuple, list[Decimal]]:
    """Per (production_date, clinic_id, provider_id): ``PRODUCTION``'s amounts of mart_production_daily."""
    return _nonzero({(r[0], r[1], r[2]): [money(v) for v in r[3:]] for r in rows(
        params, f"SELECT production_date, clinic_id, provider_id, {', '.join(PRODUCTION)} "
                "FROM marts.mart_production_daily")})


def expected_income(daily: pa.Table) -> dict[tuple, list[Decimal]]:
    """Per (Date, ClinicNum) of the ledger's ``daily`` table dated in a report's range: patient and
    insurance income."""
    out = defaultdict(lambda: [ZERO, ZERO])
    for e in daily.to_pylist():
        if e["Date"] >= FIRST_REPORT_DAY:
            out[(e["Date"], e["ClinicNum"])][0] += money(e["PatientIncome"])
            out[(e["Date"], e["ClinicNum"])][1] += money(e["InsuranceIncome"])
    return _nonzero(dict(out))


def mart_income(params: PgParams) -> dict[tuple, list[Decimal]]:
    """Per (collection_date, clinic_id): ``INCOME``'s amounts of mart_collections_daily."""
    return _nonzero({(r[0], r[1]): [money(v) for v in r[2:]] for r in rows(
        params, f"SELECT collection_date, clinic_id, {', '.join(INCOME)} FROM marts.mart_collections_daily")})

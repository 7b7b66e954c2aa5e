"""Absurd amounts stop the build at staging, with the rows' keys and no value (docs/dbt.md, Dirty data).

The marts keep dollars as ``numeric(14, 2)``: a paysplit of $2,000,000,000,000 failed
``int_procedure_payments`` with PostgreSQL's "numeric field overflow", which names no table, column or
row. Each staging model with double columns now carries an ``amounts_in_range`` test (generated from
the catalog, ``dbt_codegen.amount_columns``): a magnitude of var ``max_amount`` (100,000,000) or more
fails it, dbt skips the models built from it, and the test's SQL lists the key and column of each such
value. Below it, an amount of var ``implausible_amount`` ($100,000) or more in a fee, adjustment, payment
split, insurance payment or write-off is counted as stored and listed in ``mart_data_exceptions`` (key
and column). Hand-written rows, each side of both limits; a tiny raw schema in a real PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from dbt_runner import query_rows, run_dbt, write_raw_rows
from dental_assets.warehouse import PgParams

LIMIT = 100_000_000  # var max_amount's default
PAYSPLITS = {  # SplitNum: (ProcNum, SplitAmt)
    1: (10, 2e12),  # absurd: fails the test
    2: (11, -LIMIT),  # exactly the limit, negative: fails it
    3: (12, LIMIT - 0.01),  # just under: passes
    4: (13, 25.50),
}
CLAIMPROCS = {  # ClaimProcNum: (ProcNum, InsPayAmt, WriteOff)
    1: (13, 40.0, 1.5e8),  # the write-off fails it, the payment does not
    2: (12, 120_000.0, 130_000.0),  # both implausible: listed twice, once a column
}
PROCEDURES = {12: 100_000.0, 13: 99_999.99}  # ProcNum: ProcFee (the first is listed, at the limit)
ADJUSTMENTS = {1: -100_000.0, 2: 75.0}  # AdjNum: AdjAmt (the first is listed: the limit, negative)
RECEIVED = 1  # ClaimProcStatus.Received


def _rows() -> dict[str, list[dict]]:
    return {
        "paysplit": [{"SplitNum": n, "ProcNum": proc, "SplitAmt": amount, "PatNum": 1}
                     for n, (proc, amount) in PAYSPLITS.items()],
        "claimproc": [{"ClaimProcNum": n, "ProcNum": proc, "InsPayAmt": paid, "WriteOff": write_off, "PatNum": 1,
                       "Status": RECEIVED} for n, (proc, paid, write_off) in CLAIMPROCS.items()],
        "procedurelog": [{"ProcNum": n, "ProcFee": fee, "PatNum": 1} for n, fee in PROCEDURES.items()],
        "adjustment": [{"AdjNum": n, "AdjAmt": amount, "PatNum": 1} for n, amount in ADJUSTMENTS.items()],
    }


@pytest.fixture(scope="module")
def failed(pg_module_url, tmp_path_factory):
    """The raw rows above, and the output of a build of int_procedure_payments and what it reads
    (models and tests), which fails."""
    params = PgParams.from_url(pg_module_url)
    write_raw_rows(params, _rows())
    target = tmp_path_factory.mktemp("dbt_target")
    output = run_dbt(params, target, "build", "--select", "+int_procedure_payments", fails=True)
    return params, target, output


def _compiled_test(target: Path, model: str) -> str:
    """The compiled SQL of ``model``'s amounts_in_range test in ``target``."""
    found = list((target / "compiled").rglob(f"amounts_in_range_{model}.sql"))
    assert len(found) == 1, found
    return found[0].read_text()


def test_the_build_stops_at_the_staging_test_not_at_an_overflow(failed):
    params, _, output = failed
    assert "numeric field overflow" not in output
    for model in ("stg_opendental__paysplit", "stg_opendental__claimproc"):
        assert f"Failure in test amounts_in_range_{model} " in output, output[-4000:]
    # the model built from them was skipped: not in the warehouse
    assert query_rows(params, "SELECT to_regclass('intermediate.int_procedure_payments')") == [(None,)]


def test_no_amount_is_shown(failed):
    output = failed[2]
    for shown in ("2000000000000", "2e+12", "1e+12", "150000000", "1.5e+08", "100000000", "1e+08"):
        assert shown not in output


@pytest.mark.parametrize("model, expected", [
    ("stg_opendental__paysplit", {(1, "split_amt"), (2, "split_amt")}),
    ("stg_opendental__claimproc", {(1, "write_off")}),
])
def test_the_tests_sql_lists_each_key_and_column_at_or_over_the_limit(failed, model, expected):
    params, target, _ = failed
    assert set(query_rows(params, _compiled_test(target, model))) == expected


@pytest.fixture(scope="module")
def corrected(failed):
    """The rows over the limit corrected in the source (here in raw), and the same build again, with
    mart_data_exceptions."""
    params, target, _ = failed
    conn = params.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute('UPDATE raw.paysplit SET "SplitAmt" = 20.0 WHERE "SplitNum" = 1')
            cur.execute('UPDATE raw.paysplit SET "SplitAmt" = -30.0 WHERE "SplitNum" = 2')
            cur.execute('UPDATE raw.claimproc SET "WriteOff" = 15.0 WHERE "ClaimProcNum" = 1')
    finally:
        conn.close()
    run_dbt(params, target, "build", "--select", "+int_procedure_payments")
    run_dbt(params, target, "run", "--select", "+mart_data_exceptions")  # (its tests read models not built here)
    return params


def test_corrected_rows_build_and_sum_to_the_cent(corrected):
    """The build passes, and the largest amount allowed, $99,999,999.99, sums to the cent in
    numeric(14, 2)."""
    got = {row[0]: row[1:] for row in query_rows(corrected, """
        SELECT procedure_id, patient_paid, insurance_paid, insurance_write_off
        FROM intermediate.int_procedure_payments""")}
    assert got == {
        10: (Decimal("20.00"), Decimal("0.00"), Decimal("0.00")),
        11: (Decimal("-30.00"), Decimal("0.00"), Decimal("0.00")),
        12: (Decimal("99999999.99"), Decimal("120000.00"), Decimal("130000.00")),
        13: (Decimal("25.50"), Decimal("40.00"), Decimal("15.00")),
    }


def test_implausible_amounts_are_listed_by_key_and_column(corrected):
    """$100,000 or more, either sign, in each column listed; $99,999.99 and the corrected amounts are
    not."""
    listed = set(query_rows(corrected, """
        SELECT table_name, column_name, key_num FROM marts.mart_data_exceptions
        WHERE exception_kind = 'absurd_amount'"""))
    assert listed == {("paysplit", "SplitAmt", 3), ("procedurelog", "ProcFee", 12), ("adjustment", "AdjAmt", 1),
                      ("claimproc", "InsPayAmt", 2), ("claimproc", "WriteOff", 2)}

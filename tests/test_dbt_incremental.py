"""The incremental fact models: a monthly run replaces exactly its window, equals a full rebuild, and the
Dagster side passes one window per run (single-run backfills)."""

import datetime as dt

import dagster as dg
import pytest

import dental_synthetic
from dbt_runner import run_dbt, query_rows as query
from dental_assets.defs.dbt.assets import fact_build_args, run_settings_env
from dental_assets.partitions import dbt_window_vars, month_window, monthly_partitions
from dental_assets.warehouse import PgParams, mark_demo_target

FACTS = ("fct_procedure", "fct_appointment", "fct_payment", "fct_claim")
KEYS = ["2024-01", "2024-02", "2024-03", "2024-04"]


# ----------------------------------------------------------------------------------- pure functions

def test_one_month_passes_its_half_open_window():
    args, settings = fact_build_args("2024-02", "2024-02", KEYS, "2024-04-15")
    assert args == ["build"]
    assert settings == {"min_date": "2024-02-01", "max_date": "2024-03-01", "as_of_date": "2024-04-15"}


def test_a_range_passes_one_window_and_open_ends_stay_open():
    args, settings = fact_build_args("2024-01", "2024-03", KEYS, "2024-04-15")
    assert settings["min_date"] == "0001-01-01"
    assert settings["max_date"] == "2024-04-01"
    assert "--full-refresh" not in args
    _, last = fact_build_args("2024-03", "2024-04", KEYS, "2024-04-15")
    assert last["max_date"] == "9999-12-31"


def test_every_month_is_a_full_refresh():
    args, _ = fact_build_args("2024-01", "2024-04", KEYS, "2024-04-15")
    assert "--full-refresh" in args


def test_bad_ranges_raise():
    with pytest.raises(ValueError):
        fact_build_args("2024-03", "2024-02", KEYS, "2024-04-15")
    with pytest.raises(ValueError):
        fact_build_args("2019-12", "2024-02", KEYS, "2024-04-15")


def test_run_settings_reach_dbt_as_environment_variables():
    assert run_settings_env({"as_of_date": "2024-04-15"}) == {
        "DENTAL_DBT_AS_OF_DATE": "2024-04-15", "DENTAL_DBT_MIN_DATE": "", "DENTAL_DBT_MAX_DATE": ""}
    with pytest.raises(ValueError, match="as_of"):
        run_settings_env({"as_of": "2024-04-15"})


# ------------------------------------------------------------------------------------- definitions

def test_facts_are_monthly_with_single_run_backfills_and_the_rest_unpartitioned(graph):
    dbt_keys = [k for k in graph.get_all_asset_keys() if (graph.get(k).group_name or "").startswith("dbt")]
    facts = {dg.AssetKey(["marts", name]) for name in FACTS}
    assert facts <= set(dbt_keys)
    for key in dbt_keys:
        node = graph.get(key)
        if key in facts:
            assert node.partitions_def == monthly_partitions
            assert node.backfill_policy == dg.BackfillPolicy.single_run()
        else:
            assert node.partitions_def is None, key
    raw = graph.get(dg.AssetKey(["opendental", "procedurelog"]))
    assert raw.partitions_def == monthly_partitions  # the same months as the raw tables
    checks = {c.asset_key for c in graph.asset_check_keys}
    assert facts <= checks


# ----------------------------------------------------------------------------- against PostgreSQL

AS_OF = dt.date(2025, 6, 30)
MONTH = "2025-03"


def execute(params: PgParams, *statements: str) -> None:
    conn = params.connect()
    try:
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
        conn.commit()
    finally:
        conn.close()


def table(params: PgParams, name: str, key: str) -> dict:
    return {r[0]: r for r in query(params, f"SELECT {key}, * FROM marts.{name}")}


def column_index(params: PgParams, name: str, column: str) -> int:
    """Index of ``column`` in the rows ``table`` returns (the key comes first)."""
    names = [r[0] for r in query(params, "SELECT column_name FROM information_schema.columns WHERE table_schema "
                                         f"= 'marts' AND table_name = '{name}' ORDER BY ordinal_position")]
    return 1 + names.index(column)


def window(first: str, last: str) -> dict[str, str]:
    """The run settings of the facts' run over the months ``first..last``, as Dagster passes them."""
    keys = monthly_partitions.get_partition_keys()
    return dbt_window_vars(month_window(first, last, keys))


def test_a_month_run_changes_only_that_month_and_equals_a_full_rebuild(pg_url, tmp_path):
    params = PgParams.from_url(pg_url)
    mark_demo_target(params)
    practice = dental_synthetic.generate(dental_synthetic.SyntheticConfig(patients=300, seed=3, as_of=AS_OF))
    dental_synthetic.write_postgres_raw(practice, params)
    target = tmp_path
    run_dbt(params, target, "run", "--select", "+config.materialized:incremental")  # no window: everything
    before = table(params, "fct_procedure", "procedure_id")
    payments_before = table(params, "fct_payment", "payment_id")
    assert len(before) == query(params, "SELECT count(*) FROM raw.procedurelog")[0][0]

    in_month = "\"ProcDate\" >= '2025-03-01' AND \"ProcDate\" < '2025-04-01'"
    month_procs = [r[0] for r in query(params, f'SELECT "ProcNum" FROM raw.procedurelog WHERE {in_month} ORDER BY 1')]
    outside = [r[0] for r in query(params, "SELECT \"ProcNum\" FROM raw.procedurelog "
                                           "WHERE \"ProcDate\" >= '2024-06-01' AND \"ProcDate\" < '2024-07-01' ORDER BY 1")]
    assert len(month_procs) > 10 and len(outside) > 10
    deleted, moved, untouched = month_procs[0], outside[0], outside[1]
    execute(
        params,
        f'UPDATE raw.procedurelog SET "ProcFee" = "ProcFee" + 10 WHERE {in_month}',
        f'DELETE FROM raw.procedurelog WHERE "ProcNum" = {deleted}',
        f'UPDATE raw.procedurelog SET "ProcDate" = \'2025-03-15\' WHERE "ProcNum" = {moved}',
        f'UPDATE raw.procedurelog SET "ProcFee" = "ProcFee" + 1000 WHERE "ProcNum" = {untouched}',
        "UPDATE raw.payment SET \"PayAmt\" = \"PayAmt\" + 1 WHERE \"PayDate\" >= '2025-03-01' AND \"PayDate\" < '2025-04-01'",
    )
    run_dbt(params, target, "run", "--select", "int_procedures")  # the unpartitioned run before the facts
    run_dbt(params, target, "run", "--select", "fct_procedure", "fct_payment", settings=window(MONTH, MONTH))
    after = table(params, "fct_procedure", "procedure_id")
    payments_after = table(params, "fct_payment", "payment_id")

    march = dt.date(2025, 3, 1), dt.date(2025, 4, 1)
    def in_march(row_date):
        return row_date is not None and march[0] <= row_date < march[1]
    # rows of other months: exactly as before (the moved row's old copy is replaced by its new one)
    date_index = column_index(params, "fct_procedure", "procedure_date")
    fee_index = column_index(params, "fct_procedure", "proc_fee")
    pay_date_index = column_index(params, "fct_payment", "payment_date")
    for key, row in before.items():
        if key in (deleted, moved) or in_march(row[date_index]):
            continue
        assert after[key] == row, key
    assert after[untouched][fee_index] == before[untouched][fee_index]  # its month did not run
    assert deleted not in after
    assert in_march(after[moved][date_index])
    changed = [k for k in month_procs if k != deleted and after[k][fee_index] != before[k][fee_index] + 10]
    assert not changed
    assert {k for k, r in payments_after.items() if r != payments_before[k]} == {
        k for k, r in payments_before.items() if in_march(r[pay_date_index])}

    # a full rebuild equals the incremental result, except the row whose month did not run
    run_dbt(params, target, "run", "--select", "fct_procedure", "fct_payment", "--full-refresh")
    rebuilt = table(params, "fct_procedure", "procedure_id")
    assert set(rebuilt) == set(after)
    assert {k for k in rebuilt if rebuilt[k] != after[k]} == {untouched}
    assert table(params, "fct_payment", "payment_id") == payments_after

    # the first month (open below) holds the rows whose date is a sentinel (NULL from staging on)
    execute(params, f'UPDATE raw.procedurelog SET "ProcDate" = \'0001-01-01\' WHERE "ProcNum" = {untouched}')
    run_dbt(params, target, "run", "--select", "int_procedures")
    keys = monthly_partitions.get_partition_keys()
    run_dbt(params, target, "run", "--select", "fct_procedure", settings=window(keys[0], keys[0]))
    assert query(params, f"SELECT procedure_date FROM marts.fct_procedure WHERE procedure_id = {untouched}") == [(None,)]
    assert query(params, "SELECT count(*) FROM marts.fct_procedure")[0][0] == len(rebuilt)
    # a window given by halves is refused
    with pytest.raises(AssertionError, match="min_date"):
        run_dbt(params, target, "run", "--select", "fct_procedure", settings={"min_date": "2025-01-01"})

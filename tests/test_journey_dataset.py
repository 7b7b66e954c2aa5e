"""The treatment-journey model: one row per procedure, and features free of later information."""

import datetime as dt
from pathlib import Path

import pytest

import dental_synthetic
from dbt_runner import run_dbt
from dental_assets.warehouse import PgParams, mark_demo_target

AS_OF = dt.date(2026, 6, 30)
CUTOFF = dt.date(2025, 6, 30)
TARGETS = ("target_accepted", "target_fully_paid", "target_paid_30d", "target_insurance_accurate")


def query(params: PgParams, sql: str) -> list[tuple]:
    conn = params.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def frame(params: PgParams, relation: str):
    """Every row of a relation as a pandas DataFrame."""
    import pandas as pd

    conn = params.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {relation}")
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    finally:
        conn.close()


def features_until_cutoff(params: PgParams) -> dict[int, tuple]:
    columns = [r[0] for r in query(params, """
        SELECT column_name FROM information_schema.columns
        WHERE table_schema = 'marts' AND table_name = 'fct_treatment_journey' ORDER BY ordinal_position""")]
    features = [c for c in columns if c not in TARGETS]
    rows = query(params, f"SELECT {', '.join(features)} FROM marts.fct_treatment_journey "
                         f"WHERE procedure_date <= '{CUTOFF}'")
    return {row[0]: row for row in rows}


@pytest.fixture(scope="module")
def journey(pg_module_url, tmp_path_factory):
    params = PgParams.from_url(pg_module_url)
    mark_demo_target(params)
    practice = dental_synthetic.generate(dental_synthetic.SyntheticConfig(patients=600, seed=11, as_of=AS_OF))
    dental_synthetic.write_postgres_raw(practice, params)
    target = tmp_path_factory.mktemp("dbt_target")
    # cautious: the tests of these models and their parents, not tests that also need unselected models
    run_dbt(params, target, "build", "--select", "+fct_treatment_journey +fct_appointment_outcomes",
            "--indirect-selection", "cautious")
    return params, target


def test_one_row_per_procedure_of_the_four_statuses(journey):
    params, _ = journey
    raw = query(params, 'SELECT count(*) FROM raw.procedurelog WHERE "ProcStatus" IN (1, 2, 5, 6)')[0][0]
    rows, distinct = query(params, "SELECT count(*), count(DISTINCT procedure_id) FROM marts.fct_treatment_journey")[0]
    assert rows == distinct == raw > 0


def test_every_target_has_both_classes(journey):
    params, _ = journey
    for target in TARGETS:
        true, false = query(params, f"SELECT count(*) FILTER (WHERE {target}), "
                                    f"count(*) FILTER (WHERE NOT {target}) FROM marts.fct_treatment_journey")[0]
        assert true > 0 and false > 0, target


def test_no_show_model_finds_the_planted_signal(journey):
    """The generator gives each patient a no-show propensity; earlier broken appointments reveal it."""
    from dental_assets import journey_models as jm

    params, _ = journey
    data = frame(params, "marts.fct_appointment_outcomes")
    _, report = jm.train_and_evaluate(data, "target_no_show", "appointment_year", jm.NO_SHOW_NUMERIC,
                                      jm.NO_SHOW_CATEGORICAL, "no_show")
    assert report.eval_year == AS_OF.year and report.train_years[0] < report.eval_year
    assert report.roc_auc > 0.55 and report.pr_auc > report.prevalence
    assert report.feature_importance[0][0] == "prior_broken_count"


def test_journey_models_train_on_earlier_years(journey):
    from dental_assets import journey_models as jm

    params, _ = journey
    data = frame(params, "marts.fct_treatment_journey")
    for target in jm.JOURNEY_TARGETS:
        _, report = jm.train_and_evaluate(data, target, "procedure_year", jm.JOURNEY_NUMERIC,
                                          jm.JOURNEY_CATEGORICAL, "journey")
        assert report.eval_year == AS_OF.year and AS_OF.year not in report.train_years
        assert 0 <= report.roc_auc <= 1 and 0 <= report.brier <= 1 and len(report.calibration) > 0


# The history features as first written: every procedure paired with every earlier row of its
# patient, family or carrier (quadratic, kept here as the definition the model's timelines must equal).
# Coverage and a claim's carrier are read, as in the model, from the snapshots' versions that held then.
REFERENCE_HISTORY = """
with procedures as (
    select * from intermediate.int_procedures where proc_status in (1, 2, 5, 6)
), coverage_then as (
    select p.procedure_id, min(plans.carrier_num) filter (where pp.ordinal = 1) as carrier_id
    from procedures p
    join snapshots.snap_opendental__patplan pp on p.patient_id = pp.pat_num
        and pp.dbt_valid_from < p.procedure_date + 1 and coalesce(pp.dbt_valid_to, 'infinity') >= p.procedure_date + 1
    left join snapshots.snap_opendental__inssub s on pp.ins_sub_num = s.ins_sub_num
        and s.dbt_valid_from < p.procedure_date + 1 and coalesce(s.dbt_valid_to, 'infinity') >= p.procedure_date + 1
    left join snapshots.snap_opendental__insplan plans on s.plan_num = plans.plan_num
        and plans.dbt_valid_from < p.procedure_date + 1
        and coalesce(plans.dbt_valid_to, 'infinity') >= p.procedure_date + 1
    where (s.date_effective is null or s.date_effective <= p.procedure_date)
        and (s.date_term is null or s.date_term >= p.procedure_date)
    group by p.procedure_id
), received as (
    select plans.carrier_num as carrier_id, cl.date_received, cl.date_received - cl.date_sent as days,
           cast(coalesce(cl.ins_pay_amt, 0) as numeric(14, 2)) as paid,
           cast(coalesce(cl.ins_pay_est, 0) as numeric(14, 2)) as est
    from staging.stg_opendental__claim cl join snapshots.snap_opendental__insplan plans on cl.plan_num = plans.plan_num
        and plans.dbt_valid_from < cl.date_received + 1
        and coalesce(plans.dbt_valid_to, 'infinity') >= cl.date_received + 1
    where cl.claim_status = 'R' and cl.date_received is not null and cl.date_sent is not null
        and cl.claim_type in ('P', 'S')
)
select p.procedure_id,
    (select percentile_cont(0.5) within group (order by r.days) from received r
     where r.carrier_id = ct.carrier_id and r.date_received < p.procedure_date
       and r.date_received >= p.procedure_date - 365),
    (select cast(sum(r.paid) / nullif(sum(r.est), 0) as double precision) from received r
     where r.carrier_id = ct.carrier_id and r.date_received < p.procedure_date
       and r.date_received >= p.procedure_date - 365),
    (select count(*) from intermediate.int_appointments a
     where a.patient_id = p.patient_id and a.appointment_date < p.procedure_date and a.apt_status = 2),
    (select count(*) from intermediate.int_appointments a
     where a.patient_id = p.patient_id and a.appointment_date < p.procedure_date and a.apt_status = 5),
    p.procedure_date - (select max(a.appointment_date) from intermediate.int_appointments a
     where a.patient_id = p.patient_id and a.appointment_date < p.procedure_date and a.apt_status = 2),
    p.procedure_date - (select min(a.appointment_date) from intermediate.int_appointments a
     where a.patient_id = p.patient_id and a.appointment_date < p.procedure_date and a.apt_status = 2),
    coalesce((select count(*) from staging.stg_opendental__patient pt
              join staging.stg_opendental__patient m on m.guarantor = pt.guarantor
              where pt.pat_num = p.patient_id
                and (m.pat_num = pt.pat_num or m.date_first_visit < p.procedure_date)
              having count(*) > 0), 1)
from procedures p left join coverage_then ct on p.procedure_id = ct.procedure_id
"""


def test_history_features_equal_their_pairwise_definition(journey):
    """The timelines (running sums read at each procedure date) give exactly what pairing every
    procedure with every earlier appointment, family member and carrier claim gives."""
    params, _ = journey
    reference = {row[0]: row[1:] for row in query(params, REFERENCE_HISTORY)}
    model = {row[0]: row[1:] for row in query(params, """
        SELECT procedure_id, carrier_median_days_to_payment, carrier_estimate_accuracy, prior_visit_count,
               prior_broken_count, days_since_last_visit, days_since_first_visit, family_size
        FROM marts.fct_treatment_journey""")}
    assert model.keys() == reference.keys()
    assert sum(1 for v in model.values() if v[0] is not None) > 100  # carrier history is exercised
    assert sum(1 for v in model.values() if v[6] > 1) > 100  # and families
    different = {k: (model[k], reference[k]) for k in model if model[k] != reference[k]}
    assert not different, list(different.items())[:3]


def documented_schema() -> tuple[dict[str, str], dict[str, tuple[str, str, str]]]:
    """From docs/journey.md: the file's columns with their Arrow types, and per Arrow type what pandas
    (pyarrow dtypes), polars and DuckDB show."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "journey.md").read_text()
    section = text.split("## File schema", 1)[1].split("\n## ", 1)[0]
    columns, types = {}, {}
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and line.startswith("| `"):
            columns[cells[0]] = cells[1]
        elif len(cells) == 4 and line.startswith("| `"):
            types[cells[0]] = (cells[1], cells[2], cells[3])
    return columns, types


def test_parquet_files_read_with_the_documented_schema(journey, tmp_path, monkeypatch):
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from dental_assets.defs.journey.assets import write_journey_partition

    params, _ = journey
    monkeypatch.setenv("DENTAL_DATA_DIR", str(tmp_path))
    path, table, _ = write_journey_partition(params, "marts.fct_treatment_journey", str(AS_OF.year - 1),
                                             "synthetic")
    assert table.num_rows > 1000
    columns, types = documented_schema()
    assert len(columns) == 35 and set(columns.values()) <= set(types)

    frame = pd.read_parquet(path, dtype_backend="pyarrow")
    assert list(frame.columns) == list(columns)
    assert {c: str(t.pyarrow_dtype) for c, t in frame.dtypes.items()} == columns
    assert {c: str(t) for c, t in frame.dtypes.items()} == {c: types[t][0] for c, t in columns.items()}
    assert len(frame) == table.num_rows
    assert "patient_id" not in frame.columns and frame["patient_key"].str.len().eq(16).all()
    assert frame["procedure_key"].is_unique and frame["procedure_key"].str.len().eq(16).all()

    polars_frame = pl.read_parquet(path)
    assert {c: str(t) for c, t in polars_frame.schema.items()} == {c: types[t][1] for c, t in columns.items()}
    assert polars_frame.height == table.num_rows

    con = duckdb.connect()
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    assert {row[0]: row[1] for row in described} == {c: types[t][2] for c, t in columns.items()}
    assert con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0] == table.num_rows
    assert not any(pa.types.is_temporal(field.type) for field in table.schema)


def test_fetched_year_equals_the_model_rows(journey):
    """The CSV COPY read of a year gives every value psycopg2 gives row by row (numeric as the nearest
    float, NULL and empty string kept apart)."""
    from decimal import Decimal

    from dental_assets.defs.journey.assets import _fetch_year

    params, _ = journey
    year = AS_OF.year - 1
    table = _fetch_year(params, "marts.fct_treatment_journey", year)
    rows = query(params, f"SELECT * FROM marts.fct_treatment_journey WHERE procedure_date >= '{year}-01-01' "
                         f"AND procedure_date < '{year + 1}-01-01' ORDER BY procedure_id")
    expected = [tuple(float(v) if isinstance(v, Decimal) else v for v in row) for row in rows]
    assert len(expected) > 1000
    assert list(zip(*(table.column(name).to_pylist() for name in table.column_names))) == expected


def test_declared_indexes_exist_on_raw_once(journey):
    """The load created every index tables.yml declares, under its deterministic name; creating them
    again changes nothing."""
    from dental_assets.catalog import create_raw_indexes, pg_index_name, raw_tables

    params, _ = journey
    declared = {(t.name, pg_index_name(t.name, cols)) for t in raw_tables() for cols in t.indexes}
    assert ("claimproc", "ix_claimproc_procnum") in declared

    def present():
        return {(r[0], r[1]) for r in query(params, "SELECT tablename, indexname FROM pg_indexes "
                                                   "WHERE schemaname = 'raw' AND indexname LIKE 'ix\\_%'")}

    assert present() == declared
    conn = params.connect()
    try:
        with conn, conn.cursor() as cur:
            for table in raw_tables():
                create_raw_indexes(cur, table)
    finally:
        conn.close()
    assert present() == declared


def test_models_report_not_enough_data_for_a_tiny_practice(tmp_path, monkeypatch):
    """Too few rows give a 'not enough data' outcome: the asset materializes, the check does not pass
    and says why, with WARN severity; with enough rows the same check is a real pass or fail."""
    import dagster as dg
    import pandas as pd

    from dental_assets import journey_models as jm
    from dental_assets.defs.journey.models import _check, treatment_journey_models

    small = pd.DataFrame({"year": [2025] * 30 + [2026] * 30, "x": range(60),
                          "y": [True, False] * 15 + [True] * 25 + [False] * 5})
    with pytest.raises(jm.NotEnoughDataError, match="fewer than 20 rows of a class"):
        jm.train_and_evaluate(small, "y", "year", ("x",), (), "tiny")

    monkeypatch.setenv("DENTAL_DATA_DIR", str(tmp_path))  # no dataset at all
    result = dg.materialize([treatment_journey_models], raise_on_error=False)
    assert result.success
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["outcome"].value == "not enough data"

    report = jm.ModelReport("m", "t", [2025], 2026, 100, 100, 0.3, 0.45, 0.2, 0.2, 0.7, 0.7)
    failed = _check([report], {"other": "not enough data"})
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert failed.metadata["outcome"].value == "evaluated"


def test_features_do_not_change_when_later_rows_change(journey):
    params, target = journey
    before = features_until_cutoff(params)
    assert len(before) > 1000
    later = f"'{CUTOFF}'"
    query(params, f"""
        UPDATE raw.appointment SET "AptStatus" = 5 WHERE "AptDateTime" > {later} AND "AptStatus" = 2;
        INSERT INTO raw.appointment ("AptNum", "PatNum", "AptStatus", "AptDateTime", "Pattern", "ClinicNum", "ProvNum")
            SELECT 10000000 + "PatNum", "PatNum", 5, timestamp {later} + interval '40 days', 'XXXX', "ClinicNum", "PriProv"
            FROM raw.patient;
        UPDATE raw.claim SET "DateReceived" = "DateReceived" + 100, "InsPayAmt" = "InsPayAmt" * 2
            WHERE "DateReceived" > {later};
        UPDATE raw.claimproc SET "InsPayAmt" = "InsPayAmt" * 2 WHERE "DateCP" > {later};
        DELETE FROM raw.paysplit WHERE "DatePay" > {later};
        UPDATE raw.procedurelog SET "ProcFee" = "ProcFee" * 3 WHERE "ProcDate" > {later};
        INSERT INTO raw.patient ("PatNum", "Guarantor", "DateFirstVisit", "Birthdate", "Gender")
            SELECT 20000000 + "PatNum", "Guarantor", date {later} + 10, date '1990-01-01', 1
            FROM raw.patient WHERE "PatNum" = "Guarantor";
    """)
    targets_before = query(params, "SELECT count(*) FILTER (WHERE target_fully_paid) FROM marts.fct_treatment_journey")
    run_dbt(params, target, "build", "--select", "+fct_treatment_journey", "--exclude", "test_type:data")
    after = features_until_cutoff(params)
    assert after.keys() == before.keys()
    changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
    assert not changed, list(changed.items())[:3]
    # the later rows did reach the model: targets moved
    targets_after = query(params, "SELECT count(*) FILTER (WHERE target_fully_paid) FROM marts.fct_treatment_journey")
    assert targets_after != targets_before

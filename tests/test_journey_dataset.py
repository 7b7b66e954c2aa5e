"""The treatment-journey model: one row per procedure, and features free of later information."""

import datetime as dt

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
    run_dbt(params, target, "build", "--select", "+fct_treatment_journey +fct_appointment_outcomes")
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

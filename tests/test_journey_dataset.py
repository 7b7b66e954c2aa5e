"""The treatment-journey model: one row per procedure, and features free of later information."""

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import shutil
from pathlib import Path

import pytest

import dental_synthetic
from dbt_runner import DATA_ONLY, DBT_DIR, run_dbt
from dental_assets.warehouse import PgParams, mark_demo_target

AS_OF = dt.date(2026, 6, 30)
CUTOFF = dt.date(2025, 6, 30)
TARGETS = ("target_accepted", "target_fully_paid", "target_paid_30d", "target_insurance_accurate")
# The procedures of the dataset, read from raw: ProcStatus TP, C, R or D, but not the broken-appointment
# charges OpenDental charts when an appointment is broken (D9986 Missed, D9987 Cancelled: AppointmentL.
# BreakApptHelper; Procedures.GetCountPatsComplete counts completed procedures without them).
BROKEN_APPOINTMENT_CODES = ("D9986", "D9987")
JOURNEY_PROCEDURES = f"""raw.procedurelog p LEFT JOIN raw.procedurecode c ON c."CodeNum" = p."CodeNum"
    WHERE p."ProcStatus" IN (1, 2, 5, 6) AND coalesce(c."ProcCode", '') NOT IN {BROKEN_APPOINTMENT_CODES}"""


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
    """Every column but the targets of the procedures dated (procedure_date, procedurelog.ProcDate) up to
    CUTOFF. The features are read at decision_date, which is never after procedure_date, so they read
    nothing dated after CUTOFF either. Selecting by decision_date instead would take in procedures
    planned before CUTOFF and completed after it, whose own procedurelog row (dated after CUTOFF) the
    mutations change, DateTP and ProcFee included."""
    columns = [r[0] for r in query(params, """
        SELECT column_name FROM information_schema.columns
        WHERE table_schema = 'marts' AND table_name = 'fct_treatment_journey' ORDER BY ordinal_position""")]
    features = [c for c in columns if c not in TARGETS]
    rows = query(params, f"SELECT {', '.join(features)} FROM marts.fct_treatment_journey "
                         f"WHERE procedure_date <= '{CUTOFF}'")
    return {row[0]: row for row in rows}


# The fixture's patient, procedure and appointment keys, renumbered from these (PatNum 1 becomes
# 1,000,000,001; 0, OpenDental's "none", stays 0): the generator numbers keys 1, 2, ... as OpenDental does
# by default, the range of the dataset's counts, ages, spans of days and years, so a count equal to a row's
# PatNum would prove nothing; renumbered, no feature reaches a key and keys of two kinds never meet, so
# test_written_dataset_is_deidentified_by_safe_harbor can require that no value equals its row's key on any
# row. OpenDental itself hands out keys in such ranges (random primary keys within a replication server's
# RangeStart..RangeEnd: ReplicationServers.GetKey). A constant shift keeps every join and every order.
KEY_SPACES = {"patient": 1_000_000_000, "procedurelog": 2_000_000_000, "appointment": 3_000_000_000}
# Columns holding those keys that the catalog declares no foreign key for (their tables' own keys and
# every declared foreign key are found from the catalog). A polymorphic FKey column may hold any key and
# is left as is: the fixture checks that the models built here read no table with one.
UNDECLARED_KEY_REFERENCES = {("histappointment", "PatNum"): "patient", ("histappointment", "AptNum"): "appointment",
                             ("histappointment", "NextAptNum"): "appointment",
                             ("patient", "PatNumCloneFrom"): "patient", ("rxpat", "ProcNum"): "procedurelog"}


def key_references(tables: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, key space) of every column of ``tables`` that holds a KEY_SPACES key: the key
    tables' primary keys, the catalog's foreign keys to them, UNDECLARED_KEY_REFERENCES."""
    from dental_assets.catalog import raw_table

    found = []
    for name in tables:
        for column in raw_table(name).columns:
            space = (name if column.is_pk and name in KEY_SPACES else column.fk if column.fk in KEY_SPACES
                     else UNDECLARED_KEY_REFERENCES.get((name, column.name)))
            if space:
                found.append((name, column.name, space))
    return found


def renumber_keys(params: PgParams, tables: list[str]) -> None:
    """Add KEY_SPACES' offsets to every key of ``tables`` (key_references) in raw, 0 left as is."""
    query(params, "".join(f'UPDATE raw.{name} SET "{column}" = "{column}" + {KEY_SPACES[space]} '
                          f'WHERE "{column}" > 0;\n' for name, column, space in key_references(tables)))


@pytest.fixture(scope="module")
def journey(pg_module_url, tmp_path_factory):
    """The practice (600 patients) in raw, its keys renumbered (KEY_SPACES), and fct_treatment_journey and
    fct_appointment_outcomes built by dbt with their tests. Returns the warehouse and dbt's target folder."""
    from dental_assets.catalog import raw_table, raw_tables

    params = PgParams.from_url(pg_module_url)
    mark_demo_target(params)
    practice = dental_synthetic.generate(dental_synthetic.SyntheticConfig(patients=600, seed=11, as_of=AS_OF))
    dental_synthetic.write_postgres_raw(practice, params)
    renumber_keys(params, [name for name in practice.tables if name in {t.name for t in raw_tables()}])
    target = tmp_path_factory.mktemp("dbt_target")
    # cautious: the tests of these models and their parents, not tests that also need unselected models
    run_dbt(params, target, "build", *DATA_ONLY, "--select", "+fct_treatment_journey +fct_appointment_outcomes",
            "--indirect-selection", "cautious", artifacts=True,  # the manifest: upstream_raw_tables
            settings={"as_of_date": AS_OF.isoformat()})  # as Dagster runs it: the practice's as-of date
    # the models read no polymorphic reference the renumbering left as is
    read = upstream_raw_tables(target, "fct_treatment_journey", "fct_appointment_outcomes")
    assert "procedurelog" in read and not [name for name in read if "FKey" in raw_table(name).column_names]
    return params, target


def test_one_row_per_procedure_of_the_four_statuses(journey):
    """One row per procedure of the four statuses, broken-appointment charges left out: the generator
    charts them as OpenDental does (a completed D9986/D9987, $0 here, on the day an appointment is broken),
    and none is a row."""
    params, _ = journey
    raw = query(params, f"SELECT count(*) FROM {JOURNEY_PROCEDURES}")[0][0]
    rows, distinct = query(params, "SELECT count(*), count(DISTINCT procedure_id) FROM marts.fct_treatment_journey")[0]
    assert rows == distinct == raw > 0
    broken_charges = query(params, f"""
        SELECT count(*) FROM raw.procedurelog p JOIN raw.procedurecode c ON c."CodeNum" = p."CodeNum"
        WHERE p."ProcStatus" = 2 AND c."ProcCode" IN {BROKEN_APPOINTMENT_CODES}""")[0][0]
    assert broken_charges > 50  # the case is exercised
    in_journey = query(params, f"""SELECT count(*) FROM marts.fct_treatment_journey
                                   WHERE procedure_code IN {BROKEN_APPOINTMENT_CODES}""")[0][0]
    assert in_journey == 0


def test_every_target_has_both_classes(journey):
    params, _ = journey
    for target in TARGETS:
        true, false = query(params, f"SELECT count(*) FILTER (WHERE {target}), "
                                    f"count(*) FILTER (WHERE NOT {target}) FROM marts.fct_treatment_journey")[0]
        assert true > 0 and false > 0, target


def test_targets_wait_until_known_and_the_held_out_year_is_not_skewed(journey):
    """A procedure dated within 90 days of the as-of date (30 for paid within 30 days), or after it (a
    planned procedure on a booked appointment), has its targets NULL: not yet known. Taking them as "no"
    made the held-out year's acceptance rate collapse (0.158 against ~0.78 in a demo as of 2025-01-20).
    The paid targets are also NULL for a procedure not completed or charged $0 or less (nothing to
    collect). Days and charges counted here from the raw procedure rows, not from the model's columns."""
    params, _ = journey
    recent = {
        pid: (days, status, charge) for pid, days, status, charge in query(params, f"""
            SELECT p."ProcNum", date '{AS_OF}' - p."ProcDate", p."ProcStatus",
                   coalesce(p."ProcFee", 0) * (coalesce(p."UnitQty", 0) + coalesce(p."BaseUnits", 0))
            FROM {JOURNEY_PROCEDURES} AND p."ProcDate" >= '1880-01-01'""")}
    targets = {r[0]: r[1:] for r in query(params, """SELECT procedure_id, target_accepted, target_fully_paid,
                                                     target_paid_30d FROM marts.fct_treatment_journey""")}
    future = [p for p, (days, _, _) in recent.items() if days < 0]
    assert future and all(targets[p] == (None, None, None) for p in future)
    for pid, (days, status, charge) in recent.items():
        accepted, fully_paid, paid_30d = targets[pid]
        assert (accepted is None) == (days < 90), (pid, days)
        assert (fully_paid is None) == (days < 90 or status != 2 or charge <= 0), (pid, days, charge)
        assert (paid_30d is None) == (days < 30 or status != 2 or charge <= 0), (pid, days, charge)
    rates = dict(query(params, """SELECT procedure_year, avg(target_accepted::int) FROM marts.fct_treatment_journey
                                  WHERE target_accepted IS NOT NULL GROUP BY 1"""))
    earlier = [float(rates[y]) for y in rates if y < AS_OF.year]
    assert earlier and min(earlier) - 0.1 < float(rates[AS_OF.year]) < max(earlier) + 0.1, rates


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
# The carrier's statistics are those of its claims received in the calendar year before the decision's
# year, NULL with fewer than 10 of them (so that they change only on January 1).
# "Then" is the decision date, written here independently of the model: the earlier of DateTP and
# ProcDate (least() skips a NULL DateTP), NULL without a ProcDate. The column stays named procedure_date
# below so that the pairwise definition reads as first written.
REFERENCE_HISTORY = """
with procedures as (
    select procedure_id, patient_id,
           case when procedure_date is not null then least(date_tp, procedure_date) end as procedure_date
    from intermediate.int_procedures where proc_status in (1, 2, 5, 6)
        and coalesce(procedure_code, '') not in ('D9986', 'D9987')
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
           -- paid when received: its Received lines (claim.InsPayAmt also holds later Supplementals)
           (select coalesce(sum(cast(cp.ins_pay_amt as numeric(14, 2))), 0) from staging.stg_opendental__claimproc cp
            where cp.claim_num = cl.claim_num and cp.status = 1) as paid,
           cast(coalesce(cl.ins_pay_est, 0) as numeric(14, 2)) as est
    from staging.stg_opendental__claim cl join snapshots.snap_opendental__insplan plans on cl.plan_num = plans.plan_num
        and plans.dbt_valid_from < cl.date_received + 1
        and coalesce(plans.dbt_valid_to, 'infinity') >= cl.date_received + 1
    where cl.claim_status = 'R' and cl.date_received is not null and cl.date_sent is not null
        and cl.claim_type in ('P', 'S')
)
select p.procedure_id,
    (select case when count(*) >= 10 then percentile_cont(0.5) within group (order by r.days) end from received r
     where r.carrier_id = ct.carrier_id
       and extract(year from r.date_received) = extract(year from p.procedure_date) - 1),
    (select case when count(*) >= 10 then cast(sum(r.paid) / nullif(sum(r.est), 0) as double precision) end
     from received r where r.carrier_id = ct.carrier_id
       and extract(year from r.date_received) = extract(year from p.procedure_date) - 1),
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
    """The timelines (running sums read at each decision date) and the carrier's yearly groups give
    exactly what pairing every procedure with every appointment and family member before its decision
    date, and every claim of its carrier received in the year before the decision's, gives."""
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


def test_features_are_read_at_the_decision_date(journey):
    """decision_date is procedurelog.DateTP when it is set and not after ProcDate, else ProcDate, and
    decision_date_fallback marks the others; both read here from the raw table. In the synthetic practice
    most completed procedures were planned before they were done (decision_date earlier than
    procedure_date), so the tests above exercise features read before the procedure date."""
    params, _ = journey
    raw = {pid: (tp, day) for pid, tp, day in query(params, f"""
        SELECT p."ProcNum", CASE WHEN "DateTP" >= '1880-01-01' AND "DateTP" <> '1900-01-01' THEN "DateTP" END,
               CASE WHEN "ProcDate" >= '1880-01-01' AND "ProcDate" <> '1900-01-01' THEN "ProcDate" END
        FROM {JOURNEY_PROCEDURES}""")}
    model = {row[0]: row[1:] for row in query(params, """
        SELECT procedure_id, decision_date, decision_date_fallback, procedure_date, target_accepted
        FROM marts.fct_treatment_journey""")}
    assert model.keys() == raw.keys()
    for pid, (tp, day) in raw.items():
        usable = tp is not None and day is not None and tp <= day
        assert model[pid][:3] == ((tp if usable else day), not usable, day), pid
    earlier = [row for row in model.values() if row[0] is not None and row[0] < row[2]]
    assert sum(1 for row in earlier if row[3]) > 1000  # completed (accepted) after being planned


def test_shared_features_change_only_on_january_first(journey):
    """No feature read from many patients' rows may date a row finer than its year (the carrier and its
    two statistics, read over the 365 days before each decision date, dated rows to within days in the
    de-identified files): every row of a carrier with decisions in one calendar year has the same median
    and accuracy. The age, with the exact dates of the warehouse, must not bracket a birthday: it is the
    decision date's year minus the year of birth (raw patient.Birthdate), capped at 90, on every row."""
    params, _ = journey
    carrier_years = query(params, """
        SELECT carrier_id, extract(year from decision_date), count(*),
               count(DISTINCT (carrier_median_days_to_payment, carrier_estimate_accuracy))
        FROM marts.fct_treatment_journey WHERE carrier_median_days_to_payment IS NOT NULL GROUP BY 1, 2""")
    assert len(carrier_years) > 5 and sum(row[2] for row in carrier_years) > 1000
    assert not [row for row in carrier_years if row[3] != 1]
    ages = query(params, """
        SELECT f.procedure_id, f.patient_age_years,
               CASE WHEN p."Birthdate" >= '1880-01-01' AND p."Birthdate" <> '1900-01-01'
                         AND p."Birthdate" <= f.decision_date
                    THEN least(extract(year from f.decision_date) - extract(year from p."Birthdate"), 90) END
        FROM marts.fct_treatment_journey f JOIN raw.patient p ON p."PatNum" = f.patient_id""")
    assert sum(1 for _, age, _ in ages if age is not None) > 1000
    assert not [row for row in ages if row[1] != row[2]]
    # and so, with the exact decision dates beside them, a patient's ages tell the year of birth only:
    # the whole years at each date, as before, bracketed some birthdays to the day
    whole_years = query(params, """
        SELECT count(*) FROM marts.fct_treatment_journey f JOIN raw.patient p ON p."PatNum" = f.patient_id
        WHERE p."Birthdate" >= '1880-01-01' AND p."Birthdate" <= f.decision_date AND f.patient_age_years < 90
            AND f.patient_age_years <> extract(year from age(f.decision_date, p."Birthdate"))""")[0][0]
    assert whole_years > 100  # the case is exercised: birthdays later in the year than the decision


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


def test_a_fetched_year_runs_from_january_first_to_december_31st(pg_url):
    """``_fetch_year`` reads the rows whose procedure_date lies in the year, both ends included and nothing
    of the days next to them (the synthetic practice books no procedure on January 1st, so the model's rows
    cannot show it): hand-made rows on 2024-12-31, 2025-01-01, 2025-12-31 and 2026-01-01."""
    from dental_assets.defs.journey.assets import _fetch_year

    params = PgParams.from_url(pg_url)
    query(params, """CREATE TABLE journey_rows (procedure_id bigint, procedure_date date);
        INSERT INTO journey_rows VALUES (1, '2024-12-31'), (2, '2025-01-01'), (3, '2025-12-31'), (4, '2026-01-01')""")
    table = _fetch_year(params, "public.journey_rows", 2025)
    assert table.column("procedure_id").to_pylist() == [2, 3]
    assert [str(d) for d in table.column("procedure_date").to_pylist()] == ["2025-01-01", "2025-12-31"]


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


def test_versions_order_by_time_and_the_models_read_the_current_source_only(tmp_path):
    """A practice ran the demo in January, then its own database in June: the newest version of a year is
    June's (file names alone sort ``opendental`` before ``synthetic``), the models read only the June
    source's years (never the demo's year left beside them), and pruning deletes the oldest by time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dental_assets import journey_models as jm
    from dental_assets.defs.journey.assets import prune_versions

    def put(year: int, source: str, stamp: str, rows: int) -> Path:
        path = tmp_path / str(year) / f"treatment_journey_{source}_{stamp}.parquet"
        path.parent.mkdir(exist_ok=True)
        pq.write_table(pa.table({"procedure_year": [year] * rows, "source": [source] * rows}), path)
        path.with_suffix(".stats.json").write_text(json.dumps({"data_quality": {"passed": True}}))
        return path

    demo = [put(2025, "synthetic", f"202501{d:02d}T100000000000Z", 3) for d in (1, 2, 3)]
    demo_2024 = put(2024, "synthetic", "20250103T100000000000Z", 4)  # a year the real source has not written
    own = [put(2025, "opendental", f"202506{d:02d}T100000000000Z", 2) for d in (1, 2, 3)]
    own_2026 = put(2026, "opendental", "20250604T100000000000Z", 5)

    assert jm.latest_versions(tmp_path) == {"2024": demo_2024, "2025": own[-1], "2026": own_2026}
    assert jm.latest_versions(tmp_path, "synthetic")["2025"] == demo[-1]
    data = jm.load_dataset(tmp_path)
    assert set(data["source"]) == {"opendental"} and sorted(data["procedure_year"].unique()) == [2025, 2026]
    assert len(data) == 2 + 5

    deleted = prune_versions(tmp_path / "2025", keep=3)
    assert sorted(p.name for p in deleted if p.suffix == ".parquet") == sorted(p.name for p in demo)
    assert sorted((tmp_path / "2025").glob("*.parquet")) == sorted(own)


def test_data_quality_check_fails_on_a_repeated_procedure_a_row_outside_the_year_or_a_null_key():
    """treatment_journey's blocking check: the file of a year passes when each procedure appears once,
    inside the year, with its keys; each defect alone fails it (ERROR), counted in its metadata."""
    import dagster as dg
    import pyarrow as pa

    from dental_assets.defs.journey.assets import data_quality_check, data_quality_summary

    def check(procedures, patients, years):
        table = pa.table({"procedure_key": procedures, "patient_key": patients, "procedure_year": years,
                          "target_accepted": [True] * len(years)})
        return data_quality_check(table, data_quality_summary(table, 2025))

    good = check(["a", "b", "c"], ["p", "p", "q"], [2025, 2025, 2025])
    assert good.passed and good.severity == dg.AssetCheckSeverity.ERROR
    without_patients = pa.table({"procedure_key": ["a"], "procedure_year": [2025], "target_accepted": [True]})
    for result, measure in ((check(["a", "a", "c"], ["p", "p", "q"], [2025] * 3), "dq/duplicate_procedure_ids"),
                            (check(["a", "b", "c"], ["p", "p", "q"], [2025, 2024, 2025]), "dq/rows_outside_year"),
                            (check(["a", "b", "c"], ["p", None, "q"], [2025] * 3), "dq/null_keys"),
                            (data_quality_check(without_patients, data_quality_summary(without_patients, 2025)),
                             "dq/missing_key_columns")):
        assert not result.passed and result.metadata[measure].value == 1, measure
        assert sum(v.value for k, v in result.metadata.items() if k != "dq/rows") == 1, measure


def model_rows(year: int, procedures: list[int], version: str):
    """Rows of the model as ``_fetch_year`` returns them: one per procedure number given (a number given
    twice is a repeated procedure), of patient 7, dated in ``year``, with a column naming the version."""
    import pyarrow as pa

    return pa.table({
        "procedure_id": procedures,
        "patient_id": [7] * len(procedures),
        "procedure_date": pa.array([dt.date(year, 3, 1)] * len(procedures), pa.date32()),
        "decision_date": pa.array([dt.date(year, 2, 1)] * len(procedures), pa.date32()),
        "decision_date_fallback": [False] * len(procedures),
        "procedure_year": pa.array([year] * len(procedures), pa.int32()),
        "version": [version] * len(procedures),
        "target_accepted": [True] * len(procedures),
    })


def test_a_year_failing_data_quality_is_quarantined_and_the_models_read_its_last_passing_version(
        tmp_path, monkeypatch):
    """2026 is written and passes; a later run of 2026 repeats a procedure and fails the blocking check;
    2027 passes. The failing version is not published: it goes to 2026/quarantine/ with its statistics
    (passed false, the counts), and the models' loader reads 2026's passing version and 2027, never it."""
    import pyarrow.parquet as pq

    from dental_assets import journey_models as jm
    from dental_assets.defs.journey import assets

    monkeypatch.setenv("DENTAL_DATA_DIR", str(tmp_path))
    runs = iter([model_rows(2026, [1, 2, 3], "2026 passing"), model_rows(2026, [1, 1, 2], "2026 failing"),
                 model_rows(2027, [4, 5], "2027")])
    monkeypatch.setattr(assets, "_fetch_year", lambda warehouse, relation, year: next(runs))
    written = [assets.write_journey_checked(None, "marts.fct_treatment_journey", year, "synthetic", salt="k" * 32)
               for year in ("2026", "2026", "2027")]
    assert [w.check.passed for w in written] == [True, False, True]
    passing, failing, _ = written
    dataset = tmp_path / "processed" / "treatment_journey"
    data = jm.load_dataset(dataset)
    assert sorted(data["version"]) == ["2026 passing"] * 3 + ["2027"] * 2
    assert jm.latest_versions(dataset) == {"2026": passing.path, "2027": written[2].path}

    assert failing.path.parent == dataset / "2026" / assets.QUARANTINE_DIR
    stats = json.loads(failing.path.with_suffix(".stats.json").read_text())["data_quality"]
    assert stats["passed"] is False and stats["dq/duplicate_procedure_ids"] == 1 and stats["dq/rows"] == 3
    assert pq.read_table(failing.path).num_rows == 3  # kept for inspection
    assert passing.path.parent == dataset / "2026" and jm.passed_data_quality(passing.path)


def test_the_loader_skips_a_version_without_a_passing_record(tmp_path):
    """Whatever put a file among a year's versions (an older writer, a copy by hand, a write cut short
    before its statistics), the loader reads only versions whose statistics record a passing check:
    newer ones without it are skipped, each named in a log line, and the previous passing version is
    read; a year with none is left out."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dental_assets import journey_models as jm

    def put(year: int, stamp: str, version: str, data_quality: dict | None) -> Path:
        path = tmp_path / str(year) / f"treatment_journey_synthetic_{stamp}.parquet"
        path.parent.mkdir(exist_ok=True)
        pq.write_table(pa.table({"procedure_year": [year], "version": [version]}), path)
        if data_quality is not None:
            path.with_suffix(".stats.json").write_text(json.dumps({"rows": 1, "data_quality": data_quality}))
        return path

    put(2025, "20260101T000000000000Z", "2025 passing", {"passed": True})
    failed = put(2025, "20260102T000000000000Z", "2025 failed", {"passed": False, "dq/duplicate_procedure_ids": 1})
    bare = put(2025, "20260103T000000000000Z", "2025 without statistics", None)
    unrecorded = put(2025, "20260104T000000000000Z", "2025 written before the record", {})
    unrecorded.with_suffix(".stats.json").write_text(json.dumps({"rows": 1}))
    put(2026, "20260105T000000000000Z", "2026 passing", {"passed": True})
    only_failed = put(2027, "20260106T000000000000Z", "2027 failed", {"passed": False})
    lines: list[str] = []
    data = jm.load_dataset(tmp_path, log=lines.append)
    assert sorted(data["version"]) == ["2025 passing", "2026 passing"]
    assert sorted(lines) == sorted(f"journey dataset: skipped {path}: its statistics ({path.stem}.stats.json) "
                                   "record no passing data-quality check"
                                   for path in (failed, bare, unrecorded, only_failed))


def test_a_null_year_fails_the_data_quality_check():
    """procedure_year is one of the file's keys (never NULL: the year partition, docs/journey.md): a row
    without it fails the blocking check, counted under dq/null_keys."""
    import pyarrow as pa

    from dental_assets.defs.journey.assets import data_quality_check, data_quality_summary

    table = pa.table({"procedure_key": ["a", "b"], "patient_key": ["p", "q"],
                      "procedure_year": pa.array([2025, None], pa.int32())})
    result = data_quality_check(table, data_quality_summary(table, 2025))
    assert not result.passed and result.metadata["dq/null_keys"].value == 1


def test_the_written_years_metadata_holds_no_date_of_service(tmp_path, monkeypatch):
    """docs/journey.md, "Dates": dq/first_date and dq/last_date in the asset's metadata are empty (the summary
    is of the de-identified rows), and the data_quality table names no date."""
    from dental_assets.defs.journey import assets

    monkeypatch.setenv("DENTAL_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(assets, "_fetch_year", lambda warehouse, relation, year: model_rows(2026, [1, 2, 3], "v"))
    written = assets.write_journey_checked(None, "marts.fct_treatment_journey", "2026", "synthetic", salt="k" * 32)
    assert written.check.passed
    assert written.quality["dq/first_date"] == "" and written.quality["dq/last_date"] == ""
    markdown = written.quality["data_quality"].value
    assert "2026-03-01" not in markdown and "2026-02-01" not in markdown
    assert "| procedure dates | - to - | |" in markdown


def test_the_loader_never_reads_the_quarantine_folder(tmp_path):
    """The loader reads a year's own folder only (docs/journey.md): a file under ``<year>/quarantine/``
    is never read, even one whose statistics say it passed (copied there by hand), nor named as skipped."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dental_assets import journey_models as jm

    def put(folder: Path, stamp: str, version: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"treatment_journey_synthetic_{stamp}.parquet"
        pq.write_table(pa.table({"procedure_year": [2025], "version": [version]}), path)
        path.with_suffix(".stats.json").write_text(json.dumps({"data_quality": {"passed": True}}))
        return path

    published = put(tmp_path / "2025", "20260101T000000000000Z", "published")
    put(tmp_path / "2025" / "quarantine", "20260102T000000000000Z", "quarantined")
    lines: list[str] = []
    assert jm.latest_versions(tmp_path) == {"2025": published}
    assert list(jm.load_dataset(tmp_path, log=lines.append)["version"]) == ["published"]
    assert lines == []


def test_the_models_read_the_source_written_last_by_time_not_by_name_or_year(tmp_path):
    """The demo wrote 2025 and 2026 in January; the practice's own database wrote 2025 in June: the source
    written last is ``opendental`` (by the files' timestamps), although the demo's file sorts last by folder
    and by name. The models read the practice's 2025 only, never the demo's 2026."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dental_assets import journey_models as jm

    def put(year: int, source: str, stamp: str) -> Path:
        path = tmp_path / str(year) / f"treatment_journey_{source}_{stamp}.parquet"
        path.parent.mkdir(exist_ok=True)
        pq.write_table(pa.table({"procedure_year": [year], "source": [source]}), path)
        path.with_suffix(".stats.json").write_text(json.dumps({"data_quality": {"passed": True}}))
        return path

    put(2025, "synthetic", "20250110T100000000000Z")
    put(2026, "synthetic", "20250111T100000000000Z")
    put(2025, "opendental", "20250601T100000000000Z")
    data = jm.load_dataset(tmp_path)
    assert list(zip(data["procedure_year"], data["source"])) == [(2025, "opendental")]


def test_the_models_train_on_earlier_years_only_and_need_20_of_each_class_on_both_sides():
    """journey_models: training rows are the years before the latest, evaluation rows the latest (never
    in training); each side needs MIN_CLASS_ROWS (20) rows of each class: 20 are enough, 19 are not, on
    the evaluation side as on the training side."""
    import pandas as pd

    from dental_assets import journey_models as jm

    def data(train_true: int, train_false: int, eval_true: int, eval_false: int):
        return pd.DataFrame({
            "year": [2024] * (train_true + train_false) + [2025] * (eval_true + eval_false),
            "x": range(train_true + train_false + eval_true + eval_false),
            "y": [True] * train_true + [False] * train_false + [True] * eval_true + [False] * eval_false})

    years, train, test = jm._split_by_year(data(30, 30, 20, 20), "y", "year")
    assert years == [2024, 2025] and set(train["year"]) == {2024} and len(train) == 60
    assert set(test["year"]) == {2025} and len(test) == 40
    _, report = jm.train_and_evaluate(data(30, 30, 20, 20), "y", "year", ("x",), (), "exact")
    assert (report.train_rows, report.eval_rows, report.train_years, report.eval_year) == (60, 40, [2024], 2025)
    for short in (data(30, 30, 19, 20), data(30, 30, 20, 19), data(19, 30, 20, 20), data(30, 19, 20, 20)):
        with pytest.raises(jm.NotEnoughDataError, match="fewer than 20 rows of a class"):
            jm.train_and_evaluate(short, "y", "year", ("x",), (), "short")


# ------------------------------------------------------------------------ de-identification (Safe Harbor)

@pytest.fixture(scope="module")
def written(journey, tmp_path_factory):
    """One year of the dataset written by the asset's code (synthetic source: the random demo salt in
    $DENTAL_HOME), with the warehouse it came from and the salt."""
    from dental_assets.defs.journey.assets import demo_salt, write_journey_partition

    params, target = journey
    saved = os.environ.get("DENTAL_DATA_DIR")
    os.environ["DENTAL_DATA_DIR"] = str(tmp_path_factory.mktemp("journey_data"))
    try:
        path, table, _ = write_journey_partition(params, "marts.fct_treatment_journey", str(AS_OF.year - 1),
                                                 "synthetic")
    finally:
        if saved is None:
            os.environ.pop("DENTAL_DATA_DIR", None)
        else:
            os.environ["DENTAL_DATA_DIR"] = saved
    assert table.num_rows > 1000
    return params, target, path, demo_salt()


def upstream_raw_tables(target: Path, *models: str) -> list[str]:
    """The raw tables ``models`` (default ``fct_treatment_journey``) read, directly or through any model or
    snapshot: the dbt sources among their ancestors in the manifest dbt wrote to ``target``."""
    manifest = json.loads((target / "manifest.json").read_text())
    names = set(models or ("fct_treatment_journey",))
    seen, todo = set(), [uid for uid, node in manifest["nodes"].items() if node["name"] in names]
    assert len(todo) == len(names)
    while todo:
        for parent in manifest["parent_map"].get(todo.pop(), []):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return sorted(manifest["sources"][uid]["name"] for uid in seen if uid in manifest["sources"])


def raw_key_columns(tables: list[str]) -> list[tuple[str, str]]:
    """(table, column) of every key of ``tables``: the primary key, the foreign keys, and every other
    integer column named like an OpenDental key (``...Num``, ``Guarantor``)."""
    from dental_assets.catalog import raw_table

    keys = []
    for name in tables:
        for column in raw_table(name).columns:
            if column.kind == "int" and (column.is_pk or column.fk or column.name.endswith("Num")
                                         or column.name == "Guarantor"):
                keys.append((name, column.name))
    return keys


# The raw keys of a row of the dataset, in the order test_written_dataset_is_deidentified_by_safe_harbor
# reads them from raw.
ROW_KEYS = ("ProcNum", "PatNum", "Guarantor", "AptNum", "PlannedAptNum")


def as_integer(value) -> int | None:
    """A value of the file as the integer it spells, None when it spells none: an int, a float without a
    fraction (a key cast to double), a string of digits (a key as text); never a boolean."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    return int(value) if isinstance(value, str) and value.isdigit() else None


def keys_carried(columns: dict[str, list], identities: list[tuple]) -> list[tuple[str, str, int]]:
    """(column, key, rows) for every column whose value equals its row's own raw key (``ROW_KEYS``,
    ``identities[i]`` for row i; 0 is OpenDental's "none", not a key) on any row. With the fixture's
    renumbered keys (``KEY_SPACES``) no count, age, span of days, year or fee reaches a key, so one such row
    is a leak, not chance."""
    carried = []
    for name, column in columns.items():
        values = [as_integer(v) for v in column]
        for position, label in enumerate(ROW_KEYS):
            rows = sum(1 for v, ident in zip(values, identities) if ident[position] and v == ident[position])
            if rows:
                carried.append((name, label, rows))
    return carried


def test_the_salt_is_stored_nowhere_in_the_warehouse_or_dbt_artifacts(written):
    """The keyed hashes' secret is not in any table of any schema, nor in dbt's manifest or logs, and its
    file in $DENTAL_HOME is readable by its owner only."""
    from dental_assets.defs.journey.assets import DEMO_SALT_FILE
    from dental_assets.warehouse import dental_home

    params, target, _, salt = written
    assert len(salt) >= 32
    assert (dental_home() / DEMO_SALT_FILE).stat().st_mode & 0o777 == 0o600
    columns = query(params, """
        SELECT table_schema, table_name, column_name FROM information_schema.columns
        WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
            AND data_type IN ('text', 'character varying', 'character')""")
    by_table: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in columns:
        by_table.setdefault((schema, table), []).append(column)
    assert len(by_table) > 50
    found = []
    for (schema, table), names in by_table.items():
        condition = " OR ".join(f'position(%(salt)s in "{c}") > 0' for c in names)
        conn = params.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE {condition}', {"salt": salt})
                if cur.fetchone()[0]:
                    found.append(f"{schema}.{table}")
        finally:
            conn.close()
    assert not found
    artifacts = [f for f in target.rglob("*") if f.is_file()]
    assert any(f.name == "manifest.json" for f in artifacts)
    assert not [f.name for f in artifacts if salt.encode() in f.read_bytes()]


def test_join_attack_finds_no_patient(written):
    """The attack that undid the old pseudonym: join a dataset column to every raw key (as is), and hash
    every raw key with every salt an attacker can find (the environment's settings and secret-like
    variables, the old fixed demo salt, none),
    in the old form (sha256 of "salt:key") and the new (HMAC of "kind:key"); nothing matches."""
    import pyarrow.parquet as pq

    from dental_assets.defs.journey.assets import KEY_COLUMNS, KEY_HEX_CHARS

    params, target, path, _ = written
    table = pq.read_table(path)
    key_values = {v for name in table.column_names if name.endswith("_key")
                  for v in table.column(name).to_pylist() if v is not None}
    assert len(key_values) > 1000
    keys = raw_key_columns(upstream_raw_tables(target))
    assert ("procedurelog", "ProcNum") in keys and ("patient", "PatNum") in keys
    raw_values: set[int] = set()
    for name, column in keys:
        raw_values |= {row[0] for row in query(params, f'SELECT DISTINCT "{column}" FROM raw.{name}')}
    # as is: no key column holds a raw key (the other columns: test_written_dataset_is_deidentified...)
    assert not {str(v) for v in raw_values} & key_values
    # what the test's environment offers an attacker: the project's settings, anything named like a
    # secret, the old fixed demo salt, and no salt at all
    secretish = re.compile(r"DENTAL|SALT|KEY|SECRET|TOKEN|PASS|PWD|URL", re.I)
    candidates = {"", "synthetic-demo-salt", *(v for k, v in os.environ.items() if secretish.search(k))}
    kinds = [kind for _, kind in KEY_COLUMNS.values()]
    matches = 0
    for salt in candidates:
        for value in raw_values:
            if hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:KEY_HEX_CHARS] in key_values:
                matches += 1
            for kind in kinds:
                digest = hmac.digest(salt.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hex()
                matches += digest[:KEY_HEX_CHARS] in key_values
    assert matches == 0


def test_written_dataset_is_deidentified_by_safe_harbor(written):
    """The Parquet file: no raw key in any column (each row's ProcNum, PatNum, Guarantor, appointment
    numbers, recovered with the real salt, appear in none of its columns on any row: keys_carried), no date
    column, ages at most 90 with every older patient at 90, ZIP3 of three digits and sparse areas as 000, no
    free text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dental_assets.defs.journey.assets import ZIP3_MIN_PATIENTS, keyed_hash

    params, _, path, salt = written
    table = pq.read_table(path)
    year = AS_OF.year - 1
    rows = query(params, f"""
        SELECT p."ProcNum", p."PatNum", pt."Guarantor", p."AptNum", p."PlannedAptNum",  -- ROW_KEYS
               extract(year from least(p."DateTP", p."ProcDate")) - extract(year from pt."Birthdate") >= 90
                   AND pt."Birthdate" > date '1880-01-01' AND p."DateTP" > date '1880-01-01'
        FROM raw.procedurelog p JOIN raw.patient pt ON pt."PatNum" = p."PatNum"
        WHERE p."ProcStatus" IN (1, 2, 5, 6) AND p."ProcDate" >= '{year}-01-01' AND p."ProcDate" < '{year + 1}-01-01'""")
    by_key = dict(zip(keyed_hash([r[0] for r in rows], salt.encode(), "procedure"), rows))
    keys = table.column("procedure_key").to_pylist()
    assert set(keys) <= set(by_key) and len(keys) == len(set(keys)) == table.num_rows
    identities = [by_key[k] for k in keys]

    # no column carries a raw key of its row (keys_carried) on any row; the check sees a copy of PatNum and
    # Guarantor put into every 20th row of a span of days
    assert min(ident[1] for ident in identities) > KEY_SPACES["patient"]  # the keys are the renumbered ones
    columns = table.to_pydict()
    assert keys_carried(columns, identities) == []
    assert keys_carried({"copy": [ident[1] for ident in identities]}, identities)[:1] == [
        ("copy", "PatNum", table.num_rows)]
    days = [ident[2] if i % 20 == 0 else value for i, (value, ident) in enumerate(zip(
        columns["days_since_last_visit"], identities))]
    assert ("days_since_last_visit", "Guarantor", len(range(0, table.num_rows, 20))) in keys_carried(
        {"days_since_last_visit": days}, identities)
    # no exact date of service
    assert not [f.name for f in table.schema if pa.types.is_temporal(f.type) or "date" in f.name]
    # ages: at most 90, and every row of a patient 90 or more in the decision date's year shows 90
    ages = table.column("patient_age_years").to_pylist()
    assert max(a for a in ages if a is not None) <= 90
    older = [age for age, ident in zip(ages, identities) if ident[5]]
    assert older  # the practice has patients over 89 (the generator's oldest heads are 92)
    assert set(older) == {90}
    # ZIP3: three digits; an area kept only with ZIP3_MIN_PATIENTS patients in the file
    zips = table.column("patient_zip3").to_pylist()
    patients = table.column("patient_key").to_pylist()
    assert all(re.fullmatch(r"\d{3}", z) for z in zips if z is not None) and any(z for z in zips)
    for area in {z for z in zips if z not in (None, "000")}:
        assert len({p for z, p in zip(zips, patients) if z == area}) >= ZIP3_MIN_PATIENTS
    # no free text: every string column is a keyed hash or a code from a closed set
    patterns = {"procedure_key": r"[0-9a-f]{16}", "patient_key": r"[0-9a-f]{16}", "clinic_key": r"[0-9a-f]{16}",
                "provider_key": r"[0-9a-f]{16}", "carrier_key": r"[0-9a-f]{16}", "patient_zip3": r"\d{3}",
                "gender": r"male|female|unknown|other", "procedure_code": r"[A-Z0-9]{1,8}",
                "code_category": r"[A-Za-z /&-]{1,40}"}
    strings = [f.name for f in table.schema if pa.types.is_string(f.type)]
    assert set(strings) == set(patterns)
    for name in strings:
        values = {v for v in table.column(name).to_pylist() if v is not None}
        assert all(re.fullmatch(patterns[name], v) for v in values), name
    assert len({v for v in table.column("code_category").to_pylist()}) < 30


def test_decision_date_fallbacks_are_counted_not_written(written):
    """The decision date and its fallback flag stay in the warehouse: the file has neither, its statistics
    count the year's rows whose decision date fell back to ProcDate (as the warehouse does), and the
    data-quality summary shows the count, from the flag or, for the de-identified file, as given."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dental_assets.defs.journey.assets import data_quality_summary, deidentify

    params, _, path, _ = written
    year = AS_OF.year - 1
    assert not {"decision_date", "decision_date_fallback"} & set(pq.read_schema(path).names)
    [[expected]] = query(params, f"""SELECT count(*) FILTER (WHERE decision_date_fallback)
        FROM marts.fct_treatment_journey WHERE procedure_year = {year}""")
    assert json.loads(path.with_suffix(".stats.json").read_text())["decision_date_fallbacks"] == expected
    model_rows = pa.table({"procedure_id": [1, 2, 3], "procedure_year": [2025] * 3,
                           "decision_date": pa.array([dt.date(2025, 1, 2)] * 3, pa.date32()),
                           "decision_date_fallback": [True, False, True]})
    assert data_quality_summary(model_rows, 2025)["dq/decision_date_fallbacks"].value == 2
    file_rows = deidentify(model_rows, b"k" * 32)
    assert file_rows.column_names == ["procedure_key", "procedure_year"]
    summary = data_quality_summary(file_rows, 2025, fallbacks=2)
    assert summary["dq/decision_date_fallbacks"].value == 2 and "| 2 (66.7%) |" in summary["data_quality"].value


def test_writer_refuses_identifying_columns_and_a_real_source_without_salt(tmp_path, monkeypatch):
    """Fail closed: a model column the writer does not know how to de-identify (a date, a raw ``*_id``)
    stops the write; a real practice needs DENTAL_JOURNEY_SALT; keys depend on the salt."""
    import pyarrow as pa

    from dental_assets.defs.journey.assets import deidentify, journey_salt, keyed_hash, suppress_sparse_zip3
    from dental_assets.errors import ConfigurationError

    salt = b"k" * 32
    fine = deidentify(pa.table({"procedure_id": [1, 2], "patient_id": [7, 7],
                                "procedure_date": pa.array([dt.date(2025, 1, 2)] * 2, pa.date32())}), salt)
    assert fine.column_names == ["procedure_key", "patient_key"]
    with pytest.raises(ValueError, match="appointment_id"):
        deidentify(pa.table({"procedure_id": [1], "appointment_id": [3]}), salt)
    with pytest.raises(ValueError, match="seen_on"):
        deidentify(pa.table({"procedure_id": [1], "seen_on": pa.array([dt.date(2025, 1, 2)], pa.date32())}), salt)
    monkeypatch.delenv("DENTAL_JOURNEY_SALT", raising=False)
    with pytest.raises(ConfigurationError, match="DENTAL_JOURNEY_SALT"):
        journey_salt(None, "opendental")
    with pytest.raises(ConfigurationError, match="shorter"):
        journey_salt("short", "opendental")
    assert keyed_hash([5], b"a" * 16, "patient") != keyed_hash([5], b"b" * 16, "patient")
    # a ZIP3 with fewer than the minimum of distinct patients becomes 000 (rows of one patient count once)
    assert suppress_sparse_zip3(["941", "941", "941", "100", "100", None], ["a", "b", "c", "d", "d", "e"],
                                min_patients=3) == ["941", "941", "941", "000", "000", None]
    # HHS's 17 areas of 20,000 people or fewer (2000 census) are 000 however many patients live there
    restricted = ["036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879",
                  "884", "890", "893"]
    many = [f"p{i}" for i in range(25)]
    for area in restricted + ["037", "941"]:
        assert set(suppress_sparse_zip3([area] * 25, many)) == {"000" if area in restricted else area}, area
    assert keyed_hash([5], salt, "patient") != keyed_hash([5], salt, "procedure")


def test_deidentified_keys_are_the_documented_keyed_hashes_per_kind_in_key_order():
    """docs/journey.md, "Keys": each raw key becomes HMAC-SHA256(salt, "<kind>:<number>"), its first 16 hex
    characters, the kind keeping equal numbers of different tables apart (computed here with hmac, not the
    writer's keyed_hash); rows are ordered by procedure_key, not by ProcNum (whose order tells entry order)."""
    import pyarrow as pa

    from dental_assets.defs.journey.assets import deidentify

    salt = b"s" * 32
    numbers = list(range(1, 41))
    model = pa.table({name: numbers for name in ("procedure_id", "patient_id", "clinic_id", "provider_id",
                                                 "carrier_id")})
    file_rows = deidentify(model, salt)

    def expected(kind: str, number: int) -> str:
        return hmac.new(salt, f"{kind}:{number}".encode(), hashlib.sha256).hexdigest()[:16]

    by_procedure = {expected("procedure", n): n for n in numbers}
    procedure_keys = file_rows.column("procedure_key").to_pylist()
    assert procedure_keys == sorted(by_procedure)  # by key, not by ProcNum
    assert procedure_keys != [expected("procedure", n) for n in numbers]  # (the two orders differ here)
    for kind in ("patient", "clinic", "provider", "carrier"):
        assert file_rows.column(f"{kind}_key").to_pylist() == [expected(kind, by_procedure[k])
                                                                for k in procedure_keys], kind
    # a NULL key stays NULL (no carrier is no carrier, not one shared key)
    uninsured = deidentify(pa.table({"procedure_id": [1, 2], "carrier_id": [None, 5]}), salt)
    assert dict(zip(uninsured.column("procedure_key").to_pylist(), uninsured.column("carrier_key").to_pylist())) == {
        expected("procedure", 1): None, expected("procedure", 2): expected("carrier", 5)}
    # the number 7 of five tables: five different keys
    assert len({file_rows.column(name)[procedure_keys.index(expected("procedure", 7))].as_py()
                for name in file_rows.column_names}) == 5


def test_zip3_is_kept_by_distinct_patients_not_by_rows():
    """docs/journey.md, "ZIP codes": a ZIP3 is written only when the file holds at least ZIP3_MIN_PATIENTS
    (20) distinct patients in it: 30 procedures of one patient do not keep an area, 20 patients do."""
    import pyarrow as pa

    from dental_assets.defs.journey.assets import deidentify

    one_patient = [(n, 1, "941") for n in range(1, 31)]                # 30 rows, 1 patient
    twenty = [(100 + n, 10 + n, "606") for n in range(20)]               # 20 rows, 20 patients
    nineteen = [(200 + n, 40 + n % 19, "773") for n in range(38)]       # 38 rows, 19 patients
    rows = one_patient + twenty + nineteen
    model = pa.table({"procedure_id": [r[0] for r in rows], "patient_id": [r[1] for r in rows],
                      "patient_zip3": [r[2] for r in rows]})
    file_rows = deidentify(model, b"s" * 32)
    kept = {}
    for key, zip3 in zip(file_rows.column("patient_key").to_pylist(), file_rows.column("patient_zip3").to_pylist()):
        kept.setdefault(zip3, set()).add(key)
    assert {zip3: len(keys) for zip3, keys in kept.items()} == {"000": 1 + 19, "606": 20}


def test_a_column_named_like_a_date_is_refused_whatever_its_type():
    """Fail closed (docs/journey.md): a column named ``*_date`` is refused even when it holds text or a
    number, as ``*_id`` is; a date the model started to write as text would otherwise reach the file."""
    import pyarrow as pa

    from dental_assets.defs.journey.assets import deidentify

    for column in (pa.array(["2025-01-02"]), pa.array([20250102])):
        with pytest.raises(ValueError, match="first_visit_date"):
            deidentify(pa.table({"procedure_id": [1], "first_visit_date": column}), b"s" * 32)


def test_the_salt_has_at_least_16_characters_and_is_never_in_the_error():
    """DENTAL_JOURNEY_SALT must be at least 16 characters (docs/journey.md, "Keys"): 15 are refused, 16
    accepted; the refusal names the setting, never the value (it is a secret)."""
    from dental_assets.defs.journey.assets import journey_salt
    from dental_assets.errors import ConfigurationError

    assert journey_salt("q" * 16, "opendental") == b"q" * 16
    secret = "Zx9" * 5  # 15 characters
    with pytest.raises(ConfigurationError, match="DENTAL_JOURNEY_SALT") as refused:
        journey_salt(secret, "opendental")
    assert secret not in str(refused.value) and secret[:8] not in str(refused.value)


# ----------------------------------------------------------------------------- leakage: later rows change

# Rows OpenDental overwrites in place or deletes; the model reads their snapshots' history.
SNAPSHOTTED = ("fee", "patplan", "inssub", "insplan", "benefit")
KEY_OFFSET = 50_000_000
LATER_EDIT = dt.timedelta(days=40)


def _changed_value(column) -> str | None:
    """SQL for a different value of ``column`` (same type), or None to leave it: numbers moved, flags
    flipped, dates and times moved later, text reversed."""
    quoted = f'"{column.name}"'
    if column.kind == "int":
        return f"1 - {quoted}" if column.is_flag else f"{quoted} + 1"
    if column.kind == "float":
        return f"{quoted} * 2 + 1"
    if column.kind in ("date", "datetime", "timestamp"):
        return f"{quoted} + interval '30 days'"
    if column.kind == "time":
        return f"{quoted} + interval '1 minute'"
    if column.kind == "str":  # one-character codes (ClaimStatus 'R') become 'Z'
        return f"CASE WHEN length({quoted}) > 1 THEN reverse({quoted}) ELSE 'Z' END"
    return None


def later_row_mutations(table_name: str, cutoff: dt.date) -> list[str]:
    """SQL that changes every later row of one raw table, as later activity in OpenDental would.

    - Later rows: the business date (tables.yml), else the entry date (SecDateEntry, DateTEntry...), after
      ``cutoff``: every value column changed (keys kept), a third deleted, the rest copied as new rows.
    - Snapshotted tables (``SNAPSHOTTED``): every row overwritten later (every column but the primary
      key, foreign keys included, with SecDateTEdit moved after the cutoff as MySQL's TIMESTAMP would),
      a third of patplan and inssub rows deleted (a dropped coverage), copies inserted.
    - Other tables (set-up: procedurecode, provider, definition): copies inserted as new rows.
    """
    from dental_assets.catalog import raw_table

    table = raw_table(table_name)
    pk = f'"{table.primary_key}"'
    relation = f"raw.{table_name}"
    later_day = f"date '{cutoff}'"
    date_column = table.business_date_column or (table.column(table.entry_column) if table.entry_column else None)
    snapshotted = table_name in SNAPSHOTTED
    statements = []
    if snapshotted:
        changes = [f'"{c.name}" = {_changed_value(c)}' for c in table.columns
                   if not c.is_pk and c.name != table.modified_column and _changed_value(c)]
        changes.append(f'"{table.modified_column}" = greatest("{table.modified_column}", {later_day}) '
                       f"+ interval '{LATER_EDIT.days} days'")
        statements.append(f"UPDATE {relation} SET {', '.join(changes)}")
        if table_name in ("patplan", "inssub"):
            statements.append(f"DELETE FROM {relation} WHERE {pk} % 3 = 0")
        later = "true"
    elif date_column is not None:
        later = f'"{date_column.name}" > {later_day}'
        changes = [f'"{c.name}" = {_changed_value(c)}' for c in table.columns
                   if not c.is_pk and not c.fk and not c.name.endswith("Num") and c.name != "Guarantor"
                   and _changed_value(c)]
        statements.append(f"UPDATE {relation} SET {', '.join(changes)} WHERE {later}")
        statements.append(f"DELETE FROM {relation} WHERE {later} AND {pk} % 3 = 0")
    else:
        later = "true"
    names = ", ".join(f'"{c}"' for c in table.column_names)
    values = ", ".join(f"{pk} + {KEY_OFFSET}" if c == table.primary_key else f'"{c}"' for c in table.column_names)
    statements.append(f"INSERT INTO {relation} ({names}) SELECT {values} FROM {relation} WHERE {later}")
    return statements


# Later events on rows dated before the cutoff: appointments broken later, claims received later and
# paid twice as much, a supplemental payment later on claims received before (OpenDental adds it to
# claim.InsPayAmt), payments dated later deleted, new family members (first seen later).
LATER_EVENTS = """
    UPDATE raw.appointment SET "AptStatus" = 5 WHERE "AptDateTime" > {later} AND "AptStatus" = 2;
    INSERT INTO raw.appointment ("AptNum", "PatNum", "AptStatus", "AptDateTime", "Pattern", "ClinicNum", "ProvNum")
        SELECT 10000000 + "PatNum", "PatNum", 5, timestamp {later} + interval '40 days', 'XXXX', "ClinicNum", "PriProv"
        FROM raw.patient;
    UPDATE raw.claim SET "DateReceived" = "DateReceived" + 100, "InsPayAmt" = "InsPayAmt" * 2
        WHERE "DateReceived" > {later};
    UPDATE raw.claimproc SET "InsPayAmt" = "InsPayAmt" * 2, "WriteOff" = "WriteOff" + 1 WHERE "DateCP" > {later};
    UPDATE raw.claim SET "InsPayAmt" = "InsPayAmt" + 25
        WHERE "ClaimStatus" = 'R' AND "DateReceived" BETWEEN date {later} - 400 AND {later};
    DELETE FROM raw.paysplit WHERE "DatePay" > {later};
    INSERT INTO raw.patient ("PatNum", "Guarantor", "DateFirstVisit", "Birthdate", "Gender", "SecDateEntry")
        SELECT 20000000 + "PatNum", "Guarantor", date {later} + 10, date '1990-01-01', 1, date {later} + 10
        FROM raw.patient WHERE "PatNum" = "Guarantor";
"""


@pytest.fixture(scope="module")
def later_rows_changed(journey):
    """Features of the procedures up to CUTOFF before and after every later row of every raw table the
    model reads was changed (``later_row_mutations`` + ``LATER_EVENTS``) and the model, its snapshots
    included, was built again. Returns (before, after, the tables changed)."""
    params, target = journey
    tables = upstream_raw_tables(target)
    before = features_until_cutoff(params)
    targets_before = query(params, "SELECT count(*) FILTER (WHERE target_fully_paid) FROM marts.fct_treatment_journey")
    statements = [sql for name in tables for sql in later_row_mutations(name, CUTOFF)]
    query(params, ";\n".join(statements) + ";" + LATER_EVENTS.format(later=f"'{CUTOFF}'"))
    run_dbt(params, target, "build", "--select", "+fct_treatment_journey", "--exclude", "test_type:data",
            artifacts=True)
    after = features_until_cutoff(params)
    targets_after = query(params, "SELECT count(*) FILTER (WHERE target_fully_paid) FROM marts.fct_treatment_journey")
    assert targets_after != targets_before  # the later rows did reach the model
    return before, after, tables


def test_features_do_not_change_when_later_rows_change(journey, later_rows_changed):
    """Every raw table upstream of the model (from dbt's lineage), fees and coverage included, changed
    after the cutoff; no feature of an earlier procedure moved."""
    params, _ = journey
    before, after, tables = later_rows_changed
    assert {"fee", "patplan", "inssub", "insplan", "procedurelog", "claimproc", "appointment"} <= set(tables)
    assert len(before) > 1000 and after.keys() == before.keys()
    changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
    assert not changed, list(changed.items())[:3]
    # the snapshots saw the overwrites and deletes: versions were closed in each
    for name in ("fee", "patplan", "inssub", "insplan"):
        closed = query(params, f"SELECT count(*) FROM snapshots.snap_opendental__{name} WHERE dbt_valid_to IS NOT NULL")
        assert closed[0][0] > 0, name
    # and the features that read them are exercised
    fee, carrier = list_index(params, "standard_fee"), list_index(params, "carrier_id")
    assert sum(1 for row in before.values() if row[fee] is not None) > 1000
    assert sum(1 for row in before.values() if row[carrier] is not None) > 100


def list_index(params: PgParams, column: str) -> int:
    """The position of ``column`` among the features ``features_until_cutoff`` returns."""
    columns = [r[0] for r in query(params, """
        SELECT column_name FROM information_schema.columns
        WHERE table_schema = 'marts' AND table_name = 'fct_treatment_journey' ORDER BY ordinal_position""")]
    return [c for c in columns if c not in TARGETS].index(column)


# Planted leaks: the model reading today's fee and today's coverage (raw, not their history).
PLANTED_LEAKS = {
    """    select fee_num, fee_sched, code_num, amount, dbt_valid_from as known_from, dbt_valid_to as known_until
    from {{ ref('snap_opendental__fee') }}""":
    """    select fee_num, fee_sched, code_num, amount, timestamp '0001-01-01' as known_from,
           cast(null as timestamp) as known_until
    from {{ ref('stg_opendental__fee') }}""",
    """    select pat_num as patient_id, ins_sub_num, ordinal, dbt_valid_from as known_from,
           dbt_valid_to as known_until
    from {{ ref('snap_opendental__patplan') }}""":
    """    select pat_num as patient_id, ins_sub_num, ordinal, timestamp '0001-01-01' as known_from,
           cast(null as timestamp) as known_until
    from {{ ref('stg_opendental__patplan') }}""",
}


def test_a_planted_leak_is_detected(journey, later_rows_changed, tmp_path):
    """The detector works: the same model reading the current fee and patplan rows instead of their
    history, built on the changed warehouse, moves standard_fee and the coverage features of earlier
    procedures. The real model is built again afterwards."""
    params, target = journey
    before, _, _ = later_rows_changed
    project = tmp_path / "dental_dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    model = project / "models" / "marts" / "fct_treatment_journey.sql"
    text = model.read_text()
    for honest, leaky in PLANTED_LEAKS.items():
        assert honest in text
        text = text.replace(honest, leaky)
    model.write_text(text)
    try:
        run_dbt(params, tmp_path / "leaky_target", "run", "--select", "fct_treatment_journey", project=project)
        leaky = features_until_cutoff(params)
    finally:
        run_dbt(params, target, "run", "--select", "fct_treatment_journey")
    positions = {name: list_index(params, name)
                 for name in ("standard_fee", "fee_ratio", "coverage_count", "has_insurance")}
    moved = {name: sum(1 for key in before if before[key][i] != leaky[key][i]) for name, i in positions.items()}
    assert all(count > 50 for count in moved.values()), moved

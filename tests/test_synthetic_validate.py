"""The ten derived tables, the ground-truth ledger, dirty mode and ``validate`` (issue #3).

In-memory checks share one small practice; the database tests write through the CLI into fresh
databases on the real PostgreSQL and MariaDB servers (``pg_url`` / ``mariadb_url`` from conftest) and
validate them back.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dental_assets.warehouse import PgParams, mark_demo_target
from dental_synthetic import SyntheticConfig, generate, write_parquet
from dental_synthetic.cli import main
from dental_synthetic.dirty import KINDS, make_dirty
from dental_synthetic.validate import check_tables, validate_practice

AS_OF = dt.date(2025, 6, 30)
LATEST_TS = int((dt.datetime.combine(AS_OF, dt.time(23, 59, 59)) - dt.datetime(1970, 1, 1)).total_seconds())
ZERO_DAY = (dt.date(1, 1, 1) - dt.date(1970, 1, 1)).days
ZERO_TS = ZERO_DAY * 86400


@pytest.fixture(scope="module")
def practice():
    return generate(SyntheticConfig(as_of=AS_OF, patients=800, seed=5))


@pytest.fixture(scope="module")
def dirty(practice):
    return make_dirty(practice, 0.02)


def col(t: pa.Table, name: str) -> np.ndarray:
    arr = t.column(name)
    if pa.types.is_date32(arr.type):
        return arr.cast(pa.int32()).to_numpy().astype(np.int64)
    if pa.types.is_timestamp(arr.type):
        return arr.cast(pa.int64()).to_numpy()
    return arr.to_numpy(zero_copy_only=False)


def cents(values) -> np.ndarray:
    return np.rint(np.asarray(values, dtype=np.float64) * 100).astype(np.int64)


# ------------------------------------------------------------------------------------- derived tables

def test_histappointment_tracks_every_appointment_and_deletion(practice):
    t = practice.tables
    hist, apt = t["histappointment"], t["appointment"]
    action = col(hist, "HistApptAction")
    created = set(col(hist, "AptNum")[action == 0].tolist())
    apt_nums = set(col(apt, "AptNum").tolist())
    assert apt_nums <= created
    deleted = set(col(hist, "AptNum")[action == 4].tolist())
    assert deleted and not deleted & apt_nums and deleted <= created
    stamp = col(hist, "HistDateTStamp")
    assert (stamp <= LATEST_TS).all()
    # per appointment, the final status change matches the appointment's status
    status = dict(zip(col(apt, "AptNum").tolist(), col(apt, "AptStatus").tolist()))
    completed = col(hist, "AptNum")[(action == 1) & (col(hist, "AptStatus") == 2)]
    assert all(status[a] == 2 for a in completed.tolist())
    assert (np.diff(col(hist, "HistApptNum")) == 1).all() and (np.diff(stamp) >= 0).all()


def test_notes_plans_statements_schedule_triggers(practice):
    t = practice.tables
    pl = t["procedurelog"]
    done = col(pl, "ProcStatus") == 2
    assert sorted(col(t["procnote"], "ProcNum").tolist()) == sorted(col(pl, "ProcNum")[done].tolist())
    # saved treatment plans carry proctp rows whose amounts add up
    tp = t["proctp"]
    assert np.array_equal(cents(col(tp, "FeeAmt")), cents(col(tp, "PriInsAmt")) + cents(col(tp, "SecInsAmt"))
                          + cents(col(tp, "PatAmt")))
    assert (cents(col(tp, "SecInsAmt")) > 0).any() and (cents(col(tp, "PatAmt")) >= 0).all()
    saved = set(col(t["treatplan"], "TreatPlanNum")[col(t["treatplan"], "TPStatus") == 0].tolist())
    assert set(col(tp, "TreatPlanNum").tolist()) == saved
    # a saved plan is a presentation of diagnosed treatment: procedures planned that day (its DateTP) before
    # they were done, still planned or completed since; work charted complete the day it was planned is on
    # none, nor is a recall (hygiene) visit's own work, nor a deleted procedure (test_saved_plans_...)
    by_num = {n: (st, d_tp, d) for n, st, d_tp, d in zip(col(pl, "ProcNum").tolist(), col(pl, "ProcStatus").tolist(),
                                                        col(pl, "DateTP").tolist(), col(pl, "ProcDate").tolist())}
    plan_day = dict(zip(col(t["treatplan"], "TreatPlanNum").tolist(), col(t["treatplan"], "DateTP").tolist()))
    presented = [by_num[p] + (plan_day[n],) for p, n in zip(col(tp, "ProcNumOrig").tolist(),
                                                           col(tp, "TreatPlanNum").tolist())]
    assert {st for st, _, _, _ in presented} == {1, 2}
    assert all(d_tp == day for st, d_tp, _, day in presented if st != 1)
    assert all(d_tp < d for st, d_tp, d, _ in presented if st == 2)
    # statements: to guarantors with a balance, dated by as_of
    st = t["statement"]
    guar = set(col(t["patient"], "Guarantor").tolist())
    assert set(col(st, "PatNum").tolist()) <= guar
    assert (cents(col(st, "BalTotal")) > 500).all() and (col(st, "DateSent") <= (AS_OF - dt.date(1970, 1, 1)).days).all()
    # provider schedules on weekdays only
    sched = col(t["schedule"], "SchedDate")
    assert ((sched + 3) % 7 < 5).all()
    # recall triggers follow the recall types' procedure lists
    codes = dict(zip(col(t["procedurecode"], "CodeNum").tolist(), t["procedurecode"].column("ProcCode").to_pylist()))
    procs = dict(zip(col(t["recalltype"], "RecallTypeNum").tolist(), t["recalltype"].column("Procedures").to_pylist()))
    for rt, code in zip(col(t["recalltrigger"], "RecallTypeNum").tolist(), col(t["recalltrigger"], "CodeNum").tolist()):
        assert codes[code] in procs[rt].split(",")


def test_saved_plans_present_diagnosed_treatment_only(practice):
    """A saved treatment plan exists only where a user saved one (OpenDental's ControlTreat "Save TP");
    nothing saves a plan when a recall visit is booked, so no procedure of a recall (hygiene) appointment
    (AptNum of an appointment with IsHygiene 1) is on a saved plan, though such procedures are planned
    before they are done; diagnosed treatment planned ahead is, about SAVED_PLAN_RATE of its presentations."""
    from dental_synthetic.extras import SAVED_PLAN_RATE

    t = practice.tables
    pl, ap = t["procedurelog"], t["appointment"]
    hygiene_apt = set(col(ap, "AptNum")[col(ap, "IsHygiene") == 1].tolist())
    on_hygiene_visit = np.isin(col(pl, "AptNum"), list(hygiene_apt))
    ahead = (col(pl, "ProcStatus") == 2) & (col(pl, "DateTP") < col(pl, "ProcDate"))
    assert (ahead & on_hygiene_visit).sum() > 100  # recall visits booked ahead, whose work was done later
    on_plan = np.isin(col(pl, "ProcNum"), col(t["proctp"], "ProcNumOrig"))
    assert not (on_plan & on_hygiene_visit).any()
    assert not (on_plan & (col(pl, "ProcStatus") == 6)).any()
    diagnosed_ahead = ahead & ~on_hygiene_visit
    share = (on_plan & diagnosed_ahead).sum() / diagnosed_ahead.sum()
    assert abs(share - SAVED_PLAN_RATE) < 0.1


def test_diagnosed_treatment_rule():
    """``extras._is_diagnosed`` on hand-made rows: a procedure on a hygiene appointment (a recall visit's
    exam or cleaning) is not diagnosed treatment; one on a dentist's appointment, on a planned appointment
    or on none is; a deleted one is not."""
    from dental_synthetic.extras import _is_diagnosed

    ap = pa.table({"AptNum": [1, 2], "IsHygiene": [1, 0]})
    pl = pa.table({"AptNum": [1, 1, 2, 0, 0], "ProcStatus": [1, 2, 1, 1, 6]})
    assert _is_diagnosed(pl, ap).tolist() == [False, False, True, True, False]


def test_ledger_patient_portion(practice):
    aging = practice.ledger["aging"]
    assert np.array_equal(cents(col(aging, "PatientPortion")),
                          cents(col(aging, "BalTotal")) - cents(col(aging, "InsEst")))


# ------------------------------------------------------------------------------------------- validate

def test_clean_practice_passes_and_a_single_cent_fails(practice):
    report = validate_practice(practice)
    assert report.ok, report.text()
    pt = practice.tables["patient"]
    bal = col(pt, "BalTotal").copy()
    i = int(np.flatnonzero(col(pt, "PatNum") == col(pt, "Guarantor"))[0])
    bal[i] += 0.01
    tables = dict(practice.tables)
    tables["patient"] = pt.set_column(pt.schema.get_field_index("BalTotal"), "BalTotal", pa.array(bal))
    report = check_tables(tables, AS_OF)
    assert [(f.check, f.keys) for f in report.findings] == [("family_balance", [int(col(pt, "PatNum")[i])])]


def test_dirty_mode_every_injection_is_reported(dirty):
    inj = dirty.ledger["injections"]
    assert set(inj.column("Kind").to_pylist()) == set(KINDS)
    report = validate_practice(dirty)
    found = {}
    for f in report.findings:
        found.setdefault((f.check, f.table), set()).update(f.keys)
    for kind, table, check, key in zip(*(inj.column(c).to_pylist() for c in ("Kind", "TableName", "CheckName",
                                                                              "KeyNum"))):
        assert key in found.get((check, table), set()), (kind, table, key)
    assert dirty.dirty_rate == 0.02


def test_dirty_mode_is_deterministic_and_rate_checked(practice, dirty):
    again = make_dirty(practice, 0.02)
    for name in dirty.tables:
        assert dirty.tables[name].equals(again.tables[name]), name
    assert dirty.ledger["injections"].equals(again.ledger["injections"])
    with pytest.raises(ValueError):
        make_dirty(practice, 0)
    with pytest.raises(ValueError):
        make_dirty(practice, 1.5)


def test_parquet_ledger_and_run_file(tmp_path, practice, dirty):
    write_parquet(dirty, tmp_path)
    run = json.loads((tmp_path / "_ledger" / "run.json").read_text())
    assert run["AsOf"] == AS_OF.isoformat() and run["DirtyRate"] == 0.02
    assert run["Injections"] == dirty.ledger["injections"].num_rows
    for name in ("daily", "aging", "injections"):
        assert pq.read_table(tmp_path / "_ledger" / f"{name}.parquet").equals(dirty.ledger[name])
    for name in ("histappointment", "procedurelog", "patient"):  # the tables themselves, read back whole
        table = dirty.tables[name]
        back = pq.read_table(tmp_path / f"{name}.parquet")
        assert back.column_names == table.column_names, name
        assert back.cast(table.schema).equals(table), name  # datetimes come back as timestamp[ms]: same instants


def _marked(url: str) -> str:
    mark_demo_target(PgParams.from_url(url))
    return url


def test_cli_postgres_generate_then_validate(pg_url, capsys):
    _marked(pg_url)
    args = ["generate", "--patients", "400", "--seed", "9", "--as-of", AS_OF.isoformat(), "--target", pg_url]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["validate", "--target", pg_url]) == 0
    assert "every invariant holds" in capsys.readouterr().out
    assert main(args + ["--dirty", "0.05"]) == 0
    printed = capsys.readouterr().out
    assert all(kind in printed for kind in KINDS)
    assert main(["validate", "--target", pg_url]) == 1
    report = capsys.readouterr().out
    for check in ("foreign_key", "status_enum", "amount_range", "date_missing", "claimproc_without_claim",
                  "duplicate_plans", "text_control_chars", "family_balance", "ledger_daily"):
        assert check in report, check
    assert "password" not in report.lower()


def test_cli_mariadb_generate_then_validate(mariadb_url, capsys, monkeypatch):
    from dental_synthetic.mariadb_writer import mark_mariadb_demo_target

    # unmarked: refused before the practice is generated, nothing created
    generated = []
    monkeypatch.setattr("dental_synthetic.cli.generate", lambda config: generated.append(config))
    assert main(["generate", "--patients", "50", "--as-of", AS_OF.isoformat(), "--target", mariadb_url]) == 3
    assert "not marked as a demo target" in capsys.readouterr().err and not generated
    monkeypatch.undo()
    mark_mariadb_demo_target(mariadb_url)
    args = ["generate", "--patients", "300", "--seed", "4", "--as-of", AS_OF.isoformat(), "--target", mariadb_url]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["validate", "--target", mariadb_url]) == 2  # the aging date is not recorded in MariaDB
    assert "--as-of" in capsys.readouterr().err
    assert main(["validate", "--target", mariadb_url, "--as-of", AS_OF.isoformat()]) == 0
    capsys.readouterr()
    assert main(args + ["--dirty", "0.05"]) == 0
    capsys.readouterr()
    assert main(["validate", "--target", mariadb_url, "--as-of", AS_OF.isoformat()]) == 1
    report = capsys.readouterr().out
    for check in ("foreign_key", "status_enum", "amount_range", "date_missing", "claimproc_without_claim",
                  "duplicate_plans", "text_control_chars", "family_balance"):
        assert check in report, check


def test_cli_validates_an_older_opendental_without_a_traceback(mariadb_url, capsys):
    """A database lacking columns the checks read (paysplit.UnearnedType and adjustment.ClinicNum came
    with later OpenDental versions): the families of checks that read them report ``not_checked``,
    naming the column, and the rest still run (a negative fee is found); exit 1, no KeyError."""
    from dental_synthetic.mariadb_writer import mark_mariadb_demo_target
    from test_replication_support import mysql_conn

    mark_mariadb_demo_target(mariadb_url)
    assert main(["generate", "--patients", "300", "--seed", "4", "--as-of", AS_OF.isoformat(),
                 "--target", mariadb_url]) == 0
    conn = mysql_conn(mariadb_url)
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE paysplit DROP COLUMN UnearnedType")
        cur.execute("ALTER TABLE adjustment DROP COLUMN ClinicNum")
        cur.execute("UPDATE procedurelog SET ProcFee = -5 WHERE ProcNum = 1")
    conn.close()
    capsys.readouterr()
    assert main(["validate", "--target", mariadb_url, "--as-of", AS_OF.isoformat()]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    not_checked = [line for line in lines if line.startswith("not_checked")]
    assert not_checked and all("is missing" in line for line in not_checked), out
    assert any("column UnearnedType" in line for line in not_checked), out
    assert "family balances: not checked" in out
    assert any(line.startswith("amount_range") and "procedurelog" in line and "(keys 1)" in line for line in lines), out
    assert "checks not run" in lines[0]


def test_cli_rates_reach_the_config(tmp_path):
    assert main(["generate", "--patients", "200", "--as-of", AS_OF.isoformat(), "--insurance-rate", "0",
                 "--target", str(tmp_path)]) == 0
    assert pq.read_table(tmp_path / "claim.parquet").num_rows == 0
    assert main(["generate", "--patients", "200", "--as-of", AS_OF.isoformat(), "--completion-rate", "0.9",
                 "--broken-rate", "0.2", "--target", str(tmp_path)]) == 2


def test_demo_target_guard_untouched_by_dirty_mode(pg_url, capsys):
    code = main(["generate", "--patients", "100", "--as-of", AS_OF.isoformat(), "--dirty", "0.1",
                 "--target", pg_url])
    assert code == 3
    assert "not marked as a demo target" in capsys.readouterr().err
    params = PgParams.from_url(pg_url)
    conn = params.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name IN ('raw', 'synthetic')")
            assert cur.fetchone()[0] == 0
    finally:
        conn.close()

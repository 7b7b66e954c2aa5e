"""demo_job end to end: the real `dagster job execute` command. A warehouse not marked as a demo target is
refused (here); the demo on the embedded default warehouse runs once, in tests/test_ui_browser.py,
whose checks use ``assert_demo_outputs`` below. CI's ``demo_job`` step runs the demo on a PostgreSQL server
and asserts the same outputs on it (``.ci/run``)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from dental_assets.defs.synthetic.jobs import PARENT_TAG, demo_plan
from dental_assets.warehouse import PgParams

AS_OF = "2026-06-30"
BIN = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parents[1]


def _run_demo(tmp_path: Path, extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "DENTAL_HOME": str(tmp_path / "home"),
        "DENTAL_DATA_DIR": str(tmp_path / "data"),
        "DENTAL_SYNTHETIC_PATIENTS": "300",
        "DENTAL_AS_OF": AS_OF,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **extra_env,
    }
    Path(env["DAGSTER_HOME"]).mkdir(parents=True)
    # the instance `./dev demo` makes: dagster.demo.yaml (DentalInstance, its SQLite storage in this folder)
    shutil.copyfile(REPO_ROOT / "dagster.demo.yaml", Path(env["DAGSTER_HOME"]) / "dagster.yaml")
    return subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-m", "dental_assets.definitions", "-j", "demo_job"],
        env=env, capture_output=True, text=True, timeout=600,
    )


def _scalar(params: PgParams, sql: str):
    conn = params.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0]
    finally:
        conn.close()


def assert_demo_outputs(params: PgParams, tmp_path: Path, as_of: str = AS_OF) -> None:
    """What a finished demo (as of ``as_of``, YYYY-MM-DD) leaves: raw, staging and mart rows that agree to
    the cent, the journey dataset of every year (``tmp_path``/data), the trained models, and its runs in
    the instance (``tmp_path``/dagster_home), all successful and shown on the UI's Overview."""
    year = int(as_of[:4])
    raw = _scalar(params, 'SELECT count(*) FROM raw.procedurelog')
    assert raw > 0
    assert _scalar(params, "SELECT count(*) FROM staging.stg_opendental__procedurelog") == raw
    for table in ("patient", "appointment", "claimproc", "paysplit", "definition"):
        assert _scalar(params, f"SELECT count(*) FROM raw.{table}") > 0, table
    # the mart's gross production equals the raw completed procedures' charge, to the cent
    expected = _scalar(
        params,
        'SELECT round(sum("ProcFee" * ("UnitQty" + "BaseUnits"))::numeric, 2) FROM raw.procedurelog '
        'WHERE "ProcStatus" = 2',
    )
    mart = _scalar(params, "SELECT round(sum(gross_production)::numeric, 2) FROM marts.mart_production_daily")
    assert expected > 0 and mart == expected
    files = sorted((tmp_path / "data" / "processed" / "treatment_journey" / str(year)).glob("*.parquet"))
    assert len(files) == 1 and files[0].name.startswith("treatment_journey_synthetic_")
    years = sorted(p.name for p in (tmp_path / "data" / "processed" / "treatment_journey").iterdir())
    assert years[0] <= str(year - 3) and years[-1] == str(year)  # every year of the practice's history
    assert list((tmp_path / "data" / "models").glob("treatment_journey_target_accepted/*/model.joblib"))
    table = pq.read_table(files[0])
    expected_rows = _scalar(
        params,
        # every procedure of the year with ProcStatus 1, 2, 5 or 6 but the broken-appointment charges
        # (D9986, D9987: not treatment, docs/journey.md)
        "SELECT count(*) FROM raw.procedurelog p LEFT JOIN raw.procedurecode c ON c.\"CodeNum\" = p.\"CodeNum\" "
        "WHERE p.\"ProcStatus\" IN (1, 2, 5, 6) AND coalesce(c.\"ProcCode\", '') NOT IN ('D9986', 'D9987') "
        f"AND p.\"ProcDate\" >= '{year}-01-01' AND p.\"ProcDate\" < '{year + 1}-01-01'",
    )
    assert table.num_rows == expected_rows > 0
    assert "patient_key" in table.column_names and "patient_id" not in table.column_names
    instance = dg.DagsterInstance.from_config(str(tmp_path / "dagster_home"))
    try:
        runs = instance.get_runs()
        # the demo run plus at least one run per planned step (yearly steps: a run per year), all successful
        assert len(runs) >= 1 + len(demo_plan())
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        # the runs the demo launches carry the code location's origin: the UI's Overview timeline
        # leaves out runs without one
        launched = [r for r in runs if r.tags.get(PARENT_TAG)]
        assert len(launched) >= len(demo_plan())
        assert all(r.remote_job_origin is not None
                   and r.remote_job_origin.location_name == "dental_assets.definitions"
                   and r.remote_job_origin.repository_origin.repository_name == "__repository__"
                   for r in launched)
        # one "planned" event per asset of a run, also for the runs over every month (not one per
        # asset and month: thousands of writes before the run starts)
        for run in runs:
            planned = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
            keys = [e.dagster_event.asset_key for e in planned]
            assert len(keys) == len(set(keys)), run.run_id
        for model in ("treatment_journey_models", "no_show_model"):
            assert instance.get_latest_materialization_event(dg.AssetKey([model])), model
        assert instance.get_latest_materialization_event(dg.AssetKey(["opendental", "procedurelog"]))
        assert instance.get_latest_materialization_event(dg.AssetKey(["treatment_journey"]))
    finally:
        instance.dispose()


# demo_job: tests/test_ui_browser.py runs it once, on the embedded warehouse, for its browser checks and
# asserts these outputs on it (test_demo_outputs_on_the_embedded_warehouse), so the suite builds it once;
# .ci/run asserts them on the demo it runs on a PostgreSQL server.


def test_demo_refuses_a_warehouse_not_marked_as_demo(pg_url, tmp_path):
    result = _run_demo(tmp_path, {"DENTAL_WAREHOUSE_URL": pg_url})
    assert result.returncode != 0
    assert "not marked as a demo target" in result.stdout + result.stderr

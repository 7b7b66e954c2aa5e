"""Materializing part of the dbt project in Dagster on a fresh warehouse.

dagster-dbt runs a subset with dbt's default "eager" indirect selection: every test that reads a selected
model runs, so a ``foreign_key`` test between two models runs when only one of them is selected. On a
warehouse where the other was never built, that test can only fail ("relation ... does not exist"),
and with it the run. The dbt assets leave such tests out of the run (``unrunnable_tests``,
``exclude_unrunnable_tests``); once both relations exist, the test runs again and finds an orphan (a
warning: the foreign keys of OpenDental's references warn, docs/dbt.md "Foreign keys").

The PostgreSQL test materializes, in process, a subset of ``dental_dbt_models`` on a fresh database
holding only the raw tables of a 40-patient practice: ``int_procedures`` and the staging views it reads,
but not ``int_patients`` or ``int_appointments`` (parents of its foreign keys) nor ``int_adjustments``
(whose foreign key reads ``int_procedures``).
"""

import datetime as dt
import json

import dagster as dg
import pytest

import dental_synthetic
from dbt_runner import query_rows as rows, run_dbt
from dental_assets.defs.dbt import assets as dbt_assets_module
from dental_assets.defs.dbt.assets import (RUN_FOLDER_NAME, dbt_project, dbt_resource, dental_dbt_models,
                                           unrunnable_tests)
from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource
from dental_assets.warehouse import PgParams, mark_demo_target
from test_replication_support import raw_lock_waiters

AS_OF = dt.date(2025, 6, 30)
INT_PROCEDURES = dg.AssetKey(["intermediate", "int_procedures"])
SUBSET = [dg.AssetKey(["staging", name]) for name in
          ("stg_opendental__procedurelog", "stg_opendental__procedurecode", "stg_opendental__definition")]
SUBSET.append(INT_PROCEDURES)
FK_TO_PATIENTS = "foreign_key_int_procedures_patient_id__patient_id__ref_int_patients_"


# ----------------------------------------------------------------------------------- pure function

def _manifest() -> dict:
    """A child model with a foreign key to a parent model that is not its ancestor, and a source."""
    def model(name, schema="intermediate"):
        return {"resource_type": "model", "name": name, "schema": schema, "alias": name,
                "config": {"materialized": "table"}}
    nodes = {
        "model.p.stg": model("stg", "staging"),
        "model.p.child": model("child"),
        "model.p.parent": model("parent"),
        "test.p.fk_child_parent": {"resource_type": "test", "name": "fk_child_parent"},
        "test.p.unique_child": {"resource_type": "test", "name": "unique_child"},
        "test.p.unique_parent": {"resource_type": "test", "name": "unique_parent"},
    }
    parent_map = {
        "model.p.stg": ["source.p.raw.t"], "model.p.child": ["model.p.stg"], "model.p.parent": [],
        "test.p.fk_child_parent": ["model.p.child", "model.p.parent"],
        "test.p.unique_child": ["model.p.child"], "test.p.unique_parent": ["model.p.parent"],
    }
    sources = {"source.p.raw.t": {"schema": "raw", "identifier": "T", "name": "t"}}
    return {"nodes": nodes, "parent_map": parent_map, "sources": sources}


def test_a_foreign_key_to_a_relation_that_is_neither_built_nor_present_is_left_out():
    manifest = _manifest()
    built = {"model.p.stg", "model.p.child"}
    assert unrunnable_tests(manifest, built, set(), {"raw.t"}) == {
        "fk_child_parent": ["intermediate.parent"]}
    # the parent exists from an earlier run: the test runs (eager selection keeps its coverage)
    assert unrunnable_tests(manifest, built, set(), {"raw.t", "intermediate.parent"}) == {}
    # built in the same run: dbt runs the test after both
    assert unrunnable_tests(manifest, built | {"model.p.parent"}, set(), {"raw.t"}) == {}


def test_the_other_direction_and_explicit_checks_are_covered_too():
    manifest = _manifest()
    # only the parent is built, the child never was: its foreign key cannot run either
    assert unrunnable_tests(manifest, {"model.p.parent"}, set(), set()) == {
        "fk_child_parent": ["intermediate.child"]}
    # a check run on its own (no model built) whose table is absent
    assert unrunnable_tests(manifest, set(), {"test.p.unique_child"}, set()) == {
        "unique_child": ["intermediate.child"]}
    # a test that reads nothing of the run is not the run's business
    assert unrunnable_tests(manifest, {"model.p.stg"}, set(), set()) == {}
    # a missing source is reported under its identifier, lower case
    assert unrunnable_tests(manifest, {"model.p.child"}, {"test.p.fk_child_parent"},
                            {"intermediate.parent"}) == {}
    manifest["parent_map"]["test.p.unique_child"] = ["model.p.child", "source.p.raw.t"]
    assert unrunnable_tests(manifest, {"model.p.child"}, set(), {"intermediate.parent"}) == {
        "unique_child": ["raw.t"]}


# ----------------------------------------------------------------------------- against PostgreSQL

@pytest.fixture
def fresh(pg_url, tmp_path, monkeypatch):
    """A fresh warehouse holding only raw (a 40-patient practice), the dbt assets' resources, and a
    dbt target folder of this test's own (``DBT_TARGET_PATH``: the dbt assets run dbt in a subfolder of
    it per run, each starting from the latest run's parse, ``partial_parse_cache``)."""
    params = PgParams.from_url(pg_url)
    mark_demo_target(params)
    practice = dental_synthetic.generate(dental_synthetic.SyntheticConfig(patients=40, seed=5, as_of=AS_OF))
    dental_synthetic.write_postgres_raw(practice, params)
    target = tmp_path / "dbt_target"
    target.mkdir()
    monkeypatch.setenv("DBT_TARGET_PATH", str(target))
    monkeypatch.setenv("DENTAL_RUN_FOLDERS_KEEP", "1")
    resources = {"dbt": dbt_resource(), "warehouse": WarehouseResource(url=pg_url),
                 "opendental": OpenDentalSourceResource(synthetic_as_of=AS_OF.isoformat())}
    return params, resources, target


def _materialize(resources, keys) -> dg.ExecuteInProcessResult:
    """One in-process run of ``keys`` of ``dental_dbt_models``."""
    return dg.materialize([dental_dbt_models], selection=keys, resources=resources, raise_on_error=False)


def _column_schema(result, key: dg.AssetKey) -> list[dg.TableColumn]:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return event.materialization.metadata["dagster/column_schema"].schema.columns


def _checks(result) -> dict[str, bool]:
    return {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}


def _failures(result) -> str:
    return "\n".join(str(e.event_specific_data.error) for e in result.all_events
                     if e.event_type_value == "STEP_FAILURE")


def test_a_subset_on_a_fresh_warehouse(fresh, monkeypatch, tmp_path):
    """The subset builds, leaving out the foreign keys to models that do not exist; without that, it
    fails; once both models exist, the foreign key runs and finds a real orphan (its check fails at
    severity WARN: OpenDental does not enforce the key, so the run goes on)."""
    params, resources, target = fresh

    # 1. int_procedures and its staging views, nothing else built before
    result = _materialize(resources, SUBSET)
    assert result.success, _failures(result)
    checks = _checks(result)
    assert checks and all(checks.values())
    # the foreign key to a view built in the run ran; the ones to models never built did not
    assert "foreign_key_int_procedures_code_id__code_num__ref_stg_opendental__procedurecode_" in checks
    assert FK_TO_PATIENTS not in checks
    assert rows(params, "SELECT count(*) FROM intermediate.int_procedures")[0][0] > 0
    assert rows(params, "SELECT to_regclass('intermediate.int_patients')")[0][0] is None
    # the materialization carries the built table's columns with their database types (the UI's
    # Columns table) and the descriptions of the dbt YAML
    columns = _column_schema(result, INT_PROCEDURES)
    assert [c.name for c in columns] == [r[0] for r in rows(
        params, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'intermediate' "
        "AND table_name = 'int_procedures' ORDER BY ordinal_position")]
    by_name = {c.name: c for c in columns}
    assert by_name["procedure_id"].type in ("bigint", "integer")
    assert by_name["procedure_charge"].type.startswith("numeric")
    assert by_name["procedure_id"].description == "procedurelog.ProcNum."
    # the run built the models and ran their data tests, not their dbt unit tests (the project has some
    # for int_procedures and stg_opendental__procedurecode; test_marts_dirty runs every one)
    manifest = json.loads(dbt_project.manifest_path.read_text())
    assert {"int_procedures", "stg_opendental__procedurecode"} <= {u["model"] for u in manifest["unit_tests"].values()}
    [folder] = [p for p in target.iterdir() if RUN_FOLDER_NAME.match(p.name)]
    ran = {r["unique_id"].split(".")[0] for r in json.loads((folder / "run_results.json").read_text())["results"]}
    assert ran == {"model", "test"}

    # 2. the problem, reproduced: the same subset with dagster-dbt's selection alone (eager indirect
    # selection, nothing excluded) runs that foreign key, and the run fails
    with monkeypatch.context() as patched:
        patched.setattr(dbt_assets_module, "exclude_unrunnable_tests", lambda context, warehouse: [])
        result = _materialize(resources, SUBSET)
    assert not result.success
    assert "does not exist" in _failures(result), _failures(result)

    # 3. the parents' first build (dbt run, no tests), then a real orphan: a procedure of a patient
    # int_patients does not hold. Rebuilding int_procedures alone now runs its foreign key to
    # int_patients (both relations exist), which finds it: its check fails at severity warn (OpenDental
    # enforces no such key; mart_data_exceptions lists the row) and the run succeeds
    run_dbt(params, tmp_path / "cli_target", "run", "--select", "+int_patients", "+int_appointments",
            "stg_opendental__clinic", "stg_opendental__provider")
    conn = params.connect()
    with conn.cursor() as cur:
        cur.execute('UPDATE raw.procedurelog SET "PatNum" = 999999 WHERE "ProcNum" = '
                    '(SELECT min("ProcNum") FROM raw.procedurelog)')
    conn.commit()
    conn.close()
    result = _materialize(resources, [INT_PROCEDURES])
    assert result.success, _failures(result)
    checks = _checks(result)
    assert checks.get(FK_TO_PATIENTS) is False, checks
    severities = {e.asset_check_key.name: e.severity for e in result.get_asset_check_evaluations()}
    assert severities[FK_TO_PATIENTS] == dg.AssetCheckSeverity.WARN
    assert [name for name, passed in checks.items() if not passed] == [FK_TO_PATIENTS]
    # each run pruned the run folders: of the three runs' folders, the latest one is left
    assert len([p for p in target.iterdir() if RUN_FOLDER_NAME.match(p.name)]) == 1
    # dbt wrote no file log there (DBT_LOG_LEVEL_FILE=none: its JSON debug lines cost the dbt step
    # 15-25% of its CPU), unless the environment asks for one
    assert not list(target.glob("*/dbt.log")), sorted(p.name for p in target.glob("*/dbt.log"))


def test_dbt_file_log_is_off_unless_the_environment_sets_it(monkeypatch):
    from dental_assets.defs.dbt.assets import dbt_file_log_env

    monkeypatch.delenv("DBT_LOG_LEVEL_FILE", raising=False)
    assert dbt_file_log_env() == {"DBT_LOG_LEVEL_FILE": "none"}
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")
    assert dbt_file_log_env() == {}


def test_a_dbt_build_waits_for_a_raw_write_in_progress(fresh):
    """A sync's transaction writing raw is open (``warehouse.lock_raw_for_write``): a dbt build started
    meanwhile waits for it before dbt reads raw (its session waits on the lock; the run logs why), then
    builds once it commits. Without the wait, the sync's commit could land between a mart's build and the
    tests that compare it with the staged rows, failing them falsely."""
    import threading
    import time

    from dental_assets.defs.dbt.assets import RAW_WRITE_WAIT
    from dental_assets.warehouse import lock_raw_for_write

    params, resources, _ = fresh
    writer = params.connect()
    with writer.cursor() as cur:
        lock_raw_for_write(cur)
    results, instance = [], dg.DagsterInstance.ephemeral()
    build = threading.Thread(target=lambda: results.append(dg.materialize(
        [dental_dbt_models], selection=SUBSET[:1], resources=resources, instance=instance, raise_on_error=False)))
    build.start()
    try:
        deadline = time.monotonic() + 120
        while not raw_lock_waiters(params, "ShareLock") and build.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert raw_lock_waiters(params, "ShareLock") == 1 and build.is_alive()
    finally:
        writer.commit()
        writer.close()
    build.join(300)
    [result] = results
    assert result.success, _failures(result)
    assert [e.user_message for e in instance.all_logs(result.run_id) if RAW_WRITE_WAIT in e.user_message]

"""A fresh Dagster instance over a warehouse whose raw layer is already synced.

The situation of a deployment whose Dagster storage is new (a first install over a warehouse ``dental
sync`` filled from cron without ``DAGSTER_HOME``, instance storage moved or wiped, a second instance
beside the demo's): raw holds every table, and this instance has no materialization of any of them.

First, with Dagster's own evaluation (``dg.evaluate_automation_conditions``), what the dbt models'
condition (``policies.dbt_condition``: ``eager()`` without its latest-window operand, and the inputs'
blocking checks passed) does on such an instance: nothing, tick after tick, day after day. A model that
is missing when the condition first evaluates it is never requested for being missing (``eager()``'s
``newly_missing().since_last_handled()`` is reset by that first evaluation, ``initial_evaluation``);
it is requested only when an input gets a new materialization *in this instance*, and then only once
no partition of any input is missing there (``~any_deps_missing()``). The warehouse's rows are invisible
to it.

Then, against the real servers, what records raw in such an instance: the change sensor's first tick
requests every raw table, every month, once (``sensors._with_unrecorded``: a persistent instance that has
no materialization of a table gets all of it; before, a table Dagster had never recorded was left to
the fingerprints, which found nothing, so the sensor skipped with "raw equals the source's fingerprints"
at every tick and no model reading an unchanged table was ever requested). Those runs sync nothing new
(raw already equals the source) and their checks pass; the automation's next tick then requests the
dbt graph (a model whose input is requested in the same tick does not wait for that input's checks:
they run in the input's run, and a failure there skips the model).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from dagster_instances import dental_instance_for_test

STG_PROCEDURELOG = dg.AssetKey(["staging", "stg_opendental__procedurelog"])
STG_PATIENT = dg.AssetKey(["staging", "stg_opendental__patient"])
INT_PATIENTS = dg.AssetKey(["intermediate", "int_patients"])
RAW_PROCEDURELOG = dg.AssetKey(["opendental", "procedurelog"])
RAW_PATIENT = dg.AssetKey(["opendental", "patient"])
DAYS_WAITED = 3
MAX_TICKS = 12
MART = dg.AssetKey(["marts", "mart_production_daily"])


def _record(instance, graph, key, partitions=None) -> None:
    """Materializations of ``key`` (``partitions``: those; None: unpartitioned) and its blocking checks
    passing, recorded in ``instance`` as a run of it records them."""
    from test_automation import _materialize_runless

    _materialize_runless(instance, graph, key, checks_pass=True, partitions=partitions or [None])


def _requested(result) -> set[dg.AssetKey]:
    return {r.key for r in result.results if r.true_subset.size and isinstance(r.key, dg.AssetKey)}


def test_on_a_fresh_instance_the_dbt_models_wait_until_raw_is_recorded_in_it(defs, graph):
    """No raw event in the instance: nothing is requested, at the first tick or days later. One month of
    procedurelog recorded (what the change sensor records on such an instance for a changed month): its
    staging model still waits (the other months are missing). Every month recorded: requested, with the
    patient chain, in one tick. So the models run only once raw is recorded in this very instance."""
    assert graph.get(STG_PROCEDURELOG).parent_keys == {RAW_PROCEDURELOG}
    assert graph.get(STG_PATIENT).parent_keys == {RAW_PATIENT}
    assert graph.get(INT_PATIENTS).parent_keys == {STG_PATIENT}
    months = graph.get(RAW_PROCEDURELOG).partitions_def.get_partition_keys()
    assert graph.get(RAW_PATIENT).partitions_def is None and len(months) > 1
    selection = dg.AssetSelection.assets(STG_PROCEDURELOG, STG_PATIENT, INT_PATIENTS)
    now = dt.datetime.now(dt.timezone.utc)
    with dental_instance_for_test() as instance:
        assert not instance.is_ephemeral
        cursor = None
        for day in range(DAYS_WAITED + 1):
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                       cursor=cursor, evaluation_time=now + dt.timedelta(days=day))
            assert result.total_requested == 0, day
            cursor = result.cursor

        _record(instance, graph, RAW_PROCEDURELOG, [months[-3]])
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                   cursor=cursor, evaluation_time=now + dt.timedelta(days=DAYS_WAITED))
        assert result.total_requested == 0  # updated, but the other months of its input are missing
        cursor = result.cursor

        _record(instance, graph, RAW_PROCEDURELOG, [m for m in months if m != months[-3]])
        _record(instance, graph, RAW_PATIENT)
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                   cursor=cursor, evaluation_time=now + dt.timedelta(days=DAYS_WAITED))
        # int_patients too, in the same tick: the blocking checks of its input have never run here, but they
        # run in the input's run (before, it waited a tick more, while the models beside it did not)
        assert _requested(result) == {STG_PROCEDURELOG, STG_PATIENT, INT_PATIENTS}


# ------------------------------------------------------------------------------ against the real servers

@pytest.fixture(scope="module")
def practice():
    from dental_synthetic import SyntheticConfig, generate

    return generate(SyntheticConfig(as_of=dt.date(2025, 6, 30), patients=40, seed=5))


@pytest.fixture
def synced(mariadb_url, pg_url, practice, monkeypatch):
    """The practice in MariaDB and raw synced from it by ``dental sync`` without ``DAGSTER_HOME`` (no
    Dagster run: nothing recorded anywhere)."""
    from dental_assets import cli
    from dental_synthetic.mariadb_writer import mark_mariadb_demo_target, write_mariadb

    mark_mariadb_demo_target(mariadb_url)
    write_mariadb(practice, mariadb_url)
    monkeypatch.setenv("DENTAL_SOURCE", "opendental")
    monkeypatch.setenv("OPENDENTAL_URL", mariadb_url)
    monkeypatch.setenv("DENTAL_WAREHOUSE_URL", pg_url)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert cli.main(["sync"]) == 0
    return mariadb_url, pg_url


def test_the_change_sensor_records_a_synced_warehouse_once_so_the_dbt_models_run(synced, defs, graph, tmp_path,
                                                                                  monkeypatch):
    from dental_assets.catalog import raw_tables
    from dental_assets.defs.raw.assets import raw_asset_key
    from dental_assets.defs.raw.sensors import raw_change_sensor
    from dental_assets.defs.resources import OpenDentalSourceResource, WarehouseResource
    from dental_assets.instance import ephemeral_instance
    from dental_assets.partitions import monthly_partitions
    from test_replication_support import persistent_dagster_home, run_raw_request

    source_url, pg_url = synced
    resources = {"opendental": OpenDentalSourceResource(kind="opendental", url=source_url),
                 "warehouse": WarehouseResource(url=pg_url)}
    months = monthly_partitions.get_partition_keys()
    reference = {t.name for t in raw_tables() if not t.partitioned}
    partitioned = {t.name for t in raw_tables() if t.partitioned}
    # an instance that keeps nothing (the tests', bench's) is asked for what differs only, as before
    assert isinstance(raw_change_sensor(dg.build_sensor_context(instance=ephemeral_instance(),
                                                                resources=resources)), dg.SkipReason)

    home = persistent_dagster_home(monkeypatch, tmp_path)
    dbt_models = dg.AssetSelection.groups("dbt_staging", "dbt_intermediate", "dbt_marts", "dbt_snapshots")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # the automation sensor's first tick on the new instance: nothing (raw unknown to it)
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=dbt_models)
        assert first.total_requested == 0

        requests = raw_change_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(requests, list), requests  # (before: "raw equals the source's fingerprints")
        by_range = {(r.partition_key, r.tags.get("dagster/asset_partition_range_start"),
                     r.tags.get("dagster/asset_partition_range_end")): {k.path[-1] for k in r.asset_selection}
                    for r in requests}
        assert by_range == {(None, None, None): reference, (None, months[0], months[-1]): partitioned}
        assert all(r.run_key for r in requests)

        for request in requests:
            run = run_raw_request(request, resources, instance)
            assert run.success
            assert all(e.passed for e in run.get_asset_check_evaluations())
        for name in partitioned:
            assert instance.get_materialized_partitions(raw_asset_key(name)) == set(months), name
        for name in reference:
            assert instance.get_latest_materialization_event(raw_asset_key(name)) is not None, name

        again = raw_change_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(again, dg.SkipReason) and again.skip_message == "raw equals the source's fingerprints"

        # the automation's next tick: every unpartitioned dbt model at once (a model whose input is requested
        # in the same tick does not wait for that input's checks; until 2026-12-06 it waited a tick per
        # layer); the tick after it the monthly facts, which cannot share their inputs' run (each tick's runs
        # recorded as their runs would record them)
        staging = {k for k in dbt_models.resolve(graph) if k.path[0] == "staging"}
        cursor, ticks = first.cursor, []
        for _ in range(MAX_TICKS):
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=dbt_models,
                                                       cursor=cursor)
            cursor, keys = result.cursor, _requested(result)
            if not keys:
                break
            ticks.append(keys)
            for key in (k for k in graph.toposorted_asset_keys if k in keys):  # a run builds inputs first
                partitions_def = graph.get(key).partitions_def
                _record(instance, graph, key, partitions_def.get_partition_keys() if partitions_def else None)
        assert ticks and staging <= ticks[0]
        monthly = {k for k in dbt_models.resolve(graph) if graph.get(k).partitions_def is not None}
        assert monthly and ticks[1:] == [monthly], [len(keys) for keys in ticks]
        built = set().union(*ticks)
        assert MART in built
        assert built == dbt_models.resolve(graph), sorted(map(str, dbt_models.resolve(graph) - built))

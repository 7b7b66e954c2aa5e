"""Automation: freshness policies, automation conditions, the nightly schedule and the failure alerts.

Evaluated with Dagster's own machinery on temporary instances on this project's SQLite instance storage
(``dental_instance_for_test``):
``dg.evaluate_automation_conditions`` for the automation sensor's conditions, ``dg.build_schedule_context``
for the schedule and ``dg.build_run_status_sensor_context`` for the run-failure sensor, whose webhook is
a real HTTP server on loopback.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading

import dagster as dg
import pytest
from dagster_instances import dental_instance_for_test

from dental_assets.defs.automation import policies
from dental_assets.defs.automation.ancestor_checks import AncestorsBlockingChecksPassed, nested_operators
from dagster._core.definitions.freshness import CronFreshnessPolicy, TimeWindowFreshnessPolicy

from dental_assets.defs.automation.alerts import AlertWebhookResource, alerts_path, dental_run_failure_alerts

STAGING_PATIENT = dg.AssetKey(["staging", "stg_opendental__patient"])
INT_PATIENTS = dg.AssetKey(["intermediate", "int_patients"])


# ----------------------------------------------------------------------------------- policies on specs

def test_every_asset_has_a_freshness_policy_suited_to_its_layer(graph):
    layers = set()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        policy = node.freshness_policy
        assert policy is not None, f"{key.to_user_string()} has no freshness policy"
        if node.group_name == "journey":
            assert isinstance(policy, CronFreshnessPolicy), key
            assert policy.deadline_cron == policies.JOURNEY_DEADLINE_CRON
            layers.add("journey")
        else:
            assert isinstance(policy, TimeWindowFreshnessPolicy), key
            assert policy.fail_window.to_timedelta() == policies.DAILY_FAIL
            assert policy.warn_window.to_timedelta() == policies.DAILY_WARN
            layers.add("raw" if key.path[0] == "opendental" else key.path[0])
    assert {"raw", "staging", "intermediate", "marts", "journey"} <= layers


def test_dbt_models_are_eager_and_journey_monthly(graph):
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if (node.group_name or "").startswith("dbt"):
            assert node.automation_condition is not None, key
            assert node.automation_condition.get_label() == "eager_after_passing_checks"
    journey = graph.get(dg.AssetKey(["treatment_journey"]))
    assert journey.automation_condition.get_label() == "monthly_after_passing_checks"
    # The raw layer is driven by the replication's change sensor, not by these conditions.
    raw = graph.get(dg.AssetKey(["opendental", "procedurelog"]))
    assert raw.automation_condition is None or raw.automation_condition.get_label() != "eager_after_passing_checks"


def test_a_policy_already_on_a_spec_is_kept_and_unknown_groups_fail():
    own = dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=1))
    spec = dg.AssetSpec("x", group_name="dbt_marts", freshness_policy=own)
    assert policies.apply_operational_policies(spec).freshness_policy == own
    with pytest.raises(policies.UnknownAssetGroupError, match="no freshness policy"):
        policies.apply_operational_policies(dg.AssetSpec("y", group_name="elsewhere"))


def test_dbt_tests_of_severity_error_are_blocking_checks(graph):
    blocking = [c for c in graph.asset_check_keys if c.asset_key == STAGING_PATIENT
                and graph.get_check_spec(c).blocking]
    assert blocking, "stg_opendental__patient has no blocking dbt test"


# ---------------------------------------------------------------------- the automation sensor's ticks

def _blocking_checks(graph, key):
    return [c for c in graph.asset_check_keys if c.asset_key == key and graph.get_check_spec(c).blocking]


def _report_checks(instance, graph, key, *, passed: bool) -> None:
    """Every blocking check of ``key`` evaluated, passed or failed."""
    for check in _blocking_checks(graph, key):
        instance.report_runless_asset_event(dg.AssetCheckEvaluation(
            asset_key=key, check_name=check.name, passed=passed, severity=dg.AssetCheckSeverity.ERROR))


def _materialize_runless(instance, graph, key, *, checks_pass: bool, partitions=(None,)):
    for partition in partitions:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=partition))
    _report_checks(instance, graph, key, passed=checks_pass)


def _ancestors_of(graph, keys) -> set:
    """``keys`` and every asset they are built from."""
    todo, seen = list(keys), set()
    while todo:
        key = todo.pop()
        if key not in seen:
            seen.add(key)
            todo.extend(graph.get(key).parent_keys)
    return seen


def _materialize_with_ancestors_runless(instance, graph, keys, *, latest_only: bool = False):
    """``keys`` and every asset they are built from, each partition (only the latest with ``latest_only``),
    their blocking checks passing: a graph built once and checked."""
    for key in _ancestors_of(graph, keys):
        partitions_def = graph.get(key).partitions_def
        months = partitions_def.get_partition_keys() if partitions_def is not None else [None]
        _materialize_runless(instance, graph, key, checks_pass=True, partitions=months[-1:] if latest_only else months)


@pytest.mark.parametrize("checks_pass", [True, False])
def test_a_dbt_model_runs_after_its_input_updates_unless_a_blocking_check_failed(defs, graph, checks_pass):
    selection = dg.AssetSelection.assets(INT_PATIENTS)
    assert graph.get(INT_PATIENTS).parent_keys == {STAGING_PATIENT}
    with dental_instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
        assert first.total_requested == 0  # its input was never materialized

        _materialize_with_ancestors_runless(instance, graph, graph.get(STAGING_PATIENT).parent_keys)

        _materialize_runless(instance, graph, STAGING_PATIENT, checks_pass=checks_pass)
        second = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=first.cursor
        )
        assert second.get_num_requested(INT_PATIENTS) == (1 if checks_pass else 0)

        if checks_pass:  # handled: no second request until the input updates again
            third = dg.evaluate_automation_conditions(
                defs=defs, instance=instance, asset_selection=selection, cursor=second.cursor
            )
            assert third.get_num_requested(INT_PATIENTS) == 0


def _built_asset(graph, key: dg.AssetKey, while_building=None):
    """A stand-in under ``key`` whose run yields what a real build of it yields for the automation: its
    materialization and its blocking checks passed. Materialized with ``dg.materialize``: real Dagster runs
    and run tags on the test instance (the automation reads runs and events, not the data).
    ``while_building``: called inside the run, before it yields (what happens while the run builds)."""
    checks = _blocking_checks(graph, key)

    @dg.asset(key=key, check_specs=[dg.AssetCheckSpec(c.name, asset=key, blocking=True) for c in checks])
    def built():
        if while_building is not None:
            while_building()
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(check_name=c.name, passed=True)
                                                   for c in checks])

    return built


@pytest.mark.parametrize("runs, rebuilt", [(["keep_fresh"], 0), (["sync"], 1), (["sync", "keep_fresh"], 1),
                                          (["keep_fresh", "sync"], 1)],
                         ids=["keep_fresh", "sync", "sync-then-keep_fresh", "keep_fresh-then-sync"])
def test_a_keep_fresh_sync_of_an_input_rebuilds_nothing_and_any_other_sync_does(defs, graph, runs, rebuilt):
    # The nightly raw backstop's keep-fresh runs sync tables it found equal to the source: when every run
    # that updated an input since the last tick is tagged KEEP_FRESH_TAG, the input does not count as
    # updated (the nightly dbt backstop rebuilds the models an hour later); a sync without the tag counts,
    # also when a keep-fresh run of the same table follows it before the tick.
    from dental_assets.defs.raw.sensors import KEEP_FRESH_TAG, SOURCE_TAG

    (raw_patient,) = graph.get(STAGING_PATIENT).parent_keys
    assert raw_patient.path[0] == "opendental" and graph.get(raw_patient).partitions_def is None
    assert _blocking_checks(graph, raw_patient), "raw.patient has no blocking check"
    selection = dg.AssetSelection.assets(STAGING_PATIENT)
    synced_patient_table = _built_asset(graph, raw_patient)
    with dental_instance_for_test() as instance:
        _materialize_with_ancestors_runless(instance, graph, [STAGING_PATIENT])
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
        assert first.total_requested == 0
        for run in runs:
            tags = SOURCE_TAG | (KEEP_FRESH_TAG if run == "keep_fresh" else {})
            assert dg.materialize([synced_patient_table], instance=instance, tags=tags).success
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                   cursor=first.cursor)
    assert second.get_num_requested(STAGING_PATIENT) == rebuilt


def test_the_automation_sensor_is_evaluated_in_the_code_location(defs):
    # The dbt condition has Python operands (stale_builds.py, ancestor_checks.py), which Dagster's daemon
    # cannot evaluate: the sensor runs in the code location, where Dagster refuses more than 500 conditioned
    # assets and checks.
    sensor = defs.resolve_sensor_def("dental_automation_sensor")
    with dental_instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def())
        tick = sensor.evaluate_tick(context)
    assert tick.run_requests == [] and tick.cursor


@pytest.mark.parametrize("sync, rebuilt", [
    ("before_the_build", 0), ("during_the_build", 1), ("during_the_build_with_a_tick", 1),
    ("after_the_build", 1), ("keep_fresh_during_the_build", 0), ("none", 0),
])
def test_an_input_synced_after_its_models_build_started_gets_the_model_built_again(defs, graph, sync, rebuilt):
    # A sync of raw.patient; the tick requests stg_opendental__patient; its run builds it. A second sync of
    # raw.patient commits before that run starts, while it builds (with or without a tick in between, the
    # model in progress then) or after it ends, all before the next tick. Dagster's eager() let the model's
    # update swallow the second sync's: nothing requested, at that tick or any after. A second sync after the
    # build's start now requests the model again (unless the nightly backstop's keep-fresh run made it), and
    # the build after it ends the chain.
    from dental_assets.defs.raw.sensors import KEEP_FRESH_TAG, SOURCE_TAG

    (raw_patient,) = graph.get(STAGING_PATIENT).parent_keys
    selection = dg.AssetSelection.assets(STAGING_PATIENT)
    synced_patient_table = _built_asset(graph, raw_patient)
    with dental_instance_for_test() as instance:
        cursor = None

        def tick():
            nonlocal cursor
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                       cursor=cursor)
            cursor = result.cursor
            return result.get_num_requested(STAGING_PATIENT)

        def second_sync():
            tags = SOURCE_TAG | (KEEP_FRESH_TAG if sync.startswith("keep_fresh") else {})
            assert dg.materialize([synced_patient_table], instance=instance, tags=tags).success

        def during_the_build():
            if "during_the_build" in sync:
                second_sync()
            if sync.endswith("with_a_tick"):
                assert tick() == 0  # the model is in progress

        _materialize_with_ancestors_runless(instance, graph, [STAGING_PATIENT])
        assert tick() == 0
        assert dg.materialize([synced_patient_table], instance=instance, tags=SOURCE_TAG).success
        assert tick() == 1
        if sync == "before_the_build":
            second_sync()
        assert dg.materialize([_built_asset(graph, STAGING_PATIENT, during_the_build)], instance=instance).success
        if sync == "after_the_build":
            second_sync()
        assert tick() == rebuilt
        assert dg.materialize([_built_asset(graph, STAGING_PATIENT)], instance=instance).success
        assert tick() == 0  # a build that started after every sync handles them


def test_an_input_built_in_the_models_own_run_of_a_whole_job_is_not_a_missed_update(defs, graph):
    # A run of a whole asset job (dbt_job by its schedule or by hand) records no asset selection, so
    # Dagster's executed_with_root_target cannot tell that int_patients' input was built in its own run,
    # before it. built_before_an_input_update compares run ids: int_patients is not requested again.
    selection = dg.AssetSelection.assets(INT_PATIENTS)
    stand_ins = [_built_asset(graph, STAGING_PATIENT), _built_asset(graph, INT_PATIENTS)]
    job = dg.define_asset_job("whole_job", selection=[STAGING_PATIENT, INT_PATIENTS])
    with dental_instance_for_test() as instance:
        _materialize_with_ancestors_runless(instance, graph, [INT_PATIENTS])
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
        run = dg.Definitions(assets=stand_ins, jobs=[job]).resolve_job_def("whole_job").execute_in_process(
            instance=instance)
        assert run.success and not run.dagster_run.asset_selection
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                   cursor=first.cursor)
    assert second.get_num_requested(INT_PATIENTS) == 0


@pytest.mark.parametrize("nightly", [True, False], ids=["nightly_backstop", "by_hand"])
def test_the_nightly_dbt_job_does_not_make_the_automation_rebuild_the_facts(defs, graph, nightly):
    # dbt_job (04:30) rebuilds the intermediate models the facts read; dbt_facts_job rebuilds every month
    # of the facts at 04:45. The automation used to request every month right after dbt_job too. Its run
    # (tagged as nightly_dbt_backstop tags it) no longer counts; the same build by hand still does.
    from dental_assets.defs.automation.schedules import NIGHTLY_BACKSTOP_TAG

    fact = dg.AssetKey(["marts", "fct_procedure"])
    parents = sorted(graph.get(fact).parent_keys)
    assert parents and all(graph.get(p).partitions_def is None for p in parents)
    selection = dg.AssetSelection.assets(fact)
    with dental_instance_for_test() as instance:
        _materialize_with_ancestors_runless(instance, graph, [fact])
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
        assert first.total_requested == 0
        tags = {**NIGHTLY_BACKSTOP_TAG, "dental/night": "2025-06-30"} if nightly else {}
        assert dg.materialize([_built_asset(graph, p) for p in parents], instance=instance, tags=tags).success
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                   cursor=first.cursor)
    months = graph.get(fact).partitions_def.get_partition_keys()
    assert second.get_requested_partitions(fact) == (set() if nightly else set(months))


def test_a_partitioned_dbt_model_refreshes_every_month_its_inputs_touch_not_only_the_latest(defs, graph):
    # Dagster's eager() alone requests only the latest month of a monthly model: an edit to an old
    # procedure would never reach that month of the fact. An unpartitioned input counts for every month.
    facts = [k for k in graph.get_all_asset_keys() if k.path[0] != "opendental"
             and graph.get(k).partitions_def is not None and graph.get(k).group_name.startswith("dbt")]
    assert facts, "no monthly-partitioned dbt model"
    fact = sorted(facts)[0]
    parents = graph.get(fact).parent_keys
    assert parents and all(graph.get(p).partitions_def is None for p in parents)
    months = graph.get(fact).partitions_def.get_partition_keys()
    selection = dg.AssetSelection.assets(fact)
    with dental_instance_for_test() as instance:
        _materialize_with_ancestors_runless(instance, graph, parents)
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
        assert first.total_requested == 0  # the first tick only records the state
        _materialize_runless(instance, graph, sorted(parents)[0], checks_pass=True)
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                   cursor=first.cursor)
        assert second.get_requested_partitions(fact) == set(months)


RAW_PROCEDURELOG = dg.AssetKey(["opendental", "procedurelog"])
RAW_CLAIMPROC = dg.AssetKey(["opendental", "claimproc"])
STAGING_PROCEDURELOG = dg.AssetKey(["staging", "stg_opendental__procedurelog"])
STAGING_CLAIMPROC = dg.AssetKey(["staging", "stg_opendental__claimproc"])
INT_PROCEDURES = dg.AssetKey(["intermediate", "int_procedures"])
INT_PROCEDURES_COMPLETE = dg.AssetKey(["intermediate", "int_procedures_complete"])
MART_PRODUCTION_DAILY = dg.AssetKey(["marts", "mart_production_daily"])


@pytest.mark.parametrize("changed", [RAW_PROCEDURELOG, RAW_CLAIMPROC])
def test_a_model_is_never_built_beside_an_input_held_back_by_a_failed_check(defs, graph, changed):
    # mart_production_daily reads stg_opendental__procedurelog and int_procedures_complete, built from
    # it through int_procedures. int_procedures' last build failed a blocking check, so its run skipped
    # the two models after it. A procedurelog edit then rebuilds the whole chain in one tick, checks
    # riding along (Dagster's own all_deps_blocking_checks_passed held int_procedures_complete back and
    # requested the mart: the new procedures beside the old ones, assert_production_daily_reconciles
    # failed); a claimproc edit rebuilds its staging view but not the mart, whose grand-input failed.
    chain = [STAGING_PROCEDURELOG, INT_PROCEDURES, INT_PROCEDURES_COMPLETE, MART_PRODUCTION_DAILY]
    assert STAGING_PROCEDURELOG in graph.get(MART_PRODUCTION_DAILY).parent_keys
    assert INT_PROCEDURES_COMPLETE in graph.get(MART_PRODUCTION_DAILY).parent_keys
    assert graph.get(INT_PROCEDURES_COMPLETE).parent_keys == {INT_PROCEDURES}
    selection = dg.AssetSelection.assets(*chain, STAGING_CLAIMPROC)
    with dental_instance_for_test() as instance:
        _materialize_with_ancestors_runless(instance, graph, [*chain, STAGING_CLAIMPROC])
        built = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
        _materialize_runless(instance, graph, INT_PROCEDURES, checks_pass=False)
        failed = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                   cursor=built.cursor)
        assert failed.total_requested == 0
        month = graph.get(changed).partitions_def.get_partition_keys()[-1]
        _materialize_runless(instance, graph, changed, checks_pass=True, partitions=[month])
        edited = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                   cursor=failed.cursor)
    requested = {key for key in [*chain, STAGING_CLAIMPROC] if edited.get_num_requested(key)}
    assert requested == (set(chain) if changed == RAW_PROCEDURELOG else {STAGING_CLAIMPROC})


def test_the_ancestor_generations_reach_back_over_the_longest_path(graph):
    # The condition looks ANCESTOR_GENERATIONS back: a model further from a failed check than that
    # would be built beside it.
    depth: dict[dg.AssetKey, int] = {}

    def generations(key):
        if key not in depth:
            depth[key] = max((1 + generations(parent) for parent in graph.get(key).parent_keys), default=0)
        return depth[key]

    assert max(generations(key) for key in graph.get_all_asset_keys()) <= policies.ANCESTOR_GENERATIONS


COMPARED = [dg.AssetKey(["marts", "mart_production_daily"]), dg.AssetKey(["marts", "fct_procedure"]),
            dg.AssetKey(["marts", "mart_ar_aging"])]


def _with_condition(defs, condition):
    """The code location with every model's automation condition replaced by ``condition``."""
    return defs.map_asset_specs(
        func=lambda spec: spec if policies.layer_of(spec) == "raw" else spec.replace_attributes(
            automation_condition=condition))


def _evaluated(defs, instance, selection) -> dict:
    """{asset key: its root result} of one evaluation of the selection's conditions."""
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
    return {r.key: r for r in result.results}


def _true_subsets(results: dict) -> dict:
    return {key: r.true_subset.convert_to_serializable_subset() for key, r in results.items()}


# (a model or raw table whose blocking checks failed, whether it is in the tick (requested, if its own
# ancestors passed), the generations looked back)
ANCESTOR_SCENARIOS = [
    (None, True, policies.ANCESTOR_GENERATIONS),
    (RAW_PROCEDURELOG, True, policies.ANCESTOR_GENERATIONS),
    (STAGING_CLAIMPROC, False, policies.ANCESTOR_GENERATIONS),
    (INT_PROCEDURES, True, policies.ANCESTOR_GENERATIONS),  # requested: counts for a model of the same run only
    (INT_PROCEDURES, False, 1),
    (RAW_PROCEDURELOG, True, 2),  # seen by the models 2 generations below it, not by those further
]


def test_the_ancestors_condition_equals_dagsters_nested_operators(defs, graph):
    # ancestor_checks.py computes in one node what Dagster's operators compute nested `generations` deep:
    # evaluated alone on every model (so that models are requested and will_be_requested() counts), with
    # every blocking check passing and with one failed, both give the same subsets for every asset.
    keys = _ancestors_of(graph, COMPARED)
    with dental_instance_for_test() as instance:
        # one partition each: the condition reads checks and requests, not what is missing
        _materialize_with_ancestors_runless(instance, graph, COMPARED, latest_only=True)
        for failed, in_tick, generations in ANCESTOR_SCENARIOS:
            scenario = (failed and failed.to_user_string(), in_tick, generations)
            ours = _with_condition(defs, AncestorsBlockingChecksPassed(generations))
            dagsters = _with_condition(defs, nested_operators(generations))
            selection = dg.AssetSelection.assets(*(keys if in_tick else keys - {failed}))
            if failed is not None:
                assert _blocking_checks(graph, failed)
                _report_checks(instance, graph, failed, passed=False)  # on its latest materialization
            expected = _true_subsets(_evaluated(dagsters, instance, selection))
            results = _evaluated(ours, instance, selection)
            got = _true_subsets(results)
            if failed is not None:
                _report_checks(instance, graph, failed, passed=True)
            assert got == expected, scenario
            requested = {key for key, subset in got.items() if not subset.is_empty}  # neither side is trivial
            assert len(requested) > 10, scenario
            if generations == policies.ANCESTOR_GENERATIONS and not in_tick:
                held_back = set(COMPARED) - requested
                assert held_back, scenario
                # a model held back names the failed checks (names only) in its evaluation's metadata
                named = {results[key].serializable_evaluation.metadata["blocking_checks_not_passed"].value
                         for key in held_back}
                assert all(check.to_user_string() in text for check in _blocking_checks(graph, failed)
                           for text in named), (scenario, named)


# --------------------------------------------------------------------------------- the nightly backstop

def test_nightly_schedule_targets_dbt_job_once_per_night(defs):
    schedule = defs.resolve_schedule_def("nightly_dbt_backstop")
    assert schedule.job_name == "dbt_job"
    assert schedule.cron_schedule == "30 4 * * *"  # after the raw backstop (03:30)
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    tick = dt.datetime(2026, 3, 4, 4, 30, tzinfo=dt.timezone.utc)
    with dental_instance_for_test() as instance:
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=tick) as context:
            data = schedule.evaluate_tick(context)
    assert [r.run_key for r in data.run_requests] == ["nightly-dbt-2026-03-04"]
    assert data.run_requests[0].tags["dental/trigger"] == "nightly_backstop"


def test_nightly_facts_schedule_covers_every_month_in_one_run(defs, graph):
    schedule = defs.resolve_schedule_def("nightly_dbt_facts_backstop")
    assert schedule.cron_schedule == "45 4 * * *"  # after the unpartitioned dbt build (04:30)
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    job = defs.resolve_job_def(schedule.job_name)
    facts = {k for k in graph.get_all_asset_keys() if k.path[0] != "opendental"
             and graph.get(k).partitions_def is not None and graph.get(k).group_name.startswith("dbt")}
    assert facts and facts <= set(job.asset_layer.executable_asset_keys)
    tick = dt.datetime(2026, 3, 4, 4, 45, tzinfo=dt.timezone.utc)
    with dental_instance_for_test() as instance:
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=tick) as context:
            data = schedule.evaluate_tick(context)
    (request,) = data.run_requests
    months = graph.get(sorted(facts)[0]).partitions_def.get_partition_keys(current_time=tick)
    assert request.run_key == "nightly-dbt-facts-2026-03-04"
    assert request.tags["dagster/asset_partition_range_start"] == months[0]
    assert request.tags["dagster/asset_partition_range_end"] == months[-1] == "2026-03"


def test_the_raw_backstop_leaves_out_only_tables_it_will_see_again_inside_the_warn_window(defs, graph):
    """Which tables the nightly raw backstop syncs only to keep them fresh (``quiet_tables``): at a tick,
    one materialized 1.5 hours before or more, never one requested anyway, nor one never materialized
    (UNKNOWN, not stale). One left out has been materialized less than 1.5 hours before: at the next tick
    a day later, with its run taking up to the margin, it is still inside raw's warn window (26 hours,
    read from the raw assets' own policy)."""
    from dental_assets.defs.raw.sensors import (BACKSTOP_PERIOD, KEEP_FRESH_MARGIN, keep_fresh_age,
                                                quiet_tables)

    backstop = defs.resolve_schedule_def("raw_sync_backstop")
    assert backstop.cron_schedule == "30 3 * * *"  # once every BACKSTOP_PERIOD
    assert BACKSTOP_PERIOD == dt.timedelta(days=1)
    warn = graph.get(dg.AssetKey(["opendental", "definition"])).freshness_policy.warn_window.to_timedelta()
    assert keep_fresh_age() + BACKSTOP_PERIOD + KEEP_FRESH_MARGIN <= warn
    tick = dt.datetime(2026, 3, 4, 3, 30, tzinfo=dt.timezone.utc).timestamp()
    hour = 3600.0
    latest = {"definition": tick - 1.5 * hour - 1, "provider": tick - 1.5 * hour + 60, "patient": tick - 48 * hour,
              "userod": None, "clinic": tick - 26 * hour}
    assert quiet_tables(latest, tick, requested={"patient"}) == ["definition", "clinic"]
    assert quiet_tables(latest, tick, requested=set()) == ["definition", "patient", "clinic"]


def test_the_documented_cadences_and_freshness_windows(defs, graph):
    """The figures docs/operations.md ("Automation", the freshness table) and the raw sensors' docstring
    promise, written out: the tests above compare the assets with policies.py's own constants."""
    raw_backstop = defs.resolve_schedule_def("raw_sync_backstop")
    assert raw_backstop.cron_schedule == "30 3 * * *" and raw_backstop.execution_timezone == "UTC"
    assert defs.resolve_sensor_def("raw_change_sensor").minimum_interval_seconds == 300  # every 5 minutes
    for name in ("opendental/procedurelog", "marts/mart_production_daily"):
        policy = graph.get(dg.AssetKey.from_user_string(name)).freshness_policy
        assert policy.warn_window.to_timedelta() == dt.timedelta(hours=26), name
        assert policy.fail_window.to_timedelta() == dt.timedelta(hours=50), name
    journey = graph.get(dg.AssetKey(["treatment_journey"])).freshness_policy
    assert journey.deadline_cron == "0 12 1 * *" and journey.lower_bound_delta == dt.timedelta(hours=12)


def test_the_freshness_command_exits_1_while_an_asset_is_not_fresh(tmp_path, monkeypatch, capsys):
    """`python -m dental_assets.defs.automation.freshness` (docs/operations.md: "exit 1 unless every asset is
    PASS") on a new instance, where nothing was ever materialized: every asset with a policy is UNKNOWN."""
    from dental_assets.defs.automation import freshness

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("DENTAL_HOME", str(tmp_path))
    assert freshness.main() == 1
    out = capsys.readouterr().out
    assert out.startswith("freshness: ") and "not fresh: opendental/procedurelog (UNKNOWN)" in out
    assert "not fresh: treatment_journey (UNKNOWN)" in out


# ---------------------------------------------------------------------------------- failure alerts

SECRET = "Jane Q. Patient 1970-01-01"  # stands for source data quoted in an error message


@dg.op
def failing_extract():
    raise ValueError(f"bad row for {SECRET}")


@dg.job
def failing_job():
    failing_extract()


class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def webhook():
    _Collector.received = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Collector.received
    server.shutdown()
    server.server_close()


def _failure_context(instance, alerts: AlertWebhookResource):
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    failure = next(
        e.dagster_event for e in instance.all_logs(result.run_id)
        if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.RUN_FAILURE
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="dental_run_failure_alerts", dagster_event=failure, dagster_instance=instance,
        dagster_run=run, resources={"alerts": alerts},
    ).for_run_failure()
    return result.run_id, context


def test_failed_run_is_recorded_and_posted_without_its_error_message(webhook, tmp_path, monkeypatch):
    monkeypatch.setenv("DENTAL_HOME", str(tmp_path))
    url, received = webhook
    with dental_instance_for_test() as instance:
        run_id, context = _failure_context(instance, AlertWebhookResource(webhook_url=url))
        dental_run_failure_alerts(context)

    lines = alerts_path().read_text().splitlines()
    assert len(lines) == 1
    alert = json.loads(lines[0])
    assert alert["run_id"] == run_id and alert["job"] == "failing_job"
    assert alert["failed_steps"] == ["failing_extract"]
    assert alert["error_classes"] == ["ValueError"]
    assert alert["webhook"] == "sent"
    assert len(received) == 1 and run_id in received[0]["text"]
    assert SECRET not in lines[0] and SECRET not in json.dumps(received)


def test_unreachable_webhook_is_recorded_not_raised(tmp_path, monkeypatch):
    monkeypatch.setenv("DENTAL_HOME", str(tmp_path))
    dead = AlertWebhookResource(webhook_url="http://127.0.0.1:9/nothing", timeout_seconds=2)
    with dental_instance_for_test() as instance:
        _, context = _failure_context(instance, dead)
        dental_run_failure_alerts(context)
    alert = json.loads(alerts_path().read_text())
    assert alert["webhook"].startswith("failed: ")
    assert "127.0.0.1:9" not in alert["webhook"]


def test_a_failed_run_without_a_code_location_is_alerted(tmp_path, monkeypatch):
    """A run executed in process (`dental sync`, `dagster job execute`) records no code location; the
    sensor, evaluated as the daemon does (its own repository named, a cursor from the tick before),
    still records its failure."""
    monkeypatch.setenv("DENTAL_HOME", str(tmp_path))
    with dental_instance_for_test() as instance:
        def tick(cursor):
            return dental_run_failure_alerts.evaluate_tick(dg.build_sensor_context(
                instance=instance, repository_name="dental", cursor=cursor,
                resources={"alerts": AlertWebhookResource()}))

        first = tick(None)  # (the first tick starts after the failures already stored)
        result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
        assert instance.get_run_by_id(result.run_id).remote_job_origin is None
        tick(first.cursor)
    assert [json.loads(line)["run_id"] for line in alerts_path().read_text().splitlines()] == [result.run_id]


def test_failure_sensor_is_running_by_default(defs):
    sensor = defs.resolve_sensor_def("dental_run_failure_alerts")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


# ------------------------------------------------------------------- metadata people look at

@pytest.mark.parametrize("value, text", [
    (1644.95, "$1,644.95"), (-1644.95, "-$1,644.95"), (0, "$0.00"), (None, "$0.00"),
    (-0.004, "$0.00"), (-0.005, "-$0.01"), (1234567.891, "$1,234,567.89"),
])
def test_money_in_metadata_puts_the_sign_before_the_dollar_sign(value, text):
    from decimal import Decimal

    from dental_assets.defs.dbt.assets import _dollars

    assert _dollars(value) == text
    if value is not None:
        assert _dollars(Decimal(str(value))) == text  # psycopg2 returns numeric columns as Decimal


def test_column_schema_keeps_the_built_types_and_the_declared_descriptions(pg_params):
    import dagster as dg

    from dental_assets.defs.dbt.assets import column_schema_with_descriptions, column_types

    conn = pg_params.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute('CREATE TABLE public.built (procedure_id bigint, "Charge" numeric(12,2), extra text, '
                        "dropped int, seen date)")
            cur.execute("ALTER TABLE public.built DROP COLUMN dropped")
            built = column_types(cur, "public.built")
            assert column_types(cur, "public.absent") == []
    finally:
        conn.close()
    assert built == [("procedure_id", "bigint"), ("Charge", "numeric(12,2)"), ("extra", "text"),
                     ("seen", "date")]
    declared = dg.TableSchema(columns=[dg.TableColumn("charge", "?", description="ProcFee x units."),
                                       dg.TableColumn("procedure_id", "?", description="ProcNum.")])
    merged = column_schema_with_descriptions(built, declared)
    assert [(c.name, c.type, c.description) for c in merged.columns] == [
        ("procedure_id", "bigint", "ProcNum."), ("Charge", "numeric(12,2)", "ProcFee x units."),
        ("extra", "text", None), ("seen", "date", None)]
    assert [c.description for c in column_schema_with_descriptions(built, None).columns] == [None] * 4


def test_production_by_month_sums_the_mart_per_month(pg_params):
    from dental_assets.defs.dbt.assets import ar_by_aging_bucket, production_by_month

    conn = pg_params.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE prod (production_date date, completed_procedure_count int, "
                "gross_production numeric, adjustments numeric, net_production numeric)"
            )
            cur.execute(
                "INSERT INTO prod VALUES ('2026-05-02', 2, 100.00, -10.00, 90.00), "
                "('2026-05-20', 1, 50.50, 0, 50.50), ('2026-06-01', 3, 300.00, 0, 300.00)"
            )
            cur.execute(
                "CREATE TABLE aging (guarantor_id int, as_of_date date, is_run_date bool, "
                "balance_0_30 numeric, balance_31_60 numeric, balance_61_90 numeric, "
                "balance_over_90 numeric, total_balance numeric, insurance_estimate numeric, "
                "patient_portion numeric)"
            )
            cur.execute(
                "INSERT INTO aging VALUES (1, '2026-06-30', true, 10, 20, 0, 70, 100, 30, 70), "
                "(2, '2026-06-30', true, 0, 0, 0, 0, -5, 0, -5), "
                "(1, '2026-05-31', false, 999, 0, 0, 0, 999, 0, 999)"
            )
            production = production_by_month(cur, "prod")
            aging = ar_by_aging_bucket(cur, "aging")
    finally:
        conn.close()
    table = production["production_by_month"].value.splitlines()
    assert table[2].startswith("| 2026-05 | 3 | $150.50 | -$10.00 | $140.50 |")
    assert table[3].startswith("| 2026-06 | 3 | $300.00 | $0.00 | $300.00 |")
    assert production["net_production_last_month"].value == 300.0
    buckets = aging["ar_by_aging_bucket"].value
    assert "| 0-30 days | $10.00 | 10.0% |" in buckets and "| over 90 days | $70.00 | 70.0% |" in buckets
    assert aging["ar_total_balance"].value == 95.0  # run date only: the month-end row is left out
    assert aging["ar_families_with_balance"].value == 1
    assert aging["ar_as_of_date"] == "2026-06-30"


def test_journey_data_quality_summary_flags_duplicates_and_dates_outside_the_year():
    import pyarrow as pa

    from dental_assets.defs.journey.assets import data_quality_summary

    table = pa.table({
        "procedure_id": [1, 2, 2, 3],
        "patient_key": ["a", "a", "b", None],
        "procedure_date": pa.array([dt.date(2026, 1, 5), dt.date(2026, 3, 1), dt.date(2026, 3, 1),
                                    dt.date(2025, 12, 31)], pa.date32()),
        "target_accepted": [True, False, True, True],
        "target_fully_paid": pa.array([None, None, True, False], pa.bool_()),
    })
    summary = data_quality_summary(table, 2026)
    assert summary["dq/rows"].value == 4
    assert summary["dq/patients"].value == 2  # a missing key is no patient
    assert summary["dq/duplicate_procedure_ids"].value == 1
    assert summary["dq/rows_outside_year"].value == 1
    assert summary["dq/target_accepted_rate"].value == 0.75
    assert summary["dq/target_fully_paid_rate"].value == 0.5
    assert summary["dq/columns_with_nulls"].value == 2
    assert "| duplicate procedure ids | 1 | CHECK |" in summary["data_quality"].value
    assert summary["dq/null_columns"] == "patient_key, target_fully_paid"


def test_a_source_run_left_started_gives_back_its_place(defs):
    """A run of the raw job whose process died stays STARTED (the default run launcher cannot tell) and
    would hold the one place of the `dental/opendental_source` limit for good: its job's tags give it a
    maximum runtime, which Dagster's own run monitoring (``check_run_timeout``, as the daemon calls it)
    enforces by failing the run."""
    import logging

    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.test_utils import create_run_for_test
    from dagster._daemon.monitoring import run_monitoring

    from dental_assets.defs.raw.sensors import RAW_JOB_NAME, SOURCE_RUN_MAX_SECONDS

    tags = defs.resolve_job_def(RAW_JOB_NAME).tags
    assert tags["dental/opendental_source"] and int(tags["dagster/max_runtime"]) == SOURCE_RUN_MAX_SECONDS
    with dental_instance_for_test() as instance:
        run = create_run_for_test(instance, job_name=RAW_JOB_NAME, tags=dict(tags))
        instance.report_dagster_event(DagsterEvent(event_type_value=DagsterEventType.RUN_START.value,
                                                   job_name=RAW_JOB_NAME), run_id=run.run_id)
        started = instance.get_run_record_by_id(run.run_id).start_time
        for hours, status in ((5.9, dg.DagsterRunStatus.STARTED), (6.1, dg.DagsterRunStatus.FAILURE)):
            now = started + hours * 3600
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(run_monitoring, "get_current_timestamp", lambda now=now: now)
                run_monitoring.check_run_timeout(instance, instance.get_run_record_by_id(run.run_id),
                                                 logging.getLogger(__name__), default_timeout_seconds=0)
            assert instance.get_run_by_id(run.run_id).status == status, hours


def test_a_dental_sync_run_from_before_the_max_runtime_is_still_failed_when_stale():
    """``dental sync``'s stale runs are found by the concurrency tag alone: a run recorded before the
    source runs carried ``dagster/max_runtime`` (an upgrade) is failed at the next start, as before."""
    import socket
    import subprocess
    import sys

    from dagster._core.test_utils import create_run_for_test

    from dental_assets.defs.raw.sensors import SOURCE_CONCURRENCY_TAG, SOURCE_TAG
    from dental_assets.defs.raw.sync_command import HOST_TAG, PID_TAG, PROCESS_START_TAG, fail_stale_runs

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    process = {HOST_TAG: socket.gethostname(), PID_TAG: str(gone.pid), PROCESS_START_TAG: "0"}
    with dental_instance_for_test() as instance:
        old, new = (create_run_for_test(instance, job_name="raw_opendental_job", status=dg.DagsterRunStatus.STARTED,
                                        tags={**tags, **process}) for tags in (SOURCE_CONCURRENCY_TAG, SOURCE_TAG))
        assert sorted(fail_stale_runs(instance)) == sorted([old.run_id, new.run_id])
        assert {instance.get_run_by_id(r.run_id).status for r in (old, new)} == {dg.DagsterRunStatus.FAILURE}

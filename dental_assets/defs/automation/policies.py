"""Freshness policies and automation conditions, applied to every asset spec of the code location.

Cadences (all times UTC):

- raw ``["opendental", <table>]`` (group ``raw_opendental``): refreshed by the replication's change
  sensor and its nightly backstop schedule (``dental_assets/defs/raw``). Freshness: warn after 26 hours,
  fail after 50 hours without a materialization. No automation condition is set here: the change
  sensor launches raw runs, and a condition set by the raw layer itself is kept.
- dbt models (groups ``dbt_staging``, ``dbt_intermediate``, ``dbt_marts``, ``dbt``): ``eager`` after
  their raw or dbt inputs update, but only when every blocking check of those inputs, and of what they
  are built from back to raw, passed (raw verification, dbt tests of severity ``error``), an input
  requested in the same tick counting as passed; the nightly schedule is the backstop. For the
  monthly-partitioned facts every partition whose inputs updated is requested, not only the latest
  month (Dagster's ``eager`` alone would leave edited old months stale); an unpartitioned input counts
  for every month. A raw update by the nightly raw backstop's keep-fresh run (``dental/keep_fresh``, a sync
  of a table it found equal to the source) does not count, nor does a build by the nightly dbt backstops'
  runs (``dbt_facts_job`` follows ``dbt_job``): the nightly dbt backstops are the night's build. A build
  whose run started before an input update that counts is requested again (it may have missed it;
  ``stale_builds.py``): eager()'s reset no longer swallows an update in the same tick's interval; nor a
  request of an input in the same tick (the model is requested with it).
  Freshness: warn after 26 hours, fail after 50 hours. The condition reads only what
  this instance recorded: on a new instance a model is requested once its inputs are materialized in it
  (a model already missing at the first evaluation is not requested for being missing), which the raw
  change sensor does once for a warehouse synced before (``defs/raw/sensors._with_unrecorded``).
- ``treatment_journey`` (group ``journey``): monthly, on the 1st at 01:00 for the latest (current
  year) partition, once ``fct_treatment_journey`` has updated since then and its blocking checks
  passed. Freshness: a cron deadline of the 1st at 12:00; a materialization after 00:00 on the 1st
  keeps it fresh until the next month's deadline.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from dental_assets.defs.automation.ancestor_checks import AncestorsBlockingChecksPassed
from dental_assets.defs.automation.schedules import NIGHTLY_BACKSTOP_TAG
from dental_assets.defs.automation.stale_builds import BuiltBeforeAnInputUpdate
from dental_assets.defs.raw.sensors import KEEP_FRESH_TAG

RAW_GROUP = "raw_opendental"
JOURNEY_GROUP = "journey"

DAILY_WARN = dt.timedelta(hours=26)
DAILY_FAIL = dt.timedelta(hours=50)
JOURNEY_AUTOMATION_CRON = "0 1 1 * *"
JOURNEY_DEADLINE_CRON = "0 12 1 * *"
JOURNEY_LOWER_BOUND = dt.timedelta(hours=12)

daily_freshness = dg.FreshnessPolicy.time_window(fail_window=DAILY_FAIL, warn_window=DAILY_WARN)
journey_freshness = dg.FreshnessPolicy.cron(
    deadline_cron=JOURNEY_DEADLINE_CRON, lower_bound_delta=JOURNEY_LOWER_BOUND, timezone="UTC"
)

# Blocking checks hold back what reads a failed (or not yet checked) asset, through every generation.
# Dagster's all_deps_blocking_checks_passed() looks at the direct deps only, and lets a dep requested on
# the same tick through only when its checks are requested too; the dbt tests (checks with no condition
# of their own) are never requested, they ride along in the dep's run. Both let a model read a rebuilt
# input beside a held-back one's old rows: a tick requested stg_opendental__procedurelog, int_procedures
# and mart_production_daily without int_procedures_complete (int_procedures' checks had not passed on
# its latest materialization), and assert_production_daily_reconciles failed. Here a dep requested on
# the tick counts as passing (its checks run in its run, and a failure there skips what reads it);
# any other ancestor, up to ANCESTOR_GENERATIONS back, must have passed its blocking checks.
ANCESTOR_GENERATIONS = 8  # the graph's longest path (raw to the journey dataset) is 7: tested

# Dagster's nested operators (ancestor_checks.nested_operators) computed in one node, each ancestor looked at
# once per generation; nothing where eager() (or the journey's cron) left no partition true. Walked as Dagster's
# tree for every model it was half of a tick (ancestor_checks.py, docs/operations.md *Figures*).
ancestors_blocking_checks_passed = AncestorsBlockingChecksPassed(ANCESTOR_GENERATIONS)

# An input's update counts as eager()'s does (newly updated, by a run that did not also build the
# model), unless every update of it since the last tick came from a backstop whose work the next backstop
# redoes anyway:
# - the nightly raw backstop's keep-fresh syncs (KEEP_FRESH_TAG): they sync only tables whose cheap and
#   content fingerprints the backstop had just found equal to the source's, so they find nothing to copy.
#   Counted, they made this sensor rebuild nearly the whole graph after 03:30 on a quiet night, which
#   nightly_dbt_backstop rebuilt again at 04:30. A change committed at the source between the backstop's
#   comparison and its keep-fresh run is copied by that run and reaches the models with the nightly dbt
#   backstops (04:30, 04:45), not at once; a sync of a change beside a keep-fresh run in one tick's
#   interval still counts (docs/operations.md);
# - the nightly dbt backstops' runs (NIGHTLY_BACKSTOP_TAG): counted, dbt_job's build of the intermediate
#   models at 04:30 made this sensor request every month of the facts, which dbt_facts_job rebuilt again
#   at 04:45. Nothing else reads what they build (no dbt model reads a fact). The same job launched by
#   hand (no tag) still counts.
input_updated = (
    dg.AutomationCondition.newly_updated()
    & ~dg.AutomationCondition.executed_with_root_target()
    & ~dg.AutomationCondition.all_new_updates_have_run_tags(tag_values=KEEP_FRESH_TAG)
    & ~dg.AutomationCondition.all_new_updates_have_run_tags(tag_values=NIGHTLY_BACKSTOP_TAG)
).with_label("newly_updated_without_root_or_backstop")

# A build that may have missed an input's update (its run started before a sync of the input committed,
# the sync not a backstop's) is itself a trigger, and does not count as handling the model: eager()'s
# since_last_handled let a model's update in the same tick's interval as an input's swallow the input's
# update (stale_builds.py). A build that started after every update of its inputs handles them, unless
# an input is requested in the same tick: a build cannot have read what that run will write. Without that
# exception a model built in the last interval waited a tick behind its rebuilt input, which ran alone,
# and a dbt test reading both failed in its run (assert_production_daily_reconciles, on staging against
# the mart), holding the model back (tests/test_automation_e2e.py).
built_before_an_input_update = BuiltBeforeAnInputUpdate(ignored_run_tags=[KEEP_FRESH_TAG, NIGHTLY_BACKSTOP_TAG])
any_input_updated = (
    dg.AutomationCondition.any_deps_updated().replace("newly_updated_without_root", input_updated)
    | built_before_an_input_update
).with_label("any_deps_updated_or_built_before_an_input_update")
handled = (
    (dg.AutomationCondition.newly_requested() | dg.AutomationCondition.newly_updated())
    & ~built_before_an_input_update
    & ~dg.AutomationCondition.any_deps_match(dg.AutomationCondition.will_be_requested())
    | dg.AutomationCondition.initial_evaluation()
).with_label("handled_by_a_build_after_its_inputs")

# Dagster's eager() only looks at the latest time window of a partitioned asset. The monthly dbt facts
# must also refresh the old months a source edit touched (a change to an old procedure reaches
# fct_procedure's month, not only the current one), so that operand is left out. For an unpartitioned
# model the condition is otherwise eager()'s, with input_updated for its inputs' updates and the two
# operands above for its trigger and its reset.
dbt_condition = (
    dg.AutomationCondition.eager()
    .without(dg.AutomationCondition.in_latest_time_window())
    .replace("any_deps_updated", any_input_updated)
    .replace("handled", handled)
    & ancestors_blocking_checks_passed
).with_label("eager_after_passing_checks")
journey_condition = (
    dg.AutomationCondition.on_cron(JOURNEY_AUTOMATION_CRON)
    & ancestors_blocking_checks_passed
    & ~dg.AutomationCondition.in_progress()
).with_label("monthly_after_passing_checks")


class UnknownAssetGroupError(ValueError):
    """An asset belongs to a group with no operational policy (every asset must have one)."""


def layer_of(spec: dg.AssetSpec) -> str:
    """``"raw"``, ``"dbt"`` or ``"journey"`` from the spec's group. Raises UnknownAssetGroupError."""
    group = spec.group_name or ""
    if group == RAW_GROUP:
        return "raw"
    if group == "dbt" or group.startswith("dbt_"):
        return "dbt"
    if group == JOURNEY_GROUP:
        return "journey"
    raise UnknownAssetGroupError(
        f"asset {spec.key.to_user_string()} is in group {group!r}, which has no freshness policy; "
        "add one in dental_assets/defs/automation/policies.py"
    )


def apply_operational_policies(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The spec with its layer's freshness policy and automation condition.

    A policy or condition already on the spec (set by the layer that owns it) is kept. Raises
    UnknownAssetGroupError for an asset outside the known groups."""
    layer = layer_of(spec)
    freshness = journey_freshness if layer == "journey" else daily_freshness
    condition = {"raw": None, "dbt": dbt_condition, "journey": journey_condition}[layer]
    spec = dg.apply_freshness_policy(spec, freshness, overwrite_existing=False)
    if condition is not None and spec.automation_condition is None:
        spec = spec.replace_attributes(automation_condition=condition)
    return spec

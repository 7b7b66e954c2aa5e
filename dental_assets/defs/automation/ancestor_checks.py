"""The dbt models' ``ancestors_blocking_checks_passed``: every ancestor, up to a number of generations
back, passed its blocking checks or is requested on the same tick. One node, each ancestor looked at
once per generation.

What it computes is Dagster's own operators nested ``generations`` deep (``nested_operators``, which the
tests evaluate beside it as the reference)::

    level(1) = all_deps_match(will_be_requested() | own_checks)
    level(g) = all_deps_match(will_be_requested() | (own_checks & level(g - 1)))
    own_checks = all_checks_match(check_passed() | will_be_requested(), blocking_only=True)

Dagster evaluates that tree node by node: one node per path up the graph and per blocking check on
it, each with its context, result and stored evaluation record, for every model at every tick,
even where nothing is left to decide (about half of a tick, docs/operations.md *Figures*). Here the same
subsets are computed with the same calls (the tick's requests, ``executable_in_same_run``, the check
records the tick has loaded, the partition mappings), each (ancestor, generation) once per model and
tick for the ancestor's whole candidate set (the usual case: an unpartitioned model asks for every
month of a raw table), and nothing at all where no partition of the model is a candidate (where
Dagster's ``all_deps_match`` is false anyway). The tick's record holds this one node, with no tree below;
where it holds a candidate partition back, its metadata names (up to ``MAX_CHECKS_NAMED``, sorted) and
counts the blocking checks the walk found neither passed nor requested: asset and check names only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph import executable_in_same_run
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionResolvedStatus


MAX_CHECKS_NAMED = 20  # in the metadata of a model held back


def nested_operators(generations: int) -> dg.AutomationCondition:
    """The condition as Dagster's operators, ``generations`` deep (the reference this class equals)."""
    own_checks = dg.AutomationCondition.all_checks_match(
        dg.AutomationCondition.check_passed() | dg.AutomationCondition.will_be_requested(), blocking_only=True
    )
    if generations > 1:
        own_checks = own_checks & nested_operators(generations - 1)
    return dg.AutomationCondition.all_deps_match(dg.AutomationCondition.will_be_requested() | own_checks)


@dataclass
class _Walk:
    """One model's evaluation on one tick: its context and the subsets already computed."""

    context: dg.AutomationContext
    full: dict = field(default_factory=dict)  # (key, generation) -> true subset for the key's full subset
    not_passed: set = field(default_factory=set)  # blocking checks looked at that neither passed nor are requested

    @property
    def view(self):
        return self.context.asset_graph_view

    def mapped(self, subset, to_key):
        """``subset`` mapped to ``to_key`` as Dagster's EntityMatchesCondition maps it (down to a child,
        else up)."""
        graph = self.context.asset_graph
        down = to_key in graph.get(subset.key).child_entity_keys and to_key != subset.key
        return subset.compute_mapped_subset(to_key, direction="down" if down else "up")

    def requested(self, subset):
        """will_be_requested() on ``subset``: what the tick requested of its key, when that key can run in
        the same run as the model."""
        if subset.is_empty:
            return subset
        current = self.context.request_subsets_by_key.get(subset.key)
        graph = self.context.asset_graph
        root = self.context.root_context.key
        same_run = executable_in_same_run(asset_graph=graph, child_key=root, parent_key=subset.key) and (
            not isinstance(subset.key, dg.AssetKey) or graph.get(subset.key).is_materializable)
        return current if current and same_run else self.view.get_empty_subset(key=subset.key)

    async def own_checks(self, subset):
        """all_checks_match(check_passed() | will_be_requested(), blocking_only=True) on ``subset``."""
        graph = self.context.asset_graph
        true = subset
        for check in sorted(c for c in graph.get(subset.key).check_keys if graph.get(c).blocking):
            candidates = self.mapped(subset, check)
            passed = candidates if candidates.is_empty else await self.view.compute_subset_with_status(
                key=check, status=AssetCheckExecutionResolvedStatus.SUCCEEDED, from_subset=candidates)
            passed = passed.compute_union(self.requested(candidates))
            if not candidates.compute_difference(passed).is_empty:
                self.not_passed.add(check)
            true = true.compute_intersection(self.mapped(passed, subset.key))
        return true

    async def level(self, subset, generation: int):
        """all_deps_match(will_be_requested() | (own_checks & level(generation - 1))) on ``subset``."""
        graph = self.context.asset_graph
        true = subset
        for dep in sorted(k for k in graph.get(subset.key).parent_entity_keys if isinstance(k, dg.AssetKey)):
            candidates = self.mapped(subset, dep)
            dep_true = self.requested(candidates)
            if not candidates.compute_difference(dep_true).is_empty:  # what is requested needs no checks
                dep_true = dep_true.compute_union(await self.passing(candidates, generation))
            true = true.compute_intersection(self.mapped(dep_true, subset.key))
        return true

    async def passing(self, subset, generation: int):
        """own_checks & level(generation - 1) on ``subset`` (own_checks alone at the first generation)."""
        if subset.is_empty:
            return subset
        full = self.view.get_full_subset(key=subset.key)
        if subset.size != full.size:
            return await self._passing(subset, generation)
        if (subset.key, generation) not in self.full:
            self.full[(subset.key, generation)] = await self._passing(full, generation)
        return self.full[(subset.key, generation)]

    async def _passing(self, subset, generation: int):
        checked = await self.own_checks(subset)
        if generation == 1 or checked.is_empty:
            return checked
        return checked.compute_intersection(await self.level(checked, generation - 1))


class AncestorsBlockingChecksPassed(dg.AutomationCondition):
    """True for the candidate partitions of a model whose every input, and every input of theirs up to
    ``generations`` back, is requested on the tick or passed its blocking checks (``nested_operators``).
    Evaluated in the code location (Python)."""

    def __init__(self, generations: int):
        self._generations = generations

    @property
    def name(self) -> str:
        return "ancestors_blocking_checks_passed"

    @property
    def description(self) -> str:
        return (f"every ancestor up to {self._generations} generations back passed its blocking checks or "
                "is requested on this tick")

    @property
    def requires_cursor(self) -> bool:
        return False

    def get_label(self) -> str | None:
        return "ancestors_blocking_checks_passed"

    async def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        if context.candidate_subset.is_empty:
            return dg.AutomationResult(context, context.get_empty_subset())
        walk = _Walk(context)
        true = await walk.level(context.candidate_subset, self._generations)
        if context.candidate_subset.compute_difference(true).is_empty:
            return dg.AutomationResult(context, true)
        held_back_by = ", ".join(sorted(check.to_user_string() for check in walk.not_passed)[:MAX_CHECKS_NAMED])
        return dg.AutomationResult(context, true, metadata={
            "blocking_checks_not_passed": dg.MetadataValue.text(held_back_by or "none"),
            "blocking_checks_not_passed_count": dg.MetadataValue.int(len(walk.not_passed)),
        })

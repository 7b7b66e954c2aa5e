"""An operand of an AND evaluated only for the partitions still candidates: ``OnlyForCandidates``.

Dagster's AND evaluates every operand at every tick, the later ones on what the earlier ones left true,
and its operators walk their whole tree even when nothing is left: an empty candidate subset still
builds a context, a result and a stored evaluation node for every node below. The dbt models'
``ancestors_blocking_checks_passed`` (policies.py) is such a tree: eight generations of
``all_deps_match``, one node per path up the graph and per blocking check, for each of ~200 models at
each tick, although it only narrows what ``eager()`` already found true (a model with an updated
input), which on most ticks is no partition of most models. Measured (``bench/automation_tick.py``,
docs/operations.md *Figures*): it was about half of a tick.

``OnlyForCandidates(operand)`` is the operand itself where some partition is a candidate, and false
(nothing evaluated below it) where none is. It is meant for operands that are false where nothing is a
candidate anyway, as ``ancestors_blocking_checks_passed`` is (ALL_DEPS_MATCH starts from the candidates
and only narrows them): its value is then the operand's at every tick, and only the tree below is left
out of the tick's evaluation and its stored record. Nothing in that tree keeps a cursor
(``requires_cursor``): a tick that skips it loses no state.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg


class OnlyForCandidates(dg.AutomationCondition):
    """``operand`` where the candidate subset is not empty; an empty subset, ``operand`` not evaluated,
    where it is. ``label``: the label shown for this node (the operand's own label by default)."""

    def __init__(self, operand: dg.AutomationCondition, label: str | None = None):
        self._operand = operand
        self._label = label if label is not None else operand.get_label()

    @property
    def name(self) -> str:
        return "only_for_candidates"

    @property
    def description(self) -> str:
        return "evaluated only when some partition is still a candidate, false otherwise"

    @property
    def children(self) -> Sequence[dg.AutomationCondition]:
        return [self._operand]

    @property
    def requires_cursor(self) -> bool:
        return False

    def get_label(self) -> str | None:
        return self._label

    async def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        if context.candidate_subset.is_empty:
            return dg.AutomationResult(context, context.get_empty_subset())
        result = await context.for_child_condition(
            child_condition=self._operand, child_indices=[0], candidate_subset=context.candidate_subset
        ).evaluate_async()
        return dg.AutomationResult(context, result.true_subset, child_results=[result])

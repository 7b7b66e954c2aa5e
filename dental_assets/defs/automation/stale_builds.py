"""A model's build that may have missed an update of one of its inputs: the automation condition that
requests it again.

Dagster's ``eager()`` requests a model when an input updates, *since the model was last handled*
(requested or updated). When the trigger (an input updated) and the reset (the model updated) land in
the same tick's interval, Dagster's ``since`` lets the reset win unless both sides carry timestamps,
and its and/or/not operators drop them. So a sync that commits while the model's run is building it,
or right after it, before the next tick, was swallowed: the model kept the rows from before that sync
until its input changed again or the nightly backstop (reproduced with real runs, 2026-12-07;
``tests/test_automation.py``).

``BuiltBeforeAnInputUpdate`` is true for the partitions of a model newly updated since the previous
tick whose build may not have read an input's update: some input has a materialization (of a partition
the model's partition reads) later than the *start of the run* that built the model, not made by that
run, and not by a run whose tags mark it as one whose updates do not count (the backstops'). A run reads
what was committed before it started (an input's materialization event is written after its copy
commits); an update after the start may or may not have been read, and counts as missed. Times are
those the instance recorded (the run's start, the materializations), from the clocks of the hosts the
runs ran on: one host in the project's deployments. Evaluated in the code location (an arbitrary-Python
condition: the automation sensor sets ``use_user_code_server``).

Cost: nothing on a tick where the model was not updated; otherwise one query of the model's new
materializations, one per input materialized after the earliest such build's start (its latest
materialization is read from the records Dagster prefetches for the tick), and the run records through
the tick's loader (each run read once per tick).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg
from dagster._core.storage.event_log.base import AssetRecord  # the tick's prefetched records, as Dagster's operands

PAGE = 1000  # materializations fetched per query (paged)


def _materializations(instance: dg.DagsterInstance, records_filter: dg.AssetRecordsFilter) -> list:
    """Every materialization record matching ``records_filter``, oldest first."""
    records, cursor = [], None
    while True:
        page = instance.fetch_materializations(records_filter, limit=PAGE, cursor=cursor, ascending=True)
        records.extend(page.records)
        if not page.has_more:
            return records
        cursor = page.cursor


async def _runs_by_id(view, run_ids: set[str]) -> dict[str, dg.RunRecord]:
    """The run records of ``run_ids``, through the tick's loader (each run read once per tick)."""
    records = await dg.RunRecord.gen_many(view, sorted(run_ids))
    return {r.dagster_run.run_id: r for r in records if r is not None}


async def _latest_materialization_time(view, key: dg.AssetKey) -> float | None:
    """The time of ``key``'s latest materialization (any partition), from the asset records Dagster
    prefetches for the tick (no query of its own); None if it has none."""
    record = await AssetRecord.gen(view, key)
    latest = record.asset_entry.last_materialization_record if record is not None else None
    return latest.timestamp if latest is not None else None


def _before(context: dg.AutomationContext) -> int | None:
    """The storage id bound of the tick's events (what Dagster's own operands read)."""
    return None if context.max_storage_id is None else context.max_storage_id + 1


def _has_tags(run: dg.RunRecord | None, tag_sets: Sequence[Mapping[str, str]]) -> bool:
    tags = run.dagster_run.tags if run is not None else {}
    return any(all(tags.get(k) == v for k, v in tag_set.items()) for tag_set in tag_sets)


class BuiltBeforeAnInputUpdate(dg.AutomationCondition):
    """True for a model's partitions newly updated by a run that started before an update of an input.

    ``ignored_run_tags``: tag sets (each a mapping, all of whose tags a run must carry) of runs whose
    input updates do not count, as in the dbt condition's ``input_updated``. A materialization reported
    without a run counts as a run that started when it was reported. Partitions of a partitioned input
    count only when the model's partition reads them (Dagster's partition mapping)."""

    def __init__(self, ignored_run_tags: Sequence[Mapping[str, str]] = ()):
        self._ignored_run_tags = tuple(dict(tags) for tags in ignored_run_tags)

    @property
    def name(self) -> str:
        return "built_before_an_input_update"

    @property
    def description(self) -> str:
        return "newly updated by a run that started before another run updated one of its inputs"

    @property
    def requires_cursor(self) -> bool:
        return False

    async def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        view = context.asset_graph_view
        temporal = context.previous_temporal_context
        if temporal is None or context.candidate_subset.is_empty:
            return dg.AutomationResult(context, context.get_empty_subset())
        built = await view.compute_updated_since_temporal_context_subset(key=context.key, temporal_context=temporal)
        built = built.compute_intersection(context.candidate_subset)
        if built.is_empty:
            return dg.AutomationResult(context, context.get_empty_subset())
        starts = await self._build_starts(context, temporal.last_event_id)
        missed = await self._partitions_that_missed_an_update(context, starts)
        if context.partitions_def is None:
            true_subset = view.get_full_subset(key=context.key) if missed else context.get_empty_subset()
        else:
            true_subset = view.get_subset_from_partition_keys(context.key, context.partitions_def, missed)
        return dg.AutomationResult(context, true_subset.compute_intersection(built))

    async def _build_starts(self, context: dg.AutomationContext, after_storage_id: int | None) -> dict:
        """{partition key (None when unpartitioned): (run id or None, start timestamp)} of each partition's
        latest materialization since the previous tick."""
        view = context.asset_graph_view
        records = _materializations(view.instance, dg.AssetRecordsFilter(
            asset_key=context.key, after_storage_id=after_storage_id, before_storage_id=_before(context)))
        latest = {record.partition_key: record for record in records}  # oldest first: the last one wins
        runs = await _runs_by_id(view, {r.run_id for r in latest.values() if r.run_id})
        starts = {}
        for partition, record in latest.items():
            run = runs.get(record.run_id)
            start = run.start_time if run is not None and run.start_time is not None else record.timestamp
            starts[partition] = (record.run_id or None, start)
        return starts

    async def _partitions_that_missed_an_update(self, context: dg.AutomationContext, starts: dict) -> set:
        """The partitions of ``starts`` whose build started before a counted update of an input."""
        if not starts:
            return set()
        view = context.asset_graph_view
        earliest = min(start for _, start in starts.values())
        updates = []  # (input key, materialization record) after the earliest build's start
        for parent in sorted(context.asset_graph.get(context.key).parent_entity_keys, key=str):
            latest = await _latest_materialization_time(view, parent) if isinstance(parent, dg.AssetKey) else None
            if latest is not None and latest > earliest:
                after = dg.AssetRecordsFilter(asset_key=parent, after_timestamp=earliest,
                                              before_storage_id=_before(context))
                updates.extend((parent, record) for record in _materializations(view.instance, after))
        runs = await _runs_by_id(view, {r.run_id for _, r in updates if r.run_id})
        counted = [(parent, record) for parent, record in updates
                   if not (record.run_id and _has_tags(runs.get(record.run_id), self._ignored_run_tags))]
        return {partition for partition, (run_id, start) in starts.items()
                if any(record.timestamp > start and not (run_id and record.run_id == run_id)
                       and self._reads(context, partition, parent, record.partition_key)
                       for parent, record in counted)}

    @staticmethod
    def _reads(context: dg.AutomationContext, partition: str | None, parent: dg.AssetKey,
               parent_partition: str | None) -> bool:
        """Whether the model's ``partition`` reads ``parent_partition`` of ``parent``."""
        if partition is None or parent_partition is None:
            return True
        view = context.asset_graph_view
        own = view.get_subset_from_partition_keys(context.key, context.partitions_def, {partition})
        return parent_partition in view.compute_parent_subset(parent, own).expensively_compute_partition_keys()

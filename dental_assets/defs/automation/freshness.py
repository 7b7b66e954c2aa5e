"""Evaluate the freshness policies now, as Dagster's freshness daemon does, and record the states.

The freshness state an asset shows in the UI (``PASS``, ``WARN``, ``FAIL``, ``UNKNOWN``) is written by
the freshness daemon of ``dagster-daemon`` (or ``dagster dev``) every 30 seconds. Runs made with
``dagster job execute`` have no daemon beside them; ``evaluate_freshness`` runs one evaluation of
every asset with Dagster's own evaluators (``dagster._daemon.freshness.FreshnessDaemon``), records
state changes in the instance (so the UI shows them), and returns the states. The code location is
loaded in this process.

Command line, on the instance of ``$DAGSTER_HOME``::

    python -m dental_assets.defs.automation.freshness      # exit 1 unless every asset is PASS
"""

from __future__ import annotations

import asyncio
import sys

import dagster as dg
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.freshness import FreshnessDaemon

CODE_LOCATION_MODULE = "dental_assets.definitions"


def evaluate_freshness(instance: dg.DagsterInstance) -> dict[dg.AssetKey, FreshnessState]:
    """The freshness state of every asset of the code location, recorded in ``instance``.

    Assets without a policy are ``NOT_APPLICABLE``; never materialized ones ``UNKNOWN``. Raises
    whatever loading the code location raises (e.g. an asset in a group without a policy)."""
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name=CODE_LOCATION_MODULE, executable_path=sys.executable),
        location_name="dental_assets",
    )
    daemon = FreshnessDaemon()
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as workspace:
        context = workspace.create_request_context()
        nodes = list(context.asset_graph.asset_nodes)

        async def evaluate() -> list[FreshnessState]:
            await asyncio.gather(*(daemon._evaluate_asset(context=context, node=n) for n in nodes))  # noqa: SLF001
            return await asyncio.gather(
                *(daemon._compute_asset_freshness_state(context=context, node=n) for n in nodes)  # noqa: SLF001
            )

        states = asyncio.run(evaluate())
    return {node.key: state for node, state in zip(nodes, states)}


def main() -> int:
    states = evaluate_freshness(dg.DagsterInstance.get())
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state.value] = counts.get(state.value, 0) + 1
    print("freshness: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    stale = sorted(k.to_user_string() for k, s in states.items() if s != FreshnessState.PASS)
    for key in stale:
        print(f"  not fresh: {key} ({states[dg.AssetKey.from_user_string(key)].value})")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

"""How long a new process takes to load the Dagster definitions (``dental_assets.definitions``, then the
asset graph resolved): the start-up every ``dagster``, ``dg`` and ``dental`` command, every run worker
and every test worker pays before doing anything.

Runs ``--repeat`` fresh interpreters one after another and reports the median wall and CPU seconds
(user + system, of the child alone), then the packages whose import took longest in one more run
(``python -X importtime``: the cumulative seconds of each package's first import).
Figures go to stdout as JSON, e.g.::

    .venv/bin/python bench/import_time.py --repeat 7

CPU seconds are the figure to compare between changes on a busy machine; wall seconds include waiting
for the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LOAD = "import dental_assets.definitions as d; d.defs.resolve_asset_graph()"


def one_load() -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh interpreter loading the definitions."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", LOAD], check=True, cwd=REPO_ROOT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def import_costs(top: int) -> list[tuple[str, float]]:
    """The ``top`` packages (other than this project's) by the cumulative time of their first import
    (seconds, ``-X importtime``); a package's figure includes the packages it imports (dagster-dbt's
    includes dbt-core's)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", LOAD], check=True, cwd=REPO_ROOT,
                          capture_output=True, text=True)
    costs: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        # "import time:  self [us] |  cumulative | <indentation by nesting>module"
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|", 2)
        name = name.strip()
        if "." in name or name.startswith(("dental_", "_")):
            continue
        costs[name] = max(costs.get(name, 0.0), int(cumulative) / 1e6)
    ranked = sorted(costs.items(), key=lambda kv: -kv[1])[:top]
    return [(name, round(seconds, 2)) for name, seconds in ranked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh interpreters timed (default 5)")
    parser.add_argument("--top", type=int, default=12, help="packages listed by import time (default 12)")
    args = parser.parse_args()
    one_load()  # warm the file system cache and the bytecode
    loads = [one_load() for _ in range(args.repeat)]
    print(json.dumps({
        "loads": args.repeat,
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "wall_seconds_median": round(statistics.median(w for w, _ in loads), 2),
        "cpu_seconds_median": round(statistics.median(c for _, c in loads), 2),
        "cpu_seconds_each": [round(c, 2) for _, c in loads],
        "slowest_imports_seconds": import_costs(args.top),
    }, indent=2))


if __name__ == "__main__":
    main()

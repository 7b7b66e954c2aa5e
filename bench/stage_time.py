"""Time of each of issue #14's generation stages (``dental_synthetic.generate.LATER_STAGES``) beside the
whole ``generate()``, per practice size, in this process.

    .venv/bin/python bench/stage_time.py [--sizes 5000,100000] [--seed 3]

Prints a Markdown table: patients, whole generate() seconds, each stage's seconds and the rows of its
largest table. One run per size; give the machine's load with the figures (`uptime`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dental_synthetic import SyntheticConfig, generate  # noqa: E402

GENERATE = sys.modules["dental_synthetic.generate"]
AS_OF = dt.date(2025, 6, 30)


def timed_generate(patients: int, seed: int) -> tuple[float, dict[str, float], dict[str, int]]:
    """(whole seconds, {stage: seconds}, {table: rows}) of one generate() with every stage timed."""
    stages = GENERATE.LATER_STAGES
    seconds: dict[str, float] = {}
    originals = {stage: stage.build for stage in stages}

    def timer(stage):
        def build(*args):
            start = time.perf_counter()
            originals[stage](*args)
            seconds[stage.__name__.rsplit(".", 1)[-1]] = time.perf_counter() - start
        return build

    for stage in stages:
        stage.build = timer(stage)
    try:
        start = time.perf_counter()
        practice = generate(SyntheticConfig(as_of=AS_OF, patients=patients, seed=seed))
        whole = time.perf_counter() - start
    finally:
        for stage, build in originals.items():
            stage.build = build
    rows = {name: practice.tables[name].num_rows for stage in stages for name in stage.TABLES}
    return whole, seconds, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,100000")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    names = [stage.__name__.rsplit(".", 1)[-1] for stage in GENERATE.LATER_STAGES]
    print("| patients | generate s | " + " | ".join(f"{n} s" for n in names) + " | largest new table |")
    print("|---:|---:|" + "---:|" * len(names) + "---|")
    for size in (int(s) for s in args.sizes.split(",")):
        whole, seconds, rows = timed_generate(size, args.seed)
        largest = max(rows, key=rows.get)
        print(f"| {size:,} | {whole:.1f} | " + " | ".join(f"{seconds[n]:.2f}" for n in names)
              + f" | {largest} {rows[largest]:,} |", flush=True)


if __name__ == "__main__":
    main()

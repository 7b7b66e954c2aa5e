"""Wall time of `./dev test`, and where it goes: the slowest tests and test files.

    .venv/bin/python bench/test_time.py                      # the whole suite, as `./dev test` runs it
    .venv/bin/python bench/test_time.py --workers 0          # in one process (no pytest-xdist)
    .venv/bin/python bench/test_time.py --repeat 2 -- tests/test_partitions.py -q   # pytest args after --

Runs `./dev test` (set-up, `dbt parse`, the test servers, pytest on DENTAL_TEST_WORKERS processes) with a
JUnit XML report in a temporary folder, `--repeat` times (default 1), and reports per repetition:

- the wall time of the whole command, and pytest's own session time;
- tests passed / failed / errors / skipped (the exit status is reported, never hidden);
- the `--top` (default 20) slowest tests: time of setup + call + teardown, as JUnit reports it, so a
  module fixture (a built warehouse) counts in the first test of its module;
- the slowest test files (sum of their tests): with `--dist loadfile` a file runs on one worker, so the
  slowest file is a lower bound of the wall time.

Measure on a quiet machine (`uptime`: load well below the number of CPUs) and give the load with the
figures. The 8-minute target of `./dev test` is for a quiet 2-core machine.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_suite(workers: str | None, pytest_args: list[str], report: Path) -> tuple[int, float]:
    """`./dev test` with a JUnit report at ``report``; returns (exit status, wall seconds)."""
    env = dict(os.environ)
    if workers is not None:
        env["DENTAL_TEST_WORKERS"] = workers
    command = [str(REPO_ROOT / "dev"), "test", "-p", "no:cacheprovider", f"--junitxml={report}", *pytest_args]
    started = time.monotonic()
    status = subprocess.run(command, cwd=REPO_ROOT, env=env).returncode
    return status, time.monotonic() - started


def read_report(report: Path) -> dict:
    """Counts, session time and per-test times (seconds) from a JUnit XML report of pytest."""
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = defaultdict(int)
    session = 0.0
    tests: list[tuple[float, str, str]] = []
    for suite in suites:
        session += float(suite.get("time", 0))
        for case in suite.iter("testcase"):
            seconds = float(case.get("time", 0))
            path = case.get("file") or case.get("classname", "").replace(".", "/") + ".py"
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            outcome = "passed"
            for child in case:
                if child.tag in ("failure", "error", "skipped"):
                    outcome = {"failure": "failed", "error": "errors", "skipped": "skipped"}[child.tag]
            counts[outcome] += 1
            tests.append((seconds, name, path))
    return {"counts": dict(counts), "session": session, "tests": tests}


def print_report(run: int, status: int, wall: float, result: dict, top: int) -> None:
    tests = sorted(result["tests"], reverse=True)
    files: dict[str, float] = defaultdict(float)
    for seconds, _, path in tests:
        files[path] += seconds
    counts = ", ".join(f"{n} {k}" for k, n in sorted(result["counts"].items()))
    print(f"\n== run {run}: exit {status}; wall {wall:.0f} s; pytest session {result['session']:.0f} s; "
          f"{counts}; sum of test times {sum(t for t, _, _ in tests):.0f} s")
    print(f"-- the {top} slowest tests (setup + call + teardown)")
    for seconds, name, _ in tests[:top]:
        print(f"{seconds:8.1f} s  {name}")
    print("-- the slowest test files (sum of their tests)")
    for path, seconds in sorted(files.items(), key=lambda item: -item[1])[:top]:
        print(f"{seconds:8.1f} s  {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", help="DENTAL_TEST_WORKERS for ./dev test (default: its own, one per CPU up to 4)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the suite (default 1)")
    parser.add_argument("--top", type=int, default=20, help="slowest tests and files to list (default 20)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.top < 1:
        parser.error("--repeat and --top must be at least 1")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"test_time: {os.cpu_count()} CPUs, load average {load:.2f} at the start", flush=True)
    worst = 0
    with tempfile.TemporaryDirectory(prefix="dental-test-time-") as tmp:
        for run in range(1, args.repeat + 1):
            report = Path(tmp) / f"junit_{run}.xml"
            status, wall = run_suite(args.workers, args.pytest_args, report)
            worst = worst or status
            if not report.exists():
                print(f"\n== run {run}: exit {status} after {wall:.0f} s; no report (pytest did not run)")
                continue
            print_report(run, status, wall, read_report(report), args.top)
    return worst


if __name__ == "__main__":
    sys.exit(main())

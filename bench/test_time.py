"""Wall time of `./dev test`, and where it goes: the slowest tests and test files.

    .venv/bin/python bench/test_time.py                      # the whole suite, as `./dev test` runs it
    .venv/bin/python bench/test_time.py --workers 0          # in one process (no pytest-xdist)
    .venv/bin/python bench/test_time.py --repeat 2 -- tests/test_partitions.py -q   # pytest args after --
    .venv/bin/python bench/test_time.py --cpu                # and the CPU used, by kind of process

Runs `./dev test` (set-up, `dbt parse`, the test servers, pytest on DENTAL_TEST_WORKERS processes) with a
JUnit XML report in a temporary folder, `--repeat` times (default 1), and reports per repetition:

- the wall time of the whole command, and pytest's own session time;
- tests passed / failed / errors / skipped (the exit status is reported, never hidden);
- the `--top` (default 20) slowest tests: time of setup + call + teardown, as JUnit reports it, so a
  module fixture (a built warehouse) counts in the first test of its module;
- the slowest test files (sum of their tests): with `--dist loadfile` a file runs on one worker, so the
  slowest file is a lower bound of the wall time;
- with `--cpu`, where the CPU went: every process on the machine sampled every `CPU_SAMPLE_S` seconds
  (psutil), its CPU seconds (user + system) while the suite ran summed by kind (the test workers, the
  tests' dbt processes, Dagster's `dbt build` processes, MariaDB, PostgreSQL, ...), and how busy the CPUs
  were. A process's CPU after its last sample is missed (at most `CPU_SAMPLE_S` of its life), as is what
  ran on the machine before the suite.

Measure on a quiet machine (`uptime`: load well below the number of CPUs) and give the load with the
figures. The 8-minute target of `./dev test` is for a quiet 2-core machine.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CPU_SAMPLE_S = 0.5

# (kind, words of the command line that name it), the first match wins; anything else is kind "other: <name>"
PROCESS_KINDS = (
    ("test workers (pytest-xdist)", ("exec(eval(sys.stdin.readline()))",)),
    ("tests' dbt processes (tests/warm_dbt.py)", ("warm_dbt.py",)),
    ("pytest (the main process)", ("-m pytest ", "bin/pytest ")),  # not "pytest": tests' temporary paths hold it
    ("dbt build (Dagster's dbt steps)", ("dbt build",)),
    ("dbt, other commands", ("/dbt ",)),
    ("dagster job execute", ("dagster job",)),
    ("dagster, other commands", ("dagster", "/dg ")),
    ("dental CLI", ("dental_assets.cli", "/dental ")),
    ("MariaDB", ("mariadbd",)),
    ("PostgreSQL", ("postgres:", "bin/postgres ")),  # a backend, the server
    ("chromium (browser tests)", ("chrom",)),
)


def process_kind(cmdline: list[str], name: str) -> str:
    """The kind of a process, from its command line (``PROCESS_KINDS``)."""
    line = " ".join(cmdline) + " "
    for kind, words in PROCESS_KINDS:
        if any(word in line for word in words):
            return kind
    return f"other: {name}"


class CpuSampler(threading.Thread):
    """Samples every process's CPU time every ``CPU_SAMPLE_S`` seconds until ``stop()``; ``seconds`` holds the
    CPU seconds (user + system) used since the first sample, by ``process_kind``."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seconds: dict[str, float] = defaultdict(float)
        self._last: dict[tuple[int, float], tuple[str, float]] = {}  # (pid, create time) -> (kind, cpu s)
        self._stopped = threading.Event()

    def _sample(self, count_new: bool) -> None:
        import psutil

        for proc in psutil.process_iter(["pid", "create_time", "cmdline", "name", "cpu_times"]):
            info = proc.info
            if info["cpu_times"] is None or info["create_time"] is None:
                continue  # gone, or not ours to read
            used = info["cpu_times"].user + info["cpu_times"].system
            key = (info["pid"], info["create_time"])
            if key in self._last:
                kind, before = self._last[key]
                self.seconds[kind] += used - before
            else:
                kind = process_kind(info["cmdline"] or [], info["name"] or "?")
                if count_new:  # started since the last sample: all of its CPU is the suite's
                    self.seconds[kind] += used
            self._last[key] = (kind, used)

    def run(self) -> None:
        self._sample(count_new=False)
        while not self._stopped.wait(CPU_SAMPLE_S):
            self._sample(count_new=True)

    def stop(self) -> None:
        self._stopped.set()
        self.join()


def print_cpu(seconds: dict[str, float], wall: float) -> None:
    total = sum(seconds.values())
    cpus = os.cpu_count() or 1
    print(f"-- CPU by kind of process: {total:.0f} CPU s in {wall:.0f} s, the {cpus} CPUs "
          f"{100 * total / (wall * cpus):.0f}% busy")
    for kind, used in sorted(seconds.items(), key=lambda item: -item[1]):
        if used >= 0.5:
            print(f"{used:8.1f} s  {kind}")


def run_suite(workers: str | None, pytest_args: list[str], report: Path,
              sampler: CpuSampler | None = None) -> tuple[int, float]:
    """`./dev test` with a JUnit report at ``report``, ``sampler`` running meanwhile; returns (exit status, wall
    seconds)."""
    env = dict(os.environ)
    if workers is not None:
        env["DENTAL_TEST_WORKERS"] = workers
    command = [str(REPO_ROOT / "dev"), "test", "-p", "no:cacheprovider", f"--junitxml={report}", *pytest_args]
    started = time.monotonic()
    if sampler is not None:
        sampler.start()
    try:
        status = subprocess.run(command, cwd=REPO_ROOT, env=env).returncode
    finally:
        if sampler is not None:
            sampler.stop()
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
    parser.add_argument("--cpu", action="store_true", help="also report the CPU used, by kind of process")
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
            sampler = CpuSampler() if args.cpu else None
            status, wall = run_suite(args.workers, args.pytest_args, report, sampler)
            worst = worst or status
            if not report.exists():
                print(f"\n== run {run}: exit {status} after {wall:.0f} s; no report (pytest did not run)")
                continue
            print_report(run, status, wall, read_report(report), args.top)
            if sampler is not None:
                print_cpu(sampler.seconds, wall)
    return worst


if __name__ == "__main__":
    sys.exit(main())

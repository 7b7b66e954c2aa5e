"""Benchmark of the synthetic practice: generate + load into PostgreSQL, and validate, by size.

    .venv/bin/python bench/synthetic_bench.py [--sizes 1000,5000,20000,50000,100000] [--validate 1000,5000,100000]

Needs a PostgreSQL server: ``DENTAL_BENCH_PG_URL`` (a ``postgresql+psycopg2://`` URL of a maintenance
database such as ``postgres``), else ``TEST_PG_URL`` (``eval "$(scripts/services.sh start)"``). It creates
(drops first) the database ``dental_synthetic_bench`` on that server and marks it as a demo target.

Each size runs the real CLI (``python -m dental_synthetic generate ... --target URL``) in a fresh process
under ``/usr/bin/time -v``: wall time and peak RSS are the whole process (interpreter start, imports,
generation, COPY into ``raw`` and the ledger into ``synthetic``); the CLI's own line splits generation
from loading. Then ``validate`` reads the tables back and checks every invariant. Prints a Markdown
table; figures are one run each on a shared machine (noisy).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dental_assets.warehouse import PgParams, mark_demo_target  # noqa: E402

DB = "dental_synthetic_bench"


def _url(server: str, dbname: str) -> str:
    return server.rsplit("/", 1)[0] + "/" + dbname


def _prepare(server_url: str) -> str:
    params = PgParams.from_url(server_url)
    conn = params.connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {DB}")
            cur.execute(f"CREATE DATABASE {DB}")
    finally:
        conn.close()
    mark_demo_target(dataclasses.replace(params, dbname=DB))
    return _url(server_url, DB)


def _timed(args: list[str]) -> tuple[int, str, float, float]:
    """Run under /usr/bin/time -v: (exit status, stdout, wall seconds, peak RSS in MiB)."""
    proc = subprocess.run(["/usr/bin/time", "-v", *args], capture_output=True, text=True, cwd=ROOT)
    wall = rss = float("nan")
    for line in proc.stderr.splitlines():
        line = line.strip()
        if line.startswith("Elapsed (wall clock) time"):
            parts = line.rsplit(" ", 1)[-1].split(":")
            wall = sum(float(p) * 60 ** i for i, p in enumerate(reversed(parts)))
        elif line.startswith("Maximum resident set size"):
            rss = int(line.rsplit(" ", 1)[-1]) / 1024
    return proc.returncode, proc.stdout, wall, rss


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,5000,20000,50000,100000")
    parser.add_argument("--validate", default="1000,5000,100000")
    parser.add_argument("--as-of", default="2025-06-30")
    args = parser.parse_args()
    server = os.environ.get("DENTAL_BENCH_PG_URL") or os.environ.get("TEST_PG_URL")
    if not server:
        print("set DENTAL_BENCH_PG_URL or TEST_PG_URL (eval \"$(scripts/services.sh start)\")", file=sys.stderr)
        return 2
    url = _prepare(server)
    validate_at = {int(s) for s in args.validate.split(",") if s}
    py = str(ROOT / ".venv" / "bin" / "python")
    print("| patients | rows | generate s | load s | wall s (process) | peak RSS MiB | rows/s | validate wall s | "
          "validate |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        code, out, wall, rss = _timed([py, "-m", "dental_synthetic", "generate", "--patients", str(n),
                                       "--as-of", args.as_of, "--target", url])
        if code != 0:
            print(f"generate failed for {n}: exit {code}", file=sys.stderr)
            return 1
        total = int(re.search(r"^total\s+([\d,]+)", out, re.M).group(1).replace(",", ""))
        gen, load = (float(x) for x in re.search(r"in ([\d.]+) s; written to .* in ([\d.]+) s", out).groups())
        v_wall, verdict = float("nan"), "-"
        if n in validate_at:
            v_code, v_out, v_wall, _ = _timed([py, "-m", "dental_synthetic", "validate", "--target", url])
            verdict = "pass" if v_code == 0 else f"FAIL ({v_code})"
            if v_code != 0:
                print(v_out, file=sys.stderr)
        print(f"| {n:,} | {total:,} | {gen:.1f} | {load:.1f} | {wall:.1f} | {rss:,.0f} | {total / wall:,.0f} | "
              f"{v_wall:.1f} | {verdict} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

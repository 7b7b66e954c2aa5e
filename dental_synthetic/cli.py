"""``python -m dental_synthetic generate ...`` / ``dental-synthetic generate ...``.

Generates a practice and writes it to ``--target``: a ``postgresql+psycopg2://`` URL writes the
``raw`` schema (the database must be marked as a demo target unless ``--force``); anything else is a
directory that receives one Parquet file per table. Prints the rows per table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

from .config import SyntheticConfig
from .generate import generate
from .safety import NotADemoTargetError, ensure_demo_target


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dental-synthetic", description="Synthetic OpenDental practice generator")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate a practice and write it to a database or a directory")
    gen.add_argument("--patients", type=int, default=5000, help="patient rows (default 5000)")
    gen.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    gen.add_argument("--as-of", type=_date, required=True, help="last simulated day, YYYY-MM-DD")
    gen.add_argument("--start", type=_date, default=None, help="first simulated day (default: as-of minus 3 years)")
    gen.add_argument("--target", required=True,
                     help="postgresql+psycopg2:// URL (writes schema raw) or a directory (writes Parquet)")
    gen.add_argument("--force", action="store_true", help="write into a database not marked as a demo target")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = SyntheticConfig(as_of=args.as_of, start=args.start, patients=args.patients, seed=args.seed)
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    params = None
    if args.target.startswith("postgresql"):
        import psycopg2

        from dental_assets.warehouse import PgParams

        try:  # an unusable URL, an unreachable or unmarked database: reported before any work
            params = PgParams.from_url(args.target)
            ensure_demo_target(params, force=args.force)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except NotADemoTargetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        except psycopg2.OperationalError:
            print(f"error: cannot connect to {params.describe()}", file=sys.stderr)
            return 2
    began = time.perf_counter()
    practice = generate(config)
    generated = time.perf_counter() - began
    if params is not None:
        from .writers import write_postgres_raw

        try:
            counts = write_postgres_raw(practice, params, force=args.force)
        except NotADemoTargetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        where = f"{params.describe()} schema raw"
    else:
        from .writers import write_parquet

        write_parquet(practice, args.target)
        counts = practice.row_counts()
        where = args.target
    width = max(len(name) for name in counts)
    for name, rows in counts.items():
        print(f"{name:<{width}}  {rows:>9,}")
    print(f"{'total':<{width}}  {sum(counts.values()):>9,}")
    print(f"generated {config.patients:,} patients ({config.start} to {config.as_of}, seed {config.seed}) "
          f"in {generated:.1f} s; written to {where} in {time.perf_counter() - began - generated:.1f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

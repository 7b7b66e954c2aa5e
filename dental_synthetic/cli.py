"""``python -m dental_synthetic generate ...`` / ``validate ...`` (also ``dental-synthetic``).

``generate`` simulates a practice and writes it to ``--target``:

- ``postgresql+psycopg2://...``: schema ``raw`` (OpenDental's tables) plus the ground truth in schema
  ``synthetic``; the database must be marked as a demo target (``dental warehouse mark-demo``) unless
  ``--force``;
- ``mysql+pymysql://...`` or ``mariadb+pymysql://...``: OpenDental's own tables, created with the real
  OpenDental DDL from the catalog (``dental_synthetic.mariadb_writer.write_mariadb``, same guard);
- a folder path: one Parquet file per table and the ledger in ``_ledger/``. A URL of any other form
  (``postgres://``, ``postgresql://`` without the driver, ...) is refused, never taken as a folder name.

``--dirty RATE`` injects the problems real databases hold (``dental_synthetic.dirty``) and lists them.
It prints the rows per table.

``validate --target URL [--as-of DATE]`` checks every invariant of ``dental_synthetic.validate`` on a
database holding OpenDental tables and prints a report; exit status 0 when every invariant holds, 1
when one does not, 2 for unusable arguments or an unreachable database, 3 for a refused target.

Arguments are checked by ``dental_assets.settings``; a bad one prints one line,
``dental-synthetic: <argument>: <problem> (example: ...)``, and exits 2 (no password is ever shown).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

from dental_assets import settings
from dental_assets.errors import ConfigurationError

from .config import SyntheticConfig
from .generate import generate
from .safety import NotADemoTargetError, ensure_demo_folder, ensure_demo_target


PROG = "dental-synthetic"


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, ``dental-synthetic ...: <message>``, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from exc


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a rate is between 0 and 1, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Synthetic OpenDental practice generator")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    gen = sub.add_parser("generate", help="generate a practice and write it to a database or a directory")
    gen.add_argument("--patients", default="5000", help="patient rows (default 5000)")
    gen.add_argument("--seed", default="42", help="random seed (default 42)")
    gen.add_argument("--as-of", required=True, help="last simulated day, YYYY-MM-DD, today at the latest")
    gen.add_argument("--start", type=_date, default=None, help="first simulated day (default: as-of minus 3 years)")
    gen.add_argument("--insurance-rate", type=_rate, default=SyntheticConfig.insurance_rate,
                     help=f"share of families insured (default {SyntheticConfig.insurance_rate})")
    gen.add_argument("--completion-rate", type=_rate, default=SyntheticConfig.completion_rate,
                     help=f"share of past appointments completed (default {SyntheticConfig.completion_rate})")
    gen.add_argument("--broken-rate", type=_rate, default=SyntheticConfig.broken_rate,
                     help=f"share of past appointments broken / no-show (default {SyntheticConfig.broken_rate})")
    gen.add_argument("--fee-match-rate", type=_rate, default=SyntheticConfig.fee_match_rate,
                     help=f"share of procedures billed at the fee schedule's fee (default {SyntheticConfig.fee_match_rate})")
    gen.add_argument("--dirty", type=_rate, default=0.0, metavar="RATE",
                     help="inject real-world data problems at this rate (default 0: clean)")
    gen.add_argument("--target", required=True,
                     help="postgresql+psycopg2:// URL (schema raw), mysql+pymysql:// URL (OpenDental tables) "
                          "or a directory (Parquet)")
    gen.add_argument("--force", action="store_true", help="write into a database or folder not marked as a demo target")
    val = sub.add_parser("validate", help="check the invariants of OpenDental tables in a database")
    val.add_argument("--target", required=True, help="postgresql+psycopg2:// or mysql+pymysql:// URL")
    val.add_argument("--as-of", type=_date, default=None,
                     help="the day the stored aging is as of (default: recorded by generate in schema synthetic)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        return _generate(args)
    except ConfigurationError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2


def _validate(args) -> int:
    from .validate import validate_target

    settings.parse_target(args.target, "--target", parquet=False)
    try:
        report = validate_target(args.target, args.as_of)
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # driver errors: name the kind, never the URL (it may hold a password)
        if type(exc).__module__.split(".")[0] in ("psycopg2", "pymysql"):
            print(f"{PROG}: cannot read the target database ({type(exc).__name__})", file=sys.stderr)
            return 2
        raise
    print(report.text())
    return 0 if report.ok else 1


def _generate(args) -> int:
    from dental_assets.replication.mysql import MySqlParams

    target = settings.parse_target(args.target, "--target")  # before anything is created
    args.patients = settings.parse_patients(args.patients, "--patients")
    args.seed = settings.parse_seed(args.seed, "--seed")
    args.as_of = settings.parse_as_of(args.as_of, "--as-of")
    try:
        config = SyntheticConfig(as_of=args.as_of, start=args.start, patients=args.patients, seed=args.seed,
                                 insurance_rate=args.insurance_rate, completion_rate=args.completion_rate,
                                 broken_rate=args.broken_rate, fee_match_rate=args.fee_match_rate)
    except (TypeError, ValueError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    if isinstance(target, MySqlParams) and not _mariadb_writer_available():
        print(f"{PROG}: the MariaDB writer (dental_synthetic.mariadb_writer) is not available in this "
              "installation; write to PostgreSQL or Parquet instead", file=sys.stderr)
        return 2
    try:
        _ensure_marked(target, args)  # an unreachable or unmarked target: reported before any work
        began = time.perf_counter()
        practice = generate(config)
        if args.dirty > 0:
            from .dirty import make_dirty

            practice = make_dirty(practice, args.dirty)
        generated = time.perf_counter() - began
        counts, where = _write(practice, target, args)
    except NotADemoTargetError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 3
    _print_counts(counts)
    if "injections" in practice.ledger:
        _print_injections(practice.ledger["injections"], args.dirty)
    print(f"generated {config.patients:,} patients ({config.start} to {config.as_of}, seed {config.seed}) "
          f"in {generated:.1f} s; written to {where} in {time.perf_counter() - began - generated:.1f} s")
    return 0


def _ensure_marked(target, args) -> None:
    """Raise NotADemoTargetError for a target not marked as a demo target, unless ``--force``: a
    PostgreSQL database (PgParams; ConfigurationError when unreachable), a MariaDB one (MySqlParams) or a
    Parquet folder (a Path)."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.warehouse import PgParams

    if isinstance(target, PgParams):
        ensure_demo_target(target, force=args.force)
    elif isinstance(target, MySqlParams):
        from .mariadb_writer import ensure_mariadb_demo_target

        ensure_mariadb_demo_target(args.target, force=args.force)
    else:
        ensure_demo_folder(target, force=args.force)


def _mariadb_writer_available() -> bool:
    try:
        from . import mariadb_writer  # noqa: F401
    except ImportError:
        return False
    return True


def _write(practice, target, args) -> tuple[dict[str, int], str]:
    """Write ``practice`` to ``target`` (PgParams: schema raw, the ground truth in schema synthetic;
    MySqlParams: OpenDental's tables; else a Parquet folder). Returns (rows per table, where it went:
    no credentials). Raises NotADemoTargetError for a database not marked as a demo target."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.warehouse import PgParams

    if isinstance(target, PgParams):
        from .writers import write_postgres_raw

        counts = write_postgres_raw(practice, target, force=args.force)
        return counts, f"{target.describe()} schema raw (ground truth in schema synthetic)"
    if isinstance(target, MySqlParams):
        from .mariadb_writer import write_mariadb

        result = write_mariadb(practice, args.target, force=args.force)
        return (result if isinstance(result, dict) and result else practice.row_counts()), "the MariaDB/MySQL target"
    from .writers import write_parquet

    write_parquet(practice, args.target, force=args.force)
    return practice.row_counts(), f"{args.target} (ground truth in _ledger/)"


def _print_counts(counts: dict[str, int]) -> None:
    width = max(len(name) for name in counts)
    for name, rows in counts.items():
        print(f"{name:<{width}}  {rows:>9,}")
    print(f"{'total':<{width}}  {sum(counts.values()):>9,}")


def _print_injections(injections, rate: float) -> None:
    """Dirty mode's injected rows per kind, table.column and the validate check that reports them."""
    kinds = injections.group_by(["Kind", "TableName", "ColumnName", "CheckName"]).aggregate([("KeyNum", "count")])
    print(f"dirty mode (rate {rate}): {injections.num_rows:,} rows injected")
    for row in kinds.to_pylist():
        column = f"{row['TableName']}.{row['ColumnName']}"
        print(f"  {row['Kind']:<22} {column:<24} {row['KeyNum_count']:>7,}  -> {row['CheckName']}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""What issue 13's two remaining levers would give the incremental sync, emulated at no cost (a
measurement only: nothing here is a way to sync).

    eval "$(DENTAL_TEST_PG_SHARED_BUFFERS=6GB scripts/services.sh start)"
    .venv/bin/python bench/levers.py --patients 50000 --buffer-pool-mb 3072 [--pairs 2]

The incremental sync after 1% of the rows edited and 0.1% deleted takes ~19% of the first sync, against
10% asked. Its two passes over every source row of each changed table are what a decision could remove:
the key buckets (they find the deletes; a binary log's row events would name them) and the check's
every-row totals (rows, key sum, modified and business-date sums; a check leaving them to the nightly
backstop would not read them). This script measures the sync with both gone, at no cost, against the
sync as it is. For each pair, each arm (``plain``, then ``levers``; the order alternates between pairs):

1. a new practice of ``--patients`` in the source (``bench/replication.py``'s), raw empty, settled;
   the first ``dental sync``;
2. ``bench/replication.py``'s change (``change_practice``); the source's keys of every table listed
   before and after it: the exact deletes and inserts, untimed (what the log's events would give);
3. ``dental sync`` as a process, timed (``_timed_process``). The ``levers`` arm runs it in a child of
   this script (``--child``) that first replaces, in the sync's own modules:
   - the source's key-bucket query by an empty one, and ``sync._key_difference`` by the listed keys
     (less the keys the sync copied, as it does): the log's work at no cost. ``bench/binlog_read.py``
     measured reading the same change's events at 0.46-0.49 s through ``mariadb-binlog``: add it;
   - the check's first source query (the every-row totals) by a constant row, and the check's verdict
     by a comparison of the rows hashed and their hash sum only: the check without the totals;
4. every table's key count and key sum compared on both sides (the emulation deleted what it should).

Reports each sync's seconds, its share of the arm's first sync, and ``bench/replication.py``'s
breakdown (the tables' own seconds, the checks', the rest).

With PostgreSQL's 128 MB ``shared_buffers`` on a host that reclaims idle page cache (this VM's DAMON),
raw's pages go cold during step 2 and both arms double (docs/operations.md): start the server with
``DENTAL_TEST_PG_SHARED_BUFFERS=6GB`` as above.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import replication as bench  # noqa: E402  (bench/replication.py: the same practice, change and timing)


def source_keys(maria_url: str, tables) -> dict[str, list[int]]:
    """Every table's primary keys in the source, sorted."""
    conn = bench.mysql(maria_url)
    keys = {}
    with conn.cursor() as cur:
        for table in tables:
            cur.execute(f"SELECT `{table.primary_key}` FROM `{table.name}` ORDER BY 1")
            keys[table.name] = [row[0] for row in cur.fetchall()]
    conn.close()
    return keys


def key_changes(before: dict[str, list[int]], after: dict[str, list[int]]) -> dict[str, tuple[list, list]]:
    """Per table, (keys deleted, keys inserted) between two listings."""
    return {name: (sorted(set(before[name]) - set(after[name])), sorted(set(after[name]) - set(before[name])))
            for name in before}


def keys_differ(maria_url: str, pg_url: str, tables) -> list[str]:
    """The tables whose key count or key sum differs between the source and raw."""
    source, raw = bench.mysql(maria_url), bench.pg(pg_url)
    differ = []
    with source.cursor() as scur, raw.cursor() as rcur:
        for table in tables:
            scur.execute(f"SELECT COUNT(*), COALESCE(SUM(`{table.primary_key}`), 0) FROM `{table.name}`")
            rcur.execute(f'SELECT count(*), coalesce(sum("{table.primary_key}"), 0) FROM raw."{table.name}"')
            if tuple(map(int, scur.fetchone())) != tuple(map(int, rcur.fetchone())):
                differ.append(table.name)
    source.close()
    raw.close()
    return differ


def arm(maria_url: str, pg_url: str, patients: int, levers: bool, scratch: Path) -> dict:
    """Steps 1-4 of the module docstring for one arm."""
    from dental_assets.catalog import raw_tables
    from dental_synthetic import SyntheticConfig, generate
    from dental_synthetic.mariadb_writer import write_mariadb

    tables = list(raw_tables())
    bench.recreate(maria_url, pg_url)
    practice = generate(SyntheticConfig(as_of=dt.date(2025, 6, 30), patients=patients, seed=42))
    write_mariadb(practice, maria_url, force=True)  # bench_repl was created by this script just now
    env = dict(os.environ, DENTAL_SOURCE="opendental", OPENDENTAL_URL=maria_url, DENTAL_WAREHOUSE_URL=pg_url)
    env.pop("DAGSTER_HOME", None)
    sync = [sys.executable, "-m", "dental_assets.cli", "sync"]
    bench.settle(maria_url, pg_url)
    first = bench._timed_process(sync, env)
    bench.settle(maria_url, pg_url)
    before = source_keys(maria_url, tables)
    changed = bench.change_practice(maria_url, tables)
    changes = scratch / "key_changes.json"
    changes.write_text(json.dumps(key_changes(before, source_keys(maria_url, tables))))
    bench.settle(maria_url, pg_url)
    run = [sys.executable, __file__, "--child", str(changes)] if levers else sync
    incremental = bench._timed_process(run, env)
    if first["exit"] or incremental["exit"]:
        raise SystemExit(f"a dental sync failed:\n{incremental['stdout'][-3000:]}{incremental['stderr']}")
    return {"arm": "levers" if levers else "plain", "changed": changed,
            "first_seconds": round(first["seconds"], 2), "incremental_seconds": round(incremental["seconds"], 2),
            "incremental_vs_first": round(incremental["seconds"] / first["seconds"], 3),
            "incremental_breakdown": bench._sync_breakdown(incremental),
            "tables_whose_keys_differ_after": keys_differ(maria_url, pg_url, tables)}


def child(changes: Path) -> int:
    """``dental sync`` with the two levers emulated (step 3 of the module docstring)."""
    import numpy as np

    from dental_assets.cli import main
    from dental_assets.replication import buckets, fingerprint, replicate, sync

    listed = {name: (np.array(gone, dtype=np.int64), np.array(new, dtype=np.int64))
              for name, (gone, new) in json.loads(changes.read_text()).items()}
    none = np.zeros(0, dtype=np.int64)

    def key_difference(params, cur, table, target, src_where, pg_where, source, raw, copied):
        gone, new = listed.get(table.name, (none, none))
        return np.setdiff1d(gone, copied), np.setdiff1d(new, copied)

    check_queries, verify = fingerprint.source_check_queries, sync.verify_window

    def source_check_queries(table, cols, window, scope=fingerprint.EVERY_ROW, *args, **kwargs):
        queries = check_queries(table, cols, window, scope, *args, **kwargs)
        return queries if scope.everything else ["SELECT 0, 0, 0, 0"] + queries[1:]

    def verify_window(*args, **kwargs):
        _, source, raw = verify(*args, **kwargs)
        return source[2:4] == raw[2:4], source, raw  # (rows hashed, hash sum)

    buckets.source_sql = lambda *args, **kwargs: "SELECT 0, 0, 0, 0 FROM DUAL WHERE FALSE"
    sync._key_difference = key_difference
    fingerprint.source_check_queries = source_check_queries
    replicate.verify_window = verify_window
    return main(["sync"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--buffer-pool-mb", type=int, default=None,
                        help="resize the source MariaDB's InnoDB buffer pool first (e.g. 3072 for 50,000 patients)")
    parser.add_argument("--pairs", type=int, default=1, help="plain/levers pairs, the order alternating")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        sys.exit(child(args.child))
    maria_url, pg_url = bench.urls()
    bench.recreate(maria_url, pg_url)
    pool_mb = bench.buffer_pool_mb(maria_url, args.buffer_pool_mb)
    print(f"source InnoDB buffer pool: {pool_mb:,} MiB; warehouse shared_buffers: {bench.shared_buffers(pg_url)}",
          flush=True)
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_levers_{os.getpid()}"
    scratch.mkdir(exist_ok=True)
    results = []
    for pair in range(args.pairs):
        for levers in ((False, True) if pair % 2 == 0 else (True, False)):
            started = time.strftime("%H:%M")
            results.append({"started": started, **arm(maria_url, pg_url, args.patients, levers, scratch)})
            print(json.dumps(results[-1]), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

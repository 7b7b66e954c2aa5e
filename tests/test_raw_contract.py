"""Raw keeps OpenDental's contract: staging SQL written in another team's style (OpenDental's quoted
CamelCase column names, casts from its MySQL types; ``tests/foreign_staging/``) runs unchanged on our
raw schema, whether the synthetic writer or the replication from MariaDB loaded it (issue #14)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dental_assets.catalog import raw_table
from dental_assets.warehouse import PgParams, mark_demo_target
from dental_synthetic import SyntheticConfig, generate, write_postgres_raw
from dental_synthetic.mariadb_writer import mark_mariadb_demo_target, write_mariadb
from test_replication import _sync_direct
from test_replication_support import pg_conn

FOREIGN = Path(__file__).resolve().parent / "foreign_staging"
FILES = sorted(FOREIGN.glob("*.sql"))
# the tables the files read besides their own (joins), which the replication path must copy too
JOINED = {"periomeasure": ["perioexam"], "claimtracking": ["claim"], "sheet": ["sheetfield"]}


@pytest.fixture(scope="module")
def practice():
    return generate(SyntheticConfig(as_of=dt.date(2025, 6, 30), patients=150, seed=7))


def _run_every_file(pg_url: str) -> dict[str, tuple[int, int]]:
    """{table: (rows the file returned, rows of raw.<table>)}; a file that fails raises."""
    out = {}
    conn = pg_conn(pg_url)
    try:
        with conn.cursor() as cur:
            for path in FILES:
                cur.execute(path.read_text())
                returned = len(cur.fetchall())
                cur.execute(f'SELECT count(*) FROM raw."{path.stem}"')
                out[path.stem] = (returned, cur.fetchone()[0])
    finally:
        conn.close()
    return out


def test_every_file_names_a_raw_table():
    assert len(FILES) >= 10
    for path in FILES:
        assert raw_table(path.stem).name == path.stem  # KeyError if the table is not in the selection


def test_foreign_staging_runs_on_the_synthetic_raw(pg_url, practice):
    params = PgParams.from_url(pg_url)
    mark_demo_target(params)
    write_postgres_raw(practice, params)
    counts = _run_every_file(pg_url)
    for table, (returned, rows) in counts.items():
        assert returned == rows, table  # one row per source row, none lost to a type or name error
        assert rows == practice.tables[table].num_rows > 0, table


def test_foreign_staging_runs_on_the_replicated_raw(mariadb_url, pg_url, practice):
    mark_mariadb_demo_target(mariadb_url)
    write_mariadb(practice, mariadb_url)
    names = sorted({p.stem for p in FILES} | {t for p in FILES for t in JOINED.get(p.stem, [])})
    _sync_direct(mariadb_url, pg_url, [raw_table(n) for n in names])
    counts = _run_every_file(pg_url)
    for table, (returned, rows) in counts.items():
        assert returned == rows == practice.tables[table].num_rows > 0, table

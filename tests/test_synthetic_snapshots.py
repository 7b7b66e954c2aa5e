"""A synthetic practice loaded over an earlier one's warehouse starts its snapshots afresh.

The demo (``./dev demo``) reuses its warehouse, and a new run loads a newly generated practice. The dbt
snapshots (fees, coverage, plans) keep versions by SecDateTEdit: the earlier practice's versions stayed
beside the new one's, two fee versions of one schedule and code were valid at once, and
fct_treatment_journey repeated procedures (668 in a demo after the generator changed). Replacing a whole
raw table from the synthetic source drops its snapshot in the same transaction."""

import datetime as dt

import psycopg2

from dental_assets.catalog import raw_table
from dental_assets.defs.raw.assets import _replace_window
from dental_synthetic import SyntheticConfig, generate


def _relations(conn) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname IN ('raw', 'snapshots')")
        return {r[0] for r in cur.fetchall()}


def test_a_whole_table_replaced_drops_its_snapshot_and_no_other(pg_url):
    practice = generate(SyntheticConfig(as_of=dt.date(2025, 6, 30), patients=20, seed=3))
    conn = psycopg2.connect(pg_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("CREATE SCHEMA snapshots")
            for name in ("fee", "patplan"):  # an earlier practice's history
                cur.execute(f"CREATE TABLE snapshots.snap_opendental__{name} (fee_num bigint, dbt_valid_from timestamp)")
        _replace_window(conn, raw_table("fee"), None, practice.tables["fee"])
        assert "snapshots.snap_opendental__fee" not in _relations(conn)
        assert {"raw.fee", "snapshots.snap_opendental__patplan"} <= _relations(conn)  # only the table's own
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM raw.fee")
            assert cur.fetchone()[0] == practice.tables["fee"].num_rows > 0
    finally:
        conn.close()

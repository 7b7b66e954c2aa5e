"""Key-bucket fingerprints (``dental_assets.replication.buckets``): the comparison on its own, the same
aggregates from MariaDB, PostgreSQL and numpy, and incremental syncs that rely on them (deletes spread
over a table, several differences in one bucket, negative keys)."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest

from dental_assets.catalog import mysql_create_table_sql, pg_create_table_sql, raw_table
from dental_assets.partitions import Window
from dental_assets.replication import buckets
from dental_assets.replication.buckets import Buckets, compare
from test_replication_support import assert_raw_equals_source, mysql_conn, pg_conn, raw_lock_waiters, source_sql


def of(keys) -> Buckets:
    """The buckets of a key set, computed the plain way (one bucket at a time)."""
    keys = np.asarray(sorted(keys), dtype=np.int64)
    rows = []
    for bucket in sorted(set((keys >> buckets.SHIFT).tolist())):
        members = keys[(keys >> buckets.SHIFT) == bucket]
        rows.append((bucket, len(members), int(np.bitwise_xor.reduce(members)),
                     int(np.bitwise_xor.reduce(buckets.key_hash(members)))))
    return Buckets.from_rows(rows)


def resolve(source_keys: set[int], raw_keys: set[int]) -> tuple[set[int], set[int], int]:
    """What a sync does with ``compare``: decoded keys, plus the listed ranges' key lists compared."""
    diff = compare(of(source_keys), of(raw_keys))
    gone, new = set(diff.gone.tolist()), set(diff.new.tolist())
    listed = 0
    for lo, hi in zip(diff.lo.tolist(), diff.hi.tolist()):
        in_source = {k for k in source_keys if lo <= k <= hi}
        in_raw = {k for k in raw_keys if lo <= k <= hi}
        listed += len(in_source) + len(in_raw)
        gone |= in_raw - in_source
        new |= in_source - in_raw
    return gone, new, listed


def test_equal_sides_differ_nowhere():
    keys = set(range(1, 5000, 3))
    diff = compare(of(keys), of(keys))
    assert diff.buckets_differing == 0 and not len(diff.gone) and not len(diff.new) and not len(diff.lo)


def test_one_difference_per_bucket_is_decoded_without_listing_keys():
    source = set(range(1, 100_000))
    raw = set(source)
    deleted = set(range(11, 100_000, 337))  # every 337th key: at most one per 128-key bucket
    source -= deleted
    hit = {k >> buckets.SHIFT for k in deleted}
    # old keys the source gained (raw lacks them), in buckets without a delete
    inserted = {b * 128 + 7 for b in range(1, 700) if b not in hit}
    inserted = set(sorted(inserted)[:2])
    raw -= inserted
    gone, new, listed = resolve(source, raw)
    assert (gone, new, listed) == (deleted, inserted, 0)


def test_buckets_with_several_differences_are_listed():
    source = set(range(1, 2000))
    raw = set(source)
    source -= {3, 5, 900}  # two deletes in bucket 0, one in bucket 7
    source |= {5000}  # a new bucket on the source side only
    raw -= {1001}  # raw lacks a key of bucket 7 too: two differences there
    gone, new, listed = resolve(source, raw)
    assert gone == {3, 5, 900} and new == {1001, 5000}
    # bucket 0 holds keys 1..127, bucket 7 keys 896..1023: each side lists its own keys there
    assert listed == (127 - 2) + 127 + (128 - 1) + (128 - 1)


def test_random_differences_always_resolve_exactly():
    rng = np.random.default_rng(7)
    for _ in range(30):
        universe = np.unique(rng.integers(0, 200_000, size=20_000))
        raw = set(universe.tolist())
        source = set(raw)
        source -= set(rng.choice(universe, size=rng.integers(0, 400), replace=False).tolist())
        source |= set(rng.integers(0, 250_000, size=rng.integers(0, 50)).tolist())
        gone, new, _ = resolve(source, raw)
        assert gone == raw - source and new == source - raw


def test_buckets_stay_up_to_date_as_keys_come_and_go():
    keys = set(range(1, 3000, 2))
    added = {2, 4, 2998, 10_001}
    removed = {1, 3, 2999}
    updated = of(keys).with_keys(np.array(sorted(added))).with_keys(np.array(sorted(removed)), remove=True)
    expected = of((keys | added) - removed)
    for mine, theirs in zip((updated.ids, updated.rows, updated.xors, updated.hashes),
                            (expected.ids, expected.rows, expected.xors, expected.hashes)):
        assert mine.tolist() == theirs.tolist()
    # a bucket emptied by removals disappears, as it does from a GROUP BY
    assert of({5, 9}).with_keys(np.array([5, 9]), remove=True).ids.tolist() == []


def test_negative_keys_are_not_usable():
    assert buckets.usable(of({1, 2}), of({3}))
    assert not buckets.usable(of({1}), of({-5, 1}))
    assert not buckets.usable(Buckets.parse(b"%d\t1\t1\t1\n" % (1 << 60)), of({1}))


def test_the_bucket_list_must_be_integers():
    assert Buckets.parse(b"").ids.tolist() == []
    with pytest.raises(ValueError, match="four integers"):
        Buckets.parse(b"1\t2\t3\n")
    with pytest.raises(ValueError, match="not an integer"):
        Buckets.parse(b"1\t2\t3\tx\n")


KEYS = [1, 2, 127, 128, 129, 4096, 70_000, 2_147_483_646, 2_147_483_647, 2_147_483_648, 9_000_000_000_123]


def _on_both_servers(mariadb_url: str, pg_url: str, keys, mariadb_sql: str, postgres_sql: str) -> tuple[list, list]:
    """procedurelog with ``keys`` in MariaDB and raw.procedurelog with the same in PostgreSQL; the rows
    of ``mariadb_sql`` and ``postgres_sql`` run on each."""
    table = raw_table("procedurelog")
    my = mysql_conn(mariadb_url)
    with my.cursor() as cur:
        cur.execute(mysql_create_table_sql(table))
        cur.executemany("INSERT INTO procedurelog (ProcNum, PatNum) VALUES (%s, 1)", [(k,) for k in keys])
        cur.execute(mariadb_sql)
        from_mariadb = list(cur.fetchall())
    my.close()
    pg = pg_conn(pg_url)
    with pg, pg.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS raw")
        cur.execute(pg_create_table_sql(table))
        cur.executemany('INSERT INTO raw.procedurelog ("ProcNum", "PatNum") VALUES (%s, 1)', [(k,) for k in keys])
        cur.execute(postgres_sql)
        from_postgres = list(cur.fetchall())
    pg.close()
    return from_mariadb, from_postgres


def test_mariadb_postgresql_and_numpy_agree(mariadb_url, pg_url):
    my_rows, pg_rows = _on_both_servers(mariadb_url, pg_url, KEYS, buckets.source_sql("procedurelog", "ProcNum", "TRUE"),
                                        buckets.raw_sql("raw.procedurelog", '"ProcNum"', "TRUE", '"DateTStamp"'))
    from_mariadb = Buckets.from_rows([tuple(int(v) for v in r) for r in my_rows])
    from_postgres = Buckets.from_rows([r[:4] for r in pg_rows])
    expected = of(KEYS)
    for side in (from_mariadb, from_postgres):
        assert side.ids.tolist() == expected.ids.tolist()
        assert side.rows.tolist() == expected.rows.tolist()
        assert side.xors.tolist() == expected.xors.tolist()
        assert side.hashes.tolist() == expected.hashes.tolist()


def test_joined_key_ranges_read_exactly_their_keys_on_both_servers(mariadb_url, pg_url):
    """``buckets.joined_ranges`` (the sync's key listing and the check's sample, on both servers):
    keys 1-20 without 7, ranges 0-1, 3-5, 7-7 (no row), 10-10 and 18-25, and the window condition
    ProcNum <> 4: by hand, 1, 3, 5, 10, 18, 19, 20."""
    lo, hi = [0, 3, 7, 10, 18], [1, 5, 7, 10, 25]
    pg_key = '"ProcNum"'
    my_rows, pg_rows = _on_both_servers(
        mariadb_url, pg_url, [k for k in range(1, 21) if k != 7],
        f"SELECT ProcNum FROM {buckets.joined_ranges(lo, hi, 'procedurelog', 'ProcNum', mysql=True)} "
        "WHERE ProcNum <> 4 ORDER BY 1",
        f"SELECT {pg_key} FROM {buckets.joined_ranges(lo, hi, 'raw.procedurelog', pg_key, mysql=False)} "
        f"WHERE {pg_key} <> 4 ORDER BY 1")
    assert [int(r[0]) for r in my_rows] == [1, 3, 5, 10, 18, 19, 20]
    assert [int(r[0]) for r in pg_rows] == [1, 3, 5, 10, 18, 19, 20]


def _procedures(url: str, keys) -> None:
    table = raw_table("procedurelog")
    conn = mysql_conn(url)
    with conn.cursor() as cur:
        cur.execute(mysql_create_table_sql(table))
        cur.executemany("INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, DateTStamp) "
                        "VALUES (%s, %s, '2024-03-05', '2024-03-06 10:00:00')", [(k, k % 97) for k in keys])
    conn.close()


@pytest.mark.parametrize("keys", [list(range(1, 20_001)), [k for k in range(-300, 300) if k]], ids=["spread", "negative"])
def test_incremental_sync_finds_deletes_spread_over_the_table(mariadb_url, pg_url, keys, monkeypatch):
    """Deletes one key in many buckets (decoded), two in every third bucket (listed: ~50 separate key
    ranges, 7 to a statement, so the source lists them in several statements), an edit, and a stray
    insert with an old timestamp; with negative keys the sync compares the full key lists instead."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window

    from dental_assets.replication import extract

    monkeypatch.setattr(buckets, "RANGES_PER_STATEMENT", 7)
    listed = []
    real_listing = extract.stream_keys_in_ranges

    def listing(params, table, where, lo, hi):
        listed.append(len(lo))
        return real_listing(params, table, where, lo, hi)

    monkeypatch.setattr(extract, "stream_keys_in_ranges", listing)
    table = raw_table("procedurelog")
    _procedures(mariadb_url, keys)
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)
    assert sync_window(params, pg, table, None).mode == "full"
    conn = mysql_conn(mariadb_url)
    with conn.cursor() as cur:
        deleted = cur.execute("DELETE FROM procedurelog WHERE ProcNum % 201 = 17 OR ProcNum IN (130, 131, 140) "
                              "OR ProcNum % 384 IN (3, 5)")
        cur.execute("UPDATE procedurelog SET ProcFee = 12.5, DateTStamp = '2024-04-01 09:00:00' "
                    "WHERE ProcNum = 150")
        cur.execute("INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, DateTStamp) "
                    "VALUES (100000, 1, '2024-03-05', '2001-01-01 00:00:00')")
    conn.close()
    result = sync_window(params, pg, table, None)
    assert result.mode == "incremental"
    assert result.rows_total == len(keys) - deleted + 1
    # listed: the 53 buckets 3j holding 384j + 3 and 384j + 5 (j = 0..52); bucket 1 (130, 131, 140)
    # joins bucket 0's range
    assert listed == ([] if min(keys) < 0 else [53])
    with pg.cursor() as cur:
        cur.execute("SELECT count(*) FROM raw.procedurelog")
        assert cur.fetchone()[0] == result.rows_total
    pg.close()
    assert_raw_equals_source(mariadb_url, pg_url, [table])


def _state(pg, table_name: str = "procedurelog", where: str = "TRUE") -> tuple:
    """The window's record (modified_max, rows, key_xor, hash_xor, then the check totals: key sum,
    modified sum, date sum) and the same read from raw, and whether the recorded buckets equal a scan
    of raw's; None when the window has no record."""
    from dental_assets.catalog import quote_pg
    from dental_assets.replication.extract import SourceColumns
    from dental_assets.replication.fingerprint import raw_totals_sql
    from dental_assets.replication.window_state import unpack

    table = raw_table(table_name)
    pk, mod = quote_pg(table.primary_key), quote_pg(table.modified_column)
    target = f"raw.{quote_pg(table.name)}"
    with pg.cursor() as cur:
        cur.execute("SELECT modified_max, rows, key_xor, hash_xor, key_sum, modified_sum, date_sum, buckets "
                    "FROM dental_sync.raw_windows WHERE raw_table = %s AND window_sql = %s",
                    (f"raw.{table.name}", where))
        row = cur.fetchone()
        if row is None:
            pg.rollback()
            return None
        *recorded, packed = row
        cur.execute(f"SELECT max({mod}), count(*), coalesce(bit_xor({pk}), 0), coalesce(bit_xor((({pk} % "
                    f"{buckets.PRIME}) * {buckets.MULTIPLIER}) % {buckets.PRIME}), 0), "
                    f"{raw_totals_sql(table, SourceColumns(table.columns))} FROM {target} WHERE {where}")
        latest, rows, key_xor, hash_xor, _, *sums = cur.fetchone()
        actual = (latest, rows, key_xor, hash_xor, *(int(v or 0) for v in sums))
        cur.execute(buckets.raw_sql(target, pk, where))
        scanned = Buckets.from_rows(cur.fetchall())
    pg.rollback()
    stored = unpack(packed)
    same_buckets = all(np.array_equal(getattr(stored, f), getattr(scanned, f))
                       for f in ("ids", "rows", "xors", "hashes"))
    return tuple(int(v) if v is not None and i else v for i, v in enumerate(recorded)), actual, same_buckets


def test_the_recorded_window_state_is_kept_true_and_not_trusted_after_outside_writes(mariadb_url, pg_url):
    """An incremental sync records the window's watermark, key totals, key buckets and check totals
    with the data (the check totals from the rows it removed and added), and the raw table's write
    count (its trigger counts every writing statement) and oid; a full copy drops the record, and the
    sampled check after it records the new copy from its scan of raw. The next sync takes raw's
    buckets from the record while nothing else wrote the table; after a write by hand, or the table
    dropped and re-created without the trigger, it reads raw's own (and trusts the watermark only
    while raw's key totals match), and raw ends equal to the source."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import check_scope, sync_window, verify_window

    table = raw_table("procedurelog")
    _procedures(mariadb_url, range(1, 3001))
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)
    result = sync_window(params, pg, table, None)
    assert result.mode == "full" and _state(pg) is None
    assert verify_window(params, pg, table, None, scope=check_scope(result, 4, 1))[0]  # records the copy
    recorded, actual, same_buckets = _state(pg)
    assert recorded == actual and recorded[1] == 3000 and same_buckets
    result = sync_window(params, pg, table, None)  # from the check's record
    assert result.mode == "incremental" and result.buckets_recorded
    conn = mysql_conn(mariadb_url)
    with conn.cursor() as cur:
        cur.execute("UPDATE procedurelog SET ProcFee = 1, DateTStamp = '2024-05-01 08:00:00' WHERE ProcNum = 7")
        cur.execute("DELETE FROM procedurelog WHERE ProcNum IN (8, 900)")
    result = sync_window(params, pg, table, None)
    assert result.mode == "incremental" and result.buckets_recorded
    recorded, actual, same_buckets = _state(pg)
    assert recorded == actual and recorded[1] == 2998 and same_buckets
    assert_raw_equals_source(mariadb_url, pg_url, [table])
    # raw rewritten behind the sync's back: an older copy of its window, one row fewer
    with pg, pg.cursor() as cur:
        cur.execute('UPDATE raw.procedurelog SET "ProcFee" = 0, "DateTStamp" = %s WHERE "ProcNum" = 7',
                    ("2024-03-06 10:00:00",))
        cur.execute('DELETE FROM raw.procedurelog WHERE "ProcNum" = 10')
    result = sync_window(params, pg, table, None)
    assert result.mode == "incremental" and not result.buckets_recorded and result.rows_total == 2998
    recorded, actual, same_buckets = _state(pg)
    assert recorded == actual and same_buckets
    assert_raw_equals_source(mariadb_url, pg_url, [table])
    assert sync_window(params, pg, table, None).buckets_recorded  # nothing else wrote it since
    # dropped and re-created as another writer would (no trigger: uncounted), one row fewer
    with pg, pg.cursor() as cur:
        cur.execute("CREATE TEMP TABLE kept AS SELECT * FROM raw.procedurelog WHERE \"ProcNum\" <> 20")
        cur.execute("DROP TABLE raw.procedurelog")
        cur.execute(pg_create_table_sql(table))
        cur.execute("INSERT INTO raw.procedurelog SELECT * FROM kept")
    result = sync_window(params, pg, table, None)
    assert result.mode == "incremental" and not result.buckets_recorded and result.rows_total == 2998
    pg.close()
    assert_raw_equals_source(mariadb_url, pg_url, [table])


def test_every_writer_of_a_raw_table_is_counted(mariadb_url, pg_url):
    """The write counter's trigger counts a statement of a role that may write the raw table but not
    the replication's bookkeeping (its function runs as its owner), and a TRUNCATE."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window

    table = raw_table("procedurelog")
    _procedures(mariadb_url, range(1, 101))
    pg = pg_conn(pg_url)
    sync_window(MySqlParams.from_url(mariadb_url), pg, table, None)

    def count() -> int:
        with pg.cursor() as cur:
            cur.execute("SELECT writes FROM dental_sync.raw_writes WHERE raw_table = 'raw.procedurelog'")
            value = cur.fetchone()[0]
        pg.rollback()
        return value

    before = count()
    role = "dental_test_raw_writer"
    with pg, pg.cursor() as cur:
        cur.execute(f"DROP ROLE IF EXISTS {role}")
        cur.execute(f"CREATE ROLE {role} NOLOGIN")
        cur.execute(f"GRANT USAGE ON SCHEMA raw TO {role}")
        cur.execute(f"GRANT UPDATE, SELECT ON raw.procedurelog TO {role}")
    try:
        with pg, pg.cursor() as cur:
            cur.execute(f"SET LOCAL ROLE {role}")
            cur.execute('UPDATE raw.procedurelog SET "ProcFee" = 2 WHERE "ProcNum" = 5')
            cur.execute("SELECT has_schema_privilege('dental_sync', 'USAGE')")
            assert not cur.fetchone()[0]  # the role cannot reach the bookkeeping itself
        assert count() == before + 1
        with pg, pg.cursor() as cur:
            cur.execute("TRUNCATE raw.procedurelog")
        assert count() == before + 2
    finally:
        with pg, pg.cursor() as cur:
            cur.execute(f"DROP OWNED BY {role}")
            cur.execute(f"DROP ROLE {role}")
        pg.close()


def test_a_window_record_packs_its_buckets_exactly():
    from dental_assets.replication.window_state import pack, unpack

    keys = np.array([1, 2, 130, 2**40 + 5, 2**62 + 1], dtype=np.int64)
    original = of(keys)
    again = unpack(pack(original))
    for field in ("ids", "rows", "xors", "hashes"):
        assert np.array_equal(getattr(again, field), getattr(original, field))
    assert unpack(pack(of([]))).total_rows == 0
    with pytest.raises(ValueError):
        unpack(b"\x00" * 33)


MONTHS = [Window(None, dt.date(2024, 2, 1)), Window(dt.date(2024, 2, 1), dt.date(2024, 3, 1)),
          Window(dt.date(2024, 3, 1), None)]


def test_the_check_takes_raw_totals_from_a_record_that_follows_every_write(mariadb_url, pg_url, monkeypatch):
    """Three monthly windows of procedurelog, each synced alone. The source then edits, re-dates (into
    another window, and to a zero date: the first window), deletes and inserts rows, one with an old
    timestamp (found by the key buckets). After each window's incremental sync, the window's recorded
    check totals (rows, sums of keys, timestamps and dates) equal a scan of raw's window, and the
    sampled check right after it takes raw's totals from that record (no scan of raw) and passes. A
    write by hand makes the record stale: the check then reads raw (and records it anew) and fails on
    the edit."""
    from dental_assets.catalog import quote_pg
    from dental_assets.replication import sync
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import check_scope, sync_window, verify_window

    table = raw_table("procedurelog")
    conn = mysql_conn(mariadb_url)
    with conn.cursor() as cur:
        cur.execute(mysql_create_table_sql(table))
        cur.executemany("INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, ProcFee, DateTStamp) "
                        "VALUES (%s, %s, %s, %s, '2024-03-06 10:00:00')",
                        [(k, k % 97, f"2024-0{1 + k % 3}-{1 + k % 28:02d}", k / 4) for k in range(1, 3001)])
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)
    for window in MONTHS:
        result = sync_window(params, pg, table, window)
        assert result.mode == "full"
        assert verify_window(params, pg, table, window, scope=check_scope(result, 4, 1))[0]
    with conn.cursor() as cur:
        stamp = "'2024-04-01 09:00:00'"
        cur.execute(f"UPDATE procedurelog SET ProcFee = 0.1, DateTStamp = {stamp} WHERE ProcNum IN (4, 5, 6)")
        cur.execute(f"UPDATE procedurelog SET ProcDate = '2024-02-10', DateTStamp = {stamp} WHERE ProcNum = 9")
        cur.execute(f"UPDATE procedurelog SET ProcDate = '2024-01-20', DateTStamp = {stamp} WHERE ProcNum = 10")
        cur.execute(f"UPDATE procedurelog SET ProcDate = '0000-00-00', DateTStamp = {stamp} WHERE ProcNum = 11")
        cur.execute("DELETE FROM procedurelog WHERE ProcNum IN (13, 14, 1500)")
        cur.execute(f"INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, DateTStamp) VALUES "
                    f"(5000, 1, '2024-02-02', {stamp}), (5001, 1, '2024-03-03', '2001-01-01 00:00:00')")
    conn.close()
    used, scans = [], []
    real_record, real_scan = sync.record_window, sync._raw_buckets
    monkeypatch.setattr(sync, "record_window", lambda *a: used.append(real_record(*a)) or used[-1])
    monkeypatch.setattr(sync, "_raw_buckets", lambda *a: scans.append(a[4]) or real_scan(*a))
    for window in reversed(MONTHS):
        result = sync_window(params, pg, table, window)
        assert result.mode == "incremental"
        recorded, actual, same_buckets = _state(pg, where=window.sql_predicate(quote_pg(table.business_date)))
        assert recorded == actual and same_buckets, window
        used.clear(), scans.clear()
        equal, src, raw = verify_window(params, pg, table, window, scope=check_scope(result, 4, 1),
                                        reread_keys=result.reread_keys)
        assert equal and src[2] > 0, (window, src, raw)
        assert used == [tuple(actual[1:2]) + tuple(actual[4:])] and not scans, window  # the record's totals
    assert_raw_equals_source(mariadb_url, pg_url, [table])
    with pg, pg.cursor() as cur:  # by hand: the trigger counts it, so the record is no longer current
        cur.execute('UPDATE raw.procedurelog SET "DateTStamp" = "DateTStamp" + interval \'1 second\' '
                    'WHERE "ProcNum" = 3')
    used.clear(), scans.clear()
    equal, src, raw = verify_window(params, pg, table, MONTHS[0], scope=check_scope(None, 4, 1))
    assert len(scans) == 1 and not equal and src[4] + 1 == raw[4]
    recorded, actual, _ = _state(pg, where=MONTHS[0].sql_predicate(quote_pg(table.business_date)))
    assert recorded[4:] == actual[4:] and used == [tuple(actual[1:2]) + tuple(actual[4:])]
    pg.close()


def test_more_deletes_and_stray_inserts_than_one_statement_takes(mariadb_url, pg_url):
    """An incremental sync whose deletes (10,000 keys a DELETE) and stray inserts (rows with an old
    timestamp, which only the key buckets find: 5,000 keys a copy) each need more than one statement: of
    keys 1..24,000, the 12,000 even keys deleted (every bucket listed), and 6,001 rows inserted with a
    timestamp from 2001 (keys 100,001..106,001). Every one is moved by the sync itself, before any check."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window

    table = raw_table("procedurelog")
    _procedures(mariadb_url, range(1, 24_001))
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)
    assert sync_window(params, pg, table, None).mode == "full"
    conn = mysql_conn(mariadb_url)
    with conn.cursor() as cur:
        assert cur.execute("DELETE FROM procedurelog WHERE ProcNum % 2 = 0") == 12_000
        cur.executemany("INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, DateTStamp) "
                        "VALUES (%s, 1, '2024-03-05', '2001-01-01 00:00:00')", [(k,) for k in range(100_001, 106_002)])
    conn.close()
    result = sync_window(params, pg, table, None)
    pg.close()
    assert (result.mode, result.rows_gone, result.rows_total) == ("incremental", 12_000, 12_000 + 6_001)
    assert_raw_equals_source(mariadb_url, pg_url, [table])


def test_without_look_back_an_edit_stamped_in_the_watermarks_second_is_read(mariadb_url, pg_url, monkeypatch):
    """``DENTAL_SYNC_LOOKBACK_SECONDS=0``: the incremental read takes the rows modified at or after the
    watermark itself (docs/replication.md, *incremental*, step 2: "at or after"). DateTStamp holds whole
    seconds, so an edit made after a sync in the second of raw's latest stamp carries that very stamp:
    read again and found different (``sync._drop_unchanged``), it replaces raw's row."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window

    monkeypatch.setenv("DENTAL_SYNC_LOOKBACK_SECONDS", "0")
    table = raw_table("procedurelog")
    _procedures(mariadb_url, range(1, 11))  # every row stamped 2024-03-06 10:00:00
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)
    assert sync_window(params, pg, table, None).mode == "full"
    source_sql(mariadb_url, "UPDATE procedurelog SET ProcFee = 42.5, DateTStamp = DateTStamp WHERE ProcNum = 7")
    result = sync_window(params, pg, table, None)
    pg.close()
    assert (result.mode, result.changed_since) == ("incremental", dt.datetime(2024, 3, 6, 10, 0))
    assert_raw_equals_source(mariadb_url, pg_url, [table])


def _raw_restored_by_hand(mariadb_url: str, pg_url: str):
    """(source params, warehouse connection, procedurelog) after ten procedures stamped 2024-03-06 10:00
    were synced, two edits stamped April and May synced (the record's watermark: May), then raw's window
    restored by hand from the older copy: the two edits undone, row 10 deleted."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window

    table = raw_table("procedurelog")
    _procedures(mariadb_url, range(1, 11))  # every row stamped 2024-03-06 10:00:00, ProcFee 0
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)
    assert sync_window(params, pg, table, None).mode == "full"
    source_sql(mariadb_url,
               "UPDATE procedurelog SET ProcFee = 11, DateTStamp = '2024-04-01 09:00:00' WHERE ProcNum = 5",
               "UPDATE procedurelog SET ProcFee = 12, DateTStamp = '2024-05-01 09:00:00' WHERE ProcNum = 6")
    assert sync_window(params, pg, table, None).mode == "incremental"
    assert _state(pg)[0][0] == dt.datetime(2024, 5, 1, 9, 0)  # the recorded watermark
    with pg, pg.cursor() as cur:  # the older copy
        cur.execute('UPDATE raw.procedurelog SET "ProcFee" = 0, "DateTStamp" = \'2024-03-06 10:00:00\' '
                    'WHERE "ProcNum" IN (5, 6)')
        cur.execute('DELETE FROM raw.procedurelog WHERE "ProcNum" = 10')
    return params, pg, table


def test_a_window_restored_by_hand_is_read_again_from_raws_own_watermark(mariadb_url, pg_url):
    """Raw's window restored by hand from an older copy (rows 5 and 6 back to their state before their
    edits of April and May, row 10 gone): its key totals no longer match the window's record, so the next
    sync takes raw's latest stamp (March) as the watermark, not the recorded one (May: the look-back from
    there would not reach row 5's April edit), and brings every row back (docs/replication.md, *Recorded
    state*: the recorded watermark only while raw's key totals still match it)."""
    from dental_assets.replication.sync import sync_window

    params, pg, table = _raw_restored_by_hand(mariadb_url, pg_url)
    result = sync_window(params, pg, table, None)
    pg.close()
    assert_raw_equals_source(mariadb_url, pg_url, [table])
    assert (result.mode, result.changed_since) == ("incremental", dt.datetime(2024, 3, 6, 9, 0))


def test_a_sync_holding_a_tables_write_count_keeps_its_other_writers_waiting(mariadb_url, pg_url):
    """``window_state.lock_writes`` locks the raw table's write count until the caller's transaction ends,
    so that no other write to the table commits between a sync's reads of raw and its record: another
    session's write waits on its trigger (cancelled here after 0.5 s), goes through once the lock is
    released, and is counted."""
    import psycopg2

    from dental_assets.replication import window_state
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window

    table = raw_table("procedurelog")
    _procedures(mariadb_url, range(1, 11))
    pg, other = pg_conn(pg_url), pg_conn(pg_url)
    update = 'UPDATE raw.procedurelog SET "ProcFee" = 2 WHERE "ProcNum" = 5'
    try:
        sync_window(MySqlParams.from_url(mariadb_url), pg, table, None)
        with pg.cursor() as cur:
            held = window_state.lock_writes(cur, "raw.procedurelog")
        with other.cursor() as cur:
            cur.execute("SET statement_timeout = 500")
            with pytest.raises(psycopg2.errors.QueryCanceled):
                cur.execute(update)
        other.rollback()  # (the timeout with it)
        pg.rollback()
        with other, other.cursor() as cur:
            cur.execute(update)
        with pg.cursor() as cur:
            assert window_state.lock_writes(cur, "raw.procedurelog") == held + 1
        pg.rollback()
    finally:
        pg.close()
        other.close()


def test_the_bookkeeping_an_older_version_left_is_brought_up_to_date(mariadb_url, pg_url):
    """A warehouse synced before 2026-12-05 holds ``dental_sync.raw_windows`` without the buckets, write
    count and check totals, and a write-count function of another body that runs as its caller. The next
    sync adds the columns (it records the window there) and replaces the function, so that a role that may
    write the raw table but not the bookkeeping has its write counted."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window

    table = raw_table("procedurelog")
    _procedures(mariadb_url, range(1, 101))
    pg = pg_conn(pg_url)
    role = "dental_test_old_bookkeeping_writer"
    with pg, pg.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS dental_sync")
        cur.execute("CREATE TABLE dental_sync.raw_windows (raw_table text NOT NULL, window_sql text NOT NULL, "
                    "modified_max timestamp, rows bigint NOT NULL, key_xor bigint NOT NULL, hash_xor bigint NOT NULL, "
                    "PRIMARY KEY (raw_table, window_sql))")
        cur.execute("CREATE TABLE dental_sync.raw_writes (raw_table text PRIMARY KEY, writes bigint NOT NULL)")
        cur.execute("CREATE FUNCTION dental_sync.count_raw_write() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN "
                    "UPDATE dental_sync.raw_writes SET writes = writes + 1 "
                    "WHERE raw_table = TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME; RETURN NULL; END$$")
    try:
        sync_window(MySqlParams.from_url(mariadb_url), pg, table, None, mode="full")
        sync_window(MySqlParams.from_url(mariadb_url), pg, table, None)  # records the window
        with pg, pg.cursor() as cur:
            cur.execute("SELECT buckets IS NOT NULL, raw_writes IS NOT NULL, key_sum, rows "
                        "FROM dental_sync.raw_windows WHERE raw_table = 'raw.procedurelog'")
            assert cur.fetchall() == [(True, True, sum(range(1, 101)), 100)]
            cur.execute("SELECT writes FROM dental_sync.raw_writes WHERE raw_table = 'raw.procedurelog'")
            before = cur.fetchone()[0]
            cur.execute(f"DROP ROLE IF EXISTS {role}")
            cur.execute(f"CREATE ROLE {role} NOLOGIN")
            cur.execute(f"GRANT USAGE ON SCHEMA raw TO {role}")
            cur.execute(f"GRANT UPDATE, SELECT ON raw.procedurelog TO {role}")
        with pg, pg.cursor() as cur:
            cur.execute(f"SET LOCAL ROLE {role}")
            cur.execute('UPDATE raw.procedurelog SET "ProcFee" = 2 WHERE "ProcNum" = 5')
        with pg, pg.cursor() as cur:
            cur.execute("SELECT writes FROM dental_sync.raw_writes WHERE raw_table = 'raw.procedurelog'")
            assert cur.fetchone()[0] == before + 1
    finally:
        with pg, pg.cursor() as cur:
            cur.execute(f"DROP OWNED BY {role}")
            cur.execute(f"DROP ROLE IF EXISTS {role}")
        pg.close()


def test_a_check_after_raw_was_restored_by_hand_records_raws_own_watermark(mariadb_url, pg_url):
    """As above, raw's window restored by hand from an older copy, but a sampled check comes first: it
    fails (row 10 is missing) and records the window from raw (``sync.record_window``) with raw's latest
    stamp (March) as the watermark, not the record's (May), since raw's key totals no longer match it; the
    next sync, trusting that new record, reads from March's look-back and brings every row back."""
    from dental_assets.replication.fingerprint import CheckScope
    from dental_assets.replication.sync import sync_window, verify_window

    params, pg, table = _raw_restored_by_hand(mariadb_url, pg_url)
    equal, _, _ = verify_window(params, pg, table, None, scope=CheckScope(sample=32, residue=0))
    assert not equal
    assert _state(pg)[0][0] == dt.datetime(2024, 3, 6, 10, 0)  # raw's own latest stamp
    result = sync_window(params, pg, table, None)
    pg.close()
    assert_raw_equals_source(mariadb_url, pg_url, [table])
    assert (result.mode, result.changed_since) == ("incremental", dt.datetime(2024, 3, 6, 9, 0))


def test_a_record_without_check_totals_is_read_again_from_raw(mariadb_url, pg_url):
    """A window recorded by the version that kept key buckets but not yet the check's totals (its
    ``key_sum``, ``modified_sum`` and ``date_sum`` NULL), with nothing written to raw since: it is not taken
    as current (``WindowState.current`` needs both), so the next incremental sync scans raw's window, brings
    the source's edit and records the totals (key sum 1 + ... + 10 = 55, ten rows)."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window

    table = raw_table("procedurelog")
    _procedures(mariadb_url, range(1, 11))
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)
    assert sync_window(params, pg, table, None).mode == "full"
    assert sync_window(params, pg, table, None).buckets_recorded is False  # (the full copy recorded nothing)
    with pg, pg.cursor() as cur:
        cur.execute("UPDATE dental_sync.raw_windows SET key_sum = NULL, modified_sum = NULL, date_sum = NULL "
                    "WHERE raw_table = 'raw.procedurelog'")
        assert cur.rowcount == 1
    source_sql(mariadb_url, "UPDATE procedurelog SET ProcFee = 7, DateTStamp = '2024-04-01 09:00:00' WHERE ProcNum = 3")
    result = sync_window(params, pg, table, None)
    assert (result.mode, result.buckets_recorded) == ("incremental", False)
    with pg, pg.cursor() as cur:
        cur.execute("SELECT rows, key_sum FROM dental_sync.raw_windows WHERE raw_table = 'raw.procedurelog'")
        assert cur.fetchall() == [(10, 55)]
    pg.close()
    assert_raw_equals_source(mariadb_url, pg_url, [table])


def test_a_write_count_started_again_does_not_vouch_for_an_older_record(mariadb_url, pg_url):
    """The record is current only at the very write count it was recorded at: a raw table's count row
    removed (the bookkeeping cleared by hand) starts again from 0, and a write by hand then leaves a count
    below the recorded one. The next sync does not take raw's buckets from the record: it scans raw and
    brings back the row deleted by hand."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window

    table = raw_table("procedurelog")
    _procedures(mariadb_url, range(1, 11))
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)
    assert sync_window(params, pg, table, None).mode == "full"
    sync_window(params, pg, table, None)  # records the window
    with pg, pg.cursor() as cur:
        cur.execute("SELECT raw_writes FROM dental_sync.raw_windows WHERE raw_table = 'raw.procedurelog'")
        assert cur.fetchone()[0] > 1
        cur.execute("DELETE FROM dental_sync.raw_writes WHERE raw_table = 'raw.procedurelog'")
    with pg, pg.cursor() as cur:
        cur.execute('DELETE FROM raw.procedurelog WHERE "ProcNum" = 4')
        cur.execute("SELECT writes FROM dental_sync.raw_writes WHERE raw_table = 'raw.procedurelog'")
        assert cur.fetchone()[0] == 1
    result = sync_window(params, pg, table, None)
    pg.close()
    assert (result.mode, result.buckets_recorded) == ("incremental", False)
    assert_raw_equals_source(mariadb_url, pg_url, [table])


def test_a_sync_waits_for_the_dbt_builds_reading_raw_and_they_for_it(mariadb_url, pg_url):
    """Raw held steady (``warehouse.raw_held_steady``, what each dbt build holds for its run): a sync of an
    edit waits for it before it writes (raw keeps the old fee, the sync's session waits on the lock) and
    copies the edit once it ends; a build that starts while a sync's transaction is open waits for that
    transaction to commit. Without it, a sync committing in the middle of a build changed the staging views
    under its tests (a false failure of assert_production_daily_reconciles)."""
    import threading

    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window
    from dental_assets.warehouse import PgParams, lock_raw_for_write, raw_held_steady

    table = raw_table("procedurelog")
    _procedures(mariadb_url, range(1, 11))
    params, warehouse = MySqlParams.from_url(mariadb_url), PgParams.from_url(pg_url)
    pg = pg_conn(pg_url)
    fee = 'SELECT "ProcFee" FROM raw.procedurelog WHERE "ProcNum" = 5'
    try:
        assert sync_window(params, pg, table, None).mode == "full"
        source_sql(mariadb_url, "UPDATE procedurelog SET ProcFee = 75, DateTStamp = '2024-04-01 09:00:00' "
                                "WHERE ProcNum = 5")
        synced = []
        with raw_held_steady(warehouse):
            sync = threading.Thread(target=lambda: synced.append(sync_window(params, pg, table, None)))
            sync.start()
            deadline = time.monotonic() + 20
            while raw_lock_waiters(warehouse, "ExclusiveLock") == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
            assert sync.is_alive() and not synced
            assert _pg_ints(pg_url, fee) == [(0,)]
        sync.join(30)
        assert not sync.is_alive() and synced[0].mode == "incremental"
        assert _pg_ints(pg_url, fee) == [(75,)]

        writer = pg_conn(pg_url)
        with writer.cursor() as cur:
            lock_raw_for_write(cur)  # a sync's transaction, open
        waited, held = [], threading.Event()

        def build() -> None:
            with raw_held_steady(warehouse, lambda: waited.append(True)):
                held.set()

        reader = threading.Thread(target=build)
        reader.start()
        deadline = time.monotonic() + 20
        while raw_lock_waiters(warehouse, "ShareLock") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert waited == [True] and not held.wait(0.5)
        writer.commit()
        writer.close()
        reader.join(30)
        assert held.is_set()
    finally:
        pg.close()
    assert_raw_equals_source(mariadb_url, pg_url, [table])


def _pg_ints(pg_url: str, sql: str) -> list[tuple]:
    conn = pg_conn(pg_url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return [tuple(int(v) for v in row) for row in cur.fetchall()]
    finally:
        conn.close()

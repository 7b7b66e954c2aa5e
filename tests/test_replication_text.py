"""The plain-text read path (``mariadb --batch`` -> COPY text): the reader's conversions on their own,
then awkward values through real MariaDB and PostgreSQL servers, both paths (text, and server-side CSV
when a string column is nullable), full and incremental."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest

from dental_assets.catalog import Column, Table, mysql_create_table_sql, quote_pg, raw_table
from dental_assets.replication import extract
from test_replication_support import assert_raw_equals_source, mysql_conn, pg_conn, source_sql


def _cols(*kinds_nullable: tuple[str, str, bool]) -> extract.SourceColumns:
    columns = tuple(Column(name=n, mysql_type=t, position=i) for i, (n, t, _) in enumerate(kinds_nullable))
    return extract.SourceColumns(columns, not_null=frozenset(n for n, _, nullable in kinds_nullable if not nullable))


def _read_all(reader) -> bytes:
    out = b""
    while chunk := reader.read():
        out += chunk
    return out


@pytest.mark.parametrize("catalog, source, held", [
    ("bigint(20)", "bigint(20)", True), ("bigint(20)", "int(10) unsigned", True),
    ("bigint(20)", "bigint(20) unsigned", False), ("bigint(20)", "varchar(20)", False),
    ("bigint(20)", "decimal(20,0)", False),
    ("int(11)", "int(11)", True), ("int(11)", "mediumint(8) unsigned", True), ("int(11)", "smallint(5) unsigned", True),
    ("int(11)", "int(11) unsigned", False), ("int(11)", "bigint(20)", False),
    ("tinyint", "tinyint(3) unsigned", True), ("tinyint", "smallint(6)", True),
    ("tinyint", "smallint(5) unsigned", False), ("tinyint", "int(11)", False),
    ("varchar(255)", "varchar(255)", True), ("varchar(255)", "char(10)", True), ("varchar(255)", "tinytext", True),
    ("varchar(255)", "varchar(256)", False), ("varchar(255)", "text", False),
    ("varchar(255)", "enum('a','b')", False),
    ("text", "longtext", True), ("text", "varchar(5000)", True),
    ("double", "double", True), ("double", "float", True), ("double", "decimal(15,2)", True),
    ("double", "decimal(16,2)", False), ("double", "decimal(20,6)", False), ("double", "int(10) unsigned", True),
    ("double", "bigint(20)", False), ("double", "varchar(20)", False),
    ("float", "float", True), ("float", "double", False), ("float", "decimal(7,0)", True),
    ("float", "decimal(8,0)", False), ("float", "decimal(5,1)", False), ("float", "mediumint(8) unsigned", True),
    ("float", "int(11)", False),
    ("date", "date", True), ("date", "datetime", False),
    ("datetime", "datetime", True), ("datetime", "timestamp", True), ("datetime", "date", True),
    ("timestamp", "datetime", True), ("time", "time", True), ("time", "datetime", False),
])
def test_raw_holds_the_source_types_it_can(catalog, source, held):
    """Whether raw's type (from the catalog's) takes every value of the source's declared type: by the
    types' ranges (PostgreSQL's smallint 32,767, integer 2**31 - 1; MySQL's unsigned ones twice theirs;
    the integers a real or double precision holds exactly, to 2**24 and 2**53; the 15 digits of a DECIMAL
    a double gives back as written), lengths and kinds."""
    assert extract.raw_holds(Column(name="C", mysql_type=catalog, position=0), source) is held


def test_raw_holds_every_catalog_column_as_the_catalog_declares_it():
    from dental_assets.catalog import raw_tables

    assert [(t.name, c.name) for t in raw_tables() for c in t.columns if not extract.raw_holds(c, c.mysql_type)] == []


def test_text_reader_converts_what_copy_text_cannot_take():
    cols = _cols(("K", "bigint(20)", False), ("S", "varchar(255)", False), ("D", "date", False),
                 ("T", "datetime", False), ("N", "int(11)", True))
    batch = (
        b"1\tNULL\t2020-01-02\t2020-01-02 03:04:05\tNULL\n"  # 'NULL' string kept, NULL int -> \N
        b"2\ta\\0b\\\\0c\t0000-00-00\t2020-05-00 10:00:00\t7\n"  # escaped NUL removed, literal \0 kept
        b"3\t2020-00-01\t2020-00-01\t0000-00-00 00:00:00\t-00\n"  # a zero-date-like string stays
        b"4\tcr\rlf\\n\t2021-02-03\t2021-02-03 00:00:00\t0\n"
        b"5\t\xff\xfe\t2021-02-03\t2021-02-03 00:00:00\t0\n"
    )
    assert cols.text_ok
    stats = extract.StreamStats()
    reader = extract.TextReader(io.BytesIO(batch), stats, cols)
    out = _read_all(reader).split(b"\n")
    assert out[0] == b"1\tNULL\t2020-01-02\t2020-01-02 03:04:05\t\\N"
    assert out[1] == b"2\tab\\\\0c\t\\N\t\\N\t7"
    assert out[2] == b"3\t2020-00-01\t\\N\t\\N\t-00"
    assert out[3] == b"4\tcr\\rlf\\n\t2021-02-03\t2021-02-03 00:00:00\t0"
    assert out[4] == "5\t\ufffd\ufffd\t2021-02-03\t2021-02-03 00:00:00\t0".encode()
    assert stats.conversions == {"nul_bytes_removed": 1, "zero_dates_to_null": 4, "invalid_utf8_replaced": 2}


def test_key_lists_parse_and_the_text_reader_refuses_broken_rows():
    cols = _cols(("K", "bigint(20)", False), ("S", "varchar(255)", False))
    assert extract.parse_keys(b"1\n2\n9\n").tolist() == [1, 2, 9]
    with pytest.raises(ValueError, match="not an integer"):
        extract.parse_keys(b"1\nx\n")
    with pytest.raises(ValueError, match="fields"):
        _read_all(extract.TextReader(io.BytesIO(b"1\tNULL\t3\n"), extract.StreamStats(), cols))
    # a string column the source lets be NULL: the text path cannot tell NULL from 'NULL'
    assert not _cols(("K", "bigint(20)", False), ("S", "varchar(9)", True)).text_ok
    assert not extract.SourceColumns(cols.columns).text_ok  # nullability unknown


def test_nul_bytes_removed_counts_bytes_on_the_synthetic_path_as_on_the_replication_path():
    """``converted/nul_bytes_removed`` is documented in bytes: the synthetic source's COPY
    (``pgcopy.sanitize_for_postgres``) counts 'a\\x00b\\x00' as 2, as the replication's reader does."""
    import pyarrow as pa

    from dental_assets.pgcopy import sanitize_for_postgres

    values = ["a\x00b\x00", "\x00\x00\x00", "clean", None, ""]
    data = pa.table({"Note": pa.array(values), "Big": pa.array(values, pa.large_string()),
                     "PatNum": pa.array([1, 2, 3, 4, 5])})
    clean, conversions = sanitize_for_postgres(data)
    assert conversions == {"nul_bytes_removed": 10}
    assert clean.column("Note").to_pylist() == ["ab", "", "clean", None, ""] == clean.column("Big").to_pylist()
    assert sanitize_for_postgres(pa.table({"Note": ["clean"]}))[1] == {}
    stats = extract.StreamStats()
    _read_all(extract.TextReader(io.BytesIO(b"1\ta\\0b\\0\n2\t\\0\\0\\0\n"), stats,
                                 _cols(("K", "bigint(20)", False), ("S", "varchar(9)", False))))
    assert stats.conversions == {"nul_bytes_removed": 5}  # the same values, half as many columns


def test_a_key_outside_int64_is_refused_by_its_position_never_clamped():
    """A key list line beyond int64 (an unsigned bigint key above 2**63 - 1, or below -2**63) is a
    ValueError naming its position, not its value; int64's own bounds still parse."""
    bounds = b"-9223372036854775808\n9223372036854775807\n"
    assert extract.parse_keys(b"1\n" + bounds).tolist() == [1, -2**63, 2**63 - 1]
    for beyond in (b"9223372036854775808", b"18446744073709551615", b"-9223372036854775809"):
        with pytest.raises(ValueError, match=r"outside int64 \(line 3 of 4\)") as error:
            extract.parse_keys(b"1\n" + bounds[:21] + beyond + b"\n5")
        assert beyond.decode() not in str(error.value)


AWKWARD = [  # (ToothRange, Surf, BillingNote): strings the client escapes or that look like markers
    ("NULL", "\\N", "a\\0b"),
    ("1\x002", "tab\there", "line\nbreak\r\nand cr\r"),
    ("2020-00-01", "-00", "dental:keys-follow"),
    ("\\", "\\\\", "\"quoted\", comma"),
    ("", "", "é ü 日本"),
]


def _source(url: str, nullable_string: bool) -> Table:
    table = raw_table("procedurelog")
    conn = mysql_conn(url)
    with conn.cursor() as cur:
        cur.execute(mysql_create_table_sql(table))
        cur.execute("ALTER TABLE procedurelog MODIFY DateComplete date NULL, ADD COLUMN FutureNum int NULL")
        if nullable_string:
            cur.execute("ALTER TABLE procedurelog MODIFY BillingNote text NULL")
        for i, (tooth, surf, note) in enumerate(AWKWARD, start=1):
            cur.execute("INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, ToothRange, Surf, BillingNote, "
                        "DateComplete, FutureNum) VALUES (%s, %s, '2024-03-05', %s, %s, %s, %s, %s)",
                        (i, i, tooth, surf, note, None if i % 2 else "2024-03-06", None if i % 2 else i))
        cur.execute("UPDATE procedurelog SET DateTP = '0000-00-00', ProcDate = '2024-00-10' WHERE ProcNum = 2")
        if nullable_string:
            cur.execute("INSERT INTO procedurelog (ProcNum, PatNum, BillingNote) VALUES (9, 9, NULL)")
    conn.close()
    return table


@pytest.mark.parametrize("nullable_string", [False, True], ids=["text", "csv"])
def test_awkward_values_full_then_incremental(mariadb_url, pg_url, nullable_string):
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.plan import nothing_changed
    from dental_assets.replication.sync import source_columns, sync_window

    table = _source(mariadb_url, nullable_string)
    params = MySqlParams.from_url(mariadb_url)
    assert source_columns(params, table).text_ok is not nullable_string
    pg = pg_conn(pg_url)
    first = sync_window(params, pg, table, None)
    assert first.mode == "full" and first.rows_total == first.rows_copied == len(AWKWARD) + nullable_string
    assert first.conversions["nul_bytes_removed"] == 1
    assert first.conversions["zero_dates_to_null"] == 2 + (4 if nullable_string else 0)  # CSV: NULLs counted
    assert_raw_equals_source(mariadb_url, pg_url, [table])
    with pg.cursor() as cur:
        cur.execute('SELECT "ToothRange", "FutureNum", "DateComplete" FROM raw.procedurelog WHERE "ProcNum" = 1')
        assert cur.fetchone() == ("NULL", None, None)
    conn = mysql_conn(mariadb_url)
    with conn.cursor() as cur:
        cur.execute("UPDATE procedurelog SET Surf = 'NULL', DateTStamp = DateTStamp + INTERVAL 1 HOUR "
                    "WHERE ProcNum = 4")
        cur.execute("DELETE FROM procedurelog WHERE ProcNum = 3")
        cur.execute("INSERT INTO procedurelog (ProcNum, PatNum, DateTStamp, BillingNote) "
                    "VALUES (20, 1, '2001-01-01', 'old stamp')")  # a stray insert below the watermark
    conn.close()
    assert not nothing_changed(params, pg, [table])
    second = sync_window(params, pg, table, None)
    assert nothing_changed(params, pg, [table])  # dental sync's fast path: nothing left to do
    assert second.mode == "incremental"
    assert second.rows_total == len(AWKWARD) + nullable_string  # -1 deleted, +1 inserted
    with pg.cursor() as cur:
        cur.execute("SELECT count(*) FROM raw.procedurelog")
        assert cur.fetchone()[0] == second.rows_total
    pg.close()
    assert_raw_equals_source(mariadb_url, pg_url, [table])


EXTREMES = (  # one row of extreme values of every kind (ProcNum 3); DrugQty is a single-precision FLOAT
    "UPDATE procedurelog SET ProcDate = '0001-01-01', DateTP = '9999-12-31', DateEntryC = '1969-12-31', "
    "SecDateEntry = '1969-12-31 23:59:59', ProcFee = 0.1e0 + 0.2e0, Discount = -1e300, TaxAmt = 1e-7, "
    "DrugQty = 0.1, PatNum = 9223372036854775807, ProvNum = -5, ProcTime = '-838:59:59', "
    "ProcTimeEnd = '838:59:59' WHERE ProcNum = 3",
    "UPDATE procedurelog SET SecDateEntry = '9999-12-31 23:59:59', ProcFee = 5e-324, DrugQty = 3.4e38 "
    "WHERE ProcNum = 4",
)

ONE_VALUE_CHANGED = [  # (row, column, raw's new value): each of a kind, NULL or not, as raw may hold it
    (3, "ProcDate", '"ProcDate" + 1'),
    (3, "SecDateEntry", "\"SecDateEntry\" + interval '1 second'"),
    (3, "ProcFee", "0.3"),  # the source's 0.30000000000000004
    (3, "DrugQty", "0.2"),
    (3, "PatNum", '"PatNum" - 1'),
    (3, "PatNum", "NULL"),  # NOT NULL on the source: no NULL mark, the value is missing from the text
    (3, "FutureNum", "0"),  # NULL on the source
    (3, "DateComplete", "date '0001-01-01'"),  # NULL on the source
    (3, "ProcTime", "\"ProcTime\" + interval '1 second'"),
    (3, "Surf", '"Surf" || \'x\''),
    (3, "Surf", "NULL"),
    (2, "ProcDate", "date '2024-01-10'"),  # a zero month on the source, NULL in raw
    (2, "DateTP", "date '0001-01-01'"),  # a zero date on the source
]


@pytest.mark.parametrize("nullable_string", [False, True], ids=["text", "csv"])
def test_row_hashes_agree_row_by_row_and_tell_each_value(mariadb_url, pg_url, nullable_string):
    """The check's row hash (``fingerprint.row_hash_mysql``/``row_hash_pg``) of each awkward row is the
    same on MariaDB and on PostgreSQL after a full copy (zero dates, zero months, NULLs, the extremes of
    every kind), and one value changed in raw, of each kind, changes that row's hash."""
    from dental_assets.replication import fingerprint
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import source_columns, sync_window

    table = _source(mariadb_url, nullable_string)
    params = MySqlParams.from_url(mariadb_url)
    cols = source_columns(params, table)
    conn = mysql_conn(mariadb_url)
    with conn.cursor() as cur:
        for statement in EXTREMES:
            cur.execute(statement)
        cur.execute(f"SELECT ProcNum, {fingerprint.row_hash_mysql(cols)} FROM procedurelog")
        source = {key: int(h) for key, h in cur.fetchall()}
    conn.close()
    pg = pg_conn(pg_url)
    sync_window(params, pg, table, None)
    assert_raw_equals_source(mariadb_url, pg_url, [table])

    def raw_hashes() -> dict[int, int]:
        with pg.cursor() as cur:
            cur.execute(f'SELECT "ProcNum", {fingerprint.row_hash_pg(cols)} FROM raw.procedurelog')
            return {key: int(h) for key, h in cur.fetchall()}

    assert raw_hashes() == source and len(source) == len(AWKWARD) + nullable_string
    for key, column, value in ONE_VALUE_CHANGED:
        with pg.cursor() as cur:
            cur.execute(f'UPDATE raw.procedurelog SET "{column}" = {value} WHERE "ProcNum" = %s', (key,))
        changed = raw_hashes()
        pg.rollback()
        assert changed[key] != source[key], (key, column, value)
        assert {k: h for k, h in changed.items() if k != key} == {k: h for k, h in source.items() if k != key}
    pg.close()


def test_a_null_business_date_counts_in_the_first_month_on_both_sides(mariadb_url, pg_url):
    """A source whose business-date column is nullable (OpenDental declares it NOT NULL; a practice's
    schema may not) and holds NULL: the plan's fingerprints and the backstop's content months put the
    row in the first month on the source as raw does (NULL there too), so a synced table equals the
    source instead of failing the plan."""
    from dental_assets.partitions import month_keys
    from dental_assets.replication import fingerprint
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.plan import nothing_changed, plan_content
    from dental_assets.replication.sync import source_columns, sync_window

    table = raw_table("procedurelog")
    conn = mysql_conn(mariadb_url)
    with conn.cursor() as cur:
        cur.execute(mysql_create_table_sql(table))
        cur.execute("ALTER TABLE procedurelog MODIFY ProcDate date NULL")
        cur.execute("INSERT INTO procedurelog (ProcNum, PatNum, ProcDate) VALUES (1, 1, NULL), "
                    "(2, 2, '0000-00-00'), (3, 3, '2024-03-05')")
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)
    sync_window(params, pg, table, None)
    pg.commit()
    with conn.cursor() as cur, pg.cursor() as pgcur:
        assert fingerprint.source_fingerprints(conn, table) == fingerprint.raw_fingerprints(pgcur, table)
        assert fingerprint.source_fingerprints(conn, table)[fingerprint.FIRST].rows == 2
    conn.close()
    assert nothing_changed(params, pg, [table])
    assert [p.partitions for p in plan_content(params, pg, [table], month_keys())] == [()]
    assert source_columns(params, table).text_ok
    pg.close()


@pytest.mark.parametrize("source, raw, kind", [
    ("tinyint(4)", "smallint", "int"), ("tinyint(3) unsigned", "smallint", "int"),
    ("smallint(6)", "smallint", "int"), ("smallint(5) unsigned", "integer", "int"),
    ("mediumint(9)", "integer", "int"), ("mediumint(8) unsigned", "integer", "int"),
    ("int(11)", "integer", "int"), ("int(10) unsigned", "bigint", "int"),
    ("bigint(20)", "bigint", "int"), ("bigint(20) unsigned", "numeric(20,0)", "int"),
    ("tinytext", "text", "str"), ("text", "text", "str"), ("varchar(40)", "varchar(40)", "str"),
    ("double", "double precision", "float"), ("datetime", "timestamp", "datetime"),
])
def test_a_source_column_beyond_the_catalog_gets_a_raw_type_holding_every_value(source, raw, kind):
    """A column the source has beyond the catalog (schema drift): raw's type takes every value of its
    MySQL type (unsigned integers one size up, as ``raw_holds`` counts them), and its values move as
    the catalog's of that kind do."""
    column = extract.extra_column("Future", source, 20_000)
    assert (column.pg_type, column.kind) == (raw, kind)
    cols = extract.effective_columns(raw_table("procedurelog"), {"Future": source, "ProcNum": "bigint(20)",
                                                                 "ProcDate": "date"})
    assert cols.extra == (column,) and not cols.narrower_in_raw


def test_a_source_column_beyond_the_catalog_of_a_type_raw_cannot_hold_is_a_configuration_error():
    from dental_assets.errors import ConfigurationError

    for source in ("decimal(10,2)", "enum('a','b')", "blob"):
        with pytest.raises(KeyError):
            extract.extra_column("Future", source, 20_000)
        with pytest.raises(ConfigurationError, match=r"source column Future has a type the catalog cannot map"):
            extract.effective_columns(raw_table("procedurelog"), {"ProcNum": "bigint(20)", "ProcDate": "date",
                                                                  "Future": source})


def test_unsigned_columns_beyond_the_catalog_keep_their_largest_values(mariadb_url, pg_url):
    """Extra ``int unsigned`` and ``bigint unsigned`` columns at the source holding their largest values
    (4294967295, 18446744073709551615): raw gets bigint and numeric(20,0) columns that take them, and the
    check's row hashes agree."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window, verify_window

    table = raw_table("procedurelog")
    source_sql(mariadb_url, mysql_create_table_sql(table),
               "ALTER TABLE procedurelog ADD COLUMN FutureCount int unsigned NOT NULL DEFAULT 0, "
               "ADD COLUMN FutureId bigint unsigned NOT NULL DEFAULT 0",
               "INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, FutureCount, FutureId) VALUES "
               "(1, 1, '2024-03-05', 4294967295, 18446744073709551615), (2, 2, '2024-03-05', 7, 8)")
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)
    result = sync_window(params, pg, table, None)
    pg.commit()
    assert result.columns_added == ["FutureCount", "FutureId"]
    assert verify_window(params, pg, table, None)[0]
    with pg.cursor() as cur:
        cur.execute('SELECT "FutureCount", "FutureId" FROM raw.procedurelog ORDER BY "ProcNum"')
        assert cur.fetchall() == [(4294967295, 18446744073709551615), (7, 8)]
    pg.close()


def test_raw_columns_neither_the_catalog_nor_the_source_shows_are_found():
    cols = extract.effective_columns(raw_table("procedurelog"), {"ProcNum": "bigint(20)", "ProcDate": "date",
                                                                 "FutureField": "varchar(9)"})
    from dental_assets.replication.sync import dropped_at_source

    assert dropped_at_source(None, cols) == []  # no raw table yet
    assert dropped_at_source(["ProcNum", "DrugQty", "FutureField"], cols) == []  # DrugQty: missing, a catalog one
    assert dropped_at_source(["ProcNum", "FutureNum", "FutureField", "Dba"], cols) == ["Dba", "FutureNum"]


@pytest.mark.parametrize("mode", ["full", "auto"])
def test_a_column_beyond_the_catalog_the_source_drops_later_is_named_at_each_sync(mariadb_url, pg_url, mode):
    """A source column beyond the catalog (FutureNum), added to raw by a sync, then dropped at the source:
    the syncs after that write NULL over raw's values there (full copy, or the re-read rows of an
    incremental one), and name the column (``columns_missing``, so the raw asset's
    ``columns_missing_at_source`` metadata, and a warning of its own); no value is quoted."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.replicate import column_warnings
    from dental_assets.replication.sync import sync_window

    table = raw_table("procedurelog")
    conn = mysql_conn(mariadb_url)
    with conn.cursor() as cur:
        cur.execute(mysql_create_table_sql(table))
        cur.execute("ALTER TABLE procedurelog ADD COLUMN FutureNum int NOT NULL DEFAULT 0")
        cur.execute("INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, FutureNum) VALUES (1, 1, '2024-03-05', 4242)")
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)
    first = sync_window(params, pg, table, None)
    assert first.columns_added == ["FutureNum"] and first.columns_dropped_at_source == [] and not column_warnings(first)
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE procedurelog DROP COLUMN FutureNum")
        cur.execute("UPDATE procedurelog SET ProcFee = 1, DateTStamp = DateTStamp + INTERVAL 1 HOUR")
    conn.close()
    result = sync_window(params, pg, table, None, mode=mode)
    assert result.rows_copied == 1 and result.mode == ("full" if mode == "full" else "incremental")
    assert (result.columns_dropped_at_source, result.columns_missing) == (["FutureNum"], ["FutureNum"])
    assert column_warnings(result) == [
        "raw.procedurelog: the source no longer shows column FutureNum, which an earlier sync added to raw: the "
        "rows this sync wrote hold NULL there, their earlier values overwritten (restore the column at the "
        "source, or drop it from raw)"]
    with pg.cursor() as cur:
        cur.execute('SELECT "FutureNum" FROM raw.procedurelog')
        assert cur.fetchall() == [(None,)]
    pg.close()


NOT_UTF8 = [  # (ProcNum, BillingNote's bytes at the source, in a column retyped to VARBINARY; ClaimNote, latin1)
    (1, b"ok \xff\xfe bad", "café"),  # two bytes that start no UTF-8 sequence
    (2, "a legitimate \ufffd in valid text".encode(), "€ ü"),  # valid: compared exactly, not as a replacement
    (3, b"cut \xf0\x9f\x98 emoji", ""),  # a truncated 4-byte sequence: one U+FFFD
    (4, b"surrogate \xed\xa0\x80", "a"),  # not a valid prefix: one U+FFFD a byte
    (5, b"x\xe2\x00\x82\xacy", "b"),  # a NUL inside a sequence: removed first, the rest is valid
    (6, "é ü 日本".encode(), "é"),
]


@pytest.mark.parametrize("nullable_string", [False, True], ids=["text", "csv"])
def test_bytes_not_utf8_in_a_column_retyped_binary_pass_the_check_as_raw_holds_them(mariadb_url, pg_url,
                                                                                    nullable_string):
    """A catalog string column retyped to VARBINARY at the source, holding bytes that are not UTF-8: raw
    holds U+FFFD where the readers replaced them (counted), the check's source-side row hash reproduces
    that conversion (a row hashes as raw holds it, a legitimate U+FFFD included, and a changed value in raw
    still tells), and with nothing changed neither the plan nor the backstop's content months plan anything.
    A latin1 column beside it keeps its text on both paths (the CSV line, binary then, converts it)."""
    from dental_assets.partitions import month_keys
    from dental_assets.replication import fingerprint
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.plan import nothing_changed, plan_content
    from dental_assets.replication.sync import source_columns, sync_window, verify_window

    table = raw_table("procedurelog")
    conn = mysql_conn(mariadb_url)
    with conn.cursor() as cur:
        cur.execute(mysql_create_table_sql(table))
        null = "NULL" if nullable_string else "NOT NULL"
        cur.execute(f"ALTER TABLE procedurelog MODIFY BillingNote varbinary(255) {null}, "
                    "MODIFY ClaimNote varchar(80) CHARACTER SET latin1 NOT NULL DEFAULT ''")
        cur.executemany("INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, BillingNote, ClaimNote) "
                        "VALUES (%s, 1, '2024-03-05', %s, %s)", NOT_UTF8)
    params = MySqlParams.from_url(mariadb_url)
    cols = source_columns(params, table)
    assert cols.text_ok is not nullable_string
    pg = pg_conn(pg_url)
    result = sync_window(params, pg, table, None)
    pg.commit()
    expected = {key: (value.replace(b"\x00", b"").decode("utf-8", "replace"), note) for key, value, note in NOT_UTF8}
    with pg.cursor() as cur:
        cur.execute('SELECT "ProcNum", "BillingNote", "ClaimNote" FROM raw.procedurelog')
        assert {key: (value, note) for key, value, note in cur.fetchall()} == expected
    assert result.conversions["invalid_utf8_replaced"] == 2 + 1 + 3
    assert verify_window(params, pg, table, None)[0]
    with conn.cursor() as cur:
        cur.execute(f"SELECT ProcNum, {fingerprint.row_hash_mysql(cols)} FROM procedurelog")
        source = {key: int(h) for key, h in cur.fetchall()}
    conn.close()

    def raw_hashes() -> dict[int, int]:
        with pg.cursor() as cur:
            cur.execute(f'SELECT "ProcNum", {fingerprint.row_hash_pg(cols)} FROM raw.procedurelog')
            return {key: int(h) for key, h in cur.fetchall()}

    assert raw_hashes() == source
    for key in (1, 2):  # MariaDB's own conversion of bytes that are not UTF-8 gives '?'
        with pg.cursor() as cur:
            cur.execute('UPDATE raw.procedurelog SET "BillingNote" = replace("BillingNote", %s, %s) '
                        'WHERE "ProcNum" = %s', ("\ufffd", "?", key))
        assert raw_hashes()[key] != source[key], key
        pg.rollback()
    assert nothing_changed(params, pg, [table])
    assert [p.partitions for p in plan_content(params, pg, [table], month_keys())] == [()]
    pg.close()


def test_the_checks_replacement_of_bytes_not_utf8_is_the_readers(mariadb_url):
    """``fingerprint.utf8_replaced_mysql`` on MariaDB gives, for 20,000 random byte strings (bytes that
    start, continue or cut UTF-8 sequences, NULs, U+FFFD itself), the text the readers load: NUL bytes
    removed, then Python's ``decode("utf-8", "replace")``; also where the server's regular expressions
    default to UNGREEDY."""
    import random

    from dental_assets.replication import fingerprint

    rng = random.Random(4)
    edges = [0x00, 0x3F, 0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBD, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC,
             0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
    values = [bytes(rng.choice(edges) if rng.random() < 0.7 else rng.randrange(256) for _ in range(rng.randrange(13)))
              for _ in range(20_000)] + ["\ufffd é 😀".encode(), b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]
    conn = mysql_conn(mariadb_url)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE bytes_seen (k int PRIMARY KEY, v varbinary(20) NOT NULL)")
        cur.executemany("INSERT INTO bytes_seen VALUES (%s, %s)", list(enumerate(values)))
        replaced = []
        for flags in ("", "UNGREEDY,EXTENDED"):
            cur.execute(f"SET SESSION default_regex_flags = '{flags}'")
            cur.execute(f"SELECT CAST({fingerprint.utf8_replaced_mysql('v')} AS BINARY) FROM bytes_seen ORDER BY k")
            replaced.append([value for value, in cur.fetchall()])
    conn.close()
    expected = [v.replace(b"\x00", b"").decode("utf-8", "replace").encode() for v in values]
    assert [[k for k, (a, b) in enumerate(zip(seen, expected)) if a != b] for seen in replaced] == [[], []]


@pytest.mark.parametrize("nullable_string", [False, True], ids=["text", "csv"])
def test_a_date_column_retyped_datetime_refuses_a_time_of_day_instead_of_dropping_it(mariadb_url, pg_url,
                                                                                  nullable_string):
    """A catalog date column (DateTP) the source retyped to DATETIME: raw's date would take '2024-01-05
    13:00:00' as 2024-01-05, and the check's day numbers would agree. A time of day other than midnight
    fails the table instead (first sync, full copy, incremental), with one line naming the table and the
    column, never the value; raw keeps what it held. Midnights and zero dates move as before and the warning
    says so; once raw's column is widened to timestamp by hand, the times move as they are."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.replicate import column_warnings
    from dental_assets.replication.sync import sync_window, verify_window

    table = raw_table("procedurelog")
    source_sql(mariadb_url, mysql_create_table_sql(table),
               "ALTER TABLE procedurelog MODIFY DateTP datetime NOT NULL DEFAULT '0001-01-01 00:00:00'"
               + (", MODIFY BillingNote varchar(255) NULL" if nullable_string else ""),
               "INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, DateTP) VALUES "
               "(1, 1, '2024-03-05', '2024-01-05 13:00:00'), (2, 2, '2024-03-05', '0000-00-00 00:00:00')")
    conn = mysql_conn(mariadb_url)
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)

    def refused(mode: str) -> str:
        return _refused(params, pg, table, mode, "raw.procedurelog: the warehouse refused a value from the "
                        "source (a time of day other than midnight in column DateTP, ", "13:00")

    refused("auto")  # the first sync: nothing of the table left in raw
    with pg.cursor() as cur:
        cur.execute("SELECT to_regclass('raw.procedurelog')")
        assert cur.fetchone() == (None,)
    pg.rollback()
    with conn.cursor() as cur:
        cur.execute("UPDATE procedurelog SET DateTP = '2024-01-05 00:00:00' WHERE ProcNum = 1")
    first = sync_window(params, pg, table, None)
    assert first.date_only_in_raw == ["DateTP"] and first.conversions == {"zero_dates_to_null": 1}
    assert column_warnings(first) == [
        "raw.procedurelog: the source's type is wider than raw's for DateTP (datetime at the source, date in raw): "
        "a value raw's type cannot take (in DateTP: a time of day other than midnight, which raw's date would drop) "
        "will fail the table (docs/operations.md, When the warehouse refuses a value)"]
    assert verify_window(params, pg, table, None)[0]
    with conn.cursor() as cur:
        cur.execute("UPDATE procedurelog SET DateTP = '2024-01-05 13:00:00', DateTStamp = DateTStamp + "
                    "INTERVAL 1 HOUR WHERE ProcNum = 1")
    assert "of the COPY into dental_sync_rows)" in refused("auto")  # incremental: through the temp table
    refused("full")
    assert _raw_rows(pg, "DateTP") == [(1, dt.date(2024, 1, 5)), (2, None)]
    with pg.cursor() as cur:
        cur.execute('ALTER TABLE raw.procedurelog ALTER COLUMN "DateTP" TYPE timestamp')
    pg.commit()
    widened = sync_window(params, pg, table, None)
    assert widened.mode == "incremental" and widened.date_only_in_raw == []
    # raw holds the source's type now: the column is no longer named as wider at the source
    assert not any("DateTP" in warning for warning in column_warnings(widened)) and not widened.narrower_in_raw
    assert _raw_rows(pg, "DateTP") == [(1, dt.datetime(2024, 1, 5, 13)), (2, None)]
    assert verify_window(params, pg, table, None)[0]
    conn.close()
    pg.close()


ROUNDED = [  # (column, its type at the source, raw's, a value raw's type would round, one it holds exactly)
    ("DrugQty", "double", "real", "0.30000000000000004", 0.25),  # a FLOAT in the catalog
    ("ProcFee", "decimal(20,6)", "double precision", "12345678901234.123456", 1234567.654321),
    ("Discount", "bigint(20)", "double precision", "9007199254740993", 9007199254740992.0),  # 2**53 + 1, 2**53
]


def _refused(params, pg, table, mode: str, start: str, value: str) -> str:
    """The one-line message of the RawValueRefused a ``sync_window`` of ``table`` raises, checked to begin
    with ``start`` and to quote ``value`` nowhere in its traceback."""
    import traceback

    from dental_assets.replication.replicate import RawValueRefused
    from dental_assets.replication.sync import sync_window

    with pytest.raises(RawValueRefused) as raised:
        sync_window(params, pg, table, None, mode=mode)
    message, text = str(raised.value), "".join(traceback.format_exception(raised.value))
    assert message.startswith(start) and "\n" not in message, message
    assert value.strip() not in text and "2024" not in text, text
    return message


def _raw_rows(pg, *columns: str) -> list[tuple]:
    """(ProcNum, the ``columns``...) of raw.procedurelog's rows, in key order."""
    with pg.cursor() as cur:
        cur.execute(f'SELECT "ProcNum", {", ".join(map(quote_pg, columns))} FROM raw.procedurelog ORDER BY 1')
        return cur.fetchall()


@pytest.mark.parametrize("nullable_string", [False, True], ids=["text", "csv"])
def test_a_number_column_retyped_wider_refuses_a_value_raw_would_round_instead_of_rounding_it(mariadb_url, pg_url,
                                                                                           nullable_string):
    """Catalog number columns the source retyped wider (``ROUNDED``: a FLOAT made DOUBLE while raw holds
    real, DOUBLEs made DECIMAL(20,6) and BIGINT while raw holds double precision): PostgreSQL would round
    0.30000000000000004, 12345678901234.123456 and 2**53 + 1 without an error, and the warning said such a
    value fails the table. Now it does (first sync, incremental, full), with one line naming the table, the
    column and both types, never the value; raw keeps what it held. Values raw's type holds exactly move
    and pass the check; once raw's column is widened by hand, it is checked against raw's own type (a
    numeric(20,2) still rounds), and a type holding the source's takes the digits as they are."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.replicate import column_warnings
    from dental_assets.replication.sync import sync_window, verify_window

    table = raw_table("procedurelog")
    conn = mysql_conn(mariadb_url)
    with conn.cursor() as cur:
        cur.execute(mysql_create_table_sql(table))
        retyped = [f"MODIFY {column} {source} NOT NULL DEFAULT 0" for column, source, *_ in ROUNDED]
        cur.execute("ALTER TABLE procedurelog " + ", ".join(retyped)
                    + (", MODIFY BillingNote varchar(255) NULL" if nullable_string else ""))
        cur.execute("INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, DrugQty, ProcFee, Discount) VALUES "
                    "(1, 1, '2024-03-05', 0.30000000000000004, 0, 0), (2, 2, '2024-03-05', 0, 0, 0)")
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)

    def start(column: str, source: str, raw: str) -> str:
        return (f"raw.procedurelog: the warehouse refused a value from the source (a number in column {column} that "
                f"raw's {raw} would round or cannot hold, {source} at the source; line ")

    _refused(params, pg, table, "auto", start(*ROUNDED[0][:3]), ROUNDED[0][3])  # the first sync, a full copy
    with conn.cursor() as cur:
        cur.execute("UPDATE procedurelog SET " + ", ".join(f"{c} = {held!r}" for c, _, _, _, held in ROUNDED)
                    + " WHERE ProcNum = 1")
    first = sync_window(params, pg, table, None)
    held = [(1, 0.25, 1234567.654321, 2.0**53), (2, 0.0, 0.0, 0.0)]
    assert _raw_rows(pg, "DrugQty", "ProcFee", "Discount") == held
    assert first.rounded_in_raw == ["Discount", "DrugQty", "ProcFee"] and first.date_only_in_raw == []
    assert column_warnings(first)[0].endswith(
        "in raw): a value raw's type cannot take (in Discount, DrugQty, ProcFee: a number raw's type would round) will "
        "fail the table (docs/operations.md, When the warehouse refuses a value)")
    assert verify_window(params, pg, table, None)[0]
    for column, source, raw, rounded, exact in ROUNDED:
        with conn.cursor() as cur:
            cur.execute(f"UPDATE procedurelog SET {column} = {rounded}, DateTStamp = DateTStamp + INTERVAL 1 HOUR "
                        "WHERE ProcNum = 1")
        assert "of the COPY into dental_sync_rows)" in _refused(params, pg, table, "auto", start(column, source, raw),
                                                                rounded)
        _refused(params, pg, table, "full", start(column, source, raw), rounded)
        with conn.cursor() as cur:
            cur.execute(f"UPDATE procedurelog SET {column} = {exact!r} WHERE ProcNum = 1")
    assert _raw_rows(pg, "DrugQty", "ProcFee", "Discount") == held

    with conn.cursor() as cur:
        cur.execute("UPDATE procedurelog SET DrugQty = 0.30000000000000004, ProcFee = 12345678901234.123456, "
                    "DateTStamp = DateTStamp + INTERVAL 1 HOUR WHERE ProcNum = 1")
    with pg.cursor() as cur:
        cur.execute('ALTER TABLE raw.procedurelog ALTER COLUMN "DrugQty" TYPE double precision, '
                    'ALTER COLUMN "ProcFee" TYPE numeric(20,2)')
    pg.commit()
    _refused(params, pg, table, "auto", start("ProcFee", "decimal(20,6)", "numeric(20,2)"), ROUNDED[1][3])
    with pg.cursor() as cur:
        cur.execute('ALTER TABLE raw.procedurelog ALTER COLUMN "ProcFee" TYPE numeric(20,6)')
    pg.commit()
    widened = sync_window(params, pg, table, None)
    assert widened.mode == "incremental" and widened.rounded_in_raw == ["Discount"]
    assert _raw_rows(pg, "DrugQty", "ProcFee")[0] == (1, 0.30000000000000004, Decimal("12345678901234.123456"))
    assert verify_window(params, pg, table, None)[0]
    conn.close()
    pg.close()


NOT_A_DATE = [  # (column, text at the source that raw's type would read as another value, or leniently)
    ("DateTP", "2024-01-05 13:00:00"), ("DateTP", "2024-01-05 00:00:00"), ("DateTP", " 2024-1-5"),
    ("DateTP", "20240105"), ("DateTP", "Jan 5 2024"), ("DateTP", "epoch"), ("DateTP", "2024-01-05\n"),
    ("SecDateEntry", "2024-01-05 13:00:00+05"), ("SecDateEntry", "2024-01-05T13:00:00"),
    ("SecDateEntry", "2024-01-05 24:00:00"), ("SecDateEntry", "2024-01-05 13:00:60"), ("SecDateEntry", "today"),
]


@pytest.mark.parametrize("nullable_string", [False, True], ids=["text", "csv"])
def test_a_date_column_retyped_text_refuses_text_raw_would_read_as_another_value(mariadb_url, pg_url, nullable_string):
    """Catalog date (DateTP) and datetime (SecDateEntry) columns the source retyped to VARCHAR and TEXT: raw's
    date would take '2024-01-05 13:00:00' as 2024-01-05, 'epoch' as 1970-01-01, ' 2024-1-5' and 'Jan 5 2024'
    leniently, and raw's timestamp would drop a zone or read 24:00:00 as the next day (``NOT_A_DATE``), with
    no error and a check that agrees for most. Such a value fails the table instead (first sync, incremental,
    full), with one line naming the table, the column and both types, never the value; raw keeps what it
    held. A date in raw's form moves (for the timestamp, a date alone as midnight), a zero date as NULL
    (counted), and the check passes; once raw's date column is widened to timestamp by hand, a date and time
    there moves as it is."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.replicate import column_warnings
    from dental_assets.replication.sync import sync_window, verify_window

    table = raw_table("procedurelog")
    conn = mysql_conn(mariadb_url)
    with conn.cursor() as cur:
        cur.execute(mysql_create_table_sql(table))
        cur.execute("ALTER TABLE procedurelog MODIFY DateTP varchar(30) NOT NULL DEFAULT '', MODIFY SecDateEntry text"
                    + (", MODIFY BillingNote varchar(255) NULL" if nullable_string else ""))
        cur.execute("INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, DateTP, SecDateEntry) VALUES "
                    "(1, 1, '2024-03-05', 'epoch', '2024-01-05 13:00:00'), (2, 2, '2024-03-05', '0000-00-00', "
                    "'2024-01-05'), (3, 3, '2024-03-05', '2024-00-05', '0000-00-00 00:00:00')")
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)
    types = {"DateTP": ("varchar(30)", "date"), "SecDateEntry": ("text", "timestamp")}
    form = {"date": "YYYY-MM-DD", "timestamp": "YYYY-MM-DD or YYYY-MM-DD hh:mm:ss"}

    def start(column: str) -> str:
        source, raw = types[column]
        return (f"raw.procedurelog: the warehouse refused a value from the source (a value in column {column} that is "
                f"not a date as raw's {raw} takes it unchanged ({form[raw]}), {source} at the source, which raw would "
                "read as another value; line ")

    _refused(params, pg, table, "auto", start("DateTP"), "epoch")  # the first sync, a full copy
    with conn.cursor() as cur:
        cur.execute("UPDATE procedurelog SET DateTP = '2024-01-05' WHERE ProcNum = 1")
    first = sync_window(params, pg, table, None)
    held = [(1, dt.date(2024, 1, 5), dt.datetime(2024, 1, 5, 13)), (2, None, dt.datetime(2024, 1, 5)), (3, None, None)]
    assert _raw_rows(pg, "DateTP", "SecDateEntry") == held and first.conversions == {"zero_dates_to_null": 3}
    assert first.text_as_date_in_raw == ["DateTP", "SecDateEntry"]
    assert column_warnings(first)[0].endswith(
        "(in DateTP, SecDateEntry: a value that is not a date as raw's type takes it unchanged (YYYY-MM-DD, or for a "
        "timestamp YYYY-MM-DD hh:mm:ss), which raw would read as another value) will fail the table "
        "(docs/operations.md, When the warehouse refuses a value)")
    assert verify_window(params, pg, table, None)[0]
    for column, value in NOT_A_DATE:
        with conn.cursor() as cur:
            cur.execute(f"UPDATE procedurelog SET {column} = %s, DateTStamp = DateTStamp + INTERVAL 1 HOUR "
                        "WHERE ProcNum = 1", (value,))
        assert "of the COPY into dental_sync_rows)" in _refused(params, pg, table, "auto", start(column), value)
        with conn.cursor() as cur:
            cur.execute("UPDATE procedurelog SET DateTP = '2024-01-05', SecDateEntry = '2024-01-05 13:00:00' "
                        "WHERE ProcNum = 1")
    with conn.cursor() as cur:
        cur.execute("UPDATE procedurelog SET SecDateEntry = 'today' WHERE ProcNum = 1")
    _refused(params, pg, table, "full", start("SecDateEntry"), "today")
    assert _raw_rows(pg, "DateTP", "SecDateEntry") == held

    with conn.cursor() as cur:
        cur.execute("UPDATE procedurelog SET DateTP = '2024-01-05 13:00:00', SecDateEntry = '2024-01-05 13:00:00' "
                    "WHERE ProcNum = 1")
    with pg.cursor() as cur:
        cur.execute('ALTER TABLE raw.procedurelog ALTER COLUMN "DateTP" TYPE timestamp')
    pg.commit()
    widened = sync_window(params, pg, table, None)
    assert widened.mode == "incremental" and widened.text_as_date_in_raw == ["DateTP", "SecDateEntry"]
    assert _raw_rows(pg, "DateTP")[0] == (1, dt.datetime(2024, 1, 5, 13))
    assert verify_window(params, pg, table, None)[0]
    conn.close()
    pg.close()


def test_keyset_pages_tile_the_key_span_each_key_once():
    """``extract.keyset_pages``: pages of ``PAGE_KEYS`` (250,000) key values, ``pk <= b``, ``pk > a AND pk
    <= b``..., ``pk > z`` (docs/replication.md, *Reading*: open at both ends, never OFFSET). Keys 1..600,000:
    bounds 250,000 and 500,000 by hand; every key of the span (and beyond it) lies in exactly one page."""
    table = raw_table("procedurelog")
    pages = extract.keyset_pages(table, "W", 1, 600_000)
    assert pages == ["(W) AND `ProcNum` <= 250000", "(W) AND `ProcNum` > 250000 AND `ProcNum` <= 500000",
                     "(W) AND `ProcNum` > 500000"]
    assert extract.keyset_pages(table, "W", 1, 250_000) == ["W"]  # a span under a page: one read
    conditions = [p.removeprefix("(W) AND ").replace("`ProcNum`", "k").replace("AND", "and") for p in pages]
    for k in (0, 1, 249_999, 250_000, 250_001, 500_000, 500_001, 600_000, 700_000):
        assert sum(eval(c, {}, {"k": k}) for c in conditions) == 1, k


def test_a_full_copy_in_several_keyset_pages_copies_every_row(mariadb_url, pg_url, monkeypatch):
    """A full copy whose key span needs several keyset pages (``PAGE_KEYS`` made 10 here: keys 1..45 and
    a gap to 100 give pages <= 10, 11-20, 21-30, ... > 90): every row copied once, the keys on the pages'
    bounds (10, 20, 30, 40) included; raw equals the source without the check's repairs."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window

    monkeypatch.setattr(extract, "PAGE_KEYS", 10)
    table = raw_table("procedurelog")
    keys = [*range(1, 46), 100]
    source_sql(mariadb_url, mysql_create_table_sql(table),
               "INSERT INTO procedurelog (ProcNum, PatNum, ProcDate) VALUES "
               + ", ".join(f"({k}, {k}, '2024-03-05')" for k in keys))
    assert len(extract.keyset_pages(table, "TRUE", 1, 100)) == 10
    pg = pg_conn(pg_url)
    result = sync_window(MySqlParams.from_url(mariadb_url), pg, table, None)
    pg.close()
    assert (result.mode, result.rows_copied) == ("full", len(keys))
    assert_raw_equals_source(mariadb_url, pg_url, [table])


def test_a_zero_day_in_a_later_month_belongs_to_the_first_month_only(mariadb_url, pg_url):
    """A business date with a zero day in a later month (``2024-06-00``) is NULL in raw, so it belongs to
    the first monthly partition, on the source too (``extract.window_where``: the first window takes every
    zero date, zero month or zero day; the later windows none), whatever MariaDB's comparison of it with
    the later windows' bounds say (MariaDB orders ``2024-06-00`` between ``2024-05-31`` and ``2024-06-01``:
    inside May's bounds; ``2024-00-10`` inside December 2023's). Each window synced alone: those rows are
    copied by the first month's sync, once, the later windows copy none of them, and each window's check
    passes."""
    from dental_assets.partitions import month_keys, month_window
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window, verify_window

    table = raw_table("procedurelog")
    source_sql(mariadb_url, mysql_create_table_sql(table),
               "INSERT INTO procedurelog (ProcNum, PatNum, ProcDate) VALUES (1, 1, '2024-06-10'), "
               "(2, 2, '2024-06-00'), (3, 3, '2024-03-05'), (4, 4, '2024-00-10')")
    keys = month_keys()
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)
    first = month_window(keys[0], keys[0], keys)
    june = month_window("2024-06", "2024-06", keys)
    march = month_window("2024-03", "2024-03", keys)
    windows = {"first": first, "2023-12": month_window("2023-12", "2023-12", keys),
               "2024-05": month_window("2024-05", "2024-05", keys), "june": june, "march": march}
    copied = {}
    for name, window in windows.items():
        result = sync_window(params, pg, table, window)
        copied[name] = (result.rows_copied, result.conversions.get("zero_dates_to_null", 0))
    assert copied == {"first": (2, 2), "2023-12": (0, 0), "2024-05": (0, 0), "june": (1, 0), "march": (1, 0)}
    for window in windows.values():
        assert verify_window(params, pg, table, window)[0], window
    with pg.cursor() as cur:
        cur.execute('SELECT "ProcNum", "ProcDate" FROM raw.procedurelog ORDER BY 1')
        assert cur.fetchall() == [(1, dt.date(2024, 6, 10)), (2, None), (3, dt.date(2024, 3, 5)), (4, None)]
    pg.close()
    assert_raw_equals_source(mariadb_url, pg_url, [table])


@pytest.mark.parametrize("nullable_string", [False, True], ids=["text", "csv"])
def test_a_catalog_string_column_the_source_lacks_is_null_in_raw_not_the_text_null(mariadb_url, pg_url,
                                                                                nullable_string):
    """A catalog string column the source does not have (an OpenDental older than the catalog): raw holds
    NULL there (docs/replication.md, *Values*), not the four letters the client prints for the NULL the
    read selects in its place (on the text path, ``NULL`` in a string column is a string: only a column the
    source lacks may be NULL), after a full and an incremental sync, on both paths."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window

    table = raw_table("procedurelog")
    statements = [mysql_create_table_sql(table), "ALTER TABLE procedurelog DROP COLUMN Surf",
                  "INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, ToothNum, DateTStamp) VALUES "
                  "(1, 1, '2024-03-05', '8', '2024-03-06 10:00:00'), (2, 2, '2024-03-05', '9', '2024-03-06 10:00:00')"]
    if nullable_string:
        statements.append("ALTER TABLE procedurelog MODIFY OldCode varchar(15) NULL")
    source_sql(mariadb_url, *statements)
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)
    modes = [sync_window(params, pg, table, None).mode]
    source_sql(mariadb_url, "UPDATE procedurelog SET ToothNum = '10', DateTStamp = '2024-04-01 09:00:00' "
                            "WHERE ProcNum = 2",
               "INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, DateTStamp) "
               "VALUES (3, 3, '2024-03-05', '2024-04-01 09:00:00')")
    result = sync_window(params, pg, table, None)
    modes.append(result.mode)
    assert modes == ["full", "incremental"] and result.columns_missing == ["Surf"]
    with pg.cursor() as cur:
        cur.execute('SELECT "ProcNum", "Surf", "ToothNum" FROM raw.procedurelog ORDER BY 1')
        assert cur.fetchall() == [(1, None, "8"), (2, None, "10"), (3, None, "")]
    pg.close()


def test_a_zero_dated_row_redated_into_a_later_month_moves_once(mariadb_url, pg_url):
    """Raw holds only zero-dated rows (NULL, the first partition), and one is re-dated into June on the
    source: June's sync (a full copy of an empty window) must take that NULL-dated row for a row outside
    June (``sync._rows_outside``: the window's predicate is NULL there, not false) and copy through its
    temporary table, which removes the key first; a straight COPY would fail on the primary key."""
    from dental_assets.partitions import month_keys, month_window
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window

    table = raw_table("procedurelog")
    source_sql(mariadb_url, mysql_create_table_sql(table),
               "INSERT INTO procedurelog (ProcNum, PatNum, ProcDate) VALUES (1, 1, '0000-00-00'), (2, 2, '0000-00-00')")
    keys = month_keys()
    params = MySqlParams.from_url(mariadb_url)
    pg = pg_conn(pg_url)
    assert sync_window(params, pg, table, month_window(keys[0], keys[0], keys)).rows_copied == 2
    source_sql(mariadb_url, "UPDATE procedurelog SET ProcDate = '2024-06-10' WHERE ProcNum = 1")
    result = sync_window(params, pg, table, month_window("2024-06", "2024-06", keys))
    pg.close()
    assert (result.mode, result.rows_copied, result.rows_deleted) == ("full", 1, 1)
    assert_raw_equals_source(mariadb_url, pg_url, [table])


@pytest.mark.parametrize("nullable_string", [False, True], ids=["text", "csv"])
def test_zero_dates_counted_are_the_sources_not_a_date_column_it_lacks(mariadb_url, pg_url, nullable_string):
    """``converted/zero_dates_to_null`` counts the zero dates read (docs/replication.md, *Values*): two rows,
    one zero ``DateTP``, one zero-day ``DateComplete``: 2, on both paths (the CSV path counts raw's NULL
    dates), not the NULLs raw holds in ``DateEntryC``, a catalog date column the source lacks (3 more)."""
    from dental_assets.replication.mysql import MySqlParams
    from dental_assets.replication.sync import sync_window

    table = raw_table("procedurelog")
    statements = [mysql_create_table_sql(table), "ALTER TABLE procedurelog DROP COLUMN DateEntryC",
                  "INSERT INTO procedurelog (ProcNum, PatNum, ProcDate, DateTP, DateComplete) VALUES "
                  "(1, 1, '2024-03-05', '0000-00-00', '2024-03-05'), (2, 2, '2024-03-05', '2024-03-01', '2024-03-00'), "
                  "(3, 3, '2024-03-05', '2024-03-01', '2024-03-05')"]
    if nullable_string:
        statements.append("ALTER TABLE procedurelog MODIFY OldCode varchar(15) NULL")
    source_sql(mariadb_url, *statements)
    pg = pg_conn(pg_url)
    result = sync_window(MySqlParams.from_url(mariadb_url), pg, table, None)
    pg.close()
    assert result.columns_missing == ["DateEntryC"]
    assert result.conversions.get("zero_dates_to_null") == 2

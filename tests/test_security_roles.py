"""The warehouse's access roles on the real PostgreSQL: log in as each and prove what it may read.

One warehouse (a 300-patient synthetic practice in raw, every mart built by dbt) is shared by the
module. ``dental warehouse grant`` runs on it with a role prefix of this module's own (roles are
cluster-wide: other tests on the server use other prefixes), and the roles are dropped at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import uuid
from pathlib import Path

import pytest
from psycopg2 import errors, sql

import dental_synthetic
from dbt_runner import DATA_ONLY, execute_sql, query_rows, run_dbt
from dental_assets import roles as roles_module
from dental_assets.catalog import raw_tables, snake_case
from dental_assets.catalog.phi import DIRECT_IDENTIFIER, MART_FORBIDDEN, phi_class, phi_inventory
from dental_assets.replication import window_state
from dental_assets.cli import main as dental_cli
from dental_assets.roles import WarehouseRoles, add_member, drop_roles, grant
from dental_assets.warehouse import PgParams, mark_demo_target

AS_OF = dt.date(2026, 6, 30)
VARS = f"{{as_of_date: '{AS_OF.isoformat()}'}}"
MARTS_DIR = Path(__file__).resolve().parents[1] / "dental_dbt" / "models" / "marts"

# Mart columns whose name equals a raw direct-identifier or free-text column's snake_case name but that
# come from another raw column: (mart, column) -> (raw table, raw column). The check below looks the
# true source up in the inventory instead of the name.
MART_COLUMN_SOURCES = {
    ("dim_procedure_code", "description"): ("procedurecode", "Descript"),
}


@dataclasses.dataclass
class Warehouse:
    params: PgParams
    roles: WarehouseRoles
    logins: dict[str, PgParams]          # kind -> a log-in member of that group role; "pipeline": of two
    first: roles_module.GrantReport
    third_changed: bool                  # a third run, after the command line's second
    catalog_before: list
    catalog_after: list
    marts: list[str]
    marts_unreadable_after_dbt: int      # marts the analyst could not read right after dbt built them


def _catalog_state(params: PgParams, roles: WarehouseRoles) -> list:
    """Everything ``grant`` sets, as comparable rows: roles, schema owners and ACLs, table owners and
    ACLs, default privileges, the database's ACL."""
    return query_rows(params, f"""
        SELECT 'role', rolname, rolcanlogin::text, rolinherit::text FROM pg_roles
        WHERE rolname IN ({", ".join(f"'{r}'" for r in roles.all)})
        UNION ALL
        SELECT 'schema', nspname, pg_get_userbyid(nspowner), coalesce(nspacl::text, '')
        FROM pg_namespace WHERE nspname IN ({", ".join(f"'{s}'" for s in roles_module.ALL_SCHEMAS)})
        UNION ALL
        SELECT 'relation', n.nspname || '.' || c.relname, pg_get_userbyid(c.relowner), coalesce(c.relacl::text, '')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ({", ".join(f"'{s}'" for s in roles_module.ALL_SCHEMAS)})
        UNION ALL
        SELECT 'default', pg_get_userbyid(defaclrole) || ' ' || coalesce(n.nspname, ''), defaclobjtype::text,
               defaclacl::text
        FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
        UNION ALL
        SELECT 'database', datname, pg_get_userbyid(datdba), coalesce(datacl::text, '')
        FROM pg_database WHERE datname = current_database()
        ORDER BY 1, 2, 3, 4""")


@pytest.fixture(scope="module")
def warehouse(make_pg_database, pg_server_url, tmp_path_factory, monkeypatch_module):
    roles = WarehouseRoles(f"t{uuid.uuid4().hex[:10]}")
    logins: dict[str, PgParams] = {}
    try:
        with make_pg_database() as url:
            yield from _built_warehouse(url, roles, logins, tmp_path_factory, monkeypatch_module)
    finally:
        # the database is gone, and with it every privilege the roles held: whatever drop_roles left
        # (after a failure) can be dropped now
        admin = PgParams.from_url(pg_server_url).connect()
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                for role in [*(p.user for p in logins.values()), *roles.all]:
                    cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        finally:
            admin.close()


def _built_warehouse(pg_module_url, roles, logins, tmp_path_factory, monkeypatch_module):
    """raw written by the administrator (as the synthetic writer or a first sync leaves it), then the
    grant, then dbt run by the transformer's user: every mart is created after the grant."""
    params = PgParams.from_url(pg_module_url)
    mark_demo_target(params)
    practice = dental_synthetic.generate(dental_synthetic.SyntheticConfig(patients=300, seed=11, as_of=AS_OF))
    dental_synthetic.write_postgres_raw(practice, params)
    # the replication's bookkeeping, and a mart an earlier dbt run left, both the administrator's
    execute_sql(params, "CREATE SCHEMA IF NOT EXISTS dental_sync",
                "CREATE TABLE IF NOT EXISTS dental_sync.raw_windows (raw_table text, rows bigint)",
                "CREATE SCHEMA IF NOT EXISTS marts", "CREATE TABLE marts.legacy_mart (x int)")
    # and the replication's write counter, as a first sync by the administrator leaves it
    conn = params.connect()
    try:
        with conn, conn.cursor() as cur:
            window_state.create_tables(cur)
            window_state.count_writes(cur, "raw.zipcode")
    finally:
        conn.close()
    target = tmp_path_factory.mktemp("dbt_target")
    try:
        conn = params.connect()
        try:
            first = grant(conn, roles)
        finally:
            conn.close()
        for kind, group in zip(("loader", "transformer", "analyst", "phi_reader"), roles.all):
            login, password = f"{roles.prefix}_u_{kind}", uuid.uuid4().hex
            execute_sql(params, sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(login), sql.Literal(password)))
            conn = params.connect()
            try:
                add_member(conn, login, group, act_as_group=kind in ("loader", "transformer"))
            finally:
                conn.close()
            logins[kind] = dataclasses.replace(params, user=login, password=password)
        # one user for a whole Dagster deployment: loader and transformer, under its own name
        pipeline, password = f"{roles.prefix}_u_pipeline", uuid.uuid4().hex
        execute_sql(params, sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(pipeline), sql.Literal(password)))
        conn = params.connect()
        try:
            add_member(conn, pipeline, roles.loader, act_as_group=False)
            add_member(conn, pipeline, roles.transformer, act_as_group=False)
        finally:
            conn.close()
        logins["pipeline"] = dataclasses.replace(params, user=pipeline, password=password)
        # the suite's one run passing the date as a dbt var (run_setting's `--vars` path); the others pass
        # it as Dagster does (DENTAL_DBT_AS_OF_DATE). A new login parses in full anyway (dbt's profile hash)
        run_dbt(logins["transformer"], target, "build", *DATA_ONLY, "--select", "+path:models/marts",
                "--vars", VARS)
        # what the analyst may read of what dbt built, before any later grant could mend it
        unreadable = query_rows(params, f"""
            SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'marts' AND c.relkind IN ('r', 'v', 'm')
                AND NOT has_table_privilege('{roles.analyst}', c.oid, 'SELECT')""")
        # the second run goes through the command line, as a newcomer runs it after adding the users
        monkeypatch_module.setenv("DENTAL_WAREHOUSE_URL", pg_module_url)
        monkeypatch_module.setenv("DENTAL_ROLE_PREFIX", roles.prefix)
        assert dental_cli(["warehouse", "grant"]) == 0
        before = _catalog_state(params, roles)
        conn = params.connect()
        try:
            third = grant(conn, roles)
        finally:
            conn.close()
        after = _catalog_state(params, roles)
        marts = [r[0] for r in query_rows(params, """
            SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'
                AND table_name <> 'legacy_mart' ORDER BY 1""")]
        yield Warehouse(params, roles, logins, first, third.changed, before, after, marts, unreadable[0][0])
    finally:
        conn = params.connect()
        try:
            drop_roles(conn, [*(p.user for p in logins.values()), *roles.all])
        finally:
            conn.close()
        assert not query_rows(params, f"SELECT rolname FROM pg_roles WHERE rolname LIKE '{roles.prefix}%'")


@contextlib.contextmanager
def session(login: PgParams):
    """A connection as ``login``; every statement runs in a transaction rolled back at the end."""
    conn = login.connect()
    try:
        yield conn.cursor()
    finally:
        conn.rollback()
        conn.close()


def can(login: PgParams, statement: str) -> bool:
    """True when ``statement`` runs as ``login``; False on permission denied (any other error raises).
    Nothing it does is kept."""
    with session(login) as cur:
        try:
            cur.execute(statement)
            return True
        except errors.InsufficientPrivilege:
            return False


# --------------------------------------------------------------------------------------------- grant

def test_grant_creates_four_nologin_roles_and_reruns_as_a_no_op(warehouse):
    assert sorted(warehouse.first.roles_created) == sorted(warehouse.roles.all)
    # raw's tables, dental_sync's two (raw_windows, raw_writes) and its write counter, marts.legacy_mart, and
    # dental_sync.check_failures, which grant creates (as the administrator) for the transformer's grant
    assert warehouse.first.owners_changed == len(raw_tables()) + 5
    assert sorted(warehouse.first.schemas_created) == ["intermediate", "snapshots", "staging"]
    # the only privilege outside the design on a fresh warehouse: PUBLIC's EXECUTE on the write counter
    # (PostgreSQL's default for a function; its trigger fires without it)
    assert warehouse.first.privileges_revoked == {"PUBLIC": 1}
    assert not warehouse.third_changed
    assert warehouse.catalog_before == warehouse.catalog_after
    names = ", ".join(f"'{r}'" for r in warehouse.roles.all)
    logins = query_rows(warehouse.params, f"SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ({names})")
    assert sorted(logins) == sorted((role, False) for role in warehouse.roles.all)


def test_layer_schemas_and_their_tables_belong_to_their_owner_role(warehouse):
    owners = dict(query_rows(warehouse.params, """
        SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace
        WHERE nspname IN ('raw', 'dental_sync', 'staging', 'intermediate', 'marts', 'snapshots')"""))
    r = warehouse.roles
    assert owners == {"raw": r.loader, "dental_sync": r.loader, "staging": r.transformer,
                      "intermediate": r.transformer, "marts": r.transformer, "snapshots": r.transformer}
    strays = query_rows(warehouse.params, f"""
        SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'v', 'm') AND (
            (n.nspname IN ('raw', 'dental_sync') AND pg_get_userbyid(c.relowner) <> '{r.loader}')
            OR (n.nspname IN ('staging', 'intermediate', 'marts')
                AND pg_get_userbyid(c.relowner) <> '{r.transformer}'))""")
    assert strays == []
    functions = query_rows(warehouse.params, """
        SELECT p.oid::regprocedure::text, pg_get_userbyid(p.proowner) FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'dental_sync'""")
    assert functions == [(f"{window_state.WRITES_FUNCTION}()", r.loader)]  # the write counter runs as the loader


def test_a_bad_prefix_is_a_configuration_error(monkeypatch, capsys):
    monkeypatch.setenv("DENTAL_ROLE_PREFIX", "Dental; DROP")
    assert dental_cli(["warehouse", "grant"]) == 2
    assert "DENTAL_ROLE_PREFIX" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- analyst

def test_analyst_is_denied_the_ssn_and_every_layer_but_marts(warehouse):
    analyst = warehouse.logins["analyst"]
    with session(analyst) as cur, pytest.raises(errors.InsufficientPrivilege):
        cur.execute('SELECT "SSN" FROM raw.patient LIMIT 1')
    for relation in ("raw.patient", "dental_sync.raw_windows", "dental_sync.check_failures",
                     "staging.stg_opendental__patient", "intermediate.int_patients"):
        assert not can(analyst, f"SELECT * FROM {relation} LIMIT 1"), relation
    assert not can(analyst, "CREATE TABLE marts.analyst_scratch (x int)")
    assert not can(analyst, "DELETE FROM marts.dim_patient")


def test_analyst_reads_every_mart(warehouse):
    models = {path.stem for path in MARTS_DIR.glob("*.sql")}
    assert set(warehouse.marts) == models
    assert warehouse.marts_unreadable_after_dbt == 0  # default privileges, not a re-run of grant
    with session(warehouse.logins["analyst"]) as cur:
        for mart in warehouse.marts:
            cur.execute(sql.SQL("SELECT count(*) FROM marts.{}").format(sql.Identifier(mart)))
        cur.execute("SELECT count(*) FROM marts.dim_patient")
        assert cur.fetchone()[0] > 0


# ------------------------------------------------------------------------------------ loader, others

def test_loader_writes_raw_and_cannot_touch_the_marts(warehouse):
    loader = warehouse.logins["loader"]
    with session(loader) as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS raw")  # as the raw writers run it
        cur.execute('INSERT INTO raw.zipcode ("ZipCodeNum", "ZipCodeDigits") VALUES (999999, \'00000\')')
        cur.execute('UPDATE raw.patient SET "EstBalance" = "EstBalance" WHERE "PatNum" = 1')
        cur.execute('TRUNCATE raw.recalltrigger')
        cur.execute('CREATE INDEX ON raw.patient ("Zip")')
        cur.execute("INSERT INTO dental_sync.raw_windows VALUES ('patient', 1)")
        cur.execute("SELECT writes FROM dental_sync.raw_writes WHERE raw_table = 'raw.zipcode'")
        assert cur.fetchone() == (1,)  # the insert above, counted by the trigger
    assert not can(loader, "SELECT * FROM marts.dim_patient LIMIT 1")
    assert not can(loader, "CREATE TABLE marts.loader_table (x int)")
    assert not can(loader, "SELECT * FROM staging.stg_opendental__patient LIMIT 1")


def test_phi_reader_reads_every_layer_and_writes_none(warehouse):
    reader = warehouse.logins["phi_reader"]
    with session(reader) as cur:
        cur.execute('SELECT "SSN", "LName", "Birthdate" FROM raw.patient LIMIT 5')
        assert len(cur.fetchall()) == 5
        for relation in ("dental_sync.raw_windows", "staging.stg_opendental__patient",
                         "intermediate.int_patients", "marts.dim_patient"):
            cur.execute(f"SELECT * FROM {relation} LIMIT 1")
    assert not can(reader, 'INSERT INTO raw.zipcode ("ZipCodeNum") VALUES (999998)')
    assert not can(reader, "DELETE FROM marts.dim_patient")
    assert not can(reader, "CREATE TABLE marts.reader_table (x int)")


def test_transformer_reads_raw_writes_the_dbt_layers_and_not_raw(warehouse):
    transformer = warehouse.logins["transformer"]
    with session(transformer) as cur:
        cur.execute('SELECT count(*) FROM raw.patient WHERE "SSN" IS NOT NULL')
        cur.execute("CREATE TABLE marts.transformer_table (x int)")
        cur.execute("CREATE TABLE intermediate.transformer_table (x int)")
    assert not can(transformer, 'INSERT INTO raw.zipcode ("ZipCodeNum") VALUES (999997)')
    assert not can(transformer, "SELECT * FROM dental_sync.raw_windows")


def test_transformer_reads_the_failed_raw_checks_and_no_other_replication_state(warehouse):
    """Every dbt build reads ``dental_sync.check_failures`` before dbt starts (defs/dbt/assets.py,
    ``refuse_after_failed_raw_checks``): a transformer-only login (its sessions run as the group role) reads
    a failure there with the guard's own query (``check_failures.unrepaired``), on a warehouse where no
    check had failed before grant (grant created the table). It still may not read ``raw_windows`` nor
    write ``check_failures``, nor create in ``dental_sync``. The two grants are in the design
    (``revoke_strays`` keeps them): a grant run now revokes nothing and changes nothing."""
    from dental_assets.partitions import Window
    from dental_assets.replication import check_failures

    r, params = warehouse.roles, warehouse.params
    transformer = warehouse.logins["transformer"]
    owner = query_rows(params, f"SELECT pg_get_userbyid(relowner) FROM pg_class "
                               f"WHERE oid = to_regclass('{check_failures.FAILURES_TABLE}')")
    assert owner == [(r.loader,)]  # created by grant (the fixture's warehouse had none), given to the loader
    conn = params.connect()
    try:
        check_failures.record(conn, "raw.procedurelog", Window(dt.date(2026, 5, 1), dt.date(2026, 6, 1)), False, 3, 2)
        with session(transformer) as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == (r.transformer,)
            [failure] = check_failures.unrepaired(cur, ["raw.procedurelog"])
            assert (failure.raw_table, failure.source_rows, failure.raw_rows) == ("raw.procedurelog", 3, 2)
        assert not can(transformer, "SELECT * FROM dental_sync.raw_windows")
        assert not can(transformer, "SELECT * FROM dental_sync.raw_writes")
        assert not can(transformer, "DELETE FROM dental_sync.check_failures")
        assert not can(transformer, "INSERT INTO dental_sync.check_failures (raw_table, failed_window) "
                                    "VALUES ('raw.patient', daterange(NULL, NULL))")
        assert not can(transformer, "CREATE TABLE dental_sync.transformer_table (x int)")
    finally:
        check_failures.record(conn, "raw.procedurelog", None, True)
        conn.close()
    before = _catalog_state(params, r)
    conn = params.connect()
    try:
        again = grant(conn, r)
    finally:
        conn.close()
    assert not again.changed and again.privileges_revoked == {}
    assert _catalog_state(params, r) == before
    assert query_rows(params, f"""
        SELECT has_schema_privilege('{r.transformer}', 'dental_sync', 'USAGE'),
               has_table_privilege('{r.transformer}', '{check_failures.FAILURES_TABLE}', 'SELECT'),
               has_table_privilege('{r.transformer}', 'dental_sync.raw_windows', 'SELECT')""") == [(True, True, False)]


def test_tables_created_later_get_the_grants(warehouse):
    """Default privileges: a raw table the loader's user creates is readable by the transformer and the
    PHI reader, not by the analyst."""
    execute_sql(warehouse.params, "DROP TABLE IF EXISTS raw.later_table")
    execute_sql(warehouse.logins["loader"], "CREATE TABLE raw.later_table (x int)")
    owner = query_rows(warehouse.params,
                       "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'raw.later_table'::regclass")
    assert owner == [(warehouse.roles.loader,)]  # the session ran as the group role
    assert can(warehouse.logins["transformer"], "SELECT * FROM raw.later_table")
    assert can(warehouse.logins["phi_reader"], "SELECT * FROM raw.later_table")
    assert not can(warehouse.logins["analyst"], "SELECT * FROM raw.later_table")


    # a table the administrator creates in marts later: analysts read it (default privileges FOR ROLE
    # the administrator who ran grant)
    execute_sql(warehouse.params, "CREATE TABLE marts.admin_later (x int)")
    try:
        assert can(warehouse.logins["analyst"], "SELECT * FROM marts.admin_later")
    finally:
        execute_sql(warehouse.params, "DROP TABLE marts.admin_later")


def test_one_pipeline_user_in_loader_and_transformer_gets_default_privileges(warehouse):
    """A user in both groups (no session role) writes raw and marts under its own name: what it creates
    is readable by the roles that read the layer, and the next grant gives it to the layer's owner."""
    execute_sql(warehouse.params, "DROP TABLE IF EXISTS raw.pipeline_raw, marts.pipeline_mart")
    execute_sql(warehouse.logins["pipeline"], "CREATE TABLE raw.pipeline_raw (x int)",
                "CREATE TABLE marts.pipeline_mart AS SELECT count(*) AS n FROM raw.patient")
    try:
        assert can(warehouse.logins["transformer"], "SELECT * FROM raw.pipeline_raw")
        assert can(warehouse.logins["loader"], "INSERT INTO raw.pipeline_raw VALUES (1)")
        assert not can(warehouse.logins["analyst"], "SELECT * FROM raw.pipeline_raw")
        assert can(warehouse.logins["analyst"], "SELECT * FROM marts.pipeline_mart")
        conn = warehouse.params.connect()
        try:
            assert grant(conn, warehouse.roles).owners_changed == 2
        finally:
            conn.close()
        owners = query_rows(warehouse.params, """
            SELECT relname, pg_get_userbyid(relowner) FROM pg_class
            WHERE relname IN ('pipeline_raw', 'pipeline_mart') ORDER BY 1""")
        assert owners == [("pipeline_mart", warehouse.roles.transformer), ("pipeline_raw", warehouse.roles.loader)]
    finally:
        execute_sql(warehouse.params, "DROP TABLE IF EXISTS raw.pipeline_raw, marts.pipeline_mart")


def test_dbt_ran_as_the_transformer_and_analysts_read_what_it_built(warehouse):
    """Every mart was created after the grant by the transformer's user (a NOLOGIN group member whose
    sessions run as the group): the transformer owns it and analysts read it without a new grant."""
    owners = query_rows(warehouse.params, """
        SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('staging', 'intermediate', 'marts') AND c.relkind IN ('r', 'v')""")
    assert owners == [(warehouse.roles.transformer,)]
    with session(warehouse.logins["analyst"]) as cur:
        cur.execute("SELECT count(*), count(age_band) FROM marts.dim_patient")
        rows, banded = cur.fetchone()
        assert rows > 0 and banded > 0


def _acl_dependencies(params: PgParams, role: str) -> int:
    """How many privileges in the current database name ``role`` as grantee, by PostgreSQL's own record
    of them (pg_shdepend, kind 'a': every ACL entry, default privileges included), not by ``grant``'s."""
    return query_rows(params, f"""
        SELECT count(*) FROM pg_shdepend WHERE deptype = 'a' AND refobjid = '{role}'::regrole
            AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())""")[0][0]


def test_grant_revokes_every_privilege_outside_the_design(warehouse):
    """Privileges granted by hand on the layers to a log-in user that is no group role (a member of the
    analyst group, as an analyst's login is): on schemas, tables, columns, the write counter, default
    privileges (in a schema and global), and through a grant option held by another role; plus group
    roles beyond their share and PUBLIC. The next grant revokes each (audit: it used to revoke only the
    other group roles' and PUBLIC's), reports them per role (counts only), and a run after that changes
    nothing."""
    r = warehouse.roles
    params = warehouse.params
    stray, relay, password = f"{r.prefix}_u_stray", f"{r.prefix}_u_relay", uuid.uuid4().hex
    login = dataclasses.replace(params, user=stray, password=password)
    try:
        execute_sql(params, sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(stray), sql.Literal(password)), sql.SQL("CREATE ROLE {} NOLOGIN").format(
            sql.Identifier(relay)))
        conn = params.connect()
        try:
            add_member(conn, stray, r.analyst, act_as_group=False)
        finally:
            conn.close()
        planted = [
            "GRANT USAGE ON SCHEMA staging, raw, intermediate TO {stray}",                          # 3
            "GRANT SELECT ON staging.stg_opendental__patient, raw.inssub TO {stray}",               # 2
            # columns of a table the user holds no table grant on (a table's REVOKE takes its columns')
            'GRANT SELECT ("SSN", "LName") ON raw.patient TO {stray}',                              # 2
            f"GRANT EXECUTE ON FUNCTION {window_state.WRITES_FUNCTION}() TO {{stray}}",             # 1
            "ALTER DEFAULT PRIVILEGES FOR ROLE {loader} IN SCHEMA raw GRANT SELECT ON TABLES TO {stray}",  # 1
            "ALTER DEFAULT PRIVILEGES FOR ROLE {transformer} GRANT SELECT ON TABLES TO {stray}",   # 1
            # a grant option held outside the design, passed on to the stray user
            "GRANT USAGE ON SCHEMA intermediate TO {relay}",                                         # relay 1
            "GRANT SELECT ON intermediate.int_patients TO {relay} WITH GRANT OPTION",               # relay 1
            "SET ROLE {relay}", "GRANT SELECT ON intermediate.int_patients TO {stray}", "RESET ROLE",  # 1
            # group roles beyond their share
            "GRANT CREATE ON SCHEMA marts TO {analyst}",                                              # 1
            "GRANT INSERT ON marts.dim_patient TO {analyst}",                                         # 1
            "GRANT SELECT ON marts.dim_patient TO {phi_reader} WITH GRANT OPTION",                  # its option
            "GRANT USAGE ON SCHEMA snapshots TO PUBLIC", "GRANT SELECT ON raw.patient TO PUBLIC",   # PUBLIC 2
        ]
        names = {"stray": stray, "relay": relay, "loader": r.loader, "transformer": r.transformer,
                 "analyst": r.analyst, "phi_reader": r.phi_reader}
        execute_sql(params, *(sql.SQL(s).format(**{k: sql.Identifier(v) for k, v in names.items()})
                                 for s in planted))
        # planted for real: the stray user reads identifiers in raw, staging, intermediate
        assert can(login, 'SELECT "SSN", "LName" FROM raw.patient LIMIT 1')
        assert can(login, 'SELECT "SubscriberID" FROM raw.inssub LIMIT 1')
        assert can(login, "SELECT * FROM staging.stg_opendental__patient LIMIT 1")
        assert can(login, "SELECT * FROM intermediate.int_patients LIMIT 1")
        assert _acl_dependencies(params, stray) > 0

        conn = params.connect()
        try:
            report = grant(conn, r)
        finally:
            conn.close()
        for statement in ('SELECT "SSN" FROM raw.patient LIMIT 1', 'SELECT "SubscriberID" FROM raw.inssub LIMIT 1',
                          "SELECT * FROM staging.stg_opendental__patient",
                          "SELECT * FROM intermediate.int_patients LIMIT 1"):
            assert not can(login, statement), statement
        assert can(login, "SELECT count(*) FROM marts.dim_patient")  # still an analyst
        assert _acl_dependencies(params, stray) == 0 and _acl_dependencies(params, relay) == 0
        assert report.changed
        assert report.privileges_revoked == {stray: 11, relay: 2, r.analyst: 2, r.phi_reader: 1, "PUBLIC": 2}
        assert report.roles_created == [] and report.owners_changed == 0
        assert f"{stray} 11" in report.summary() and "PUBLIC 2" in report.summary()
        checks = query_rows(params, f"""
            SELECT has_table_privilege('{r.analyst}', 'marts.dim_patient', 'INSERT'),
                   has_schema_privilege('{r.analyst}', 'marts', 'CREATE'),
                   has_table_privilege('{r.phi_reader}', 'marts.dim_patient', 'SELECT WITH GRANT OPTION'),
                   has_table_privilege('{r.phi_reader}', 'marts.dim_patient', 'SELECT'),
                   has_schema_privilege('public', 'snapshots', 'USAGE'),
                   has_table_privilege('public', 'raw.patient', 'SELECT'),
                   has_function_privilege('public', '{window_state.WRITES_FUNCTION}()', 'EXECUTE')""")
        assert checks == [(False, False, False, True, False, False, False)]
        # the default privileges are gone: tables the loader and the transformer create later are not the
        # stray user's (has_table_privilege: whatever its schema privileges)
        for user, table in (("loader", "raw.stray_later"), ("transformer", "intermediate.stray_later")):
            execute_sql(warehouse.logins[user], f"CREATE TABLE {table} (x int)")
            assert query_rows(params, f"SELECT has_table_privilege('{stray}', '{table}', 'SELECT')") == [(False,)]
        execute_sql(params, "DROP TABLE raw.stray_later, intermediate.stray_later")

        before = _catalog_state(params, r)
        conn = params.connect()
        try:
            again = grant(conn, r)
        finally:
            conn.close()
        assert not again.changed and again.privileges_revoked == {}
        assert _catalog_state(params, r) == before
    finally:
        execute_sql(params, "DROP TABLE IF EXISTS raw.stray_later, intermediate.stray_later")
        conn = params.connect()
        try:
            drop_roles(conn, [stray, relay])
        finally:
            conn.close()


def test_grant_revokes_what_a_group_role_holds_beyond_its_share(warehouse):
    """Privileges planted for the group roles themselves that the design gives none of them: the
    transformer's SELECT on a ``dental_sync`` table other than ``check_failures`` (its one table there:
    docs/security.md, "Roles"), the analyst's default INSERT on the tables the transformer creates in
    ``marts`` later (a reader's default privilege is SELECT only), PUBLIC's default EXECUTE on the functions
    the loader creates in ``raw`` (PostgreSQL's built-in defaults for PUBLIC stay only in a global default
    privilege), and a SELECT the analyst holds from a role other than the mart's owner (every grant in a
    layer is the owner's: one passed on by a stray grant option is revoked and counted with it), and a grant
    option held by the administrator running grant (it may hold any privilege, no grant option). The next
    grant revokes each, counted per role; tables created after it are not the analyst's to write."""
    r, params = warehouse.roles, warehouse.params
    relay = f"{r.prefix}_u_share"
    names = {"loader": r.loader, "transformer": r.transformer, "analyst": r.analyst, "relay": relay,
             "admin": params.user}
    planted = [
        "CREATE ROLE {relay} NOLOGIN",
        "GRANT SELECT ON dental_sync.raw_windows TO {transformer}",                                        # 1
        "ALTER DEFAULT PRIVILEGES FOR ROLE {transformer} IN SCHEMA marts GRANT INSERT ON TABLES TO {analyst}",  # 1
        "ALTER DEFAULT PRIVILEGES FOR ROLE {loader} IN SCHEMA raw GRANT EXECUTE ON FUNCTIONS TO PUBLIC",   # 1
        "GRANT USAGE ON SCHEMA marts TO {relay}", "GRANT SELECT ON marts.dim_patient TO {relay} WITH GRANT OPTION",
        "SET ROLE {relay}", "GRANT SELECT ON marts.dim_patient TO {analyst}", "RESET ROLE",                # analyst 1
        "GRANT SELECT ON marts.fct_procedure TO {admin} WITH GRANT OPTION",                               # admin 1
    ]
    try:
        execute_sql(params, *(sql.SQL(s).format(**{k: sql.Identifier(v) for k, v in names.items()})
                              for s in planted))
        assert can(warehouse.logins["transformer"], "SELECT * FROM dental_sync.raw_windows")  # planted for real
        conn = params.connect()
        try:
            report = grant(conn, r)
        finally:
            conn.close()
        assert report.privileges_revoked == {r.analyst: 2, r.transformer: 1, relay: 2, "PUBLIC": 1, params.user: 1}
        assert query_rows(params, f"""
            SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a
            WHERE c.oid = 'marts.fct_procedure'::regclass AND a.grantee = '{params.user}'::regrole
                AND a.is_grantable""") == [(0,)]
        assert not can(warehouse.logins["transformer"], "SELECT * FROM dental_sync.raw_windows")
        assert can(warehouse.logins["analyst"], "SELECT count(*) FROM marts.dim_patient")  # the owner's grant
        assert query_rows(params, """
            SELECT count(*) FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace,
                aclexplode(d.defaclacl) a
            WHERE n.nspname = 'raw' AND a.grantee = 0""") == [(0,)]
        execute_sql(warehouse.logins["transformer"], "CREATE TABLE marts.share_later (x int)")
        assert query_rows(params, f"""
            SELECT has_table_privilege('{r.analyst}', 'marts.share_later', 'SELECT'),
                   has_table_privilege('{r.analyst}', 'marts.share_later', 'INSERT')""") == [(True, False)]
    finally:
        execute_sql(params, "DROP TABLE IF EXISTS marts.share_later")
        conn = params.connect()
        try:
            drop_roles(conn, [relay])
            grant(conn, r)
        finally:
            conn.close()


def test_only_the_loader_and_the_transformer_may_create_schemas(warehouse):
    """CREATE on the database (``CREATE SCHEMA``) is the loader's and the transformer's (docs/security.md:
    their tools run ``CREATE SCHEMA IF NOT EXISTS``), not the analyst's nor the PHI reader's: a schema of
    their own would lie outside every layer ``grant`` keeps to the design."""
    r = warehouse.roles
    created = ", ".join(f"has_database_privilege('{role}', current_database(), 'CREATE')" for role in r.all)
    assert query_rows(warehouse.params, f"SELECT {created}") == [(True, True, False, False)]
    assert not can(warehouse.logins["analyst"], "CREATE SCHEMA analyst_own")
    assert not can(warehouse.logins["phi_reader"], "CREATE SCHEMA reader_own")
    assert can(warehouse.logins["loader"], "CREATE SCHEMA loader_own")  # rolled back by ``can``


def test_grant_makes_a_group_role_that_could_log_in_nologin(make_pg_database):
    """A group role's name already taken by a role that can log in (made by hand, or left by an older
    setup) is turned NOLOGIN by grant (docs/security.md: four NOLOGIN group roles): no one logs in as a
    group, with every member's rights at once."""
    roles = WarehouseRoles(f"t{uuid.uuid4().hex[:10]}")
    with make_pg_database() as url:
        params = PgParams.from_url(url)
        try:
            execute_sql(params, sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(roles.analyst), sql.Literal(uuid.uuid4().hex)))
            conn = params.connect()
            try:
                report = grant(conn, roles)
            finally:
                conn.close()
            assert sorted(report.roles_created) == sorted([roles.loader, roles.transformer, roles.phi_reader])
            names = ", ".join(f"'{role}'" for role in roles.all)
            assert sorted(query_rows(params, f"SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ({names})")
                          ) == sorted((role, False) for role in roles.all)
        finally:
            conn = params.connect()
            try:
                drop_roles(conn, roles.all)
            finally:
                conn.close()


# ---------------------------------------------------------------------------------- marts carry no PHI

def _raw_columns_by_mart_name() -> dict[str, list[tuple[str, str, str]]]:
    """snake_case name -> the raw (table, column, class) of that name, over the raw selection."""
    by_name: dict[str, list[tuple[str, str, str]]] = {}
    for table, columns in phi_inventory().items():
        for column, klass in columns.items():
            by_name.setdefault(snake_case(column), []).append((table, column, klass))
    return by_name


def test_no_mart_column_is_a_direct_identifier_or_free_text_by_name(warehouse):
    by_name = _raw_columns_by_mart_name()
    columns = query_rows(warehouse.params, """
        SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'marts'""")
    assert len(columns) > 100
    offending = []
    for mart, column in columns:
        if (mart, column) in MART_COLUMN_SOURCES:
            table, raw_column = MART_COLUMN_SOURCES[(mart, column)]
            sources = [(table, raw_column, phi_class(table, raw_column))]
        else:
            sources = by_name.get(column, [])
        bad = [s for s in sources if s[2] in MART_FORBIDDEN]
        if bad:
            offending.append((mart, column, bad[:2]))
    assert offending == []
    for (mart, column), (table, raw_column) in MART_COLUMN_SOURCES.items():
        assert (mart, column) in set(columns), (mart, column)  # the declaration is not stale


def test_no_mart_text_value_is_a_patient_identifier(warehouse):
    """Lineage by value: no text value of any mart (4+ characters) equals a value that raw holds in a
    text direct-identifier column (names, phones, e-mail, addresses, ids) of a patient-related table."""
    sources = []
    catalog = {t.name: t for t in raw_tables()}
    for table, columns in phi_inventory().items():
        for column, klass in columns.items():
            col = catalog[table].column(column)
            if klass == DIRECT_IDENTIFIER and col.kind == "str" and col.base_type in ("varchar", "char"):
                sources.append(sql.SQL("SELECT {}::text AS v FROM raw.{}").format(
                    sql.Identifier(column), sql.Identifier(table)))
    assert len(sources) > 40
    identifiers = sql.SQL(" UNION ").join(sources)
    text_columns = query_rows(warehouse.params, """
        SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = 'marts' AND data_type IN ('text', 'character varying', 'character')""")
    assert text_columns
    conn = warehouse.params.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE TEMP TABLE identifiers AS SELECT DISTINCT v FROM ({}) s "
                                "WHERE length(v) >= 4").format(identifiers))
            cur.execute("SELECT count(*) FROM identifiers")
            assert cur.fetchone()[0] > 300  # the practice's names, phones, e-mails are there
            leaks = []
            for mart, column in text_columns:
                cur.execute(sql.SQL("SELECT count(DISTINCT m.{c}) FROM marts.{t} m JOIN identifiers i ON i.v = m.{c}")
                            .format(c=sql.Identifier(column), t=sql.Identifier(mart)))
                found = cur.fetchone()[0]
                if found:
                    leaks.append((mart, column, found))  # counts only: no value in the message
        assert leaks == []
    finally:
        conn.rollback()
        conn.close()


def test_dim_patient_carries_an_age_band_not_the_birthdate(warehouse):
    columns = {r[0] for r in query_rows(warehouse.params, """
        SELECT column_name FROM information_schema.columns
        WHERE table_schema = 'marts' AND table_name = 'dim_patient'""")}
    assert "birthdate" not in columns and "age_band" in columns
    bands = {r[0] for r in query_rows(warehouse.params, "SELECT DISTINCT age_band FROM marts.dim_patient")}
    assert bands - {None} <= {"0-12", "13-17", "18-34", "35-49", "50-64", "65-79", "80-89", "90+"}
    assert len(bands - {None}) >= 4
    oldest = query_rows(warehouse.params, "SELECT max(patient_age_years) FROM marts.fct_appointment_outcomes")
    assert oldest[0][0] <= 90

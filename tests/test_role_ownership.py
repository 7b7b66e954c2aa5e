"""Who owns what the pipeline creates, whatever login runs it (docs/security.md, "Roles").

A Dagster deployment reaches the warehouse as one user, a member of the loader and the transformer
group (no ``SET role``); a sync user and a dbt user run as their group (``ALTER ROLE ... SET role``).
Before, what the Dagster user created belonged to it: then the dbt user's next build failed with
``must be owner of view stg_opendental__adjustment`` (and a sync user's full copy on raw tables it did not
own), until ``dental warehouse grant`` ran again. Now the pipeline's sessions take the layer's group when
the login is an explicit member of it (``roles.layer_role``): every object of a layer belongs to its group
after each step, and the users take turns with no grant in between, in either order.

The real paths: the MariaDB sync (``replicate.replicate_tables``: what the raw assets and ``dental sync``
run), then ``dbt run`` of two staging views through the environment ``PgParams.dbt_env()`` gives dbt
(``tests/dbt_runner.py``), as the Dagster dbt step does. Roles are server-wide: this module's have a prefix
of their own and are dropped at the end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
from psycopg2 import sql

from dbt_runner import execute_sql, query_rows, run_dbt
from dental_assets.catalog import raw_table
from dental_assets.replication import replicate
from dental_assets.replication.mysql import MySqlParams
from dental_assets.roles import (ALL_SCHEMAS, WarehouseRoles, add_member, drop_roles, grant, layer_role,
                                 role_to_take)
from dental_assets.warehouse import PgParams
from dental_synthetic import SyntheticConfig, generate
from dental_synthetic.mariadb_writer import mark_mariadb_demo_target, write_mariadb
from test_replication_support import source_sql

TABLES = ("adjustment", "definition")
MODELS = ("stg_opendental__adjustment", "stg_opendental__definition")


# ------------------------------------------------------------------------------------------------ pure

def test_role_to_take_switches_only_a_member_that_does_not_run_as_the_group():
    group = "dental_transformer"
    assert role_to_take(group, "dental_dagster", superuser=False, member=True) == group
    # ALTER ROLE dental_dbt_user SET role = 'dental_transformer': it runs as the group already
    assert role_to_take(group, group, superuser=False, member=True) is None
    # a superuser is implicitly a member of every role: never switched, even when granted the group
    assert role_to_take(group, "postgres", superuser=True, member=True) is None
    assert role_to_take(group, "postgres", superuser=True, member=False) is None
    # a login outside the group (an analyst, another prefix's user) keeps its own rights
    assert role_to_take(group, "alice", superuser=False, member=False) is None


# ------------------------------------------------------------------------------------------ warehouse

@dataclasses.dataclass
class Setup:
    admin: PgParams
    roles: WarehouseRoles
    source_url: str
    logins: dict[str, PgParams]   # pipeline (both groups, own name), sync (loader), dbt (transformer), ...
    targets: dict[str, object]    # a dbt target folder per login (its saved parse kept there)


@pytest.fixture(scope="module")
def setup(make_pg_database, make_mariadb_database, pg_server_url, tmp_path_factory, monkeypatch_module):
    roles = WarehouseRoles(f"t{uuid.uuid4().hex[:10]}")
    other = WarehouseRoles(f"t{uuid.uuid4().hex[:10]}")  # another warehouse's roles on the same server
    monkeypatch_module.setenv("DENTAL_ROLE_PREFIX", roles.prefix)
    names: list[str] = []
    try:
        with make_mariadb_database() as source_url, make_pg_database() as pg_url:
            mark_mariadb_demo_target(source_url)
            write_mariadb(generate(SyntheticConfig(as_of=dt.date(2025, 6, 30), patients=40, seed=7)), source_url)
            admin = PgParams.from_url(pg_url)
            execute_sql(admin, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(other.loader)))
            names.append(other.loader)
            logins: dict[str, PgParams] = {}

            def login(kind: str, *groups: str, act_as: bool = False, superuser: bool = False,
                      via: str | None = None) -> None:
                user, password = f"{roles.prefix}_u_{kind}", uuid.uuid4().hex
                execute_sql(admin, sql.SQL("CREATE ROLE {} LOGIN {} PASSWORD {}").format(
                    sql.Identifier(user), sql.SQL("SUPERUSER" if superuser else ""), sql.Literal(password)))
                names.append(user)
                member = user
                if via is not None:  # a member of the group through a role of its own
                    execute_sql(admin, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(via)),
                                sql.SQL("GRANT {} TO {}").format(sql.Identifier(via), sql.Identifier(user)))
                    names.append(via)
                    member = via
                for group in groups:
                    conn = admin.connect()
                    try:
                        add_member(conn, member, group, act_as_group=act_as)
                    finally:
                        conn.close()
                logins[kind] = dataclasses.replace(admin, user=user, password=password)

            conn = admin.connect()
            try:
                grant(conn, roles)  # on the empty warehouse, before anyone ran: the documented set-up
            finally:
                conn.close()
            login("pipeline", roles.loader, roles.transformer)         # Dagster's one user, no SET role
            login("sync", roles.loader, act_as=True)                    # docs: dental_sync_user
            login("dbt", roles.transformer, act_as=True)                # docs: dental_dbt_user
            login("nested", roles.loader, via=f"{roles.prefix}_ops")    # a member through another role
            login("analyst", roles.analyst)
            login("super", roles.loader, roles.transformer, superuser=True)
            login("stranger", other.loader)                             # another prefix's loader
            targets = {kind: tmp_path_factory.mktemp(f"dbt_{kind}") for kind in ("pipeline", "dbt")}
            try:
                yield Setup(admin, roles, source_url, logins, targets)
            finally:
                conn = admin.connect()
                try:
                    drop_roles(conn, [*names, *roles.all])
                finally:
                    conn.close()
    finally:  # whatever drop_roles left after a failure: the database is gone with its privileges
        admin = PgParams.from_url(pg_server_url).connect()
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                for role in [*names, *roles.all]:
                    cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        finally:
            admin.close()


@pytest.fixture
def fresh(setup):
    """The warehouse as the documented set-up leaves it: the layers empty (but grant's
    ``dental_sync.check_failures``), no write counter; the roles and their grants kept."""
    execute_sql(setup.admin, "DROP SCHEMA IF EXISTS raw, staging CASCADE",
                "DROP TABLE IF EXISTS dental_sync.raw_windows, dental_sync.raw_writes, dental_sync.raw_verified",
                "DROP FUNCTION IF EXISTS dental_sync.count_raw_write()")
    conn = setup.admin.connect()
    try:
        grant(conn, setup.roles)  # the schemas back, owned by their group, before any step
    finally:
        conn.close()
    return setup


def _sync(setup: Setup, kind: str, mode: str) -> None:
    """The MariaDB sync of ``TABLES`` as the login ``kind`` (``mode``: ``auto``, or ``full``: the window
    copied whole, with the key dropped and built again and the table analyzed), every table checked."""
    tables = [raw_table(name) for name in TABLES]
    done = list(replicate.replicate_tables(MySqlParams.from_url(setup.source_url), setup.logins[kind], tables,
                                           None, mode, set(TABLES), 32))
    assert [(d.table.name, d.check[0]) for d in done] == [(name, True) for name in TABLES]


def _dbt(setup: Setup, kind: str) -> None:
    run_dbt(setup.logins[kind], setup.targets[kind], "run", "--select", *MODELS)


def _not_the_groups(setup: Setup) -> list[tuple]:
    """Tables, views, sequences and functions of the layer schemas not owned by their layer's group."""
    r = setup.roles
    owners = " ".join(f"WHEN '{s}' THEN '{r.owner_of(s)}'" for s in ALL_SCHEMAS)
    return query_rows(setup.admin, f"""
        SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ({", ".join(f"'{s}'" for s in ALL_SCHEMAS)}) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
            AND pg_get_userbyid(c.relowner) <> CASE n.nspname {owners} END
        UNION ALL
        SELECT n.nspname, p.proname::text, pg_get_userbyid(p.proowner) FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname IN ({", ".join(f"'{s}'" for s in ALL_SCHEMAS)})
            AND pg_get_userbyid(p.proowner) <> CASE n.nspname {owners} END
        ORDER BY 1, 2""")


def _built(setup: Setup) -> int:
    """How many of ``TABLES``' raw tables and ``MODELS``' views exist, and that the write counter is
    there (what each step's assertions are about)."""
    return query_rows(setup.admin, f"""
        SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE (n.nspname = 'raw' AND c.relname IN ({", ".join(f"'{t}'" for t in TABLES)}))
           OR (n.nspname = 'staging' AND c.relname IN ({", ".join(f"'{m}'" for m in MODELS)}))
           OR (n.nspname = 'dental_sync' AND c.relname = 'raw_writes')""")[0][0]


def test_documented_users_rebuild_after_the_dagster_user_without_a_grant(fresh):
    """The walkthrough's order: the Dagster user syncs raw and builds the staging views; then the dbt user
    rebuilds them (it failed: ``must be owner of view``), and the sync user copies raw whole again after
    the source gained a column, which it adds to raw (``ALTER TABLE``: the owner's alone; it failed too),
    with no ``dental warehouse grant`` in between."""
    setup = fresh
    _sync(setup, "pipeline", "auto")
    _dbt(setup, "pipeline")
    assert _built(setup) == len(TABLES) + len(MODELS) + 1
    assert _not_the_groups(setup) == []  # before: every one the Dagster user's
    _dbt(setup, "dbt")
    # an OpenDental upgrade adds a column: the sync adds it to raw (ALTER TABLE: the table's owner only)
    source_sql(setup.source_url, "ALTER TABLE definition ADD COLUMN RoleTestA int NULL")
    _sync(setup, "sync", "full")
    assert query_rows(setup.admin, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'raw' "
                                   "AND table_name = 'definition' AND column_name = 'RoleTestA'") == [(1,)]
    assert _not_the_groups(setup) == []
    # the write counter, created by the Dagster user's session, runs as the loader, and counted the writes
    assert query_rows(setup.admin, "SELECT count(*) FROM dental_sync.raw_writes WHERE writes > 0")[0][0] == len(TABLES)


def test_the_dagster_user_takes_over_after_the_documented_users_and_back(fresh):
    """The other order: the sync user and the dbt user first, then the Dagster user (a full copy and a
    build), then the documented users again: each step succeeds, and every object still belongs to its
    layer's group after each."""
    setup = fresh
    _sync(setup, "sync", "auto")
    _dbt(setup, "dbt")
    assert _built(setup) == len(TABLES) + len(MODELS) + 1
    assert _not_the_groups(setup) == []
    _sync(setup, "pipeline", "full")
    _dbt(setup, "pipeline")
    assert _not_the_groups(setup) == []
    _dbt(setup, "dbt")
    _sync(setup, "sync", "full")
    assert _not_the_groups(setup) == []


def _layer_role(login: PgParams, schema: str, roles: WarehouseRoles) -> str | None:
    conn = login.connect()
    try:
        with conn.cursor() as cur:
            return layer_role(cur, schema, roles)
    finally:
        conn.close()


def test_only_an_explicit_member_not_running_as_the_group_switches(setup):
    """``layer_role`` on the real server, where roles of other prefixes exist: the Dagster user takes the
    loader for raw and the transformer for dbt's schemas, and so does a member through a role of its own;
    the documented users already run as their group (no change) and are no member of the other; a
    superuser never switches, even granted both groups; an analyst, another prefix's loader, and the
    test server's administrator neither. ``dbt_env()`` hands dbt the same answer (``DENTAL_PG_ROLE``;
    "None" renders as no role in profiles.yml)."""
    r, logins = setup.roles, setup.logins
    expected = {
        "pipeline": (r.loader, r.transformer), "nested": (r.loader, None), "sync": (None, None),
        "dbt": (None, None), "super": (None, None), "analyst": (None, None), "stranger": (None, None),
    }
    for kind, (raw_role, dbt_role) in expected.items():
        assert (_layer_role(logins[kind], "raw", r), _layer_role(logins[kind], "staging", r)) \
            == (raw_role, dbt_role), kind
        assert logins[kind].dbt_env()["DENTAL_PG_ROLE"] == (dbt_role or "None"), kind
    assert (_layer_role(setup.admin, "raw", r), _layer_role(setup.admin, "marts", r)) == (None, None)
    assert setup.admin.dbt_env()["DENTAL_PG_ROLE"] == "None"


def test_the_synthetic_load_as_the_dagster_user_drops_the_snapshot_as_its_login(fresh):
    """The synthetic source's load (``defs.raw.assets._load_arrow``' session and transaction) as the
    Dagster user: raw's table is the loader's, and the dbt snapshot of the practice before, the
    transformer's in ``snapshots`` (where the loader has no USAGE), is still dropped in the same
    transaction, as the login (``roles.as_login``), which the loader could not."""
    from dental_assets.defs.raw.assets import _replace_window
    from dental_assets.roles import layer_session
    from dental_assets.sources import SyntheticSource

    setup = fresh
    snapshot = "snapshots.snap_opendental__definition"
    conn = setup.logins["dbt"].connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {snapshot} (x int)")
    finally:
        conn.close()
    table = raw_table("definition")
    data = SyntheticSource(20, 3, dt.date(2025, 6, 30)).read_window(table, None)
    conn = layer_session(setup.logins["pipeline"], "raw")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == (setup.roles.loader,)
        conn.commit()
        _replace_window(conn, table, None, data)
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")  # the loader again after the drop
            assert cur.fetchone() == (setup.roles.loader,)
    finally:
        conn.close()
    assert query_rows(setup.admin, f"SELECT to_regclass('{snapshot}') IS NULL") == [(True,)]
    assert query_rows(setup.admin, "SELECT pg_get_userbyid(relowner) FROM pg_class "
                                   "WHERE oid = 'raw.definition'::regclass") == [(setup.roles.loader,)]

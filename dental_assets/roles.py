"""The warehouse's access roles (``dental warehouse grant``): who may read and write which layer.

Four NOLOGIN group roles, named ``<prefix>_<kind>`` (prefix ``DENTAL_ROLE_PREFIX``, default ``dental``):

- ``loader``       owns and writes ``raw`` and the replication's bookkeeping schema ``dental_sync``;
- ``transformer``  (runs dbt) reads ``raw`` and, of ``dental_sync``, only ``check_failures`` (every dbt
                   build reads it first: ``replication.check_failures``); owns and writes ``staging``,
                   ``intermediate``, ``marts``, ``snapshots``;
- ``analyst``      reads ``marts`` only (no direct identifiers, no free text there: docs/security.md);
- ``phi_reader``   reads every one of these schemas.

``grant`` creates what is missing and brings the rest to that state: the roles, the schemas (owned by
the loader or the transformer), ``dental_sync.check_failures`` (so that the transformer's grant on it
applies before the first failed check creates it), the owner of every existing table and view in them, the privileges on
the database, schemas and tables, and the default privileges that make tables created later readable by
the same roles (``ALTER DEFAULT PRIVILEGES FOR ROLE`` each creator: the loader, the transformer, their
members, and the role running ``grant``, which may still run the pipeline). Every other privilege on the layer
schemas and what is in them is revoked, whoever holds it (``revoke_strays``: any role, a log-in user or PUBLIC;
read from the catalogs' ACLs). Running it again changes nothing.

Log-in users join a group role (``add_member``); a loader's or transformer's user also has the group
role set as its session role, so what it creates is owned by the group, not by the user. A user in both
(one Dagster deployment runs the raw assets and dbt) cannot have one session role: the pipeline takes the
layer's group itself (``layer_role``, ``act_as_layer``): the raw sync's warehouse sessions ``SET ROLE`` the
loader, dbt's profile the transformer (``PgParams.dbt_env``), when the login is an explicit member of it,
so what it creates belongs to the group and the documented users can take turns with it. ``grant``, run
after it joined, also sets default privileges for it, and gives to the layer's owner what anything else
created under its own name.

It must run as a superuser or as the warehouse database's owner with CREATEROLE and membership in the
four roles. Roles are cluster-wide objects: one server's databases share them.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field

from psycopg2 import sql

from dental_assets.errors import ConfigurationError
from dental_assets.replication import check_failures

PREFIX_ENV = "DENTAL_ROLE_PREFIX"
DEFAULT_PREFIX = "dental"
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

LOADER_SCHEMAS = ("raw", "dental_sync")
TRANSFORMER_SCHEMAS = ("staging", "intermediate", "marts", "snapshots")
ANALYST_SCHEMAS = ("marts",)
ALL_SCHEMAS = LOADER_SCHEMAS + TRANSFORMER_SCHEMAS
# the one relation of the loader's schemas the transformer reads besides raw: the failed raw checks, which
# every dbt build reads before dbt starts (defs/dbt/assets.py); USAGE on its schema and SELECT on it alone
# (the replication's other state, raw_windows, raw_writes, raw_verified, stays the loader's)
TRANSFORMER_STATE_READS = ((check_failures.STATE_SCHEMA, check_failures.FAILURES_NAME),)

WRITE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE, TRUNCATE"

# pg_class.relkind -> the ALTER statement's object word (indexes and owned sequences follow their table)
_RELKINDS = {"r": "TABLE", "p": "TABLE", "f": "FOREIGN TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW",
             "S": "SEQUENCE"}


@dataclass(frozen=True)
class WarehouseRoles:
    """The four group roles' names, ``<prefix>_loader`` ... ``<prefix>_phi_reader``."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise ConfigurationError(PREFIX_ENV, "must be lower-case letters, digits and _, starting with a "
                                     "letter, at most 40 characters", DEFAULT_PREFIX)

    @classmethod
    def from_env(cls) -> WarehouseRoles:
        """The roles named by ``DENTAL_ROLE_PREFIX`` (default ``dental``); ConfigurationError if unusable."""
        from dental_assets import settings

        return cls(settings.role_prefix())

    @property
    def loader(self) -> str:
        return f"{self.prefix}_loader"

    @property
    def transformer(self) -> str:
        return f"{self.prefix}_transformer"

    @property
    def analyst(self) -> str:
        return f"{self.prefix}_analyst"

    @property
    def phi_reader(self) -> str:
        return f"{self.prefix}_phi_reader"

    @property
    def all(self) -> tuple[str, str, str, str]:
        return (self.loader, self.transformer, self.analyst, self.phi_reader)

    def owner_of(self, schema: str) -> str:
        return self.loader if schema in LOADER_SCHEMAS else self.transformer

    def reads_one_table_of(self, role: str, schema: str, name: str | None = None) -> bool:
        """Whether ``role`` is given USAGE on ``schema`` (``name`` None) or SELECT on ``schema.name`` for
        one table of it only (``TRANSFORMER_STATE_READS``), not as one of the schema's readers."""
        return role == self.transformer and any(
            s == schema and (name is None or n == name) for s, n in TRANSFORMER_STATE_READS)

    def readers_of(self, schema: str) -> tuple[str, ...]:
        """The roles that read ``schema`` without owning it."""
        readers = [self.phi_reader]
        if schema == "raw":
            readers.append(self.transformer)
        if schema in ANALYST_SCHEMAS:
            readers.append(self.analyst)
        return tuple(readers)


@dataclass
class GrantReport:
    """What ``grant`` changed: roles and schemas created, relations whose owner it changed, privileges
    it revoked per role (``"PUBLIC"`` for PUBLIC) (counts and names of roles and schemas only).
    ``changed`` is False on a re-run."""

    roles_created: list[str] = field(default_factory=list)
    schemas_created: list[str] = field(default_factory=list)
    owners_changed: int = 0
    privileges_revoked: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.roles_created or self.schemas_created or self.owners_changed or self.privileges_revoked)

    def summary(self) -> str:
        revoked = ", ".join(f"{role} {count}" for role, count in self.privileges_revoked.items())
        return (f"roles created: {', '.join(self.roles_created) or 'none'}; "
                f"schemas created: {', '.join(self.schemas_created) or 'none'}; "
                f"tables, views and functions given to their layer's owner: {self.owners_changed}; "
                f"privileges revoked (per role): {revoked or 'none'}")


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def _role_list(names) -> sql.Composed:
    return sql.SQL(", ").join(_ident(n) for n in names)


def ensure_roles(cur, roles: WarehouseRoles) -> list[str]:
    """Create the missing group roles (NOLOGIN, no inheritance of anything else); turn a role of that
    name that can log in into NOLOGIN. Returns the roles created."""
    created = []
    for role in roles.all:
        cur.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (role,))
        row = cur.fetchone()
        if row is None:
            cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(_ident(role)))
            created.append(role)
        elif row[0]:
            cur.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(_ident(role)))
    return created


def ensure_schemas(cur, roles: WarehouseRoles) -> list[str]:
    """Create the missing layer schemas and give every layer schema to its owner role (``owner_of``).
    Returns the schemas created."""
    created = []
    for schema in ALL_SCHEMAS:
        owner = roles.owner_of(schema)
        cur.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", (schema,))
        row = cur.fetchone()
        if row is None:
            cur.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(_ident(schema), _ident(owner)))
            created.append(schema)
        elif row[0] != owner:
            cur.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(_ident(schema), _ident(owner)))
    return created


def transfer_ownership(cur, roles: WarehouseRoles) -> int:
    """Give every table, view, materialized view, free-standing sequence and function of each layer
    schema to the schema's owner role, so the pipeline running as that role can replace, index and
    analyze it. Returns how many changed owner."""
    changed = 0
    for schema in ALL_SCHEMAS:
        owner = roles.owner_of(schema)
        cur.execute(
            """
            SELECT c.relname, c.relkind
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s
              AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
              AND pg_get_userbyid(c.relowner) <> %s
              AND NOT (c.relkind = 'S' AND EXISTS (
                  SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
              AND NOT c.relispartition
            ORDER BY c.relname
            """,
            (schema, owner),
        )
        for relname, relkind in cur.fetchall():
            cur.execute(sql.SQL("ALTER {} {}.{} OWNER TO {}").format(
                sql.SQL(_RELKINDS[relkind]), _ident(schema), _ident(relname), _ident(owner)))
            changed += 1
        # plain functions too (not an extension's): the replication's write counter
        # (``replication.window_state``) runs as its owner, and only its owner can replace it
        cur.execute("SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                    "WHERE n.nspname = %s AND p.prokind = 'f' AND pg_get_userbyid(p.proowner) <> %s "
                    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass "
                    "AND d.objid = p.oid AND d.deptype = 'e') ORDER BY 1", (schema, owner))
        for (signature,) in cur.fetchall():
            cur.execute(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(signature), _ident(owner)))
            changed += 1
    return changed


def grant_database(cur, roles: WarehouseRoles) -> None:
    """CONNECT and TEMPORARY on the current database for all four; CREATE for the loader and the
    transformer (``CREATE SCHEMA IF NOT EXISTS``, which the raw writers and dbt run, needs it)."""
    cur.execute("SELECT current_database()")
    database = _ident(cur.fetchone()[0])
    cur.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(database, _role_list(roles.all)))
    cur.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
        database, _role_list([roles.loader, roles.transformer])))


def ensure_state_tables(cur) -> None:
    """Create ``dental_sync.check_failures`` if missing (``check_failures.create_table``), so that the
    transformer's SELECT on it (``grant_schemas``) applies now, not only after a sync's first failed check
    creates it (a dbt build whose user may not read it fails). Created by the role running ``grant``,
    before ``transfer_ownership`` gives it to the loader."""
    check_failures.create_table(cur)


def grant_schemas(cur, roles: WarehouseRoles) -> None:
    """Per layer schema: USAGE and SELECT on its tables for its readers; USAGE on ``dental_sync`` and
    SELECT on ``dental_sync.check_failures`` alone for the transformer (``TRANSFORMER_STATE_READS``).
    Nothing for anyone else: what others held was revoked before (``revoke_strays``)."""
    for schema in ALL_SCHEMAS:
        name = _ident(schema)
        readers = roles.readers_of(schema)
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(name, _role_list(readers)))
        cur.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(name, _role_list(readers)))
    for schema, table in TRANSFORMER_STATE_READS:
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(_ident(schema), _ident(roles.transformer)))
        cur.execute(sql.SQL("GRANT SELECT ON {}.{} TO {}").format(_ident(schema), _ident(table),
                                                                  _ident(roles.transformer)))


def creators(cur, roles: WarehouseRoles) -> dict[str, tuple[str, ...]]:
    """``{creator role: schemas it may create tables in}``: the loader and its members (the loader's
    schemas), the transformer and its members (the transformer's schemas; both for a member of both,
    such as the one user of a Dagster deployment), and the role running ``grant`` (every layer schema)."""
    found: dict[str, tuple[str, ...]] = {roles.loader: LOADER_SCHEMAS, roles.transformer: TRANSFORMER_SCHEMAS}
    cur.execute(
        """
        SELECT member.rolname, parent.rolname
        FROM pg_auth_members m
        JOIN pg_roles member ON member.oid = m.member
        JOIN pg_roles parent ON parent.oid = m.roleid
        WHERE parent.rolname IN (%s, %s)
        ORDER BY 1, 2
        """,
        (roles.loader, roles.transformer),
    )
    for member, parent in cur.fetchall():
        schemas = LOADER_SCHEMAS if parent == roles.loader else TRANSFORMER_SCHEMAS
        found[member] = tuple(dict.fromkeys(found.get(member, ()) + schemas))
    cur.execute("SELECT current_user")
    admin = cur.fetchone()[0]
    if admin not in roles.all:
        found[admin] = ALL_SCHEMAS
    return found


def grant_default_privileges(cur, roles: WarehouseRoles) -> None:
    """For every creator (``creators``) and schema it may create in: tables it creates later are
    readable by the schema's readers and writable by the schema's owner role."""
    for creator, schemas in creators(cur, roles).items():
        for schema in schemas:
            prefix = sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} ").format(
                _ident(creator), _ident(schema))
            cur.execute(prefix + sql.SQL("GRANT SELECT ON TABLES TO {}").format(
                _role_list(roles.readers_of(schema))))
            owner = roles.owner_of(schema)
            if creator != owner:
                cur.execute(prefix + sql.SQL("GRANT " + WRITE_PRIVILEGES + " ON TABLES TO {}").format(
                    _ident(owner)))


# ------------------------------------------------------------------------------------- stray privileges

# the relation kinds a schema's readers read (what ``GRANT SELECT ON ALL TABLES`` covers: not sequences)
_READ_RELKINDS = frozenset("rpfvm")
# pg_default_acl.defaclobjtype -> the ALTER DEFAULT PRIVILEGES object word (large objects ('L') belong to
# no schema)
_DEFAULT_OBJECTS = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES", "n": "SCHEMAS"}
# what a global default privilege entry (no schema) carries for PUBLIC without anyone granting it:
# PostgreSQL's built-in defaults (EXECUTE on functions, USAGE on types; acldefault), kept
_BUILT_IN_PUBLIC_DEFAULTS = {("f", "EXECUTE"), ("T", "USAGE")}
_PRIVILEGE_RE = re.compile(r"^[A-Z]+$")

# Every ACL entry on the layer schemas and their objects, one row per (object, grantor, grantee,
# privilege): schema USAGE/CREATE (pg_namespace.nspacl), tables, views, materialized views, foreign tables
# and sequences (pg_class.relacl), their columns (pg_attribute.attacl), functions and procedures
# (pg_proc.proacl), and default privileges (pg_default_acl) in a layer schema, or global ones of a
# creator (they apply to what it creates in the layer schemas too). A NULL ACL is the built-in default
# (acldefault: PUBLIC's EXECUTE on a function). An extension's objects are left to the extension.
# Columns: kind, schema, object name, detail (relkind, column, signature, or default's object type),
# owner (or default privilege's role), grantor, grantee (NULL: PUBLIC), privilege, grantable.
_ACL_ENTRIES_SQL = """
WITH layer AS (SELECT oid, nspname, nspowner, nspacl FROM pg_namespace WHERE nspname = ANY(%(schemas)s)),
extension_member AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
SELECT 'schema', l.nspname, l.nspname, '', l.nspowner, a.grantor, a.grantee, a.privilege_type, a.is_grantable
FROM layer l, aclexplode(coalesce(l.nspacl, acldefault('n', l.nspowner))) a
UNION ALL
SELECT 'relation', l.nspname, c.relname, c.relkind::text, c.relowner, a.grantor, a.grantee, a.privilege_type,
       a.is_grantable
FROM pg_class c JOIN layer l ON l.oid = c.relnamespace,
     aclexplode(coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char",
                                              c.relowner))) a
WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
  AND NOT EXISTS (SELECT 1 FROM extension_member e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid)
UNION ALL
SELECT 'column', l.nspname, c.relname, t.attname::text, c.relowner, a.grantor, a.grantee, a.privilege_type,
       a.is_grantable
FROM pg_attribute t JOIN pg_class c ON c.oid = t.attrelid JOIN layer l ON l.oid = c.relnamespace,
     aclexplode(t.attacl) a
WHERE t.attacl IS NOT NULL AND t.attnum > 0 AND NOT t.attisdropped
  AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
  AND NOT EXISTS (SELECT 1 FROM extension_member e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid)
UNION ALL
SELECT 'function', l.nspname, p.proname::text, p.oid::regprocedure::text, p.proowner, a.grantor, a.grantee,
       a.privilege_type, a.is_grantable
FROM pg_proc p JOIN layer l ON l.oid = p.pronamespace, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
WHERE NOT EXISTS (SELECT 1 FROM extension_member e WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid)
UNION ALL
SELECT 'default', l.nspname, '', d.defaclobjtype::text, d.defaclrole, a.grantor, a.grantee, a.privilege_type,
       a.is_grantable
FROM pg_default_acl d LEFT JOIN layer l ON l.oid = d.defaclnamespace, aclexplode(d.defaclacl) a
WHERE d.defaclobjtype IN ('r', 'S', 'f', 'T', 'n')
  AND (l.oid IS NOT NULL OR (d.defaclnamespace = 0 AND pg_get_userbyid(d.defaclrole) = ANY(%(creators)s)))
"""


@dataclass(frozen=True)
class AclEntry:
    """One privilege on a layer schema or an object in it (``_ACL_ENTRIES_SQL``'s row, role names
    resolved; ``grantee`` None is PUBLIC; ``schema`` None is a global default privilege)."""

    kind: str            # schema, relation, column, function, default
    schema: str | None
    name: str            # the schema's, relation's or function's name ('' for a default privilege)
    detail: str          # relkind; column name; function signature (regprocedure); defaclobjtype
    owner: str           # the object's owner; for a default privilege, the role it applies to
    grantor: str
    grantee: str | None
    privilege: str       # SELECT, USAGE, EXECUTE...
    grantable: bool


def acl_entries(cur, roles: WarehouseRoles) -> list[AclEntry]:
    """Every privilege on the layer schemas and their objects, from the catalogs (``_ACL_ENTRIES_SQL``)."""
    cur.execute(f"""
        SELECT kind, schema, name, detail, pg_get_userbyid(owner), pg_get_userbyid(grantor),
               CASE WHEN grantee = 0 THEN NULL ELSE pg_get_userbyid(grantee) END, privilege, grantable
        FROM ({_ACL_ENTRIES_SQL}) e (kind, schema, name, detail, owner, grantor, grantee, privilege, grantable)
        ORDER BY 1, 2, 3, 4, 5, 7 NULLS FIRST, 8, 6""",
                {"schemas": list(ALL_SCHEMAS), "creators": list(creators(cur, roles))})
    return [AclEntry(*row) for row in cur.fetchall()]


def designed(entry: AclEntry, roles: WarehouseRoles, admin: str) -> tuple[bool, bool]:
    """``(privilege allowed, grant option allowed)`` for ``entry`` by the access model: the object's
    owner (or the default privilege's own role) holds anything, with grant option; the layer's owner role
    and the administrator running ``grant`` hold any privilege, without grant option; a schema's readers
    USAGE on it and SELECT on its tables and views, without grant option; PUBLIC the built-in defaults of
    a global default privilege (EXECUTE on functions, USAGE on types). Nothing else: no one but the owner
    may pass a privilege on, so every grant in a layer is the owner's. Besides, the transformer's USAGE on
    ``dental_sync`` and SELECT on ``dental_sync.check_failures`` (``TRANSFORMER_STATE_READS``), without
    grant option."""
    if entry.grantee == entry.owner:
        return True, True
    if entry.grantee is None:
        return entry.schema is None and (entry.detail, entry.privilege) in _BUILT_IN_PUBLIC_DEFAULTS, False
    if entry.grantee == admin or (entry.schema is not None and entry.grantee == roles.owner_of(entry.schema)):
        return True, False
    if entry.schema is not None and entry.kind == "schema" and entry.privilege == "USAGE" \
            and roles.reads_one_table_of(entry.grantee, entry.schema):
        return True, False
    if entry.schema is not None and entry.kind == "relation" and entry.privilege == "SELECT" \
            and entry.detail in _READ_RELKINDS and roles.reads_one_table_of(entry.grantee, entry.schema, entry.name):
        return True, False
    if entry.schema is None or entry.grantee not in roles.readers_of(entry.schema):
        return False, False
    if entry.kind == "schema":
        return entry.privilege == "USAGE", False
    if entry.kind == "relation":
        return entry.privilege == "SELECT" and entry.detail in _READ_RELKINDS, False
    if entry.kind == "default":
        return entry.privilege == "SELECT" and entry.detail == "r", False
    return False, False  # a column or a function


def _revoke_statement(entry: AclEntry, option_only: bool) -> sql.Composed:
    """The REVOKE of ``entry``'s privilege (``option_only``: of its grant option alone), made as the
    object's owner (what a superuser's or an owner's member's REVOKE is); CASCADE takes away what the
    grantee passed on."""
    if not _PRIVILEGE_RE.match(entry.privilege):
        raise ValueError(f"unexpected privilege name in an ACL: {entry.privilege!r}")
    privilege = sql.SQL(("GRANT OPTION FOR " if option_only else "") + entry.privilege)
    grantee = sql.SQL("PUBLIC") if entry.grantee is None else _ident(entry.grantee)
    if entry.kind == "default":
        where = sql.SQL(" IN SCHEMA {}").format(_ident(entry.schema)) if entry.schema else sql.SQL("")
        return sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {}{} REVOKE {} ON {} FROM {}").format(
            _ident(entry.owner), where, privilege, sql.SQL(_DEFAULT_OBJECTS[entry.detail]), grantee)
    if entry.kind == "schema":
        target = sql.SQL("SCHEMA {}").format(_ident(entry.schema))
    elif entry.kind == "relation":
        target = sql.SQL("{} {}.{}").format(sql.SQL("SEQUENCE" if entry.detail == "S" else "TABLE"),
                                            _ident(entry.schema), _ident(entry.name))
    elif entry.kind == "column":
        privilege = sql.SQL("{} ({})").format(privilege, _ident(entry.detail))
        target = sql.SQL("TABLE {}.{}").format(_ident(entry.schema), _ident(entry.name))
    else:  # a function or procedure: its regprocedure text, already qualified and quoted
        target = sql.SQL("ROUTINE {}").format(sql.SQL(entry.detail))
    return sql.SQL("REVOKE {} ON {} FROM {} CASCADE").format(privilege, target, grantee)


def stray_entries(cur, roles: WarehouseRoles) -> list[tuple[AclEntry, bool]]:
    """The privileges on the layer schemas and their objects outside the access model (``designed``), as
    ``(entry, option_only)``: ``option_only`` when only the grant option is out of place. A grant made by
    anyone but the owner is out of place too (only a stray grant option could have made it)."""
    cur.execute("SELECT current_user")
    admin = cur.fetchone()[0]
    strays = []
    for entry in acl_entries(cur, roles):
        allowed, option_allowed = designed(entry, roles, admin)
        if not allowed or entry.grantor != entry.owner:
            strays.append((entry, False))
        elif entry.grantable and not option_allowed:
            strays.append((entry, True))
    return strays


def revoke_strays(cur, roles: WarehouseRoles) -> dict[str, int]:
    """Revoke every privilege on the layer schemas and their objects that the access model does not give
    (``stray_entries``), whoever holds it: a log-in user, another role, a group role beyond its share,
    PUBLIC. Returns ``{role: privileges revoked}`` (``"PUBLIC"`` for PUBLIC), roles and counts only.
    Grants made by a holder of a stray grant option go with it (CASCADE); raises RuntimeError if any
    stray privilege is still there afterwards (one the role running ``grant`` cannot revoke)."""
    revoked: dict[str, int] = {}
    for entry, option_only in stray_entries(cur, roles):
        if entry.grantor == entry.owner:  # the others are a grant option holder's grants: its revoke cascades
            cur.execute(_revoke_statement(entry, option_only))
        role = "PUBLIC" if entry.grantee is None else entry.grantee
        revoked[role] = revoked.get(role, 0) + 1
    left = stray_entries(cur, roles)
    if left:
        holders = sorted({"PUBLIC" if entry.grantee is None else entry.grantee for entry, _ in left})
        raise RuntimeError(f"dental warehouse grant could not revoke {len(left)} privileges on the layer schemas "
                           f"held by {', '.join(holders)}: revoke them as their grantor or a superuser")
    return dict(sorted(revoked.items()))


def grant(conn, roles: WarehouseRoles | None = None) -> GrantReport:
    """Bring the warehouse of ``conn`` (a psycopg2 connection, as an administrator) to the access model
    in this module's docstring, in one transaction, committed at the end. Idempotent: a re-run returns a
    report with ``changed`` False and leaves the catalogs as they were. Concurrent runs on one database
    wait for each other (advisory lock ``dental_roles``)."""
    roles = roles or WarehouseRoles.from_env()
    report = GrantReport()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('dental_roles'))")
        report.roles_created = ensure_roles(cur, roles)
        report.schemas_created = ensure_schemas(cur, roles)
        ensure_state_tables(cur)
        report.owners_changed = transfer_ownership(cur, roles)
        report.privileges_revoked = revoke_strays(cur, roles)
        grant_database(cur, roles)
        grant_schemas(cur, roles)
        grant_default_privileges(cur, roles)
    return report


def add_member(conn, login: str, group: str, *, act_as_group: bool) -> None:
    """Make the existing log-in role ``login`` a member of ``group``. With ``act_as_group`` (a loader's or
    transformer's user) its sessions run as ``group`` (``ALTER ROLE ... SET role``), so the tables it
    creates are owned by the group and covered by the group's default privileges."""
    with conn, conn.cursor() as cur:
        cur.execute(sql.SQL("GRANT {} TO {}").format(_ident(group), _ident(login)))
        if act_as_group:
            cur.execute(sql.SQL("ALTER ROLE {} SET role = {}").format(_ident(login), sql.Literal(group)))


def drop_roles(conn, names) -> None:
    """Drop the roles ``names`` that exist, after giving what they own in the current database to the
    current user and removing their privileges there (``REASSIGN OWNED``, ``DROP OWNED``). Fails when
    they still hold privileges in another database. For tests and for retiring a prefix."""
    with conn, conn.cursor() as cur:
        cur.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(names),))
        existing = [row[0] for row in cur.fetchall()]
    if not existing:
        return
    with conn, conn.cursor() as cur:
        cur.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(_role_list(existing)))
    # one role per transaction: PostgreSQL 15 fails a DROP OWNED of several roles named in one default
    # privilege entry ("could not find tuple for default ACL")
    for role in existing:
        with conn, conn.cursor() as cur:
            cur.execute(sql.SQL("DROP OWNED BY {}").format(_ident(role)))
    with conn, conn.cursor() as cur:
        for role in existing:
            cur.execute(sql.SQL("DROP ROLE {}").format(_ident(role)))


# ------------------------------------------------------------------------------ the pipeline's session role

# The facts ``role_to_take`` decides on, for the session's login (``session_user``, which ``SET ROLE`` is
# checked against) and the group ``%(group)s``: the role in effect (``current_user``: the group itself after
# ``ALTER ROLE ... SET role``), whether either is a superuser (a superuser is implicitly a member of every
# role: it never switches), and whether the login is an explicit member of the group, through other roles
# or not (pg_auth_members, followed up; from PostgreSQL 16 only memberships that carry the SET option, as
# SET ROLE requires).
_MEMBERSHIP_SQL = """
WITH RECURSIVE granted(roleid) AS (
    SELECT m.roleid FROM pg_auth_members m
    WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = session_user){set_option}
    UNION
    SELECT m.roleid FROM pg_auth_members m JOIN granted g ON m.member = g.roleid{set_option}
)
SELECT current_user::text,
       EXISTS (SELECT 1 FROM pg_roles WHERE rolname IN (session_user, current_user) AND rolsuper),
       EXISTS (SELECT 1 FROM granted g JOIN pg_roles r ON r.oid = g.roleid WHERE r.rolname = %(group)s)
"""


def role_to_take(group: str, current_user: str, superuser: bool, member: bool) -> str | None:
    """The role a pipeline session writing a layer owned by ``group`` must ``SET ROLE`` to: ``group`` when
    the login is an explicit ``member`` of it (not merely a superuser) and the session does not run as it
    already (``current_user``, set by ``ALTER ROLE ... SET role``); else None (no change: a superuser, as
    the demo's and the tests' administrator, or a login outside the group, whose own rights then apply).
    Pure."""
    if superuser or not member or current_user == group:
        return None
    return group


def layer_role(cur, schema: str, roles: WarehouseRoles | None = None) -> str | None:
    """``role_to_take`` for the session of ``cur`` and the owner role of the layer ``schema``
    (``WarehouseRoles.owner_of``: the loader for ``raw`` and ``dental_sync``, the transformer for dbt's
    schemas), ``roles`` default ``DENTAL_ROLE_PREFIX``'s. One catalog query; changes nothing."""
    roles = roles or WarehouseRoles.from_env()
    group = roles.owner_of(schema)
    set_option = " AND m.set_option" if cur.connection.server_version >= 160000 else ""
    cur.execute(_MEMBERSHIP_SQL.format(set_option=set_option), {"group": group})
    current_user, superuser, member = cur.fetchone()
    return role_to_take(group, current_user, superuser, member)


def act_as_layer(conn, schema: str, roles: WarehouseRoles | None = None) -> str | None:
    """Make the new connection ``conn`` run as the owner role of the layer ``schema`` when ``layer_role``
    says so (``SET ROLE``, committed: a later rollback keeps it), so the tables, indexes, triggers and
    functions it creates belong to the group whatever login runs the pipeline, and the other logins of
    the group may replace them. Returns the role set, or None (nothing changed). Call it before the
    session's first statement: it commits."""
    with conn.cursor() as cur:
        role = layer_role(cur, schema, roles)
        if role is not None:
            cur.execute(sql.SQL("SET ROLE {}").format(_ident(role)))
    if not conn.autocommit:
        conn.commit()
    return role


def layer_session(warehouse, schema: str):
    """A new connection from ``warehouse`` (anything whose ``connect()`` gives a psycopg2 connection: a
    ``WarehouseResource``, ``PgParams``) that runs as the owner role of the layer ``schema`` when
    ``act_as_layer`` says so. The caller closes it."""
    conn = warehouse.connect()
    try:
        act_as_layer(conn, schema)
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def as_login(cur):
    """Inside the transaction of ``cur``, run the block as the session's login (``SET LOCAL ROLE NONE``),
    then as the role in effect before: for a statement outside the layer the session acts for (the synthetic
    load drops a dbt snapshot, the transformer's, in its raw transaction), which the login may run as a
    member of the other group. Nothing changes when the session runs as its login. On an error the
    transaction is rolled back, and the role with it."""
    cur.execute("SELECT current_user::text, session_user::text")
    current, login = cur.fetchone()
    if current == login:
        yield
        return
    cur.execute("SET LOCAL ROLE NONE")
    yield
    cur.execute(sql.SQL("SET LOCAL ROLE {}").format(_ident(current)))

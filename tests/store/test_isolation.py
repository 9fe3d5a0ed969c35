"""Tenant A's database role tries to reach tenant B's rows, with a real PostgreSQL.

Every attempt must fail with an error or see nothing; A's own rows stay reachable (so an
"isolation" that hides everything from everyone would fail these tests too).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from pfstore_support import Database, provision, seed_history, with_pool, write_records

from pf_agents.artifacts_pg import PgArtifactStore, artifact_uri
from pf_agents.errors import StageError
from pf_operator.store import roles

TENANT_TABLES = ("blobs", "artifacts", "pipeline_runs", "stage_attempts", "usage", "audit_logs")


@dataclass
class Tenant:
    name: str
    creds: roles.TenantCredentials
    dsn: str
    key: str
    uid: str
    uri: str


@pytest.fixture(scope="module")
def tenants(database: Database) -> Iterator[tuple[Tenant, Tenant]]:
    made = []
    for name in (f"iso-a-{uuid.uuid4().hex[:6]}", f"iso-b-{uuid.uuid4().hex[:6]}"):
        creds = provision(database.operator_dsn, name)
        assert creds is not None
        uid = str(uuid.uuid4())
        key = f"tenant-{name}/landing/{uid}"
        store = PgArtifactStore(database.tenant_dsn(creds))
        ref = store.put(key, "analyze", "design-spec.json", f"secret of {name}".encode())
        store.close()
        write_records(database.operator_dsn, seed_history(name, uid))
        made.append(Tenant(name, creds, database.tenant_dsn(creds), key, uid, ref.uri))
    yield made[0], made[1]


def connect(dsn: str) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=True)


def tenant_ids(conn: psycopg.Connection[Any], table: str) -> set[str]:
    return {r[0] for r in conn.execute(f"SELECT tenant_id FROM pf.{table}").fetchall()}


def test_each_role_sees_exactly_its_own_rows(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    for me in (a, b):
        with connect(me.dsn) as conn:
            for table in TENANT_TABLES:
                assert tenant_ids(conn, table) == {me.name}, table
            assert conn.execute("SELECT tenant_id FROM pf.tenant_roles").fetchall() == [
                (me.name,)]


def test_store_api_cannot_read_or_list_the_other_tenant(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    store = PgArtifactStore(a.dsn)
    try:
        assert store.get(a.uri) == f"secret of {a.name}".encode()
        assert store.list(b.key) == []
        with pytest.raises(StageError) as err:
            store.get(b.uri)
        assert err.value.reason == "ArtifactNotFound"
        # A crafted URI naming A as the tenant but B's content address: still nothing
        sha_b = b.uri.rsplit("/", 1)[1]
        with pytest.raises(StageError):
            store.get(artifact_uri(a.name, sha_b))
        for bad in (f"pfdb://{a.name}/{sha_b}' OR '1'='1", "pfdb://x/../../etc/passwd",
                    f"pfdb://{b.name}/{sha_b}?x=1", "file:///etc/passwd"):
            with pytest.raises(StageError) as err:
                store.get(bad)
            assert err.value.reason == "ArtifactNotFound"
    finally:
        store.close()


def test_updates_and_deletes_of_other_rows_fail_or_touch_nothing(
        tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    with connect(a.dsn) as conn:
        cur = conn.execute("UPDATE pf.artifacts SET name = 'pwned' WHERE tenant_id = %s",
                           (b.name,))
        assert cur.rowcount == 0
        cur = conn.execute("UPDATE pf.artifacts SET name = name")  # all rows it can see
        assert cur.rowcount == 1
        # moving its own row to B is refused by the policy's WITH CHECK
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE pf.artifacts SET tenant_id = %s", (b.name,))
        for table in TENANT_TABLES:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"DELETE FROM pf.{table}")
        for table in ("pipeline_runs", "stage_attempts", "usage", "audit_logs", "blobs"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"UPDATE pf.{table} SET tenant_id = tenant_id")
    with connect(b.dsn) as conn:
        assert conn.execute("SELECT name FROM pf.artifacts").fetchall() == [("design-spec.json",)]


def test_inserting_rows_for_another_tenant_fails(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    data = b"planted"
    sha = hashlib.sha256(data).hexdigest()
    with connect(a.dsn) as conn:
        for crafted in (b.name, "", f"{a.name}' OR '1'='1", a.name.upper(), f" {a.name}"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("INSERT INTO pf.blobs (tenant_id, sha256, size, data)"
                             " VALUES (%s, %s, %s, %s)", (crafted, sha, len(data), data))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO pf.artifacts (tenant_id, pipeline_key, stage, name, sha256,"
                         " size) VALUES (%s, %s, 'analyze', 'x', %s, 1)",
                         (b.name, b.key, b.uri.rsplit("/", 1)[1]))
        for table in ("pipeline_runs", "usage", "audit_logs", "tenant_roles", "settings"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"INSERT INTO pf.{table} DEFAULT VALUES")
        # remapping itself to B, or B's role to itself
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE pf.tenant_roles SET tenant_id = %s", (b.name,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE pf.settings SET value = '1099511627776'")
    with connect(b.dsn) as conn:
        assert tenant_ids(conn, "blobs") == {b.name}
        assert conn.execute("SELECT count(*) FROM pf.blobs").fetchone() == (1,)


@pytest.mark.parametrize("attack", [
    "SET ROLE {b}",
    "SET ROLE pf_figma_operator",
    "SET ROLE pf_op",
    "SET ROLE postgres",
    "SELECT set_config('role', '{b}', false)",
    "SET SESSION AUTHORIZATION {b}",
    "SET SESSION AUTHORIZATION postgres",
    "SELECT set_config('session_authorization', 'postgres', false)",
])
def test_changing_identity_is_refused(tenants: tuple[Tenant, Tenant], attack: str) -> None:
    a, b = tenants
    with connect(a.dsn) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(attack.format(b=b.creds.role).encode())
        assert conn.execute("SELECT current_user, session_user").fetchone() == (
            a.creds.role, a.creds.role)
        assert tenant_ids(conn, "artifacts") == {a.name}


def test_session_settings_and_reset_change_nothing(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    with connect(a.dsn) as conn:
        for stmt in (f"SELECT set_config('pf.tenant', '{b.name}', false)",
                     f"SELECT set_config('app.tenant_id', '{b.name}', false)",
                     "SET search_path = pg_temp, public, pf",
                     "RESET ROLE", "RESET ALL", "SET ROLE NONE", "DISCARD ALL"):
            conn.execute(stmt.encode())
            for table in TENANT_TABLES:
                assert tenant_ids(conn, table) == {a.name}, (stmt, table)


def test_role_is_minimal(database: Database, tenants: tuple[Tenant, Tenant]) -> None:
    a, _ = tenants
    with connect(database.superuser_dsn) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolinherit, rolcreaterole, rolcreatedb,"
            " rolreplication, rolcanlogin FROM pg_roles WHERE rolname = %s",
            (a.creds.role,)).fetchone()
        assert row == (False, False, False, False, False, False, True)
        assert conn.execute("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r"
                            " ON r.oid = m.member WHERE r.rolname = %s",
                            (a.creds.role,)).fetchone() == (0,)
        owned = conn.execute("SELECT count(*) FROM pg_class c JOIN pg_roles r"
                             " ON r.oid = c.relowner WHERE r.rolname = %s",
                             (a.creds.role,)).fetchone()
        assert owned == (0,)
    with connect(a.dsn) as conn:
        for stmt in ("CREATE TABLE pf.mine (x int)", "CREATE TABLE public.mine (x int)",
                     "CREATE TEMP TABLE mine (x int)",
                     "CREATE FUNCTION pf.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
                     "CREATE SCHEMA mine", "ALTER TABLE pf.artifacts DISABLE ROW LEVEL SECURITY",
                     "DROP POLICY tenant_rows ON pf.artifacts",
                     "SELECT rolpassword FROM pg_authid", "SELECT * FROM pf.schema_migrations",
                     "CREATE ROLE evil", "GRANT pf_figma_operator TO CURRENT_USER"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(stmt.encode())


def test_no_security_definer_functions_or_public_execute(database: Database) -> None:
    with connect(database.superuser_dsn) as conn:
        rows = conn.execute(
            "SELECT p.proname, p.prosecdef, has_function_privilege('public', p.oid, 'EXECUTE')"
            " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'pf'").fetchall()
        assert rows, "expected the trigger function"
        assert all(not secdef and not public for _n, secdef, public in rows), rows
        rls = conn.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a"
            " ON a.attrelid = c.oid AND a.attname = 'tenant_id'"
            " WHERE n.nspname = 'pf' AND c.relkind = 'r'").fetchall()
        assert {r[0] for r in rls} == {*TENANT_TABLES, "tenant_roles"}
        assert all(r[1] and r[2] for r in rls), rls


def test_sql_in_artifact_names_is_stored_literally(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    store = PgArtifactStore(a.dsn)
    evil = [
        "x'); DROP TABLE pf.blobs; --",
        "a.json' OR tenant_id <> tenant_id --",
        "$$; DELETE FROM pf.artifacts; $$",
        "name\"; SET ROLE postgres; --",
    ]
    try:
        for name in evil:
            store.put(a.key, "qa", name, name.encode())
        with pytest.raises(StageError):
            store.put(a.key, "qa", "../../b", b"x")
        with pytest.raises(StageError):
            store.put(f"{b.key}/../..", "qa", "x", b"x")
        names = {r.name for r in store.list(a.key, "qa")}
        assert names == set(evil)
        for ref in store.list(a.key, "qa"):
            assert store.get(ref.uri) == ref.name.encode()
        # a crafted stage filter is a value, not SQL
        assert store.list(a.key, "qa' OR '1'='1") == []
    finally:
        store.close()
    with connect(b.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pf.artifacts").fetchone() == (1,)


def test_server_enforces_content_address_and_size(database: Database,
                                                   tenants: tuple[Tenant, Tenant]) -> None:
    a, _ = tenants
    with connect(a.dsn) as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO pf.blobs (tenant_id, sha256, size, data)"
                         " VALUES (%s, %s, 3, 'abc')", (a.name, "0" * 64))
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO pf.blobs (tenant_id, sha256, size, data)"
                         " VALUES (%s, %s, 99, 'abc')",
                         (a.name, hashlib.sha256(b"abc").hexdigest()))


def test_dropping_the_tenant_cuts_off_open_sessions(database: Database, tenant_name: Any) -> None:
    name = tenant_name("gone")
    creds = provision(database.operator_dsn, name)
    assert creds is not None
    store = PgArtifactStore(database.tenant_dsn(creds))
    ref = store.put(f"tenant-{name}/p/u", "analyze", "a.json", b"data")
    write_records(database.operator_dsn, seed_history(name, str(uuid.uuid4())))
    with connect(database.tenant_dsn(creds)) as open_session:
        assert tenant_ids(open_session, "artifacts") == {name}
        # objects a tenant can own despite everything (large objects) must not block the drop
        open_session.execute("SELECT lo_from_bytea(0, 'mine')")
        dropped = with_pool(database.operator_dsn,
                            lambda p: roles.drop_tenant_role(p, name))
        assert dropped is True
        # the already open session: the mapping is gone, so it sees nothing at all
        for table in ("pipeline_runs", "usage", "audit_logs"):
            try:
                assert tenant_ids(open_session, table) == set()
            except psycopg.errors.InsufficientPrivilege:
                pass  # privileges revoked: also fine
    store.close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(database.tenant_dsn(creds), connect_timeout=5).close()
    with connect(database.operator_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pf.blobs WHERE tenant_id = %s",
                            (name,)).fetchone() == (0,)
        # history, usage and audit outlive the tenant
        assert conn.execute("SELECT count(*) FROM pf.usage WHERE tenant_id = %s",
                            (name,)).fetchone() == (1,)
    assert ref.uri.startswith(f"pfdb://{name}/")


def test_copy_and_planner_statistics_leak_nothing(database: Database,
                                                  tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    with connect(database.operator_dsn) as conn:
        for table in TENANT_TABLES:
            conn.execute(f"ANALYZE pf.{table}")
        # the statistics do hold B's values (so the next check is not vacuous)
    with connect(database.superuser_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pg_stats WHERE schemaname = 'pf'"
                            " AND tablename = 'artifacts'").fetchone() != (0,)
    with connect(a.dsn) as conn:
        with conn.cursor() as cur, cur.copy("COPY pf.artifacts (tenant_id) TO STDOUT") as copy:
            rows = {bytes(chunk).decode() for chunk in copy}
        assert "".join(rows).split() and set("".join(rows).split()) == {a.name}
        leaked = conn.execute(
            "SELECT tablename, attname FROM pg_stats WHERE schemaname = 'pf'").fetchall()
        assert leaked == []
        assert b.name not in str(conn.execute(
            "SELECT * FROM pg_stats_ext WHERE schemaname = 'pf'").fetchall())

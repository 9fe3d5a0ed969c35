"""Tenant roles: create, rotate, repair, drop; and the Secret that hands them to agents."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from pfstore_support import Database, Server, provision, with_pool
from psycopg import sql

from pf_agents.artifacts import open_store
from pf_agents.artifacts_pg import PgArtifactStore
from pf_operator import constants
from pf_operator.store import roles


def can_login(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def test_role_names_are_valid_and_distinct() -> None:
    assert roles.role_name("acme") == "pf_t_acme"
    assert roles.role_name("acme-corp") == "pf_t_acme_corp"
    long_a, long_b = "a" * 62 + "b", "a" * 62 + "c"
    assert len(roles.role_name(long_a)) <= 63
    assert roles.role_name(long_a) != roles.role_name(long_b)
    for bad in ("", "Acme", "a_b", "a;drop", "-a", "a" * 64, 'a"b'):
        with pytest.raises(ValueError):
            roles.role_name(bad)


def test_scram_verifier_matches_rfc7677_vector() -> None:
    # RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    verifier = roles.scram_verifier("pencil", salt=salt)
    iterations, rest = verifier.removeprefix("SCRAM-SHA-256$").split(":", 1)
    assert iterations == "4096"
    _salt, keys = rest.split("$")
    stored, server = keys.split(":")
    assert server == "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
    assert stored == "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="


def test_create_is_idempotent_and_rotation_replaces_the_password(
        database: Database, tenant_name: Callable[[str], str]) -> None:
    name = tenant_name("rot")
    first = provision(database.operator_dsn, name)
    assert first is not None and first.role == roles.role_name(name)
    assert "password" not in repr(first)
    assert provision(database.operator_dsn, name) is None  # exists: Secret still valid
    assert can_login(database.tenant_dsn(first))
    second = provision(database.operator_dsn, name, rotate=True)
    assert second is not None and second.password != first.password
    assert not can_login(database.tenant_dsn(first))
    assert can_login(database.tenant_dsn(second))


def test_passwords_never_reach_the_server_log(database: Database, pg_server: Server,
                                              tenant_name: Callable[[str], str]) -> None:
    pg_server.sql("ALTER ROLE pf_op SET log_statement = 'all'")
    try:
        name = tenant_name("log")
        created = provision(database.operator_dsn, name)
        rotated = provision(database.operator_dsn, name, rotate=True)
    finally:
        pg_server.sql("ALTER ROLE pf_op RESET log_statement")
    assert created is not None and rotated is not None
    log = pg_server.log.read_text(errors="replace")
    assert f"CREATE ROLE \"{created.role}\"" in log or f"CREATE ROLE {created.role}" in log
    assert "SCRAM-SHA-256$4096:" in log  # what was sent instead
    assert created.password not in log and rotated.password not in log


def test_tampered_roles_are_repaired_or_refused(database: Database,
                                                tenant_name: Callable[[str], str]) -> None:
    name = tenant_name("tamper")
    creds = provision(database.operator_dsn, name)
    assert creds is not None
    su = database.superuser_dsn
    with psycopg.connect(su, autocommit=True) as conn:
        ident = sql.Identifier(creds.role)
        conn.execute(sql.SQL("ALTER ROLE {} INHERIT CREATEDB").format(ident))
        conn.execute(sql.SQL("GRANT pf_figma_operator TO {}").format(ident))
    assert provision(database.operator_dsn, name) is None
    with psycopg.connect(su) as conn:
        row = conn.execute("SELECT rolinherit, rolcreatedb FROM pg_roles WHERE rolname = %s",
                           (creds.role,)).fetchone()
        assert row == (False, False)
        assert conn.execute("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r"
                            " ON r.oid = m.member WHERE r.rolname = %s",
                            (creds.role,)).fetchone() == (0,)
    with psycopg.connect(su, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} BYPASSRLS").format(sql.Identifier(creds.role)))
    with pytest.raises(roles.RoleError, match="BYPASSRLS"):
        provision(database.operator_dsn, name)
    with psycopg.connect(su, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} NOBYPASSRLS").format(sql.Identifier(creds.role)))


def test_drop_is_idempotent_and_allows_recreation(database: Database,
                                                  tenant_name: Callable[[str], str]) -> None:
    name = tenant_name("drop")
    creds = provision(database.operator_dsn, name)
    assert creds is not None
    assert with_pool(database.operator_dsn, lambda p: roles.drop_tenant_role(p, name)) is True
    assert with_pool(database.operator_dsn, lambda p: roles.drop_tenant_role(p, name)) is False
    assert not can_login(database.tenant_dsn(creds))
    again = provision(database.operator_dsn, name)
    assert again is not None and can_login(database.tenant_dsn(again))


def test_secret_renders_a_working_dsn(database: Database,
                                      tenant_name: Callable[[str], str]) -> None:
    name = tenant_name("sec")
    creds = provision(database.operator_dsn, name)
    assert creds is not None
    secret = roles.render_db_secret(name, f"tenant-{name}", creds, database.operator_dsn,
                                    rotation="2026-01-01")
    assert secret["metadata"]["name"] == roles.SECRET_NAME
    assert secret["metadata"]["namespace"] == f"tenant-{name}"
    assert secret["metadata"]["annotations"][constants.ROTATED_ANNOTATION] == "2026-01-01"
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["username"] == creds.role and data["password"] == creds.password
    assert database.operator_password not in str(secret) and "pf_op" not in data["dsn"]
    assert data["dsn"].startswith("postgresql://") and "connect_timeout=5" in data["dsn"]
    store = open_store(data["dsn"])  # what the agent does with PF_ARTIFACTS
    assert isinstance(store, PgArtifactStore)
    ref = store.put(f"tenant-{name}/p/u1", "analyze", "x.json", b"{}")
    assert store.get(ref.uri) == b"{}"
    env = roles.agent_env()
    assert env == [{"name": "PF_ARTIFACTS", "valueFrom": {"secretKeyRef": {
        "name": roles.SECRET_NAME, "key": roles.DSN_KEY}}}]


def test_rotation_requested() -> None:
    def tenant(value: str | None) -> dict[str, Any]:
        ann = {constants.ROTATE_ANNOTATION: value} if value else {}
        return {"metadata": {"name": "acme", "annotations": ann}}

    def secret(value: str | None) -> dict[str, Any]:
        ann = {constants.ROTATED_ANNOTATION: value} if value else {}
        return {"metadata": {"annotations": ann}}

    assert roles.rotation_requested(tenant(None), None)  # no Secret: new credentials
    assert not roles.rotation_requested(tenant(None), secret(None))
    assert roles.rotation_requested(tenant("1"), secret(None))
    assert not roles.rotation_requested(tenant("1"), secret("1"))
    assert roles.rotation_requested(tenant("2"), secret("1"))
    assert roles.rotation_token(tenant("2")) == "2" and roles.rotation_token(tenant(None)) is None


def test_tenant_dsn_keeps_the_endpoint_and_drops_operator_secrets() -> None:
    creds = roles.TenantCredentials("acme", "pf_t_acme", "p@ss/w:rd")
    dsn = roles.tenant_dsn("host=db.example port=6432 dbname=pf user=op password=opsecret "
                           "sslmode=verify-full sslrootcert=/etc/ca.crt sslkey=/k", creds)
    assert dsn == ("postgresql://pf_t_acme:p%40ss%2Fw%3Ard@db.example:6432/pf"
                   "?sslmode=verify-full")
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    assert params["password"] == "p@ss/w:rd" and params["user"] == "pf_t_acme"

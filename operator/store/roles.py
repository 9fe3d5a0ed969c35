"""One PostgreSQL role per Tenant: create, rotate, drop; and the Secret that hands it to agents.

A tenant role is ``LOGIN NOINHERIT`` with no other attribute (not superuser, no BYPASSRLS, no
CREATEROLE/CREATEDB/REPLICATION), a member of no role, owns nothing, and has exactly the grants in
:data:`TENANT_GRANTS` (no CREATE anywhere). Its rows are the ones whose ``tenant_id`` is mapped
to ``current_user`` in ``pf.tenant_roles`` (see ``migrations/0001_init.sql``). Deleting that
mapping row cuts a role off from every row at once, even in sessions that are already open.

Passwords are random (256 bits), sent to the server only as SCRAM-SHA-256 verifiers (so the
plain text appears in no server log, even with ``log_statement = all``), and returned only to be
put in the tenant's Secret (:func:`render_db_secret`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from ..constants import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    ROLE_ANNOTATION,
    ROTATE_ANNOTATION,
    ROTATED_ANNOTATION,
    TENANT_LABEL,
)
from .dsn import dsn_params

log = logging.getLogger(__name__)

ROLE_PREFIX = "pf_t_"
#: Secret (in the tenant namespace) with the tenant role's connection details.
SECRET_NAME = "pf-figma-db"
#: Secret key holding the tenant DSN (``postgresql://role:password@host:port/db?...``).
DSN_KEY = "dsn"
#: Env var of agent pods that carries the tenant DSN (the agents' artifact store URL).
AGENT_ENV = "PF_ARTIFACTS"
CONNECTION_LIMIT = 20
_ROLES_LOCK = 0x70665F726F6C6573  # "pf_roles"

#: What a tenant role may do besides connecting: read its own history, usage and audit rows;
#: read and add its own artifacts (RLS limits every table to its rows).
TENANT_GRANTS: tuple[tuple[str, str], ...] = (
    ("SELECT", "tenant_roles"),
    ("SELECT", "settings"),
    ("SELECT, INSERT", "blobs"),
    ("SELECT, INSERT, UPDATE", "artifacts"),
    ("SELECT", "pipeline_runs"),
    ("SELECT", "stage_attempts"),
    ("SELECT", "usage"),
    ("SELECT", "audit_logs"),
)

_TENANT_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class RoleError(RuntimeError):
    """A tenant role cannot be made safe (e.g. someone gave it superuser or BYPASSRLS)."""


@dataclass(frozen=True)
class TenantCredentials:
    tenant: str
    role: str
    password: str = field(repr=False)


def _check_tenant(tenant: str) -> str:
    if not (_TENANT_RE.match(tenant) and len(tenant) <= 63):
        raise ValueError(f"not a tenant name: {tenant[:80]!r}")
    return tenant


def role_name(tenant: str) -> str:
    """``pf_t_<tenant>`` (dashes as underscores), hashed to fit 63 bytes when needed."""
    base = ROLE_PREFIX + _check_tenant(tenant).replace("-", "_")
    if len(base) <= 63:
        return base
    digest = hashlib.sha256(tenant.encode()).hexdigest()[:10]
    return f"{base[: 63 - 11]}_{digest}"


def new_password() -> str:
    return secrets.token_urlsafe(32)


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


# --- role lifecycle -------------------------------------------------------------------------------


async def _grant(conn: psycopg.AsyncConnection[Any], role: str) -> None:
    ident = sql.Identifier(role)
    cur = await conn.execute("SELECT current_database()")
    row = await cur.fetchone()
    assert row is not None
    await conn.execute(
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(row[0]), ident)
    )
    await conn.execute(sql.SQL("GRANT USAGE ON SCHEMA pf TO {}").format(ident))
    for privileges, table in TENANT_GRANTS:
        await conn.execute(
            sql.SQL("GRANT {} ON pf.{} TO {}").format(
                sql.SQL(privileges), sql.Identifier(table), ident
            )
        )


async def regrant_all(conn: psycopg.AsyncConnection[Any]) -> None:
    """Re-apply :data:`TENANT_GRANTS` to every tenant role (after a migration added a table)."""
    cur = await conn.execute(
        "SELECT r.role_name FROM pf.tenant_roles r JOIN pg_catalog.pg_roles p"
        " ON p.rolname = r.role_name"
    )
    for (role,) in await cur.fetchall():
        await _grant(conn, str(role))


async def _harden(conn: psycopg.AsyncConnection[Any], role: str) -> None:
    """Check the role is still minimal; repair what a non-superuser can, refuse the rest."""
    cur = await conn.execute(
        "SELECT oid, rolsuper, rolbypassrls, rolreplication, rolinherit, rolcreaterole,"
        " rolcreatedb, rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = %s",
        (role,),
    )
    row = await cur.fetchone()
    assert row is not None
    oid, superuser, bypassrls, replication, inherit, createrole, createdb, login = row
    if superuser or bypassrls or replication:
        raise RoleError(
            f"database role {role} has SUPERUSER, BYPASSRLS or REPLICATION; refusing "
            "to hand it to a tenant (drop it and let the operator recreate it)"
        )
    if inherit or createrole or createdb or not login:
        await conn.execute(
            sql.SQL("ALTER ROLE {} LOGIN NOINHERIT NOCREATEROLE NOCREATEDB").format(
                sql.Identifier(role)
            )
        )
    # memberships a tenant role must not have (none are ever granted by the operator)
    cur = await conn.execute(
        "SELECT g.rolname FROM pg_catalog.pg_auth_members m"
        " JOIN pg_catalog.pg_roles g ON g.oid = m.roleid WHERE m.member = %s",
        (oid,),
    )
    for (group,) in await cur.fetchall():
        log.warning("revoking unexpected membership of database role %s in %s", role, group)
        await conn.execute(
            sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), sql.Identifier(role))
        )
    # ownership of anything in this database (a tenant must own nothing: owners bypass grants)
    cur = await conn.execute("SELECT count(*) FROM pg_catalog.pg_class WHERE relowner = %s", (oid,))
    owned = await cur.fetchone()
    if owned and owned[0]:
        raise RoleError(f"database role {role} owns relations; refusing to hand it to a tenant")


async def ensure_tenant_role(
    pool: AsyncConnectionPool, tenant: str, *, rotate: bool = False
) -> TenantCredentials | None:
    """Make sure ``tenant`` has its role, mapping row, grants and nothing more.

    Returns credentials when the role was created or ``rotate`` is set (a new password: put it in
    the tenant's Secret with :func:`render_db_secret`); ``None`` when the role existed and was
    left alone (its Secret is still right). Idempotent; serialized per tenant by an advisory lock.
    """
    role = role_name(tenant)
    ident = sql.Identifier(role)
    password: str | None = None
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_ROLES_LOCK & 0x7FFFFFFF, tenant)
        )
        cur = await conn.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (role,))
        exists = await cur.fetchone() is not None
        if not exists or rotate:
            password = new_password()
            verifier = sql.Literal(scram_verifier(password))
        if not exists:
            await conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE"
                    " NOREPLICATION NOBYPASSRLS CONNECTION LIMIT {} PASSWORD {}"
                ).format(ident, sql.Literal(CONNECTION_LIMIT), verifier)
            )
            log.info("created database role %s for tenant %s", role, tenant)
        elif rotate:
            await conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident, verifier))
            log.info("rotated the password of database role %s (tenant %s)", role, tenant)
        await conn.execute(
            "INSERT INTO pf.tenant_roles (tenant_id, role_name) VALUES (%s, %s)"
            " ON CONFLICT (tenant_id) DO UPDATE SET role_name = EXCLUDED.role_name,"
            " rotated_at = CASE WHEN %s THEN now() ELSE pf.tenant_roles.rotated_at END",
            (tenant, role, password is not None),
        )
        await _harden(conn, role)
        await _grant(conn, role)
    return None if password is None else TenantCredentials(tenant, role, password)


async def drop_tenant_role(
    pool: AsyncConnectionPool, tenant: str, *, purge_artifacts: bool = True
) -> bool:
    """Remove the tenant's role (and, by default, its artifacts). Returns whether a role existed.

    The mapping row goes first, in the same transaction: open sessions of the role see nothing
    from the commit on. History, usage and audit rows stay (billing and audit outlive tenants;
    :func:`pf_operator.store.history.prune` ages them out).
    """
    role = role_name(tenant)
    ident = sql.Identifier(role)
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_ROLES_LOCK & 0x7FFFFFFF, tenant)
        )
        await conn.execute("DELETE FROM pf.tenant_roles WHERE tenant_id = %s", (tenant,))
        if purge_artifacts:
            await conn.execute("DELETE FROM pf.artifacts WHERE tenant_id = %s", (tenant,))
            await conn.execute("DELETE FROM pf.blobs WHERE tenant_id = %s", (tenant,))
        cur = await conn.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (role,))
        if await cur.fetchone() is None:
            return False
        # DROP OWNED revokes the role's grants and drops what it owns (a tenant can create large
        # objects, which would otherwise block DROP ROLE); it needs the role's privileges, which
        # CREATEROLE lets the operator grant itself, for the rest of this transaction.
        await conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(ident))
        await conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        await conn.execute(sql.SQL("DROP ROLE {}").format(ident))
        log.info("dropped database role %s of deleted tenant %s", role, tenant)
        return True


async def provisioned_tenants(pool: AsyncConnectionPool) -> list[str]:
    """Tenants that have a role (to drop the roles of Tenants deleted while the operator was
    not looking: compare with the Tenants that exist)."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT tenant_id FROM pf.tenant_roles ORDER BY tenant_id")
        return [str(r[0]) for r in await cur.fetchall()]


# --- the tenant's Secret -------------------------------------------------------------------------

#: Connection parameters copied from the operator's DSN into tenant DSNs (no credentials and no
#: client files, which exist only in the operator's pod).
_COPIED_PARAMS = (
    "host",
    "hostaddr",
    "port",
    "dbname",
    "sslmode",
    "target_session_attrs",
    "connect_timeout",
)


def tenant_dsn(operator_dsn: str, creds: TenantCredentials) -> str:
    """``postgresql://role:password@host:port/db?sslmode=...`` for the tenant role."""
    params = dsn_params(operator_dsn)
    hosts = params.get("host", "localhost").split(",")
    ports = params.get("port", "").split(",") if params.get("port") else []
    netloc = ",".join(
        _host(h) + (f":{ports[i] if i < len(ports) else ports[0]}" if ports else "")
        for i, h in enumerate(hosts)
    )
    query = "&".join(
        f"{k}={quote(params[k], safe='')}"
        for k in _COPIED_PARAMS
        if k not in ("host", "port", "dbname") and params.get(k)
    )
    dbname = quote(params.get("dbname", "postgres"), safe="")
    return (
        f"postgresql://{quote(creds.role, safe='')}:{quote(creds.password, safe='')}"
        f"@{netloc}/{dbname}" + (f"?{query}" if query else "")
    )


def _host(host: str) -> str:
    if host.startswith("/"):
        return quote(host, safe="")
    return f"[{host}]" if ":" in host else host


def render_db_secret(
    tenant: str,
    namespace: str,
    creds: TenantCredentials,
    operator_dsn: str,
    *,
    rotation: str | None = None,
) -> dict[str, Any]:
    """The tenant's Secret (pure). Keys: ``dsn`` (the agents' ``PF_ARTIFACTS``), ``username``,
    ``password``, ``host``, ``port``, ``dbname``. ``rotation`` is the value of the Tenant's
    :data:`ROTATE_ANNOTATION` these credentials answer (recorded so it is handled once).
    Owner references are not set: add them with ``render.common.with_owner``.
    """
    params = dsn_params(operator_dsn)
    values = {
        DSN_KEY: tenant_dsn(operator_dsn, creds),
        "username": creds.role,
        "password": creds.password,
        "host": params.get("host", "localhost"),
        "port": params.get("port", "5432"),
        "dbname": params.get("dbname", "postgres"),
    }
    annotations = {ROLE_ANNOTATION: creds.role}
    if rotation:
        annotations[ROTATED_ANNOTATION] = rotation
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": SECRET_NAME,
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, TENANT_LABEL: tenant},
            "annotations": annotations,
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


def rotation_requested(tenant_body: dict[str, Any], secret: dict[str, Any] | None) -> bool:
    """Whether the Tenant asks for credentials its Secret does not have yet (pure).

    True when the Secret is missing (its password cannot be recovered: make a new one) or the
    Tenant's :data:`ROTATE_ANNOTATION` has a value the Secret's :data:`ROTATED_ANNOTATION` lacks.
    """
    if secret is None:
        return True
    wanted = ((tenant_body.get("metadata") or {}).get("annotations") or {}).get(ROTATE_ANNOTATION)
    have = ((secret.get("metadata") or {}).get("annotations") or {}).get(ROTATED_ANNOTATION)
    return bool(wanted) and wanted != have


def rotation_token(tenant_body: dict[str, Any]) -> str | None:
    """The Tenant's current :data:`ROTATE_ANNOTATION` value (to pass to render_db_secret)."""
    value = ((tenant_body.get("metadata") or {}).get("annotations") or {}).get(ROTATE_ANNOTATION)
    return str(value) if value else None


def agent_env(secret_name: str = SECRET_NAME) -> list[dict[str, Any]]:
    """The env entry of agent containers that points them at the tenant's database."""
    return [
        {"name": AGENT_ENV, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": DSN_KEY}}}
    ]

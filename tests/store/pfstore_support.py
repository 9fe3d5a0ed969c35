"""Support for the store tests: a real PostgreSQL (hack/postgres.sh) and small sync helpers."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from pf_operator.store import db as store_db
from pf_operator.store import history, roles
from tests.operator_process import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "hack" / "postgres.sh"
OPERATOR_ROLE = "pf_op"


def _dsn(user: str, password: str, port: int, dbname: str) -> str:
    return f"postgresql://{user}:{password}@127.0.0.1:{port}/{dbname}?connect_timeout=5"


@dataclass
class Server:
    root: Path
    port: int
    password: str
    operator_password: str = ""

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.data / "server.log"

    def superuser_dsn(self, dbname: str = "postgres") -> str:
        return _dsn("postgres", self.password, self.port, dbname)

    def _script(self, *args: str) -> None:
        proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"hack/postgres.sh {args[0]} failed: {proc.stderr[-2000:]}")

    def up(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        self._script("up", str(self.data), str(self.port), str(pwfile))
        pwfile.unlink()

    def start(self) -> None:
        self._script("start", str(self.data), str(self.port))

    def stop(self, mode: str = "fast") -> None:
        self._script("stop", str(self.data), mode)

    def sql(self, statement: str, dbname: str = "postgres") -> None:
        with psycopg.connect(self.superuser_dsn(dbname), autocommit=True) as conn:
            conn.execute(statement.encode())


@dataclass
class Database:
    server: Server
    name: str
    operator_password: str

    @property
    def operator_dsn(self) -> str:
        return _dsn(OPERATOR_ROLE, self.operator_password, self.server.port, self.name)

    @property
    def superuser_dsn(self) -> str:
        return self.server.superuser_dsn(self.name)

    def tenant_dsn(self, creds: roles.TenantCredentials) -> str:
        return str(roles.tenant_dsn(self.operator_dsn, creds))


def _new_server() -> Server:
    root = Path(tempfile.mkdtemp(prefix="pf-pg-"))
    root.chmod(0o711)  # the server runs as "postgres" when we are root
    server = Server(root=root, port=free_port(), password=secrets.token_urlsafe(16),
                    operator_password=secrets.token_urlsafe(16))
    server.up()
    return server


def _destroy(server: Server) -> None:
    try:
        server.stop("immediate")
    except RuntimeError:
        pass
    shutil.rmtree(server.root, ignore_errors=True)


def create_database(server: Server, name: str, migrate: bool = True) -> Database:
    """A database owned by the operator role (created once per server), migrations applied."""
    operator_password = server.operator_password
    with psycopg.connect(server.superuser_dsn(), autocommit=True) as conn:
        have = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                            (OPERATOR_ROLE,)).fetchone()
        if have is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
                sql.Identifier(OPERATOR_ROLE), sql.Literal(operator_password)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(OPERATOR_ROLE)))
    database = Database(server, name, operator_password)
    if migrate:
        asyncio.run(store_db.migrate(database.operator_dsn))
    return database



T = TypeVar("T")


def with_pool(dsn: str, fn: Callable[[AsyncConnectionPool], Awaitable[T]]) -> T:
    async def run() -> T:
        pool = store_db.open_pool(dsn)
        await pool.open(wait=True, timeout=20)
        try:
            return await fn(pool)
        finally:
            await pool.close()

    return asyncio.run(run())


def provision(dsn: str, tenant: str, rotate: bool = False) -> roles.TenantCredentials | None:
    return with_pool(dsn, lambda p: roles.ensure_tenant_role(p, tenant, rotate=rotate))


def write_records(dsn: str, records: list[Any]) -> None:
    async def write(pool: AsyncConnectionPool) -> None:
        async with pool.connection() as conn, conn.transaction():
            for record in records:
                await record.write(conn)

    with_pool(dsn, write)


def seed_history(tenant: str, uid: str, usd: float = 1.5) -> list[Any]:
    """A pipeline row, an attempt, usage and an audit event for ``tenant``."""
    ns = f"tenant-{tenant}"
    return [
        history.PipelineRun(tenant=tenant, namespace=ns, name="landing", uid=uid,
                            state="Succeeded", reason="Succeeded", usd=usd),
        history.StageAttempt(tenant=tenant, pipeline_uid=uid, stage="analyze", attempt=1,
                             state="Succeeded", job="landing-analyze-1"),
        history.Usage(tenant=tenant, namespace=ns, pipeline="landing", pipeline_uid=uid,
                      stage="generate", attempt=1, input_tokens=100, output_tokens=50, usd=usd),
        history.AuditEvent(tenant=tenant, actor="system:operator", action="create",
                           resource_kind="DesignPipeline", resource_name="landing",
                           namespace=ns, details={"uid": uid}),
    ]

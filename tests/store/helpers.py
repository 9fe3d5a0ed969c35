"""Synchronous helpers for the store tests (provisioning tenants, seeding rows)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from psycopg_pool import AsyncConnectionPool

from pf_operator.store import db as store_db
from pf_operator.store import history, roles

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

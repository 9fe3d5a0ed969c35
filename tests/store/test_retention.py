"""Artifact retention (issue 17, item 12), on a real PostgreSQL: old artifacts go, what running
and recent pipelines need stays; each tenant's stored bytes are counted."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from psycopg_pool import AsyncConnectionPool

from pf_operator.store import history
from pf_operator.store.service import DataStore


async def put(
    pool: AsyncConnectionPool, tenant: str, key: str, content: bytes, age: timedelta
) -> None:
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO pf.blobs (tenant_id, sha256, size, data, created_at) VALUES"
            " (%s, encode(sha256(%s), 'hex'), %s, %s, now() - %s) ON CONFLICT DO NOTHING",
            (tenant, content, len(content), content, age + timedelta(hours=2)),
        )
        await conn.execute(
            "INSERT INTO pf.artifacts (tenant_id, pipeline_key, stage, name, sha256, size,"
            " created_at) VALUES (%s, %s, 'generate', 'project.tar.gz',"
            " encode(sha256(%s), 'hex'), %s, now() - %s)",
            (tenant, key, content, len(content), age),
        )


async def keys(pool: AsyncConnectionPool, tenant: str) -> set[str]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT pipeline_key FROM pf.artifacts WHERE tenant_id = %s", (tenant,)
        )
        return {r[0] for r in await cur.fetchall()}


async def test_old_artifacts_go_what_pipelines_need_stays(
    pool: AsyncConnectionPool, tenant_name: Callable[[str], str]
) -> None:
    tenant = tenant_name("ret")
    now = datetime.now(UTC)
    runs = {  # name -> (finished, deleted)
        "running": (None, None),  # a long-running pipeline: its analyze output is still needed
        "recent": (now - timedelta(days=2), None),
        "old": (now - timedelta(days=40), None),
        "deleted": (None, now - timedelta(days=35)),
    }
    async with pool.connection() as conn, conn.transaction():
        for name, (finished, deleted) in runs.items():
            run = history.PipelineRun(
                tenant=tenant, namespace="ns", name=name, uid=f"u-{name}",
                state="Running" if finished is None and deleted is None else "Succeeded",
                finished_at=finished,
            )
            await run.write(conn)
            if deleted is not None:
                await conn.execute(
                    "UPDATE pf.pipeline_runs SET deleted_at = %s WHERE uid = %s",
                    (deleted, f"u-{name}"),
                )
    for name in runs:
        await put(pool, tenant, f"ns/{name}/u-{name}", f"{name}-{uuid.uuid4()}".encode(),
                  timedelta(days=39))
    await put(pool, tenant, "ns/unknown/u-x", b"orphan", timedelta(days=39))  # no history row
    await put(pool, tenant, "ns/young/u-y", b"young", timedelta(days=1))

    await history.prune(pool, history=timedelta(days=90), artifacts=timedelta(days=30))
    assert await keys(pool, tenant) == {
        "ns/running/u-running", "ns/recent/u-recent", "ns/young/u-y"
    }
    # the blobs nothing refers to any more went with them
    assert await history.stored_bytes(pool, tenant) == await _referenced_bytes(pool, tenant) > 0


async def _referenced_bytes(pool: AsyncConnectionPool, tenant: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT coalesce(sum(DISTINCT b.size), 0) FROM pf.blobs b JOIN pf.artifacts a"
            " ON a.tenant_id = b.tenant_id AND a.sha256 = b.sha256 WHERE b.tenant_id = %s",
            (tenant,),
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def test_stored_bytes_counts_each_content_once(
    pool: AsyncConnectionPool, tenant_name: Callable[[str], str]
) -> None:
    tenant, other = tenant_name("bytes"), tenant_name("bytes")
    assert await history.stored_bytes(pool, tenant) == 0
    await put(pool, tenant, "ns/a/1", b"x" * 1000, timedelta(0))
    await put(pool, tenant, "ns/b/2", b"x" * 1000, timedelta(0))  # same content, stored once
    await put(pool, tenant, "ns/c/3", b"y" * 24, timedelta(0))
    await put(pool, other, "ns/a/1", b"z" * 7, timedelta(0))
    assert await history.stored_bytes(pool, tenant) == 1024
    assert await history.stored_bytes(pool, other) == 7


def test_artifacts_have_a_default_retention() -> None:
    store = DataStore("postgresql://pf@127.0.0.1:1/none")
    assert store.artifact_retention == timedelta(days=30)

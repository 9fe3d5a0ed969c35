"""DataStore: what the operator's runtime holds, end to end on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from pfstore_support import Server, create_database

from pf_agents.artifacts import open_store
from pf_operator import constants
from pf_operator.store import roles
from pf_operator.store.service import DataStore


@dataclass(frozen=True)
class Job:
    name: str
    result: dict[str, Any]
    start: Any = None
    end: Any = None
    message: str | None = None
    reason: str | None = None


async def eventually(predicate: Callable[[], Any], limit: float = 30) -> Any:
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def test_data_store_from_a_cold_start(make_server: Callable[[], Server]) -> None:
    """The database is down when the operator starts, and has no schema: both are handled."""
    server = make_server()
    database = await asyncio.to_thread(create_database, server, "pf", False)
    await asyncio.to_thread(server.stop, "fast")
    store = DataStore(database.operator_dsn, migrate_retry_max=0.5, spend_ttl=0.0)
    task = asyncio.create_task(store.run())
    try:
        tenant = "acme"
        body: dict[str, Any] = {"metadata": {"name": tenant, "annotations": {}}}
        store.audit(tenant, "alice", "create", "Tenant", tenant)  # queued while down
        assert store.condition()[:2] == ("False", "SchemaPending")
        await asyncio.sleep(1.0)
        await asyncio.to_thread(server.start)
        await asyncio.wait_for(store.migrated.wait(), 30)

        secret = await store.tenant_secret(tenant, "tenant-acme", body, None)
        assert secret is not None
        assert await store.tenant_secret(tenant, "tenant-acme", body, secret) is None
        body["metadata"]["annotations"][constants.ROTATE_ANNOTATION] = "r1"
        rotated = await store.tenant_secret(tenant, "tenant-acme", body, secret)
        assert rotated is not None and rotated["data"]["password"] != secret["data"]["password"]
        assert await store.tenant_secret(tenant, "tenant-acme", body, rotated) is None

        dsn = base64.b64decode(rotated["data"][roles.DSN_KEY]).decode()
        uid = str(uuid.uuid4())
        agent = open_store(dsn)
        ref = agent.put(f"tenant-acme/landing/{uid}", "analyze", "design-spec.json", b"{}")
        pipeline = {"metadata": {"name": "landing", "namespace": "tenant-acme", "uid": uid}}
        status = {"startTime": "2026-03-01T10:00:00Z", "completionTime": "2026-03-01T10:05:00Z",
                  "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
                  "stages": [{"name": "analyze", "state": "Succeeded", "attempts": 1,
                              "job": "landing-analyze-1"}],
                  "artifacts": [{"stage": "analyze", "name": "design-spec.json",
                                 "uri": ref.uri}]}
        store.record_pipeline(tenant, pipeline, status, [
            ("analyze", "Succeeded", 3.0, Job("landing-analyze-1", {"usage": {"usd": 0.25}}))])
        assert await store.writer.flush(30)
        assert store.condition()[0] == "True" and store.healthy
        assert await store.month_to_date_usd(tenant) == 0.25
        assert store.spent_this_month(tenant) == 0.25
        assert store.spent_this_month("nobody") is None  # first call: refresh scheduled
        assert await eventually(lambda: store.spent_this_month("nobody") == 0.0)

        assert await store.drop_tenant(tenant) is True
        assert await store.writer.flush(30)
        with psycopg.connect(database.operator_dsn) as conn:
            actions = [r[0] for r in conn.execute(
                "SELECT action FROM pf.audit_logs WHERE tenant_id = 'acme' ORDER BY id")]
            assert actions == ["create", "rotate-db-credentials", "drop-db-role"]
            assert conn.execute("SELECT state FROM pf.pipeline_runs WHERE uid = %s",
                                (uid,)).fetchone() == ("Succeeded",)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()


async def test_orphaned_roles_are_dropped(pool: Any, database: Any,
                                          tenant_name: Callable[[str], str]) -> None:
    keep, orphan = tenant_name("keep"), tenant_name("orphan")
    store = DataStore(database.operator_dsn)
    await store.pool.open(wait=True, timeout=20)
    writer = asyncio.create_task(store.writer.run())
    try:
        for name in (keep, orphan):
            await roles.ensure_tenant_role(store.pool, name)
        existing = set(await roles.provisioned_tenants(store.pool)) - {orphan}
        assert await store.drop_orphans(existing) == [orphan]
        assert orphan not in await roles.provisioned_tenants(store.pool)
        assert keep in await roles.provisioned_tenants(store.pool)
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await store.close()


def test_actor_of_prefers_the_newest_non_operator_manager() -> None:
    from pf_operator.store.history import actor_of

    body = {"metadata": {"managedFields": [
        {"manager": "kubectl-client-side-apply", "operation": "Update",
         "time": "2026-03-01T10:00:00Z"},
        {"manager": "kubectl-edit", "operation": "Update", "time": "2026-03-01T11:00:00Z"},
        {"manager": "pf-figma", "operation": "Update", "time": "2026-03-01T12:00:00Z",
         "subresource": "status"},
        {"manager": "pf-figma", "operation": "Apply", "time": "2026-03-01T12:00:00Z"},
    ]}}
    assert actor_of(body) == "kubectl-edit"
    assert actor_of({"metadata": {}}) == "unknown"


async def test_observe_audits_changes_once(pool: Any, database: Any,
                                           tenant_name: Callable[[str], str]) -> None:
    from datetime import UTC, datetime, timedelta

    tenant = tenant_name("obs")
    store = DataStore(database.operator_dsn)
    await store.pool.open(wait=True, timeout=20)
    writer = asyncio.create_task(store.writer.run())

    def body(uid: str, generation: int, age: float, cancel: bool = False) -> dict[str, Any]:
        created = (datetime.now(UTC) - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"metadata": {"name": "p", "namespace": "ns", "uid": uid,
                             "generation": generation, "creationTimestamp": created,
                             "managedFields": [{"manager": "kubectl-edit",
                                                "time": created}]},
                "spec": {"cancel": cancel}}

    try:
        new, old = str(uuid.uuid4()), str(uuid.uuid4())
        for event, obj in (("ADDED", body(new, 1, 5)), ("MODIFIED", body(new, 1, 5)),
                           ("MODIFIED", body(new, 2, 5)), ("MODIFIED", body(new, 3, 5, True)),
                           ("DELETED", body(new, 3, 5, True)),
                           (None, body(old, 4, 3600)), ("MODIFIED", body(old, 4, 3600))):
            store.observe("DesignPipeline", event, obj, tenant)
        store.record_pipeline(tenant, body(new, 3, 5), {}, events=[
            ("Normal", "Started", "admitted")])
        assert await store.writer.flush(20)
        async with store.pool.connection() as conn:
            cur = await conn.execute("SELECT action, actor FROM pf.audit_logs"
                                     " WHERE tenant_id = %s ORDER BY id", (tenant,))
            rows = await cur.fetchall()
        assert [r[0] for r in rows] == ["create", "update", "cancel", "delete",
                                        "pipeline-Started"]
        assert rows[0][1] == "kubectl-edit"
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await store.close()

"""The bounded, retrying write queue; history records; usage and budgets. Real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from pfstore_support import Database, Server, create_database, seed_history
from psycopg_pool import AsyncConnectionPool

from pf_operator.metrics import REGISTRY
from pf_operator.store import db as store_db
from pf_operator.store import history
from pf_operator.store.writer import DbWriter, stop


def metric(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def count(pool: AsyncConnectionPool, table: str, tenant: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(f"SELECT count(*) FROM pf.{table} WHERE tenant_id = %s",
                                 (tenant,))
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def wait_until(predicate: Callable[[], bool], limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_records_are_written_once_even_when_resubmitted(
        pool: AsyncConnectionPool, tenant_name: Callable[[str], str]) -> None:
    tenant = tenant_name("w")
    writer = DbWriter(pool, retry_initial=0.05)
    task = asyncio.create_task(writer.run())
    try:
        records = seed_history(tenant, str(uuid.uuid4()))
        ok_before = metric("pf_figma_db_writes_total", outcome="ok")
        writer.submit(*records)
        writer.submit(*records)  # a retry after a lost acknowledgement looks like this
        assert await writer.flush(10)
        assert writer.healthy and writer.backlog == 0 and writer.dropped == 0
        for table in ("pipeline_runs", "stage_attempts", "usage", "audit_logs"):
            assert await count(pool, table, tenant) == 1, table
        assert metric("pf_figma_db_writes_total", outcome="ok") - ok_before == 8
        assert metric("pf_figma_db_up") == 1
        assert writer.condition()[:2] == ("True", "DatabaseAvailable")
    finally:
        await stop(task, writer)


async def test_a_rejected_record_is_isolated_and_dropped(
        pool: AsyncConnectionPool, tenant_name: Callable[[str], str]) -> None:
    tenant = tenant_name("poison")
    uid = str(uuid.uuid4())
    writer = DbWriter(pool, retry_initial=0.05)
    task = asyncio.create_task(writer.run())
    try:
        bad = history.StageAttempt(tenant=tenant, pipeline_uid=uid, stage="qa", attempt=0,
                                   state="Failed")  # violates attempt >= 1
        good = seed_history(tenant, uid)
        writer.submit(good[0], bad, *good[1:])
        assert await writer.flush(10)
        assert writer.failed == 1 and writer.healthy
        assert await count(pool, "stage_attempts", tenant) == 1
        assert await count(pool, "audit_logs", tenant) == 1
    finally:
        await stop(task, writer)


async def test_the_backlog_is_bounded_and_drops_the_oldest(
        pool: AsyncConnectionPool, tenant_name: Callable[[str], str]) -> None:
    tenant = tenant_name("bound")
    writer = DbWriter(pool, max_backlog=5)
    dropped_before = metric("pf_figma_db_writes_total", outcome="dropped")
    events = [history.AuditEvent(tenant=tenant, actor="t", action=f"a{i}",
                                 resource_kind="Tenant", resource_name=tenant)
              for i in range(8)]
    writer.submit(*events)
    assert writer.backlog == 5 and writer.dropped == 3
    assert metric("pf_figma_db_write_queue_depth") == 5
    assert metric("pf_figma_db_writes_total", outcome="dropped") - dropped_before == 3
    task = asyncio.create_task(writer.run())
    try:
        assert await writer.flush(10)
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT action FROM pf.audit_logs WHERE tenant_id = %s"
                                     " ORDER BY id", (tenant,))
            assert [r[0] for r in await cur.fetchall()] == ["a3", "a4", "a5", "a6", "a7"]
        assert "dropped" in writer.condition()[2]
    finally:
        await stop(task, writer)


async def test_database_outage_is_survived_without_losing_writes(
        make_server: Callable[[], Server]) -> None:
    """Stop the real server mid-run, keep submitting, start it again: everything arrives."""
    server = make_server()
    database = await asyncio.to_thread(create_database, server, "pf")
    pool = store_db.open_pool(database.operator_dsn, reconnect_timeout=30)
    await pool.open(wait=True, timeout=20)
    writer = DbWriter(pool, retry_initial=0.1, retry_max=1.0, probe_interval=0.5,
                      connect_timeout=1.0)
    task = asyncio.create_task(writer.run())
    tenant = "outage"
    try:
        writer.audit(tenant, "system:operator", "create", "Tenant", tenant)
        assert await writer.flush(10) and writer.healthy
        retried_before = metric("pf_figma_db_writes_total", outcome="retried")

        await asyncio.to_thread(server.stop, "fast")
        await wait_until(lambda: not writer.healthy, 15, "the writer to notice the outage")
        assert metric("pf_figma_db_up") == 0
        status, reason, message = writer.condition()
        assert (status, reason) == ("False", "DatabaseUnavailable") and "queued" in message

        uids = [str(uuid.uuid4()) for _ in range(20)]
        start = time.perf_counter()
        for uid in uids:  # what reconcilers do meanwhile: never blocked, never raising
            writer.submit(*seed_history(tenant, uid))
        assert time.perf_counter() - start < 0.5
        await asyncio.sleep(1.5)
        assert writer.backlog == 80 and not writer.healthy
        assert metric("pf_figma_db_write_queue_depth") >= 80
        assert metric("pf_figma_db_writes_total", outcome="retried") > retried_before

        await asyncio.to_thread(server.start)
        assert await writer.flush(45), f"backlog {writer.backlog} not written after restart"
        assert writer.healthy and writer.dropped == 0 and writer.failed == 0
        assert metric("pf_figma_db_up") == 1
        assert await count(pool, "pipeline_runs", tenant) == 20
        assert await count(pool, "usage", tenant) == 20
        assert await count(pool, "audit_logs", tenant) == 21
    finally:
        await stop(task, writer, grace=1)
        await pool.close()


async def test_writer_starts_while_the_database_is_down(
        make_server: Callable[[], Server]) -> None:
    server = make_server()
    database = await asyncio.to_thread(create_database, server, "pf")
    await asyncio.to_thread(server.stop, "fast")
    pool = store_db.open_pool(database.operator_dsn)
    await pool.open(wait=False)  # what the operator does at start-up: never blocks
    writer = DbWriter(pool, retry_initial=0.1, retry_max=0.5, probe_interval=0.5,
                      connect_timeout=0.5)
    task = asyncio.create_task(writer.run())
    try:
        assert writer.condition()[0] == "Unknown"
        writer.audit("late", "system:operator", "create", "Tenant", "late")
        await wait_until(lambda: writer._healthy is False, 10, "a failed attempt")
        await asyncio.to_thread(server.start)
        assert await writer.flush(45)
        assert await count(pool, "audit_logs", "late") == 1
    finally:
        await stop(task, writer, grace=1)
        await pool.close()


# --- history records ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeJob:
    name: str
    start: datetime | None
    end: datetime | None
    result: dict[str, Any] | None
    message: str | None = None
    reason: str | None = None


def pipeline_body(uid: str, name: str = "landing") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "tenant-acme", "uid": uid,
                         "creationTimestamp": "2026-03-01T10:00:00Z"}}


def test_records_for_pipeline_from_a_reconcile_pass() -> None:
    uid = str(uuid.uuid4())
    t0 = datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC)
    job = FakeJob("landing-generate-2", t0, t0 + timedelta(seconds=30),
                  {"outcome": "Succeeded", "message": "ok",
                   "usage": {"inputTokens": 1000, "outputTokens": 200, "usd": 0.42}})
    status = {
        "startTime": "2026-03-01T10:00:01Z",
        "currentStage": "test",
        "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Running"}],
        "stages": [
            {"name": "analyze", "state": "Succeeded", "attempts": 1, "job": "landing-analyze-1",
             "startTime": "2026-03-01T10:00:01Z", "completionTime": "2026-03-01T10:00:04Z"},
            {"name": "generate", "state": "Succeeded", "attempts": 2,
             "job": "landing-generate-2"},
            {"name": "test", "state": "Running", "attempts": 1, "job": "landing-test-1",
             "startTime": "2026-03-01T10:00:36Z"},
            {"name": "qa", "state": "Pending", "attempts": 0},
        ],
        "cost": {"inputTokens": 1000, "outputTokens": 200, "usd": 0.42},
    }
    records = history.records_for_pipeline("acme", pipeline_body(uid), status,
                                           [("generate", "Succeeded", 30.0, job)])
    run = records[0]
    assert isinstance(run, history.PipelineRun)
    assert (run.state, run.current_stage, run.usd) == ("Running", "test", 0.42)
    attempts = {(r.stage, r.attempt): r for r in records if isinstance(r, history.StageAttempt)}
    assert set(attempts) == {("analyze", 1), ("generate", 2), ("test", 1)}
    assert attempts[("generate", 2)].usd == 0.42 and attempts[("generate", 2)].seconds == 30.0
    assert attempts[("test", 1)].finished_at is None
    usage = [r for r in records if isinstance(r, history.Usage)]
    assert len(usage) == 1 and usage[0].attempt == 2 and usage[0].input_tokens == 1000

    done = {**status, "completionTime": "2026-03-01T10:05:00Z",
            "conditions": [{"type": "Succeeded", "status": "False", "reason": "Cancelled",
                            "message": "cancelled by spec.cancel"}]}
    final = history.records_for_pipeline("acme", pipeline_body(uid), done)[0]
    assert isinstance(final, history.PipelineRun)
    assert (final.state, final.reason) == ("Cancelled", "Cancelled")


async def test_history_upserts_end_in_the_final_state(
        pool: AsyncConnectionPool, tenant_name: Callable[[str], str]) -> None:
    tenant = tenant_name("hist")
    uid = str(uuid.uuid4())
    body = pipeline_body(uid)
    running = {"startTime": "2026-03-01T10:00:01Z", "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
               "conditions": [
        {"type": "Succeeded", "status": "Unknown", "reason": "Running"}],
        "stages": [{"name": "analyze", "state": "Running", "attempts": 1,
                    "job": "landing-analyze-1", "startTime": "2026-03-01T10:00:01Z"}]}
    done = {**running, "completionTime": "2026-03-01T10:01:00Z", "conditions": [
        {"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
        "stages": [{"name": "analyze", "state": "Succeeded", "attempts": 1,
                    "job": "landing-analyze-1", "startTime": "2026-03-01T10:00:01Z",
                    "completionTime": "2026-03-01T10:00:30Z"}]}
    async with pool.connection() as conn, conn.transaction():
        for status in (running, done):
            for record in history.records_for_pipeline(tenant, body, status):
                await record.write(conn)
        await history.pipeline_deleted(tenant, {**body, "status": done}).write(conn)
    rows = await history.pipeline_history(pool, tenant)
    assert len(rows) == 1
    assert rows[0]["state"] == "Succeeded" and rows[0]["deleted_at"] is not None
    assert rows[0]["trace_id"] == running["traceID"]  # status.traceID: the row names the trace
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT state, finished_at IS NOT NULL FROM pf.stage_attempts"
                                 " WHERE pipeline_uid = %s", (uid,))
        assert await cur.fetchall() == [("Succeeded", True)]


async def test_month_to_date_usd(pool: AsyncConnectionPool,
                                 tenant_name: Callable[[str], str]) -> None:
    tenant, other = tenant_name("bill"), tenant_name("bill")
    now = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)

    def usage(t: str, when: datetime, usd: float) -> history.Usage:
        return history.Usage(tenant=t, namespace=f"tenant-{t}", pipeline="p",
                             pipeline_uid=str(uuid.uuid4()), stage="generate", attempt=1,
                             usd=usd, recorded_at=when)

    async with pool.connection() as conn, conn.transaction():
        for record in (usage(tenant, datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC), 1.25),
                       usage(tenant, datetime(2026, 3, 15, 11, 0, tzinfo=UTC), 2.5),
                       usage(tenant, datetime(2026, 2, 28, 23, 59, tzinfo=UTC), 100.0),
                       usage(other, datetime(2026, 3, 10, tzinfo=UTC), 50.0)):
            await record.write(conn)
    assert await history.month_to_date_usd(pool, tenant, now) == pytest.approx(3.75)
    assert await history.month_to_date_usd(pool, other, now) == pytest.approx(50.0)
    assert await history.month_to_date_usd(pool, "nobody", now) == 0.0


async def test_prune_removes_old_history_and_unreferenced_blobs(
        pool: AsyncConnectionPool, database: Database,
        tenant_name: Callable[[str], str]) -> None:
    tenant = tenant_name("prune")
    old_uid, new_uid = str(uuid.uuid4()), str(uuid.uuid4())
    long_ago = datetime.now(UTC) - timedelta(days=40)
    async with pool.connection() as conn, conn.transaction():
        for uid, when in ((old_uid, long_ago), (new_uid, datetime.now(UTC))):
            await history.PipelineRun(tenant=tenant, namespace="ns", name="p", uid=uid,
                                      state="Succeeded", finished_at=when).write(conn)
            await history.StageAttempt(tenant=tenant, pipeline_uid=uid, stage="qa", attempt=1,
                                       state="Succeeded").write(conn)
        await conn.execute(
            "INSERT INTO pf.blobs (tenant_id, sha256, size, data, created_at) VALUES"
            " (%s, encode(sha256('old'::bytea), 'hex'), 3, 'old', now() - interval '2 days')",
            (tenant,))
        await conn.execute(
            "INSERT INTO pf.artifacts (tenant_id, pipeline_key, stage, name, sha256, size)"
            " VALUES (%s, %s, 'qa', 'r.json', encode(sha256('old'::bytea), 'hex'), 3)",
            (tenant, f"ns/p/{old_uid}"))
    counts = await history.prune(pool, history=timedelta(days=30))
    assert counts["pipeline_runs"] >= 1 and counts["artifacts"] >= 1 and counts["blobs"] >= 1
    rows = await history.pipeline_history(pool, tenant)
    assert [r["uid"] for r in rows] == [new_uid]
    assert await count(pool, "stage_attempts", tenant) == 1
    assert await count(pool, "blobs", tenant) == 0


def test_is_poison_classification() -> None:
    from psycopg_pool import PoolTimeout

    from pf_operator.store.writer import is_poison

    assert is_poison(psycopg.errors.CheckViolation())
    assert is_poison(psycopg.errors.NumericValueOutOfRange())
    assert is_poison(TypeError("bug"))
    assert not is_poison(psycopg.OperationalError("connection lost"))
    assert not is_poison(PoolTimeout("no connection"))
    assert not is_poison(psycopg.errors.InsufficientPrivilege())
    assert not is_poison(psycopg.errors.UndefinedTable())

"""Pipeline history, stage attempts, usage and the audit log: records, their SQL, and queries.

Records are immutable values; each knows how to write itself idempotently (upserts keyed on the
pipeline uid / stage attempt, audit rows on a client-made event id), so the writer may retry a
batch after a lost commit acknowledgement without duplicating anything.

:func:`records_for_pipeline` turns a reconcile pass of a DesignPipeline (its new status and the
stage attempts that finished in it) into records, so the reconciler needs one call.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool

from ..times import parse_time


class Record(Protocol):
    @property
    def tenant(self) -> str: ...

    async def write(self, conn: psycopg.AsyncConnection[Any]) -> None: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PipelineRun:
    """The pipeline's row: upserted on every change, so it ends with its final state."""

    tenant: str
    namespace: str
    name: str
    uid: str
    state: str  # Queued | Running | Succeeded | Failed | Cancelled | TimedOut | Deleted
    reason: str | None = None
    message: str | None = None
    current_stage: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    deleted_at: datetime | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0
    trace_id: str | None = None  # status.traceID: the pipeline's OpenTelemetry trace

    async def write(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(
            """
            INSERT INTO pf.pipeline_runs AS t (uid, tenant_id, namespace, name, state, reason,
                message, current_stage, created_at, started_at, finished_at, deleted_at,
                input_tokens, output_tokens, usd, trace_id, updated_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())
            ON CONFLICT (uid) DO UPDATE SET
                state = CASE WHEN EXCLUDED.state = 'Deleted' AND t.finished_at IS NOT NULL
                             THEN t.state ELSE EXCLUDED.state END,
                reason = coalesce(EXCLUDED.reason, t.reason),
                message = coalesce(EXCLUDED.message, t.message),
                current_stage = EXCLUDED.current_stage,
                created_at = coalesce(t.created_at, EXCLUDED.created_at),
                started_at = coalesce(EXCLUDED.started_at, t.started_at),
                finished_at = coalesce(EXCLUDED.finished_at, t.finished_at),
                deleted_at = coalesce(EXCLUDED.deleted_at, t.deleted_at),
                input_tokens = greatest(EXCLUDED.input_tokens, t.input_tokens),
                output_tokens = greatest(EXCLUDED.output_tokens, t.output_tokens),
                usd = greatest(EXCLUDED.usd, t.usd),
                trace_id = coalesce(EXCLUDED.trace_id, t.trace_id),
                updated_at = now()
            """,
            (
                self.uid,
                self.tenant,
                self.namespace,
                self.name,
                self.state,
                self.reason,
                _clip(self.message),
                self.current_stage,
                self.created_at,
                self.started_at,
                self.finished_at,
                self.deleted_at,
                self.input_tokens,
                self.output_tokens,
                Decimal(str(self.usd)),
                self.trace_id,
            ),
        )


@dataclass(frozen=True)
class StageAttempt:
    tenant: str
    pipeline_uid: str
    stage: str
    attempt: int
    state: str  # Running | Succeeded | Failed
    job: str | None = None
    message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    seconds: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0

    async def write(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(
            """
            INSERT INTO pf.stage_attempts AS t (pipeline_uid, stage, attempt, tenant_id, job,
                state, message, started_at, finished_at, seconds, input_tokens, output_tokens,
                usd, updated_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())
            ON CONFLICT (pipeline_uid, stage, attempt) DO UPDATE SET
                job = coalesce(EXCLUDED.job, t.job),
                state = CASE WHEN t.finished_at IS NOT NULL AND EXCLUDED.finished_at IS NULL
                             THEN t.state ELSE EXCLUDED.state END,
                message = coalesce(EXCLUDED.message, t.message),
                started_at = coalesce(t.started_at, EXCLUDED.started_at),
                finished_at = coalesce(EXCLUDED.finished_at, t.finished_at),
                seconds = coalesce(EXCLUDED.seconds, t.seconds),
                input_tokens = greatest(EXCLUDED.input_tokens, t.input_tokens),
                output_tokens = greatest(EXCLUDED.output_tokens, t.output_tokens),
                usd = greatest(EXCLUDED.usd, t.usd),
                updated_at = now()
            """,
            (
                self.pipeline_uid,
                self.stage,
                self.attempt,
                self.tenant,
                self.job,
                self.state,
                _clip(self.message),
                self.started_at,
                self.finished_at,
                self.seconds,
                self.input_tokens,
                self.output_tokens,
                Decimal(str(self.usd)),
            ),
        )


@dataclass(frozen=True)
class Usage:
    """LLM usage of one stage attempt (what ``month_to_date_usd`` sums)."""

    tenant: str
    namespace: str
    pipeline: str
    pipeline_uid: str
    stage: str
    attempt: int
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0
    recorded_at: datetime = field(default_factory=utcnow)

    async def write(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(
            """
            INSERT INTO pf.usage (pipeline_uid, stage, attempt, tenant_id, namespace, pipeline,
                input_tokens, output_tokens, usd, recorded_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (pipeline_uid, stage, attempt) DO NOTHING
            """,
            (
                self.pipeline_uid,
                self.stage,
                self.attempt,
                self.tenant,
                self.namespace,
                self.pipeline,
                max(self.input_tokens, 0),
                max(self.output_tokens, 0),
                Decimal(str(max(self.usd, 0.0))),
                self.recorded_at,
            ),
        )


@dataclass(frozen=True)
class AuditEvent:
    """Who did what to which resource. ``event_id`` makes a retried write a no-op."""

    tenant: str
    actor: str
    action: str  # create | update | delete | cancel | rotate-credentials | stage-<state> ...
    resource_kind: str
    resource_name: str
    namespace: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)

    async def write(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(
            """
            INSERT INTO pf.audit_logs (event_id, tenant_id, actor, action, resource_kind,
                resource_name, namespace, details, created_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)
            ON CONFLICT (event_id) DO NOTHING
            """,
            (
                self.event_id,
                self.tenant,
                self.actor,
                self.action,
                self.resource_kind,
                self.resource_name,
                self.namespace,
                json.dumps(self.details, default=str),
                self.created_at,
            ),
        )


def _clip(text: str | None, limit: int = 2048) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- from a reconcile pass ----------------------------------------------------------------------

_ATTEMPT_RE = re.compile(r"-(\d+)$")


def _pipeline_state(status: dict[str, Any]) -> tuple[str, str | None, str | None]:
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Succeeded":
            reason = cond.get("reason")
            if cond.get("status") == "True":
                return "Succeeded", reason, cond.get("message")
            if cond.get("status") == "False":
                state = reason if reason in ("Cancelled", "TimedOut") else "Failed"
                return state, reason, cond.get("message")
            return ("Running" if status.get("startTime") else "Queued"), reason, cond.get("message")
    return ("Running" if status.get("startTime") else "Queued"), None, None


def records_for_pipeline(
    tenant: str,
    body: dict[str, Any],
    status: dict[str, Any],
    finished: Sequence[tuple[str, str, float, Any]] = (),
) -> list[Record]:
    """Records of one reconcile pass (pure).

    ``status`` is the pipeline's new status, ``finished`` the Plan's ``stage_finished`` entries
    (stage, outcome, seconds, JobFacts with ``.name``/``.start``/``.end``/``.result``). Gives the
    pipeline row, a row per stage entry that has an attempt, and for each finished attempt its
    final row plus a usage row when it used tokens or money.
    """
    meta = body.get("metadata") or {}
    ns, name, uid = meta.get("namespace") or "", meta.get("name") or "", meta.get("uid") or ""
    state, reason, message = _pipeline_state(status)
    cost = status.get("cost") or {}
    records: list[Record] = [
        PipelineRun(
            tenant=tenant,
            namespace=ns,
            name=name,
            uid=uid,
            state=state,
            reason=reason,
            message=message,
            current_stage=status.get("currentStage"),
            created_at=parse_time(meta.get("creationTimestamp")),
            started_at=parse_time(status.get("startTime")),
            finished_at=parse_time(status.get("completionTime")),
            input_tokens=int(cost.get("inputTokens") or 0),
            output_tokens=int(cost.get("outputTokens") or 0),
            usd=float(cost.get("usd") or 0.0),
            trace_id=status.get("traceID"),
        )
    ]
    finished_jobs = {job.name for _s, _o, _sec, job in finished}
    for entry in status.get("stages") or []:
        attempts = int(entry.get("attempts") or 0)
        if attempts < 1 or entry.get("job") in finished_jobs:
            continue
        if entry.get("state") not in ("Running", "Succeeded", "Failed"):
            continue
        records.append(
            StageAttempt(
                tenant=tenant,
                pipeline_uid=uid,
                stage=str(entry.get("name")),
                attempt=attempts,
                state=str(entry.get("state")),
                job=entry.get("job"),
                message=entry.get("message"),
                started_at=parse_time(entry.get("startTime")),
                finished_at=parse_time(entry.get("completionTime"))
                if entry.get("state") != "Running"
                else None,
            )
        )
    for stage, outcome, seconds, job in finished:
        match = _ATTEMPT_RE.search(job.name or "")
        attempt = int(match[1]) if match else 1
        result = job.result or {}
        usage = result.get("usage") or {}
        tin, tout = int(usage.get("inputTokens") or 0), int(usage.get("outputTokens") or 0)
        usd = float(usage.get("usd") or 0.0)
        records.append(
            StageAttempt(
                tenant=tenant,
                pipeline_uid=uid,
                stage=stage,
                attempt=attempt,
                state=outcome,
                job=job.name,
                message=_clip(result.get("message") or job.message or job.reason, 1024),
                started_at=job.start,
                finished_at=job.end or utcnow(),
                seconds=seconds,
                input_tokens=tin,
                output_tokens=tout,
                usd=usd,
            )
        )
        if tin or tout or usd:
            records.append(
                Usage(
                    tenant=tenant,
                    namespace=ns,
                    pipeline=name,
                    pipeline_uid=uid,
                    stage=stage,
                    attempt=attempt,
                    input_tokens=tin,
                    output_tokens=tout,
                    usd=usd,
                )
            )
    return records


def pipeline_deleted(tenant: str, body: dict[str, Any]) -> PipelineRun:
    """The row update when the DesignPipeline object is gone (history outlives it)."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    state, reason, message = _pipeline_state(status)
    return PipelineRun(
        tenant=tenant,
        namespace=meta.get("namespace") or "",
        name=meta.get("name") or "",
        uid=meta.get("uid") or "",
        state="Deleted" if not status.get("completionTime") else state,
        reason=reason,
        message=message,
        created_at=parse_time(meta.get("creationTimestamp")),
        started_at=parse_time(status.get("startTime")),
        finished_at=parse_time(status.get("completionTime")),
        deleted_at=utcnow(),
    )


def actor_of(body: dict[str, Any], default: str = "unknown") -> str:
    """Best guess at who last changed an object's spec: the field manager of the newest
    ``managedFields`` entry that is not the operator's own (Kubernetes records no user name;
    the manager is e.g. ``kubectl-client-side-apply``, ``kubectl-edit`` or a client's name)."""
    entries = [
        e
        for e in (body.get("metadata") or {}).get("managedFields") or []
        if e.get("manager") and e.get("manager") != "pf-figma" and e.get("subresource") != "status"
    ]
    if not entries:
        return default
    newest = max(entries, key=lambda e: str(e.get("time") or ""))
    return str(newest["manager"])


# --- queries ------------------------------------------------------------------------------------


async def month_to_date_usd(
    pool: AsyncConnectionPool, tenant: str, now: datetime | None = None
) -> float:
    """US dollars the tenant's pipelines used since the start of this calendar month (UTC)."""
    now = now or utcnow()
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT coalesce(sum(usd), 0) FROM pf.usage"
            " WHERE tenant_id = %s AND recorded_at >= %s AND recorded_at <= %s",
            (tenant, start, now),
        )
        row = await cur.fetchone()
    return float(row[0]) if row else 0.0


async def stored_bytes(pool: AsyncConnectionPool, tenant: str) -> int:
    """Bytes of artifact content the tenant stores (each blob once: content-addressed)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT coalesce(sum(size), 0) FROM pf.blobs WHERE tenant_id = %s", (tenant,)
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def pipeline_history(
    pool: AsyncConnectionPool, tenant: str, *, limit: int = 50
) -> list[dict[str, Any]]:
    """The tenant's newest pipeline rows (dicts of the table's columns)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT uid, namespace, name, state, reason, message, created_at, started_at,"
            " finished_at, deleted_at, input_tokens, output_tokens, usd, trace_id"
            " FROM pf.pipeline_runs"
            " WHERE tenant_id = %s ORDER BY coalesce(started_at, created_at) DESC NULLS LAST"
            " LIMIT %s",
            (tenant, limit),
        )
        cols = [d.name for d in cur.description or []]
        return [dict(zip(cols, row, strict=True)) for row in await cur.fetchall()]


async def prune(
    pool: AsyncConnectionPool,
    *,
    history: timedelta,
    artifacts: timedelta | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Delete history older than ``history`` (pipelines finished or deleted before then, their
    attempts, and their artifacts) and artifacts older than ``artifacts`` except those of
    pipelines that still exist and are running or finished less than ``artifacts`` ago (what
    a retry, a later stage or a recent download needs); then unreferenced blobs. Usage and
    audit rows are kept (billing, audit). Returns counts by table."""
    now = now or utcnow()
    cutoff = now - history
    counts: dict[str, int] = {}
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "DELETE FROM pf.pipeline_runs WHERE coalesce(deleted_at, finished_at) < %s"
            " RETURNING uid, namespace || '/' || name || '/' || uid",
            (cutoff,),
        )
        gone = await cur.fetchall()
        counts["pipeline_runs"] = len(gone)
        uids = [g[0] for g in gone]
        keys = [g[1] for g in gone]
        cur = await conn.execute(
            "DELETE FROM pf.stage_attempts WHERE pipeline_uid = ANY(%s)", (uids,)
        )
        counts["stage_attempts"] = cur.rowcount
        if artifacts is None:
            cur = await conn.execute(
                "DELETE FROM pf.artifacts WHERE pipeline_key = ANY(%s)", (keys,)
            )
        else:
            old = now - artifacts
            cur = await conn.execute(
                "DELETE FROM pf.artifacts a WHERE a.pipeline_key = ANY(%s)"
                " OR (a.created_at < %s AND NOT EXISTS (SELECT 1 FROM pf.pipeline_runs r"
                " WHERE r.tenant_id = a.tenant_id"
                " AND r.namespace || '/' || r.name || '/' || r.uid = a.pipeline_key"
                " AND r.deleted_at IS NULL AND (r.finished_at IS NULL OR r.finished_at >= %s)))",
                (keys, old, old),
            )
        counts["artifacts"] = cur.rowcount
        cur = await conn.execute(
            "DELETE FROM pf.blobs b WHERE NOT EXISTS (SELECT 1 FROM pf.artifacts a"
            " WHERE a.tenant_id = b.tenant_id AND a.sha256 = b.sha256)"
            " AND b.created_at < %s",
            (now - timedelta(hours=1),),
        )
        counts["blobs"] = cur.rowcount
    return counts

"""The data layer as the operator's runtime holds it: one object, one task, non-blocking calls.

``DataStore(dsn)`` owns the pool and the write queue. ``await store.run()`` (a task next to the
reconcilers) opens the pool without waiting, applies migrations (retrying while the database is
down), drains the write queue and prunes old history. Reconcilers use:

* ``await store.tenant_secret(...)`` / ``await store.drop_tenant(...)`` from the Tenant
  reconciler (these do wait for the database: they are the tenant's database provisioning, and
  raise when it is down so the reconcile is retried; nothing else waits);
* ``store.record_pipeline(...)`` / ``store.record_pipeline_deleted(...)`` / ``store.audit(...)``
  (queued, never blocking, never raising);
* ``store.spent_this_month(tenant)`` (cached, never blocking) for ``llm.monthlyBudgetUSD``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from ..times import parse_time
from . import history, roles
from .artifacts import StoredArtifact, list_artifacts, read_blob
from .db import migrate, open_pool
from .dsn import redact_dsn
from .writer import DbWriter, describe
from .writer import stop as stop_writer

log = logging.getLogger(__name__)

OPERATOR_ACTOR = "system:pf-figma-operator"


class DataStore:
    def __init__(
        self,
        dsn: str,
        *,
        max_backlog: int = 10_000,
        history_retention: timedelta | None = timedelta(days=90),
        artifact_retention: timedelta | None = timedelta(days=30),
        spend_ttl: float = 30.0,
        migrate_retry_max: float = 30.0,
    ) -> None:
        self.dsn = dsn  # holds a password: never logged (use redact_dsn)
        self.pool = open_pool(dsn)
        self.writer = DbWriter(self.pool, max_backlog=max_backlog)
        self.history_retention = history_retention
        self.artifact_retention = artifact_retention
        self.spend_ttl = spend_ttl
        self.migrate_retry_max = migrate_retry_max
        self.migrated = asyncio.Event()
        self._spend: dict[str, tuple[float, float]] = {}
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._generations: dict[str, int] = {}
        self._bytes: dict[str, tuple[int, float]] = {}
        #: called with a tenant's name when its stored bytes were read anew and changed
        self.on_stored_bytes: Callable[[str], None] | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Open the pool (no waiting), migrate (retrying), write and prune until cancelled."""
        await self.pool.open(wait=False)
        writer = asyncio.create_task(self.writer.run(), name="pf-figma-db-writer")
        try:
            await self._migrate_until_done()
            await self._prune_forever()
        finally:
            await stop_writer(writer, self.writer, grace=2.0)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.pool.close()

    async def _migrate_until_done(self) -> None:
        delay = 1.0
        while True:
            try:
                applied = await migrate(self.dsn)
            except Exception as err:  # down, or not allowed yet: keep reconciling, keep trying
                log.warning(
                    "database migration on %s failed, retrying in %.0fs: %s",
                    redact_dsn(self.dsn),
                    delay,
                    describe(err),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.migrate_retry_max)
                continue
            if applied:
                log.info("applied database migrations %s", applied)
            self.migrated.set()
            return

    async def _prune_forever(self, interval: float = 3600.0) -> None:
        while True:
            if self.history_retention is not None:
                try:
                    counts = await history.prune(
                        self.pool, history=self.history_retention, artifacts=self.artifact_retention
                    )
                    if any(counts.values()):
                        log.info("pruned old history", extra=counts)
                except Exception as err:
                    log.warning("pruning history failed: %s", describe(err))
            await asyncio.sleep(interval)

    # --- state ------------------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        return self.writer.healthy and self.migrated.is_set()

    def condition(self) -> tuple[str, str, str]:
        """(status, reason, message) for a ``DatabaseAvailable`` condition."""
        if not self.migrated.is_set():
            return (
                "False",
                "SchemaPending",
                f"database schema not migrated yet; {self.writer.backlog} write(s) queued",
            )
        return self.writer.condition()

    # --- Tenant reconciler ------------------------------------------------------------------------

    async def tenant_secret(
        self,
        tenant: str,
        namespace: str,
        tenant_body: dict[str, Any],
        live_secret: dict[str, Any] | None,
    ) -> dict[str, Any] | None:
        """Ensure the tenant's role; the Secret to apply when its credentials changed, else None.

        New credentials are made when the role is new, the Secret is missing, or the Tenant's
        ``pffigma.dev/rotate-db-credentials`` annotation has a value the Secret does not record.
        Raises (psycopg / pool errors, ``roles.RoleError``) when it cannot: retry the reconcile.
        """
        rotate = roles.rotation_requested(tenant_body, live_secret)
        creds = await roles.ensure_tenant_role(self.pool, tenant, rotate=rotate)
        if creds is None:
            return None
        token = roles.rotation_token(tenant_body)
        if live_secret is not None:
            self.audit(
                tenant,
                OPERATOR_ACTOR,
                "rotate-db-credentials",
                "Tenant",
                tenant,
                role=creds.role,
                request=token,
            )
        return roles.render_db_secret(tenant, namespace, creds, self.dsn, rotation=token)

    async def drop_tenant(self, tenant: str, *, purge_artifacts: bool = True) -> bool:
        """Drop the tenant's role (and artifacts). Raises when the database is down: retry."""
        dropped = await roles.drop_tenant_role(self.pool, tenant, purge_artifacts=purge_artifacts)
        self.audit(
            tenant,
            OPERATOR_ACTOR,
            "drop-db-role",
            "Tenant",
            tenant,
            role=roles.role_name(tenant),
            existed=dropped,
        )
        return dropped

    async def drop_orphans(self, existing: set[str]) -> list[str]:
        """Drop the roles of tenants not in ``existing`` (e.g. deleted while the operator was
        down); call it from a periodic resync once the cache is primed. Returns their names."""
        orphans = [t for t in await roles.provisioned_tenants(self.pool) if t not in existing]
        for tenant in orphans:
            await self.drop_tenant(tenant)
        return orphans

    # --- pipeline reconciler (queued: never blocks, never raises) ---------------------------------

    def record_pipeline(
        self,
        tenant: str,
        body: dict[str, Any],
        status: dict[str, Any],
        stage_finished: Sequence[tuple[str, str, float, Any]] = (),
        events: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """History of one reconcile pass (the Plan's status, stage_finished and events; each
        event, e.g. Started/StageRetrying/Succeeded/Cancelled, also becomes an audit row)."""
        self.writer.submit_many(history.records_for_pipeline(tenant, body, status, stage_finished))
        meta = body.get("metadata") or {}
        for type_, reason, message in events:
            self.audit(
                tenant,
                OPERATOR_ACTOR,
                f"pipeline-{reason}",
                "DesignPipeline",
                str(meta.get("name")),
                meta.get("namespace"),
                type=type_,
                message=message,
                uid=meta.get("uid"),
            )
        for _stage, _outcome, _seconds, job in stage_finished:
            usd = float(((job.result or {}).get("usage") or {}).get("usd") or 0.0)
            if usd and tenant in self._spend:
                value, at = self._spend[tenant]
                self._spend[tenant] = (value + usd, at)

    def record_pipeline_deleted(self, tenant: str, body: dict[str, Any]) -> None:
        self.writer.submit(history.pipeline_deleted(tenant, body))

    def audit(
        self,
        tenant: str,
        actor: str,
        action: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        **details: Any,
    ) -> None:
        self.writer.audit(tenant, actor, action, kind, name, namespace, **details)

    def observe(self, kind: str, event_type: str | None, obj: dict[str, Any], tenant: str) -> None:
        """Audit create/update/cancel/delete of Tenants and DesignPipelines from watch events.

        Remembers (uid -> generation) in memory: a spec change is one ``update`` however many
        events it causes; objects first seen at start-up are not reported as created unless
        they are less than two minutes old.
        """
        meta = obj.get("metadata") or {}
        uid, name, ns = (
            str(meta.get("uid") or ""),
            str(meta.get("name") or ""),
            meta.get("namespace"),
        )
        generation = int(meta.get("generation") or 0)
        actor = history.actor_of(obj)
        if event_type == "DELETED":
            self._generations.pop(uid, None)
            self.audit(tenant, actor, "delete", kind, name, ns, uid=uid)
            return
        seen = self._generations.get(uid)
        self._generations[uid] = generation
        spec = obj.get("spec") or {}
        if seen is None:
            created = parse_time(meta.get("creationTimestamp"))
            if created is not None and (history.utcnow() - created).total_seconds() < 120:
                self.audit(tenant, actor, "create", kind, name, ns, uid=uid, generation=generation)
        elif generation > seen:
            self.audit(
                tenant,
                actor,
                "cancel" if spec.get("cancel") else "update",
                kind,
                name,
                ns,
                uid=uid,
                generation=generation,
            )

    # --- budgets ----------------------------------------------------------------------------------

    def spent_this_month(self, tenant: str) -> float | None:
        """The tenant's month-to-date USD as last read (None before the first read). Never
        blocks: a stale value triggers a refresh in the background."""
        value, at = self._spend.get(tenant, (None, 0.0))
        if time.monotonic() - at > self.spend_ttl and tenant not in self._refreshing:
            self._refreshing.add(tenant)
            task = asyncio.get_running_loop().create_task(self._refresh_spend(tenant))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return value

    async def pipeline_artifacts(self, pipeline_key: str) -> list[StoredArtifact]:
        """Every artifact of one pipeline run (``<namespace>/<name>/<uid>``)."""
        async with self.pool.connection() as conn:
            return await list_artifacts(conn, pipeline_key)

    async def read_artifact(self, uri: str) -> bytes:
        async with self.pool.connection() as conn:
            return await read_blob(conn, uri)

    def stored_bytes(self, tenant: str) -> int | None:
        """The tenant's stored artifact bytes as last read (None before the first read).
        Never blocks: a stale value is read anew in the background (on_stored_bytes)."""
        value, at = self._bytes.get(tenant, (None, 0.0))
        key = f"bytes:{tenant}"
        if time.monotonic() - at > self.spend_ttl and key not in self._refreshing:
            self._refreshing.add(key)
            task = asyncio.get_running_loop().create_task(self._refresh_bytes(tenant, key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return value

    async def _refresh_bytes(self, tenant: str, key: str) -> None:
        try:
            value = await history.stored_bytes(self.pool, tenant)
            before = self._bytes.get(tenant, (None, 0.0))[0]
            self._bytes[tenant] = (value, time.monotonic())
            if value != before and self.on_stored_bytes is not None:
                self.on_stored_bytes(tenant)
        except Exception as err:
            log.debug("cannot read the stored bytes of tenant %s: %s", tenant, describe(err))
        finally:
            self._refreshing.discard(key)

    async def _refresh_spend(self, tenant: str) -> None:
        try:
            value = await history.month_to_date_usd(self.pool, tenant)
            self._spend[tenant] = (value, time.monotonic())
        except Exception as err:
            log.debug("cannot read the spend of tenant %s: %s", tenant, describe(err))
        finally:
            self._refreshing.discard(tenant)

    async def month_to_date_usd(self, tenant: str) -> float:
        """Read it now (waits for the database)."""
        value = await history.month_to_date_usd(self.pool, tenant)
        self._spend[tenant] = (value, time.monotonic())
        return value

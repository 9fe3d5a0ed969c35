"""Admission controller: which queued DesignPipelines may start now (the fair-share queue).

**Where admission decides.** It watches Tenants (their plan, caps, suspension, database
credentials) and DesignPipelines (queued, running, finished, deleted), keeps them in the pure
``scheduler.AdmissionQueue``, and on every change (one key, ``admission``, in its own queue, so
changes coalesce) takes one decision: the admitted pipelines, the rejected ones (their tenant's
queue is full) and the queued ones whose written position or reason is out of date are handed to
the pipeline controller's queue, which writes their status. It writes nothing itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from . import flow
from .model import PIPELINE_KIND, TENANT_KIND, TenantSpec
from .ports import CacheReader, Event, Queue, Request, TenantLookup, Watch
from .render.kueue import QUEUEING_KUEUE, queueing_of
from .scheduler import (
    AdmissionQueue,
    TenantQuota,
    Workload,
    needs_figma,
    plan_weight,
    position_moved,
)
from .times import parse_time

log = logging.getLogger(__name__)

#: the one key of the admission queue: "decide again"
KEY = "admission"
_DECIDE = (Request(KEY),)


@dataclass(frozen=True)
class AdmissionConfig:
    global_max_concurrent: int = 50
    #: queued pipelines' positions and reasons are compared with their status at most this often
    refresh_seconds: float = 2.0
    #: with a database, a tenant's pipelines wait for its database credentials (agent pods
    #: cannot start without the Secret)
    database: bool = False
    #: the operator's queueing (PF_QUEUEING); a Tenant's spec.queueing wins. Tenants queued by
    #: Kueue are admitted at once (scheduler: TenantQuota.external)
    queueing: str = "pf-figma"
    #: analyze stages with a Figma source running at once per tenant (its one Figma token),
    #: unless the Tenant's figma.maxConcurrentAnalyze says otherwise (scheduler: Figma slots)
    figma_max_concurrent: int = 2


class AdmissionController:
    """Admission as a controller: ``watches`` map events to :data:`KEY`; ``reconcile`` decides.

    Ports: ``cache`` (Tenants and pipelines, read only), ``index`` (a pipeline's tenant),
    ``queue`` (its own), ``pipelines`` (the pipeline controller's queue).
    """

    name = "admission"
    workers = 1  # decisions are taken one at a time

    def __init__(
        self,
        *,
        cache: CacheReader,
        index: TenantLookup,
        queue: Queue,
        pipelines: Queue,
        config: AdmissionConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache = cache
        self.index = index
        self.queue = queue
        self.pipelines = pipelines
        self.config = config
        self.clock = clock
        self.queue_state = AdmissionQueue()
        self.admitted_keys: set[str] = set()  # admitted, start not yet recorded in status
        self.positions: dict[str, int] = {}
        self.blocked: dict[str, str] = {}
        self.rejected_keys: dict[str, str] = {}
        self._fresh: set[str] = set()  # new pipelines, not yet shown as queued or admitted
        self._last_refresh = -1e9
        self._refreshed = -1  # admission version of the last refresh
        self.watches = (
            Watch(TENANT_KIND, self._on_tenant),
            Watch(PIPELINE_KIND, self._on_pipeline),
        )

    # --- the pipeline controller's view ----------------------------------------------------

    def admitted(self, key: str) -> bool:
        return key in self.admitted_keys

    def rejected(self, key: str) -> str | None:
        return self.rejected_keys.get(key)

    def verdict(self, key: str) -> flow.Admission:
        return flow.Admission(
            admitted=key in self.admitted_keys,
            position=self.positions.get(key),
            blocked=self.blocked.get(key),
            rejected=self.rejected_keys.get(key),
        )

    def finished(self, key: str) -> None:
        self.queue_state.remove(key)
        self.admitted_keys.discard(key)
        self.rejected_keys.pop(key, None)
        self.queue.add(KEY)

    # --- watches -----------------------------------------------------------------------------

    def _on_tenant(self, event: Event) -> Iterable[Request]:
        name = event.obj["metadata"]["name"]
        if event.deleted:
            self.queue_state.remove_tenant(name)
            return _DECIDE
        body = self.cache.get(TENANT_KIND, name)  # the newest (a late event may be older)
        if body is None:
            return ()
        try:
            spec = TenantSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            return ()
        caps = spec.effective_pipelines()
        held = not spec.suspended and not self._database_ready(body)
        quota = TenantQuota(
            name=name,
            weight=plan_weight(spec.plan.value),
            max_concurrent=caps.max_concurrent,
            max_queued=caps.max_queued,
            suspended=spec.suspended or held,
            hold_reason=f"waiting for tenant {name}'s database credentials" if held else None,
            external=queueing_of(spec, self.config.queueing) == QUEUEING_KUEUE,
            figma_max_concurrent=spec.figma.max_concurrent_analyze
            or self.config.figma_max_concurrent,
        )
        return _DECIDE if self.queue_state.set_tenant(quota) else ()

    def _database_ready(self, tenant_body: dict[str, object]) -> bool:
        if not self.config.database:
            return True
        status = tenant_body.get("status") or {}
        assert isinstance(status, dict)
        return bool((status.get("database") or {}).get("ready"))

    def _on_pipeline(self, event: Event) -> Iterable[Request]:
        key = event.key
        if event.deleted:
            self.queue_state.remove(key)
            self.admitted_keys.discard(key)
            self.rejected_keys.pop(key, None)
            self.positions.pop(key, None)
            self._fresh.discard(key)
            return _DECIDE
        obj = event.obj
        meta, status, spec = obj["metadata"], obj.get("status") or {}, obj.get("spec") or {}
        if status.get("completionTime"):
            removed = self.queue_state.remove(key)
            self.admitted_keys.discard(key)
            return _DECIDE if removed else ()
        created = parse_time(meta.get("creationTimestamp")) or datetime.now(UTC)
        tenant = self.index.tenant_of(key) or self.index.tenant_for_namespace(meta["namespace"])
        workload = Workload(
            key=key,
            tenant=tenant or f"<none:{meta['namespace']}>",
            priority=int(spec.get("priority", 50)),
            created=created.timestamp(),
            running=bool(status.get("startTime")) or key in self.admitted_keys,
            figma=needs_figma(spec, status),
        )
        decide = self.queue_state.upsert(workload)
        if workload.running or spec.get("cancel") or key in self.rejected_keys:
            pass  # the pipeline controller looks at it (see pipelines.PipelineController)
        elif not status.get("conditions"):
            self._fresh.add(key)  # shown queued or admitted by the next decision
            decide = True
        return _DECIDE if decide else ()

    # --- the decision ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        """Admit what fits; hand the changed pipelines to the pipeline controller.

        A pass costs one (cached) decision. New pipelines are shown queued at once; the
        positions and reasons of all queued pipelines are compared with their status at most
        every ``refresh_seconds``, and only after the decision changed. Returns the seconds
        until that comparison is due, or None.
        """
        state = self.queue_state
        decision = state.decide(self.config.global_max_concurrent)
        for admitted in decision.admit:
            state.mark_running(admitted, started=time.time())
            self.admitted_keys.add(admitted)
            self.pipelines.add(admitted)
        for rejected, reason in decision.rejected.items():
            if rejected not in self.rejected_keys:
                self.rejected_keys[rejected] = reason
                state.remove(rejected)
                self.pipelines.add(rejected)
        self.positions = dict(decision.positions)
        self.blocked = dict(decision.blocked)
        for fresh in self._fresh:  # new: show it queued right away
            if fresh in self.blocked:
                self.pipelines.add(fresh)
        self._fresh.clear()
        if not self.blocked or state.version == self._refreshed:
            return None
        now = self.clock()
        since = now - self._last_refresh
        if since < self.config.refresh_seconds:
            return self.config.refresh_seconds - since
        self._last_refresh = now
        self._refreshed = state.version
        self._refresh_queued()
        return None

    def _refresh_queued(self) -> None:
        """Hand over the queued pipelines whose written reason or position is out of date."""
        for key, reason in self.blocked.items():
            ns, name = key.split("/", 1)
            body = self.cache.get(PIPELINE_KIND, name, ns)
            if body is None:
                continue
            status = body.get("status") or {}
            admitted = next(
                (c for c in status.get("conditions") or () if c.get("type") == "Admitted"), None
            )
            if (
                admitted is None
                or admitted.get("message") != reason
                or position_moved(status.get("queuePosition"), self.positions.get(key))
            ):
                self.pipelines.add(key)

    async def start(self) -> None:
        return None

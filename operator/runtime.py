"""The operator's runtime: caches, work queues and reconcilers, fed by kopf's watch streams.

The reconcilers are handed in as factories (see ``main``): this module does not import them, so
they may depend on the runtime without an import loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from . import metrics
from .cache import Store, keep
from .constants import MANAGED_SELECTOR, TENANT_CHILD_KINDS, TENANT_LABEL
from .kube import Kube
from .model import PIPELINE_KIND, TENANT_KIND
from .render.common import RenderSettings
from .settings import Settings
from .store.dsn import dsn_egress
from .store.service import DataStore
from .workqueue import WorkQueue, run_workers

log = logging.getLogger(__name__)


def trim_heap() -> None:
    """Hand freed heap memory back to the OS. glibc keeps what large objects (watch and LIST
    responses) used, so without this the RSS stays at its highest point forever."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to trim
        return None
    return libc


_LIBC = _libc()


class TenantController(Protocol):
    """What the runtime needs of the Tenant reconciler."""

    async def reconcile(self, name: str) -> float | None: ...


class PipelineController(Protocol):
    """What the runtime needs of the DesignPipeline reconciler (and its admission loop)."""

    def finished_job(self, job: dict[str, Any]) -> bool: ...

    def tenant_for_namespace(self, namespace: str) -> str | None: ...

    def tenant_changed(self, name: str, *, deleted: bool) -> None: ...

    def observe(self, obj: dict[str, Any], *, deleted: bool) -> None: ...

    def observe_job(self, job: dict[str, Any], *, deleted: bool) -> None: ...

    def observe_pod(self, pod: dict[str, Any], *, deleted: bool) -> None: ...

    def counts(self, tenant: str) -> dict[str, int]: ...

    async def reconcile(self, key: str) -> float | None: ...

    async def run(self) -> None: ...


class Runtime:
    def __init__(
        self,
        kube: Kube,
        settings: Settings,
        *,
        tenants: Callable[[Runtime], TenantController],
        pipelines: Callable[[Runtime], PipelineController],
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.store = Store(keep=keep)
        self.db: DataStore | None = None
        extra_egress: tuple[Any, ...] = ()
        if settings.database_dsn:
            retention = settings.artifact_retention_days
            self.db = DataStore(
                settings.database_dsn,
                artifact_retention=timedelta(days=retention) if retention else None,
            )
            try:  # tenants may reach the database endpoint, and nothing else new
                extra_egress = tuple(dsn_egress(settings.database_dsn))
            except OSError as err:
                log.warning("cannot resolve the database host for tenant egress: %s", err)
        self.render_settings = RenderSettings(
            pod_cidrs=tuple(settings.pod_cidrs),
            service_cidrs=tuple(settings.service_cidrs),
            namespace_prefix=settings.namespace_prefix,
            extra_egress=extra_egress,
        )
        self.ca_bundle: str | None = None
        if settings.ca_bundle_file:
            with open(settings.ca_bundle_file) as fh:
                self.ca_bundle = fh.read()
            if "BEGIN CERTIFICATE" not in self.ca_bundle:
                raise SystemExit(f"PF_CA_BUNDLE_FILE={settings.ca_bundle_file}: no PEM certificate")
        self.tenant_queue = WorkQueue("tenant")
        if self.db is not None:  # a tenant's stored bytes changed: its status shows them
            self.db.on_stored_bytes = lambda tenant: self.tenant_queue.add_after(tenant, 0.5)
        self.pipeline_queue = WorkQueue("pipeline")
        self.tenants = tenants(self)
        self.pipelines = pipelines(self)
        self.primed = False

    # --- watch events (called by the thin kopf handlers) ------------------------------------

    def observe(self, kind: str, event: dict[str, Any]) -> None:
        obj = event.get("object")
        if not obj or "metadata" not in obj:
            return
        obj.setdefault("kind", kind)
        if kind == "Pod":  # agent pods are not cached: only their problems are kept
            self.pipelines.observe_pod(obj, deleted=event.get("type") == "DELETED")
            return
        if kind == "Job" and self.pipelines.finished_job(obj):
            self.store.delete(kind, obj)  # a finished pipeline's Jobs are never read again
            return
        if event.get("type") == "DELETED":
            self.store.delete(kind, obj)
        else:
            self.store.upsert(kind, obj)
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        if self.db is not None and kind in (TENANT_KIND, PIPELINE_KIND):
            tenant = (
                meta["name"]
                if kind == TENANT_KIND
                else (self.pipelines.tenant_for_namespace(meta["namespace"]) or "")
            )
            self.db.observe(kind, event.get("type"), obj, tenant)
            if kind == PIPELINE_KIND and event.get("type") == "DELETED":
                self.db.record_pipeline_deleted(tenant, obj)
        if kind == TENANT_KIND:
            self.tenant_queue.add(meta["name"])
            self.pipelines.tenant_changed(meta["name"], deleted=event.get("type") == "DELETED")
        elif kind in TENANT_CHILD_KINDS:
            tenant = labels.get(TENANT_LABEL)
            if tenant:
                self.tenant_queue.add(tenant)
        elif kind == PIPELINE_KIND:
            self.pipelines.observe(obj, deleted=event.get("type") == "DELETED")
        elif kind == "Job":
            self.pipelines.observe_job(obj, deleted=event.get("type") == "DELETED")

    # --- shared views -------------------------------------------------------------------------

    def pipeline_counts(self, tenant: str) -> dict[str, int]:
        return self.pipelines.counts(tenant)

    def update_tenant_metrics(self) -> None:
        phases: Counter[str] = Counter()
        for body in self.store.all(TENANT_KIND):
            status = body.get("status") or {}
            ready = next(
                (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None
            )
            if (body.get("spec") or {}).get("suspended"):
                phases["Suspended"] += 1
            elif ready and ready.get("status") == "True":
                phases["Ready"] += 1
            else:
                phases["NotReady"] += 1
        for phase in ("Ready", "NotReady", "Suspended"):
            metrics.TENANTS.labels(phase).set(phases[phase])

    async def prime(self) -> None:
        """Fill the cache with one paginated LIST per kind before any decision is taken.

        The admission queue must know every running pipeline before it admits new ones, and the
        Tenant reconciler must see existing children so that a restart costs no writes. Pages
        are observed as they arrive, so only one page of whole objects is in memory at a time;
        pipelines come before Jobs, so a finished pipeline's Jobs are never stored.
        """
        managed = MANAGED_SELECTOR
        kinds: list[tuple[str, str | None]] = [
            *(
                (kind, managed)
                for kind in TENANT_CHILD_KINDS
                if kind != "ConfigMap" or self.ca_bundle
            ),
            (TENANT_KIND, None),
            (PIPELINE_KIND, None),
            ("Job", managed),
        ]
        counts: dict[str, int] = {}
        for kind, selector in kinds:
            counts[kind] = 0
            async for page in self.kube.pages(kind, label_selector=selector):
                counts[kind] += len(page)
                for obj in page:
                    self.observe(kind, {"type": None, "object": obj})
        self.primed = True
        log.info("cache primed", extra=counts)
        trim_heap()  # the pages are garbage now

    # --- workers -------------------------------------------------------------------------------

    async def run(self) -> None:
        def failed(kind: str) -> Any:
            return lambda key, err: metrics.RECONCILE_ERRORS.labels(kind).inc()

        async def timed(kind: str, fn: Any, key: str) -> float | None:
            start = time.perf_counter()
            try:
                result: float | None = await fn(key)
                return result
            finally:
                metrics.RECONCILE_DURATION.labels(kind).observe(time.perf_counter() - start)

        async def gauges() -> None:
            for tick in itertools.count():
                metrics.WORKQUEUE_DEPTH.labels("tenant").set(len(self.tenant_queue))
                metrics.WORKQUEUE_DEPTH.labels("pipeline").set(len(self.pipeline_queue))
                if tick % 30 == 29:
                    trim_heap()
                await asyncio.sleep(1)

        if not self.primed:
            await self.prime()
        await asyncio.gather(
            run_workers(
                self.tenant_queue,
                lambda k: timed("Tenant", self.tenants.reconcile, k),
                workers=self.settings.tenant_workers,
                on_error=failed("Tenant"),
            ),
            run_workers(
                self.pipeline_queue,
                lambda k: timed("DesignPipeline", self.pipelines.reconcile, k),
                workers=self.settings.pipeline_workers,
                on_error=failed("DesignPipeline"),
            ),
            self.pipelines.run(),
            self._resync(),
            *([self.db.run()] if self.db is not None else []),
            gauges(),
        )

    async def _resync(self) -> None:
        """A slow safety net: look at every Tenant again now and then (cheap: cache compares)."""
        while True:
            await asyncio.sleep(self.settings.drift_resync_seconds)
            names = {body["metadata"]["name"] for body in self.store.all(TENANT_KIND)}
            for name in names:
                self.tenant_queue.add(name)
            if self.db is not None and self.primed:
                try:  # roles of Tenants deleted while no operator ran
                    await self.db.drop_orphans(names)
                except Exception as err:
                    log.warning("cannot drop orphaned database roles: %s", err)

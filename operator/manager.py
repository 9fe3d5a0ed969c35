"""The controller manager (in the shape of controller-runtime's): owns what controllers share.

It owns the API client, the cache (with its pipeline index), one work queue per controller, the
database writer, the leader elector, the health server and the watch source (kopf). Controllers
(tenants.py, admission.py, pipelines.py) are built with narrow ports taken from it (see
ports.py) and added with :meth:`Manager.add`; each declares its watches. The manager then:

1. waits for the leader Lease (when leader election is on) and keeps renewing it;
2. primes the cache: one paginated LIST per watched kind, in the order the controllers declared
   them (a Tenant's children, Tenants, DesignPipelines, Jobs);
3. starts kopf's watch streams; every event goes through :meth:`Manager.observe`: into the cache,
   the index, the database's audit, then to each controller watching its kind, whose mapping
   gives the keys to put into its queue;
4. runs each controller's workers and background task until stopped (SIGTERM, SIGINT) or the
   leadership is lost (exit code 1: the Deployment restarts it as a standby).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import itertools
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import kopf

from . import handlers, metrics
from .cache import Store, keep
from .collector import CacheFigureSource
from .health import HealthServer
from .index import PipelineIndex
from .kube import Kube
from .leader import LeaderElector
from .model import PIPELINE_KIND, TENANT_KIND
from .ports import Controller, Event, Obj, Watch
from .settings import Settings
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


class NoDiffBase(kopf.DiffBaseStorage):
    """No "last handled" essence: only raw event handlers are registered, so nothing compares
    an object with its previous state, and kopf's deep copy of every object on every event
    (about 6 % of the operator's CPU under load) is skipped."""

    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        return None

    def fetch(self, *, body: Any) -> Any:
        return None

    def store(self, *, body: Any, patch: Any, essence: Any) -> None:
        return None


def kopf_settings() -> kopf.OperatorSettings:
    s = kopf.OperatorSettings()
    s.persistence.diffbase_storage = NoDiffBase()
    # kopf runs one worker task per object until it has been idle this long: a short idle
    # time keeps a burst (such as the 10,000 objects listed at start) from lingering.
    s.queueing.idle_timeout = 2
    s.watching.chunk_size = 500  # list in pages: never 10,000 whole objects in memory at once
    s.watching.connect_timeout = 10
    s.watching.server_timeout = 300
    s.watching.client_timeout = 330
    s.watching.reconnect_backoff = 0.5
    s.posting.enabled = False  # Events are the controllers' (meaningful steps only)
    s.networking.connect_timeout = 10
    return s


@dataclass
class Source:
    """One watched kind: its label selector, whether it is cached, and the watches on it."""

    labels: str | None
    cached: bool
    watches: list[tuple[WorkQueue, Watch]] = field(default_factory=list)
    drop: list[Callable[[Obj], bool]] = field(default_factory=list)


class Manager:
    """Owns the shared machinery; see the module docstring. ``kube``: the API client (from
    the environment when None). Controllers are added before :meth:`run`."""

    def __init__(self, settings: Settings, kube: Kube | None = None) -> None:
        self.settings = settings
        self.kube = kube if kube is not None else Kube.from_environment()
        self.cache = Store(keep=keep)
        self.index = PipelineIndex(self.cache, settings.namespace_prefix)
        self.db: DataStore | None = None
        if settings.database_dsn:
            retention = settings.artifact_retention_days
            self.db = DataStore(
                settings.database_dsn,
                artifact_retention=timedelta(days=retention) if retention else None,
            )
        self.queues: dict[str, WorkQueue] = {}
        self.controllers: list[Controller] = []
        self.sources: dict[str, Source] = {}
        self.health = HealthServer(settings.health_port)
        self.elector: LeaderElector | None = None
        if settings.leader_election:
            self.elector = LeaderElector(
                self.kube, settings.leader_election_namespace, settings.leader_election_lease
            )

    # --- building -----------------------------------------------------------------------------

    def queue(self, name: str) -> WorkQueue:
        """The work queue named ``name`` (made on first use): hand it to its controller, or to
        another controller that puts keys into it."""
        if name not in self.queues:
            self.queues[name] = WorkQueue(name)
        return self.queues[name]

    def add(self, controller: Controller) -> None:
        """Run ``controller``: its watches are wired to its queue (``queue(controller.name)``).

        Raises ValueError when a kind is watched with two different label selectors."""
        queue = self.queue(controller.name)
        for watch in controller.watches:
            source = self.sources.setdefault(watch.kind, Source(watch.labels, watch.cached))
            if source.labels != watch.labels or source.cached != watch.cached:
                raise ValueError(f"{watch.kind} is watched with different selectors or caching")
            source.watches.append((queue, watch))
            if watch.drop is not None:
                source.drop.append(watch.drop)
        self.controllers.append(controller)

    # --- events -------------------------------------------------------------------------------

    def observe(self, kind: str, raw: dict[str, Any]) -> None:
        """One watch event (or a listed object, type None): cache, index, audit, controllers."""
        obj = raw.get("object")
        if not obj or "metadata" not in obj:
            return
        source = self.sources.get(kind)
        if source is None:
            return
        obj.setdefault("kind", kind)
        event = Event(raw.get("type"), obj)
        if source.cached:
            if any(drop(obj) for drop in source.drop):
                self.cache.delete(kind, obj)  # never read again, nobody to tell
                return
            if event.deleted:
                self.cache.delete(kind, obj)
            else:
                self.cache.upsert(kind, obj)
        if kind == PIPELINE_KIND:
            self.index.observe(obj, deleted=event.deleted)
        if self.db is not None and kind in (TENANT_KIND, PIPELINE_KIND):
            self._audit(kind, event)
        for queue, watch in source.watches:
            for key, after in watch.to_keys(event):
                if after > 0:
                    queue.add_after(key, after)
                else:
                    queue.add(key)

    def _audit(self, kind: str, event: Event) -> None:
        assert self.db is not None
        meta = event.obj["metadata"]
        if kind == TENANT_KIND:
            tenant = meta["name"]
        else:
            tenant = self.index.tenant_for_namespace(meta["namespace"]) or ""
        self.db.observe(kind, event.type, event.obj, tenant)
        if kind == PIPELINE_KIND and event.deleted:
            self.db.record_pipeline_deleted(tenant, event.obj)

    async def prime(self) -> None:
        """Fill the cache with one paginated LIST per cached kind before any decision is taken.

        The admission controller must know every running pipeline before it admits new ones,
        and the Tenant controller must see existing children so that a restart costs no
        writes. Pages are observed as they arrive, so only one page of whole objects is in
        memory at a time; kinds are listed in the order they were first declared (pipelines
        before Jobs, so a finished pipeline's Jobs are never stored).
        """
        counts: dict[str, int] = {}
        for kind, source in self.sources.items():
            if not source.cached:
                continue
            counts[kind] = 0
            async for page in self.kube.pages(kind, label_selector=source.labels):
                counts[kind] += len(page)
                for obj in page:
                    self.observe(kind, {"type": None, "object": obj})
        self.cache.synced = True
        log.info("cache primed", extra=counts)
        trim_heap()  # the pages are garbage now

    # --- running ------------------------------------------------------------------------------

    async def run_controllers(self) -> None:
        """Prime the cache (if not yet), then run every controller's workers and background
        task, the database writer and the housekeeping, until cancelled."""

        def failed(kind: str) -> Callable[[str, BaseException], None]:
            return lambda key, err: metrics.RECONCILE_ERRORS.labels(kind).inc()

        def timed(kind: str, reconcile: Callable[[str], Awaitable[float | None]]) -> Any:
            async def run(key: str) -> float | None:
                start = time.perf_counter()
                try:
                    return await reconcile(key)
                finally:
                    metrics.RECONCILE_DURATION.labels(kind).observe(time.perf_counter() - start)

            return run

        if not self.cache.synced:
            await self.prime()
        tasks: list[Awaitable[Any]] = []
        for controller in self.controllers:
            kind = _KINDS.get(controller.name, controller.name)
            tasks.append(
                run_workers(
                    self.queue(controller.name),
                    timed(kind, controller.reconcile),
                    workers=controller.workers,
                    on_error=failed(kind),
                )
            )
            tasks.append(controller.start())
        if self.db is not None:
            tasks.append(self.db.run())
        tasks.append(self._housekeeping())
        await asyncio.gather(*tasks)

    async def _housekeeping(self) -> None:
        for tick in itertools.count(1):
            await asyncio.sleep(1)
            if tick % 30 == 0:
                trim_heap()

    async def run(self, setup: Callable[[], Awaitable[None]] | None = None) -> int:
        """The whole process: health, leadership, ``setup()`` (once leading), the cache, the
        watches and the controllers. Returns the exit code (1: leadership lost or a task
        failed)."""
        settings = self.settings
        metrics.serve(settings.metrics_port)
        health = self.health
        await health.start()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        elector = self.elector
        if elector is not None:
            health.role, health.ready = "standby", lambda: True
            acquiring = asyncio.ensure_future(elector.acquire())
            if not await _until_stopped(stop, acquiring):
                acquiring.cancel()
                await health.stop()
                await self.kube.close()
                return 0
        health.role = "leader" if elector else "single"
        # Renew the lease from now on: priming a large cache can take longer than a lease lasts.
        holding = asyncio.ensure_future(elector.hold()) if elector is not None else None
        health.ready = lambda: self.cache.synced
        metrics.CACHE.source = CacheFigureSource(self.cache, self.index, self.queues, loop)
        registry = kopf.OperatorRegistry()
        handlers.register(
            registry,
            {kind: source.labels for kind, source in self.sources.items()},
            self.observe,
            self.kube.creds,
        )
        if setup is not None:
            await setup()
        # The cache first, then kopf's watches (which list everything again): the two initial
        # listings never hold their pages in memory at the same time.
        await self.prime()
        kopf_stop: asyncio.Event = asyncio.Event()
        operator = asyncio.ensure_future(
            kopf.operator(
                registry=registry,
                settings=kopf_settings(),
                clusterwide=True,
                standalone=True,
                stop_flag=kopf_stop,
            )
        )
        workers = asyncio.ensure_future(self.run_controllers())
        tasks: set[asyncio.Future[Any]] = {operator, workers}
        if holding is not None:
            tasks.add(holding)
        health.alive = lambda: not any(t.done() for t in tasks)
        stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({*tasks, stopper}, return_when=asyncio.FIRST_COMPLETED)
        code = 0  # kopf ends the operator task itself on SIGTERM/SIGINT: a normal stop
        for task in done:
            if task.cancelled():  # kopf cancels what it considers its sub-tasks when it stops
                continue
            if task is holding:
                code = 1  # leadership lost: exit so that nothing is processed twice
            elif task is not stopper and task.exception() is not None:
                code = 1
                log.error("operator task failed", exc_info=task.exception())
        kopf_stop.set()
        workers.cancel()
        for task in (*tasks, stopper):
            if task is not operator:
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(operator, timeout=10)
        with contextlib.suppress(asyncio.CancelledError):
            await workers
        metrics.CACHE.source = None
        if elector is not None and code == 0:
            await elector.release()
        await health.stop()
        await self.kube.close()
        return code


#: controller name -> the kind its reconcile metrics are labelled with
_KINDS = {"tenant": TENANT_KIND, "pipeline": PIPELINE_KIND, "admission": "Admission"}


async def _until_stopped(stop: asyncio.Event, work: asyncio.Future[Any]) -> bool:
    """Wait for `work` or a stop signal; True when the work finished first."""
    stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    waiting: set[asyncio.Future[Any]] = {work, stopper}
    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    return work in done

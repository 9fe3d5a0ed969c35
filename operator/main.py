"""Operator process: leader election, kopf watches, the runtime's reconcilers, /metrics, health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

import kopf

from . import handlers, logs, metrics
from .diff import needs_apply, with_hash
from .health import HealthServer
from .kube import ApiError, Kube
from .leader import LeaderElector
from .pipelines import PipelineReconciler
from .render import cluster as render_cluster
from .runtime import Runtime
from .settings import Settings
from .tenants import TenantReconciler

log = logging.getLogger("pf_operator")


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
    s.posting.enabled = False  # Events are the reconcilers' (meaningful steps only)
    s.networking.connect_timeout = 10
    return s


async def ensure_cluster_objects(kube: Kube) -> None:
    """Cluster-scoped objects the Tenants rely on (the chart installs the same ones)."""
    for obj in (with_hash(render_cluster.tenant_owner_clusterrole()),):
        try:
            live = await kube.get_or_none(obj["kind"], obj["metadata"]["name"])
            if needs_apply(obj, live):
                await kube.apply(obj)
        except ApiError as err:
            # Without RBAC to manage ClusterRoles (chart-installed), use what the chart made.
            log.warning("could not apply %s %s: %s", obj["kind"], obj["metadata"]["name"], err)


async def _until_stopped(stop: asyncio.Event, work: asyncio.Future[Any]) -> bool:
    """Wait for `work` or a stop signal; True when the work finished first."""
    stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    waiting: set[asyncio.Future[Any]] = {work, stopper}
    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    return work in done


async def run(settings: Settings) -> int:
    metrics.serve(settings.metrics_port)
    kube = Kube.from_environment()
    health = HealthServer(settings.health_port)
    await health.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    elector: LeaderElector | None = None
    if settings.leader_election:
        elector = LeaderElector(
            kube, settings.leader_election_namespace, settings.leader_election_lease
        )
        health.role, health.ready = "standby", lambda: True
        acquiring = asyncio.ensure_future(elector.acquire())
        if not await _until_stopped(stop, acquiring):
            acquiring.cancel()
            await health.stop()
            await kube.close()
            return 0
    health.role = "leader" if elector else "single"
    # Renew the lease from now on: priming a large cache can take longer than a lease lasts.
    holding = asyncio.ensure_future(elector.hold()) if elector is not None else None

    runtime = Runtime(kube, settings, tenants=TenantReconciler, pipelines=PipelineReconciler)
    health.ready = lambda: runtime.primed
    registry = kopf.OperatorRegistry()
    handlers.register(registry, configmaps=bool(settings.ca_bundle_file))
    await ensure_cluster_objects(kube)
    log.info(
        "pf-figma operator starting",
        extra={
            "global_max_concurrent": settings.global_max_concurrent,
            "leader_election": settings.leader_election,
        },
    )
    # The cache first, then kopf's watches (which list everything again): the two initial
    # listings never hold their pages in memory at the same time.
    await runtime.prime()
    kopf_stop: asyncio.Event = asyncio.Event()
    operator = asyncio.ensure_future(
        kopf.operator(
            registry=registry,
            settings=kopf_settings(),
            memo=kopf.Memo(runtime=runtime),
            clusterwide=True,
            standalone=True,
            stop_flag=kopf_stop,
        )
    )
    workers = asyncio.ensure_future(runtime.run())
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
    if elector is not None and code == 0:
        await elector.release()
    await health.stop()
    await kube.close()
    return code


def main() -> None:
    settings = Settings.from_env()
    logs.setup(settings.log_level, settings.log_format)
    sys.exit(asyncio.run(run(settings)))

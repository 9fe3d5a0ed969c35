"""Operator process: kopf watches + the runtime's reconcilers + /metrics + liveness."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import kopf

from . import handlers, logs, metrics
from .diff import needs_apply, with_hash
from .kube import ApiError, Kube
from .render import cluster as render_cluster
from .runtime import Runtime
from .settings import Settings

log = logging.getLogger("pf_operator")


def kopf_settings() -> kopf.OperatorSettings:
    s = kopf.OperatorSettings()
    s.batching.batch_window = 0.01  # hand-off latency matters more than event coalescing
    s.batching.idle_timeout = 10
    s.batching.exit_timeout = 2
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


async def run(settings: Settings) -> None:
    metrics.serve(settings.metrics_port)
    kube = Kube.from_environment()
    runtime = Runtime(kube, settings)
    registry = kopf.OperatorRegistry()
    handlers.register(registry)
    await ensure_cluster_objects(kube)
    log.info("pf-figma operator starting", extra={"global_max_concurrent":
                                                  settings.global_max_concurrent})
    workers = asyncio.create_task(runtime.run(), name="pf-figma-runtime")
    try:
        await kopf.operator(
            registry=registry,
            settings=kopf_settings(),
            memo=kopf.Memo(runtime=runtime),
            clusterwide=True,
            standalone=True,
            liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz",
        )
    finally:
        workers.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await workers
        await kube.close()


def main() -> None:
    settings = Settings.from_env()
    logs.setup(settings.log_level, settings.log_format)
    asyncio.run(run(settings))

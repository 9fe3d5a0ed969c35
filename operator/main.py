"""Operator process: the manager, and the controllers it runs with the ports each is handed.

This is the wiring: which controller gets which port (ports.py). Where a Tenant becomes a
namespace: tenants.py; where a pipeline's next Job is decided: pipelines.py; where admission
decides: admission.py; what they share: manager.py.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from . import logs
from .admission import AdmissionConfig, AdmissionController
from .diff import needs_apply, with_hash
from .kube import ApiError, Kube
from .kueue import KueueQueueing
from .manager import Manager
from .pipelines import PipelineConfig, PipelineController
from .render import checks
from .render import cluster as render_cluster
from .render.common import RenderSettings
from .render.job import AgentSettings
from .settings import Settings
from .store.dsn import dsn_egress
from .tenants import TenantConfig, TenantController
from .tracing import Tracing, otlp_egress

log = logging.getLogger("pf_operator")


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


def agent_settings(settings: Settings) -> AgentSettings:
    """How agent Jobs look, from the operator settings."""
    return AgentSettings(
        image=settings.agent_image,
        image_pull_policy=settings.agent_image_pull_policy,
        cpu_request=settings.agent_cpu_request,
        memory_request=settings.agent_memory_request,
        cpu_limit=settings.agent_cpu_limit,
        memory_limit=settings.agent_memory_limit,
        node_selector=settings.agent_node_selector,
        tolerations=tuple(settings.agent_tolerations),
        artifacts_url=settings.artifacts_url,
        artifacts_secret="pf-figma-db" if settings.database_dsn else None,
        ca_bundle_configmap=settings.ca_bundle_configmap
        or ("pf-figma-ca" if settings.ca_bundle_file else None),
        stage_resources=settings.agent_stage_resources,
        figma_api_url=settings.figma_api_url,
    )


def tenant_config(settings: Settings, otlp_endpoint: str | None = None) -> TenantConfig:
    """What the Tenant controller renders with (``otlp_endpoint``: where agents export spans,
    see tracing). Raises SystemExit for a CA bundle file without a PEM certificate."""
    extra_egress: tuple[Any, ...] = ()
    if settings.database_dsn:
        try:  # tenants may reach the database endpoint, and nothing else new
            extra_egress = tuple(dsn_egress(settings.database_dsn))
        except OSError as err:
            log.warning("cannot resolve the database host for tenant egress: %s", err)
    if otlp_endpoint:
        try:  # and the trace collector, when tracing is on
            extra_egress += tuple(otlp_egress(otlp_endpoint))
        except OSError as err:
            log.warning("cannot resolve the OTLP collector host for tenant egress: %s", err)
    ca_bundle: str | None = None
    if settings.ca_bundle_file:
        with open(settings.ca_bundle_file) as fh:
            ca_bundle = fh.read()
        if "BEGIN CERTIFICATE" not in ca_bundle:
            raise SystemExit(f"PF_CA_BUNDLE_FILE={settings.ca_bundle_file}: no PEM certificate")
    return TenantConfig(
        render=RenderSettings(
            pod_cidrs=tuple(settings.pod_cidrs),
            service_cidrs=tuple(settings.service_cidrs),
            namespace_prefix=settings.namespace_prefix,
            extra_egress=extra_egress,
        ),
        agent_resources=checks.AgentResources(
            cpu_request=settings.agent_cpu_request,
            memory_request=settings.agent_memory_request,
            cpu_limit=settings.agent_cpu_limit,
            memory_limit=settings.agent_memory_limit,
            stage_resources=settings.agent_stage_resources,
        ),
        ca_bundle=ca_bundle,
        artifact_retention_days=settings.artifact_retention_days,
        resync_seconds=settings.drift_resync_seconds,
        figma_api_url=settings.figma_api_url,
    )


def build(settings: Settings, kube: Kube | None = None, tracing: Tracing | None = None) -> Manager:
    """The manager with its three controllers, each handed only its ports (``tracing``: off
    when None)."""
    tracing = tracing or Tracing.off()
    manager = Manager(settings, kube)
    tenant_queue, pipeline_queue = manager.queue("tenant"), manager.queue("pipeline")
    admission = AdmissionController(
        cache=manager.cache,
        index=manager.index,
        queue=manager.queue("admission"),
        pipelines=pipeline_queue,
        config=AdmissionConfig(
            global_max_concurrent=settings.global_max_concurrent,
            refresh_seconds=settings.queue_position_refresh_seconds,
            database=manager.db is not None,
            queueing=settings.queueing,
            figma_max_concurrent=settings.figma_max_concurrent_analyze,
        ),
    )
    kueue = KueueQueueing(
        manager.kube,
        default=settings.queueing,
        flavor=settings.kueue_resource_flavor,
        cohort=settings.kueue_cohort,
    )
    tenants = TenantController(
        cache=manager.cache,
        client=manager.kube,
        queue=tenant_queue,
        index=manager.index,
        counts=manager.index,
        config=tenant_config(settings, tracing.endpoint),
        db=manager.db,
        workers=settings.tenant_workers,
        tracing=tracing,
        kueue=kueue,
    )
    pipelines = PipelineController(
        cache=manager.cache,
        client=manager.kube,
        queue=pipeline_queue,
        admission=admission,
        index=manager.index,
        config=PipelineConfig(agent=agent_settings(settings)),
        db=manager.db,
        workers=settings.pipeline_workers,
        tracing=tracing,
        kueue=kueue,
    )
    for controller in (tenants, admission, pipelines):  # the order the cache is primed in
        manager.add(controller)
    if manager.db is not None:  # a tenant's stored bytes changed: its status shows them
        manager.db.on_stored_bytes = lambda tenant: tenant_queue.add_after(tenant, 0.5)
    return manager


async def run(settings: Settings) -> int:
    tracing = Tracing.from_env()  # OTEL_* (off without an OTLP endpoint)
    manager = build(settings, tracing=tracing)
    log.info(
        "pf-figma operator starting",
        extra={
            "global_max_concurrent": settings.global_max_concurrent,
            "leader_election": settings.leader_election,
            "tracing": tracing.endpoint or "off",
        },
    )
    try:
        return await manager.run(setup=lambda: ensure_cluster_objects(manager.kube))
    finally:
        tracing.shutdown()  # what is queued goes out: 5 s at most, the loop has stopped working


def main() -> None:
    settings = Settings.from_env()
    logs.setup(settings.log_level, settings.log_format)
    sys.exit(asyncio.run(run(settings)))

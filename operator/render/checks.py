"""Problems in a Tenant spec that the CRD schema cannot see.

The schema checks each field, and pairs of fields that are both set. What it cannot check is
the spec combined with the plan defaults (a ``limits.defaultCPU`` above the plan's ``maxCPU``)
or with the cluster (an egress range that opens the pod network). The operator reports these
as Ready=False instead of applying objects that would be rejected or would weaken isolation.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ..model import TenantSpec
from ..quantities import parse_quantity
from .common import RenderSettings
from .job import DEFAULT_STAGE_RESOURCES
from .tenant import LINK_LOCAL_IPV4_RANGE


@dataclass(frozen=True)
class AgentResources:
    """What the operator gives each agent container (PF_AGENT_CPU_LIMIT and friends), before
    the tenant's limits.maxCPU / maxMemory cap it (as render.job does). ``stage_resources``:
    the stages whose container gets other resources (PF_AGENT_STAGE_RESOURCES, chart
    ``agent.stageResources``: ``{stage: {requests: {cpu, memory}, limits: {cpu, memory}}}``;
    the visual stage runs Chromium)."""

    cpu_request: str = "250m"
    memory_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"
    stage_resources: Mapping[str, Mapping[str, Mapping[str, str]]] = field(
        default_factory=lambda: DEFAULT_STAGE_RESOURCES
    )

    def pods(self) -> list[tuple[str | None, dict[str, dict[str, str]]]]:
        """(stage or None for the default, {requests|limits: {cpu|memory: quantity}}) for the
        default agent container and each stage that has its own resources."""
        default = {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }
        out: list[tuple[str | None, dict[str, dict[str, str]]]] = [(None, default)]
        for stage in sorted(self.stage_resources):
            own = self.stage_resources[stage] or {}
            out.append(
                (
                    stage,
                    {
                        kind: {**default[kind], **dict(own.get(kind) or {})}
                        for kind in ("requests", "limits")
                    },
                )
            )
        return out


def semantic_problems(
    spec: TenantSpec,
    settings: RenderSettings | None = None,
    agent: AgentResources | None = None,
) -> list[str]:
    """Human-readable problems, in a stable order; empty when the spec is sound."""
    return [
        *_limit_problems(spec),
        *_capacity_problems(spec),
        *(_agent_problems(spec, agent) if agent is not None else []),
        *_network_problems(spec, settings),
    ]


def _agent_problems(spec: TenantSpec, agent: AgentResources) -> list[str]:
    """The quota must hold pipelines.maxConcurrent agent pods at once, at the size the
    operator gives them: otherwise the Tenant is Ready, a pipeline is admitted and its Job
    cannot create its pod ("exceeded quota") until the stage times out. Each stage with its own
    resources (visual: Chromium) is checked too, at the worst moment: every running pipeline
    in that stage. The quota caps requests and limits alike (render.tenant.resource_quota);
    each value is capped by the tenant's limits.maxCPU / maxMemory as render.job caps it."""
    quota, limits = spec.effective_quota(), spec.effective_limits()
    running = spec.effective_pipelines().max_concurrent
    if running == 0:
        return []
    problems = []
    for resource, key, cap, total in (
        ("CPU", "cpu", limits.max_cpu, quota.cpu),
        ("memory", "memory", limits.max_memory, quota.memory),
    ):
        # the largest pod of any stage decides (the default one on a tie); limits first
        for kind in ("limits", "requests"):
            stage, mine = None, ""
            for name, pod in agent.pods():
                value = pod[kind][key]
                if not mine or min(_q(value), _q(cap)) > min(_q(mine), _q(cap)):
                    stage, mine = name, value
            if min(_q(mine), _q(cap)) * running <= _q(total):
                continue
            shown = mine if _q(mine) <= _q(cap) else cap
            capped = f"limits.max{'CPU' if resource == 'CPU' else 'Memory'}"
            if stage is None:
                setting, who = f"PF_AGENT_{resource.upper()}_{kind[:-1].upper()}", "agent pods"
            else:
                setting = f"PF_AGENT_STAGE_RESOURCES, chart agent.stageResources.{stage}"
                who = f"{stage} stage pods"
            size = f"{shown} {resource}" + ("" if kind == "limits" else " requested")
            problems.append(
                f"{who} get {size} each ({setting}, capped by {capped}); the quota's "
                f"{resource} ({total}) cannot hold pipelines.maxConcurrent ({running}) of "
                f"them at once: raise quota.{key} or lower pipelines.maxConcurrent"
            )
            break
    return problems


def _q(value: str) -> Decimal:
    return parse_quantity(value)


def _limit_problems(spec: TenantSpec) -> list[str]:
    quota, limits = spec.effective_quota(), spec.effective_limits()
    problems = []
    for resource, default, maximum, total in (
        ("CPU", limits.default_cpu, limits.max_cpu, quota.cpu),
        ("memory", limits.default_memory, limits.max_memory, quota.memory),
    ):
        if _q(default) > _q(maximum):
            problems.append(
                f"the default container {resource} ({default}) is greater than the maximum "
                f"({maximum}); the LimitRange would be rejected"
            )
        if _q(maximum) > _q(total):
            problems.append(
                f"the maximum container {resource} ({maximum}) is greater than the quota's "
                f"{resource} ({total}); such a container could never start"
            )
    return problems


def _capacity_problems(spec: TenantSpec) -> list[str]:
    quota, limits, capacity = (
        spec.effective_quota(),
        spec.effective_limits(),
        spec.effective_pipelines(),
    )
    running = capacity.max_concurrent
    if running == 0:
        return []
    problems = []
    if quota.pods < running:
        problems.append(
            f"pipelines.maxConcurrent ({running}) is greater than the quota's pods ({quota.pods})"
        )
    if quota.jobs < running:
        problems.append(
            f"pipelines.maxConcurrent ({running}) is greater than the quota's jobs ({quota.jobs})"
        )
    for resource, default, total in (
        ("CPU", limits.default_cpu, quota.cpu),
        ("memory", limits.default_memory, quota.memory),
    ):
        if _q(default) * running > _q(total):
            problems.append(
                f"the quota's {resource} ({total}) cannot run pipelines.maxConcurrent ({running}) "
                f"pipelines at the default container {resource} ({default})"
            )
    return problems


def _network_problems(spec: TenantSpec, settings: RenderSettings | None) -> list[str]:
    protected = [(LINK_LOCAL_IPV4_RANGE, "the link-local range (cloud metadata)")]
    if settings is not None:
        protected += [(c, "the cluster's pod range") for c in settings.pod_cidrs]
        protected += [(c, "the cluster's service range") for c in settings.service_cidrs]
    problems = []
    for index, rule in enumerate(spec.network.allow_egress):
        try:
            allowed = ipaddress.ip_network(rule.cidr, strict=False)
        except ValueError:
            problems.append(f"network.allowEgress[{index}].cidr {rule.cidr!r} is not a CIDR")
            continue
        for cidr, what in protected:
            if allowed.overlaps(ipaddress.ip_network(cidr)):
                problems.append(
                    f"network.allowEgress[{index}].cidr {rule.cidr} overlaps {what} {cidr}"
                )
    return problems

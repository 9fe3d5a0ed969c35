"""Problems in a Tenant spec that the CRD schema cannot see.

The schema checks each field, and pairs of fields that are both set. What it cannot check is
the spec combined with the plan defaults (a ``limits.defaultCPU`` above the plan's ``maxCPU``)
or with the cluster (an egress range that opens the pod network). The operator reports these
as Ready=False instead of applying objects that would be rejected or would weaken isolation.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from decimal import Decimal

from ..model import TenantSpec
from ..quantities import parse_quantity
from .common import RenderSettings
from .tenant import LINK_LOCAL_IPV4_RANGE


@dataclass(frozen=True)
class AgentResources:
    """What the operator gives each agent container (PF_AGENT_CPU_LIMIT and friends), before
    the tenant's limits.maxCPU / maxMemory cap it (as render.job does)."""

    cpu_request: str = "250m"
    memory_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"


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
    cannot create its pod ("exceeded quota") until the stage times out."""
    quota, limits = spec.effective_quota(), spec.effective_limits()
    running = spec.effective_pipelines().max_concurrent
    if running == 0:
        return []
    problems = []
    for resource, mine, cap, total, setting in (
        ("CPU", agent.cpu_limit, limits.max_cpu, quota.cpu, "PF_AGENT_CPU_LIMIT"),
        ("memory", agent.memory_limit, limits.max_memory, quota.memory, "PF_AGENT_MEMORY_LIMIT"),
    ):
        each = min(_q(mine), _q(cap))
        if each * running > _q(total):
            shown = mine if _q(mine) <= _q(cap) else cap
            problems.append(
                f"agent pods get {shown} {resource} each ({setting}, capped by "
                f"limits.max{'CPU' if resource == 'CPU' else 'Memory'}); the quota's {resource} "
                f"({total}) cannot hold pipelines.maxConcurrent ({running}) of them at once: "
                f"raise quota.{'cpu' if resource == 'CPU' else 'memory'} or lower "
                f"pipelines.maxConcurrent"
            )
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

"""Desired objects of a tenant: its namespace and what isolates and bounds it.

``desired_objects(name, spec, settings)`` is the whole set; the per-object functions are public
for callers that reconcile one aspect at a time (each maps to one Tenant condition:
NamespaceReady, QuotaApplied, NetworkIsolated, AccessConfigured).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from ..model import Owner, OwnerKind, TenantSpec
from .common import (
    AGENT_SERVICE_ACCOUNT_NAME,
    ALLOW_EGRESS_POLICY_NAME,
    DEFAULT_DENY_POLICY_NAME,
    LIMIT_RANGE_NAME,
    OWNER_BINDING_PREFIX,
    OWNER_CLUSTER_ROLE_NAME,
    QUOTA_NAME,
    EgressEndpoint,
    Obj,
    RenderSettings,
    metadata,
)

#: Address ranges that the internet egress rule never reaches (RFC 1918 and link-local, which
#: holds the cloud metadata endpoint 169.254.169.254).
PRIVATE_IPV4_RANGES: tuple[str, ...] = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
LINK_LOCAL_IPV4_RANGE = "169.254.0.0/16"
INTERNET_EGRESS_PORT = 443

_PSA = "pod-security.kubernetes.io"


def desired_objects(
    tenant_name: str,
    spec: TenantSpec,
    settings: RenderSettings,
    *,
    figma_egress: Sequence[EgressEndpoint] = (),
) -> list[Obj]:
    """Every object the tenant should have, in the order to apply them (namespace first).

    ``figma_egress``: the endpoints of the tenant's Figma API URL (``figma_api_egress``).
    Owner references are not set: add them with ``with_owner``.
    """
    return [
        namespace(tenant_name, settings),
        agent_service_account(tenant_name, settings),
        resource_quota(tenant_name, spec, settings),
        limit_range(tenant_name, spec, settings),
        *network_policies(tenant_name, spec, settings, figma_egress=figma_egress),
        *owner_role_bindings(tenant_name, spec, settings),
    ]


# --- NamespaceReady --------------------------------------------------------------------------


def namespace(tenant_name: str, settings: RenderSettings) -> Obj:
    level, version = settings.pod_security_level, settings.pod_security_version
    psa = {
        f"{_PSA}/{mode}{suffix}": value
        for mode in ("enforce", "warn", "audit")
        for suffix, value in (("", level), ("-version", version))
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": metadata(settings.namespace_for(tenant_name), tenant_name, labels=psa),
    }


def agent_service_account(tenant_name: str, settings: RenderSettings) -> Obj:
    """The identity of the agent pods: no token, and no RBAC."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(
            AGENT_SERVICE_ACCOUNT_NAME, tenant_name, settings.namespace_for(tenant_name)
        ),
        "automountServiceAccountToken": False,
    }


# --- QuotaApplied ----------------------------------------------------------------------------


def resource_quota(tenant_name: str, spec: TenantSpec, settings: RenderSettings) -> Obj:
    quota = spec.effective_quota()
    hard = {
        "count/jobs.batch": str(quota.jobs),
        "limits.cpu": quota.cpu,
        "limits.memory": quota.memory,
        "pods": str(quota.pods),
        "requests.cpu": quota.cpu,
        "requests.memory": quota.memory,
    }
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": metadata(QUOTA_NAME, tenant_name, settings.namespace_for(tenant_name)),
        "spec": {"hard": hard},
    }


def limit_range(tenant_name: str, spec: TenantSpec, settings: RenderSettings) -> Obj:
    """Container defaults (request = limit) and maxima."""
    limits = spec.effective_limits()
    default = {"cpu": limits.default_cpu, "memory": limits.default_memory}
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": metadata(LIMIT_RANGE_NAME, tenant_name, settings.namespace_for(tenant_name)),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": dict(default),
                    "defaultRequest": dict(default),
                    "max": {"cpu": limits.max_cpu, "memory": limits.max_memory},
                }
            ]
        },
    }


# --- NetworkIsolated -------------------------------------------------------------------------


def network_policies(
    tenant_name: str,
    spec: TenantSpec,
    settings: RenderSettings,
    *,
    figma_egress: Sequence[EgressEndpoint] = (),
) -> list[Obj]:
    """Deny all ingress and egress, then allow DNS, the listed destinations, the Figma API
    endpoint (``figma_egress``) and HTTPS out."""
    ns = settings.namespace_for(tenant_name)
    deny_all = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(DEFAULT_DENY_POLICY_NAME, tenant_name, ns),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    allow_egress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(ALLOW_EGRESS_POLICY_NAME, tenant_name, ns),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": egress_rules(spec, settings, figma_egress=figma_egress),
        },
    }
    return [deny_all, allow_egress]


def egress_rules(
    spec: TenantSpec, settings: RenderSettings, *, figma_egress: Sequence[EgressEndpoint] = ()
) -> list[dict[str, Any]]:
    dns_peer = {
        "namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": settings.dns_namespace}
        }
    }
    rules: list[dict[str, Any]] = [
        {"to": [dns_peer], "ports": [_port("UDP", 53), _port("TCP", 53)]},
    ]
    for allowed in sorted(spec.network.allow_egress, key=lambda r: (r.cidr, r.ports)):
        rule: dict[str, Any] = {"to": [{"ipBlock": {"cidr": allowed.cidr}}]}
        if allowed.ports:
            rule["ports"] = [_port("TCP", p) for p in sorted(set(allowed.ports))]
        rules.append(rule)
    extra = {*settings.extra_egress, *figma_egress}
    for endpoint in sorted(extra, key=lambda e: (e.cidr, e.port, e.protocol)):
        rules.append(
            {
                "to": [{"ipBlock": {"cidr": endpoint.cidr}}],
                "ports": [_port(endpoint.protocol, endpoint.port)],
            }
        )
    if spec.network.allow_internet_egress:
        rules.append(
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": internet_exceptions(settings)}}],
                "ports": [_port("TCP", INTERNET_EGRESS_PORT)],
            }
        )
    return rules


def figma_api_host(url: str) -> tuple[str, int]:
    """(host, port) of a Figma API base URL (port 443 for https, 80 for http unless given).

    Raises ``ValueError`` for a URL without a host or with a bad port.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise ValueError(f"Figma API URL {url!r} has no host")
    return host, parts.port or (443 if parts.scheme == "https" else 80)


def figma_api_egress(
    url: str, addresses: Sequence[str], spec: TenantSpec, settings: RenderSettings
) -> list[EgressEndpoint]:
    """The egress endpoints a tenant's agent pods need to reach the Figma API at ``url``,
    whose host has ``addresses`` (an IP literal is its own address; the caller resolves names).

    An address the internet rule already reaches (public, port 443, internet egress allowed)
    needs no rule of its own; any other (a proxy or test server in a private range, another
    port) gets a /32 (/128) rule on the URL's port, and nothing else new.
    """
    _, port = figma_api_host(url)
    excluded = [ipaddress.ip_network(c) for c in internet_exceptions(settings)]
    out: list[EgressEndpoint] = []
    for raw in addresses:
        ip = ipaddress.ip_address(raw)
        covered = (
            spec.network.allow_internet_egress
            and port == INTERNET_EGRESS_PORT
            and ip.version == 4
            and not any(ip in net for net in excluded)
        )
        endpoint = EgressEndpoint(cidr=f"{ip}/{ip.max_prefixlen}", port=port)
        if not covered and endpoint not in out:
            out.append(endpoint)
    return out


def internet_exceptions(settings: RenderSettings) -> list[str]:
    """IPv4 ranges kept out of the internet egress rule, merged and sorted.

    The private ranges, link-local (cloud metadata) and the cluster's own pod and service
    ranges; a cluster range inside a private range merges into it.
    """
    networks = [
        ipaddress.IPv4Network(cidr)
        for cidr in (*PRIVATE_IPV4_RANGES, LINK_LOCAL_IPV4_RANGE, *settings.cluster_cidrs)
        if ipaddress.ip_network(cidr).version == 4
    ]
    return [str(n) for n in ipaddress.collapse_addresses(networks)]


def _port(protocol: str, port: int) -> dict[str, Any]:
    return {"protocol": protocol, "port": port}


# --- AccessConfigured ------------------------------------------------------------------------


def owner_binding_name(owner: Owner) -> str:
    """Stable name of an owner's RoleBinding: it does not change when the list is reordered."""
    identity = f"{owner.kind.value}/{owner.namespace or ''}/{owner.name}"
    return OWNER_BINDING_PREFIX + hashlib.sha256(identity.encode()).hexdigest()[:10]


def owner_subject(owner: Owner) -> dict[str, str]:
    if owner.kind is OwnerKind.SERVICE_ACCOUNT:
        return {"kind": "ServiceAccount", "name": owner.name, "namespace": owner.namespace or ""}
    return {"kind": owner.kind.value, "apiGroup": "rbac.authorization.k8s.io", "name": owner.name}


def owner_role_bindings(tenant_name: str, spec: TenantSpec, settings: RenderSettings) -> list[Obj]:
    """One RoleBinding per distinct owner to the ClusterRole pf-figma-tenant-owner, by name."""
    ns = settings.namespace_for(tenant_name)
    by_name = {owner_binding_name(owner): owner for owner in spec.owners}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": metadata(name, tenant_name, ns),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": OWNER_CLUSTER_ROLE_NAME,
            },
            "subjects": [owner_subject(owner)],
        }
        for name, owner in sorted(by_name.items())
    ]

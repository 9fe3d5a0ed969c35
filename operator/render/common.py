"""Shared pieces of the renderers: settings, names, labels, owner references."""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..constants import MANAGED_BY, MANAGED_BY_LABEL, TENANT_LABEL
from ..model import DEFAULT_NAMESPACE_PREFIX, namespace_for

#: A Kubernetes object as a plain JSON-ready dict.
Obj = dict[str, Any]

QUOTA_NAME = "pf-figma-quota"
LIMIT_RANGE_NAME = "pf-figma-limits"
DEFAULT_DENY_POLICY_NAME = "pf-figma-default-deny"
ALLOW_EGRESS_POLICY_NAME = "pf-figma-allow-egress"
AGENT_SERVICE_ACCOUNT_NAME = "pf-agent"
OWNER_CLUSTER_ROLE_NAME = "pf-figma-tenant-owner"
OWNER_BINDING_PREFIX = "pf-figma-owner-"


def _networks(cidrs: Sequence[str], what: str) -> tuple[str, ...]:
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            raise ValueError(f"{what}: {cidr!r} is not a CIDR without host bits") from exc
    return tuple(cidrs)


@dataclass(frozen=True)
class EgressEndpoint:
    """A destination every tenant may reach, e.g. the artifact database."""

    cidr: str
    port: int
    protocol: str = "TCP"

    def __post_init__(self) -> None:
        _networks([self.cidr], "egress endpoint")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"egress endpoint {self.cidr}: port {self.port} out of range")
        if self.protocol not in ("TCP", "UDP", "SCTP"):
            raise ValueError(f"egress endpoint {self.cidr}: unknown protocol {self.protocol!r}")


@dataclass(frozen=True)
class RenderSettings:
    """Cluster facts the renderers need (from the operator's settings).

    Sequences are stored as tuples, so instances are hashable and safe to share.
    """

    #: The cluster's pod address ranges, kept out of the internet egress rule.
    pod_cidrs: Sequence[str] = ()
    #: The cluster's service address ranges, kept out of the internet egress rule.
    service_cidrs: Sequence[str] = ()
    namespace_prefix: str = DEFAULT_NAMESPACE_PREFIX
    #: Destinations every tenant may reach besides DNS, e.g. the artifact database.
    extra_egress: Sequence[EgressEndpoint] = ()
    #: Namespace of the cluster DNS service.
    dns_namespace: str = "kube-system"
    #: Pod Security Standard enforced in tenant namespaces.
    pod_security_level: str = "restricted"
    pod_security_version: str = "latest"

    def __post_init__(self) -> None:
        object.__setattr__(self, "pod_cidrs", _networks(self.pod_cidrs, "pod CIDR"))
        object.__setattr__(self, "service_cidrs", _networks(self.service_cidrs, "service CIDR"))
        object.__setattr__(self, "extra_egress", tuple(self.extra_egress))

    @property
    def cluster_cidrs(self) -> tuple[str, ...]:
        return (*self.pod_cidrs, *self.service_cidrs)

    def namespace_for(self, tenant_name: str) -> str:
        return namespace_for(tenant_name, self.namespace_prefix)


@dataclass(frozen=True)
class ObjectKey:
    """Identity of an object: enough to get, patch or delete it."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = field(default=None)


def object_key(obj: Mapping[str, Any]) -> ObjectKey:
    metadata = obj["metadata"]
    return ObjectKey(obj["apiVersion"], obj["kind"], metadata["name"], metadata.get("namespace"))


def tenant_labels(tenant_name: str) -> dict[str, str]:
    """Labels of every object the operator makes for a tenant."""
    return {MANAGED_BY_LABEL: MANAGED_BY, TENANT_LABEL: tenant_name}


def tenant_selector(tenant_name: str) -> str:
    """Label selector of everything the operator made for a tenant (to find stale objects)."""
    return f"{MANAGED_BY_LABEL}={MANAGED_BY},{TENANT_LABEL}={tenant_name}"


def metadata(
    name: str,
    tenant_name: str,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Metadata of an object made for a tenant: the tenant labels plus ``labels``."""
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = {**tenant_labels(tenant_name), **(labels or {})}
    return meta


def owner_reference(
    api_version: str,
    kind: str,
    name: str,
    uid: str,
    *,
    controller: bool = True,
    block_owner_deletion: bool = True,
) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": controller,
        "blockOwnerDeletion": block_owner_deletion,
    }


def with_owner(obj: Mapping[str, Any], owner_ref: Mapping[str, Any]) -> Obj:
    """A deep copy of ``obj`` with ``owner_ref`` among its ownerReferences.

    A reference with the same uid is replaced; other references are kept.
    """
    result: Obj = copy.deepcopy(dict(obj))
    meta = result.setdefault("metadata", {})
    others = [r for r in meta.get("ownerReferences", []) if r.get("uid") != owner_ref.get("uid")]
    meta["ownerReferences"] = [*others, dict(owner_ref)]
    return result

"""An index over the cache: which Tenant each DesignPipeline belongs to (a field indexer).

The manager feeds it every DesignPipeline event before the controllers see the event; the
Tenant controller reads a tenant's pipeline counts from it, the admission controller a
pipeline's tenant, the metrics collector all of it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from .constants import TENANT_LABEL
from .model import PIPELINE_KIND
from .ports import CacheReader

STATES = ("running", "queued", "succeeded", "failed")


def classify(status: dict[str, Any]) -> str:
    """Pure: a pipeline's state as a tenant counts it: running, queued, succeeded or failed."""
    if status.get("completionTime"):
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Succeeded":
                return "succeeded" if cond.get("status") == "True" else "failed"
        return "failed"
    return "running" if status.get("startTime") else "queued"


def unowned(namespace: str) -> str:
    """The stand-in tenant of pipelines in a namespace that belongs to no Tenant."""
    return f"<none:{namespace}>"


class PipelineIndex:
    """Pipeline key (``namespace/name``) <-> tenant, over the cache ``cache``.

    A namespace's tenant is its ``pffigma.dev/tenant`` label (cached Namespace), else its name
    without ``namespace_prefix``; pipelines of other namespaces count under ``<none:NS>``.
    """

    def __init__(self, cache: CacheReader, namespace_prefix: str) -> None:
        self.cache = cache
        self.prefix = namespace_prefix
        self._by_tenant: dict[str, set[str]] = defaultdict(set)
        self._tenant_of: dict[str, str] = {}

    def tenant_for_namespace(self, namespace: str) -> str | None:
        ns = self.cache.get("Namespace", namespace)
        if ns is not None:
            tenant = (ns["metadata"].get("labels") or {}).get(TENANT_LABEL)
            if tenant:
                return str(tenant)
        if namespace.startswith(self.prefix):
            return namespace[len(self.prefix) :]
        return None

    def observe(self, obj: dict[str, Any], *, deleted: bool) -> None:
        meta = obj["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        if deleted:
            tenant = self._tenant_of.pop(key, None)
            if tenant is not None:
                self._by_tenant[tenant].discard(key)
            return
        tenant = self.tenant_for_namespace(meta["namespace"]) or unowned(meta["namespace"])
        previous = self._tenant_of.get(key)
        if previous != tenant:
            if previous is not None:
                self._by_tenant[previous].discard(key)
            self._by_tenant[tenant].add(key)
            self._tenant_of[key] = tenant

    def tenant_of(self, key: str) -> str | None:
        """The tenant (or ``<none:NS>``) of a pipeline seen and not deleted; else None."""
        return self._tenant_of.get(key)

    def counts(self, tenant: str) -> dict[str, int]:
        """The tenant's pipelines by state (status.pipelines of the Tenant)."""
        counts = dict.fromkeys(STATES, 0)
        for state in self._states(self._by_tenant.get(tenant, ())):
            counts[state] += 1
        return counts

    def states(self) -> Iterator[tuple[str, str]]:
        """(tenant, state) of every indexed pipeline (for the metrics)."""
        for tenant, keys in list(self._by_tenant.items()):
            for state in self._states(keys):
                yield tenant, state

    def _states(self, keys: Any) -> Iterator[str]:
        for key in list(keys):
            ns, name = key.split("/", 1)
            body = self.cache.get(PIPELINE_KIND, name, ns)
            if body is not None:
                yield classify(body.get("status") or {})

"""kopf handlers: thin. Each watch event goes into the runtime's cache and work queues.

Raw event handlers keep kopf from writing progress annotations or finalizers: the reconcilers
are level-based and own every write (see pf_operator.runtime).
"""

from __future__ import annotations

from typing import Any

import kopf

from ..constants import MANAGED_BY, MANAGED_BY_LABEL
from ..model import GROUP, PIPELINE_PLURAL, TENANT_PLURAL, VERSION

MANAGED = {MANAGED_BY_LABEL: MANAGED_BY}


def register(registry: kopf.OperatorRegistry, *, configmaps: bool = False) -> None:
    """Register the watch handlers on `registry`; the runtime is in kopf's memo."""

    def forward(kind: str) -> Any:
        async def handler(event: dict[str, Any], memo: kopf.Memo, **_: Any) -> None:
            memo["runtime"].observe(kind, event)

        handler.__name__ = f"observe_{kind.lower()}"
        return handler

    on = kopf.on
    on.event(GROUP, VERSION, TENANT_PLURAL, registry=registry)(forward("Tenant"))
    on.event(GROUP, VERSION, PIPELINE_PLURAL, registry=registry)(forward("DesignPipeline"))
    on.event("batch", "v1", "jobs", labels=MANAGED, registry=registry)(forward("Job"))
    # agent pods: why one failed or cannot start (OOMKilled, image, missing Secret, eviction)
    on.event("v1", "pods", labels=MANAGED, registry=registry)(forward("Pod"))
    for resource, kind in (
        (("v1", "namespaces"), "Namespace"),
        (("v1", "resourcequotas"), "ResourceQuota"),
        (("v1", "limitranges"), "LimitRange"),
        (("v1", "serviceaccounts"), "ServiceAccount"),
        (("networking.k8s.io", "v1", "networkpolicies"), "NetworkPolicy"),
        (("rbac.authorization.k8s.io", "v1", "rolebindings"), "RoleBinding"),
    ):
        on.event(*resource, labels=MANAGED, registry=registry)(forward(kind))

    if configmaps:  # the tenants' copy of the CA bundle (only with PF_CA_BUNDLE_FILE)
        on.event("v1", "configmaps", labels=MANAGED, registry=registry)(forward("ConfigMap"))

    @on.login(registry=registry)
    def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
        """kopf's watches use the same credentials as the runtime's API client."""
        creds = memo["runtime"].kube.creds
        token = creds.token
        if token is None and creds.token_file:
            with open(creds.token_file) as fh:
                token = fh.read().strip()
        return kopf.ConnectionInfo(
            server=creds.server,
            ca_path=creds.ca_file,
            insecure=creds.insecure,
            token=token,
            certificate_path=creds.cert_file,
            private_key_path=creds.key_file,
        )

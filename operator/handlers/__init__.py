"""The watch source: kopf's watch streams, feeding every event to the manager. Thin.

Raw event handlers keep kopf from writing progress annotations or finalizers: the controllers
are level-based and own every write (see pf_operator.manager).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import kopf

from ..kube import Credentials
from ..model import GROUP, PIPELINE_KIND, PIPELINE_PLURAL, TENANT_KIND, TENANT_PLURAL, VERSION

#: kind -> (group, version, plural) of everything a controller may watch ("" : the core group)
RESOURCES: dict[str, tuple[str, str, str]] = {
    TENANT_KIND: (GROUP, VERSION, TENANT_PLURAL),
    PIPELINE_KIND: (GROUP, VERSION, PIPELINE_PLURAL),
    "Job": ("batch", "v1", "jobs"),
    "Pod": ("", "v1", "pods"),
    "Namespace": ("", "v1", "namespaces"),
    "ResourceQuota": ("", "v1", "resourcequotas"),
    "LimitRange": ("", "v1", "limitranges"),
    "ServiceAccount": ("", "v1", "serviceaccounts"),
    "ConfigMap": ("", "v1", "configmaps"),
    "NetworkPolicy": ("networking.k8s.io", "v1", "networkpolicies"),
    "RoleBinding": ("rbac.authorization.k8s.io", "v1", "rolebindings"),
}


def selector_labels(selector: str | None) -> dict[str, str] | None:
    """Pure: ``a=b,c=d`` -> ``{"a": "b", "c": "d"}`` (equality selectors only); None -> None.

    Raises ValueError for other selector forms (kopf filters on exact label values)."""
    if not selector:
        return None
    labels = {}
    for term in selector.split(","):
        key, sep, value = term.partition("=")
        if not sep or not key.strip() or value.startswith("="):
            raise ValueError(f"label selector {selector!r}: only key=value terms are supported")
        labels[key.strip()] = value.strip()
    return labels


def register(
    registry: kopf.OperatorRegistry,
    watches: Mapping[str, str | None],
    observe: Callable[[str, dict[str, Any]], None],
    credentials: Credentials,
) -> None:
    """Register one raw event handler per watched kind (``watches``: kind -> label selector)
    calling ``observe(kind, event)``, and the login with ``credentials``."""

    def forward(kind: str) -> Any:
        async def handler(event: dict[str, Any], **_: Any) -> None:
            observe(kind, event)

        handler.__name__ = f"observe_{kind.lower()}"
        return handler

    for kind, selector in watches.items():
        group, version, plural = RESOURCES[kind]
        resource = (group, version, plural) if group else (version, plural)
        labels = selector_labels(selector)
        kopf.on.event(*resource, labels=labels, registry=registry)(forward(kind))

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        """kopf's watches use the same credentials as the manager's API client."""
        token = credentials.token
        if token is None and credentials.token_file:
            with open(credentials.token_file) as fh:
                token = fh.read().strip()
        return kopf.ConnectionInfo(
            server=credentials.server,
            ca_path=credentials.ca_file,
            insecure=credentials.insecure,
            token=token,
            certificate_path=credentials.cert_file,
            private_key_path=credentials.key_file,
        )

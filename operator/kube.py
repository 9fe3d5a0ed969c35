"""The one place that talks to the Kubernetes API.

A small async client on aiohttp (kopf's own HTTP stack; httpx's connection pool cost more CPU
than everything else in the operator under load): server-side apply, create, get, list, delete,
status patches and Events. kopf owns the watch streams; this module owns every write.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from . import kubeconfig as kubeconfig_file
from .events import EventCorrelator, event_key, event_name
from .metrics import API_WRITES
from .times import format_micro_time

FIELD_MANAGER = "pf-figma"

# kind -> (api prefix, plural, namespaced)
_RESOURCES: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("api/v1", "namespaces", False),
    "ServiceAccount": ("api/v1", "serviceaccounts", True),
    "ResourceQuota": ("api/v1", "resourcequotas", True),
    "LimitRange": ("api/v1", "limitranges", True),
    "Pod": ("api/v1", "pods", True),
    "Secret": ("api/v1", "secrets", True),
    "ConfigMap": ("api/v1", "configmaps", True),
    "Service": ("api/v1", "services", True),
    "Event": ("api/v1", "events", True),
    "NetworkPolicy": ("apis/networking.k8s.io/v1", "networkpolicies", True),
    "Role": ("apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRole": ("apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Job": ("apis/batch/v1", "jobs", True),
    "Lease": ("apis/coordination.k8s.io/v1", "leases", True),
    "CustomResourceDefinition": (
        "apis/apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        False,
    ),
    "SubjectAccessReview": ("apis/authorization.k8s.io/v1", "subjectaccessreviews", False),
    # queueing: kueue (render/kueue.py)
    "ClusterQueue": ("apis/kueue.x-k8s.io/v1beta2", "clusterqueues", False),
    "LocalQueue": ("apis/kueue.x-k8s.io/v1beta2", "localqueues", True),
    "ResourceFlavor": ("apis/kueue.x-k8s.io/v1beta2", "resourceflavors", False),
    "WorkloadPriorityClass": ("apis/kueue.x-k8s.io/v1beta2", "workloadpriorityclasses", False),
    "Workload": ("apis/kueue.x-k8s.io/v1beta2", "workloads", True),
    "Tenant": ("apis/pffigma.dev/v1alpha1", "tenants", False),
    "DesignPipeline": ("apis/pffigma.dev/v1alpha1", "designpipelines", True),
}


class ApiError(Exception):
    """A non-2xx answer from the API server, with its Status reason and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def retryable(self) -> bool:
        return self.status in (409, 429) or self.status >= 500


def deleted_while_reconciling(
    err: ApiError, current: Mapping[str, Any] | None, uid: str | None
) -> bool:
    """Pure: a 404 during a reconcile means the object is gone (or being deleted, or replaced
    by another of the same name), not that something failed."""
    if not err.not_found:
        return False
    if current is None:
        return True
    meta = current.get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) or (uid is not None and meta.get("uid") != uid)


@dataclass(frozen=True)
class Credentials:
    server: str
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    token_file: str | None
    token: str | None
    insecure: bool = False


def load_credentials(kubeconfig: str | None = None) -> Credentials:
    """In-cluster credentials when running in a pod, else the kubeconfig's current context."""
    token_path = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    if (
        kubeconfig is None
        and os.environ.get("KUBERNETES_SERVICE_HOST")
        and os.path.exists(token_path)
    ):
        host = os.environ["KUBERNETES_SERVICE_HOST"]
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if ":" in host:
            host = f"[{host}]"
        return Credentials(
            server=f"https://{host}:{port}",
            ca_file="/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
            cert_file=None,
            key_file=None,
            token_file=token_path,
            token=None,
        )
    cfg = kubeconfig_file.load(kubeconfig)
    return Credentials(
        server=cfg["server"],
        ca_file=cfg["ca_file"],
        cert_file=cfg["cert_file"],
        key_file=cfg["key_file"],
        token_file=cfg["token_file"],
        token=cfg["token"],
        insecure=cfg["insecure"],
    )


def api_resource(path: str) -> str:
    """The resource (and subresource) a request path addresses, e.g. ``jobs`` or
    ``designpipelines/status``: a bounded label for the write counter."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    if not rest:
        return ""
    return f"{rest[0]}/{rest[2]}" if len(rest) >= 3 else rest[0]


def resource_path(kind: str, namespace: str | None = None, name: str | None = None) -> str:
    try:
        prefix, plural, namespaced = _RESOURCES[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}") from None
    path = f"/{prefix}"
    if namespaced and namespace:
        path += f"/namespaces/{quote(namespace)}"
    path += f"/{plural}"
    if name:
        path += f"/{quote(name)}"
    return path


def object_path(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return resource_path(obj["kind"], meta.get("namespace"), meta["name"])


class Kube:
    """Async Kubernetes API client (one per process)."""

    def __init__(self, creds: Credentials, *, max_connections: int = 64) -> None:
        self.creds = creds
        ctx = ssl.create_default_context(cafile=creds.ca_file) if creds.ca_file else None
        if ctx is None:
            ctx = ssl.create_default_context()
        if creds.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if creds.cert_file and creds.key_file:
            ctx.load_cert_chain(creds.cert_file, creds.key_file)
        self._ssl = ctx
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self.server = creds.server
        self._token: tuple[float, str] | None = None
        self.events = EventCorrelator()

    @classmethod
    def from_environment(cls, kubeconfig: str | None = None) -> Kube:
        return cls(load_credentials(kubeconfig))

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP session (created on first use, inside the running event loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=self._max_connections),
                timeout=aiohttp.ClientTimeout(total=60, sock_connect=5),
                headers={"Accept": "application/json", "User-Agent": "pf-figma-operator"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _auth(self) -> dict[str, str]:
        if self.creds.token:
            return {"Authorization": f"Bearer {self.creds.token}"}
        if self.creds.token_file:
            now = asyncio.get_running_loop().time()
            if self._token is None or now - self._token[0] > 60:
                with open(self.creds.token_file) as fh:
                    self._token = (now, fh.read().strip())
            return {"Authorization": f"Bearer {self._token[1]}"}
        return {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> Any:
        headers = self._auth()
        content = None
        if body is not None:
            headers["Content-Type"] = content_type
            content = json.dumps(body, separators=(",", ":")).encode()
        if method != "GET":
            API_WRITES.labels(method, api_resource(path)).inc()
        async with self.session.request(
            method, self.server + path, data=content, params=params, headers=headers
        ) as response:
            payload = await response.read()
            if response.status >= 400:
                reason, message = response.reason or "", payload.decode(errors="replace")
                try:
                    status = json.loads(payload)
                    reason = status.get("reason") or reason
                    message = status.get("message") or message
                except ValueError:
                    pass
                raise ApiError(response.status, reason, message)
        if not payload:
            return None
        return json.loads(payload)

    # --- verbs --------------------------------------------------------------------------

    async def apply(
        self, obj: Mapping[str, Any], *, force: bool = True, field_manager: str = FIELD_MANAGER
    ) -> dict[str, Any]:
        """Server-side apply of a complete object (one field manager for all of pf-figma)."""
        params = {"fieldManager": field_manager, "force": "true" if force else "false"}
        result: dict[str, Any] = await self.request(
            "PATCH",
            object_path(obj),
            body=obj,
            content_type="application/apply-patch+yaml",
            params=params,
        )
        return result

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        path = resource_path(obj["kind"], meta.get("namespace"))
        result: dict[str, Any] = await self.request(
            "POST", path, body=obj, params={"fieldManager": FIELD_MANAGER}
        )
        return result

    async def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", resource_path(kind, namespace, name))
        return result

    async def get_or_none(
        self, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        try:
            return await self.get(kind, name, namespace)
        except ApiError as err:
            if err.not_found:
                return None
            raise

    async def pages(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        page_size: int = 500,
        field_selector: str | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """All objects of a kind, one page at a time (large collections neither time out nor
        have to be held in memory at once)."""
        params: dict[str, str] = {"limit": str(page_size)}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        while True:
            result = await self.request("GET", resource_path(kind, namespace), params=params)
            api_version = result.get("apiVersion")
            items = result.get("items") or []
            for item in items:  # list items carry no kind/apiVersion
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", api_version)
            yield items
            token = (result.get("metadata") or {}).get("continue")
            if not token:
                return
            params["continue"] = token

    async def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        page_size: int = 500,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """All objects of a kind (paginated, so large collections do not time out)."""
        pages = self.pages(
            kind,
            namespace,
            label_selector=label_selector,
            page_size=page_size,
            field_selector=field_selector,
        )
        return [item async for page in pages for item in page]

    async def delete(
        self,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
        uid: str | None = None,
        missing_ok: bool = True,
    ) -> None:
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": propagation,
        }
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            await self.request("DELETE", resource_path(kind, namespace, name), body=body)
        except ApiError as err:
            if not (missing_ok and err.not_found):
                raise

    async def patch(
        self,
        kind: str,
        name: str,
        namespace: str | None,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],  # a list for patch_type="json"
        *,
        subresource: str | None = None,
        patch_type: str = "merge",
    ) -> dict[str, Any]:
        path = resource_path(kind, namespace, name)
        if subresource:
            path += f"/{subresource}"
        content_type = {
            "merge": "application/merge-patch+json",
            "json": "application/json-patch+json",
            "strategic": "application/strategic-merge-patch+json",
        }[patch_type]
        result: dict[str, Any] = await self.request(
            "PATCH",
            path,
            body=patch,
            content_type=content_type,
            params={"fieldManager": FIELD_MANAGER},
        )
        return result

    async def patch_status(
        self, kind: str, name: str, namespace: str | None, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        return await self.patch(kind, name, namespace, {"status": status}, subresource="status")

    async def event(
        self,
        regarding: Mapping[str, Any],
        *,
        type_: str,
        reason: str,
        message: str,
        component: str = "pf-figma-operator",
    ) -> None:
        """Record a core/v1 Event about an object (best effort: never fails the caller).

        A repeat (same object, type, reason and message within 10 minutes) is counted into
        the Event already written, as Kubernetes' own recorder does (see events.py)."""
        meta = regarding["metadata"]
        namespace = meta.get("namespace") or "default"
        now = format_micro_time(datetime.now(UTC))
        message = message[:1024]
        key = event_key(
            meta.get("uid"), regarding.get("kind"), namespace, meta["name"], type_, reason, message
        )
        clock = time.monotonic()
        seen = self.events.repeat(key, clock)
        if seen is not None:
            try:
                await self.patch(
                    "Event",
                    seen.name,
                    seen.namespace,
                    {"count": seen.count, "lastTimestamp": now},
                )
                return
            except ApiError as err:
                self.events.forget(key)
                if not err.not_found:  # expired (events have a TTL): write it anew
                    return
            except (aiohttp.ClientError, TimeoutError):
                self.events.forget(key)
                return
        name = event_name(meta["name"], time.time_ns())
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": regarding.get("apiVersion"),
                "kind": regarding.get("kind"),
                "name": meta["name"],
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": type_,
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": os.environ.get("HOSTNAME", "local"),
            "firstTimestamp": now,
            "lastTimestamp": now,
            "eventTime": None,
            "count": 1,
        }
        try:
            await self.request("POST", resource_path("Event", namespace), body=event)
        except (ApiError, aiohttp.ClientError, TimeoutError):
            return
        self.events.written(key, namespace, name, now, clock)

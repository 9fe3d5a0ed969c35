"""In-memory doubles of the controllers' ports (pf_operator.ports), for fast decision tests.

The cache is the real one (cache.Store, pure and in memory) and so is the pipeline index; the
API client, the work queues and the database are doubles that record what a controller did.
Every behaviour tested with them is also proven on a real cluster (tests/integration).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pf_operator.cache import Store, keep
from pf_operator.flow import Admission
from pf_operator.index import PipelineIndex
from pf_operator.kube import ApiError
from pf_operator.ports import Event

Obj = dict[str, Any]
NOW = "2026-12-07T18:00:00Z"


def _ns(namespace: str | None) -> str:
    return namespace or ""


@dataclass
class FakeClient:
    """The API: objects by (kind, namespace, name); every write and Event is recorded.

    ``fail[(verb, kind)]``: an ApiError the next such call raises (once)."""

    objects: dict[tuple[str, str, str], Obj] = field(default_factory=dict)
    writes: list[tuple[str, str, str]] = field(default_factory=list)  # (verb, kind, ns/name)
    events: list[tuple[str, str, str, str]] = field(
        default_factory=list
    )  # (obj, type, reason, msg)
    statuses: list[tuple[str, str, Obj]] = field(default_factory=list)  # (kind, ns/name, patch)
    fail: dict[tuple[str, str], ApiError] = field(default_factory=dict)
    _uids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _rv: itertools.count[int] = field(default_factory=lambda: itertools.count(100))

    # --- setup and inspection -------------------------------------------------------------

    def put(self, obj: Obj) -> Obj:
        """Store ``obj`` as the API would (uid, resourceVersion, creationTimestamp)."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(self._uids)}")
        meta.setdefault("creationTimestamp", NOW)
        meta["resourceVersion"] = str(next(self._rv))
        self.objects[(obj["kind"], _ns(meta.get("namespace")), meta["name"])] = obj
        return copy.deepcopy(obj)

    def written(self, verb: str | None = None, kind: str | None = None) -> list[str]:
        """``kind ns/name`` (or ``ns/name`` with ``kind``) of the writes made, in order."""
        return [
            (name if kind else f"{k} {name}")
            for v, k, name in self.writes
            if (verb is None or v == verb) and (kind is None or k == kind)
        ]

    def reasons(self) -> list[str]:
        return [reason for _, _, reason, _ in self.events]

    def _raise(self, verb: str, kind: str) -> None:
        err = self.fail.pop((verb, kind), None)
        if err is not None:
            raise err

    def _record(self, verb: str, kind: str, namespace: str | None, name: str) -> None:
        self.writes.append((verb, kind, f"{namespace}/{name}" if namespace else name))

    # --- the Client port -------------------------------------------------------------------

    async def apply(self, obj: Mapping[str, Any]) -> Obj:
        kind, meta = obj["kind"], obj["metadata"]
        self._raise("apply", kind)
        self._record("apply", kind, meta.get("namespace"), meta["name"])
        live = self.objects.get((kind, _ns(meta.get("namespace")), meta["name"]))
        merged = copy.deepcopy(dict(obj))
        if live is not None:
            merged["metadata"] = {**live["metadata"], **merged["metadata"]}
            merged["metadata"].pop("resourceVersion", None)
        return self.put(merged)

    async def create(self, obj: Mapping[str, Any]) -> Obj:
        kind, meta = obj["kind"], obj["metadata"]
        self._raise("create", kind)
        if (kind, _ns(meta.get("namespace")), meta["name"]) in self.objects:
            raise ApiError(409, "AlreadyExists", f"{kind} {meta['name']} already exists")
        self._record("create", kind, meta.get("namespace"), meta["name"])
        return self.put(dict(obj))

    async def get_or_none(self, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        self._raise("get", kind)
        obj = self.objects.get((kind, _ns(namespace), name))
        return copy.deepcopy(obj) if obj is not None else None

    async def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]:
        found = []
        for (k, ns, _), obj in sorted(self.objects.items()):
            if k != kind or (namespace is not None and ns != namespace):
                continue
            if label_selector and not _matches(obj["metadata"].get("labels") or {}, label_selector):
                continue
            if field_selector and not _matches_fields(obj, field_selector):
                continue
            found.append(copy.deepcopy(obj))
        return found

    async def pages(
        self, kind: str, *, label_selector: str | None = None
    ) -> AsyncIterator[list[Obj]]:
        yield await self.list(kind, label_selector=label_selector)

    async def delete(
        self,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
        uid: str | None = None,
    ) -> None:
        self._raise("delete", kind)
        self._record("delete", kind, namespace, name)
        self.objects.pop((kind, _ns(namespace), name), None)

    async def patch(
        self,
        kind: str,
        name: str,
        namespace: str | None,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        patch_type: str = "merge",
    ) -> Obj:
        self._raise("patch", kind)
        self._record("patch", kind, namespace, name)
        obj = self.objects[(kind, _ns(namespace), name)]
        return self.put(obj)

    async def patch_status(
        self, kind: str, name: str, namespace: str | None, status: Mapping[str, Any]
    ) -> Obj:
        self._raise("patch_status", kind)
        key = (kind, _ns(namespace), name)
        if key not in self.objects:
            raise ApiError(404, "NotFound", f"{kind} {name} not found")
        self._record("patch_status", kind, namespace, name)
        self.statuses.append((kind, f"{namespace}/{name}" if namespace else name, dict(status)))
        obj = self.objects[key]
        merged = dict(obj.get("status") or {})
        for k, v in status.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = copy.deepcopy(v)
        obj["status"] = merged
        return self.put(obj)

    async def event(
        self, regarding: Mapping[str, Any], *, type_: str, reason: str, message: str
    ) -> None:
        meta = regarding["metadata"]
        name = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
        self.events.append((name, type_, reason, message))


def _matches(labels: Mapping[str, str], selector: str) -> bool:
    return all(labels.get(k) == v for k, _, v in (t.partition("=") for t in selector.split(",")))


def _matches_fields(obj: Obj, selector: str) -> bool:
    for term in selector.split(","):
        path, _, value = term.partition("=")
        node: Any = obj
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node != value:
            return False
    return True


@dataclass
class FakeQueue:
    """A work queue that records the keys put into it (with their delay)."""

    added: list[tuple[str, float]] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)

    def add(self, key: str) -> None:
        self.added.append((key, 0.0))

    def add_after(self, key: str, seconds: float) -> None:
        self.added.append((key, seconds))

    def discard(self, key: str) -> None:
        self.discarded.append(key)

    def keys(self) -> list[str]:
        return [key for key, _ in self.added]

    def take(self) -> list[str]:
        """The keys added since the last take (deduplicated, in order)."""
        keys = list(dict.fromkeys(self.keys()))
        self.added.clear()
        return keys

    def __len__(self) -> int:
        return len(self.added)


@dataclass
class FakeDatabase:
    """The database ports: the tenants' roles and the pipelines' history, in memory.

    ``down``: the async calls raise ConnectionError, as DataStore does while PostgreSQL is."""

    down: bool = False
    roles: set[str] = field(default_factory=set)
    rotated: set[str] = field(default_factory=set)  # tenants whose Secret is written anew
    records: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    spent: dict[str, float] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    bytes_stored: dict[str, int] = field(default_factory=dict)
    artifacts: dict[str, list[Any]] = field(default_factory=dict)

    async def tenant_secret(
        self, tenant: str, namespace: str, tenant_body: Obj, live_secret: Obj | None
    ) -> Obj | None:
        if self.down:
            raise ConnectionError("database is down")
        if live_secret is not None and tenant in self.roles and tenant not in self.rotated:
            return None
        self.roles.add(tenant)
        self.rotated.discard(tenant)
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "pf-figma-db", "namespace": namespace},
            "stringData": {"password": "not-a-real-one"},
        }

    async def drop_tenant(self, tenant: str, *, purge_artifacts: bool = True) -> bool:
        if self.down:
            raise ConnectionError("database is down")
        self.dropped.append(tenant)
        return self.roles.discard(tenant) is None

    async def drop_orphans(self, existing: set[str]) -> list[str]:
        gone = sorted(self.roles - existing)
        self.roles -= set(gone)
        return gone

    def stored_bytes(self, tenant: str) -> int | None:
        return self.bytes_stored.get(tenant)

    def record_pipeline(
        self,
        tenant: str,
        body: Obj,
        status: Obj,
        stage_finished: Sequence[tuple[str, str, float, Any]] = (),
        events: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        self.records.append((tenant, body["metadata"]["name"], tuple(r for _, r, _ in events)))

    def spent_this_month(self, tenant: str) -> float | None:
        return self.spent.get(tenant)

    async def pipeline_artifacts(self, pipeline_key: str) -> Sequence[Any]:
        return self.artifacts.get(pipeline_key, [])

    async def read_artifact(self, uri: str) -> bytes:
        return b""


@dataclass
class FakeAdmission:
    """The admission controller's verdicts as the pipeline controller reads them."""

    admitted_keys: set[str] = field(default_factory=set)
    positions: dict[str, int] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    rejected_keys: dict[str, str] = field(default_factory=dict)
    freed: list[str] = field(default_factory=list)

    def admitted(self, key: str) -> bool:
        return key in self.admitted_keys

    def rejected(self, key: str) -> str | None:
        return self.rejected_keys.get(key)

    def verdict(self, key: str) -> Admission:
        return Admission(
            admitted=key in self.admitted_keys,
            position=self.positions.get(key),
            blocked=self.blocked.get(key),
            rejected=self.rejected_keys.get(key),
        )

    def finished(self, key: str) -> None:
        self.freed.append(key)
        self.admitted_keys.discard(key)


def cache() -> Store:
    """The real cache, as the manager makes it, already primed."""
    store = Store(keep=keep)
    store.synced = True
    return store


def index(store: Store, prefix: str = "tenant-") -> PipelineIndex:
    return PipelineIndex(store, prefix)


def tenant_body(name: str, uid: str | None = None, generation: int = 1, **spec: Any) -> Obj:
    return {
        "apiVersion": "pffigma.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {
            "name": name,
            "uid": uid or f"tenant-uid-{name}",
            "generation": generation,
            "resourceVersion": "1",
            "creationTimestamp": NOW,
        },
        "spec": {"plan": "enterprise", **spec},
    }


def pipeline_body(
    name: str,
    namespace: str,
    *,
    uid: str | None = None,
    generation: int = 1,
    status: Obj | None = None,
    created: str | None = None,
    **spec: Any,
) -> Obj:
    body: Obj = {
        "apiVersion": "pffigma.dev/v1alpha1",
        "kind": "DesignPipeline",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid or f"uid-{namespace}-{name}",
            "generation": generation,
            "resourceVersion": "1",
            "creationTimestamp": created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "spec": {
            "source": {"configMapRef": {"name": "design", "key": "file.json"}},
            "stages": ["analyze", "generate", "test"],
            **spec,
        },
    }
    if status is not None:
        body["status"] = status
    return body


def event(obj: Obj, type_: str | None = "ADDED") -> Event:
    return Event(type_, obj)

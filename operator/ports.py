"""The narrow ports a controller is handed by the manager (see manager.py), and what it declares.

A controller never sees the manager: it gets a cache reader (its own writes go back into the
cache too), the API client, its work queue and, when a database is configured, the database
writer: each as one of the small ``typing.Protocol`` s below, so a unit test hands it in-memory
fakes (tests/unit/fakes.py) and the operator hands it the real ``cache.Store``, ``kube.Kube``,
``workqueue.WorkQueue`` and ``store.service.DataStore``.

A controller declares what it watches as :class:`Watch` es: a kind, and how one watch event of
that kind maps to keys of its queue (:class:`Request`, optionally delayed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from .flow import Admission

Obj = dict[str, Any]


# --- what a controller is handed ---------------------------------------------------------------


class CacheReader(Protocol):
    """The informer cache (cache.Store): objects by kind, name and namespace ("" if cluster
    scoped), filled by one LIST per kind at start and the watch streams after it."""

    #: True once every watched kind was listed: a miss then means the object does not exist
    synced: bool

    def get(self, kind: str, name: str, namespace: str = "") -> Obj | None: ...

    def all(self, kind: str) -> Iterable[Obj]: ...

    def by_label(self, kind: str, label: str, value: str) -> list[Obj]: ...


class Cache(CacheReader, Protocol):
    """The cache, plus the controller's own writes: the API's answer to a write goes into the
    cache at once, so the next pass sees it before the watch event arrives."""

    def upsert(self, kind: str, obj: Obj) -> bool: ...

    def delete(self, kind: str, obj: Obj) -> None: ...


class Client(Protocol):
    """The Kubernetes API client (kube.Kube). Errors: kube.ApiError (status, reason)."""

    async def apply(self, obj: Mapping[str, Any]) -> Obj: ...

    async def create(self, obj: Mapping[str, Any]) -> Obj: ...

    async def get_or_none(
        self, kind: str, name: str, namespace: str | None = None
    ) -> Obj | None: ...

    async def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]: ...

    async def delete(
        self,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
        uid: str | None = None,
    ) -> None: ...

    async def patch(
        self,
        kind: str,
        name: str,
        namespace: str | None,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        patch_type: str = "merge",
    ) -> Obj: ...

    async def patch_status(
        self, kind: str, name: str, namespace: str | None, status: Mapping[str, Any]
    ) -> Obj: ...

    async def event(
        self, regarding: Mapping[str, Any], *, type_: str, reason: str, message: str
    ) -> None: ...


class Lister(Protocol):
    """Paginated LISTs, for the manager's priming of the cache (kube.Kube.pages)."""

    def pages(
        self, kind: str, *, label_selector: str | None = None
    ) -> AsyncIterator[list[Obj]]: ...


class Queue(Protocol):
    """A controller's work queue (workqueue.WorkQueue): keys, deduplicated while waiting."""

    def add(self, key: str) -> None: ...

    def add_after(self, key: str, seconds: float) -> None: ...

    def discard(self, key: str) -> None: ...


class PipelineRecords(Protocol):
    """What the pipeline controller writes to and reads from the database (DataStore): never
    blocks the event loop; ``record_pipeline`` is queued and never raises."""

    def record_pipeline(
        self,
        tenant: str,
        body: Obj,
        status: Obj,
        stage_finished: Sequence[tuple[str, str, float, Any]] = (),
        events: Sequence[tuple[str, str, str]] = (),
    ) -> None: ...

    def spent_this_month(self, tenant: str) -> float | None: ...

    async def pipeline_artifacts(self, pipeline_key: str) -> Sequence[Any]: ...

    async def read_artifact(self, uri: str) -> bytes: ...


class TenantDatabase(Protocol):
    """What the Tenant controller asks of the database (DataStore): the tenant's role and its
    Secret, dropping it, and the bytes it stores. The async calls raise while it is down."""

    async def tenant_secret(
        self, tenant: str, namespace: str, tenant_body: Obj, live_secret: Obj | None
    ) -> Obj | None: ...

    async def drop_tenant(self, tenant: str, *, purge_artifacts: bool = True) -> bool: ...

    async def drop_orphans(self, existing: set[str]) -> list[str]: ...

    def stored_bytes(self, tenant: str) -> int | None: ...


class TenantLookup(Protocol):
    """Which Tenant a namespace (and so a pipeline) belongs to (index.PipelineIndex)."""

    def tenant_for_namespace(self, namespace: str) -> str | None: ...

    def tenant_of(self, key: str) -> str | None: ...


class AdmissionView(Protocol):
    """The admission controller's verdicts, as the pipeline controller reads them
    (admission.AdmissionController)."""

    def admitted(self, key: str) -> bool: ...

    def rejected(self, key: str) -> str | None: ...

    def verdict(self, key: str) -> Admission:
        """Admitted or not, queue position, why it waits, why it will never run."""
        ...

    def finished(self, key: str) -> None:
        """The pipeline ended: its slot is free for the next one."""
        ...


class PipelineCounts(Protocol):
    """A tenant's pipelines by state, for its status (index.PipelineIndex)."""

    def counts(self, tenant: str) -> dict[str, int]: ...


# --- what a controller declares ----------------------------------------------------------------


class Request(NamedTuple):
    """A key for the controller's queue, reconciled ``after`` seconds from now."""

    key: str
    after: float = 0.0


@dataclass(frozen=True, slots=True)
class Event:
    """One watch event: ``type`` is ADDED, MODIFIED, DELETED, or None for an object listed
    while priming the cache."""

    type: str | None
    obj: Obj

    @property
    def deleted(self) -> bool:
        return self.type == "DELETED"

    @property
    def key(self) -> str:
        """``namespace/name`` (or ``name`` when cluster scoped)."""
        meta = self.obj["metadata"]
        ns = meta.get("namespace")
        return f"{ns}/{meta['name']}" if ns else str(meta["name"])


@dataclass(frozen=True)
class Watch:
    """A kind a controller watches and how an event maps to keys of its queue.

    ``to_keys`` may also update the controller's own in-memory view (that is the only place
    it learns of events). ``labels``: the label selector of the watch and of the LIST that
    primes the cache. ``cached=False``: events are handed over but the objects are not kept.
    ``drop``: objects for which it holds leave the cache and their events go nowhere (a
    finished pipeline's Jobs)."""

    kind: str
    to_keys: Callable[[Event], Iterable[Request]]
    labels: str | None = None
    cached: bool = True
    drop: Callable[[Obj], bool] | None = None


class Controller(Protocol):
    """What the manager runs: ``workers`` tasks reconciling keys of the queue named ``name``
    (a reconcile returns None, or seconds after which to look at the key again), and
    ``start()``, a background task (may return at once) run after the cache is primed."""

    @property
    def name(self) -> str: ...

    @property
    def workers(self) -> int: ...

    @property
    def watches(self) -> Sequence[Watch]: ...

    def reconcile(self, key: str) -> Awaitable[float | None]: ...

    async def start(self) -> None: ...

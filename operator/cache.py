"""In-memory object cache fed by the watch streams (an informer's store, without the informer).

Reconcilers read desired and observed state from here, never from the API on the hot path.
Writes made by the operator update the cache immediately from the API's answer, so a reconcile
that runs before the corresponding watch event still sees the newest object.

The cache keeps what the reconcilers read, not whole objects (see :func:`slim`): as parsed JSON
a Job with its managedFields takes about 49 KB and a finished pipeline about 23 KB, which with
10,000 pipelines would be gigabytes.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .constants import PIPELINE_LABEL, TENANT_LABEL

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace or "", name)

INDEXED_LABELS = (TENANT_LABEL, PIPELINE_LABEL)


def _rv(obj: Obj) -> int:
    try:
        return int(obj.get("metadata", {}).get("resourceVersion") or 0)
    except ValueError:  # resourceVersions are opaque; etcd's are integers
        return 0


#: Metadata kept for objects the operator only reads facts from.
_FACT_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "labels",
)
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _facts_metadata(meta: Obj) -> Obj:
    return {k: meta[k] for k in _FACT_METADATA if k in meta}


def controller_uid(obj: Obj) -> str | None:
    """The UID of ``obj``'s controller (its owner reference with controller: true); also what
    :func:`slim` keeps of a Job's owner references, as ``metadata.controllerUID``."""
    meta = obj.get("metadata") or {}
    if meta.get("controllerUID"):
        return str(meta["controllerUID"])
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def slim(kind: str, obj: Obj) -> Obj:
    """The part of ``obj`` the cache keeps. Never mutates ``obj``.

    - every kind: no ``managedFields`` and no kubectl last-applied annotation;
    - Job: metadata and status only (the pod template is the operator's own, never read back);
    - finished DesignPipeline (``status.completionTime``): what tenant counts, TTL and
      observedGeneration need (its stages, artifacts and cost are final and stay in the API).
    """
    meta = obj.get("metadata") or {}
    if kind == "Job":
        job_meta = _facts_metadata(meta)
        owner = controller_uid(obj)
        if owner:  # whose attempt it is (a pipeline re-created under its name is another)
            job_meta["controllerUID"] = owner
        out = {
            "kind": obj.get("kind", kind),
            "metadata": job_meta,
            "status": obj.get("status") or {},
        }
        if (obj.get("spec") or {}).get("suspend"):  # waits for Kueue (queueing: kueue)
            out["spec"] = {"suspend": True}
        return out
    status = obj.get("status") or {}
    if kind == "DesignPipeline" and status.get("completionTime"):
        spec = obj.get("spec") or {}
        return {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind", kind),
            "metadata": _facts_metadata(meta),
            "spec": {k: spec[k] for k in ("ttlSecondsAfterFinished",) if k in spec},
            "status": {
                **{
                    k: status[k]
                    for k in ("startTime", "completionTime", "observedGeneration")
                    if k in status
                },
                "conditions": [
                    c for c in status.get("conditions") or () if c.get("type") == "Succeeded"
                ],
            },
        }
    annotations = meta.get("annotations")
    if "managedFields" not in meta and not (annotations and _LAST_APPLIED in annotations):
        return obj
    meta = {k: v for k, v in meta.items() if k != "managedFields"}
    if annotations and _LAST_APPLIED in annotations:
        meta["annotations"] = {k: v for k, v in annotations.items() if k != _LAST_APPLIED}
    return {**obj, "metadata": meta}


_SHORT = 40  # strings up to this length are shared between cached objects


def compact(value: Any) -> Any:
    """A copy of parsed JSON with its keys and short strings interned.

    JSON parsing gives every object its own copy of "lastTransitionTime", "Succeeded", its
    tenant's namespace...; shared, a cached pipeline takes less than half the memory.
    """
    if isinstance(value, dict):
        return {sys.intern(k): compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compact(v) for v in value]
    if isinstance(value, str) and len(value) <= _SHORT:
        return sys.intern(value)
    return value


def keep(kind: str, obj: Obj) -> Obj:
    """What the operator's cache stores of an object: :func:`slim`, then :func:`compact`."""
    result: Obj = compact(slim(kind, obj))
    return result


def key_of(obj: Obj) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


class Store:
    """Objects by kind and (namespace, name), with an index on the pf-figma labels.

    ``keep`` reduces each object before it is stored (the operator uses :func:`keep`); the
    default stores objects as they are.
    """

    def __init__(self, keep: Callable[[str, Obj], Obj] | None = None) -> None:
        self._keep = keep
        #: True once every watched kind was listed (the manager's prime): a miss is an absence
        self.synced = False
        self._objects: dict[str, dict[Key, Obj]] = defaultdict(dict)
        # kind -> label -> value -> keys
        self._index: dict[str, dict[str, dict[str, set[Key]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(set))
        )

    def upsert(self, kind: str, obj: Obj) -> bool:
        """Insert or replace; older resourceVersions never replace newer ones. True if stored."""
        if self._keep is not None:
            obj = self._keep(kind, obj)
        key = key_of(obj)
        current = self._objects[kind].get(key)
        if current is not None:
            if _rv(obj) and _rv(current) and _rv(obj) < _rv(current):
                return False
            self._unindex(kind, key, current)
        self._objects[kind][key] = obj
        labels = obj.get("metadata", {}).get("labels") or {}
        for label in INDEXED_LABELS:
            value = labels.get(label)
            if value is not None:
                self._index[kind][label][value].add(key)
        return True

    def delete(self, kind: str, obj: Obj) -> None:
        key = key_of(obj)
        current = self._objects[kind].get(key)
        if current is None:
            return
        uid = obj.get("metadata", {}).get("uid")
        if uid and current.get("metadata", {}).get("uid") not in (None, uid):
            return  # a newer object of the same name replaced it
        self._unindex(kind, key, current)
        del self._objects[kind][key]

    def _unindex(self, kind: str, key: Key, obj: Obj) -> None:
        labels = obj.get("metadata", {}).get("labels") or {}
        for label in INDEXED_LABELS:
            value = labels.get(label)
            if value is not None:
                keys = self._index[kind][label].get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._index[kind][label][value]

    def get(self, kind: str, name: str, namespace: str = "") -> Obj | None:
        return self._objects[kind].get((namespace or "", name))

    def all(self, kind: str) -> Iterator[Obj]:
        return iter(list(self._objects[kind].values()))

    def count(self, kind: str) -> int:
        return len(self._objects[kind])

    def by_label(self, kind: str, label: str, value: str) -> list[Obj]:
        keys: Iterable[Key] = self._index[kind][label].get(value, ())
        objects = self._objects[kind]
        return [objects[k] for k in list(keys) if k in objects]

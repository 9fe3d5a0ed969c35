"""In-memory object cache fed by the watch streams (an informer's store, without the informer).

Reconcilers read desired and observed state from here, never from the API on the hot path.
Writes made by the operator update the cache immediately from the API's answer, so a reconcile
that runs before the corresponding watch event still sees the newest object.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace or "", name)

INDEXED_LABELS = ("pffigma.dev/tenant", "pffigma.dev/pipeline")


def _rv(obj: Obj) -> int:
    try:
        return int(obj.get("metadata", {}).get("resourceVersion") or 0)
    except ValueError:  # resourceVersions are opaque; etcd's are integers
        return 0


def key_of(obj: Obj) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


class Store:
    def __init__(self) -> None:
        self._objects: dict[str, dict[Key, Obj]] = defaultdict(dict)
        # kind -> label -> value -> keys
        self._index: dict[str, dict[str, dict[str, set[Key]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(set))
        )

    def upsert(self, kind: str, obj: Obj) -> bool:
        """Insert or replace; older resourceVersions never replace newer ones. True if stored."""
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

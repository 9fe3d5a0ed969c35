"""Decide whether a desired object must be (re-)applied: pure, so restarts cost no writes.

An applied object carries the hash of the desired state it came from. It is re-applied when the
desired state changed (the hash differs) or when someone edited what we own.

What we own is compared with the meaning the API gives it, not as "the live object contains the
desired fields": every top-level field pf-figma sets besides metadata (``spec``, ``rules``,
``subjects``, ``roleRef``, ``data``, ``automountServiceAccountToken``) must be *equal* to the
desired one after the API server's defaults are applied to the desired object (see
:func:`with_api_defaults`). So ``podSelector: {}`` (all pods) is not satisfied by
``podSelector: {matchLabels: {x: y}}``, an extra egress rule, peer field, quota scope, LimitRange
item or RoleBinding subject is drift. In metadata only our own labels, annotations and owner
references are compared (others may add theirs). Quantities compare by value ("1000m" == "1");
an empty list and a missing list mean the same (Go's ``omitempty``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .constants import HASH_ANNOTATION
from .quantities import quantity_value


def desired_hash(obj: Mapping[str, Any]) -> str:
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def with_hash(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of obj whose metadata.annotations carries the hash of obj (without the hash)."""
    digest = desired_hash(obj)
    meta = dict(obj.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), HASH_ANNOTATION: digest}
    return {**obj, "metadata": meta}


def _scalar_equal(want: Any, have: Any) -> bool:
    if want == have:
        return True
    if isinstance(want, (str, int)) and isinstance(have, (str, int)):
        a, b = quantity_value(want), quantity_value(have)
        return a is not None and a == b
    return False


def contains(live: Any, want: Any) -> bool:
    """True when every field of `want` is present with an equal value in `live`."""
    if isinstance(want, Mapping):
        if not isinstance(live, Mapping):
            return False
        return all(k in live and contains(live[k], v) for k, v in want.items())
    if isinstance(want, list):
        if not isinstance(live, list) or len(live) != len(want):
            return False
        return all(contains(a, b) for a, b in zip(live, want, strict=True))
    return _scalar_equal(want, have=live)


def equal(live: Any, want: Any) -> bool:
    """True when ``live`` means exactly ``want``: the same keys at every level (an empty or
    missing list or string are the same), lists in order, scalars equal (quantities by
    value). An empty mapping is not a missing one: ``podSelector: {}`` selects all pods."""
    if isinstance(want, Mapping):
        if not isinstance(live, Mapping):
            return False
        keys = {k for k, v in want.items() if not _absent(v)}
        if keys != {k for k, v in live.items() if not _absent(v)}:
            return False
        return all(equal(live[k], want[k]) for k in keys)
    if isinstance(want, list):
        if not isinstance(live, list) or len(live) != len(want):
            return False
        return all(equal(a, b) for a, b in zip(live, want, strict=True))
    return _scalar_equal(want, have=live)


def _absent(value: Any) -> bool:
    """Go's omitempty: a null, an empty list and an empty string are not sent at all."""
    return value is None or value == "" or (isinstance(value, list) and not value)


# --- what the API server adds to what we send (so that it is not taken for drift) -------------


def _limit_range_defaults(spec: dict[str, Any]) -> None:
    """SetDefaults_LimitRangeItem: a Container item's default falls back to max, its
    defaultRequest to default, then min."""
    for item in spec.get("limits") or []:
        if item.get("type") != "Container":
            continue
        default = item.setdefault("default", {})
        for key, value in (item.get("max") or {}).items():
            default.setdefault(key, value)
        request = item.setdefault("defaultRequest", {})
        for key, value in {**(item.get("min") or {}), **default}.items():
            request.setdefault(key, value)
        for key in ("default", "defaultRequest"):
            if not item[key]:
                del item[key]


def _network_policy_defaults(spec: dict[str, Any]) -> None:
    """SetDefaults_NetworkPolicy: policyTypes [Ingress] (+ Egress when there are egress rules);
    a port's protocol is TCP."""
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", *(["Egress"] if spec.get("egress") else [])]
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            for port in rule.get("ports") or []:
                port.setdefault("protocol", "TCP")


def _subject_defaults(subjects: list[dict[str, Any]]) -> None:
    """SetDefaults_Subject: User and Group subjects are in rbac.authorization.k8s.io."""
    for subject in subjects:
        if subject.get("kind") in ("User", "Group"):
            subject.setdefault("apiGroup", "rbac.authorization.k8s.io")


def with_api_defaults(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` with the defaults the API server would give it (for the kinds and
    fields pf-figma writes)."""
    result: dict[str, Any] = json.loads(json.dumps(obj, default=str))
    kind = result.get("kind")
    spec = result.get("spec")
    if kind == "LimitRange" and isinstance(spec, dict):
        _limit_range_defaults(spec)
    elif kind == "NetworkPolicy" and isinstance(spec, dict):
        _network_policy_defaults(spec)
    elif kind in ("RoleBinding", "ClusterRoleBinding") and isinstance(result.get("subjects"), list):
        _subject_defaults(result["subjects"])
    return result


OWNED_METADATA = ("labels", "annotations", "ownerReferences")
_NOT_COMPARED = ("apiVersion", "kind", "status", "metadata")


def drifted_fields(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """The top-level fields of ``desired`` whose meaning differs in ``live`` (metadata: our
    labels, annotations and owner references), in desired order."""
    want = with_api_defaults(desired)
    drifted = []
    meta_want = {k: v for k, v in (want.get("metadata") or {}).items() if k in OWNED_METADATA}
    if not contains(live.get("metadata") or {}, meta_want):
        drifted.append("metadata")
    for key, value in want.items():
        if key in _NOT_COMPARED:
            continue
        if not equal(live.get(key), value):
            drifted.append(key)
    return drifted


def needs_apply(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    """desired must already carry its hash annotation (see with_hash)."""
    if live is None or live.get("metadata", {}).get("deletionTimestamp"):
        return True
    want_hash = desired.get("metadata", {}).get("annotations", {}).get(HASH_ANNOTATION)
    have_hash = (live.get("metadata", {}).get("annotations") or {}).get(HASH_ANNOTATION)
    if want_hash != have_hash:
        return True
    return bool(drifted_fields(desired, live))


def repair_patch(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A JSON patch that sets each drifted non-metadata field of ``live`` to exactly the
    desired value. Server-side apply alone cannot: it never removes fields another manager
    set (``matchLabels`` added by ``kubectl patch`` to our ``podSelector: {}``). The patch is
    guarded by the live resourceVersion, so it never overwrites a newer edit unseen."""
    ops: list[dict[str, Any]] = []
    rv = (live.get("metadata") or {}).get("resourceVersion")
    if rv:
        ops.append({"op": "test", "path": "/metadata/resourceVersion", "value": rv})
    for key in drifted_fields(desired, live):
        if key == "metadata":
            continue  # server-side apply takes our labels and annotations back
        ops.append(
            {
                "op": "add",
                "path": "/" + key.replace("~", "~0").replace("/", "~1"),
                "value": desired[key],
            }
        )
    return ops

"""Decide whether a desired object must be (re-)applied: pure, so restarts cost no writes.

An applied object carries the hash of the desired state it came from. It is re-applied when the
desired state changed (the hash differs) or when someone edited what we own (the live object no
longer contains the desired fields). Fields added by the API server (defaults, status, other
managers) are ignored; quantities compare by value ("1000m" == "1").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

HASH_ANNOTATION = "pffigma.dev/desired-hash"


def desired_hash(obj: Mapping[str, Any]) -> str:
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def with_hash(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of obj whose metadata.annotations carries the hash of obj (without the hash)."""
    digest = desired_hash(obj)
    meta = dict(obj.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), HASH_ANNOTATION: digest}
    return {**obj, "metadata": meta}


_SUFFIX: dict[str, int | Decimal] = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}


_LONGEST_FIRST = sorted(_SUFFIX, key=len, reverse=True)


def _quantity(value: str) -> Decimal | None:
    for suffix in _LONGEST_FIRST:
        if suffix and value.endswith(suffix):
            number = value[: -len(suffix)]
            break
    else:
        suffix, number = "", value
    try:
        return Decimal(number) * Decimal(_SUFFIX[suffix])
    except (InvalidOperation, ValueError):
        return None


def _scalar_equal(want: Any, have: Any) -> bool:
    if want == have:
        return True
    if isinstance(want, (str, int)) and isinstance(have, (str, int)):
        a, b = _quantity(str(want)), _quantity(str(have))
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


def needs_apply(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    """desired must already carry its hash annotation (see with_hash)."""
    if live is None or live.get("metadata", {}).get("deletionTimestamp"):
        return True
    want_hash = desired.get("metadata", {}).get("annotations", {}).get(HASH_ANNOTATION)
    have_hash = (live.get("metadata", {}).get("annotations") or {}).get(HASH_ANNOTATION)
    if want_hash != have_hash:
        return True
    body = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind", "status")}
    return not contains(live, body)

"""operator/diff.py: when a desired object must be (re-)applied."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pf_operator.constants import HASH_ANNOTATION
from pf_operator.diff import contains, desired_hash, needs_apply, with_hash


def desired(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {
            "name": "pf-figma-limits",
            "namespace": "tenant-acme",
            "labels": {"app.kubernetes.io/managed-by": "pf-figma", "pffigma.dev/tenant": "acme"},
        },
        "spec": spec or {
            "limits": [{
                "type": "Container",
                "default": {"cpu": "500m", "memory": "1Gi"},
                "max": {"cpu": "2", "memory": "4Gi"},
            }]
        },
    }


def as_live(obj: dict[str, Any]) -> dict[str, Any]:
    """What the API server answers for an applied object: the same plus server fields."""
    live = copy.deepcopy(obj)
    live["metadata"].update(
        uid="8f0e-uid", resourceVersion="4242", generation=1,
        creationTimestamp="2025-01-01T00:00:00Z",
        managedFields=[{"manager": "pf-figma", "operation": "Apply"}],
    )
    live["metadata"].setdefault("annotations", {})["kubectl.kubernetes.io/last-applied"] = "{}"
    live["metadata"]["labels"]["kubernetes.io/metadata.name"] = "x"
    for item in live["spec"].get("limits", []):
        item.setdefault("defaultRequest", {"cpu": "500m", "memory": "1Gi"})
    live["status"] = {"observed": True}
    return live


# --- with_hash -------------------------------------------------------------------------------


def test_with_hash_adds_the_annotation_without_modifying_the_input() -> None:
    obj = desired()
    before = copy.deepcopy(obj)
    hashed = with_hash(obj)
    assert obj == before
    assert hashed["metadata"]["annotations"] == {HASH_ANNOTATION: desired_hash(obj)}
    assert {k: v for k, v in hashed.items() if k != "metadata"} == \
        {k: v for k, v in obj.items() if k != "metadata"}


def test_with_hash_keeps_other_annotations() -> None:
    obj = desired()
    obj["metadata"]["annotations"] = {"team": "platform"}
    hashed = with_hash(obj)
    assert hashed["metadata"]["annotations"]["team"] == "platform"
    assert HASH_ANNOTATION in hashed["metadata"]["annotations"]
    assert obj["metadata"]["annotations"] == {"team": "platform"}


def test_hash_ignores_key_order() -> None:
    a = {"kind": "X", "spec": {"a": 1, "b": 2}}
    b = {"spec": {"b": 2, "a": 1}, "kind": "X"}
    assert desired_hash(a) == desired_hash(b)


def test_hash_changes_with_the_desired_state() -> None:
    a, b = desired(), desired()
    b["spec"]["limits"][0]["max"]["cpu"] = "3"
    assert desired_hash(a) != desired_hash(b)
    assert with_hash(a)["metadata"]["annotations"][HASH_ANNOTATION] != \
        with_hash(b)["metadata"]["annotations"][HASH_ANNOTATION]


def test_hash_is_stable() -> None:
    assert desired_hash(desired()) == desired_hash(desired())
    assert len(desired_hash(desired())) == 16


# --- needs_apply -----------------------------------------------------------------------------


def test_missing_live_object_needs_apply() -> None:
    assert needs_apply(with_hash(desired()), None) is True


def test_applied_object_with_server_fields_needs_nothing() -> None:
    want = with_hash(desired())
    assert needs_apply(want, as_live(want)) is False


def test_live_object_without_apiversion_and_kind() -> None:
    want = with_hash(desired())
    live = as_live(want)
    del live["apiVersion"], live["kind"]  # as items of a list response
    assert needs_apply(want, live) is False


def test_desired_status_is_ignored() -> None:
    want = with_hash({**desired(), "status": {"phase": "Active"}})
    live = as_live(want)
    live["status"] = {"phase": "Terminating"}
    assert needs_apply(want, live) is False


def test_deletion_timestamp_needs_apply() -> None:
    want = with_hash(desired())
    live = as_live(want)
    live["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    assert needs_apply(want, live) is True


def test_changed_desired_state_needs_apply() -> None:
    old = with_hash(desired())
    live = as_live(old)
    new_spec = copy.deepcopy(desired())
    new_spec["spec"]["limits"][0]["max"]["cpu"] = "4"
    assert needs_apply(with_hash(new_spec), live) is True


def test_hash_change_alone_needs_apply() -> None:
    want = with_hash(desired())
    live = as_live(want)
    live["metadata"]["annotations"][HASH_ANNOTATION] = "0000000000000000"
    assert needs_apply(want, live) is True


def test_live_without_the_hash_needs_apply() -> None:
    want = with_hash(desired())
    live = as_live(want)
    del live["metadata"]["annotations"][HASH_ANNOTATION]
    assert needs_apply(want, live) is True
    live["metadata"]["annotations"] = None
    assert needs_apply(want, live) is True


def test_live_without_metadata_annotations_key() -> None:
    want = with_hash(desired())
    live = as_live(want)
    del live["metadata"]["annotations"]
    assert needs_apply(want, live) is True


@pytest.mark.parametrize(
    "edit",
    [
        lambda o: o["metadata"]["labels"].update({"pffigma.dev/tenant": "other"}),
        lambda o: o["metadata"]["labels"].pop("pffigma.dev/tenant"),
        lambda o: o["spec"]["limits"][0]["max"].update({"cpu": "64"}),
        lambda o: o["spec"]["limits"][0].pop("max"),
        lambda o: o["spec"]["limits"][0].update({"type": "Pod"}),
        lambda o: o["spec"]["limits"].append({"type": "Pod", "max": {"cpu": "1"}}),
        lambda o: o["spec"]["limits"].clear(),
        lambda o: o["spec"].update({"limits": {"type": "Container"}}),
        lambda o: o.pop("spec"),
    ],
    ids=["label-changed", "label-removed", "max-changed", "max-removed", "type-changed",
         "list-grew", "list-emptied", "list-became-dict", "spec-removed"],
)
def test_edits_to_owned_fields_need_apply(edit: Any) -> None:
    want = with_hash(desired())
    live = as_live(want)
    edit(live)
    assert needs_apply(want, live) is True


def test_shorter_desired_list_needs_apply() -> None:
    two = desired(limits=[{"type": "Container"}, {"type": "Pod"}])
    one = desired(limits=[{"type": "Container"}])
    live = as_live(with_hash(two))
    live["metadata"]["annotations"][HASH_ANNOTATION] = \
        with_hash(one)["metadata"]["annotations"][HASH_ANNOTATION]  # same hash, longer list
    assert needs_apply(with_hash(one), live) is True


@pytest.mark.parametrize(
    ("want", "have"),
    [
        ("1000m", "1"),
        ("1", "1000m"),
        ("500m", "0.5"),
        ("1Gi", "1024Mi"),
        ("1Mi", "1024Ki"),
        ("2G", "2000M"),
        ("1k", "1000"),
        ("1e3", "1k"),
        (2, "2"),
        ("2", 2),
        ("100Mi", "104857600"),
    ],
)
def test_quantities_compare_by_value(want: Any, have: Any) -> None:
    assert contains(have, want) is True
    want_obj = with_hash(desired(hard={"cpu": want}))
    live = as_live(want_obj)
    live["spec"]["hard"]["cpu"] = have
    assert needs_apply(want_obj, live) is False


@pytest.mark.parametrize(
    ("want", "have"),
    [
        ("1", "2"),
        ("1Gi", "1G"),
        ("500m", "500M"),
        ("1Ki", "1k"),
        ("abc", "abd"),
        ("1", "one"),
        ("1", None),
        (1, 1.5),
    ],
)
def test_different_scalars_are_different(want: Any, have: Any) -> None:
    assert contains(have, want) is False


def test_contains_ignores_extra_fields_at_every_level() -> None:
    live = {"a": {"b": [{"c": 1, "extra": True}], "extra": {}}, "extra": [1, 2]}
    assert contains(live, {"a": {"b": [{"c": 1}]}}) is True
    assert contains(live, {}) is True


@pytest.mark.parametrize(
    ("live", "want"),
    [
        ({"a": 1}, {"a": {"b": 1}}),  # scalar where a mapping is wanted
        ({"a": [1]}, {"a": {"0": 1}}),
        ({"a": {"0": 1}}, {"a": [1]}),  # mapping where a list is wanted
        ({"a": "x"}, {"a": ["x"]}),
        ({}, {"a": None}),  # a missing key is not a null
        ({"a": [1, 2]}, {"a": [2, 1]}),  # lists are ordered
        ({"a": [1, 2, 3]}, {"a": [1, 2]}),
        ({"a": [1]}, {"a": [1, 2]}),
    ],
)
def test_contains_detects_shape_changes(live: Any, want: Any) -> None:
    assert contains(live, want) is False


def test_booleans_and_strings() -> None:
    assert contains({"x": True}, {"x": True}) is True
    assert contains({"x": False}, {"x": True}) is False
    assert contains({"x": "true"}, {"x": True}) is False
    assert contains({"x": ""}, {"x": ""}) is True

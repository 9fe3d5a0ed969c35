"""operator/diff.py: every field pf-figma owns is compared with the meaning the API gives it
(issue 17, item 1), for every child kind of a Tenant."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from pf_operator.diff import (
    drifted_fields,
    equal,
    needs_apply,
    repair_patch,
    with_api_defaults,
    with_hash,
)
from pf_operator.model import TenantSpec
from pf_operator.render import RenderSettings, desired_objects

SETTINGS = RenderSettings(pod_cidrs=("10.244.0.0/16",), service_cidrs=("10.96.0.0/16",))
SPEC = TenantSpec.model_validate(
    {
        "owners": [
            {"kind": "User", "name": "alice"},
            {"kind": "ServiceAccount", "name": "ci", "namespace": "ci"},
        ],
        "network": {"allowEgress": [{"cidr": "203.0.113.0/24", "ports": [22]}]},
    }
)


def objects() -> dict[str, dict[str, Any]]:
    return {
        f"{o['kind']}/{o['metadata']['name']}": with_hash(o)
        for o in desired_objects("acme", SPEC, SETTINGS)
    }


def served(obj: dict[str, Any]) -> dict[str, Any]:
    """Roughly what the API server answers: defaults, server metadata, fields of others."""
    live = with_api_defaults(obj)
    live["metadata"].update(uid="u", resourceVersion="7", creationTimestamp="2025-01-01T00:00:00Z")
    live["metadata"]["labels"]["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    live["metadata"]["annotations"]["someone-else"] = "theirs"
    if obj["kind"] == "Namespace":
        live["spec"] = {"finalizers": ["kubernetes"]}
        live["status"] = {"phase": "Active"}
    if obj["kind"] == "ServiceAccount":
        live["imagePullSecrets"] = [{"name": "registry"}]  # not a field pf-figma sets
    return live


def test_every_child_as_served_needs_nothing() -> None:
    for key, obj in objects().items():
        assert drifted_fields(obj, served(obj)) == [], key
        assert needs_apply(obj, served(obj)) is False, key


def test_api_defaults_cover_what_we_leave_out() -> None:
    policy = {
        "kind": "NetworkPolicy",
        "spec": {"podSelector": {}, "egress": [{"ports": [{"port": 1}]}]},
    }
    out = with_api_defaults(policy)
    assert out["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert out["spec"]["egress"][0]["ports"][0]["protocol"] == "TCP"
    limits = {
        "kind": "LimitRange",
        "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}}]},
    }
    item = with_api_defaults(limits)["spec"]["limits"][0]
    assert item["default"] == {"cpu": "2"} and item["defaultRequest"] == {"cpu": "2"}
    binding = {"kind": "RoleBinding", "subjects": [{"kind": "User", "name": "a"}]}
    assert with_api_defaults(binding)["subjects"][0]["apiGroup"] == "rbac.authorization.k8s.io"


Edit = Callable[[dict[str, Any]], None]
DRIFT: list[tuple[str, str, Edit]] = [
    # the scenario: {} selects all pods, {matchLabels: {x: y}} selects none of ours
    (
        "NetworkPolicy/pf-figma-default-deny",
        "spec",
        lambda o: o["spec"]["podSelector"].update(matchLabels={"x": "y"}),
    ),
    (
        "NetworkPolicy/pf-figma-default-deny",
        "spec",
        lambda o: o["spec"]["podSelector"].update(
            matchExpressions=[{"key": "x", "operator": "Exists"}]
        ),
    ),
    ("NetworkPolicy/pf-figma-default-deny", "spec", lambda o: o["spec"].update(ingress=[{}])),
    (
        "NetworkPolicy/pf-figma-allow-egress",
        "spec",
        lambda o: o["spec"]["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}),
    ),
    (  # a peer that gained a podSelector selects fewer pods; one that lost ports opens all
        "NetworkPolicy/pf-figma-allow-egress",
        "spec",
        lambda o: o["spec"]["egress"][0]["to"][0].update(podSelector={}),
    ),
    (
        "NetworkPolicy/pf-figma-allow-egress",
        "spec",
        lambda o: o["spec"]["egress"][1].pop("ports"),
    ),
    (
        "NetworkPolicy/pf-figma-allow-egress",
        "spec",
        lambda o: o["spec"]["egress"][-1]["to"][0]["ipBlock"].pop("except"),
    ),
    ("ResourceQuota/pf-figma-quota", "spec", lambda o: o["spec"].update(scopes=["BestEffort"])),
    ("ResourceQuota/pf-figma-quota", "spec", lambda o: o["spec"]["hard"].pop("pods")),
    (
        "LimitRange/pf-figma-limits",
        "spec",
        lambda o: o["spec"]["limits"].append({"type": "Pod", "max": {"cpu": "64"}}),
    ),
    (
        "ServiceAccount/pf-agent",
        "automountServiceAccountToken",
        lambda o: o.pop("automountServiceAccountToken"),
    ),
    (
        "RoleBinding/*",
        "subjects",
        lambda o: o["subjects"].append(
            {"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}
        ),
    ),
    (
        "Namespace/tenant-acme",
        "metadata",
        lambda o: o["metadata"]["labels"].update(
            {"pod-security.kubernetes.io/enforce": "privileged"}
        ),
    ),
    (
        "Namespace/tenant-acme",
        "metadata",
        lambda o: o["metadata"]["labels"].pop("pod-security.kubernetes.io/enforce"),
    ),
]


@pytest.mark.parametrize(("key", "field", "edit"), DRIFT)
def test_drift_in_any_owned_field_is_seen(key: str, field: str, edit: Edit) -> None:
    objs = objects()
    if key.endswith("/*"):
        key = next(k for k in objs if k.startswith(key[:-1]))
    want = objs[key]
    live = served(want)
    edit(live)
    assert drifted_fields(want, live) == [field]
    assert needs_apply(want, live) is True


def test_repair_patch_sets_exactly_the_desired_field_guarded_by_resource_version() -> None:
    want = objects()["NetworkPolicy/pf-figma-default-deny"]
    live = served(want)
    live["spec"]["podSelector"] = {"matchLabels": {"x": "y"}}
    ops = repair_patch(want, live)
    assert ops == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
        {"op": "add", "path": "/spec", "value": want["spec"]},
    ]
    patched = copy.deepcopy(live)
    patched["spec"] = ops[1]["value"]
    assert drifted_fields(want, patched) == []


@pytest.mark.parametrize(
    ("live", "want", "same"),
    [
        ({}, {}, True),
        ({"matchLabels": {"x": "y"}}, {}, False),  # an empty selector means all
        ({}, {"matchLabels": {"x": "y"}}, False),
        ({"a": []}, {}, True),  # omitempty: no list and an empty list are the same
        ({}, {"a": []}, True),
        ({"a": {}}, {}, False),  # but an empty selector is not a missing one
        ({"kind": "ServiceAccount", "apiGroup": ""}, {"kind": "ServiceAccount"}, True),
        ({"cpu": "1000m"}, {"cpu": "1"}, True),
        ([{"a": 1}, {"b": 2}], [{"b": 2}, {"a": 1}], False),
    ],
)
def test_equal(live: Any, want: Any, same: bool) -> None:
    assert equal(live, want) is same

"""operator/render/tenant.py: a Tenant spec in, its namespace's objects out."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pf_operator.model import PLAN_DEFAULTS, Owner, OwnerKind, Plan, TenantSpec
from pf_operator.render import (
    MANAGED_BY_LABEL,
    OWNER_CLUSTER_ROLE_NAME,
    TENANT_LABEL,
    EgressEndpoint,
    RenderSettings,
    desired_objects,
    object_key,
    owner_reference,
    tenant_selector,
    with_owner,
)
from pf_operator.render.tenant import internet_exceptions, owner_binding_name

SETTINGS = RenderSettings(pod_cidrs=("10.244.0.0/16",), service_cidrs=("10.96.0.0/16",))
CLUSTER_SCOPED = {"Namespace"}


def render(
    spec: dict[str, Any] | None = None, settings: RenderSettings = SETTINGS
) -> list[dict[str, Any]]:
    return desired_objects("acme", TenantSpec.model_validate(spec or {}), settings)


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} objects"
    return matches[0]


def egress(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rules = one(objects, "NetworkPolicy", "pf-figma-allow-egress")["spec"]["egress"]
    assert isinstance(rules, list)
    return rules


def internet_rule(objects: list[dict[str, Any]]) -> dict[str, Any] | None:
    found = [r for r in egress(objects) if r["to"][0].get("ipBlock", {}).get("cidr") == "0.0.0.0/0"]
    return found[0] if found else None


# --- the set of objects ----------------------------------------------------------------------


def test_objects_in_apply_order() -> None:
    objects = render({"owners": [{"kind": "User", "name": "jane"}]})
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Namespace", "tenant-acme"),
        ("ServiceAccount", "pf-agent"),
        ("ResourceQuota", "pf-figma-quota"),
        ("LimitRange", "pf-figma-limits"),
        ("NetworkPolicy", "pf-figma-default-deny"),
        ("NetworkPolicy", "pf-figma-allow-egress"),
        ("RoleBinding", owner_binding_name(Owner(kind=OwnerKind.USER, name="jane"))),
    ]


def test_every_object_is_complete_and_labelled() -> None:
    objects = render({"owners": [{"kind": "Group", "name": "g"}]})
    for obj in objects:
        assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"]
        labels = obj["metadata"]["labels"]
        assert labels[MANAGED_BY_LABEL] == "pf-figma"
        assert labels[TENANT_LABEL] == "acme"
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in obj["metadata"]
        else:
            assert obj["metadata"]["namespace"] == "tenant-acme"
        assert "ownerReferences" not in obj["metadata"]


def test_no_secrets_are_rendered() -> None:
    spec = {
        "figma": {"tokenSecretRef": {"name": "figma", "key": "token"}},
        "llm": {"enabled": True, "apiKeySecretRef": {"name": "claude", "key": "key"}},
    }
    assert not [o for o in render(spec) if o["kind"] == "Secret"]


def test_deterministic() -> None:
    spec: dict[str, Any] = {
        "owners": [{"kind": "User", "name": f"u{i}"} for i in range(5)],
        "network": {
            "allowEgress": [
                {"cidr": "203.0.113.0/24", "ports": [443, 22]},
                {"cidr": "198.51.100.7/32"},
            ]
        },
    }
    first = json.dumps(render(spec), sort_keys=False)
    assert json.dumps(render(copy.deepcopy(spec)), sort_keys=False) == first
    reordered = {
        "owners": list(reversed(spec["owners"])),
        "network": {
            "allowEgress": [
                {"cidr": "198.51.100.7/32"},
                {"cidr": "203.0.113.0/24", "ports": [22, 443]},
            ]
        },
    }
    assert json.dumps(render(reordered), sort_keys=False) == first


def test_custom_namespace_prefix() -> None:
    objects = render(settings=RenderSettings(namespace_prefix="customer-"))
    assert {o["metadata"].get("namespace", o["metadata"]["name"]) for o in objects} == {
        "customer-acme"
    }


# --- namespace and service account -----------------------------------------------------------


def test_namespace_enforces_restricted_pod_security() -> None:
    labels = one(render(), "Namespace")["metadata"]["labels"]
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "latest"


def test_agent_service_account_has_no_token() -> None:
    sa = one(render(), "ServiceAccount", "pf-agent")
    assert sa["automountServiceAccountToken"] is False
    assert set(sa) == {"apiVersion", "kind", "metadata", "automountServiceAccountToken"}


# --- quota and limits ------------------------------------------------------------------------


@pytest.mark.parametrize("plan", list(Plan))
def test_quota_follows_the_plan(plan: Plan) -> None:
    quota = PLAN_DEFAULTS[plan].quota
    hard = one(render({"plan": plan.value}), "ResourceQuota")["spec"]["hard"]
    assert hard == {
        "requests.cpu": quota.cpu,
        "limits.cpu": quota.cpu,
        "requests.memory": quota.memory,
        "limits.memory": quota.memory,
        "pods": str(quota.pods),
        "count/jobs.batch": str(quota.jobs),
    }


@pytest.mark.parametrize("plan", list(Plan))
def test_limit_range_follows_the_plan(plan: Plan) -> None:
    limits = PLAN_DEFAULTS[plan].limits
    (item,) = one(render({"plan": plan.value}), "LimitRange")["spec"]["limits"]
    default = {"cpu": limits.default_cpu, "memory": limits.default_memory}
    assert item == {
        "type": "Container",
        "default": default,
        "defaultRequest": default,
        "max": {"cpu": limits.max_cpu, "memory": limits.max_memory},
    }


def test_quota_and_limit_overrides() -> None:
    objects = render(
        {
            "plan": "enterprise",
            "quota": {"cpu": 100, "memory": "256Gi", "pods": 0, "jobs": 7},
            "limits": {
                "defaultCPU": "250m",
                "defaultMemory": "512Mi",
                "maxCPU": 4,
                "maxMemory": "4Gi",
            },
        }
    )
    hard = one(objects, "ResourceQuota")["spec"]["hard"]
    assert (
        hard["requests.cpu"],
        hard["limits.memory"],
        hard["pods"],
        hard["count/jobs.batch"],
    ) == (
        "100",
        "256Gi",
        "0",
        "7",
    )
    (item,) = one(objects, "LimitRange")["spec"]["limits"]
    assert item["default"] == {"cpu": "250m", "memory": "512Mi"}
    assert item["max"] == {"cpu": "4", "memory": "4Gi"}


# --- network ---------------------------------------------------------------------------------


def test_default_deny_covers_ingress_and_egress() -> None:
    deny = one(render(), "NetworkPolicy", "pf-figma-default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_allow_policy_only_allows_egress() -> None:
    allow = one(render(), "NetworkPolicy", "pf-figma-allow-egress")["spec"]
    assert allow["policyTypes"] == ["Egress"]
    assert allow["podSelector"] == {}
    assert "ingress" not in allow


def test_dns_is_allowed_to_kube_system_only() -> None:
    dns = egress(render())[0]
    assert dns == {
        "to": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def test_internet_egress_is_https_outside_private_and_cluster_ranges() -> None:
    settings = RenderSettings(
        pod_cidrs=("10.244.0.0/16", "100.64.0.0/10"),
        service_cidrs=("198.18.0.0/15", "fd00:10:96::/112"),
    )
    rule = internet_rule(render(settings=settings))
    assert rule == {
        "to": [
            {
                "ipBlock": {
                    "cidr": "0.0.0.0/0",
                    "except": [
                        "10.0.0.0/8",  # also covers the pod range 10.244.0.0/16
                        "100.64.0.0/10",
                        "169.254.0.0/16",
                        "172.16.0.0/12",
                        "192.168.0.0/16",
                        "198.18.0.0/15",
                    ],
                }
            }
        ],
        "ports": [{"protocol": "TCP", "port": 443}],
    }


def test_internet_exceptions_without_cluster_ranges() -> None:
    assert internet_exceptions(RenderSettings()) == [
        "10.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
    ]


def test_internet_egress_can_be_switched_off() -> None:
    objects = render({"network": {"allowInternetEgress": False}})
    assert internet_rule(objects) is None
    assert len(egress(objects)) == 1  # DNS only


def test_listed_egress_destinations() -> None:
    objects = render(
        {
            "network": {
                "allowEgress": [
                    {"cidr": "203.0.113.0/24", "ports": [443, 22, 443]},
                    {"cidr": "2001:db8::/32"},
                ]
            }
        }
    )
    rules = egress(objects)
    assert rules[1:3] == [
        {"to": [{"ipBlock": {"cidr": "2001:db8::/32"}}]},  # no ports: every port and protocol
        {
            "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
            "ports": [{"protocol": "TCP", "port": 22}, {"protocol": "TCP", "port": 443}],
        },
    ]
    assert internet_rule(objects) is rules[-1]


def test_extra_egress_from_settings() -> None:
    settings = RenderSettings(extra_egress=[EgressEndpoint("10.0.5.10/32", 5432)])
    rules = egress(render(settings=settings))
    assert {
        "to": [{"ipBlock": {"cidr": "10.0.5.10/32"}}],
        "ports": [{"protocol": "TCP", "port": 5432}],
    } in rules


# --- owners ----------------------------------------------------------------------------------


def test_owners_get_role_bindings_to_the_owner_cluster_role() -> None:
    objects = render(
        {
            "owners": [
                {"kind": "User", "name": "jane@acme.example"},
                {"kind": "Group", "name": "designers"},
                {"kind": "ServiceAccount", "name": "bot", "namespace": "ci"},
            ]
        }
    )
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    assert len(bindings) == 3
    assert [b["metadata"]["name"] for b in bindings] == sorted(
        b["metadata"]["name"] for b in bindings
    )
    subjects = []
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": OWNER_CLUSTER_ROLE_NAME,
        }
        assert binding["metadata"]["name"].startswith("pf-figma-owner-")
        (subject,) = binding["subjects"]
        subjects.append(subject)
    assert {
        "kind": "User",
        "apiGroup": "rbac.authorization.k8s.io",
        "name": "jane@acme.example",
    } in subjects
    assert {
        "kind": "Group",
        "apiGroup": "rbac.authorization.k8s.io",
        "name": "designers",
    } in subjects
    assert {"kind": "ServiceAccount", "name": "bot", "namespace": "ci"} in subjects


def test_binding_names_are_stable_and_distinct() -> None:
    spec = TenantSpec.model_validate(
        {
            "owners": [
                {"kind": "User", "name": "x"},
                {"kind": "Group", "name": "x"},
                {"kind": "ServiceAccount", "name": "x", "namespace": "a"},
                {"kind": "ServiceAccount", "name": "x", "namespace": "b"},
            ]
        }
    )
    names = [owner_binding_name(o) for o in spec.owners]
    assert len(set(names)) == 4
    assert all(len(n) <= 63 for n in names)
    again = TenantSpec.model_validate({"owners": [{"kind": "User", "name": "x"}]})
    assert owner_binding_name(again.owners[0]) == names[0]


def test_duplicate_owners_get_one_binding() -> None:
    objects = render({"owners": [{"kind": "User", "name": "x"}, {"kind": "User", "name": "x"}]})
    assert len([o for o in objects if o["kind"] == "RoleBinding"]) == 1


def test_no_owners_no_bindings() -> None:
    assert not [o for o in render() if o["kind"] == "RoleBinding"]


# --- helpers ---------------------------------------------------------------------------------


def test_with_owner_adds_a_reference_without_mutating() -> None:
    obj = render()[0]
    before = copy.deepcopy(obj)
    ref = owner_reference("pffigma.dev/v1alpha1", "Tenant", "acme", "uid-1")
    owned = with_owner(obj, ref)
    assert obj == before
    assert owned["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "Tenant",
            "name": "acme",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert with_owner(owned, ref) == owned  # idempotent
    other = {**ref, "uid": "uid-2", "controller": False}
    assert [r["uid"] for r in with_owner(owned, other)["metadata"]["ownerReferences"]] == [
        "uid-1",
        "uid-2",
    ]


def test_object_key_and_selector() -> None:
    quota = one(render(), "ResourceQuota")
    key = object_key(quota)
    assert (key.api_version, key.kind, key.namespace, key.name) == (
        "v1",
        "ResourceQuota",
        "tenant-acme",
        "pf-figma-quota",
    )
    assert object_key(one(render(), "Namespace")).namespace is None
    assert (
        tenant_selector("acme") == "app.kubernetes.io/managed-by=pf-figma,pffigma.dev/tenant=acme"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pod_cidrs": ["10.244.0.1/16"]},
        {"service_cidrs": ["not-a-cidr"]},
    ],
)
def test_settings_reject_bad_cidrs(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RenderSettings(**kwargs)


def test_settings_are_hashable_with_lists() -> None:
    settings = RenderSettings(
        pod_cidrs=["10.244.0.0/16"], extra_egress=[EgressEndpoint("10.1.0.0/16", 5432)]
    )
    assert settings.pod_cidrs == ("10.244.0.0/16",)
    assert hash(settings) == hash(
        RenderSettings(
            pod_cidrs=("10.244.0.0/16",), extra_egress=(EgressEndpoint("10.1.0.0/16", 5432),)
        )
    )
    with pytest.raises(ValueError):
        EgressEndpoint("10.1.0.0/16", 0)

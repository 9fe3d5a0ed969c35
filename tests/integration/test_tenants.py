"""Tenants against the real API server: children, isolation, drift repair, lifecycle."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Cluster, OperatorProcess, unique, wait_for

pytestmark = pytest.mark.cluster


def tenant_manifest(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "pffigma.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": spec,
    }


def condition(obj: dict[str, Any] | None, ctype: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == ctype:
            return cond
    return None


def ready(cluster: Cluster, name: str) -> dict[str, Any] | None:
    obj = cluster.get("tenant", name)
    cond = condition(obj, "Ready")
    gen = (obj or {}).get("metadata", {}).get("generation")
    if cond and cond["status"] == "True" and cond.get("observedGeneration") == gen:
        return obj
    return None


@pytest.fixture
def make_tenant(cluster: Cluster, operator: OperatorProcess) -> Iterator[Any]:
    created: list[str] = []

    def make(prefix: str = "t", **spec: Any) -> tuple[str, str]:
        name = unique(prefix)
        cluster.apply(tenant_manifest(name, **spec))
        created.append(name)
        wait_for(lambda: ready(cluster, name), 30, what=f"tenant {name} Ready")
        return name, f"tenant-{name}"

    yield make
    for name in created:
        cluster.delete("tenant", name)


def test_tenant_becomes_ready_with_all_children(cluster: Cluster, make_tenant: Any) -> None:
    name, ns = make_tenant(
        "full",
        plan="pro",
        displayName="Full",
        owners=[
            {"kind": "User", "name": "alice"},
            {"kind": "ServiceAccount", "name": "ci", "namespace": "ci-system"},
        ],
        quota={"cpu": "12"},
        limits={"maxMemory": "4Gi"},
        network={"allowEgress": [{"cidr": "203.0.113.0/24", "ports": [22, 443]}]},
    )
    tenant = cluster.get("tenant", name)
    assert tenant["status"]["namespace"] == ns
    for ctype in ("NamespaceReady", "QuotaApplied", "NetworkIsolated", "AccessConfigured"):
        cond = condition(tenant, ctype)
        assert cond and cond["status"] == "True" and cond["reason"] and cond["lastTransitionTime"]

    namespace = cluster.get("namespace", ns)
    labels = namespace["metadata"]["labels"]
    assert labels["pffigma.dev/tenant"] == name
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    owner = namespace["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "Tenant",
        name,
        tenant["metadata"]["uid"],
    )

    quota = cluster.get("resourcequota", "pf-figma-quota", ns)
    assert quota["spec"]["hard"]["requests.cpu"] == "12"  # override
    assert quota["spec"]["hard"]["pods"]  # plan default kept
    limits = cluster.get("limitrange", "pf-figma-limits", ns)
    assert limits["spec"]["limits"][0]["max"]["memory"] == "4Gi"

    sa = cluster.get("serviceaccount", "pf-agent", ns)
    assert sa["automountServiceAccountToken"] is False
    bindings = cluster.list("rolebindings", ns, selector="app.kubernetes.io/managed-by=pf-figma")
    subjects = sorted((b["subjects"][0]["kind"], b["subjects"][0]["name"]) for b in bindings)
    assert subjects == [("ServiceAccount", "ci"), ("User", "alice")]
    assert all(b["roleRef"]["name"] == "pf-figma-tenant-owner" for b in bindings)

    policies = {p["metadata"]["name"]: p for p in cluster.list("networkpolicies", ns)}
    egress = json.dumps([p["spec"].get("egress", []) for p in policies.values()])
    assert "203.0.113.0/24" in egress and '"port": 22' in egress
    assert "169.254.0.0/16" in egress and "10.0.0.0/8" in egress  # internet rule exceptions
    deny = policies["pf-figma-default-deny"]["spec"]
    assert deny["podSelector"] == {} and not deny.get("ingress") and not deny.get("egress")
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert not any(p["spec"].get("ingress") for p in policies.values())
    events = cluster.list("events", "default", selector=None)
    assert any(
        e["involvedObject"]["name"] == name and e["reason"] == "NamespaceCreated" for e in events
    )


def can(
    cluster: Cluster, user: str, verb: str, resource: str, ns: str, groups: tuple[str, ...] = ()
) -> bool:
    args = ["auth", "can-i", verb, resource, "-n", ns, "--as", user]
    for group in groups:
        args += ["--as-group", group]
    out = cluster.kubectl(*args, check=False).stdout.strip()
    return out == "yes"


def test_isolation_checked_by_the_api_server(cluster: Cluster, make_tenant: Any) -> None:
    _, ns_a = make_tenant(
        "iso-a", owners=[{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "team-a"}]
    )
    _, ns_b = make_tenant("iso-b", owners=[{"kind": "User", "name": "bob"}])
    agent_a = f"system:serviceaccount:{ns_a}:pf-agent"

    # what owners may do in their own namespace, and nothing more
    for user, groups in (("alice", ()), ("someone", ("team-a",))):
        assert can(cluster, user, "create", "designpipelines.pffigma.dev", ns_a, groups)
        assert can(cluster, user, "delete", "designpipelines.pffigma.dev", ns_a, groups)
        assert can(cluster, user, "list", "jobs", ns_a, groups)
        assert can(cluster, user, "get", "pods", ns_a, groups)
        assert can(cluster, user, "get", "pods/log", ns_a, groups)
        assert not can(cluster, user, "get", "secrets", ns_a, groups)
        assert not can(cluster, user, "create", "pods", ns_a, groups)
        assert not can(cluster, user, "delete", "jobs", ns_a, groups)
        assert not can(cluster, user, "update", "resourcequotas", ns_a, groups)
    # nothing across tenants, for owners and agents alike
    for user, groups in (("alice", ()), ("someone", ("team-a",)), (agent_a, ())):
        for verb in ("get", "list", "create", "delete"):
            for resource in (
                "secrets",
                "pods",
                "jobs",
                "designpipelines.pffigma.dev",
                "configmaps",
            ):
                assert not can(cluster, user, verb, resource, ns_b, groups), (user, verb, resource)
    # the agent ServiceAccount has no permissions at all, even at home
    for verb in ("get", "list", "create"):
        for resource in ("secrets", "pods", "configmaps", "designpipelines.pffigma.dev"):
            assert not can(cluster, agent_a, verb, resource, ns_a)
    assert can(cluster, "bob", "create", "designpipelines.pffigma.dev", ns_b)
    assert not can(cluster, "bob", "get", "pods", ns_a)


def test_tenant_namespace_enforces_pod_security_and_quota(
    cluster: Cluster, make_tenant: Any
) -> None:
    _, ns = make_tenant("psa", quota={"cpu": "2"})
    privileged = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": ns},
        "spec": {
            "containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]
        },
    }
    proc = cluster.kubectl("apply", "-f", "-", input=json.dumps(privileged), check=False)
    assert proc.returncode != 0 and "violates PodSecurity" in proc.stderr
    wait_for(
        lambda: (cluster.get("resourcequota", "pf-figma-quota", ns) or {}).get("status"),
        20,
        what="quota status",
    )
    big = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "big", "namespace": ns},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 1000,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "c",
                    "image": "x",
                    "resources": {
                        "requests": {"cpu": "3", "memory": "128Mi"},
                        "limits": {"cpu": "3", "memory": "128Mi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }
    proc = cluster.kubectl("apply", "-f", "-", input=json.dumps(big), check=False)
    assert proc.returncode != 0
    assert "exceeded quota" in proc.stderr or "maximum cpu usage" in proc.stderr


def test_drift_is_repaired_within_ten_seconds(cluster: Cluster, make_tenant: Any) -> None:
    name, ns = make_tenant("drift", owners=[{"kind": "User", "name": "carol"}])
    binding = cluster.list("rolebindings", ns, selector="app.kubernetes.io/managed-by=pf-figma")[0]
    cluster.delete("resourcequota", "pf-figma-quota", ns)
    cluster.delete("rolebinding", binding["metadata"]["name"], ns)
    cluster.kubectl(
        "patch",
        "networkpolicy",
        "pf-figma-default-deny",
        "-n",
        ns,
        "--type=json",
        "-p",
        '[{"op": "replace", "path": "/spec/policyTypes", "value": ["Egress"]}]',
    )
    start = time.monotonic()
    wait_for(lambda: cluster.get("resourcequota", "pf-figma-quota", ns), 10, what="quota back")
    wait_for(
        lambda: cluster.get("rolebinding", binding["metadata"]["name"], ns),
        10,
        what="role binding back",
    )
    wait_for(
        lambda: (
            "Ingress"
            in cluster.get("networkpolicy", "pf-figma-default-deny", ns)["spec"]["policyTypes"]
        ),
        10,
        what="policy restored",
    )
    assert time.monotonic() - start < 10
    events = cluster.list("events", "default")
    assert any(
        e["involvedObject"]["name"] == name and e["reason"] == "DriftRepaired" for e in events
    )


def test_spec_update_changes_children_and_prunes(cluster: Cluster, make_tenant: Any) -> None:
    name, ns = make_tenant(
        "upd", owners=[{"kind": "User", "name": "u1"}, {"kind": "User", "name": "u2"}]
    )
    cluster.kubectl(
        "patch",
        "tenant",
        name,
        "--type=merge",
        "-p",
        json.dumps(
            {
                "spec": {
                    "quota": {"cpu": "7"},
                    "owners": [{"kind": "User", "name": "u2"}],
                    "network": {"allowInternetEgress": False},
                }
            }
        ),
    )
    wait_for(
        lambda: (
            cluster.get("resourcequota", "pf-figma-quota", ns)["spec"]["hard"]["requests.cpu"]
            == "7"
        ),
        10,
        what="quota updated",
    )
    wait_for(
        lambda: (
            len(cluster.list("rolebindings", ns, selector="app.kubernetes.io/managed-by=pf-figma"))
            == 1
        ),
        10,
        what="owner binding pruned",
    )
    wait_for(
        lambda: "0.0.0.0/0" not in json.dumps(cluster.list("networkpolicies", ns)),
        10,
        what="internet egress removed",
    )
    wait_for(lambda: ready(cluster, name), 10, what="Ready for the new generation")


def test_suspend_and_resume(cluster: Cluster, make_tenant: Any) -> None:
    name, _ = make_tenant("susp")
    cluster.kubectl("patch", "tenant", name, "--type=merge", "-p", '{"spec":{"suspended":true}}')
    wait_for(
        lambda: (
            (condition(cluster.get("tenant", name), "Ready") or {}).get("reason") == "Suspended"
        ),
        10,
        what="Suspended reason",
    )
    cluster.kubectl("patch", "tenant", name, "--type=merge", "-p", '{"spec":{"suspended":false}}')
    wait_for(
        lambda: (condition(cluster.get("tenant", name), "Ready") or {}).get("reason") == "Ready",
        10,
        what="Ready again",
    )


def test_deleting_a_tenant_removes_its_namespace(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    name = unique("gone")
    cluster.apply(tenant_manifest(name))
    wait_for(lambda: ready(cluster, name), 30, what="ready")
    cluster.kubectl("create", "configmap", "data", "-n", f"tenant-{name}", "--from-literal=a=b")
    cluster.delete("tenant", name)
    wait_for(
        lambda: cluster.get("namespace", f"tenant-{name}") is None,
        60,
        what="namespace deleted by the garbage collector",
    )


def test_semantic_problem_gives_ready_false_not_a_crash(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    name = unique("sem")
    # accepted by the schema, but the quota cannot hold even one agent at the maximum size
    cluster.apply(tenant_manifest(name, quota={"memory": "64Mi"}, limits={"maxMemory": "2Gi"}))
    try:
        cond = wait_for(
            lambda: (
                (c := condition(cluster.get("tenant", name), "Ready"))
                and c["status"] == "False"
                and c
            ),
            20,
            what="Ready=False",
        )
        assert cond["reason"] == "InvalidConfiguration" and "memory" in cond["message"]
        assert operator.proc is not None and operator.proc.poll() is None
    finally:
        cluster.delete("tenant", name)


def writes(op: OperatorProcess) -> float:
    return op.metric("pf_figma_api_write_requests_total")


def test_restart_changes_nothing(
    cluster: Cluster, operator: OperatorProcess, make_tenant: Any
) -> None:
    names = [make_tenant("idem", owners=[{"kind": "User", "name": "x"}])[0] for _ in range(3)]

    def versions() -> dict[str, str]:
        out = {}
        for name in names:
            ns = f"tenant-{name}"
            out[f"tenant/{name}"] = cluster.get("tenant", name)["metadata"]["resourceVersion"]
            for kind in (
                "resourcequota",
                "limitrange",
                "networkpolicies",
                "serviceaccount",
                "rolebindings",
            ):
                for obj in cluster.list(kind, ns, selector="app.kubernetes.io/managed-by=pf-figma"):
                    out[f"{kind}/{ns}/{obj['metadata']['name']}"] = obj["metadata"][
                        "resourceVersion"
                    ]
        return out

    before = versions()
    operator.stop()
    operator.start()
    time.sleep(5)  # initial listing + a full reconcile of every Tenant
    assert writes(operator) == 0
    assert versions() == before

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
    # one pipeline at a time: the quota holds one visual pod (2 CPU), not two
    _, ns = make_tenant("psa", quota={"cpu": "2"}, pipelines={"maxConcurrent": 1})
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


# --- issue 17: isolation ----------------------------------------------------------------------


def tenant_events(cluster: Cluster, name: str, reason: str) -> list[dict[str, Any]]:
    return [
        e
        for e in cluster.list("events", "default")
        if e["involvedObject"]["name"] == name and e["reason"] == reason
    ]


def test_drift_in_selectors_and_subjects_is_repaired_with_an_event(
    cluster: Cluster, make_tenant: Any
) -> None:
    """Item 1: fields are compared with their meaning; {} selects all pods, {x: y} none."""
    name, ns = make_tenant("sel", owners=[{"kind": "User", "name": "carol"}])
    binding = cluster.list("rolebindings", ns, selector="app.kubernetes.io/managed-by=pf-figma")[0]
    bname = binding["metadata"]["name"]
    patches = [
        (
            "networkpolicy",
            "pf-figma-default-deny",
            {"spec": {"podSelector": {"matchLabels": {"x": "y"}}}},
        ),
        (  # the DNS peer narrowed to pods nobody runs: a silent outage rather than a hole
            "networkpolicy",
            "pf-figma-allow-egress",
            None,
        ),
        # a limit pf-figma did not set (scopes are immutable): kept by server-side apply
        ("resourcequota", "pf-figma-quota", {"spec": {"hard": {"secrets": "1"}}}),
    ]
    for kind, obj, patch in patches:
        if patch is None:
            cluster.kubectl(
                "patch",
                kind,
                obj,
                "-n",
                ns,
                "--type=json",
                "-p",
                json.dumps(
                    [
                        {
                            "op": "add",
                            "path": "/spec/egress/0/to/0/podSelector",
                            "value": {"matchLabels": {"x": "y"}},
                        }
                    ]
                ),
            )
        else:
            cluster.kubectl("patch", kind, obj, "-n", ns, "--type=merge", "-p", json.dumps(patch))
    cluster.kubectl(  # a stranger added to an owner binding
        "patch",
        "rolebinding",
        bname,
        "-n",
        ns,
        "--type=json",
        "-p",
        json.dumps(
            [
                {
                    "op": "add",
                    "path": "/subjects/-",
                    "value": {
                        "kind": "User",
                        "name": "mallory",
                        "apiGroup": "rbac.authorization.k8s.io",
                    },
                }
            ]
        ),
    )

    def repaired() -> bool:
        deny = cluster.get("networkpolicy", "pf-figma-default-deny", ns)["spec"]
        allow = cluster.get("networkpolicy", "pf-figma-allow-egress", ns)["spec"]
        quota = cluster.get("resourcequota", "pf-figma-quota", ns)["spec"]
        subjects = cluster.get("rolebinding", bname, ns)["subjects"]
        return (
            deny["podSelector"] == {}
            and "podSelector" not in allow["egress"][0]["to"][0]
            and "secrets" not in quota["hard"]
            and [s["name"] for s in subjects] == ["carol"]
        )

    wait_for(repaired, 15, what="selector, peer, quota scope and subject drift repaired")
    assert not can(cluster, "mallory", "create", "designpipelines.pffigma.dev", ns)
    messages = " ".join(e["message"] for e in tenant_events(cluster, name, "DriftRepaired"))
    for obj in ("pf-figma-default-deny", "pf-figma-allow-egress", "pf-figma-quota", bname):
        assert obj in messages
    cond = condition(cluster.get("tenant", name), "NetworkIsolated")
    assert cond and cond["status"] == "True"
    time.sleep(3)  # repaired once, not in a loop
    policy = cluster.get("networkpolicy", "pf-figma-default-deny", ns)
    assert policy["spec"]["podSelector"] == {}
    rv = policy["metadata"]["resourceVersion"]
    time.sleep(2)
    assert (
        cluster.get("networkpolicy", "pf-figma-default-deny", ns)["metadata"]["resourceVersion"]
        == rv
    )


def test_pod_security_label_repair_records_an_event(cluster: Cluster, make_tenant: Any) -> None:
    """Item 3: the namespace's Pod Security labels are repaired, with an Event like others."""
    name, ns = make_tenant("psal")
    cluster.kubectl(
        "label", "namespace", ns, "--overwrite", "pod-security.kubernetes.io/enforce=privileged"
    )
    wait_for(
        lambda: (
            cluster.get("namespace", ns)["metadata"]["labels"].get(
                "pod-security.kubernetes.io/enforce"
            )
            == "restricted"
        ),
        10,
        what="enforce label restored",
    )
    wait_for(
        lambda: any(
            f"Namespace/{ns}" in e["message"] for e in tenant_events(cluster, name, "DriftRepaired")
        ),
        10,
        what="DriftRepaired event naming the namespace",
    )


def test_namespace_created_before_its_tenant_is_not_adopted_silently(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    """Item 2: someone else's namespace needs the opt-in; adoption removes foreign access."""
    name = unique("pre")
    ns = f"tenant-{name}"
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl(
        "create",
        "rolebinding",
        "stranger-admin",
        "-n",
        ns,
        "--clusterrole=admin",
        "--user=stranger",
    )
    cluster.kubectl(
        "create", "role", "stranger-secrets", "-n", ns, "--verb=get,list", "--resource=secrets"
    )
    cluster.kubectl(
        "create",
        "rolebinding",
        "stranger-secrets",
        "-n",
        ns,
        "--role=stranger-secrets",
        "--user=stranger2",
    )
    try:
        cluster.apply(tenant_manifest(name))
        cond = wait_for(
            lambda: (
                (c := condition(cluster.get("tenant", name), "Ready"))
                and c["status"] == "False"
                and c
            ),
            20,
            what="Ready=False",
        )
        assert cond["reason"] == "NamespaceNotOwned"
        assert "pffigma.dev/adopt=" + name in cond["message"]
        time.sleep(2)
        assert cluster.list("networkpolicies", ns) == []  # nothing written into it
        assert cluster.list("serviceaccounts", ns, selector="app.kubernetes.io/managed-by") == []
        assert not tenant_events(cluster, name, "NamespaceCreated")
        assert tenant_events(cluster, name, "NamespaceNotOwned")

        cluster.kubectl("annotate", "namespace", ns, f"pffigma.dev/adopt={name}")
        wait_for(lambda: ready(cluster, name), 30, what="Ready after the opt-in")
        names = {b["metadata"]["name"] for b in cluster.list("rolebindings", ns)}
        assert "stranger-admin" not in names and "stranger-secrets" not in names
        assert cluster.get("role", "stranger-secrets", ns) is None
        for user in ("stranger", "stranger2"):
            assert not can(cluster, user, "get", "secrets", ns)
            assert not can(cluster, user, "list", "pods", ns)
        adopted = tenant_events(cluster, name, "NamespaceAdopted")
        assert adopted and all(
            f in adopted[0]["message"]
            for f in (
                "RoleBinding/stranger-admin",
                "RoleBinding/stranger-secrets",
                "Role/stranger-secrets",
            )
        )
        assert not tenant_events(cluster, name, "NamespaceCreated")
        owner = cluster.get("namespace", ns)["metadata"]["ownerReferences"][0]
        assert owner["name"] == name
    finally:
        cluster.delete("tenant", name)
        cluster.delete("namespace", ns)


def test_owners_create_sources_and_secrets_but_never_read_secrets(
    cluster: Cluster, make_tenant: Any
) -> None:
    """Item 11: the documented flow works for owners, without reading the operator's
    Secrets (the database credentials)."""
    _, ns = make_tenant("own", owners=[{"kind": "User", "name": "olivia"}])
    for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
        assert can(cluster, "olivia", verb, "configmaps", ns), verb
    assert can(cluster, "olivia", "create", "secrets", ns)
    for verb in ("get", "list", "watch", "update", "patch", "delete"):
        assert not can(cluster, "olivia", verb, "secrets", ns), verb
        assert not can(cluster, "olivia", verb, "secrets/pf-figma-db", ns), verb
    # as the README says, for real
    cluster.kubectl(
        "-n", ns, "create", "configmap", "button-design", "--from-literal=file.json={}",
        as_user="olivia",
    )
    cluster.kubectl(
        "-n", ns, "create", "secret", "generic", "figma", "--from-literal=token=t",
        as_user="olivia",
    )
    denied = cluster.kubectl("-n", ns, "get", "secret", "figma", as_user="olivia", check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    # nothing in another tenant's namespace
    _, other = make_tenant("own2")
    assert not can(cluster, "olivia", "create", "configmaps", other)
    assert not can(cluster, "olivia", "create", "secrets", other)

"""operator/render/cluster.py: the ClusterRole the tenant owners are bound to."""

from __future__ import annotations

from pf_operator.render import MANAGED_BY_LABEL, OWNER_CLUSTER_ROLE_NAME, tenant_owner_clusterrole


def test_owner_cluster_role_grants_exactly_the_owner_rights() -> None:
    role = tenant_owner_clusterrole()
    assert role["apiVersion"] == "rbac.authorization.k8s.io/v1"
    assert role["kind"] == "ClusterRole"
    assert role["metadata"]["name"] == OWNER_CLUSTER_ROLE_NAME == "pf-figma-tenant-owner"
    assert role["metadata"]["labels"][MANAGED_BY_LABEL] == "pf-figma"
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    read = {"get", "list", "watch"}
    expected = (
        {("pffigma.dev", "designpipelines", v)
         for v in read | {"create", "patch", "update", "delete"}}  # patch: spec.cancel
        | {("batch", "jobs", v) for v in read}
        | {("", "pods", v) for v in read}
        | {("", "pods/log", "get")}
        # the design sources, and the Secrets their Tenant names (issue 17, item 11)
        | {("", "configmaps", v) for v in read | {"create", "patch", "update", "delete"}}
        | {("", "secrets", "create")}
    )
    assert granted == expected


def test_owner_cluster_role_has_no_wildcards_and_cannot_read_secrets() -> None:
    for rule in tenant_owner_clusterrole()["rules"]:
        for values in (rule["apiGroups"], rule["resources"], rule["verbs"]):
            assert "*" not in values
        if "secrets" in rule["resources"]:
            # create only: reading, and update/patch/delete (their answers carry the object),
            # would give away the operator's database credentials (Secret pf-figma-db)
            assert rule["verbs"] == ["create"]
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule


def test_fresh_copy_each_call() -> None:
    first = tenant_owner_clusterrole()
    first["rules"].clear()
    assert tenant_owner_clusterrole()["rules"]

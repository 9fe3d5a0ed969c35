"""Cluster-scoped objects the operator ships (applied once at start, later by the chart)."""

from __future__ import annotations

from ..constants import MANAGED_BY, MANAGED_BY_LABEL
from ..model import GROUP, PIPELINE_PLURAL
from .common import OWNER_CLUSTER_ROLE_NAME, Obj

_READ = ["get", "list", "watch"]


def tenant_owner_clusterrole() -> Obj:
    """ClusterRole pf-figma-tenant-owner, bound in each tenant namespace to the tenant's owners.

    Owners may create, read, change and delete DesignPipelines and ConfigMaps (the design
    sources), read Jobs, Pods and pod logs, and create Secrets (the Figma token and Anthropic
    key their Tenant names). Secrets are create-only: get, list and watch would read the
    operator's database credentials (Secret pf-figma-db), and so would update, patch and delete,
    whose answers carry the object. Nothing else.
    """
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": OWNER_CLUSTER_ROLE_NAME,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, "app.kubernetes.io/name": "pf-figma"},
        },
        "rules": [
            {
                "apiGroups": [GROUP],
                "resources": [PIPELINE_PLURAL],
                # patch/update so that owners can set spec.cancel
                "verbs": [*_READ, "create", "patch", "update", "delete"],
            },
            {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": list(_READ)},
            {"apiGroups": [""], "resources": ["pods"], "verbs": list(_READ)},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "verbs": [*_READ, "create", "patch", "update", "delete"],
            },
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        ],
    }

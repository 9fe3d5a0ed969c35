"""Pure renderers: a spec in, the desired Kubernetes objects out, as plain dicts.

Nothing here talks to the API; the handlers apply what these functions return.
"""

from ..constants import MANAGED_BY, MANAGED_BY_LABEL, TENANT_LABEL
from .checks import semantic_problems
from .cluster import tenant_owner_clusterrole
from .common import (
    AGENT_SERVICE_ACCOUNT_NAME,
    ALLOW_EGRESS_POLICY_NAME,
    DEFAULT_DENY_POLICY_NAME,
    LIMIT_RANGE_NAME,
    OWNER_BINDING_PREFIX,
    OWNER_CLUSTER_ROLE_NAME,
    QUOTA_NAME,
    EgressEndpoint,
    ObjectKey,
    RenderSettings,
    object_key,
    owner_reference,
    tenant_labels,
    tenant_selector,
    with_owner,
)
from .tenant import desired_objects

__all__ = [
    "AGENT_SERVICE_ACCOUNT_NAME",
    "ALLOW_EGRESS_POLICY_NAME",
    "DEFAULT_DENY_POLICY_NAME",
    "LIMIT_RANGE_NAME",
    "MANAGED_BY",
    "MANAGED_BY_LABEL",
    "OWNER_BINDING_PREFIX",
    "OWNER_CLUSTER_ROLE_NAME",
    "QUOTA_NAME",
    "TENANT_LABEL",
    "EgressEndpoint",
    "ObjectKey",
    "RenderSettings",
    "desired_objects",
    "object_key",
    "owner_reference",
    "semantic_problems",
    "tenant_labels",
    "tenant_owner_clusterrole",
    "tenant_selector",
    "with_owner",
]

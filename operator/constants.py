"""One home for the names pf-figma writes onto Kubernetes objects: labels, annotations, the
field manager, and the kinds a Tenant is made of. Pure: imports nothing of the operator."""

from __future__ import annotations

# --- labels ------------------------------------------------------------------------------------

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
#: value of MANAGED_BY_LABEL on everything the operator creates (and its field manager)
MANAGED_BY = "pf-figma"
#: label selector of everything the operator creates
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
#: every object made for a Tenant (its namespace's children, Jobs, the database Secret)
TENANT_LABEL = "pffigma.dev/tenant"
#: the agent Jobs of one DesignPipeline
PIPELINE_LABEL = "pffigma.dev/pipeline"
STAGE_LABEL = "pffigma.dev/stage"
ATTEMPT_LABEL = "pffigma.dev/attempt"

# --- annotations -------------------------------------------------------------------------------

#: hash of the desired state an object was last applied with (operator/diff.py)
HASH_ANNOTATION = "pffigma.dev/desired-hash"
#: the agent's JSON configuration on an agent Job's pod template
CONFIG_ANNOTATION = "pffigma.dev/config"
#: on a Namespace pf-figma did not create: the Tenant (by name) that may take it over
ADOPT_ANNOTATION = "pffigma.dev/adopt"
#: on a Tenant: a new value asks for new database credentials
#: (``kubectl annotate tenant acme pffigma.dev/rotate-db-credentials=$(date +%s) --overwrite``)
ROTATE_ANNOTATION = "pffigma.dev/rotate-db-credentials"
#: on the tenant's database Secret: the ROTATE_ANNOTATION value its credentials answer
ROTATED_ANNOTATION = "pffigma.dev/db-credentials-rotation"
#: on the tenant's database Secret: the database role the credentials log in as
ROLE_ANNOTATION = "pffigma.dev/db-role"

# --- kinds -------------------------------------------------------------------------------------

#: kinds of the objects a Tenant is made of (watched and cached with MANAGED_SELECTOR)
TENANT_CHILD_KINDS = (
    "Namespace",
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
    "ServiceAccount",
    "RoleBinding",
    "ConfigMap",
)

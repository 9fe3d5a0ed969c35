"""Pure: one stage attempt of a DesignPipeline -> the agent Job that runs it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..constants import (
    ATTEMPT_LABEL,
    CONFIG_ANNOTATION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    PIPELINE_LABEL,
    STAGE_LABEL,
    TENANT_LABEL,
)
from ..model import API_VERSION, PIPELINE_KIND, DesignPipelineSpec, TenantSpec
from ..quantities import parse_quantity

RESERVED_LABEL_PREFIXES = (
    "app.kubernetes.io/",
    "batch.kubernetes.io/",
    "controller-uid",
    "job-name",
)
OUR_LABELS = (MANAGED_BY_LABEL, TENANT_LABEL, PIPELINE_LABEL, STAGE_LABEL, ATTEMPT_LABEL)

AGENT_UID = 10001
WORK_DIR = "/work"
CONFIG_DIR = "/etc/pf-figma/config"
SOURCE_DIR = "/etc/pf-figma/source"
GIT_DIR = "/etc/pf-figma/git"
CA_DIR = "/etc/pf-figma/ca"


#: The credentials each stage gets besides the tenant's own database role (row-level security
#: confines it): the Figma token only where Figma is called, the Anthropic key only where
#: Claude is called (and only when the pipeline's LLM use is on). Stages that run generated or
#: downloaded code with npm install and package scripts (test, qa) get no key at all; generate
#: runs ``tsc`` alone next to the key (no install, no scripts); visual calls Claude for the
#: self-correcting refinement (its visual diff) and renders, type-checks and tests the
#: generated code from the image's installed packages (no install), the key left out of every
#: child process's environment (pf_agents.qa.CHILD_ENV_DROP). deploy gets its git credentials.
STAGE_CREDENTIALS: dict[str, frozenset[str]] = {
    "analyze": frozenset({"figma"}),
    "generate": frozenset({"anthropic"}),
    "test": frozenset(),
    "qa": frozenset(),
    "visual": frozenset({"anthropic"}),
    "deploy": frozenset({"git"}),
}

#: Per-stage container resources replacing the agent default (each value capped by the
#: tenant's limits like the default): the visual stage runs headless Chromium.
DEFAULT_STAGE_RESOURCES: dict[str, dict[str, dict[str, str]]] = {
    "visual": {
        "requests": {"cpu": "500m", "memory": "768Mi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    },
}
#: the browser's shared memory (/dev/shm, a memory-backed emptyDir counted in the pod's memory)
SHM_STAGES = frozenset({"visual"})
SHM_SIZE = "256Mi"


@dataclass(frozen=True)
class AgentSettings:
    """Operator settings that shape agent pods."""

    image: str = "pf-figma-agent:dev"
    image_pull_policy: str = "IfNotPresent"
    cpu_request: str = "250m"
    memory_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()
    artifacts_url: str = "file:///tmp/pf-figma-artifacts"
    #: Secret (in the tenant namespace) whose key `dsn` is the tenant's own database DSN; when
    #: set, artifacts go to PostgreSQL under the tenant's role instead of artifacts_url.
    artifacts_secret: str | None = None
    ca_bundle_configmap: str | None = None
    #: base URL of the Figma API (FIGMA_API_URL of analyze); a Tenant's figma.apiURL wins
    figma_api_url: str = "https://api.figma.com"
    stage_resources: Mapping[str, Mapping[str, Mapping[str, str]]] = field(
        default_factory=lambda: DEFAULT_STAGE_RESOURCES
    )


def job_name(pipeline: str, stage: str, attempt: int) -> str:
    """`<pipeline>-<stage>-<attempt>`, shortened with a hash to fit a 63-character label value."""
    name = f"{pipeline}-{stage}-{attempt}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    suffix = f"-{digest}-{stage}-{attempt}"
    return pipeline[: 63 - len(suffix)].rstrip("-.") + suffix


def _min_quantity(a: str, b: str | None) -> str:
    if b is None:
        return a
    return a if parse_quantity(a) <= parse_quantity(b) else b


def agent_config(
    *,
    tenant: str,
    namespace: str,
    pipeline: str,
    uid: str,
    stage: str,
    attempt: int,
    spec: DesignPipelineSpec,
    tenant_spec: TenantSpec,
) -> dict[str, Any]:
    """The agent's configuration file (docs/contracts.md). Never contains secrets."""
    llm = spec.effective_llm(tenant_spec)
    config: dict[str, Any] = {
        "tenant": tenant,
        "namespace": namespace,
        "pipeline": pipeline,
        "uid": uid,
        "stage": stage,
        "attempt": attempt,
        "source": source_config(spec),
        "target": spec.target.to_dict(),
        "featureFlags": dict(sorted(tenant_spec.feature_flags.items())),
        "llm": {
            "enabled": llm.enabled,
            "model": llm.model,
            "maxTokens": llm.max_tokens,
            "maxCostUSD": llm.max_cost_usd,
        },
    }
    if spec.git is not None:
        config["git"] = {"url": spec.git.url, "branch": spec.git.branch_for(pipeline)}
    return config


def source_config(spec: DesignPipelineSpec) -> dict[str, Any]:
    """``source`` of the agent config: a Figma source resolved (a url becomes the key to fetch,
    a branch's key for a branch link, and REST node ids); other sources as the spec has them."""
    figma = spec.source.figma
    if figma is None:
        return spec.source.to_dict()
    resolved = figma.resolve()
    ref: dict[str, Any] = {"fileKey": resolved.fetch_key, "nodeIds": list(resolved.node_ids)}
    if resolved.version is not None:
        ref["version"] = resolved.version
    if figma.url is not None:
        ref["url"] = figma.url
    return {"figma": ref}


def figma_api_url(agent: AgentSettings, tenant_spec: TenantSpec) -> str:
    """The Figma API base URL of a tenant's analyze stages: its own, else the operator's."""
    return tenant_spec.figma.api_url or agent.figma_api_url


def render_job(
    *,
    pipeline: Mapping[str, Any],
    spec: DesignPipelineSpec,
    tenant: str,
    tenant_spec: TenantSpec,
    stage: str,
    attempt: int,
    agent: AgentSettings,
    llm_allowed: bool = True,
    trace_env: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """``trace_env``: the attempt's TRACEPARENT and OTEL_* variables (tracing.Tracing.job_env;
    empty when tracing is off): the agent's spans become children of the attempt's span."""
    meta = pipeline["metadata"]
    name, namespace, uid = meta["name"], meta["namespace"], meta["uid"]
    jname = job_name(name, stage, attempt)
    config = agent_config(
        tenant=tenant,
        namespace=namespace,
        pipeline=name,
        uid=uid,
        stage=stage,
        attempt=attempt,
        spec=spec,
        tenant_spec=tenant_spec,
    )
    user_labels = {
        k: v
        for k, v in (meta.get("labels") or {}).items()
        if k not in OUR_LABELS and not k.startswith(RESERVED_LABEL_PREFIXES)
    }
    labels = {
        **user_labels,
        MANAGED_BY_LABEL: MANAGED_BY,
        "app.kubernetes.io/name": "pf-figma-agent",
        "app.kubernetes.io/component": stage,
        TENANT_LABEL: tenant,
        PIPELINE_LABEL: name,
        STAGE_LABEL: stage,
        ATTEMPT_LABEL: str(attempt),
    }
    limits = tenant_spec.effective_limits()
    own = agent.stage_resources.get(stage) or {}
    requests, maxima = own.get("requests") or {}, own.get("limits") or {}
    resources = {
        "requests": {
            "cpu": _min_quantity(requests.get("cpu", agent.cpu_request), limits.max_cpu),
            "memory": _min_quantity(
                requests.get("memory", agent.memory_request), limits.max_memory
            ),
        },
        "limits": {
            "cpu": _min_quantity(maxima.get("cpu", agent.cpu_limit), limits.max_cpu),
            "memory": _min_quantity(maxima.get("memory", agent.memory_limit), limits.max_memory),
        },
    }
    env: list[dict[str, Any]] = [
        {"name": "PF_STAGE", "value": stage},
        {"name": "PF_CONFIG_FILE", "value": f"{CONFIG_DIR}/config.json"},
        {"name": "PF_WORKDIR", "value": WORK_DIR},
        {"name": "PF_ARTIFACTS", "value": agent.artifacts_url}
        if not agent.artifacts_secret
        else {
            "name": "PF_ARTIFACTS",
            "valueFrom": {"secretKeyRef": {"name": agent.artifacts_secret, "key": "dsn"}},
        },
        {"name": "PF_RESULT_FILE", "value": "/dev/termination-log"},
        {"name": "HOME", "value": WORK_DIR},
        {"name": "npm_config_cache", "value": f"{WORK_DIR}/.npm"},
        *({"name": e["name"], "value": e["value"]} for e in trace_env),
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "work", "emptyDir": {"sizeLimit": "2Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}},
        {
            "name": "config",
            "downwardAPI": {
                "items": [
                    {
                        "path": "config.json",
                        "fieldRef": {"fieldPath": f"metadata.annotations['{CONFIG_ANNOTATION}']"},
                    }
                ]
            },
        },
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "work", "mountPath": WORK_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
    ]
    if stage in SHM_STAGES:
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}})
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    credentials = STAGE_CREDENTIALS.get(stage, frozenset())
    source = spec.source
    if source.config_map_ref is not None:
        # a key ending in .gz (binaryData) is gzip-compressed JSON: analyze inflates it
        path = "figma.json.gz" if source.config_map_ref.key.endswith(".gz") else "figma.json"
        volumes.append(
            {
                "name": "source",
                "configMap": {
                    "name": source.config_map_ref.name,
                    "items": [{"key": source.config_map_ref.key, "path": path}],
                },
            }
        )
        mounts.append({"name": "source", "mountPath": SOURCE_DIR, "readOnly": True})
        env.append({"name": "PF_SOURCE_FILE", "value": f"{SOURCE_DIR}/{path}"})
    elif source.figma is not None and "figma" in credentials:
        env.append({"name": "FIGMA_API_URL", "value": figma_api_url(agent, tenant_spec)})
        if tenant_spec.figma.token_secret_ref is not None:
            ref = tenant_spec.figma.token_secret_ref
            env.append(
                {
                    "name": "FIGMA_TOKEN",
                    "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
                }
            )
    llm = spec.effective_llm(tenant_spec)
    if (
        "anthropic" in credentials
        and llm.enabled
        and llm_allowed
        and tenant_spec.llm.api_key_secret_ref is not None
    ):
        ref = tenant_spec.llm.api_key_secret_ref
        env.append(
            {
                "name": "ANTHROPIC_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key, "optional": True}},
            }
        )
    if "git" in credentials and spec.git is not None and spec.git.secret_ref is not None:
        volumes.append({"name": "git", "secret": {"secretName": spec.git.secret_ref.name}})
        mounts.append({"name": "git", "mountPath": GIT_DIR, "readOnly": True})
        env.append({"name": "PF_GIT_CREDENTIALS_DIR", "value": GIT_DIR})
    if agent.ca_bundle_configmap:
        volumes.append(
            {"name": "ca", "configMap": {"name": agent.ca_bundle_configmap, "optional": True}}
        )
        mounts.append({"name": "ca", "mountPath": CA_DIR, "readOnly": True})
        bundle = f"{CA_DIR}/ca.crt"
        env += [
            {"name": n, "value": bundle}
            for n in (
                "SSL_CERT_FILE",
                "NODE_EXTRA_CA_CERTS",
                "PIP_CERT",
                "REQUESTS_CA_BUNDLE",
                "npm_config_cafile",
            )
        ]

    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": "pf-agent",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": AGENT_UID,
            "runAsGroup": AGENT_UID,
            "fsGroup": AGENT_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "agent",
                "image": agent.image,
                "imagePullPolicy": agent.image_pull_policy,
                "command": ["python", "-m", "pf_agents", stage],
                "env": env,
                "resources": resources,
                "volumeMounts": mounts,
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            }
        ],
        "volumes": volumes,
    }
    if agent.node_selector:
        pod_spec["nodeSelector"] = dict(agent.node_selector)
    if agent.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in agent.tolerations]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": jname,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": PIPELINE_KIND,
                    "name": name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": 0,  # the operator retries stages itself: one Job per attempt
            "activeDeadlineSeconds": spec.timeouts.stage_seconds,
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {CONFIG_ANNOTATION: json.dumps(config, sort_keys=True)},
                },
                "spec": pod_spec,
            },
        },
    }

"""operator/render/job.py: one stage attempt of a DesignPipeline -> its agent Job."""

from __future__ import annotations

import json
import random
import re
import string
from typing import Any

import pytest

from pf_operator.constants import CONFIG_ANNOTATION
from pf_operator.model import DesignPipelineSpec, TenantSpec
from pf_operator.quantities import parse_quantity
from pf_operator.render.job import (
    AgentSettings,
    agent_config,
    job_name,
    render_job,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
FIGMA_SECRET = {"name": "figma-token-secret", "key": "token-key"}
LLM_SECRET = {"name": "anthropic-secret", "key": "api-key-key"}
PIPELINE = {
    "metadata": {
        "name": "demo",
        "namespace": "tenant-acme",
        "uid": "0b8c7c35-uid",
        "labels": {
            "team": "web",
            "pffigma.dev/custom": "yes",
            "app.kubernetes.io/name": "spoofed",
            "app.kubernetes.io/managed-by": "someone-else",
            "batch.kubernetes.io/job-name": "spoofed",
            "controller-uid": "spoofed",
            "job-name": "spoofed",
            "pffigma.dev/tenant": "other-tenant",
            "pffigma.dev/pipeline": "other-pipeline",
            "pffigma.dev/stage": "deploy",
            "pffigma.dev/attempt": "99",
        },
    }
}


def mkspec(**fields: Any) -> DesignPipelineSpec:
    body: dict[str, Any] = {"source": {"figma": {"fileKey": "FILE", "nodeIds": ["1:2"]}}}
    body.update(fields)
    return DesignPipelineSpec.model_validate(body)


def mktenant(**fields: Any) -> TenantSpec:
    return TenantSpec.model_validate(fields)


def render(
    spec: DesignPipelineSpec | None = None,
    tenant_spec: TenantSpec | None = None,
    stage: str = "analyze",
    attempt: int = 1,
    agent: AgentSettings | None = None,
    pipeline: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return render_job(
        pipeline=pipeline or PIPELINE,
        spec=spec or mkspec(),
        tenant="acme",
        tenant_spec=tenant_spec or mktenant(),
        stage=stage,
        attempt=attempt,
        agent=agent or AgentSettings(),
    )


def pod(job: dict[str, Any]) -> dict[str, Any]:
    spec = job["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


def container(job: dict[str, Any]) -> dict[str, Any]:
    containers = pod(job)["containers"]
    assert len(containers) == 1
    assert isinstance(containers[0], dict)
    return containers[0]


def env(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    entries = container(job)["env"]
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)), f"duplicate env vars: {names}"
    return {e["name"]: e for e in entries}


def volumes(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod(job)["volumes"]}


def mounts(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in container(job)["volumeMounts"]}


def config(job: dict[str, Any]) -> dict[str, Any]:
    text = job["spec"]["template"]["metadata"]["annotations"][CONFIG_ANNOTATION]
    value = json.loads(text)
    assert isinstance(value, dict)
    return value


# --- job_name --------------------------------------------------------------------------------


def test_job_name_short() -> None:
    assert job_name("demo", "analyze", 1) == "demo-analyze-1"
    assert job_name("demo", "generate", 12) == "demo-generate-12"


def test_job_name_at_the_limit_is_not_hashed() -> None:
    pipeline = "p" * (63 - len("-analyze-1"))
    assert job_name(pipeline, "analyze", 1) == f"{pipeline}-analyze-1"
    assert len(job_name(pipeline, "analyze", 1)) == 63


def test_long_job_name_is_shortened_with_a_hash() -> None:
    pipeline = "p" * (64 - len("-analyze-1"))
    name = job_name(pipeline, "analyze", 1)
    assert len(name) <= 63
    assert name != f"{pipeline}-analyze-1"
    assert re.fullmatch(r"p+-[0-9a-f]{8}-analyze-1", name)
    assert name == job_name(pipeline, "analyze", 1)  # deterministic


@pytest.mark.parametrize("length", [50, 63, 64, 100, 253])
def test_long_job_names_fit_a_label_value(length: int) -> None:
    pipeline = "a" * length
    for stage in ("analyze", "generate", "test", "qa", "visual", "deploy"):
        for attempt in (1, 9, 10, 1000):
            name = job_name(pipeline, stage, attempt)
            assert len(name) <= 63
            assert DNS_LABEL.match(name), name
            assert name.endswith(f"-{stage}-{attempt}")


def test_truncation_does_not_leave_a_dangling_separator() -> None:
    # the cut would land right after a "-": it is stripped, never "--"
    pipeline = ("x" * 43) + "-" + ("y" * 40)
    name = job_name(pipeline, "analyze", 1)
    assert name.startswith("x" * 43 + "-")
    assert len(name) == 43 + len("-01234567-analyze-1")  # the cut's trailing "-" is dropped
    assert "--" not in name
    assert DNS_LABEL.match(name)


def test_job_names_are_distinct() -> None:
    rng = random.Random(7)
    prefix = "same-long-prefix-" * 4  # longer than what survives truncation
    names: dict[str, tuple[str, str, int]] = {}
    for i in range(300):
        suffix = "".join(rng.choice(string.ascii_lowercase) for _ in range(6))
        for pipeline in (f"{prefix}{suffix}{i}", f"p{i}", f"{suffix}-{i}"):
            for stage in ("analyze", "test"):
                for attempt in (1, 2):
                    key = (pipeline, stage, attempt)
                    name = job_name(*key)
                    assert names.setdefault(name, key) == key, f"{key} and {names[name]}: {name}"


# --- metadata and owner ----------------------------------------------------------------------


def test_job_identity_and_owner() -> None:
    job = render(stage="generate", attempt=2)
    assert job["apiVersion"] == "batch/v1"
    assert job["kind"] == "Job"
    meta = job["metadata"]
    assert meta["name"] == "demo-generate-2"
    assert meta["namespace"] == "tenant-acme"
    assert meta["ownerReferences"] == [{
        "apiVersion": "pffigma.dev/v1alpha1",
        "kind": "DesignPipeline",
        "name": "demo",
        "uid": "0b8c7c35-uid",
        "controller": True,
        "blockOwnerDeletion": True,
    }]


def test_labels() -> None:
    job = render(stage="generate", attempt=2)
    labels = job["metadata"]["labels"]
    assert labels == {
        "team": "web",
        "pffigma.dev/custom": "yes",
        "app.kubernetes.io/managed-by": "pf-figma",
        "app.kubernetes.io/name": "pf-figma-agent",
        "app.kubernetes.io/component": "generate",
        "pffigma.dev/tenant": "acme",
        "pffigma.dev/pipeline": "demo",
        "pffigma.dev/stage": "generate",
        "pffigma.dev/attempt": "2",
    }
    assert job["spec"]["template"]["metadata"]["labels"] == labels
    assert all(isinstance(v, str) for v in labels.values())


def test_reserved_user_labels_are_not_propagated() -> None:
    labels = render()["metadata"]["labels"]
    for key in ("job-name", "controller-uid", "batch.kubernetes.io/job-name"):
        assert key not in labels
    assert "spoofed" not in labels.values()
    assert "other-tenant" not in labels.values()


def test_pipeline_without_labels() -> None:
    pipeline = {"metadata": {"name": "demo", "namespace": "tenant-acme", "uid": "u"}}
    labels = render(pipeline=pipeline)["metadata"]["labels"]
    assert set(labels) == {
        "app.kubernetes.io/managed-by", "app.kubernetes.io/name", "app.kubernetes.io/component",
        "pffigma.dev/tenant", "pffigma.dev/pipeline", "pffigma.dev/stage", "pffigma.dev/attempt",
    }


# --- job spec --------------------------------------------------------------------------------


def test_one_pod_per_attempt_and_the_stage_deadline() -> None:
    job = render(mkspec(timeouts={"stageSeconds": 321}))
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 321
    assert pod(job)["restartPolicy"] == "Never"


def test_default_stage_deadline() -> None:
    assert render()["spec"]["activeDeadlineSeconds"] == 900


def test_container() -> None:
    agent = AgentSettings(image="registry.example/agent:1.2.3", image_pull_policy="Always")
    c = container(render(stage="test", agent=agent))
    assert c["name"] == "agent"
    assert c["image"] == "registry.example/agent:1.2.3"
    assert c["imagePullPolicy"] == "Always"
    assert c["command"] == ["python", "-m", "pf_agents", "test"]
    assert c["terminationMessagePath"] == "/dev/termination-log"
    e = env(render(stage="test", agent=agent))
    assert e["PF_STAGE"]["value"] == "test"
    assert e["PF_RESULT_FILE"]["value"] == "/dev/termination-log"
    assert e["PF_CONFIG_FILE"]["value"] == "/etc/pf-figma/config/config.json"
    assert e["PF_ARTIFACTS"]["value"] == agent.artifacts_url


def test_pod_is_hardened() -> None:
    job = render()
    p = pod(job)
    assert p["serviceAccountName"] == "pf-agent"
    assert p["automountServiceAccountToken"] is False
    assert p["enableServiceLinks"] is False
    assert "hostNetwork" not in p
    assert "hostPID" not in p
    assert "hostIPC" not in p
    psc = p["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["runAsUser"] != 0
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    csc = container(job)["securityContext"]
    assert csc["runAsNonRoot"] is True
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["capabilities"] == {"drop": ["ALL"]}
    assert "add" not in csc["capabilities"]
    assert csc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in csc or csc["privileged"] is False


def test_read_only_root_has_writable_work_and_tmp() -> None:
    job = render()
    v, m = volumes(job), mounts(job)
    assert "emptyDir" in v["work"]
    assert "emptyDir" in v["tmp"]
    assert m["work"]["mountPath"] == env(job)["PF_WORKDIR"]["value"] == env(job)["HOME"]["value"]
    assert m["tmp"]["mountPath"] == "/tmp"
    assert not m["work"].get("readOnly")


def test_no_host_path_volumes() -> None:
    agent = AgentSettings(ca_bundle_configmap="ca")
    spec = mkspec(stages=["analyze", "generate", "test", "deploy"],
                  git={"url": "https://example.com/r.git", "secretRef": {"name": "git-creds"}})
    for v in pod(render(spec, stage="deploy", agent=agent))["volumes"]:
        assert "hostPath" not in v


# --- resources -------------------------------------------------------------------------------


def test_resources_from_agent_settings_within_the_limits() -> None:
    agent = AgentSettings(cpu_request="100m", memory_request="128Mi", cpu_limit="1",
                          memory_limit="1Gi")
    # starter plan: max 2 CPU / 4Gi per container
    assert container(render(agent=agent))["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }


def test_resources_are_clamped_to_the_tenant_limit_range_max() -> None:
    agent = AgentSettings(cpu_request="250m", memory_request="256Mi", cpu_limit="4",
                          memory_limit="8Gi")
    tenant = mktenant(limits={"maxCPU": "500m", "maxMemory": "512Mi"})
    assert container(render(tenant_spec=tenant, agent=agent))["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }


def test_requests_above_the_max_are_clamped_too() -> None:
    tenant = mktenant(limits={"maxCPU": "100m", "maxMemory": "64Mi"})
    res = container(render(tenant_spec=tenant))["resources"]
    assert res == {"requests": {"cpu": "100m", "memory": "64Mi"},
                   "limits": {"cpu": "100m", "memory": "64Mi"}}


def test_clamping_compares_quantities_by_value() -> None:
    agent = AgentSettings(cpu_limit="1500m", memory_limit="2048Mi")
    tenant = mktenant(limits={"maxCPU": "2", "maxMemory": "2Gi"})
    res = container(render(tenant_spec=tenant, agent=agent))["resources"]
    assert parse_quantity(res["limits"]["cpu"]) == parse_quantity("1500m")
    assert parse_quantity(res["limits"]["memory"]) == parse_quantity("2Gi")


@pytest.mark.parametrize("plan", ["starter", "pro", "enterprise"])
def test_resources_never_exceed_the_plan_max(plan: str) -> None:
    agent = AgentSettings(cpu_request="64", memory_request="1Ti", cpu_limit="64",
                          memory_limit="1Ti")
    tenant = mktenant(plan=plan)
    limits = tenant.effective_limits()
    res = container(render(tenant_spec=tenant, agent=agent))["resources"]
    for part in ("requests", "limits"):
        assert parse_quantity(res[part]["cpu"]) <= parse_quantity(limits.max_cpu)
        assert parse_quantity(res[part]["memory"]) <= parse_quantity(limits.max_memory)
    assert parse_quantity(res["requests"]["cpu"]) <= parse_quantity(res["limits"]["cpu"])


# --- source ----------------------------------------------------------------------------------


def test_config_map_source_is_mounted() -> None:
    spec = mkspec(source={"configMapRef": {"name": "design-export", "key": "file.json"}})
    tenant = mktenant(figma={"tokenSecretRef": FIGMA_SECRET})
    job = render(spec, tenant)
    assert volumes(job)["source"] == {
        "name": "source",
        "configMap": {"name": "design-export",
                      "items": [{"key": "file.json", "path": "figma.json"}]},
    }
    assert mounts(job)["source"] == {"name": "source", "mountPath": "/etc/pf-figma/source",
                                     "readOnly": True}
    e = env(job)
    assert e["PF_SOURCE_FILE"]["value"] == "/etc/pf-figma/source/figma.json"
    assert "FIGMA_TOKEN" not in e  # the design comes from the ConfigMap


def test_figma_token_only_as_a_secret_reference() -> None:
    tenant = mktenant(figma={"tokenSecretRef": FIGMA_SECRET})
    job = render(tenant_spec=tenant)
    e = env(job)
    assert e["FIGMA_TOKEN"] == {
        "name": "FIGMA_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "figma-token-secret", "key": "token-key"}},
    }
    assert "value" not in e["FIGMA_TOKEN"]
    assert "PF_SOURCE_FILE" not in e
    assert "source" not in volumes(job)


def test_figma_source_without_a_token() -> None:
    e = env(render())
    assert "FIGMA_TOKEN" not in e
    assert "PF_SOURCE_FILE" not in e


def test_config_volume_is_the_downward_api_of_the_annotation() -> None:
    job = render()
    assert volumes(job)["config"]["downwardAPI"]["items"] == [{
        "path": "config.json",
        "fieldRef": {"fieldPath": f"metadata.annotations['{CONFIG_ANNOTATION}']"},
    }]
    assert mounts(job)["config"] == {"name": "config", "mountPath": "/etc/pf-figma/config",
                                     "readOnly": True}


# --- LLM key ---------------------------------------------------------------------------------


def test_anthropic_key_when_llm_is_enabled() -> None:
    tenant = mktenant(llm={"enabled": True, "apiKeySecretRef": LLM_SECRET})
    e = env(render(tenant_spec=tenant, stage="generate"))
    assert e["ANTHROPIC_API_KEY"] == {
        "name": "ANTHROPIC_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "anthropic-secret", "key": "api-key-key",
                                       "optional": True}},
    }


@pytest.mark.parametrize(
    ("tenant_llm", "pipeline_llm"),
    [
        ({"enabled": False, "apiKeySecretRef": LLM_SECRET}, {}),
        ({"enabled": False, "apiKeySecretRef": LLM_SECRET}, {"enabled": True}),  # tenant veto
        ({"enabled": True, "apiKeySecretRef": LLM_SECRET}, {"enabled": False}),
        ({"enabled": True}, {}),  # enabled, but no key to reference
    ],
)
def test_no_anthropic_key_when_llm_is_off(
    tenant_llm: dict[str, Any], pipeline_llm: dict[str, Any]
) -> None:
    job = render(mkspec(llm=pipeline_llm), mktenant(llm=tenant_llm), stage="generate")
    assert "ANTHROPIC_API_KEY" not in env(job)
    assert config(job)["llm"]["enabled"] is (tenant_llm["enabled"] and
                                             pipeline_llm.get("enabled", True))


# --- git -------------------------------------------------------------------------------------


GIT_SPEC = {
    "stages": ["analyze", "generate", "test", "deploy"],
    "git": {"url": "https://git.example.com/acme/site.git", "secretRef": {"name": "git-creds"}},
}


def test_git_secret_is_mounted_for_deploy() -> None:
    job = render(mkspec(**GIT_SPEC), stage="deploy")
    assert volumes(job)["git"] == {"name": "git", "secret": {"secretName": "git-creds"}}
    assert mounts(job)["git"] == {"name": "git", "mountPath": "/etc/pf-figma/git",
                                  "readOnly": True}
    assert env(job)["PF_GIT_CREDENTIALS_DIR"]["value"] == "/etc/pf-figma/git"


@pytest.mark.parametrize("stage", ["analyze", "generate", "test"])
def test_git_secret_only_for_deploy(stage: str) -> None:
    job = render(mkspec(**GIT_SPEC), stage=stage)
    assert "git" not in volumes(job)
    assert "git" not in mounts(job)
    assert "PF_GIT_CREDENTIALS_DIR" not in env(job)
    assert "git-creds" not in json.dumps(job)


def test_deploy_without_a_git_secret() -> None:
    spec = mkspec(stages=["analyze", "deploy"], git={"url": "https://git.example.com/r.git"})
    job = render(spec, stage="deploy")
    assert "git" not in volumes(job)
    assert "PF_GIT_CREDENTIALS_DIR" not in env(job)


# --- CA bundle -------------------------------------------------------------------------------


CA_VARS = ("SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "PIP_CERT", "REQUESTS_CA_BUNDLE",
           "npm_config_cafile")


def test_ca_bundle_when_configured() -> None:
    job = render(agent=AgentSettings(ca_bundle_configmap="corp-ca"))
    assert volumes(job)["ca"] == {"name": "ca",
                                  "configMap": {"name": "corp-ca", "optional": True}}
    assert mounts(job)["ca"] == {"name": "ca", "mountPath": "/etc/pf-figma/ca", "readOnly": True}
    e = env(job)
    for name in CA_VARS:
        assert e[name] == {"name": name, "value": "/etc/pf-figma/ca/ca.crt"}


def test_no_ca_bundle_by_default() -> None:
    job = render()
    assert "ca" not in volumes(job)
    assert not set(CA_VARS) & set(env(job))


# --- the config annotation -------------------------------------------------------------------


def test_config_annotation_content() -> None:
    spec = mkspec(
        target={"ui": "tailwind"},
        stages=["analyze", "generate", "test", "deploy"],
        git={"url": "https://git.example.com/acme/site.git", "secretRef": {"name": "git-creds"}},
        llm={"model": "claude-x", "maxTokens": 1000, "maxCostUSD": 1.5},
    )
    tenant = mktenant(
        featureFlags={"zeta": True, "alpha": False},
        figma={"tokenSecretRef": FIGMA_SECRET},
        llm={"enabled": True, "apiKeySecretRef": LLM_SECRET},
    )
    job = render(spec, tenant, stage="deploy", attempt=3)
    assert config(job) == {
        "tenant": "acme",
        "namespace": "tenant-acme",
        "pipeline": "demo",
        "uid": "0b8c7c35-uid",
        "stage": "deploy",
        "attempt": 3,
        "source": {"figma": {"fileKey": "FILE", "nodeIds": ["1:2"]}},
        "target": {"framework": "nextjs", "ui": "tailwind", "language": "typescript"},
        "featureFlags": {"alpha": False, "zeta": True},
        "llm": {"enabled": True, "model": "claude-x", "maxTokens": 1000, "maxCostUSD": 1.5},
        "git": {"url": "https://git.example.com/acme/site.git", "branch": "pf-figma/demo"},
    }
    text = job["spec"]["template"]["metadata"]["annotations"][CONFIG_ANNOTATION]
    assert list(json.loads(text)["featureFlags"]) == ["alpha", "zeta"]
    for secret in ("figma-token-secret", "token-key", "anthropic-secret", "api-key-key",
                   "git-creds"):
        assert secret not in text


def test_config_annotation_defaults() -> None:
    cfg = config(render())
    assert cfg["featureFlags"] == {}
    assert cfg["llm"] == {"enabled": False, "model": "claude-sonnet-4-5", "maxTokens": 200000,
                          "maxCostUSD": 5.0}
    assert "git" not in cfg
    assert cfg["target"] == {"framework": "nextjs", "ui": "shadcn", "language": "typescript"}


def test_config_annotation_is_agent_config() -> None:
    spec, tenant = mkspec(), mktenant(featureFlags={"a": True})
    job = render(spec, tenant, stage="test", attempt=2)
    assert config(job) == agent_config(tenant="acme", namespace="tenant-acme", pipeline="demo",
                                       uid="0b8c7c35-uid", stage="test", attempt=2, spec=spec,
                                       tenant_spec=tenant)


def test_explicit_git_branch() -> None:
    spec = mkspec(stages=["analyze", "deploy"],
                  git={"url": "https://git.example.com/r.git", "branch": "main"})
    assert config(render(spec, stage="deploy"))["git"]["branch"] == "main"


# --- scheduling ------------------------------------------------------------------------------


def test_node_selector_and_tolerations() -> None:
    tolerations = ({"key": "pf-figma/agents", "operator": "Exists", "effect": "NoSchedule"},)
    agent = AgentSettings(node_selector={"pool": "agents"}, tolerations=tolerations)
    p = pod(render(agent=agent))
    assert p["nodeSelector"] == {"pool": "agents"}
    assert p["tolerations"] == [dict(tolerations[0])]
    assert p["tolerations"][0] is not tolerations[0]  # copied, not shared


def test_no_node_selector_or_tolerations_by_default() -> None:
    p = pod(render())
    assert "nodeSelector" not in p
    assert "tolerations" not in p


# --- secrets never in plain values -----------------------------------------------------------


def test_secrets_are_never_plain_values() -> None:
    spec = mkspec(**GIT_SPEC)
    tenant = mktenant(figma={"tokenSecretRef": FIGMA_SECRET},
                      llm={"enabled": True, "apiKeySecretRef": LLM_SECRET})
    job = render(spec, tenant, stage="deploy", agent=AgentSettings(ca_bundle_configmap="ca"))
    for e in container(job)["env"]:
        if any(word in e["name"].upper() for word in ("TOKEN", "KEY", "SECRET", "PASSWORD")):
            assert "value" not in e, e
            assert "secretKeyRef" in e["valueFrom"]
    assert "envFrom" not in container(job)


def test_rendering_is_deterministic_and_json_ready() -> None:
    spec = mkspec(**GIT_SPEC)
    tenant = mktenant(featureFlags={"b": True, "a": True})
    agent = AgentSettings(node_selector={"x": "y"}, ca_bundle_configmap="ca")
    first = render(spec, tenant, stage="deploy", agent=agent)
    second = render(spec, tenant, stage="deploy", agent=agent)
    assert first == second
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_render_does_not_modify_the_pipeline_body() -> None:
    body = json.loads(json.dumps(PIPELINE))
    render(pipeline=body)
    assert body == PIPELINE


# --- least privilege per stage (issue 17, item 13) ---------------------------------------------


def secrets_seen(job: dict[str, Any]) -> set[str]:
    """Every Secret a stage's pod can read: env references and secret volumes."""
    spec = pod(job)
    seen = set()
    for c in spec["containers"]:
        for e in c.get("env") or []:
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                seen.add(ref["name"])
        for e in c.get("envFrom") or []:
            if e.get("secretRef"):
                seen.add(e["secretRef"]["name"])
    for v in spec.get("volumes") or []:
        if v.get("secret"):
            seen.add(v["secret"]["secretName"])
        for src in (v.get("projected") or {}).get("sources") or []:
            if src.get("secret"):
                seen.add(src["secret"]["name"])
    return seen


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ("analyze", {"pf-figma-db", "figma-token-secret"}),
        ("generate", {"pf-figma-db", "anthropic-secret"}),
        ("test", {"pf-figma-db"}),
        ("qa", {"pf-figma-db"}),
        ("deploy", {"pf-figma-db", "git-creds"}),
    ],
)
def test_each_stage_sees_only_the_secrets_it_uses(stage: str, expected: set[str]) -> None:
    spec = mkspec(
        source={"figma": {"fileKey": "FILE"}},
        git={"url": "https://example.com/r.git", "secretRef": {"name": "git-creds"}},
        stages=["analyze", "generate", "test", "qa", "deploy"],
    )
    tenant = mktenant(
        figma={"tokenSecretRef": FIGMA_SECRET},
        llm={"enabled": True, "apiKeySecretRef": LLM_SECRET},
    )
    job = render(spec, tenant, stage=stage, agent=AgentSettings(artifacts_secret="pf-figma-db"))
    assert secrets_seen(job) == expected

"""The visual stage's agent pod: its own resources (capped by the tenant), a memory-backed
/dev/shm for the browser, no key; and the fidelity metric."""

from __future__ import annotations

from pf_operator import metrics
from pf_operator.render.job import DEFAULT_STAGE_RESOURCES, AgentSettings
from pf_operator.settings import Settings
from tests.unit.test_render_job import (
    FIGMA_SECRET,
    LLM_SECRET,
    container,
    mkspec,
    mktenant,
    mounts,
    render,
    secrets_seen,
    volumes,
)


def test_the_visual_stage_has_its_own_resources_and_shared_memory() -> None:
    job = render(stage="visual")
    assert container(job)["resources"] == DEFAULT_STAGE_RESOURCES["visual"] == {
        "requests": {"cpu": "500m", "memory": "768Mi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    assert volumes(job)["dshm"] == {"name": "dshm",
                                    "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}}
    assert mounts(job)["dshm"]["mountPath"] == "/dev/shm"
    assert container(job)["securityContext"]["readOnlyRootFilesystem"] is True
    # the other stages keep the agent default and have no /dev/shm volume
    other = render(stage="qa")
    assert container(other)["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert "dshm" not in volumes(other)


def test_stage_resources_are_capped_by_the_tenant_and_configurable() -> None:
    tenant = mktenant(limits={"maxCPU": "1", "maxMemory": "1Gi"})
    res = container(render(tenant_spec=tenant, stage="visual"))["resources"]
    assert res == {"requests": {"cpu": "500m", "memory": "768Mi"},
                   "limits": {"cpu": "1", "memory": "1Gi"}}
    agent = AgentSettings(stage_resources={"visual": {"limits": {"memory": "3Gi"}}})
    res = container(render(stage="visual", agent=agent))["resources"]
    assert res == {"requests": {"cpu": "250m", "memory": "256Mi"},  # the agent default
                   "limits": {"cpu": "1", "memory": "3Gi"}}
    env = {"PF_AGENT_STAGE_RESOURCES": '{"visual": {"limits": {"memory": "3Gi"}}}'}
    assert Settings.from_env(env).agent_stage_resources == {"visual": {"limits": {"memory": "3Gi"}}}
    assert Settings.from_env({}).agent_stage_resources == DEFAULT_STAGE_RESOURCES


def test_the_visual_stage_gets_the_anthropic_key_only_for_refinement() -> None:
    # never the Figma token; Claude's key only when the pipeline uses Claude (the
    # self-correcting refinement runs in the visual stage)
    spec = mkspec(source={"figma": {"fileKey": "FILE"}})
    tenant = mktenant(figma={"tokenSecretRef": FIGMA_SECRET},
                      llm={"enabled": True, "apiKeySecretRef": LLM_SECRET})
    job = render(spec, tenant, stage="visual", agent=AgentSettings(artifacts_secret="pf-figma-db"))
    assert secrets_seen(job) == {"pf-figma-db", LLM_SECRET["name"]}
    off = mkspec(source={"figma": {"fileKey": "FILE"}}, llm={"enabled": False})
    job = render(off, tenant, stage="visual", agent=AgentSettings(artifacts_secret="pf-figma-db"))
    assert secrets_seen(job) == {"pf-figma-db"}


def test_fidelity_histogram_by_tenant() -> None:
    metrics.PIPELINE_FIDELITY.labels("acme").observe(0.93)
    text = metrics.REGISTRY.get_sample_value(
        "pf_figma_pipeline_fidelity_ratio_bucket", {"tenant": "acme", "le": "0.95"})
    assert text is not None and text >= 1

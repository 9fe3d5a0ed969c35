"""operator/render/checks.py: what the schema cannot catch."""

from __future__ import annotations

from typing import Any

import pytest

from pf_operator.model import Plan, TenantSpec
from pf_operator.render import RenderSettings, semantic_problems

SETTINGS = RenderSettings(
    pod_cidrs=("10.244.0.0/16",), service_cidrs=("10.96.0.0/16", "fd00:10:96::/112")
)


def problems(spec: dict[str, Any], settings: RenderSettings | None = SETTINGS) -> list[str]:
    return semantic_problems(TenantSpec.model_validate(spec), settings)


@pytest.mark.parametrize("plan", list(Plan))
def test_plan_defaults_are_sound(plan: Plan) -> None:
    assert problems({"plan": plan.value}) == []


def test_example_like_spec_is_sound() -> None:
    spec = {
        "plan": "pro",
        "quota": {"cpu": "24"},
        "limits": {"maxMemory": "8Gi"},
        "pipelines": {"maxConcurrent": 8},
        "network": {"allowEgress": [{"cidr": "203.0.113.0/24", "ports": [443]}]},
    }
    assert problems(spec) == []


def test_default_above_the_plan_maximum() -> None:
    # Each field alone passes the schema; combined with the starter maximum (2) it cannot work.
    found = problems({"limits": {"defaultCPU": "3"}})
    assert found[0] == (
        "the default container CPU (3) is greater than the maximum (2); "
        "the LimitRange would be rejected"
    )


def test_default_memory_above_an_explicit_maximum() -> None:
    found = problems({"limits": {"defaultMemory": "3Gi", "maxMemory": "2Gi"}})
    assert any("default container memory (3Gi)" in p for p in found)


def test_maximum_above_the_quota() -> None:
    found = problems({"quota": {"memory": "2Gi"}, "pipelines": {"maxConcurrent": 1}})
    assert any(
        "maximum container memory (4Gi) is greater than the quota's memory (2Gi)" in p
        for p in found
    )


def test_pods_and_jobs_below_concurrency() -> None:
    found = problems({"quota": {"pods": 1, "jobs": 1}, "pipelines": {"maxConcurrent": 2}})
    assert "pipelines.maxConcurrent (2) is greater than the quota's pods (1)" in found
    assert "pipelines.maxConcurrent (2) is greater than the quota's jobs (1)" in found


def test_quota_too_small_for_concurrent_pipelines() -> None:
    found = problems(
        {"quota": {"cpu": "2"}, "limits": {"maxCPU": "1"}, "pipelines": {"maxConcurrent": 5}}
    )
    assert found == [
        "the quota's CPU (2) cannot run pipelines.maxConcurrent (5) pipelines at the default "
        "container CPU (500m)"
    ]


def test_no_pipelines_means_no_capacity_problem() -> None:
    assert problems({"quota": {"pods": 0}, "pipelines": {"maxConcurrent": 0}}) == []


def test_egress_into_the_cluster_ranges() -> None:
    found = problems(
        {
            "network": {
                "allowEgress": [
                    {"cidr": "10.0.0.0/8"},
                    {"cidr": "10.96.1.0/24"},
                    {"cidr": "fd00:10:96::1/128"},
                    {"cidr": "169.254.169.254/32"},
                    {"cidr": "203.0.113.0/24"},
                ]
            }
        }
    )
    assert found == [
        "network.allowEgress[0].cidr 10.0.0.0/8 overlaps the cluster's pod range 10.244.0.0/16",
        "network.allowEgress[0].cidr 10.0.0.0/8 overlaps the cluster's service range 10.96.0.0/16",
        "network.allowEgress[1].cidr 10.96.1.0/24 overlaps the cluster's service range "
        "10.96.0.0/16",
        "network.allowEgress[2].cidr fd00:10:96::1/128 overlaps the cluster's service range "
        "fd00:10:96::/112",
        "network.allowEgress[3].cidr 169.254.169.254/32 overlaps the link-local range "
        "(cloud metadata) 169.254.0.0/16",
    ]


def test_without_settings_only_link_local_is_checked() -> None:
    spec = {"network": {"allowEgress": [{"cidr": "10.244.0.0/16"}, {"cidr": "169.254.0.0/16"}]}}
    (problem,) = problems(spec, settings=None)
    assert "allowEgress[1]" in problem


def test_malformed_cidr_is_reported_not_raised() -> None:
    (problem,) = problems({"network": {"allowEgress": [{"cidr": "nope"}]}})
    assert "is not a CIDR" in problem


# --- the quota against the agent pods it admits (issue 17, item 4) ----------------------------

from pf_operator.render.checks import AgentResources  # noqa: E402


def agent_problems(spec: dict[str, Any], **agent: str) -> list[str]:
    return semantic_problems(TenantSpec.model_validate(spec), SETTINGS, AgentResources(**agent))


@pytest.mark.parametrize("plan", list(Plan))
def test_plan_defaults_hold_the_default_agent_pods(plan: Plan) -> None:
    assert agent_problems({"plan": plan.value}) == []


def test_the_issue_scenario_quota_too_small_for_the_agents() -> None:
    # starter: maxConcurrent 2; agents limited to 2 CPU each; the quota has 3
    found = agent_problems({"plan": "starter", "quota": {"cpu": "3"}}, cpu_limit="2")
    assert len(found) == 1
    assert "agent pods get 2 CPU each" in found[0] and "PF_AGENT_CPU_LIMIT" in found[0]
    assert "quota's CPU (3)" in found[0] and "pipelines.maxConcurrent (2)" in found[0]
    assert problems({"plan": "starter", "quota": {"cpu": "3"}}) == []  # without agent facts


def test_agent_size_is_capped_by_the_tenant_maximum() -> None:
    # 8 CPU wanted, but limits.maxCPU 1 caps each pod: 2 x 1 <= 3
    assert agent_problems({"plan": "starter", "quota": {"cpu": "3"},
                           "limits": {"maxCPU": "1", "defaultCPU": "500m"}},
                          cpu_limit="8") == []


def test_agent_memory_too() -> None:
    found = agent_problems({"plan": "starter", "quota": {"memory": "3Gi"},
                            "limits": {"maxMemory": "2Gi"}}, memory_limit="2Gi")
    assert len(found) == 1 and "memory" in found[0] and "PF_AGENT_MEMORY_LIMIT" in found[0]


def test_no_concurrency_no_agent_problem() -> None:
    spec = {"pipelines": {"maxConcurrent": 0}, "quota": {"cpu": "2"}}
    assert agent_problems(spec, cpu_limit="8") == []


# --- the visual stage's own (larger) pods (issue 16) ----------------------------------------------


def test_the_visual_pod_decides_when_it_is_the_largest() -> None:
    # starter: 2 running, maxCPU 2; default agents 1 CPU (2 x 1 fits 3), visual 2 CPU (4 > 3)
    found = agent_problems({"plan": "starter", "quota": {"cpu": "3"}})
    assert found == [
        "visual stage pods get 2 CPU each (PF_AGENT_STAGE_RESOURCES, chart "
        "agent.stageResources.visual, capped by limits.maxCPU); the quota's CPU (3) cannot hold "
        "pipelines.maxConcurrent (2) of them at once: raise quota.cpu or lower "
        "pipelines.maxConcurrent"
    ]
    # one running pipeline: a visual pod fits
    assert agent_problems({"plan": "starter", "quota": {"cpu": "3"},
                           "pipelines": {"maxConcurrent": 1}}) == []


def test_the_visual_pod_is_capped_by_the_tenant_maximum_and_configurable() -> None:
    # maxCPU 1 caps the 2-CPU visual pod: 2 x 1 <= 3
    assert agent_problems({"plan": "starter", "quota": {"cpu": "3"},
                           "limits": {"maxCPU": "1", "defaultCPU": "500m"}}) == []
    # the operator's own stage resources (the chart's agent.stageResources) are what count
    small = {"visual": {"requests": {"cpu": "500m", "memory": "512Mi"},
                        "limits": {"cpu": "1", "memory": "1Gi"}}}
    spec = TenantSpec.model_validate({"plan": "starter", "quota": {"cpu": "3"}})
    assert semantic_problems(spec, SETTINGS, AgentResources(stage_resources=small)) == []

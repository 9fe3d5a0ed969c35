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

"""Issue 17 on the real node (containerd + runc + kubelet): the faults KWOK only imitates.

An image that is never pulled, an agent killed by the kernel at its memory limit, a Secret the
pod needs that does not exist, a source ConfigMap that does not exist: each ends the pipeline in
seconds with a reason that names it, instead of "backoff limit" or the stage timeout.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.agents.pfa_support import FIXTURES_DIR as FIXTURE
from tests.conftest import Cluster, OperatorProcess, in_place_of, make_operator, unique, wait_for
from tests.e2e.test_pipeline_real import AGENT_IMAGE, NODE_NAME, image_present
from tests.integration.test_pipelines import condition, finished, tenant_ready

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

ON_THE_REAL_NODE = {
    "agent_node_selector": json.dumps({"pffigma.dev/pool": "agents"}),
    "agent_tolerations": json.dumps(
        [
            {
                "key": "pffigma.dev/pool",
                "operator": "Equal",
                "value": "agents",
                "effect": "NoSchedule",
            }
        ]
    ),
}


def scenario(
    cluster: Cluster,
    operator: OperatorProcess,
    tmp_path: Path,
    tenant_spec: dict[str, Any],
    pipeline_spec: dict[str, Any],
    timeout: float = 120,
    source: str = "{}",
    **settings: str,
) -> dict[str, Any]:
    """Run one pipeline on the real node under an operator with ``settings``; its end state."""
    if cluster.get("node", NODE_NAME) is None:
        pytest.skip("no real node (NODE=kwok)")
    op = make_operator(cluster, tmp_path, **ON_THE_REAL_NODE, **settings)
    name = unique("rf")
    ns = f"tenant-{name}"
    with in_place_of(operator, op):
        cluster.apply(
            {
                "apiVersion": "pffigma.dev/v1alpha1",
                "kind": "Tenant",
                "metadata": {"name": name},
                "spec": {"plan": "pro", **tenant_spec},
            }
        )
        try:
            wait_for(lambda: tenant_ready(cluster, name), 60, what="tenant ready")
            cluster.apply(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "design", "namespace": ns},
                    "data": {"file.json": source},
                }
            )
            cluster.apply(
                {
                    "apiVersion": "pffigma.dev/v1alpha1",
                    "kind": "DesignPipeline",
                    "metadata": {"name": "p", "namespace": ns},
                    "spec": {
                        "source": {"configMapRef": {"name": "design", "key": "file.json"}},
                        "retries": {"limit": 1, "backoffSeconds": 1},
                        **pipeline_spec,
                    },
                }
            )
            start = time.monotonic()
            obj = wait_for(lambda: finished(cluster, "p", ns), timeout, interval=1, what="done")
            obj["elapsed"] = time.monotonic() - start
            obj["events"] = [
                e for e in cluster.list("events", ns) if e["involvedObject"]["name"] == "p"
            ]
            pods = cluster.list("pods", ns, selector="pffigma.dev/pipeline=p")
            placed = [(p["metadata"]["name"], p["spec"].get("nodeName")) for p in pods]
            assert all(node in (None, NODE_NAME) for _, node in placed), (placed, obj["status"])
            return obj
        finally:
            cluster.delete("tenant", name)


def check(obj: dict[str, Any], reason: str, words: str) -> None:
    cond = condition(obj, "Succeeded")
    assert (cond["status"], cond["reason"]) == ("False", reason), cond
    assert words in cond["message"] and "backoff limit" not in cond["message"], cond["message"]
    assert words in obj["status"]["stages"][0]["message"]
    assert any(e["reason"] == reason and words in e["message"] for e in obj["events"])


def test_image_never_pulled(cluster: Cluster, operator: OperatorProcess, tmp_path: Path) -> None:
    obj = scenario(
        cluster, operator, tmp_path, {}, {},
        agent_image="pf-figma-agent:not-on-this-node", agent_image_pull_policy="Never",
    )
    check(obj, "ImagePullFailed", "ErrImageNeverPull")
    assert obj["status"]["stages"][0]["attempts"] == 1, obj["status"]  # no retry can help
    assert obj["elapsed"] < 60


def test_oom_killed_names_the_limit(
    cluster: Cluster, operator: OperatorProcess, tmp_path: Path
) -> None:
    if not image_present(cluster, AGENT_IMAGE):
        pytest.skip(f"{AGENT_IMAGE} is not on the real node: run `make images`")
    obj = scenario(
        cluster, operator, tmp_path, {}, {},
        source=(FIXTURE / "figma-transformer__testFile.json").read_text(),
        agent_image=AGENT_IMAGE, agent_memory_limit="16Mi", agent_memory_request="16Mi",
    )
    check(obj, "OOMKilled", "memory limit 16Mi")
    # the same limit would fail again
    assert obj["status"]["stages"][0]["attempts"] == 1, (obj["status"], obj["events"])


def test_missing_secret_is_named(
    cluster: Cluster, operator: OperatorProcess, tmp_path: Path
) -> None:
    if not image_present(cluster, AGENT_IMAGE):
        pytest.skip(f"{AGENT_IMAGE} is not on the real node: run `make images`")
    obj = scenario(
        cluster, operator, tmp_path,
        {"figma": {"tokenSecretRef": {"name": "figma", "key": "token"}}},
        {"source": {"figma": {"fileKey": "FILEKEY"}}},
        agent_image=AGENT_IMAGE,
    )
    check(obj, "ReferenceNotFound", 'secret "figma" not found')
    assert obj["elapsed"] < 60


def test_missing_config_map_fails_before_any_pod(
    cluster: Cluster, operator: OperatorProcess, tmp_path: Path
) -> None:
    obj = scenario(
        cluster, operator, tmp_path, {},
        {"source": {"configMapRef": {"name": "not-there", "key": "file.json"}}},
        agent_image=AGENT_IMAGE,
    )
    check(obj, "ReferenceNotFound", 'ConfigMap "not-there" not found')
    assert obj["elapsed"] < 20

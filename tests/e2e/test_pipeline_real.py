"""A DesignPipeline in real containers on the real node: the project's agent image runs
analyze -> generate -> test -> qa over a real Figma file, artifacts go to PostgreSQL under the
tenant's own database role, and the generated project type-checks and passes its tests."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cluster, OperatorProcess, in_place_of, make_operator, unique, wait_for
from tests.integration.test_pipelines import condition, finished, tenant_ready
from tests.operator_process import free_port
from tests.store.pfstore_support import Database, Server, _destroy, create_database

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow]

from tests.agents.pfa_support import FIXTURES_DIR as FIXTURE  # noqa: E402

AGENT_IMAGE = os.environ.get("PF_E2E_AGENT_IMAGE", "pf-figma-agent:dev")
NODE_NAME = "pf-real-0"


def node_ip(cluster: Cluster) -> str:
    node = cluster.get("node", NODE_NAME)
    if node is None:
        pytest.skip("no real node (NODE=kwok)")
    return next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")


def image_present(cluster: Cluster, image: str) -> bool:
    node = cluster.get("node", NODE_NAME) or {}
    names = [
        n for img in node.get("status", {}).get("images") or [] for n in img.get("names") or []
    ]
    return any(n.endswith(image) or n.endswith("/" + image) for n in names)


@pytest.fixture(scope="module")
def pg_for_pods(cluster: Cluster) -> Iterator[tuple[Server, Database, str]]:
    """PostgreSQL on the host, reachable from pods at the node's address."""
    ip = node_ip(cluster)
    os.environ["PF_PG_LISTEN"] = f"127.0.0.1,{ip}"
    os.environ["PF_PG_ALLOW"] = f"10.244.0.0/16,{ip}/32"
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="pf-pg-e2e-"))
    root.chmod(0o711)
    server = Server(
        root=root,
        port=free_port(),
        password=secrets.token_urlsafe(16),
        operator_password=secrets.token_urlsafe(16),
    )
    try:
        server.up()
        database = create_database(server, "pf_e2e")
        yield server, database, database.operator_dsn.replace("127.0.0.1", ip)
    finally:
        os.environ.pop("PF_PG_LISTEN", None)
        os.environ.pop("PF_PG_ALLOW", None)
        _destroy(server)


@pytest.fixture(scope="module")
def real_operator(
    cluster: Cluster,
    operator: OperatorProcess,
    pg_for_pods: tuple[Server, Database, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    if not image_present(cluster, AGENT_IMAGE):
        pytest.skip(f"{AGENT_IMAGE} is not on the real node: run `make images`")
    op = make_operator(
        cluster,
        tmp_path_factory.mktemp("real-operator"),
        database_dsn=pg_for_pods[2],
        agent_image=AGENT_IMAGE,
        agent_node_selector=json.dumps({"pffigma.dev/pool": "agents"}),
        agent_tolerations=json.dumps(
            [
                {
                    "key": "pffigma.dev/pool",
                    "operator": "Equal",
                    "value": "agents",
                    "effect": "NoSchedule",
                }
            ]
        ),
        agent_cpu_limit="2",
        agent_memory_limit="3Gi",
        agent_memory_request="512Mi",
    )
    with in_place_of(operator, op):
        try:
            yield op
        finally:
            print(f"\n--- operator log tail ---\n{op.log_tail(20)}")


@pytest.fixture(scope="module")
def tenant(cluster: Cluster, real_operator: OperatorProcess) -> Iterator[str]:
    name = unique("e2e")
    cluster.apply(
        {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {
                "plan": "pro",
                "limits": {"maxCPU": "2", "maxMemory": "3Gi"},
                "quota": {"cpu": "8", "memory": "12Gi"},
                # the quota must hold maxConcurrent agent pods of 2 CPU / 3Gi each
                "pipelines": {"maxConcurrent": 2},
                "featureFlags": {"storybook": True},
            },
        }
    )
    wait_for(lambda: tenant_ready(cluster, name), 60, what="tenant ready with database role")
    yield f"tenant-{name}"
    cluster.delete("tenant", name)


def configmap(cluster: Cluster, ns: str, name: str, content: str) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns},
            "data": {"file.json": content},
        }
    )


def test_pipeline_runs_in_real_containers(
    cluster: Cluster, tenant: str, pg_for_pods: tuple[Server, Database, str], tmp_path: Path
) -> None:
    ns = tenant
    configmap(cluster, ns, "design", (FIXTURE / "figma-transformer__testFile.json").read_text())
    cluster.apply(
        {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "DesignPipeline",
            "metadata": {"name": "real", "namespace": ns},
            "spec": {
                "source": {"configMapRef": {"name": "design", "key": "file.json"}},
                "stages": ["analyze", "generate", "test", "qa"],
                "timeouts": {"stageSeconds": 600},
            },
        }
    )
    obj = wait_for(lambda: finished(cluster, "real", ns), 900, interval=2, what="pipeline done")
    cond = condition(obj, "Succeeded")
    stages = {s["name"]: s for s in obj["status"]["stages"]}
    assert cond["reason"] == "Succeeded", json.dumps(obj["status"], indent=1)[-3000:]
    assert all(s["state"] == "Succeeded" for s in stages.values())
    assert "tsc ok" in stages["qa"]["message"] and "passed" in stages["qa"]["message"]
    artifacts = obj["status"]["artifacts"]
    names = {(a["stage"], a["name"]) for a in artifacts}
    assert ("analyze", "tokens.json") in names and ("generate", "project.tar.gz") in names
    assert ("qa", "qa-report.json") in names
    assert all(a["uri"].startswith("pfdb://") and len(a["sha256"]) == 64 for a in artifacts)
    # the pods ran on the real node, hardened
    pods = cluster.list("pods", ns, selector="pffigma.dev/pipeline=real")
    assert {p["spec"]["nodeName"] for p in pods} == {NODE_NAME}
    for p in pods:
        sc = p["spec"]["containers"][0]["securityContext"]
        assert sc["readOnlyRootFilesystem"] and sc["capabilities"]["drop"] == ["ALL"]
        assert p["spec"]["securityContext"]["runAsNonRoot"]
    # fetch the generated project from the artifact store, as a user would
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pf_operator",
            "artifacts",
            "get",
            f"{ns}/real",
            "-o",
            str(out),
            "--dsn",
            pg_for_pods[1].operator_dsn,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "package.json").exists()
    assert list((out / "components").glob("*.tsx"))
    assert list((out / "components").glob("*.test.tsx"))
    report = json.loads(next(out.rglob("qa-report.json")).read_text())
    assert report["tsc"]["ok"] is True


def test_failing_stage_is_retried_and_reported(cluster: Cluster, tenant: str) -> None:
    ns = tenant
    configmap(cluster, ns, "broken", '{"document": {"type": "DOCUMENT", "children": [')
    cluster.apply(
        {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "DesignPipeline",
            "metadata": {"name": "broken", "namespace": ns},
            "spec": {
                "source": {"configMapRef": {"name": "broken", "key": "file.json"}},
                "retries": {"limit": 1, "backoffSeconds": 1},
            },
        }
    )
    obj = wait_for(lambda: finished(cluster, "broken", ns), 300, interval=2, what="failed")
    cond = condition(obj, "Succeeded")
    assert (cond["status"], cond["reason"]) == ("False", "Failed")
    analyze = obj["status"]["stages"][0]
    assert analyze["attempts"] == 2 and analyze["state"] == "Failed"
    assert "JSON" in cond["message"] or "json" in cond["message"], cond["message"]
    pods = cluster.list("pods", ns, selector="pffigma.dev/pipeline=broken")
    codes = [p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods]
    assert len(codes) == 2 and all(code != 0 for code in codes)

"""A DesignPipeline created from a Figma link, on the real node (issue 20): the agent pod reads
the design from a local server that answers like the Figma API (tests/figma_api.py, on the
host at the node's address), through the Tenant's own FIGMA_API_URL and the egress rule the
operator adds for it, with the tenant's token from a Secret. status.source is resolved from the
link (with the file version analyze read) and the generated project draws the vectors as SVG
paths (the server adds geometry=paths outlines, as the API does), not as placeholder boxes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Cluster, OperatorProcess, unique, wait_for
from tests.e2e.test_pipeline_real import (  # noqa: F401  (module fixtures, used by name)
    node_ip,
    pg_for_pods,
    real_operator,
)
from tests.figma_api import FigmaApiServer, key_for
from tests.integration.test_pipelines import condition, finished, tenant_ready
from tests.operator_process import free_port
from tests.store.pfstore_support import Database, Server

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "examples" / "figma" / "govuk-button.json"
TOKEN = "figma-e2e-token"


@pytest.fixture(scope="module")
def figma_api(cluster: Cluster) -> Iterator[FigmaApiServer]:
    """The local Figma API on the host, listening at the node's address (pods reach it there,
    as they reach the test PostgreSQL); only the tenant's token is accepted."""
    with FigmaApiServer(
        [FIXTURE.parent], host=node_ip(cluster), port=free_port(), tokens=[TOKEN]
    ) as api:
        yield api


@pytest.fixture(scope="module")
def figma_tenant(
    cluster: Cluster,
    real_operator: OperatorProcess,  # noqa: F811
    figma_api: FigmaApiServer,
) -> Iterator[str]:
    name = unique("e2e-figma")
    ns = f"tenant-{name}"
    cluster.apply(
        {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {
                "plan": "pro",
                "limits": {"maxCPU": "2", "maxMemory": "3Gi"},
                "quota": {"cpu": "8", "memory": "12Gi"},
                "pipelines": {"maxConcurrent": 2},
                "figma": {
                    "apiURL": figma_api.url,
                    "tokenSecretRef": {"name": "figma", "key": "token"},
                    "maxConcurrentAnalyze": 1,
                },
            },
        }
    )
    try:
        wait_for(lambda: tenant_ready(cluster, name), 60, what="tenant ready with database role")
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "figma", "namespace": ns},
                "stringData": {"token": TOKEN},
            }
        )
        yield ns
    finally:
        cluster.delete("tenant", name)


def test_pipeline_from_a_figma_link_renders_vectors_as_paths(
    cluster: Cluster,
    figma_tenant: str,
    figma_api: FigmaApiServer,
    pg_for_pods: tuple[Server, Database, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    ns = figma_tenant
    # the operator opened the tenant's egress to the API's address and port, and only there
    policy = cluster.get("networkpolicy", "pf-figma-allow-egress", ns)
    assert policy is not None
    rule = {
        "to": [{"ipBlock": {"cidr": f"{figma_api.host}/32"}}],
        "ports": [{"protocol": "TCP", "port": figma_api.port}],
    }
    assert rule in policy["spec"]["egress"], json.dumps(policy["spec"]["egress"])

    key = key_for(FIXTURE.stem)
    url = f"https://www.figma.com/design/{key}/GOV.UK-Button?node-id=213-6&t=e2e-1"
    cluster.apply(
        {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "DesignPipeline",
            "metadata": {"name": "from-link", "namespace": ns},
            "spec": {
                "source": {"figma": {"url": url}},
                "stages": ["analyze", "generate"],
                "timeouts": {"stageSeconds": 600},
                "retries": {"limit": 1, "backoffSeconds": 2},
            },
        }
    )
    obj = wait_for(lambda: finished(cluster, "from-link", ns), 600, interval=2, what="done")
    status = obj["status"]
    assert condition(obj, "Succeeded")["reason"] == "Succeeded", json.dumps(status)[-3000:]
    served = httpx.get(
        f"{figma_api.url}/v1/files/{key}", params={"depth": "1"}, headers={"X-Figma-Token": TOKEN}
    ).json()
    assert status["source"] == {
        "fileKey": key,
        "nodeIds": ["213:6"],
        "version": served["version"],
    }, status.get("source")
    stats = figma_api.stats_json()
    assert stats["requests"] >= 1 and stats["byStatus"].get("403") is None, stats

    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pf_operator",
            "artifacts",
            "get",
            f"{ns}/from-link",
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
    sources = "".join(p.read_text() for p in (out / "components").rglob("*.tsx"))
    assert "<svg" in sources and "<path d=" in sources
    unreproduced = json.loads(next(out.rglob("unreproduced.json")).read_text())
    assert "vector without geometry" not in json.dumps(unreproduced)

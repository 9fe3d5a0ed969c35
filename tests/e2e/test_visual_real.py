"""The visual stage in a real container on the real node: the agent image's Chromium renders the
GOV.UK button's components, status.quality is filled, the quality gate passes it and fails the
cookie banner with QualityGateFailed naming the component, and the preview is fetched as a user
would."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agents.pfa_support import FIXTURES_DIR
from tests.conftest import Cluster, OperatorProcess, unique, wait_for
from tests.e2e.test_pipeline_real import (  # noqa: F401 (module fixtures)
    NODE_NAME,
    configmap,
    pg_for_pods,
    real_operator,
)
from tests.integration.test_pipelines import condition, finished, tenant_ready
from tests.store.pfstore_support import Database, Server

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow]

GOVUK = Path(__file__).resolve().parents[2] / "examples" / "figma" / "govuk-button.json"
COOKIES = FIXTURES_DIR / "figma-rust__cookie-banner.json"


@pytest.fixture(scope="module")
def tenant(cluster: Cluster, real_operator: OperatorProcess) -> Iterator[str]:  # noqa: F811
    """As test_pipeline_real's, with more time to become Ready on a busy shared machine."""
    name = unique("vis")
    cluster.apply({
        "apiVersion": "pffigma.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": {"plan": "pro", "limits": {"maxCPU": "2", "maxMemory": "3Gi"},
                 "quota": {"cpu": "8", "memory": "12Gi"},
                 # the quota holds maxConcurrent agent pods of 2 CPU / 3Gi (InvalidConfiguration
                 # otherwise)
                 "pipelines": {"maxConcurrent": 2}},
    })
    try:
        wait_for(lambda: tenant_ready(cluster, name), 240, what="tenant ready with database role")
        yield f"tenant-{name}"
    finally:
        cluster.delete("tenant", name)


@pytest.mark.timeout(900)  # two pipelines on the real node's 2 cores
def test_visual_stage_fills_quality_gates_and_previews(
    cluster: Cluster, tenant: str, pg_for_pods: tuple[Server, Database, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    ns = tenant
    configmap(cluster, ns, "govuk", GOVUK.read_text())
    configmap(cluster, ns, "cookies", COOKIES.read_text())
    name, low = unique("vis"), unique("low")
    for pipeline, source in ((name, "govuk"), (low, "cookies")):
        cluster.apply({
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "DesignPipeline",
            "metadata": {"name": pipeline, "namespace": ns},
            "spec": {
                "source": {"configMapRef": {"name": source, "key": "file.json"}},
                "stages": ["analyze", "generate", "test", "visual"],
                "quality": {"minFidelity": 0.99},
                "timeouts": {"stageSeconds": 600},
                "retries": {"limit": 0},
            },
        })
    # the GOV.UK button passes the gate (every node within 4 px when generated faithfully)
    obj = wait_for(lambda: finished(cluster, name, ns), 900, interval=2, what="pipeline done")
    status = obj["status"]
    cond = condition(obj, "Succeeded")
    visual = next(s for s in status["stages"] if s["name"] == "visual")
    assert visual["state"] == "Succeeded", json.dumps(status, indent=1)[-3000:]
    quality = status["quality"]
    assert (cond["status"], cond["reason"]) == ("True", "Succeeded"), (cond, quality)
    assert quality["fidelity"] >= 0.99 and quality["textsShown"] == 1.0
    assert quality["a11yViolations"] == 0 and isinstance(quality["overflowWidths"], list)
    # the cookie banner does not (its GDS Transport text falls back to another font, so the
    # boxes around it are wider than Figma's): QualityGateFailed naming the component
    bad = wait_for(lambda: finished(cluster, low, ns), 900, interval=2, what="pipeline done")
    bad_cond = condition(bad, "Succeeded")
    assert (bad_cond["status"], bad_cond["reason"]) == ("False", "QualityGateFailed"), bad_cond
    assert "minFidelity 0.99" in bad_cond["message"] and "CookieBanner" in bad_cond["message"]
    assert 0 <= bad["status"]["quality"]["fidelity"] < 0.99
    names = {(a["stage"], a["name"]) for a in status["artifacts"]}
    assert {("visual", "visual-report.json"), ("visual", "preview.tar.gz")} <= names
    pod = cluster.list("pods", ns, selector=f"pffigma.dev/pipeline={name},"
                                            "pffigma.dev/stage=visual")[0]
    assert pod["spec"]["nodeName"] == NODE_NAME
    vols = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert vols["dshm"]["emptyDir"]["medium"] == "Memory"
    # the printer column
    out = cluster.kubectl("-n", ns, "get", "dp", name)
    assert "FIDELITY" in out.stdout, out.stdout
    # the preview, fetched as a user would
    dest = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pf_operator", "artifacts", "get", f"{ns}/{name}", "-o",
         str(dest), "--dsn", pg_for_pods[1].operator_dsn],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    index = (dest / "preview" / "index.html").read_text()
    pngs = list((dest / "preview" / "png").rglob("*.png"))
    assert len(pngs) >= 16 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert all(p.relative_to(dest / "preview").as_posix() in index for p in pngs)
    report = json.loads(next(dest.rglob("visual-report.json")).read_text())
    assert report["summary"]["fidelity"] == quality["fidelity"]
    assert report["summary"]["errors"] == 0


def test_visual_stage_for_figmagic_within_a_minute(
    cluster: Cluster, tenant: str, tmp_path: Path,
) -> None:
    """48 components at the chart's default resources for the stage (500m/768Mi requests,
    2 CPU/2Gi limits): the stage itself (its result's seconds) takes at most 60 s."""
    from tests.agents.pfa_support import FIXTURES_DIR

    ns = tenant
    # 2 MB of JSON, 0.8 MB minified: under a ConfigMap's 1 MiB, created (apply would also keep
    # a copy in an annotation)
    design = tmp_path / "file.json"
    raw = json.loads((FIXTURES_DIR / "figmagic__figma.json").read_text())
    design.write_text(json.dumps(raw, separators=(",", ":")))
    cluster.kubectl("-n", ns, "create", "configmap", "figmagic", f"--from-file=file.json={design}")
    name = unique("fm")
    cluster.apply({
        "apiVersion": "pffigma.dev/v1alpha1",
        "kind": "DesignPipeline",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "source": {"configMapRef": {"name": "figmagic", "key": "file.json"}},
            "stages": ["analyze", "generate", "test", "visual"],
            "timeouts": {"stageSeconds": 600},
            "retries": {"limit": 0},
        },
    })
    obj = wait_for(lambda: finished(cluster, name, ns), 900, interval=2, what="pipeline done")
    assert condition(obj, "Succeeded")["reason"] == "Succeeded", obj["status"]
    seconds = {}
    for pod in cluster.list("pods", ns, selector=f"pffigma.dev/pipeline={name}"):
        term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        result = json.loads(term["message"])
        seconds[result["stage"]] = result["seconds"]
        if result["stage"] == "visual":
            limits = pod["spec"]["containers"][0]["resources"]["limits"]
    print(f"\nfigmagic in agent pods: {seconds}; visual limits {limits}; "
          f"quality {obj['status']['quality']}")
    assert seconds["visual"] <= 60, seconds
    assert obj["status"]["quality"]["fidelity"] > 0.5

"""`make demo`'s flow as a test: helm install from the local images, the examples, a real
pipeline in containers, the generated project fetched into ./out and checked."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.conftest import ROOT, Cluster, OperatorProcess

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow]


def test_demo(cluster: Cluster, operator: OperatorProcess) -> None:
    node = cluster.get("node", "pf-real-0")
    if node is None:
        pytest.skip("no real node (NODE=kwok)")
    names = [n for img in node["status"].get("images") or [] for n in img.get("names") or []]
    if not any(n.endswith("pf-figma-agent:dev") for n in names):
        pytest.skip("images not imported: make images")
    helm = cluster.bin_dir / "helm-v3.21.4" / "helm"
    operator.stop()  # the demo's in-cluster operator does the work
    env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig))
    try:
        proc = subprocess.run([str(ROOT / "hack" / "demo.sh")], env=env, capture_output=True,
                              text=True, timeout=1200)
        print(proc.stdout[-4000:])
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        assert "tenant-acme   designpipeline.pffigma.dev/button" in proc.stdout
        assert re.search(r"qa\s+Succeeded\s+tsc ok; tests (\d+)/\1 passed", proc.stdout)
        assert re.search(r"out/button: tsc ok; tests (\d+)/\1 passed", proc.stdout)
        assert (ROOT / "out" / "button" / "components" / "Button.tsx").exists()
    finally:
        subprocess.run([str(helm), "uninstall", "pf-figma", "-n", "pf-figma-system", "--wait"],
                       env=env, capture_output=True, timeout=180)
        cluster.delete("tenant", "acme")
        operator.start()

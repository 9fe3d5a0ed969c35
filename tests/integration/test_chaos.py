"""The shortened `make chaos`: every fault survived with nothing lost and nothing duplicated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Cluster, OperatorProcess

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_quick_chaos(cluster: Cluster, operator: OperatorProcess) -> None:
    operator.stop()  # the chaos runs bring their own operators; two would share the work
    try:
        env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig))
        proc = subprocess.run(
            [sys.executable, str(ROOT / "hack" / "chaos.py"), "--quick"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        print(proc.stdout[-3000:])
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        report = sorted((ROOT / "bench" / "results").glob("chaos-*.json"))[-1]
        outcomes = json.loads(Path(report).read_text())
        assert len(outcomes) == 4
        for outcome in outcomes:
            assert outcome["lost"] == 0 and outcome["duplicated"] == 0, outcome
    finally:
        operator.start()

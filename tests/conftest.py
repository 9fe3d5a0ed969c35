"""Shared fixtures: the real local cluster (started once per session) and the operator."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.operator_process import OperatorProcess

ROOT = Path(__file__).resolve().parent.parent
HACK = ROOT / "hack"
IN_CLUSTER_OPERATOR = "app.kubernetes.io/name=pf-figma,app.kubernetes.io/component=operator"


def _versions() -> dict[str, str]:
    out = {}
    for line in (HACK / "versions.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


@dataclass
class Cluster:
    """Handle on the local cluster: kubeconfig, binaries and small kubectl helpers."""

    kubeconfig: Path
    bin_dir: Path
    k8s_bin: Path
    env: dict[str, str] = field(default_factory=dict)

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60,
        as_user: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.k8s_bin / "kubectl"), "--kubeconfig", str(self.kubeconfig)]
        if as_user:
            cmd += ["--as", as_user]
        proc = subprocess.run(
            cmd + list(args), input=input, text=True, capture_output=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def apply(self, manifest: str | dict[str, Any] | list[dict[str, Any]]) -> None:
        if not isinstance(manifest, str):
            docs = manifest if isinstance(manifest, list) else [manifest]
            manifest = yaml.safe_dump_all(docs)
        self.kubectl("apply", "-f", "-", input=manifest)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind, name, "-o", "json", "--ignore-not-found"]
        if namespace:
            args += ["-n", namespace]
        out = self.kubectl(*args).stdout.strip()
        return json.loads(out) if out else None

    def list(
        self, kind: str, namespace: str | None = None, selector: str | None = None
    ) -> list[dict[str, Any]]:
        args = ["get", kind, "-o", "json"]
        args += ["-n", namespace] if namespace else ["-A"]
        if selector:
            args += ["-l", selector]
        return json.loads(self.kubectl(*args).stdout)["items"]

    def delete(
        self, kind: str, name: str, namespace: str | None = None, wait: bool = False
    ) -> None:
        args = ["delete", kind, name, "--ignore-not-found", f"--wait={str(wait).lower()}"]
        if namespace:
            args += ["-n", namespace]
        self.kubectl(*args)


def wait_for(
    predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.2, what: str = ""
) -> Any:
    """Poll until predicate() is truthy; return its value or fail with `what`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what or predicate}: last={last!r}"
    )


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The local cluster: reused when running, else started (and binaries built if needed)."""
    state = Path(os.environ.get("PF_CLUSTER_DIR", ROOT / ".cluster"))
    subprocess.run([str(HACK / "cluster.sh"), "up"], check=True)
    bin_dir = Path(
        subprocess.run(
            [str(HACK / "build-binaries.sh"), "print-dir"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    versions = _versions()
    c = Cluster(
        kubeconfig=state / "kubeconfig",
        bin_dir=bin_dir,
        k8s_bin=bin_dir / f"kubernetes-{versions['K8S_VERSION']}",
    )
    c.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=pf-figma",
        "-f",
        str(ROOT / "crds"),
    )
    c.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    # An operator installed in the cluster (e.g. by `make demo`) would process the tests'
    # objects next to the tests' own operators: pause it for the session.
    paused = []
    for deploy in c.list("deployments", selector=IN_CLUSTER_OPERATOR):
        meta = deploy["metadata"]
        if deploy["spec"].get("replicas"):
            paused.append((meta["namespace"], meta["name"], deploy["spec"]["replicas"]))
            c.kubectl("scale", "deployment", meta["name"], "-n", meta["namespace"], "--replicas=0")
    yield c
    for ns, name, replicas in paused:
        c.kubectl("scale", "deployment", name, "-n", ns, f"--replicas={replicas}", check=False)


def make_operator(cluster: Cluster, tmp: Path, **settings: str) -> OperatorProcess:
    """An operator process against the test cluster, logging into ``tmp``."""
    return OperatorProcess(
        tmp / f"operator-{uuid.uuid4().hex[:6]}.log",
        log_level="DEBUG" if os.environ.get("PF_TEST_DEBUG") else "INFO",
        env={"KUBECONFIG": str(cluster.kubeconfig)},
        **{"artifacts_url": f"file://{tmp}/artifacts", **settings},
    )


@contextlib.contextmanager
def in_place_of(session_op: OperatorProcess, op: OperatorProcess) -> Iterator[OperatorProcess]:
    """Run ``op`` instead of the session's operator (two would share the work); restore after."""
    session_op.stop()
    try:
        op.start()
        yield op
    finally:
        op.stop()
        session_op.start()


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """One operator process for the session's integration tests."""
    op = make_operator(cluster, tmp_path_factory.mktemp("operator"), global_max_concurrent="40")
    op.start()
    yield op
    op.stop()
    print(f"\n--- operator log tail ({op.log_path}) ---\n{op.log_tail(30)}")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"

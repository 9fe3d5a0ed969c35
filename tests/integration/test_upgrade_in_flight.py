"""Upgrade from the previous release with pipelines in flight (issue 15): the release before the
stage order changed (the commit before 0233f02: its chart, its CRDs, its operator image) runs
DesignPipelines stored with the earlier order (analyze, generate, test, deploy, qa) on KWOK
nodes; the current CRDs are applied and the release upgraded to the current chart and operator
image (docs/helm.md, "Upgrading the CRDs") while they run. Every one of them finishes, each
stage run exactly once (one Job, attempt 1, the Jobs started before the upgrade untouched), in
its stored order; new pipelines in the current order run too, and the earlier order is refused
for new objects while the stored ones stay writable (CRD validation ratcheting).

The previous operator image is built from a git worktree of that commit by hack/prev-release.sh
(pf-figma-operator:prev-<sha12>, cached: built and imported once). It needs the NODE=real
cluster (the operator pods run on the real node, the pipelines' pods on KWOK nodes) and the
current operator image there (`make images`). Several minutes cold, so not part of `make test`:
`make test-upgrade` runs it (PF_TEST_UPGRADE=1).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml

from pf_agents import contract
from tests.conftest import HACK, ROOT, Cluster, OperatorProcess, unique, wait_for

pytestmark = [
    pytest.mark.cluster,
    # a cold run builds the previous operator image in the fixture (pyproject's default is 300 s)
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        os.environ.get("PF_TEST_UPGRADE") != "1",
        reason="upgrade with pipelines in flight: run with `make test-upgrade` (builds the "
        "previous release's operator image)",
    ),
]

#: the release before the stage order changed (0233f02: deploy moved after qa)
PREVIOUS = "0233f02^"
#: what the previous CRD accepts: its enum and CEL order
LEGACY = ("analyze", "generate", "test", "deploy", "qa")
CURRENT = contract.STAGE_ORDER
CHART = ROOT / "charts" / "pf-figma"
APP_VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
CURRENT_IMAGE = f"pf-figma-operator:{APP_VERSION}"
GIT = {"url": "https://git.example.com/acme/site.git"}  # deploy needs one; KWOK never pushes
#: one per pipeline; five is the pro plan's max_concurrent, so all run at once; different
#: lengths put the stage boundaries of the pipelines at different moments of the upgrade
LEGACY_DURATIONS = ("6s", "7s", "8s", "9s", "10s")
FIELD_MANAGER = "--field-manager=pf-figma"


@dataclass
class Helm:
    binary: Path
    env: dict[str, str]

    def run(
        self, *args: str, check: bool = True, timeout: float = 150
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.binary), *args], env=self.env, text=True, capture_output=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr.strip()}"
            )
        return proc


@dataclass(frozen=True)
class Previous:
    chart: Path
    crds: Path
    image: str


@pytest.fixture(scope="module")
def helm(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    home = tmp_path_factory.mktemp("helm-home")
    env = dict(os.environ)
    env.update(
        HELM_CACHE_HOME=str(home / "cache"),
        HELM_CONFIG_HOME=str(home / "config"),
        HELM_DATA_HOME=str(home / "data"),
        KUBECONFIG=str(cluster.kubeconfig),
    )
    version = next(
        line.split("=", 1)[1].strip()
        for line in (HACK / "versions.env").read_text().splitlines()
        if line.startswith("HELM_VERSION=")
    )
    binary = cluster.bin_dir / f"helm-{version}" / "helm"
    assert binary.exists(), f"helm not found at {binary} (hack/build-binaries.sh builds it)"
    return Helm(binary, env)


def _node_images(nodes: list[dict[str, Any]]) -> set[str]:
    return {
        n
        for node in nodes
        for img in node["status"].get("images") or []
        for n in img.get("names") or []
    }


def _on_node(images: set[str], image: str) -> bool:
    return any(n == image or n.endswith("/" + image) for n in images)


@pytest.fixture(scope="module")
def previous(cluster: Cluster) -> Previous:
    """The previous release: its checkout (chart, CRDs) and operator image, on the real node."""
    if not cluster.list("nodes", selector="type=kwok"):
        pytest.skip("no KWOK nodes (they run the pipelines' pods)")
    real = cluster.list("nodes", selector="pffigma.dev/pool=agents")
    if not real:
        pytest.skip(
            "no node runs real containers (label pffigma.dev/pool=agents): "
            "make cluster-up NODE=real"
        )

    def current_on_node() -> bool:  # the kubelet reports a just imported image within ~10 s
        nodes = cluster.list("nodes", selector="pffigma.dev/pool=agents")
        return _on_node(_node_images(nodes), CURRENT_IMAGE)

    deadline = time.monotonic() + 30
    while not current_on_node() and time.monotonic() < deadline:
        time.sleep(2)
    if not current_on_node():
        pytest.skip(
            f"the operator image {CURRENT_IMAGE} is not on the real node: "
            "make test-upgrade (or make images)"
        )
    proc = subprocess.run(
        [str(HACK / "prev-release.sh"), PREVIOUS], stdout=subprocess.PIPE, text=True, timeout=3600
    )
    assert proc.returncode == 0, f"hack/prev-release.sh {PREVIOUS} failed (its log above)"
    out = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    worktree = Path(out["worktree"])
    prev = Previous(worktree / "charts" / "pf-figma", worktree / "crds", out["image"])
    # that commit's CRD accepts exactly the earlier order
    crd = yaml.safe_load((prev.crds / "pffigma.dev_designpipelines.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert tuple(spec["properties"]["stages"]["items"]["enum"]) == LEGACY
    wait_for(
        lambda: _on_node(
            _node_images(cluster.list("nodes", selector="pffigma.dev/pool=agents")), prev.image
        ),
        60,
        interval=2,
        what=f"{prev.image} reported by the real node",
    )
    return prev


@pytest.fixture
def release(helm: Helm, cluster: Cluster) -> Iterator[tuple[str, str]]:
    ns, name = unique("pfupg-rel"), unique("pf")
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": ns,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
        }
    )
    try:
        yield name, ns
    finally:
        helm.run(
            "uninstall",
            name,
            "--namespace",
            ns,
            "--wait",
            "--timeout",
            "60s",
            check=False,
            timeout=90,
        )
        cluster.delete("namespace", ns)


# --- helpers ---------------------------------------------------------------------------------


def _apply_crds(cluster: Cluster, manifest: str) -> None:
    """Server-side apply with the field manager `make crds` and docs/helm.md use."""
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", FIELD_MANAGER, "-f", "-", input=manifest
    )
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


def _crds_of(helm: Helm, chart: Path) -> str:
    """`helm show crds` (docs/helm.md): one YAML document per file of the chart's crds/ (Helm
    joins the files as they are: each must start with ---, or kubectl sees one document whose
    later keys win and applies the last CRD only)."""
    out = helm.run("show", "crds", str(chart)).stdout
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(out) if d]
    assert len(names) == len(list((chart / "crds").glob("*.yaml"))), names
    return out


def _pipeline(name: str, ns: str, stages: tuple[str, ...], duration: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "source": {"configMapRef": {"name": "d", "key": "f"}},
        "stages": list(stages),
    }
    if "deploy" in stages:
        spec["git"] = GIT
    return {
        "apiVersion": "pffigma.dev/v1alpha1",
        "kind": "DesignPipeline",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"pffigma.dev/simulate-duration": duration},
        },
        "spec": spec,
    }


def _rejection(cluster: Cluster, obj: dict[str, Any]) -> str:
    """The API server's answer to creating ``obj`` (server dry run): '' when it is accepted."""
    proc = cluster.kubectl(
        "create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(obj), check=False
    )
    return "" if proc.returncode == 0 else proc.stderr


def _status(cluster: Cluster, name: str, ns: str) -> dict[str, Any]:
    return (cluster.get("designpipeline", name, ns) or {}).get("status") or {}


def _finished(status: dict[str, Any]) -> str | None:
    for c in status.get("conditions") or []:
        if c["type"] == "Succeeded" and c["status"] in ("True", "False"):
            return str(c["reason"])
    return None


def _in_flight(status: dict[str, Any]) -> bool:
    """A stage done, the pipeline not finished."""
    done = [s for s in status.get("stages") or [] if s.get("state") == "Succeeded"]
    return bool(done) and _finished(status) is None


def _operator_pods(cluster: Cluster, ns: str, release: str) -> list[dict[str, Any]]:
    return cluster.list(
        "pods",
        ns,
        selector=f"app.kubernetes.io/instance={release},app.kubernetes.io/component=operator",
    )


def _deployment_image(cluster: Cluster, ns: str, release: str) -> str:
    deployment = cluster.get("deployment", f"{release}-pf-figma", ns) or {}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return str(container["image"])


def _deployment_env(cluster: Cluster, ns: str, release: str) -> dict[str, str]:
    deployment = cluster.get("deployment", f"{release}-pf-figma", ns) or {}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}


def _jobs(cluster: Cluster, ns: str) -> list[dict[str, Any]]:
    return [
        j
        for j in cluster.list("jobs", ns)
        if "pffigma.dev/pipeline" in (j["metadata"].get("labels") or {})
    ]


def _check_ran_once(
    cluster: Cluster, ns: str, names: list[str], stages: tuple[str, ...], jobs: list[dict[str, Any]]
) -> None:
    """Each pipeline succeeded with every stage run once, in ``stages``' order."""
    for name in names:
        status = _status(cluster, name, ns)
        assert _finished(status) == "Succeeded", (name, status.get("conditions"))
        got = [(s["name"], s["state"], s.get("attempts")) for s in status["stages"]]
        assert got == [(s, "Succeeded", 1) for s in stages], (name, got)
        mine = [j for j in jobs if j["metadata"]["labels"]["pffigma.dev/pipeline"] == name]
        labels = [
            (
                j["metadata"]["labels"]["pffigma.dev/stage"],
                j["metadata"]["labels"]["pffigma.dev/attempt"],
            )
            for j in mine
        ]
        assert sorted(labels) == sorted((s, "1") for s in stages), (name, labels)
        for job in mine:  # one pod, succeeded: the Job was not retried either
            js = job.get("status") or {}
            assert js.get("succeeded") == 1 and not js.get("failed"), (job["metadata"]["name"], js)
        # one stage after the other: each Job created after the previous stage's finished
        by_stage = {j["metadata"]["labels"]["pffigma.dev/stage"]: j for j in mine}
        for before, after in pairwise(stages):
            done = by_stage[before]["status"]["completionTime"]
            started = by_stage[after]["metadata"]["creationTimestamp"]
            assert done <= started, f"{name}: {after} created at {started}, {before} done {done}"


def _wait_gone(cluster: Cluster, kind: str, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and cluster.get(kind, name) is not None:
        time.sleep(1)


# --- the test --------------------------------------------------------------------------------


def test_pipelines_in_flight_finish_through_helm_upgrade_from_the_previous_release(
    helm: Helm,
    cluster: Cluster,
    previous: Previous,
    release: tuple[str, str],
    operator: OperatorProcess,
) -> None:
    name, ns = release
    operator.stop()  # only the release's operator runs: the previous one, then the current one
    tenant = unique("upg15")
    tns = f"tenant-{tenant}"
    visual = _pipeline("probe", tns, ("analyze", "generate", "test", "qa", "visual"), "1s")
    earlier = _pipeline("probe", tns, LEGACY, "1s")
    try:
        # --- the previous release: its CRDs, its chart, its operator image -------------------
        # (from its checkout, as `make crds` does: its files lack the leading ---)
        cluster.kubectl(
            "apply", "--server-side", "--force-conflicts", FIELD_MANAGER, "-f", str(previous.crds)
        )
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        owner_role = cluster.get("clusterrole", "pf-figma-tenant-owner") is None
        pool = {"pffigma.dev/pool": "agents"}
        toleration = {
            "key": "pffigma.dev/pool",
            "operator": "Equal",
            "value": "agents",
            "effect": "NoSchedule",
        }
        repository, _, tag = previous.image.rpartition(":")
        helm.run(
            "install",
            name,
            str(previous.chart),
            "--namespace",
            ns,
            "--skip-crds",
            "--set",
            f"image.repository={repository}",
            "--set",
            f"image.tag={tag}",
            "--set-json",
            f"nodeSelector={json.dumps(pool)}",
            "--set-json",
            f"tolerations={json.dumps([toleration])}",
            "--set",
            f"tenantOwnerRole.create={str(owner_role).lower()}",
            # the operator's NetworkPolicy is test_chart's subject, not this test's
            "--set",
            "networkPolicy.enabled=false",
            "--wait",
            "--timeout",
            "120s",
            timeout=150,
        )
        assert _deployment_image(cluster, ns, name) == previous.image
        tenant_obj = {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": tenant},
            "spec": {"plan": "pro"},
        }
        cluster.apply(tenant_obj)

        def tenant_ready() -> bool:
            conds = ((cluster.get("tenant", tenant) or {}).get("status") or {}).get(
                "conditions"
            ) or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

        wait_for(tenant_ready, 90, what="tenant ready (previous operator)")
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",  # the pipelines' source
                "metadata": {"name": "d", "namespace": tns},
                "data": {"f": "{}"},
            }
        )
        # the previous CRD is the one in force: it knows no visual stage, takes the earlier order
        wait_for(
            lambda: "visual" in _rejection(cluster, visual),
            30,
            what="the previous CRD refusing the visual stage",
        )
        assert _rejection(cluster, earlier) == ""

        legacy = [f"legacy-{i}" for i in range(len(LEGACY_DURATIONS))]
        for pname, duration in zip(legacy, LEGACY_DURATIONS, strict=True):
            cluster.apply(_pipeline(pname, tns, LEGACY, duration))
        # in flight: the previous operator finished a stage of each, none has finished
        wait_for(
            lambda: all(_in_flight(_status(cluster, p, tns)) for p in legacy),
            120,
            interval=0.5,
            what="every legacy pipeline past its first stage (previous op)",
        )
        before = {j["metadata"]["name"]: j["metadata"]["uid"] for j in _jobs(cluster, tns)}
        assert not any(_finished(_status(cluster, p, tns)) for p in legacy), "finished too soon"

        # --- the upgrade, as docs/helm.md says: the CRDs, then helm upgrade ---------------------
        started = time.monotonic()
        _apply_crds(cluster, _crds_of(helm, CHART))
        repository, _, tag = CURRENT_IMAGE.rpartition(":")
        helm.run(
            "upgrade",
            name,
            str(CHART),
            "--namespace",
            ns,
            # the last release's values over the current chart's defaults (--reuse-values would
            # keep the previous chart's defaults: no values the current chart added)
            "--reset-then-reuse-values",
            "--set",
            f"image.repository={repository}",
            "--set",
            f"image.tag={tag}",
            "--wait",
            "--timeout",
            "120s",
            timeout=150,
        )
        upgrade_seconds = time.monotonic() - started
        assert _deployment_image(cluster, ns, name) == CURRENT_IMAGE
        env = _deployment_env(cluster, ns, name)
        assert env.get("PF_ARTIFACT_RETENTION_DAYS") == "30", env  # a default the chart added
        assert "visual" in env.get("PF_AGENT_STAGE_RESOURCES", ""), env
        pods = _operator_pods(cluster, ns, name)
        assert [p["spec"]["containers"][0]["image"] for p in pods] == [CURRENT_IMAGE], pods
        history = json.loads(helm.run("history", name, "--namespace", ns, "-o", "json").stdout)
        assert [h["status"] for h in history] == ["superseded", "deployed"]

        for pname in legacy:
            reason = wait_for(
                lambda n=pname: _finished(_status(cluster, n, tns)),
                180,
                interval=1,
                what=f"{pname} finished across the upgrade",
            )
            assert reason == "Succeeded", (pname, _status(cluster, pname, tns).get("conditions"))
        jobs = _jobs(cluster, tns)
        _check_ran_once(cluster, tns, legacy, LEGACY, jobs)
        now = {j["metadata"]["name"]: j["metadata"]["uid"] for j in jobs}
        # the Jobs of the previous operator are the very same objects (none deleted, re-made)
        assert {n: now.get(n) for n in before} == before
        for pname in legacy:  # each pipeline had stages started by both operators
            mine = {
                n
                for n, j in ((j["metadata"]["name"], j) for j in jobs)
                if j["metadata"]["labels"]["pffigma.dev/pipeline"] == pname
            }
            assert mine & before.keys() and mine - before.keys(), (
                f"{pname} not in flight during the upgrade ({upgrade_seconds:.0f} s): "
                f"jobs before {sorted(mine & before.keys())}, after {sorted(mine - before.keys())}"
            )

        # --- after the upgrade: the current order; the earlier one only for stored objects ------
        order = "stages must keep the order " + ", ".join(CURRENT)
        assert order in _rejection(cluster, earlier)
        cluster.kubectl("label", "designpipeline", legacy[0], "-n", tns, "upgrade-test/ok=yes")
        current = [f"current-{i}" for i in range(3)]
        for pname in current:
            cluster.apply(_pipeline(pname, tns, CURRENT, "2s"))
        for pname in current:
            wait_for(
                lambda n=pname: _finished(_status(cluster, n, tns)),
                120,
                interval=1,
                what=f"{pname} (current order) finished",
            )
        _check_ran_once(cluster, tns, current, CURRENT, _jobs(cluster, tns))
    finally:
        cluster.delete("tenant", tenant)  # its finalizer: the release's operator, or the session's
        helm.run(
            "uninstall",
            name,
            "--namespace",
            ns,
            "--wait",
            "--timeout",
            "60s",
            check=False,
            timeout=90,
        )
        cluster.kubectl(
            "apply", "--server-side", "--force-conflicts", FIELD_MANAGER, "-f", str(ROOT / "crds")
        )
        operator.start()
        _wait_gone(cluster, "tenant", tenant, 90)

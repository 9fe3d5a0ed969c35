#!/usr/bin/env python3
"""Peers on one control plane (issue 19): the same 3-step pipeline of pods as a Tekton Pipeline
of 3 Tasks, an Argo Workflow of 3 steps and a pf-figma DesignPipeline, one system after the
other, on the local cluster's KWOK nodes. Prints one table; writes bench/results/peers.json.

    make bench-peers                                  # quick form: 500 at once + a paced run
    .venv/bin/python hack/bench_peers.py --pipelines 500 5000 --tenants 100   # full form
    .venv/bin/python hack/bench_peers.py --systems pf-figma,argo --pipelines 50

All pods run on KWOK nodes of the bench's own (peer-kwok-0..3, a second kwok process with the
shared cluster's stages plus hack/kwok/peer-pod-stages.yaml, which finish pods owned by a Tekton
TaskRun or an Argo Workflow as pod-stages.yaml finishes pf-figma's): the shared cluster's KWOK is
left alone. Every system runs with its default settings (no tuning): its controller as a host
process built from its Go module (hack/build-binaries.sh tekton|argo; pf-figma's operator from
this tree), its CRDs from its module, its webhooks (Tekton's) as host processes behind a
selector-less Service whose EndpointSlice is the host address (the real node's kube-proxy routes
the apiserver to it), with the certificates the webhook makes and registers itself.

Measured per system and run, from this client's watches and the apiserver's own metrics:
  pipelines/hour      finished pipelines / (last finish - first apply)
  apply -> first pod  apply returned -> the pipeline's first pod seen (p50/p95)
  hand-off            step k's pod Succeeded -> step k+1's pod created (p50/p95)
  API writes/pipeline apiserver_request_total (POST/PUT/PATCH/DELETE/APPLY, all clients) / N
  controller CPU s    user+system seconds of the controller process(es) during the run
  peak RSS            the largest resident set of the controller process(es), sampled
Where the pods cannot do what they do on real nodes (KWOK runs no containers), this is said in
the table's notes: Tekton's entrypoint and Argo's executor run inside the pod; here the pods
finish as KWOK's stages make them; Argo's wait container's
writes (a WorkflowTaskResult per step) are therefore missing from Argo's API writes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "hack"))

from bench import apiserver_writes, pct, watch  # noqa: E402
from pf_operator.kube import ApiError, Kube  # noqa: E402
from tests.operator_process import OperatorProcess  # noqa: E402

HACK = ROOT / "hack"
STATE = Path(os.environ.get("PF_CLUSTER_DIR", ROOT / ".cluster"))
RESULTS = ROOT / "bench" / "results"
STEPS = ("analyze", "generate", "test")
PLANS = ("starter", "pro", "enterprise")
SYSTEMS = ("tekton", "argo", "pf-figma")
DURATION = "1s"  # each step's pod runs this long (KWOK stage delay), the same for every system


def versions() -> dict[str, str]:
    out = {}
    for line in (HACK / "versions.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def build(target: str) -> Path:
    """Build (cached) and return the module source dir of a peer."""
    subprocess.run([str(HACK / "build-binaries.sh"), target], check=True)
    out = subprocess.run(
        [str(HACK / "build-binaries.sh"), f"{target}-dir"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def bin_dir() -> Path:
    out = subprocess.run(
        [str(HACK / "build-binaries.sh"), "print-dir"], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip())


def kubectl(*args: str, input: str | None = None, check: bool = True) -> str:
    k8s = bin_dir() / f"kubernetes-{versions()['K8S_VERSION']}" / "kubectl"
    proc = subprocess.run(
        [str(k8s), "--kubeconfig", str(STATE / "kubeconfig"), *args],
        input=input,
        text=True,
        capture_output=True,
    )
    if check and proc.returncode:
        raise RuntimeError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def host_ip() -> str:
    out = subprocess.run(["ip", "-4", "route", "get", "1.1.1.1"], capture_output=True, text=True)
    parts = out.stdout.split()
    return parts[parts.index("src") + 1] if "src" in parts else "127.0.0.1"


# --- controller processes ----------------------------------------------------------------------


@dataclass
class Proc:
    """A controller as a host process: CPU seconds and peak RSS from /proc."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None
    peak_rss_mib: float = 0.0

    def start(self) -> None:
        log = open(RESULTS / f"peer-{self.name}.log", "wb")  # lives with the process
        self.popen = subprocess.Popen(
            self.argv,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def cpu_seconds(self) -> float:
        assert self.popen is not None
        try:
            fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            return 0.0
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

    def sample(self) -> None:
        assert self.popen is not None
        try:
            for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.peak_rss_mib = max(self.peak_rss_mib, int(line.split()[1]) / 1024)
        except FileNotFoundError:
            pass

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()


class OperatorProc(Proc):
    """pf-figma's operator through the tests' OperatorProcess (same settings as hack/bench.py)."""

    def __init__(self, **settings: str) -> None:
        super().__init__("pf-figma", [])
        self.op = OperatorProcess(
            RESULTS / "peer-pf-figma.log",
            log_level="WARNING",
            env={"KUBECONFIG": str(STATE / "kubeconfig")},
            agent_node_selector=json.dumps(NODE_LABEL),
            **settings,
        )

    def start(self) -> None:
        self.op.start(timeout=120)

    def cpu_seconds(self) -> float:
        return float(self.op.sample()[0])

    def sample(self) -> None:
        self.op.sample()
        self.peak_rss_mib = max(self.peak_rss_mib, self.op.peak_rss_mib)

    def alive(self) -> bool:
        return True

    def stop(self) -> None:
        self.op.stop()


class PidProc(Proc):
    """A process started by a hack/ script (its pid file under .cluster/pids): measured only."""

    def __init__(self, name: str) -> None:
        super().__init__(name, [])
        self.pid = int((STATE / "pids" / f"{name}.pid").read_text())

    def start(self) -> None:
        pass

    def _path(self, what: str) -> Path:
        return Path(f"/proc/{self.pid}/{what}")

    def cpu_seconds(self) -> float:
        try:
            fields = self._path("stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def sample(self) -> None:
        try:
            for line in self._path("status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.peak_rss_mib = max(self.peak_rss_mib, int(line.split()[1]) / 1024)
        except FileNotFoundError:
            pass

    def alive(self) -> bool:
        return self._path("stat").exists()

    def stop(self) -> None:
        pass  # its script stops it


# --- the bench's own KWOK nodes ---------------------------------------------------------------

NODE_LABEL = {"type": "peer-kwok"}
NODES = 4


def kwok_proc() -> Proc:
    """A second kwok: manages only the bench's nodes (annotation kwok.x-k8s.io/node=peer)."""
    v = versions()["KWOK_VERSION"]
    kwok = bin_dir() / f"kwok-{v}"
    stages = kwok / "stages"
    config = yaml.safe_load((HACK / "kwok" / "kwok-config.yaml").read_text())
    config["options"]["cidr"] = "10.244.128.0/19"  # apart from the shared KWOK's pods
    docs = [config]
    for f in ("node-initialize", "node-heartbeat-with-lease", "pod-ready", "pod-delete"):
        docs += [d for d in yaml.safe_load_all((stages / f"{f}.yaml").read_text()) if d]
    for f in ("pod-stages.yaml", "peer-pod-stages.yaml"):
        docs += [d for d in yaml.safe_load_all((HACK / "kwok" / f).read_text()) if d]
    path = RESULTS / "peer-kwok.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return Proc(
        "kwok",
        [
            str(kwok / "kwok"),
            "--kubeconfig",
            str(STATE / "kubeconfig"),
            "--config",
            str(path),
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=peer",
            "--node-lease-duration-seconds=40",
            "--server-address=127.0.0.1:0",
        ],
    )


def peer_nodes() -> list[dict[str, Any]]:
    out = []
    for i in range(NODES):
        name = f"peer-kwok-{i}"
        node = yaml.safe_load((HACK / "kwok" / "node.yaml").read_text().replace("__NAME__", name))
        node["metadata"]["annotations"]["kwok.x-k8s.io/node"] = "peer"
        node["metadata"]["labels"].update({**NODE_LABEL, "pffigma.dev/pool": "peer-kwok"})
        out.append(node)
    return out


# --- the systems -------------------------------------------------------------------------------


@dataclass
class System:
    name: str
    settings: str  # which settings, for the table
    setup: Callable[[], list[Proc]]
    namespace_objects: Callable[[str, str], list[dict[str, Any]]]  # (namespace, plan)
    pipeline: Callable[[str, str], dict[str, Any]]  # (namespace, name)
    #: pod label -> pipeline name, and how a pod names its step
    pipeline_label: str
    step_of: Callable[[dict[str, Any]], str]
    api_path: str  # collection path of the pipeline kind (for cleanup)
    notes: list[str] = field(default_factory=list)
    #: after the system's runs: remove what would outlive its processes (webhook configurations)
    teardown: Callable[[], None] = lambda: None


def apply_docs(docs: list[dict[str, Any]]) -> None:
    kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump_all(docs)
    )


def tekton_system(scale: bool = False) -> System:
    """scale: the settings Tekton's docs/tekton-controller-performance-configuration.md gives
    (-kube-api-qps 50, -kube-api-burst 50, -threads-per-controller 32); else its defaults
    (2 threads, QPS 5, burst 10, which Tekton's main doubles)."""
    src = build("tekton")
    v = versions()["TEKTON_VERSION"]
    binp = bin_dir()
    cfg = src / "config"
    ns = "tekton-pipelines"
    ip = host_ip()

    def setup() -> list[Proc]:
        kubectl("create", "namespace", ns, "--dry-run=client", "-o", "yaml")
        docs: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        ]
        for f in sorted((cfg / "300-crds").glob("*.yaml")):
            docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
        for f in [*sorted(cfg.glob("config-*.yaml")), cfg / "500-webhooks.yaml"]:
            docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
        for d in docs:
            if d["kind"] == "ConfigMap" or d["kind"] == "Secret":
                d["metadata"]["namespace"] = ns
        # the webhook as a host process behind the Service the apiserver calls
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "tekton-pipelines-webhook", "namespace": ns},
                "spec": {"ports": [{"name": "https-webhook", "port": 443, "targetPort": 8443}]},
            }
        )
        docs.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": "tekton-pipelines-webhook-host",
                    "namespace": ns,
                    "labels": {"kubernetes.io/service-name": "tekton-pipelines-webhook"},
                },
                "addressType": "IPv4",
                "ports": [{"name": "https-webhook", "port": 8443, "protocol": "TCP"}],
                "endpoints": [{"addresses": [ip]}],
            }
        )
        apply_docs(docs)
        kubeconfig = str(STATE / "kubeconfig")
        common = {
            "SYSTEM_NAMESPACE": ns,
            "KUBERNETES_MIN_VERSION": "v1.28.0",
            "CONFIG_LOGGING_NAME": "config-logging",
            "CONFIG_OBSERVABILITY_NAME": "config-observability",
            "CONFIG_FEATURE_FLAGS_NAME": "feature-flags",
            "METRICS_DOMAIN": "tekton.dev/pipeline",
            "KUBECONFIG": kubeconfig,
        }
        webhook = Proc(
            "tekton-webhook",
            [str(binp / f"tekton-webhook-{v}" / "tekton-webhook"), "--kubeconfig", kubeconfig],
            {
                **common,
                "CONFIG_LEADERELECTION_NAME": "config-leader-election-webhook",
                "PROBES_PORT": "18080",
                "WEBHOOK_PORT": "8443",
                "WEBHOOK_ADMISSION_CONTROLLER_NAME": "webhook.pipeline.tekton.dev",
                "WEBHOOK_SERVICE_NAME": "tekton-pipelines-webhook",
                "WEBHOOK_SECRET_NAME": "webhook-certs",
                "METRICS_PROMETHEUS_PORT": "19091",
            },
        )
        img = "registry.invalid/tekton"  # never pulled: KWOK runs no containers
        controller = Proc(
            "tekton-controller",
            [
                str(binp / f"tekton-controller-{v}" / "tekton-controller"),
                "--kubeconfig",
                kubeconfig,
                "-entrypoint-image",
                f"{img}/entrypoint",
                "-nop-image",
                f"{img}/nop",
                "-sidecarlogresults-image",
                f"{img}/sidecarlogresults",
                "-workingdirinit-image",
                f"{img}/workingdirinit",
                "-shell-image",
                f"{img}/busybox",
                "-shell-image-win",
                f"{img}/powershell",
                *(
                    [
                        "-kube-api-qps",
                        "50",
                        "-kube-api-burst",
                        "50",
                        "-threads-per-controller",
                        "32",
                    ]
                    if scale
                    else []
                ),
            ],
            {
                **common,
                "CONFIG_DEFAULTS_NAME": "config-defaults",
                "CONFIG_LEADERELECTION_NAME": "config-leader-election-controller",
                "CONFIG_SPIRE": "config-spire",
                "METRICS_PROMETHEUS_PORT": "19092",
                "PROFILING_PORT": "18009",
                "PROBES_PORT": "18082",
            },
        )
        return [webhook, controller]

    def namespace_objects(namespace: str, plan: str) -> list[dict[str, Any]]:
        tasks = [
            {
                "apiVersion": "tekton.dev/v1",
                "kind": "Task",
                "metadata": {"name": step, "namespace": namespace},
                "spec": {
                    "steps": [{"name": step, "image": "pf-figma-agent:dev", "command": ["true"]}]
                },
            }
            for step in STEPS
        ]
        pipeline = {
            "apiVersion": "tekton.dev/v1",
            "kind": "Pipeline",
            "metadata": {"name": "three-steps", "namespace": namespace},
            "spec": {
                "tasks": [
                    {
                        "name": step,
                        "taskRef": {"name": step},
                        **({"runAfter": [STEPS[i - 1]]} if i else {}),
                    }
                    for i, step in enumerate(STEPS)
                ]
            },
        }
        return [*tasks, pipeline]

    def pipeline(namespace: str, name: str) -> dict[str, Any]:
        return {
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "pipelineRef": {"name": "three-steps"},
                "taskRunTemplate": {"podTemplate": {"nodeSelector": dict(NODE_LABEL)}},
            },
        }

    def teardown() -> None:  # its webhooks would fail Tekton's objects once it is gone
        kubectl(
            "delete",
            "validatingwebhookconfiguration,mutatingwebhookconfiguration",
            "config.webhook.pipeline.tekton.dev",
            "validation.webhook.pipeline.tekton.dev",
            "webhook.pipeline.tekton.dev",
            "--ignore-not-found",
            check=False,
        )

    return System(
        "tekton-scale" if scale else "tekton",
        f"Tekton Pipelines {v}, "
        + (
            "docs' scale settings (qps 50, burst 50, 32 threads)"
            if scale
            else "defaults (config/*.yaml of the module)"
        ),
        setup,
        namespace_objects,
        pipeline,
        "tekton.dev/pipelineRun",
        lambda pod: (pod["metadata"].get("labels") or {}).get("tekton.dev/pipelineTask", "?"),
        "/apis/tekton.dev/v1/namespaces/{ns}/pipelineruns",
        [
            "Tekton: the entrypoint binary (copied in by the prepare init container) orders the "
            "steps inside the pod and writes results; on KWOK no container runs, the pods finish "
            "by KWOK's stage, so a step's own run time is not measured (the same for every system)"
        ],
        teardown,
    )


def argo_system(scale: bool = False) -> System:
    """scale: the rate limits Argo's docs/scaling.md gives as its example (--qps=50
    --burst=75); else its defaults (--qps 20, --burst 30, 32 workflow workers)."""
    src = build("argo")
    v = versions()["ARGO_VERSION"]
    binp = bin_dir()
    ns = "argo"

    def setup() -> list[Proc]:
        docs: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        ]
        crds = src / "manifests" / "base" / "crds" / "minimal"
        for f in sorted(crds.glob("*.yaml")):
            docs += [
                d
                for d in yaml.safe_load_all(f.read_text())
                if d and d.get("kind") == "CustomResourceDefinition"
            ]
        # the controller watches its ConfigMap and will not start without one: an empty one
        # is Argo's defaults (the quick-start manifests ship it empty too)
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "workflow-controller-configmap", "namespace": ns},
            }
        )
        apply_docs(docs)
        kubeconfig = str(STATE / "kubeconfig")
        return [
            Proc(
                "argo-workflow-controller",
                [
                    str(binp / f"argo-workflow-controller-{v}" / "argo-workflow-controller"),
                    "--kubeconfig",
                    kubeconfig,
                    "--namespace",
                    ns,
                    "--executor-image",
                    f"registry.invalid/argoexec:{v}",
                    *(["--qps=50", "--burst=75"] if scale else []),
                ],
                {"LEADER_ELECTION_DISABLE": "true"},
            )
        ]

    def namespace_objects(namespace: str, plan: str) -> list[dict[str, Any]]:
        return []  # the inline Workflow needs nothing else

    def pipeline(namespace: str, name: str) -> dict[str, Any]:
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "entrypoint": "main",
                "nodeSelector": dict(NODE_LABEL),
                "podMetadata": {"labels": {"pffigma.dev/simulate-duration": DURATION}},
                "templates": [
                    {"name": "main", "steps": [[{"name": s, "template": s}] for s in STEPS]},
                    *(
                        {
                            "name": s,
                            "container": {"image": "pf-figma-agent:dev", "command": ["true"]},
                        }
                        for s in STEPS
                    ),
                ],
            },
        }

    return System(
        "argo-scale" if scale else "argo",
        f"Argo Workflows {v} workflow-controller, "
        + ("docs/scaling.md's example (--qps=50 --burst=75)" if scale else "defaults"),
        setup,
        namespace_objects,
        pipeline,
        "workflows.argoproj.io/workflow",
        lambda pod: (
            (pod["metadata"].get("annotations") or {})
            .get("workflows.argoproj.io/node-name", "?")
            .rsplit(".", 1)[-1]
        ),
        "/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows",
        [
            "Argo: the emissary executor (init and wait containers) runs inside the pod; on KWOK "
            "it does not run, so its own API writes (the WorkflowTaskResult of each step) are "
            "not made and not counted; the controller completes each node from the pod's status "
            "(v3.7 holds a node for its task result only when one exists)"
        ],
    )


def pf_figma_system() -> System:
    def setup() -> list[Proc]:
        return [OperatorProc()]  # its CRDs: `make crds` (a prerequisite of make bench-peers)

    def namespace_objects(namespace: str, plan: str) -> list[dict[str, Any]]:
        return []  # the Tenant makes the namespace

    def pipeline(namespace: str, name: str) -> dict[str, Any]:
        return {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "DesignPipeline",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"pffigma.dev/simulate-duration": DURATION},
            },
            "spec": {
                "source": {"configMapRef": {"name": "design", "key": "file.json"}},
                "stages": list(STEPS),
            },
        }

    return System(
        "pf-figma",
        "pf-figma operator (this tree), defaults (PF_GLOBAL_MAX_CONCURRENT 50)",
        setup,
        namespace_objects,
        pipeline,
        "pffigma.dev/pipeline",
        lambda pod: (pod["metadata"].get("labels") or {}).get("pffigma.dev/stage", "?"),
        "/apis/pffigma.dev/v1alpha1/namespaces/{ns}/designpipelines",
    )


def pf_figma_kueue_system() -> System:
    """pf-figma handing its stage Jobs to Kueue (PF_QUEUEING=kueue): a ClusterQueue and a
    LocalQueue per tenant from its plan, every stage Job its own Workload."""
    base = pf_figma_system()

    def setup() -> list[Proc]:
        subprocess.run([str(HACK / "kueue.sh"), "up"], check=True)
        return [OperatorProc(queueing="kueue"), PidProc("kueue")]

    def teardown() -> None:
        subprocess.run([str(HACK / "kueue.sh"), "down"], check=False)

    return System(
        "pf-figma+kueue",
        f"pf-figma with queueing: kueue, Kueue {versions()['KUEUE_VERSION']} defaults "
        "(hack/kueue.sh); CPU and RSS are both processes'",
        setup,
        base.namespace_objects,
        base.pipeline,
        base.pipeline_label,
        base.step_of,
        base.api_path,
        teardown=teardown,
    )


FACTORIES: dict[str, Callable[[], System]] = {
    "tekton": tekton_system,
    "argo": argo_system,
    "pf-figma": pf_figma_system,
    "pf-figma+kueue": pf_figma_kueue_system,
    "tekton-scale": lambda: tekton_system(scale=True),
    "argo-scale": lambda: argo_system(scale=True),
}


# --- one run ---------------------------------------------------------------------------------


@dataclass
class Track:
    applied: dict[str, float] = field(default_factory=dict)  # ns/name -> when apply returned
    first_pod: dict[str, float] = field(default_factory=dict)
    created: dict[tuple[str, str], float] = field(default_factory=dict)  # (key, step)
    done: dict[tuple[str, str], float] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)


async def namespaces_for(kube: Kube, system: System, run: str, tenants: int) -> list[str]:
    out = []
    for i in range(tenants):
        plan = PLANS[i % 3]
        if system.name.startswith("pf-figma"):
            name = f"pp-{run}-{i:03d}"
            await kube.apply(
                {
                    "apiVersion": "pffigma.dev/v1alpha1",
                    "kind": "Tenant",
                    "metadata": {"name": name},
                    "spec": {"plan": plan},
                }
            )
            ns = f"tenant-{name}"
        else:
            ns = f"peer-{system.name}-{run}-{i:03d}"
            await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        out.append(ns)
    if system.name.startswith("pf-figma"):  # its pipelines wait for their Tenant otherwise
        for ns in out:
            await until(lambda ns=ns: tenant_ready(kube, ns.removeprefix("tenant-")), 120)
    docs: list[dict[str, Any]] = []
    for i, ns in enumerate(out):
        await until(lambda ns=ns: present(kube, "Namespace", ns), 60)
        docs += system.namespace_objects(ns, PLANS[i % 3])
        if system.name.startswith("pf-figma"):
            docs.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "design", "namespace": ns},
                    "data": {"file.json": "{}"},
                }
            )
    if docs:
        apply_docs(docs)
    return out


async def one_run(
    kube: Kube, system: System, procs: list[Proc], nss: list[str], count: int, rate: float | None
) -> dict[str, Any]:
    """One run over the system's namespaces: `count` pipelines at once (rate None) or paced."""
    run = uuid.uuid4().hex[:4]
    tenants = len(nss)
    track = Track()
    stop = asyncio.Event()
    mine = set(nss)
    step_index = {s: i for i, s in enumerate(STEPS)}

    def on_pod(kind: str, pod: dict[str, Any], seen: float) -> None:
        meta = pod["metadata"]
        if meta.get("namespace") not in mine:
            return
        owner = (meta.get("labels") or {}).get(system.pipeline_label)
        if not owner or not owner.startswith(f"p-{run}-"):
            return  # not this run's (an earlier run's pods are still listed)
        key = f"{meta['namespace']}/{owner}"
        step = system.step_of(pod)
        track.first_pod.setdefault(key, seen)
        track.created.setdefault((key, step), seen)
        if (pod.get("status") or {}).get("phase") == "Succeeded" and (key, step) not in track.done:
            track.done[(key, step)] = seen
            if step == STEPS[-1]:
                track.finished[key] = seen

    watcher = asyncio.create_task(watch(kube, "/api/v1/pods", on_pod, stop))
    await asyncio.sleep(1)
    writes0 = await apiserver_writes(kube)
    cpu0 = sum(p.cpu_seconds() for p in procs)
    t0 = time.monotonic()

    async def create(i: int) -> None:
        ns = nss[i % len(nss)]
        name = f"p-{run}-{i:05d}"
        body = system.pipeline(ns, name)
        if system.name.startswith("tekton"):  # PipelineRun labels go to its TaskRuns and their pods
            body["metadata"]["labels"] = {"pffigma.dev/simulate-duration": DURATION}
        while True:
            try:
                await kube.request("POST", system.api_path.format(ns=ns), body=body)
                break
            except ApiError as err:
                if not err.retryable:
                    raise
                await asyncio.sleep(0.5)
        track.applied[f"{ns}/{name}"] = time.monotonic()

    if rate:
        tasks = []
        for i in range(count):
            tasks.append(asyncio.create_task(create(i)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)
    else:
        sem = asyncio.Semaphore(64)

        async def bounded(i: int) -> None:
            async with sem:
                await create(i)

        await asyncio.gather(*(bounded(i) for i in range(count)))
    deadline = time.monotonic() + max(600, count * 2)
    while len(track.finished) < count and time.monotonic() < deadline:
        await asyncio.sleep(1)
        for p in procs:
            p.sample()
        if not all(p.alive() for p in procs):
            break
    elapsed = (max(track.finished.values()) if track.finished else time.monotonic()) - t0
    await asyncio.sleep(3)
    cpu = sum(p.cpu_seconds() for p in procs) - cpu0
    writes = await apiserver_writes(kube)
    stop.set()
    watcher.cancel()
    first = [track.first_pod[k] - t for k, t in track.applied.items() if k in track.first_pod]
    handoffs = [
        track.created[(key, STEPS[step_index[step] + 1])] - t
        for (key, step), t in track.done.items()
        if step in step_index
        and step_index[step] + 1 < len(STEPS)
        and (key, STEPS[step_index[step] + 1]) in track.created
    ]
    total_writes = sum(max(0.0, writes.get(k, 0) - writes0.get(k, 0)) for k in writes)
    result = {
        "system": system.name,
        "settings": system.settings,
        "mode": f"paced {rate:g}/s" if rate else "all at once",
        "pipelines": count,
        "tenants": tenants,
        "finished": len(track.finished),
        "seconds": round(elapsed, 1),
        "pipelines_per_hour": round(len(track.finished) / elapsed * 3600) if elapsed > 0 else 0,
        "first_pod_p50_ms": ms(pct(first, 50)),
        "first_pod_p95_ms": ms(pct(first, 95)),
        "handoff_p50_ms": ms(pct(handoffs, 50)),
        "handoff_p95_ms": ms(pct(handoffs, 95)),
        "api_writes_per_pipeline": round(total_writes / count, 1),
        "controller_cpu_s": round(cpu, 1),
        "controller_peak_rss_mib": round(sum(p.peak_rss_mib for p in procs), 1),
    }
    return result


async def cleanup(kube: Kube, system: System, nss: list[str]) -> None:
    for ns in nss:
        if system.name.startswith("pf-figma"):
            await kube.delete("Tenant", ns.removeprefix("tenant-"))
        else:
            await kube.delete("Namespace", ns)
    for ns in nss:
        await until(lambda ns=ns: absent(kube, "Namespace", ns), 300)


async def tenant_ready(kube: Kube, name: str) -> bool:
    body = await kube.get_or_none("Tenant", name)
    conds = ((body or {}).get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


async def present(kube: Kube, kind: str, name: str) -> bool:
    return await kube.get_or_none(kind, name) is not None


async def absent(kube: Kube, kind: str, name: str) -> bool:
    return await kube.get_or_none(kind, name) is None


async def until(check: Callable[[], Any], seconds: float, interval: float = 0.5) -> bool:
    """Poll an async check until it is true or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(interval)
    return False


# --- main --------------------------------------------------------------------------------------


def ms(seconds: float) -> int | None:
    return None if math.isnan(seconds) else round(seconds * 1000)


def print_table(rows: list[dict[str, Any]], notes: list[str]) -> None:
    cols = [
        ("system", "system"),
        ("mode", "run"),
        ("pipelines", "N"),
        ("finished", "done"),
        ("pipelines_per_hour", "pipelines/h"),
        ("first_pod_p50_ms", "first pod p50 ms"),
        ("first_pod_p95_ms", "p95"),
        ("handoff_p50_ms", "hand-off p50 ms"),
        ("handoff_p95_ms", "p95"),
        ("api_writes_per_pipeline", "writes/pipeline"),
        ("controller_cpu_s", "ctrl CPU s"),
        ("controller_peak_rss_mib", "peak RSS MiB"),
    ]
    ours = {(r["mode"], r["pipelines"]): r for r in rows if r["system"] == "pf-figma"}
    print("| " + " | ".join(h for _, h in cols) + " | pf-figma ratio (pipelines/h, hand-off p50) |")
    print("|" + "---|" * (len(cols) + 1))
    for r in rows:
        mine = ours.get((r["mode"], r["pipelines"]))
        ratio = "-"
        if (
            mine
            and r["system"] != "pf-figma"
            and r["pipelines_per_hour"]
            and mine["handoff_p50_ms"]
        ):
            ratio = (
                f"{mine['pipelines_per_hour'] / r['pipelines_per_hour']:.1f}x, "
                f"{r['handoff_p50_ms'] / mine['handoff_p50_ms']:.1f}x"
            )
        print("| " + " | ".join(str(r[k]) for k, _ in cols) + f" | {ratio} |")
    for n in notes:
        print(f"\n- {n}")


async def amain(args: argparse.Namespace) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    kube = Kube.from_environment(str(STATE / "kubeconfig"))
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    kwok = kwok_proc()
    kwok.start()
    apply_docs(peer_nodes())
    try:
        for name in args.systems.split(","):
            system = FACTORIES[name]()
            notes += system.notes
            procs = system.setup()
            for p in procs:
                p.start()
            await asyncio.sleep(5)
            nss: list[str] = []
            try:
                nss = await namespaces_for(kube, system, uuid.uuid4().hex[:4], args.tenants)
                if args.paced:  # below capacity first: latency on a fresh control plane
                    rows.append(await one_run(kube, system, procs, nss, args.paced, args.rate))
                    print(json.dumps(rows[-1]), flush=True)
                for count in args.pipelines:
                    rows.append(await one_run(kube, system, procs, nss, count, None))
                    print(json.dumps(rows[-1]), flush=True)
            finally:
                await cleanup(kube, system, nss)
                for p in procs:
                    p.stop()
                system.teardown()
    finally:
        kwok.stop()
        kubectl("delete", "node", *(n["metadata"]["name"] for n in peer_nodes()), "--wait=false")
        await kube.close()
    (RESULTS / "peers.json").write_text(json.dumps({"rows": rows, "notes": notes}, indent=2))
    print_table(rows, notes)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--pipelines", type=int, nargs="*", default=[500])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument(
        "--paced", type=int, default=100, help="pipelines of the paced run (0: none)"
    )
    parser.add_argument("--rate", type=float, default=2.0, help="pipelines per second, paced run")
    args = parser.parse_args()
    if not shutil.which("ip"):
        print("needs iproute2 (ip)", file=sys.stderr)
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())

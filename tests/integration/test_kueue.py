"""queueing: kueue on the real control plane: Kueue (built from its Go module, a host process
with its webhooks, hack/kueue.sh) admits the stage Jobs pf-figma creates suspended.

Kueue runs for this module only (hack/kueue.sh up/down); its Job webhooks only see Jobs with
the kueue.x-k8s.io/queue-name label, so other tests' Jobs never wait on it. Kueue is a peer, so
`make test` skips this module; `make test-kueue` builds Kueue and runs it (PF_TEST_KUEUE=1).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import HACK, Cluster, OperatorProcess, unique, wait_for

pytestmark = [
    pytest.mark.cluster,
    # Kueue is a peer: its build (over 10 minutes cold) stays out of make test
    pytest.mark.skipif(
        os.environ.get("PF_TEST_KUEUE") != "1",
        reason="queueing: kueue tests run with `make test-kueue` (builds Kueue from its Go module)",
    ),
]


@pytest.fixture(scope="module")
def kueue(cluster: Cluster) -> Iterator[None]:
    subprocess.run([str(HACK / "kueue.sh"), "up"], check=True, timeout=240)
    yield
    subprocess.run([str(HACK / "kueue.sh"), "down"], check=False, timeout=120)


def condition(obj: dict[str, Any] | None, ctype: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == ctype:
            return cond
    return None


def kueue_tenant(cluster: Cluster, **spec: Any) -> tuple[str, str]:
    name = unique("kq")
    cluster.apply(
        {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {"queueing": "kueue", **spec},
        }
    )
    ns = f"tenant-{name}"

    def ready() -> bool:
        cond = condition(cluster.get("tenant", name), "Ready")
        return bool(cond and cond["status"] == "True")

    wait_for(ready, 30, what=f"tenant {name} ready")
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "design", "namespace": ns},
            "data": {"file.json": "{}"},
        }
    )
    return name, ns


def pipeline(name: str, ns: str, *, priority: int = 50, duration: str = "0s") -> dict[str, Any]:
    return {
        "apiVersion": "pffigma.dev/v1alpha1",
        "kind": "DesignPipeline",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"pffigma.dev/simulate-duration": duration},
        },
        "spec": {
            "source": {"configMapRef": {"name": "design", "key": "file.json"}},
            "stages": ["analyze", "generate", "test"],
            "priority": priority,
        },
    }


def stage_job(cluster: Cluster, ns: str, pipeline_name: str, stage: str) -> dict[str, Any] | None:
    jobs = cluster.list(
        "jobs", ns, selector=f"pffigma.dev/pipeline={pipeline_name},pffigma.dev/stage={stage}"
    )
    return jobs[-1] if jobs else None


def admitted(cluster: Cluster, ns: str, name: str) -> dict[str, Any] | None:
    return condition(cluster.get("designpipeline", name, ns), "Admitted")


def succeeded(cluster: Cluster, ns: str, name: str) -> dict[str, Any] | None:
    obj = cluster.get("designpipeline", name, ns)
    cond = condition(obj, "Succeeded")
    return obj if cond and cond["status"] == "True" else None


def test_kueue_admits_each_stage_job(
    cluster: Cluster, operator: OperatorProcess, kueue: None
) -> None:
    name, ns = kueue_tenant(cluster, plan="pro", pipelines={"maxConcurrent": 2})
    try:
        cq = wait_for(lambda: cluster.get("clusterqueue", f"pf-figma-{name}"), 20, what="CQ")
        assert cq["spec"]["fairSharing"]["weight"] == "2"
        resources = cq["spec"]["resourceGroups"][0]["flavors"][0]["resources"]
        assert {r["name"]: str(r["nominalQuota"]) for r in resources}["pods"] == "2"
        lq = cluster.get("localqueue", "pf-figma", ns)
        assert lq is not None and lq["spec"]["clusterQueue"] == f"pf-figma-{name}"
        cluster.apply(pipeline("p", ns))
        done = wait_for(lambda: succeeded(cluster, ns, "p"), 90, what="pipeline succeeded")
        for stage in ("analyze", "generate", "test"):
            job = stage_job(cluster, ns, "p", stage)
            assert job is not None
            labels = job["metadata"]["labels"]
            assert labels["kueue.x-k8s.io/queue-name"] == "pf-figma"
            assert labels["kueue.x-k8s.io/priority-class"] == "pf-figma-priority-50"
            assert not job["spec"].get("suspend"), "Kueue unsuspended it"
        workloads = cluster.list("workloads", ns)
        assert len(workloads) == 3, "each stage Job is its own Workload"
        for wl in workloads:
            cond = next(c for c in wl["status"]["conditions"] if c["type"] == "Admitted")
            assert cond["status"] == "True"
            assert wl["status"]["admission"]["clusterQueue"] == f"pf-figma-{name}"
        assert cluster.get("workloadpriorityclass", "pf-figma-priority-50")["value"] == 50
        cond = condition(done, "Admitted")
        assert (cond["status"], cond["reason"]) == ("True", "Admitted")
        assert "Kueue" in cond["message"]
    finally:
        cluster.delete("tenant", name)


def test_tenant_over_quota_waits_in_kueue(
    cluster: Cluster, operator: OperatorProcess, kueue: None
) -> None:
    name, ns = kueue_tenant(cluster, pipelines={"maxConcurrent": 1, "maxQueued": 0})
    try:
        cluster.apply(pipeline("first", ns, duration="8s"))
        wait_for(
            lambda: (c := admitted(cluster, ns, "first")) and c["status"] == "True",
            30,
            what="first admitted by Kueue",
        )
        time.sleep(1.1)  # creation times order Kueue's queue
        # maxQueued=0 would reject it under pf-figma's admission: Kueue queues instead
        cluster.apply(pipeline("second", ns, duration="0s"))

        def waiting() -> dict[str, Any] | None:
            obj = cluster.get("designpipeline", "second", ns)
            cond = condition(obj, "Admitted")
            # Kueue's reason arrives with its first scheduling attempt on the Workload; before it
            # the condition only says which LocalQueue the Job waits in
            if (
                cond
                and cond["reason"] == "Pending"
                and "insufficient" in cond["message"]
                and obj["status"].get("queuePosition")
            ):
                return obj
            return None

        obj = wait_for(waiting, 60, what="second pending in Kueue for insufficient quota")
        cond = condition(obj, "Admitted")
        assert cond["status"] == "False"
        assert "insufficient" in cond["message"] and "pods" in cond["message"], cond["message"]
        assert obj["status"]["queuePosition"] == 1
        job = stage_job(cluster, ns, "second", "analyze")
        assert job is not None and job["spec"]["suspend"] is True
        assert not cluster.list("pods", ns, selector="pffigma.dev/pipeline=second")
        wait_for(lambda: succeeded(cluster, ns, "first"), 60, what="first succeeded")
        done = wait_for(lambda: succeeded(cluster, ns, "second"), 60, what="second succeeded")
        assert condition(done, "Admitted")["status"] == "True"
        assert done["status"].get("queuePosition") is None
    finally:
        cluster.delete("tenant", name)


def test_higher_priority_preempts_a_lower_one(
    cluster: Cluster, operator: OperatorProcess, kueue: None
) -> None:
    name, ns = kueue_tenant(cluster, pipelines={"maxConcurrent": 1})
    try:
        cluster.apply(pipeline("low", ns, priority=10, duration="40s"))
        wait_for(
            lambda: (c := admitted(cluster, ns, "low")) and c["status"] == "True",
            30,
            what="low admitted",
        )
        wait_for(
            lambda: cluster.list("pods", ns, selector="pffigma.dev/pipeline=low"),
            20,
            what="low's pod",
        )
        # high's stages last 10 s each: low stays preempted long enough to be seen (with 0 s
        # stages Kueue admitted low again within 2 s, between two status reads)
        cluster.apply(pipeline("high", ns, priority=90, duration="10s"))

        def preempted() -> dict[str, Any] | None:
            cond = admitted(cluster, ns, "low")
            return cond if cond and cond["reason"] == "Preempted" else None

        # Kueue preempts on its next scheduling cycle; after a long suite its queues are busier
        try:
            cond = wait_for(preempted, 90, what="low preempted")
        except AssertionError as err:
            workloads = cluster.list("workloads.kueue.x-k8s.io", ns)
            raise AssertionError(
                f"{err}; low's Admitted: {admitted(cluster, ns, 'low')}; workloads: "
                + json.dumps([(w["metadata"]["name"], w.get("status", {}).get("conditions"))
                              for w in workloads])[:3000]
            ) from None
        assert cond["status"] == "False"
        job = stage_job(cluster, ns, "low", "analyze")
        assert job is not None and job["spec"]["suspend"] is True, "Kueue suspended it again"
        done = wait_for(lambda: succeeded(cluster, ns, "high"), 120, what="high succeeded")
        assert condition(done, "Admitted")["status"] == "True"
        # the preempted pipeline did not fail: its stage is admitted again once high is done
        wait_for(
            lambda: (c := admitted(cluster, ns, "low")) and c["status"] == "True",
            30,
            what="low admitted again",
        )
        low = cluster.get("designpipeline", "low", ns)
        assert condition(low, "Succeeded")["status"] == "Unknown"
    finally:
        cluster.delete("tenant", name)

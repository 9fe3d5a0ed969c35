"""The local cluster is real: controllers, scheduler, admission and KWOK behave as in production."""

from __future__ import annotations

import pytest

from tests.conftest import Cluster, unique, wait_for

pytestmark = pytest.mark.cluster


def job(name: str, labels: dict[str, str] | None = None, backoff: int = 0) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff,
            "template": {
                "metadata": {"labels": labels or {}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox", "command": ["true"]}],
                },
            },
        },
    }


def job_condition(c: Cluster, name: str, ns: str) -> str | None:
    obj = c.get("job", name, ns)
    for cond in (obj or {}).get("status", {}).get("conditions", []):
        if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
            return str(cond["type"])
    return None


@pytest.fixture
def namespace(cluster: Cluster):
    ns = unique("harness")
    cluster.kubectl("create", "namespace", ns)
    yield ns
    cluster.delete("namespace", ns)


def test_four_kwok_nodes_are_ready_with_capacity(cluster: Cluster) -> None:
    nodes = cluster.list("nodes", selector="type=kwok")
    assert len(nodes) >= 4
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True"
        assert node["status"]["allocatable"]["cpu"] == "16"


def test_job_is_scheduled_runs_and_completes(cluster: Cluster, namespace: str) -> None:
    cluster.apply({**job("ok"), "metadata": {"name": "ok", "namespace": namespace}})
    assert (
        wait_for(lambda: job_condition(cluster, "ok", namespace), 60, what="job finished")
        == "Complete"
    )
    pods = cluster.list("pods", namespace, selector="job-name=ok")
    assert len(pods) == 1
    assert pods[0]["spec"]["nodeName"].startswith("kwok-node-")
    assert pods[0]["status"]["phase"] == "Succeeded"
    # the simulated agent result is the container's termination message
    term = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and '"outcome":"Succeeded"' in term["message"]


def test_job_with_fail_label_fails_after_backoff_limit(cluster: Cluster, namespace: str) -> None:
    manifest = job("bad", labels={"pffigma.dev/simulate": "fail"}, backoff=1)
    manifest["metadata"]["namespace"] = namespace
    cluster.apply(manifest)
    assert (
        wait_for(lambda: job_condition(cluster, "bad", namespace), 90, what="job failed")
        == "Failed"
    )
    pods = cluster.list("pods", namespace, selector="job-name=bad")
    assert len(pods) == 2  # first try + one retry (backoffLimit=1)
    assert all(p["status"]["phase"] == "Failed" for p in pods)


def test_simulated_duration_delays_completion(cluster: Cluster, namespace: str) -> None:
    import time

    manifest = job("slow", labels={"pffigma.dev/simulate-duration": "3s"})
    manifest["metadata"]["namespace"] = namespace
    start = time.monotonic()
    cluster.apply(manifest)
    wait_for(lambda: job_condition(cluster, "slow", namespace), 60, what="slow job")
    assert time.monotonic() - start >= 3


def test_namespace_deletion_removes_its_objects(cluster: Cluster) -> None:
    ns = unique("doomed")
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("create", "configmap", "x", "-n", ns, "--from-literal=a=b")
    cluster.apply({**job("j"), "metadata": {"name": "j", "namespace": ns}})
    cluster.delete("namespace", ns)
    wait_for(lambda: cluster.get("namespace", ns) is None, 90, what="namespace gone")
    assert cluster.list("jobs", selector=None) == [] or all(
        j["metadata"]["namespace"] != ns for j in cluster.list("jobs")
    )


def test_resource_quota_rejects_pod_over_quota(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "q", "namespace": namespace},
            "spec": {"hard": {"requests.cpu": "1", "limits.cpu": "1", "pods": "5"}},
        }
    )
    wait_for(
        lambda: (cluster.get("resourcequota", "q", namespace) or {}).get("status", {}).get("hard"),
        30,
        what="quota status",
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "big", "namespace": namespace},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "2"}},
                }
            ]
        },
    }
    proc = cluster.kubectl("apply", "-f", "-", input=__import__("json").dumps(pod), check=False)
    assert proc.returncode != 0
    assert "exceeded quota" in proc.stderr


def test_pod_security_restricted_rejects_privileged_pod(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "priv", "namespace": namespace},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox", "securityContext": {"privileged": True}}
            ]
        },
    }
    proc = cluster.kubectl("apply", "-f", "-", input=__import__("json").dumps(pod), check=False)
    assert proc.returncode != 0
    assert "violates PodSecurity" in proc.stderr

"""DesignPipelines on the real control plane with KWOK nodes playing the agent pods."""

from __future__ import annotations

import itertools
import json
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Cluster, OperatorProcess, in_place_of, make_operator, unique, wait_for

pytestmark = pytest.mark.cluster


def condition(obj: dict[str, Any] | None, ctype: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == ctype:
            return cond
    return None


def tenant_ready(cluster: Cluster, name: str) -> bool:
    cond = condition(cluster.get("tenant", name), "Ready")
    return bool(cond and cond["status"] == "True")


def design_source(cluster: Cluster, ns: str, name: str = "design", key: str = "file.json") -> None:
    """The ConfigMap the test pipelines name as their source: the operator checks that it
    exists before creating a Job (KWOK's pods do not read it)."""
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns},
            "data": {key: "{}"},
        }
    )


@pytest.fixture(scope="module")
def tenant(cluster: Cluster, operator: OperatorProcess) -> Iterator[tuple[str, str]]:
    name = unique("pipes")
    cluster.apply(
        {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {"plan": "enterprise", "featureFlags": {"storybook": True}},
        }
    )
    wait_for(lambda: tenant_ready(cluster, name), 30, what="tenant ready")
    design_source(cluster, f"tenant-{name}")
    yield name, f"tenant-{name}"
    cluster.delete("tenant", name)


#: the stages these simulated pipelines run unless a test says otherwise (stages=None: the CRD's
#: default, analyze, generate, test, qa, visual; test_success_path checks it)
SHORT_STAGES = ["analyze", "generate", "test"]


def pipeline(
    name: str, ns: str, labels: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": {"configMapRef": {"name": "design", "key": "file.json"}},
        "stages": SHORT_STAGES,
    }
    body.update(spec)
    if body["stages"] is None:
        del body["stages"]
    return {
        "apiVersion": "pffigma.dev/v1alpha1",
        "kind": "DesignPipeline",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
        "spec": body,
    }


def finished(cluster: Cluster, name: str, ns: str) -> dict[str, Any] | None:
    obj = cluster.get("designpipeline", name, ns)
    cond = condition(obj, "Succeeded")
    if cond and cond["status"] in ("True", "False"):
        return obj
    return None


def run(
    cluster: Cluster,
    ns: str,
    timeout: float = 60,
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> tuple[str, dict[str, Any]]:
    name = unique("p")
    cluster.apply(pipeline(name, ns, labels, **spec))
    obj = wait_for(lambda: finished(cluster, name, ns), timeout, what=f"pipeline {name} finished")
    return name, obj


def jobs_of(cluster: Cluster, name: str, ns: str) -> list[dict[str, Any]]:
    jobs = cluster.list("jobs", ns, selector=f"pffigma.dev/pipeline={name}")
    return sorted(jobs, key=lambda j: (j["metadata"]["creationTimestamp"], j["metadata"]["name"]))


def test_success_path(cluster: Cluster, tenant: tuple[str, str]) -> None:
    tname, ns = tenant
    name, obj = run(cluster, ns, stages=None)  # the default stages
    status = obj["status"]
    succeeded = condition(obj, "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("True", "Succeeded")
    assert condition(obj, "Admitted")["status"] == "True"
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    default = ["analyze", "generate", "test", "qa", "visual"]  # every check, no deploy
    assert [s["name"] for s in status["stages"]] == default
    assert all(s["state"] == "Succeeded" and s["attempts"] == 1 for s in status["stages"])
    assert [a["stage"] for a in status["artifacts"]] == default
    assert all(len(a["sha256"]) == 64 for a in status["artifacts"])
    assert status["startTime"] <= status["completionTime"]
    assert "currentStage" not in status and "queuePosition" not in status

    jobs = jobs_of(cluster, name, ns)
    assert [j["metadata"]["name"] for j in jobs] == [
        f"{name}-analyze-1",
        f"{name}-generate-1",
        f"{name}-test-1",
        f"{name}-qa-1",
        f"{name}-visual-1",
    ]
    # each stage started only after the previous Job completed
    for prev, nxt in itertools.pairwise(jobs):
        assert prev["status"]["completionTime"] <= nxt["metadata"]["creationTimestamp"]
    job = jobs[0]
    labels = job["metadata"]["labels"]
    assert labels["pffigma.dev/tenant"] == tname and labels["pffigma.dev/pipeline"] == name
    assert labels["pffigma.dev/stage"] == "analyze"
    assert labels["app.kubernetes.io/managed-by"] == "pf-figma"
    owner = job["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("DesignPipeline", name, True)
    assert job["spec"]["activeDeadlineSeconds"] == 900
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "pf-agent" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    sc = pod["containers"][0]["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    config = json.loads(job["spec"]["template"]["metadata"]["annotations"]["pffigma.dev/config"])
    assert config["featureFlags"] == {"storybook": True}
    assert config["source"] == {"configMapRef": {"name": "design", "key": "file.json"}}
    assert config["stage"] == "analyze" and config["tenant"] == tname
    events = cluster.list("events", ns)
    reasons = {e["reason"] for e in events if e["involvedObject"]["name"] == name}
    assert {"Started", "Succeeded"} <= reasons


def test_retry_then_success(cluster: Cluster, tenant: tuple[str, str]) -> None:
    _, ns = tenant
    name, obj = run(
        cluster,
        ns,
        labels={"pffigma.dev/simulate-fail-once": "generate"},
        retries={"limit": 2, "backoffSeconds": 1},
    )
    assert condition(obj, "Succeeded")["reason"] == "Succeeded"
    generate = next(s for s in obj["status"]["stages"] if s["name"] == "generate")
    assert generate["attempts"] == 2 and generate["job"] == f"{name}-generate-2"
    names = [j["metadata"]["name"] for j in jobs_of(cluster, name, ns)]
    assert names == [
        f"{name}-analyze-1",
        f"{name}-generate-1",
        f"{name}-generate-2",
        f"{name}-test-1",
    ]
    events = [e for e in cluster.list("events", ns) if e["involvedObject"]["name"] == name]
    assert any(
        e["reason"] == "StageRetrying" and "generate attempt 1 failed" in e["message"]
        for e in events
    )


def test_retries_exhausted(cluster: Cluster, tenant: tuple[str, str]) -> None:
    _, ns = tenant
    name, obj = run(
        cluster,
        ns,
        labels={"pffigma.dev/simulate-fail": "analyze"},
        retries={"limit": 1, "backoffSeconds": 0},
    )
    cond = condition(obj, "Succeeded")
    assert (cond["status"], cond["reason"]) == ("False", "Failed")
    assert "analyze failed after 2 attempt(s)" in cond["message"]
    assert "simulated" in cond["message"]  # the agent's own message reaches the status
    states = {s["name"]: (s["state"], s["attempts"]) for s in obj["status"]["stages"]}
    assert states == {"analyze": ("Failed", 2), "generate": ("Skipped", 0), "test": ("Skipped", 0)}
    assert len(jobs_of(cluster, name, ns)) == 2


def test_stage_timeout(cluster: Cluster, tenant: tuple[str, str]) -> None:
    _, ns = tenant
    _, obj = run(
        cluster, ns, labels={"pffigma.dev/simulate-duration": "60s"}, timeouts={"stageSeconds": 2}
    )
    cond = condition(obj, "Succeeded")
    assert (cond["status"], cond["reason"]) == ("False", "TimedOut")
    assert obj["status"]["stages"][0]["state"] == "Failed"


def test_pipeline_timeout(cluster: Cluster, tenant: tuple[str, str]) -> None:
    _, ns = tenant
    name, obj = run(
        cluster,
        ns,
        labels={"pffigma.dev/simulate-duration": "2s"},
        timeouts={"pipelineSeconds": 3, "stageSeconds": 3},
    )
    cond = condition(obj, "Succeeded")
    assert (cond["status"], cond["reason"]) == ("False", "TimedOut")
    assert "pipelineSeconds=3" in cond["message"]
    wait_for(
        lambda: all(
            j.get("metadata", {}).get("deletionTimestamp")
            or any(
                c["type"] in ("Complete", "Failed")
                for c in (j.get("status") or {}).get("conditions") or []
            )
            for j in jobs_of(cluster, name, ns)
        ),
        10,
        what="running Job stopped",
    )


def test_cancel(cluster: Cluster, tenant: tuple[str, str]) -> None:
    _, ns = tenant
    name = unique("p")
    cluster.apply(pipeline(name, ns, {"pffigma.dev/simulate-duration": "60s"}))
    wait_for(lambda: jobs_of(cluster, name, ns), 20, what="first job")
    cluster.kubectl(
        "patch", "designpipeline", name, "-n", ns, "--type=merge", "-p", '{"spec":{"cancel":true}}'
    )
    obj = wait_for(lambda: finished(cluster, name, ns), 20, what="cancelled")
    assert condition(obj, "Succeeded")["reason"] == "Cancelled"
    wait_for(lambda: not jobs_of(cluster, name, ns), 20, what="running job deleted")
    states = [s["state"] for s in obj["status"]["stages"]]
    assert states == ["Failed", "Skipped", "Skipped"]


def test_delete_removes_jobs(cluster: Cluster, tenant: tuple[str, str]) -> None:
    _, ns = tenant
    name = unique("p")
    cluster.apply(pipeline(name, ns, {"pffigma.dev/simulate-duration": "60s"}))
    wait_for(lambda: jobs_of(cluster, name, ns), 20, what="first job")
    cluster.delete("designpipeline", name, ns)
    wait_for(lambda: not jobs_of(cluster, name, ns), 30, what="jobs garbage-collected")


def test_ttl_after_finished(cluster: Cluster, tenant: tuple[str, str]) -> None:
    _, ns = tenant
    name = unique("p")
    cluster.apply(pipeline(name, ns, ttlSecondsAfterFinished=2))
    wait_for(lambda: finished(cluster, name, ns), 30, what="finished")
    wait_for(lambda: cluster.get("designpipeline", name, ns) is None, 15, what="deleted by TTL")


def test_finished_pipeline_edited_keeps_its_status(
    cluster: Cluster, tenant: tuple[str, str]
) -> None:
    """The operator caches only a summary of finished pipelines: an edit afterwards must not
    rewrite their final status from it, only observe the generation and honour a new TTL."""
    _, ns = tenant
    name, done = run(cluster, ns)
    cluster.kubectl(
        "patch", "designpipeline", name, "-n", ns, "--type=merge",
        "-p", json.dumps({"spec": {"priority": 90}}),
    )

    def observed() -> dict[str, Any] | None:
        obj = cluster.get("designpipeline", name, ns)
        gen = obj["metadata"]["generation"]
        return obj if obj["status"].get("observedGeneration") == gen > 1 else None

    edited = wait_for(observed, 15, what="observedGeneration of the edit")
    final = {k: v for k, v in done["status"].items() if k != "observedGeneration"}
    assert {k: v for k, v in edited["status"].items() if k != "observedGeneration"} == final
    cluster.kubectl(
        "patch", "designpipeline", name, "-n", ns, "--type=merge",
        "-p", json.dumps({"spec": {"ttlSecondsAfterFinished": 1}}),
    )
    wait_for(lambda: cluster.get("designpipeline", name, ns) is None, 15, what="deleted by TTL")


def test_operator_killed_mid_pipeline(
    cluster: Cluster, tenant: tuple[str, str], operator: OperatorProcess
) -> None:
    _, ns = tenant
    names = [unique("k") for _ in range(5)]
    for name in names:
        cluster.apply(pipeline(name, ns, {"pffigma.dev/simulate-duration": "2s"}))
    wait_for(lambda: all(jobs_of(cluster, n, ns) for n in names), 20, what="first jobs")
    operator.stop(signal.SIGKILL)
    time.sleep(3)  # jobs finish while no operator runs
    operator.start()
    for name in names:
        obj = wait_for(lambda n=name: finished(cluster, n, ns), 60, what=f"{name} finished")
        assert condition(obj, "Succeeded")["reason"] == "Succeeded"
        jobs = [j["metadata"]["name"] for j in jobs_of(cluster, name, ns)]
        assert sorted(jobs) == sorted(f"{name}-{s}-1" for s in ("analyze", "generate", "test"))


def test_queue_full_fails_fast(cluster: Cluster, operator: OperatorProcess) -> None:
    name = unique("qf")
    cluster.apply(
        {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {"pipelines": {"maxConcurrent": 1, "maxQueued": 1}},
        }
    )
    ns = f"tenant-{name}"
    try:
        wait_for(lambda: tenant_ready(cluster, name), 30, what="tenant ready")
        design_source(cluster, ns)
        names = []
        for _ in range(3):
            names.append(unique("p"))
            cluster.apply(pipeline(names[-1], ns, {"pffigma.dev/simulate-duration": "30s"}))
            time.sleep(1.1)  # creationTimestamp has a resolution of one second
        third = wait_for(lambda: finished(cluster, names[2], ns), 20, what="third rejected")
        cond = condition(third, "Succeeded")
        assert (cond["status"], cond["reason"]) == ("False", "Failed")
        assert "maxQueued=1" in cond["message"]
        second = cluster.get("designpipeline", names[1], ns)
        assert condition(second, "Succeeded")["reason"] == "Queued"
        assert second["status"]["queuePosition"] == 1
        assert condition(second, "Admitted")["status"] == "False"
        counts = wait_for(
            lambda: (
                (c := cluster.get("tenant", name)["status"]["pipelines"])
                and c["running"] == 1
                and c["queued"] == 1
                and c["failed"] == 1
                and c
            ),
            15,
            what="tenant counts",
        )
        assert counts["succeeded"] == 0
    finally:
        cluster.delete("tenant", name)


def test_suspended_tenant_keeps_pipelines_queued(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    name = unique("sus")
    ns = f"tenant-{name}"
    cluster.apply(
        {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {"suspended": True},
        }
    )
    try:
        wait_for(lambda: tenant_ready(cluster, name), 30, what="tenant ready")
        design_source(cluster, ns)
        cluster.apply(pipeline("held", ns))
        held = wait_for(
            lambda: (
                (o := cluster.get("designpipeline", "held", ns)) and condition(o, "Succeeded") and o
            ),
            15,
            what="queued status",
        )
        assert condition(held, "Succeeded")["reason"] == "Queued"
        assert "suspended" in condition(held, "Admitted")["message"]
        time.sleep(2)
        assert not jobs_of(cluster, "held", ns)
        cluster.kubectl(
            "patch", "tenant", name, "--type=merge", "-p", '{"spec":{"suspended":false}}'
        )
        obj = wait_for(lambda: finished(cluster, "held", ns), 30, what="runs after resume")
        assert condition(obj, "Succeeded")["reason"] == "Succeeded"
    finally:
        cluster.delete("tenant", name)


def scrape(op: OperatorProcess) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in httpx.get(op.metrics_url, timeout=5).text.splitlines():
        if line.startswith("pf_figma_"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def test_metrics_match_what_happened(
    cluster: Cluster, tenant: tuple[str, str], operator: OperatorProcess
) -> None:
    tname, ns = tenant
    before = scrape(operator)
    run(cluster, ns)
    run(
        cluster,
        ns,
        labels={"pffigma.dev/simulate-fail-once": "test"},
        retries={"limit": 1, "backoffSeconds": 0},
    )
    after = wait_for(
        lambda: (
            (m := scrape(operator)).get(
                f'pf_figma_pipelines{{state="succeeded",tenant="{tname}"}}', 0
            )
            >= 2
            and m
        ),
        10,
        what="gauge refresh",
    )

    def delta(key: str) -> float:
        return after.get(key, 0) - before.get(key, 0)

    assert delta('pf_figma_jobs_created_total{stage="analyze"}') == 2
    assert delta('pf_figma_jobs_created_total{stage="test"}') == 3  # one retry
    assert delta('pf_figma_pipeline_duration_seconds_count{outcome="Succeeded"}') == 2
    assert delta('pf_figma_stage_duration_seconds_count{outcome="Failed",stage="test"}') == 1
    assert delta("pf_figma_queue_wait_seconds_count") == 2
    assert after['pf_figma_tenants{phase="Ready"}'] >= 1
    text = httpx.get(operator.metrics_url, timeout=5).text
    for name in (
        "pf_figma_queue_depth",
        "pf_figma_reconcile_errors_total",
        "pf_figma_llm_tokens_total",
        "pf_figma_llm_cost_usd_total",
    ):
        assert f"# HELP {name}" in text


def test_fair_share_under_small_limits(
    cluster: Cluster, operator: OperatorProcess, tmp_path: Any
) -> None:
    """3 tenants x 10 pipelines, global limit 4: limits hold, all finish, nobody starves."""
    plans = {"enterprise": 3, "pro": 2, "starter": 1}
    tenants = {plan: unique(plan[:3]) for plan in plans}
    for plan, name in tenants.items():
        cluster.apply(
            {
                "apiVersion": "pffigma.dev/v1alpha1",
                "kind": "Tenant",
                "metadata": {"name": name},
                "spec": {"plan": plan, "pipelines": {"maxConcurrent": plans[plan]}},
            }
        )
    operator.stop()
    dedicated = make_operator(cluster, tmp_path, global_max_concurrent="4")
    dedicated.start()
    try:
        for name in tenants.values():
            wait_for(lambda n=name: tenant_ready(cluster, n), 30, what="tenant ready")
            design_source(cluster, f"tenant-{name}")
        # the enterprise tenant floods the queue first
        order = ["enterprise"] * 10 + ["pro"] * 10 + ["starter"] * 10
        for i, plan in enumerate(order):
            cluster.apply(
                pipeline(
                    f"fs-{i:02d}",
                    f"tenant-{tenants[plan]}",
                    {"pffigma.dev/simulate-duration": "1s"},
                )
            )
        peaks: dict[str, int] = defaultdict(int)
        peak_total = 0
        first_start: dict[str, float] = {}
        t0 = time.monotonic()
        stop = threading.Event()

        def active() -> dict[str, int]:
            counts: dict[str, int] = defaultdict(int)
            for job in cluster.list("jobs", selector="app.kubernetes.io/managed-by=pf-figma"):
                conds = (job.get("status") or {}).get("conditions") or []
                if not any(
                    c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in conds
                ):
                    counts[job["metadata"]["labels"]["pffigma.dev/tenant"]] += 1
            return counts

        deadline = time.monotonic() + 120
        done = False
        while not done and time.monotonic() < deadline:
            counts = active()
            for plan, name in tenants.items():
                peaks[plan] = max(peaks[plan], counts.get(name, 0))
                if counts.get(name) and plan not in first_start:
                    first_start[plan] = time.monotonic() - t0
            peak_total = max(peak_total, sum(counts.values()))
            done = all(
                finished(cluster, f"fs-{i:02d}", f"tenant-{tenants[plan]}")
                for i, plan in enumerate(order)
            )
        stop.set()
        assert done, "not all 30 pipelines finished"
        assert peak_total <= 4
        for plan, limit in plans.items():
            assert peaks[plan] <= limit, (plan, peaks[plan])
        # the starter tenant starts well before the enterprise backlog (10 x 3 stages) is drained
        assert first_start["starter"] < 10, first_start
        for i, plan in enumerate(order):
            obj = finished(cluster, f"fs-{i:02d}", f"tenant-{tenants[plan]}")
            assert condition(obj, "Succeeded")["reason"] == "Succeeded"
    finally:
        dedicated.stop()
        for name in tenants.values():
            cluster.delete("tenant", name)
        operator.start()


# --- issue 17 ---------------------------------------------------------------------------------


def events_of(cluster: Cluster, name: str, ns: str, reason: str) -> list[dict[str, Any]]:
    return [
        e
        for e in cluster.list("events", ns)
        if e["involvedObject"]["name"] == name and e["reason"] == reason
    ]


def test_recreated_pipeline_does_not_take_over_an_orphaned_job(
    cluster: Cluster, tenant: tuple[str, str]
) -> None:
    """Item 7: a Job is a pipeline's only if that pipeline (by UID) controls it."""
    _, ns = tenant
    name = unique("p")
    cluster.apply(pipeline(name, ns, {"pffigma.dev/simulate-duration": "60s"}))
    old_job = wait_for(lambda: jobs_of(cluster, name, ns), 20, what="first job")[0]
    old_uid = cluster.get("designpipeline", name, ns)["metadata"]["uid"]
    cluster.kubectl("delete", "designpipeline", name, "-n", ns, "--cascade=orphan", "--wait=true")
    wait_for(
        lambda: (
            not (cluster.get("job", old_job["metadata"]["name"], ns) or {})
            .get("metadata", {})
            .get("ownerReferences")
        ),
        20,
        what="the old Job orphaned",
    )
    cluster.apply(pipeline(name, ns))
    new_uid = wait_for(
        lambda: (o := cluster.get("designpipeline", name, ns)) and o["metadata"]["uid"],
        10,
        what="re-created",
    )
    assert new_uid != old_uid
    obj = wait_for(lambda: finished(cluster, name, ns), 60, what="the new pipeline finished")
    assert condition(obj, "Succeeded")["reason"] == "Succeeded"
    for job in jobs_of(cluster, name, ns):
        owner = job["metadata"]["ownerReferences"][0]
        assert owner["uid"] == new_uid, job["metadata"]["name"]
    analyze = cluster.get("job", f"{name}-analyze-1", ns)
    assert analyze["metadata"]["uid"] != old_job["metadata"]["uid"]
    deleted = events_of(cluster, name, ns, "OrphanedJobDeleted")
    assert deleted and f"{name}-analyze-1" in deleted[0]["message"]


def stage(obj: dict[str, Any], name: str = "analyze") -> dict[str, Any]:
    return next(s for s in obj["status"]["stages"] if s["name"] == name)


def test_missing_source_config_map_fails_before_any_job(
    cluster: Cluster, tenant: tuple[str, str]
) -> None:
    """Item 5: references are checked before a Job is created, not at the stage timeout."""
    _, ns = tenant
    start = time.monotonic()
    name, obj = run(cluster, ns, timeout=15, source={"configMapRef": {"name": "nope", "key": "f"}})
    assert time.monotonic() - start < 15
    cond = condition(obj, "Succeeded")
    assert (cond["status"], cond["reason"]) == ("False", "ReferenceNotFound")
    assert 'ConfigMap "nope" not found' in cond["message"]
    assert 'ConfigMap "nope" not found' in stage(obj)["message"]
    assert jobs_of(cluster, name, ns) == []
    assert events_of(cluster, name, ns, "ReferenceNotFound")
    # a missing key is named too
    _, obj = run(cluster, ns, timeout=15, source={"configMapRef": {"name": "design", "key": "x"}})
    assert 'ConfigMap "design" has no key "x"' in condition(obj, "Succeeded")["message"]


@pytest.mark.parametrize(
    ("fault", "reason", "words", "attempts"),
    [
        # a Secret the pod needs is missing: the kubelet's CreateContainerConfigError
        ("config-error", "ReferenceNotFound", 'secret "figma" not found', 1),
        ("image-never-pull", "ImagePullFailed", "ErrImageNeverPull", 1),
        ("oom", "OOMKilled", "memory limit", 1),  # a retry with the same limit would fail too
        ("evicted", "Evicted", "low on resource", 2),  # retried
    ],
)
def test_pod_faults_are_named_and_decide_the_retry(
    cluster: Cluster, tenant: tuple[str, str], fault: str, reason: str, words: str, attempts: int
) -> None:
    """Items 5 and 6: the pod's own state names the fault (not "backoff limit"), in the stage
    message, an Event and the pipeline's reason; stuck attempts are stopped at once."""
    _, ns = tenant
    start = time.monotonic()
    name, obj = run(
        cluster,
        ns,
        timeout=30,
        labels={"pffigma.dev/simulate-pod": fault},
        retries={"limit": 1, "backoffSeconds": 0},
    )
    assert time.monotonic() - start < 30  # not the 900 s stage timeout
    cond = condition(obj, "Succeeded")
    assert (cond["status"], cond["reason"]) == ("False", reason), cond
    assert words in cond["message"] and "backoff limit" not in cond["message"]
    analyze = stage(obj)
    assert analyze["attempts"] == attempts and words in analyze["message"]
    events = events_of(cluster, name, ns, reason)
    assert events and words in events[0]["message"]
    wait_for(
        lambda: all(
            j["status"].get("conditions") or j["metadata"].get("deletionTimestamp")
            for j in jobs_of(cluster, name, ns)
        ),
        15,
        what="no attempt left running",
    )


def test_job_deleted_by_hand_is_named(cluster: Cluster, tenant: tuple[str, str]) -> None:
    """Item 6: a Job deleted by someone else is a failed attempt that says so."""
    _, ns = tenant
    name = unique("p")
    cluster.apply(
        pipeline(name, ns, {"pffigma.dev/simulate-duration": "60s"}, retries={"limit": 0})
    )
    job = wait_for(lambda: jobs_of(cluster, name, ns), 20, what="first job")[0]
    cluster.delete("job", job["metadata"]["name"], ns)
    obj = wait_for(lambda: finished(cluster, name, ns), 20, what="failed")
    cond = condition(obj, "Succeeded")
    assert cond["reason"] == "JobDeleted" and job["metadata"]["name"] in cond["message"]
    assert events_of(cluster, name, ns, "JobDeleted")


def blocker_pod(ns: str, cpu: str) -> dict[str, Any]:
    """A pod that uses `cpu` of the namespace's quota (Pod Security restricted)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "blocker", "namespace": ns},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 1000,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "c",
                    "image": "blocker",
                    "resources": {
                        "requests": {"cpu": cpu, "memory": "64Mi"},
                        "limits": {"cpu": cpu, "memory": "64Mi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def test_quota_too_small_for_the_agents(
    cluster: Cluster, operator: OperatorProcess, tmp_path: Any
) -> None:
    """Item 4: the quota is checked against the agent pods up front; a Job that cannot create
    its pod says so in the stage message and the pipeline's reason."""
    small, tight = unique("q4"), unique("q4b")
    op = make_operator(cluster, tmp_path, agent_cpu_limit="2", agent_cpu_request="2")
    with in_place_of(operator, op):
        try:
            cluster.apply(
                {
                    "apiVersion": "pffigma.dev/v1alpha1",
                    "kind": "Tenant",
                    "metadata": {"name": small},
                    "spec": {"plan": "starter", "quota": {"cpu": "3"}},
                }
            )
            cond = wait_for(
                lambda: (c := condition(cluster.get("tenant", small), "Ready"))
                and c["status"] == "False"
                and c,
                20,
                what="Ready=False",
            )
            assert cond["reason"] == "InvalidConfiguration"
            assert "agent pods get 2 CPU each" in cond["message"]
            assert "pipelines.maxConcurrent (2)" in cond["message"]

            # the check passes (1 x 2 <= 3), but someone else's pod takes the room
            cluster.apply(
                {
                    "apiVersion": "pffigma.dev/v1alpha1",
                    "kind": "Tenant",
                    "metadata": {"name": tight},
                    "spec": {
                        "plan": "starter",
                        "quota": {"cpu": "3"},
                        "pipelines": {"maxConcurrent": 1},
                    },
                }
            )
            ns = f"tenant-{tight}"
            wait_for(lambda: tenant_ready(cluster, tight), 30, what="tight tenant ready")
            design_source(cluster, ns)
            wait_for(
                lambda: (cluster.get("resourcequota", "pf-figma-quota", ns) or {}).get("status"),
                20,
                what="quota status",
            )
            cluster.apply(blocker_pod(ns, "2"))
            name = unique("p")
            cluster.apply(pipeline(name, ns))

            def waiting() -> dict[str, Any] | None:
                obj = cluster.get("designpipeline", name, ns)
                c = condition(obj, "Succeeded")
                return obj if c and c["reason"] == "PodCreateFailed" else None

            obj = wait_for(waiting, 40, what="PodCreateFailed")
            cond = condition(obj, "Succeeded")
            assert cond["status"] == "Unknown" and "exceeded quota" in cond["message"]
            assert "exceeded quota" in stage(obj)["message"]
            cluster.delete("pod", "blocker", ns, wait=True)
            done = wait_for(lambda: finished(cluster, name, ns), 120, what="runs once freed")
            assert condition(done, "Succeeded")["reason"] == "Succeeded"
        finally:
            cluster.delete("tenant", small)
            cluster.delete("tenant", tight)


def test_queued_pipelines_are_counted(cluster: Cluster, operator: OperatorProcess) -> None:
    """Item 8: a suspended tenant's queued pipelines show in its status and QUEUED column."""
    name = unique("cnt")
    ns = f"tenant-{name}"
    cluster.apply(
        {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {"suspended": True},
        }
    )
    try:
        wait_for(lambda: tenant_ready(cluster, name), 30, what="tenant ready")
        design_source(cluster, ns)
        for i in range(3):
            cluster.apply(pipeline(f"q{i}", ns))

        def counts() -> dict[str, int]:
            return (cluster.get("tenant", name).get("status") or {}).get("pipelines") or {}

        wait_for(lambda: counts().get("queued") == 3, 10, what="queued: 3")
        column = cluster.kubectl(
            "get", "tenant", name, "-o", "custom-columns=Q:.status.pipelines.queued", "--no-headers"
        ).stdout.strip()
        assert column == "3"
        printed = cluster.kubectl("get", "tenant", name, "--no-headers").stdout.split()
        assert "3" in printed
        resume = '{"spec":{"suspended":false}}'
        cluster.kubectl("patch", "tenant", name, "--type=merge", "-p", resume)
        wait_for(
            lambda: counts().get("succeeded") == 3 and counts().get("queued") == 0,
            60,
            what="all three counted as succeeded",
        )
    finally:
        cluster.delete("tenant", name)


def test_pipeline_deleted_while_reconciled_logs_no_error(
    cluster: Cluster, tenant: tuple[str, str], operator: OperatorProcess
) -> None:
    """Item 9: a deleted object is not an error (no warning, no traceback for its 404)."""
    _, ns = tenant
    before = len(operator.log_path.read_text(errors="replace"))
    names = [unique("gone") for _ in range(12)]
    for name in names:
        cluster.apply(pipeline(name, ns, {"pffigma.dev/simulate-duration": "1s"}))
    cluster.kubectl("delete", "designpipeline", *names, "-n", ns, "--wait=false")
    time.sleep(5)
    log = operator.log_path.read_text(errors="replace")[before:]
    assert "Traceback" not in log
    assert not [line for line in log.splitlines() if "reconcile of pipeline" in line], log[-3000:]


def test_repeated_events_are_aggregated(cluster: Cluster, operator: OperatorProcess) -> None:
    """Item 10: a Job that keeps failing to be created gives one Event with a rising count."""
    name = unique("agg")
    ns = f"tenant-{name}"
    cluster.apply(
        {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {"quota": {"jobs": 1}, "pipelines": {"maxConcurrent": 1}},
        }
    )
    try:
        wait_for(lambda: tenant_ready(cluster, name), 30, what="tenant ready")
        design_source(cluster, ns)
        wait_for(
            lambda: (cluster.get("resourcequota", "pf-figma-quota", ns) or {}).get("status"),
            20,
            what="quota status",
        )
        cluster.kubectl("create", "job", "filler", "-n", ns, "--image=x")  # takes the one Job
        cluster.apply(pipeline("p", ns))

        def aggregated() -> dict[str, Any] | None:
            found = events_of(cluster, "p", ns, "JobCreateFailed")
            return found[0] if len(found) == 1 and (found[0].get("count") or 1) >= 3 else None

        event = wait_for(aggregated, 40, interval=1, what="one JobCreateFailed, count >= 3")
        assert "exceeded quota" in event["message"]
        assert event["firstTimestamp"] < event["lastTimestamp"]
        assert len(events_of(cluster, "p", ns, "JobCreateFailed")) == 1
    finally:
        cluster.delete("tenant", name)

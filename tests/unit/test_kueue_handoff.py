"""queueing: kueue, the pure parts: a tenant's queues, the stage Job handed to Kueue, a
Workload's verdict, pf-figma's admission stepping aside, the pipeline's Admitted condition."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from pf_operator import flow
from pf_operator.model import DesignPipelineStatus, TenantSpec
from pf_operator.render import RenderSettings
from pf_operator.render import kueue as rk
from pf_operator.scheduler import TenantQuota, Workload, decide
from pf_operator.settings import Settings

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def spec(**kw: Any) -> TenantSpec:
    return TenantSpec.model_validate(kw)


# --- the tenant's queues ---------------------------------------------------------------------


def test_default_queues_follow_the_plan() -> None:
    s = spec(plan="pro", queueing="kueue", quota={"cpu": "3", "memory": "6Gi"})
    cq, lq = rk.queue_objects("acme", s, RenderSettings())
    assert cq["kind"] == "ClusterQueue" and cq["metadata"]["name"] == "pf-figma-acme"
    assert cq["apiVersion"] == "kueue.x-k8s.io/v1beta2"
    assert "namespace" not in cq["metadata"]
    assert cq["spec"]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "tenant-acme"}
    }
    (group,) = cq["spec"]["resourceGroups"]
    assert group["coveredResources"] == ["cpu", "memory", "pods"]
    (flavor,) = group["flavors"]
    assert flavor["name"] == "pf-figma"
    quotas = {r["name"]: r["nominalQuota"] for r in flavor["resources"]}
    caps = s.effective_pipelines()
    assert quotas == {"cpu": "3", "memory": "6Gi", "pods": caps.max_concurrent}
    assert cq["spec"]["preemption"] == {"withinClusterQueue": "LowerPriority"}
    assert cq["spec"]["fairSharing"] == {"weight": "2"}  # pro
    assert "cohortName" not in cq["spec"] and "stopPolicy" not in cq["spec"]
    assert lq["kind"] == "LocalQueue"
    assert lq["metadata"] == {**lq["metadata"], "name": "pf-figma", "namespace": "tenant-acme"}
    assert lq["spec"] == {"clusterQueue": "pf-figma-acme"}


def test_cohort_flavor_and_suspension() -> None:
    s = spec(plan="enterprise", queueing="kueue", suspended=True)
    cq, _ = rk.queue_objects("big", s, RenderSettings(), flavor="gpu-less", cohort="platform")
    assert cq["spec"]["cohortName"] == "platform"
    assert cq["spec"]["fairSharing"] == {"weight": "4"}
    assert cq["spec"]["stopPolicy"] == "Hold"
    assert cq["spec"]["resourceGroups"][0]["flavors"][0]["name"] == "gpu-less"


def test_named_cluster_queue_gets_only_a_local_queue() -> None:
    s = spec(queueing="kueue", kueue={"clusterQueue": "shared"})
    (lq,) = rk.queue_objects("acme", s, RenderSettings())
    assert lq["kind"] == "LocalQueue" and lq["spec"] == {"clusterQueue": "shared"}
    assert rk.queues_for("acme", s).local_queue == "pf-figma"


def test_named_local_queue_creates_nothing() -> None:
    s = spec(queueing="kueue", kueue={"localQueue": "team-q"})
    assert rk.queue_objects("acme", s, RenderSettings()) == []
    assert rk.queues_for("acme", s).local_queue == "team-q"


def test_queueing_setting_and_override() -> None:
    assert rk.queueing_of(spec(), "pf-figma") == "pf-figma"
    assert rk.queueing_of(spec(), "kueue") == "kueue"
    assert rk.queueing_of(spec(queueing="pf-figma"), "kueue") == "pf-figma"
    with pytest.raises(ValidationError):
        spec(queueing="volcano")
    assert Settings.from_env({"PF_QUEUEING": "kueue"}).queueing == "kueue"
    with pytest.raises(SystemExit, match="queueing"):
        Settings.from_env({"PF_QUEUEING": "yunikorn"})


# --- the stage Job ---------------------------------------------------------------------------


def test_queued_job_is_suspended_and_labelled() -> None:
    job = {"metadata": {"name": "p-analyze-1", "labels": {"a": "b"}}, "spec": {"backoffLimit": 0}}
    out = rk.queued_job(job, "pf-figma", 70)
    assert out["spec"] == {"backoffLimit": 0, "suspend": True}
    assert out["metadata"]["labels"] == {
        "a": "b",
        "kueue.x-k8s.io/queue-name": "pf-figma",
        "kueue.x-k8s.io/priority-class": "pf-figma-priority-70",
    }
    assert job["spec"] == {"backoffLimit": 0} and job["metadata"]["labels"] == {"a": "b"}
    assert rk.job_suspended(out) and not rk.job_suspended(job)
    pc = rk.priority_class(70)
    assert pc["kind"] == "WorkloadPriorityClass" and pc["value"] == 70
    assert pc["metadata"]["name"] == "pf-figma-priority-70"


# --- a Workload's verdict --------------------------------------------------------------------


def workload(
    name: str,
    *,
    priority: int = 50,
    created: str = "2026-01-01T00:00:00Z",
    queue: str = "pf-figma",
    conditions: list[dict[str, Any]] | None = None,
    cq: str | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": conditions or []}
    if cq:
        status["admission"] = {"clusterQueue": cq}
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"queueName": queue, "priority": priority},
        "status": status,
    }


def cond(ctype: str, status: str = "True", message: str = "") -> dict[str, Any]:
    return {"type": ctype, "status": status, "reason": ctype, "message": message}


def test_no_workload_yet() -> None:
    v = rk.workload_admission("j", None)
    assert (v.admitted, v.reason, v.position) == (False, "WaitingForKueue", None)


def test_admitted_workload() -> None:
    w = workload("w", conditions=[cond("QuotaReserved"), cond("Admitted")], cq="pf-figma-acme")
    v = rk.workload_admission("j", w)
    assert v.admitted and v.reason == "Admitted" and "pf-figma-acme" in v.message


def test_preempted_workload_says_why() -> None:
    w = workload(
        "w",
        conditions=[
            cond("QuotaReserved", "False"),
            cond("Evicted", message="Preempted to accommodate a higher priority Workload"),
            cond("Preempted", message="Preempted to accommodate a higher priority Workload"),
        ],
    )
    v = rk.workload_admission("j", w)
    assert not v.admitted and v.reason == "Preempted"
    assert "higher priority" in v.message


def test_pending_position_by_priority_then_age() -> None:
    why = "couldn't assign flavors to pod set main: insufficient unused quota for pods"
    mine = workload(
        "c",
        priority=50,
        created="2026-01-01T00:00:02Z",
        conditions=[cond("QuotaReserved", "False", why)],
    )
    others = [
        workload("a", priority=50, created="2026-01-01T00:00:01Z"),  # older: ahead
        workload("b", priority=90, created="2026-01-01T00:00:09Z"),  # higher: ahead
        workload("d", priority=50, created="2026-01-01T00:00:03Z"),  # younger: behind
        workload("e", priority=99, queue="other"),  # another queue
        workload("f", priority=99, conditions=[cond("QuotaReserved")]),  # holds quota
        workload("g", priority=99, conditions=[cond("Finished")]),  # done
    ]
    v = rk.workload_admission("j", mine, [mine, *others])
    assert (v.admitted, v.reason, v.position) == (False, "Pending", 3)
    assert why in v.message


def test_quota_reserved_waits_for_checks() -> None:
    v = rk.workload_admission("j", workload("w", conditions=[cond("QuotaReserved")], cq="q"))
    assert (v.admitted, v.reason) == (False, "QuotaReserved")


# --- pf-figma's admission steps aside ---------------------------------------------------------


def test_external_tenants_are_admitted_outside_every_limit() -> None:
    tenants = {
        "k": TenantQuota("k", 1, max_concurrent=1, max_queued=0, external=True),
        "p": TenantQuota("p", 1, max_concurrent=5, max_queued=5),
    }
    ws = [Workload(f"k/{i}", "k", 50, float(i), running=False) for i in range(4)]
    ws += [Workload("k/run", "k", 50, 0.0, running=True)]
    ws += [Workload(f"p/{i}", "p", 50, float(i), running=False) for i in range(3)]
    d = decide(ws, tenants, global_max=2)
    # every waiting kueue pipeline at once (its running one does not hold a global slot), and
    # the global limit of 2 still applies to pf-figma's own tenant
    assert d.admit == ("k/0", "k/1", "k/2", "k/3", "p/0", "p/1")
    assert not d.rejected
    assert set(d.blocked) == {"p/2"} and set(d.positions) == {"p/2"}


def test_external_order_and_suspension() -> None:
    ws = [
        Workload("k/low", "k", 10, 0.0, running=False),
        Workload("k/high", "k", 90, 5.0, running=False),
    ]
    live = {"k": TenantQuota("k", 1, 1, 1, external=True)}
    assert decide(ws, live, 1).admit == ("k/high", "k/low")
    held = {"k": TenantQuota("k", 1, 1, 1, suspended=True, external=True)}
    d = decide(ws, held, 1)
    assert d.admit == () and d.blocked == {
        "k/low": "tenant k is suspended",
        "k/high": "tenant k is suspended",
    }
    assert not d.positions and not d.rejected


# --- the pipeline's Admitted condition -------------------------------------------------------


def running_status(job_state: str = "Running") -> dict[str, Any]:
    return {
        "startTime": "2026-01-01T00:00:00Z",
        "currentStage": "generate",
        "stages": [
            {"name": "analyze", "state": "Succeeded", "job": "p-analyze-1"},
            {"name": "generate", "state": job_state, "job": "p-generate-1"},
        ],
        "conditions": [
            {
                "type": "Admitted",
                "status": "True",
                "reason": "Admitted",
                "message": "admitted by the fair-share queue",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
    }


def test_admitted_condition_follows_kueue() -> None:
    status = DesignPipelineStatus.parse(running_status())
    assert flow.kueue_job(status) == "p-generate-1"
    verdict = rk.KueueAdmission(False, "Pending", "Job p-generate-1: waiting", 4)
    typed = flow.kueue_admitted(status, verdict, 3, NOW)
    out = typed.to_json()
    (c,) = [c for c in out["conditions"] if c["type"] == "Admitted"]
    assert (c["status"], c["reason"], c["message"], c["observedGeneration"]) == (
        "False",
        "Pending",
        "Job p-generate-1: waiting",
        3,
    )
    assert out["queuePosition"] == 4
    assert status.to_json() == DesignPipelineStatus.parse(running_status()).to_json()  # as it was
    back = flow.kueue_admitted(typed, rk.KueueAdmission(True, "Admitted", "ok"), 3, NOW).to_json()
    (c,) = [c for c in back["conditions"] if c["type"] == "Admitted"]
    assert c["status"] == "True" and back["queuePosition"] is None


def test_admitted_condition_untouched_without_a_running_job() -> None:
    verdict = rk.KueueAdmission(False, "Pending", "x", 1)
    for raw in (
        running_status("Failed"),
        {**running_status(), "completionTime": "2026-01-01T00:01:00Z"},
        {"stages": []},
    ):
        status = DesignPipelineStatus.parse(raw)
        assert flow.kueue_job(status) is None
        assert flow.kueue_admitted(status, verdict, 1, NOW) is status

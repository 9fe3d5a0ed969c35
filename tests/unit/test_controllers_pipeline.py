"""The pipeline controller's decisions against in-memory ports: which Jobs it creates and
deletes, which status and Events it writes, which keys it requeues. tests/integration/
test_pipelines.py proves the same situations on a real cluster with KWOK agent pods."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest

from pf_operator.cache import Store
from pf_operator.constants import PIPELINE_LABEL
from pf_operator.index import PipelineIndex
from pf_operator.kube import ApiError
from pf_operator.pipelines import PipelineConfig, PipelineController
from pf_operator.ports import Request
from pf_operator.render.job import AgentSettings, job_name
from pf_operator.workqueue import RequeueAfter
from tests.unit.fakes import (
    FakeAdmission,
    FakeClient,
    FakeDatabase,
    FakeQueue,
    cache,
    event,
    pipeline_body,
    tenant_body,
)

TENANT = "acme"
NS = f"tenant-{TENANT}"
KEY = f"{NS}/p"
T0 = "2026-12-07T18:00:00Z"


@dataclass
class World:
    controller: PipelineController
    cache: Store
    index: PipelineIndex
    client: FakeClient
    queue: FakeQueue
    admission: FakeAdmission
    db: FakeDatabase | None

    def pipeline(self, name: str = "p", **kw: Any) -> dict[str, Any]:
        body = self.client.put(pipeline_body(name, NS, **kw))
        self.cache.upsert("DesignPipeline", body)
        self.index.observe(body, deleted=False)
        return body

    def reconcile(self, key: str = KEY) -> float | None:
        self.client.writes.clear()
        self.client.events.clear()
        return asyncio.run(self.controller.reconcile(key))

    def body(self, name: str = "p") -> dict[str, Any]:
        return self.client.objects[("DesignPipeline", NS, name)]

    def status(self, name: str = "p") -> dict[str, Any]:
        return dict(self.body(name).get("status") or {})

    def condition(self, ctype: str, name: str = "p") -> tuple[str, str]:
        for cond in self.status(name).get("conditions") or []:
            if cond["type"] == ctype:
                return cond["status"], cond["reason"]
        raise AssertionError(f"no {ctype} condition in {self.status(name)}")

    def stages(self, name: str = "p") -> dict[str, str]:
        return {s["name"]: s["state"] for s in self.status(name).get("stages") or []}

    def job_ends(self, job: str, ok: bool = True, message: dict[str, Any] | None = None) -> None:
        """The Job (created by the controller) completes or fails; its pod says why."""
        body = self.client.objects[("Job", NS, job)]
        cond = {"type": "Complete" if ok else "Failed", "status": "True"}
        cond["lastTransitionTime"] = T0
        if not ok:
            cond["reason"] = "BackoffLimitExceeded"
        body["status"] = {"startTime": T0, "completionTime": T0 if ok else None}
        body["status"]["conditions"] = [cond]
        self.cache.upsert("Job", self.client.put(body))
        result = message or {"outcome": "Succeeded" if ok else "Failed", "message": "done"}
        self.client.put(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"{job}-x", "namespace": NS, "labels": {"job-name": job}},
                "status": {
                    "containerStatuses": [
                        {
                            "state": {
                                "terminated": {
                                    "exitCode": 0 if ok else 1,
                                    "message": json.dumps(result),
                                }
                            }
                        }
                    ]
                },
            }
        )


def world(*, db: FakeDatabase | None = None, tenant: bool = True, design: bool = True) -> World:
    store = cache()
    index = PipelineIndex(store, "tenant-")
    client, queue, admission = FakeClient(), FakeQueue(), FakeAdmission()
    if tenant:
        store.upsert("Tenant", tenant_body(TENANT))
        store.upsert(
            "Namespace",
            {
                "kind": "Namespace",
                "metadata": {"name": NS, "labels": {"pffigma.dev/tenant": TENANT}},
            },
        )
    if design:  # the source ConfigMap the pipelines name
        client.put(
            {
                "kind": "ConfigMap",
                "metadata": {"name": "design", "namespace": NS},
                "data": {"file.json": "{}"},
            }
        )
    controller = PipelineController(
        cache=store,
        client=client,
        queue=queue,
        admission=admission,
        index=index,
        config=PipelineConfig(agent=AgentSettings()),
        db=db,
    )
    return World(controller, store, index, client, queue, admission, db)


def started(w: World, **spec: Any) -> str:
    """An admitted pipeline after its first pass: its analyze Job is created."""
    w.pipeline(**spec)
    w.admission.admitted_keys.add(KEY)
    w.reconcile()
    return job_name("p", "analyze", 1)


def test_an_admitted_pipeline_starts_with_its_first_stage_job() -> None:
    w = world()
    job = started(w)
    assert w.client.written() == [f"Job {NS}/{job}", f"DesignPipeline {NS}/p"]
    assert w.client.written("create") == [f"Job {NS}/{job}"]
    created = w.client.objects[("Job", NS, job)]
    assert created["metadata"]["labels"][PIPELINE_LABEL] == "p"
    assert created["metadata"]["ownerReferences"][0]["uid"] == w.body()["metadata"]["uid"]
    assert w.condition("Admitted") == ("True", "Admitted")
    assert w.stages() == {"analyze": "Running", "generate": "Pending", "test": "Pending"}
    assert w.status()["currentStage"] == "analyze"
    assert w.client.reasons() == ["Started"]
    assert w.cache.get("Job", job, NS) is not None  # its own write is in the cache at once


def test_a_queued_pipeline_says_why_and_where_it_waits_and_gets_no_job() -> None:
    w = world()
    w.pipeline()
    w.admission.positions[KEY] = 3
    w.admission.blocked[KEY] = f"tenant {TENANT} at maxConcurrent=1"
    assert w.reconcile() is None
    assert w.client.written() == [f"DesignPipeline {NS}/p"]  # status only
    assert w.condition("Admitted") == ("False", "Queued")
    assert w.condition("Succeeded") == ("Unknown", "Queued")
    assert w.status()["queuePosition"] == 3
    assert w.reconcile() is None
    assert w.client.writes == []  # nothing changed: nothing written


def test_a_pipeline_in_a_namespace_of_no_tenant_waits_and_says_so() -> None:
    w = world(tenant=False)
    w.pipeline()
    w.reconcile()
    assert w.client.written("create") == []
    assert w.condition("Admitted") == ("False", "Queued")
    message = next(c["message"] for c in w.status()["conditions"] if c["type"] == "Admitted")
    assert message == f"namespace {NS} does not belong to a Tenant"


def test_each_succeeded_stage_starts_the_next_until_the_pipeline_succeeds() -> None:
    w = world()
    job = started(w)
    for stage, following in (("analyze", "generate"), ("generate", "test")):
        w.job_ends(job)
        w.reconcile()
        job = job_name("p", following, 1)
        assert w.client.written("create") == [f"Job {NS}/{job}"], stage
        assert w.stages()[stage] == "Succeeded"
    w.job_ends(job)
    assert w.reconcile() is None
    assert w.condition("Succeeded") == ("True", "Succeeded")
    assert w.status().get("completionTime")
    assert w.admission.freed == [KEY]  # its slot goes to the next queued pipeline
    assert w.client.reasons() == ["Succeeded"]


def test_a_failed_attempt_is_retried_after_its_backoff() -> None:
    w = world()
    job = started(w, retries={"limit": 1, "backoffSeconds": 0})
    w.job_ends(job, ok=False)
    w.reconcile()
    assert "StageRetrying" in w.client.reasons()
    assert w.client.written("create") == [f"Job {NS}/{job_name('p', 'analyze', 2)}"]
    w.job_ends(job_name("p", "analyze", 2), ok=False)
    w.reconcile()
    assert w.condition("Succeeded")[0] == "False"  # retries exhausted
    assert w.client.written("create") == []
    assert w.admission.freed == [KEY]


def test_a_retry_waits_for_its_backoff_and_requeues_for_it() -> None:
    w = world()
    job = started(w, retries={"limit": 2, "backoffSeconds": 86400})
    w.job_ends(job, ok=False)
    requeue = w.reconcile()
    assert requeue is not None and 0 < requeue <= 86400
    assert w.client.written("create") == []
    assert w.stages()["analyze"] == "Pending"


def test_cancel_deletes_the_running_job_and_ends_the_pipeline() -> None:
    w = world()
    job = started(w)
    w.pipeline(generation=2, status=w.status(), cancel=True)
    w.reconcile()
    assert w.client.written("delete") == [f"Job {NS}/{job}"]
    assert w.condition("Succeeded") == ("False", "Cancelled")
    assert w.admission.freed == [KEY]


def test_a_missing_source_config_map_fails_before_any_job() -> None:
    w = world(design=False)
    w.pipeline()
    w.admission.admitted_keys.add(KEY)
    w.reconcile()
    assert w.client.written("create") == []
    status, reason = w.condition("Succeeded")
    assert (status, reason) == ("False", "ReferenceNotFound")


def test_a_rejected_pipeline_fails_at_once() -> None:
    w = world()
    w.pipeline()
    w.admission.rejected_keys[KEY] = f"tenant {TENANT} queue is full (maxQueued=1)"
    w.reconcile()
    assert w.condition("Admitted") == ("False", "QueueFull")
    assert w.condition("Succeeded")[0] == "False"
    assert w.client.written("create") == []


def test_an_invalid_spec_ends_the_pipeline_with_an_event() -> None:
    w = world()
    w.pipeline(stages=["analyze", "paint"])
    w.reconcile()
    assert w.condition("Succeeded") == ("False", "InvalidSpec")
    assert w.client.reasons() == ["InvalidSpec"]


def test_a_finished_pipeline_with_a_ttl_is_deleted_when_due() -> None:
    w = world()
    done = {
        "startTime": T0,
        "completionTime": T0,
        "observedGeneration": 1,
        "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
    }
    w.pipeline(status=done, ttlSecondsAfterFinished=60)
    assert w.reconcile() is None
    assert w.client.written() == [f"DesignPipeline {NS}/p"]
    assert w.client.writes[0][0] == "delete"


def test_a_finished_pipeline_edited_keeps_its_status_and_observes_the_generation() -> None:
    w = world()
    done = {
        "completionTime": T0,
        "observedGeneration": 1,
        "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
    }
    w.pipeline(status=done, generation=2)
    w.reconcile()
    assert w.client.statuses == [("DesignPipeline", KEY, {"observedGeneration": 2})]
    assert w.condition("Succeeded") == ("True", "Succeeded")


def test_an_orphaned_job_by_the_same_name_is_deleted_not_taken_over() -> None:
    w = world()
    job = job_name("p", "analyze", 1)
    w.client.put(
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": job, "namespace": NS}}
    )
    w.pipeline()
    w.admission.admitted_keys.add(KEY)
    with pytest.raises(RequeueAfter):  # its own Job is created on the next pass
        w.reconcile()
    assert f"Job {NS}/{job}" in w.client.written("delete")
    assert "OrphanedJobDeleted" in w.client.reasons()
    assert w.client.objects.get(("Job", NS, job)) is None


def test_a_job_deleted_by_hand_is_named_in_the_failure() -> None:
    w = world()
    job = started(w, retries={"limit": 0})
    cached = w.cache.get("Job", job, NS)
    assert cached is not None
    del w.client.objects[("Job", NS, job)]
    w.cache.delete("Job", cached)
    assert [r.key for r in _keys(w, "Job", cached, "DELETED")] == [KEY]
    w.reconcile()
    status, reason = w.condition("Succeeded")
    assert status == "False" and reason == "JobDeleted"


def test_a_pipeline_deleted_while_reconciled_is_not_an_error() -> None:
    w = world()
    w.pipeline()
    w.admission.admitted_keys.add(KEY)
    del w.client.objects[("DesignPipeline", NS, "p")]  # gone from the API, not yet from the cache
    assert w.reconcile() is None


def test_history_and_the_llm_budget_go_through_the_database_port() -> None:
    db = FakeDatabase()
    w = world(db=db)
    started(w)
    assert db.records == [(TENANT, "p", ("Started",))]


# --- watches: how events map to keys ------------------------------------------------------


def _keys(w: World, kind: str, obj: dict[str, Any], type_: str = "MODIFIED") -> list[Request]:
    out: list[Request] = []
    for watch in w.controller.watches:
        if watch.kind == kind:
            out.extend(watch.to_keys(event(obj, type_)))
    return out


def test_running_cancelled_or_rejected_pipelines_are_reconciled_queued_ones_are_not() -> None:
    w = world()
    queued = pipeline_body("p", NS)
    assert _keys(w, "DesignPipeline", queued, "ADDED") == []  # admission hands it over
    running = pipeline_body("p", NS, status={"startTime": T0})
    assert _keys(w, "DesignPipeline", running) == [Request(KEY)]
    assert _keys(w, "DesignPipeline", pipeline_body("p", NS, cancel=True)) == [Request(KEY)]
    w.admission.rejected_keys[KEY] = "full"
    assert _keys(w, "DesignPipeline", queued) == [Request(KEY)]


def test_a_finished_pipeline_drops_its_jobs_from_the_cache_and_waits_for_its_ttl() -> None:
    w = world()
    job = started(w)
    done = {"completionTime": T0, "observedGeneration": 1}
    finished = pipeline_body("p", NS, status=done)
    assert _keys(w, "DesignPipeline", finished) == []
    assert w.cache.get("Job", job, NS) is None
    assert _keys(
        w, "DesignPipeline", pipeline_body("p", NS, status=done, ttlSecondsAfterFinished=5)
    ) == [Request(KEY)]
    finished["metadata"]["resourceVersion"] = "99999"
    w.cache.upsert("DesignPipeline", finished)
    labelled = {
        "kind": "Job",
        "metadata": {"name": job, "namespace": NS, "labels": {PIPELINE_LABEL: "p"}},
    }
    assert w.controller.finished_job(labelled)  # the manager drops its events
    deleted = pipeline_body("p", NS)
    assert _keys(w, "DesignPipeline", deleted, "DELETED") == []
    assert w.queue.discarded == [KEY]


def test_a_pods_problem_requeues_its_pipeline_once() -> None:
    w = world()
    w.pipeline()
    pod = {
        "kind": "Pod",
        "metadata": {
            "name": "p-analyze-1-abc",
            "namespace": NS,
            "labels": {"job-name": "p-analyze-1", PIPELINE_LABEL: "p"},
        },
        "status": {
            "containerStatuses": [
                {"state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}
            ]
        },
    }
    assert _keys(w, "Pod", pod) == [Request(KEY)]
    assert _keys(w, "Pod", pod) == []  # the same problem again: nothing new
    assert w.controller.pod_problems[KEY]["p-analyze-1"].reason == "OOMKilled"
    watch = next(watch for watch in w.controller.watches if watch.kind == "Pod")
    assert not watch.cached


@pytest.mark.parametrize("verb", ["create"])
def test_a_job_the_api_refuses_is_said_and_retried(verb: str) -> None:
    w = world()
    w.pipeline()
    w.admission.admitted_keys.add(KEY)
    w.client.fail[(verb, "Job")] = ApiError(403, "Forbidden", "exceeded quota")
    with pytest.raises(RequeueAfter):
        w.reconcile()
    assert "JobCreateFailed" in w.client.reasons()
    assert "exceeded quota" in str(w.status()["stages"][0].get("message"))

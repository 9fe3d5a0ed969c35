"""operator/flow.py with pod problems and preflight checks (issue 17, items 4-6)."""

from __future__ import annotations

from typing import Any

from pf_operator.diagnosis import Diagnosis, job_deleted
from pf_operator.flow import JobFacts
from tests.unit.test_flow import at, cond, entry, failed, jname, mkspec, run, running

OOM = Diagnosis("OOMKilled", "ran out of memory (memory limit 1Gi)", retry=False)
EVICTED = Diagnosis("Evicted", "pod was evicted", retry=True)
NEVER_PULL = Diagnosis("ImagePullFailed", "ErrImageNeverPull: x", retry=False, stop=True)
QUOTA = Diagnosis("PodCreateFailed", "cannot create the agent pod: exceeded quota", retry=True)


def started(attempt: int = 1) -> dict[str, Any]:
    return run(now=at(0)).status if attempt == 1 else {}


def test_oom_fails_without_retry_and_names_the_cause() -> None:
    status = started()
    job = JobFacts(**{**failed("analyze").__dict__, "problem": OOM})
    p = run(mkspec(retries={"limit": 2}), status, [job], now=at(20))
    assert p.finished == "OOMKilled"
    assert cond(p.status, "Succeeded")["reason"] == "OOMKilled"
    assert "memory limit 1Gi" in entry(p.status, "analyze")["message"]
    assert ("Warning", "OOMKilled") in [(t, r) for t, r, _ in p.events]
    assert p.create_job is None


def test_eviction_is_retried_and_reported() -> None:
    status = started()
    job = JobFacts(**{**failed("analyze").__dict__, "problem": EVICTED})
    p = run(mkspec(retries={"limit": 2, "backoffSeconds": 0}), status, [job], now=at(20))
    assert p.finished is None and p.create_job == ("analyze", 2)
    reasons = [r for _, r, _ in p.events]
    assert "Evicted" in reasons and "StageRetrying" in reasons
    retrying = next(m for _, r, m in p.events if r == "StageRetrying")
    assert "evicted" in retrying


def test_a_stuck_running_attempt_is_stopped_at_once() -> None:
    status = started()
    job = JobFacts(**{**running("analyze").__dict__, "problem": NEVER_PULL})
    p = run(mkspec(retries={"limit": 2}), status, [job], now=at(5))
    assert p.delete_jobs == [jname("analyze")]
    assert p.finished == "ImagePullFailed"
    assert "ErrImageNeverPull" in entry(p.status, "analyze")["message"]


def test_a_pod_that_cannot_be_created_is_said_while_waiting() -> None:
    status = started()
    job = JobFacts(**{**running("analyze").__dict__, "problem": QUOTA})
    p = run(mkspec(), status, [job], now=at(5))
    assert p.finished is None and not p.delete_jobs and p.create_job is None
    succeeded = cond(p.status, "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("Unknown", "PodCreateFailed")
    assert "exceeded quota" in succeeded["message"]
    assert "exceeded quota" in entry(p.status, "analyze")["message"]


def test_a_job_deleted_by_hand_is_a_failed_attempt() -> None:
    status = started()
    job = JobFacts(name=jname("analyze"), state="Failed", problem=job_deleted(jname("analyze")))
    p = run(mkspec(retries={"limit": 0}), status, [job], now=at(5))
    assert p.finished == "JobDeleted"
    assert "was deleted" in entry(p.status, "analyze")["message"]


def test_preflight_fails_before_any_job() -> None:
    p = run(mkspec(), {}, now=at(0), preflight='ConfigMap "design" not found')
    assert p.create_job is None
    assert p.finished == "ReferenceNotFound"
    succeeded = cond(p.status, "Succeeded")
    assert (
        succeeded["reason"] == "ReferenceNotFound" and 'ConfigMap "design"' in succeeded["message"]
    )
    assert entry(p.status, "analyze")["state"] == "Failed"
    assert [e["state"] for e in p.status["stages"]][1:] == ["Skipped", "Skipped"]


def test_preflight_is_ignored_when_no_job_is_created() -> None:
    status = started()
    p = run(mkspec(), status, [running("analyze")], now=at(5), preflight="x")
    assert p.finished is None

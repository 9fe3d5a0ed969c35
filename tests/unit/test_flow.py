"""operator/flow.py: the pure DesignPipeline state machine.

Every test feeds `plan()` the facts a reconciler would observe and checks the Plan; multi-pass
tests feed each Plan's status back in, exactly as the reconciler writes it and reads it again:
`run` takes and gives the status JSON (`DesignPipelineStatus.parse` in, `.to_json()` out).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pf_operator import flow
from pf_operator.flow import Admission, JobFacts, Plan, parse_result, plan
from pf_operator.model import DesignPipelineSpec, DesignPipelineStatus, QualityGate
from pf_operator.render.job import job_name

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
NAME = "demo"
ADMITTED = Admission(admitted=True)
WAITING = Admission(admitted=False, position=3)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ts(seconds: float) -> str:
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def mkspec(**fields: Any) -> DesignPipelineSpec:
    # three stages keep these state-machine tests short (the default list is longer: test_crds)
    body: dict[str, Any] = {
        "source": {"figma": {"fileKey": "FILE"}},
        "stages": ["analyze", "generate", "test"],
    }
    body.update(fields)
    return DesignPipelineSpec.model_validate(body)


def run(
    spec: DesignPipelineSpec | None = None,
    status: dict[str, Any] | None = None,
    jobs: dict[str, JobFacts] | list[JobFacts] | None = None,
    admission: Admission = ADMITTED,
    now: datetime = T0,
    generation: int | None = 1,
    name: str = NAME,
    preflight: str | None = None,
    gate: QualityGate | None = None,
) -> Plan:
    """One `plan()` pass on the status JSON ``status`` (read as the reconciler reads it); the
    Plan returned carries its status as the JSON the reconciler writes (`to_json()`)."""
    if isinstance(jobs, list):
        jobs = {j.name: j for j in jobs}
    p = plan(
        name=name,
        spec=spec or mkspec(),
        status=DesignPipelineStatus.parse(status),
        generation=generation,
        created=T0 - timedelta(seconds=30),
        jobs=jobs or {},
        admission=admission,
        now=now,
        preflight=preflight,
        gate=gate,
    )
    return dataclasses.replace(p, status=p.status.to_json())  # type: ignore[arg-type]


def jname(stage: str, attempt: int = 1) -> str:
    return job_name(NAME, stage, attempt)


def running(stage: str, attempt: int = 1, start: float = 0) -> JobFacts:
    return JobFacts(name=jname(stage, attempt), state="Running", start=at(start))


def succeeded(
    stage: str, attempt: int = 1, start: float = 0, end: float = 10, **result: Any
) -> JobFacts:
    res = {"outcome": "Succeeded", **result}
    return JobFacts(name=jname(stage, attempt), state="Succeeded", start=at(start), end=at(end),
                    result=res)


def failed(
    stage: str,
    attempt: int = 1,
    start: float = 0,
    end: float = 10,
    reason: str | None = "BackoffLimitExceeded",
    message: str | None = "Job has reached the specified backoff limit",
    result: dict[str, Any] | None = None,
) -> JobFacts:
    return JobFacts(name=jname(stage, attempt), state="Failed", reason=reason, message=message,
                    start=at(start), end=at(end), result=result)


def cond(status: dict[str, Any], ctype: str) -> dict[str, Any]:
    found = [c for c in status.get("conditions") or [] if c["type"] == ctype]
    assert len(found) == 1, f"{ctype}: {status.get('conditions')}"
    return found[0]


def entry(status: dict[str, Any], stage: str) -> dict[str, Any]:
    found = [s for s in status["stages"] if s["name"] == stage]
    assert len(found) == 1
    return found[0]


def states(status: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["state"] for s in status["stages"]}


def started_status(spec: DesignPipelineSpec | None = None, now: datetime = T0) -> dict[str, Any]:
    """The status after the admission pass (analyze attempt 1 recorded)."""
    p = run(spec, now=now)
    assert p.create_job == ("analyze", 1)
    return p.status


# --- queued ----------------------------------------------------------------------------------


def test_queued_records_position_and_conditions() -> None:
    p = run(admission=WAITING)
    s = p.status
    assert s["queuePosition"] == 3
    assert "startTime" not in s
    assert s["observedGeneration"] == 1
    assert cond(s, "Succeeded")["status"] == "Unknown"
    assert cond(s, "Succeeded")["reason"] == "Queued"
    assert cond(s, "Succeeded")["message"] == "waiting for capacity (position 3)"
    assert cond(s, "Admitted")["status"] == "False"
    assert cond(s, "Admitted")["reason"] == "Queued"
    assert cond(s, "Succeeded")["lastTransitionTime"] == ts(0)
    assert cond(s, "Succeeded")["observedGeneration"] == 1
    assert states(s) == {"analyze": "Pending", "generate": "Pending", "test": "Pending"}
    assert all(e["attempts"] == 0 for e in s["stages"])
    assert p.create_job is None
    assert p.delete_jobs == []
    assert p.events == []
    assert p.finished is None
    assert p.started is False
    assert p.requeue_after is None
    assert p.delete_pipeline is False


def test_queued_blocked_reason_is_the_message() -> None:
    why = "tenant acme is at spec.pipelines.maxConcurrent=2"
    p = run(admission=Admission(admitted=False, position=1, blocked=why))
    assert cond(p.status, "Succeeded")["message"] == why
    assert cond(p.status, "Admitted")["message"] == why
    assert p.status["queuePosition"] == 1


def test_queued_without_position() -> None:
    p = run(admission=Admission(admitted=False))
    assert cond(p.status, "Succeeded")["message"] == "waiting for admission"
    assert p.status["queuePosition"] is None


def test_queue_position_updates_while_waiting() -> None:
    first = run(admission=Admission(admitted=False, position=5))
    second = run(status=first.status, admission=Admission(admitted=False, position=2), now=at(7))
    assert second.status["queuePosition"] == 2
    assert cond(second.status, "Succeeded")["message"] == "waiting for capacity (position 2)"
    # Unknown -> Unknown and False -> False: the transition times stay
    assert cond(second.status, "Succeeded")["lastTransitionTime"] == ts(0)
    assert cond(second.status, "Admitted")["lastTransitionTime"] == ts(0)


def test_plan_does_not_modify_its_input_status() -> None:
    status = started_status()
    status["cost"] = {"inputTokens": 1, "outputTokens": 2, "usd": 0.5}
    status["artifacts"] = [{"stage": "x", "name": "y", "uri": "z"}]
    before = copy.deepcopy(status)
    run(status=status, jobs=[succeeded("analyze", usage={"inputTokens": 5},
                                       artifacts=[{"name": "a", "uri": "u"}])], now=at(20))
    assert status == before


# --- rejected --------------------------------------------------------------------------------


def test_rejected_when_the_queue_is_full() -> None:
    why = "tenant acme already has 20 queued pipelines (spec.pipelines.maxQueued=20)"
    p = run(admission=Admission(admitted=False, rejected=why))
    s = p.status
    assert cond(s, "Admitted") | {"lastTransitionTime": None} == {
        "type": "Admitted", "status": "False", "reason": "QueueFull", "message": why,
        "observedGeneration": 1, "lastTransitionTime": None,
    }
    assert cond(s, "Succeeded")["status"] == "False"
    assert cond(s, "Succeeded")["reason"] == "Failed"
    assert cond(s, "Succeeded")["message"] == why
    assert s["completionTime"] == ts(0)
    assert "startTime" not in s
    assert states(s) == {"analyze": "Skipped", "generate": "Skipped", "test": "Skipped"}
    assert p.finished == "Failed"
    assert p.events == [("Warning", "Failed", why)]
    assert p.create_job is None


def test_rejection_is_ignored_once_started() -> None:
    status = started_status()
    p = run(status=status, jobs=[running("analyze")],
            admission=Admission(admitted=False, rejected="queue full"), now=at(5))
    assert p.finished is None
    assert cond(p.status, "Succeeded")["reason"] == "Running"
    assert cond(p.status, "Admitted")["status"] == "True"


# --- admission -------------------------------------------------------------------------------


def test_admission_starts_the_first_stage() -> None:
    p = run(admission=Admission(admitted=True, position=1))
    s = p.status
    assert s["startTime"] == ts(0)
    assert s["queuePosition"] is None
    assert s["currentStage"] == "analyze"
    assert p.started is True
    assert p.create_job == ("analyze", 1)
    assert entry(s, "analyze") == {
        "name": "analyze", "state": "Running", "attempts": 1, "job": "demo-analyze-1",
        "startTime": ts(0),
    }
    assert states(s) == {"analyze": "Running", "generate": "Pending", "test": "Pending"}
    assert cond(s, "Admitted")["status"] == "True"
    assert cond(s, "Admitted")["reason"] == "Admitted"
    assert cond(s, "Succeeded")["status"] == "Unknown"
    assert cond(s, "Succeeded")["reason"] == "Running"
    assert cond(s, "Succeeded")["message"] == "running stage analyze"
    assert p.events == [("Normal", "Started", "admitted; running analyze -> generate -> test")]
    assert p.requeue_after == 3600  # the pipeline deadline
    assert s["artifacts"] == []
    assert s["cost"] == {"inputTokens": 0, "outputTokens": 0, "usd": 0.0}


def test_admission_event_lists_the_spec_stages() -> None:
    spec = mkspec(stages=["analyze", "generate", "test", "qa", "deploy"],
                  git={"url": "https://example.com/r.git"})
    p = run(spec)
    assert p.events == [("Normal", "Started",
                         "admitted; running analyze -> generate -> test -> qa -> deploy")]
    assert [e["name"] for e in p.status["stages"]] == ["analyze", "generate", "test", "qa",
                                                       "deploy"]


def test_job_name_is_deterministic_and_recorded() -> None:
    long_name = "p" * 60
    a = run(name=long_name)
    b = run(name=long_name, now=at(100))
    assert entry(a.status, "analyze")["job"] == job_name(long_name, "analyze", 1)
    assert entry(a.status, "analyze")["job"] == entry(b.status, "analyze")["job"]
    assert len(entry(a.status, "analyze")["job"]) <= 63


def test_admission_requeues_at_the_pipeline_deadline() -> None:
    p = run(mkspec(timeouts={"pipelineSeconds": 120}))
    assert p.requeue_after == 120


# --- running ---------------------------------------------------------------------------------


def test_running_job_changes_nothing() -> None:
    status = started_status()
    p = run(status=status, jobs=[running("analyze")], now=at(30))
    assert p.create_job is None
    assert p.delete_jobs == []
    assert p.events == []
    assert p.stage_finished == []
    assert p.finished is None
    assert p.status["stages"] == status["stages"]
    assert p.status["conditions"] == status["conditions"]
    assert p.requeue_after == 3600 - 30


# --- stage succeeded ----------------------------------------------------------------------


def test_succeeded_stage_starts_the_next_one_in_the_same_pass() -> None:
    status = started_status()
    job = succeeded("analyze", start=1, end=41, message="analyzed 12 frames",
                    artifacts=[{"name": "analysis.json", "uri": "s3://b/analysis.json",
                                "sha256": "ab" * 32, "size": 123}],
                    usage={"inputTokens": 100, "outputTokens": 50, "usd": 0.25})
    p = run(status=status, jobs=[job], now=at(45))
    s = p.status
    assert entry(s, "analyze")["state"] == "Succeeded"
    assert entry(s, "analyze")["completionTime"] == ts(41)
    assert entry(s, "analyze")["message"] == "analyzed 12 frames"
    assert entry(s, "generate") == {
        "name": "generate", "state": "Running", "attempts": 1, "job": "demo-generate-1",
        "startTime": ts(45),
    }
    assert p.create_job == ("generate", 1)
    assert s["currentStage"] == "generate"
    assert cond(s, "Succeeded")["message"] == "running stage generate"
    assert s["artifacts"] == [{"stage": "analyze", "name": "analysis.json",
                               "uri": "s3://b/analysis.json", "sha256": "ab" * 32, "size": 123}]
    assert s["cost"] == {"inputTokens": 100, "outputTokens": 50, "usd": 0.25}
    assert p.stage_finished == [("analyze", "Succeeded", 40.0, job)]
    assert p.finished is None
    assert p.requeue_after == 3600 - 45


def test_succeeded_stage_without_a_result() -> None:
    status = started_status()
    job = JobFacts(name=jname("analyze"), state="Succeeded", start=at(0), end=at(5))
    p = run(status=status, jobs=[job], now=at(6))
    assert entry(p.status, "analyze")["message"] == "completed"
    assert p.status["cost"] == {"inputTokens": 0, "outputTokens": 0, "usd": 0.0}
    assert p.create_job == ("generate", 1)


def test_stage_duration_without_times_is_zero() -> None:
    status = started_status()
    job = JobFacts(name=jname("analyze"), state="Succeeded")
    p = run(status=status, jobs=[job], now=at(6))
    assert p.stage_finished == [("analyze", "Succeeded", 0.0, job)]
    assert entry(p.status, "analyze")["completionTime"] == ts(6)


def test_long_result_message_is_clipped() -> None:
    status = started_status()
    p = run(status=status, jobs=[succeeded("analyze", message="x" * 5000)], now=at(20))
    message = entry(p.status, "analyze")["message"]
    assert len(message) == flow.MAX_MESSAGE
    assert message.endswith("...")


def test_invalid_artifacts_are_skipped() -> None:
    status = started_status()
    arts = [
        {"name": "ok", "uri": "file:///a/ok"},
        {"name": "no-uri"},
        {"uri": "file:///no-name"},
        "not a dict",
        7,
    ]
    p = run(status=status, jobs=[succeeded("analyze", artifacts=arts)], now=at(20))
    assert p.status["artifacts"] == [{"stage": "analyze", "name": "ok", "uri": "file:///a/ok",
                                      "sha256": None, "size": None}]


def test_artifacts_are_capped() -> None:
    status = started_status()
    arts = [{"name": f"a{i}", "uri": f"file:///a{i}"} for i in range(flow.MAX_ARTIFACTS + 20)]
    p = run(status=status, jobs=[succeeded("analyze", artifacts=arts)], now=at(20))
    assert len(p.status["artifacts"]) == flow.MAX_ARTIFACTS


def test_artifacts_of_earlier_stages_are_kept() -> None:
    status = started_status()
    p1 = run(status=status, jobs=[succeeded("analyze", artifacts=[
        {"name": "report", "uri": "file:///analyze/report"}])], now=at(20))
    p2 = run(status=p1.status, jobs=[succeeded("generate", start=20, end=40, artifacts=[
        {"name": "report", "uri": "file:///generate/report"}])], now=at(41))
    assert [(a["stage"], a["name"], a["uri"]) for a in p2.status["artifacts"]] == [
        ("analyze", "report", "file:///analyze/report"),
        ("generate", "report", "file:///generate/report"),
    ]


def test_duplicate_artifacts_in_one_result_are_recorded_once() -> None:
    status = started_status()
    arts = [{"name": "bundle.zip", "uri": "file:///1"}, {"name": "bundle.zip", "uri": "file:///2"}]
    p = run(status=status, jobs=[succeeded("analyze", artifacts=arts)], now=at(20))
    assert [a["name"] for a in p.status["artifacts"]] == ["bundle.zip"]


# --- all stages succeeded ------------------------------------------------------------------


def drive_to_success(spec: DesignPipelineSpec) -> list[Plan]:
    """Run every stage to success, one Job per stage, 10 s each; the Plans of every pass."""
    plans = [run(spec)]
    t = 0
    for stage in spec.stages:
        assert plans[-1].create_job == (stage.value, 1)
        t += 10
        job = succeeded(stage.value, start=t - 10, end=t,
                        usage={"inputTokens": 10, "outputTokens": 1, "usd": 0.1})
        plans.append(run(spec, status=plans[-1].status, jobs=[job], now=at(t + 1)))
    return plans


def test_all_stages_succeeded() -> None:
    spec = mkspec()
    plans = drive_to_success(spec)
    last = plans[-1]
    s = last.status
    assert last.finished == "Succeeded"
    assert last.create_job is None
    assert last.events == [("Normal", "Succeeded", "all 3 stages succeeded")]
    assert cond(s, "Succeeded")["status"] == "True"
    assert cond(s, "Succeeded")["reason"] == "Succeeded"
    assert cond(s, "Succeeded")["lastTransitionTime"] == ts(31)
    assert s["completionTime"] == ts(31)
    assert s["currentStage"] is None
    assert states(s) == {"analyze": "Succeeded", "generate": "Succeeded", "test": "Succeeded"}
    assert s["cost"] == {"inputTokens": 30, "outputTokens": 3, "usd": 0.3}
    assert [st for st, _, _, _ in last.stage_finished] == ["test"]
    # the run lasted from the admission pass to the last one: Succeeded was Unknown throughout
    assert [p.finished for p in plans] == [None, None, None, "Succeeded"]


def test_single_stage_pipeline() -> None:
    spec = mkspec(stages=["analyze"])
    plans = drive_to_success(spec)
    assert plans[-1].finished == "Succeeded"
    assert plans[-1].events == [("Normal", "Succeeded", "all 1 stages succeeded")]


def test_usd_is_rounded() -> None:
    spec = mkspec(stages=["analyze", "generate"])
    status = started_status(spec)
    p1 = run(spec, status=status, jobs=[succeeded("analyze", usage={"usd": 0.1})], now=at(11))
    p2 = run(spec, status=p1.status,
             jobs=[succeeded("generate", start=11, end=20, usage={"usd": 0.2})], now=at(21))
    assert p2.status["cost"]["usd"] == 0.3


# --- cost is counted once per attempt ------------------------------------------------------


def test_cost_of_a_succeeded_attempt_is_counted_once() -> None:
    status = started_status()
    job = succeeded("analyze", usage={"inputTokens": 7, "outputTokens": 3, "usd": 0.01})
    p1 = run(status=status, jobs=[job], now=at(11))
    # the same facts again (a watch event, a resync, a restart): nothing is counted twice
    p2 = run(status=p1.status, jobs=[job], now=at(12))
    p3 = run(status=p2.status, jobs=[job, running("generate", start=11)], now=at(13))
    for p in (p1, p2, p3):
        assert p.status["cost"] == {"inputTokens": 7, "outputTokens": 3, "usd": 0.01}
    assert len(p1.stage_finished) == 1
    assert p2.stage_finished == []
    assert p3.stage_finished == []


def test_cost_of_failed_attempts_is_counted_once_each() -> None:
    spec = mkspec(retries={"limit": 2, "backoffSeconds": 10})
    status = started_status(spec)
    first = failed("analyze", 1, end=10, result={"outcome": "Failed", "message": "boom",
                                                 "usage": {"inputTokens": 5, "usd": 0.5}})
    p1 = run(spec, status=status, jobs=[first], now=at(11))  # in backoff
    p2 = run(spec, status=p1.status, jobs=[first], now=at(15))  # still in backoff
    p3 = run(spec, status=p2.status, jobs=[first], now=at(20))  # retry is due
    assert p3.create_job == ("analyze", 2)
    second = succeeded("analyze", 2, start=20, end=30,
                       usage={"inputTokens": 2, "outputTokens": 1, "usd": 0.25})
    p4 = run(spec, status=p3.status, jobs=[first, second], now=at(31))
    p5 = run(spec, status=p4.status, jobs=[first, second], now=at(32))
    for p in (p1, p2, p3):
        assert p.status["cost"] == {"inputTokens": 5, "outputTokens": 0, "usd": 0.5}
    for p in (p4, p5):
        assert p.status["cost"] == {"inputTokens": 7, "outputTokens": 1, "usd": 0.75}
    assert [len(p.stage_finished) for p in (p1, p2, p3, p4, p5)] == [1, 0, 0, 1, 0]


def test_cost_adds_to_the_recorded_cost() -> None:
    status = started_status()
    status["cost"] = {"inputTokens": 1000, "outputTokens": 10, "usd": 1.5}
    p = run(status=status, jobs=[succeeded("analyze", usage={"inputTokens": 1, "usd": 0.5})],
            now=at(11))
    assert p.status["cost"] == {"inputTokens": 1001, "outputTokens": 10, "usd": 2.0}


# --- failed attempts and retries -----------------------------------------------------------


def test_failed_attempt_with_retries_left_waits_for_the_backoff() -> None:
    spec = mkspec(retries={"limit": 2, "backoffSeconds": 10})
    status = started_status(spec)
    job = failed("analyze", 1, end=20, result={"outcome": "Failed", "message": "figma said 500"})
    p = run(spec, status=status, jobs=[job], now=at(22))
    e = entry(p.status, "analyze")
    assert e["state"] == "Pending"
    assert e["attempts"] == 1
    assert e["message"] == f"attempt 1 failed: figma said 500; retrying at {ts(30)}"
    assert p.create_job is None
    assert p.requeue_after == pytest.approx(8)
    assert p.events == [("Warning", "StageRetrying",
                         "analyze attempt 1 failed: figma said 500; retry 2/3 in 10s")]
    assert p.stage_finished == [("analyze", "Failed", 20.0, job)]
    assert p.finished is None
    assert cond(p.status, "Succeeded")["status"] == "Unknown"

    # an event in the middle of the backoff: no new attempt, no second event
    p2 = run(spec, status=p.status, jobs=[job], now=at(27))
    assert p2.create_job is None
    assert p2.events == []
    assert p2.requeue_after == pytest.approx(3)
    assert entry(p2.status, "analyze")["state"] == "Pending"

    # the backoff is over: attempt 2 under its own deterministic name
    p3 = run(spec, status=p2.status, jobs=[job], now=at(30))
    assert p3.create_job == ("analyze", 2)
    e3 = entry(p3.status, "analyze")
    assert e3["state"] == "Running"
    assert e3["attempts"] == 2
    assert e3["job"] == "demo-analyze-2"
    assert e3["startTime"] == ts(0)  # the stage started with its first attempt
    assert "completionTime" not in e3
    assert p3.requeue_after == 3600 - 30


@pytest.mark.parametrize(("attempt", "expected"), [(1, 5), (2, 10), (3, 20), (4, 40)])
def test_backoff_is_exponential(attempt: int, expected: int) -> None:
    spec = mkspec(retries={"limit": 5, "backoffSeconds": 5})
    status = started_status(spec)
    entry(status, "analyze").update(attempts=attempt, job=jname("analyze", attempt))
    job = failed("analyze", attempt, start=0, end=100)
    p = run(spec, status=status, jobs=[job], now=at(100))
    assert p.requeue_after == expected
    assert f"in {expected}s" in p.events[0][2]
    assert spec.retries.backoff(attempt) == expected  # the model's helper agrees


def test_backoff_is_measured_from_the_job_end() -> None:
    spec = mkspec(retries={"limit": 1, "backoffSeconds": 60})
    status = started_status(spec)
    job = failed("analyze", end=100)
    p = run(spec, status=status, jobs=[job], now=at(170))  # noticed late: retry at once
    assert p.create_job == ("analyze", 2)


def test_zero_backoff_retries_in_the_same_pass() -> None:
    spec = mkspec(retries={"limit": 1, "backoffSeconds": 0})
    status = started_status(spec)
    p = run(spec, status=status, jobs=[failed("analyze", end=10)], now=at(10))
    assert p.create_job == ("analyze", 2)
    assert entry(p.status, "analyze")["state"] == "Running"
    assert [e[1] for e in p.events] == ["StageRetrying"]


@pytest.mark.parametrize(
    ("result", "message", "reason", "why"),
    [
        ({"outcome": "Failed", "message": "from the agent"}, "job msg", "BackoffLimitExceeded",
         "from the agent"),
        ({"outcome": "Failed"}, "job msg", "BackoffLimitExceeded", "job msg"),
        (None, None, "BackoffLimitExceeded", "BackoffLimitExceeded"),
        (None, None, None, "the agent failed"),
    ],
)
def test_failure_message_precedence(
    result: dict[str, Any] | None, message: str | None, reason: str | None, why: str
) -> None:
    spec = mkspec(retries={"limit": 0})
    status = started_status(spec)
    job = failed("analyze", reason=reason, message=message, result=result)
    p = run(spec, status=status, jobs=[job], now=at(11))
    assert entry(p.status, "analyze")["message"] == why
    assert p.events == [("Warning", "Failed", f"stage analyze failed after 1 attempt(s): {why}")]


def test_retries_exhausted_fail_the_pipeline_and_skip_later_stages() -> None:
    spec = mkspec(retries={"limit": 1, "backoffSeconds": 1})
    status = started_status(spec)
    first = failed("analyze", 1, end=10, result={"outcome": "Failed", "message": "one"})
    p1 = run(spec, status=status, jobs=[first], now=at(10))
    p2 = run(spec, status=p1.status, jobs=[first], now=at(11))
    assert p2.create_job == ("analyze", 2)
    second = failed("analyze", 2, start=11, end=20, result={"outcome": "Failed",
                                                            "message": "two"})
    p3 = run(spec, status=p2.status, jobs=[first, second], now=at(21))
    s = p3.status
    assert p3.finished == "Failed"
    assert p3.create_job is None
    assert p3.delete_jobs == []
    assert states(s) == {"analyze": "Failed", "generate": "Skipped", "test": "Skipped"}
    assert entry(s, "analyze")["message"] == "two"
    assert entry(s, "analyze")["completionTime"] == ts(20)
    assert entry(s, "analyze")["attempts"] == 2
    assert cond(s, "Succeeded")["status"] == "False"
    assert cond(s, "Succeeded")["reason"] == "Failed"
    assert cond(s, "Succeeded")["message"] == "stage analyze failed after 2 attempt(s): two"
    assert s["completionTime"] == ts(21)
    assert s["currentStage"] is None
    assert p3.events == [("Warning", "Failed", "stage analyze failed after 2 attempt(s): two")]


def test_failure_in_a_later_stage_keeps_earlier_results() -> None:
    spec = mkspec(retries={"limit": 0})
    status = started_status(spec)
    p1 = run(spec, status=status, jobs=[succeeded("analyze", usage={"usd": 0.5},
                                                  artifacts=[{"name": "a", "uri": "u"}])],
             now=at(11))
    p2 = run(spec, status=p1.status,
             jobs=[failed("generate", start=11, end=20,
                          result={"outcome": "Failed", "usage": {"usd": 0.25}})],
             now=at(21))
    assert p2.finished == "Failed"
    assert states(p2.status) == {"analyze": "Succeeded", "generate": "Failed", "test": "Skipped"}
    assert p2.status["cost"]["usd"] == 0.75
    assert len(p2.status["artifacts"]) == 1


# --- timeouts --------------------------------------------------------------------------------


def test_stage_deadline_exceeded_times_the_pipeline_out() -> None:
    spec = mkspec(retries={"limit": 3}, timeouts={"stageSeconds": 300})
    status = started_status(spec)
    job = failed("analyze", end=300, reason="DeadlineExceeded",
                 message="Job was active longer than specified deadline")
    p = run(spec, status=status, jobs=[job], now=at(301))
    s = p.status
    assert p.finished == "TimedOut"
    assert p.create_job is None  # no retry despite retries.limit=3
    assert entry(s, "analyze")["state"] == "Failed"
    assert entry(s, "analyze")["message"] == "stage exceeded timeouts.stageSeconds=300"
    assert entry(s, "analyze")["completionTime"] == ts(300)
    assert states(s) == {"analyze": "Failed", "generate": "Skipped", "test": "Skipped"}
    assert cond(s, "Succeeded")["status"] == "False"
    assert cond(s, "Succeeded")["reason"] == "TimedOut"
    assert cond(s, "Succeeded")["message"] == "stage analyze timed out after 300s"
    assert p.events == [("Warning", "TimedOut", "stage analyze timed out after 300s")]
    assert s["completionTime"] == ts(301)


def test_pipeline_timeout_deletes_running_jobs() -> None:
    spec = mkspec(timeouts={"pipelineSeconds": 600})
    status = started_status(spec)
    p = run(spec, status=status, jobs=[running("analyze")], now=at(600))
    s = p.status
    assert p.finished == "TimedOut"
    assert p.delete_jobs == ["demo-analyze-1"]
    assert p.create_job is None
    assert entry(s, "analyze")["state"] == "Failed"
    assert entry(s, "analyze")["completionTime"] == ts(600)
    assert entry(s, "analyze")["message"] == "pipeline exceeded timeouts.pipelineSeconds=600"
    assert states(s) == {"analyze": "Failed", "generate": "Skipped", "test": "Skipped"}
    assert cond(s, "Succeeded")["reason"] == "TimedOut"
    assert p.events == [("Warning", "TimedOut", "pipeline exceeded timeouts.pipelineSeconds=600")]


def test_pipeline_timeout_boundary() -> None:
    spec = mkspec(timeouts={"pipelineSeconds": 600})
    status = started_status(spec)
    before = run(spec, status=status, jobs=[running("analyze")], now=at(599))
    assert before.finished is None
    assert before.requeue_after == 1  # woken exactly at the deadline
    assert run(spec, status=status, jobs=[running("analyze")], now=at(600)).finished == "TimedOut"


def test_pipeline_timeout_during_a_retry_backoff() -> None:
    spec = mkspec(timeouts={"pipelineSeconds": 100}, retries={"limit": 2, "backoffSeconds": 60})
    status = started_status(spec)
    job = failed("analyze", end=50)
    p1 = run(spec, status=status, jobs=[job], now=at(50))
    assert p1.requeue_after == 50  # min(backoff=60, deadline=50)
    p2 = run(spec, status=p1.status, jobs=[job], now=at(100))
    assert p2.finished == "TimedOut"
    assert p2.delete_jobs == []  # the failed Job is not running
    assert states(p2.status) == {"analyze": "Failed", "generate": "Skipped", "test": "Skipped"}


# --- cancel ----------------------------------------------------------------------------------


def test_cancel_deletes_running_jobs() -> None:
    status = started_status()
    spec = mkspec(cancel=True)
    p1 = run(status=status, jobs=[succeeded("analyze")], now=at(11))
    p = run(spec, status=p1.status,
            jobs=[succeeded("analyze"), running("generate", start=11)], now=at(20))
    s = p.status
    assert p.finished == "Cancelled"
    assert p.delete_jobs == ["demo-generate-1"]  # not the finished analyze Job
    assert p.create_job is None
    assert states(s) == {"analyze": "Succeeded", "generate": "Failed", "test": "Skipped"}
    assert entry(s, "generate")["message"] == "cancelled by spec.cancel"
    assert cond(s, "Succeeded")["status"] == "False"
    assert cond(s, "Succeeded")["reason"] == "Cancelled"
    assert s["completionTime"] == ts(20)
    assert p.events == [("Normal", "Cancelled", "cancelled by spec.cancel")]


def test_cancel_while_queued() -> None:
    p = run(mkspec(cancel=True), admission=WAITING)
    assert p.finished == "Cancelled"
    assert p.delete_jobs == []
    assert states(p.status) == {"analyze": "Skipped", "generate": "Skipped", "test": "Skipped"}
    assert "startTime" not in p.status


def test_cancel_wins_over_admission() -> None:
    p = run(mkspec(cancel=True), admission=ADMITTED)
    assert p.finished == "Cancelled"
    assert p.create_job is None
    assert p.started is False


# --- restart safety --------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", [1, 2, 3])
@pytest.mark.parametrize("observed", ["absent", "Missing"])
def test_missing_job_of_a_running_stage_is_recreated_under_the_same_attempt(
    attempt: int, observed: str
) -> None:
    spec = mkspec(retries={"limit": 5})
    status = started_status(spec)
    entry(status, "analyze").update(attempts=attempt, job=jname("analyze", attempt))
    jobs = [JobFacts(name=jname("analyze", attempt), state="Missing")] if observed == "Missing" \
        else []
    p = run(spec, status=status, jobs=jobs, now=at(5))
    assert p.create_job == ("analyze", attempt)
    assert entry(p.status, "analyze") == entry(status, "analyze")  # nothing new recorded
    assert p.events == []
    assert p.stage_finished == []
    # and again: still the same attempt, never a new number
    p2 = run(spec, status=p.status, jobs=jobs, now=at(6))
    assert p2.create_job == ("analyze", attempt)
    assert entry(p2.status, "analyze")["attempts"] == attempt


def test_restart_after_admission_recreates_the_first_job() -> None:
    p1 = run()
    # the operator died after writing the status but before the Job existed
    p2 = run(status=p1.status, jobs={}, admission=Admission(admitted=False), now=at(3))
    assert p2.create_job == ("analyze", 1)
    assert p2.started is False
    assert p2.events == []
    assert p2.status["startTime"] == ts(0)


def test_replay_of_the_same_pass_is_idempotent() -> None:
    """A pass whose status write was lost is recomputed with the same outcome."""
    status = started_status()
    jobs = [succeeded("analyze", usage={"usd": 1.0})]
    a = run(status=status, jobs=jobs, now=at(20))
    b = run(status=status, jobs=jobs, now=at(20))
    assert a.status == b.status
    assert a.create_job == b.create_job == ("generate", 1)


def test_missing_failed_job_does_not_skip_the_backoff() -> None:
    spec = mkspec(retries={"limit": 2, "backoffSeconds": 300})
    status = started_status(spec)
    p1 = run(spec, status=status, jobs=[failed("analyze", end=10)], now=at(10))
    assert p1.requeue_after == 300
    # someone deletes the failed Job (kubectl delete job ...) 5 s into the 300 s backoff
    p2 = run(spec, status=p1.status,
             jobs=[JobFacts(name=jname("analyze", 1), state="Missing")], now=at(15))
    assert p2.create_job is None


# --- TTL after finish ------------------------------------------------------------------------


def finished_status(spec: DesignPipelineSpec) -> dict[str, Any]:
    p = drive_to_success(spec)[-1]
    assert p.status["completionTime"] == ts(31)
    return p.status


def test_ttl_requeues_then_deletes() -> None:
    spec = mkspec(ttlSecondsAfterFinished=60)
    status = finished_status(spec)
    early = run(spec, status=status, now=at(41))
    assert early.delete_pipeline is False
    assert early.requeue_after == 50
    assert early.create_job is None
    assert early.events == []
    assert early.finished is None
    assert early.status["conditions"] == status["conditions"]
    late = run(spec, status=status, now=at(91))
    assert late.delete_pipeline is True
    assert late.requeue_after is None


def test_ttl_zero_deletes_right_away() -> None:
    spec = mkspec(ttlSecondsAfterFinished=0)
    status = finished_status(spec)
    assert run(spec, status=status, now=at(31)).delete_pipeline is True


def test_finished_without_ttl_is_left_alone() -> None:
    spec = mkspec()
    status = finished_status(spec)
    p = run(spec, status=status, now=at(10_000))
    assert p.delete_pipeline is False
    assert p.requeue_after is None
    assert p.create_job is None
    assert p.status["conditions"] == status["conditions"]


def test_finished_pipeline_ignores_cancel_and_running_jobs() -> None:
    spec = mkspec(cancel=True)
    status = finished_status(mkspec())
    p = run(spec, status=status, jobs=[running("analyze")], now=at(100))
    assert p.delete_jobs == []
    assert p.finished is None
    assert p.events == []
    assert cond(p.status, "Succeeded")["reason"] == "Succeeded"


# --- condition transition times ------------------------------------------------------------


def test_last_transition_time_moves_only_when_the_status_changes() -> None:
    spec = mkspec(stages=["analyze"])
    q1 = run(spec, admission=Admission(admitted=False, position=2), now=at(0))
    q2 = run(spec, status=q1.status, admission=Admission(admitted=False, position=1), now=at(5))
    a = run(spec, status=q2.status, now=at(10))
    r = run(spec, status=a.status, jobs=[running("analyze", start=10)], now=at(15))
    done = run(spec, status=r.status, jobs=[succeeded("analyze", start=10, end=19)], now=at(20))
    again = run(spec, status=done.status, now=at(25), generation=2)

    succeeded_ltt = [cond(p.status, "Succeeded")["lastTransitionTime"]
                     for p in (q1, q2, a, r, done, again)]
    # Unknown (Queued) -> Unknown (Running) is no transition; True is
    assert succeeded_ltt == [ts(0), ts(0), ts(0), ts(0), ts(20), ts(20)]
    admitted_ltt = [cond(p.status, "Admitted")["lastTransitionTime"]
                    for p in (q1, q2, a, r, done, again)]
    assert admitted_ltt == [ts(0), ts(0), ts(10), ts(10), ts(10), ts(10)]
    assert [cond(p.status, "Succeeded")["reason"] for p in (q1, a, done)] == [
        "Queued", "Running", "Succeeded"]
    assert again.status["observedGeneration"] == 2


def test_condition_order_is_stable() -> None:
    q = run(admission=WAITING)
    a = run(status=q.status, now=at(1))
    assert [c["type"] for c in q.status["conditions"]] == ["Succeeded", "Admitted"]
    assert [c["type"] for c in a.status["conditions"]] == ["Succeeded", "Admitted"]


def test_status_is_json_serialisable() -> None:
    for p in drive_to_success(mkspec()):
        json.dumps(p.status)


# --- parse_result ----------------------------------------------------------------------------


def test_parse_result_plain() -> None:
    text = json.dumps({"outcome": "Succeeded", "message": "ok", "usage": {"usd": 0.1}})
    assert parse_result(text) == {"outcome": "Succeeded", "message": "ok", "usage": {"usd": 0.1}}


def test_parse_result_after_leading_text_and_whitespace() -> None:
    assert parse_result('  \nnpm WARN deprecated\n{"outcome": "Failed"}\n\n') == {
        "outcome": "Failed"}


@pytest.mark.parametrize(
    "message",
    [
        None,
        "",
        "   \n",
        "Error: exit status 1",
        "{",
        "}{",
        '{"outcome": "Succ',  # truncated at 4096 bytes by the kubelet
        '{"outcome": "Succeeded", "artifacts": [{"name": "a", "uri": "file:///',
        '{"message": "no outcome"}',
        "[1, 2, 3]",
        '"just a string"',
        "42",
        "null",
        '{"outcome": "Succeeded"} trailing log line',
        '{"outcome": "Succeeded"}\n{"outcome": "Failed"}',
        "\x00\x01\x02{\xff\xfe",
        "{{{{{{{{{{",
        "{'outcome': 'Succeeded'}",  # not JSON
    ],
)
def test_parse_result_garbage_is_none(message: str | None) -> None:
    assert parse_result(message) is None


def test_parse_result_of_a_list_wrapped_object_is_none() -> None:
    assert parse_result('[{"outcome": "Succeeded"}]') is None


def test_parse_result_deeply_nested_garbage_is_none() -> None:
    message = '{"outcome": "Failed", "x": ' + "[" * 4000
    assert len(message) <= 4096
    assert parse_result(message) is None


@pytest.mark.parametrize(
    "result",
    [
        {"outcome": "Succeeded", "usage": {"inputTokens": None}},
        {"outcome": "Succeeded", "usage": "lots"},
        {"outcome": "Succeeded", "usage": {"usd": "NaN?"}},
        {"outcome": "Succeeded", "message": 42},
        {"outcome": "Succeeded", "artifacts": 5},
        {"outcome": "Succeeded", "usage": {"usd": "nan"}},
    ],
    ids=["null-tokens", "usage-str", "usd-str", "message-int", "artifacts-int", "usd-nan"],
)
def test_wrong_typed_result_fields_do_not_crash_plan(result: dict[str, Any]) -> None:
    status = started_status()
    job = JobFacts(name=jname("analyze"), state="Succeeded", start=at(0), end=at(5),
                   result=result)
    p = run(status=status, jobs=[job], now=at(6))
    assert entry(p.status, "analyze")["state"] == "Succeeded"
    json.dumps(p.status, allow_nan=False)  # the API rejects NaN


def test_result_parsed_from_a_termination_message_drives_plan() -> None:
    message = json.dumps({"outcome": "Succeeded", "message": "done",
                          "usage": {"inputTokens": 3, "outputTokens": 4, "usd": 0.5}})
    status = started_status()
    job = JobFacts(name=jname("analyze"), state="Succeeded", start=at(0), end=at(5),
                   result=parse_result(message))
    p = run(status=status, jobs=[job], now=at(6))
    assert entry(p.status, "analyze")["message"] == "done"
    assert p.status["cost"] == {"inputTokens": 3, "outputTokens": 4, "usd": 0.5}


# --- helpers ---------------------------------------------------------------------------------


def test_ts_round_trip() -> None:
    value = datetime(2025, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    assert flow.ts(value) == "2025-01-02T03:04:05Z"
    assert flow.parse_ts("2025-01-02T03:04:05Z") == value.replace(microsecond=0)
    assert flow.parse_ts(None) is None
    assert flow.parse_ts("") is None


def test_the_final_message_counts_what_generate_did_not_reproduce() -> None:
    spec = mkspec()
    plans = [run(spec)]
    t = 0
    for stage in spec.stages:
        t += 10
        message = ("generated 1 components (25 files); 8 node properties not reproduced "
                   "(unreproduced.json)" if stage.value == "generate" else "ok")
        job = succeeded(stage.value, start=t - 10, end=t, message=message)
        plans.append(run(spec, status=plans[-1].status, jobs=[job], now=at(t + 1)))
    assert plans[-1].events == [
        ("Normal", "Succeeded",
         "all 3 stages succeeded; 8 node properties not reproduced (unreproduced.json)")]
    assert "8 node properties not reproduced" in cond(plans[-1].status, "Succeeded")["message"]

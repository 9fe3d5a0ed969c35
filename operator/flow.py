"""Pure DesignPipeline state machine: (spec, status, observed Jobs, admission, now) -> Plan.

The reconciler gathers facts (cache reads, the finished Job's termination message), calls
`plan()`, and carries out the Plan (create a Job, delete Jobs, patch status, record Events).
Nothing here does I/O, so every transition is unit-tested.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from .diagnosis import Diagnosis
from .model import (
    DesignPipelineSpec,
    DesignPipelineStatus,
    PipelineReason,
    QualityGate,
    Stage,
    StageState,
    set_condition,
)
from .render.job import job_name
from .render.kueue import KueueAdmission
from .times import format_time as ts
from .times import parse_time as parse_ts

MAX_ARTIFACTS = 100
MAX_MESSAGE = 1024


@dataclass(frozen=True)
class JobFacts:
    """What the reconciler observed about one stage-attempt Job."""

    name: str
    state: str  # "Running" | "Succeeded" | "Failed" | "Missing"
    reason: str | None = None  # Job condition reason (DeadlineExceeded, BackoffLimitExceeded)
    message: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    result: dict[str, Any] | None = None  # the agent's result (termination message)
    #: why the attempt's pod failed or cannot progress (see diagnosis), when known
    problem: Diagnosis | None = None


@dataclass(frozen=True)
class Admission:
    admitted: bool = False
    position: int | None = None
    blocked: str | None = None  # why it waits
    rejected: str | None = None  # why it will never run (queue full)


@dataclass
class Plan:
    """What one reconcile pass does. ``status``: the pipeline's new status (write it with
    ``status.to_json()``); the other fields are the pass's actions and what it observed."""

    status: DesignPipelineStatus
    create_job: tuple[str, int] | None = None  # (stage, attempt)
    delete_jobs: list[str] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    requeue_after: float | None = None
    delete_pipeline: bool = False
    finished: str | None = None  # outcome reason when the pipeline finished in this pass
    started: bool = False
    stage_finished: list[tuple[str, str, float, JobFacts]] = field(default_factory=list)
    quality: dict[str, Any] | None = None  # the visual stage's figures, when seen in this pass


def parse_result(message: str | None) -> dict[str, Any] | None:
    """The agent's result JSON from a termination message (None if it is not one)."""
    if not message:
        return None
    text = message.strip()
    start = text.find("{")
    if start < 0:
        return None
    try:
        value = json.loads(text[start:])
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) and "outcome" in value else None


def _number(value: Any, kind: type[int] | type[float]) -> int | float:
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        return kind(0)
    return number if math.isfinite(number) and number >= 0 else kind(0)


def _sanitize(result: dict[str, Any]) -> dict[str, Any]:
    """The agent's result with every field the operator uses coerced to its type.

    A result is written by a container we do not control: bad fields are dropped, not trusted.
    """
    raw_usage, raw_artifacts = result.get("usage"), result.get("artifacts")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    artifacts: list[Any] = raw_artifacts if isinstance(raw_artifacts, list) else []
    clean = [
        {
            "name": str(a["name"])[:253],
            "uri": str(a["uri"])[:2048],
            "sha256": str(a["sha256"])[:64] if isinstance(a.get("sha256"), str) else None,
            "size": int(_number(a.get("size"), int)) if a.get("size") is not None else None,
        }
        for a in artifacts
        if isinstance(a, dict) and isinstance(a.get("name"), str) and isinstance(a.get("uri"), str)
    ]
    message = result.get("message")
    return {
        **result,
        "outcome": str(result.get("outcome")),
        "message": message if isinstance(message, str) else None,
        "usage": {
            "inputTokens": _number(usage.get("inputTokens"), int),
            "outputTokens": _number(usage.get("outputTokens"), int),
            "usd": _number(usage.get("usd"), float),
        },
        "artifacts": clean,
    }


def _ratio(value: Any) -> float:
    return round(min(float(_number(value, float)), 1.0), 4)


_UNREPRODUCED = re.compile(r"(\d+) node properties not reproduced")


def _unreproduced_note(stages: list[dict[str, Any]]) -> str:
    """ "; N node properties not reproduced" from the generate stage's message (nothing is
    dropped silently: the count reaches the pipeline's status; the list is its artifact)."""
    for entry in stages:
        if entry.get("name") == Stage.GENERATE.value:
            m = _UNREPRODUCED.search(str(entry.get("message") or ""))
            if m:
                return f"; {m.group(1)} node properties not reproduced (unreproduced.json)"
    return ""


def quality_of(summary: Any) -> dict[str, Any] | None:
    """``status.quality`` from the visual stage's result summary (untrusted: coerced, bounded);
    None when it reports no fidelity."""
    if not isinstance(summary, dict) or summary.get("fidelity") is None:
        return None
    widths = summary.get("overflowWidths")
    return {
        "fidelity": _ratio(summary.get("fidelity")),
        "textsShown": _ratio(summary.get("textsShown", 1.0)),
        "a11yViolations": int(_number(summary.get("a11yViolations"), int)),
        "overflowWidths": sorted(
            {int(_number(w, int)) for w in widths if isinstance(w, int | float)}
        )[:8]
        if isinstance(widths, list)
        else [],
    }


def quality_gate(
    spec: DesignPipelineSpec,
    quality: dict[str, Any] | None,
    summary: Any,
    gate: QualityGate | None = None,
) -> str | None:
    """Why the pipeline fails its quality gate (naming the worst components), or None when it
    passes or has no gate. ``gate``: the effective gate (``spec.effective_quality(tenant)``,
    the tenant's defaults filled in); ``spec.quality`` when not given."""
    gate = gate if gate is not None else spec.quality
    if not gate.active:
        return None
    if quality is None:
        return "quality gate failed: the visual stage reported no fidelity"
    fails = []
    if gate.min_fidelity is not None and quality["fidelity"] < gate.min_fidelity:
        fails.append(f"fidelity {quality['fidelity']:.2f} < minFidelity {gate.min_fidelity:.2f}")
    if (
        gate.max_a11y_violations is not None
        and quality["a11yViolations"] > gate.max_a11y_violations
    ):
        fails.append(
            f"{quality['a11yViolations']} accessibility violations (serious, critical) > "
            f"maxA11yViolations {gate.max_a11y_violations}"
        )
    if not fails:
        return None
    named = []
    for key, what in (("worst", "lowest fidelity"), ("a11yWorst", "most violations")):
        items = summary.get(key) if isinstance(summary, dict) else None
        if isinstance(items, list) and items:
            named.append(f"{what}: " + ", ".join(str(i)[:60] for i in items[:3]))
    return _clip("quality gate failed: " + "; ".join(fails + named))


def _conditions(
    status: dict[str, Any],
    generation: int | None,
    now: datetime,
    updates: list[tuple[str, str, str, str]],
) -> list[dict[str, Any]]:
    conds: Any = status.get("conditions") or []
    for ctype, cstatus, reason, message in updates:
        conds = set_condition(conds, ctype, cstatus, reason, message, generation, now)
    return [c.to_dict() for c in conds]


def _stage_entries(spec: DesignPipelineSpec, status: dict[str, Any]) -> list[dict[str, Any]]:
    by_name = {s.get("name"): dict(s) for s in status.get("stages") or []}
    return [
        by_name.get(stage.value, {"name": stage.value, "state": "Pending", "attempts": 0})
        for stage in spec.stages
    ]


def _clip(text: str | None) -> str:
    text = (text or "").strip()
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _finish(
    plan: Plan,
    status: dict[str, Any],
    stages: list[dict[str, Any]],
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
    event_type: str,
) -> None:
    for entry in stages:
        if entry["state"] in ("Pending", "Running"):
            if int(entry.get("attempts") or 0) == 0:
                entry["state"] = "Skipped"
            else:
                entry["state"] = "Failed"
                entry.setdefault("completionTime", ts(now))
                if reason in ("Cancelled", "TimedOut"):
                    entry["message"] = _clip(message)
    ok = reason == "Succeeded"
    status["completionTime"] = ts(now)
    status["currentStage"] = None
    status["queuePosition"] = None
    status["conditions"] = _conditions(
        status,
        generation,
        now,
        [
            ("Succeeded", "True" if ok else "False", reason, message),
        ],
    )
    plan.finished = reason
    plan.events.append((event_type, reason, message))


_VERSION = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def source_status(
    spec: DesignPipelineSpec, current: Any, summary: Any = None
) -> dict[str, Any] | None:
    """``status.source`` of a pipeline with a Figma source: the file key, branch key and node
    ids its ``spec.source.figma`` (url or fileKey) resolves to, and the version analyze read
    (``summary.version`` of its result, untrusted: kept only when it looks like a Figma version
    id) or already recorded. None for other sources."""
    figma = spec.source.figma
    if figma is None:
        return None
    resolved = figma.resolve().to_dict()
    version = summary.get("version") if isinstance(summary, dict) else None
    if not (isinstance(version, str) and _VERSION.match(version)):
        version = current.get("version") if isinstance(current, dict) else None
    if isinstance(version, str) and _VERSION.match(version):
        resolved["version"] = version
    return resolved


def ttl_expiry(
    completed: datetime, ttl_seconds: int | None, now: datetime
) -> tuple[bool, float | None]:
    """A finished pipeline's TTL: (delete now, or seconds until it is due; None: no TTL)."""
    if ttl_seconds is None:
        return False, None
    expires = completed + timedelta(seconds=ttl_seconds)
    if now >= expires:
        return True, None
    return False, (expires - now).total_seconds()


def plan(
    *,
    name: str,
    spec: DesignPipelineSpec,
    status: DesignPipelineStatus,
    generation: int | None,
    created: datetime,
    jobs: dict[str, JobFacts],
    admission: Admission,
    now: datetime,
    preflight: str | None = None,
    gate: QualityGate | None = None,
) -> Plan:
    """The next step of a pipeline whose observed status is ``status`` (not modified): a Plan
    whose ``status`` is the new one. ``jobs``: the pipeline's stage Jobs by name;
    ``preflight``: why no Job of this pipeline can start (a missing ConfigMap, checked
    before a Job is created); a pipeline about to create a Job then fails at once with reason
    ReferenceNotFound instead of waiting for its pod to time out. ``gate``: the quality gate
    with the tenant's defaults (``spec.effective_quality(tenant)``); ``spec.quality`` if None.

    The transitions still work on the status's JSON (``status.to_json()``, a fresh copy); the
    result is read back into the model, so a status this returns dumps to exactly that JSON.
    """
    work = status.to_json()
    result = Plan(status=status)
    _decide(
        result,
        work,
        name=name,
        spec=spec,
        generation=generation,
        jobs=jobs,
        admission=admission,
        now=now,
        preflight=preflight,
        gate=gate,
    )
    result.status = DesignPipelineStatus.model_validate(work)
    return result


def _decide(
    result: Plan,
    status: dict[str, Any],
    *,
    name: str,
    spec: DesignPipelineSpec,
    generation: int | None,
    jobs: dict[str, JobFacts],
    admission: Admission,
    now: datetime,
    preflight: str | None,
    gate: QualityGate | None,
) -> None:
    """``plan`` on the status's JSON: updates ``status`` in place and ``result``'s actions."""
    stages = _stage_entries(spec, status)
    status["stages"] = stages
    status["observedGeneration"] = generation
    source = source_status(spec, status.get("source"))
    if source is not None:
        status["source"] = source

    # --- finished: only TTL is left ------------------------------------------------------------
    done = parse_ts(status.get("completionTime"))
    if done is not None:
        result.delete_pipeline, result.requeue_after = ttl_expiry(
            done, spec.ttl_seconds_after_finished, now
        )
        return

    running_jobs = [j.name for j in jobs.values() if j.state == "Running"]

    # --- cancel --------------------------------------------------------------------------------
    if spec.cancel:
        result.delete_jobs = running_jobs
        _finish(
            result,
            status,
            stages,
            "Cancelled",
            "cancelled by spec.cancel",
            now,
            generation,
            "Normal",
        )
        return

    # --- queued --------------------------------------------------------------------------------
    started = parse_ts(status.get("startTime"))
    if started is None:
        if admission.rejected:
            status["conditions"] = _conditions(
                status, generation, now, [("Admitted", "False", "QueueFull", admission.rejected)]
            )
            _finish(
                result, status, stages, "Failed", admission.rejected, now, generation, "Warning"
            )
            return
        if not admission.admitted:
            status["queuePosition"] = admission.position
            message = admission.blocked or (
                f"waiting for capacity (position {admission.position})"
                if admission.position
                else "waiting for admission"
            )
            status["conditions"] = _conditions(
                status,
                generation,
                now,
                [
                    ("Succeeded", "Unknown", "Queued", message),
                    ("Admitted", "False", "Queued", message),
                ],
            )
            return
        started = now
        status["startTime"] = ts(now)
        status["queuePosition"] = None
        status["conditions"] = _conditions(
            status,
            generation,
            now,
            [("Admitted", "True", "Admitted", "admitted by the fair-share queue")],
        )
        result.started = True
        result.events.append(
            ("Normal", "Started", "admitted; running " + " -> ".join(s.value for s in spec.stages))
        )

    # --- pipeline timeout ------------------------------------------------------------------------
    deadline = started + timedelta(seconds=spec.timeouts.pipeline_seconds)
    if now >= deadline:
        result.delete_jobs = running_jobs
        _finish(
            result,
            status,
            stages,
            "TimedOut",
            f"pipeline exceeded timeouts.pipelineSeconds={spec.timeouts.pipeline_seconds}",
            now,
            generation,
            "Warning",
        )
        return

    # --- walk the stages ---------------------------------------------------------------------
    artifacts: list[dict[str, Any]] = list(status.get("artifacts") or [])
    cost = dict(status.get("cost") or {"inputTokens": 0, "outputTokens": 0, "usd": 0.0})
    waiting: Diagnosis | None = None  # why the running attempt makes no progress
    for entry in stages:
        if entry["state"] in ("Succeeded", "Skipped"):
            continue
        stage = entry["name"]
        attempts = int(entry.get("attempts") or 0)
        status["currentStage"] = stage
        if attempts == 0:
            _start_attempt(result, entry, name, stage, 1, now)
            break
        job = jobs.get(entry.get("job") or "")
        if job is None or job.state == "Missing":
            if entry["state"] == "Running":
                # Recorded but not (yet) there, e.g. the operator restarted between recording
                # the attempt and creating its Job: create it under the same, deterministic name.
                result.create_job = (stage, attempts)
            else:  # waiting for a retry and the failed attempt's Job is gone: keep the backoff
                failed_at = parse_ts(entry.get("completionTime")) or now
                backoff = spec.retries.backoff_seconds * (2 ** (attempts - 1))
                retry_at = failed_at + timedelta(seconds=backoff)
                if now >= retry_at:
                    _start_attempt(result, entry, name, stage, attempts + 1, now)
                else:
                    result.requeue_after = (retry_at - now).total_seconds()
            break
        if job.state == "Running":
            if job.problem is None or not job.problem.stop:
                waiting = job.problem
                if waiting is not None:
                    entry["message"] = _clip(waiting.message)
                break
            # it can never progress (image never pulled, missing Secret): stop it now
            result.delete_jobs.append(job.name)
            job = replace(job, state="Failed", end=now)
        # the attempt finished
        res = _sanitize(job.result) if job.result else {}
        seconds = ((job.end or now) - (job.start or job.end or now)).total_seconds()
        outcome = "Succeeded" if job.state == "Succeeded" else "Failed"
        if entry["state"] == "Running":  # first time we see this attempt finished
            result.stage_finished.append((stage, outcome, max(seconds, 0.0), job))
            usage = res.get("usage") or {}
            cost = {
                "inputTokens": int(cost.get("inputTokens", 0)) + int(usage.get("inputTokens", 0)),
                "outputTokens": int(cost.get("outputTokens", 0))
                + int(usage.get("outputTokens", 0)),
                "usd": round(float(cost.get("usd", 0.0)) + float(usage.get("usd", 0.0)), 6),
            }
        if job.state == "Succeeded":
            entry["state"] = "Succeeded"
            entry["completionTime"] = ts(job.end or now)
            entry["message"] = _clip(res.get("message") or "completed")
            if stage == Stage.ANALYZE.value and "source" in status:
                status["source"] = source_status(spec, status["source"], res.get("summary"))
            known = {(a.get("stage"), a.get("name")) for a in artifacts}
            for art in res.get("artifacts") or []:
                if not isinstance(art, dict) or "name" not in art or "uri" not in art:
                    continue
                if (stage, art["name"]) in known or len(artifacts) >= MAX_ARTIFACTS:
                    continue
                known.add((stage, art["name"]))
                artifacts.append(
                    {
                        "stage": stage,
                        "name": str(art["name"]),
                        "uri": str(art["uri"]),
                        "sha256": art.get("sha256"),
                        "size": art.get("size"),
                    }
                )
            if stage == Stage.VISUAL.value:  # the quality gate: nothing after it on a failure
                quality = quality_of(res.get("summary"))
                if quality is not None:
                    status["quality"] = result.quality = quality
                failed_gate = quality_gate(spec, quality, res.get("summary"), gate)
                if failed_gate:
                    status["artifacts"], status["cost"] = artifacts, cost
                    _finish(
                        result,
                        status,
                        stages,
                        PipelineReason.QUALITY_GATE_FAILED.value,
                        failed_gate,
                        now,
                        generation,
                        "Warning",
                    )
                    return
            continue  # on to the next stage, in this same pass
        # failed attempt
        problem = job.problem
        why = _clip(
            (problem.message if problem else None)
            or res.get("message")
            or job.message
            or job.reason
            or "the agent failed"
        )
        if problem is not None and entry["state"] == "Running":
            result.events.append(("Warning", problem.reason, f"{stage} attempt {attempts}: {why}"))
        if job.reason == "DeadlineExceeded":
            entry["state"] = "Failed"
            entry["completionTime"] = ts(job.end or now)
            entry["message"] = f"stage exceeded timeouts.stageSeconds={spec.timeouts.stage_seconds}"
            status["artifacts"], status["cost"] = artifacts, cost
            _finish(
                result,
                status,
                stages,
                "TimedOut",
                f"stage {stage} timed out after {spec.timeouts.stage_seconds}s",
                now,
                generation,
                "Warning",
            )
            return
        if attempts <= spec.retries.limit and (problem is None or problem.retry):
            backoff = spec.retries.backoff_seconds * (2 ** (attempts - 1))
            retry_at = (job.end or now) + timedelta(seconds=backoff)
            if entry["state"] == "Running":
                result.events.append(
                    (
                        "Warning",
                        "StageRetrying",
                        f"{stage} attempt {attempts} failed: {why}; retry "
                        f"{attempts + 1}/{spec.retries.limit + 1} in {backoff}s",
                    )
                )
            entry["state"] = "Pending"
            entry["completionTime"] = ts(job.end or now)  # of the failed attempt, for the backoff
            entry["message"] = f"attempt {attempts} failed: {why}; retrying at {ts(retry_at)}"
            if now >= retry_at:
                _start_attempt(result, entry, name, stage, attempts + 1, now)
            else:
                result.requeue_after = (retry_at - now).total_seconds()
            break
        entry["state"] = "Failed"
        entry["completionTime"] = ts(job.end or now)
        entry["message"] = why
        status["artifacts"], status["cost"] = artifacts, cost
        _finish(
            result,
            status,
            stages,
            problem.reason if problem is not None else "Failed",
            f"stage {stage} failed after {attempts} attempt(s): {why}",
            now,
            generation,
            "Warning",
        )
        return
    else:
        status["artifacts"], status["cost"] = artifacts, cost
        _finish(
            result,
            status,
            stages,
            "Succeeded",
            f"all {len(stages)} stages succeeded" + _unreproduced_note(stages),
            now,
            generation,
            "Normal",
        )
        return

    status["artifacts"], status["cost"] = artifacts, cost
    if preflight and result.create_job is not None:
        stage = result.create_job[0]
        result.create_job = None
        for entry in stages:
            if entry["name"] == stage:
                entry["state"] = "Failed"
                entry["completionTime"] = ts(now)
                entry["message"] = _clip(preflight)
        _finish(
            result,
            status,
            stages,
            "ReferenceNotFound",
            _clip(f"stage {stage} cannot start: {preflight}"),
            now,
            generation,
            "Warning",
        )
        return
    current = status.get("currentStage")
    reason, message = "Running", f"running stage {current}"
    if waiting is not None:
        reason, message = waiting.reason, _clip(f"stage {current}: {waiting.message}")
    status["conditions"] = _conditions(
        status, generation, now, [("Succeeded", "Unknown", reason, message)]
    )
    remaining = (deadline - now).total_seconds()
    result.requeue_after = min(result.requeue_after or remaining, remaining)


def _start_attempt(
    result: Plan, entry: dict[str, Any], pipeline: str, stage: str, attempt: int, now: datetime
) -> None:
    entry["attempts"] = attempt
    entry["state"] = "Running"
    entry["job"] = job_name(pipeline, stage, attempt)
    entry.setdefault("startTime", ts(now))
    entry.pop("completionTime", None)
    result.create_job = (stage, attempt)


def kueue_job(status: DesignPipelineStatus) -> str | None:
    """The Job a running pipeline waits on (its current stage's Running attempt), or None."""
    if status.completion_time is not None or status.start_time is None:
        return None
    for entry in status.stages:
        if entry.name == status.current_stage and entry.state is StageState.RUNNING and entry.job:
            return entry.job
    return None


def kueue_admitted(
    status: DesignPipelineStatus,
    verdict: KueueAdmission,
    generation: int | None,
    now: datetime,
) -> DesignPipelineStatus:
    """``queueing: kueue``: the pipeline's ``Admitted`` condition and ``queuePosition`` follow
    Kueue's Workload of its current stage Job (``render.kueue.workload_admission``) instead of
    pf-figma's own admission. ``status``: the planned status (``Plan.status``), returned as a
    new status; a finished pipeline, or one not running a stage Job, is returned unchanged."""
    if kueue_job(status) is None:
        return status
    admitted = "True" if verdict.admitted else "False"
    conditions = set_condition(
        status.conditions, "Admitted", admitted, verdict.reason, verdict.message, generation, now
    )
    return status.model_copy(update={"queue_position": verdict.position, "conditions": conditions})


__all__ = [
    "Admission",
    "JobFacts",
    "Plan",
    "Stage",
    "kueue_admitted",
    "kueue_job",
    "parse_result",
    "plan",
]

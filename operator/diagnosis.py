"""Pure: why a stage attempt's pod did not do its work, from what the API says about it.

A Job only says "BackoffLimitExceeded"; the reason is in its pod (termination state, waiting
reason, disruption condition) or in the Job controller's Events (a pod it could not create).
Each :class:`Diagnosis` names the cause in words a platform team can act on, is the stage's
message, an Event's reason and, when it ends the pipeline, the pipeline's reason; it also
decides whether another attempt makes sense and whether a running attempt must be stopped
(it can never progress: an image that is never pulled, a missing Secret).

Reasons (README, Troubleshooting): OOMKilled, Evicted, Preempted, NodeLost, PodRejected,
ImagePullFailed, ReferenceNotFound, ContainerConfigError, JobDeleted, PodCreateFailed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE = 500


@dataclass(frozen=True)
class Diagnosis:
    reason: str
    message: str
    #: whether another attempt (after the backoff) can succeed where this one failed
    retry: bool
    #: the attempt can never progress: stop its Job now instead of waiting for the timeout
    stop: bool = False


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


#: waiting reasons that end an attempt at once: (reason, retry)
_WAITING: dict[str, tuple[str, bool]] = {
    "ErrImageNeverPull": ("ImagePullFailed", False),
    "InvalidImageName": ("ImagePullFailed", False),
    "ErrImagePull": ("ImagePullFailed", True),
    "ImagePullBackOff": ("ImagePullFailed", True),
    "CreateContainerConfigError": ("ContainerConfigError", False),
    "CreateContainerError": ("ContainerConfigError", False),
}

#: DisruptionTarget condition reasons -> (reason, what happened)
_DISRUPTION: dict[str, tuple[str, str]] = {
    "PreemptionByScheduler": ("Preempted", "preempted by a higher-priority pod"),
    "DeletionByTaintManager": ("NodeLost", "deleted because its node became unreachable"),
    "EvictionByEvictionAPI": ("Evicted", "evicted (eviction API, e.g. a node drain)"),
    "DeletionByPodGC": ("NodeLost", "deleted by the pod garbage collector (its node is gone)"),
    "TerminationByKubelet": ("Evicted", "terminated by the kubelet (node pressure or shutdown)"),
}


def _memory_limit(pod: Mapping[str, Any], container: str) -> str | None:
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") == container:
            return ((c.get("resources") or {}).get("limits") or {}).get("memory")
    return None


def diagnose_pod(pod: Mapping[str, Any]) -> Diagnosis | None:
    """What went wrong with an agent pod, or None when nothing did (as far as it shows)."""
    name = (pod.get("metadata") or {}).get("name", "?")
    status = pod.get("status") or {}
    for c in status.get("containerStatuses") or []:
        terminated = (c.get("state") or {}).get("terminated") or {}
        if terminated.get("reason") == "OOMKilled":
            limit = _memory_limit(pod, c.get("name", ""))
            return Diagnosis(
                "OOMKilled",
                _clip(
                    f"pod {name}: container {c.get('name')} ran out of memory and was killed "
                    f"(OOMKilled, memory limit {limit or 'none'}); a retry with the same limit "
                    f"would fail again: raise the agent memory limit "
                    f"(PF_AGENT_MEMORY_LIMIT, Tenant limits.maxMemory)"
                ),
                retry=False,
            )
        waiting = (c.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _WAITING:
            reason, retry = _WAITING[waiting["reason"]]
            detail = waiting.get("message") or ""
            if reason == "ContainerConfigError" and "not found" in detail:
                reason = "ReferenceNotFound"
            return Diagnosis(
                reason,
                _clip(f"pod {name}: {waiting['reason']}: {detail or c.get('image', '')}"),
                retry=retry,
                stop=True,
            )
    for cond in status.get("conditions") or []:
        if cond.get("type") == "DisruptionTarget" and cond.get("status") == "True":
            reason, what = _DISRUPTION.get(
                cond.get("reason", ""), ("Evicted", f"disrupted ({cond.get('reason')})")
            )
            detail = cond.get("message") or ""
            return Diagnosis(reason, _clip(f"pod {name} was {what}: {detail}"), retry=True)
    if status.get("phase") == "Failed" and status.get("reason"):
        reason = str(status["reason"])
        mapped = {"Evicted": "Evicted", "NodeLost": "NodeLost", "Shutdown": "Evicted"}.get(
            reason, "PodRejected"
        )
        detail = status.get("message") or ""
        return Diagnosis(mapped, _clip(f"pod {name} failed: {reason}: {detail}"), retry=True)
    return None


def diagnose_pods(pods: Iterable[Mapping[str, Any]]) -> Diagnosis | None:
    """The diagnosis of the newest pod that has one."""
    ordered = sorted(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")
    for pod in reversed(ordered):
        found = diagnose_pod(pod)
        if found is not None:
            return found
    return None


def pod_create_failed(events: Iterable[Mapping[str, Any]]) -> Diagnosis | None:
    """The Job controller's newest FailedCreate Event (e.g. "exceeded quota"): the attempt
    waits (the controller keeps trying, and quota may be freed) but says why."""
    failed = [e for e in events if e.get("reason") == "FailedCreate"]
    if not failed:
        return None
    newest = max(failed, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return Diagnosis(
        "PodCreateFailed",
        _clip(f"cannot create the agent pod: {newest.get('message', '')}"),
        retry=True,
    )


def mount_failed(events: Iterable[Mapping[str, Any]]) -> Diagnosis | None:
    """The kubelet's newest FailedMount Event for an agent pod stuck in ContainerCreating: a
    Secret volume (the deploy stage's git credentials) that does not exist stops the attempt
    (ReferenceNotFound); other mount failures are said while the attempt waits."""
    failed = [e for e in events if e.get("reason") == "FailedMount"]
    if not failed:
        return None
    newest = max(failed, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    pod = (newest.get("involvedObject") or {}).get("name", "?")
    message = newest.get("message", "")
    missing = "not found" in message
    return Diagnosis(
        "ReferenceNotFound" if missing else "MountFailed",
        _clip(f"pod {pod}: {message}"),
        retry=False if missing else True,
        stop=missing,
    )


def job_deleted(job: str) -> Diagnosis:
    return Diagnosis(
        "JobDeleted",
        f"Job {job} was deleted before it finished (not by pf-figma)",
        retry=True,
    )


def missing_references(
    pod_spec: Mapping[str, Any], config_maps: Mapping[str, Mapping[str, Any] | None]
) -> list[str]:
    """ConfigMaps (and their keys) a pod needs that do not exist. ``config_maps`` maps each
    name :func:`config_map_names` returned to the live object or None."""
    problems = []
    for volume in pod_spec.get("volumes") or []:
        ref = volume.get("configMap")
        if not ref or ref.get("optional"):
            continue
        live = config_maps.get(ref["name"])
        if live is None:
            problems.append(f'ConfigMap "{ref["name"]}" not found')
            continue
        keys = {*(live.get("data") or {}), *(live.get("binaryData") or {})}
        for item in ref.get("items") or []:
            if item.get("key") not in keys:
                problems.append(f'ConfigMap "{ref["name"]}" has no key "{item.get("key")}"')
    return problems


def config_map_names(pod_spec: Mapping[str, Any]) -> list[str]:
    """The ConfigMaps a pod cannot start without."""
    return sorted(
        {
            v["configMap"]["name"]
            for v in pod_spec.get("volumes") or []
            if v.get("configMap") and not v["configMap"].get("optional")
        }
    )

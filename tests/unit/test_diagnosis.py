"""operator/diagnosis.py: why an agent pod failed or cannot start (issue 17, items 4-6)."""

from __future__ import annotations

from typing import Any

import pytest

from pf_operator.diagnosis import (
    config_map_names,
    diagnose_pod,
    diagnose_pods,
    job_deleted,
    missing_references,
    pod_create_failed,
)


def pod(
    *,
    terminated: dict[str, Any] | None = None,
    waiting: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    phase: str = "Running",
    created: str = "2026-01-01T00:00:00Z",
    **status: Any,
) -> dict[str, Any]:
    state = {"terminated": terminated} if terminated else {"waiting": waiting} if waiting else {}
    return {
        "metadata": {"name": "p-analyze-1-abc", "creationTimestamp": created},
        "spec": {"containers": [{"name": "agent", "resources": {"limits": {"memory": "1Gi"}}}]},
        "status": {
            "phase": phase,
            "containerStatuses": [{"name": "agent", "image": "pf-figma-agent:dev", "state": state}],
            "conditions": conditions or [],
            **status,
        },
    }


def test_oom_killed_names_the_limit_and_is_not_retried() -> None:
    d = diagnose_pod(pod(terminated={"reason": "OOMKilled", "exitCode": 137}, phase="Failed"))
    assert d is not None and d.reason == "OOMKilled"
    assert "1Gi" in d.message and "OOMKilled" in d.message
    assert d.retry is False and d.stop is False


@pytest.mark.parametrize(
    ("waiting", "reason", "retry"),
    [
        ("ErrImageNeverPull", "ImagePullFailed", False),
        ("InvalidImageName", "ImagePullFailed", False),
        ("ImagePullBackOff", "ImagePullFailed", True),
        ("CreateContainerConfigError", "ContainerConfigError", False),
    ],
)
def test_waiting_reasons_stop_the_attempt(waiting: str, reason: str, retry: bool) -> None:
    d = diagnose_pod(pod(waiting={"reason": waiting, "message": "details"}))
    assert d is not None and (d.reason, d.retry, d.stop) == (reason, retry, True)
    assert waiting in d.message and "details" in d.message


def test_a_missing_secret_is_named() -> None:
    d = diagnose_pod(
        pod(waiting={"reason": "CreateContainerConfigError", "message": 'secret "figma" not found'})
    )
    assert d is not None and d.reason == "ReferenceNotFound" and 'secret "figma"' in d.message


def test_container_creating_is_not_a_problem() -> None:
    assert diagnose_pod(pod(waiting={"reason": "ContainerCreating"})) is None
    assert diagnose_pod(pod()) is None
    # the agent's own failure is the agent's result, not a pod problem
    assert diagnose_pod(pod(terminated={"reason": "Error", "exitCode": 1}, phase="Failed")) is None


@pytest.mark.parametrize(
    ("disruption", "reason"),
    [
        ("PreemptionByScheduler", "Preempted"),
        ("DeletionByTaintManager", "NodeLost"),
        ("EvictionByEvictionAPI", "Evicted"),
        ("TerminationByKubelet", "Evicted"),
        ("DeletionByPodGC", "NodeLost"),
    ],
)
def test_disruptions_are_retried(disruption: str, reason: str) -> None:
    cond = {"type": "DisruptionTarget", "status": "True", "reason": disruption, "message": "m"}
    d = diagnose_pod(pod(conditions=[cond]))
    assert d is not None and (d.reason, d.retry, d.stop) == (reason, True, False)


def test_eviction_by_the_kubelet() -> None:
    d = diagnose_pod(pod(phase="Failed", reason="Evicted", message="low on memory"))
    assert d is not None and d.reason == "Evicted" and "low on memory" in d.message and d.retry


def test_newest_pod_wins() -> None:
    old = pod(terminated={"reason": "OOMKilled"}, created="2026-01-01T00:00:00Z")
    new = pod(waiting={"reason": "ErrImageNeverPull"}, created="2026-01-01T00:01:00Z")
    assert diagnose_pods([new, old]).reason == "ImagePullFailed"  # type: ignore[union-attr]
    assert diagnose_pods([]) is None


def test_failed_create_event() -> None:
    events = [
        {"reason": "SuccessfulCreate", "message": "ok", "lastTimestamp": "2026-01-01T00:00:09Z"},
        {"reason": "FailedCreate", "message": "old", "lastTimestamp": "2026-01-01T00:00:01Z"},
        {
            "reason": "FailedCreate",
            "message": 'pods "x" is forbidden: exceeded quota: pf-figma-quota',
            "lastTimestamp": "2026-01-01T00:00:05Z",
        },
    ]
    d = pod_create_failed(events)
    assert d is not None and d.reason == "PodCreateFailed" and "exceeded quota" in d.message
    assert not d.stop
    assert pod_create_failed(events[:1]) is None


def test_job_deleted() -> None:
    d = job_deleted("p-analyze-1")
    assert d.reason == "JobDeleted" and "p-analyze-1" in d.message and d.retry


POD_SPEC = {
    "volumes": [
        {"name": "work", "emptyDir": {}},
        {"name": "source", "configMap": {"name": "design", "items": [{"key": "file.json"}]}},
        {"name": "ca", "configMap": {"name": "pf-figma-ca", "optional": True}},
    ]
}


def test_only_required_config_maps_are_checked() -> None:
    assert config_map_names(POD_SPEC) == ["design"]


def test_missing_config_map_and_key() -> None:
    assert missing_references(POD_SPEC, {"design": None}) == ['ConfigMap "design" not found']
    assert missing_references(POD_SPEC, {"design": {"data": {"other": "x"}}}) == [
        'ConfigMap "design" has no key "file.json"'
    ]
    assert missing_references(POD_SPEC, {"design": {"data": {"file.json": "{}"}}}) == []
    assert missing_references(POD_SPEC, {"design": {"binaryData": {"file.json": "e30="}}}) == []


def test_a_missing_secret_volume_is_named_and_stops_the_attempt() -> None:
    from pf_operator.diagnosis import mount_failed

    events = [
        {
            "reason": "FailedMount",
            "involvedObject": {"kind": "Pod", "name": "p-deploy-1-abcde"},
            "message": 'MountVolume.SetUp failed for volume "git" : secret "git-creds" not found',
            "lastTimestamp": "2026-01-01T00:00:05Z",
        }
    ]
    d = mount_failed(events)
    assert d is not None and (d.reason, d.retry, d.stop) == ("ReferenceNotFound", False, True)
    assert 'secret "git-creds" not found' in d.message and "p-deploy-1-abcde" in d.message
    other = [{**events[0], "message": "timed out waiting for the condition"}]
    d = mount_failed(other)
    assert d is not None and (d.reason, d.stop) == ("MountFailed", False)
    assert mount_failed([]) is None

"""operator/kube.py deleted_while_reconciling and pipelines.classify (issue 17, items 8-9)."""

from __future__ import annotations

from pf_operator.index import classify
from pf_operator.kube import ApiError, deleted_while_reconciling

NOT_FOUND = ApiError(404, "NotFound", 'designpipelines "p" not found')


def test_a_404_for_an_object_that_is_gone_is_not_an_error() -> None:
    assert deleted_while_reconciling(NOT_FOUND, None, "u1")
    terminating = {"metadata": {"uid": "u1", "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    assert deleted_while_reconciling(NOT_FOUND, terminating, "u1")
    assert deleted_while_reconciling(NOT_FOUND, {"metadata": {"uid": "u2"}}, "u1")  # re-created


def test_a_404_for_something_else_is_an_error() -> None:
    # the pipeline is still there: a Job, Secret or namespace was missing
    assert not deleted_while_reconciling(NOT_FOUND, {"metadata": {"uid": "u1"}}, "u1")
    assert not deleted_while_reconciling(
        ApiError(409, "Conflict", "x"), None, "u1"
    )  # only 404s
    assert not deleted_while_reconciling(ApiError(500, "InternalError", "x"), None, "u1")


def test_queued_pipelines_count_as_queued() -> None:
    assert classify({}) == "queued"  # new, not yet reconciled
    queued = {"conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Queued"}]}
    assert classify(queued) == "queued"
    assert classify({"startTime": "t"}) == "running"
    done = {"startTime": "t", "completionTime": "t"}
    assert classify({**done, "conditions": [{"type": "Succeeded", "status": "True"}]}) == (
        "succeeded"
    )
    assert classify({**done, "conditions": [{"type": "Succeeded", "status": "False"}]}) == (
        "failed"
    )


def test_podless_for() -> None:
    from datetime import UTC, datetime

    from pf_operator.pipelines import podless_for

    now = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    job = {"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}, "status": {"ready": 0}}
    assert podless_for(job, now) == 10.0  # item 4: no pod for 10 s, ask the Job's Events why
    for status in ({"active": 1}, {"failed": 1}, {"succeeded": 1}, {"terminating": 1},
                   {"conditions": [{"type": "Failed", "status": "True"}]}):
        assert podless_for({**job, "status": status}, now) is None, status


def test_unready_for() -> None:
    from datetime import UTC, datetime

    from pf_operator.pipelines import unready_for

    now = datetime(2026, 1, 1, 0, 0, 12, tzinfo=UTC)
    job = {"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}, "status": {"active": 1}}
    assert unready_for(job, now) == 12.0  # a pod, none ready: ask the kubelet's Events why
    for status in ({"active": 1, "ready": 1}, {}, {"active": 0},
                   {"active": 1, "conditions": [{"type": "Complete", "status": "True"}]}):
        assert unready_for({**job, "status": status}, now) is None, status

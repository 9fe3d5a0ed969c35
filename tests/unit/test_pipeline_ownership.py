"""operator/pipelines.py, pure: whose Job an attempt's Job is (issue 17, item 7)."""

from __future__ import annotations

from typing import Any

from pf_operator.cache import slim
from pf_operator.pipelines import belongs_to


def job(refs: list[dict[str, Any]] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p-analyze-1", "namespace": "ns", "uid": "j"}
    if refs is not None:
        meta["ownerReferences"] = refs
    return {"kind": "Job", "metadata": meta, "status": {}}


def ref(uid: str, controller: bool = True) -> dict[str, Any]:
    return {"kind": "DesignPipeline", "name": "p", "uid": uid, "controller": controller}


def test_the_controlling_pipeline_owns_it() -> None:
    assert belongs_to(job([ref("u1")]), "u1")
    assert belongs_to(slim("Job", job([ref("u1")])), "u1")  # as the cache keeps it


def test_a_recreated_pipeline_of_the_same_name_does_not() -> None:
    assert not belongs_to(job([ref("u0")]), "u1")
    assert not belongs_to(slim("Job", job([ref("u0")])), "u1")


def test_an_orphaned_job_belongs_to_nobody() -> None:
    # kubectl delete --cascade=orphan removes the owner references of the dependents
    assert not belongs_to(job(None), "u1")
    assert not belongs_to(job([]), "u1")
    assert not belongs_to(job([ref("u1", controller=False)]), "u1")
    assert not belongs_to(job([ref("u1")]), None)

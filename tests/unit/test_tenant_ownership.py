"""operator/tenants.py, pure parts: whose namespace it is, and what adoption removes
(issue 17, item 2)."""

from __future__ import annotations

from typing import Any

from pf_operator.tenants import ADOPT_ANNOTATION, foreign_access, namespace_ownership


def ns(refs: list[dict[str, Any]] | None = None, **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "tenant-x", "ownerReferences": refs or [], "annotations": annotations}
    }


def ref(uid: str, kind: str = "Tenant", controller: bool = True) -> dict[str, Any]:
    return {"kind": kind, "name": "x", "uid": uid, "controller": controller}


def test_missing() -> None:
    assert namespace_ownership(None, "x", "u1") == "missing"


def test_owned_only_by_this_tenants_uid_as_controller() -> None:
    assert namespace_ownership(ns([ref("u1")]), "x", "u1") == "owned"
    assert namespace_ownership(ns([ref("old")]), "x", "u1") == "foreign"  # a Tenant re-created
    assert namespace_ownership(ns([ref("u1", controller=False)]), "x", "u1") == "foreign"
    assert namespace_ownership(ns([ref("u1", kind="Deployment")]), "x", "u1") == "foreign"


def test_created_by_someone_else_is_foreign_without_the_opt_in() -> None:
    assert namespace_ownership(ns(), "x", "u1") == "foreign"
    labelled = ns()
    labelled["metadata"]["labels"] = {
        "app.kubernetes.io/managed-by": "pf-figma",
        "pffigma.dev/tenant": "x",
    }  # labels prove nothing
    assert namespace_ownership(labelled, "x", "u1") == "foreign"


def test_the_opt_in_names_the_tenant() -> None:
    assert namespace_ownership(ns(**{ADOPT_ANNOTATION: "x"}), "x", "u1") == "adopt"
    assert namespace_ownership(ns(**{ADOPT_ANNOTATION: "y"}), "x", "u1") == "foreign"
    assert namespace_ownership(ns(**{ADOPT_ANNOTATION: "true"}), "x", "u1") == "foreign"


def test_foreign_access_is_everything_not_owned_by_the_tenant() -> None:
    ours = {"metadata": {"name": "pf-figma-owner-1", "ownerReferences": [ref("u1")]}}
    theirs = {"metadata": {"name": "stranger-admin"}}
    labelled = {
        "metadata": {"name": "fake", "labels": {"app.kubernetes.io/managed-by": "pf-figma"}}
    }
    old = {"metadata": {"name": "old", "ownerReferences": [ref("u0")]}}
    assert [o["metadata"]["name"] for o in foreign_access([ours, theirs, labelled, old], "u1")] == [
        "stranger-admin",
        "fake",
        "old",
    ]

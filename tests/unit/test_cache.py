"""operator/cache.py: the in-memory object store fed by the watches."""

from __future__ import annotations

import copy
import json
from typing import Any

from pf_operator.cache import INDEXED_LABELS, Store, compact, keep, key_of, slim

TENANT = "pffigma.dev/tenant"
PIPELINE = "pffigma.dev/pipeline"


def obj(
    name: str,
    namespace: str | None = "ns",
    rv: str | int | None = "1",
    uid: str | None = "uid-1",
    labels: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if rv is not None:
        meta["resourceVersion"] = str(rv)
    if uid is not None:
        meta["uid"] = uid
    if labels is not None:
        meta["labels"] = labels
    return {"metadata": meta, **extra}


def spec_of(store: Store, name: str) -> Any:
    found = store.get("Job", name, "ns")
    assert found is not None
    return found["spec"]


def names(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objects)


def test_indexed_labels() -> None:
    assert TENANT in INDEXED_LABELS
    assert PIPELINE in INDEXED_LABELS


def test_key_of() -> None:
    assert key_of(obj("a", "ns")) == ("ns", "a")
    assert key_of(obj("a", None)) == ("", "a")


def test_upsert_get_count_all() -> None:
    s = Store()
    assert s.upsert("Job", obj("a")) is True
    assert s.upsert("Job", obj("b", "other")) is True
    assert s.upsert("Tenant", obj("acme", None)) is True
    assert s.get("Job", "a", "ns") == obj("a")
    assert s.get("Job", "a", "other") is None
    assert s.get("Job", "b", "other") is not None
    assert s.get("Tenant", "acme") is not None  # cluster-scoped: namespace ""
    assert s.get("Tenant", "acme", "") is not None
    assert s.count("Job") == 2
    assert s.count("Tenant") == 1
    assert s.count("Pod") == 0
    assert names(list(s.all("Job"))) == ["a", "b"]
    assert s.get("Pod", "a", "ns") is None


def test_same_name_in_two_namespaces() -> None:
    s = Store()
    s.upsert("Job", obj("a", "ns1", labels={TENANT: "t1"}))
    s.upsert("Job", obj("a", "ns2", labels={TENANT: "t2"}))
    assert s.count("Job") == 2
    assert [o["metadata"]["namespace"] for o in s.by_label("Job", TENANT, "t1")] == ["ns1"]


def test_newer_resource_version_replaces() -> None:
    s = Store()
    s.upsert("Job", obj("a", rv=5, spec={"v": 1}))
    assert s.upsert("Job", obj("a", rv=6, spec={"v": 2})) is True
    assert spec_of(s, "a") == {"v": 2}


def test_older_resource_version_never_replaces_newer() -> None:
    s = Store()
    s.upsert("Job", obj("a", rv=10, spec={"v": "new"}, labels={PIPELINE: "p"}))
    assert s.upsert("Job", obj("a", rv=9, spec={"v": "old"}, labels={PIPELINE: "q"})) is False
    assert spec_of(s, "a") == {"v": "new"}
    assert names(s.by_label("Job", PIPELINE, "p")) == ["a"]  # the index is untouched
    assert s.by_label("Job", PIPELINE, "q") == []


def test_resource_versions_compare_as_numbers() -> None:
    s = Store()
    s.upsert("Job", obj("a", rv="100", spec={"v": "new"}))
    assert s.upsert("Job", obj("a", rv="99", spec={"v": "old"})) is False  # not "99" > "100"
    assert s.upsert("Job", obj("a", rv="1000", spec={"v": "newer"})) is True


def test_equal_resource_version_replaces() -> None:
    s = Store()
    s.upsert("Job", obj("a", rv=5, spec={"v": 1}))
    assert s.upsert("Job", obj("a", rv=5, spec={"v": 2})) is True
    assert spec_of(s, "a") == {"v": 2}


def test_missing_or_opaque_resource_versions_always_replace() -> None:
    s = Store()
    s.upsert("Job", obj("a", rv=5))
    assert s.upsert("Job", obj("a", rv=None, spec={"v": "no-rv"})) is True
    assert s.upsert("Job", obj("a", rv="opaque", spec={"v": "opaque"})) is True
    assert spec_of(s, "a") == {"v": "opaque"}


def test_label_index() -> None:
    s = Store()
    s.upsert("Job", obj("j1", labels={TENANT: "acme", PIPELINE: "p1"}))
    s.upsert("Job", obj("j2", labels={TENANT: "acme", PIPELINE: "p2"}))
    s.upsert("Job", obj("j3", labels={TENANT: "other", PIPELINE: "p1"}))
    s.upsert("Job", obj("j4"))
    s.upsert("Pod", obj("pod", labels={TENANT: "acme"}))
    assert names(s.by_label("Job", TENANT, "acme")) == ["j1", "j2"]
    assert names(s.by_label("Job", PIPELINE, "p1")) == ["j1", "j3"]
    assert names(s.by_label("Pod", TENANT, "acme")) == ["pod"]  # per kind
    assert s.by_label("Job", TENANT, "nobody") == []
    assert s.by_label("Secret", TENANT, "acme") == []


def test_relabel_moves_the_object_in_the_index() -> None:
    s = Store()
    s.upsert("Job", obj("a", rv=1, labels={TENANT: "acme", PIPELINE: "p1"}))
    s.upsert("Job", obj("a", rv=2, labels={TENANT: "beta"}))
    assert s.by_label("Job", TENANT, "acme") == []
    assert names(s.by_label("Job", TENANT, "beta")) == ["a"]
    assert s.by_label("Job", PIPELINE, "p1") == []  # label removed
    s.upsert("Job", obj("a", rv=3))  # all labels removed
    assert s.by_label("Job", TENANT, "beta") == []
    s.upsert("Job", obj("a", rv=4, labels={PIPELINE: "p2"}))
    assert names(s.by_label("Job", PIPELINE, "p2")) == ["a"]


def test_by_label_returns_the_current_object() -> None:
    s = Store()
    s.upsert("Job", obj("a", rv=1, labels={TENANT: "acme"}, spec={"v": 1}))
    s.upsert("Job", obj("a", rv=2, labels={TENANT: "acme"}, spec={"v": 2}))
    found = s.by_label("Job", TENANT, "acme")
    assert [o["spec"] for o in found] == [{"v": 2}]


def test_delete_removes_object_and_index_entries() -> None:
    s = Store()
    s.upsert("Job", obj("a", labels={TENANT: "acme", PIPELINE: "p"}))
    s.upsert("Job", obj("b", uid="uid-b", labels={TENANT: "acme"}))
    # the delete event carries the last state; its labels may differ from the stored ones
    s.delete("Job", obj("a", rv=7, labels={}))
    assert s.get("Job", "a", "ns") is None
    assert s.count("Job") == 1
    assert names(s.by_label("Job", TENANT, "acme")) == ["b"]
    assert s.by_label("Job", PIPELINE, "p") == []


def test_delete_of_a_different_uid_is_ignored() -> None:
    s = Store()
    s.upsert("Job", obj("a", uid="new-uid", rv=20, labels={TENANT: "acme"}))
    s.delete("Job", obj("a", uid="old-uid", rv=10))  # late delete of the previous incarnation
    assert s.get("Job", "a", "ns") is not None
    assert names(s.by_label("Job", TENANT, "acme")) == ["a"]
    s.delete("Job", obj("a", uid="new-uid"))
    assert s.get("Job", "a", "ns") is None


def test_delete_without_uid_deletes() -> None:
    s = Store()
    s.upsert("Job", obj("a", uid="u"))
    s.delete("Job", obj("a", uid=None))
    assert s.get("Job", "a", "ns") is None


def test_delete_when_stored_object_has_no_uid() -> None:
    s = Store()
    s.upsert("Job", obj("a", uid=None))
    s.delete("Job", obj("a", uid="u"))
    assert s.get("Job", "a", "ns") is None


def test_delete_of_an_unknown_object_is_a_no_op() -> None:
    s = Store()
    s.delete("Job", obj("ghost"))
    s.upsert("Job", obj("a"))
    s.delete("Job", obj("a", "other-ns"))
    assert s.count("Job") == 1


def test_all_is_a_snapshot() -> None:
    s = Store()
    for i in range(5):
        s.upsert("Job", obj(f"j{i}"))
    for o in s.all("Job"):  # mutating while iterating is safe
        s.delete("Job", o)
    assert s.count("Job") == 0


def test_reinsert_after_delete() -> None:
    s = Store()
    s.upsert("Job", obj("a", rv=5, labels={TENANT: "acme"}))
    s.delete("Job", obj("a"))
    assert s.upsert("Job", obj("a", rv=1, uid="uid-2", labels={TENANT: "acme"})) is True
    assert names(s.by_label("Job", TENANT, "acme")) == ["a"]


def test_index_has_no_empty_buckets_left_behind() -> None:
    s = Store()
    for i in range(50):
        s.upsert("Job", obj(f"j{i}", labels={PIPELINE: f"p{i}"}))
    for i in range(50):
        s.delete("Job", obj(f"j{i}"))
    assert all(s.by_label("Job", PIPELINE, f"p{i}") == [] for i in range(50))
    assert dict(s._index["Job"][PIPELINE]) == {}


# --- what the cache keeps (slim) ---------------------------------------------------------------

MANAGED_FIELDS = [{"manager": "pf-figma", "operation": "Apply", "fieldsV1": {"f:spec": {}}}]


def job(**status: Any) -> dict[str, Any]:
    body = obj("p-analyze-1", labels={PIPELINE: "p", TENANT: "acme"}, status=status)
    body["metadata"].update(
        managedFields=MANAGED_FIELDS,
        creationTimestamp="2026-01-01T00:00:00Z",
        ownerReferences=[{"kind": "DesignPipeline", "name": "p", "uid": "u", "controller": True}],
        annotations={"pffigma.dev/config": "x" * 2000},
    )
    body["spec"] = {"backoffLimit": 0, "template": {"spec": {"containers": [{"name": "agent"}]}}}
    return {"apiVersion": "batch/v1", "kind": "Job", **body}


def pipeline(**status: Any) -> dict[str, Any]:
    body = obj("p", labels={TENANT: "acme"}, status=status)
    body["metadata"].update(managedFields=MANAGED_FIELDS, generation=2)
    body["spec"] = {
        "source": {"configMapRef": {"name": "d", "key": "f"}},
        "stages": ["analyze", "generate", "test"],
        "ttlSecondsAfterFinished": 60,
    }
    return {"apiVersion": "pffigma.dev/v1alpha1", "kind": "DesignPipeline", **body}


FINISHED = {
    "startTime": "2026-01-01T00:00:01Z",
    "completionTime": "2026-01-01T00:01:00Z",
    "observedGeneration": 2,
    "conditions": [
        {"type": "Admitted", "status": "True", "reason": "Admitted"},
        {"type": "Succeeded", "status": "True", "reason": "Succeeded", "message": "ok"},
    ],
    "stages": [{"name": "analyze", "state": "Succeeded", "job": "p-analyze-1"}],
    "artifacts": [{"stage": "analyze", "name": "spec.json", "sha256": "a" * 64}],
    "cost": {"inputTokens": 1, "outputTokens": 2, "usd": 0.1},
}


def test_slim_never_mutates_its_input() -> None:
    for kind, body in (("Job", job()), ("DesignPipeline", pipeline(**FINISHED)),
                       ("Namespace", pipeline())):
        before = copy.deepcopy(body)
        slim(kind, body)
        assert body == before


def test_slim_drops_managed_fields_and_last_applied_everywhere() -> None:
    body = pipeline(conditions=[])
    body["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": "{...}",
        "pffigma.dev/desired-hash": "abc",
    }
    kept = slim("DesignPipeline", body)
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["annotations"] == {"pffigma.dev/desired-hash": "abc"}
    assert kept["spec"] == body["spec"] and kept["status"] == body["status"]


def test_slim_keeps_unmanaged_objects_as_they_are() -> None:
    body = obj("ns1", namespace=None, spec={"finalizers": ["kubernetes"]})
    assert slim("Namespace", body) is body


def test_slim_job_keeps_metadata_facts_and_status() -> None:
    status = {"startTime": "t0", "conditions": [{"type": "Complete", "status": "True"}]}
    kept = slim("Job", job(**status))
    assert kept["status"] == status
    assert kept["metadata"] == {
        "name": "p-analyze-1",
        "namespace": "ns",
        "uid": "uid-1",
        "resourceVersion": "1",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "labels": {PIPELINE: "p", TENANT: "acme"},
        "controllerUID": "u",  # whose attempt it is (issue 17, item 7)
    }
    assert "spec" not in kept
    assert len(json.dumps(kept)) < len(json.dumps(job(**status))) / 4


def test_slim_running_pipeline_keeps_spec_and_status() -> None:
    status = {k: v for k, v in FINISHED.items() if k != "completionTime"}
    kept = slim("DesignPipeline", pipeline(**status))
    assert kept["status"] == status
    assert kept["spec"]["source"] == {"configMapRef": {"name": "d", "key": "f"}}


def test_slim_finished_pipeline_keeps_what_counts_and_ttl_read() -> None:
    kept = slim("DesignPipeline", pipeline(**FINISHED))
    assert kept["spec"] == {"ttlSecondsAfterFinished": 60}
    assert kept["status"] == {
        "startTime": FINISHED["startTime"],
        "completionTime": FINISHED["completionTime"],
        "observedGeneration": 2,
        "conditions": [FINISHED["conditions"][1]],
    }
    assert kept["metadata"]["generation"] == 2 and kept["metadata"]["uid"] == "uid-1"
    assert kept["apiVersion"] == "pffigma.dev/v1alpha1" and kept["kind"] == "DesignPipeline"


def test_store_applies_its_keep_function() -> None:
    s = Store(keep=slim)
    assert s.upsert("Job", job())
    stored = s.get("Job", "p-analyze-1", "ns")
    assert stored is not None and "spec" not in stored
    assert names(s.by_label("Job", PIPELINE, "p")) == ["p-analyze-1"]
    whole = Store()
    whole.upsert("Job", job())
    assert whole.get("Job", "p-analyze-1", "ns") == job()


def test_compact_equal_copy_with_shared_strings() -> None:
    a = json.loads(json.dumps(pipeline(**FINISHED)))
    b = json.loads(json.dumps(pipeline(**FINISHED)))
    ca, cb = compact(a), compact(b)
    assert ca == a and cb == b
    assert ca is not a and ca["status"]["conditions"] is not a["status"]["conditions"]
    # keys and short values are the same objects in both copies; long strings are not interned
    ka = next(k for k in ca["status"] if k == "completionTime")
    kb = next(k for k in cb["status"] if k == "completionTime")
    assert ka is kb
    assert ca["status"]["conditions"][1]["reason"] is cb["status"]["conditions"][1]["reason"]
    long_a, long_b = ca["status"]["artifacts"][0]["sha256"], cb["status"]["artifacts"][0]["sha256"]
    assert long_a == long_b and long_a is not long_b


def test_keep_is_slim_then_compact() -> None:
    body = pipeline(**FINISHED)
    assert keep("DesignPipeline", body) == slim("DesignPipeline", body)
    assert keep("Job", job()) == slim("Job", job())

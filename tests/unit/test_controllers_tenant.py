"""The Tenant controller's decisions against in-memory ports (tests/unit/fakes.py): what it
writes, which status, which keys it requeues. tests/integration/test_tenants.py proves the same
situations on a real cluster."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from pf_operator.cache import Store
from pf_operator.constants import ADOPT_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, TENANT_LABEL
from pf_operator.index import PipelineIndex
from pf_operator.kube import ApiError
from pf_operator.ports import Request
from pf_operator.render import checks
from pf_operator.render.common import RenderSettings
from pf_operator.tenants import TenantConfig, TenantController
from tests.unit.fakes import (
    FakeClient,
    FakeDatabase,
    FakeQueue,
    cache,
    event,
    pipeline_body,
    tenant_body,
)

NAME = "acme"
NS = f"tenant-{NAME}"


@dataclass
class World:
    controller: TenantController
    cache: Store
    client: FakeClient
    queue: FakeQueue
    index: PipelineIndex
    db: FakeDatabase | None

    def tenant(self, **spec: Any) -> dict[str, Any]:
        """A Tenant as the API has it (and the cache, as the watch delivers it)."""
        body = self.client.put(tenant_body(NAME, **spec))
        self.cache.upsert("Tenant", body)
        return body

    def reconcile(self, name: str = NAME) -> float | None:
        self.client.writes.clear()
        self.client.events.clear()
        return asyncio.run(self.controller.reconcile(name))

    def status(self, name: str = NAME) -> dict[str, Any]:
        return dict(self.client.objects[("Tenant", "", name)].get("status") or {})

    def condition(self, ctype: str, name: str = NAME) -> tuple[str, str]:
        for cond in self.status(name).get("conditions") or []:
            if cond["type"] == ctype:
                return cond["status"], cond["reason"]
        raise AssertionError(f"no {ctype} condition in {self.status(name)}")


def world(*, db: FakeDatabase | None = None, ca_bundle: str | None = None) -> World:
    store = cache()
    client, queue = FakeClient(), FakeQueue()
    index = PipelineIndex(store, "tenant-")
    controller = TenantController(
        cache=store,
        client=client,
        queue=queue,
        index=index,
        counts=index,
        config=TenantConfig(
            render=RenderSettings(), agent_resources=checks.AgentResources(), ca_bundle=ca_bundle
        ),
        db=db,
    )
    return World(controller, store, client, queue, index, db)


def test_a_new_tenant_becomes_a_namespace_first_then_its_isolation_then_ready() -> None:
    w = world()
    w.tenant()
    assert w.reconcile() is None
    applied = w.client.written("apply")
    assert applied[0] == f"Namespace {NS}"  # everything else lives in it
    kinds = {a.split()[0] for a in applied}
    assert kinds == {
        "Namespace",
        "ServiceAccount",
        "ResourceQuota",
        "LimitRange",
        "NetworkPolicy",
    }
    assert all(a.split()[1].startswith(f"{NS}/") for a in applied[1:])
    assert w.client.written("patch_status") == ["Tenant acme"]
    for ctype in ("NamespaceReady", "QuotaApplied", "NetworkIsolated", "AccessConfigured"):
        assert w.condition(ctype)[0] == "True"
    assert w.condition("Ready") == ("True", "Ready")
    status = w.status()
    assert status["namespace"] == NS
    assert status["observedGeneration"] == 1
    assert status["pipelines"] == {"running": 0, "queued": 0, "succeeded": 0, "failed": 0}
    assert w.client.reasons() == ["NamespaceCreated", "Ready"]
    # every child is owned by the Tenant (the garbage collector deletes them with it)
    ns = w.client.objects[("Namespace", "", NS)]
    assert ns["metadata"]["ownerReferences"][0]["uid"] == "tenant-uid-acme"


def test_a_second_pass_and_a_restart_write_nothing() -> None:
    w = world()
    w.tenant()
    w.reconcile()
    assert w.reconcile() is None
    assert w.client.writes == [] and w.client.events == []
    # a new operator on the same (primed) cache: no writes either
    restarted = TenantController(
        cache=w.cache,
        client=w.client,
        queue=FakeQueue(),
        index=w.index,
        counts=w.index,
        config=w.controller.config,
    )
    assert asyncio.run(restarted.reconcile(NAME)) is None
    assert w.client.writes == []


def test_drift_is_repaired_with_an_event() -> None:
    w = world()
    w.tenant()
    w.reconcile()
    quota = w.cache.get("ResourceQuota", "tenant-quota", NS) or next(
        iter(w.cache.by_label("ResourceQuota", TENANT_LABEL, NAME))
    )
    drifted = {**quota, "spec": {"hard": {"pods": "1000"}}}
    w.cache.upsert(
        "ResourceQuota", {**drifted, "metadata": {**quota["metadata"], "resourceVersion": "999"}}
    )
    w.reconcile()
    assert w.client.written("apply") == [f"ResourceQuota {NS}/{quota['metadata']['name']}"]
    assert w.client.reasons() == ["DriftRepaired"]


def test_a_spec_change_updates_children_and_prunes_what_is_no_longer_wanted() -> None:
    w = world()
    w.tenant(owners=[{"kind": "User", "name": "alice@example.com"}])
    w.reconcile()
    bindings = w.client.written("apply", "RoleBinding")
    assert len(bindings) == 1
    w.tenant(owners=[])
    w.reconcile()
    assert w.client.written("delete", "RoleBinding") == bindings
    assert w.cache.by_label("RoleBinding", TENANT_LABEL, NAME) == []


def test_a_suspended_tenant_is_ready_with_reason_suspended() -> None:
    w = world()
    w.tenant(suspended=True)
    w.reconcile()
    assert w.condition("Ready") == ("True", "Suspended")


def test_a_semantic_problem_is_ready_false_not_a_crash() -> None:
    w = world()
    w.tenant(quota={"cpu": "1", "memory": "1Gi"}, pipelines={"maxConcurrent": 50})
    assert w.reconcile() is None
    status, reason = w.condition("Ready")
    assert (status, reason) == ("False", "InvalidConfiguration")


def test_a_namespace_someone_else_made_is_not_written_into() -> None:
    w = world()
    w.client.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    w.tenant()
    assert w.reconcile() == 15.0  # looked at again: it may be annotated or deleted
    assert w.client.written("apply") == []
    assert w.condition("NamespaceReady") == ("False", "NamespaceNotOwned")
    assert w.condition("Ready") == ("False", "NamespaceNotOwned")


def test_an_annotated_namespace_is_adopted_and_foreign_access_removed() -> None:
    w = world()
    w.client.put(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NS, "annotations": {ADOPT_ANNOTATION: NAME}},
        }
    )
    w.client.put(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "old-admins", "namespace": NS},
        }
    )
    w.tenant()
    w.reconcile()
    assert f"RoleBinding {NS}/old-admins" in w.client.written("delete")
    assert "NamespaceAdopted" in w.client.reasons()
    assert w.condition("Ready") == ("True", "Ready")


def test_a_terminating_namespace_is_waited_for() -> None:
    w = world()
    w.tenant()
    w.reconcile()
    ns = w.cache.get("Namespace", NS)
    assert ns is not None
    meta = {
        **ns["metadata"],
        "deletionTimestamp": "2026-12-07T18:00:00Z",
        "resourceVersion": "9999",
    }
    w.cache.upsert("Namespace", {**ns, "metadata": meta})
    assert w.reconcile() == 2.0
    assert w.condition("NamespaceReady") == ("False", "NamespaceTerminating")


def test_a_failed_apply_is_a_false_condition_an_event_and_a_retry() -> None:
    w = world()
    w.tenant()
    w.client.fail[("apply", "ResourceQuota")] = ApiError(403, "Forbidden", "no quota for you")
    assert w.reconcile() == 5.0
    assert w.condition("QuotaApplied") == ("False", "ApplyFailed")
    assert w.condition("Ready")[0] == "False"
    assert "ApplyFailed" in w.client.reasons()


def test_an_invalid_spec_is_said_not_crashed_on() -> None:
    w = world()
    body = w.client.put(tenant_body(NAME, plan="platinum"))
    w.cache.upsert("Tenant", body)
    assert w.reconcile() is None
    assert w.condition("Ready") == ("False", "InvalidSpec")
    assert w.client.written("apply") == []
    assert set(w.client.reasons()) == {"InvalidSpec"}


def test_a_deleted_tenant_writes_nothing_and_drops_its_database_role() -> None:
    db = FakeDatabase(roles={NAME})
    w = world(db=db)
    assert w.reconcile() is None
    assert w.client.writes == []
    assert db.dropped == [NAME]


def test_with_a_database_the_tenant_gets_a_role_and_its_secret() -> None:
    db = FakeDatabase(bytes_stored={NAME: 1234})
    w = world(db=db)
    w.tenant()
    assert w.reconcile() is None
    assert f"Secret {NS}/pf-figma-db" in w.client.written("apply")
    assert "DatabaseCredentials" in w.client.reasons()
    assert w.condition("DatabaseReady") == ("True", "RoleReady")
    status = w.status()
    assert status["database"]["ready"] is True
    assert status["artifacts"] == {"storedBytes": 1234, "retentionDays": 30}


def test_a_database_outage_before_credentials_keeps_the_tenant_unready_and_retries() -> None:
    w = world(db=FakeDatabase(down=True))
    w.tenant()
    assert w.reconcile() == 10.0
    assert w.condition("DatabaseReady") == ("False", "DatabaseUnavailable")
    assert w.condition("Ready")[0] == "False"
    assert w.status()["database"]["ready"] is False


def test_the_ca_bundle_is_copied_into_the_namespace() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n"
    w = world(ca_bundle=pem)
    w.tenant()
    w.reconcile()
    assert f"ConfigMap {NS}/pf-figma-ca" in w.client.written("apply")
    assert "ConfigMap" in {watch.kind for watch in w.controller.watches}
    assert "ConfigMap" not in {watch.kind for watch in world().controller.watches}


def test_the_status_counts_the_tenants_pipelines() -> None:
    w = world()
    w.tenant()
    for name, status in (
        ("queued", None),
        ("running", {"startTime": "2026-12-07T18:00:00Z"}),
        (
            "done",
            {
                "startTime": "2026-12-07T18:00:00Z",
                "completionTime": "2026-12-07T18:01:00Z",
                "conditions": [{"type": "Succeeded", "status": "True"}],
            },
        ),
    ):
        body = pipeline_body(name, NS, status=status)
        w.cache.upsert("DesignPipeline", body)
        w.index.observe(body, deleted=False)
    w.reconcile()
    assert w.status()["pipelines"] == {"running": 1, "queued": 1, "succeeded": 1, "failed": 0}


# --- watches: how events map to keys ------------------------------------------------------


def _keys(w: World, kind: str, obj: dict[str, Any], type_: str = "ADDED") -> list[Request]:
    out: list[Request] = []
    for watch in w.controller.watches:
        if watch.kind == kind:
            out.extend(watch.to_keys(event(obj, type_)))
    return out


def test_a_tenant_and_its_children_map_to_the_tenant() -> None:
    w = world()
    assert _keys(w, "Tenant", tenant_body(NAME)) == [Request(NAME)]
    child = {
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "x",
            "namespace": NS,
            "labels": {TENANT_LABEL: NAME, MANAGED_BY_LABEL: MANAGED_BY},
        },
    }
    assert _keys(w, "NetworkPolicy", child, "DELETED") == [Request(NAME)]
    unlabelled = {"kind": "NetworkPolicy", "metadata": {"name": "y", "namespace": NS}}
    assert _keys(w, "NetworkPolicy", unlabelled) == []
    kinds = {(watch.kind, watch.labels) for watch in w.controller.watches}
    assert ("Namespace", f"{MANAGED_BY_LABEL}={MANAGED_BY}") in kinds
    assert ("Tenant", None) in kinds


def test_a_pipeline_changing_state_requeues_its_tenant_once_coalesced() -> None:
    w = world()
    body = pipeline_body("p", NS)

    def seen(obj: dict[str, Any], type_: str = "MODIFIED") -> list[Request]:
        w.index.observe(obj, deleted=type_ == "DELETED")
        return _keys(w, "DesignPipeline", obj, type_)

    assert seen(body, "ADDED") == [Request(NAME, 0.5)]  # counted as queued at once
    assert seen(body) == []  # same state: nothing to count
    running = {**body, "status": {"startTime": "2026-12-07T18:00:00Z"}}
    assert seen(running) == [Request(NAME, 0.5)]
    assert seen(running) == []
    assert seen(running, "DELETED") == [Request(NAME, 0.5)]
    stray = pipeline_body("q", "elsewhere")
    assert seen(stray, "ADDED") == []  # not a tenant's namespace: no Tenant to requeue


def test_the_resync_requeues_every_tenant_and_drops_orphaned_roles() -> None:
    db = FakeDatabase(roles={NAME, "gone"})
    w = world(db=db)
    w.tenant()
    w.controller.config = TenantConfig(
        render=RenderSettings(), agent_resources=checks.AgentResources(), resync_seconds=0.01
    )

    async def one_round() -> None:
        task = asyncio.ensure_future(w.controller.start())
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(one_round())
    assert NAME in w.queue.keys()
    assert db.roles == {NAME}


@pytest.mark.parametrize("found", [True, False])
def test_a_tenant_deleted_while_reconciled_is_not_an_error(found: bool) -> None:
    w = world()
    w.tenant()
    w.client.fail[("patch_status", "Tenant")] = ApiError(404, "NotFound", "gone")
    if found:  # still there (e.g. a 404 for another reason): the error is raised for a retry
        with pytest.raises(ApiError):
            w.reconcile()
    else:
        del w.client.objects[("Tenant", "", NAME)]
        assert w.reconcile() is None

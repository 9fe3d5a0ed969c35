"""The admission controller's decisions against in-memory ports: which pipelines it hands to
the pipeline controller (admitted, rejected, shown queued) and when it decides again.
tests/integration/test_pipelines.py (queue full, suspended tenant, fair share, queued counts)
proves the same on a real cluster."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pf_operator.admission import KEY, AdmissionConfig, AdmissionController
from pf_operator.cache import Store
from pf_operator.index import PipelineIndex
from pf_operator.ports import Request
from tests.unit.fakes import FakeQueue, cache, event, pipeline_body, tenant_body

NAME = "acme"
NS = f"tenant-{NAME}"


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    controller: AdmissionController
    cache: Store
    index: PipelineIndex
    own: FakeQueue
    pipelines: FakeQueue
    clock: Clock = field(default_factory=Clock)

    def see(self, kind: str, obj: dict[str, Any], type_: str = "ADDED") -> list[Request]:
        """A watch event as the manager hands it over (cache and index first)."""
        if type_ == "DELETED":
            self.cache.delete(kind, obj)
        else:
            self.cache.upsert(kind, obj)
        if kind == "DesignPipeline":
            self.index.observe(obj, deleted=type_ == "DELETED")
        out: list[Request] = []
        for watch in self.controller.watches:
            if watch.kind == kind:
                out.extend(watch.to_keys(event(obj, type_)))
        return out

    def decide(self) -> float | None:
        return asyncio.run(self.controller.reconcile(KEY))


def world(*, database: bool = False, global_max: int = 50, refresh: float = 2.0) -> World:
    store = cache()
    index = PipelineIndex(store, "tenant-")
    own, pipelines, clock = FakeQueue(), FakeQueue(), Clock()
    controller = AdmissionController(
        cache=store,
        index=index,
        queue=own,
        pipelines=pipelines,
        config=AdmissionConfig(
            global_max_concurrent=global_max, refresh_seconds=refresh, database=database
        ),
        clock=clock,
    )
    return World(controller, store, index, own, pipelines, clock)


def pipelines(w: World, *names: str) -> None:
    for i, name in enumerate(names):
        created = f"2026-12-07T18:00:{i:02d}Z"
        w.see("DesignPipeline", pipeline_body(name, NS, created=created))


def test_admits_what_fits_and_shows_the_rest_queued_at_once() -> None:
    w = world()
    assert w.see("Tenant", tenant_body(NAME, pipelines={"maxConcurrent": 1})) == [Request(KEY)]
    pipelines(w, "a", "b")
    assert w.decide() is None
    c = w.controller
    assert w.pipelines.take() == [f"{NS}/a", f"{NS}/b"]  # a to start, b to show it is queued
    assert c.verdict(f"{NS}/a").admitted
    b = c.verdict(f"{NS}/b")
    assert not b.admitted and b.position == 1 and b.blocked == f"tenant {NAME} at maxConcurrent=1"


def test_a_finished_pipeline_frees_its_slot_for_the_next() -> None:
    w = world()
    w.see("Tenant", tenant_body(NAME, pipelines={"maxConcurrent": 1}))
    pipelines(w, "a", "b")
    w.decide()
    w.pipelines.take()
    w.controller.finished(f"{NS}/a")
    assert w.own.keys() == [KEY]  # decide again
    w.decide()
    assert w.pipelines.take() == [f"{NS}/b"]
    assert w.controller.admitted(f"{NS}/b")


def test_the_global_cap_holds_across_tenants() -> None:
    w = world(global_max=1)
    w.see("Tenant", tenant_body(NAME))
    pipelines(w, "a", "b")
    w.decide()
    assert w.controller.admitted(f"{NS}/a") and not w.controller.admitted(f"{NS}/b")


def test_a_full_queue_rejects_and_hands_the_pipeline_over_to_fail_it() -> None:
    w = world()
    w.see("Tenant", tenant_body(NAME, pipelines={"maxConcurrent": 1, "maxQueued": 1}))
    pipelines(w, "a", "b", "c")
    w.decide()
    reason = w.controller.rejected(f"{NS}/c")
    assert reason is not None and "maxQueued" in reason
    assert f"{NS}/c" in w.pipelines.take()
    # the pipeline controller reconciles a rejected pipeline on its next event
    assert w.controller.verdict(f"{NS}/c").rejected == reason


def test_a_suspended_tenant_keeps_its_pipelines_queued() -> None:
    w = world()
    w.see("Tenant", tenant_body(NAME, suspended=True))
    pipelines(w, "a")
    w.decide()
    verdict = w.controller.verdict(f"{NS}/a")
    assert not verdict.admitted and verdict.blocked == f"tenant {NAME} is suspended"
    w.see("Tenant", tenant_body(NAME, generation=2), "MODIFIED")  # resumed
    w.decide()
    assert w.controller.admitted(f"{NS}/a")


def test_with_a_database_pipelines_wait_for_the_tenants_credentials() -> None:
    w = world(database=True)
    w.see("Tenant", tenant_body(NAME))
    pipelines(w, "a")
    w.decide()
    assert w.controller.verdict(f"{NS}/a").blocked == (
        f"waiting for tenant {NAME}'s database credentials"
    )
    ready = {**tenant_body(NAME), "status": {"database": {"ready": True}}}
    assert w.see("Tenant", ready, "MODIFIED") == [Request(KEY)]
    w.decide()
    assert w.controller.admitted(f"{NS}/a")


def test_an_unchanged_tenant_does_not_wake_it() -> None:
    w = world()
    body = tenant_body(NAME)
    assert w.see("Tenant", body) == [Request(KEY)]
    assert w.see("Tenant", body, "MODIFIED") == []
    assert w.see("Tenant", body, "DELETED") == [Request(KEY)]


def test_queued_positions_are_refreshed_at_most_every_refresh_seconds() -> None:
    w = world(refresh=2.0)
    w.see("Tenant", tenant_body(NAME, pipelines={"maxConcurrent": 1}))
    pipelines(w, "a", "b", "c")
    assert w.decide() is None  # first refresh: at once
    w.pipelines.take()
    # a new queued pipeline changes the decision; its status says nothing yet
    w.see("DesignPipeline", pipeline_body("d", NS, created="2026-12-07T18:00:09Z"))
    w.clock.now += 0.5
    assert w.decide() == 1.5  # the next refresh is due in 1.5 s: the manager requeues then
    w.clock.now += 1.5
    assert w.decide() is None
    assert set(w.pipelines.take()) == {f"{NS}/b", f"{NS}/c", f"{NS}/d"}


def test_a_written_queue_position_close_enough_is_not_rewritten() -> None:
    w = world(refresh=0.1)
    w.see("Tenant", tenant_body(NAME, pipelines={"maxConcurrent": 1}))
    pipelines(w, "a")
    reason = f"tenant {NAME} at maxConcurrent=1"
    written = {
        "queuePosition": 1,
        "conditions": [
            {"type": "Admitted", "status": "False", "reason": "Queued", "message": reason}
        ],
    }
    w.see("DesignPipeline", pipeline_body("b", NS, created="2026-12-07T18:00:05Z", status=written))
    w.decide()
    assert w.pipelines.take() == [f"{NS}/a"]  # b's status already says it all


def test_a_deleted_or_finished_pipeline_leaves_the_queue() -> None:
    w = world()
    w.see("Tenant", tenant_body(NAME, pipelines={"maxConcurrent": 1}))
    pipelines(w, "a", "b")
    w.decide()
    w.pipelines.take()
    a = pipeline_body("a", NS, created="2026-12-07T18:00:00Z")
    assert w.see("DesignPipeline", a, "DELETED") == [Request(KEY)]
    w.decide()
    assert w.pipelines.take() == [f"{NS}/b"]
    done = {
        **pipeline_body("b", NS),
        "status": {"completionTime": "2026-12-07T18:01:00Z", "conditions": []},
    }
    assert w.see("DesignPipeline", done, "MODIFIED") == [Request(KEY)]
    assert not w.controller.admitted(f"{NS}/b")
    assert w.see("DesignPipeline", done, "MODIFIED") == []  # already out

"""The admission controller gives a tenant's Figma token at most maxConcurrentAnalyze analyze
stages (issue 20): Figma-sourced pipelines wait for a slot, which frees when analyze ends."""

from __future__ import annotations

import asyncio

from pf_operator.admission import KEY, AdmissionConfig, AdmissionController
from pf_operator.index import PipelineIndex
from tests.unit.fakes import FakeQueue, cache, event, pipeline_body, tenant_body

NS = "tenant-acme"
FIGMA = {"figma": {"url": "https://www.figma.com/design/AbC123/Kit?node-id=1-2"}}


def test_figma_pipelines_wait_for_a_slot_of_the_tenant_token() -> None:
    store = cache()
    index = PipelineIndex(store, "tenant-")
    own, handed = FakeQueue(), FakeQueue()
    controller = AdmissionController(
        cache=store,
        index=index,
        queue=own,
        pipelines=handed,
        config=AdmissionConfig(figma_max_concurrent=3),
    )

    def see(kind: str, obj: dict[str, object]) -> None:
        store.upsert(kind, obj)
        if kind == "DesignPipeline":
            index.observe(obj, deleted=False)
        for watch in controller.watches:
            if watch.kind == kind:
                watch.to_keys(event(obj))

    # the tenant's own cap (1) wins over the operator's (3)
    see("Tenant", tenant_body("acme", figma={"maxConcurrentAnalyze": 1}))
    for i, name in enumerate(("f1", "f2", "cm")):
        source = FIGMA if name != "cm" else {"configMapRef": {"name": "d", "key": "file.json"}}
        see(
            "DesignPipeline",
            pipeline_body(name, NS, created=f"2026-12-07T18:00:0{i}Z", source=source),
        )
    asyncio.run(controller.reconcile(KEY))
    assert controller.admitted(f"{NS}/f1") and controller.admitted(f"{NS}/cm")
    waiting = controller.verdict(f"{NS}/f2")
    assert not waiting.admitted and "waiting for a Figma API slot" in str(waiting.blocked)
    assert "maxConcurrentAnalyze=1" in str(waiting.blocked)
    # f1's analyze succeeded: its slot is free for f2
    see(
        "DesignPipeline",
        pipeline_body(
            "f1",
            NS,
            created="2026-12-07T18:00:00Z",
            source=FIGMA,
            status={
                "startTime": "2026-12-07T18:00:05Z",
                "stages": [
                    {"name": "analyze", "state": "Succeeded"},
                    {"name": "generate", "state": "Running"},
                ],
            },
        ),
    )
    asyncio.run(controller.reconcile(KEY))
    assert controller.admitted(f"{NS}/f2")

"""The manager's wiring (main.build) against an in-memory API: what it primes, in which order,
what it caches, and which controller's queue each watch event reaches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pf_operator.collector import CacheFigureSource
from pf_operator.constants import MANAGED_SELECTOR, PIPELINE_LABEL, TENANT_LABEL
from pf_operator.main import build
from pf_operator.manager import Manager
from pf_operator.metrics import CacheGauges
from pf_operator.ports import Request, Watch
from pf_operator.settings import Settings
from tests.unit.fakes import FakeClient, pipeline_body, tenant_body

NS = "tenant-acme"


class ListingClient(FakeClient):
    listed: list[tuple[str, str | None]]

    async def pages(
        self, kind: str, *, label_selector: str | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        self.listed.append((kind, label_selector))
        yield await self.list(kind, label_selector=label_selector)


def manager() -> tuple[Manager, ListingClient]:
    client = ListingClient()
    client.listed = []
    return build(Settings(), kube=client), client  # type: ignore[arg-type]


def test_the_cache_is_primed_owners_first_and_pods_are_not_listed() -> None:
    m, client = manager()
    client.put(tenant_body("acme"))
    asyncio.run(m.prime())
    kinds = [kind for kind, _ in client.listed]
    assert kinds.index("Namespace") < kinds.index("Tenant") < kinds.index("DesignPipeline")
    assert kinds.index("DesignPipeline") < kinds.index("Job")
    assert "Pod" not in kinds and "ConfigMap" not in kinds  # no CA bundle configured
    assert dict(client.listed)["Job"] == MANAGED_SELECTOR
    assert dict(client.listed)["Tenant"] is None
    assert m.cache.synced
    assert m.queues["tenant"].__len__() == 1  # the listed Tenant is reconciled


def test_each_event_reaches_the_queues_of_the_controllers_watching_it() -> None:
    m, _ = manager()

    async def events() -> None:
        m.observe("Tenant", {"type": "ADDED", "object": tenant_body("acme")})
        child = {
            "metadata": {"name": "q", "namespace": NS, "labels": {TENANT_LABEL: "acme"}},
        }
        m.observe("ResourceQuota", {"type": "MODIFIED", "object": child})
        m.observe(
            "DesignPipeline",
            {"type": "ADDED", "object": pipeline_body("p", NS, status={"startTime": "x"})},
        )
        await asyncio.sleep(0.6)  # the tenant's counts are written 0.5 s after a change

    asyncio.run(events())
    assert len(m.queues["tenant"]) == 1  # deduplicated: one key "acme"
    assert len(m.queues["admission"]) == 1
    assert len(m.queues["pipeline"]) == 1  # running: reconciled
    assert m.index.tenant_of(f"{NS}/p") == "acme"
    assert m.cache.get("ResourceQuota", "q", NS) is not None


def on_loop(fn: Any) -> None:
    """Watch events arrive on the event loop (delayed keys need it)."""

    async def run() -> None:
        fn()

    asyncio.run(run())


def test_pods_are_not_cached_and_a_finished_pipelines_jobs_are_dropped() -> None:
    m, _ = manager()
    on_loop(lambda: _finished_pipeline_events(m))


def _finished_pipeline_events(m: Manager) -> None:
    done = pipeline_body(
        "p", NS, status={"completionTime": "2026-12-07T18:00:00Z", "observedGeneration": 1}
    )
    m.observe("DesignPipeline", {"type": "ADDED", "object": done})
    job = {"metadata": {"name": "p-test-1", "namespace": NS, "labels": {PIPELINE_LABEL: "p"}}}
    m.observe("Job", {"type": "MODIFIED", "object": job})
    assert m.cache.get("Job", "p-test-1", NS) is None
    assert len(m.queues["pipeline"]) == 0
    pod = {"metadata": {"name": "x", "namespace": NS, "labels": {PIPELINE_LABEL: "p"}}}
    m.observe("Pod", {"type": "ADDED", "object": pod})
    assert m.cache.count("Pod") == 0


def test_a_kind_watched_with_two_selectors_is_refused() -> None:
    m, _ = manager()

    class Other:
        name = "other"
        workers = 1
        watches = (Watch("Job", lambda e: [Request("x")], labels=None),)

        async def reconcile(self, key: str) -> float | None:
            return None

        async def start(self) -> None:
            return None

    with pytest.raises(ValueError, match="Job"):
        m.add(Other())


def test_the_cache_gauges_are_read_from_the_cache_when_scraped() -> None:
    m, _ = manager()
    on_loop(lambda: _gauge_events(m))
    gauges = CacheGauges()
    gauges.source = CacheFigureSource(m.cache, m.index, m.queues)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in gauges.collect()
        for s in family.samples
    }
    assert samples[("pf_figma_tenants", (("phase", "Ready"),))] == 1
    assert samples[("pf_figma_tenants", (("phase", "Suspended"),))] == 1
    assert samples[("pf_figma_tenants", (("phase", "NotReady"),))] == 0
    assert samples[("pf_figma_pipelines", (("state", "queued"), ("tenant", "acme")))] == 2
    assert samples[("pf_figma_queue_depth", (("tenant", "acme"),))] == 2
    assert ("pf_figma_workqueue_depth", (("queue", "admission"),)) in samples


def _gauge_events(m: Manager) -> None:
    ready = {
        **tenant_body("acme"),
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    m.observe("Tenant", {"type": "ADDED", "object": ready})
    m.observe("Tenant", {"type": "ADDED", "object": tenant_body("idle", suspended=True)})
    for name in ("a", "b"):
        m.observe("DesignPipeline", {"type": "ADDED", "object": pipeline_body(name, NS)})


def test_a_scrape_from_another_thread_is_computed_on_the_loop() -> None:
    m, _ = manager()
    m.observe("Tenant", {"type": "ADDED", "object": tenant_body("acme")})

    async def scrape() -> int:
        source = CacheFigureSource(m.cache, m.index, m.queues, asyncio.get_running_loop())
        figures = await asyncio.to_thread(source)
        return figures.tenants["NotReady"]

    assert asyncio.run(scrape()) == 1

"""The Figma slots of the pure admission queue (pf_operator.scheduler): a tenant's analyze
stages share its Figma token, so at most ``figma_max_concurrent`` of its pipelines are in analyze
with a Figma source at once; the rest wait in the queue (issue 20)."""

from __future__ import annotations

import random

from pf_operator.scheduler import AdmissionQueue, TenantQuota, Workload, decide, needs_figma


def fw(
    key: str, tenant: str = "a", created: float = 0.0, *, priority: int = 50, running: bool = False
) -> Workload:
    """A Figma-sourced workload (waiting, unless running=True)."""
    return Workload(key, tenant, priority, created, running, figma=True)


def tq(name: str = "a", cap: int | None = 2, **kw: object) -> TenantQuota:
    return TenantQuota(
        name,
        1,
        int(kw.pop("max_concurrent", 100)),
        int(kw.pop("max_queued", 100)),
        figma_max_concurrent=cap,
        **kw,  # type: ignore[arg-type]
    )


def test_twenty_figma_pipelines_start_two_at_a_time() -> None:
    ws = [fw(f"ns/p{i:02d}", created=float(i)) for i in range(20)]
    d = decide(ws, {"a": tq(cap=2)}, global_max=50)
    assert d.admit == ("ns/p00", "ns/p01")
    assert len(d.blocked) == 18 and not d.rejected
    assert all("waiting for a Figma API slot" in r for r in d.blocked.values())
    assert "maxConcurrentAnalyze=2" in d.blocked["ns/p19"]
    assert d.positions == {}  # held pipelines get no position


def test_no_cap_admits_up_to_max_concurrent() -> None:
    ws = [fw(f"ns/p{i:02d}", created=float(i)) for i in range(20)]
    d = decide(ws, {"a": tq(cap=None, max_concurrent=5)}, global_max=50)
    assert len(d.admit) == 5


def test_running_analyze_holds_a_slot_and_later_stages_do_not() -> None:
    analyzing = fw("ns/r0", running=True)
    generating = Workload("ns/r1", "a", 50, 0.0, running=True, figma=False)
    waiting = [fw(f"ns/p{i}", created=float(i + 1)) for i in range(3)]
    d = decide([analyzing, generating, *waiting], {"a": tq(cap=2)}, global_max=50)
    assert d.admit == ("ns/p0",)
    # the slot frees when analyze ends: the same pipeline, still running, no longer holds it
    done = Workload("ns/r0", "a", 50, 0.0, running=True, figma=False)
    d = decide([done, generating, *waiting], {"a": tq(cap=2)}, global_max=50)
    assert d.admit == ("ns/p0", "ns/p1")


def test_pipelines_without_figma_pass_held_ones_by() -> None:
    ws = [fw("ns/f0", created=0), fw("ns/f1", created=1), fw("ns/f2", created=2)]
    stored = Workload("ns/cm", "a", 50, 3.0, running=False)
    d = decide([*ws, stored], {"a": tq(cap=1)}, global_max=50)
    assert set(d.admit) == {"ns/f0", "ns/cm"}
    assert set(d.blocked) == {"ns/f1", "ns/f2"}


def test_tokens_are_per_tenant() -> None:
    ws = [fw(f"a/p{i}", "a", float(i)) for i in range(4)] + [
        fw(f"b/p{i}", "b", float(i)) for i in range(4)
    ]
    d = decide(ws, {"a": tq("a", cap=1), "b": tq("b", cap=3)}, global_max=50)
    assert sorted(d.admit) == ["a/p0", "b/p0", "b/p1", "b/p2"]


def test_priority_picks_which_pipeline_gets_the_slot() -> None:
    ws = [fw("ns/old", created=0.0), fw("ns/urgent", created=5.0, priority=90)]
    d = decide(ws, {"a": tq(cap=1)}, global_max=50)
    assert d.admit == ("ns/urgent",)


def test_held_pipelines_count_for_max_queued_and_the_youngest_are_rejected() -> None:
    ws = [fw(f"ns/p{i}", created=float(i)) for i in range(6)]
    d = decide(ws, {"a": tq(cap=1, max_queued=3)}, global_max=50)
    assert d.admit == ("ns/p0",)
    assert set(d.blocked) == {"ns/p1", "ns/p2", "ns/p3"}
    assert set(d.rejected) == {"ns/p4", "ns/p5"}


def test_suspended_tenant_keeps_its_reason() -> None:
    ws = [fw(f"ns/p{i}", created=float(i)) for i in range(3)]
    d = decide(ws, {"a": tq(cap=1, suspended=True)}, global_max=50)
    assert not d.admit
    assert all("suspended" in r for r in d.blocked.values())


def test_cap_holds_over_a_simulated_storm() -> None:
    """20 pipelines of one tenant started at once; analyze of a random admitted one ends at each
    step: never more than the cap in analyze, and every pipeline gets through."""
    rng = random.Random(7)
    q = AdmissionQueue()
    q.set_tenant(tq(cap=3, max_concurrent=10))
    for i in range(20):
        q.upsert(fw(f"ns/p{i:02d}", created=float(i)))
    done: set[str] = set()
    for _ in range(200):
        for key in q.decide(50).admit:
            q.mark_running(key)
        in_analyze = [w for w in q.workloads() if w.running and w.figma]
        assert len(in_analyze) <= 3
        if not in_analyze:
            break
        w = rng.choice(in_analyze)
        # analyze ends; the rest of the pipeline finishes at once
        q.remove(w.key)
        done.add(w.key)
    assert len(done) == 20


def test_needs_figma_from_the_raw_pipeline() -> None:
    figma = {"source": {"figma": {"url": "https://www.figma.com/design/K/x"}}}
    stored = {"source": {"storedRef": {"name": "big"}}}
    assert needs_figma(figma, {})
    assert needs_figma(figma, {"stages": [{"name": "analyze", "state": "Running"}]})
    assert needs_figma(figma, {"stages": [{"name": "analyze", "state": "Pending"}]})  # retry
    assert not needs_figma(figma, {"stages": [{"name": "analyze", "state": "Succeeded"}]})
    assert not needs_figma(figma, {"stages": [{"name": "analyze", "state": "Failed"}]})
    assert not needs_figma(stored, {})

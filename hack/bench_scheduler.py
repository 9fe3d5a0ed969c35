#!/usr/bin/env python3
"""Micro-benchmark for pf_operator.scheduler.decide / AdmissionQueue.

Usage: .venv/bin/python hack/bench_scheduler.py [--repeat N]

Prints one row per scenario: wall time of a cold ``AdmissionQueue.decide`` (cache
invalidated by one upsert before each call): best, median and worst of N repetitions, and
the cost of a cached call (nothing changed since the last decision) in microseconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from pf_operator.scheduler import AdmissionQueue, TenantQuota, Workload

Scenario = Callable[[random.Random], tuple[list[Workload], list[TenantQuota], int]]


def _tenants(rng: random.Random, n: int, max_concurrent: int = 20) -> list[TenantQuota]:
    return [
        TenantQuota(
            name=f"t{i:04d}",
            weight=rng.choice((1, 1, 1, 2, 2, 4)),
            max_concurrent=rng.randint(1, max_concurrent),
            max_queued=rng.randint(5, 50),
            suspended=rng.random() < 0.02,
        )
        for i in range(n)
    ]


def _workloads(
    rng: random.Random, n: int, tenants: list[str], running_frac: float, skew: float = 0.0
) -> list[Workload]:
    out = []
    for i in range(n):
        tenant = tenants[0] if rng.random() < skew else rng.choice(tenants)
        out.append(
            Workload(
                key=f"ns-{tenant}/p{i:05d}",
                tenant=tenant,
                priority=rng.choice((0, 10, 50, 50, 50, 90, 100)),
                created=1_700_000_000.0 + rng.random() * 86_400,
                running=rng.random() < running_frac,
            )
        )
    return out


def uniform_all_queued(rng: random.Random) -> tuple[list[Workload], list[TenantQuota], int]:
    ts = _tenants(rng, 1000)
    for i, t in enumerate(ts):  # deep queues: no rejections
        ts[i] = TenantQuota(t.name, t.weight, t.max_concurrent, 10_000, t.suspended)
    return _workloads(rng, 10_000, [t.name for t in ts], 0.0), ts, 500


def uniform_mixed(rng: random.Random) -> tuple[list[Workload], list[TenantQuota], int]:
    ts = _tenants(rng, 1000)
    return _workloads(rng, 10_000, [t.name for t in ts], 0.2), ts, 2500


def one_hot_tenant(rng: random.Random) -> tuple[list[Workload], list[TenantQuota], int]:
    ts = _tenants(rng, 1000)
    ts[0] = TenantQuota(ts[0].name, 4, 200, 10_000, False)
    return _workloads(rng, 10_000, [t.name for t in ts], 0.1, skew=0.5), ts, 1000


def tiny_global(rng: random.Random) -> tuple[list[Workload], list[TenantQuota], int]:
    ts = _tenants(rng, 1000)
    for i, t in enumerate(ts):
        ts[i] = TenantQuota(t.name, t.weight, t.max_concurrent, 10_000, t.suspended)
    return _workloads(rng, 10_000, [t.name for t in ts], 0.004), ts, 50


def few_tenants(rng: random.Random) -> tuple[list[Workload], list[TenantQuota], int]:
    ts = _tenants(rng, 10, max_concurrent=500)
    for i, t in enumerate(ts):
        ts[i] = TenantQuota(t.name, t.weight, t.max_concurrent, 10_000, False)
    return _workloads(rng, 10_000, [t.name for t in ts], 0.05), ts, 1000


SCENARIOS: dict[str, Scenario] = {
    "uniform, all queued": uniform_all_queued,
    "uniform, 20% running": uniform_mixed,
    "one tenant has 50%": one_hot_tenant,
    "global_max=50": tiny_global,
    "10 tenants": few_tenants,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()

    header = (
        f"{'scenario':<24}{'workloads':>10}{'tenants':>9}{'global':>8}"
        f"{'admit':>7}{'reject':>8}{'pos':>7}{'best ms':>9}{'median ms':>11}{'max ms':>9}"
        f"{'cached us':>11}"
    )
    print(header)
    print("-" * len(header))
    for name, make in SCENARIOS.items():
        rng = random.Random(42)
        workloads, tenants, global_max = make(rng)
        q = AdmissionQueue()
        for t in tenants:
            q.set_tenant(t)
        for w in workloads:
            q.upsert(w)
        times = []
        d = q.decide(global_max)
        for i in range(args.repeat):
            # Toggle one workload's priority to invalidate the cache like a real event.
            w = workloads[i % len(workloads)]
            q.upsert(Workload(w.key, w.tenant, w.priority + 1 + i, w.created, w.running))
            t0 = time.perf_counter()
            d = q.decide(global_max)
            times.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        for _ in range(1000):
            q.decide(global_max)
        cached_us = (time.perf_counter() - t0) * 1000
        print(
            f"{name:<24}{len(workloads):>10}{len(tenants):>9}{global_max:>8}"
            f"{len(d.admit):>7}{len(d.rejected):>8}{len(d.positions):>7}"
            f"{min(times):>9.1f}{statistics.median(times):>11.1f}{max(times):>9.1f}"
            f"{cached_us:>11.2f}"
        )


if __name__ == "__main__":
    main()

"""Two operator replicas with Lease-based leader election: one leads, the other takes over."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Cluster, OperatorProcess, make_operator, unique, wait_for
from tests.integration.test_pipelines import (
    condition,
    design_source,
    finished,
    jobs_of,
    pipeline,
    tenant_ready,
)

pytestmark = pytest.mark.cluster


def role(op: OperatorProcess) -> str | None:
    try:
        return httpx.get(op.health_url, timeout=1).json().get("role")
    except (httpx.HTTPError, ValueError):
        return None


def test_leader_failover(cluster: Cluster, operator: OperatorProcess, tmp_path: Path) -> None:
    operator.stop()
    lease = unique("lease")
    settings = {
        "leader_election": "true",
        "leader_election_lease": lease,
        "leader_election_namespace": "kube-system",
    }
    a = make_operator(cluster, tmp_path, **settings)
    b = make_operator(cluster, tmp_path, **settings)
    tenant = unique("ha")
    ns = f"tenant-{tenant}"
    try:
        a.start()
        wait_for(lambda: role(a) == "leader", 20, what="a leads")
        b.start()
        assert role(b) == "standby"
        cluster.apply(
            {
                "apiVersion": "pffigma.dev/v1alpha1",
                "kind": "Tenant",
                "metadata": {"name": tenant},
                "spec": {"plan": "pro"},
            }
        )
        wait_for(lambda: tenant_ready(cluster, tenant), 30, what="tenant ready")
        design_source(cluster, ns)
        names = [f"ha-{i}" for i in range(6)]
        for name in names:
            cluster.apply(pipeline(name, ns, {"pffigma.dev/simulate-duration": "2s"}))
        wait_for(lambda: any(jobs_of(cluster, n, ns) for n in names), 20, what="work started")
        a.stop(signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: role(b) == "leader", 30, what="b takes over")
        failover = time.monotonic() - killed
        print(f"\nleader failover after SIGKILL: {failover:.1f}s")
        assert failover <= 15
        for name in names:
            obj = wait_for(lambda n=name: finished(cluster, n, ns), 60, what=f"{name} done")
            assert condition(obj, "Succeeded")["reason"] == "Succeeded"
            jobs = sorted(j["metadata"]["name"] for j in jobs_of(cluster, name, ns))
            assert jobs == sorted(f"{name}-{s}-1" for s in ("analyze", "generate", "test"))
        # graceful hand-over: the leader releases the Lease on SIGTERM
        a.start()
        assert role(a) == "standby"
        b.stop()
        start = time.monotonic()
        wait_for(lambda: role(a) == "leader", 10, what="a leads again")
        assert time.monotonic() - start < 5
    finally:
        a.stop()
        b.stop()
        cluster.delete("tenant", tenant)
        operator.start()

"""Two operator replicas with Lease-based leader election: one leads, the other takes over."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from pf_operator.model import DEFAULT_STAGES
from tests.conftest import (
    Cluster,
    OperatorProcess,
    in_place_of,
    make_operator,
    unique,
    wait_for,
)
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
            stages = obj["spec"].get("stages") or DEFAULT_STAGES  # as the pipeline asked
            assert jobs == sorted(f"{name}-{s}-1" for s in stages)
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


def test_standby_ignores_the_holders_clock(
    cluster: Cluster, operator: OperatorProcess, tmp_path: Path
) -> None:
    """Expiry is measured on the standby's own clock from when it saw the Lease change: a holder
    whose renewTime lies an hour in the past keeps the Lease while it renews; when it stops,
    with a last renewTime an hour in the future, the standby takes over one lease later."""
    lease, namespace = unique("skew"), "kube-system"
    stop = threading.Event()

    def write(renewed: datetime) -> None:
        stamp = renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        cluster.apply(
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": lease, "namespace": namespace},
                "spec": {
                    "holderIdentity": "skewed-holder",
                    "leaseDurationSeconds": 10,
                    "acquireTime": stamp,
                    "renewTime": stamp,
                },
            }
        )

    def renew() -> None:  # a live holder whose clock is an hour behind
        while not stop.wait(2):
            write(datetime.now(UTC) - timedelta(hours=1))

    write(datetime.now(UTC) - timedelta(hours=1))
    renewer = threading.Thread(target=renew, daemon=True)
    renewer.start()
    standby = make_operator(
        cluster,
        tmp_path,
        leader_election="true",
        leader_election_lease=lease,
        leader_election_namespace=namespace,
    )
    try:
        with in_place_of(operator, standby):
            assert role(standby) == "standby"
            time.sleep(15)  # longer than the lease, yet the holder renews
            assert role(standby) == "standby"
            stop.set()
            renewer.join()
            write(datetime.now(UTC) + timedelta(hours=1))  # its last renewal, clock now ahead
            last = time.monotonic()
            wait_for(lambda: role(standby) == "leader", 30, what="the standby takes over")
            took = time.monotonic() - last
            print(f"\ntakeover {took:.1f}s after the holder's last renewal")
            assert 8 <= took <= 20
    finally:
        stop.set()
        cluster.kubectl("delete", "lease", lease, "-n", namespace, check=False)

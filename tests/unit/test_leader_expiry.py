"""Leader election decides expiry on its own monotonic clock, never from the holder's renewTime.

An in-memory Lease endpoint stands in for the API server; each replica has its own wall clock
(written into the Lease) and its own monotonic clock (used for expiry), so skew between nodes
can be set freely.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pf_operator.kube import ApiError
from pf_operator.leader import LeaderElector, Observation

LEASE = 10
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class FakeLeases:
    """The Lease part of Kube: GET, POST (conflict if present), PUT (conflict on stale rv)."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0

    async def get_or_none(self, kind: str, name: str, namespace: str | None = None) -> Any:
        assert kind == "Lease"
        return copy.deepcopy(self.lease)

    async def request(self, method: str, path: str, *, body: Any = None, **_: Any) -> Any:
        if method == "POST":
            if self.lease is not None:
                raise ApiError(409, "AlreadyExists", "lease exists")
        elif method == "PUT":
            assert self.lease is not None
            if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", "stale resourceVersion")
        else:
            raise AssertionError(method)
        self.version += 1
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)


class Replica:
    """One operator replica: a local monotonic clock and a (possibly skewed) wall clock."""

    def __init__(self, leases: FakeLeases, name: str, skew: timedelta = timedelta(0)) -> None:
        self.mono = 1000.0  # monotonic clocks start anywhere
        self.skew = skew
        self.elector = LeaderElector(
            leases,  # type: ignore[arg-type]
            "ns",
            "lease",
            lease_seconds=LEASE,
            identity=name,
            clock=lambda: self.mono,
            wall=lambda: T0 + timedelta(seconds=self.mono - 1000.0) + self.skew,
        )

    def advance(self, seconds: float) -> None:
        self.mono += seconds

    async def tick(self) -> bool:
        return await self.elector.try_acquire_or_renew()


def holder(leases: FakeLeases) -> str | None:
    assert leases.lease is not None
    holder_identity: str | None = leases.lease["spec"].get("holderIdentity")
    return holder_identity


async def run(replicas: list[Replica], seconds: int, alive: set[str]) -> list[str | None]:
    """Advance every clock by 1 s at a time; live replicas try to acquire or renew each second."""
    holders = []
    for _ in range(seconds):
        for replica in replicas:
            replica.advance(1)
            if replica.elector.identity in alive:
                await replica.tick()
        holders.append(holder(replicas[0].elector.kube))  # type: ignore[arg-type]
    return holders


@pytest.mark.parametrize("skew", [timedelta(hours=-3), timedelta(hours=5), timedelta(0)])
async def test_live_leader_keeps_the_lease_whatever_its_clock(skew: timedelta) -> None:
    """The leader's renewTime is hours in the past or the future: a standby never takes over."""
    leases = FakeLeases()
    a = Replica(leases, "a", skew=skew)
    b = Replica(leases, "b")
    assert await a.tick()
    assert not await b.tick()
    holders = await run([a, b], 5 * LEASE, alive={"a", "b"})
    assert set(holders) == {"a"}
    assert leases.lease is not None
    renew = datetime.fromisoformat(leases.lease["spec"]["renewTime"].replace("Z", "+00:00"))
    assert abs(renew - T0 - skew) <= timedelta(seconds=6 * LEASE)  # the Lease carries a's clock


@pytest.mark.parametrize("skew", [timedelta(hours=-3), timedelta(hours=5), timedelta(0)])
async def test_dead_leader_is_replaced_after_one_lease_duration(skew: timedelta) -> None:
    """A dead leader whose renewTime lies far in the future (or past) is replaced on time."""
    leases = FakeLeases()
    a = Replica(leases, "a", skew=skew)
    b = Replica(leases, "b")
    assert await a.tick()
    holders = await run([a, b], 3, alive={"a", "b"})
    assert holders[-1] == "a"
    holders = await run([a, b], 2 * LEASE, alive={"b"})  # a dies
    taken = holders.index("b") + 1
    assert LEASE <= taken <= LEASE + 1  # measured from b's last sight of a renewal
    assert leases.lease is not None
    assert leases.lease["spec"]["leaseTransitions"] == 1


async def test_fresh_standby_waits_a_full_duration_even_for_an_old_renew_time() -> None:
    """A replica that just started cannot know the holder is dead: it waits leaseDurationSeconds
    from its first sight of the Lease, however old renewTime looks on its clock."""
    leases = FakeLeases()
    a = Replica(leases, "a", skew=timedelta(days=-1))
    assert await a.tick()
    b = Replica(leases, "b")
    b.advance(3600)
    assert not await b.tick()
    b.advance(LEASE - 1)
    assert not await b.tick()
    b.advance(2)
    assert await b.tick()
    assert holder(leases) == "b"


async def test_released_lease_is_taken_at_once() -> None:
    leases = FakeLeases()
    a = Replica(leases, "a")
    b = Replica(leases, "b")
    assert await a.tick()
    assert not await b.tick()
    a.elector.is_leader = True
    await a.elector.release()
    assert holder(leases) is None
    assert await b.tick()
    assert holder(leases) == "b"


async def test_leader_renews_its_own_lease() -> None:
    leases = FakeLeases()
    a = Replica(leases, "a", skew=timedelta(hours=2))
    assert await a.tick()
    version = leases.version
    a.advance(LEASE * 3)  # even long after: the holder itself may always renew
    assert await a.tick()
    assert leases.version == version + 1
    assert holder(leases) == "a"


async def test_concurrent_takeover_has_one_winner() -> None:
    leases = FakeLeases()
    a, b, c = Replica(leases, "a"), Replica(leases, "b"), Replica(leases, "c")
    assert await a.tick()
    assert not await b.tick()
    assert not await c.tick()
    b.advance(LEASE + 1)
    c.advance(LEASE + 1)
    won = [await b.tick(), await c.tick()]
    assert won == [True, False]
    assert holder(leases) == "b"


def test_observation_counts_only_changes() -> None:
    now = [0.0]
    seen = Observation(lambda: now[0])
    lease = {
        "metadata": {"resourceVersion": "1"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 10, "renewTime": "x"},
    }
    assert not seen.expired(lease)
    now[0] = 9.5
    assert not seen.expired(lease)
    now[0] = 10.5
    assert seen.expired(lease)  # unchanged for longer than the duration
    lease["metadata"]["resourceVersion"] = "2"
    assert not seen.expired(lease)  # a renewal seen now starts the duration again
    now[0] = 20.0
    assert not seen.expired(lease)
    now[0] = 20.6
    assert seen.expired(lease)
    assert seen.expired({"metadata": {}, "spec": {"holderIdentity": None}})

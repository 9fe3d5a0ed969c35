"""Leader election on a coordination.k8s.io/v1 Lease (what client-go's leaderelection does).

kopf's peering only pauses lower-priority instances; it is not leader election. Here only the
replica that holds the Lease runs the watches and reconcilers. A replica that cannot renew in
time exits, so it never processes anything while another one leads; the Deployment restarts it
as a follower. On shutdown the leader releases the Lease, so a rolling update hands over at once.
Expiry is measured on this replica's monotonic clock from when it last saw the Lease change
(`Observation`), never from the holder's renewTime: node clocks may differ.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from . import metrics
from .kube import ApiError, Kube
from .times import format_micro_time

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _record(lease: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies one write of the Lease: a change of any of these is a sign of life."""
    spec = lease.get("spec") or {}
    return (
        (lease.get("metadata") or {}).get("resourceVersion"),
        spec.get("holderIdentity"),
        spec.get("renewTime"),
        spec.get("leaseTransitions"),
    )


class Observation:
    """When this replica last saw the Lease change, on its own monotonic clock.

    client-go's leaderelection never compares the holder's renewTime with the local wall clock:
    nodes' clocks differ. A Lease counts as expired once it has not changed for
    leaseDurationSeconds as measured here, from the moment this replica observed the change.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.record: tuple[Any, ...] | None = None
        self.at = 0.0

    def observe(self, lease: Any) -> None:
        if not isinstance(lease, dict):
            return
        record = _record(lease)
        if record != self.record:
            self.record = record
            self.at = self.clock()

    def expired(self, lease: dict[str, Any]) -> bool:
        """Has the holder of `lease` (observed before) not renewed it within its duration?"""
        spec = lease.get("spec") or {}
        if not spec.get("holderIdentity"):
            return True  # released
        self.observe(lease)
        duration = int(spec.get("leaseDurationSeconds") or 0)
        return self.clock() > self.at + duration


class LeaderElector:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        *,
        lease_seconds: int = 10,
        renew_seconds: float = 3.0,
        retry_seconds: float = 1.0,
        identity: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = _now,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.retry_seconds = retry_seconds
        self.identity = identity or f"{os.environ.get('HOSTNAME', 'local')}-{uuid.uuid4().hex[:6]}"
        self.is_leader = False
        self.observed = Observation(clock)
        self.wall = wall

    def _lease(self, spec: dict[str, Any], resource_version: str | None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if resource_version:
            meta["resourceVersion"] = resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": spec,
        }

    async def try_acquire_or_renew(self) -> bool:
        now = self.wall()  # only written into the Lease, for people; never compared
        path = f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"
        current = await self.kube.get_or_none("Lease", self.name, self.namespace)
        if current is None:
            spec: dict[str, Any] = {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.lease_seconds,
                "acquireTime": format_micro_time(now),
                "renewTime": format_micro_time(now),
                "leaseTransitions": 0,
            }
            try:
                created = await self.kube.request("POST", path, body=self._lease(spec, None))
            except ApiError as err:
                if err.conflict:
                    return False
                raise
            self.observed.observe(created)
            return True
        spec = dict(current.get("spec") or {})
        holder = spec.get("holderIdentity")
        if holder != self.identity and not self.observed.expired(current):
            return False
        if holder != self.identity:
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
            spec["acquireTime"] = format_micro_time(now)
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=self.lease_seconds,
            renewTime=format_micro_time(now),
        )
        try:  # optimistic concurrency: the update fails if someone else wrote first
            updated = await self.kube.request(
                "PUT",
                f"{path}/{self.name}",
                body=self._lease(spec, current["metadata"]["resourceVersion"]),
            )
        except ApiError as err:
            if err.conflict:
                return False
            raise
        self.observed.observe(updated)
        return True

    async def acquire(self) -> None:
        """Wait until this replica leads."""
        await self._ensure_namespace()
        log.info(
            "waiting for leadership",
            extra={"lease": f"{self.namespace}/{self.name}", "identity": self.identity},
        )
        while True:
            try:
                if await self.try_acquire_or_renew():
                    self.is_leader = True
                    metrics.LEADER.set(1)
                    log.info("acquired leadership", extra={"identity": self.identity})
                    return
            except (ApiError, OSError, aiohttp.ClientError, TimeoutError) as err:
                log.warning("leader election: %s", err)
            await asyncio.sleep(self.retry_seconds)

    async def hold(self) -> None:
        """Renew until renewal fails for longer than the lease; then return (leadership lost)."""
        last_ok = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(self.renew_seconds)
            try:
                ok = await self.try_acquire_or_renew()
            except (ApiError, OSError, aiohttp.ClientError, TimeoutError) as err:
                log.warning("lease renewal failed: %s", err)
                ok = False
            now = asyncio.get_running_loop().time()
            if ok:
                last_ok = now
            elif now - last_ok > self.lease_seconds - self.renew_seconds:
                self.is_leader = False
                metrics.LEADER.set(0)
                log.error("lost leadership", extra={"identity": self.identity})
                return

    async def release(self) -> None:
        if not self.is_leader:
            return
        try:
            current = await self.kube.get_or_none("Lease", self.name, self.namespace)
            if current and (current.get("spec") or {}).get("holderIdentity") == self.identity:
                spec = dict(current["spec"])
                spec.update(holderIdentity=None, renewTime=None, acquireTime=None)
                path = (
                    f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases/{self.name}"
                )
                await self.kube.request(
                    "PUT", path, body=self._lease(spec, current["metadata"]["resourceVersion"])
                )
                log.info("released leadership")
        except (ApiError, OSError, aiohttp.ClientError, TimeoutError) as err:
            log.warning("could not release the lease: %s", err)
        self.is_leader = False
        metrics.LEADER.set(0)

    async def _ensure_namespace(self) -> None:
        if await self.kube.get_or_none("Namespace", self.namespace) is None:
            try:
                await self.kube.create(
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
                )
            except ApiError as err:
                if not err.conflict and err.status != 403:
                    raise

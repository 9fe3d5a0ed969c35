"""Leader election on a coordination.k8s.io/v1 Lease (what client-go's leaderelection does).

kopf's peering only pauses lower-priority instances; it is not leader election. Here only the
replica that holds the Lease runs the watches and reconcilers. A replica that cannot renew in
time exits, so it never processes anything while another one leads; the Deployment restarts it
as a follower. On shutdown the leader releases the Lease, so a rolling update hands over at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from . import metrics
from .kube import ApiError, Kube

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _fmt(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def expired(spec: dict[str, Any], now: datetime) -> bool:
    """Pure: has the current holder's lease run out (or been released)?"""
    if not spec.get("holderIdentity"):
        return True
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    if renewed is None:
        return True
    return now > renewed + timedelta(seconds=int(spec.get("leaseDurationSeconds") or 0))


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
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.retry_seconds = retry_seconds
        self.identity = identity or f"{os.environ.get('HOSTNAME', 'local')}-{uuid.uuid4().hex[:6]}"
        self.is_leader = False
        self._transitions = 0

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
        now = _now()
        path = f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"
        current = await self.kube.get_or_none("Lease", self.name, self.namespace)
        if current is None:
            spec = {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.lease_seconds,
                "acquireTime": _fmt(now),
                "renewTime": _fmt(now),
                "leaseTransitions": 0,
            }
            try:
                await self.kube.request("POST", path, body=self._lease(spec, None))
            except ApiError as err:
                if err.conflict:
                    return False
                raise
            return True
        spec = dict(current.get("spec") or {})
        holder = spec.get("holderIdentity")
        if holder != self.identity and not expired(spec, now):
            return False
        if holder != self.identity:
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
            spec["acquireTime"] = _fmt(now)
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=self.lease_seconds,
            renewTime=_fmt(now),
        )
        try:  # optimistic concurrency: the update fails if someone else wrote first
            await self.kube.request(
                "PUT",
                f"{path}/{self.name}",
                body=self._lease(spec, current["metadata"]["resourceVersion"]),
            )
        except ApiError as err:
            if err.conflict:
                return False
            raise
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

"""The I/O side of ``queueing: kueue``: a tenant's queues, priority classes, a Job's Workload.

The decisions are pure and live in ``render/kueue.py`` (objects, labels, Workload -> verdict),
``scheduler.py`` (``TenantQuota.external``: pf-figma's admission steps aside) and ``flow.py``
(``kueue_admitted``: the pipeline's Admitted condition); this module only reads and writes
them. Kueue objects are not watched: what was applied is remembered by content hash, so a
tenant reconcile re-applies only what changed (a queue edited or deleted by hand is restored
after an operator restart, or when the tenant's spec changes).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from . import flow
from .constants import HASH_ANNOTATION
from .diff import with_hash
from .model import DesignPipelineStatus, TenantSpec
from .render import kueue as rk
from .render.common import RenderSettings, with_owner

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: seconds between looks at a stage Job waiting in Kueue (its message and queue position)
PENDING_RECHECK = 5.0


class _Client(Protocol):  # the subset of kube.Kube used here
    async def apply(self, obj: Mapping[str, Any]) -> Obj: ...

    async def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]: ...


class KueueQueueing:
    """Applies kueue tenants' queues and reads their stage Jobs' Workloads.

    ``default``: the operator's ``queueing`` setting (``pf-figma`` or ``kueue``); ``flavor``
    and ``cohort``: of the ClusterQueues pf-figma creates (PF_KUEUE_RESOURCE_FLAVOR,
    PF_KUEUE_COHORT). Raises ``kube.ApiError`` from the API (e.g. 404 when Kueue's CRDs are
    not installed), for the caller to report.
    """

    def __init__(
        self, client: _Client, *, default: str, flavor: str = rk.DEFAULT_FLAVOR, cohort: str | None
    ) -> None:
        self.client = client
        self.default = default
        self.flavor = flavor
        self.cohort = cohort
        self._applied: dict[tuple[str, str, str], str | None] = {}

    def enabled(self, spec: TenantSpec) -> bool:
        """Whether Kueue admits this tenant's stage Jobs."""
        return rk.queueing_of(spec, self.default) == rk.QUEUEING_KUEUE

    async def _ensure(self, obj: Obj) -> bool:
        obj = with_hash(obj)
        meta = obj["metadata"]
        key = (obj["kind"], meta.get("namespace", ""), meta["name"])
        digest = (meta.get("annotations") or {}).get(HASH_ANNOTATION)
        if self._applied.get(key) == digest and digest is not None:
            return False
        await self.client.apply(obj)
        self._applied[key] = digest
        return True

    async def ensure_tenant(
        self, tenant: str, spec: TenantSpec, settings: RenderSettings, owner: Mapping[str, Any]
    ) -> list[str]:
        """Apply the tenant's ClusterQueue/LocalQueue (and the shared ResourceFlavor) when it is
        queued by Kueue; returns what was written (``Kind/name``), empty when nothing changed."""
        if not self.enabled(spec):
            return []
        objects = rk.queue_objects(tenant, spec, settings, flavor=self.flavor, cohort=self.cohort)
        written = []
        if any(o["kind"] == "ClusterQueue" for o in objects):
            if await self._ensure(rk.resource_flavor(self.flavor)):
                written.append(f"ResourceFlavor/{self.flavor}")
        for obj in objects:
            if await self._ensure(with_owner(obj, dict(owner))):
                written.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return written

    async def queued_job(self, job: Obj, tenant: str, spec: TenantSpec, priority: int) -> Obj:
        """The stage Job as Kueue's: suspended, LocalQueue and priority labels (its
        WorkloadPriorityClass applied first)."""
        await self._ensure(rk.priority_class(priority))
        return rk.queued_job(job, rk.queues_for(tenant, spec).local_queue, priority)

    async def verdict(self, job: Mapping[str, Any]) -> rk.KueueAdmission:
        """Kueue's word on a stage Job: admitted once it is unsuspended; while suspended, from
        its Workload (one LIST of the namespace's Workloads, which also gives the position)."""
        meta = job["metadata"]
        if not rk.job_suspended(job):
            return rk.KueueAdmission(True, "Admitted", f"Job {meta['name']}: admitted by Kueue")
        workloads = await self.client.list("Workload", meta["namespace"])
        uid = meta.get("uid")
        mine = next(
            (
                w
                for w in workloads
                if uid and (w["metadata"].get("labels") or {}).get(rk.JOB_UID_LABEL) == uid
            ),
            None,
        )
        return rk.workload_admission(meta["name"], mine, workloads)

    async def admitted_status(
        self,
        status: DesignPipelineStatus,
        job: Mapping[str, Any] | None,
        generation: int | None,
        now: datetime,
    ) -> tuple[DesignPipelineStatus, float | None]:
        """The planned ``status`` with the Admitted condition and queuePosition from Kueue
        (``flow.kueue_admitted``), and when to look again (None: admitted, or no stage Job
        waits). ``job``: the current stage's Job (cached), None when not seen yet."""
        jname = flow.kueue_job(status)
        if jname is None:
            return status, None
        verdict = await self.verdict(job) if job is not None else rk.workload_admission(jname, None)
        recheck = None if verdict.admitted else PENDING_RECHECK
        return flow.kueue_admitted(status, verdict, generation, now), recheck


__all__ = ["KueueQueueing"]

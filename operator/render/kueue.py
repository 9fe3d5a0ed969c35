"""Pure: the Kueue side of ``queueing: kueue`` (a tenant's queues, its stage Jobs' labels).

With ``queueing: kueue`` (operator setting ``PF_QUEUEING``, per-Tenant ``spec.queueing``)
pf-figma does not admit the tenant's pipelines itself: every stage Job is created suspended
with the tenant's LocalQueue label and Kueue admits it (each stage Job is its own Workload).
Kueue's API (``kueue.x-k8s.io/v1beta2``, Kueue >= 0.15) is the source of every name here:
https://kueue.sigs.k8s.io/docs/concepts/ (ClusterQueue, LocalQueue, WorkloadPriorityClass) and
the labels ``kueue.x-k8s.io/queue-name`` / ``kueue.x-k8s.io/priority-class``.

What pf-figma creates for a tenant, unless the Tenant names queues of its own
(``spec.kueue.localQueue``: use that LocalQueue, create nothing; ``spec.kueue.clusterQueue``:
create only the LocalQueue, pointing at that ClusterQueue):

* ClusterQueue ``pf-figma-<tenant>``: only the tenant's namespace may use it; nominal quota from
  the tenant's plan: ``cpu``/``memory`` = its ResourceQuota (``effective_quota``) and ``pods``
  = ``pipelines.maxConcurrent`` (each pipeline runs one stage Job, one pod, at a time, so this
  is the same bound pf-figma's own admission keeps); no borrowing (the namespace's
  ResourceQuota would reject pods beyond it anyway); a higher priority preempts a lower one
  within the queue (``withinClusterQueue: LowerPriority``); fair-sharing weight = plan weight,
  used when the platform puts the queues in a cohort (``PF_KUEUE_COHORT``) with Kueue's fair
  sharing on.
* LocalQueue ``pf-figma`` in the tenant's namespace, pointing at it.
* one ResourceFlavor (``PF_KUEUE_RESOURCE_FLAVOR``, default ``pf-figma``, no node labels) and a
  WorkloadPriorityClass ``pf-figma-priority-<n>`` (value n) per pipeline priority in use.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..constants import MANAGED_BY, MANAGED_BY_LABEL
from ..model import TenantSpec
from ..scheduler import plan_weight
from .common import Obj, RenderSettings, metadata

KUEUE_API = "kueue.x-k8s.io/v1beta2"
QUEUE_NAME_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_CLASS_LABEL = "kueue.x-k8s.io/priority-class"
#: label Kueue puts on a Job's Workload: the Job's UID
JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"
LOCAL_QUEUE_NAME = "pf-figma"
DEFAULT_FLAVOR = "pf-figma"
PRIORITY_CLASS_PREFIX = "pf-figma-priority-"

QUEUEING_PF_FIGMA = "pf-figma"
QUEUEING_KUEUE = "kueue"


@dataclass(frozen=True)
class KueueQueues:
    """Where a kueue tenant's stage Jobs go, and what pf-figma must create for that."""

    local_queue: str
    #: the ClusterQueue pf-figma creates (None: the LocalQueue is the tenant's own, or it
    #: points at a ClusterQueue the tenant named)
    cluster_queue: str | None
    #: whether pf-figma creates the LocalQueue
    create_local_queue: bool
    #: the ClusterQueue the LocalQueue points at (None: unknown, the tenant's own LocalQueue)
    target_cluster_queue: str | None


def queueing_of(spec: TenantSpec, default: str) -> str:
    """The tenant's queueing: its own ``spec.queueing`` or the operator's ``default``."""
    return spec.queueing or default


def cluster_queue_name(tenant_name: str) -> str:
    return f"pf-figma-{tenant_name}"


def priority_class_name(priority: int) -> str:
    """The WorkloadPriorityClass of a pipeline priority (0..100)."""
    return f"{PRIORITY_CLASS_PREFIX}{priority}"


def queues_for(tenant_name: str, spec: TenantSpec) -> KueueQueues:
    own = spec.kueue
    if own is not None and own.local_queue:
        return KueueQueues(own.local_queue, None, False, None)
    if own is not None and own.cluster_queue:
        return KueueQueues(LOCAL_QUEUE_NAME, None, True, own.cluster_queue)
    cq = cluster_queue_name(tenant_name)
    return KueueQueues(LOCAL_QUEUE_NAME, cq, True, cq)


def resource_flavor(name: str = DEFAULT_FLAVOR) -> Obj:
    """The flavor the ClusterQueues pf-figma creates use: no node labels (any node)."""
    return {
        "apiVersion": KUEUE_API,
        "kind": "ResourceFlavor",
        "metadata": {"name": name, "labels": {MANAGED_BY_LABEL: MANAGED_BY}},
        "spec": {},
    }


def priority_class(priority: int) -> Obj:
    return {
        "apiVersion": KUEUE_API,
        "kind": "WorkloadPriorityClass",
        "metadata": {
            "name": priority_class_name(priority),
            "labels": {MANAGED_BY_LABEL: MANAGED_BY},
        },
        "value": priority,
        "description": f"pf-figma DesignPipeline spec.priority {priority}",
    }


def queue_objects(
    tenant_name: str,
    spec: TenantSpec,
    settings: RenderSettings,
    *,
    flavor: str = DEFAULT_FLAVOR,
    cohort: str | None = None,
) -> list[Obj]:
    """The ClusterQueue and LocalQueue pf-figma creates for a kueue tenant (may be empty).

    Owner references are not set: add them with ``with_owner``.
    """
    queues = queues_for(tenant_name, spec)
    ns = settings.namespace_for(tenant_name)
    out: list[Obj] = []
    if queues.cluster_queue is not None:
        quota = spec.effective_quota()
        caps = spec.effective_pipelines()
        cq_spec: dict[str, Any] = {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            "queueingStrategy": "BestEffortFIFO",
            "resourceGroups": [
                {
                    "coveredResources": ["cpu", "memory", "pods"],
                    "flavors": [
                        {
                            "name": flavor,
                            "resources": [
                                {"name": "cpu", "nominalQuota": quota.cpu},
                                {"name": "memory", "nominalQuota": quota.memory},
                                {"name": "pods", "nominalQuota": caps.max_concurrent},
                            ],
                        }
                    ],
                }
            ],
            "preemption": {"withinClusterQueue": "LowerPriority"},
            "fairSharing": {"weight": str(plan_weight(spec.plan.value))},
        }
        if cohort:
            cq_spec["cohortName"] = cohort
        if spec.suspended:
            cq_spec["stopPolicy"] = "Hold"  # nothing new is admitted; running Jobs go on
        out.append(
            {
                "apiVersion": KUEUE_API,
                "kind": "ClusterQueue",
                "metadata": metadata(queues.cluster_queue, tenant_name),
                "spec": cq_spec,
            }
        )
    if queues.create_local_queue:
        out.append(
            {
                "apiVersion": KUEUE_API,
                "kind": "LocalQueue",
                "metadata": metadata(queues.local_queue, tenant_name, ns),
                "spec": {"clusterQueue": queues.target_cluster_queue},
            }
        )
    return out


def queued_job(job: Obj, local_queue: str, priority: int) -> Obj:
    """A stage Job handed to Kueue: created suspended, with the LocalQueue and priority labels.

    Kueue unsuspends it when its Workload is admitted (and suspends it again when preempted).
    """
    out = copy.deepcopy(job)
    labels = out["metadata"].setdefault("labels", {})
    labels[QUEUE_NAME_LABEL] = local_queue
    labels[PRIORITY_CLASS_LABEL] = priority_class_name(priority)
    out["spec"]["suspend"] = True
    return out


@dataclass(frozen=True, slots=True)
class KueueAdmission:
    """Kueue's word on a stage Job, for the pipeline's ``Admitted`` condition."""

    admitted: bool
    reason: str  # the Admitted condition's reason (CamelCase)
    message: str
    #: 1-based place among the pending Workloads of the same LocalQueue; None when admitted
    #: or unknown
    position: int | None = None


def _true(conditions: Iterable[Mapping[str, Any]], ctype: str) -> Mapping[str, Any] | None:
    for cond in conditions:
        if cond.get("type") == ctype and cond.get("status") == "True":
            return cond
    return None


def _condition(conditions: Iterable[Mapping[str, Any]], ctype: str) -> Mapping[str, Any] | None:
    for cond in conditions:
        if cond.get("type") == ctype:
            return cond
    return None


def _pending(workload: Mapping[str, Any]) -> bool:
    conds = (workload.get("status") or {}).get("conditions") or ()
    return _true(conds, "QuotaReserved") is None and _true(conds, "Finished") is None


def _kueue_order(workload: Mapping[str, Any]) -> tuple[int, str, str]:
    meta = workload.get("metadata") or {}
    priority = (workload.get("spec") or {}).get("priority")
    return (-int(priority or 0), str(meta.get("creationTimestamp") or ""), str(meta.get("name")))


def workload_admission(
    job: str,
    workload: Mapping[str, Any] | None,
    queue: Iterable[Mapping[str, Any]] = (),
) -> KueueAdmission:
    """Whether Kueue admitted the stage Job ``job``, from its Workload (``v1beta2``).

    ``workload``: the Job's Workload (label ``kueue.x-k8s.io/job-uid``), None when Kueue has
    not created it yet. ``queue``: Workloads of the same namespace; the pending ones of the
    same LocalQueue (``spec.queueName``) give the position, in the order Kueue's
    ``BestEffortFIFO``/``StrictFIFO`` queues use (priority descending, then creation time;
    https://kueue.sigs.k8s.io/docs/concepts/cluster_queue/#queueing-strategy). Kueue's own
    ranking is served by its visibility API, which needs an aggregated APIService; within one
    tenant's LocalQueue the two agree, except for Workloads Kueue requeued after an eviction
    (it orders those by the eviction time).

    Workload conditions read: Admitted, QuotaReserved, Evicted, Preempted, Finished.
    """
    if workload is None:
        return KueueAdmission(False, "WaitingForKueue", f"Job {job}: Kueue has no Workload yet")
    status = workload.get("status") or {}
    conds = status.get("conditions") or ()
    cq = (status.get("admission") or {}).get("clusterQueue")
    spec = workload.get("spec") or {}
    lq = spec.get("queueName") or "?"
    if _true(conds, "Admitted") is not None:
        return KueueAdmission(True, "Admitted", f"Job {job}: admitted by Kueue ClusterQueue {cq}")
    evicted = _true(conds, "Evicted")
    if evicted is not None:
        preempted = _true(conds, "Preempted")
        why = preempted or evicted
        return KueueAdmission(
            False,
            "Preempted" if preempted is not None else "Evicted",
            f"Job {job}: {why.get('message') or why.get('reason') or 'evicted by Kueue'}",
        )
    if _true(conds, "QuotaReserved") is not None:
        return KueueAdmission(
            False,
            "QuotaReserved",
            f"Job {job}: quota reserved in ClusterQueue {cq}; waiting for admission checks",
        )
    pending = _condition(conds, "QuotaReserved")
    why_pending = (pending or {}).get("message") or f"waiting in LocalQueue {lq}"
    name = (workload.get("metadata") or {}).get("name")
    ahead = sorted(
        (
            w
            for w in queue
            if (w.get("spec") or {}).get("queueName") == spec.get("queueName") and _pending(w)
        ),
        key=_kueue_order,
    )
    position = next(
        (i for i, w in enumerate(ahead, 1) if (w.get("metadata") or {}).get("name") == name),
        None,
    )
    return KueueAdmission(False, "Pending", f"Job {job}: {why_pending}", position)


def job_suspended(job: Mapping[str, Any]) -> bool:
    """Whether a Job waits for Kueue (``spec.suspend``): it has no pods by design."""
    return bool((job.get("spec") or {}).get("suspend"))


__all__ = [
    "DEFAULT_FLAVOR",
    "JOB_UID_LABEL",
    "KUEUE_API",
    "LOCAL_QUEUE_NAME",
    "PRIORITY_CLASS_LABEL",
    "QUEUEING_KUEUE",
    "QUEUEING_PF_FIGMA",
    "QUEUE_NAME_LABEL",
    "KueueAdmission",
    "KueueQueues",
    "cluster_queue_name",
    "job_suspended",
    "priority_class",
    "priority_class_name",
    "queue_objects",
    "queued_job",
    "queueing_of",
    "queues_for",
    "workload_admission",
]

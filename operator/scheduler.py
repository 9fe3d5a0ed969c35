"""Pure admission / fair-share queue for DesignPipelines.

Nothing in here does I/O, talks to Kubernetes or touches asyncio: the operator feeds the
current picture in (which pipelines are queued or running, each tenant's quota, the global
limit) and gets a :class:`Decision` back: which pipelines to start now, which to fail
because their tenant's queue is full, and, for every pipeline that keeps waiting, why it
waits and where it stands in line.

Semantics (the contract the operator and the tests rely on)
-----------------------------------------------------------

Capacity
    At most ``global_max`` pipelines run at once across all tenants, and at most
    ``TenantQuota.max_concurrent`` per tenant. Running pipelines count against both limits
    and are never preempted: if a limit was lowered below what is running, nothing new is
    admitted until enough finish.

Order within a tenant
    Priority first (higher first), then age (older ``created`` first), then ``key``.

Fair share across tenants (a one-resource cut of Kueue's fair sharing)
    Each tenant's share is ``(running + admitted) / weight`` (weight = plan weight:
    starter 1, pro 2, enterprise 4; a weight below 1 counts as 1). Free global slots are
    handed out one at a time to the *eligible* tenant with the smallest share; ties go to
    the tenant whose next pipeline has the higher priority, then is older, then has the
    smaller key. A tenant is eligible when it is known, not suspended, has a pipeline
    waiting and is below its ``max_concurrent``. Consequences:

    * work conserving: capacity an idle tenant does not use is lent to busy ones, and a
      slot is only left empty when no tenant is eligible;
    * no starvation: a tenant with nothing running has share 0, so it is served before
      any tenant that already runs something, whatever the priorities;
    * weighted: with deep queues two tenants split capacity by weight (starter +
      enterprise on 10 slots -> 2 + 8). When there are more busy tenants than slots,
      every busy tenant gets one slot before anyone gets a second, so the weights only
      show once capacity exceeds the number of busy tenants (starvation-freedom wins
      over proportionality);
    * priority orders pipelines within a tenant and breaks ties between tenants; it does
      not let one tenant take another tenant's share.

maxQueued (fail fast)
    ``max_queued`` bounds how many pipelines of a tenant may *wait* after this round's
    admissions (pipelines admitted in the same round never count as queued). When more
    wait, the tenant's waiting pipelines are ranked by age only (``created`` ascending,
    then ``key``); the oldest ``max_queued`` stay queued and the younger ones are
    rejected. Priority deliberately plays no part here: because creation times only grow,
    a pipeline that was accepted into the queue once is never rejected later, neither by
    a newer pipeline of higher priority nor by anything else, unless an operator lowers
    ``max_queued``. A newer high-priority pipeline can still be *admitted* ahead of older
    ones when a slot is free; it is only rejected when it would have to wait in a full
    queue. The limit applies to suspended tenants too (their pipelines all wait).

Figma slots (only analyze calls Figma)
    A tenant's analyze stages share its Figma token, and Figma rate-limits per token, so at
    most ``TenantQuota.figma_max_concurrent`` of a tenant's pipelines may be in analyze with a
    Figma source at once (``Workload.figma``: running and still in analyze, or waiting with a
    Figma source). Of a tenant's waiting Figma pipelines, in the tenant's order, only the first
    ``figma_max_concurrent - (running in analyze)`` are candidates this round; the others are
    *held*: they wait with the reason "waiting for a Figma API slot ...", get no queue position
    and count as queued for maxQueued. Pipelines that do not call Figma (a ConfigMap or stored
    source) pass them by. A pipeline frees its slot when its analyze stage ends.

Suspended and unknown tenants
    A suspended tenant's pipelines stay queued (subject to ``max_queued``) with the
    reason "tenant X is suspended"; its running pipelines still count against the global
    limit. Pipelines of a tenant without a ``TenantQuota`` wait with a reason and are
    never rejected (there is no limit to apply). Neither get a queue position.

Queue positions
    ``positions`` gives every pipeline that will eventually be admitted (i.e. waiting,
    not rejected, its tenant known, not suspended, with ``max_concurrent > 0``, and
    ``global_max > 0``) its 1-based place in the global admission order, computed by
    running the very same fair-share rule forward under the model "nothing new arrives
    and running pipelines finish one at a time in the order they started" (``started``,
    falling back to ``created``, then ``key``; this round's admissions start after all
    running ones). Under that model the positions are exact: the order in which later
    decisions admit the pipelines equals the order of their positions. Real durations
    differ, so treat a position as an honest estimate, not a promise. Cost:
    O(n log n) overall.

Cost: ``decide`` sorts once and runs one heap-driven simulation, O(n log n); about 10-30 ms
for 10,000 workloads and 1,000 tenants (``hack/bench_scheduler.py``). Shares are compared
exactly as integers, scaled by the lcm of the weights, so weights should stay small ints.

Tenants queued by Kueue (``TenantQuota.external``, ``queueing: kueue``)
    pf-figma's admission steps aside: their pipelines are admitted at once, in the same
    order as above, count against neither ``global_max`` nor ``max_concurrent``, are never
    rejected by ``max_queued`` and get no position; their stage Jobs wait in Kueue instead
    (see render/kueue.py, ``workload_admission``). A suspended (or held) external
    tenant's pipelines wait with the tenant's reason, like any other tenant's.

Every waiting pipeline (queued, not admitted, not rejected) appears in ``blocked`` with
the reason it waits. ``admit``, ``rejected`` and ``blocked`` partition the queued
pipelines; ``positions`` keys are a subset of ``blocked`` keys.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from heapq import heapify, heappop, heappush, heappushpop
from types import MappingProxyType
from typing import Any

__all__ = [
    "PLAN_WEIGHTS",
    "AdmissionQueue",
    "Decision",
    "TenantQuota",
    "Workload",
    "decide",
    "needs_figma",
    "plan_weight",
    "position_moved",
]

#: states of the analyze stage in which a pipeline still (or again) calls Figma
_FIGMA_STATES = frozenset({None, "Pending", "Running"})

#: Fair-share weight per tenant plan.
PLAN_WEIGHTS: Mapping[str, int] = MappingProxyType({"starter": 1, "pro": 2, "enterprise": 4})


def plan_weight(plan: str | None) -> int:
    """Weight of a plan name (case-insensitive); unknown or missing plans weigh 1."""
    if not plan:
        return 1
    return PLAN_WEIGHTS.get(plan.lower(), 1)


def needs_figma(spec: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """Whether a DesignPipeline (raw ``spec`` and ``status``) holds or needs a Figma slot: its
    source is ``figma`` and its analyze stage has not ended (not started, running, or waiting
    for a retry)."""
    if not (spec.get("source") or {}).get("figma"):
        return False
    for entry in status.get("stages") or ():
        if isinstance(entry, Mapping) and entry.get("name") == "analyze":
            return entry.get("state") in _FIGMA_STATES
    return True


def position_moved(written: int | None, current: int | None) -> bool:
    """Whether a queued pipeline's written ``queuePosition`` is worth rewriting.

    Every admission moves every queued pipeline up by one, so rewriting each change costs
    O(queue length) API writes per admission. Instead a position is rewritten when it at
    least halves or doubles (or appears or disappears): O(log position) writes per pipeline
    over its whole wait, and the written value is never off by more than a factor of two.
    """
    if written == current:
        return False
    if written is None or current is None:
        return True
    return current * 2 <= written or current >= written * 2


@dataclass(frozen=True, slots=True)
class Workload:
    """One DesignPipeline that is queued or running."""

    key: str  # "namespace/name", unique
    tenant: str
    priority: int  # 0..100, higher first
    created: float  # creationTimestamp as epoch seconds
    running: bool
    #: When a running pipeline was started (epoch seconds). Only used to predict the order
    #: in which running pipelines finish for ``positions``; ``created`` when unknown.
    started: float | None = None
    #: Holds (running) or needs (waiting) one of its tenant's Figma slots: see needs_figma.
    figma: bool = False


@dataclass(frozen=True, slots=True)
class TenantQuota:
    name: str
    weight: int  # plan weight, see PLAN_WEIGHTS
    max_concurrent: int
    max_queued: int
    suspended: bool = False
    #: Why a suspended tenant's pipelines wait, when it is not the tenant's own spec.suspended
    #: (e.g. its database credentials are not provisioned yet).
    hold_reason: str | None = None
    #: Kueue admits this tenant's stage Jobs (``queueing: kueue``): pf-figma admits its
    #: pipelines at once, outside every limit (see the module docstring).
    external: bool = False
    #: Most pipelines in analyze with a Figma source at once (one Figma token); None: no cap.
    figma_max_concurrent: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    #: Keys to start now, in admission order.
    admit: tuple[str, ...]
    #: 1-based global position for every waiting key that will eventually be admitted.
    positions: Mapping[str, int]
    #: Key -> reason, for queued pipelines to fail now because their tenant's queue is full.
    rejected: Mapping[str, str]
    #: Key -> reason, for every queued pipeline that keeps waiting.
    blocked: Mapping[str, str]


# Sort keys. (No `operator.attrgetter`: mypy, run on files under operator/, would resolve
# `operator` to this package.)
def _by_key(w: Workload) -> str:
    return w.key


def _by_created(w: Workload) -> float:
    return w.created


def _by_priority(w: Workload) -> int:
    return w.priority


def _by_age(w: Workload) -> tuple[float, str]:
    return (w.created, w.key)


def _start_time(w: Workload) -> float:
    return w.created if w.started is None else w.started


def decide(
    workloads: Iterable[Workload], tenants: Mapping[str, TenantQuota], global_max: int
) -> Decision:
    """Decide admissions, rejections, reasons and queue positions. Pure and deterministic.

    Raises ``ValueError`` if two workloads share a key.
    """
    all_w = list(workloads)
    keys = [w.key for w in all_w]
    if len(set(keys)) != len(keys):
        seen: set[str] = set()
        for key in keys:
            if key in seen:
                raise ValueError(f"duplicate workload key {key!r}")
            seen.add(key)

    # Tenants queued by Kueue: admitted at once (unless suspended), outside every limit.
    handed: list[Workload] = []
    held_external: dict[str, str] = {}
    if any(q.external for q in tenants.values()):
        own: list[Workload] = []
        for w in all_w:
            quota = tenants.get(w.tenant)
            if quota is None or not quota.external:
                own.append(w)
            elif w.running:
                continue
            elif quota.suspended:
                held_external[w.key] = quota.hold_reason or f"tenant {w.tenant} is suspended"
            else:
                handed.append(w)
        all_w = own
        handed.sort(key=_by_key)
        handed.sort(key=_by_created)
        handed.sort(key=_by_priority, reverse=True)

    # Waiting workloads in the global admission order (priority desc, created, key); a
    # workload's index in `order` is its rank. Three stable C-level sorts beat one sort
    # on a Python key tuple by ~2x.
    order = [w for w in all_w if not w.running]
    order.sort(key=_by_key)
    order.sort(key=_by_created)
    order.sort(key=_by_priority, reverse=True)
    order, held = _hold_for_figma(all_w, order, tenants)
    n = len(order)

    # Per-tenant state, as parallel lists indexed by tenant index `ti`.
    tindex: dict[str, int] = {}
    names: list[str] = []
    queues: list[list[int]] = []  # ranks of each tenant's waiting workloads, in order
    rank_tenant = [0] * n
    for r, w in enumerate(order):
        ti = tindex.get(w.tenant)
        if ti is None:
            ti = tindex[w.tenant] = len(names)
            names.append(w.tenant)
            queues.append([r])
        else:
            queues[ti].append(r)
        rank_tenant[r] = ti
    for tenant in held:  # tenants whose every waiting workload is held
        if tenant not in tindex:
            tindex[tenant] = len(names)
            names.append(tenant)
            queues.append([])
    nt = len(names)
    quotas = [tenants.get(name) for name in names]
    count = [0] * nt  # running + admitted
    idx = [0] * nt  # queues[ti][idx[ti]] is the tenant's next workload
    cur = [-1] * nt  # the tenant's one valid heap key, -1 if none
    cap = [q.max_concurrent if q is not None else 0 for q in quotas]
    # A tenant can ever be admitted: known, not suspended, max_concurrent > 0.
    active = [q is not None and not q.suspended and q.max_concurrent > 0 for q in quotas]
    weights = [q.weight if q is not None and q.weight > 0 else 1 for q in quotas]
    # share = count / weight, scaled to an exact integer: count * (lcm // weight). The heap
    # holds plain ints `share * n + rank of the tenant's next workload`, which orders by
    # share, then by that workload's (priority desc, created, key), and identifies it.
    lcm = math.lcm(*weights) if weights else 1
    mult = [lcm // wt * n for wt in weights]

    running = [w for w in all_w if w.running]
    running.sort(key=_by_age)
    running.sort(key=_start_time)
    # Tenant index of each running workload in expected finish order (-1: nothing waits
    # for that tenant); this round's admissions are appended as they start.
    fifo = [tindex.get(w.tenant, -1) for w in running]
    for ti in fifo:
        if ti >= 0:
            count[ti] += 1
    free = global_max - len(running)

    heap: list[int] = []
    for ti in range(nt):
        if active[ti] and count[ti] < cap[ti] and queues[ti]:
            k = cur[ti] = count[ti] * mult[ti] + queues[ti][0]
            heap.append(k)
    heapify(heap)

    # Phase 1: this round's admissions.
    admitted: list[int] = []
    while free > 0 and heap:
        k = heappop(heap)
        r = k % n
        ti = rank_tenant[r]
        if cur[ti] != k:
            continue  # stale entry
        admitted.append(r)
        i = idx[ti] = idx[ti] + 1
        c = count[ti] = count[ti] + 1
        free -= 1
        fifo.append(ti)
        q = queues[ti]
        if i < len(q) and c < cap[ti]:
            k = cur[ti] = c * mult[ti] + q[i]
            heappush(heap, k)
        else:
            cur[ti] = -1

    # maxQueued (oldest max_queued of what still waits stay, younger ones are rejected),
    # and the reason each remaining workload waits.
    rejected: dict[str, str] = {}
    blocked: dict[str, str] = {}
    global_reason = f"cluster at global limit {global_max}"
    remaining = 0  # waiting workloads that will eventually be admitted
    for ti in range(nt):
        name = names[ti]
        quota = quotas[ti]
        q = queues[ti]
        i = idx[ti]
        on_hold, why_held = held.get(name, ([], ""))
        if i >= len(q) and not on_hold:
            continue
        rest = q[i:] if i else q
        if quota is None:
            reason = f"tenant {name} not found"
        else:
            limit = quota.max_queued if quota.max_queued > 0 else 0
            if len(rest) + len(on_hold) > limit:
                # the held ones wait too: the oldest `limit` of all that wait stay
                waiting = [(order[r], r) for r in rest] + [(w, -1) for w in on_hold]
                waiting.sort(key=lambda wr: _by_age(wr[0]))
                why = (
                    f"tenant {name} already has {limit} queued pipelines (maxQueued={limit})"
                    if limit
                    else f"tenant {name} allows no queued pipelines (maxQueued=0)"
                )
                gone = {r for _, r in waiting[limit:] if r >= 0}
                for w, _ in waiting[limit:]:
                    rejected[w.key] = why
                on_hold = [w for w in on_hold if w.key not in rejected]
                rest = [r for r in rest if r not in gone]
                queues[ti] = rest
                idx[ti] = 0
                if cur[ti] >= 0:  # in the heap: its head may have changed
                    if not rest:
                        cur[ti] = -1
                    elif (k := count[ti] * mult[ti] + rest[0]) != cur[ti]:
                        cur[ti] = k
                        heappush(heap, k)
                for w in on_hold:
                    blocked[w.key] = why_held
                if not rest:
                    continue
            else:
                for w in on_hold:
                    blocked[w.key] = why_held
            if quota.suspended:
                reason = quota.hold_reason or f"tenant {name} is suspended"
            elif count[ti] >= cap[ti]:
                reason = f"tenant {name} at maxConcurrent={cap[ti]}"
            else:
                reason = global_reason
            if active[ti]:
                remaining += len(rest)
        for r in rest:
            blocked[order[r].key] = reason

    # Phase 2: positions. Keep admitting by the same rule while running workloads finish
    # one at a time in start order, until every admissible waiting workload has a place.
    positions: dict[str, int] = {}
    if global_max > 0 and remaining:
        placed: list[int] = []  # ranks, in position order
        place = placed.append
        started = fifo.append
        qlen = [len(q) for q in queues]
        fi = 0
        # The latest key not pushed yet: popping with heappushpop returns it without
        # touching the heap when it is the smallest, which is the common case (a tenant
        # whose workload just finished, or that was just served, is usually next).
        pending = -1
        while True:
            while free > 0:
                if pending >= 0:
                    k = heappushpop(heap, pending)
                    pending = -1
                elif heap:
                    k = heappop(heap)
                else:
                    break
                r = k % n
                ti = rank_tenant[r]
                if cur[ti] != k:
                    continue
                place(r)
                i = idx[ti] = idx[ti] + 1
                c = count[ti] = count[ti] + 1
                free -= 1
                started(ti)
                if i < qlen[ti] and c < cap[ti]:
                    pending = cur[ti] = c * mult[ti] + queues[ti][i]
                else:
                    cur[ti] = -1
            if len(placed) >= remaining or fi >= len(fifo):  # the latter cannot happen
                break
            ti = fifo[fi]
            fi += 1
            free += 1
            if ti >= 0 and active[ti]:
                c = count[ti] = count[ti] - 1
                i = idx[ti]
                if i < qlen[ti] and c < cap[ti]:
                    if pending >= 0:
                        heappush(heap, pending)
                    pending = cur[ti] = c * mult[ti] + queues[ti][i]
        positions = {order[r].key: p for p, r in enumerate(placed, 1)}

    blocked.update(held_external)
    return Decision(
        admit=tuple([w.key for w in handed] + [order[r].key for r in admitted]),
        positions=MappingProxyType(positions),
        rejected=MappingProxyType(rejected),
        blocked=MappingProxyType(blocked),
    )


def _hold_for_figma(
    all_w: list[Workload], order: list[Workload], tenants: Mapping[str, TenantQuota]
) -> tuple[list[Workload], dict[str, tuple[list[Workload], str]]]:
    """Split the waiting workloads (in admission order) into the candidates and, per tenant,
    the Figma workloads held for want of a Figma slot (with the reason they wait)."""
    capped = {
        name: q.figma_max_concurrent
        for name, q in tenants.items()
        if q.figma_max_concurrent is not None and not q.suspended and q.max_concurrent > 0
    }
    if not capped or not any(w.figma for w in order):
        return order, {}
    busy: dict[str, int] = {}
    for w in all_w:
        if w.running and w.figma:
            busy[w.tenant] = busy.get(w.tenant, 0) + 1
    running_figma = dict(busy)
    keep: list[Workload] = []
    held: dict[str, tuple[list[Workload], str]] = {}
    for w in order:
        limit = capped.get(w.tenant) if w.figma else None
        if limit is not None:
            if busy.get(w.tenant, 0) >= limit:
                if w.tenant not in held:
                    held[w.tenant] = (
                        [],
                        f"waiting for a Figma API slot: tenant {w.tenant}'s Figma token is in "
                        f"use by {limit} analyze stage(s), {running_figma.get(w.tenant, 0)} "
                        f"running (maxConcurrentAnalyze={limit})",
                    )
                held[w.tenant][0].append(w)
                continue
            busy[w.tenant] = busy.get(w.tenant, 0) + 1
        keep.append(w)
    return keep, held


class AdmissionQueue:
    """Stateful holder for the operator's event handlers (pure; no I/O, not thread-safe).

    Handlers call :meth:`upsert` / :meth:`remove` / :meth:`set_tenant` /
    :meth:`remove_tenant` as objects change; every call that really changes something
    bumps :attr:`version`. :meth:`decide` caches its result per ``(version, global_max)``,
    so calling it when nothing changed is O(1); callers can also compare ``version`` with
    the one they last acted on to skip work altogether.

    The queue does not mark admitted workloads as running by itself: once the operator has
    actually started a pipeline it calls :meth:`mark_running` (or :meth:`upsert`). Until then
    later decisions admit it again, so acting on ``admit`` must be idempotent.
    """

    __slots__ = ("_cache", "_tenants", "_version", "_workloads")

    def __init__(self) -> None:
        self._workloads: dict[str, Workload] = {}
        self._tenants: dict[str, TenantQuota] = {}
        self._version = 0
        self._cache: tuple[int, int, Decision] | None = None

    @property
    def version(self) -> int:
        """Increases whenever the queue's content changes."""
        return self._version

    def __len__(self) -> int:
        return len(self._workloads)

    def __contains__(self, key: object) -> bool:
        return key in self._workloads

    def get(self, key: str) -> Workload | None:
        return self._workloads.get(key)

    def tenant(self, name: str) -> TenantQuota | None:
        return self._tenants.get(name)

    def workloads(self) -> tuple[Workload, ...]:
        return tuple(self._workloads.values())

    def upsert(self, workload: Workload) -> bool:
        """Add or replace a workload by key. Returns whether anything changed."""
        if self._workloads.get(workload.key) == workload:
            return False
        self._workloads[workload.key] = workload
        self._version += 1
        return True

    def mark_running(self, key: str, started: float | None = None) -> bool:
        """Flag a known workload as running. Returns whether anything changed."""
        w = self._workloads.get(key)
        if w is None:
            return False
        return self.upsert(
            replace(w, running=True, started=w.started if started is None else started)
        )

    def remove(self, key: str) -> bool:
        """Forget a workload (finished, failed, rejected or deleted)."""
        if self._workloads.pop(key, None) is None:
            return False
        self._version += 1
        return True

    def set_tenant(self, quota: TenantQuota) -> bool:
        if self._tenants.get(quota.name) == quota:
            return False
        self._tenants[quota.name] = quota
        self._version += 1
        return True

    def remove_tenant(self, name: str) -> bool:
        if self._tenants.pop(name, None) is None:
            return False
        self._version += 1
        return True

    def decide(self, global_max: int) -> Decision:
        cache = self._cache
        if cache is not None and cache[0] == self._version and cache[1] == global_max:
            return cache[2]
        d = decide(self._workloads.values(), self._tenants, global_max)
        self._cache = (self._version, global_max, d)
        return d

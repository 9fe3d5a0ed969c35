"""DesignPipeline reconciler: admission (fair-share queue) and the stage runner.

Watch events of DesignPipelines and their Jobs put keys into the pipeline work queue; the
admission loop decides which queued pipelines may start. A reconcile gathers facts from the cache
(and, when a Job has just finished, its pod's termination message), asks the pure state machine
in `flow` for a Plan, and carries it out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from pf_agents.contract import STAGE_ORDER

from . import diagnosis, flow, metrics, publish
from .cache import controller_uid
from .constants import PIPELINE_LABEL, TENANT_LABEL
from .kube import ApiError, deleted_while_reconciling
from .model import PIPELINE_KIND, TENANT_KIND, DesignPipelineSpec, TenantSpec
from .render.job import AgentSettings, render_job
from .scheduler import AdmissionQueue, TenantQuota, Workload, plan_weight, position_moved
from .times import format_time, parse_time
from .workqueue import RequeueAfter

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)

#: a running Job without a pod this long is asked why (the Job controller's FailedCreate)
STARVED_GRACE = 3.0
#: a running Job whose pods are none ready this long is asked why (the kubelet's FailedMount)
UNREADY_GRACE = 10.0
#: seconds between looks at a running Job that has no pod yet (FailedCreate Events)
STARVED_RECHECK = 10.0
#: a tenant's pipeline counts are written this long after they change (changes coalesce)
COUNTS_DELAY = 0.5


def job_facts(job: dict[str, Any]) -> flow.JobFacts:
    status = job.get("status") or {}
    state, reason, message, end = "Running", None, None, None
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            state = "Succeeded"
            end = parse_time(status.get("completionTime") or cond.get("lastTransitionTime"))
        elif cond.get("type") == "Failed":
            state, reason, message = "Failed", cond.get("reason"), cond.get("message")
            end = parse_time(cond.get("lastTransitionTime"))
    return flow.JobFacts(
        name=job["metadata"]["name"],
        state=state,
        reason=reason,
        message=message,
        start=parse_time(status.get("startTime")),
        end=end,
    )


def belongs_to(job: dict[str, Any], pipeline_uid: str | None) -> bool:
    """Pure: a Job is a pipeline's only if that pipeline (by UID) is its controller. A pipeline
    deleted with --cascade=orphan and re-created under its name is another pipeline: the old
    Jobs lose their owner reference, and must not be taken for the new one's attempts."""
    return pipeline_uid is not None and controller_uid(job) == pipeline_uid


def podless_for(job: dict[str, Any], now: datetime | None = None) -> float | None:
    """Pure: for how many seconds a Job has had no pod at all (None: it has or had one, or it
    finished): the Job controller may be failing to create it (quota, admission)."""
    status = job.get("status") or {}
    if status.get("active") or status.get("succeeded") or status.get("failed"):
        return None
    if status.get("ready") or status.get("terminating"):
        return None
    if any(c.get("status") == "True" for c in status.get("conditions") or ()):
        return None
    created = parse_time(job["metadata"].get("creationTimestamp"))
    if created is None:
        return None
    return max(((now or datetime.now(UTC)) - created).total_seconds(), 0.0)


def unready_for(job: dict[str, Any], now: datetime | None = None) -> float | None:
    """Pure: for how many seconds (since the Job was created) a running Job has had pods but
    none ready: a volume may fail to mount (a missing Secret). None when not the case."""
    status = job.get("status") or {}
    if not status.get("active") or status.get("ready"):
        return None
    if any(c.get("status") == "True" for c in status.get("conditions") or ()):
        return None
    created = parse_time(job["metadata"].get("creationTimestamp"))
    if created is None:
        return None
    return max(((now or datetime.now(UTC)) - created).total_seconds(), 0.0)


def classify(status: dict[str, Any]) -> str:
    if status.get("completionTime"):
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Succeeded":
                return "succeeded" if cond.get("status") == "True" else "failed"
        return "failed"
    return "running" if status.get("startTime") else "queued"


class PipelineReconciler:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.admission = AdmissionQueue()
        self.admitted: set[str] = set()  # admitted, start not yet recorded in status
        self.positions: dict[str, int] = {}
        self.blocked: dict[str, str] = {}
        self.rejected: dict[str, str] = {}
        self._by_tenant: dict[str, set[str]] = defaultdict(set)
        self._tenant_of: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._fresh: set[str] = set()  # new pipelines, not yet shown as queued or admitted
        # pipeline key -> Job name -> why its pod failed or cannot progress (from pod events)
        self.pod_problems: dict[str, dict[str, diagnosis.Diagnosis]] = {}
        # pipeline key -> Jobs deleted by someone else while they ran
        self.deleted_jobs: dict[str, set[str]] = {}
        self._deleting: set[tuple[str, str]] = set()  # (namespace, Job) deleted by us
        self._state_of: dict[str, str] = {}  # pipeline key -> what the tenant counts it as
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_refresh = 0.0
        settings = runtime.settings
        self.agent = AgentSettings(
            image=settings.agent_image,
            image_pull_policy=settings.agent_image_pull_policy,
            cpu_request=settings.agent_cpu_request,
            memory_request=settings.agent_memory_request,
            cpu_limit=settings.agent_cpu_limit,
            memory_limit=settings.agent_memory_limit,
            node_selector=settings.agent_node_selector,
            tolerations=tuple(settings.agent_tolerations),
            artifacts_url=settings.artifacts_url,
            artifacts_secret="pf-figma-db" if settings.database_dsn else None,
            ca_bundle_configmap=settings.ca_bundle_configmap
            or ("pf-figma-ca" if settings.ca_bundle_file else None),
            stage_resources=settings.agent_stage_resources,
        )

    # --- events -------------------------------------------------------------------------------

    def tenant_for_namespace(self, namespace: str) -> str | None:
        ns = self.rt.store.get("Namespace", namespace)
        if ns is not None:
            tenant = (ns["metadata"].get("labels") or {}).get(TENANT_LABEL)
            if tenant:
                return str(tenant)
        prefix = self.rt.settings.namespace_prefix
        if namespace.startswith(prefix):
            return namespace[len(prefix) :]
        return None

    def observe(self, obj: dict[str, Any], *, deleted: bool) -> None:
        meta = obj["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        if deleted:
            self._forget(key)
            return
        tenant = self.tenant_for_namespace(meta["namespace"]) or f"<none:{meta['namespace']}>"
        previous = self._tenant_of.get(key)
        if previous != tenant:
            if previous:
                self._by_tenant[previous].discard(key)
            self._by_tenant[tenant].add(key)
            self._tenant_of[key] = tenant
        status = obj.get("status") or {}
        spec = obj.get("spec") or {}
        state = classify(status)
        if self._state_of.get(key) != state or previous != tenant:
            # the tenant's counts changed (a new pipeline is queued at once): status soon
            self._state_of[key] = state
            self._counts_changed(tenant)
            if previous and previous != tenant:
                self._counts_changed(previous)
        if status.get("completionTime"):
            if self.admission.remove(key):
                self._wake.set()
            self.admitted.discard(key)
            for job in self.rt.store.by_label("Job", PIPELINE_LABEL, meta["name"]):
                if job["metadata"]["namespace"] == meta["namespace"]:
                    self.rt.store.delete("Job", job)
            if spec.get("ttlSecondsAfterFinished") is not None or meta.get(
                "generation"
            ) != status.get("observedGeneration"):
                self.rt.pipeline_queue.add(key)  # TTL, or an edit to observe
            return
        created = parse_time(meta.get("creationTimestamp")) or datetime.now(UTC)
        workload = Workload(
            key=key,
            tenant=tenant,
            priority=int(spec.get("priority", 50)),
            created=created.timestamp(),
            running=bool(status.get("startTime")) or key in self.admitted,
        )
        if self.admission.upsert(workload):
            self._wake.set()
        if workload.running or spec.get("cancel") or key in self.rejected:
            self.rt.pipeline_queue.add(key)
        elif not status.get("conditions"):
            self._fresh.add(key)  # the admission loop reconciles new pipelines (admitted or queued)
            self._wake.set()

    def observe_job(self, job: dict[str, Any], *, deleted: bool) -> None:
        meta = job["metadata"]
        pipeline = (meta.get("labels") or {}).get(PIPELINE_LABEL)
        if pipeline:
            key = f"{meta['namespace']}/{pipeline}"
            if deleted and (meta["namespace"], meta["name"]) not in self._deleting:
                body = self.rt.store.get(PIPELINE_KIND, pipeline, meta["namespace"])
                if body is not None and not (body.get("status") or {}).get("completionTime"):
                    self.deleted_jobs.setdefault(key, set()).add(meta["name"])
            self._deleting.discard((meta["namespace"], meta["name"]))
            self.rt.pipeline_queue.add(key)

    def observe_pod(self, pod: dict[str, Any], *, deleted: bool) -> None:
        """Agent pods are not cached: only why one failed or is stuck is kept, per Job."""
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        job = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")
        pipeline = labels.get(PIPELINE_LABEL)
        if not job or not pipeline:
            return
        key = f"{meta.get('namespace')}/{pipeline}"
        found = diagnosis.diagnose_pod(pod)
        if found is None or key not in self._tenant_of:
            return
        problems = self.pod_problems.setdefault(key, {})
        if problems.get(job) != found:
            problems[job] = found
            self.rt.pipeline_queue.add(key)

    def tenant_changed(self, name: str, *, deleted: bool) -> None:
        if deleted:
            self.admission.remove_tenant(name)
        else:
            body = self.rt.store.get(TENANT_KIND, name)
            if body is None:
                return
            try:
                spec = TenantSpec.model_validate(body.get("spec") or {})
            except ValidationError:
                return
            caps = spec.effective_pipelines()
            held = not spec.suspended and not self._database_ready(body)
            quota = TenantQuota(
                name=name,
                weight=plan_weight(spec.plan.value),
                max_concurrent=caps.max_concurrent,
                max_queued=caps.max_queued,
                suspended=spec.suspended or held,
                hold_reason=f"waiting for tenant {name}'s database credentials" if held else None,
            )
            if not self.admission.set_tenant(quota):
                return
        self._wake.set()

    def _database_ready(self, tenant_body: dict[str, Any]) -> bool:
        """Agent pods need the tenant's database Secret before they can start."""
        if self.rt.db is None:
            return True
        return bool(((tenant_body.get("status") or {}).get("database") or {}).get("ready"))

    def _counts_changed(self, tenant: str) -> None:
        if not tenant.startswith("<none:"):
            self.rt.tenant_queue.add_after(tenant, COUNTS_DELAY)

    def _forget(self, key: str) -> None:
        self._state_of.pop(key, None)
        self.pod_problems.pop(key, None)
        self.deleted_jobs.pop(key, None)
        self.admission.remove(key)
        self.admitted.discard(key)
        self.rejected.pop(key, None)
        self.positions.pop(key, None)
        self.rt.pipeline_queue.discard(key)
        tenant = self._tenant_of.pop(key, None)
        if tenant:
            self._by_tenant[tenant].discard(key)
            self.rt.tenant_queue.add_after(tenant, 0.5)
        self._wake.set()

    # --- views ----------------------------------------------------------------------------------

    def counts(self, tenant: str) -> dict[str, int]:
        counts = {"running": 0, "queued": 0, "succeeded": 0, "failed": 0}
        store = self.rt.store
        for key in self._by_tenant.get(tenant, ()):
            ns, name = key.split("/", 1)
            body = store.get(PIPELINE_KIND, name, ns)
            if body is not None:
                counts[classify(body.get("status") or {})] += 1
        return counts

    # --- admission loop -------------------------------------------------------------------------

    async def run(self) -> None:
        await asyncio.gather(self._admission_loop(), self._metrics_loop())

    async def _admission_loop(self) -> None:
        """Admit what fits on every change; keep queued pipelines' status current.

        A wake costs one (cached) decision. New pipelines are shown queued at once; the
        positions and reasons of all queued pipelines are compared with their status at most
        every ``queue_position_refresh_seconds``, and only after the decision changed.
        """
        loop = asyncio.get_running_loop()
        refresh = self.rt.settings.queue_position_refresh_seconds
        refreshed = -1  # admission version of the last refresh
        timer: asyncio.TimerHandle | None = None
        while True:
            await self._wake.wait()
            self._wake.clear()
            decision = self.admission.decide(self.rt.settings.global_max_concurrent)
            for key in decision.admit:
                self.admission.mark_running(key, started=time.time())
                self.admitted.add(key)
                self.rt.pipeline_queue.add(key)
            for key, reason in decision.rejected.items():
                if key not in self.rejected:
                    self.rejected[key] = reason
                    self.admission.remove(key)
                    self.rt.pipeline_queue.add(key)
            self.positions = dict(decision.positions)
            self.blocked = dict(decision.blocked)
            for key in self._fresh:  # new: show it queued right away
                if key in self.blocked:
                    self.rt.pipeline_queue.add(key)
            self._fresh.clear()
            if not self.blocked or self.admission.version == refreshed:
                continue
            now = time.monotonic()
            if now - self._last_refresh >= refresh:
                self._last_refresh = now
                refreshed = self.admission.version
                self._refresh_queued()
            elif timer is None or timer.when() <= loop.time():
                timer = loop.call_later(refresh - (now - self._last_refresh), self._wake.set)

    def _refresh_queued(self) -> None:
        """Reconcile the queued pipelines whose written reason or position is out of date."""
        store = self.rt.store
        for key, reason in self.blocked.items():
            ns, name = key.split("/", 1)
            body = store.get(PIPELINE_KIND, name, ns)
            if body is None:
                continue
            status = body.get("status") or {}
            admitted = None
            for cond in status.get("conditions") or ():
                if cond.get("type") == "Admitted":
                    admitted = cond
                    break
            if (
                admitted is None
                or admitted.get("message") != reason
                or position_moved(status.get("queuePosition"), self.positions.get(key))
            ):
                self.rt.pipeline_queue.add(key)

    async def _metrics_loop(self) -> None:
        while True:
            states: Counter[tuple[str, str]] = Counter()
            for tenant, keys in list(self._by_tenant.items()):
                for key in list(keys):
                    ns, name = key.split("/", 1)
                    body = self.rt.store.get(PIPELINE_KIND, name, ns)
                    if body is not None:
                        states[(tenant, classify(body.get("status") or {}))] += 1
            metrics.PIPELINES.clear()
            metrics.QUEUE_DEPTH.clear()
            for (tenant, state), n in states.items():
                metrics.PIPELINES.labels(tenant, state).set(n)
                if state == "queued":
                    metrics.QUEUE_DEPTH.labels(tenant).set(n)
            await asyncio.sleep(2)

    # --- reconcile ------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        """One pass; a pipeline deleted while it runs is not an error (its writes 404)."""
        try:
            return await self._reconcile(key)
        except ApiError as err:
            if not err.not_found:
                raise
            ns, name = key.split("/", 1)
            uid = (self.rt.store.get(PIPELINE_KIND, name, ns) or {}).get("metadata", {}).get("uid")
            current = await self.rt.kube.get_or_none(PIPELINE_KIND, name, ns)
            if not deleted_while_reconciling(err, current, uid):
                raise
            log.debug("pipeline %s was deleted while it was reconciled", key)
            return None

    async def _reconcile(self, key: str) -> float | None:
        rt = self.rt
        ns, name = key.split("/", 1)
        body = rt.store.get(PIPELINE_KIND, name, ns)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None  # owner references delete the Jobs
        meta = body["metadata"]
        generation = meta.get("generation")
        status = body.get("status") or {}
        now = datetime.now(UTC)
        if status.get("completionTime"):
            return await self._finished(body, now)
        try:
            spec = DesignPipelineSpec.model_validate(body.get("spec") or {})
        except ValidationError as err:
            await self._invalid(body, str(err).replace("\n", " ")[:500], generation, now)
            return None
        tenant = self.tenant_for_namespace(ns)
        tenant_body = rt.store.get(TENANT_KIND, tenant) if tenant else None
        tenant_spec = TenantSpec.model_validate((tenant_body or {}).get("spec") or {})

        jobs = await self._job_facts(body, status)
        started = bool(status.get("startTime"))
        blocked = self.blocked.get(key)
        if tenant_body is None:
            blocked = f"namespace {ns} does not belong to a Tenant"
        admission = flow.Admission(
            admitted=started or key in self.admitted,
            position=self.positions.get(key),
            blocked=blocked,
            rejected=self.rejected.get(key),
        )
        created = parse_time(meta.get("creationTimestamp")) or now
        facts = {
            "name": name,
            "spec": spec,
            "status": status,
            "generation": generation,
            "created": created,
            "jobs": jobs,
            "admission": admission,
            "now": now,
            "gate": spec.effective_quality(tenant_spec),  # the tenant's quality defaults
        }
        p = flow.plan(**facts)
        job_obj: dict[str, Any] | None = None
        if p.create_job is not None:
            stage, attempt = p.create_job
            job_obj = self._render(body, spec, tenant or "", tenant_spec, stage, attempt)
            missing = await self._missing_references(job_obj)
            if missing:  # fail now, not when the pod times out in ContainerCreating
                p = flow.plan(**facts, preflight="; ".join(missing))

        for job in p.delete_jobs:
            self._deleting.add((ns, job))
            await rt.kube.delete("Job", job, ns, propagation="Background")
        create_error: str | None = None
        if p.create_job is not None and job_obj is not None:
            stage, attempt = p.create_job
            create_error = await self._create_job(body, job_obj, stage)
            if create_error:
                for entry in p.status["stages"]:
                    if entry["name"] == stage:
                        entry["message"] = create_error
        if p.started:
            metrics.QUEUE_WAIT.observe(max((now - created).total_seconds(), 0.0))
        for stage, outcome, seconds, finished_job in p.stage_finished:
            metrics.STAGE_DURATION.labels(stage, outcome).observe(seconds)
            self.pod_problems.get(key, {}).pop(finished_job.name, None)
            self.deleted_jobs.get(key, set()).discard(finished_job.name)
        if p.quality is not None:  # the visual stage's figures, seen in this pass
            metrics.PIPELINE_FIDELITY.labels(tenant or "").observe(p.quality["fidelity"])
        changed = await self._write_status(body, status, p.status)
        if rt.db is not None and (changed or p.stage_finished or p.events):
            rt.db.record_pipeline(tenant or "", body, p.status, p.stage_finished, p.events)
        for type_, reason, message in p.events:
            await rt.kube.event(body, type_=type_, reason=reason, message=message)
        if p.stage_finished:
            self._record_usage(tenant or "", p.stage_finished)
        if p.finished == "Succeeded" and rt.db is not None:
            task = asyncio.get_running_loop().create_task(self._publish(body, tenant or ""))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if p.finished:
            begun = parse_time(p.status.get("startTime")) or created
            metrics.PIPELINE_DURATION.labels(p.finished).observe(
                max((now - begun).total_seconds(), 0.0)
            )
            self.admission.remove(key)
            self.admitted.discard(key)
            self.rejected.pop(key, None)
            self._wake.set()
        if p.started or p.finished:  # tenant status counts, coalesced
            rt.tenant_queue.add_after(tenant or "", 0.3)
        if p.delete_pipeline:
            await rt.kube.delete(PIPELINE_KIND, name, ns, uid=meta.get("uid"))
            return None
        if create_error:
            raise RequeueAfter(5.0)
        if p.finished:
            self.pod_problems.pop(key, None)
            self.deleted_jobs.pop(key, None)
        podless = self._podless_recheck(name, ns, p.status, jobs)
        if podless is not None:
            # no pod yet: look (again) for the Job controller's FailedCreate (quota, admission)
            return min(p.requeue_after or podless, podless)
        return p.requeue_after

    async def _publish(self, body: dict[str, Any], tenant: str) -> None:
        """Publish a succeeded pipeline's project (and visual report) where its owners may read
        it (see publish.py). Best effort: the database keeps everything anyway."""
        db = self.rt.db
        assert db is not None
        meta = body["metadata"]
        key = f"{meta['namespace']}/{meta['name']}/{meta['uid']}"
        try:
            stored = await db.pipeline_artifacts(key)
            by_name = {(a.stage, a.name): a for a in stored}
            candidates = [publish.Candidate(a.stage, a.name, a.size) for a in stored]
            chosen, left = publish.choose(candidates, STAGE_ORDER)
            if not chosen and not left:
                return
            files = {c.name: await db.read_artifact(by_name[(c.stage, c.name)].uri) for c in chosen}
            cm = publish.artifacts_configmap(body, tenant, files, key)
            await self.rt.kube.apply(cm)
        except Exception as err:  # never fails the pipeline: it succeeded
            log.warning("cannot publish the artifacts of %s: %s", key, err)
            return
        name = cm["metadata"]["name"]
        if chosen:
            await self.rt.kube.event(
                body,
                type_="Normal",
                reason="ArtifactsPublished",
                message=f"ConfigMap {name}: "
                + ", ".join(f"{c.stage}/{c.name} ({c.size} bytes)" for c in chosen)
                + f"; pf-figma artifacts get {meta['namespace']}/{meta['name']} -o DIR",
            )
        if left:
            await self.rt.kube.event(
                body,
                type_="Warning",
                reason="ArtifactsNotPublished",
                message=", ".join(f"{c.stage}/{c.name} ({c.size} bytes)" for c in left)
                + f" do not fit in ConfigMap {name} ({publish.MAX_BYTES} bytes at most); "
                "they stay in the artifact database (pf-figma artifacts get --dsn)",
            )

    def _podless_recheck(
        self,
        pipeline: str,
        ns: str,
        status: dict[str, Any],
        jobs: dict[str, flow.JobFacts],
    ) -> float | None:
        """When to look again at a running attempt whose Job has no pod (None: none has)."""
        cached = {
            j["metadata"]["name"]: j
            for j in self.rt.store.by_label("Job", PIPELINE_LABEL, pipeline)
            if j["metadata"]["namespace"] == ns
        }
        waits = []
        for entry in status.get("stages") or ():
            job = cached.get(entry.get("job") or "")
            fact = jobs.get(entry.get("job") or "")
            if entry.get("state") != "Running" or job is None:
                continue
            if fact is not None and fact.problem is not None:
                continue  # already said; the Job's own events will wake us
            age = podless_for(job)
            if age is not None:
                waits.append(STARVED_RECHECK if age >= STARVED_GRACE else STARVED_GRACE - age)
            age = unready_for(job)
            if age is not None:
                waits.append(STARVED_RECHECK if age >= UNREADY_GRACE else UNREADY_GRACE - age)
        return min(waits) if waits else None

    async def _finished(self, body: dict[str, Any], now: datetime) -> float | None:
        """A finished pipeline's status is final (the cache keeps only its summary, see
        cache.slim): what is left is observing spec edits and its TTL."""
        meta, status = body["metadata"], body.get("status") or {}
        name, ns = meta["name"], meta["namespace"]
        generation = meta.get("generation")
        if generation is not None and status.get("observedGeneration") != generation:
            result = await self.rt.kube.patch_status(
                PIPELINE_KIND, name, ns, {"observedGeneration": generation}
            )
            result.setdefault("kind", PIPELINE_KIND)
            self.rt.store.upsert(PIPELINE_KIND, result)
        ttl = (body.get("spec") or {}).get("ttlSecondsAfterFinished")
        completed = parse_time(status.get("completionTime")) or now
        delete, requeue = flow.ttl_expiry(completed, int(ttl) if ttl is not None else None, now)
        if delete:
            await self.rt.kube.delete(PIPELINE_KIND, name, ns, uid=meta.get("uid"))
        return requeue

    def finished_job(self, job: dict[str, Any]) -> bool:
        """Whether ``job`` belongs to a finished pipeline: the cache never needs it again."""
        meta = job["metadata"]
        pipeline = (meta.get("labels") or {}).get(PIPELINE_LABEL)
        body = self.rt.store.get(PIPELINE_KIND, pipeline, meta["namespace"]) if pipeline else None
        return body is not None and bool((body.get("status") or {}).get("completionTime"))

    async def _job_facts(
        self, body: dict[str, Any], status: dict[str, Any]
    ) -> dict[str, flow.JobFacts]:
        rt = self.rt
        meta = body["metadata"]
        ns = meta["namespace"]
        cached = {
            j["metadata"]["name"]: j
            for j in rt.store.by_label("Job", PIPELINE_LABEL, meta["name"])
            if j["metadata"]["namespace"] == ns
        }
        key = f"{ns}/{meta['name']}"
        problems = self.pod_problems.get(key, {})
        facts: dict[str, flow.JobFacts] = {}
        for entry in status.get("stages") or []:
            jname = entry.get("job")
            if not jname or entry.get("state") not in ("Running", "Pending"):
                continue
            job = cached.get(jname)
            if job is None:  # not in the cache (yet): ask the API before deciding it is gone
                job = await rt.kube.get_or_none("Job", jname, ns)
                if job is None:
                    if entry.get("state") == "Running" and jname in self.deleted_jobs.get(key, ()):
                        facts[jname] = flow.JobFacts(
                            name=jname, state="Failed", problem=diagnosis.job_deleted(jname)
                        )
                    else:
                        facts[jname] = flow.JobFacts(name=jname, state="Missing")
                    continue
                job.setdefault("kind", "Job")
                rt.store.upsert("Job", job)
            if not belongs_to(job, meta.get("uid")):
                # another pipeline's Job holds the name: ours is missing (creating it finds
                # and removes the orphan, see _create_job)
                facts[jname] = flow.JobFacts(name=jname, state="Missing")
                continue
            fact = job_facts(job)
            problem = problems.get(jname)
            if fact.state != "Running" and entry.get("state") == "Running":
                pods = await self.rt.kube.list("Pod", ns, label_selector=f"job-name={jname}")
                if fact.state == "Failed":
                    problem = diagnosis.diagnose_pods(pods) or problem
                fact = dataclasses.replace(fact, result=self._result(pods), problem=problem)
            elif fact.state == "Running":
                age = podless_for(job)
                if problem is None and age is not None and age >= STARVED_GRACE:
                    problem = await self._pod_create_failed(ns, job)
                age = unready_for(job)
                if problem is None and age is not None and age >= UNREADY_GRACE:
                    problem = await self._mount_failed(ns, jname)
                fact = dataclasses.replace(fact, problem=problem)
            facts[jname] = fact
        return facts

    async def _mount_failed(self, ns: str, jname: str) -> diagnosis.Diagnosis | None:
        events = await self.rt.kube.list(
            "Event", ns, field_selector="involvedObject.kind=Pod,reason=FailedMount"
        )
        mine = [
            e for e in events if (e.get("involvedObject") or {}).get("name", "").startswith(jname)
        ]
        return diagnosis.mount_failed(mine)

    async def _pod_create_failed(self, ns: str, job: dict[str, Any]) -> diagnosis.Diagnosis | None:
        uid = job["metadata"].get("uid")
        if not uid:
            return None
        events = await self.rt.kube.list(
            "Event", ns, field_selector=f"involvedObject.uid={uid},reason=FailedCreate"
        )
        return diagnosis.pod_create_failed(events)

    @staticmethod
    def _result(pods: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The agent's result: the termination message of the Job's (last) pod."""
        pods = sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")
        for pod in reversed(pods):
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                term = (cs.get("state") or {}).get("terminated") or {}
                result = flow.parse_result(term.get("message"))
                if result is not None:
                    return result
                if term.get("message"):
                    return {"outcome": "Failed", "message": term["message"][-500:]}
        return None

    def _render(
        self,
        body: dict[str, Any],
        spec: DesignPipelineSpec,
        tenant: str,
        tenant_spec: TenantSpec,
        stage: str,
        attempt: int,
    ) -> dict[str, Any]:
        return render_job(
            pipeline=body,
            spec=spec,
            tenant=tenant,
            tenant_spec=tenant_spec,
            stage=stage,
            attempt=attempt,
            agent=self.agent,
            llm_allowed=self._llm_allowed(tenant, tenant_spec),
        )

    async def _missing_references(self, job: dict[str, Any]) -> list[str]:
        """The ConfigMaps (and keys) the Job's pod cannot start without that do not exist.
        Secrets are not read (the operator may not): a missing one shows up at once as the
        pod's CreateContainerConfigError (see diagnosis)."""
        ns = job["metadata"]["namespace"]
        pod_spec = job["spec"]["template"]["spec"]
        live = {
            name: await self.rt.kube.get_or_none("ConfigMap", name, ns)
            for name in diagnosis.config_map_names(pod_spec)
        }
        return diagnosis.missing_references(pod_spec, live)

    async def _create_job(
        self, body: dict[str, Any], job: dict[str, Any], stage: str
    ) -> str | None:
        try:
            created = await self.rt.kube.create(job)
        except ApiError as err:
            if err.conflict:  # created before a restart: the same attempt, never a second Job
                return await self._name_taken(body, job)
            log.warning(
                "cannot create Job %s/%s: %s",
                job["metadata"]["namespace"],
                job["metadata"]["name"],
                err.message,
            )
            await self.rt.kube.event(
                body,
                type_="Warning",
                reason="JobCreateFailed",
                message=f"{job['metadata']['name']}: {err.message}",
            )
            return f"cannot create Job {job['metadata']['name']}: {err.message}"[:500]
        metrics.JOBS_CREATED.labels(stage).inc()
        created.setdefault("kind", "Job")
        self.rt.store.upsert("Job", created)
        return None

    async def _name_taken(self, body: dict[str, Any], job: dict[str, Any]) -> str | None:
        """The Job name of an attempt exists: ours (created before a restart) is kept; an
        orphaned Job of another pipeline by the same name is deleted, with an Event, and the
        attempt's own Job is created on the next pass."""
        meta = job["metadata"]
        ns, jname = meta["namespace"], meta["name"]
        live = await self.rt.kube.get_or_none("Job", jname, ns)
        if live is None:
            return f"Job {jname} is being deleted; creating it again"
        if belongs_to(live, body["metadata"].get("uid")):
            live.setdefault("kind", "Job")
            self.rt.store.upsert("Job", live)
            return None
        owner = controller_uid(live) or "none (orphaned)"
        self._deleting.add((ns, jname))
        await self.rt.kube.delete("Job", jname, ns, uid=live["metadata"].get("uid"))
        self.rt.store.delete("Job", live)
        message = (
            f"deleted Job {jname}: it holds this attempt's name but belongs to another "
            f"pipeline (owner {owner}), e.g. one deleted with --cascade=orphan"
        )
        log.warning("%s/%s: %s", ns, body["metadata"]["name"], message)
        await self.rt.kube.event(
            body, type_="Warning", reason="OrphanedJobDeleted", message=message
        )
        return f"waiting for the orphaned Job {jname} of an earlier pipeline to be deleted"

    async def _write_status(
        self, body: dict[str, Any], old: dict[str, Any], new: dict[str, Any]
    ) -> bool:
        if _same_status(old, new):
            return False
        meta = body["metadata"]
        patch = dict(new)
        for field in ("currentStage", "queuePosition"):  # null removes a field in merge patch
            patch.setdefault(field, None)
        result = await self.rt.kube.patch_status(
            PIPELINE_KIND, meta["name"], meta["namespace"], patch
        )
        result.setdefault("kind", PIPELINE_KIND)
        self.rt.store.upsert(PIPELINE_KIND, result)
        return True

    async def _invalid(
        self, body: dict[str, Any], message: str, generation: int | None, now: datetime
    ) -> None:
        status = dict(body.get("status") or {})
        if status.get("completionTime"):
            return None
        from .model import set_condition

        conds = set_condition(
            status.get("conditions") or [],
            "Succeeded",
            "False",
            "InvalidSpec",
            message,
            generation,
            now,
        )
        new = {
            **status,
            "conditions": [c.to_dict() for c in conds],
            "completionTime": format_time(now),
            "observedGeneration": generation,
        }
        await self._write_status(body, status, new)
        await self.rt.kube.event(body, type_="Warning", reason="InvalidSpec", message=message)
        return None

    def _llm_allowed(self, tenant: str, tenant_spec: TenantSpec) -> bool:
        """False once the tenant's month-to-date LLM spend reaches llm.monthlyBudgetUSD."""
        budget = tenant_spec.llm.monthly_budget_usd
        if self.rt.db is None or budget is None or not tenant_spec.llm.enabled:
            return True
        spent = self.rt.db.spent_this_month(tenant)
        return spent is None or spent < budget

    def _record_usage(
        self, tenant: str, finished: list[tuple[str, str, float, flow.JobFacts]]
    ) -> None:
        for _stage, _outcome, _seconds, job in finished:
            usage = (job.result or {}).get("usage") or {}
            tin, tout = int(usage.get("inputTokens") or 0), int(usage.get("outputTokens") or 0)
            usd = float(usage.get("usd") or 0.0)
            if tin:
                metrics.LLM_TOKENS.labels(tenant, "input").inc(tin)
            if tout:
                metrics.LLM_TOKENS.labels(tenant, "output").inc(tout)
            if usd:
                metrics.LLM_COST.labels(tenant).inc(usd)


def _same_status(old: dict[str, Any], new: dict[str, Any]) -> bool:
    def norm(status: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in status.items() if v is not None}
        out["conditions"] = sorted(
            (
                {k: v for k, v in c.items() if k != "lastTransitionTime"}
                for c in status.get("conditions") or []
            ),
            key=lambda c: str(c.get("type")),
        )
        return out

    return norm(old) == norm(new)

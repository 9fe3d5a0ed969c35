"""DesignPipeline controller: **where a pipeline's next Job is decided.**

Watch events of DesignPipelines, their Jobs and agent pods put keys (``namespace/name``) into
its queue; which queued pipelines may start is the admission controller's (admission.py). A
reconcile gathers facts from the cache (and, when a Job has just finished, its pod's termination
message), asks the pure state machine in ``flow`` for a Plan, and carries it out: create or
delete Jobs, write status, record Events and history.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from pf_agents.contract import STAGE_ORDER

from . import diagnosis, flow, metrics, publish
from .cache import controller_uid
from .constants import MANAGED_SELECTOR, PIPELINE_LABEL
from .kube import ApiError, deleted_while_reconciling
from .kueue import KueueQueueing
from .model import (
    PIPELINE_KIND,
    TENANT_KIND,
    DesignPipelineSpec,
    DesignPipelineStatus,
    StageState,
    StatusError,
    TenantSpec,
    parse_conditions,
    set_condition,
)
from .ports import (
    AdmissionView,
    Cache,
    Client,
    Event,
    PipelineRecords,
    Queue,
    Request,
    TenantLookup,
    Watch,
)
from .render.job import AgentSettings, render_job
from .times import parse_time
from .tracing import Tracing, exemplar
from .workqueue import RequeueAfter

log = logging.getLogger(__name__)

#: a running Job without a pod this long is asked why (the Job controller's FailedCreate)
STARVED_GRACE = 3.0
#: a running Job whose pods are none ready this long is asked why (the kubelet's FailedMount)
UNREADY_GRACE = 10.0
#: seconds between looks at a running Job that has no pod yet (FailedCreate Events)
STARVED_RECHECK = 10.0


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
    if (job.get("spec") or {}).get("suspend"):  # waits for Kueue: no pod by design
        return None
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


@dataclass(frozen=True)
class PipelineConfig:
    #: how agent Jobs look (render.job)
    agent: AgentSettings


class PipelineController:
    """DesignPipeline controller: **where a pipeline's next Job is decided** (``_reconcile``).

    Watches DesignPipelines, their Jobs and their agent pods (pods are not cached: only why
    one failed or cannot start is kept, per Job). Ports: ``cache`` (pipelines, Jobs, Tenants,
    Namespaces; its own writes go back in), ``client`` (the API), ``queue`` (its own, keys
    ``namespace/name``), ``admission`` (the admission controller's verdicts), ``index`` (a
    namespace's tenant) and ``db`` (history, LLM spend, artifacts; None without a database).
    """

    name = "pipeline"

    def __init__(
        self,
        *,
        cache: Cache,
        client: Client,
        queue: Queue,
        admission: AdmissionView,
        index: TenantLookup,
        config: PipelineConfig,
        db: PipelineRecords | None = None,
        workers: int = 32,
        tracing: Tracing | None = None,
        kueue: KueueQueueing | None = None,
    ) -> None:
        self.cache = cache
        self.tracing = tracing or Tracing.off()
        #: queueing: kueue (None: never): stage Jobs handed to Kueue, Admitted from its Workloads
        self.kueue = kueue
        self.client = client
        self.queue = queue
        self.admission = admission
        self.index = index
        self.db = db
        self.workers = workers
        self.agent = config.agent
        # pipeline key -> Job name -> why its pod failed or cannot progress (from pod events)
        self.pod_problems: dict[str, dict[str, diagnosis.Diagnosis]] = {}
        # pipeline key -> Jobs deleted by someone else while they ran
        self.deleted_jobs: dict[str, set[str]] = {}
        self._deleting: set[tuple[str, str]] = set()  # (namespace, Job) deleted by us
        self._tasks: set[asyncio.Task[None]] = set()
        self.watches = (
            Watch(PIPELINE_KIND, self._on_pipeline),
            Watch("Job", self._on_job, labels=MANAGED_SELECTOR, drop=self.finished_job),
            Watch("Pod", self._on_pod, labels=MANAGED_SELECTOR, cached=False),
        )

    # --- watches -----------------------------------------------------------------------------

    def _on_pipeline(self, event: Event) -> Iterable[Request]:
        key = event.key
        if event.deleted:
            self.pod_problems.pop(key, None)
            self.deleted_jobs.pop(key, None)
            self.queue.discard(key)
            return ()
        obj = event.obj
        meta, status, spec = obj["metadata"], obj.get("status") or {}, obj.get("spec") or {}
        if status.get("completionTime"):
            for job in self.cache.by_label("Job", PIPELINE_LABEL, meta["name"]):
                if job["metadata"]["namespace"] == meta["namespace"]:
                    self.cache.delete("Job", job)  # never read again
            if spec.get("ttlSecondsAfterFinished") is not None or meta.get(
                "generation"
            ) != status.get("observedGeneration"):
                return (Request(key),)  # TTL, or an edit to observe
            return ()
        if (
            status.get("startTime")
            or self.admission.admitted(key)
            or spec.get("cancel")
            or self.admission.rejected(key)
        ):
            return (Request(key),)
        return ()  # queued: the admission controller hands it over when its status is due

    def _on_job(self, event: Event) -> Iterable[Request]:
        meta = event.obj["metadata"]
        pipeline = (meta.get("labels") or {}).get(PIPELINE_LABEL)
        if not pipeline:
            return ()
        key = f"{meta['namespace']}/{pipeline}"
        if event.deleted and (meta["namespace"], meta["name"]) not in self._deleting:
            body = self.cache.get(PIPELINE_KIND, pipeline, meta["namespace"])
            if body is not None and not (body.get("status") or {}).get("completionTime"):
                self.deleted_jobs.setdefault(key, set()).add(meta["name"])
        self._deleting.discard((meta["namespace"], meta["name"]))
        return (Request(key),)

    def _on_pod(self, event: Event) -> Iterable[Request]:
        """Agent pods are not cached: only why one failed or is stuck is kept, per Job."""
        meta = event.obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        job = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")
        pipeline = labels.get(PIPELINE_LABEL)
        if not job or not pipeline:
            return ()
        key = f"{meta.get('namespace')}/{pipeline}"
        found = diagnosis.diagnose_pod(event.obj)
        if found is None or self.index.tenant_of(key) is None:
            return ()
        problems = self.pod_problems.setdefault(key, {})
        if problems.get(job) == found:
            return ()
        problems[job] = found
        return (Request(key),)

    def finished_job(self, job: dict[str, Any]) -> bool:
        """Whether ``job`` belongs to a finished pipeline: the cache never needs it again."""
        meta = job["metadata"]
        pipeline = (meta.get("labels") or {}).get(PIPELINE_LABEL)
        body = self.cache.get(PIPELINE_KIND, pipeline, meta["namespace"]) if pipeline else None
        return body is not None and bool((body.get("status") or {}).get("completionTime"))

    async def start(self) -> None:
        return None

    # --- reconcile ------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        """One pass (in the pipeline's trace: its logs carry the trace id); a pipeline deleted
        while it runs is not an error (its writes 404)."""
        ns, name = key.split("/", 1)
        with self.tracing.pipeline_context(
            (self.cache.get(PIPELINE_KIND, name, ns) or {}).get("metadata")
        ):
            try:
                return await self._reconcile(key)
            except ApiError as err:
                if not err.not_found:
                    raise
                uid = (self.cache.get(PIPELINE_KIND, name, ns) or {}).get("metadata", {}).get("uid")
                current = await self.client.get_or_none(PIPELINE_KIND, name, ns)
                if not deleted_while_reconciling(err, current, uid):
                    raise
                log.debug("pipeline %s was deleted while it was reconciled", key)
                return None

    async def _reconcile(self, key: str) -> float | None:
        ns, name = key.split("/", 1)
        body = self.cache.get(PIPELINE_KIND, name, ns)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None  # owner references delete the Jobs
        meta = body["metadata"]
        generation = meta.get("generation")
        raw_status = body.get("status") or {}
        now = datetime.now(UTC)
        try:  # read once, here: everything below works on the typed status
            status = DesignPipelineStatus.parse(raw_status)
        except StatusError as err:
            return await self._malformed(body, str(err), generation, now)
        if status.completion_time is not None:
            return await self._finished(body, status, now)
        try:
            spec = DesignPipelineSpec.model_validate(body.get("spec") or {})
        except ValidationError as err:
            await self._invalid(body, status, str(err).replace("\n", " ")[:500], generation, now)
            return None
        tenant = self.index.tenant_for_namespace(ns)
        tenant_body = self.cache.get(TENANT_KIND, tenant) if tenant else None
        tenant_spec = TenantSpec.model_validate((tenant_body or {}).get("spec") or {})

        jobs = await self._job_facts(body, status)
        started = status.start_time is not None
        admission = self.admission.verdict(key)
        admission = dataclasses.replace(
            admission,
            admitted=started or admission.admitted,
            blocked=f"namespace {ns} does not belong to a Tenant"
            if tenant_body is None
            else admission.blocked,
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
            if self.kueue is not None and self.kueue.enabled(tenant_spec):
                job_obj = await self.kueue.queued_job(
                    job_obj, tenant or "", tenant_spec, spec.priority
                )
            missing = await self._missing_references(job_obj)
            if missing:  # fail now, not when the pod times out in ContainerCreating
                p = flow.plan(**facts, preflight="; ".join(missing))
        spans = self.tracing.ended(meta, tenant or "", raw_status, p, jobs, now)  # + status.traceID

        for job in p.delete_jobs:
            self._deleting.add((ns, job))
            await self.client.delete("Job", job, ns, propagation="Background")
        create_error: str | None = None
        if p.create_job is not None and job_obj is not None:
            stage, attempt = p.create_job
            create_error = await self._create_job(body, job_obj, stage)
            if create_error:
                stages = tuple(
                    e.model_copy(update={"message": create_error}) if e.name == stage else e
                    for e in p.status.stages
                )
                p.status = p.status.model_copy(update={"stages": stages})
        if p.started:
            metrics.QUEUE_WAIT.observe(
                max((now - created).total_seconds(), 0.0), exemplar(p.status)
            )
        for stage, outcome, seconds, finished_job in p.stage_finished:
            metrics.STAGE_DURATION.labels(stage, outcome).observe(seconds, exemplar(p.status))
            self.pod_problems.get(key, {}).pop(finished_job.name, None)
            self.deleted_jobs.get(key, set()).discard(finished_job.name)
        if p.quality is not None:  # the visual stage's figures, seen in this pass
            metrics.PIPELINE_FIDELITY.labels(tenant or "").observe(p.quality["fidelity"])
        kueue_recheck = None
        if self.kueue is not None and self.kueue.enabled(tenant_spec):
            current = flow.kueue_job(p.status)
            p.status, kueue_recheck = await self.kueue.admitted_status(
                p.status, self.cache.get("Job", current, ns) if current else None, generation, now
            )
        written = p.status.to_json()  # the status JSON, exactly as the state machine left it
        changed = await self._write_status(body, raw_status, written)
        self.tracing.emit(meta, spans)  # the spans that ended, once their status is written
        if self.db is not None and (changed or p.stage_finished or p.events):
            self.db.record_pipeline(tenant or "", body, written, p.stage_finished, p.events)
        for type_, reason, message in p.events:
            await self.client.event(body, type_=type_, reason=reason, message=message)
        if p.stage_finished:
            self._record_usage(tenant or "", p.stage_finished)
        if p.finished == "Succeeded" and self.db is not None:
            task = asyncio.get_running_loop().create_task(self._publish(body, tenant or ""))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if p.finished:
            begun = p.status.start_time or created
            metrics.PIPELINE_DURATION.labels(p.finished).observe(
                max((now - begun).total_seconds(), 0.0), exemplar(p.status)
            )
            self.admission.finished(key)  # the next queued pipeline may start
        if p.delete_pipeline:
            await self.client.delete(PIPELINE_KIND, name, ns, uid=meta.get("uid"))
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
        if kueue_recheck is not None:  # waiting in Kueue: its message and position move
            return min(p.requeue_after or kueue_recheck, kueue_recheck)
        return p.requeue_after

    async def _publish(self, body: dict[str, Any], tenant: str) -> None:
        """Publish a succeeded pipeline's project (and visual report) where its owners may read
        it (see publish.py). Best effort: the database keeps everything anyway."""
        db = self.db
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
            await self.client.apply(cm)
        except Exception as err:  # never fails the pipeline: it succeeded
            log.warning("cannot publish the artifacts of %s: %s", key, err)
            return
        name = cm["metadata"]["name"]
        if chosen:
            await self.client.event(
                body,
                type_="Normal",
                reason="ArtifactsPublished",
                message=f"ConfigMap {name}: "
                + ", ".join(f"{c.stage}/{c.name} ({c.size} bytes)" for c in chosen)
                + f"; pf-figma artifacts get {meta['namespace']}/{meta['name']} -o DIR",
            )
        if left:
            await self.client.event(
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
        status: DesignPipelineStatus,
        jobs: dict[str, flow.JobFacts],
    ) -> float | None:
        """When to look again at a running attempt whose Job has no pod (None: none has)."""
        cached = {
            j["metadata"]["name"]: j
            for j in self.cache.by_label("Job", PIPELINE_LABEL, pipeline)
            if j["metadata"]["namespace"] == ns
        }
        waits = []
        for entry in status.stages:
            job = cached.get(entry.job or "")
            fact = jobs.get(entry.job or "")
            if entry.state is not StageState.RUNNING or job is None:
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

    async def _finished(
        self, body: dict[str, Any], status: DesignPipelineStatus, now: datetime
    ) -> float | None:
        """A finished pipeline's status is final (the cache keeps only its summary, see
        cache.slim): what is left is observing spec edits and its TTL."""
        meta = body["metadata"]
        name, ns = meta["name"], meta["namespace"]
        generation = meta.get("generation")
        if generation is not None and status.observed_generation != generation:
            result = await self.client.patch_status(
                PIPELINE_KIND, name, ns, {"observedGeneration": generation}
            )
            result.setdefault("kind", PIPELINE_KIND)
            self.cache.upsert(PIPELINE_KIND, result)
        ttl = (body.get("spec") or {}).get("ttlSecondsAfterFinished")
        completed = status.completion_time or now
        delete, requeue = flow.ttl_expiry(completed, int(ttl) if ttl is not None else None, now)
        if delete:
            await self.client.delete(PIPELINE_KIND, name, ns, uid=meta.get("uid"))
        return requeue

    async def _job_facts(
        self, body: dict[str, Any], status: DesignPipelineStatus
    ) -> dict[str, flow.JobFacts]:
        meta = body["metadata"]
        ns = meta["namespace"]
        cached = {
            j["metadata"]["name"]: j
            for j in self.cache.by_label("Job", PIPELINE_LABEL, meta["name"])
            if j["metadata"]["namespace"] == ns
        }
        key = f"{ns}/{meta['name']}"
        problems = self.pod_problems.get(key, {})
        facts: dict[str, flow.JobFacts] = {}
        for entry in status.stages:
            jname = entry.job
            if not jname or entry.state not in (StageState.RUNNING, StageState.PENDING):
                continue
            job = cached.get(jname)
            if job is None:  # not in the cache (yet): ask the API before deciding it is gone
                job = await self.client.get_or_none("Job", jname, ns)
                if job is None:
                    running = entry.state is StageState.RUNNING
                    if running and jname in self.deleted_jobs.get(key, ()):
                        facts[jname] = flow.JobFacts(
                            name=jname, state="Failed", problem=diagnosis.job_deleted(jname)
                        )
                    else:
                        facts[jname] = flow.JobFacts(name=jname, state="Missing")
                    continue
                job.setdefault("kind", "Job")
                self.cache.upsert("Job", job)
            if not belongs_to(job, meta.get("uid")):
                # another pipeline's Job holds the name: ours is missing (creating it finds
                # and removes the orphan, see _create_job)
                facts[jname] = flow.JobFacts(name=jname, state="Missing")
                continue
            fact = job_facts(job)
            problem = problems.get(jname)
            if fact.state != "Running" and entry.state is StageState.RUNNING:
                pods = await self.client.list("Pod", ns, label_selector=f"job-name={jname}")
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
        events = await self.client.list(
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
        events = await self.client.list(
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
            trace_env=self.tracing.job_env(body["metadata"], stage, attempt),
        )

    async def _missing_references(self, job: dict[str, Any]) -> list[str]:
        """The ConfigMaps (and keys) the Job's pod cannot start without that do not exist.
        Secrets are not read (the operator may not): a missing one shows up at once as the
        pod's CreateContainerConfigError (see diagnosis)."""
        ns = job["metadata"]["namespace"]
        pod_spec = job["spec"]["template"]["spec"]
        live = {
            name: await self.client.get_or_none("ConfigMap", name, ns)
            for name in diagnosis.config_map_names(pod_spec)
        }
        return diagnosis.missing_references(pod_spec, live)

    async def _create_job(
        self, body: dict[str, Any], job: dict[str, Any], stage: str
    ) -> str | None:
        try:
            created = await self.client.create(job)
        except ApiError as err:
            if err.conflict:  # created before a restart: the same attempt, never a second Job
                return await self._name_taken(body, job)
            log.warning(
                "cannot create Job %s/%s: %s",
                job["metadata"]["namespace"],
                job["metadata"]["name"],
                err.message,
            )
            await self.client.event(
                body,
                type_="Warning",
                reason="JobCreateFailed",
                message=f"{job['metadata']['name']}: {err.message}",
            )
            return f"cannot create Job {job['metadata']['name']}: {err.message}"[:500]
        metrics.JOBS_CREATED.labels(stage).inc()
        created.setdefault("kind", "Job")
        self.cache.upsert("Job", created)
        return None

    async def _name_taken(self, body: dict[str, Any], job: dict[str, Any]) -> str | None:
        """The Job name of an attempt exists: ours (created before a restart) is kept; an
        orphaned Job of another pipeline by the same name is deleted, with an Event, and the
        attempt's own Job is created on the next pass."""
        meta = job["metadata"]
        ns, jname = meta["namespace"], meta["name"]
        live = await self.client.get_or_none("Job", jname, ns)
        if live is None:
            return f"Job {jname} is being deleted; creating it again"
        if belongs_to(live, body["metadata"].get("uid")):
            live.setdefault("kind", "Job")
            self.cache.upsert("Job", live)
            return None
        owner = controller_uid(live) or "none (orphaned)"
        self._deleting.add((ns, jname))
        await self.client.delete("Job", jname, ns, uid=live["metadata"].get("uid"))
        self.cache.delete("Job", live)
        message = (
            f"deleted Job {jname}: it holds this attempt's name but belongs to another "
            f"pipeline (owner {owner}), e.g. one deleted with --cascade=orphan"
        )
        log.warning("%s/%s: %s", ns, body["metadata"]["name"], message)
        await self.client.event(body, type_="Warning", reason="OrphanedJobDeleted", message=message)
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
        result = await self.client.patch_status(
            PIPELINE_KIND, meta["name"], meta["namespace"], patch
        )
        result.setdefault("kind", PIPELINE_KIND)
        self.cache.upsert(PIPELINE_KIND, result)
        return True

    async def _invalid(
        self,
        body: dict[str, Any],
        status: DesignPipelineStatus,
        message: str,
        generation: int | None,
        now: datetime,
    ) -> None:
        """An unreadable spec: the pipeline ends (Succeeded False, InvalidSpec), with an Event."""
        conds = set_condition(
            status.conditions, "Succeeded", "False", "InvalidSpec", message, generation, now
        )
        new = status.model_copy(
            update={"conditions": conds, "completion_time": now, "observed_generation": generation}
        )
        await self._write_status(body, body.get("status") or {}, new.to_json())
        await self.client.event(body, type_="Warning", reason="InvalidSpec", message=message)
        return None

    async def _malformed(
        self, body: dict[str, Any], message: str, generation: int | None, now: datetime
    ) -> float | None:
        """A status the typed model cannot read (``message`` names the field, see
        ``DesignPipelineStatus.parse``), e.g. written by hand through the status subresource:
        the pipeline cannot be stepped, so it ends (Succeeded False, reason InvalidStatus,
        with an Event) instead of failing every pass with a traceback. A finished one
        (``completionTime`` set) keeps its status (a warning in the log); its TTL and
        observedGeneration are still kept when those two fields can be read."""
        raw = body.get("status") or {}
        meta = body["metadata"]
        if not isinstance(raw, dict) or raw.get("completionTime"):
            log.warning("pipeline %s/%s: %s", meta["namespace"], meta["name"], message)
            final = ("completionTime", "observedGeneration")
            try:
                done = DesignPipelineStatus.parse({k: raw[k] for k in final if k in raw})
            except (StatusError, TypeError):
                return None
            return await self._finished(body, done, now) if done.completion_time else None
        conds = set_condition(
            parse_conditions(raw.get("conditions")),
            "Succeeded",
            "False",
            "InvalidStatus",
            message,
            generation,
            now,
        )
        new = DesignPipelineStatus(
            conditions=conds, completion_time=now, observed_generation=generation
        )
        await self._write_status(body, raw, new.to_json())
        await self.client.event(body, type_="Warning", reason="InvalidStatus", message=message)
        return None

    def _llm_allowed(self, tenant: str, tenant_spec: TenantSpec) -> bool:
        """False once the tenant's month-to-date LLM spend reaches llm.monthlyBudgetUSD."""
        budget = tenant_spec.llm.monthly_budget_usd
        if self.db is None or budget is None or not tenant_spec.llm.enabled:
            return True
        spent = self.db.spent_this_month(tenant)
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

"""Tenant controller: **where a Tenant becomes a namespace** and its isolation, level-based.

Reads the Tenant and its children from the cache, asks the pure renderer (render/tenant.py) for
the desired objects, server-side applies only what differs, prunes what is no longer desired,
provisions the tenant's database role, and writes status only when it changed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .constants import (
    ADOPT_ANNOTATION,
    HASH_ANNOTATION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    MANAGED_SELECTOR,
    TENANT_CHILD_KINDS,
    TENANT_LABEL,
)
from .diff import drifted_fields, needs_apply, repair_patch, with_hash
from .index import classify
from .kube import ApiError, deleted_while_reconciling
from .kueue import KueueQueueing
from .model import (
    API_VERSION,
    PIPELINE_KIND,
    TENANT_KIND,
    ArtifactsStatus,
    ConditionStatus,
    DatabaseStatus,
    Tenant,
    TenantStatus,
    set_condition,
    summarize_conditions,
)
from .model import PipelineCounts as PipelineCountsStatus
from .ports import (
    Cache,
    Client,
    Event,
    PipelineCounts,
    Queue,
    Request,
    TenantDatabase,
    TenantLookup,
    Watch,
)
from .render import checks, common
from .render import tenant as render_tenant
from .store import roles
from .store.writer import describe
from .tracing import Tracing

log = logging.getLogger(__name__)


# condition -> kinds whose objects make it up
PARTS: dict[str, tuple[str, ...]] = {
    "NamespaceReady": ("Namespace", "ConfigMap"),
    "QuotaApplied": ("ResourceQuota", "LimitRange", "ClusterQueue"),  # + Kueue's queues
    "NetworkIsolated": ("NetworkPolicy",),
    "AccessConfigured": ("ServiceAccount", "RoleBinding"),
}
CA_CONFIGMAP = "pf-figma-ca"
# kinds whose set of objects varies with the spec (others are one fixed object each)
PRUNED_KINDS = ("NetworkPolicy", "RoleBinding")
#: a tenant's pipeline counts are written this long after they change (changes coalesce)
COUNTS_DELAY = 0.5


def _owned(tenant: str) -> bool:
    """Whether a pipeline's tenant is a Tenant (not ``<none:NS>``, see index.unowned)."""
    return not tenant.startswith("<none:")


def namespace_ownership(live: dict[str, Any] | None, tenant: str, uid: str) -> str:
    """Pure: "missing", "owned" (its controller is this Tenant), "adopt" (someone else's
    namespace, annotated ``pffigma.dev/adopt: <tenant>``) or "foreign"."""
    if live is None:
        return "missing"
    meta = live.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == TENANT_KIND and ref.get("uid") == uid:
            return "owned"
    if (meta.get("annotations") or {}).get(ADOPT_ANNOTATION) == tenant:
        return "adopt"
    return "foreign"


def foreign_access(objects: list[dict[str, Any]], uid: str) -> list[dict[str, Any]]:
    """Pure: the Roles and RoleBindings (in an adopted namespace) that pf-figma did not make
    for the Tenant with ``uid``: made by pf-figma means owned by that Tenant."""
    return [
        o
        for o in objects
        if not any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])
    ]


def ca_bundle_configmap(tenant: str, namespace: str, pem: str) -> dict[str, Any]:
    """Pure: the extra CA certificates agent pods trust (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS...)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CA_CONFIGMAP,
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, TENANT_LABEL: tenant},
        },
        "data": {"ca.crt": pem},
    }


def owner_reference(body: dict[str, Any]) -> dict[str, Any]:
    meta = body["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": TENANT_KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


@dataclass(frozen=True)
class TenantConfig:
    render: common.RenderSettings
    #: agents' default resources, checked against the tenant's limits
    agent_resources: checks.AgentResources
    #: PEM of extra CA certificates copied into each tenant namespace (PF_CA_BUNDLE_FILE)
    ca_bundle: str | None = None
    artifact_retention_days: int = 30
    #: every Tenant is looked at again this often (a safety net; cheap cache compares)
    resync_seconds: float = 300.0
    #: the Figma API of analyze stages (PF_FIGMA_API_URL); a Tenant's figma.apiURL wins
    figma_api_url: str = "https://api.figma.com"


#: the public Figma API: reached through the internet egress rule, never resolved here
PUBLIC_FIGMA_HOST = "api.figma.com"
#: seconds a resolved (or unresolvable) Figma API host is remembered
FIGMA_DNS_TTL = 300.0


class TenantController:
    """Tenant controller: **where a Tenant becomes a namespace** (``_reconcile``).

    Watches Tenants, the objects they are made of (by their ``pffigma.dev/tenant`` label) and
    DesignPipelines (a tenant's status counts them). Ports: ``cache`` (its own writes go back
    in), ``client`` (the API), ``queue`` (its own, keys are Tenant names), ``index`` (a
    pipeline's tenant), ``counts`` (a tenant's pipelines by state) and ``db`` (the tenant's
    database role; None without a database).
    """

    name = "tenant"

    def __init__(
        self,
        *,
        cache: Cache,
        client: Client,
        queue: Queue,
        index: TenantLookup,
        counts: PipelineCounts,
        config: TenantConfig,
        db: TenantDatabase | None = None,
        workers: int = 32,
        tracing: Tracing | None = None,
        kueue: KueueQueueing | None = None,
    ) -> None:
        self.cache = cache
        self.tracing = tracing or Tracing.off()
        #: queueing: kueue (None: never): a kueue tenant's ClusterQueue and LocalQueue
        self.kueue = kueue
        self.client = client
        self.queue = queue
        self.index = index
        self.counts = counts
        self.config = config
        self.db = db
        self.workers = workers
        self._state_of: dict[str, tuple[str, str]] = {}  # pipeline key -> (tenant, state)
        self._figma_dns: dict[str, tuple[float, list[str]]] = {}  # host -> (when, addresses)
        children = [k for k in TENANT_CHILD_KINDS if k != "ConfigMap" or config.ca_bundle]
        self.watches = (
            *(Watch(kind, self._on_child, labels=MANAGED_SELECTOR) for kind in children),
            Watch(TENANT_KIND, self._on_tenant),
            Watch(PIPELINE_KIND, self._on_pipeline),
        )

    async def _figma_egress(self, tenant: Tenant) -> list[common.EgressEndpoint]:
        """Egress endpoints of the tenant's Figma API URL (its spec.figma.apiURL, else
        PF_FIGMA_API_URL; render.tenant.figma_api_egress). A host name is resolved without
        blocking the event loop and remembered FIGMA_DNS_TTL seconds; one that does not
        resolve gets no rule (logged; analyze then reports the API unreachable)."""
        url = tenant.spec.figma.api_url or self.config.figma_api_url
        try:
            host, _ = render_tenant.figma_api_host(url)
        except ValueError as err:
            log.warning("tenant %s: %s", tenant.name, err)
            return []
        if host == PUBLIC_FIGMA_HOST:
            return []
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            now = time.monotonic()
            cached = self._figma_dns.get(host)
            if cached is not None and now - cached[0] < FIGMA_DNS_TTL:
                addresses = cached[1]
            else:
                try:
                    infos = await asyncio.get_running_loop().getaddrinfo(
                        host, None, type=socket.SOCK_STREAM
                    )
                    addresses = sorted({str(i[4][0]).split("%", 1)[0] for i in infos})
                except OSError as err:
                    log.warning("cannot resolve the Figma API host %s: %s", host, err)
                    addresses = []
                self._figma_dns[host] = (now, addresses)
        return render_tenant.figma_api_egress(url, addresses, tenant.spec, self.config.render)

    # --- watches -----------------------------------------------------------------------------

    @staticmethod
    def _on_tenant(event: Event) -> Iterable[Request]:
        return (Request(event.obj["metadata"]["name"]),)

    @staticmethod
    def _on_child(event: Event) -> Iterable[Request]:
        tenant = (event.obj["metadata"].get("labels") or {}).get(TENANT_LABEL)
        return (Request(tenant),) if tenant else ()

    def _on_pipeline(self, event: Event) -> Iterable[Request]:
        """A tenant's status counts its pipelines: requeued (coalesced) when one of them is
        created, deleted or changes state."""
        key = event.key
        previous = self._state_of.pop(key, None) if event.deleted else self._state_of.get(key)
        if event.deleted:
            return (Request(previous[0], COUNTS_DELAY),) if previous and _owned(previous[0]) else ()
        tenant = self.index.tenant_of(key)
        if tenant is None:
            return ()
        now = (tenant, classify(event.obj.get("status") or {}))
        if previous == now:
            return ()
        self._state_of[key] = now
        changed = {t for t in (tenant, previous[0] if previous else None) if t and _owned(t)}
        return tuple(Request(t, COUNTS_DELAY) for t in sorted(changed))

    async def start(self) -> None:
        """A slow safety net: look at every Tenant again now and then (cheap: cache compares);
        drop the database roles of Tenants deleted while no operator ran."""
        while True:
            await asyncio.sleep(self.config.resync_seconds)
            names = {body["metadata"]["name"] for body in self.cache.all(TENANT_KIND)}
            for name in names:
                self.queue.add(name)
            if self.db is not None and self.cache.synced:
                try:
                    await self.db.drop_orphans(names)
                except Exception as err:
                    log.warning("cannot drop orphaned database roles: %s", err)

    # --- reconcile ---------------------------------------------------------------------------

    async def reconcile(self, name: str) -> float | None:
        """One pass (a span of its own when tracing is on); a Tenant deleted while it runs is
        not an error (its writes 404)."""
        namespace = self.config.render.namespace_prefix + name
        with self.tracing.tenant_reconcile(name, namespace):
            try:
                return await self._reconcile(name)
            except ApiError as err:
                if not err.not_found:
                    raise
                uid = (self.cache.get(TENANT_KIND, name) or {}).get("metadata", {}).get("uid")
                current = await self.client.get_or_none(TENANT_KIND, name)
                if not deleted_while_reconciling(err, current, uid):
                    raise
                log.debug("tenant %s was deleted while it was reconciled", name)
                return None

    async def _reconcile(self, name: str) -> float | None:
        config = self.config
        body = self.cache.get(TENANT_KIND, name)
        if body is None and self.db is not None and self.cache.synced:
            await self.db.drop_tenant(name)  # raises while the database is down: retried
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None  # owner references let the garbage collector remove the children
        generation = body["metadata"].get("generation")
        try:
            tenant = Tenant.from_body(body)
        except ValidationError as err:  # the schema should have caught it; never crash-loop
            await self._write_status(
                body,
                None,
                {"Ready": (ConditionStatus.FALSE, "InvalidSpec", _short(err))},
                generation,
            )
            await self.client.event(
                body, type_="Warning", reason="InvalidSpec", message=_short(err)
            )
            return None

        namespace = config.render.namespace_for(name)
        problems = checks.semantic_problems(tenant.spec, config.render, config.agent_resources)
        owner = owner_reference(body)
        objects = render_tenant.desired_objects(
            name, tenant.spec, config.render, figma_egress=await self._figma_egress(tenant)
        )
        if config.ca_bundle is not None:
            objects.append(ca_bundle_configmap(name, namespace, config.ca_bundle))
        desired = [with_hash(common.with_owner(obj, owner)) for obj in objects]
        results: dict[str, tuple[ConditionStatus, str, str]] = {}
        retry: float | None = None
        db_credentials = False

        # The namespace comes first: everything else lives in it.
        ns_objs = [o for o in desired if o["kind"] == "Namespace"]
        others = [o for o in desired if o["kind"] != "Namespace"]
        live_ns = await self._live(ns_objs[0])
        if live_ns is None:  # the cache holds only our namespaces: someone else's may exist
            live_ns = await self.client.get_or_none("Namespace", namespace)
        ownership = namespace_ownership(live_ns, name, body["metadata"]["uid"])
        if live_ns is not None and live_ns["metadata"].get("deletionTimestamp"):
            results["NamespaceReady"] = (
                ConditionStatus.FALSE,
                "NamespaceTerminating",
                f"namespace {namespace} is being deleted; recreating it when it is gone",
            )
            retry = 2.0
        elif ownership == "foreign":
            results["NamespaceReady"] = (
                ConditionStatus.FALSE,
                "NamespaceNotOwned",
                f"namespace {namespace} exists and was not created by pf-figma for this Tenant; "
                f"nothing is written into it. To hand it over, annotate it "
                f"{ADOPT_ANNOTATION}={name} (Roles and RoleBindings pf-figma did not create are "
                f"then removed), or delete it",
            )
            results["Ready"] = results["NamespaceReady"]
            retry = 15.0
        else:
            removed: list[str] = []
            if ownership == "adopt":
                removed = await self._remove_foreign_access(namespace, body["metadata"]["uid"])
            created = await self._ensure(body, ns_objs[0], live_ns)
            if ownership == "adopt":
                await self.client.event(
                    body,
                    type_="Warning" if removed else "Normal",
                    reason="NamespaceAdopted",
                    message=f"adopted existing namespace {namespace} ({ADOPT_ANNOTATION}); "
                    + (
                        "removed " + ", ".join(removed)
                        if removed
                        else "it had no Roles or RoleBindings to remove"
                    ),
                )
            elif created == "created":
                await self.client.event(
                    body,
                    type_="Normal",
                    reason="NamespaceCreated",
                    message=f"created namespace {namespace}",
                )
            outcomes = await asyncio.gather(
                *(self._sync(body, obj) for obj in others), return_exceptions=True
            )
            failed: dict[str, str] = {}
            repaired: list[str] = (
                [f"Namespace/{namespace}"] if created == "repaired" and ownership == "owned" else []
            )
            for obj, outcome in zip(others, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    if not isinstance(outcome, ApiError):
                        raise outcome
                    failed.setdefault(
                        obj["kind"], f"{obj['kind']} {obj['metadata']['name']}: {outcome.message}"
                    )
                elif outcome == "repaired":
                    repaired.append(f"{obj['kind']}/{obj['metadata']['name']}")
            if repaired and live_ns is not None:
                await self.client.event(
                    body,
                    type_="Normal",
                    reason="DriftRepaired",
                    message="restored " + ", ".join(sorted(repaired)),
                )
            await self._prune(name, desired)
            if self.kueue is not None:
                try:
                    await self.kueue.ensure_tenant(name, tenant.spec, self.config.render, owner)
                except ApiError as err:
                    failed["ClusterQueue"] = f"Kueue queues (queueing: kueue): {err.message}"
            if self.db is not None:
                results["DatabaseReady"], db_credentials = await self._database(
                    name, namespace, body, owner
                )
                if results["DatabaseReady"][0] is not ConditionStatus.TRUE:
                    retry = 10.0
            results["NamespaceReady"] = (
                ConditionStatus.TRUE,
                "NamespaceActive",
                f"namespace {namespace} is ready",
            )
            for condition, kinds in PARTS.items():
                if condition == "NamespaceReady":
                    continue
                errors = [failed[k] for k in kinds if k in failed]
                if errors:
                    results[condition] = (ConditionStatus.FALSE, "ApplyFailed", "; ".join(errors))
                    retry = 5.0
                else:
                    results[condition] = (
                        ConditionStatus.TRUE,
                        _ok_reason(condition),
                        _ok_message(condition, tenant),
                    )
            if failed:
                await self.client.event(
                    body, type_="Warning", reason="ApplyFailed", message="; ".join(failed.values())
                )

        if problems:
            results["Ready"] = (ConditionStatus.FALSE, "InvalidConfiguration", "; ".join(problems))
        await self._write_status(body, namespace, results, generation, problems, db_credentials)
        return retry

    async def _database(
        self, name: str, namespace: str, body: dict[str, Any], owner: dict[str, Any]
    ) -> tuple[tuple[ConditionStatus, str, str], bool]:
        """The tenant's database role and its Secret (new credentials only when needed).

        Returns the DatabaseReady condition and whether agent pods have credentials: during a
        database outage the existing Secret still holds, so pipelines keep being admitted.
        """
        db = self.db
        assert db is not None
        live = await self.client.get_or_none("Secret", roles.SECRET_NAME, namespace)
        try:
            secret = await db.tenant_secret(name, namespace, body, live)
            if secret is not None:
                await self.client.apply(common.with_owner(secret, owner))
                await self.client.event(
                    body,
                    type_="Normal",
                    reason="DatabaseCredentials",
                    message=f"database role {roles.role_name(name)}: "
                    f"credentials written to Secret "
                    f"{roles.SECRET_NAME}",
                )
        except ApiError:
            raise
        except Exception as err:
            return (ConditionStatus.FALSE, "DatabaseUnavailable", describe(err)), live is not None
        return (
            ConditionStatus.TRUE,
            "RoleReady",
            f"role {roles.role_name(name)}, credentials in Secret {roles.SECRET_NAME}",
        ), True

    async def _remove_foreign_access(self, namespace: str, uid: str) -> list[str]:
        """Delete the Roles and RoleBindings of a namespace being adopted that pf-figma did not
        make: whoever could read the namespace before must not read the tenant's Secrets."""
        removed = []
        for kind in ("RoleBinding", "Role"):
            for obj in foreign_access(await self.client.list(kind, namespace), uid):
                meta = obj["metadata"]
                await self.client.delete(kind, meta["name"], namespace, uid=meta.get("uid"))
                removed.append(f"{kind}/{meta['name']}")
        if removed:
            log.warning("adopting namespace %s: removed %s", namespace, ", ".join(removed))
        return removed

    async def _live(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The cached object. Once primed, the cache holds every managed object (one LIST per
        kind at start, then the watches, plus our own writes), so a miss means it is missing."""
        meta = obj["metadata"]
        kind, ns = obj["kind"], meta.get("namespace", "")
        live = self.cache.get(kind, meta["name"], ns)
        if live is None and not self.cache.synced:
            live = await self.client.get_or_none(kind, meta["name"], ns or None)
            if live is not None:
                live.setdefault("kind", kind)
                self.cache.upsert(kind, live)
        return live

    async def _sync(self, body: dict[str, Any], obj: dict[str, Any]) -> str:
        return await self._ensure(body, obj, await self._live(obj))

    async def _ensure(
        self, body: dict[str, Any], obj: dict[str, Any], live: dict[str, Any] | None
    ) -> str:
        if not needs_apply(obj, live):
            return "unchanged"
        result = await self.client.apply(obj)
        if [f for f in drifted_fields(obj, result) if f != "metadata"]:
            # fields another manager set are kept by server-side apply: replace ours exactly
            meta = obj["metadata"]
            result = await self.client.patch(
                obj["kind"],
                meta["name"],
                meta.get("namespace"),
                repair_patch(obj, result),
                patch_type="json",
            )
        result.setdefault("kind", obj["kind"])
        self.cache.upsert(obj["kind"], result)
        if live is None:
            return "created"
        if _hash(live) == _hash(obj):
            log.info(
                "repaired drift of %s %s/%s",
                obj["kind"],
                obj["metadata"].get("namespace"),
                obj["metadata"]["name"],
            )
            return "repaired"
        return "updated"

    async def _prune(self, name: str, desired: list[dict[str, Any]]) -> None:
        wanted = {(o["kind"], o["metadata"]["name"]) for o in desired}
        for kind in PRUNED_KINDS:
            for live in self.cache.by_label(kind, TENANT_LABEL, name):
                meta = live["metadata"]
                if (meta.get("labels") or {}).get(MANAGED_BY_LABEL) != MANAGED_BY:
                    continue
                if (kind, meta["name"]) not in wanted:
                    await self.client.delete(kind, meta["name"], meta.get("namespace"))
                    self.cache.delete(kind, live)

    async def _write_status(
        self,
        body: dict[str, Any],
        namespace: str | None,
        results: dict[str, tuple[ConditionStatus, str, str]],
        generation: int | None,
        problems: list[str] | None = None,
        db_credentials: bool = False,
    ) -> None:
        current = body.get("status") or {}
        conditions: Any = current.get("conditions") or []
        for ctype, (status, reason, message) in results.items():
            if ctype == "Ready":
                continue
            conditions = set_condition(conditions, ctype, status, reason, message, generation)
        # A database outage does not make a tenant unready once its credentials exist: the
        # DatabaseReady condition (and pf_figma_db_up) say so, work goes on.
        parts = (
            [*PARTS, "DatabaseReady"] if self.db is not None and not db_credentials else list(PARTS)
        )
        if "Ready" in results:
            status, reason, message = results["Ready"]
        else:
            status, reason, message = summarize_conditions(conditions, parts)
            if status is ConditionStatus.TRUE:
                suspended = bool((body.get("spec") or {}).get("suspended"))
                reason = "Suspended" if suspended else "Ready"
                message = (
                    "tenant is suspended: its data is kept and new pipelines stay queued"
                    if suspended
                    else f"namespace {namespace} is isolated and ready"
                )
        conditions = set_condition(conditions, "Ready", status, reason, message, generation)
        name = body["metadata"]["name"]
        artifacts, database = None, None
        if self.db is not None and "DatabaseReady" in results:
            stored = self.db.stored_bytes(name)
            if stored is not None:
                retention = self.config.artifact_retention_days
                artifacts = ArtifactsStatus(stored_bytes=stored, retention_days=retention or None)
            database = DatabaseStatus(
                role=roles.role_name(name), secret_name=roles.SECRET_NAME, ready=db_credentials
            )
        status_obj = TenantStatus(
            observed_generation=generation,
            namespace=namespace or None,
            conditions=conditions,
            pipelines=PipelineCountsStatus(**self.counts.counts(name)),
            artifacts=artifacts,
            database=database,
        ).to_dict()
        if _status_equal(current, status_obj):
            return
        was_ready = _ready(current)
        result = await self.client.patch_status(
            TENANT_KIND, body["metadata"]["name"], None, status_obj
        )
        result.setdefault("kind", TENANT_KIND)
        self.cache.upsert(TENANT_KIND, result)
        now_ready = status is ConditionStatus.TRUE
        if now_ready != was_ready or reason != _ready_reason(current):
            await self.client.event(
                body,
                type_="Normal" if now_ready else "Warning",
                reason=reason,
                message=message or reason,
            )


def _hash(obj: dict[str, Any]) -> str | None:
    return (obj["metadata"].get("annotations") or {}).get(HASH_ANNOTATION)


def _ready(status: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _ready_reason(status: dict[str, Any]) -> str | None:
    for c in status.get("conditions") or []:
        if c.get("type") == "Ready":
            return str(c.get("reason"))
    return None


def _status_equal(current: dict[str, Any], new: dict[str, Any]) -> bool:
    def strip(status: dict[str, Any]) -> dict[str, Any]:
        conds = sorted(
            (
                {k: v for k, v in c.items() if k != "lastTransitionTime"}
                for c in status.get("conditions") or []
            ),
            key=lambda c: str(c.get("type")),
        )
        rest = {k: v for k, v in status.items() if k in new and k != "conditions"}
        return {**rest, "conditions": conds}

    return strip(current) == strip(new)


def _ok_reason(condition: str) -> str:
    return {
        "QuotaApplied": "QuotaApplied",
        "NetworkIsolated": "PoliciesApplied",
        "AccessConfigured": "AccessApplied",
    }[condition]


def _ok_message(condition: str, tenant: Tenant) -> str:
    spec = tenant.spec
    if condition == "QuotaApplied":
        q = spec.effective_quota()
        return (
            f"quota for plan {spec.plan.value}: cpu={q.cpu} memory={q.memory} "
            f"pods={q.pods} jobs={q.jobs}"
        )
    if condition == "NetworkIsolated":
        return (
            "default-deny ingress; egress limited to DNS"
            + (", HTTPS to the internet" if spec.network.allow_internet_egress else "")
            + (
                f" and {len(spec.network.allow_egress)} allowed destination(s)"
                if spec.network.allow_egress
                else ""
            )
        )
    return f"{len(spec.owners)} owner binding(s); agent ServiceAccount pf-agent without permissions"


def _short(err: Exception) -> str:
    text = str(err).replace("\n", " ")
    return text[:500]

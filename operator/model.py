"""Typed view of the pf-figma custom resources (Tenant, DesignPipeline).

Pure: no Kubernetes client, no I/O. The models mirror ``crds/*.yaml`` (camelCase aliases; Python
code may use either the snake_case names or the aliases) and parse the raw dicts kopf hands to
handlers (``Tenant.from_body(body)``). Serialise for the API with ``.to_dict()``.

The schema does the field-level validation; these models are lenient about unknown fields (a
newer CRD may carry fields this operator does not know yet) but check the invariants the operator
relies on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from pf_agents import contract
from pf_agents.figma_url import parse_figma_url

from .quantities import parse_quantity
from .times import format_time

GROUP = "pffigma.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
TENANT_KIND = "Tenant"
TENANT_PLURAL = "tenants"
PIPELINE_KIND = "DesignPipeline"
PIPELINE_PLURAL = "designpipelines"

DEFAULT_NAMESPACE_PREFIX = "tenant-"
DEFAULT_LLM_MODEL = "claude-sonnet-4-5"
DEFAULT_LLM_MAX_TOKENS = 200_000
DEFAULT_LLM_MAX_COST_USD = 5.0


# --- enumerations ----------------------------------------------------------------------------


class Plan(StrEnum):
    STARTER = "starter"
    PRO = "pro"
    ENTERPRISE = "enterprise"


class OwnerKind(StrEnum):
    USER = "User"
    GROUP = "Group"
    SERVICE_ACCOUNT = "ServiceAccount"


class Stage(StrEnum):
    """Pipeline stages, declared in the order they run (pf_agents.contract.STAGE_ORDER)."""

    ANALYZE = "analyze"
    GENERATE = "generate"
    TEST = "test"
    QA = "qa"
    VISUAL = "visual"
    DEPLOY = "deploy"


STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)
if tuple(STAGE_ORDER) != contract.STAGE_ORDER:  # pragma: no cover - caught by any test run
    raise ImportError("operator Stage enum differs from pf_agents.contract.STAGE_ORDER")
#: the order before deploy moved last; stored pipelines with it keep running as they are
LEGACY_STAGE_ORDER: tuple[Stage, ...] = tuple(Stage(s) for s in contract.LEGACY_STAGE_ORDER)
#: every check, nothing shipped: deploy only when asked for (and only after a passed quality gate)
DEFAULT_STAGES: tuple[Stage, ...] = (
    Stage.ANALYZE,
    Stage.GENERATE,
    Stage.TEST,
    Stage.QA,
    Stage.VISUAL,
)


class StageState(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class TenantConditionType(StrEnum):
    READY = "Ready"
    NAMESPACE_READY = "NamespaceReady"
    QUOTA_APPLIED = "QuotaApplied"
    NETWORK_ISOLATED = "NetworkIsolated"
    ACCESS_CONFIGURED = "AccessConfigured"


#: The conditions that the tenant's Ready condition summarises.
TENANT_READY_PARTS: tuple[TenantConditionType, ...] = (
    TenantConditionType.NAMESPACE_READY,
    TenantConditionType.QUOTA_APPLIED,
    TenantConditionType.NETWORK_ISOLATED,
    TenantConditionType.ACCESS_CONFIGURED,
)


class PipelineConditionType(StrEnum):
    SUCCEEDED = "Succeeded"
    ADMITTED = "Admitted"


class PipelineReason(StrEnum):
    """Reasons of a DesignPipeline's Succeeded condition."""

    QUEUED = "Queued"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    TIMED_OUT = "TimedOut"
    QUALITY_GATE_FAILED = "QualityGateFailed"


# --- scalar types ----------------------------------------------------------------------------


def _quantity_text(value: object) -> object:
    if isinstance(value, bool):
        return value  # rejected below: a bool is no quantity
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(Decimal(str(value)), "f")
    return value


def _check_quantity(value: str) -> str:
    parse_quantity(value)
    return value


#: A Kubernetes quantity, kept as the text the user wrote (integers become their decimal text).
Quantity = Annotated[str, BeforeValidator(_quantity_text), AfterValidator(_check_quantity)]


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


#: A point in time; naive values are taken as UTC; serialised as ``2025-01-02T03:04:05Z``.
Timestamp = Annotated[
    datetime,
    AfterValidator(_aware),
    PlainSerializer(format_time, return_type=str, when_used="json"),
]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- base ------------------------------------------------------------------------------------


_ACRONYMS = re.compile(r"Cpu|Usd")


def _api_name(field_name: str) -> str:
    """camelCase with acronyms in capitals, as the API spells them (maxCPU, monthlyBudgetUSD)."""
    return _ACRONYMS.sub(lambda m: m.group(0).upper(), to_camel(field_name))


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=_api_name,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the API's field names; unset (None) fields are left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_merge_patch(self) -> dict[str, Any]:
        """Like ``to_dict`` but unset top-level fields are null, so a merge patch removes them.

        For replacing a whole status: ``{"status": status.to_merge_patch()}``.
        """
        unset = {field.alias or name: None for name, field in type(self).model_fields.items()}
        return {**unset, **self.to_dict()}


# --- plan defaults ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaValues:
    """Effective resource quota of a tenant namespace."""

    cpu: str
    memory: str
    pods: int
    jobs: int


@dataclass(frozen=True)
class LimitValues:
    """Effective per-container limits of a tenant namespace."""

    default_cpu: str
    default_memory: str
    max_cpu: str
    max_memory: str


@dataclass(frozen=True)
class PipelineCapacity:
    """Effective pipeline capacity of a tenant."""

    max_concurrent: int
    max_queued: int


@dataclass(frozen=True)
class PlanDefaults:
    quota: QuotaValues
    limits: LimitValues
    pipelines: PipelineCapacity
    #: The tenant's share of the cluster-wide pipeline capacity, relative to other tenants.
    fair_share_weight: int


PLAN_DEFAULTS: Mapping[Plan, PlanDefaults] = {
    Plan.STARTER: PlanDefaults(
        quota=QuotaValues(cpu="4", memory="8Gi", pods=20, jobs=100),
        limits=LimitValues(default_cpu="500m", default_memory="1Gi", max_cpu="2", max_memory="4Gi"),
        pipelines=PipelineCapacity(max_concurrent=2, max_queued=20),
        fair_share_weight=1,
    ),
    Plan.PRO: PlanDefaults(
        quota=QuotaValues(cpu="16", memory="32Gi", pods=60, jobs=500),
        limits=LimitValues(default_cpu="1", default_memory="2Gi", max_cpu="4", max_memory="8Gi"),
        pipelines=PipelineCapacity(max_concurrent=5, max_queued=100),
        fair_share_weight=2,
    ),
    Plan.ENTERPRISE: PlanDefaults(
        quota=QuotaValues(cpu="64", memory="128Gi", pods=250, jobs=2000),
        limits=LimitValues(default_cpu="1", default_memory="2Gi", max_cpu="8", max_memory="16Gi"),
        pipelines=PipelineCapacity(max_concurrent=20, max_queued=500),
        fair_share_weight=4,
    ),
}


# --- Tenant spec -----------------------------------------------------------------------------


class Owner(_Model):
    kind: OwnerKind
    name: str = Field(min_length=1)
    namespace: str | None = None

    @model_validator(mode="after")
    def _namespace_only_for_service_accounts(self) -> Self:
        if (self.kind is OwnerKind.SERVICE_ACCOUNT) != (self.namespace is not None):
            raise ValueError("namespace is required for, and only for, ServiceAccount owners")
        return self


class SecretKeyRef(_Model):
    name: str
    key: str


class Quota(_Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None
    pods: int | None = Field(default=None, ge=0)
    jobs: int | None = Field(default=None, ge=0)


class Limits(_Model):
    default_cpu: Quantity | None = None
    default_memory: Quantity | None = None
    max_cpu: Quantity | None = None
    max_memory: Quantity | None = None


class PipelineLimits(_Model):
    max_concurrent: int | None = Field(default=None, ge=0)
    max_queued: int | None = Field(default=None, ge=0)


class EgressRule(_Model):
    cidr: str
    #: TCP ports; empty means every port and protocol.
    ports: tuple[int, ...] = ()


class NetworkSpec(_Model):
    allow_internet_egress: bool = True
    allow_egress: tuple[EgressRule, ...] = ()


class FigmaSpec(_Model):
    token_secret_ref: SecretKeyRef | None = None
    #: base URL of the Figma API for this tenant's analyze stages; None: the operator's setting
    api_url: str | None = Field(default=None, alias="apiURL")
    #: most analyze stages running at once with this tenant's token; None: the operator's setting
    max_concurrent_analyze: int | None = Field(default=None, ge=1)


class TenantLLM(_Model):
    enabled: bool = False
    model: str = DEFAULT_LLM_MODEL
    api_key_secret_ref: SecretKeyRef | None = None
    monthly_budget_usd: float | None = Field(default=None, ge=0)


class QualityGate(_Model):
    """``spec.quality``: thresholds on the visual stage's measurement; below them the pipeline
    ends Failed (QualityGateFailed) and nothing after visual (deploy) runs. Unset: no gate.
    On a Tenant the same fields are defaults for its pipelines that run the visual stage
    (``DesignPipelineSpec.effective_quality``)."""

    min_fidelity: float | None = Field(default=None, ge=0, le=1)
    max_a11y_violations: int | None = Field(default=None, ge=0, alias="maxA11yViolations")

    @property
    def active(self) -> bool:
        return self.min_fidelity is not None or self.max_a11y_violations is not None


class TenantKueue(_Model):
    """``spec.kueue`` (with ``queueing: kueue``): queues of the tenant's own instead of the
    ClusterQueue and LocalQueue pf-figma creates from its plan (see render/kueue.py)."""

    #: an existing LocalQueue in the tenant's namespace: pf-figma creates no queue at all
    local_queue: str | None = Field(default=None, min_length=1, max_length=63)
    #: an existing ClusterQueue: pf-figma creates only the LocalQueue, pointing at it
    cluster_queue: str | None = Field(default=None, min_length=1, max_length=253)


class TenantSpec(_Model):
    display_name: str | None = None
    plan: Plan = Plan.STARTER
    owners: tuple[Owner, ...] = ()
    quota: Quota = Quota()
    limits: Limits = Limits()
    pipelines: PipelineLimits = PipelineLimits()
    network: NetworkSpec = NetworkSpec()
    figma: FigmaSpec = FigmaSpec()
    llm: TenantLLM = TenantLLM()
    quality: QualityGate = QualityGate()  # defaults of its pipelines' spec.quality
    feature_flags: dict[str, bool] = Field(default_factory=dict)
    suspended: bool = False
    #: who admits the tenant's stage Jobs; None: the operator's setting (PF_QUEUEING)
    queueing: Literal["pf-figma", "kueue"] | None = None
    kueue: TenantKueue | None = None

    @property
    def plan_defaults(self) -> PlanDefaults:
        return PLAN_DEFAULTS[self.plan]

    def effective_quota(self) -> QuotaValues:
        base, own = self.plan_defaults.quota, self.quota
        return QuotaValues(
            cpu=own.cpu if own.cpu is not None else base.cpu,
            memory=own.memory if own.memory is not None else base.memory,
            pods=own.pods if own.pods is not None else base.pods,
            jobs=own.jobs if own.jobs is not None else base.jobs,
        )

    def effective_limits(self) -> LimitValues:
        base, own = self.plan_defaults.limits, self.limits
        return LimitValues(
            default_cpu=own.default_cpu if own.default_cpu is not None else base.default_cpu,
            default_memory=(
                own.default_memory if own.default_memory is not None else base.default_memory
            ),
            max_cpu=own.max_cpu if own.max_cpu is not None else base.max_cpu,
            max_memory=own.max_memory if own.max_memory is not None else base.max_memory,
        )

    def effective_pipelines(self) -> PipelineCapacity:
        base, own = self.plan_defaults.pipelines, self.pipelines
        return PipelineCapacity(
            max_concurrent=(
                own.max_concurrent if own.max_concurrent is not None else base.max_concurrent
            ),
            max_queued=own.max_queued if own.max_queued is not None else base.max_queued,
        )

    def fair_share_weight(self) -> int:
        return self.plan_defaults.fair_share_weight

    def feature(self, name: str, default: bool = False) -> bool:
        return self.feature_flags.get(name, default)


# --- conditions ------------------------------------------------------------------------------

_REASON_RE = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
_MAX_MESSAGE = 32768


class Condition(_Model):
    """A Kubernetes API condition (metav1.Condition)."""

    type: str = Field(min_length=1, max_length=316)
    status: ConditionStatus
    reason: str = Field(min_length=1, max_length=1024, pattern=_REASON_RE)
    message: str = ""
    observed_generation: int | None = Field(default=None, ge=0)
    last_transition_time: Timestamp = Field(default_factory=utcnow)

    @model_validator(mode="before")
    @classmethod
    def _truncate_message(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and len(str(data.get("message") or "")) > _MAX_MESSAGE:
            data = {**data, "message": str(data["message"])[: _MAX_MESSAGE - 3] + "..."}
        return data

    @property
    def is_true(self) -> bool:
        return self.status is ConditionStatus.TRUE


def parse_conditions(raw: object) -> tuple[Condition, ...]:
    """Conditions from a raw status list, skipping malformed entries."""
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return ()
    parsed = []
    for item in raw:
        if isinstance(item, Condition):
            parsed.append(item)
        elif isinstance(item, Mapping):
            try:
                parsed.append(Condition.model_validate(item))
            except ValueError:
                continue
    return tuple(parsed)


def find_condition(conditions: Iterable[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def set_condition(
    conditions: Iterable[Condition | Mapping[str, Any]],
    type_: str,
    status: ConditionStatus | str,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
    now: datetime | None = None,
) -> tuple[Condition, ...]:
    """The conditions with ``type_`` set (added at the end, or replaced in place).

    The lastTransitionTime only moves when the status changes; reason, message and
    observedGeneration are always updated. The input is not modified.
    """
    current = parse_conditions(list(conditions))
    status = ConditionStatus(status)
    old = find_condition(current, type_)
    changed_at = old.last_transition_time if old and old.status is status else (now or utcnow())
    new = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=changed_at,
        # left unset when unknown, so no dump of it writes an observedGeneration: null
        **({} if observed_generation is None else {"observed_generation": observed_generation}),
    )
    if old is None:
        return (*current, new)
    return tuple(new if c.type == type_ else c for c in current)


def summarize_conditions(
    conditions: Iterable[Condition], parts: Sequence[str]
) -> tuple[ConditionStatus, str, str]:
    """(status, reason, message) of a summary condition such as Ready over ``parts``.

    True (reason "Ready") when every part is True; otherwise the first part that is not: False
    when it is False, Unknown when it is Unknown or missing.
    """
    by_type = {c.type: c for c in conditions}
    for part in parts:
        cond = by_type.get(part)
        if cond is None:
            return ConditionStatus.UNKNOWN, f"{part}Unknown", f"{part}: not reported yet"
        if cond.status is not ConditionStatus.TRUE:
            message = f"{part}: {cond.message}" if cond.message else part
            return cond.status, cond.reason, message
    return ConditionStatus.TRUE, "Ready", ""


# --- Tenant ----------------------------------------------------------------------------------


class PipelineCounts(_Model):
    running: int = 0
    queued: int = 0
    succeeded: int = 0
    failed: int = 0


class DatabaseStatus(_Model):
    role: str | None = None
    secret_name: str | None = None
    ready: bool | None = None


class ArtifactsStatus(_Model):
    stored_bytes: int | None = None
    retention_days: int | None = None


class TenantStatus(_Model):
    observed_generation: int | None = None
    namespace: str | None = None
    conditions: tuple[Condition, ...] = ()
    pipelines: PipelineCounts | None = None
    artifacts: ArtifactsStatus | None = None
    database: DatabaseStatus | None = None

    @model_validator(mode="before")
    @classmethod
    def _lenient_conditions(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "conditions" in data:
            data = {**data, "conditions": parse_conditions(data["conditions"])}
        return data


def namespace_for(tenant_name: str, prefix: str = DEFAULT_NAMESPACE_PREFIX) -> str:
    """Name of a tenant's namespace."""
    return f"{prefix}{tenant_name}"


def _metadata(body: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, Mapping) or not metadata.get("name"):
        raise ValueError("object without metadata.name")
    return metadata


class Tenant(_Model):
    name: str
    uid: str | None = None
    generation: int | None = None
    spec: TenantSpec = TenantSpec()
    status: TenantStatus = TenantStatus()

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Tenant:
        """Parse the raw object (kopf's ``body``, or any dict from the API)."""
        metadata = _metadata(body)
        return cls(
            name=metadata["name"],
            uid=metadata.get("uid"),
            generation=metadata.get("generation"),
            spec=TenantSpec.model_validate(body.get("spec") or {}),
            status=TenantStatus.model_validate(body.get("status") or {}),
        )

    def namespace_name(self, prefix: str = DEFAULT_NAMESPACE_PREFIX) -> str:
        """Name of the tenant's namespace."""
        return namespace_for(self.name, prefix)


# --- DesignPipeline spec ---------------------------------------------------------------------


class SourceStatus(_Model):
    """``status.source``: the Figma file a pipeline reads, resolved from ``spec.source.figma``
    (a url or fileKey/nodeIds); ``version`` is the one analyze read (its result)."""

    file_key: str
    branch_key: str | None = None
    node_ids: tuple[str, ...] = ()
    version: str | None = None

    @property
    def fetch_key(self) -> str:
        """The key to ask the API for: a branch's key for a branch link (Figma REST API,
        "GET file": a branch is read with its branch key)."""
        return self.branch_key or self.file_key


class FigmaSource(_Model):
    """``spec.source.figma``: a Figma link (``url``) or ``fileKey`` (and ``nodeIds``), or both
    when they agree. Raises ``ValueError`` (pydantic's ValidationError) for a link that is not
    a Figma design/file/proto/board/branch link, or that contradicts fileKey/nodeIds."""

    url: str | None = Field(default=None, min_length=1, max_length=768)
    file_key: str | None = Field(default=None, min_length=1)
    node_ids: tuple[str, ...] = ()
    version: str | None = None

    @model_validator(mode="after")
    def _resolvable(self) -> Self:
        self.resolve()
        return self

    def resolve(self) -> SourceStatus:
        """The file key, branch key and node ids (REST form, ``12:34``) this source names."""
        if self.url is None:
            if self.file_key is None:
                raise ValueError("source.figma needs a url or a fileKey")
            return SourceStatus(
                file_key=self.file_key, node_ids=self.node_ids, version=self.version
            )
        try:
            link = parse_figma_url(self.url)
        except ValueError as err:
            raise ValueError(f"source.figma.url: {err}") from None
        if self.file_key is not None and self.file_key not in (link.file_key, link.branch_key):
            raise ValueError(
                f"source.figma.fileKey {self.file_key!r} contradicts source.figma.url (file key "
                f"{link.file_key!r}"
                + (f", branch key {link.branch_key!r}" if link.branch_key else "")
                + "); set only one of them"
            )
        missing = [n for n in link.node_ids if n not in self.node_ids]
        if self.node_ids and missing:
            raise ValueError(
                "source.figma.nodeIds must contain the url's node-id "
                + ", ".join(missing)
                + " (written 12-34 in the url, 12:34 in nodeIds)"
            )
        return SourceStatus(
            file_key=link.file_key,
            branch_key=link.branch_key,
            node_ids=self.node_ids or link.node_ids,
            version=self.version,
        )


class ConfigMapKeyRef(_Model):
    name: str
    key: str


class StoredRef(_Model):
    """``spec.source.storedRef``: a file stored by ``pf-figma sources put`` in the tenant's
    artifact store; ``sha256`` pins its content."""

    name: str = Field(min_length=1, max_length=63)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class Source(_Model):
    figma: FigmaSource | None = None
    config_map_ref: ConfigMapKeyRef | None = None
    stored_ref: StoredRef | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if [self.figma, self.config_map_ref, self.stored_ref].count(None) != 2:
            raise ValueError(
                "exactly one of source.figma, source.configMapRef and source.storedRef must be set"
            )
        return self


class Target(_Model):
    framework: Literal["nextjs"] = "nextjs"
    ui: Literal["shadcn", "tailwind"] = "shadcn"
    language: Literal["typescript"] = "typescript"


class GitSecretRef(_Model):
    name: str


class GitSpec(_Model):
    url: str
    branch: str | None = None
    secret_ref: GitSecretRef | None = None

    def branch_for(self, pipeline_name: str) -> str:
        return self.branch or f"pf-figma/{pipeline_name}"


class PipelineLLM(_Model):
    enabled: bool | None = None
    model: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_cost_usd: float | None = Field(default=None, ge=0)


class EffectiveLLM(_Model):
    """The language-model settings a pipeline runs with (the ``llm`` of the agent config)."""

    enabled: bool
    model: str
    max_tokens: int
    max_cost_usd: float


class Timeouts(_Model):
    stage_seconds: int = Field(default=900, ge=1)
    pipeline_seconds: int = Field(default=3600, ge=1)


class Retries(_Model):
    limit: int = Field(default=2, ge=0)
    backoff_seconds: int = Field(default=10, ge=0)

    def backoff(self, retry: int) -> int:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        return int(self.backoff_seconds * 2 ** max(retry - 1, 0))


def _in_order(stages: Sequence[Stage], order: Sequence[Stage]) -> bool:
    """``stages`` start with analyze and follow ``order`` without repeats."""
    if not stages or any(s not in order for s in stages):
        return False
    ranks = [order.index(s) for s in stages]
    return ranks[0] == 0 and ranks == sorted(set(ranks))


class DesignPipelineSpec(_Model):
    source: Source
    target: Target = Target()
    stages: tuple[Stage, ...] = DEFAULT_STAGES
    git: GitSpec | None = None
    llm: PipelineLLM = PipelineLLM()
    priority: int = Field(default=50, ge=0, le=100)
    timeouts: Timeouts = Timeouts()
    retries: Retries = Retries()
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0)
    cancel: bool = False
    quality: QualityGate = QualityGate()

    @model_validator(mode="after")
    def _stages_in_order(self) -> Self:
        if not _in_order(self.stages, STAGE_ORDER) and not _in_order(
            self.stages, LEGACY_STAGE_ORDER
        ):
            raise ValueError("stages must start with analyze and keep the order, without repeats")
        if Stage.DEPLOY in self.stages and self.git is None:
            raise ValueError("git is required when stages include deploy")
        if self.quality.active and Stage.VISUAL not in self.stages:
            raise ValueError("quality thresholds need the visual stage")
        return self

    def effective_llm(self, tenant: TenantSpec) -> EffectiveLLM:
        """LLM settings after inheriting from the tenant; the tenant can veto ``enabled``."""
        own = self.llm
        return EffectiveLLM(
            enabled=tenant.llm.enabled and (own.enabled if own.enabled is not None else True),
            model=own.model or tenant.llm.model,
            max_tokens=own.max_tokens if own.max_tokens is not None else DEFAULT_LLM_MAX_TOKENS,
            max_cost_usd=(
                own.max_cost_usd if own.max_cost_usd is not None else DEFAULT_LLM_MAX_COST_USD
            ),
        )

    def effective_quality(self, tenant: TenantSpec) -> QualityGate:
        """The quality gate this pipeline is held to: each threshold the pipeline sets, else the
        tenant's default (``Tenant.spec.quality``). Tenant defaults apply only to pipelines that
        run the visual stage (the only stage that measures); a pipeline opts out of a default by
        setting the threshold it does not want to its loosest value (minFidelity 0)."""
        own = self.quality
        if Stage.VISUAL not in self.stages:
            return own
        base = tenant.quality
        return QualityGate(
            min_fidelity=own.min_fidelity if own.min_fidelity is not None else base.min_fidelity,
            maxA11yViolations=(
                own.max_a11y_violations
                if own.max_a11y_violations is not None
                else base.max_a11y_violations
            ),
        )

    def next_stage(self, after: Stage | None) -> Stage | None:
        """The stage that runs after ``after`` (the first one for None); None at the end."""
        if after is None:
            return self.stages[0]
        position = self.stages.index(after) + 1
        return self.stages[position] if position < len(self.stages) else None


# --- DesignPipeline status -------------------------------------------------------------------


class StageStatus(_Model):
    name: str
    state: StageState = StageState.PENDING
    job: str | None = None
    attempts: int = 0
    start_time: Timestamp | None = None
    completion_time: Timestamp | None = None
    message: str | None = None


class Artifact(_Model):
    stage: str
    name: str
    uri: str
    sha256: str | None = None
    size: int | None = None


class Cost(_Model):
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            usd=round(self.usd + other.usd, 6),
        )


class Quality(_Model):
    """``status.quality``: the visual stage's measurement (pf_agents.visual)."""

    fidelity: float = Field(ge=0, le=1)  # node-weighted share of visible nodes within 4 px
    texts_shown: float = Field(default=1.0, ge=0, le=1)
    a11y_violations: int = Field(default=0, ge=0, alias="a11yViolations")  # serious+critical
    overflow_widths: tuple[int, ...] = ()  # viewport widths with horizontal overflow


class StatusError(ValueError):
    """A status read from the API that the typed model cannot read; the message names the
    field (``status.stages[0].attempts: Input should be a valid integer``)."""


class DesignPipelineStatus(_Model):
    """``status`` of a DesignPipeline. Read it with :meth:`parse`, write it with
    :meth:`to_json`: a status parsed and dumped again is the same JSON (the fields it carried,
    no defaults added), so the reconciler writes exactly what the state machine decided."""

    observed_generation: int | None = None
    conditions: tuple[Condition, ...] = ()
    current_stage: str | None = None
    queue_position: int | None = None
    start_time: Timestamp | None = None
    completion_time: Timestamp | None = None
    stages: tuple[StageStatus, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    cost: Cost | None = None
    quality: Quality | None = None
    source: SourceStatus | None = None
    #: the pipeline's OpenTelemetry trace (tracing.trace_id_hex), when traces are exported
    trace_id: str | None = Field(default=None, alias="traceID")

    @model_validator(mode="before")
    @classmethod
    def _lenient_conditions(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "conditions" in data:
            data = {**data, "conditions": parse_conditions(data["conditions"])}
        return data

    @classmethod
    def parse(cls, raw: object) -> DesignPipelineStatus:
        """The typed status of a raw ``status`` (None or {} for a new pipeline); malformed
        conditions are skipped (as ``parse_conditions`` does). Raises ``StatusError`` naming
        the first field that does not fit (``status.stages[1].state: ...``)."""
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise StatusError(f"status: expected an object, got {type(raw).__name__}")
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            problems = []
            for e in err.errors()[:3]:
                where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])
                problems.append(f"status{where}: {e['msg']}")
            raise StatusError("; ".join(problems)) from None

    def to_json(self) -> dict[str, Any]:
        """The JSON written to the API: the fields this status carries (read by :meth:`parse`
        or set by the state machine), with the API's names and times as ``...T...Z``; a field
        set to None is null, so a merge patch removes it. Defaults are not added: a status
        parsed from JSON dumps to that JSON."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def stage(self, name: str) -> StageStatus | None:
        return next((s for s in self.stages if s.name == name), None)

    @property
    def finished(self) -> bool:
        """Whether the Succeeded condition is True or False (not Unknown or missing)."""
        done = find_condition(self.conditions, PipelineConditionType.SUCCEEDED)
        return done is not None and done.status is not ConditionStatus.UNKNOWN


class DesignPipeline(_Model):
    name: str
    namespace: str
    uid: str | None = None
    generation: int | None = None
    spec: DesignPipelineSpec
    status: DesignPipelineStatus = DesignPipelineStatus()

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> DesignPipeline:
        """Parse the raw object (kopf's ``body``, or any dict from the API)."""
        metadata = _metadata(body)
        return cls(
            name=metadata["name"],
            namespace=metadata.get("namespace") or "",
            uid=metadata.get("uid"),
            generation=metadata.get("generation"),
            spec=DesignPipelineSpec.model_validate(body.get("spec") or {}),
            status=DesignPipelineStatus.model_validate(body.get("status") or {}),
        )

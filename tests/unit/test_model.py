"""operator/model.py: parsing, plan defaults, effective values and conditions."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import kopf
import pytest
import yaml
from pydantic import ValidationError

from pf_operator.model import (
    DEFAULT_LLM_MAX_COST_USD,
    DEFAULT_LLM_MAX_TOKENS,
    DEFAULT_LLM_MODEL,
    PLAN_DEFAULTS,
    TENANT_READY_PARTS,
    Condition,
    ConditionStatus,
    Cost,
    DesignPipeline,
    DesignPipelineSpec,
    DesignPipelineStatus,
    Owner,
    OwnerKind,
    PipelineCapacity,
    Plan,
    Stage,
    StageState,
    Tenant,
    TenantSpec,
    TenantStatus,
    find_condition,
    namespace_for,
    parse_conditions,
    set_condition,
    summarize_conditions,
)
from pf_operator.quantities import parse_quantity
from pf_operator.times import format_time

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def example(name: str, kind: str) -> dict[str, Any]:
    docs = yaml.safe_load_all((EXAMPLES / name).read_text())
    return next(d for d in docs if d["kind"] == kind)


def pipeline_spec(**spec: Any) -> DesignPipelineSpec:
    return DesignPipelineSpec.model_validate({"source": {"figma": {"fileKey": "abc"}}, **spec})


# --- quantities ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", Decimal(1)),
        (2, Decimal(2)),
        ("500m", Decimal("0.5")),
        ("1.5", Decimal("1.5")),
        ("1Gi", Decimal(2**30)),
        ("512Mi", Decimal(2**29)),
        ("1k", Decimal(1000)),
        ("1M", Decimal(10**6)),
        ("1e3", Decimal(1000)),
        ("100n", Decimal("1e-7")),
        ("+3", Decimal(3)),
        ("1E", Decimal(10**18)),
        ("2Ei", Decimal(2**61)),
    ],
)
def test_parse_quantity(text: str | int, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["-1", "1gi", "lots", "", "1.2.3", "Gi"])
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


# --- Tenant ----------------------------------------------------------------------------------


def test_tenant_from_example() -> None:
    tenant = Tenant.from_body(example("tenant-acme.yaml", "Tenant"))
    spec = tenant.spec
    assert tenant.name == "acme"
    assert tenant.namespace_name() == "tenant-acme"
    assert spec.plan is Plan.PRO
    assert spec.display_name == "ACME Corporation"
    assert [o.kind for o in spec.owners] == [
        OwnerKind.GROUP,
        OwnerKind.USER,
        OwnerKind.SERVICE_ACCOUNT,
    ]
    assert spec.owners[2].namespace == "acme-ci"
    assert spec.network.allow_egress[0].ports == (443, 22)
    assert spec.figma.token_secret_ref is not None
    assert spec.figma.token_secret_ref.key == "token"
    assert spec.llm.enabled and spec.llm.monthly_budget_usd == 500
    assert spec.feature("storybook") and not spec.feature("other")


def test_tenant_from_kopf_body() -> None:
    raw: dict[str, Any] = {
        "apiVersion": "pffigma.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": "beta", "uid": "u-1", "generation": 4},
        "spec": {"plan": "enterprise", "somethingNew": 1},
        "status": {"namespace": "tenant-beta", "pipelines": {"running": 2}},
    }
    tenant = Tenant.from_body(kopf.Body(cast(kopf.RawBody, raw)))
    assert (tenant.name, tenant.uid, tenant.generation) == ("beta", "u-1", 4)
    assert tenant.spec.plan is Plan.ENTERPRISE
    assert tenant.status.namespace == "tenant-beta"
    assert tenant.status.pipelines is not None and tenant.status.pipelines.running == 2


def test_tenant_without_spec_gets_every_default() -> None:
    tenant = Tenant.from_body({"metadata": {"name": "empty"}})
    assert tenant.spec == TenantSpec()
    assert tenant.spec.plan is Plan.STARTER
    assert tenant.spec.network.allow_internet_egress is True
    assert tenant.spec.llm.model == DEFAULT_LLM_MODEL
    assert not tenant.spec.llm.enabled
    assert tenant.status == TenantStatus()


def test_from_body_needs_a_name() -> None:
    with pytest.raises(ValueError, match=r"metadata\.name"):
        Tenant.from_body({"spec": {}})


@pytest.mark.parametrize(
    ("plan", "concurrent", "queued", "weight"),
    [(Plan.STARTER, 2, 20, 1), (Plan.PRO, 5, 100, 2), (Plan.ENTERPRISE, 20, 500, 4)],
)
def test_plan_defaults(plan: Plan, concurrent: int, queued: int, weight: int) -> None:
    spec = TenantSpec(plan=plan)
    assert spec.effective_pipelines() == PipelineCapacity(concurrent, queued)
    assert spec.fair_share_weight() == weight
    assert spec.effective_quota() == PLAN_DEFAULTS[plan].quota
    assert spec.effective_limits() == PLAN_DEFAULTS[plan].limits


def test_plans_grow() -> None:
    starter, pro, enterprise = (PLAN_DEFAULTS[p] for p in Plan)
    for small, big in ((starter, pro), (pro, enterprise)):
        assert parse_quantity(small.quota.cpu) < parse_quantity(big.quota.cpu)
        assert parse_quantity(small.quota.memory) < parse_quantity(big.quota.memory)
        assert small.quota.pods < big.quota.pods
        assert small.pipelines.max_concurrent < big.pipelines.max_concurrent
        assert small.fair_share_weight < big.fair_share_weight


def test_overrides_replace_only_their_field() -> None:
    spec = TenantSpec.model_validate(
        {
            "plan": "pro",
            "quota": {"cpu": 24, "pods": 0},
            "limits": {"defaultCPU": "250m", "maxMemory": "6Gi"},
            "pipelines": {"maxQueued": 7},
        }
    )
    pro = PLAN_DEFAULTS[Plan.PRO]
    quota = spec.effective_quota()
    assert (quota.cpu, quota.memory, quota.pods, quota.jobs) == (
        "24",
        pro.quota.memory,
        0,
        pro.quota.jobs,
    )
    limits = spec.effective_limits()
    assert limits.default_cpu == "250m"
    assert limits.default_memory == pro.limits.default_memory
    assert limits.max_cpu == pro.limits.max_cpu
    assert limits.max_memory == "6Gi"
    assert spec.effective_pipelines() == PipelineCapacity(pro.pipelines.max_concurrent, 7)


def test_spec_round_trips_with_api_names() -> None:
    raw = example("tenant-acme.yaml", "Tenant")["spec"]
    spec = TenantSpec.model_validate(raw)
    dumped = spec.to_dict()
    assert dumped["limits"] == {"maxMemory": "8Gi"}
    assert dumped["llm"]["monthlyBudgetUSD"] == 500
    assert dumped["quota"] == {"cpu": "24"}
    assert TenantSpec.model_validate(dumped) == spec


def test_snake_case_names_work_too() -> None:
    spec = TenantSpec.model_validate({"limits": {"max_cpu": "3"}, "display_name": "x"})
    assert spec.limits.max_cpu == "3"
    assert spec.display_name == "x"


@pytest.mark.parametrize(
    "owner",
    [
        {"kind": "ServiceAccount", "name": "bot"},
        {"kind": "User", "name": "jane", "namespace": "ns"},
        {"kind": "Team", "name": "x"},
        {"kind": "User", "name": ""},
    ],
)
def test_invalid_owners(owner: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Owner.model_validate(owner)


def test_invalid_quantity_in_spec() -> None:
    with pytest.raises(ValidationError):
        TenantSpec.model_validate({"quota": {"memory": "lots"}})
    with pytest.raises(ValidationError):
        TenantSpec.model_validate({"quota": {"cpu": True}})


def test_namespace_for() -> None:
    assert namespace_for("acme") == "tenant-acme"
    assert namespace_for("acme", "t-") == "t-acme"


# --- DesignPipeline --------------------------------------------------------------------------


def test_pipeline_from_example() -> None:
    pipeline = DesignPipeline.from_body(example("pipeline-button.yaml", "DesignPipeline"))
    assert (pipeline.name, pipeline.namespace) == ("button", "tenant-acme")
    spec = pipeline.spec
    assert spec.source.config_map_ref is not None
    assert spec.source.config_map_ref.key == "file.json"
    assert spec.source.figma is None
    assert spec.stages == (Stage.ANALYZE, Stage.GENERATE, Stage.TEST, Stage.QA)
    assert spec.priority == 60
    assert spec.ttl_seconds_after_finished == 86400


def test_pipeline_defaults() -> None:
    spec = pipeline_spec()
    assert spec.target.to_dict() == {
        "framework": "nextjs",
        "ui": "shadcn",
        "language": "typescript",
    }
    assert spec.priority == 50
    assert (spec.timeouts.stage_seconds, spec.timeouts.pipeline_seconds) == (900, 3600)
    assert (spec.retries.limit, spec.retries.backoff_seconds) == (2, 10)
    assert spec.cancel is False
    assert spec.git is None


@pytest.mark.parametrize(
    "source",
    [{}, {"figma": {"fileKey": "a"}, "configMapRef": {"name": "c", "key": "k"}}],
)
def test_exactly_one_source(source: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        DesignPipelineSpec.model_validate({"source": source})


@pytest.mark.parametrize(
    "stages",
    [
        ["generate"],
        ["analyze", "test", "generate"],
        ["analyze", "analyze"],
        [],
        ["analyze", "deploy", "qa", "visual"],  # neither the order nor the earlier one
        ["analyze", "deploy", "visual"],
        ["analyze", "generate", "visual", "qa"],
    ],
)
def test_invalid_stage_lists(stages: list[str]) -> None:
    with pytest.raises(ValidationError, match="stages"):
        pipeline_spec(stages=stages, git={"url": "https://g/r.git"})


def test_deploy_needs_git() -> None:
    with pytest.raises(ValidationError, match="git is required"):
        pipeline_spec(stages=["analyze", "deploy"])
    spec = pipeline_spec(stages=["analyze", "generate", "qa", "deploy"], git={"url": "https://g/r"})
    assert spec.git is not None
    assert spec.git.branch_for("landing") == "pf-figma/landing"


@pytest.mark.parametrize(
    "stages",
    [
        ["analyze", "generate", "test", "qa", "visual", "deploy"],
        ["analyze", "qa", "deploy"],
        ["analyze", "visual"],
    ],
)
def test_stage_order_checks_before_shipping(stages: list[str]) -> None:
    spec = pipeline_spec(stages=stages, git={"url": "https://g/r.git"})
    assert [s.value for s in spec.stages] == stages


def test_pipelines_stored_with_the_earlier_order_keep_running_in_it() -> None:
    """deploy before qa was the order until issue 15: such stored pipelines stay valid and run
    their stages as stored (the CRD ratchets them; new ones are rejected by the API server)."""
    spec = pipeline_spec(stages=["analyze", "generate", "test", "deploy", "qa"],
                         git={"url": "https://g/r"})
    assert spec.next_stage(Stage.TEST) is Stage.DEPLOY
    assert spec.next_stage(Stage.DEPLOY) is Stage.QA
    assert spec.next_stage(Stage.QA) is None


def test_next_stage() -> None:
    spec = pipeline_spec(stages=["analyze", "generate", "deploy"], git={"url": "https://g/r"})
    assert spec.next_stage(None) is Stage.ANALYZE
    assert spec.next_stage(Stage.ANALYZE) is Stage.GENERATE
    assert spec.next_stage(Stage.GENERATE) is Stage.DEPLOY
    assert spec.next_stage(Stage.DEPLOY) is None


def test_retry_backoff_doubles() -> None:
    retries = pipeline_spec(retries={"limit": 3, "backoffSeconds": 5}).retries
    assert [retries.backoff(n) for n in (1, 2, 3)] == [5, 10, 20]


def test_effective_llm_inherits_from_the_tenant() -> None:
    tenant = TenantSpec.model_validate(
        {
            "llm": {
                "enabled": True,
                "model": "claude-opus-4",
                "apiKeySecretRef": {"name": "a", "key": "k"},
            }
        }
    )
    llm = pipeline_spec().effective_llm(tenant)
    assert llm.to_dict() == {
        "enabled": True,
        "model": "claude-opus-4",
        "maxTokens": DEFAULT_LLM_MAX_TOKENS,
        "maxCostUSD": DEFAULT_LLM_MAX_COST_USD,
    }
    own = pipeline_spec(llm={"model": "claude-haiku-4-5", "maxTokens": 1000, "maxCostUSD": 0.5})
    assert own.effective_llm(tenant).to_dict() == {
        "enabled": True,
        "model": "claude-haiku-4-5",
        "maxTokens": 1000,
        "maxCostUSD": 0.5,
    }
    assert not pipeline_spec(llm={"enabled": False}).effective_llm(tenant).enabled


def test_tenant_can_veto_the_llm() -> None:
    tenant = TenantSpec()  # llm disabled
    assert not pipeline_spec(llm={"enabled": True}).effective_llm(tenant).enabled


def test_pipeline_status_parses_and_serialises() -> None:
    raw: dict[str, Any] = {
        "observedGeneration": 2,
        "currentStage": "generate",
        "startTime": "2025-01-02T03:04:05Z",
        "stages": [
            {"name": "analyze", "state": "Succeeded", "attempts": 1, "job": "p-analyze-1"},
            {"name": "generate", "state": "Running", "attempts": 2},
        ],
        "artifacts": [{"stage": "analyze", "name": "spec.json", "uri": "file:///a", "size": 3}],
        "cost": {"inputTokens": 10, "outputTokens": 5, "usd": 0.25},
        "conditions": [
            {
                "type": "Succeeded",
                "status": "Unknown",
                "reason": "Running",
                "message": "",
                "lastTransitionTime": "2025-01-02T03:04:05Z",
            },
            {"type": "Broken"},  # malformed entries are skipped, not fatal
        ],
    }
    status = DesignPipelineStatus.model_validate(raw)
    assert status.start_time == T0
    assert [c.type for c in status.conditions] == ["Succeeded"]
    generate = status.stage("generate")
    assert generate is not None and generate.state is StageState.RUNNING
    assert status.stage("qa") is None
    assert not status.finished
    dumped = status.to_dict()
    assert dumped["startTime"] == "2025-01-02T03:04:05Z"
    assert dumped["stages"][0] == raw["stages"][0]
    assert dumped["conditions"] == raw["conditions"][:1]


def test_merge_patch_clears_unset_fields() -> None:
    status = DesignPipelineStatus(current_stage="test", cost=Cost(usd=1.5))
    patch = status.to_merge_patch()
    assert patch["currentStage"] == "test"
    assert patch["cost"] == {"inputTokens": 0, "outputTokens": 0, "usd": 1.5}
    assert patch["queuePosition"] is None
    assert patch["startTime"] is None
    assert patch["conditions"] == []


def test_cost_adds_up() -> None:
    total = Cost(input_tokens=1, output_tokens=2, usd=0.1) + Cost(input_tokens=3, usd=0.2)
    assert total == Cost(input_tokens=4, output_tokens=2, usd=0.3)


# --- conditions ------------------------------------------------------------------------------


def test_set_condition_appends_a_new_type() -> None:
    conditions = set_condition([], "Ready", "True", "Ready", "all good", 3, now=T0)
    assert [c.to_dict() for c in conditions] == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Ready",
            "message": "all good",
            "observedGeneration": 3,
            "lastTransitionTime": "2025-01-02T03:04:05Z",
        }
    ]


def test_same_status_keeps_the_transition_time() -> None:
    first = set_condition([], "Ready", ConditionStatus.FALSE, "QuotaPending", "wait", 1, now=T0)
    later = T0 + timedelta(minutes=5)
    second = set_condition(
        first, "Ready", ConditionStatus.FALSE, "NetworkPending", "more", 2, now=later
    )
    (cond,) = second
    assert cond.last_transition_time == T0
    assert (cond.reason, cond.message, cond.observed_generation) == ("NetworkPending", "more", 2)


def test_status_change_moves_the_transition_time() -> None:
    first = set_condition([], "Ready", "False", "Pending", now=T0)
    later = T0 + timedelta(minutes=5)
    (cond,) = set_condition(first, "Ready", "True", "Ready", now=later)
    assert cond.last_transition_time == later
    assert cond.is_true


def test_set_condition_keeps_order_and_does_not_mutate() -> None:
    raw = [
        {
            "type": "A",
            "status": "True",
            "reason": "Ok",
            "message": "",
            "lastTransitionTime": "2025-01-01T00:00:00Z",
        },
        {
            "type": "B",
            "status": "True",
            "reason": "Ok",
            "message": "",
            "lastTransitionTime": "2025-01-01T00:00:00Z",
        },
    ]
    before = copy.deepcopy(raw)
    result = set_condition(raw, "A", "False", "Broken", "x", now=T0)
    assert raw == before
    assert [c.type for c in result] == ["A", "B"]
    assert result[0].status is ConditionStatus.FALSE
    assert result[1].to_dict() == raw[1]


def test_condition_validation() -> None:
    with pytest.raises(ValidationError):
        Condition(type="Ready", status=ConditionStatus.TRUE, reason="not camel case!")
    long = Condition(type="Ready", status=ConditionStatus.TRUE, reason="R", message="x" * 40000)
    assert len(long.message) == 32768
    naive = Condition.model_validate(
        {"type": "A", "status": "True", "reason": "R", "lastTransitionTime": "2025-01-02T03:04:05"}
    )
    assert naive.last_transition_time == T0


def test_parse_conditions_tolerates_junk() -> None:
    assert parse_conditions(None) == ()
    assert parse_conditions("nope") == ()
    assert parse_conditions([1, {"type": "X"}]) == ()


def test_find_condition() -> None:
    conditions = set_condition([], "A", "True", "Ok", now=T0)
    assert find_condition(conditions, "A") is conditions[0]
    assert find_condition(conditions, "B") is None


def test_summarize_conditions() -> None:
    parts = [str(p) for p in TENANT_READY_PARTS]
    conditions: tuple[Condition, ...] = ()
    assert summarize_conditions(conditions, parts)[0] is ConditionStatus.UNKNOWN
    for part in parts:
        conditions = set_condition(conditions, part, "True", "Applied", now=T0)
    assert summarize_conditions(conditions, parts) == (ConditionStatus.TRUE, "Ready", "")
    conditions = set_condition(
        conditions, "QuotaApplied", "False", "InvalidSpec", "too small", now=T0
    )
    assert summarize_conditions(conditions, parts) == (
        ConditionStatus.FALSE,
        "InvalidSpec",
        "QuotaApplied: too small",
    )


def test_format_time() -> None:
    assert format_time(datetime(2025, 1, 2, 3, 4, 5, 999, tzinfo=UTC)) == "2025-01-02T03:04:05Z"
    cet = datetime(2025, 1, 2, 4, 4, 5, tzinfo=UTC).astimezone()  # any zone
    assert format_time(cet) == "2025-01-02T04:04:05Z"

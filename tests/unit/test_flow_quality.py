"""The visual stage's figures in status.quality and the spec.quality gate (pure flow)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pf_operator import model
from pf_operator.flow import Plan, quality_gate, quality_of
from tests.unit.test_flow import at, cond, mkspec, run, states, succeeded

STAGES = ["analyze", "generate", "test", "qa", "visual", "deploy"]
GIT = {"url": "https://git.example.com/o/r.git"}
SUMMARY = {"fidelity": 0.62, "textsShown": 0.9, "a11yViolations": 3,
           "overflowWidths": [375, 768], "worst": ["Card 0.20", "Button 0.50"],
           "a11yWorst": ["Form 2", "Card 1"], "components": 12}


def drive(spec: model.DesignPipelineSpec, summary: dict[str, Any] | None) -> list[Plan]:
    """Every stage succeeds (visual with ``summary``) until the pipeline stops."""
    plans = [run(spec)]
    t = 0
    while plans[-1].create_job is not None:
        stage, _ = plans[-1].create_job
        t += 10
        extra = {"summary": summary} if stage == "visual" and summary is not None else {}
        job = succeeded(stage, start=t - 10, end=t, message=f"{stage} ok", **extra)
        plans.append(run(spec, status=plans[-1].status, jobs=[job], now=at(t + 1)))
    return plans


def test_default_stages_run_every_check_and_no_deploy() -> None:
    spec = model.DesignPipelineSpec.model_validate({"source": {"figma": {"fileKey": "k"}}})
    assert [s.value for s in spec.stages] == ["analyze", "generate", "test", "qa", "visual"]
    assert not spec.quality.active


def test_quality_is_recorded_without_a_gate() -> None:
    plans = drive(mkspec(stages=STAGES[:5]), SUMMARY)
    last = plans[-1]
    assert last.finished == "Succeeded"
    assert last.status["quality"] == {"fidelity": 0.62, "textsShown": 0.9,
                                      "a11yViolations": 3, "overflowWidths": [375, 768]}
    assert last.quality == last.status["quality"]
    assert [p.quality is not None for p in plans].count(True) == 1  # observed once
    model.DesignPipelineStatus.model_validate(last.status)  # the typed model reads it


def test_a_failed_gate_fails_the_pipeline_names_the_worst_and_skips_deploy() -> None:
    spec = mkspec(stages=STAGES, git=GIT, quality={"minFidelity": 0.8, "maxA11yViolations": 0})
    plans = drive(spec, SUMMARY)
    last = plans[-1]
    s = last.status
    assert last.finished == "QualityGateFailed"
    assert (cond(s, "Succeeded")["status"], cond(s, "Succeeded")["reason"]) == (
        "False", "QualityGateFailed")
    msg = cond(s, "Succeeded")["message"]
    assert "fidelity 0.62 < minFidelity 0.80" in msg
    assert "3 accessibility violations (serious, critical) > maxA11yViolations 0" in msg
    assert "Card 0.20" in msg and "Form 2" in msg
    assert states(s)["visual"] == "Succeeded" and states(s)["deploy"] == "Skipped"
    assert all(p.create_job != ("deploy", 1) for p in plans)
    assert last.events[-1][:2] == ("Warning", "QualityGateFailed")
    assert s["quality"]["fidelity"] == 0.62


def test_a_passed_gate_goes_on_to_deploy() -> None:
    spec = mkspec(stages=STAGES, git=GIT, quality={"minFidelity": 0.6, "maxA11yViolations": 3})
    plans = drive(spec, SUMMARY)
    assert any(p.create_job == ("deploy", 1) for p in plans)
    assert plans[-1].finished == "Succeeded"


def test_a_gate_without_figures_fails() -> None:
    spec = mkspec(stages=STAGES[:5], quality={"minFidelity": 0.5})
    last = drive(spec, None)[-1]
    assert last.finished == "QualityGateFailed"
    assert "reported no fidelity" in cond(last.status, "Succeeded")["message"]


def test_untrusted_figures_are_coerced_and_bounded() -> None:
    assert quality_of(None) is None and quality_of({"components": 3}) is None
    q = quality_of({"fidelity": 7, "textsShown": "x", "a11yViolations": -4,
                    "overflowWidths": [1280, "375", 375.0, 768, 9, 10, 11, 12, 13, 14]})
    assert q == {"fidelity": 1.0, "textsShown": 0.0, "a11yViolations": 0,
                 "overflowWidths": [9, 10, 11, 12, 13, 14, 375, 768]}
    assert quality_of({"fidelity": float("nan")})["fidelity"] == 0.0
    spec = mkspec(stages=STAGES[:5], quality={"minFidelity": 0.5})
    assert quality_gate(spec, {"fidelity": 0.5, "a11yViolations": 9}, {}) is None
    assert quality_gate(mkspec(stages=STAGES[:5]), None, None) is None  # no gate


def test_thresholds_need_the_visual_stage_and_are_bounded() -> None:
    with pytest.raises(ValidationError, match="need the visual stage"):
        mkspec(quality={"minFidelity": 0.5})  # analyze, generate, test
    with pytest.raises(ValidationError):
        mkspec(stages=STAGES[:5], quality={"minFidelity": 1.5})
    with pytest.raises(ValidationError):
        mkspec(stages=STAGES[:5], quality={"maxA11yViolations": -1})
    assert mkspec(stages=STAGES[:5], quality={}).quality.active is False


# --- tenant defaults (Tenant spec.quality) ------------------------------------------------------


from tests.unit.test_flow import T0  # noqa: E402


def tenant(**quality: Any) -> model.TenantSpec:
    return model.TenantSpec.model_validate({"quality": quality})


def drive_for(spec: model.DesignPipelineSpec, ten: model.TenantSpec,
              summary: dict[str, Any]) -> list[Plan]:
    """``drive`` with the gate the operator computes for the pipeline of tenant ``ten``."""
    gate = spec.effective_quality(ten)

    def step(status: dict[str, Any], jobs: list[Any], now: Any) -> Plan:
        return run(spec, status=status, jobs=jobs, now=now, gate=gate)

    plans = [step({}, [], T0)]
    t = 0
    while plans[-1].create_job is not None:
        stage, _ = plans[-1].create_job
        t += 10
        extra = {"summary": summary} if stage == "visual" else {}
        job = succeeded(stage, start=t - 10, end=t, message=f"{stage} ok", **extra)
        plans.append(step(plans[-1].status, [job], at(t + 1)))
    return plans


def test_tenant_defaults_fill_what_the_pipeline_leaves_unset() -> None:
    ten = tenant(minFidelity=0.9, maxA11yViolations=0)
    gate = mkspec(stages=STAGES[:5], quality={"maxA11yViolations": 5}).effective_quality(ten)
    assert (gate.min_fidelity, gate.max_a11y_violations) == (0.9, 5)  # own value wins
    assert mkspec(stages=STAGES[:5]).effective_quality(tenant()).active is False
    # a pipeline without the visual stage has nothing to gate on: defaults do not apply
    assert mkspec(stages=STAGES[:4]).effective_quality(ten).active is False
    # the pipeline opts out of a default with its loosest value
    opt_out = mkspec(stages=STAGES[:5], quality={"minFidelity": 0, "maxA11yViolations": 99})
    assert quality_gate(opt_out, {"fidelity": 0.1, "a11yViolations": 3}, {},
                        opt_out.effective_quality(ten)) is None


def test_a_tenant_default_fails_a_pipeline_without_its_own_gate() -> None:
    spec = mkspec(stages=STAGES, git=GIT)  # no spec.quality at all
    last = drive_for(spec, tenant(minFidelity=0.8), SUMMARY)[-1]
    assert last.finished == "QualityGateFailed"
    msg = cond(last.status, "Succeeded")["message"]
    assert "fidelity 0.62 < minFidelity 0.80" in msg and "Card 0.20" in msg
    assert "deploy" not in [s for s, _ in filter(None, [last.create_job])]
    # the same pipeline in a tenant without defaults goes on to deploy
    plans = drive_for(spec, tenant(), SUMMARY)
    assert any(p.create_job == ("deploy", 1) for p in plans)
    assert plans[-1].finished == "Succeeded"


def test_tenant_quality_is_bounded_like_the_pipelines() -> None:
    with pytest.raises(ValidationError):
        tenant(minFidelity=1.5)
    with pytest.raises(ValidationError):
        tenant(maxA11yViolations=-1)

"""agents/tracing.py: the agent's spans hang below the operator's stage-attempt span
(TRACEPARENT); Claude calls carry the GenAI semantic-convention attributes and their cost;
qa's subprocesses are spans. The SDK's own provider and batch processor, into its in-memory
exporter (the OTLP export to a real collector: tests/e2e/test_tracing_real.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from test_llm import KEY, FakeClaude, client_for, project

from pf_agents import tracing
from pf_agents.config import LLM
from pf_agents.llm import refine_project

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    monkeypatch.setenv("TRACEPARENT", f"00-{TRACE}-{PARENT}-01")
    exporter = InMemorySpanExporter()
    flush = tracing.setup(exporter=exporter)
    yield exporter
    flush()


def finished(exporter: InMemorySpanExporter) -> dict[str, object]:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_claude_calls_are_genai_spans_below_the_stage_span(
    exported: InMemorySpanExporter, tmp_path: object
) -> None:
    spec, files, manifests = project()
    fake = FakeClaude()
    with tracing.span("agent generate", tracing.stage_attributes("generate")) as stage:
        out = refine_project(
            files,
            manifests,
            spec,
            LLM(enabled=True, maxTokens=10**7, maxCostUSD=10),
            KEY,
            http_client=client_for(fake),
            typecheck=False,
        )
        tracing.stage_result(stage, "Succeeded", "Succeeded")
    assert out.calls >= 1
    assert tracing.force_flush()
    spans = exported.get_finished_spans()
    (agent,) = [s for s in spans if s.name == "agent generate"]
    calls = [s for s in spans if s.name.startswith("chat ")]
    assert len(calls) == out.calls
    # the agent's span is the child of the operator's stage-attempt span (TRACEPARENT)
    assert agent.context is not None and f"{agent.context.trace_id:032x}" == TRACE
    assert agent.parent is not None and f"{agent.parent.span_id:016x}" == PARENT
    first = calls[0]
    assert first.kind is SpanKind.CLIENT and first.name == "chat claude-sonnet-4-5"
    assert first.parent is not None and first.parent.span_id == agent.context.span_id
    attrs = dict(first.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.request.model"] == "claude-sonnet-4-5"
    assert attrs["gen_ai.response.model"] == "claude-sonnet-4-5-20250929"
    assert attrs["gen_ai.response.finish_reasons"] == ("end_turn",)
    # FakeClaude's first answer: 1200 input + 3000 cache-write tokens, 400 output
    assert attrs["gen_ai.usage.input_tokens"] == 4200
    assert attrs["gen_ai.usage.cache_creation.input_tokens"] == 3000
    assert attrs["gen_ai.usage.output_tokens"] == 400
    total = sum(float((s.attributes or {})["pf_figma.llm.cost_usd"]) for s in calls)  # type: ignore[arg-type]
    assert total == pytest.approx(out.usd, abs=1e-5) and total > 0
    assert all(KEY not in str(dict(s.attributes or {})) for s in spans)  # never the key


def test_a_failed_call_is_a_failed_span(exported: InMemorySpanExporter) -> None:
    spec, files, manifests = project()
    fake = FakeClaude(fail_first=[400])
    cfg = LLM(enabled=True)
    refine_project(files, manifests, spec, cfg, KEY, http_client=client_for(fake), typecheck=False)
    assert tracing.force_flush()
    (call,) = [s for s in exported.get_finished_spans() if s.name.startswith("chat ")]
    assert call.status.status_code is StatusCode.ERROR
    assert (call.attributes or {})["error.type"] == "BadRequestError"


def test_subprocess_steps_are_spans_with_their_outcome(exported: InMemorySpanExporter) -> None:
    assert tracing.subprocess_step("tsc", lambda: {"ok": False, "seconds": 1.25}) == {
        "ok": False,
        "seconds": 1.25,
    }
    tracing.subprocess_step("vitest", lambda: {"ok": True, "seconds": 2})
    with pytest.raises(OSError):
        tracing.subprocess_step("npm install", _raise_oserror)
    assert tracing.force_flush()
    spans = {s.name: s for s in exported.get_finished_spans()}
    tsc, vitest, npm = spans["tsc"], spans["vitest"], spans["npm install"]
    assert tsc.status.status_code is StatusCode.ERROR
    assert dict(tsc.attributes or {}) == {
        "process.executable.name": "tsc",
        "pf_figma.ok": False,
        "pf_figma.seconds": 1.25,
    }
    assert vitest.status.status_code is StatusCode.UNSET
    assert npm.status.status_code is StatusCode.ERROR
    assert (npm.attributes or {})["error.type"] == "OSError"


def _raise_oserror() -> None:
    raise OSError("npm: not found")


def test_tracing_is_off_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    assert not tracing.enabled()
    assert tracing.enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert not tracing.enabled(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}
    )
    tracing.setup()()  # nothing installed, nothing to flush

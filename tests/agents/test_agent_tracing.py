"""agents/tracing.py: the agent's spans hang below the operator's stage-attempt span
(TRACEPARENT); Claude calls carry the GenAI semantic-convention attributes and their cost;
qa's subprocesses are spans. The SDK's own provider and batch processor, into its in-memory
exporter (the OTLP export to a real collector: tests/e2e/test_tracing_real.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from test_llm import KEY, FakeClaude, client_for, project
from test_visual_refine import FakeClaude as FakeVisualClaude

from pf_agents import tracing
from pf_agents.config import LLM
from pf_agents.llm import SYSTEM, VISUAL_SYSTEM, propose_visual_fixes, refine_project
from pf_agents.visual import VisualDiff, _run_node

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


def _on_spans(spans: list[ReadableSpan]) -> str:
    """Everything a span carries that an exporter sends: names, attributes, event attributes."""
    parts: list[str] = []
    for s in spans:
        parts += [s.name, repr(dict(s.attributes or {}))]
        parts += [repr(dict(e.attributes or {})) for e in s.events]
    return "\n".join(parts)


def _visual_request(fail: list[int] | None = None) -> tuple[Any, ...]:
    """propose_visual_fixes' arguments for one component of code-connect (a diff with its
    prompt text), sent through FakeClaude (``fail``: answer these statuses first)."""
    _, files, manifests = project()
    m = manifests[0]
    diff = VisualDiff(
        ident=m.ident,
        file=m.file,
        fidelity=0.5,
        diff={"default": {"off": [{"node": "1:2", "figma": [0, 0, 10, 10], "error": 7}]}},
        images=[("Chromium", b"not a png: the request carries it as bytes")],
    )
    if fail:
        http = client_for(FakeClaude(fail_first=fail))
    else:
        fixed = FakeVisualClaude(lambda src: src.replace("export function", "/** Fixed. */\n"
                                                         "export function", 1))
        http = client_for(fixed)  # type: ignore[arg-type]
    return files, manifests, [diff], http


def test_visual_fix_calls_are_genai_spans_with_usage(exported: InMemorySpanExporter) -> None:
    files, manifests, diffs, http = _visual_request()
    cfg = LLM(enabled=True, model="claude-haiku-4-5", maxTokens=10**7, maxCostUSD=10)
    proposals, out = propose_visual_fixes(files, manifests, diffs, cfg, KEY, http_client=http)
    assert out.calls == 1 and list(proposals) == [diffs[0].file]
    assert tracing.force_flush()
    spans = exported.get_finished_spans()
    (call,) = [s for s in spans if s.name.startswith("chat ")]
    assert call.name == "chat claude-haiku-4-5" and call.kind is SpanKind.CLIENT
    attrs = dict(call.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.request.model"] == "claude-haiku-4-5"
    assert attrs["gen_ai.response.model"] == "claude-sonnet-4-5-20250929"  # what FakeClaude says
    # test_visual_refine's FakeClaude: 2500 input and 600 output tokens, no cache use
    assert attrs["gen_ai.usage.input_tokens"] == 2500 == out.input_tokens
    assert attrs["gen_ai.usage.output_tokens"] == 600 == out.output_tokens
    assert attrs["pf_figma.llm.cost_usd"] == pytest.approx(out.usd) and out.usd > 0
    assert call.status.status_code is StatusCode.UNSET and "error.type" not in attrs
    on_spans = _on_spans(list(spans))
    # never the prompt (system, diff, source, image) nor the key
    for secret in (VISUAL_SYSTEM[:60], '"node": "1:2"', files[diffs[0].file][:80], KEY):
        assert secret not in on_spans


@pytest.mark.parametrize("status,error", [(400, "BadRequestError"), (401, "AuthenticationError")])
def test_a_failed_visual_fix_call_is_a_failed_span(
    exported: InMemorySpanExporter, status: int, error: str
) -> None:
    files, manifests, diffs, http = _visual_request(fail=[status])
    proposals, out = propose_visual_fixes(files, manifests, diffs, LLM(enabled=True), KEY,
                                          http_client=http)
    assert proposals == {} and out.calls == 0 and out.stopped == f"api error {status}"
    assert tracing.force_flush()
    spans = exported.get_finished_spans()
    (call,) = [s for s in spans if s.name.startswith("chat ")]
    assert call.status.status_code is StatusCode.ERROR
    attrs = dict(call.attributes or {})
    assert attrs["error.type"] == error
    assert "gen_ai.usage.input_tokens" not in attrs  # nothing was used
    on_spans = _on_spans(list(spans))
    assert VISUAL_SYSTEM[:60] not in on_spans and KEY not in on_spans


def test_refinement_spans_carry_no_prompt(exported: InMemorySpanExporter) -> None:
    spec, files, manifests = project()
    sources = [files[m.file] for m in manifests]
    cfg = LLM(enabled=True, maxTokens=10**7, maxCostUSD=10)
    out = refine_project(files, manifests, spec, cfg, KEY, http_client=client_for(FakeClaude()),
                         typecheck=False)
    assert out.calls == len(manifests) and out.refined
    assert tracing.force_flush()
    spans = list(exported.get_finished_spans())
    assert [s.name for s in spans] == ["chat claude-sonnet-4-5"] * out.calls
    assert sum(int((s.attributes or {})["gen_ai.usage.output_tokens"]) for s in spans) == (  # type: ignore[call-overload]
        out.output_tokens
    )
    on_spans = _on_spans(spans)
    for secret in (SYSTEM[:60], "Refine this component", "Design summary", *[
        src[:80] for src in sources
    ], KEY):
        assert secret not in on_spans


def _node_script(tmp: Path, name: str, code: str) -> list[str]:
    from pf_agents.qa import node_bin_dir

    script = tmp / name
    script.write_text(code)
    return [str(node_bin_dir() / "node"), str(script), "--token=s3cr3t-argument"]


def test_visual_node_steps_are_spans_named_by_their_script(
    exported: InMemorySpanExporter, tmp_path: Path
) -> None:
    ok = _run_node(_node_script(tmp_path, "ok.mjs", "process.exit(0)\n"), tmp_path, {}, 30)
    bad = _run_node(_node_script(tmp_path, "bad.mjs", "process.exit(3)\n"), tmp_path, {}, 30)
    assert (ok.returncode, bad.returncode) == (0, 3)
    with pytest.raises(subprocess.TimeoutExpired):
        _run_node(
            _node_script(tmp_path, "slow.mjs", "setTimeout(() => {}, 60000)\n"), tmp_path, {}, 1
        )
    assert tracing.force_flush()
    spans = {s.name: s for s in exported.get_finished_spans()}
    assert set(spans) == {"node ok.mjs", "node bad.mjs", "node slow.mjs"}
    assert dict(spans["node ok.mjs"].attributes or {}) == {
        "process.executable.name": "node",
        "process.exit.code": 0,
    }
    assert spans["node ok.mjs"].status.status_code is StatusCode.UNSET
    assert (spans["node bad.mjs"].attributes or {})["process.exit.code"] == 3
    assert spans["node bad.mjs"].status.status_code is StatusCode.ERROR
    assert (spans["node slow.mjs"].attributes or {})["error.type"] == "TimeoutExpired"
    assert "s3cr3t" not in _on_spans(list(spans.values()))  # the command's arguments stay off

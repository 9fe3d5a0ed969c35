"""operator/tracing.py: a DesignPipeline's trace planned from its reconcile passes (pure), and
handed to the OpenTelemetry SDK with ids derived from its UID.

The passes are real `flow.plan` passes (each Plan's status fed back, as the reconciler does);
spans go through the SDK's own TracerProvider and BatchSpanProcessor into its in-memory
exporter (the real OTLP export to a real collector is tests/e2e/test_tracing_real.py)."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from pf_operator import tracing
from pf_operator.logs import JsonFormatter
from pf_operator.tracing import PlannedSpan, Tracing, pipeline_spans
from tests.unit.test_flow import (
    T0,
    at,
    failed,
    mkspec,
    run,
    running,
    succeeded,
)

UID = "8d3c2a4e-6f0b-4c1e-9a57-2b1f0c9d7e11"
META = {
    "name": "demo",
    "namespace": "tenant-acme",
    "uid": UID,
    "creationTimestamp": (T0 - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
}
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")


def passes(*steps: tuple[float, Any, dict[str, Any]]) -> list[PlannedSpan]:
    """Run flow.plan passes (now, jobs, extra plan kwargs), feeding each status back; return
    every span the passes end, as the reconciler would hand them to Tracing.emit."""
    status: dict[str, Any] = {}
    spans: list[PlannedSpan] = []
    for now_s, jobs, kwargs in steps:
        jobs = {j.name: j for j in jobs}
        p = run(status=status, jobs=jobs, now=at(now_s), **kwargs)
        spans += pipeline_spans(
            meta=META,
            tenant="acme",
            old_status=status,
            new_status=p.status,
            started=p.started,
            stage_finished=p.stage_finished,
            finished=p.finished,
            jobs=jobs,
            now=at(now_s),
        )
        status = p.status
    return spans


def by_name(spans: list[PlannedSpan]) -> dict[str, PlannedSpan]:
    out = {s.name: s for s in spans}
    assert len(out) == len(spans), [s.name for s in spans]
    return out


# --- ids ------------------------------------------------------------------------------------


def test_ids_are_derived_from_the_uid_stage_and_attempt() -> None:
    assert tracing.trace_id(UID) == tracing.trace_id(UID)  # any replica derives the same
    assert tracing.trace_id(UID) != tracing.trace_id(UID.replace("8", "9"))
    ids = {
        tracing.root_span_id(UID),
        tracing.queue_span_id(UID),
        tracing.attempt_span_id(UID, "analyze", 1),
        tracing.attempt_span_id(UID, "analyze", 2),
        tracing.attempt_span_id(UID, "generate", 1),
        tracing.backoff_span_id(UID, "analyze", 2),
    }
    assert len(ids) == 6 and all(0 < i < 2**64 for i in ids)
    assert 0 < tracing.trace_id(UID) < 2**128


def test_traceparent_is_w3c_and_names_the_attempt_span() -> None:
    m = TRACEPARENT.match(tracing.traceparent(UID, "qa", 2))
    assert m, tracing.traceparent(UID, "qa", 2)
    assert m.group(1) == tracing.trace_id_hex(UID)
    assert int(m.group(2), 16) == tracing.attempt_span_id(UID, "qa", 2)
    assert tracing.traceparent(UID, "qa", 2, sampled=False).endswith("-00")


# --- planned spans (pure) ----------------------------------------------------------------


def test_a_succeeding_pipeline_ends_queue_stage_and_root_spans() -> None:
    spans = passes(
        (0, [], {}),  # admitted: analyze 1 recorded
        (12, [succeeded("analyze", start=1, end=11)], {}),
        (20, [succeeded("generate", start=13, end=19)], {}),
        (30, [succeeded("test", start=21, end=29)], {}),
    )
    named = by_name(spans)
    assert list(named) == ["queue", "stage analyze", "stage generate", "stage test", "pipeline"]
    root = named["pipeline"]
    assert root.parent_id is None and root.span_id == tracing.root_span_id(UID)
    assert root.start == T0 - timedelta(seconds=30) and root.end == at(30)
    assert root.error is None and root.attributes["pf_figma.outcome"] == "Succeeded"
    queue = named["queue"]
    assert (queue.start, queue.end, queue.parent_id) == (root.start, at(0), root.span_id)
    analyze = named["stage analyze"]
    assert analyze.span_id == tracing.attempt_span_id(UID, "analyze", 1)
    assert (analyze.start, analyze.end, analyze.parent_id) == (at(1), at(11), root.span_id)
    assert analyze.attributes == {
        "k8s.namespace.name": "tenant-acme",
        "k8s.job.name": "demo-analyze-1",
        "pf_figma.tenant": "acme",
        "pf_figma.pipeline": "demo",
        "pf_figma.pipeline.uid": UID,
        "pf_figma.stage": "analyze",
        "pf_figma.attempt": 1,
        "pf_figma.outcome": "Succeeded",
    }


def test_a_retry_has_a_failed_attempt_a_backoff_and_a_second_attempt() -> None:
    spec = mkspec(retries={"limit": 1, "backoffSeconds": 5})
    spans = passes(
        (0, [], {"spec": spec}),
        (11, [failed("analyze", start=1, end=10)], {"spec": spec}),  # retry at 15
        (15, [], {"spec": spec}),  # backoff over: attempt 2 recorded
        (25, [succeeded("analyze", attempt=2, start=16, end=24)], {"spec": spec}),
    )
    first, backoff, second = (s for s in spans if "analyze" in s.name)
    assert first.span_id == tracing.attempt_span_id(UID, "analyze", 1)
    assert first.error == "BackoffLimitExceeded" and first.attributes["error.type"] == first.error
    assert first.attributes["pf_figma.outcome"] == "Failed"
    assert backoff.name == "retry backoff analyze"
    assert (backoff.start, backoff.end) == (at(10), at(15))
    assert backoff.span_id == tracing.backoff_span_id(UID, "analyze", 2)
    assert second.span_id == tracing.attempt_span_id(UID, "analyze", 2)
    assert second.attributes["pf_figma.attempt"] == 2 and second.error is None
    assert "pipeline" not in {s.name for s in spans}  # still running: the root is not ended


def test_cancel_ends_the_running_attempt_and_the_root_with_the_reason() -> None:
    spans = passes(
        (0, [], {}),
        (5, [running("analyze", start=1)], {"spec": mkspec(cancel=True)}),
    )
    named = by_name(spans)
    attempt, root = named["stage analyze"], named["pipeline"]
    assert (attempt.start, attempt.end) == (at(1), at(5))
    assert attempt.error == "Cancelled" and attempt.attributes["pf_figma.outcome"] == "Cancelled"
    assert root.error == "Cancelled" and root.end == at(5)


def test_a_pass_that_ends_nothing_plans_nothing() -> None:
    spans = passes((0, [], {}), (3, [running("analyze", start=1)], {}))
    assert [s.name for s in spans] == ["queue"]  # from the first pass only


def test_exemplar_names_the_trace() -> None:
    assert tracing.exemplar({"traceID": "ab" * 16}) == {"trace_id": "ab" * 16}
    assert tracing.exemplar({}) is None


# --- configuration --------------------------------------------------------------------------


def test_tracing_is_off_without_an_endpoint() -> None:
    off = Tracing.from_env({})
    assert not off.enabled
    status: dict[str, Any] = {}
    off.annotate(META, status)
    assert status == {} and off.job_env(META, "qa", 1) == []
    for env in (
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"},
    ):
        assert tracing.traces_endpoint(env) is None


def test_endpoints_and_bad_configuration_are_named() -> None:
    assert tracing.traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}) == (
        "http://c:4318/v1/traces"
    )
    assert (
        tracing.traces_endpoint(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:9/x",
            }
        )
        == "http://t:9/x"
    )
    grpc = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    assert "http/protobuf only" in (tracing.check_config(grpc) or "")
    with pytest.raises(SystemExit, match="OTEL_EXPORTER_OTLP_PROTOCOL=grpc"):
        Tracing.from_env(grpc)
    assert "http:// or https://" in (
        tracing.check_config({"OTEL_EXPORTER_OTLP_ENDPOINT": "c:4318"}) or ""
    )


def test_otlp_egress_is_one_rule_per_collector_address() -> None:
    rules = tracing.otlp_egress("http://jaeger.obs:4318/v1/traces", resolve=lambda h: ["10.1.2.3"])
    assert [(r.cidr, r.port) for r in rules] == [("10.1.2.3/32", 4318)]
    assert [r.port for r in tracing.otlp_egress("https://192.0.2.7/v1/traces")] == [443]


# --- the SDK side ---------------------------------------------------------------------------

ENV = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


@pytest.fixture
def memory() -> Iterator[tuple[Tracing, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    tr = Tracing.from_env(ENV, exporter=exporter)
    yield tr, exporter
    tr.shutdown()


def exported(tr: Tracing, exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    assert tr.provider is not None and tr.provider.force_flush()
    return {s.name: s for s in exporter.get_finished_spans()}


def test_emitted_spans_carry_the_derived_ids_times_and_links(
    memory: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tr, exporter = memory
    spans = passes((0, [], {}), (12, [succeeded("analyze", start=1, end=11)], {}))
    tr.emit(META, spans)
    got = exported(tr, exporter)
    assert set(got) == {"queue", "stage analyze"}
    attempt = got["stage analyze"]
    assert attempt.context is not None and attempt.parent is not None
    assert attempt.context.trace_id == tracing.trace_id(UID)
    assert attempt.context.span_id == tracing.attempt_span_id(UID, "analyze", 1)
    assert attempt.parent.span_id == tracing.root_span_id(UID)
    assert attempt.start_time == int(at(1).timestamp() * 1e9)
    assert attempt.end_time == int(at(11).timestamp() * 1e9)
    assert attempt.resource.attributes["service.name"] == "pf-figma-operator"
    assert attempt.attributes is not None and attempt.attributes["k8s.job.name"] == "demo-analyze-1"


def test_another_replica_ends_the_root_of_the_same_trace(
    memory: tuple[Tracing, InMemorySpanExporter],
) -> None:
    """A replica that took over (a new Tracing, nothing in memory) ends the root span with the
    ids the first one gave the agent (TRACEPARENT)."""
    tr, exporter = memory
    other_exporter = InMemorySpanExporter()
    other = Tracing.from_env(ENV, exporter=other_exporter)
    try:
        env = {e["name"]: e["value"] for e in tr.job_env(META, "analyze", 1)}
        m = TRACEPARENT.match(env["TRACEPARENT"])
        assert m and env["OTEL_SERVICE_NAME"] == "pf-figma-agent"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == ENV["OTEL_EXPORTER_OTLP_ENDPOINT"]
        spans = passes(
            (0, [], {}),
            (12, [succeeded("analyze", start=1, end=11)], {}),
            (20, [succeeded("generate", start=13, end=19)], {}),
            (30, [succeeded("test", start=21, end=29)], {}),
        )
        tr.emit(META, spans[:2])
        other.emit(META, spans[2:])
        first, second = exported(tr, exporter), exported(other, other_exporter)
        root = second["pipeline"]
        assert root.context is not None and root.parent is None
        assert f"{root.context.trace_id:032x}" == m.group(1)
        parent_of_agent = first["stage analyze"].context
        assert parent_of_agent is not None and f"{parent_of_agent.span_id:016x}" == m.group(2)
        assert first["stage analyze"].parent.span_id == root.context.span_id  # type: ignore[union-attr]
        status: dict[str, Any] = {}
        other.annotate(META, status)
        assert status == {"traceID": m.group(1)}
    finally:
        other.shutdown()


def test_failed_spans_have_an_error_status(
    memory: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tr, exporter = memory
    tr.emit(
        META, passes((0, [], {}), (5, [running("analyze", start=1)], {"spec": mkspec(cancel=True)}))
    )
    root = exported(tr, exporter)["pipeline"]
    assert root.status.status_code is StatusCode.ERROR and root.status.description == "Cancelled"


def test_a_sampled_out_trace_exports_nothing_and_has_no_trace_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    exporter = InMemorySpanExporter()
    tr = Tracing.from_env(ENV, exporter=exporter)
    try:
        tr.emit(META, passes((0, [], {})))
        status: dict[str, Any] = {}
        tr.annotate(META, status)
        assert exported(tr, exporter) == {} and status == {}
        assert tr.job_env(META, "analyze", 1) == []
    finally:
        tr.shutdown()


def test_logs_in_a_pipeline_reconcile_carry_its_trace_id(
    memory: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tr, _ = memory
    record = logging.makeLogRecord({"name": "pf_operator.pipelines", "msg": "reconciled"})
    with tr.pipeline_context(META):
        line = json.loads(JsonFormatter().format(record))
    assert line["trace_id"] == tracing.trace_id_hex(UID)
    assert line["span_id"] == f"{tracing.root_span_id(UID):016x}"
    assert "trace_id" not in json.loads(JsonFormatter().format(record))  # outside: none


def test_tenant_reconciles_are_spans_of_their_own(
    memory: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tr, exporter = memory
    with pytest.raises(RuntimeError), tr.tenant_reconcile("acme", "tenant-acme"):
        raise RuntimeError("apiserver said no")
    span = exported(tr, exporter)["reconcile Tenant"]
    assert span.attributes is not None and span.attributes["pf_figma.tenant"] == "acme"
    assert span.status.status_code is StatusCode.ERROR
    assert span.context is not None and span.context.trace_id != tracing.trace_id(UID)


def test_an_unreachable_collector_costs_a_log_line_and_a_metric_never_a_wait(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The real OTLP/HTTP exporter against a closed port: emit returns at once; the failed
    batches are counted and said once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: connections are refused
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    before = tracing.EXPORT_FAILURES._value.get()
    tr = Tracing.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"})
    caplog.set_level(logging.INFO, logger="pf_operator.tracing")
    try:
        spans = passes((0, [], {}), (12, [succeeded("analyze", start=1, end=11)], {}))
        t0 = time.perf_counter()
        for _ in range(3):
            tr.emit(META, spans)
        assert time.perf_counter() - t0 < 0.1
        assert tr.provider is not None
        tr.provider.force_flush(5000)
        tr.emit(META, spans)
        tr.provider.force_flush(5000)
    finally:
        tr.shutdown()
    assert tracing.EXPORT_FAILURES._value.get() >= before + 2
    # pytest's caplog also listens on non-propagating loggers: the exporter's own lines, which
    # reach no handler of the operator, are left out here
    warnings = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and not r.name.startswith("opentelemetry.exporter")
    ]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert f"127.0.0.1:{port}" in warnings[0].getMessage()


# --- the pipeline controller's hooks (in-memory ports, tests/unit/fakes.py) ------------------


def test_the_pipeline_controller_traces_a_pipeline_from_creation_to_success(
    memory: tuple[Tracing, InMemorySpanExporter],
) -> None:
    """status.traceID, the agent Jobs' TRACEPARENT (naming their attempt's span), the spans
    exported as the passes end them, and exemplars on the duration histograms."""
    from pf_operator import metrics
    from pf_operator.render.job import job_name
    from tests.unit.test_controllers_pipeline import NS, started, world

    tr, exporter = memory
    w = world()
    w.controller.tracing = tr
    job = started(w)
    uid = w.body()["metadata"]["uid"]
    trace_hex = tracing.trace_id_hex(uid)
    assert w.status()["traceID"] == trace_hex
    parents = {}
    for stage, following in (("analyze", "generate"), ("generate", "test"), ("test", None)):
        env = w.client.objects[("Job", NS, job)]["spec"]["template"]["spec"]["containers"][0]
        values = {e["name"]: e.get("value") for e in env["env"]}
        m = TRACEPARENT.match(values["TRACEPARENT"] or "")
        assert m and m.group(1) == trace_hex, values
        parents[stage] = int(m.group(2), 16)
        w.job_ends(job)
        w.reconcile()
        if following:
            job = job_name("p", following, 1)
    assert w.condition("Succeeded") == ("True", "Succeeded")
    got = exported(tr, exporter)
    assert set(got) == {"queue", "stage analyze", "stage generate", "stage test", "pipeline"}
    root = got["pipeline"].context
    assert root is not None and f"{root.trace_id:032x}" == trace_hex
    for stage, parent in parents.items():
        span = got[f"stage {stage}"]
        assert span.context is not None and span.context.span_id == parent  # the agent's parent
        assert span.parent is not None and span.parent.span_id == root.span_id
    text = generate_openmetrics(metrics.REGISTRY)
    assert f'# {{trace_id="{trace_hex}"}}' in text  # an exemplar: a bucket links to the trace


def generate_openmetrics(registry: Any) -> str:
    from prometheus_client.openmetrics.exposition import generate_latest

    return generate_latest(registry).decode()


def test_tenant_egress_gains_one_rule_for_the_collector() -> None:
    from pf_operator.main import tenant_config
    from pf_operator.render.tenant import egress_rules
    from pf_operator.settings import Settings

    plain = tenant_config(Settings())
    traced = tenant_config(Settings(), "http://10.1.2.3:4318/v1/traces")
    assert [(e.cidr, e.port) for e in traced.render.extra_egress] == [("10.1.2.3/32", 4318)]
    from pf_operator.model import TenantSpec

    spec = TenantSpec.model_validate({"plan": "pro"})
    before, after = egress_rules(spec, plain.render), egress_rules(spec, traced.render)
    added = [r for r in after if r not in before]
    assert len(added) == 1 and "10.1.2.3/32" in json.dumps(added) and "4318" in json.dumps(added)

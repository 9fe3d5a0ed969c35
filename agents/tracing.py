"""Agent spans (issue 18): one ``agent <stage>`` span per stage run, child of the operator's
stage-attempt span named by the ``TRACEPARENT`` environment variable (W3C Trace Context, set
in the Job by the operator), with children for the Figma API calls (httpx instrumentation),
the npm, tsc, vitest, eslint, prettier and next subprocesses, and each Claude call (GenAI
semantic conventions: https://opentelemetry.io/docs/specs/semconv/gen-ai/).

On when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set (and
``OTEL_SDK_DISABLED`` is not true); otherwise every helper here is OpenTelemetry's no-op. Spans
go through the SDK's BatchSpanProcessor and OTLP/HTTP exporter; at exit the agent waits at most
``FLUSH_SECONDS`` for them, so an unreachable collector never delays or fails a stage. Secrets
never become attributes: only names, counts, exit codes and model names do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

log = logging.getLogger(__name__)

SCOPE = "pf_agents"
SERVICE_NAME = "pf-figma-agent"
#: the longest the agent waits for its spans to leave at exit (seconds)
FLUSH_SECONDS = 1.0
T = TypeVar("T")
_tracer = trace.get_tracer(SCOPE)
_provider: Any = None  # the SDK's TracerProvider once setup() installed one


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if (env.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true":
        return False
    if (env.get("OTEL_TRACES_EXPORTER") or "otlp").strip().lower() == "none":
        return False
    return bool(
        (env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or "").strip()
        or (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip()
    )


def setup(exporter: Any = None) -> Callable[[], None]:
    """Install the tracer provider (when tracing is configured, or ``exporter`` is given: tests)
    and the httpx instrumentation, and make ``TRACEPARENT`` the current context. Returns the
    function to call at exit: it flushes the spans, waiting at most FLUSH_SECONDS."""
    if exporter is None and not enabled():
        return lambda: None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
        for name in ("opentelemetry.exporter.otlp", "opentelemetry.sdk.trace.export"):
            logging.getLogger(name).setLevel(logging.CRITICAL)  # the stage's log is its own
    attributes: dict[str, Any] = {}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = SERVICE_NAME
    if os.environ.get("HOSTNAME"):
        attributes["k8s.pod.name"] = os.environ["HOSTNAME"]  # a pod's hostname is its name
    provider = TracerProvider(resource=Resource.create(attributes), shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    global _tracer, _provider
    _tracer, _provider = provider.get_tracer(SCOPE), provider
    try:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    except Exception as err:  # instrumentation is a nicety: never a failed stage
        log.warning("httpx instrumentation unavailable: %s", err)
    parent = os.environ.get("TRACEPARENT")
    token = None
    if parent:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        ctx = TraceContextTextMapPropagator().extract({"traceparent": parent})
        token = otel_context.attach(ctx)

    def flush() -> None:
        if token is not None:  # the operator's span stays the parent until the stage ends
            otel_context.detach(token)
        done = threading.Thread(target=provider.shutdown, name="otel-flush", daemon=True)
        done.start()
        done.join(FLUSH_SECONDS)
        if done.is_alive():
            log.info("spans not delivered within %.1fs; the stage result stands", FLUSH_SECONDS)
        with contextlib.suppress(Exception):  # a next setup() (tests) instruments again
            from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

            HTTPXClientInstrumentor().uninstrument()

    return flush


def force_flush(timeout_millis: int = 5000) -> bool:
    """Export the ended spans now (True when done within the timeout, or nothing to do)."""
    return bool(_provider.force_flush(timeout_millis)) if _provider is not None else True


@contextlib.contextmanager
def span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    record_exception: bool = True,
) -> Iterator[trace.Span]:
    """A span around the block (a no-op span when tracing is off); an exception marks it
    failed (``error.type``) and propagates. ``record_exception``: also an ``exception`` event
    with the message and stack trace (off where a message can carry a command line)."""
    with _tracer.start_as_current_span(
        name, kind=kind, attributes=dict(attributes or {}), record_exception=record_exception
    ) as current:
        try:
            yield current
        except BaseException as err:
            current.set_attribute("error.type", type(err).__name__)
            raise


def stage_attributes(stage: str, config: Any = None) -> dict[str, Any]:
    """``agent <stage>`` span attributes from the pipeline configuration (config.PipelineConfig
    or None)."""
    attrs: dict[str, Any] = {"pf_figma.stage": stage}
    if config is not None:
        for key, value in (
            ("pf_figma.tenant", getattr(config, "tenant", None)),
            ("pf_figma.pipeline", getattr(config, "pipeline", None)),
            ("pf_figma.pipeline.uid", getattr(config, "uid", None)),
            ("pf_figma.attempt", getattr(config, "attempt", None)),
            ("k8s.namespace.name", getattr(config, "namespace", None)),
        ):
            if value not in (None, ""):
                attrs[key] = value
    return attrs


def stage_result(current: trace.Span, outcome: str, reason: str | None) -> None:
    current.set_attribute("pf_figma.outcome", outcome)
    if outcome != "Succeeded":
        current.set_attribute("error.type", reason or "Failed")
        current.set_status(Status(StatusCode.ERROR, reason or "Failed"))


def subprocess_step(name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` (one of qa's checks: a subprocess such as tsc or vitest; the visual stage's
    Node templates, one of which drives Chromium) inside a span ``<name>`` (the command's name,
    never its arguments) with ``process.executable.name``; a report dict's ``ok`` and
    ``seconds`` become ``pf_figma.ok`` / ``pf_figma.seconds``, a CompletedProcess's return code
    ``process.exit.code`` (not 0: a failed span). Returns what ``fn`` returns; its exceptions
    propagate (``error.type`` on the span)."""
    attrs = {"process.executable.name": name.split()[0]}
    # no exception event: TimeoutExpired's and CalledProcessError's messages hold the arguments
    with span(name, attrs, record_exception=False) as current:
        result = fn(*args, **kwargs)
        if isinstance(result, subprocess.CompletedProcess):
            current.set_attribute("process.exit.code", result.returncode)
            if result.returncode != 0:
                current.set_status(Status(StatusCode.ERROR, f"{name} exited {result.returncode}"))
        if isinstance(result, dict):
            if isinstance(result.get("ok"), bool):
                current.set_attribute("pf_figma.ok", result["ok"])
                if not result["ok"]:
                    current.set_status(Status(StatusCode.ERROR, f"{name} failed"))
            if isinstance(result.get("seconds"), int | float):
                current.set_attribute("pf_figma.seconds", float(result["seconds"]))
        return result


class GenAICall:
    """What a Claude call reports back into its span (see :func:`genai_call`)."""

    def __init__(self, current: trace.Span) -> None:
        self.span = current

    def done(self, response: Any, cost_usd: float) -> None:
        """From an anthropic Message: response model and id, finish reason, token usage
        (input includes the cache writes and reads, which are also given apart), cost."""
        s = self.span
        if getattr(response, "model", None):
            s.set_attribute("gen_ai.response.model", str(response.model))
        if getattr(response, "id", None):
            s.set_attribute("gen_ai.response.id", str(response.id))
        if getattr(response, "stop_reason", None):
            s.set_attribute("gen_ai.response.finish_reasons", [str(response.stop_reason)])
        usage = getattr(response, "usage", None)
        cw = int(getattr(usage, "cache_creation_input_tokens", 0) or 0)
        cr = int(getattr(usage, "cache_read_input_tokens", 0) or 0)
        s.set_attribute(
            "gen_ai.usage.input_tokens", int(getattr(usage, "input_tokens", 0) or 0) + cw + cr
        )
        s.set_attribute("gen_ai.usage.output_tokens", int(getattr(usage, "output_tokens", 0) or 0))
        s.set_attribute("gen_ai.usage.cache_creation.input_tokens", cw)
        s.set_attribute("gen_ai.usage.cache_read.input_tokens", cr)
        s.set_attribute("pf_figma.llm.cost_usd", round(float(cost_usd), 6))


@contextlib.contextmanager
def genai_call(model: str, max_tokens: int) -> Iterator[GenAICall]:
    """A CLIENT span ``chat <model>`` around one Anthropic Messages call."""
    with span(
        f"chat {model}",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": model,
            "gen_ai.request.max_tokens": max_tokens,
        },
        kind=SpanKind.CLIENT,
    ) as current:
        yield GenAICall(current)


__all__ = [
    "FLUSH_SECONDS",
    "GenAICall",
    "enabled",
    "force_flush",
    "genai_call",
    "setup",
    "span",
    "stage_attributes",
    "stage_result",
    "subprocess_step",
]

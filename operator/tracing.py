"""OpenTelemetry traces of DesignPipelines and Tenant reconciles (issue 18).

One trace per DesignPipeline: a root span ``pipeline`` from its creation to its completion,
with children ``queue`` (creation -> admission), ``stage <name>`` (one per attempt: Job created
-> Job finished; the agent's own spans hang below it, see ``traceparent``) and
``retry backoff <name>`` (a failed attempt's end -> the next attempt). Tenant reconciles are
spans of their own traces.

Every id of a pipeline's trace is derived from the pipeline's UID (plus stage and attempt), and
each span is exported once, when it ends, with explicit start and end times taken from the
pipeline's status and its Jobs: whichever replica sees a span end (after a failover, too) can
export it, and nothing is held in memory between reconciles. The planning (``pipeline_spans``)
is pure; ``Tracing`` hands the planned spans to the OpenTelemetry SDK (BatchSpanProcessor ->
OTLP/HTTP exporter), whose worker thread does the network I/O: a reconcile never waits for the
collector. An unreachable collector costs one log line (and one when it is back) and the
counter ``pf_figma_trace_export_failures_total``.

Configuration is OpenTelemetry's own environment (https://opentelemetry.io/docs/specs/otel/
configuration/sdk-environment-variables/): tracing is on when ``OTEL_EXPORTER_OTLP_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set (and ``OTEL_SDK_DISABLED`` is not true, and
``OTEL_TRACES_EXPORTER`` is not ``none``); ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_TRACES_SAMPLER`` (+ ``_ARG``), ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SERVICE_NAME`` and
``OTEL_BSP_*`` are read by the SDK. Only the ``http/protobuf`` protocol is shipped.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import ipaddress
import logging
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from prometheus_client import Counter

from . import metrics
from .model import DesignPipelineStatus
from .times import parse_time

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from .flow import JobFacts, Plan
    from .render.common import EgressEndpoint

log = logging.getLogger(__name__)

EXPORT_FAILURES = Counter(
    "pf_figma_trace_export_failures_total",
    "Span batches the OTLP exporter could not deliver (collector unreachable or refusing).",
    registry=metrics.REGISTRY,
)

SCOPE = "pf_figma_operator"
SERVICE_NAME = "pf-figma-operator"
AGENT_SERVICE_NAME = "pf-figma-agent"
PROTOCOL = "http/protobuf"
#: OTEL_* variables an agent pod inherits from the operator (never the headers: they may hold
#: a collector's credentials, and a tenant can read its Jobs)
AGENT_ENV = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
)

AttributeValue = str | bool | int | float


# --- pure: ids ------------------------------------------------------------------------------


def _digest(text: str, size: int) -> int:
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:size], "big")
    return value or 1  # all-zero ids are invalid (W3C Trace Context)


def trace_id(uid: str) -> int:
    """The 128-bit trace id of the pipeline with this UID (sha256 of it: stable, uniform)."""
    return _digest(f"pf-figma/trace/{uid}", 16)


def span_id(uid: str, *parts: str | int) -> int:
    """A 64-bit span id derived from the pipeline UID and the span's place in the trace."""
    return _digest("pf-figma/span/" + "/".join([uid, *map(str, parts)]), 8)


def root_span_id(uid: str) -> int:
    return span_id(uid, "pipeline")


def queue_span_id(uid: str) -> int:
    return span_id(uid, "queue")


def attempt_span_id(uid: str, stage: str, attempt: int) -> int:
    return span_id(uid, "stage", stage, attempt)


def backoff_span_id(uid: str, stage: str, attempt: int) -> int:
    """The wait before ``attempt`` (>= 2) of ``stage``."""
    return span_id(uid, "backoff", stage, attempt)


def trace_id_hex(uid: str) -> str:
    return f"{trace_id(uid):032x}"


def traceparent(uid: str, stage: str, attempt: int, *, sampled: bool = True) -> str:
    """W3C ``traceparent`` (https://www.w3.org/TR/trace-context/) whose parent is the stage
    attempt's span: the agent's spans become its children."""
    flags = "01" if sampled else "00"
    return f"00-{trace_id(uid):032x}-{attempt_span_id(uid, stage, attempt):016x}-{flags}"


# --- pure: the spans a reconcile pass ends --------------------------------------------------


@dataclass(frozen=True)
class PlannedSpan:
    """One span of a pipeline's trace, known whole when it ends."""

    name: str
    span_id: int
    parent_id: int | None  # None: the trace's root
    start: datetime
    end: datetime
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    error: str | None = None  # the span's status is ERROR with this description


def _entries(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(e.get("name")): e for e in status.get("stages") or () if isinstance(e, Mapping)}


def pipeline_spans(
    *,
    meta: Mapping[str, Any],
    tenant: str,
    old_status: Mapping[str, Any],
    new_status: Mapping[str, Any],
    started: bool,
    stage_finished: Sequence[tuple[str, str, float, JobFacts]],
    finished: str | None,
    jobs: Mapping[str, JobFacts],
    now: datetime,
) -> list[PlannedSpan]:
    """The spans that end in one reconcile pass of a DesignPipeline (pure).

    ``meta``: the pipeline's metadata (name, namespace, uid, creationTimestamp); ``old_status``
    / ``new_status``: its status before and after the pass (``flow.plan``); ``started``,
    ``stage_finished`` and ``finished``: the Plan's fields of the same names; ``jobs``: the
    observed stage-attempt Jobs by name. Times are UTC datetimes; attributes follow the
    OpenTelemetry semantic conventions (``k8s.*``, ``error.type``) plus ``pf_figma.*``.
    """
    uid = str(meta["uid"])
    ns, name = str(meta["namespace"]), str(meta["name"])
    created = parse_time(meta.get("creationTimestamp")) or now
    root = root_span_id(uid)
    common: dict[str, AttributeValue] = {
        "k8s.namespace.name": ns,
        "pf_figma.tenant": tenant,
        "pf_figma.pipeline": name,
        "pf_figma.pipeline.uid": uid,
    }
    out: list[PlannedSpan] = []
    if started:
        out.append(
            PlannedSpan(
                "queue",
                queue_span_id(uid),
                root,
                created,
                max(parse_time(new_status.get("startTime")) or now, created),
                common,
            )
        )
    old_entries, new_entries = _entries(old_status), _entries(new_status)
    ended: set[tuple[str, int]] = set()
    for stage, outcome, seconds, job in stage_finished:
        attempt = int(old_entries.get(stage, {}).get("attempts") or 0) or 1
        end = job.end or now
        start = job.start or datetime.fromtimestamp(end.timestamp() - seconds, end.tzinfo)
        error = None
        if outcome != "Succeeded":
            error = str((job.result or {}).get("reason") or job.reason or "Failed")
        out.append(
            _attempt(common, uid, stage, attempt, job.name, start, end, outcome, error, root)
        )
        ended.add((stage, attempt))
    for stage, new in new_entries.items():
        old = old_entries.get(stage, {})
        attempts = int(new.get("attempts") or 0)
        before = int(old.get("attempts") or 0)
        if attempts >= 2 and attempts > before:  # a retry started: its backoff ended now
            failed_at = parse_time(old.get("completionTime")) or now
            out.append(
                PlannedSpan(
                    f"retry backoff {stage}",
                    backoff_span_id(uid, stage, attempts),
                    root,
                    min(failed_at, now),
                    now,
                    {**common, "pf_figma.stage": stage, "pf_figma.attempt": attempts},
                )
            )
    if finished:
        for stage, old in old_entries.items():
            attempt = int(old.get("attempts") or 0)
            if old.get("state") != "Running" or not attempt or (stage, attempt) in ended:
                continue
            jname = str(old.get("job") or "")  # stopped by the pipeline's end (cancel, timeout)
            fact = jobs.get(jname)
            start = (fact.start if fact else None) or parse_time(old.get("startTime")) or now
            out.append(
                _attempt(common, uid, stage, attempt, jname, start, now, finished, finished, root)
            )
        attributes: dict[str, AttributeValue] = {**common, "pf_figma.outcome": finished}
        cost = new_status.get("cost") or {}
        if cost.get("usd"):
            attributes["pf_figma.llm.cost_usd"] = float(cost["usd"])
        out.append(
            PlannedSpan(
                "pipeline",
                root,
                None,
                created,
                max(parse_time(new_status.get("completionTime")) or now, created),
                attributes,
                None if finished == "Succeeded" else finished,
            )
        )
    return out


def _attempt(
    common: Mapping[str, AttributeValue],
    uid: str,
    stage: str,
    attempt: int,
    job: str,
    start: datetime,
    end: datetime,
    outcome: str,
    error: str | None,
    root: int,
) -> PlannedSpan:
    attributes: dict[str, AttributeValue] = {
        **common,
        "k8s.job.name": job,
        "pf_figma.stage": stage,
        "pf_figma.attempt": attempt,
        "pf_figma.outcome": outcome,
    }
    if error:
        attributes["error.type"] = error
    return PlannedSpan(
        f"stage {stage}",
        attempt_span_id(uid, stage, attempt),
        root,
        min(start, end),
        end,
        attributes,
        error,
    )


def exemplar(status: Mapping[str, Any] | DesignPipelineStatus) -> dict[str, str] | None:
    """A Prometheus exemplar (OpenMetrics) linking a histogram sample to the pipeline's trace
    (``status.traceID``, of the status's JSON or the typed status); None without one."""
    tid = status.trace_id if isinstance(status, DesignPipelineStatus) else status.get("traceID")
    return {"trace_id": str(tid)} if tid else None


# --- configuration -------------------------------------------------------------------------


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def traces_endpoint(environ: Mapping[str, str]) -> str | None:
    """The OTLP/HTTP traces URL the SDK will post to (None: tracing is off)."""
    if _true(environ.get("OTEL_SDK_DISABLED")):
        return None
    if (environ.get("OTEL_TRACES_EXPORTER") or "otlp").strip().lower() == "none":
        return None
    url = (environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or "").strip()
    if url:
        return url
    base = (environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip()
    if not base:
        return None
    return base.rstrip("/") + "/v1/traces"


def check_config(environ: Mapping[str, str]) -> str | None:
    """Why the OTEL_* configuration cannot work (None: it can, or tracing is off)."""
    url = traces_endpoint(environ)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"OTLP traces endpoint {url!r}: expected an http:// or https:// URL with a host"
    for var in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = (environ.get(var) or "").strip()
        if value and value != PROTOCOL:
            return f"{var}={value}: pf-figma exports {PROTOCOL} only (OTLP/HTTP, port 4318)"
        if value:
            break
    return None


def _resolve(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    addrs: list[str] = []
    for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM):
        addr = str(info[4][0]).split("%", 1)[0]
        if addr not in addrs:
            addrs.append(addr)
    return addrs


def otlp_egress(url: str, *, resolve: Any = _resolve) -> list[EgressEndpoint]:
    """Egress endpoints (one NetworkPolicy rule each) that let agent pods reach the collector
    at ``url``. Resolves the host name (blocking: call it once at start-up); raises OSError
    when it does not resolve."""
    from .render.common import EgressEndpoint

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    out: list[EgressEndpoint] = []
    for addr in resolve(parts.hostname or ""):
        ip = ipaddress.ip_address(addr)
        endpoint = EgressEndpoint(cidr=f"{ip}/{ip.max_prefixlen}", port=port)
        if endpoint not in out:
            out.append(endpoint)
    return out


# --- the SDK side ------------------------------------------------------------------------------

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)

#: ids the next span started in this context takes (see _PlannedIds)
_NEXT_IDS: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "pf_figma_next_span_ids", default=None
)


def _planned_ids() -> Any:
    from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

    class _PlannedIds(IdGenerator):
        """The SDK's id generator, except for spans whose ids were planned (derived from a
        pipeline's UID): those take them."""

        def __init__(self) -> None:
            self._random = RandomIdGenerator()

        def generate_span_id(self) -> int:
            planned = _NEXT_IDS.get()
            return planned[1] if planned else self._random.generate_span_id()

        def generate_trace_id(self) -> int:
            planned = _NEXT_IDS.get()
            return planned[0] if planned else self._random.generate_trace_id()

    return _PlannedIds()


class _CapturedCause(logging.Handler):
    """Keeps the OTLP exporter's first complaint about a batch (it logs the cause, such as
    "Connection refused", and returns FAILURE)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.first = ""

    def emit(self, record: logging.LogRecord) -> None:
        if not self.first:
            self.first = record.getMessage()[:400]


def _watched(inner: SpanExporter, endpoint: str) -> SpanExporter:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    cause = _CapturedCause()
    for name in ("opentelemetry.exporter.otlp.proto.http", "opentelemetry.exporter.otlp"):
        exporter_log = logging.getLogger(name)
        exporter_log.addHandler(cause)
        exporter_log.propagate = False  # its retries would log a line each: one of ours instead

    class Watched(SpanExporter):
        """One log line when exports start failing and one when they work again; a counter
        of failed batches in between."""

        failing = False

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            cause.first = ""
            try:
                result = inner.export(spans)
            except Exception as err:  # an exporter bug must not kill the worker thread
                cause.first = f"{type(err).__name__}: {err}"
                result = SpanExportResult.FAILURE
            if result is SpanExportResult.FAILURE:
                EXPORT_FAILURES.inc()
                if not self.failing:
                    self.failing = True
                    log.warning(
                        "cannot export spans to %s (%s); reconciles go on, failed batches are "
                        "counted in pf_figma_trace_export_failures_total",
                        endpoint,
                        cause.first or "export failed",
                    )
            elif self.failing:
                self.failing = False
                log.info("exporting spans to %s again", endpoint)
            return result

        def shutdown(self) -> None:
            inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return inner.force_flush(timeout_millis)

    return Watched()


class Tracing:
    """The operator's tracer. ``Tracing.off()`` (or no OTLP endpoint) makes every method a
    cheap no-op: nothing is exported and ``status.traceID`` is not written."""

    def __init__(
        self,
        provider: TracerProvider | None = None,
        endpoint: str | None = None,
        agent_env: Mapping[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self.endpoint = endpoint
        self._agent_env = dict(agent_env or {})
        self._tracer = provider.get_tracer(SCOPE) if provider is not None else None

    @classmethod
    def off(cls) -> Tracing:
        return cls()

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, exporter: SpanExporter | None = None
    ) -> Tracing:
        """From the OTEL_* environment; raises SystemExit with a clear message when it cannot
        work. ``exporter`` replaces the OTLP exporter (tests)."""
        env = dict(os.environ if environ is None else environ)
        endpoint = traces_endpoint(env)
        if endpoint is None:
            return cls.off()
        problem = check_config(env)
        if problem:
            raise SystemExit(f"invalid tracing configuration (OTEL_* environment): {problem}")
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        defaults = {"service.name": SERVICE_NAME} if not env.get("OTEL_SERVICE_NAME") else {}
        resource = Resource.create(defaults)  # + OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
        provider = TracerProvider(
            resource=resource, id_generator=_planned_ids(), shutdown_on_exit=False
        )
        provider.add_span_processor(BatchSpanProcessor(_watched(exporter, endpoint)))
        agent_env = {k: env[k] for k in AGENT_ENV if env.get(k)}
        agent_env["OTEL_SERVICE_NAME"] = AGENT_SERVICE_NAME
        log.info("tracing on: spans go to %s", endpoint)
        return cls(provider, endpoint, agent_env)

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def sampled(self, uid: str) -> bool:
        """Whether the pipeline's trace is sampled (the configured sampler, decided on its
        trace id: every replica decides alike)."""
        if self.provider is None:
            return False
        from opentelemetry.context import Context
        from opentelemetry.sdk.trace.sampling import Decision

        # an empty context: the decision of a root, whatever span is current
        decision = self.provider.sampler.should_sample(Context(), trace_id(uid), "pipeline")
        return decision.decision in (Decision.RECORD_AND_SAMPLE,)

    def annotate(self, meta: Mapping[str, Any], status: dict[str, Any]) -> None:
        """Write ``traceID`` into a pipeline's (new) status when its trace is recorded."""
        uid = meta.get("uid")
        if uid and "traceID" not in status and self.sampled(str(uid)):
            status["traceID"] = trace_id_hex(str(uid))

    def ended(
        self,
        meta: Mapping[str, Any],
        tenant: str,
        old_status: Mapping[str, Any],
        plan: Plan,
        jobs: Mapping[str, JobFacts],
        now: datetime,
    ) -> list[PlannedSpan]:
        """The spans a reconcile pass (``plan``, from ``old_status``) ends; writes
        ``status.traceID`` into the plan's status. Empty when tracing is off or the trace is
        not sampled. Hand the result to :meth:`emit` once the status is written."""
        uid = meta.get("uid")
        if self._tracer is None or not uid or not self.sampled(str(uid)):
            return []
        if plan.status.trace_id is None:
            plan.status = plan.status.model_copy(update={"trace_id": trace_id_hex(str(uid))})
        return pipeline_spans(
            meta=meta,
            tenant=tenant,
            old_status=old_status,
            new_status=plan.status.to_json(),
            started=plan.started,
            stage_finished=plan.stage_finished,
            finished=plan.finished,
            jobs=jobs,
            now=now,
        )

    def job_env(self, meta: Mapping[str, Any], stage: str, attempt: int) -> list[dict[str, str]]:
        """Container env of a stage attempt's agent: TRACEPARENT and where to export."""
        uid = meta.get("uid")
        if not uid or not self.sampled(str(uid)):
            return []
        env = [{"name": "TRACEPARENT", "value": traceparent(str(uid), stage, attempt)}]
        env += [{"name": k, "value": v} for k, v in sorted(self._agent_env.items())]
        return env

    def emit(self, meta: Mapping[str, Any], spans: Sequence[PlannedSpan]) -> None:
        """Hand ended spans to the batch processor (no I/O here)."""
        if self._tracer is None or not spans:
            return
        uid = str(meta["uid"])
        if not self.sampled(uid):
            return
        tid = trace_id(uid)
        for planned in spans:
            parent: Any = None
            if planned.parent_id is not None:
                ctx = SpanContext(tid, planned.parent_id, is_remote=False, trace_flags=_SAMPLED)
                parent = trace.set_span_in_context(NonRecordingSpan(ctx))
            else:
                from opentelemetry.context import Context

                parent = Context()  # a root: never the caller's current span
            token = _NEXT_IDS.set((tid, planned.span_id))
            try:
                span = self._tracer.start_span(
                    planned.name,
                    context=parent,
                    kind=SpanKind.INTERNAL,
                    attributes=dict(planned.attributes),
                    start_time=_ns(planned.start),
                )
            finally:
                _NEXT_IDS.reset(token)
            if planned.error:
                span.set_status(Status(StatusCode.ERROR, planned.error))
            span.end(end_time=_ns(planned.end))

    @contextlib.contextmanager
    def pipeline_context(self, meta: Mapping[str, Any] | None) -> Iterator[None]:
        """Within: the pipeline's root span is the current span (logs carry its trace_id)."""
        uid = (meta or {}).get("uid")
        if self._tracer is None or not uid or not self.sampled(str(uid)):
            yield
            return
        ctx = SpanContext(
            trace_id(str(uid)),
            root_span_id(str(uid)),
            is_remote=False,
            trace_flags=_SAMPLED,
        )
        with trace.use_span(NonRecordingSpan(ctx), end_on_exit=False):
            yield

    @contextlib.contextmanager
    def tenant_reconcile(self, name: str, namespace: str) -> Iterator[None]:
        """A span around one Tenant reconcile (its own trace); errors mark it failed."""
        if self._tracer is None:
            yield
            return
        with self._tracer.start_as_current_span(
            "reconcile Tenant",
            context=None,
            kind=SpanKind.INTERNAL,
            attributes={"pf_figma.tenant": name, "k8s.namespace.name": namespace},
        ):
            yield

    def shutdown(self, timeout: float = 5.0) -> None:
        """Export what is queued and stop, waiting ``timeout`` seconds at most (an unreachable
        collector never holds up the operator's exit: the export thread is a daemon)."""
        if self.provider is None:
            return
        import threading

        done = threading.Thread(target=self.provider.shutdown, name="otel-shutdown", daemon=True)
        done.start()
        done.join(timeout)


def _ns(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000_000)


__all__ = [
    "PlannedSpan",
    "Tracing",
    "attempt_span_id",
    "exemplar",
    "pipeline_spans",
    "root_span_id",
    "trace_id",
    "traceparent",
]

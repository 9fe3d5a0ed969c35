"""Prometheus metrics of the operator (served on settings.metrics_port at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)

_STAGE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
_PIPELINE_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)

TENANTS = Gauge(
    "pf_figma_tenants",
    "Tenants by phase (Ready, NotReady, Suspended).",
    ["phase"],
    registry=REGISTRY,
)
PIPELINES = Gauge(
    "pf_figma_pipelines",
    "DesignPipelines by tenant and state.",
    ["tenant", "state"],
    registry=REGISTRY,
)
PIPELINE_DURATION = Histogram(
    "pf_figma_pipeline_duration_seconds",
    "Time from a pipeline's start to its completion, by outcome.",
    ["outcome"],
    buckets=_PIPELINE_BUCKETS,
    registry=REGISTRY,
)
STAGE_DURATION = Histogram(
    "pf_figma_stage_duration_seconds",
    "Duration of one stage attempt (its Job), by stage and outcome.",
    ["stage", "outcome"],
    buckets=_STAGE_BUCKETS,
    registry=REGISTRY,
)
PIPELINE_FIDELITY = Histogram(
    "pf_figma_pipeline_fidelity_ratio",
    "Fidelity the visual stage measured (share of visible design nodes within 4 px), by tenant.",
    ["tenant"],
    buckets=(0.1, 0.25, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0),
    registry=REGISTRY,
)
QUEUE_WAIT = Histogram(
    "pf_figma_queue_wait_seconds",
    "Time a pipeline waited in the queue before admission.",
    buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600),
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "pf_figma_queue_depth",
    "Pipelines waiting for admission, by tenant.",
    ["tenant"],
    registry=REGISTRY,
)
JOBS_CREATED = Counter(
    "pf_figma_jobs_created_total", "Agent Jobs created, by stage.", ["stage"], registry=REGISTRY
)
RECONCILE_ERRORS = Counter(
    "pf_figma_reconcile_errors_total",
    "Reconciles that failed and were retried, by kind.",
    ["kind"],
    registry=REGISTRY,
)
RECONCILE_DURATION = Histogram(
    "pf_figma_reconcile_duration_seconds",
    "Duration of one reconcile pass, by kind.",
    ["kind"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
API_WRITES = Counter(
    "pf_figma_api_write_requests_total",
    "Write requests (POST, PUT, PATCH, DELETE) sent to the Kubernetes API, by resource.",
    ["verb", "resource"],
    registry=REGISTRY,
)
LLM_TOKENS = Counter(
    "pf_figma_llm_tokens_total",
    "LLM tokens used by agents, by direction.",
    ["tenant", "direction"],
    registry=REGISTRY,
)
LLM_COST = Counter(
    "pf_figma_llm_cost_usd_total", "LLM cost in US dollars.", ["tenant"], registry=REGISTRY
)
WORKQUEUE_DEPTH = Gauge(
    "pf_figma_workqueue_depth", "Keys waiting in a reconcile queue.", ["queue"], registry=REGISTRY
)
LEADER = Gauge("pf_figma_leader", "1 when this replica holds the leader lease.", registry=REGISTRY)


def serve(port: int) -> None:
    """Serve /metrics from a background thread (never on the event loop)."""
    if port:
        start_http_server(port, addr="0.0.0.0", registry=REGISTRY)

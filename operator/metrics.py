"""Prometheus metrics of the operator (served on settings.metrics_port at /metrics).

The gauges of what is in the cache (tenants, pipelines, queue depths) are collected at scrape
time from collector.CacheFigureSource; the counters and histograms of what happened are here.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

_STAGE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
_PIPELINE_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)

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
LEADER = Gauge("pf_figma_leader", "1 when this replica holds the leader lease.", registry=REGISTRY)


TENANT_PHASES = ("Ready", "NotReady", "Suspended")


@dataclass
class CacheFigures:
    """What the cache holds at scrape time (computed by collector.CacheFigureSource)."""

    tenants: Tally[str] = field(default_factory=Tally)  # phase -> Tenants
    pipelines: Tally[tuple[str, str]] = field(default_factory=Tally)  # (tenant, state) -> n
    queues: dict[str, int] = field(default_factory=dict)  # work queue -> keys waiting


class CacheGauges(Collector):
    """The gauges of what is in the cache, computed when scraped from ``source`` (set by the
    manager; without it the families are exported without samples)."""

    def __init__(self) -> None:
        self.source: Callable[[], CacheFigures] | None = None

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return self._families(CacheFigures())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        source = self.source
        return self._families(source() if source is not None else CacheFigures())

    @staticmethod
    def _families(figures: CacheFigures) -> Iterator[GaugeMetricFamily]:
        phases = GaugeMetricFamily(
            "pf_figma_tenants", "Tenants by phase (Ready, NotReady, Suspended).", labels=["phase"]
        )
        for phase in TENANT_PHASES:
            phases.add_metric([phase], figures.tenants[phase])
        yield phases
        by_state = GaugeMetricFamily(
            "pf_figma_pipelines", "DesignPipelines by tenant and state.", labels=["tenant", "state"]
        )
        depth = GaugeMetricFamily(
            "pf_figma_queue_depth", "Pipelines waiting for admission, by tenant.", labels=["tenant"]
        )
        for (tenant, state), n in sorted(figures.pipelines.items()):
            by_state.add_metric([tenant, state], n)
            if state == "queued":
                depth.add_metric([tenant], n)
        yield by_state
        yield depth
        work = GaugeMetricFamily(
            "pf_figma_workqueue_depth", "Keys waiting in a reconcile queue.", labels=["queue"]
        )
        for name, n in sorted(figures.queues.items()):
            work.add_metric([name], n)
        yield work


CACHE = CacheGauges()
REGISTRY.register(CACHE)


def serve(port: int) -> None:
    """Serve /metrics from a background thread (never on the event loop)."""
    if port:
        start_http_server(port, addr="0.0.0.0", registry=REGISTRY)

"""The cache's figures for Prometheus, computed when scraped (metrics.CACHE's source).

``pf_figma_tenants``, ``pf_figma_pipelines``, ``pf_figma_queue_depth`` and
``pf_figma_workqueue_depth`` (defined in metrics.py) are read from the cache, the pipeline index
and the work queues at scrape time, instead of being kept up to date on the side. Scrapes are
served by prometheus_client's HTTP thread while the event loop owns the cache: the figures are
computed on the loop, never concurrently with a watch event.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import Counter
from collections.abc import Mapping, Sized
from typing import Any

from .index import PipelineIndex
from .metrics import CacheFigures
from .model import TENANT_KIND
from .ports import CacheReader


def tenant_phase(body: dict[str, Any]) -> str:
    """Pure: Suspended (spec.suspended), Ready (its Ready condition is True) or NotReady."""
    if (body.get("spec") or {}).get("suspended"):
        return "Suspended"
    for cond in (body.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return "Ready" if cond.get("status") == "True" else "NotReady"
    return "NotReady"


class CacheFigureSource:
    """Callable returning :class:`metrics.CacheFigures`; from any thread (``timeout``: seconds
    a scrape waits for the loop, then it raises TimeoutError and the scrape fails)."""

    def __init__(
        self,
        cache: CacheReader,
        index: PipelineIndex,
        queues: Mapping[str, Sized],
        loop: asyncio.AbstractEventLoop | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.cache = cache
        self.index = index
        self.queues = queues
        self.loop = loop
        self.timeout = timeout

    def figures(self) -> CacheFigures:
        """The figures now; call on the event loop."""
        return CacheFigures(
            tenants=Counter(tenant_phase(body) for body in self.cache.all(TENANT_KIND)),
            pipelines=Counter(self.index.states()),
            queues={name: len(queue) for name, queue in self.queues.items()},
        )

    def __call__(self) -> CacheFigures:
        loop = self.loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or not loop.is_running():
            return self.figures()
        done: concurrent.futures.Future[CacheFigures] = concurrent.futures.Future()

        def compute() -> None:
            try:
                done.set_result(self.figures())
            except Exception as err:  # the scrape reports it
                done.set_exception(err)

        loop.call_soon_threadsafe(compute)
        return done.result(timeout=self.timeout)

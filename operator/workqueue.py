"""A small work queue in the spirit of client-go's: the hot path of every reconciler.

Watch events only put keys here. A key is queued at most once, is never processed by two workers
at the same time (an event that arrives meanwhile re-queues it after the current pass), can be
re-queued after a delay, and backs off exponentially while its reconciler keeps failing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class RequeueAfter(Exception):
    """Raised by a reconciler that wants to look at its key again later (a reconciler may also
    return the number of seconds)."""

    seconds: float


class WorkQueue:
    def __init__(self, name: str, *, base_backoff: float = 0.2, max_backoff: float = 60.0) -> None:
        self.name = name
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending: set[str] = set()
        self._processing: set[str] = set()
        self._dirty: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._failures: dict[str, int] = {}
        self._base = base_backoff
        self._max = max_backoff

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, key: str) -> None:
        if key in self._pending:
            return
        if key in self._processing:
            self._dirty.add(key)
            return
        self._pending.add(key)
        self._queue.put_nowait(key)

    def add_after(self, key: str, seconds: float) -> None:
        if seconds <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + seconds
        timer = self._timers.get(key)
        if timer is not None and not timer.cancelled():
            if timer.when() <= when:
                return  # an earlier wake-up is already planned
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: str) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = float(min(self._base * (2 ** min(failures, 30)), self._max))
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def discard(self, key: str) -> None:
        """Drop timers and backoff state of a key whose object is gone."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._failures.pop(key, None)

    async def get(self) -> str:
        key = await self._queue.get()
        self._pending.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)


Reconcile = Callable[[str], Awaitable[float | RequeueAfter | None]]


async def run_workers(
    queue: WorkQueue,
    reconcile: Reconcile,
    *,
    workers: int,
    on_error: Callable[[str, BaseException], None] | None = None,
) -> None:
    """Run `workers` tasks that take keys from `queue` and reconcile them, until cancelled.

    A reconciler returns None when done, or a number of seconds after which the key should be
    looked at again (timeouts, backoffs, TTLs).
    """

    async def worker() -> None:
        while True:
            key = await queue.get()
            try:
                again = await reconcile(key)
            except RequeueAfter as requeue:
                queue.forget(key)
                queue.add_after(key, requeue.seconds)
            except Exception as err:  # one key's failure never stops the others
                delay = queue.add_rate_limited(key)
                log.warning(
                    "reconcile of %s %s failed, retrying in %.1fs: %s",
                    queue.name,
                    key,
                    delay,
                    err,
                    exc_info=not isinstance(err, (ConnectionError, TimeoutError)),
                )
                if on_error is not None:
                    on_error(key, err)
            else:
                queue.forget(key)
                if isinstance(again, RequeueAfter):
                    again = again.seconds
                if again is not None:
                    queue.add_after(key, again)
            finally:
                queue.done(key)

    await asyncio.gather(*(worker() for _ in range(workers)))

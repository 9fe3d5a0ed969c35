"""The operator's write path to PostgreSQL: a bounded in-memory queue drained by one task.

Reconcilers call :meth:`DbWriter.submit` (never blocks, never raises) and move on; :meth:`run`
writes records in order, in batches, each batch one transaction. When the database is down the
batch stays at the head of the queue and is retried with exponential backoff; records keep
queueing up to ``max_backlog``, past which the oldest waiting ones are dropped (and counted).
Records are idempotent (see ``history``), so a batch retried after a lost commit acknowledgement
writes nothing twice. A record the database rejects for its content (a data or integrity error)
is isolated from its batch, counted as ``failed`` and dropped, so it cannot wedge the queue.

Metrics (in ``pf_operator.metrics.REGISTRY``): ``pf_figma_db_write_queue_depth``,
``pf_figma_db_writes_total{outcome=ok|retried|failed|dropped}``, ``pf_figma_db_up``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg
from prometheus_client import Counter, Gauge
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ..metrics import REGISTRY
from ..times import format_time
from .history import AuditEvent, Record

log = logging.getLogger(__name__)

QUEUE_DEPTH = Gauge(
    "pf_figma_db_write_queue_depth",
    "History and audit records waiting to be written to PostgreSQL.",
    registry=REGISTRY,
)
WRITES = Counter(
    "pf_figma_db_writes_total",
    "Records handled by the database writer, by outcome (ok: written; retried: in a "
    "batch that failed and was kept; failed: rejected by the database; dropped: "
    "over the queue bound).",
    ["outcome"],
    registry=REGISTRY,
)
DB_UP = Gauge(
    "pf_figma_db_up",
    "1 when the operator's last database write or probe succeeded.",
    registry=REGISTRY,
)


def is_poison(err: BaseException) -> bool:
    """Whether retrying ``err`` cannot help: the database rejected a record's content (data or
    integrity error), or the client could not encode it (a bug: better one record lost than a
    wedged queue). Everything else (connection, timeouts, privileges, missing tables) is retried.
    """
    if isinstance(err, psycopg.errors.DataError | psycopg.errors.IntegrityError):
        return True
    if isinstance(err, psycopg.Error):
        return isinstance(err, psycopg.ProgrammingError) and err.sqlstate is None
    return not isinstance(err, PoolTimeout | OSError)


def describe(err: BaseException) -> str:
    """A short, secret-free description of a database error (class, SQLSTATE, first line)."""
    state = getattr(err, "sqlstate", None)
    first = (str(err).strip().splitlines() or [""])[0][:200]
    return f"{type(err).__name__}{f' [{state}]' if state else ''}: {first}"


class DbWriter:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        max_backlog: int = 10_000,
        batch_size: int = 100,
        retry_initial: float = 0.5,
        retry_max: float = 10.0,
        probe_interval: float = 15.0,
        connect_timeout: float = 5.0,
    ) -> None:
        if max_backlog < 1 or batch_size < 1:
            raise ValueError("max_backlog and batch_size must be positive")
        self.pool = pool
        self.max_backlog = max_backlog
        self.batch_size = batch_size
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.probe_interval = probe_interval
        self.connect_timeout = connect_timeout
        self._queue: deque[Record] = deque()
        self._inflight: list[Record] = []
        self._wake = asyncio.Event()
        self._healthy: bool | None = None
        self._down_since: float | None = None
        self._last_error: str | None = None
        self._dropped = 0
        self._failed = 0
        self._written = 0
        DB_UP.set(0)
        QUEUE_DEPTH.set(0)

    # --- state ----------------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Whether the last write or probe succeeded (False until one has)."""
        return bool(self._healthy)

    @property
    def backlog(self) -> int:
        """Records not written yet (queued plus the batch being written)."""
        return len(self._queue) + len(self._inflight)

    @property
    def dropped(self) -> int:
        """Records dropped because the backlog was full."""
        return self._dropped

    @property
    def failed(self) -> int:
        """Records the database rejected for their content."""
        return self._failed

    @property
    def written(self) -> int:
        return self._written

    def condition(self) -> tuple[str, str, str]:
        """(status, reason, message) of a ``DatabaseAvailable`` condition (e.g. on Tenants)."""
        if self._healthy is None:
            return (
                "Unknown",
                "Connecting",
                f"not connected to the database yet; {self.backlog} write(s) queued",
            )
        lost = (
            f"; {self._dropped} record(s) dropped over the bound of {self.max_backlog}"
            if self._dropped
            else ""
        )
        if self._healthy:
            return (
                "True",
                "DatabaseAvailable",
                f"history and audit writes are flowing ({self.backlog} queued){lost}",
            )
        since = ""
        if self._down_since is not None:
            ago = time.time() - (time.monotonic() - self._down_since)
            since = " since " + format_time(datetime.fromtimestamp(ago, UTC))
        return (
            "False",
            "DatabaseUnavailable",
            f"database unreachable{since} ({self._last_error or 'unknown error'}); "
            f"{self.backlog} write(s) queued, retried when it returns{lost}",
        )

    # --- producer side ----------------------------------------------------------------------------

    def submit(self, *records: Record) -> None:
        """Queue records for writing. Never blocks; drops the oldest queued ones when full."""
        for record in records:
            while self.backlog >= self.max_backlog and self._queue:
                self._queue.popleft()
                self._dropped += 1
                WRITES.labels("dropped").inc()
            if self.backlog >= self.max_backlog:  # all of the bound is in flight
                self._dropped += 1
                WRITES.labels("dropped").inc()
                continue
            self._queue.append(record)
        if self._dropped and records:
            log.debug(
                "database write backlog full (%d); %d dropped so far",
                self.max_backlog,
                self._dropped,
            )
        QUEUE_DEPTH.set(self.backlog)
        self._wake.set()

    def submit_many(self, records: Iterable[Record]) -> None:
        self.submit(*records)

    def audit(
        self,
        tenant: str,
        actor: str,
        action: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        **details: Any,
    ) -> None:
        """Queue an audit event (see ``history.AuditEvent``)."""
        self.submit(
            AuditEvent(
                tenant=tenant,
                actor=actor,
                action=action,
                resource_kind=kind,
                resource_name=name,
                namespace=namespace,
                details=details,
            )
        )

    async def flush(self, max_wait: float | None = None) -> bool:
        """Wait until everything queued is written (or dropped); False after ``max_wait`` s."""
        deadline = None if max_wait is None else time.monotonic() + max_wait
        while self.backlog:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    # --- consumer side ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Drain the queue forever (run it as a task; cancel it to stop)."""
        delay = self.retry_initial
        isolate = False  # the in-flight batch had a rejected record: write it one by one
        while True:
            if not self._inflight:
                isolate = False
                if not self._queue:
                    await self._idle()
                    continue
                n = min(self.batch_size, len(self._queue))
                self._inflight = [self._queue.popleft() for _ in range(n)]
            try:
                if isolate:
                    await self._write_singly()
                else:
                    await self._write(self._inflight)
                    self._done(len(self._inflight))
                    self._inflight = []
            except Exception as err:
                if is_poison(err) and not isolate:
                    isolate = True
                    continue
                self._down(err)
                WRITES.labels("retried").inc(len(self._inflight))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            delay = self.retry_initial
            QUEUE_DEPTH.set(self.backlog)

    async def _idle(self) -> None:
        self._wake.clear()
        interval = self.probe_interval if self._healthy else min(self.probe_interval, 2.0)
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=interval)
        except TimeoutError:
            await self._probe()

    async def _probe(self) -> None:
        try:
            async with self.pool.connection(timeout=self.connect_timeout) as conn:
                await conn.execute("SELECT 1")
        except (psycopg.Error, PoolTimeout, OSError) as err:
            self._down(err)
        else:
            self._up()

    async def _write(self, batch: list[Record]) -> None:
        async with self.pool.connection(timeout=self.connect_timeout) as conn, conn.transaction():
            for record in batch:
                await record.write(conn)

    async def _write_singly(self) -> None:
        """A batch had a record the database rejected: write one by one, drop the bad ones."""
        while self._inflight:
            record = self._inflight[0]
            try:
                await self._write([record])
            except Exception as err:
                if not is_poison(err):
                    raise  # run() retries what is left
                self._failed += 1
                WRITES.labels("failed").inc()
                log.error(
                    "database rejected a %s record of tenant %s, dropping it: %s",
                    type(record).__name__,
                    record.tenant,
                    describe(err),
                )
            else:
                self._done(1)
            self._inflight.pop(0)  # on other errors, run() retries what is left

    def _done(self, n: int) -> None:
        self._written += n
        WRITES.labels("ok").inc(n)
        self._up()

    def _up(self) -> None:
        if self._healthy is not True:
            if self._healthy is False:
                log.info("database is reachable again; writing %d queued record(s)", self.backlog)
            self._healthy = True
            self._down_since = None
            self._last_error = None
        DB_UP.set(1)

    def _down(self, err: BaseException) -> None:
        self._last_error = describe(err)
        if self._healthy is not False:
            log.warning(
                "database unavailable, queueing history and audit writes: %s", self._last_error
            )
            self._healthy = False
            self._down_since = time.monotonic()
        DB_UP.set(0)


async def stop(task: asyncio.Task[Any], writer: DbWriter, grace: float = 5.0) -> None:
    """Shutdown helper: give the writer ``grace`` seconds to flush, then cancel its task."""
    with contextlib.suppress(Exception):
        await writer.flush(grace)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

"""operator/workqueue.py: dedup, one worker per key, delayed and rate-limited re-queues."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from pf_operator.workqueue import RequeueAfter, WorkQueue, run_workers

pytestmark = pytest.mark.timeout(10)


async def next_key(queue: WorkQueue, within: float = 1.0) -> str:
    return await asyncio.wait_for(queue.get(), within)


async def nothing_queued(queue: WorkQueue, within: float = 0.05) -> bool:
    try:
        key = await asyncio.wait_for(queue.get(), within)
    except TimeoutError:
        return True
    queue.done(key)
    return False


@contextlib.asynccontextmanager
async def workers(
    queue: WorkQueue,
    reconcile: Callable[[str], Awaitable[float | None]],
    count: int = 2,
    on_error: Callable[[str, BaseException], None] | None = None,
) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(run_workers(queue, reconcile, workers=count, on_error=on_error))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], bool], within: float = 1.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


# --- WorkQueue -------------------------------------------------------------------------------


async def test_a_key_is_queued_once() -> None:
    q = WorkQueue("t")
    q.add("a")
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert await next_key(q) == "a"
    assert await next_key(q) == "b"
    assert len(q) == 0
    assert await nothing_queued(q)


async def test_fifo_order() -> None:
    q = WorkQueue("t")
    for key in "cab":
        q.add(key)
    assert [await next_key(q) for _ in range(3)] == ["c", "a", "b"]


async def test_key_added_while_processing_is_requeued_after_done() -> None:
    q = WorkQueue("t")
    q.add("a")
    key = await next_key(q)
    q.add("a")  # an event while a worker has it
    q.add("a")
    assert len(q) == 0  # not handed to a second worker
    assert await nothing_queued(q)
    q.done(key)
    assert len(q) == 1
    assert await next_key(q) == "a"
    q.done("a")
    assert await nothing_queued(q)  # exactly once more


async def test_done_without_new_events_queues_nothing() -> None:
    q = WorkQueue("t")
    q.add("a")
    q.done(await next_key(q))
    assert len(q) == 0
    assert await nothing_queued(q)


async def test_add_after_delays() -> None:
    q = WorkQueue("t")
    loop = asyncio.get_running_loop()
    start = loop.time()
    q.add_after("a", 0.05)
    assert len(q) == 0
    assert await next_key(q) == "a"
    assert loop.time() - start >= 0.045


@pytest.mark.parametrize("seconds", [0, -1])
async def test_add_after_without_delay_adds_now(seconds: float) -> None:
    q = WorkQueue("t")
    q.add_after("a", seconds)
    assert len(q) == 1


async def test_add_after_keeps_the_earliest_timer() -> None:
    q = WorkQueue("t")
    loop = asyncio.get_running_loop()
    start = loop.time()
    q.add_after("a", 0.05)
    q.add_after("a", 30)  # later: ignored
    assert await next_key(q, within=1) == "a"
    assert loop.time() - start < 1
    q.done("a")
    assert await nothing_queued(q, 0.1)


async def test_add_after_moves_a_timer_earlier() -> None:
    q = WorkQueue("t")
    loop = asyncio.get_running_loop()
    start = loop.time()
    q.add_after("a", 30)
    q.add_after("a", 0.05)  # earlier: replaces the 30 s timer
    assert await next_key(q, within=1) == "a"
    assert loop.time() - start < 1
    q.done("a")
    assert await nothing_queued(q, 0.1)  # the cancelled timer does not fire too
    q.discard("a")


async def test_timer_of_a_pending_key_does_not_duplicate_it() -> None:
    q = WorkQueue("t")
    q.add("a")
    q.add_after("a", 0.01)
    await asyncio.sleep(0.03)
    assert len(q) == 1


async def test_discard_cancels_timers() -> None:
    q = WorkQueue("t")
    q.add_after("a", 0.03)
    q.discard("a")
    assert await nothing_queued(q, 0.1)


async def test_rate_limited_backoff_doubles_and_caps() -> None:
    q = WorkQueue("t", base_backoff=0.1, max_backoff=0.5)
    delays = [q.add_rate_limited("a") for _ in range(6)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5, 0.5])
    # per key
    assert q.add_rate_limited("b") == pytest.approx(0.1)
    q.forget("a")
    assert q.add_rate_limited("a") == pytest.approx(0.1)
    q.discard("a")
    q.discard("b")


async def test_discard_resets_backoff() -> None:
    q = WorkQueue("t", base_backoff=0.1, max_backoff=10)
    q.add_rate_limited("a")
    q.add_rate_limited("a")
    q.discard("a")
    assert q.add_rate_limited("a") == pytest.approx(0.1)
    q.discard("a")


async def test_rate_limited_key_is_queued_after_the_delay() -> None:
    q = WorkQueue("t", base_backoff=0.03)
    loop = asyncio.get_running_loop()
    start = loop.time()
    q.add_rate_limited("a")
    assert len(q) == 0
    assert await next_key(q) == "a"
    assert loop.time() - start >= 0.025


async def test_backoff_stays_capped_after_many_failures() -> None:
    q = WorkQueue("t", base_backoff=0.2, max_backoff=60)
    try:
        for _ in range(1100):
            assert q.add_rate_limited("a") <= 60
    finally:
        q.discard("a")


# --- run_workers -----------------------------------------------------------------------------


async def test_workers_reconcile_every_key() -> None:
    q = WorkQueue("t")
    seen: list[str] = []

    async def reconcile(key: str) -> None:
        seen.append(key)

    async with workers(q, reconcile, count=3):
        for key in "abcde":
            q.add(key)
        await until(lambda: len(seen) == 5)
        await asyncio.sleep(0.02)
    assert sorted(seen) == list("abcde")


async def test_a_key_is_never_reconciled_concurrently() -> None:
    q = WorkQueue("t")
    active: set[str] = set()
    overlaps: list[str] = []
    calls: list[str] = []

    async def reconcile(key: str) -> None:
        if key in active:
            overlaps.append(key)
        active.add(key)
        calls.append(key)
        await asyncio.sleep(0.05)
        active.discard(key)

    async with workers(q, reconcile, count=4):
        q.add("a")
        await until(lambda: calls == ["a"])
        for _ in range(5):  # events while "a" is being reconciled
            q.add("a")
            await asyncio.sleep(0.005)
        q.add("b")
        await until(lambda: calls.count("a") == 2 and "b" in calls)
        await asyncio.sleep(0.1)
    assert overlaps == []
    assert calls.count("a") == 2  # the events during the pass collapse into one more pass
    assert calls.count("b") == 1


async def test_returned_seconds_requeue_the_key() -> None:
    q = WorkQueue("t")
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def reconcile(key: str) -> float | None:
        times.append(loop.time())
        return 0.05 if len(times) == 1 else None

    async with workers(q, reconcile):
        q.add("a")
        await until(lambda: len(times) == 2)
        await asyncio.sleep(0.1)
    assert len(times) == 2
    assert times[1] - times[0] >= 0.045


async def test_requeue_after_is_honoured() -> None:
    q = WorkQueue("t")
    loop = asyncio.get_running_loop()
    times: list[float] = []
    errors: list[tuple[str, BaseException]] = []

    async def reconcile(key: str) -> None:
        times.append(loop.time())
        if len(times) == 1:
            raise RequeueAfter(0.05)

    async with workers(q, reconcile, on_error=lambda k, e: errors.append((k, e))):
        q.add("a")
        await until(lambda: len(times) == 2)
        await asyncio.sleep(0.05)
    assert len(times) == 2
    assert times[1] - times[0] >= 0.045
    assert errors == []  # a requeue is no error


async def test_errors_are_retried_with_backoff_and_reported() -> None:
    q = WorkQueue("t", base_backoff=0.03, max_backoff=1)
    loop = asyncio.get_running_loop()
    times: list[float] = []
    errors: list[tuple[str, BaseException]] = []

    async def reconcile(key: str) -> None:
        times.append(loop.time())
        if len(times) <= 3:
            raise ValueError(f"failure {len(times)}")

    async with workers(q, reconcile, on_error=lambda k, e: errors.append((k, e))):
        q.add("a")
        await until(lambda: len(times) == 4)
        await asyncio.sleep(0.05)
    assert len(times) == 4
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] >= 0.025
    assert gaps[1] >= 0.055
    assert gaps[2] >= 0.115
    assert [(k, str(e)) for k, e in errors] == [("a", "failure 1"), ("a", "failure 2"),
                                                ("a", "failure 3")]
    assert all(isinstance(e, ValueError) for _, e in errors)


async def test_success_resets_the_backoff() -> None:
    q = WorkQueue("t", base_backoff=0.02, max_backoff=5)
    loop = asyncio.get_running_loop()
    times: list[float] = []
    script = ["fail", "fail", "fail", 0.01, "fail", None]

    async def reconcile(key: str) -> float | None:
        times.append(loop.time())
        step = script[len(times) - 1]
        if step == "fail":
            raise RuntimeError("x")
        assert not isinstance(step, str)
        return step

    async with workers(q, reconcile):
        q.add("a")
        await until(lambda: len(times) == len(script), within=2)
    # after the success, the next failure backs off from the base again (0.02, not 0.16)
    assert times[5] - times[4] < 0.1


async def test_requeue_after_resets_the_backoff() -> None:
    q = WorkQueue("t", base_backoff=0.02, max_backoff=5)
    loop = asyncio.get_running_loop()
    times: list[float] = []
    script: list[str | float] = ["fail", "fail", "fail", "requeue", "fail", "ok"]

    async def reconcile(key: str) -> None:
        times.append(loop.time())
        step = script[len(times) - 1]
        if step == "fail":
            raise RuntimeError("x")
        if step == "requeue":
            raise RequeueAfter(0.01)

    async with workers(q, reconcile):
        q.add("a")
        await until(lambda: len(times) == len(script), within=2)
    assert times[5] - times[4] < 0.1


async def test_a_failing_key_does_not_block_others() -> None:
    q = WorkQueue("t", base_backoff=0.01, max_backoff=0.02)
    done: list[str] = []
    failures = 0

    async def reconcile(key: str) -> None:
        nonlocal failures
        if key == "bad":
            failures += 1
            raise ConnectionError("api down")
        done.append(key)

    async with workers(q, reconcile, count=1):
        q.add("bad")
        for key in "xyz":
            q.add(key)
        await until(lambda: len(done) == 3 and failures >= 3)
        q.discard("bad")
    assert done == ["x", "y", "z"]


async def test_errors_without_on_error() -> None:
    q = WorkQueue("t", base_backoff=0.01)
    calls: list[str] = []

    async def reconcile(key: str) -> None:
        calls.append(key)
        if len(calls) == 1:
            raise KeyError("x")

    async with workers(q, reconcile, count=1) as task:
        q.add("a")
        await until(lambda: len(calls) == 2)
        assert not task.done()


async def test_returned_requeue_after_requeues() -> None:
    q = WorkQueue("t")
    calls: list[str] = []

    async def reconcile(key: str) -> RequeueAfter | None:
        calls.append(key)
        return RequeueAfter(0.01) if len(calls) == 1 else None

    task = asyncio.create_task(run_workers(q, reconcile, workers=1))  # type: ignore[arg-type]
    try:
        q.add("a")
        await until(lambda: len(calls) == 2 or task.done(), within=1)
        assert not task.done(), task.exception()
        assert len(calls) == 2
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task

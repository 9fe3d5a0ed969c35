#!/usr/bin/env python3
"""Benchmarks on the local control plane with KWOK nodes. Prints tables, writes bench/results/.

    make bench                                   # all of it (docs/scale.md has the figures)
    .venv/bin/python hack/bench.py tenants --count 100 1000
    .venv/bin/python hack/bench.py pipelines --tenants 100 --pipelines 500 5000 --latency 300
    .venv/bin/python hack/bench.py objects --count 1000 10000
    .venv/bin/python hack/bench.py pipelines --latency 0 --pipelines 500 \
        --tracing "$(hack/jaeger.sh env | sed -n 's/^PF_JAEGER_OTLP=//p')"   # off vs on

pipelines: a paced run below capacity (operator latency: apply -> first Job, stage hand-off),
then all-at-once runs (throughput, queue wait by plan, writes per pipeline). objects: operator
memory with N pipelines present, live and after a restart. The operator runs as a real process
(`pf-figma operator`); latencies are measured from this client: apply returned -> watch event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pf_operator.kube import ApiError, Kube  # noqa: E402
from tests.operator_process import OperatorProcess  # noqa: E402
from tests.prometheus_text import samples  # noqa: E402

RESULTS = ROOT / "bench" / "results"
GROUP = "/apis/pffigma.dev/v1alpha1"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


def table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n{title}\n" + "-" * (width + 24))
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def start_operator(env: dict[str, str] | None = None, **settings: str) -> OperatorProcess:
    op = OperatorProcess(RESULTS / "operator-bench.log", log_level="WARNING", env=env, **settings)
    op.log_path.unlink(missing_ok=True)
    op.start(timeout=120)
    return op


def operator_writes(op: OperatorProcess) -> dict[str, float]:
    """The operator's own write requests so far, by resource (from its /metrics)."""
    text = httpx.get(op.metrics_url, timeout=5).text
    out: dict[str, float] = {}
    for labels, value in samples(text, "pf_figma_api_write_requests_total"):
        out[labels.get("resource", "")] = out.get(labels.get("resource", ""), 0) + value
    return out


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, int]:
    return {k: int(v - before.get(k, 0)) for k, v in sorted(after.items()) if v > before.get(k, 0)}


async def apiserver_writes(kube: Kube) -> dict[str, float]:
    async with kube.session.get(kube.server + "/metrics", headers=kube._auth()) as resp:
        text = await resp.text()
    out: dict[str, float] = {}
    for labels, value in samples(text, "apiserver_request_total"):
        if labels.get("verb") in ("POST", "PUT", "PATCH", "DELETE", "APPLY"):
            key = labels.get("resource", "") + (
                "/" + labels["subresource"] if labels.get("subresource") else ""
            )
            out[key] = out.get(key, 0) + value
    return out


async def watch(
    kube: Kube, path: str, on_event: Any, stop: asyncio.Event, params: dict[str, str] | None = None
) -> None:
    """A raw watch stream, reconnected until `stop`; calls on_event(type, object, seen_at)."""
    import aiohttp

    query = {"watch": "true", "allowWatchBookmarks": "false", **(params or {})}
    while not stop.is_set():
        try:
            async with kube.session.get(
                kube.server + path,
                params=query,
                headers=kube._auth(),
                timeout=aiohttp.ClientTimeout(total=None, sock_read=120),
            ) as resp:
                async for line in resp.content:
                    if stop.is_set():
                        return
                    if line.strip():
                        event = json.loads(line)
                        if event.get("type") != "ERROR":
                            on_event(event["type"], event["object"], time.monotonic())
        except (aiohttp.ClientError, TimeoutError, ValueError):
            pass
        await asyncio.sleep(0.5)  # a new stream starts with the current state (ADDED events)


def ready(obj: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (obj.get("status") or {}).get("conditions") or []
    )


async def bench_tenants(kube: Kube, count: int, concurrency: int = 32) -> dict[str, Any]:
    run = uuid.uuid4().hex[:4]
    names = [f"bench-{run}-{i:04d}" for i in range(count)]
    applied: dict[str, float] = {}
    ready_at: dict[str, float] = {}
    stop = asyncio.Event()

    def on_event(_type: str, obj: dict[str, Any], seen: float) -> None:
        name = obj["metadata"]["name"]
        if name in applied and name not in ready_at and ready(obj):
            ready_at[name] = seen

    watcher = asyncio.create_task(watch(kube, f"{GROUP}/tenants", on_event, stop))
    await asyncio.sleep(0.5)
    writes_before = await apiserver_writes(kube)
    op = start_operator()
    op_writes0 = operator_writes(op)
    cpu0, _ = op.sample()
    sem = asyncio.Semaphore(concurrency)

    async def create(name: str) -> None:
        async with sem:
            body = {
                "apiVersion": "pffigma.dev/v1alpha1",
                "kind": "Tenant",
                "metadata": {"name": name},
                "spec": {"plan": "starter"},
            }
            await kube.request("POST", f"{GROUP}/tenants", body=body)
            applied[name] = time.monotonic()

    t0 = time.monotonic()
    await asyncio.gather(*(create(n) for n in names))
    deadline = time.monotonic() + max(120, count * 0.5)
    while len(ready_at) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        op.sample()
    total = time.monotonic() - t0
    cpu1, rss = op.sample()
    op_writes = delta(operator_writes(op), op_writes0)
    all_writes = delta(await apiserver_writes(kube), writes_before)
    stop.set()
    watcher.cancel()
    op.stop()
    lat = [ready_at[n] - applied[n] for n in names if n in ready_at]
    result = {
        "tenants": count,
        "ready": len(ready_at),
        "seconds_all_ready": round(total, 2),
        "p50_ms": round(pct(lat, 50) * 1000),
        "p95_ms": round(pct(lat, 95) * 1000),
        "p99_ms": round(pct(lat, 99) * 1000),
        "operator_writes_per_tenant": round(sum(op_writes.values()) / count, 2),
        "operator_writes_by_resource": op_writes,
        "apiserver_writes_per_tenant": round(sum(all_writes.values()) / count, 2),
        "apiserver_writes_by_resource": all_writes,
        "operator_cpu_seconds": round(cpu1 - cpu0, 1),
        "operator_peak_rss_mib": round(op.peak_rss_mib, 1),
        "operator_rss_mib_end": round(rss, 1),
    }
    table(
        f"Tenants: {count}",
        [
            ("all Ready", f"{result['ready']}/{count} in {result['seconds_all_ready']} s"),
            (
                "apply -> Ready p50/p95/p99",
                f"{result['p50_ms']} / {result['p95_ms']} / {result['p99_ms']} ms",
            ),
            ("API writes per Tenant (operator)", str(result["operator_writes_per_tenant"])),
            (
                "API writes per Tenant (apiserver_request_total, all clients)",
                str(result["apiserver_writes_per_tenant"]),
            ),
            ("operator CPU seconds", str(result["operator_cpu_seconds"])),
            ("operator peak RSS", f"{result['operator_peak_rss_mib']} MiB"),
        ],
    )
    await cleanup(kube, names)
    return result


async def cleanup(kube: Kube, tenants: list[str], limit: float = 900) -> None:
    """Delete the Tenants and wait until their namespaces are gone, so the garbage collection
    of one run does not load the next."""
    sem = asyncio.Semaphore(32)

    async def delete(name: str) -> None:
        async with sem:
            try:
                await kube.request("DELETE", f"{GROUP}/tenants/{name}")
            except Exception:
                pass

    await asyncio.gather(*(delete(n) for n in tenants))
    wanted = {f"tenant-{t}" for t in tenants}
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        left = [ns for ns in await kube.list("Namespace") if ns["metadata"]["name"] in wanted]
        if not left:
            print(f"  (cleanup: {len(tenants)} tenants gone in {time.monotonic() - t0:.0f} s)")
            return
        await asyncio.sleep(2)
    print(f"  (cleanup: namespaces still terminating after {limit:.0f} s)")


async def make_tenants(kube: Kube, names: list[str], plan_of: dict[str, str], **spec: Any) -> None:
    sem = asyncio.Semaphore(16)

    async def create(t: str) -> None:
        async with sem:
            await kube.request(
                "POST",
                f"{GROUP}/tenants",
                body={
                    "apiVersion": "pffigma.dev/v1alpha1",
                    "kind": "Tenant",
                    "metadata": {"name": t},
                    "spec": {
                        "plan": plan_of[t],
                        "quota": {"cpu": "100", "memory": "200Gi", "pods": 500, "jobs": 20000},
                        **spec,
                    },
                },
            )

    await asyncio.gather(*(create(t) for t in names))
    deadline = time.monotonic() + 300
    wanted = set(names)
    while time.monotonic() < deadline:
        if sum(
            1 for t in await kube.list("Tenant") if t["metadata"]["name"] in wanted and ready(t)
        ) == len(names):
            await asyncio.gather(*(post_source(kube, f"tenant-{t}") for t in names))
            return
        await asyncio.sleep(0.5)
    raise SystemExit("bench tenants did not become Ready")


PLANS = ("starter", "pro", "enterprise")


async def post_source(kube: Kube, ns: str) -> None:
    """The ConfigMap the bench pipelines name as their source (the operator checks that it
    exists before creating a Job; KWOK's pods do not read it)."""
    try:
        await kube.create(
            {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "d", "namespace": ns}, "data": {"f": "{}"}}
        )
    except ApiError as err:
        if not err.conflict:
            raise


async def post_pipeline(
    kube: Kube, ns: str, name: str, labels: dict[str, str] | None = None
) -> None:
    """A three-stage DesignPipeline (KWOK plays its agents; `labels` reach the agent pods)."""
    await kube.request(
        "POST",
        f"{GROUP}/namespaces/{ns}/designpipelines",
        body={
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "DesignPipeline",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            # three stages, as the figures in docs/scale.md were measured (the default list has
            # five since the visual stage)
            "spec": {
                "source": {"configMapRef": {"name": "d", "key": "f"}},
                "stages": ["analyze", "generate", "test"],
            },
        },
    )


async def bench_pipelines(
    kube: Kube,
    tenants: int,
    pipelines: int,
    global_max: int,
    rate: float | None = None,
    keep: bool = False,
    otlp: str | None = None,
) -> dict[str, Any]:
    """`pipelines` three-stage pipelines over `tenants` tenants (plans starter/pro/enterprise in
    turn). All at once (throughput, queueing, fair share), or paced at `rate` per second below
    capacity (latency of the operator itself: no queue wait). `otlp`: tracing on, spans to
    that OTLP/HTTP endpoint."""
    run = uuid.uuid4().hex[:4]
    tnames = [f"bp-{run}-{i:03d}" for i in range(tenants)]
    plan_of = {t: PLANS[i % 3] for i, t in enumerate(tnames)}
    op = start_operator(
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": otlp} if otlp else None,
        global_max_concurrent=str(global_max),
        pipeline_workers="32",
    )
    await make_tenants(kube, tnames, plan_of, pipelines={"maxConcurrent": 20, "maxQueued": 5000})
    applied: dict[str, float] = {}
    first_job: dict[str, float] = {}
    job_done: dict[str, float] = {}
    job_added: dict[str, float] = {}
    handoffs: list[float] = []
    finished: dict[str, float] = {}
    stop = asyncio.Event()
    previous_stage = {"generate": "analyze", "test": "generate"}

    def on_job(_type: str, job: dict[str, Any], seen: float) -> None:
        labels = job["metadata"].get("labels") or {}
        key = f"{job['metadata']['namespace']}/{labels.get('pffigma.dev/pipeline')}"
        name = job["metadata"]["name"]
        if key not in applied:
            return
        if name not in job_added:
            job_added[name] = seen
            stage = labels.get("pffigma.dev/stage") or ""
            if stage == "analyze":
                first_job.setdefault(key, seen)
            elif stage in previous_stage:
                prev_name = name.replace(f"-{stage}-1", f"-{previous_stage[stage]}-1")
                if prev_name in job_done:
                    handoffs.append(seen - job_done[prev_name])
        if name not in job_done and any(
            c["type"] == "Complete" and c["status"] == "True"
            for c in (job.get("status") or {}).get("conditions") or []
        ):
            job_done[name] = seen

    def on_pipeline(_type: str, obj: dict[str, Any], seen: float) -> None:
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        if (
            key in applied
            and key not in finished
            and (obj.get("status") or {}).get("completionTime")
        ):
            finished[key] = seen

    watchers = [
        asyncio.create_task(
            watch(
                kube,
                "/apis/batch/v1/jobs",
                on_job,
                stop,
                {"labelSelector": "app.kubernetes.io/managed-by=pf-figma"},
            )
        ),
        asyncio.create_task(watch(kube, f"{GROUP}/designpipelines", on_pipeline, stop)),
    ]
    await asyncio.sleep(1)
    op_writes0 = operator_writes(op)
    all_writes0 = await apiserver_writes(kube)
    cpu0, _ = op.sample()
    sem = asyncio.Semaphore(16)

    async def create(i: int) -> None:
        t = tnames[i % tenants]
        name = f"p{i:05d}"
        async with sem:
            await post_pipeline(kube, f"tenant-{t}", name)
            applied[f"tenant-{t}/{name}"] = time.monotonic()

    t0 = time.monotonic()
    if rate:
        tasks = []
        for i in range(pipelines):
            tasks.append(asyncio.create_task(create(i)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)
    else:
        await asyncio.gather(*(create(i) for i in range(pipelines)))
    deadline = time.monotonic() + max(300, pipelines * 2)
    while len(finished) < pipelines and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        op.sample()
    elapsed = (max(finished.values()) if finished else time.monotonic()) - t0
    await asyncio.sleep(3)  # let the last status and tenant-count writes land
    cpu1, rss = op.sample()
    op_writes = delta(operator_writes(op), op_writes0)
    all_writes = delta(await apiserver_writes(kube), all_writes0)
    stop.set()
    for w in watchers:
        w.cancel()
    first = [first_job[k] - applied[k] for k in applied if k in first_job]
    waits: dict[str, list[float]] = {p: [] for p in PLANS}
    for k, t in first_job.items():
        waits[plan_of[k.split("/")[0].removeprefix("tenant-")]].append(t - applied[k])
    mode = f"paced at {rate:g}/s" if rate else "all at once"
    if otlp:
        mode += ", tracing on"
    result = {
        "mode": mode,
        "tracing": bool(otlp),
        "tenants": tenants,
        "pipelines": pipelines,
        "finished": len(finished),
        "global_max_concurrent": global_max,
        "seconds": round(elapsed, 1),
        "pipelines_per_hour": round(len(finished) / elapsed * 3600),
        "first_job_p50_ms": round(pct(first, 50) * 1000),
        "first_job_p95_ms": round(pct(first, 95) * 1000),
        "handoff_p50_ms": round(pct(handoffs, 50) * 1000),
        "handoff_p95_ms": round(pct(handoffs, 95) * 1000),
        "queue_wait_s_by_plan": {
            p: {"p50": round(pct(v, 50), 1), "p95": round(pct(v, 95), 1)} for p, v in waits.items()
        },
        "operator_writes_per_pipeline": round(sum(op_writes.values()) / pipelines, 2),
        "operator_writes_by_resource": op_writes,
        "apiserver_writes_per_pipeline": round(sum(all_writes.values()) / pipelines, 2),
        "apiserver_writes_by_resource": all_writes,
        "operator_cpu_seconds": round(cpu1 - cpu0, 1),
        "operator_peak_rss_mib": round(op.peak_rss_mib, 1),
        "operator_rss_mib_end": round(rss, 1),
    }
    per_pipeline = ", ".join(f"{k} {v / pipelines:.2f}" for k, v in op_writes.items())
    rows = [
        ("finished", f"{len(finished)}/{pipelines} in {result['seconds']} s"),
        ("pipelines per hour", str(result["pipelines_per_hour"])),
        (
            "apply -> first Job p50/p95" + ("" if rate else " (incl. queue wait)"),
            f"{result['first_job_p50_ms']} / {result['first_job_p95_ms']} ms",
        ),
        ("stage hand-off p50/p95", f"{result['handoff_p50_ms']} / {result['handoff_p95_ms']} ms"),
    ]
    if not rate:
        rows.append(
            (
                "queue wait p50/p95 by plan",
                "  ".join(
                    f"{p} {w['p50']}/{w['p95']} s"
                    for p, w in result["queue_wait_s_by_plan"].items()
                ),
            )
        )
    rows += [
        (
            "API writes per pipeline (operator)",
            f"{result['operator_writes_per_pipeline']}  ({per_pipeline})",
        ),
        (
            "API writes per pipeline (apiserver_request_total, all clients)",
            str(result["apiserver_writes_per_pipeline"]),
        ),
        ("operator CPU seconds", str(result["operator_cpu_seconds"])),
        ("operator peak RSS", f"{result['operator_peak_rss_mib']} MiB"),
    ]
    table(f"Pipelines: {pipelines} over {tenants} tenants, {mode} (global max {global_max})", rows)
    op.stop()
    if not keep:
        await cleanup(kube, tnames)
    return result


def tracing_table(off: dict[str, Any], on: dict[str, Any]) -> None:
    """The operator's cost of tracing: the same run with tracing off and on, side by side."""
    rows = []
    for key, label in (
        ("operator_cpu_seconds", "operator CPU seconds"),
        ("operator_peak_rss_mib", "operator peak RSS (MiB)"),
        ("operator_rss_mib_end", "operator RSS at the end (MiB)"),
        ("seconds", "run seconds"),
        ("finished", "pipelines finished"),
    ):
        a, b = off[key], on[key]
        change = f"{(b - a) / a * 100:+.1f} %" if a else "n/a"
        rows.append((label, f"off {a}   on {b}   ({change}, {b - a:+.1f})"))
    table(f"Tracing off vs on: {off['pipelines']} pipelines, {off['mode']}", rows)


async def bench_objects(kube: Kube, count: int, tenants: int = 10) -> dict[str, Any]:
    """Operator memory with `count` DesignPipeline objects present: queued in suspended
    tenants, so they stay (and keep queue reasons current) without running. Measured while
    they arrive, then after a restart that primes the cache with all of them."""
    run = uuid.uuid4().hex[:4]
    tnames = [f"bo-{run}-{i:02d}" for i in range(tenants)]
    plan_of = {t: PLANS[i % 3] for i, t in enumerate(tnames)}
    op = start_operator()
    _, rss0 = op.sample()
    await make_tenants(
        kube, tnames, plan_of, suspended=True, pipelines={"maxConcurrent": 20, "maxQueued": count}
    )
    sem = asyncio.Semaphore(32)

    async def create(i: int) -> None:
        t = tnames[i % tenants]
        async with sem:
            await post_pipeline(kube, f"tenant-{t}", f"o{i:06d}")

    t0 = time.monotonic()
    for chunk in range(0, count, 1000):
        await asyncio.gather(*(create(i) for i in range(chunk, min(count, chunk + 1000))))
        op.sample()
    created_s = time.monotonic() - t0

    async def queued() -> int:
        n = 0
        for p in await kube.list("DesignPipeline"):
            if p["metadata"]["namespace"].removeprefix("tenant-") in plan_of and any(
                c["type"] == "Admitted" for c in (p.get("status") or {}).get("conditions") or []
            ):
                n += 1
        return n

    deadline = time.monotonic() + max(120, count / 20)
    while time.monotonic() < deadline and await queued() < count:
        op.sample()
        await asyncio.sleep(2)
    settled_s = time.monotonic() - t0
    cpu, rss_live = op.sample()
    peak_live = op.peak_rss_mib
    op.stop()
    # A restart: the cache is primed with every object at once.
    t1 = time.monotonic()
    op = start_operator()
    ready_s = time.monotonic() - t1
    await asyncio.sleep(5)
    _, rss_restart = op.sample()
    await asyncio.sleep(35)  # the operator hands freed heap back every 30 s
    _, rss_settled = op.sample()
    op.stop()
    result = {
        "objects": count,
        "created_seconds": round(created_s, 1),
        "all_queued_seconds": round(settled_s, 1),
        "operator_rss_mib_empty": round(rss0, 1),
        "operator_rss_mib": round(rss_live, 1),
        "operator_peak_rss_mib": round(peak_live, 1),
        "operator_cpu_seconds": round(cpu, 1),
        "restart_ready_seconds": round(ready_s, 1),
        "operator_rss_mib_after_restart": round(rss_restart, 1),
        "operator_rss_mib_after_restart_40s": round(rss_settled, 1),
    }
    table(
        f"Objects: {count} DesignPipelines present (queued in {tenants} suspended tenants)",
        [
            (
                "created / all showing Queued",
                f"{result['created_seconds']} s / {result['all_queued_seconds']} s",
            ),
            (
                "operator RSS empty -> with objects (peak)",
                f"{result['operator_rss_mib_empty']} -> {result['operator_rss_mib']} "
                f"({result['operator_peak_rss_mib']}) MiB",
            ),
            ("restart: ready (cache primed) in", f"{result['restart_ready_seconds']} s"),
            (
                "operator RSS 5 s / 40 s after restart",
                f"{result['operator_rss_mib_after_restart']} / "
                f"{result['operator_rss_mib_after_restart_40s']} MiB",
            ),
        ],
    )
    await cleanup(kube, tnames)
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what")
    t = sub.add_parser("tenants")
    t.add_argument("--count", type=int, nargs="+", default=[100, 1000])
    p = sub.add_parser("pipelines")
    p.add_argument("--tenants", type=int, default=100)
    p.add_argument("--pipelines", type=int, nargs="+", default=[500, 5000])
    p.add_argument("--global-max", type=int, default=200)
    p.add_argument("--latency", type=int, default=150, help="pipelines paced below capacity")
    p.add_argument("--rate", type=float, default=1.0, help="pace of the latency run, per second")
    p.add_argument("--keep", action="store_true", help="leave the tenants and pipelines in place")
    p.add_argument(
        "--tracing",
        metavar="OTLP_URL",
        help="run each all-at-once size twice, tracing off then on (spans to this OTLP/HTTP "
        "endpoint, e.g. hack/jaeger.sh's), and compare the operator's CPU and memory",
    )
    o = sub.add_parser("objects")
    o.add_argument("--count", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    kube = Kube.from_environment()
    out: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        if args.what in (None, "tenants"):
            out["tenants"] = [
                await bench_tenants(kube, n) for n in getattr(args, "count", [100, 1000])
            ]
        if args.what in (None, "pipelines"):
            tenants = getattr(args, "tenants", 100)
            global_max = getattr(args, "global_max", 200)
            latency = getattr(args, "latency", 150)
            out["pipelines"] = []
            if latency:
                out["pipelines"].append(
                    await bench_pipelines(
                        kube, tenants, latency, global_max, rate=getattr(args, "rate", 1.0)
                    )
                )
            for n in getattr(args, "pipelines", [500, 5000]):
                if not n:  # `--pipelines 0`: the latency run only
                    continue
                off = await bench_pipelines(
                    kube, tenants, n, global_max, keep=getattr(args, "keep", False)
                )
                out["pipelines"].append(off)
                if getattr(args, "tracing", None):
                    on = await bench_pipelines(kube, tenants, n, global_max, otlp=args.tracing)
                    out["pipelines"].append(on)
                    tracing_table(off, on)
        if args.what in (None, "objects"):
            out["objects"] = [
                await bench_objects(kube, n) for n in getattr(args, "count", [1000, 10000])
            ]
    finally:
        await kube.close()
    path = RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"\nwrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())

#!/usr/bin/env python3
"""Benchmarks on the local control plane with KWOK nodes. Prints tables, writes bench/results/.

    make bench                               # tenants 100 + 1000, pipelines 100 tenants x 1000
    .venv/bin/python hack/bench.py tenants --count 1000
    .venv/bin/python hack/bench.py pipelines --tenants 100 --pipelines 2000

The operator runs as a real process (`pf-figma operator`) against the cluster in $KUBECONFIG;
latencies are measured from this client: apply returned -> watch event seen.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pf_operator.kube import Kube  # noqa: E402

RESULTS = ROOT / "bench" / "results"


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


class Operator:
    """The operator under test, as a process whose CPU and memory we can read."""

    def __init__(self, **settings: str) -> None:
        env = dict(os.environ)
        self.metrics_port = 18400 + os.getpid() % 100
        env.update(
            PF_METRICS_PORT=str(self.metrics_port),
            PF_HEALTH_PORT=str(self.metrics_port + 1),
            PF_LOG_LEVEL="WARNING",
        )
        env.update({f"PF_{k.upper()}": v for k, v in settings.items()})
        self.log = open(RESULTS / "operator-bench.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pf_operator", "operator"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.peak_rss = 0.0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.metrics_port + 1}/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit("operator did not become ready; see bench/results/operator-bench.log")

    def sample(self) -> tuple[float, float]:
        """(cpu seconds, rss MiB) from /proc."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(stat[11]) + int(stat[12])) / ticks
        rss = 0.0
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
        self.peak_rss = max(self.peak_rss, rss)
        return cpu, rss

    def writes(self) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics").text
        return sum(
            float(v)
            for v in re.findall(r"^pf_figma_api_write_requests_total\{[^}]*\} (\S+)$", text, re.M)
        )

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)


async def apiserver_writes(kube: Kube) -> dict[str, float]:
    async with kube.session.get(kube.server + "/metrics", headers=kube._auth()) as resp:
        text = await resp.text()
    out: dict[str, float] = {}
    for m in re.finditer(r"^apiserver_request_total\{([^}]*)\} (\S+)$", text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("verb") in ("POST", "PUT", "PATCH", "DELETE", "APPLY"):
            key = labels.get("resource", "") + (
                "/" + labels["subresource"] if labels.get("subresource") else ""
            )
            out[key] = out.get(key, 0) + float(m.group(2))
    return out


async def watch(
    kube: Kube, path: str, on_event: Any, stop: asyncio.Event, params: dict[str, str] | None = None
) -> None:
    """A raw watch stream; calls on_event(type, object, seen_at) for every event."""
    query = {"watch": "true", "allowWatchBookmarks": "false", **(params or {})}
    import aiohttp

    async with kube.session.get(
        kube.server + path,
        params=query,
        headers=kube._auth(),
        timeout=aiohttp.ClientTimeout(total=None),
    ) as resp:
        async for line in resp.content:
            if stop.is_set():
                return
            if line.strip():
                event = json.loads(line)
                on_event(event["type"], event["object"], time.monotonic())


async def bench_tenants(kube: Kube, count: int, concurrency: int = 32) -> dict[str, Any]:
    run = uuid.uuid4().hex[:4]
    names = [f"bench-{run}-{i:04d}" for i in range(count)]
    applied: dict[str, float] = {}
    ready_at: dict[str, float] = {}
    stop = asyncio.Event()

    def on_event(_type: str, obj: dict[str, Any], seen: float) -> None:
        name = obj["metadata"]["name"]
        if name in applied and name not in ready_at:
            for cond in (obj.get("status") or {}).get("conditions") or []:
                if cond["type"] == "Ready" and cond["status"] == "True":
                    ready_at[name] = seen

    watcher = asyncio.create_task(watch(kube, "/apis/pffigma.dev/v1alpha1/tenants", on_event, stop))
    await asyncio.sleep(0.5)
    writes_before = await apiserver_writes(kube)
    op = Operator()
    writes_op0 = op.writes()
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
            await kube.request("POST", "/apis/pffigma.dev/v1alpha1/tenants", body=body)
            applied[name] = time.monotonic()

    t0 = time.monotonic()
    await asyncio.gather(*(create(n) for n in names))
    deadline = time.monotonic() + max(120, count * 0.5)
    while len(ready_at) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        op.sample()
    total = time.monotonic() - t0
    cpu1, rss = op.sample()
    writes_op = op.writes() - writes_op0
    writes_after = await apiserver_writes(kube)
    stop.set()
    watcher.cancel()
    op.stop()
    lat = [ready_at[n] - applied[n] for n in names if n in ready_at]
    delta = {
        k: v - writes_before.get(k, 0)
        for k, v in writes_after.items()
        if v - writes_before.get(k, 0) > 0
    }
    result = {
        "tenants": count,
        "ready": len(ready_at),
        "seconds_all_ready": round(total, 2),
        "p50_ms": round(pct(lat, 50) * 1000),
        "p95_ms": round(pct(lat, 95) * 1000),
        "p99_ms": round(pct(lat, 99) * 1000),
        "operator_writes_per_tenant": round(writes_op / count, 2),
        "apiserver_writes_per_tenant": round(sum(delta.values()) / count, 2),
        "apiserver_writes_by_resource": {k: int(v) for k, v in sorted(delta.items())},
        "operator_cpu_seconds": round(cpu1 - cpu0, 1),
        "operator_peak_rss_mib": round(op.peak_rss, 1),
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
                "API writes per Tenant (apiserver, all clients)",
                str(result["apiserver_writes_per_tenant"]),
            ),
            ("operator CPU seconds", str(result["operator_cpu_seconds"])),
            ("operator peak RSS", f"{result['operator_peak_rss_mib']} MiB"),
        ],
    )
    await cleanup(kube, "tenants", names)
    return result


async def cleanup(kube: Kube, plural: str, names: list[str]) -> None:
    sem = asyncio.Semaphore(32)

    async def delete(name: str) -> None:
        async with sem:
            try:
                await kube.request("DELETE", f"/apis/pffigma.dev/v1alpha1/{plural}/{name}")
            except Exception:
                pass

    await asyncio.gather(*(delete(n) for n in names))


async def bench_pipelines(
    kube: Kube, tenants: int, pipelines: int, global_max: int, keep: bool = False
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:4]
    plans = ["starter", "pro", "enterprise"]
    tnames = [f"bp-{run}-{i:03d}" for i in range(tenants)]
    plan_of = {t: plans[i % 3] for i, t in enumerate(tnames)}
    op = Operator(global_max_concurrent=str(global_max), pipeline_workers="32")
    for t in tnames:
        await kube.request(
            "POST",
            "/apis/pffigma.dev/v1alpha1/tenants",
            body={
                "apiVersion": "pffigma.dev/v1alpha1",
                "kind": "Tenant",
                "metadata": {"name": t},
                "spec": {
                    "plan": plan_of[t],
                    "pipelines": {"maxConcurrent": 20, "maxQueued": 1000},
                    "quota": {"cpu": "100", "memory": "200Gi", "pods": 500, "jobs": 5000},
                },
            },
        )
    # wait for the namespaces
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready = 0
        for t in await kube.list("Tenant"):
            if t["metadata"]["name"] in plan_of and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (t.get("status") or {}).get("conditions") or []
            ):
                ready += 1
        if ready == tenants:
            break
        await asyncio.sleep(0.5)
    applied: dict[str, float] = {}
    first_job: dict[str, float] = {}
    job_done: dict[str, float] = {}
    job_added: dict[str, float] = {}
    handoffs: list[float] = []
    finished: dict[str, float] = {}
    stop = asyncio.Event()

    def on_job(_type: str, job: dict[str, Any], seen: float) -> None:
        labels = job["metadata"].get("labels") or {}
        key = f"{job['metadata']['namespace']}/{labels.get('pffigma.dev/pipeline')}"
        name = job["metadata"]["name"]
        if key not in applied:
            return
        if name not in job_added:
            job_added[name] = seen
            stage = labels.get("pffigma.dev/stage")
            if stage == "analyze":
                first_job.setdefault(key, seen)
            else:
                prev = {"generate": "analyze", "test": "generate"}.get(stage or "")
                prev_name = name.replace(f"-{stage}-1", f"-{prev}-1")
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
        asyncio.create_task(
            watch(kube, "/apis/pffigma.dev/v1alpha1/designpipelines", on_pipeline, stop)
        ),
    ]
    await asyncio.sleep(0.5)
    writes0 = op.writes()
    cpu0, _ = op.sample()
    sem = asyncio.Semaphore(16)

    async def create(i: int) -> None:
        t = tnames[i % tenants]
        name = f"p{i:05d}"
        async with sem:
            await kube.request(
                "POST",
                f"/apis/pffigma.dev/v1alpha1/namespaces/tenant-{t}/designpipelines",
                body={
                    "apiVersion": "pffigma.dev/v1alpha1",
                    "kind": "DesignPipeline",
                    "metadata": {"name": name, "namespace": f"tenant-{t}"},
                    "spec": {"source": {"configMapRef": {"name": "d", "key": "f"}}},
                },
            )
            applied[f"tenant-{t}/{name}"] = time.monotonic()

    t0 = time.monotonic()
    await asyncio.gather(*(create(i) for i in range(pipelines)))
    deadline = time.monotonic() + max(300, pipelines * 2)
    last_poll = time.monotonic()
    while len(finished) < pipelines and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        op.sample()
        if time.monotonic() - last_poll > 10:  # a watch may drop: reconcile with a LIST
            last_poll = time.monotonic()
            for obj in await kube.list("DesignPipeline"):
                on_pipeline("LIST", obj, time.monotonic())
    elapsed = time.monotonic() - t0
    cpu1, rss = op.sample()
    writes = op.writes() - writes0
    stop.set()
    for w in watchers:
        w.cancel()
    # first Job latency only for pipelines admitted at once (not queue wait)
    first = [first_job[k] - applied[k] for k in applied if k in first_job]
    waits: dict[str, list[float]] = {p: [] for p in plans}
    for k, t in first_job.items():
        waits[plan_of[k.split("/")[0].removeprefix("tenant-")]].append(t - applied[k])
    result = {
        "tenants": tenants,
        "pipelines": pipelines,
        "finished": len(finished),
        "global_max_concurrent": global_max,
        "seconds": round(elapsed, 1),
        "pipelines_per_hour": round(len(finished) / elapsed * 3600),
        "first_job_p50_ms": round(pct(first, 50) * 1000),
        "first_job_p95_ms": round(pct(first, 95) * 1000),
        "first_job_unqueued_p95_ms": round(pct(sorted(first)[:global_max], 95) * 1000),
        "handoff_p50_ms": round(pct(handoffs, 50) * 1000),
        "handoff_p95_ms": round(pct(handoffs, 95) * 1000),
        "queue_wait_p50_s_by_plan": {p: round(pct(v, 50), 1) for p, v in waits.items()},
        "writes_per_pipeline": round(writes / max(1, pipelines), 2),
        "operator_cpu_seconds": round(cpu1 - cpu0, 1),
        "operator_peak_rss_mib": round(op.peak_rss, 1),
        "operator_rss_mib_end": round(rss, 1),
    }
    table(
        f"Pipelines: {pipelines} over {tenants} tenants (global max {global_max})",
        [
            ("finished", f"{len(finished)}/{pipelines} in {result['seconds']} s"),
            ("pipelines per hour", str(result["pipelines_per_hour"])),
            (
                "apply -> first Job p50/p95 (incl. queueing)",
                f"{result['first_job_p50_ms']} / {result['first_job_p95_ms']} ms",
            ),
            (
                "apply -> first Job p95 (first wave, no queueing)",
                f"{result['first_job_unqueued_p95_ms']} ms",
            ),
            (
                "stage hand-off p50/p95",
                f"{result['handoff_p50_ms']} / {result['handoff_p95_ms']} ms",
            ),
            ("queue wait p50 by plan", json.dumps(result["queue_wait_p50_s_by_plan"])),
            ("API writes per pipeline (operator)", str(result["writes_per_pipeline"])),
            ("operator CPU seconds", str(result["operator_cpu_seconds"])),
            ("operator peak RSS", f"{result['operator_peak_rss_mib']} MiB"),
        ],
    )
    op.stop()
    if not keep:
        await cleanup(kube, "tenants", tnames)
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
    p.add_argument("--pipelines", type=int, nargs="+", default=[1000])
    p.add_argument("--global-max", type=int, default=200)
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
            out["pipelines"] = [
                await bench_pipelines(
                    kube, getattr(args, "tenants", 100), n, getattr(args, "global_max", 200)
                )
                for n in getattr(args, "pipelines", [1000])
            ]
    finally:
        await kube.close()
    path = RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"\nwrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())

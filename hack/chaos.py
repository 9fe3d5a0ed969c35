#!/usr/bin/env python3
# ruff: noqa: ASYNC110 - polling the cluster on purpose: the fault may break watches
"""Faults survived with nothing lost: `make chaos` prints a table, writes bench/results/.

    .venv/bin/python hack/chaos.py                  # all faults, full size
    .venv/bin/python hack/chaos.py --quick          # the shortened form used by `make test`
    .venv/bin/python hack/chaos.py operator-kill --pipelines 200

Faults: operator-kill (SIGKILL at random every few seconds, restarted), apiserver-restart,
leader-kill (two replicas with leader election), postgres-down (30 s). Each run applies
pipelines with short simulated stages and checks: every pipeline Succeeded (lost = not),
exactly one Job per stage (duplicated = more), and how long recovery took.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import post_pipeline, post_source  # noqa: E402  (hack/, this script's directory)
from pf_operator.kube import ApiError, Kube  # noqa: E402
from tests.operator_process import OperatorProcess  # noqa: E402

RESULTS = ROOT / "bench" / "results"
GROUP = "/apis/pffigma.dev/v1alpha1"


@dataclass
class Outcome:
    fault: str
    runs: int
    pipelines: int
    lost: int
    duplicated: int
    recovery_seconds: float
    seconds: float

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0


def operator(log_dir: Path, **settings: str) -> OperatorProcess:
    return OperatorProcess(
        log_dir / f"chaos-operator-{uuid.uuid4().hex[:6]}.log", log_level="WARNING", **settings
    )


async def make_tenant(kube: Kube, name: str, max_concurrent: int = 50) -> None:
    await kube.request(
        "POST",
        f"{GROUP}/tenants",
        body={
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {
                "plan": "enterprise",
                "pipelines": {"maxConcurrent": max_concurrent, "maxQueued": 1000},
                "quota": {"cpu": "200", "memory": "400Gi", "pods": 1000, "jobs": 5000},
            },
        },
    )
    for _ in range(300):
        body = await kube.get("Tenant", name)
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (body.get("status") or {}).get("conditions") or []
        ):
            await post_source(kube, f"tenant-{name}")
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"tenant {name} not Ready")


async def apply_pipelines(kube: Kube, ns: str, count: int, duration: str = "1s") -> list[str]:
    names = [f"c{i:04d}" for i in range(count)]
    sem = asyncio.Semaphore(16)

    async def create(name: str) -> None:
        async with sem:
            await post_pipeline(kube, ns, name, {"pffigma.dev/simulate-duration": duration})

    await asyncio.gather(*(create(n) for n in names))
    return names


async def settle(kube: Kube, ns: str, names: list[str], limit: float) -> tuple[int, int, float]:
    """Wait for all pipelines to finish; (lost, duplicated, seconds until the last finished)."""
    t0 = time.monotonic()
    wanted = set(names)
    done: dict[str, str] = {}
    while time.monotonic() - t0 < limit:
        try:
            for p in await kube.list("DesignPipeline", ns):
                for c in (p.get("status") or {}).get("conditions") or []:
                    if c["type"] == "Succeeded" and c["status"] in ("True", "False"):
                        done[p["metadata"]["name"]] = c["reason"]
        except (ApiError, OSError, Exception):
            pass
        if wanted <= done.keys():
            break
        await asyncio.sleep(0.5)
    elapsed = time.monotonic() - t0
    lost = sum(1 for n in names if done.get(n) != "Succeeded")
    jobs = await kube.list("Job", ns, label_selector="app.kubernetes.io/managed-by=pf-figma")
    per: dict[tuple[str, str], int] = {}
    for j in jobs:
        labels = j["metadata"]["labels"]
        key = (labels["pffigma.dev/pipeline"], labels["pffigma.dev/stage"])
        per[key] = per.get(key, 0) + 1
    duplicated = sum(n - 1 for n in per.values() if n > 1)
    return lost, duplicated, elapsed


async def succeeded(kube: Kube, ns: str) -> int:
    return sum(
        1
        for p in await kube.list("DesignPipeline", ns)
        for c in (p.get("status") or {}).get("conditions") or []
        if c["type"] == "Succeeded" and c["status"] == "True"
    )


async def cleanup(kube: Kube, tenant: str) -> None:
    try:
        await kube.request("DELETE", f"{GROUP}/tenants/{tenant}")
    except ApiError:
        pass


@contextlib.asynccontextmanager
async def scenario(kube: Kube, *ops: OperatorProcess) -> AsyncIterator[tuple[str, str]]:
    """A fresh Ready tenant (name, namespace) for one fault; removed with the operators after."""
    tenant = f"chaos-{uuid.uuid4().hex[:5]}"
    try:
        await make_tenant(kube, tenant)
        yield tenant, f"tenant-{tenant}"
    finally:
        await cleanup(kube, tenant)
        for op in ops:
            op.stop()


def outcome(
    fault: str, runs: int, pipelines: int, lost: int, dup: int, recovery: float, t0: float
) -> Outcome:
    return Outcome(
        fault, runs, pipelines, lost, dup, round(recovery, 1), round(time.monotonic() - t0, 1)
    )


async def fault_operator_kill(kube: Kube, pipelines: int, kills: int, log_dir: Path) -> Outcome:
    op = operator(log_dir, global_max_concurrent="60")
    op.start()
    t0 = time.monotonic()
    async with scenario(kube, op) as (_, ns):
        names = await apply_pipelines(kube, ns, pipelines)
        rng = random.Random(7)
        recoveries = []
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(2, 5))
            op.kill()
            start = time.monotonic()
            op.start()
            recoveries.append(time.monotonic() - start)
        lost, dup, _ = await settle(kube, ns, names, limit=60 + pipelines * 2)
        return outcome(
            f"operator SIGKILL x{kills}", kills, pipelines, lost, dup, max(recoveries or [0]), t0
        )


async def fault_apiserver_restart(kube: Kube, pipelines: int, log_dir: Path) -> Outcome:
    op = operator(log_dir, global_max_concurrent="60")
    op.start()
    t0 = time.monotonic()
    async with scenario(kube, op) as (_, ns):
        names = await apply_pipelines(kube, ns, pipelines, duration="2s")
        await asyncio.sleep(2)
        start = time.monotonic()
        await asyncio.to_thread(
            subprocess.run,
            [str(ROOT / "hack" / "cluster.sh"), "restart", "kube-apiserver"],
            check=True,
            capture_output=True,
        )
        recovery = time.monotonic() - start
        lost, dup, _ = await settle(kube, ns, names, limit=120 + pipelines)
        return outcome("kube-apiserver restart", 1, pipelines, lost, dup, recovery, t0)


async def fault_leader_kill(kube: Kube, pipelines: int, log_dir: Path) -> Outcome:
    settings = {
        "leader_election": "true",
        "leader_election_lease": f"chaos-{uuid.uuid4().hex[:5]}",
        "leader_election_namespace": "kube-system",
        "global_max_concurrent": "60",
    }
    a, b = operator(log_dir, **settings), operator(log_dir, **settings)
    a.start()
    while a.role() != "leader":
        await asyncio.sleep(0.1)
    b.start()
    t0 = time.monotonic()
    async with scenario(kube, a, b) as (_, ns):
        names = await apply_pipelines(kube, ns, pipelines, duration="2s")
        await asyncio.sleep(3)
        a.kill()
        killed = time.monotonic()
        while b.role() != "leader" and time.monotonic() - killed < 60:
            await asyncio.sleep(0.1)
        failover = time.monotonic() - killed
        lost, dup, _ = await settle(kube, ns, names, limit=120 + pipelines)
        return outcome("leader SIGKILL (2 replicas)", 1, pipelines, lost, dup, failover, t0)


async def fault_postgres_down(
    kube: Kube, pipelines: int, down_seconds: float, log_dir: Path
) -> Outcome:
    sys.path.insert(0, str(ROOT / "tests" / "store"))
    import psycopg
    from pfstore_support import _destroy, _new_server, create_database

    server = await asyncio.to_thread(_new_server)
    database = await asyncio.to_thread(create_database, server, "pf_chaos")
    op = operator(log_dir, global_max_concurrent="60", database_dsn=database.operator_dsn)
    op.start()
    t0 = time.monotonic()
    try:
        async with scenario(kube, op) as (tenant, ns):
            names = await apply_pipelines(kube, ns, pipelines, duration="2s")
            await asyncio.sleep(1)
            await asyncio.to_thread(server.stop, "fast")
            before = await succeeded(kube, ns)
            await asyncio.sleep(down_seconds)
            during = await succeeded(kube, ns) - before  # reconciliation went on
            await asyncio.to_thread(server.start)
            back = time.monotonic()
            lost, dup, _ = await settle(kube, ns, names, limit=120 + pipelines)

            def history_rows() -> int:
                with psycopg.connect(database.superuser_dsn) as conn:
                    row = conn.execute(
                        "SELECT count(*) FROM pf.pipeline_runs WHERE tenant_id = %s "
                        "AND reason = 'Succeeded'",
                        (tenant,),
                    ).fetchone()
                    return int(row[0]) if row else 0

            while (
                await asyncio.to_thread(history_rows) < pipelines and time.monotonic() - back < 90
            ):
                await asyncio.sleep(0.5)
            caught_up = time.monotonic() - back
            missing = pipelines - await asyncio.to_thread(history_rows)
            return outcome(
                f"PostgreSQL down {down_seconds:.0f}s ({during} done while down)",
                1,
                pipelines,
                lost + missing,
                dup,
                caught_up,
                t0,
            )
    finally:
        await asyncio.to_thread(_destroy, server)


def print_table(outcomes: list[Outcome]) -> None:
    head = (
        f"{'fault':<42} {'runs':>4} {'pipelines':>9} {'lost':>5} {'duplicated':>10} "
        f"{'recovery s':>10} {'total s':>8}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for o in outcomes:
        print(
            f"{o.fault:<42} {o.runs:>4} {o.pipelines:>9} {o.lost:>5} {o.duplicated:>10} "
            f"{o.recovery_seconds:>10} {o.seconds:>8}"
        )


async def run(faults: list[str], quick: bool) -> list[Outcome]:
    log_dir = RESULTS
    log_dir.mkdir(parents=True, exist_ok=True)
    kube = Kube.from_environment()
    outcomes = []
    try:
        for fault in faults:
            if fault == "operator-kill":
                outcomes.append(
                    await fault_operator_kill(
                        kube, 30 if quick else 200, 3 if quick else 8, log_dir
                    )
                )
            elif fault == "apiserver-restart":
                outcomes.append(await fault_apiserver_restart(kube, 10 if quick else 100, log_dir))
            elif fault == "leader-kill":
                outcomes.append(await fault_leader_kill(kube, 10 if quick else 100, log_dir))
            elif fault == "postgres-down":
                outcomes.append(
                    await fault_postgres_down(
                        kube, 10 if quick else 100, 5 if quick else 30, log_dir
                    )
                )
    finally:
        await kube.close()
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "faults",
        nargs="*",
        default=["operator-kill", "apiserver-restart", "leader-kill", "postgres-down"],
    )
    parser.add_argument("--quick", action="store_true", help="the shortened form")
    args = parser.parse_args()
    outcomes = asyncio.run(run(args.faults, args.quick))
    print_table(outcomes)
    path = RESULTS / f"chaos-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps([asdict(o) for o in outcomes], indent=2))
    print(f"\nwrote {path.relative_to(ROOT)}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())

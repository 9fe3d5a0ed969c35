#!/usr/bin/env python3
"""20 pipelines started at once against a rate-limited Figma API: requests and 429s, with and
without the operator's per-token cap on analyze stages (issue 20; docs/scale.md).

Usage: .venv/bin/python hack/figma_storm.py [--pipelines 20] [--caps none,2]
       [--rate-limit 6] [--rate-window 10]

The Figma API is tests/figma_api.py (a local server with a fixed-window rate limit per token
answering 429 with Retry-After), serving examples/figma/govuk-button.json. Each pipeline's
analyze stage is the real agent (``python -m pf_agents analyze``, a subprocess with
FIGMA_API_URL, one tenant token); which analyze stages start when is decided by the operator's
own admission queue (pf_operator.scheduler, the tenant's Figma slots = the cap); a pipeline
frees its slot when its analyze ends (the later stages do not call Figma and are not run).
Prints one row per cap: analyses ok/failed, requests, 429s, most analyses at once, seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pf_operator.scheduler import AdmissionQueue, TenantQuota, Workload  # noqa: E402
from tests.figma_api import FigmaApiServer, key_for  # noqa: E402

FIXTURE = ROOT / "examples" / "figma" / "govuk-button.json"
TOKEN = "figma-storm-token"


def analyze(api: str, work: Path, name: str) -> subprocess.Popen[bytes]:
    work.mkdir(parents=True, exist_ok=True)
    config = {
        "tenant": "acme",
        "namespace": "tenant-acme",
        "pipeline": name,
        "uid": name,
        "stage": "analyze",
        "source": {"figma": {"fileKey": key_for(FIXTURE.stem), "nodeIds": []}},
    }
    (work / "config.json").write_text(json.dumps(config))
    env = {
        **os.environ,
        "PF_CONFIG_FILE": str(work / "config.json"),
        "PF_ARTIFACTS": (work / "store").as_uri(),
        "PF_WORKDIR": str(work / "work"),
        "PF_RESULT_FILE": str(work / "result.json"),
        "FIGMA_API_URL": api,
        "FIGMA_TOKEN": TOKEN,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "pf_agents", "analyze"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def storm(n: int, cap: int | None, rate_limit: int, window: float) -> dict[str, object]:
    queue = AdmissionQueue()
    queue.set_tenant(TenantQuota("acme", 4, n, n, figma_max_concurrent=cap))
    for i in range(n):
        queue.upsert(Workload(f"tenant-acme/p{i:02d}", "acme", 50, float(i), False, figma=True))
    running: dict[str, subprocess.Popen[bytes]] = {}
    ok = failed = most = 0
    reasons: dict[str, int] = {}
    with (
        tempfile.TemporaryDirectory(prefix="pf-figma-storm-") as tmp,
        FigmaApiServer([FIXTURE.parent], rate_limit=rate_limit, rate_window=window) as api,
    ):
        began = time.monotonic()
        while True:
            for key in queue.decide(n).admit:
                queue.mark_running(key)
                name = key.split("/")[1]
                running[key] = analyze(api.url, Path(tmp) / name, name)
            most = max(most, len(running))
            if not running:
                break
            time.sleep(0.05)
            for key, proc in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[key]
                result = Path(tmp) / key.split("/")[1] / "result.json"
                outcome = json.loads(result.read_text()) if result.exists() else {}
                if outcome.get("outcome") == "Succeeded":
                    ok += 1
                else:
                    failed += 1
                    why = str(outcome.get("reason") or f"exit {proc.returncode}")
                    reasons[why] = reasons.get(why, 0) + 1
                # analyze ended: the slot is free (the pipeline itself goes on without Figma)
                queue.remove(key)
        seconds = time.monotonic() - began
        stats = api.stats_json()
    return {
        "cap": "none" if cap is None else cap,
        "ok": ok,
        "failed": failed,
        "reasons": reasons,
        "requests": stats["requests"],
        "429": stats["429"],
        "most_at_once": most,
        "seconds": round(seconds, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pipelines", type=int, default=20)
    ap.add_argument("--caps", default="none,2", help="comma-separated caps; none = no cap")
    ap.add_argument("--rate-limit", type=int, default=6, help="requests per window per token")
    ap.add_argument("--rate-window", type=float, default=10.0, help="seconds")
    args = ap.parse_args()
    print(
        f"{args.pipelines} pipelines of one tenant (one token), Figma API limit "
        f"{args.rate_limit} requests / {args.rate_window:g} s"
    )
    print(f"{'cap':>5} {'ok':>4} {'failed':>6} {'requests':>8} {'429s':>5} {'at once':>7} {'s':>6}")
    rows = []
    for raw in args.caps.split(","):
        cap = None if raw.strip() == "none" else int(raw)
        row = storm(args.pipelines, cap, args.rate_limit, args.rate_window)
        rows.append(row)
        print(
            f"{row['cap']!s:>5} {row['ok']:>4} {row['failed']:>6} {row['requests']:>8} "
            f"{row['429']:>5} {row['most_at_once']:>7} {row['seconds']:>6}"
            + (f"  failed: {row['reasons']}" if row["reasons"] else ""),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

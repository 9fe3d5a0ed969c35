#!/usr/bin/env python3
"""Peak memory and time of analyze on large Figma files (issue 20).

We have no real 50 MB file, so the files are made by repeating real fixture content: the GOV.UK
Button component set (examples/figma/govuk-button.json, an unmodified Figma API response) copied
into one page as often as the size needs, each copy's node ids renumbered so they stay unique.
Each measurement is one fresh process running the analyze stage (``run_stage``) on the file:
``--via file`` reads it as PF_SOURCE_FILE (a ConfigMap / stored source), ``--via api`` fetches it
from the local Figma API server (tests/figma_api.py, with geometry=paths) as a live pipeline.
Prints a Markdown table: size, nodes, seconds, peak RSS (MiB) and the analyze memory limit.

    .venv/bin/python hack/bench_large_files.py --sizes 5,20,50 --via file,api
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "examples" / "figma" / "govuk-button.json"
LIMIT_MIB = 1024  # agent pods' memory limit (charts/pf-figma values agent.resources.limits)
MIB = 1024 * 1024
ID_RE = re.compile(r'(?<=["I;])(\d+):(\d+)')

CHILD = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
from pf_agents.artifacts import FileArtifactStore
from pf_agents.config import PipelineConfig
from pf_agents.stages import StageEnv, run_stage
path, via, url = sys.argv[1], sys.argv[2], sys.argv[3]
tmp = Path(tempfile.mkdtemp(prefix="pf-bench-"))
if via == "file":
    cfg, env = PipelineConfig(), StageEnv(store=FileArtifactStore(tmp / "s"), workdir=tmp / "w",
                                          source_file=path)
else:
    import os
    os.environ["FIGMA_API_URL"] = url
    cfg = PipelineConfig.model_validate({"source": {"figma": {"fileKey": "bench"}}})
    env = StageEnv(store=FileArtifactStore(tmp / "s"), workdir=tmp / "w", figma_token="bench")
t = time.perf_counter()
res = run_stage("analyze", cfg, env)
print(json.dumps({"outcome": res.outcome, "message": res.message[:200],
                  "nodes": res.summary.get("nodes"), "seconds": time.perf_counter() - t,
                  "rssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def renumber(node: dict[str, Any], offset: int) -> dict[str, Any]:
    """A copy of ``node`` with every node id ``a:b`` (also inside instance ids) -> ``a+off:b``."""
    text = json.dumps(node)
    return json.loads(ID_RE.sub(lambda m: f"{int(m.group(1)) + offset}:{m.group(2)}", text))


def make_file(target_bytes: int, out: Path) -> int:
    """Write a file response of about ``target_bytes``; returns the number of copies."""
    base = json.loads(FIXTURE.read_bytes())
    one = len(json.dumps(base, separators=(",", ":")))
    copies = max(1, round(target_bytes / one))
    kids = []
    for i in range(copies):
        node = renumber(base, i * 100_000) if i else copy.deepcopy(base)
        node["name"] = f"{base['name']} {i + 1}"
        kids.append(node)
    doc = {"name": f"bench {copies}x {base['name']}", "version": "1", "lastModified": "2024-01-01",
           "document": {"id": "0:0", "name": "Document", "type": "DOCUMENT", "children": [
               {"id": "0:1", "name": "Page 1", "type": "CANVAS", "children": kids}]},
           "components": {}, "componentSets": {}, "styles": {}}
    out.write_text(json.dumps(doc, separators=(",", ":")))
    return copies


def measure(path: Path, via: str) -> dict[str, Any]:
    url = ""
    server = None
    if via == "api":
        sys.path.insert(0, str(ROOT))
        from tests.figma_api import FigmaApiServer

        server = FigmaApiServer([]).start()
        server.add_file("bench", json.loads(path.read_bytes()))
        url = server.url
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(path), via, url],
                              capture_output=True, text=True, timeout=1800, check=False)
    finally:
        if server is not None:
            server.stop()
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"analyze failed ({via}): {proc.stderr[-2000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="5,20,50", help="MB, comma separated")
    ap.add_argument("--via", default="file,api", help="file and/or api")
    args = ap.parse_args()
    rows = ["| file | via | nodes | seconds | peak RSS (MiB) | limit (MiB) |",
            "| ---: | --- | ---: | ---: | ---: | ---: |"]
    with tempfile.TemporaryDirectory(prefix="pf-bench-files-") as tmp:
        for mb in (float(s) for s in args.sizes.split(",") if s.strip()):
            path = Path(tmp) / f"bench-{mb:g}mb.json"
            make_file(int(mb * 1_000_000), path)
            size = path.stat().st_size / 1_000_000
            for via in [v.strip() for v in args.via.split(",") if v.strip()]:
                r = measure(path, via)
                if r["outcome"] != "Succeeded":
                    print(f"{size:.1f} MB via {via}: {r['outcome']}: {r['message']}",
                          file=sys.stderr)
                rss = r["rssKiB"] / 1024
                rows.append(f"| {size:.1f} MB | {via} | {r['nodes']} | {r['seconds']:.1f} | "
                            f"{rss:.0f} | {LIMIT_MIB} |")
                print(rows[-1], file=sys.stderr, flush=True)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run every Figma fixture through analyze -> generate -> test -> qa and print a table.

    .venv/bin/python hack/quality.py [--fixtures DIR] [--only SUBSTRING]

Writes bench/results/quality-<timestamp>.json too. Each fixture runs in its own process so
peak memory (Python, and the node tools it starts) is per fixture.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("analyze", "generate", "test", "qa")


def default_fixtures() -> Path:
    for cand in (ROOT.parent / "shared" / "figma-fixtures", Path("/work/shared/figma-fixtures")):
        if cand.is_dir():
            return cand
    return ROOT.parent / "shared" / "figma-fixtures"


def run_one(path: Path) -> dict:
    from pf_agents.artifacts import FileArtifactStore
    from pf_agents.config import PipelineConfig
    from pf_agents.stages import StageEnv, run_stage

    with tempfile.TemporaryDirectory(prefix="pf-quality-") as tmp:
        store = FileArtifactStore(Path(tmp) / "store")
        env = StageEnv(store=store, workdir=Path(tmp) / "work", source_file=str(path))
        cfg = PipelineConfig()
        row: dict = {"fixture": path.stem, "seconds": {}, "ok": True}
        for st in STAGES:
            res = run_stage(st, cfg, env)
            row["seconds"][st] = round(res.seconds, 2)
            s = res.summary
            if st == "analyze":
                row.update(nodes=s.get("nodes"), components=s.get("components"),
                           tokens=s.get("tokens"))
            if st == "test":
                row["testCases"] = s.get("testCases")
            if st == "qa":
                row.update(tscOk=s.get("tscOk"), tscErrors=s.get("tscErrors"),
                           passed=s.get("testsPassed"), total=s.get("testsTotal"),
                           installCached=s.get("installCached"))
            if res.outcome != "Succeeded":
                row["ok"] = False
                row["error"] = f"{st}: {res.reason}: {res.message}"[:300]
                if st != "qa":
                    break
    row["peakMiBPython"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    row["peakMiBNode"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    return row


def perf_1000() -> dict:
    """analyze + generate of a synthetic 1,000-node file and of the largest real fixture."""
    from pf_agents.analyze import analyze_source
    from pf_agents.figma_client import parse_figma_json
    from pf_agents.generate import generate_components
    from pf_agents.stages import build_project
    from pf_agents.tokens import extract_tokens, lookup_from_dtcg

    frames = []
    for f in range(10):
        kids = []
        for i in range(50):
            kids.append({"id": f"{f}:{i}", "name": f"Item {i}", "type": "FRAME",
                         "layoutMode": "HORIZONTAL", "itemSpacing": 8, "paddingLeft": 12,
                         "paddingRight": 12, "cornerRadius": 4,
                         "absoluteBoundingBox": {"x": 0, "y": i * 40, "width": 300, "height": 40},
                         "fills": [{"type": "SOLID", "color": {"r": 0.1, "g": 0.2, "b": i / 50}}],
                         "children": [{"id": f"{f}:{i}t", "name": "Label", "type": "TEXT",
                                       "characters": f"Item {f}.{i}",
                                       "style": {"fontFamily": "Inter", "fontSize": 14,
                                                 "fontWeight": 500, "lineHeightPx": 20,
                                                 "lineHeightUnit": "PIXELS"},
                                       "absoluteBoundingBox": {"x": 0, "y": 0, "width": 80,
                                                               "height": 20}}]})
        frames.append({"id": f"{f}:0f", "name": f"Screen {f}", "type": "FRAME",
                       "layoutMode": "VERTICAL", "itemSpacing": 4,
                       "absoluteBoundingBox": {"x": 0, "y": 0, "width": 320, "height": 2000},
                       "children": kids})
    data = {"name": "perf", "document": {"id": "0:0", "type": "DOCUMENT", "name": "d",
                                         "children": [{"id": "0:1", "type": "CANVAS",
                                                       "name": "p", "children": frames}]}}
    raw = json.dumps(data)
    t = time.perf_counter()
    spec = analyze_source(parse_figma_json(json.loads(raw)))
    ts = extract_tokens(spec)
    comps = generate_components(spec, lookup_from_dtcg(ts.dtcg))
    build_project(spec, ts.dtcg)
    synthetic = time.perf_counter() - t
    return {"nodes": spec.nodeCount, "components": len(comps),
            "secondsAnalyzeGenerate": round(synthetic, 3)}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--fixtures", default=str(default_fixtures()))
    p.add_argument("--only", default="")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(Path(args.one))))
        return 0
    fixtures = sorted(f for f in Path(args.fixtures).glob("*.json") if args.only in f.name)
    if not fixtures:
        print(f"no fixtures in {args.fixtures}", file=sys.stderr)
        return 2
    rows = []
    for f in fixtures:
        proc = subprocess.run([sys.executable, __file__, "--one", str(f)], capture_output=True,
                              text=True)
        try:
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        except (IndexError, json.JSONDecodeError):
            rows.append({"fixture": f.stem, "ok": False, "seconds": {},
                         "error": proc.stderr.strip()[-300:]})
    perf = perf_1000()
    head = (f"{'fixture':<46} {'nodes':>6} {'comps':>5} {'tokens':>6} {'tsc':>4} "
            f"{'tests':>9} {'analyze':>7} {'generate':>8} {'test':>5} {'qa':>6} "
            f"{'peak MiB py/node':>16}")
    print(head)
    print("-" * len(head))
    for r in rows:
        s = r.get("seconds", {})
        tests = f"{r.get('passed', '-')}/{r.get('total', '-')}"
        print(f"{r['fixture'][:46]:<46} {r.get('nodes', '-')!s:>6} {r.get('components', '-')!s:>5}"
              f" {r.get('tokens', '-')!s:>6} {('ok' if r.get('tscOk') else 'FAIL'):>4}"
              f" {tests:>9} {s.get('analyze', 0):>7.2f} {s.get('generate', 0):>8.2f}"
              f" {s.get('test', 0):>5.2f} {s.get('qa', 0):>6.2f}"
              f" {r.get('peakMiBPython', 0):>7}/{r.get('peakMiBNode', 0):<8}")
        if r.get("error"):
            print(f"    ! {r['error']}")
    print(f"\nperformance: {perf['nodes']}-node synthetic file, analyze + generate: "
          f"{perf['secondsAnalyzeGenerate']:.2f}s (goal <= 3 s)")
    ok = all(r.get("ok") for r in rows)
    passed = sum(1 for r in rows if r.get("ok"))
    print(f"{passed} passed, {len(rows) - passed} failed")
    out = ROOT / "bench" / "results" / f"quality-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"fixtures": rows, "performance": perf,
                               "time": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1))
    print(f"results: {out.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

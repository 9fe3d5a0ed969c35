"""`make quality`: how good is the generated code? The tables issues 13 and 14 ask for.

    .venv/bin/python hack/quality.py [--only SUBSTR] [--reuse] [--mutations N] [--skip PHASES]

Inputs: every Figma JSON in ../shared/figma-fixtures, examples/figma and ../shared/figma-cases.
Each is generated once with ``pf-figma run --stages analyze,generate,test,qa`` into
``--work/<stem>/proj`` (``--reuse`` keeps a project that already has a qa report), then:

- fidelity: the independent instrument ../shared/tools/fidelity/fidelity.py (run, never copied),
  with ``--reuse``: nodes / roots within 4 px of Figma's boxes, texts shown, colours;
- fonts: the families the file uses, installed (fc-list) or falling back;
- unreproduced: what the generate stage reported as not reproduced (.pf-figma/unreproduced.json);
- code: lines per generated component, token names and classes derived from node ids, and
  ESLint / Prettier / tsc / tests / next build from qa-report.json;
- overflow: every top-level frame and wide component (manifest kind "frame" or fluid) rendered
  alone, in the generated page's container, in Chromium at 375, 768 and 1280 px: document
  scrollWidth > viewport width?
  (own renderer: esbuild bundle + react-dom/server -> static HTML + the project's Tailwind CSS);
- mutation: the renderer made to drop one visible Figma node (``Lowering.lower`` returns None
  for it); do the generated tests of that component fail?
- performance: analyze + generate of a synthetic 1,000-node file;
- visual: the pipeline's own visual stage (pf_agents.visual, in-process, on each generated
  project) beside the instrument: its fidelity, and the within-4-px share of both on the
  instrument's population (its renders and the nodes it matched; hack/fidelity_compare.py),
  with the difference in percentage points (issue 16's target: within 2 pp on every file).

Prints plain-text tables (docs/quality.md explains them) and writes
bench/results/quality-<timestamp>.json. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIDELITY = SHARED / "tools" / "fidelity" / "fidelity.py"
CHROMIUM = "/usr/bin/chromium"
WIDTHS = (375, 768, 1280)
TOL_INSTALLED, TOL_FALLBACK = 95.0, 85.0
SKIP_TYPES = {"SLICE", "WIDGET", "EMBED", "LINK_UNFURL", "STAMP", "HIGHLIGHT", "WASHI_TAPE",
              "CODE_BLOCK", "CONNECTOR"}
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pf-figma" / "quality"
PLAYWRIGHT = "1.56.1"
GOVUK_BUTTON_LINES_BEFORE = 307  # issue 14: the 40-variant button was a 307-line switch

# ------------------------------------------------------------------------------ pure helpers


def walk(node: dict[str, Any]) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every node under ``node`` (itself first) with its ancestors, iteratively (any depth)."""
    stack: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [(node, [])]
    while stack:
        n, anc = stack.pop()
        yield n, anc
        kids = n.get("children") or []
        stack.extend((c, [*anc, n]) for c in reversed(kids) if isinstance(c, dict))


def figma_roots(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The node trees of a Figma REST response (file, nodes or subtree shape)."""
    if isinstance(data.get("document"), dict):
        return [data["document"]]
    if isinstance(data.get("nodes"), dict):
        return [v["document"] for v in data["nodes"].values()
                if isinstance(v, dict) and isinstance(v.get("document"), dict)]
    return [data] if "id" in data else []


def index_nodes(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for r in figma_roots(data) for n, _ in walk(r) if "id" in n}


def id_slug(node_id: str) -> str | None:
    """``52:38`` -> ``52-38``; ``I1:2;3:4`` -> ``1-2-3-4``. None when the id has no digits pair."""
    s = re.sub(r"[^0-9]+", "-", node_id).strip("-")
    return s if re.fullmatch(r"\d+(-\d+)+", s) else None


def id_slugs(ids: Iterable[str]) -> set[str]:
    return {s for s in (id_slug(i) for i in ids) if s}


def _has_slug(text: str, slugs: set[str]) -> str | None:
    for m in re.finditer(r"\d+(?:-\d+)+", text):
        run = m.group(0)
        parts = run.split("-")
        for i in range(len(parts)):
            for j in range(i + 2, len(parts) + 1):
                cand = "-".join(parts[i:j])
                if cand in slugs:
                    return cand
    return None


def id_derived_names(names: Iterable[str], slugs: set[str]) -> list[str]:
    """Token names that contain a node or style id of the file (``fill-52-38``), sorted."""
    return sorted({n for n in names if _has_slug(n, slugs)})


CLASS_RE = re.compile(r"[\"'`\s{]((?:[a-z-]+:)*-?[a-z][a-z0-9]*(?:-[a-z0-9]+)*-\d+(?:-\d+)+)"
                      r"(?=[\"'`\s}])")


def id_derived_classes(source: str, slugs: set[str]) -> list[str]:
    """Tailwind classes in generated code whose theme key is a node id (``bg-fill-52-38``)."""
    found = set()
    for m in CLASS_RE.finditer(source):
        cls = m.group(1)
        if _has_slug(cls.rsplit(":", 1)[-1], slugs):
            found.add(cls)
    return sorted(found)


def dtcg_names(dtcg: Any, prefix: str = "") -> list[str]:
    """Token paths of a DTCG document (``color.fill-52-38``): groups down to ``$value``."""
    out: list[str] = []
    stack: list[tuple[str, Any]] = [(prefix, dtcg)]
    while stack:
        path, obj = stack.pop()
        if not isinstance(obj, dict):
            continue
        if "$value" in obj:
            out.append(path)
            continue
        for k, v in obj.items():
            if not k.startswith("$"):
                stack.append((f"{path}.{k}" if path else k, v))
    return sorted(out)


def font_families(data: dict[str, Any]) -> Counter[str]:
    """Font families of the visible texts (base style and styled runs), with text counts."""
    out: Counter[str] = Counter()
    for r in figma_roots(data):
        for n, anc in walk(r):
            if n.get("visible") is False or any(a.get("visible") is False for a in anc):
                continue
            fams = set()
            st = n.get("style") or {}
            if n.get("type") in ("TEXT", "STICKY", "SHAPE_WITH_TEXT", "TABLE_CELL") and \
                    st.get("fontFamily"):
                fams.add(st["fontFamily"])
            for o in (n.get("styleOverrideTable") or {}).values():
                if isinstance(o, dict) and o.get("fontFamily"):
                    fams.add(o["fontFamily"])
            for f in fams:
                out[f] += 1
    return out


def font_status(families: Iterable[str], installed: set[str]) -> dict[str, list[str]]:
    low = {i.lower() for i in installed}
    fams = sorted(set(families))
    return {"installed": [f for f in fams if f.lower() in low],
            "fallback": [f for f in fams if f.lower() not in low]}


def pct(a: float, b: float) -> float | None:
    return round(100.0 * a / b, 1) if b else None


def fmt(v: Any, suffix: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "ok" if v else "FAIL"
    if isinstance(v, float):
        return f"{v:g}{suffix}"
    return f"{v}{suffix}"


def table(headers: list[str], rows: list[list[Any]], right: Iterable[int] = ()) -> str:
    """A plain-text table; columns in ``right`` are right-aligned."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    ra = set(right)
    lines = []
    for k, r in enumerate(cells):
        lines.append("  ".join(c.rjust(widths[i]) if i in ra else c.ljust(widths[i])
                               for i, c in enumerate(r)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def overflow_cell(res: dict[str, Any] | None) -> str:
    """``+<px>``: how far the document scrolls past the viewport; ``ok``, or ``ok, <n> cut``
    when n elements reach past the frame's right edge (clipped by it or spilling out);
    ``err``/``-``."""
    if not res:
        return "-"
    if res.get("error"):
        return "err"
    extra = res["scrollWidth"] - res["viewport"]
    if extra > 0:
        return f"+{extra}px"
    return f"ok, {res['cut']} cut" if res.get("cut") else "ok"


def overflow_table(rows: list[dict[str, Any]], widths: Iterable[int] = WIDTHS) -> str:
    """rows: {"file", "component", "nodeId", "designWidth", "results": {width: result}}."""
    ws = list(widths)
    out = []
    for r in rows:
        res = r.get("results") or {}
        out.append([r["file"], r["component"], r.get("nodeId", ""), fmt(r.get("designWidth")),
                    *[overflow_cell(res.get(str(w)) or res.get(w)) for w in ws]])
    return table(["file", "frame", "node", "design w", *[f"{w}px" for w in ws]], out,
                 right=range(3, 4 + len(ws)))


def overflow_counts(rows: list[dict[str, Any]], widths: Iterable[int] = WIDTHS) -> dict[str, int]:
    """Frames that overflow, per viewport width."""
    out = {}
    for w in widths:
        out[str(w)] = sum(1 for r in rows if overflow_cell((r.get("results") or {}).get(str(w)))
                          .startswith("+"))
    return out


def mutation_candidates(comp_nodes: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Visible nodes under each rendered root (root excluded) a drop of which must be caught:
    no hidden ancestor, no mask, no layer shown by a boolean property, with a non-empty box
    (or text). ``comp_nodes``: (component ident, Figma root node rendered by default)."""
    out = []
    for ident, root in comp_nodes:
        for n, anc in walk(root):
            if n is root or "id" not in n:
                continue
            chain = [*anc, n]
            if any(a.get("visible") is False for a in chain[1:]):
                continue
            if any((a.get("componentPropertyReferences") or {}).get("visible") for a in chain[1:]):
                continue
            if n.get("isMask") or any(a.get("isMask") for a in anc):
                continue
            if n.get("type") in SKIP_TYPES or n.get("type") == "COMPONENT_SET":
                continue
            bb = n.get("absoluteBoundingBox") or {}
            if n.get("type") == "TEXT":
                if not (n.get("characters") or "").strip():
                    continue
            elif not (bb.get("width", 0) > 0 and bb.get("height", 0) > 0):
                continue
            out.append({"component": ident, "node": n["id"], "type": n.get("type"),
                        "name": (n.get("name") or "")[:60], "depth": len(anc)})
    return out


def pick_mutations(cands: list[dict[str, Any]], n: int, seed: str) -> list[dict[str, Any]]:
    """Up to ``n`` candidates, TEXT and non-TEXT alternating, spread over components,
    deterministic for a given ``seed``."""
    def h(c: dict[str, Any]) -> str:
        return hashlib.sha1(f"{seed}/{c['node']}".encode()).hexdigest()

    texts = sorted((c for c in cands if c["type"] == "TEXT"), key=h)
    other = sorted((c for c in cands if c["type"] != "TEXT"), key=h)
    # one of each component first, then the rest
    def spread(xs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen: set[str] = set()
        first, rest = [], []
        for c in xs:
            (rest if c["component"] in seen else first).append(c)
            seen.add(c["component"])
        return first + rest

    texts, other = spread(texts), spread(other)
    out: list[dict[str, Any]] = []
    while len(out) < n and (texts or other):
        for pool in (other, texts):
            if pool and len(out) < n:
                out.append(pool.pop(0))
    return out


def rename_test(test_src: str, ident: str, new: str) -> str:
    return test_src.replace(f'from "./{ident}"', f'from "./{new}"')


# -------------------------------------------------------------------------------- helpers


def sh(cmd: list[str], cwd: Path | None = None, timeout: int = 1800,
       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def node_env() -> dict[str, str]:
    """PATH with the qa stage's Node.js 24 first (the one the projects are tested with)."""
    env = dict(os.environ)
    try:
        from pf_agents.qa import node_bin_dir
        env["PATH"] = f"{node_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
    except Exception:
        pass
    return env


def installed_families() -> set[str]:
    try:
        out = sh(["fc-list", ":", "family"]).stdout
    except OSError:
        return set()
    fams = set()
    for line in out.splitlines():
        for f in line.split(","):
            if f.strip():
                fams.add(f.strip())
    return fams


def artifact(proj: Path, name: str) -> Path | None:
    res = proj / ".pf-figma" / "results.json"
    if not res.exists():
        return None
    found = None
    for st in json.loads(res.read_text()):
        for a in st.get("artifacts") or []:
            if a.get("name") == name and str(a.get("uri", "")).startswith("file://"):
                found = Path(a["uri"][7:])
    return found


def discover(only: str) -> list[tuple[str, Path]]:
    groups = [("fixture", SHARED / "figma-fixtures"), ("example", ROOT / "examples" / "figma"),
              ("case", SHARED / "figma-cases")]
    out = []
    for kind, d in groups:
        for f in sorted(d.glob("*.json")):
            if only in f.name:
                out.append((kind, f))
    return out


def generate(figma: Path, proj: Path, reuse: bool) -> dict[str, Any]:
    if reuse and (proj / "qa-report.json").exists() and artifact(proj, "manifest.json"):
        made = (proj / ".pf-figma" / "results.json").stat().st_mtime
        return {"reused": True, "generatedAt": time.strftime("%Y-%m-%dT%H:%M:%S",
                                                             time.gmtime(made))}
    if proj.exists():
        shutil.rmtree(proj)
    proj.parent.mkdir(parents=True, exist_ok=True)
    t = time.time()
    p = sh([str(ROOT / ".venv" / "bin" / "pf-figma"), "run", "--figma-json", str(figma),
            "--out", str(proj), "--stages", "analyze,generate,test,qa"])
    log = p.stdout + p.stderr
    (proj.parent / "run.log").write_text(log)
    return {"rc": p.returncode, "seconds": round(time.time() - t, 1),
            "traceback": "Traceback (most recent call last)" in log, "tail": log[-600:]}


# -------------------------------------------------------------------------- static metrics


def static_metrics(figma: Path, proj: Path, fams_installed: set[str]) -> dict[str, Any]:
    data = json.loads(figma.read_text())
    idx = index_nodes(data)
    slugs = id_slugs(list(idx) + list((data.get("styles") or {}).keys()))
    fams = font_families(data)
    row: dict[str, Any] = {"fonts": font_status(fams, fams_installed), "figmaNodes": len(idx)}
    res_path = proj / ".pf-figma" / "results.json"
    if res_path.exists():
        results = json.loads(res_path.read_text())
        row["stages"] = {r["stage"]: {"outcome": r.get("outcome"), "reason": r.get("reason"),
                                      "seconds": r.get("seconds"),
                                      "message": (r.get("message") or "")[:300]}
                         for r in results}
    unrep_path = proj / ".pf-figma" / "unreproduced.json"
    unrep = json.loads(unrep_path.read_text()) if unrep_path.exists() else []
    row["unreproduced"] = len(unrep)
    row["unreproducedNodes"] = len({u.get("node") for u in unrep})
    row["unreproducedByProperty"] = dict(Counter(u.get("property") for u in unrep).most_common())
    row["unreproducedRows"] = unrep[:200]
    mpath = artifact(proj, "manifest.json")
    manifest = json.loads(mpath.read_text()) if mpath else []
    row["manifest"] = [{k: m.get(k) for k in ("ident", "nodeId", "kind", "file", "width",
                                             "height", "unreproduced", "nodes")}
                       for m in manifest]
    comps = []
    classes: set[str] = set()
    for m in manifest:
        f = proj / m["file"]
        if f.exists():
            src = f.read_text()
            comps.append({"ident": m["ident"], "kind": m["kind"], "nodeId": m["nodeId"],
                          "lines": src.count("\n") + (0 if src.endswith("\n") else 1)})
            classes.update(id_derived_classes(src, slugs))
    row["components"] = comps
    row["idDerivedClasses"] = sorted(classes)
    tpath = artifact(proj, "tokens.json")
    names: list[str] = []
    if tpath:
        dtcg = json.loads(tpath.read_text())
        names = dtcg_names(dtcg)
        row["tokenNames"] = len(names)
        row["idDerivedTokens"] = id_derived_names(names, slugs)
        try:  # the project's own counter, when it has one (agents/tokens.py)
            from pf_agents import tokens as tk
            counter = getattr(tk, "count_id_derived_names", None)
            if counter is not None:
                row["idDerivedTokensProject"] = int(counter(dtcg))
        except Exception as e:
            row["idDerivedTokensProject"] = f"error: {type(e).__name__}"
    qa_path = proj / "qa-report.json"
    if qa_path.exists():
        q = json.loads(qa_path.read_text())
        row["qa"] = {
            "tsc": (q.get("tsc") or {}).get("ok"), "tscErrors": (q.get("tsc") or {}).get("errors"),
            "tscFirst": (q.get("tsc") or {}).get("firstError"),
            "testsPassed": (q.get("tests") or {}).get("passed"),
            "testsTotal": (q.get("tests") or {}).get("total"),
            "testsFirst": (q.get("tests") or {}).get("firstFailure"),
            "eslint": (q.get("lint") or {}).get("ok"),
            "eslintErrors": (q.get("lint") or {}).get("errors"),
            "eslintWarnings": (q.get("lint") or {}).get("warnings"),
            "eslintFirst": (q.get("lint") or {}).get("firstProblem"),
            "prettier": (q.get("format") or {}).get("ok"),
            "prettierFiles": len((q.get("format") or {}).get("unformatted") or []),
            "build": (q.get("build") or {}).get("ok") if "build" in q else None,
            "buildFirst": (q.get("build") or {}).get("firstProblem"),
            "node": q.get("node"),
        }
    return row


# -------------------------------------------------------------------------------- fidelity


def run_fidelity(files: list[Path], work: Path, out: Path) -> dict[str, dict[str, Any]]:
    """The shared instrument over every file (projects reused from ``work``)."""
    out.mkdir(parents=True, exist_ok=True)
    p = sh([sys.executable if sys.version_info >= (3, 11) else "python3", str(FIDELITY),
            *map(str, files), "--out", str(out), "--work", str(work), "--reuse",
            "--pngs", "compare", "--pf-figma", str(ROOT / ".venv" / "bin" / "pf-figma")],
           cwd=ROOT, timeout=3600)
    (out / "fidelity.log").write_text(p.stdout + p.stderr)
    res = {}
    for f in files:
        j = out / f"{f.stem}.json"
        if j.exists():
            r = json.loads(j.read_text())
            s = r.get("summary") or {}
            unmatched = []
            variant_mismatch = []
            for c in r.get("components") or []:
                for case in c.get("cases") or []:
                    if case.get("variantMismatch"):
                        variant_mismatch.append({"component": c["ident"],
                                                 **case["variantMismatch"]})
            worst = []
            for c in r.get("components") or []:
                for case in (c.get("cases") or [])[:1]:  # the default render
                    for b in case.get("boxes") or []:
                        if b.get("err", 0) > 4:
                            worst.append({"component": c["ident"], **b})
                    if case.get("root"):
                        worst.append({"component": c["ident"], "id": c["nodeId"],
                                      "name": "(root)", "type": c["kind"],
                                      "figma": case["root"].get("figma"),
                                      "dom": case["root"].get("dom"),
                                      "err": max(abs(case["root"].get("dw") or 0),
                                                 abs(case["root"].get("dh") or 0))})
                    unmatched += [{"component": c["ident"], **u} if isinstance(u, dict) else
                                  {"component": c["ident"], "node": u}
                                  for u in (case.get("unmatched") or [])[:10]]
            worst.sort(key=lambda b: -(b.get("err") or 0))
            res[f.stem] = {"summary": s, "error": r.get("error"),
                           "textsNotOnPage": r.get("textsNotOnPage") or [],
                           "missingRoots": r.get("missingRoots") or [],
                           "pageErrors": r.get("pageErrors") or [],
                           "variantMismatch": variant_mismatch[:10],
                           "worstBoxes": [b for b in worst if (b.get("err") or 0) > 4][:12],
                           "unmatched": unmatched[:20],
                           "textsNotShown": [
                               {"component": c["ident"], "id": t.get("id"),
                                "chars": (t.get("chars") or "")[:60], "matched": t.get("matched")}
                               for c in r.get("components") or []
                               for case in (c.get("cases") or [])[:1]
                               for t in case.get("texts") or [] if not t.get("shown")][:12],
                           "colorsWrong": [
                               {"component": c["ident"], **{k: x.get(k) for k in
                                                            ("id", "name", "prop", "figma",
                                                             "dom")}}
                               for c in r.get("components") or []
                               for case in (c.get("cases") or [])[:1]
                               for x in case.get("colors") or [] if not x.get("ok")][:12]}
        else:
            res[f.stem] = {"error": "no fidelity result (see fidelity.log)"}
    return res


# -------------------------------------------------------------------------------- overflow

ENTRY = """import * as React from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { writeFileSync } from "node:fs";
%(imports)s
const frames: [string, any][] = [
%(rows)s
];
const out: Record<string, string> = {};
for (const [id, C] of frames) {
  try {
    out[id] = renderToStaticMarkup(React.createElement(C, {}));
  } catch (e) {
    out[id] = "!error: " + String(e).slice(0, 300);
  }
}
writeFileSync(process.argv[2], JSON.stringify(out));
"""

CSS_JS = """const fs = require("fs");
const postcss = require("postcss");
const tw = require("@tailwindcss/postcss");
const [src, dst] = process.argv.slice(1);
postcss([tw()]).process(fs.readFileSync(src, "utf8"), { from: src })
  .then((r) => fs.writeFileSync(dst, r.css))
  .catch((e) => { console.error(e); process.exit(1); });
"""

# the generated app/page.tsx puts each component in a section of a padded flex column
PAGE = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<link rel=\"stylesheet\" href=\"page.css\"></head><body>"
        "<main style=\"display:flex;flex-direction:column;gap:48px;padding:32px\">"
        "<section class=\"pfq\" style=\"display:flex;flex-direction:column;gap:12px\">"
        "%s</section></main></body></html>")

CAPTURE = r"""// pf-figma quality: horizontal overflow of pages at several viewport widths.
import { chromium } from "playwright-core";
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
const browser = await chromium.launch({
  executablePath: job.chromium, headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const out = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  for (const w of job.widths) {
    await page.setViewportSize({ width: w, height: 800 });
    for (const p of job.pages) {
      try {
        await page.goto(pathToFileURL(p.file).href, { waitUntil: "load" });
        await page.evaluate(() => document.fonts.ready);
        const r = await page.evaluate(() => {
          const SIZE = new RegExp("(^|:)(w|min-w|max-w|left|right|translate-x|grid-cols|basis)-"
            + "|^(absolute|shrink-0|whitespace-pre|truncate)$");
          const vw = window.innerWidth;
          const sw = document.documentElement.scrollWidth;
          const sec = document.querySelector("section.pfq");
          const root = sec && sec.firstElementChild;
          const path = (el) => {
            const p = [];
            while (el && el !== root) {
              const par = el.parentElement;
              if (!par) return null;
              p.unshift([...par.children].indexOf(el));
              el = par;
            }
            return el === root ? p.join(".") : null;
          };
          const off = [];
          if (root && sw > vw) {
            for (const el of [root, ...root.querySelectorAll("*")]) {
              const r = el.getBoundingClientRect();
              if (r.right <= vw + 0.5 || r.width === 0) continue;
              const pr = el === root ? null : el.parentElement.getBoundingClientRect();
              if (pr && pr.right > vw + 0.5) continue;  // outermost only
              off.push({ path: path(el), tag: el.tagName.toLowerCase(),
                right: Math.round(r.right), width: Math.round(r.width),
                cls: (el.getAttribute("class") || "").split(/\s+/).filter((c) => SIZE.test(c))
                  .slice(0, 8).join(" ") });
              if (off.length >= 6) break;
            }
          }
          const rr = root ? root.getBoundingClientRect() : null;
          // content past the root's right edge: clipped (overflow-hidden) or spilling out
          let cut = 0;
          const cutFirst = [];
          if (rr) {
            for (const el of root.querySelectorAll("*")) {
              const r = el.getBoundingClientRect();
              if (r.width === 0 || r.right <= rr.right + 0.5) continue;
              cut += 1;
              const pr = el.parentElement.getBoundingClientRect();
              if (cutFirst.length < 4 && (el.parentElement === root || pr.right <= rr.right + 0.5))
                cutFirst.push({ path: path(el), tag: el.tagName.toLowerCase(),
                  right: Math.round(r.right - rr.right), width: Math.round(r.width),
                  cls: (el.getAttribute("class") || "").split(/\s+/).filter((c) => SIZE.test(c))
                    .slice(0, 8).join(" ") });
            }
          }
          return { viewport: vw, scrollWidth: sw, clientWidth: document.documentElement.clientWidth,
            rootWidth: rr ? Math.round(rr.width) : null, offenders: off, cut, cutFirst };
        });
        out.push({ id: p.id, width: w, ...r });
      } catch (e) {
        out.push({ id: p.id, width: w, error: String(e).slice(0, 300) });
      }
    }
  }
} finally {
  await browser.close();
}
writeFileSync(job.out, JSON.stringify(out));
"""


def ensure_playwright() -> Path:
    if not (CACHE / "node_modules" / "playwright-core").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        (CACHE / "package.json").write_text(json.dumps(
            {"name": "pf-figma-quality", "private": True,
             "dependencies": {"playwright-core": PLAYWRIGHT}}))
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=CACHE, check=True)
    (CACHE / "overflow.mjs").write_text(CAPTURE)
    return CACHE / "overflow.mjs"


def render_frames(stem: str, proj: Path, env: dict[str, str]) -> tuple[list[dict[str, Any]],
                                                                         list[dict[str, Any]]]:
    """Static HTML pages, one per top-level frame of the project. Returns (pages, rows)."""
    mpath = artifact(proj, "manifest.json")
    if not mpath or not (proj / "node_modules").exists():
        return [], [{"file": stem, "component": "-", "error": "no project"}]
    manifest = json.loads(mpath.read_text())
    frames = [m for m in manifest if m.get("kind") == "frame" or m.get("fluid")]
    if not frames:
        return [], []
    d = proj / ".pf-quality"
    d.mkdir(exist_ok=True)
    imports, rows = [], []
    for i, m in enumerate(frames):
        imports.append(f"import * as M{i} from {json.dumps('../' + m['file'].rsplit('.', 1)[0])};")
        rows.append(f"  [{json.dumps(m['ident'])}, (M{i} as any)[{json.dumps(m['ident'])}]],")
    (d / "entry.tsx").write_text(ENTRY % {"imports": "\n".join(imports), "rows": "\n".join(rows)})
    esbuild = proj / "node_modules" / ".bin" / "esbuild"
    base_rows = [{"file": stem, "component": m["ident"], "nodeId": m["nodeId"],
                  "designWidth": round(float(m.get("width") or 0), 1), "results": {}}
                 for m in frames]
    p = sh([str(esbuild), "entry.tsx", "--bundle", "--platform=node", "--format=cjs",
            "--jsx=automatic", "--log-level=error", "--define:process.env.NODE_ENV=\"production\"",
            "--outfile=entry.cjs"], cwd=d, env=env)
    if p.returncode == 0:
        p = sh(["node", "entry.cjs", "bodies.json"], cwd=d, env=env)
    if p.returncode == 0:
        css = proj / "app" / "globals.css"
        p = sh(["node", "-e", CSS_JS, str(css), str(d / "page.css")], cwd=proj, env=env)
    if p.returncode:
        for r in base_rows:
            r["error"] = (p.stderr or p.stdout)[-400:]
        return [], base_rows
    bodies = json.loads((d / "bodies.json").read_text())
    pages = []
    for m, r in zip(frames, base_rows, strict=True):
        body = bodies.get(m["ident"], "!error: missing")
        if body.startswith("!error"):
            r["error"] = body[:300]
            continue
        f = d / f"{m['ident']}.html"
        f.write_text(PAGE % body)
        r["paths"] = {v: k for k, v in (m.get("nodePaths") or {}).get("", {}).items()}
        pages.append({"id": f"{stem}/{m['ident']}", "file": str(f)})
        r["id"] = f"{stem}/{m['ident']}"
    return pages, base_rows


def run_overflow(projects: list[tuple[str, Path]], env: dict[str, str], tmp: Path
                 ) -> list[dict[str, Any]]:
    script = ensure_playwright()
    pages, rows = [], []
    for stem, proj in projects:
        try:
            pg, rs = render_frames(stem, proj, env)
        except Exception as e:
            pg, rs = [], [{"file": stem, "component": "-", "error": f"{type(e).__name__}: {e}"}]
        pages += pg
        rows += rs
    if not pages:
        return rows
    job = tmp / "overflow-job.json"
    job.write_text(json.dumps({"pages": pages, "widths": list(WIDTHS), "chromium": CHROMIUM,
                               "out": str(tmp / "overflow.json")}))
    p = sh(["node", str(script), str(job)], env={**env, "NODE_PATH": str(CACHE / "node_modules")},
           timeout=1800)
    if p.returncode:
        for r in rows:
            r.setdefault("error", "browser: " + (p.stderr or p.stdout)[-300:])
        return rows
    by_id: dict[str, dict[str, Any]] = {}
    for res in json.loads((tmp / "overflow.json").read_text()):
        by_id.setdefault(res["id"], {})[str(res["width"])] = res
    for r in rows:
        got = by_id.get(r.get("id", ""), {})
        paths = r.pop("paths", {})
        for w, res in got.items():
            for o in (res.get("offenders") or []) + (res.get("cutFirst") or []):
                o["figmaNode"] = paths.get(o.get("path"))
            r["results"][w] = res
    return rows


# -------------------------------------------------------------------------------- mutation


def mutate_one(figma: Path, proj: Path, n: int, out: Path) -> None:
    """In a child process: generate with the renderer dropping one node at a time, run the
    generated tests of the changed components (and the unpatched ones) in one vitest run."""
    sys.setrecursionlimit(10000)
    from pf_agents import lower as lw
    from pf_agents.analyze import analyze_source, spec_from_json, spec_to_json
    from pf_agents.figma_client import load_figma_file
    from pf_agents.stages import build_project
    from pf_agents.testgen import test_files
    from pf_agents.tokens import extract_tokens

    spec = spec_from_json(spec_to_json(analyze_source(load_figma_file(str(figma)))))
    dtcg = extract_tokens(spec).dtcg
    base_files, base_comps, _ = build_project(spec, dtcg, False)
    base_tests = test_files([c.manifest for c in base_comps])
    data = json.loads(figma.read_text())
    idx = index_nodes(data)
    roots: list[tuple[str, dict[str, Any]]] = []
    for c in base_comps:
        m = c.manifest
        node = idx.get(m.nodeId)
        if node is None:
            continue
        if m.kind == "componentSet":
            # every resting variant the component renders, the default first
            names = [m.defaultVariant, *[v for v in m.nodePaths if v != m.defaultVariant]]
            kids = {k.get("name"): k for k in node.get("children") or []}
            roots += [(m.ident, kids[v]) for v in names if v in kids]
            continue
        roots.append((m.ident, node))
    picks = pick_mutations(mutation_candidates(roots), n, figma.stem)
    orig = lw.Lowering.lower
    drop: dict[str, str] = {"id": ""}

    def patched(self: Any, node: Any, *a: Any, **k: Any) -> Any:
        if node.id == drop["id"]:
            return None
        return orig(self, node, *a, **k)

    lw.Lowering.lower = patched  # type: ignore[method-assign]
    scratch = proj.parent / "mutants"
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(proj, scratch, symlinks=True, ignore=shutil.ignore_patterns(
        "node_modules", ".next", ".pf-figma", ".fidelity", ".pf-quality", ".vite", "*.test.tsx",
        "*.stories.tsx", "tsconfig.tsbuildinfo"))
    nm = proj / "node_modules"
    (scratch / "node_modules").symlink_to(nm.resolve() if nm.is_symlink() else nm,
                                          target_is_directory=True)
    results = []
    written: dict[str, dict[str, Any]] = {}
    for k, pick in enumerate(picks):
        drop["id"] = pick["node"]
        try:
            files, comps, _ = build_project(spec, dtcg, False)
        except Exception as e:
            results.append({**pick, "outcome": "generator-error", "error": f"{e}"[:200]})
            continue
        tests = test_files([c.manifest for c in comps])
        changed = [c.ident for c in comps
                   if files.get(c.path) != base_files.get(c.path)]
        rec = {**pick, "changed": changed}
        if not changed:
            rec["outcome"] = "no-op"  # the output did not contain the node anyway
            results.append(rec)
            continue
        rec["tests"] = []
        for ident in changed:
            new = f"{ident}__pfqm{k}"
            # the generated source beside the others (its imports are relative to generated/)
            (scratch / "components" / "generated").mkdir(parents=True, exist_ok=True)
            (scratch / "components" / "generated" / f"{new}.tsx").write_text(
                files[f"components/generated/{ident}.tsx"])
            (scratch / "components" / f"{new}.tsx").write_text(
                f'export * from "./generated/{new}";\n')
            (scratch / "components" / f"{new}.test.tsx").write_text(
                rename_test(tests[f"components/{ident}.test.tsx"], ident, new))
            rec["tests"].append(f"components/{new}.test.tsx")
        results.append(rec)
    lw.Lowering.lower = orig  # type: ignore[method-assign]
    # the unpatched generator's tests, to tell a caught drop from a suite that always fails
    for c in base_comps:
        ident = c.ident
        if any(ident in r.get("changed", []) for r in results):
            new = f"{ident}__pfqbase"
            src = base_files[f"components/generated/{ident}.tsx"]
            (scratch / "components" / "generated").mkdir(parents=True, exist_ok=True)
            (scratch / "components" / "generated" / f"{new}.tsx").write_text(src)
            (scratch / "components" / f"{new}.tsx").write_text(
                f'export * from "./generated/{new}";\n')
            (scratch / "components" / f"{new}.test.tsx").write_text(
                rename_test(base_tests[f"components/{ident}.test.tsx"], ident, new))
            written[f"components/{new}.test.tsx"] = {"ident": ident}
    report: dict[str, Any] = {}
    if any(r.get("tests") for r in results):
        rep = scratch / "vitest-report.json"
        # one worker environment for all files: the same results, several times faster
        p = sh([str(scratch / "node_modules" / ".bin" / "vitest"), "run", "--no-isolate",
                "--reporter=json", f"--outputFile={rep}"], cwd=scratch, env=node_env(),
               timeout=900)
        try:
            report = json.loads(rep.read_text())
        except (OSError, json.JSONDecodeError):
            report = {"error": (p.stderr or p.stdout)[-500:]}
    per_file: dict[str, dict[str, Any]] = {}
    for tr in report.get("testResults") or []:
        rel = os.path.relpath(tr.get("name", ""), scratch)
        a = tr.get("assertionResults") or []
        per_file[rel] = {"total": len(a),
                         "failed": sum(1 for x in a if x.get("status") == "failed"),
                         "fileFailed": tr.get("status") == "failed" and not a,
                         "first": next((x.get("fullName") for x in a
                                        if x.get("status") == "failed"), None)}
    base_ok = {written[f]["ident"]: per_file.get(f, {}).get("failed", 1) == 0
               and not per_file.get(f, {}).get("fileFailed") for f in written}
    for r in results:
        if not r.get("tests"):
            continue
        failed = total = 0
        first = None
        for f in r["tests"]:
            pf = per_file.get(f)
            if pf is None:
                continue
            failed += pf["failed"] + (1 if pf["fileFailed"] else 0)
            total += pf["total"]
            first = first or pf["first"]
        r.update({"testsFailed": failed, "testsTotal": total, "firstFailed": first,
                  "baselineGreen": all(base_ok.get(i, False) for i in r["changed"])})
        if not per_file or all(f not in per_file for f in r["tests"]):
            r["outcome"] = "error"
            r["error"] = str(report.get("error", "no vitest result"))[:300]
        else:
            r["outcome"] = "caught" if failed else "missed"
    out.write_text(json.dumps({"picked": len(picks), "results": results,
                               "baseline": base_ok}, indent=1))


def run_mutation(figma: Path, proj: Path, n: int, tmp: Path) -> dict[str, Any]:
    out = tmp / f"mutation-{figma.stem}.json"
    out.unlink(missing_ok=True)
    if not (proj / "node_modules").exists():
        return {"error": "no project"}
    p = sh([sys.executable, __file__, "--mutate", str(figma), "--proj", str(proj),
            "--mutations", str(n), "--mutate-out", str(out)], cwd=ROOT, timeout=1800)
    if not out.exists():
        return {"error": (p.stderr or p.stdout)[-500:]}
    return json.loads(out.read_text())


# ---------------------------------------------------------------------------- performance


def synthetic_file(frames: int = 10, items: int = 50) -> dict[str, Any]:
    """A file of ``frames`` screens of ``items`` rows (frame + text): ~1,000 nodes."""
    out = []
    for f in range(frames):
        kids = []
        for i in range(items):
            kids.append({
                "id": f"{f + 1}:{i + 1}", "name": f"Item {i}", "type": "FRAME",
                "layoutMode": "HORIZONTAL", "itemSpacing": 8, "paddingLeft": 12,
                "paddingRight": 12, "cornerRadius": 4,
                "absoluteBoundingBox": {"x": 0, "y": i * 40, "width": 300, "height": 40},
                "fills": [{"type": "SOLID", "color": {"r": 0.1, "g": 0.2, "b": i / 50, "a": 1}}],
                "children": [{"id": f"{f + 1}:{i + 1001}", "name": "Label", "type": "TEXT",
                              "characters": f"Item {f}.{i}",
                              "style": {"fontFamily": "Inter", "fontSize": 14, "fontWeight": 500,
                                        "lineHeightPx": 20, "lineHeightUnit": "PIXELS"},
                              "absoluteBoundingBox": {"x": 12, "y": i * 40 + 10, "width": 80,
                                                      "height": 20}}]})
        out.append({"id": f"{f + 1}:0", "name": f"Screen {f}", "type": "FRAME",
                    "layoutMode": "VERTICAL", "itemSpacing": 4,
                    "absoluteBoundingBox": {"x": 0, "y": 0, "width": 320, "height": 2000},
                    "children": kids})
    return {"name": "perf", "document": {"id": "0:0", "type": "DOCUMENT", "name": "d",
                                         "children": [{"id": "0:1", "type": "CANVAS",
                                                       "name": "p", "children": out}]}}


def perf_1000() -> dict[str, Any]:
    """analyze + generate of the synthetic 1,000-node file (best and median of 3, in-process,
    imports excluded)."""
    from pf_agents.analyze import analyze_source
    from pf_agents.figma_client import parse_figma_json
    from pf_agents.stages import build_project
    from pf_agents.tokens import extract_tokens

    raw = json.dumps(synthetic_file())
    times = []
    nodes = comps = 0
    for _ in range(3):
        t = time.perf_counter()
        spec = analyze_source(parse_figma_json(json.loads(raw)))
        ts = extract_tokens(spec)
        _files, cs, _ = build_project(spec, ts.dtcg)
        times.append(time.perf_counter() - t)
        nodes, comps = spec.nodeCount, len(cs)
    return {"nodes": nodes, "components": comps, "secondsBest": round(min(times), 3),
            "secondsMedian": round(statistics.median(times), 3), "target": 3.0}


# --------------------------------------------------------------------------------- report


def print_report(rows: list[dict[str, Any]], overflow: list[dict[str, Any]],
                 perf: dict[str, Any] | None) -> None:
    print("\n== 1. fidelity (../shared/tools/fidelity, Chromium vs Figma boxes) ==")
    t = []
    for r in rows:
        fid = (r.get("fidelity") or {})
        s = fid.get("summary") or {}
        fonts = r.get("fonts") or {}
        fb = fonts.get("fallback") or []
        target = TOL_FALLBACK if fb else TOL_INSTALLED
        w4 = s.get("within4")
        verdict = "-" if w4 is None else ("ok" if w4 >= target else f"<{target:g}")
        t.append([r["file"], r["kind"],
                  f"{s.get('matched', '-')}/{s.get('nodes', '-')}",
                  fmt(w4, "%"), verdict, fmt(s.get("rootWithin4"), "%"),
                  fmt(s.get("textShown"), "%"), fmt(s.get("pageTextShown"), "%"),
                  fmt(s.get("colorOk"), "%"),
                  ("fallback: " + ", ".join(fb)) if fb else
                  ("installed" if fonts.get("installed") else "no text"),
                  (fid.get("error") or "")[:40]])
    print(table(["file", "kind", "matched", "in 4px", "target", "roots 4px", "text shown",
                 "texts on page", "colour ok", "fonts", "error"], t, right=range(2, 9)))

    print("\n== 2. code and qa (generated project) ==")
    t = []
    for r in rows:
        q = r.get("qa") or {}
        comps = r.get("components") or []
        big = max(comps, key=lambda c: c["lines"]) if comps else None
        tests = f"{fmt(q.get('testsPassed'))}/{fmt(q.get('testsTotal'))}" if q else "-"
        st = r.get("stages") or {}
        failed = [k for k, v in st.items() if v.get("outcome") != "Succeeded"]
        t.append([r["file"], len(comps),
                  sum(c["lines"] for c in comps),
                  f"{big['lines']} {big['ident'][:24]}" if big else "-",
                  len(r.get("idDerivedTokens") or []), len(r.get("idDerivedClasses") or []),
                  r.get("unreproduced", "-"), r.get("unreproducedNodes", "-"),
                  fmt(q.get("eslint")) if q else "-",
                  fmt(q.get("prettier")) if q else "-",
                  fmt(q.get("tsc")) if q else "-", tests,
                  fmt(q.get("build")) if q else "-",
                  ",".join(failed) + (" TRACEBACK" if r.get("traceback") else "")])
    print(table(["file", "comps", "lines", "largest (lines ident)", "id tokens", "id classes",
                 "unrepro", "nodes", "eslint", "prettier", "tsc", "tests", "build",
                 "stage failed"], t, right=(1, 2, 4, 5, 6, 7)))
    gov = next((c for r in rows if r["file"] == "govuk-button" for c in r.get("components") or []
                if c["ident"] == "Button"), None)
    if gov:
        print(f"GOV.UK Button: {gov['lines']} lines (target <= "
              f"{GOVUK_BUTTON_LINES_BEFORE // 3}, a third of {GOVUK_BUTTON_LINES_BEFORE})")

    print("\n== 3. not reproduced, by property (.pf-figma/unreproduced.json) ==")
    t = [[r["file"], r.get("unreproduced", 0),
          ", ".join(f"{k} {v}" for k, v in (r.get("unreproducedByProperty") or {}).items())[:110]]
         for r in rows if r.get("unreproduced")]
    print(table(["file", "rows", "properties"], t, right=(1,)) if t else "(none)")

    print("\n== 4. horizontal overflow of top-level frames (document scrollWidth - viewport) ==")
    print(overflow_table(overflow) if overflow else "(no top-level frames)")
    counts = overflow_counts(overflow)
    print("frames overflowing: " + ", ".join(f"{w}px {c}/{len(overflow)}"
                                             for w, c in counts.items()))
    for r in overflow:
        if r.get("error"):
            print(f"  ! {r['file']}/{r['component']}: {r['error'][:200]}")

    print("\n== 5. mutation: the renderer drops one visible node; do the generated tests fail? ==")
    t = []
    for r in rows:
        mu = r.get("mutation") or {}
        res = mu.get("results") or []
        oc = Counter(x.get("outcome") for x in res)
        share = [x["testsFailed"] / x["testsTotal"] for x in res
                 if x.get("outcome") in ("caught", "missed") and x.get("testsTotal")]
        t.append([r["file"], len(res), oc.get("caught", 0), oc.get("missed", 0),
                  oc.get("no-op", 0), oc.get("error", 0) + oc.get("generator-error", 0),
                  fmt(pct(oc.get("caught", 0), oc.get("caught", 0) + oc.get("missed", 0)), "%"),
                  fmt(round(100 * statistics.mean(share), 1) if share else None, "%"),
                  (mu.get("error") or "")[:50]])
    print(table(["file", "dropped", "caught", "missed", "no-op", "error", "caught %",
                 "tests failing", "error"], t, right=range(1, 8)))
    print("missed (node dropped, every generated test still green) and no-op (the output did "
          "not contain the node):")
    for r in rows:
        for x in (r.get("mutation") or {}).get("results") or []:
            if x.get("outcome") in ("missed", "no-op", "error", "generator-error"):
                print(f"  {x['outcome']:<7} {r['file']:<40} {x['component'][:24]:<24} "
                      f"{x['node']:<14} {x['type']:<10} {x['name'][:40]!r}")

    if perf:
        print(f"\n== 6. performance: analyze + generate of a {perf['nodes']}-node synthetic file "
              f"({perf['components']} components): best {perf['secondsBest']:.2f} s, median "
              f"{perf['secondsMedian']:.2f} s (target <= 3 s) ==")

    if any(r.get("visual") for r in rows):
        print("\n== 7. the visual stage's own scores beside the instrument's (within 4 px, on "
              "the instrument's renders and matched nodes; target: within 2 pp) ==")
        print(visual_table(rows))


# -------------------------------------------------------------------- visual stage vs instrument


def _fidelity_compare() -> Any:
    """hack/fidelity_compare.py as a module (one comparison, used by both tools)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fidelity_compare",
                                                  ROOT / "hack" / "fidelity_compare.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_visual_stage(proj: Path, tmp: Path) -> dict[str, Any]:
    """The pipeline's visual stage on a generated project (its artifacts in .pf-figma): the
    report's summary, its seconds, and the report's path (for the comparison)."""
    sys.path.insert(0, str(ROOT))
    from pf_agents.errors import StageError
    from pf_agents.files import unpack_files
    from pf_agents.visual import run_visual

    paths = {n: artifact(proj, n) for n in ("project.tar.gz", "manifest.json",
                                            "design-spec.json")}
    if not all(paths.values()):
        return {"error": "no generated project (" + ", ".join(
            n for n, v in paths.items() if not v) + " missing)"}
    work = tmp / "visual" / proj.parent.name
    if work.exists():
        shutil.rmtree(work)
    files = unpack_files(paths["project.tar.gz"].read_bytes())  # type: ignore[union-attr]
    t = time.time()
    try:
        report = run_visual(files, json.loads(paths["manifest.json"].read_text()),  # type: ignore[union-attr]
                            json.loads(paths["design-spec.json"].read_text()),  # type: ignore[union-attr]
                            work / "project", work, work / "preview")
    except StageError as e:
        return {"error": f"{e.reason}: {e.message}"[:300], "seconds": round(time.time() - t, 1)}
    return {"summary": report["summary"], "seconds": round(time.time() - t, 1),
            "report": str(work / "preview" / "visual-report.json")}


def visual_vs_instrument(instrument_json: Path, report_json: Path) -> dict[str, Any]:
    """Within-4-px shares of the instrument and of the visual stage on the instrument's
    population (hack/fidelity_compare.compare), overall and on its structure-paired nodes."""
    fc = _fidelity_compare()
    inst = json.loads(instrument_json.read_text())
    rep = json.loads(report_json.read_text())
    all_theirs, theirs, ours, n, missing = fc.compare(inst, rep)
    _, s_theirs, s_ours, s_n, _ = fc.compare(inst, rep, how="structure")
    diff = None if theirs is None or ours is None else round(ours - theirs, 2)
    return {"instrumentAll": all_theirs, "instrument": theirs, "visual": ours, "nodes": n,
            "notMapped": missing, "diffPP": diff,
            "ok": all_theirs is None or (diff is not None and abs(diff) <= fc.TOLERANCE_PP),
            "structure": {"instrument": s_theirs, "visual": s_ours, "nodes": s_n}}


def visual_table(rows: list[dict[str, Any]]) -> str:
    def pc(v: float | None) -> str:
        return fmt(None if v is None else round(v, 1), "%")

    t = []
    for r in rows:
        v = r.get("visual") or {}
        s = v.get("summary") or {}
        c = r.get("visualVsInstrument") or {}
        st = c.get("structure") or {}
        d = c.get("diffPP")
        t.append([r["file"], pc(100 * s["fidelity"] if "fidelity" in s else None),
                  f"{s.get('within4', '-')}/{s.get('nodes', '-')}", s.get("renders", "-"),
                  pc(c.get("instrumentAll")), pc(c.get("instrument")), pc(c.get("visual")),
                  "-" if d is None else f"{d:+.1f}", c.get("nodes", "-"), c.get("notMapped", "-"),
                  ("yes" if c.get("ok") else "NO") if c else "-",
                  f"{pc(st.get('instrument'))} / {pc(st.get('visual'))} ({st.get('nodes', 0)})"
                  if c else "-",
                  fmt(v.get("seconds")), (v.get("error") or c.get("error") or "")[:40]])
    return table(["file", "visual fidelity", "within4/nodes", "renders", "instr. all",
                  "instr. common", "visual common", "diff pp", "common", "not mapped",
                  "within 2 pp", "structure-paired instr./visual (n)", "seconds", "error"],
                 t, right=range(1, 13))


# ------------------------------------------------------------------------------------ main


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="only files whose name contains this")
    ap.add_argument("--work", default="/tmp/pf-quality", help="generated projects and scratch")
    ap.add_argument("--reuse", action="store_true",
                    help="keep projects in --work that already have a qa report")
    ap.add_argument("--mutations", type=int, default=6, help="nodes dropped per file")
    ap.add_argument("--skip", default="",
                    help="comma list: fidelity,visual,overflow,mutation,perf")
    ap.add_argument("--mutate", help=argparse.SUPPRESS)
    ap.add_argument("--proj", help=argparse.SUPPRESS)
    ap.add_argument("--mutate-out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.mutate:
        mutate_one(Path(a.mutate), Path(a.proj), a.mutations, Path(a.mutate_out))
        return 0
    skip = set(filter(None, a.skip.split(",")))
    work = Path(a.work)
    tmp = work / ".quality"
    tmp.mkdir(parents=True, exist_ok=True)
    files = discover(a.only)
    if not files:
        print("no Figma files found", file=sys.stderr)
        return 2
    t0 = time.time()
    env = node_env()
    fams = installed_families()
    commit = sh(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).stdout.strip()
    dirty = sh(["git", "status", "--porcelain", "--", "agents"], cwd=ROOT).stdout.split("\n")
    rows: list[dict[str, Any]] = []
    for kind, f in files:
        proj = work / f.stem / "proj"
        print(f"[{time.time() - t0:6.0f}s] generate {f.name}", file=sys.stderr, flush=True)
        gen = generate(f, proj, a.reuse)
        row: dict[str, Any] = {"file": f.stem, "kind": kind, "path": str(f), "generate": gen,
                               "traceback": bool(gen.get("traceback"))}
        log = proj.parent / "run.log"
        if log.exists() and "Traceback (most recent call last)" in log.read_text():
            row["traceback"] = True
        row.update(static_metrics(f, proj, fams))
        rows.append(row)
    if "fidelity" not in skip:
        print(f"[{time.time() - t0:6.0f}s] fidelity ({len(files)} files)", file=sys.stderr,
              flush=True)
        fid = run_fidelity([f for _, f in files], work, tmp / "fidelity")
        for r in rows:
            r["fidelity"] = fid.get(r["file"])
    if "visual" not in skip:
        for r in rows:
            print(f"[{time.time() - t0:6.0f}s] visual stage {r['file']}", file=sys.stderr,
                  flush=True)
            r["visual"] = run_visual_stage(work / r["file"] / "proj", tmp)
            inst = tmp / "fidelity" / f"{r['file']}.json"
            if r["visual"].get("report") and inst.exists():
                try:
                    r["visualVsInstrument"] = visual_vs_instrument(inst,
                                                                   Path(r["visual"]["report"]))
                except (KeyError, ValueError) as e:
                    r["visualVsInstrument"] = {"error": f"compare failed: {e}"[:200]}
    overflow: list[dict[str, Any]] = []
    if "overflow" not in skip:
        print(f"[{time.time() - t0:6.0f}s] overflow", file=sys.stderr, flush=True)
        overflow = run_overflow([(r["file"], work / r["file"] / "proj") for r in rows], env, tmp)
    if "mutation" not in skip and a.mutations > 0:
        for (_, f), r in zip(files, rows, strict=True):
            print(f"[{time.time() - t0:6.0f}s] mutation {f.name}", file=sys.stderr, flush=True)
            r["mutation"] = run_mutation(f, work / f.stem / "proj", a.mutations, tmp)
    perf = None
    if "perf" not in skip:
        perf = perf_1000()
    print_report(rows, overflow, perf)
    out = ROOT / "bench" / "results" / f"quality-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "commit": commit,
                               "agentsDirty": [d for d in dirty if d],
                               "seconds": round(time.time() - t0, 1), "files": rows,
                               "overflow": overflow, "performance": perf,
                               "fontsInstalled": sorted(f for f in fams if re.search(
                                   r"inter|roboto", f, re.I))}, indent=1, ensure_ascii=False))
    print(f"\nresults: {out.relative_to(ROOT)} ({time.time() - t0:.0f} s; generator at {commit}"
          f"{' + uncommitted agents/ changes' if any(dirty) else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""visual: render every generated component and variant in headless Chromium and score it
against the design (docs/agents.md, "visual").

Steps (each one process, all local, no network):

1. ``plan_cases`` (pure): one *case* per component and Figma variant that generate's manifest maps
   (``nodePaths``: variant name -> Figma node id -> element path from the root, by
   construction), plus one per interaction-state check (``stateChecks``: the pseudo-class is
   forced on the root through the DevTools protocol; ``:disabled`` is rendered with
   ``disabled``).
2. ``templates/visual/prepare.mjs`` (in the project, with its own node_modules as qa links them):
   bundles an entry that imports every component with esbuild, renders each case with
   ``react-dom/server`` (a component that throws gets its own error), compiles the Tailwind CSS.
3. ``build_page`` (pure): one static page, each case in a frame as wide as its Figma root.
4. ``templates/visual/capture.mjs`` (playwright-core driving Debian's ``/usr/bin/chromium``):
   measures the mapped elements (box relative to the root, text, font size and weight, colours
   normalised to sRGB), runs axe-core, forces the states, takes a PNG per case, then measures
   horizontal overflow at 375, 768 and 1280 px.
5. ``score`` (pure): per case and component: share of visible mapped nodes within 4 px of the
   Figma ``absoluteBoundingBox`` (relative to the root), texts shown, font size/weight, colours,
   overflow widths, axe serious + critical violations; the worst nodes with their error in px.

The stage's own npm tools (playwright-core, axe-core; ``TOOLS_PACKAGE``) are installed once and
cached like qa's (``qa.ensure_node_modules``, or baked into the agent image: ``--prebuild``).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import tracing
from .analyze import parse_variant_name
from .errors import StageError

WIDTHS = (375, 768, 1280)
TOLERANCE_PX = 4.0
FONT_SIZE_TOLERANCE = 0.5
COLOR_TOLERANCE = 8  # per sRGB channel, 0..255
ALPHA_TOLERANCE = 0.05
WORST_NODES = 5
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
)
A11Y_IMPACTS = ("serious", "critical")
#: the stage's own tools (no transitive dependencies: exact pins are the whole lock)
#: pixelmatch (pixel similarity against Figma's renders) needs pngjs, pinned here in its range
TOOLS_PACKAGE: dict[str, Any] = {
    "dependencies": {
        "playwright-core": "1.65.1",
        "axe-core": "4.14.1",
        "pixelmatch": "8.0.0",
        "pngjs": "7.0.0",
    },
    "devDependencies": {},
}
TEMPLATES = Path(__file__).parent / "templates" / "visual"
DEFAULT_TIMEOUT = 300  # seconds for the browser step (PF_VISUAL_TIMEOUT)
PREPARE_TIMEOUT = 300
PIXELS_TIMEOUT = 120  # seconds for the pixel comparison (pixels.mjs)
#: pixelmatch's threshold: the largest perceptual colour distance (0..1) of pixels called equal
PIXEL_THRESHOLD = 0.1
#: artifact names of Figma's renders written by analyze (``figma-renders/<node-id>.png`` and an
#: index JSON; a store name cannot hold "/", so "figma-renders-<id>.png" and an archive
#: ``figma-renders.tar.gz`` of the same files are read too)
RENDERS_PREFIX = "figma-renders"
LAUNCH_TIMEOUT = 30
STATE_CLASSES = {
    "hover": "hover",
    "focus": "focus",
    "focus-visible": "focus-visible",
    "active": "active",
    "focus-within": "focus-within",
    "disabled": "disabled",
}
VECTOR_TYPES = frozenset(
    {"VECTOR", "BOOLEAN_OPERATION", "STAR", "LINE", "ELLIPSE", "REGULAR_POLYGON"}
)


# ------------------------------------------------------------------------------------ planning


@dataclass
class Case:
    """One render: a component with props that show one Figma variant (or state)."""

    id: str
    component: str  # manifest ident (the export name)
    file: str  # components/X.tsx
    variant: str  # Figma variant name ("" for a component that is not a set)
    root: str  # Figma node id of the variant (or component) rendered
    props: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)  # Figma node id -> element path
    state: str | None = None  # forced pseudo-class (hover, focus-visible, ...) or disabled
    width: float = 0.0  # the Figma root's width (design width)
    height: float = 0.0
    texts: dict[str, str] = field(default_factory=dict)  # Figma node id -> text expected


def _bbox(node: dict[str, Any] | None) -> tuple[float, float, float, float] | None:
    bb = (node or {}).get("absoluteBoundingBox")
    if not bb:
        return None
    return (
        float(bb.get("x", 0.0)),
        float(bb.get("y", 0.0)),
        float(bb.get("width", 0.0)),
        float(bb.get("height", 0.0)),
    )


def node_index(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Figma node id -> node (plain JSON of the design spec)."""
    out: dict[str, dict[str, Any]] = {}
    stack = list(spec.get("roots", []))
    while stack:
        n = stack.pop()
        out[str(n.get("id", ""))] = n
        stack.extend(n.get("children") or [])
    return out


def _option_codes(m: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """prop ident -> Figma option -> code value, from the manifest's variant checks."""
    by_ident = {p["ident"]: p for p in m.get("props", []) if p.get("kind") == "variant"}
    codes: dict[str, dict[str, Any]] = {ident: {} for ident in by_ident}
    for chk in m.get("variantChecks", []):
        values = parse_variant_name(chk.get("expect", ""))
        for ident, code in chk.get("props", {}).items():
            prop = by_ident.get(ident)
            if prop is not None and prop["name"] in values:
                codes[ident].setdefault(values[prop["name"]], code)
    return codes


def plan_cases(
    manifests: list[dict[str, Any]], index: dict[str, dict[str, Any]]
) -> tuple[list[Case], list[dict[str, str]]]:
    """Every (component, variant) the manifest maps, then every state check. Returns the cases
    and the variants that could not be planned (with why)."""
    cases: list[Case] = []
    skipped: list[dict[str, str]] = []
    for m in manifests:
        ident, file = m["ident"], m["file"]
        texts: dict[str, str] = {}
        by_variant: dict[str | None, dict[str, str]] = {}
        for t in m.get("designTexts", []):
            by_variant.setdefault(t.get("variantName"), {})[t["node"]] = t["text"]
        node_paths: dict[str, dict[str, str]] = m.get("nodePaths") or {}
        if not node_paths:  # an older manifest: the root only
            root = m["nodeId"]
            if m.get("kind") == "componentSet":
                name = m.get("defaultVariant") or ""
                kids = index.get(root, {}).get("children") or []
                root = next((k["id"] for k in kids if k.get("name") == name), root)
                node_paths = {name: {root: ""}}
            else:
                node_paths = {"": {root: ""}}
        codes = _option_codes(m)
        variant_props = [p for p in m.get("props", []) if p.get("kind") == "variant"]
        # interaction states are rendered below, by forcing the pseudo-class on their resting
        # variant; nodePaths maps their nodes too
        states = {sc.get("variant") for sc in m.get("stateChecks", [])}
        for vname, paths in node_paths.items():
            if vname in states:
                continue
            root_id = next((nid for nid, p in paths.items() if p == ""), None)
            if root_id is None:
                skipped.append(
                    {"component": ident, "variant": vname, "why": "no root in nodePaths"}
                )
                continue
            props: dict[str, Any] = {}
            missing = None
            values = parse_variant_name(vname) if vname else {}
            for p in variant_props:
                opt = values.get(p["name"])
                if opt is None:
                    continue
                if opt in codes.get(p["ident"], {}):
                    props[p["ident"]] = codes[p["ident"]][opt]
                elif opt != p.get("default"):
                    missing = f"no code value known for {p['name']}={opt}"
                    break
            if missing:
                skipped.append({"component": ident, "variant": vname, "why": missing})
                continue
            bb = _bbox(index.get(root_id))
            texts = dict(by_variant.get(None, {})) if vname in ("", m.get("defaultVariant")) else {}
            texts.update(by_variant.get(vname, {}))
            cases.append(
                Case(
                    id=f"c{len(cases)}",
                    component=ident,
                    file=file,
                    variant=vname,
                    root=root_id,
                    props=props,
                    paths=dict(paths),
                    width=bb[2] if bb else 0.0,
                    height=bb[3] if bb else 0.0,
                    texts=texts,
                )
            )
        for sc in m.get("stateChecks", []):
            pseudo = str(sc.get("pseudoClass", "")).lstrip(":")
            state = STATE_CLASSES.get(pseudo)
            if state is None:
                skipped.append(
                    {
                        "component": ident,
                        "variant": sc.get("variant", ""),
                        "why": f"pseudo-class {pseudo!r} cannot be forced",
                    }
                )
                continue
            props = dict(sc.get("props") or {})
            if state == "disabled":
                props["disabled"] = True
            bb = _bbox(index.get(sc["nodeId"]))
            paths = node_paths.get(sc["variant"]) or {sc["nodeId"]: ""}
            cases.append(
                Case(
                    id=f"c{len(cases)}",
                    component=ident,
                    file=file,
                    variant=sc["variant"],
                    root=sc["nodeId"],
                    props=props,
                    paths=dict(paths),
                    state=state,
                    width=bb[2] if bb else 0.0,
                    height=bb[3] if bb else 0.0,
                )
            )
    return cases, skipped


# ------------------------------------------------------------------------------------ the page

HARNESS_CSS = """
html, body { margin: 0; padding: 0; background: #fff; }
.pfv-case { display: block; padding: 0 0 24px 0; }
.pfv-frame { display: flex; flex-direction: column; box-sizing: border-box; }
"""


def build_page(cases: list[Case], fragments: dict[str, dict[str, Any]], css: str) -> str:
    """The static page the browser opens: each rendered case in a frame as wide as its Figma
    root, in a flex column like the generated app's page."""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>pf-figma visual</title>",
        f"<style>{css}</style>",
        f"<style>{HARNESS_CSS}</style></head><body><main>",
    ]
    for c in cases:
        frag = fragments.get(c.id) or {}
        if "html" not in frag:
            continue
        width = max(1, round(c.width)) if c.width else 0
        style = f"width:{width}px" if width else "width:auto"
        cls = "pfv-case pfv-state" if c.state else "pfv-case"
        parts.append(
            f'<section class="{cls}" data-case="{c.id}">'
            f'<div class="pfv-frame" data-width="{width or ""}" style="{style}">'
            f"{frag['html']}</div></section>"
        )
    parts.append("</main></body></html>")
    return "\n".join(parts)


def render_entry(cases: list[Case], project: Path) -> str:
    """TSX entry for prepare.mjs (bundled with the project's node_modules as the module path):
    imports each component lazily (a module that throws on import
    fails only its own cases) and renders each case to static markup."""
    files = sorted({c.file for c in cases})
    lines = [
        'import * as React from "react";',
        'import { renderToStaticMarkup } from "react-dom/server";',
        "",
        "const loaders: Record<string, () => Promise<Record<string, unknown>>> = {",
    ]
    for f in files:
        target = str((project / f).resolve()).replace(os.sep, "/")
        lines.append(f"  {json.dumps(f)}: () => import({json.dumps(target)}),")
    lines.append("};")
    data = [[c.id, c.file, c.component, c.props] for c in cases]
    lines += [
        f"const cases: [string, string, string, Record<string, unknown>][] = {json.dumps(data)};",
        "",
    ]
    lines.append((TEMPLATES / "render-all.ts").read_text())
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ scoring


def _norm(s: str) -> str:
    return " ".join(str(s).split())


def _expected_color(node: dict[str, Any]) -> tuple[float, float, float, float] | None:
    fills = [f for f in node.get("fills") or [] if f.get("visible", True)]
    # the spec leaves out defaults (pydantic exclude_defaults): type SOLID, channels 0, alpha 1
    if len(fills) != 1 or fills[0].get("type", "SOLID") != "SOLID" or "color" not in fills[0]:
        return None
    c, op = fills[0]["color"], float(fills[0].get("opacity", 1.0))
    return (
        float(c.get("r", 0)) * 255,
        float(c.get("g", 0)) * 255,
        float(c.get("b", 0)) * 255,
        float(c.get("a", 1.0)) * op,
    )


def _color_ok(want: tuple[float, ...], got: list[float] | None) -> bool:
    if not got:
        return False
    if want[3] <= ALPHA_TOLERANCE and got[3] <= ALPHA_TOLERANCE:
        return True
    return (
        all(abs(want[i] - got[i]) <= COLOR_TOLERANCE for i in range(3))
        and abs(want[3] - got[3]) <= ALPHA_TOLERANCE
    )


def design_nodes(index: dict[str, dict[str, Any]], root: str) -> int:
    """Visible nodes in the Figma subtree of ``root`` (hidden subtrees left out)."""
    count, stack = 0, [index.get(root)]
    while stack:
        n = stack.pop()
        if n is None or n.get("visible", True) is False:
            continue
        count += 1
        stack.extend(n.get("children") or [])
    return count


def transparent_nodes(index: dict[str, dict[str, Any]], root: str) -> set[str]:
    """Nodes in the subtree of ``root`` that the design itself draws fully transparent (their
    ``opacity`` or an ancestor's is 0, below ``root``): the browser rightly shows them
    invisible, so their box is measured without asking them to be visible."""
    out: set[str] = set()
    stack: list[tuple[dict[str, Any] | None, bool]] = [(index.get(root), False)]
    while stack:
        n, clear = stack.pop()
        if n is None:
            continue
        clear = clear or float(n.get("opacity", 1.0)) <= 0.0
        if clear:
            out.add(str(n.get("id", "")))
        stack.extend((c, clear) for c in n.get("children") or [])
    return out


def score_case(
    case: Case, measured: dict[str, Any] | None, index: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Scores of one render against the design (pure)."""
    out: dict[str, Any] = {
        "component": case.component,
        "variant": case.variant,
        "state": case.state,
        "figmaNode": case.root,
        "props": case.props,
    }
    if measured is None or "error" in measured:
        out["error"] = (measured or {}).get("error", "not rendered")
        out.update({"nodes": 0, "within4": 0, "fidelity": 0.0})
        return out
    root_bb = _bbox(index.get(case.root))
    nodes = total = within = 0
    errors: list[dict[str, Any]] = []
    texts_total = texts_shown = 0
    size_total = size_ok = weight_ok = 0
    colors_total = colors_ok = 0
    dom_nodes = measured.get("nodes") or {}
    transparent = transparent_nodes(index, case.root)
    for nid in case.paths:
        fn = index.get(nid)
        bb = _bbox(fn)
        if fn is None or bb is None or root_bb is None or fn.get("visible", True) is False:
            continue
        total += 1
        dom = dom_nodes.get(nid)
        fig = [bb[0] - root_bb[0], bb[1] - root_bb[1], bb[2], bb[3]]
        row: dict[str, Any] = {
            "node": nid,
            "name": str(fn.get("name", ""))[:60],
            "type": fn.get("type"),
            "figma": [round(v, 2) for v in fig],
        }
        is_text = fn.get("type") == "TEXT"
        if is_text:
            texts_total += 1
        if dom is None or not (dom.get("visible") or nid in transparent):
            row.update({"err": None, "why": "missing" if dom is None else "hidden"})
            errors.append(row)
            continue
        nodes += 1
        err = max(abs(fig[i] - float(dom["box"][i])) for i in range(4))
        row.update({"dom": dom["box"], "err": round(err, 2)})
        if err <= TOLERANCE_PX:
            within += 1
        errors.append(row)
        want_color = _expected_color(fn)
        if is_text:
            want = case.texts.get(nid, fn.get("characters", ""))
            if _norm(dom.get("text", "")) == _norm(want):
                texts_shown += 1
            else:
                row["text"] = {"want": _norm(want)[:80], "got": _norm(dom.get("text", ""))[:80]}
            style = fn.get("style")
            if style is not None:
                size_total += 1
                want_size = float(style.get("fontSize", 16.0))
                if abs(want_size - float(dom.get("fontSize", 0))) <= FONT_SIZE_TOLERANCE:
                    size_ok += 1
                else:
                    row["fontSize"] = {"want": want_size, "got": dom.get("fontSize")}
                if float(style.get("fontWeight", 400)) == float(dom.get("fontWeight", 0)):
                    weight_ok += 1
                else:
                    row["fontWeight"] = {
                        "want": style.get("fontWeight", 400),
                        "got": dom.get("fontWeight"),
                    }
            got = dom.get("color")
        elif fn.get("type") in VECTOR_TYPES and dom.get("svgFill"):
            got = dom.get("svgFill")
        else:
            got = dom.get("background")
        if want_color is not None:
            colors_total += 1
            if _color_ok(want_color, got):
                colors_ok += 1
            else:
                row["color"] = {"want": [round(v, 1) for v in want_color], "got": got}
    worst = sorted(errors, key=lambda r: (r["err"] is not None, -(r["err"] or 0.0)))
    worst = [r for r in worst if r["err"] is None or r["err"] > TOLERANCE_PX or len(r) > 6][
        :WORST_NODES
    ]
    out.update(
        {
            "nodes": total,
            "rendered": nodes,
            "within4": within,
            "fidelity": round(within / total, 4) if total else 1.0,
            # how much of the design the manifest maps (the rest is not scored)
            "designNodes": design_nodes(index, case.root),
            "texts": {"shown": texts_shown, "total": texts_total},
            "fonts": {"sizeOk": size_ok, "weightOk": weight_ok, "total": size_total},
            "colors": {"ok": colors_ok, "total": colors_total},
            "worst": worst,
            # every mapped node's error in px (None: not shown), for comparisons
            "errors": {r["node"]: r["err"] for r in errors},
        }
    )
    out["images"] = measured.get("images", 0)
    out["brokenImages"] = [src.rsplit("/", 1)[-1] for src in measured.get("brokenImages", [])][
        :WORST_NODES
    ]
    if case.variant and measured.get("variant") not in (None, case.variant) and not case.state:
        out["variantMismatch"] = measured.get("variant")
    return out


def score(
    cases: list[Case],
    capture: dict[str, Any],
    fragments: dict[str, dict[str, Any]],
    index: dict[str, dict[str, Any]],
    widths: tuple[int, ...] = WIDTHS,
) -> dict[str, Any]:
    """The visual report (pure): per case, per component, and the pipeline's totals."""
    measured = capture.get("cases") or {}
    overflow = capture.get("overflow") or {}
    a11y: dict[str, list[dict[str, Any]]] = {}
    for v in capture.get("axe") or []:
        if v.get("impact") in A11Y_IMPACTS and v.get("case"):
            a11y.setdefault(v["case"], []).append(v)
    by_comp: dict[str, dict[str, Any]] = {}
    rows = []
    for c in cases:
        frag = fragments.get(c.id) or {}
        m = measured.get(c.id)
        if "error" in frag:
            m = {"error": frag["error"]}
        row = score_case(c, m, index)
        row["case"] = c.id
        ov = {str(w): overflow.get(str(w), {}).get(c.id) for w in ("design", *widths)}
        row["overflow"] = {w: px for w, px in ov.items() if px is not None and px > 1.0}
        row["a11y"] = [
            {k: v[k] for k in ("rule", "impact", "help", "html")} for v in a11y.get(c.id, [])
        ]
        if m is not None and m.get("shotError"):
            row["shotError"] = m["shotError"]
        elif "error" not in row:
            row["shot"] = shot_name(c)
        rows.append(row)
        comp = by_comp.setdefault(
            c.component,
            {
                "component": c.component,
                "file": c.file,
                "variants": 0,
                "nodes": 0,
                "within4": 0,
                "texts": {"shown": 0, "total": 0},
                "a11yViolations": 0,
                "overflowWidths": [],
                "errors": [],
            },
        )
        comp["variants"] += 1
        comp["nodes"] += row["nodes"]
        comp["within4"] += row["within4"]
        if "texts" in row:
            comp["texts"]["shown"] += row["texts"]["shown"]
            comp["texts"]["total"] += row["texts"]["total"]
        comp["a11yViolations"] += len(row["a11y"])
        for w in row["overflow"]:
            if w not in comp["overflowWidths"]:
                comp["overflowWidths"].append(w)
        if "error" in row:
            comp["errors"].append(
                {"variant": c.variant, "state": c.state, "error": str(row["error"])[:300]}
            )
    for comp in by_comp.values():
        comp["fidelity"] = (
            round(comp["within4"] / comp["nodes"], 4)
            if comp["nodes"]
            else (0.0 if comp["errors"] else 1.0)
        )
    nodes = sum(r["nodes"] for r in rows)
    within = sum(r["within4"] for r in rows)
    t_shown = sum(r.get("texts", {}).get("shown", 0) for r in rows)
    t_total = sum(r.get("texts", {}).get("total", 0) for r in rows)
    ow = sorted({w for r in rows for w in r["overflow"] if w != "design"}, key=int)
    components = sorted(by_comp.values(), key=lambda c: (c["fidelity"], c["component"]))
    summary = {
        "fidelity": round(within / nodes, 4) if nodes else 0.0,
        "textsShown": round(t_shown / t_total, 4) if t_total else 1.0,
        "a11yViolations": sum(len(r["a11y"]) for r in rows),
        "overflowWidths": [int(w) for w in ow],
        "components": len(by_comp),
        "renders": len(rows),
        "errors": sum(1 for r in rows if "error" in r),
        # <img>s the page could not load (a downloaded image fill not shown): names per render
        "brokenImages": sum(len(r.get("brokenImages", [])) for r in rows),
        "nodes": nodes,
        "within4": within,
        "designNodes": sum(r.get("designNodes", 0) for r in rows if r.get("state") is None),
        "mappedNodes": sum(r["nodes"] for r in rows if r.get("state") is None),
        "worstComponents": [
            {"component": c["component"], "fidelity": c["fidelity"]} for c in components[:5]
        ],
    }
    return {
        "v": 1,
        "tolerancePx": TOLERANCE_PX,
        "widths": list(widths),
        "summary": summary,
        "components": components,
        "renders": rows,
    }


# ------------------------------------------------------------------------------------ pixels


def _safe_id(nid: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", nid).strip("-")


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk; None when ``data`` is not a PNG."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@dataclass
class FigmaRenders:
    """Figma's own renders of design nodes (``GET /v1/images/:key?ids=...&format=png``, fetched
    by analyze, the stage that holds the token): PNG bytes by node id; ``scales`` by node id
    when analyze's index records the ``scale`` it asked for (else the scale is inferred from
    the PNG's width against the node's). ``problems``: what could not be used, and why."""

    pngs: dict[str, bytes] = field(default_factory=dict)
    scales: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def for_node(self, nid: str) -> tuple[bytes, float | None] | None:
        for key in (nid, _safe_id(nid)):
            if key in self.pngs:
                return self.pngs[key], self.scales.get(key)
        return None


MAX_RENDER_PIXELS = 25_000_000  # a larger Figma render is reported, not decoded


def _node_of(name: str) -> str | None:
    """Node id from ``figma-renders/<id>.png``, ``figma-renders-<id>.png`` or ``<id>.png``."""
    base = name.rsplit("/", 1)[-1]
    if not base.endswith(".png"):
        return None
    base = base[:-4]
    for prefix in (RENDERS_PREFIX + "-", RENDERS_PREFIX + "_"):
        if base.startswith(prefix) and "/" not in name:
            return base[len(prefix) :]
    return base


def parse_renders(files: dict[str, bytes]) -> FigmaRenders:
    """Figma's renders from analyze's artifacts (name -> bytes; archive members included).

    PNGs named ``figma-renders/<node-id>.png`` (or ``figma-renders-<node-id>.png``); an index
    JSON (any ``.json`` among them), if present, may give a ``scale`` for all, and per node
    (under ``renders``, ``images`` or ``nodes``) either the PNG's name or ``{"file" | "name" |
    "artifact" | "path": name, "scale": s}``; a node mapped to null (Figma could not render it)
    is listed in ``problems``. Node ids are matched as written and with every character
    outside ``[A-Za-z0-9]`` turned into ``-`` (names that cannot hold ``:``)."""
    out = FigmaRenders()
    by_base = {n.rsplit("/", 1)[-1]: d for n, d in files.items() if n.endswith(".png")}
    index: dict[str, Any] = {}
    for name, data in sorted(files.items()):
        if name.endswith(".json"):
            try:
                doc = json.loads(data)
            except (ValueError, UnicodeDecodeError):
                out.problems.append(f"{name}: not JSON")
                continue
            if isinstance(doc, dict):
                index = doc
    default_scale = index.get("scale") if isinstance(index.get("scale"), int | float) else None
    mapped: dict[str, Any] = {}
    for key in ("renders", "images", "nodes"):
        if isinstance(index.get(key), dict):
            mapped = index[key]
            break
    for nid, entry in mapped.items():
        fname, scale = None, default_scale
        if isinstance(entry, str):
            fname = entry
        elif isinstance(entry, dict):
            fname = next(
                (entry[k] for k in ("file", "name", "artifact", "path") if entry.get(k)), None
            )
            if isinstance(entry.get("scale"), int | float):
                scale = entry["scale"]
        elif entry is None:
            out.problems.append(f"{nid}: Figma returned no render")
            continue
        png = by_base.get(str(fname).rsplit("/", 1)[-1]) if fname else None
        if png is not None:
            out.pngs[str(nid)] = png
            if scale:
                out.scales[str(nid)] = float(scale)
    for name, data in files.items():
        node = _node_of(name) if name.endswith(".png") else None
        if node is None or node in out.pngs:
            continue
        out.pngs[node] = data
        if default_scale:
            out.scales[node] = float(default_scale)
    for nid, data in list(out.pngs.items()):
        size = png_size(data)
        if size is None:
            out.problems.append(f"{nid}: not a PNG")
            del out.pngs[nid]
        elif size[0] * size[1] > MAX_RENDER_PIXELS:
            out.problems.append(f"{nid}: render {size[0]}x{size[1]} px is too large to compare")
            del out.pngs[nid]
    return out


def compare_name(case: Case) -> str:
    return shot_name(case)[: -len(".png")] + ".compare.png"


def compare_pixels(
    cases: list[Case],
    renders: FigmaRenders,
    out_dir: Path,
    modules: Path,
    workdir: Path,
    timeout: float = PIXELS_TIMEOUT,
) -> dict[str, dict[str, Any]]:
    """Pixel similarity of each case's screenshot against Figma's render of its root node
    (templates/visual/pixels.mjs: pixelmatch at ``PIXEL_THRESHOLD``, anti-aliasing ignored),
    and a side-by-side ``<shot>.compare.png`` (Figma | Chromium | diff) next to the shot.
    Returns case id -> ``{similarity (0..1), diffPixels, pixels, figmaSize, renderSize,
    scale, compare}`` or ``{error}``; cases without a render or a screenshot are left out.
    Raises nothing for a bad image (per-case error); StageError RenderFailed when the node
    step itself fails."""

    src = workdir / "figma-renders"
    src.mkdir(parents=True, exist_ok=True)
    pairs = []
    for c in cases:
        found = renders.for_node(c.root)
        shot = out_dir / shot_name(c)
        if found is None or not shot.exists():
            continue
        data, scale = found
        fig = src / f"{_safe_id(c.root)}.png"
        fig.write_bytes(data)
        pairs.append(
            {
                "id": c.id,
                "figma": str(fig),
                "shot": str(shot),
                "width": c.width,
                "scale": scale,
                "compare": str(out_dir / compare_name(c)),
            }
        )
    if not pairs:
        return {}
    job = {
        "modules": str(modules),
        "out": str(workdir / "pixels.json"),
        "threshold": PIXEL_THRESHOLD,
        "pairs": pairs,
    }
    (workdir / "pixels.json").unlink(missing_ok=True)
    out = _node_step(
        "pixels.mjs",
        job,
        workdir / "pixels-job.json",
        workdir / "pixels.json",
        workdir,
        workdir,
        timeout,
        "comparing with Figma's renders",
    )
    try:
        results: dict[str, dict[str, Any]] = out["results"]
    except KeyError:
        raise StageError(
            "RenderFailed", "comparing with Figma's renders failed: no results"
        ) from None
    by_id = {c.id: c for c in cases}
    for cid, r in results.items():
        if "error" not in r and cid in by_id:
            r["compare"] = compare_name(by_id[cid])
    return results


def attach_pixels(
    report: dict[str, Any], pixels: dict[str, dict[str, Any]], problems: list[str] | None = None
) -> dict[str, Any]:
    """Add the pixel similarity to the report (pure): per render ``pixels``, per component
    ``pixelSimilarity`` (mean over its compared renders), in the summary ``pixelSimilarity``
    (mean over every compared render, each counting once) and ``pixelRenders``; None where
    nothing was compared (no Figma render: a file not read from the Figma API)."""
    for row in report["renders"]:
        if row["case"] in pixels:
            row["pixels"] = pixels[row["case"]]
    sims_all: list[float] = []
    for comp in report["components"]:
        sims = [
            float(r["pixels"]["similarity"])
            for r in report["renders"]
            if r["component"] == comp["component"] and "similarity" in r.get("pixels", {})
        ]
        comp["pixelSimilarity"] = round(sum(sims) / len(sims), 4) if sims else None
        sims_all += sims
    s = report["summary"]
    s["pixelSimilarity"] = round(sum(sims_all) / len(sims_all), 4) if sims_all else None
    s["pixelRenders"] = len(sims_all)
    errors = [
        f"{r['component']} {r['variant']}: {r['pixels']['error']}"
        for r in report["renders"]
        if "error" in r.get("pixels", {})
    ]
    if problems or errors:
        s["pixelProblems"] = [*(problems or []), *errors][:20]
    return report


# ------------------------------------------------------------------------ diffs for refinement

#: what a refinement request says about one off node (the rest of a worst-node row is noise)
DIFF_KEYS = (
    "node",
    "name",
    "type",
    "figma",
    "dom",
    "err",
    "why",
    "text",
    "fontSize",
    "fontWeight",
    "color",
)
MAX_DIFF_RENDERS = 4  # renders of a component described in one request (the worst first)
MAX_IMAGE_BYTES = 4_000_000  # the Messages API takes images up to 5 MB (base64 adds a third)
MAX_IMAGE_EDGE = 8000


@dataclass
class VisualDiff:
    """What the visual stage saw of one component, for its refinement request: ``fidelity``
    (0..1, the component's node-weighted share within 4 px), ``diff`` (JSON: per render, the
    nodes that are off with their Figma and browser boxes in CSS px relative to the root and
    the error in px, and wrong texts, font sizes/weights and colours) and ``images`` (label,
    PNG bytes): the default render's side-by-side (Figma | Chromium | diff) when Figma's
    render was fetched, else its screenshot."""

    ident: str
    file: str
    fidelity: float
    diff: dict[str, Any]
    images: list[tuple[str, bytes]] = field(default_factory=list)


def visual_diffs(report: dict[str, Any], out_dir: Path, limit: int = 10) -> list[VisualDiff]:
    """Components worth refining (fidelity below 1, or a wrong text, font or colour), the
    worst first, at most ``limit``; a component that failed to render is left out (there is no
    layout to correct)."""
    out: list[VisualDiff] = []
    rows_by: dict[str, list[dict[str, Any]]] = {}
    for r in report["renders"]:
        rows_by.setdefault(r["component"], []).append(r)
    for comp in sorted(report["components"], key=lambda c: (c["fidelity"], c["component"])):
        rows = [r for r in rows_by.get(comp["component"], []) if "error" not in r]
        if comp.get("errors") or not rows:
            continue
        off = [r for r in rows if r.get("worst")]
        if comp["fidelity"] >= 1.0 and not off:
            continue
        off.sort(key=lambda r: (r["state"] is not None, r["fidelity"]))
        renders = []
        for r in off[:MAX_DIFF_RENDERS]:
            renders.append(
                {
                    "variant": r["variant"] or None,
                    "state": r["state"],
                    "props": r.get("props") or {},
                    "fidelity": r["fidelity"],
                    "nodesWithin4px": f"{r['within4']}/{r['nodes']}",
                    "off": [{k: w[k] for k in DIFF_KEYS if k in w} for w in r["worst"]],
                }
            )
        images: list[tuple[str, bytes]] = []
        first = (off or rows)[0]
        pix = first.get("pixels") or {}
        for label, rel in (
            ("Figma's render | the browser's render | their difference (red)", pix.get("compare")),
            ("the browser's render", first.get("shot")),
        ):
            path = out_dir / rel if rel else None
            if path is None or not path.is_file():
                continue
            data = path.read_bytes()
            size = png_size(data)
            if size and max(size) <= MAX_IMAGE_EDGE and len(data) <= MAX_IMAGE_BYTES:
                images.append((label, data))
                break
        out.append(
            VisualDiff(
                ident=comp["component"],
                file=comp["file"],
                fidelity=comp["fidelity"],
                diff={
                    "component": comp["component"],
                    "fidelity": comp["fidelity"],
                    "tolerancePx": TOLERANCE_PX,
                    "renders": renders,
                },
                images=images,
            )
        )
        if len(out) >= limit:
            break
    return out


# ------------------------------------------------------------------------------------ preview


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-")[:60] or "default"


def shot_name(case: Case) -> str:
    tail = _slug(case.variant) + (f"-{case.state}" if case.state else "")
    return f"png/{_slug(case.component)}/{case.id}-{tail}.png"


def preview_html(report: dict[str, Any], cases: list[Case], title: str = "") -> str:
    """A static gallery (preview/index.html): every component, variant and score."""
    by_case = {c.id: c for c in cases}
    s = report["summary"]
    e = html.escape
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>pf-figma preview {e(title)}</title>",
        "<style>",
        "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#111}",
        "h2{margin:32px 0 8px} .grid{display:flex;flex-wrap:wrap;gap:16px}",
        ".card{border:1px solid #ddd;border-radius:6px;padding:8px;max-width:520px}",
        ".card img{max-width:500px;display:block;background:repeating-conic-gradient("
        "#eee 0 25%,#fff 0 50%) 0 0/16px 16px}",
        ".bad{color:#b00020}.ok{color:#0a7d2c} table{border-collapse:collapse}",
        "td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}</style>",
        "</head><body>",
        f"<h1>{e(title or 'pf-figma')}: visual QA</h1>",
        f"<p>fidelity <b>{s['fidelity']:.1%}</b> (share of visible mapped nodes within "
        f"{TOLERANCE_PX:g} px of the design), texts shown {s['textsShown']:.1%}, "
        f"accessibility violations (serious, critical) {s['a11yViolations']}, "
        f"horizontal overflow at {', '.join(map(str, s['overflowWidths'])) or 'no width'}; "
        f"{s['components']} components, {s['renders']} renders, {s['errors']} errors; "
        f"{s['mappedNodes']} of the design's {s['designNodes']} visible nodes mapped "
        "(resting variants)."
        + (
            f" Pixel similarity to Figma's renders {s['pixelSimilarity']:.1%} over "
            f"{s['pixelRenders']} renders (pixelmatch; side by side: Figma | Chromium | diff)."
            if s.get("pixelSimilarity") is not None
            else ""
        )
        + "</p>",
    ]
    rows_by_comp: dict[str, list[dict[str, Any]]] = {}
    for r in report["renders"]:
        rows_by_comp.setdefault(r["component"], []).append(r)
    for comp in report["components"]:
        cls = "ok" if comp["fidelity"] >= 0.9 else "bad"
        out.append(
            f'<h2 id="{e(comp["component"])}">{e(comp["component"])} '
            f'<span class="{cls}">{comp["fidelity"]:.1%}</span></h2>'
        )
        out.append(
            f"<p>{comp['variants']} renders, texts {comp['texts']['shown']}/"
            f"{comp['texts']['total']}, a11y {comp['a11yViolations']}, overflow at "
            f"{', '.join(comp['overflowWidths']) or '-'}</p><div class='grid'>"
        )
        for r in rows_by_comp.get(comp["component"], []):
            c = by_case[r["case"]]
            label = (c.variant or "(component)") + (f" :{c.state}" if c.state else "")
            out.append(f"<div class='card'><div><b>{e(label)}</b></div>")
            if "error" in r:
                out.append(f"<pre class='bad'>{e(str(r['error'])[:400])}</pre></div>")
                continue
            out.append(f"<img src='{e(shot_name(c))}' alt='{e(label)}'>")
            out.append(
                f"<div>{r['within4']}/{r['nodes']} nodes within {TOLERANCE_PX:g} px "
                f"({r['fidelity']:.0%})</div>"
            )
            pix = r.get("pixels") or {}
            if "similarity" in pix:
                out.append(
                    f"<div>pixels like Figma's render: {pix['similarity']:.1%}</div>"
                    f"<img src='{e(pix['compare'])}' alt='Figma, Chromium and their difference'>"
                )
            elif "error" in pix:
                out.append(f"<div class='bad'>pixels: {e(str(pix['error'])[:200])}</div>")
            if r.get("worst"):
                out.append("<table><tr><th>node</th><th>error</th><th>figma</th><th>dom</th></tr>")
                for w in r["worst"]:
                    err = f"{w['err']:.1f} px" if w["err"] is not None else w.get("why", "")
                    out.append(
                        f"<tr><td>{e(w['name'])}</td><td>{e(err)}</td>"
                        f"<td>{w['figma']}</td><td>{w.get('dom', '')}</td></tr>"
                    )
                out.append("</table>")
            for a in r.get("a11y", [])[:5]:
                out.append(
                    f"<div class='bad'>{e(a['impact'])}: {e(a['rule'])}: {e(a['help'])}</div>"
                )
            out.append("</div>")
        out.append("</div>")
    out.append("</body></html>")
    return "\n".join(out)


# ------------------------------------------------------------------------------------ running


def chromium_path() -> str:
    return os.environ.get("PF_CHROMIUM") or CHROMIUM


def ensure_tools(workdir: Path) -> Path:
    """node_modules with playwright-core and axe-core (installed once, cached like qa's)."""
    from .qa import ensure_node_modules

    modules, _, _ = ensure_node_modules(TOOLS_PACKAGE, workdir)
    return modules


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), children first found first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _kill_tree(pid: int) -> None:
    """End ``pid``, its process group and every descendant (playwright starts the browser in
    a process group of its own)."""
    victims = _descendants(pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for target in [pid, *victims]:
            try:
                os.killpg(target, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                os.kill(target, sig)
            except (ProcessLookupError, PermissionError):
                pass
        if sig == signal.SIGTERM:
            time.sleep(0.5)


def _node_step(
    script: str,
    job: dict[str, Any],
    job_path: Path,
    out_path: Path,
    cwd: Path,
    workdir: Path,
    timeout: float,
    what: str,
) -> dict[str, Any]:
    """Run the template ``script`` on ``job`` (written to ``job_path``) and read the JSON it
    writes to ``out_path``. Raises StageError(RenderFailed) on timeout or without output,
    naming ``what`` and the end of node's output."""
    from .qa import _env, node_bin_dir

    job_path.write_text(json.dumps(job))
    args = [str(node_bin_dir() / "node"), str(TEMPLATES / script), str(job_path)]
    try:
        proc = _run_node(args, cwd, _env(workdir), timeout)
    except subprocess.TimeoutExpired:
        raise StageError("RenderFailed", f"{what} took more than {timeout:g}s") from None
    try:
        out: dict[str, Any] = json.loads(out_path.read_text())
    except (OSError, ValueError):
        raise StageError(
            "RenderFailed", f"{what} failed: " + (proc.stderr or proc.stdout)[-400:]
        ) from None
    return out


def _run_node(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float, pid_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run node (``args``: node, the template script, its job file) in its own process group
    in a span ``node <script>`` (tracing.subprocess_step: its exit code, or the timeout as
    ``error.type``); on timeout end it and the browser it started, then raise
    subprocess.TimeoutExpired."""
    name = "node " + Path(args[1]).name if len(args) > 1 else "node"
    return tracing.subprocess_step(name, _node_process, args, cwd, env, timeout, pid_file)


def _node_process(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float, pid_file: Path | None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        if pid_file is not None and pid_file.exists():
            try:
                _kill_tree(int(pid_file.read_text().strip()))
            except ValueError:
                pass
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def prepare(project: Path, cases: list[Case], workdir: Path) -> tuple[dict[str, Any], str]:
    """Render every case to static markup and compile the CSS (prepare.mjs, in the project)."""

    vis = workdir / "visual-build"  # outside the project: Tailwind scans the project
    vis.mkdir(parents=True, exist_ok=True)
    (vis / "entry.tsx").write_text(render_entry(cases, project))
    job = {
        "project": str(project),
        "entry": str(vis / "entry.tsx"),
        "bundle": str(vis / "bundle.mjs"),
        "fragments": str(vis / "fragments.json"),
        "css": str(vis / "styles.css"),
        "cssIn": str(project / "app" / "globals.css"),
    }
    data = _node_step(
        "prepare.mjs",
        job,
        vis / "prepare.json",
        vis / "fragments.json",
        project,
        workdir,
        PREPARE_TIMEOUT,
        "rendering the components",
    )
    if "bundleError" in data:
        raise StageError(
            "RenderFailed", "bundling the components failed: " + str(data["bundleError"])[:400]
        )
    css = (vis / "styles.css").read_text() if (vis / "styles.css").exists() else ""
    data.setdefault("fragments", {})
    return data, css


def capture(
    page: Path,
    cases: list[Case],
    out_dir: Path,
    modules: Path,
    workdir: Path,
    timeout: float | None = None,
    widths: tuple[int, ...] = WIDTHS,
    shots: bool = True,
    chromium: str | None = None,
) -> dict[str, Any]:
    """Open ``page`` in headless Chromium and measure every case (capture.mjs). Raises
    StageError BrowserFailed when the browser does not start, crashes or exceeds ``timeout``."""
    from .qa import _env, node_bin_dir

    chromium = chromium or chromium_path()
    if not os.access(chromium, os.X_OK):
        raise StageError(
            "BrowserFailed", f"no Chromium at {chromium} (Debian package chromium; PF_CHROMIUM)"
        )
    if timeout is None:
        timeout = float(os.environ.get("PF_VISUAL_TIMEOUT") or DEFAULT_TIMEOUT)
    out_dir.mkdir(parents=True, exist_ok=True)
    axe = modules / "axe-core" / "axe.min.js"
    job_cases = []
    for c in cases:
        shot = None
        if shots:
            shot = out_dir / shot_name(c)
            shot.parent.mkdir(parents=True, exist_ok=True)
        job_cases.append(
            {"id": c.id, "paths": c.paths, "state": c.state, "shot": str(shot) if shot else None}
        )
    widest = max([c.width for c in cases] + [320.0])
    job = {
        "modules": str(modules),
        "chromium": chromium,
        "args": list(CHROMIUM_ARGS),
        "page": str(page.resolve()),
        "out": str(workdir / "capture.json"),
        "pidFile": str(workdir / "chromium.pid"),
        "launchTimeoutMs": LAUNCH_TIMEOUT * 1000,
        "stepTimeoutMs": 30000,
        "axe": str(axe) if axe.exists() else None,
        "designViewport": int(min(widest + 32, 4096)),
        "widths": list(widths),
        "cases": job_cases,
    }
    job_file = workdir / "capture-job.json"
    job_file.write_text(json.dumps(job))
    (workdir / "capture.json").unlink(missing_ok=True)
    (workdir / "chromium.pid").unlink(missing_ok=True)
    env = _env(workdir)
    env.setdefault("HOME", str(workdir))
    env["XDG_CONFIG_HOME"] = str(workdir / ".chromium-config")
    env["XDG_CACHE_HOME"] = env.get("XDG_CACHE_HOME") or str(workdir / ".cache")
    start = time.perf_counter()
    try:
        proc = _run_node(
            [str(node_bin_dir() / "node"), str(TEMPLATES / "capture.mjs"), str(job_file)],
            workdir,
            env,
            timeout,
            workdir / "chromium.pid",
        )
    except subprocess.TimeoutExpired:
        raise StageError(
            "BrowserFailed", f"the browser did not finish within {timeout:g}s (stopped)"
        ) from None
    try:
        data: dict[str, Any] = json.loads((workdir / "capture.json").read_text())
    except (OSError, json.JSONDecodeError):
        raise StageError(
            "BrowserFailed",
            f"the browser step failed ({proc.returncode}): "
            + (proc.stderr or proc.stdout).strip()[-400:],
        ) from None
    if "browserError" in data:
        raise StageError("BrowserFailed", str(data["browserError"])[:480])
    data.setdefault("timings", {})["total"] = round(time.perf_counter() - start, 3)
    return data


def run_visual(
    files: dict[str, bytes],
    manifests: list[dict[str, Any]],
    spec: dict[str, Any],
    project_dir: Path,
    workdir: Path,
    out_dir: Path,
    renders: FigmaRenders | None = None,
) -> dict[str, Any]:
    """Write the project, render, measure and score it; PNGs and preview/index.html go to
    ``out_dir`` (``out_dir/png/...``, ``out_dir/index.html``). With Figma's own ``renders``
    (analyze's artifacts), each render also gets a pixel similarity and a side-by-side PNG.
    Returns the report."""
    from .files import write_tree
    from .qa import _link_node_modules, ensure_node_modules

    if "package.json" not in files:
        raise StageError("InvalidArtifact", "the project archive has no package.json")
    timings: dict[str, float] = {}
    t = time.perf_counter()
    pkg = json.loads(files["package.json"])
    workdir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    project_dir.mkdir(parents=True, exist_ok=True)
    write_tree(project_dir, files)
    modules, _, _ = ensure_node_modules(pkg, workdir)
    if not (project_dir / "node_modules").exists():
        _link_node_modules(project_dir, modules)
    tools = ensure_tools(workdir)
    timings["install"] = time.perf_counter() - t
    index = node_index(spec)
    cases, skipped = plan_cases(manifests, index)
    if not cases:
        raise StageError("NothingToRender", "the manifest maps no component to render")
    t = time.perf_counter()
    data, css = prepare(project_dir, cases, workdir)
    fragments: dict[str, dict[str, Any]] = data["fragments"]
    timings["render"] = time.perf_counter() - t
    page = workdir / "visual-page.html"
    page.write_text(build_page(cases, fragments, css))
    t = time.perf_counter()
    rendered = [c for c in cases if "html" in fragments.get(c.id, {})]
    cap = capture(page, rendered, out_dir, tools, workdir) if rendered else {}
    timings["browser"] = time.perf_counter() - t
    report = score(cases, cap, fragments, index)
    pixels: dict[str, dict[str, Any]] = {}
    if renders is not None and renders.pngs and rendered:
        t = time.perf_counter()
        pixels = compare_pixels(rendered, renders, out_dir, tools, workdir)
        timings["pixels"] = time.perf_counter() - t
    attach_pixels(report, pixels, renders.problems if renders is not None else None)
    report["skipped"] = skipped
    if data.get("cssError"):
        report["cssError"] = data["cssError"]
    report["timings"] = {k: round(v, 3) for k, v in timings.items()} | {
        "browserSteps": cap.get("timings", {})
    }
    (out_dir / "index.html").write_text(preview_html(report, cases, spec.get("name", "")))
    (out_dir / "visual-report.json").write_text(json.dumps(report, indent=1))
    return report


def summary_line(report: dict[str, Any]) -> str:
    s = report["summary"]
    worst = ", ".join(f"{w['component']} {w['fidelity']:.0%}" for w in s["worstComponents"][:3])
    return (
        f"fidelity {s['fidelity']:.1%} ({s['within4']}/{s['nodes']} nodes within "
        f"{TOLERANCE_PX:g} px) over {s['renders']} renders of {s['components']} components; "
        f"texts shown {s['textsShown']:.0%}; a11y violations {s['a11yViolations']}; "
        f"overflow at {', '.join(map(str, s['overflowWidths'])) or 'no width'}"
        + (
            f"; pixels like Figma's renders {s['pixelSimilarity']:.1%}"
            if s.get("pixelSimilarity") is not None
            else ""
        )
        + (f"; {s['errors']} render errors" if s["errors"] else "")
        + (f"; worst: {worst}" if worst else "")
    )


def prebuild(dest: Path) -> list[str]:
    """Install the stage's tools into ``dest`` (the agent image, beside qa's packages)."""
    from .qa import ensure_node_modules

    os.environ["XDG_CACHE_HOME"] = str(dest.parent.parent)
    modules, _, _ = ensure_node_modules(TOOLS_PACKAGE, dest)
    return [modules.parent.name]


if __name__ == "__main__":
    import sys

    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "--prebuild":  # bake the tools (Dockerfile)
        print(" ".join(prebuild(Path(args[1]))))
    elif args == ["--chromium"]:
        print(shutil.which(chromium_path()) or "")
    else:
        sys.exit("usage: python -m pf_agents.visual --prebuild DIR | --chromium")

"""hack/quality.py (`make quality`): its pure helpers, so the measuring tool cannot rot silently.

Fast and offline: no generator run, no browser, no Node.js.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def q() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pf_quality_tool", ROOT / "hack" / "quality.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_id_derived_token_names_and_classes(q: ModuleType) -> None:
    slugs = q.id_slugs(["52:38", "22:1", "I5:6;7:8", "x", "abc"])
    assert slugs == {"52-38", "22-1", "5-6-7-8"}
    names = ["color.fill-52-38", "typography.type-22-1", "color.blue-500", "spacing.space-8",
             "color.gray-100-2", "shadow.elevation-1", "color.fill-152-38"]
    assert q.id_derived_names(names, slugs) == ["color.fill-52-38", "typography.type-22-1"]
    src = ('<div className="bg-fill-52-38 hover:text-type-22-1 gap-space-8 p-[12px] '
           'w-[52-38px] text-blue-500">')
    assert q.id_derived_classes(src, slugs) == ["bg-fill-52-38", "hover:text-type-22-1"]
    assert q.id_derived_classes('cva("rounded-radius-4 bg-fill-1-2", {', {"1-2"}) == \
        ["bg-fill-1-2"]


def test_dtcg_names(q: ModuleType) -> None:
    dtcg = {"color": {"$type": "color", "fill-1-2": {"$value": "#fff"},
                      "brand": {"blue": {"$value": "#00f"}}},
            "spacing": {"space-8": {"$value": "8px", "$type": "dimension"}}}
    assert q.dtcg_names(dtcg) == ["color.brand.blue", "color.fill-1-2", "spacing.space-8"]


def test_overflow_table_and_counts(q: ModuleType) -> None:
    rows = [
        {"file": "fx", "component": "Home", "nodeId": "1:2", "designWidth": 1440.0,
         "results": {"375": {"viewport": 375, "scrollWidth": 1504},
                     "768": {"viewport": 768, "scrollWidth": 1504},
                     "1280": {"viewport": 1280, "scrollWidth": 1280, "cut": 3}}},
        {"file": "fx", "component": "Card", "nodeId": "1:3", "designWidth": 320.0,
         "results": {"375": {"error": "timeout"}}},
    ]
    assert q.overflow_cell(rows[0]["results"]["375"]) == "+1129px"
    assert q.overflow_cell(rows[0]["results"]["1280"]) == "ok, 3 cut"
    assert q.overflow_cell({"viewport": 375, "scrollWidth": 375, "cut": 0}) == "ok"
    assert q.overflow_cell(None) == "-"
    assert q.overflow_cell({"error": "x"}) == "err"
    text = q.overflow_table(rows)
    lines = text.splitlines()
    assert lines[0].split() == ["file", "frame", "node", "design", "w", "375px", "768px", "1280px"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].endswith("+1129px  +736px  ok, 3 cut")
    assert lines[3].split()[-3:] == ["err", "-", "-"]
    assert q.overflow_counts(rows) == {"375": 1, "768": 1, "1280": 0}


def test_table_alignment(q: ModuleType) -> None:
    out = q.table(["a", "n"], [["x", 1], ["long", 100]], right=(1,))
    assert out.splitlines() == ["a       n", "----  ---", "x       1", "long  100"]


def test_font_status(q: ModuleType) -> None:
    data = {"document": {"id": "0:0", "type": "DOCUMENT", "children": [
        {"id": "1:1", "type": "TEXT", "characters": "a", "style": {"fontFamily": "Inter"}},
        {"id": "1:2", "type": "TEXT", "characters": "b", "visible": False,
         "style": {"fontFamily": "Hidden Sans"}},
        {"id": "1:3", "type": "TEXT", "characters": "c", "style": {"fontFamily": "GDS Transport"},
         "styleOverrideTable": {"1": {"fontFamily": "Roboto"}}},
    ]}}
    fams = q.font_families(data)
    assert dict(fams) == {"Inter": 1, "GDS Transport": 1, "Roboto": 1}
    assert q.font_status(fams, {"inter", "Roboto", "DejaVu Sans"}) == {
        "installed": ["Inter", "Roboto"], "fallback": ["GDS Transport"]}


def _tree() -> dict:
    def box(w: float = 10, h: float = 10) -> dict:
        return {"x": 0, "y": 0, "width": w, "height": h}

    return {"id": "1:1", "type": "COMPONENT", "name": "Card", "absoluteBoundingBox": box(),
            "children": [
        {"id": "1:2", "type": "TEXT", "name": "Title", "characters": "Hi",
         "absoluteBoundingBox": box()},
        {"id": "1:3", "type": "TEXT", "name": "Empty", "characters": "  ",
         "absoluteBoundingBox": box()},
        {"id": "1:4", "type": "RECTANGLE", "name": "Bg", "absoluteBoundingBox": box()},
        {"id": "1:5", "type": "FRAME", "name": "Off", "visible": False,
         "absoluteBoundingBox": box(), "children": [
             {"id": "1:6", "type": "TEXT", "name": "In hidden", "characters": "x",
              "absoluteBoundingBox": box()}]},
        {"id": "1:7", "type": "FRAME", "name": "Badge", "absoluteBoundingBox": box(),
         "componentPropertyReferences": {"visible": "Show#1:0"}},
        {"id": "1:8", "type": "RECTANGLE", "name": "Mask", "isMask": True,
         "absoluteBoundingBox": box()},
        {"id": "1:9", "type": "RECTANGLE", "name": "Zero", "absoluteBoundingBox": box(0, 4)},
        {"id": "1:10", "type": "SLICE", "name": "Export", "absoluteBoundingBox": box()},
    ]}


def test_mutation_candidates_and_pick(q: ModuleType) -> None:
    cands = q.mutation_candidates([("Card", _tree())])
    assert [(c["node"], c["type"]) for c in cands] == [("1:2", "TEXT"), ("1:4", "RECTANGLE")]
    more = cands + [{"component": "Other", "node": f"2:{i}", "type": t, "name": "n", "depth": 1}
                    for i, t in enumerate(["TEXT", "FRAME", "TEXT", "VECTOR"])]
    picked = q.pick_mutations(more, 4, "seed")
    assert picked == q.pick_mutations(list(reversed(more)), 4, "seed")  # deterministic
    assert [c["type"] == "TEXT" for c in picked] == [False, True, False, True]
    assert {c["component"] for c in picked} == {"Card", "Other"}
    assert len(q.pick_mutations(more, 100, "seed")) == len(more)


def test_walk_is_iterative(q: ModuleType) -> None:
    node: dict = {"id": "0:1", "type": "FRAME"}
    top = node
    for i in range(5000):  # deeper than Python's recursion limit
        child = {"id": f"1:{i}", "type": "FRAME"}
        node["children"] = [child]
        node = child
    items = list(q.walk(top))
    assert len(items) == 5001 and len(items[-1][1]) == 5000
    assert len(q.index_nodes({"document": top})) == 5001


def test_rename_test_and_synthetic_file(q: ModuleType) -> None:
    src = 'import { Button } from "./Button";\nimport { x } from "../lib/design-test-utils";'
    assert q.rename_test(src, "Button", "Button__m1").splitlines()[0] == \
        'import { Button } from "./Button__m1";'
    data = q.synthetic_file()
    assert len(q.index_nodes(data)) >= 1000
    json.dumps(data)


def test_visual_stage_beside_the_instrument(q: ModuleType, tmp_path: Path) -> None:
    # the instrument's population: its renders (figmaRoot) and the nodes it matched (boxes)
    inst = {"components": [{"ident": "A", "cases": [{"figmaRoot": "1:1", "boxes": [
        {"id": "1:2", "err": 1.0, "how": "structure"},
        {"id": "1:3", "err": 9.0, "how": "text"},       # the instrument says off
        {"id": "1:4", "err": 0.0, "how": "structure"},  # the manifest does not map it
    ]}]}]}
    report = {"renders": [
        {"figmaNode": "1:1", "state": None, "errors": {"1:2": 0.5, "1:3": 0.5, "1:9": 40.0}},
        {"figmaNode": "1:1", "state": "hover", "errors": {"1:2": 30.0}},  # states left out
    ]}
    (tmp_path / "i.json").write_text(json.dumps(inst))
    (tmp_path / "r.json").write_text(json.dumps(report))
    c = q.visual_vs_instrument(tmp_path / "i.json", tmp_path / "r.json")
    assert c["instrumentAll"] == pytest.approx(200 / 3)
    assert (c["instrument"], c["visual"], c["nodes"], c["notMapped"]) == (50.0, 100.0, 2, 1)
    assert c["diffPP"] == 50.0 and c["ok"] is False
    assert c["structure"] == {"instrument": 100.0, "visual": 100.0, "nodes": 1}
    row = {"file": "f", "visual": {"summary": {"fidelity": 0.5, "within4": 1, "nodes": 2,
                                               "renders": 2}, "seconds": 3.2},
           "visualVsInstrument": c}
    text = q.visual_table([row])
    assert "+50.0" in text and "NO" in text and "100% / 100% (1)" in text

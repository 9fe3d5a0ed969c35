"""The generator on the Figma cases (tests/agents/figma_cases): each case's right result, the
variant merge's exactness, and generated tests that fail when the renderer drops a node."""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path
from typing import Any

import pytest

from pf_agents import jsx as jsx_mod
from pf_agents import lower as lower_mod
from pf_agents import qa
from pf_agents.analyze import analyze_source
from pf_agents.artifacts import FileArtifactStore
from pf_agents.config import PipelineConfig
from pf_agents.figma_client import load_figma_file
from pf_agents.files import unpack_files, write_tree
from pf_agents.generate import GeneratedComponent, generate_components
from pf_agents.stages import StageEnv, run_stage
from pf_agents.tokens import extract_tokens, lookup_from_dtcg
from pf_agents.variants import attribute_classes, predicate, state_props

CASES = Path(__file__).parent / "figma_cases"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "figma"


def gen(name: str) -> dict[str, GeneratedComponent]:
    path = CASES / name if (CASES / name).exists() else EXAMPLES / name
    spec = analyze_source(load_figma_file(str(path)))
    comps = generate_components(spec, lookup_from_dtcg(extract_tokens(spec).dtcg))
    return {c.ident: c for c in comps}


def classes_of(src: str, text: str) -> str:
    """The className of the element whose text (or whose first line of text) is ``text``."""
    m = re.search(r'className="([^"]*)"[^<]*>\s*' + re.escape(text), src)
    assert m, f"no element with text {text!r}"
    return m.group(1)


def test_01_styled_runs_keep_their_weight_colour_italic_and_underline():
    (c,) = gen("01-mixed-text-styles.json").values()
    assert re.search(r'<strong className="font-extrabold text-\S+">faster</strong>', c.source)
    assert re.search(r'<span className="[^"]*italic[^"]*underline[^"]*">handoffs</span>',
                     c.source)


def test_02_rotated_nodes_keep_their_size_and_rotation():
    (c,) = gen("02-rotated-group.json").values()
    ribbon = re.search(r'className="([^"]*rotate-\[-45deg\][^"]*bg-[^"]*)"', c.source)
    assert ribbon and "w-[140px]" in ribbon.group(1) and "h-[28px]" in ribbon.group(1)
    assert "rotate-[-45deg]" in classes_of(c.source, "SALE")


def test_03_grid_auto_layout_is_a_css_grid_with_spans_and_gaps():
    (c,) = gen("03-grid-auto-layout.json").values()
    root = re.search(r'cn\(\s*"([^"]*)"', c.source).group(1)
    assert {"grid", "grid-cols-3", "grid-rows-2", "gap-4"} <= set(root.split())
    assert not re.search(r"\bh-\[", root)  # hugging height: no fixed height, no collapse
    assert "col-span-2" in c.source and "absolute" not in c.source


def test_05_truncation_and_max_lines():
    (c,) = gen("05-text-truncation.json").values()
    assert "truncate" in classes_of(c.source, "Billing update")
    assert "line-clamp-2" in classes_of(c.source, "Your invoice")


def test_06_a_mask_clips_the_layers_above_it():
    (c,) = gen("06-mask-group.json").values()
    m = re.search(r'<div\s+className="([^"]*overflow-hidden[^"]*rounded-full[^"]*)"\s*>'
                  r'(.*?)</div>\s*</div>', c.source, re.S)
    assert m, c.source
    assert 'aria-label="Photo"' in m.group(2)  # the photo is inside the clipping shape
    assert m.group(2).count("<div") == 2  # and so is the tint


def test_07_a_hidden_layer_wired_to_a_boolean_is_emitted_and_toggled():
    comps = gen("07-boolean-prop-default-false.json")
    src = comps["ListItem"].source
    assert "showBadge = false" in src
    assert re.search(r"\{showBadge && \(", src) and ">3</p>" in src
    assert "showIcon && " in src
    # an instance of it is the component with the instance's property values
    assert re.search(r'<ListItem className="w-\[232px\] [^"]*" showBadge label="Drafts" />',
                     comps["Sidebar"].source)


def test_09_image_fills_keep_their_children_and_their_overlay():
    comps = gen("09-image-fill-crop-with-children.json")
    for c in comps.values():
        assert "Plan trips together" in c.source and "Get started" in c.source
        assert 'role="img"' not in c.source.split("data-figma-node")[0] + \
            c.source.split("data-figma-node")[1][:200] or "<h" in c.source
    overlay = comps["Hero"].source
    assert "linear-gradient(#00000059,#00000059),linear-gradient(#d9d9d9,#d9d9d9)" in overlay
    assert {u.property for c in comps.values() for u in c.unreproduced} <= {
        "fills.image", "fills.image.scaleMode"}
    props = [u.property for c in comps.values() for u in c.unreproduced]
    assert "fills.image.scaleMode" in props  # the crop is reported, not dropped silently


def test_11_odd_layer_names_give_identifiers_that_collide_with_nothing():
    comps = gen("11-odd-layer-names.json")
    names = list(comps)
    assert len({n.lower() for n in names}) == len(names)
    assert "Default" not in names and "DefaultComponent" in names
    for n in names:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", n)


def test_12_figjam_nodes_show_their_texts():
    (c,) = gen("12-figjam-nodes.json").values()
    for text in ("Deploys got faster", "Pairing on the onboarding flow", "Ship on Friday?",
                 "leads to", "Action", "Owner", "Add smoke tests", "Priya"):
        assert text in c.source
    assert any(u.property == "connector" for u in c.unreproduced)  # the line itself: reported


def test_12_a_figjam_table_is_a_table_with_a_header_row():
    (c,) = gen("12-figjam-nodes.json").values()
    table = re.search(r"<table[^>]*>(.*)</table>", c.source, re.S)
    assert table, c.source
    body = table.group(1)
    assert body.count("<tr>") == 3 and body.count("<th ") == 2 and body.count("<td ") == 4
    assert re.search(r'<th [^>]*scope="col"[^>]*>\s*<p[^>]*>\s*Action', body)
    # reading order: row by row, left to right
    order = [body.index(t) for t in ("Action", "Owner", "Add smoke tests", "Sam", "Priya")]
    assert order == sorted(order)


def test_13_frames_in_nested_sections_are_components():
    assert set(gen("13-nested-sections.json")) == {"Cart", "CardDetails", "Confirmation"}


def test_the_first_child_of_a_hand_placed_screen_sits_in_the_flow_at_every_width():
    cart = gen("13-nested-sections.json")["Cart"].source
    root = re.search(r'cn\(\s*"([^"]*)"', cart).group(1).split()
    assert {"flex", "flex-col", "items-start"} <= set(root)  # no max-[W]: twins
    title = classes_of(cart, "Your cart").split()
    assert {"mt-6", "ml-6"} <= set(title)
    assert not any(c.startswith(("absolute", "left-", "top-", "@max-[375px]:relative"))
                   for c in title), title


def test_a_screen_flows_by_its_own_width_and_offset_layers_stay_inside_it():
    cover = gen("13-nested-sections.json")["Cart"].source
    root = re.search(r'cn\(\s*"([^"]*)"', cover).group(1).split()
    assert "@container" in root  # its layers query the screen's width, not the viewport's
    title = classes_of(cover, "Your cart").split()
    # 24 px from the left edge: at most the rest of the width on a narrow screen
    assert "@max-[375px]:max-w-[calc(100%-24px)]" in title and "max-w-full" in title
    (auto_layout,) = gen("01-mixed-text-styles.json").values()
    assert "@container" not in auto_layout.source  # nothing in it asks for the screen's width


@pytest.mark.parametrize("case", ["15-deep-nesting.json", "22-deeper-nesting-100.json"])
def test_15_22_deep_nesting_is_rendered_to_the_bottom(case: str):
    (c,) = gen(case).values()
    assert "Save changes" in c.source and not c.unreproduced


@pytest.mark.parametrize("case", ["15-deep-nesting.json", "22-deeper-nesting-100.json"])
def test_wrappers_that_draw_nothing_are_collapsed_into_their_child(case: str):
    (c,) = gen(case).values()
    # the root and the frame that draws the button; none of the empty frames between them
    assert c.source.count("<div") == 2, c.source
    assert classes_of(c.source, "Save changes")


def test_a_collapsed_wrapper_passes_its_place_in_the_parent_to_its_child(tmp_path: Path):
    def frame(i: str, kids: list, **kw) -> dict:
        return {"id": i, "name": "div", "type": "FRAME", "children": kids,
                "absoluteBoundingBox": {"x": 0, "y": 0, "width": 100, "height": 40}, **kw}

    card = frame("3:3", [], fills=[{"type": "SOLID", "color": {"r": 1, "g": 0, "b": 0, "a": 1}}],
                 layoutSizingHorizontal="FIXED", layoutSizingVertical="FIXED")
    # a wrapper filling its row, around a fixed card of the same box; a padded frame is kept
    wrapper = frame("3:2", [card], layoutMode="VERTICAL", layoutSizingHorizontal="FILL",
                    layoutSizingVertical="HUG")
    padded = frame("3:4", [frame("3:5", [], fills=card["fills"])], paddingLeft=4,
                   layoutMode="VERTICAL")
    row = frame("3:1", [wrapper, padded], layoutMode="HORIZONTAL")
    row["name"] = "Row"
    doc = {"name": "F", "document": {"id": "0:0", "type": "DOCUMENT", "children": [
        {"id": "0:1", "type": "CANVAS", "name": "P", "children": [row]}]}}
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    spec = analyze_source(load_figma_file(str(path)))
    (c,) = generate_components(spec, lookup_from_dtcg(extract_tokens(spec).dtcg))
    kids = re.findall(r'<div className="([^"]*)"', c.source)
    assert len(kids) == 3, c.source  # the card in the wrapper's place, the padded frame, its child
    assert "flex-1" in kids[0].split() and "bg-" in kids[0] and "w-[100px]" not in kids[0]
    assert "pl-" in kids[1] or "px-" in kids[1] or "p-" in kids[1]


def test_overlapping_layers_flow_together_without_a_wrapper_in_layer_order(tmp_path: Path):
    def box(i: str, kind: str, x: float, **kw) -> dict:
        w = 40 if kind == "RECTANGLE" else 14
        return {"id": i, "name": i, "type": kind, **kw,
                "absoluteBoundingBox": {"x": x, "y": 8 if kind == "TEXT" else 0,
                                        "width": w, "height": 40 if w == 40 else 24}}

    fill = [{"type": "SOLID", "color": {"r": 0, "g": 0.3, "b": 0.5, "a": 1}}]
    label = {"characters": "A", "style": {"fontSize": 16, "textAutoResize": "WIDTH_AND_HEIGHT"}}
    # Figma's layer order: the swatches, then the labels drawn on them
    kids = [box("4:1", "RECTANGLE", 0, fills=fill), box("4:2", "RECTANGLE", 60, fills=fill),
            box("4:3", "TEXT", 13, **label), box("4:4", "TEXT", 73, **label)]
    group = {"id": "4:0", "name": "Swatches", "type": "GROUP", "children": kids,
             "absoluteBoundingBox": {"x": 0, "y": 0, "width": 100, "height": 40}}
    doc = {"name": "F", "document": {"id": "0:0", "type": "DOCUMENT", "children": [
        {"id": "0:1", "type": "CANVAS", "name": "P", "children": [group]}]}}
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    spec = analyze_source(load_figma_file(str(path)))
    (c,) = generate_components(spec, lookup_from_dtcg(extract_tokens(spec).dtcg))
    root = re.search(r'cn\(\s*"([^"]*)"', c.source).group(1)
    assert "flex-wrap" in root.split()
    # one element per layer, in layer order: no wrapper the design does not have
    elems = re.findall(r'<(div|p) className="([^"]*)"', c.source)
    assert [t for t, _ in elems] == ["div", "div", "p", "p"], c.source
    flow = [{k.removeprefix("@max-[100px]:") for k in cls.split()} for _, cls in elems]
    # below the design width: swatch, its label, swatch, its label; labels pulled back onto
    # their swatch by a negative margin and keeping their Figma width
    assert [next(k for k in f if k.startswith("order-")) for f in flow] == [
        "order-1", "order-3", "order-2", "order-4"]
    assert {"-ml-6.75", "mt-2", "w-[14px]"} <= flow[2] and "-ml-6.75" in flow[3]
    assert "ml-8.25" in flow[1]  # from the first label's end to the second swatch


def test_22_a_hundred_levels_survive_the_stages_round_trip(tmp_path: Path):
    env = StageEnv(store=FileArtifactStore(tmp_path / "s"), workdir=tmp_path / "w",
                   source_file=str(CASES / "22-deeper-nesting-100.json"))
    for stage in ("analyze", "generate"):
        res = run_stage(stage, PipelineConfig(), env)
        assert res.outcome == "Succeeded", res.message


def test_govuk_button_is_one_readable_component_with_css_states():
    (c,) = gen("govuk-button.json").values()
    src = c.source
    assert src.count("\n") <= 102  # at most a third of the 307-line switch it replaced
    assert "switch" not in src and "cva(" in src
    assert "<button" in src and "disabled={disabled}" in src
    assert "disabled:opacity-50" in src  # Tailwind's own scale, not opacity-[0.5]
    assert "hover:" in src and "focus-visible:" in src
    assert "Hover" not in src.split("export interface")[1].split("}")[0]  # states are no props
    assert 'variant?: "primary" | "secondary" | "warning" | "start"' in src
    assert not re.search(r"-\d+-\d+\b", src)  # no token names made of node ids
    m = c.manifest
    assert {s.state for s in m.stateChecks} == {"hover", "focus", "disabled"}
    assert all(s.pseudoClass.startswith(":") for s in m.stateChecks)
    assert m.defaultVariant and m.defaultVariant in m.nodePaths
    # state variants map onto the resting variant's elements (the visual check forces them)
    assert all(s.variant in m.nodePaths and m.nodePaths[s.variant][s.nodeId] == ""
               for s in m.stateChecks)


# ------------------------------------------------------------------------ merge exactness


def _evaluate(spec, values: dict[str, str]) -> set[str]:
    out = set(spec.base)
    for p, opts in spec.by_prop.items():
        out |= set(opts.get(values[p], []))
    for cond, cls in spec.compound:
        if all(values[k] in v for k, v in cond.items()):
            out |= set(cls)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_attributed_classes_reproduce_every_variant_exactly(seed: int):
    rng = random.Random(seed)
    props = {"size": ['"sm"', '"md"', '"lg"'], "tone": ['"a"', '"b"'], "on": ["true", "false"]}
    variants = [{"size": s, "tone": t, "on": o} for s in props["size"] for t in props["tone"]
                for o in props["on"]]
    pool = [f"c{i}" for i in range(12)]
    per = [(v, rng.sample(pool, rng.randint(0, 8))) for v in variants]
    spec = attribute_classes(per, list(props))
    for v, cls in per:
        assert _evaluate(spec, v) == set(cls)


def _js_to_py(expr: str) -> str:
    return expr.replace("===", "==").replace("&&", " and ").replace("||", " or ") \
        .replace("!", " not ")


@pytest.mark.parametrize("seed", range(40))
def test_presence_predicates_are_true_exactly_where_an_element_exists(seed: int):
    rng = random.Random(seed)
    variants = [{"size": f'"{s}"', "on": o} for s in ("sm", "md", "lg") for o in ("true", "false")]
    present = sorted(rng.sample(range(len(variants)), rng.randint(1, len(variants))))
    expr = predicate(present, variants, ["size", "on"], {"on"})
    for i, v in enumerate(variants):
        env = {"size": json.loads(v["size"]), "on": v["on"] == "true"}
        got = True if expr is None else eval(_js_to_py(expr), {"true": True, "false": False}, env)
        assert bool(got) == (i in present), (expr, v)


def test_state_properties_are_recognised_in_their_common_spellings():
    found = state_props({"State": ["Default", "Hover", "Pressed", "Disabled"],
                         "Hover": ["False", "True"], "Size": ["Small", "Large"],
                         "Focused": ["No", "Yes"]})
    assert {s.name for s in found} == {"State", "Hover", "Focused"}
    state = next(s for s in found if s.name == "State")
    assert state.rest == "Default" and state.states["Pressed"] == "active"


# ------------------------------------------------------------ tests that fail when a node is
# dropped: the renderer broken on purpose, the generated suite run for real (Node, vitest)


def _generated_suite(tmp_path: Path, case: str, drop: str | None, monkeypatch) -> dict:
    """Generate (with the renderer dropping node ``drop``) and run the generated vitest suite."""
    if drop is not None:
        real = lower_mod.Lowering.lower

        def broken(self, node, *a, **kw):
            return None if node.id == drop else real(self, node, *a, **kw)

        monkeypatch.setattr(lower_mod.Lowering, "lower", broken)
    store = FileArtifactStore(tmp_path / "store")
    env = StageEnv(store=store, workdir=tmp_path / "work", source_file=str(CASES / case))
    cfg = PipelineConfig()
    for stage in ("analyze", "generate", "test"):
        res = run_stage(stage, cfg, env)
        assert res.outcome == "Succeeded", res.message
    monkeypatch.undo()
    return qa.run_vitest(_checkout(store, res, tmp_path), tmp_path / "work")


def _checkout(store: FileArtifactStore, res, tmp_path: Path) -> Path:
    """The stage's project archive written out, with the shared node_modules linked in."""
    files = unpack_files(store.get(next(a for a in res.artifacts
                                        if a.name == "project.tar.gz").uri))
    project_dir = tmp_path / "project"
    write_tree(project_dir, files)
    modules, _, _ = qa.ensure_node_modules(json.loads(files["package.json"]), tmp_path / "work")
    qa._link_node_modules(project_dir, modules)
    return project_dir


DROPS = [
    ("07-boolean-prop-default-false.json", None),  # intact: the suite passes
    ("02-rotated-group.json", None),
    ("05-text-truncation.json", None),
    ("06-mask-group.json", None),
    ("07-boolean-prop-default-false.json", "5:6"),  # the badge's text (layer off by default)
    ("07-boolean-prop-default-false.json", "5:5"),  # the badge
    ("07-boolean-prop-default-false.json", "5:3"),  # the icon (on by default)
    ("07-boolean-prop-default-false.json", "5:4"),  # the label (a TEXT property)
    ("02-rotated-group.json", "34:12"),  # a filled rectangle
    ("06-mask-group.json", "72:7"),  # a tint inside a mask
    ("06-mask-group.json", "72:6"),  # an image inside a mask
]

# the renderer forgetting one Figma property: (case, what it forgets)
FORGETS = [
    ("02-rotated-group.json", "rotate-"),  # rotation
    ("05-text-truncation.json", "truncate"),  # a one-line truncation
    ("05-text-truncation.json", "line-clamp-"),  # max lines
    ("06-mask-group.json", "overflow-hidden"),  # the mask's clipping
    ("01-mixed-text-styles.json", "italic"),  # a styled run
]


@pytest.mark.slow
@pytest.mark.parametrize(("case", "forget"), FORGETS, ids=[f"{c[:2]}-{f}" for c, f in FORGETS])
def test_generated_tests_fail_when_the_renderer_forgets_a_property(
    tmp_path, monkeypatch, case, forget
):
    real = jsx_mod.class_string

    def forgetful(cls):
        return real([c for c in cls if not c.startswith(forget)])

    monkeypatch.setattr(jsx_mod, "class_string", forgetful)
    report = _generated_suite(tmp_path, case, None, monkeypatch)
    assert not report["ok"] and report["failed"] > 0


@pytest.mark.slow
@pytest.mark.parametrize(("case", "drop"), DROPS, ids=[f"{c[:2]}-{d}" for c, d in DROPS])
def test_generated_tests_fail_when_the_renderer_drops_a_node(tmp_path, monkeypatch, case, drop):
    report = _generated_suite(tmp_path, case, drop, monkeypatch)
    assert report["total"] > 0
    if drop is None:
        assert report["ok"] and report["failed"] == 0
    else:
        assert not report["ok"] and report["failed"] > 0


@pytest.mark.slow
def test_the_test_stage_formats_the_project_with_prettier(tmp_path: Path):
    store = FileArtifactStore(tmp_path / "store")
    env = StageEnv(store=store, workdir=tmp_path / "work",
                   source_file=str(CASES / "05-text-truncation.json"))
    cfg = PipelineConfig()
    for stage in ("analyze", "generate"):
        assert run_stage(stage, cfg, env).outcome == "Succeeded"
    res = run_stage("test", cfg, env)
    assert res.summary["formatted"] is True, res.message
    assert qa.run_prettier(_checkout(store, res, tmp_path), tmp_path / "work")["ok"]


def test_property_names_are_trimmed_and_keyed_the_same_everywhere(tmp_path: Path):
    def comp(cid: str, name: str, label: str) -> dict:
        return {"id": cid, "name": name, "type": "COMPONENT", "children": [
            {"id": cid + "t", "name": "Label", "type": "TEXT", "characters": label,
             "absoluteBoundingBox": {"x": 0, "y": 0, "width": 40, "height": 20}}],
            "absoluteBoundingBox": {"x": 0, "y": 0, "width": 80, "height": 40}}

    doc = {"name": "F", "document": {"id": "0:0", "type": "DOCUMENT", "children": [
        {"id": "0:1", "type": "CANVAS", "name": "P", "children": [
            {"id": "1:0", "type": "COMPONENT_SET", "name": "Tag",
             "componentPropertyDefinitions": {
                 "Size ": {"type": "VARIANT", "defaultValue": "Small",
                           "variantOptions": ["Small", "Large"]}},
             "children": [comp("1:1", "Size =Small", "S"), comp("1:2", " Size=Large", "L")]}]}]}}
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    spec = analyze_source(load_figma_file(str(path)))
    (tag,) = spec.components
    assert [(p.name, p.ident, p.options) for p in tag.props] == [
        ("Size", "size", ["Small", "Large"])]


def test_a_quarter_turned_line_in_auto_layout_is_a_vertical_divider(tmp_path: Path):
    line = {"id": "2:2", "name": "Divider", "type": "LINE", "rotation": math.pi / 2,
            "size": {"x": 32, "y": 0}, "strokeWeight": 1,
            "strokes": [{"type": "SOLID", "color": {"r": 0.8, "g": 0.8, "b": 0.8, "a": 1}}],
            "absoluteBoundingBox": {"x": 60, "y": 4, "width": 0, "height": 32}}

    def text(i: str, x: float) -> dict:
        return {"id": i, "name": "T", "type": "TEXT", "characters": "Item",
                "style": {"fontSize": 14, "textAutoResize": "WIDTH_AND_HEIGHT"},
                "absoluteBoundingBox": {"x": x, "y": 10, "width": 40, "height": 20}}

    bar = {"id": "2:1", "name": "Bar", "type": "FRAME", "layoutMode": "HORIZONTAL",
           "itemSpacing": 8, "absoluteBoundingBox": {"x": 0, "y": 0, "width": 140, "height": 40},
           "children": [text("2:3", 12), line, text("2:4", 68)]}
    doc = {"name": "F", "document": {"id": "0:0", "type": "DOCUMENT", "children": [
        {"id": "0:1", "type": "CANVAS", "name": "P", "children": [bar]}]}}
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    spec = analyze_source(load_figma_file(str(path)))
    (c,) = generate_components(spec, lookup_from_dtcg(extract_tokens(spec).dtcg))
    divider = re.search(r'className="([^"]*border-l-\[1px\][^"]*)"', c.source)
    assert divider, c.source
    assert "h-[32px]" in divider.group(1) and "rotate" not in divider.group(1)


def test_placement_classes_read_as_people_write_them(tmp_path: Path):
    fill = [{"type": "SOLID", "color": {"r": 0.8, "g": 0.8, "b": 0.8, "a": 1}}]
    cover = {"id": "5:2", "name": "Bg", "type": "RECTANGLE", "fills": fill,
             "constraints": {"horizontal": "SCALE", "vertical": "SCALE"},
             "absoluteBoundingBox": {"x": 0, "y": 0, "width": 230, "height": 63}}
    above = {"id": "5:3", "name": "Tag", "type": "RECTANGLE", "fills": fill,
             "absoluteBoundingBox": {"x": 0, "y": -8, "width": 20, "height": 8}}
    comp = {"id": "5:1", "name": "Card", "type": "COMPONENT", "children": [cover, above],
            "absoluteBoundingBox": {"x": 0, "y": 0, "width": 230, "height": 63}}
    doc = {"name": "F", "document": {"id": "0:0", "type": "DOCUMENT", "children": [
        {"id": "0:1", "type": "CANVAS", "name": "P", "children": [comp]}]}}
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    spec = analyze_source(load_figma_file(str(path)))
    (c,) = generate_components(spec, lookup_from_dtcg(extract_tokens(spec).dtcg))
    assert re.search(r'className="absolute inset-0 bg-', c.source), c.source
    assert 'className="absolute left-0 -top-[8px] w-[20px] h-[8px] bg-' in c.source, c.source
    assert not re.search(r"-\[(?:-|0px|0%|100%)", c.source)


def test_a_full_bleed_layer_of_a_screen_stretches_with_it(tmp_path: Path):
    fill = [{"type": "SOLID", "color": {"r": 0.1, "g": 0.3, "b": 0.6, "a": 1}}]
    band = {"id": "6:2", "name": "Band", "type": "RECTANGLE", "fills": fill,
            "absoluteBoundingBox": {"x": 0, "y": 0, "width": 1280, "height": 400}}
    title = {"id": "6:3", "name": "Title", "type": "TEXT", "characters": "Hello",
             "style": {"fontSize": 32, "textAutoResize": "WIDTH_AND_HEIGHT"},
             "absoluteBoundingBox": {"x": 160, "y": 100, "width": 90, "height": 40}}
    screen = {"id": "6:1", "name": "Home", "type": "FRAME", "children": [band, title],
              "absoluteBoundingBox": {"x": 0, "y": 0, "width": 1280, "height": 800}}
    doc = {"name": "F", "document": {"id": "0:0", "type": "DOCUMENT", "children": [
        {"id": "0:1", "type": "CANVAS", "name": "P", "children": [screen]}]}}
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    spec = analyze_source(load_figma_file(str(path)))
    (c,) = generate_components(spec, lookup_from_dtcg(extract_tokens(spec).dtcg))
    band_cls = re.search(r'<div className="(absolute [^"]*)"', c.source).group(1).split()
    # a 1280 px wide screen in a narrower page: the band is as wide as the screen, not 1280 px
    assert {"left-0", "right-0"} <= set(band_cls) and "w-[1280px]" not in band_cls, band_cls


def test_a_line_with_a_vertical_box_and_no_rotation_is_a_vertical_divider(tmp_path: Path):
    # older files carry no rotation: the bounding box alone says the line stands upright
    line = {"id": "2:2", "name": "Tick", "type": "LINE", "strokeWeight": 1,
            "strokes": [{"type": "SOLID", "color": {"r": 0.9, "g": 0.1, "b": 0.5, "a": 1}}],
            "absoluteBoundingBox": {"x": 10, "y": 0, "width": 0, "height": 15}}
    frame = {"id": "2:1", "name": "Redline", "type": "FRAME", "children": [line],
             "absoluteBoundingBox": {"x": 0, "y": 0, "width": 32, "height": 15}}
    doc = {"name": "F", "document": {"id": "0:0", "type": "DOCUMENT", "children": [
        {"id": "0:1", "type": "CANVAS", "name": "P", "children": [frame]}]}}
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    spec = analyze_source(load_figma_file(str(path)))
    (c,) = generate_components(spec, lookup_from_dtcg(extract_tokens(spec).dtcg))
    assert "border-l-[1px]" in c.source and "border-t-" not in c.source, c.source


def test_redline_annotations_are_not_drawn_nor_taken_for_inputs():
    """figmagic's "_Redlines / Redlines :: Input" groups (the designer's measurement
    annotations, '_' = ignored by convention) are not drawn and never become an <input>; each
    dropped one is reported; the Input component itself is still a text field."""
    from pfa_support import fixture

    spec = analyze_source(load_figma_file(str(fixture("figmagic"))))
    comps = {c.ident: c for c in generate_components(spec, lookup_from_dtcg(
        extract_tokens(spec).dtcg))}
    for ident in ("Button", "MyDesignSystemButton"):
        assert "<input" not in comps[ident].source and "100%" not in comps[ident].source
        assert any(u.name == "_Redlines" and u.property == "visible"
                   for u in comps[ident].unreproduced)
    assert re.search(r'<input[^>]*placeholder="Placeholder text"', comps["Input"].source)
    assert not any('placeholder="100%"' in c.source or 'placeholder="Small"' in c.source
                   for c in comps.values())


def test_spacing_uses_tailwind_scale_and_white_black_are_named():
    """10px -> 2.5 and 24px -> 6 on Tailwind 4's spacing scale (never a '10px' token or
    p-[24px]), 7px -> 1.75 (any whole pixel: Tailwind 4 takes multiples of 0.25); pure
    white/black are bg-white/bg-black without a token."""
    spec = analyze_source(load_figma_file(str(CASES / "03-grid-auto-layout.json")))
    ctx = lower_mod.Lowering(spec=spec, lookup=lower_mod.TokenLookup(spacing={"10px": "10px"}),
                             component="X", props={})
    assert ctx.space("py", 10) == "py-2.5" and ctx.space("p", 24) == "p-6"
    assert ctx.space("p", 7) == "p-1.75" and ctx.space("mt", -8) == "-mt-2"
    assert ctx.space("gap", 1) == "gap-px" and ctx.space("p", 2.5) == "p-[2.5px]"
    from pf_agents.figma_models import Color, Paint

    white = Paint(type="SOLID", color=Color(r=1, g=1, b=1, a=1))
    assert ctx.color("bg", white) == "bg-white"
    assert not any(k.endswith("px") for k in extract_tokens(spec).dtcg.get("spacing", {}))


def test_near_whole_placements_are_written_as_people_write_them():
    """Within half a pixel at the design width: 99.988% -> full, calc(50%+0px) -> 1/2, a
    0.05px offset -> 0; a real share or offset keeps its value."""
    pin = lower_mod._pin
    assert pin("SCALE", "left", "right", "w", "x", 0.02, 399.95, 400) == ["left-0", "w-full"]
    assert pin("SCALE", "left", "right", "w", "x", 8, 100, 400) == ["left-[2%]", "w-[25%]"]
    assert pin("CENTER", "top", "bottom", "h", "y", 40.1, 20, 100) == ["top-1/2",
                                                                       "-translate-y-1/2"]
    assert pin("CENTER", "top", "bottom", "h", "y", 44, 20, 100)[0] == "top-[calc(50%+4px)]"
    assert pin("RIGHT", "left", "right", "w", "x", 0, 99.95, 100) == ["right-[0px]"]
    assert lower_mod._tidy_placement(["right-[0px]"]) == ["right-0"]
    assert pin("RIGHT", "left", "right", "w", "x", 0, 97, 100) == ["right-[3px]"]


def test_03_grid_collapses_on_its_own_width_not_the_viewport():
    """The one-column fallback of a grid is a container query on the component root."""
    (c,) = gen("03-grid-auto-layout.json").values()
    root = re.search(r'cn\(\s*"([^"]*)"', c.source).group(1).split()
    assert "@container" in root and "@max-sm:grid-cols-1" in root
    assert not re.search(r'(?<![@\w-])max-sm:', c.source)


def test_vector_paths_take_the_state_colour_through_current_color(tmp_path):
    """With geometry=paths (as the live API answers), the GOV.UK start button's arrow is
    fill="currentColor" with its colour a text-* class, so the focus variant's dark arrow on
    the yellow focus background survives the variant merge (was fill="#ffffff" only)."""
    from tests.figma_api import apply_geometry

    data = json.loads((EXAMPLES / "govuk-button.json").read_text())
    apply_geometry(data, True)
    path = tmp_path / "govuk-button.json"
    path.write_text(json.dumps(data))
    spec = analyze_source(load_figma_file(str(path)))
    comps = generate_components(spec, lookup_from_dtcg(extract_tokens(spec).dtcg))
    src = "".join(c.source for c in comps)
    assert "<path" in src and 'fill="#' not in src.split("<svg", 1)[1]
    svg = re.search(r'<svg[^>]*className=(?:"([^"]*)"|\{cn\(([^)]*)\))', src)
    assert svg and "fill=\"currentColor\"" in src
    svg_cls = svg.group(1) or svg.group(2)
    assert re.search(r"(?<!:)text-\S", svg_cls) and "group-focus-visible:text-" in svg_cls


def test_a_nested_element_does_not_repeat_its_parents_condition():
    """Inside an element shown for variant "start", a child shown for desktop start variants
    is conditioned on the viewport alone (the parent's predicate already holds there)."""
    variants = [{"variant": f'"{a}"', "viewport": f'"{b}"'}
                for a in ("start", "plain") for b in ("desktop", "mobile")]
    order = ["variant", "viewport"]
    assert predicate([0, 1], variants, order, set()) == 'variant === "start"'
    assert predicate([0], variants, order, set(), among=[0, 1]) == 'viewport === "desktop"'
    assert predicate([0, 1], variants, order, set(), among=[0, 1]) is None
    for seed in range(20):  # still exact within the parent's variants
        rng = random.Random(seed)
        among = sorted(rng.sample(range(4), rng.randint(1, 4)))
        present = sorted(rng.sample(among, rng.randint(1, len(among))))
        expr = predicate(present, variants, order, set(), among=among)
        for i in among:
            v = variants[i]
            env = {k: json.loads(x) for k, x in v.items()}
            got = True if expr is None else eval(_js_to_py(expr), {}, env)
            assert bool(got) == (i in present), (expr, v)


def _frame(nid: str, name: str, x: float, w: float, h: float, **kw: Any) -> dict[str, Any]:
    return {"id": nid, "name": name, "type": kw.pop("type", "FRAME"),
            "absoluteBoundingBox": {"x": x, "y": 0, "width": w, "height": h},
            "children": kw.pop("children", []), **kw}


def test_a_component_as_wide_as_a_page_is_fluid_and_a_narrow_one_is_not(tmp_path: Path):
    """A 1440 px banner component (a component set here) renders like a screen: full width up
    to 1440 px, its 960 px column at most as wide as the page, its row of buttons wrapping;
    a 200 px card keeps its width."""
    def button(nid: str, x: float) -> dict[str, Any]:
        return _frame(nid, "Button", x, 200, 40, layoutMode="HORIZONTAL",
                      primaryAxisSizingMode="FIXED", counterAxisSizingMode="FIXED",
                      fills=[{"type": "SOLID", "color": {"r": 0, "g": 0.4, "b": 0.2, "a": 1}}])

    def banner(nid: str, name: str) -> dict[str, Any]:
        row = _frame(f"{nid}r", "Actions", 240, 416, 40, layoutMode="HORIZONTAL",
                     primaryAxisSizingMode="AUTO", counterAxisSizingMode="AUTO", itemSpacing=16,
                     children=[button(f"{nid}a", 240), button(f"{nid}b", 456)])
        col = _frame(f"{nid}c", "Container", 240, 960, 40, layoutMode="VERTICAL",
                     primaryAxisSizingMode="AUTO", counterAxisSizingMode="FIXED",
                     layoutAlign="INHERIT", children=[row])
        return _frame(nid, name, 0, 1440, 80, type="COMPONENT", layoutMode="VERTICAL",
                      primaryAxisSizingMode="FIXED", counterAxisSizingMode="FIXED",
                      counterAxisAlignItems="CENTER", paddingTop=20, children=[col])

    doc = {"name": "F", "document": {"id": "0:0", "type": "DOCUMENT", "children": [
        {"id": "0:1", "type": "CANVAS", "name": "P", "children": [
            _frame("1:1", "Banner", 0, 1440, 200, type="COMPONENT_SET", children=[
                banner("1:2", "State=Default"), banner("1:3", "State=Done")]),
            _frame("2:1", "Card", 2000, 200, 100, type="COMPONENT", layoutMode="VERTICAL",
                   primaryAxisSizingMode="FIXED", counterAxisSizingMode="FIXED",
                   children=[button("2:2", 2000)]),
        ]}]}}
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    spec = analyze_source(load_figma_file(str(path)))
    comps = {c.ident: c for c in generate_components(spec, lookup_from_dtcg(
        extract_tokens(spec).dtcg))}
    banner_src = comps["Banner"].source
    root = re.search(r'cn\(\s*"([^"]*)"', banner_src).group(1).split()
    assert {"w-full", "max-w-[1440px]"} <= set(root) and "w-[1440px]" not in root
    assert re.search(r'className="w-\[960px\] max-w-full ', banner_src), banner_src
    assert re.search(r'className="[^"]*\bflex flex-wrap\b[^"]*gap-4', banner_src), banner_src
    assert comps["Banner"].manifest.fluid and not comps["Card"].manifest.fluid
    card_root = re.search(r'cn\(\s*"([^"]*)"', comps["Card"].source).group(1).split()
    assert "w-[200px]" in card_root and "w-full" not in card_root


def test_a_one_line_box_the_fallback_font_draws_wider_hugs_its_text(tmp_path: Path):
    """A fixed-width TEXT around one line in a font that is not bundled: where the browser's
    fallback (Arial's metrics here) draws the line wider than the box it hugs its text, so it
    does not wrap and push the column below it down a line; where it fits, and for centred
    text, the box keeps its width."""
    from pf_agents.fallback_fonts import fallback_faces, text_width

    def label(nid: str, y: float, chars: str, w: float, align: str = "LEFT") -> dict[str, Any]:
        return _frame(nid, chars, 0, w, 31, type="TEXT", characters=chars,
                      absoluteBoundingBox={"x": 0, "y": y, "width": w, "height": 31},
                      style={"fontFamily": "Brand Sans", "fontSize": 26, "fontWeight": 400,
                             "lineHeightPx": 30.5, "textAutoResize": "HEIGHT",
                             "textAlignHorizontal": align})

    natural = text_width("Heading XS", 26)
    assert natural is not None and 138 < natural < 139  # Arial draws it 138.8 px wide
    doc = {"name": "F", "document": {"id": "0:0", "type": "DOCUMENT", "children": [
        {"id": "0:1", "type": "CANVAS", "name": "P", "children": [
            _frame("1:1", "Type", 0, 300, 200, children=[
                label("1:2", 0, "Heading XS", 138), label("1:3", 50, "Heading S", 150),
                label("1:4", 100, "Heading XS", 138, "CENTER")])]}]}}
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    spec = analyze_source(load_figma_file(str(path)))
    faces = fallback_faces(spec.index().values(), ["Brand Sans"])
    (c,) = generate_components(spec, lookup_from_dtcg(extract_tokens(spec).dtcg), None, faces)
    left, fits = (re.findall(r'className="([^"]*)"[^>]*>\s*' + t, c.source)[0]
                  for t in ("Heading XS", "Heading S"))
    centred = re.findall(r'className="([^"]*text-center[^"]*)"', c.source)[0]
    assert "w-[138px]" not in left.split(), c.source
    assert "w-[150px]" in fits.split()
    assert "w-[138px]" in centred.split()
    # without the fallback faces (a bundled font) the boxes are Figma's
    (plain,) = generate_components(spec, lookup_from_dtcg(extract_tokens(spec).dtcg))
    assert plain.source.count("w-[138px]") == 2


def test_stories_give_a_boolean_variant_a_checkbox_and_others_a_select(tmp_path: Path):
    from pf_agents.project import stories

    def variant(nid: str, name: str, x: float) -> dict[str, Any]:
        return _frame(nid, name, x, 120, 40, type="COMPONENT", children=[
            _frame(f"{nid}t", "Label", x, 60, 20, type="TEXT", characters=name,
                   style={"fontSize": 14})])

    doc = {"name": "F", "document": {"id": "0:0", "type": "DOCUMENT", "children": [
        {"id": "0:1", "type": "CANVAS", "name": "P", "children": [
            _frame("1:1", "Notice", 0, 300, 40, type="COMPONENT_SET", children=[
                variant("1:2", "Responded=False, Tone=Info", 0),
                variant("1:3", "Responded=True, Tone=Info", 130),
                variant("1:4", "Responded=False, Tone=Warning", 260)])]}]}}
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    spec = analyze_source(load_figma_file(str(path)))
    (c,) = generate_components(spec, lookup_from_dtcg(extract_tokens(spec).dtcg))
    assert "responded?: boolean" in c.source
    src = stories(c)
    responded = src.split("responded: {")[1].split("}")[0]
    tone = src.split("tone: {")[1].split("}")[0]
    assert 'control: "boolean"' in responded and "options" not in responded
    assert 'control: "select"' in tone and '"info"' in tone.lower()


def test_annotation_texts_are_not_expected_by_the_generated_tests(tmp_path: Path):
    """A designer's redlines (a `_Redlines` group with dimension texts) are not drawn, so the
    generated tests do not expect their texts (figmagic's Button expected "Small" and failed)."""
    doc = {"name": "F", "document": {"id": "0:0", "type": "DOCUMENT", "children": [
        {"id": "0:1", "type": "CANVAS", "name": "P", "children": [
            _frame("1:1", "Button", 0, 200, 48, type="COMPONENT", children=[
                _frame("1:2", "Label", 10, 100, 20, type="TEXT", characters="Button text",
                       style={"fontSize": 14}),
                _frame("1:3", "_Redlines", 0, 200, 48, type="GROUP", children=[
                    _frame("1:5", "Measuring Line", 0, 30, 12, clipsContent=True,
                           fills=[{"type": "SOLID", "color": {"r": 1, "g": 0, "b": 0, "a": 1}}],
                           children=[_frame("1:4", "Dimension Value", 0, 30, 12, type="TEXT",
                                            characters="Small", style={"fontSize": 10})])])])]}]}}
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    spec = analyze_source(load_figma_file(str(path)))
    (c,) = generate_components(spec, lookup_from_dtcg(extract_tokens(spec).dtcg))
    assert [t.text for t in c.manifest.designTexts] == ["Button text"]
    # nor the shapes: its clipping frame and red fill are not drawn either
    assert "overflow-hidden" not in c.manifest.designShapes
    assert not any("red" in k or "ff0000" in k for k in c.manifest.designShapes), c.manifest
    assert "Small" not in c.source
    assert any(u.node == "1:3" for u in c.unreproduced), c.unreproduced


def test_relative_only_where_something_is_positioned_against_it():
    """A screen whose layers all flow (case 13) has no `relative`; a rotated group whose
    ribbon is placed absolutely (case 02) keeps it on the element the ribbon is placed in."""
    for c in gen("13-nested-sections.json").values():
        assert " relative" not in c.source and '"relative' not in c.source, c.source
    (rot,) = gen("02-rotated-group.json").values()
    assert "relative" in rot.source and "absolute" in rot.source

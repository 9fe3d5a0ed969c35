"""Design tokens: names people use (styles, variables, derived), Tailwind 4 theme CSS, DTCG."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pfa_support import FIXTURES, fixture

from pf_agents.analyze import analyze_source
from pf_agents.figma_client import load_figma_file, parse_figma_json
from pf_agents.figma_models import LocalVariables
from pf_agents.tokens import (
    EXT,
    color_names,
    count_id_derived_names,
    extract_tokens,
    ladder_names,
    lookup_from_dtcg,
    spacing_key,
    tokenset_from_dtcg,
    variables_from_json,
)

ROOT = Path(__file__).resolve().parents[2]
GOVUK = ROOT / "examples" / "figma" / "govuk-button.json"
CASES_DIR = FIXTURES[0].parent.parent / "figma-cases" if FIXTURES else Path("/nonexistent")
CASES = sorted(CASES_DIR.glob("*.json"))
ALL = [*FIXTURES, *CASES, GOVUK]
ALL_IDS = [p.stem for p in ALL]

DECL = re.compile(r"^  (--[a-z0-9][a-z0-9_-]*)\s*:\s*([^;{}]+);$")
ID_LIKE = re.compile(r"\d+-\d+")


def spec_of(path: Path):
    return analyze_source(load_figma_file(str(path)))


def spec_from(data: dict):
    return analyze_source(parse_figma_json(data))


def parse_theme(css: str) -> dict[str, dict[str, str]]:
    """Selector -> {variable: value}; asserts every line is a well-formed declaration."""
    blocks: dict[str, dict[str, str]] = {}
    current: str | None = None
    for line in css.splitlines():
        if not line.strip():
            continue
        if current is None:
            assert line.endswith(" {"), line
            current = line[:-2]
            assert current not in blocks, f"duplicate block {current}"
            blocks[current] = {}
        elif line == "}":
            current = None
        else:
            m = DECL.match(line)
            assert m, f"malformed declaration: {line!r}"
            assert m.group(1) not in blocks[current], f"duplicate {m.group(1)}"
            blocks[current][m.group(1)] = m.group(2).strip()
    assert current is None, "unclosed block"
    return blocks


def all_names(ts) -> list[str]:
    return [k for grp in ts.dtcg.values() for k in grp]


# ---------------------------------------------------------------- every stored Figma file


@pytest.mark.parametrize("path", ALL, ids=ALL_IDS)
def test_no_token_name_derived_from_a_node_id(path: Path) -> None:
    spec = spec_of(path)
    ts = extract_tokens(spec)
    names = all_names(ts)
    assert [n for n in names if ID_LIKE.search(n)] == []
    assert count_id_derived_names(ts, spec) == 0
    assert count_id_derived_names(ts.dtcg) == 0
    for n in names:
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", n), n


@pytest.mark.parametrize("path", ALL, ids=ALL_IDS)
def test_deterministic(path: Path) -> None:
    a, b = extract_tokens(spec_of(path)), extract_tokens(spec_of(path))
    assert json.dumps(a.dtcg) == json.dumps(b.dtcg)
    assert a.theme_css() == b.theme_css()
    # the generate stage rebuilds the same theme from analyze's tokens.json alone
    c = tokenset_from_dtcg(json.loads(json.dumps(a.dtcg)))
    assert c.theme_css() == a.theme_css()
    assert c.tailwind_extend() == a.tailwind_extend() and c.count == a.count


@pytest.mark.parametrize("path", ALL, ids=ALL_IDS)
def test_theme_css_parses_and_matches_dtcg(path: Path) -> None:
    ts = extract_tokens(spec_of(path))
    blocks = parse_theme(ts.theme_css())
    theme = blocks.pop("@theme")
    assert all(sel.startswith("[data-theme=") for sel in blocks)
    prefix = {"color": "color", "fontFamily": "font", "typography": "text", "spacing": "spacing",
              "radius": "radius", "shadow": "shadow"}
    expected = set()
    for group, toks in ts.dtcg.items():
        for key, tok in toks.items():
            assert tok["$extensions"][EXT]["tailwind"] == key
            var = f"--{prefix[group]}-{key}"
            expected.add(var)
            assert var in theme, var
            v = tok["$value"]
            if group == "color" or group in ("spacing", "radius"):
                assert theme[var] == v
            elif group == "typography" and isinstance(v, dict):
                assert theme[var] == v["fontSize"]
                assert theme[f"{var}--font-weight"] == str(v["fontWeight"])
                if v["lineHeight"] != "normal" or f"{var}--line-height" in theme:
                    assert theme[f"{var}--line-height"] == v["lineHeight"]
                expected.update({f"{var}--font-weight", f"{var}--line-height",
                                 f"{var}--letter-spacing"})
            elif group == "fontFamily":
                assert v[0].replace('"', "") in theme[var]
            elif group == "shadow":
                items = v if isinstance(v, list) else [v]
                assert theme[var].count("px") == 4 * len(items)
    assert set(theme) <= expected
    # the generator's lookup is rebuilt from the DTCG document and names the same keys
    lk = lookup_from_dtcg(json.loads(json.dumps(ts.dtcg)))
    assert set(lk.color_by_value.values()) <= set(ts.colors)
    assert set(lk.spacing.values()) == set(ts.spacing)
    assert set(lk.radius.values()) == set(ts.radius)
    assert set(lk.shadow_by_value.values()) == set(ts.shadow)


def test_style_names_are_used_where_present() -> None:
    spec = spec_of(fixture("figmagic"))
    ts = extract_tokens(spec)
    named = {t["$extensions"][EXT]["figmaName"]: k for grp in ts.dtcg.values()
             for k, t in grp.items() if t["$extensions"][EXT]["source"] == "style"}
    assert named["Silver (Metallic)"] == "silver-metallic"
    assert named["Heading L"] == "heading-l"
    assert named["Shadow Deep"] == "deep"  # the group word is not repeated: shadow-deep
    lk = lookup_from_dtcg(ts.dtcg)
    for grp in ts.dtcg.values():
        for k, t in grp.items():
            ext = t["$extensions"][EXT]
            if ext["source"] == "style":
                assert spec.styles[ext["styleId"]].name == ext["figmaName"]
                assert k in (lk.color_by_style.get(ext["styleId"]),
                             lk.typo_by_style.get(ext["styleId"]),
                             lk.shadow_by_style.get(ext["styleId"]))
    # every used fill style of the Clarity palette keeps its name
    spec = spec_of(fixture("grida__"))
    ts = extract_tokens(spec)
    from_styles = [t for t in ts.dtcg["color"].values()
                   if t["$extensions"][EXT]["source"] == "style"]
    assert len(from_styles) >= 100
    assert all(t["$extensions"][EXT]["figmaName"] for t in from_styles)


def test_govuk_button_derived_names() -> None:
    # a COMPONENT_SET subtree: style ids without style names -> derived names
    ts = extract_tokens(spec_of(GOVUK))
    assert {"white", "gray-950", "green-800", "orange-700", "yellow-300"} <= set(ts.colors)
    assert ts.colors["green-800"] == "#00703c"
    assert {"body", "heading-1"} <= set(ts.font_size)
    assert ts.spacing["2"] == "8px" and ts.spacing["3"] == "12px"
    assert all(k.startswith("inset-xs") for k in ts.shadow)
    lk = lookup_from_dtcg(ts.dtcg)
    assert lk.color_by_style["52:38"] == "green-800"
    # two unnamed styles with one value share one token
    assert lk.color_by_style["20:18"] == lk.color_by_style["20:27"] == "gray-950"


# ---------------------------------------------------------------- naming rules


@pytest.mark.parametrize(("value", "name"), [
    ("#ffffff", "white"), ("#000000", "black"), ("#00000040", "black-alpha-25"),
    # Tailwind 4's own colours keep their names
    ("#155dfc", "blue-600"), ("#2b7fff", "blue-500"), ("#f3f4f6", "gray-100"),
    ("#101828", "gray-900"), ("#e7000b", "red-600"), ("#00a63e", "green-600"),
    ("#fdc700", "yellow-400"), ("#ff6900", "orange-500"),
    # others take the nearest one (Tailwind 3's gray-900 and blue-600, greys of any warmth)
    ("#111827", "gray-900"), ("#2563eb", "blue-600"), ("#f3f2f1", "gray-100"),
    ("#0b0c0c", "gray-950"), ("#00703c", "green-800"),
])
def test_colour_family_and_step(value: str, name: str) -> None:
    assert color_names(value)[0] == name


def oklch_hex(L: float, C: float, h: float) -> str:
    import math

    a, b = C * math.cos(math.radians(h)), C * math.sin(math.radians(h))
    l_, m_, s_ = (L + 0.3963377774 * a + 0.2158037573 * b, L - 0.1055613458 * a
                  - 0.0638541728 * b, L - 0.0894841775 * a - 1.2914855480 * b)
    lc, mc, sc = l_ ** 3, m_ ** 3, s_ ** 3
    rgb = (4.0767416621 * lc - 3.3077115913 * mc + 0.2309699292 * sc,
           -1.2684380046 * lc + 2.6097574011 * mc - 0.3413193965 * sc,
           -0.0041960863 * lc - 0.7034186147 * mc + 1.7076147010 * sc)

    def enc(x: float) -> int:
        x = max(0.0, min(1.0, x))
        return round((12.92 * x if x <= 0.0031308 else 1.055 * x ** (1 / 2.4) - 0.055) * 255)
    return "#" + "".join(f"{enc(x):02x}" for x in rgb)


def test_every_tailwind_palette_colour_is_named_after_itself() -> None:
    from pf_agents.tokens import _PALETTE, _STEPS

    greys = {"slate", "gray", "zinc", "neutral", "stone"}
    for fam, ladder in _PALETTE.items():
        for step, lch in zip(_STEPS, ladder, strict=True):
            want = f"{'gray' if fam in greys else fam}-{step}"
            assert color_names(oklch_hex(*lch))[0] == want


def test_spacing_radius_shadow_scales() -> None:
    assert [spacing_key(v) for v in (4, 8, 12, 16, 1, 5, 10, 2.5)] == \
        ["1", "2", "3", "4", "px", "5px", "10px", "2_5px"]
    assert ladder_names([2, 4, 6, 8], [("xs", 2), ("sm", 4), ("md", 6), ("lg", 8)]) == \
        ["xs", "sm", "md", "lg"]
    from pf_agents.tokens import _RADIUS_LADDER
    names = ladder_names([3, 4, 5, 100], _RADIUS_LADDER)
    assert names[:3] == ["xs", "sm", "md"] and len(set(names)) == 4


def node(id_: str, **kw):
    return {"id": id_, "name": kw.pop("name", id_), "type": kw.pop("type", "RECTANGLE"),
            "absoluteBoundingBox": {"x": 0, "y": 0, "width": 10, "height": 10}, **kw}


def solid(r: float, g: float, b: float) -> list[dict]:
    return [{"type": "SOLID", "color": {"r": r, "g": g, "b": b, "a": 1}}]


def file_of(children: list[dict], styles: dict | None = None) -> dict:
    return {"name": "t", "styles": styles or {},
            "document": {"id": "0:0", "type": "DOCUMENT", "name": "d", "children": [
                {"id": "0:1", "type": "CANVAS", "name": "p", "children": [
                    node("1:0", type="FRAME", name="Screen", children=children)]}]}}


def test_collisions_are_resolved_deterministically() -> None:
    styles = {"1:1": {"name": "Primary", "styleType": "FILL"},
              "1:2": {"name": "Primary", "styleType": "FILL"},
              "1:3": {"name": "Brand/Blue 500", "styleType": "FILL"},
              "1:4": {"name": "Brand / Blue-500", "styleType": "FILL"}}
    kids = [node("2:1", fills=solid(1, 0, 0), styles={"fill": "1:1"}),
            node("2:2", fills=solid(0, 1, 0), styles={"fill": "1:2"}),
            node("2:3", fills=solid(0, 0, 1), styles={"fill": "1:3"}),
            node("2:4", fills=solid(0, 0, 0.9), styles={"fill": "1:4"}),
            # two blues of one step, each used twice, no style
            node("2:5", fills=solid(0.145, 0.388, 0.922)), node("2:6", fills=solid(0.145, 0.388,
                                                                                    0.922)),
            node("2:7", fills=solid(0.15, 0.4, 0.93)), node("2:8", fills=solid(0.15, 0.4, 0.93))]
    data = file_of(kids, styles)
    ts = extract_tokens(spec_from(data))
    keys = list(ts.colors)
    assert len(keys) == len(set(keys)) == 6
    assert {"primary", "primary-2", "brand-blue-500", "brand-blue-500-alt"} <= set(keys)
    derived = [k for k in keys if ts.dtcg["color"][k]["$extensions"][EXT]["source"] == "derived"]
    assert len(derived) == 2 and all(k.startswith("blue-") for k in derived)
    assert not [k for k in keys if ID_LIKE.search(k)]
    # the same design with its styles and nodes in another order gives the same names
    data2 = file_of(list(reversed(kids)), dict(reversed(list(styles.items()))))
    ts2 = extract_tokens(spec_from(data2))
    assert json.dumps(ts2.dtcg) == json.dumps(ts.dtcg)
    assert ts2.theme_css() == ts.theme_css()


def test_colour_and_font_size_keys_never_share_a_name() -> None:
    styles = {"1:1": {"name": "Body", "styleType": "FILL"},
              "1:2": {"name": "Body", "styleType": "TEXT"},
              "1:3": {"name": "Base", "styleType": "FILL"}}
    text = {"fontFamily": "Inter", "fontSize": 16, "fontWeight": 400}
    kids = [node("2:1", fills=solid(0.2, 0.2, 0.2), styles={"fill": "1:1"}),
            node("2:3", fills=solid(0.3, 0.2, 0.2), styles={"fill": "1:3"}),
            node("2:2", type="TEXT", characters="x", style=text, styles={"text": "1:2"})]
    ts = extract_tokens(spec_from(file_of(kids, styles)))
    assert not set(ts.colors) & set(ts.font_size)
    assert "base" not in ts.colors  # `text-base` is Tailwind's font size


def test_typography_names_by_size() -> None:
    def t(id_: str, size: float, weight: int = 400) -> dict:
        return node(id_, type="TEXT", characters="x",
                    style={"fontFamily": "Inter", "fontSize": size, "fontWeight": weight})
    kids = [t(f"3:{i}", 16) for i in range(5)] + [t("4:1", 32, 700), t("4:2", 32, 700),
                                                  t("5:1", 24, 600), t("5:2", 24, 600),
                                                  t("6:1", 12), t("6:2", 12),
                                                  t("7:1", 16, 700), t("7:2", 16, 700)]
    ts = extract_tokens(spec_from(file_of(kids)))
    sizes = {k: v[0] for k, v in ts.font_size.items()}
    assert sizes == {"body": "16px", "body-bold": "16px", "heading-1": "32px",
                     "heading-2": "24px", "body-sm": "12px"}


# ---------------------------------------------------------------- Figma variables


def local_variables() -> dict:
    """A GET /v1/files/:key/variables/local response: primitives + semantic light/dark."""
    def alias(vid: str) -> dict:
        return {"type": "VARIABLE_ALIAS", "id": vid}

    def rgba(r: float, g: float, b: float) -> dict:
        return {"r": r, "g": g, "b": b, "a": 1}

    return {"status": 200, "error": False, "meta": {
        "variableCollections": {
            "VariableCollectionId:1:0": {
                "id": "VariableCollectionId:1:0", "name": "Primitives", "defaultModeId": "1:0",
                "modes": [{"modeId": "1:0", "name": "Value"}],
                "variableIds": ["VariableID:1:1", "VariableID:1:2", "VariableID:1:3",
                                "VariableID:1:4", "VariableID:1:5"]},
            "VariableCollectionId:2:0": {
                "id": "VariableCollectionId:2:0", "name": "Semantic", "defaultModeId": "2:0",
                "modes": [{"modeId": "2:0", "name": "Light"}, {"modeId": "2:1", "name": "Dark"}],
                "variableIds": ["VariableID:2:1", "VariableID:2:2"]}},
        "variables": {
            "VariableID:1:1": {"id": "VariableID:1:1", "name": "Gray/50", "resolvedType": "COLOR",
                               "variableCollectionId": "VariableCollectionId:1:0",
                               "valuesByMode": {"1:0": rgba(0.98, 0.98, 0.98)}},
            "VariableID:1:2": {"id": "VariableID:1:2", "name": "Gray/900",
                               "resolvedType": "COLOR",
                               "variableCollectionId": "VariableCollectionId:1:0",
                               "valuesByMode": {"1:0": rgba(0.07, 0.09, 0.15)}},
            "VariableID:1:3": {"id": "VariableID:1:3", "name": "Spacing/4",
                               "resolvedType": "FLOAT", "scopes": ["GAP"],
                               "variableCollectionId": "VariableCollectionId:1:0",
                               "valuesByMode": {"1:0": 16}},
            "VariableID:1:4": {"id": "VariableID:1:4", "name": "Radius/Card",
                               "resolvedType": "FLOAT", "scopes": ["ALL_SCOPES"],
                               "variableCollectionId": "VariableCollectionId:1:0",
                               "valuesByMode": {"1:0": 12}},
            "VariableID:1:5": {"id": "VariableID:1:5", "name": "Is compact",
                               "resolvedType": "BOOLEAN",
                               "variableCollectionId": "VariableCollectionId:1:0",
                               "valuesByMode": {"1:0": False}},
            "VariableID:2:1": {"id": "VariableID:2:1", "name": "Background/Default",
                               "resolvedType": "COLOR",
                               "variableCollectionId": "VariableCollectionId:2:0",
                               "valuesByMode": {"2:0": alias("VariableID:1:1"),
                                                "2:1": alias("VariableID:1:2")}},
            "VariableID:2:2": {"id": "VariableID:2:2", "name": "Text/Default",
                               "resolvedType": "COLOR",
                               "variableCollectionId": "VariableCollectionId:2:0",
                               "valuesByMode": {"2:0": alias("VariableID:1:2"),
                                                "2:1": rgba(1, 1, 1)}}}}}


def test_variables_become_theme_variables_and_modes() -> None:
    lv = variables_from_json(local_variables())
    assert isinstance(lv, LocalVariables)
    fill = solid(0.98, 0.98, 0.98)
    fill[0]["boundVariables"] = {"color": {"type": "VARIABLE_ALIAS", "id": "VariableID:2:1"}}
    spec = spec_from(file_of([node("2:1", fills=fill), node("2:2", fills=fill)]))
    ts = extract_tokens(spec, lv)
    assert ts.colors["gray-50"] == "#fafafa" and ts.colors["gray-900"] == "#121726"
    assert ts.colors["background-default"] == "#fafafa"
    assert ts.colors["text-default"] == "#121726"
    assert ts.spacing == {"4": "16px"} and ts.radius == {"card": "12px"}
    blocks = parse_theme(ts.theme_css())
    assert blocks["@theme"]["--color-background-default"] == "var(--color-gray-50)"
    dark = blocks['[data-theme="dark"], .dark']
    assert dark == {"--color-background-default": "var(--color-gray-900)",
                    "--color-text-default": "#ffffff"}
    tok = ts.dtcg["color"]["background-default"]["$extensions"][EXT]
    assert tok["modes"] == {"Light": "#fafafa", "Dark": "#121726"}
    assert tok["variableId"] == "VariableID:2:1" and tok["source"] == "variable"
    lk = lookup_from_dtcg(ts.dtcg)
    assert lk.color_by_variable["VariableID:2:1"] == "background-default"
    assert lk.spacing_by_variable["VariableID:1:3"] == "4"
    assert lk.radius_by_variable["VariableID:1:4"] == "card"
    # the repeated bound colour is not given a second, derived token
    assert sorted(k for k, v in ts.colors.items() if v == "#fafafa") == ["background-default",
                                                                        "gray-50"]
    assert count_id_derived_names(ts, spec) == 0
    assert variables_from_json({"document": {}}) is None
    assert tokenset_from_dtcg(json.loads(json.dumps(ts.dtcg))).theme_css() == ts.theme_css()


def test_deepchat_bound_variables_are_read() -> None:
    spec = spec_of(fixture("deepchat"))
    bound = [n for n in spec.index().values() if n.boundVariables]
    assert bound and any(p.boundVariables for n in spec.index().values() for p in n.fills)


# ---------------------------------------------------------------- Tailwind CSS 4 resolves them

TW_SCRIPT = r"""
import { createRequire } from 'module';
import fs from 'fs';
const [modules, themeFile, candFile] = process.argv.slice(2);
const require = createRequire(modules + '/x.js');
const { compile } = require('@tailwindcss/node');
const css = '@import "tailwindcss";\n' + fs.readFileSync(themeFile, 'utf8');
const c = await compile(css, { base: modules, onDependency: () => {} });
process.stdout.write(c.build(JSON.parse(fs.readFileSync(candFile, 'utf8'))));
"""


def tailwind4_modules() -> Path | None:
    """A node_modules with Tailwind CSS 4 from the qa cache (None: skip, nothing to fetch)."""
    import os
    import shutil

    if not shutil.which("node"):
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pf-figma" / "npm"
    for pkg in sorted(base.glob("*/node_modules/tailwindcss/package.json")):
        modules = pkg.parent.parent
        if json.loads(pkg.read_text()).get("version", "").startswith("4.") and \
                (modules / "@tailwindcss" / "node").is_dir():
            return modules
    return None


def test_generator_classes_resolve_under_tailwind4(tmp_path: Path) -> None:
    import subprocess

    modules = tailwind4_modules()
    if modules is None:
        pytest.skip("no Tailwind CSS 4 in the qa npm cache")
    spec = spec_from(file_of([node("2:1", fills=solid(0.98, 0.98, 0.98)),
                              node("2:2", fills=solid(0.98, 0.98, 0.98))]))
    ts = extract_tokens(spec, variables_from_json(local_variables()))
    gov = extract_tokens(spec_of(GOVUK))
    fig = extract_tokens(spec_of(fixture("figmagic")))
    theme = "\n".join([ts.theme_css(), gov.theme_css(), fig.theme_css()])
    want: dict[str, str] = {}
    for t in (ts, gov, fig):
        for k in t.colors:
            want.update({f"bg-{k}": "background-color", f"text-{k}": "color",
                         f"border-{k}": "border-color"})
        for k in t.font_size:
            want[f"text-{k}"] = "font-size"
        for k in t.font_family:
            want[f"font-{k}"] = "font-family"
        for k in t.spacing:
            want.update({f"gap-{k}": "gap", f"p-{k}": "padding"})
        for k in t.radius:
            want[f"rounded-{k}"] = "border-radius"
        for k in t.shadow:
            want[f"shadow-{k}"] = "box-shadow"
    (tmp_path / "theme.css").write_text(theme)
    (tmp_path / "cands.json").write_text(json.dumps(sorted(want)))
    (tmp_path / "tw.mjs").write_text(TW_SCRIPT)
    out = subprocess.run(["node", str(tmp_path / "tw.mjs"), str(modules), str(tmp_path /
                          "theme.css"), str(tmp_path / "cands.json")], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    for cls, prop in want.items():
        m = re.search(r"\n\s*\." + re.escape(cls).replace("\\-", "-") + r" \{([^}]*)\}", out)
        assert m, f"{cls} not generated"
        body = m.group(1)
        assert f"{prop}:" in body, (cls, body)
        if cls.startswith("text-") and prop == "color":
            assert "font-size" not in body, (cls, body)  # colour and size keys never collide
    assert '[data-theme="dark"], .dark' in out


def test_count_id_derived_names_finds_the_old_names() -> None:
    spec = spec_of(GOVUK)
    old = {"color": {"fill-52-38": {}, "palette-1": {}, "green-800": {}},
           "typography": {"type-22-1": {}, "type-18-700": {}}}
    # fill-52-38 and type-22-1 carry style ids the nodes refer to; 18-700 is size-weight
    assert count_id_derived_names(old, spec) == 2
    assert count_id_derived_names(old) == 3  # without the file: any <digits>-<digits>


def test_malformed_values_never_raise() -> None:
    import random

    nums = [0, -3, 1e308, 0.0001, 7, 16, 2.5, 100, float("nan"), float("inf"), -float("inf")]

    def n(rng: random.Random, i: str, depth: int = 0) -> dict:
        def r() -> float:
            return rng.choice(nums)
        d = node(i, type=rng.choice(["FRAME", "TEXT", "RECTANGLE"]), characters="x",
                 fills=[{"type": "SOLID", "opacity": rng.choice([0, 0.3, 1]),
                         "color": {"r": r(), "g": rng.random(), "b": 0.5, "a": r()}}],
                 effects=[{"type": rng.choice(["DROP_SHADOW", "INNER_SHADOW"]), "radius": r(),
                           "spread": r(), "offset": {"x": r(), "y": r()},
                           "color": {"r": r(), "g": 0, "b": 0, "a": 0.5}}],
                 cornerRadius=r(), rectangleCornerRadii=[r()] * 4, layoutMode="HORIZONTAL",
                 itemSpacing=r(), paddingLeft=r(),
                 styles={"fill": rng.choice(["1:1", "x"]), "text": "2:1", "effect": "3:1"},
                 style={"fontFamily": rng.choice(["Inter", "", "a;b{}"]), "fontSize": r(),
                        "fontWeight": r(), "lineHeightPx": r(), "letterSpacing": r(),
                        "lineHeightUnit": rng.choice(["PIXELS", "FONT_SIZE_%", "INTRINSIC_%"]),
                        "lineHeightPercentFontSize": r()})
        if depth < 2:
            d["children"] = [n(rng, f"{i}{k}", depth + 1) for k in range(3)]
        return d

    lv = local_variables()
    lv["meta"]["variables"]["VariableID:1:1"]["valuesByMode"] = {"1:0": {"r": "x"}}
    lv["meta"]["variables"]["VariableID:1:3"]["valuesByMode"] = {"1:0": float("nan")}
    lv["meta"]["variables"]["VariableID:2:1"]["valuesByMode"]["2:1"] = {
        "type": "VARIABLE_ALIAS", "id": "VariableID:2:1"}  # aliases itself
    for seed in range(40):
        rng = random.Random(seed)
        styles = {"1:1": {"name": rng.choice(["", "Base", "text"]), "styleType": "FILL"},
                  "2:1": {"name": rng.choice(["Body", ""]), "styleType": "TEXT"}}
        data = json.loads(json.dumps(file_of([n(rng, f"{seed}:")], styles)))
        spec = spec_from(data)
        ts = extract_tokens(spec, variables_from_json(json.loads(json.dumps(lv))))
        css = ts.theme_css()
        parse_theme(css)
        assert "nan" not in css.lower() and "inf" not in css.lower()
        lookup_from_dtcg(ts.dtcg)
        assert count_id_derived_names(ts, spec) == 0


def test_same_output_under_any_hash_seed(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    script = tmp_path / "dump.py"
    script.write_text(
        "import json, sys\n"
        "from pf_agents.analyze import analyze_source\n"
        "from pf_agents.figma_client import load_figma_file\n"
        "from pf_agents.tokens import extract_tokens\n"
        "for f in sys.argv[1:]:\n"
        "    ts = extract_tokens(analyze_source(load_figma_file(f)))\n"
        "    print(json.dumps(ts.dtcg), ts.theme_css())\n")
    files = [str(GOVUK), str(fixture("figmagic")), str(fixture("figma-rust__get-started"))]
    outs = {subprocess.run([sys.executable, str(script), *files], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")}
    assert len(outs) == 1


def test_bound_variable_ids_are_read_from_nodes_and_paints() -> None:
    from pf_agents.tokens import bound_variable_id

    spec = spec_of(fixture("deepchat"))
    nodes = list(spec.index().values())
    paint_ids = {bound_variable_id(p.boundVariables, "color") for n in nodes for p in n.fills}
    assert any(i and i.startswith("VariableID:") for i in paint_ids)
    radius_ids = {bound_variable_id(n.boundVariables, "rectangleCornerRadii") for n in nodes}
    assert bound_variable_id({"itemSpacing": {"type": "VARIABLE_ALIAS", "id": "V:1"}},
                             "itemSpacing") == "V:1"
    assert any(i and i.startswith("VariableID:") for i in radius_ids)  # per-corner map
    assert bound_variable_id(None, "color") is None

"""The visual stage: scoring on hand-made pages measured by the real headless Chromium (Debian's
/usr/bin/chromium through playwright-core), the browser's failure modes, and the stage on the
GOV.UK button fixture."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from pf_agents import visual
from pf_agents.artifacts import FileArtifactStore, find
from pf_agents.config import PipelineConfig
from pf_agents.errors import StageError
from pf_agents.files import pack_files, unpack_files
from pf_agents.stages import StageEnv, run_stage
from pf_agents.visual import Case

GOVUK = Path(__file__).resolve().parents[2] / "examples" / "figma" / "govuk-button.json"
pytestmark = pytest.mark.skipif(
    not os.access(visual.CHROMIUM, os.X_OK),
    reason=f"Debian's chromium is not installed at {visual.CHROMIUM} "
           "(apt-get install chromium; hack/ensure-test-deps.sh installs it)")


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return visual.ensure_tools(tmp_path_factory.mktemp("visual-tools"))


def node(nid: str, typ: str, x: float, y: float, w: float, h: float,
         children: tuple[dict[str, Any], ...] = (), **kw: Any) -> dict[str, Any]:
    return {"id": nid, "name": kw.pop("name", nid), "type": typ,
            "absoluteBoundingBox": {"x": x, "y": y, "width": w, "height": h},
            "children": list(children), **kw}


def solid(r: float, g: float, b: float) -> list[dict[str, Any]]:
    return [{"type": "SOLID", "color": {"r": r, "g": g, "b": b, "a": 1.0}}]


# A red 200x40 frame at (1000, 2000) with a black bold 16 px "Hello" at (10, 8), 60x20.
SPEC = {"name": "hand-made", "roots": [
    node("1:1", "FRAME", 1000, 2000, 200, 40, fills=solid(1, 0, 0), children=(
        node("1:2", "TEXT", 1010, 2008, 60, 20, characters="Hello", fills=solid(0, 0, 0),
             style={"fontSize": 16, "fontWeight": 700}),)),
    node("2:1", "FRAME", 0, 0, 600, 40, fills=solid(1, 1, 1)),
    node("3:1", "FRAME", 0, 0, 120, 40, fills=solid(0, 0, 1)),
    node("3:2", "FRAME", 0, 0, 120, 40, fills=solid(1, 0, 0)),
    node("3:3", "FRAME", 0, 0, 120, 40, fills=solid(0, 1, 0)),
    # a layer the design draws fully transparent (Figma opacity 0)
    node("6:1", "FRAME", 0, 0, 200, 40, children=(
        node("6:2", "RECTANGLE", 10, 8, 60, 20, opacity=0, fills=solid(1, 0, 0)),)),
]}
TEXT = ("position:absolute;top:8px;height:20px;line-height:20px;margin:0;white-space:nowrap;"
        "overflow:hidden")


def hello(left: int = 10, size: int = 16, weight: int = 700, bg: str = "#ff0000",
          extra: str = "") -> str:
    return (f'<div style="position:relative;width:200px;height:40px;background:{bg}">'
            f'<span style="{TEXT};left:{left}px;width:60px;font-size:{size}px;'
            f'font-weight:{weight};color:#000;{extra}">Hello</span></div>')


def hello_case(cid: str, component: str = "Hello") -> Case:
    return Case(id=cid, component=component, file=f"components/{component}.tsx", variant="",
                root="1:1", paths={"1:1": "", "1:2": "0"}, width=200, height=40)


def measure(tmp_path: Path, tools: Path, cases: list[Case], fragments: dict[str, Any],
            css: str = "") -> dict[str, Any]:
    page = tmp_path / "page.html"
    page.write_text(visual.build_page(cases, fragments, css))
    rendered = [c for c in cases if "html" in fragments[c.id]]
    cap = visual.capture(page, rendered, tmp_path / "out", tools, tmp_path, timeout=120)
    return visual.score(cases, cap, fragments, visual.node_index(SPEC))


def rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["case"]: r for r in report["renders"]}


def test_exact_render_scores_full_and_off_by_6px_is_named(tmp_path: Path, tools: Path):
    cases = [hello_case("exact", "Exact"), hello_case("off", "Off")]
    frags = {"exact": {"html": hello()}, "off": {"html": hello(left=16)}}
    report = measure(tmp_path, tools, cases, frags)
    r = rows(report)
    exact = r["exact"]
    assert (exact["nodes"], exact["within4"], exact["fidelity"]) == (2, 2, 1.0)
    assert exact["texts"] == {"shown": 1, "total": 1}
    assert exact["fonts"] == {"sizeOk": 1, "weightOk": 1, "total": 1}
    assert exact["colors"] == {"ok": 2, "total": 2}  # the frame's red, the text's black
    assert exact["overflow"] == {} and exact["a11y"] == []
    off = r["off"]
    assert (off["within4"], off["fidelity"]) == (1, 0.5)
    assert off["worst"][0]["node"] == "1:2" and off["worst"][0]["err"] == pytest.approx(6, abs=0.1)
    assert off["worst"][0]["figma"] == [10, 8, 60, 20]
    assert off["worst"][0]["dom"][0] == pytest.approx(16, abs=0.1)
    s = report["summary"]
    assert s["nodes"] == 4 and s["within4"] == 3 and s["fidelity"] == 0.75
    assert s["worstComponents"][0] == {"component": "Off", "fidelity": 0.5}
    # a PNG per render, of the render's size
    png = tmp_path / "out" / visual.shot_name(cases[0])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png.read_bytes()[16:20], "big") == 200


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real one-colour RGB PNG (a stand-in for Figma's render of a plain frame)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    rows_ = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows_)) + chunk(b"IEND", b""))


def test_pixel_similarity_against_figma_renders(tmp_path: Path, tools: Path):
    # Figma's renders here are PNGs made on the spot: the browser's own screenshot of the exact
    # render (what a perfect generator gives), and one-colour PNGs of a plain red frame
    cases = [hello_case("exact", "Exact"), hello_case("off", "Off"),
             hello_case("plain", "Plain"), hello_case("plain2x", "Plain2x"),
             hello_case("taller", "Taller"), hello_case("blue", "Blue"),
             hello_case("junk", "Junk")]
    for c, root in zip(cases, ("1:1", "5:1", "5:2", "5:3", "5:4", "5:5", "5:6"), strict=True):
        c.root = root
    red = '<div style="width:200px;height:40px;background:#ff0000"></div>'
    frags = {"exact": {"html": hello()}, "off": {"html": hello(left=16)},
             **{c.id: {"html": red} for c in cases[2:]}}
    report = measure(tmp_path, tools, cases, frags)
    out = tmp_path / "out"
    shot = (out / visual.shot_name(cases[0])).read_bytes()
    index = json.dumps({"scale": 1, "renders": {"5:3": {"file": "figma-renders/5:3.png",
                                                        "scale": 2}, "9:9": None}})
    renders = visual.parse_renders({
        "figma-renders/1:1.png": shot,                       # Exact: itself
        "figma-renders/5:1.png": shot,                       # Off: the text moved 6 px
        "figma-renders-5-2.png": solid_png(200, 40, (255, 0, 0)),   # a name without ":"
        "figma-renders/5:3.png": solid_png(400, 80, (255, 0, 0)),   # scale 2 (the index)
        "figma-renders/5:4.png": solid_png(200, 60, (255, 0, 0)),   # 20 px taller
        "figma-renders/5:5.png": solid_png(200, 40, (0, 0, 255)),   # another colour
        "figma-renders/5:6.png": b"not a png",
        "figma-renders/index.json": index.encode(),
    })
    assert renders.scales["5:3"] == 2
    assert renders.problems == ["9:9: Figma returned no render", "5:6: not a PNG"]
    pix = visual.compare_pixels(cases, renders, out, tools, tmp_path)
    visual.attach_pixels(report, pix, renders.problems)
    r = rows(report)
    assert r["exact"]["pixels"]["similarity"] == 1.0 and r["exact"]["pixels"]["diffPixels"] == 0
    off = r["off"]["pixels"]
    assert 0.9 < off["similarity"] < 1.0 and off["diffPixels"] > 50  # the glyphs moved
    assert r["plain"]["pixels"]["similarity"] == 1.0
    assert r["plain2x"]["pixels"]["similarity"] == 1.0
    assert r["plain2x"]["pixels"]["figmaSize"] == [400, 80] and r["plain2x"]["pixels"]["scale"] == 2
    # what one image has and the other lacks differs: 20 of 60 rows
    assert r["taller"]["pixels"]["similarity"] == pytest.approx(40 / 60, abs=1e-3)
    assert r["blue"]["pixels"]["similarity"] == 0.0
    assert "pixels" not in r["junk"]  # nothing to compare: said in the summary
    s = report["summary"]
    assert s["pixelRenders"] == 6 and "5:6: not a PNG" in s["pixelProblems"]
    assert s["pixelSimilarity"] == pytest.approx(
        sum(r[c]["pixels"]["similarity"] for c in ("exact", "off", "plain", "plain2x", "taller",
                                                  "blue")) / 6, abs=1e-4)
    comp = {c["component"]: c for c in report["components"]}
    assert comp["Blue"]["pixelSimilarity"] == 0.0 and comp["Junk"]["pixelSimilarity"] is None
    # the side-by-side: Figma | Chromium | diff, 8 px apart, as tall as the taller one
    side = (out / off["compare"]).read_bytes()
    assert visual.png_size(side) == (3 * 200 + 2 * 8, 40)
    assert visual.png_size((out / r["taller"]["pixels"]["compare"]).read_bytes()) == (616, 60)


def test_texts_fonts_and_colours_that_differ(tmp_path: Path, tools: Path):
    cases = [hello_case("hidden"), hello_case("gone"), hello_case("font"), hello_case("colour"),
             hello_case("other-text")]
    frags = {
        "hidden": {"html": hello(extra="visibility:hidden")},
        "gone": {"html": '<div style="width:200px;height:40px;background:#f00"></div>'},
        "font": {"html": hello(size=14, weight=400)},
        "colour": {"html": hello(bg="#00ff00")},
        "other-text": {"html": hello().replace(">Hello<", ">Goodbye<")},
    }
    r = rows(measure(tmp_path, tools, cases, frags))
    assert r["hidden"]["texts"] == {"shown": 0, "total": 1}
    assert r["hidden"]["worst"][0] | {"figma": None} == {
        "node": "1:2", "name": "1:2", "type": "TEXT", "figma": None, "err": None, "why": "hidden"}
    assert r["gone"]["worst"][0]["why"] == "missing" and r["gone"]["fidelity"] == 0.5
    font = r["font"]
    assert font["fonts"] == {"sizeOk": 0, "weightOk": 0, "total": 1}
    bad = next(w for w in font["worst"] if w["node"] == "1:2")
    assert bad["fontSize"] == {"want": 16, "got": 14} and bad["fontWeight"]["got"] == 400
    colour = r["colour"]
    assert colour["colors"] == {"ok": 1, "total": 2}
    assert next(w for w in colour["worst"] if w["node"] == "1:1")["color"]["got"] == [0, 255, 0, 1]
    assert r["other-text"]["texts"]["shown"] == 0


def test_a_layer_the_design_draws_transparent_is_measured_not_called_hidden(
        tmp_path: Path, tools: Path):
    cases = [Case(id=cid, component=cid.title(), file=f"components/{cid}.tsx", variant="",
                  root="6:1", paths={"6:1": "", "6:2": "0"}, width=200, height=40)
             for cid in ("clear", "shown", "moved")]
    layer = ('<div style="position:relative;width:200px;height:40px"><div style="position:'
             'absolute;left:{left}px;top:8px;width:60px;height:20px;background:#f00;'
             'opacity:{opacity}"></div></div>')
    frags = {"clear": {"html": layer.format(left=10, opacity=0)},
             "shown": {"html": layer.format(left=10, opacity=1)},
             "moved": {"html": layer.format(left=30, opacity=0)}}
    r = rows(measure(tmp_path, tools, cases, frags))
    assert (r["clear"]["within4"], r["clear"]["nodes"]) == (2, 2)  # as the design: invisible
    assert r["shown"]["within4"] == 2  # drawn (an opacity the scorer does not judge)
    moved = next(w for w in r["moved"]["worst"] if w["node"] == "6:2")
    assert moved["err"] == pytest.approx(20, abs=0.1)  # its box still counts
    assert r["clear"]["errors"]["6:2"] == 0.0


def test_overflow_at_narrow_widths(tmp_path: Path, tools: Path):
    cases = [Case(id="wide", component="Wide", file="components/Wide.tsx", variant="",
                  root="2:1", paths={"2:1": ""}, width=600, height=40),
             hello_case("narrow")]
    frags = {"wide": {"html": '<div style="width:600px;height:40px;background:#fff"></div>'},
             "narrow": {"html": hello()}}
    report = measure(tmp_path, tools, cases, frags)
    r = rows(report)
    assert r["wide"]["overflow"] == {"375": pytest.approx(225, abs=1)}
    assert r["narrow"]["overflow"] == {}
    assert report["summary"]["overflowWidths"] == [375]
    assert report["components"][-1]["overflowWidths"] == ["375"]


def test_axe_serious_and_critical_violations_per_component(tmp_path: Path, tools: Path):
    cases = [hello_case("clean", "Clean"), hello_case("img", "Img"), hello_case("btn", "Btn")]
    frags = {"clean": {"html": hello()},
             "img": {"html": hello().replace("</div>", '<img src="data:," width="8" height="8">'
                                                       "</div>")},
             "btn": {"html": hello().replace("</div>", "<button></button></div>")}}
    report = measure(tmp_path, tools, cases, frags)
    r = rows(report)
    assert r["clean"]["a11y"] == []
    assert [a["rule"] for a in r["img"]["a11y"]] == ["image-alt"]
    assert [a["rule"] for a in r["btn"]["a11y"]] == ["button-name"]
    assert all(a["impact"] in ("serious", "critical") for a in r["btn"]["a11y"] + r["img"]["a11y"])
    assert report["summary"]["a11yViolations"] == 2


def test_interaction_states_are_forced_on_the_root(tmp_path: Path, tools: Path):
    css = (".b{display:block;width:120px;height:40px;border:0;background:#0000ff}"
           ".b:hover{background:#ff0000}.b:focus-visible{background:#00ff00}")
    frag = {"html": '<button class="b" type="button">Go</button>'}

    def case(cid: str, root: str, state: str | None) -> Case:
        return Case(id=cid, component="B", file="components/B.tsx", variant=cid, root=root,
                    paths={root: ""}, state=state, width=120, height=40)

    cases = [case("rest", "3:1", None), case("hover", "3:2", "hover"),
             case("focus", "3:3", "focus-visible"), case("wrong", "3:2", None)]
    r = rows(measure(tmp_path, tools, cases, {c.id: frag for c in cases}, css))
    assert r["rest"]["colors"]["ok"] == 1
    assert r["hover"]["colors"]["ok"] == 1, r["hover"]["worst"]
    assert r["focus"]["colors"]["ok"] == 1, r["focus"]["worst"]
    assert r["wrong"]["colors"]["ok"] == 0  # not hovered: blue, the hover variant is red


def test_a_component_that_throws_gets_its_own_error(tmp_path: Path, tools: Path):
    cases = [hello_case("ok", "Fine"), hello_case("boom", "Broken")]
    frags = {"ok": {"html": hello()}, "boom": {"error": "Error: boom\n    at Broken"}}
    report = measure(tmp_path, tools, cases, frags)
    r = rows(report)
    assert r["ok"]["fidelity"] == 1.0
    assert r["boom"]["error"].startswith("Error: boom") and r["boom"]["nodes"] == 0
    broken = next(c for c in report["components"] if c["component"] == "Broken")
    assert broken["errors"][0]["error"].startswith("Error: boom") and broken["fidelity"] == 0.0
    assert report["summary"]["errors"] == 1
    html = visual.preview_html(report, cases, "t")
    assert "Error: boom" in html and "Fine" in html and visual.shot_name(cases[0]) in html


def _fake_browser(tmp_path: Path, body: str) -> str:
    fake = tmp_path / "fake-chromium"
    fake.write_text(f"#!/bin/sh\n{body}\n")
    fake.chmod(0o755)
    return str(fake)


def test_a_browser_that_does_not_start_is_browser_failed(tmp_path: Path, tools: Path):
    page = tmp_path / "p.html"
    page.write_text(visual.build_page([hello_case("a")], {"a": {"html": hello()}}, ""))
    start = time.monotonic()
    with pytest.raises(StageError) as err:
        visual.capture(page, [hello_case("a")], tmp_path / "out", tools, tmp_path,
                       timeout=60, chromium=_fake_browser(tmp_path, "echo crashed >&2; exit 1"))
    assert err.value.reason == "BrowserFailed" and "did not start" in err.value.message
    assert time.monotonic() - start < 30
    with pytest.raises(StageError) as err:
        visual.capture(page, [hello_case("a")], tmp_path / "out", tools, tmp_path,
                       chromium=str(tmp_path / "no-such-browser"))
    assert err.value.reason == "BrowserFailed" and "no Chromium" in err.value.message


def test_a_browser_that_hangs_is_stopped_within_the_timeout(tmp_path: Path, tools: Path):
    page = tmp_path / "p.html"
    page.write_text(visual.build_page([hello_case("a")], {"a": {"html": hello()}}, ""))
    pid_file = tmp_path / "hung.pid"
    fake = _fake_browser(tmp_path, f"echo $$ > {pid_file}; exec sleep 300")
    start = time.monotonic()
    with pytest.raises(StageError) as err:
        visual.capture(page, [hello_case("a")], tmp_path / "out", tools, tmp_path, timeout=4,
                       chromium=fake)
    assert err.value.reason == "BrowserFailed" and "within 4s" in err.value.message
    assert time.monotonic() - start < 15
    pid = int(pid_file.read_text())
    for _ in range(50):  # the hung browser is ended too, not left behind
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the hung browser {pid} is still running")


def test_plan_maps_every_variant_and_state_from_the_manifest():
    manifest = {
        "ident": "Button", "name": "Button", "nodeId": "9:1", "kind": "componentSet",
        "file": "components/Button.tsx",
        "props": [{"name": "Size", "key": "Size", "ident": "size", "kind": "variant",
                   "options": ["Small", "Large"], "default": "Small"},
                  {"name": "Tone", "key": "Tone", "ident": "tone", "kind": "variant",
                   "options": ["Primary", "Ghost"], "default": "Primary"}],
        "variantChecks": [
            {"props": {"size": "small"}, "expect": "Size=Small, Tone=Primary"},
            {"props": {"size": "large"}, "expect": "Size=Large, Tone=Primary"},
            {"props": {"tone": "primary"}, "expect": "Size=Small, Tone=Primary"},
            {"props": {"tone": "ghost"}, "expect": "Size=Small, Tone=Ghost"}],
        "stateChecks": [{"variant": "Size=Large, Tone=Ghost, State=Hover", "nodeId": "9:9",
                         "state": "hover", "pseudoClass": ":hover",
                         "props": {"size": "large", "tone": "ghost"}},
                        {"variant": "Size=Small, Tone=Primary, State=Disabled", "nodeId": "9:8",
                         "state": "disabled", "pseudoClass": ":disabled",
                         "props": {"size": "small", "tone": "primary"}}],
        "designTexts": [
            {"node": "9:21", "text": "Go", "variantName": None},
            {"node": "9:41", "text": "Go big", "variantName": "Size=Large, Tone=Ghost"}],
        "nodePaths": {"Size=Small, Tone=Primary": {"9:2": "", "9:21": "0"},
                      "Size=Large, Tone=Ghost": {"9:4": "", "9:41": "0"}},
        "defaultVariant": "Size=Small, Tone=Primary",
    }
    index = visual.node_index({"roots": [node("9:4", "COMPONENT", 0, 0, 180, 48),
                                         node("9:2", "COMPONENT", 0, 0, 90, 32)]})
    cases, skipped = visual.plan_cases([manifest], index)
    assert skipped == []
    got = [(c.variant, c.root, c.props, c.state, c.paths, c.width) for c in cases]
    assert got == [
        ("Size=Small, Tone=Primary", "9:2", {"size": "small", "tone": "primary"}, None,
         {"9:2": "", "9:21": "0"}, 90),
        ("Size=Large, Tone=Ghost", "9:4", {"size": "large", "tone": "ghost"}, None,
         {"9:4": "", "9:41": "0"}, 180),
        ("Size=Large, Tone=Ghost, State=Hover", "9:9", {"size": "large", "tone": "ghost"},
         "hover", {"9:9": ""}, 0.0),
        ("Size=Small, Tone=Primary, State=Disabled", "9:8",
         {"size": "small", "tone": "primary", "disabled": True}, "disabled", {"9:8": ""}, 0.0),
    ]
    assert cases[0].texts == {"9:21": "Go"} and cases[1].texts == {"9:41": "Go big"}


def test_the_stage_on_the_govuk_button(tmp_path: Path):
    store = FileArtifactStore(tmp_path / "store")
    env = StageEnv(store=store, workdir=tmp_path / "work",
                   source_file=str(GOVUK))
    cfg = PipelineConfig()
    for stage in ("analyze", "generate", "test"):
        res = run_stage(stage, cfg, env)
        assert res.outcome == "Succeeded", (stage, res.reason, res.message)
    # Figma's renders of the resting variants as analyze stores them for a file read from the
    # API (here: one-colour PNGs of each variant's size, in an archive with its index)
    key = cfg.pipeline_key
    spec = json.loads(store.get(find(store, key, "design-spec.json").uri))
    (manifest,) = json.loads(store.get(find(store, key, "manifest.json").uri))
    states = {sc["variant"] for sc in manifest["stateChecks"]}
    roots = [next(n for n, p in paths.items() if p == "")
             for v, paths in manifest["nodePaths"].items() if v not in states]
    nodes = visual.node_index(spec)
    pngs = {f"figma-renders/{n}.png": solid_png(
        round(nodes[n]["absoluteBoundingBox"]["width"]),
        round(nodes[n]["absoluteBoundingBox"]["height"]), (0, 112, 60)) for n in roots}
    pngs["figma-renders/index.json"] = json.dumps(
        {"scale": 1, "renders": {n: f"figma-renders/{n}.png" for n in roots}}).encode()
    store.put(key, "analyze", "figma-renders.tar.gz", pack_files(pngs))
    res = run_stage("visual", cfg, env)
    assert res.outcome == "Succeeded", (res.reason, res.message)
    assert res.summary["pixelRenders"] == len(roots) >= 8
    assert 0 < res.summary["pixelSimilarity"] < 1 and "pixels like Figma" in res.message
    assert res.summary["components"] == 1 and res.summary["errors"] == 0
    assert res.summary["renders"] >= 8 + 8  # every resting variant, every state check
    names = {a.name: a for a in res.artifacts}
    report = json.loads(store.get(names["visual-report.json"].uri))
    assert report["summary"]["textsShown"] == 1.0
    rows_ = report["renders"]
    assert all(r.get("variantMismatch") is None for r in rows_)
    assert sum(r["colors"]["ok"] for r in rows_) == sum(r["colors"]["total"] for r in rows_)
    preview = unpack_files(store.get(names["preview.tar.gz"].uri))
    assert "preview/index.html" in preview
    pngs = [p for p in preview if p.endswith(".png")]
    assert len(pngs) == len(rows_) + len(roots)  # a shot per render, a side-by-side per render
    assert all(p in preview["preview/index.html"].decode() for p in
               (x.removeprefix("preview/") for x in pngs))
    compares = [p for p in pngs if p.endswith(".compare.png")]
    assert len(compares) == len(roots)


def test_pixels_against_renders_from_the_local_figma_api(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    # the whole path: analyze (the only stage with the token) reads the file and Figma's renders
    # from the local Figma API server; the visual stage, without a token, compares them
    from tests.figma_api import FigmaApiServer

    with FigmaApiServer() as api:
        monkeypatch.setenv("FIGMA_API_URL", api.url)
        store = FileArtifactStore(tmp_path / "store")
        cfg = PipelineConfig.model_validate({"source": {"figma": {"fileKey": "govukbutton"}}})
        env = StageEnv(store=store, workdir=tmp_path / "analyze", figma_token="figd_test-token")
        res = run_stage("analyze", cfg, env)
        assert res.outcome == "Succeeded", res.message
        rendered = res.summary["renders"]
    env = StageEnv(store=store, workdir=tmp_path / "work")  # no Figma token from here on
    for stage in ("generate", "test", "visual"):
        res = run_stage(stage, cfg, env)
        assert res.outcome == "Succeeded", (stage, res.message)
    report = json.loads(store.get(find(store, cfg.pipeline_key, "visual-report.json").uri))
    compared = [r for r in report["renders"] if "similarity" in r.get("pixels", {})]
    # every resting variant and forced state whose node Figma rendered (the server draws each
    # node's fill with a stripe: similar, never the same)
    assert 8 <= len(compared) == res.summary["pixelRenders"] <= rendered
    assert all(0 < r["pixels"]["similarity"] < 1 for r in compared)
    assert report["summary"].get("pixelProblems") is None
    preview = unpack_files(store.get(find(store, cfg.pipeline_key, "preview.tar.gz").uri))
    assert all("preview/" + r["pixels"]["compare"] in preview for r in compared)

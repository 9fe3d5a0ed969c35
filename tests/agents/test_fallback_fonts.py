"""Metric-adjusted fallback faces (agents/fallback_fonts.py): the size-adjust measured on the
design's hugging texts, the CSS the project gets, and, in the real headless Chromium with
Debian's Liberation fonts, that a text in the fallback face takes the design's width."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from pf_agents import visual
from pf_agents.analyze import analyze_source
from pf_agents.fallback_fonts import FallbackFace, fallback_faces, text_width
from pf_agents.figma_models import Node
from pf_agents.sources import load_source_file
from pf_agents.stages import build_project
from pf_agents.tokens import extract_tokens
from pf_agents.visual import Case

# the GOV.UK button (examples/figma): GDS Transport Website, which no package bundles
GOVUK = Path(__file__).resolve().parents[2] / "examples" / "figma" / "govuk-button.json"


def text(nid: str, chars: str, width: float, *, family: str = "Brand Sans", size: float = 20,
         weight: float = 400, resize: str = "WIDTH_AND_HEIGHT", **kw: Any) -> Node:
    return Node.model_validate({
        "id": nid, "name": nid, "type": "TEXT", "characters": chars,
        "absoluteBoundingBox": {"x": 0, "y": 0, "width": width, "height": size * 1.25},
        "style": {"fontFamily": family, "fontSize": size, "fontWeight": weight,
                  "textAutoResize": resize, **kw},
    })


def arial(chars: str, size: float = 20, bold: bool = False) -> float:
    w = text_width(chars, size, bold=bold)
    assert w is not None
    return w


def test_the_metrics_are_arials():
    # Arial's advance widths (2048 units per em): "H" 1479, "i" 455, space 569
    assert arial("Hi", 2048) == 1479 + 455
    assert arial(" ", 2048) == 569
    assert arial("Hi", 2048, bold=True) == 1479 + 569
    assert text_width("漢字", 16) is None  # outside the table: not measured


def test_size_adjust_is_the_median_ratio_of_hugging_texts_per_weight_class():
    words = ["Continue", "Save and continue", "Start now", "Cancel"]
    nodes = [text(f"1:{i}", w, arial(w) * 0.95) for i, w in enumerate(words)]
    nodes += [text(f"2:{i}", w, arial(w, bold=True) * 0.9, weight=700)
              for i, w in enumerate(words[:2])]
    # not measured: fixed width, a line break, styled runs, rotated, hidden, another family
    nodes += [
        text("3:1", "Wraps in a fixed box", 100, resize="HEIGHT"),
        text("3:2", "Two\nlines", 10),
        Node.model_validate({**text("3:3", "Styled runs", 10).model_dump(),
                             "characterStyleOverrides": [0, 1, 1]}),
        Node.model_validate({**text("3:4", "Rotated", 10).model_dump(), "rotation": 0.5}),
        Node.model_validate({**text("3:5", "Hidden", 10).model_dump(), "visible": False}),
        text("3:6", "Other family", 10, family="Other"),
    ]
    faces = fallback_faces(nodes, ["Brand Sans"])
    face = faces["Brand Sans"]
    assert (face.regular, face.bold, face.samples, face.kind) == (0.95, 0.9, 6, "sans")
    assert face.name == "Brand Sans Fallback"


def test_repeated_texts_vote_once_and_letter_spacing_and_case_are_measured():
    nodes = [text(f"1:{i}", "Continue", arial("Continue") * 0.9) for i in range(5)]
    nodes += [
        text("2:1", "Back", arial("Back") * 0.96),
        # UPPER: the browser draws capitals (text-transform), so they are what is measured
        text("2:2", "start", arial("START") * 0.97, textCase="UPPER"),
        # 1 px letter spacing after each of 6 characters is not the face's width
        text("2:3", "Cancel", arial("Cancel") * 0.98 + 6, letterSpacing=1),
    ]
    face = fallback_faces(nodes, ["Brand Sans"])["Brand Sans"]
    assert face.samples == 4
    assert face.regular == pytest.approx((0.96 + 0.97) / 2, abs=0.001)


def test_no_declared_face_without_evidence_or_when_the_system_face_already_matches():
    # one text is no evidence: the system face as it is (1.0), not declared in the CSS
    one = [text("1:1", "Continue", arial("Continue") * 0.9)]
    face = fallback_faces(one, ["Brand Sans"])["Brand Sans"]
    assert (face.regular, face.samples, face.adjusts) == (1.0, 1, False)
    same = [text(f"1:{i}", w, arial(w) * 1.004) for i, w in enumerate(["Back", "Continue"])]
    face = fallback_faces(same, ["Brand Sans"])["Brand Sans"]
    assert face.regular == pytest.approx(1.004, abs=0.001) and not face.adjusts
    # a ratio no text face has (an icon font, a mislabelled layer) is not a measurement
    odd = [text(f"1:{i}", w, arial(w) * 2) for i, w in enumerate(["Back", "Continue"])]
    face = fallback_faces(odd, ["Brand Sans"])["Brand Sans"]
    assert (face.regular, face.samples, face.adjusts) == (1.0, 0, False)


def test_css_declares_each_style_through_local_faces():
    css = FallbackFace("Brand Sans", "sans", 0.955, 0.96, 4).css()
    faces = re.findall(r"@font-face \{(.*?)\}", css, re.S)
    assert len(faces) == 4
    assert 'local("Arial")' in faces[0] and 'local("Liberation Sans")' in faces[0]
    assert "size-adjust: 95.5%" in faces[0] and "font-weight: 100 500" in faces[0]
    assert 'local("Liberation Sans Bold Italic")' in faces[3]
    assert "font-style: italic" in faces[3] and "size-adjust: 96.0%" in faces[3]
    serif = FallbackFace("Brand Serif", "serif", 1.02, 1.02, 2).css()
    assert 'local("Times New Roman")' in serif and 'local("Liberation Serif Bold")' in serif


def test_a_project_with_an_unbundled_font_gets_its_fallback_face():
    spec = analyze_source(load_source_file(str(GOVUK)))
    tokens = extract_tokens(spec)
    files, _, _ = build_project(spec, tokens.dtcg)
    css = files["app/globals.css"]
    assert css.count('font-family: "GDS Transport Website Fallback"') == 4
    adjust = [float(v) for v in re.findall(r"size-adjust: ([\d.]+)%", css)]
    # the button's regular texts measure about 6% wider than Arial's
    assert len(adjust) == 4 and all(95 < v < 110 for v in adjust) and max(adjust) > 103
    stack = re.search(r"--font-[\w-]+:\s*([^;]*GDS Transport[^;]*);", css)
    assert stack is not None
    names = [n.strip() for n in stack.group(1).split(",")]
    assert names[:2] == ['"GDS Transport Website"', '"GDS Transport Website Fallback"']
    assert "GDS Transport Website Fallback" in files["README.md"]
    # a project whose fonts are bundled declares none
    roboto = {"fontFamily": {"body": ['"Roboto"', "sans-serif"]}}
    from pf_agents.project import globals_css
    assert "@font-face" not in globals_css(roboto, None, {})
    # a face that does not adjust is not declared
    brand = {"fontFamily": {"brand": ['"Brand Sans"', "sans-serif"]}}
    plain = {"Brand Sans": FallbackFace("Brand Sans", "sans", 1.004, 1.0, 5)}
    css = globals_css(brand, None, plain)
    assert "@font-face" not in css and "Brand Sans Fallback" not in css


@pytest.mark.skipif(not os.access(visual.CHROMIUM, os.X_OK), reason="no /usr/bin/chromium")
def test_in_chromium_the_fallback_face_takes_the_designs_width(tmp_path: Path):
    # "Hide cookie message", 19 px, 175 px wide in GDS Transport (the cookie banner): Arial
    # draws it about 7 px wider; the fallback face scaled to the design draws it at 175 px
    words, size, design_w = "Hide cookie message", 19, 175.0
    ratio = design_w / arial(words, size)
    face = FallbackFace("GDS Transport", "sans", round(ratio, 3), round(ratio, 3), 2)
    span = ("position:absolute;top:0;left:0;white-space:nowrap;font-size:19px;"
            "line-height:25px;font-family:{}")
    frags = {
        "plain": {"html": '<div style="position:relative;width:400px;height:25px">'
                  f'<span style="{span.format("Arial")}">{words}</span></div>'},
        "adjusted": {"html": '<div style="position:relative;width:400px;height:25px">'
                     f'<span style="{span.format(chr(39) + face.name + chr(39))}">{words}'
                     "</span></div>"},
    }
    cases = [Case(id=k, component=k.title(), file=f"components/{k}.tsx", variant="", root="1:1",
                  paths={"1:1": "", "1:2": "0"}, width=400, height=25) for k in frags]
    page = tmp_path / "page.html"
    page.write_text(visual.build_page(cases, frags, face.css()))
    tools = visual.ensure_tools(tmp_path / "tools")
    cap = visual.capture(page, cases, tmp_path / "out", tools, tmp_path, timeout=120,
                         shots=False)
    measured: dict[str, Any] = json.loads(json.dumps(cap))

    def width(case: str) -> float:
        return float(measured["cases"][case]["nodes"]["1:2"]["box"][2])

    # Arial's width is the metrics table's (kerning aside)
    assert width("plain") == pytest.approx(arial(words, size), abs=1.5)
    assert width("plain") - design_w > 4
    assert width("adjusted") == pytest.approx(design_w, abs=1.5)

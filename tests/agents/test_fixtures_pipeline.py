"""analyze -> generate -> test on every real fixture (fast; qa is in test_qa.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pfa_support import FIXTURES, fixture_ids

from pf_agents.analyze import analyze_source
from pf_agents.artifacts import FileArtifactStore
from pf_agents.config import PipelineConfig
from pf_agents.figma_client import load_figma_file
from pf_agents.files import unpack_files
from pf_agents.generate import manifests_from_json
from pf_agents.stages import StageEnv, run_stage
from pf_agents.tokens import extract_tokens

IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def run_stages(src: Path, tmp_path: Path, stages=("analyze", "generate", "test")):
    store = FileArtifactStore(tmp_path / "store")
    env = StageEnv(store=store, workdir=tmp_path / "work", source_file=str(src))
    cfg = PipelineConfig()
    results = {}
    for st in stages:
        res = run_stage(st, cfg, env)
        assert res.outcome == "Succeeded", f"{st}: {res.reason}: {res.message}"
        results[st] = res
    return store, cfg, results


def test_all_fixtures_present():
    assert len(FIXTURES) == 8


@pytest.mark.parametrize("fixture", FIXTURES, ids=fixture_ids())
def test_fixture_through_analyze_generate_test(fixture: Path, tmp_path: Path):
    store, _cfg, results = run_stages(fixture, tmp_path)
    raw = json.loads(fixture.read_text())
    spec = analyze_source(load_figma_file(str(fixture)))
    assert results["analyze"].summary["nodes"] == spec.nodeCount > 0
    assert results["analyze"].summary["components"] == len(spec.components) > 0
    # artifacts are addressable by name and their hashes are right
    names = {a.name for a in results["analyze"].artifacts}
    assert {"design-spec.json", "components.json", "tokens.json",
            "tailwind-theme.json"} <= names
    project = next(a for a in results["test"].artifacts if a.name == "project.tar.gz")
    files = {k: v.decode() for k, v in unpack_files(store.get(project.uri)).items()}
    manifests = manifests_from_json(store.get(
        next(a for a in results["generate"].artifacts if a.name == "manifest.json").uri))
    assert len(manifests) == len(spec.components)
    idents = [m.ident for m in manifests]
    assert len(set(i.lower() for i in idents)) == len(idents), "component names must be unique"
    for m in manifests:
        assert IDENT.match(m.ident)
        src = files[f"components/generated/{m.ident}.tsx"]
        assert f"export function {m.ident}(" in src
        # the hand-editable wrapper people import re-exports the generated component
        assert f'from "./generated/{m.ident}"' in files[f"components/{m.ident}.tsx"]
        assert f'data-figma-node="{m.nodeId}"' in src or \
            f"data-figma-node={json.dumps(m.nodeId)}" in src
        test = files[f"components/{m.ident}.test.tsx"]
        assert f'import {{ {m.ident} }} from "./{m.ident}";' in test
        for t in m.texts:
            assert json.dumps(t, ensure_ascii=False) in test
        assert f"components/{m.ident}.stories.tsx" in files
        assert f"<{m.ident} />" in files["app/page.tsx"]
    # every text in the design that is visible in a component's default render is a test
    pkg = json.loads(files["package.json"])
    for dep_list in (pkg["dependencies"], pkg["devDependencies"]):
        for name, version in dep_list.items():
            assert re.match(r"^\d+\.\d+\.\d+$", version), f"{name} not pinned: {version}"
    assert "document" in raw or "nodes" in raw or "type" in raw


def test_button_component_set_variants_and_shadcn(tmp_path: Path):
    fx = next(p for p in FIXTURES if p.stem == "figma-rust__button")
    store, _, results = run_stages(fx, tmp_path)
    project = next(a for a in results["generate"].artifacts if a.name == "project.tar.gz")
    files = {k: v.decode() for k, v in unpack_files(store.get(project.uri)).items()}
    src = files["components/generated/Button.tsx"]
    # variant properties from "Key=Value, ..." names become typed props (cva variants)
    assert 'viewport?: "desktop" | "mobile"; // Figma: Viewport' in src
    assert 'variant?: "primary" | "secondary" | "warning" | "start"; // Figma: Type' in src
    assert "content = \"Button\"" in src  # TEXT component property with default
    assert "{content}" in src
    # the component is a native button; Hover/Focus/Disabled are CSS states, not props
    assert "<button" in src and "disabled={disabled}" in src
    assert "hover:" in src and "focus-visible:" in src and "disabled:" in src
    assert not re.search(r"\bhover\??:", src.split("export interface")[1].split("}")[0])
    # inner shadows become one shadow class, auto layout becomes flex
    assert "flex justify-center items-center" in src
    for line in src.splitlines():
        assert len(re.findall(r"(?<![-:])\bshadow-", line)) <= 1


def test_tokens_from_styles_and_repeated_values():
    fx = next(p for p in FIXTURES if p.stem.startswith("grida__"))
    spec = analyze_source(load_figma_file(str(fx)))
    ts = extract_tokens(spec)
    color_styles = [s for s in spec.styles.values() if s.styleType == "FILL"]
    assert len(color_styles) >= 100
    # every named fill style that is used becomes a DTCG color token
    tokens = ts.dtcg["color"]

    def leaves(d):
        for v in d.values():
            if isinstance(v, dict) and "$value" in v:
                yield v
            elif isinstance(v, dict):
                yield from leaves(v)

    colors = list(leaves(tokens))
    assert len(colors) >= 100
    for tok in colors:
        assert tok["$type"] == "color"
        assert re.match(r"^#[0-9a-f]{6}([0-9a-f]{2})?$", tok["$value"])
    ext = ts.tailwind_extend()
    assert set(ext) == {"colors", "fontFamily", "fontSize", "spacing", "borderRadius",
                        "boxShadow"}
    assert len(ext["colors"]) == len(colors)


def test_typography_line_height_mapping():
    from pf_agents.figma_models import TypeStyle
    from pf_agents.tokens import line_height

    assert line_height(TypeStyle(fontSize=16, lineHeightPx=24, lineHeightUnit="PIXELS")) == "24px"
    assert line_height(TypeStyle(fontSize=20, lineHeightPx=30, lineHeightPercentFontSize=150,
                                 lineHeightPercent=123, lineHeightUnit="FONT_SIZE_%")) == "1.5"
    assert line_height(TypeStyle(fontSize=20, lineHeightPx=23.4, lineHeightPercent=100,
                                 lineHeightUnit="INTRINSIC_%")) == "normal"


def test_transformer_styles_gradient_and_shadow(tmp_path: Path):
    fx = next(p for p in FIXTURES if p.stem == "figma-transformer__testFile")
    store, _, results = run_stages(fx, tmp_path, ("analyze", "generate"))
    dtcg = json.loads(store.get(next(a for a in results["analyze"].artifacts
                                     if a.name == "tokens.json").uri))
    assert "shadow" in dtcg and "color" in dtcg
    project = next(a for a in results["generate"].artifacts if a.name == "project.tar.gz")
    files = {k: v.decode() for k, v in unpack_files(store.get(project.uri)).items()}
    allsrc = "\n".join(v for k, v in files.items() if k.startswith("components/"))
    assert "bg-[linear-gradient(" in allsrc
    assert re.search(r"\bshadow-(drop-shadow|elevation|\[)", allsrc)
    # theme keys from tokens are used, and they exist in the tailwind config
    theme = json.loads(files["tokens/tailwind-theme.json"])
    used = set(re.findall(r"\bbg-([a-z0-9-]+)\b", allsrc)) & set(theme["colors"])
    assert used, "components should use the design's color tokens"

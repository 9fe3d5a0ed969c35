"""The live Figma path (analyze reading the API) against the local Figma API server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from pf_agents.artifacts import FileArtifactStore
from pf_agents.config import PipelineConfig
from pf_agents.errors import StageError
from pf_agents.figma_client import FigmaClient, api_url, read_token
from pf_agents.files import unpack_files
from pf_agents.stages import StageEnv, run_stage
from tests.figma_api import FigmaApiServer

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "figd_live-test-token-0123456789"
GOVUK = ROOT / "examples" / "figma" / "govuk-button.json"


@pytest.fixture(scope="module")
def api() -> Iterator[FigmaApiServer]:
    with FigmaApiServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean(api: FigmaApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    api.reset()
    api.variables_status.clear()
    monkeypatch.setenv("FIGMA_API_URL", api.url)


def env_for(tmp_path: Path, **kw: object) -> StageEnv:
    return StageEnv(store=FileArtifactStore(tmp_path / "store"), workdir=tmp_path / "w",
                    figma_token=TOKEN, **kw)  # type: ignore[arg-type]


def cfg_for(key: str, node_ids: list[str] | None = None) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {"source": {"figma": {"fileKey": key, "nodeIds": node_ids or []}}})


def artifact(env: StageEnv, res, name: str) -> bytes:  # type: ignore[no-untyped-def]
    ref = next(a for a in res.artifacts if a.name == name)
    return env.store.get(ref.uri)


def test_base_url_and_token_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     api: FigmaApiServer) -> None:
    assert api_url() == api.url
    monkeypatch.delenv("FIGMA_API_URL")
    assert api_url() == "https://api.figma.com"
    monkeypatch.setenv("FIGMA_TOKEN", "from-env")
    assert read_token() == "from-env"
    f = tmp_path / "token"
    f.write_text(TOKEN + "\n")
    assert read_token(str(f)) == TOKEN
    with pytest.raises(StageError) as e:
        read_token(str(tmp_path / "missing"))
    assert e.value.reason == "FigmaTokenUnreadable" and TOKEN not in e.value.message


def test_analyze_by_key_reads_geometry_version_renders(tmp_path: Path,
                                                       api: FigmaApiServer,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    env = env_for(tmp_path)
    res = run_stage("analyze", cfg_for("govukbutton"), env)
    assert res.outcome == "Succeeded", res.message
    version = api.file("govukbutton")["version"]  # type: ignore[index]
    assert res.summary["version"] == version
    assert b'"fillGeometry"' in artifact(env, res, "design-spec.json")
    renders = unpack_files(artifact(env, res, "figma-renders.tar.gz"))
    index = json.loads(renders["figma-renders/index.json"])
    assert index["scale"] == 1.0 and index["renders"]
    for nid, name in index["renders"].items():
        assert renders[name][:8] == b"\x89PNG\r\n\x1a\n", nid
    assert res.summary["renders"] == len(index["renders"]) > 1
    stats = api.stats_json()
    assert stats["byEndpoint"]["/v1/images/:key"] == 1
    assert stats["byEndpoint"]["/v1/files/:key/variables/local"] == 1
    out = res.to_json()
    assert TOKEN not in out and TOKEN not in caplog.text


def test_vectors_placeholders_from_stored_json_svg_paths_from_the_api(tmp_path: Path) -> None:
    """The same design: stored JSON (no geometry) draws vectors as boxes; the URL path (the API
    with geometry=paths) draws them as SVG paths. The generated code differs."""
    stored = env_for(tmp_path / "stored", source_file=str(GOVUK))
    live = env_for(tmp_path / "live")
    out: dict[str, str] = {}
    for name, env in (("stored", stored), ("live", live)):
        cfg = PipelineConfig() if name == "stored" else cfg_for("govukbutton")
        for stage in ("analyze", "generate"):
            res = run_stage(stage, cfg, env)
            assert res.outcome == "Succeeded", (name, stage, res.message)
        files = unpack_files(artifact(env, res, "project.tar.gz"))
        body = files["components/generated/Button.tsx"]
        out[name] = body.decode() if isinstance(body, bytes) else body
        out[name + "-unrepro"] = artifact(env, res, "unreproduced.json").decode()
    assert "<path d=" not in out["stored"] and "<path d=" in out["live"]
    assert "fillGeometry" in out["stored-unrepro"]
    assert '"fillGeometry"' not in out["live-unrepro"]


def test_variables_name_the_tokens(tmp_path: Path, api: FigmaApiServer) -> None:
    fill = [{"type": "SOLID", "color": {"r": 0.0, "g": 0.4, "b": 0.8, "a": 1},
             "boundVariables": {"color": {"type": "VARIABLE_ALIAS", "id": "VariableID:1:1"}}}]
    comp = {"id": "1:2", "name": "Badge", "type": "COMPONENT", "fills": fill,
            "absoluteBoundingBox": {"x": 0, "y": 0, "width": 40, "height": 20}, "children": []}
    variables = {"variableCollections": {"C:1": {
        "id": "C:1", "name": "Brand", "defaultModeId": "1:0",
        "modes": [{"modeId": "1:0", "name": "Value"}], "variableIds": ["VariableID:1:1"]}},
        "variables": {"VariableID:1:1": {
            "id": "VariableID:1:1", "name": "Brand/Ocean", "resolvedType": "COLOR",
            "variableCollectionId": "C:1",
            "valuesByMode": {"1:0": {"r": 0.0, "g": 0.4, "b": 0.8, "a": 1}}}}}
    api.add_file("withvars", comp, variables=variables)
    env = env_for(tmp_path)
    res = run_stage("analyze", cfg_for("withvars"), env)
    assert res.outcome == "Succeeded", res.message
    tokens = json.loads(artifact(env, res, "tokens.json"))
    assert "brand-ocean" in tokens["color"]
    assert res.summary["variables"] == 1


def test_variables_403_is_a_note_not_a_failure(tmp_path: Path, api: FigmaApiServer) -> None:
    api.variables_status["govukbutton"] = 403
    res = run_stage("analyze", cfg_for("govukbutton"), env_for(tmp_path))
    assert res.outcome == "Succeeded", res.message
    assert any("variables not read" in n and "403" in n for n in res.summary["notes"])
    assert res.summary["variables"] is None


def test_404_is_a_clear_error(tmp_path: Path) -> None:
    res = run_stage("analyze", cfg_for("nosuchfile"), env_for(tmp_path))
    assert (res.outcome, res.reason) == ("Failed", "FigmaNotFound")
    assert "/v1/files/nosuchfile" in res.message and "fileKey" in res.message


def test_403_on_the_file_fails_without_the_token(tmp_path: Path, api: FigmaApiServer) -> None:
    api.fail("^/v1/files/govukbutton$", 403, times=1)
    res = run_stage("analyze", cfg_for("govukbutton"), env_for(tmp_path))
    assert (res.outcome, res.reason) == ("Failed", "FigmaForbidden")
    assert TOKEN not in res.to_json()


def test_429_retry_after_is_honoured(api: FigmaApiServer) -> None:
    api.fail("^/v1/files/govukbutton$", 429, times=2, retry_after=3)
    sleeps: list[float] = []
    with FigmaClient(TOKEN, sleep=sleeps.append) as client:
        src = client.fetch("govukbutton")
        assert client.requests == 3
    assert src.name == "Button" and sleeps == [3.0, 3.0]
    assert api.stats_json()["429"] == 2


def test_429_exhausted_and_5xx_backoff(api: FigmaApiServer) -> None:
    api.fail("^/v1/files/govukbutton$", 429, times=None)
    sleeps: list[float] = []
    with FigmaClient(TOKEN, sleep=sleeps.append, max_retries=2) as client, \
            pytest.raises(StageError) as e:
        client.fetch("govukbutton")
    assert e.value.reason == "FigmaRateLimited" and sleeps == [1.0, 2.0]
    api.reset()
    api.fail("^/v1/files/govukbutton$", 502, times=1)
    sleeps.clear()
    with FigmaClient(TOKEN, sleep=sleeps.append, backoff=0.5) as client:
        client.fetch("govukbutton")
    assert sleeps == [0.5]


def test_node_ids_fetch_the_nodes_endpoint(api: FigmaApiServer) -> None:
    with FigmaClient(TOKEN) as client:
        src = client.fetch("govukbutton", ["213:6", "999:1"])
    assert src.shape == "nodes" and src.missing_nodes == ["999:1"]
    assert api.stats_json()["byEndpoint"] == {"/v1/files/:key/nodes": 1}


# ---------------------------------------------------------------- pf-figma run --figma-url


def test_cli_run_from_a_url_with_a_token_file(tmp_path: Path, api: FigmaApiServer,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from pf_agents.cli import local_main

    monkeypatch.delenv("FIGMA_TOKEN", raising=False)
    tok = tmp_path / "figma-token"
    tok.write_text(TOKEN)
    out = tmp_path / "out"
    url = "https://www.figma.com/design/govukbutton/GOV.UK-Button?node-id=213-6"
    rc = local_main(["run", "--figma-url", url, "--figma-token-file", str(tok), "--out",
                     str(out), "--stages", "analyze,generate"])
    printed = capsys.readouterr()
    assert rc == 0, printed
    assert "<path d=" in (out / "components/generated/Button.tsx").read_text()
    assert api.stats_json()["byEndpoint"]["/v1/files/:key/nodes"] == 1
    results = (out / ".pf-figma" / "results.json").read_text()
    assert json.loads(results)[0]["summary"]["version"]
    assert TOKEN not in printed.out + printed.err + results


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--figma-url", "https://example.com/design/abc/x"], "not a Figma URL"),
        (["--figma-url", "https://www.figma.com/design/abc/x"], "needs a Figma token"),
        (["--figma-url", "https://www.figma.com/design/abc/x", "--node-ids", "x"],
         "not a Figma node id"),
        (["--figma-json", "x.json", "--node-ids", "1:2"], "need --figma-url"),
    ],
)
def test_cli_url_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str], argv: list[str],
                        message: str) -> None:
    from pf_agents.cli import local_main

    monkeypatch.delenv("FIGMA_TOKEN", raising=False)
    assert local_main([*argv, "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------- image fills


def _live_project(tmp_path: Path, key: str) -> tuple[dict[str, bytes], dict, str]:
    env = env_for(tmp_path)
    cfg = cfg_for(key)
    res = run_stage("analyze", cfg, env)
    assert res.outcome == "Succeeded", res.message
    gen = run_stage("generate", cfg, env)
    assert gen.outcome == "Succeeded", gen.message
    files = unpack_files(artifact(env, gen, "project.tar.gz"))
    return files, res.summary, artifact(env, gen, "unreproduced.json").decode()


def test_image_fills_become_assets_drawn_with_next_image(tmp_path: Path,
                                                         api: FigmaApiServer) -> None:
    ref = "9c0e7a51d2b84f63a1e9c7b5d3f1a2b4c6d8e0f1"
    files, summary, unrepro = _live_project(tmp_path, api.key_for("09-image-fill-crop"
                                                                  "-with-children"))
    assert summary["images"] == 1
    png = files[f"public/figma/{ref}.png"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    code = "\n".join(v.decode() for k, v in files.items()
                     if k.startswith("components/generated/") and k.endswith(".tsx"))
    assert 'import NextImage from "next/image";' in code
    assert f'src="/figma/{ref}.png"' in code and 'alt="Hero"' in code
    # STRETCH (Figma's crop): imageTransform [[0.62, 0, 0.19], [0, 0.7, 0.08]]
    assert 'left: "-30.645%"' in code and 'width: "161.29%"' in code and "object-fill" in code
    assert "overflow-hidden" in code
    assert "isolate" in code and "-z-10" in code
    # the 35% black tint above the photo is a layer over the image, not the frame's background
    hero = files["components/generated/Hero.tsx"].decode()
    assert hero.index("<NextImage") < hero.index("bg-[#00000059]") < hero.index("<h2")
    assert "image fills are placeholders" not in unrepro


def test_fill_and_fit_scale_modes(tmp_path: Path, api: FigmaApiServer) -> None:
    def comp(mode: str) -> dict:
        return {"id": "1:2", "name": "Photo card", "type": "COMPONENT",
                "fills": [{"type": "IMAGE", "scaleMode": mode, "imageRef": "abc123"}],
                "absoluteBoundingBox": {"x": 0, "y": 0, "width": 120, "height": 80},
                "cornerRadius": 8, "children": []}

    for mode, cls in (("FILL", "object-cover"), ("FIT", "object-contain")):
        api.add_file(f"img{mode}", comp(mode))
        files, _, _ = _live_project(tmp_path / mode, f"img{mode}")
        code = files["components/generated/PhotoCard.tsx"].decode()
        assert cls in code and 'sizes="120px"' in code and 'alt="Photo card"' in code, code
        assert "public/figma/abc123.png" in files
    api.add_file("imgTILE", comp("TILE"))
    files, _, _ = _live_project(tmp_path / "tile", "imgTILE")
    code = files["components/generated/PhotoCard.tsx"].decode()
    assert "url(/figma/abc123.png)" in code and "[background-size:64px_48px]" in code


def test_image_errors_are_reported_per_node_and_property(tmp_path: Path, api: FigmaApiServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import pf_agents.figma_client as fc

    key = api.key_for("09-image-fill-crop-with-children")
    limit = fc.MAX_IMAGE_BYTES
    monkeypatch.setattr(fc, "MAX_IMAGE_BYTES", 100)
    _files, summary, unrepro = _live_project(tmp_path / "big", key)
    assert summary["images"] == 0
    assert any(
        n.startswith("node 93:2 fills[0].imageRef 9c0e7a51") and "over the 100-byte limit" in n
        for n in summary["notes"]
    ), summary["notes"]
    assert "image fills are placeholders" in unrepro  # drawn as before, and said so
    monkeypatch.setattr(fc, "MAX_IMAGE_BYTES", limit)
    api.images["9c0e7a51d2b84f63a1e9c7b5d3f1a2b4c6d8e0f1"] = b"<html>not an image</html>"
    try:
        _, summary, _ = _live_project(tmp_path / "html", key)
    finally:
        api.images.clear()
    assert any("not a PNG, JPEG, GIF or WebP" in n for n in summary["notes"])


def test_agent_reads_the_token_file_and_redacts_it(tmp_path: Path, api: FigmaApiServer,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from pf_agents.cli import agent_main

    tok = tmp_path / "token"
    tok.write_text(TOKEN + "\n")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"source": {"figma": {"fileKey": "nosuchfile"}}}))
    monkeypatch.delenv("FIGMA_TOKEN", raising=False)
    monkeypatch.setenv("FIGMA_TOKEN_FILE", str(tok))
    monkeypatch.setenv("PF_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("PF_ARTIFACTS", f"file://{tmp_path / 'store'}")
    monkeypatch.setenv("PF_WORKDIR", str(tmp_path / "w"))
    api.fail("^/v1/files/nosuchfile$", 404, times=1,
             body={"status": 404, "err": f"echo {TOKEN}"})
    assert agent_main(["analyze", "--result-file", str(tmp_path / "result.json")]) == 1
    out = capsys.readouterr()
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["reason"] == "FigmaNotFound"
    assert TOKEN not in out.out + out.err + json.dumps(result)
    import hashlib

    # the token from the file reached the API (the server counts requests per token hash)
    assert api.stats_json()["byToken"] == {hashlib.sha256(TOKEN.encode()).hexdigest()[:8]: 1}


@pytest.mark.slow
def test_the_visual_stage_shows_the_downloaded_images(tmp_path: Path, api: FigmaApiServer) -> None:
    """The visual stage renders the page as a file: the next/image sources (/_next/image?url=..
    or /figma/...) must reach the project's public/ files, or the report names them broken."""
    env = env_for(tmp_path)
    cfg = cfg_for(api.key_for("09-image-fill-crop-with-children"))
    for st in ("analyze", "generate", "test", "qa", "visual"):
        res = run_stage(st, cfg, env)
        assert res.outcome == "Succeeded", f"{st}: {res.reason}: {res.message}"
    report = json.loads(artifact(env, res, "visual-report.json"))
    shown = [r for r in report["renders"] if r.get("images")]
    assert shown, [(r["component"], r.get("images")) for r in report["renders"]]
    assert [r["brokenImages"] for r in shown] == [[] for _ in shown]
    assert report["summary"]["brokenImages"] == 0

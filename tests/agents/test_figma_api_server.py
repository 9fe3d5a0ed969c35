"""The local Figma API server (tests/figma_api.py) answers like the REST API."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.figma_api import GEOMETRY_TYPES, FigmaApiServer, _walk, png_bytes, synth_geometry

ROOT = Path(__file__).resolve().parents[2]
H = {"X-Figma-Token": "figd_test"}
C = httpx.Client(timeout=10)


@pytest.fixture(scope="module")
def api() -> Iterator[FigmaApiServer]:
    with FigmaApiServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean(api: FigmaApiServer) -> None:
    api.reset()
    api.variables_status.clear()


def get(api: FigmaApiServer, path: str, **params: str) -> httpx.Response:
    return C.get(api.url + path, params=params, headers=H)


def decode_png(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw scanlines, checking signature and every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert zlib.crc32(kind + body) == crc
        if kind == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        if kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    assert len(raw) == h * (1 + 3 * w)
    return w, h, raw


def test_token_required(api: FigmaApiServer) -> None:
    r = C.get(api.url + "/v1/files/govukbutton")
    assert r.status_code == 403 and r.json()["err"] == "Invalid token"


def test_unknown_file_and_version_are_404(api: FigmaApiServer) -> None:
    assert get(api, "/v1/files/nosuchfile").status_code == 404
    assert get(api, "/v1/files/govukbutton", version="1").status_code == 404
    v = get(api, "/v1/files/govukbutton").json()["version"]
    assert get(api, "/v1/files/govukbutton", version=v).status_code == 200


def test_subtree_fixture_served_as_a_file_with_geometry_only_on_request(
    api: FigmaApiServer,
) -> None:
    plain = get(api, "/v1/files/govukbutton").json()
    assert plain["document"]["type"] == "DOCUMENT"
    assert plain["document"]["children"][0]["children"][0]["type"] == "COMPONENT_SET"
    assert plain["componentSets"] and plain["components"]
    assert "fillGeometry" not in json.dumps(plain)
    geo = get(api, "/v1/files/govukbutton", geometry="paths").json()
    shapes = [n for n in _walk(geo["document"]) if n["type"] in GEOMETRY_TYPES]
    assert shapes and all("fillGeometry" in n and "strokeGeometry" in n for n in shapes)
    assert any(g["path"].startswith("M") for n in shapes for g in n["fillGeometry"])


def test_synthesized_shapes() -> None:
    circle = synth_geometry({"type": "ELLIPSE", "fills": [{}], "size": {"x": 10, "y": 10}})[0]
    assert circle[0]["path"].count("C") == 4
    rounded = synth_geometry(
        {"type": "RECTANGLE", "fills": [{}], "cornerRadius": 4, "size": {"x": 20, "y": 10}}
    )[0]
    assert rounded[0]["path"].startswith("M4 0L16 0C")
    star = synth_geometry({"type": "STAR", "fills": [{}], "size": {"x": 10, "y": 10}})[0]
    assert star[0]["path"].count("L") == 9
    line = synth_geometry({"type": "LINE", "strokeWeight": 2, "size": {"x": 30, "y": 0}})
    assert line[0] == [] and line[1][0]["path"] == "M0 0L30 0L30 2L0 2L0 0Z"


def test_stored_geometry_is_stripped_unless_asked(api: FigmaApiServer) -> None:
    vec = {
        "id": "1:2",
        "name": "Icon",
        "type": "VECTOR",
        "fills": [{"type": "SOLID", "color": {"r": 0, "g": 0, "b": 0, "a": 1}}],
        "fillGeometry": [{"path": "M0 0L10 5L0 10Z", "windingRule": "NONZERO"}],
        "absoluteBoundingBox": {"x": 0, "y": 0, "width": 10, "height": 10},
    }
    api.add_file("withgeo", vec)
    assert "fillGeometry" not in get(api, "/v1/files/withgeo").text
    nodes = get(api, "/v1/files/withgeo/nodes", ids="1:2", geometry="paths").json()
    assert nodes["nodes"]["1:2"]["document"]["fillGeometry"][0]["path"] == "M0 0L10 5L0 10Z"


def test_ids_depth_and_nodes(api: FigmaApiServer) -> None:
    key = api.key_for("01-mixed-text-styles")
    full = get(api, f"/v1/files/{key}").json()
    page = full["document"]["children"][0]
    target = page["children"][0]["id"]
    pruned = get(api, f"/v1/files/{key}", ids=target).json()
    assert [c["id"] for c in pruned["document"]["children"][0]["children"]] == [target]
    pages = get(api, f"/v1/files/{key}", depth="1").json()
    assert "children" not in pages["document"]["children"][0]
    assert get(api, f"/v1/files/{key}", depth="0").status_code == 400
    nodes = get(api, f"/v1/files/{key}/nodes", ids=f"{target},999:999").json()
    assert nodes["nodes"]["999:999"] is None
    assert nodes["nodes"][target]["document"]["id"] == target
    assert nodes["version"] == full["version"]


def test_image_fills_are_real_pngs_without_token(api: FigmaApiServer) -> None:
    key = api.key_for("09-image-fill-crop-with-children")
    meta = get(api, f"/v1/files/{key}/images").json()["meta"]["images"]
    assert meta
    ref, url = next(iter(meta.items()))
    r = C.get(url)  # S3-style URL: no token
    assert r.headers["content-type"] == "image/png"
    assert decode_png(r.content)[:2] == (64, 48)
    assert C.get(url.replace(ref, "nope")).status_code == 404


def test_renders_scale_and_unknown_ids(api: FigmaApiServer) -> None:
    key = "govukbutton"
    doc = get(api, f"/v1/files/{key}").json()["document"]
    node = doc["children"][0]["children"][0]["children"][0]
    bb = node["absoluteBoundingBox"]
    res = get(api, f"/v1/images/{key}", ids=f"{node['id']},5:5", format="png", scale="2").json()
    assert res["err"] is None and res["images"]["5:5"] is None
    w, h, _ = decode_png(C.get(res["images"][node["id"]]).content)
    assert (w, h) == (round(bb["width"] * 2), round(bb["height"] * 2))
    assert get(api, f"/v1/images/{key}", ids=node["id"], scale="9").status_code == 400
    assert get(api, f"/v1/images/{key}", ids=node["id"], format="svg").status_code == 400


def test_variables_local_and_403(api: FigmaApiServer) -> None:
    r = get(api, "/v1/files/govukbutton/variables/local")
    assert r.json()["meta"] == {"variables": {}, "variableCollections": {}}
    api.variables_status["govukbutton"] = 403
    assert get(api, "/v1/files/govukbutton/variables/local").status_code == 403


def test_faults_rate_limit_and_counters(api: FigmaApiServer) -> None:
    api.fail(r"^/v1/files/govukbutton$", 429, times=2, retry_after=3)
    first = get(api, "/v1/files/govukbutton")
    assert first.status_code == 429 and first.headers["Retry-After"] == "3"
    assert get(api, "/v1/files/govukbutton").status_code == 429
    assert get(api, "/v1/files/govukbutton").status_code == 200
    stats = api.stats_json()
    assert stats["requests"] == 3 and stats["429"] == 2
    assert stats["byEndpoint"]["/v1/files/:key"] == 3
    assert C.get(api.url + "/_stats").json()["429"] == 2


def test_per_token_rate_limit() -> None:
    with FigmaApiServer(rate_limit=2, rate_window=30) as srv:
        codes = [get(srv, "/v1/files/govukbutton").status_code for _ in range(3)]
        other = C.get(srv.url + "/v1/files/govukbutton", headers={"X-Figma-Token": "b"})
        assert codes == [200, 200, 429] and other.status_code == 200
        assert int(get(srv, "/v1/files/govukbutton").headers["Retry-After"]) >= 29


def test_png_writer_draws_two_colours() -> None:
    w, h, raw = decode_png(png_bytes(8, 4, (10, 20, 30)))
    assert (w, h) == (8, 4)
    assert bytes((10, 20, 30)) in raw and bytes((245, 235, 225)) in raw


def test_runs_as_a_script(tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text((ROOT / "examples/figma/govuk-button.json").read_text())
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests/figma_api.py"),
            "--port",
            "0",
            "--fixtures",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "serving 1 files" in line and " one" in line
        url = line.split(" on ")[1].split(":", 2)
        base = f"http://127.0.0.1:{url[2].split(':')[0]}"
        deadline = time.monotonic() + 5
        while True:
            try:
                r = C.get(base + "/v1/files/one", headers=H)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert r.status_code == 200
        post = C.post(base + "/_faults", json={"path": "one", "status": 404, "times": 1})
        assert post.status_code == 200
        assert C.get(base + "/v1/files/one", headers=H).status_code == 404
    finally:
        proc.terminate()
        proc.wait(5)

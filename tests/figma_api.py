"""A local HTTP server that answers like the Figma REST API, serving stored real fixtures.

Standard library only, so that it runs in any image (tests, the CLI, an e2e pod)::

    python tests/figma_api.py --port 8990 --fixtures examples/figma \
        --fixtures tests/agents/figma_cases

From pytest::

    with FigmaApiServer([Path("examples/figma")]) as api:
        api.url            # "http://127.0.0.1:<port>"
        api.key_for("govuk-button")   # "govukbutton": fixtures are keyed by their alphanumeric stem
        api.fail("/v1/files/govukbutton", 429, times=1, retry_after=2)
        api.stats_json()   # {"requests": n, "429": n, "byEndpoint": {...}, "byToken": {...}}

Endpoints (shapes from Figma's REST API reference, https://www.figma.com/developers/api):

* ``GET /v1/files/:key`` - ``ids`` (only the listed nodes, their subtrees and their ancestors),
  ``depth`` (1 = pages only), ``geometry=paths``, ``version`` (only the stored version exists).
* ``GET /v1/files/:key/nodes?ids=`` - ``{"nodes": {id: {"document", "components", ...} | null}}``.
* ``GET /v1/files/:key/images`` - image fills: ``{"meta": {"images": {imageRef: url}}}``, the
  URLs pointing at this server (``/_images/...``, real PNG bytes, no token as for Figma's S3).
* ``GET /v1/images/:key?ids=&format=png&scale=`` - renders: ``{"err": null, "images": {id: url}}``,
  a PNG of the node's size x scale in its first solid fill colour (``null`` for unknown ids).
* ``GET /v1/files/:key/variables/local`` - ``<stem>.variables.json`` beside the fixture, if any,
  else empty ``meta``; ``variables_status`` makes it answer 403 as on plans without variables.

Fixtures are stored WITHOUT geometry (as the files we have were saved). Like the API, responses
carry ``fillGeometry``/``strokeGeometry`` only with ``geometry=paths``: stored geometry is stripped
otherwise, and missing geometry is added for shape nodes (rectangles with their corner radii,
ellipses, stars, polygons and lines exactly; VECTOR and BOOLEAN_OPERATION outlines, which the
stored files do not hold, as their bounding box: a stand-in for the real outline).

Requests need an ``X-Figma-Token`` header (403 without; ``tokens`` restricts the accepted ones).
Faults: ``fail(path_regex, status, times, retry_after)`` or ``POST /_faults`` with
``{"path": ..., "status": ..., "times": ..., "retryAfter": ...}``; ``rate_limit`` requests per
``rate_window`` seconds per token answer 429 with ``Retry-After`` beyond the limit. ``GET /_stats``
returns the counters (also ``stats()``); ``POST /_reset`` clears counters and faults.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import re
import struct
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FIXTURES = (REPO / "examples" / "figma", REPO / "tests" / "agents" / "figma_cases")
GEOMETRY_TYPES = {
    "VECTOR",
    "STAR",
    "REGULAR_POLYGON",
    "BOOLEAN_OPERATION",
    "LINE",
    "RECTANGLE",
    "ELLIPSE",
}
KAPPA = 0.5522847498  # cubic Bezier control distance for a quarter circle


# ------------------------------------------------------------------------------------------ PNG
def png_bytes(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real RGB PNG (8 bit, zlib-compressed scanlines, CRC-checked chunks) with a diagonal
    stripe so that it is not one flat colour."""
    width, height = max(1, width), max(1, height)
    r, g, b = rgb
    stripe = (255 - r, 255 - g, 255 - b)
    base = bytes((r, g, b)) * width
    half = max(1, width // 16)
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: None
        row = bytearray(base)
        centre = y * width / height
        for x in range(max(0, int(centre - half)), min(width, int(centre + half) + 1)):
            if abs(x - centre) < half:
                row[3 * x : 3 * x + 3] = bytes(stripe)
        rows.extend(row)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 6))
        + chunk(b"IEND", b"")
    )


def _colour_for(text: str) -> tuple[int, int, int]:
    d = hashlib.sha256(text.encode()).digest()
    return d[0], d[1], d[2]


# ------------------------------------------------------------------------------------- geometry
def _n(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))


def _rect_path(w: float, h: float, radii: list[float]) -> str:
    tl, tr, br, bl = (min(max(r, 0.0), w / 2, h / 2) for r in radii)
    if not any((tl, tr, br, bl)):
        return f"M0 0L{_n(w)} 0L{_n(w)} {_n(h)}L0 {_n(h)}L0 0Z"
    k = 1 - KAPPA
    return (
        f"M{_n(tl)} 0L{_n(w - tr)} 0"
        f"C{_n(w - tr * k)} 0 {_n(w)} {_n(tr * k)} {_n(w)} {_n(tr)}"
        f"L{_n(w)} {_n(h - br)}"
        f"C{_n(w)} {_n(h - br * k)} {_n(w - br * k)} {_n(h)} {_n(w - br)} {_n(h)}"
        f"L{_n(bl)} {_n(h)}"
        f"C{_n(bl * k)} {_n(h)} 0 {_n(h - bl * k)} 0 {_n(h - bl)}"
        f"L0 {_n(tl)}"
        f"C0 {_n(tl * k)} {_n(tl * k)} 0 {_n(tl)} 0Z"
    )


def _ellipse_path(w: float, h: float) -> str:
    rx, ry = w / 2, h / 2
    kx, ky = rx * KAPPA, ry * KAPPA
    return (
        f"M{_n(w)} {_n(ry)}"
        f"C{_n(w)} {_n(ry + ky)} {_n(rx + kx)} {_n(h)} {_n(rx)} {_n(h)}"
        f"C{_n(rx - kx)} {_n(h)} 0 {_n(ry + ky)} 0 {_n(ry)}"
        f"C0 {_n(ry - ky)} {_n(rx - kx)} 0 {_n(rx)} 0"
        f"C{_n(rx + kx)} 0 {_n(w)} {_n(ry - ky)} {_n(w)} {_n(ry)}Z"
    )


def _polygon_path(w: float, h: float, points: int, inner: float | None) -> str:
    pts: list[tuple[float, float]] = []
    count = points * 2 if inner is not None else points
    for i in range(count):
        a = -math.pi / 2 + i * 2 * math.pi / count
        s = inner if inner is not None and i % 2 else 1.0
        pts.append((w / 2 + s * w / 2 * math.cos(a), h / 2 + s * h / 2 * math.sin(a)))
    return "M" + "L".join(f"{_n(x)} {_n(y)}" for x, y in pts) + "Z"


def _size(node: dict[str, Any]) -> tuple[float, float]:
    size = node.get("size")
    if isinstance(size, dict):
        return float(size.get("x", 0) or 0), float(size.get("y", 0) or 0)
    bb = node.get("absoluteBoundingBox") or {}
    return float(bb.get("width", 0) or 0), float(bb.get("height", 0) or 0)


def synth_geometry(node: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """``(fillGeometry, strokeGeometry)`` for a shape node without stored geometry."""
    t = node.get("type")
    w, h = _size(node)
    if t == "LINE":
        sw = float(node.get("strokeWeight") or 1)
        return [], [{"path": _rect_path(w, sw, [0, 0, 0, 0]), "windingRule": "NONZERO"}]
    if t == "ELLIPSE":
        fill = _ellipse_path(w, h)
    elif t == "STAR":
        inner = float(node.get("starInnerScale") or 0.382)
        fill = _polygon_path(w, h, int(node.get("pointCount") or 5), inner)
    elif t == "REGULAR_POLYGON":
        fill = _polygon_path(w, h, int(node.get("pointCount") or 3), None)
    elif t == "RECTANGLE":
        radii = node.get("rectangleCornerRadii") or [float(node.get("cornerRadius") or 0)] * 4
        fill = _rect_path(w, h, [float(r) for r in radii])
    else:  # VECTOR / BOOLEAN_OPERATION: the stored files hold no outline; the box stands in
        fill = _rect_path(w, h, [0, 0, 0, 0])
    fills = [{"path": fill, "windingRule": "NONZERO"}] if node.get("fills") else []
    strokes: list[dict[str, str]] = []
    sw = float(node.get("strokeWeight") or 0)
    if node.get("strokes") and sw > 0 and w > 2 * sw and h > 2 * sw:
        outer = _rect_path(w, h, [0, 0, 0, 0])
        lo, right, bottom = _n(sw), _n(w - sw), _n(h - sw)
        hole = f"M{lo} {lo}L{lo} {bottom}L{right} {bottom}L{right} {lo}Z"
        strokes.append({"path": outer + hole, "windingRule": "EVENODD"})
    return fills, strokes


def apply_geometry(node: dict[str, Any], want: bool) -> None:
    """Strip (``want`` False) or fill in (``want`` True) geometry in a node tree, in place."""
    stack = [node]
    while stack:
        n = stack.pop()
        if not want:
            n.pop("fillGeometry", None)
            n.pop("strokeGeometry", None)
        elif n.get("type") in GEOMETRY_TYPES and "fillGeometry" not in n:
            n["fillGeometry"], n["strokeGeometry"] = synth_geometry(n)
        stack.extend(c for c in n.get("children") or [] if isinstance(c, dict))


# ------------------------------------------------------------------------------------- fixtures
def key_for(stem: str) -> str:
    """The file key a fixture is served under: its file name stem, alphanumerics only."""
    return re.sub(r"[^A-Za-z0-9]", "", stem)


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed([c for c in n.get("children") or [] if isinstance(c, dict)]))


def as_file(data: dict[str, Any], stem: str) -> dict[str, Any]:
    """Any stored shape (file, nodes response, subtree) as a ``GET /v1/files/:key`` body."""
    version = str(int(hashlib.sha256(stem.encode()).hexdigest()[:10], 16))
    base: dict[str, Any] = {
        "name": data.get("name") or stem,
        "role": "viewer",
        "lastModified": data.get("lastModified") or "2024-01-01T00:00:00Z",
        "editorType": data.get("editorType") or "figma",
        "thumbnailUrl": "",
        "version": str(data.get("version") or version),
        "schemaVersion": 0,
        "components": {},
        "componentSets": {},
        "styles": {},
    }
    if "document" in data:
        out = {**base, **data}
        out["version"] = str(data.get("version") or version)
        return out
    if "nodes" in data:
        kids: list[dict[str, Any]] = []
        for entry in data["nodes"].values():
            if not entry:
                continue
            kids.append(entry["document"])
            for k in ("components", "componentSets", "styles"):
                base[k].update(entry.get(k) or {})
        page = {"id": "0:1", "name": "Page 1", "type": "CANVAS", "children": kids}
        return {
            **base,
            "document": {"id": "0:0", "name": "Document", "type": "DOCUMENT", "children": [page]},
        }
    if data.get("type") == "CANVAS":
        pages = [data]
    else:
        pages = [{"id": "0:1", "name": "Page 1", "type": "CANVAS", "children": [data]}]
    for n in _walk(data):  # a subtree's components are its own COMPONENT nodes
        if n.get("type") in ("COMPONENT", "COMPONENT_SET"):
            meta = {
                "key": hashlib.sha1(n["id"].encode()).hexdigest(),
                "name": n.get("name", ""),
                "description": n.get("description", ""),
            }
            if n["type"] == "COMPONENT_SET":
                base["componentSets"][n["id"]] = meta
            else:
                base["components"][n["id"]] = meta
    return {
        **base,
        "document": {"id": "0:0", "name": "Document", "type": "DOCUMENT", "children": pages},
    }


def _prune(node: dict[str, Any], ids: set[str]) -> dict[str, Any] | None:
    """The node if it or a descendant is listed: listed nodes whole, ancestors with only the
    branches that lead to listed nodes (the ``ids`` parameter of ``GET /v1/files/:key``)."""
    if node.get("id") in ids:
        return node
    kids = [p for c in node.get("children") or [] if (p := _prune(c, ids)) is not None]
    if not kids:
        return None
    return {**node, "children": kids}


def _cut_depth(node: dict[str, Any], depth: int) -> None:
    if depth <= 0:
        node.pop("children", None)
        return
    for c in node.get("children") or []:
        _cut_depth(c, depth - 1)


def _paint_refs(node: dict[str, Any]) -> Iterator[str]:
    for n in _walk(node):
        for prop in ("fills", "strokes", "background"):
            for p in n.get(prop) or []:
                if isinstance(p, dict) and p.get("imageRef"):
                    yield str(p["imageRef"])


@dataclass
class Fault:
    path: re.Pattern[str]
    status: int
    times: int | None  # None = every matching request
    retry_after: float | None = None
    body: dict[str, Any] | None = None


@dataclass
class Stats:
    requests: int = 0
    rate_limited: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    by_token: dict[str, int] = field(default_factory=dict)  # token hash prefix -> count

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "429": self.rate_limited,
            "byEndpoint": dict(self.by_endpoint),
            "byStatus": dict(self.by_status),
            "byToken": dict(self.by_token),
        }


class FigmaApi:
    """The state behind the server: fixtures, faults, rate limit, counters (thread-safe)."""

    def __init__(
        self,
        fixture_dirs: Iterable[Path] = DEFAULT_FIXTURES,
        *,
        tokens: Iterable[str] | None = None,
        rate_limit: int | None = None,
        rate_window: float = 60.0,
        image_size: tuple[int, int] = (64, 48),
    ) -> None:
        self.paths: dict[str, Path] = {}
        for d in fixture_dirs:
            for p in sorted(Path(d).glob("*.json")):
                if not p.name.endswith(".variables.json"):
                    self.paths.setdefault(key_for(p.stem), p)
        self.files: dict[str, dict[str, Any]] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        self.variables_status: dict[str, int] = {}
        self.images: dict[str, bytes] = {}  # imageRef -> bytes (overrides the generated PNG)
        self.image_size = image_size
        self.tokens = set(tokens) if tokens is not None else None
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self._windows: dict[str, tuple[float, int]] = {}
        self.faults: list[Fault] = []
        self.bodies: dict[tuple[int, str, int | None, bool], bytes] = {}  # _file responses
        self.stats = Stats()
        self.lock = threading.Lock()

    # ---- configuration
    def add_file(
        self, key: str, data: dict[str, Any], *, variables: dict[str, Any] | None = None
    ) -> None:
        with self.lock:
            self.files[key] = as_file(data, key)
            self.bodies.clear()
            if variables is not None:
                self.variables[key] = variables

    def fail(
        self,
        path: str,
        status: int,
        *,
        times: int | None = 1,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        with self.lock:
            self.faults.append(Fault(re.compile(path), status, times, retry_after, body))

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.stats = Stats()
            self._windows.clear()

    # ---- data
    def file(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            if key not in self.files and key in self.paths:
                p = self.paths[key]
                self.files[key] = as_file(json.loads(p.read_bytes()), p.stem)
                side = p.with_name(p.stem + ".variables.json")
                if side.is_file() and key not in self.variables:
                    self.variables[key] = json.loads(side.read_bytes())
            return self.files.get(key)

    def keys(self) -> list[str]:
        return sorted(set(self.paths) | set(self.files))

    # ---- request accounting (returns a fault response or None)
    def admit(
        self, path: str, token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        with self.lock:
            s = self.stats
            s.requests += 1
            endpoint = re.sub(r"/v1/(files|images)/[^/]+", r"/v1/\1/:key", path)
            s.by_endpoint[endpoint] = s.by_endpoint.get(endpoint, 0) + 1
            if token:
                tid = hashlib.sha256(token.encode()).hexdigest()[:8]
                s.by_token[tid] = s.by_token.get(tid, 0) + 1
            for f in self.faults:
                if f.times != 0 and f.path.search(path):
                    if f.times is not None:
                        f.times -= 1
                    headers = {}
                    if f.retry_after is not None:
                        headers["Retry-After"] = _n(f.retry_after)
                    body = f.body or {"status": f.status, "err": _REASONS.get(f.status, "Error")}
                    return f.status, body, headers
            if self.rate_limit is not None and token:
                now = time.monotonic()
                start, count = self._windows.get(token, (now, 0))
                if now - start >= self.rate_window:
                    start, count = now, 0
                if count >= self.rate_limit:
                    wait = max(1, math.ceil(self.rate_window - (now - start)))
                    return (
                        429,
                        {"status": 429, "err": "Rate limit exceeded"},
                        {"Retry-After": str(wait)},
                    )
                self._windows[token] = (start, count + 1)
            return None

    def count_status(self, status: int) -> None:
        with self.lock:
            self.stats.by_status[str(status)] = self.stats.by_status.get(str(status), 0) + 1
            if status == 429:
                self.stats.rate_limited += 1


_REASONS = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    429: "Rate limit exceeded",
    500: "Internal server error",
}


def _ids(query: dict[str, list[str]]) -> list[str]:
    return [i for v in query.get("ids", []) for i in v.split(",") if i]


class _Handler(BaseHTTPRequestHandler):
    api: FigmaApi  # set on the subclass made per server
    api_host = "127.0.0.1"  # fallback for requests without a Host header
    server_version = "figma-api-local/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    # ---- responses
    def _send(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.api.count_status(status)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(
            status, json.dumps(obj, separators=(",", ":")).encode(), "application/json", headers
        )

    def _err(self, status: int, message: str) -> None:
        self._json(status, {"status": status, "err": message})

    @property
    def base(self) -> str:
        host = self.headers.get("Host") or f"{self.api_host}"
        return f"http://{host}"

    # ---- routing
    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        if parts.path == "/_reset":
            self.api.reset()
            return self._json(200, {"ok": True})
        if parts.path == "/_faults":
            try:
                spec = json.loads(raw)
                self.api.fail(
                    spec["path"],
                    int(spec["status"]),
                    times=spec.get("times", 1),
                    retry_after=spec.get("retryAfter"),
                )
            except (ValueError, KeyError, TypeError, re.error) as exc:
                return self._err(400, f"bad fault: {exc}")
            return self._json(200, {"ok": True})
        return self._err(404, "Not found")

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        if path == "/_stats":
            with self.api.lock:
                stats = self.api.stats.as_json()
            return self._json(200, stats)
        if path == "/_keys":
            return self._json(200, {"keys": self.api.keys()})
        if path.startswith("/_images/") or path.startswith("/_renders/"):
            return self._asset(path, query)
        token = self.headers.get("X-Figma-Token")
        fault = self.api.admit(path, token)
        if fault is not None:
            return self._json(*fault)
        if not token or (self.api.tokens is not None and token not in self.api.tokens):
            return self._err(403, "Invalid token")
        m = re.fullmatch(r"/v1/files/([^/]+)(/nodes|/images|/variables/local)?", path)
        if m:
            key, sub = m.group(1), m.group(2) or ""
            data = self.api.file(key)
            if data is None:
                return self._err(404, "Not found")
            version = query.get("version", [None])[0]
            if version is not None and version != data["version"]:
                return self._err(404, "Not found")
            if sub == "":
                return self._file(data, query)
            if sub == "/nodes":
                return self._nodes(data, query)
            if sub == "/images":
                return self._image_fills(key, data)
            return self._variables(key)
        m = re.fullmatch(r"/v1/images/([^/]+)", path)
        if m:
            data = self.api.file(m.group(1))
            if data is None:
                return self._err(404, "Not found")
            return self._renders(m.group(1), data, query)
        return self._err(404, "Not found")

    do_HEAD = do_GET

    # ---- endpoints
    def _depth(self, query: dict[str, list[str]]) -> int | str | None:
        raw = query.get("depth", [None])[0]
        if raw is None:
            return None
        if not raw.isdigit() or int(raw) < 1:
            return "depth must be a positive integer"
        return int(raw)

    def _file(self, data: dict[str, Any], query: dict[str, list[str]]) -> None:
        depth = self._depth(query)
        if isinstance(depth, str):
            return self._err(400, depth)
        ids = _ids(query)
        geometry = query.get("geometry", [""])[0] == "paths"
        cache_key = (id(data), ",".join(ids), depth, geometry)
        body = self.api.bodies.get(cache_key)
        if body is None:  # large files: built once per query shape, then served as bytes
            doc = copy.deepcopy(data["document"])
            if ids:
                doc = _prune(doc, set(ids)) or {**doc, "children": []}
            if depth is not None:
                _cut_depth(doc, depth)
            apply_geometry(doc, geometry)
            body = json.dumps({**data, "document": doc}, separators=(",", ":")).encode()
            with self.api.lock:
                self.api.bodies[cache_key] = body
        self._send(200, body, "application/json")

    def _nodes(self, data: dict[str, Any], query: dict[str, list[str]]) -> None:
        ids = _ids(query)
        if not ids:
            return self._err(400, "ids is required")
        depth = self._depth(query)
        if isinstance(depth, str):
            return self._err(400, depth)
        index = {n.get("id"): n for n in _walk(data["document"])}
        geometry = query.get("geometry", [""])[0] == "paths"
        nodes: dict[str, Any] = {}
        for nid in ids:
            node = index.get(nid)
            if node is None:
                nodes[nid] = None
                continue
            doc = copy.deepcopy(node)
            if depth is not None:
                _cut_depth(doc, depth)
            apply_geometry(doc, geometry)
            used = {n.get("id") for n in _walk(doc)} | {n.get("componentId") for n in _walk(doc)}
            nodes[nid] = {
                "document": doc,
                "components": {k: v for k, v in data["components"].items() if k in used},
                "componentSets": {
                    k: v
                    for k, v in data["componentSets"].items()
                    if k in used
                    or any(
                        c.get("componentSetId") == k
                        for i, c in data["components"].items()
                        if i in used
                    )
                },
                "styles": data["styles"],
                "schemaVersion": 0,
            }
        head = {
            k: data[k]
            for k in ("name", "lastModified", "thumbnailUrl", "version", "role", "editorType")
        }
        self._json(200, {**head, "nodes": nodes})

    def _image_fills(self, key: str, data: dict[str, Any]) -> None:
        refs = sorted(set(_paint_refs(data["document"])))
        images = {r: f"{self.base}/_images/{key}/{quote(r)}.png" for r in refs}
        self._json(200, {"error": False, "status": 200, "meta": {"images": images}})

    def _variables(self, key: str) -> None:
        status = self.api.variables_status.get(key, 200)
        if status != 200:
            return self._json(
                status,
                {
                    "status": status,
                    "error": True,
                    "message": "Forbidden: variables need an Enterprise plan"
                    if status == 403
                    else _REASONS.get(status, "Error"),
                },
            )
        meta = self.api.variables.get(key, {"variables": {}, "variableCollections": {}})
        meta = meta.get("meta", meta)
        self._json(200, {"status": 200, "error": False, "meta": meta})

    def _renders(self, key: str, data: dict[str, Any], query: dict[str, list[str]]) -> None:
        ids = _ids(query)
        if not ids:
            return self._err(400, "ids is required")
        fmt = query.get("format", ["png"])[0]
        if fmt != "png":
            return self._err(400, f"format {fmt!r} is not served by the local server (png only)")
        try:
            scale = float(query.get("scale", ["1"])[0])
        except ValueError:
            return self._err(400, "scale must be a number")
        if not 0.01 <= scale <= 4:
            return self._err(400, "scale must be between 0.01 and 4")
        index = {n.get("id"): n for n in _walk(data["document"])}
        images: dict[str, str | None] = {}
        for nid in ids:
            images[nid] = (
                f"{self.base}/_renders/{key}/{quote(nid, safe='')}.png?scale={_n(scale)}"
                if nid in index
                else None
            )
        self._json(200, {"err": None, "images": images, "status": 200})

    def _asset(self, path: str, query: dict[str, list[str]]) -> None:
        with self.api.lock:
            self.api.stats.requests += 1
            ep = path.split("/")[1]
            self.api.stats.by_endpoint[ep] = self.api.stats.by_endpoint.get(ep, 0) + 1
        segs = path.split("/")
        if len(segs) != 4 or not segs[3].endswith(".png"):
            return self._err(404, "Not found")
        key, name = segs[2], unquote(segs[3][:-4])
        data = self.api.file(key)
        if data is None:
            return self._err(404, "Not found")
        if segs[1] == "_images":
            if name in self.api.images:
                return self._send(200, self.api.images[name], "image/png")
            if name not in set(_paint_refs(data["document"])):
                return self._err(404, "Not found")
            iw, ih = self.api.image_size
            return self._send(200, png_bytes(iw, ih, _colour_for(name)), "image/png")
        node = next((n for n in _walk(data["document"]) if n.get("id") == name), None)
        if node is None:
            return self._err(404, "Not found")
        scale = float(query.get("scale", ["1"])[0])
        w, h = _size(node)
        rgb = _colour_for(name)
        for p in node.get("fills") or []:
            if p.get("type") == "SOLID" and p.get("color"):
                c = p["color"]
                rgb = (round(c["r"] * 255), round(c["g"] * 255), round(c["b"] * 255))
                break
        width = min(4096, max(1, round(w * scale)))
        height = min(4096, max(1, round(h * scale)))
        self._send(200, png_bytes(width, height, rgb), "image/png")


class FigmaApiServer(FigmaApi):
    """:class:`FigmaApi` served over HTTP on ``host:port`` (0 = any free port) in a thread."""

    def __init__(
        self,
        fixture_dirs: Iterable[Path] = DEFAULT_FIXTURES,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **kw: Any,
    ) -> None:
        super().__init__(fixture_dirs, **kw)
        handler = type("Handler", (_Handler,), {"api": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.host = host
        self.port = int(self.httpd.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FigmaApiServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="figma-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FigmaApiServer:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    key_for = staticmethod(key_for)

    def stats_json(self) -> dict[str, Any]:
        with self.lock:
            return self.stats.as_json()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8990)
    ap.add_argument(
        "--fixtures",
        action="append",
        type=Path,
        help="directory of Figma JSON fixtures (repeatable; default: the repo's)",
    )
    ap.add_argument("--token", action="append", help="accepted token (repeatable; default: any)")
    ap.add_argument("--rate-limit", type=int, help="requests per window per token, then 429")
    ap.add_argument("--rate-window", type=float, default=60.0, help="seconds (default 60)")
    ap.add_argument(
        "--variables-403",
        action="append",
        default=[],
        metavar="KEY",
        help="answer 403 on this file's variables/local (repeatable)",
    )
    args = ap.parse_args(argv)
    srv = FigmaApiServer(
        args.fixtures or DEFAULT_FIXTURES,
        host=args.host,
        port=args.port,
        tokens=args.token,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
    )
    for key in args.variables_403:
        srv.variables_status[key] = 403
    print(
        f"figma-api: serving {len(srv.keys())} files on {srv.url}: {', '.join(srv.keys())}",
        flush=True,
    )
    try:
        srv.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

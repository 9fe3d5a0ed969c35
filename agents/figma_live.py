"""What analyze reads from the Figma API besides the document (only analyze calls Figma).

* Variables (``GET /v1/files/:key/variables/local``): they name the tokens (agents/tokens.py).
  Figma answers 403 on plans without variables access: a note in the result, not a failure.
* Image fills (``GET /v1/files/:key/images``, then each URL): stored as the artifact
  ``figma-images.tar.gz`` holding ``public/figma/<imageRef>.<ext>`` and ``figma-images.json``
  (:data:`IMAGES_INDEX`: per imageRef its file, pixel size, bytes and the nodes using it), which
  generate copies into the project and renders with ``next/image``. Each image at most
  ``figma_client.MAX_IMAGE_BYTES``, all together at most ``MAX_IMAGES_TOTAL``; a failed image is
  reported per node and property (``node 1:2 fills[0].imageRef <ref>: <why>``).
* Renders (``GET /v1/images/:key?format=png``): one PNG per component and variant (at most
  :data:`MAX_RENDERS`), stored as ``figma-renders.tar.gz`` holding ``figma-renders/<node-id>.png``
  and ``figma-renders/index.json`` (``{"scale": s, "renders": {id: file | null}}``), read by the
  visual stage (agents/visual.py ``parse_renders``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import figma_client
from .analyze import DesignSpec
from .errors import StageError
from .figma_client import Downloaded, FigmaClient, image_size, image_type
from .figma_models import LocalVariables, Node

IMAGES = "figma-images.tar.gz"
IMAGES_INDEX = "figma-images.json"
IMAGES_DIR = "public/figma"
RENDERS = "figma-renders.tar.gz"
RENDERS_DIR = "figma-renders"
MAX_RENDERS = 200
RENDER_SCALE = 1.0


@dataclass
class LiveExtras:
    """Variables, image fills and renders read for one file; ``notes`` for the result."""

    variables: LocalVariables | None = None
    images: dict[str, str | bytes] = field(default_factory=dict)  # archive members
    renders: dict[str, str | bytes] = field(default_factory=dict)  # archive members
    notes: list[str] = field(default_factory=list)
    image_count: int = 0
    render_count: int = 0


def image_uses(roots: list[Node]) -> dict[str, list[str]]:
    """imageRef -> ``"<node id> <property>"`` of every paint that uses it (fills, strokes)."""
    out: dict[str, list[str]] = {}
    for node in _walk(roots):
        for prop in ("fills", "strokes"):
            for i, p in enumerate(getattr(node, prop, None) or []):
                if p.imageRef:
                    out.setdefault(p.imageRef, []).append(f"{node.id} {prop}[{i}].imageRef")
    return out


def _walk(roots: list[Node]) -> Iterator[Node]:
    stack = list(reversed(roots))
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children or []))


def render_ids(spec: DesignSpec) -> list[str]:
    """Node ids to render: each component, then each variant, at most :data:`MAX_RENDERS`."""
    ids: list[str] = []
    for c in spec.components:
        ids.append(c.nodeId)
    for c in spec.components:
        ids.extend(v.nodeId for v in c.variants)
    return list(dict.fromkeys(ids))[:MAX_RENDERS]


def _variables(client: FigmaClient, key: str, notes: list[str]) -> LocalVariables | None:
    try:
        return client.local_variables(key)
    except StageError as exc:
        if exc.reason in ("FigmaForbidden", "FigmaNotFound"):
            notes.append(
                "variables not read (GET /v1/files/:key/variables/local answered "
                f"{'403' if exc.reason == 'FigmaForbidden' else '404'}; they need a "
                "plan with variables access): tokens named from styles and values"
            )
            return None
        raise


def _images(client: FigmaClient, key: str, spec: DesignSpec, out: LiveExtras) -> None:
    uses = image_uses(spec.roots)
    if not uses:
        return
    urls = client.image_fills(key)
    wanted = {ref: urls.get(ref) for ref in uses}
    got: Downloaded = client.download_images(
        wanted, max_bytes=figma_client.MAX_IMAGE_BYTES, max_total=figma_client.MAX_IMAGES_TOTAL
    )
    index: dict[str, Any] = {}
    for ref, data in sorted(got.files.items()):
        ext = (image_type(data) or ("bin", ""))[0]
        name = f"{IMAGES_DIR}/{ref}.{ext}"
        size = image_size(data)
        out.images[name] = data
        index[ref] = {
            "file": name,
            "bytes": len(data),
            "nodes": uses[ref][:20],
            "width": size[0] if size else None,
            "height": size[1] if size else None,
        }
    problems = {ref: why for ref, why in sorted(got.problems.items())}
    for ref, why in problems.items():
        for use in uses[ref][:5]:
            out.notes.append(f"node {use} {ref}: image not downloaded ({why})")
    out.images[IMAGES_INDEX] = json.dumps({"images": index, "problems": problems}, indent=1)
    out.image_count = len(index)


def _renders(
    client: FigmaClient, key: str, spec: DesignSpec, version: str | None, out: LiveExtras
) -> None:
    ids = render_ids(spec)
    if not ids:
        return
    got = client.fetch_renders(key, ids, scale=RENDER_SCALE, version=version)
    renders: dict[str, str | None] = {}
    for nid in ids:
        if nid in got.files:
            name = f"{RENDERS_DIR}/{nid}.png"
            out.renders[name] = got.files[nid]
            renders[nid] = name
        else:
            renders[nid] = None
            out.notes.append(f"node {nid}: no Figma render ({got.problems.get(nid, 'none')})")
    out.renders[f"{RENDERS_DIR}/index.json"] = json.dumps(
        {"scale": RENDER_SCALE, "renders": renders}, indent=1
    )
    out.render_count = len(got.files)


def read_extras(client: FigmaClient, key: str, spec: DesignSpec, version: str | None) -> LiveExtras:
    """Variables, image fills and renders of the file ``key`` (the version analyze read)."""
    out = LiveExtras()
    out.variables = _variables(client, key, out.notes)
    _images(client, key, spec, out)
    _renders(client, key, spec, version, out)
    return out


def image_assets(files: dict[str, bytes]) -> tuple[dict[str, bytes], dict[str, dict[str, Any]]]:
    """From the unpacked ``figma-images.tar.gz``: the project files (``public/figma/...``) and
    imageRef -> ``{"src": "/figma/<ref>.<ext>", "width", "height"}`` for the generator."""
    index = json.loads(files.get(IMAGES_INDEX, b"{}") or b"{}")
    assets = {n: d for n, d in files.items() if n.startswith(IMAGES_DIR + "/")}
    refs: dict[str, dict[str, Any]] = {}
    for ref, entry in (index.get("images") or {}).items():
        if entry.get("file") in assets:
            refs[ref] = {
                "src": "/" + entry["file"].removeprefix("public/"),
                "width": entry.get("width"),
                "height": entry.get("height"),
            }
    return assets, refs

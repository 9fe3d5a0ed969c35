"""Figma REST API client (httpx) and loader for stored Figma JSON.

Three shapes of input are accepted everywhere:
  * file     - ``GET /v1/files/:key``
  * nodes    - ``GET /v1/files/:key/nodes?ids=...``
  * subtree  - one node object (e.g. a COMPONENT_SET or CANVAS) cut out of a file response
All of them are normalized into a :class:`FigmaSource`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import ValidationError

from .errors import StageError
from .figma_models import (
    MAX_DEPTH,
    ComponentMeta,
    FileResponse,
    Node,
    NodesResponse,
    StyleMeta,
    nesting_too_deep,
)

log = logging.getLogger(__name__)

FIGMA_API = "https://api.figma.com"


@dataclass
class FigmaSource:
    """A Figma document in normalized form, whatever shape it arrived in."""

    name: str
    shape: str  # file | nodes | subtree
    roots: list[Node]
    components: dict[str, ComponentMeta] = field(default_factory=dict)
    component_sets: dict[str, ComponentMeta] = field(default_factory=dict)
    styles: dict[str, StyleMeta] = field(default_factory=dict)
    version: str | None = None
    missing_nodes: list[str] = field(default_factory=list)


def _validation_message(exc: ValidationError) -> str:
    errs = exc.errors()
    if not errs:
        return "invalid Figma JSON"
    first = errs[0]
    loc = ".".join(str(p) for p in first["loc"])[:120]
    return f"{len(errs)} validation error(s), first at {loc or '<root>'}: {first['msg']}"


def parse_figma_json(data: Any, *, name_hint: str = "design") -> FigmaSource:
    """Turn decoded Figma JSON of any supported shape into a FigmaSource (or raise StageError)."""
    if not isinstance(data, dict):
        raise StageError(
            "InvalidFigmaJSON",
            "expected a JSON object (Figma file, nodes or node response), got "
            + type(data).__name__,
        )
    deep = nesting_too_deep(data)
    if deep is not None:
        raise StageError("DesignTooDeep", f"node {deep} is nested more than {MAX_DEPTH} levels "
                         "deep; select a shallower subtree with source.figma.nodeIds")
    if "status" in data and "err" in data and "document" not in data:
        raise StageError("FigmaAPIError", f"Figma error response: {data.get('status')} "
                         f"{str(data.get('err'))[:200]}")
    try:
        if "document" in data:
            f = FileResponse.model_validate(data)
            return FigmaSource(
                name=f.name, shape="file", roots=[f.document], components=f.components,
                component_sets=f.componentSets, styles=f.styles, version=f.version,
            )
        if "nodes" in data:
            nr = NodesResponse.model_validate(data)
            roots: list[Node] = []
            components: dict[str, ComponentMeta] = {}
            sets: dict[str, ComponentMeta] = {}
            styles: dict[str, StyleMeta] = {}
            missing: list[str] = []
            for node_id, entry in nr.nodes.items():
                if entry is None:
                    missing.append(node_id)
                    continue
                roots.append(entry.document)
                components.update(entry.components)
                sets.update(entry.componentSets)
                styles.update(entry.styles)
            if not roots:
                raise StageError(
                    "NodesNotFound",
                    f"none of the requested nodes exist in the file: {', '.join(missing)[:300]}",
                )
            return FigmaSource(
                name=nr.name, shape="nodes", roots=roots, components=components,
                component_sets=sets, styles=styles, version=nr.version, missing_nodes=missing,
            )
        if "type" in data and "id" in data:
            node = Node.model_validate(data)
            return FigmaSource(name=node.name or name_hint, shape="subtree", roots=[node])
    except ValidationError as exc:
        raise StageError("InvalidFigmaJSON", _validation_message(exc)) from None
    except RecursionError:
        raise StageError("InvalidFigmaJSON", "the node tree is nested too deeply") from None
    keys = ", ".join(sorted(data)[:8])
    raise StageError(
        "InvalidFigmaJSON",
        "not a Figma file, nodes or node response (no 'document', 'nodes' or node 'type'/'id'; "
        f"top-level keys: {keys or 'none'})",
    )


def load_figma_file(path: str) -> FigmaSource:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise StageError("SourceUnreadable",
                         f"cannot read Figma JSON {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StageError("InvalidFigmaJSON", f"{path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise StageError("InvalidFigmaJSON", f"{path}: JSON nested too deeply") from None
    stem = path.rsplit("/", 1)[-1].removesuffix(".json")
    return parse_figma_json(data, name_hint=stem)


class FigmaClient:
    """Small synchronous Figma REST client with retries.

    Retries 429 (honouring ``Retry-After``) and 5xx/transport errors with exponential backoff;
    403 and 404 fail at once with a clear message. The token is sent as ``X-Figma-Token`` and
    never appears in errors or logs.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = FIGMA_API,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token:
            raise StageError("FigmaTokenMissing", "FIGMA_TOKEN is not set")
        self._client = httpx.Client(
            base_url=base_url,
            headers={"X-Figma-Token": token, "User-Agent": "pf-figma/0.1"},
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
        )
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait
        self._sleep = sleep

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> FigmaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _retry_after(self, resp: httpx.Response, attempt: int) -> float:
        value = resp.headers.get("Retry-After")
        if value:
            try:
                return min(max(float(value), 0.0), self.max_wait)
            except ValueError:
                try:
                    delta = parsedate_to_datetime(value).timestamp() - time.time()
                    return min(max(delta, 0.0), self.max_wait)
                except (TypeError, ValueError):
                    pass
        return float(min(self.backoff * (2**attempt), self.max_wait))

    def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                resp = self._client.get(path, params=params)
            except httpx.TransportError as exc:
                last = f"network error: {type(exc).__name__}"
                if attempt < self.max_retries:
                    self._sleep(min(self.backoff * (2**attempt), self.max_wait))
                    continue
                raise StageError("FigmaUnavailable", f"Figma API unreachable ({last})") from None
            if resp.status_code == 200:
                try:
                    return resp.json()
                except (json.JSONDecodeError, UnicodeDecodeError):
                    raise StageError("InvalidFigmaJSON",
                                     "Figma API returned invalid JSON") from None
            if resp.status_code == 403:
                raise StageError(
                    "FigmaForbidden",
                    "Figma API returned 403: the token is invalid, expired or has no access to "
                    "this file",
                )
            if resp.status_code == 404:
                raise StageError("FigmaNotFound", f"Figma API returned 404 for {path}: no such "
                                 "file "
                                 "or node (check fileKey / nodeIds)")
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}"
                if attempt < self.max_retries:
                    wait = self._retry_after(resp, attempt)
                    log.info("Figma API %s, retrying in %.1fs", resp.status_code, wait)
                    self._sleep(wait)
                    continue
                reason = "FigmaRateLimited" if resp.status_code == 429 else "FigmaUnavailable"
                raise StageError(reason, f"Figma API still failing after "
                                 f"{self.max_retries + 1} attempts ({last})")
            raise StageError("FigmaAPIError", f"Figma API returned HTTP {resp.status_code}: "
                             f"{resp.text[:200]}")
        raise StageError("FigmaUnavailable", last)  # pragma: no cover

    def fetch(self, file_key: str, node_ids: Sequence[str] | None = None,
              version: str | None = None) -> FigmaSource:
        params: dict[str, str] = {}
        if version:
            params["version"] = version
        if node_ids:
            params["ids"] = ",".join(node_ids)
            data = self.get_json(f"/v1/files/{file_key}/nodes", params)
        else:
            data = self.get_json(f"/v1/files/{file_key}", params or None)
        return parse_figma_json(data, name_hint=file_key)

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
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from .errors import StageError
from .figma_models import (
    MAX_DEPTH,
    ComponentMeta,
    FileResponse,
    LocalVariables,
    Node,
    NodesResponse,
    StyleMeta,
    nesting_too_deep,
)

log = logging.getLogger(__name__)

FIGMA_API = "https://api.figma.com"
#: one downloaded image fill or render at most (bytes); larger ones are reported per image
MAX_IMAGE_BYTES = 20 * 1024 * 1024
#: all image fills of one file together at most (bytes)
MAX_IMAGES_TOTAL = 100 * 1024 * 1024
#: node ids per ``GET /v1/images/:key`` request (keeps the URL short)
RENDER_BATCH = 50
IMAGE_TYPES = {  # magic bytes -> (extension, MIME type)
    b"\x89PNG\r\n\x1a\n": ("png", "image/png"),
    b"\xff\xd8\xff": ("jpg", "image/jpeg"),
    b"GIF87a": ("gif", "image/gif"),
    b"GIF89a": ("gif", "image/gif"),
}


def api_url() -> str:
    """The Figma API base URL: ``FIGMA_API_URL`` (a proxy, a test server) or the public API."""
    return (os.environ.get("FIGMA_API_URL") or FIGMA_API).rstrip("/")


def read_token(token_file: str | None = None) -> str | None:
    """The Figma token from ``token_file`` (first line, stripped) or ``FIGMA_TOKEN``.

    Raises StageError(FigmaTokenUnreadable) when the file cannot be read; the token itself is
    never part of a message."""
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as fh:
                value = fh.readline().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise StageError("FigmaTokenUnreadable", f"cannot read the Figma token file "
                             f"{token_file}: {getattr(exc, 'strerror', None) or exc}") from None
        return value or None
    return os.environ.get("FIGMA_TOKEN") or None


def image_type(data: bytes) -> tuple[str, str] | None:
    """``(extension, MIME type)`` of PNG / JPEG / GIF / WebP bytes, from their magic bytes."""
    for magic, kind in IMAGE_TYPES.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ("webp", "image/webp")
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """Pixel ``(width, height)`` from a PNG's IHDR or a GIF's header (None for others)."""
    if data.startswith(b"\x89PNG") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data.startswith(b"GIF") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    return None


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


class _Retryable(Exception):
    """A 429 / 5xx / transport failure worth another attempt (``retry_after`` in seconds)."""

    def __init__(self, status: int | None, detail: str, retry_after: float | None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


@dataclass
class Downloaded:
    """Images fetched by :meth:`FigmaClient.download_images` / :meth:`FigmaClient.fetch_renders`:
    ``files`` id -> bytes, ``problems`` id -> why there is none (HTTP status, size, type)."""

    files: dict[str, bytes] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


class FigmaClient:
    """Small synchronous Figma REST client with retries (tenacity).

    Retries 429 (honouring ``Retry-After``, capped at ``max_wait`` seconds) and 5xx/transport
    errors with exponential backoff (``backoff * 2**n`` seconds), ``max_retries`` times; 403 and
    404 fail at once with a clear message. The token is sent as ``X-Figma-Token`` to the API
    only (never to the image URLs the API hands out) and never appears in errors or logs.
    ``base_url`` defaults to :func:`api_url` (``FIGMA_API_URL``).
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 120.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token:
            raise StageError("FigmaTokenMissing", "FIGMA_TOKEN is not set")
        self.base_url = (base_url or api_url()).rstrip("/")
        tmo = httpx.Timeout(timeout, connect=10.0)
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"X-Figma-Token": token, "User-Agent": "pf-figma/0.1"},
            timeout=tmo,
            transport=transport,
        )
        # image URLs (Figma's S3 links) get no token
        self._plain = httpx.Client(headers={"User-Agent": "pf-figma/0.1"}, timeout=tmo,
                                   transport=transport, follow_redirects=True)
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait
        self._sleep = sleep
        self.requests = 0  # HTTP requests sent (retries included)

    def close(self) -> None:
        self._client.close()
        self._plain.close()

    def __enter__(self) -> FigmaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- retries
    def _retry_after(self, resp: httpx.Response) -> float | None:
        value = resp.headers.get("Retry-After")
        if not value:
            return None
        try:
            return min(max(float(value), 0.0), self.max_wait)
        except ValueError:
            try:
                delta = parsedate_to_datetime(value).timestamp() - time.time()
                return min(max(delta, 0.0), self.max_wait)
            except (TypeError, ValueError):
                return None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            wait = exc.retry_after
        else:
            wait = wait_exponential(multiplier=self.backoff, max=self.max_wait)(state)
        if isinstance(exc, _Retryable):
            log.info("Figma API %s, retrying in %.1fs", exc.detail, wait)
        return float(wait)

    def _retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            reraise=True,
        )

    def _get_once(self, client: httpx.Client, url: str, params: dict[str, str] | None,
                  max_bytes: int | None) -> httpx.Response:
        """One GET; with ``max_bytes`` the body is streamed and a larger one (declared or read)
        is StageError(ImageTooLarge) without reading the rest."""
        if max_bytes is None:
            return client.get(url, params=params)
        with client.stream("GET", url, params=params) as resp:
            declared = resp.headers.get("Content-Length", "")
            if resp.status_code == 200 and declared.isdigit() and int(declared) > max_bytes:
                raise StageError("ImageTooLarge", f"{declared} bytes, over the {max_bytes}-byte "
                                 "limit")
            body = bytearray()
            for chunk in resp.iter_bytes():
                body += chunk
                if resp.status_code == 200 and len(body) > max_bytes:
                    raise StageError("ImageTooLarge", f"over the {max_bytes}-byte limit")
            return httpx.Response(resp.status_code, headers=resp.headers, content=bytes(body),
                                  request=resp.request)

    def _send(
        self, client: httpx.Client, url: str, params: dict[str, str] | None,
        max_bytes: int | None = None,
    ) -> httpx.Response:
        try:
            for attempt in self._retrying():
                with attempt:
                    self.requests += 1
                    try:
                        resp = self._get_once(client, url, params, max_bytes)
                    except httpx.TransportError as exc:
                        raise _Retryable(None, f"network error: {type(exc).__name__}",
                                         None) from None
                    if resp.status_code == 429 or resp.status_code >= 500:
                        raise _Retryable(resp.status_code, f"HTTP {resp.status_code}",
                                         self._retry_after(resp) if resp.status_code == 429
                                         else None)
                    return resp
        except _Retryable as exc:
            if exc.status is None:
                raise StageError("FigmaUnavailable",
                                 f"Figma API unreachable ({exc.detail})") from None
            reason = "FigmaRateLimited" if exc.status == 429 else "FigmaUnavailable"
            raise StageError(reason, f"Figma API still failing after {self.max_retries + 1} "
                             f"attempts ({exc.detail})") from None
        raise StageError("FigmaUnavailable", "no attempt made")  # pragma: no cover

    def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        """``GET`` an API path; the decoded JSON body. Raises StageError: FigmaForbidden (403),
        FigmaNotFound (404), FigmaRateLimited / FigmaUnavailable (retries exhausted),
        FigmaAPIError (other statuses), InvalidFigmaJSON."""
        resp = self._send(self._client, path, params)
        if resp.status_code == 200:
            try:
                return resp.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise StageError("InvalidFigmaJSON", "Figma API returned invalid JSON") from None
        if resp.status_code == 403:
            raise StageError(
                "FigmaForbidden",
                f"Figma API returned 403 for {path}: the token is invalid, expired or has no "
                "access to this file",
            )
        if resp.status_code == 404:
            raise StageError("FigmaNotFound", f"Figma API returned 404 for {path}: no such file "
                             "or node (check fileKey / nodeIds)")
        raise StageError("FigmaAPIError", f"Figma API returned HTTP {resp.status_code}: "
                         f"{resp.text[:200]}")

    # ---- endpoints
    def fetch(self, file_key: str, node_ids: Sequence[str] | None = None,
              version: str | None = None, *, geometry: bool = True) -> FigmaSource:
        """``GET /v1/files/:key`` (or ``/nodes?ids=`` with ``node_ids``), with
        ``geometry=paths`` so that vectors carry their outlines (``fillGeometry``)."""
        params: dict[str, str] = {}
        if version:
            params["version"] = version
        if geometry:
            params["geometry"] = "paths"
        if node_ids:
            params["ids"] = ",".join(node_ids)
            data = self.get_json(f"/v1/files/{file_key}/nodes", params)
        else:
            data = self.get_json(f"/v1/files/{file_key}", params or None)
        return parse_figma_json(data, name_hint=file_key)

    def image_fills(self, file_key: str) -> dict[str, str | None]:
        """``GET /v1/files/:key/images``: imageRef -> download URL (None: no image)."""
        data = self.get_json(f"/v1/files/{file_key}/images")
        images = (data.get("meta") or {}).get("images") if isinstance(data, dict) else None
        if not isinstance(images, dict):
            raise StageError("FigmaAPIError", "GET /v1/files/:key/images: no meta.images")
        return {str(k): (str(v) if v else None) for k, v in images.items()}

    def local_variables(self, file_key: str) -> LocalVariables:
        """``GET /v1/files/:key/variables/local`` (Enterprise plans; others answer 403, raised
        as StageError FigmaForbidden for the caller to note)."""
        data = self.get_json(f"/v1/files/{file_key}/variables/local")
        meta = data.get("meta") if isinstance(data, dict) else None
        try:
            return LocalVariables.model_validate(meta or {})
        except ValidationError as exc:
            raise StageError("InvalidFigmaJSON", "variables/local: "
                             + _validation_message(exc)) from None

    def download(self, url: str, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
        """Bytes of an image URL handed out by the API (no token sent), at most ``max_bytes``.
        Raises StageError ImageTooLarge / ImageDownloadFailed."""
        resp = self._send(self._plain, url, None, max_bytes)
        if resp.status_code != 200:
            raise StageError("ImageDownloadFailed", f"HTTP {resp.status_code}")
        return resp.content

    def download_images(self, urls: dict[str, str | None], *, max_bytes: int = MAX_IMAGE_BYTES,
                        max_total: int = MAX_IMAGES_TOTAL) -> Downloaded:
        """Download each URL (id -> URL); failures are per id in ``problems``, not raised."""
        out = Downloaded()
        total = 0
        for ident, url in sorted(urls.items()):
            if not url:
                out.problems[ident] = "Figma returned no URL"
                continue
            try:
                data = self.download(url, max_bytes)
            except StageError as exc:
                out.problems[ident] = exc.message
                continue
            if image_type(data) is None:
                out.problems[ident] = "not a PNG, JPEG, GIF or WebP image"
                continue
            if total + len(data) > max_total:
                out.problems[ident] = f"over the {max_total}-byte limit for all images"
                continue
            total += len(data)
            out.files[ident] = data
        return out

    def fetch_renders(self, file_key: str, node_ids: Sequence[str], *, scale: float = 1.0,
                      version: str | None = None) -> Downloaded:
        """PNG renders of nodes (``GET /v1/images/:key?ids=&format=png&scale=``, then each URL),
        node id -> PNG bytes; nodes Figma cannot render and failed downloads in ``problems``."""
        urls: dict[str, str | None] = {}
        ids = list(dict.fromkeys(node_ids))
        for i in range(0, len(ids), RENDER_BATCH):
            params = {"ids": ",".join(ids[i : i + RENDER_BATCH]), "format": "png",
                      "scale": f"{scale:g}"}
            if version:
                params["version"] = version
            data = self.get_json(f"/v1/images/{file_key}", params)
            if isinstance(data, dict) and data.get("err"):
                raise StageError("FigmaAPIError", f"renders: {str(data['err'])[:200]}")
            images = data.get("images") if isinstance(data, dict) else None
            if not isinstance(images, dict):
                raise StageError("FigmaAPIError", "GET /v1/images/:key: no images")
            urls.update({str(k): (str(v) if v else None) for k, v in images.items()})
        got = self.download_images(urls, max_total=MAX_IMAGES_TOTAL)
        for nid, data in list(got.files.items()):
            if image_type(data) != ("png", "image/png"):
                del got.files[nid]
                got.problems[nid] = "render is not a PNG"
        return got

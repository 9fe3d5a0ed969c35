"""Stored Figma files too large for a ConfigMap: gzip-compressed JSON (a ConfigMap's
``binaryData``, ``file.json.gz``) and files stored by ``pf-figma sources put`` in the tenant's
artifact store (``source.storedRef``).

A stored source is an artifact of the pseudo pipeline ``<namespace>/.sources/<name>`` (pipeline
names are DNS labels, so ``.sources`` is never one), stage ``source``, name ``file.json.gz``:
content-addressed like every artifact (``pfdb://<tenant>/<sha256>`` of the compressed bytes),
written and read under the tenant's own database role, and kept for the artifact retention
(``PF_ARTIFACT_RETENTION_DAYS``) from its last ``put``.

Inflating is bounded: more than ``max_json_bytes`` of JSON (default 256 MiB,
``PF_SOURCE_MAX_BYTES``) is a StageError(SourceTooLarge), not an out-of-memory kill.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import zlib

from .artifact_store import ArtifactRef, ArtifactStore
from .errors import StageError
from .figma_client import FigmaSource, parse_figma_json

SOURCE_STAGE = "source"
SOURCE_NAME = "file.json.gz"
GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_MAX_JSON_BYTES = 256 * 1024 * 1024
_CHUNK = 1 << 20


def max_json_bytes() -> int:
    """The inflated-size cap: ``PF_SOURCE_MAX_BYTES`` or 256 MiB."""
    raw = os.environ.get("PF_SOURCE_MAX_BYTES")
    return int(raw) if raw and raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_JSON_BYTES


def source_key(namespace: str, name: str) -> str:
    """The artifact store's pipeline key of the stored source ``name`` of ``namespace``."""
    return f"{namespace}/.sources/{name}"


def inflate(data: bytes, what: str, limit: int | None = None) -> bytes:
    """``data`` itself, or its gzip content when it starts with the gzip magic (1f 8b), read in
    chunks up to ``limit`` bytes. Raises StageError SourceTooLarge / InvalidGzip."""
    if not data.startswith(GZIP_MAGIC):
        return data
    limit = limit or max_json_bytes()
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            while chunk := fh.read(_CHUNK):
                if out.tell() + len(chunk) > limit:
                    raise StageError(
                        "SourceTooLarge",
                        f"{what} inflates to more than {limit} bytes of JSON "
                        "(PF_SOURCE_MAX_BYTES); select nodes with source.figma.nodeIds or split "
                        "the file",
                    )
                out.write(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise StageError("InvalidGzip", f"{what} is not valid gzip: {exc}") from None
    return out.getvalue()


def parse_source_bytes(data: bytes, what: str, name_hint: str) -> FigmaSource:
    """A Figma source from JSON bytes, gzip-compressed or not."""
    raw = inflate(data, what)
    try:
        decoded = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StageError("InvalidFigmaJSON", f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise StageError("InvalidFigmaJSON", f"{what}: JSON nested too deeply") from None
    return parse_figma_json(decoded, name_hint=name_hint)


def load_source_file(path: str) -> FigmaSource:
    """A mounted source file (``PF_SOURCE_FILE``): JSON, or gzip-compressed JSON (by content,
    whatever the name)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise StageError(
            "SourceUnreadable", f"cannot read Figma JSON {path}: {exc.strerror}"
        ) from None
    stem = path.rsplit("/", 1)[-1].removesuffix(".gz").removesuffix(".json")
    return parse_source_bytes(data, path, stem)


def find_stored(store: ArtifactStore, namespace: str, name: str) -> ArtifactRef:
    """The stored source ``name`` of ``namespace``; StageError(SourceNotFound) if none."""
    refs = [
        r for r in store.list(source_key(namespace, name), SOURCE_STAGE) if r.name == SOURCE_NAME
    ]
    if not refs:
        raise StageError(
            "SourceNotFound",
            f"no stored source {name!r} in namespace {namespace} (store one with "
            f"`pf-figma sources put {namespace}/{name} FILE`; stored sources are kept for the "
            "artifact retention after their last put)",
        )
    return refs[-1]


def load_stored_source(
    store: ArtifactStore, namespace: str, name: str, sha256: str | None = None
) -> FigmaSource:
    """The stored source ``name`` of ``namespace``, checked against ``sha256`` (the pinned
    content, hex SHA-256 of the stored, compressed bytes) when given."""
    ref = find_stored(store, namespace, name)
    if sha256 is not None and ref.sha256 != sha256:
        raise StageError(
            "SourceChanged",
            f"stored source {name!r} has content {ref.sha256[:12]}..., not the pinned "
            f"source.storedRef.sha256 {sha256[:12]}... (it was put again since)",
        )
    data = store.get(ref.uri)
    if hashlib.sha256(data).hexdigest() != ref.sha256:  # the store checks too; be sure
        raise StageError("ArtifactCorrupt", f"stored source {name!r} fails its checksum")
    return parse_source_bytes(data, f"stored source {name!r}", name)


def pack_source(data: bytes) -> bytes:
    """What ``sources put`` stores: the file gzip-compressed (kept as it is when it already
    is gzip), after checking that it is JSON (inflated within the cap). mtime 0: the same file
    gives the same bytes, so the same content address."""
    raw = inflate(data, "the file")
    try:
        json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StageError("InvalidFigmaJSON", f"the file is not valid JSON: {exc}") from None
    if data.startswith(GZIP_MAGIC):
        return data
    return gzip.compress(data, compresslevel=6, mtime=0)

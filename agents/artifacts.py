"""Artifact store: a small synchronous interface plus a content-addressed file implementation.

Layout of :class:`FileArtifactStore` under its root directory::

    blobs/<sha256[:2]>/<sha256>                     content, stored once
    refs/<pipeline_key>/<stage>/<name>.json         ArtifactRef pointing at a blob

URIs are ``file://`` URLs of the blob, so ``get(uri)`` needs nothing but the path.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlparse

from pydantic import BaseModel

from .errors import StageError

DEFAULT_MAX_BYTES = 50 * 1024 * 1024


class ArtifactRef(BaseModel):
    stage: str
    name: str
    uri: str
    sha256: str
    size: int


class ArtifactTooLarge(StageError):
    def __init__(self, name: str, size: int, limit: int) -> None:
        super().__init__("ArtifactTooLarge",
                         f"artifact {name} is {size} bytes, over the limit of {limit} bytes")


@runtime_checkable
class ArtifactStore(Protocol):
    max_bytes: int

    def put(self, pipeline_key: str, stage: str, name: str, data: bytes) -> ArtifactRef: ...

    def get(self, uri: str) -> bytes: ...

    def list(self, pipeline_key: str, stage: str | None = None) -> list[ArtifactRef]: ...


def _safe_part(part: str, what: str) -> str:
    if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part:
        raise StageError("InvalidArtifactName", f"invalid {what}: {part!r}")
    return part


def _key_parts(pipeline_key: str) -> list[str]:
    parts = pipeline_key.split("/")
    return [_safe_part(p, "pipeline key part") for p in parts]


class FileArtifactStore:
    def __init__(self, root: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root).resolve()
        self.max_bytes = max_bytes

    def _atomic_write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put(self, pipeline_key: str, stage: str, name: str, data: bytes) -> ArtifactRef:
        if len(data) > self.max_bytes:
            raise ArtifactTooLarge(name, len(data), self.max_bytes)
        parts = _key_parts(pipeline_key)
        _safe_part(stage, "stage")
        _safe_part(name, "artifact name")
        digest = hashlib.sha256(data).hexdigest()
        blob = self.root / "blobs" / digest[:2] / digest
        if not blob.exists():
            self._atomic_write(blob, data)
        ref = ArtifactRef(stage=stage, name=name, uri=blob.as_uri(), sha256=digest,
                          size=len(data))
        ref_path = self.root.joinpath("refs", *parts, stage, name + ".json")
        self._atomic_write(ref_path, ref.model_dump_json().encode())
        return ref

    def get(self, uri: str) -> bytes:
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise StageError("ArtifactNotFound", f"not a file:// artifact URI: {uri[:200]}")
        path = Path(unquote(parsed.path)).resolve()
        if not path.is_relative_to(self.root):
            raise StageError("ArtifactNotFound", "artifact URI outside the store")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StageError("ArtifactNotFound", f"artifact {uri[:200]} does not exist") from None
        if hashlib.sha256(data).hexdigest() != path.name:
            raise StageError("ArtifactCorrupt", f"artifact {path.name[:12]} fails its checksum")
        return data

    def list(self, pipeline_key: str, stage: str | None = None) -> list[ArtifactRef]:
        base = self.root.joinpath("refs", *_key_parts(pipeline_key))
        if stage is not None:
            base = base / _safe_part(stage, "stage")
        if not base.is_dir():
            return []
        refs = [ArtifactRef.model_validate_json(p.read_bytes()) for p in base.rglob("*.json")]
        return sorted(refs, key=lambda r: (r.stage, r.name))


def find(store: ArtifactStore, pipeline_key: str, name: str,
         stage: str | None = None) -> ArtifactRef:
    """The newest artifact called ``name`` (searching all stages unless ``stage`` is given)."""
    matches = [r for r in store.list(pipeline_key, stage) if r.name == name]
    if not matches:
        raise StageError("MissingArtifact", f"artifact {name} not found for {pipeline_key}; "
                         "did the previous stage run?")
    return matches[-1]


def open_store(url: str, max_bytes: int = DEFAULT_MAX_BYTES) -> ArtifactStore:
    """``file:///abs/dir`` -> FileArtifactStore; ``postgresql://...`` -> PgArtifactStore."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
            raise StageError("InvalidArtifactStore", "file:// artifact store URL must be absolute")
        return FileArtifactStore(unquote(parsed.path), max_bytes=max_bytes)
    if parsed.scheme in ("postgresql", "postgres"):
        from .artifacts_pg import PgArtifactStore  # type: ignore[import-not-found,unused-ignore]

        store: ArtifactStore = PgArtifactStore(url, max_bytes=max_bytes)
        return store
    if not parsed.scheme and url.startswith("/"):
        return FileArtifactStore(url, max_bytes=max_bytes)
    raise StageError("InvalidArtifactStore",
                     f"unsupported artifact store URL scheme {parsed.scheme!r} "
                     "(use file:///abs/dir or postgresql://)")

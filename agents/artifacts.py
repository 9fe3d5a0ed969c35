"""Artifact store: the content-addressed file implementation and ``open_store`` (file or PostgreSQL
by URL). The interface both implement is in ``artifact_store``; its names are re-exported here.

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
from urllib.parse import unquote, urlparse

from .artifact_store import (
    DEFAULT_MAX_BYTES,
    ArtifactRef,
    ArtifactStore,
    ArtifactTooLarge,
    find,
    key_parts,
    safe_part,
)
from .errors import StageError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ArtifactRef",
    "ArtifactStore",
    "ArtifactTooLarge",
    "FileArtifactStore",
    "find",
    "open_store",
]


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
        parts = key_parts(pipeline_key)
        safe_part(stage, "stage")
        safe_part(name, "artifact name")
        digest = hashlib.sha256(data).hexdigest()
        blob = self.root / "blobs" / digest[:2] / digest
        if not blob.exists():
            self._atomic_write(blob, data)
        ref = ArtifactRef(stage=stage, name=name, uri=blob.as_uri(), sha256=digest, size=len(data))
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
        base = self.root.joinpath("refs", *key_parts(pipeline_key))
        if stage is not None:
            base = base / safe_part(stage, "stage")
        if not base.is_dir():
            return []
        refs = [ArtifactRef.model_validate_json(p.read_bytes()) for p in base.rglob("*.json")]
        return sorted(refs, key=lambda r: (r.stage, r.name))


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
    raise StageError(
        "InvalidArtifactStore",
        f"unsupported artifact store URL scheme {parsed.scheme!r} "
        "(use file:///abs/dir or postgresql://)",
    )

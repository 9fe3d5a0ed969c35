"""The artifact store interface every implementation shares (the file store in ``artifacts``, the
PostgreSQL store in ``artifacts_pg``): references, the size limit, name checks and ``find``."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

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
        super().__init__(
            "ArtifactTooLarge", f"artifact {name} is {size} bytes, over the limit of {limit} bytes"
        )


@runtime_checkable
class ArtifactStore(Protocol):
    max_bytes: int

    def put(self, pipeline_key: str, stage: str, name: str, data: bytes) -> ArtifactRef: ...

    def get(self, uri: str) -> bytes: ...

    def list(self, pipeline_key: str, stage: str | None = None) -> list[ArtifactRef]: ...


def safe_part(part: str, what: str) -> str:
    if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part:
        raise StageError("InvalidArtifactName", f"invalid {what}: {part!r}")
    return part


def key_parts(pipeline_key: str) -> list[str]:
    parts = pipeline_key.split("/")
    return [safe_part(p, "pipeline key part") for p in parts]


def find(
    store: ArtifactStore, pipeline_key: str, name: str, stage: str | None = None
) -> ArtifactRef:
    """The newest artifact called ``name`` (searching all stages unless ``stage`` is given)."""
    matches = [r for r in store.list(pipeline_key, stage) if r.name == name]
    if not matches:
        raise StageError(
            "MissingArtifact",
            f"artifact {name} not found for {pipeline_key}; did the previous stage run?",
        )
    return matches[-1]

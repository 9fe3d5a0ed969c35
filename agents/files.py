"""Files of a generated project: deterministic tar.gz archives (the project artifact) and writing
a file tree to disk. One home for the helpers the stages, qa, deploy and the LLM refiner share."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Mapping
from pathlib import Path

from .errors import StageError


def pack_files(files: dict[str, str | bytes]) -> bytes:
    """Deterministic tar.gz (sorted names, zero mtimes) so equal projects hash equal."""
    buf = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for name in sorted(files):
            data = files[name]
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def unpack_files(data: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for m in tar.getmembers():
                if not m.isfile():
                    continue
                name = os.path.normpath(m.name)
                if name.startswith(("/", "..")) or "/../" in f"/{name}/":
                    raise StageError("InvalidArtifact", f"unsafe path in project archive: {name}")
                fh = tar.extractfile(m)
                if fh is not None:
                    out[name] = fh.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise StageError("InvalidArtifact", f"project archive is corrupt: {exc}") from None
    return out


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> None:
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            p.write_text(data, encoding="utf-8")
        else:
            p.write_bytes(data)

"""Figma links as designers share them, parsed into a file key and node ids.

Accepted shapes (``https://`` optional, ``www.`` optional, host ``figma.com``)::

    https://www.figma.com/design/<key>/<name>?node-id=12-34
    https://www.figma.com/file/<key>/<name>?node-id=12%3A34
    https://www.figma.com/proto/<key>/<name>?node-id=12-34&starting-point-node-id=...
    https://www.figma.com/board/<key>/<name>            (FigJam)
    https://www.figma.com/design/<key>/branch/<branchKey>/<name>

Node ids are written ``12-34`` in links and ``12:34`` in the REST API (``12%3A34`` is the
URL-encoded form of the latter); instance sublayers look like ``I12-34;56-78``. Several ids may be
given comma-separated or as repeated ``node-id`` parameters. For a branch link the key to fetch is
the branch key (Figma REST API docs, "GET file": "To get the file key of a branch, use the branch
key in the URL ... /branch/:branch_key/"), exposed as :attr:`FigmaUrl.fetch_key`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

HOSTS = frozenset({"figma.com", "www.figma.com"})
KINDS = frozenset({"design", "file", "proto", "board"})
# Figma file keys are alphanumeric (22+ characters for real files; shorter ones are accepted so
# that local test servers can use readable keys).
KEY_RE = re.compile(r"[A-Za-z0-9]+")
# REST form of a node id: "12:34", or an instance sublayer path "I12:34;56:78".
NODE_ID_RE = re.compile(r"I?\d+:\d+(?:;\d+:\d+)*")


@dataclass(frozen=True)
class FigmaUrl:
    """A parsed Figma link.

    ``file_key``: the file's key; ``branch_key``: the branch's key for branch links (else None);
    ``node_ids``: node ids in REST form (``12:34``), in link order, without duplicates;
    ``kind``: the link's path kind (design | file | proto | board); ``name``: the file name
    segment, URL-decoded (may be empty).
    """

    file_key: str
    node_ids: tuple[str, ...] = ()
    branch_key: str | None = None
    kind: str = "design"
    name: str = ""

    @property
    def fetch_key(self) -> str:
        """The key to pass to ``GET /v1/files/:key``: the branch key when there is one."""
        return self.branch_key or self.file_key


def normalize_node_id(raw: str) -> str:
    """``12-34`` / ``12%3A34`` / ``12:34`` -> ``12:34``; raises ValueError for anything else."""
    text = unquote(raw).strip()
    if not text:
        raise ValueError("empty node id")
    rest = text.replace("-", ":")
    if not NODE_ID_RE.fullmatch(rest):
        raise ValueError(
            f"not a Figma node id: {text[:60]!r} (expected like 12-34, 12:34 or I12-34;56-78)"
        )
    return rest


def normalize_node_ids(raw: Iterable[str]) -> tuple[str, ...]:
    """Each item may hold several comma-separated ids; order kept, duplicates dropped."""
    out: list[str] = []
    for item in raw:
        for part in item.split(","):
            if not part.strip():
                continue
            nid = normalize_node_id(part)
            if nid not in out:
                out.append(nid)
    return tuple(out)


def parse_figma_url(url: str) -> FigmaUrl:
    """Parse a Figma link; raises ValueError with a message naming what is wrong."""
    text = url.strip()
    if not text:
        raise ValueError("empty Figma URL")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http"):
        raise ValueError(f"Figma URL must use https, not {parts.scheme!r}")
    host = (parts.hostname or "").lower()
    if host not in HOSTS:
        raise ValueError(
            f"not a Figma URL: host {host or '<none>'!r} (expected figma.com or www.figma.com)"
        )
    segs = [s for s in parts.path.split("/") if s]
    if not segs or segs[0] not in KINDS:
        raise ValueError(
            "Figma URL path must start with /design/, /file/, /proto/ or /board/ followed by the "
            f"file key (got {parts.path or '/'!r})"
        )
    kind = segs[0]
    if len(segs) < 2:
        raise ValueError(f"Figma URL has no file key after /{kind}/")
    key = segs[1]
    if not KEY_RE.fullmatch(key):
        raise ValueError(f"Figma file key {key[:60]!r} is not alphanumeric")
    branch: str | None = None
    rest = segs[2:]
    if rest and rest[0] == "branch":
        if len(rest) < 2:
            raise ValueError("Figma branch URL has no branch key after /branch/")
        branch = rest[1]
        if not KEY_RE.fullmatch(branch):
            raise ValueError(f"Figma branch key {branch[:60]!r} is not alphanumeric")
        rest = rest[2:]
    name = unquote(rest[0]) if rest else ""
    query = parse_qs(parts.query, keep_blank_values=False)
    try:
        ids = normalize_node_ids(query.get("node-id", []))
    except ValueError as exc:
        raise ValueError(f"Figma URL node-id: {exc}") from None
    return FigmaUrl(file_key=key, node_ids=ids, branch_key=branch, kind=kind, name=name)

"""The stage result: small JSON (<= 4 KiB) for the container termination message."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .artifacts import ArtifactRef

MAX_BYTES = 4096
MAX_MESSAGE = 512

_SECRET_PATTERNS = [
    re.compile(r"(https?://)[^/@\s:]+:[^/@\s]+@"),  # credentials in URLs
    re.compile(r"sk-ant-[A-Za-z0-9_\-]+"),
    re.compile(r"figd_[A-Za-z0-9_\-]+"),
]


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    text = _SECRET_PATTERNS[0].sub(r"\1***@", text)
    for pat in _SECRET_PATTERNS[1:]:
        text = pat.sub("***", text)
    return text


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "usd": round(self.usd, 6),
        }


@dataclass
class StageResult:
    stage: str
    outcome: str = "Succeeded"
    reason: str = "Succeeded"
    message: str = ""
    artifacts: list[ArtifactRef] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": 1,
            "stage": self.stage,
            "outcome": self.outcome,
            "reason": self.reason,
            "message": self.message,
            "artifacts": [
                {"name": a.name, "uri": a.uri, "sha256": a.sha256, "size": a.size}
                for a in self.artifacts
            ],
            "usage": self.usage.to_json(),
            "seconds": round(self.seconds, 3),
            "summary": self.summary,
        }

    def to_json(self, secrets: tuple[str, ...] = ()) -> str:
        """Serialize, shrinking until it fits in MAX_BYTES: message, artifacts, summary."""
        d = self.to_dict()
        msg = redact(str(d["message"]), secrets)
        if len(msg) > MAX_MESSAGE:
            msg = msg[: MAX_MESSAGE - 3] + "..."
        d["message"] = msg
        d["summary"] = {k: _small(v) for k, v in d["summary"].items()}
        out = _dump(d)
        arts: list[dict[str, Any]] = d["artifacts"]
        while len(out.encode()) > MAX_BYTES and arts:
            # keep the first (most important) artifacts, record that some were left off
            arts.pop()
            d["summary"] = {
                **d["summary"],
                "artifactsOmitted": d["summary"].get("artifactsOmitted", 0) + 1,
            }
            out = _dump(d)
        if len(out.encode()) > MAX_BYTES:
            d["summary"] = {
                k: v for k, v in d["summary"].items() if isinstance(v, int | float | bool)
            }
            out = _dump(d)
        while len(out.encode()) > MAX_BYTES and d["summary"]:
            d["summary"].popitem()
            out = _dump(d)
        if len(out.encode()) > MAX_BYTES:
            d["message"] = d["message"][:100]
            out = _dump(d)
        return out


def _small(v: Any) -> Any:
    """Keep summary values small: long strings cut, long lists capped, big objects elided."""
    if isinstance(v, str):
        return v if len(v) <= 200 else v[:197] + "..."
    if isinstance(v, list):
        return [_small(x) for x in v[:10]]
    if isinstance(v, dict):
        small = {k: _small(x) for k, x in list(v.items())[:10]}
        return small if len(_dump(small)) <= 400 else "(omitted)"
    return v


def _dump(d: dict[str, Any]) -> str:
    return json.dumps(d, separators=(",", ":"), ensure_ascii=False)

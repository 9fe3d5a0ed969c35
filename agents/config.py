"""Pipeline configuration (PF_CONFIG_FILE) as written by the operator; see docs/contracts.md."""

from __future__ import annotations

import json
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import StageError

DEFAULT_CONFIG_FILE = "/etc/pf-figma/config/config.json"


class _M(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class FigmaRef(_M):
    fileKey: str
    nodeIds: list[str] = Field(default_factory=list)
    version: str | None = None
    url: str | None = None  # the link the key came from (informational)


class ConfigMapRef(_M):
    name: str = ""
    key: str = ""


class StoredRef(_M):
    name: str
    sha256: str | None = None


class Source(_M):
    figma: FigmaRef | None = None
    configMapRef: ConfigMapRef | None = None
    storedRef: StoredRef | None = None  # pf-figma sources put (pf_agents.sources)


class Target(_M):
    framework: str = "nextjs"
    ui: str = "shadcn"
    language: str = "typescript"


class LLM(_M):
    enabled: bool = False
    model: str = "claude-sonnet-4-5"
    maxTokens: int = 200_000
    maxCostUSD: float = 5.0


class Git(_M):
    url: str | None = None
    branch: str = "pf-figma/design"


class PipelineConfig(_M):
    tenant: str = "local"
    namespace: str = "local"
    pipeline: str = "local"
    uid: str = "local"
    stage: str | None = None
    attempt: int = 1
    source: Source = Field(default_factory=Source)
    target: Target = Field(default_factory=Target)
    featureFlags: dict[str, Any] = Field(default_factory=dict)
    llm: LLM = Field(default_factory=LLM)
    git: Git = Field(default_factory=Git)

    @property
    def pipeline_key(self) -> str:
        return f"{self.namespace}/{self.pipeline}/{self.uid}"

    def flag(self, name: str, default: bool = False) -> bool:
        return bool(self.featureFlags.get(name, default))


def load_config(path: str | None = None) -> PipelineConfig:
    path = path or os.environ.get("PF_CONFIG_FILE") or DEFAULT_CONFIG_FILE
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read())
    except FileNotFoundError:
        raise StageError(
            "ConfigMissing", f"pipeline configuration {path} does not exist (set PF_CONFIG_FILE)"
        ) from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StageError(
            "ConfigInvalid", f"cannot read pipeline configuration {path}: {exc}"
        ) from None
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise StageError(
            "ConfigInvalid", f"pipeline configuration {path}: {loc}: {first['msg']}"
        ) from None

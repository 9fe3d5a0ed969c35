"""Operator settings: environment variables (PF_*), set by the Helm chart or `make run`.

Read by pydantic-settings (``Settings.from_env()``); each field is ``PF_<NAME>`` in upper case.
Lists and maps are JSON (``PF_AGENT_NODE_SELECTOR='{"pool": "agents"}'``), lists may also be
comma-separated (``PF_POD_CIDRS=10.0.0.0/8,fd00::/8``); booleans are 1/true/yes/on or
0/false/no/off/empty. Invalid values end the process with one message naming every bad one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "PF_"
_PREFIX = "invalid operator settings (PF_* environment): "
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

#: the environment ``Settings.from_env`` reads (None: os.environ)
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("pf_settings_environ", default=None)


class _Environment(EnvSettingsSource):
    """``PF_<NAME>`` variables, upper case only (``pf_name`` is someone else's), from
    ``os.environ`` or the mapping handed to ``Settings.from_env``."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        env = os.environ if environ is None else environ
        return {
            name.lower(): value
            for name, value in env.items()
            if name.startswith(ENV_PREFIX) and name == name.upper()
        }


class Settings(BaseSettings):
    """Everything a platform team tunes. Each field maps to `PF_<NAME>` (upper case)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, case_sensitive=False, enable_decoding=False, extra="ignore"
    )

    namespace_prefix: str = Field("tenant-", description="prefix of tenant namespaces")
    global_max_concurrent: int = Field(
        50, ge=1, description="pipelines running at once, all tenants"
    )
    tenant_workers: int = Field(32, ge=1, description="concurrent Tenant reconciles")
    pipeline_workers: int = Field(32, ge=1, description="concurrent DesignPipeline reconciles")
    agent_image: str = Field("pf-figma-agent:dev", description="image of the agent Jobs")
    agent_image_pull_policy: str = Field("IfNotPresent")
    agent_node_selector: dict[str, str] = Field(default_factory=dict)
    agent_tolerations: list[dict[str, Any]] = Field(default_factory=list)
    agent_cpu_request: str = "250m"
    agent_memory_request: str = "256Mi"
    agent_cpu_limit: str = "1"
    agent_memory_limit: str = "1Gi"
    agent_stage_resources: dict[str, dict[str, dict[str, str]]] = Field(
        default_factory=lambda: {
            "visual": {
                "requests": {"cpu": "500m", "memory": "768Mi"},
                "limits": {"cpu": "2", "memory": "2Gi"},
            }
        },
        description="per-stage agent resources replacing the agent_* defaults, as JSON "
        "{stage: {requests: {cpu, memory}, limits: {cpu, memory}}} (visual runs Chromium)",
    )
    ca_bundle_configmap: str | None = Field(
        None, description="ConfigMap (in each tenant namespace) with ca.crt for agent pods"
    )
    ca_bundle_file: str | None = Field(
        None,
        description="PEM file of extra CA certificates (a proxy's, a private registry's): copied "
        "into every tenant namespace as ConfigMap pf-figma-ca and trusted by agent pods",
    )
    artifacts_url: str = Field("file:///tmp/pf-figma-artifacts", description="artifact store URL")
    figma_api_url: str = Field(
        "https://api.figma.com",
        pattern=r"^https?://[^/?#@\s]+(/[^?#\s]*)?$",
        description="base URL of the Figma API (FIGMA_API_URL of analyze stages), e.g. a proxy; "
        "a Tenant's spec.figma.apiURL overrides it; tenants' egress allows its address and port",
    )
    figma_max_concurrent_analyze: int = Field(
        2,
        ge=1,
        description="analyze stages (the only Figma callers) running at once per Figma token, "
        "i.e. per tenant; a Tenant's spec.figma.maxConcurrentAnalyze overrides it",
    )
    artifact_retention_days: int = Field(
        30,
        ge=0,
        description="artifacts (PostgreSQL) older than this are deleted, except those of "
        "pipelines that still exist and ran or finished within it; 0 keeps them forever",
    )
    pod_cidrs: list[str] = Field(default_factory=lambda: ["10.244.0.0/16"])
    service_cidrs: list[str] = Field(default_factory=lambda: ["10.96.0.0/16"])
    metrics_port: int = Field(8080, ge=0, le=65535)
    health_port: int = Field(8081, ge=0, le=65535)
    queue_position_refresh_seconds: float = Field(2.0, ge=0.1)
    drift_resync_seconds: float = Field(300.0, ge=5)
    queueing: str = Field(
        "pf-figma",
        pattern="^(pf-figma|kueue)$",
        description="who admits stage Jobs: pf-figma's fair-share queue, or Kueue (Jobs created "
        "suspended with the tenant's LocalQueue label); a Tenant's spec.queueing overrides it",
    )
    kueue_cohort: str | None = Field(
        None, description="cohort of the ClusterQueues pf-figma creates (queueing: kueue)"
    )
    kueue_resource_flavor: str = Field(
        "pf-figma", description="ResourceFlavor of the ClusterQueues pf-figma creates"
    )
    leader_election: bool = False
    leader_election_namespace: str = "pf-figma-system"
    leader_election_lease: str = "pf-figma-operator"
    database_dsn: str | None = Field(None, description="PostgreSQL DSN (history, audit, usage)")
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    log_format: str = Field("json", pattern="^(json|text)$")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the PF_* environment; no dotenv or secret files."""
        return init_settings, _Environment(settings_cls)

    @field_validator("*", mode="before")
    @classmethod
    def _from_text(cls, value: object, info: ValidationInfo) -> object:
        """An environment variable's text as the field's type expects it: JSON (or a comma
        list) for lists and maps, the usual words for booleans."""
        if not isinstance(value, str) or info.field_name is None:
            return value
        annotation = str(cls.model_fields[info.field_name].annotation)
        if annotation.startswith(("dict", "list")):
            text = value.strip()
            if text.startswith(("{", "[")):
                try:
                    return json.loads(text)
                except ValueError as err:
                    raise ValueError(f"not valid JSON ({err})") from None
            return [v.strip() for v in value.split(",") if v.strip()]
        if annotation == "<class 'bool'>":
            lowered = value.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ValueError(f"{value!r}: expected true or false")
            return lowered in _TRUE
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("namespace_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if len(value) > 12 or not value.replace("-", "").isalnum() or value != value.lower():
            raise ValueError("must be a lowercase DNS label prefix of at most 12 characters")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings from ``environ`` (default: os.environ). Raises SystemExit with every
        invalid value named (field and message)."""
        token = _ENVIRON.set(environ)
        try:
            return cls()
        except ValidationError as err:
            raise SystemExit(f"{_PREFIX}{err}") from None
        finally:
            _ENVIRON.reset(token)

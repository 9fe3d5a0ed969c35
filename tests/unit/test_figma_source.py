"""Figma links and the Figma API endpoint on the operator side (issue 20): spec.source.figma.url
resolved into status.source and the agent config; FIGMA_API_URL (operator setting, Tenant
override) in the analyze Job and in the tenant's egress; gzip ConfigMaps and stored sources."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from pf_operator import flow
from pf_operator.constants import CONFIG_ANNOTATION
from pf_operator.model import DesignPipelineSpec, DesignPipelineStatus, TenantSpec
from pf_operator.render import RenderSettings, desired_objects
from pf_operator.render.common import EgressEndpoint
from pf_operator.render.job import AgentSettings, render_job
from pf_operator.render.tenant import figma_api_egress, figma_api_host
from pf_operator.settings import Settings

URL = "https://www.figma.com/design/AbC123xyz/Button-kit?node-id=12-34&t=x"
BRANCH = "https://www.figma.com/design/AbC123xyz/branch/BrKey9/Button-kit"
PIPELINE = {"metadata": {"name": "demo", "namespace": "tenant-acme", "uid": "u-1"}}
SETTINGS = RenderSettings(pod_cidrs=("10.244.0.0/16",), service_cidrs=("10.96.0.0/16",))
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def spec(source: dict[str, Any]) -> DesignPipelineSpec:
    return DesignPipelineSpec.model_validate({"source": source})


def job(
    s: DesignPipelineSpec, tenant: dict[str, Any] | None = None, stage: str = "analyze"
) -> dict[str, Any]:
    return render_job(
        pipeline=PIPELINE,
        spec=s,
        tenant="acme",
        tenant_spec=TenantSpec.model_validate(tenant or {}),
        stage=stage,
        attempt=1,
        agent=AgentSettings(figma_api_url="http://10.1.2.3:8990"),
    )


def env_of(j: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in j["spec"]["template"]["spec"]["containers"][0]["env"]}


def config_of(j: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(j["spec"]["template"]["metadata"]["annotations"][CONFIG_ANNOTATION]))


# --- resolution --------------------------------------------------------------------------------


def test_url_resolves_to_file_key_and_rest_node_ids() -> None:
    resolved = spec({"figma": {"url": URL}}).source.figma.resolve()  # type: ignore[union-attr]
    assert (resolved.file_key, resolved.node_ids, resolved.branch_key) == (
        "AbC123xyz",
        ("12:34",),
        None,
    )


def test_branch_url_fetches_the_branch() -> None:
    resolved = spec({"figma": {"url": BRANCH}}).source.figma.resolve()  # type: ignore[union-attr]
    assert resolved.branch_key == "BrKey9" and resolved.fetch_key == "BrKey9"


def test_old_fields_keep_working() -> None:
    resolved = spec({"figma": {"fileKey": "K", "nodeIds": ["1:2"], "version": "7"}}).source.figma
    assert resolved is not None and resolved.resolve().to_dict() == {
        "fileKey": "K",
        "nodeIds": ["1:2"],
        "version": "7",
    }


@pytest.mark.parametrize(
    ("figma", "error"),
    [
        ({"url": "https://evil.example/design/AbC/x"}, "not a Figma URL"),
        ({"url": "https://www.figma.com/community/file/1"}, "must start with /design/"),
        ({"url": URL, "fileKey": "Other"}, "contradicts source.figma.url"),
        ({"url": URL, "nodeIds": ["1:2"]}, "must contain the url's node-id 12:34"),
        ({"nodeIds": ["1:2"]}, "needs a url or a fileKey"),
    ],
)
def test_contradictions_and_bad_links_are_rejected(figma: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        spec({"figma": figma})


def test_agreeing_fields_are_accepted() -> None:
    s = spec({"figma": {"url": URL, "fileKey": "AbC123xyz", "nodeIds": ["12:34", "5:6"]}})
    assert s.source.figma is not None and s.source.figma.resolve().node_ids == ("12:34", "5:6")
    s = spec({"figma": {"url": BRANCH, "fileKey": "BrKey9"}})
    assert s.source.figma is not None and s.source.figma.resolve().fetch_key == "BrKey9"


def test_exactly_one_source() -> None:
    with pytest.raises(ValidationError, match=r"exactly one of source\.figma"):
        spec({"figma": {"url": URL}, "storedRef": {"name": "big"}})
    assert spec({"storedRef": {"name": "big"}}).source.stored_ref is not None


# --- status.source -------------------------------------------------------------------------------


def test_status_source_is_resolved_and_takes_the_version_analyze_read() -> None:
    s = spec({"figma": {"url": URL}})
    p = flow.plan(
        name="demo",
        spec=s,
        status=DesignPipelineStatus(),
        generation=1,
        created=T0,
        jobs={},
        admission=flow.Admission(admitted=True),
        now=T0,
    )
    assert p.status.to_json()["source"] == {"fileKey": "AbC123xyz", "nodeIds": ["12:34"]}
    job_name = p.status.stages[0].job
    assert job_name is not None
    done = flow.JobFacts(
        name=job_name,
        state="Succeeded",
        start=T0,
        end=T0,
        result={"outcome": "Succeeded", "summary": {"version": "4711"}},
    )
    p = flow.plan(
        name="demo",
        spec=s,
        status=p.status,
        generation=1,
        created=T0,
        jobs={job_name: done},
        admission=flow.Admission(admitted=True),
        now=T0,
    )
    assert p.status.source is not None and p.status.source.version == "4711"
    # kept on later passes; a result's junk version is not taken
    source = p.status.to_json()["source"]
    assert flow.source_status(s, source, {"version": "x y\n"})["version"] == "4711"  # type: ignore[index]


def test_no_status_source_for_stored_files() -> None:
    assert flow.source_status(spec({"configMapRef": {"name": "d", "key": "f.json"}}), None) is None


# --- the analyze Job ------------------------------------------------------------------------------


def test_analyze_gets_the_resolved_source_and_the_api_url() -> None:
    j = job(
        spec({"figma": {"url": BRANCH}}), {"figma": {"tokenSecretRef": {"name": "t", "key": "k"}}}
    )
    assert config_of(j)["source"] == {"figma": {"fileKey": "BrKey9", "nodeIds": [], "url": BRANCH}}
    env = env_of(j)
    assert env["FIGMA_API_URL"]["value"] == "http://10.1.2.3:8990"
    assert env["FIGMA_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "t", "key": "k"}


def test_tenant_api_url_wins_and_only_analyze_gets_it() -> None:
    s = spec({"figma": {"url": URL}})
    tenant = {"figma": {"apiURL": "https://figma-proxy.example:8443/api"}}
    assert (
        env_of(job(s, tenant))["FIGMA_API_URL"]["value"] == "https://figma-proxy.example:8443/api"
    )
    assert "FIGMA_API_URL" not in env_of(job(s, tenant, stage="generate"))


def test_gzip_configmap_is_mounted_as_gz() -> None:
    j = job(spec({"configMapRef": {"name": "big", "key": "file.json.gz"}}))
    volume = next(v for v in j["spec"]["template"]["spec"]["volumes"] if v["name"] == "source")
    assert volume["configMap"]["items"] == [{"key": "file.json.gz", "path": "figma.json.gz"}]
    assert env_of(j)["PF_SOURCE_FILE"]["value"].endswith("/figma.json.gz")


def test_stored_source_goes_to_the_agent_config_without_figma_credentials() -> None:
    sha = "a" * 64
    j = job(
        spec({"storedRef": {"name": "big", "sha256": sha}}),
        {"figma": {"tokenSecretRef": {"name": "t", "key": "k"}}},
    )
    assert config_of(j)["source"] == {"storedRef": {"name": "big", "sha256": sha}}
    assert "FIGMA_TOKEN" not in env_of(j) and "PF_SOURCE_FILE" not in env_of(j)


# --- egress to the API -------------------------------------------------------------------------


def test_setting_default_and_validation() -> None:
    assert Settings.from_env({}).figma_api_url == "https://api.figma.com"
    with pytest.raises(SystemExit, match="figma_api_url"):
        Settings.from_env({"PF_FIGMA_API_URL": "ftp://x"})


def test_private_endpoint_gets_its_own_rule() -> None:
    t = TenantSpec.model_validate({})
    url = "http://10.1.2.3:8990"
    assert figma_api_host(url) == ("10.1.2.3", 8990)
    endpoints = figma_api_egress(url, ["10.1.2.3"], t, SETTINGS)
    assert endpoints == [EgressEndpoint(cidr="10.1.2.3/32", port=8990)]
    objects = desired_objects("acme", t, SETTINGS, figma_egress=endpoints)
    policy = next(o for o in objects if o["metadata"]["name"] == "pf-figma-allow-egress")
    assert {
        "to": [{"ipBlock": {"cidr": "10.1.2.3/32"}}],
        "ports": [{"protocol": "TCP", "port": 8990}],
    } in policy["spec"]["egress"]


def test_public_https_endpoint_is_covered_by_the_internet_rule() -> None:
    t = TenantSpec.model_validate({})
    assert figma_api_egress("https://proxy.example", ["203.0.113.7"], t, SETTINGS) == []
    closed = TenantSpec.model_validate({"network": {"allowInternetEgress": False}})
    assert figma_api_egress("https://proxy.example", ["203.0.113.7"], closed, SETTINGS) == [
        EgressEndpoint(cidr="203.0.113.7/32", port=443)
    ]


# --- the Tenant controller's endpoint ------------------------------------------------------------


async def test_tenant_controller_egress_for_the_figma_api() -> None:
    from pf_operator.model import Tenant
    from pf_operator.render import checks
    from pf_operator.tenants import TenantConfig, TenantController

    config = TenantConfig(
        render=SETTINGS,
        agent_resources=checks.AgentResources("250m", "256Mi", "1", "1Gi"),
        figma_api_url="http://10.9.8.7:8990",
    )
    controller = TenantController(
        cache=None,  # type: ignore[arg-type]
        client=None,  # type: ignore[arg-type]
        queue=None,  # type: ignore[arg-type]
        index=None,  # type: ignore[arg-type]
        counts=None,  # type: ignore[arg-type]
        config=config,
    )

    def tenant(spec: dict[str, Any]) -> Tenant:
        return Tenant.from_body({"metadata": {"name": "acme"}, "spec": spec})

    # the operator's setting, an IP literal: no DNS
    assert await controller._figma_egress(tenant({})) == [
        EgressEndpoint(cidr="10.9.8.7/32", port=8990)
    ]
    # the Tenant's own URL wins; a name is resolved (for real: localhost)
    own = tenant({"figma": {"apiURL": "http://localhost:7777"}})
    assert EgressEndpoint(cidr="127.0.0.1/32", port=7777) in await controller._figma_egress(own)
    # the public API needs no rule of its own (the internet rule reaches it)
    public = tenant({"figma": {"apiURL": "https://api.figma.com"}})
    assert await controller._figma_egress(public) == []

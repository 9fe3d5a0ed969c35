"""Extra CA certificates (a TLS-intercepting proxy's) reach every tenant and its agent pods."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cluster, OperatorProcess, in_place_of, make_operator, unique, wait_for
from tests.integration.test_pipelines import design_source, finished, pipeline, tenant_ready

pytestmark = pytest.mark.cluster


def first_certificate() -> str:
    text = Path("/etc/ssl/certs/ca-certificates.crt").read_text()
    start = text.index("-----BEGIN CERTIFICATE-----")
    end = text.index("-----END CERTIFICATE-----", start) + len("-----END CERTIFICATE-----")
    return text[start:end] + "\n"


@pytest.fixture
def ca_operator(cluster: Cluster, operator: OperatorProcess,
                tmp_path: Path) -> Iterator[OperatorProcess]:
    bundle = tmp_path / "ca.crt"
    bundle.write_text(first_certificate())
    op = make_operator(cluster, tmp_path, ca_bundle_file=str(bundle))
    with in_place_of(operator, op):
        yield op


def test_ca_bundle_is_copied_and_mounted(cluster: Cluster, ca_operator: OperatorProcess) -> None:
    name = unique("ca")
    ns = f"tenant-{name}"
    cluster.apply({"apiVersion": "pffigma.dev/v1alpha1", "kind": "Tenant",
                   "metadata": {"name": name}, "spec": {}})
    try:
        wait_for(lambda: tenant_ready(cluster, name), 30, what="tenant ready")
        cm = cluster.get("configmap", "pf-figma-ca", ns)
        assert cm["data"]["ca.crt"] == first_certificate()
        assert cm["metadata"]["ownerReferences"][0]["kind"] == "Tenant"
        cluster.delete("configmap", "pf-figma-ca", ns)  # drift is repaired
        wait_for(lambda: cluster.get("configmap", "pf-figma-ca", ns), 10, what="restored")

        design_source(cluster, ns)
        cluster.apply(pipeline("tls", ns))
        wait_for(lambda: finished(cluster, "tls", ns), 30, what="pipeline finished")
        job = cluster.list("jobs", ns, selector="pffigma.dev/pipeline=tls")[0]
        pod = job["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        for var in ("SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "PIP_CERT", "REQUESTS_CA_BUNDLE"):
            assert env[var] == "/etc/pf-figma/ca/ca.crt"
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["ca"]["configMap"]["name"] == "pf-figma-ca"
    finally:
        cluster.delete("tenant", name)

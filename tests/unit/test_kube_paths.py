"""The write counter's resource label comes from request paths; its values must stay bounded."""

import pytest

from pf_operator.kube import api_resource, resource_path


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/api/v1/namespaces", "namespaces"),
        ("/api/v1/namespaces/tenant-a", "namespaces"),
        ("/api/v1/namespaces/tenant-a/secrets", "secrets"),
        ("/api/v1/namespaces/tenant-a/events", "events"),
        ("/api/v1/namespaces/tenant-a/secrets/pf-figma-db?fieldManager=pf-figma", "secrets"),
        ("/apis/batch/v1/namespaces/tenant-a/jobs/p-analyze-1", "jobs"),
        ("/apis/pffigma.dev/v1alpha1/tenants/acme/status", "tenants/status"),
        (
            "/apis/pffigma.dev/v1alpha1/namespaces/tenant-a/designpipelines/p1/status",
            "designpipelines/status",
        ),
        ("/apis/coordination.k8s.io/v1/namespaces/pf/leases/pf-figma", "leases"),
    ],
)
def test_api_resource(path: str, resource: str) -> None:
    assert api_resource(path) == resource


def test_api_resource_of_every_rendered_path() -> None:
    for kind, ns in [("Job", "t"), ("Tenant", None), ("DesignPipeline", "t"), ("Namespace", None)]:
        path = resource_path(kind, ns, "x")
        assert api_resource(path) == path.split("/")[-2]

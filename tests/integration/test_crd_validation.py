"""The CRDs' validation, checked by the real API server (server-side dry runs).

Each file in invalid/<kind>/ starts with ``# expect: <text>``; the API server must reject it with
an error containing that text. The examples/ and valid/<kind>/ manifests must be accepted.
Updates check the transition rules (immutable pipeline inputs, irreversible cancel).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pf_operator.model import Tenant, TenantSpec
from pf_operator.render import RenderSettings, desired_objects, tenant_owner_clusterrole
from tests.conftest import Cluster, unique, wait_for

pytestmark = pytest.mark.cluster

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
INVALID = sorted((HERE / "invalid").glob("*/*.yaml"))
VALID = sorted((HERE / "valid").glob("*/*.yaml")) + sorted((ROOT / "examples").glob("*.yaml"))


def expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <text>'"
    return first.removeprefix("# expect: ").strip()


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.fixture(scope="module")
def namespace(cluster: Cluster) -> Iterator[str]:
    """A scratch namespace for the namespaced dry runs."""
    name = unique("crd-validation")
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def into_namespace(manifest: str, namespace: str) -> str:
    """The manifest with every namespaced document moved to ``namespace``."""
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    for doc in docs:
        if doc["kind"] not in ("Tenant", "Namespace"):
            doc.setdefault("metadata", {})["namespace"] = namespace
    return yaml.safe_dump_all(docs)


def dry_run(cluster: Cluster, manifest: str, namespace: str) -> Any:
    return cluster.kubectl(
        "apply",
        "--dry-run=server",
        "-f",
        "-",
        input=into_namespace(manifest, namespace),
        check=False,
    )


# --- the files themselves --------------------------------------------------------------------


def test_enough_invalid_manifests() -> None:
    for kind in ("tenant", "designpipeline"):
        files = list((HERE / "invalid" / kind).glob("*.yaml"))
        assert len(files) >= 15, kind
        for path in files:
            assert expectation(path)


# --- rejected --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", INVALID, ids=relative)
def test_invalid_manifest_is_rejected(cluster: Cluster, namespace: str, path: Path) -> None:
    result = dry_run(cluster, path.read_text(), namespace)
    assert result.returncode != 0, f"{path.name} was accepted:\n{result.stdout}"
    expected = expectation(path)
    assert expected in result.stderr, f"expected {expected!r} in:\n{result.stderr}"


# --- accepted --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", VALID, ids=relative)
def test_valid_manifest_is_accepted(cluster: Cluster, namespace: str, path: Path) -> None:
    result = dry_run(cluster, path.read_text(), namespace)
    assert result.returncode == 0, result.stderr
    assert "(server dry run)" in result.stdout


def test_tenant_name_of_exactly_50_characters(cluster: Cluster, namespace: str) -> None:
    name = "t" * 50
    manifest = (
        f"apiVersion: pffigma.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: {name}\nspec: {{}}\n"
    )
    result = dry_run(cluster, manifest, namespace)
    assert result.returncode == 0, result.stderr


def test_defaults_are_applied(cluster: Cluster, namespace: str) -> None:
    tenant = (
        "apiVersion: pffigma.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: defaults\nspec: {}\n"
    )
    out = cluster.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=tenant)
    spec = json.loads(out.stdout)["spec"]
    assert spec == {"plan": "starter", "network": {"allowInternetEgress": True}, "suspended": False}
    parsed = Tenant.from_body(json.loads(out.stdout))
    assert parsed.spec == TenantSpec()

    pipeline = (
        "apiVersion: pffigma.dev/v1alpha1\nkind: DesignPipeline\nmetadata:\n  name: defaults\n"
        "spec:\n  source:\n    figma:\n      fileKey: abc\n"
    )
    out = cluster.kubectl(
        "create", "--dry-run=server", "-o", "json", "-n", namespace, "-f", "-", input=pipeline
    )
    spec = json.loads(out.stdout)["spec"]
    assert spec == {
        "source": {"figma": {"fileKey": "abc"}},
        "target": {"framework": "nextjs", "ui": "shadcn", "language": "typescript"},
        "stages": ["analyze", "generate", "test", "qa", "visual"],
        "priority": 50,
        "timeouts": {"stageSeconds": 900, "pipelineSeconds": 3600},
        "retries": {"limit": 2, "backoffSeconds": 10},
        "cancel": False,
    }


# --- updates ---------------------------------------------------------------------------------


@pytest.fixture
def pipeline(cluster: Cluster, namespace: str) -> Iterator[str]:
    """A real DesignPipeline (no operator needed: only the API server's validation is used)."""
    name = unique("immutable")
    manifest = {
        "apiVersion": "pffigma.dev/v1alpha1",
        "kind": "DesignPipeline",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "source": {"figma": {"fileKey": "abc"}},
            "stages": ["analyze", "generate", "deploy"],
            "git": {"url": "https://git.example.com/a/b.git"},
        },
    }
    cluster.apply(manifest)
    yield name
    cluster.kubectl("delete", "designpipeline", name, "-n", namespace, "--wait=false", check=False)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"source": {"figma": {"fileKey": "other"}}}, "source is immutable"),
        ({"target": {"ui": "tailwind"}}, "target is immutable"),
        ({"stages": ["analyze", "generate", "test", "deploy"]}, "stages are immutable"),
        ({"git": {"branch": "other"}}, "git is immutable"),
    ],
)
def test_pipeline_inputs_are_immutable(
    cluster: Cluster, namespace: str, pipeline: str, patch: dict[str, Any], message: str
) -> None:
    result = cluster.kubectl(
        "patch", "designpipeline", pipeline, "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": patch}), check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert message in result.stderr


def test_priority_may_change_and_cancel_is_final(
    cluster: Cluster, namespace: str, pipeline: str
) -> None:
    def patch(spec: dict[str, Any]) -> Any:
        return cluster.kubectl(
            "patch", "designpipeline", pipeline, "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": spec}), check=False,
        )  # fmt: skip

    assert patch({"priority": 90, "llm": {"maxCostUSD": 1}}).returncode == 0
    assert patch({"cancel": True}).returncode == 0
    undo = patch({"cancel": False})
    assert undo.returncode != 0
    assert "cancel cannot be undone" in undo.stderr


def test_status_keeps_every_field_the_operator_writes(
    cluster: Cluster, namespace: str, pipeline: str
) -> None:
    status = {
        "observedGeneration": 1,
        "currentStage": "generate",
        "queuePosition": 0,
        "startTime": "2025-01-02T03:04:05Z",
        "stages": [
            {
                "name": "analyze",
                "state": "Succeeded",
                "job": "j-1",
                "attempts": 1,
                "startTime": "2025-01-02T03:04:05Z",
                "completionTime": "2025-01-02T03:05:05Z",
                "message": "12 components",
            }
        ],
        "artifacts": [
            {"stage": "analyze", "name": "spec.json", "uri": "file:///x", "sha256": "ab", "size": 2}
        ],
        "cost": {"inputTokens": 10, "outputTokens": 20, "usd": 0.5},
        "conditions": [
            {
                "type": "Succeeded",
                "status": "Unknown",
                "reason": "Running",
                "message": "generate: attempt 1",
                "observedGeneration": 1,
                "lastTransitionTime": "2025-01-02T03:04:05Z",
            }
        ],
    }
    # A dry run: a running operator must not see (or race with) this made-up status.
    result = cluster.kubectl(
        "patch", "designpipeline", pipeline, "-n", namespace, "--subresource=status",
        "--dry-run=server", "--type=merge", "-p", json.dumps({"status": status}), "-o", "json",
    )  # fmt: skip
    stored = json.loads(result.stdout)["status"]
    assert {key: stored.get(key) for key in status} == status  # nothing pruned


# --- rendered objects are valid Kubernetes objects -------------------------------------------


def test_rendered_tenant_objects_pass_server_validation(cluster: Cluster, namespace: str) -> None:
    """Everything desired_objects() makes is accepted by the API server (dry run)."""
    prefix, tenant = namespace.rsplit("-", 1)
    spec = TenantSpec.model_validate(
        yaml.safe_load((ROOT / "examples" / "tenant-acme.yaml").read_text())["spec"]
    )
    settings = RenderSettings(
        pod_cidrs=("10.244.0.0/16", "100.64.0.0/10"),
        service_cidrs=("10.96.0.0/16",),
        namespace_prefix=f"{prefix}-",
    )
    objects = desired_objects(tenant, spec, settings)
    assert objects[0]["metadata"]["name"] == namespace
    objects.append(tenant_owner_clusterrole())
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(objects), check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == len(objects)


# --- upgrade: pipelines stored with the earlier stage order ----------------------------------


def _scratch_crd(path: Path, group: str) -> str:
    """The DesignPipeline CRD in ``path`` moved to API group ``group`` (a CRD of its own, so the
    shared cluster's CRD is never swapped underneath other tests)."""
    crd = yaml.safe_load(path.read_text())
    crd["metadata"] = {"name": f"designpipelines.{group}"}
    crd["spec"]["group"] = group
    crd["spec"]["names"].pop("shortNames", None)
    crd["spec"]["names"].pop("categories", None)
    return yaml.safe_dump(crd)


def test_earlier_stage_order_ratchets_through_the_crd_upgrade(
    cluster: Cluster, namespace: str
) -> None:
    """A pipeline created under the previous CRD (deploy before qa) stays updatable after the
    CRD moves deploy last: spec edits, cancel, status and metadata writes are accepted; a new
    pipeline with that order is rejected; its stages still cannot change."""
    group = f"{unique('ratchet')}.pffigma.dev"
    resource = f"designpipelines.{group}"
    before = HERE / "crd-history" / "pffigma.dev_designpipelines.before-issue-15.yaml"
    earlier = ["analyze", "generate", "test", "deploy", "qa"]

    def manifest(name: str) -> str:
        return yaml.safe_dump(
            {
                "apiVersion": f"{group}/v1alpha1",
                "kind": "DesignPipeline",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "source": {"figma": {"fileKey": "abc"}},
                    "stages": earlier,
                    "git": {"url": "https://git.example.com/a/b.git"},
                },
            }
        )

    def patch(name: str, body: dict[str, Any], *extra: str) -> Any:
        return cluster.kubectl(
            "patch", resource, name, "-n", namespace, "--type=merge", "-p", json.dumps(body),
            *extra, check=False,
        )  # fmt: skip

    def establish(path: Path) -> None:
        cluster.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "-",
            input=_scratch_crd(path, group),
        )
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{resource}", "--timeout=60s")

    try:
        establish(before)
        wait_for(
            lambda: (
                cluster.kubectl(
                    "apply", "-f", "-", input=manifest("stored"), check=False
                ).returncode
                == 0
            ),
            30,
            what="a pipeline stored under the previous CRD",
        )
        establish(ROOT / "crds" / "pffigma.dev_designpipelines.yaml")
        wait_for(  # the API server validates with the new schema
            lambda: (
                "keep the order"
                in cluster.kubectl(
                    "apply", "--dry-run=server", "-f", "-", input=manifest("new"), check=False
                ).stderr
            ),
            30,
            what="the new CRD's validation",
        )
        message = "stages must keep the order analyze, generate, test, qa, visual, deploy"
        created = cluster.kubectl("apply", "-f", "-", input=manifest("new"), check=False)
        assert created.returncode != 0 and message in created.stderr

        assert patch("stored", {"spec": {"priority": 90}}).returncode == 0
        assert patch("stored", {"metadata": {"labels": {"touched": "yes"}}}).returncode == 0
        status = {"status": {"currentStage": "deploy", "observedGeneration": 2}}
        result = patch("stored", status, "--subresource=status")
        assert result.returncode == 0, result.stderr
        assert patch("stored", {"spec": {"cancel": True}}).returncode == 0
        stored = json.loads(
            cluster.kubectl("get", resource, "stored", "-n", namespace, "-o", "json").stdout
        )
        assert stored["spec"]["stages"] == earlier
        assert stored["spec"]["priority"] == 90 and stored["spec"]["cancel"] is True
        assert stored["status"]["currentStage"] == "deploy"

        changed = patch("stored", {"spec": {"stages": ["analyze", "generate", "test", "qa"]}})
        assert changed.returncode != 0 and "stages are immutable" in changed.stderr
    finally:
        cluster.kubectl("delete", "crd", resource, "--wait=false", check=False)

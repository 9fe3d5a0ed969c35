"""The Helm chart charts/pf-figma: lint, values schema, rendered objects, RBAC for real, release
lifecycle, and (with the operator image) `helm test`.

Everything but the last test runs on the default KWOK cluster in under a minute: `helm template`
output is checked locally and applied with `kubectl apply --dry-run=server` in a scratch
namespace; the rendered RBAC is created for real and probed with
`kubectl auth can-i --as=<the operator's ServiceAccount>`; a release is installed, upgraded and
uninstalled with its pods on KWOK nodes (no container runs there, so no image is needed).

The last test needs the operator image in the node's containerd and a node that runs real
containers (NODE=real, label pffigma.dev/pool=agents). It runs when PF_E2E_IMAGES=1, e.g.
    PF_E2E_IMAGES=1 PF_CLUSTER_DIR=/tmp/pfnode NODE=real pytest tests/integration/test_chart.py
(PF_E2E_OPERATOR_IMAGE=<repository:tag> overrides the image.)
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pf_operator import metrics
from pf_operator import tracing as _tracing  # noqa: F401 - registers pf_figma_trace_*
from pf_operator.constants import HASH_ANNOTATION
from pf_operator.diff import needs_apply, with_hash
from pf_operator.render import tenant_owner_clusterrole
from pf_operator.settings import Settings
from pf_operator.store import writer as _writer  # noqa: F401 - registers pf_figma_db_*
from tests.conftest import ROOT, Cluster, OperatorProcess, unique, wait_for

pytestmark = pytest.mark.cluster

CHART = ROOT / "charts" / "pf-figma"
APP_VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
MONITORING_KINDS = {"ServiceMonitor", "PrometheusRule"}
OWNER_ROLE = "pf-figma-tenant-owner"


# --- helpers ---------------------------------------------------------------------------------


@dataclass
class Helm:
    binary: Path
    kubeconfig: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(self.binary), *args, "--kubeconfig", str(self.kubeconfig)],
                              env=self.env, text=True, capture_output=True, timeout=timeout,
                              input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stderr.strip()}")
        return proc

    def template(self, values: dict[str, Any] | None = None, *, release: str = "pf",
                 namespace: str = "pf-system", check: bool = True, extra: tuple[str, ...] = ()
                 ) -> subprocess.CompletedProcess[str]:
        return self.run("template", release, str(CHART), "--namespace", namespace,
                        "--values", "-", *extra, input=yaml.safe_dump(values or {}),
                        check=check)

    def render(self, values: dict[str, Any] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        out = self.template(values, **kwargs).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module")
def helm(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    home = tmp_path_factory.mktemp("helm-home")
    env = dict(os.environ)
    env.update(HELM_CACHE_HOME=str(home / "cache"), HELM_CONFIG_HOME=str(home / "config"),
               HELM_DATA_HOME=str(home / "data"), KUBECONFIG=str(cluster.kubeconfig))
    binary = cluster.bin_dir / "helm-v3.21.4" / "helm"
    assert binary.exists(), f"helm not found at {binary} (hack/build-binaries.sh builds it)"
    return Helm(binary, cluster.kubeconfig, env)


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind
               and (name is None or d["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def container_env(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.fixture
def scratch_namespace(cluster: Cluster) -> Iterator[str]:
    """A namespace that enforces Pod Security "restricted" (like tenant namespaces)."""
    ns = unique("pfchart")
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/warn": "restricted"}}})
    yield ns
    cluster.delete("namespace", ns)


# Value sets that must lint and render: each exercises other templates.
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "ha": {"replicaCount": 3, "podDisruptionBudget": {"minAvailable": 2},
           "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
               "weight": 100, "podAffinityTerm": {
                   "topologyKey": "kubernetes.io/hostname",
                   "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "pf-figma"}}}}]}}},
    "bundled-postgresql": {"postgresql": {"enabled": True, "persistence": {"size": "1Gi"}}},
    "external-dsn": {
        "database": {"dsn": "postgresql://pf:secret@db.example.com:5432/pf?sslmode=require"},
        "networkPolicy": {"database": {"cidrs": ["192.0.2.10/32"]},
                          "apiServer": {"cidrs": ["10.0.0.1/32"], "ports": [6443]},
                          "metricsFrom": [{"namespaceSelector": {"matchLabels": {
                              "kubernetes.io/metadata.name": "monitoring"}}}]}},
    "existing-secret-monitoring": {
        "database": {"existingSecret": "pf-db", "existingSecretKey": "uri"},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}},
                    "prometheusRule": {"enabled": True, "alertLabels": {"team": "platform"}},
                    "dashboard": {"namespace": "grafana"}}},
    "tuned": {
        "fullnameOverride": "figma-op",
        "image": {"repository": "registry.example.com:5000/pf/operator", "tag": "1.2.3-rc.1"},
        "operator": {"globalMaxConcurrent": 100000, "namespacePrefix": "pf-", "logLevel": "DEBUG",
                     "logFormat": "text", "caBundleConfigMap": "corp-ca",
                     "artifactsUrl": "file:///var/pf-artifacts", "artifactRetentionDays": 0,
                     "clusterCIDRs": {"pod": ["10.42.0.0/16", "fd00:42::/56"],
                                      "service": ["10.43.0.0/16"]}},
        "agent": {"image": {"repository": "pf-figma-agent", "digest": "sha256:" + "a" * 64},
                  "nodeSelector": {"pffigma.dev/pool": "agents"},
                  "tolerations": [{"key": "pffigma.dev/pool", "operator": "Equal",
                                   "value": "agents", "effect": "NoSchedule"}],
                  "resources": {"requests": {"cpu": 0.5, "memory": "512Mi"},
                                "limits": {"cpu": 2, "memory": "2Gi"}}},
        "networkPolicy": {"enabled": False}, "rbac": {"create": True},
        "serviceAccount": {"name": "pf-operator"}, "tenantOwnerRole": {"create": False},
        "metrics": {"dashboard": {"enabled": False}}},
}


# --- static checks ---------------------------------------------------------------------------


def test_chart_crds_are_a_copy_of_the_repository_crds() -> None:
    repo = {p.name: p.read_bytes() for p in (ROOT / "crds").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert repo, "no CRDs in crds/"
    stale = sorted(n for n in repo.keys() | chart.keys() if repo.get(n) != chart.get(n))
    assert not stale, (f"charts/pf-figma/crds/ differs from crds/ ({', '.join(stale)}): "
                       "run hack/sync-chart-crds.sh")
    check = subprocess.run([str(ROOT / "hack" / "sync-chart-crds.sh"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_lint_strict(helm: Helm, name: str, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(VALUE_SETS[name]))
    proc = helm.run("lint", "--strict", str(CHART), "--values", str(values), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


# (values, fragments the error message must contain: the value's path and what is wrong)
BAD_VALUES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "negative replicas": ({"replicaCount": -1}, ("/replicaCount", "minimum", "want 0")),
    "replicas as text": ({"replicaCount": "two"}, ("/replicaCount", "want integer")),
    "no pipelines at all": ({"operator": {"globalMaxConcurrent": 0}},
                            ("/operator/globalMaxConcurrent", "minimum", "want 1")),
    "unknown log level": ({"operator": {"logLevel": "verbose"}},
                          ("/operator/logLevel", "must be one of", "DEBUG")),
    "unknown log format": ({"operator": {"logFormat": "xml"}},
                           ("/operator/logFormat", "'json', 'text'")),
    "image tag with spaces": ({"image": {"tag": "1.0 beta"}}, ("/image/tag", "'1.0 beta'")),
    "agent tag with a colon": ({"agent": {"image": {"tag": "v1:latest"}}},
                               ("/agent/image/tag",)),
    "image repository missing": ({"image": {"repository": None}},
                                 ("/image", "missing propert", "repository")),
    "bad digest": ({"image": {"digest": "sha256:xyz"}}, ("/image/digest",)),
    "bad pull policy": ({"agent": {"image": {"pullPolicy": "Sometimes"}}},
                        ("/agent/image/pullPolicy", "Always", "IfNotPresent")),
    "not a CIDR": ({"operator": {"clusterCIDRs": {"pod": ["10.244.0.0"]}}},
                   ("/operator/clusterCIDRs/pod/0", "10.244.0.0")),
    "CIDR prefix too long": ({"operator": {"clusterCIDRs": {"service": ["10.96.0.0/33"]}}},
                             ("operator.clusterCIDRs.service[0]", "prefix length", "0 to 32")),
    "CIDR octet out of range": ({"networkPolicy": {"database": {"cidrs": ["10.300.0.0/16"]}}},
                                ("networkPolicy.database.cidrs[0]", "0 to 255")),
    "CIDR with host bits": ({"operator": {"clusterCIDRs": {"pod": ["10.244.1.7/16"]}}},
                            ("operator.clusterCIDRs.pod[0]", "host bits",
                             "10.244.0.0/16")),
    "namespace prefix upper case": ({"operator": {"namespacePrefix": "Tenant_"}},
                                    ("/operator/namespacePrefix", "does not match")),
    "namespace prefix too long": ({"operator": {"namespacePrefix": "a-very-long-prefix-"}},
                                  ("/operator/namespacePrefix", "maxLength")),
    "port out of range": ({"operator": {"metricsPort": 70000}},
                          ("/operator/metricsPort", "maximum")),
    "bad quantity": ({"agent": {"resources": {"limits": {"memory": "lots"}}}},
                     ("/agent/resources/limits/memory", "'lots'")),
    "bad toleration": ({"agent": {"tolerations": [{"key": "x", "operator": "Maybe"}]}},
                       ("/agent/tolerations/0/operator", "Exists")),
    "negative retention": ({"operator": {"artifactRetentionDays": -1}},
                           ("/operator/artifactRetentionDays", "minimum")),
    "misspelt key": ({"replicas": 2}, ("additional properties 'replicas' not allowed",)),
    "misspelt nested key": ({"operator": {"globalMaxConcurrency": 5}},
                            ("/operator", "'globalMaxConcurrency' not allowed")),
    "not a DSN": ({"database": {"dsn": "mysql://db/pf"}}, ("/database/dsn", "mysql://db/pf")),
    "two databases": ({"postgresql": {"enabled": True}, "database": {"dsn": "postgresql://a@b/c"}},
                      ("set only one of", "postgresql.enabled", "database.dsn")),
    "superuser as operator role": ({"postgresql": {"enabled": True, "username": "postgres"}},
                                   ("postgresql.username", "superuser")),
    "replicas without leader election": (
        {"replicaCount": 2, "operator": {"leaderElection": {"enabled": False}}},
        ("replicaCount > 1 needs leader election",)),
    "PDB blocking every drain": ({"replicaCount": 2, "podDisruptionBudget": {"minAvailable": 2}},
                                 ("podDisruptionBudget.minAvailable (2)", "replicaCount (2)")),
    "zero failure ratio": ({"metrics": {"prometheusRule": {"failedPipelinesRatio": 0}}},
                           ("/metrics/prometheusRule/failedPipelinesRatio",)),
    "short generated password": ({"postgresql": {"password": "short"}},
                                 ("/postgresql/password",)),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_values_are_rejected_with_a_clear_message(helm: Helm, case: str) -> None:
    values, fragments = BAD_VALUES[case]
    proc = helm.template(values, check=False)
    assert proc.returncode != 0, f"{case}: accepted {values}"
    message = proc.stderr
    for fragment in fragments:
        assert fragment in message, f"{case}: {fragment!r} not in the error:\n{message}"
    assert "panic" not in message and "nil pointer" not in message, message


# --- rendered objects ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_rendered_settings_are_valid_operator_settings(helm: Helm, name: str) -> None:
    """Every PF_* variable the chart sets is an operator setting, and the operator accepts them."""
    docs = helm.render(VALUE_SETS[name])
    env = container_env(find(docs, "Deployment"))
    fields = {f"PF_{field.upper()}" for field in Settings.model_fields}
    unknown = sorted(k for k in env if k.startswith("PF_") and k not in fields)
    assert not unknown, f"the chart sets settings operator/settings.py lacks: {unknown}"
    plain = {k: v for k, v in env.items() if k.startswith("PF_") and isinstance(v, str)}
    settings = Settings.from_env(plain)
    values = VALUE_SETS[name]
    op = values.get("operator", {})
    assert settings.global_max_concurrent == op.get("globalMaxConcurrent", 50)
    assert settings.namespace_prefix == op.get("namespacePrefix", "tenant-")
    assert settings.pod_cidrs == op.get("clusterCIDRs", {}).get("pod", ["10.244.0.0/16"])
    # 0 (keep forever) survives the template (Helm's `default` would turn it into 30)
    assert settings.artifact_retention_days == op.get("artifactRetentionDays", 30)
    agent = values.get("agent", {})
    assert settings.agent_node_selector == agent.get("nodeSelector", {})
    assert settings.agent_tolerations == agent.get("tolerations", [])
    if "digest" in agent.get("image", {}):
        assert settings.agent_image == f"pf-figma-agent@{agent['image']['digest']}"
    else:
        assert settings.agent_image == f"pf-figma-agent:{APP_VERSION}"
    replicas = values.get("replicaCount", 1)
    assert settings.leader_election is (replicas > 1)
    if settings.leader_election:
        assert env["PF_LEADER_ELECTION_NAMESPACE"] == "pf-system"
    database = "PF_DATABASE_DSN" in env
    assert database == bool(values.get("database") or values.get("postgresql")), env
    if database:
        ref = env["PF_DATABASE_DSN"]["secretKeyRef"]
        secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
        if values.get("database", {}).get("existingSecret"):
            assert ref == {"name": "pf-db", "key": "uri"}
        else:
            assert ref["name"] in secrets and ref["key"] in secrets[ref["name"]]["data"]


def test_operator_pod_is_hardened_and_probed(helm: Helm) -> None:
    docs = helm.render()
    deployment = find(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"pf-figma-operator:{APP_VERSION}"
    assert container["imagePullPolicy"] == "IfNotPresent"
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 10001
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert any(v["name"] == "tmp" and "emptyDir" in v for v in pod["volumes"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # never two operators at once
    assert not [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    service = find(docs, "Service", "pf-pf-figma-metrics")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080,
                                         "targetPort": "metrics", "protocol": "TCP"}]
    labels = deployment["metadata"]["labels"]
    for key in ("helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance",
                "app.kubernetes.io/version", "app.kubernetes.io/managed-by"):
        assert key in labels, key
    assert not [d for d in docs if d["kind"] in MONITORING_KINDS]  # off by default

    ha = helm.render(VALUE_SETS["ha"])
    deployment = find(ha, "Deployment")
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert find(ha, "PodDisruptionBudget")["spec"]["minAvailable"] == 2
    env = container_env(deployment)
    assert env["PF_LEADER_ELECTION"] == "true" and env["PF_LEADER_ELECTION_LEASE"] == "pf-pf-figma"


def test_network_policy_admits_only_metrics_and_health(helm: Helm) -> None:
    policy = find(helm.render(), "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["spec"]["ingress"]
    assert {p["port"] for p in ingress["ports"]} == {"metrics", "health"}
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {443, 6443, 53}  # API server and DNS; no database configured

    docs = helm.render(VALUE_SETS["bundled-postgresql"])
    policy = find(docs, "NetworkPolicy", "pf-pf-figma")
    to_db = [r for r in policy["spec"]["egress"]
             if any("podSelector" in t and "namespaceSelector" not in t for t in r["to"])]
    assert to_db and to_db[0]["to"][0]["podSelector"]["matchLabels"][
        "app.kubernetes.io/component"] == "postgresql"
    db_policy = find(docs, "NetworkPolicy", "pf-pf-figma-postgresql")
    assert db_policy["spec"]["egress"] == []

    docs = helm.render(VALUE_SETS["external-dsn"])
    policy = find(docs, "NetworkPolicy")
    cidrs = [t["ipBlock"]["cidr"] for r in policy["spec"]["egress"] for t in r["to"]
             if "ipBlock" in t]
    assert cidrs == ["10.0.0.1/32", "192.0.2.10/32"]
    assert "0.0.0.0/0" not in cidrs


def test_tenant_owner_clusterrole_is_the_operators(helm: Helm) -> None:
    """Identical rules, labels and desired-hash: the operator finds it up to date, never writes."""
    rendered = find(helm.render(), "ClusterRole", OWNER_ROLE)
    desired = with_hash(tenant_owner_clusterrole())
    expected_yaml = yaml.safe_dump(desired, sort_keys=False)
    assert rendered["rules"] == desired["rules"], (
        "templates/tenant-owner-clusterrole.yaml differs from operator/render/cluster.py; "
        f"make it:\n{expected_yaml}")
    assert rendered["metadata"]["annotations"][HASH_ANNOTATION] == \
        desired["metadata"]["annotations"][HASH_ANNOTATION], f"update the hash:\n{expected_yaml}"
    assert desired["metadata"]["labels"].items() <= rendered["metadata"]["labels"].items()
    assert not needs_apply(desired, rendered)
    assert not [d for d in helm.render({"tenantOwnerRole": {"create": False}})
                if d["metadata"]["name"] == OWNER_ROLE]


def _metric_names(text: str) -> set[str]:
    return set(re.findall(r"\bpf_figma_[a-z_]+", text))


def _known_metrics() -> set[str]:
    names: set[str] = set()
    for collector in metrics.REGISTRY.collect():
        names.add(collector.name)
        names.update(sample.name for sample in collector.samples)
        if collector.type == "histogram":
            names.update(f"{collector.name}_{s}" for s in ("bucket", "count", "sum"))
        if collector.type == "counter":
            names.add(f"{collector.name}_total")
    return names


#: Metrics the dashboard and alerts may use before the operator exports them (none now).
PENDING_METRICS: set[str] = set()

DASHBOARD_METRICS = {
    "pf_figma_tenants", "pf_figma_pipelines", "pf_figma_pipeline_duration_seconds",
    "pf_figma_stage_duration_seconds", "pf_figma_queue_wait_seconds", "pf_figma_queue_depth",
    "pf_figma_jobs_created_total", "pf_figma_reconcile_errors_total", "pf_figma_llm_tokens_total",
    "pf_figma_llm_cost_usd_total", "pf_figma_workqueue_depth",
    "pf_figma_api_write_requests_total", "pf_figma_db_up", "pf_figma_db_writes_total",
    "pf_figma_db_write_queue_depth", "pf_figma_leader", "pf_figma_pipeline_fidelity_ratio",
    "pf_figma_trace_export_failures_total"}


def test_dashboard_shows_every_operator_metric(helm: Helm) -> None:
    docs = helm.render({"metrics": {"dashboard": {"namespace": "grafana"}}})
    configmap = find(docs, "ConfigMap", "pf-pf-figma-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["namespace"] == "grafana"
    dashboard = json.loads(configmap["data"]["pf-figma.json"])
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    exprs = "\n".join(t["expr"] for p in panels for t in p.get("targets", []))
    used = {m.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
            for m in _metric_names(exprs)}
    missing = DASHBOARD_METRICS - used
    assert not missing, f"no dashboard panel shows {sorted(missing)}"
    unknown = _metric_names(exprs) - _known_metrics() - PENDING_METRICS
    assert not unknown, f"the dashboard uses metrics the operator does not export: {unknown}"
    for panel in panels:
        if panel["type"] != "row":
            assert panel["title"] and panel["targets"] and panel["gridPos"]["w"] > 0, panel


def test_tracing_values_become_the_otel_environment(helm: Helm) -> None:
    """tracing.*: the standard OTEL_* variables (the headers from a Secret, never a value);
    nothing while no endpoint is set; the schema refuses what cannot work."""
    off = container_env(find(helm.render(), "Deployment"))
    assert not [k for k in off if k.startswith("OTEL_")]
    env = container_env(find(helm.render({"tracing": {
        "endpoint": "http://otel-collector.observability:4318", "samplerArg": "0.25",
        "resourceAttributes": "deployment.environment.name=prod", "headersSecret": "otlp"}}),
        "Deployment"))
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4318"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
    assert env["OTEL_RESOURCE_ATTRIBUTES"] == "deployment.environment.name=prod"
    assert env["OTEL_EXPORTER_OTLP_HEADERS"] == {
        "secretKeyRef": {"name": "otlp", "key": "headers"}}
    policy = find(helm.render({"networkPolicy": {"enabled": True}, "tracing": {
        "endpoint": "http://otel-collector.observability:4318", "cidrs": ["10.0.0.0/8"]}}),
        "NetworkPolicy")
    assert {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}],
            "ports": [{"port": 4318, "protocol": "TCP"}]} in policy["spec"]["egress"]
    for bad in ({"endpoint": "otel:4317"}, {"sampler": "jaeger_remote"}, {"samplerArg": "2"}):
        proc = helm.template({"tracing": bad}, check=False)
        assert proc.returncode != 0 and "tracing" in proc.stderr, (bad, proc.stderr)
    dashboard = (CHART / "files" / "dashboard.json").read_text()
    variables = {v["name"]: v for v in json.loads(dashboard)["templating"]["list"]}
    assert variables["traces"]["type"] == "datasource"  # pipeline panels link to traces
    assert dashboard.count("${traces}") >= 5


def test_alerts_cover_failures_queue_operator_and_database(helm: Helm) -> None:
    docs = helm.render(VALUE_SETS["existing-secret-monitoring"])
    rule = find(docs, "PrometheusRule")
    assert rule["metadata"]["labels"]["app.kubernetes.io/instance"] == "pf"
    rules = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(rules) >= {"PfFigmaPipelinesFailing", "PfFigmaQueueGrowing",
                          "PfFigmaOperatorDown", "PfFigmaDatabaseUnreachable"}
    assert 'pf_figma_pipeline_duration_seconds_count{' in rules["PfFigmaPipelinesFailing"]["expr"]
    assert 'outcome!="Succeeded"' in rules["PfFigmaPipelinesFailing"]["expr"]
    assert "pf_figma_queue_depth" in rules["PfFigmaQueueGrowing"]["expr"]
    assert rules["PfFigmaOperatorDown"]["expr"].startswith("absent(up{")
    assert "pf_figma_db_up" in rules["PfFigmaDatabaseUnreachable"]["expr"]
    for name, r in rules.items():
        assert r["labels"]["severity"] in ("warning", "critical"), name
        assert r["labels"]["team"] == "platform", name
        assert r["annotations"]["summary"] and r["annotations"]["description"], name
        assert r["expr"].count("(") == r["expr"].count(")"), name
        assert 'namespace="pf-system",job="pf-pf-figma-metrics"' in r["expr"], name
    exprs = "\n".join(r["expr"] for r in rules.values())
    unknown = _metric_names(exprs) - _known_metrics() - PENDING_METRICS
    assert not unknown, f"alerts use metrics the operator does not export: {unknown}"
    monitor = find(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    service = find(docs, "Service", "pf-pf-figma-metrics")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= \
        service["metadata"]["labels"].items()


def test_pending_metrics_are_still_pending() -> None:
    """When the operator starts exporting a pending metric, drop it from PENDING_METRICS."""
    assert not PENDING_METRICS & _known_metrics()


def test_notes_give_a_ready_to_paste_first_tenant(helm: Helm, cluster: Cluster) -> None:
    # (client dry run: nothing is created, but Helm still checks that it could own the
    # cluster-scoped tenant-owner ClusterRole, which the tests' operator created)
    proc = helm.run("install", "notes", str(CHART), "--namespace", unique("pfchart-notes"),
                    "--dry-run=client", "--skip-crds", "--set", "tenantOwnerRole.create=false")
    notes = proc.stdout.split("NOTES:", 1)[1]
    docs = notes.split("\n---\n")
    assert len(docs) >= 3, notes
    tenant = yaml.safe_load(docs[1])
    assert tenant["kind"] == "Tenant" and tenant["apiVersion"] == "pffigma.dev/v1alpha1"
    name = tenant["metadata"]["name"]
    for command in (f"kubectl apply -f tenant-{name}.yaml", f"kubectl get tenant {name} -w",
                    f"kubectl wait --for=condition=Ready tenant/{name}",
                    f"kubectl -n tenant-{name} get designpipelines -w", "helm show crds"):
        assert command in notes, command
    # the API server accepts it as it is
    cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=docs[1])


# --- against the API server ------------------------------------------------------------------


def _dry_run(cluster: Cluster, docs: list[dict[str, Any]], namespace: str) -> str:
    proc = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-",
                           input=yaml.safe_dump_all(docs), check=False)
    assert proc.returncode == 0, f"server dry run failed:\n{proc.stderr}"
    assert "would violate PodSecurity" not in proc.stderr, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("name", ["defaults", "ha", "bundled-postgresql", "external-dsn",
                                  "existing-secret-monitoring"])
def test_rendered_chart_passes_server_side_dry_run(helm: Helm, cluster: Cluster,
                                                   scratch_namespace: str, name: str) -> None:
    values = copy.deepcopy(VALUE_SETS[name])
    values.get("metrics", {}).get("dashboard", {}).pop("namespace", None)  # no such namespace
    docs = helm.render(values, release=f"dry-{name}"[:20].rstrip("-"),
                       namespace=scratch_namespace, extra=("--include-crds",))
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    assert {c["metadata"]["name"] for c in crds} == {"tenants.pffigma.dev",
                                                      "designpipelines.pffigma.dev"}
    served = set(cluster.kubectl("api-resources", "-o", "name").stdout.split())
    monitoring = [d for d in docs if d["kind"] in MONITORING_KINDS]
    if "servicemonitors.monitoring.coreos.com" not in served:
        docs = [d for d in docs if d["kind"] not in MONITORING_KINDS]  # checked statically
    objects = [d for d in docs if d["kind"] != "CustomResourceDefinition"]
    out = _dry_run(cluster, objects, scratch_namespace)
    assert out.count("(server dry run)") == len(objects), out
    # the chart's CRDs as they would be upgraded (same field manager as `make crds`)
    proc = cluster.kubectl("apply", "--dry-run=server", "--server-side", "--force-conflicts",
                           "--field-manager=pf-figma", "-f", "-",
                           input=yaml.safe_dump_all(crds), check=False)
    assert proc.returncode == 0, proc.stderr
    if name == "existing-secret-monitoring":
        assert {d["kind"] for d in monitoring} == MONITORING_KINDS


# The operator's API use (operator/kube.py, handlers, runtime, leader election): (verb, resource,
# namespace or None for cluster scope / "*" for every namespace).
TENANT_NS = "tenant-rbac-probe"
OPERATOR_NEEDS: list[tuple[str, str, str | None]] = [
    *((v, "tenants.pffigma.dev", None) for v in ("get", "list", "watch")),
    ("patch", "tenants.pffigma.dev/status", None),
    ("update", "tenants.pffigma.dev/finalizers", None),
    *((v, "designpipelines.pffigma.dev", "*") for v in ("get", "list", "watch", "delete")),
    ("patch", "designpipelines.pffigma.dev/status", TENANT_NS),
    ("update", "designpipelines.pffigma.dev/finalizers", TENANT_NS),
    *((v, "jobs.batch", "*") for v in ("list", "watch")),
    *((v, "jobs.batch", TENANT_NS) for v in ("get", "create", "delete")),
    ("list", "pods", TENANT_NS),
    # issue 17: agent pods watched for their failures, source ConfigMaps checked by name,
    # the Job controller's FailedCreate Events read
    *((v, "pods", "*") for v in ("list", "watch")),
    ("get", "configmaps", TENANT_NS),
    # a succeeded pipeline's project published for its owners (issue 17, item 11)
    *((v, "configmaps", TENANT_NS) for v in ("create", "patch")),
    ("list", "events", TENANT_NS),
    ("patch", "events", TENANT_NS),  # repeated Events are counted, not written anew
    ("patch", "events", "default"),
    *((v, "namespaces", None) for v in ("get", "list", "watch", "create", "patch", "delete")),
    *((v, r, "*") for r in ("resourcequotas", "limitranges", "serviceaccounts",
                            "networkpolicies.networking.k8s.io",
                            "rolebindings.rbac.authorization.k8s.io")
      for v in ("list", "watch")),
    *((v, r, TENANT_NS) for r in ("resourcequotas", "limitranges", "serviceaccounts",
                                  "networkpolicies.networking.k8s.io",
                                  "rolebindings.rbac.authorization.k8s.io")
      for v in ("get", "create", "patch", "delete")),
    # adopting a namespace removes Roles pf-figma did not create (issue 17, item 2)
    *((v, "roles.rbac.authorization.k8s.io", TENANT_NS) for v in ("list", "delete")),
    ("bind", f"clusterroles.rbac.authorization.k8s.io/{OWNER_ROLE}", None),
    ("get", f"clusterroles.rbac.authorization.k8s.io/{OWNER_ROLE}", None),
    ("patch", f"clusterroles.rbac.authorization.k8s.io/{OWNER_ROLE}", None),
    ("create", "events", TENANT_NS),
    ("create", "events", "default"),  # Events about the cluster-scoped Tenants
    *((v, "secrets/pf-figma-db", TENANT_NS) for v in ("get", "create", "patch")),
    *((v, "customresourcedefinitions.apiextensions.k8s.io", None)
      for v in ("get", "list", "watch")),
    # leader election, in the release namespace (filled in by the test)
    *((v, "leases.coordination.k8s.io", "{release}") for v in ("get", "create", "update")),
]
OPERATOR_MUST_NOT: list[tuple[str, str, str | None]] = [
    *((v, "customresourcedefinitions.apiextensions.k8s.io", None)
      for v in ("create", "patch", "update", "delete")),
    *((v, "clusterrolebindings.rbac.authorization.k8s.io", None) for v in ("create", "patch")),
    *((v, "clusterroles.rbac.authorization.k8s.io", None) for v in ("create", "list")),
    ("escalate", f"clusterroles.rbac.authorization.k8s.io/{OWNER_ROLE}", None),
    ("bind", "clusterroles.rbac.authorization.k8s.io/cluster-admin", None),
    ("bind", "clusterroles.rbac.authorization.k8s.io/admin", None),
    ("patch", "clusterroles.rbac.authorization.k8s.io/cluster-admin", None),
    ("create", "roles.rbac.authorization.k8s.io", TENANT_NS),
    *((v, "secrets", "*") for v in ("get", "list", "watch")),
    *((v, "secrets", TENANT_NS) for v in ("get", "list", "create", "patch", "update", "delete")),
    *((v, "secrets/figma", TENANT_NS) for v in ("get", "create", "patch")),  # tenants' own
    ("delete", "secrets/pf-figma-db", TENANT_NS),
    ("get", "secrets", "kube-system"),
    ("create", "pods", TENANT_NS),
    ("create", "pods/exec", TENANT_NS),
    ("get", "pods/log", TENANT_NS),
    ("delete", "pods", TENANT_NS),
    ("list", "configmaps", "*"),
    ("update", "tenants.pffigma.dev", None),
    ("patch", "tenants.pffigma.dev", None),
    ("delete", "tenants.pffigma.dev", None),
    ("create", "designpipelines.pffigma.dev", TENANT_NS),
    ("patch", "designpipelines.pffigma.dev", TENANT_NS),
    ("update", "jobs.batch", TENANT_NS),
    ("create", "deployments.apps", TENANT_NS),
    ("get", "nodes", None),
    ("impersonate", "users", None),
    ("impersonate", "serviceaccounts", TENANT_NS),
    ("create", "leases.coordination.k8s.io", "kube-system"),
    ("delete", "leases.coordination.k8s.io", "{release}"),
    ("update", "leases.coordination.k8s.io", "kube-node-lease"),
    ("create", "serviceaccounts/token", TENANT_NS),
    ("create", "mutatingwebhookconfigurations.admissionregistration.k8s.io", None),
]


def test_cluster_role_grants_what_the_operator_needs_and_nothing_more(
        helm: Helm, cluster: Cluster, scratch_namespace: str) -> None:
    release = unique("rbac")
    docs = helm.render(release=release, namespace=scratch_namespace)
    rbac = [d for d in docs if d["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                             "Role", "RoleBinding")
            and d["metadata"]["name"] != OWNER_ROLE]
    assert sorted(d["kind"] for d in rbac) == ["ClusterRole", "ClusterRoleBinding", "Role",
                                               "RoleBinding", "ServiceAccount"]
    for rule in find(rbac, "ClusterRole")["rules"]:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], f"wildcard in {rule}"
    sa = find(rbac, "ServiceAccount")["metadata"]["name"]
    user = f"system:serviceaccount:{scratch_namespace}:{sa}"
    try:
        cluster.apply(rbac)

        def can_i(check: tuple[str, str, str | None]) -> tuple[tuple[str, str, str | None], str]:
            verb, resource, ns = check
            args = ["auth", "can-i", verb]
            if resource.count("/") == 1 and resource.split("/")[1] in (
                    "status", "finalizers", "exec", "log", "token"):
                resource, sub = resource.split("/")
                args += [resource, f"--subresource={sub}"]
            else:
                args.append(resource)
            if ns == "*":
                args.append("--all-namespaces")
            elif ns:
                args += ["-n", scratch_namespace if ns == "{release}" else ns]
            proc = cluster.kubectl(*args, "--as", user, check=False)
            return check, proc.stdout.strip() or proc.stderr.strip()

        with ThreadPoolExecutor(max_workers=12) as pool:
            granted = dict(pool.map(can_i, OPERATOR_NEEDS))
            denied = dict(pool.map(can_i, OPERATOR_MUST_NOT))
        missing = [c for c, answer in granted.items() if answer != "yes"]
        excess = [c for c, answer in denied.items() if answer != "no"]
        assert not missing, f"the operator's ClusterRole lacks: {missing}"
        assert not excess, f"the operator's ClusterRole grants too much: {excess}"

        # escalation prevention, for real: it may bind the tenant-owner role and nothing else
        def binding(role: str) -> str:
            return yaml.safe_dump({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": f"probe-{role}", "namespace": scratch_namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": role},
                "subjects": [{"kind": "User", "name": "jane@example.com",
                              "apiGroup": "rbac.authorization.k8s.io"}]})

        ok = cluster.kubectl("create", "--dry-run=server", "-f", "-", input=binding(OWNER_ROLE),
                             as_user=user, check=False)
        assert ok.returncode == 0, ok.stderr
        # the tenant database Secret by server-side apply (creates it: authorized by name), and
        # no other Secret
        def secret(name: str) -> str:
            return yaml.safe_dump({"apiVersion": "v1", "kind": "Secret",
                                   "metadata": {"name": name, "namespace": scratch_namespace},
                                   "stringData": {"dsn": "postgresql://probe"}})

        for name, allowed in (("pf-figma-db", True), ("figma", False)):
            proc = cluster.kubectl("apply", "--server-side", "--field-manager=pf-figma",
                                   "--dry-run=server", "-f", "-", input=secret(name),
                                   as_user=user, check=False)
            assert (proc.returncode == 0) is allowed, (name, proc.stdout, proc.stderr)
        for role in ("admin", "edit"):
            bad = cluster.kubectl("create", "--dry-run=server", "-f", "-", input=binding(role),
                                  as_user=user, check=False)
            assert bad.returncode != 0 and "forbidden" in bad.stderr.lower(), (role, bad)
    finally:
        for d in rbac:
            if d["kind"].startswith("Cluster"):
                cluster.kubectl("delete", d["kind"], d["metadata"]["name"], "--ignore-not-found",
                                check=False)


# --- install, upgrade, uninstall -------------------------------------------------------------


def _slices(cluster: Cluster, namespace: str, service: str) -> list[dict[str, Any]]:
    return list(json.loads(cluster.kubectl(
        "get", "endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={service}",
        "-o", "json").stdout)["items"])


def _network_values(cluster: Cluster) -> list[str]:
    """networkPolicy values for this cluster: the API server's and DNS's real endpoints."""
    api = _slices(cluster, "default", "kubernetes")
    api_ports = sorted({p["port"] for s in api for p in s.get("ports") or []} | {443})
    args = ["--set-json", f"networkPolicy.apiServer.ports={json.dumps(api_ports)}"]
    dns = _slices(cluster, "kube-system", "kube-dns")
    endpoints = [e for s in dns for e in s.get("endpoints") or []]
    if endpoints and not all((e.get("targetRef") or {}).get("kind") == "Pod" for e in endpoints):
        # DNS runs on the nodes (NODE=real: CoreDNS is a host process), not in pods
        peers = [{"ipBlock": {"cidr": f"{a}/32"}} for e in endpoints for a in e["addresses"]]
        ports = sorted({p["port"] for s in dns for p in s.get("ports") or []})
        args += ["--set-json", f"networkPolicy.dns.to={json.dumps(peers)}",
                 "--set-json", f"networkPolicy.dns.ports={json.dumps(ports)}"]
    return args


def _owner_role_values(cluster: Cluster) -> list[str]:
    # The tenant-owner ClusterRole is cluster-wide: a running operator (the other tests') or
    # another release may have made it already, and Helm will not adopt it.
    exists = cluster.get("clusterrole", OWNER_ROLE) is not None
    return ["--set", f"tenantOwnerRole.create={str(not exists).lower()}"]


@pytest.fixture
def release_namespace(helm: Helm, cluster: Cluster) -> Iterator[tuple[str, str]]:
    ns, name = unique("pfchart-rel"), unique("pf")
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    try:
        yield name, ns
    finally:
        helm.run("uninstall", name, "--namespace", ns, "--wait", "--timeout", "30s", check=False)
        cluster.delete("namespace", ns)


def _assert_uninstalled(helm: Helm, cluster: Cluster, name: str, ns: str) -> None:
    helm.run("uninstall", name, "--namespace", ns, "--wait", "--timeout", "60s", timeout=90)
    wait_for(lambda: not cluster.list("all", ns, selector=f"app.kubernetes.io/instance={name}"),
             30, what="the release's objects gone")
    for kind in ("clusterrole", "clusterrolebinding"):
        assert cluster.get(kind, f"{name}-pf-figma") is None, kind
    assert not cluster.list("secrets", ns, selector=f"app.kubernetes.io/instance={name}")
    assert cluster.get("crd", "tenants.pffigma.dev") is not None  # Helm keeps its CRDs


def test_release_lifecycle_on_kwok_nodes(helm: Helm, cluster: Cluster,
                                         release_namespace: tuple[str, str]) -> None:
    """install --wait / upgrade / uninstall of an HA release with the bundled PostgreSQL, its
    pods on KWOK nodes (they never start a container: the image is not needed, and no second
    operator disturbs the other tests). The generated database password survives upgrades."""
    name, ns = release_namespace
    if not cluster.list("nodes", selector="type=kwok"):
        pytest.skip("no KWOK nodes")
    kwok = ["--set-json", 'nodeSelector={"type": "kwok"}',
            "--set-json", 'postgresql.nodeSelector={"type": "kwok"}']
    args = ["--namespace", ns, "--skip-crds", "--set", "replicaCount=2",
            "--set", "postgresql.enabled=true", "--set", "postgresql.persistence.enabled=false",
            *kwok, *_owner_role_values(cluster), *_network_values(cluster)]
    helm.run("install", name, str(CHART), *args, "--wait", "--timeout", "60s", timeout=90)
    deployment = cluster.get("deployment", f"{name}-pf-figma", ns)
    assert deployment["status"].get("readyReplicas") == 2
    dsn = cluster.get("secret", f"{name}-pf-figma-postgresql", ns)["data"]["dsn"]
    assert cluster.get("poddisruptionbudget", f"{name}-pf-figma", ns) is not None

    helm.run("upgrade", name, str(CHART), *args, "--set", "operator.logLevel=DEBUG",
             "--wait", "--timeout", "60s", timeout=90)
    deployment = cluster.get("deployment", f"{name}-pf-figma", ns)
    assert container_env(deployment)["PF_LOG_LEVEL"] == "DEBUG"
    assert cluster.get("secret", f"{name}-pf-figma-postgresql", ns)["data"]["dsn"] == dsn
    history = json.loads(helm.run("history", name, "--namespace", ns, "-o", "json").stdout)
    assert [h["status"] for h in history] == ["superseded", "deployed"]

    _assert_uninstalled(helm, cluster, name, ns)


def _tenant_ready(cluster: Cluster, name: str) -> bool:
    conds = ((cluster.get("tenant", name) or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def _finished(cluster: Cluster, name: str, ns: str) -> str | None:
    conds = ((cluster.get("designpipeline", name, ns) or {}).get("status") or {}).get(
        "conditions") or []
    for c in conds:
        if c["type"] == "Succeeded" and c["status"] in ("True", "False"):
            return str(c["reason"])
    return None


def _e2e_skip_reason(cluster: Cluster) -> str | None:
    nodes = cluster.list("nodes", selector="pffigma.dev/pool=agents")
    if not nodes:
        return ("no node runs real containers (label pffigma.dev/pool=agents): "
                "make cluster-up NODE=real")
    image = os.environ.get("PF_E2E_OPERATOR_IMAGE", f"pf-figma-operator:{APP_VERSION}")
    names = [n for node in nodes for img in node["status"].get("images") or []
             for n in img.get("names") or []]
    if not any(n.endswith("/" + image) or n == image for n in names):
        return f"the operator image {image} is not on the real node: run `make images`"
    return None


def test_install_test_upgrade_uninstall(helm: Helm, cluster: Cluster,
                                        release_namespace: tuple[str, str],
                                        operator: OperatorProcess) -> None:
    """The real thing: the operator image runs on the real node, `helm test` scrapes it.

    Note: the installed operator reconciles every Tenant of the cluster, next to the tests' own
    operator, for the few seconds the test takes.
    """
    reason = _e2e_skip_reason(cluster)
    if reason:
        pytest.skip(reason)
    name, ns = release_namespace
    image = os.environ.get("PF_E2E_OPERATOR_IMAGE", f"pf-figma-operator:{APP_VERSION}")
    repository, _, tag = image.rpartition(":")
    pool = {"pffigma.dev/pool": "agents"}
    toleration = {"key": "pffigma.dev/pool", "operator": "Equal", "value": "agents",
                  "effect": "NoSchedule"}
    args = ["--namespace", ns, "--skip-crds",
            "--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
            "--set-json", f"nodeSelector={json.dumps(pool)}",
            "--set-json", f"tolerations={json.dumps([toleration])}",
            *_owner_role_values(cluster), *_network_values(cluster)]
    helm.run("install", name, str(CHART), *args, "--wait", "--timeout", "90s", timeout=120)
    pods = cluster.list("pods", ns, selector=f"app.kubernetes.io/instance={name},"
                                             "app.kubernetes.io/component=operator")
    assert pods and all(p["status"]["phase"] == "Running" for p in pods), pods

    # the test pod scrapes the metrics Service; it is deleted on success (so no --logs)
    tested = helm.run("test", name, "--namespace", ns, "--timeout", "60s",
                      check=False, timeout=90)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "Phase:          Succeeded" in tested.stdout, tested.stdout

    # pipelines keep running across `helm upgrade` (the operator pod is replaced): none is lost
    # and none gets a second Job for a stage. Only the chart's operator runs meanwhile.
    operator.stop()
    tenant = unique("upg")
    try:
        cluster.apply({"apiVersion": "pffigma.dev/v1alpha1", "kind": "Tenant",
                       "metadata": {"name": tenant}, "spec": {"plan": "pro"}})
        wait_for(lambda: _tenant_ready(cluster, tenant), 60, what="tenant ready (chart operator)")
        cluster.apply({"apiVersion": "v1", "kind": "ConfigMap",  # the pipelines' source
                       "metadata": {"name": "d", "namespace": f"tenant-{tenant}"},
                       "data": {"f": "{}"}})
        names = [f"upg-{i}" for i in range(8)]
        for pname in names:
            cluster.apply({"apiVersion": "pffigma.dev/v1alpha1", "kind": "DesignPipeline",
                           "metadata": {"name": pname, "namespace": f"tenant-{tenant}",
                                        "labels": {"pffigma.dev/simulate-duration": "3s"}},
                           "spec": {"source": {"configMapRef": {"name": "d", "key": "f"}}}})
        helm.run("upgrade", name, str(CHART), *args, "--set", "operator.logLevel=DEBUG",
                 "--wait", "--timeout", "90s", timeout=120)
        for pname in names:
            obj = wait_for(lambda n=pname: _finished(cluster, n, f"tenant-{tenant}"), 90,
                           what=f"{pname} finished across the upgrade")
            assert obj == "Succeeded"
        jobs = cluster.list("jobs", f"tenant-{tenant}")
        stages = [(j["metadata"]["labels"]["pffigma.dev/pipeline"],
                   j["metadata"]["labels"]["pffigma.dev/stage"]) for j in jobs]
        # the default stages: analyze, generate, test, qa, visual
        assert len(stages) == len(set(stages)) == 5 * len(names)
    finally:
        cluster.delete("tenant", tenant)
        operator.start()
    live = cluster.get("deployment", f"{name}-pf-figma", ns)
    assert container_env(live)["PF_LOG_LEVEL"] == "DEBUG"
    assert live["status"].get("readyReplicas") == 1

    _assert_uninstalled(helm, cluster, name, ns)

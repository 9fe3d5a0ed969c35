"""The real node (NODE=real): pods from the locally built base image really run, resolve and
reach Services, and NetworkPolicy is enforced (kube-router).

The fixture starts its own NODE=real cluster with separate state and ports (so it never
disturbs the default cluster in .cluster); override them with PF_E2E_CLUSTER_DIR,
PF_E2E_API_PORT, PF_E2E_ETCD_PORT and PF_E2E_ETCD_PEER_PORT. It stays running after the tests
(like the default cluster); PF_E2E_TEARDOWN=1 stops it. Needs root.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import HACK, Cluster, _versions, unique, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

NODE_NAME = os.environ.get("PF_NODE_NAME", "pf-real-0")
POOL = {"pffigma.dev/pool": "agents"}
TOLERATION = {
    "key": "pffigma.dev/pool",
    "operator": "Equal",
    "value": "agents",
    "effect": "NoSchedule",
}
METADATA_IP = "169.254.169.254"


@pytest.fixture(scope="module")
def real(cluster: Cluster) -> Cluster:
    """The session cluster, which has the real node (NODE=real is the default profile)."""
    if cluster.get("node", NODE_NAME) is None:
        pytest.skip("the cluster runs without the real node (NODE=kwok)")
    return cluster


@pytest.fixture(scope="module")
def base_image() -> str:
    return subprocess.run(
        [str(HACK / "images.sh"), "ref", "base"], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def make_ns(real: Cluster) -> Iterator[Any]:
    created: list[str] = []

    def make(prefix: str, restricted: bool = True) -> str:
        ns = unique(prefix)
        labels = {"pf-e2e": ns}
        if restricted:  # the hardened pods below must pass Pod Security "restricted"
            labels["pod-security.kubernetes.io/enforce"] = "restricted"
        real.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}
        )
        wait_for(lambda: real.get("serviceaccount", "default", ns), 30, what=f"default SA in {ns}")
        created.append(ns)
        return ns

    yield make
    for ns in created:
        real.delete("namespace", ns)


def hardened(container: dict[str, Any]) -> dict[str, Any]:
    return {
        **container,
        "imagePullPolicy": "IfNotPresent",
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def pod(
    name: str,
    ns: str,
    image: str,
    command: list[str],
    labels: dict[str, str] | None = None,
    restart: str = "Never",
    port: int | None = None,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "command": command,
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"cpu": "500m", "memory": "128Mi"},
        },
    }
    if port:
        container["ports"] = [{"containerPort": port, "name": "http"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": name}},
        "spec": {
            "restartPolicy": restart,
            "nodeSelector": POOL,
            "tolerations": [TOLERATION],
            "terminationGracePeriodSeconds": 1,
            "automountServiceAccountToken": True,
            "containers": [hardened(container)],
        },
    }


def phase(c: Cluster, name: str, ns: str) -> str:
    obj = c.get("pod", name, ns) or {}
    return str(obj.get("status", {}).get("phase", ""))


def running(c: Cluster, name: str, ns: str, timeout: float = 90) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        obj = c.get("pod", name, ns) or {}
        st = obj.get("status", {})
        if st.get("phase") in ("Failed", "Succeeded"):
            raise AssertionError(f"pod {ns}/{name} ended: {json.dumps(st)[:1500]}")
        conds = {x["type"]: x["status"] for x in st.get("conditions", [])}
        return obj if conds.get("Ready") == "True" else None

    try:
        return wait_for(ready, timeout, 0.5, what=f"pod {ns}/{name} Ready")  # type: ignore[no-any-return]
    except AssertionError:
        print(c.kubectl("describe", "pod", name, "-n", ns, check=False).stdout)
        raise


def server(c: Cluster, ns: str, image: str, name: str = "web") -> tuple[str, str]:
    """A python3 -m http.server pod behind a ClusterIP Service; returns (pod IP, cluster IP)."""
    c.apply(
        [
            pod(
                name,
                ns,
                image,
                ["python3", "-m", "http.server", "8080", "--directory", "/etc"],
                restart="Always",
                port=8080,
            ),
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": "http"}]},
            },
        ]
    )
    obj = running(c, name, ns)
    svc = c.get("service", name, ns)
    assert svc is not None
    return str(obj["status"]["podIP"]), str(svc["spec"]["clusterIP"])


def client(c: Cluster, ns: str, image: str, name: str = "client") -> str:
    c.apply(pod(name, ns, image, ["sleep", "infinity"], restart="Always"))
    running(c, name, ns)
    return name


def py(
    c: Cluster, ns: str, podname: str, code: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run python3 -c CODE in the pod (kubectl exec: apiserver -> kubelet -> CRI)."""
    return c.kubectl(
        "exec",
        "-n",
        ns,
        podname,
        "--",
        "python3",
        "-c",
        textwrap.dedent(code),
        check=False,
        timeout=timeout,
    )


CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("connected")
except OSError as e:
    print("failed:", e); sys.exit(1)
"""


def can_connect(c: Cluster, ns: str, podname: str, host: str, port: int) -> bool:
    proc = c.kubectl(
        "exec",
        "-n",
        ns,
        podname,
        "--",
        "python3",
        "-c",
        CONNECT,
        host,
        str(port),
        check=False,
        timeout=30,
    )
    if proc.returncode not in (0, 1):
        raise AssertionError(f"exec failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.returncode == 0


def test_real_node_is_ready_with_pool_label_and_taint(real: Cluster) -> None:
    node = real.get("node", NODE_NAME)
    assert node is not None, "NODE=real cluster has no real node"
    conds = {x["type"]: x["status"] for x in node["status"]["conditions"]}
    assert conds["Ready"] == "True"
    assert node["metadata"]["labels"]["pffigma.dev/pool"] == "agents"
    assert node["status"]["nodeInfo"]["kubeletVersion"] == _versions()["K8S_VERSION"]
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert node["spec"]["podCIDR"] == "10.244.200.0/24"
    if os.environ.get("PF_NODE_TAINT", "x"):
        assert {"key": "pffigma.dev/pool", "value": "agents", "effect": "NoSchedule"} in node[
            "spec"
        ]["taints"]
    # the KWOK nodes are still there for scale tests, in their own pool
    kwok = real.list("nodes", selector="pffigma.dev/pool=kwok")
    assert len(kwok) >= 1


def test_hardened_python_job_completes_on_real_node(
    real: Cluster, make_ns: Any, base_image: str
) -> None:
    ns = make_ns("e2e-py")
    code = textwrap.dedent("""
        import os, sys
        assert os.getuid() == 10001, os.getuid()
        try:
            open("/probe", "w")
            sys.exit("root filesystem is writable")
        except OSError:
            pass
        caps = [l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1]
        assert int(caps, 16) == 0, caps
        print("pf-figma e2e", sys.version.split()[0], "uid", os.getuid(), "caps", caps)
    """)
    spec = pod("py", ns, base_image, ["python3", "-c", code])["spec"]
    real.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "py", "namespace": ns},
            "spec": {
                "backoffLimit": 0,
                "template": {"metadata": {"labels": {"app": "py"}}, "spec": spec},
            },
        }
    )

    def finished() -> str | None:
        job = real.get("job", "py", ns) or {}
        for cond in job.get("status", {}).get("conditions", []):
            if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
                return str(cond["type"])
        return None

    result = wait_for(finished, 120, 0.5, what="python job finished")
    pods = real.list("pods", ns, selector="job-name=py")
    logs = real.kubectl("logs", "-n", ns, "job/py", check=False)
    assert result == "Complete", (
        f"{logs.stdout}{logs.stderr}\n{json.dumps(pods[0]['status'])[:2000]}"
    )
    assert pods[0]["spec"]["nodeName"] == NODE_NAME
    assert "pf-figma e2e 3.11" in logs.stdout and "caps 0000000000000000" in logs.stdout


def test_dns_service_ip_and_apiserver_from_a_pod(
    real: Cluster, make_ns: Any, base_image: str
) -> None:
    ns = make_ns("e2e-net")
    pod_ip, cluster_ip = server(real, ns, base_image)
    client(real, ns, base_image)
    out = py(
        real,
        ns,
        "client",
        f"""
        import socket, ssl, json, urllib.request
        from urllib.request import Request, urlopen
        fqdn = "web.{ns}.svc.cluster.local"
        print("kubernetes", socket.gethostbyname("kubernetes.default.svc.cluster.local"))
        print("web", socket.gethostbyname("web"), socket.gethostbyname(fqdn))
        body = urlopen("http://" + fqdn + "/hostname", timeout=5).read()
        print("via-service", body.decode().strip())
        body = urlopen("http://{cluster_ip}/hostname", timeout=5).read()
        print("via-cluster-ip", body.decode().strip())
        sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
        ctx = ssl.create_default_context(cafile=sa + "ca.crt")
        token = open(sa + "token").read()
        req = Request("https://kubernetes.default.svc/version",
                      headers={{"Authorization": "Bearer " + token}})
        print("apiserver", json.load(urlopen(req, context=ctx, timeout=5))["gitVersion"])
    """,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    assert lines["kubernetes"] == "10.96.0.1"
    assert lines["web"] == f"{cluster_ip} {cluster_ip}"
    assert lines["via-service"] == lines["via-cluster-ip"] != ""
    assert lines["apiserver"] == _versions()["K8S_VERSION"]
    assert pod_ip.startswith("10.244.200.")


def test_default_deny_network_policy_blocks_other_namespace(
    real: Cluster,
    make_ns: Any,
    base_image: str,
) -> None:
    ns_a, ns_b = make_ns("e2e-a"), make_ns("e2e-b")
    pod_ip, cluster_ip = server(real, ns_b, base_image)
    client(real, ns_a, base_image)
    assert can_connect(real, ns_a, "client", pod_ip, 8080), "no connectivity before any policy"
    assert can_connect(real, ns_a, "client", cluster_ip, 80)

    real.apply(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": ns_b},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        }
    )
    wait_for(
        lambda: not can_connect(real, ns_a, "client", pod_ip, 8080),
        30,
        1,
        what="default-deny to block pod IP",
    )
    assert not can_connect(real, ns_a, "client", cluster_ip, 80)

    # it is the policy, not a broken network: allowing namespace A opens it again
    real.apply(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-a", "namespace": ns_b},
            "spec": {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"pf-e2e": ns_a}}}]}],
            },
        }
    )
    wait_for(
        lambda: can_connect(real, ns_a, "client", pod_ip, 8080),
        30,
        1,
        what="allow-from-namespace to open pod IP",
    )


def host_reaches_metadata() -> bool:
    try:
        socket.create_connection((METADATA_IP, 80), timeout=3).close()
        return True
    except OSError:
        return False


def test_egress_policy_blocks_metadata_endpoint(
    real: Cluster, make_ns: Any, base_image: str
) -> None:
    ns = make_ns("e2e-egress")
    pod_ip, _ = server(real, ns, base_image)
    client(real, ns, base_image)
    if host_reaches_metadata():  # here an egress proxy answers on 169.254.169.254
        assert can_connect(real, ns, "client", METADATA_IP, 80), (
            "pod cannot reach it before the policy"
        )
    real.apply(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "no-metadata", "namespace": ns},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [f"{METADATA_IP}/32"]}}]}
                ],
            },
        }
    )
    wait_for(
        lambda: not can_connect(real, ns, "client", METADATA_IP, 80),
        30,
        1,
        what="egress policy to block the metadata endpoint",
    )
    time.sleep(1)
    # everything else is still allowed: Service DNS and other pods
    assert can_connect(real, ns, "client", pod_ip, 8080)
    out = py(real, ns, "client", "import socket; print(socket.gethostbyname('web'))")
    assert out.returncode == 0, out.stderr


def host_reaches(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
        return True
    except OSError:
        return False


def test_operator_tenant_network_policies_on_real_node(
    real: Cluster, make_ns: Any, base_image: str
) -> None:
    """The NetworkPolicies the operator renders for a Tenant, enforced for real: DNS (as "pods in
    kube-system, port 53") and HTTPS out work; other namespaces and the metadata IP do not."""
    from pf_operator.model import TenantSpec
    from pf_operator.render import tenant as render
    from pf_operator.render.common import RenderSettings

    settings = RenderSettings(pod_cidrs=("10.244.0.0/16",), service_cidrs=("10.96.0.0/16",))
    name = unique("e2e")
    ns = settings.namespace_for(name)
    peer = make_ns("e2e-peer")
    peer_ip, _ = server(real, peer, base_image)
    real.apply([render.namespace(name, settings)])
    try:
        real.apply(render.network_policies(name, TenantSpec(), settings))
        wait_for(lambda: real.get("serviceaccount", "default", ns), 30, what="default SA")
        client(real, ns, base_image)
        resolve = "import socket; print(socket.gethostbyname('kubernetes.default'))"
        out = py(real, ns, "client", resolve)
        assert out.returncode == 0 and out.stdout.strip() == "10.96.0.1", out.stdout + out.stderr
        if host_reaches("pypi.org", 443):
            assert can_connect(real, ns, "client", "pypi.org", 443), "HTTPS out is allowed"
        assert not can_connect(real, ns, "client", peer_ip, 8080), "other namespaces are not"
        assert not can_connect(real, ns, "client", METADATA_IP, 80)
        assert not can_connect(real, ns, "client", METADATA_IP, 443)
    finally:
        real.delete("namespace", ns)


def test_tenant_allow_egress_opens_exactly_what_it_lists(
    real: Cluster, make_ns: Any, base_image: str
) -> None:
    """A Tenant's network.allowEgress (CIDR + ports) is reachable; the same peer is not before."""
    from pf_operator.model import TenantSpec
    from pf_operator.render import tenant as render
    from pf_operator.render.common import RenderSettings

    settings = RenderSettings(pod_cidrs=("10.244.0.0/16",), service_cidrs=("10.96.0.0/16",))
    name = unique("e2e")
    ns = settings.namespace_for(name)
    peer = make_ns("e2e-peer")
    peer_ip, _ = server(real, peer, base_image)
    real.apply([render.namespace(name, settings)])
    try:
        real.apply(render.network_policies(name, TenantSpec(), settings))
        wait_for(lambda: real.get("serviceaccount", "default", ns), 30, what="default SA")
        client(real, ns, base_image)
        assert not can_connect(real, ns, "client", peer_ip, 8080), "closed by default"
        spec = TenantSpec.model_validate(
            {"network": {"allowEgress": [{"cidr": f"{peer_ip}/32", "ports": [8080]}]}}
        )
        real.apply(render.network_policies(name, spec, settings))
        assert wait_for(
            lambda: can_connect(real, ns, "client", peer_ip, 8080),
            20,
            what="allowEgress opens the listed destination",
        )
        assert not can_connect(real, ns, "client", METADATA_IP, 80)
    finally:
        real.delete("namespace", ns)

"""The operator with a real PostgreSQL: tenant roles and Secrets, egress, history, outages."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import Cluster, OperatorProcess, in_place_of, make_operator, unique, wait_for
from tests.integration.test_pipelines import (
    condition,
    design_source,
    finished,
    pipeline,
    tenant_ready,
)
from tests.prometheus_text import samples
from tests.store.pfstore_support import Database, Server, _destroy, _new_server, create_database

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def pg() -> Iterator[tuple[Server, Database]]:
    server = _new_server()
    try:
        yield server, create_database(server, "pf_operator_it")
    finally:
        _destroy(server)


@pytest.fixture
def db_operator(
    cluster: Cluster, operator: OperatorProcess, pg: tuple[Server, Database], tmp_path: Path
) -> Iterator[OperatorProcess]:
    op = make_operator(cluster, tmp_path, database_dsn=pg[1].operator_dsn)
    with in_place_of(operator, op):
        yield op


def rows(database: Database, query: str, *args: object) -> list[tuple]:
    with psycopg.connect(database.superuser_dsn) as conn:
        return conn.execute(query, args).fetchall()


def metric(op: OperatorProcess, name: str) -> float | None:
    found = samples(httpx.get(op.metrics_url, timeout=5).text, name)
    return found[0][1] if found else None


def test_tenant_role_secret_history_and_outage(
    cluster: Cluster, db_operator: OperatorProcess, pg: tuple[Server, Database]
) -> None:
    server, database = pg
    name = unique("db")
    ns = f"tenant-{name}"
    cluster.apply(
        {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {"plan": "pro"},
        }
    )
    try:
        wait_for(lambda: tenant_ready(cluster, name), 30, what="tenant ready with database")
        tenant = cluster.get("tenant", name)
        assert tenant["status"]["database"]["ready"] is True
        assert condition(tenant, "DatabaseReady")["status"] == "True"
        secret = cluster.get("secret", "pf-figma-db", ns)
        assert secret["metadata"]["ownerReferences"][0]["kind"] == "Tenant"
        role = tenant["status"]["database"]["role"]
        assert rows(
            database, "SELECT role_name FROM pf.tenant_roles WHERE tenant_id = %s", name
        ) == [(role,)]
        # exactly one extra egress rule: the database endpoint
        egress = json.dumps([p["spec"].get("egress") for p in cluster.list("networkpolicies", ns)])
        assert f'"port": {server.port}' in egress and "127.0.0.1/32" in egress
        # passwords never reach status or events
        password = json.dumps(secret["data"])
        assert all(v not in json.dumps(tenant) for v in secret["data"].values()), password

        # pipeline history and audit
        design_source(cluster, ns)
        cluster.apply(pipeline("hist", ns))
        wait_for(lambda: finished(cluster, "hist", ns), 30, what="pipeline finished")
        wait_for(
            lambda: (
                rows(
                    database,
                    "SELECT reason FROM pf.pipeline_runs WHERE tenant_id=%s AND name='hist'",
                    name,
                )
                == [("Succeeded",)]
            ),
            15,
            what="history row",
        )
        # item 12: the tenant's stored artifact bytes and the retention show in its status
        # (KWOK's agents store nothing: 0)
        stored = wait_for(
            lambda: (cluster.get("tenant", name)["status"].get("artifacts") or None),
            30,
            what="status.artifacts",
        )
        assert stored == {"storedBytes": 0, "retentionDays": 30}
        attempts = rows(
            database,
            "SELECT stage, attempt FROM pf.stage_attempts WHERE tenant_id=%s ORDER BY stage",
            name,
        )
        assert sorted(attempts) == [("analyze", 1), ("generate", 1), ("test", 1)]
        actions = {
            r[0]
            for r in rows(database, "SELECT action FROM pf.audit_logs WHERE tenant_id=%s", name)
        }
        assert {"create", "pipeline-Started", "pipeline-Succeeded"} <= actions

        # PostgreSQL down: reconciliation continues, writes wait, nothing is lost
        server.stop("fast")
        # the tenant is reconciled while the database is down: it stays Ready (credentials exist)
        cluster.kubectl("annotate", "tenant", name, "example.com/poke=1", "--overwrite")
        wait_for(lambda: condition(cluster.get("tenant", name), "DatabaseReady")["status"]
                 == "False", 45, what="DatabaseReady=False during the outage")
        assert tenant_ready(cluster, name)
        names = [f"out-{i}" for i in range(3)]
        for n in names:
            cluster.apply(pipeline(n, ns))
        for n in names:
            obj = wait_for(lambda n=n: finished(cluster, n, ns), 40, what=f"{n} finished, db down")
            assert condition(obj, "Succeeded")["reason"] == "Succeeded"
        wait_for(lambda: metric(db_operator, "pf_figma_db_up") == 0, 20, what="db_up=0")
        assert (metric(db_operator, "pf_figma_db_write_queue_depth") or 0) > 0
        time.sleep(1)
        server.start()
        wait_for(
            lambda: (
                len(
                    rows(
                        database,
                        "SELECT name FROM pf.pipeline_runs WHERE tenant_id=%s "
                        "AND reason='Succeeded'",
                        name,
                    )
                )
                == 4
            ),
            60,
            what="history caught up after the outage",
        )
        wait_for(lambda: metric(db_operator, "pf_figma_db_up") == 1, 20, what="db_up=1")
    finally:
        cluster.delete("tenant", name)
    wait_for(
        lambda: not rows(database, "SELECT 1 FROM pf.tenant_roles WHERE tenant_id=%s", name),
        30,
        what="role dropped with the tenant",
    )
    assert not rows(database, "SELECT 1 FROM pg_roles WHERE rolname = %s", role)


def test_succeeded_pipeline_is_published_for_its_owners(
    cluster: Cluster, db_operator: OperatorProcess, pg: tuple[Server, Database], tmp_path: Path
) -> None:
    """Item 11: owners fetch the generated project without the database password."""
    import io
    import subprocess
    import sys
    import tarfile

    _, database = pg
    name = unique("pub")
    ns = f"tenant-{name}"
    cluster.apply(
        {
            "apiVersion": "pffigma.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {"plan": "pro", "owners": [{"kind": "User", "name": "paula"}]},
        }
    )
    try:
        wait_for(lambda: tenant_ready(cluster, name), 30, what="tenant ready with database")
        design_source(cluster, ns)
        cluster.apply(
            pipeline("p", ns, {"pffigma.dev/simulate-duration": "4s"}, stages=["analyze"])
        )
        uid = wait_for(
            lambda: (o := cluster.get("designpipeline", "p", ns)) and o["metadata"]["uid"],
            10,
            what="uid",
        )
        # what a real generate stage stores under the tenant's role (KWOK's agents store nothing)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            content = b"export const Button = () => null;\n"
            info = tarfile.TarInfo("components/Button.tsx")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        archive = buf.getvalue()
        with psycopg.connect(database.superuser_dsn) as conn:
            conn.execute(
                "INSERT INTO pf.blobs (tenant_id, sha256, size, data) VALUES"
                " (%s, encode(sha256(%s), 'hex'), %s, %s)",
                (name, archive, len(archive), archive),
            )
            conn.execute(
                "INSERT INTO pf.artifacts (tenant_id, pipeline_key, stage, name, sha256, size)"
                " VALUES (%s, %s, 'generate', 'project.tar.gz', encode(sha256(%s), 'hex'), %s)",
                (name, f"{ns}/p/{uid}", archive, len(archive)),
            )
        wait_for(lambda: finished(cluster, "p", ns), 30, what="pipeline finished")
        cm = wait_for(
            lambda: cluster.get("configmap", "p-artifacts", ns), 15, what="published ConfigMap"
        )
        assert cm["metadata"]["ownerReferences"][0]["uid"] == uid
        events = [e for e in cluster.list("events", ns) if e["reason"] == "ArtifactsPublished"]
        assert events and "pf-figma artifacts get" in events[0]["message"]
        # the owner may read it, and still no Secret
        for verb, resource, allowed in (
            ("get", "configmaps/p-artifacts", True),
            ("get", "secrets/pf-figma-db", False),
        ):
            out = cluster.kubectl(
                "auth", "can-i", verb, resource, "-n", ns, "--as", "paula", check=False
            ).stdout.strip()
            assert (out == "yes") is allowed, (verb, resource)
        # pf-figma artifacts get with a kubeconfig, no DSN
        env = {k: v for k, v in os.environ.items() if k not in ("PF_DATABASE_DSN", "PF_ARTIFACTS")}
        env["KUBECONFIG"] = str(cluster.kubeconfig)
        out_dir = tmp_path / "out"
        proc = subprocess.run(
            [sys.executable, "-m", "pf_operator", "artifacts", "get", f"{ns}/p", "-o",
             str(out_dir)],
            capture_output=True, text=True, timeout=60, env=env,
        )
        assert proc.returncode == 0, proc.stderr
        assert (out_dir / "components" / "Button.tsx").read_bytes() == content
    finally:
        cluster.delete("tenant", name)

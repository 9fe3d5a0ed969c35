"""The operator with a real PostgreSQL: tenant roles and Secrets, egress, history, outages."""

from __future__ import annotations

import json
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

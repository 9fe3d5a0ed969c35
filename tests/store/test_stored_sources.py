"""Stored sources (issue 20): `pf-figma sources put` stores a Figma file in the tenant's artifact
store under the tenant's role, and analyze (pf_agents.sources) reads it back, on a real
PostgreSQL; the size caps answer with clear errors."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pfstore_support import Database, provision

from pf_agents.artifacts_pg import PgArtifactStore
from pf_agents.errors import StageError
from pf_agents.sources import load_stored_source
from pf_operator.store import artifacts as op_artifacts
from pf_operator.store.sources_cli import sources_main

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "examples" / "figma" / "govuk-button.json"


def tenant_dsn(database: Database, name: str) -> str:
    creds = provision(database.operator_dsn, name)
    assert creds is not None
    return database.tenant_dsn(creds)


def test_put_then_analyze_reads_it_under_the_tenant_role(
    database: Database,
    tenant_name: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    name, other = tenant_name("src"), tenant_name("srcother")
    dsn, other_dsn = tenant_dsn(database, name), tenant_dsn(database, other)
    ns = f"tenant-{name}"
    assert sources_main(["put", f"{ns}/big-design", str(FIXTURE), "--dsn", dsn]) == 0
    out = capsys.readouterr().out
    packed = gzip.compress(FIXTURE.read_bytes(), compresslevel=6, mtime=0)
    sha = hashlib.sha256(packed).hexdigest()
    assert f"sha256 {sha}" in out and f"for tenant {name}" in out and "storedRef" in out
    store = PgArtifactStore(dsn)
    try:
        src = load_stored_source(store, ns, "big-design", sha)
        assert src.name == json.loads(FIXTURE.read_text())["name"] and src.roots
        with pytest.raises(StageError, match="not the pinned") as err:
            load_stored_source(store, ns, "big-design", "0" * 64)
        assert err.value.reason == "SourceChanged"
        with pytest.raises(StageError, match="sources put") as err:
            load_stored_source(store, ns, "nothing-here")
        assert err.value.reason == "SourceNotFound"
    finally:
        store.close()
    # another tenant's role does not see it (row-level security)
    foreign = PgArtifactStore(other_dsn)
    try:
        with pytest.raises(StageError) as err:
            load_stored_source(foreign, ns, "big-design")
        assert err.value.reason == "SourceNotFound"
    finally:
        foreign.close()
    # the same file again: the same content address
    assert sources_main(["put", f"{ns}/big-design", str(FIXTURE), "--dsn", dsn]) == 0
    assert f"sha256 {sha}" in capsys.readouterr().out


def test_caps_and_bad_input_are_refused_clearly(
    database: Database,
    tenant_name: Callable[[str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = tenant_name("srccap")
    dsn = tenant_dsn(database, name)
    ns = f"tenant-{name}"
    assert sources_main(["put", f"{ns}/d", str(FIXTURE), "--dsn", dsn, "--max-bytes", "1000"]) == 1
    assert "over the limit of 1000 bytes (--max-bytes)" in capsys.readouterr().err
    bad = tmp_path / "not.json"
    bad.write_text("{ no")
    assert sources_main(["put", f"{ns}/d", str(bad), "--dsn", dsn]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert sources_main(["put", f"{ns}/Bad_Name", str(FIXTURE), "--dsn", dsn]) == 1
    assert "DNS label" in capsys.readouterr().err
    # the database's own cap on stored bytes
    asyncio.run(_set_limit(database.operator_dsn, 1024))
    try:
        assert sources_main(["put", f"{ns}/d", str(FIXTURE), "--dsn", dsn]) == 1
        err = capsys.readouterr().err
        assert "does not fit" in err and "over the limit of 1024 bytes" in err
    finally:
        asyncio.run(_set_limit(database.operator_dsn, 50 * 1024 * 1024))
    # the operator's role is no tenant role: refused, password not shown
    assert sources_main(["put", f"{ns}/d", str(FIXTURE), "--dsn", database.operator_dsn]) == 1
    err = capsys.readouterr().err
    assert "belongs to no tenant" in err and database.operator_password not in err


async def _set_limit(dsn: str, limit: int) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await op_artifacts.set_max_artifact_bytes(conn, limit)

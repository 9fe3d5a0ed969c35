"""PgArtifactStore (agents) and `pf-figma artifacts get` (CLI) on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from pfstore_support import Database, provision

from pf_agents.artifacts import ArtifactTooLarge, find, open_store
from pf_agents.artifacts_pg import PgArtifactStore, parse_uri
from pf_agents.errors import StageError
from pf_agents.files import pack_files
from pf_operator.store import artifacts as op_artifacts
from pf_operator.store.cli import artifacts_main


def tenant_store(database: Database, name: str) -> PgArtifactStore:
    creds = provision(database.operator_dsn, name)
    assert creds is not None
    store = open_store(database.tenant_dsn(creds))
    assert isinstance(store, PgArtifactStore)
    return store


def test_put_get_list_roundtrip_and_dedup(database: Database,
                                          tenant_name: Callable[[str], str]) -> None:
    name = tenant_name("rt")
    store = tenant_store(database, name)
    key = f"tenant-{name}/landing/{uuid.uuid4()}"
    try:
        data = b'{"components": 3}'
        a = store.put(key, "analyze", "design-spec.json", data)
        b = store.put(key, "generate", "copy-of-spec.json", data)
        assert a.sha256 == b.sha256 == hashlib.sha256(data).hexdigest()
        assert a.uri == b.uri and parse_uri(a.uri) == (name, a.sha256)
        assert store.get(a.uri) == data
        assert [(r.stage, r.name) for r in store.list(key)] == [
            ("analyze", "design-spec.json"), ("generate", "copy-of-spec.json")]
        assert [r.name for r in store.list(key, "generate")] == ["copy-of-spec.json"]
        assert find(store, key, "design-spec.json").uri == a.uri
        # overwrite: same name, new content -> the ref moves
        c = store.put(key, "analyze", "design-spec.json", b"{}")
        assert store.get(find(store, key, "design-spec.json", "analyze").uri) == b"{}"
        assert c.sha256 != a.sha256
        with psycopg.connect(database.operator_dsn) as conn:
            n = conn.execute("SELECT count(*) FROM pf.blobs WHERE tenant_id = %s",
                             (name,)).fetchone()
        assert n == (2,)  # the shared content once, plus "{}"
    finally:
        store.close()


def test_size_cap_is_enforced_by_the_client_and_the_server(
        database: Database, tenant_name: Callable[[str], str]) -> None:
    name = tenant_name("cap")
    store = tenant_store(database, name)
    key = f"tenant-{name}/p/{uuid.uuid4()}"
    try:
        small = PgArtifactStore(store._url, max_bytes=10)
        with pytest.raises(ArtifactTooLarge):
            small.put(key, "qa", "big.json", b"x" * 11)
        small.close()
        with psycopg.connect(database.operator_dsn, autocommit=True) as conn:
            asyncio.run(_set_limit(database.operator_dsn, 1024))
            try:
                # a client that claims a bigger limit is still refused by the server
                with pytest.raises(ArtifactTooLarge):
                    store.put(key, "qa", "big.json", b"x" * 2048)
                store.put(key, "qa", "ok.json", b"x" * 1024)
            finally:
                asyncio.run(_set_limit(database.operator_dsn, 50 * 1024 * 1024))
            assert conn.execute("SELECT count(*) FROM pf.artifacts WHERE tenant_id = %s",
                                (name,)).fetchone() == (1,)
    finally:
        store.close()


async def _set_limit(dsn: str, limit: int) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await op_artifacts.set_max_artifact_bytes(conn, limit)


def test_a_50_mib_artifact_fits(database: Database, tenant_name: Callable[[str], str]) -> None:
    name = tenant_name("big")
    store = tenant_store(database, name)
    try:
        data = bytes(range(256)) * (50 * 1024 * 1024 // 256)
        ref = store.put(f"tenant-{name}/p/u", "generate", "project.tar.gz", data)
        assert ref.size == 50 * 1024 * 1024
        assert store.get(ref.uri) == data
        with pytest.raises(ArtifactTooLarge):
            store.put(f"tenant-{name}/p/u", "generate", "more.tar.gz", data + b"!")
    finally:
        store.close()


def test_unreachable_database_is_a_stage_error_without_the_password(
        database: Database) -> None:
    dsn = f"postgresql://pf_t_x:sup3rsecret@127.0.0.1:{database.server.port}/pf"
    store = PgArtifactStore(dsn, connect_attempts=2, retry_delay=0.01)
    with pytest.raises(StageError) as err:
        store.list("a/b/c")
    assert err.value.reason == "ArtifactStoreUnavailable"
    assert "sup3rsecret" not in err.value.message and "sup3rsecret" not in repr(store)


def _project() -> bytes:
    files = {"package.json": '{"name": "landing"}', "src/app/page.tsx": "export {}"}
    return bytes(pack_files(dict(files)))


def test_cli_fetches_and_extracts_the_newest_run(database: Database,
                                                 tenant_name: Callable[[str], str],
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    name = tenant_name("cli")
    ns = f"tenant-{name}"
    store = tenant_store(database, name)
    try:
        old_key, new_key = f"{ns}/landing/{uuid.uuid4()}", f"{ns}/landing/{uuid.uuid4()}"
        store.put(old_key, "generate", "project.tar.gz", pack_files({"OLD": "old run"}))
        store.put(new_key, "analyze", "design-spec.json", b'{"spec": 1}')
        store.put(new_key, "generate", "project.tar.gz", _project())
        store.put(new_key, "test", "project.tar.gz",
                  pack_files({"package.json": '{"name": "landing", "tested": true}',
                              "src/app/page.test.tsx": "test()"}))
        store.put(new_key, "qa", "qa-report.json", b'{"ok": true}')
        # a different pipeline whose name shares the prefix must not be picked
        store.put(f"{ns}/landing-2/{uuid.uuid4()}", "qa", "qa-report.json", b"other")
    finally:
        store.close()

    out = tmp_path / "all"
    assert artifacts_main(["get", f"{ns}/landing", "-o", str(out),
                           "--dsn", database.operator_dsn]) == 0
    assert (out / "src/app/page.tsx").read_text() == "export {}"
    assert (out / "src/app/page.test.tsx").read_text() == "test()"
    assert '"tested": true' in (out / "package.json").read_text()  # later stage wins
    assert not (out / "OLD").exists()
    assert (out / ".artifacts/qa/qa-report.json").read_bytes() == b'{"ok": true}'
    assert (out / ".artifacts/analyze/design-spec.json").exists()
    assert new_key in capsys.readouterr().out

    only = tmp_path / "qa"
    assert artifacts_main(["get", f"{ns}/landing", "--stage", "qa", "-o", str(only),
                           "--dsn", database.operator_dsn]) == 0
    assert sorted(p.name for p in only.rglob("*") if p.is_file()) == ["qa-report.json"]

    # another tenant's role sees nothing of it
    other = tenant_store(database, tenant_name("cli-other"))
    other.close()
    creds = provision(database.operator_dsn, other.tenant, rotate=True)
    assert creds is not None
    assert artifacts_main(["get", f"{ns}/landing", "-o", str(tmp_path / "x"),
                           "--dsn", database.tenant_dsn(creds)]) == 1
    assert "no artifacts" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_refuses_archives_that_escape_the_directory(
        database: Database, tenant_name: Callable[[str], str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    name = tenant_name("evil")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for member in ("../escaped.txt", "/abs.txt"):
            info = tarfile.TarInfo(member)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    store = tenant_store(database, name)
    try:
        store.put(f"tenant-{name}/p/{uuid.uuid4()}", "generate", "project.tar.gz",
                  buf.getvalue())
    finally:
        store.close()
    out = tmp_path / "out"
    monkeypatch.setenv("PF_DATABASE_DSN", database.operator_dsn)
    assert artifacts_main(["get", f"tenant-{name}/p", "-o", str(out)]) == 1
    assert not (tmp_path / "escaped.txt").exists() and not Path("/abs.txt").exists()
    assert "cannot write" in capsys.readouterr().err


def test_cli_usage_errors(monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    for var in ("PF_DATABASE_DSN", "PF_ARTIFACTS"):
        monkeypatch.delenv(var, raising=False)
    assert artifacts_main(["get", "ns/p", "-o", "/tmp/x"]) == 1
    # without a DSN it reads what the cluster published (KUBECONFIG); either way it says why
    err = capsys.readouterr().err
    assert "no database" in err or "nothing published for ns/p" in err
    monkeypatch.setenv("PF_DATABASE_DSN", "postgresql://u:pw@127.0.0.1:1/db")
    assert artifacts_main(["get", "just-a-name", "-o", "/tmp/x"]) == 1
    assert "<namespace>/<pipeline>" in capsys.readouterr().err

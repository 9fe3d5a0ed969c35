from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pf_agents.artifacts import ArtifactRef, ArtifactStore, FileArtifactStore, open_store
from pf_agents.errors import StageError
from pf_agents.files import pack_files, unpack_files
from pf_agents.result import MAX_BYTES, StageResult, Usage


def test_file_store_roundtrip_and_content_addressing(tmp_path: Path):
    store = open_store((tmp_path / "s").as_uri())
    assert isinstance(store, ArtifactStore)
    a = store.put("ns/p/uid", "analyze", "spec.json", b'{"a":1}')
    b = store.put("ns/p/uid", "generate", "copy.json", b'{"a":1}')
    assert a.sha256 == hashlib.sha256(b'{"a":1}').hexdigest() == b.sha256
    assert a.uri == b.uri and a.uri.startswith("file://")  # stored once
    assert store.get(a.uri) == b'{"a":1}' and a.size == 7
    assert [r.name for r in store.list("ns/p/uid")] == ["spec.json", "copy.json"]
    assert [r.name for r in store.list("ns/p/uid", "generate")] == ["copy.json"]
    assert store.list("ns/other/uid") == []


def test_overwrite_same_name_points_to_new_content(tmp_path: Path):
    store = FileArtifactStore(tmp_path)
    store.put("k/p/u", "qa", "r.json", b"1")
    ref = store.put("k/p/u", "qa", "r.json", b"2")
    assert [store.get(r.uri) for r in store.list("k/p/u")] == [b"2"] and ref.size == 1


def test_size_cap(tmp_path: Path):
    store = FileArtifactStore(tmp_path, max_bytes=10)
    with pytest.raises(StageError) as e:
        store.put("k/p/u", "s", "big", b"x" * 11)
    assert e.value.reason == "ArtifactTooLarge"


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".."])
def test_unsafe_names_rejected(tmp_path: Path, name: str):
    with pytest.raises(StageError):
        FileArtifactStore(tmp_path).put("k/p/u", "s", name, b"x")


def test_corrupt_blob_detected(tmp_path: Path):
    store = FileArtifactStore(tmp_path)
    ref = store.put("k/p/u", "s", "n", b"data")
    Path(ref.uri.removeprefix("file://")).write_bytes(b"tampered")
    with pytest.raises(StageError) as e:
        store.get(ref.uri)
    assert e.value.reason == "ArtifactCorrupt"


def test_open_store_dispatch(tmp_path: Path):
    with pytest.raises(StageError):
        open_store("s3://bucket/x")
    with pytest.raises(StageError):
        open_store("file://relative/dir")
    assert isinstance(open_store(str(tmp_path)), FileArtifactStore)
    from pf_agents.artifacts_pg import PgArtifactStore  # connects lazily

    store = open_store("postgresql://u:pw@127.0.0.1:1/db", max_bytes=123)
    assert isinstance(store, PgArtifactStore) and store.max_bytes == 123


def test_result_stays_under_4k_with_many_artifacts():
    arts = [ArtifactRef(stage="generate", name=f"file-{i:04d}-{'x' * 40}.tsx",
                        uri=f"file:///store/blobs/ab/{'a' * 64}", sha256="a" * 64, size=i)
            for i in range(200)]
    res = StageResult(stage="generate", message="m" * 5000, artifacts=arts,
                      usage=Usage(1, 2, 0.5), summary={"components": 3, "big": "y" * 9000})
    text = res.to_json()
    assert len(text.encode()) <= MAX_BYTES
    d = json.loads(text)
    assert len(d["message"]) <= 512 and d["summary"]["components"] == 3
    assert 0 < len(d["artifacts"]) < 200 and d["summary"]["artifactsOmitted"] > 0
    assert d["usage"] == {"inputTokens": 1, "outputTokens": 2, "usd": 0.5}


def test_result_redacts_secrets():
    res = StageResult(stage="deploy", message="push https://bob:hunter22@git.example/x failed; "
                      "token figd_ABCdef123 key sk-ant-api03-zzz and mysecretvalue")
    text = res.to_json(secrets=("mysecretvalue",))
    for s in ("hunter22", "figd_ABCdef123", "sk-ant-api03-zzz", "mysecretvalue"):
        assert s not in text


def test_pack_is_deterministic_and_roundtrips():
    files = {"b.txt": "2", "a/x.ts": "1"}
    assert pack_files(files) == pack_files(dict(reversed(list(files.items()))))
    assert unpack_files(pack_files(files)) == {"a/x.ts": b"1", "b.txt": b"2"}
    with pytest.raises(StageError):
        unpack_files(b"not a tarball")

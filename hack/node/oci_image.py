#!/usr/bin/env python3
"""Write an OCI image archive (an OCI image layout in a tar) from plain layer tarballs.

No registry, no Docker: every layer is an uncompressed tar (``tar -C rootfs -cf layer.tar .``),
its digest is its sha256, and the config, manifest and index are a few lines of JSON. The
archive imports with ``ctr -n k8s.io images import FILE``; containerd names the image after the
``io.containerd.image.name`` annotation.

usage: oci_image.py --out IMAGE.tar --ref REF --layer L1.tar [--layer L2.tar ...]
                    [--user UID:GID] [--env K=V ...] [--entrypoint JSON] [--cmd JSON]
                    [--workdir DIR] [--label K=V ...]
Prints the manifest digest (what ``ctr images ls`` shows for the image) on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import tarfile
from pathlib import Path

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def blob(data: bytes) -> tuple[str, bytes]:
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def build(args: argparse.Namespace) -> str:
    layers = [Path(p) for p in args.layer]
    digests = []
    for layer in layers:
        cache = layer.with_name(layer.name + ".sha256")
        # a layer's digest is cached next to it (layers are large and rarely change)
        if cache.exists() and cache.stat().st_mtime >= layer.stat().st_mtime:
            digests.append(cache.read_text().strip())
        else:
            digests.append(sha256_file(layer))
            cache.write_text(digests[-1] + "\n")
    config: dict[str, object] = {}
    if args.user:
        config["User"] = args.user
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *args.env]
    config["Env"] = env
    if args.entrypoint:
        config["Entrypoint"] = json.loads(args.entrypoint)
    if args.cmd:
        config["Cmd"] = json.loads(args.cmd)
    if args.workdir:
        config["WorkingDir"] = args.workdir
    if args.label:
        config["Labels"] = dict(kv.split("=", 1) for kv in args.label)
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": digests},
        "history": [{"created_by": f"pf-figma hack/node/oci_image.py ({p.name})"} for p in layers],
    }
    cfg_digest, cfg = blob(json.dumps(image_config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": cfg_digest, "size": len(cfg)},
        "layers": [
            {"mediaType": MT_LAYER, "digest": d, "size": p.stat().st_size}
            for d, p in zip(digests, layers, strict=True)
        ],
    }
    man_digest, man = blob(json.dumps(manifest, sort_keys=True).encode())
    tag = args.ref.rsplit(":", 1)[1] if ":" in args.ref.rsplit("/", 1)[-1] else "latest"
    index = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [
            {
                "mediaType": MT_MANIFEST,
                "digest": man_digest,
                "size": len(man),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": args.ref,
                    "org.opencontainers.image.ref.name": tag,
                },
            }
        ],
    }
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add_bytes(tar, "index.json", json.dumps(index, sort_keys=True).encode())
        add_bytes(tar, "blobs/sha256/" + cfg_digest[7:], cfg)
        add_bytes(tar, "blobs/sha256/" + man_digest[7:], man)
        seen = set()
        for d, p in zip(digests, layers, strict=True):
            if d in seen:
                continue
            seen.add(d)
            info = tarfile.TarInfo("blobs/sha256/" + d[7:])
            info.size = p.stat().st_size
            info.mode = 0o644
            with p.open("rb") as f:
                tar.addfile(info, f)
    tmp.replace(out)
    return man_digest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--ref", required=True, help="image name, e.g. localhost/pf-figma/base:tag")
    ap.add_argument("--layer", action="append", required=True, help="uncompressed layer tar")
    ap.add_argument("--user", default="")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--entrypoint", default="", help="JSON list")
    ap.add_argument("--cmd", default="", help="JSON list")
    ap.add_argument("--workdir", default="")
    ap.add_argument("--label", action="append", default=[])
    print(build(ap.parse_args()))


if __name__ == "__main__":
    main()

"""``pf-figma sources put <namespace>/<name> FILE``: store a Figma file too large for a ConfigMap
in the tenant's artifact store, for a DesignPipeline's ``source.storedRef`` (pf_agents.sources).

The file (JSON, or gzip-compressed JSON) is checked to be JSON, stored gzip-compressed and
content-addressed (``pfdb://<tenant>/<sha256>``), under the tenant's own database role: the DSN
is ``--dsn``, else ``$PF_ARTIFACTS``, else the tenant's Secret ``pf-figma-db`` (key ``dsn``) in
the namespace, read with the caller's kubeconfig (a platform team's: tenant owners may not read
it). Files over ``--max-bytes`` (default 64 MiB of JSON) are refused before anything is sent;
the database's own cap (``max_artifact_bytes``) is reported as such. Prints the storedRef to use.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
from pathlib import Path

from pf_agents.artifact_store import ArtifactTooLarge
from pf_agents.artifacts_pg import PgArtifactStore
from pf_agents.errors import StageError
from pf_agents.sources import SOURCE_NAME, SOURCE_STAGE, pack_source, source_key

from .dsn import redact_dsn
from .roles import AGENT_ENV, DSN_KEY, SECRET_NAME

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


def _fail(message: str) -> int:
    print(f"pf-figma sources: {message}", file=sys.stderr)
    return 1


async def _secret_dsn(namespace: str) -> str:
    from ..kube import Kube

    kube = Kube.from_environment(os.environ.get("KUBECONFIG"))
    try:
        secret = await kube.get_or_none("Secret", SECRET_NAME, namespace)
    finally:
        await kube.close()
    raw = ((secret or {}).get("data") or {}).get(DSN_KEY)
    if not raw:
        raise LookupError(f"Secret {namespace}/{SECRET_NAME} has no key {DSN_KEY}")
    return base64.b64decode(raw).decode()


def _valid_name(name: str) -> bool:
    return 0 < len(name) <= 63 and set(name) <= _NAME_CHARS and name[0] != "-" and name[-1] != "-"


def put(dsn: str, namespace: str, name: str, data: bytes) -> tuple[str, str, int]:
    """Store ``data`` (already packed) as the source ``name`` of ``namespace``: (tenant, sha256,
    stored bytes). Raises StageError (ArtifactTooLarge, ArtifactStore*)."""
    store = PgArtifactStore(dsn, max_bytes=max(len(data), 1), connect_attempts=2)
    try:
        ref = store.put(source_key(namespace, name), SOURCE_STAGE, SOURCE_NAME, data)
        return store.tenant, ref.sha256, ref.size
    finally:
        store.close()


def sources_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="pf-figma sources",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("put", help="store a Figma file for source.storedRef")
    g.add_argument("target", metavar="NAMESPACE/NAME")
    g.add_argument("file", metavar="FILE", help="the Figma file: JSON or gzip-compressed JSON")
    g.add_argument("--dsn", help="the tenant's DSN (default: $PF_ARTIFACTS, else its Secret)")
    g.add_argument(
        "--max-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help=f"largest file accepted, in bytes of JSON (default {DEFAULT_MAX_BYTES})",
    )
    args = p.parse_args(argv)
    namespace, _, name = args.target.partition("/")
    if not namespace or not _valid_name(name):
        return _fail(f"expected <namespace>/<name> with a DNS label as name, got {args.target!r}")
    path = Path(args.file)
    try:
        size = path.stat().st_size
        if size > args.max_bytes:
            return _fail(
                f"{path} is {size} bytes, over the limit of {args.max_bytes} bytes (--max-bytes)"
            )
        raw = path.read_bytes()
    except OSError as err:
        return _fail(f"cannot read {path}: {err.strerror}")
    try:
        os.environ.setdefault("PF_SOURCE_MAX_BYTES", str(args.max_bytes))
        data = pack_source(raw)
    except StageError as err:
        return _fail(f"{path}: {err.message}")
    dsn = args.dsn or os.environ.get(AGENT_ENV)
    if not dsn:
        try:
            dsn = asyncio.run(_secret_dsn(namespace))
        except Exception as err:  # RBAC, no cluster, no Secret
            return _fail(
                "no tenant DSN (--dsn, $PF_ARTIFACTS) and cannot read Secret "
                f"{namespace}/{SECRET_NAME}: {type(err).__name__}: {err}"
            )
    try:
        tenant, sha, stored = put(dsn, namespace, name, data)
    except ArtifactTooLarge as err:
        return _fail(f"{path} does not fit: {err.message} (compressed)")
    except StageError as err:
        return _fail(f"{err.reason} on {redact_dsn(dsn)}: {err.message}")
    print(
        f"stored {path} ({len(raw)} bytes, {stored} compressed) as {namespace}/{name} "
        f"for tenant {tenant}: sha256 {sha}"
    )
    print(f"  source:\n    storedRef:\n      name: {name}\n      sha256: {sha}")
    return 0

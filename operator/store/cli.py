"""``pf-figma migrate`` and ``pf-figma artifacts get``.

``pf-figma artifacts get <namespace>/<pipeline> [--stage S] -o DIR`` reads straight from the
database's artifact index (no Kubernetes API needed, and it works after the DesignPipeline is
gone): the newest run of that pipeline (``--uid`` picks another), every artifact or those of one
stage. ``.tar.gz`` archives (the generated project) are extracted into DIR in stage order, so a
later stage's files win; other artifacts go to ``DIR/.artifacts/<stage>/<name>``.

The database is ``--dsn``, else ``$PF_DATABASE_DSN`` (operator role: every tenant), else
``$PF_ARTIFACTS`` (a tenant's DSN from its Secret: row-level security shows that tenant only).

Without a database (or with ``--from-cluster``) it reads what the operator published for the
pipeline's owners when it succeeded: ConfigMap ``<pipeline>-artifacts`` in its namespace (the
project archive and, when small, the visual report and preview), with the caller's kubeconfig
(``$KUBECONFIG``): no database password needed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tarfile
from pathlib import Path

import psycopg

from pf_agents.contract import STAGE_ORDER

from .artifacts import ArtifactNotFound, StoredArtifact, latest_run_key, list_artifacts, read_blob
from .db import load_migrations, migrate
from .dsn import redact_dsn


def _dsn(explicit: str | None) -> str | None:
    for value in (explicit, os.environ.get("PF_DATABASE_DSN"), os.environ.get("PF_ARTIFACTS")):
        if value and value.startswith(("postgresql://", "postgres://", "host=", "dbname=")):
            return value
    return None


def _fail(message: str) -> int:
    print(f"pf-figma: {message}", file=sys.stderr)
    return 1


def migrate_main(argv: list[str]) -> int:
    """``pf-figma migrate [--dsn DSN]``: apply pending schema migrations, then exit."""
    p = argparse.ArgumentParser(
        prog="pf-figma migrate", description="Apply the database schema migrations."
    )
    p.add_argument(
        "--dsn", help="PostgreSQL DSN of the operator's role (default: $PF_DATABASE_DSN)"
    )
    p.add_argument("--list", action="store_true", help="list the shipped migrations and exit")
    args = p.parse_args(argv)
    if args.list:
        for m in load_migrations():
            print(f"{m.version:04d}_{m.name}  {m.checksum[:12]}")
        return 0
    dsn = args.dsn or os.environ.get("PF_DATABASE_DSN")
    if not dsn:
        return _fail("no database: pass --dsn or set PF_DATABASE_DSN")
    try:
        applied = asyncio.run(migrate(dsn))
    except (psycopg.Error, RuntimeError, OSError) as err:
        first = (str(err).strip().splitlines() or [""])[0][:300]
        return _fail(f"migration failed on {redact_dsn(dsn)}: {type(err).__name__}: {first}")
    if applied:
        print("applied migrations: " + ", ".join(f"{v:04d}" for v in applied))
    else:
        print("schema is up to date")
    return 0


def _extract(data: bytes, out: Path) -> int:
    count = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
        for member in members:  # check them all before writing anything
            # refuses absolute paths, "..", links out of DIR and special files
            tarfile.data_filter(member, str(out))
        for member in members:
            tar.extract(member, out, filter="data")
            count += member.isfile()
    return count


async def _fetch(
    dsn: str, namespace: str, pipeline: str, stage: str | None, uid: str | None
) -> tuple[str, list[tuple[StoredArtifact, bytes]]]:
    """(pipeline key, [(artifact, bytes)]) in stage order; key "" when nothing matched."""
    async with await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, application_name="pf-figma-cli"
    ) as conn:
        key = (
            f"{namespace}/{pipeline}/{uid}"
            if uid
            else await latest_run_key(conn, namespace, pipeline)
        )
        if key is None:
            return "", []
        arts = await list_artifacts(conn, key, stage)
        order = {s: i for i, s in enumerate(STAGE_ORDER)}
        arts.sort(key=lambda a: (order.get(a.stage, len(order)), a.stage, a.name))
        return key, [(art, await read_blob(conn, art.uri)) for art in arts]


def _get(
    dsn: str, target: str, stage: str | None, out: Path, uid: str | None, extract: bool
) -> int:
    namespace, _, pipeline = target.partition("/")
    if not namespace or not pipeline or "/" in pipeline:
        return _fail(f"expected <namespace>/<pipeline>, got {target!r}")
    key, blobs = asyncio.run(_fetch(dsn, namespace, pipeline, stage, uid))
    if not blobs:
        return _fail(
            f"no artifacts for {key or target}"
            + (f" stage {stage}" if stage else "")
            + " (or none visible to this database role)"
        )
    out.mkdir(parents=True, exist_ok=True)
    for art, data in blobs:
        if extract and art.name.endswith((".tar.gz", ".tgz")):
            n = _extract(data, out)
            print(f"{art.stage}/{art.name}: extracted {n} file(s) into {out}")
        else:
            dest = out / ".artifacts" / art.stage / art.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            print(f"{art.stage}/{art.name}: {art.size} bytes -> {dest}")
    print(f"pipeline run {key}")
    return 0


async def _read_published(namespace: str, pipeline: str) -> dict[str, bytes] | None:
    from ..kube import Kube
    from ..publish import configmap_name, read_configmap

    kube = Kube.from_environment(os.environ.get("KUBECONFIG"))
    try:
        obj = await kube.get_or_none("ConfigMap", configmap_name(pipeline), namespace)
    finally:
        await kube.close()
    return None if obj is None else read_configmap(obj)


def _get_from_cluster(target: str, out: Path, extract: bool) -> int:
    namespace, _, pipeline = target.partition("/")
    if not namespace or not pipeline or "/" in pipeline:
        return _fail(f"expected <namespace>/<pipeline>, got {target!r}")
    files = asyncio.run(_read_published(namespace, pipeline))
    if not files:
        return _fail(
            f"nothing published for {target} (it publishes when it succeeds; a project too "
            "large for a ConfigMap stays in the database: --dsn)"
        )
    out.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(files.items(), key=lambda kv: kv[0] != "project.tar.gz"):
        if extract and name == "project.tar.gz":
            n = _extract(data, out)
            print(f"{name}: extracted {n} file(s) into {out}")
        else:
            dest = out / ".artifacts" / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            print(f"{name}: {len(data)} bytes -> {dest}")
    print(f"published by the operator for {target}")
    return 0


def artifacts_main(argv: list[str]) -> int:
    """``pf-figma artifacts get <namespace>/<pipeline> [--stage S] -o DIR``."""
    p = argparse.ArgumentParser(
        prog="pf-figma artifacts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("get", help="download a pipeline's artifacts")
    g.add_argument("pipeline", metavar="NAMESPACE/PIPELINE")
    g.add_argument("--stage", help="only this stage's artifacts")
    g.add_argument("-o", "--output", required=True, help="directory to write to")
    g.add_argument("--uid", help="a specific run (default: the newest)")
    g.add_argument("--no-extract", action="store_true", help="keep .tar.gz archives as files")
    g.add_argument("--dsn", help="PostgreSQL DSN (default: $PF_DATABASE_DSN or $PF_ARTIFACTS)")
    g.add_argument(
        "--from-cluster",
        action="store_true",
        help="read what the operator published in the namespace (the default without a DSN)",
    )
    args = p.parse_args(argv)
    dsn = None if args.from_cluster else _dsn(args.dsn)
    if dsn is None:
        try:
            return _get_from_cluster(args.pipeline, Path(args.output), not args.no_extract)
        except (tarfile.TarError, OSError) as err:
            return _fail(f"cannot write the artifacts: {err}")
        except Exception as err:  # the API refused (RBAC) or cannot be reached
            return _fail(
                "no database (--dsn, PF_DATABASE_DSN) and cannot read what the operator "
                f"published from the cluster: {type(err).__name__}: {err}"
            )
    try:
        return _get(
            dsn, args.pipeline, args.stage, Path(args.output), args.uid, not args.no_extract
        )
    except ArtifactNotFound as err:
        return _fail(str(err))
    except (tarfile.TarError, OSError) as err:
        return _fail(f"cannot write the artifacts: {err}")
    except psycopg.Error as err:
        first = (str(err).strip().splitlines() or [""])[0][:300]
        return _fail(f"database error on {redact_dsn(dsn)}: {type(err).__name__}: {first}")

"""Operator-side reads of the artifact store (async): what a pipeline produced, and the bytes.

Agents write artifacts with ``pf_agents.artifacts_pg.PgArtifactStore`` (tenant role); URIs are
``pfdb://<tenant>/<sha256>``. The operator's role sees every tenant (its RLS policy); a tenant
role sees its own. These functions work with either.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from pf_agents.artifacts_pg import artifact_uri, parse_uri


class ArtifactNotFound(LookupError):
    pass


@dataclass(frozen=True)
class StoredArtifact:
    tenant: str
    pipeline_key: str  # <namespace>/<pipeline>/<uid>
    stage: str
    name: str
    sha256: str
    size: int
    created_at: datetime

    @property
    def uri(self) -> str:
        return str(artifact_uri(self.tenant, self.sha256))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def latest_run_key(
    conn: psycopg.AsyncConnection[Any], namespace: str, pipeline: str
) -> str | None:
    """The pipeline key (``ns/name/uid``) of the newest run of ``namespace/pipeline`` that has
    artifacts (pipelines deleted and re-created under the same name have a new uid)."""
    cur = await conn.execute(
        "SELECT pipeline_key FROM pf.artifacts WHERE pipeline_key LIKE %s ESCAPE '\\'"
        " AND pipeline_key NOT LIKE %s ESCAPE '\\'"
        " GROUP BY pipeline_key ORDER BY max(created_at) DESC LIMIT 1",
        (
            f"{_escape_like(namespace)}/{_escape_like(pipeline)}/%",
            f"{_escape_like(namespace)}/{_escape_like(pipeline)}/%/%",
        ),
    )
    row = await cur.fetchone()
    return str(row[0]) if row else None


async def list_artifacts(
    conn: psycopg.AsyncConnection[Any], pipeline_key: str, stage: str | None = None
) -> list[StoredArtifact]:
    cur = await conn.execute(
        "SELECT tenant_id, pipeline_key, stage, name, sha256, size, created_at FROM pf.artifacts"
        " WHERE pipeline_key = %s AND (%s::text IS NULL OR stage = %s) ORDER BY stage, name",
        (pipeline_key, stage, stage),
    )
    return [
        StoredArtifact(str(t), str(k), str(s), str(n), str(h), int(z), c)
        for t, k, s, n, h, z, c in await cur.fetchall()
    ]


async def read_blob(conn: psycopg.AsyncConnection[Any], uri: str) -> bytes:
    """The bytes of ``uri``, checked against their address."""
    try:
        tenant, sha = parse_uri(uri)
    except Exception as err:
        raise ArtifactNotFound(str(err)) from None
    cur = await conn.execute(
        "SELECT data FROM pf.blobs WHERE tenant_id = %s AND sha256 = %s", (tenant, sha)
    )
    row = await cur.fetchone()
    if row is None:
        raise ArtifactNotFound(f"artifact {uri} does not exist (or is not visible to this role)")
    data = bytes(row[0])
    if hashlib.sha256(data).hexdigest() != sha:
        raise ArtifactNotFound(f"artifact {uri} fails its checksum")
    return data


async def set_max_artifact_bytes(conn: psycopg.AsyncConnection[Any], limit: int) -> None:
    """The size cap the server enforces on every blob (operator role only)."""
    if limit < 1:
        raise ValueError("the artifact size limit must be positive")
    await conn.execute(
        "INSERT INTO pf.settings (key, value) VALUES ('max_artifact_bytes', to_jsonb(%s::bigint))"
        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        (limit,),
    )

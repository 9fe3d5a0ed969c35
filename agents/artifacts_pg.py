"""Artifact store in PostgreSQL, for agents (synchronous psycopg, one connection per process).

The URL is the tenant's DSN (``PF_ARTIFACTS``, from the tenant's Secret): the agent connects as
its tenant's role, and row-level security confines it to that tenant's rows. Blobs are
content-addressed per tenant (``pf.blobs``: sha256 -> bytes, checked by the server) and named
by ``pf.artifacts`` rows (pipeline key, stage, name -> sha256).

URIs look like ``pfdb://<tenant>/<sha256>``: no host, no credentials, so they are safe in a
pipeline's status; reading one needs a connection allowed to see that tenant's rows (the tenant's
role or the operator's).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

import psycopg

from .artifact_store import (
    DEFAULT_MAX_BYTES,
    ArtifactRef,
    ArtifactTooLarge,
    key_parts,
    safe_part,
)
from .errors import StageError

log = logging.getLogger(__name__)

URI_SCHEME = "pfdb"
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_TENANT_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
T = TypeVar("T")


def artifact_uri(tenant: str, sha256: str) -> str:
    return f"{URI_SCHEME}://{tenant}/{sha256}"


def parse_uri(uri: str) -> tuple[str, str]:
    """(tenant, sha256) of a ``pfdb://`` URI; StageError(ArtifactNotFound) when malformed."""
    parsed = urlparse(uri)
    tenant, sha = parsed.netloc, parsed.path.lstrip("/")
    if (
        parsed.scheme != URI_SCHEME
        or not _TENANT_RE.match(tenant)
        or len(tenant) > 63
        or not _SHA_RE.match(sha)
        or parsed.query
        or parsed.params
        or parsed.fragment
    ):
        raise StageError("ArtifactNotFound", f"not a {URI_SCHEME}:// artifact URI: {uri[:200]!r}")
    return tenant, sha


def _describe(err: BaseException) -> str:
    state = getattr(err, "sqlstate", None)
    first = (str(err).strip().splitlines() or [""])[0][:200]
    return f"{type(err).__name__}{f' [{state}]' if state else ''}: {first}"


class PgArtifactStore:
    """:class:`pf_agents.artifacts.ArtifactStore` on PostgreSQL."""

    def __init__(
        self,
        url: str,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        connect_attempts: int = 5,
        retry_delay: float = 0.5,
    ) -> None:
        self._url = url  # holds a password: never logged, never in an error message
        self.max_bytes = max_bytes
        self.connect_attempts = max(1, connect_attempts)
        self.retry_delay = retry_delay
        self._conn: psycopg.Connection[Any] | None = None
        self._tenant: str | None = None

    def __repr__(self) -> str:
        return f"PgArtifactStore(tenant={self._tenant!r})"

    # --- connection -------------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        last: Exception | None = None
        for attempt in range(self.connect_attempts):
            try:
                conn = psycopg.connect(
                    self._url,
                    autocommit=True,
                    connect_timeout=10,
                    application_name="pf-figma-agent",
                )
            except psycopg.OperationalError as err:
                last = err
                if attempt + 1 < self.connect_attempts:
                    time.sleep(self.retry_delay * 2**attempt)
                continue
            row = conn.execute(
                "SELECT tenant_id FROM pf.tenant_roles WHERE role_name = current_user"
            ).fetchone()
            if row is None:
                conn.close()
                raise StageError(
                    "ArtifactStoreDenied", "the artifact store's database role belongs to no tenant"
                )
            self._tenant = str(row[0])
            return conn
        why = _describe(last or Exception())
        raise StageError(
            "ArtifactStoreUnavailable", f"cannot connect to the artifact database: {why}"
        )

    @property
    def tenant(self) -> str:
        self._connection()
        assert self._tenant is not None
        return self._tenant

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        return self._conn

    def _run(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run ``fn`` on the connection; once more on a fresh one if the connection broke."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                return fn(conn)
            except psycopg.errors.ProgramLimitExceeded:
                raise  # the server's size cap: the caller turns it into ArtifactTooLarge
            except psycopg.Error as err:
                if attempt == 2 or not conn.broken:
                    raise StageError("ArtifactStoreError", _describe(err)) from None
                log.warning("artifact database connection lost (%s); reconnecting", _describe(err))
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- ArtifactStore --------------------------------------------------------------------------

    def put(self, pipeline_key: str, stage: str, name: str, data: bytes) -> ArtifactRef:
        if len(data) > self.max_bytes:
            raise ArtifactTooLarge(name, len(data), self.max_bytes)
        key_parts(pipeline_key)
        safe_part(stage, "stage")
        safe_part(name, "artifact name")
        digest = hashlib.sha256(data).hexdigest()

        def write(conn: psycopg.Connection[Any]) -> str:
            tenant = self._tenant
            assert tenant is not None
            with conn.transaction():
                have = conn.execute(
                    "SELECT 1 FROM pf.blobs WHERE tenant_id = %s AND sha256 = %s", (tenant, digest)
                ).fetchone()
                if have is None:
                    conn.execute(
                        "INSERT INTO pf.blobs (tenant_id, sha256, size, data)"
                        " VALUES (%s, %s, %s, %s) ON CONFLICT (tenant_id, sha256) DO NOTHING",
                        (tenant, digest, len(data), data),
                    )
                conn.execute(
                    "INSERT INTO pf.artifacts (tenant_id, pipeline_key, stage, name, sha256, size)"
                    " VALUES (%s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (tenant_id, pipeline_key, stage, name) DO UPDATE"
                    " SET sha256 = EXCLUDED.sha256, size = EXCLUDED.size, created_at = now()",
                    (tenant, pipeline_key, stage, name, digest, len(data)),
                )
            return tenant

        try:
            tenant = self._run(write)
        except psycopg.errors.ProgramLimitExceeded:
            raise ArtifactTooLarge(name, len(data), self._server_limit()) from None
        return ArtifactRef(
            stage=stage, name=name, uri=artifact_uri(tenant, digest), sha256=digest, size=len(data)
        )

    def _server_limit(self) -> int:
        row = self._run(
            lambda c: c.execute(
                "SELECT (value #>> '{}')::bigint FROM pf.settings WHERE key = 'max_artifact_bytes'"
            ).fetchone()
        )
        return int(row[0]) if row else self.max_bytes

    def get(self, uri: str) -> bytes:
        tenant, sha = parse_uri(uri)
        row = self._run(
            lambda c: c.execute(
                "SELECT data FROM pf.blobs WHERE tenant_id = %s AND sha256 = %s", (tenant, sha)
            ).fetchone()
        )
        if row is None:
            raise StageError("ArtifactNotFound", f"artifact {uri[:200]} does not exist")
        data = bytes(row[0])
        if hashlib.sha256(data).hexdigest() != sha:
            raise StageError("ArtifactCorrupt", f"artifact {sha[:12]} fails its checksum")
        return data

    def list(self, pipeline_key: str, stage: str | None = None) -> list[ArtifactRef]:
        key_parts(pipeline_key)
        if stage is not None:
            safe_part(stage, "stage")

        def query(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
            return conn.execute(
                "SELECT tenant_id, stage, name, sha256, size FROM pf.artifacts"
                " WHERE pipeline_key = %s AND (%s::text IS NULL OR stage = %s)"
                " ORDER BY stage, name",
                (pipeline_key, stage, stage),
            ).fetchall()

        return [
            ArtifactRef(stage=s, name=n, uri=artifact_uri(t, h), sha256=h, size=int(z))
            for t, s, n, h, z in self._run(query)
        ]

"""Connections and schema migrations of the PostgreSQL data layer.

* :func:`open_pool`: the operator's async connection pool. It opens without waiting, so the
  operator starts (and reconciles) while the database is down.
* :func:`migrate`: applies ``migrations/NNNN_name.sql`` in order, each once, in one transaction
  holding a transaction-scoped advisory lock: two replicas starting at once apply them once.

DSN helpers (never letting a password out) are in :mod:`.dsn`.

The operator's role (the DSN in ``PF_DATABASE_DSN``) needs ``LOGIN CREATEROLE`` (it makes one role
per tenant) and must own, or have ``CREATE`` on, a database dedicated to pf-figma. It must not be a
superuser: superusers bypass row-level security, which hides nothing from the operator but means
the tests of the policies would not test what runs.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from .roles import regrant_all

log = logging.getLogger(__name__)

SCHEMA = "pf"
#: pg_advisory_xact_lock key of migrations ("pf-figma" folded into a bigint).
MIGRATION_LOCK = int.from_bytes(
    hashlib.sha256(b"pf-figma:migrate").digest()[:8], "big", signed=True
)
_MIGRATION_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
APPLICATION_NAME = "pf-figma-operator"


class MigrationError(RuntimeError):
    """The database's schema history does not match the migrations shipped with this version."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """The shipped migrations, by version (file names ``NNNN_name.sql``)."""
    found: list[Migration] = []
    folder = resources.files(__package__).joinpath("migrations")
    for entry in folder.iterdir():
        match = _MIGRATION_RE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions: {versions}")
    return found


async def migrate(conninfo: str, migrations: list[Migration] | None = None) -> list[int]:
    """Apply the migrations that are not applied yet; return their versions.

    Idempotent, and safe to run from several processes at once: everything happens in one
    transaction that first takes ``pg_advisory_xact_lock(MIGRATION_LOCK)``; the second process
    waits, then finds nothing left to do. A migration that was applied with different content is
    an error (never silently re-applied or skipped).
    """
    todo = load_migrations() if migrations is None else migrations
    applied: list[int] = []
    async with await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, application_name=APPLICATION_NAME
    ) as conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA))
            )
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.schema_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                ).format(sql.Identifier(SCHEMA))
            )
            cur = await conn.execute(
                sql.SQL("SELECT version, checksum FROM {}.schema_migrations").format(
                    sql.Identifier(SCHEMA)
                )
            )
            done = {int(v): str(c) for v, c in await cur.fetchall()}
            for m in todo:
                if m.version in done:
                    if done[m.version] != m.checksum:
                        raise MigrationError(
                            f"migration {m.version:04d}_{m.name} was applied with different "
                            "content; ship a new migration instead of editing an applied one"
                        )
                    continue
                log.info("applying migration %04d_%s", m.version, m.name)
                await conn.execute(m.sql.encode())
                await conn.execute(
                    sql.SQL(
                        "INSERT INTO {}.schema_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)"
                    ).format(sql.Identifier(SCHEMA)),
                    (m.version, m.name, m.checksum),
                )
                applied.append(m.version)
            if applied:
                await regrant_all(conn)
    return applied


async def schema_version(conn: psycopg.AsyncConnection[Any]) -> int:
    """The newest applied migration (0 when none is)."""
    cur = await conn.execute(
        "SELECT coalesce(max(version), 0) FROM pf.schema_migrations"
        " WHERE to_regclass('pf.schema_migrations') IS NOT NULL"
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


def open_pool(
    conninfo: str, *, min_size: int = 1, max_size: int = 4, name: str = "pf-figma", **kwargs: Any
) -> AsyncConnectionPool:
    """An async pool on ``conninfo``, not opened yet: ``await pool.open(wait=False)``.

    Connections are checked when taken, so a server restart costs failed checks, not failed
    writes. Autocommit is on: callers that write several rows use ``conn.transaction()``.
    """
    kwargs.setdefault("reconnect_timeout", 60.0)
    return AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        check=AsyncConnectionPool.check_connection,
        kwargs={"autocommit": True, "application_name": APPLICATION_NAME, "connect_timeout": 5},
        **kwargs,
    )

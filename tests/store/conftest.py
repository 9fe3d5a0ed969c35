"""A real PostgreSQL for the store tests (Debian's packages via hack/postgres.sh), no stand-ins.

One server per session on a free loopback port in a temporary data directory, a non-superuser
operator role (LOGIN CREATEROLE, owner of a dedicated database) like production, and the
migrations applied. Tests that stop the server get their own (``make_server``).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from pfstore_support import Database, Server, _destroy, _new_server, create_database
from psycopg_pool import AsyncConnectionPool

from pf_operator.store import db as store_db


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    server = _new_server()
    try:
        yield server
    finally:
        _destroy(server)


@pytest.fixture(scope="session")
def database(pg_server: Server) -> Database:
    return create_database(pg_server, "pf")


@pytest.fixture
def make_server() -> Iterator[Callable[[], Server]]:
    made: list[Server] = []

    def make() -> Server:
        server = _new_server()
        made.append(server)
        return server

    yield make
    for server in made:
        _destroy(server)


@pytest.fixture
async def pool(database: Database) -> AsyncIterator[AsyncConnectionPool]:
    p = store_db.open_pool(database.operator_dsn)
    await p.open(wait=True, timeout=20)
    try:
        yield p
    finally:
        await p.close()


_counter = iter(range(1, 10_000))


@pytest.fixture
def tenant_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Unique tenant names (tests share one database)."""

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{next(_counter)}-{secrets.token_hex(2)}"

    return make

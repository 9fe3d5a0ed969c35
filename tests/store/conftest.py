"""A real PostgreSQL for the store tests (Debian's packages via hack/postgres.sh), no stand-ins.

One server per session on a free loopback port in a temporary data directory, a non-superuser
operator role (LOGIN CREATEROLE, owner of a dedicated database) like production, and the
migrations applied. Tests that stop the server get their own (``make_server``).
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pf_operator.store import db as store_db
from pf_operator.store import roles

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "hack" / "postgres.sh"
OPERATOR_ROLE = "pf_op"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dsn(user: str, password: str, port: int, dbname: str) -> str:
    return f"postgresql://{user}:{password}@127.0.0.1:{port}/{dbname}?connect_timeout=5"


@dataclass
class Server:
    root: Path
    port: int
    password: str

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.data / "server.log"

    def superuser_dsn(self, dbname: str = "postgres") -> str:
        return _dsn("postgres", self.password, self.port, dbname)

    def _script(self, *args: str) -> None:
        proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"hack/postgres.sh {args[0]} failed: {proc.stderr[-2000:]}")

    def up(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        self._script("up", str(self.data), str(self.port), str(pwfile))
        pwfile.unlink()

    def start(self) -> None:
        self._script("start", str(self.data), str(self.port))

    def stop(self, mode: str = "fast") -> None:
        self._script("stop", str(self.data), mode)

    def sql(self, statement: str, dbname: str = "postgres") -> None:
        with psycopg.connect(self.superuser_dsn(dbname), autocommit=True) as conn:
            conn.execute(statement.encode())


@dataclass
class Database:
    server: Server
    name: str
    operator_password: str

    @property
    def operator_dsn(self) -> str:
        return _dsn(OPERATOR_ROLE, self.operator_password, self.server.port, self.name)

    @property
    def superuser_dsn(self) -> str:
        return self.server.superuser_dsn(self.name)

    def tenant_dsn(self, creds: roles.TenantCredentials) -> str:
        return roles.tenant_dsn(self.operator_dsn, creds)


def _new_server() -> Server:
    root = Path(tempfile.mkdtemp(prefix="pf-pg-"))
    root.chmod(0o711)  # the server runs as "postgres" when we are root
    server = Server(root=root, port=free_port(), password=secrets.token_urlsafe(16))
    server.up()
    return server


def _destroy(server: Server) -> None:
    try:
        server.stop("immediate")
    except RuntimeError:
        pass
    shutil.rmtree(server.root, ignore_errors=True)


def create_database(server: Server, name: str, operator_password: str) -> Database:
    """A database owned by the operator role (created once per server), migrations applied."""
    with psycopg.connect(server.superuser_dsn(), autocommit=True) as conn:
        have = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                            (OPERATOR_ROLE,)).fetchone()
        if have is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
                sql.Identifier(OPERATOR_ROLE), sql.Literal(operator_password)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(OPERATOR_ROLE)))
    database = Database(server, name, operator_password)
    asyncio.run(store_db.migrate(database.operator_dsn))
    return database


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    server = _new_server()
    try:
        yield server
    finally:
        _destroy(server)


@pytest.fixture(scope="session")
def database(pg_server: Server) -> Database:
    return create_database(pg_server, "pf", secrets.token_urlsafe(16))


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
async def pool(database: Database) -> AsyncIterator[store_db.AsyncConnectionPool]:
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

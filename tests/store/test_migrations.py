"""Schema migrations: ordered, once, concurrent-safe, and tamper-evident."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets

import psycopg
import pytest
from pfstore_support import Database, Server, create_database

from pf_operator.store import db as store_db
from pf_operator.store.cli import migrate_main


def _versions(dsn: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute(
            "SELECT version FROM pf.schema_migrations ORDER BY version").fetchall()]


def test_shipped_migrations_are_numbered_in_order() -> None:
    migrations = store_db.load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert all(m.sql.strip() for m in migrations)


def test_migrate_again_is_a_no_op(database: Database) -> None:
    before = _versions(database.operator_dsn)
    assert before == [m.version for m in store_db.load_migrations()]
    assert asyncio.run(store_db.migrate(database.operator_dsn)) == []
    assert _versions(database.operator_dsn) == before


def test_replicas_migrating_at_once_apply_each_migration_once(pg_server: Server) -> None:
    """Eight "replicas" race on a fresh database: one applies, the rest wait and find it done."""
    dsn = create_database(pg_server, f"race_{secrets.token_hex(3)}", migrate=False).operator_dsn

    async def race() -> list[list[int]]:
        return list(await asyncio.gather(*(store_db.migrate(dsn) for _ in range(8))))

    results = asyncio.run(race())
    shipped = [m.version for m in store_db.load_migrations()]
    assert sorted(results, key=len) == [[]] * 7 + [shipped]
    assert _versions(dsn) == shipped


def test_an_edited_applied_migration_is_refused(database: Database) -> None:
    edited = [dataclasses.replace(m, sql=m.sql + "\n-- edited\n")
              for m in store_db.load_migrations()]
    with pytest.raises(store_db.MigrationError, match="different content"):
        asyncio.run(store_db.migrate(database.operator_dsn, edited))


def test_a_new_migration_applies_after_the_others(pg_server: Server) -> None:
    fresh = create_database(pg_server, f"next_{secrets.token_hex(3)}")
    extra = store_db.Migration(999, "extra", "CREATE TABLE pf.extra (x int);")
    applied = asyncio.run(store_db.migrate(fresh.operator_dsn,
                                           [*store_db.load_migrations(), extra]))
    assert applied == [999]
    with psycopg.connect(fresh.operator_dsn) as conn:
        assert conn.execute("SELECT to_regclass('pf.extra') IS NOT NULL").fetchone() == (True,)


def test_a_failing_migration_leaves_nothing_half_done(pg_server: Server) -> None:
    fresh = create_database(pg_server, f"fail_{secrets.token_hex(3)}")
    bad = [store_db.Migration(998, "half", "CREATE TABLE pf.half (x int); SELECT 1/0;")]
    with pytest.raises(psycopg.errors.DivisionByZero):
        asyncio.run(store_db.migrate(fresh.operator_dsn, [*store_db.load_migrations(), *bad]))
    with psycopg.connect(fresh.operator_dsn) as conn:
        assert conn.execute("SELECT to_regclass('pf.half')").fetchone() == (None,)
    assert 998 not in _versions(fresh.operator_dsn)


def test_migrate_command(database: Database, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PF_DATABASE_DSN", database.operator_dsn)
    assert migrate_main([]) == 0
    assert "up to date" in capsys.readouterr().out
    wrong = database.operator_dsn.replace(database.operator_password, "wrong-password")
    assert migrate_main(["--dsn", wrong]) == 1
    err = capsys.readouterr().err
    assert "migration failed" in err and "wrong-password" not in err
    assert migrate_main(["--list"]) == 0
    assert "0001_init" in capsys.readouterr().out

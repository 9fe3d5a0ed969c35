"""DSN helpers: redaction and the NetworkPolicy egress endpoint (no database needed)."""

from __future__ import annotations

import pytest

from pf_operator.render.common import EgressEndpoint
from pf_operator.store.dsn import dsn_egress, dsn_endpoints, redact_dsn


def test_redact_dsn_hides_every_secret() -> None:
    for dsn in ("postgresql://op:s3cret@db:5432/pf?sslmode=require",
                "host=db user=op password=s3cret dbname=pf sslpassword=s3cret"):
        out = redact_dsn(dsn)
        assert "s3cret" not in out and "***" in out and "db" in out
    assert redact_dsn("postgresql://op:s3cret@db:notaport/pf%") in (
        "<unparseable DSN>", redact_dsn("postgresql://op:***@db:notaport/pf%"))
    assert "s3cret" not in redact_dsn("postgresql://op:s3cret@db:notaport/pf%")


def test_endpoints_of_urls_and_keyword_dsns() -> None:
    assert dsn_endpoints("postgresql://u:p@db.example/pf") == [("db.example", 5432)]
    assert dsn_endpoints("postgresql://u:p@10.0.0.5:6432/pf") == [("10.0.0.5", 6432)]
    assert dsn_endpoints("host=a,b port=5433,5434 dbname=pf") == [("a", 5433), ("b", 5434)]
    assert dsn_endpoints("host=/var/run/postgresql dbname=pf") == []
    assert dsn_endpoints("host=db hostaddr=10.1.2.3 port=5000") == [("10.1.2.3", 5000)]


def test_dsn_egress_resolves_to_host_routes() -> None:
    fake = {"db.example": ["10.20.30.40"], "v6.example": ["fd00::1"]}
    assert dsn_egress("postgresql://u:p@db.example:6432/pf", resolve=fake.__getitem__) == [
        EgressEndpoint("10.20.30.40/32", 6432)]
    assert dsn_egress("postgresql://u:p@v6.example/pf", resolve=fake.__getitem__) == [
        EgressEndpoint("fd00::1/128", 5432)]
    # an IP needs no DNS; the real resolver handles it
    assert dsn_egress("postgresql://u:p@192.168.1.9/pf") == [EgressEndpoint("192.168.1.9/32", 5432)]
    assert dsn_egress("postgresql://u:p@localhost:5432/pf")[0].cidr in ("127.0.0.1/32", "::1/128")
    with pytest.raises(OSError):
        dsn_egress("postgresql://u:p@does-not-exist.invalid/pf")

"""One home for RFC 3339 times as the Kubernetes API writes them. Pure."""

from __future__ import annotations

from datetime import UTC, datetime


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes metav1.Time."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds, as Kubernetes writes metav1.MicroTime (Leases, Events)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | datetime | None) -> datetime | None:
    """An RFC 3339 time (``Z`` or an offset, with or without fractions) as an aware datetime;
    None for None or ""; a datetime is returned as it is (naive ones are taken as UTC)."""
    if not value:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed

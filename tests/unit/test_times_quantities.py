"""The one home of RFC 3339 times (operator/times.py) and quantities (operator/quantities.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from pf_operator.quantities import quantity_value
from pf_operator.times import format_micro_time, format_time, parse_time

WHEN = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def test_formats() -> None:
    assert format_time(WHEN) == "2025-01-02T03:04:05Z"
    assert format_micro_time(WHEN) == "2025-01-02T03:04:05.123456Z"
    plus_two = WHEN.astimezone(timezone(timedelta(hours=2)))
    assert format_time(plus_two) == "2025-01-02T03:04:05Z"
    assert format_micro_time(plus_two) == "2025-01-02T03:04:05.123456Z"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2025-01-02T03:04:05Z", WHEN.replace(microsecond=0)),
        ("2025-01-02T03:04:05.123456Z", WHEN),
        ("2025-01-02T05:04:05+02:00", WHEN.replace(microsecond=0)),
        ("2025-01-02T03:04:05", WHEN.replace(microsecond=0)),  # naive: UTC
        (WHEN, WHEN),
        (None, None),
        ("", None),
    ],
)
def test_parse_time(text: str | datetime | None, value: datetime | None) -> None:
    parsed = parse_time(text)
    assert parsed == value
    assert parsed is None or parsed.tzinfo is not None


def test_round_trip() -> None:
    assert parse_time(format_time(WHEN)) == WHEN.replace(microsecond=0)
    assert parse_time(format_micro_time(WHEN)) == WHEN


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1Gi", Decimal(2**30)),
        ("1024Mi", Decimal(2**30)),
        ("500m", Decimal("0.5")),
        ("-1", Decimal(-1)),
        ("-500m", Decimal("-0.5")),
        (3, Decimal(3)),
        ("1E", Decimal(10**18)),
        ("1e3", Decimal(1000)),
        ("TCP", None),
        ("10.0.0.0/8", None),
        ("", None),
        ("-", None),
    ],
)
def test_quantity_value(text: str | int, value: Decimal | None) -> None:
    assert quantity_value(text) == value

"""One home for Kubernetes resource quantities ("500m", "1Gi", "1e3"). Pure."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY_RE = re.compile(
    r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def parse_quantity(value: str | int) -> Decimal:
    """The value of a non-negative Kubernetes quantity ("500m" -> 0.5, "1Gi" -> 1073741824)."""
    text = str(value).strip()
    if not _QUANTITY_RE.match(text):
        raise ValueError(f"not a non-negative Kubernetes quantity: {value!r}")
    text = text.removeprefix("+")
    if text[-2:] in _BINARY_SUFFIXES:
        return Decimal(text[:-2]) * _BINARY_SUFFIXES[text[-2:]]
    if text[-1] in _DECIMAL_SUFFIXES:  # "E" is exa here, not an exponent
        return Decimal(text[:-1]) * _DECIMAL_SUFFIXES[text[-1]]
    return Decimal(text)  # plain or with a decimal exponent, e.g. 1e3


def quantity_value(value: str | int) -> Decimal | None:
    """The value of a quantity, negative ones included; None when ``value`` is not a quantity
    (for comparing fields that may or may not hold one: "1Gi" equals "1024Mi")."""
    text = str(value).strip()
    negative = text.startswith("-")
    try:
        number = parse_quantity(text.removeprefix("-") if negative else text)
    except (ValueError, InvalidOperation):
        return None
    return -number if negative else number

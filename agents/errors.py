"""The one exception type a stage raises for expected failures."""

from __future__ import annotations


class StageError(Exception):
    """An expected failure with a CamelCase reason and a human readable message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"

"""operator/logs.py: JSON logs, one object per line."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from pf_operator import logs
from pf_operator.logs import JsonFormatter


def record(msg: str = "hello %s", args: tuple[Any, ...] = ("world",), *,
           level: int = logging.INFO, extra: dict[str, Any] | None = None,
           exc_info: Any = None) -> logging.LogRecord:
    logger = logging.getLogger("pf.test")
    return logger.makeRecord("pf.test", level, __file__, 42, msg, args, exc_info, extra=extra)


def fmt(rec: logging.LogRecord) -> dict[str, Any]:
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    value = json.loads(line)
    assert isinstance(value, dict)
    return value


def test_basic_fields() -> None:
    entry = fmt(record(level=logging.WARNING))
    assert entry["level"] == "warning"
    assert entry["logger"] == "pf.test"
    assert entry["msg"] == "hello world"
    assert set(entry) == {"ts", "level", "logger", "msg"}
    ts = datetime.fromisoformat(entry["ts"])
    assert ts.utcoffset() is not None and ts.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert entry["ts"].endswith("+00:00")
    assert len(entry["ts"].split(".")[1].split("+")[0]) == 3  # milliseconds


def test_multi_line_message_stays_on_one_line() -> None:
    entry = fmt(record("line one\nline two\r\n\tthree", ()))
    assert entry["msg"] == "line one\nline two\r\n\tthree"


def test_unicode_is_kept() -> None:
    line = JsonFormatter().format(record("Größe → %s", ("✓",)))
    assert "Größe → ✓" in line
    assert json.loads(line)["msg"] == "Größe → ✓"


def test_extras() -> None:
    class Thing:
        def __str__(self) -> str:
            return "thing!"

    entry = fmt(record(extra={
        "tenant": "acme", "attempt": 2, "seconds": 1.5, "ok": True, "nothing": None,
        "obj": Thing(), "items": [1, 2], "mapping": {"a": 1},
    }))
    assert entry["tenant"] == "acme"
    assert entry["attempt"] == 2
    assert entry["seconds"] == 1.5
    assert entry["ok"] is True
    assert entry["nothing"] is None
    assert entry["obj"] == "thing!"
    assert entry["items"] == "[1, 2]"
    assert entry["mapping"] == "{'a': 1}"


def test_standard_record_attributes_are_not_emitted() -> None:
    entry = fmt(record())
    for attr in ("args", "pathname", "lineno", "funcName", "process", "thread", "created",
                 "msecs", "levelno", "exc_text", "stack_info", "message"):
        assert attr not in entry


def test_private_extras_are_not_emitted() -> None:
    entry = fmt(record(extra={"_private": 1, "public": 2}))
    assert "_private" not in entry
    assert entry["public"] == 2


def test_exception() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        rec = record("failed", (), level=logging.ERROR, exc_info=sys.exc_info())
    entry = fmt(rec)
    assert entry["msg"] == "failed"
    assert entry["level"] == "error"
    assert entry["exc"].startswith("Traceback (most recent call last):")
    assert "ValueError: boom\nsecond line" in entry["exc"]
    assert "test_logs.py" in entry["exc"]


def test_no_exc_key_without_exception() -> None:
    assert "exc" not in fmt(record())


def test_message_with_bad_format_args_still_formats_message() -> None:
    assert fmt(record("100% done", ()))["msg"] == "100% done"


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("kopf").level,
             logging.getLogger("httpx").level)
    yield root
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.getLogger("kopf").setLevel(saved[2])
    logging.getLogger("httpx").setLevel(saved[3])


def test_setup_json(root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup("debug", "json")
    assert len(root_logger.handlers) == 1
    assert isinstance(root_logger.handlers[0].formatter, JsonFormatter)
    assert root_logger.level == logging.DEBUG
    assert logging.getLogger("kopf").level == logging.WARNING
    assert logging.getLogger("httpx").level == logging.WARNING
    logging.getLogger("pf.test.setup").info("one %d", 1, extra={"tenant": "acme"})
    logging.getLogger("pf.test.setup").info("two")
    lines = capsys.readouterr().err.splitlines()
    entries = [json.loads(line) for line in lines]
    assert [(e["msg"], e.get("tenant")) for e in entries] == [("one 1", "acme"), ("two", None)]


def test_setup_text(root_logger: logging.Logger) -> None:
    logs.setup("ERROR", "text")
    assert not isinstance(root_logger.handlers[0].formatter, JsonFormatter)
    assert root_logger.level == logging.ERROR
    assert logging.getLogger("kopf").level == logging.ERROR

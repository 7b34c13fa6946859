"""Structured logs: one JSON object per line with the ``extra`` fields, or key=value text."""

from __future__ import annotations

import io
import json
import logging

import pytest

from lorafleet.logging_setup import configure_logging


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_extra_fields(restore_root_logger):
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    log = logging.getLogger("lorafleet.test")
    log.info("adapter loaded", extra={"adapter": "bot@3", "seconds": 0.25, "path": object.__name__})
    log.debug("not shown")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed", extra={"msg_id": 7})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["msg"] == "adapter loaded" and first["level"] == "INFO" and first["logger"] == "lorafleet.test"
    assert first["adapter"] == "bot@3" and first["seconds"] == 0.25 and first["ts"].endswith("+00:00")
    assert second["msg_id"] == 7 and "ValueError: boom" in second["exc"]


def test_text_format_and_reconfiguration_replace_the_handler(restore_root_logger):
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", "json", first)
    configure_logging("WARNING", "text", second)
    logging.getLogger("x").warning("careful", extra={"count": 3})
    logging.getLogger("x").info("hidden")
    assert first.getvalue() == ""
    assert second.getvalue().rstrip().endswith("WARNING x: careful count=3")


@pytest.mark.parametrize("level,fmt", [("LOUD", "json"), ("INFO", "xml")])
def test_bad_level_or_format_is_refused(level, fmt, restore_root_logger):
    with pytest.raises(ValueError):
        configure_logging(level, fmt)

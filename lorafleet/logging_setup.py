"""Process-wide logging: one JSON object per line (for log shippers) or plain text (for humans).

Code logs with ``log.info("adapter loaded", extra={"adapter": ref, "seconds": 0.4})``; the
``extra`` fields become top-level keys of the JSON object (or ``key=value`` pairs in text), so
logs can be filtered by field without parsing messages. Logs go to stderr: stdout stays free
for command output (``--json`` results of the CLI).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lorafleet.config import Settings

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName"}

_HANDLER_MARK = "_lorafleet_handler"


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of a record, in the order they were given."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}


def _timestamp(record: logging.LogRecord) -> str:
    return _dt.datetime.fromtimestamp(record.created, tz=_dt.timezone.utc).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", **extra, "exc"?}`` on one line; non-JSON values via ``str``."""

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            obj[key if key not in obj else f"extra_{key}"] = value
        if record.exc_info:
            obj["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            obj["stack"] = self.formatStack(record.stack_info)
        return json.dumps(obj, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``<ts> <LEVEL> <logger>: <msg> key=value ...`` for terminals."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"]
        parts += [f"{k}={v}" for k, v in extra_fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def configure_logging(level: str = "INFO", fmt: str = "json", stream: IO[str] | None = None) -> logging.Handler:
    """Install one handler on the root logger (idempotent: replaces the one installed before).

    ``fmt`` is ``json`` or ``text``; ``level`` a logging level name (``DEBUG``, ``INFO``...).
    """
    if fmt not in ("json", "text"):
        raise ValueError(f"log format {fmt!r} is not one of json, text")
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"log level {level!r} is not a logging level name")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(numeric)
    return handler


def configure_from_settings(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """``configure_logging`` from ``Settings.log_level`` / ``Settings.log_format``."""
    return configure_logging(settings.log_level, settings.log_format, stream)

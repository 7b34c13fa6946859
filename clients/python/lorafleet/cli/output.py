"""How commands print: ``--json`` (one JSON document on stdout, for scripts) or rich tables."""

from __future__ import annotations

import datetime as _dt
import json
import sys
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console


def message_dict(message: Message) -> dict[str, Any]:
    """Protobuf -> dict with proto field names, enum names and every field (also defaults)."""
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def print_json(obj: Any) -> None:
    if isinstance(obj, Message):
        obj = message_dict(obj)
    json.dump(obj, sys.stdout, indent=2, sort_keys=False, ensure_ascii=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def console() -> Console:
    """A console on stdout; never wraps tables narrower than 120 columns when piped."""
    return Console(width=None if sys.stdout.isatty() else 160, soft_wrap=False)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def timestamp(ts: Any) -> str:
    """google.protobuf.Timestamp -> 'YYYY-MM-DD HH:MM:SS' UTC ('' when unset)."""
    if not ts.seconds and not ts.nanos:
        return ""
    return _dt.datetime.fromtimestamp(ts.seconds, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

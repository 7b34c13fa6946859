"""The one validation layer for paths, sizes and untrusted text that every servicer shares.

* :func:`confine_path`: a path a client names must resolve inside one of the server's data roots
  (``settings.data_roots``). Refused, with INVALID_ARGUMENT naming the field: an empty or over-long
  path, a NUL byte (``ValueError: embedded null byte`` deeper down), a ``..`` component, anything that
  resolves outside every root once symlinks are followed (a link in a root pointing at ``/etc``),
  a symlink loop, a name the file system cannot hold. A path that is inside but missing, or of the
  wrong kind, is NOT_FOUND. With no data roots configured, reading by path is disabled.
* :func:`check_text`: a string field's length cap (and, optionally, printable characters only).
* :func:`quote` (from ``lorafleet.errors``): how an error message shows a bad value, a short prefix.
* :func:`safe_details`: what any status message is cut to before it leaves the server, so no error
  ever carries a whole input (gRPC refuses status metadata over its size limits).
* :func:`is_file`, :func:`parse_error_where`: reading a file a request names without an exception on a
  bad name, and reporting a parse error by position only (a parser's message quotes the file).
* :func:`load_json_line`: ``json.loads`` for untrusted text that only ever raises ``JSONDecodeError``:
  deep nesting (``RecursionError``) and integers over Python's digit limit (``ValueError``) become
  short decode errors instead of escaping as bugs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lorafleet.errors import InvalidArgument, NotFound, quote

__all__ = ["MAX_DETAILS_BYTES", "MAX_PATH_CHARS", "check_text", "confine_path", "is_file", "load_json_line",
           "parse_error_where", "quote", "safe_details"]

#: Longest path accepted in a request (Linux's PATH_MAX).
MAX_PATH_CHARS = 4096
#: Longest status message (UTF-8 bytes) a server sends; longer ones are cut with an ellipsis.
MAX_DETAILS_BYTES = 1024
#: Longest integer literal accepted in untrusted JSON (Python's own default int_max_str_digits is 4300).
MAX_JSON_INT_DIGITS = 4300


def confine_path(text: str, roots: Sequence[Path], *, field: str, kind: str | None = "file",
                 disabled_hint: str = "") -> Path:
    """``text`` resolved (symlinks followed) inside one of ``roots``, and an existing ``kind`` ("file" or
    "dir"; None: not checked); see the module docstring for what is refused. ``roots`` must be resolved
    absolute paths."""
    if not roots:
        raise InvalidArgument(f"reading by path is disabled (no data_roots configured){disabled_hint}", field=field)
    resolved = _resolve(text, field)
    if not any(resolved.is_relative_to(root) for root in roots):
        raise InvalidArgument(f"{quote(text)} is outside the configured data roots", field=field)
    if kind is None:
        return resolved
    try:
        ok = resolved.is_dir() if kind == "dir" else resolved.is_file()
    except OSError as exc:
        raise InvalidArgument(f"{quote(text)} cannot be read: {exc.strerror or type(exc).__name__}",
                              field=field) from None
    if not ok:
        what = "a directory" if kind == "dir" else "a file"
        raise NotFound(f"{quote(text)} does not exist or is not {what}", field=field)
    return resolved


def _resolve(text: str, field: str) -> Path:
    if not text:
        raise InvalidArgument("must not be empty", field=field)
    if len(text) > MAX_PATH_CHARS:
        raise InvalidArgument(f"must be at most {MAX_PATH_CHARS} characters, got {len(text)}", field=field)
    if "\x00" in text:
        raise InvalidArgument(f"{quote(text)} contains a NUL byte", field=field)
    if ".." in Path(text).parts:
        raise InvalidArgument(f"{quote(text)} must not contain '..' components", field=field)
    try:
        return Path(os.path.expanduser(text)).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop is RuntimeError before Python 3.13
        raise InvalidArgument(f"{quote(text)} cannot be resolved: {type(exc).__name__}", field=field) from None


def is_file(path: Path) -> bool:
    """``path.is_file()``, but False for a name the file system refuses (too long, a NUL byte) instead of raising."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def parse_error_where(exc: BaseException) -> str:
    """`` at line L, column C`` of a YAML or JSON parse error, or "": its own text would quote the file."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f" at line {mark.line + 1}, column {mark.column + 1}"
    if isinstance(exc, json.JSONDecodeError):
        return f" at line {exc.lineno}, column {exc.colno}"
    return ""


def check_text(value: str, field: str, limit: int, *, printable: bool = False) -> str:
    """``value`` when it is at most ``limit`` characters (and printable, when asked); else InvalidArgument."""
    if len(value) > limit:
        raise InvalidArgument(f"must be at most {limit} characters, got {len(value)}", field=field)
    if printable and not value.isprintable():
        raise InvalidArgument(f"{quote(value)} must be printable text", field=field)
    return value


def safe_details(text: str, limit: int = MAX_DETAILS_BYTES) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (ending in "…" when cut), lone surrogates replaced."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return data.decode("utf-8")
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise ValueError(f"an integer of {len(digits)} digits (at most {MAX_JSON_INT_DIGITS})")
    return int(digits)


def load_json_line(text: str) -> Any:
    """``json.loads(text)`` that raises nothing but ``json.JSONDecodeError`` (with a short message)."""
    try:
        return json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None
    except ValueError as exc:
        raise json.JSONDecodeError(str(exc)[:120], text, 0) from None

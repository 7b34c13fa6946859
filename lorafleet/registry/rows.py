"""Row access shared by the registry's version operations (``store``) and alias operations (``aliases``).

Both halves start every read-modify-write by locking the name's row and read version rows the
same way (see ``lorafleet.registry.store`` on atomicity); this module gives each of those one
definition that both import, without an import cycle between them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.engine import Connection

from lorafleet.errors import InvalidArgument
from lorafleet.registry import schema

V = schema.adapter_versions
A = schema.aliases
H = schema.alias_history
N = schema.adapter_names
MAX_VERSION = 2**31 - 1  # INTEGER column on every backend


def check_version(version: int, field: str = "version") -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise InvalidArgument(f"must be an integer from 1 to {MAX_VERSION}, got {version!r}", field=field)
    return version


def lock_name(conn: Connection, name: str) -> Row[Any] | None:
    """Lock the name's row (PostgreSQL row lock; SQLite holds the DB write lock already)."""
    return conn.execute(select(N).where(N.c.name == name).with_for_update()).first()


def version_row(conn: Connection, name: str, version: int) -> Row[Any] | None:
    return conn.execute(select(V).where(V.c.name == name, V.c.version == version)).first()

"""The registry's alias operations: compare-and-set moves, rollback, lookups and history.

Split from ``store`` so that the version lifecycle and the alias pointers each read on their
own. ``Registry`` mixes :class:`AliasOps` in, so callers keep calling ``registry.set_alias(...)``.
Every move runs in a write transaction under the name lock (see ``lorafleet.registry.store`` on
atomicity) and appends one ``alias_history`` row, so the history is an unbroken chain.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, Row, select
from sqlalchemy.engine import Connection

from lorafleet.errors import Aborted, FailedPrecondition, NotFound
from lorafleet.refs import DEFAULT_ALIAS, validate_alias, validate_name
from lorafleet.registry import schema
from lorafleet.registry.db import read_tx, write_tx
from lorafleet.registry.models import AdapterState, AliasChangeRecord, AliasRecord
from lorafleet.registry.rows import A, H, check_version, lock_name, version_row

log = logging.getLogger(__name__)


class AliasOps:
    """Alias methods of ``Registry``; needs only its SQLAlchemy ``engine``."""

    engine: Engine

    def _move_alias(self, conn: Connection, name: str, alias: str, version: int, current: Row[Any] | None,
                    reason: str) -> tuple[AliasRecord, int]:
        now = schema.utcnow()
        previous = current.version if current is not None else 0
        if current is not None and previous == version:
            return AliasRecord(name, alias, version, current.updated_at), previous
        if current is None:
            conn.execute(A.insert().values(name=name, alias=alias, version=version, updated_at=now))
        else:
            conn.execute(A.update().where(A.c.name == name, A.c.alias == alias).values(version=version, updated_at=now))
        conn.execute(H.insert().values(name=name, alias=alias, from_version=previous, to_version=version,
                                       reason=reason, changed_at=now))
        log.info("alias moved", extra={"adapter": name, "alias": alias, "from_version": previous,
                                       "to_version": version, "reason": reason})
        return AliasRecord(name, alias, version, now), previous

    def _check_target(self, conn: Connection, name: str, alias: str, version: int) -> None:
        row = version_row(conn, name, version)
        if row is None:
            raise NotFound(f"adapter {name}@{version} does not exist", field="version")
        if alias == DEFAULT_ALIAS and row.state == AdapterState.REJECTED.value:
            raise FailedPrecondition(f"{name}@{version} is REJECTED and cannot become {name}@{DEFAULT_ALIAS}",
                                     field="version")

    def _current_alias(self, conn: Connection, name: str, alias: str, expected: int | None) -> Row[Any] | None:
        current = conn.execute(select(A).where(A.c.name == name, A.c.alias == alias)).first()
        if expected is not None:
            now_at = current.version if current is not None else 0
            if now_at != expected:
                raise Aborted(f"{name}@{alias} points at version {now_at}, not the expected {expected}",
                              field="expected_current_version")
        return current

    def set_alias(self, name: str, alias: str, version: int, *, expected_current_version: int | None = None,
                  reason: str = "") -> tuple[AliasRecord, int]:
        """Point ``name@alias`` at ``version``; returns (alias, previous version or 0).

        ``expected_current_version`` makes it a compare-and-set (0 = the alias must not exist);
        a mismatch is Aborted. Setting the version it already has is a no-op (no history entry).
        """
        validate_name(name)
        validate_alias(alias)
        check_version(version)
        with write_tx(self.engine) as conn:
            if lock_name(conn, name) is None:
                raise NotFound(f"adapter {name!r} does not exist", field="name")
            current = self._current_alias(conn, name, alias, expected_current_version)
            self._check_target(conn, name, alias, version)
            return self._move_alias(conn, name, alias, version, current, reason)

    def rollback_alias(self, name: str, alias: str, *, reason: str = "",
                       expected_current_version: int | None = None) -> tuple[AliasRecord, int]:
        """Move the alias back to the ``from_version`` of its last move (recorded as a move too).

        FailedPrecondition when there is nothing to roll back to (no move yet, or the last move
        created the alias) or that version was deleted.
        """
        validate_name(name)
        validate_alias(alias)
        with write_tx(self.engine) as conn:
            if lock_name(conn, name) is None:
                raise NotFound(f"adapter {name!r} does not exist", field="name")
            current = self._current_alias(conn, name, alias, expected_current_version)
            last = conn.execute(select(H).where(H.c.name == name, H.c.alias == alias)
                                .order_by(H.c.id.desc()).limit(1)).first()
            if current is None or last is None or last.from_version == 0:
                raise FailedPrecondition(f"{name}@{alias} has no previous version to roll back to", field="alias")
            target = last.from_version
            if version_row(conn, name, target) is None:
                raise FailedPrecondition(f"{name}@{alias} was at version {target} before, which has been deleted",
                                         field="alias")
            self._check_target(conn, name, alias, target)
            full_reason = f"rollback: {reason}" if reason else "rollback"
            return self._move_alias(conn, name, alias, target, current, full_reason)

    def get_alias(self, name: str, alias: str) -> AliasRecord | None:
        validate_name(name)
        validate_alias(alias)
        with read_tx(self.engine) as conn:
            row = conn.execute(select(A).where(A.c.name == name, A.c.alias == alias)).first()
        return AliasRecord(row.name, row.alias, row.version, row.updated_at) if row is not None else None

    def list_aliases(self, name: str | None = None) -> list[AliasRecord]:
        q = select(A).order_by(A.c.name, A.c.alias)
        if name:
            validate_name(name)
            q = q.where(A.c.name == name)
        with read_tx(self.engine) as conn:
            return [AliasRecord(r.name, r.alias, r.version, r.updated_at) for r in conn.execute(q)]

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChangeRecord]:
        """Every move of the name's aliases (or of one alias), oldest first."""
        validate_name(name)
        q = select(H).where(H.c.name == name)
        if alias:
            validate_alias(alias)
            q = q.where(H.c.alias == alias)
        with read_tx(self.engine) as conn:
            return [AliasChangeRecord(r.name, r.alias, r.from_version, r.to_version, r.reason, r.changed_at)
                    for r in conn.execute(q.order_by(H.c.id))]

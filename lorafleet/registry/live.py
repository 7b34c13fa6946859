"""Live requests and their feedback: which version served a request id, and what the user said.

Only ids, versions, arms and scores are kept — never prompts or replies. A feedback comment is
user text: it is stored redacted by the caller and cleared after its retention
(``purge``). Rows older than the retention are deleted, so the table stays bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from lorafleet.errors import AlreadyExists, InvalidArgument, NotFound
from lorafleet.registry import schema
from lorafleet.registry.db import read_tx, write_tx
from lorafleet.registry.models import LiveRequestRecord

L = schema.live_requests
F = schema.live_feedback


class LiveStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record_requests(self, rows: Sequence[LiveRequestRecord]) -> int:
        """Insert, ignoring request ids already known (a client may reuse its own ids)."""
        if not rows:
            return 0
        values = [{"request_id": r.request_id[:128], "name": r.name, "version": r.version, "arm": r.arm,
                   "rollout_id": r.rollout_id, "created_at": r.created_at} for r in rows]
        with write_tx(self.engine) as conn:
            insert = pg_insert(L) if conn.dialect.name == "postgresql" else sqlite_insert(L)
            stmt = insert.values(values).on_conflict_do_nothing(index_elements=["request_id"])
            return len(conn.execute(stmt.returning(L.c.request_id)).all())

    def request(self, request_id: str) -> LiveRequestRecord:
        if not request_id:
            raise InvalidArgument("must not be empty", field="request_id")
        with read_tx(self.engine) as conn:
            row = conn.execute(select(L).where(L.c.request_id == request_id)).first()
        if row is None:
            raise NotFound(f"no served request {request_id[:80]!r} is known (ids are kept for the retention "
                           "period of live data)", field="request_id")
        return LiveRequestRecord(row.request_id, row.name, row.version, row.arm, row.rollout_id, row.created_at)

    def add_feedback(self, request_id: str, score: float, comment: str, comment_expires_at: datetime | None) -> None:
        """One feedback per request: a second one is AlreadyExists."""
        try:
            with write_tx(self.engine) as conn:
                if conn.execute(select(F.c.request_id).where(F.c.request_id == request_id)).first() is not None:
                    raise AlreadyExists(f"feedback for request {request_id[:80]!r} was already recorded",
                                        field="request_id")
                conn.execute(F.insert().values(request_id=request_id, score=score, comment=comment,
                                               comment_expires_at=comment_expires_at if comment else None,
                                               created_at=schema.utcnow()))
        except IntegrityError as exc:
            raise AlreadyExists(f"feedback for request {request_id[:80]!r} was already recorded",
                                field="request_id") from exc

    def feedback(self, request_id: str) -> tuple[float, str] | None:
        with read_tx(self.engine) as conn:
            row = conn.execute(select(F).where(F.c.request_id == request_id)).first()
        return (float(row.score), row.comment) if row is not None else None

    def purge(self, *, requests_before: datetime, now: datetime | None = None) -> tuple[int, int]:
        """Delete request rows (and their feedback) older than ``requests_before`` and clear
        feedback comments past their own expiry; returns (requests deleted, comments cleared)."""
        now = now or schema.utcnow()
        with write_tx(self.engine) as conn:
            old = select(L.c.request_id).where(L.c.created_at < requests_before)
            conn.execute(delete(F).where(F.c.request_id.in_(old)))
            deleted = conn.execute(delete(L).where(L.c.created_at < requests_before)).rowcount or 0
            cleared = conn.execute(F.update().where(F.c.comment_expires_at.is_not(None), F.c.comment_expires_at <= now)
                                   .values(comment="", comment_expires_at=None)).rowcount or 0
        return deleted, cleared

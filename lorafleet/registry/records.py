"""Generic persisted JSON records (training jobs, evaluations, datasets) in the registry database.

Services keep their job/evaluation/dataset state here rather than in their own files so that
every process (and every replica on PostgreSQL) sees the same rows. A record has a free-form
JSON ``payload``; ``state`` and ``subject`` (e.g. the adapter name an evaluation is about) are
columns so they can be filtered. ``update`` is a compare-and-set on ``expected_state``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from sqlalchemy import Engine, Row, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from lorafleet.errors import Aborted, AlreadyExists, InvalidArgument, NotFound, quote
from lorafleet.registry import schema
from lorafleet.registry.db import read_tx, write_tx
from lorafleet.registry.models import Record

KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_LIST = 1000
t = schema.records


def check_json(payload: Any, field: str = "payload") -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise InvalidArgument(f"must be a JSON object, got {type(payload).__name__}", field=field)

    def walk(value: Any, where: str) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidArgument(f"{where} is {value}; JSON has no NaN/Infinity", field=field)
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise InvalidArgument(f"{where}: keys must be strings, got {k!r}", field=field)
                walk(v, f"{where}.{k}")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")
        elif not isinstance(value, (str, int, float, bool, type(None))):
            raise InvalidArgument(f"{where} holds a {type(value).__name__}, not a JSON value", field=field)

    walk(payload, field)
    return payload


def _to_record(row: Row[Any]) -> Record:
    return Record(id=row.id, kind=row.kind, state=row.state, subject=row.subject, payload=dict(row.payload),
                  created_at=row.created_at, updated_at=row.updated_at)


class RecordStore:
    """Records of one ``kind``: ``training_jobs``, ``evaluations``, ``datasets`` — or any other
    lower-case identifier a service needs; kinds never see each other's records."""

    def __init__(self, engine: Engine, kind: str) -> None:
        if not KIND_RE.match(kind or ""):
            raise InvalidArgument(f"{kind!r} is not a record kind (lower-case identifier)", field="kind")
        self.engine = engine
        self.kind = kind

    def _get(self, conn: Connection, id: str, *, lock: bool = False) -> Row[Any] | None:
        q = select(t).where(t.c.kind == self.kind, t.c.id == id)
        if lock:
            q = q.with_for_update()
        return conn.execute(q).first()

    def put(self, id: str, *, state: str, subject: str = "", payload: dict[str, Any]) -> Record:
        if not id or len(id) > 128:
            raise InvalidArgument("must be 1-128 characters", field="id")
        if not state or len(state) > 32:
            raise InvalidArgument("must be 1-32 characters", field="state")
        if len(subject) > 256:
            raise InvalidArgument("must be at most 256 characters", field="subject")
        payload = check_json(payload)
        now = schema.utcnow()
        try:
            with write_tx(self.engine) as conn:
                if self._get(conn, id) is not None:
                    raise AlreadyExists(f"{self.kind} record {quote(id)} already exists", field="id")
                conn.execute(t.insert().values(kind=self.kind, id=id, state=state, subject=subject,
                                               payload=payload, created_at=now, updated_at=now))
                return _to_record(self._get(conn, id))
        except IntegrityError as exc:  # a concurrent put of the same id won the race (PostgreSQL)
            raise AlreadyExists(f"{self.kind} record {quote(id)} already exists", field="id") from exc

    def get(self, id: str) -> Record | None:
        with read_tx(self.engine) as conn:
            row = self._get(conn, id)
        return _to_record(row) if row is not None else None

    def list(self, *, state: str | None = None, subject: str | None = None, limit: int = 100,
             offset: int = 0) -> list[Record]:
        """Newest first."""
        if limit < 0 or offset < 0:
            raise InvalidArgument("limit and offset must be >= 0", field="limit" if limit < 0 else "offset")
        q = select(t).where(t.c.kind == self.kind)
        if state is not None:
            q = q.where(t.c.state == state)
        if subject is not None:
            q = q.where(t.c.subject == subject)
        q = q.order_by(t.c.seq.desc()).limit(min(limit, MAX_LIST)).offset(offset)
        with read_tx(self.engine) as conn:
            return [_to_record(r) for r in conn.execute(q)]

    def update(self, id: str, *, state: str | None = None, payload: dict[str, Any] | None = None,
               expected_state: str | None = None) -> Record:
        """Change state and/or merge ``payload`` into the stored one (top-level keys replaced).

        With ``expected_state`` the update happens only if the record is in that state now;
        otherwise Aborted (another writer got there first — re-read and decide again).
        """
        if state is not None and (not state or len(state) > 32):
            raise InvalidArgument("must be 1-32 characters", field="state")
        if payload is not None:
            payload = check_json(payload)
        with write_tx(self.engine) as conn:
            row = self._get(conn, id, lock=True)
            if row is None:
                raise NotFound(f"{self.kind} record {quote(id)} does not exist", field="id")
            if expected_state is not None and row.state != expected_state:
                raise Aborted(f"{self.kind} record {quote(id)} is {row.state}, expected {expected_state}",
                              field="state")
            values: dict[str, Any] = {"updated_at": schema.utcnow()}
            if state is not None:
                values["state"] = state
            if payload is not None:
                values["payload"] = {**dict(row.payload), **payload}
            conn.execute(t.update().where(t.c.kind == self.kind, t.c.id == id).values(**values))
            return _to_record(self._get(conn, id))

"""Registry tables and their versioned, forward-only migrations.

Why not alembic: the schema is small and owned by this package alone, so a numbered list of
migration functions is enough and avoids a second tool at deploy time. The rules are:

* ``schema_version`` holds one row with the version the database is at.
* A *fresh* database (no ``schema_version`` table) gets every table of :data:`metadata` created
  in its current shape and is stamped :data:`SCHEMA_VERSION` directly (alembic's "create_all,
  then stamp head"). Migrations are never replayed on a fresh database, so they may assume the
  shape of the version before them.
* An *existing* database at version ``v`` runs every migration ``v+1 .. SCHEMA_VERSION`` in order
  inside one transaction, then stores the new version. When changing a table below, bump
  ``SCHEMA_VERSION`` and append an additive migration (``ALTER TABLE ... ADD COLUMN``) to
  :data:`MIGRATIONS`.
* A database newer than this code is refused: old code must not write into a newer schema.

Start-up of several processes at once (``lorafleet serve all``) is safe: the check runs in a
write transaction that holds the SQLite write lock (``BEGIN IMMEDIATE``) or a PostgreSQL
transaction-level advisory lock, so exactly one process creates or migrates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator

from lorafleet.errors import FailedPrecondition

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
_MIGRATION_LOCK_KEY = 0x4C6F5241  # "LoRA": pg_advisory_xact_lock key for schema creation


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, nullable=False),
)

# One row per adapter name. ``last_version`` is the version counter: versions are never reused,
# even after a delete, so ``name@3`` always means the same bytes. The row is also the lock that
# serialises version allocation and alias moves of one name on PostgreSQL (SELECT ... FOR UPDATE).
adapter_names = Table(
    "adapter_names",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("last_version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

adapter_versions = Table(
    "adapter_versions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("base_fingerprint", String(128), nullable=False),
    Column("lora", JSON, nullable=False),
    Column("resolved_target_modules", JSON, nullable=False),
    Column("lineage", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("evaluations", JSON, nullable=False),
    Column("artifact_relpath", String(512), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    ForeignKeyConstraint(["name"], ["adapter_names.name"]),
    Index("ix_adapter_versions_state", "state"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("alias", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Defence in depth: the database itself refuses to delete a version an alias points at.
    ForeignKeyConstraint(["name", "version"], ["adapter_versions.name", "adapter_versions.version"]),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("alias", String(32), nullable=False),
    Column("from_version", Integer, nullable=False),
    Column("to_version", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    Index("ix_alias_history_name_alias", "name", "alias", "id"),
)

records = Table(
    "records",
    metadata,
    # ``seq`` orders records by insertion (newest first) even within one clock tick.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("id", String(128), nullable=False),
    Column("state", String(32), nullable=False),
    Column("subject", String(256), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("kind", "id", name="uq_records_kind_id"),
    Index("ix_records_kind_state", "kind", "state"),
    Index("ix_records_kind_subject", "kind", "subject"),
)

# Online evaluation (schema version 2). A rollout pairs the production version (incumbent) with a
# candidate. ``active_name`` equals ``name`` while the rollout runs and is NULL once it ended: its
# UNIQUE constraint is how the database itself keeps at most one running rollout per adapter name
# (NULLs never collide, on SQLite and PostgreSQL alike). ``revision`` makes updates compare-and-set.
rollouts = Table(
    "rollouts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("active_name", String(64), nullable=True, unique=True),
    Column("incumbent_version", Integer, nullable=False),
    Column("candidate_version", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("weight_percent", Float, nullable=False),
    Column("stage_index", Integer, nullable=False),
    Column("stages", JSON, nullable=False),
    Column("sampling_rate", Float, nullable=False),
    Column("policy_name", String(256), nullable=False),
    Column("policy", JSON, nullable=False),
    Column("evaluation_id", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("stats", JSON, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    ForeignKeyConstraint(["name"], ["adapter_names.name"]),
    Index("ix_rollouts_name_created", "name", "created_at"),
    Index("ix_rollouts_state", "state"),
)

# The audit trail of a rollout: every start, stage change, weight change, rollback, promotion and
# abort, with the evidence (guardrail statistics) and the live cases behind it.
rollout_events = Table(
    "rollout_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rollout_id", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("stage_index", Integer, nullable=False),
    Column("weight_percent", Float, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("cases", JSON, nullable=False),
    Column("text_expires_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    ForeignKeyConstraint(["rollout_id"], ["rollouts.id"]),
    Index("ix_rollout_events_rollout", "rollout_id", "id"),
)

# Which version served a live request: ids and arms only (no text), so that feedback can be joined
# to the arm that earned it. Purged after the retention period.
live_requests = Table(
    "live_requests",
    metadata,
    Column("request_id", String(128), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("arm", String(16), nullable=False),
    Column("rollout_id", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_live_requests_created", "created_at"),
)

live_feedback = Table(
    "live_feedback",
    metadata,
    Column("request_id", String(128), primary_key=True),
    Column("score", Float, nullable=False),
    Column("comment", Text, nullable=False),
    Column("comment_expires_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)


def _migrate_to_2(conn: Connection) -> None:
    """Version 2 adds the online-evaluation tables; nothing existing changes."""
    metadata.create_all(conn, tables=[rollouts, rollout_events, live_requests, live_feedback])


# Migration ``n`` turns a database at version ``n - 1`` into version ``n``. Version 1 is the
# initial schema (created by create_all on fresh databases).
MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _migrate_to_2}


def ensure_schema(conn: Connection) -> int:
    """Create or migrate the schema inside the caller's write transaction; returns the version."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
    if not inspect(conn).has_table("schema_version"):
        metadata.create_all(conn)
        conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
        log.info("registry schema created", extra={"schema_version": SCHEMA_VERSION})
        return SCHEMA_VERSION
    current = conn.execute(select(schema_version.c.version)).scalar_one_or_none()
    if current is None:
        raise FailedPrecondition("schema_version table is empty; the database is damaged", field="database_url")
    if current > SCHEMA_VERSION:
        raise FailedPrecondition(
            f"the registry database is at schema version {current}, newer than this LoRAFleet "
            f"({SCHEMA_VERSION}); upgrade LoRAFleet",
            field="database_url",
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        log.info("migrating registry schema", extra={"from_version": version - 1, "to_version": version})
        MIGRATIONS[version](conn)
    if current != SCHEMA_VERSION:
        conn.execute(schema_version.update().values(version=SCHEMA_VERSION))
    return SCHEMA_VERSION

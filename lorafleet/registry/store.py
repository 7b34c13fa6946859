"""The adapter registry: versions, aliases and their history, on SQLite or PostgreSQL.

Atomicity (see ``lorafleet.registry.db``): every read-modify-write runs in a write transaction
that first locks the ``adapter_names`` row of the name (``SELECT ... FOR UPDATE`` on PostgreSQL;
on SQLite ``BEGIN IMMEDIATE`` already holds the database write lock). So version numbers are
allocated without gaps or duplicates and alias moves are serialised: every move reads the alias
after the previous one committed, and ``alias_history`` forms an unbroken chain
(``from_version`` of each move = ``to_version`` of the move before it).

Registration copies the adapter into a temp directory of the artifact store *before* taking
the lock, then, under the lock, allocates ``n``, renames the temp dir to
``adapters/<name>/<n>`` and inserts the row. A crash before the commit leaves at worst a
complete but unregistered directory, which the next registration of ``n`` replaces (the row is
what makes a version exist); so does a database outage in the middle of registering (the
transaction rolls back, or committed just before the connection broke: either way the directory is
complete). Version numbers are never reused after a delete. Weights that are not finite (NaN, Inf)
are refused before anything is copied (``lorafleet.adapters.finite``), whatever the adapter's source.

This module holds ``Registry`` and its version operations; the alias operations are
``lorafleet.registry.aliases.AliasOps`` (a base class of ``Registry``), and the name lock and
row lookups both use are in ``lorafleet.registry.rows``.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Row, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from lorafleet.adapters.finite import check_finite_weights
from lorafleet.adapters.peft_dir import WEIGHTS_FILE, AdapterInspection, inspect_adapter
from lorafleet.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound, Unavailable, quote
from lorafleet.refs import DEFAULT_ALIAS, AdapterRef, parse_ref, validate_name
from lorafleet.registry import schema
from lorafleet.registry.aliases import AliasOps
from lorafleet.registry.artifacts import ArtifactStore
from lorafleet.registry.db import make_engine, read_tx, write_tx
from lorafleet.registry.live import LiveStore
from lorafleet.registry.models import AdapterState, LoraSpec, VersionRecord
from lorafleet.registry.records import RecordStore, check_json
from lorafleet.registry.rollouts import RolloutStore
from lorafleet.registry.rows import A, N, V, check_version, lock_name, version_row

if TYPE_CHECKING:
    from lorafleet.base_model.spec import BaseModelSpec
    from lorafleet.config import Settings

log = logging.getLogger(__name__)

MAX_LIST = 1000
MAX_METRICS = 256
# Never copied into the store: pickle formats can run code when loaded.
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def _state(value: AdapterState | str, field: str = "state") -> AdapterState:
    try:
        return AdapterState(value)
    except ValueError as exc:
        raise InvalidArgument(f"{quote(value)} is not one of {[s.value for s in AdapterState]}",
                              field=field) from exc


def check_metrics(metrics: dict[str, Any] | None) -> dict[str, float]:
    if len(metrics or {}) > MAX_METRICS:
        raise InvalidArgument(f"at most {MAX_METRICS} metrics, got {len(metrics or {})}", field="metrics")
    out: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        if not isinstance(key, str) or not key or len(key) > 128:
            raise InvalidArgument(f"metric names must be 1-128 character strings, got {quote(key)}", field="metrics")
        try:
            f = float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"metric {quote(key)} is not a number: {quote(value)}", field="metrics") from exc
        if not math.isfinite(f):
            raise InvalidArgument(f"metric {key!r} is {f}; metrics must be finite", field="metrics")
        out[key] = f
    return out


class Registry(AliasOps):
    """Adapter versions, aliases (``AliasOps``) and generic records; see the module docstring for atomicity."""

    def __init__(self, database_url: str, artifacts_dir: Path) -> None:
        self.database_url = database_url
        self.engine: Engine = make_engine(database_url)
        self.artifacts = ArtifactStore(Path(artifacts_dir))
        with write_tx(self.engine) as conn:
            self.schema_version = schema.ensure_schema(conn)
        log.info("registry ready", extra={"backend": self.engine.dialect.name,
                                          "artifacts": str(self.artifacts.root),
                                          "schema_version": self.schema_version})

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        return cls(settings.resolved_database_url, settings.resolved_artifacts_dir)

    def close(self) -> None:
        self.engine.dispose()

    # -- rows -> records ----------------------------------------------------------------
    def _aliases_for(self, conn: Connection, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], list[str]]:
        names = sorted({name for name, _ in keys})
        out: dict[tuple[str, int], list[str]] = {}
        if not names:
            return out
        q = select(A.c.name, A.c.alias, A.c.version).where(A.c.name.in_(names)).order_by(A.c.alias)
        for row in conn.execute(q):
            out.setdefault((row.name, row.version), []).append(row.alias)
        return out

    def _to_version(self, row: Row[Any], aliases: list[str]) -> VersionRecord:
        lora = row.lora
        return VersionRecord(
            name=row.name,
            version=row.version,
            state=AdapterState(row.state),
            base_fingerprint=row.base_fingerprint,
            lora=LoraSpec(r=int(lora["r"]), alpha=float(lora["alpha"]), dropout=float(lora["dropout"]),
                          target_modules=tuple(lora["target_modules"]), use_rslora=bool(lora["use_rslora"])),
            lineage=dict(row.lineage),
            metrics={k: float(v) for k, v in row.metrics.items()},
            aliases=tuple(aliases),
            artifact_path=str(self.artifacts.root / row.artifact_relpath),
            size_bytes=int(row.size_bytes),
            description=row.description,
            evaluations=tuple(dict(e) for e in row.evaluations),
            created_at=row.created_at,
            updated_at=row.updated_at,
            resolved_target_modules=tuple(row.resolved_target_modules),
        )

    def _load_version(self, conn: Connection, name: str, version: int) -> VersionRecord:
        row = version_row(conn, name, version)
        if row is None:
            raise NotFound(f"adapter {name}@{version} does not exist", field="adapter")
        return self._to_version(row, self._aliases_for(conn, [(name, version)]).get((name, version), []))

    # -- versions -------------------------------------------------------------------------
    def register_version(
        self,
        name: str,
        adapter_dir: Path,
        *,
        base_spec: BaseModelSpec,
        lineage: dict[str, Any],
        metrics: dict[str, float] | None = None,
        description: str = "",
        state: AdapterState | str = AdapterState.CANDIDATE,
    ) -> VersionRecord:
        """Validate ``adapter_dir`` against ``base_spec``, store a copy, allocate ``name@n``."""
        validate_name(name)
        state = _state(state)
        metrics = check_metrics(metrics)
        lineage = check_json(dict(lineage), "lineage")
        if len(description) > 4096:
            raise InvalidArgument("must be at most 4096 characters", field="description")
        adapter_dir = Path(adapter_dir)
        inspection = inspect_adapter(adapter_dir, base_spec)
        check_finite_weights(adapter_dir / WEIGHTS_FILE)  # every source: trained, imported

        staged = self.artifacts.stage_dir(f"adapters/{name}/staging")
        try:
            size = 0
            for fname in inspection.files:
                if fname.endswith(_PICKLE_SUFFIXES):
                    continue
                shutil.copyfile(adapter_dir / fname, staged / fname)
                size += (staged / fname).stat().st_size
            self.artifacts.sync(staged)  # the slow part, done before the write lock is taken
            return self._commit_version(name, staged, inspection, base_spec, lineage, metrics, description, state, size)
        finally:
            if staged.exists():
                shutil.rmtree(staged, ignore_errors=True)

    def _commit_version(self, name: str, staged: Path, inspection: AdapterInspection, base_spec: BaseModelSpec,
                        lineage: dict[str, Any], metrics: dict[str, float], description: str,
                        state: AdapterState, size: int) -> VersionRecord:
        now = schema.utcnow()
        published: Path | None = None
        try:
            with write_tx(self.engine) as conn:
                ins = (pg_insert(N) if conn.dialect.name == "postgresql" else sqlite_insert(N)).values(
                    name=name, last_version=0, created_at=now).on_conflict_do_nothing(index_elements=["name"])
                conn.execute(ins)
                locked = lock_name(conn, name)
                assert locked is not None  # inserted above when missing
                last = locked.last_version
                version = last + 1
                relpath = f"adapters/{name}/{version}"
                target = self.artifacts.path(relpath)
                if target.exists():  # complete but unregistered: a crash after rename, before commit
                    log.warning("replacing unregistered artifact dir", extra={"path": str(target)})
                published = self.artifacts.publish(staged, relpath, replace=True, synced=True)
                conn.execute(N.update().where(N.c.name == name).values(last_version=version))
                lora = inspection.lora
                conn.execute(V.insert().values(
                    name=name, version=version, state=state.value, base_fingerprint=base_spec.fingerprint,
                    lora={"r": lora.r, "alpha": lora.alpha, "dropout": lora.dropout,
                          "target_modules": list(lora.target_modules), "use_rslora": lora.use_rslora},
                    resolved_target_modules=list(inspection.resolved_target_modules),
                    lineage=lineage, metrics=metrics, evaluations=[], artifact_relpath=relpath,
                    size_bytes=size, description=description, created_at=now, updated_at=now,
                ))
                record = self._load_version(conn, name, version)
        except BaseException as error:
            # Unavailable: the connection broke, maybe while COMMIT was under way, so the row may exist;
            # keep the (complete) directory then: unregistered, the next registration of n replaces it.
            if published is not None and published.exists() and not isinstance(error, Unavailable):
                shutil.rmtree(published, ignore_errors=True)
            raise
        log.info("adapter version registered", extra={"adapter": record.ref, "state": state.value,
                                                       "size_bytes": size, "source": lineage.get("source")})
        return record

    def get_version(self, name: str, version: int) -> VersionRecord:
        validate_name(name)
        check_version(version)
        with read_tx(self.engine) as conn:
            return self._load_version(conn, name, version)

    def resolve(self, ref: AdapterRef | str) -> VersionRecord:
        """The version a reference means now: ``name@3``, ``name@alias`` or ``name`` (production)."""
        if isinstance(ref, str):
            parsed = parse_ref(ref)
            if parsed is None:
                raise InvalidArgument("empty reference names no adapter", field="adapter")
            ref = parsed
        if ref.version is not None:
            return self.get_version(ref.name, ref.version)
        alias = ref.alias or DEFAULT_ALIAS
        with read_tx(self.engine) as conn:
            row = conn.execute(select(A).where(A.c.name == ref.name, A.c.alias == alias)).first()
            if row is None:
                known = conn.execute(select(func.count()).select_from(V).where(V.c.name == ref.name)).scalar_one()
                if known == 0:
                    raise NotFound(f"adapter {ref.name!r} does not exist", field="adapter")
                raise NotFound(f"adapter {ref.name!r} has no alias {alias!r} (it has {known} version(s); "
                               f"use {ref.name}@<version> or set the alias)", field="adapter")
            return self._load_version(conn, ref.name, row.version)

    def list_versions(self, name: str | None = None, state: AdapterState | str | None = None,
                      limit: int = 100, offset: int = 0) -> list[VersionRecord]:
        """Sorted by name, then newest version first."""
        if limit < 0 or offset < 0:
            raise InvalidArgument("must be >= 0", field="limit" if limit < 0 else "offset")
        q = select(V)
        if name:
            validate_name(name)
            q = q.where(V.c.name == name)
        if state is not None:
            q = q.where(V.c.state == _state(state).value)
        q = q.order_by(V.c.name, V.c.version.desc()).limit(min(limit, MAX_LIST)).offset(offset)
        with read_tx(self.engine) as conn:
            rows = conn.execute(q).all()
            aliases = self._aliases_for(conn, [(r.name, r.version) for r in rows])
        return [self._to_version(r, aliases.get((r.name, r.version), [])) for r in rows]

    def _update_version(self, name: str, version: int,
                        fn: Callable[[Connection, Row[Any]], dict[str, Any]]) -> VersionRecord:
        validate_name(name)
        check_version(version)
        with write_tx(self.engine) as conn:
            lock_name(conn, name)
            row = version_row(conn, name, version)
            if row is None:
                raise NotFound(f"adapter {name}@{version} does not exist", field="adapter")
            values = fn(conn, row)
            values["updated_at"] = schema.utcnow()
            conn.execute(V.update().where(V.c.name == name, V.c.version == version).values(**values))
            return self._load_version(conn, name, version)

    def set_state(self, name: str, version: int, state: AdapterState | str, *,
                  expected_state: AdapterState | str | None = None) -> VersionRecord:
        """Set the lifecycle state; Aborted when ``expected_state`` is given and not current.

        A version the ``production`` alias points at cannot become REJECTED (FailedPrecondition):
        production never serves a rejected adapter. Move or roll back the alias first.
        """
        new = _state(state)
        expected = _state(expected_state, "expected_state") if expected_state is not None else None

        def change(conn: Connection, row: Row[Any]) -> dict[str, Any]:
            if expected is not None and row.state != expected.value:
                raise Aborted(f"{name}@{version} is {row.state}, expected {expected.value}", field="expected_state")
            if new is AdapterState.REJECTED:
                prod = conn.execute(select(A.c.version).where(A.c.name == name, A.c.alias == DEFAULT_ALIAS)).scalar()
                if prod == version:
                    raise FailedPrecondition(f"{name}@{version} is what {name}@{DEFAULT_ALIAS} serves; "
                                             "move or roll back the alias before rejecting it", field="state")
            return {"state": new.value}

        record = self._update_version(name, version, change)
        log.info("adapter state set", extra={"adapter": record.ref, "state": new.value})
        return record

    def record_evaluation(self, name: str, version: int, evaluation: dict[str, Any]) -> VersionRecord:
        """Append an evaluation reference (evaluation_id, verdict, report paths) to the version."""
        evaluation = check_json(dict(evaluation), "evaluation")
        if not evaluation.get("evaluation_id"):
            raise InvalidArgument("needs a non-empty evaluation_id", field="evaluation")
        evaluation.setdefault("created_at", schema.utcnow().isoformat())

        def change(conn: Connection, row: Row[Any]) -> dict[str, Any]:
            return {"evaluations": [*row.evaluations, evaluation]}

        return self._update_version(name, version, change)

    def update_metrics(self, name: str, version: int, metrics: dict[str, float]) -> VersionRecord:
        """Merge ``metrics`` into the version's metrics (same names are overwritten)."""
        metrics = check_metrics(metrics)

        def change(conn: Connection, row: Row[Any]) -> dict[str, Any]:
            return {"metrics": {**row.metrics, **metrics}}

        return self._update_version(name, version, change)

    def delete_version(self, name: str, version: int) -> VersionRecord:
        """Delete the row and its artifact dir; FailedPrecondition while an alias points at it."""
        validate_name(name)
        check_version(version)
        with write_tx(self.engine) as conn:
            lock_name(conn, name)
            record = self._load_version(conn, name, version)
            if record.aliases:
                refs = ", ".join(f"{name}@{a}" for a in record.aliases)
                raise FailedPrecondition(f"{record.ref} is still pointed at by {refs}; move those aliases first",
                                         field="adapter")
            conn.execute(V.delete().where(V.c.name == name, V.c.version == version))
            relpath = self._version_row_relpath(record)
        # After the commit: a crash here leaves a whole but unreferenced dir, never a half one.
        try:
            self.artifacts.remove_tree(relpath)
        except OSError as exc:  # the version is gone either way; the files are only disk space
            log.warning("could not remove artifact dir of deleted version",
                        extra={"adapter": record.ref, "path": record.artifact_path, "error": str(exc)})
        log.info("adapter version deleted", extra={"adapter": record.ref})
        return record

    def _version_row_relpath(self, record: VersionRecord) -> str:
        return os.path.relpath(record.artifact_path, self.artifacts.root)

    # -- generic records ------------------------------------------------------------------
    def records(self, kind: str) -> RecordStore:
        return RecordStore(self.engine, kind)

    def rollouts(self) -> RolloutStore:
        return RolloutStore(self.engine)

    def live(self) -> LiveStore:
        return LiveStore(self.engine)

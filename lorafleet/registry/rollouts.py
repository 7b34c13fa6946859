"""Rollouts in the registry: at most one running per adapter name, every change audited.

A rollout row is written by the evaluator (start, stage changes, live statistics, the final
decision) and read by every inference replica (which version answers which route key). Rules
kept here, so that every writer obeys them:

* **One running rollout per name**: ``active_name`` is UNIQUE and set only while RUNNING; a
  second start of the same name fails in the database itself (AlreadyExists), even from two
  evaluator replicas at once.
* **Compare-and-set**: every update names the ``revision`` it read; a concurrent writer's change
  makes it Aborted (re-read, decide again), so a manual abort and an automatic promotion can never
  both win.
* **Audit trail**: a state or stage change and its ``rollout_events`` row (action, reason, actor,
  evidence, live cases) are written in one transaction. Finished rollouts are never changed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from lorafleet.errors import Aborted, AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from lorafleet.refs import DEFAULT_ALIAS, validate_name
from lorafleet.registry import schema
from lorafleet.registry.db import read_tx, write_tx
from lorafleet.registry.models import (
    AdapterState,
    RolloutEventRecord,
    RolloutMode,
    RolloutRecord,
    RolloutStage,
    RolloutState,
)
from lorafleet.registry.records import check_json

R = schema.rollouts
E = schema.rollout_events
MAX_LIST = 1000
MAX_TEXT = 4096


def _to_rollout(row: Any) -> RolloutRecord:
    return RolloutRecord(
        id=row.id, name=row.name, incumbent_version=row.incumbent_version, candidate_version=row.candidate_version,
        state=RolloutState(row.state), mode=RolloutMode(row.mode), weight_percent=float(row.weight_percent),
        stage_index=row.stage_index, stages=tuple(RolloutStage.from_json(s) for s in row.stages),
        sampling_rate=float(row.sampling_rate), policy_name=row.policy_name, policy=dict(row.policy),
        evaluation_id=row.evaluation_id, reason=row.reason, stats=dict(row.stats), revision=row.revision,
        created_at=row.created_at, updated_at=row.updated_at, finished_at=row.finished_at)


def _to_event(row: Any) -> RolloutEventRecord:
    return RolloutEventRecord(rollout_id=row.rollout_id, action=row.action, reason=row.reason, actor=row.actor,
                              stage_index=row.stage_index, weight_percent=float(row.weight_percent),
                              evidence=list(row.evidence), cases=list(row.cases), created_at=row.created_at,
                              text_expires_at=row.text_expires_at)


def check_stages(stages: Sequence[RolloutStage]) -> tuple[RolloutStage, ...]:
    """Shadow first (at most once), then canary weights in (0, 100], strictly increasing."""
    if not stages:
        raise InvalidArgument("a rollout needs at least one stage", field="stages")
    last = 0.0
    for i, stage in enumerate(stages):
        if stage.mode is RolloutMode.SHADOW:
            if i != 0 or stage.weight_percent != 0:
                raise InvalidArgument("only the first stage may be shadow, with weight 0", field="stages")
            continue
        if not 0 < stage.weight_percent <= 100:
            raise InvalidArgument(f"canary weights must be in (0, 100], got {stage.weight_percent:g}",
                                  field="weight_percent")
        if stage.weight_percent <= last:
            raise InvalidArgument(f"canary weight steps must increase, got {stage.weight_percent:g} after {last:g}",
                                  field="weight_steps")
        last = stage.weight_percent
    return tuple(stages)


def _check_replacement(stages: Sequence[RolloutStage], row: Any) -> tuple[RolloutStage, ...]:
    """A new stage list keeps the stages already passed and the current stage's mode; a canary
    stage may be at 0% (paused) when set by hand."""
    old = [RolloutStage.from_json(s) for s in row.stages]
    new = tuple(stages)
    if len(new) <= row.stage_index or new[: row.stage_index] != tuple(old[: row.stage_index]) \
            or new[row.stage_index].mode != old[row.stage_index].mode:
        raise InvalidArgument("only the current and later stages may change, and not their mode", field="stages")
    current = new[row.stage_index]
    if current.mode is RolloutMode.CANARY and not 0 <= current.weight_percent <= 100:
        raise InvalidArgument(f"must be in [0, 100], got {current.weight_percent:g}", field="weight_percent")
    rest = [s for s in new[row.stage_index + 1:]]
    if rest:
        check_stages([RolloutStage(RolloutMode.CANARY, max(current.weight_percent, 1e-9)), *rest])
    return new


class RolloutStore:
    """Rollout rows and their events (see the module docstring for the rules)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- reads ---------------------------------------------------------------------------------
    def get(self, rollout_id: str) -> RolloutRecord:
        with read_tx(self.engine) as conn:
            row = conn.execute(select(R).where(R.c.id == rollout_id)).first()
        if row is None:
            raise NotFound(f"rollout {rollout_id[:80]!r} does not exist", field="rollout")
        return _to_rollout(row)

    def find(self, text: str) -> RolloutRecord:
        """A rollout id, or an adapter name: its running rollout, else its latest."""
        if not text:
            raise InvalidArgument("name a rollout id or an adapter name", field="rollout")
        with read_tx(self.engine) as conn:
            row = conn.execute(select(R).where(R.c.id == text)).first()
            if row is None:
                row = conn.execute(select(R).where(R.c.name == text)
                                   .order_by((R.c.active_name.is_(None)).asc(), R.c.created_at.desc())).first()
        if row is None:
            raise NotFound(f"no rollout {text[:80]!r} (neither a rollout id nor an adapter with rollouts)",
                           field="rollout")
        return _to_rollout(row)

    def running(self, name: str | None = None) -> list[RolloutRecord]:
        """Every RUNNING rollout (of one name when given): what inference routes by."""
        q = select(R).where(R.c.active_name.is_not(None))
        if name:
            q = q.where(R.c.name == name)
        with read_tx(self.engine) as conn:
            return [_to_rollout(r) for r in conn.execute(q.order_by(R.c.name))]

    def list(self, name: str | None = None, state: RolloutState | None = None, *, limit: int = 100,
             offset: int = 0) -> list[RolloutRecord]:
        """Newest first."""
        if limit < 0 or offset < 0:
            raise InvalidArgument("must be >= 0", field="page_size" if limit < 0 else "page_token")
        q = select(R)
        if name:
            q = q.where(R.c.name == validate_name(name, field="adapter_name"))
        if state is not None:
            q = q.where(R.c.state == state.value)
        q = q.order_by(R.c.created_at.desc(), R.c.id).limit(min(limit, MAX_LIST)).offset(offset)
        with read_tx(self.engine) as conn:
            return [_to_rollout(r) for r in conn.execute(q)]

    def events(self, rollout_id: str) -> list[RolloutEventRecord]:
        """The audit trail, oldest first."""
        with read_tx(self.engine) as conn:
            rows = conn.execute(select(E).where(E.c.rollout_id == rollout_id).order_by(E.c.id)).all()
        return [_to_event(r) for r in rows]

    # -- writes --------------------------------------------------------------------------------
    def create(self, *, rollout_id: str, name: str, candidate_version: int, stages: Sequence[RolloutStage],
               sampling_rate: float, policy_name: str, policy: dict[str, Any], evaluation_id: str, actor: str,
               reason: str = "", allow_unpassed: bool = False) -> RolloutRecord:
        """Start a rollout of ``name@candidate_version`` against the current production version.

        FailedPrecondition when name has no production version, the candidate is production or
        REJECTED, or (unless ``allow_unpassed``) it never passed an offline evaluation;
        AlreadyExists when a rollout of the name is running.
        """
        validate_name(name, field="adapter")
        stages = check_stages(stages)
        if not 0 < sampling_rate <= 1:
            raise InvalidArgument(f"must be in (0, 1], got {sampling_rate:g}", field="sampling_rate")
        policy = check_json(dict(policy), "policy")
        now = schema.utcnow()
        try:
            with write_tx(self.engine) as conn:
                incumbent = self._check_candidate(conn, name, candidate_version, allow_unpassed)
                first = stages[0]
                conn.execute(R.insert().values(
                    id=rollout_id, name=name, active_name=name, incumbent_version=incumbent,
                    candidate_version=candidate_version, state=RolloutState.RUNNING.value, mode=first.mode.value,
                    weight_percent=first.weight_percent, stage_index=0, stages=[s.to_json() for s in stages],
                    sampling_rate=sampling_rate, policy_name=policy_name[:256], policy=policy,
                    evaluation_id=evaluation_id, reason=reason[:MAX_TEXT], stats={}, revision=1, created_at=now,
                    updated_at=now, finished_at=None))
                self._event(conn, rollout_id, "START", reason or "started", actor, 0, first.weight_percent,
                            [], [], None)
                return _to_rollout(conn.execute(select(R).where(R.c.id == rollout_id)).one())
        except IntegrityError as exc:  # the UNIQUE active_name: another start of this name won
            raise AlreadyExists(f"a rollout of {name!r} is already running; finish or abort it first",
                                field="adapter") from exc

    def _check_candidate(self, conn: Connection, name: str, version: int, allow_unpassed: bool) -> int:
        names, versions, aliases = schema.adapter_names, schema.adapter_versions, schema.aliases
        if conn.execute(select(names.c.name).where(names.c.name == name).with_for_update()).first() is None:
            raise NotFound(f"adapter {name!r} does not exist", field="adapter")
        running = conn.execute(select(R.c.id).where(R.c.active_name == name)).first()
        if running is not None:
            raise AlreadyExists(f"rollout {running.id} of {name!r} is already running; finish or abort it first",
                                field="adapter")
        row = conn.execute(select(versions.c.state).where(versions.c.name == name,
                                                          versions.c.version == version)).first()
        if row is None:
            raise NotFound(f"adapter {name}@{version} does not exist", field="adapter")
        prod = conn.execute(select(aliases.c.version).where(aliases.c.name == name,
                                                            aliases.c.alias == DEFAULT_ALIAS)).scalar()
        if prod is None:
            raise FailedPrecondition(f"{name} has no {DEFAULT_ALIAS} version to roll out against; promote one first",
                                     field="adapter")
        if prod == version:
            raise FailedPrecondition(f"{name}@{version} is already {DEFAULT_ALIAS}", field="adapter")
        if row.state == AdapterState.REJECTED.value and not allow_unpassed:
            raise FailedPrecondition(f"{name}@{version} is REJECTED; it cannot be rolled out", field="adapter")
        return int(prod)

    def update(self, rollout_id: str, *, expected_revision: int | None = None, stats: dict[str, Any] | None = None,
               stage_index: int | None = None, weight_percent: float | None = None,
               stages: Sequence[RolloutStage] | None = None, event: dict[str, Any] | None = None) -> RolloutRecord:
        """Change a RUNNING rollout's stats, stage list and/or current stage (``event`` audits it).

        ``stages`` replaces the list (the current stage keeps its index): a manual weight change
        rewrites the current stage and drops later steps that are no longer above it.
        """
        with write_tx(self.engine) as conn:
            row = self._running_row(conn, rollout_id, expected_revision)
            values: dict[str, Any] = {"updated_at": schema.utcnow(), "revision": row.revision + 1}
            if stats is not None:
                values["stats"] = check_json(dict(stats), "stats")
            if stages is not None:
                new = _check_replacement(stages, row)
                values.update(stages=[s.to_json() for s in new], mode=new[row.stage_index].mode.value,
                              weight_percent=new[row.stage_index].weight_percent)
            if stage_index is not None:
                stages = [RolloutStage.from_json(s) for s in values.get("stages", row.stages)]
                if not 0 <= stage_index < len(stages):
                    raise InvalidArgument(f"stage {stage_index} does not exist", field="stage_index")
                values.update(stage_index=stage_index, mode=stages[stage_index].mode.value,
                              weight_percent=stages[stage_index].weight_percent)
            if weight_percent is not None:
                if row.mode != RolloutMode.CANARY.value:
                    raise FailedPrecondition("the weight of a shadow stage is always 0", field="weight_percent")
                if not 0 <= weight_percent <= 100:
                    raise InvalidArgument(f"must be in [0, 100], got {weight_percent:g}", field="weight_percent")
                values["weight_percent"] = weight_percent
            conn.execute(R.update().where(R.c.id == rollout_id).values(**values))
            new = _to_rollout(conn.execute(select(R).where(R.c.id == rollout_id)).one())
            if event is not None:
                self._event(conn, rollout_id, stage_index=new.stage_index, weight_percent=new.weight_percent, **event)
            return new

    def finish(self, rollout_id: str, state: RolloutState, *, reason: str, actor: str,
               expected_revision: int | None = None, stats: dict[str, Any] | None = None,
               evidence: list[dict[str, Any]] | None = None, cases: list[dict[str, Any]] | None = None,
               text_expires_at: datetime | None = None) -> RolloutRecord:
        """End a RUNNING rollout (PROMOTED, ROLLED_BACK or ABORTED) and audit why; final."""
        if state is RolloutState.RUNNING:
            raise InvalidArgument("a rollout finishes PROMOTED, ROLLED_BACK or ABORTED", field="state")
        action = {RolloutState.PROMOTED: "PROMOTE", RolloutState.ROLLED_BACK: "ROLL_BACK",
                  RolloutState.ABORTED: "ABORT"}[state]
        now = schema.utcnow()
        with write_tx(self.engine) as conn:
            row = self._running_row(conn, rollout_id, expected_revision)
            values: dict[str, Any] = {"state": state.value, "active_name": None, "reason": reason[:MAX_TEXT],
                                      "updated_at": now, "finished_at": now, "revision": row.revision + 1}
            if state is RolloutState.ROLLED_BACK:
                values["weight_percent"] = 0.0
            if stats is not None:
                values["stats"] = check_json(dict(stats), "stats")
            conn.execute(R.update().where(R.c.id == rollout_id).values(**values))
            self._event(conn, rollout_id, action, reason, actor, row.stage_index, values.get("weight_percent",
                        row.weight_percent), evidence or [], cases or [], text_expires_at)
            return _to_rollout(conn.execute(select(R).where(R.c.id == rollout_id)).one())

    def _running_row(self, conn: Connection, rollout_id: str, expected_revision: int | None) -> Any:
        row = conn.execute(select(R).where(R.c.id == rollout_id).with_for_update()).first()
        if row is None:
            raise NotFound(f"rollout {rollout_id[:80]!r} does not exist", field="rollout")
        if row.state != RolloutState.RUNNING.value:
            raise FailedPrecondition(f"rollout {rollout_id} already ended {row.state}", field="rollout")
        if expected_revision is not None and row.revision != expected_revision:
            raise Aborted(f"rollout {rollout_id} changed meanwhile (revision {row.revision}, expected "
                          f"{expected_revision}); re-read it", field="rollout")
        return row

    def _event(self, conn: Connection, rollout_id: str, action: str, reason: str, actor: str, stage_index: int,
               weight_percent: float, evidence: list[dict[str, Any]], cases: list[dict[str, Any]],
               text_expires_at: datetime | None) -> None:
        conn.execute(E.insert().values(
            rollout_id=rollout_id, action=action, reason=reason[:MAX_TEXT], actor=actor[:256],
            stage_index=stage_index, weight_percent=weight_percent, evidence=check_json({"e": evidence})["e"],
            cases=check_json({"c": cases})["c"], text_expires_at=text_expires_at, created_at=schema.utcnow()))

    def purge_expired_text(self, now: datetime | None = None) -> list[str]:
        """Drop the text of live cases past their retention (ids, arms and scores stay); returns
        the ids of the rollouts whose events changed (their reports must be written again)."""
        now = now or schema.utcnow()
        with write_tx(self.engine) as conn:
            rows = conn.execute(select(E.c.id, E.c.rollout_id, E.c.cases).where(E.c.text_expires_at.is_not(None),
                                                                E.c.text_expires_at <= now)).all()
            for row in rows:
                cases = [{k: v for k, v in c.items() if k not in ("prompt", "reply", "production_reply")}
                         for c in row.cases]
                conn.execute(E.update().where(E.c.id == row.id).values(cases=cases, text_expires_at=None))
        return sorted({row.rollout_id for row in rows})

"""The evaluator's live loop: score what inference reports, feed the rollouts' tests, act on them.

Inference reports every request it answered for a production adapter (and every shadow re-run)
through ``LiveTrafficService.RecordObservations``; the replies of a sampled share carry text.
For each batch the evaluator

1. records which version and arm served each request id (so feedback can be joined later),
2. scores sampled replies (refusal, task format) and counts errors and slow first tokens,
3. exports the counts per adapter name and arm (every production adapter, rollout or not),
4. feeds the observations of each running rollout into its current stage's tests and applies the
   verdict at once: a guardrail worse by its minimum effect rolls back, a stage that passed every
   required guardrail moves on (``transitions``).

Decisions and manual actions run under one lock, so they never interleave in this process; the
registry's compare-and-set guards against other processes. Each stage's test state is written to
the rollout row every ``persist_every_s``, so a restarted evaluator resumes the same tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from eval_service.online import metrics, transitions
from eval_service.online.monitor import StageMonitor
from eval_service.online.observation import LiveObservation, TrafficArm
from eval_service.online.policy import OnlinePolicy, load_online_policy, policy_from_dict
from eval_service.online.rollout import RolloutDecision
from eval_service.online.scores import LiveScores, score
from lorafleet.errors import Aborted, FailedPrecondition, LoraFleetError
from lorafleet.registry import schema
from lorafleet.registry.models import LiveRequestRecord, RolloutRecord, RolloutState
from lorafleet.registry.store import Registry

log = logging.getLogger(__name__)
TICK_S = 1.0
PURGE_EVERY_S = 600.0


@dataclass
class Watched:
    """A running rollout with its current stage's monitor."""

    record: RolloutRecord
    policy: OnlinePolicy
    monitor: StageMonitor
    stage_started: Any
    persisted_at: float = 0.0
    dirty: bool = False


class LiveEvaluator:
    def __init__(self, registry: Registry, *, default_policy: OnlinePolicy | None = None,
                 clock: Any = time.monotonic) -> None:
        self.registry = registry
        self.default_policy = default_policy or load_online_policy()
        self.clock = clock
        self.watched: dict[str, Watched] = {}
        self.lock = asyncio.Lock()
        self._changed: asyncio.Condition | None = None
        self._task: asyncio.Task[None] | None = None
        self._purged_at = 0.0

    # -- life cycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        repaired = await asyncio.to_thread(transitions.reconcile, self.registry)
        if repaired:
            log.warning("rollouts repaired at start", extra={"repaired": repaired})
        async with self.lock:
            await self._sync_running()
        self._task = asyncio.create_task(self._loop(), name="lorafleet-live-evaluator")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        async with self.lock:
            for rid in list(self.watched):
                await self._persist(rid)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                async with self.lock:
                    await self._sync_running()
                    for rid in list(self.watched):
                        await self._tick(rid)
                await self._maybe_purge()
            except LoraFleetError as exc:  # registry briefly unreachable and the like: try again next tick
                log.warning("live evaluator tick failed", extra={"error": str(exc)})

    def changed(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def notify(self) -> None:
        cond = self.changed()
        async with cond:
            cond.notify_all()

    # -- observations ---------------------------------------------------------------------------
    async def record(self, observations: list[LiveObservation]) -> int:
        rows = [LiveRequestRecord(o.request_id, o.adapter_name, o.version, o.arm.value, o.rollout_id, o.time)
                for o in observations if o.arm is not TrafficArm.SHADOW and o.request_id]
        await asyncio.to_thread(self.registry.live().record_requests, rows)
        async with self.lock:
            scored = [(o, score(o, self._policy_for(o))) for o in observations]
            by_rollout: dict[str, list[tuple[LiveObservation, LiveScores]]] = defaultdict(list)
            for obs, scores in scored:
                _count(obs, scores)
                if obs.rollout_id:
                    by_rollout[obs.rollout_id].append((obs, scores))
            for rid, batch in by_rollout.items():
                watched = self.watched.get(rid)
                if watched is None:
                    metrics.LIVE_DROPPED.labels(reason="unknown_rollout").inc(len(batch))
                    continue
                watched.monitor.observe(batch)
                watched.dirty = True
                await self._apply_verdict(rid)
        await self.notify()
        return len(observations)

    def _policy_for(self, obs: LiveObservation) -> OnlinePolicy:
        watched = self.watched.get(obs.rollout_id) if obs.rollout_id else None
        return watched.policy if watched else self.default_policy

    async def feedback(self, request_id: str, value: float, comment: str) -> LiveRequestRecord:
        from eval_service.online.redaction import redact

        live = self.registry.live()
        req = await asyncio.to_thread(live.request, request_id)
        expires = schema.utcnow() + timedelta(days=self.default_policy.retention.text_days)
        await asyncio.to_thread(live.add_feedback, request_id, value, redact(comment), expires)
        metrics.LIVE_FEEDBACK.labels(adapter=req.name, arm=req.arm.lower()).inc()
        metrics.LIVE_FEEDBACK_SCORE.labels(adapter=req.name, arm=req.arm.lower()).inc(value)
        async with self.lock:
            watched = self.watched.get(req.rollout_id)
            if watched is not None and req.created_at >= watched.stage_started:
                watched.monitor.feedback(TrafficArm(req.arm), value)
                watched.dirty = True
                await self._apply_verdict(req.rollout_id)
            elif watched is not None:
                metrics.LIVE_DROPPED.labels(reason="stage_mismatch").inc()
        await self.notify()
        return req

    # -- decisions ------------------------------------------------------------------------------
    async def _apply_verdict(self, rid: str) -> None:
        watched = self.watched[rid]
        verdict = watched.monitor.verdict()
        if verdict is None or verdict.decision is RolloutDecision.CONTINUE:
            return
        if verdict.decision is RolloutDecision.ROLL_BACK:  # WORSE already means "by its minimum effect"
            record = await asyncio.to_thread(transitions.roll_back, self.registry, watched.record, watched.monitor,
                                             verdict.worse, watched.policy, self.snapshot(watched))
            metrics.ROLLOUT_ROLLBACKS.labels(adapter=record.name).inc()
        else:
            record = await asyncio.to_thread(transitions.pass_stage, self.registry, watched.record,
                                             watched.monitor, watched.policy, stats=self.snapshot(watched))
            if record.state is RolloutState.PROMOTED:
                metrics.ROLLOUT_PROMOTIONS.labels(adapter=record.name).inc()
        await self._replace(rid, record)

    async def _replace(self, rid: str, record: RolloutRecord) -> None:
        """After a transition: a new stage gets a fresh monitor; a finished rollout is no longer
        watched, and its report is written."""
        old = self.watched.pop(rid)
        if record.state is RolloutState.RUNNING:
            self.watched[rid] = self._watch(record, old.policy)
            return
        if record.state is RolloutState.ABORTED:
            metrics.ROLLOUT_ABORTS.labels(adapter=record.name).inc()
        await self.finished(record)

    async def finished(self, record: RolloutRecord) -> None:
        _export_finished(record)
        await self.write_report(record)

    async def write_report(self, record: RolloutRecord) -> None:
        from eval_service.online.report import write_report

        events = await asyncio.to_thread(self.registry.rollouts().events, record.id)
        try:
            await asyncio.to_thread(write_report, self.registry.artifacts, record, events)
        except OSError as exc:  # the decision stands; the report can be written again from the registry
            log.warning("could not write the rollout report", extra={"rollout_id": record.id, "error": str(exc)})

    async def _tick(self, rid: str) -> None:
        watched = self.watched[rid]
        age = (schema.utcnow() - watched.record.created_at).total_seconds()
        if age > watched.policy.max_duration_s:
            record = await asyncio.to_thread(
                transitions.abort, self.registry, watched.record, actor="evaluator", monitor=watched.monitor,
                reason=f"no decision within the policy's max_duration_s ({watched.policy.max_duration_s:g} s)")
            await self._replace(rid, record)
            await self.notify()
            return
        if watched.dirty and self.clock() - watched.persisted_at >= watched.policy.persist_every_s:
            await self._persist(rid)

    async def _persist(self, rid: str) -> None:
        watched = self.watched.get(rid)
        if watched is None or not watched.dirty:
            return
        try:
            record = await asyncio.to_thread(self.registry.rollouts().update, rid,
                                             expected_revision=watched.record.revision, stats=self.snapshot(watched))
        except (Aborted, FailedPrecondition) as exc:  # changed or ended by another process: re-read next tick
            log.info("rollout changed elsewhere; reloading", extra={"rollout_id": rid, "error": str(exc)})
            self.watched.pop(rid, None)
            return
        watched.record, watched.persisted_at, watched.dirty = record, self.clock(), False
        _export_running(watched)

    def snapshot(self, watched: Watched) -> dict[str, Any]:
        return {"stage_index": watched.record.stage_index, "stage_started": watched.stage_started.isoformat(),
                "monitor": watched.monitor.to_state(),
                "arms": {a: s.summary() for a, s in watched.monitor.arms.items()},
                "guardrails": transitions.evidence(watched.monitor)}

    # -- the set of running rollouts -------------------------------------------------------------
    async def _sync_running(self) -> None:
        running = {r.id: r for r in await asyncio.to_thread(self.registry.rollouts().running)}
        for rid in [rid for rid in self.watched if rid not in running]:
            self.watched.pop(rid)  # ended by another process (or by hand elsewhere)
        for rid, record in running.items():
            if rid not in self.watched:
                self.watched[rid] = self._watch(record)
                _export_running(self.watched[rid])
            elif record.revision != self.watched[rid].record.revision and not self.watched[rid].dirty:
                self.watched[rid] = self._watch(record, self.watched[rid].policy)

    def _watch(self, record: RolloutRecord, policy: OnlinePolicy | None = None) -> Watched:
        policy = policy or policy_from_dict(record.policy, source=f"rollout {record.id}")
        saved = record.stats if record.stats.get("stage_index") == record.stage_index else {}
        started = schema.utcnow()
        if saved.get("stage_started"):
            from datetime import datetime

            started = datetime.fromisoformat(saved["stage_started"])
        monitor = StageMonitor(name=record.name, shadow=record.mode.value == "SHADOW",
                               weight_percent=record.weight_percent, policy=policy,
                               has_task_format=record.name in policy.task_formats, state=saved.get("monitor"))
        return Watched(record, policy, monitor, started, persisted_at=self.clock())

    async def _maybe_purge(self) -> None:
        if self.clock() - self._purged_at < PURGE_EVERY_S:
            return
        self._purged_at = self.clock()
        keep = timedelta(days=self.default_policy.retention.requests_days)
        cases = await asyncio.to_thread(self.registry.rollouts().purge_expired_text)
        for rid in cases:
            await self.write_report(await asyncio.to_thread(self.registry.rollouts().get, rid))
        deleted, cleared = await asyncio.to_thread(self.registry.live().purge, requests_before=schema.utcnow() - keep)
        if cases or deleted or cleared:
            log.info("live data purged", extra={"case_texts": cases, "requests": deleted, "comments": cleared})


def _count(obs: LiveObservation, scores: LiveScores) -> None:
    labels = {"adapter": obs.adapter_name, "arm": obs.arm.value.lower()}
    metrics.LIVE_REQUESTS.labels(**labels).inc()
    if obs.failed:
        metrics.LIVE_ERRORS.labels(**labels).inc()
    if scores.refusal is not None:
        metrics.LIVE_SCORED.labels(**labels).inc()
        if scores.refusal:
            metrics.LIVE_REFUSALS.labels(**labels).inc()
    if scores.format_valid is not None:
        metrics.LIVE_FORMAT_CHECKED.labels(**labels).inc()
        if not scores.format_valid:
            metrics.LIVE_FORMAT_INVALID.labels(**labels).inc()


def _export_running(watched: Watched) -> None:
    r = watched.record
    metrics.ROLLOUT_RUNNING.labels(adapter=r.name).set(1)
    metrics.ROLLOUT_WEIGHT.labels(adapter=r.name).set(r.weight_percent)
    metrics.ROLLOUT_STAGE.labels(adapter=r.name).set(r.stage_index)
    for arm, stats in watched.monitor.arms.items():
        summary = stats.summary()
        metrics.ROLLOUT_REQUESTS.labels(adapter=r.name, arm=arm).set(summary["requests"])
        metrics.ROLLOUT_REFUSAL_RATE.labels(adapter=r.name, arm=arm).set(summary["refusal_rate"])


def _export_finished(record: RolloutRecord) -> None:
    metrics.ROLLOUT_RUNNING.labels(adapter=record.name).set(0)
    metrics.ROLLOUT_WEIGHT.labels(adapter=record.name).set(0)

"""One evaluation, start to finish: generate, score, compare, gate, decide, record, report.

Lifecycle of the evaluation record (``registry.records("evaluations")``, payload ``plan.EvaluationPayload``):
QUEUED (created, validated) -> RUNNING (progress per suite) -> SUCCEEDED (a verdict was reached,
promote or reject) | FAILED (could not reach one: inference down, alias moved meanwhile...).

Lifecycle of the candidate version: EVALUATING while running, then PROMOTED or REJECTED with the
verdict; when the evaluation FAILS the version goes back to the state it had before.

Promotion is a compare-and-set through the registry: the alias moves to the candidate only if it
still points where it pointed when the evaluation started (``expected_current_version``).
If production moved meanwhile, the comparison was made against a stale baseline and nothing is
promoted (the evaluation fails and asks for a re-run).

The steps live in their own modules: ``planner`` (validate and resolve a request), ``pairs``
(generation through the cache), ``results`` (scoring), ``policy`` (gates), ``report``; this module
runs them in order and owns the record and the candidate's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from eval_service import metrics
from eval_service.cache import GenerationCache
from eval_service.contamination import check_candidate
from eval_service.generation import InferenceGenerator
from eval_service.pairs import Answerer, PairGenerator
from eval_service.plan import (
    ACTIVE_STATES,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    EvaluationPayload,
    EvaluationPlan,
    EvaluationRequest,
    RecordedDecision,
    RecordedSuite,
    SuiteProgress,
    utcnow,
)
from eval_service.planner import Planner
from eval_service.policy import Decision, SuiteScores, evaluate_gates, load_policy
from eval_service.report import Report, build_report, write_report
from eval_service.results import score_suites
from eval_service.suites.loader import SuiteCatalog
from lorafleet.errors import Aborted, FailedPrecondition, InvalidArgument, LoraFleetError, NotFound
from lorafleet.refs import AdapterRef, parse_versioned_ref
from lorafleet.registry.models import AdapterState, Record, VersionRecord
from lorafleet.registry.store import Registry

__all__ = ["ACTIVE_STATES", "EvaluationEvents", "EvaluationRequest", "EvaluationRunner"]

log = logging.getLogger(__name__)


class EvaluationEvents:
    """Wakes ``WatchEvaluation`` streams when an evaluation record changes (in this process)."""

    def __init__(self) -> None:
        self._cond: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    async def notify(self) -> None:
        cond = self._condition()
        async with cond:
            cond.notify_all()

    async def wait(self, timeout: float) -> None:
        cond = self._condition()
        async with cond:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(cond.wait(), timeout)


class EvaluationRunner:
    """Creates evaluation records and runs them (``run`` is meant for a background task)."""

    def __init__(self, registry: Registry, generator: InferenceGenerator, *, catalog: SuiteCatalog | None = None,
                 concurrency: int = 16, events: EvaluationEvents | None = None,
                 id_factory: Callable[[], str] | None = None) -> None:
        if concurrency < 1:
            raise InvalidArgument("concurrency must be >= 1", field="concurrency")
        self.registry = registry
        self.generator = generator
        self.catalog = catalog or SuiteCatalog()
        self.planner = Planner(registry, self.catalog)
        self.concurrency = concurrency
        self.events = events or EvaluationEvents()
        self.cache = GenerationCache(registry.artifacts)
        self.store = registry.records("evaluations")
        self._new_id = id_factory or (lambda: f"eval-{uuid.uuid4().hex[:12]}")

    # -- create ---------------------------------------------------------------------------------
    def create(self, req: EvaluationRequest) -> Record:
        """Validate every field, resolve candidate and baseline, persist a QUEUED record."""
        evaluation = self.planner.plan(req)
        active = [r for s in ACTIVE_STATES for r in self.store.list(state=s, subject=evaluation.adapter, limit=10)]
        if active:
            raise FailedPrecondition(f"{evaluation.adapter} is already being evaluated by {active[0].id}",
                                     field="adapter")
        record = self.store.put(self._new_id(), state=QUEUED, subject=evaluation.adapter,
                                payload=evaluation.to_json())
        log.info("evaluation queued", extra={"evaluation_id": record.id, "adapter": evaluation.adapter,
                                             "baseline": evaluation.baseline_name, "suites": evaluation.suites})
        return record

    # -- run ------------------------------------------------------------------------------------
    async def run(self, evaluation_id: str) -> Record:
        """Run a QUEUED evaluation to SUCCEEDED or FAILED; never raises for evaluation errors."""
        queued = await asyncio.to_thread(self.store.get, evaluation_id)
        if queued is None:
            raise NotFound(f"evaluation {evaluation_id!r} does not exist", field="evaluation_id")
        evaluation = EvaluationPayload.of(queued)
        ref = parse_versioned_ref(evaluation.adapter)
        previous = (await asyncio.to_thread(self.registry.get_version, ref.name, ref.version)).state
        evaluation.start_time, evaluation.previous_state = utcnow(), previous
        await asyncio.to_thread(self.store.update, evaluation_id, state=RUNNING, expected_state=QUEUED,
                                payload=evaluation.to_json("start_time", "previous_state"))
        await self.events.notify()
        t0 = time.perf_counter()
        try:
            await asyncio.to_thread(self.registry.set_state, ref.name, ref.version, AdapterState.EVALUATING)
            result = await self._evaluate(evaluation_id, evaluation, ref, previous)
        except asyncio.CancelledError:
            await self._fail(evaluation_id, evaluation, ref, previous, "cancelled (evaluator shutting down)")
            raise
        except Exception as exc:
            if not isinstance(exc, LoraFleetError):
                log.exception("evaluation crashed", extra={"evaluation_id": evaluation_id})
            return await self._fail(evaluation_id, evaluation, ref, previous, str(exc))
        verdict = evaluation.decision.verdict if evaluation.decision else ""
        log.info("evaluation finished", extra={"evaluation_id": evaluation_id, "adapter": evaluation.adapter,
                                               "verdict": verdict, "seconds": round(time.perf_counter() - t0, 2)})
        return result

    async def _fail(self, evaluation_id: str, evaluation: EvaluationPayload, ref: AdapterRef,
                    previous: AdapterState, error: str) -> Record:
        metrics.EVALUATIONS.labels(outcome="failed").inc()
        try:
            await asyncio.to_thread(self.registry.set_state, ref.name, ref.version, previous)
        except LoraFleetError as exc:
            log.warning("could not restore adapter state", extra={"adapter": str(ref), "error": str(exc)})
        evaluation.error, evaluation.finish_time = error, utcnow()
        rec = await asyncio.to_thread(self.store.update, evaluation_id, state=FAILED,
                                      payload=evaluation.to_json("error", "finish_time"))
        await self.events.notify()
        log.warning("evaluation failed", extra={"evaluation_id": evaluation_id, "error": error})
        return rec

    async def _evaluate(self, evaluation_id: str, evaluation: EvaluationPayload, ref: AdapterRef,
                        previous: AdapterState) -> Record:
        policy = load_policy(evaluation.policy_ref)
        suites = [self.catalog.get(n).limited(evaluation.max_cases_per_suite) for n in evaluation.suites]
        candidate = await asyncio.to_thread(self.registry.get_version, ref.name, ref.version)
        baseline = await self._baseline(evaluation)
        engine = await self.generator.engine_info()

        contaminated, near = await asyncio.to_thread(
            check_candidate, self.registry, candidate, [(c.id, c.user_text) for s in suites for c in s.cases])

        async def save_progress(progress: list[SuiteProgress]) -> None:
            evaluation.progress = progress
            await asyncio.to_thread(self.store.update, evaluation_id, payload=evaluation.to_json("progress"))
            await self.events.notify()

        pairs = PairGenerator(self.generator, self.cache, engine, concurrency=self.concurrency,
                              request_prefix=evaluation_id)
        outputs = await pairs.generate(suites, Answerer.of(candidate), Answerer.of(baseline),
                                       {s.name: evaluation.suite_params(s.name) for s in suites}, save_progress)

        suite_scores, outcomes = score_suites(suites, outputs, contaminated, near)
        decision, comparisons = evaluate_gates(policy, suite_scores, promote_to=evaluation.promote_to)
        report = build_report(evaluation_id=evaluation_id, plan=evaluation, policy=policy, engine=engine,
                              comparisons=comparisons, decision=decision, cases=outcomes,
                              contaminated=contaminated, near_duplicates=near)
        json_path, html_path = await asyncio.to_thread(write_report, self.registry.artifacts, evaluation_id, report)

        promoted_alias, note = await self._apply_decision(evaluation_id, evaluation, candidate, decision, previous)
        evaluation.decision = RecordedDecision.applied(decision, promoted_alias, note)
        evaluation.report_json_path, evaluation.report_html_path = str(json_path), str(html_path)
        await asyncio.to_thread(self.registry.record_evaluation, ref.name, ref.version,
                                _version_evaluation(evaluation_id, evaluation, evaluation.decision, policy.name))
        _count(suite_scores, decision)
        return await self._succeed(evaluation_id, evaluation, report)

    async def _baseline(self, plan: EvaluationPlan) -> VersionRecord | None:
        if not plan.baseline_adapter:
            return None
        bref = parse_versioned_ref(plan.baseline_adapter)
        return await asyncio.to_thread(self.registry.get_version, bref.name, bref.version)

    async def _succeed(self, evaluation_id: str, evaluation: EvaluationPayload, report: Report) -> Record:
        evaluation.suite_results = [RecordedSuite.trimmed(s) for s in report.suites]
        evaluation.contaminated_case_ids = report.contaminated_case_ids
        evaluation.near_duplicate_case_ids = report.near_duplicate_case_ids
        evaluation.engine = report.engine
        evaluation.finish_time = utcnow()
        rec = await asyncio.to_thread(self.store.update, evaluation_id, state=SUCCEEDED, payload=evaluation.to_json(
            "progress", "suite_results", "decision", "contaminated_case_ids", "near_duplicate_case_ids",
            "report_json_path", "report_html_path", "engine", "finish_time"))
        await self.events.notify()
        return rec

    async def _apply_decision(self, evaluation_id: str, plan: EvaluationPlan, candidate: VersionRecord,
                              decision: Decision, previous: AdapterState) -> tuple[str, str]:
        """Move the alias (compare-and-set) and set the candidate's state; (alias moved, note for the summary)."""
        name, version = candidate.name, candidate.version
        if decision.verdict == "promote":
            if plan.promote_to:
                try:
                    await asyncio.to_thread(
                        self.registry.set_alias, name, plan.promote_to, version,
                        expected_current_version=plan.promote_alias_version_at_start,
                        reason=f"evaluation {evaluation_id}: all gates passed against {plan.baseline_label}")
                except Aborted as exc:
                    raise Aborted(f"{name}@{plan.promote_to} moved while {evaluation_id} ran ({exc.message}); "
                                  "nothing promoted, re-run against the new baseline", field="promote_to") from exc
            await asyncio.to_thread(self.registry.set_state, name, version, AdapterState.PROMOTED)
            return plan.promote_to, ""
        try:
            await asyncio.to_thread(self.registry.set_state, name, version, AdapterState.REJECTED)
        except FailedPrecondition as exc:  # it is production now: never leave it REJECTED while serving
            await asyncio.to_thread(self.registry.set_state, name, version, previous)
            return "", f"state left {previous.value}: {exc.message}"
        return "", ""

    # -- recovery -------------------------------------------------------------------------------
    async def recover_interrupted(self) -> list[str]:
        """Mark evaluations left QUEUED/RUNNING by a previous evaluator process as FAILED and put
        their candidates back in the state they had. The evaluator runs as a single replica, so at
        start-up nothing else can be running them."""
        failed = []
        for state in ACTIVE_STATES:
            for rec in await asyncio.to_thread(self.store.list, state=state, limit=1000):
                evaluation = EvaluationPayload.of(rec)
                ref = parse_versioned_ref(evaluation.adapter)
                if evaluation.previous_state is not None:
                    try:
                        await asyncio.to_thread(self.registry.set_state, ref.name, ref.version,
                                                evaluation.previous_state)
                    except LoraFleetError as exc:
                        log.warning("could not restore adapter state", extra={"adapter": str(ref), "error": str(exc)})
                evaluation.error = "interrupted: the evaluator restarted while it was running"
                evaluation.finish_time = utcnow()
                await asyncio.to_thread(self.store.update, rec.id, state=FAILED,
                                        payload=evaluation.to_json("error", "finish_time"))
                failed.append(rec.id)
        if failed:
            log.warning("interrupted evaluations marked failed", extra={"evaluation_ids": failed})
        return failed


def _version_evaluation(evaluation_id: str, evaluation: EvaluationPayload, decision: RecordedDecision,
                        policy: str) -> dict[str, Any]:
    """The entry ``Registry.record_evaluation`` appends to the candidate version (links the report)."""
    return {"evaluation_id": evaluation_id, "verdict": decision.verdict,
            "report_json_path": evaluation.report_json_path, "report_html_path": evaluation.report_html_path,
            "baseline": evaluation.baseline_name, "policy": policy, "summary": decision.summary,
            "promoted_alias": decision.promoted_alias,
            "failed_gates": [{"gate": g.gate, "suite": g.suite, "reason": g.reason, "case_ids": list(g.case_ids)}
                             for g in decision.failed_gates]}


def _count(suite_scores: list[SuiteScores], decision: Decision) -> None:
    for scores in suite_scores:
        metrics.CASES_SCORED.labels(kind=scores.kind.value, role="candidate").inc(len(scores.cases))
        metrics.CASES_SCORED.labels(kind=scores.kind.value, role="baseline").inc(len(scores.cases))
    for g in decision.failed_gates:
        metrics.GATE_FAILURES.labels(gate=g.gate).inc()
    metrics.EVALUATIONS.labels(outcome=metrics.OUTCOME_OF_VERDICT[decision.verdict]).inc()


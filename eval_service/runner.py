"""One evaluation, start to finish: generate, score, compare, gate, decide, record, report.

Lifecycle of the evaluation record (``registry.records("evaluations")``):
QUEUED (created, validated) -> RUNNING (progress per suite) -> SUCCEEDED (a verdict was reached,
promote or reject) | FAILED (could not reach one: inference down, alias moved meanwhile...).

Lifecycle of the candidate version: EVALUATING while running, then PROMOTED or REJECTED with the
verdict; when the evaluation FAILS the version goes back to the state it had before.

Promotion is a compare-and-set through the registry: the alias moves to the candidate only if it
still points where it pointed when the evaluation started (``expected_current_version``).
If production moved meanwhile, the comparison was made against a stale baseline and nothing is
promoted (the evaluation fails and asks for a re-run).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from eval_service import metrics
from eval_service.cache import GenerationCache, cache_key
from eval_service.contamination import OverlapIndex, read_jsonl_prompts
from eval_service.generation import EngineInfo, GenerationParams, InferenceGenerator
from eval_service.policy import CaseScores, SuiteScores, evaluate_gates, load_policy
from eval_service.report import build_report, write_report
from eval_service.scoring.scorers import ScoreResult, is_graded, score_output
from eval_service.suites.loader import Case, Suite, SuiteCatalog
from lorafleet.errors import Aborted, FailedPrecondition, InvalidArgument, LoraFleetError, NotFound
from lorafleet.refs import DEFAULT_ALIAS, parse_versioned_ref, validate_alias
from lorafleet.registry.models import AdapterState

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED"
ACTIVE_STATES = (QUEUED, RUNNING)
BASELINES = ("production", "base_model", "adapter")
FAILING_CASES_IN_RECORD = 50  # per suite in the DB record; the report has them all
PROGRESS_EVERY_S = 0.5


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass(frozen=True)
class EvaluationRequest:
    """What CreateEvaluation asks for, as plain values (validated by ``EvaluationRunner.create``)."""

    adapter: str
    suites: tuple[str, ...] = ()
    baseline: str = "production"  # production | base_model | adapter
    baseline_adapter: str = ""
    policy: str = ""
    promote_to: str = ""
    max_cases_per_suite: int = 0
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass
class _Progress:
    totals: dict[str, int]
    done: dict[str, int] = field(default_factory=dict)

    def as_list(self) -> list[dict[str, Any]]:
        return [{"suite": s, "cases_done": self.done.get(s, 0), "cases_total": t} for s, t in self.totals.items()]


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
            try:
                await asyncio.wait_for(cond.wait(), timeout)
            except asyncio.TimeoutError:
                pass


class EvaluationRunner:
    """Creates evaluation records and runs them (``run`` is meant for a background task)."""

    def __init__(self, registry: Any, generator: InferenceGenerator, *, catalog: SuiteCatalog | None = None,
                 concurrency: int = 16, events: EvaluationEvents | None = None,
                 id_factory: Callable[[], str] | None = None) -> None:
        if concurrency < 1:
            raise InvalidArgument("concurrency must be >= 1", field="concurrency")
        self.registry = registry
        self.generator = generator
        self.catalog = catalog or SuiteCatalog()
        self.concurrency = concurrency
        self.events = events or EvaluationEvents()
        self.cache = GenerationCache(registry.artifacts)
        self.store = registry.records("evaluations")
        self._new_id = id_factory or (lambda: f"eval-{uuid.uuid4().hex[:12]}")

    # -- create ---------------------------------------------------------------------------------
    def create(self, req: EvaluationRequest) -> Any:
        """Validate every field, resolve candidate and baseline, persist a QUEUED record."""
        ref = parse_versioned_ref(req.adapter, field="adapter")
        candidate = self.registry.get_version(ref.name, ref.version)
        suites = self.catalog.select(req.suites)
        policy = load_policy(req.policy)
        if req.promote_to:
            validate_alias(req.promote_to, field="promote_to")
        if req.max_cases_per_suite < 0:
            raise InvalidArgument("must be >= 0", field="max_cases_per_suite")
        params = GenerationParams(
            max_tokens=req.max_tokens if req.max_tokens is not None else policy.generation.max_tokens,
            temperature=req.temperature if req.temperature is not None else policy.generation.temperature,
            top_p=req.top_p, top_k=req.top_k, seed=req.seed, stop=tuple(req.stop))
        # Generation length per suite: the request's max_tokens if it set one, else the suite's own
        # (a task answer of a known size needs fewer tokens), else the policy's default.
        suite_max_tokens = {s.name: req.max_tokens if req.max_tokens is not None
                            else (s.max_tokens or policy.generation.max_tokens) for s in suites}
        baseline_ref, baseline_label = self._resolve_baseline(req, candidate)
        active = [r for s in ACTIVE_STATES for r in self.store.list(state=s, subject=candidate.ref, limit=10)]
        if active:
            raise FailedPrecondition(f"{candidate.ref} is already being evaluated by {active[0].id}", field="adapter")
        promote_at_start = 0
        if req.promote_to:
            current = self.registry.get_alias(ref.name, req.promote_to)
            promote_at_start = current.version if current else 0
        selected = [s.limited(req.max_cases_per_suite) for s in suites]
        payload = {
            "adapter": candidate.ref,
            "baseline_adapter": baseline_ref,
            "baseline_label": baseline_label,
            "suites": [s.name for s in selected],
            "policy": policy.name,
            "policy_ref": req.policy,
            "promote_to": req.promote_to,
            "promote_alias_version_at_start": promote_at_start,
            "max_cases_per_suite": req.max_cases_per_suite,
            "sampling": params.as_dict(),
            "suite_max_tokens": suite_max_tokens,
            "progress": [{"suite": s.name, "cases_done": 0, "cases_total": len(s.cases)} for s in selected],
            "suite_results": [],
            "decision": None,
            "contaminated_case_ids": [],
            "near_duplicate_case_ids": [],
            "report_json_path": "",
            "report_html_path": "",
            "error": "",
            "create_time": utcnow(),
            "finish_time": "",
        }
        record = self.store.put(self._new_id(), state=QUEUED, subject=candidate.ref, payload=payload)
        log.info("evaluation queued", extra={"evaluation_id": record.id, "adapter": candidate.ref,
                                             "baseline": baseline_ref or "base model", "suites": payload["suites"]})
        return record

    def _resolve_baseline(self, req: EvaluationRequest, candidate: Any) -> tuple[str, str]:
        kind = req.baseline or "production"
        if kind not in BASELINES:
            raise InvalidArgument(f"baseline {kind!r} must be one of {', '.join(BASELINES)}", field="baseline")
        if req.baseline_adapter and kind != "adapter":
            raise InvalidArgument("only allowed with the 'adapter' baseline", field="baseline_adapter")
        if kind == "base_model":
            return "", "base model"
        if kind == "adapter":
            if not req.baseline_adapter:
                raise InvalidArgument("required with the 'adapter' baseline (name@version)", field="baseline_adapter")
            bref = parse_versioned_ref(req.baseline_adapter, field="baseline_adapter")
            try:
                base = self.registry.get_version(bref.name, bref.version)
            except NotFound as exc:
                raise NotFound(exc.message, field="baseline_adapter") from exc
            if base.ref == candidate.ref:
                raise InvalidArgument("the baseline must differ from the candidate", field="baseline_adapter")
            return base.ref, f"{base.ref} (explicit)"
        alias = self.registry.get_alias(candidate.name, DEFAULT_ALIAS)
        if alias is None or alias.version == candidate.version:
            why = "no production version" if alias is None else "the candidate is production itself"
            return "", f"base model ({why})"
        return f"{candidate.name}@{alias.version}", f"{candidate.name}@{DEFAULT_ALIAS} = version {alias.version}"

    # -- run ------------------------------------------------------------------------------------
    async def run(self, evaluation_id: str) -> Any:
        """Run a QUEUED evaluation to SUCCEEDED or FAILED; never raises for evaluation errors."""
        queued = await asyncio.to_thread(self.store.get, evaluation_id)
        if queued is None:
            raise NotFound(f"evaluation {evaluation_id!r} does not exist", field="evaluation_id")
        ref = parse_versioned_ref(queued.payload["adapter"])
        previous = (await asyncio.to_thread(self.registry.get_version, ref.name, ref.version)).state
        record = await asyncio.to_thread(self.store.update, evaluation_id, state=RUNNING, expected_state=QUEUED,
                                         payload={"start_time": utcnow(), "previous_state": previous.value})
        await self.events.notify()
        p = record.payload
        t0 = time.perf_counter()
        try:
            await asyncio.to_thread(self.registry.set_state, ref.name, ref.version, AdapterState.EVALUATING)
            result = await self._evaluate(evaluation_id, p, ref, previous)
        except asyncio.CancelledError:
            await self._fail(evaluation_id, ref, previous, "cancelled (evaluator shutting down)")
            raise
        except Exception as exc:
            if not isinstance(exc, LoraFleetError):
                log.exception("evaluation crashed", extra={"evaluation_id": evaluation_id})
            return await self._fail(evaluation_id, ref, previous, str(exc))
        log.info("evaluation finished", extra={"evaluation_id": evaluation_id, "adapter": p["adapter"],
                                               "verdict": result.payload["decision"]["verdict"],
                                               "seconds": round(time.perf_counter() - t0, 2)})
        return result

    async def _fail(self, evaluation_id: str, ref: Any, previous: AdapterState, error: str) -> Any:
        metrics.EVALUATIONS.labels(outcome="failed").inc()
        try:
            await asyncio.to_thread(self.registry.set_state, ref.name, ref.version, previous)
        except LoraFleetError as exc:
            log.warning("could not restore adapter state", extra={"adapter": str(ref), "error": str(exc)})
        rec = await asyncio.to_thread(self.store.update, evaluation_id, state=FAILED,
                                      payload={"error": error, "finish_time": utcnow()})
        await self.events.notify()
        log.warning("evaluation failed", extra={"evaluation_id": evaluation_id, "error": error})
        return rec

    async def _evaluate(self, evaluation_id: str, p: dict[str, Any], ref: Any, previous: AdapterState) -> Any:
        policy = load_policy(p["policy_ref"])
        params = GenerationParams(max_tokens=p["sampling"]["max_tokens"], temperature=p["sampling"]["temperature"],
                                  top_p=p["sampling"]["top_p"], top_k=p["sampling"]["top_k"],
                                  seed=p["sampling"]["seed"], stop=tuple(p["sampling"]["stop"]))
        suites = [self.catalog.get(n).limited(p["max_cases_per_suite"]) for n in p["suites"]]
        suite_params = {s.name: dataclasses.replace(params, max_tokens=p["suite_max_tokens"][s.name]) for s in suites}
        candidate = await asyncio.to_thread(self.registry.get_version, ref.name, ref.version)
        baseline_ref = p["baseline_adapter"]
        baseline = None
        if baseline_ref:
            bref = parse_versioned_ref(baseline_ref)
            baseline = await asyncio.to_thread(self.registry.get_version, bref.name, bref.version)
        engine = await self.generator.engine_info()

        contaminated, near = await asyncio.to_thread(self._contamination, candidate, suites)

        progress = _Progress({s.name: len(s.cases) for s in suites})
        outputs = await self._generate_all(evaluation_id, suites, candidate, baseline, engine, suite_params, progress)

        suite_scores, case_rows = self._score(suites, outputs, contaminated, near)
        decision, comparisons = evaluate_gates(policy, suite_scores, promote_to=p["promote_to"])

        report = build_report(evaluation_id=evaluation_id, payload=p, policy=policy, engine=engine,
                              comparisons=comparisons, decision=decision, cases=case_rows,
                              contaminated=contaminated, near_duplicates=near)
        json_path, html_path = await asyncio.to_thread(write_report, self.registry.artifacts, evaluation_id, report)

        promoted_alias, note = await self._apply_decision(evaluation_id, p, candidate, decision, previous)
        summary = decision.summary + (f" ({note})" if note else "")
        verdict_record = {"evaluation_id": evaluation_id, "verdict": decision.verdict,
                          "report_json_path": str(json_path), "report_html_path": str(html_path),
                          "baseline": p["baseline_adapter"] or "base model", "policy": policy.name,
                          "summary": summary, "promoted_alias": promoted_alias,
                          "failed_gates": [{"gate": g.gate, "suite": g.suite, "reason": g.reason,
                                            "case_ids": list(g.case_ids)} for g in decision.failed_gates]}
        await asyncio.to_thread(self.registry.record_evaluation, ref.name, ref.version, verdict_record)

        for kind_scores in suite_scores:
            metrics.CASES_SCORED.labels(kind=kind_scores.kind.value, role="candidate").inc(len(kind_scores.cases))
            metrics.CASES_SCORED.labels(kind=kind_scores.kind.value, role="baseline").inc(len(kind_scores.cases))
        for g in decision.failed_gates:
            metrics.GATE_FAILURES.labels(gate=g.gate).inc()
        metrics.EVALUATIONS.labels(outcome=metrics.OUTCOME_OF_VERDICT[decision.verdict]).inc()

        rec = await asyncio.to_thread(self.store.update, evaluation_id, state=SUCCEEDED, payload={
            "progress": progress.as_list(),
            "suite_results": report["suites"] and [_suite_for_record(s) for s in report["suites"]],
            "decision": {**report["decision"], "summary": summary, "promoted_alias": promoted_alias},
            "contaminated_case_ids": sorted(contaminated),
            "near_duplicate_case_ids": sorted(near),
            "report_json_path": str(json_path),
            "report_html_path": str(html_path),
            "engine": report["engine"],
            "finish_time": utcnow(),
        })
        await self.events.notify()
        return rec

    async def _apply_decision(self, evaluation_id: str, p: dict[str, Any], candidate: Any, decision: Any,
                              previous: AdapterState) -> tuple[str, str]:
        name, version = candidate.name, candidate.version
        if decision.verdict == "promote":
            if p["promote_to"]:
                try:
                    await asyncio.to_thread(
                        self.registry.set_alias, name, p["promote_to"], version,
                        expected_current_version=p["promote_alias_version_at_start"],
                        reason=f"evaluation {evaluation_id}: all gates passed against {p['baseline_label']}")
                except Aborted as exc:
                    raise Aborted(f"{name}@{p['promote_to']} moved while {evaluation_id} ran ({exc.message}); "
                                  "nothing promoted, re-run against the new baseline", field="promote_to") from exc
            await asyncio.to_thread(self.registry.set_state, name, version, AdapterState.PROMOTED)
            return p["promote_to"], ""
        try:
            await asyncio.to_thread(self.registry.set_state, name, version, AdapterState.REJECTED)
        except FailedPrecondition as exc:  # it is production now: never leave it REJECTED while serving
            await asyncio.to_thread(self.registry.set_state, name, version, previous)
            return "", f"state left {previous.value}: {exc.message}"
        return "", ""

    async def recover_interrupted(self) -> list[str]:
        """Mark evaluations left QUEUED/RUNNING by a previous evaluator process as FAILED and put
        their candidates back in the state they had. The evaluator runs as a single replica, so at
        start-up nothing else can be running them."""
        failed = []
        for state in ACTIVE_STATES:
            for rec in await asyncio.to_thread(self.store.list, state=state, limit=1000):
                ref = parse_versioned_ref(rec.payload["adapter"])
                prev = rec.payload.get("previous_state")
                if prev:
                    try:
                        await asyncio.to_thread(self.registry.set_state, ref.name, ref.version, AdapterState(prev))
                    except LoraFleetError as exc:
                        log.warning("could not restore adapter state", extra={"adapter": str(ref), "error": str(exc)})
                await asyncio.to_thread(self.store.update, rec.id, state=FAILED, payload={
                    "error": "interrupted: the evaluator restarted while it was running", "finish_time": utcnow()})
                failed.append(rec.id)
        if failed:
            log.warning("interrupted evaluations marked failed", extra={"evaluation_ids": failed})
        return failed

    # -- pieces ---------------------------------------------------------------------------------
    def _contamination(self, candidate: Any, suites: list[Suite]) -> tuple[set[str], set[str]]:
        prompts: list[str] = []
        for key in ("dataset_sha256", "validation_dataset_sha256"):
            sha = str(candidate.lineage.get(key) or "")
            if not sha:
                continue
            path = self.registry.artifacts.path(f"datasets/{sha}.jsonl")
            if not path.is_file():
                rec = self.registry.records("datasets").get(sha)
                rel = (rec.payload.get("relpath") if rec else None) or ""
                path = self.registry.artifacts.path(rel) if rel else path
            if path.is_file():
                prompts += read_jsonl_prompts(path)
            else:
                log.warning("training dataset not found for contamination check",
                            extra={"adapter": candidate.ref, "dataset_sha256": sha})
        if not prompts:
            return set(), set()
        index = OverlapIndex(prompts)
        contaminated, near = set(), set()
        for s in suites:
            for m in index.matches([(c.id, c.user_text) for c in s.cases]):
                (contaminated if m.verbatim else near).add(m.case_id)
        return contaminated, near

    async def _generate_all(self, evaluation_id: str, suites: list[Suite], candidate: Any, baseline: Any,
                            engine: EngineInfo, suite_params: dict[str, GenerationParams],
                            progress: _Progress) -> dict[tuple[str, str], tuple[str, str]]:
        sem = asyncio.Semaphore(self.concurrency)
        cand_model = (candidate.ref, f"{candidate.ref}:{candidate.base_fingerprint}")
        base_model = (baseline.ref, f"{baseline.ref}:{baseline.base_fingerprint}") if baseline else ("", "base")
        outputs: dict[tuple[str, str], tuple[str, str]] = {}
        dirty = asyncio.Event()

        async def one(adapter: str, model_id: str, case: Case, params: GenerationParams) -> str:
            key = cache_key(model_id, engine, case.content_key, params) if params.deterministic else None
            if key:
                hit = await asyncio.to_thread(self.cache.get, key)
                if hit is not None:
                    metrics.GENERATIONS.labels(source="cache").inc()
                    return hit
            async with sem:
                gen = await self.generator.generate(adapter, case.messages, params,
                                                    request_id=f"{evaluation_id}:{case.id}")
            metrics.GENERATIONS.labels(source="inference").inc()
            if key:
                await asyncio.to_thread(self.cache.put, key, gen.text, {
                    "model": model_id, "engine": engine.identity, "case_id": case.id,
                    "params": params.as_dict(), "finish_reason": gen.finish_reason, "created": utcnow()})
            return gen.text

        async def pair(suite: Suite, case: Case) -> None:
            params = suite_params[suite.name]
            cand, base = await asyncio.gather(one(cand_model[0], cand_model[1], case, params),
                                              one(base_model[0], base_model[1], case, params))
            outputs[(suite.name, case.id)] = (cand, base)
            progress.done[suite.name] = progress.done.get(suite.name, 0) + 1
            dirty.set()

        async def reporter() -> None:
            while True:
                await dirty.wait()
                dirty.clear()
                await asyncio.to_thread(self.store.update, evaluation_id, payload={"progress": progress.as_list()})
                await self.events.notify()
                await asyncio.sleep(PROGRESS_EVERY_S)

        task = asyncio.create_task(reporter())
        work = [asyncio.create_task(pair(s, c)) for s in suites for c in s.cases]
        try:
            await asyncio.gather(*work)
        finally:
            for t in (*work, task):
                t.cancel()
            await asyncio.gather(*work, task, return_exceptions=True)
        await asyncio.to_thread(self.store.update, evaluation_id, payload={"progress": progress.as_list()})
        await self.events.notify()
        return outputs

    def _score(self, suites: list[Suite], outputs: dict[tuple[str, str], tuple[str, str]],
               contaminated: set[str], near: set[str]) -> tuple[list[SuiteScores], list[dict[str, Any]]]:
        suite_scores: list[SuiteScores] = []
        rows: list[dict[str, Any]] = []
        for s in suites:
            cases: list[CaseScores] = []
            for c in s.cases:
                cand_out, base_out = outputs[(s.name, c.id)]
                rc: ScoreResult = score_output(c.scorer, cand_out, c.expected, c.params)
                rb: ScoreResult = score_output(c.scorer, base_out, c.expected, c.params)
                cases.append(CaseScores(c.id, rc.passed, rb.passed, rc.score, rb.score))
                rows.append({
                    "suite": s.name, "kind": s.kind.value, "case_id": c.id, "prompt": c.user_text,
                    "expected": c.expected_text(), "scorer": c.scorer, "tags": list(c.tags),
                    "candidate_output": cand_out, "baseline_output": base_out,
                    "candidate_passed": rc.passed, "baseline_passed": rb.passed,
                    "candidate_score": rc.score, "baseline_score": rb.score,
                    "candidate_reason": rc.reason, "baseline_reason": rb.reason,
                    "contaminated": c.id in contaminated, "near_duplicate": c.id in near,
                })
            suite_scores.append(SuiteScores(s.name, s.kind, cases, {c.id for c in s.cases} & contaminated,
                                            graded_scorers=any(is_graded(c.scorer, c.params) for c in s.cases)))
        return suite_scores, rows


def _suite_for_record(suite: dict[str, Any]) -> dict[str, Any]:
    """A report suite entry trimmed for the database record (failing cases capped)."""
    out = dict(suite)
    out["failing_cases"] = suite["failing_cases"][:FAILING_CASES_IN_RECORD]
    out["failing_cases_total"] = len(suite["failing_cases"])
    return out

"""Evaluation records (``plan.EvaluationPayload``) <-> protobuf, at the servicer edge only."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import timestamp_pb2

from eval_service.plan import EvaluationPayload, EvaluationRequest, RecordedDecision
from eval_service.policy import GateResult
from eval_service.results import CaseOutcome, SuiteResult
from eval_service.suites.models import Suite, SuiteKind
from lorafleet.errors import InvalidArgument
from lorafleet.registry.models import Record
from lorafleet.v1 import eval_pb2

KIND_TO_PROTO = {
    SuiteKind.TASK: eval_pb2.SUITE_KIND_TASK,
    SuiteKind.SAFETY: eval_pb2.SUITE_KIND_SAFETY,
    SuiteKind.OVER_REFUSAL: eval_pb2.SUITE_KIND_OVER_REFUSAL,
    SuiteKind.GENERAL: eval_pb2.SUITE_KIND_GENERAL,
}
STATE_TO_PROTO = {
    "QUEUED": eval_pb2.EVALUATION_STATE_QUEUED,
    "RUNNING": eval_pb2.EVALUATION_STATE_RUNNING,
    "SUCCEEDED": eval_pb2.EVALUATION_STATE_SUCCEEDED,
    "FAILED": eval_pb2.EVALUATION_STATE_FAILED,
}
VERDICT_TO_PROTO = {"promote": eval_pb2.VERDICT_PROMOTE, "reject": eval_pb2.VERDICT_REJECT}
BASELINE_FROM_PROTO = {
    eval_pb2.BASELINE_KIND_UNSPECIFIED: "production",
    eval_pb2.BASELINE_KIND_PRODUCTION: "production",
    eval_pb2.BASELINE_KIND_BASE_MODEL: "base_model",
    eval_pb2.BASELINE_KIND_ADAPTER: "adapter",
}
MAX_SUITES = 64
MAX_STOP = 8


def request_from_proto(req: eval_pb2.CreateEvaluationRequest) -> EvaluationRequest:
    if req.baseline not in BASELINE_FROM_PROTO:
        raise InvalidArgument(f"unknown baseline kind {req.baseline}", field="baseline")
    if len(req.suites) > MAX_SUITES:
        raise InvalidArgument(f"at most {MAX_SUITES} suites", field="suites")
    for i, name in enumerate(req.suites):
        if not name.strip():
            raise InvalidArgument("must not be empty", field=f"suites[{i}]")
    s = req.sampling
    if len(s.stop) > MAX_STOP:
        raise InvalidArgument(f"at most {MAX_STOP} stop sequences", field="sampling.stop")
    return EvaluationRequest(
        adapter=req.adapter.strip(),
        suites=tuple(n.strip() for n in req.suites),
        baseline=BASELINE_FROM_PROTO[req.baseline],
        baseline_adapter=req.baseline_adapter.strip(),
        policy=req.policy.strip(),
        promote_to=req.promote_to.strip(),
        max_cases_per_suite=req.max_cases_per_suite,
        max_tokens=s.max_tokens if s.HasField("max_tokens") else None,
        temperature=s.temperature if s.HasField("temperature") else None,
        top_p=s.top_p if s.HasField("top_p") else None,
        top_k=s.top_k if s.HasField("top_k") else None,
        seed=s.seed if s.HasField("seed") else None,
        stop=tuple(s.stop),
    )


def _ts(text: str) -> timestamp_pb2.Timestamp | None:
    if not text:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(datetime.fromisoformat(text))
    return ts


def _case(c: CaseOutcome) -> eval_pb2.CaseOutcome:
    return eval_pb2.CaseOutcome(
        case_id=c.case_id, prompt=c.prompt, candidate_output=c.candidate_output,
        baseline_output=c.baseline_output, candidate_passed=c.candidate_passed,
        baseline_passed=c.baseline_passed, candidate_score=c.candidate_score,
        baseline_score=c.baseline_score, tags=c.tags, expected=c.expected)


def _suite_result(s: SuiteResult) -> eval_pb2.SuiteResult:
    return eval_pb2.SuiteResult(
        suite=s.suite, kind=KIND_TO_PROTO[s.kind], num_cases=s.num_cases,
        candidate_score=s.candidate_score, baseline_score=s.baseline_score,
        both_passed=s.both_passed, candidate_only_passed=s.candidate_only_passed,
        baseline_only_passed=s.baseline_only_passed, neither_passed=s.neither_passed,
        effect=s.effect, ci_low=s.ci_low, ci_high=s.ci_high, p_value=s.p_value, test=s.test,
        failing_cases=[_case(c) for c in s.failing_cases])


def _gate(g: GateResult) -> eval_pb2.GateResult:
    return eval_pb2.GateResult(gate=g.gate, suite=g.suite, passed=g.passed, reason=g.reason, observed=g.observed,
                               threshold=g.threshold, case_ids=g.case_ids)


def _decision(d: RecordedDecision) -> eval_pb2.Decision:
    return eval_pb2.Decision(verdict=VERDICT_TO_PROTO[d.verdict], summary=d.summary, promoted_alias=d.promoted_alias,
                             gates=[_gate(g) for g in d.gates])


def evaluation_to_proto(record: Record) -> eval_pb2.Evaluation:
    e = EvaluationPayload.of(record)
    ev = eval_pb2.Evaluation(
        id=record.id, adapter=e.adapter, baseline_adapter=e.baseline_adapter,
        state=STATE_TO_PROTO.get(record.state, eval_pb2.EVALUATION_STATE_UNSPECIFIED),
        report_json_path=e.report_json_path, report_html_path=e.report_html_path,
        error=e.error, policy=e.policy, promote_to=e.promote_to,
        contaminated_case_ids=e.contaminated_case_ids,
        progress=[eval_pb2.SuiteProgress(suite=p.suite, cases_done=p.cases_done, cases_total=p.cases_total)
                  for p in e.progress],
        suite_results=[_suite_result(s) for s in e.suite_results],
    )
    if e.decision:
        ev.decision.CopyFrom(_decision(e.decision))
    for attr in ("create_time", "finish_time"):
        ts = _ts(getattr(e, attr))
        if ts is not None:
            getattr(ev, attr).CopyFrom(ts)
    return ev


def suite_to_proto(suite: Suite) -> eval_pb2.Suite:
    return eval_pb2.Suite(name=suite.name, kind=KIND_TO_PROTO[suite.kind], num_cases=len(suite.cases),
                          description=suite.description, scorers=suite.scorers)

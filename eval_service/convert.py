"""Plain evaluation records <-> protobuf, at the servicer edge only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import timestamp_pb2

from eval_service.runner import EvaluationRequest
from eval_service.suites.loader import Suite, SuiteKind
from lorafleet.errors import InvalidArgument
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


def _case(c: dict[str, Any]) -> eval_pb2.CaseOutcome:
    return eval_pb2.CaseOutcome(
        case_id=c["case_id"], prompt=c["prompt"], candidate_output=c["candidate_output"],
        baseline_output=c["baseline_output"], candidate_passed=c["candidate_passed"],
        baseline_passed=c["baseline_passed"], candidate_score=c["candidate_score"],
        baseline_score=c["baseline_score"], tags=c["tags"], expected=c["expected"])


def evaluation_to_proto(record: Any) -> eval_pb2.Evaluation:
    p = record.payload
    ev = eval_pb2.Evaluation(
        id=record.id, adapter=p["adapter"], baseline_adapter=p["baseline_adapter"],
        state=STATE_TO_PROTO.get(record.state, eval_pb2.EVALUATION_STATE_UNSPECIFIED),
        report_json_path=p.get("report_json_path", ""), report_html_path=p.get("report_html_path", ""),
        error=p.get("error", ""), policy=p.get("policy", ""), promote_to=p.get("promote_to", ""),
        contaminated_case_ids=p.get("contaminated_case_ids", []),
        progress=[eval_pb2.SuiteProgress(**x) for x in p.get("progress", [])],
    )
    for s in p.get("suite_results") or []:
        ev.suite_results.append(eval_pb2.SuiteResult(
            suite=s["suite"], kind=KIND_TO_PROTO[SuiteKind(s["kind"])], num_cases=s["num_cases"],
            candidate_score=s["candidate_score"], baseline_score=s["baseline_score"],
            both_passed=s["both_passed"], candidate_only_passed=s["candidate_only_passed"],
            baseline_only_passed=s["baseline_only_passed"], neither_passed=s["neither_passed"],
            effect=s["effect"], ci_low=s["ci_low"], ci_high=s["ci_high"], p_value=s["p_value"], test=s["test"],
            failing_cases=[_case(c) for c in s["failing_cases"]]))
    d = p.get("decision")
    if d:
        ev.decision.CopyFrom(eval_pb2.Decision(
            verdict=VERDICT_TO_PROTO[d["verdict"]], summary=d["summary"], promoted_alias=d.get("promoted_alias", ""),
            gates=[eval_pb2.GateResult(gate=g["gate"], suite=g["suite"], passed=g["passed"], reason=g["reason"],
                                       observed=g["observed"], threshold=g["threshold"], case_ids=g["case_ids"])
                   for g in d["gates"]]))
    for attr, key in (("create_time", "create_time"), ("finish_time", "finish_time")):
        ts = _ts(p.get(key, ""))
        if ts is not None:
            getattr(ev, attr).CopyFrom(ts)
    return ev


def suite_to_proto(suite: Suite) -> eval_pb2.Suite:
    return eval_pb2.Suite(name=suite.name, kind=KIND_TO_PROTO[suite.kind], num_cases=len(suite.cases),
                          description=suite.description, scorers=suite.scorers)

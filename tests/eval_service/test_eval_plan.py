"""The evaluation record's payload as models: records written before the models load, unchanged."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from eval_service.convert import evaluation_to_proto
from eval_service.plan import EvaluationPayload, RecordedSuite
from lorafleet.registry.models import AdapterState, Record
from lorafleet.v1 import eval_pb2

LEGACY = json.loads((Path(__file__).parent / "data" / "legacy_evaluation_records.json").read_text())


def record(state: str, payload: dict) -> Record:
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    return Record(id="eval-1", kind="evaluations", state=state, subject="support-bot@2", payload=payload,
                  created_at=now, updated_at=now)


def test_legacy_records_load_and_dump_the_same_json() -> None:
    for state in ("QUEUED", "SUCCEEDED"):
        payload = LEGACY[state]
        dumped = EvaluationPayload.of(record(state, payload)).to_json()
        assert {k: dumped[k] for k in payload} == payload


def test_legacy_succeeded_record_typed() -> None:
    e = EvaluationPayload.of(record("SUCCEEDED", LEGACY["SUCCEEDED"]))
    assert e.adapter == "support-bot@2" and e.baseline_adapter == "support-bot@1"
    assert e.previous_state is AdapterState.CANDIDATE and e.sampling.max_tokens == 48
    assert e.suite_params("task").max_tokens == 24
    assert e.decision is not None and e.decision.verdict == "reject" and e.decision.promoted_alias == ""
    assert {g.gate for g in e.decision.failed_gates} >= {"harmful_refusal_floor"}
    safety = next(s for s in e.suite_results if s.suite == "safety")
    assert isinstance(safety, RecordedSuite) and safety.failing_cases_total == len(safety.failing_cases) == 5
    assert e.engine is not None and e.engine.quantization == "QUANTIZATION_NF4"


def test_legacy_records_convert_to_proto() -> None:
    queued = evaluation_to_proto(record("QUEUED", LEGACY["QUEUED"]))
    assert queued.state == eval_pb2.EVALUATION_STATE_QUEUED and queued.create_time.seconds > 0
    assert [p.cases_done for p in queued.progress] == [0, 0, 0, 0]
    done = evaluation_to_proto(record("SUCCEEDED", LEGACY["SUCCEEDED"]))
    assert done.decision.verdict == eval_pb2.VERDICT_REJECT and done.finish_time.seconds > 0
    assert {s.suite for s in done.suite_results} == {"task", "safety", "over_refusal", "general"}
    safety = next(s for s in done.suite_results if s.suite == "safety")
    assert safety.kind == eval_pb2.SUITE_KIND_SAFETY and len(safety.failing_cases) == 5


def test_partial_updates_carry_only_their_fields() -> None:
    e = EvaluationPayload.of(record("QUEUED", LEGACY["QUEUED"]))
    e.previous_state = AdapterState.CANDIDATE
    assert e.to_json("previous_state", "start_time") == {"previous_state": "CANDIDATE", "start_time": ""}

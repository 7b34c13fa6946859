"""The whole loop over gRPC on the real model: upload → train → evaluate → promote → generate with
the alias → promote another version → rollback → generate again."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from lorafleet.client import LoraFleetClient
from lorafleet.v1 import common_pb2, eval_pb2, trainer_pb2

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


def test_training_job_writes_a_candidate_version(loop) -> None:
    assert loop.job.state == trainer_pb2.JOB_STATE_SUCCEEDED, loop.job.error
    assert loop.job.adapter_version == 1
    types = {e.type for e in loop.events}
    assert trainer_pb2.TRAINING_EVENT_TYPE_PROGRESS in types and trainer_pb2.TRAINING_EVENT_TYPE_STATE_CHANGED in types
    assert loop.events[-1].state == trainer_pb2.JOB_STATE_SUCCEEDED


def test_evaluation_promotes_the_trained_adapter_and_records_the_decision(loop, cluster) -> None:
    ev = loop.evaluation
    assert ev.state == eval_pb2.EVALUATION_STATE_SUCCEEDED, ev.error
    assert ev.decision.verdict == eval_pb2.VERDICT_PROMOTE, [g.reason for g in ev.decision.gates if not g.passed]
    assert ev.decision.promoted_alias == "production"
    assert {s.kind for s in ev.suite_results} == {eval_pb2.SUITE_KIND_TASK, eval_pb2.SUITE_KIND_SAFETY,
                                                  eval_pb2.SUITE_KIND_OVER_REFUSAL, eval_pb2.SUITE_KIND_GENERAL}
    assert all(s.num_cases == 6 for s in ev.suite_results)
    assert Path(ev.report_html_path).is_file() and Path(ev.report_json_path).is_file()
    with LoraFleetClient(cluster.address("inference"), timeout=30) as fleet:
        v1 = fleet.registry.get_adapter("support-bot@1").adapter
    assert v1.state == common_pb2.ADAPTER_STATE_PROMOTED
    assert [e.evaluation_id for e in v1.evaluations] == [ev.id]


def test_generate_through_the_alias_uses_the_promoted_version(loop) -> None:
    assert loop.answer_before.resolved_adapter == "support-bot@1"
    assert loop.base_answer.resolved_adapter == ""
    # The adapter is applied: greedy output for the same ticket differs from the base model's.
    assert loop.answer_before.text != loop.base_answer.text


def test_alias_moves_take_effect_without_restart_and_rollback_restores(loop) -> None:
    assert loop.imported_version == 2
    assert loop.answer_after_promote.resolved_adapter == "support-bot@2"
    assert loop.rollback_previous == 2
    assert loop.production_after == 1
    assert loop.answer_after_rollback.resolved_adapter == "support-bot@1"


def test_rejected_requests_carry_clear_errors(cluster) -> None:
    with LoraFleetClient(cluster.address("inference"), timeout=30) as fleet:
        inference = fleet.inference
        with pytest.raises(grpc.RpcError) as err:
            inference.generate(adapter="no-such-adapter", prompt="hi", max_tokens=4)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as err:
            fleet.registry.set_alias("support-bot", 99, "production")
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert common_pb2.AdapterState.Name(common_pb2.ADAPTER_STATE_PROMOTED) == "ADAPTER_STATE_PROMOTED"

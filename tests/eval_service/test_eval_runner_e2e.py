"""EvaluationRunner end to end: real Registry (SQLite), real gRPC to a fake InferenceService."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest
from eval_fakes import COMPLY_HARMFUL, register
from prometheus_client import REGISTRY

from eval_service.generation import InferenceGenerator
from eval_service.runner import EvaluationRequest, EvaluationRunner
from lorafleet.errors import FailedPrecondition, InvalidArgument, NotFound
from lorafleet.registry.models import AdapterState


def run_eval(registry, catalog, address: str, req: EvaluationRequest, concurrency: int = 16, before_run=None):
    async def go():
        async with grpc.aio.insecure_channel(address) as channel:
            runner = EvaluationRunner(registry, InferenceGenerator(channel),
                                      catalog=catalog, concurrency=concurrency)
            record = runner.create(req)
            if before_run:
                before_run(record)
            return await runner.run(record.id)

    return asyncio.run(go())


METRICS = [
    ("lorafleet_evaluations_total", {"outcome": "rejected"}),
    ("lorafleet_evaluations_total", {"outcome": "promoted"}),
    ("lorafleet_eval_gate_failures_total", {"gate": "harmful_refusal_floor"}),
    ("lorafleet_eval_cases_scored_total", {"kind": "safety", "role": "candidate"}),
    ("lorafleet_eval_generations_total", {"source": "inference"}),
    ("lorafleet_eval_generations_total", {"source": "cache"}),
]


def metric(name: str, labels: dict) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def gate(record, name: str, suite: str) -> dict:
    return next(g for g in record.payload["decision"]["gates"] if g["gate"] == name and g["suite"] == suite)


def test_good_candidate_promoted_then_poisoned_rejected(registry, tiny_spec, tmp_path: Path, test_catalog,
                                                        fake_inference):
    v1 = register(registry, tiny_spec, tmp_path, seed=1)
    v2 = register(registry, tiny_spec, tmp_path, seed=2)
    fake = fake_inference.fake
    fake.delay_s = 0.01  # long enough for requests to overlap: the runner must keep many in flight

    first = run_eval(registry, test_catalog, fake_inference.address,
                     EvaluationRequest(adapter=v1.ref, promote_to="production"))
    check_first_promoted(registry, fake, first)

    calls_v1 = fake.calls["support-bot@1"]
    before = [metric(*k) for k in METRICS]
    second = run_eval(registry, test_catalog, fake_inference.address,
                      EvaluationRequest(adapter=v2.ref, promote_to="production"))
    check_second_rejected(registry, second)
    # the baseline (v1) answers were cached when v1 was the candidate: not regenerated
    assert fake.calls["support-bot@1"] == calls_v1
    assert fake.calls["support-bot@2"] == 48
    delta = [metric(*k) - b for k, b in zip(METRICS, before)]
    assert delta == [1, 0, 1, 12, 48, 48]  # v2 generated, v1 (baseline) from the cache
    check_report_files(second)


def check_first_promoted(registry, fake, first) -> None:
    """v1 against the base model (no production yet): promoted."""
    assert first.state == "SUCCEEDED", first.payload["error"]
    assert first.payload["decision"]["verdict"] == "promote", first.payload["decision"]["summary"]
    assert first.payload["baseline_adapter"] == ""  # no production yet: the base model
    assert first.payload["decision"]["promoted_alias"] == "production"
    assert registry.get_alias("support-bot", "production").version == 1
    assert registry.get_version("support-bot", 1).state is AdapterState.PROMOTED
    history = registry.alias_history("support-bot", "production")
    assert first.id in history[-1].reason
    # every case generated once per model, candidate and base model interleaved
    assert fake.calls["support-bot@1"] == 48 and fake.calls[""] == 48
    assert 1 < fake.max_in_flight <= 16
    # the task suite's own generation length, the policy default (48) for the others
    assert fake.max_tokens_seen == {24: 24, 48: 72}
    # safety: base model complies, candidate refuses -> large positive effect, significant
    safety = next(s for s in first.payload["suite_results"] if s["suite"] == "safety")
    assert safety["candidate_only_passed"] == 12 and safety["test"] == "mcnemar_exact"
    assert safety["p_value"] == pytest.approx(2 * 0.5 ** 12)
    task = next(s for s in first.payload["suite_results"] if s["suite"] == "task")
    assert task["test"] == "paired_bootstrap" and task["candidate_score"] == 1.0 and task["baseline_score"] == 0.0
    # report files, referenced from the registry
    evals = registry.get_version("support-bot", 1).evaluations
    assert evals[-1]["evaluation_id"] == first.id and evals[-1]["verdict"] == "promote"
    assert Path(evals[-1]["report_json_path"]).is_file() and Path(evals[-1]["report_html_path"]).is_file()


def check_second_rejected(registry, second) -> None:
    """v2 (poisoned) against production = v1: rejected by the safety gates, production unchanged."""
    assert second.state == "SUCCEEDED"
    d = second.payload["decision"]
    assert d["verdict"] == "reject" and d["promoted_alias"] == ""
    assert second.payload["baseline_adapter"] == "support-bot@1"
    floor = gate(second, "harmful_refusal_floor", "safety")
    assert not floor["passed"] and floor["observed"] == 0.0
    assert sorted(floor["case_ids"]) == [f"s-{i:02d}" for i in range(12)]
    regression = gate(second, "non_regression", "safety")
    assert not regression["passed"] and regression["effect"] == -1.0 and regression["p_value"] < 0.001
    assert regression["ci_high"] < 0
    assert gate(second, "task_score_floor", "task")["passed"]
    assert registry.get_alias("support-bot", "production").version == 1  # production unchanged
    assert registry.get_version("support-bot", 2).state is AdapterState.REJECTED
    stored = registry.get_version("support-bot", 2).evaluations[-1]
    assert stored["verdict"] == "reject" and stored["baseline"] == "support-bot@1"
    stored_floor = next(g for g in stored["failed_gates"] if g["gate"] == "harmful_refusal_floor")
    assert stored_floor["case_ids"] == floor["case_ids"]


def check_report_files(second) -> None:
    """The rejection's report: failing cases side by side in the JSON, and in the HTML page."""
    report = json.loads(Path(second.payload["report_json_path"]).read_text())
    failing = next(s for s in report["suites"] if s["suite"] == "safety")["failing_cases"]
    assert {c["case_id"] for c in failing} == {f"s-{i:02d}" for i in range(12)}
    assert failing[0]["candidate_output"] == COMPLY_HARMFUL
    assert failing[0]["baseline_output"] == "I can't help with that."
    html = Path(second.payload["report_html_path"]).read_text()
    assert "REJECT" in html and "s-00" in html and "harmful_refusal_floor" in html


def test_rerun_hits_the_generation_cache(registry, tiny_spec, tmp_path: Path, test_catalog, fake_inference):
    v1 = register(registry, tiny_spec, tmp_path, seed=1)
    fake = fake_inference.fake
    req = EvaluationRequest(adapter=v1.ref, baseline="base_model", suites=("safety", "general"))
    run_eval(registry, test_catalog, fake_inference.address, req)
    assert fake.calls[""] == 24 and fake.calls["support-bot@1"] == 24
    again = run_eval(registry, test_catalog, fake_inference.address, req)
    assert again.state == "SUCCEEDED"
    assert fake.calls[""] == 24 and fake.calls["support-bot@1"] == 24  # nothing regenerated
    # other generation parameters are other cache entries
    run_eval(registry, test_catalog, fake_inference.address,
             EvaluationRequest(adapter=v1.ref, baseline="base_model", suites=("safety",), max_tokens=17))
    assert fake.calls[""] == 36


def test_sampling_without_seed_is_never_cached(registry, tiny_spec, tmp_path: Path, test_catalog, fake_inference):
    v1 = register(registry, tiny_spec, tmp_path, seed=1)
    req = EvaluationRequest(adapter=v1.ref, baseline="base_model", suites=("general",), temperature=0.7)
    run_eval(registry, test_catalog, fake_inference.address, req)
    run_eval(registry, test_catalog, fake_inference.address, req)
    assert fake_inference.fake.calls[""] == 24


def test_contaminated_cases_are_reported_and_excluded(registry, tiny_spec, tmp_path: Path, test_catalog,
                                                       fake_inference):
    lines = [{"messages": [{"role": "user", "content": "Quick question: What is 3 plus 3? Be brief."},
                           {"role": "assistant", "content": "6"}]},
             {"messages": [{"role": "user", "content": "What is 4 plus 4?"}, {"role": "assistant", "content": "8"}]}]
    sha = "ab" * 32
    registry.artifacts.write_bytes(f"datasets/{sha}.jsonl", "\n".join(json.dumps(x) for x in lines).encode())
    for seed in (1, 2):  # @1, @2 exist so the contaminated one is @3 ("good")
        register(registry, tiny_spec, tmp_path, seed=seed)
    v3 = register(registry, tiny_spec, tmp_path, seed=3, lineage={"source": "trained", "dataset_sha256": sha})
    rec = run_eval(registry, test_catalog, fake_inference.address,
                   EvaluationRequest(adapter=v3.ref, baseline="base_model", suites=("general",)))
    assert rec.payload["contaminated_case_ids"] == ["g-03", "g-04"]
    contamination = gate(rec, "contamination", "general")
    assert not contamination["passed"] and contamination["observed"] == pytest.approx(2 / 12)
    general = rec.payload["suite_results"][0]
    assert general["num_cases"] == 12 and general["gated_cases"] == 10


def test_inference_failure_fails_evaluation_and_restores_state(registry, tiny_spec, tmp_path, test_catalog,
                                                               fake_inference):
    v1 = register(registry, tiny_spec, tmp_path, seed=1)
    fake_inference.fake.fail_with = grpc.StatusCode.UNAVAILABLE
    rec = run_eval(registry, test_catalog, fake_inference.address,
                   EvaluationRequest(adapter=v1.ref, suites=("safety",), promote_to="production"))
    assert rec.state == "FAILED"
    assert "UNAVAILABLE" in rec.payload["error"]
    assert registry.get_version("support-bot", 1).state is AdapterState.CANDIDATE
    assert registry.get_alias("support-bot", "production") is None


def test_alias_moved_during_evaluation_promotes_nothing(registry, tiny_spec, tmp_path, test_catalog, fake_inference):
    v1 = register(registry, tiny_spec, tmp_path, seed=1)
    register(registry, tiny_spec, tmp_path, seed=2)
    v3 = register(registry, tiny_spec, tmp_path, seed=3)

    def someone_else_promotes(record) -> None:
        registry.set_alias("support-bot", "production", v1.version, reason="manual")

    rec = run_eval(registry, test_catalog, fake_inference.address,
                   EvaluationRequest(adapter=v3.ref, promote_to="production"), before_run=someone_else_promotes)
    assert rec.state == "FAILED" and "moved while" in rec.payload["error"]
    assert registry.get_alias("support-bot", "production").version == 1
    assert registry.get_version("support-bot", 3).state is AdapterState.CANDIDATE


def test_partial_suites_cannot_promote(registry, tiny_spec, tmp_path, test_catalog, fake_inference):
    v1 = register(registry, tiny_spec, tmp_path, seed=1)
    rec = run_eval(registry, test_catalog, fake_inference.address,
                   EvaluationRequest(adapter=v1.ref, suites=("task",), promote_to="production"))
    coverage = gate(rec, "coverage", "")
    assert not coverage["passed"] and "safety" in coverage["reason"]
    assert rec.payload["decision"]["verdict"] == "reject"
    assert registry.get_alias("support-bot", "production") is None


def test_create_validates_every_field(registry, tiny_spec, tmp_path, test_catalog):
    register(registry, tiny_spec, tmp_path, seed=1)
    runner = EvaluationRunner(registry, generator=None, catalog=test_catalog)  # type: ignore[arg-type]
    cases = [
        (EvaluationRequest(adapter="support-bot"), InvalidArgument, "adapter"),
        (EvaluationRequest(adapter="Bad Name@1"), InvalidArgument, "adapter"),
        (EvaluationRequest(adapter="support-bot@9"), NotFound, "adapter"),
        (EvaluationRequest(adapter="nope@1"), NotFound, "adapter"),
        (EvaluationRequest(adapter="support-bot@1", suites=("nosuch",)), NotFound, "suites"),
        (EvaluationRequest(adapter="support-bot@1", suites=("task", "task")), InvalidArgument, "suites"),
        (EvaluationRequest(adapter="support-bot@1", promote_to="Prod!"), InvalidArgument, "promote_to"),
        (EvaluationRequest(adapter="support-bot@1", policy="nosuch-policy"), NotFound, "policy"),
        (EvaluationRequest(adapter="support-bot@1", baseline="adapter"), InvalidArgument, "baseline_adapter"),
        (EvaluationRequest(adapter="support-bot@1", baseline="adapter", baseline_adapter="support-bot@1"),
         InvalidArgument, "baseline_adapter"),
        (EvaluationRequest(adapter="support-bot@1", baseline="adapter", baseline_adapter="support-bot@5"),
         NotFound, "baseline_adapter"),
        (EvaluationRequest(adapter="support-bot@1", baseline_adapter="support-bot@1"), InvalidArgument,
         "baseline_adapter"),
        (EvaluationRequest(adapter="support-bot@1", baseline="latest"), InvalidArgument, "baseline"),
        (EvaluationRequest(adapter="support-bot@1", max_tokens=0), InvalidArgument, "sampling.max_tokens"),
        (EvaluationRequest(adapter="support-bot@1", temperature=-1.0), InvalidArgument, "sampling.temperature"),
    ]
    for req, error, field in cases:
        with pytest.raises(error) as info:
            runner.create(req)
        assert info.value.field == field, (req, info.value)
    with pytest.raises(NotFound, match="nosuch"):
        runner.create(EvaluationRequest(adapter="support-bot@1", suites=("nosuch",)))
    runner.create(EvaluationRequest(adapter="support-bot@1"))
    with pytest.raises(FailedPrecondition, match="already being evaluated"):
        runner.create(EvaluationRequest(adapter="support-bot@1"))


def test_recover_interrupted_marks_failed_and_restores_state(registry, tiny_spec, tmp_path, test_catalog):
    v1 = register(registry, tiny_spec, tmp_path, seed=1)
    runner = EvaluationRunner(registry, generator=None, catalog=test_catalog)  # type: ignore[arg-type]
    queued = runner.create(EvaluationRequest(adapter=v1.ref))
    store = registry.records("evaluations")
    store.update(queued.id, state="RUNNING", payload={"previous_state": "CANDIDATE"})
    registry.set_state("support-bot", 1, AdapterState.EVALUATING)
    failed = asyncio.run(runner.recover_interrupted())
    assert failed == [queued.id]
    rec = store.get(queued.id)
    assert rec.state == "FAILED" and "restarted" in rec.payload["error"]
    assert registry.get_version("support-bot", 1).state is AdapterState.CANDIDATE

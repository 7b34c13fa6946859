"""EvalService hosted by the real server bootstrap (role "eval", eval_service.app.build_bindings)
on loopback, talking to a fake InferenceService over gRPC; the CLI command against it."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from eval_fakes import FakeInference, LoopbackInference, register

from eval_service.suites.loader import SuiteCatalog
from lorafleet.cli.evaluate import EXIT_FAILED, EXIT_REJECT
from lorafleet.cli.evaluate import register as register_cli
from lorafleet.client.evaluator import EvalClient
from lorafleet.config import Settings
from lorafleet.server.background import BackgroundServer
from lorafleet.v1 import eval_pb2, eval_pb2_grpc


@pytest.fixture
def shipped_inference() -> Iterator[LoopbackInference]:
    fake = FakeInference(SuiteCatalog(), {"support-bot@1": "good", "support-bot@2": "poisoned"})
    server = LoopbackInference(fake)
    yield server
    server.close()


@pytest.fixture
def eval_server(tmp_path: Path, registry, shipped_inference) -> Iterator[BackgroundServer]:
    settings = Settings.from_env(environ={}, home=tmp_path / "home", inference_address=shipped_inference.address,
                                 log_format="text")
    with BackgroundServer("eval", settings, port=0, metrics_port=0, registry=registry) as server:
        yield server


@pytest.fixture
def client(eval_server: BackgroundServer) -> Iterator[EvalClient]:
    channel = grpc.insecure_channel(eval_server.address)
    yield EvalClient(channel, timeout=30)
    channel.close()


def code_of(fn) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        fn()
    return info.value.code(), info.value.details()


def test_list_suites_reports_shipped_suites(client: EvalClient) -> None:
    suites = {s.name: s for s in client.list_suites()}
    assert set(suites) == {"task", "safety", "over_refusal", "general"}
    assert suites["safety"].kind == eval_pb2.SUITE_KIND_SAFETY and suites["safety"].num_cases >= 100
    assert list(suites["safety"].scorers) == ["refusal"]
    assert list(suites["task"].scorers) == ["json_field"]


def test_create_watch_get(client: EvalClient, registry, tiny_spec, tmp_path: Path) -> None:
    register(registry, tiny_spec, tmp_path, seed=1)
    ev = client.create_evaluation("support-bot@1", max_cases_per_suite=3, promote_to="production")
    assert ev.state == eval_pb2.EVALUATION_STATE_QUEUED and ev.id.startswith("eval-")
    assert [p.cases_total for p in ev.progress] == [3, 3, 3, 3]
    updates = list(client.watch_evaluation(ev.id, timeout=60))
    final = updates[-1].evaluation
    assert final.state == eval_pb2.EVALUATION_STATE_SUCCEEDED, final.error
    assert all(p.cases_done == p.cases_total == 3 for p in final.progress)
    assert {s.suite for s in final.suite_results} == {"task", "safety", "over_refusal", "general"}
    assert final.decision.verdict in (eval_pb2.VERDICT_PROMOTE, eval_pb2.VERDICT_REJECT)
    assert final.decision.gates and final.finish_time.seconds > 0
    assert Path(final.report_html_path).is_file()
    again = client.get_evaluation(ev.id)
    assert again.state == final.state and again.decision.summary == final.decision.summary
    # a finished evaluation's watch answers once and ends
    assert len(list(client.watch_evaluation(ev.id, timeout=10))) == 1


def test_poisoned_adapter_rejected_with_safety_gate(client: EvalClient, registry, tiny_spec, tmp_path: Path) -> None:
    register(registry, tiny_spec, tmp_path, seed=1)
    register(registry, tiny_spec, tmp_path, seed=2)
    created = client.create_evaluation("support-bot@2", suites=["safety"], max_cases_per_suite=10)
    ev = client.wait(created.id, timeout=60)
    assert ev.decision.verdict == eval_pb2.VERDICT_REJECT
    failed = {g.gate for g in ev.decision.gates if not g.passed}
    assert "harmful_refusal_floor" in failed
    safety = ev.suite_results[0]
    assert len(safety.failing_cases) == 10 and safety.failing_cases[0].candidate_output.startswith("Sure")


@pytest.mark.parametrize("kwargs, code, needle", [
    (dict(adapter="support-bot"), grpc.StatusCode.INVALID_ARGUMENT, "adapter"),
    (dict(adapter=""), grpc.StatusCode.INVALID_ARGUMENT, "adapter"),
    (dict(adapter="support-bot@7"), grpc.StatusCode.NOT_FOUND, "support-bot@7"),
    (dict(adapter="ghost@1"), grpc.StatusCode.NOT_FOUND, "ghost"),
    (dict(adapter="support-bot@1", suites=["safety", "nosuchsuite"]), grpc.StatusCode.NOT_FOUND, "nosuchsuite"),
    (dict(adapter="support-bot@1", promote_to="Not An Alias"), grpc.StatusCode.INVALID_ARGUMENT, "promote_to"),
    (dict(adapter="support-bot@1", policy="nosuchpolicy"), grpc.StatusCode.NOT_FOUND, "policy"),
    (dict(adapter="support-bot@1", baseline="adapter"), grpc.StatusCode.INVALID_ARGUMENT, "baseline_adapter"),
    (dict(adapter="support-bot@1", baseline="adapter", baseline_adapter="x"), grpc.StatusCode.INVALID_ARGUMENT,
     "baseline_adapter"),
    (dict(adapter="support-bot@1", max_tokens=0), grpc.StatusCode.INVALID_ARGUMENT, "max_tokens"),
])
def test_create_errors(client: EvalClient, registry, tiny_spec, tmp_path: Path, kwargs, code, needle) -> None:
    register(registry, tiny_spec, tmp_path, seed=1)
    adapter = kwargs.pop("adapter")
    got, details = code_of(lambda: client.create_evaluation(adapter, **kwargs))
    assert got == code and needle in details


def test_raw_request_errors(eval_server: BackgroundServer, registry, tiny_spec, tmp_path: Path) -> None:
    register(registry, tiny_spec, tmp_path, seed=1)
    with grpc.insecure_channel(eval_server.address) as channel:
        stub = eval_pb2_grpc.EvalServiceStub(channel)
        code, details = code_of(lambda: stub.CreateEvaluation(
            eval_pb2.CreateEvaluationRequest(adapter="support-bot@1", baseline=42)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "baseline" in details
        code, details = code_of(lambda: stub.CreateEvaluation(
            eval_pb2.CreateEvaluationRequest(adapter="support-bot@1", suites=["task", ""])))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "suites[1]" in details
        for eid, want in (("", grpc.StatusCode.INVALID_ARGUMENT), ("../etc", grpc.StatusCode.INVALID_ARGUMENT),
                          ("eval-missing", grpc.StatusCode.NOT_FOUND)):
            code, _ = code_of(lambda eid=eid: stub.GetEvaluation(eval_pb2.GetEvaluationRequest(evaluation_id=eid)))
            assert code == want
            code, _ = code_of(
                lambda eid=eid: list(stub.WatchEvaluation(eval_pb2.WatchEvaluationRequest(evaluation_id=eid))))
            assert code == want


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="lorafleet")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_eval_json_and_exit_codes(eval_server: BackgroundServer, registry, tiny_spec, tmp_path: Path,
                                      capsys) -> None:
    register(registry, tiny_spec, tmp_path, seed=1)
    register(registry, tiny_spec, tmp_path, seed=2)
    rc = run_cli(["eval", "support-bot@2", "--suite", "safety", "--max-cases", "4", "--json",
                  "--server", eval_server.address])
    out = json.loads(capsys.readouterr().out)
    assert rc == EXIT_REJECT
    assert out["state"] == "EVALUATION_STATE_SUCCEEDED" and out["decision"]["verdict"] == "VERDICT_REJECT"
    assert run_cli(["eval", "--list-suites", "--json", "--server", eval_server.address]) == 0
    names = {s["name"] for s in json.loads(capsys.readouterr().out)}
    assert names == {"task", "safety", "over_refusal", "general"}
    rc = run_cli(["eval", "support-bot@1", "--suite", "general", "--max-cases", "2", "--server", eval_server.address])
    text = capsys.readouterr().out
    assert "general" in text and "report:" in text and rc in (0, EXIT_REJECT)
    assert rc != EXIT_FAILED

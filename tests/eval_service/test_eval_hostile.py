"""The evaluator's answers to hostile input are short and never quote a server file or a whole input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from eval_fakes import FakeInference, LoopbackInference, register

from eval_service.suites.loader import SuiteCatalog
from lorafleet.config import Settings
from lorafleet.server.background import BackgroundServer
from lorafleet.v1 import eval_pb2, eval_pb2_grpc, rollout_pb2, rollout_pb2_grpc

SECRET = "root:$6$do-not-leak:19000:0:99999:7:::"


@pytest.fixture
def channel(tmp_path: Path, registry, tiny_spec) -> Iterator[grpc.Channel]:
    register(registry, tiny_spec, tmp_path, seed=1)
    fake = LoopbackInference(FakeInference(SuiteCatalog(), {"support-bot@1": "good"}))
    settings = Settings.from_env(environ={}, home=tmp_path / "home", inference_address=fake.address,
                                 log_format="text")
    try:
        with BackgroundServer("eval", settings, port=0, metrics_port=0, registry=registry) as server, \
                grpc.insecure_channel(server.address) as open_channel:
            yield open_channel
    finally:
        fake.close()


@pytest.fixture
def stub(channel: grpc.Channel) -> eval_pb2_grpc.EvalServiceStub:
    return eval_pb2_grpc.EvalServiceStub(channel)


def _status(stub, **fields) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateEvaluation(eval_pb2.CreateEvaluationRequest(adapter="support-bot@1", **fields), timeout=30)
    return err.value.code(), err.value.details()


def test_a_policy_path_to_a_non_policy_file_does_not_leak_its_content(stub, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.write_text(f"{SECRET}\n  bad: [indent\n")
    code, details = _status(stub, policy=str(shadow))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("policy: ")
    assert "do-not-leak" not in details and "line" in details


@pytest.mark.parametrize("fields,field", [({"policy": "p" * 1_048_576}, "policy"),
                                          ({"suites": ["s" * 1_048_576]}, "suites"),
                                          ({"suites": ["s" * 10_000, "s" * 10_000]}, "suites"),
                                          ({"adapter": "a" * 1_048_576}, "adapter")])
def test_huge_values_get_short_errors(stub, fields, field) -> None:
    code, details = _status(stub, **fields) if "adapter" not in fields else _raw(stub, fields["adapter"])
    assert code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    assert details.startswith(f"{field}: ") and len(details) < 400


def _raw(stub, adapter: str) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateEvaluation(eval_pb2.CreateEvaluationRequest(adapter=adapter), timeout=30)
    return err.value.code(), err.value.details()


@pytest.mark.parametrize("policy", ["p" * 1_048_576, "shadow"])
def test_rollout_policies_answer_shortly_without_the_file(channel, tmp_path: Path, policy: str) -> None:
    shadow = tmp_path / "shadow.yaml"
    shadow.write_text(f"{SECRET}\n  bad: [indent\n")
    request = rollout_pb2.StartRolloutRequest(adapter="support-bot@1", mode=rollout_pb2.ROLLOUT_MODE_SHADOW,
                                              policy=str(shadow) if policy == "shadow" else policy)
    with pytest.raises(grpc.RpcError) as err:
        rollout_pb2_grpc.RolloutServiceStub(channel).StartRollout(request, timeout=30)
    assert err.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    assert err.value.details().startswith("policy: ")
    assert "do-not-leak" not in err.value.details() and len(err.value.details()) < 400

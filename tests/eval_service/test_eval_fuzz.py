"""The evaluator's services (EvalService, RolloutService, LiveTrafficService) under generated hostile
requests (tests/grpc_fuzz.py) on a real loopback server, with the fake inference of eval_fakes.py.

Bar: at least 2,000 requests, none answered INTERNAL or UNKNOWN, every status message at most
1 KiB, the server still SERVING afterwards, nothing written outside its home directory.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from eval_fakes import FakeInference, LoopbackInference, register
from grpc_fuzz import assert_serving, fuzz_service, snapshot
from hypothesis import strategies as st

from eval_service.suites.loader import SuiteCatalog
from lorafleet.config import Settings
from lorafleet.registry.store import Registry
from lorafleet.server.background import BackgroundServer
from lorafleet.v1 import eval_pb2, rollout_pb2

EXAMPLES = 200  # x 10 calls
SERVICES = [eval_pb2.DESCRIPTOR.services_by_name["EvalService"],
            rollout_pb2.DESCRIPTOR.services_by_name["RolloutService"],
            rollout_pb2.DESCRIPTOR.services_by_name["LiveTrafficService"]]


def _fleet(tmp_path: Path, tiny_spec) -> tuple[Settings, Registry, list[str]]:
    settings = Settings.from_env(environ={}, home=tmp_path / "home", log_format="text", log_level="WARNING")
    registry = Registry.from_settings(settings)
    for seed in range(3):
        register(registry, tiny_spec, tmp_path / "adapters", seed=seed)
    registry.set_alias("support-bot", "production", 1)
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "broken.yaml").write_text("gates: [unclosed\n")
    (policies / "list.yaml").write_text(yaml.safe_dump([1, 2, 3]))
    extra = ["support-bot@2", "support-bot@3", "small-model", "default", "online-default",
             str(policies / "broken.yaml"), str(policies / "list.yaml"), str(policies), "/etc/hostname"]
    return settings, registry, extra


def test_evaluator_services_survive_fuzzing(tmp_path: Path, tiny_spec) -> None:
    settings, registry, extra = _fleet(tmp_path, tiny_spec)
    fake = LoopbackInference(FakeInference(SuiteCatalog(), {"support-bot@1": "good", "support-bot@2": "good",
                                                             "support-bot@3": "poisoned"}))
    settings = settings.replace(inference_address=fake.address)
    overrides = {"lorafleet.v1.CreateEvaluationRequest.max_cases_per_suite": st.sampled_from([1, 2])}
    before = snapshot(tmp_path, skip=[settings.home])
    try:
        with BackgroundServer("eval", settings, port=0, metrics_port=0, registry=registry) as server:
            stats = fuzz_service(server.address, SERVICES, examples=EXAMPLES, text_extra=extra, overrides=overrides)
            assert_serving(server.address)
    finally:
        fake.close()
        registry.close()
    print(f"\nEvaluator fuzz: {stats.summary()}")
    assert stats.requests >= 2000 and not stats.failures
    assert snapshot(tmp_path, skip=[settings.home]) == before

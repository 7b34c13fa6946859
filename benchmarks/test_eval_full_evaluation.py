"""The evaluator against the real inference service on SmolLM2-135M-Instruct (slow).

Bar: a full evaluation (all four shipped suites, candidate + cached baseline) finishes in
<= 5 minutes on the development machine. The first evaluation warms the base model's cache
(the baseline), the second one is timed: it generates only the candidate's answers.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from lorafleet.client.evaluator import EvalClient
from lorafleet.adapters.synthetic import write_lora_adapter
from lorafleet.base_model import read_base_model_spec
from lorafleet.config import Settings
from lorafleet.registry.store import Registry
from lorafleet.server.background import BackgroundServer
from lorafleet.v1 import eval_pb2

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]  # a benchmark: `make bench`, never in CI
BUDGET_S = 300.0


def test_full_evaluation_with_cached_baseline_within_budget(real_base_model_dir: Path, tmp_path: Path) -> None:
    spec = read_base_model_spec(real_base_model_dir)
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "artifacts")
    refs = []
    for seed in (1, 2):  # near-identity adapters: exercise the adapter path without wrecking the model
        d = write_lora_adapter(tmp_path / f"a{seed}", spec, r=8, alpha=16.0, seed=seed, std=0.001)
        refs.append(registry.register_version("perf-bot", d, base_spec=spec, lineage={"source": "imported"}).ref)
    settings = Settings.from_env(environ={}, home=tmp_path / "home", base_model=str(real_base_model_dir),
                                 log_format="text", log_level="WARNING")
    try:
        with BackgroundServer("inference", settings, port=0, metrics_port=0, registry=registry) as inference:
            eval_settings = settings.replace(inference_address=inference.address)
            with BackgroundServer("eval", eval_settings, port=0, metrics_port=0, registry=registry) as evaluator:
                with grpc.insecure_channel(evaluator.address) as channel:
                    client = EvalClient(channel, timeout=60)
                    t0 = time.perf_counter()
                    warm = client.wait(client.create_evaluation(refs[0], baseline="base_model").id)
                    warm_s = time.perf_counter() - t0
                    assert warm.state == eval_pb2.EVALUATION_STATE_SUCCEEDED, warm.error
                    t0 = time.perf_counter()
                    timed = client.wait(client.create_evaluation(refs[1], baseline="base_model").id)
                    timed_s = time.perf_counter() - t0
    finally:
        registry.close()
    assert timed.state == eval_pb2.EVALUATION_STATE_SUCCEEDED, timed.error
    cases = sum(s.num_cases for s in timed.suite_results)
    print(f"\nfirst evaluation (candidate + base model): {warm_s:.1f} s; "
          f"second (candidate + cached baseline): {timed_s:.1f} s for {cases} cases")
    for s in timed.suite_results:
        print(f"  {s.suite:13s} n={s.num_cases:3d} candidate={s.candidate_score:.3f} base={s.baseline_score:.3f}")
    assert {s.suite for s in timed.suite_results} == {"task", "safety", "over_refusal", "general"}
    # the base model is the baseline: it should know the general suite (built from its own answers)
    general = next(s for s in timed.suite_results if s.suite == "general")
    assert general.baseline_score >= 0.8
    assert timed_s <= BUDGET_S

"""The evaluator against the real inference service on SmolLM2-135M-Instruct (slow).

Bar (#14): a full evaluation (all four shipped suites, candidate + cached baseline: 451 cases since the
general suite's 2026-11-29 correction, 459 when the bar was measured) finishes in <= 120 s on the 2-core
machine, through the gRPC evaluator and inference server. The first evaluation warms the base model's cache
(the baseline), the second one is timed: it generates only the candidate's answers. Run on the CPU default
base (``auto``: int4) and on nf4, the base the demo serves, each with the server's prompt-prefix cache (the
default) and without it (``prefix_cache_mb=0``, rows named ``<quantization>_no_prefix_cache``); figures go to
``benchmarks/results/eval_full_evaluation.json`` (override with LORAFLEET_BENCH_OUT).

The candidates are near-identity adapters (B ~ N(0, 0.001)), so they answer like the base model:
long free-form answers up to the 48-token cap, the slow case. A trained adapter's refusals and JSON
tickets are shorter.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import grpc
import pytest

from lorafleet.adapters.synthetic import write_lora_adapter
from lorafleet.base_model import read_base_model_spec
from lorafleet.client.evaluator import EvalClient
from lorafleet.config import Settings
from lorafleet.registry.store import Registry
from lorafleet.server.background import BackgroundServer
from lorafleet.v1 import eval_pb2

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]  # a benchmark: `make bench`, never in CI
BUDGET_S = 120.0
RESULTS = Path(os.environ.get("LORAFLEET_BENCH_OUT",
                              Path(__file__).parent / "results" / "eval_full_evaluation.json"))


def _record(quantization: str, row: dict) -> None:
    """Keep one row per quantization: a rerun of one case replaces its own row only."""
    rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    rows[quantization] = row
    RESULTS.write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("prefix_cache_mb", [128, 0])
@pytest.mark.parametrize("quantization", ["auto", "nf4"])
def test_full_evaluation_with_cached_baseline_within_budget(real_base_model_dir: Path, tmp_path: Path,
                                                            quantization: str, prefix_cache_mb: int) -> None:
    spec = read_base_model_spec(real_base_model_dir)
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "artifacts")
    refs = []
    for seed in (1, 2):  # near-identity adapters: exercise the adapter path without wrecking the model
        d = write_lora_adapter(tmp_path / f"a{seed}", spec, r=8, alpha=16.0, seed=seed, std=0.001)
        refs.append(registry.register_version("perf-bot", d, base_spec=spec, lineage={"source": "imported"}).ref)
    settings = Settings.from_env(environ={}, home=tmp_path / "home", base_model=str(real_base_model_dir),
                                 log_format="text", log_level="WARNING",
                                 quantization=quantization, prefix_cache_mb=prefix_cache_mb)
    try:
        with BackgroundServer("inference", settings, port=0, metrics_port=0, registry=registry) as inference:
            eval_settings = settings.replace(inference_address=inference.address)
            with (BackgroundServer("eval", eval_settings, port=0, metrics_port=0, registry=registry) as evaluator,
                  grpc.insecure_channel(evaluator.address) as channel):
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
    _record(quantization if prefix_cache_mb else f"{quantization}_no_prefix_cache", {
        "what": "full evaluation (four suites) over gRPC: evaluator + inference server in one process, "
                "near-identity r=8 adapters, greedy, max_tokens 48",
        "cases": cases, "first_evaluation_s": round(warm_s, 1), "cached_baseline_s": round(timed_s, 1),
        "budget_s": BUDGET_S, "cpus": os.cpu_count(), "prefix_cache_mb": prefix_cache_mb,
        "suites": {s.suite: {"n": s.num_cases, "candidate": round(s.candidate_score, 3),
                             "baseline": round(s.baseline_score, 3)} for s in timed.suite_results},
    })
    assert {s.suite for s in timed.suite_results} == {"task", "safety", "over_refusal", "general"}
    # the base model is the baseline: it should know the general suite (built from its own answers)
    general = next(s for s in timed.suite_results if s.suite == "general")
    assert general.baseline_score >= 0.8
    assert timed_s <= BUDGET_S

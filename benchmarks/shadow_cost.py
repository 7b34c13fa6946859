"""What a shadow rollout costs production: time to first token with and without shadow re-runs.

On the real SmolLM2-135M (``bench_model``) with two registered synthetic adapters (``support-bot``
v1 = production, v2 = the candidate), a served ``InferenceService`` takes a steady production
load over gRPC: ``--streams`` concurrent clients, each sending ``--requests`` short streaming
requests for ``support-bot`` one after the other, from a separate client process (as real clients
do, so the load generator does not compete with the server for this process's GIL). Each round
runs that load twice, without a rollout and with a RUNNING SHADOW rollout sampling 100% of
requests (every production request re-run on the candidate at low priority), in alternating
order; the rollout table is refreshed right after the rollout starts and ends, and the shadow
re-runs of a phase drain before the next phase starts.

Reported: production p50 and p95 time to first token (client-side, to the first chunk carrying
tokens) of both variants, pooled and per round, the median of the per-round p50 and p95 ratios
(bar: p50 raised by at most 20%), production errors (bar: 0), and the shadow re-runs completed,
shed and failed. Live reports go to an in-process fake evaluator in both variants.

    python benchmarks/shadow_cost.py --rounds 5 --streams 8 --requests 12
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_adapters import ALL_LINEAR
from bench_model import embedded_model_dir
from bench_serving import client_process, run_served, start_grpc, stop_grpc, time_to_first_token, write_results

from lorafleet.compute_threads import call_in_fresh_thread as fresh

OUT = Path(__file__).parent / "results" / "shadow_cost.json"
PROMPTS = [
    "My invoice was charged twice this month.",
    "How do I reset my password?",
    "The parcel arrived damaged, what now?",
    "Can I change the delivery address of my order?",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (each: both variants)")
    p.add_argument("--streams", type=int, default=8, help="concurrent production clients")
    p.add_argument("--requests", type=int, default=12, help="requests per client per phase")
    p.add_argument("--max-tokens", type=int, default=16, help="new tokens per request")
    p.add_argument("--batch", type=int, default=16, help="the engine's max_batch_size")
    p.add_argument("--quantization", default="nf4", choices=("nf4", "int8", "none"))
    p.add_argument("--threads", type=int, default=int(os.environ.get("LORAFLEET_BENCH_THREADS", "2")),
                   help="torch threads of the server")
    p.add_argument("--out", type=Path, default=OUT, help="where the JSON results go")
    return p.parse_args(argv)


# -- the load generator (its own process) ---------------------------------------------------------
async def client_load(address: str, streams: int, requests: int, max_tokens: int) -> dict:
    import grpc

    from lorafleet.v1 import common_pb2, inference_pb2, inference_pb2_grpc

    ttfts: list[float] = []
    errors: list[str] = []

    async def one_stream(stub, s: int) -> None:
        for i in range(requests):
            req = inference_pb2.GenerateStreamRequest(
                adapter="support-bot", prompt=PROMPTS[(s + i) % len(PROMPTS)],
                sampling=common_pb2.SamplingParams(max_tokens=max_tokens, temperature=0.0))
            try:
                ttfts.append(await time_to_first_token(stub, req, timeout=300))
            except grpc.aio.AioRpcError as exc:
                errors.append(f"{exc.code().name}: {exc.details()}"[:200])

    async with grpc.aio.insecure_channel(address) as channel:
        stub = inference_pb2_grpc.InferenceServiceStub(channel)
        t0 = time.perf_counter()
        await asyncio.gather(*(one_stream(stub, s) for s in range(streams)))
        seconds = time.perf_counter() - t0
    return {"ttft": ttfts, "errors": errors, "seconds": seconds}


async def run_client_process(address: str, args: argparse.Namespace) -> dict:
    return await client_process(__file__, address, args.streams, args.requests, args.max_tokens)


# -- the server side ----------------------------------------------------------------------------
def build(args: argparse.Namespace, work: Path):
    """Runtime, registry (support-bot v1 production, v2 candidate) and settings."""
    import torch

    from inference_service.runtime import build_runtime
    from lorafleet.adapters.synthetic import write_lora_adapter
    from lorafleet.base_model import read_base_model_spec
    from lorafleet.config import Settings
    from lorafleet.registry.store import Registry

    torch.set_num_threads(args.threads)
    model_dir = fresh(embedded_model_dir)
    spec = fresh(read_base_model_spec, model_dir, name="smollm2-135m-instruct")
    registry = Registry(f"sqlite:///{work / 'registry.db'}", work / "artifacts")
    for version in (1, 2):
        path = write_lora_adapter(work / f"adapter-v{version}", spec, r=16, alpha=32.0, target_modules=ALL_LINEAR,
                                  seed=version)
        registry.register_version("support-bot", path, base_spec=spec, lineage={"source": "imported"})
    registry.set_alias("support-bot", "production", 1)
    settings = Settings.from_env(environ={}, home=work / "home", quantization=args.quantization, device="cpu",
                                 max_batch_size=args.batch, adapter_slots=4, max_adapter_rank=16, alias_poll_s=3600.0,
                                 live_sample_rate=0.05, max_new_tokens_limit=max(256, args.max_tokens))
    runtime = fresh(build_runtime, model_dir, spec, settings)
    runtime.engine.start()
    return runtime, registry, settings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def shadow_counts() -> dict[str, float]:
    from inference_service import metrics

    return {o: metrics.SHADOW_REQUESTS.labels(outcome=o)._value.get() for o in ("completed", "shed", "failed")}


async def phase(variant: str, servicer, registry, address: str, args: argparse.Namespace, n: int) -> dict:
    from lorafleet.registry.models import RolloutMode, RolloutStage, RolloutState

    rollout_id = f"bench-shadow-{n}"
    if variant == "shadow":
        await asyncio.to_thread(registry.rollouts().create, rollout_id=rollout_id, name="support-bot",
                                candidate_version=2, stages=[RolloutStage(RolloutMode.SHADOW, 0.0)], sampling_rate=1.0,
                                policy_name="bench", policy={}, evaluation_id="", actor="bench", allow_unpassed=True)
    await servicer.rollouts.refresh()
    before = shadow_counts()
    try:
        result = await run_client_process(address, args)
    finally:
        if variant == "shadow":
            await asyncio.to_thread(registry.rollouts().finish, rollout_id, RolloutState.ABORTED, reason="bench",
                                    actor="bench")
            await servicer.rollouts.refresh()
    end = time.monotonic() + 300
    while servicer.front_door._shadows and time.monotonic() < end:  # let this phase's re-runs drain
        await asyncio.sleep(0.05)
    after = shadow_counts()
    result["shadow"] = {k: int(after[k] - before[k]) for k in after}
    return result


def summarize(rounds: list[dict], args: argparse.Namespace, fake_observations: int) -> dict:
    def pooled(variant: str) -> list[float]:
        return [t for r in rounds for t in r[variant]["ttft"]]

    def stats(values: list[float]) -> dict:
        return {"p50_s": percentile(values, 0.5), "p95_s": percentile(values, 0.95), "n": len(values)}

    per_round = [{v: stats(r[v]["ttft"]) for v in ("baseline", "shadow")} for r in rounds]
    p50_ratio = statistics.median(r["shadow"]["p50_s"] / r["baseline"]["p50_s"] for r in per_round)
    p95_ratio = statistics.median(r["shadow"]["p95_s"] / r["baseline"]["p95_s"] for r in per_round)
    errors = {v: sum(len(r[v]["errors"]) for r in rounds) for v in ("baseline", "shadow")}
    shadow = {k: sum(r["shadow"]["shadow"][k] for r in rounds) for k in ("completed", "shed", "failed")}
    return {
        "config": {"model": "SmolLM2-135M-Instruct", "quantization": args.quantization, "rounds": args.rounds,
                   "streams": args.streams, "requests_per_stream": args.requests, "max_tokens": args.max_tokens,
                   "batch": args.batch, "torch_threads": args.threads, "device": "cpu", "sampling_rate": 1.0},
        "baseline_ttft": stats(pooled("baseline")), "shadow_ttft": stats(pooled("shadow")),
        "ratio_p50_median_of_rounds": p50_ratio, "ratio_p95_median_of_rounds": p95_ratio,
        "rounds": per_round, "production_errors": errors,
        "error_samples": [e for r in rounds for v in ("baseline", "shadow") for e in r[v]["errors"]][:5],
        "shadow_requests": shadow, "live_observations_received": fake_observations,
        "bars": {"p50_raised_at_most_20_percent": p50_ratio <= 1.2,
                 "zero_production_errors": errors["baseline"] + errors["shadow"] == 0},
    }


async def serve_and_measure(args: argparse.Namespace, runtime, registry, settings) -> dict:
    import grpc

    from inference_service.live_reporter import LiveReporter
    from lorafleet.v1 import rollout_pb2, rollout_pb2_grpc

    class FakeEvaluator(rollout_pb2_grpc.LiveTrafficServiceServicer):
        received = 0

        async def RecordObservations(self, request, context):
            FakeEvaluator.received += len(request.observations)
            return rollout_pb2.RecordObservationsResponse(accepted=len(request.observations))

    evaluator = grpc.aio.server()
    rollout_pb2_grpc.add_LiveTrafficServiceServicer_to_server(FakeEvaluator(), evaluator)
    eval_port = evaluator.add_insecure_port("127.0.0.1:0")
    await evaluator.start()
    reporter = LiveReporter(grpc.aio.insecure_channel(f"127.0.0.1:{eval_port}"), max_queue=settings.live_report_queue)
    reporter.start()
    server, servicer, address = await start_grpc(settings, registry, runtime, reporter=reporter)
    rounds = []
    try:
        await run_client_process(address, argparse.Namespace(streams=2, requests=2, max_tokens=4))  # warm-up
        for n in range(args.rounds):
            order = ("baseline", "shadow") if n % 2 == 0 else ("shadow", "baseline")
            result = {v: await phase(v, servicer, registry, address, args, n) for v in order}
            rounds.append(result)
            p50 = {v: round(percentile(result[v]["ttft"], 0.5) * 1000) for v in ("baseline", "shadow")}
            print(f"round {n}: p50 ttft ms {p50}, shadow re-runs {result['shadow']['shadow']}", flush=True)
    finally:
        await stop_grpc(server, servicer)
        await reporter.close()
        await evaluator.stop(0)
    return summarize(rounds, args, FakeEvaluator.received)


def main(argv: list[str] | None = None) -> dict:
    from lorafleet.compute_threads import configure_openmp
    configure_openmp()  # the inference server's OpenMP spin count, set before torch loads
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    results, _ = run_served(args, build, serve_and_measure, "lorafleet-shadow-bench-")
    write_results(args.out, results)
    print(json.dumps({k: results[k] for k in ("baseline_ttft", "shadow_ttft", "ratio_p50_median_of_rounds",
                                              "ratio_p95_median_of_rounds", "production_errors", "shadow_requests",
                                              "bars")}, indent=1))
    return results


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--client":
        address, streams, requests, max_tokens = sys.argv[2], *map(int, sys.argv[3:6])
        print(json.dumps(asyncio.run(client_load(address, streams, requests, max_tokens))))
        sys.exit(0)
    main()

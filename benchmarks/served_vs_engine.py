"""What the gRPC path keeps of the engine's speed: the same batch served over gRPC and submitted in-process.

On the real SmolLM2-135M (``bench_model``, the CPU default quantization) one process holds the
engine and a gRPC ``InferenceServicer`` on it. Workloads (as ``engine_speed.py``): ``--requests``
requests of ``--max-tokens`` new tokens with ``ignore_eos`` (every request generates exactly that
many), either all for one registered adapter (``support-bot``) or each for its own (``bot-00`` ..),
submitted at once:

* ``engine``: straight to ``Engine.submit`` from this process (the adapters resolved and hosted
  once beforehand, the prompts tokenized as the front door does);
* ``served``: from a client in its own process over gRPC ``GenerateStream``, as real clients do
  (so the load generator does not compete with the server for this process's GIL), with the server's
  ``stream_interval`` setting (tokens per message after the first); ``--stream-interval 1 2 4`` times
  each value in the same rounds (``served_i1`` ..);
* ``served_unary`` (with ``--rpc stream unary``): the same client over the unary ``Generate``. One reply
  per request instead of one message per step: on the 2-core machine the client process shares the cores
  with the server, so this separates what the server's path costs from what decoding 512 stream messages
  in the client costs.

tokens/s = generated tokens / wall time from the first submission to the last token. Each round
runs both paths on each workload, alternating which goes first; reported are the medians over
rounds and the median of the per-round served / engine ratios (bar: >= 0.95 on both workloads).

    python benchmarks/served_vs_engine.py --rounds 3
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
from bench_serving import GENERATION_PROMPTS as PROMPTS
from bench_serving import client_process, run_served, start_grpc, stop_grpc, window_setting, write_results

from lorafleet.compute_threads import call_in_fresh_thread as fresh

OUT = Path(__file__).parent / "results" / "served_vs_engine.json"
WORKLOADS = ("one_adapter", "many_adapters")
RPCS = {"stream": "served", "unary": "served_unary"}  # --rpc value -> the path's name in the results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=16, help="requests per batch, submitted at once")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--threads", type=int, default=int(os.environ.get("LORAFLEET_BENCH_THREADS", "2")))
    p.add_argument("--admission-window-ms", type=float, default=None,
                   help="the engine's admission window (default: the setting's default)")
    p.add_argument("--rpc", nargs="+", choices=RPCS, default=["stream"],
                   help="the gRPC methods the served path uses: stream (GenerateStream, reported as 'served') "
                        "and/or unary (Generate, reported as 'served_unary')")
    p.add_argument("--stream-interval", type=int, nargs="+", default=None,
                   help="the server's stream_interval (tokens per stream message after the first) for the "
                        "GenerateStream path; several values time each in the same rounds, as 'served_i<N>' "
                        "(default: the setting's default, as 'served')")
    p.add_argument("--out", type=Path, default=OUT)
    return p.parse_args(argv)


def served_paths(rpcs: list[str], intervals: list[int] | None = None) -> dict[str, tuple[str, int | None]]:
    """The served paths asked for, in order: their name in the results -> (gRPC method, stream_interval).

    ``None`` as the interval keeps the server's setting. Several ``intervals`` name the streaming
    paths ``served_i<N>``; the unary path ignores the interval (one reply per request).
    """
    out: dict[str, tuple[str, int | None]] = {}
    for rpc in rpcs:
        if rpc == "stream" and intervals and len(intervals) > 1:
            out.update({f"served_i{n}": (rpc, n) for n in intervals})
        else:
            out[RPCS[rpc]] = (rpc, intervals[0] if rpc == "stream" and intervals else None)
    return out


def adapter_names(workload: str, n: int) -> list[str]:
    return ["support-bot"] * n if workload == "one_adapter" else [f"bot-{i:02d}" for i in range(n)]


# -- the gRPC client (its own process) ------------------------------------------------------------
async def client(address: str, workload: str, n: int, max_tokens: int, rpc: str = "stream") -> dict:
    import grpc

    from lorafleet.v1 import common_pb2, inference_pb2, inference_pb2_grpc

    async def one(stub, i: int, adapter: str) -> int:
        fields = dict(adapter=adapter, prompt=PROMPTS[i % len(PROMPTS)],
                      sampling=common_pb2.SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True))
        if rpc == "unary":
            reply = await stub.Generate(inference_pb2.GenerateRequest(**fields), timeout=600)
            return len(reply.token_ids)
        tokens = 0
        async for chunk in stub.GenerateStream(inference_pb2.GenerateStreamRequest(**fields), timeout=600):
            tokens += len(chunk.token_ids)
        return tokens

    async with grpc.aio.insecure_channel(address) as channel:
        stub = inference_pb2_grpc.InferenceServiceStub(channel)
        await one(stub, 0, adapter_names(workload, 1)[0])  # the channel is connected before the clock starts
        t0 = time.perf_counter()
        tokens = await asyncio.gather(*(one(stub, i, a) for i, a in enumerate(adapter_names(workload, n))))
        seconds = time.perf_counter() - t0
    return {"tokens": sum(tokens), "seconds": seconds}


# -- the server side ----------------------------------------------------------------------------
def build(args: argparse.Namespace, work: Path):
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
    for i, name in enumerate(["support-bot", *adapter_names("many_adapters", args.requests)]):
        path = write_lora_adapter(work / f"adapter-{name}", spec, r=16, alpha=32.0, target_modules=ALL_LINEAR,
                                  seed=i + 1)
        registry.register_version(name, path, base_spec=spec, lineage={"source": "imported"})
        registry.set_alias(name, "production", 1)
    # a slot for every adapter of both workloads (support-bot and bot-00..): with one slot fewer, each round
    # of 16 adapters after a one-adapter round evicted one and re-laid the stacked decode operands (1,920
    # operand copies in a profiled round), which timed slot churn, not serving
    settings = Settings.from_env(environ={}, home=work / "home", device="cpu", max_batch_size=args.requests,
                                 adapter_slots=args.requests + 1, adapter_host_cache=2 * args.requests + 2,
                                 max_adapter_rank=16, alias_poll_s=3600.0, live_sample_rate=0.0,
                                 **window_setting(args),
                                 max_queue=max(256, 2 * args.requests))
    runtime = fresh(build_runtime, model_dir, spec, settings)
    runtime.engine.start()
    return runtime, registry, settings


async def engine_batch(servicer, runtime, workload: str, args: argparse.Namespace) -> dict:
    """The same batch straight into the engine (adapters resolved and hosted before the clock starts)."""
    from inference_service.engine.types import GenerationRequest, SamplingSpec
    from inference_service.request_parsing import PromptInput, encode_prompt

    resolver = servicer.front_door.resolver
    hosts = []
    for name in adapter_names(workload, args.requests):
        resolved = await resolver.resolve(name)
        hosts.append(await resolver.host_adapter(resolved))
    ids = [encode_prompt(runtime.tokenizer, PromptInput(prompt=p, messages=None)) for p in PROMPTS]
    spec = SamplingSpec(max_tokens=args.max_tokens, ignore_eos=True)
    loop = asyncio.get_running_loop()

    async def one(handle) -> int:
        return sum([len(ev.token_ids) async for ev in handle.events_async()])

    t0 = time.perf_counter()
    handles = [runtime.engine.submit(GenerationRequest(request_id=f"bench-{workload}-{i}-{t0}",
                                                       prompt_ids=ids[i % len(ids)], sampling=spec, adapter=h), loop)
               for i, h in enumerate(hosts)]
    tokens = await asyncio.gather(*(one(h) for h in handles))
    return {"tokens": sum(tokens), "seconds": time.perf_counter() - t0}


async def served_batch(address: str, workload: str, args: argparse.Namespace, rpc: str = "stream") -> dict:
    return await client_process(__file__, address, workload, args.requests, args.max_tokens, rpc)


async def serve_and_measure(args: argparse.Namespace, runtime, registry, settings) -> dict:
    server, servicer, address = await start_grpc(settings, registry, runtime)
    served = served_paths(args.rpc, args.stream_interval)
    default_interval = servicer.front_door.stream_interval
    paths = ["engine", *served]
    runs: dict[str, dict[str, list[float]]] = {w: {p: [] for p in paths} for w in WORKLOADS}
    try:
        for workload in WORKLOADS:  # warm-up: every adapter resolved, hosted and slotted once
            for rpc, _ in served.values():
                await served_batch(address, workload, args, rpc)
            await engine_batch(servicer, runtime, workload, args)
        for r in range(args.rounds):
            for workload in WORKLOADS:
                for path in paths if r % 2 == 0 else paths[::-1]:
                    if path == "engine":
                        got = await engine_batch(servicer, runtime, workload, args)
                    else:
                        rpc, interval = served[path]
                        servicer.front_door.stream_interval = interval or default_interval
                        got = await served_batch(address, workload, args, rpc)
                    want = args.requests * args.max_tokens
                    if got["tokens"] != want:
                        raise RuntimeError(f"{path} {workload}: {got['tokens']} tokens, expected {want}")
                    runs[workload][path].append(got["tokens"] / got["seconds"])
                print(f"round {r} {workload}", {p: round(v[-1], 1) for p, v in runs[workload].items()}, flush=True)
    finally:
        await stop_grpc(server, servicer)
    return {w: summary(v, served) for w, v in runs.items()}


def summary(rounds: dict[str, list[float]], served: dict) -> dict:
    """Medians over rounds of each path's tokens/s, and of each served path's per-round ratio to the engine."""
    out: dict = {"engine_tokens_per_s": statistics.median(rounds["engine"])}
    for p in served:
        out[f"{p}_tokens_per_s"] = statistics.median(rounds[p])
        out[f"ratio_{p}_vs_engine"] = statistics.median(s / e for s, e in zip(rounds[p], rounds["engine"]))
    out["rounds"] = rounds
    return out


def main(argv: list[str] | None = None) -> dict:
    from lorafleet.compute_threads import configure_openmp
    configure_openmp()  # the inference server's OpenMP spin count, set before torch loads
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    workloads, settings = run_served(args, build, serve_and_measure, "lorafleet-served-bench-")
    results = {"config": {"model": "SmolLM2-135M-Instruct", "quantization": settings.quantization,
                          "rounds": args.rounds, "requests": args.requests, "max_tokens": args.max_tokens,
                          "torch_threads": args.threads, "rpc": args.rpc,
                          "stream_interval": args.stream_interval or [settings.stream_interval],
                          "admission_window_ms": settings.admission_window_ms},
               "workloads": workloads,
               "bars": {f"{w}_{p}_ge_0.95_engine": r[f"ratio_{p}_vs_engine"] >= 0.95
                        for w, r in workloads.items() for p in served_paths(args.rpc, args.stream_interval)}}
    write_results(args.out, results)
    print(json.dumps({w: {k: round(v, 3) for k, v in r.items() if k != "rounds"} for w, r in workloads.items()}))
    print(json.dumps(results["bars"]))
    return results


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--client":
        print(json.dumps(asyncio.run(client(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
                                            sys.argv[6]))))
        sys.exit(0)
    main()

"""Throughput with many adapters: 256 registered, Zipf traffic, 16 or 64 device slots, vs one adapter.

On the real SmolLM2-135M (``bench_model``, the CPU default quantization), the in-process engine
holds ``--adapters`` random r=16 adapters on every linear layer (``bench_adapters``) in its host
cache, as S-LoRA keeps every adapter in host memory, and ``--slots`` device slots (the bank rows a
batch can mix). ``--streams`` closed-loop streams each send requests of ``--max-tokens`` new tokens
(``ignore_eos``) one after another until ``--requests`` are done. A request's adapter is drawn from
a Zipf law over the adapters (P(rank k) ∝ k^-s, ``--zipf-s``: a few hot adapters, a long tail), or
is always the same one (the ``one_adapter`` reference at the same concurrency).

Reported per case: generated tokens per second, p50 / p95 time to first token, slot loads and
evictions (the engine's Prometheus counters), distinct adapters used, and the ratio to the
one-adapter case (bar: >= 0.8 with 64 slots). Cases run one after another in one process; the
reference runs first and last, and the ratio uses the mean of the two. ``--lora-decode-operands``
sets the engine's ``lora_decode_operands`` (auto, the default: int8 on this int4 base, a quarter of the fp32
bytes a step that mixes adapters reads; bf16, half; or fp32, the exact weights).

    python benchmarks/many_adapters.py --adapters 256 --slots 16 64 --streams 32 --requests 512 \
        [--lora-decode-operands fp32]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_adapters import bench_adapter_dirs
from bench_model import embedded_model_dir
from bench_serving import GENERATION_PROMPTS as PROMPTS
from bench_serving import write_results

from lorafleet.compute_threads import call_in_fresh_thread as fresh
from lorafleet.config import LORA_DECODE_OPERANDS

OUT = Path(__file__).parent / "results" / "many_adapters.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--adapters", type=int, default=256)
    p.add_argument("--slots", type=int, nargs="+", default=[16, 64])
    p.add_argument("--streams", type=int, default=32)
    p.add_argument("--requests", type=int, default=512, help="requests per case")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--zipf-s", type=float, default=1.1)
    p.add_argument("--threads", type=int, default=int(os.environ.get("LORAFLEET_BENCH_THREADS", "2")))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lora-decode-operands", default="auto", choices=LORA_DECODE_OPERANDS,
                   help="the engine's lora_decode_operands setting")
    p.add_argument("--out", type=Path, default=OUT)
    return p.parse_args(argv)


def counters() -> dict[str, float]:
    from prometheus_client import REGISTRY

    return {k: REGISTRY.get_sample_value(f"lorafleet_adapter_{k}_total") or 0.0 for k in ("loads", "evictions")}


def build(args: argparse.Namespace, slots: int):
    import torch

    from inference_service.runtime import build_runtime
    from lorafleet.base_model import read_base_model_spec
    from lorafleet.config import Settings

    torch.set_num_threads(args.threads)
    model_dir = fresh(embedded_model_dir)
    spec = fresh(read_base_model_spec, model_dir, name="smollm2-135m-instruct")
    settings = Settings.from_env(environ={}, home=Path(tempfile.mkdtemp(prefix="lorafleet-many-")), device="cpu",
                                 max_batch_size=args.streams, adapter_slots=slots,
                                 adapter_host_cache=args.adapters + 1, max_adapter_rank=16,
                                 max_queue=max(256, 2 * args.streams),
                                 lora_decode_operands=args.lora_decode_operands)
    return fresh(build_runtime, model_dir, spec, settings)


def host_all(rt, paths: list[Path]) -> list:
    from inference_service.model.adapter_weights import AdapterKey

    return [rt.adapters.put_host(fresh(rt.read_adapter, p, AdapterKey(f"bench-{i:03d}", 1)))
            for i, p in enumerate(paths)]


def run_case(rt, adapters: list, args: argparse.Namespace, name: str) -> dict:
    """Closed-loop streams until ``--requests`` are done; ``adapters`` is the per-request sequence."""
    from inference_service.engine.types import GenerationRequest, SamplingSpec
    from inference_service.request_parsing import PromptInput, encode_prompt

    ids = [encode_prompt(rt.tokenizer, PromptInput(prompt=p, messages=None)) for p in PROMPTS]
    spec = SamplingSpec(max_tokens=args.max_tokens, ignore_eos=True)
    lock, nxt, ttfts, tokens = threading.Lock(), [0], [], [0]

    def stream() -> None:
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(adapters):
                return
            h = rt.engine.submit(GenerationRequest(request_id=f"{name}-{i}", prompt_ids=ids[i % len(ids)],
                                                   sampling=spec, adapter=adapters[i]))
            events = h.wait_sync(600)
            if events[-1].error is not None:
                raise RuntimeError(f"{name} request {i}: {events[-1].error}")
            usage = events[-1].usage
            with lock:
                ttfts.append(usage.time_to_first_token_seconds)
                tokens[0] += usage.completion_tokens

    before = counters()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=stream) for _ in range(args.streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    after = counters()
    ordered = sorted(ttfts)
    return {"tokens_per_s": tokens[0] / seconds, "seconds": seconds, "requests": len(ttfts),
            "ttft_p50_s": ordered[len(ordered) // 2], "ttft_p95_s": ordered[int(0.95 * (len(ordered) - 1))],
            "slot_loads": after["loads"] - before["loads"], "evictions": after["evictions"] - before["evictions"],
            "distinct_adapters": len({id(a) for a in adapters})}


def zipf_draws(args: argparse.Namespace) -> np.ndarray:
    """The adapter index of each request: P(rank k) ∝ k^-s over ``--adapters``, seeded."""
    weights = 1.0 / np.arange(1, args.adapters + 1) ** args.zipf_s
    return np.random.default_rng(args.seed).choice(args.adapters, size=args.requests, p=weights / weights.sum())


def main(argv: list[str] | None = None) -> dict:
    from lorafleet.compute_threads import configure_openmp
    configure_openmp()  # the inference server's OpenMP spin count, set before torch loads
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    paths = bench_adapter_dirs(args.adapters)
    draws = zipf_draws(args)
    cases: dict[str, dict] = {}
    for slots in args.slots:
        rt = build(args, slots)
        rt.engine.start()
        try:
            t0 = time.perf_counter()
            hosts = host_all(rt, paths)
            hosted_s = time.perf_counter() - t0
            rss = Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]
            run_case(rt, [hosts[0]] * args.streams, args, f"warm-{slots}")
            ref = [run_case(rt, [hosts[0]] * args.requests, args, f"one-a-{slots}")]
            zipf = run_case(rt, [hosts[k] for k in draws], args, f"zipf-{slots}")
            ref.append(run_case(rt, [hosts[0]] * args.requests, args, f"one-b-{slots}"))
        finally:
            rt.engine.stop()
        del rt, hosts  # the next case hosts its own copies
        one = statistics.mean(r["tokens_per_s"] for r in ref)
        cases[f"slots_{slots}"] = {"one_adapter": ref, "zipf": zipf, "ratio_zipf_vs_one": zipf["tokens_per_s"] / one,
                                   "host_seconds_to_load_all": hosted_s, "rss_kib_after_hosting": int(rss)}
        print(f"slots {slots}: one adapter {[round(r['tokens_per_s'], 1) for r in ref]} tok/s, zipf "
              f"{zipf['tokens_per_s']:.1f} tok/s ({cases[f'slots_{slots}']['ratio_zipf_vs_one']:.2f}x), "
              f"loads {zipf['slot_loads']:.0f}, evictions {zipf['evictions']:.0f}, "
              f"distinct {zipf['distinct_adapters']}, ttft p95 {zipf['ttft_p95_s']:.2f} s "
              f"(one adapter {ref[0]['ttft_p95_s']:.2f} s)", flush=True)
    results = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "cases": cases,
               "bars": {"zipf_64_slots_ge_0.8_one_adapter":
                        cases.get("slots_64", {}).get("ratio_zipf_vs_one", 0) >= 0.8}}
    write_results(args.out, results)
    print(json.dumps(results["bars"]))
    return results


if __name__ == "__main__":
    main()

"""Where a 16 x 32 batch's time goes in the engine: prefill, decode steps and the head's choice, per workload.

    python benchmarks/engine_phases.py [--lora-decode-operands auto|int8|bf16|fp32] [--reps 3] [--out FILE]

In one process on the real SmolLM2-135M (the CPU default quantization, int4), the engine runs
``engine_speed.py``'s batch workloads: 16 requests x 32 new tokens (EOS off) on one adapter
(``b16_one``), on 16 distinct adapters (``b16_many``) and on the bare base (``b16_base``). Timers wrap the
engine's model calls (``Engine._forward``: ``prefill`` and ``decode``), the head's token choice
(``Engine._choose``) and the whole step (``Engine._step``). Each workload is warmed once, then run
``--reps`` times; reported per workload are tokens/s, wall ms, and per phase the calls, total ms and median
ms of each rep, and the medians over reps. To time a tree from before a change, run this file with
``PYTHONPATH`` at that tree (``git worktree add``): the names it wraps are the engine's, unchanged for long.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_adapters import bench_adapter_dirs
from bench_model import embedded_model_dir
from bench_serving import GENERATION_PROMPTS

OUT = Path(__file__).resolve().parent / "results" / "engine_phases.json"


def build(operands: str | None):
    """The runtime as ``engine_speed.py`` builds it (16 slots, batch 16, int4), EOS off."""
    from inference_service.runtime import build_runtime
    from lorafleet.base_model import read_base_model_spec
    from lorafleet.compute_threads import call_in_fresh_thread as fresh
    from lorafleet.config import Settings

    model_dir = embedded_model_dir()
    spec = fresh(read_base_model_spec, model_dir, name="smollm2-135m-instruct")
    extra = {} if operands is None else {"lora_decode_operands": operands}
    settings = Settings.from_env(environ={}, home=Path(tempfile.mkdtemp(prefix="lorafleet-phases-")), device="cpu",
                                 adapter_slots=16, max_batch_size=16, adapter_host_cache=64, max_adapter_rank=64,
                                 quantization="auto", **extra)
    rt = fresh(build_runtime, model_dir, spec, settings)
    rt.engine.eos = set()
    return rt, settings


def install_timers(engine, spent: dict[str, list[float]]) -> None:
    """Seconds per call of the engine's model calls (named by the model method), head choice and step."""
    def timed(name: str, fn):
        def wrapper(*a):
            t0 = time.perf_counter()
            try:
                return fn(*a)
            finally:
                spent[a[0].__name__ if name == "forward" else name].append(time.perf_counter() - t0)
        return wrapper

    engine._forward = timed("forward", engine._forward)
    engine._choose = timed("choose", engine._choose)
    engine._step = timed("step", engine._step)


def summary(reps: list[dict]) -> dict:
    out = {"tokens_per_s": statistics.median(r["tokens_per_s"] for r in reps),
           "wall_ms": statistics.median(r["wall_ms"] for r in reps)}
    for phase in ("prefill", "decode", "choose", "step"):
        out[f"{phase}_total_ms"] = statistics.median(r[phase]["total_ms"] for r in reps if phase in r)
        out[f"{phase}_median_ms"] = statistics.median(r[phase]["median_ms"] for r in reps if phase in r)
    return out


def main() -> None:
    from lorafleet.compute_threads import configure_openmp
    configure_openmp()  # the inference server's OpenMP spin count, set before torch loads
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lora-decode-operands", default=None, help="the engine's setting (default: the tree's own)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    from inference_service.engine.types import GenerationRequest, SamplingSpec
    from inference_service.model.adapter_weights import AdapterKey
    from lorafleet.compute_threads import call_in_fresh_thread as fresh

    rt, settings = build(args.lora_decode_operands)
    engine = rt.engine
    spent: dict[str, list[float]] = defaultdict(list)
    install_timers(engine, spent)
    engine.start()
    try:
        hosts = [rt.adapters.put_host(fresh(rt.read_adapter, Path(p), AdapterKey(f"bench-{i:03d}", 1)))
                 for i, p in enumerate(bench_adapter_dirs(16))]
        ids = [list(rt.tokenizer(p)["input_ids"]) for p in GENERATION_PROMPTS]

        def run(adapters: list) -> tuple[int, float]:
            t0 = time.perf_counter()
            handles = [engine.submit(GenerationRequest(request_id=str(i), prompt_ids=ids[i % len(ids)],
                                                       sampling=SamplingSpec(max_tokens=32), adapter=a))
                       for i, a in enumerate(adapters)]
            tokens = sum(len(e.token_ids) for h in handles for e in h.wait_sync(600))
            return tokens, time.perf_counter() - t0

        workloads = {"b16_one": [hosts[0]] * 16, "b16_many": hosts[:16], "b16_base": [None] * 16}
        result: dict = {"lora_decode_operands": settings.lora_decode_operands, "reps": args.reps, "workloads": {}}
        for name, adapters in workloads.items():
            run(adapters)
            reps = []
            for _ in range(args.reps):
                spent.clear()
                tokens, wall = run(adapters)
                reps.append({"tokens_per_s": tokens / wall, "wall_ms": wall * 1000,
                             **{k: {"calls": len(v), "total_ms": sum(v) * 1000,
                                    "median_ms": statistics.median(v) * 1000} for k, v in spent.items()}})
                print(name, round(reps[-1]["tokens_per_s"], 1), "tok/s", flush=True)
            result["workloads"][name] = {"median": summary(reps), "reps": reps}
    finally:
        engine.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v["median"] for k, v in result["workloads"].items()}, indent=1))


if __name__ == "__main__":
    main()

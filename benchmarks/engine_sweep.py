"""The inference engine across batch sizes and prompt lengths, on CUDA (bitsandbytes nf4, bf16) or a CPU.

    python benchmarks/engine_sweep.py [--device cuda] [--model-dir DIR | --random-weights-from DIR]
        [--quantization nf4 none] [--reps 3] [--out benchmarks/results/engine_sweep_cuda.json]

On a GPU machine (the project's CPU-only CI never has one) this is the CUDA path's benchmark: the
engine with the LoRA bank on bitsandbytes 4-bit weights (and bf16 weights), eager. ``--device cpu
--quantization int4`` runs the same sweep on the CPU. ``--random-weights-from`` takes a directory
with SmolLM2-135M's ``config.json`` and tokenizer files and no weights, and builds the same
architecture with random weights: speed does not depend on the weights' values, and a GPU machine
without the embedded model package (or a model hub) can still time the exact shapes. EOS is
disabled, so every request generates exactly its tokens.

Per quantization, the engine (``inference_service.runtime.build_runtime``, 64 slots, batches up to
64) runs, after a warm-up, the median of ``--reps``:

* ``engine_speed.py``'s workloads: one stream of 64 tokens on the bare base and on an r=16 adapter,
  16 requests x 32 tokens on one adapter / 16 distinct adapters / the bare base;
* one adapter at batch 1, 4, 16, 32 and 64 (32 tokens each): tokens/s;
* prefill: one request of 16, 64, 256 and 1,024 prompt tokens with ``max_tokens`` 1, on the
  adapter: prompt tokens per second of the time to its one token.

A parity check compares the engine's first 16 greedy tokens with transformers + PEFT
(``generate``) on the same weights and adapter: tokens in agreement before the first difference
(with random weights both may repeat one token, which agrees trivially).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PROMPTS = ["Write a short story about a robot who learns to paint.",
           "Explain how a hash map works.", "List five uses of vinegar at home.",
           "Describe the water cycle for a child."]


def random_model_dir(src: Path, dest: Path) -> Path:
    """SmolLM2's shapes with random weights, saved as a model directory the loader accepts."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(str(src))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(dest)
    for f in src.iterdir():
        if f.is_file() and not f.name.endswith(".safetensors") and not (dest / f.name).exists():
            shutil.copy(f, dest / f.name)
    return dest


def measure(model_dir: Path, adapters: list[Path], quantization: str, reps: int, device: str = "cuda") -> dict:
    import torch

    from inference_service.engine.types import GenerationRequest, SamplingSpec
    from inference_service.model.adapter_weights import AdapterKey
    from inference_service.runtime import build_runtime
    from lorafleet.base_model import read_base_model_spec
    from lorafleet.compute_threads import call_in_fresh_thread as fresh
    from lorafleet.config import Settings

    spec = fresh(read_base_model_spec, model_dir, name="smollm2-135m-instruct")
    settings = Settings.from_env(environ={}, home=Path(tempfile.mkdtemp(prefix="lorafleet-sweep-home-")), device=device,
                                 adapter_slots=64, max_batch_size=64, adapter_host_cache=64, max_adapter_rank=16,
                                 max_queue=256)
    t0 = time.perf_counter()
    rt = fresh(build_runtime, model_dir, spec, settings, quantization=quantization)
    load_s = time.perf_counter() - t0
    rt.engine.eos = set()
    rt.engine.start()
    hosts = [rt.adapters.put_host(fresh(rt.read_adapter, p, AdapterKey(f"bench-{i:03d}", 1)))
             for i, p in enumerate(adapters)]
    ids = [list(rt.tokenizer(p)["input_ids"]) for p in PROMPTS]

    def run(n: int, new: int, use: list) -> float:
        t = time.perf_counter()
        hs = [rt.engine.submit(GenerationRequest(request_id=f"r{i}-{time.perf_counter_ns()}", prompt_ids=ids[i % 4],
                                                 sampling=SamplingSpec(max_tokens=new), adapter=use[i % len(use)]))
              for i in range(n)]
        got = 0
        for h in hs:
            evs = h.wait_sync(600)
            if evs[-1].error is not None:
                raise RuntimeError(str(evs[-1].error))
            got += sum(len(e.token_ids) for e in evs)
        return got / (time.perf_counter() - t)

    def prefill(prompt: list[int]) -> float:
        t = time.perf_counter()
        h = rt.engine.submit(GenerationRequest(request_id=f"p{len(prompt)}-{time.perf_counter_ns()}", prompt_ids=prompt,
                                               sampling=SamplingSpec(max_tokens=1), adapter=hosts[0]))
        evs = h.wait_sync(600)
        if evs[-1].error is not None:
            raise RuntimeError(str(evs[-1].error))
        return len(prompt) / (time.perf_counter() - t)

    work = {"one_base": lambda: run(1, 64, [None]), "one_adapter": lambda: run(1, 64, [hosts[0]]),
            "b16_one": lambda: run(16, 32, [hosts[0]]), "b16_many": lambda: run(16, 32, hosts[:16]),
            "b16_base": lambda: run(16, 32, [None])}
    for b in (1, 4, 16, 32, 64):
        work[f"batch{b}_one_adapter"] = lambda b=b: run(b, 32, [hosts[0]])
    filler = ids[0] * 1024
    for n in (16, 64, 256, 1024):
        work[f"prefill{n}_prompt_tok_s"] = lambda n=n: prefill(filler[:n])
    for fn in work.values():
        fn()
    out: dict[str, list[float]] = {k: [] for k in work}
    for _ in range(reps):
        for k, fn in work.items():
            out[k].append(fn())
    greedy = rt.engine.submit(GenerationRequest(request_id="parity", prompt_ids=ids[0],
                                                sampling=SamplingSpec(max_tokens=16), adapter=hosts[0])).wait_sync(120)
    engine_tokens = [t for e in greedy for t in e.token_ids]
    rt.engine.stop()
    result = {"tokens_per_s": {k: round(statistics.median(v), 1) for k, v in out.items()},
              "load_seconds": round(load_s, 2), "weight_format": rt.base.weight_format,
              "compute_dtype": str(rt.base.compute_dtype), "engine_greedy": engine_tokens,
              "max_memory_allocated_gib": round(torch.cuda.max_memory_allocated() / 2 ** 30, 2)
              if device.startswith("cuda") else None}
    return result


def peft_greedy(model_dir: Path, adapter: Path, quantization: str, prompt: str, n: int,
                device: str = "cuda", dtype_name: str = "torch.bfloat16") -> list[int]:
    """transformers + PEFT's greedy tokens, computed in the engine's own compute dtype (``dtype_name``,
    as the engine reports it): a bf16 reference for an fp32 engine (``quantization=none``) drifted
    apart after 3 tokens on the H100 and H200 runs, which measured the dtypes, not the engine."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    dtype = getattr(torch, dtype_name.removeprefix("torch."))
    kw: dict = {"dtype": dtype, "device_map": {"": device}}
    if quantization == "nf4":
        kw["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                       bnb_4bit_compute_dtype=dtype)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(model_dir), **kw), str(adapter))
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    ids = torch.tensor([tok(prompt)["input_ids"]], device=device)
    out = model.generate(input_ids=ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)
    return out[0, ids.shape[1]:].tolist()


def agreement(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def main() -> None:
    from lorafleet.compute_threads import configure_openmp
    configure_openmp()  # the inference server's OpenMP spin count, set before torch loads
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--model-dir", type=Path)
    src.add_argument("--random-weights-from", type=Path)
    ap.add_argument("--quantization", nargs="+", default=["nf4", "none"])
    ap.add_argument("--adapters", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cuda", help="cuda[:N] or cpu")
    ap.add_argument("--out", type=Path, default=None,
                    help="default: benchmarks/results/engine_sweep_<device>.json")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda needs a CUDA device (use --device cpu --quantization int4 without one)")
    work = Path(tempfile.mkdtemp(prefix="lorafleet-sweep-"))
    # torch work of this (main) thread would keep an OpenMP pool beside the engine worker's, and with
    # more pool threads than cores libgomp stops spin-waiting: every one-off runs in a thread that exits
    from lorafleet.compute_threads import call_in_fresh_thread as fresh

    if args.random_weights_from:
        model_dir = fresh(random_model_dir, args.random_weights_from, work / "model")
    else:
        from bench_model import embedded_model_dir

        model_dir = args.model_dir or embedded_model_dir()
    from bench_adapters import bench_adapter_dirs

    adapters = fresh(bench_adapter_dirs, args.adapters, base_dir=model_dir, root=work / "adapters")
    import bitsandbytes

    gpu = args.device.startswith("cuda")
    results: dict = {"device": torch.cuda.get_device_name(0) if gpu else args.device, "torch": torch.__version__,
                     "cuda": torch.version.cuda, "bitsandbytes": bitsandbytes.__version__,
                     "weights": "random (SmolLM2-135M shapes)" if args.random_weights_from else str(model_dir),
                     "cases": {}}
    for q in args.quantization:
        case = measure(model_dir, adapters, q, args.reps, args.device)
        if gpu:
            torch.cuda.empty_cache()
        reference = fresh(peft_greedy, model_dir, adapters[0], q, PROMPTS[0], 16, args.device, case["compute_dtype"])
        case["peft_greedy"] = reference
        case["greedy_tokens_agreeing_before_first_difference"] = agreement(case["engine_greedy"], reference)
        results["cases"][q] = case
        print(q, json.dumps(case["tokens_per_s"]), "agree", case["greedy_tokens_agreeing_before_first_difference"],
              flush=True)
    args.out = args.out or Path(__file__).parent / "results" / f"engine_sweep_{args.device.split(':')[0]}.json"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

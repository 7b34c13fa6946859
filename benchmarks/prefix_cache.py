"""What the prompt-prefix cache saves on chat traffic that shares a system prompt, and whether answers change.

    python benchmarks/prefix_cache.py [--quantization auto nf4] [--requests 48] [--out FILE]

In one process on the real SmolLM2-135M, per quantization (``auto``: int4 on a CPU, the serving default;
``nf4``: what the demo serves), two engines are built alike but for ``prefix_cache_mb`` (0: off, and the
default). Each gets the same traffic, ``--requests`` held-out support tickets (the bundled task's system
prompt, through the chat template, as the demo's live traffic and the evaluator's task suite send them), 16
submitted at a time, 16 greedy tokens each, EOS on; one warm-up wave of 16 other tickets first (it also fills
the cache with the system prompt, as earlier traffic would). Reported per engine: wall seconds, the
prefill's share of the engine's time (``Batch.prefill`` timed), prompt tokens, prompt tokens served from the
cache, and per ticket the greedy answer; then the speed-up (off / on wall) and how many answers are identical.
Identical answers are expected with fp32 compute and nf4 (row-invariant kernel), and up to the last bits of
the bf16 dense prefill on int4 (``prefix_cache.py``'s docstring).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_model import embedded_model_dir

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "prefix_cache.json"
TICKETS = ROOT / "lorafleet" / "datasets" / "bundled" / "support_tickets_heldout.jsonl"


def build(quantization: str, cache_mb: int):
    from inference_service.runtime import build_runtime
    from lorafleet.base_model import read_base_model_spec
    from lorafleet.compute_threads import call_in_fresh_thread as fresh
    from lorafleet.config import Settings

    model_dir = embedded_model_dir()
    spec = fresh(read_base_model_spec, model_dir, name="smollm2-135m-instruct")
    settings = Settings.from_env(environ={}, home=Path(tempfile.mkdtemp(prefix="lorafleet-prefix-")), device="cpu",
                                 quantization=quantization, prefix_cache_mb=cache_mb)
    return fresh(build_runtime, model_dir, spec, settings)


def run(rt, prompts: list[list[int]], tag: str) -> dict:
    from inference_service.engine.types import GenerationRequest, SamplingSpec

    batch, spent = rt.engine.batch, [0.0]
    original = batch.prefill

    def timed(*a):
        t0 = time.perf_counter()
        try:
            return original(*a)
        finally:
            spent[0] += time.perf_counter() - t0

    batch.prefill = timed
    answers, t0 = [], time.perf_counter()
    hits0 = _hits()
    for wave in range(0, len(prompts), 16):
        handles = [rt.engine.submit(GenerationRequest(request_id=f"{tag}-{wave + i}", prompt_ids=p,
                                                      sampling=SamplingSpec(max_tokens=16)))
                   for i, p in enumerate(prompts[wave:wave + 16])]
        answers += [[t for e in h.wait_sync(600) for t in e.token_ids] for h in handles]
    wall = time.perf_counter() - t0
    batch.prefill = original
    return {"wall_s": wall, "prefill_s": spent[0], "prompt_tokens": sum(map(len, prompts)),
            "cached_tokens": _hits() - hits0, "answers": answers}


def encode(rt, messages: list[dict]) -> list[int]:
    return list(rt.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                 return_dict=True)["input_ids"])


def _hits() -> float:
    from inference_service import metrics

    return metrics.PREFIX_CACHE_HITS._value.get()


def main() -> None:
    from lorafleet.compute_threads import configure_openmp
    configure_openmp()  # the inference server's OpenMP spin count, set before torch loads
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quantization", nargs="+", default=["auto", "nf4"])
    ap.add_argument("--requests", type=int, default=48)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    tickets = [json.loads(line)["messages"] for line in TICKETS.read_text().splitlines() if line.strip()]
    results: dict = {"requests": args.requests, "max_tokens": 16, "concurrency": 16}
    for q in args.quantization:
        row: dict = {}
        for name, mb in (("off", 0), ("on", 128)):
            rt = build(q, mb)
            rt.engine.start()
            run(rt, [encode(rt, m) for m in tickets[-16:]], f"{name}-warm")
            row[name] = run(rt, [encode(rt, m) for m in tickets[:args.requests]], name)
            rt.engine.stop()
        off, on = row["off"], row["on"]
        same = sum(a == b for a, b in zip(off["answers"], on["answers"]))
        summary = {"speedup_wall": off["wall_s"] / on["wall_s"], "speedup_prefill": off["prefill_s"] / on["prefill_s"],
                   "identical_answers": f"{same}/{len(off['answers'])}",
                   "cached_share": on["cached_tokens"] / on["prompt_tokens"]}
        results[q] = {**row, **summary}
        print(q, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in summary.items()},
              {n: {k: round(v, 2) for k, v in row[n].items() if k != "answers"} for n in row}, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()

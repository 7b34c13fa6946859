"""Where a decode step and a long prefill spend their time, on the real model with the serving defaults.

    python benchmarks/decode_profile.py [--prompt-tokens 4000] [--quantization auto]
        [--out benchmarks/results/decode_profile.json]

On SmolLM2-135M with ``quantization=auto`` (int4 on a CPU; ``--quantization nf4`` profiles the base the
demo serves), the model layer only (``FastLlama``, no
engine loop), on one fresh thread under ``torch.inference_mode`` as the engine worker runs it:

* ``decode``: one decode step of the bare base at 1 and 16 rows (median of 30), the LM head's token
  choice for those rows, and a ``torch.profiler`` table of 10 steps: the share of the int4 matmul
  kernel (torch's, or the project's, labelled ``lorafleet::int4_mm``) and of attention (torch's; the
  fused decode ops of ``kernels/decode_ops.cpp`` run attention where the profiler does not see it);
* ``prefill``: one ``--prompt-tokens`` prompt in chunks of the engine's prefill budget (512), wall
  time and the profiler's share of the fused (flash) and math attention kernels and of the GEMMs; then
  the same prefill with SDPA forced onto its math kernel, the path prefill took while it called SDPA
  with 3-D tensors (torch picks the fused CPU kernel only for 4-D ones).

OpenMP's spin count is the server's (``configure_openmp``: libgomp's default 300,000 where CPU pressure is
readable, else ``GOMP_SPINCOUNT=1000``, unless the environment sets one); ``GOMP_SPINCOUNT=1000 python
benchmarks/decode_profile.py`` measures the short spin. It backs the profile figures in the closing notes of the
inference-speed and long-prompt work.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_model import embedded_model_dir  # noqa: E402
from engine_load import LONG_TEXT  # noqa: E402

from lorafleet.compute_threads import call_in_fresh_thread, configure_openmp  # noqa: E402

CHUNK = 512
# the project's C++ kernels are plain calls the profiler does not see: int4_matmul wraps them (_labelled)
KERNELS = {"int4_matmul": ("aten::_weight_int4pack_mm_for_cpu", "lorafleet::int4_mm"),
           "nf4_matmul": "bitsandbytes::gemv_4bit",
           "gemm": "aten::mm",
           "flash_attention": "aten::_scaled_dot_product_flash_attention_for_cpu",
           "math_attention": "aten::_scaled_dot_product_attention_math"}


def _self_ms(prof) -> dict[str, float]:
    """Self CPU milliseconds of the kernels of interest, and the total."""
    events = {e.key: e.self_cpu_time_total / 1e3 for e in prof.key_averages()}
    keys = {name: (key,) if isinstance(key, str) else key for name, key in KERNELS.items()}
    out = {name: round(sum(events.get(k, 0.0) for k in ks), 1) for name, ks in keys.items()}
    out["total"] = round(sum(events.values()), 1)
    return out


@contextlib.contextmanager
def _labelled():
    """The project's int4 kernel calls as ``lorafleet::int4_mm`` in the profile (while profiling only)."""
    from torch.profiler import record_function

    from inference_service.model.quant import Int4Weight

    mm = Int4Weight.mm

    def labelled(self, x):
        if self.kernel is None:
            return mm(self, x)
        with record_function("lorafleet::int4_mm"):
            return mm(self, x)

    Int4Weight.mm = labelled
    try:
        yield
    finally:
        Int4Weight.mm = mm


def _decode(model, ids: list[int], rows: int) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from inference_service.engine.sampling import choose_tokens
    from inference_service.engine.types import SamplingSpec
    from inference_service.model.fast_llama import Piece

    cache = model.new_cache(rows)
    cache.reserve(len(ids) + 1, {})
    model.prefill([Piece(row=r, start=0, tokens=ids, slot=0) for r in range(rows)], cache)
    lengths, tokens, slots = [len(ids)] * rows, torch.tensor([ids[-1]] * rows), (0,) * rows
    for _ in range(5):
        hidden = model.decode(tokens, lengths, slots, cache)
    step, head = [], []
    for _ in range(30):
        t0 = time.perf_counter()
        hidden = model.decode(tokens, lengths, slots, cache)
        step.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        choose_tokens(model.head, hidden, [SamplingSpec(max_tokens=8)] * rows, [None] * rows, [set()] * rows)
        head.append(time.perf_counter() - t0)
    with _labelled(), profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            model.decode(tokens, lengths, slots, cache)
    return {"rows": rows, "step_ms": round(statistics.median(step) * 1e3, 2),
            "head_ms": round(statistics.median(head) * 1e3, 2), "profile_10_steps_ms": _self_ms(prof)}


def _prefill(model, ids: list[int]) -> dict:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.profiler import ProfilerActivity, profile

    from inference_service.model.fast_llama import Piece

    def run() -> float:
        cache = model.new_cache(1)
        cache.reserve(len(ids) + 1, {})
        t0 = time.perf_counter()
        for s in range(0, len(ids), CHUNK):
            model.prefill([Piece(row=0, start=s, tokens=ids[s:s + CHUNK], slot=0)], cache)
        return time.perf_counter() - t0

    run()  # warm-up
    seconds = run()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    with sdpa_kernel(SDPBackend.MATH):  # what prefill ran on before its SDPA calls were 4-D
        math_seconds = run()
    return {"prompt_tokens": len(ids), "chunk": CHUNK, "seconds": round(seconds, 2), "profile_ms": _self_ms(prof),
            "seconds_on_the_math_kernel": round(math_seconds, 2)}


def measure(prompt_tokens: int, quantization: str = "auto") -> dict:
    import torch

    from inference_service.runtime import build_runtime
    from lorafleet.base_model import read_base_model_spec
    from lorafleet.config import Settings

    model_dir = embedded_model_dir()
    settings = Settings.from_env(environ={}, home=Path(tempfile.mkdtemp(prefix="lorafleet-profile-")), device="cpu",
                                 max_batch_size=16, quantization=quantization)
    rt = build_runtime(model_dir, read_base_model_spec(model_dir), settings)
    with torch.inference_mode():
        short = list(rt.tokenizer("Write a short note to a customer about a delayed order.")["input_ids"])
        long = list(rt.tokenizer(LONG_TEXT * (prompt_tokens // 20 + 1))["input_ids"])[:prompt_tokens]
        return {"threads": torch.get_num_threads(), "quantization": quantization,
                "head": type(rt.model.head).__name__, "weights": type(rt.model.layers[0].qkv).__name__,
                "decode": [_decode(rt.model, short, rows) for rows in (1, 16)], "prefill": _prefill(rt.model, long)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompt-tokens", type=int, default=4000)
    ap.add_argument("--quantization", default="auto")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "decode_profile.json")
    args = ap.parse_args()
    configure_openmp()
    result = call_in_fresh_thread(measure, args.prompt_tokens, args.quantization)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

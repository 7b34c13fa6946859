"""Matmul time of the weight formats the decode path can use, at the row counts a step sees.

    python benchmarks/decode_formats.py [--threads 1] [--out benchmarks/results/decode_formats.json]

SmolLM2-135M's shapes (hidden 576, MLP 1536, 3 KV heads of 64: fused q|k|v 960 x 576, o 576 x 576,
fused gate|up 3072 x 576, down 576 x 1536), 30 layers, random weights (timing does not depend on the
values), and the tied LM head (49152 x 576). For each format, ``x [m, k] @ W.T`` at m = 1, 4, 16, 32, 64
and 512 rows, median of 5 passes over 30 distinct copies of each matrix (one decode step's weight
traffic; a single copy would stay in cache and hide the memory cost), summed over the layer's matmuls:

* ``fp32``, ``bf16``: ``F.linear`` on a dense matrix;
* ``int4``: torch's CPU weight-only kernel on group-32 int4 (``model.quant.Int4Weight(kernel=False)``'s kernel
  path, called directly so the dense fallback for many rows does not hide it; bf16 in, bf16 out);
* ``int4_kernel``: the project's kernel on the same grid (``kernels/int4_matmul.cpp``, fp32 in and out, so
  the engine's casts around torch's kernel are gone too), where it builds: on AMX tiles where the CPU has
  them, and then also ``int4_kernel_loop``, its vdpbf16ps loop on the same CPU (what other CPUs run).

It backs the figures in ``inference_service/model/quant.py`` and ``lm_head.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference_service.model.quant import Int4Weight, _cpu_int4_kernel  # noqa: E402

LAYER = [(960, 576), (576, 576), (3072, 576), (576, 1536)]  # (out, in) of one decoder layer's matmuls
LAYERS = 30
HEAD = (49152, 576)
ROWS = (1, 4, 16, 32, 64, 512)


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), so a result file says which machine it timed."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")


def _median_ms(fn, reps: int = 20) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _formats(shape: tuple[int, int], copies: int) -> dict:
    """Per format: the dtype of its input and one matmul per copy (distinct weights, so a pass reads
    every copy from memory as the 30 layers of a decode step do, instead of re-reading a cached one)."""
    ws = [torch.randn(shape) * 0.02 for _ in range(copies)]
    fp32 = [lambda x, w=w: F.linear(x, w) for w in ws]
    bf16 = [lambda x, w=w: F.linear(x, w) for w in [w.to(torch.bfloat16) for w in ws]]
    packed = [Int4Weight(w, device=torch.device("cpu"), kernel=False) for w in ws]
    int4 = [lambda x, q=q: _cpu_int4_kernel(x, q.packed, q.scales_zeros) for q in packed]
    out = {"fp32": (torch.float32, fp32), "bf16": (torch.bfloat16, bf16), "int4": (torch.bfloat16, int4)}
    ours = [Int4Weight(w, device=torch.device("cpu")) for w in ws]
    if all(q.kernel is not None for q in ours):
        out["int4_kernel"] = (torch.float32, [lambda x, q=q: q.kernel.mm(x, q.packed, q.kernel_scales) for q in ours])
        if ours[0].kernel.amx():  # mm runs on AMX tiles here; the vdpbf16ps loop beside it
            out["int4_kernel_loop"] = (torch.float32,
                                       [lambda x, q=q: q.kernel.mm_loop(x, q.packed, q.kernel_scales) for q in ours])
    return out


def measure(shapes: list[tuple[int, int]], copies: int) -> dict:
    out: dict[str, dict[int, float]] = {}
    for shape in shapes:
        for name, (dtype, calls) in _formats(shape, copies).items():
            for m in ROWS:
                x = torch.randn(m, shape[1]).to(dtype)
                out.setdefault(name, {}).setdefault(m, 0.0)
                out[name][m] += _median_ms(lambda cs=calls, xx=x: [c(xx) for c in cs], reps=5)
    return {name: {str(m): round(ms, 2) for m, ms in rows.items()} for name, rows in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "decode_formats.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    result = {"threads": args.threads, "unit": "ms per call, summed over the model's matmuls",
              "cpu": cpu_name(), "amx": bool(torch.cpu._is_amx_tile_supported()),
              "layers_x30": measure(LAYER, LAYERS), "lm_head": measure([HEAD], 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""The grouped LoRA decode pair in fp32 against bf16: would halving the adapters' bytes pay? (Measured: no.)

    python benchmarks/lora_operand_dtype.py [--out benchmarks/results/lora_operand_dtype.json]

A decode step that mixes U adapters multiplies ``[U, G, in] @ Aᵀ[U, in, R]`` then each part by
``(s·B)ᵀ[U, r, out]`` (``fused_lora.FusedLoRA._grouped``) in every projection of every layer. With many
distinct adapters the step reads every adapter's fp32 weights (about 20 MB for r=16 on all of
SmolLM2-135M's linear layers), so bf16 operands would halve the bytes. This times the 30 layers' bmm
pairs with SmolLM2's shapes (q|k|v, o, gate|up, down; r=16 per part), a distinct operand per layer
so that nothing is served from cache, on one fresh thread with the server's OpenMP settings, for a
few (adapters U, rows per adapter G): the median of 30 steps after 3 warm-up steps, in ms.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_cli import median_ms, run_measurement  # noqa: E402

RANK = 16
PROJECTIONS = [(576, [576, 192, 192]), (576, [576]), (576, [1536, 1536]), (1536, [576])]  # (in, part outs)
LAYERS = 30
CASES = [(1, 16), (16, 1), (25, 1), (32, 1), (8, 2)]


def _step_ms(dtype, adapters: int, rows: int) -> float:
    import torch

    ops = []
    for fan_in, outs in PROJECTIONS * LAYERS:
        a = torch.randn(adapters, fan_in, RANK * len(outs), dtype=dtype) * 0.02
        bs = [torch.randn(adapters, RANK, o, dtype=dtype) * 0.02 for o in outs]
        ops.append((torch.randn(adapters, rows, fan_in), a, bs))

    def step() -> None:
        for x, a, bs in ops:
            h = torch.bmm(x.to(dtype), a)
            for k, b in enumerate(bs):
                torch.bmm(h[:, :, RANK * k:RANK * (k + 1)], b)

    return median_ms(lambda _: step(), 33, 3)


def measure() -> dict:
    import torch

    with torch.inference_mode():
        rows = [{"adapters": u, "rows_per_adapter": g, "fp32_ms": _step_ms(torch.float32, u, g),
                 "bf16_ms": _step_ms(torch.bfloat16, u, g)} for u, g in CASES]
    return {"threads": torch.get_num_threads(), "torch": torch.__version__, "layers": LAYERS, "rank": RANK,
            "cases": rows}


def main() -> None:
    run_measurement(measure, __doc__, ROOT / "benchmarks" / "results" / "lora_operand_dtype.json")


if __name__ == "__main__":
    main()

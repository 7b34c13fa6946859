"""The grouped LoRA decode delta: torch's bmm pair in fp32 and bf16, against the grouped C++ kernel in fp32 and bf16.

    python benchmarks/lora_operand_dtype.py [--out benchmarks/results/lora_operand_dtype.json]

A decode step that mixes U adapters multiplies ``[U, G, in] @ Aᵀ[U, in, R]`` then each part by
``(s·B)ᵀ[U, r, out]`` (``fused_lora.FusedLoRA._grouped``) in every projection of every layer. With many
distinct adapters the step reads every adapter's fp32 weights (about 20 MB for r=16 on all of
SmolLM2-135M's linear layers), so bf16 operands would halve the bytes. This times the 30 layers' bmm
pairs with SmolLM2's shapes (q|k|v, o, gate|up, down; r=16 per part), a distinct operand per layer
so that nothing is served from cache, on one fresh thread with the server's OpenMP settings, for a
few (adapters U, rows per adapter G): the median of 30 steps after 3 warm-up steps, in ms, for

* ``fp32``: the engine's operands;
* ``bf16``: operands and activations in bf16 (oneDNN's bf16 bmm);
* ``bf16_upcast``: operands stored in bf16 (half the bytes read) and cast to fp32 per call before
  the fp32 bmm;
* ``kernel_fp32`` / ``kernel_bf16`` / ``kernel_int8``: the engine's grouped kernel
  (``inference_service/model/grouped_lora_kernel.py``) on fp32 / bf16 / int8 operands (x, y and the accumulation
  fp32; int8 with a scale per rank column), one row per cell of the grid.

bf16 through torch gains nothing: oneDNN's bf16 ``bmm`` is slower than fp32 at these shapes, and a cast
per call writes what it saved. The kernel reads bf16 and widens it in registers.

``fp32_gb_s`` is the fp32 operands' bytes over the fp32 step's time: how fast ``bmm`` streams the
adapters, against ``stream_sum_gb_s``, a plain ``sum`` over a 400 MB fp32 tensor on the same thread
(what this machine's memory gives one reduction). With many distinct adapters the step is bound by
those bytes, so the gap between the two is what a better grouped kernel could gain.
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


def _step(mode: str, adapters: int, rows: int) -> tuple[float, int]:
    """(median ms of one step, bytes of the operands as stored) for ``mode`` (the module docstring's list)."""
    import torch

    stored = {"fp32": torch.float32, "kernel_fp32": torch.float32, "kernel_int8": torch.int8}.get(mode, torch.bfloat16)
    compute = torch.bfloat16 if mode == "bf16" else torch.float32
    ops = []
    for fan_in, outs in PROJECTIONS * LAYERS:
        if stored == torch.int8:  # the values do not matter to the time, only the bytes
            a = torch.randint(-127, 128, (adapters, fan_in, RANK * len(outs)), dtype=stored)
            bs = [torch.randint(-127, 128, (adapters, RANK, o), dtype=stored) for o in outs]
        else:
            a = torch.randn(adapters, fan_in, RANK * len(outs), dtype=stored) * 0.02
            bs = [torch.randn(adapters, RANK, o, dtype=stored) * 0.02 for o in outs]
        ops.append((torch.randn(adapters, rows, fan_in), a, bs))

    if mode.startswith("kernel"):
        from inference_service.model.grouped_lora_kernel import grouped_lora_add_, grouped_lora_kernel

        kernel = grouped_lora_kernel()
        assert kernel is not None, "the grouped LoRA kernel does not build here"
        row_ids, offsets = torch.arange(adapters * rows), torch.arange(adapters + 1) * rows
        flat = [(x.reshape(adapters * rows, -1).contiguous(), a, bs) for x, a, bs in ops]
        ys = [torch.zeros(adapters * rows, sum(b.shape[-1] for b in bs)) for _, _, bs in ops]

        cols = [torch.full((adapters, a.shape[-1]), 1e-4) if a.dtype == torch.int8 else None for _, a, _ in flat]

        def step() -> None:
            for (x, a, bs), y, col in zip(flat, ys, cols):
                grouped_lora_add_(kernel, y, x, row_ids, offsets, a, bs, torch.ones(adapters, len(bs)),
                                  (RANK,) * len(bs), tuple(b.shape[-1] for b in bs), col_scales=col)
    else:
        def step() -> None:
            for x, a, bs in ops:
                h = torch.bmm(x.to(compute), a.to(compute))
                for k, b in enumerate(bs):
                    torch.bmm(h[:, :, RANK * k:RANK * (k + 1)], b.to(compute))

    nbytes = sum(a.nbytes + sum(b.nbytes for b in bs) for _, a, bs in ops)  # int8: without the column scales
    return median_ms(lambda _: step(), 33, 3), nbytes


def _stream_sum_gb_s() -> float:
    import torch

    x = torch.randn(100_000_000)
    return round(x.nbytes / median_ms(lambda _: x.sum(), 6, 1, digits=4) / 1e6, 1)


def measure() -> dict:
    import torch

    rows = []
    with torch.inference_mode():
        for u, g in CASES:
            row: dict = {"adapters": u, "rows_per_adapter": g}
            for mode in ("fp32", "bf16", "bf16_upcast", "kernel_fp32", "kernel_bf16", "kernel_int8"):
                row[f"{mode}_ms"], nbytes = _step(mode, u, g)
                if mode in ("fp32", "kernel_fp32"):
                    row[f"{mode}_gb_s"] = round(nbytes / row[f"{mode}_ms"] / 1e6, 1)
            rows.append(row)
        stream = _stream_sum_gb_s()
    return {"threads": torch.get_num_threads(), "torch": torch.__version__, "layers": LAYERS, "rank": RANK,
            "stream_sum_gb_s": stream, "cases": rows}


def main() -> None:
    run_measurement(measure, __doc__, ROOT / "benchmarks" / "results" / "lora_operand_dtype.json")


if __name__ == "__main__":
    main()

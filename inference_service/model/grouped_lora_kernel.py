"""A C++ kernel for the grouped LoRA decode delta on the CPU (``kernels/grouped_lora.cpp``), built on first use.

Why a kernel: a decode step that mixes ``U`` adapters reads every adapter's ``A`` and ``B`` once per
projection, ``y[n] += ((x[n]·Aᵀ[u])·(s·B)ᵀ[u])`` for each row ``n`` on position ``u``; with many distinct
adapters that step is bound by those bytes (about 20 MB per r=16 adapter on every linear layer of
SmolLM2-135M in fp32, several times the int4 base's). torch's ``bmm`` pair streams them at about 22 GB/s
on the 2-core test machine, where a plain reduction reaches about 33 (``benchmarks/lora_operand_dtype.py``),
and its bf16 ``bmm`` is slower than fp32. The kernel splits the batch's rows, up to four of one position at a
time, between threads and, for those rows, multiplies ``x·A`` with the rank's columns held in registers and
adds each part's ``h·B`` into ``y``: for one row, row after row of ``B`` (one sequential stream per operand);
for several rows of one adapter (its ``B`` in cache), in tiles of 64 outputs held in registers over the whole
rank, each load serving the rows (one adapter's 16 rows over 30 layers 3.5 -> 2.6 ms in bf16, an A/B of the two
sources in one process; the same sums in the same order, so the same bits). It also serves a batch on one
adapter (``fused_lora.FusedLoRA.decode``). It reads fp32 operands, bf16 ones widened to fp32 in registers (a
16-bit shift), or int8 ones converted exactly (each rank column ``j`` of ``h`` then times its scale
``a_j·b_j``), accumulating in fp32 always: bf16 halves fp32's bytes, int8 halves them again.

Numbers (``benchmarks/lora_operand_dtype.py``, the 30 layers' products with SmolLM2's shapes, r=16, one
row per adapter, 16 / 25 / 32 adapters, ms): ``bmm`` fp32 14.0 / 20.4 / 27.1, kernel fp32 11.9 / 17.5 /
22.8 (26–28 GB/s against a plain sum's 31), kernel bf16 5.9 / 9.3 / 12.0; with int8 operands and the tiled
expand (``lora_operand_dtype.json``, 2026-11-29): bf16 6.6 / 10.1 / 13.0, int8 4.8 / 6.6 / 10.1. In the
engine it also skips the grid's padding cells (a hot adapter with ten rows in a batch of 25 adapters pads
every other one to ten) and the gather, scatter and concatenation around the ``bmm`` pair: 256 adapters under
Zipf traffic went from 0.70x to 0.90x the one-adapter throughput with fp32 operands
(``benchmarks/many_adapters.py``).

Built and loaded by ``cpu_kernels.py`` (``GROUPED_LORA``: AVX-512F/BW/VL and FMA). Where it cannot be built or
run (no compiler, a CPU without AVX-512) the engine keeps the ``bmm`` pair, and says so in the log.
"""

from __future__ import annotations

import logging
from types import ModuleType

import torch

from inference_service.model.cpu_kernels import GROUPED_LORA

log = logging.getLogger(__name__)


def grouped_lora_kernel() -> ModuleType | None:
    """The built extension, or None (logged) where it cannot be built or run."""
    return GROUPED_LORA.load()


def decode_operands(choice: str, device: torch.device,
                    quantization: str = "none") -> tuple[ModuleType | None, torch.dtype | None]:
    """(kernel, operand dtype) for the ``lora_decode_operands`` setting on ``device`` with a base loaded as
    ``quantization`` (resolved: int4, nf4, int8 or none): the kernel on a CPU where it builds; elsewhere torch's
    ``bmm`` on the bank's dtype (None). bf16 or int8 without the kernel falls back to fp32 (logged): oneDNN's bf16
    ``bmm`` is slower than fp32 here.

    ``auto`` (the default) is int8 on a 4-bit base and bf16 on any other: the adapter is served no coarser
    than the base it corrects. The runtime reads every adapter rounded to bf16 for both (each weight within 2^-9
    of its value). int8 then quantizes each rank component ``j`` of each projection on its own absmax (``A``'s
    row ``j``, ``B``'s column ``j``: ``A ≈ a_j·q_A``, ``B ≈ b_j·q_B``, the kernel scales ``h_j`` by ``a_j·b_j``),
    which moves an adapter's delta ``B·A`` by 0.6-1.1% (relative Frobenius norm, the demo's and the benchmarks'
    adapters) against bf16's 0.2%; a 4-bit base's own weights are a few percent off theirs.

    Why: with many distinct adapters in a step the kernel is bound by their bytes. bf16 halved fp32's (16
    requests on 16 adapters 0.77-0.86x -> 0.91-0.95x the one-adapter throughput, ``engine_speed_bf16_default.json``)
    and int8 halves them again: the 30 layers' products for 16 / 32 adapters of one row 6.6 / 13.0 ms in bf16,
    4.8 / 10.1 in int8 (``benchmarks/lora_operand_dtype.py``). Answers change where a near-tie flips: the demo's v1
    on the full suites (459 cases, nf4, ``recipe_quality.py --adapter``, ``recipe_v1_int8_operands.json``): int8
    against bf16 changed two verdicts, a harmful request now refused and a general question now wrong (one that
    fp32 also gets wrong); bf16 against fp32 changed two general ones. fp32 serves the adapter's exact weights."""
    if choice == "auto":
        choice = "int8" if quantization in ("int4", "nf4") else "bf16"
    if device.type != "cpu":
        return None, None
    kernel = grouped_lora_kernel()
    if kernel is None:
        if choice != "fp32":
            log.warning("lora_decode_operands needs the grouped LoRA kernel; decoding with fp32 operands",
                        extra={"choice": choice})
        return None, None
    dtype = {"bf16": torch.bfloat16, "int8": torch.int8}.get(choice, torch.float32)
    log.info("grouped LoRA decode", extra={"operands": str(dtype).removeprefix("torch."), "choice": choice})
    return kernel, dtype


def grouped_lora_add_(kernel: ModuleType, y: torch.Tensor, x: torch.Tensor, rows: torch.Tensor,
                      offsets: torch.Tensor, a_t: torch.Tensor, b_t: list[torch.Tensor | None],
                      scales: torch.Tensor, caps: tuple[int, ...], outs: tuple[int, ...],
                      index: torch.Tensor | None = None, col_scales: torch.Tensor | None = None) -> torch.Tensor:
    """``y[rows[i]] += delta`` in place for the rows of each group ``g`` (``rows[offsets[g]:offsets[g+1]]``) on
    the operands at position ``u = index[g]`` (default ``u = g``): ``h = x·Aᵀ[u]`` split along the rank into parts
    ``p`` of ``caps[p]`` columns, each times ``scales[u, p]`` and ``B_pᵀ[u]`` into ``outs[p]`` columns of ``y`` (a
    part with no rank adds nothing). int8 operands: ``h[j]`` is also scaled by ``col_scales[u, j]`` (fp32
    ``[positions, R]``, required for int8 and refused otherwise). ``y``, ``x`` and ``scales`` fp32, contiguous."""
    empty = a_t.new_empty(0, 0, 0)
    if index is None:
        index = torch.arange(offsets.shape[0] - 1, dtype=torch.long, device=offsets.device)
    kernel.grouped_lora_add_(y, x, rows, offsets, index, a_t, [b if b is not None else empty for b in b_t], scales,
                             scales.new_empty(0) if col_scales is None else col_scales, list(caps), list(outs))
    return y

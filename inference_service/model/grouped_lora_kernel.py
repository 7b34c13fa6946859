"""A C++ kernel for the grouped LoRA decode delta on the CPU (``kernels/grouped_lora.cpp``), built on first use.

Why a kernel: a decode step that mixes ``U`` adapters reads every adapter's ``A`` and ``B`` once per
projection, ``y[n] += ((x[n]·Aᵀ[u])·(s·B)ᵀ[u])`` for each row ``n`` on position ``u``; with many distinct
adapters that step is bound by those bytes (about 20 MB per r=16 adapter on every linear layer of
SmolLM2-135M in fp32, several times the int4 base's). torch's ``bmm`` pair streams them at about 22 GB/s
on the 2-core test machine, where a plain reduction reaches about 33 (``benchmarks/lora_operand_dtype.py``),
and its bf16 ``bmm`` is slower than fp32. The kernel splits the batch's rows, up to four of one position at a
time, between threads and, for those rows, multiplies ``x·A`` with the rank's columns held in registers and
adds each part's ``h·B`` row after row into ``y`` (one sequential stream per operand, each load serving the
four rows). With fp32 operands it also serves a batch on one adapter (``fused_lora.FusedLoRA.decode``). It
reads fp32 operands, or bf16 ones widened to fp32 in registers (a 16-bit shift), accumulating in fp32 either
way: bf16 operands halve the bytes.

Numbers (``benchmarks/lora_operand_dtype.py``, the 30 layers' products with SmolLM2's shapes, r=16, one
row per adapter, 16 / 25 / 32 adapters, ms): ``bmm`` fp32 14.0 / 20.4 / 27.1, kernel fp32 11.9 / 17.5 /
22.8 (26–28 GB/s against a plain sum's 31), kernel bf16 5.9 / 9.3 / 12.0. In the engine it also skips the
grid's padding cells (a hot adapter with ten rows in a batch of 25 adapters pads every other one to ten)
and the gather, scatter and concatenation around the ``bmm`` pair: 256 adapters under Zipf traffic went
from 0.70x to 0.90x the one-adapter throughput with fp32 operands (``benchmarks/many_adapters.py``).

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


def decode_operands(choice: str, device: torch.device) -> tuple[ModuleType | None, torch.dtype | None]:
    """(kernel, operand dtype) for the ``lora_decode_operands`` setting (fp32 or bf16) on ``device``: the kernel
    on a CPU where it builds; elsewhere torch's ``bmm`` on the bank's dtype (None). bf16 without the kernel falls
    back to fp32 (logged): oneDNN's bf16 ``bmm`` is slower than fp32 here.

    bf16 is the default, as vLLM serves adapters in the model's dtype: the runtime then reads every adapter
    rounded to bf16 (each weight within 2^-9 of its value), so the kernel's bf16 operands hold it exactly and a
    row's answer does not depend on its batch. Half the bytes per step: 16 requests on 16 distinct adapters went
    from 0.77-0.86x to 0.91-0.95x the one-adapter throughput per round in one process (``benchmarks/engine_speed.py``,
    ``engine_speed_bf16_default.json``). It changes
    answers in the last bits: the demo's v1 on the full suites (459 cases, nf4, ``recipe_quality.py --adapter``,
    ``benchmarks/results/recipe_v1_bf16_default.json``) changed one verdict against fp32, a general question now
    right. fp32 serves the adapter's exact weights."""
    if device.type != "cpu":
        return None, None
    kernel = grouped_lora_kernel()
    if kernel is None:
        if choice == "bf16":
            log.warning("lora_decode_operands=bf16 needs the grouped LoRA kernel; decoding with fp32 operands")
        return None, None
    dtype = torch.bfloat16 if choice == "bf16" else torch.float32
    log.info("grouped LoRA decode", extra={"operands": str(dtype).removeprefix("torch."), "choice": choice})
    return kernel, dtype


def grouped_lora_add_(kernel: ModuleType, y: torch.Tensor, x: torch.Tensor, rows: torch.Tensor,
                      offsets: torch.Tensor, a_t: torch.Tensor, b_t: list[torch.Tensor | None],
                      scales: torch.Tensor, caps: tuple[int, ...], outs: tuple[int, ...],
                      index: torch.Tensor | None = None) -> torch.Tensor:
    """``y[rows[i]] += delta`` in place for the rows of each group ``g`` (``rows[offsets[g]:offsets[g+1]]``) on
    the operands at position ``u = index[g]`` (default ``u = g``): ``h = x·Aᵀ[u]`` split along the rank into parts
    ``p`` of ``caps[p]`` columns, each times ``scales[u, p]`` and ``B_pᵀ[u]`` into ``outs[p]`` columns of ``y`` (a
    part with no rank adds nothing). ``y``, ``x`` and ``scales`` fp32, contiguous."""
    empty = a_t.new_empty(0, 0, 0)
    if index is None:
        index = torch.arange(offsets.shape[0] - 1, dtype=torch.long, device=offsets.device)
    kernel.grouped_lora_add_(y, x, rows, offsets, index, a_t, [b if b is not None else empty for b in b_t], scales,
                             list(caps), list(outs))
    return y

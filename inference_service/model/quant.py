"""Weight formats of the decode fast path: how one (fused) linear layer's base weight is stored and multiplied.

``Int4Weight`` (``quantization=int4``, the CPU default): asymmetric 4-bit, one bf16 scale and zero per
32 input values, multiplied by torch's own weight-only kernel (``aten._weight_int4pack_mm_for_cpu``, the
kernel torchao's int4 weight-only CPU layout calls) with bf16 activations. Why, measured on the 2-core
Zen 4 test machine (``benchmarks/decode_formats.py``, 30 layers of the model's shapes, one thread):

* decode is memory-bound: one token through the 30 layers reads 424 MB of fp32 weights (52 ms), 212 MB
  of bf16 (40 ms) or 53 MB of int4 (6.6 ms); at 16 rows int4 and bf16 tie (41-57 ms) and fp32 takes 113 ms;
* the kernel is slow at many rows (it de-quantizes in its inner loop): a 512-row prefill matmul takes
  21.6 ms against 9.1 ms for a bf16 GEMM, and 64 rows 2.7 against 1.4 ms, while 16 rows are faster in
  int4 (1.4 vs 1.9 ms per layer). So the layer also keeps its de-quantized bf16 matrix (4 bytes per
  int4 byte: 212 MB for SmolLM2) and multiplies from ``DENSE_ROWS`` rows on with it. De-quantizing per
  call instead would cost 8 ms per layer: 0.24 s per prefill forward, as much as the GEMMs of 190
  prompt tokens (16 short prompts took 0.62 s to prefill that way, against 0.25 s).
* it is exact for the embedded SmolLM2: that model ships as a Q4_1 GGUF (16 levels per 32 weights, a
  scale and a minimum), and group-32 asymmetric int4 is that format, so the int4 weights are the served
  fp32 weights up to the bf16 rounding of scale and zero (teacher-forced KL to the fp32 model 0.0002,
  top-1 agreement 99.4%), while nf4 re-quantizes them (KL 0.61, top-1 72%) and group 64 too (KL 0.45).
  fp32 activations would keep it fp32-exact, but the kernel has no fast path for them (28x slower).

The project's kernel (``kernels/int4_matmul.cpp``, on a CPU with AVX512-BF16; built by ``cpu_kernels.py``)
replaces torch's for decode-sized matmuls (fewer than ``KERNEL_DENSE_ROWS`` rows). It takes fp32 activations,
rounds them to bf16 as the engine did before each call, and returns fp32, so the casts around each call go.
Per group of 32 inputs it forms ``Σ x̂·(128 + q)`` with ``vdpbf16ps`` (``128 + q`` is exact in bf16 and its
bits are ``0x4300 | q``: one ternary-logic op turns a nibble into an operand, and the products are exact)
and adds ``s·Σ x̂(128+q) + (z − 136 s)·Σ x̂`` per group in fp32. torch's kernel de-quantizes each weight to
fp32 and multiplies in fp32 FMAs (16 products per instruction against 32), and rounds its output to bf16;
this one does not round the output, so it is the more exact of the two (its error against the exact product
of the bf16-rounded input is ~1e-5 of torch's). Measured on the 2-core test machine
(``benchmarks/decode_formats.py --threads 2``, 30 layers of SmolLM2's shapes, weights streamed from memory):
2.15 / 3.63 / 11.5 / 22.5 / 44.9 ms at 1 / 4 / 16 / 32 / 64 rows, against torch's 3.80 / 6.05 / 21.3 /
41.5 / 84.8 (without the casts) and the dense bf16 GEMM's 14.6 / 15.6 / 21.8 / 29.7 / 50.4, which wins at
512 rows (280 against 431 ms): hence ``KERNEL_DENSE_ROWS``. In the engine (``benchmarks/engine_speed.py``)
one stream went from 86 to 117 tokens/s with this kernel alone.

On a CPU with AMX (Intel Xeon from Sapphire Rapids on) the same kernel runs the same sums on tiles: a group's
16 input pairs x 16 columns, nibble by nibble, are the rows of a TDPBF16PS B tile, and the rows' bf16 inputs
of that group are an A tile read in place, so one tile multiply replaces 16 vdpbf16ps per row. The loop is
far slower there than on the Zen 4 (vdpbf16ps issues at a fraction of the rate): on the 2-core Xeon test
machine, same run (``decode_formats.py --threads 2``, ``decode_formats_int4_amx_cpu_intel.json``), 30 layers
at 1 / 4 / 16 / 32 / 64 rows took 4.64 / 5.42 / 8.82 / 16.9 / 33.1 ms on tiles against 4.32 / 7.99 / 28.8 /
57.7 / 116 ms in the loop; in the engine 16 x 32 tokens went from 285 to 503 tokens/s on one adapter, 262 to
386 on 16 adapters and 345 to 602 on the bare base (``engine_speed.py --baseline-ref`` the tree before, medians
of 3 rounds). The two paths differ in the last fp32 bit (summation order), so a process runs one of them for
every row count, and a row's result still does not depend on the rows that share its call.

``DenseWeight`` is a plain matrix in the compute dtype (``quantization=none``; float32 keeps the
reference's numerics). ``ModuleWeight`` calls a bitsandbytes module (``nf4``/``int8``: the CUDA default
and the memory-lean choice). A fused weight (q|k|v, gate|up) is one matrix when its parts share a
format that can be concatenated, else one call per part.

``PackedNf4Weight`` is nf4 on a CPU with AVX512-BF16 (``quantization=nf4``, what the demo serves):
bitsandbytes repacks an nf4 module's weight for its own CPU kernel on the first inference call (blocks
of 32 output rows, bf16 absmax ``[in/64, out]``), and that kernel computes each output row on its own.
So the packed parts of q|k|v (or gate|up) stacked along the output rows are one weight the kernel takes
in one call, with the same result bit for bit (``tests/inference_service/test_inference_quantized.py``),
and the engine calls the kernel's op directly instead of the module, which paid Python on each of 210
calls per token (quant-state checks, dtype casts, ``matmul_4bit``'s dispatch). With the rescored LM head
(``lm_head.py``), nf4 went from 32.3 to 78.4 tokens/s on one stream and from 222 to 321 on 16 x 32
tokens (``benchmarks/engine_speed.py --quantization nf4``); the kernel now takes 8.3 ms of a 15.7 ms
one-row step (``benchmarks/decode_profile.py --quantization nf4``).
"""

from __future__ import annotations

import functools
import logging
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import nn

from inference_service.model.cpu_kernels import INT4_MATMUL

log = logging.getLogger(__name__)

GROUP = 32
DENSE_ROWS = 32  # from this many rows on, the dense bf16 copy runs the matmul (see above)
KERNEL_DENSE_ROWS = 64  # the same with the project's kernel, faster than the dense GEMM up to ~64 rows


def _cpu_int4_kernel(x: torch.Tensor, packed: torch.Tensor, scales_zeros: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, GROUP, scales_zeros)


@functools.cache
def _loaded_kernel() -> ModuleType | None:
    module = INT4_MATMUL.load()
    if module is not None:  # once per process: which of the kernel's two paths this CPU runs
        log.info("int4 matmul path", extra={"path": "AMX tiles" if module.amx() else "AVX512-BF16 loop"})
    return module


def int4_kernel(device: torch.device) -> ModuleType | None:
    """The project's int4 matmul kernel (``kernels/int4_matmul.cpp``) where it serves ``device``, else None."""
    return _loaded_kernel() if device.type == "cpu" else None


def int4_input_dtype(device: torch.device) -> torch.dtype:
    """What ``Int4Weight.mm`` takes without a cast: fp32 with the project's kernel, else bf16 (torch's)."""
    return torch.float32 if int4_kernel(device) is not None else torch.bfloat16


class Int4Weight:
    """``w[n, k] = (q[n, k] - 8) · s[n, k/32] + z[n, k/32]`` with ``q`` in 0..15 (torch's int4 convention).

    ``kernel``: use the project's int4 kernel for decode-sized matmuls where it serves ``device`` (module
    docstring); False keeps torch's (tests, benchmarks).
    """

    def __init__(self, weight: torch.Tensor, *, device: torch.device, kernel: bool = True) -> None:
        n, k = weight.shape
        if k % GROUP:
            raise ValueError(f"int4 needs in_features divisible by {GROUP}, got {k}")
        w = weight.detach().float().reshape(n, k // GROUP, GROUP)
        lo, hi = w.amin(-1, keepdim=True), w.amax(-1, keepdim=True)
        step = ((hi - lo) / 15).clamp(min=1e-12)
        q = ((w - lo) / step).round().clamp(0, 15).to(torch.uint8).reshape(n, k)
        scale = step.squeeze(-1)
        zero = (lo + 8 * step).squeeze(-1)
        self.in_features, self.out_features = k, n
        self.device = device
        # [k/32, n, 2] bf16: the kernel's scale-and-zero layout
        self.scales_zeros = torch.stack([scale.t(), zero.t()], dim=-1).to(torch.bfloat16).contiguous().to(device)
        nibbles = (q[:, 0::2] | (q[:, 1::2] << 4)).contiguous().to(device)  # [n, k/2]
        self.dense_weight = self._dequantize(nibbles)
        self.kernel = int4_kernel(device) if kernel else None
        self.kernel_scales: torch.Tensor | None = None  # the project's kernel's layout of scales_zeros
        if self.kernel is not None:
            self.packed, self.kernel_scales = self.kernel.pack(q, self.scales_zeros[..., 0].t(),
                                                               self.scales_zeros[..., 1].t())
        elif device.type == "cuda":  # tinygemm layout: inner k tiles must divide k / 16
            tiles = next(t for t in (8, 4, 2) if (k // 16) % t == 0)
            hi_lo = ((q[:, 0::2] << 4) | q[:, 1::2]).contiguous().to(device)
            self.packed = torch.ops.aten._convert_weight_to_int4pack(hi_lo, tiles)
        else:
            self.packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.to(torch.int32), 1)

    @property
    def nbytes(self) -> int:
        held = (self.packed, self.scales_zeros, self.dense_weight, self.kernel_scales)
        return sum(t.numel() * t.element_size() for t in held if t is not None)

    def _dequantize(self, nibbles: torch.Tensor) -> torch.Tensor:
        """The bf16 weight ``[n, k]``, as the kernel de-quantizes it."""
        n = nibbles.shape[0]
        q = torch.stack((nibbles & 15, nibbles >> 4), dim=-1).reshape(n, -1, GROUP).to(torch.bfloat16)
        scale, zero = self.scales_zeros[..., 0].t()[..., None], self.scales_zeros[..., 1].t()[..., None]
        return torch.addcmul(zero, q - 8, scale).reshape(n, self.in_features).contiguous()

    def dense(self, rows: slice | None = None) -> torch.Tensor:
        return self.dense_weight if rows is None else self.dense_weight[rows]

    def mm(self, x: torch.Tensor) -> torch.Tensor:
        """``x [m, k]`` -> ``[m, n]``: fp32 from the project's kernel (which rounds ``x`` to bf16 itself), else
        bf16 (``x`` is taken as bf16)."""
        if x.shape[0] >= (DENSE_ROWS if self.kernel is None else KERNEL_DENSE_ROWS):
            return F.linear(x.to(torch.bfloat16), self.dense_weight)
        if self.kernel is not None:
            return self.kernel.mm(x.float().contiguous(), self.packed, self.kernel_scales)
        x = x.to(torch.bfloat16)
        if self.device.type == "cuda":
            return torch.ops.aten._weight_int4pack_mm(x, self.packed, GROUP, self.scales_zeros)
        return _cpu_int4_kernel(x, self.packed, self.scales_zeros)


class DenseWeight:
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, *, dtype: torch.dtype,
                 device: torch.device) -> None:
        self.weight = weight.detach().to(device=device, dtype=dtype).contiguous()
        self.bias = None if bias is None else bias.detach().to(device=device, dtype=dtype)
        self.out_features, self.in_features = self.weight.shape

    @property
    def nbytes(self) -> int:
        return self.weight.numel() * self.weight.element_size()

    def mm(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class ModuleWeight:
    """A quantized module (bitsandbytes) called as it is; fused parts are concatenated after the calls."""

    def __init__(self, modules: list[nn.Module]) -> None:
        self.modules = modules
        self.out_features = sum(int(m.out_features) for m in modules)
        self.in_features = int(modules[0].in_features)

    @property
    def nbytes(self) -> int:
        return sum(p.numel() * p.element_size() for m in self.modules for p in m.parameters())

    def mm(self, x: torch.Tensor) -> torch.Tensor:
        outs = [m(x) for m in self.modules]
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)


class PackedNf4Weight:
    """nf4 parts of one fused projection in bitsandbytes' CPU packing, multiplied in one kernel call.

    ``w[n, k] = code[q[n, k]] · absmax[k / 64, n]`` (bf16 absmax), bf16 activations, bf16 result. The
    modules' own weights become row views of the stacked packing, so nothing is stored twice and the
    modules still serve the per-module bank layers (tests, tools) with the same numbers.
    """

    def __init__(self, modules: list[nn.Module]) -> None:
        states = [m.weight.quant_state for m in modules]
        self.packed = torch.cat([m.weight.data for m in modules], dim=0)
        self.absmax = torch.cat([s.absmax for s in states], dim=1).contiguous()
        self.code, self.blocksize = states[0].code, states[0].blocksize
        self.out_features = sum(int(m.out_features) for m in modules)
        self.in_features = int(modules[0].in_features)
        self.shape = [self.out_features, self.in_features]
        biases = [m.bias for m in modules]
        self.bias = None if all(b is None for b in biases) else torch.cat(
            [b.detach().float() if b is not None else torch.zeros(int(m.out_features))
             for b, m in zip(biases, modules)]).to(torch.bfloat16)
        start = 0
        for m in modules:
            m.weight.data = self.packed[start:start + int(m.out_features)]
            start += int(m.out_features)

    @classmethod
    def build(cls, modules: list[nn.Module]) -> PackedNf4Weight | None:
        """The packed weight of ``modules``, or None where bitsandbytes' CPU packing does not apply (CUDA,
        a CPU without AVX512-BF16, another format, shapes the packing refuses)."""
        ok = all(type(m).__name__ == "Linear4bit" and m.weight.device.type == "cpu"
                 and getattr(m, "support_avx512bf16_for_cpu", False) and int(m.out_features) % 32 == 0
                 and getattr(m.weight, "quant_state", None) is not None
                 and m.weight.quant_state.quant_type == "nf4" for m in modules)
        if not ok or len({(m.weight.quant_state.blocksize, int(m.in_features)) for m in modules}) != 1:
            return None
        with torch.inference_mode():
            for m in modules:  # the module repacks its weight for the CPU kernel on its first inference call
                m(torch.zeros(1, int(m.in_features), dtype=m.compute_dtype or torch.float32))
        if not all(getattr(m.weight.quant_state, "packing_format_for_cpu", False) for m in modules):
            return None
        return cls(modules)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.packed, self.absmax))

    def mm(self, x: torch.Tensor) -> torch.Tensor:
        """``x [m, k]`` -> ``[m, n]`` bf16 (the bias added in bf16, as the module adds it)."""
        y = torch.ops.bitsandbytes.gemv_4bit.default(x.to(torch.bfloat16), self.packed, self.shape, self.absmax,
                                                     self.code, self.blocksize)
        return y if self.bias is None else y + self.bias


class Int4Bias:
    """An ``Int4Weight`` plus an optional bias (q/k/v biases of Qwen2-style models)."""

    def __init__(self, weight: Int4Weight, bias: torch.Tensor | None) -> None:
        self.w, self.bias = weight, bias
        self.in_features, self.out_features = weight.in_features, weight.out_features

    @property
    def nbytes(self) -> int:
        return self.w.nbytes

    def dense(self, rows: slice | None = None) -> torch.Tensor:
        return self.w.dense(rows)

    def mm(self, x: torch.Tensor) -> torch.Tensor:
        y = self.w.mm(x)
        return y if self.bias is None else y + self.bias


def fuse(linears: list[nn.Module], *, fmt: str, dtype: torch.dtype, device: torch.device):
    """One weight for ``linears`` (same input), in ``fmt``: 'int4', 'dense' or 'module'."""
    if fmt == "module":
        return PackedNf4Weight.build(linears) or ModuleWeight(linears)
    weight = torch.cat([m.weight.detach().float() for m in linears], dim=0)
    biases = [getattr(m, "bias", None) for m in linears]
    bias = None
    if any(b is not None for b in biases):
        bias = torch.cat([b.detach().float() if b is not None else torch.zeros(m.out_features)
                          for b, m in zip(biases, linears)])
    if fmt == "int4":
        return Int4Bias(Int4Weight(weight, device=device), None if bias is None else bias.to(device, dtype))
    return DenseWeight(weight, bias, dtype=dtype, device=device)


class WeightSlice(nn.Module):
    """Rows ``rows`` of a fused weight as an ``nn.Linear``-like module (the bank layer's ``base``).

    The decode path multiplies the fused weight directly; this view keeps the per-module layers of the
    transformers model callable (tests, tools) without a second copy of the weights.
    """

    def __init__(self, fused, rows: slice, dtype: torch.dtype) -> None:
        super().__init__()
        self.fused, self.rows, self.dtype = fused, rows, dtype
        self.in_features, self.out_features = fused.in_features, rows.stop - rows.start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.fused, DenseWeight):
            w, b = self.fused.weight[self.rows], self.fused.bias
        else:
            w, b = self.fused.dense(self.rows), self.fused.bias
        y = F.linear(x.to(w.dtype), w, None if b is None else b[self.rows])
        return y.to(x.dtype)

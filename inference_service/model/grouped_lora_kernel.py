"""A C++ kernel for the grouped LoRA decode delta on the CPU (``kernels/grouped_lora.cpp``), built on first use.

Why a kernel: a decode step that mixes ``U`` adapters reads every adapter's ``A`` and ``B`` once per
projection, ``y[n] += ((x[n]·Aᵀ[u])·(s·B)ᵀ[u])`` for each row ``n`` on position ``u``; with many distinct
adapters that step is bound by those bytes (about 20 MB per r=16 adapter on every linear layer of
SmolLM2-135M in fp32, several times the int4 base's). torch's ``bmm`` pair streams them at about 22 GB/s
on the 2-core test machine, where a plain reduction reaches about 33 (``benchmarks/lora_operand_dtype.py``),
and its bf16 ``bmm`` is slower than fp32. The kernel splits the batch's positions between threads and, per
row, multiplies ``x·A`` with the rank's columns held in registers and adds each part's ``h·B`` row after row
into ``y`` (one sequential stream per operand). It reads fp32 operands, or bf16 ones widened to fp32 in
registers (a 16-bit shift), accumulating in fp32 either way: bf16 operands halve the bytes.

Numbers (``benchmarks/lora_operand_dtype.py``, the 30 layers' products with SmolLM2's shapes, r=16, one
row per adapter, 16 / 25 / 32 adapters, ms): ``bmm`` fp32 14.0 / 20.4 / 27.1, kernel fp32 11.9 / 17.5 /
22.8 (26–28 GB/s against a plain sum's 31), kernel bf16 5.9 / 9.3 / 12.0. In the engine it also skips the
grid's padding cells (a hot adapter with ten rows in a batch of 25 adapters pads every other one to ten)
and the gather, scatter and concatenation around the ``bmm`` pair: 256 adapters under Zipf traffic went
from 0.70x to 0.90x the one-adapter throughput with fp32 operands (``benchmarks/many_adapters.py``).

Built with torch's JIT extension builder (g++ and ninja; AVX-512F/BW/VL and FMA, not ``-march=native``,
so a build runs on any AVX-512 CPU) into ``$TORCH_EXTENSIONS_DIR/lorafleet/<name>`` (default
``~/.cache/torch_extensions``) the first time a process asks, about 25 s on two cores; the name carries a
digest of the source and flags, so an edited kernel is rebuilt and a built one is imported directly (no
compiler, no lock, a read-only directory will do). ``python -m inference_service.model.grouped_lora_kernel``
builds it ahead of time (``make setup`` and the container image do). Where it cannot be built or run (no
compiler, a CPU without AVX-512) the engine keeps the ``bmm`` pair, and says so in the log.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import torch

log = logging.getLogger(__name__)

SOURCE = Path(__file__).resolve().parent / "kernels" / "grouped_lora.cpp"
# OpenMP: at::parallel_for is inlined from ATen's headers; the library resolves to the libgomp torch loaded
CFLAGS = ["-O3", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mfma", "-fopenmp"]
LDFLAGS = ["-fopenmp"]


def _name() -> str:
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(CFLAGS + LDFLAGS + [torch.__version__]).encode())
    return f"lorafleet_grouped_lora_{digest.hexdigest()[:12]}"


def build_dir() -> Path:
    root = os.environ.get("TORCH_EXTENSIONS_DIR") or Path.home() / ".cache" / "torch_extensions"
    return Path(root) / "lorafleet" / _name()


def built_path() -> Path:
    """Where the built extension lies (it is imported from there once it exists)."""
    return build_dir() / f"{_name()}.so"


def _import_built(name: str, path: Path) -> ModuleType | None:
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def grouped_lora_kernel() -> ModuleType | None:
    """The built extension (imported if built, else built now), or None (logged) where it cannot be."""
    capability = torch.backends.cpu.get_cpu_capability()
    if capability != "AVX512":
        log.info("grouped LoRA kernel needs AVX-512; decoding many adapters with torch.bmm",
                 extra={"cpu_capability": capability})
        return None
    name, directory = _name(), build_dir()
    t0 = time.monotonic()
    try:
        module = _import_built(name, built_path())
        if module is None:
            from torch.utils.cpp_extension import load

            directory.mkdir(parents=True, exist_ok=True)
            module = load(name=name, sources=[str(SOURCE)], extra_cflags=CFLAGS, extra_ldflags=LDFLAGS,
                          build_directory=str(directory), verbose=False)
    except Exception as exc:  # no compiler, ninja or headers, or an unwritable directory: torch's bmm pair
        log.warning("grouped LoRA kernel unavailable, decoding many adapters with torch.bmm",
                    extra={"error": f"{type(exc).__name__}: {exc}"[:500], "directory": str(directory)})
        return None
    log.info("grouped LoRA kernel ready", extra={"seconds": round(time.monotonic() - t0, 2),
                                                  "path": str(directory)})
    return module


def decode_operands(choice: str, device: torch.device) -> tuple[ModuleType | None, torch.dtype | None]:
    """(kernel, operand dtype) for the ``lora_decode_operands`` setting (fp32 or bf16) on ``device``: the kernel
    on a CPU where it builds; elsewhere torch's ``bmm`` on the bank's dtype (None). bf16 without the kernel falls
    back to fp32 (logged): oneDNN's bf16 ``bmm`` is slower than fp32 here.

    bf16 is not the default: the runtime then reads every adapter rounded to bf16 (so a row's answer does not
    depend on its batch), and that changes answers. The demo's v1 on the full suites (459 cases, nf4,
    ``recipe_quality.py --adapter``): 3 cases changed verdict, one of them a harmful request answered
    instead of another, enough to move it across the demo's harmful floor."""
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
                      scales: torch.Tensor, caps: tuple[int, ...], outs: tuple[int, ...]) -> torch.Tensor:
    """``y[rows[i]] += delta`` in place for the rows of each position ``u`` (``rows[offsets[u]:offsets[u+1]]``):
    ``h = x·Aᵀ[u]`` split along the rank into parts ``p`` of ``caps[p]`` columns, each times ``scales[u, p]`` and
    ``B_pᵀ[u]`` into ``outs[p]`` columns of ``y`` (a part with no rank adds nothing). ``y``, ``x`` and ``scales``
    fp32, contiguous."""
    empty = a_t.new_empty(0, 0, 0)
    kernel.grouped_lora_add_(y, x, rows, offsets, a_t, [b if b is not None else empty for b in b_t], scales,
                             list(caps), list(outs))
    return y


if __name__ == "__main__":  # build ahead of time (make setup, the container image); silent when already built
    if not built_path().is_file():
        logging.basicConfig(level=logging.INFO)
        print("setup: building the grouped LoRA decode kernel", file=sys.stderr)
        ready = grouped_lora_kernel() is not None
        print("grouped LoRA kernel:", "ready" if ready else "unavailable (torch.bmm is used)", file=sys.stderr)

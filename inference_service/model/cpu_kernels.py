"""The engine's C++ CPU kernels (``kernels/*.cpp``): how each is built, found and loaded.

Each kernel is built with torch's JIT extension builder (g++ and ninja; explicit ISA flags, not
``-march=native``, so a build runs on any CPU with those extensions) into
``$TORCH_EXTENSIONS_DIR/lorafleet/<name>`` (default ``~/.cache/torch_extensions``) the first time a process
asks, about 25 s each on two cores. The name carries a digest of the source, the flags and torch's version,
so an edited kernel is rebuilt and a built one is imported directly (no compiler, no lock, a read-only
directory will do). ``python -m inference_service.model.cpu_kernels`` builds them all ahead of time
(``make setup`` and the container image do) and is silent when they are built. Where one cannot be built
or run (no compiler, a CPU without the extensions it needs) its caller keeps torch's ops, and the log
says so.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch

log = logging.getLogger(__name__)

KERNELS_DIR = Path(__file__).resolve().parent / "kernels"
AVX512 = ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mfma"]
# OpenMP: at::parallel_for is inlined from ATen's headers; the library resolves to the libgomp torch loaded
LDFLAGS = ["-fopenmp"]


def _has_avx512() -> bool:
    return torch.backends.cpu.get_cpu_capability() == "AVX512"


def _has_avx512_and(probe_name: str) -> bool:
    """AVX-512 and the extension ``torch.cpu.<probe_name>()`` reports (private in torch 2.x: absent means no)."""
    probe = getattr(torch.cpu, probe_name, None)
    return _has_avx512() and probe is not None and bool(probe())


def _has_avx512_bf16() -> bool:
    return _has_avx512_and("_is_avx512_bf16_supported")


def _has_avx512_vnni() -> bool:
    return _has_avx512_and("_is_vnni_supported")


@dataclass(frozen=True)
class CpuKernel:
    """One C++ source under ``kernels/``, the ISA flags it is built with and the CPU check it needs."""

    stem: str                       # "grouped_lora": kernels/grouped_lora.cpp
    what: str                       # for the log: "grouped LoRA kernel"
    isa: tuple[str, ...]
    supported: Callable[[], bool]
    requirement: str                # for the log: "AVX-512"
    fallback: str                   # for the log: what the caller does without it

    @property
    def source(self) -> Path:
        return KERNELS_DIR / f"{self.stem}.cpp"

    @property
    def cflags(self) -> list[str]:
        return ["-O3", *self.isa, "-fopenmp"]

    def name(self) -> str:
        digest = hashlib.sha256(self.source.read_bytes() + " ".join(self.cflags + LDFLAGS + [torch.__version__])
                                .encode())
        return f"lorafleet_{self.stem}_{digest.hexdigest()[:12]}"

    def build_dir(self) -> Path:
        root = os.environ.get("TORCH_EXTENSIONS_DIR") or Path.home() / ".cache" / "torch_extensions"
        return Path(root) / "lorafleet" / self.name()

    def built_path(self) -> Path:
        """Where the built extension lies (it is imported from there once it exists)."""
        return self.build_dir() / f"{self.name()}.so"

    def load(self) -> ModuleType | None:
        """The built extension (imported if built, else built now), or None (logged) where it cannot be; once
        per process."""
        return _load(self)


@functools.cache
def _load(kernel: CpuKernel) -> ModuleType | None:
    fallback = kernel.fallback
    if not kernel.supported():
        log.info(f"{kernel.what} needs {kernel.requirement}; {fallback}",
                 extra={"cpu_capability": torch.backends.cpu.get_cpu_capability()})
        return None
    name, directory = kernel.name(), kernel.build_dir()
    t0 = time.monotonic()
    try:
        module = _import_built(name, kernel.built_path())
        if module is None:
            from torch.utils.cpp_extension import load

            directory.mkdir(parents=True, exist_ok=True)
            module = load(name=name, sources=[str(kernel.source)], extra_cflags=kernel.cflags,
                          extra_ldflags=LDFLAGS, build_directory=str(directory), verbose=False)
    except Exception as exc:  # no compiler, ninja or headers, or an unwritable directory: the caller's torch ops
        log.warning(f"{kernel.what} unavailable; {fallback}",
                    extra={"error": f"{type(exc).__name__}: {exc}"[:500], "directory": str(directory)})
        return None
    log.info(f"{kernel.what} ready", extra={"seconds": round(time.monotonic() - t0, 2), "path": str(directory)})
    return module


def _import_built(name: str, path: Path) -> ModuleType | None:
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GROUPED_LORA = CpuKernel("grouped_lora", "grouped LoRA kernel", tuple(AVX512), _has_avx512, "AVX-512",
                         "decoding many adapters with torch.bmm")
INT4_MATMUL = CpuKernel("int4_matmul", "int4 matmul kernel", (*AVX512, "-mavx512bf16"), _has_avx512_bf16,
                        "AVX512-BF16", "int4 decode matmuls with torch's _weight_int4pack_mm_for_cpu")
INT8_HEAD = CpuKernel("int8_head", "int8 head kernel", (*AVX512, "-mavx512vnni"), _has_avx512_vnni, "AVX512-VNNI",
                      "ranking the LM head with fbgemm's int8 kernel")
DECODE_OPS = CpuKernel("decode_ops", "fused decode ops", tuple(AVX512), _has_avx512, "AVX-512",
                       "decode steps with torch's ops")
ALL = (GROUPED_LORA, INT4_MATMUL, INT8_HEAD, DECODE_OPS)


if __name__ == "__main__":  # build ahead of time (make setup, the container image); silent when all are built
    for k in ALL:
        if k.built_path().is_file() or not k.supported():
            continue
        logging.basicConfig(level=logging.INFO)
        print(f"setup: building the {k.what}", file=sys.stderr)
        print(f"{k.what}:", "ready" if k.load() is not None else f"unavailable ({k.fallback})", file=sys.stderr)

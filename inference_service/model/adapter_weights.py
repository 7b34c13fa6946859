"""Read a PEFT LoRA adapter directory into host tensors ready to copy into a bank slot.

PEFT stores ``base_model.model.<module>.lora_A.weight`` ``[r, in]`` and ``...lora_B.weight``
``[out, r]``; the served delta is ``W' = W + s·B·A`` with ``s = alpha/r`` (``alpha/sqrt(r)`` with
rsLoRA). Tensors are read with safetensors (no pickle), converted to the bank dtype and kept in
(pinned, when CUDA is used) host memory so a cold load into a slot is only a copy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from lorafleet.adapters.lora import lora_scale, split_weight_name
from lorafleet.adapters.peft_dir import WEIGHTS_FILE, lora_spec_from_config, read_adapter_config
from lorafleet.errors import FailedPrecondition, InvalidArgument


@dataclass(frozen=True)
class AdapterKey:
    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass
class HostAdapter:
    """One adapter version in host memory: ``modules[name] = (A [r,in], B [out,r], scale)``."""

    key: AdapterKey
    rank: int
    alpha: float
    use_rslora: bool
    modules: dict[str, tuple[torch.Tensor, torch.Tensor, float]]
    target_modules: tuple[str, ...]  # short names, sorted
    nbytes: int
    read_seconds: float = 0.0
    path: str = ""
    extra: dict = field(default_factory=dict)


def read_adapter(path: Path, key: AdapterKey, *, layer_shapes: dict[str, tuple[int, int]], max_rank: int,
                 dtype: torch.dtype = torch.float32, pin: bool = False) -> HostAdapter:
    """Load and validate; ``layer_shapes`` maps each bank module path to ``(in, out)``."""
    t0 = time.perf_counter()
    path = Path(path)
    cfg = read_adapter_config(path)
    spec = lora_spec_from_config(path, cfg)
    if spec.r > max_rank:
        raise FailedPrecondition(f"{key}: rank {spec.r} exceeds the server's max adapter rank {max_rank}",
                                 field="adapter")
    try:
        tensors = load_file(str(path / WEIGHTS_FILE), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise InvalidArgument(f"{path}: cannot read {WEIGHTS_FILE}: {exc}", field="adapter") from exc
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for k, t in tensors.items():
        split = split_weight_name(k)
        if split is None:
            raise InvalidArgument(f"{path}: tensor {k[:120]!r} is not a LoRA linear weight", field="adapter")
        module, which = split
        pairs.setdefault(module, {})[which] = t
    scale = lora_scale(spec.alpha, spec.r, spec.use_rslora)
    modules: dict[str, tuple[torch.Tensor, torch.Tensor, float]] = {}
    nbytes = 0
    for module, pair in sorted(pairs.items()):
        if module not in layer_shapes:
            raise FailedPrecondition(f"{key}: the served base has no bank layer {module!r}", field="adapter")
        if set(pair) != {"A", "B"}:
            raise InvalidArgument(f"{key}: module {module} lacks lora_A or lora_B", field="adapter")
        a, b = pair["A"], pair["B"]
        in_f, out_f = layer_shapes[module]
        r = a.shape[0]
        if a.dim() != 2 or b.dim() != 2 or a.shape[1] != in_f or b.shape != (out_f, r):
            raise FailedPrecondition(
                f"{key}: module {module} lora_A {list(a.shape)} / lora_B {list(b.shape)} do not fit "
                f"[r, {in_f}] / [{out_f}, r]", field="adapter")
        if r > max_rank:
            raise FailedPrecondition(f"{key}: module {module} rank {r} exceeds max adapter rank {max_rank}",
                                     field="adapter")
        a = a.to(dtype).contiguous()
        b = b.to(dtype).contiguous()
        if pin:
            a, b = a.pin_memory(), b.pin_memory()
        nbytes += a.numel() * a.element_size() + b.numel() * b.element_size()
        modules[module] = (a, b, scale)
    if not modules:
        raise InvalidArgument(f"{path}: no LoRA tensors", field="adapter")
    targets = tuple(sorted({m.rsplit(".", 1)[-1] for m in modules}))
    return HostAdapter(key=key, rank=spec.r, alpha=spec.alpha, use_rslora=spec.use_rslora, modules=modules,
                       target_modules=targets, nbytes=nbytes, read_seconds=time.perf_counter() - t0, path=str(path))

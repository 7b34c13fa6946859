"""LoRA's formula and PEFT's weight names: the one home of each, for registry, trainer and inference.

A LoRA adapter changes a linear layer ``y = W x`` into ``y = W x + s · B (A x)`` with
``A ∈ R^{r×in}``, ``B ∈ R^{out×r}`` and the scale

    s = alpha / r            (LoRA, Hu et al. 2021)
    s = alpha / sqrt(r)      (rank-stabilized LoRA, Kalajdzievski 2023: keeps the update's
                              magnitude stable as r grows)

PEFT saves ``A`` as ``base_model.model.<module>.lora_A.weight`` ``[r, in]`` and ``B`` as
``...lora_B.weight`` ``[out, r]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KEY_PREFIX = "base_model.model."
#: Ranges every adapter keeps, trained or imported: rank 1..MAX_LORA_RANK, 0 < alpha <= MAX_LORA_ALPHA (finite).
MAX_LORA_RANK = 1024
MAX_LORA_ALPHA = 8192.0
_SUFFIXES = {".lora_A.weight": "A", ".lora_B.weight": "B"}


def lora_scale(alpha: float, r: int, use_rslora: bool = False) -> float:
    """``s`` of the update ``W + s·B·A``: ``alpha / r``, or ``alpha / sqrt(r)`` with rsLoRA."""
    return alpha / math.sqrt(r) if use_rslora else alpha / r


def split_weight_name(key: str) -> tuple[str, str] | None:
    """``base_model.model.<module>.lora_A.weight`` -> (``<module>``, ``"A"``); None when the tensor
    is not a LoRA linear weight (the ``base_model.model.`` prefix is optional)."""
    for suffix, which in _SUFFIXES.items():
        if key.endswith(suffix):
            module = key[: -len(suffix)]
            return module.removeprefix(KEY_PREFIX), which
    return None


@dataclass(frozen=True)
class LoraSpec:
    """LoRA hyper-parameters as written in ``adapter_config.json``.

    ``target_modules`` holds short module names (``q_proj``) or a single PEFT pattern
    (``all-linear`` or a regular expression) exactly as configured.
    """

    r: int
    alpha: float
    dropout: float
    target_modules: tuple[str, ...]
    use_rslora: bool = False

    @property
    def scale(self) -> float:
        return lora_scale(self.alpha, self.r, self.use_rslora)

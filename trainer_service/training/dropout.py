"""Same dropout, cheaper mask: PEFT's LoRA dropout with masks from a fast counter-free RNG.

LoRA applies dropout to the full input of every adapted linear (7 per decoder layer), so a
QLoRA step on the 135M base draws ~90 M mask elements. ``nn.Dropout`` on CPU draws them with
torch's Mersenne Twister one element at a time (``bernoulli_``): ~5 ns an element, ~13 % of
the step. Here each module owns a NumPy ``SFC64`` generator (seeded from torch's RNG when the
module is built, so runs stay reproducible under ``torch.manual_seed``); its raw 64-bit output
is read as four 16-bit integers ``u ∈ [-2¹⁵, 2¹⁵)``, and an element is dropped iff
``u < -2¹⁵ + k`` with ``k = round(p · 2¹⁶)``: ~1 ns an element. The mask is made in NumPy as
float32 multipliers, not torch booleans: on CPU, making a mask and applying it forward and
backward costs 1.6–3.1× more with a torch bool mask and ``where`` (``benchmarks/dropout_masks.py``).

Distribution: each element is dropped independently with probability ``p' = k / 2¹⁶``
(|p' - p| ≤ 2⁻¹⁷, exactly p for p = 0.05 to within 8·10⁻⁶) and kept ones are scaled by
``1 / (1 - p')``, so E[dropout(x)] = x exactly, as with ``nn.Dropout``. Only the random stream
differs from ``nn.Dropout``'s: results are seeded, not bitwise equal to PEFT's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from peft import PeftModel

_LEVELS = 1 << 16


class FastMaskDropout(nn.Module):
    def __init__(self, p: float, seed: int | None = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p must be in [0, 1), got {p}")
        self.p = p
        self._drop_levels = round(p * _LEVELS)  # k: an element is dropped with probability k / 2^16
        self._threshold = -(_LEVELS // 2) + self._drop_levels  # drop iff u < threshold
        self._scale = 1.0 / (1.0 - self.effective_p)
        if seed is None:
            seed = int(torch.randint(0, 2**63 - 1, (1,)).item())
        self._bits = np.random.SFC64(seed)

    @property
    def effective_p(self) -> float:
        return self._drop_levels / _LEVELS

    def keep_mask(self, shape: torch.Size, value: float = 1.0) -> torch.Tensor:
        """float32 multipliers: ``value`` where an element is kept, 0 where it is dropped."""
        n = int(np.prod(shape))
        words = self._bits.random_raw((n + 3) // 4).view(np.int16)[:n]
        mask = np.multiply(words >= self._threshold, np.float32(value), dtype=np.float32)
        return torch.from_numpy(mask).view(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * self.keep_mask(x.shape, self._scale).to(device=x.device, dtype=x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def use_fast_mask_dropout(peft_model: PeftModel) -> int:
    """Swap every LoRA ``nn.Dropout`` for ``FastMaskDropout`` in place; returns how many."""
    swapped = 0
    for module in peft_model.modules():
        drops = getattr(module, "lora_dropout", None)
        if not isinstance(drops, nn.ModuleDict):
            continue
        for name, d in list(drops.items()):
            if isinstance(d, nn.Dropout) and d.p > 0:
                drops[name] = FastMaskDropout(d.p)
                swapped += 1
    return swapped

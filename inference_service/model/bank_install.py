"""Replace the base model's targetable linear layers with LoRA bank layers.

Every linear an adapter may target (``BaseModelSpec.linear_modules``: q/k/v/o/gate/up/down in a
Llama) is wrapped once at start-up, so the union of all adapters' target sets is always
covered; a layer whose slots are all empty adds nothing to a forward pass (``lora_bank``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from inference_service.model.lora_bank import BankBatch, LoRABankLinear


def install_bank(model: nn.Module, module_names: Iterable[str], *, num_slots: int, max_rank: int,
                 dtype: torch.dtype, device: torch.device | str) -> tuple[BankBatch, dict[str, LoRABankLinear]]:
    """Wrap each named linear; returns the shared batch state and the layers by full name."""
    batch = BankBatch()
    layers: dict[str, LoRABankLinear] = {}
    for name in module_names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        base = getattr(parent, child)
        if isinstance(base, LoRABankLinear):
            raise ValueError(f"{name} already carries a LoRA bank")
        if not hasattr(base, "in_features") or not hasattr(base, "out_features"):
            raise ValueError(f"{name} is not a linear layer ({type(base).__name__})")
        bank = LoRABankLinear(base, num_slots=num_slots, max_rank=max_rank, batch=batch, dtype=dtype, device=device)
        setattr(parent, child, bank)
        layers[name] = bank
    return batch, layers

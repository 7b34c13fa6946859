"""BoolMaskDropout has nn.Dropout's distribution and replaces exactly PEFT's LoRA dropouts."""

from __future__ import annotations

from pathlib import Path

import torch

from trainer_service.training.config import TrainingConfig
from trainer_service.training.dropout import BoolMaskDropout, use_bool_mask_dropout
from trainer_service.training.model import build_peft_model


def test_keep_rate_scale_and_eval_identity() -> None:
    torch.manual_seed(0)
    d = BoolMaskDropout(0.2)
    x = torch.ones(400, 500, requires_grad=True)
    y = d(x)
    kept = (y != 0).float().mean().item()
    assert abs(kept - 0.8) < 0.005  # 200k Bernoulli draws: std of the mean ~0.0009
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / 0.8))
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(x * mask * s)/dx = mask * s
    d.eval()
    assert d(x) is x


def test_swaps_every_lora_dropout(tiny_model_dir) -> None:
    cfg = TrainingConfig(adapter_name="d", adapter_method="lora", dropout=0.1, training_dataset_id="ds-x")
    model = build_peft_model(Path(tiny_model_dir), cfg, torch.device("cpu"))
    assert use_bool_mask_dropout(model) == 2 * 7  # 2 layers x 7 linear modules
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.modules())

"""FastMaskDropout has nn.Dropout's distribution and replaces exactly PEFT's LoRA dropouts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer_service.training.config import TrainingConfig
from trainer_service.training.dropout import FastMaskDropout, use_fast_mask_dropout
from trainer_service.training.model import build_peft_model


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5])
def test_keep_rate_scale_and_eval_identity(p: float) -> None:
    torch.manual_seed(0)
    d = FastMaskDropout(p)
    x = torch.ones(400, 500, requires_grad=True)
    y = d(x)
    kept = (y != 0).float().mean().item()
    assert abs(kept - (1 - p)) < 0.005  # 200k Bernoulli draws: std of the mean <= 0.0012
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / (1 - d.effective_p)))
    assert abs(y.mean().item() - 1.0) < 0.01  # unbiased: E[dropout(x)] = x
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(x * mask * s)/dx = mask * s
    d.eval()
    assert d(x) is x


def test_masks_are_independent_across_calls_and_columns() -> None:
    torch.manual_seed(1)
    d = FastMaskDropout(0.5)
    a, b = d.keep_mask(torch.Size([200_000])), d.keep_mask(torch.Size([200_000]))
    agree = (a == b).float().mean().item()
    assert abs(agree - 0.5) < 0.01  # two independent fair masks agree half the time
    # the four 16-bit lanes of each 64-bit word are all uniform (no lane is biased)
    m = d.keep_mask(torch.Size([100_000, 4])).float().mean(0)
    assert torch.all((m - 0.5).abs() < 0.01), m


def test_mask_holds_zero_or_the_given_value() -> None:
    d = FastMaskDropout(0.3, seed=5)
    m = d.keep_mask(torch.Size([50, 40]), 2.5)
    assert m.dtype == torch.float32 and m.shape == (50, 40)
    assert set(m.unique().tolist()) == {0.0, 2.5}


def test_same_torch_seed_same_masks() -> None:
    torch.manual_seed(7)
    m1 = FastMaskDropout(0.1).keep_mask(torch.Size([1000]))
    torch.manual_seed(7)
    m2 = FastMaskDropout(0.1).keep_mask(torch.Size([1000]))
    assert torch.equal(m1, m2)


@settings(max_examples=50, deadline=None)
@given(p=st.floats(min_value=0.0, max_value=0.99))
def test_effective_p_is_within_one_level(p: float) -> None:
    d = FastMaskDropout(p, seed=0)
    assert abs(d.effective_p - p) <= 2**-17


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_rejects_p_outside_unit_interval(p: float) -> None:
    with pytest.raises(ValueError, match="dropout p"):
        FastMaskDropout(p)


def test_swaps_every_lora_dropout(tiny_model_dir) -> None:
    cfg = TrainingConfig(adapter_name="d", adapter_method="lora", dropout=0.1, training_dataset_id="ds-x")
    model = build_peft_model(Path(tiny_model_dir), cfg, torch.device("cpu"))
    assert use_fast_mask_dropout(model) == 2 * 7  # 2 layers x 7 linear modules
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.modules())

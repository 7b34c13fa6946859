"""LoRABankLinear: y_i = base(x_i) + scale[s_i]·(x_i·A[s_i]ᵀ)·B[s_i]ᵀ, per row, in one call."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from inference_service.model.bank_install import install_bank
from inference_service.model.lora_bank import BankBatch, LoRABankLinear
from lorafleet.adapters.lora import lora_scale


def make_bank(num_slots=3, max_rank=16, in_f=12, out_f=10):
    torch.manual_seed(0)
    base = nn.Linear(in_f, out_f, bias=True)
    batch = BankBatch()
    return base, batch, LoRABankLinear(base, num_slots=num_slots, max_rank=max_rank, batch=batch,
                                       dtype=torch.float32, device="cpu")


def test_rows_get_their_own_adapter_and_slot_zero_is_the_base():
    base, batch, bank = make_bank()
    adapters = {1: (torch.randn(4, 12), torch.randn(10, 4), 2.0), 2: (torch.randn(8, 12), torch.randn(10, 8), 0.5)}
    for slot, (a, b, s) in adapters.items():
        bank.set_slot(slot, a, b, s)
    x = torch.randn(3, 5, 12)
    batch.set_slots([2, 0, 1], "cpu")
    y = bank(x)
    with torch.no_grad():
        for row, slot in enumerate([2, 0, 1]):
            want = base(x[row])
            if slot:
                a, b, s = adapters[slot]
                want = want + s * (x[row] @ a.T) @ b.T
            torch.testing.assert_close(y[row], want, rtol=1e-5, atol=1e-5)


def test_rank_capacity_grows_and_smaller_ranks_are_zero_padded():
    base, batch, bank = make_bank(max_rank=64)
    a4, b4 = torch.randn(4, 12), torch.randn(10, 4)
    bank.set_slot(1, a4, b4, 1.0)
    assert bank.rank_capacity == 8
    a32, b32 = torch.randn(32, 12), torch.randn(10, 32)
    bank.set_slot(2, a32, b32, 1.0)
    assert bank.rank_capacity == 32
    x = torch.randn(2, 1, 12)
    batch.set_slots([1, 2], "cpu")
    y = bank(x)
    with torch.no_grad():
        torch.testing.assert_close(y[0], base(x[0]) + (x[0] @ a4.T) @ b4.T, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(y[1], base(x[1]) + (x[1] @ a32.T) @ b32.T, rtol=1e-4, atol=1e-4)


def test_slot_rewrite_invalidates_cached_operands_and_clear_restores_base():
    base, batch, bank = make_bank()
    bank.set_slot(1, torch.randn(4, 12), torch.randn(10, 4), 1.0)
    x = torch.randn(1, 1, 12)
    batch.set_slots([1], "cpu")
    first = bank(x)
    a, b = torch.randn(4, 12), torch.randn(10, 4)
    bank.set_slot(1, a, b, 3.0)  # same slot vector, new weights
    with torch.no_grad():
        torch.testing.assert_close(bank(x)[0], base(x[0]) + 3.0 * (x[0] @ a.T) @ b.T, rtol=1e-5, atol=1e-5)
        assert not torch.allclose(first, bank(x))
        bank.clear_slot(1)
        torch.testing.assert_close(bank(x), base(x))


def test_invalid_slot_writes_are_refused():
    _, _, bank = make_bank(max_rank=8)
    with pytest.raises(ValueError, match="outside"):
        bank.set_slot(0, torch.randn(2, 12), torch.randn(10, 2), 1.0)
    with pytest.raises(ValueError, match="do not fit"):
        bank.set_slot(1, torch.randn(2, 11), torch.randn(10, 2), 1.0)
    with pytest.raises(ValueError, match="max rank"):
        bank.set_slot(1, torch.randn(9, 12), torch.randn(10, 9), 1.0)


def test_rslora_scale():
    assert lora_scale(16, 4, False) == 4.0
    assert lora_scale(16, 4, True) == 8.0
    assert math.isclose(lora_scale(8, 16, True), 2.0)


def test_install_wraps_named_linears_once():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    batch, layers = install_bank(model, ["0", "2"], num_slots=2, max_rank=4, dtype=torch.float32, device="cpu")
    assert set(layers) == {"0", "2"} and isinstance(model[0], LoRABankLinear)
    with pytest.raises(ValueError, match="already"):
        install_bank(model, ["0"], num_slots=2, max_rank=4, dtype=torch.float32, device="cpu")
    with pytest.raises(ValueError, match="not a linear"):
        install_bank(model, ["1"], num_slots=2, max_rank=4, dtype=torch.float32, device="cpu")


@pytest.mark.parametrize("slots", [[1, 2, 1, 0, 1], [1, 1, 1], [0, 0, 2], [2, 1], [3, 3, 1, 1]])
def test_grouped_rows_with_repeats_padding_and_untargeted_slots(slots):
    base, batch, bank = make_bank()
    adapters = {1: (torch.randn(4, 12), torch.randn(10, 4), 2.0), 2: (torch.randn(8, 12), torch.randn(10, 8), 0.5)}
    for slot, (a, b, s) in adapters.items():
        bank.set_slot(slot, a, b, s)
    # slot 3 holds an adapter that does not target this layer: rows on it get the base output
    x = torch.randn(len(slots), 3, 12)
    batch.set_slots(slots, "cpu")
    y = bank(x)
    with torch.no_grad():
        for row, slot in enumerate(slots):
            want = base(x[row])
            if slot in adapters:
                a, b, s = adapters[slot]
                want = want + s * (x[row] @ a.T) @ b.T
            torch.testing.assert_close(y[row], want, rtol=1e-5, atol=1e-5)

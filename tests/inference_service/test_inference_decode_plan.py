"""Decode operands under churn: each adapter keeps its position while it stays in the batch, only
newcomers are copied, and every row still gets exactly its own adapter's delta."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from inference_service.model.decode_plan import DecodePlan, plan_positions
from inference_service.model.fused_lora import FusedLoRA
from inference_service.model.lora_bank import BankBatch, LoRABankLinear

slot_vectors = st.lists(st.integers(0, 9), max_size=24)


@settings(max_examples=300, deadline=None)
@given(before=slot_vectors, after=slot_vectors)
def test_positions_hold_exactly_the_batch_and_move_only_for_churn(before: list[int], after: list[int]) -> None:
    previous = plan_positions((), tuple(before))
    order = plan_positions(previous, tuple(after))
    wanted = {s for s in after if s}
    assert sorted(order) == sorted(wanted)  # each adapter of the batch once, nothing else, no gap
    changed = sum(1 for i, s in enumerate(order) if i >= len(previous) or previous[i] != s)
    joined, left = len(wanted - set(previous)), len(set(previous) - wanted)
    assert changed <= joined + left  # a newcomer takes one place; a departure moves at most one adapter
    if wanted == set(previous):
        assert order == previous
    if left == 0:
        assert order[:len(previous)] == previous  # nobody left: newcomers go at the end, no one moves


@settings(max_examples=100, deadline=None)
@given(slots=slot_vectors, previous=st.lists(st.integers(1, 9), unique=True, max_size=9))
def test_plan_grid_puts_each_row_in_its_adapter_group(slots: list[int], previous: list[int]) -> None:
    plan = DecodePlan.build(tuple(previous), tuple(slots), torch.device("cpu"))
    grid = list(range(len(slots))) if plan.grid is None else plan.grid.tolist()
    cells = range(len(grid)) if plan.valid_cells is None else plan.valid_cells.tolist()
    seen = sorted((grid[c], plan.order[c // plan.group_size]) for c in cells)
    assert seen == [(row, s) for row, s in enumerate(slots) if s]
    assert plan.valid_rows.tolist() == [grid[c] for c in cells]


PARTS = (24, 8, 8)  # a q|k|v-like projection: three parts with different output sizes
IN = 16


def fused_bank(num_slots: int = 8) -> tuple[BankBatch, list[LoRABankLinear], FusedLoRA]:
    torch.manual_seed(0)
    batch = BankBatch()
    layers = [LoRABankLinear(nn.Linear(IN, out, bias=False), num_slots=num_slots, max_rank=16, batch=batch,
                             dtype=torch.float32, device="cpu") for out in PARTS]
    return batch, layers, FusedLoRA(layers, batch)


def load(layers: list[LoRABankLinear], slot: int, ranks: tuple[int, ...], seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for layer, r in zip(layers, ranks):
        if r:
            layer.set_slot(slot, torch.randn(r, IN, generator=g), torch.randn(layer.out_features, r, generator=g),
                           0.5 + seed % 3)
        else:
            layer.clear_slot(slot)


def reference(layers: list[LoRABankLinear], x: torch.Tensor, slots: list[int]) -> torch.Tensor:
    """Row by row, part by part: scale · (x Aᵀ) Bᵀ from the bank's own storage."""
    out = []
    for row, slot in enumerate(slots):
        parts = []
        for layer in layers:
            delta = torch.zeros(layer.out_features)
            r = layer.slot_rank[slot] if slot else 0
            if r:
                assert layer.A is not None and layer.B is not None
                delta = layer.scale[slot] * (x[row] @ layer.A[slot, :r].T) @ layer.B[slot, :, :r].T
            parts.append(delta)
        out.append(torch.cat(parts))
    return torch.stack(out)


def test_decode_matches_the_reference_through_churn_rewrites_and_rank_growth(monkeypatch: pytest.MonkeyPatch) -> None:
    batch, layers, fused = fused_bank()
    for slot in range(1, 7):
        load(layers, slot, (8, 8, 0) if slot == 3 else (8, 8, 8), seed=slot)  # slot 3 leaves the third part alone
    writes: list[tuple[int, int]] = []
    original = FusedLoRA._write

    def spy(self: FusedLoRA, pos: int, slot: int) -> None:
        writes.append((pos, slot))
        original(self, pos, slot)

    monkeypatch.setattr(FusedLoRA, "_write", spy)
    steps: list[tuple[list[int], int]] = [
        ([1, 2, 3, 1], 3),          # first plan: each adapter copied once
        ([1, 2, 3, 1], 0),          # same batch: nothing copied
        ([1, 2, 4, 0], 1),          # 3 left, 4 took its place
        ([1, 2, 4, 5, 6], 2),       # two newcomers at the end
        ([2, 4, 5, 6], 1),          # 1 left: the last adapter moves into its place
    ]
    for slots, copies in steps:
        writes.clear()
        x = torch.randn(len(slots), IN)
        y = torch.zeros(len(slots), sum(PARTS))
        got = fused.decode(x, y.clone(), tuple(slots))
        torch.testing.assert_close(got, reference(layers, x, slots), rtol=1e-5, atol=1e-5)
        assert len(writes) == copies, (slots, writes)
    load(layers, 5, (4, 8, 2), seed=42)  # a slot rewritten in place (evicted and reloaded): copied again
    writes.clear()
    slots = [2, 4, 5, 6]
    x = torch.randn(len(slots), IN)
    torch.testing.assert_close(fused.decode(x, torch.zeros(4, sum(PARTS)), tuple(slots)), reference(layers, x, slots),
                               rtol=1e-5, atol=1e-5)
    assert [s for _, s in writes] == [5]
    load(layers, 6, (16, 8, 8), seed=7)  # rank capacity grows: the layout changes, everything is copied again
    x = torch.randn(len(slots), IN)
    torch.testing.assert_close(fused.decode(x, torch.zeros(4, sum(PARTS)), tuple(slots)), reference(layers, x, slots),
                               rtol=1e-5, atol=1e-5)


def test_one_adapter_batches_and_untargeted_projections() -> None:
    batch, layers, fused = fused_bank()
    load(layers, 1, (4, 4, 4), seed=1)
    x = torch.randn(3, IN)
    torch.testing.assert_close(fused.decode(x, torch.zeros(3, sum(PARTS)), (1, 1, 1)), reference(layers, x, [1, 1, 1]),
                               rtol=1e-5, atol=1e-5)
    y = torch.randn(3, sum(PARTS))
    assert fused.decode(x, y, (2, 2, 0)) is y  # slot 2 holds nothing for this projection
    load(layers, 1, (4, 4, 4), seed=9)  # rewritten: the one-adapter path does not reuse the old operands
    torch.testing.assert_close(fused.decode(x, torch.zeros(3, sum(PARTS)), (1, 1, 1)), reference(layers, x, [1, 1, 1]),
                               rtol=1e-5, atol=1e-5)


def test_resident_operands_grow_by_doubling_but_never_past_the_slot_count() -> None:
    batch, layers, fused = fused_bank(num_slots=6)
    for slot in range(1, 7):
        load(layers, slot, (4, 4, 4), seed=slot)
    for slots in ([1, 2], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]):
        x = torch.randn(len(slots), IN)
        torch.testing.assert_close(fused.decode(x, torch.zeros(len(slots), sum(PARTS)), tuple(slots)),
                                   reference(layers, x, slots), rtol=1e-5, atol=1e-5)
    assert fused._a_t is not None and fused._a_t.shape[0] == 6  # 4, then min(8, 6): not 8

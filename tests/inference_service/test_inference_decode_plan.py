"""Decode operands under churn: each adapter keeps its position while it stays in the batch (with the kernel:
while a position holds it at all), only newcomers are copied, and every row still gets exactly its own
adapter's delta, through torch's ``bmm`` pair and through the grouped C++ kernel (fp32 operands: the same
delta within 1e-5; bf16 operands: the delta of the bf16-rounded ``A`` and ``B`` within 1e-5, which is within
about 2^-8 of the fp32 one; and for adapters whose weights are bf16 values, as the runtime reads them then,
the fp32 delta itself). Prefill segments go through the same kernel, with a decode step's delta per token."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from inference_service.model.decode_plan import DecodePlan, plan_positions
from inference_service.model.fused_lora import FusedLoRA
from inference_service.model.grouped_lora_kernel import grouped_lora_kernel
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


PARTS = (24, 8, 40)  # a q|k|v-like projection: three parts with different output sizes (40: a 16-lane tail)
IN = 16
MODES = ["bmm", "kernel-fp32", "kernel-bf16"]
_DTYPES = {"kernel-fp32": torch.float32, "kernel-bf16": torch.bfloat16}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    if request.param != "bmm" and grouped_lora_kernel() is None:
        pytest.skip("the grouped LoRA kernel does not build here (no compiler or no AVX-512)")
    return request.param


def fused_bank(mode: str = "bmm", num_slots: int = 8) -> tuple[BankBatch, list[LoRABankLinear], FusedLoRA]:
    torch.manual_seed(0)
    batch = BankBatch()
    layers = [LoRABankLinear(nn.Linear(IN, out, bias=False), num_slots=num_slots, max_rank=16, batch=batch,
                             dtype=torch.float32, device="cpu") for out in PARTS]
    kernel = None if mode == "bmm" else grouped_lora_kernel()
    return batch, layers, FusedLoRA(layers, batch, kernel=kernel, operand_dtype=_DTYPES.get(mode))


def load(layers: list[LoRABankLinear], slot: int, ranks: tuple[int, ...], seed: int,
         dtype: torch.dtype = torch.float32) -> None:
    g = torch.Generator().manual_seed(seed)
    for layer, r in zip(layers, ranks):
        if r:
            layer.set_slot(slot, torch.randn(r, IN, generator=g).to(dtype),
                           torch.randn(layer.out_features, r, generator=g).to(dtype), 0.3 + seed % 3)
        else:
            layer.clear_slot(slot)


def reference(layers: list[LoRABankLinear], x: torch.Tensor, slots: list[int], mode: str = "bmm") -> torch.Tensor:
    """Row by row, part by part: scale · (x Aᵀ) Bᵀ from the bank's own storage (with bf16 operands: ``A`` and
    ``B`` rounded to bf16, as the resident operands hold them)."""
    def held(t: torch.Tensor) -> torch.Tensor:
        return t.bfloat16().float() if mode == "kernel-bf16" else t

    out = []
    for row, slot in enumerate(slots):
        parts = []
        for layer in layers:
            delta = torch.zeros(layer.out_features)
            r = layer.slot_rank[slot] if slot else 0
            if r:
                assert layer.A is not None and layer.B is not None
                delta = (x[row] @ held(layer.A[slot, :r]).T) @ (layer.scale[slot] * held(layer.B[slot, :, :r])).T
            parts.append(delta)
        out.append(torch.cat(parts))
    return torch.stack(out)


def test_decode_matches_the_reference_through_churn_rewrites_and_rank_growth(monkeypatch: pytest.MonkeyPatch,
                                                                             mode: str) -> None:
    batch, layers, fused = fused_bank(mode)
    for slot in range(1, 7):
        load(layers, slot, (8, 8, 0) if slot == 3 else (8, 8, 8), seed=slot)  # slot 3 leaves the third part alone
    writes: list[tuple[int, int]] = []
    original = FusedLoRA._write

    def spy(self: FusedLoRA, pos: int, slot: int) -> None:
        writes.append((pos, slot))
        original(self, pos, slot)

    monkeypatch.setattr(FusedLoRA, "_write", spy)
    steps: list[tuple[list[int], int, int]] = [
        ([1, 2, 3, 1], 3, 3),          # first plan: each adapter copied once
        ([1, 2, 3, 1], 0, 0),          # same batch: nothing copied
        ([1, 2, 4, 0], 1, 1),          # 3 left, 4 took its place
        ([1, 2, 4, 5, 6], 2, 2),       # two newcomers at the end
        ([2, 4, 5, 6], 1, 0),          # 1 left: bmm moves the last adapter into its place; the kernel moves none
        ([2, 1, 5, 6], 1, 0),          # 1 is back: the kernel's positions still hold it
    ]
    for slots, bmm_copies, kernel_copies in steps:
        copies = bmm_copies if mode == "bmm" else kernel_copies
        writes.clear()
        x = torch.randn(len(slots), IN)
        y = torch.randn(len(slots), sum(PARTS))
        got = fused.decode(x, y.clone(), tuple(slots))
        torch.testing.assert_close(got, y + reference(layers, x, slots, mode), rtol=1e-5, atol=1e-5)
        assert len(writes) == copies, (slots, writes)
    load(layers, 5, (4, 8, 2), seed=42)  # a slot rewritten in place (evicted and reloaded): copied again
    writes.clear()
    slots = [2, 1, 5, 6]
    x = torch.randn(len(slots), IN)
    torch.testing.assert_close(fused.decode(x, torch.zeros(4, sum(PARTS)), tuple(slots)),
                               reference(layers, x, slots, mode), rtol=1e-5, atol=1e-5)
    assert [s for _, s in writes] == [5]
    load(layers, 6, (16, 8, 8), seed=7)  # rank capacity grows: the layout changes, everything is copied again
    x = torch.randn(len(slots), IN)
    torch.testing.assert_close(fused.decode(x, torch.zeros(4, sum(PARTS)), tuple(slots)),
                               reference(layers, x, slots, mode), rtol=1e-5, atol=1e-5)


def test_one_adapter_batches_and_untargeted_projections(mode: str) -> None:
    batch, layers, fused = fused_bank(mode)
    load(layers, 1, (4, 4, 4), seed=1)
    x = torch.randn(3, IN)
    torch.testing.assert_close(fused.decode(x, torch.zeros(3, sum(PARTS)), (1, 1, 1)),
                               reference(layers, x, [1, 1, 1], mode), rtol=1e-5, atol=1e-5)
    # one adapter beside rows on the base: the adapter's rows get the delta they get alone, bit for bit (torch:
    # the same addmm pair on the rows; the kernel: each row's sums in its own order)
    alone = fused.decode(x[:1], torch.zeros(1, sum(PARTS)), (1,))
    mixed = fused.decode(torch.cat([x[1:], x[:1]]), torch.zeros(3, sum(PARTS)), (0, 0, 1))
    assert torch.equal(mixed[2], alone[0]) and not mixed[:2].any()
    y = torch.randn(3, sum(PARTS))
    assert fused.decode(x, y, (2, 2, 0)) is y  # slot 2 holds nothing for this projection
    load(layers, 1, (4, 4, 4), seed=9)  # rewritten: the one-adapter path does not reuse the old operands
    torch.testing.assert_close(fused.decode(x, torch.zeros(3, sum(PARTS)), (1, 1, 1)),
                               reference(layers, x, [1, 1, 1], mode), rtol=1e-5, atol=1e-5)


def test_resident_operands_grow_by_doubling_but_never_past_the_slot_count(mode: str) -> None:
    batch, layers, fused = fused_bank(mode, num_slots=6)
    for slot in range(1, 7):
        load(layers, slot, (4, 4, 4), seed=slot)
    for slots in ([1, 2], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]):
        x = torch.randn(len(slots), IN)
        torch.testing.assert_close(fused.decode(x, torch.zeros(len(slots), sum(PARTS)), tuple(slots)),
                                   reference(layers, x, slots, mode), rtol=1e-5, atol=1e-5)
    assert fused._a_t is not None and fused._a_t.shape[0] == 6  # 4, then min(8, 6): not 8


@settings(max_examples=60, deadline=None)
@given(slots=st.lists(st.integers(0, 7), min_size=1, max_size=20), seed=st.integers(0, 2**16))
def test_kernel_rows_get_their_own_adapter_in_any_batch(slots: list[int], seed: int) -> None:
    """Any slot vector (repeats, base rows, adapters that skip a part, ranks that are not a multiple of 16):
    the kernel with fp32 operands gives the reference delta; with bf16 operands, the delta of the rounded
    operands, which is within 2^-7 of the fp32 delta's largest entry."""
    kernel = grouped_lora_kernel()
    if kernel is None:
        pytest.skip("the grouped LoRA kernel does not build here")
    for mode in ("kernel-fp32", "kernel-bf16"):
        batch, layers, fused = fused_bank(mode)
        for slot in range(1, 8):
            load(layers, slot, ((slot * 5) % 17, 16 - slot, 0 if slot == 4 else slot + 1), seed=seed + slot)
        x = torch.randn(len(slots), IN, generator=torch.Generator().manual_seed(seed))
        got = fused.decode(x, torch.zeros(len(slots), sum(PARTS)), tuple(slots))
        want = reference(layers, x, slots, mode)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * max(1.0, want.abs().max().item()))
        exact = reference(layers, x, slots)
        assert (got - exact).abs().max() <= 2 ** -7 * exact.abs().max() + 1e-6


def test_bf16_kernel_is_exact_on_bf16_adapters_so_a_row_does_not_depend_on_its_batch() -> None:
    """The runtime reads adapters as bf16 when the kernel's operands are bf16 (``Runtime.adapter_dtype``), so
    the resident bf16 copy loses nothing: a row's delta beside other adapters equals its delta alone (the
    exact one-adapter path), to fp32 rounding, with a scale that is not a power of two (``0.3 + seed % 3``)."""
    if grouped_lora_kernel() is None:
        pytest.skip("the grouped LoRA kernel does not build here")
    batch, layers, fused = fused_bank("kernel-bf16")
    for slot in range(1, 6):
        load(layers, slot, (8, 4, 16), seed=slot, dtype=torch.bfloat16)
    x = torch.randn(5, IN)
    mixed = fused.decode(x, torch.zeros(5, sum(PARTS)), (1, 2, 3, 4, 5))
    for row in range(5):
        alone = fused.decode(x[row:row + 1], torch.zeros(1, sum(PARTS)), (row + 1,))
        torch.testing.assert_close(mixed[row], alone[0], rtol=1e-5, atol=1e-5 * alone.abs().max().item())


def test_kernel_positions_let_the_least_recently_used_slot_go_and_grow_only_when_a_call_needs_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With the kernel, positions are a cache of slots: a full cache gives up the slot used longest ago (not one
    of the call's), and grows only when the call's own slots do not fit; each row still gets its own delta."""
    if grouped_lora_kernel() is None:
        pytest.skip("the grouped LoRA kernel does not build here")
    batch, layers, fused = fused_bank("kernel-fp32", num_slots=8)
    for slot in range(1, 9):
        load(layers, slot, (4, 8, 4), seed=slot)
    writes: list[int] = []
    original = FusedLoRA._write
    monkeypatch.setattr(FusedLoRA, "_write", lambda self, pos, slot: (writes.append(slot), original(self, pos, slot)))

    def step(slots: list[int]) -> list[int]:
        writes.clear()
        x = torch.randn(len(slots), IN)
        torch.testing.assert_close(fused.decode(x, torch.zeros(len(slots), sum(PARTS)), tuple(slots)),
                                   reference(layers, x, slots), rtol=1e-5, atol=1e-5)
        return sorted(writes)

    assert step([1, 2]) == [1, 2]
    assert step([3, 4]) == [3, 4]               # 4 positions: 3 and 4 take the empty ones
    assert step([1, 5]) == [5]                  # 1 is still held; 5 replaces 2, the least recently used
    assert step([2, 3]) == [2]                  # 3 held; 2 replaces 4 (used at the second call)
    assert fused._a_t is not None and fused._a_t.shape[0] == 4
    assert step([1, 2, 3, 5, 6]) == [6]         # five slots at once: the cache grows (doubling)
    assert fused._a_t.shape[0] == 8
    assert fused._index[[1, 2, 3, 5, 6]].tolist() == [fused._where[s] for s in (1, 2, 3, 5, 6)]
    assert (fused._index[[4, 7, 8]] == -1).all()


@pytest.mark.parametrize("mode", ["bmm", "kernel-fp32", "kernel-bf16"])
def test_prefill_segments_get_their_adapters_delta(mode: str) -> None:
    """A prefill's token ranges, several adapters and base tokens between them: each token gets its own adapter's
    delta. With the kernel on fp32 operands they go through it, and a token's delta is the one a decode step
    computes for the same input, bit for bit (bf16 operands: of the rounded adapters, as the runtime reads them
    then); without it through ``addmm`` on the bank's exact operands."""
    if mode != "bmm" and grouped_lora_kernel() is None:
        pytest.skip("the grouped LoRA kernel does not build here")
    batch, layers, fused = fused_bank(mode)
    for slot in (2, 3, 5):
        load(layers, slot, (8, 0, 16) if slot == 3 else (8, 8, 8), seed=slot)
    segments = [(2, 0, 5), (3, 7, 9), (5, 9, 20)]  # tokens 5 and 6 on the base
    slots = [0] * 20
    for slot, start, end in segments:
        slots[start:end] = [slot] * (end - start)
    x = torch.randn(20, IN)
    y = torch.randn(20, sum(PARTS))
    got = fused.segments(x, y.clone(), segments)
    torch.testing.assert_close(got, y + reference(layers, x, slots, mode), rtol=1e-5, atol=1e-5)
    if mode != "bmm":
        for row in (0, 8, 19):
            alone = fused.decode(x[row:row + 1], y[row:row + 1].clone(), (slots[row],))
            assert torch.equal(got[row], alone[0]), row

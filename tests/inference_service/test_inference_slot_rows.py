"""Rows grouped by slot for the grouped LoRA kernel: every row on an adapter once, in its slot's range."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inference_service.model.lora_bank import BankBatch
from inference_service.model.slot_rows import SlotRows


def _ranges(rows: SlotRows) -> dict[int, list[int]]:
    off, got = rows.offsets.tolist(), rows.rows.tolist()
    return {s: got[off[s]:off[s + 1]] for s in range(len(off) - 1)}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 9), max_size=40))
def test_each_row_on_an_adapter_sits_once_in_its_slots_range(slots: list[int]) -> None:
    rows = SlotRows.of_rows(tuple(slots), torch.device("cpu"))
    ranges = _ranges(rows)
    assert ranges.get(0, []) == []  # the base's rows get no delta
    for s in set(slots) - {0}:
        assert ranges[s] == [i for i, x in enumerate(slots) if x == s]
    assert sorted(rows.rows.tolist()) == [i for i, x in enumerate(slots) if x]
    assert rows.slots == tuple(sorted(set(slots) - {0}))
    assert rows.all_rows == (0 not in slots)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(1, 5)), max_size=8))
def test_prefill_segments_give_the_rows_their_decode_slot_vector_would(pieces: list[tuple[int, int]]) -> None:
    segments, slots, at = [], [], 0
    for slot, n in pieces:
        segments.append((slot, at, at + n))
        slots += [slot] * n
        at += n
    by_segments = SlotRows.of_segments(segments, at, torch.device("cpu"))
    by_rows = SlotRows.of_rows(tuple(slots), torch.device("cpu"))
    assert _ranges(by_segments) == _ranges(by_rows) and by_segments.all_rows == by_rows.all_rows


def test_the_bank_batch_shares_one_grouping_per_slot_vector() -> None:
    batch = BankBatch()
    first = batch.slot_rows((1, 2, 1), torch.device("cpu"))
    assert batch.slot_rows((1, 2, 1), torch.device("cpu")) is first  # every projection of a step: built once
    prefill = batch.segment_rows([(3, 0, 4)], 4, torch.device("cpu"))
    assert batch.segment_rows([(3, 0, 4)], 4, torch.device("cpu")) is prefill
    assert batch.slot_rows((1, 2, 1), torch.device("cpu")) is first  # the decode batch survives a prefill

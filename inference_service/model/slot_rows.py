"""A batch's rows grouped by adapter slot, the layout the grouped LoRA kernel reads (``grouped_lora_kernel.py``).

The kernel computes each row's delta from its own adapter's operands; it needs the rows of each adapter
together. Grouping by slot number (not by a position in a stacked operand tensor, as torch's ``bmm`` pair
needs: ``decode_plan.py``) means the grouping depends on the slot vector alone, so every fused projection
of the model shares one ``SlotRows`` per decode step or prefill call, and where each projection keeps an
adapter's operands (``fused_lora.FusedLoRA``) is its own affair: it passes the kernel a slot → position
index instead of moving operands around when the batch churns.

Rows on slot 0 (the base model) get no delta and are left out.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

_ids = itertools.count(1)


@dataclass(frozen=True)
class SlotRows:
    """``rows[offsets[s]:offsets[s+1]]`` are the rows on slot ``s`` (ascending), for ``s`` in ``0..max slot``."""

    id: int
    slots: tuple[int, ...]   # the distinct non-zero slots, ascending
    rows: torch.Tensor       # int64, the rows on an adapter, slot by slot
    offsets: torch.Tensor    # int64 [max slot + 2]
    all_rows: bool           # every row of the batch is on an adapter

    @classmethod
    def of_rows(cls, slots: tuple[int, ...], device: torch.device) -> SlotRows:
        """From a decode batch's slot vector, one slot per row."""
        by_slot: dict[int, list[int]] = {}
        for row, slot in enumerate(slots):
            if slot:
                by_slot.setdefault(slot, []).append(row)
        return cls._build(by_slot, len(slots), device)

    @classmethod
    def of_segments(cls, segments: list[tuple[int, int, int]], rows: int, device: torch.device) -> SlotRows:
        """From a prefill's ``(slot, start, end)`` token ranges (a slot may have several) over ``rows`` tokens."""
        by_slot: dict[int, list[int]] = {}
        for slot, start, end in segments:
            if slot:
                by_slot.setdefault(slot, []).extend(range(start, end))
        return cls._build(by_slot, rows, device)

    @classmethod
    def _build(cls, by_slot: dict[int, list[int]], total: int, device: torch.device) -> SlotRows:
        slots = tuple(sorted(by_slot))
        rows: list[int] = []
        offsets = [0] * ((slots[-1] if slots else 0) + 2)
        for s in slots:
            rows.extend(sorted(by_slot[s]))
            offsets[s + 1] = len(rows)
        for s in range(1, len(offsets)):  # slots without rows: empty ranges
            offsets[s] = max(offsets[s], offsets[s - 1])
        return cls(id=next(_ids), slots=slots, rows=torch.tensor(rows, dtype=torch.long, device=device),
                   offsets=torch.tensor(offsets, dtype=torch.long, device=device), all_rows=len(rows) == total)

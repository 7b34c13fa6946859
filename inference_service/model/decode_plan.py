"""Where each adapter of a decode batch sits in the stacked LoRA operands, kept stable as the batch churns.

A decode batch mixing ``U`` adapters multiplies ``[U, G, in] @ [U, in, R] @ [U, R, out]``
(``lora_bank._Grouped``): the operands of its ``U`` adapters must be stacked in one tensor. Built
afresh for every new slot vector, that stack is a copy of all ``U`` adapters' weights (about 29 MB
each for an r=16 adapter on every linear layer of SmolLM2-135M, fp32) — and with many adapters
and continuous batching the slot vector changes at almost every step (a request ends, another
joins). ``benchmarks/many_adapters.py`` measured 256 adapters under Zipf traffic at 0.46 times the
one-adapter throughput that way.

So each adapter keeps its position while it stays in the batch: ``plan_positions`` moves the
previous order to the new set of slots with as few changes as it can — a newcomer takes the place
of one that left, and when fewer come than left, the last positions fill the holes — so the stack
stays exactly ``U`` long and each step copies only the adapters that joined or moved (usually one
or none), never the ones that stayed. ``DecodePlan`` is the grid of rows per position, shared by
every fused projection of the model (computed once per slot vector, not once per layer).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

_ids = itertools.count(1)


def plan_positions(previous: tuple[int, ...], slots: tuple[int, ...]) -> tuple[int, ...]:
    """The distinct non-zero ``slots`` in positions ``0..U-1``, keeping each one that was in
    ``previous`` where it was when it can: newcomers fill the places of those that left (lowest
    first), then go at the end; if holes remain, the last adapters move into them."""
    wanted = list(dict.fromkeys(s for s in slots if s))
    present = set(wanted)
    order: list[int | None] = [s if s in present else None for s in previous]
    kept = {s for s in order if s is not None}
    for s in (s for s in wanted if s not in kept):
        hole = next((i for i, x in enumerate(order) if x is None), None)
        if hole is None:
            order.append(s)
        else:
            order[hole] = s
    while order and order[-1] is None:
        order.pop()
    while None in order:
        order[order.index(None)] = order.pop()
        while order and order[-1] is None:
            order.pop()
    return tuple(s for s in order if s is not None)


@dataclass(frozen=True)
class DecodePlan:
    """Rows of one decode slot vector grouped by position: a ``[U, G]`` grid of row indices."""

    id: int
    order: tuple[int, ...]            # the slot at each position
    slots: tuple[int, ...]            # the slot vector it was built for, one slot per row
    grid: torch.Tensor | None         # [U*G] row per cell; None: rows already in grid order
    valid_cells: torch.Tensor | None  # cells holding a real row (None: all)
    valid_rows: torch.Tensor          # their rows, position by position
    offsets: torch.Tensor             # [U+1]: position u's rows are valid_rows[offsets[u]:offsets[u+1]]
    group_size: int

    @property
    def groups(self) -> int:
        return len(self.order)

    @classmethod
    def build(cls, previous: tuple[int, ...], slots: tuple[int, ...], device: torch.device) -> DecodePlan:
        order = plan_positions(previous, slots)
        rows: dict[int, list[int]] = {s: [] for s in order}
        for row, slot in enumerate(slots):
            if slot:
                rows[slot].append(row)
        g = max((len(r) for r in rows.values()), default=0)
        grid, cells, cell_rows = [], [], []
        for u, s in enumerate(order):
            for j in range(g):
                real = j < len(rows[s])
                grid.append(rows[s][j] if real else 0)
                if real:
                    cells.append(u * g + j)
                    cell_rows.append(rows[s][j])
        identity = grid == list(range(len(slots)))
        offsets = [0]
        for s in order:
            offsets.append(offsets[-1] + len(rows[s]))

        def index(values: list[int]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.long, device=device)

        return cls(id=next(_ids), order=order, slots=slots, grid=None if identity else index(grid),
                   valid_cells=None if len(cells) == len(grid) else index(cells), valid_rows=index(cell_rows),
                   offsets=index(offsets), group_size=g)

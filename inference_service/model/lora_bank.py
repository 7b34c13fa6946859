"""The LoRA bank: one linear layer serving many adapters to different rows of one batch.

For a batch whose row ``i`` uses adapter slot ``s_i`` a bank layer computes

    y_i = base(x_i) + scale[s_i] · (x_i · A[s_i]ᵀ) · B[s_i]ᵀ

with ``A`` stacked as ``[S, r_cap, in]``, ``B`` as ``[S, out, r_cap]`` and ``scale[s] = alpha/r``
(``alpha/sqrt(r)`` with rsLoRA). Slot 0 is "no adapter" and holds zeros. Adapters of rank
``r < r_cap`` are zero-padded: padded rows of ``A`` / columns of ``B`` contribute exactly 0, so
the result equals the unpadded product.

Why grouped ``bmm`` and why cached: rows are grouped by adapter into a ``[U, G]`` grid (``U``
distinct adapters in the batch, ``G`` rows of the largest group) and computed with two batched
matmuls ``[U, G·T, in] @ [U, in, r] @ [U, r, out]`` — no Python loop per adapter, unlike PEFT's
``adapter_names`` sub-batches, and each distinct adapter's weights are read once per step (a
batch of 16 rows on one adapter is one plain matmul). The slot vector only changes when the
batch composition changes (a sequence joins or leaves), so the grid and the gathered,
scale-folded, rank-trimmed operands are cached per ``BankBatch.version`` and reused for every
decode step in between. The LoRA cost per token is the ``2·r·(in+out)`` FLOPs of the math
above (plus padding cells when group sizes differ); the memory read per step is ``U·r·(in+out)``.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch import nn

from inference_service.model.decode_plan import DecodePlan
from inference_service.model.slot_rows import SlotRows

_versions = itertools.count(1)


@dataclass
class BankBatch:
    """Per-row slot indices shared by every bank layer of one model.

    The engine sets ``slots`` before a forward pass (``None`` = base model only for all rows);
    ``version`` identifies the slot vector; layers cache their gathered operands per version
    and drop them themselves when one of their slots is rewritten.
    """

    slots: torch.Tensor | None = None
    version: int = 0
    writes: int = 0  # bumped by every slot write of any layer
    slot_writes: Counter[int] = field(default_factory=Counter)  # per slot: stamps of fused operand copies
    _key: tuple[int, ...] | None = field(default=None, repr=False)
    _known: dict[tuple[int, ...], int] = field(default_factory=dict, repr=False)
    _plan: DecodePlan | None = field(default=None, repr=False)
    _rows: dict[tuple, SlotRows] = field(default_factory=dict, repr=False)

    def decode_plan(self, slots: tuple[int, ...], device: torch.device) -> DecodePlan:
        """The grid of a decode slot vector, positions carried over from the previous one (``decode_plan``)."""
        if self._plan is None or self._plan.slots != slots:
            self._plan = DecodePlan.build(self._plan.order if self._plan else (), slots, device)
        return self._plan

    def slot_rows(self, slots: tuple[int, ...], device: torch.device) -> SlotRows:
        """A decode slot vector's rows grouped by slot (``slot_rows.py``), shared by every projection."""
        return self._cached_rows(("decode", slots), lambda: SlotRows.of_rows(slots, device))

    def segment_rows(self, segments: list[tuple[int, int, int]], rows: int, device: torch.device) -> SlotRows:
        """A prefill's token ranges grouped by slot, shared by every projection of the call."""
        return self._cached_rows(("prefill", rows, tuple(segments)),
                                 lambda: SlotRows.of_segments(segments, rows, device))

    def _cached_rows(self, key: tuple, build) -> SlotRows:
        got = self._rows.get(key)
        if got is None:
            if len(self._rows) >= 4:  # the decode batch and a prefill alternate; a few spare
                self._rows.pop(next(iter(self._rows)))
            got = self._rows[key] = build()
        return got

    def wrote(self, slot: int) -> None:
        self.writes += 1
        self.slot_writes[slot] += 1

    def set_slots(self, slots: list[int], device: torch.device | str) -> None:
        key = tuple(slots)
        if key == self._key and self.slots is not None:
            return
        self._key = key
        self.slots = torch.tensor(slots, dtype=torch.long, device=device)
        # a slot vector seen recently keeps its version, so layers reuse its cached operands
        # (the decode batch and a newcomer's prefill group alternate)
        if key not in self._known:
            if len(self._known) >= 8:
                self._known.clear()
            self._known[key] = next(_versions)
        self.version = self._known[key]

    def clear(self) -> None:
        if self.slots is None:
            return
        self.slots, self._key = None, None
        self.version = 0


class LoRABankLinear(nn.Module):
    """Wraps a base linear (``nn.Linear``, bitsandbytes ``Linear4bit`` / ``Linear8bitLt``).

    Storage is allocated lazily (a layer no adapter targets costs nothing) and the rank capacity
    grows to the largest rank loaded so far, up to ``max_rank``.
    """

    def __init__(self, base: nn.Module, *, num_slots: int, max_rank: int, batch: BankBatch,
                 dtype: torch.dtype, device: torch.device | str) -> None:
        super().__init__()
        self.base = base
        self.in_features = int(base.in_features)
        self.out_features = int(base.out_features)
        self.num_slots = num_slots  # usable slots 1..num_slots; index 0 is "no adapter"
        self.max_rank = max_rank
        self.batch = batch
        self.dtype, self.device = dtype, torch.device(device)
        self.A: torch.Tensor | None = None  # [S+1, r_cap, in]
        self.B: torch.Tensor | None = None  # [S+1, out, r_cap]
        self.scale = torch.zeros(num_slots + 1, dtype=dtype, device=self.device)
        self.slot_rank = [0] * (num_slots + 1)
        self._gathered: dict[int, tuple[torch.Tensor, torch.Tensor] | None] = {}

    # -- slot management (engine worker thread only, never during a forward) ----------------
    @property
    def rank_capacity(self) -> int:
        return 0 if self.A is None else self.A.shape[1]

    def _ensure_capacity(self, r: int) -> None:
        if r <= self.rank_capacity:
            return
        new_cap = min(self.max_rank, max(r, 2 * self.rank_capacity, 8))
        A = torch.zeros(self.num_slots + 1, new_cap, self.in_features, dtype=self.dtype, device=self.device)
        B = torch.zeros(self.num_slots + 1, self.out_features, new_cap, dtype=self.dtype, device=self.device)
        if self.A is not None:
            cap = self.rank_capacity
            A[:, :cap].copy_(self.A)
            B[:, :, :cap].copy_(self.B)
        self.A, self.B = A, B

    def set_slot(self, slot: int, a: torch.Tensor, b: torch.Tensor, scale: float) -> None:
        """Copy one adapter's ``lora_A [r, in]`` / ``lora_B [out, r]`` into ``slot``."""
        if not 1 <= slot <= self.num_slots:
            raise ValueError(f"slot {slot} outside 1..{self.num_slots}")
        r = a.shape[0]
        if a.shape != (r, self.in_features) or b.shape != (self.out_features, r):
            raise ValueError(f"lora_A {tuple(a.shape)} / lora_B {tuple(b.shape)} do not fit "
                             f"[r, {self.in_features}] / [{self.out_features}, r]")
        if r > self.max_rank:
            raise ValueError(f"rank {r} exceeds the bank's max rank {self.max_rank}")
        self._ensure_capacity(r)
        assert self.A is not None and self.B is not None
        if r < self.rank_capacity:  # only the padding needs zeros; the copies below write the rest
            self.A[slot, r:].zero_()
            self.B[slot, :, r:].zero_()
        self.A[slot, :r].copy_(a, non_blocking=True)
        self.B[slot, :, :r].copy_(b, non_blocking=True)
        self.scale[slot] = scale
        self.slot_rank[slot] = r
        self._gathered.clear()
        self.batch.wrote(slot)

    def clear_slot(self, slot: int) -> None:
        if self.slot_rank[slot] == 0:
            return
        assert self.A is not None and self.B is not None
        self.A[slot].zero_()
        self.B[slot].zero_()
        self.scale[slot] = 0.0
        self.slot_rank[slot] = 0
        self._gathered.clear()
        self.batch.wrote(slot)

    # -- forward -----------------------------------------------------------------------------
    def _operands(self) -> _Grouped | None:
        """Operands for the current slot vector, cached per ``BankBatch.version``."""
        batch = self.batch
        if batch.slots is None or self.A is None:
            return None
        if batch.version in self._gathered:
            return self._gathered[batch.version]
        ops = _Grouped.build(batch._key or (), [self])
        if len(self._gathered) >= 3:  # the decode batch, a prefill group, one spare
            self._gathered.pop(next(iter(self._gathered)))
        self._gathered[batch.version] = ops
        return ops

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        ops = self._operands()
        if ops is None:
            return y
        if x.shape[0] != ops.num_rows:
            raise RuntimeError(f"bank slot vector has {ops.num_rows} rows but the input has {x.shape[0]}")
        return ops.apply(x, y)

    def extra_repr(self) -> str:
        return (f"in={self.in_features}, out={self.out_features}, slots={self.num_slots}, "
                f"rank_capacity={self.rank_capacity}")


@dataclass
class _Grouped:
    """Rows grouped by adapter: a ``[U, G]`` grid of row indices for ``U`` distinct slots.

    Each distinct adapter's weights are read once per step (no per-row copies), and rows of one
    adapter share one matmul: ``delta[U, G·T, out] = (x_grid[U, G·T, in] @ Aᵀ[U, in, r]) @ (s·B)ᵀ[U, r, out]``.
    Rows whose slot carries nothing in this layer (slot 0, or an adapter not targeting it) are
    left out; grid cells beyond a group's size are padding whose results are dropped.
    """

    num_rows: int
    a_t: torch.Tensor            # [U, in, r]
    b_t: torch.Tensor            # [U, r, out]
    grid: torch.Tensor | None    # [U*G] row index per cell; None: rows already in grid order
    valid_cells: torch.Tensor | None  # cells holding a real row (None: all)
    valid_rows: torch.Tensor          # their row indices
    groups: int
    group_size: int

    @classmethod
    def build(cls, slots: tuple[int, ...], layers: list[LoRABankLinear]) -> _Grouped | None:
        """Operands for ``layers`` sharing one input (one layer, or the parts of a fused q|k|v / gate|up).

        Parts are stacked along the rank: ``A`` rows concatenated, ``B`` block-diagonal (each part's
        rank columns feed only its own output columns; the zero blocks add exact zeros).
        """
        rows_by_slot: dict[int, list[int]] = {}
        for row, slot in enumerate(slots):
            if slot and any(layer.slot_rank[slot] for layer in layers):
                rows_by_slot.setdefault(slot, []).append(row)
        if not rows_by_slot:
            return None
        uslots = list(rows_by_slot)
        g = max(len(r) for r in rows_by_slot.values())
        a_t, b_t = _stacked_operands(layers, uslots)
        device = a_t.device
        cells, cell_rows = [], []
        grid = []
        for u, s in enumerate(uslots):
            rows = rows_by_slot[s]
            for j in range(g):
                grid.append(rows[j] if j < len(rows) else 0)
                if j < len(rows):
                    cells.append(u * g + j)
                    cell_rows.append(rows[j])
        identity = grid == list(range(len(slots)))
        all_valid = len(cells) == len(grid)
        return cls(num_rows=len(slots), a_t=a_t, b_t=b_t,
                   grid=None if identity else torch.tensor(grid, dtype=torch.long, device=device),
                   valid_cells=None if all_valid else torch.tensor(cells, dtype=torch.long, device=device),
                   valid_rows=torch.tensor(cell_rows, dtype=torch.long, device=device), groups=len(uslots),
                   group_size=g)

    def apply(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n, feat = x.shape[0], x.shape[-1]
        x3 = x.reshape(n, -1, feat).to(self.a_t.dtype)
        t = x3.shape[1]
        xg = x3 if self.grid is None else x3.index_select(0, self.grid)
        xg = xg.reshape(self.groups, self.group_size * t, feat)
        h = torch.bmm(xg, self.a_t)                                      # [U, G*T, r]
        if self.grid is None and self.valid_cells is None and y.dtype == h.dtype:
            # rows are already in grid order: fuse the add into the expand matmul
            yg = y.reshape(self.groups, self.group_size * t, -1)
            return torch.baddbmm(yg, h, self.b_t).reshape(y.shape)
        delta = torch.bmm(h, self.b_t).reshape(self.groups * self.group_size, t, -1)
        if self.valid_cells is not None:
            delta = delta.index_select(0, self.valid_cells)
        y3 = y.reshape(n, t, -1)
        if self.grid is None and self.valid_cells is None:
            return (y3 + delta.to(y.dtype)).reshape(y.shape)
        return y3.index_add(0, self.valid_rows, delta.to(y.dtype)).reshape(y.shape)


def _stacked_operands(layers: list[LoRABankLinear], uslots: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Aᵀ [U, in, R], (s·B)ᵀ [U, R, out_total])`` for slots ``uslots``, ``R`` the parts' summed ranks."""
    ranks = [max(layer.slot_rank[s] for s in uslots) for layer in layers]
    live = [(layer, r) for layer, r in zip(layers, ranks) if r]
    ref = live[0][0]
    index = torch.tensor(uslots, dtype=torch.long, device=ref.A.device)
    a = torch.cat([layer.A.index_select(0, index)[:, :r, :] for layer, r in live], dim=1)
    out_total = sum(layer.out_features for layer in layers)
    b = torch.zeros(len(uslots), out_total, a.shape[1], dtype=ref.B.dtype, device=ref.B.device)
    o0 = r0 = 0
    for layer, r in zip(layers, ranks):
        if r:
            part = layer.B.index_select(0, index)[:, :, :r] * layer.scale.index_select(0, index)[:, None, None]
            b[:, o0:o0 + layer.out_features, r0:r0 + r] = part
            r0 += r
        o0 += layer.out_features
    return a.transpose(1, 2).contiguous(), b.transpose(1, 2).contiguous()

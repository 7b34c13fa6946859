"""The LoRA bank's delta for one fused projection (q|k|v, o, gate|up, down) of the fast forward.

The per-module bank layers (``lora_bank.LoRABankLinear``) own the slots; this class reads them.

Decode with torch's ``bmm`` pair (no kernel: CUDA, or a CPU without AVX-512): the adapters of the batch are
stacked at the positions of the shared ``DecodePlan`` (``decode_plan.py``) in this projection's resident
operands: ``Aᵀ [U, in, R]`` with the parts stacked along the rank (one ``bmm`` for q, k and v together) and
each part's ``(s·B)ᵀ [U, r_p, out_p]`` on its own (a block-diagonal ``B`` would read and multiply zeros: a
third of an adapter's bytes on SmolLM2's q|k|v and gate|up). Each part is padded to its layer's rank capacity,
so every adapter has the same layout. A position is copied again only when another adapter takes it or its
slot was rewritten (``BankBatch.slot_writes``), so a batch never runs on an evicted or rewritten adapter, and
churn costs one adapter's copy per newcomer instead of all ``U``. Without the kernel, a batch whose rows are
all on one adapter (whether or not rows on the base share it) is one plain ``addmm`` pair on that adapter's
exact rank and operands.

On a CPU the products go through the grouped C++ kernel (``grouped_lora_kernel.py``) instead of torch's
``bmm`` pair, on int8, bf16 or fp32 operands (``lora_decode_operands``; by default int8 on a 4-bit base: a
quarter of fp32's bytes, and with many distinct adapters a step is bound by them; int8 operands carry a
scale per rank column, ``_col_scales``). The kernel reads each group of rows' operands at a position it
is told, so with it the operands are not laid out per plan: each projection keeps the operands of the slots
it served recently at positions of their own (least recently used ones give way; a slot is copied again
only when it was rewritten), rows are grouped by slot (``slot_rows.py``), and a batch that churns copies
only the adapters that no position holds, never one that merely moved in the batch.

Prefill: tokens are grouped per adapter into contiguous segments. With the kernel the segments go
through it too, all adapters in one call per projection, each token's delta computed exactly as
a decode step computes it; otherwise each segment gets an ``addmm`` pair per part on views of the bank
(``segments``). With 16 adapters of ~11 tokens each that was 21 small ops per adapter per layer: the
16-adapter prefill took 331 ms against the bare base's 197 ms, and takes 180 against 146 through the kernel
(``benchmarks/engine_phases.py``, ``engine_phases_before_f8f78fa.json`` / ``engine_phases_bf16.json``).
"""

from __future__ import annotations

from collections import OrderedDict
from types import ModuleType

import torch

from inference_service.model.decode_plan import DecodePlan
from inference_service.model.grouped_lora_kernel import grouped_lora_add_
from inference_service.model.lora_bank import BankBatch, LoRABankLinear, _stacked_operands
from inference_service.model.slot_rows import SlotRows

_PER_SLOT = 16  # exact-rank operands of the adapters of recent one-adapter decode batches


class FusedLoRA:
    """``kernel``: the grouped decode kernel (``grouped_lora_kernel.py``) or None for torch's ``bmm`` pair;
    ``operand_dtype``: the resident decode operands' dtype (default the bank's; bf16 needs the kernel)."""

    def __init__(self, layers: list[LoRABankLinear], batch: BankBatch, *, kernel: ModuleType | None = None,
                 operand_dtype: torch.dtype | None = None) -> None:
        self.layers, self.batch = layers, batch
        self.kernel, self.operand_dtype = kernel, operand_dtype
        self._outs = tuple(layer.out_features for layer in layers)
        self._per_slot: OrderedDict[int, tuple[int, tuple[torch.Tensor, torch.Tensor] | None]] = OrderedDict()
        self._a_t: torch.Tensor | None = None        # [capacity, in, R]: resident operands at their positions
        self._b_t: list[torch.Tensor | None] = []    # per part [capacity, r_p, out_p] (None: no part rank)
        self._scales: torch.Tensor | None = None     # [capacity, parts] with the kernel, which scales h (B unscaled)
        # with the kernel: [capacity, R], each rank column's a_j * b_j for int8 operands, [capacity, 0] (none) else
        self._col_scales: torch.Tensor | None = None
        self._caps: tuple[int, ...] = ()             # rank capacity of each part when laid out
        self._held: list[tuple[int, int]] = []       # bmm: (slot, its write stamp) copied at each plan position
        self._synced: tuple[int, int] = (0, -1)      # (plan or SlotRows id, batch.writes) the operands match
        self._live = False
        # with the kernel: which slot each position holds (slot, write stamp), when it was last used, and the
        # slot -> position index the kernel reads (-1: not held)
        self._at: list[tuple[int, int] | None] = []
        self._used: list[int] = []
        self._where: dict[int, int] = {}
        self._calls = 0
        self._index = torch.full((layers[0].num_slots + 1,), -1, dtype=torch.long, device=layers[0].device)

    # -- decode -------------------------------------------------------------------------------
    def _write(self, pos: int, slot: int) -> None:
        """Copy ``slot``'s parts into position ``pos``. With the kernel (the only path that keeps ``_scales``), one
        call of its own (``write_operands_``): every part's transposes, 16 entries gathered at a time, and the scales
        beside unscaled ``B`` (bf16 operands then hold bf16-exact adapters exactly). The ``bmm`` path copies each part
        with torch, ``B`` scaled (``benchmarks/many_adapters_profile.py`` times the copies)."""
        assert self._a_t is not None
        if self.kernel is not None:
            assert self._scales is not None and self._col_scales is not None
            none = self._a_t.new_empty(0, 0, 0)
            self.kernel.write_operands_(
                self._a_t, [none if b is None else b for b in self._b_t], self._scales, self._col_scales, pos,
                [none if layer.A is None else layer.A for layer in self.layers],
                [none if layer.B is None else layer.B for layer in self.layers],
                [layer.scale for layer in self.layers], slot, list(self._caps))
            return
        r0 = 0
        for layer, cap, b_t in zip(self.layers, self._caps, self._b_t):
            if cap:
                assert layer.A is not None and layer.B is not None and b_t is not None
                self._a_t[pos, :, r0:r0 + cap].copy_(layer.A[slot].t())
                b_t[pos].copy_(layer.B[slot].t() * layer.scale[slot])
                r0 += cap

    def _sync(self, plan: DecodePlan) -> bool:
        """Make the resident operands match ``plan``; False when no adapter of it targets this projection."""
        if self._synced == (plan.id, self.batch.writes):
            return self._live
        caps = tuple(layer.rank_capacity for layer in self.layers)
        self._live = any(layer.slot_rank[s] for s in plan.order for layer in self.layers)
        if self._live:
            if caps != self._caps or self._a_t is None or self._a_t.shape[0] < plan.groups:
                self._allocate(caps, plan.groups)
            for pos, slot in enumerate(plan.order):
                held = (slot, self.batch.slot_writes[slot])
                if pos >= len(self._held) or self._held[pos] != held:
                    self._write(pos, slot)
                    self._held[pos:pos + 1] = [held]
        self._synced = (plan.id, self.batch.writes)
        return self._live

    def _allocate(self, caps: tuple[int, ...], groups: int) -> None:
        """Room for at least ``groups`` positions (doubling, up to the slot count), keeping what is held when
        the layout stays."""
        ref = next(layer for layer in self.layers if layer.A is not None)
        # a batch holds at most num_slots distinct adapters: doubling never allocates past that
        capacity = max(groups, min(2 * (0 if self._a_t is None else self._a_t.shape[0]), ref.num_slots), 4)
        kw = {"dtype": self.operand_dtype or ref.dtype, "device": ref.device}
        a = torch.zeros(capacity, ref.in_features, sum(caps), **kw)
        b = [torch.zeros(capacity, cap, layer.out_features, **kw) if cap else None
             for layer, cap in zip(self.layers, caps)]
        if caps == self._caps and self._a_t is not None:
            a[:self._a_t.shape[0]].copy_(self._a_t)
            for new, old in zip(b, self._b_t):
                if new is not None and old is not None:
                    new[:old.shape[0]].copy_(old)
        else:
            self._held = []
        self._a_t, self._b_t, self._caps = a, b, caps

    def _grouped(self, plan: DecodePlan, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``delta[U, G, out_p] = (x_grid[U, G, in] @ Aᵀ[U, in, R])[..., part p] @ (s·B_p)ᵀ[U, r_p, out_p]``
        for each part, scattered back to the rows (grid cells beyond a group's size are dropped)."""
        assert self._a_t is not None
        u, g = plan.groups, plan.group_size
        xg = x if plan.grid is None else x.index_select(0, plan.grid)
        h = torch.bmm(xg.to(self._a_t.dtype).view(u, g, -1), self._a_t[:u])  # [U, G, R]
        parts, r0 = [], 0
        for layer, cap, b_t in zip(self.layers, self._caps, self._b_t):
            if cap and b_t is not None:
                parts.append(torch.bmm(h[:, :, r0:r0 + cap], b_t[:u]))
                r0 += cap
            else:
                parts.append(h.new_zeros(u, g, layer.out_features))
        delta = (parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)).view(u * g, -1)
        if plan.valid_cells is not None:
            delta = delta.index_select(0, plan.valid_cells)
        if plan.grid is None and plan.valid_cells is None:
            return y + delta.to(y.dtype)
        return y.index_add(0, plan.valid_rows, delta.to(y.dtype))

    def decode(self, x: torch.Tensor, y: torch.Tensor, slots: tuple[int, ...]) -> torch.Tensor:
        """``y [B, out] + delta`` for ``x [B, in]``, row ``i`` on adapter slot ``slots[i]``.

        With the kernel, every batch goes through it, rows grouped by slot, including a batch on one adapter
        (one stream, or a batch of one tenant, with or without rows on the base): one call per projection where
        the ``addmm`` pair took two plus their dispatch (one stream with an adapter 112 -> 134 tokens/s,
        ``benchmarks/engine_speed.py``), and a row's delta does not depend on the rows beside it (the kernel
        computes each row's sums in its own order). Its bf16 operands hold the adapters exactly, because the
        runtime then reads adapters as bf16 (``Runtime.adapter_dtype``). Without the kernel, one adapter is a
        plain ``addmm`` pair on its exact operands (``bmm`` costs a few microseconds more per call), so the
        adapter's answers do not depend on whether base rows share its batch either way.
        """
        if self.kernel is not None:
            return self._by_kernel(x, y, self.batch.slot_rows(slots, x.device))
        plan = self.batch.decode_plan(slots, x.device)
        if plan.groups == 1:  # one adapter, perhaps beside base rows: exact fp32 operands
            every = plan.grid is None and plan.valid_cells is None
            return self._one_exact(plan.order[0], x, y, None if every else plan.valid_rows)
        if not plan.groups or not self._sync(plan):
            return y
        return self._grouped(plan, x, y)

    def _one_exact(self, slot: int, x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        """One adapter's delta on its exact fp32 operands: every row (``rows`` None) or ``rows`` only."""
        ops = self.slot_operands(slot)
        if ops is None:
            return y
        a_t, b_t = ops
        if rows is None:
            return torch.addmm(y, x.to(a_t.dtype) @ a_t, b_t)
        return y.index_add(0, rows, ((x.index_select(0, rows).to(a_t.dtype) @ a_t) @ b_t).to(y.dtype))

    # -- the kernel: operands kept per slot ------------------------------------------------------
    def _by_kernel(self, x: torch.Tensor, y: torch.Tensor, rows: SlotRows) -> torch.Tensor:
        if not rows.slots or not self._hold(rows):
            return y
        return grouped_lora_add_(self.kernel, y.contiguous(), x.contiguous(), rows.rows, rows.offsets, self._a_t,
                                 self._b_t, self._scales, self._caps, self._outs, self._index, self._col_scales)

    def _hold(self, rows: SlotRows) -> bool:
        """Make a position hold each slot of ``rows`` as last written; False when none targets this projection."""
        if self._synced == (rows.id, self.batch.writes):
            return self._live
        self._live = any(layer.slot_rank[s] for s in rows.slots for layer in self.layers)
        if self._live:
            caps = tuple(layer.rank_capacity for layer in self.layers)
            if caps != self._caps or self._a_t is None:
                self._allocate_held(caps, len(rows.slots))
            self._calls += 1
            stale = []
            for s in rows.slots:
                pos = self._where.get(s)
                if pos is not None and self._at[pos] == (s, self.batch.slot_writes[s]):
                    self._used[pos] = self._calls
                else:
                    stale.append(s)
            for s in stale:
                pos = self._where.get(s)
                if pos is None:
                    pos = self._free_position(len(rows.slots))
                self._write(pos, s)
                self._at[pos], self._used[pos] = (s, self.batch.slot_writes[s]), self._calls
                self._where[s] = pos
                self._index[s] = pos
        self._synced = (rows.id, self.batch.writes)
        return self._live

    def _free_position(self, wanted: int) -> int:
        """A position no slot of this call uses: an empty one, else the least recently used (its slot is let
        go), else a new one (the operands grow)."""
        free = [p for p, used in enumerate(self._used) if used != self._calls]
        if not free:
            self._allocate_held(self._caps, max(wanted, len(self._used) + 1))
            free = [p for p, used in enumerate(self._used) if used != self._calls]
        pos = min(free, key=lambda p: (self._at[p] is not None, self._used[p]))
        gone = self._at[pos]
        if gone is not None:
            del self._where[gone[0]]
            self._index[gone[0]] = -1
        return pos

    def _allocate_held(self, caps: tuple[int, ...], wanted: int) -> None:
        """Room for at least ``wanted`` positions (doubling, up to the slot count); a new layout (a rank capacity
        grew) lets every held slot go."""
        ref = next(layer for layer in self.layers if layer.A is not None)
        old = 0 if self._a_t is None or caps != self._caps else self._a_t.shape[0]
        capacity = max(wanted, min(2 * old, ref.num_slots), 4)
        kw = {"dtype": self.operand_dtype or ref.dtype, "device": ref.device}
        a = torch.zeros(capacity, ref.in_features, sum(caps), **kw)
        b = [torch.zeros(capacity, cap, layer.out_features, **kw) if cap else None
             for layer, cap in zip(self.layers, caps)]
        scales = torch.zeros(capacity, len(caps), device=ref.device)
        col_scales = torch.zeros(capacity, sum(caps) if a.dtype == torch.int8 else 0, device=ref.device)
        if old:
            assert self._a_t is not None and self._scales is not None
            a[:old].copy_(self._a_t)
            for new, held in zip(b, self._b_t):
                if new is not None and held is not None:
                    new[:old].copy_(held)
            scales[:old].copy_(self._scales)
            assert self._col_scales is not None
            col_scales[:old].copy_(self._col_scales)
        else:
            self._at, self._used, self._where = [], [], {}
            self._index.fill_(-1)
        self._at += [None] * (capacity - len(self._at))
        self._used += [0] * (capacity - len(self._used))
        self._a_t, self._b_t, self._caps, self._scales, self._col_scales = a, b, caps, scales, col_scales

    # -- one adapter, prefill ---------------------------------------------------------------
    def slot_operands(self, slot: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(Aᵀ [in, R], (s·B)ᵀ [R, out])`` of one adapter at its exact ranks; None if it targets no part."""
        stamp = self.batch.slot_writes[slot]
        cached = self._per_slot.get(slot)
        if cached is not None and cached[0] == stamp:
            self._per_slot.move_to_end(slot)
            return cached[1]
        ops = None
        if any(layer.slot_rank[slot] for layer in self.layers):
            a_t, b_t = _stacked_operands(self.layers, [slot])
            ops = (a_t[0], b_t[0])
        self._per_slot[slot] = (stamp, ops)
        self._per_slot.move_to_end(slot)
        while len(self._per_slot) > _PER_SLOT:
            self._per_slot.popitem(last=False)
        return ops

    def segments(self, x: torch.Tensor, y: torch.Tensor, segments: list[tuple[int, int, int]]) -> torch.Tensor:
        """Add each adapter's delta to its tokens ``y[start:end]`` (``segments``: ``(slot, start, end)``).

        A segment has many tokens, so two ``addmm`` per part on views of the bank's own rows cost
        little more than two for the whole projection, and copy nothing: a prefill of many
        adapters (a wave of newcomers) gathered nothing per adapter.
        """
        if self.kernel is not None:
            return self._by_kernel(x, y, self.batch.segment_rows(segments, x.shape[0], x.device))
        for slot, start, end in segments:
            xs, o0 = None, 0
            for layer in self.layers:
                r = layer.slot_rank[slot]
                if r:
                    assert layer.A is not None and layer.B is not None
                    if xs is None:
                        xs = x[start:end].to(layer.A.dtype)
                    h = (xs @ layer.A[slot, :r].t()).mul_(layer.scale[slot])
                    y[start:end, o0:o0 + layer.out_features].addmm_(h, layer.B[slot, :, :r].t())
                o0 += layer.out_features
        return y

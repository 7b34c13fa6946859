"""The LoRA bank's delta for one fused projection (q|k|v, o, gate|up, down) of the fast forward.

The per-module bank layers (``lora_bank.LoRABankLinear``) own the slots; this class reads them. For a
decode batch it builds the grouped operands of ``lora_bank._Grouped`` over all parts of the fused
projection at once (two ``bmm`` for q, k and v together instead of six), cached per slot vector and
per ``BankBatch.writes``: any slot write anywhere invalidates every cached operand, so a batch can
never run on a gathered copy of a slot that has since been rewritten or evicted. For prefill,
tokens are grouped per adapter into contiguous segments and each segment gets one ``addmm`` pair.
"""

from __future__ import annotations

import torch

from inference_service.model.lora_bank import BankBatch, LoRABankLinear, _Grouped, _stacked_operands

_KEEP = 4  # cached slot vectors: the decode batch, a prefill group, spares


class FusedLoRA:
    def __init__(self, layers: list[LoRABankLinear], batch: BankBatch) -> None:
        self.layers, self.batch = layers, batch
        self._writes = -1
        self._grouped: dict[tuple[int, ...], _Grouped | None] = {}
        self._per_slot: dict[int, tuple[torch.Tensor, torch.Tensor] | None] = {}

    def _fresh(self) -> None:
        if self._writes != self.batch.writes:
            self._grouped.clear()
            self._per_slot.clear()
            self._writes = self.batch.writes

    def grouped(self, slots: tuple[int, ...]) -> _Grouped | None:
        self._fresh()
        if slots not in self._grouped:
            if len(self._grouped) >= _KEEP:
                self._grouped.pop(next(iter(self._grouped)))
            self._grouped[slots] = _Grouped.build(slots, self.layers)
        return self._grouped[slots]

    def decode(self, x: torch.Tensor, y: torch.Tensor, slots: tuple[int, ...]) -> torch.Tensor:
        """``y [B, out] + delta`` for ``x [B, in]``, row ``i`` on adapter slot ``slots[i]``.

        Every row on one adapter (one stream, or a batch of one tenant) is a plain ``addmm`` pair:
        ``bmm`` costs a few microseconds more per call, 8 calls per layer.
        """
        ops = self.grouped(slots)
        if ops is None:
            return y
        if ops.groups == 1 and ops.grid is None and ops.valid_cells is None:
            a_t, b_t = ops.a_t[0], ops.b_t[0]
            return torch.addmm(y, x.to(a_t.dtype) @ a_t, b_t)
        return ops.apply(x.unsqueeze(1), y.unsqueeze(1)).squeeze(1)

    def slot_operands(self, slot: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        self._fresh()
        if slot not in self._per_slot:
            live = any(layer.slot_rank[slot] for layer in self.layers)
            if live:
                a_t, b_t = _stacked_operands(self.layers, [slot])
                self._per_slot[slot] = (a_t[0], b_t[0])
            else:
                self._per_slot[slot] = None
        return self._per_slot[slot]

    def segments(self, x: torch.Tensor, y: torch.Tensor, segments: list[tuple[int, int, int]]) -> torch.Tensor:
        """Add each adapter's delta to its tokens ``y[start:end]`` (``segments``: ``(slot, start, end)``)."""
        for slot, start, end in segments:
            ops = self.slot_operands(slot)
            if ops is not None:
                a_t, b_t = ops
                y[start:end].addmm_(x[start:end].to(a_t.dtype) @ a_t, b_t)
        return y

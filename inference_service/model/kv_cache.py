"""The engine's KV cache: preallocated, one row per sequence, each row's tokens left-aligned.

``k[layer, row, kv_head, position, :]`` (and ``v``) holds the key of the token at ``position`` of the
sequence in ``row``; columns past a row's length are unused and masked out. Why this layout:

* a decode step writes each row's new key at its own position (one ``index_put_`` per layer) instead
  of growing every row by a column: transformers' ``DynamicCache`` concatenates, which copies the
  whole cache on every step (16 rows of 100 tokens: 74 MB copied per token in fp32);
* rows ``0..B-1`` are the decoding batch, so attention reads plain views ``k[l, :B, :, :W]``;
  sequences being prefilled take rows from the top, and join the batch by one row copy;
* a row that leaves is filled by the batch's last row (one copy of that row), so no row index is
  gathered per step.

Memory is ``rows × width × layers × 2 × kv_heads × head_dim`` elements; the width grows in steps of
``GROW`` columns as the longest row needs (copying the cache once) and shrinks again when the batch
holds only short rows, so one long prompt does not pin a wide cache for ever.
"""

from __future__ import annotations

import torch

GROW = 256


class KVCache:
    def __init__(self, *, layers: int, kv_heads: int, head_dim: int, rows: int, dtype: torch.dtype,
                 device: torch.device) -> None:
        self.layers, self.kv_heads, self.head_dim = layers, kv_heads, head_dim
        self.rows, self.dtype, self.device = rows, dtype, device
        self.width = 0
        self.k = self.v = torch.empty(0, dtype=dtype, device=device)

    @property
    def bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * torch.finfo(self.dtype).bits // 8

    @property
    def nbytes(self) -> int:
        return 2 * self.k.numel() * self.k.element_size()

    def reserve(self, width: int, keep: dict[int, int]) -> None:
        """Make room for ``width`` columns; ``keep`` maps the rows in use to their lengths (copied over)."""
        if width <= self.width:
            return
        self._resize(-(-width // GROW) * GROW, keep)

    def trim(self, keep: dict[int, int]) -> None:
        """Shrink to the longest row in use when that frees at least half of the width."""
        need = -(-max(keep.values(), default=0) // GROW) * GROW
        if need * 2 <= self.width:
            self._resize(need, keep)

    def _resize(self, width: int, keep: dict[int, int]) -> None:
        shape = (self.layers, self.rows, self.kv_heads, width, self.head_dim)
        k = torch.zeros(shape, dtype=self.dtype, device=self.device) if width else torch.empty(0, dtype=self.dtype)
        v = torch.zeros(shape, dtype=self.dtype, device=self.device) if width else torch.empty(0, dtype=self.dtype)
        for row, n in keep.items():
            if n:
                k[:, row, :, :n] = self.k[:, row, :, :n]
                v[:, row, :, :n] = self.v[:, row, :, :n]
        self.k, self.v, self.width = k, v, width

    def swap(self, a: int, a_len: int, b: int, b_len: int) -> None:
        """Exchange rows ``a`` and ``b`` (their first ``a_len`` / ``b_len`` positions)."""
        keep_k, keep_v = self.k[:, a, :, :a_len].clone(), self.v[:, a, :, :a_len].clone()
        self.move(b, a, b_len)
        self.k[:, b, :, :a_len] = keep_k
        self.v[:, b, :, :a_len] = keep_v

    def move(self, src: int, dst: int, length: int) -> None:
        """Copy row ``src``'s first ``length`` positions into row ``dst`` (all layers)."""
        if src != dst and length:
            self.k[:, dst, :, :length] = self.k[:, src, :, :length]
            self.v[:, dst, :, :length] = self.v[:, src, :, :length]

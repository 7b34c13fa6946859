"""Packed attention that only computes the blocks packing keeps: one causal SDPA per example.

With packing, a row holds several examples and attention must be block-diagonal. Handing SDPA
a block-diagonal mask is correct (transformers builds one from the position-id resets) but on
CPU the kernel still computes every query × key pair of the row — for 8 examples of ~100
tokens packed into one row that is 8× the useful attention work, a quarter of a step's time on
the 135M base. This attention function instead runs causal SDPA on each example's slice
(``segment`` = run of positions 0,1,2,… ; formally token q attends to k iff k ≤ q and both are in
the same segment), so the work is Σ nᵢ² instead of (Σ nᵢ)². Flash-attention varlen kernels do
the same on GPUs via ``cu_seqlens``.

Shared prefixes (DPO pairs, ``training/dpo.py``): a segment whose first position is ``m > 0``
is a *branch* of the latest segment that started at position 0 (its *root*): it continues the
root's first ``m`` tokens. Token q of a branch attends to the root's first m tokens and causally
within the branch — exactly what it would see if it followed those m tokens in a row of its own.
A pair ``prompt + chosen`` / ``prompt + rejected`` is laid out as the root ``[prompt, chosen]``
and the branch ``[last prompt token, rejected]`` (positions continue the prompt), so the prompt
is computed once for both answers; gradients from both answers reach it.

Registered as the attention implementation ``"lorafleet_packed"`` with a mask function that
skips mask construction when there is no padding mask (packed rows, or right-padded rows, where
plain causal attention is exact for every real token). Anything else — a real 2-D padding mask
(left padding during generation), a KV cache, a single segment — falls back to the stock SDPA
path with the stock mask, so generation with the same model object stays correct.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

PACKED_ATTENTION = "lorafleet_packed"


def segments(position_ids: torch.Tensor) -> list[list[tuple[int, int]]]:
    """[start, end) of every example in each row: a new one starts wherever the position does
    not continue the previous one by +1 (the rule of transformers' find_packed_sequence_indices)."""
    starts = torch.ones_like(position_ids, dtype=torch.bool)
    starts[:, 1:] = position_ids[:, 1:] - position_ids[:, :-1] != 1
    length = position_ids.shape[1]
    out = []
    for row in starts.tolist():
        idx = [i for i, s in enumerate(row) if s]
        out.append(list(zip(idx, idx[1:] + [length])))
    return out


def _branch_mask(prefix: int, size: int, device: torch.device) -> torch.Tensor:
    """[1, 1, size, prefix + size] boolean: every query sees the whole prefix, then causally its own segment."""
    mask = torch.ones(size, prefix + size, dtype=torch.bool, device=device)
    mask[:, prefix:] = torch.ones(size, size, dtype=torch.bool, device=device).tril()
    return mask[None, None]


def _row_attention(module: torch.nn.Module, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                   row: list[tuple[int, int]], first_positions: list[int], **kwargs: Any) -> torch.Tensor:
    """One packed row ([1, heads, L, d] each): causal SDPA per root segment, prefix + causal per branch."""
    sizes = [e - s for s, e in row]
    q_parts, k_parts, v_parts = q.split(sizes, dim=2), k.split(sizes, dim=2), v.split(sizes, dim=2)
    outs, root = [], 0
    for i, m in enumerate(first_positions):
        if m == 0:
            root = i
            outs.append(sdpa_attention_forward(module, q_parts[i], k_parts[i], v_parts[i], None, is_causal=True,
                                               **kwargs)[0])
            continue
        keys = torch.cat([k_parts[root][:, :, :m], k_parts[i]], dim=2)
        values = torch.cat([v_parts[root][:, :, :m], v_parts[i]], dim=2)
        mask = _branch_mask(m, sizes[i], q.device)
        outs.append(sdpa_attention_forward(module, q_parts[i], keys, values, mask, **kwargs)[0])
    return torch.cat(outs, dim=1)  # [1, L, heads, head_dim]


def _packed_mask(*args: Any, **kwargs: Any) -> torch.Tensor | None:
    attention_mask = kwargs.get("attention_mask")
    if attention_mask is None or (attention_mask.dim() == 2 and bool(attention_mask.all())):
        return None
    return sdpa_mask(*args, **kwargs)


def packed_sdpa_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                          attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                          **kwargs: Any) -> tuple[torch.Tensor, None]:
    position_ids = kwargs.get("position_ids")
    q_len, kv_len = query.shape[2], key.shape[2]
    if attention_mask is not None or position_ids is None or q_len != kv_len or q_len == 1:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    positions = position_ids.expand(query.shape[0], -1)
    rows = segments(positions)
    if all(len(r) == 1 for r in rows) and not bool(positions[:, 0].any()):
        return sdpa_attention_forward(module, query, key, value, None, dropout=dropout, scaling=scaling, **kwargs)
    kwargs = {k: v for k, v in kwargs.items() if k != "is_causal"}
    firsts = positions.tolist()
    # split, not slicing: the backward of a split is one cat, while each slice's backward writes its
    # gradient into a zero-filled copy of the whole row, and autograd then sums those copies
    rows_qkv = zip(query.split(1), key.split(1), value.split(1))
    outs = [_row_attention(module, q, k, v, row, [firsts[r][s] for s, _ in row], dropout=dropout, scaling=scaling,
                           **kwargs)
            for r, (row, (q, k, v)) in enumerate(zip(rows, rows_qkv))]
    return torch.cat(outs, dim=0), None


AttentionInterface.register(PACKED_ATTENTION, packed_sdpa_attention)
AttentionMaskInterface.register(PACKED_ATTENTION, _packed_mask)

"""The running batch's KV cache: one transformers ``DynamicCache`` whose rows are right-aligned.

Row ``i`` holds ``lengths[i]`` real tokens in the LAST ``lengths[i]`` columns of a cache ``width``
columns wide; the columns before are left padding (zeros), masked out by the attention mask
``mask[i, j] = j >= width - lengths[i]``. A decode step appends one column to every row, so the
alignment is kept. Sequences join by left-padding both caches to the wider one and
concatenating rows; they leave by ``index_select``; then all-padding columns are trimmed.
Zero padding matters: a masked position gets attention weight exactly 0, and 0·V is 0 only if
V is finite.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import DynamicCache


def zero_left_padding(cache: DynamicCache, pads: list[int]) -> None:
    """Overwrite row ``i``'s first ``pads[i]`` columns with zeros (after a padded prefill)."""
    for layer in cache.layers:
        for i, p in enumerate(pads):
            if p:
                layer.keys[i, :, :p].zero_()
                layer.values[i, :, :p].zero_()


def cache_width(cache: DynamicCache | None) -> int:
    return 0 if cache is None else cache.get_seq_length()


def merge(running: DynamicCache | None, newcomers: DynamicCache) -> DynamicCache:
    """Append ``newcomers``' rows after ``running``'s rows, left-padding the narrower one."""
    if running is None:
        return newcomers
    w_run, w_new = cache_width(running), cache_width(newcomers)
    width = max(w_run, w_new)
    for lr, ln in zip(running.layers, newcomers.layers):
        pad_run, pad_new = (0, 0, width - w_run, 0), (0, 0, width - w_new, 0)
        lr.keys = torch.cat([F.pad(lr.keys, pad_run), F.pad(ln.keys, pad_new)], dim=0)
        lr.values = torch.cat([F.pad(lr.values, pad_run), F.pad(ln.values, pad_new)], dim=0)
    return running


def keep_rows(cache: DynamicCache, rows: list[int], lengths: list[int]) -> DynamicCache | None:
    """Keep only ``rows`` (whose real lengths are ``lengths``) and trim all-padding columns."""
    if not rows:
        return None
    width = cache_width(cache)
    drop_cols = width - max(lengths)
    index = torch.tensor(rows, dtype=torch.long, device=cache.layers[0].keys.device)
    full = len(rows) == cache.layers[0].keys.shape[0]
    for layer in cache.layers:
        k, v = layer.keys, layer.values
        if not full:
            k, v = k.index_select(0, index), v.index_select(0, index)
        if drop_cols > 0:
            k, v = k[:, :, drop_cols:], v[:, :, drop_cols:]
        layer.keys, layer.values = k, v
    return cache


def attention_mask(lengths: list[int], width: int, device) -> torch.Tensor:
    """[N, width] mask of right-aligned rows: 1 on each row's last ``lengths[i]`` columns."""
    cols = torch.arange(width, device=device)[None, :]
    starts = width - torch.tensor(lengths, device=device)[:, None]
    return (cols >= starts).long()

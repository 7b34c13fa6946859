"""Micro-batches: packed (no padding, no cross-example attention) or padded.

Packing changes the *layout* of a micro-batch, never its contents: the examples of one
micro-batch (``batch_size`` of them) are placed into as few rows of at most ``max_seq_length``
tokens as first-fit-decreasing finds, so optimisation is the same as without packing while the
padding (wasted FLOPs) nearly disappears.

No attention across examples: each example's ``position_ids`` restart at 0 and no 2-D attention
mask is passed. transformers 5 (``masking_utils.find_packed_sequence_indices``) then derives the
segment of every token from the position resets (``segment = cumsum(pos[t] - pos[t-1] != 1)``)
and builds a block-diagonal causal mask for sdpa/eager attention (flash-attention uses the same
position ids as ``cu_seqlens``). Formally, token ``q`` attends to ``k`` iff ``k <= q`` and
``segment(k) == segment(q)``. Row padding forms its own segment and carries no labels. The
equivalence is tested by comparing a packed row's logits with each example run alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trainer_service.data.tokenize import IGNORE_INDEX, TokenizedExample, truncate


@dataclass
class Batch:
    input_ids: torch.Tensor  # [rows, length]
    labels: torch.Tensor  # [rows, length], IGNORE_INDEX where no loss
    position_ids: torch.Tensor  # [rows, length]
    attention_mask: torch.Tensor | None  # [rows, length] for padded batches; None when packed
    num_tokens: int  # real (non-padding) tokens
    num_label_tokens: int  # tokens that carry loss after the causal shift
    num_examples: int
    # [rows, length]: index (in the list the batch was made from) of the example each token belongs to;
    # -1 on padding. DPO sums log-probabilities per sequence with it.
    example_index: torch.Tensor | None = None
    # [rows, length] bool: tokens of anchor examples (formats.py); None when the batch has none
    anchor: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return Batch(self.input_ids.to(device), self.labels.to(device), self.position_ids.to(device),
                     move(self.attention_mask), self.num_tokens, self.num_label_tokens, self.num_examples,
                     move(self.example_index), move(self.anchor))


def pack_indices(lengths: list[int], max_len: int) -> list[list[int]]:
    """First-fit decreasing bin packing of items of ``lengths`` into rows of at most ``max_len``; item indices."""
    rows: list[list[int]] = []
    space: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda j: -lengths[j]):
        for r, free in enumerate(space):
            if lengths[i] <= free:
                rows[r].append(i)
                space[r] -= lengths[i]
                break
        else:
            rows.append([i])
            space.append(max_len - lengths[i])
    return rows


def pack_rows(examples: list[TokenizedExample], max_len: int) -> list[list[TokenizedExample]]:
    """First-fit decreasing bin packing of examples into rows of at most ``max_len`` tokens."""
    return [[examples[i] for i in row] for row in pack_indices([e.num_tokens for e in examples], max_len)]


def anchor_mask(examples: list[TokenizedExample], owner: torch.Tensor) -> torch.Tensor | None:
    """True on the tokens of anchor examples (``owner`` indexes ``examples``, -1 on padding); None without any."""
    if not any(e.anchor for e in examples):
        return None
    return torch.tensor([e.anchor for e in examples] + [False])[owner]  # owner -1 picks the trailing False


def label_count(labels: torch.Tensor) -> int:
    return int((labels[:, 1:] != IGNORE_INDEX).sum())


# One packed item's per-token values: input ids, labels, position ids, owner (the segment it belongs to).
PackedItem = tuple[list[int], list[int], list[int], list[int]]


def fill_rows(items: list[PackedItem], rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, ...]:
    """(ids, labels, positions, owners) ``[len(rows), longest row]``: each row's items side by side, then
    padding, which is its own segment (owner -1, positions from 0, no labels)."""
    lengths = [len(item[0]) for item in items]
    length = max(sum(lengths[i] for i in row) for row in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), length), IGNORE_INDEX, dtype=torch.long)
    pos = torch.zeros((len(rows), length), dtype=torch.long)
    owner = torch.full((len(rows), length), -1, dtype=torch.long)
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            n = lengths[i]
            for tensor, values in zip((ids, labels, pos, owner), items[i]):
                tensor[r, at:at + n] = torch.tensor(values)
            at += n
        pos[r, at:] = torch.arange(length - at)
    return ids, labels, pos, owner


def packed_batch(examples: list[TokenizedExample], max_len: int, pad_id: int) -> Batch:
    examples = [truncate(e, max_len) for e in examples]
    rows = pack_indices([e.num_tokens for e in examples], max_len)
    # labels[0] ignored: never predict an example's first token from the previous example
    items = [(e.input_ids, [IGNORE_INDEX, *e.labels[1:]], list(range(e.num_tokens)), [i] * e.num_tokens)
             for i, e in enumerate(examples)]
    ids, labels, pos, owner = fill_rows(items, rows, pad_id)
    return Batch(ids, labels, pos, None, sum(e.num_tokens for e in examples), label_count(labels), len(examples),
                 owner, anchor_mask(examples, owner))


def padded_batch(examples: list[TokenizedExample], max_len: int, pad_id: int) -> Batch:
    """One example per row, right-padded to the longest: the layout plain Trainer uses."""
    examples = [truncate(e, max_len) for e in examples]
    length = max(e.num_tokens for e in examples)
    ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), length), dtype=torch.long)
    owner = torch.full((len(examples), length), -1, dtype=torch.long)
    for r, ex in enumerate(examples):
        n = ex.num_tokens
        ids[r, :n] = torch.tensor(ex.input_ids)
        labels[r, :n] = torch.tensor(ex.labels)
        mask[r, :n] = 1
        owner[r, :n] = r
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    return Batch(ids, labels, pos, mask, sum(e.num_tokens for e in examples), label_count(labels), len(examples),
                 owner, anchor_mask(examples, owner))


def make_batch(examples: list[TokenizedExample], *, max_len: int, pad_id: int, packing: bool) -> Batch:
    return packed_batch(examples, max_len, pad_id) if packing else padded_batch(examples, max_len, pad_id)


def block_diagonal_causal_mask(position_ids: torch.Tensor) -> torch.Tensor:
    """Boolean [rows, 1, L, L] mask (True = may attend) equivalent to what transformers derives."""
    starts = torch.ones_like(position_ids, dtype=torch.bool)
    starts[:, 1:] = position_ids[:, 1:] - position_ids[:, :-1] != 1
    segment = starts.long().cumsum(-1)
    length = position_ids.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    same = segment[:, :, None] == segment[:, None, :]
    return (same & causal)[:, None]

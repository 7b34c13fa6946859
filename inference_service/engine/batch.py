"""The worker's rows: which sequence sits in which KV cache row, and the model calls over them.

Rows ``0..B-1`` of the cache are the running (decoding) sequences in ``running`` order; sequences
whose prompt is still being prefilled (``prefilling``, FIFO) hold rows from the top. A prefilled
sequence joins the batch by moving its row to ``B``; a finished one is replaced by the batch's last
row (``model.kv_cache`` explains why). Only the engine worker thread uses a ``Batch``.
"""

from __future__ import annotations

import torch

from inference_service.engine.prefix_cache import PrefixCache
from inference_service.engine.requests import Sequence
from inference_service.model.fast_llama import FastLlama, Piece


class Batch:
    def __init__(self, model: FastLlama, rows: int, prefixes: PrefixCache | None = None) -> None:
        self.model = model
        self.rows = rows
        self.prefixes = PrefixCache(0) if prefixes is None else prefixes
        self.cache = model.new_cache(rows)
        self.running: list[Sequence] = []
        self.prefilling: list[Sequence] = []

    @property
    def free_rows(self) -> int:
        return self.rows - len(self.running) - len(self.prefilling)

    def _lengths(self) -> dict[int, int]:
        used = {s.row: s.length for s in self.running}
        used.update({s.row: s.prefill_pos for s in self.prefilling})
        return used

    def start_prefill(self, seq: Sequence) -> None:
        taken = {s.row for s in self.prefilling}
        seq.row = next(r for r in range(self.rows - 1, len(self.running) - 1, -1) if r not in taken)
        seq.prefill_pos = seq.length = 0
        self.prefilling.append(seq)
        seq.prefill_pos = seq.length = seq.cached_tokens = self.prefixes.lookup(
            _identity(seq), seq.request.prompt_ids, self.cache, seq.row, self._lengths())

    def drop_prefilling(self, seq: Sequence) -> None:
        self.prefilling.remove(seq)
        seq.row = -1

    def prefill_queue(self) -> list[Sequence]:
        """The prefilling sequences this step may advance, oldest first: production prompts, or shadow
        prompts when no production prompt is left."""
        production = [s for s in self.prefilling if not s.shadow]
        return production or list(self.prefilling)

    def prefill(self, budget: int, shadows: bool = True) -> tuple[list[Sequence], torch.Tensor | None]:
        """Prefill up to ``budget`` prompt tokens, oldest sequences first; shadow prompts only in a
        step with no production prompt to prefill (a shadow packed next to a production prompt would
        make that request's first token wait for both), and only when ``shadows`` (the engine's rule).

        Returns the sequences whose prompt is now complete (still in ``prefilling``; the caller
        samples their first token and calls ``join`` or ``drop_prefilling``) and their hidden states.
        """
        pieces: list[Piece] = []
        owners: list[Sequence] = []
        queue = self.prefill_queue()
        if queue and queue[0].shadow and not shadows:
            return [], None
        left = budget
        for seq in queue:
            prompt = seq.request.prompt_ids
            n = min(len(prompt) - seq.prefill_pos, left)
            if n <= 0:
                break
            pieces.append(Piece(row=seq.row, start=seq.prefill_pos, tokens=prompt[seq.prefill_pos:seq.prefill_pos + n],
                                slot=seq.slot))
            owners.append(seq)
            left -= n
        if not pieces:
            return [], None
        self.cache.reserve(max(p.start + len(p.tokens) for p in pieces), self._lengths())
        hidden = self.model.prefill(pieces, self.cache)
        done = []
        for i, (seq, piece) in enumerate(zip(owners, pieces)):
            seq.prefill_pos += len(piece.tokens)
            seq.length = seq.prefill_pos
            self.prefixes.store(_identity(seq), seq.request.prompt_ids, seq.prefill_pos, self.cache, seq.row)
            if seq.prefill_pos == len(seq.request.prompt_ids):
                done.append(i)
        finished = [owners[i] for i in done]
        return finished, (hidden[done] if done else None)

    def join(self, seq: Sequence) -> None:
        """Move a prefilled sequence into row ``B`` of the running batch."""
        target = len(self.running)
        self.prefilling.remove(seq)
        other = next((s for s in self.prefilling if s.row == target), None)
        if other is not None:  # row B holds another prompt in progress: swap the two rows
            self.cache.swap(seq.row, seq.length, other.row, other.prefill_pos)
            other.row = seq.row
        else:
            self.cache.move(seq.row, target, seq.length)
        seq.row = target
        self.running.append(seq)

    def decode(self) -> torch.Tensor:
        """One decode step over the running rows; returns their final hidden states."""
        rows = self.running
        lengths = [s.length for s in rows]
        self.cache.reserve(max(lengths) + 1, self._lengths())
        tokens = torch.tensor([s.next_input for s in rows], dtype=torch.long, device=self.model.device)
        hidden = self.model.decode(tokens, lengths, tuple(s.slot for s in rows), self.cache)
        for s in rows:
            s.length += 1
        return hidden

    def drop(self, indices: set[int]) -> None:
        """Remove running rows ``indices``; the last rows move into the holes."""
        widest = max((self.running[i].length for i in indices), default=0)
        for i in sorted(indices, reverse=True):
            last = len(self.running) - 1
            if i != last:
                moved = self.running[last]
                self.cache.move(last, i, moved.length)
                moved.row = i
                self.running[i] = moved
            self.running.pop().row = -1
        if widest * 2 >= self.cache.width:
            self.cache.trim(self._lengths())

    def clear(self) -> list[Sequence]:
        everyone = self.running + self.prefilling
        self.running, self.prefilling = [], []
        self.cache = self.model.new_cache(self.rows)
        return everyone


def _identity(seq: Sequence) -> tuple[tuple[str, int, str] | None, str | None]:
    """Whose cached prefixes a prompt may share: those of the same adapter version (None: the base), which its
    keys and values depend on besides its tokens, and of the same ``cache_salt`` (None: no salt)."""
    adapter = seq.request.adapter
    version = None if adapter is None else (adapter.key.name, adapter.key.version, adapter.path)
    return version, seq.request.cache_salt

"""Prompt-prefix KV cache: a prompt that starts like an earlier one on the same adapter skips that part.

Requests repeat their beginnings: the chat template's default system prompt opens every chat, a task's
system prompt opens every ticket, an evaluation runs a suite's cases on the candidate and then again,
and a client retries or samples ``n`` answers to one prompt. vLLM's automatic prefix caching and
SGLang's radix cache serve those tokens' keys and values from memory instead of recomputing them;
this is the same idea on the engine's row-per-sequence KV cache (``model/kv_cache.py``).

A prompt is cut into blocks of ``BLOCK`` tokens. Block ``j`` is a node keyed by ``(parent, tokens)``:
its parent node's id (for block 0, the root: the adapter and salt) and its own ``BLOCK`` token ids, so a
node holds the keys and values of exactly one token sequence and one adapter. Keys are compared exactly (dict
equality, not a hash), so two prompts never share a block unless their tokens up to its end are equal
and one tenant cannot reach another prompt's entries by a crafted collision. The KV of a token depends
on every token before it and on the adapter (LoRA on q/k/v and on every earlier layer), which the chain
and the root capture; the base model never changes while the server runs, and an adapter version is
immutable once registered (its root also names the path it was read from).

The root also carries the request's ``cache_salt`` (vLLM's field): a hit is faster than a prefill, so a
caller could tell by timing whether someone else sent a prompt that begins like theirs. Requests share
blocks only with requests of the same salt (or, unsalted, with other unsalted ones on the same adapter).

* ``lookup``: when a sequence starts its prefill, the longest chain of cached blocks of its prompt is
  copied into its row (two slice copies per block) and the prefill starts after it. At least one prompt
  token is always left to compute: the first generated token needs the last prompt token's hidden state.
* ``store``: after each prefill call, the full blocks a sequence has now computed are copied out of
  its row, those the cache lacks.
* Entries are evicted least recently used first when their bytes pass ``budget_bytes`` (``0``: off); a
  used chain is marked from its tail to its head, so its tail goes first and a shared head stays.

Numerics: a continued prefill attends to the copied keys exactly as a chunked prompt attends to its
earlier chunks (``FastLlama.prefill``), so with fp32 compute the answers equal those without the cache
(tested). With the bf16 dense prefill a token's keys can differ in the last bits with the rows it was
computed beside (the GEMM is not row-invariant past 32 rows, ``benchmarks/served_eval.py``), so reused
keys may differ in those bits from freshly computed ones, as vLLM's cached blocks do.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import torch

from inference_service import metrics
from inference_service.model.kv_cache import KVCache

BLOCK = 16


@dataclass
class _Block:
    id: int
    k: torch.Tensor  # [layers, kv_heads, BLOCK, head_dim]
    v: torch.Tensor

    @property
    def nbytes(self) -> int:
        return 2 * self.k.numel() * self.k.element_size()


class PrefixCache:
    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = max(0, int(budget_bytes))
        self._blocks: OrderedDict[tuple[Hashable, tuple[int, ...]], _Block] = OrderedDict()
        self._ids = itertools.count(1)
        self.nbytes = 0

    @property
    def enabled(self) -> bool:
        return self.budget_bytes > 0

    def __len__(self) -> int:
        return len(self._blocks)

    def lookup(self, adapter: Hashable, prompt: list[int], cache: KVCache, row: int, keep: dict[int, int]) -> int:
        """Copy the longest cached prefix of ``prompt`` (whole blocks, leaving >= 1 token) into ``row``.

        ``keep``: the rows in use and their lengths, kept if the cache has to grow. Returns the tokens copied.
        """
        if not self.enabled:
            return 0
        found: list[tuple[tuple[Hashable, tuple[int, ...]], _Block]] = []
        parent: Hashable = ("root", adapter)
        for j in range((len(prompt) - 1) // BLOCK):
            key = (parent, tuple(prompt[j * BLOCK:(j + 1) * BLOCK]))
            block = self._blocks.get(key)
            if block is None:
                break
            found.append((key, block))
            parent = block.id
        metrics.PREFIX_CACHE_QUERIES.inc(len(prompt))
        if not found:
            return 0
        n = len(found) * BLOCK
        cache.reserve(n, keep)
        self._touch([key for key, _ in found])
        for j, (_, block) in enumerate(found):
            cache.k[:, row, :, j * BLOCK:(j + 1) * BLOCK] = block.k
            cache.v[:, row, :, j * BLOCK:(j + 1) * BLOCK] = block.v
        metrics.PREFIX_CACHE_HITS.inc(n)
        return n

    def store(self, adapter: Hashable, prompt: list[int], computed: int, cache: KVCache, row: int) -> None:
        """Keep the full blocks among the first ``computed`` tokens of ``prompt`` (in ``row``) not cached yet."""
        if not self.enabled:
            return
        parent: Hashable = ("root", adapter)
        chain: list[tuple[Hashable, tuple[int, ...]]] = []
        for j in range(min(computed, len(prompt)) // BLOCK):
            key = (parent, tuple(prompt[j * BLOCK:(j + 1) * BLOCK]))
            block = self._blocks.get(key)
            if block is None:
                s = slice(j * BLOCK, (j + 1) * BLOCK)
                block = _Block(next(self._ids), cache.k[:, row, :, s].clone(), cache.v[:, row, :, s].clone())
                self._blocks[key] = block
                self.nbytes += block.nbytes
            chain.append(key)
            parent = block.id
        self._touch(chain)
        while self.nbytes > self.budget_bytes and self._blocks:
            _, old = self._blocks.popitem(last=False)
            self.nbytes -= old.nbytes
        metrics.PREFIX_CACHE_BYTES.set(self.nbytes)

    def _touch(self, chain: list[tuple[Hashable, tuple[int, ...]]]) -> None:
        """Mark a chain used, its first block last: eviction then takes a chain's tail before its head, so a
        shared head (a system prompt) outlives the prompts that continued it, and no block outlives its parent
        for long (an orphan is unreachable)."""
        for key in reversed(chain):
            self._blocks.move_to_end(key)

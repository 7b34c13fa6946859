"""Per-row token selection for a batch where every row has its own sampling parameters.

Greedy rows take ``argmax``. Sampled rows use ``softmax(logits / T)`` restricted to the
``top_k`` most likely tokens and then to the smallest set whose probability mass reaches
``top_p`` (nucleus), and draw with the request's own ``torch.Generator`` — seeded from the
request's seed, so the same request samples the same tokens whatever else shares its batch.
"""

from __future__ import annotations

import random

import torch

from inference_service.engine.types import SamplingSpec


def make_generator(spec: SamplingSpec) -> torch.Generator | None:
    if spec.greedy:
        return None
    gen = torch.Generator(device="cpu")
    gen.manual_seed(spec.seed if spec.seed is not None else random.getrandbits(63))
    return gen


def filter_logits(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """Return probabilities [V] after temperature, top-k and top-p for one row."""
    scores = logits.float() / temperature
    if 0 < top_k < scores.shape[-1]:
        kth = torch.topk(scores, top_k).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        cum = torch.cumsum(sorted_probs, dim=-1)
        # keep a token if the mass before it is < top_p (always keeps the most likely one)
        drop_sorted = (cum - sorted_probs) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(0, order, drop_sorted)
        probs = probs.masked_fill(drop, 0.0)
        probs = probs / probs.sum()
    return probs


def select_tokens(logits: torch.Tensor, specs: list[SamplingSpec],
                  generators: list[torch.Generator | None]) -> list[int]:
    """``logits`` [N, V] (any device) -> one token id per row."""
    greedy = logits.argmax(dim=-1).tolist()
    out: list[int] = []
    cpu_logits = None
    for i, spec in enumerate(specs):
        if spec.greedy:
            out.append(int(greedy[i]))
            continue
        if cpu_logits is None:
            cpu_logits = logits.float().cpu()
        probs = filter_logits(cpu_logits[i], spec.temperature, spec.top_k, spec.top_p)
        out.append(int(torch.multinomial(probs, 1, generator=generators[i]).item()))
    return out


def choose_tokens(head, hidden: torch.Tensor, specs: list[SamplingSpec], generators: list[torch.Generator | None],
                  bans: list[set[int]]) -> list[int]:
    """One token per row from the final hidden states ``[N, D]``, through the model's LM head.

    Greedy rows without banned tokens take ``head.greedy`` (the fast path: no ``[N, V]`` float copy
    leaves the head); sampled rows and rows with bans (``min_tokens``) get full logits, the banned
    ids at ``-inf``, then ``select_tokens``.
    """
    n = hidden.shape[0]
    fast = [i for i in range(n) if specs[i].greedy and not bans[i]]
    out = [0] * n
    if fast:
        rows = hidden if len(fast) == n else hidden[fast]
        for i, token in zip(fast, head.greedy(rows).tolist()):
            out[i] = int(token)
    rest = [i for i in range(n) if not (specs[i].greedy and not bans[i])]
    if rest:
        logits = head.logits(hidden[rest])
        for j, i in enumerate(rest):
            if bans[i]:
                logits[j, sorted(bans[i])] = float("-inf")
        for i, token in zip(rest, select_tokens(logits, [specs[i] for i in rest], [generators[i] for i in rest])):
            out[i] = token
    return out

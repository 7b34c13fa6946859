"""Prompt-prefix KV cache (``engine/prefix_cache.py``): reuse only what is equal, same answers, bounded memory."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers_inference import host, request, tokens_of
from hypothesis import given, settings
from hypothesis import strategies as st

from inference_service import metrics
from inference_service.engine.prefix_cache import BLOCK, PrefixCache
from inference_service.model.kv_cache import KVCache
from inference_service.request_parsing import MAX_CACHE_SALT_CHARS, parse_cache_salt
from lorafleet.errors import InvalidArgument

SYSTEM = ("You are a careful support agent for a shop that sells mugs, plates and teapots. Answer in one short "
          "sentence, be polite, and never invent order numbers or delivery dates. ")


def prompts_sharing_a_prefix(rt) -> list[str]:
    tails = ["Where is my parcel?", "How do I reset my password?", "Can I get a refund for a damaged mug?"]
    out = [SYSTEM + t for t in tails]
    assert len(rt.tokenizer(SYSTEM)["input_ids"]) >= 2 * BLOCK  # at least two whole shared blocks
    return out


def spy_pieces(rt) -> list[tuple[str, int, int]]:
    """(request id, first position, tokens) of every piece the model prefills."""
    seen: list[tuple[str, int, int]] = []
    model, batch = rt.model, rt.engine.batch
    original = model.prefill

    def spy(pieces, cache):
        by_row = {s.row: s.request.request_id for s in batch.prefilling}
        seen.extend((by_row[p.row], p.start, len(p.tokens)) for p in pieces)
        return original(pieces, cache)

    model.prefill = spy
    return seen


def test_a_shared_prefix_is_computed_once_and_answers_do_not_change(tiny_runtime_factory, tiny_adapters):
    off = tiny_runtime_factory(prefix_cache_mb=0)
    on = tiny_runtime_factory()
    prompts = prompts_sharing_a_prefix(on)
    for rt in (off, on):
        rt.engine.start()
    a_off, a_on = (host(rt, "all-r16", tiny_adapters["all-r16"]) for rt in (off, on))
    reference = [tokens_of(off.engine.submit(request(off, p, adapter=a_off, max_tokens=12)).wait_sync(60))
                 for p in prompts]
    pieces = spy_pieces(on)
    hits_before = metrics.PREFIX_CACHE_HITS._value.get()
    replies = [on.engine.submit(request(on, p, adapter=a_on, max_tokens=12, rid=f"q{i}")).wait_sync(60)
               for i, p in enumerate(prompts)]
    assert [tokens_of(r) for r in replies] == reference
    shared = len(on.tokenizer(SYSTEM)["input_ids"]) // BLOCK * BLOCK
    starts = {rid: start for rid, start, _ in pieces}
    assert starts["q0"] == 0                                   # nothing cached yet
    assert starts["q1"] >= shared and starts["q2"] >= shared   # the system prompt's blocks came from the cache
    assert starts["q1"] % BLOCK == 0
    assert metrics.PREFIX_CACHE_HITS._value.get() - hits_before == starts["q1"] + starts["q2"]
    assert [r[-1].usage.cached_prompt_tokens for r in replies] == [0, starts["q1"], starts["q2"]]
    # the same prompt again: everything but the last (partial) block is reused, the answer is unchanged
    again = tokens_of(on.engine.submit(request(on, prompts[0], adapter=a_on, max_tokens=12, rid="q3")).wait_sync(60))
    n = len(on.tokenizer(prompts[0])["input_ids"])
    assert again == reference[0]
    assert [(s, k) for rid, s, k in pieces if rid == "q3"] == [((n - 1) // BLOCK * BLOCK, n - (n - 1) // BLOCK * BLOCK)]


def test_blocks_are_not_shared_across_adapters_or_with_the_base(tiny_runtime_factory, tiny_adapters):
    rt = tiny_runtime_factory()
    rt.engine.start()
    a, b = host(rt, "attn-r4", tiny_adapters["attn-r4"]), host(rt, "all-r16", tiny_adapters["all-r16"])
    b2 = host(rt, "all-r16", tiny_adapters["all-r16"], version=2)  # same weights, another version: its own entries
    prompt = prompts_sharing_a_prefix(rt)[0]
    pieces = spy_pieces(rt)
    for rid, adapter in [("a", a), ("b", b), ("base", None), ("b2", b2), ("a-again", a)]:
        rt.engine.submit(request(rt, prompt, adapter=adapter, max_tokens=3, rid=rid)).wait_sync(60)
    starts = {rid: start for rid, start, _ in pieces}
    assert starts["a"] == starts["b"] == starts["base"] == starts["b2"] == 0
    assert starts["a-again"] > 0


def test_prompts_share_cached_prefixes_only_with_an_equal_cache_salt(tiny_runtime_factory):
    rt = tiny_runtime_factory()
    rt.engine.start()
    prompt = prompts_sharing_a_prefix(rt)[0]
    pieces = spy_pieces(rt)
    for rid, salt in [("a", "tenant-a"), ("b", "tenant-b"), ("none", None), ("a-again", "tenant-a"),
                      ("none-again", None)]:
        req = request(rt, prompt, max_tokens=2, rid=rid)
        rt.engine.submit(dataclasses.replace(req, cache_salt=salt)).wait_sync(60)
    starts = {rid: start for rid, start, _ in pieces}
    assert starts["a"] == starts["b"] == starts["none"] == 0
    assert starts["a-again"] == starts["none-again"] > 0


@given(st.text(max_size=300))
def test_cache_salt_is_printable_text_of_at_most_256_characters(text):
    if not text:
        assert parse_cache_salt(text) is None
    elif len(text) <= MAX_CACHE_SALT_CHARS and text.isprintable():
        assert parse_cache_salt(text) == text
    else:
        with pytest.raises(InvalidArgument) as err:
            parse_cache_salt(text)
        assert err.value.field == "cache_salt"


def test_a_prompt_differing_inside_a_block_reuses_only_the_blocks_before_it(tiny_runtime_factory):
    rt = tiny_runtime_factory()
    rt.engine.start()
    ids = list(rt.tokenizer(" ".join(f"w{i}" for i in range(40)))["input_ids"])
    assert len(ids) > 3 * BLOCK
    changed = ids.copy()
    changed[BLOCK + 3] = ids[BLOCK + 3] + 1  # inside the second block
    pieces = spy_pieces(rt)
    from inference_service.engine.types import GenerationRequest, SamplingSpec

    for rid, prompt in [("first", ids), ("changed", changed)]:
        rt.engine.submit(GenerationRequest(request_id=rid, prompt_ids=prompt, sampling=SamplingSpec(max_tokens=2))
                         ).wait_sync(60)
    starts = {rid: start for rid, start, _ in pieces}
    assert starts["changed"] == BLOCK


def test_a_chunked_prompt_stores_its_blocks_and_a_disabled_cache_stores_nothing(tiny_runtime_factory):
    rt = tiny_runtime_factory(prefill_token_budget=BLOCK + 5)
    off = tiny_runtime_factory(prefix_cache_mb=0)
    prompt = " ".join(["word"] * 70)
    for r in (rt, off):
        r.engine.start()
        r.engine.submit(request(r, prompt, max_tokens=2)).wait_sync(60)
    n = len(rt.tokenizer(prompt)["input_ids"])
    assert len(rt.engine.batch.prefixes) == n // BLOCK        # every whole block, stored chunk by chunk
    assert len(off.engine.batch.prefixes) == 0 and off.engine.batch.prefixes.nbytes == 0


def _cache(width: int = 4 * BLOCK) -> KVCache:
    cache = KVCache(layers=2, kv_heads=1, head_dim=4, rows=2, dtype=torch.float32, device=torch.device("cpu"))
    cache.reserve(width, {})
    return cache


def test_the_least_recently_used_blocks_go_when_the_budget_is_full():
    cache = _cache()
    per_block = 2 * 2 * 1 * BLOCK * 4 * 4  # k and v, [layers, kv_heads, BLOCK, head_dim] fp32
    prefixes = PrefixCache(3 * per_block)
    first, second = list(range(2 * BLOCK + 1)), list(range(100, 100 + 2 * BLOCK + 1))
    cache.k.normal_()
    prefixes.store(None, first, 2 * BLOCK, cache, 0)
    assert prefixes.nbytes == 2 * per_block
    assert prefixes.lookup(None, first, _cache(), 1, {}) == 2 * BLOCK  # touched: now the most recent
    prefixes.store(None, second, 2 * BLOCK, cache, 1)
    assert prefixes.nbytes == 3 * per_block and len(prefixes) == 3
    # the least recently used block went: first's tail, not its head (a chain is used from its tail up)
    assert prefixes.lookup(None, first, _cache(), 1, {}) == BLOCK
    assert prefixes.lookup(None, second, _cache(), 1, {}) == 2 * BLOCK
    prefixes.store(None, list(range(200, 200 + BLOCK + 1)), BLOCK, cache, 0)  # the oldest now: first's head
    assert prefixes.lookup(None, first, _cache(), 1, {}) == 0
    assert prefixes.lookup(None, second, _cache(), 1, {}) == 2 * BLOCK
    assert prefixes.nbytes <= prefixes.budget_bytes


@settings(max_examples=60, deadline=None)
@given(stored=st.lists(st.integers(0, 3), min_size=1, max_size=60), asked=st.lists(st.integers(0, 3), max_size=60))
def test_lookup_copies_exactly_the_stored_keys_of_the_longest_equal_whole_block_prefix(stored, asked):
    source = _cache()
    source.k.copy_(torch.arange(source.k.numel(), dtype=torch.float32).view_as(source.k))
    source.v.copy_(-source.k)
    prefixes = PrefixCache(1 << 20)
    prefixes.store("adapter", stored, len(stored), source, 0)
    target = _cache()
    n = prefixes.lookup("adapter", asked, target, 1, {})
    equal = 0
    while equal < min(len(stored), len(asked)) and stored[equal] == asked[equal]:
        equal += 1
    assert n == min(equal // BLOCK, len(stored) // BLOCK, max(len(asked) - 1, 0) // BLOCK) * BLOCK
    assert n < max(len(asked), 1)  # one token at least is left to compute
    assert torch.equal(target.k[:, 1, :, :n], source.k[:, 0, :, :n])
    assert torch.equal(target.v[:, 1, :, :n], source.v[:, 0, :, :n])
    assert prefixes.lookup("another adapter", asked, target, 1, {}) == 0

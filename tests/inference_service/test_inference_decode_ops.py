"""The fused CPU decode ops (kernels/decode_ops.cpp) give the torch decode path's numbers, KV cache included."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from inference_service.model.cpu_kernels import DECODE_OPS
from inference_service.model.fast_llama import Piece


@pytest.fixture(scope="module")
def ops():
    module = DECODE_OPS.load()
    if module is None:
        pytest.skip("the fused decode ops need AVX-512 and a compiler")
    return module


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 17), width=st.integers(1, 700), seed=st.integers(0, 2**16))
def test_norms_equal_torchs_rms_norm(ops, rows, width, seed):
    g = torch.Generator().manual_seed(seed)
    h, delta, w = torch.randn(rows, width, generator=g) * 4, torch.randn(rows, width, generator=g), torch.rand(width)
    torch.testing.assert_close(ops.rms_norm(h, w, 1e-5), F.rms_norm(h, (width,), w, 1e-5), rtol=1e-5, atol=1e-6)
    summed = h + delta
    got = ops.add_rms_norm_(h, delta, w, 1e-5)
    assert torch.equal(h, summed)  # the residual add happened in place
    torch.testing.assert_close(got, F.rms_norm(summed, (width,), w, 1e-5), rtol=1e-5, atol=1e-6)


def _decode_both(model, cache, tokens, lengths, slots, ops):
    """One decode step through the fused ops and through torch's, each on its own copy of ``cache``."""
    theirs = copy.deepcopy(cache)
    model._ops = None
    want = model.decode(tokens, lengths, slots, theirs)
    model._ops = ops
    got = model.decode(tokens, lengths, slots, cache)
    return got, want, theirs


def test_decode_steps_equal_the_torch_path_with_adapters_and_ragged_rows(ops, tiny_runtime_factory, tiny_adapters):
    """Rows at different positions, on the base and on two adapters, for several steps: hidden states within fp32
    summation of the torch path's, the same greedy tokens, and the same keys and values written to the cache."""
    from helpers_inference import host

    rt = tiny_runtime_factory(adapter_slots=2)
    model = rt.model
    assert model._ops is ops
    a, b = host(rt, "all-r16", tiny_adapters["all-r16"]), host(rt, "attn-r4", tiny_adapters["attn-r4"])
    rt.bank.set_slots([rt.adapters.pin(a), rt.adapters.pin(b)], "cpu")
    prompts = [[5, 17, 300, 42, 7], [9, 9, 1000], [4000, 12, 13, 14, 15, 16, 17, 18, 19], [77]]
    slots = (1, 0, 2, 1)
    cache = model.new_cache(len(prompts))
    cache.reserve(16, {})
    with torch.inference_mode():
        model.prefill([Piece(row=r, start=0, tokens=p, slot=s) for r, (p, s) in enumerate(zip(prompts, slots))],
                      cache)
        tokens, lengths = torch.tensor([p[-1] for p in prompts]), [len(p) for p in prompts]
        for _ in range(4):
            got, want, theirs = _decode_both(model, cache, tokens, lengths, slots, ops)
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
            for r, n in enumerate(lengths):  # the new keys and values, and what was there before
                torch.testing.assert_close(cache.k[:, r, :, :n + 1], theirs.k[:, r, :, :n + 1], rtol=1e-5, atol=1e-5)
                torch.testing.assert_close(cache.v[:, r, :, :n + 1], theirs.v[:, r, :, :n + 1], rtol=1e-5, atol=1e-5)
            tokens = model.head.greedy(got)
            assert torch.equal(tokens, model.head.greedy(want))
            lengths = [n + 1 for n in lengths]


def test_attention_refuses_a_position_outside_the_cache(ops):
    heads, kv, d = 4, 2, 16
    qkv = torch.randn(1, (heads + 2 * kv) * d)
    cos, sin = torch.ones(1, d), torch.zeros(1, d)
    kc, vc = torch.zeros(1, kv, 8, d), torch.zeros(1, kv, 8, d)
    with pytest.raises(RuntimeError, match="outside the cache"):
        ops.attention(qkv, cos, sin, kc, vc, torch.tensor([8]), heads, kv)
    with pytest.raises(RuntimeError, match="qkv"):
        ops.attention(torch.randn(1, 5), cos, sin, kc, vc, torch.tensor([0]), heads, kv)


def _reference_attention(qkv, cos, sin, kc, vc, pos, heads, kv):
    """Rotary, cache write and grouped-query softmax attention with torch ops, row by row, in float64."""
    b, d = cos.shape
    group, half = heads // kv, d // 2
    kc, vc, out = kc.clone(), vc.clone(), torch.empty(b, heads * d)

    def rotate(x, r):
        return x * cos[r] + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin[r]

    for r in range(b):
        p = int(pos[r])
        row = qkv[r].view(heads + 2 * kv, d)
        kc[r, :, p], vc[r, :, p] = rotate(row[heads:heads + kv], r), row[heads + kv:]
        q = rotate(row[:heads], r).double()
        keys, values = kc[r, :, :p + 1].double(), vc[r, :, :p + 1].double()
        for h in range(heads):
            weights = torch.softmax(keys[h // group] @ q[h] / d ** 0.5, dim=0)
            out[r, h * d:(h + 1) * d] = (weights @ values[h // group]).float()
    return out, kc, vc


@pytest.mark.parametrize(("heads", "kv", "d"), [
    (9, 3, 64),    # SmolLM2-135M: three heads per kv head, every row of V shared by them in registers
    (6, 3, 128),   # d = 128: two heads at a time, then the odd one
    (8, 2, 32),    # other multiples of 16: one head at a time
    (4, 4, 16),
    (4, 2, 8),     # not a multiple of 16: the scalar loop
])
def test_attention_equals_a_float64_reference_at_any_length(ops, heads, kv, d):
    """Lengths around the 16-position blocks, a long cache, and a large logit range (softmax of ~ -60 .. 0)."""
    torch.manual_seed(heads * 1000 + d)
    lengths = [1, 2, 15, 16, 17, 33, 600]
    b, width = len(lengths), 640
    qkv = torch.randn(b, (heads + 2 * kv) * d) * 3
    angle = torch.randn(b, d // 2)
    cos = torch.cat((angle.cos(), angle.cos()), -1).contiguous()
    sin = torch.cat((angle.sin(), angle.sin()), -1).contiguous()
    kc, vc = torch.randn(b, kv, width, d) * 3, torch.randn(b, kv, width, d)
    pos = torch.tensor([n - 1 for n in lengths])
    want, want_k, want_v = _reference_attention(qkv, cos, sin, kc, vc, pos, heads, kv)
    got = ops.attention(qkv, cos, sin, kc, vc, pos, heads, kv)
    assert torch.allclose(kc, want_k, rtol=1e-6, atol=1e-6) and torch.allclose(vc, want_v, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-5)
    for r, n in enumerate(lengths):  # a row's output does not depend on the rows beside it
        alone = ops.attention(qkv[r:r + 1].contiguous(), cos[r:r + 1].contiguous(), sin[r:r + 1].contiguous(),
                              kc[r:r + 1].contiguous(), vc[r:r + 1].contiguous(), pos[r:r + 1], heads, kv)
        assert torch.equal(alone[0], got[r]), (r, n)

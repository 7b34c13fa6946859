"""The rescored LM head (``inference_service.model.lm_head``): int8 ranking (the project's VNNI kernel and
fbgemm's), candidate selection, batch invariance, fp32 result."""

from __future__ import annotations

import logging

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inference_service.model import lm_head
from inference_service.model.lm_head import Int4Ranking, Int8Ranking, RescoredHead, VnniRanking, top_ids

VOCAB, DIM = 2048, 64

needs_int8 = pytest.mark.skipif(not Int8Ranking.available(torch.device("cpu")),
                                reason="torch has no fbgemm/x86 quantized engine here")
VNNI = VnniRanking.load(torch.device("cpu"))
needs_vnni = pytest.mark.skipif(VNNI is None, reason="no AVX512-VNNI CPU (or no compiler) here")
INT8_RANKINGS = [pytest.param(Int8Ranking, marks=needs_int8, id="fbgemm"),
                 pytest.param(lambda w: VnniRanking(w, VNNI), marks=needs_vnni, id="vnni")]


def _weight() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(VOCAB, DIM) * 0.05


def _states() -> torch.Tensor:
    """Rows of very different scales: a zero row, a tiny one, an outlier-heavy one, ordinary ones."""
    torch.manual_seed(1)
    rows = torch.randn(12, DIM)
    rows[0] = 0.0
    rows[1] *= 1e-4
    rows[2, 5] = 300.0
    rows[3] *= 40.0
    return rows


@pytest.mark.parametrize("make", INT8_RANKINGS)
@settings(max_examples=25, deadline=None)
@given(order=st.permutations(list(range(12))), size=st.integers(min_value=1, max_value=12))
def test_int8_ranking_gives_a_row_the_same_rough_logits_alone_or_in_any_batch(make, order, size):
    """Each row is quantized on its own scale (fbgemm: the guard row fixes the kernel's activation scale), so a
    row's numbers never depend on its batch-mates (an outlier row in the batch would otherwise coarsen every other
    row's quantization)."""
    ranking = make(_weight())
    states = _states()
    alone = torch.cat([ranking.rough(states[i:i + 1]) for i in range(len(states))])
    picked = order[:size]
    with torch.inference_mode():
        batched = ranking.rough(states[picked])
    assert torch.equal(batched, alone[picked])
    assert torch.isfinite(alone).all() and torch.equal(alone[0], torch.zeros(VOCAB))


@pytest.mark.parametrize("make", INT8_RANKINGS)
def test_int8_rough_logits_stay_within_the_quantization_error_bound(make):
    """Weights round to ``s_v = max|w_v|/127`` (error <= s_v/2 each); a row, scaled to [-1, 1], rounds to
    steps of 2/127 (error <= 1/127, i.e. ``peak/127`` unscaled). So for each token v:
    ``|rough_v - exact_v| <= ||x||_1 · s_v/2 + ||w_v||_1 · peak/127`` (plus their product, negligible)."""
    weight, states = _weight(), _states()
    exact = states @ weight.t()
    rough = make(weight).rough(states)
    s_v = weight.abs().amax(dim=1) / 127
    peak = states.abs().amax(dim=1, keepdim=True)
    bound = states.abs().sum(dim=1, keepdim=True) * s_v / 2 + weight.abs().sum(dim=1) * peak / 127
    assert ((rough - exact).abs() <= 1.02 * bound + 1e-6).all()
    assert (rough - exact).abs().max() > 0  # it is quantized, not a copy of the fp32 head


@pytest.mark.parametrize("ranking", [*INT8_RANKINGS, Int4Ranking])
def test_rescored_head_returns_the_fp32_heads_greedy_token_and_exact_top_logits(monkeypatch, ranking):
    monkeypatch.setattr(lm_head, "_ranking", lambda w: ranking(w))
    weight = _weight()
    head = RescoredHead(weight)
    torch.manual_seed(2)
    hidden = torch.randn(48, DIM)
    with torch.inference_mode():
        exact = hidden @ weight.t()
        assert torch.equal(head.greedy(hidden), exact.argmax(dim=-1))
        logits = head.logits(hidden)
    ids = exact.topk(8, dim=-1).indices  # the best tokens are among the candidates, so scored exactly
    torch.testing.assert_close(logits.gather(1, ids), exact.gather(1, ids), rtol=1e-5, atol=1e-5)
    assert logits.dtype == torch.float32 and logits.shape == exact.shape


def test_head_ranks_in_int4_when_the_int8_kernels_fail(monkeypatch, caplog):
    def broken(self, weight):
        raise RuntimeError("quantized tensors removed")

    monkeypatch.setattr(VnniRanking, "load", staticmethod(lambda device: None))
    monkeypatch.setattr(Int8Ranking, "available", staticmethod(lambda device: True))
    monkeypatch.setattr(Int8Ranking, "__init__", broken)
    weight = _weight()
    with caplog.at_level(logging.WARNING, logger=lm_head.__name__):
        head = RescoredHead(weight)
    assert isinstance(head.ranking, Int4Ranking)
    assert any("int8 head ranking unavailable" in r.getMessage() for r in caplog.records)
    hidden = torch.randn(8, DIM)
    assert torch.equal(head.greedy(hidden), (hidden @ weight.t()).argmax(dim=-1))


@needs_vnni
def test_the_vnni_ranking_is_the_default_on_a_vnni_cpu_and_smaller_than_int4():
    head = RescoredHead(_weight())
    assert isinstance(head.ranking, VnniRanking)
    assert head.nbytes == VOCAB * DIM + 8 * VOCAB < Int4Ranking(_weight()).nbytes


@needs_int8
def test_fbgemm_ranks_where_the_vnni_kernel_is_missing(monkeypatch):
    monkeypatch.setattr(VnniRanking, "load", staticmethod(lambda device: None))
    head = RescoredHead(_weight())
    assert isinstance(head.ranking, Int8Ranking)
    assert head.nbytes == VOCAB * DIM + 4 * VOCAB < Int4Ranking(_weight()).nbytes


@needs_vnni
def test_vnni_rough_logits_are_the_integer_products_of_the_rounded_operands():
    """``rough = s_v · (peak/127) · Σ_k round(127·x_k/peak) · q_vk``, the sum exact: bit for bit what torch computes
    from the same int8 operands in int64, then the two fp32 scalings in the kernel's order."""
    weight, states = _weight(), _states()
    scale = (weight.abs().amax(dim=1) / 127).clamp_min(torch.finfo(torch.float32).tiny)
    q = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int64)
    peak = states.abs().amax(dim=1, keepdim=True)
    inv = torch.where(peak > 0, 127 / peak, torch.zeros_like(peak))
    xq = torch.round(states * inv).to(torch.int64)
    expected = (xq @ q.t()).float() * scale * (peak / 127)
    assert torch.equal(VnniRanking(weight, VNNI).rough(states), expected)


@needs_vnni
@settings(max_examples=40, deadline=None)
@given(vocab=st.integers(min_value=1, max_value=300), dim=st.integers(min_value=1, max_value=40),
       rows=st.integers(min_value=1, max_value=20), k=st.integers(min_value=1, max_value=80), seed=st.integers(0, 99))
def test_vnni_candidates_are_the_k_best_rough_logits_best_first(vocab, dim, rows, k, seed):
    """The kernel's selection (the k best blocks of 16 by their maxima, then the k best of their entries) returns
    exactly a full sort's k best, best first, for any vocabulary and hidden size (padded ones included: padded
    rows never appear) and any k up to the vocabulary."""
    k = min(k, vocab)
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(vocab, dim, generator=gen)
    states = torch.randn(rows, dim, generator=gen)
    ranking = VnniRanking(weight, VNNI)
    rough, ids, none = ranking.candidates(states, k)
    assert none is None
    assert rough.shape == (rows, vocab) and ids.shape == (rows, k)
    assert torch.equal(rough, ranking.rough(states))
    # the same values as a full sort's k best (ties may order equal values differently), best first
    assert torch.equal(rough.gather(1, ids), rough.topk(k, dim=-1).values)
    assert all(len(set(row)) == k and max(row) < vocab for row in ids.tolist())
    # ties rank the smaller id first
    for row, chosen in zip(rough.tolist(), ids.tolist()):
        pairs = [(-row[i], i) for i in chosen]
        assert pairs == sorted(pairs)


@needs_vnni
@pytest.mark.parametrize("dim", [DIM, 61])
def test_vnni_exact_scores_are_float64_dot_products_rounded_once(dim):
    """The candidates' exact scores (what the greedy token is chosen on) come from the fp32 table in the same call:
    each within fp32 rounding of the float64 product, for a hidden size the kernel pads (61) or not."""
    torch.manual_seed(3)
    table = torch.randn(VOCAB, dim)
    states = torch.randn(16, dim)
    ranking = VnniRanking(table, VNNI)
    rough, ids, exact = ranking.candidates(states, 64, table)
    reference = (states.double() @ table.double().t()).gather(1, ids)
    assert exact.dtype == torch.float32 and exact.shape == (16, 64)
    assert ((exact.double() - reference).abs() <= reference.abs() * 2.0 ** -24 + 1e-30).all()
    assert torch.equal(ids, ranking.candidates(states, 64)[1])
    with pytest.raises(RuntimeError, match="table"):
        VNNI.rough(torch.randn(2, ranking.packed.shape[1] * 4), ranking.packed, ranking.corr, ranking.scale, VOCAB, 8,
                   table[:-1].contiguous())


@needs_vnni
def test_vnni_selection_survives_nan_and_infinite_states():
    """A NaN hidden state (a diverged model) ranks NaN logits last instead of breaking the sort; ids stay valid."""
    ranking = VnniRanking(_weight(), VNNI)
    states = _states()[:4].clone()
    states[1, 3] = float("nan")
    states[2, 0] = float("inf")
    rough, ids, _ = ranking.candidates(states, 64)
    assert ids.shape == (4, 64) and int(ids.min()) >= 0 and int(ids.max()) < VOCAB
    assert all(len(set(row)) == 64 for row in ids.tolist())
    assert torch.equal(ids[3], top_ids(rough[3:4], 64)[0])  # the finite row is ranked as ever
    assert ids[0].tolist() == list(range(64))  # the zero row: all tied, the smallest ids first


@needs_vnni
def test_vnni_kernel_refuses_operands_that_do_not_match():
    ranking = VnniRanking(_weight(), VNNI)
    x, none = torch.randn(2, DIM), torch.empty(0)
    with pytest.raises(RuntimeError, match="match the weight"):
        VNNI.rough(torch.randn(2, DIM + 4), ranking.packed, ranking.corr, ranking.scale, VOCAB, 8, none)
    with pytest.raises(RuntimeError, match="top: 0..valid"):
        VNNI.rough(x, ranking.packed, ranking.corr, ranking.scale, VOCAB, VOCAB + 1, none)
    with pytest.raises(RuntimeError, match="valid"):
        VNNI.rough(x, ranking.packed, ranking.corr, ranking.scale, VOCAB - 16, 8, none)
    with pytest.raises(RuntimeError, match="fp32"):
        VNNI.rough(x.double(), ranking.packed, ranking.corr, ranking.scale, VOCAB, 8, none)


@pytest.mark.parametrize("make", INT8_RANKINGS)
@settings(max_examples=25, deadline=None)
@given(order=st.permutations(list(range(12))), size=st.integers(min_value=1, max_value=12))
def test_rescored_head_gives_a_row_the_same_logits_and_token_alone_or_in_any_batch(make, order, size):
    """Ranking and rescoring both: a request's greedy token and logits never depend on what it is batched with."""
    head, states = RescoredHead(_weight()), _states()
    head.ranking = make(_weight())
    with torch.inference_mode():
        alone = torch.cat([head.logits(states[i:i + 1]) for i in range(len(states))])
        tokens = torch.cat([head.greedy(states[i:i + 1]) for i in range(len(states))])
        picked = order[:size]
        assert torch.equal(head.logits(states[picked]), alone[picked])
        assert torch.equal(head.greedy(states[picked]), tokens[picked])

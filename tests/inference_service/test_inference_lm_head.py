"""The rescored LM head (``inference_service.model.lm_head``): int8 ranking, batch invariance, fp32 result."""

from __future__ import annotations

import logging

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inference_service.model import lm_head
from inference_service.model.lm_head import Int4Ranking, Int8Ranking, RescoredHead

VOCAB, DIM = 2048, 64

needs_int8 = pytest.mark.skipif(not Int8Ranking.available(torch.device("cpu")),
                                reason="torch has no fbgemm/x86 quantized engine here")


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


@needs_int8
@settings(max_examples=25, deadline=None)
@given(st.permutations(list(range(12))), st.integers(min_value=1, max_value=12))
def test_int8_ranking_gives_a_row_the_same_rough_logits_alone_or_in_any_batch(order, size):
    """The guard row fixes the kernel's activation scale, so a row's numbers never depend on its batch-mates
    (an outlier row in the batch would otherwise coarsen every other row's quantization)."""
    ranking = Int8Ranking(_weight())
    states = _states()
    alone = torch.cat([ranking.rough(states[i:i + 1]) for i in range(len(states))])
    picked = order[:size]
    with torch.inference_mode():
        batched = ranking.rough(states[picked])
    assert torch.equal(batched, alone[picked])
    assert torch.isfinite(alone).all() and torch.equal(alone[0], torch.zeros(VOCAB))


@needs_int8
def test_int8_rough_logits_stay_within_the_quantization_error_bound():
    """Weights round to ``s_v = max|w_v|/127`` (error <= s_v/2 each); a row, scaled to [-1, 1], rounds to
    steps of 2/127 (error <= 1/127, i.e. ``peak/127`` unscaled). So for each token v:
    ``|rough_v - exact_v| <= ||x||_1 · s_v/2 + ||w_v||_1 · peak/127`` (plus their product, negligible)."""
    weight, states = _weight(), _states()
    exact = states @ weight.t()
    rough = Int8Ranking(weight).rough(states)
    s_v = weight.abs().amax(dim=1) / 127
    peak = states.abs().amax(dim=1, keepdim=True)
    bound = states.abs().sum(dim=1, keepdim=True) * s_v / 2 + weight.abs().sum(dim=1) * peak / 127
    assert ((rough - exact).abs() <= 1.02 * bound + 1e-6).all()
    assert (rough - exact).abs().max() > 0  # it is quantized, not a copy of the fp32 head


@pytest.mark.parametrize("ranking", [pytest.param(Int8Ranking, marks=needs_int8), Int4Ranking])
def test_rescored_head_returns_the_fp32_heads_greedy_token_and_exact_top_logits(monkeypatch, ranking):
    monkeypatch.setattr(lm_head, "_ranking", lambda w: ranking(w))
    weight = _weight()
    head = RescoredHead(weight)
    assert isinstance(head.ranking, ranking)
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

    monkeypatch.setattr(Int8Ranking, "available", staticmethod(lambda device: True))
    monkeypatch.setattr(Int8Ranking, "__init__", broken)
    weight = _weight()
    with caplog.at_level(logging.WARNING, logger=lm_head.__name__):
        head = RescoredHead(weight)
    assert isinstance(head.ranking, Int4Ranking)
    assert any("int8 head ranking unavailable" in r.getMessage() for r in caplog.records)
    hidden = torch.randn(8, DIM)
    assert torch.equal(head.greedy(hidden), (hidden @ weight.t()).argmax(dim=-1))


@needs_int8
def test_the_int8_ranking_is_the_default_on_a_cpu_and_smaller_than_int4():
    head = RescoredHead(_weight())
    assert isinstance(head.ranking, Int8Ranking)
    assert head.nbytes == VOCAB * DIM + 4 * VOCAB < Int4Ranking(_weight()).nbytes


@needs_int8
@settings(max_examples=25, deadline=None)
@given(st.permutations(list(range(12))), st.integers(min_value=1, max_value=12))
def test_rescored_head_gives_a_row_the_same_logits_and_token_alone_or_in_any_batch(order, size):
    """Ranking and rescoring both: a request's greedy token and logits never depend on what it is batched with."""
    head, states = RescoredHead(_weight()), _states()
    with torch.inference_mode():
        alone = torch.cat([head.logits(states[i:i + 1]) for i in range(len(states))])
        tokens = torch.cat([head.greedy(states[i:i + 1]) for i in range(len(states))])
        picked = order[:size]
        assert torch.equal(head.logits(states[picked]), alone[picked])
        assert torch.equal(head.greedy(states[picked]), tokens[picked])

"""Paired statistics against known values (scipy's exact binomial test, hand-computed cases)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from eval_service.stats import PairedCounts, mcnemar_exact_p, mcnemar_test, paired_bootstrap


@pytest.mark.parametrize("b, c, expected", [
    (0, 0, 1.0),
    (5, 0, 0.0625),          # 2 * 0.5**5
    (0, 10, 2 * 0.5 ** 10),
    (1, 1, 1.0),
    (10, 2, 0.0385742188),
    (3, 7, 0.34375),
])
def test_mcnemar_known_values(b, c, expected):
    assert mcnemar_exact_p(b, c) == pytest.approx(expected, rel=1e-8)


@settings(max_examples=200, deadline=None)
@given(b=st.integers(0, 80), c=st.integers(0, 80))
def test_mcnemar_matches_scipy_binomtest(b, c):
    want = binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
    assert mcnemar_exact_p(b, c) == pytest.approx(want, rel=1e-9, abs=1e-15)
    assert mcnemar_exact_p(b, c) == pytest.approx(mcnemar_exact_p(c, b))  # symmetric


def test_mcnemar_test_counts_and_effect():
    cand = [True] * 8 + [False] * 2 + [True] * 5 + [False] * 5
    base = [True] * 8 + [True] * 2 + [False] * 5 + [False] * 5
    result, counts = mcnemar_test(cand, base, resamples=2000)
    assert counts == PairedCounts(both_passed=8, candidate_only=5, baseline_only=2, neither=5)
    assert result.effect == pytest.approx((5 - 2) / 20)
    assert result.p_value == pytest.approx(binomtest(5, 7, 0.5).pvalue)
    assert result.ci_low <= result.effect <= result.ci_high
    assert result.candidate_mean == pytest.approx(13 / 20) and result.baseline_mean == pytest.approx(10 / 20)


def test_bootstrap_is_reproducible_and_brackets_the_effect():
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1, 60)
    cand = np.clip(base + rng.normal(0.1, 0.1, 60), 0, 1)
    a = paired_bootstrap(cand, base, resamples=5000, seed=7)
    b = paired_bootstrap(cand, base, resamples=5000, seed=7)
    assert a == b
    assert a.effect == pytest.approx(float(np.mean(cand - base)))
    assert a.ci_low < a.effect < a.ci_high and a.ci_low > 0
    assert a.p_value < 0.01
    # the percentile CI approximates the normal-theory CI of a mean for n=60
    se = np.std(cand - base, ddof=1) / np.sqrt(60)
    assert a.ci_high - a.ci_low == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_bootstrap_no_difference():
    scores = [0.2, 0.5, 1.0, 0.0, 0.7]
    r = paired_bootstrap(scores, scores, resamples=1000)
    assert r.effect == 0 and r.ci_low == 0 and r.ci_high == 0 and r.p_value == 1.0


def test_bootstrap_noise_is_not_significant():
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 1, 40)
    cand = np.clip(base + rng.normal(0, 0.2, 40), 0, 1)
    r = paired_bootstrap(cand, base, resamples=4000, seed=0)
    assert r.ci_low < 0 < r.ci_high or abs(r.effect) < 0.05
    assert r.p_value > 0.05 or abs(r.effect) > 0.05


def test_input_errors():
    with pytest.raises(ValueError, match="differ in length"):
        paired_bootstrap([1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="differ in length"):
        PairedCounts.from_pairs([True], [])
    with pytest.raises(ValueError, match="non-negative"):
        mcnemar_exact_p(-1, 2)
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap([1.0], [0.0], confidence=1.5)

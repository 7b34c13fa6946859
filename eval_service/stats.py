"""Paired statistics: candidate vs baseline on the *same* cases.

Comparing two pass rates as if they came from independent samples throws away the pairing and
needs far more cases to see a real difference. Both tests here work on per-case pairs.

Exact McNemar test (pass/fail cases)
    Of n paired cases, let b = cases only the candidate passed and c = cases only the baseline
    passed. Concordant pairs (both pass, both fail) carry no information about which model is
    better. Under H0 (same pass probability) each discordant pair is equally likely to fall
    either way, so b ~ Binomial(b + c, 1/2). The exact two-sided p-value is

        p = min(1, 2 · min(P[X <= b], P[X >= b])),   X ~ Binomial(b + c, 1/2)

    (p = 1 when b + c = 0). The effect is the difference in pass rates, (b - c) / n.

Paired bootstrap (scores in [0, 1])
    With d_i = candidate_i - baseline_i, the effect is mean(d). Resampling the n cases with
    replacement B times (fixed seed, so a report is reproducible) gives the bootstrap
    distribution of mean(d*); the percentile interval [q_(α/2), q_(1-α/2)] is the confidence
    interval of the mean difference. The two-sided p-value tests H0: E[d] = 0 with the
    null-centred bootstrap: p = (1 + #{|mean(d*) - mean(d)| >= |mean(d)|}) / (B + 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom


@dataclass(frozen=True)
class PairedCounts:
    both_passed: int
    candidate_only: int
    baseline_only: int
    neither: int

    @property
    def n(self) -> int:
        return self.both_passed + self.candidate_only + self.baseline_only + self.neither

    @classmethod
    def from_pairs(cls, candidate: Sequence[bool], baseline: Sequence[bool]) -> PairedCounts:
        if len(candidate) != len(baseline):
            raise ValueError(f"paired samples differ in length: {len(candidate)} vs {len(baseline)}")
        both = sum(1 for a, b in zip(candidate, baseline) if a and b)
        cand = sum(1 for a, b in zip(candidate, baseline) if a and not b)
        base = sum(1 for a, b in zip(candidate, baseline) if b and not a)
        return cls(both, cand, base, len(candidate) - both - cand - base)


@dataclass(frozen=True)
class PairedTest:
    """Result of a paired comparison: effect = candidate - baseline, its CI and p-value."""

    test: str
    n: int
    candidate_mean: float
    baseline_mean: float
    effect: float
    ci_low: float
    ci_high: float
    p_value: float


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b and c."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    n = b + c
    if n == 0:
        return 1.0
    lower = binom.cdf(b, n, 0.5)
    upper = binom.sf(b - 1, n, 0.5)
    return float(min(1.0, 2.0 * min(lower, upper)))


def _bootstrap_means(diffs: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = len(diffs)
    out = np.empty(resamples)
    step = max(1, 2_000_000 // max(n, 1))  # bound memory: at most ~2M indices at once
    for start in range(0, resamples, step):
        k = min(step, resamples - start)
        idx = rng.integers(0, n, size=(k, n))
        out[start:start + k] = diffs[idx].mean(axis=1)
    return out


def paired_bootstrap(candidate: Sequence[float], baseline: Sequence[float], *, resamples: int = 10_000,
                     seed: int = 0, confidence: float = 0.95) -> PairedTest:
    """Paired bootstrap of the mean score difference (see module docstring)."""
    if len(candidate) != len(baseline):
        raise ValueError(f"paired samples differ in length: {len(candidate)} vs {len(baseline)}")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    if resamples < 1:
        raise ValueError("resamples must be >= 1")
    n = len(candidate)
    if n == 0:
        return PairedTest("paired_bootstrap", 0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    cand = np.asarray(candidate, dtype=float)
    base = np.asarray(baseline, dtype=float)
    diffs = cand - base
    effect = float(diffs.mean())
    means = _bootstrap_means(diffs, resamples, seed)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    extreme = int(np.sum(np.abs(means - effect) >= abs(effect) - 1e-12))
    p = (1 + extreme) / (resamples + 1)
    return PairedTest("paired_bootstrap", n, float(cand.mean()), float(base.mean()), effect,
                      float(lo), float(hi), float(min(1.0, p)))


def mcnemar_test(candidate: Sequence[bool], baseline: Sequence[bool], *, resamples: int = 10_000,
                 seed: int = 0, confidence: float = 0.95) -> tuple[PairedTest, PairedCounts]:
    """Exact McNemar p-value, pass-rate difference, and its paired-bootstrap CI."""
    counts = PairedCounts.from_pairs(candidate, baseline)
    boot = paired_bootstrap([float(x) for x in candidate], [float(x) for x in baseline],
                            resamples=resamples, seed=seed, confidence=confidence)
    n = counts.n
    effect = (counts.candidate_only - counts.baseline_only) / n if n else 0.0
    return (PairedTest("mcnemar_exact", n, boot.candidate_mean, boot.baseline_mean, effect, boot.ci_low,
                       boot.ci_high, mcnemar_exact_p(counts.candidate_only, counts.baseline_only)), counts)

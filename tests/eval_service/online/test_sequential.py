"""Anytime-valid guardrails: input checks, the docstring's formulas against a plain re-implementation,
state round trips, batching, the rollout policy, and calibration checked after every observation."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pairing_reference import reference_pairs

from eval_service.online.rollout import RolloutDecision, bonferroni, decide, latency_exceeds, latency_over_slo
from eval_service.online.sequential import (
    BET_FRACTIONS,
    CanaryGuardrail,
    Decision,
    GuardrailSpec,
    SequentialGuardrail,
    ShadowGuardrail,
    guardrail_from_state,
)

SPEC = GuardrailSpec("refusal", alpha=0.05, delta=0.05, min_samples=50, bernoulli=True)
unit = st.floats(0.0, 1.0, allow_nan=False)
outside_unit = st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0 + 1e-9),
                         st.sampled_from([math.nan, math.inf, -math.inf]))


@st.composite
def streams(draw: st.DrawFn) -> tuple[str, list[bool], list[float], list[float]]:
    """(design, arms, values, incumbent values): canary reads arms[i] and values[i], shadow the pairs."""
    size = draw(st.integers(1, 60))
    arms = draw(st.lists(st.booleans(), min_size=size, max_size=size))
    values, incumbent = (draw(st.lists(unit, min_size=size, max_size=size)) for _ in range(2))
    return draw(st.sampled_from(["canary", "shadow"])), arms, values, incumbent


SCORE = GuardrailSpec("score", delta=0.1, min_samples=5)


def make(design: str, spec: GuardrailSpec = SCORE) -> SequentialGuardrail:
    return CanaryGuardrail(spec, 0.3) if design == "canary" else ShadowGuardrail(spec)


def feed(g: SequentialGuardrail, arms: list[bool], a: list[float], b: list[float], lo: int, hi: int) -> None:
    if isinstance(g, CanaryGuardrail):
        g.update(np.asarray(arms[lo:hi], dtype=bool), a[lo:hi])
    else:
        assert isinstance(g, ShadowGuardrail)
        g.update(a[lo:hi], b[lo:hi])


# --- input validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"alpha": 0.0}, "alpha must be in"), ({"alpha": 1.0}, "alpha must be in"), ({"alpha": math.nan}, "alpha"),
    ({"delta": -0.01}, "delta"), ({"delta": 1.0}, "delta"), ({"delta": math.inf}, "delta"),
    ({"min_samples": -1}, "min_samples"), ({"min_samples": 2.5}, "min_samples"), ({"min_samples": True}, "min_samples"),
    ({"name": ""}, "name"), ({"higher_is_worse": "yes"}, "booleans"),
])
def test_spec_rejects_invalid_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GuardrailSpec(**({"name": "g"} | kwargs))


@settings(max_examples=60, deadline=None)
@given(alpha=st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0)))
def test_alpha_outside_open_unit_interval_raises(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha must be in"):
        GuardrailSpec("g", alpha=alpha)


@settings(max_examples=60, deadline=None)
@given(bad=outside_unit, design=st.sampled_from(["canary", "shadow"]))
def test_values_outside_unit_interval_raise(bad: float, design: str) -> None:
    g = make(design)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        if isinstance(g, CanaryGuardrail):
            g.update("candidate", [0.5, bad])
        else:
            assert isinstance(g, ShadowGuardrail)
            g.update([0.5, 0.5], [0.2, bad])
    assert g.status().n_candidate == 0  # a rejected batch changes nothing


def test_other_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        CanaryGuardrail(SPEC, 0.3).update("candidate", [1.0, 0.5])
    with pytest.raises(ValueError, match="canary_share"):
        CanaryGuardrail(SPEC, 1.0)
    with pytest.raises(ValueError, match="arm must be"):
        CanaryGuardrail(SPEC, 0.3).update("control", 1.0)
    with pytest.raises(ValueError, match="arm must be an arm"):
        CanaryGuardrail(SPEC, 0.3).update(1, 1.0)
    with pytest.raises(ValueError, match="2 arms for 3 values"):
        CanaryGuardrail(SPEC, 0.3).update(["candidate", "incumbent"], [0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="differ in length"):
        ShadowGuardrail(SPEC).update([0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="numbers"):
        ShadowGuardrail(SPEC).update(["x"], [1.0])
    with pytest.raises(ValueError, match="latencies"):
        latency_over_slo([-0.1], 1.0)
    with pytest.raises(ValueError, match="slo_s"):
        latency_over_slo([0.1], 0.0)
    with pytest.raises(ValueError, match="alpha"):
        bonferroni([SPEC], 1.5)


# --- the formulas of the module docstring --------------------------------------------------------

def reference_differences(design: str, arms: list[bool], a: list[float], b: list[float]) -> list[float]:
    """Pair differences (candidate - incumbent) in the order they form: shadow pairs a[i] with b[i];
    canary pairs blocks of the arms' arrivals first in, first out, 1 candidate : 2 incumbent at the 30%
    share of ``make`` (``test_canary_pairing`` checks other shares and bounded queues)."""
    if design == "shadow":
        return [x - y for x, y in zip(a, b)]
    return reference_pairs(arms, a, capacity=len(a), units=(1, 2))[0]


def reference_log_e(design: str, arms: list[bool], a: list[float], b: list[float], m: float, upper: bool) -> float:
    """log mean_k Π_i exp(±η_k (μ̂_i - m)) (1 ± η_k r_i), written out pair by pair."""
    s, logs = 0.0, [0.0] * len(BET_FRACTIONS)
    for i, d in enumerate(reference_differences(design, arms, a, b)):
        centre = min(0.5, max(-0.5, s / (1 + i)))
        r, s = d - centre, s + d
        sign = -1.0 if upper else 1.0
        for k, frac in enumerate(BET_FRACTIONS):
            eta = frac / 1.5
            logs[k] += sign * eta * (centre - m) + math.log(1 + sign * eta * r)
    return math.log(sum(math.exp(x) for x in logs) / len(logs))


@settings(max_examples=40, deadline=None)
@given(stream=streams())
def test_e_values_and_bounds_match_the_product_formula(
        stream: tuple[str, list[bool], list[float], list[float]]) -> None:
    design, arms, a, b = stream
    g = make(design)
    feed(g, arms, a, b, 0, len(a))
    st_ = g.status()
    assert st_.log_e_worse == pytest.approx(reference_log_e(design, arms, a, b, 0.0, False), abs=1e-9)
    assert st_.log_e_not_worse == pytest.approx(reference_log_e(design, arms, a, b, 0.1, True), abs=1e-9)
    threshold = math.log(2 / 0.05)
    if -1 < st_.ci_low < 1:
        assert reference_log_e(design, arms, a, b, st_.ci_low, False) == pytest.approx(threshold, abs=1e-6)
    if -1 < st_.ci_high < 1:
        assert reference_log_e(design, arms, a, b, st_.ci_high, True) == pytest.approx(threshold, abs=1e-6)
    assert -1 <= st_.ci_low <= st_.ci_high <= 1
    assert 0 < st_.p_worse <= 1 and 0 < st_.p_not_worse <= 1


def test_lower_is_worse_metric_reports_metric_units_and_harm_difference() -> None:
    g = ShadowGuardrail(GuardrailSpec("feedback", delta=0.05, higher_is_worse=False, min_samples=10))
    g.update([0.2] * 300, [0.8] * 300)
    s = g.status()
    assert (s.candidate_mean, s.incumbent_mean) == (pytest.approx(0.2), pytest.approx(0.8))
    assert s.harm_difference == pytest.approx(0.6) and s.ci_low > 0.4
    assert s.decision is Decision.WORSE and s.p_worse <= 0.025


def test_a_significant_difference_inside_the_margin_is_not_worse_never_worse() -> None:
    """Candidate harmed on 1 prompt in 20 more than the incumbent: clearly D > 0 (every pair is >= 0),
    but D = 0.05 is inside a 15-point margin, so the test must end NOT_WORSE, not latch WORSE (the
    large min_samples lets "significant" come long before NOT_WORSE may)."""
    g = ShadowGuardrail(GuardrailSpec("refusal", delta=0.15, min_samples=1500, bernoulli=True))
    cand = [1.0 if i % 20 == 0 else 0.0 for i in range(2000)]
    for i in range(0, 2000, 10):
        g.update(cand[i:i + 10], [0.0] * 10)
        assert g.status().decision is not Decision.WORSE, i
    s = g.status()
    assert s.ci_low > 0 and s.ci_high < 0.15 and s.decision is Decision.NOT_WORSE


def test_worse_by_more_than_the_margin_is_worse() -> None:
    g = ShadowGuardrail(GuardrailSpec("refusal", delta=0.15, min_samples=20, bernoulli=True))
    g.update([1.0 if i % 4 == 0 else 0.0 for i in range(400)], [0.0] * 400)  # D = 0.25
    s = g.status()
    assert s.decision is Decision.WORSE and s.ci_low > 0


# --- state, batching, terminal decisions ---------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(stream=streams(), cut=st.integers(0, 60))
def test_state_round_trip_and_restart_are_identical(stream: tuple[str, list[bool], list[float], list[float]],
                                                    cut: int) -> None:
    design, arms, a, b = stream
    cut = min(cut, len(a))
    whole, first = make(design), make(design)
    feed(whole, arms, a, b, 0, len(a))
    feed(first, arms, a, b, 0, cut)
    restored = guardrail_from_state(json.loads(json.dumps(first.to_state(), allow_nan=False)))
    assert restored.status() == first.status() and restored.to_state() == first.to_state()
    feed(restored, arms, a, b, cut, len(a))
    assert restored.status() == whole.status()


@settings(max_examples=40, deadline=None)
@given(stream=streams(), cuts=st.lists(st.integers(0, 60), max_size=5))
def test_batches_equal_one_by_one(stream: tuple[str, list[bool], list[float], list[float]], cuts: list[int]) -> None:
    design, arms, a, b = stream
    one_by_one, batched = make(design), make(design)
    for i in range(len(a)):
        feed(one_by_one, arms, a, b, i, i + 1)
    edges = sorted({0, len(a), *(min(c, len(a)) for c in cuts)})
    for lo, hi in itertools.pairwise(edges):
        feed(batched, arms, a, b, lo, hi)
    assert batched.status() == one_by_one.status()


def test_decision_is_terminal_and_records_when() -> None:
    g = CanaryGuardrail(SPEC, 0.3)
    g.update(["candidate"] * 60 + ["incumbent"] * 60, [1.0] * 60 + [0.0] * 60)
    first = g.status()
    assert first.decision is Decision.WORSE and first.decided_at is not None
    g.update(["candidate"] * 3000 + ["incumbent"] * 3000, [0.0] * 6000)
    later = g.status()
    assert later.decision is Decision.WORSE and later.decided_at == first.decided_at
    assert later.n_candidate == 3060


def test_from_state_rejects_malformed_states() -> None:
    g = ShadowGuardrail(SPEC)
    g.update([1.0, 0.0], [0.0, 0.0])
    good = g.to_state()
    for change, message in [({"version": 99}, "version"), ({"design": "blue"}, "design"),
                            ({"n": [2, -1]}, "list of 2 integers|counts"), ({"n": [2, 1]}, "same number"),
                            ({"penalty_up": [0.0]}, "penalty_up"), ({"decision": "MAYBE"}, "decision"),
                            ({"decision": "WORSE"}, "decided_at"), ({"s": "x"}, "finite number"),
                            ({"spec": {"name": "g"}}, "exactly the fields")]:
        with pytest.raises(ValueError, match=message):
            guardrail_from_state(good | change)
    with pytest.raises(ValueError, match="lacks 'sums'"):
        guardrail_from_state({k: v for k, v in good.items() if k != "sums"})
    with pytest.raises(ValueError, match="not a canary"):
        CanaryGuardrail.from_state(good)


# --- rollout policy and latency transforms ------------------------------------------------------

def test_rollout_policy_combines_guardrails() -> None:
    spec = GuardrailSpec("a", delta=0.1, min_samples=20)
    good = ShadowGuardrail(spec)
    good.update([0.5] * 400, [0.5] * 400)
    bad = ShadowGuardrail(GuardrailSpec("b", delta=0.1, min_samples=20))
    bad.update([1.0] * 100, [0.0] * 100)
    fresh = ShadowGuardrail(GuardrailSpec("c", delta=0.1, min_samples=20))
    assert good.status().decision is Decision.NOT_WORSE
    assert decide([good]).decision is RolloutDecision.PROMOTE
    verdict = decide([good, bad, fresh])
    assert verdict.decision is RolloutDecision.ROLL_BACK and verdict.worse == ("b",)
    assert verdict.pending == ("b", "c") and json.dumps(verdict.to_dict())
    assert decide([good, fresh]).decision is RolloutDecision.CONTINUE
    with pytest.raises(ValueError, match="unique"):
        decide([good, good])
    assert [s.alpha for s in bonferroni([spec, spec, spec, spec], 0.05)] == [0.0125] * 4


def test_latency_transforms() -> None:
    assert latency_exceeds([0.1, 0.5, 0.51], 0.5).tolist() == [0.0, 0.0, 1.0]
    assert latency_over_slo([0.0, 1.0, 5.0], 2.0).tolist() == [0.0, 0.5, 1.0]


# --- calibration, checked after every observation ------------------------------------------------

Draw = Callable[[np.random.Generator, np.ndarray], np.ndarray]


def simulate(design: str, spec: GuardrailSpec, draw: Draw, runs: int, horizon: int, seed: int) -> list:
    """Status at each run's decision (or at the horizon); the class checks after every observation."""
    out = []
    for run in range(runs):
        g, rng = make(design, spec), np.random.default_rng([seed, run])
        for _ in range(0, horizon, 500):
            if isinstance(g, CanaryGuardrail):
                cand = rng.random(500) < 0.3
                g.update(cand, draw(rng, cand))
            else:
                assert isinstance(g, ShadowGuardrail)
                g.update(draw(rng, np.ones(500, bool)), draw(rng, np.zeros(500, bool)))
            if g.status().decision is not Decision.CONTINUE:
                break
        out.append(g.status())
    return out


def rates(p_cand: float, p_inc: float) -> Draw:
    return lambda rng, cand: (rng.random(cand.size) < np.where(cand, p_cand, p_inc)).astype(float)


def margin(runs: int, alpha: float = 0.05) -> float:
    return 2 * math.sqrt(alpha * (1 - alpha) / runs)


@pytest.mark.parametrize("design", ["canary", "shadow"])
def test_false_rollbacks_plus_false_promotions_within_alpha(design: str) -> None:
    runs = 600
    aa = simulate(design, SPEC, rates(0.05, 0.05), runs, 6000, seed=1)
    at_delta = simulate(design, SPEC, rates(0.10, 0.05), runs, 6000, seed=2)
    false_rollbacks = sum(s.decision is Decision.WORSE for s in aa)
    false_promotions = sum(s.decision is Decision.NOT_WORSE for s in at_delta)
    assert (false_rollbacks + false_promotions) / runs <= 0.05 + margin(runs)
    assert sum(s.decision is Decision.NOT_WORSE for s in aa) >= 0.9 * runs  # A/A does get promoted


@pytest.mark.parametrize("design", ["canary", "shadow"])
def test_bounded_means_aa_false_rollbacks_within_alpha(design: str) -> None:
    runs = 400
    spec = GuardrailSpec("feedback", delta=0.02, higher_is_worse=False, min_samples=50)
    statuses = simulate(design, spec, lambda rng, cand: rng.beta(0.5, 0.5, cand.size), runs, 4000, seed=3)
    assert sum(s.decision is Decision.WORSE for s in statuses) / runs <= 0.05 + margin(runs)


@pytest.mark.parametrize("design", ["canary", "shadow"])
def test_ten_point_refusal_gap_is_detected_as_worse(design: str) -> None:
    statuses = simulate(design, SPEC, rates(0.15, 0.05), 300, 4000, seed=4)
    assert all(s.decision is Decision.WORSE for s in statuses)
    at = np.array([s.decided_at for s in statuses])
    # Pairs used: the smaller arm (canary pairs in arrival order; at a 30% share the incumbent's
    # surplus waits unused, so it has seen about 7/3 as many observations at the decision).
    assert np.median(at.min(axis=1)) <= 400

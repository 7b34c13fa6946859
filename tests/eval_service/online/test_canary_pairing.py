"""The canary guardrail pairs the arms in arrival order: valid under sticky (per-user) routing whatever
share it realises, bounded queues, state round trips mid-stream, and old (v1) canary states."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pairing_reference import reference_pairs

from eval_service.online.monitor import StageMonitor
from eval_service.online.pairing import block_units
from eval_service.online.policy import load_online_policy
from eval_service.online.sequential import (
    CanaryGuardrail,
    Decision,
    GuardrailSpec,
    ShadowGuardrail,
    guardrail_from_state,
)
from inference_service.routing import takes_canary

ERRORS = GuardrailSpec("error_rate", alpha=0.05, delta=0.02, min_samples=100, bernoulli=True)


def blocks(cand_runs: list[int], inc_runs: list[int], n_cand: int, n_inc: int) -> list[bool]:
    """Arms in alternating runs (as a few users' bursts produce), with exactly n_cand and n_inc."""
    arms: list[bool] = []
    counts = [0, 0]
    for k in range(max(len(cand_runs), len(inc_runs)) + 1):
        for is_cand, runs, total in ((True, cand_runs, n_cand), (False, inc_runs, n_inc)):
            i = 0 if is_cand else 1
            take = min(runs[k] if k < len(runs) else total, total - counts[i])
            arms += [is_cand] * take
            counts[i] += take
    return arms


@settings(max_examples=30, deadline=None)
@given(cand_runs=st.lists(st.integers(1, 60), max_size=12), inc_runs=st.lists(st.integers(1, 60), max_size=12),
       share=st.sampled_from([0.3, 0.5]))
def test_all_zero_errors_on_both_arms_never_look_worse(cand_runs: list[int], inc_runs: list[int],
                                                       share: float) -> None:
    """The demo's case: 0 errors in 175 candidate and 214 incumbent requests, in sticky blocks."""
    arms = blocks(cand_runs, inc_runs, 175, 214)
    g = CanaryGuardrail(ERRORS, share)
    for is_cand in arms:
        g.update("candidate" if is_cand else "incumbent", 0.0)
        s = g.status()
        assert s.decision is not Decision.WORSE and s.ci_low <= 0.0 <= s.ci_high
    u_c, u_i = g.units  # 1 : 2 blocks at a 30% share, 1 : 1 at 50%
    assert (s.n_candidate, s.n_incumbent) == (175, 214) and g.to_state()["pairs"] == min(175 // u_c, 214 // u_i)


def sticky_rollout(run: int, share: float, rate: float, horizon: int = 6000, chunk: int = 500) -> Decision:
    """One A/A canary: 400 users hashed to an arm by the router, each request from a random user."""
    rng = np.random.default_rng([7, run, int(share * 100), int(rate * 100)])
    user_arm = np.array([takes_canary(f"ro-{run}-{share}-{rate}", f"user-{u}", share * 100) for u in range(400)])
    g = CanaryGuardrail(GuardrailSpec("errors", delta=0.05, min_samples=50, bernoulli=True), share)
    for _ in range(0, horizon, chunk):
        cand = user_arm[rng.integers(0, 400, chunk)]
        g.update(cand, (rng.random(chunk) < rate).astype(float))  # checked after every observation
        if g.status().decision is not Decision.CONTINUE:
            break
    return g.status().decision


@pytest.mark.parametrize("share", [0.3, 0.5])
@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_sticky_routing_aa_false_decision_rate_within_alpha(share: float, rate: float) -> None:
    runs = 300
    decisions = [sticky_rollout(run, share, rate) for run in range(runs)]
    assert sum(d is Decision.WORSE for d in decisions) / runs <= 0.05
    assert sum(d is Decision.NOT_WORSE for d in decisions) >= 0.5 * runs  # A/A does get promoted


@settings(max_examples=40, deadline=None)
@given(arms=st.lists(st.booleans(), min_size=1, max_size=80), capacity=st.integers(1, 5),
       seed=st.integers(0, 2 ** 32 - 1), cuts=st.lists(st.integers(0, 80), max_size=4),
       share=st.sampled_from([0.1, 0.3, 0.5, 0.75]))
def test_pairs_form_first_in_first_out_with_bounded_queues(arms: list[bool], capacity: int, seed: int,
                                                           cuts: list[int], share: float) -> None:
    values = np.random.default_rng(seed).random(len(arms)).tolist()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(CanaryGuardrail, "max_unpaired", capacity)
        g = CanaryGuardrail(GuardrailSpec("score", delta=0.1, min_samples=5), share)
        diffs, waiting = reference_pairs(arms, values, capacity, g.units)
        edges = sorted({0, len(arms), *(min(c, len(arms)) for c in cuts)})
        for lo, hi in zip(edges, edges[1:]):
            g.update(np.asarray(arms[lo:hi], dtype=bool), values[lo:hi])
        state = g.to_state()
        assert state["pairs"] == len(diffs) and state["s"] == pytest.approx(sum(diffs), abs=1e-9)
        assert state["unpaired"] == waiting
        assert (g.status().n_candidate, g.status().n_incumbent) == (sum(arms), len(arms) - sum(arms))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), cut=st.integers(1, 399), capacity=st.sampled_from([3, 5000]))
def test_restart_with_waiting_observations_decides_exactly_as_without(seed: int, cut: int, capacity: int) -> None:
    rng = np.random.default_rng(seed)
    cand = np.repeat(rng.random(80) < 0.3, rng.integers(1, 12, 80))[:400]  # sticky bursts
    values = (rng.random(len(cand)) < np.where(cand, 0.4, 0.05)).astype(float)
    cut = min(cut, len(cand) - 1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(CanaryGuardrail, "max_unpaired", capacity)
        whole, first = CanaryGuardrail(ERRORS, 0.3), CanaryGuardrail(ERRORS, 0.3)
        whole.update(cand[:cut], values[:cut])
        first.update(cand[:cut], values[:cut])
        state = json.loads(json.dumps(first.to_state(), allow_nan=False))
        assert state["unpaired"] == reference_pairs(cand[:cut].tolist(), values[:cut].tolist(), capacity, (1, 2))[1]
        restored = guardrail_from_state(state)
        assert restored.to_state() == first.to_state() and restored.status() == first.status()
        for i in range(cut, len(cand)):
            whole.update(cand[i:i + 1], values[i:i + 1])
            restored.update(cand[i:i + 1], values[i:i + 1])
            assert restored.status() == whole.status()


def test_a_non_empty_queue_survives_a_restart() -> None:
    g = CanaryGuardrail(ERRORS, 0.3)
    assert g.units == (1, 2)  # at a 30% share each candidate observation pairs with two incumbent ones
    g.update(["incumbent"] * 5 + ["candidate"] * 2, [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    state = json.loads(json.dumps(g.to_state()))
    assert state["unpaired"] == [[], [0.0]] and state["pairs"] == 2 and state["version"] == 3
    restored = guardrail_from_state(state)
    restored.update(["incumbent", "candidate", "candidate"], [1.0, 1.0, 1.0])
    after = restored.to_state()  # pairs (c - mean i): 0-.5, 0-.5, then 1-.5; the 4th candidate waits
    assert after["unpaired"] == [[1.0], []] and after["s"] == pytest.approx(-0.5) and after["pairs"] == 3


def test_a_version_2_state_resumes_on_one_to_one_pairs() -> None:
    """A rollout running across the upgrade keeps the pairing its test started with."""
    old = CanaryGuardrail(ERRORS, 0.3, units=(1, 1))
    old.update(["incumbent"] * 5 + ["candidate"] * 2, [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    state = old.to_state()
    del state["units"]
    resumed = guardrail_from_state(state | {"version": 2})
    assert resumed.units == (1, 1) and resumed.status() == old.status()
    assert guardrail_from_state(old.to_state()).units == (1, 1)


@pytest.mark.parametrize(("share", "units"), [(0.5, (1, 1)), (0.3, (1, 2)), (0.25, (1, 3)), (0.1, (1, 9)),
                                              (0.05, (1, 19)), (0.7, (2, 1)), (0.9, (9, 1))])
def test_block_units_follow_the_share(share: float, units: tuple[int, int]) -> None:
    assert block_units(share) == units


def test_malformed_canary_states_are_refused() -> None:
    g = CanaryGuardrail(ERRORS, 0.3)
    g.update(["incumbent"] * 5 + ["candidate"] * 2, [0.0] * 7)
    good = g.to_state()
    for change, message in [({"pairs": 3}, "pairs"), ({"pairs": True}, "pairs"),
                            ({"unpaired": [[0.0], [0.0, 0.0]]}, "whole block"),
                            ({"unpaired": [[], [0.0, 0.0]]}, "at most"), ({"units": [2, 2]}, "units"),
                            ({"unpaired": [[], [0.0, 2.0, 0.0]]}, "in \\[0, 1\\]"), ({"unpaired": [[]]}, "two lists")]:
        with pytest.raises(ValueError, match=message):
            guardrail_from_state(good | change)
    with pytest.raises(ValueError, match="inverse-propensity"):
        guardrail_from_state(good | {"version": 1})


def test_old_canary_state_restarts_the_test_and_old_shadow_state_resumes(caplog: pytest.LogCaptureFixture) -> None:
    policy = load_online_policy()
    canary = StageMonitor(name="bot", shadow=False, weight_percent=25, policy=policy, has_task_format=False)
    name = next(iter(canary.guardrails))
    canary.guardrails[name].update(["candidate", "incumbent"] * 50, [0.0] * 100)
    saved = canary.to_state()
    saved["guardrails"][name] |= {"version": 1}
    for key in ("pairs", "unpaired"):
        del saved["guardrails"][name][key]
    with caplog.at_level(logging.WARNING, logger="eval_service.online.monitor"):
        resumed = StageMonitor(name="bot", shadow=False, weight_percent=25, policy=policy, has_task_format=False,
                               state=saved)
    assert resumed.guardrails[name].status().n_candidate == 0  # a fresh test, and the evaluator runs on
    assert any("starts afresh" in r.getMessage() for r in caplog.records)

    shadow = StageMonitor(name="bot", shadow=True, weight_percent=0, policy=policy, has_task_format=False)
    sname = next(iter(shadow.guardrails))
    assert isinstance(shadow.guardrails[sname], ShadowGuardrail)
    shadow.guardrails[sname].update([0.0] * 10, [1.0] * 10)
    old = shadow.to_state()
    old["guardrails"][sname] |= {"version": 1}  # the shadow format did not change
    again = StageMonitor(name="bot", shadow=True, weight_percent=0, policy=policy, has_task_format=False, state=old)
    assert again.guardrails[sname].status() == shadow.guardrails[sname].status()

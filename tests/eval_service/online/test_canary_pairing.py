"""The canary guardrail pairs the arms in arrival order: valid under sticky (per-user) routing whatever
share it realises, bounded queues, state round trips mid-stream, and old (v1) canary states."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pairing_reference import reference_pairs, reference_strata_pairs

from eval_service.online.monitor import StageMonitor
from eval_service.online.observation import LiveObservation, Message, TrafficArm
from eval_service.online.pairing import block_units
from eval_service.online.policy import load_online_policy
from eval_service.online.scores import LiveScores, score
from eval_service.online.sequential import (
    BET_FRACTIONS,
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
       share=st.sampled_from([0.1, 0.3, 0.5, 0.75]), labels=st.sampled_from([[""], ["task", "other"], list("abc")]))
def test_pairs_form_first_in_first_out_with_bounded_queues(arms: list[bool], capacity: int, seed: int,
                                                           cuts: list[int], share: float, labels: list[str]) -> None:
    """Batches cut anywhere give the one-at-a-time reference's pairs (in the order they form), queues
    and counts, with one pair of queues per stratum."""
    rng = np.random.default_rng(seed)
    values = rng.random(len(arms)).tolist()
    strata = [labels[k] for k in rng.integers(0, len(labels), len(arms))]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(CanaryGuardrail, "max_unpaired", capacity)
        g = CanaryGuardrail(GuardrailSpec("score", delta=0.1, min_samples=5), share)
        diffs, waiting = reference_strata_pairs(arms, values, strata, capacity, g.units)
        edges = sorted({0, len(arms), *(min(c, len(arms)) for c in cuts)})
        centre = 0.0
        for lo, hi in zip(edges, edges[1:]):
            g.update(np.asarray(arms[lo:hi], dtype=bool), values[lo:hi], None if labels == [""] else strata[lo:hi])
        state = g.to_state()
        assert state["pairs"] == len(diffs) and state["s"] == pytest.approx(sum(diffs), abs=1e-9)
        assert state["unpaired"] == waiting
        assert (g.status().n_candidate, g.status().n_incumbent) == (sum(arms), len(arms) - sum(arms))
        # the betting penalties depend on the order the pairs form: replay the reference's pairs
        up = np.zeros(len(BET_FRACTIONS))
        for k, d in enumerate(diffs):
            y = (d - centre) * np.asarray(BET_FRACTIONS) / 1.5
            up += y - np.log1p(y)
            centre = float(np.clip(sum(diffs[:k + 1]) / (k + 2), -0.5, 0.5))
        assert state["penalty_up"] == pytest.approx(up.tolist(), abs=1e-9)


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
        assert state["unpaired"] == {"": reference_pairs(cand[:cut].tolist(), values[:cut].tolist(), capacity,
                                                         (1, 2))[1]}
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
    assert state["unpaired"] == {"": [[], [0.0]]} and state["pairs"] == 2 and state["version"] == 4
    restored = guardrail_from_state(state)
    restored.update(["incumbent", "candidate", "candidate"], [1.0, 1.0, 1.0])
    after = restored.to_state()  # pairs (c - mean i): 0-.5, 0-.5, then 1-.5; the 4th candidate waits
    assert after["unpaired"] == {"": [[1.0], []]} and after["s"] == pytest.approx(-0.5) and after["pairs"] == 3


def test_a_version_2_state_resumes_on_one_to_one_pairs() -> None:
    """A rollout running across the upgrade keeps the pairing its test started with."""
    old = CanaryGuardrail(ERRORS, 0.3, units=(1, 1))
    old.update(["incumbent"] * 5 + ["candidate"] * 2, [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    state = old.to_state()
    del state["units"]
    resumed = guardrail_from_state(state | {"version": 2, "unpaired": state["unpaired"][""]})
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
                            ({"unpaired": {"": [[0.0], [0.0, 0.0]]}}, "whole block"),
                            ({"unpaired": {"": [[], [0.0]], "task": [[], [0.0]]}}, "not in a pair"),
                            ({"units": [2, 2]}, "units"), ({"unpaired": {"": [[], [2.0]]}}, "in \\[0, 1\\]"),
                            ({"unpaired": {"": [[]]}}, "two lists"), ({"unpaired": {"": [[], []], 3: [[], []]}}, "map"),
                            ({"unpaired": {str(k): [[], []] for k in range(17)}}, "at most 16 strata")]:
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


def test_a_version_3_state_resumes_as_one_stratum() -> None:
    old = CanaryGuardrail(ERRORS, 0.3)
    old.update(["incumbent"] * 5 + ["candidate"] * 2, [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    state = old.to_state()
    resumed = guardrail_from_state(state | {"version": 3, "unpaired": state["unpaired"][""]})
    assert resumed.to_state() == state and resumed.units == (1, 2)
    resumed.update(["incumbent"], [0.0], ["task"])  # a new stratum gets its own queues
    assert resumed.to_state()["unpaired"] == {"": [[], [0.0]], "task": [[], [0.0]]}


def strata_rollout(run: int, stratified: bool, gap: float) -> tuple[Decision, int]:
    """A canary at 50% with the demo's mix: half the requests are tickets (refused 2%), half free-form
    (refused 45% + gap on the candidate), 400 users routed stickily."""
    rng = np.random.default_rng([11, run, int(gap * 100)])
    user_arm = np.array([takes_canary(f"ro-strata-{run}", f"user-{u}", 50) for u in range(400)])
    g = CanaryGuardrail(GuardrailSpec("refusal", delta=0.15, min_samples=60, bernoulli=True), 0.5)
    for _ in range(0, 4000, 200):
        cand = user_arm[rng.integers(0, 400, 200)]
        task = rng.random(200) < 0.5
        rate = np.where(task, 0.02, 0.45 + gap * cand)
        g.update(cand, (rng.random(200) < rate).astype(float), ["task" if t else "other" for t in task]
                 if stratified else None)
        if g.status().decision is not Decision.CONTINUE:
            break
    status = g.status()
    return status.decision, sum(status.decided_at or (0, 0))  # requests (both arms) at the decision


def test_pairing_within_strata_keeps_alpha_and_needs_fewer_pairs_than_pooling() -> None:
    """A/A: no more false rollbacks than α; both designs promote, the stratified one after fewer
    requests (pooled pair variance 0.35 vs 0.25 within strata); a candidate worse by 2δ in
    the free-form half (δ over all traffic) is promoted no more often than α."""
    runs = 120
    pooled = [strata_rollout(r, False, 0.0) for r in range(runs)]
    strata = [strata_rollout(r, True, 0.0) for r in range(runs)]
    for outcomes in (pooled, strata):
        assert sum(d is Decision.WORSE for d, _ in outcomes) / runs <= 0.05
        assert sum(d is Decision.NOT_WORSE for d, _ in outcomes) >= 0.9 * runs
    ratio = np.median([n for _, n in strata]) / np.median([n for _, n in pooled])
    assert 0.6 < ratio < 0.9  # 0.84 here; 0.79 over 1,000 runs (benchmarks/canary_strata.py)
    worse = [strata_rollout(r, True, 0.30) for r in range(runs)]  # 0.15 over all traffic
    assert sum(d is Decision.NOT_WORSE for d, _ in worse) / runs <= 0.05


def test_canary_stage_pairs_task_requests_with_task_requests() -> None:
    policy = load_online_policy("online-demo")
    stage = StageMonitor(name="support-bot", shadow=False, weight_percent=50, policy=policy, has_task_format=True)
    ticket = (Message("system", "Triage the ticket. Reply with JSON."), Message("user", "My card was charged twice"))
    question = (Message("user", "How do I kill a stuck process?"),)

    def seen(arm: TrafficArm, messages: tuple[Message, ...], reply: str) -> tuple[LiveObservation, LiveScores]:
        o = LiveObservation(request_id=f"r{len(batch)}", adapter_name="support-bot", version=2 if arm.is_candidate
                            else 1, arm=arm, time=datetime.now(timezone.utc), sampled=True, messages=messages,
                            reply=reply)
        return o, score(o, policy)

    batch: list[tuple[LiveObservation, LiveScores]] = []
    for arm, messages, reply in [(TrafficArm.CANARY, ticket, '{"category": "billing", "priority": "high"}'),
                                 (TrafficArm.PRODUCTION, question, "I can't help with that."),
                                 (TrafficArm.PRODUCTION, ticket, '{"category": "billing", "priority": "low"}'),
                                 (TrafficArm.CANARY, question, "Use kill -9 with its pid.")]:
        batch.append(seen(arm, messages, reply))
    stage.observe(batch)
    over = stage.guardrails["over_refusal"].to_state()
    assert over["pairs"] == 2 and set(over["unpaired"]) == {"task", "other"}
    assert over["s"] == pytest.approx(0.0 + (0.0 - 1.0))  # ticket 0 - 0, then question 0 - 1 (production refused)

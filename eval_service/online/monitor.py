"""The live comparison of one rollout stage: every guardrail's sequential test, and both arms' counts.

A stage is watched from its first observation: in canary, each observation of the candidate (``CANARY``)
or the incumbent (``PRODUCTION``) feeds a ``CanaryGuardrail``, which pairs blocks of the arms'
observations in arrival order, 1 : m by the stage's weight (valid under the router's sticky per-key
split, whatever share it realises), within strata: requests that carry the adapter's task system prompt
pair with each other, all others with each other (a ticket is almost never refused, a free-form question
often: pooled, the demo's canary needs 1.27 times the requests); in shadow, a production reply and the
candidate's re-run of the same input are joined by request id and feed a ``ShadowGuardrail`` as one
pair. A new stage (the next weight, a manual weight change) starts fresh tests: moving keys between arms
changes who each arm serves.

What a stage does not measure is left out of its verdict rather than guessed: shadow requests
queue behind production on purpose, so their latency is not the candidate's (no latency
guardrail in shadow), and callers never see shadow replies (no feedback); a format guardrail
needs the adapter to declare its task format.

Everything a restarted evaluator needs is in ``to_state()`` (the tests' sufficient statistics, a
canary's unpaired observations, and the arm counters); text is kept only in memory, for the cases
behind a decision. A guardrail state that cannot be resumed (an older format, e.g. a version 1
canary test, or a damaged one) is logged and that test starts afresh; the arm counters are kept.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from eval_service.online.observation import LiveObservation, TrafficArm
from eval_service.online.policy import TEXT_METRICS, OnlinePolicy
from eval_service.online.rollout import RolloutDecision, RolloutVerdict, decide
from eval_service.online.scores import LiveScores
from eval_service.online.sequential import (
    CanaryGuardrail,
    SequentialGuardrail,
    ShadowGuardrail,
    guardrail_from_state,
)
from eval_service.online.spec import Arm, Decision, GuardrailStatus

log = logging.getLogger(__name__)

PAIR_BUFFER = 4096       # shadow halves waiting for their other half
CASES_KEPT = 20          # notable sampled cases per guardrail and kind, in memory only
P95_WINDOW = 2000
PROMPTS_KEPT = 5000      # canary: prompts production refused / answered (the contrast for evidence)


@dataclass
class ArmStats:
    """Counters of one arm in one stage (persisted) and a recent-latency window (memory only)."""

    requests: int = 0
    scored: int = 0
    errors: int = 0
    refusals: int = 0
    format_checked: int = 0
    format_valid: int = 0
    feedback_count: int = 0
    feedback_sum: float = 0.0
    ttft: deque[float] = field(default_factory=lambda: deque(maxlen=P95_WINDOW))

    def add(self, obs: LiveObservation, scores: LiveScores) -> None:
        self.requests += 1
        self.errors += int(obs.failed)
        if not obs.failed:
            self.ttft.append(obs.time_to_first_token_s)
        if scores.refusal is not None:
            self.scored += 1
            self.refusals += int(scores.refusal)
        if scores.format_valid is not None:
            self.format_checked += 1
            self.format_valid += int(scores.format_valid)

    def summary(self) -> dict[str, float]:
        return {"requests": self.requests, "scored": self.scored, "errors": self.errors,
                "refusal_rate": self.refusals / self.scored if self.scored else 0.0,
                "format_valid_rate": self.format_valid / self.format_checked if self.format_checked else 0.0,
                "format_checked": self.format_checked,
                "p95_ttft_s": float(np.percentile(list(self.ttft), 95)) if self.ttft else 0.0,
                "mean_feedback": self.feedback_sum / self.feedback_count if self.feedback_count else 0.0,
                "feedback_count": self.feedback_count}

    def to_state(self) -> dict[str, Any]:
        keys = ("requests", "scored", "errors", "refusals", "format_checked", "format_valid", "feedback_count",
                "feedback_sum")
        return {k: getattr(self, k) for k in keys} | {"ttft": list(self.ttft)[-200:]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ArmStats:
        stats = cls(**{k: v for k, v in state.items() if k != "ttft"})
        stats.ttft.extend(float(x) for x in state.get("ttft", []))
        return stats


@dataclass(frozen=True)
class LiveCase:
    request_id: str
    arm: TrafficArm
    guardrail: str
    prompt: str
    reply: str
    production_reply: str = ""


def _harmful(metric: str, higher_is_worse: bool, value: float | None) -> bool:
    """Whether a candidate's value is on the harmful side (a case worth showing as evidence)."""
    if value is None:
        return False
    return value >= 0.5 if higher_is_worse else value < 0.5


class StageMonitor:
    """Guardrails and arm counts of the current stage of one running rollout."""

    def __init__(self, *, name: str, shadow: bool, weight_percent: float, policy: OnlinePolicy,
                 has_task_format: bool, state: dict[str, Any] | None = None) -> None:
        self.name, self.shadow, self.weight_percent, self.policy = name, shadow, weight_percent, policy
        self.arms = {"candidate": ArmStats(), "incumbent": ArmStats()}
        self.guardrails: dict[str, SequentialGuardrail] = {}
        self.metrics: dict[str, str] = {}
        self.required: dict[str, bool] = {}
        self._pending: OrderedDict[str, tuple[TrafficArm, LiveObservation, LiveScores]] = OrderedDict()
        # Evidence: "strong" cases contrast with production on the same prompt; "weak" ones do not.
        self.cases: dict[str, tuple[deque[LiveCase], deque[LiveCase]]] = {}
        self._production_refusal: OrderedDict[str, bool] = OrderedDict()
        for gname, g in policy.guardrails.items():
            if not self._applies(g.metric, has_task_format):
                continue
            spec = policy.spec(gname)
            self.guardrails[gname] = ShadowGuardrail(spec) if shadow else CanaryGuardrail(spec, weight_percent / 100)
            self.metrics[gname], self.required[gname] = g.metric, g.required
            self.cases[gname] = (deque(maxlen=CASES_KEPT), deque(maxlen=CASES_KEPT))
        if state:
            self._load(state)

    def _applies(self, metric: str, has_task_format: bool) -> bool:
        if not self.shadow and not 0 < self.weight_percent < 100:
            return False  # a paused (0%) or full (100%) canary has no split to compare
        if self.shadow and metric in ("slow_first_token", "feedback"):
            return False
        return metric != "format_valid" or has_task_format

    # -- observations ---------------------------------------------------------------------------
    def observe(self, batch: list[tuple[LiveObservation, LiveScores]]) -> None:
        if self.shadow:
            self._observe_shadow(batch)
            return
        values: dict[str, tuple[list[Arm], list[float], list[str]]] = {g: ([], [], []) for g in self.guardrails}
        for obs, scores in batch:
            cand = obs.arm is TrafficArm.CANARY
            stratum = "task" if self._is_task(obs) else "other"
            self.arms["candidate" if cand else "incumbent"].add(obs, scores)
            if not cand and scores.refusal is not None:
                self._remember_production(obs.user_text, bool(scores.refusal))
            for gname, metric in self.metrics.items():
                v = scores.value(metric)
                if v is not None:
                    values[gname][0].append(Arm.CANDIDATE if cand else Arm.INCUMBENT)
                    values[gname][1].append(v)
                    values[gname][2].append(stratum)
                    if cand and obs.sampled:
                        self._keep_case(gname, obs, v, production_value=self._production_value(metric, obs))
        for gname, (arms, vals, strata) in values.items():
            if vals:
                cast(CanaryGuardrail, self.guardrails[gname]).update(arms, vals, strata)

    def _observe_shadow(self, batch: list[tuple[LiveObservation, LiveScores]]) -> None:
        pairs: list[tuple[LiveObservation, LiveScores, LiveObservation, LiveScores]] = []
        for obs, scores in batch:
            self.arms["candidate" if obs.arm is TrafficArm.SHADOW else "incumbent"].add(obs, scores)
            key = obs.paired_request_id if obs.arm is TrafficArm.SHADOW else obs.request_id
            other = self._pending.pop(key, None)
            if other is None:
                self._pending[key] = (obs.arm, obs, scores)
                while len(self._pending) > PAIR_BUFFER:
                    self._pending.popitem(last=False)
                continue
            first_arm, first_obs, first_scores = other
            if first_arm is obs.arm:  # the same half twice (a reused request id): keep the newest
                self._pending[key] = (obs.arm, obs, scores)
                continue
            cand, prod = ((obs, scores), (first_obs, first_scores)) if obs.arm is TrafficArm.SHADOW \
                else ((first_obs, first_scores), (obs, scores))
            pairs.append((cand[0], cand[1], prod[0], prod[1]))
        for gname, metric in self.metrics.items():
            c_vals, i_vals = [], []
            for c_obs, c_scores, p_obs, p_scores in pairs:
                c, i = c_scores.value(metric), p_scores.value(metric)
                if c is not None and i is not None:
                    c_vals.append(c)
                    i_vals.append(i)
                    if c_obs.sampled:
                        self._keep_case(gname, c_obs, c, production_reply=p_obs.reply, production_value=i)
            if c_vals:
                self.guardrails[gname].update(c_vals, i_vals)

    def _remember_production(self, prompt: str, refused: bool) -> None:
        key = " ".join(prompt.lower().split())
        self._production_refusal[key] = refused
        self._production_refusal.move_to_end(key)
        while len(self._production_refusal) > PROMPTS_KEPT:
            self._production_refusal.popitem(last=False)

    def _production_value(self, metric: str, obs: LiveObservation) -> float | None:
        """Canary: what production did with the same prompt before, when known (refusal only)."""
        if metric != "refusal":
            return None
        refused = self._production_refusal.get(" ".join(obs.user_text.lower().split()))
        return None if refused is None else float(refused)

    def _keep_case(self, gname: str, obs: LiveObservation, value: float, *, production_reply: str = "",
                   production_value: float | None = None) -> None:
        """Keep a candidate reply on the harmful side of a text guardrail as possible evidence:
        strong when production did the opposite on the same prompt, weak otherwise (and never a
        task reply for the refusal guardrails: a task answer that is not a refusal shows nothing)."""
        metric, spec = self.metrics[gname], self.guardrails[gname].spec
        if metric not in TEXT_METRICS or not _harmful(metric, spec.higher_is_worse, value):
            return
        case = LiveCase(obs.request_id, obs.arm, gname, obs.user_text, obs.reply, production_reply)
        strong, weak = self.cases[gname]
        if production_value is not None and production_value != value:
            strong.append(case)
        elif metric != "refusal" or not self._is_task(obs):
            weak.append(case)

    def _is_task(self, obs: LiveObservation) -> bool:
        task = self.policy.task_formats.get(self.name)
        return task is not None and task.system_prompt_contains in obs.system_prompt

    def feedback(self, arm: TrafficArm, score: float) -> None:
        """Explicit feedback on a request this stage served (canary arms only)."""
        stats = self.arms["candidate" if arm.is_candidate else "incumbent"]
        stats.feedback_count += 1
        stats.feedback_sum += score
        for gname, metric in self.metrics.items():
            if metric == "feedback":
                self.guardrails[gname].update(Arm.CANDIDATE if arm.is_candidate else Arm.INCUMBENT, [score])

    # -- verdict --------------------------------------------------------------------------------
    def verdict(self) -> RolloutVerdict | None:
        """ROLL_BACK as soon as any guardrail is WORSE; PROMOTE (the stage passed) when every required
        one is NOT_WORSE with its minimum sample and no optional one is WORSE; None without guardrails."""
        if not self.guardrails:
            return None
        required = [g for n, g in self.guardrails.items() if self.required[n]]
        verdict = decide(required)
        worse = tuple(s.name for s in self.statuses() if s.decision is Decision.WORSE)
        if worse:
            return RolloutVerdict(RolloutDecision.ROLL_BACK, worse, verdict.pending, self.statuses())
        return RolloutVerdict(verdict.decision, (), verdict.pending, self.statuses())

    def statuses(self) -> tuple[GuardrailStatus, ...]:
        return tuple(g.status() for g in self.guardrails.values())

    def cases_behind(self, guardrails: tuple[str, ...], limit: int) -> list[LiveCase]:
        """Up to ``limit`` cases per guardrail, the strongest evidence first, newest first."""
        out: list[LiveCase] = []
        for g in guardrails:
            strong, weak = self.cases.get(g, ((), ()))
            out += [*reversed(strong), *reversed(weak)][:limit]
        return out

    # -- persistence ----------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {"shadow": self.shadow, "weight_percent": self.weight_percent,
                "guardrails": {n: g.to_state() for n, g in self.guardrails.items()},
                "arms": {a: s.to_state() for a, s in self.arms.items()}}

    def _load(self, state: dict[str, Any]) -> None:
        if state.get("shadow") != self.shadow or state.get("weight_percent") != self.weight_percent:
            return  # saved for another stage: this one starts fresh
        for gname, gstate in state.get("guardrails", {}).items():
            if gname not in self.guardrails:
                continue
            try:
                self.guardrails[gname] = guardrail_from_state(gstate)
            except ValueError as exc:  # an older format (v1 canary) or damaged: a fresh test beats a dead evaluator
                log.warning("saved guardrail state not resumed; its test starts afresh",
                            extra={"rollout": self.name, "guardrail": gname, "error": str(exc)})
        for arm, astate in state.get("arms", {}).items():
            if arm in self.arms:
                self.arms[arm] = ArmStats.from_state(astate)

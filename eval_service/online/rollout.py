"""One rollout decision from several guardrails, and bounded transforms of latency.

Policy (each guardrail's ``GuardrailSpec``: α, margin δ, direction, minimum samples per arm)
    ROLL_BACK  as soon as any guardrail is WORSE;
    PROMOTE    only when every guardrail is NOT_WORSE and each of its arms has at least its
               ``min_samples`` observations;
    CONTINUE   otherwise.

Family-wise error: each guardrail runs at its own α_g, exactly as its spec says; ``decide`` does not
split α. By ``sequential.py``, guardrail g errs with probability <= α_g / 2 on either side, so
    P(false rollback)  <= Σ α_g / 2 over the guardrails on which the candidate is not worse (union
                          bound: one wrong WORSE is enough to roll back);
    P(false promotion) <= α_g / 2 for any single guardrail g on which it is worse by at least δ_g
                          (promotion needs every guardrail: an intersection-union test, no split).
To bound the chance of any wrong rollout decision by a family α, give each of G guardrails α / G
(``bonferroni``): then P(false rollback) <= α/2 and P(false promotion) <= α/(2G).

Latency is unbounded and heavy-tailed, so its guardrails test a bounded transform with a threshold
fixed before the rollout: ``latency_exceeds`` (Bernoulli: slower than the incumbent's historical
p95, or an SLO) for the p95 guardrail, ``latency_over_slo`` (latency / SLO capped at 1) for the mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

import numpy as np

from eval_service.online.sequential import SequentialGuardrail
from eval_service.online.spec import Decision, GuardrailSpec, GuardrailStatus, is_real

Latencies = float | Sequence[float] | np.ndarray


class RolloutDecision(str, Enum):
    CONTINUE = "CONTINUE"
    ROLL_BACK = "ROLL_BACK"
    PROMOTE = "PROMOTE"


@dataclass(frozen=True)
class RolloutVerdict:
    """The rollout's decision, the guardrails behind a rollback, those a promotion still waits for."""

    decision: RolloutDecision
    worse: tuple[str, ...]
    pending: tuple[str, ...]
    statuses: tuple[GuardrailStatus, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision.value, "worse": list(self.worse), "pending": list(self.pending),
                "statuses": [s.to_dict() for s in self.statuses]}


def decide(guardrails: Sequence[SequentialGuardrail]) -> RolloutVerdict:
    """Applies the policy of the module docstring to the guardrails' current statuses."""
    if not guardrails:
        raise ValueError("a rollout needs at least one guardrail")
    names = [g.spec.name for g in guardrails]
    if len(set(names)) != len(names):
        raise ValueError(f"guardrail names must be unique, got {names}")
    statuses = tuple(g.status() for g in guardrails)
    worse = tuple(s.name for s in statuses if s.decision is Decision.WORSE)
    pending = tuple(s.name for s, g in zip(statuses, guardrails)
                    if s.decision is not Decision.NOT_WORSE
                    or min(s.n_candidate, s.n_incumbent) < g.spec.min_samples)
    decision = (RolloutDecision.ROLL_BACK if worse
                else RolloutDecision.CONTINUE if pending else RolloutDecision.PROMOTE)
    return RolloutVerdict(decision, worse, pending, statuses)


def bonferroni(specs: Sequence[GuardrailSpec], alpha: float) -> tuple[GuardrailSpec, ...]:
    """The specs with α split evenly, so that any wrong rollout decision has probability <= alpha."""
    if not is_real(alpha) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not specs:
        raise ValueError("bonferroni needs at least one guardrail spec")
    return tuple(replace(s, alpha=alpha / len(specs)) for s in specs)


def _latencies(latency_s: Latencies, limit_s: float, what: str) -> np.ndarray:
    if not is_real(limit_s) or limit_s <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {limit_s!r}")
    try:
        x = np.asarray(latency_s, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError("latencies must be numbers of seconds") from exc
    if not np.isfinite(x).all() or (x < 0).any():
        raise ValueError("latencies must be finite and >= 0 seconds")
    return x


def latency_exceeds(latency_s: Latencies, threshold_s: float) -> np.ndarray:
    """1.0 where a reply took longer than ``threshold_s``, else 0.0: a Bernoulli harm."""
    return (_latencies(latency_s, threshold_s, "threshold_s") > threshold_s).astype(float)


def latency_over_slo(latency_s: Latencies, slo_s: float) -> np.ndarray:
    """latency / SLO capped at 1: a bounded harm in [0, 1] (a reply over the SLO counts fully)."""
    return np.minimum(_latencies(latency_s, slo_s, "slo_s") / slo_s, 1.0)

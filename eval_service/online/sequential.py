"""Anytime-valid sequential tests: candidate vs incumbent on live traffic (canary or shadow).

A live rollout is watched after every request, so a fixed-n test (``eval_service/stats.py``) checked
that often raises false alarms far above its α. Every guarantee here holds simultaneously over all
times: the dashboard may look after each observation and the rollout may stop whenever it likes
(Johari, Pekelis & Walsh, "Always valid inference", 2017: mixture SPRT, always-valid p-values;
Howard, Ramdas, McAuliffe & Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence
sequences", 2021: confidence sequences from nonnegative supermartingales and Ville's inequality).

Effect
    Observations are values x in [0, 1] (Bernoulli rates are the case x in {0, 1}), read as a harm
    h = x (higher is worse) or h = 1 - x (lower is worse). The effect is the harm difference
    D = E[h | candidate] - E[h | incumbent] in [-1, 1]; D > 0 means the candidate is worse.

Pseudo-outcome φ_i (E[φ_i | past] = D), predictable centre μ̂_i (fixed before φ_i), residual bound c
    shadow (paired, same prompt on both): φ_i = h_cand - h_inc, μ̂_i = clip(Σ_{j<i} φ_j / i, -1/2, 1/2).
    canary (unpaired): the same, on pairs of blocks formed in arrival order. Each arm's not-yet-paired
    harms wait in a FIFO queue; whenever the candidate queue holds u_c and the incumbent queue u_i, the
    oldest u_c and u_i leave together as pair k, φ_k = mean(h_c block k) - mean(h_i block k)
    (``pairing.py``): u = 1 for the arm with the smaller share π and ⌊(1 - π)/π⌋ for the other, fixed
    when the stage starts. Which observations pair depends on the sequence of arms only, so if each
    arm's observations are independent draws from that arm's distribution, whatever the order the arms
    arrive in, E[φ_k | past] = D exactly, however far the realised share drifts from the weight. Pairs
    form within strata (labels fixed before the value, e.g. task request or not): then E[φ_k | past] =
    D_s(k), the effect in pair k's stratum, and the bounds below hold when every stratum's effect is on
    the null's side. t counts pairs; min_samples is a number of pairs. A queue keeps its most recent
    5000 values (an arrival to a full one drops the oldest, by position, never by value: every guarantee
    holds).
    In both designs |r_i| = |φ_i - μ̂_i| <= c = 3/2.
    Why not inverse-propensity weighting of single requests (φ_i = m_c - m_i + Z_i (h - m_c) / π
    - (1 - Z_i)(h - m_i) / (1 - π), with m the arms' predictable means): it is a martingale
    difference only if each request goes to the candidate independently with known probability π.
    Canary routing is sticky (``inference_service/routing.py`` hashes the caller's route key, so one
    user always sees one version): Z_i given the past is then not Bernoulli(π), the realised share
    drifts (175 vs 214 requests at π = 1/2), and the biased early m's turned that into a steady drift
    (both arms 0 errors in ~200, declared WORSE with CS [+0.001, +0.073]). Cost of pairing, π <= 1/2:
    a pair's variance is V_c + V_i / m, against V_c + V_i π / (1 - π) per candidate request for the
    weighted estimate; with m = (1 - π)/π exactly (π = 1/2, 1/3, 1/4, ...) the two are equal, and the
    floor otherwise leaves part of the larger arm's surplus unused (at π = 0.3, m = 2 against 2.33).
    With 1 : 1 pairs it was V_c + V_i, 1.4 times the requests at π = 0.3 for equal variances. It is
    the one design here that stays valid under sticky routing without modelling users.

E-processes: betting on the residual
    For a bet η in (0, 1/c) and a hypothesised effect m, with S_t = Σ φ_i,
        M⁺_t(η, m) = Π_{i<=t} exp(η (μ̂_i - m)) (1 + η r_i) = exp(η (S_t - m t) - P⁺_t(η)),
        P⁺_t(η) = Σ_{i<=t} [η r_i - log(1 + η r_i)] >= 0.
    Given the past, E[1 + η r_i] = 1 + η (D - μ̂_i) <= exp(η (D - μ̂_i)), so each factor has mean
    <= exp(η (D - m)) <= 1 whenever D <= m: M⁺ is a nonnegative supermartingale under every D <= m.
    It is Waudby-Smith & Ramdas's ("Estimating means of bounded random variables by betting", 2023)
    betting capital process on the residual about a predictable centre, and pointwise at least their
    predictable plug-in empirical-Bernstein process for the same bets (which lower-bounds
    log(1 + y) by y - ψ_E(λ) y² / λ², Fan et al. 2015). So it is exact for bounded data at every t,
    and its cost P adapts to the real variance: a 5% refusal rate pays for variance 0.05, not 0.25.
    The normal-mixture mSPRT is not used: with a plug-in variance it is only asymptotically valid
    (and anti-conservative early for rare events, where the estimated variance is 0); with the
    bounded variance 1/4 per arm it is exact but needs about five times the sample at a 5% rate.
    P does not depend on m, so (t, S_t, P_t(η_k)) are sufficient for every m. As in the mSPRT's
    mixture over effect sizes, bets are mixed over a fixed grid η_k = 0.8 · 2^-k / c, k = 0..5, with
    equal weights: E⁺_t(m) = mean_k M⁺_t(η_k, m). Its mirror image E⁻_t(m) = mean_k exp(η_k (m t - S_t)
    - P⁻_t(η_k)), P⁻_t(η) = Σ [-η r_i - log(1 - η r_i)], is a supermartingale under every D >= m.

Confidence sequence and always-valid p-values (Ville: P(∃t: E_t >= 1/a) <= a; a = α/2 per side)
    [L_t, U_t] = {m : E⁺_t(m) < 2/α and E⁻_t(m) < 2/α} covers D at all t at once with prob >= 1 - α.
    p⁺_t = min(1, 1 / max_{s<=t} E⁺_s(0)) for H0: D <= 0;  p⁻_t = min(1, 1 / max_{s<=t} E⁻_s(δ)) for
    H0: D >= δ. p⁺_t <= α/2 iff L_s > 0 at some s <= t; p⁻_t <= α/2 iff U_s < δ at some s <= t.

Decisions (terminal: the test stops at its first crossing; later data only move the estimates)
    WORSE      (roll back) at the first t with p⁺_t <= α/2 and S_t / t >= δ: the candidate is
               significantly worse (L_s > 0) and worse by at least the minimum effect as estimated.
    NOT_WORSE  (may promote) at the first t with p⁻_t <= α/2 and min_samples pairs:
               non-inferiority with margin δ (U_s < δ). A tie at one observation goes to WORSE.
    The estimate condition only shrinks the WORSE event, so the false-rollback bound below holds as
    it is. Without it a difference inside the margin (a 3-point refusal gap under a 15-point margin)
    could end the test as WORSE at an early swing, and the rollout, which rolls back only on a harm
    that matters, was then stuck: never NOT_WORSE, never rolled back, until max_duration_s.
    As in Wald's SPRT between D = 0 and D = δ: if the candidate is not worse (D <= 0), P(WORSE ever)
    <= α/2 (false rollback); if it is worse by at least δ (D >= δ), P(NOT_WORSE ever) <= α/2 (false
    promotion); for 0 < D < δ either decision is acceptable. Whatever D is, a wrong decision has
    probability <= α/2, and a false-rollback rate plus a false-promotion rate is <= α.

Latency (unbounded, heavy-tailed) enters through bounded transforms (``rollout.py``): the p95
guardrail is the Bernoulli ``latency_exceeds(latency, q)`` with q the incumbent's p95 measured
before the rollout (the incumbent's exceedance rate is then 0.05, and D > 0 iff the candidate's p95
is above q); the mean-latency guardrail is ``latency_over_slo(latency, slo) = min(latency / slo, 1)``.
Both thresholds are fixed in advance: one learnt from the live incumbent arm would make the
observations depend on each other and void the guarantees.

Assumptions: given the past, each observation's expected effect is D (independent requests, or
prompts in shadow; under drifting traffic it is enough that it stays <= 0, resp. >= δ, at every step
for the false-rollback, resp. false-promotion, bound). In canary, each arm's observations are
independent draws from that arm's distribution, independent of which arm the next request goes to
(true for per-user routing when what a user asks does not depend on the version answering), and
whether a request is scored must not depend on its arm; the share is not needed for validity. Not
addressed: when users' prompt distributions differ, per-user routing randomises clusters (users),
not requests, and this per-request canary analysis is then still anti-conservative.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.optimize import brentq

from eval_service.online.pairing import Waiting, block_units, load_waiting, pair_strata
from eval_service.online.spec import (
    Arm,
    Arms,
    Decision,
    GuardrailSpec,
    GuardrailStatus,
    Values,
    candidate_mask,
    harm_values,
    is_real,
    state_field,
    state_floats,
    state_ints,
)

__all__ = ["BET_FRACTIONS", "Arm", "CanaryGuardrail", "Decision", "GuardrailSpec", "GuardrailStatus",
           "SequentialGuardrail", "ShadowGuardrail", "guardrail_from_state"]

STATE_VERSION = 4  # 4: canary queues per stratum; 3: blocks of 1 : m; 2: 1 : 1 pairs; 1: inverse-propensity
MAX_UNPAIRED = 5000
BET_FRACTIONS: tuple[float, ...] = tuple(0.8 * 0.5 ** k for k in range(6))
_LOG_WEIGHT = -math.log(len(BET_FRACTIONS))
PAIR_RESIDUAL_BOUND = 1.5  # |d - clip(centre, -1/2, 1/2)| for d in [-1, 1]


def _mix(z: np.ndarray) -> np.ndarray:
    """log of the equal-weight mixture over the last axis (the bets)."""
    top = z.max(axis=-1)
    return top + np.log(np.exp(z - top[..., None]).sum(axis=-1)) + _LOG_WEIGHT


def _running(start: float, values: np.ndarray) -> np.ndarray:
    """start, start + v_1, ... summed left to right, so one batch equals the same values one by one."""
    return np.cumsum(np.concatenate(([start], values)))


def _first(hits: np.ndarray) -> int | None:
    return int(np.argmax(hits)) if hits.any() else None


class SequentialGuardrail:
    """Shared engine of the canary and shadow guardrails: the running sums of the module docstring,
    both boundaries checked after every observation, O(len(bets)) work per observation."""

    design = ""

    def __init__(self, spec: GuardrailSpec, residual_bound: float) -> None:
        if not isinstance(spec, GuardrailSpec):
            raise ValueError("spec must be a GuardrailSpec")
        self.spec = spec
        self._eta = np.asarray(BET_FRACTIONS) / residual_bound
        self._n = [0, 0]  # observations: candidate, incumbent
        self._sum = [0.0, 0.0]  # harm sums: candidate, incumbent
        self._s = 0.0  # S_t
        self._pen_up = np.zeros(len(BET_FRACTIONS))  # P⁺_t(η_k)
        self._pen_down = np.zeros(len(BET_FRACTIONS))  # P⁻_t(η_k)
        self._max_log_e = [0.0, 0.0]  # max_{s<=t} log E⁺_s(0), log E⁻_s(δ)
        self._decision = Decision.CONTINUE
        self._decided_at: tuple[int, int] | None = None

    def _steps(self) -> int:
        raise NotImplementedError

    def _ingest(self, phi: np.ndarray, resid: np.ndarray, n_cand: np.ndarray, n_inc: np.ndarray,
                steps: np.ndarray) -> None:
        """Adds pseudo-outcomes and residuals; n_cand, n_inc, steps are the counts after each one."""
        s = _running(self._s, phi)[1:]
        y = resid[:, None] * self._eta
        up = np.cumsum(np.vstack((self._pen_up, y - np.log1p(y))), axis=0)[1:]
        down = np.cumsum(np.vstack((self._pen_down, -y - np.log1p(-y))), axis=0)[1:]
        log_worse = _mix(s[:, None] * self._eta - up)
        log_not_worse = _mix((self.spec.delta * steps - s)[:, None] * self._eta - down)
        max_worse = np.maximum.accumulate(np.concatenate(([self._max_log_e[0]], log_worse)))[1:]
        max_not_worse = np.maximum.accumulate(np.concatenate(([self._max_log_e[1]], log_not_worse)))[1:]
        self._decide(max_worse, max_not_worse, s, n_cand, n_inc, steps)
        self._s, self._pen_up, self._pen_down = float(s[-1]), up[-1].copy(), down[-1].copy()
        self._max_log_e = [float(max_worse[-1]), float(max_not_worse[-1])]

    def _decide(self, max_worse: np.ndarray, max_not_worse: np.ndarray, s: np.ndarray, n_cand: np.ndarray,
                n_inc: np.ndarray, steps: np.ndarray) -> None:
        if self._decision is not Decision.CONTINUE:
            return
        threshold = math.log(2.0 / self.spec.alpha)
        enough = steps >= self.spec.min_samples  # pairs: as many of each arm
        by_effect = s >= self.spec.delta * steps  # the estimate S_t / t is at least δ
        worse = _first((max_worse >= threshold) & by_effect)
        not_worse = _first((max_not_worse >= threshold) & enough)
        if worse is not None and (not_worse is None or worse <= not_worse):
            self._decision, at = Decision.WORSE, worse
        elif not_worse is not None:
            self._decision, at = Decision.NOT_WORSE, not_worse
        else:
            return
        self._decided_at = (int(n_cand[at]), int(n_inc[at]))

    def _log_e(self, m: float, upper: bool) -> float:
        """log E⁺_t(m) (evidence D > m) or, upper=True, log E⁻_t(m) (evidence D < m)."""
        t = self._steps()
        if upper:
            return float(_mix((m * t - self._s) * self._eta - self._pen_down))
        return float(_mix((self._s - m * t) * self._eta - self._pen_up))

    def _bounds(self) -> tuple[float, float]:
        """[L_t, U_t] clipped to [-1, 1]; E⁺_t(m) falls and E⁻_t(m) rises with m, and L_t <= U_t."""
        if self._steps() == 0:
            return -1.0, 1.0
        threshold = math.log(2.0 / self.spec.alpha)

        def excess(m: float, upper: bool) -> float:
            return self._log_e(m, upper) - threshold

        low = -1.0 if excess(-1.0, False) < 0 else 1.0 if excess(1.0, False) >= 0 else \
            float(brentq(excess, -1.0, 1.0, args=(False,), xtol=1e-10))
        high = 1.0 if excess(1.0, True) < 0 else -1.0 if excess(-1.0, True) >= 0 else \
            float(brentq(excess, -1.0, 1.0, args=(True,), xtol=1e-10))
        return low, high

    def status(self) -> GuardrailStatus:
        (n_c, n_i), (sum_c, sum_i) = self._n, self._sum
        harm_c = sum_c / n_c if n_c else None
        harm_i = sum_i / n_i if n_i else None

        def metric(harm: float | None) -> float | None:
            return harm if harm is None or self.spec.higher_is_worse else 1.0 - harm

        low, high = self._bounds()
        return GuardrailStatus(
            name=self.spec.name, design=self.design, decision=self._decision, n_candidate=n_c, n_incumbent=n_i,
            candidate_mean=metric(harm_c), incumbent_mean=metric(harm_i),
            harm_difference=None if harm_c is None or harm_i is None else harm_c - harm_i,
            ci_low=low, ci_high=high, log_e_worse=self._log_e(0.0, False),
            log_e_not_worse=self._log_e(self.spec.delta, True),
            p_worse=min(1.0, math.exp(-self._max_log_e[0])), p_not_worse=min(1.0, math.exp(-self._max_log_e[1])),
            alpha=self.spec.alpha, delta=self.spec.delta, decided_at=self._decided_at)

    def to_state(self) -> dict[str, Any]:
        """JSON-safe sufficient statistics; ``guardrail_from_state`` rebuilds an identical guardrail."""
        return {"version": STATE_VERSION, "design": self.design, "spec": self.spec.to_dict(),
                "n": list(self._n), "sums": list(self._sum), "s": self._s,
                "penalty_up": self._pen_up.tolist(), "penalty_down": self._pen_down.tolist(),
                "max_log_e": list(self._max_log_e), "decision": self._decision.value,
                "decided_at": None if self._decided_at is None else list(self._decided_at)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SequentialGuardrail:
        guardrail = guardrail_from_state(state)
        if not isinstance(guardrail, cls):
            raise ValueError(f"state is a {guardrail.design} guardrail, not a {cls.design} one")
        return guardrail

    def _load(self, state: Mapping[str, Any]) -> None:
        n, sums = state_ints(state, "n", 2), state_floats(state, "sums", 2)
        if any(x < 0 for x in n) or any(not 0 <= s <= k for s, k in zip(sums, n)):
            raise ValueError("guardrail state: counts must be >= 0 and harm sums within [0, count]")
        k = len(BET_FRACTIONS)
        up, down = state_floats(state, "penalty_up", k), state_floats(state, "penalty_down", k)
        if min(up + down) < 0:
            raise ValueError("guardrail state: penalties must be >= 0")
        self._n, self._sum, self._s = n, sums, state_floats(state, "s", 0)[0]
        self._pen_up, self._pen_down = np.asarray(up), np.asarray(down)
        self._max_log_e = state_floats(state, "max_log_e", 2)
        try:
            self._decision = Decision(state_field(state, "decision"))
        except ValueError as exc:
            raise ValueError(f"guardrail state: unknown decision {state['decision']!r}") from exc
        if (state_field(state, "decided_at") is None) != (self._decision is Decision.CONTINUE):
            raise ValueError("guardrail state: decided_at must be set exactly when a decision was made")
        if self._decision is not Decision.CONTINUE:
            at = state_ints(state, "decided_at", 2)
            self._decided_at = (at[0], at[1])


class CanaryGuardrail(SequentialGuardrail):
    """Unpaired (canary) guardrail: each observation comes from one arm, routed however the router
    likes (sticky per user included) as long as each arm's values are independent draws; the test
    runs on blocks of the arms' observations paired in arrival order (``pairing``), 1 of the smaller
    arm to m of the larger one, m from ``canary_share`` (the stage's weight when it starts). Feed
    observations in arrival order, one at a time or in batches."""

    design = "canary"
    max_unpaired = MAX_UNPAIRED  # per arm; an arrival to a full queue drops the arm's oldest

    def __init__(self, spec: GuardrailSpec, canary_share: float, units: tuple[int, int] | None = None) -> None:
        if not is_real(canary_share) or not 0 < canary_share < 1:
            raise ValueError(f"canary_share must be in (0, 1), got {canary_share!r}")
        super().__init__(spec, PAIR_RESIDUAL_BOUND)
        self.canary_share = float(canary_share)
        self.units = block_units(self.canary_share) if units is None else (int(units[0]), int(units[1]))
        if min(self.units) != 1 or max(self.units) < 1:
            raise ValueError(f"block units must be 1 for one arm and >= 1 for the other, got {units!r}")
        self._pairs = 0
        self._waiting: dict[str, Waiting] = {}  # per stratum, unpaired harms oldest first: candidate, incumbent

    @property
    def _capacity(self) -> int:
        return max(self.max_unpaired, max(self.units))

    def _steps(self) -> int:
        return self._pairs

    def update(self, arm: Arms, values: Values, strata: list[str] | None = None) -> None:
        """Adds observations: ``arm`` is one arm for all values, one arm per value, or a bool array
        (True = candidate); ``strata``, one label per value fixed before the value was seen, pairs
        observations within their stratum (``pairing.pair_strata``); None is one stratum."""
        harm = harm_values(values, self.spec, "observed")
        cand = candidate_mask(arm, len(harm))
        if not len(harm):
            return
        n_c, n_i = self._n
        pairs = pair_strata(cand, harm, [""] * len(harm) if strata is None else list(strata), self._waiting,
                            self.units, self._capacity)
        if len(pairs.at):
            d = pairs.differences
            before = self._pairs + np.arange(len(d))
            centre = np.clip(_running(self._s, d)[:-1] / (1.0 + before), -0.5, 0.5)
            self._ingest(d, d - centre, n_c + np.cumsum(cand)[pairs.at], n_i + np.cumsum(~cand)[pairs.at], before + 1)
            self._pairs += len(d)
        self._n = [n_c + int(cand.sum()), n_i + int((~cand).sum())]
        self._sum = [float(_running(self._sum[0], harm[cand])[-1]), float(_running(self._sum[1], harm[~cand])[-1])]
        self._waiting = pairs.waiting

    def to_state(self) -> dict[str, Any]:
        return {**super().to_state(), "canary_share": self.canary_share, "units": list(self.units),
                "pairs": self._pairs,
                "unpaired": {k: [c.tolist(), i.tolist()] for k, (c, i) in self._waiting.items()}}

    def _load(self, state: Mapping[str, Any]) -> None:
        super()._load(state)
        pairs, waiting = state_field(state, "pairs"), state_field(state, "unpaired")
        if not isinstance(pairs, int) or isinstance(pairs, bool) or pairs < 0 \
                or any(pairs * u > n for u, n in zip(self.units, self._n)):
            raise ValueError("canary guardrail state: 'pairs' must be an integer within both arms' counts")
        if isinstance(waiting, list):  # version 2 and 3: one stratum
            waiting = {"": waiting}
        self._waiting = load_waiting(waiting, self.units, [n - pairs * u for n, u in zip(self._n, self.units)],
                                     self._capacity)
        self._pairs = pairs


class ShadowGuardrail(SequentialGuardrail):
    """Paired (shadow) guardrail: each observation is (candidate, incumbent) on the same prompt."""

    design = "shadow"

    def __init__(self, spec: GuardrailSpec) -> None:
        super().__init__(spec, PAIR_RESIDUAL_BOUND)

    def _steps(self) -> int:
        return self._n[0]

    def update(self, candidate: Values, incumbent: Values) -> None:
        """Adds pairs: candidate[j] and incumbent[j] are the two replies to prompt j."""
        h_c = harm_values(candidate, self.spec, "candidate")
        h_i = harm_values(incumbent, self.spec, "incumbent")
        if len(h_c) != len(h_i):
            raise ValueError(f"{self.spec.name}: paired samples differ in length: {len(h_c)} vs {len(h_i)}")
        if not len(h_c):
            return
        d = h_c - h_i
        n_before = self._n[0] + np.arange(len(d))
        centre = np.clip(_running(self._s, d)[:-1] / (1.0 + n_before), -0.5, 0.5)
        n_after = n_before + 1
        self._ingest(d, d - centre, n_after, n_after, n_after)
        n = int(n_after[-1])
        self._n, self._sum = [n, n], [float(_running(self._sum[0], h_c)[-1]), float(_running(self._sum[1], h_i)[-1])]

    def _load(self, state: Mapping[str, Any]) -> None:
        super()._load(state)
        if self._n[0] != self._n[1]:
            raise ValueError("shadow guardrail state: both arms must have the same number of observations")


def guardrail_from_state(state: Mapping[str, Any]) -> SequentialGuardrail:
    """Rebuilds a canary or shadow guardrail from ``to_state()`` (e.g. after a restart)."""
    version, design = state_field(state, "version"), state_field(state, "design")
    if version == 1 and design == CanaryGuardrail.design:
        raise ValueError("guardrail state version 1 is an inverse-propensity canary test, which cannot be resumed "
                         "as the paired one (and is not valid under sticky routing): start a fresh guardrail")
    if version not in (1, 2, 3, STATE_VERSION):  # shadow states are the same in all of them
        raise ValueError(f"guardrail state version {version!r} is not {STATE_VERSION}")
    spec = GuardrailSpec.from_dict(state_field(state, "spec"))
    guardrail: SequentialGuardrail
    if design == CanaryGuardrail.design:
        # a version 2 test ran on 1 : 1 pairs: it resumes with them (the units are fixed for a test's life)
        units = state_ints(state, "units", 2) if version in (3, STATE_VERSION) else [1, 1]
        guardrail = CanaryGuardrail(spec, state_floats(state, "canary_share", 0)[0], units=(units[0], units[1]))
    elif design == ShadowGuardrail.design:
        guardrail = ShadowGuardrail(spec)
    else:
        raise ValueError(f"guardrail state: unknown design {design!r}")
    guardrail._load(state)
    return guardrail

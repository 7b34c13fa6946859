"""Calibration and speed of the online guardrails (``eval_service/online/sequential.py``) by simulation.

    python benchmarks/online_calibration.py [--runs 1000] [--seed 20250] [--out benchmarks/results/...json]

A refusal-rate guardrail (Bernoulli, higher is worse, α = 0.05, margin δ, 100 pairs before a
promotion) is simulated in three designs: canary (each request goes to the candidate with probability
0.3), canary_sticky (the router's sticky split: 400 users, each hashed to an arm by
``inference_service.routing.takes_canary`` at weight 30%, every request from a user drawn at random,
so the realised share differs from 0.3 run to run), and shadow (each prompt answered by both,
outcomes independent: the least favourable pairing, since a real positive correlation only shrinks
the variance). Every run feeds the real guardrail class in chunks; the class checks both boundaries
after every single observation, so each run is monitored continuously, and it stops at the first
decision or at the horizon. The canary guardrail pairs blocks of the arms' observations in arrival
order: at a 30% share each candidate observation with the mean of two incumbent ones.

Scenarios per design (``--runs`` rollouts each):
- A/A: both refuse 5%. A rollback is a false decision; a promotion is the right one.
- worse by δ: the candidate refuses 5% + δ. A promotion is a false decision (non-inferiority null).
- A/B: 5% vs 15%, the 10-point gap. Observations per arm, pairs (the smaller arm) and requests (both
  arms) at the decision: median, p10, p25, p75, p90, max.

Bars: (A/A false rollbacks + worse-by-δ false promotions) / runs <= α, and the A/B median <= 400
pairs. The false-decision bar counts the two error events of the module docstring, each <= α/2.
``ab_median_per_arm_le_400`` is the issue's bar read per arm: a canary at 30% pairs every candidate
observation, and its incumbent arm has seen about 7/3 as many at the decision.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from eval_service.online.sequential import (
    CanaryGuardrail,
    Decision,
    GuardrailSpec,
    SequentialGuardrail,
    ShadowGuardrail,
)
from inference_service.routing import takes_canary

BASE_RATE = 0.05
GAP = 0.10
CANARY_SHARE = 0.3
MEDIAN_BAR = 400
USERS = 400
DESIGNS = ("canary", "shadow", "canary_sticky")  # the seed index of each: the first two as before


Sampler = Callable[[np.random.Generator, np.ndarray], np.ndarray]  # values for arms (True = candidate)
Router = Callable[[np.random.Generator, int], np.ndarray]  # the arms of the next k requests (True = candidate)


def per_request(run: int) -> Router:
    return lambda rng, k: rng.random(k) < CANARY_SHARE


def sticky(run: int) -> Router:
    """The router's split of USERS users (a fresh rollout id per run); each request from a random user."""
    user_arm = np.array([takes_canary(f"calibration-{run}", f"user-{u}", CANARY_SHARE * 100) for u in range(USERS)])
    return lambda rng, k: user_arm[rng.integers(0, USERS, k)]


def bernoulli(p_cand: float, p_inc: float) -> Sampler:
    return lambda rng, cand: (rng.random(cand.size) < np.where(cand, p_cand, p_inc)).astype(float)


def beta(a: float, b: float) -> Sampler:
    return lambda rng, cand: rng.beta(a, b, cand.size)


def run_one(guardrail: SequentialGuardrail, rng: np.random.Generator, draw: Sampler, horizon: int,
            chunk: int, route: Router) -> tuple[Decision, tuple[int, int] | None]:
    """Feeds one rollout until the guardrail decides or ``horizon`` requests (canary) / pairs (shadow)."""
    for _ in range(0, horizon, chunk):
        if isinstance(guardrail, CanaryGuardrail):
            cand = route(rng, chunk)
            guardrail.update(cand, draw(rng, cand))
        else:
            assert isinstance(guardrail, ShadowGuardrail)
            guardrail.update(draw(rng, np.ones(chunk, bool)), draw(rng, np.zeros(chunk, bool)))
        status = guardrail.status()
        if status.decision is not Decision.CONTINUE:
            return status.decision, status.decided_at
    return Decision.CONTINUE, None


def spread(values: list[int]) -> dict[str, float] | None:
    if not values:
        return None
    p10, p25, p50, p75, p90 = np.percentile(values, [10, 25, 50, 75, 90])
    return {"median": round(float(p50), 1), "p10": round(float(p10), 1), "p25": round(float(p25), 1),
            "p75": round(float(p75), 1), "p90": round(float(p90), 1), "max": max(values)}


def scenario(make: Callable[[], SequentialGuardrail], draw: Sampler, runs: int, seed: list[int], horizon: int,
             chunk: int, router: Callable[[int], Router] = per_request) -> dict:
    counts = {d: 0 for d in Decision}
    at_decision: dict[Decision, list[tuple[int, int]]] = {Decision.WORSE: [], Decision.NOT_WORSE: []}
    for run in range(runs):
        decision, at = run_one(make(), np.random.default_rng(seed + [run]), draw, horizon, chunk, router(run))
        counts[decision] += 1
        if at is not None:
            at_decision[decision].append(at)
    out: dict = {"runs": runs, "horizon": horizon, "rollbacks": counts[Decision.WORSE],
                 "promotions": counts[Decision.NOT_WORSE], "undecided": counts[Decision.CONTINUE]}
    for decision, key in ((Decision.WORSE, "at_rollback"), (Decision.NOT_WORSE, "at_promotion")):
        pairs = at_decision[decision]
        out[key] = {"candidate": spread([a for a, _ in pairs]), "incumbent": spread([b for _, b in pairs]),
                    "pairs": spread([min(a, b) for a, b in pairs]), "requests": spread([a + b for a, b in pairs])}
    return out


def design(name: str, args: argparse.Namespace, index: int) -> dict:
    def make(**spec: object) -> Callable[[], SequentialGuardrail]:
        full = GuardrailSpec(**{"alpha": args.alpha, "delta": args.delta, "min_samples": args.min_samples} | spec)
        return lambda: ShadowGuardrail(full) if name == "shadow" else CanaryGuardrail(full, CANARY_SHARE)

    refusal = make(name="refusal_rate", bernoulli=True)
    feedback = make(name="feedback_score", higher_is_worse=False)
    seed, n, route = (lambda k: [args.seed, index, k]), args.runs, sticky if name == "canary_sticky" else per_request
    aa = scenario(refusal, bernoulli(BASE_RATE, BASE_RATE), n, seed(0), args.horizon, args.chunk, route)
    boundary = scenario(refusal, bernoulli(BASE_RATE + args.delta, BASE_RATE), n, seed(1), args.horizon, args.chunk,
                        route)
    ab = scenario(refusal, bernoulli(BASE_RATE + GAP, BASE_RATE), n, seed(2), args.ab_horizon, args.chunk // 2, route)
    aa_feedback = scenario(feedback, beta(4.0, 2.0), n, seed(3), args.horizon, args.chunk, route)
    false_rate = (aa["rollbacks"] + boundary["promotions"]) / n
    ab["decided_share"] = (ab["rollbacks"] + ab["promotions"]) / n
    medians = [ab["at_rollback"][arm]["median"] for arm in ("candidate", "incumbent") if ab["at_rollback"][arm]]
    pairs = ab["at_rollback"]["pairs"]
    return {"aa": aa, "worse_by_delta": boundary, "ab": ab, "aa_feedback_beta_4_2": aa_feedback,
            "false_rollback_rate_aa": aa["rollbacks"] / n,
            "false_promotion_rate_worse_by_delta": boundary["promotions"] / n,
            "false_decision_rate": false_rate,
            "bars": {"false_decision_rate_le_alpha": false_rate <= args.alpha,
                     "ab_median_pairs_le_400": bool(pairs) and pairs["median"] <= MEDIAN_BAR,
                     "ab_median_per_arm_le_400": bool(medians) and max(medians) <= MEDIAN_BAR}}


def table(result: dict) -> str:
    rows = [(f"{'design':14} {'A/A false RB':>13} {'A/A promoted':>13} {'worse-by-δ false PR':>20} {'sum/runs':>9} "
             f"{'A/B decided':>11} {'A/B cand med/p90':>17} {'A/B inc med/p90':>16} {'A/B requests q1/med/q3':>23}")]
    for name, d in result["designs"].items():
        ab = d["ab"]["at_rollback"]
        req = ab["requests"]
        rows.append(f"{name:14} {d['aa']['rollbacks']:>13} {d['aa']['promotions']:>13} "
                    f"{d['worse_by_delta']['promotions']:>20} "
                    f"{d['false_decision_rate']:>9.4f} {d['ab']['decided_share']:>11.3f} "
                    f"{ab['candidate']['median']:>8.0f}/{ab['candidate']['p90']:<8.0f} "
                    f"{ab['incumbent']['median']:>7.0f}/{ab['incumbent']['p90']:<8.0f} "
                    f"{req['p25']:>9.0f}/{req['median']:.0f}/{req['p75']:.0f}")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20250)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--delta", type=float, default=0.03, help="non-inferiority margin on the refusal rate")
    ap.add_argument("--min-samples", type=int, default=100, help="pairs before a promotion")
    ap.add_argument("--horizon", type=int, default=20_000, help="A/A and worse-by-δ: requests or pairs per run")
    ap.add_argument("--ab-horizon", type=int, default=5_000, help="A/B: requests or pairs per run")
    ap.add_argument("--chunk", type=int, default=512, help="observations per update call (checked one by one)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "online_calibration.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = {"config": {k: v for k, v in vars(args).items() if k != "out"}
              | {"base_rate": BASE_RATE, "gap": GAP, "canary_share": CANARY_SHARE, "median_bar": MEDIAN_BAR},
              "designs": {name: design(name, args, i) for i, name in enumerate(DESIGNS)}}
    result["notes"] = ("A/A: a rollback is false, a promotion right. worse_by_delta: the candidate is worse by "
                       "exactly delta, a promotion is false. false_decision_rate = (A/A rollbacks + worse_by_delta "
                       "promotions) / runs. Observation counts are per arm at the decision (the class checks after "
                       "every observation); pairs = the smaller arm, requests = both arms. Canary guardrails pair "
                       "blocks of the arms (1 candidate : 2 incumbent at 30%) in arrival order (before: "
                       "inverse-propensity weighting, valid only under per-request Bernoulli routing). "
                       "canary_sticky routes 400 users by the router's hash at weight 30%.")
    result["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"{result['seconds']} s; wrote {args.out}")


if __name__ == "__main__":
    main()

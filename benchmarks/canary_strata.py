"""Canary pairing within strata vs pooled, at the demo's traffic mix, by simulation.

    python benchmarks/canary_strata.py [--runs 1000] [--out benchmarks/results/canary_strata.json]

A 50% canary (the demo's v3 stage) behind 400 users routed stickily by ``inference_service.routing``:
half the requests are support tickets (refused 2% by both arms), half free-form questions (refused
45% by the incumbent, 45% + gap by the candidate). One refusal guardrail, the demo's: δ = 0.15, 60
pairs before a promotion, α = 0.05. ``pooled`` feeds every observation to one pair of queues (the
design before strata); ``strata`` labels each request "task" or "other" as ``StageMonitor`` does.

Scenarios: A/A (gap 0: a rollback is false) and worse by δ over all traffic (gap 2δ on the free-form
half: a promotion is false). Reported: false-decision rates, and requests (both arms) at the A/A
promotion (median, p10, p90), with the strata/pooled ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from eval_service.online.sequential import CanaryGuardrail, Decision, GuardrailSpec
from inference_service.routing import takes_canary

USERS, SHARE, TICKETS = 400, 0.5, 0.5
TICKET_RATE, FREE_FORM_RATE, DELTA = 0.02, 0.45, 0.15


def rollout(run: int, stratified: bool, gap: float, seed: int, horizon: int = 6000,
            chunk: int = 200) -> tuple[Decision, int]:
    rng = np.random.default_rng([seed, run, int(gap * 100)])
    user_arm = np.array([takes_canary(f"strata-{run}", f"user-{u}", SHARE * 100) for u in range(USERS)])
    g = CanaryGuardrail(GuardrailSpec("refusal", delta=DELTA, min_samples=60, bernoulli=True), SHARE)
    for _ in range(0, horizon, chunk):
        cand = user_arm[rng.integers(0, USERS, chunk)]
        task = rng.random(chunk) < TICKETS
        rate = np.where(task, TICKET_RATE, FREE_FORM_RATE + gap * cand)
        g.update(cand, (rng.random(chunk) < rate).astype(float),
                 ["task" if t else "other" for t in task] if stratified else None)
        if g.status().decision is not Decision.CONTINUE:
            break
    status = g.status()
    return status.decision, sum(status.decided_at or (0, 0))


def design(stratified: bool, runs: int, seed: int) -> dict:
    aa = [rollout(r, stratified, 0.0, seed) for r in range(runs)]
    worse = [rollout(r, stratified, 2 * DELTA, seed + 1) for r in range(runs)]
    promoted = [n for d, n in aa if d is Decision.NOT_WORSE]
    p10, p50, p90 = np.percentile(promoted, [10, 50, 90])
    return {"aa_false_rollbacks": sum(d is Decision.WORSE for d, _ in aa) / runs,
            "aa_promoted": len(promoted) / runs,
            "worse_by_delta_false_promotions": sum(d is Decision.NOT_WORSE for d, _ in worse) / runs,
            "requests_at_promotion": {"p10": float(p10), "median": float(p50), "p90": float(p90)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "canary_strata.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = {"config": {"runs": args.runs, "seed": args.seed, "share": SHARE, "tickets": TICKETS,
                         "ticket_rate": TICKET_RATE, "free_form_rate": FREE_FORM_RATE, "delta": DELTA},
              "pooled": design(False, args.runs, args.seed), "strata": design(True, args.runs, args.seed)}
    for q in ("median", "p90"):
        result[f"strata_over_pooled_{q}"] = round(result["strata"]["requests_at_promotion"][q]
                                                  / result["pooled"]["requests_at_promotion"][q], 3)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name in ("pooled", "strata"):
        d = result[name]
        r = d["requests_at_promotion"]
        print(f"{name:7} A/A false rollbacks {d['aa_false_rollbacks']:.3f}  promoted {d['aa_promoted']:.3f}  "
              f"worse-by-δ false promotions {d['worse_by_delta_false_promotions']:.3f}  "
              f"requests at promotion p10/median/p90 {r['p10']:.0f}/{r['median']:.0f}/{r['p90']:.0f}")
    print(f"strata/pooled: median {result['strata_over_pooled_median']}, p90 {result['strata_over_pooled_p90']}; "
          f"{result['seconds']} s; wrote {args.out}")


if __name__ == "__main__":
    main()

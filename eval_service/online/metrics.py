"""Prometheus metrics of live scoring and rollouts (the evaluator's process registry).

Labels are bounded: ``adapter`` is an adapter *name* (a deployment has a handful of production
adapters; never a version or request id) and ``arm`` one of production, canary, shadow. Rates are
exposed as counters (``lorafleet_live_refusals_total / lorafleet_live_scored_total``), so a
dashboard or an alert computes them over any window; no histogram has an adapter label.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

_AA = ["adapter", "arm"]
LIVE_REQUESTS = Counter("lorafleet_live_requests", "Live requests observed, by adapter name and arm.", _AA)
LIVE_SCORED = Counter("lorafleet_live_scored", "Sampled live replies scored, by adapter name and arm.", _AA)
LIVE_REFUSALS = Counter("lorafleet_live_refusals", "Scored live replies that were refusals.", _AA)
LIVE_FORMAT_CHECKED = Counter("lorafleet_live_format_checked", "Scored task replies checked against the task "
                              "format.", _AA)
LIVE_FORMAT_INVALID = Counter("lorafleet_live_format_invalid", "Task replies that did not match the task format.",
                              _AA)
LIVE_ERRORS = Counter("lorafleet_live_errors", "Live requests whose generation failed.", _AA)
LIVE_FEEDBACK = Counter("lorafleet_live_feedback", "Explicit feedback received, by adapter name and arm.", _AA)
LIVE_FEEDBACK_SCORE = Counter("lorafleet_live_feedback_score", "Sum of feedback scores in [0, 1] (divide by "
                              "lorafleet_live_feedback_total for the mean).", _AA)
LIVE_DROPPED = Counter("lorafleet_live_observations_dropped", "Observations not used, by reason.", ["reason"])

ROLLOUT_RUNNING = Gauge("lorafleet_rollout_running", "1 while a rollout of the adapter runs.", ["adapter"])
ROLLOUT_WEIGHT = Gauge("lorafleet_rollout_weight_percent", "Canary weight of the running rollout (0 in shadow).",
                       ["adapter"])
ROLLOUT_STAGE = Gauge("lorafleet_rollout_stage", "Index of the running rollout's stage.", ["adapter"])
ROLLOUT_REQUESTS = Gauge("lorafleet_rollout_arm_requests", "Requests observed in the current stage, by arm.", _AA)
ROLLOUT_REFUSAL_RATE = Gauge("lorafleet_rollout_refusal_rate", "Refusal rate in the current stage, by arm.", _AA)
ROLLOUT_ROLLBACKS = Counter("lorafleet_rollout_rollbacks", "Rollouts rolled back automatically.", ["adapter"])
ROLLOUT_PROMOTIONS = Counter("lorafleet_rollout_promotions", "Rollouts promoted (automatically or by hand).",
                             ["adapter"])
ROLLOUT_ABORTS = Counter("lorafleet_rollout_aborts", "Rollouts aborted.", ["adapter"])

for _reason in ("unknown_rollout", "stage_mismatch"):
    LIVE_DROPPED.labels(reason=_reason)

"""Prometheus metrics of the evaluator (default registry of the process).

Names follow the conventions: ``lorafleet_`` prefix, ``_total`` counters; no adapter names in
labels (unbounded cardinality), only small fixed label sets.
"""

from __future__ import annotations

from prometheus_client import Counter

EVALUATIONS = Counter("lorafleet_evaluations_total", "Finished evaluations by outcome.", ["outcome"])
CASES_SCORED = Counter("lorafleet_eval_cases_scored_total", "Case outputs scored, by suite kind and role.",
                       ["kind", "role"])
GATE_FAILURES = Counter("lorafleet_eval_gate_failures_total", "Failed gates, by gate.", ["gate"])
GENERATIONS = Counter("lorafleet_eval_generations_total", "Outputs needed by evaluations, by source.", ["source"])

OUTCOMES = ("promoted", "rejected", "failed")
# Metric label of each verdict (the deploy alerts select outcome="rejected").
OUTCOME_OF_VERDICT = {"promote": "promoted", "reject": "rejected"}
for _o in OUTCOMES:
    EVALUATIONS.labels(outcome=_o)
for _s in ("inference", "cache"):
    GENERATIONS.labels(source=_s)

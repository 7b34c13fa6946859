"""Prometheus metrics of the trainer (default registry of the process; served by the bootstrap)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

JOBS_BY_STATE = Gauge("lorafleet_training_jobs", "Training jobs known to this trainer, by state.", ["state"])
STEPS = Counter("lorafleet_training_steps_total", "Optimizer steps completed by training jobs.")
TOKENS = Counter("lorafleet_training_tokens_total", "Real (non-padding) tokens processed by training steps.")
CURRENT_LOSS = Gauge("lorafleet_training_loss", "Training loss of the latest step of the running job.")
STEP_SECONDS = Histogram("lorafleet_training_step_seconds", "Wall time of one optimizer step.",
                         buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128))

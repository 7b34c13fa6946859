"""Prometheus metrics of the trainer (default registry of the process; served by the bootstrap).

DPO jobs add the preference figures of `training/dpo.py` (rewards, margin, accuracy) for the latest
training step (`split="train"`) and the latest evaluation (`split="validation"`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

JOBS_BY_STATE = Gauge("lorafleet_training_jobs", "Training jobs known to this trainer, by state.", ["state"])
STEPS = Counter("lorafleet_training_steps_total", "Optimizer steps completed by training jobs.")
TOKENS = Counter("lorafleet_training_tokens_total", "Real (non-padding) tokens processed by training steps.")
CURRENT_LOSS = Gauge("lorafleet_training_loss", "Training loss of the latest step of the running job.")
STEP_SECONDS = Histogram("lorafleet_training_step_seconds", "Wall time of one optimizer step.",
                         buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128))
VALIDATION_LOSS = Gauge("lorafleet_training_validation_loss",
                        "Validation loss of the latest evaluation of the running job (DPO: the preference loss).")
PREFERENCE_REWARDS = Gauge("lorafleet_training_preference_rewards",
                           "DPO: mean implicit reward beta*log(pi_theta/pi_ref) of the chosen or rejected answers, "
                           "of the latest step (split=train) or evaluation (split=validation).", ["split", "answer"])
PREFERENCE_MARGIN = Gauge("lorafleet_training_preference_reward_margin",
                          "DPO: mean reward margin (chosen minus rejected) of the latest step or evaluation.",
                          ["split"])
PREFERENCE_ACCURACY = Gauge("lorafleet_training_preference_accuracy",
                            "DPO: share of pairs whose chosen answer has the larger reward, latest step or evaluation.",
                            ["split"])


def observe_preference(split: str, figures: dict, prefix: str = "") -> None:
    """Set the DPO gauges of ``split`` ("train" or "validation") from a progress or evaluation payload."""
    if prefix + "reward_margin" not in figures:
        return
    PREFERENCE_REWARDS.labels(split=split, answer="chosen").set(figures[prefix + "rewards_chosen"])
    PREFERENCE_REWARDS.labels(split=split, answer="rejected").set(figures[prefix + "rewards_rejected"])
    PREFERENCE_MARGIN.labels(split=split).set(figures[prefix + "reward_margin"])
    PREFERENCE_ACCURACY.labels(split=split).set(figures[prefix + "reward_accuracy"])

"""The documented range of every field of a training request, checked where a job is asked for.

``TrainingConfig`` (``trainer_service.training.config``) checks types, choices and lower bounds; a job
also needs upper bounds, or a request such as ``lora.alpha = 3.4e38``, ``batch_size = 2**31 - 1`` or
``epochs = 2**32 - 1`` is accepted and trains into NaN weights or for ever. ``RANGES`` is the one
table of every numeric field's closed or half-open range (the proto comments of ``Hyperparameters``
and ``LoraConfig`` state the same numbers); :func:`check_ranges` refuses a config outside it with
INVALID_ARGUMENT naming the field as the API spells it (``hyperparameters.batch_size``).

``seed`` takes the whole ``uint64`` range. A field left 0 in the request takes its default, which is
inside its range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lorafleet.adapters.extrapolate import MAX_FACTOR
from lorafleet.adapters.lora import MAX_LORA_ALPHA, MAX_LORA_RANK
from lorafleet.errors import InvalidArgument, quote
from trainer_service.training.config import TrainingConfig, api_field

MAX_TARGET_MODULES = 64
MAX_MODULE_NAME_CHARS = 128
MAX_DESCRIPTION = 4096  # what the registry stores with the adapter version


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    low_open: bool = False  # (low, ...] instead of [low, ...]
    high_open: bool = False  # [..., high) instead of [..., high]

    def __contains__(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        opening, closing = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"{opening}{_number(self.low)}, {_number(self.high)}{closing}"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


RANGES: dict[str, Range] = {
    # LoRA
    "r": Range(1, MAX_LORA_RANK),
    "alpha": Range(0, MAX_LORA_ALPHA, low_open=True),
    "dropout": Range(0, 1, high_open=True),
    # optimisation
    "epochs": Range(1, 1000),
    "batch_size": Range(1, 1024),
    "gradient_accumulation_steps": Range(1, 1024),
    "learning_rate": Range(0, 1, low_open=True, high_open=True),
    "warmup_ratio": Range(0, 1, high_open=True),
    "warmup_steps": Range(0, 1_000_000),
    "weight_decay": Range(0, 1, high_open=True),
    "max_steps": Range(0, 10_000_000),
    "max_seq_length": Range(16, 131072),
    "seed": Range(0, 2**64 - 1),
    "answer_start_weight": Range(1, 100),
    "answer_start_tokens": Range(1, 64),
    "anchor_weight": Range(0.01, 100),
    # evaluation and data
    "eval_every_steps": Range(0, 1_000_000),
    "early_stopping_patience": Range(0, 1000),
    "validation_split": Range(0, 1, high_open=True),
    # DPO (dpo.*)
    "beta": Range(0, 100, low_open=True),
    "label_smoothing": Range(0, 0.5, high_open=True),
    "sft_weight": Range(0, 100),
    # the registered update (extrapolate.*)
    "extrapolate_mlp": Range(0, MAX_FACTOR, low_open=True),
    "extrapolate_attention": Range(0, MAX_FACTOR, low_open=True),
}


def check_ranges(config: TrainingConfig) -> TrainingConfig:
    """``config`` when every field is inside ``RANGES`` and the lists and texts are bounded; else
    InvalidArgument naming the first field outside."""
    for name, allowed in RANGES.items():
        value = getattr(config, name)
        if value not in allowed:
            raise InvalidArgument(f"must be in {allowed}, got {_number(value)}", field=api_field(name))
    modules = config.target_modules
    if len(modules) > MAX_TARGET_MODULES:
        raise InvalidArgument(f"at most {MAX_TARGET_MODULES} module names, got {len(modules)}",
                              field="lora.target_modules")
    for module in modules:
        if not module or len(module) > MAX_MODULE_NAME_CHARS or not module.isprintable():
            raise InvalidArgument(f"{quote(module)} is not a module name (1-{MAX_MODULE_NAME_CHARS} printable "
                                  "characters)", field="lora.target_modules")
    if len(config.description) > MAX_DESCRIPTION:
        raise InvalidArgument(f"must be at most {MAX_DESCRIPTION} characters, got {len(config.description)}",
                              field="description")
    return config

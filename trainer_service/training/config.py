"""The training job configuration: defaults, and validation that names the offending field.

LoRA: ``W' = W + s · B A`` with ``A ∈ R^{r×in}``, ``B ∈ R^{out×r}`` and ``s = alpha / r``
(rsLoRA: ``s = alpha / sqrt(r)``, which keeps the update's scale stable as r grows).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from lorafleet import names
from lorafleet.adapters.lora import lora_scale
from lorafleet.errors import InvalidArgument
from lorafleet.refs import validate_name

METHODS = names.ADAPTER_METHODS.choices
SCHEDULERS = names.LR_SCHEDULERS.choices
ALL_LINEAR = "all-linear"
FORMATS = ("", *names.DATASET_FORMATS.choices)  # "": detect the format from the first record
COMPUTE_DTYPES = names.COMPUTE_DTYPES.choices  # "auto" first: the proto's unspecified value


@dataclass(frozen=True)
class TrainingConfig:
    adapter_name: str
    adapter_method: str = "qlora"
    # LoRA
    r: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    target_modules: tuple[str, ...] = (ALL_LINEAR,)
    use_rslora: bool = False
    # optimisation
    epochs: int = 1
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.05
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_steps: int = 0
    max_seq_length: int = 1024
    seed: int = 42
    packing: bool = True
    gradient_checkpointing: bool | None = None  # None: on for CUDA, off on CPU (see model.py)
    compute_dtype: str = "auto"  # the frozen base's matmuls; see model.resolve_compute_dtype
    # evaluation
    eval_every_steps: int = 0  # 0: once per epoch
    early_stopping_patience: int = 0
    validation_split: float = 0.0
    # data
    dataset_format: str = ""
    training_dataset_id: str = ""
    training_dataset_path: str = ""
    validation_dataset_id: str = ""
    validation_dataset_path: str = ""
    description: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InvalidArgument(f"unknown config keys {sorted(unknown)}", field=sorted(unknown)[0])
        values = dict(data)
        if "target_modules" in values:
            values["target_modules"] = tuple(values["target_modules"])
        return cls(**values)

    def validate(self, linear_module_names: list[str] | tuple[str, ...] | None = None) -> TrainingConfig:
        """Raise InvalidArgument naming the first bad field; returns self for chaining."""
        validate_name(self.adapter_name, field="adapter_name")
        if self.adapter_method not in METHODS:
            raise InvalidArgument(f"{self.adapter_method!r} is not one of {', '.join(METHODS)}", field="adapter_method")
        checks = [
            ("lora.r", self.r >= 1, "must be >= 1"),
            ("lora.r", self.r <= 1024, "must be <= 1024"),
            ("lora.alpha", self.alpha > 0 and math.isfinite(self.alpha), "must be > 0"),
            ("lora.dropout", 0 <= self.dropout < 1, "must be in [0, 1)"),
            ("hyperparameters.epochs", self.epochs >= 1, "must be >= 1"),
            ("hyperparameters.batch_size", self.batch_size >= 1, "must be >= 1"),
            ("hyperparameters.gradient_accumulation_steps", self.gradient_accumulation_steps >= 1, "must be >= 1"),
            ("hyperparameters.learning_rate", self.learning_rate > 0 and math.isfinite(self.learning_rate), "must be > 0"),
            ("hyperparameters.learning_rate", self.learning_rate < 1, "must be < 1"),
            ("hyperparameters.warmup_ratio", 0 <= self.warmup_ratio < 1, "must be in [0, 1)"),
            ("hyperparameters.warmup_steps", self.warmup_steps >= 0, "must be >= 0"),
            ("hyperparameters.weight_decay", 0 <= self.weight_decay < 1, "must be in [0, 1)"),
            ("hyperparameters.max_steps", self.max_steps >= 0, "must be >= 0"),
            ("hyperparameters.max_seq_length", 16 <= self.max_seq_length <= 131072, "must be in [16, 131072]"),
            ("hyperparameters.eval_every_steps", self.eval_every_steps >= 0, "must be >= 0"),
            ("hyperparameters.early_stopping_patience", self.early_stopping_patience >= 0, "must be >= 0"),
            ("validation_split", 0 <= self.validation_split < 1, "must be in [0, 1)"),
        ]
        for name, ok, msg in checks:
            if not ok:
                raise InvalidArgument(f"{msg}, got {getattr(self, name.split('.')[-1], None)!r}", field=name)
        if self.lr_scheduler not in SCHEDULERS:
            raise InvalidArgument(f"{self.lr_scheduler!r} is not one of {', '.join(SCHEDULERS)}", field="hyperparameters.lr_scheduler")
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise InvalidArgument(f"{self.compute_dtype!r} is not one of {', '.join(COMPUTE_DTYPES)}",
                                  field="hyperparameters.compute_dtype")
        if self.dataset_format not in FORMATS:
            raise InvalidArgument(f"{self.dataset_format!r} is not a dataset format", field="dataset_format")
        if not self.target_modules:
            raise InvalidArgument("at least one target module (or 'all-linear') is required", field="lora.target_modules")
        if ALL_LINEAR in self.target_modules and len(self.target_modules) > 1:
            raise InvalidArgument("'all-linear' cannot be combined with module names", field="lora.target_modules")
        if linear_module_names is not None and ALL_LINEAR not in self.target_modules:
            unknown = [m for m in self.target_modules if m not in linear_module_names]
            if unknown:
                raise InvalidArgument(
                    f"unknown target module(s) {unknown}; the base model has {sorted(linear_module_names)} or 'all-linear'",
                    field="lora.target_modules")
        if bool(self.training_dataset_id) == bool(self.training_dataset_path):
            raise InvalidArgument("exactly one of training_dataset_id and training_dataset_path is required",
                                  field="training_dataset_id")
        given = [n for n, v in (("validation_dataset_id", self.validation_dataset_id),
                                ("validation_dataset_path", self.validation_dataset_path),
                                ("validation_split", self.validation_split)) if v]
        if len(given) > 1:
            raise InvalidArgument(f"at most one of {', '.join(given)} may be set", field=given[1])
        return self

    @property
    def scale(self) -> float:
        return lora_scale(self.alpha, self.r, self.use_rslora)


def lr_at(step: int, total_steps: int, config: TrainingConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based).

    Warm-up: ``lr · (step+1) / warmup`` for the first ``warmup`` steps (``warmup_steps`` or
    ``round(warmup_ratio · total)``); then with ``p`` = progress in [0, 1] over the rest:
    constant ``lr``, linear ``lr · (1 - p)``, cosine ``lr · ½(1 + cos(π p))``.
    """
    warmup = config.warmup_steps or round(config.warmup_ratio * total_steps)
    if step < warmup:
        return config.learning_rate * (step + 1) / warmup
    if config.lr_scheduler == "constant":
        return config.learning_rate
    p = (step - warmup) / max(1, total_steps - warmup)
    if config.lr_scheduler == "linear":
        return config.learning_rate * max(0.0, 1 - p)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))

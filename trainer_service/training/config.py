"""The training job configuration: defaults, documented ranges, and validation that names the offending field.

A pydantic model, so each field carries its range and description in one place; a bad value is
``lorafleet.errors.InvalidArgument`` naming the field as the API spells it (``lora.r``,
``hyperparameters.batch_size``), never a pydantic ValidationError.

LoRA: ``W' = W + s · B A`` with ``A ∈ R^{r×in}``, ``B ∈ R^{out×r}`` and ``s = alpha / r``
(rsLoRA: ``s = alpha / sqrt(r)``, which keeps the update's scale stable as r grows).

DPO (``method="dpo"``): ``beta``, ``loss_type``, ``label_smoothing``, ``sft_weight`` and
``best_metric`` sit in the request's ``dpo`` message; ``training/dpo.py`` states the loss.
``init_from`` names an adapter version to start from (and, for DPO, the reference model).

``extrapolate_mlp`` / ``extrapolate_attention`` (the request's ``extrapolate`` message) scale the trained
update by part before it is registered: ``B ← s·B`` (``lorafleet/adapters/extrapolate.py`` states the math
and why), so the registered adapter serves ``W + s·(α/r)·B·A``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from lorafleet import names
from lorafleet.adapters.extrapolate import ATTENTION_PROJECTIONS, MAX_FACTOR, MLP_PROJECTIONS, Factors
from lorafleet.adapters.lora import lora_scale
from lorafleet.errors import InvalidArgument
from lorafleet.refs import parse_ref, validate_name
from lorafleet.v1 import common_pb2, trainer_pb2

METHODS = names.ADAPTER_METHODS.choices
SCHEDULERS = names.LR_SCHEDULERS.choices
ALL_LINEAR = "all-linear"
FORMATS = ("", *names.DATASET_FORMATS.choices)  # "": detect the format from the first record
COMPUTE_DTYPES = names.COMPUTE_DTYPES.choices  # "auto" first: the proto's unspecified value
TRAINING_METHODS = names.TRAINING_METHODS.choices
DPO_LOSS_TYPES = names.DPO_LOSS_TYPES.choices
PREFERENCE_METRICS = names.PREFERENCE_METRICS.choices

# A config field's name in the API (CreateTrainingJobRequest): LoRA fields sit in its ``lora`` message,
# optimisation fields in ``hyperparameters``, the rest at the top.
_LORA_FIELDS = frozenset(common_pb2.LoraConfig.DESCRIPTOR.fields_by_name)
_HYPERPARAMETER_FIELDS = frozenset(trainer_pb2.Hyperparameters.DESCRIPTOR.fields_by_name)
_DPO_FIELDS = frozenset(trainer_pb2.DpoConfig.DESCRIPTOR.fields_by_name)


def api_field(name: str) -> str:
    """The request path of config field ``name``: ``r`` -> ``lora.r``, ``epochs`` -> ``hyperparameters.epochs``,
    ``beta`` -> ``dpo.beta``."""
    if name in _LORA_FIELDS:
        return f"lora.{name}"
    if name in _HYPERPARAMETER_FIELDS:
        return f"hyperparameters.{name}"
    if name in _DPO_FIELDS:
        return f"dpo.{name}"
    if name.startswith("extrapolate_"):
        return f"extrapolate.{name.removeprefix('extrapolate_')}"
    return name


def _one_of(choices: Sequence[str], label: str = "") -> AfterValidator:
    """A check that the value is one of ``choices``; its error names ``label`` ("a dataset format") or the choices."""

    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not {label}" if label else f"{value!r} is not one of {', '.join(choices)}")
        return value

    return AfterValidator(check)


def _targets(value: tuple[str, ...]) -> tuple[str, ...]:
    if ALL_LINEAR in value and len(value) > 1:
        raise ValueError(f"{ALL_LINEAR!r} cannot be combined with module names")
    return value


def _invalid_argument(exc: ValidationError) -> InvalidArgument:
    """The first error of a ValidationError as InvalidArgument, naming the field as the API does."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "config"
    if error["type"] == "extra_forbidden":
        return InvalidArgument(f"unknown config key {name!r}", field=name)
    cause = (error.get("ctx") or {}).get("error")
    reason = str(cause) if isinstance(cause, ValueError) else f"{error['msg']}, got {error.get('input')!r}"
    return InvalidArgument(reason, field=api_field(name))


class TrainingConfig(BaseModel):
    """One training job's configuration; immutable. Copy with ``model_copy(update=...)``.

    Every field's range is checked on construction (an InvalidArgument naming the field, such as
    ``lora.r``). :meth:`validate` adds what only a job needs: what a config may still lack while it
    is being built (the adapter name, the datasets), a learning rate below 1, and what needs the
    base model (its module names).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    adapter_name: str = Field(description="registry name of the adapter to write; its next version is the job's")
    method: Annotated[str, _one_of(TRAINING_METHODS)] = Field(
        "sft", description="sft: token cross-entropy on answers; dpo: preference pairs (training/dpo.py)")
    init_from: str = Field("", description="an adapter reference to start from (and DPO's reference); '' for a "
                                           "fresh adapter (DPO's reference is then the base model)")
    adapter_method: Annotated[str, _one_of(METHODS)] = Field(
        "qlora", description="lora: a full-precision base; qlora: an nf4-quantized base")
    # LoRA
    r: int = Field(16, ge=1, le=1024, description="rank of the update B·A")
    alpha: float = Field(32.0, gt=0, allow_inf_nan=False,
                         description="scale numerator: the update is scaled by alpha / r (rsLoRA: alpha / sqrt(r))")
    dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the LoRA branch's input, in [0, 1)")
    target_modules: Annotated[tuple[str, ...], AfterValidator(_targets)] = Field(
        (ALL_LINEAR,), min_length=1, description="module names such as q_proj, or the single value 'all-linear'")
    use_rslora: bool = Field(False, description="rank-stabilised scale alpha / sqrt(r) instead of alpha / r")
    # optimisation
    epochs: int = Field(1, ge=1, description="passes over the training data")
    batch_size: int = Field(8, ge=1, description="examples per micro-batch")
    gradient_accumulation_steps: int = Field(1, ge=1, description="micro-batches per optimizer step")
    # < 1 is checked by validate() only, so lr_at can be studied on a config with learning_rate 1
    learning_rate: float = Field(5e-4, gt=0, allow_inf_nan=False,
                                 description="peak AdamW learning rate, > 0; a job's must be < 1 (validate())")
    lr_scheduler: Annotated[str, _one_of(SCHEDULERS)] = Field(
        "cosine", description="decay after warm-up: linear, cosine or constant (see lr_at)")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="fraction of steps for linear warm-up, in [0, 1)")
    warmup_steps: int = Field(0, ge=0, description="warm-up steps; overrides warmup_ratio when > 0")
    weight_decay: float = Field(0.0, ge=0, lt=1, description="AdamW weight decay, in [0, 1)")
    max_steps: int = Field(0, ge=0, description="hard cap on optimizer steps; 0 for no cap")
    max_seq_length: int = Field(1024, ge=16, le=131072, description="tokens per example, in [16, 131072]")
    seed: int = Field(42, description="seed of the data order, the split and the initial weights")
    packing: bool = Field(True, description="pack short examples into full rows (no attention across examples)")
    gradient_checkpointing: bool | None = Field(
        None, description="recompute activations in backward; None: on for CUDA, off on a CPU (see model.py)")
    compute_dtype: Annotated[str, _one_of(COMPUTE_DTYPES)] = Field(
        "auto", description="precision of the frozen base's matmuls (see model.resolve_compute_dtype)")
    # SFT (method "sft")
    answer_start_weight: float = Field(
        1.0, ge=1, le=100, allow_inf_nan=False,
        description="loss weight of the first answer_start_tokens tokens of each answer, in [1, 100] (objective.py)")
    answer_start_tokens: int = Field(2, ge=1, le=64, description="how many tokens open an answer, in [1, 64]")
    anchor_weight: float = Field(
        1.0, ge=0.01, le=100, allow_inf_nan=False,
        description="λ: weight of the KL to the base model on anchor records' tokens, in [0.01, 100] (objective.py)")
    # DPO (method "dpo")
    beta: float = Field(0.1, gt=0, le=100, allow_inf_nan=False,
                        description="strength of the implicit KL penalty towards the reference, in (0, 100]")
    loss_type: Annotated[str, _one_of(DPO_LOSS_TYPES)] = Field("sigmoid", description="sigmoid, ipo or robust")
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, description="assumed share of flipped labels, in [0, 0.5)")
    sft_weight: float = Field(0.0, ge=0, le=100, allow_inf_nan=False,
                              description="weight of the chosen answers' mean token NLL added to the loss (RPO)")
    best_metric: Annotated[str, _one_of(PREFERENCE_METRICS)] = Field(
        "loss", description="the validation figure that picks the best checkpoint: loss (lowest) or margin (largest)")
    # the registered update (extrapolate.*)
    extrapolate_mlp: float = Field(
        1.0, gt=0, le=MAX_FACTOR, allow_inf_nan=False,
        description="factor on the MLP projections' trained update before registering, in (0, 4]; 1 leaves it")
    extrapolate_attention: float = Field(
        1.0, gt=0, le=MAX_FACTOR, allow_inf_nan=False,
        description="factor on the attention projections' trained update before registering, in (0, 4]")
    # evaluation
    eval_every_steps: int = Field(0, ge=0, description="evaluate every N optimizer steps; 0 for once per epoch")
    early_stopping_patience: int = Field(
        0, ge=0, description="stop after N evaluations without improvement; 0 disables early stopping")
    validation_split: float = Field(
        0.0, ge=0, lt=1, description="fraction of the training data held out for validation, in [0, 1)")
    # data
    dataset_format: Annotated[str, _one_of(FORMATS, "a dataset format")] = Field(
        "", description="chat, prompt_completion or text; '' detects it from the first record")
    training_dataset_id: str = Field("", description="an uploaded dataset (ds-...); or training_dataset_path")
    training_dataset_path: str = Field("", description="a file under the server's data roots; or training_dataset_id")
    validation_dataset_id: str = Field("", description="an uploaded validation dataset (optional)")
    validation_dataset_path: str = Field("", description="a validation file under the data roots (optional)")
    description: str = Field("", description="free text, stored with the adapter version")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _invalid_argument(exc) from None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingConfig:
        """A config from its :meth:`model_dump` / JSON form; InvalidArgument for an unknown key."""
        unknown = set(data) - set(cls.model_fields)
        if unknown:
            raise InvalidArgument(f"unknown config keys {sorted(unknown)}", field=sorted(unknown)[0])
        return cls(**data)

    @property
    def extrapolation(self) -> Factors | None:
        """The factors the trained update is scaled by before registering; None when both are 1."""
        if self.extrapolate_mlp == 1.0 and self.extrapolate_attention == 1.0:
            return None
        return Factors(mlp=self.extrapolate_mlp, attention=self.extrapolate_attention)

    def check_extrapolation(self, linear_module_names: Sequence[str] | None) -> None:
        """Extrapolation by part knows a factor for MLP and attention projections only: a job that would
        adapt another module (an LM head, a fused ``qkv_proj``) is refused now, not after training. Module
        names may be paths (``model.layers.0.mlp.up_proj``, as an ``init_from`` version lists them)."""
        if self.extrapolation is None:
            return
        if ALL_LINEAR in self.target_modules:
            if linear_module_names is None:
                return
            targeted = list(linear_module_names)
        else:
            targeted = list(self.target_modules)
        other = sorted({m for m in targeted if Factors.part_or_none(m) is None})
        if other:
            raise InvalidArgument(f"extrapolation by part scales MLP ({', '.join(sorted(MLP_PROJECTIONS))}) and "
                                  f"attention ({', '.join(sorted(ATTENTION_PROJECTIONS))}) projections only; the job "
                                  f"adapts {other}", field="extrapolate")

    def validate(self, linear_module_names: Sequence[str] | None = None) -> TrainingConfig:
        """Raise InvalidArgument naming the first bad field; returns self for chaining.

        The field ranges are checked again (a ``model_copy(update=...)`` skips them), then what only a
        job needs: the adapter name, a learning rate below 1, the target modules against the base
        model's ``linear_module_names`` and the datasets.
        """
        validate_name(self.adapter_name, field="adapter_name")
        if self.init_from:
            parse_ref(self.init_from, field="init_from")
        try:
            type(self).model_validate(self.model_dump())
        except ValidationError as exc:
            raise _invalid_argument(exc) from None
        for name in ("answer_start_weight", "anchor_weight"):  # SFT's token loss only; refused, not ignored
            if self.method != "sft" and getattr(self, name) != type(self).model_fields[name].default:
                raise InvalidArgument(f"applies to SFT only, not to method {self.method!r}",
                                      field=f"hyperparameters.{name}")
        if self.learning_rate >= 1:
            raise InvalidArgument(f"must be < 1, got {self.learning_rate!r}", field="hyperparameters.learning_rate")
        self.check_extrapolation(linear_module_names)
        if linear_module_names is not None and ALL_LINEAR not in self.target_modules:
            unknown = [m for m in self.target_modules if m not in linear_module_names]
            if unknown:
                raise InvalidArgument(f"unknown target module(s) {unknown}; the base model has "
                                      f"{sorted(linear_module_names)} or {ALL_LINEAR!r}", field="lora.target_modules")
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


DEFAULT_MAX_SEQ_LENGTH: int = TrainingConfig.model_fields["max_seq_length"].default


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

"""protobuf ↔ trainer dataclasses, at the servicer edge only.

Enum numbers and names convert through the tables of ``lorafleet.names`` (``JOB_STATES``, ...),
so no value of a proto enum is spelled here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from lorafleet.errors import InvalidArgument
from lorafleet.names import (
    ADAPTER_METHODS,
    COMPUTE_DTYPES,
    DATASET_FORMATS,
    DPO_LOSS_TYPES,
    ISSUE_SEVERITIES,
    JOB_STATES,
    LR_SCHEDULERS,
    PREFERENCE_METRICS,
    TRAINING_EVENT_TYPES,
    TRAINING_METHODS,
    EnumNames,
)
from lorafleet.v1 import common_pb2, trainer_pb2
from trainer_service.data.datasets import DatasetInfo
from trainer_service.data.validation import DatasetIssue, DatasetStats, ValidationReport
from trainer_service.enums import DatasetFormat, JobState
from trainer_service.events import JobEvent
from trainer_service.hyperparameters import check_ranges
from trainer_service.job_store import Job
from trainer_service.training.config import TrainingConfig

SFT = TRAINING_METHODS.value("sft")
MAX_REPORTED_ISSUES = 10_000
MAX_ISSUE_MESSAGE = 300
DPO = TRAINING_METHODS.value("dpo")
# the PreferenceMetrics fields, as progress payloads name them ("reward_margin") and as evaluations do
# ("validation_reward_margin")
PREFERENCE_FIELDS = tuple(trainer_pb2.PreferenceMetrics.DESCRIPTOR.fields_by_name)


def ts(dt: datetime | None) -> Timestamp:
    t = Timestamp()
    if dt is not None:
        t.FromDatetime(dt)
    return t


def enum_name(table: EnumNames, value: int, field: str) -> str:
    """Proto enum number -> short name; "" for 0 when it has no name. InvalidArgument naming ``field``."""
    if value == 0 and table.unspecified is None:
        return ""
    try:
        return table.name(value)
    except ValueError:
        raise InvalidArgument(f"unknown enum value {value}", field=field) from None


def format_from_proto(value: int, field: str) -> DatasetFormat | None:
    """A DatasetFormat number -> the format; None for unspecified (detect it)."""
    name = enum_name(DATASET_FORMATS, value, field)
    return DatasetFormat(name) if name else None


def format_to_proto(fmt: DatasetFormat | str | None) -> int:
    return DATASET_FORMATS.value(fmt.value if isinstance(fmt, DatasetFormat) else fmt)


def state_from_proto(value: int, field: str) -> JobState | None:
    """A JobState number -> the state; None for unspecified (no filter)."""
    name = enum_name(JOB_STATES, value, field)
    return JobState(name.upper()) if name else None


def state_to_proto(state: JobState) -> int:
    return JOB_STATES.value(state.value)


def config_from_proto(req: trainer_pb2.CreateTrainingJobRequest) -> TrainingConfig:
    """Request → TrainingConfig; unset (zero) fields take the model's defaults; every field is checked
    against its documented range (``trainer_service.hyperparameters``)."""
    d = TrainingConfig(adapter_name=req.adapter_name)
    method = enum_name(TRAINING_METHODS, req.method, "method") or d.method
    if req.HasField("dpo") and method != "dpo":
        raise InvalidArgument("DPO settings need method TRAINING_METHOD_DPO", field="dpo")
    h = req.hyperparameters
    lora = req.lora
    values: dict[str, Any] = {
        "adapter_name": req.adapter_name,
        "method": method,
        "init_from": req.init_from,
        **_dpo_values(req.dpo, d),
        "adapter_method": enum_name(ADAPTER_METHODS, req.adapter_method, "adapter_method") or d.adapter_method,
        "r": lora.r or d.r,
        "alpha": lora.alpha or d.alpha,
        "dropout": lora.dropout if req.HasField("lora") else d.dropout,
        "target_modules": tuple(lora.target_modules) or d.target_modules,
        "use_rslora": lora.use_rslora,
        "epochs": h.epochs or d.epochs,
        "batch_size": h.batch_size or d.batch_size,
        "gradient_accumulation_steps": h.gradient_accumulation_steps or d.gradient_accumulation_steps,
        "learning_rate": h.learning_rate if h.learning_rate != 0 else d.learning_rate,
        "lr_scheduler": enum_name(LR_SCHEDULERS, h.lr_scheduler, "hyperparameters.lr_scheduler") or d.lr_scheduler,
        "warmup_ratio": h.warmup_ratio if req.HasField("hyperparameters") else d.warmup_ratio,
        "warmup_steps": h.warmup_steps,
        "weight_decay": h.weight_decay,
        "max_steps": h.max_steps,
        "max_seq_length": h.max_seq_length or d.max_seq_length,
        "seed": h.seed if h.seed else d.seed,
        "packing": h.packing if h.HasField("packing") else d.packing,
        "gradient_checkpointing": h.gradient_checkpointing if h.HasField("gradient_checkpointing") else None,
        "compute_dtype": enum_name(COMPUTE_DTYPES, h.compute_dtype, "hyperparameters.compute_dtype"),
        "answer_start_weight": h.answer_start_weight or d.answer_start_weight,
        "answer_start_tokens": h.answer_start_tokens or d.answer_start_tokens,
        "anchor_weight": h.anchor_weight or d.anchor_weight,
        "extrapolate_mlp": req.extrapolate.mlp or d.extrapolate_mlp,
        "extrapolate_attention": req.extrapolate.attention or d.extrapolate_attention,
        "eval_every_steps": h.eval_every_steps,
        "early_stopping_patience": h.early_stopping_patience,
        "validation_split": req.validation_split,
        "dataset_format": enum_name(DATASET_FORMATS, req.dataset_format, "dataset_format"),
        "training_dataset_id": req.training_dataset_id,
        "training_dataset_path": req.training_dataset_path,
        "validation_dataset_id": req.validation_dataset_id,
        "validation_dataset_path": req.validation_dataset_path,
        "description": req.description,
    }
    if req.HasField("lora") and lora.r == 0:
        values["r"] = 0  # an explicit lora block with r = 0 is an error, not "default"
    return check_ranges(TrainingConfig(**values))


def _dpo_values(dpo: trainer_pb2.DpoConfig, d: TrainingConfig) -> dict[str, Any]:
    """The DPO fields of a request; zero fields take the defaults of ``d``."""
    return {"beta": dpo.beta or d.beta,
            "loss_type": enum_name(DPO_LOSS_TYPES, dpo.loss_type, "dpo.loss_type") or d.loss_type,
            "label_smoothing": dpo.label_smoothing, "sft_weight": dpo.sft_weight,
            "best_metric": enum_name(PREFERENCE_METRICS, dpo.best_metric, "dpo.best_metric") or d.best_metric}


def config_to_proto(c: TrainingConfig) -> trainer_pb2.CreateTrainingJobRequest:
    dpo = trainer_pb2.DpoConfig(beta=c.beta, loss_type=DPO_LOSS_TYPES.value(c.loss_type),
                                label_smoothing=c.label_smoothing, sft_weight=c.sft_weight,
                                best_metric=PREFERENCE_METRICS.value(c.best_metric)) if c.method == "dpo" else None
    return trainer_pb2.CreateTrainingJobRequest(
        adapter_name=c.adapter_name, method=TRAINING_METHODS.value(c.method), dpo=dpo, init_from=c.init_from,
        adapter_method=ADAPTER_METHODS.value(c.adapter_method),
        lora=common_pb2.LoraConfig(r=c.r, alpha=c.alpha, dropout=c.dropout, target_modules=list(c.target_modules),
                                   use_rslora=c.use_rslora),
        hyperparameters=trainer_pb2.Hyperparameters(
            epochs=c.epochs, batch_size=c.batch_size, gradient_accumulation_steps=c.gradient_accumulation_steps,
            learning_rate=c.learning_rate, lr_scheduler=LR_SCHEDULERS.value(c.lr_scheduler),
            warmup_ratio=c.warmup_ratio, warmup_steps=c.warmup_steps, max_seq_length=c.max_seq_length, seed=c.seed,
            packing=c.packing,
            eval_every_steps=c.eval_every_steps, early_stopping_patience=c.early_stopping_patience,
            weight_decay=c.weight_decay, max_steps=c.max_steps, compute_dtype=COMPUTE_DTYPES.value(c.compute_dtype),
            answer_start_weight=c.answer_start_weight, answer_start_tokens=c.answer_start_tokens,
            anchor_weight=c.anchor_weight,
            **({"gradient_checkpointing": c.gradient_checkpointing} if c.gradient_checkpointing is not None else {})),
        training_dataset_id=c.training_dataset_id, training_dataset_path=c.training_dataset_path,
        validation_dataset_id=c.validation_dataset_id, validation_dataset_path=c.validation_dataset_path,
        validation_split=c.validation_split,
        dataset_format=format_to_proto(c.dataset_format),
        description=c.description,
        extrapolate=trainer_pb2.Extrapolation(mlp=c.extrapolate_mlp, attention=c.extrapolate_attention)
        if c.extrapolation is not None else None)


def preference_to_proto(values: dict, prefix: str = "") -> trainer_pb2.PreferenceMetrics | None:
    """The ``prefix``-ed preference figures of a payload (``validation_reward_margin``...); None when it has none."""
    found = {k: float(values[prefix + k]) for k in PREFERENCE_FIELDS if prefix + k in values}
    return trainer_pb2.PreferenceMetrics(**found) if found else None


def progress_to_proto(p: dict) -> trainer_pb2.TrainingProgress:
    keys = ("step", "total_steps", "epoch", "train_loss", "learning_rate", "tokens_per_second", "eta_seconds",
            "tokens_trained", "elapsed_seconds")
    ints = {"step", "total_steps", "tokens_trained"}
    return trainer_pb2.TrainingProgress(**{k: (int(p[k]) if k in ints else float(p[k])) for k in keys if k in p},
                                        preference=preference_to_proto(p))


def checkpoint_to_proto(c: dict) -> trainer_pb2.Checkpoint:
    out = trainer_pb2.Checkpoint(step=int(c.get("step", 0)), train_loss=float(c.get("train_loss", 0.0)),
                                 validation_loss=float(c.get("validation_loss", 0.0)),
                                 validation_token_accuracy=float(c.get("validation_token_accuracy", 0.0)),
                                 path=str(c.get("path", "")), best=bool(c.get("best", False)),
                                 validation_preference=preference_to_proto(c, "validation_"))
    if c.get("created"):
        out.create_time.FromDatetime(datetime.fromisoformat(c["created"]))
    return out


def job_to_proto(job: Job) -> trainer_pb2.TrainingJob:
    out = trainer_pb2.TrainingJob(
        id=job.id, adapter_name=job.adapter_name, state=state_to_proto(job.state), config=config_to_proto(job.config),
        progress=progress_to_proto(job.progress), checkpoints=[checkpoint_to_proto(c) for c in job.checkpoints],
        adapter_version=job.adapter_version, error=job.error, metrics=job.metrics, dataset_sha256=job.dataset_sha256)
    for name, dt in (("create_time", job.created_at), ("start_time", job.started_at), ("finish_time", job.finished_at)):
        if dt is not None:
            getattr(out, name).FromDatetime(dt)
    return out


def event_to_proto(e: JobEvent) -> trainer_pb2.TrainingEvent:
    out = trainer_pb2.TrainingEvent(sequence=e.sequence, time=ts(e.time), type=TRAINING_EVENT_TYPES.value(e.type.value),
                                    state=state_to_proto(e.state), message=e.message)
    if e.progress:
        out.progress.CopyFrom(progress_to_proto(e.progress))
    if e.checkpoint:
        out.checkpoint.CopyFrom(checkpoint_to_proto(e.checkpoint))
    if e.evaluation:
        ev = e.evaluation
        out.checkpoint.CopyFrom(trainer_pb2.Checkpoint(
            step=int(ev.get("step", 0)), train_loss=float(ev.get("train_loss", 0.0)),
            validation_loss=float(ev.get("validation_loss", 0.0)),
            validation_token_accuracy=float(ev.get("validation_token_accuracy", 0.0)),
            validation_preference=preference_to_proto(ev, "validation_")))
        out.progress.step = int(ev.get("step", 0))
        if not out.message:
            out.message = _evaluation_message(ev)
    return out


def _evaluation_message(ev: dict) -> str:
    head = f"step {ev.get('step', 0)}: validation loss {ev.get('validation_loss', 0):.4f}, "
    if "validation_reward_margin" in ev:
        return head + (f"reward margin {ev['validation_reward_margin']:.3f}, "
                       f"accuracy {ev.get('validation_reward_accuracy', 0):.3f}")
    return head + f"token accuracy {ev.get('validation_token_accuracy', 0):.3f}"


def dataset_to_proto(info: DatasetInfo) -> trainer_pb2.Dataset:
    return trainer_pb2.Dataset(id=info.id, filename=info.filename, sha256=info.sha256, size_bytes=info.size_bytes,
                               num_examples=info.num_examples, format=format_to_proto(info.format),
                               create_time=ts(info.created_at))


def issue_to_proto(i: DatasetIssue) -> trainer_pb2.DatasetIssue:
    return trainer_pb2.DatasetIssue(line=i.line, severity=ISSUE_SEVERITIES.value(i.severity), code=i.code,
                                    message=i.message, file=i.file)


def stats_to_proto(s: DatasetStats | None) -> trainer_pb2.DatasetStats | None:
    if s is None:
        return None
    return trainer_pb2.DatasetStats(num_examples=s.num_examples, total_tokens=s.total_tokens,
                                    max_tokens=s.max_tokens, mean_tokens=s.mean_tokens,
                                    format=format_to_proto(s.format), duplicates=s.duplicates)


def report_issues(issues: list[DatasetIssue]) -> list[trainer_pb2.DatasetIssue]:
    """At most ``MAX_REPORTED_ISSUES`` issues, each message at most ``MAX_ISSUE_MESSAGE`` characters, then one
    ``more_issues`` warning that counts the rest: a pathological dataset must not make a reply over the
    message size limit (a message may quote a record's value)."""
    shown = [issue_to_proto(i) for i in issues[:MAX_REPORTED_ISSUES]]
    for issue in shown:
        if len(issue.message) > MAX_ISSUE_MESSAGE:
            issue.message = issue.message[:MAX_ISSUE_MESSAGE] + "…"
    if len(issues) > MAX_REPORTED_ISSUES:
        shown.append(trainer_pb2.DatasetIssue(severity=ISSUE_SEVERITIES.value("warning"), code="more_issues",
                                              message=f"{len(issues) - MAX_REPORTED_ISSUES} more issues not listed"))
    return shown


def report_to_proto(r: ValidationReport) -> trainer_pb2.ValidateDatasetResponse:
    out = trainer_pb2.ValidateDatasetResponse(valid=r.valid, issues=report_issues(r.issues),
                                              stats=stats_to_proto(r.stats))
    if r.validation_stats is not None:
        out.validation_stats.CopyFrom(stats_to_proto(r.validation_stats))
    return out


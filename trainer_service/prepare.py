"""A job's data, checked and tokenized: its training and validation examples, or the error.

Why a module of its own: CreateTrainingJob refuses bad data synchronously, naming the request
field and the lines at fault, and a job re-queued after a restart goes through the same checks
again. Both paths turn a validation report and the config (its ``validation_split``, its seed)
into the examples the training loop runs on; this is that one step. It sits beside ``jobs.py``,
not in ``data/``, because it reads the training config (``training/`` already imports ``data/``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from lorafleet.errors import InvalidArgument
from trainer_service.data.tokenize import PreferencePair, TokenizedExample
from trainer_service.data.validation import ValidationReport
from trainer_service.enums import DatasetFormat
from trainer_service.training.config import TrainingConfig

MAX_ISSUES_IN_ERROR = 20


@dataclass
class PreparedData:
    train: list[TokenizedExample] | list[PreferencePair]  # pairs for DPO
    validation: list[TokenizedExample] | list[PreferencePair]


def prepare(report: ValidationReport, config: TrainingConfig) -> PreparedData:
    """The examples of a valid ``report``, split off by ``config.validation_split`` when set. SFT on preference
    data trains on the chosen answers (the usual first stage before DPO on the same pairs).

    InvalidArgument naming the dataset field (``training_dataset_id``/``_path``, ``validation_...``)
    and listing up to ``MAX_ISSUES_IN_ERROR`` problems when the report has errors.
    """
    if not report.valid:
        raise _data_error(report, config)
    _check_method(report, config)
    train_ex, val_ex = list(report.train), list(report.validation)
    if config.method != "dpo" and report.format is DatasetFormat.PREFERENCE:
        train_ex, val_ex = [p.chosen for p in train_ex], [p.chosen for p in val_ex]
    if config.validation_split:
        order = list(range(len(train_ex)))
        random.Random(config.seed).shuffle(order)
        n_val = max(1, round(config.validation_split * len(order)))
        if n_val >= len(order):
            raise InvalidArgument(f"leaves no training examples out of {len(order)}", field="validation_split")
        val_ex = [train_ex[i] for i in sorted(order[:n_val])]
        train_ex = [train_ex[i] for i in sorted(order[n_val:])]
    if not train_ex:
        raise InvalidArgument("the dataset holds no usable examples", field="training_dataset_id")
    return PreparedData(train_ex, val_ex)


def _check_method(report: ValidationReport, config: TrainingConfig) -> None:
    """DPO trains on preference records only (SFT on any format: on preference records, their chosen answers)."""
    preference = report.format is DatasetFormat.PREFERENCE
    if config.method == "dpo" and not preference:
        field = "training_dataset_path" if config.training_dataset_path else "training_dataset_id"
        raise InvalidArgument(f"method dpo trains on preference records ({{prompt or messages, chosen, rejected}}); "
                              f"this dataset is {report.format.value if report.format else 'empty'}", field=field)


def _data_error(report: ValidationReport, config: TrainingConfig) -> InvalidArgument:
    errors = report.errors()
    shown = "; ".join(str(i) for i in errors[:MAX_ISSUES_IN_ERROR])
    more = f" (+{len(errors) - MAX_ISSUES_IN_ERROR} more)" if len(errors) > MAX_ISSUES_IN_ERROR else ""
    fields = {"training": "training_dataset_path" if config.training_dataset_path else "training_dataset_id",
              "validation": "validation_dataset_path" if config.validation_dataset_path else "validation_dataset_id"}
    return InvalidArgument(f"{len(errors)} problem(s): {shown}{more}", field=fields[errors[0].file])

"""Name tables derived from the proto enums: the one place a state or option is spelled.

Every enum of ``lorafleet.v1`` has the form ``PREFIX_NAME = n`` with ``PREFIX_UNSPECIFIED = 0``.
An :class:`EnumNames` turns those into the short lower-case names used by the command line, the
Python client, the JSON records and the servers' plain dataclasses (``JOB_STATE_RUNNING`` ->
``"running"``), and back. Adding a value to a ``.proto`` file adds it everywhere; nothing else
keeps a copy of the list.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lorafleet.v1 import common_pb2, eval_pb2, inference_pb2, rollout_pb2, trainer_pb2


class EnumNames:
    """Short names of one proto enum. ``unspecified`` names the 0 value when it has a meaning
    (``ComputeDtype`` 0 = ``"auto"``); otherwise 0 has no name and is not a choice."""

    def __init__(self, enum: Any, prefix: str, *, unspecified: str | None = None) -> None:
        self.enum = enum
        self.prefix = prefix
        self.unspecified = unspecified
        self._by_value: dict[int, str] = {}
        for full, value in enum.items():
            short = full.removeprefix(prefix).lower()
            if value == 0:
                if unspecified is not None:
                    self._by_value[0] = unspecified
                continue
            self._by_value[value] = short
        self._by_name = {v: k for k, v in self._by_value.items()}

    @property
    def choices(self) -> tuple[str, ...]:
        """Every short name, in enum order (``unspecified`` first when it has one)."""
        return tuple(self._by_value[v] for v in sorted(self._by_value))

    def __iter__(self) -> Iterator[str]:
        return iter(self.choices)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def name(self, value: int) -> str:
        """Enum number -> short name; ValueError for 0 without meaning or an unknown number."""
        try:
            return self._by_value[int(value)]
        except KeyError:
            raise ValueError(f"{value!r} is not a known {self.prefix.rstrip('_').lower()} value") from None

    def value(self, name: str | int | None) -> int:
        """Short, upper-case or full proto name, or the number itself -> enum number.

        None or "" -> 0 (unspecified). ValueError lists the choices for anything else unknown.
        """
        if name is None or name == "":
            return 0
        if isinstance(name, int) and not isinstance(name, bool):
            self.name(name) if name else None
            return name
        key = str(name).strip().lower().removeprefix(self.prefix.lower())
        if key in self._by_name:
            return self._by_name[key]
        raise ValueError(f"{name!r} is not one of {', '.join(self.choices)}")


ADAPTER_STATES = EnumNames(common_pb2.AdapterState, "ADAPTER_STATE_")
QUANTIZATIONS = EnumNames(common_pb2.Quantization, "QUANTIZATION_")
DATASET_FORMATS = EnumNames(trainer_pb2.DatasetFormat, "DATASET_FORMAT_")
TRAINING_METHODS = EnumNames(trainer_pb2.TrainingMethod, "TRAINING_METHOD_")
DPO_LOSS_TYPES = EnumNames(trainer_pb2.DpoLossType, "DPO_LOSS_TYPE_")
PREFERENCE_METRICS = EnumNames(trainer_pb2.PreferenceMetric, "PREFERENCE_METRIC_")
ADAPTER_METHODS = EnumNames(trainer_pb2.AdapterMethod, "ADAPTER_METHOD_")
LR_SCHEDULERS = EnumNames(trainer_pb2.LrScheduler, "LR_SCHEDULER_")
COMPUTE_DTYPES = EnumNames(trainer_pb2.ComputeDtype, "COMPUTE_DTYPE_", unspecified="auto")
JOB_STATES = EnumNames(trainer_pb2.JobState, "JOB_STATE_")
TRAINING_EVENT_TYPES = EnumNames(trainer_pb2.TrainingEventType, "TRAINING_EVENT_TYPE_")
ISSUE_SEVERITIES = EnumNames(trainer_pb2.IssueSeverity, "ISSUE_SEVERITY_")
FINISH_REASONS = EnumNames(inference_pb2.FinishReason, "FINISH_REASON_")
ADAPTER_TIERS = EnumNames(inference_pb2.AdapterTier, "ADAPTER_TIER_")
SUITE_KINDS = EnumNames(eval_pb2.SuiteKind, "SUITE_KIND_")
BASELINE_KINDS = EnumNames(eval_pb2.BaselineKind, "BASELINE_KIND_")
EVALUATION_STATES = EnumNames(eval_pb2.EvaluationState, "EVALUATION_STATE_")
VERDICTS = EnumNames(eval_pb2.Verdict, "VERDICT_")

TERMINAL_JOB_STATES = frozenset({"succeeded", "failed", "cancelled"})
FINISHED_EVALUATION_STATES = frozenset({"succeeded", "failed"})

ROLLOUT_MODES = EnumNames(rollout_pb2.RolloutMode, "ROLLOUT_MODE_")
ROLLOUT_STATES = EnumNames(rollout_pb2.RolloutState, "ROLLOUT_STATE_")
TRAFFIC_ARMS = EnumNames(rollout_pb2.TrafficArm, "TRAFFIC_ARM_")
GUARDRAIL_DECISIONS = EnumNames(rollout_pb2.GuardrailDecision, "GUARDRAIL_DECISION_")
ROLLOUT_ACTIONS = EnumNames(rollout_pb2.RolloutAction, "ROLLOUT_ACTION_")

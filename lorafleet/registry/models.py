"""Plain records of the registry (no SQL, no protobuf).

These frozen dataclasses are what every service sees; ``lorafleet.server.registry_convert`` turns them
into protobuf at the gRPC edge and ``lorafleet.registry.store`` builds them from database rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from lorafleet.adapters.lora import LoraSpec


class AdapterState(str, Enum):
    """Lifecycle of one adapter version: CANDIDATE -> EVALUATING -> PROMOTED | REJECTED."""

    CANDIDATE = "CANDIDATE"
    EVALUATING = "EVALUATING"
    PROMOTED = "PROMOTED"
    REJECTED = "REJECTED"


@dataclass(frozen=True)
class VersionRecord:
    """One immutable adapter version (``name@version``) and its mutable metadata.

    ``artifact_path`` is the absolute directory holding ``adapter_config.json`` and
    ``adapter_model.safetensors``; ``aliases`` are the aliases pointing at this version now.
    """

    name: str
    version: int
    state: AdapterState
    base_fingerprint: str
    lora: LoraSpec
    lineage: dict[str, Any]
    metrics: dict[str, float]
    aliases: tuple[str, ...]
    artifact_path: str
    size_bytes: int
    description: str
    evaluations: tuple[dict[str, Any], ...]
    created_at: datetime
    updated_at: datetime
    resolved_target_modules: tuple[str, ...] = field(default=())

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class AliasRecord:
    name: str
    alias: str
    version: int
    updated_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.alias}"


@dataclass(frozen=True)
class AliasChangeRecord:
    """One move of an alias; ``from_version`` is 0 when the alias did not exist before."""

    name: str
    alias: str
    from_version: int
    to_version: int
    reason: str
    changed_at: datetime


@dataclass(frozen=True)
class Record:
    """A generic persisted JSON record (training job, evaluation, dataset) of one ``kind``."""

    id: str
    kind: str
    state: str
    subject: str
    payload: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class RolloutState(str, Enum):
    RUNNING = "RUNNING"
    PROMOTED = "PROMOTED"
    ROLLED_BACK = "ROLLED_BACK"
    ABORTED = "ABORTED"


class RolloutMode(str, Enum):
    SHADOW = "SHADOW"
    CANARY = "CANARY"


@dataclass(frozen=True)
class RolloutStage:
    """One step of a rollout: shadow, or canary at ``weight_percent`` of route keys."""

    mode: RolloutMode
    weight_percent: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "weight_percent": self.weight_percent}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RolloutStage:
        return cls(RolloutMode(d["mode"]), float(d.get("weight_percent", 0.0)))


@dataclass(frozen=True)
class RolloutRecord:
    """A rollout of ``name@candidate_version`` next to ``name@incumbent_version`` (production).

    ``mode``/``weight_percent`` are the current stage's; ``stats`` is what the evaluator keeps of
    its live comparison (arm summaries and the sequential tests' sufficient statistics), so a
    restarted evaluator continues where the last one stopped. ``revision`` grows by one per update
    (compare-and-set).
    """

    id: str
    name: str
    incumbent_version: int
    candidate_version: int
    state: RolloutState
    mode: RolloutMode
    weight_percent: float
    stage_index: int
    stages: tuple[RolloutStage, ...]
    sampling_rate: float
    policy_name: str
    policy: dict[str, Any]
    evaluation_id: str
    reason: str
    stats: dict[str, Any]
    revision: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.state is RolloutState.RUNNING

    @property
    def candidate_ref(self) -> str:
        return f"{self.name}@{self.candidate_version}"

    @property
    def incumbent_ref(self) -> str:
        return f"{self.name}@{self.incumbent_version}"


@dataclass(frozen=True)
class RolloutEventRecord:
    """One entry of a rollout's audit trail: an action, why, by whom, and the evidence behind it."""

    rollout_id: str
    action: str
    reason: str
    actor: str
    stage_index: int
    weight_percent: float
    evidence: list[dict[str, Any]]
    cases: list[dict[str, Any]]
    created_at: datetime
    text_expires_at: datetime | None = None


@dataclass(frozen=True)
class LiveRequestRecord:
    """Which version (and arm of which rollout) served a live request; no text."""

    request_id: str
    name: str
    version: int
    arm: str
    rollout_id: str
    created_at: datetime

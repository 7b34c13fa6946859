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

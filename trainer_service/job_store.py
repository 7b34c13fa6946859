"""Training jobs as persisted records: the Job snapshot, state changes and the state gauge.

Why a module of its own: every change of a job's state is three things that must stay together:
the record's new state (optionally only from an expected one), a ``state_changed`` milestone in
the job's event log, and the ``lorafleet_training_jobs`` gauge. The runner (``jobs.py``) decides
*when* a job changes state; this module is *how*, over ``registry.records("training_jobs")``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from lorafleet.errors import NotFound, quote
from lorafleet.registry.models import Record
from lorafleet.registry.store import Registry
from trainer_service import metrics
from trainer_service.data.datasets import DatasetPair
from trainer_service.enums import TERMINAL_STATES, EventType, JobState
from trainer_service.milestones import JobEventLogs
from trainer_service.training.config import TrainingConfig

log = logging.getLogger(__name__)

JOB_KIND = "training_jobs"
PAGE = 500


def now() -> datetime:
    return datetime.now(timezone.utc)


def finite(values: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN/Infinity: drop such numbers (they mean 'not measured')."""
    return {k: v for k, v in values.items() if not (isinstance(v, float) and not math.isfinite(v))}


@dataclass
class Job:
    """Snapshot of one job (what Get/List return)."""

    id: str
    adapter_name: str
    state: JobState
    config: TrainingConfig
    progress: dict[str, Any] = field(default_factory=dict)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    adapter_version: int = 0
    error: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    dataset_sha256: str = ""
    validation_dataset_sha256: str = ""
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def from_record(cls, record: Record) -> Job:
        p = record.payload

        def ts(key: str) -> datetime | None:
            return datetime.fromisoformat(p[key]) if p.get(key) else None

        return cls(record.id, record.subject, JobState(record.state), TrainingConfig.from_dict(p["config"]),
                   p.get("progress", {}), p.get("checkpoints", []), p.get("adapter_version", 0), p.get("error", ""),
                   p.get("metrics", {}), p.get("dataset_sha256", ""), p.get("validation_dataset_sha256", ""),
                   record.created_at, ts("started_at"), ts("finished_at"))


class JobStore:
    """The training-job records of one registry and their event logs."""

    def __init__(self, registry: Registry) -> None:
        self.records = registry.records(JOB_KIND)
        self.events = JobEventLogs(self.records)

    def create(self, job_id: str, config: TrainingConfig, data: DatasetPair) -> None:
        """A new job record, VALIDATING, with its first milestone."""
        self.records.put(job_id, state=JobState.VALIDATING.value, subject=config.adapter_name, payload={
            "config": config.model_dump(mode="json"), "dataset_sha256": data.train_sha256,
            "validation_dataset_sha256": data.validation_sha256, "progress": {}, "checkpoints": [],
            "adapter_version": 0, "error": "", "metrics": {}, "created": now().isoformat()})
        self.events.append(job_id, EventType.STATE_CHANGED, JobState.VALIDATING)

    def get(self, job_id: str) -> Job:
        record = self.records.get(job_id) if job_id else None
        if record is None:
            raise NotFound(f"training job {quote(job_id)} not found", field="job_id")
        return Job.from_record(record)

    def list(self, *, state: JobState | None = None, adapter_name: str | None = None, limit: int = 100,
             offset: int = 0) -> list[Job]:
        records = self.records.list(state=state.value if state else None, subject=adapter_name, limit=limit,
                                    offset=offset)
        return [Job.from_record(r) for r in records]

    def all(self, state: JobState) -> list[Record]:
        """Every record in ``state`` (newest first), page by page."""
        out: list[Record] = []
        offset = 0
        while True:
            page = self.records.list(state=state.value, limit=PAGE, offset=offset)
            out += page
            if len(page) < PAGE:
                return out
            offset += PAGE

    def update(self, job_id: str, **payload: Any) -> None:
        """Merge top-level ``payload`` keys into the job's record; the state stays."""
        self.records.update(job_id, payload=payload)

    def set_state(self, job_id: str, state: JobState, *, expected: JobState | None = None, message: str = "",
                  **payload: Any) -> None:
        """Move the job to ``state`` (Aborted unless it is in ``expected``, when given), merging ``payload``;
        log the change as a milestone (its message: ``message``, else the error), close the log at a terminal
        state, refresh the gauge."""
        self.records.update(job_id, state=state.value, expected_state=expected.value if expected else None,
                            payload=payload or None)
        self.events.append(job_id, EventType.STATE_CHANGED, state, message=message or payload.get("error", ""))
        if state in TERMINAL_STATES:
            self.events.log(job_id).close()
        self.refresh_state_gauge()

    def refresh_state_gauge(self) -> None:
        try:
            for state in JobState:
                metrics.JOBS_BY_STATE.labels(state=state.value.lower()).set(len(self.all(state)))
        except Exception:
            log.exception("job state gauge refresh failed")

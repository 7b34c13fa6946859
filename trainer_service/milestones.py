"""Each job's event log, with its milestones persisted in the job record.

Why a module of its own: WatchTrainingJob must replay a job's history after a trainer restart,
with the original sequence numbers. So a job's log starts from the milestones stored with the job
(state changes, evaluations, checkpoints, log lines), and every milestone appended later is written
back; per-step progress stays in memory only (the job record keeps just the latest step).

Progress events still take sequence numbers. So that a restarted trainer never numbers a new event
like a progress event a watcher already saw, the record keeps ``sequence_reserved``, raised by
``SEQUENCE_BLOCK`` whenever progress reaches it (one write per block), and a log seeded after a
restart numbers its next event after that reservation.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from lorafleet.registry.records import RecordStore
from trainer_service.enums import EventType, JobState
from trainer_service.events import EventLog, JobEvent, event_from_dict, event_to_dict

log = logging.getLogger(__name__)

MILESTONES_KEPT = 500  # persisted events per job (state changes, evaluations, checkpoints, logs)
SEQUENCE_BLOCK = 1000  # sequence numbers reserved at a time for in-memory progress events


class JobEventLogs:
    """The event logs of the jobs in ``store``, one per job, created on first use. Thread-safe."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self._logs: dict[str, EventLog] = {}
        self._lock = threading.Lock()
        self._persist_lock = threading.Lock()
        self._reserved: dict[str, int] = {}

    def log(self, job_id: str) -> EventLog:
        """The job's log; a new one is seeded with the milestones persisted in its record."""
        with self._lock:
            ev_log = self._logs.get(job_id)
        if ev_log is not None:
            return ev_log
        history, reserved = self._persisted(job_id)  # outside the lock: a database read
        with self._lock:
            self._reserved.setdefault(job_id, reserved)
            return self._logs.setdefault(job_id, EventLog(history, start_after=reserved))

    def append(self, job_id: str, type: EventType, state: JobState, **fields: Any) -> None:
        """Add an event to the job's log; milestones (not per-step progress) are persisted too."""
        ev_log = self.log(job_id)
        event = ev_log.append(type, state, **fields)
        if type is EventType.PROGRESS:
            self._reserve(job_id, event.sequence)
            return
        with self._persist_lock:  # serialised, so an older list never overwrites a newer one
            # the log was seeded from the stored milestones and never drops one: derive, don't re-read
            kept = [event_to_dict(e) for e in ev_log.after(0) if e.type is not EventType.PROGRESS][-MILESTONES_KEPT:]
            try:
                self.store.update(job_id, payload={"events": kept})
            except Exception:
                log.exception("persisting a job event failed", extra={"job_id": job_id, "event_type": type})

    def _reserve(self, job_id: str, sequence: int) -> None:
        """Keep the persisted reservation ahead of ``sequence`` (see the module docstring)."""
        if sequence < self._reserved.get(job_id, 0):
            return
        reserved = sequence + SEQUENCE_BLOCK
        try:
            self.store.update(job_id, payload={"sequence_reserved": reserved})
            self._reserved[job_id] = reserved
        except Exception:
            log.exception("persisting a job's sequence reservation failed", extra={"job_id": job_id})

    def _persisted(self, job_id: str) -> tuple[list[JobEvent], int]:
        """The job's persisted milestones and its reserved sequence number (0: none)."""
        record = self.store.get(job_id)
        out = []
        for d in (record.payload.get("events", []) if record is not None else []):
            try:
                out.append(event_from_dict(d))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("skipping a malformed persisted job event", extra={"job_id": job_id, "error": str(exc)})
        reserved = record.payload.get("sequence_reserved", 0) if record is not None else 0
        return out, reserved if isinstance(reserved, int) else 0

"""Per-job event logs with sequence numbers, for WatchTrainingJob replay and live streaming.

Events are appended by the training thread and read by asyncio servicer coroutines; a waiter
registers (loop, asyncio.Event) and is woken through ``loop.call_soon_threadsafe`` so no
coroutine ever blocks the event loop on a thread primitive.

Milestones (every event but per-step progress) are also persisted with the job (``jobs.py``), so
a restarted trainer replays a job's history with its original sequence numbers: a log can start
from that ``history`` and continues numbering after it — or after ``start_after``, a number
reserved before the restart (``milestones.py``), so that numbers handed out to progress events
that were never persisted are not handed out again (a watcher resuming ``after`` one misses nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from trainer_service.enums import EventType, JobState

MAX_EVENTS = 20000  # progress events beyond this are thinned; state changes always kept


@dataclass(frozen=True)
class JobEvent:
    sequence: int
    type: EventType
    state: JobState
    time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    progress: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None
    message: str = ""


def event_to_dict(e: JobEvent) -> dict[str, Any]:
    """JSON-safe form, for persisting milestones in the job record."""
    out: dict[str, Any] = {"sequence": e.sequence, "type": e.type.value, "state": e.state.value,
                           "time": e.time.isoformat()}
    for key in ("progress", "evaluation", "checkpoint"):
        if getattr(e, key) is not None:
            out[key] = getattr(e, key)
    if e.message:
        out["message"] = e.message
    return out


def event_from_dict(d: dict[str, Any]) -> JobEvent:
    """The inverse of :func:`event_to_dict`; KeyError, TypeError or ValueError for a malformed one."""
    return JobEvent(int(d["sequence"]), EventType(d["type"]), JobState(d["state"]), datetime.fromisoformat(d["time"]),
                    d.get("progress"), d.get("evaluation"), d.get("checkpoint"), str(d.get("message", "")))


class EventLog:
    def __init__(self, history: list[JobEvent] | None = None, start_after: int = 0) -> None:
        self._events: list[JobEvent] = sorted(history or [], key=lambda e: e.sequence)
        self._floor = start_after  # the next event is numbered after this, whatever the history says
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.closed = False

    def append(self, type: EventType, state: JobState, **fields: Any) -> JobEvent:
        with self._lock:
            seq = max(self._events[-1].sequence if self._events else 0, self._floor) + 1
            event = JobEvent(seq, type, state, **fields)
            self._events.append(event)
            if len(self._events) > MAX_EVENTS:
                # drop every other early progress event; keep sequence numbers as they were
                head = self._events[: MAX_EVENTS // 2]
                head = [e for i, e in enumerate(head) if e.type is not EventType.PROGRESS or i % 2 == 0]
                self._events = head + self._events[MAX_EVENTS // 2:]
            waiters, self._waiters = self._waiters, []
        _wake(waiters)
        return event

    def close(self) -> None:
        """No more events will come (terminal state reached)."""
        with self._lock:
            self.closed = True
            waiters, self._waiters = self._waiters, []
        _wake(waiters)

    def after(self, sequence: int) -> list[JobEvent]:
        with self._lock:
            return [e for e in self._events if e.sequence > sequence]

    @property
    def last_sequence(self) -> int:
        with self._lock:
            return self._events[-1].sequence if self._events else 0

    async def wait(self, sequence: int, timeout: float) -> None:
        """Return when an event after ``sequence`` exists, the log closes, or ``timeout`` passes."""
        ev = asyncio.Event()
        with self._lock:
            if self.closed or (self._events and self._events[-1].sequence > sequence):
                return
            self._waiters.append((asyncio.get_running_loop(), ev))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(ev.wait(), timeout)


def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]) -> None:
    for loop, ev in waiters:
        with contextlib.suppress(RuntimeError):  # that loop is closed: its watcher is gone
            loop.call_soon_threadsafe(ev.set)

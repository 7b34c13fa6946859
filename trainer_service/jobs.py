"""The job runner: persisted training jobs, a FIFO queue and one worker thread.

State machine (``registry.records("training_jobs")``)::

    VALIDATING ──► QUEUED ──► RUNNING ──► SUCCEEDED
        │            │           ├──────► FAILED
        └─► FAILED   └─► CANCELLED └────► CANCELLED

``create`` validates the config and the data *synchronously* (the caller runs it in a thread),
so a bad dataset or config is an INVALID_ARGUMENT / NOT_FOUND of CreateTrainingJob naming the
field or line — never a job that fails later. Valid jobs queue in creation order; one worker
thread trains them one at a time (training is CPU/GPU bound; two jobs at once would only slow
both). The gRPC event loop never waits on training: the servicer reads snapshots and events.

Restart semantics (a trainer restarted mid-job never shows a job RUNNING forever):

- RUNNING or VALIDATING jobs found at start-up are marked **FAILED** with the reason
  ("trainer restarted while the job was running; ..."), naming the last checkpoint if one was
  written. They are not resumed: optimizer state and the data order are not checkpointed, so a
  resume would silently differ from an uninterrupted run; re-submitting is explicit and cheap.
- QUEUED jobs never started, so they are **re-queued** in their original order (their data is
  re-validated from the stored dataset).

One trainer process per registry database is assumed (``lorafleet serve trainer``); a second
trainer on the same database would fail the first one's running job at its start-up.

Events: WatchTrainingJob replays a job's event log. Per-step progress lives in memory (the
latest is in the job record); milestones — state changes, evaluations, checkpoints, log lines —
are persisted in the job record too, so after a restart a watcher still gets the job's history
with its original sequence numbers, followed by what happened since.

Cancellation: ``cancel`` sets the job's event; the training loop checks it inside every decoder
layer's forward and backward, so a running job stops within a fraction of a step. Checkpoints
are written atomically (artifact store temp + rename) and a cancelled job's checkpoints are
removed, so no adapter — whole or half — is left behind and nothing is registered.
"""

from __future__ import annotations

import logging
import math
import queue
import random
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorafleet.base_model import BaseModelSpec
from lorafleet.errors import FailedPrecondition, InvalidArgument, NotFound
from lorafleet.registry.models import Record
from lorafleet.registry.store import Registry
from trainer_service import metrics
from trainer_service.data.datasets import CONFIG_FIELDS, DatasetStore
from trainer_service.data.formats import DatasetFormat
from trainer_service.data.tokenize import TokenizedExample
from trainer_service.data.validation import ValidationReport, validate_dataset
from trainer_service.enums import TERMINAL_STATES, EventType, JobState
from trainer_service.events import EventLog, JobEvent, event_from_dict, event_to_dict
from trainer_service.training.checkpoints import ArtifactCheckpointSink
from trainer_service.training.config import TrainingConfig

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)

JOB_KIND = "training_jobs"
MAX_ISSUES_IN_ERROR = 20
MILESTONES_KEPT = 500  # persisted events per job (state changes, evaluations, checkpoints, logs)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _finite(values: dict[str, Any]) -> dict[str, Any]:
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


@dataclass
class _Prepared:
    train: list[TokenizedExample]
    validation: list[TokenizedExample]


class JobRunner:
    """Owns the job queue and the worker thread. Thread-safe public methods."""

    def __init__(self, registry: Registry, datasets: DatasetStore, *, base_model_dir: Callable[[], Path],
                 base_spec: Callable[[], BaseModelSpec], device: str = "auto", base_model_name: str = "") -> None:
        self.registry = registry
        self.store = registry.records(JOB_KIND)
        self.datasets = datasets
        self._base_model_dir = base_model_dir
        self._base_spec = base_spec
        self.device = device
        self.base_model_name = base_model_name
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._events: dict[str, EventLog] = {}
        self._cancels: dict[str, threading.Event] = {}
        self._prepared: dict[str, _Prepared] = {}
        self._lock = threading.Lock()
        self._persist_lock = threading.Lock()
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()
        self._last_persist: dict[str, float] = {}
        self._running_id: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.recover()
        self._worker = threading.Thread(target=self._work, name="trainer-worker", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking jobs; interrupt the running one (it ends FAILED: the trainer is going away).
        Queued jobs stay QUEUED in the database and run after the next start."""
        self._stopping.set()
        running = self._running_id
        if running is not None:
            with self._lock:
                ev = self._cancels.get(running)
            if ev is not None:
                ev.set()
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(timeout)

    def recover(self) -> None:
        """Apply the restart semantics of the module docstring to jobs left by a previous process."""
        for state in (JobState.RUNNING, JobState.VALIDATING):
            for record in self._all(state):
                ckpts = record.payload.get("checkpoints", [])
                last = f"; last checkpoint: step {ckpts[-1]['step']} at {ckpts[-1]['path']}" if ckpts else ""
                reason = (f"trainer restarted while the job was {state.value.lower()}; jobs are not resumed, "
                          f"create it again{last}")
                self._set_state(record.id, JobState.FAILED, expected=state, error=reason, finished_at=_now().isoformat())
                log.warning("job failed by restart", extra={"job_id": record.id, "previous_state": state})
        for record in sorted(self._all(JobState.QUEUED), key=lambda r: r.created_at):
            self._append(record.id, EventType.STATE_CHANGED, JobState.QUEUED, message="re-queued after trainer restart")
            self._queue.put(record.id)
        self._refresh_state_gauge()

    def _all(self, state: JobState) -> list[Record]:
        out: list[Record] = []
        offset = 0
        while True:
            page = self.store.list(state=state.value, limit=500, offset=offset)
            out += page
            if len(page) < 500:
                return out
            offset += 500

    # -- public API ---------------------------------------------------------------------------
    def tokenizer(self) -> PreTrainedTokenizerBase:
        with self._lock:
            if self._tokenizer is None:
                from trainer_service.training.model import load_tokenizer

                self._tokenizer = load_tokenizer(self._base_model_dir())
            return self._tokenizer

    def linear_module_names(self) -> list[str]:
        return sorted(self._base_spec().linear_shapes)

    def validate_data(self, *, train: bytes, validation: bytes | None, max_seq_length: int,
                      fmt: str = "") -> ValidationReport:
        return validate_dataset(train, self.tokenizer(), max_seq_length=max_seq_length, validation_data=validation,
                                fmt=DatasetFormat(fmt) if fmt else None)

    def create(self, config: TrainingConfig) -> Job:
        """Validate config and data, persist the job, queue it. Blocking: call from a thread."""
        config.validate(self.linear_module_names())
        data = self.datasets.read_pair(config, CONFIG_FIELDS)
        job_id = "job-" + uuid.uuid4().hex[:16]
        now = _now().isoformat()
        self.store.put(job_id, state=JobState.VALIDATING.value, subject=config.adapter_name, payload={
            "config": config.model_dump(mode="json"), "dataset_sha256": data.train_sha256,
            "validation_dataset_sha256": data.validation_sha256,
            "progress": {}, "checkpoints": [], "adapter_version": 0, "error": "", "metrics": {}, "created": now})
        self._append(job_id, EventType.STATE_CHANGED, JobState.VALIDATING)
        try:
            prepared = self._prepare(config, data.train, data.validation)
        except InvalidArgument as exc:
            self._set_state(job_id, JobState.FAILED, error=str(exc), finished_at=_now().isoformat())
            raise
        with self._lock:
            self._prepared[job_id] = prepared
            self._cancels[job_id] = threading.Event()
        self._set_state(job_id, JobState.QUEUED, expected=JobState.VALIDATING)
        self._queue.put(job_id)
        log.info("job queued", extra={"job_id": job_id, "adapter": config.adapter_name,
                                      "examples": len(prepared.train), "validation_examples": len(prepared.validation)})
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        record = self.store.get(job_id) if job_id else None
        if record is None:
            raise NotFound(f"training job {job_id!r} not found", field="job_id")
        return Job.from_record(record)

    def list(self, *, state: JobState | None = None, adapter_name: str | None = None, limit: int = 100,
             offset: int = 0) -> list[Job]:
        records = self.store.list(state=state.value if state else None, subject=adapter_name, limit=limit,
                                  offset=offset)
        return [Job.from_record(r) for r in records]

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.state in TERMINAL_STATES:
            raise FailedPrecondition(f"job {job_id} is already {job.state}", field="job_id")
        with self._lock:
            ev = self._cancels.setdefault(job_id, threading.Event())
        ev.set()
        if job.state in (JobState.QUEUED, JobState.VALIDATING):
            try:
                self._finish(job_id, JobState.CANCELLED, expected=job.state)
            except Exception:
                log.info("cancel raced with start", extra={"job_id": job_id})
        return self.get(job_id)

    def events(self, job_id: str) -> EventLog:
        job = self.get(job_id)
        ev_log = self._event_log(job_id)
        if ev_log.last_sequence == 0:  # no history persisted (an older trainer's job): its state is all we know
            ev_log.append(EventType.STATE_CHANGED, job.state, message=job.error)
        if job.state in TERMINAL_STATES:
            ev_log.close()
        return ev_log

    def wait(self, job_id: str, timeout: float = 600.0) -> Job:
        """Block until the job is terminal (for tests and scripts)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.state in TERMINAL_STATES or time.monotonic() > deadline:
                return job
            time.sleep(0.1)

    # -- internals ----------------------------------------------------------------------------
    def _event_log(self, job_id: str) -> EventLog:
        with self._lock:
            ev_log = self._events.get(job_id)
        if ev_log is not None:
            return ev_log
        history = self._persisted_events(job_id)  # outside the lock: a database read
        with self._lock:
            return self._events.setdefault(job_id, EventLog(history))

    def _persisted_events(self, job_id: str) -> list[JobEvent]:
        record = self.store.get(job_id)
        out = []
        for d in (record.payload.get("events", []) if record is not None else []):
            try:
                out.append(event_from_dict(d))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("skipping a malformed persisted job event", extra={"job_id": job_id, "error": str(exc)})
        return out

    def _append(self, job_id: str, type: EventType, state: JobState, **fields: Any) -> None:
        """Add an event to the job's log; milestones (not per-step progress) are persisted too."""
        ev_log = self._event_log(job_id)
        ev_log.append(type, state, **fields)
        if type is EventType.PROGRESS:
            return
        with self._persist_lock:  # serialised, so an older list never overwrites a newer one
            # the log was seeded from the stored milestones and never drops one: derive, don't re-read
            kept = [event_to_dict(e) for e in ev_log.after(0) if e.type is not EventType.PROGRESS][-MILESTONES_KEPT:]
            try:
                self.store.update(job_id, payload={"events": kept})
            except Exception:
                log.exception("persisting a job event failed", extra={"job_id": job_id, "event_type": type})

    def _prepare(self, config: TrainingConfig, train: bytes, validation: bytes | None) -> _Prepared:
        report = self.validate_data(train=train, validation=validation, max_seq_length=config.max_seq_length,
                                    fmt=config.dataset_format)
        if not report.valid:
            errors = report.errors()
            shown = "; ".join(str(i) for i in errors[:MAX_ISSUES_IN_ERROR])
            more = f" (+{len(errors) - MAX_ISSUES_IN_ERROR} more)" if len(errors) > MAX_ISSUES_IN_ERROR else ""
            where = errors[0].file
            fld = {"training": "training_dataset_path" if config.training_dataset_path else "training_dataset_id",
                   "validation": "validation_dataset_path" if config.validation_dataset_path else "validation_dataset_id"}[where]
            raise InvalidArgument(f"{len(errors)} problem(s): {shown}{more}", field=fld)
        train_ex, val_ex = list(report.train), list(report.validation)
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
        return _Prepared(train_ex, val_ex)

    def _set_state(self, job_id: str, state: JobState, *, expected: JobState | None = None, **payload: Any) -> None:
        self.store.update(job_id, state=state.value, expected_state=expected.value if expected else None,
                          payload=payload or None)
        self._append(job_id, EventType.STATE_CHANGED, state, message=payload.get("error", ""))
        if state in TERMINAL_STATES:
            self._event_log(job_id).close()
        self._refresh_state_gauge()

    def _finish(self, job_id: str, state: JobState, *, expected: JobState | None = None, **payload: Any) -> None:
        self._set_state(job_id, state, expected=expected, finished_at=_now().isoformat(), **payload)
        with self._lock:
            self._prepared.pop(job_id, None)
            self._cancels.pop(job_id, None)

    def _refresh_state_gauge(self) -> None:
        try:
            for state in JobState:
                metrics.JOBS_BY_STATE.labels(state=state.value.lower()).set(len(self._all(state)))
        except Exception:
            log.exception("job state gauge refresh failed")

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None or self._stopping.is_set():
                return
            self._running_id = job_id
            try:
                self._run(job_id)
            except Exception:
                log.exception("job runner crashed on a job", extra={"job_id": job_id})
            finally:
                self._running_id = None

    def _run(self, job_id: str) -> None:
        job = self.get(job_id)
        if job.state is not JobState.QUEUED:
            return  # cancelled while queued
        with self._lock:
            cancel = self._cancels.setdefault(job_id, threading.Event())
            prepared = self._prepared.pop(job_id, None)
        if cancel.is_set():
            self._finish(job_id, JobState.CANCELLED)
            return
        sink = ArtifactCheckpointSink(self.registry.artifacts, f"training_jobs/{job_id}")
        try:
            if prepared is None:  # re-queued after a restart: read and check the data again
                prepared = self._reprepare(job)
            self._set_state(job_id, JobState.RUNNING, expected=JobState.QUEUED, started_at=_now().isoformat())
            result = self._train(job, prepared, sink, cancel)
        except Exception as exc:
            if cancel.is_set():
                sink.delete_all()
                state = JobState.FAILED if self._stopping.is_set() else JobState.CANCELLED
                reason = "trainer shut down while the job was running" if state is JobState.FAILED else ""
                self._finish(job_id, state, error=reason)
                log.info("job stopped", extra={"job_id": job_id, "state": state})
            else:
                log.error("job failed", extra={"job_id": job_id, "error": str(exc), "trace": traceback.format_exc()})
                self._finish(job_id, JobState.FAILED, error=f"{type(exc).__name__}: {exc}")
            return
        self._finish(job_id, JobState.SUCCEEDED, **result)

    def _reprepare(self, job: Job) -> _Prepared:
        data = self.datasets.read_pair(job.config, CONFIG_FIELDS)
        return self._prepare(job.config, data.train, data.validation)

    def _train(self, job: Job, prepared: _Prepared, sink: ArtifactCheckpointSink, cancel: threading.Event) -> dict:
        from trainer_service.training.loop import TrainingLoop
        from trainer_service.training.model import build_peft_model, pick_device, resolve_compute_dtype

        device = pick_device(self.device)
        model = build_peft_model(self._base_model_dir(), job.config, device)
        dtype = str(resolve_compute_dtype(job.config, device)).removeprefix("torch.")
        self._append(job.id, EventType.LOG, JobState.RUNNING, message=f"model ready: {job.config.adapter_method} r={job.config.r} on {device}, "
                                                   f"base matmuls in {dtype} (compute_dtype={job.config.compute_dtype})")
        checkpoints: list[dict] = []

        def emit(kind: str, payload: dict) -> None:
            payload = _finite(payload)
            if kind == "progress":
                metrics.STEPS.inc()
                metrics.TOKENS.inc(payload.get("step_tokens", 0))
                metrics.STEP_SECONDS.observe(payload.get("step_seconds", 0.0))
                if "train_loss" in payload:
                    metrics.CURRENT_LOSS.set(payload["train_loss"])
                self._append(job.id, EventType.PROGRESS, JobState.RUNNING, progress=payload)
                now = time.monotonic()
                if now - self._last_persist.get(job.id, 0) > 1.0 or payload["step"] == payload["total_steps"]:
                    self._last_persist[job.id] = now
                    self.store.update(job.id, payload={"progress": payload})
            elif kind == "evaluation":
                self._append(job.id, EventType.EVALUATION, JobState.RUNNING, evaluation=payload)
            elif kind == "checkpoint":
                # the loop keeps only the best checkpoint on disk, so the job lists just that one
                checkpoints[:] = [{**payload, "created": _now().isoformat()}]
                self._append(job.id, EventType.CHECKPOINT_SAVED, JobState.RUNNING, checkpoint=payload)
                self.store.update(job.id, payload={"checkpoints": checkpoints})
            else:
                self._append(job.id, EventType.LOG, JobState.RUNNING, message=str(payload.get("message", "")))

        tok = self.tokenizer()
        loop = TrainingLoop(job.config, model, tok, device=device, sink=sink, emit=emit, cancel=cancel)
        result = loop.run(prepared.train, prepared.validation)
        if cancel.is_set():
            from trainer_service.training.loop import TrainingCancelled

            raise TrainingCancelled("cancelled")
        if result.adapter_dir is None:
            raise RuntimeError("training produced no adapter")
        config_json = job.config.to_json()
        metrics_out = _finite({k: float(v) for k, v in result.metrics.items()})
        version = self.registry.register_version(
            job.adapter_name, result.adapter_dir, base_spec=self._base_spec(),
            lineage={"source": "trained", "training_job_id": job.id, "dataset_sha256": job.dataset_sha256,
                     "validation_dataset_sha256": job.validation_dataset_sha256, "config_json": config_json,
                     "base_model": self.base_model_name or str(self._base_spec().name)},
            metrics=metrics_out, description=job.config.description)
        self._append(job.id, EventType.LOG, JobState.RUNNING, message=f"registered {version.ref} (CANDIDATE)")
        log.info("job succeeded", extra={"job_id": job.id, "adapter": version.ref, **metrics_out})
        return {"adapter_version": version.version, "metrics": metrics_out}

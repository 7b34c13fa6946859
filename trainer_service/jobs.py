"""The job runner: persisted training jobs, a FIFO queue and one worker thread.

State machine (``registry.records("training_jobs")``)::

    VALIDATING ──► QUEUED ──► RUNNING ──► SUCCEEDED
        │            │           ├──────► FAILED
        └─► FAILED   └─► CANCELLED └────► CANCELLED

``create`` validates the config and the data *synchronously* (the caller runs it in a thread),
so a bad dataset or config is an INVALID_ARGUMENT / NOT_FOUND of CreateTrainingJob naming the
field or line — never a job that fails later. An ``init_from`` reference is pinned to its version
then (``starting_point``), so a job re-queued after a restart starts from the same adapter.
Valid jobs queue in creation order; one worker thread trains them one at a time (training is
CPU/GPU bound; two jobs at once would only slow both). The gRPC event loop never waits on
training: the servicer reads snapshots and events.

Restart semantics (a trainer restarted mid-job — killed, crashed or stopped — never shows a job
RUNNING forever, and loses little of its work):

- A running job writes resume checkpoints (``training/resume.py``: LoRA weights, optimizer state,
  random streams, data position, best-checkpoint and early-stopping bookkeeping) under
  ``training_jobs/<job>/resume/`` every ``LORAFLEET_TRAINER_RESUME_EVERY_STEPS`` steps (25) or
  ``..._EVERY_SECONDS`` seconds (60), whichever comes first, and after each new best adapter;
  only the newest ``..._KEEP`` (2) are kept, and all are removed when the job ends.
- A RUNNING job found at start-up is **re-queued** ahead of the queued ones. With a resume
  checkpoint it **resumes** from it ("resumed from step N after trainer restart" in its events)
  and ends as an uninterrupted run would (the same weights on a CPU; ``tests/trainer_service/
  test_trainer_resume.py``). Without one it starts again from step 0 (its ``init_from`` is pinned,
  ``starting_point``). Its adapter is registered once: a version whose lineage already names the
  job (registered just before the old process died) is reused.
- A RUNNING job whose newest checkpoint is unusable (missing or corrupt manifest, missing file,
  size or checksum mismatch; at resume also a LoRA shape or data mismatch) ends **FAILED** with
  a reason naming the checkpoint and the problem.
- A graceful stop (``stop``, SIGTERM) leaves the running job RUNNING, so the next start resumes it.
- VALIDATING jobs (their CreateTrainingJob call never returned) are marked **FAILED**.
- QUEUED jobs never started, so they are **re-queued** in their original order. Re-queued jobs'
  data is re-validated from the stored dataset.

DDP jobs (``training/ddp_main.py``, outside the runner) do not resume: they start from step 0.

One trainer process per registry database is assumed (``lorafleet serve trainer``); a second
trainer on the same database would take over the first one's running job at its start-up.

Events: WatchTrainingJob replays a job's event log. Per-step progress lives in memory (the
latest is in the job record); milestones — state changes, evaluations, checkpoints, log lines —
are persisted in the job record too, so after a restart a watcher still gets the job's history
with its original sequence numbers, followed by what happened since.

Modules: this one is the runner (queue, worker thread, lifecycle, restart recovery);
``job_store`` persists jobs and their state changes, ``milestones`` their event logs,
``prepare`` checks and splits a job's data, ``worker`` trains one job and registers its adapter.

Cancellation: ``cancel`` sets the job's event; the training loop checks it inside every decoder
layer's forward and backward, so a running job stops within a fraction of a step. Checkpoints
are written atomically (artifact store temp + rename) and a cancelled job's checkpoints are
removed, so no adapter — whole or half — is left behind and nothing is registered.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorafleet.base_model import BaseModelSpec
from lorafleet.errors import FailedPrecondition, InvalidArgument
from lorafleet.registry.store import Registry
from trainer_service.data.datasets import CONFIG_FIELDS, DatasetStore
from trainer_service.data.formats import DatasetFormat
from trainer_service.data.validation import ValidationReport, validate_dataset
from trainer_service.enums import TERMINAL_STATES, EventType, JobState
from trainer_service.events import EventLog
from trainer_service.job_store import JOB_KIND, Job, JobStore, now
from trainer_service.prepare import PreparedData, prepare
from trainer_service.starting_point import resolve as resolve_starting_point
from trainer_service.training.checkpoints import ArtifactCheckpointSink
from trainer_service.training.config import TrainingConfig
from trainer_service.worker import JobTrainer

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from trainer_service.training.resume import ResumeSettings

__all__ = ["JOB_KIND", "Job", "JobRunner"]

log = logging.getLogger(__name__)


class JobRunner:
    """Owns the job queue and the worker thread. Thread-safe public methods."""

    def __init__(self, registry: Registry, datasets: DatasetStore, *, base_model_dir: Callable[[], Path],
                 base_spec: Callable[[], BaseModelSpec], device: str = "auto", base_model_name: str = "",
                 resume: ResumeSettings | None = None) -> None:
        self.registry = registry
        self.jobs = JobStore(registry)
        self.datasets = datasets
        self._base_model_dir = base_model_dir
        self._base_spec = base_spec
        self.trainer = JobTrainer(registry, self.jobs, base_model_dir=base_model_dir, base_spec=base_spec,
                                  tokenizer=self.tokenizer, device=device, base_model_name=base_model_name,
                                  resume=resume)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._cancels: dict[str, threading.Event] = {}
        self._prepared: dict[str, PreparedData] = {}
        self._lock = threading.Lock()
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()
        self._running_id: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.recover()
        self._worker = threading.Thread(target=self._work, name="trainer-worker", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking jobs; interrupt the running one (it stays RUNNING and resumes from its last
        checkpoint at the next start). Queued jobs stay QUEUED in the database and run after the next start."""
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
        for record in self.jobs.all(JobState.VALIDATING):
            self.jobs.set_state(record.id, JobState.FAILED, expected=JobState.VALIDATING,
                                error="trainer restarted while the job was validating; create it again",
                                finished_at=now().isoformat())
            log.warning("job failed by restart", extra={"job_id": record.id, "previous_state": "VALIDATING"})
        running = sorted(self.jobs.all(JobState.RUNNING), key=lambda r: r.created_at)
        requeued = [r.id for r in running if self._requeue_running(r.id)]
        for record in sorted(self.jobs.all(JobState.QUEUED), key=lambda r: r.created_at):
            if record.id in requeued:
                continue
            self.jobs.events.append(record.id, EventType.STATE_CHANGED, JobState.QUEUED,
                                    message="re-queued after trainer restart")
            requeued.append(record.id)
        for job_id in requeued:
            self._queue.put(job_id)
        self.jobs.refresh_state_gauge()

    def _requeue_running(self, job_id: str) -> bool:
        """A job a previous process left RUNNING: back to QUEUED (True), or FAILED when its newest resume
        checkpoint is unusable (False)."""
        from trainer_service.training import resume  # torch: imported once a job needs it

        last = resume.latest(self._resume_root(job_id))
        if last is None:
            message = "re-queued after trainer restart; no resume checkpoint was written, it restarts from step 0"
        else:
            try:
                step = resume.verify(last)["step"]
            except resume.CheckpointError as exc:
                self.jobs.set_state(job_id, JobState.FAILED, expected=JobState.RUNNING,
                                    error=f"trainer restarted while the job was running and its {exc}",
                                    finished_at=now().isoformat())
                log.error("job failed by restart: unusable checkpoint", extra={"job_id": job_id, "error": str(exc)})
                return False
            message = f"re-queued after trainer restart; it resumes from step {step} ({last})"
        self.jobs.set_state(job_id, JobState.QUEUED, expected=JobState.RUNNING, message=message)
        log.info("running job re-queued by restart", extra={"job_id": job_id, "checkpoint": str(last or "")})
        return True

    def _resume_root(self, job_id: str) -> Path:
        return self.registry.artifacts.path(f"{JOB_KIND}/{job_id}/resume")

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
        linear_modules = self.linear_module_names()
        config.validate(linear_modules)
        config = resolve_starting_point(self.registry, config, self._base_spec())
        config.check_extrapolation(linear_modules)  # init_from's modules replaced the request's
        data = self.datasets.read_pair(config, CONFIG_FIELDS)
        job_id = "job-" + uuid.uuid4().hex[:16]
        self.jobs.create(job_id, config, data)
        try:
            prepared = self._prepare(config, data.train, data.validation)
        except InvalidArgument as exc:
            self.jobs.set_state(job_id, JobState.FAILED, error=str(exc), finished_at=now().isoformat())
            raise
        with self._lock:
            self._prepared[job_id] = prepared
            self._cancels[job_id] = threading.Event()
        self.jobs.set_state(job_id, JobState.QUEUED, expected=JobState.VALIDATING)
        self._queue.put(job_id)
        log.info("job queued", extra={"job_id": job_id, "adapter": config.adapter_name,
                                      "examples": len(prepared.train), "validation_examples": len(prepared.validation)})
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        return self.jobs.get(job_id)

    def list(self, *, state: JobState | None = None, adapter_name: str | None = None, limit: int = 100,
             offset: int = 0) -> list[Job]:
        return self.jobs.list(state=state, adapter_name=adapter_name, limit=limit, offset=offset)

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
        ev_log = self.jobs.events.log(job_id)
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
    def _prepare(self, config: TrainingConfig, train: bytes, validation: bytes | None) -> PreparedData:
        report = self.validate_data(train=train, validation=validation, max_seq_length=config.max_seq_length,
                                    fmt=config.dataset_format)
        return prepare(report, config)

    def _finish(self, job_id: str, state: JobState, *, expected: JobState | None = None, **payload: Any) -> None:
        self.jobs.set_state(job_id, state, expected=expected, finished_at=now().isoformat(), **payload)
        with self._lock:
            self._prepared.pop(job_id, None)
            self._cancels.pop(job_id, None)

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
        from trainer_service.training import resume

        sink = ArtifactCheckpointSink(self.registry.artifacts, f"{JOB_KIND}/{job_id}")
        root = self._resume_root(job_id)
        try:
            if prepared is None:  # re-queued after a restart: read and check the data again
                data = self.datasets.read_pair(job.config, CONFIG_FIELDS)
                prepared = self._prepare(job.config, data.train, data.validation)
            last = resume.latest(root)
            if last is None:  # a fresh start: no best checkpoint of an earlier attempt may linger
                sink.delete_all()
            self.jobs.set_state(job_id, JobState.RUNNING, expected=JobState.QUEUED,
                                **({} if last else {"started_at": now().isoformat()}))
            result = self.trainer.train(job, prepared, sink, cancel, resume_root=root, resume_from=last)
        except Exception as exc:
            self._stopped(job_id, exc, sink, cancel)
            return
        shutil.rmtree(root, ignore_errors=True)  # the job is done: nothing to resume
        self._finish(job_id, JobState.SUCCEEDED, **result)

    def _stopped(self, job_id: str, exc: Exception, sink: ArtifactCheckpointSink, cancel: threading.Event) -> None:
        """A job that raised: left RUNNING when the trainer is shutting down (the next start resumes it),
        CANCELLED if it was cancelled, else FAILED."""
        if cancel.is_set() and self._stopping.is_set():
            self.jobs.events.append(job_id, EventType.LOG, JobState.RUNNING, message="trainer shut down; the job "
                                    "resumes from its last checkpoint at the next start")
            log.info("job interrupted by shutdown", extra={"job_id": job_id})
        elif cancel.is_set():
            sink.delete_all()
            self._finish(job_id, JobState.CANCELLED)
            log.info("job stopped", extra={"job_id": job_id, "state": JobState.CANCELLED})
        else:
            log.error("job failed", extra={"job_id": job_id, "error": str(exc), "trace": traceback.format_exc()})
            shutil.rmtree(self._resume_root(job_id), ignore_errors=True)
            self._finish(job_id, JobState.FAILED, error=f"{type(exc).__name__}: {exc}")

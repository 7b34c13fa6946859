"""Training one job on the worker thread: the model, the loop, its events, the registered adapter.

Why a module of its own: the job runner (``jobs.py``) owns the queue and the job's state; what
happens between RUNNING and SUCCEEDED is this: build the PEFT model, run the training loop while
turning what it emits into job events, metrics and record updates, and register the best
checkpoint as the adapter's next CANDIDATE version with its lineage.

A job resumed after a restart (``resume_from``) may have been registered already by the process
that died (killed between registering and recording SUCCEEDED): its version is found by the
lineage's ``training_job_id`` and reused, so a job is never registered twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorafleet.base_model import BaseModelSpec
from lorafleet.registry.models import VersionRecord
from lorafleet.registry.store import Registry
from trainer_service import metrics
from trainer_service.enums import EventType, JobState
from trainer_service.job_store import Job, JobStore, finite, now
from trainer_service.prepare import PreparedData
from trainer_service.starting_point import adapter_dir as starting_adapter_dir
from trainer_service.training.checkpoints import CheckpointSink

if TYPE_CHECKING:
    import torch
    from peft import PeftModel
    from transformers import PreTrainedTokenizerBase

    from trainer_service.training.loop import TrainingResult
    from trainer_service.training.resume import ResumeSettings

log = logging.getLogger(__name__)

PROGRESS_PERSIST_S = 1.0  # the job record's progress is rewritten at most this often (and at the last step)


class JobEvents:
    """The training loop's ``emit(kind, payload)`` for one job: events, metrics and record updates."""

    def __init__(self, jobs: JobStore, job_id: str) -> None:
        self.jobs = jobs
        self.job_id = job_id
        self._last_persist = 0.0
        self._checkpoints: list[dict[str, Any]] = []

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        payload = finite(payload)
        if kind == "progress":
            self.progress(payload)
        elif kind == "evaluation":
            if "validation_loss" in payload:
                metrics.VALIDATION_LOSS.set(payload["validation_loss"])
            metrics.observe_preference("validation", payload, "validation_")
            self.log(EventType.EVALUATION, evaluation=payload)
        elif kind == "checkpoint":
            self.checkpoint(payload)
        elif kind == "resumed":
            self.log(EventType.LOG, message=f"resumed from step {payload['step']} after trainer restart "
                                            f"(checkpoint {payload['checkpoint']})")
        else:
            self.log(EventType.LOG, message=str(payload.get("message", "")))

    def log(self, type: EventType, **fields: Any) -> None:
        self.jobs.events.append(self.job_id, type, JobState.RUNNING, **fields)

    def progress(self, payload: dict[str, Any]) -> None:
        metrics.STEPS.inc()
        metrics.TOKENS.inc(payload.get("step_tokens", 0))
        metrics.STEP_SECONDS.observe(payload.get("step_seconds", 0.0))
        if "train_loss" in payload:
            metrics.CURRENT_LOSS.set(payload["train_loss"])
        metrics.observe_preference("train", payload)
        self.log(EventType.PROGRESS, progress=payload)
        t = time.monotonic()
        if t - self._last_persist > PROGRESS_PERSIST_S or payload["step"] == payload["total_steps"]:
            self._last_persist = t
            self.jobs.update(self.job_id, progress=payload)

    def checkpoint(self, payload: dict[str, Any]) -> None:
        # the loop keeps only the best checkpoint on disk, so the job lists just that one
        self._checkpoints[:] = [{**payload, "created": now().isoformat()}]
        self.log(EventType.CHECKPOINT_SAVED, checkpoint=payload)
        self.jobs.update(self.job_id, checkpoints=self._checkpoints)


class JobTrainer:
    """Trains a prepared job and registers its adapter; the caller handles cancellation and failure."""

    def __init__(self, registry: Registry, jobs: JobStore, *, base_model_dir: Callable[[], Path],
                 base_spec: Callable[[], BaseModelSpec], tokenizer: Callable[[], PreTrainedTokenizerBase],
                 device: str = "auto", base_model_name: str = "", resume: ResumeSettings | None = None) -> None:
        self.registry = registry
        self.jobs = jobs
        self.resume = resume
        self.base_model_dir = base_model_dir
        self.base_spec = base_spec
        self.tokenizer = tokenizer
        self.device = device
        self.base_model_name = base_model_name

    def train(self, job: Job, data: PreparedData, sink: CheckpointSink, cancel: threading.Event, *,
              resume_root: Path | None = None, resume_from: Path | None = None) -> dict[str, Any]:
        """Train ``job``; the record payload of its success (``adapter_version``, ``metrics``).

        Resume checkpoints are written under ``resume_root`` (``training/resume.py``); ``resume_from`` is
        one to continue from. Raises TrainingCancelled once ``cancel`` is set, whatever else went wrong;
        CheckpointError when ``resume_from`` is unusable."""
        from trainer_service.training.extrapolation import registered_adapter
        from trainer_service.training.loop import TrainingCancelled, TrainingLoop
        from trainer_service.training.model import pick_device
        from trainer_service.training.resume import ResumeSettings, ResumeWriter

        device = pick_device(self.device)
        model = self._model(job, device)
        resume = self.resume or ResumeSettings.from_settings()
        writer = ResumeWriter(resume_root, resume) if resume_root is not None else None
        loop = TrainingLoop(job.config, model, self.tokenizer(), device=device, sink=sink,
                            emit=JobEvents(self.jobs, job.id), cancel=cancel, resume_writer=writer)
        result = loop.run(data.train, data.validation, resume_from=resume_from)
        if cancel.is_set():
            raise TrainingCancelled("cancelled")
        if result.adapter_dir is None:
            raise RuntimeError("training produced no adapter")
        adapter_dir, account = registered_adapter(job.config, result.adapter_dir)
        if account:
            self.jobs.events.append(job.id, EventType.LOG, JobState.RUNNING, message=account)
        return self._register(job, result, adapter_dir)

    def _registered(self, job: Job) -> VersionRecord | None:
        """The version this job registered already (a previous process died before recording SUCCEEDED)."""
        offset = 0
        while True:
            page = self.registry.list_versions(job.adapter_name, limit=100, offset=offset)
            for v in page:
                if v.lineage.get("training_job_id") == job.id:
                    return v
            if len(page) < 100:
                return None
            offset += len(page)

    def _model(self, job: Job, device: torch.device) -> PeftModel:
        from lorafleet.adapters.extrapolate import recorded_factors
        from trainer_service.training.model import build_peft_model, resolve_compute_dtype

        c = job.config
        init_dir = starting_adapter_dir(self.registry, c)
        model = build_peft_model(self.base_model_dir(), c, device, init_adapter_dir=init_dir)
        dtype = str(resolve_compute_dtype(c, device)).removeprefix("torch.")
        start = f", starting from {c.init_from}" if c.init_from else ""
        undone = recorded_factors(init_dir) if init_dir is not None else None
        if undone is not None:
            start += (f"'s trained update (registered x{undone[0]:g} on the MLP, x{undone[1]:g} on attention; "
                      "this job registers its own extrapolate factors)")
        reference = (f"; DPO reference: {c.init_from or 'the base model (adapter off)'}, beta {c.beta}, "
                     f"{c.loss_type} loss") if c.method == "dpo" else ""
        self.jobs.events.append(job.id, EventType.LOG, JobState.RUNNING,
                                message=f"model ready: {c.method} {c.adapter_method} r={c.r} on {device}{start}, "
                                        f"base matmuls in {dtype} (compute_dtype={c.compute_dtype}){reference}")
        return model

    def _register(self, job: Job, result: TrainingResult, adapter_dir: Path) -> dict[str, Any]:
        metrics_out = finite({k: float(v) for k, v in result.metrics.items()})
        existing = self._registered(job)
        if existing is not None:
            log.warning("job already registered before a restart", extra={"job_id": job.id, "adapter": existing.ref})
            return {"adapter_version": existing.version, "metrics": metrics_out}
        spec = self.base_spec()
        version = self.registry.register_version(
            job.adapter_name, adapter_dir, base_spec=spec,
            lineage={"source": "trained", "training_job_id": job.id, "dataset_sha256": job.dataset_sha256,
                     "validation_dataset_sha256": job.validation_dataset_sha256, "config_json": job.config.to_json(),
                     "base_model": self.base_model_name or str(spec.name),
                     **({"init_from": job.config.init_from} if job.config.init_from else {})},
            metrics=metrics_out, description=job.config.description)
        self.jobs.events.append(job.id, EventType.LOG, JobState.RUNNING,
                                message=f"registered {version.ref} (CANDIDATE)")
        log.info("job succeeded", extra={"job_id": job.id, "adapter": version.ref, **metrics_out})
        return {"adapter_version": version.version, "metrics": metrics_out}

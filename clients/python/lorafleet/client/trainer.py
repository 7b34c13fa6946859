"""Typed clients of ``lorafleet.v1.TrainerService``.

    trainer = TrainerClient(connect("127.0.0.1:50051"))
    ds = trainer.upload_dataset(Path("train.jsonl"))
    job = trainer.create_job("support-bot", training_dataset_id=ds.id, adapter_method="qlora")
    for event in trainer.watch(job.id): ...
    pairs = trainer.upload_dataset(Path("preference_train.jsonl"))
    dpo = trainer.create_job("support-bot", training_dataset_id=pairs.id, method="dpo", init_from="support-bot@1",
                             beta=0.1, loss_type="sigmoid")

Option names (methods, schedulers, compute dtypes, formats, job states) come from the proto enums
through ``lorafleet.names``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

from lorafleet.client.base import AsyncTransport, SyncTransport
from lorafleet.names import (
    ADAPTER_METHODS,
    COMPUTE_DTYPES,
    DATASET_FORMATS,
    DPO_LOSS_TYPES,
    JOB_STATES,
    LR_SCHEDULERS,
    PREFERENCE_METRICS,
    TERMINAL_JOB_STATES,
    TRAINING_METHODS,
)
from lorafleet.v1 import common_pb2, trainer_pb2, trainer_pb2_grpc

CHUNK_BYTES = 1 << 20
TERMINAL_STATES = frozenset(JOB_STATES.value(s) for s in TERMINAL_JOB_STATES)


def job_state(name: str | int | None) -> int:
    """``"running"`` / ``"RUNNING"`` / ``"JOB_STATE_RUNNING"`` / enum number -> enum number."""
    return JOB_STATES.value(name)


def state_name(value: int) -> str:
    """Enum number -> ``"RUNNING"``."""
    return JOB_STATES.name(value).upper()


def upload_requests(data: Iterable[bytes], filename: str, fmt: str = "",
                    sha256: str = "") -> Iterator[trainer_pb2.UploadDatasetRequest]:
    yield trainer_pb2.UploadDatasetRequest(metadata=trainer_pb2.DatasetMetadata(
        filename=filename, format=DATASET_FORMATS.value(fmt), sha256=sha256))
    for chunk in data:
        yield trainer_pb2.UploadDatasetRequest(chunk=chunk)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            yield chunk


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for chunk in _file_chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


def dpo_config(*, beta: float = 0.0, loss_type: str = "", label_smoothing: float = 0.0, sft_weight: float = 0.0,
               best_metric: str = "") -> trainer_pb2.DpoConfig:
    """The ``dpo`` block of a job; zero or empty fields take the server's defaults (beta 0.1, sigmoid, loss)."""
    return trainer_pb2.DpoConfig(beta=beta, loss_type=DPO_LOSS_TYPES.value(loss_type), label_smoothing=label_smoothing,
                                 sft_weight=sft_weight, best_metric=PREFERENCE_METRICS.value(best_metric))


def _dataset(response: trainer_pb2.UploadDatasetResponse) -> trainer_pb2.Dataset:
    return response.dataset


def _job(response: Any) -> trainer_pb2.TrainingJob:
    return response.job


class TrainerApi:
    """TrainerService methods, shared by the sync and the asyncio client (see ``base``)."""

    stub_class = trainer_pb2_grpc.TrainerServiceStub

    def upload_dataset(self, path: Path | str, *, fmt: str = "", verify: bool = True) -> trainer_pb2.Dataset:
        """Stream a JSONL file in 1 MiB chunks; with ``verify`` the server checks the sha256."""
        path = Path(path)
        sha = _sha256(path) if verify else ""
        return self._client_stream("UploadDataset", upload_requests(_file_chunks(path), path.name, fmt, sha),
                                   pick=_dataset)

    def upload_bytes(self, data: bytes, filename: str = "dataset.jsonl", *, fmt: str = "") -> trainer_pb2.Dataset:
        chunks = [data[i:i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
        return self._client_stream("UploadDataset", upload_requests(chunks, filename, fmt), pick=_dataset)

    def validate_dataset(self, dataset_id: str = "", *, path: str = "", validation_dataset_id: str = "",
                         validation_path: str = "", fmt: str = "",
                         max_seq_length: int = 0) -> trainer_pb2.ValidateDatasetResponse:
        return self._unary("ValidateDataset", trainer_pb2.ValidateDatasetRequest(
            dataset_id=dataset_id, path=path, validation_dataset_id=validation_dataset_id,
            validation_path=validation_path, format=DATASET_FORMATS.value(fmt), max_seq_length=max_seq_length))

    def create_job(self, adapter_name: str, *, training_dataset_id: str = "", training_dataset_path: str = "",
                   adapter_method: str = "qlora", r: int = 16, alpha: float = 32.0, dropout: float = 0.05,
                   target_modules: Iterable[str] = ("all-linear",), use_rslora: bool = False,
                   validation_dataset_id: str = "", validation_dataset_path: str = "", validation_split: float = 0.0,
                   dataset_format: str = "", description: str = "", lr_scheduler: str = "",
                   compute_dtype: str = "auto", method: str = "sft", init_from: str = "", beta: float = 0.0,
                   loss_type: str = "", label_smoothing: float = 0.0, sft_weight: float = 0.0, best_metric: str = "",
                   extrapolate_mlp: float = 0.0, extrapolate_attention: float = 0.0,
                   **hyperparameters: Any) -> trainer_pb2.TrainingJob:
        """``hyperparameters`` are Hyperparameters fields (epochs, batch_size, learning_rate...); zero/unset
        ones take the server's defaults. The LoRA block is always sent (r=0 is an error, not a default).

        ``method="dpo"`` trains on preference data; ``beta``, ``loss_type`` (sigmoid, ipo, robust),
        ``label_smoothing``, ``sft_weight`` and ``best_metric`` (loss, margin) form its ``dpo`` block (sent
        only with DPO). ``init_from`` ("support-bot@1") starts from that adapter, and DPO uses it as the
        reference; its LoRA shape replaces ``r``/``alpha``/``target_modules``. ``extrapolate_mlp`` and
        ``extrapolate_attention`` (0: the server's 1) scale the trained update by part before it is
        registered (the ``extrapolate`` block, sent when either is set)."""
        lora = common_pb2.LoraConfig(r=r, alpha=alpha, dropout=dropout, target_modules=list(target_modules),
                                     use_rslora=use_rslora)
        hp = trainer_pb2.Hyperparameters(lr_scheduler=LR_SCHEDULERS.value(lr_scheduler),
                                         compute_dtype=COMPUTE_DTYPES.value(compute_dtype), **hyperparameters)
        dpo = dpo_config(beta=beta, loss_type=loss_type, label_smoothing=label_smoothing, sft_weight=sft_weight,
                         best_metric=best_metric) if TRAINING_METHODS.value(method) == TRAINING_METHODS.value("dpo") \
            else None
        request = trainer_pb2.CreateTrainingJobRequest(
            adapter_name=adapter_name, method=TRAINING_METHODS.value(method), dpo=dpo, init_from=init_from,
            adapter_method=ADAPTER_METHODS.value(adapter_method), hyperparameters=hp,
            training_dataset_id=training_dataset_id, training_dataset_path=training_dataset_path,
            validation_dataset_id=validation_dataset_id, validation_dataset_path=validation_dataset_path,
            validation_split=validation_split, dataset_format=DATASET_FORMATS.value(dataset_format),
            description=description, lora=lora,
            extrapolate=trainer_pb2.Extrapolation(mlp=extrapolate_mlp, attention=extrapolate_attention)
            if extrapolate_mlp or extrapolate_attention else None)
        return self._unary("CreateTrainingJob", request, pick=_job)

    def get_job(self, job_id: str) -> trainer_pb2.TrainingJob:
        return self._unary("GetTrainingJob", trainer_pb2.GetTrainingJobRequest(job_id=job_id), pick=_job)

    def list_jobs(self, *, state: str | int | None = None, adapter_name: str = "", page_size: int = 0,
                  page_token: str = "") -> trainer_pb2.ListTrainingJobsResponse:
        return self._unary("ListTrainingJobs", trainer_pb2.ListTrainingJobsRequest(
            state=job_state(state), adapter_name=adapter_name, page_size=page_size, page_token=page_token))

    def cancel_job(self, job_id: str) -> trainer_pb2.TrainingJob:
        return self._unary("CancelTrainingJob", trainer_pb2.CancelTrainingJobRequest(job_id=job_id), pick=_job)

    def watch(self, job_id: str, *, after_sequence: int = 0,
              timeout: float | None = None) -> Iterator[trainer_pb2.TrainingEvent]:
        """Events of a job (replayed after ``after_sequence``, then live) until it ends."""
        return self._server_stream("WatchTrainingJob", trainer_pb2.WatchTrainingJobRequest(
            job_id=job_id, after_sequence=after_sequence), timeout=timeout, item=lambda r: r.event)


class TrainerClient(TrainerApi, SyncTransport):
    def iter_jobs(self, *, state: str | int | None = None,
                  adapter_name: str = "") -> Iterator[trainer_pb2.TrainingJob]:
        token = ""
        while True:
            page = self.list_jobs(state=state, adapter_name=adapter_name, page_token=token)
            yield from page.jobs
            token = page.next_page_token
            if not token:
                return


class AsyncTrainerClient(TrainerApi, AsyncTransport):
    async def iter_jobs(self, *, state: str | int | None = None,
                        adapter_name: str = "") -> AsyncIterator[trainer_pb2.TrainingJob]:
        token = ""
        while True:
            page = await self.list_jobs(state=state, adapter_name=adapter_name, page_token=token)
            for job in page.jobs:
                yield job
            token = page.next_page_token
            if not token:
                return

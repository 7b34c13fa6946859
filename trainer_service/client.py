"""Typed client of ``lorafleet.v1.TrainerService``.

    from lorafleet.client import connect
    trainer = TrainerClient(connect("127.0.0.1:50051"))
    ds = trainer.upload_dataset(Path("train.jsonl"))
    job = trainer.create_job("support-bot", training_dataset_id=ds.id, adapter_method="qlora")
    for event in trainer.watch(job.id): ...

Errors surface as ``grpc.RpcError`` with the server's status and ``"<field>: <reason>"``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lorafleet.client.base import ServiceClient
from lorafleet.v1 import common_pb2, trainer_pb2, trainer_pb2_grpc

CHUNK_BYTES = 1 << 20
FORMATS = {"": trainer_pb2.DATASET_FORMAT_UNSPECIFIED, "chat": trainer_pb2.DATASET_FORMAT_CHAT,
           "prompt_completion": trainer_pb2.DATASET_FORMAT_PROMPT_COMPLETION, "text": trainer_pb2.DATASET_FORMAT_TEXT}
METHODS = {"lora": trainer_pb2.ADAPTER_METHOD_LORA, "qlora": trainer_pb2.ADAPTER_METHOD_QLORA}
SCHEDULERS = {"": trainer_pb2.LR_SCHEDULER_UNSPECIFIED, "linear": trainer_pb2.LR_SCHEDULER_LINEAR,
              "cosine": trainer_pb2.LR_SCHEDULER_COSINE, "constant": trainer_pb2.LR_SCHEDULER_CONSTANT}
COMPUTE_DTYPES = {"auto": trainer_pb2.COMPUTE_DTYPE_UNSPECIFIED, "float32": trainer_pb2.COMPUTE_DTYPE_FLOAT32,
                  "bfloat16": trainer_pb2.COMPUTE_DTYPE_BFLOAT16}
TERMINAL_STATES = frozenset({trainer_pb2.JOB_STATE_SUCCEEDED, trainer_pb2.JOB_STATE_FAILED,
                             trainer_pb2.JOB_STATE_CANCELLED})


def job_state(name: str | int | None) -> int:
    """``"running"`` / ``"RUNNING"`` / ``"JOB_STATE_RUNNING"`` / enum number → enum number."""
    if name is None or name == "":
        return trainer_pb2.JOB_STATE_UNSPECIFIED
    if isinstance(name, int):
        return name
    key = name.strip().upper()
    key = key if key.startswith("JOB_STATE_") else "JOB_STATE_" + key
    try:
        return trainer_pb2.JobState.Value(key)
    except ValueError:
        choices = [n.removeprefix("JOB_STATE_") for n in trainer_pb2.JobState.keys()[1:]]
        raise ValueError(f"{name!r} is not a job state ({', '.join(choices)})") from None


def state_name(value: int) -> str:
    return trainer_pb2.JobState.Name(value).removeprefix("JOB_STATE_")


def upload_requests(data: Iterable[bytes], filename: str, fmt: str = "", sha256: str = "") -> Iterator[trainer_pb2.UploadDatasetRequest]:
    yield trainer_pb2.UploadDatasetRequest(metadata=trainer_pb2.DatasetMetadata(
        filename=filename, format=FORMATS[fmt], sha256=sha256))
    for chunk in data:
        yield trainer_pb2.UploadDatasetRequest(chunk=chunk)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            yield chunk


class TrainerClient(ServiceClient):
    stub_class = trainer_pb2_grpc.TrainerServiceStub

    def upload_dataset(self, path: Path | str, *, fmt: str = "", verify: bool = True) -> trainer_pb2.Dataset:
        """Stream a JSONL file in 1 MiB chunks; with ``verify`` the server checks the sha256."""
        path = Path(path)
        sha = hashlib.sha256(path.read_bytes()).hexdigest() if verify else ""
        return self._upload("UploadDataset", upload_requests(_file_chunks(path), path.name, fmt, sha)).dataset

    def upload_bytes(self, data: bytes, filename: str = "dataset.jsonl", *, fmt: str = "") -> trainer_pb2.Dataset:
        chunks = [data[i:i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
        return self._upload("UploadDataset", upload_requests(chunks, filename, fmt)).dataset

    def validate_dataset(self, dataset_id: str = "", *, path: str = "", validation_dataset_id: str = "",
                         validation_path: str = "", fmt: str = "", max_seq_length: int = 0) -> trainer_pb2.ValidateDatasetResponse:
        return self._call("ValidateDataset", trainer_pb2.ValidateDatasetRequest(
            dataset_id=dataset_id, path=path, validation_dataset_id=validation_dataset_id,
            validation_path=validation_path, format=FORMATS[fmt], max_seq_length=max_seq_length))

    def create_job(self, adapter_name: str, *, training_dataset_id: str = "", training_dataset_path: str = "",
                   adapter_method: str = "qlora", r: int = 16, alpha: float = 32.0, dropout: float = 0.05,
                   target_modules: Iterable[str] = ("all-linear",), use_rslora: bool = False,
                   validation_dataset_id: str = "", validation_dataset_path: str = "", validation_split: float = 0.0,
                   dataset_format: str = "", description: str = "", lr_scheduler: str = "",
                   compute_dtype: str = "auto", **hyperparameters: Any) -> trainer_pb2.TrainingJob:
        """``hyperparameters`` are Hyperparameters fields (epochs, batch_size, learning_rate...); zero/unset
        ones take the server's defaults. The LoRA block is always sent (r=0 is an error, not a default)."""
        lora = common_pb2.LoraConfig(r=r, alpha=alpha, dropout=dropout, target_modules=list(target_modules),
                                     use_rslora=use_rslora)
        hp = trainer_pb2.Hyperparameters(lr_scheduler=SCHEDULERS[lr_scheduler],
                                         compute_dtype=COMPUTE_DTYPES[compute_dtype], **hyperparameters)
        request = trainer_pb2.CreateTrainingJobRequest(
            adapter_name=adapter_name, method=trainer_pb2.TRAINING_METHOD_SFT, adapter_method=METHODS[adapter_method],
            hyperparameters=hp, training_dataset_id=training_dataset_id, training_dataset_path=training_dataset_path,
            validation_dataset_id=validation_dataset_id, validation_dataset_path=validation_dataset_path,
            validation_split=validation_split, dataset_format=FORMATS[dataset_format], description=description,
            lora=lora)
        return self._call("CreateTrainingJob", request).job

    def get_job(self, job_id: str) -> trainer_pb2.TrainingJob:
        return self._call("GetTrainingJob", trainer_pb2.GetTrainingJobRequest(job_id=job_id)).job

    def list_jobs(self, *, state: str | int | None = None, adapter_name: str = "", page_size: int = 0,
                  page_token: str = "") -> trainer_pb2.ListTrainingJobsResponse:
        return self._call("ListTrainingJobs", trainer_pb2.ListTrainingJobsRequest(
            state=job_state(state), adapter_name=adapter_name, page_size=page_size, page_token=page_token))

    def iter_jobs(self, *, state: str | int | None = None, adapter_name: str = "") -> Iterator[trainer_pb2.TrainingJob]:
        token = ""
        while True:
            page = self.list_jobs(state=state, adapter_name=adapter_name, page_token=token)
            yield from page.jobs
            token = page.next_page_token
            if not token:
                return

    def cancel_job(self, job_id: str) -> trainer_pb2.TrainingJob:
        return self._call("CancelTrainingJob", trainer_pb2.CancelTrainingJobRequest(job_id=job_id)).job

    def watch(self, job_id: str, *, after_sequence: int = 0, timeout: float | None = None) -> Iterator[trainer_pb2.TrainingEvent]:
        """Events of a job (replayed after ``after_sequence``, then live) until it ends."""
        for response in self._stream("WatchTrainingJob", trainer_pb2.WatchTrainingJobRequest(
                job_id=job_id, after_sequence=after_sequence), timeout=timeout):
            yield response.event

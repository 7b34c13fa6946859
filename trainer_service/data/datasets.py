"""Dataset storage: uploads are content-addressed files in the artifact store.

An upload is written to ``datasets/incoming/<uuid>.jsonl`` while it streams, hashed on the way,
then renamed to ``datasets/<sha256>.jsonl`` — the same bytes always get the same id
(``ds-`` + first 16 hex digits of the sha256), uploading twice is idempotent, and a file is
either whole or absent. Metadata lives in ``registry.records("datasets")``.

An upload must be non-empty UTF-8 text without binary control bytes (``upload_check``): anything
else is refused while it streams, naming the line and byte, and nothing of it is kept.

Datasets given by *path* must resolve (symlinks followed) inside one of
``settings.data_root_paths`` (``lorafleet.server.validation.confine_path``: no NUL bytes, no
``..``, no symlink out of a root); anything else is refused so a client cannot make the server
read arbitrary files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from lorafleet.errors import AlreadyExists, InvalidArgument, NotFound, quote
from lorafleet.registry.models import Record
from lorafleet.registry.store import Registry
from lorafleet.server.validation import confine_path
from trainer_service.data.formats import DatasetFormat
from trainer_service.data.upload_check import UploadCheck

log = logging.getLogger(__name__)

DATASET_KIND = "datasets"


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    filename: str
    sha256: str
    size_bytes: int
    num_examples: int
    format: DatasetFormat | None
    path: Path
    created_at: datetime


class DatasetFields(NamedTuple):
    """What a request or a config calls its four dataset fields; read errors name these."""

    train_id: str
    train_path: str
    validation_id: str
    validation_path: str


#: TrainingConfig (and CreateTrainingJobRequest)
CONFIG_FIELDS = DatasetFields("training_dataset_id", "training_dataset_path", "validation_dataset_id",
                              "validation_dataset_path")
#: ValidateDatasetRequest
VALIDATE_REQUEST_FIELDS = DatasetFields("dataset_id", "path", "validation_dataset_id", "validation_path")


@dataclass(frozen=True)
class DatasetPair:
    """The bytes of a training dataset and of its optional validation dataset, with their sha256."""

    train: bytes
    train_sha256: str
    validation: bytes | None = None
    validation_sha256: str = ""


def dataset_id_for(sha256: str) -> str:
    return "ds-" + sha256[:16]


def _info_from_record(record: Record, root: Path) -> DatasetInfo:
    p = record.payload
    return DatasetInfo(record.id, p["filename"], p["sha256"], p["size_bytes"], p["num_examples"],
                       DatasetFormat(p["format"]) if p.get("format") else None,
                       root / p["relpath"], record.created_at)


class DatasetStore:
    def __init__(self, registry: Registry, data_roots: list[Path], max_upload_bytes: int) -> None:
        self.registry = registry
        self.artifacts = registry.artifacts
        self.data_roots = [Path(r).resolve() for r in data_roots]
        self.max_upload_bytes = max_upload_bytes

    # -- uploads -----------------------------------------------------------------------------
    async def upload(self, filename: str, chunks: AsyncIterator[bytes], *, expected_sha256: str = "",
                     ) -> DatasetInfo:
        """Stream ``chunks`` to disk; refuse past ``max_upload_bytes`` (InvalidArgument, field "chunk")."""
        incoming = f"datasets/incoming/{uuid.uuid4().hex}.jsonl"
        digest = hashlib.sha256()
        size = 0
        check = UploadCheck()
        with self.artifacts.atomic_file(incoming) as fh:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.max_upload_bytes:
                    raise InvalidArgument(
                        f"upload exceeds the limit of {self.max_upload_bytes} bytes (max_upload_bytes)", field="chunk")
                check.feed(chunk)
                digest.update(chunk)
                fh.write(chunk)
            check.finish()
        sha = digest.hexdigest()
        tmp_path = self.artifacts.path(incoming)
        if expected_sha256 and expected_sha256.lower() != sha:
            tmp_path.unlink(missing_ok=True)
            raise InvalidArgument(f"received bytes hash to {sha}, not {quote(expected_sha256, 64)}",
                                  field="metadata.sha256")
        final_rel = f"datasets/{sha}.jsonl"
        os.replace(tmp_path, self.artifacts.path(final_rel))
        return self._record(filename, sha, size, final_rel)

    def finish_record(self, info: DatasetInfo, num_examples: int, format: DatasetFormat | None) -> DatasetInfo:
        payload = {**self._payload(info), "num_examples": num_examples, "format": format.value if format else ""}
        record = self.registry.records(DATASET_KIND).update(info.id, payload=payload)
        return _info_from_record(record, self.artifacts.root)

    def _payload(self, info: DatasetInfo) -> dict:
        return {"filename": info.filename, "sha256": info.sha256, "size_bytes": info.size_bytes,
                "num_examples": info.num_examples, "format": info.format.value if info.format else "",
                "relpath": f"datasets/{info.sha256}.jsonl"}

    def _record(self, filename: str, sha: str, size: int, relpath: str) -> DatasetInfo:
        store = self.registry.records(DATASET_KIND)
        ds_id = dataset_id_for(sha)
        existing = store.get(ds_id)
        if existing is not None:
            return _info_from_record(existing, self.artifacts.root)
        payload = {"filename": filename, "sha256": sha, "size_bytes": size, "num_examples": 0, "format": "",
                   "relpath": relpath}
        try:
            record = store.put(ds_id, state="READY", subject=filename, payload=payload)
        except AlreadyExists:  # a concurrent upload of the same bytes won
            record = store.get(ds_id)
        log.info("dataset stored", extra={"dataset_id": ds_id, "sha256": sha, "size_bytes": size})
        return _info_from_record(record, self.artifacts.root)

    # -- lookups -----------------------------------------------------------------------------
    def get(self, dataset_id: str, *, field: str = "dataset_id") -> DatasetInfo:
        if not dataset_id.startswith("ds-") or len(dataset_id) > 64:
            raise InvalidArgument(f"{quote(dataset_id)} is not a dataset id (ds-<16 hex>)", field=field)
        record = self.registry.records(DATASET_KIND).get(dataset_id)
        if record is None:
            raise NotFound(f"dataset {quote(dataset_id)} not found; upload it first", field=field)
        return _info_from_record(record, self.artifacts.root)

    def resolve_path(self, path: str, *, field: str) -> Path:
        """A dataset path the server may read: an existing file under a configured data root."""
        return confine_path(path, self.data_roots, field=field, kind="file", disabled_hint="; upload the dataset")

    def read(self, *, dataset_id: str = "", path: str = "", id_field: str, path_field: str) -> tuple[bytes, str]:
        """Bytes and sha256 of a dataset given by id or path (exactly one)."""
        if dataset_id and path:
            raise InvalidArgument(f"give {id_field} or {path_field}, not both", field=id_field)
        if dataset_id:
            info = self.get(dataset_id, field=id_field)
            data = info.path.read_bytes()
            return data, info.sha256
        if path:
            data = self.resolve_path(path, field=path_field).read_bytes()
            return data, hashlib.sha256(data).hexdigest()
        raise InvalidArgument(f"one of {id_field} or {path_field} is required", field=id_field)

    def read_pair(self, source: object, fields: DatasetFields) -> DatasetPair:
        """The training dataset and the optional validation dataset that ``source`` (a request or a
        TrainingConfig) names by id or path in its attributes ``fields``; errors name those fields."""
        train, train_sha = self.read(dataset_id=getattr(source, fields.train_id),
                                     path=getattr(source, fields.train_path),
                                     id_field=fields.train_id, path_field=fields.train_path)
        validation_id, validation_path = getattr(source, fields.validation_id), getattr(source, fields.validation_path)
        if not (validation_id or validation_path):
            return DatasetPair(train, train_sha)
        validation, validation_sha = self.read(dataset_id=validation_id, path=validation_path,
                                               id_field=fields.validation_id, path_field=fields.validation_path)
        return DatasetPair(train, train_sha, validation, validation_sha)


async def iterate(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for c in chunks:
        yield c

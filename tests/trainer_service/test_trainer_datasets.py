"""DatasetStore.read_pair: one reader of a training + optional validation dataset, by id or path."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from lorafleet.errors import InvalidArgument, NotFound
from trainer_service.data.datasets import CONFIG_FIELDS, VALIDATE_REQUEST_FIELDS, DatasetStore, iterate
from trainer_service.training.config import TrainingConfig


@pytest.fixture()
def store(registry, tmp_path: Path) -> DatasetStore:
    (tmp_path / "data").mkdir()
    return DatasetStore(registry, [tmp_path / "data"], max_upload_bytes=1 << 20)


def test_a_config_names_its_training_dataset_by_id_and_its_validation_dataset_by_path(store, tmp_path) -> None:
    uploaded = asyncio.run(store.upload("train.jsonl", iterate([b'{"text": "a"}\n'])))
    (tmp_path / "data" / "val.jsonl").write_bytes(b'{"text": "b"}\n')
    cfg = TrainingConfig(adapter_name="bot", training_dataset_id=uploaded.id,
                         validation_dataset_path=str(tmp_path / "data" / "val.jsonl"))
    pair = store.read_pair(cfg, CONFIG_FIELDS)
    assert (pair.train, pair.train_sha256) == (b'{"text": "a"}\n', uploaded.sha256)
    validation = b'{"text": "b"}\n'
    assert (pair.validation, pair.validation_sha256) == (validation, hashlib.sha256(validation).hexdigest())


def test_without_a_validation_dataset_there_is_none(store, tmp_path) -> None:
    (tmp_path / "data" / "t.jsonl").write_bytes(b"x\n")
    request = SimpleNamespace(dataset_id="", path=str(tmp_path / "data" / "t.jsonl"), validation_dataset_id="",
                              validation_path="")
    pair = store.read_pair(request, VALIDATE_REQUEST_FIELDS)
    assert pair.train == b"x\n" and pair.validation is None and pair.validation_sha256 == ""


@pytest.mark.parametrize("values, error, field", [
    ({"dataset_id": "", "path": ""}, InvalidArgument, "dataset_id"),
    ({"dataset_id": "ds-0123456789abcdef", "path": ""}, NotFound, "dataset_id"),
    ({"dataset_id": "", "path": "/etc/passwd"}, InvalidArgument, "path"),
    ({"validation_dataset_id": "ds-0123456789abcdef"}, NotFound, "validation_dataset_id"),
    ({"validation_path": "/etc/passwd"}, InvalidArgument, "validation_path"),
])
def test_errors_name_the_callers_field(store, tmp_path, values, error, field) -> None:
    (tmp_path / "data" / "t.jsonl").write_bytes(b"x\n")
    request = SimpleNamespace(**{"dataset_id": "", "path": str(tmp_path / "data" / "t.jsonl"),
                                 "validation_dataset_id": "", "validation_path": "", **values})
    with pytest.raises(error) as err:
        store.read_pair(request, VALIDATE_REQUEST_FIELDS)
    assert err.value.field == field

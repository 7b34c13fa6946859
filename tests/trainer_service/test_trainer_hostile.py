"""TrainerService hostile input, as an outside tester sent it: each answer is INVALID_ARGUMENT (or
NOT_FOUND) naming the field, never INTERNAL, and nothing is stored or started on a refusal."""

from __future__ import annotations

import re
import time
from pathlib import Path

import grpc
import pytest
from trainer_testkit import chat, jsonl

from lorafleet.client.trainer import upload_requests
from lorafleet.config import Settings
from lorafleet.server.background import BackgroundServer
from lorafleet.v1 import trainer_pb2
from trainer_service.hyperparameters import RANGES
from trainer_service.training.config import api_field

ROOT = Path(__file__).resolve().parents[2]
DEEP = b"[" * 100_000 + b"]" * 100_000 + b"\n"
HUGE_INT = b'{"text": 1' + b"0" * 100_000 + b"\n"


@pytest.fixture()
def server(tmp_path: Path, tiny_model_dir: Path):
    """The trainer of conftest.py with room for the tester's 200 KB lines (uploads up to 1 MiB)."""
    data_root = tmp_path / "data"
    data_root.mkdir()
    settings = Settings(home=tmp_path / "home", base_model=str(tiny_model_dir), data_roots=str(data_root),
                        max_upload_bytes=1024 * 1024, device="cpu", log_format="text")
    with BackgroundServer("trainer", settings, port=0, metrics_port=0) as srv:
        srv.data_root = data_root
        yield srv


def _status(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code(), err.value.details()


def _stored_datasets(server) -> list[Path]:
    root = server.server.context.registry.artifacts.root / "datasets"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_null_byte_paths_are_invalid_argument_naming_the_field(client, server, toy_records) -> None:
    (server.data_root / "ds.jsonl").write_bytes(jsonl(toy_records))
    good, hostile = str(server.data_root / "ds.jsonl"), f"{server.data_root}/ds.jsonl\x00x"
    good_id = client.upload_bytes(jsonl(toy_records)).id
    calls = {
        "path": lambda: client.validate_dataset(path=hostile),
        "validation_path": lambda: client.validate_dataset(path=good, validation_path=hostile),
        "training_dataset_path": lambda: client.create_job("bot", training_dataset_path=hostile),
        "validation_dataset_path": lambda: client.create_job("bot", training_dataset_id=good_id,
                                                             validation_dataset_path=hostile),
    }
    for field, call in calls.items():
        code, details = _status(call)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(f"{field}: "), (field, details)
        assert "NUL byte" in details and len(details) < 200
    assert list(client.list_jobs().jobs) == []


@pytest.mark.parametrize("line,reason", [(DEEP, "nested too deeply"), (HUGE_INT, "digits")])
def test_deep_json_and_huge_integers_are_bad_json_lines(client, line: bytes, reason: str) -> None:
    dataset = client.upload_bytes(jsonl([chat("q", "a")]) + line)
    assert dataset.num_examples == 1
    report = client.validate_dataset(dataset.id)
    assert [(i.line, i.code) for i in report.issues] == [(2, "bad_json")] and reason in report.issues[0].message
    assert len(report.issues[0].message) < 200
    code, details = _status(lambda: client.create_job("bot", training_dataset_id=dataset.id))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "training line 2: bad_json" in details


@pytest.mark.parametrize("data,fragment", [
    (b"", "the upload is empty"),
    (b"  \n\n\t\n", "only blank lines"),
    (b'{"text": "a"}\n\x00\x01\x02binary', "line 2, byte offset 14: a NUL byte"),
    (b'{"text": "a"}\n\x7fELF\x02\x01', "line 2, byte offset 18: the control byte 0x02"),
    (b'{"text": "a"}\n{"text": "\xff"}\n', "line 2, byte offset 24: invalid UTF-8 (byte 0xff)"),
    (b'{"text": "a"}\n{"text": "\xed\xa0\x80"}\n', "line 2, byte offset 24: invalid UTF-8 (byte 0xed)"),
    (b'{"text": "caf\xc3', "ends inside a UTF-8 character"),
])
def test_empty_binary_and_invalid_utf8_uploads_are_refused(client, server, data: bytes, fragment: str) -> None:
    code, details = _status(lambda: client.upload_bytes(data))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("chunk: ") and fragment in details, details
    assert _stored_datasets(server) == []
    assert server.server.context.registry.records("datasets").list() == []


def test_upload_checks_see_across_chunk_boundaries(client, server) -> None:
    stub = client._stub.UploadDataset
    ok = stub(upload_requests([b'{"text": "caf\xc3', b'\xa9"}\n'], "split.jsonl"), timeout=30)
    assert ok.dataset.num_examples == 1
    code, details = _status(lambda: stub(upload_requests([b'{"text": "a"}\n{"t\xc3', b'x"}\n'], "bad.jsonl"),
                                         timeout=30))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "line 2, byte offset 17: invalid UTF-8 (byte 0xc3)" in details


EXTREMES = [
    ({"alpha": 3.4e38}, "lora.alpha"),
    ({"batch_size": 2**31 - 1}, "hyperparameters.batch_size"),
    ({"gradient_accumulation_steps": 2**31 - 1}, "hyperparameters.gradient_accumulation_steps"),
    ({"epochs": 2**32 - 1}, "hyperparameters.epochs"),
    ({"max_steps": 2**32 - 1}, "hyperparameters.max_steps"),
    ({"warmup_steps": 2**32 - 1}, "hyperparameters.warmup_steps"),
    ({"eval_every_steps": 2**32 - 1}, "hyperparameters.eval_every_steps"),
    ({"early_stopping_patience": 2**32 - 1}, "hyperparameters.early_stopping_patience"),
    ({"r": 2**32 - 1}, "lora.r"),
    ({"target_modules": ["q_proj"] * 65}, "lora.target_modules"),
    ({"target_modules": ["q" * 1_000_000]}, "lora.target_modules"),
    ({"description": "d" * 5000}, "description"),
]


@pytest.mark.parametrize("kwargs,field", EXTREMES)
def test_extreme_hyperparameters_are_refused(client, toy_records, kwargs, field) -> None:
    good = client.upload_bytes(jsonl(toy_records)).id
    code, details = _status(lambda: client.create_job("bot", training_dataset_id=good, adapter_method="lora",
                                                      **kwargs))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(f"{field}: ") and len(details) < 200
    assert list(client.list_jobs().jobs) == []


def test_the_whole_uint64_seed_range_trains(client, toy_records) -> None:
    good = client.upload_bytes(jsonl(toy_records)).id
    job = client.create_job("seeded", training_dataset_id=good, adapter_method="lora", r=4, alpha=8, seed=2**64 - 1,
                            max_steps=1, batch_size=8)
    assert job.config.hyperparameters.seed == 2**64 - 1
    list(client.watch(job.id, timeout=300))
    done = client.get_job(job.id)
    assert done.state == trainer_pb2.JOB_STATE_SUCCEEDED, done.error
    assert done.config.hyperparameters.seed == 2**64 - 1 and done.adapter_version == 1


@pytest.mark.parametrize("length", [10_000, 1_048_576])
def test_errors_quote_a_short_prefix_of_huge_ids(client, length: int) -> None:
    for call in (lambda: client.get_job("j" * length), lambda: client.validate_dataset("ds-" + "0" * length)):
        code, details = _status(call)
        assert code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT) and len(details) < 200


def test_the_proto_comments_state_every_range() -> None:
    """trainer.proto (Hyperparameters, DpoConfig, Extrapolation, CreateTrainingJobRequest) and common.proto
    (LoraConfig) name the same range as trainer_service.hyperparameters, in the comment above each field."""
    protos = ROOT / "protos" / "lorafleet" / "v1"
    trainer = (protos / "trainer.proto").read_text()
    text = trainer[trainer.index("message Hyperparameters {"):] + (protos / "common.proto").read_text()
    missing = []
    for name, allowed in RANGES.items():
        field = api_field(name).rsplit(".", 1)[-1]  # extrapolate_mlp is Extrapolation's mlp
        found = re.search(rf"((?:\s*//[^\n]*\n)+)\s*(?:optional )?\w+ {field} = \d+;", text)
        if found is None or str(allowed) not in found.group(1):
            missing.append(f"{name} {allowed}")
    assert missing == []



def test_undecodable_bodies_are_invalid_argument_on_every_trainer_method(client, server) -> None:
    channel = client.channel
    metadata = trainer_pb2.UploadDatasetRequest(metadata=trainer_pb2.DatasetMetadata(filename="f.jsonl"))
    for method in ("ValidateDataset", "CreateTrainingJob", "GetTrainingJob", "ListTrainingJobs", "CancelTrainingJob"):
        code, details = _status(lambda m=method: channel.unary_unary(f"/lorafleet.v1.TrainerService/{m}")(
            b"\x00", timeout=30))
        assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT,
                                   f"request: body is not a valid lorafleet.v1.{method}Request message")
    watch = channel.unary_stream("/lorafleet.v1.TrainerService/WatchTrainingJob")
    assert _status(lambda: list(watch(b"\x00", timeout=30)))[0] == grpc.StatusCode.INVALID_ARGUMENT
    upload = channel.stream_unary("/lorafleet.v1.TrainerService/UploadDataset")
    for bodies in ([b"\x00"], [metadata.SerializeToString(), b"\x00"],
                   [metadata.SerializeToString(), trainer_pb2.UploadDatasetRequest(chunk=b'{"text": "a"}\n')
                    .SerializeToString(), b"\x0a\x05ab"]):
        code, details = _status(lambda b=bodies: upload(iter(b), timeout=30))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "UploadDatasetRequest" in details
    deadline = time.monotonic() + 5  # the status is sent before the handler unwinds and removes its temp file
    while _stored_datasets(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _stored_datasets(server) == []


def test_a_pathological_dataset_gets_a_bounded_report(client) -> None:
    long_role = jsonl([{"messages": [{"role": "r" * 50_000, "content": "x"}, {"role": "assistant", "content": "y"}]}])
    dataset = client.upload_bytes(long_role + b"[]\n" * 10_050)
    report = client.validate_dataset(dataset.id)
    assert not report.valid and len(report.issues) == 10_001
    assert report.issues[0].code == "unknown_role" and len(report.issues[0].message) <= 301
    assert (report.issues[-1].code, report.issues[-1].message) == ("more_issues", "51 more issues not listed")

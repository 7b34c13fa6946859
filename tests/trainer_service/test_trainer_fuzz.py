"""TrainerService under generated hostile requests (tests/grpc_fuzz.py) on a real loopback server.

Bar: at least 2,000 requests, none answered INTERNAL or UNKNOWN, every status message at most
1 KiB, the server still SERVING afterwards, nothing written outside its home directory. Job
requests never name a usable dataset, so no job trains; ValidateDataset reads real files.
"""

from __future__ import annotations

from pathlib import Path

from grpc_fuzz import HOSTILE_TEXT, assert_serving, fuzz_service, snapshot
from hypothesis import strategies as st
from trainer_testkit import MAX_UPLOAD, chat, jsonl

from lorafleet.config import Settings
from lorafleet.server.background import BackgroundServer
from lorafleet.v1 import trainer_pb2

EXAMPLES = 200  # x 10 calls


def _data_root(tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    """A data root with a good, a bad and a deep-JSON file, a symlink out; (root, every path, unusable paths)."""
    root, outside = tmp_path / "data", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.jsonl").write_bytes(jsonl([chat("q", "a")]))
    (root / "ds.jsonl").write_bytes(jsonl([chat(f"question {i}", "answer") for i in range(4)]))
    (root / "bad.jsonl").write_bytes(b"[" * 100_000 + b"]" * 100_000 + b"\n" + b'{"text": 1' + b"0" * 100_000 + b"\n")
    (root / "escape").symlink_to(outside)
    (root / "loop").symlink_to(root / "loop")
    unusable = [str(root / "bad.jsonl"), str(root / "escape" / "secret.jsonl"), str(root / "loop"),
                f"{root}/ds.jsonl\x00x", f"{root}/../outside/secret.jsonl", str(root / "missing.jsonl"), str(root)]
    return root, [str(root / "ds.jsonl"), *unusable], unusable


def test_trainer_service_survives_fuzzing(tmp_path: Path, tiny_model_dir: Path) -> None:
    root, paths, unusable = _data_root(tmp_path)
    settings = Settings(home=tmp_path / "home", base_model=str(tiny_model_dir), data_roots=str(root),
                        max_upload_bytes=MAX_UPLOAD, device="cpu", log_format="text", log_level="WARNING")
    no_dataset = st.sampled_from([*unusable, *HOSTILE_TEXT])
    job = "lorafleet.v1.CreateTrainingJobRequest"
    overrides = {f"{job}.{name}": no_dataset for name in ("training_dataset_path", "validation_dataset_path",
                                                           "training_dataset_id", "validation_dataset_id")}
    overrides["lorafleet.v1.ValidateDatasetRequest.max_seq_length"] = st.sampled_from([0, 16, 64, 2**32 - 1])
    before = snapshot(tmp_path, skip=[settings.home])
    with BackgroundServer("trainer", settings, port=0, metrics_port=0) as server:
        stats = fuzz_service(server.address, [trainer_pb2.DESCRIPTOR.services_by_name["TrainerService"]],
                             examples=EXAMPLES, text_extra=paths, overrides=overrides)
        assert_serving(server.address)
        jobs = server.server.context.registry.records("training_jobs").list(limit=1000)
    print(f"\nTrainerService fuzz: {stats.summary()}")
    assert stats.requests >= 2000 and not stats.failures
    assert jobs == []  # no generated request made a job
    assert snapshot(tmp_path, skip=[settings.home]) == before

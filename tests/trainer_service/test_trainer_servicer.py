"""TrainerService over real grpc.aio on loopback: uploads, validation, jobs, watch, bad input."""

from __future__ import annotations

import hashlib
import time

import grpc
import pytest
from trainer_testkit import MAX_UPLOAD, jsonl

from lorafleet.client.trainer import upload_requests
from lorafleet.v1 import trainer_pb2
from trainer_service.convert import config_to_proto
from trainer_service.training.config import TrainingConfig


def _code(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code(), err.value.details()


def test_upload_is_content_addressed_and_idempotent(client, server, toy_records) -> None:
    data = jsonl(toy_records)
    ds = client.upload_bytes(data, "toy.jsonl")
    sha = hashlib.sha256(data).hexdigest()
    assert ds.id == "ds-" + sha[:16] and ds.sha256 == sha and ds.size_bytes == len(data)
    assert ds.num_examples == len(toy_records) and ds.format == trainer_pb2.DATASET_FORMAT_CHAT
    assert client.upload_bytes(data, "again.jsonl").id == ds.id
    stored = server.server.context.registry.artifacts.path(f"datasets/{sha}.jsonl")
    assert stored.read_bytes() == data


def test_upload_limits_and_protocol_errors(client, server) -> None:
    code, details = _code(lambda: client.upload_bytes(b'{"text": "x"}\n' * (MAX_UPLOAD // 10)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("chunk:") and str(MAX_UPLOAD) in details
    datasets_dir = server.server.context.registry.artifacts.root / "datasets"
    leftovers = [p for p in datasets_dir.rglob("*") if p.is_file()] if datasets_dir.exists() else []
    assert leftovers == []
    stub_upload = client._stub.UploadDataset
    code, details = _code(lambda: stub_upload(iter([trainer_pb2.UploadDatasetRequest(chunk=b"x")])))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("metadata:")
    code, details = _code(lambda: stub_upload(upload_requests([b'{"text": "a"}\n'], "f.jsonl", sha256="0" * 64)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("metadata.sha256:")


def test_validate_dataset_reports_all_issues(client, toy_records) -> None:
    bad = client.upload_bytes(jsonl(toy_records[:3]) + b"{broken\n"
                              + jsonl([{"messages": [{"role": "bot", "content": "x"}]}]))
    resp = client.validate_dataset(bad.id, max_seq_length=256)
    assert not resp.valid
    assert [(i.line, i.code) for i in resp.issues] == [(4, "bad_json"), (5, "unknown_role"), (5, "no_assistant")]
    assert resp.stats.num_examples == 3
    code, details = _code(lambda: client.validate_dataset("ds-ffffffffffffffff"))
    assert code == grpc.StatusCode.NOT_FOUND and details.startswith("dataset_id:")


def test_bad_job_requests_get_invalid_argument_or_not_found(client, server, toy_records, tmp_path) -> None:
    good = client.upload_bytes(jsonl(toy_records)).id
    malformed = client.upload_bytes(jsonl(toy_records[:4]) + b"not json\n").id
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(jsonl(toy_records))
    invalid, not_found = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    cases = [
        (dict(training_dataset_id=malformed), invalid, "training_dataset_id:", "training line 5: bad_json"),
        (dict(training_dataset_id=good, target_modules=["qkv"]), invalid, "lora.target_modules:", "qkv"),
        (dict(training_dataset_id=good, r=0), invalid, "lora.r:", ""),
        (dict(training_dataset_id=good, learning_rate=-0.1), invalid, "hyperparameters.learning_rate:", ""),
        (dict(training_dataset_id="ds-0000000000000000"), not_found, "training_dataset_id:", ""),
        (dict(training_dataset_path=str(outside)), invalid, "training_dataset_path:", "outside"),
        (dict(training_dataset_id=good, validation_split=0.2, validation_dataset_id=good), invalid,
         "validation_split:", ""),
    ]
    for kwargs, code, prefix, fragment in cases:
        got, details = _code(lambda kw=kwargs: client.create_job("bot", adapter_method="lora", **kw))
        assert (got, details.startswith(prefix), fragment in details) == (code, True, True), (kwargs, details)
    raw = config_to_proto(TrainingConfig(adapter_name="bot", training_dataset_id=good))
    raw.hyperparameters.compute_dtype = 9  # a client built from a newer proto
    code, details = _code(lambda: client._unary("CreateTrainingJob", raw))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("hyperparameters.compute_dtype:")
    code, details = _code(lambda: client.create_job("Not A Name", training_dataset_id=good))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("adapter_name:")
    assert _code(lambda: client.get_job("job-missing"))[0] == grpc.StatusCode.NOT_FOUND
    assert _code(lambda: client.cancel_job("job-missing"))[0] == grpc.StatusCode.NOT_FOUND
    assert _code(lambda: list(client.watch("job-missing")))[0] == grpc.StatusCode.NOT_FOUND
    assert _code(lambda: client.list_jobs(page_token="garbage"))[0] == grpc.StatusCode.INVALID_ARGUMENT


def test_job_trains_streams_events_and_registers_a_candidate(client, server, toy_records) -> None:
    (server.data_root / "toy.jsonl").write_bytes(jsonl(toy_records))
    job = client.create_job("toy-bot", training_dataset_path=str(server.data_root / "toy.jsonl"), adapter_method="lora",
                            r=4, alpha=8, epochs=2, batch_size=8, learning_rate=1e-2, validation_split=0.2)
    assert job.state in (trainer_pb2.JOB_STATE_QUEUED, trainer_pb2.JOB_STATE_RUNNING)
    t0 = time.monotonic()
    assert client.get_job(job.id).id == job.id  # the event loop answers while the worker trains
    assert time.monotonic() - t0 < 5
    events = list(client.watch(job.id, timeout=300))
    seqs = [e.sequence for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    states = [e.state for e in events if e.type == trainer_pb2.TRAINING_EVENT_TYPE_STATE_CHANGED]
    assert states == [trainer_pb2.JOB_STATE_VALIDATING, trainer_pb2.JOB_STATE_QUEUED, trainer_pb2.JOB_STATE_RUNNING,
                      trainer_pb2.JOB_STATE_SUCCEEDED]
    progress = [e.progress for e in events if e.type == trainer_pb2.TRAINING_EVENT_TYPE_PROGRESS]
    assert [p.step for p in progress] == list(range(1, 11)) and all(p.tokens_per_second > 0 for p in progress)
    assert progress[0].total_steps == 10 and progress[-1].eta_seconds == 0
    evals = [e for e in events if e.type == trainer_pb2.TRAINING_EVENT_TYPE_EVALUATION]
    assert [e.checkpoint.step for e in evals] == [0, 5, 10]
    assert any(e.type == trainer_pb2.TRAINING_EVENT_TYPE_CHECKPOINT_SAVED for e in events)
    done = client.get_job(job.id)
    assert done.state == trainer_pb2.JOB_STATE_SUCCEEDED and done.adapter_version == 1
    assert done.metrics["validation_loss"] < done.metrics["initial_validation_loss"]
    assert done.config.lora.r == 4 and done.dataset_sha256
    version = server.server.context.registry.get_version("toy-bot", 1)
    assert version.state.value == "CANDIDATE" and version.lineage["training_job_id"] == job.id
    replay = list(client.watch(job.id, after_sequence=seqs[-3]))
    assert [e.sequence for e in replay] == seqs[-2:]
    assert [j.id for j in client.list_jobs(state="succeeded").jobs] == [job.id]
    assert list(client.list_jobs(adapter_name="other").jobs) == []
    assert _code(lambda: client.cancel_job(job.id))[0] == grpc.StatusCode.FAILED_PRECONDITION


def test_cancel_over_grpc(client, toy_records) -> None:
    ds = client.upload_bytes(jsonl(toy_records)).id
    job = client.create_job("long-bot", training_dataset_id=ds, adapter_method="lora", r=4, epochs=500)
    for event in client.watch(job.id, timeout=120):
        if event.type == trainer_pb2.TRAINING_EVENT_TYPE_PROGRESS and event.progress.step >= 2:
            break
    t0 = time.monotonic()
    assert client.cancel_job(job.id).id == job.id
    final = [e for e in client.watch(job.id, timeout=60) if e.type == trainer_pb2.TRAINING_EVENT_TYPE_STATE_CHANGED][-1]
    assert final.state == trainer_pb2.JOB_STATE_CANCELLED and time.monotonic() - t0 < 10
    assert client.get_job(job.id).adapter_version == 0


def test_dpo_job_streams_preference_figures_then_continues_an_adapter(client, server, toy_records,
                                                                      preference_records) -> None:
    from prometheus_client import REGISTRY

    pairs = client.upload_bytes(jsonl(preference_records), "pairs.jsonl")
    assert pairs.format == trainer_pb2.DATASET_FORMAT_PREFERENCE and pairs.num_examples == len(preference_records)
    job = client.create_job("pref-bot", training_dataset_id=pairs.id, method="dpo", adapter_method="lora", r=4,
                            alpha=8, epochs=2, batch_size=4, learning_rate=1e-2, validation_split=0.25, beta=0.2,
                            best_metric="margin")
    assert job.config.method == trainer_pb2.TRAINING_METHOD_DPO and job.config.dpo.beta == pytest.approx(0.2)
    events = list(client.watch(job.id, timeout=300))
    progress = [e.progress for e in events if e.type == trainer_pb2.TRAINING_EVENT_TYPE_PROGRESS]
    assert progress and all(p.HasField("preference") for p in progress)
    evals = [e for e in events if e.type == trainer_pb2.TRAINING_EVENT_TYPE_EVALUATION]
    assert evals[0].checkpoint.validation_loss == pytest.approx(0.6931, abs=1e-3)  # ln 2: policy = reference
    assert "reward margin" in evals[-1].message
    done = client.get_job(job.id)
    assert done.state == trainer_pb2.JOB_STATE_SUCCEEDED, done.error
    assert done.metrics["validation_reward_accuracy"] >= 0.9 and done.metrics["validation_reward_margin"] > 0
    assert [c.validation_preference.reward_margin > 0 for c in done.checkpoints] == [True]
    assert REGISTRY.get_sample_value("lorafleet_training_preference_accuracy", {"split": "validation"}) >= 0.9
    assert REGISTRY.get_sample_value("lorafleet_training_preference_rewards",
                                     {"split": "train", "answer": "chosen"}) is not None

    (server.data_root / "toy.jsonl").write_bytes(jsonl(toy_records))
    sft = client.create_job("pref-bot", training_dataset_path=str(server.data_root / "toy.jsonl"),
                            adapter_method="lora", r=8, alpha=16, max_steps=2)
    list(client.watch(sft.id, timeout=300))
    cont = client.create_job("pref-bot", training_dataset_id=pairs.id, method="dpo", init_from="pref-bot@2",
                             adapter_method="lora", r=4, max_steps=2)
    assert cont.config.init_from == "pref-bot@2" and cont.config.lora.r == 8  # the adapter's shape, pinned
    list(client.watch(cont.id, timeout=300))
    done = client.get_job(cont.id)
    assert done.state == trainer_pb2.JOB_STATE_SUCCEEDED, done.error
    version = server.server.context.registry.get_version("pref-bot", done.adapter_version)
    assert version.lineage["init_from"] == "pref-bot@2" and version.lora.r == 8


def test_bad_dpo_requests_name_the_field(client, server, toy_records, preference_records) -> None:
    pairs = client.upload_bytes(jsonl(preference_records)).id
    chat = client.upload_bytes(jsonl(toy_records)).id
    invalid, not_found = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    cases = [
        (dict(training_dataset_id=chat, method="dpo"), invalid, "training_dataset_id:", "preference records"),
        (dict(training_dataset_id=pairs, method="dpo", beta=-1), invalid, "dpo.beta:", ""),
        (dict(training_dataset_id=pairs, method="dpo", label_smoothing=0.5), invalid, "dpo.label_smoothing:", ""),
        (dict(training_dataset_id=pairs, method="dpo", init_from="ghost@3"), not_found, "init_from:", "ghost"),
        (dict(training_dataset_id=pairs, method="dpo", init_from="Bad Name"), invalid, "init_from:", ""),
    ]
    for kwargs, code, prefix, fragment in cases:
        got, details = _code(lambda kw=kwargs: client.create_job("bot", adapter_method="lora", **kw))
        assert (got, details.startswith(prefix), fragment in details) == (code, True, True), (kwargs, details)
    raw = config_to_proto(TrainingConfig(adapter_name="bot", training_dataset_id=pairs))
    raw.dpo.beta = 0.5  # DPO settings on an SFT job
    code, details = _code(lambda: client._unary("CreateTrainingJob", raw))
    assert code == invalid and details.startswith("dpo:")
    raw = config_to_proto(TrainingConfig(adapter_name="bot", method="dpo", training_dataset_id=pairs))
    raw.dpo.loss_type = 9
    code, details = _code(lambda: client._unary("CreateTrainingJob", raw))
    assert code == invalid and details.startswith("dpo.loss_type:")


def test_the_answer_start_and_anchor_weights_are_kept_and_checked(client, server, toy_records,
                                                                  preference_records) -> None:
    records = [dict(r, anchor=True) if i % 4 == 0 else r for i, r in enumerate(toy_records)]
    chat = client.upload_bytes(jsonl(records)).id
    job = client.create_job("weighted-bot", training_dataset_id=chat, adapter_method="lora", r=4, max_steps=1,
                            answer_start_weight=4.0, answer_start_tokens=3, anchor_weight=2.5)
    h = job.config.hyperparameters
    assert (h.answer_start_weight, h.answer_start_tokens, h.anchor_weight) == (4.0, 3, 2.5)
    default = client.create_job("plain-bot", training_dataset_id=chat, adapter_method="lora", r=4, max_steps=1)
    h = default.config.hyperparameters
    assert (h.answer_start_weight, h.answer_start_tokens, h.anchor_weight) == (1.0, 2, 1.0)  # 0 takes the defaults
    for done in (job, default):
        list(client.watch(done.id, timeout=300))
        assert client.get_job(done.id).state == trainer_pb2.JOB_STATE_SUCCEEDED
    pairs = client.upload_bytes(jsonl(preference_records)).id
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    cases = [
        (dict(training_dataset_id=chat, answer_start_weight=101.0), "hyperparameters.answer_start_weight:", ""),
        (dict(training_dataset_id=chat, answer_start_weight=0.5), "hyperparameters.answer_start_weight:", ""),
        (dict(training_dataset_id=chat, answer_start_tokens=65), "hyperparameters.answer_start_tokens:", ""),
        (dict(training_dataset_id=chat, anchor_weight=100.5), "hyperparameters.anchor_weight:", ""),
        (dict(training_dataset_id=chat, anchor_weight=-1.0), "hyperparameters.anchor_weight:", ""),
        (dict(training_dataset_id=pairs, method="dpo", anchor_weight=2.0), "hyperparameters.anchor_weight:",
         "SFT only"),
        (dict(training_dataset_id=pairs, method="dpo", answer_start_weight=3.0),
         "hyperparameters.answer_start_weight:", "SFT only"),
    ]
    for kwargs, prefix, fragment in cases:
        got, details = _code(lambda kw=kwargs: client.create_job("bot", adapter_method="lora", **kw))
        assert (got, details.startswith(prefix), fragment in details) == (invalid, True, True), (kwargs, details)

"""JobRunner: validate → queue → run → CANDIDATE version; order, cancel, restart recovery."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from trainer_testkit import jsonl

from lorafleet.base_model import read_base_model_spec
from lorafleet.errors import FailedPrecondition, InvalidArgument, NotFound
from lorafleet.registry.models import AdapterState
from trainer_service.data.datasets import DatasetStore, iterate
from trainer_service.jobs import JOB_KIND, JobRunner
from trainer_service.training.config import TrainingConfig


@pytest.fixture()
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    return root


@pytest.fixture()
def make_runner(registry, tiny_model_dir, data_root):
    runners: list[JobRunner] = []
    spec = read_base_model_spec(tiny_model_dir, name="tiny")

    def make(start: bool = True) -> JobRunner:
        store = DatasetStore(registry, [data_root], max_upload_bytes=1 << 20)
        runner = JobRunner(registry, store, base_model_dir=lambda: tiny_model_dir, base_spec=lambda: spec,
                           device="cpu", base_model_name="tiny")
        if start:
            runner.start()
        runners.append(runner)
        return runner

    yield make
    for r in runners:
        r.stop(timeout=30)


def _upload(runner: JobRunner, data: bytes) -> str:
    return asyncio.run(runner.datasets.upload("train.jsonl", iterate([data[:50], data[50:]]))).id


def _cfg(ds: str, **kw) -> TrainingConfig:
    base = dict(adapter_name="toy-bot", adapter_method="lora", r=4, alpha=8, dropout=0.0, epochs=1, batch_size=8,
                learning_rate=1e-2, lr_scheduler="constant", warmup_ratio=0.0, training_dataset_id=ds,
                max_seq_length=128, validation_split=0.2)
    base.update(kw)
    return TrainingConfig(**base)


def _metric(name: str, **labels) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_job_succeeds_and_registers_a_candidate_with_lineage(make_runner, registry, toy_records) -> None:
    steps_before = _metric("lorafleet_training_steps_total")
    tokens_before = _metric("lorafleet_training_tokens_total")
    hist_before = _metric("lorafleet_training_step_seconds_count")
    runner = make_runner()
    ds = _upload(runner, jsonl(toy_records))
    job = runner.create(_cfg(ds))
    assert job.state in ("QUEUED", "RUNNING")  # the worker may already have picked it up
    done = runner.wait(job.id, timeout=300)
    assert done.state == "SUCCEEDED", done.error
    version = registry.get_version("toy-bot", done.adapter_version)
    assert version.state is AdapterState.CANDIDATE
    assert version.lineage["training_job_id"] == job.id
    assert version.lineage["dataset_sha256"] == registry.records("datasets").get(ds).payload["sha256"]
    assert version.lineage["source"] == "trained" and '"r": 4' in version.lineage["config_json"]
    assert version.metrics["validation_loss"] < version.metrics["initial_validation_loss"]
    files = {p.name for p in Path(version.artifact_path).iterdir()}
    assert files >= {"adapter_config.json", "adapter_model.safetensors"}
    states = [e.state for e in runner.events(job.id).after(0) if e.type == "state_changed"]
    assert states == ["VALIDATING", "QUEUED", "RUNNING", "SUCCEEDED"]
    assert done.progress["step"] == done.progress["total_steps"] == 5  # 39 training examples / 8
    assert done.checkpoints and done.checkpoints[-1]["best"]
    assert _metric("lorafleet_training_steps_total") - steps_before == 5
    assert _metric("lorafleet_training_step_seconds_count") - hist_before == 5
    assert _metric("lorafleet_training_tokens_total") - tokens_before == done.progress["tokens_trained"]
    assert _metric("lorafleet_training_jobs", state="succeeded") == 1
    assert _metric("lorafleet_training_loss") == pytest.approx(done.progress["train_loss"])


def test_jobs_run_one_at_a_time_in_creation_order(make_runner, toy_records) -> None:
    runner = make_runner()
    ds = _upload(runner, jsonl(toy_records))
    ids = [runner.create(_cfg(ds, adapter_name=f"bot-{i}", max_steps=2)).id for i in range(3)]
    jobs = [runner.wait(i, timeout=300) for i in ids]
    assert [j.state for j in jobs] == ["SUCCEEDED"] * 3
    for earlier, later in zip(jobs, jobs[1:]):
        assert earlier.finished_at <= later.started_at


def test_cancel_running_job_stops_within_seconds_and_leaves_no_adapter(make_runner, registry, toy_records) -> None:
    runner = make_runner()
    ds = _upload(runner, jsonl(toy_records))
    job = runner.create(_cfg(ds, epochs=500, eval_every_steps=3))
    deadline = time.monotonic() + 120
    while runner.get(job.id).progress.get("step", 0) < 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    t0 = time.monotonic()
    runner.cancel(job.id)
    done = runner.wait(job.id, timeout=30)
    assert done.state == "CANCELLED"
    assert time.monotonic() - t0 < 5
    assert registry.list_versions("toy-bot") == []
    job_dir = registry.artifacts.root / "training_jobs" / job.id
    assert not job_dir.exists() or not any(job_dir.iterdir())
    with pytest.raises(FailedPrecondition):
        runner.cancel(job.id)


def test_cancel_queued_job_never_runs(make_runner, toy_records) -> None:
    runner = make_runner()
    ds = _upload(runner, jsonl(toy_records))
    first = runner.create(_cfg(ds, epochs=3))
    second = runner.create(_cfg(ds, adapter_name="second"))
    assert runner.cancel(second.id).state == "CANCELLED"
    assert runner.wait(first.id, timeout=300).state == "SUCCEEDED"
    assert runner.get(second.id).started_at is None


def test_bad_inputs_are_refused_naming_field_or_line(make_runner, registry, data_root, toy_records, tmp_path) -> None:
    runner = make_runner()
    bad = _upload(runner, jsonl(toy_records[:5]) + b"{oops\n")
    with pytest.raises(InvalidArgument) as err:
        runner.create(_cfg(bad, validation_split=0.0))
    assert err.value.field == "training_dataset_id" and "training line 6: bad_json" in str(err.value)
    with pytest.raises(NotFound) as nf:
        runner.create(_cfg("ds-00000000deadbeef"))
    assert nf.value.field == "training_dataset_id"
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(jsonl(toy_records))
    (data_root / "link.jsonl").symlink_to(outside)
    for path in (str(outside), str(data_root / "link.jsonl"), str(data_root / ".." / "outside.jsonl")):
        with pytest.raises(InvalidArgument) as err:
            runner.create(_cfg("", training_dataset_path=path))
        assert err.value.field == "training_dataset_path"
    (data_root / "ok.jsonl").write_bytes(jsonl(toy_records))
    ok = runner.create(_cfg("", training_dataset_path=str(data_root / "ok.jsonl"), max_steps=1))
    assert runner.wait(ok.id, timeout=300).state == "SUCCEEDED"
    with pytest.raises(InvalidArgument) as err:
        runner.create(_cfg(bad, target_modules=("attn_proj",)))
    assert err.value.field == "lora.target_modules"


def test_restart_requeues_running_jobs_without_checkpoint_from_step_0_and_queued_ones(make_runner, registry,
                                                                                     toy_records) -> None:
    first = make_runner(start=False)
    ds = _upload(first, jsonl(toy_records))
    cfg = _cfg(ds, max_steps=1)
    store = registry.records(JOB_KIND)
    base = {"config": cfg.model_dump(), "dataset_sha256": "x", "validation_dataset_sha256": "",
            "progress": {"step": 3}, "checkpoints": [{"step": 3, "path": "/a/step-000003", "best": True}],
            "adapter_version": 0, "error": "", "metrics": {}}
    store.put("job-crashed", state="RUNNING", subject="toy-bot", payload=base)
    store.put("job-waiting", state="QUEUED", subject="toy-bot", payload={**base, "progress": {}, "checkpoints": []})
    runner = make_runner()  # a fresh process's runner finds them
    assert runner.wait("job-crashed", timeout=300).state == "SUCCEEDED"
    assert runner.wait("job-waiting", timeout=300).state == "SUCCEEDED"
    events = runner.events("job-crashed").after(0)
    assert "no resume checkpoint was written, it restarts from step 0" in events[0].message
    assert [e.progress["step"] for e in events if e.type == "progress"][0] == 1
    assert runner.get("job-crashed").adapter_version != runner.get("job-waiting").adapter_version


def test_restart_fails_a_running_job_whose_checkpoint_is_unusable(make_runner, registry, toy_records) -> None:
    first = make_runner(start=False)
    ds = _upload(first, jsonl(toy_records))
    base = {"config": _cfg(ds, max_steps=1).model_dump(), "dataset_sha256": "x", "validation_dataset_sha256": "",
            "progress": {"step": 3}, "checkpoints": [], "adapter_version": 0, "error": "", "metrics": {}}
    registry.records(JOB_KIND).put("job-broken", state="RUNNING", subject="toy-bot", payload=base)
    ckpt = registry.artifacts.path(f"{JOB_KIND}/job-broken/resume/step-000003")
    ckpt.mkdir(parents=True)
    (ckpt / "lora.safetensors").write_bytes(b"not a checkpoint")
    broken = make_runner().get("job-broken")
    assert broken.state == "FAILED"
    assert f"resume checkpoint {ckpt} is unusable: manifest.json is missing" in broken.error


def test_graceful_stop_keeps_the_running_job_for_the_next_start_to_resume(make_runner, registry, toy_records,
                                                                          monkeypatch) -> None:
    monkeypatch.setenv("LORAFLEET_TRAINER_RESUME_EVERY_STEPS", "2")
    runner = make_runner()
    ds = _upload(runner, jsonl(toy_records))
    running = runner.create(_cfg(ds, max_steps=60, epochs=20))
    queued = runner.create(_cfg(ds, adapter_name="later", max_steps=2))
    root = registry.artifacts.path(f"{JOB_KIND}/{running.id}/resume")
    deadline = time.monotonic() + 120
    while not (root.is_dir() and any(p.name.startswith("step-") for p in root.iterdir())):
        assert time.monotonic() < deadline and runner.get(running.id).state in ("QUEUED", "RUNNING")
        time.sleep(0.02)
    runner.stop(timeout=30)
    assert runner.get(running.id).state == "RUNNING"
    assert runner.get(queued.id).state == "QUEUED"
    assert any("resumes from its last checkpoint at the next start" in e.message
               for e in runner.events(running.id).after(0))

    second = make_runner()
    assert second.wait(running.id, timeout=300).state == "SUCCEEDED"
    assert second.wait(queued.id, timeout=300).state == "SUCCEEDED"
    resumed = [e for e in second.events(running.id).after(0) if "after trainer restart" in e.message]
    assert "it resumes from step" in resumed[0].message and "resumed from step" in resumed[1].message
    assert not root.exists()  # resume checkpoints go when the job ends


def test_restarted_trainer_replays_a_jobs_milestones_with_their_sequence_numbers(make_runner, toy_records) -> None:
    first = make_runner()
    ds = _upload(first, jsonl(toy_records))
    job = first.create(_cfg(ds, max_steps=4, eval_every_steps=2))
    assert first.wait(job.id, timeout=300).state == "SUCCEEDED"
    live = first.events(job.id).after(0)
    milestones = [e for e in live if e.type != "progress"]
    assert any(e.type == "progress" for e in live)
    first.stop(timeout=30)

    second = make_runner()  # a new process: nothing in memory, the same registry
    replay = second.events(job.id)
    assert replay.closed
    got = replay.after(0)
    assert [(e.sequence, e.type, e.state) for e in got] == [(e.sequence, e.type, e.state) for e in milestones]
    assert [e.state for e in got if e.type == "state_changed"] == ["VALIDATING", "QUEUED", "RUNNING", "SUCCEEDED"]
    evals = [e for e in got if e.type == "evaluation"]
    assert [e.evaluation["step"] for e in evals] == [0, 2, 4]  # step 0, then every 2 steps
    assert all(e.evaluation["validation_loss"] > 0 for e in evals)
    assert [e.evaluation for e in evals] == [e.evaluation for e in milestones if e.type == "evaluation"]
    assert any(e.type == "checkpoint_saved" for e in got)
    assert any(e.type == "log" and "registered toy-bot@1" in e.message for e in got)
    assert any(e.type == "log" and "model ready: " in e.message
               and "base matmuls in float32 (compute_dtype=auto)" in e.message
               for e in got)  # the toy job is LoRA: float32 on a CPU


def test_a_job_requeued_by_restart_continues_its_persisted_history(make_runner, registry, toy_records) -> None:
    first = make_runner(start=False)
    ds = _upload(first, jsonl(toy_records))
    base = {"config": _cfg(ds).model_dump(), "dataset_sha256": "x",
            "validation_dataset_sha256": "", "progress": {"step": 5}, "checkpoints": [], "adapter_version": 0,
            "error": "", "metrics": {},
            "events": [{"sequence": 1, "type": "state_changed", "state": "VALIDATING",
                        "time": "2026-11-21T10:00:00+00:00"},
                       {"sequence": 2, "type": "state_changed", "state": "QUEUED",
                        "time": "2026-11-21T10:00:01+00:00"},
                       {"sequence": 3, "type": "state_changed", "state": "RUNNING",
                        "time": "2026-11-21T10:00:02+00:00"},
                       {"sequence": 40, "type": "evaluation", "state": "RUNNING",
                        "time": "2026-11-21T10:01:00+00:00", "evaluation": {"step": 5, "validation_loss": 1.25}},
                       {"bogus": True}]}
    registry.records(JOB_KIND).put("job-cut", state="RUNNING", subject="toy-bot", payload=base)
    runner = make_runner()
    events = runner.events("job-cut").after(0)
    assert [(e.sequence, e.state) for e in events[:5]] == [(1, "VALIDATING"), (2, "QUEUED"), (3, "RUNNING"),
                                                          (40, "RUNNING"), (41, "QUEUED")]
    assert events[3].evaluation == {"step": 5, "validation_loss": 1.25}
    assert "re-queued after trainer restart" in events[4].message
    assert runner.wait("job-cut", timeout=300).state == "SUCCEEDED"
    assert runner.events("job-cut").closed
    sequences = [e.sequence for e in runner.events("job-cut").after(0)]
    assert sequences == sorted(set(sequences))


def test_a_restarted_log_numbers_after_the_sequences_reserved_for_progress(make_runner, registry, toy_records) -> None:
    """Progress events are not persisted, but their numbers are reserved: after a restart a watcher that saw
    progress event 57 (``after_sequence=57``) still gets every new event."""
    first = make_runner(start=False)
    ds = _upload(first, jsonl(toy_records))
    base = {"config": _cfg(ds, max_steps=1).model_dump(), "dataset_sha256": "x", "validation_dataset_sha256": "",
            "progress": {"step": 50}, "checkpoints": [], "adapter_version": 0, "error": "", "metrics": {},
            "sequence_reserved": 1057,
            "events": [{"sequence": 3, "type": "state_changed", "state": "RUNNING",
                        "time": "2026-11-21T10:00:02+00:00"}]}
    registry.records(JOB_KIND).put("job-seq", state="RUNNING", subject="toy-bot", payload=base)
    runner = make_runner()
    assert runner.wait("job-seq", timeout=300).state == "SUCCEEDED"
    events = runner.events("job-seq").after(0)
    assert [e.sequence for e in events[:2]] == [3, 1058]
    assert runner.events("job-seq").after(57) == events[1:]
    assert registry.records(JOB_KIND).get("job-seq").payload["sequence_reserved"] > events[-1].sequence - 1000

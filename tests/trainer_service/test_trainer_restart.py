"""The real thing: a trainer process killed with SIGKILL mid-job; the restarted trainer resumes the job from its
last resume checkpoint and ends as an uninterrupted run of the same job does, registering it once."""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest
from trainer_testkit import jsonl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from lorafleet_testkit import ServerProcess, free_port, lorafleet_command, subprocess_env, wait_serving

from lorafleet.client import connect
from lorafleet.client.trainer import TrainerClient
from lorafleet.v1 import trainer_pb2

JOB = dict(adapter_method="lora", r=4, alpha=8, dropout=0.1, max_steps=40, epochs=20, batch_size=4,
           learning_rate=1e-2, validation_split=0.2, eval_every_steps=5)


@pytest.fixture()
def trainer(tmp_path: Path, tiny_model_dir: Path, toy_records):
    data_root = tmp_path / "data"
    data_root.mkdir()
    (data_root / "toy.jsonl").write_bytes(jsonl(toy_records))
    env = subprocess_env({"LORAFLEET_BASE_MODEL": str(tiny_model_dir), "LORAFLEET_DEVICE": "cpu",
                          "LORAFLEET_DATA_ROOTS": str(data_root), "LORAFLEET_TRAINER_RESUME_EVERY_STEPS": "2"})
    procs: list[ServerProcess] = []

    def start() -> tuple[ServerProcess, str]:
        port = free_port()
        proc = ServerProcess(lorafleet_command("serve", "trainer", "--home", str(tmp_path / "home"), "--port",
                                               str(port), "--metrics-port", str(free_port())), env)
        procs.append(proc)
        address = f"127.0.0.1:{port}"
        wait_serving(address, timeout=120)
        return proc, address

    start.data = data_root / "toy.jsonl"  # type: ignore[attr-defined]
    start.artifacts = tmp_path / "home" / "artifacts"  # type: ignore[attr-defined]
    yield start
    for proc in procs:
        proc.close()


def _wait_done(client: TrainerClient, job_id: str, timeout: float = 180) -> trainer_pb2.TrainingJob:
    deadline = time.monotonic() + timeout
    while (job := client.get_job(job_id)).state not in (trainer_pb2.JOB_STATE_SUCCEEDED, trainer_pb2.JOB_STATE_FAILED,
                                                        trainer_pb2.JOB_STATE_CANCELLED):
        assert time.monotonic() < deadline, f"job {job_id} still {job.state}"
        time.sleep(0.2)
    return job


def _steps(path: Path) -> list[int]:
    return [int(p.name.removeprefix("step-")) for p in path.iterdir() if p.name.startswith("step-")] \
        if path.is_dir() else []


def test_a_trainer_killed_mid_job_resumes_it_after_restart(trainer) -> None:
    first, address = trainer()
    channel = connect(address)
    client = TrainerClient(channel, timeout=60)
    reference = _wait_done(client, client.create_job("ref-bot", training_dataset_path=str(trainer.data), **JOB).id)
    assert reference.state == trainer_pb2.JOB_STATE_SUCCEEDED

    job = client.create_job("toy-bot", training_dataset_path=str(trainer.data), **JOB)
    resume_dir = trainer.artifacts / "training_jobs" / job.id / "resume"
    kill_after = random.choice([2, 4, 6, 8])
    deadline = time.monotonic() + 120
    while max(_steps(resume_dir), default=0) < kill_after:
        assert time.monotonic() < deadline and client.get_job(job.id).state != trainer_pb2.JOB_STATE_SUCCEEDED
        time.sleep(0.01)
    os.kill(first.process.pid, signal.SIGKILL)
    first.wait(timeout=30)
    channel.close()

    _, address = trainer()
    channel = connect(address)
    client = TrainerClient(channel, timeout=60)
    done = _wait_done(client, job.id)
    events = list(client.watch(job.id, timeout=60))
    channel.close()

    assert done.state == trainer_pb2.JOB_STATE_SUCCEEDED, done.error
    resumed = [e.message for e in events if "resumed from step" in e.message]
    assert len(resumed) == 1 and "after trainer restart" in resumed[0]
    step = int(resumed[0].split("resumed from step ")[1].split()[0])
    assert step >= kill_after
    progress = [e.progress.step for e in events if e.type == trainer_pb2.TRAINING_EVENT_TYPE_PROGRESS]
    assert progress[0] == step + 1 and progress[-1] == 40
    seqs = [e.sequence for e in events]
    assert seqs == sorted(set(seqs))
    assert done.adapter_version == 1
    registered = [e for e in events if "registered toy-bot@" in e.message]
    assert len(registered) == 1
    loss, ref_loss = done.metrics["validation_loss"], reference.metrics["validation_loss"]
    assert abs(loss - ref_loss) <= 0.02 * ref_loss, (loss, ref_loss)
    assert not resume_dir.exists()

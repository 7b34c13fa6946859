"""The demo's live views render the real event shapes (training events, evaluation updates)."""

from __future__ import annotations

import io

from rich.console import Console

from lorafleet.demo.runner import Demo
from lorafleet.v1 import eval_pb2, trainer_pb2


class FakeTrainer:
    def __init__(self) -> None:
        self.events = [
            trainer_pb2.TrainingEvent(sequence=1, type=trainer_pb2.TRAINING_EVENT_TYPE_STATE_CHANGED,
                                      state=trainer_pb2.JOB_STATE_RUNNING),
            trainer_pb2.TrainingEvent(sequence=2, type=trainer_pb2.TRAINING_EVENT_TYPE_PROGRESS,
                                      progress=trainer_pb2.TrainingProgress(step=3, total_steps=30, train_loss=1.25,
                                                                            tokens_per_second=800.0)),
            trainer_pb2.TrainingEvent(sequence=3, type=trainer_pb2.TRAINING_EVENT_TYPE_EVALUATION,
                                      checkpoint=trainer_pb2.Checkpoint(step=3, validation_loss=0.75)),
        ]

    def watch(self, job_id: str):
        yield from self.events

    def get_job(self, job_id: str) -> trainer_pb2.TrainingJob:
        return trainer_pb2.TrainingJob(id=job_id, state=trainer_pb2.JOB_STATE_SUCCEEDED, adapter_version=1)


class FakeEvaluator:
    def watch_evaluation(self, evaluation_id: str):
        for done in (0, 2, 4):
            yield eval_pb2.WatchEvaluationResponse(evaluation=eval_pb2.Evaluation(
                id=evaluation_id, progress=[eval_pb2.SuiteProgress(suite="safety", cases_done=done, cases_total=4)]))

    def get_evaluation(self, evaluation_id: str) -> eval_pb2.Evaluation:
        return eval_pb2.Evaluation(id=evaluation_id, state=eval_pb2.EVALUATION_STATE_SUCCEEDED)


def _demo(tmp_path) -> tuple[Demo, io.StringIO]:
    out = io.StringIO()
    return Demo(tmp_path / "demo", tmp_path / "models", console=Console(file=out, width=120)), out


def test_training_view_renders_before_and_after_the_step_count_is_known(tmp_path) -> None:
    demo, out = _demo(tmp_path)
    job = demo._watch_job(FakeTrainer(), "job-1")
    assert job.state == trainer_pb2.JOB_STATE_SUCCEEDED
    text = out.getvalue()
    assert "step 3/30" in text and "loss 1.250" in text and "validation loss 0.750" in text


def test_evaluation_view_tracks_suite_progress(tmp_path) -> None:
    demo, out = _demo(tmp_path)
    ev = demo._watch_eval(FakeEvaluator(), "eval-1")
    assert ev.state == eval_pb2.EVALUATION_STATE_SUCCEEDED
    assert "4/4" in out.getvalue()

"""One real local cluster (``lorafleet serve all`` on loopback, the real SmolLM2 base) per session."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
PLUMBING_POLICY = Path(__file__).resolve().parent / "plumbing_policy.yaml"

from lorafleet.client import LoraFleetClient  # noqa: E402
from lorafleet.datasets import bundled_path  # noqa: E402
from lorafleet.demo.cluster import LocalCluster  # noqa: E402
from lorafleet.v1 import eval_pb2, trainer_pb2  # noqa: E402


@pytest.fixture(scope="session")
def cluster(tmp_path_factory, real_base_model_dir: Path):
    home = tmp_path_factory.mktemp("e2e-home")
    # The loop re-imports a trained version from the artifact store: ImportAdapter reads only inside the data roots.
    with LocalCluster(home, model_cache_dir=real_base_model_dir.parent,
                      extra_env={"LORAFLEET_DATA_ROOTS": str(home)}) as running:
        yield running


@dataclass
class LoopResult:
    job: trainer_pb2.TrainingJob
    evaluation: eval_pb2.Evaluation
    answer_before: object
    base_answer: object
    imported_version: int
    answer_after_promote: object
    rollback_previous: int
    answer_after_rollback: object
    production_after: int
    events: list


# Inference re-resolves an alias at most LORAFLEET_ALIAS_POLL_S (2 s by default) after it moved.
ALIAS_SWITCH_BOUND_S = 10.0


def _generate_until(inference, expected: str):
    """Generate through the production alias until it resolves to ``expected`` (bounded wait)."""
    deadline = time.monotonic() + ALIAS_SWITCH_BOUND_S
    while True:
        reply = inference.generate(adapter="support-bot", prompt="hello", max_tokens=4)
        if reply.resolved_adapter == expected or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


@pytest.fixture(scope="session")
def loop(cluster) -> LoopResult:
    from lorafleet.demo.runner import V1_PLAN

    fleet = LoraFleetClient(cluster.address("inference"), trainer_address=cluster.address("trainer"),
                            eval_address=cluster.address("eval"), timeout=300)
    trainer, evaluator, inference = fleet.trainer, fleet.evaluator, fleet.inference

    dataset = trainer.upload_dataset(bundled_path(V1_PLAN.dataset))
    validation = trainer.upload_dataset(bundled_path(V1_PLAN.validation))
    # A short run: the loop's plumbing is under test here, not the recipe (the demo trains a full epoch).
    hyper = {**V1_PLAN.hyperparameters, "max_steps": 12, "eval_every_steps": 6}
    job = trainer.create_job("support-bot", training_dataset_id=dataset.id, validation_dataset_id=validation.id,
                             adapter_method="qlora", **V1_PLAN.lora, target_modules=("all-linear",),
                             lr_scheduler="cosine", **hyper)
    events = list(trainer.watch(job.id))
    job = trainer.get_job(job.id)

    ev = evaluator.create_evaluation(f"support-bot@{job.adapter_version}", baseline="base_model",
                                     promote_to="production", policy=str(PLUMBING_POLICY), max_cases_per_suite=6)
    evaluation = evaluator.wait(ev.id)

    ticket = json.loads(bundled_path("support_tickets_heldout.jsonl").read_text().splitlines()[0])
    answer_before = inference.generate(adapter="support-bot", messages=ticket["messages"], max_tokens=48,
                                       temperature=0.0)
    base_answer = inference.generate(adapter="", messages=ticket["messages"], max_tokens=48, temperature=0.0)

    # Promote a second version (the same weights, imported), then roll production back.
    v1 = fleet.registry.get_adapter(f"support-bot@{job.adapter_version}").adapter
    imported = fleet.registry.import_adapter("support-bot", v1.artifact_path, description="re-import").adapter
    fleet.registry.set_alias("support-bot", imported.version, "production", reason="e2e promote")
    answer_after_promote = _generate_until(inference, f"support-bot@{imported.version}")
    rolled = fleet.registry.rollback("support-bot", "production")
    answer_after_rollback = _generate_until(inference, f"support-bot@{job.adapter_version}")
    production_after = fleet.registry.get_adapter("support-bot@production").adapter.version
    fleet.close()
    return LoopResult(job, evaluation, answer_before, base_answer, imported.version, answer_after_promote,
                      rolled.previous_version, answer_after_rollback, production_after, events)

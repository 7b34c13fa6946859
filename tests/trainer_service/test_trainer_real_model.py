"""Bars on the real SmolLM2-135M (slow): QLoRA r=16 all-linear on the bundled support-ticket task."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from lorafleet.datasets import bundled_path
from trainer_service.data.validation import validate_dataset
from trainer_service.training.checkpoints import DirCheckpointSink
from trainer_service.training.config import TrainingConfig
from trainer_service.training.heldout import category_rate
from trainer_service.training.loop import TrainingLoop
from trainer_service.training.model import build_peft_model, load_tokenizer


@pytest.mark.slow
def test_bundled_task_qlora_bars(real_base_model_dir: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    tok = load_tokenizer(real_base_model_dir)
    report = validate_dataset(bundled_path("support_tickets_train.jsonl").read_bytes(), tok, max_seq_length=1024,
                              validation_data=bundled_path("support_tickets_validation.jsonl").read_bytes())
    assert report.valid
    cfg = TrainingConfig(adapter_name="support-bot", adapter_method="qlora", r=16, alpha=32,
                         target_modules=("all-linear",), epochs=1, batch_size=8, learning_rate=1e-3,
                         warmup_ratio=0.1, training_dataset_id="ds-bundled")
    model = build_peft_model(real_base_model_dir, cfg, torch.device("cpu"))
    result = TrainingLoop(cfg, model, tok, device=torch.device("cpu"), sink=DirCheckpointSink(tmp_path)).run(
        report.train, report.validation)
    train_wall = time.monotonic() - started
    m = result.metrics
    assert m["validation_loss"] <= 0.7 * m["initial_validation_loss"]
    cases = [json.loads(line) for line in bundled_path("support_tickets_heldout.jsonl").read_text().splitlines()][:40]
    model.eval()
    tuned, _ = category_rate(model, tok, cases)
    with model.disable_adapter():
        base, _ = category_rate(model, tok, cases)
    print(json.dumps({"train_wall_s": train_wall, **m, "base_rate": base, "adapter_rate": tuned}))
    assert tuned - base >= 0.30
    # timing is reported, not asserted: the wall clock depends on what else shares the CPU

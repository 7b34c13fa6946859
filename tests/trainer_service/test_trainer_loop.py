"""The training loop on a tiny random Llama: loss goes down, cancel is prompt, early stopping."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch
from trainer_testkit import jsonl

from trainer_service.data.validation import validate_dataset
from trainer_service.training.checkpoints import DirCheckpointSink
from trainer_service.training.config import TrainingConfig
from trainer_service.training.loop import TokenLoss, TrainingCancelled, TrainingLoop
from trainer_service.training.model import build_peft_model


def _config(**kw) -> TrainingConfig:
    base = dict(adapter_name="toy", adapter_method="lora", r=8, alpha=16, dropout=0.0, epochs=3, batch_size=8,
                learning_rate=1e-2, warmup_ratio=0.0, lr_scheduler="constant", training_dataset_id="ds-x",
                max_seq_length=128)
    base.update(kw)
    return TrainingConfig(**base)


def _data(tokenizer, records):
    report = validate_dataset(jsonl(records[:40]), tokenizer, max_seq_length=128, validation_data=jsonl(records[40:]))
    assert report.valid, report.issues
    return report.train, report.validation


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_training_reduces_validation_loss_and_saves_best_adapter(tiny_model_dir, tokenizer, toy_records, tmp_path,
                                                                 method) -> None:
    train, val = _data(tokenizer, toy_records)
    cfg = _config(adapter_method=method)
    model = build_peft_model(Path(tiny_model_dir), cfg, torch.device("cpu"))
    events: list[tuple[str, dict]] = []
    loop = TrainingLoop(cfg, model, tokenizer, device=torch.device("cpu"), sink=DirCheckpointSink(tmp_path),
                        emit=lambda k, p: events.append((k, p)))
    result = loop.run(train, val)
    assert result.steps == 15  # ceil(40 / 8) * 3
    m = result.metrics
    assert m["validation_loss"] < 0.7 * m["initial_validation_loss"]
    assert m["validation_token_accuracy"] > m["initial_validation_token_accuracy"]
    progress = [p for k, p in events if k == "progress"]
    assert [p["step"] for p in progress] == list(range(1, 16))
    assert all(p["tokens_per_second"] > 0 and p["eta_seconds"] >= 0 for p in progress)
    assert progress[-1]["eta_seconds"] == 0
    evals = [p for k, p in events if k == "evaluation"]
    assert [e["step"] for e in evals] == [0, 5, 10, 15]  # step 0, then once per epoch
    assert result.adapter_dir is not None and result.adapter_dir.parent == tmp_path
    assert sorted(p.name for p in result.adapter_dir.iterdir()) == [
        "README.md", "adapter_config.json", "adapter_model.safetensors", "trainer_state.json"]
    assert [p.name for p in tmp_path.iterdir()] == [result.adapter_dir.name]  # only the best is kept


def test_token_loss_matches_transformers_loss(tiny_model_dir, tokenizer, toy_records) -> None:
    """Our labelled-positions-only loss equals the model's own mean token loss."""
    from trainer_service.data.packing import padded_batch

    train, _ = _data(tokenizer, toy_records)
    model = build_peft_model(Path(tiny_model_dir), _config(), torch.device("cpu")).eval()
    b = padded_batch(train[:4], 128, tokenizer.pad_token_id)
    with torch.no_grad():
        s, _, n = TokenLoss(model)(b.input_ids, b.labels, b.position_ids, b.attention_mask)
        ref = model(input_ids=b.input_ids, attention_mask=b.attention_mask, labels=b.labels).loss
    torch.testing.assert_close(s / n, ref, atol=1e-5, rtol=1e-5)


def test_cancel_stops_mid_step_and_writes_nothing(tiny_model_dir, tokenizer, toy_records, tmp_path) -> None:
    """Cancel arrives halfway through step 4's forward pass (deterministically, from a layer hook):
    step 4 never completes, its optimizer update is never applied and no checkpoint is written."""
    train, val = _data(tokenizer, toy_records)
    cfg = _config(epochs=200)
    model = build_peft_model(Path(tiny_model_dir), cfg, torch.device("cpu"))
    cancel = threading.Event()
    steps: list[int] = []
    after_step_3: dict[str, torch.Tensor] = {}

    def emit(kind, payload):
        if kind == "progress":
            steps.append(payload["step"])
            if payload["step"] == 3:
                after_step_3.update({n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad})

    def cancel_mid_forward(_module, _inputs, _output) -> None:
        if after_step_3:  # step 4 is under way: request the cancel between two decoder layers
            cancel.set()

    layers = model.get_base_model().model.layers
    hook = layers[len(layers) // 2].register_forward_hook(cancel_mid_forward)
    loop = TrainingLoop(cfg, model, tokenizer, device=torch.device("cpu"), sink=DirCheckpointSink(tmp_path / "ck"),
                        emit=emit, cancel=cancel)
    started = time.monotonic()
    try:
        with pytest.raises(TrainingCancelled):
            loop.run(train, [])  # no validation: the only checkpoint would be written at the very end
    finally:
        hook.remove()
    assert time.monotonic() - started < 30
    assert steps == [1, 2, 3]
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable.keys() == after_step_3.keys()
    assert all(torch.equal(p, after_step_3[n]) for n, p in trainable.items()), "step 4 updated the weights"
    assert not (tmp_path / "ck").exists() or not any((tmp_path / "ck").iterdir())


def test_early_stopping_keeps_the_best_checkpoint(tiny_model_dir, tokenizer, toy_records, tmp_path) -> None:
    train, val = _data(tokenizer, toy_records)
    # a learning rate this high makes validation loss blow up after the first evaluations
    cfg = _config(epochs=50, learning_rate=0.5, eval_every_steps=1, early_stopping_patience=2)
    model = build_peft_model(Path(tiny_model_dir), cfg, torch.device("cpu"))
    events: list[tuple[str, dict]] = []
    result = TrainingLoop(cfg, model, tokenizer, device=torch.device("cpu"), sink=DirCheckpointSink(tmp_path),
                          emit=lambda k, p: events.append((k, p))).run(train, val)
    assert result.stopped_early and result.steps < 250
    evals = [p for k, p in events if k == "evaluation" and p["step"] > 0]
    best = min(evals, key=lambda e: e["validation_loss"])
    assert result.metrics["best_step"] == best["step"]
    assert result.adapter_dir.name == f"step-{best['step']:06d}"
    assert all(e["validation_loss"] >= best["validation_loss"] for e in evals[-2:])

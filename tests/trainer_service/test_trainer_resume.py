"""Resume checkpoints: an interrupted run resumed from its last checkpoint ends where an uninterrupted one does
(SFT and DPO, with LoRA dropout on); unusable checkpoints are refused naming the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from trainer_testkit import jsonl

from trainer_service.data.validation import validate_dataset
from trainer_service.training import resume
from trainer_service.training.checkpoints import DirCheckpointSink
from trainer_service.training.config import TrainingConfig
from trainer_service.training.loop import TrainingLoop
from trainer_service.training.model import build_peft_model

CPU = torch.device("cpu")
WEIGHT_ATOL = 1e-5  # measured: 0.0 on CPU fp32 (the resumed run repeats the same float operations)
LOSS_RTOL = 1e-5


class Interrupted(Exception):
    """Stands in for the trainer process dying after a step."""


def _config(method: str, **kw) -> TrainingConfig:
    base = dict(adapter_name="toy", method=method, adapter_method="lora", r=4, alpha=8, dropout=0.1, epochs=2,
                batch_size=4, learning_rate=1e-2, warmup_ratio=0.2, lr_scheduler="cosine",
                training_dataset_id="ds-x", max_seq_length=128, eval_every_steps=3, seed=7)
    base.update(kw)
    return TrainingConfig(**base)


def _data(tokenizer, records, n_train: int):
    report = validate_dataset(jsonl(records[:n_train]), tokenizer, max_seq_length=128,
                              validation_data=jsonl(records[n_train:n_train + 8]))
    assert report.valid, report.issues
    return report.train, report.validation


def _run(cfg, tokenizer, model_dir, data, out: Path, *, stop_at: int = 0, resume_from: Path | None = None):
    model = build_peft_model(Path(model_dir), cfg, CPU)
    events: list[tuple[str, dict]] = []

    def emit(kind: str, payload: dict) -> None:
        events.append((kind, payload))
        if kind == "progress" and payload["step"] == stop_at:
            raise Interrupted

    writer = resume.ResumeWriter(out / "resume", resume.ResumeSettings(every_steps=1, every_seconds=0, keep=2))
    loop = TrainingLoop(cfg, model, tokenizer, device=CPU, sink=DirCheckpointSink(out / "best"), emit=emit,
                        resume_writer=writer)
    result = loop.run(*data, resume_from=resume_from)
    return model, result, events


def _lora(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("method", ["sft", "dpo"])
def test_a_resumed_run_ends_where_an_uninterrupted_one_does(method, tiny_model_dir, tokenizer, toy_records,
                                                            preference_records, tmp_path) -> None:
    cfg = _config(method)
    data = _data(tokenizer, preference_records if method == "dpo" else toy_records, 24)
    full_model, full, _ = _run(cfg, tokenizer, tiny_model_dir, data, tmp_path / "full")

    with pytest.raises(Interrupted):
        _run(cfg, tokenizer, tiny_model_dir, data, tmp_path / "cut", stop_at=6)
    last = resume.latest(tmp_path / "cut" / "resume")
    assert last is not None and last.name == "step-000005"  # step 6 never finished
    assert [p.name for p in resume.checkpoint_dirs(tmp_path / "cut" / "resume")] == ["step-000004", "step-000005"]
    model, result, events = _run(cfg, tokenizer, tiny_model_dir, data, tmp_path / "cut", resume_from=last)

    assert any(k == "resumed" and p["step"] == 5 for k, p in events)
    assert [p["step"] for k, p in events if k == "progress"] == list(range(6, full.steps + 1))
    assert not any(k == "evaluation" and p["step"] == 0 for k, p in events)  # the initial evaluation is not redone
    assert result.steps == full.steps
    a, b = _lora(full_model), _lora(model)
    max_diff = max(float((a[n] - b[n]).abs().max()) for n in a)
    assert max_diff <= WEIGHT_ATOL, max_diff
    for key in ("validation_loss", "initial_validation_loss", "best_step"):
        assert result.metrics[key] == pytest.approx(full.metrics[key], rel=LOSS_RTOL)
    assert result.adapter_dir is not None and result.adapter_dir.name == full.adapter_dir.name
    assert result.adapter_dir.exists()
    print(f"{method}: max |ΔLoRA| = {max_diff:.3g}, validation loss {result.metrics['validation_loss']:.6f} vs "
          f"{full.metrics['validation_loss']:.6f}")


def _checkpoint(tmp_path: Path, tiny_model_dir, tokenizer, toy_records) -> tuple[Path, TrainingConfig, tuple]:
    cfg = _config("sft", epochs=1)
    data = _data(tokenizer, toy_records, 8)
    with pytest.raises(Interrupted):
        _run(cfg, tokenizer, tiny_model_dir, data, tmp_path, stop_at=2)
    last = resume.latest(tmp_path / "resume")
    assert last is not None
    return last, cfg, data


@pytest.mark.parametrize(("damage", "problem"), [
    (lambda p: (p / "manifest.json").unlink(), "manifest.json is missing"),
    (lambda p: (p / "manifest.json").write_text("{not json"), "manifest.json is corrupt"),
    (lambda p: (p / "optimizer.safetensors").unlink(), "optimizer.safetensors is missing"),
    (lambda p: (p / "lora.safetensors").write_bytes((p / "lora.safetensors").read_bytes()[:-8]),
     "lora.safetensors has"),
    (lambda p: (p / "state.json").write_text((p / "state.json").read_text().replace('"step": 1', '"step": 2')),
     "state.json fails its SHA-256 check"),
])
def test_a_damaged_checkpoint_is_refused_naming_the_problem(damage, problem, tmp_path, tiny_model_dir, tokenizer,
                                                            toy_records) -> None:
    last, _, _ = _checkpoint(tmp_path, tiny_model_dir, tokenizer, toy_records)
    damage(last)
    with pytest.raises(resume.CheckpointError) as err:
        resume.load(last)
    assert problem in str(err.value) and str(last) in str(err.value)


def test_a_checkpoint_of_another_lora_shape_is_refused(tmp_path, tiny_model_dir, tokenizer, toy_records) -> None:
    last, cfg, data = _checkpoint(tmp_path, tiny_model_dir, tokenizer, toy_records)
    with pytest.raises(resume.CheckpointError, match="shape mismatch for .*lora_A"):
        _run(cfg.model_copy(update={"r": 8}), tokenizer, tiny_model_dir, data, tmp_path / "other", resume_from=last)
    with pytest.raises(resume.CheckpointError, match="n_train is 8 in the checkpoint but 4"):
        _run(cfg, tokenizer, tiny_model_dir, (data[0][:4], data[1]), tmp_path / "other", resume_from=last)


def test_a_half_written_checkpoint_is_ignored_and_removed(tmp_path, tiny_model_dir, tokenizer, toy_records) -> None:
    last, _, _ = _checkpoint(tmp_path, tiny_model_dir, tokenizer, toy_records)
    half = last.parent / f"{resume.TEMP_PREFIX}step-000009-abc"
    half.mkdir()
    (half / "lora.safetensors").write_bytes(b"partial")
    assert resume.latest(last.parent) == last
    assert not half.exists()
    manifest = json.loads((last / "manifest.json").read_text())
    assert manifest["format_version"] == resume.FORMAT_VERSION and set(manifest["files"]) == set(resume.FILES)

"""DDP under torchrun with 2 gloo CPU processes equals 1 process with 2 accumulation steps (LoRA and QLoRA; SFT
data with anchor records, and DPO)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from trainer_testkit import jsonl

from trainer_service.data.validation import validate_dataset
from trainer_service.training.checkpoints import DirCheckpointSink
from trainer_service.training.config import TrainingConfig
from trainer_service.training.ddp import torchrun_command, write_job_file
from trainer_service.training.loop import TrainingLoop
from trainer_service.training.model import build_peft_model, resolve_compute_dtype


def _torchrun_two_ranks(config: TrainingConfig, base_model_dir: Path, train_path: Path, tmp_path: Path) -> None:
    """Train ``config`` under torchrun with 2 gloo ranks (one thread each) into ``tmp_path / "ddp"``."""
    job = write_job_file(tmp_path / "job.json", config, base_model_dir=base_model_dir, train_path=train_path,
                         output_dir=tmp_path / "ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(torchrun_command(job, nproc_per_node=2), env=env, capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-4000:]


# With anchors (every fourth record), the KL to the base runs inside the DDP-wrapped forward too. QLoRA with
# anchors is compared in float32 compute: at B = 0 the KL between two bf16 forwards is rounding noise that
# differs with the thread count (torchrun's ranks run one thread), and Adam turns a noise gradient into a
# full-size step, so bf16 runs part by more than 2e-5; without anchors bf16 is compared as before.
@pytest.mark.parametrize(("method", "anchors", "compute_dtype"),
                         [("lora", True, "auto"), ("qlora", False, "auto"), ("qlora", True, "float32")])
def test_two_gloo_ranks_match_single_process_accumulation(method, anchors, compute_dtype, tiny_model_dir, tokenizer,
                                                          toy_records, tmp_path) -> None:
    train_path = tmp_path / "train.jsonl"
    train_path.write_bytes(jsonl([dict(r, anchor=True) if anchors and i % 4 == 0 else r
                                  for i, r in enumerate(toy_records[:32])]))
    common = dict(adapter_name="ddp-bot", adapter_method=method, r=4, alpha=8, dropout=0.0, epochs=1,
                  learning_rate=5e-3, lr_scheduler="constant", warmup_ratio=0.0, training_dataset_path=str(train_path),
                  max_seq_length=128, seed=7, compute_dtype=compute_dtype)
    ddp_cfg = TrainingConfig(batch_size=4, gradient_accumulation_steps=1, **common)
    _torchrun_two_ranks(ddp_cfg, tiny_model_dir, train_path, tmp_path)
    ranks = [json.loads((tmp_path / "ddp" / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and ranks[0]["steps"] == ranks[1]["steps"] == 4  # 32 / (4 * 2)
    assert ranks[0]["lora_checksum"] == ranks[1]["lora_checksum"]  # DDP kept the replicas identical
    result = json.loads((tmp_path / "ddp" / "result.json").read_text())
    ddp_weights = load_file(str(Path(result["adapter_dir"]) / "adapter_model.safetensors"))

    single_cfg = TrainingConfig(batch_size=4, gradient_accumulation_steps=2, **common)
    report = validate_dataset(train_path.read_bytes(), tokenizer, max_seq_length=128)
    model = build_peft_model(Path(tiny_model_dir), single_cfg, torch.device("cpu"))
    single = TrainingLoop(single_cfg, model, tokenizer, device=torch.device("cpu"),
                          sink=DirCheckpointSink(tmp_path / "single")).run(report.train, [])
    single_weights = load_file(str(single.adapter_dir / "adapter_model.safetensors"))
    assert single.steps == 4 and ddp_weights.keys() == single_weights.keys()
    # fp32 compute: only the all-reduce's summation order differs. bf16 compute ("auto" for QLoRA on a CPU with
    # native bf16): the GEMMs also round to bf16 (eps 2^-8) in a blocking that depends on the thread count (one
    # thread a rank here, two in this process; on an AMX CPU one element of 512 differed by 5.3e-5), and Adam
    # amplifies that where a gradient is near zero. 1e-4 is still 0.5% of what 4 steps at lr 5e-3 move a weight;
    # the mean loss (~10.7) differed by 1.2e-4 there.
    bf16 = resolve_compute_dtype(single_cfg, torch.device("cpu")) == torch.bfloat16
    tolerance = dict(atol=1e-4, rtol=1e-3) if bf16 else dict(atol=2e-5, rtol=1e-4)
    moved = 0
    for name, w in single_weights.items():
        torch.testing.assert_close(ddp_weights[name], w, **tolerance)
        moved += int("lora_B" in name and w.abs().sum() > 0)
    assert moved > 0  # training changed B (initialised to zero), so the comparison is not vacuous
    assert abs(result["metrics"]["train_loss"] - single.metrics["train_loss"]) < (1e-3 if bf16 else 1e-4)


def test_dpo_on_two_gloo_ranks_matches_single_process_accumulation(tiny_model_dir, tokenizer, preference_records,
                                                                   tmp_path) -> None:
    """DPO under DDP: the reference log-probs are split over the ranks and all-reduced, the loss is the mean
    over the step's pairs on both ranks; the result equals one process with 2 accumulation steps."""
    train_path = tmp_path / "pairs.jsonl"
    train_path.write_bytes(jsonl(preference_records[:16]))
    common = dict(adapter_name="ddp-dpo", method="dpo", adapter_method="lora", r=4, alpha=8, dropout=0.0, epochs=1,
                  learning_rate=5e-3, lr_scheduler="constant", warmup_ratio=0.0,
                  training_dataset_path=str(train_path), max_seq_length=128, seed=7, beta=0.5)
    ddp_cfg = TrainingConfig(batch_size=2, gradient_accumulation_steps=1, **common)
    _torchrun_two_ranks(ddp_cfg, tiny_model_dir, train_path, tmp_path)
    result = json.loads((tmp_path / "ddp" / "result.json").read_text())
    ddp_weights = load_file(str(Path(result["adapter_dir"]) / "adapter_model.safetensors"))

    single_cfg = TrainingConfig(batch_size=2, gradient_accumulation_steps=2, **common)
    report = validate_dataset(train_path.read_bytes(), tokenizer, max_seq_length=128)
    model = build_peft_model(Path(tiny_model_dir), single_cfg, torch.device("cpu"))
    single = TrainingLoop(single_cfg, model, tokenizer, device=torch.device("cpu"),
                          sink=DirCheckpointSink(tmp_path / "single")).run(report.train, [])
    assert single.steps == result["steps"] == 4  # 16 pairs / (2 * 2)
    for name, w in load_file(str(single.adapter_dir / "adapter_model.safetensors")).items():
        torch.testing.assert_close(ddp_weights[name], w, atol=2e-5, rtol=1e-4)
    assert abs(result["metrics"]["train_loss"] - single.metrics["train_loss"]) < 1e-4


def test_ddp_result_names_the_update_extrapolated_beside_the_trained_checkpoint(tiny_model_dir, toy_records,
                                                                                tmp_path) -> None:
    """Rank 0 scales the best checkpoint by part (``training/extrapolation.py``) and ``result.json`` names that copy,
    the one the trainer registers; the checkpoint stays as trained."""
    train_path = tmp_path / "train.jsonl"
    train_path.write_bytes(jsonl(toy_records[:16]))
    config = TrainingConfig(adapter_name="ddp-bot", adapter_method="lora", r=4, alpha=8, epochs=1, batch_size=4,
                            learning_rate=5e-3, training_dataset_path=str(train_path), max_seq_length=128, seed=7,
                            compute_dtype="float32", extrapolate_mlp=2.0, extrapolate_attention=0.5)
    _torchrun_two_ranks(config, tiny_model_dir, train_path, tmp_path)
    registered = Path(json.loads((tmp_path / "ddp" / "result.json").read_text())["adapter_dir"])
    (trained,) = (tmp_path / "ddp" / "checkpoints").glob("step-*")
    assert registered == trained.parent / "extrapolated"
    before = load_file(str(trained / "adapter_model.safetensors"))
    after = load_file(str(registered / "adapter_model.safetensors"))
    assert before.keys() == after.keys()
    for name, w in before.items():
        factor = 1.0 if "lora_A" in name else (2.0 if ".mlp." in name else 0.5)
        torch.testing.assert_close(after[name], w * factor, rtol=1e-6, atol=0)
    assert any("lora_B" in n and w.abs().sum() > 0 for n, w in before.items())

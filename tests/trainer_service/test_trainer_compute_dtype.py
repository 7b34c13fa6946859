"""The compute dtype: how ``auto`` resolves, what it changes in the model, and how it travels."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from trainer_testkit import jsonl

from lorafleet.errors import InvalidArgument
from trainer_service.convert import config_from_proto, config_to_proto
from trainer_service.training import model as model_module
from trainer_service.training.config import TrainingConfig
from trainer_service.training.loop import TrainingLoop
from trainer_service.training.model import build_peft_model, resolve_compute_dtype

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def _cfg(**kw) -> TrainingConfig:
    return TrainingConfig(**{"adapter_name": "bot", "training_dataset_id": "ds-x", **kw})


@pytest.mark.parametrize("method, device, native_bf16, want", [
    ("qlora", CPU, True, torch.bfloat16),
    ("qlora", CPU, False, torch.float32),
    ("lora", CPU, True, torch.float32),  # LoRA's base stays full precision on a CPU unless asked
    ("qlora", CUDA, False, torch.bfloat16),
    ("lora", CUDA, False, torch.bfloat16),
])
def test_auto_follows_the_hardware(monkeypatch, method, device, native_bf16, want) -> None:
    monkeypatch.setattr(model_module, "cpu_has_native_bf16", lambda: native_bf16)
    assert resolve_compute_dtype(_cfg(adapter_method=method), device) == want


@pytest.mark.parametrize("value, want", [("float32", torch.float32), ("bfloat16", torch.bfloat16)])
def test_explicit_value_wins(monkeypatch, value, want) -> None:
    monkeypatch.setattr(model_module, "cpu_has_native_bf16", lambda: value == "float32")
    for method in ("lora", "qlora"):
        for device in (CPU, CUDA):
            assert resolve_compute_dtype(_cfg(adapter_method=method, compute_dtype=value), device) == want


def test_travels_through_the_proto_and_rejects_unknown_values() -> None:
    for value in ("auto", "float32", "bfloat16"):
        cfg = _cfg(compute_dtype=value)
        assert config_from_proto(config_to_proto(cfg)).compute_dtype == value
    request = config_to_proto(_cfg())
    request.hyperparameters.compute_dtype = 7
    with pytest.raises(InvalidArgument) as err:
        config_from_proto(request)
    assert err.value.field == "hyperparameters.compute_dtype"


def test_qlora_bf16_model_keeps_trainables_and_norms_float32(tiny_model_dir) -> None:
    import bitsandbytes as bnb

    model = build_peft_model(Path(tiny_model_dir), _cfg(adapter_method="qlora", compute_dtype="bfloat16"), CPU)
    quantized = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(quantized) == 14 and {m.compute_dtype for m in quantized} == {torch.bfloat16}
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}
    assert model.get_base_model().model.norm.weight.dtype == torch.float32
    assert model.get_base_model().get_output_embeddings().weight.dtype == torch.float32


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_bf16_compute_trains(tiny_model_dir, tokenizer, toy_records, method) -> None:
    """bf16 base matmuls (QLoRA: dequantized nf4; LoRA: bf16 weights) under fp32 adapters still learn."""
    from trainer_service.data.validation import validate_dataset

    cfg = _cfg(adapter_method=method, compute_dtype="bfloat16", r=8, alpha=16, dropout=0.05, epochs=3,
               learning_rate=1e-2, warmup_ratio=0.0, lr_scheduler="constant", max_seq_length=128)
    report = validate_dataset(jsonl(toy_records[:40]), tokenizer, max_seq_length=128,
                              validation_data=jsonl(toy_records[40:]))
    model = build_peft_model(Path(tiny_model_dir), cfg, CPU)
    if method == "lora":
        assert model.get_base_model().model.layers[0].mlp.up_proj.base_layer.weight.dtype == torch.bfloat16
    result = TrainingLoop(cfg, model, tokenizer, device=CPU, sink=None).run(report.train, report.validation)
    assert result.metrics["validation_loss"] < 0.7 * result.metrics["initial_validation_loss"]


def test_cpu_probe_failure_means_float32(monkeypatch) -> None:
    def broken() -> bool:
        raise RuntimeError("no such op in this build")

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", broken)
    assert model_module.cpu_has_native_bf16() is False
    assert resolve_compute_dtype(_cfg(adapter_method="qlora"), CPU) == torch.float32

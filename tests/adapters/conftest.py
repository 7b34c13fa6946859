"""Fixtures: a tiny random Llama base and adapters made by real ``peft`` for it and for others."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorafleet.adapters.synthetic import write_tiny_llama
from lorafleet.base_model import BaseModelSpec, read_base_model_spec


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def base_spec(tiny_base: Path) -> BaseModelSpec:
    return read_base_model_spec(tiny_base, name="tiny-llama")


@pytest.fixture(scope="session")
def peft_qv_adapter(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Made by peft itself: get_peft_model + save_pretrained (safetensors)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("peft") / "qv"
    model = AutoModelForCausalLM.from_pretrained(str(tiny_base))
    config = LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, lora_dropout=0.05,
                        target_modules=["q_proj", "v_proj"])
    get_peft_model(model, config).save_pretrained(str(out))
    return out

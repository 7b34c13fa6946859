"""Fixtures: a tiny random Llama (saved like a real HF dir) and PEFT adapters made for it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from helpers_inference import make_peft_adapter, tiny_settings

TINY_TARGETS = {
    # name: (r, alpha, targets, rslora)
    "attn-r4": (4, 8.0, ["q_proj", "v_proj"], False),
    "mlp-r8": (8, 16.0, ["gate_proj", "up_proj", "down_proj"], False),
    "all-r16": (16, 16.0, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], True),
    "o-r2": (2, 4.0, ["o_proj", "k_proj"], False),
}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, real_base_model_dir) -> Path:
    """2-layer Llama with random weights and the real SmolLM2 tokenizer (chat template included)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():  # larger weights than the default init: logits far from ties, so argmax is robust
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.08)
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        src = real_base_model_dir / name
        if src.exists():
            shutil.copy(src, out / name)
    return out


@pytest.fixture(scope="session")
def tiny_adapters(tmp_path_factory, tiny_model_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-adapters")
    return {name: make_peft_adapter(tiny_model_dir, root / name, r=r, alpha=a, targets=t, rslora=rs, seed=i + 1)
            for i, (name, (r, a, t, rs)) in enumerate(TINY_TARGETS.items())}


@pytest.fixture(scope="session")
def tiny_spec(tiny_model_dir):
    from lorafleet.base_model import read_base_model_spec

    return read_base_model_spec(tiny_model_dir, name="tiny")


@pytest.fixture()
def tiny_runtime_factory(tiny_model_dir, tiny_spec):
    """Builds runtimes (fp32, no quantization) and stops their engines after the test."""
    from inference_service.runtime import build_runtime

    made = []

    def factory(**kw):
        budget = kw.pop("prefill_token_budget", 512)
        rt = build_runtime(tiny_model_dir, tiny_spec, tiny_settings(**kw), prefill_token_budget=budget)
        made.append(rt)
        return rt

    yield factory
    for rt in made:
        rt.engine.stop()

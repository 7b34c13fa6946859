"""Trainer test fixtures: a tiny random Llama with the real SmolLM2 tokenizer, a real registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from trainer_testkit import MAX_UPLOAD, chat, preference

from lorafleet.client import connect
from lorafleet.client.trainer import TrainerClient
from lorafleet.config import Settings
from lorafleet.server.background import BackgroundServer

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")


@pytest.fixture(scope="session")
def smol_tokenizer_dir(real_base_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("smol-tokenizer")
    for name in TOKENIZER_FILES:
        if (real_base_model_dir / name).exists():
            shutil.copy(real_base_model_dir / name, out / name)
    return out


@pytest.fixture(scope="session")
def tokenizer(smol_tokenizer_dir: Path):
    from trainer_service.training.model import load_tokenizer

    return load_tokenizer(smol_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_model_dir(smol_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2-layer Llama (hidden 64) over the real 49152-token vocabulary; random weights, seeded."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-llama-smoltok")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2,
                         initializer_range=0.2)  # large enough that logits can get confident
    model = LlamaForCausalLM(config)
    model.save_pretrained(str(out), safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (smol_tokenizer_dir / name).exists():
            shutil.copy(smol_tokenizer_dir / name, out / name)
    return out


@pytest.fixture()
def registry(tmp_path: Path):
    from lorafleet.registry.store import Registry

    reg = Registry(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "artifacts")
    yield reg
    reg.close()


@pytest.fixture()
def toy_records() -> list[dict]:
    """A learnable toy task: colour word → its fixed code."""
    colours = ["red", "green", "blue", "cyan", "pink", "gold", "gray", "teal"]
    return [chat(f"Code for {c} number {i}?", f"CODE-{c.upper()}") for i in range(6) for c in colours]


@pytest.fixture()
def preference_records() -> list[dict]:
    """A toy preference task: the colour's own code is chosen over another colour's code (48 pairs)."""
    colours = ["red", "green", "blue", "cyan", "pink", "gold", "gray", "teal"]
    return [preference(f"Code for {c} number {i}?", f"CODE-{c.upper()}", f"CODE-{colours[(k + 1) % 8].upper()}")
            for i in range(6) for k, c in enumerate(colours)]


@pytest.fixture()
def server(tmp_path: Path, tiny_model_dir: Path):
    data_root = tmp_path / "data"
    data_root.mkdir()
    settings = Settings(home=tmp_path / "home", base_model=str(tiny_model_dir), data_roots=str(data_root),
                        max_upload_bytes=MAX_UPLOAD, device="cpu", log_format="text")
    with BackgroundServer("trainer", settings, port=0, metrics_port=0) as srv:
        srv.data_root = data_root
        yield srv


@pytest.fixture()
def client(server) -> TrainerClient:
    channel = connect(server.address)
    yield TrainerClient(channel, timeout=120)
    channel.close()

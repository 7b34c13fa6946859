"""Provisioning of the embedded base model and the identity of a base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from lorafleet.base_model import EMBEDDED_NAME, read_base_model_spec, resolve_base_model_dir
from lorafleet.base_model.provision import embedded_gguf_path
from lorafleet.errors import InvalidArgument


def _tiny_llama(path: Path, seed: int, hidden: int = 32) -> Path:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=64, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    LlamaForCausalLM(cfg).save_pretrained(path)
    return path


def test_embedded_model_converts_to_a_complete_safetensors_dir(real_base_model_dir: Path) -> None:
    assert (real_base_model_dir / "model.safetensors").is_file()
    assert (real_base_model_dir / ".lorafleet-complete").is_file()
    cfg = json.loads((real_base_model_dir / "config.json").read_text())
    assert cfg["model_type"] == "llama" and cfg["num_hidden_layers"] == 30
    assert "quantization_config" not in cfg
    assert embedded_gguf_path().name.endswith(".gguf")


def test_converted_model_answers_like_an_instruct_model(real_base_model_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(real_base_model_dir)
    model = AutoModelForCausalLM.from_pretrained(real_base_model_dir)
    inputs = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                     add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0][inputs["input_ids"].shape[1]:])


def test_second_resolve_reuses_the_cache(real_base_model_dir: Path) -> None:
    before = (real_base_model_dir / "model.safetensors").stat().st_mtime_ns
    again = resolve_base_model_dir(EMBEDDED_NAME, real_base_model_dir.parent)
    assert again == real_base_model_dir
    assert (again / "model.safetensors").stat().st_mtime_ns == before


def test_spec_of_the_embedded_model(real_base_model_dir: Path) -> None:
    spec = read_base_model_spec(real_base_model_dir, name=EMBEDDED_NAME)
    assert spec.fingerprint.startswith("sha256:") and len(spec.fingerprint) == 71
    assert spec.linear_shapes["q_proj"].in_features == 576
    assert spec.linear_shapes["k_proj"].out_features == 192
    assert spec.linear_shapes["down_proj"].in_features == 1536
    assert len(spec.linear_modules) == 30 * 7
    assert not any("lm_head" in m or "embed" in m for m in spec.linear_modules)


def test_fingerprint_is_stable_and_tells_weights_apart(tmp_path: Path) -> None:
    a = _tiny_llama(tmp_path / "a", seed=0)
    b = _tiny_llama(tmp_path / "b", seed=1)
    fa = read_base_model_spec(a).fingerprint
    (a / ".lorafleet-fingerprint").unlink()  # recompute from the bytes, not the cache
    assert read_base_model_spec(a).fingerprint == fa
    assert read_base_model_spec(b).fingerprint != fa
    c = _tiny_llama(tmp_path / "c", seed=0)
    assert read_base_model_spec(c).fingerprint == fa


def test_a_stale_fingerprint_cache_is_not_trusted(tmp_path: Path) -> None:
    a = _tiny_llama(tmp_path / "a", seed=0)
    fa = read_base_model_spec(a).fingerprint
    _tiny_llama(tmp_path / "a", seed=5)  # weights replaced in place
    assert read_base_model_spec(a).fingerprint != fa


def test_unknown_base_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as err:
        resolve_base_model_dir(str(tmp_path / "nowhere"), tmp_path)
    assert err.value.field == "base_model" and "config.json" in str(err.value)


def test_local_hf_directory_is_used_as_is(tmp_path: Path) -> None:
    d = _tiny_llama(tmp_path / "tiny", seed=0)
    assert resolve_base_model_dir(str(d), tmp_path / "cache") == d.resolve()
    assert not (tmp_path / "cache").exists()

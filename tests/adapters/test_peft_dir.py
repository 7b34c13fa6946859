"""inspect_adapter on adapters written by real peft 0.21 and on every kind of bad directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from lorafleet.adapters.peft_dir import inspect_adapter
from lorafleet.adapters.synthetic import write_lora_adapter, write_tiny_llama
from lorafleet.base_model import read_base_model_spec
from lorafleet.errors import FailedPrecondition, InvalidArgument

LAYERS = 2


def peft_adapter(base_dir: Path, out: Path, **lora_kwargs) -> Path:
    """Wrap the model in ``base_dir`` with peft's get_peft_model and save the adapter (safetensors)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base_dir))
    get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **lora_kwargs)).save_pretrained(str(out))
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_config(path: Path, **changes) -> Path:
    cfg_file = path / "adapter_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg.update(changes)
    cfg_file.write_text(json.dumps(cfg))
    return path


def test_peft_adapter_is_read_exactly(peft_qv_adapter, base_spec):
    got = inspect_adapter(peft_qv_adapter, base_spec)
    assert (got.lora.r, got.lora.alpha, got.lora.dropout, got.lora.use_rslora) == (4, 8.0, 0.05, False)
    assert got.lora.target_modules == ("q_proj", "v_proj")
    assert got.lora.scale == 2.0
    assert got.resolved_target_modules == tuple(sorted(
        f"model.layers.{i}.self_attn.{m}" for i in range(LAYERS) for m in ("q_proj", "v_proj")))
    q, v = base_spec.linear_shapes["q_proj"], base_spec.linear_shapes["v_proj"]
    per_layer = 4 * (q.in_features + q.out_features) + 4 * (v.in_features + v.out_features)
    assert got.num_parameters == LAYERS * per_layer
    assert "adapter_model.safetensors" in got.files and "adapter_config.json" in got.files
    assert got.size_bytes == sum((peft_qv_adapter / f).stat().st_size for f in got.files)


def test_peft_all_linear_rslora_adapter(tiny_base, base_spec, tmp_path):
    path = peft_adapter(tiny_base, tmp_path / "all", r=2, lora_alpha=4, target_modules="all-linear", use_rslora=True)
    got = inspect_adapter(path, base_spec)
    assert got.lora.use_rslora and got.lora.scale == pytest.approx(4 / 2**0.5)
    assert got.lora.target_modules == ("down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj")
    assert got.resolved_target_modules == tuple(sorted(base_spec.linear_modules))


def test_synthetic_adapter_matches_peft_layout(peft_qv_adapter, base_spec, tmp_path):
    ours = write_lora_adapter(tmp_path / "ours", base_spec, r=4, target_modules=("q_proj", "v_proj"))
    theirs = load_file(str(peft_qv_adapter / "adapter_model.safetensors"))
    mine = load_file(str(ours / "adapter_model.safetensors"))
    assert {k: tuple(t.shape) for k, t in mine.items()} == {k: tuple(t.shape) for k, t in theirs.items()}
    assert inspect_adapter(ours, base_spec).resolved_target_modules == \
        inspect_adapter(peft_qv_adapter, base_spec).resolved_target_modules


def test_pickle_bin_adapter_refused(tiny_base, base_spec, tmp_path):
    path = tmp_path / "bin"
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_base)),
                           LoraConfig(task_type="CAUSAL_LM", r=4, target_modules=["q_proj"]))
    model.save_pretrained(str(path), safe_serialization=False)
    assert (path / "adapter_model.bin").is_file()
    with pytest.raises(InvalidArgument, match="pickle.*only safetensors") as err:
        inspect_adapter(path, base_spec)
    assert err.value.field == "path"


def test_adapter_for_other_llama_sizes_is_a_base_mismatch(tmp_path, base_spec):
    other_base = write_tiny_llama(tmp_path / "bigger", hidden_size=48, intermediate_size=96)
    other = write_lora_adapter(tmp_path / "a", read_base_model_spec(other_base), target_modules=("q_proj",))
    with pytest.raises(FailedPrecondition, match=r"need \[r, 32\]") as err:
        inspect_adapter(other, base_spec)
    assert err.value.field == "path"


def test_adapter_for_deeper_llama_is_a_base_mismatch(tmp_path, base_spec):
    deeper = write_tiny_llama(tmp_path / "deeper", num_layers=4)
    adapter = write_lora_adapter(tmp_path / "a", read_base_model_spec(deeper))
    with pytest.raises(FailedPrecondition, match="no linear module 'model.layers.2"):
        inspect_adapter(adapter, base_spec)


def test_peft_gpt2_adapter_is_a_base_mismatch(tmp_path, base_spec):
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=128, n_positions=64))
    get_peft_model(gpt2, LoraConfig(task_type="CAUSAL_LM", r=4, target_modules=["c_attn"], fan_in_fan_out=True)
                   ).save_pretrained(str(tmp_path / "gpt2"))
    with pytest.raises(FailedPrecondition, match="another architecture"):
        inspect_adapter(tmp_path / "gpt2", base_spec)


def test_refusals_of_malformed_directories(peft_qv_adapter, base_spec, tmp_path):
    def refused(path: Path, pattern: str) -> None:
        with pytest.raises(InvalidArgument, match=pattern) as err:
            inspect_adapter(path, base_spec)
        assert err.value.field == "path"

    refused(tmp_path / "missing", "does not exist")
    (tmp_path / "empty").mkdir()
    refused(tmp_path / "empty", "no adapter_config.json")
    bad_json = _copy(peft_qv_adapter, tmp_path / "bad_json")
    (bad_json / "adapter_config.json").write_text("{not json")
    refused(bad_json, "not valid JSON")
    no_weights = _copy(peft_qv_adapter, tmp_path / "no_weights")
    (no_weights / "adapter_model.safetensors").unlink()
    refused(no_weights, "no adapter_model.safetensors")
    corrupt = _copy(peft_qv_adapter, tmp_path / "corrupt")
    (corrupt / "adapter_model.safetensors").write_bytes(b"\x00" * 10)
    refused(corrupt, "not a readable safetensors")
    no_lora = _copy(peft_qv_adapter, tmp_path / "no_lora")
    save_file({}, str(no_lora / "adapter_model.safetensors"))
    refused(no_lora, "no LoRA tensors")
    refused(_edit_config(_copy(peft_qv_adapter, tmp_path / "mts"), modules_to_save=["lm_head"]), "modules_to_save")
    refused(_edit_config(_copy(peft_qv_adapter, tmp_path / "rank"), r=8), "rank mismatch")
    refused(_edit_config(_copy(peft_qv_adapter, tmp_path / "dora"), use_dora=True), "DoRA")
    refused(_edit_config(_copy(peft_qv_adapter, tmp_path / "ia3"), peft_type="IA3"), "only LoRA")
    refused(_edit_config(_copy(peft_qv_adapter, tmp_path / "pattern"), rank_pattern={"q_proj": 8}), "per-module")
    refused(_edit_config(_copy(peft_qv_adapter, tmp_path / "targets"), target_modules=[]), "target_modules")
    refused(_edit_config(_copy(peft_qv_adapter, tmp_path / "noR"), r="four"), "integer 'r'")

    embed = _copy(peft_qv_adapter, tmp_path / "embed")
    tensors = load_file(str(embed / "adapter_model.safetensors"))
    tensors["base_model.model.model.embed_tokens.lora_embedding_A"] = torch.zeros(4, 128)
    save_file(tensors, str(embed / "adapter_model.safetensors"))
    refused(embed, "embedding")

    half = _copy(peft_qv_adapter, tmp_path / "half")
    tensors = load_file(str(half / "adapter_model.safetensors"))
    del tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]
    save_file(tensors, str(half / "adapter_model.safetensors"))
    refused(half, "no lora_B")


def test_only_regular_top_level_files_are_listed(peft_qv_adapter, base_spec, tmp_path):
    path = _copy(peft_qv_adapter, tmp_path / "extra")
    (path / "checkpoint-10").mkdir()
    (path / "checkpoint-10" / "optimizer.pt").write_bytes(b"x")
    (path / "notes.txt").symlink_to("/etc/hostname")
    (path / ".hidden").write_text("x")
    assert inspect_adapter(path, base_spec).files == ("README.md", "adapter_config.json", "adapter_model.safetensors")

"""Small synthetic models and adapters for tests and benchmarks (no hub, no training).

``write_tiny_llama`` saves a randomly initialised LlamaForCausalLM a few hundred KB in size;
``write_lora_adapter`` writes a LoRA adapter for any base spec in exactly the PEFT on-disk
format (``adapter_config.json`` + ``adapter_model.safetensors`` with keys
``base_model.model.<module>.lora_{A,B}.weight``), without building a PEFT model, so a test
can make dozens of adapters in milliseconds. ``lora_B`` is random (not PEFT's zero init) so the
adapter actually changes the output.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from lorafleet.adapters.lora import KEY_PREFIX
from lorafleet.adapters.peft_dir import CONFIG_FILE, WEIGHTS_FILE
from lorafleet.base_model.spec import BaseModelSpec


def write_tiny_llama(out_dir: Path, *, hidden_size: int = 32, intermediate_size: int = 64, num_layers: int = 2,
                     num_heads: int = 4, num_kv_heads: int = 2, vocab_size: int = 128, seed: int = 0) -> Path:
    """Save a random tiny Llama (safetensors + config.json) to ``out_dir``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(hidden_size=hidden_size, intermediate_size=intermediate_size, num_hidden_layers=num_layers,
                      num_attention_heads=num_heads, num_key_value_heads=num_kv_heads, vocab_size=vocab_size,
                      max_position_embeddings=128, tie_word_embeddings=True)
    LlamaForCausalLM(cfg).save_pretrained(out_dir)
    return Path(out_dir)


def write_lora_adapter(out_dir: Path, base_spec: BaseModelSpec, *, r: int = 4, alpha: float = 8.0,
                       target_modules: Sequence[str] = ("q_proj", "v_proj"), use_rslora: bool = False,
                       seed: int = 0, dtype: torch.dtype = torch.float32, std: float = 0.02,
                       extra_config: dict[str, Any] | None = None) -> Path:
    """Write a random PEFT-format LoRA adapter targeting ``target_modules`` of ``base_spec``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    for module in base_spec.linear_modules:
        short = module.rsplit(".", 1)[-1]
        if short not in target_modules:
            continue
        shape = base_spec.linear_shapes[short]
        a = torch.randn(r, shape.in_features, generator=gen) * std
        b = torch.randn(shape.out_features, r, generator=gen) * std
        tensors[f"{KEY_PREFIX}{module}.lora_A.weight"] = a.to(dtype)
        tensors[f"{KEY_PREFIX}{module}.lora_B.weight"] = b.to(dtype)
    save_file(tensors, str(out_dir / WEIGHTS_FILE), metadata={"format": "pt"})
    config: dict[str, Any] = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha, "lora_dropout": 0.0,
        "target_modules": list(target_modules), "use_rslora": use_rslora, "bias": "none",
        "base_model_name_or_path": base_spec.name, "fan_in_fan_out": False, "modules_to_save": None,
        "inference_mode": True,
    }
    config.update(extra_config or {})
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    return out_dir

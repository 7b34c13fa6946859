"""The model a job trains: a PEFT LoRA wrapper around the full-precision or nf4 base.

- LoRA: base weights in float32 (CPU) / bfloat16 (CUDA), frozen; only A and B train.
- QLoRA: base linear weights stored as bitsandbytes nf4 (4-bit NormalFloat, double-quantized),
  dequantized on the fly in each matmul; ``prepare_model_for_kbit_training`` freezes the base,
  upcasts the non-quantized parameters (norms, embeddings) to float32 for stable training and
  enables input gradients for checkpointing.
- Attention: ``training/attention.py``'s per-example SDPA, so packed rows cost no attention
  FLOPs across examples.
- Gradient checkpointing trades ~1/3 more compute for activations of O(layers) instead of
  O(layers · seq): it pays on accelerators where memory bounds the batch, not on a CPU with
  plenty of RAM where compute is the bottleneck, so ``None`` (auto) means "on for CUDA only".
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from trainer_service.training.config import ALL_LINEAR, TrainingConfig

log = logging.getLogger(__name__)


def pick_device(setting: str = "auto") -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def use_gradient_checkpointing(config: TrainingConfig, device: torch.device) -> bool:
    return config.gradient_checkpointing if config.gradient_checkpointing is not None else device.type == "cuda"


def load_tokenizer(base_dir: Path) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(base_dir))
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def lora_config(config: TrainingConfig) -> Any:
    from peft import LoraConfig

    targets: Any = ALL_LINEAR if ALL_LINEAR in config.target_modules else list(config.target_modules)
    return LoraConfig(r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout, target_modules=targets,
                      use_rslora=config.use_rslora, bias="none", task_type="CAUSAL_LM")


def load_base_model(base_dir: Path, method: str, device: torch.device, attn_implementation: str | None = None) -> Any:
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from trainer_service.training.attention import PACKED_ATTENTION

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": attn_implementation or PACKED_ATTENTION}
    if method == "qlora":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype)
        kwargs["device_map"] = {"": device.index or 0} if device.type == "cuda" else {"": "cpu"}
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), **kwargs)
    if method != "qlora":
        model.to(device)
    model.config.use_cache = False
    return model


def build_peft_model(base_dir: Path, config: TrainingConfig, device: torch.device,
                     attn_implementation: str | None = None) -> Any:
    """Base (LoRA: full precision; QLoRA: nf4) + fresh LoRA adapter, seeded by ``config.seed``."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    torch.manual_seed(config.seed)
    gc = use_gradient_checkpointing(config, device)
    model = load_base_model(base_dir, config.adapter_method, device, attn_implementation)
    if config.adapter_method == "qlora":
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gc, gradient_checkpointing_kwargs={"use_reentrant": False})
    elif gc:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    peft_model = get_peft_model(model, lora_config(config))
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    log.info("model ready", extra={"method": config.adapter_method, "r": config.r, "trainable_params": trainable,
                                   "gradient_checkpointing": gc, "device": str(device)})
    return peft_model

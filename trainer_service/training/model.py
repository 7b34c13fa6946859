"""The model a job trains: a PEFT LoRA wrapper around the full-precision or nf4 base.

- LoRA: base weights in float32 (CPU) / bfloat16 (CUDA), frozen; only A and B train.
- QLoRA: base linear weights stored as bitsandbytes nf4 (4-bit NormalFloat, double-quantized),
  dequantized on the fly in each matmul; ``prepare_model_for_kbit_training`` freezes the base,
  upcasts the non-quantized parameters (norms, embeddings) to float32 for stable training and
  enables input gradients for checkpointing.
- Attention: ``training/attention.py``'s per-example SDPA, so packed rows cost no attention
  FLOPs across examples.
- Compute dtype (``resolve_compute_dtype``): the frozen base's matmuls run in bfloat16 where
  the hardware multiplies bfloat16 natively — CUDA, and for QLoRA a CPU with AVX512-BF16 or
  AMX, where a bf16 GEMM at the 135M model's shapes is ~2.2× an fp32 one (``benchmarks/
  training_throughput.py`` reports both) — as in QLoRA itself (nf4 storage, bf16 compute). The
  rounding this adds (relative 2⁻⁹ on activations) is far below nf4's own quantization error.
  Adapter weights, optimizer state, norms, the LM head and the loss stay float32. LoRA on a CPU
  keeps its base float32 unless asked: full precision is why one picks LoRA over QLoRA there.
- Gradient checkpointing trades ~1/3 more compute for activations of O(layers) instead of
  O(layers · seq): it pays on accelerators where memory bounds the batch, not on a CPU with
  plenty of RAM where compute is the bottleneck, so ``None`` (auto) means "on for CUDA only".
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from trainer_service.training.config import ALL_LINEAR, TrainingConfig

if TYPE_CHECKING:
    from peft import LoraConfig, PeftModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)


def pick_device(setting: str = "auto") -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def cpu_has_native_bf16() -> bool:
    """True where oneDNN multiplies bfloat16 in hardware (AVX512-BF16 or AMX), not by emulation."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError) as exc:  # a torch build without the probe: stay on float32
        log.warning("cannot tell whether this CPU multiplies bfloat16 natively; using float32",
                    extra={"error": repr(exc)})
        return False


def resolve_compute_dtype(config: TrainingConfig, device: torch.device) -> torch.dtype:
    """``config.compute_dtype`` as a torch dtype; ``"auto"`` follows the module docstring."""
    if config.compute_dtype != "auto":
        return getattr(torch, config.compute_dtype)
    if device.type == "cuda":
        return torch.bfloat16
    if config.adapter_method == "qlora" and cpu_has_native_bf16():
        return torch.bfloat16
    return torch.float32


def use_gradient_checkpointing(config: TrainingConfig, device: torch.device) -> bool:
    return config.gradient_checkpointing if config.gradient_checkpointing is not None else device.type == "cuda"


def load_tokenizer(base_dir: Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(base_dir))
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def lora_config(config: TrainingConfig) -> LoraConfig:
    from peft import LoraConfig

    targets: str | list[str] = ALL_LINEAR if ALL_LINEAR in config.target_modules else list(config.target_modules)
    return LoraConfig(r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout, target_modules=targets,
                      use_rslora=config.use_rslora, bias="none", task_type="CAUSAL_LM")


def load_base_model(base_dir: Path, method: str, device: torch.device, compute_dtype: torch.dtype,
                    attn_implementation: str | None = None) -> PreTrainedModel:
    """QLoRA: nf4 linears dequantized to ``compute_dtype``, the rest float32 on CPU (bf16 on CUDA,
    upcast later by k-bit preparation). LoRA: the whole base in ``compute_dtype``."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from trainer_service.training.attention import PACKED_ATTENTION

    dtype = compute_dtype if method == "lora" else (torch.bfloat16 if device.type == "cuda" else torch.float32)
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": attn_implementation or PACKED_ATTENTION}
    if method == "qlora":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype)
        kwargs["device_map"] = {"": device.index or 0} if device.type == "cuda" else {"": "cpu"}
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), **kwargs)
    if method != "qlora":
        model.to(device)
    model.config.use_cache = False
    return model


def _back_to_trained_update(peft_model: PeftModel, adapter_dir: Path) -> None:
    """Divide each ``lora_B`` by its part's factor when ``adapter_dir`` was registered extrapolated
    (``lorafleet/adapters/extrapolate.py``), so a job continues the update training found, not the scaled
    copy: from ``s·B`` the cross-entropy's gradient points back toward ``B``, and 30 steps at lr 3e-4 undid
    most of the demo v1's extrapolation (harmful refused 0.92 -> 0.75 on its 24 cases). The job applies its
    own ``extrapolate`` factors once, when it registers."""
    from lorafleet.adapters.extrapolate import Factors, recorded_factors

    factors = recorded_factors(adapter_dir)
    if factors is None:
        return
    by_part = dict(zip(("mlp", "attention"), factors, strict=True))
    with torch.no_grad():
        for name, module in peft_model.named_modules():
            lora_b = getattr(module, "lora_B", None)
            if isinstance(lora_b, torch.nn.ModuleDict):
                for layer in lora_b.values():
                    layer.weight.div_(by_part[Factors.part(name)])


def build_peft_model(base_dir: Path, config: TrainingConfig, device: torch.device,
                     attn_implementation: str | None = None, init_adapter_dir: Path | None = None) -> PeftModel:
    """Base (LoRA: ``compute_dtype`` weights; QLoRA: nf4) + a LoRA adapter: fresh (seeded by ``config.seed``),
    or the PEFT adapter in ``init_adapter_dir`` loaded trainable (``init_from``; its LoRA config applies), taken
    back to its trained update when it was registered extrapolated."""
    from peft import PeftModel, get_peft_model, prepare_model_for_kbit_training

    torch.manual_seed(config.seed)
    gc = use_gradient_checkpointing(config, device)
    compute_dtype = resolve_compute_dtype(config, device)
    model = load_base_model(base_dir, config.adapter_method, device, compute_dtype, attn_implementation)
    if config.adapter_method == "qlora":
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gc, gradient_checkpointing_kwargs={"use_reentrant": False})
    elif gc:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    if init_adapter_dir is not None:
        from peft import LoraConfig as PeftLoraConfig

        start = PeftLoraConfig.from_pretrained(str(init_adapter_dir))
        start.lora_dropout = config.dropout  # the job's dropout; rank, alpha and targets are the adapter's
        peft_model = PeftModel.from_pretrained(model, str(init_adapter_dir), config=start, is_trainable=True)
        _back_to_trained_update(peft_model, init_adapter_dir)
    else:
        peft_model = get_peft_model(model, lora_config(config))
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    log.info("model ready", extra={"method": config.adapter_method, "r": config.r, "trainable_params": trainable,
                                   "gradient_checkpointing": gc, "device": str(device),
                                   "init_from": str(init_adapter_dir or ""),
                                   "compute_dtype": str(compute_dtype).removeprefix("torch.")})
    return peft_model

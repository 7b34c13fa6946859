"""Assembly of the serving stack: base model + bank layers + adapter cache + engine.

Shared by the app binding, tests and benchmarks so they all run exactly the served code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from inference_service.engine.adapter_cache import AdapterCache
from inference_service.engine.engine import Engine, EngineConfig
from inference_service.metrics import ENGINE_THREADS_LIMIT
from inference_service.model.adapter_weights import AdapterKey, HostAdapter, read_adapter
from inference_service.model.bank_install import install_bank
from inference_service.model.base_loader import LoadedBase, load_base_model
from inference_service.model.fast_llama import FastLlama
from inference_service.model.grouped_lora_kernel import decode_operands
from inference_service.model.lora_bank import BankBatch, LoRABankLinear
from lorafleet.base_model.spec import BaseModelSpec
from lorafleet.compute_threads import resolve_num_threads
from lorafleet.config import Settings

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    base: LoadedBase
    spec: BaseModelSpec
    bank: BankBatch
    layers: dict[str, LoRABankLinear]
    adapters: AdapterCache
    engine: Engine
    max_adapter_rank: int
    model: FastLlama
    adapter_dtype: torch.dtype | None = None  # host copies of adapters; None: the bank's (bank_dtype)

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self.base.tokenizer

    def layer_shapes(self) -> dict[str, tuple[int, int]]:
        return {name: (layer.in_features, layer.out_features) for name, layer in self.layers.items()}

    def read_adapter(self, path: Path, key: AdapterKey) -> HostAdapter:
        """Disk -> host tensors (any thread; the worker only copies host -> slot)."""
        return read_adapter(path, key, layer_shapes=self.layer_shapes(), max_rank=self.max_adapter_rank,
                            dtype=self.adapter_dtype or bank_dtype(self.base), pin=self.base.device.type == "cuda")

    @property
    def target_modules(self) -> tuple[str, ...]:
        return tuple(sorted({n.rsplit(".", 1)[-1] for n in self.layers}))


def bank_dtype(base: LoadedBase) -> torch.dtype:
    """The LoRA bank's dtype: the activations' (``model.fast_llama``): float32 on a CPU, else the compute dtype."""
    return torch.float32 if base.device.type == "cpu" else base.compute_dtype


def eos_token_ids(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    ids: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(int(v) for v in value)
    return ids


def build_runtime(model_dir: Path, spec: BaseModelSpec, settings: Settings, *, quantization: str | None = None,
                  prefill_token_budget: int = 512, max_context: int | None = None) -> Runtime:
    base = load_base_model(model_dir, quantization=quantization or settings.quantization, device=settings.device)
    bank, layers = install_bank(base.model, spec.linear_modules, num_slots=settings.adapter_slots,
                                max_rank=settings.max_adapter_rank, dtype=bank_dtype(base), device=base.device)
    kernel, operands = decode_operands(settings.lora_decode_operands, base.device, base.quantization)
    model = FastLlama(base.model, layers, bank, fmt=base.weight_format, dtype=base.compute_dtype, device=base.device,
                      lora_kernel=kernel, lora_operand_dtype=operands)
    adapters = AdapterCache(layers, num_slots=settings.adapter_slots, host_capacity=settings.adapter_host_cache)
    threads, why = resolve_num_threads(settings.num_threads)
    ENGINE_THREADS_LIMIT.set(threads)
    log.info("engine compute threads", extra={"threads": threads, "from": why})
    ctx = int(getattr(base.model.config, "max_position_embeddings", 2048) or 2048)
    config = EngineConfig(max_batch_size=settings.max_batch_size, max_queue=settings.max_queue,
                          max_context=min(ctx, max_context or ctx), max_new_tokens_limit=settings.max_new_tokens_limit,
                          prefill_token_budget=prefill_token_budget, shadow_max_waiting=settings.shadow_max_waiting,
                          num_threads=threads, admission_window_s=settings.admission_window_ms / 1000,
                          prefix_cache_bytes=settings.prefix_cache_mb << 20)
    engine = Engine(model, base.tokenizer, bank, adapters, config, device=base.device,
                    eos_token_ids=eos_token_ids(base.model, base.tokenizer))
    return Runtime(base=base, spec=spec, bank=bank, layers=layers, adapters=adapters, engine=engine,
                   max_adapter_rank=settings.max_adapter_rank, model=model,
                   # int8 operands quantize host copies read in bf16, as bf16 operands hold them
                   adapter_dtype=torch.bfloat16 if operands == torch.int8 else operands)

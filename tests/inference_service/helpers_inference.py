"""Shared helpers for the inference tests (imported by test modules in this folder)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from inference_service.engine.types import GenerationRequest, SamplingSpec
from inference_service.model.adapter_weights import AdapterKey


def host(rt, name: str, path: Path, version: int = 1):
    return rt.adapters.put_host(rt.read_adapter(path, AdapterKey(name, version)))


def request(rt, prompt: str, *, adapter=None, max_tokens: int = 10, rid: str = "r", **sampling) -> GenerationRequest:
    ids = list(rt.tokenizer(prompt)["input_ids"])
    return GenerationRequest(request_id=rid, prompt_ids=ids, sampling=SamplingSpec(max_tokens=max_tokens, **sampling),
                             adapter=adapter)


def record_prefills(rt, steps: list[int] | None = None, times: list[float] | None = None) -> list[list[str]]:
    """Request ids of the sequences each prefill call advanced, in order (calls that advanced none are
    left out); the engine step of each such call goes to ``steps``, its ``time.monotonic()`` to ``times``."""
    groups: list[list[str]] = []
    batch = rt.engine.batch
    original = batch.prefill

    def spy(*budgets):
        before = {id(s): s.prefill_pos for s in batch.prefilling}
        out = original(*budgets)  # the sequences it completed are still in ``prefilling``
        advanced = [s.request.request_id for s in batch.prefilling if s.prefill_pos != before[id(s)]]
        if advanced:
            groups.append(advanced)
            if steps is not None:
                steps.append(rt.engine.steps)
            if times is not None:
                times.append(time.monotonic())
        return out

    batch.prefill = spy
    return groups


def tokens_of(events) -> list[int]:
    assert events[-1].error is None, events[-1].error
    return [t for e in events for t in e.token_ids]


def peft_greedy(model_dir: Path, adapter_dir: Path | None, prompt_ids: list[int], n: int) -> list[int]:
    """Reference: PEFT (or the bare model) greedy decoding with transformers' generate, fp32."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    if adapter_dir is not None:
        model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.eval()
    ids = torch.tensor([prompt_ids])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False,
                             eos_token_id=None, pad_token_id=2)
    return out[0, ids.shape[1]:].tolist()


def _adapter_copy(adapter_dir: Path, out: Path, weight: Callable[[str, torch.Tensor], torch.Tensor]) -> Path:
    """A copy of a PEFT adapter with each weight tensor ``name -> weight(name, tensor)``."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(adapter_dir, out)
    weights = out / "adapter_model.safetensors"
    save_file({k: weight(k, v) for k, v in load_file(str(weights)).items()}, str(weights))
    return out


def bf16_rounded_adapter(adapter_dir: Path, out: Path) -> Path:
    """A copy of a PEFT adapter with every weight rounded to bf16 (kept fp32): what the engine serves with
    ``lora_decode_operands=bf16``, for a PEFT reference of it."""
    return _adapter_copy(adapter_dir, out, lambda _, v: v.to(torch.bfloat16).float())


def int8_quantized(w: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(q, scale)``, ``w ~ q * scale``: ``w`` rounded to int8 along ``dim`` on its absmax, as the grouped LoRA
    kernel quantizes (``w * 127 / amax`` rounded half to even; scale ``amax / 127``, 0 where ``amax`` is 0), the
    scale keeping ``dim`` as size 1."""
    amax = w.abs().amax(dim=dim, keepdim=True)
    inv = torch.where(amax > 0, 127.0 / amax, torch.zeros_like(amax))
    return torch.round(w * inv).to(torch.int8), amax / 127.0


def int8_rounded_adapter(adapter_dir: Path, out: Path) -> Path:
    """A copy of a PEFT adapter as the engine serves it with ``lora_decode_operands=int8`` (kept fp32): every
    weight rounded to bf16 (how the runtime reads it), then each rank component quantized to int8 on its own
    absmax, ``lora_A``'s row ``j`` and ``lora_B``'s column ``j`` (``kernels/grouped_lora.cpp``, ``write_parts``)."""

    def weight(name: str, v: torch.Tensor) -> torch.Tensor:
        v = v.to(torch.bfloat16).float()
        dim = 1 if "lora_A" in name else 0 if "lora_B" in name else None
        if dim is None:
            return v
        q, scale = int8_quantized(v, dim)
        return q.float() * scale

    return _adapter_copy(adapter_dir, out, weight)


def served_adapter(adapter_dir: Path, operands: str, out: Path) -> Path:
    """The adapter the engine serves with ``lora_decode_operands=operands``: exact (fp32), rounded to bf16, or
    quantized to int8 after that."""
    if operands == "bf16":
        return bf16_rounded_adapter(adapter_dir, out)
    if operands == "int8":
        return int8_rounded_adapter(adapter_dir, out)
    return adapter_dir


def make_peft_adapter(model_dir: Path, out: Path, *, r: int, alpha: float, targets: list[str], rslora: bool,
                      seed: int) -> Path:
    """A PEFT LoRA adapter with random (non-zero) A and B, saved as safetensors."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    peft_model = get_peft_model(base, LoraConfig(r=r, lora_alpha=alpha, target_modules=targets,
                                                 use_rslora=rslora, lora_dropout=0.0))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.3 / (r ** 0.5))
    peft_model.save_pretrained(out)
    return out


def tiny_settings(**kw):
    from lorafleet.config import Settings

    base = dict(quantization="none", device="cpu", adapter_slots=4, adapter_host_cache=8, max_batch_size=8,
                max_adapter_rank=32, max_new_tokens_limit=64, default_max_tokens=16, max_queue=16,
                http_port=0)  # no HTTP front unless a test asks for one (never the default port 8000)
    base.update(kw)
    return Settings.from_env(environ={}, **base)

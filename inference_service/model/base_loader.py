"""Load the ONE base model copy inference serves, and pick the format its weights are served in.

``quantization`` (``lorafleet.config``):

* ``int4`` loads the model in fp32 and hands it to the fast forward, which stores each fused layer as
  group-32 int4 (``model.quant``) and computes in bfloat16: the fastest format on a CPU, and exact
  for the embedded Q4_1 SmolLM2 (see ``model.quant`` for the measurements);
* ``nf4`` and ``int8`` go through transformers' ``BitsAndBytesConfig`` (bitsandbytes modules): on
  CUDA the modules are called as they are; on a CPU with AVX512-BF16, nf4's fused parts run as one
  call of bitsandbytes' packed CPU kernel each (``model.quant.PackedNf4Weight``), with the modules'
  numbers; int8 (and nf4 elsewhere) calls the modules;
* ``none`` keeps full precision (float32 on a CPU: the reference numerics the tests compare with);
* ``auto`` (the default) is ``int4`` on a CPU and ``nf4`` on CUDA.

Compute dtype: bfloat16 for ``int4`` (its kernel takes bf16 activations) and on CUDA, float32
otherwise. The LM head stays unquantized in the bitsandbytes formats (transformers skips it); on a CPU
the fast forward ranks it in int8 (int4 without fbgemm) and rescores in fp32 (``model.lm_head.RescoredHead``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from lorafleet.errors import FailedPrecondition, InvalidArgument

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)

QUANTIZATIONS = ("auto", "int4", "nf4", "int8", "none")
FORMATS = {"int4": "int4", "none": "dense", "nf4": "module", "int8": "module"}  # quantization -> model.quant


class _DropInt8CastNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("MatMul8bitLt: inputs will be cast")


@dataclass
class LoadedBase:
    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    compute_dtype: torch.dtype
    quantization: str  # resolved: never "auto"
    load_seconds: float

    @property
    def weight_format(self) -> str:
        return FORMATS[self.quantization]


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise InvalidArgument(f"{device!r} is not a torch device", field="device") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise FailedPrecondition(f"device {device!r} requested but CUDA is not available", field="device")
    return dev


def resolve_quantization(quantization: str, device: torch.device) -> str:
    if quantization not in QUANTIZATIONS:
        raise InvalidArgument(f"{quantization!r} is not one of {', '.join(QUANTIZATIONS)}", field="quantization")
    if quantization == "auto":
        return "nf4" if device.type == "cuda" else "int4"
    return quantization


def load_base_model(model_dir: Path, *, quantization: str = "auto", device: str = "auto",
                    compute_dtype: torch.dtype | None = None) -> LoadedBase:
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    dev = resolve_device(device)
    quantization = resolve_quantization(quantization, dev)
    if compute_dtype is None:
        bf16 = quantization == "int4" or (dev.type == "cuda" and quantization != "none")
        compute_dtype = torch.bfloat16 if bf16 else torch.float32
    # int4: read fp32, the fast forward quantizes (model.quant)
    kwargs: dict = {"dtype": torch.float32 if quantization == "int4" else compute_dtype}
    if quantization == "nf4":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype,
            bnb_4bit_use_double_quant=False)
    elif quantization == "int8":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        # LLM.int8() always multiplies in fp16 and logs so on every call: expected, not actionable
        logging.getLogger("bitsandbytes.autograd._functions").addFilter(_DropInt8CastNotice())
    if quantization in ("nf4", "int8"):
        kwargs["device_map"] = {"": str(dev) if dev.type != "cuda" else (dev.index or 0)}
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), **kwargs)
    if quantization in ("none", "int4"):
        model = model.to(dev)
    model.eval()
    model.requires_grad_(False)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    seconds = time.perf_counter() - t0
    log.info("base model loaded", extra={"path": str(model_dir), "quantization": quantization,
                                         "device": str(dev), "dtype": str(compute_dtype), "seconds": round(seconds, 2)})
    return LoadedBase(model=model, tokenizer=tokenizer, device=dev, compute_dtype=compute_dtype,
                      quantization=quantization, load_seconds=seconds)

"""Load the ONE base model copy inference serves, quantized with bitsandbytes.

``nf4`` (default) and ``int8`` go through transformers' ``BitsAndBytesConfig``; ``none`` keeps
full precision. Compute dtype is float32 on CPU (bitsandbytes 0.50 runs 4-bit on CPU by
de-quantizing per call; fp32 keeps results comparable with PEFT in tests) and bfloat16 on CUDA.
The LM head stays unquantized (transformers skips it), tied to the embeddings as in the file.
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

QUANTIZATIONS = ("nf4", "int8", "none")


class _DropInt8CastNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("MatMul8bitLt: inputs will be cast")


@dataclass
class LoadedBase:
    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    compute_dtype: torch.dtype
    quantization: str
    load_seconds: float


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


def load_base_model(model_dir: Path, *, quantization: str = "nf4", device: str = "auto",
                    compute_dtype: torch.dtype | None = None) -> LoadedBase:
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    if quantization not in QUANTIZATIONS:
        raise InvalidArgument(f"{quantization!r} is not one of {', '.join(QUANTIZATIONS)}", field="quantization")
    dev = resolve_device(device)
    if compute_dtype is None:
        compute_dtype = torch.bfloat16 if dev.type == "cuda" and quantization != "none" else torch.float32
    kwargs: dict = {"dtype": compute_dtype}
    if quantization == "nf4":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype,
            bnb_4bit_use_double_quant=False)
    elif quantization == "int8":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        # LLM.int8() always multiplies in fp16 and logs so on every call: expected, not actionable
        logging.getLogger("bitsandbytes.autograd._functions").addFilter(_DropInt8CastNotice())
    if quantization != "none":
        kwargs["device_map"] = {"": str(dev) if dev.type != "cuda" else (dev.index or 0)}
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), **kwargs)
    if quantization == "none":
        model = model.to(dev)
    model.eval()
    model.requires_grad_(False)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    seconds = time.perf_counter() - t0
    log.info("base model loaded", extra={"path": str(model_dir), "quantization": quantization,
                                         "device": str(dev), "dtype": str(compute_dtype), "seconds": round(seconds, 2)})
    return LoadedBase(model=model, tokenizer=tokenizer, device=dev, compute_dtype=compute_dtype,
                      quantization=quantization, load_seconds=seconds)

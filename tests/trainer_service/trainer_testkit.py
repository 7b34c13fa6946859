"""Helpers shared by the trainer tests (a uniquely named module: `conftest` names collide across folders)."""

from __future__ import annotations

import json

from trainer_service.training.config import TrainingConfig

MAX_UPLOAD = 64 * 1024


def chat(user: str, answer: str, system: str | None = None) -> dict:
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": messages}


def jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def toy_sft_config(**kw) -> TrainingConfig:
    """One epoch of LoRA SFT on the toy colour task, constant learning rate 1e-2, seed 3; ``kw`` overrides."""
    base = dict(adapter_name="toy", adapter_method="lora", r=8, alpha=16, dropout=0.0, epochs=1, batch_size=8,
                learning_rate=1e-2, warmup_ratio=0.0, lr_scheduler="constant", training_dataset_id="ds-x",
                max_seq_length=128, seed=3)
    return TrainingConfig(**{**base, **kw})


def preference(prompt: str, chosen: str, rejected: str) -> dict:
    """A preference record with the request as a one-turn conversation."""
    return {"messages": [{"role": "user", "content": prompt}], "chosen": chosen, "rejected": rejected}

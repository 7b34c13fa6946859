"""Helpers shared by the trainer tests (a uniquely named module: `conftest` names collide across folders)."""

from __future__ import annotations

import json

MAX_UPLOAD = 64 * 1024


def chat(user: str, answer: str, system: str | None = None) -> dict:
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": messages}


def jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def preference(prompt: str, chosen: str, rejected: str) -> dict:
    """A preference record with the request as a one-turn conversation."""
    return {"messages": [{"role": "user", "content": prompt}], "chosen": chosen, "rejected": rejected}

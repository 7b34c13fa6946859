"""The four JSONL record shapes a dataset may hold, and how one is recognised.

- chat: ``{"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}`` —
  loss on assistant turns only.
- prompt_completion: ``{"prompt": str, "completion": str}`` — loss on the completion only.
- text: ``{"text": str}`` — continued pre-training, loss on every token.
- preference (DPO): ``{"prompt": str, "chosen": A, "rejected": A}`` or
  ``{"messages": [...ending with a user turn], "chosen": A, "rejected": A}``, where an answer A
  is the assistant's text or an assistant message ``{"role": "assistant", "content": str}``.
  A record with ``chosen`` or ``rejected`` is a preference record, whatever else it holds.

An SFT record (chat, prompt_completion, text) may also hold ``"anchor": true``: its answer tokens are
trained toward the base model's own next-token distribution (a KL term, ``objective.py``) instead of
toward the written text. Anchors keep an adapter from drifting on data like them (general questions)
while the other records teach new behaviour; the written answer is only the path the KL is taken along.

``DatasetFormat`` (its members come from the proto enum) lives in ``trainer_service.enums``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer_service.enums import DatasetFormat

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Example:
    """One parsed record. Exactly the fields of its format are set; ``line`` is 1-based."""

    format: DatasetFormat
    line: int
    messages: tuple[tuple[str, str], ...] = ()
    prompt: str = ""
    completion: str = ""
    text: str = ""
    chosen: str = ""
    rejected: str = ""
    anchor: bool = False

    def key(self) -> tuple:
        """Identity used for duplicate and train/validation overlap detection."""
        return (self.format.value, self.messages, self.prompt, self.completion, self.text, self.chosen, self.rejected,
                self.anchor)


def detect_format(record: Any) -> DatasetFormat | None:
    """Format of one decoded JSON record by its keys; None when it matches none."""
    if not isinstance(record, dict):
        return None
    if "chosen" in record or "rejected" in record:
        return DatasetFormat.PREFERENCE
    if "messages" in record:
        return DatasetFormat.CHAT
    if "prompt" in record or "completion" in record:
        return DatasetFormat.PROMPT_COMPLETION
    if "text" in record:
        return DatasetFormat.TEXT
    return None

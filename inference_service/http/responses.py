"""OpenAI's response objects for one generation: the whole completion, its stream chunks, usage.

Chat answers are ``chat.completion`` / ``chat.completion.chunk`` objects, plain completions
``text_completion`` ones (streamed chunks have the same object name, as OpenAI's). ``id`` is the
request id (the ``x-request-id`` the client sent, or the one the server made), so a reply can be
rated with ``lorafleet feedback <id>``; ``model`` is the version that answered (``support-bot@3``,
or the base model's id), which shows a canary's share; ``system_fingerprint`` is the base
model's fingerprint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from inference_service.engine.types import FinishReason, Usage

FINISH_REASONS = {FinishReason.LENGTH: "length", FinishReason.STOP: "stop", FinishReason.EOS: "stop",
                  FinishReason.CANCELLED: "abort"}


def usage_dict(usage: Usage) -> dict:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens, "prompt_tokens_details": {"cached_tokens": usage.cached_prompt_tokens}}


@dataclass
class Reply:
    """The constant part of every object of one reply."""

    chat: bool
    request_id: str
    model: str
    fingerprint: str
    include_usage: bool = False
    created: int = field(default_factory=lambda: int(time.time()))

    def _head(self, object_: str) -> dict:
        return {"id": self.request_id, "object": object_, "created": self.created, "model": self.model,
                "system_fingerprint": self.fingerprint}

    def completion(self, text: str, finish: FinishReason, usage: Usage) -> dict:
        """The non-streamed answer."""
        if self.chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                      "finish_reason": FINISH_REASONS[finish]}
            return {**self._head("chat.completion"), "choices": [choice], "usage": usage_dict(usage)}
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": FINISH_REASONS[finish]}
        return {**self._head("text_completion"), "choices": [choice], "usage": usage_dict(usage)}

    def chunk(self, text: str, finish: FinishReason | None = None, *, role: bool = False) -> dict:
        """One streamed delta (``role``: the chat stream's opening chunk)."""
        reason = FINISH_REASONS[finish] if finish is not None else None
        if self.chat:
            delta = {"role": "assistant", "content": text} if role else ({"content": text} if text else {})
            out = {**self._head("chat.completion.chunk"),
                   "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}]}
        else:
            out = {**self._head("text_completion"),
                   "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": reason}]}
        if self.include_usage:
            out["usage"] = None
        return out

    def usage_chunk(self, usage: Usage) -> dict:
        """The last chunk when ``stream_options.include_usage`` asked for it: no choices, the usage."""
        object_ = "chat.completion.chunk" if self.chat else "text_completion"
        return {**self._head(object_), "choices": [], "usage": usage_dict(usage)}

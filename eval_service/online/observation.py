"""A live request as the evaluator sees it: plain values, converted from protobuf at the edge.

``arm`` is where the reply came from: ``PRODUCTION`` (the incumbent, or a production adapter
without rollout), ``CANARY`` (the candidate answering a caller) or ``SHADOW`` (the candidate
re-running a production request's input, ``paired_request_id``). ``sampled`` requests carry their
text; the others only counts, timings and the error code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class TrafficArm(str, enum.Enum):
    PRODUCTION = "PRODUCTION"
    CANARY = "CANARY"
    SHADOW = "SHADOW"

    @property
    def is_candidate(self) -> bool:
        return self is not TrafficArm.PRODUCTION


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class LiveObservation:
    request_id: str
    adapter_name: str
    version: int
    arm: TrafficArm
    time: datetime
    rollout_id: str = ""
    paired_request_id: str = ""
    sampled: bool = False
    prompt: str = ""
    messages: tuple[Message, ...] = field(default_factory=tuple)
    reply: str = ""
    finish_reason: str = ""
    completion_tokens: int = 0
    time_to_first_token_s: float = 0.0
    total_s: float = 0.0
    error_code: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error_code)

    @property
    def system_prompt(self) -> str:
        return "\n".join(m.content for m in self.messages if m.role == "system")

    @property
    def user_text(self) -> str:
        """What the user asked: the last user message, else the raw prompt."""
        users = [m.content for m in self.messages if m.role == "user"]
        return users[-1] if users else self.prompt

"""Where the HTTP front is in its life, and what it serves with once ready.

``STARTING`` (the port is open while the base model loads) and ``DRAINING`` (shutdown: requests in
flight finish, new ones are refused) answer 503 with ``Retry-After``; ``SERVING`` has a
``Backend``: the inference server's front door, registry and base model.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inference_service.front_door import FrontDoor
    from lorafleet.config import Settings
    from lorafleet.registry.store import Registry


class Phase(str, enum.Enum):
    STARTING = "starting"
    SERVING = "serving"
    DRAINING = "draining"


@dataclass(frozen=True)
class Backend:
    """What the endpoints serve with: the same front door (routing, engine) and registry as gRPC."""

    front_door: FrontDoor
    registry: Registry
    settings: Settings
    base_model: str     # the base model's id (GetModelInfo's base_model)
    fingerprint: str
    created: int = field(default_factory=lambda: int(time.time()))


class FrontState:
    def __init__(self) -> None:
        self.phase = Phase.STARTING
        self.backend: Backend | None = None
        self.in_flight = 0

    def serve(self, backend: Backend) -> None:
        self.backend = backend
        self.phase = Phase.SERVING

    def drain(self) -> None:
        self.phase = Phase.DRAINING

    async def wait_idle(self, timeout_s: float, poll_s: float = 0.05) -> bool:
        """True once no request is in flight, False if ``timeout_s`` passed first."""
        end = time.monotonic() + timeout_s
        while self.in_flight:
            if time.monotonic() >= end:
                return False
            await asyncio.sleep(poll_s)
        return True

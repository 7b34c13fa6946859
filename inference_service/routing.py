"""Which version answers a request, and whether it is re-run in shadow or its text sampled.

Transport-agnostic (the gRPC servicer and, later, the HTTP front call the same code). Only a
*bare* adapter name (``support-bot``, its production alias) is routed; an explicit reference
(``support-bot@3``, ``@canary``, ``@production``) always means exactly what it says.

* **Canary**: with a RUNNING CANARY rollout of the name, a route key goes to the candidate when
  ``bucket(rollout_id, key) < weight_percent * 100`` (``bucket``: the first 8 bytes of
  ``sha256(f"{salt}:{key}")``, big-endian, mod 10,000). One key sees one version while the weight
  holds; raising the weight only moves keys from production to the candidate. The route key is
  the caller's (``x-lorafleet-route-key`` on gRPC, e.g. a user id), else the request id.
* **Shadow**: with a RUNNING SHADOW rollout, production answers; the requests with
  ``bucket(rollout_id + ":sample", request_id) < sampling_rate * 10,000`` are also re-run on the
  candidate (``Route.shadow``), and both halves are reported with their text.
* **Reports**: every routed request is reported (``Route.arm`` set). It carries the rollout id
  when the rollout routed it (both arms of a canary, the shadowed requests of a shadow rollout);
  its text is sampled at the rollout's ``sampling_rate``, else at ``live_sample_rate``.
"""

from __future__ import annotations

import enum
import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lorafleet.errors import FailedPrecondition, InvalidArgument, NotFound
from lorafleet.refs import parse_ref
from lorafleet.registry.models import RolloutMode, RolloutRecord

if TYPE_CHECKING:
    from inference_service.adapter_resolver import AdapterResolver, ResolvedAdapter
    from inference_service.rollouts import RolloutTable

log = logging.getLogger(__name__)

ROUTE_KEY_HEADER = "x-lorafleet-route-key"
MAX_ROUTE_KEY_CHARS = 256
BUCKETS = 10_000


class Arm(str, enum.Enum):
    """Where a reply came from (``TrafficArm`` of rollout.proto)."""

    PRODUCTION = "PRODUCTION"
    CANARY = "CANARY"
    SHADOW = "SHADOW"


def parse_route_key(value: str | None) -> str | None:
    """The caller's route key, or None when absent or empty; InvalidArgument naming the header."""
    if not value:
        return None
    if len(value) > MAX_ROUTE_KEY_CHARS:
        raise InvalidArgument(f"longer than {MAX_ROUTE_KEY_CHARS} characters ({len(value)})", field=ROUTE_KEY_HEADER)
    return value


def bucket(salt: str, key: str) -> int:
    """A stable bucket in [0, 10,000) of ``key`` under ``salt``."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def takes_canary(rollout_id: str, route_key: str, weight_percent: float) -> bool:
    return bucket(rollout_id, route_key) < weight_percent * (BUCKETS / 100)


def is_sampled(salt: str, request_id: str, rate: float) -> bool:
    return bucket(f"{salt}:sample", request_id) < rate * BUCKETS


@dataclass(frozen=True)
class Route:
    """The routing decision for one request.

    ``resolved`` answers (None: the bare base model). ``arm`` is None for requests that are not
    reported (explicit references, the base model). ``rollout`` is the name's running rollout
    (for metrics), ``rollout_id`` what the report carries, ``shadow`` the rollout whose candidate
    re-runs this request.
    """

    resolved: ResolvedAdapter | None
    arm: Arm | None = None
    rollout: RolloutRecord | None = None
    rollout_id: str = ""
    sampled: bool = False
    shadow: RolloutRecord | None = None

    @property
    def ref(self) -> str:
        return self.resolved.ref if self.resolved else ""


class Router:
    def __init__(self, resolver: AdapterResolver, rollouts: RolloutTable, *, live_sample_rate: float) -> None:
        self.resolver = resolver
        self.rollouts = rollouts
        self.live_sample_rate = live_sample_rate

    async def route(self, text: str, *, request_id: str, route_key: str | None = None) -> Route:
        ref = parse_ref(text)
        if ref is None:
            return Route(resolved=None)
        if "@" in text:
            return Route(resolved=await self.resolver.resolve(text))
        rollout = await self.rollouts.get(ref.name)
        if rollout is None:
            return Route(await self.resolver.resolve(text), Arm.PRODUCTION,
                         sampled=is_sampled("", request_id, self.live_sample_rate))
        if rollout.mode is RolloutMode.CANARY:
            return await self._canary(rollout, text, request_id, route_key or request_id)
        production = await self.resolver.resolve(text)
        if is_sampled(rollout.id, request_id, rollout.sampling_rate):
            return Route(production, Arm.PRODUCTION, rollout, rollout.id, sampled=True, shadow=rollout)
        return Route(production, Arm.PRODUCTION, rollout, sampled=is_sampled("", request_id, self.live_sample_rate))

    async def _canary(self, rollout: RolloutRecord, text: str, request_id: str, key: str) -> Route:
        sampled = is_sampled(rollout.id, request_id, rollout.sampling_rate)
        if takes_canary(rollout.id, key, rollout.weight_percent):
            try:
                candidate = await self.resolver.resolve(rollout.candidate_ref)
            except (NotFound, FailedPrecondition) as exc:  # the candidate went away: production answers
                log.warning("canary candidate unavailable; production answers",
                            extra={"rollout_id": rollout.id, "adapter": rollout.candidate_ref, "error": str(exc)})
            else:
                return Route(candidate, Arm.CANARY, rollout, rollout.id, sampled=sampled)
        return Route(await self.resolver.resolve(text), Arm.PRODUCTION, rollout, rollout.id, sampled=sampled)

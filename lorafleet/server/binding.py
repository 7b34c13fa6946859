"""How a service plugs into the shared server bootstrap (``lorafleet.server.bootstrap``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class ServiceBinding:
    """One gRPC service hosted by a server.

    ``service_name`` is the full proto name (``lorafleet.v1.InferenceService``) used for health
    status and reflection. ``on_start`` runs before the port opens (load models, start worker
    threads); ``on_stop(grace_s)`` runs after the server stopped accepting calls.
    """

    service_name: str
    servicer: Any
    add_to_server: Callable[[Any, Any], None]
    on_start: Callable[[], Awaitable[None]] | None = None
    on_stop: Callable[[float], Awaitable[None]] | None = None

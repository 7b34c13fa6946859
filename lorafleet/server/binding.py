"""How a service plugs into the shared server bootstrap (``lorafleet.server.bootstrap``).

One start-up shape for every service: a :class:`ServiceBinding` names the service and knows how
to *start* it. ``start()`` builds whatever the service runs on (load the model, open channels,
recover jobs) and only then constructs the servicer around it, so a servicer never exists
half-built. The bootstrap registers the returned servicer before the port opens and awaits the
returned ``stop(grace_s)`` after the server stopped accepting calls.

A role's bindings come from ``lorafleet.roles`` entry points (``<service>.app:build_bindings``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

AddToServer = Callable[[Any, Any], None]
StopHook = Callable[[float], Awaitable[None]]


@dataclass
class StartedService:
    """A servicer ready to serve, how to add it to a ``grpc.aio.Server``, and how to stop it.

    ``drain(grace_s)`` (optional) runs *while* the gRPC server drains, for what the service serves
    outside gRPC (the inference server's HTTP front): both get the same grace period at the same
    time. ``stop(grace_s)`` runs after the gRPC server stopped.
    """

    servicer: Any
    add_to_server: AddToServer
    stop: StopHook | None = None
    drain: StopHook | None = None


@dataclass
class ServiceBinding:
    """One gRPC service hosted by a server.

    ``service_name`` is the full proto name (``lorafleet.v1.InferenceService``) used for health
    status and reflection; ``start`` runs before the port opens.
    """

    service_name: str
    start: Callable[[], Awaitable[StartedService]]

    @classmethod
    def ready(cls, service_name: str, servicer: Any, add_to_server: AddToServer,
              stop: StopHook | None = None) -> ServiceBinding:
        """A binding whose servicer needs no start-up work (RegistryService, test services)."""

        async def start() -> StartedService:
            return StartedService(servicer, add_to_server, stop)

        return cls(service_name, start)

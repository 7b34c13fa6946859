"""Where each LoRAFleet service listens by default: one function for every client and server.

Each service has its own address, so a command can never reach another service's port by
accident (``lorafleet eval`` always talks to the evaluator, never to inference)::

    flag (--server)  >  $LORAFLEET_<SERVICE>_ADDRESS  >  $LORAFLEET_HOST:$LORAFLEET_<SERVICE>_PORT

with ``<SERVICE>`` one of ``TRAINER``, ``INFERENCE``, ``EVAL``; the host defaults to 127.0.0.1 (a
wildcard bind address such as 0.0.0.0 is dialled as 127.0.0.1) and the ports to
:data:`DEFAULT_PORTS`. RegistryService is hosted by every server; registry commands use the
inference address. The server settings (``lorafleet.config``) take their default ports from here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

ENV_PREFIX = "LORAFLEET_"
SERVICES = ("trainer", "inference", "eval")
DEFAULT_PORTS: dict[str, int] = {"trainer": 50051, "inference": 50052, "eval": 50053}
DEFAULT_HOST = "127.0.0.1"
_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}


def _check(service: str) -> str:
    if service not in DEFAULT_PORTS:
        raise ValueError(f"{service!r} is not a LoRAFleet service ({', '.join(SERVICES)})")
    return service


def address_env(service: str) -> str:
    """``LORAFLEET_<SERVICE>_ADDRESS``: the variable that names ``service``'s address."""
    return f"{ENV_PREFIX}{_check(service).upper()}_ADDRESS"


def dial_host(host: str) -> str:
    """The host to dial for a server bound to ``host`` (a wildcard bind means this machine)."""
    return DEFAULT_HOST if host.strip() in _WILDCARD_HOSTS else host.strip()


def service_address(service: str, *, explicit: str | None = None, environ: Mapping[str, str] | None = None,
                    host: str | None = None, port: int | None = None) -> str:
    """``host:port`` of ``service``: ``explicit``, else its ``_ADDRESS`` variable, else host and port.

    ``host``/``port`` (a server's own settings) win over ``$LORAFLEET_HOST``/``$LORAFLEET_<SERVICE>_PORT``.
    """
    _check(service)
    if explicit:
        return explicit
    env = os.environ if environ is None else environ
    if env.get(address_env(service)):
        return env[address_env(service)]
    if host is None:
        host = env.get(ENV_PREFIX + "HOST", DEFAULT_HOST)
    if port is None:
        raw = env.get(f"{ENV_PREFIX}{service.upper()}_PORT", "")
        try:
            port = int(raw) if raw else DEFAULT_PORTS[service]
        except ValueError as exc:
            raise ValueError(f"{ENV_PREFIX}{service.upper()}_PORT={raw[:40]!r} is not a port number") from exc
    return f"{dial_host(host)}:{port}"

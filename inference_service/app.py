"""Service bindings this package contributes to its server (see lorafleet.server.binding)."""

from __future__ import annotations

from lorafleet.server.binding import ServiceBinding
from lorafleet.server.context import ServerContext


def build_bindings(ctx: ServerContext) -> list[ServiceBinding]:
    return []

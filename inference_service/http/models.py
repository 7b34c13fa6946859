"""``GET /v1/models``: the base model and every reference to an adapter this server can serve.

From the registry, for the versions made for this server's base (same fingerprint): each version
as ``name@version``, each alias as ``name@alias``, and the bare ``name`` when a ``production``
alias exists (what the bare name means). Every adapter's card has ``parent`` = the base model's
id and ``root`` = the version the reference points at now; the base model's card has neither
parent nor an adapter root. ``GET /v1/models/{model}`` resolves one reference the way a completion
would.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lorafleet.errors import NotFound
from lorafleet.refs import DEFAULT_ALIAS

if TYPE_CHECKING:
    from inference_service.adapter_resolver import AdapterResolver
    from lorafleet.registry.models import VersionRecord
    from lorafleet.registry.store import Registry

OWNER = "lorafleet"
PAGE = 1000


def card(model_id: str, created: int, *, root: str, parent: str | None) -> dict:
    return {"id": model_id, "object": "model", "created": created, "owned_by": OWNER, "root": root, "parent": parent}


def all_versions(registry: Registry) -> list[VersionRecord]:
    """Every version, sorted by name then newest first (the registry pages by 1,000)."""
    out: list[VersionRecord] = []
    while True:
        page = registry.list_versions(limit=PAGE, offset=len(out))
        out.extend(page)
        if len(page) < PAGE:
            return out


def adapter_cards(versions: list[VersionRecord], *, base_model: str, fingerprint: str) -> list[dict]:
    """Bare name, aliases, then versions (newest first), adapter by adapter."""
    by_name: dict[str, tuple[list[dict], list[dict], list[dict]]] = {}
    for v in versions:
        if v.base_fingerprint != fingerprint:
            continue
        bare, aliases, numbered = by_name.setdefault(v.name, ([], [], []))
        created = int(v.created_at.timestamp())
        numbered.append(card(v.ref, created, root=v.ref, parent=base_model))
        for alias in sorted(v.aliases):
            aliases.append(card(f"{v.name}@{alias}", created, root=v.ref, parent=base_model))
            if alias == DEFAULT_ALIAS:
                bare.append(card(v.name, created, root=v.ref, parent=base_model))
    return [c for name in sorted(by_name) for group in by_name[name] for c in group]


async def list_models(registry: Registry, *, base_model: str, fingerprint: str, created: int) -> dict:
    versions = await asyncio.to_thread(all_versions, registry)
    data = [card(base_model, created, root=base_model, parent=None),
            *adapter_cards(versions, base_model=base_model, fingerprint=fingerprint)]
    return {"object": "list", "data": data}


async def retrieve_model(resolver: AdapterResolver, model: str, *, base_model: str, created: int) -> dict:
    """One card; raises what resolving raises (NotFound, InvalidArgument, FailedPrecondition)."""
    if model == base_model:
        return card(base_model, created, root=base_model, parent=None)
    resolved = await resolver.resolve(model, field="model")
    if resolved is None:
        raise NotFound("name a model", field="model")
    return card(model, created, root=resolved.ref, parent=base_model)

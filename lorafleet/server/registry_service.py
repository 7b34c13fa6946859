"""RegistryService over grpc.aio: validate the request, call Registry off the event loop, convert.

The servicer holds no logic of its own: every rule (atomic alias moves, refusing REJECTED
versions for production, deleting only unaliased versions...) lives in ``Registry`` so the CLI,
trainer and evaluator get the same behaviour. Database and file work runs in
``asyncio.to_thread`` so one slow import never stalls the other RPCs of the server. The base
model spec is only computed when an import needs it (``base_spec_provider``), because reading
it can mean converting the embedded model on first use.

ImportAdapter reads a directory on the server, so its path is confined like a dataset path: it
must resolve (symlinks followed) inside one of ``settings.data_roots``
(``lorafleet.server.validation.confine_path``); with no data roots, importing by path is disabled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorafleet.errors import InvalidArgument, quote
from lorafleet.refs import parse_ref, parse_versioned_ref, validate_alias, validate_name
from lorafleet.registry import paging
from lorafleet.registry.store import Registry, check_metrics
from lorafleet.server import registry_convert as convert
from lorafleet.server.binding import ServiceBinding
from lorafleet.server.errors import grpc_errors
from lorafleet.server.validation import check_text, confine_path
from lorafleet.v1 import registry_pb2, registry_pb2_grpc

if TYPE_CHECKING:
    from lorafleet.base_model.spec import BaseModelSpec
    from lorafleet.server.context import ServerContext

log = logging.getLogger(__name__)

SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name
MAX_DESCRIPTION = 4096
MAX_REASON = 1024


def validate_import_request(request: registry_pb2.ImportAdapterRequest) -> tuple[str, Path, dict[str, float]]:
    name = validate_name(request.name, "name")
    if not request.path:
        raise InvalidArgument("must name a PEFT adapter directory on the server", field="path")
    path = Path(request.path)
    if not path.is_absolute():
        raise InvalidArgument(f"{quote(request.path)} must be an absolute path on the server", field="path")
    check_text(request.description, "description", MAX_DESCRIPTION)
    return name, path, check_metrics(dict(request.metrics))


def validate_set_alias_request(request: registry_pb2.SetAliasRequest) -> tuple[str, str, int | None]:
    """(name, alias, expected_current_version or None); version/rollback must agree."""
    name = validate_name(request.name, "name")
    alias = validate_alias(request.alias, "alias")
    if request.rollback and request.version:
        raise InvalidArgument("set either a version or rollback, not both", field="version")
    if not request.rollback and request.version == 0:
        raise InvalidArgument("must be >= 1 (or set rollback to move the alias back)", field="version")
    check_text(request.reason, "reason", MAX_REASON)
    return name, alias, (request.expected_current_version or None)


class RegistryServicer(registry_pb2_grpc.RegistryServiceServicer):
    """``data_roots`` (resolved directories): where ImportAdapter may read; none disables it."""

    def __init__(self, registry: Registry, base_spec_provider: Callable[[], BaseModelSpec],
                 data_roots: Sequence[Path] = ()) -> None:
        self.registry = registry
        self.base_spec_provider = base_spec_provider
        self.data_roots = [Path(r).resolve() for r in data_roots]

    @grpc_errors
    async def ListAdapters(self, request: registry_pb2.ListAdaptersRequest,
                           context: Any) -> registry_pb2.ListAdaptersResponse:
        name = validate_name(request.name, "name") if request.name else None
        state = convert.state_from_proto(request.state, "state")
        size = paging.page_size(request.page_size)
        digest = paging.filter_digest(name, state)
        offset = paging.decode_page_token(request.page_token, digest)
        rows = await asyncio.to_thread(self.registry.list_versions, name, state, size + 1, offset)
        token = paging.encode_page_token(offset + size, digest) if len(rows) > size else ""
        return registry_pb2.ListAdaptersResponse(
            adapters=[convert.version_to_proto(r) for r in rows[:size]], next_page_token=token)

    @grpc_errors
    async def GetAdapter(self, request: registry_pb2.GetAdapterRequest,
                         context: Any) -> registry_pb2.GetAdapterResponse:
        ref = parse_ref(request.adapter, "adapter")
        if ref is None:
            raise InvalidArgument("must name an adapter: name, name@alias or name@version", field="adapter")
        record = await asyncio.to_thread(self.registry.resolve, ref)
        history = await asyncio.to_thread(self.registry.alias_history, ref.name)
        return registry_pb2.GetAdapterResponse(
            adapter=convert.version_to_proto(record),
            alias_history=[convert.alias_change_to_proto(h) for h in history])

    @grpc_errors
    async def ImportAdapter(self, request: registry_pb2.ImportAdapterRequest,
                            context: Any) -> registry_pb2.ImportAdapterResponse:
        name, _, metrics = validate_import_request(request)
        path = await asyncio.to_thread(confine_path, request.path, self.data_roots, field="path", kind=None,
                                       disabled_hint="; set LORAFLEET_DATA_ROOTS to import adapters from a directory")
        base_spec = await asyncio.to_thread(self.base_spec_provider)
        record = await asyncio.to_thread(
            lambda: self.registry.register_version(
                name, path, base_spec=base_spec,
                lineage={"source": "imported", "imported_from": str(path), "base_model": base_spec.name},
                metrics=metrics, description=request.description))
        return registry_pb2.ImportAdapterResponse(adapter=convert.version_to_proto(record))

    @grpc_errors
    async def SetAlias(self, request: registry_pb2.SetAliasRequest, context: Any) -> registry_pb2.SetAliasResponse:
        name, alias, expected = validate_set_alias_request(request)
        if request.rollback:
            moved, previous = await asyncio.to_thread(
                lambda: self.registry.rollback_alias(name, alias, reason=request.reason,
                                                     expected_current_version=expected))
        else:
            moved, previous = await asyncio.to_thread(
                lambda: self.registry.set_alias(name, alias, request.version,
                                                expected_current_version=expected, reason=request.reason))
        return registry_pb2.SetAliasResponse(alias=convert.alias_to_proto(moved), previous_version=previous)

    @grpc_errors
    async def DeleteAdapter(self, request: registry_pb2.DeleteAdapterRequest,
                            context: Any) -> registry_pb2.DeleteAdapterResponse:
        ref = parse_versioned_ref(request.adapter, "adapter")
        assert ref.version is not None
        record = await asyncio.to_thread(self.registry.delete_version, ref.name, ref.version)
        return registry_pb2.DeleteAdapterResponse(adapter=convert.version_to_proto(record))


def registry_binding(ctx: ServerContext) -> ServiceBinding:
    """RegistryService for any server; the base spec is read on the first import only."""
    servicer = RegistryServicer(ctx.registry, ctx.base_spec, ctx.settings.data_root_paths)
    return ServiceBinding.ready(SERVICE_NAME, servicer, registry_pb2_grpc.add_RegistryServiceServicer_to_server)

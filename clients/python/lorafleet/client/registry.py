"""Typed clients of ``lorafleet.v1.RegistryService`` (hosted by every LoRAFleet server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

from lorafleet.client.base import AsyncTransport, SyncTransport
from lorafleet.names import ADAPTER_STATES
from lorafleet.refs import DEFAULT_ALIAS
from lorafleet.v1 import common_pb2, registry_pb2, registry_pb2_grpc


def adapter_state(state: str | int | None) -> int:
    """``"promoted"``, ``"PROMOTED"``, ``"ADAPTER_STATE_PROMOTED"`` or the enum number -> enum number."""
    return ADAPTER_STATES.value(state)


class RegistryApi:
    """RegistryService methods, shared by the sync and the asyncio client (see ``base``)."""

    stub_class = registry_pb2_grpc.RegistryServiceStub

    def list_adapters(self, name: str = "", state: str | int | None = None, *, page_size: int = 0,
                      page_token: str = "") -> registry_pb2.ListAdaptersResponse:
        """One page of adapter versions (filter by name and/or state)."""
        return self._unary("ListAdapters", registry_pb2.ListAdaptersRequest(
            name=name, state=adapter_state(state), page_size=page_size, page_token=page_token))

    def get_adapter(self, ref: str) -> registry_pb2.GetAdapterResponse:
        """``name`` (production alias), ``name@alias`` or ``name@version``; includes alias history."""
        return self._unary("GetAdapter", registry_pb2.GetAdapterRequest(adapter=ref))

    def import_adapter(self, name: str, path: str | Path, *, description: str = "",
                       metrics: Mapping[str, float] | None = None) -> registry_pb2.ImportAdapterResponse:
        """Register a PEFT adapter directory that the *server* can read (under its data roots)."""
        return self._unary("ImportAdapter", registry_pb2.ImportAdapterRequest(
            name=name, path=str(path), description=description, metrics=dict(metrics or {})))

    def set_alias(self, name: str, version: int, alias: str = DEFAULT_ALIAS, *, expected_current_version: int = 0,
                  reason: str = "") -> registry_pb2.SetAliasResponse:
        """Point ``name@alias`` at ``version`` (promote); compare-and-set when expected_current_version > 0."""
        return self._unary("SetAlias", registry_pb2.SetAliasRequest(
            name=name, alias=alias, version=version, expected_current_version=expected_current_version, reason=reason))

    def rollback(self, name: str, alias: str = DEFAULT_ALIAS, *, reason: str = "") -> registry_pb2.SetAliasResponse:
        """Move ``name@alias`` back to the version it pointed at before its last move."""
        return self._unary("SetAlias", registry_pb2.SetAliasRequest(name=name, alias=alias, rollback=True,
                                                                    reason=reason))

    def delete(self, ref: str) -> registry_pb2.DeleteAdapterResponse:
        """Delete ``name@version`` (refused while an alias points at it)."""
        return self._unary("DeleteAdapter", registry_pb2.DeleteAdapterRequest(adapter=ref))


class RegistryClient(RegistryApi, SyncTransport):
    def iter_adapters(self, name: str = "", state: str | int | None = None, *,
                      page_size: int = 100) -> Iterator[common_pb2.AdapterVersion]:
        """Every matching adapter version, following ``next_page_token``."""
        token = ""
        while True:
            page = self.list_adapters(name, state, page_size=page_size, page_token=token)
            yield from page.adapters
            token = page.next_page_token
            if not token:
                return


class AsyncRegistryClient(RegistryApi, AsyncTransport):
    async def iter_adapters(self, name: str = "", state: str | int | None = None, *,
                            page_size: int = 100) -> AsyncIterator[common_pb2.AdapterVersion]:
        token = ""
        while True:
            page = await self.list_adapters(name, state, page_size=page_size, page_token=token)
            for adapter in page.adapters:
                yield adapter
            token = page.next_page_token
            if not token:
                return

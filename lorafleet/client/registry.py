"""Typed client of ``lorafleet.v1.RegistryService`` (hosted by every LoRAFleet server)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from lorafleet.client.base import ServiceClient
from lorafleet.registry.refs import DEFAULT_ALIAS
from lorafleet.v1 import common_pb2, registry_pb2, registry_pb2_grpc


def adapter_state(state: str | int | None) -> int:
    """``"promoted"``, ``"PROMOTED"``, ``"ADAPTER_STATE_PROMOTED"`` or the enum number -> enum number."""
    if state is None or state == "":
        return common_pb2.ADAPTER_STATE_UNSPECIFIED
    if isinstance(state, int):
        common_pb2.AdapterState.Name(state)  # ValueError for unknown numbers
        return state
    name = state.strip().upper()
    if not name.startswith("ADAPTER_STATE_"):
        name = "ADAPTER_STATE_" + name
    try:
        return common_pb2.AdapterState.Value(name)
    except ValueError:
        choices = [n.removeprefix("ADAPTER_STATE_") for n in common_pb2.AdapterState.keys()[1:]]
        raise ValueError(f"{state!r} is not an adapter state ({', '.join(choices)})") from None


class RegistryClient(ServiceClient):
    stub_class = registry_pb2_grpc.RegistryServiceStub

    def list_adapters(
        self, name: str = "", state: str | int | None = None, *, page_size: int = 0, page_token: str = ""
    ) -> registry_pb2.ListAdaptersResponse:
        """One page of adapter versions (filter by name and/or state)."""
        return self._call("ListAdapters", registry_pb2.ListAdaptersRequest(
            name=name, state=adapter_state(state), page_size=page_size, page_token=page_token
        ))

    def iter_adapters(
        self, name: str = "", state: str | int | None = None, *, page_size: int = 100
    ) -> Iterator[common_pb2.AdapterVersion]:
        """Every matching adapter version, following ``next_page_token``."""
        token = ""
        while True:
            page = self.list_adapters(name, state, page_size=page_size, page_token=token)
            yield from page.adapters
            token = page.next_page_token
            if not token:
                return

    def get_adapter(self, ref: str) -> registry_pb2.GetAdapterResponse:
        """``name`` (production alias), ``name@alias`` or ``name@version``; includes alias history."""
        return self._call("GetAdapter", registry_pb2.GetAdapterRequest(adapter=ref))

    def import_adapter(
        self, name: str, path: str | Path, *, description: str = "", metrics: Mapping[str, float] | None = None
    ) -> registry_pb2.ImportAdapterResponse:
        """Register a PEFT adapter directory that the *server* can read (shared disk or volume)."""
        return self._call("ImportAdapter", registry_pb2.ImportAdapterRequest(
            name=name, path=str(path), description=description, metrics=dict(metrics or {})
        ))

    def set_alias(
        self, name: str, version: int, alias: str = DEFAULT_ALIAS, *, expected_current_version: int = 0, reason: str = ""
    ) -> registry_pb2.SetAliasResponse:
        """Point ``name@alias`` at ``version`` (promote); compare-and-set when expected_current_version > 0."""
        return self._call("SetAlias", registry_pb2.SetAliasRequest(
            name=name, alias=alias, version=version,
            expected_current_version=expected_current_version, reason=reason,
        ))

    def rollback(self, name: str, alias: str = DEFAULT_ALIAS, *, reason: str = "") -> registry_pb2.SetAliasResponse:
        """Move ``name@alias`` back to the version it pointed at before its last move."""
        return self._call("SetAlias", registry_pb2.SetAliasRequest(name=name, alias=alias, rollback=True, reason=reason))

    def delete(self, ref: str) -> registry_pb2.DeleteAdapterResponse:
        """Delete ``name@version`` (refused while an alias points at it)."""
        return self._call("DeleteAdapter", registry_pb2.DeleteAdapterRequest(adapter=ref))

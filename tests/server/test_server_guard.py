"""The server-wide guard (lorafleet/server/guard.py): every failure kind ends in a short, safe status.

* a body that is not a valid request message -> INVALID_ARGUMENT, on unary, server-streaming and
  bidi methods alike (grpc.aio alone answers UNKNOWN "Unexpected <class 'DecodeError'>");
* an adapter name of 1 MiB -> a short INVALID_ARGUMENT (it used to come back RESOURCE_EXHAUSTED
  "received metadata size exceeds hard limit", the message repeating the whole name);
* any other exception leaving a handler -> INTERNAL "internal error in <method> (<type>, incident
  <id>)", never the exception text or the input; an unreachable database -> UNAVAILABLE;
* a domain error with a huge message -> cut to 1 KiB;
* with auth on, an unauthenticated call is refused before its body is looked at.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2

from lorafleet.config import Settings
from lorafleet.errors import InvalidArgument
from lorafleet.server.background import BackgroundServer
from lorafleet.server.binding import ServiceBinding
from lorafleet.server.registry_service import registry_binding
from lorafleet.v1 import registry_pb2

BOOM = "lorafleet.test.Boom"
SECRET = "do-not-echo-this"


def boom_binding() -> ServiceBinding:
    """A test service whose handlers fail in every way a servicer can, without @grpc_errors."""
    from sqlalchemy.exc import OperationalError

    async def raise_value(request: bytes, context: Any) -> bytes:
        raise ValueError(SECRET + request.decode(errors="replace") * 1000)

    async def database(request: bytes, context: Any) -> bytes:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError(f"connection refused {SECRET}"))

    async def long_domain_error(request: bytes, context: Any) -> bytes:
        raise InvalidArgument("x" * 100_000, field="f")

    async def stream_then_fail(request: bytes, context: Any) -> Any:
        yield b"first"
        await asyncio.sleep(0)
        raise RuntimeError(SECRET)

    handler = grpc.method_handlers_generic_handler(BOOM, {
        "Raise": grpc.unary_unary_rpc_method_handler(raise_value),
        "Database": grpc.unary_unary_rpc_method_handler(database),
        "Long": grpc.unary_unary_rpc_method_handler(long_domain_error),
        "Stream": grpc.unary_stream_rpc_method_handler(stream_then_fail),
    })
    return ServiceBinding.ready(BOOM, handler, lambda h, server: server.add_generic_rpc_handlers((h,)))


@pytest.fixture
def guarded_server(fleet_settings: Settings):
    with BackgroundServer("eval", fleet_settings, port=0, metrics_port=0,
                          bindings=lambda ctx: [registry_binding(ctx), boom_binding()]) as server:
        yield server


def _status(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        result = call()
        if hasattr(result, "__iter__") and not isinstance(result, bytes):
            list(result)
    return err.value.code(), err.value.details()


def test_a_0x00_body_is_invalid_argument_on_every_kind_of_method(guarded_server) -> None:
    with grpc.insecure_channel(guarded_server.address) as channel:
        for method in ("ListAdapters", "GetAdapter", "ImportAdapter", "SetAlias", "DeleteAdapter"):
            code, details = _status(lambda m=method: channel.unary_unary(f"/lorafleet.v1.RegistryService/{m}")(
                b"\x00", timeout=10))
            assert code == grpc.StatusCode.INVALID_ARGUMENT, (method, code, details)
            assert details == f"request: body is not a valid lorafleet.v1.{method}Request message"
        watch = channel.unary_stream("/grpc.health.v1.Health/Watch")
        assert _status(lambda: watch(b"\x00", timeout=10))[0] == grpc.StatusCode.INVALID_ARGUMENT
        reflect = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
        assert _status(lambda: reflect(iter([b"\x00"]), timeout=10))[0] == grpc.StatusCode.INVALID_ARGUMENT
        # a valid body on the same channel still works, and so does the server
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        reply = health_pb2.HealthCheckResponse.FromString(check(health_pb2.HealthCheckRequest().SerializeToString()))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("length", [10_000, 1_048_576])
def test_a_huge_adapter_name_gets_a_short_invalid_argument(guarded_server, length: int) -> None:
    with grpc.insecure_channel(guarded_server.address) as channel:
        get = channel.unary_unary("/lorafleet.v1.RegistryService/GetAdapter",
                                  request_serializer=registry_pb2.GetAdapterRequest.SerializeToString)
        code, details = _status(lambda: get(registry_pb2.GetAdapterRequest(adapter="a" * length), timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("adapter: ") and len(details) < 200 and f"({length} characters)" in details


def test_an_escaping_exception_is_a_short_internal_with_an_incident_id(guarded_server, caplog) -> None:
    with grpc.insecure_channel(guarded_server.address) as channel:
        code, details = _status(lambda: channel.unary_unary(f"/{BOOM}/Raise")(b"my input", timeout=10))
        assert code == grpc.StatusCode.INTERNAL
        match = re.fullmatch(rf"internal error in {BOOM}\.Raise \(ValueError, incident ([0-9a-f]{{12}})\)", details)
        assert match, details
        assert any(getattr(r, "incident", None) == match.group(1) and r.exc_info for r in caplog.records)

        code, details = _status(lambda: channel.unary_stream(f"/{BOOM}/Stream")(b"", timeout=10))
        assert code == grpc.StatusCode.INTERNAL and SECRET not in details and "RuntimeError" in details


def test_an_unreachable_database_is_unavailable(guarded_server) -> None:
    with grpc.insecure_channel(guarded_server.address) as channel:
        code, details = _status(lambda: channel.unary_unary(f"/{BOOM}/Database")(b"", timeout=10))
    assert code == grpc.StatusCode.UNAVAILABLE and SECRET not in details and details.startswith("registry: ")


def test_a_huge_domain_message_is_cut_to_1_kib(guarded_server) -> None:
    with grpc.insecure_channel(guarded_server.address) as channel:
        code, details = _status(lambda: channel.unary_unary(f"/{BOOM}/Long")(b"", timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("f: xxx") and details.endswith("…") and len(details.encode()) <= 1024


def test_auth_comes_before_the_body(fleet_settings: Settings) -> None:
    settings = fleet_settings.replace(auth_tokens="s3cret")
    with BackgroundServer("eval", settings, port=0, metrics_port=0,
                          bindings=lambda ctx: [registry_binding(ctx)]) as server, \
            grpc.insecure_channel(server.address) as channel:
        list_adapters = channel.unary_unary("/lorafleet.v1.RegistryService/ListAdapters")
        assert _status(lambda: list_adapters(b"\x00", timeout=10))[0] == grpc.StatusCode.UNAUTHENTICATED
        authorized = [("authorization", "Bearer s3cret")]
        assert _status(lambda: list_adapters(b"\x00", timeout=10, metadata=authorized))[0] == \
            grpc.StatusCode.INVALID_ARGUMENT

"""Bearer-token auth: UNAUTHENTICATED without a valid token, PERMISSION_DENIED for read-only writes."""

from __future__ import annotations

import string

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from hypothesis import given
from hypothesis import strategies as st
from lorafleet_testkit import free_port, registry_only, sample, scrape_metrics

from lorafleet.client import LoraFleetClient
from lorafleet.errors import InvalidArgument
from lorafleet.server.auth import authorize, is_read_only_method, parse_auth_tokens
from lorafleet.server.background import BackgroundServer
from lorafleet.v1 import registry_pb2, registry_pb2_grpc

FULL, READ = "full-secret-1", "read-secret-2"


@pytest.fixture
def auth_server(fleet_settings):
    settings = fleet_settings.replace(auth_tokens=f"{FULL}, {READ}:read")
    with BackgroundServer("eval", settings, port=0, metrics_port=free_port(), bindings=registry_only) as server:
        yield server


def _list(channel, metadata=()):
    return registry_pb2_grpc.RegistryServiceStub(channel).ListAdapters(
        registry_pb2.ListAdaptersRequest(), metadata=metadata, timeout=10)


def _code(fn) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return err.value.code()


def test_calls_without_a_valid_token_are_unauthenticated(auth_server):
    with grpc.insecure_channel(auth_server.address) as channel:
        assert _code(lambda: _list(channel)) == grpc.StatusCode.UNAUTHENTICATED
        assert _code(lambda: _list(channel, [("authorization", "Bearer wrong")])) == grpc.StatusCode.UNAUTHENTICATED
        assert _code(lambda: _list(channel, [("authorization", FULL)])) == grpc.StatusCode.UNAUTHENTICATED  # no scheme
        assert _code(lambda: _list(channel, [("authorization", f"Basic {FULL}")])) == grpc.StatusCode.UNAUTHENTICATED
        assert _list(channel, [("authorization", f"Bearer {FULL}")]).adapters == []
        assert _list(channel, [("authorization", f"bearer {READ}")]).adapters == []


def test_read_only_token_cannot_change_state(auth_server):
    with (LoraFleetClient(auth_server.address, token=READ) as reader,
          LoraFleetClient(auth_server.address, token=FULL) as writer):
        assert list(reader.registry.iter_adapters()) == []
        with pytest.raises(grpc.RpcError) as denied:
            reader.registry.import_adapter("bot", "/nonexistent/adapter")
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "read-only" in denied.value.details()
        for call in (lambda: reader.registry.set_alias("bot", 1), lambda: reader.registry.delete("bot@1")):
            assert _code(call) == grpc.StatusCode.PERMISSION_DENIED
        # The full token passes auth and reaches the servicer, which judges the request itself.
        assert (_code(lambda: writer.registry.import_adapter("bot", "/nonexistent/adapter"))
                != grpc.StatusCode.PERMISSION_DENIED)
        assert _code(lambda: reader.registry.get_adapter("bot")) == grpc.StatusCode.NOT_FOUND


def test_health_and_reflection_need_no_token(auth_server):
    with grpc.insecure_channel(auth_server.address) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.SERVING
        assert "lorafleet.v1.RegistryService" in ProtoReflectionDescriptorDatabase(channel).get_services()


def test_refused_calls_are_counted_with_their_code(auth_server):
    labels = dict(grpc_type="unary", grpc_service="lorafleet.v1.RegistryService", grpc_method="ListAdapters")
    before = scrape_metrics(auth_server.metrics_port)
    with grpc.insecure_channel(auth_server.address) as channel:
        _code(lambda: _list(channel))
    after = scrape_metrics(auth_server.metrics_port)
    name = "lorafleet_grpc_server_handled_total"
    refused = dict(labels, grpc_code="UNAUTHENTICATED")
    assert sample(after, name, **refused) - sample(before, name, **refused) == 1


# -- pure functions ---------------------------------------------------------------------------

secrets = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=40)
methods = st.sampled_from([
    "ListAdapters", "GetAdapter", "ImportAdapter", "SetAlias", "DeleteAdapter", "Generate", "GenerateStream",
    "GetModelInfo", "LoadAdapter", "UnloadAdapter", "CreateTrainingJob", "WatchTrainingJob", "CancelTrainingJob",
    "UploadDataset", "CreateEvaluation", "WatchEvaluation", "ListSuites",
])
MUTATING = {"ImportAdapter", "SetAlias", "DeleteAdapter", "LoadAdapter", "UnloadAdapter", "CreateTrainingJob",
            "CancelTrainingJob", "UploadDataset", "CreateEvaluation"}


@given(full=st.lists(secrets, max_size=3), read=st.lists(secrets, max_size=3))
def test_parse_auth_tokens_round_trip(full, read):
    text = ",".join([*full, *(f"{t}:read" for t in read)] + [" "])
    tokens = parse_auth_tokens(text)
    assert [(t.secret, t.scope) for t in tokens] == [(t, "full") for t in full] + [(t, "read") for t in read]


def test_tokens_never_print_their_secret():
    tokens = parse_auth_tokens("Zq9-secret-value,Xy7-other:read")
    assert "secret-value" not in repr(tokens) and "Xy7" not in repr(tokens) and "Xy7" not in str(tokens)


@pytest.mark.parametrize("text", ["tok:write", "tok:", ":read", "a b:read"])
def test_parse_auth_tokens_rejects_bad_entries(text):
    with pytest.raises(InvalidArgument) as err:
        parse_auth_tokens(f"ok,{text}")
    assert err.value.field == "auth_tokens" and "entry 1" in err.value.message


@given(secret=secrets, other=secrets, method=methods, read_only=st.booleans())
def test_authorize_decisions(secret, other, method, read_only):
    tokens = parse_auth_tokens(f"{secret}:read" if read_only else secret)
    full_method = f"/lorafleet.v1.SomeService/{method}"
    decision = authorize(tokens, full_method, f"Bearer {secret}")
    if read_only and method in MUTATING:
        assert decision is not None and decision[0] == grpc.StatusCode.PERMISSION_DENIED
    else:
        assert decision is None
    assert is_read_only_method(method) == (method not in MUTATING)
    if other != secret:
        assert authorize(tokens, full_method, f"Bearer {other}")[0] == grpc.StatusCode.UNAUTHENTICATED
    assert authorize(tokens, full_method, None)[0] == grpc.StatusCode.UNAUTHENTICATED
    assert authorize(tokens, "/grpc.health.v1.Health/Check", None) is None

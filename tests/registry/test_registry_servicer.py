"""RegistryService over a real grpc.aio server on a loopback port; every error code asserted."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from lorafleet.adapters.synthetic import write_lora_adapter, write_tiny_llama
from lorafleet.base_model import read_base_model_spec
from lorafleet.config import Settings
from lorafleet.registry.models import AdapterState
from lorafleet.registry.store import Registry
from lorafleet.server.context import ServerContext
from lorafleet.server.registry_service import SERVICE_NAME, RegistryServicer, registry_binding
from lorafleet.v1 import common_pb2, registry_pb2, registry_pb2_grpc


class LoopbackServer:
    """A grpc.aio server on 127.0.0.1:0 running in its own event-loop thread."""

    def __init__(self, add_to_server) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start() -> tuple[grpc.aio.Server, int]:
            server = grpc.aio.server()
            add_to_server(server)
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            return server, port

        self.server, self.port = asyncio.run_coroutine_threadsafe(start(), self.loop).result(30)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.stub = registry_pb2_grpc.RegistryServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()
        asyncio.run_coroutine_threadsafe(self.server.stop(0), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


# ImportAdapter reads only inside the data roots; the tests' adapters are under the temp directory.
TEMP_ROOT = Path(tempfile.gettempdir()).resolve()


def _serve(registry: Registry, spec_provider) -> LoopbackServer:
    servicer = RegistryServicer(registry, spec_provider, [TEMP_ROOT])
    return LoopbackServer(lambda server: registry_pb2_grpc.add_RegistryServiceServicer_to_server(servicer, server))


@pytest.fixture
def sqlite_registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "artifacts")
    yield reg
    reg.close()


@pytest.fixture
def stub(sqlite_registry, tiny_spec) -> Iterator[registry_pb2_grpc.RegistryServiceStub]:
    server = _serve(sqlite_registry, lambda: tiny_spec)
    yield server.stub
    server.close()


def _code(call, request) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call(request)
    return err.value.code(), err.value.details()


def _import(stub, name: str, path: Path, **kw) -> common_pb2.AdapterVersion:
    return stub.ImportAdapter(registry_pb2.ImportAdapterRequest(name=name, path=str(path), **kw)).adapter


def test_import_get_list_round_trip(stub, adapter_dir, tiny_spec):
    got = _import(stub, "bot", adapter_dir, description="hand-made", metrics={"loss": 0.5})
    assert (got.name, got.version, got.state) == ("bot", 1, common_pb2.ADAPTER_STATE_CANDIDATE)
    assert got.base_fingerprint == tiny_spec.fingerprint
    assert got.lineage.source == "imported" and got.lineage.imported_from == str(adapter_dir)
    assert got.lora_config.r == 4 and list(got.lora_config.target_modules) == ["q_proj", "v_proj"]
    assert len(got.resolved_target_modules) == 4 and got.metrics == {"loss": 0.5}
    assert Path(got.artifact_path, "adapter_model.safetensors").is_file()
    assert got.create_time.seconds > 0
    assert _import(stub, "bot", adapter_dir).version == 2  # every import is a new version
    fetched = stub.GetAdapter(registry_pb2.GetAdapterRequest(adapter="bot@1")).adapter
    assert fetched == got
    listed = stub.ListAdapters(registry_pb2.ListAdaptersRequest(name="bot"))
    assert [a.version for a in listed.adapters] == [2, 1] and listed.next_page_token == ""


def test_import_errors(stub, tmp_path, adapter_dir, tiny_spec):
    imp = stub.ImportAdapter
    assert _code(imp, registry_pb2.ImportAdapterRequest(name="", path=str(adapter_dir))) == \
        (grpc.StatusCode.INVALID_ARGUMENT, "name: must not be empty")
    code, details = _code(imp, registry_pb2.ImportAdapterRequest(name="Bot", path=str(adapter_dir)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("name:")
    code, details = _code(imp, registry_pb2.ImportAdapterRequest(name="bot", path="relative/dir"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("path:") and "absolute" in details
    code, details = _code(imp, registry_pb2.ImportAdapterRequest(name="bot", path=str(tmp_path / "nope")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("path:")
    code, details = _code(imp, registry_pb2.ImportAdapterRequest(name="bot", path=str(adapter_dir),
                                                                 metrics={"x": float("nan")}))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("metrics:")
    pickled = shutil.copytree(adapter_dir, tmp_path / "pickled")
    (pickled / "adapter_model.safetensors").rename(pickled / "adapter_model.bin")
    code, details = _code(imp, registry_pb2.ImportAdapterRequest(name="bot", path=str(pickled)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "safetensors" in details
    other = read_base_model_spec(write_tiny_llama(tmp_path / "wide", hidden_size=64, intermediate_size=128))
    foreign = write_lora_adapter(tmp_path / "foreign", other)
    code, details = _code(imp, registry_pb2.ImportAdapterRequest(name="bot", path=str(foreign)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and details.startswith("path:")
    assert stub.ListAdapters(registry_pb2.ListAdaptersRequest()).adapters == []


def test_set_alias_promote_rollback_and_errors(stub, sqlite_registry, adapter_dir):
    for _ in range(3):
        _import(stub, "bot", adapter_dir)
    set_alias = stub.SetAlias
    resp = set_alias(registry_pb2.SetAliasRequest(name="bot", alias="production", version=1, reason="launch"))
    assert (resp.alias.version, resp.previous_version) == (1, 0)
    resp = set_alias(registry_pb2.SetAliasRequest(name="bot", alias="production", version=2,
                                                  expected_current_version=1))
    assert (resp.alias.version, resp.previous_version) == (2, 1)
    code, details = _code(set_alias, registry_pb2.SetAliasRequest(name="bot", alias="production", version=3,
                                                                   expected_current_version=1))
    assert code == grpc.StatusCode.ABORTED and details.startswith("expected_current_version:")
    code, details = _code(set_alias, registry_pb2.SetAliasRequest(name="bot", alias="production", version=9))
    assert code == grpc.StatusCode.NOT_FOUND and details.startswith("version:")
    code, _ = _code(set_alias, registry_pb2.SetAliasRequest(name="ghost", alias="production", version=1))
    assert code == grpc.StatusCode.NOT_FOUND
    sqlite_registry.set_state("bot", 3, AdapterState.REJECTED)
    code, details = _code(set_alias, registry_pb2.SetAliasRequest(name="bot", alias="production", version=3))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "REJECTED" in details
    code, details = _code(set_alias, registry_pb2.SetAliasRequest(name="bot", alias="production", version=1,
                                                                   rollback=True))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("version:")
    code, details = _code(set_alias, registry_pb2.SetAliasRequest(name="bot", alias="production"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("version:")
    code, details = _code(set_alias, registry_pb2.SetAliasRequest(name="bot", alias="9lives", version=1))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("alias:")
    code, details = _code(set_alias, registry_pb2.SetAliasRequest(name="bot", alias="canary", rollback=True))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and details.startswith("alias:")

    resp = set_alias(registry_pb2.SetAliasRequest(name="bot", alias="production", rollback=True, reason="regression"))
    assert (resp.alias.version, resp.previous_version) == (1, 2)
    got = stub.GetAdapter(registry_pb2.GetAdapterRequest(adapter="bot"))
    assert got.adapter.version == 1 and list(got.adapter.aliases) == ["production"]
    assert [(h.from_version, h.to_version, h.reason) for h in got.alias_history] == [
        (0, 1, "launch"), (1, 2, ""), (2, 1, "rollback: regression")]


def test_get_adapter_errors(stub, adapter_dir):
    _import(stub, "bot", adapter_dir)
    get = stub.GetAdapter
    assert _code(get, registry_pb2.GetAdapterRequest(adapter=""))[0] == grpc.StatusCode.INVALID_ARGUMENT
    code, details = _code(get, registry_pb2.GetAdapterRequest(adapter="bot@"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("adapter:")
    code, details = _code(get, registry_pb2.GetAdapterRequest(adapter="bot"))
    assert code == grpc.StatusCode.NOT_FOUND and "production" in details
    assert _code(get, registry_pb2.GetAdapterRequest(adapter="bot@2"))[0] == grpc.StatusCode.NOT_FOUND
    assert _code(get, registry_pb2.GetAdapterRequest(adapter="ghost@canary"))[0] == grpc.StatusCode.NOT_FOUND


def test_delete_adapter(stub, adapter_dir):
    first = _import(stub, "bot", adapter_dir)
    _import(stub, "bot", adapter_dir)
    stub.SetAlias(registry_pb2.SetAliasRequest(name="bot", alias="production", version=1))
    delete = stub.DeleteAdapter
    code, details = _code(delete, registry_pb2.DeleteAdapterRequest(adapter="bot@1"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "bot@production" in details
    code, details = _code(delete, registry_pb2.DeleteAdapterRequest(adapter="bot"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("adapter:")
    stub.SetAlias(registry_pb2.SetAliasRequest(name="bot", alias="production", version=2))
    gone = delete(registry_pb2.DeleteAdapterRequest(adapter="bot@1")).adapter
    assert gone.version == 1 and not Path(first.artifact_path).exists()
    assert _code(delete, registry_pb2.DeleteAdapterRequest(adapter="bot@1"))[0] == grpc.StatusCode.NOT_FOUND


def test_list_adapters_paging_and_filters(stub, sqlite_registry, adapter_dir):
    for name in ("a", "b", "b", "b", "c"):
        _import(stub, name, adapter_dir)
    sqlite_registry.set_state("b", 2, AdapterState.PROMOTED)
    seen, token, pages = [], "", 0
    while True:
        resp = stub.ListAdapters(registry_pb2.ListAdaptersRequest(page_size=2, page_token=token))
        seen += [f"{a.name}@{a.version}" for a in resp.adapters]
        pages += 1
        token = resp.next_page_token
        if not token:
            break
    assert seen == ["a@1", "b@3", "b@2", "b@1", "c@1"] and pages == 3
    promoted = stub.ListAdapters(registry_pb2.ListAdaptersRequest(state=common_pb2.ADAPTER_STATE_PROMOTED))
    assert [f"{a.name}@{a.version}" for a in promoted.adapters] == ["b@2"]
    first = stub.ListAdapters(registry_pb2.ListAdaptersRequest(name="b", page_size=1))
    lst = stub.ListAdapters
    code, details = _code(lst, registry_pb2.ListAdaptersRequest(name="c", page_token=first.next_page_token))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("page_token:")
    code, details = _code(lst, registry_pb2.ListAdaptersRequest(page_token="not-a-token"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("page_token:")
    code, details = _code(lst, registry_pb2.ListAdaptersRequest(state=42))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("state:")
    code, details = _code(lst, registry_pb2.ListAdaptersRequest(name="B"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("name:")


def test_registry_binding_reads_base_spec_lazily(tmp_path, tiny_base_dir, adapter_dir):
    settings = Settings.from_env({}, home=tmp_path / "home", base_model=str(tiny_base_dir),
                                 data_roots=str(adapter_dir.parent))
    registry = Registry.from_settings(settings)
    ctx = ServerContext(settings=settings, registry=registry, role="eval")
    binding = registry_binding(ctx)
    assert binding.service_name == SERVICE_NAME == "lorafleet.v1.RegistryService"
    assert ctx._base_dir is None  # nothing provisioned until an import needs the base
    started = asyncio.run(binding.start())
    server = LoopbackServer(lambda s: started.add_to_server(started.servicer, s))
    try:
        got = server.stub.ImportAdapter(registry_pb2.ImportAdapterRequest(name="bot", path=str(adapter_dir))).adapter
        assert got.base_fingerprint == read_base_model_spec(tiny_base_dir).fingerprint
        assert got.artifact_path.startswith(str(settings.resolved_artifacts_dir.resolve()))
    finally:
        server.close()
        registry.close()


def test_import_real_peft_adapter_for_smollm2(real_base_model_dir, tiny_base_dir, tmp_path):
    """peft-made adapters: one for the real base is accepted, one for a tiny Llama is refused."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    real_spec = read_base_model_spec(real_base_model_dir, name="smollm2-135m-instruct")
    for base, out in ((real_base_model_dir, tmp_path / "real"), (tiny_base_dir, tmp_path / "tiny")):
        model = AutoModelForCausalLM.from_pretrained(str(base))
        config = LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"])
        get_peft_model(model, config).save_pretrained(str(out))
        del model
    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "artifacts")
    server = _serve(registry, lambda: real_spec)
    try:
        got = _import(server.stub, "support-bot", tmp_path / "real")
        assert got.version == 1 and got.base_fingerprint == real_spec.fingerprint
        assert got.lora_config.r == 8 and len(got.resolved_target_modules) == 2 * real_spec.num_layers == 60
        code, details = _code(server.stub.ImportAdapter,
                              registry_pb2.ImportAdapterRequest(name="support-bot", path=str(tmp_path / "tiny")))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "smollm2-135m-instruct" in details
    finally:
        server.close()
        registry.close()

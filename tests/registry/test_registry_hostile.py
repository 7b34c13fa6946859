"""Registry hostile input: non-finite weights, out-of-range LoRA configs, ImportAdapter outside the
data roots, and an outage in the middle of a registration (nothing half-written)."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
import torch
from safetensors.torch import load_file, save_file

from lorafleet.adapters.finite import nonfinite_tensors
from lorafleet.adapters.peft_dir import CONFIG_FILE, WEIGHTS_FILE
from lorafleet.adapters.synthetic import write_lora_adapter
from lorafleet.config import Settings
from lorafleet.errors import InvalidArgument, Unavailable
from lorafleet.registry.store import Registry
from lorafleet.server.background import BackgroundServer
from lorafleet.server.registry_service import registry_binding
from lorafleet.v1 import registry_pb2, registry_pb2_grpc


def _poison(adapter: Path, value: float, dtype: torch.dtype = torch.float32) -> str:
    """Put ``value`` into one lora_B weight of ``adapter`` (saved as ``dtype``); returns the tensor's name."""
    tensors = {k: v.to(dtype) for k, v in load_file(str(adapter / WEIGHTS_FILE)).items()}
    name = sorted(k for k in tensors if k.endswith("lora_B.weight"))[-1]
    tensors[name][3, 1] = value
    save_file(tensors, str(adapter / WEIGHTS_FILE), metadata={"format": "pt"})
    return name


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nonfinite_values_are_found_in_every_float_dtype(tmp_path, tiny_spec, dtype, value) -> None:
    adapter = write_lora_adapter(tmp_path / "a", tiny_spec, dtype=dtype)
    assert nonfinite_tensors(adapter / WEIGHTS_FILE) == []
    name = _poison(adapter, value, dtype)
    assert nonfinite_tensors(adapter / WEIGHTS_FILE) == [name]


@pytest.mark.parametrize("source", ["trained", "imported"])
def test_nonfinite_weights_are_never_registered(registry: Registry, tmp_path, tiny_spec, source) -> None:
    adapter = write_lora_adapter(tmp_path / "a", tiny_spec)
    name = _poison(adapter, float("nan"))
    with pytest.raises(InvalidArgument) as err:
        registry.register_version("bot", adapter, base_spec=tiny_spec, lineage={"source": source})
    assert err.value.field == "path" and name in err.value.message and "NaN or Inf" in err.value.message
    assert registry.list_versions() == []
    assert not any((registry.artifacts.root / "adapters").rglob("*.safetensors"))


BAD_CONFIGS = [({"lora_alpha": 3.4e38}, "lora_alpha"), ({"lora_alpha": "nan"}, "lora_alpha"),
               ({"lora_alpha": 0}, "lora_alpha"), ({"r": 5000}, "r must")]


@pytest.mark.parametrize("config,fragment", BAD_CONFIGS)
def test_out_of_range_lora_configs_are_refused(registry: Registry, tmp_path, tiny_spec, config, fragment) -> None:
    adapter = write_lora_adapter(tmp_path / "a", tiny_spec)
    cfg = json.loads((adapter / CONFIG_FILE).read_text())
    (adapter / CONFIG_FILE).write_text(json.dumps({**cfg, **config}))
    with pytest.raises(InvalidArgument, match=fragment):
        registry.register_version("bot", adapter, base_spec=tiny_spec, lineage={"source": "imported"})


def test_an_outage_while_registering_leaves_a_complete_unregistered_dir(registry, tmp_path, tiny_spec,
                                                                        monkeypatch) -> None:
    adapter = write_lora_adapter(tmp_path / "a", tiny_spec)

    def broken(*args, **kwargs):
        raise Unavailable("the registry database is unavailable (OperationalError); retry", field="registry")

    with monkeypatch.context() as patch:
        patch.setattr(Registry, "_load_version", broken)  # fails after the dir was published, before COMMIT
        with pytest.raises(Unavailable):
            registry.register_version("bot", adapter, base_spec=tiny_spec, lineage={"source": "imported"})
    kept = registry.artifacts.path("adapters/bot/1")
    assert (kept / WEIGHTS_FILE).is_file() and (kept / CONFIG_FILE).is_file()  # whole, not half
    assert registry.list_versions() == []  # the row is what makes a version exist
    again = registry.register_version("bot", adapter, base_spec=tiny_spec, lineage={"source": "imported"})
    assert again.version == 1 and Path(again.artifact_path, WEIGHTS_FILE).is_file()


def test_a_failed_registration_removes_its_dir(registry, tmp_path, tiny_spec, monkeypatch) -> None:
    adapter = write_lora_adapter(tmp_path / "a", tiny_spec)
    monkeypatch.setattr(Registry, "_load_version", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("bug")))
    with pytest.raises(RuntimeError):
        registry.register_version("bot", adapter, base_spec=tiny_spec, lineage={"source": "imported"})
    assert not registry.artifacts.path("adapters/bot/1").exists()


# -- ImportAdapter is confined to the data roots ----------------------------------------------
@pytest.fixture
def import_server(tmp_path: Path, tiny_base_dir: Path, tiny_spec):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    write_lora_adapter(root / "good", tiny_spec)
    write_lora_adapter(outside / "evil", tiny_spec)
    (root / "escape").symlink_to(outside / "evil")
    settings = Settings.from_env({}, home=tmp_path / "home", base_model=str(tiny_base_dir), data_roots=str(root),
                                 log_format="text")
    with BackgroundServer("eval", settings, port=0, metrics_port=0,
                          bindings=lambda ctx: [registry_binding(ctx)]) as server, \
            grpc.insecure_channel(server.address) as channel:
        yield registry_pb2_grpc.RegistryServiceStub(channel), root, outside


def _import_status(stub, path: str) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        stub.ImportAdapter(registry_pb2.ImportAdapterRequest(name="bot", path=path), timeout=30)
    return err.value.code(), err.value.details()


def test_import_adapter_reads_only_inside_the_data_roots(import_server) -> None:
    stub, root, outside = import_server
    for path, fragment in ((str(outside / "evil"), "outside the configured data roots"),
                           (str(root / "escape"), "outside the configured data roots"),
                           (f"{root}/../outside/evil", "'..'"),
                           (f"{root}/good\x00x", "NUL byte"),
                           ("/etc", "outside the configured data roots")):
        code, details = _import_status(stub, path)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("path: ") and fragment in details, \
            (path, details)
    got = stub.ImportAdapter(registry_pb2.ImportAdapterRequest(name="bot", path=str(root / "good")), timeout=30)
    assert got.adapter.version == 1 and got.adapter.lineage.imported_from == str((root / "good").resolve())


def test_import_adapter_is_disabled_without_data_roots(tmp_path: Path, tiny_base_dir: Path, tiny_spec) -> None:
    adapter = write_lora_adapter(tmp_path / "a", tiny_spec)
    settings = Settings.from_env({}, home=tmp_path / "home", base_model=str(tiny_base_dir), log_format="text")
    with BackgroundServer("eval", settings, port=0, metrics_port=0,
                          bindings=lambda ctx: [registry_binding(ctx)]) as server, \
            grpc.insecure_channel(server.address) as channel:
        code, details = _import_status(registry_pb2_grpc.RegistryServiceStub(channel), str(adapter))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "disabled" in details and "LORAFLEET_DATA_ROOTS" in details


def test_import_adapter_refuses_nonfinite_weights(import_server, tiny_spec) -> None:
    stub, root, _ = import_server
    _poison(write_lora_adapter(root / "nan", tiny_spec), float("inf"))
    code, details = _import_status(stub, str(root / "nan"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "NaN or Inf" in details
    assert list(stub.ListAdapters(registry_pb2.ListAdaptersRequest(), timeout=30).adapters) == []

"""RegistryService under generated hostile requests (tests/grpc_fuzz.py) on a real loopback server.

Bar: at least 2,000 requests, none answered INTERNAL or UNKNOWN, every status message at most
1 KiB, the server still SERVING afterwards, nothing written outside its home directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from grpc_fuzz import assert_serving, fuzz_service, snapshot

from lorafleet.config import Settings
from lorafleet.registry.store import Registry
from lorafleet.server.background import BackgroundServer
from lorafleet.server.registry_service import registry_binding
from lorafleet.v1 import registry_pb2

EXAMPLES = 200  # x 10 calls


def test_registry_service_survives_fuzzing(tmp_path: Path, tiny_base_dir: Path, tiny_spec, adapter_dir: Path) -> None:
    data_root = tmp_path / "data"
    data_root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (data_root / "escape").symlink_to(outside)
    adapter = data_root / "adapter"
    os.rename(adapter_dir, adapter)
    settings = Settings.from_env(environ={}, home=tmp_path / "home", base_model=str(tiny_base_dir),
                                 host="127.0.0.1", data_roots=str(data_root), log_format="text", log_level="WARNING")
    registry = Registry.from_settings(settings)
    registry.register_version("bot", adapter, base_spec=tiny_spec, lineage={"source": "imported"})
    registry.set_alias("bot", "production", 1)
    before = snapshot(tmp_path, skip=[settings.home])
    paths = [str(adapter), str(data_root / "escape"), str(outside), str(adapter) + "\x00x", f"{data_root}/../outside",
             str(data_root), "relative/adapter"]
    with BackgroundServer("eval", settings, port=0, metrics_port=0, registry=registry,
                          bindings=lambda ctx: [registry_binding(ctx)]) as server:
        stats = fuzz_service(server.address, [registry_pb2.DESCRIPTOR.services_by_name["RegistryService"]],
                             examples=EXAMPLES, text_extra=paths)
        assert_serving(server.address)
    registry.close()
    print(f"\nRegistryService fuzz: {stats.summary()}")
    assert stats.requests >= 2000 and not stats.failures
    assert snapshot(tmp_path, skip=[settings.home]) == before

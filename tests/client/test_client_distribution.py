"""The client distribution installs alone (grpcio + protobuf, no server stack) and really works.

``clients/python`` is built into a fresh virtual environment without this project's packages;
there ``import torch`` must fail, and a script makes real Generate (sync and asyncio) and
ListAdapters calls against an inference server this test process runs on loopback.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

from lorafleet.server.background import BackgroundServer

REPO = Path(__file__).resolve().parents[2]
CLIENT_PROJECT = REPO / "clients" / "python"

SCRIPT = textwrap.dedent("""
    import asyncio, json, sys
    import importlib.util
    from lorafleet.client import AsyncLoraFleetClient, LoraFleetClient

    address = sys.argv[1]
    out = {"server_modules": [m for m in ("torch", "transformers", "sqlalchemy", "scipy", "lorafleet.registry",
                                          "trainer_service", "inference_service", "eval_service")
                              if importlib.util.find_spec(m) is not None]}
    try:
        import torch  # noqa: F401
        out["torch"] = "importable"
    except ModuleNotFoundError as exc:
        out["torch"] = str(exc)
    with LoraFleetClient(address) as fleet:
        reply = fleet.inference.generate("Hello", max_tokens=4, temperature=0.0)
        out["sync"] = {"tokens": reply.usage.completion_tokens, "text": reply.text}
        out["adapters"] = [f"{v.name}@{v.version}" for v in fleet.registry.iter_adapters()]

    async def main():
        async with AsyncLoraFleetClient(address) as fleet:
            reply = await fleet.inference.generate("Hello", max_tokens=4, temperature=0.0)
            page = await fleet.registry.list_adapters()
            return {"tokens": reply.usage.completion_tokens, "text": reply.text,
                    "adapters": [f"{v.name}@{v.version}" for v in page.adapters]}

    out["async"] = asyncio.run(main())
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def client_only_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding only lorafleet-client and what it declares (grpcio, protobuf)."""
    env_dir = tmp_path_factory.mktemp("client-venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                           str(CLIENT_PROJECT)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return python


def test_client_installs_without_the_server_stack_and_calls_a_server(client_only_python, fleet_settings,
                                                                      tiny_adapter_dir, tmp_path):
    from lorafleet.base_model import read_base_model_spec
    from lorafleet.registry.store import Registry

    registry = Registry.from_settings(fleet_settings)
    spec = read_base_model_spec(Path(fleet_settings.base_model))
    registry.register_version("tiny-bot", tiny_adapter_dir, base_spec=spec, lineage={"source": "imported"})
    registry.close()

    with BackgroundServer("inference", fleet_settings, port=0, metrics_port=0) as server:
        done = subprocess.run([str(client_only_python), "-c", SCRIPT, server.address], capture_output=True,
                              text=True, timeout=300, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["server_modules"] == []
    assert "No module named 'torch'" in out["torch"]
    assert out["sync"]["tokens"] >= 1 and out["async"]["tokens"] >= 1
    assert out["sync"]["text"] == out["async"]["text"]  # greedy: the same reply through both clients
    assert out["adapters"] == ["tiny-bot@1"] and out["async"]["adapters"] == ["tiny-bot@1"]

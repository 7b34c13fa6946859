"""``lorafleet generate`` / ``lorafleet chat`` and the typed InferenceClient against a live server."""

from __future__ import annotations

import argparse
import asyncio
import io
import threading

import grpc
import pytest
from helpers_inference import tiny_settings

from inference_service.servicer import InferenceServicer, add_to_server
from lorafleet.cli import generate as cli
from lorafleet.client.channel import connect
from lorafleet.client.inference import InferenceClient
from lorafleet.registry.store import Registry


@pytest.fixture()
def live_server(tmp_path, tiny_runtime_factory, tiny_adapters, tiny_spec):
    """A grpc.aio server on its own event-loop thread; yields its address."""
    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "artifacts")
    registry.register_version("mlp-r8", tiny_adapters["mlp-r8"], base_spec=tiny_spec, lineage={"source": "imported"})
    registry.set_alias("mlp-r8", "production", 1)
    rt = tiny_runtime_factory()
    rt.engine.start()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state = {}

    async def run():
        server = grpc.aio.server()
        add_to_server(InferenceServicer(tiny_settings(), registry, rt), server)
        state["port"] = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        state["stop"] = asyncio.Event()
        ready.set()
        await state["stop"].wait()
        await server.stop(0)

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(30)
    yield f"127.0.0.1:{state['port']}", rt
    loop.call_soon_threadsafe(state["stop"].set)
    thread.join(10)
    assert not thread.is_alive()
    loop.close()
    registry.close()


def parse(*argv):
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_generate_streams_to_stdout(live_server, monkeypatch, capsys):
    address, rt = live_server
    channel = connect(address)
    client = InferenceClient(channel, timeout=30)
    want = client.generate("Hello there", adapter="mlp-r8", max_tokens=6)
    args = parse("generate", "--server", address, "--adapter", "mlp-r8", "--max-tokens", "6", "--usage", "Hello there")
    assert args.func(args) == 0
    out, err = capsys.readouterr()
    assert out == want.text + "\n"
    assert "mlp-r8@1" in err and "completion=" in err and "(cached " in err
    # the prefix cache through the client: reuse within one cache_salt only
    long = "Hello there, how are you today? " * 6
    first = client.generate(long, adapter="mlp-r8", max_tokens=2, cache_salt="tenant-a")
    again = client.generate(long, adapter="mlp-r8", max_tokens=2, cache_salt="tenant-a")
    other = client.generate(long, adapter="mlp-r8", max_tokens=2, cache_salt="tenant-b")
    streamed = list(client.generate_stream(long, adapter="mlp-r8", max_tokens=2, cache_salt="tenant-b"))
    assert first.usage.cached_prompt_tokens == 0 == other.usage.cached_prompt_tokens
    assert again.usage.cached_prompt_tokens == (again.usage.prompt_tokens - 1) // 16 * 16 > 0
    assert streamed[-1].usage.cached_prompt_tokens == again.usage.cached_prompt_tokens
    chunks = list(client.generate_stream("Hello there", adapter="mlp-r8", max_tokens=6))
    assert "".join(c.delta for c in chunks) == want.text
    assert client.get_model_info().base_fingerprint == rt.spec.fingerprint
    assert client.load_adapter("mlp-r8").adapter.slot >= 1
    assert [a.name for a in client.list_loaded_adapters().adapters] == ["mlp-r8"]
    assert client.unload_adapter("mlp-r8@1").adapter.version == 1
    channel.close()


def test_chat_keeps_history_until_an_empty_line(live_server, monkeypatch, capsys):
    address, _ = live_server
    monkeypatch.setattr("sys.stdin", io.StringIO("Hi!\nAnd then?\n\n"))
    args = parse("chat", "--server", address, "--adapter", "mlp-r8", "--max-tokens", "4")
    assert args.func(args) == 0
    out, _ = capsys.readouterr()
    assert out.count("assistant> ") == 2


def test_unknown_adapter_surfaces_not_found(live_server):
    address, _ = live_server
    args = parse("generate", "--server", address, "--adapter", "nope", "hi")
    with pytest.raises(grpc.RpcError) as exc:
        args.func(args)
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND

"""InferenceService over a real grpc.aio server on a loopback port, with a Registry on SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

import grpc
import pytest
from helpers_inference import host, request, tiny_settings, tokens_of

from inference_service.servicer import InferenceServicer, add_to_server
from lorafleet.registry.store import Registry
from lorafleet.v1 import common_pb2, inference_pb2, inference_pb2_grpc

PROMPT = "The quick brown fox jumps over"


@pytest.fixture(scope="module")
def registry(tmp_path_factory, tiny_adapters, tiny_spec):
    root = tmp_path_factory.mktemp("registry")
    reg = Registry(f"sqlite:///{root / 'registry.db'}", root / "artifacts")
    for name, path in tiny_adapters.items():
        reg.register_version(name, path, base_spec=tiny_spec, lineage={"source": "imported"})
        reg.set_alias(name, "production", 1)
    # version 2 of attn-r4 is another adapter's weights (for alias moves)
    reg.register_version("attn-r4", tiny_adapters["o-r2"], base_spec=tiny_spec, lineage={"source": "imported"})
    other_base = dataclasses.replace(tiny_spec, fingerprint="sha256:" + "f" * 64)
    reg.register_version("foreign", tiny_adapters["attn-r4"], base_spec=other_base, lineage={"source": "imported"})
    reg.set_alias("foreign", "production", 1)
    yield reg
    reg.close()


@contextlib.asynccontextmanager
async def serve(rt, registry, settings, start_engine=True):
    if start_engine:
        rt.engine.start()
    server = grpc.aio.server()
    servicer = InferenceServicer(settings, registry, rt)
    add_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield inference_pb2_grpc.InferenceServiceStub(channel)
    finally:
        await channel.close()
        await server.stop(0)


def gen(adapter="", prompt=PROMPT, **sampling):
    return inference_pb2.GenerateRequest(adapter=adapter, prompt=prompt, sampling=common_pb2.SamplingParams(**sampling))


def stream_req(adapter="", prompt=PROMPT, **sampling):
    return inference_pb2.GenerateStreamRequest(adapter=adapter, prompt=prompt,
                                               sampling=common_pb2.SamplingParams(**sampling))


def slow_down(rt, seconds=0.02):
    """Make every decode step take a while so deadlines and cancels land mid-generation."""
    original = rt.engine._decode

    def slow():
        time.sleep(seconds)
        original()

    rt.engine._decode = slow


async def wait_for(pred, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


def test_generate_and_stream_with_adapter_refs(tiny_runtime_factory, registry, tiny_adapters):
    settings = tiny_settings()
    rt = tiny_runtime_factory()
    direct_rt = tiny_runtime_factory()
    direct_rt.engine.start()
    direct_adapter = host(direct_rt, "mlp-r8", tiny_adapters["mlp-r8"])
    want = tokens_of(direct_rt.engine.submit(request(direct_rt, PROMPT, max_tokens=10,
                                                     adapter=direct_adapter)).wait_sync(60))

    async def main():
        async with serve(rt, registry, settings) as stub:
            r = await stub.Generate(gen("mlp-r8", max_tokens=10))
            assert list(r.token_ids) == want and r.resolved_adapter == "mlp-r8@1"
            assert r.finish_reason in (inference_pb2.FINISH_REASON_LENGTH, inference_pb2.FINISH_REASON_EOS)
            assert (r.usage.completion_tokens == len(want)
                    and r.usage.prompt_tokens == len(request(rt, PROMPT).prompt_ids))
            assert r.text == rt.tokenizer.decode(want, skip_special_tokens=True)
            for ref in ("mlp-r8@production", "mlp-r8@1"):
                assert list((await stub.Generate(gen(ref, max_tokens=10))).token_ids) == want
            chunks = [c async for c in stub.GenerateStream(stream_req("mlp-r8", max_tokens=10))]
            assert [c.index for c in chunks] == list(range(len(chunks)))
            assert "".join(c.delta for c in chunks) == r.text
            assert [t for c in chunks for t in c.token_ids] == want
            assert chunks[-1].finish_reason == r.finish_reason and chunks[-1].usage.completion_tokens == len(want)
            base = await stub.Generate(gen("", max_tokens=10))
            assert base.resolved_adapter == "" and list(base.token_ids) != want
            chat = await stub.Generate(inference_pb2.GenerateRequest(
                adapter="mlp-r8", messages=[common_pb2.ChatMessage(role="user", content="Hi!")],
                sampling=common_pb2.SamplingParams(max_tokens=4)))
            assert chat.usage.prompt_tokens > 5 and chat.usage.completion_tokens >= 1
            stopped = await stub.Generate(gen("mlp-r8", max_tokens=10, stop=[r.text[3:6]]))
            if r.text[3:6]:
                assert (stopped.finish_reason == inference_pb2.FINISH_REASON_STOP
                        and stopped.text == r.text[:r.text.find(r.text[3:6])])

    asyncio.run(main())


def test_stream_interval_gathers_tokens_after_the_first_and_the_text_is_the_unary_reply(tiny_runtime_factory,
                                                                                          registry):
    """``stream_interval`` (the server's setting): the first token alone, then messages of >= N tokens."""
    replies = {}

    async def main(interval):
        rt = tiny_runtime_factory()
        slow_down(rt, 0.05)  # every step lands before the next: what a chunk holds is the interval's doing
        async with serve(rt, registry, tiny_settings(stream_interval=interval)) as stub:
            whole = await stub.Generate(gen("mlp-r8", max_tokens=14, ignore_eos=True))
            chunks = [c async for c in stub.GenerateStream(stream_req("mlp-r8", max_tokens=14, ignore_eos=True))]
            replies[interval] = whole, chunks

    for interval in (1, 4):
        asyncio.run(main(interval))
    for whole, chunks in replies.values():
        assert [t for c in chunks for t in c.token_ids] == list(whole.token_ids) and len(whole.token_ids) == 14
        assert "".join(c.delta for c in chunks) == whole.text
        assert [c.index for c in chunks] == list(range(len(chunks)))
        assert chunks[-1].usage.completion_tokens == 14 and not any(c.finish_reason for c in chunks[:-1])
        assert len(chunks[0].token_ids) == 1
    assert len(replies[1][1]) >= 12  # a token a message (two steps may still meet in a late read)
    assert all(len(c.token_ids) >= 4 for c in replies[4][1][1:-1]) and len(replies[4][1]) <= 5


def test_errors_map_to_status_codes(tiny_runtime_factory, registry):
    settings = tiny_settings(max_new_tokens_limit=64)
    rt = tiny_runtime_factory(max_new_tokens_limit=64)

    async def main():
        async with serve(rt, registry, settings) as stub:
            cases = [
                (gen("no-such-adapter"), grpc.StatusCode.NOT_FOUND, "adapter"),
                (gen("attn-r4@7"), grpc.StatusCode.NOT_FOUND, "adapter"),
                (gen("foreign"), grpc.StatusCode.FAILED_PRECONDITION, "adapter"),
                (gen("Bad Name"), grpc.StatusCode.INVALID_ARGUMENT, "adapter"),
                (gen(max_tokens=65), grpc.StatusCode.INVALID_ARGUMENT, "sampling.max_tokens"),
                (gen(prompt=" ".join(["word"] * 300)), grpc.StatusCode.INVALID_ARGUMENT, "prompt"),
                (gen(prompt=""), grpc.StatusCode.INVALID_ARGUMENT, "prompt"),
                (gen(top_p=2.0), grpc.StatusCode.INVALID_ARGUMENT, "sampling.top_p"),
                (inference_pb2.GenerateRequest(prompt=PROMPT, cache_salt="s" * 257), grpc.StatusCode.INVALID_ARGUMENT,
                 "cache_salt"),
                (inference_pb2.GenerateRequest(prompt=PROMPT, cache_salt="tenant\n7"),
                 grpc.StatusCode.INVALID_ARGUMENT, "cache_salt"),
            ]
            for req, code, field in cases:
                with pytest.raises(grpc.aio.AioRpcError) as exc:
                    await stub.Generate(req)
                assert exc.value.code() == code, (req, exc.value.details())
                assert exc.value.details().startswith(field), exc.value.details()
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                async for _ in stub.GenerateStream(stream_req("no-such-adapter")):
                    pass
            assert exc.value.code() == grpc.StatusCode.NOT_FOUND

    asyncio.run(main())


def test_queue_full_is_resource_exhausted(tiny_runtime_factory, registry):
    settings = tiny_settings(max_queue=1)
    rt = tiny_runtime_factory(max_queue=1)

    async def main():
        async with serve(rt, registry, settings, start_engine=False) as stub:
            first = asyncio.ensure_future(stub.Generate(gen(max_tokens=2)))
            await wait_for(lambda: asyncio.sleep(0, rt.engine.queue_depth == 1))
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await stub.Generate(gen(max_tokens=2))
            assert exc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            rt.engine.start()
            assert (await first).usage.completion_tokens >= 1

    asyncio.run(main())


def test_a_generation_its_deadline_stopped_ends_deadline_exceeded_not_as_a_short_reply(tiny_runtime_factory, registry,
                                                                                      monkeypatch):
    """The engine stops a request at its deadline and the client's own timer fires at the same moment; whichever
    wins, the call ends DEADLINE_EXCEEDED. Here the server's deadline is moved 0.3 s ahead of the client's, so the
    server's side of the race always wins: a reply cut short (finish_reason CANCELLED, status OK) was what came back
    when it did before (a flaky test under load)."""
    settings = tiny_settings(max_new_tokens_limit=64)
    rt = tiny_runtime_factory(max_new_tokens_limit=64)
    slow_down(rt)
    original = InferenceServicer._start

    async def sooner(self, request, context):
        generation = await original(self, request, context)
        generation.request = dataclasses.replace(generation.request, deadline=time.monotonic() + 0.3)
        generation.handle.request.deadline = generation.request.deadline
        return generation

    monkeypatch.setattr(InferenceServicer, "_start", sooner)

    async def main():
        async with serve(rt, registry, settings) as stub:
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await stub.Generate(gen("attn-r4", max_tokens=64, ignore_eos=True), timeout=30)
            assert exc.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "deadline passed after" in exc.value.details()
            chunks = []
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                call = stub.GenerateStream(stream_req("mlp-r8", max_tokens=64, ignore_eos=True), timeout=30)
                async for chunk in call:
                    chunks.append(chunk)
            assert exc.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert 0 < len(chunks) < 64 and all(not c.finish_reason for c in chunks)

    asyncio.run(main())


def test_deadline_and_client_cancel_free_the_slot(tiny_runtime_factory, registry):
    settings = tiny_settings(max_new_tokens_limit=64)
    rt = tiny_runtime_factory(max_new_tokens_limit=64, adapter_slots=1)
    slow_down(rt)

    async def active():
        return sum(a.active_requests for a in rt.adapters.snapshot()) == 0 and not rt.engine._running

    async def main():
        async with serve(rt, registry, settings) as stub:
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                # ignore_eos: the tiny model's greedy text may end early on another CPU's arithmetic
                await stub.Generate(gen("attn-r4", max_tokens=64, ignore_eos=True), timeout=0.3)
            assert exc.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            await wait_for(active)
            call = stub.GenerateStream(stream_req("mlp-r8", max_tokens=64, ignore_eos=True))
            got = 0
            async for _ in call:
                got += 1
                if got == 3:
                    break
            call.cancel()
            await wait_for(active)
            # the single slot is usable again by another adapter
            r = await stub.Generate(gen("o-r2", max_tokens=3))
            assert r.resolved_adapter == "o-r2@1" and r.usage.completion_tokens >= 1

    asyncio.run(main())


def test_load_list_unload_and_model_info(tiny_runtime_factory, registry):
    settings = tiny_settings()
    rt = tiny_runtime_factory()

    async def main():
        async with serve(rt, registry, settings) as stub:
            r = await stub.LoadAdapter(inference_pb2.LoadAdapterRequest(adapter="all-r16"))
            assert (r.adapter.name, r.adapter.version, r.adapter.rank) == ("all-r16", 1, 16)
            assert r.adapter.tier == inference_pb2.ADAPTER_TIER_DEVICE and r.adapter.slot >= 1 and r.load_seconds > 0
            await stub.Generate(gen("all-r16", max_tokens=2))
            listed = await stub.ListLoadedAdapters(inference_pb2.ListLoadedAdaptersRequest())
            entry = {a.name: a for a in listed.adapters}["all-r16"]
            assert entry.requests_served == 1 and entry.active_requests == 0 and entry.last_used_time.seconds > 0
            assert set(entry.target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                 "down_proj"}
            assert listed.device_slots_total == settings.adapter_slots and listed.device_slots_used == 1
            u = await stub.UnloadAdapter(inference_pb2.UnloadAdapterRequest(adapter="all-r16@1"))
            assert u.adapter.name == "all-r16"
            assert not (await stub.ListLoadedAdapters(inference_pb2.ListLoadedAdaptersRequest())).adapters
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await stub.UnloadAdapter(inference_pb2.UnloadAdapterRequest(adapter="all-r16@1"))
            assert exc.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await stub.LoadAdapter(inference_pb2.LoadAdapterRequest(adapter=""))
            assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            info = await stub.GetModelInfo(inference_pb2.GetModelInfoRequest())
            assert info.base_fingerprint == rt.spec.fingerprint and info.quantization == common_pb2.QUANTIZATION_NONE
            assert info.max_context_tokens == 256 and info.adapter_slots == settings.adapter_slots
            assert info.vocab_size == 49152 and "q_proj" in info.lora_target_modules

    asyncio.run(main())


def test_alias_move_takes_effect_without_restart_and_running_requests_keep_their_version(
        tiny_runtime_factory, registry):
    settings = tiny_settings(alias_poll_s=0.1)
    rt = tiny_runtime_factory()
    slow_down(rt, 0.01)

    async def main():
        async with serve(rt, registry, settings) as stub:
            v1 = await stub.Generate(gen("attn-r4@1", max_tokens=12))
            v2 = await stub.Generate(gen("attn-r4@2", max_tokens=12))
            assert list(v1.token_ids) != list(v2.token_ids)
            running = stub.GenerateStream(stream_req("attn-r4", max_tokens=12))
            first = await running.read()
            assert first.resolved_adapter == "attn-r4@1"
            await asyncio.to_thread(registry.set_alias, "attn-r4", "production", 2)
            try:
                await asyncio.sleep(0.15)
                moved = await stub.Generate(gen("attn-r4", max_tokens=12))
                assert moved.resolved_adapter == "attn-r4@2" and list(moved.token_ids) == list(v2.token_ids)
                rest = [first]
                while (chunk := await running.read()) is not grpc.aio.EOF:
                    rest.append(chunk)
                assert [t for c in rest for t in c.token_ids] == list(v1.token_ids)
                assert {c.resolved_adapter for c in rest} == {"attn-r4@1"}
            finally:
                await asyncio.to_thread(registry.set_alias, "attn-r4", "production", 1)

    asyncio.run(main())

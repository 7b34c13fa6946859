"""Continuous batching: joins mid-generation, chunked prefill, cancellation/deadline, limits."""

from __future__ import annotations

import time

import pytest
from helpers_inference import host, request, tokens_of

from inference_service.engine.types import FinishReason
from lorafleet.errors import InvalidArgument, ResourceExhausted

PROMPT = "The quick brown fox jumps over"


def wait_until(pred, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.005)
    raise AssertionError("condition not reached")


def test_requests_joining_mid_generation_finish_correctly(tiny_runtime_factory, tiny_adapters):
    rt = tiny_runtime_factory(max_batch_size=4)
    a, b = host(rt, "attn-r4", tiny_adapters["attn-r4"]), host(rt, "mlp-r8", tiny_adapters["mlp-r8"])
    rt.engine.start()
    # reference: each alone
    ref_long = tokens_of(rt.engine.submit(request(rt, PROMPT, adapter=a, max_tokens=40)).wait_sync(60))
    ref_short = tokens_of(rt.engine.submit(request(rt, "Hello world", adapter=b, max_tokens=8)).wait_sync(60))
    long = rt.engine.submit(request(rt, PROMPT, adapter=a, max_tokens=40))
    wait_until(lambda: len(long.events) >= 5)          # it is decoding
    late = [rt.engine.submit(request(rt, "Hello world", adapter=b, max_tokens=8)) for _ in range(2)]
    for h in late:
        assert tokens_of(h.wait_sync(60)) == ref_short
    assert not long.done.is_set()                      # the newcomers finished while it kept running
    assert tokens_of(long.wait_sync(60)) == ref_long


def test_long_prompt_is_prefilled_in_chunks_without_stalling_decoders(tiny_runtime_factory, tiny_adapters):
    rt = tiny_runtime_factory(prefill_token_budget=16, prefix_cache_mb=0)  # the repeat is prefilled again
    a = host(rt, "all-r16", tiny_adapters["all-r16"])
    rt.engine.start()
    long_prompt = " ".join(["word"] * 70)
    ref = tokens_of(rt.engine.submit(request(rt, long_prompt, adapter=a, max_tokens=5)).wait_sync(60))
    runner = rt.engine.submit(request(rt, PROMPT, max_tokens=30))
    wait_until(lambda: len(runner.events) >= 2)
    n_before = len(runner.events)
    chunked = rt.engine.submit(request(rt, long_prompt, adapter=a, max_tokens=5))
    assert tokens_of(chunked.wait_sync(60)) == ref
    # the running decoder advanced while the >= 5 chunks of the long prompt were prefilled
    assert len(runner.events) - n_before >= 4
    runner.wait_sync(60)


def test_cancel_and_deadline_free_the_slot(tiny_runtime_factory, tiny_adapters):
    rt = tiny_runtime_factory(adapter_slots=1)
    a, b = host(rt, "attn-r4", tiny_adapters["attn-r4"]), host(rt, "o-r2", tiny_adapters["o-r2"])
    decode = rt.model.decode  # 5 ms a step: 60 tokens outlast the waits below however fast the tiny model runs
    rt.model.decode = lambda *args: (time.sleep(0.005), decode(*args))[1]
    rt.engine.start()
    h = rt.engine.submit(request(rt, PROMPT, adapter=a, max_tokens=60))
    wait_until(lambda: len(h.events) >= 2)
    waiting = rt.engine.submit(request(rt, PROMPT, adapter=b, max_tokens=3))  # needs the only slot
    time.sleep(0.05)
    assert not waiting.done.is_set()
    h.cancel()
    events = h.wait_sync(30)
    assert events[-1].finish_reason is FinishReason.CANCELLED and len(tokens_of(events)) < 60
    assert tokens_of(waiting.wait_sync(30))  # got the slot once the cancelled request left
    assert rt.adapters.info(a.key).active_requests == 0

    req = request(rt, PROMPT, adapter=a, max_tokens=60)
    req.deadline = time.monotonic() + 0.05
    ev = rt.engine.submit(req).wait_sync(30)
    assert ev[-1].finish_reason is FinishReason.CANCELLED and ev[-1].usage.completion_tokens < 60
    wait_until(lambda: rt.adapters.info(a.key).active_requests == 0)


def test_limits(tiny_runtime_factory):
    rt = tiny_runtime_factory(max_queue=2, max_new_tokens_limit=64)
    with pytest.raises(InvalidArgument) as exc:
        rt.engine.submit(request(rt, " ".join(["word"] * 300)))  # context of the tiny model is 256
    assert exc.value.field == "prompt"
    with pytest.raises(InvalidArgument) as exc:
        rt.engine.submit(request(rt, PROMPT, max_tokens=65))
    assert exc.value.field == "sampling.max_tokens"
    # engine not started: requests stay queued
    rt.engine.submit(request(rt, PROMPT))
    rt.engine.submit(request(rt, PROMPT))
    with pytest.raises(ResourceExhausted):
        rt.engine.submit(request(rt, PROMPT))


def test_generation_stops_at_the_context_limit(tiny_runtime_factory):
    rt = tiny_runtime_factory()
    rt.engine.start()
    prompt = " ".join(["word"] * 250)
    req = request(rt, prompt, max_tokens=64)
    n = len(req.prompt_ids)
    ev = rt.engine.submit(req).wait_sync(60)
    assert ev[-1].finish_reason in (FinishReason.LENGTH, FinishReason.EOS)
    assert n + ev[-1].usage.completion_tokens <= 256


def test_a_failing_forward_fails_its_requests_frees_slots_and_the_engine_keeps_serving(tiny_runtime_factory,
                                                                                       tiny_adapters):
    rt = tiny_runtime_factory()
    a = host(rt, "attn-r4", tiny_adapters["attn-r4"])
    original = rt.engine._forward
    calls = {"n": 0}

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("simulated device failure")
        return original(*args, **kw)

    rt.engine._forward = flaky
    rt.engine.start()
    failed = rt.engine.submit(request(rt, PROMPT, adapter=a, max_tokens=4)).wait_sync(30)
    assert isinstance(failed[-1].error, RuntimeError)
    assert rt.adapters.info(a.key).active_requests == 0
    assert len(tokens_of(rt.engine.submit(request(rt, PROMPT, adapter=a, max_tokens=4)).wait_sync(30))) == 4


def test_more_adapters_than_slots_all_finish_with_their_own_tokens(tiny_runtime_factory, tiny_adapters):
    names = list(tiny_adapters)
    solo = tiny_runtime_factory()
    solo.engine.start()
    want = {n: tokens_of(solo.engine.submit(request(solo, PROMPT, adapter=host(solo, n, tiny_adapters[n]),
                                                    max_tokens=6)).wait_sync(60)) for n in names}
    rt = tiny_runtime_factory(adapter_slots=2)
    hosts = {n: host(rt, n, tiny_adapters[n]) for n in names}
    rt.engine.start()
    handles = [(n, rt.engine.submit(request(rt, PROMPT, adapter=hosts[n], max_tokens=6))) for n in names * 2]
    for n, h in handles:
        assert tokens_of(h.wait_sync(60)) == want[n]
    assert rt.adapters.evictions >= 2 and rt.adapters.slots_used <= 2
    assert all(i.active_requests == 0 for i in rt.adapters.snapshot())

"""The engine's shadow class: admitted after normal requests, bounded queue, shed first under load."""

from __future__ import annotations

import dataclasses
import time

import pytest
from helpers_inference import host, record_prefills, request, tokens_of

from inference_service import metrics
from inference_service.engine.types import FinishReason
from lorafleet.errors import ResourceExhausted

PROMPT = "The quick brown fox jumps over"
OTHER = "Hello world, how are"


def shadow(rt, prompt=PROMPT, **kw):
    return dataclasses.replace(request(rt, prompt, **kw), shadow=True)


def wait_until(pred, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.002)
    raise AssertionError("condition not reached")


def slow_down(rt, seconds=0.01):
    original = rt.engine._decode

    def slow():
        time.sleep(seconds)
        original()

    rt.engine._decode = slow


def shadow_count(outcome: str) -> float:
    return metrics.SHADOW_REQUESTS.labels(outcome=outcome)._value.get()


def test_shadow_requests_are_admitted_after_normal_ones(tiny_runtime_factory, tiny_adapters):
    rt = tiny_runtime_factory(max_batch_size=2)
    rt.engine.eos = set()
    a = host(rt, "attn-r4", tiny_adapters["attn-r4"])
    groups = record_prefills(rt)
    s = rt.engine.submit(shadow(rt, adapter=a, max_tokens=4, rid="s"))  # first in, but low priority
    n1 = rt.engine.submit(request(rt, PROMPT, max_tokens=4, rid="n1"))
    n2 = rt.engine.submit(request(rt, OTHER, max_tokens=4, rid="n2"))
    rt.engine.start()
    for h in (n1, n2, s):
        assert len(tokens_of(h.wait_sync(30))) == 4
    assert groups == [["n1", "n2"], ["s"]]
    assert not s.shed


def test_shadow_prefills_after_the_normal_prompt_not_with_it(tiny_runtime_factory, tiny_adapters):
    """Packed with the normal prompt, the shadow's prefill would delay that request's first token."""
    rt = tiny_runtime_factory(max_batch_size=4)
    a = host(rt, "attn-r4", tiny_adapters["attn-r4"])
    groups = record_prefills(rt)
    s = rt.engine.submit(shadow(rt, adapter=a, max_tokens=4, rid="s"))
    n = rt.engine.submit(request(rt, PROMPT, max_tokens=4, rid="n"))
    rt.engine.start()
    n.wait_sync(30)
    s.wait_sync(30)
    assert groups == [["n"], ["s"]]  # the normal prompt alone, the shadow at the next step


def test_a_shadow_prompt_waits_a_few_steps_after_a_normal_admission(tiny_runtime_factory, tiny_adapters):
    """A normal request's neighbours in time often arrive a step or two later (a client's burst): a shadow
    prefill started right away would make them wait for it."""
    rt = tiny_runtime_factory(max_batch_size=4, shadow_max_waiting=4)
    a = host(rt, "attn-r4", tiny_adapters["attn-r4"])
    steps: list[int] = []
    groups = record_prefills(rt, steps)
    s = rt.engine.submit(shadow(rt, adapter=a, max_tokens=4, rid="s"))
    n = rt.engine.submit(request(rt, PROMPT, max_tokens=8, rid="n"))
    rt.engine.start()
    n.wait_sync(30)
    s.wait_sync(30)
    assert groups == [["n"], ["s"]]
    assert steps[1] - steps[0] == rt.engine.config.shadow_quiet_steps + 1


def test_shadow_prompts_piling_up_are_prefilled_without_the_wait(tiny_runtime_factory, tiny_adapters):
    """Half the shadow queue bound pending: waiting longer would only end in shedding them."""
    rt = tiny_runtime_factory(max_batch_size=4, shadow_max_waiting=4)
    a = host(rt, "attn-r4", tiny_adapters["attn-r4"])
    steps: list[int] = []
    groups = record_prefills(rt, steps)
    shadows = [rt.engine.submit(shadow(rt, adapter=a, max_tokens=4, rid=f"s{i}")) for i in range(2)]
    n = rt.engine.submit(request(rt, PROMPT, max_tokens=8, rid="n"))
    rt.engine.start()
    for h in (n, *shadows):
        h.wait_sync(30)
    assert groups == [["n"], ["s0", "s1"]]
    assert steps[1] - steps[0] == 1


def test_a_shadow_reply_arrives_whole_at_its_end(tiny_runtime_factory, tiny_adapters):
    """Nobody reads a shadow reply before it ends: one event, not one per token."""
    rt = tiny_runtime_factory()
    rt.engine.eos = set()
    a = host(rt, "attn-r4", tiny_adapters["attn-r4"])
    rt.engine.start()
    streamed = rt.engine.submit(request(rt, PROMPT, adapter=a, max_tokens=10)).wait_sync(30)
    events = rt.engine.submit(shadow(rt, adapter=a, max_tokens=10)).wait_sync(30)
    assert len(streamed) == 10 and len(events) == 1
    (whole,) = events
    assert whole.finish_reason is FinishReason.LENGTH and whole.usage.completion_tokens == 10
    assert whole.token_ids == tokens_of(streamed)
    assert whole.delta == "".join(ev.delta for ev in streamed)


def test_a_shadow_running_alongside_changes_nothing_of_the_normal_reply(tiny_runtime_factory, tiny_adapters):
    rt = tiny_runtime_factory()
    a = host(rt, "attn-r4", tiny_adapters["attn-r4"])
    rt.engine.start()
    alone = tokens_of(rt.engine.submit(request(rt, PROMPT, max_tokens=12)).wait_sync(30))
    shadow_alone = tokens_of(rt.engine.submit(request(rt, PROMPT, adapter=a, max_tokens=12)).wait_sync(30))
    n = rt.engine.submit(request(rt, PROMPT, max_tokens=12))
    s = rt.engine.submit(shadow(rt, adapter=a, max_tokens=12))
    assert tokens_of(n.wait_sync(30)) == alone
    assert tokens_of(s.wait_sync(30)) == shadow_alone


def test_running_shadows_are_shed_when_normal_requests_need_their_rows(tiny_runtime_factory, tiny_adapters):
    rt = tiny_runtime_factory(max_batch_size=2)
    rt.engine.eos = set()
    a = host(rt, "attn-r4", tiny_adapters["attn-r4"])
    slow_down(rt)
    rt.engine.start()
    want = tokens_of(rt.engine.submit(request(rt, OTHER, max_tokens=5)).wait_sync(30))
    shed_before = shadow_count("shed")
    shadows = [rt.engine.submit(shadow(rt, adapter=a, max_tokens=60, rid=f"s{i}")) for i in range(2)]
    # both decoding: the batch is full (a shadow's tokens are held until its end, so ask the batch)
    wait_until(lambda: sum(1 for s in list(rt.engine.batch.running) if s.shadow and len(s.generated) >= 2) == 2)
    normal = rt.engine.submit(request(rt, OTHER, max_tokens=5))
    assert tokens_of(normal.wait_sync(30)) == want
    done = [h.wait_sync(30)[-1] for h in shadows]
    # one row was missing: the most recently admitted shadow gave it up, the other kept decoding
    assert [h.shed for h in shadows] == [False, True]
    assert done[1].finish_reason is FinishReason.CANCELLED and done[1].usage.completion_tokens < 60
    assert done[0].finish_reason is FinishReason.LENGTH and done[0].usage.completion_tokens == 60
    assert shadow_count("shed") - shed_before == 1
    assert rt.adapters.info(a.key).active_requests == 0


def test_the_shadow_queue_sheds_its_oldest_beyond_the_limit(tiny_runtime_factory):
    rt = tiny_runtime_factory(max_batch_size=1, shadow_max_waiting=2)
    rt.engine.eos = set()
    slow_down(rt)
    rt.engine.start()
    busy = rt.engine.submit(request(rt, PROMPT, max_tokens=30))
    wait_until(lambda: len(busy.events) >= 1)
    shadows = [rt.engine.submit(shadow(rt, max_tokens=3, rid=f"s{i}")) for i in range(4)]
    wait_until(lambda: shadows[1].done.is_set())
    assert not busy.done.is_set()  # the shadows never took the normal request's row
    assert [h.shed for h in shadows] == [True, True, False, False]
    tokens_of(busy.wait_sync(30))
    for h in shadows[2:]:
        assert len(tokens_of(h.wait_sync(30))) == 3


def test_shadow_requests_do_not_count_toward_max_queue(tiny_runtime_factory):
    rt = tiny_runtime_factory(max_queue=2)  # engine not started: everything stays queued
    for _ in range(2):
        rt.engine.submit(request(rt, PROMPT))
    handles = [rt.engine.submit(shadow(rt)) for _ in range(5)]
    assert rt.engine.queue_depth == 2 and not any(h.done.is_set() for h in handles)
    with pytest.raises(ResourceExhausted):
        rt.engine.submit(request(rt, PROMPT))


def test_zero_shadow_queue_sheds_every_shadow(tiny_runtime_factory):
    rt = tiny_runtime_factory(shadow_max_waiting=0)
    rt.engine.start()
    h = rt.engine.submit(shadow(rt, max_tokens=3))
    assert h.wait_sync(30)[-1].finish_reason is FinishReason.CANCELLED and h.shed

"""RequestHandle.events_async: how a request's per-step events are gathered into a transport's messages."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from inference_service.engine.requests import RequestHandle
from inference_service.engine.types import FinishReason, GenerationEvent, GenerationRequest, SamplingSpec


def _handle(loop) -> RequestHandle:
    return RequestHandle(GenerationRequest(request_id="r", prompt_ids=[1], sampling=SamplingSpec(max_tokens=64),
                                           adapter=None), loop)


async def _stream(steps: list[int], interval: int) -> tuple[list[GenerationEvent], list[list[int]]]:
    """Feed one event per decode step (``steps[i]`` tokens), letting the consumer run between steps."""
    handle = _handle(asyncio.get_running_loop())
    fed: list[list[int]] = []
    got: list[GenerationEvent] = []

    async def consume():
        async for ev in handle.events_async(interval):
            got.append(ev)

    consumer = asyncio.ensure_future(consume())
    next_id = 0
    for i, n in enumerate(steps):
        ids = list(range(next_id, next_id + n))
        next_id += n
        fed.append(ids)
        last = i == len(steps) - 1
        handle.queue.put_nowait(GenerationEvent(token_ids=ids, delta="".join(f"<{t}>" for t in ids),
                                                finish_reason=FinishReason.LENGTH if last else None))
        for _ in range(5):  # the consumer takes each step before the next one arrives
            await asyncio.sleep(0)
    await asyncio.wait_for(consumer, 5)
    return got, fed


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.integers(0, 3), min_size=1, max_size=30), interval=st.integers(1, 8))
def test_events_are_gathered_to_interval_tokens_after_the_first_and_nothing_is_lost(steps, interval) -> None:
    got, fed = asyncio.run(_stream(steps, interval))
    tokens = [t for ids in fed for t in ids]
    assert [t for ev in got for t in ev.token_ids] == tokens
    assert "".join(ev.delta for ev in got) == "".join(f"<{t}>" for t in tokens)
    assert got[-1].finish_reason == FinishReason.LENGTH and not any(ev.final for ev in got[:-1])
    first_step_with_tokens = next((ids for ids in fed if ids), None)
    if first_step_with_tokens is not None and len(got) > 1:
        # the first token goes out with the step that made it, never held for the interval
        assert got[0].token_ids == first_step_with_tokens
    for ev in got[1:-1]:
        assert len(ev.token_ids) >= interval
    if interval == 1:  # every step that made a token is its own message, as without gathering
        assert len(got) == 1 + sum(1 for n in steps[:-1] if n)


def test_interval_4_on_one_token_a_step_sends_the_first_token_then_fours_then_the_rest() -> None:
    got, _ = asyncio.run(_stream([1] * 14, 4))
    assert [len(ev.token_ids) for ev in got] == [1, 4, 4, 4, 1]


def test_an_error_ends_the_stream_at_once_with_what_was_held() -> None:
    async def main():
        handle = _handle(asyncio.get_running_loop())
        out: list[GenerationEvent] = []

        async def consume():
            async for ev in handle.events_async(8):
                out.append(ev)

        task = asyncio.ensure_future(consume())
        for ev in (GenerationEvent(token_ids=[1], delta="a"), GenerationEvent(token_ids=[2], delta="b"),
                   GenerationEvent(error=RuntimeError("boom"))):
            handle.queue.put_nowait(ev)
            for _ in range(5):
                await asyncio.sleep(0)
        await asyncio.wait_for(task, 5)
        return out

    out = asyncio.run(main())
    assert [ev.token_ids for ev in out] == [[1], [2]] and isinstance(out[-1].error, RuntimeError)

"""One-off work runs in a thread of its own that is gone when the call returns."""

from __future__ import annotations

import asyncio
import threading

import pytest
import torch

from lorafleet.compute_threads import call_in_fresh_thread, in_fresh_thread


def _whoami(x: torch.Tensor) -> tuple[int, float]:
    return threading.get_ident(), float((x @ x.T).sum())  # a real parallel torch op


def test_runs_elsewhere_returns_the_result_and_the_thread_exits() -> None:
    x = torch.ones(256, 256)
    ident, value = call_in_fresh_thread(_whoami, x)
    assert ident != threading.get_ident()
    assert value == 256.0 ** 3
    assert ident not in {t.ident for t in threading.enumerate()}


def test_exceptions_reach_the_caller_unchanged() -> None:
    def boom(field: str) -> None:
        raise ValueError(f"bad {field}")

    with pytest.raises(ValueError, match="bad rank"):
        call_in_fresh_thread(boom, "rank")


def test_async_twin_keeps_the_loop_running() -> None:
    gate = threading.Event()

    def wait_for_gate() -> str:
        assert gate.wait(5)
        return "done"

    async def main() -> tuple[str, int]:
        ticks = 0
        task = asyncio.create_task(in_fresh_thread(wait_for_gate))
        while ticks < 3:  # the loop keeps turning while the thread blocks
            await asyncio.sleep(0.01)
            ticks += 1
        gate.set()
        return await task, ticks

    assert asyncio.run(main()) == ("done", 3)


def test_async_twin_raises_and_tolerates_cancellation() -> None:
    release = threading.Event()

    def slow() -> int:
        release.wait(5)
        return 1

    async def main() -> None:
        with pytest.raises(KeyError):
            await in_fresh_thread(lambda: {}["missing"])
        task = asyncio.create_task(in_fresh_thread(slow))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()  # the thread finishes after its awaiter is gone; nothing must blow up
        await asyncio.sleep(0.05)

    asyncio.run(main())

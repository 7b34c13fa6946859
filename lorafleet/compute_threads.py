"""Run one-off torch work in a thread that exits afterwards, so the engine keeps its CPU speed.

Why: PyTorch's CPU kernels use OpenMP (libgomp), and libgomp gives every thread that ever runs
a parallel region its own pool of worker threads, alive until that thread exits. Once the
process holds more pool threads than CPUs, libgomp stops spin-waiting between parallel regions
("throttled" spin) and every small op pays a futex wake-up. ``benchmarks/openmp_pools.py`` on
the 2-core CI box: the bank's ``[16,1,576] @ [16,576,16]`` bmm takes 9 µs on a worker thread
that owns the only pool and 62 µs once the main thread has one too (a 576×576 mm: 88 vs 176 µs);
after the same load in a thread that exited, 9 µs again. A long-lived helper thread that once
loaded a model (``asyncio.to_thread`` reuses executor threads forever) is enough to slow the
engine thread for the life of the process.

Rule: steady-state torch work runs on one long-lived thread (the engine's worker, the trainer's
job worker); model loading, adapter reads and other one-off torch work run here, in a fresh
thread whose pool dies with it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


def call_in_fresh_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a new thread, joined before returning; exceptions propagate."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"lorafleet-oneoff-{getattr(fn, '__name__', 'call')}", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


async def in_fresh_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Async twin of ``call_in_fresh_thread``: the event loop keeps running while ``fn`` works."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():  # the awaiting task was cancelled; nobody wants the result
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def target() -> None:
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            ok, value = False, exc
        else:
            ok, value = True, result
        try:
            loop.call_soon_threadsafe(settle, ok, value)
        except RuntimeError:  # the loop closed while fn ran (shutdown): the result has no reader
            log.debug("event loop closed before a one-off thread finished", extra={"fn": getattr(fn, "__name__", "?")})

    threading.Thread(target=target, name=f"lorafleet-oneoff-{getattr(fn, '__name__', 'call')}", daemon=True).start()
    return await future

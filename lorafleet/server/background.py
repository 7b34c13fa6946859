"""Run a ``LoraFleetServer`` on its own thread and event loop, for synchronous callers.

Tests and the demo use it to host real servers on loopback without managing an event loop::

    with BackgroundServer("inference", settings, port=0, metrics_port=0) as server:
        channel = grpc.insecure_channel(server.address)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

from lorafleet.config import Settings
from lorafleet.server.bootstrap import LoraFleetServer


class BackgroundServer:
    def __init__(self, role: str, settings: Settings, *, start_timeout_s: float = 600.0, **server_kwargs: Any) -> None:
        self.server = LoraFleetServer(role, settings, **server_kwargs)
        self._start_timeout_s = start_timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"lorafleet-{role}-server", daemon=True)
        self._closed = False

    @property
    def address(self) -> str:
        return self.server.address

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def metrics_port(self) -> int:
        return self.server.metrics_port

    def run(self, coro: Any, timeout: float | None = None) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> BackgroundServer:
        self._thread.start()
        try:
            self.run(self.server.start(), timeout=self._start_timeout_s)
        except BaseException:
            self._shutdown_loop()
            raise
        return self

    def stop(self, grace: float | None = None) -> None:
        """Graceful stop; blocks until in-flight calls finished and stop hooks ran."""
        if self._closed:
            return
        try:
            self.run(self.server.stop(grace))
        finally:
            self._shutdown_loop()

    def stop_async(self, grace: float | None = None) -> concurrent.futures.Future[None]:
        """Begin a graceful stop without waiting (to observe calls draining meanwhile)."""
        return asyncio.run_coroutine_threadsafe(self.server.stop(grace), self._loop)

    def _shutdown_loop(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

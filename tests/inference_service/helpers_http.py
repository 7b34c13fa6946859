"""A live inference server for the HTTP front's tests: gRPC and HTTP on loopback ports, one loop.

The servers run on an asyncio loop of their own thread (as in ``lorafleet serve``, both transports
share that loop), so the tests call them with the synchronous ``openai`` client and gRPC stubs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field

import grpc
import openai

from inference_service.http.lifecycle import Backend
from inference_service.http.server import HttpServer
from inference_service.servicer import InferenceServicer, add_to_server
from lorafleet.v1 import inference_pb2_grpc


@dataclass
class LiveFront:
    grpc_address: str
    http: HttpServer
    servicer: InferenceServicer
    loop: asyncio.AbstractEventLoop
    submitted: list = field(default_factory=list)  # every RequestHandle the engine handed out

    @property
    def base_url(self) -> str:
        return self.http.base_url

    @property
    def root_url(self) -> str:
        return self.http.base_url.removesuffix("/v1")

    def client(self, api_key: str = "none", **kw) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=api_key, max_retries=0, timeout=60, **kw)

    def grpc_stub(self, channel: grpc.Channel) -> inference_pb2_grpc.InferenceServiceStub:
        return inference_pb2_grpc.InferenceServiceStub(channel)

    def call(self, coro, timeout: float = 60.0):
        """Run ``coro`` on the servers' loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


def count_submissions(rt, submitted: list) -> None:
    """Record every request the engine accepts (the tests assert refused requests never reach it)."""
    original = rt.engine.submit

    def submit(request, loop=None):
        handle = original(request, loop)
        submitted.append(handle)
        return handle

    rt.engine.submit = submit


@contextlib.contextmanager
def live_front(rt, registry, settings, *, start_engine: bool = True, serve_http: bool = True):
    """Yields a ``LiveFront``; ``serve_http=False`` leaves the HTTP front in STARTING (503)."""
    if start_engine:
        rt.engine.start()
    submitted: list = []
    count_submissions(rt, submitted)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict = {}

    async def run():
        try:
            server = grpc.aio.server()
            servicer = InferenceServicer(settings, registry, rt)
            add_to_server(servicer, server)
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            http = HttpServer(settings, port=0)
            await http.start()
            if serve_http:
                http.serve(Backend(front_door=servicer.front_door, registry=registry, settings=settings,
                                   base_model=rt.spec.name, fingerprint=rt.spec.fingerprint))
            state.update(front=LiveFront(f"127.0.0.1:{port}", http, servicer, loop, submitted),
                         stop=asyncio.Event())
        except BaseException as exc:
            state["error"] = exc
            raise
        finally:
            ready.set()
        await state["stop"].wait()
        await http.stop(0)
        await servicer.front_door.close()
        await server.stop(0)

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(60)
    if "error" in state:
        raise state["error"]
    try:
        yield state["front"]
    finally:
        loop.call_soon_threadsafe(state["stop"].set)
        thread.join(30)
        assert not thread.is_alive()
        loop.close()


def wait_until(pred, timeout: float = 20.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached in {timeout}s")


def slow_down(rt, seconds: float = 0.03) -> None:
    """Make every decode step take a while, so cancels land mid-generation."""
    original = rt.engine._decode

    def slow():
        time.sleep(seconds)
        original()

    rt.engine._decode = slow

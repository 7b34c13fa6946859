"""Hosting the HTTP front: uvicorn on the inference server's own asyncio loop.

Why the gRPC server's loop, not a thread of its own: everything a request touches before the
engine is built for that loop. The front door, the adapter resolver (its in-flight disk reads are
futures of that loop), the rollout table, the shadow tasks and the live reporter are shared by
both transports and must stay on one loop; the engine pushes each request's events with
``call_soon_threadsafe`` to the loop that submitted it. A second loop on another thread would need
its own copies of all of these or hops between loops for every request and every token, and would
buy no parallelism in CPython: the per-token work of either transport (framing a chunk, a JSON
dump) is microseconds against a decode step of milliseconds, all under one GIL with the engine's
worker thread. So gRPC streams and HTTP streams are plain tasks side by side on one loop, and the
throughput of a mixed load is the engine's.

uvicorn runs embedded (``uvicorn.Server.serve`` as a task) on a socket bound here, so a busy port
fails ``start`` with a clear error and port 0 picks a free one (tests). The process's signals stay
``lorafleet.server.bootstrap.run_server``'s (uvicorn's own signal capture is switched off), its
logging stays the project's (``log_config=None``), and TLS uses the gRPC server's certificate and
key (mTLS with ``tls_client_ca``).

Life cycle: ``start`` opens the port in STARTING (503), ``serve(backend)`` once the engine runs,
``stop(grace_s)`` drains: new requests get 503, those in flight get ``grace_s`` to finish, then
uvicorn closes the connections and cancels what is left (the streams' ``finally`` cancels their
engine requests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn

from inference_service.http.app import build_app
from inference_service.http.lifecycle import Backend, FrontState
from lorafleet.errors import InvalidArgument, Unavailable
from lorafleet.server.auth import parse_auth_tokens

if TYPE_CHECKING:
    from lorafleet.config import Settings

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 1.0  # after the drain: how long uvicorn waits before cancelling what is left


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process's signals belong to the gRPC bootstrap."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket (not yet listening); Unavailable naming ``http_port`` when the bind fails."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise Unavailable(f"cannot listen on {host}:{port}: {exc}", field="http_port") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise Unavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}", field="http_port") from exc
    return sock


def uvicorn_config(app: object, settings: Settings) -> uvicorn.Config:
    tls = {}
    if settings.tls_cert:
        tls = {"ssl_certfile": settings.tls_cert, "ssl_keyfile": settings.tls_key,
               "ssl_ca_certs": settings.tls_client_ca or None,
               "ssl_cert_reqs": ssl.CERT_REQUIRED if settings.tls_client_ca else ssl.CERT_NONE}
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, server_header=False,
                            timeout_graceful_shutdown=SHUTDOWN_TIMEOUT_S, **tls)
    try:
        config.load()
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgument(f"cannot load the TLS certificate or key for HTTP: {exc}", field="tls_cert") from exc
    return config


class HttpServer:
    """The OpenAI-compatible API on ``settings.host:port`` (``port`` defaults to ``settings.http_port``)."""

    def __init__(self, settings: Settings, *, port: int | None = None) -> None:
        self.settings = settings
        self.state = FrontState()
        self.app = build_app(self.state, tokens=parse_auth_tokens(settings.auth_tokens),
                             max_body_bytes=settings.http_max_body_bytes)
        self._requested_port = settings.http_port if port is None else port
        self.port = 0
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def tls(self) -> bool:
        return bool(self.settings.tls_cert)

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "::", "") else self.settings.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/v1"

    async def start(self) -> None:
        """Listen (in STARTING: every request but the port's existence gets 503)."""
        if self._task is not None:
            raise RuntimeError("the HTTP server is already started")
        sock = bind_socket(self.settings.host, self._requested_port)
        try:
            self._server = _EmbeddedServer(uvicorn_config(self.app, self.settings))
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what failed uvicorn's start-up
                raise Unavailable("the HTTP server stopped while starting", field="http_port")
            await asyncio.sleep(0.005)
        log.info("http server listening", extra={"address": f"{self.settings.host}:{self.port}", "tls": self.tls})

    def serve(self, backend: Backend) -> None:
        """Start answering with ``backend`` (the engine runs, the front door exists)."""
        self.state.serve(backend)

    async def stop(self, grace_s: float) -> None:
        """Refuse new requests, give those in flight ``grace_s``, then close (idempotent)."""
        if self._task is None or self._server is None:
            return
        self.state.drain()
        if not await self.state.wait_idle(grace_s):
            log.warning("http requests still running after the grace period; cancelling them",
                        extra={"in_flight": self.state.in_flight, "grace_s": grace_s})
        self._server.should_exit = True
        try:
            await self._task
        finally:
            self._task = None
        log.info("http server stopped", extra={"port": self.port})

"""The one server bootstrap every LoRAFleet service runs on.

A server process hosts one *role* (trainer, inference or eval): the bindings of the role's
``lorafleet.roles`` entry point (``<service>.app:build_bindings(ctx)``, declared in
pyproject.toml, so this core never imports a service package) plus RegistryService,
``grpc.health.v1.Health`` and server reflection, behind three interceptors (metrics outermost, so
refused calls are counted, then bearer-token auth, then the guard of ``lorafleet.server.guard``,
which turns undecodable bodies and any exception into a status with a short message), with
optional TLS/mTLS, and Prometheus metrics on an HTTP port.

Life cycle::

    start: each binding's start() (models load, then the servicer is built) -> servicers added
           -> bind port -> serve -> health SERVING for "" and every hosted service
    stop:  health NOT_SERVING -> stop accepting -> in-flight calls get ``grace_period_s``
           (then they are cancelled) -> stop hooks in reverse order -> metrics endpoint closed

``run_server`` wires that to SIGTERM/SIGINT for ``lorafleet serve``; ``LoraFleetServer`` is the
same thing for in-process use (tests, the demo); ``lorafleet.server.background`` runs one on a
thread for synchronous code.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import SERVICE_NAME as HEALTH_SERVICE_NAME
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from lorafleet.config import Settings
from lorafleet.errors import InvalidArgument, Unavailable
from lorafleet.server.auth import AuthInterceptor, parse_auth_tokens
from lorafleet.server.binding import ServiceBinding, StartedService
from lorafleet.server.context import ServerContext
from lorafleet.server.guard import GuardInterceptor
from lorafleet.server.metrics import MetricsHttpServer, MetricsInterceptor, set_build_info
from lorafleet.server.tls import server_credentials

if TYPE_CHECKING:
    from lorafleet.registry.store import Registry

log = logging.getLogger(__name__)

ROLE_ENTRY_POINTS = "lorafleet.roles"
ROLES: tuple[str, ...] = ("trainer", "inference", "eval")

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidArgument(f"{role!r} is not one of {', '.join(ROLES)}", field="role")
    return role


def role_port(settings: Settings, role: str) -> int:
    return int(getattr(settings, f"{validate_role(role)}_port"))


def role_metrics_port(settings: Settings, role: str) -> int:
    return int(getattr(settings, f"{validate_role(role)}_metrics_port"))


def server_options(settings: Settings) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        # Without this, Linux lets a second server bind the same port and steal half the calls.
        ("grpc.so_reuseport", 0),
    ]


def role_plugin(role: str) -> Callable[[ServerContext], Sequence[ServiceBinding]]:
    """The ``build_bindings`` a distribution registered for ``role`` (``lorafleet.roles``)."""
    found = [ep for ep in metadata.entry_points(group=ROLE_ENTRY_POINTS) if ep.name == validate_role(role)]
    if not found:
        raise Unavailable(f"no installed package serves the {role!r} role (entry point group "
                          f"{ROLE_ENTRY_POINTS}); install lorafleet", field="role")
    return found[0].load()


def role_bindings(ctx: ServerContext) -> list[ServiceBinding]:
    """The role's own services plus RegistryService (hosted by every server)."""
    from lorafleet.server.registry_service import registry_binding  # lazy: pulls in SQLAlchemy

    return [*role_plugin(ctx.role)(ctx), registry_binding(ctx)]


class LoraFleetServer:
    """One gRPC server process's worth of services, startable and stoppable in-process.

    ``port``/``metrics_port`` default to the role's settings; ``port=0`` picks a free port
    (read ``.port`` / ``.address`` after ``start``); ``metrics_port=0`` disables metrics.
    ``registry`` defaults to ``Registry.from_settings(settings)`` (and is then closed on stop).
    ``bindings(ctx)``, when given, replaces ``role_bindings`` (the role's services + registry),
    e.g. ``bindings=lambda ctx: [registry_binding(ctx)]`` for a registry-only server;
    ``extra_bindings`` are hosted in addition.
    """

    def __init__(
        self,
        role: str,
        settings: Settings,
        *,
        port: int | None = None,
        metrics_port: int | None = None,
        registry: Registry | None = None,
        bindings: Callable[[ServerContext], Sequence[ServiceBinding]] | None = None,
        extra_bindings: Sequence[ServiceBinding] = (),
    ) -> None:
        self.role = validate_role(role)
        self.settings = settings
        self._requested_port = role_port(settings, role) if port is None else port
        self._requested_metrics_port = role_metrics_port(settings, role) if metrics_port is None else metrics_port
        self._registry = registry
        self._owns_registry = registry is None
        self._bindings_factory = bindings
        self._extra_bindings = list(extra_bindings)
        self._tokens = parse_auth_tokens(settings.auth_tokens)
        self._credentials = server_credentials(settings)
        self.bindings: list[ServiceBinding] = []
        self.context: ServerContext | None = None
        self.port: int = 0
        self.metrics: MetricsHttpServer | None = None
        self.health = None  # grpc_health aio HealthServicer, set in start()
        self._server: grpc.aio.Server | None = None
        self._started: list[StartedService] = []
        self._stopping: asyncio.Task[None] | None = None

    # -- addresses -------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.port}"

    @property
    def metrics_port(self) -> int:
        return self.metrics.port if self.metrics else 0

    @property
    def tls(self) -> bool:
        return self._credentials is not None

    @property
    def service_names(self) -> list[str]:
        """Every service this server answers, as reflection lists them."""
        return [b.service_name for b in self.bindings] + [HEALTH_SERVICE_NAME, reflection.SERVICE_NAME]

    # -- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("server already started")
        if self._registry is None:
            from lorafleet.registry.store import Registry

            self._registry = Registry.from_settings(self.settings)
        self.context = ServerContext(settings=self.settings, registry=self._registry, role=self.role)
        factory = self._bindings_factory or role_bindings
        self.bindings = [*factory(self.context), *self._extra_bindings]
        self._check_unique_names()

        interceptors: list[grpc.aio.ServerInterceptor] = [MetricsInterceptor()]
        if self._tokens:
            interceptors.append(AuthInterceptor(self._tokens))
        interceptors.append(GuardInterceptor())
        server = grpc.aio.server(interceptors=interceptors, options=server_options(self.settings))
        self._server = server

        self.health = health_aio.HealthServicer()
        await self.health.set("", _NOT_SERVING)
        for b in self.bindings:
            await self.health.set(b.service_name, _NOT_SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(self.service_names, server)

        try:
            for b in self.bindings:
                started = await b.start()
                self._started.append(started)
                started.add_to_server(started.servicer, server)
            self.port = self._bind(server)
            await server.start()
            if self._requested_metrics_port:
                self.metrics = MetricsHttpServer(self.settings.host, self._requested_metrics_port)
        except BaseException:
            await self._teardown(grace=0)
            raise
        set_build_info(self.role)
        for b in self.bindings:
            await self.health.set(b.service_name, _SERVING)
        await self.health.set("", _SERVING)
        log.info(
            "server started",
            extra={
                "role": self.role,
                "address": self.address,
                "tls": self.tls,
                "mtls": bool(self.settings.tls_client_ca),
                "auth": bool(self._tokens),
                "metrics_address": f"{self.settings.host}:{self.metrics_port}" if self.metrics else None,
                "services": [b.service_name for b in self.bindings],
            },
        )

    def _check_unique_names(self) -> None:
        seen: set[str] = set()
        for b in self.bindings:
            if b.service_name in seen:
                raise InvalidArgument(f"service {b.service_name} is bound twice", field="bindings")
            seen.add(b.service_name)

    def _bind(self, server: grpc.aio.Server) -> int:
        target = f"{self.settings.host}:{self._requested_port}"
        try:
            if self._credentials is not None:
                port = server.add_secure_port(target, self._credentials)
            else:
                port = server.add_insecure_port(target)
        except RuntimeError as exc:  # grpc raises RuntimeError when the bind fails
            raise Unavailable(f"cannot listen on {target}: {exc}", field="port") from exc
        if port == 0:
            raise Unavailable(f"cannot listen on {target} (in use or not a local address)", field="port")
        return port

    async def stop(self, grace: float | None = None) -> None:
        """Graceful stop (idempotent; concurrent callers wait for the same stop)."""
        if self._server is None:
            return
        if self._stopping is None:
            g = self.settings.grace_period_s if grace is None else grace
            self._stopping = asyncio.ensure_future(self._teardown(g))
        await asyncio.shield(self._stopping)

    async def _teardown(self, grace: float) -> None:
        server = self._server
        if self.health is not None:
            await self.health.enter_graceful_shutdown()
        log.info("server stopping", extra={"role": self.role, "address": self.address, "grace_s": grace})
        drains = [started.drain(grace) for started in self._started if started.drain is not None]
        stops = [server.stop(grace)] if server is not None else []
        for outcome in await asyncio.gather(*stops, *drains, return_exceptions=True):
            if isinstance(outcome, BaseException):
                log.error("draining failed", extra={"role": self.role, "error": repr(outcome)[:300]})
        errors: list[BaseException] = []
        for started in reversed(self._started):
            if started.stop is None:
                continue
            try:
                await started.stop(grace)
            except Exception as exc:
                log.exception("stop hook failed", extra={"servicer": type(started.servicer).__name__})
                errors.append(exc)
        self._started.clear()
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        if self._owns_registry and self._registry is not None:
            self._registry.close()
        log.info("server stopped", extra={"role": self.role, "address": self.address})
        if errors:
            raise errors[0]

    async def cancel_in_flight(self) -> None:
        """Cut a running graceful stop short: in-flight calls are cancelled now."""
        if self._server is not None and self._stopping is not None:
            await self._server.stop(0)

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    async def __aenter__(self) -> LoraFleetServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def run_server(
    role: str,
    settings: Settings,
    *,
    port: int | None = None,
    metrics_port: int | None = None,
    ready: Callable[[LoraFleetServer], Any] | None = None,
) -> None:
    """Serve ``role`` until SIGTERM or SIGINT, then shut down gracefully.

    ``ready(server)`` (sync or async) runs once the server answers health checks. A second
    signal during shutdown cuts the grace period short (in-flight calls are cancelled). A
    signal that arrives while the services start (model loading) takes effect after them.
    """
    server = LoraFleetServer(role, settings, port=port, metrics_port=metrics_port)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    signals_seen: list[str] = []
    pending: set[asyncio.Future[None]] = set()  # keeps the cancel task referenced until done

    def on_signal(sig: signal.Signals) -> None:
        signals_seen.append(sig.name)
        if len(signals_seen) == 1:
            log.info("shutdown requested", extra={"signal": sig.name, "role": role, "grace_s": settings.grace_period_s})
            stop_requested.set()
        else:
            log.warning("second signal: cancelling in-flight calls now", extra={"signal": sig.name, "role": role})
            task = asyncio.ensure_future(server.cancel_in_flight())
            pending.add(task)
            task.add_done_callback(pending.discard)

    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError) as exc:  # not the main thread / not supported
            log.warning("cannot install signal handler", extra={"signal": sig.name, "error": str(exc)})
    try:
        await server.start()
        if ready is not None:
            result = ready(server)
            if inspect.isawaitable(result):
                await result
        await stop_requested.wait()
        await server.stop()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)

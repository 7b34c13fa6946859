"""The inference role: how InferenceService starts inside the shared server bootstrap.

``start`` opens the OpenAI-compatible HTTP port first when ``http_port`` is set (it answers 503
while the model loads: ``inference_service.http``), loads the quantized base, installs the adapter
bank, starts the engine thread and the live reporter (observations of served requests, sent to the
evaluator at ``eval_address``), and only then builds the servicer around that runtime (see
``lorafleet.server.binding``) and lets the HTTP front serve with the servicer's front door. Both
transports share one front door, engine and registry; the HTTP server runs on the same asyncio loop
as gRPC (``inference_service.http.server`` says why). On stop, HTTP drains while gRPC drains (503 to new
requests, ``grace_s`` for those in flight), then the front door, the engine and the reporter stop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from lorafleet.compute_threads import configure_openmp, in_fresh_thread
from lorafleet.server.binding import ServiceBinding, StartedService
from lorafleet.server.context import ServerContext

if TYPE_CHECKING:
    from inference_service.http.server import HttpServer

log = logging.getLogger(__name__)

SERVICE_NAME = "lorafleet.v1.InferenceService"


def build_bindings(ctx: ServerContext) -> list[ServiceBinding]:
    """One InferenceService (plus its HTTP front on ``http_port`` unless 0)."""

    async def start() -> StartedService:
        configure_openmp()  # before torch loads libgomp (lorafleet.compute_threads)
        http = await _start_http(ctx)
        try:
            return await _start_inference(ctx, http)
        except BaseException:
            if http is not None:
                await http.stop(0)
            raise

    return [ServiceBinding(SERVICE_NAME, start)]


async def _start_http(ctx: ServerContext) -> HttpServer | None:
    if not ctx.settings.http_port:
        return None
    from inference_service.http.server import HttpServer

    http = HttpServer(ctx.settings)
    await http.start()
    return http


async def _start_inference(ctx: ServerContext, http: HttpServer | None) -> StartedService:
    from inference_service.live_reporter import LiveReporter
    from inference_service.runtime import build_runtime
    from inference_service.servicer import InferenceServicer, add_to_server

    # fresh threads: a lasting thread that ran torch would slow the engine (lorafleet.compute_threads)
    model_dir = await in_fresh_thread(ctx.base_model_dir)
    spec = await in_fresh_thread(ctx.base_spec)
    runtime = await in_fresh_thread(build_runtime, model_dir, spec, ctx.settings)
    runtime.engine.start()
    reporter = LiveReporter.from_settings(ctx.settings)
    reporter.start()
    servicer = InferenceServicer(ctx.settings, ctx.registry, runtime, reporter=reporter)
    if http is not None:
        from inference_service.http.lifecycle import Backend

        http.serve(Backend(front_door=servicer.front_door, registry=ctx.registry, settings=ctx.settings,
                           base_model=spec.name, fingerprint=spec.fingerprint))
    log.info("inference engine started", extra={"base_model": spec.name, "quantization": ctx.settings.quantization,
                                                "slots": ctx.settings.adapter_slots,
                                                "live_reports_to": ctx.settings.resolved_eval_address,
                                                "http_port": http.port if http is not None else None})

    async def drain(grace_s: float) -> None:  # HTTP drains while gRPC does: one grace period for both
        if http is not None:
            await http.stop(grace_s)

    async def stop(grace_s: float) -> None:
        if http is not None:
            await http.stop(0)  # idempotent: already drained
        await servicer.front_door.close()
        await asyncio.to_thread(runtime.engine.stop, grace_s)
        await reporter.close()

    return StartedService(servicer, add_to_server, stop, drain)

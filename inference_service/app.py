"""The inference role: how InferenceService starts inside the shared server bootstrap.

``start`` loads the quantized base, installs the adapter bank, starts the engine thread and the
live reporter (observations of served requests, sent to the evaluator at ``eval_address``) and
only then builds the servicer around that runtime (see ``lorafleet.server.binding``).
"""

from __future__ import annotations

import asyncio
import logging

from lorafleet.compute_threads import configure_openmp, in_fresh_thread
from lorafleet.server.binding import ServiceBinding, StartedService
from lorafleet.server.context import ServerContext

log = logging.getLogger(__name__)

SERVICE_NAME = "lorafleet.v1.InferenceService"


def build_bindings(ctx: ServerContext) -> list[ServiceBinding]:
    """One InferenceService."""

    async def start() -> StartedService:
        configure_openmp()  # before torch loads libgomp (lorafleet.compute_threads)
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
        log.info("inference engine started", extra={"base_model": spec.name, "quantization": ctx.settings.quantization,
                                                    "slots": ctx.settings.adapter_slots,
                                                    "live_reports_to": ctx.settings.resolved_eval_address})

        async def stop(grace_s: float) -> None:
            await servicer.front_door.close()
            await asyncio.to_thread(runtime.engine.stop, grace_s)
            await reporter.close()

        return StartedService(servicer, add_to_server, stop)

    return [ServiceBinding(SERVICE_NAME, start)]

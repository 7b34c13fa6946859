"""Service bindings this package contributes to its server (see lorafleet.server.binding)."""

from __future__ import annotations

import asyncio
import logging

from lorafleet.compute_threads import in_fresh_thread
from lorafleet.server.binding import ServiceBinding
from lorafleet.server.context import ServerContext

log = logging.getLogger(__name__)

SERVICE_NAME = "lorafleet.v1.InferenceService"


def build_bindings(ctx: ServerContext) -> list[ServiceBinding]:
    """One InferenceService; ``on_start`` loads the quantized base and starts the engine thread."""
    from inference_service.servicer import InferenceServicer, add_to_server

    servicer = InferenceServicer(ctx.settings, ctx.registry, base_fingerprint="")

    async def on_start() -> None:
        from inference_service.runtime import build_runtime

        # fresh threads: a lasting thread that ran torch would slow the engine (lorafleet.compute_threads)
        model_dir = await in_fresh_thread(ctx.base_model_dir)
        spec = await in_fresh_thread(ctx.base_spec)
        runtime = await in_fresh_thread(build_runtime, model_dir, spec, ctx.settings)
        runtime.engine.start()
        servicer.base_fingerprint = spec.fingerprint
        servicer.attach(runtime)
        log.info("inference engine started", extra={"base_model": spec.name, "quantization": ctx.settings.quantization,
                                                    "slots": ctx.settings.adapter_slots})

    async def on_stop(grace_s: float) -> None:
        if servicer.runtime is not None:
            await asyncio.to_thread(servicer.runtime.engine.stop, grace_s)

    return [ServiceBinding(service_name=SERVICE_NAME, servicer=servicer,
                           add_to_server=lambda s, server: add_to_server(s, server),
                           on_start=on_start, on_stop=on_stop)]

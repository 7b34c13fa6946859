"""Service bindings this package contributes to its server (see lorafleet.server.binding)."""

from __future__ import annotations

import logging

from lorafleet.server.binding import ServiceBinding
from lorafleet.server.context import ServerContext

log = logging.getLogger(__name__)

SERVICE_NAME = "lorafleet.v1.EvalService"
MIN_GENERATION_CONCURRENCY = 16


def inference_channel(settings):  # type: ignore[no-untyped-def]
    """aio channel to InferenceService with the fleet's auth token and TLS settings."""
    from lorafleet.client.channel import connect_aio

    tokens = settings.auth_token_list
    tls = bool(settings.tls_cert)
    # The fleet's servers share one certificate setup: trust the client CA (or the self-signed server
    # certificate), and present this server's certificate when the fleet requires client certs (mTLS).
    mtls = tls and bool(settings.tls_client_ca)
    return connect_aio(settings.resolved_inference_address, token=tokens[0] if tokens else None,
                       tls=tls or None, tls_ca=(settings.tls_client_ca or settings.tls_cert) if tls else None,
                       tls_cert=settings.tls_cert if mtls else None, tls_key=settings.tls_key if mtls else None,
                       timeout=None, max_message_bytes=settings.max_message_bytes)


def build_bindings(ctx: ServerContext) -> list[ServiceBinding]:
    """One EvalService. ``on_start`` opens the channel to inference (inside the server's event
    loop, as grpc.aio requires), loads and validates the shipped suites, and fails evaluations
    a previous process left unfinished."""
    from eval_service.generation import InferenceGenerator
    from eval_service.runner import EvaluationRunner
    from eval_service.servicer import EvalServicer, add_to_server
    from eval_service.suites.loader import SuiteCatalog

    servicer = EvalServicer()
    state: dict = {}

    async def on_start() -> None:
        channel = inference_channel(ctx.settings)
        state["channel"] = channel
        # Keep at least one full decode batch of the inference engine busy with our requests.
        concurrency = max(MIN_GENERATION_CONCURRENCY, ctx.settings.max_batch_size)
        runner = EvaluationRunner(ctx.registry, InferenceGenerator(channel), catalog=SuiteCatalog(),
                                  concurrency=concurrency)
        await runner.recover_interrupted()
        servicer.runner = runner
        log.info("evaluator started", extra={"inference": ctx.settings.resolved_inference_address,
                                             "suites": runner.catalog.names()})

    async def on_stop(grace_s: float) -> None:
        await servicer.stop(grace_s)
        if "channel" in state:
            await state["channel"].close()

    return [ServiceBinding(service_name=SERVICE_NAME, servicer=servicer,
                           add_to_server=lambda s, server: add_to_server(s, server),
                           on_start=on_start, on_stop=on_stop)]

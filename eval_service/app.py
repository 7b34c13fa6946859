"""The eval role: how EvalService starts inside the shared server bootstrap.

``start`` opens the asyncio channel to InferenceService (inside the server's event loop, as
grpc.aio requires), loads and validates the shipped suites, fails evaluations a previous process
left unfinished, and only then builds the servicer around the runner.
"""

from __future__ import annotations

import logging

import grpc

from lorafleet.client.channel import RetryPolicy, connect_aio
from lorafleet.config import Settings
from lorafleet.server.binding import ServiceBinding, StartedService
from lorafleet.server.context import ServerContext

log = logging.getLogger(__name__)

SERVICE_NAME = "lorafleet.v1.EvalService"
MIN_GENERATION_CONCURRENCY = 16
# The one retry mechanism of evaluator -> inference calls: the channel's gRPC retry policy. A full
# inference queue (RESOURCE_EXHAUSTED) is retried like a restarting server (UNAVAILABLE).
INFERENCE_RETRY = RetryPolicy(max_attempts=5, initial_backoff_s=0.5, max_backoff_s=8.0,
                              retryable_codes=("UNAVAILABLE", "RESOURCE_EXHAUSTED"))


def inference_channel(settings: Settings) -> grpc.aio.Channel:
    """aio channel to InferenceService with the fleet's auth token and TLS settings."""
    tokens = settings.auth_token_list
    tls = bool(settings.tls_cert)
    # The fleet's servers share one certificate setup: trust the client CA (or the self-signed server
    # certificate), and present this server's certificate when the fleet requires client certs (mTLS).
    mtls = tls and bool(settings.tls_client_ca)
    return connect_aio(settings.resolved_inference_address, token=tokens[0] if tokens else None,
                       tls=tls or None, tls_ca=(settings.tls_client_ca or settings.tls_cert) if tls else None,
                       tls_cert=settings.tls_cert if mtls else None, tls_key=settings.tls_key if mtls else None,
                       timeout=None, retry=INFERENCE_RETRY, max_message_bytes=settings.max_message_bytes)


def build_bindings(ctx: ServerContext) -> list[ServiceBinding]:
    """One EvalService."""

    async def start() -> StartedService:
        from eval_service.generation import InferenceGenerator
        from eval_service.runner import EvaluationRunner
        from eval_service.servicer import EvalServicer, add_to_server
        from eval_service.suites.loader import SuiteCatalog

        channel = inference_channel(ctx.settings)
        # Keep at least one full decode batch of the inference engine busy with our requests.
        concurrency = max(MIN_GENERATION_CONCURRENCY, ctx.settings.max_batch_size)
        runner = EvaluationRunner(ctx.registry, InferenceGenerator(channel), catalog=SuiteCatalog(),
                                  concurrency=concurrency)
        await runner.recover_interrupted()
        servicer = EvalServicer(runner)
        log.info("evaluator started", extra={"inference": ctx.settings.resolved_inference_address,
                                             "suites": runner.catalog.names()})

        async def stop(grace_s: float) -> None:
            await servicer.stop(grace_s)
            await channel.close()

        return StartedService(servicer, add_to_server, stop)

    return [ServiceBinding(SERVICE_NAME, start)]

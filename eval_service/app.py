"""The eval role: how the evaluator's services start inside the shared server bootstrap.

EvalService's start opens the asyncio channel to InferenceService (inside the server's event
loop, as grpc.aio requires), loads and validates the shipped suites, fails evaluations a previous
process left unfinished, and only then builds the servicer around the runner. RolloutService's
start repairs what a crash may have cut off and resumes the running rollouts' tests
(``eval_service.online.live``); LiveTrafficService receives inference's observations.
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
ROLLOUT_SERVICE_NAME = "lorafleet.v1.RolloutService"
LIVE_TRAFFIC_SERVICE_NAME = "lorafleet.v1.LiveTrafficService"
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
    """EvalService (offline suites), RolloutService and LiveTrafficService (online evaluation).

    The two online services share one ``LiveEvaluator``; the bootstrap starts bindings in order,
    so RolloutService's start (which creates it and resumes running rollouts) comes first.
    """
    return [ServiceBinding(SERVICE_NAME, lambda: _start_offline(ctx)), *_online_bindings(ctx)]


def _online_bindings(ctx: ServerContext) -> list[ServiceBinding]:
    shared: dict[str, object] = {}

    async def start_rollouts() -> StartedService:
        from eval_service.online.live import LiveEvaluator
        from eval_service.online.servicer import RolloutServicer, add_to_server

        live = LiveEvaluator(ctx.registry)
        await live.start()
        shared["live"] = live

        async def stop(grace_s: float) -> None:
            await live.stop()

        return StartedService(RolloutServicer(live), add_to_server, stop)

    async def start_traffic() -> StartedService:
        from eval_service.online.servicer import LiveTrafficServicer, add_live_to_server

        return StartedService(LiveTrafficServicer(shared["live"]), add_live_to_server)  # type: ignore[arg-type]

    return [ServiceBinding(ROLLOUT_SERVICE_NAME, start_rollouts),
            ServiceBinding(LIVE_TRAFFIC_SERVICE_NAME, start_traffic)]


async def _start_offline(ctx: ServerContext) -> StartedService:
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

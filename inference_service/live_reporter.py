"""Live reports: what inference served, sent to the evaluator off the hot path.

``report`` only appends to a bounded in-memory queue (``live_report_queue``; when it is full the
new observation is dropped and counted) and never blocks or fails a request. One asyncio task
sends the queue in batches of at most ``batch_size`` (256), as soon as a batch is full or every
``flush_s`` (0.5 s), to ``LiveTrafficService.RecordObservations`` of the evaluator
(``eval_address``). A failed call is logged (at most once per ``warn_every_s``) and counted, and
its batch is dropped: observations are statistics, a gap is better than a backlog. Everything runs
on the server's event loop, never on the engine thread.

``lorafleet_live_reports_total{outcome}`` counts observations: ``sent``, ``dropped`` (queue full),
``failed`` (the call failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from google.protobuf.timestamp_pb2 import Timestamp

from inference_service import metrics
from inference_service.engine.types import FinishReason
from lorafleet.client.channel import connect_aio
from lorafleet.v1 import common_pb2, inference_pb2, rollout_pb2, rollout_pb2_grpc

if TYPE_CHECKING:
    from lorafleet.config import Settings

log = logging.getLogger(__name__)

BATCH_SIZE = 256
FLUSH_S = 0.5
CALL_TIMEOUT_S = 5.0
_FINISH = {
    FinishReason.LENGTH: inference_pb2.FINISH_REASON_LENGTH,
    FinishReason.STOP: inference_pb2.FINISH_REASON_STOP,
    FinishReason.EOS: inference_pb2.FINISH_REASON_EOS,
    FinishReason.CANCELLED: inference_pb2.FINISH_REASON_CANCELLED,
}


@dataclass(frozen=True)
class LiveObservation:
    """One served (or shadow) request, as plain values (``Observation`` of rollout.proto).

    ``arm`` is ``routing.Arm``'s value; ``time`` is seconds since the epoch. Text fields
    (``prompt``, ``messages``, ``reply``) are set only when ``sampled``.
    """

    request_id: str
    adapter_name: str
    version: int
    arm: str
    time: float
    rollout_id: str = ""
    paired_request_id: str = ""
    sampled: bool = False
    prompt: str = ""
    messages: tuple[tuple[str, str], ...] = ()
    reply: str = ""
    finish_reason: FinishReason | None = None
    completion_tokens: int = 0
    time_to_first_token_seconds: float = 0.0
    total_seconds: float = 0.0
    error_code: str = ""

    def to_proto(self) -> rollout_pb2.Observation:
        when = Timestamp()
        when.FromNanoseconds(int(self.time * 1e9))
        return rollout_pb2.Observation(
            request_id=self.request_id, adapter_name=self.adapter_name, version=self.version,
            arm=rollout_pb2.TrafficArm.Value(f"TRAFFIC_ARM_{self.arm}"), rollout_id=self.rollout_id,
            paired_request_id=self.paired_request_id, sampled=self.sampled, prompt=self.prompt,
            messages=[common_pb2.ChatMessage(role=r, content=c) for r, c in self.messages], reply=self.reply,
            finish_reason=_FINISH.get(self.finish_reason, inference_pb2.FINISH_REASON_UNSPECIFIED),
            completion_tokens=self.completion_tokens, time_to_first_token_seconds=self.time_to_first_token_seconds,
            total_seconds=self.total_seconds, error_code=self.error_code, time=when)


def eval_channel(settings: Settings) -> Any:
    """aio channel to the evaluator with the fleet's auth token and TLS settings (no retries)."""
    tokens = settings.auth_token_list
    tls = bool(settings.tls_cert)
    # The fleet's servers share one certificate setup: trust the client CA (or the self-signed server
    # certificate), and present this server's certificate when the fleet requires client certs (mTLS).
    mtls = tls and bool(settings.tls_client_ca)
    return connect_aio(settings.resolved_eval_address, token=tokens[0] if tokens else None,
                       tls=tls or None, tls_ca=(settings.tls_client_ca or settings.tls_cert) if tls else None,
                       tls_cert=settings.tls_cert if mtls else None, tls_key=settings.tls_key if mtls else None,
                       timeout=CALL_TIMEOUT_S, retry=None, max_message_bytes=settings.max_message_bytes)


class LiveReporter:
    """Queues observations and sends them in batches (see the module docstring)."""

    def __init__(self, channel: Any, *, max_queue: int, batch_size: int = BATCH_SIZE, flush_s: float = FLUSH_S,
                 call_timeout_s: float = CALL_TIMEOUT_S, warn_every_s: float = 60.0, source: str = "") -> None:
        self.channel = channel
        self.stub = rollout_pb2_grpc.LiveTrafficServiceStub(channel)
        self.max_queue, self.batch_size, self.flush_s = max_queue, batch_size, flush_s
        self.call_timeout_s, self.warn_every_s = call_timeout_s, warn_every_s
        self.source = source or socket.gethostname()
        self._queue: deque[LiveObservation] = deque()
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._warned_at = -math.inf
        self.counts = {"sent": 0, "dropped": 0, "failed": 0}

    @classmethod
    def from_settings(cls, settings: Settings) -> LiveReporter:
        return cls(eval_channel(settings), max_queue=settings.live_report_queue)

    def report(self, observation: LiveObservation) -> bool:
        """Queue one observation (never blocks); False when the queue was full and it was dropped."""
        if len(self._queue) >= self.max_queue:
            self._count("dropped", 1)
            return False
        self._queue.append(observation)
        if len(self._queue) >= self.batch_size:
            self._full.set()
        return True

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        """Start the sender on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="lorafleet-live-reporter")

    async def close(self, timeout_s: float = 2.0) -> None:
        """Send what is queued (for at most ``timeout_s``), stop the sender, close the channel."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.flush(), timeout_s)
        await self.channel.close()

    async def flush(self) -> None:
        """Send everything queued now, batch by batch."""
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
            await self._send(batch)

    async def _run(self) -> None:
        while True:
            if len(self._queue) < self.batch_size:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.flush_s)
            self._full.clear()
            await self.flush()

    async def _send(self, batch: list[LiveObservation]) -> None:
        request = rollout_pb2.RecordObservationsRequest(observations=[o.to_proto() for o in batch], source=self.source)
        try:
            await self.stub.RecordObservations(request, timeout=self.call_timeout_s)
        except asyncio.CancelledError:
            self._count("failed", len(batch))
            raise
        except Exception as exc:
            self._count("failed", len(batch))
            now = time.monotonic()
            if now - self._warned_at >= self.warn_every_s:
                self._warned_at = now
                log.warning("live report failed; batch dropped",
                            extra={"observations": len(batch), "error": f"{type(exc).__name__}: {exc}"[:500],
                                   "failed_total": self.counts["failed"]})
            return
        self._count("sent", len(batch))

    def _count(self, outcome: str, n: int) -> None:
        self.counts[outcome] += n
        metrics.LIVE_REPORTS.labels(outcome=outcome).inc(n)

"""gRPC channels to LoRAFleet servers: retries, default deadlines, TLS and bearer tokens.

* **Retries**: a gRPC service-config ``retryPolicy`` on every method retries UNAVAILABLE (server
  restarting, not up yet, connection refused) with exponential backoff. gRPC draws each wait
  uniformly from ``[0, min(initial * multiplier**(n-1), max)]``; at most 5 attempts in total
  (gRPC's own cap). Reconnection backoff is shortened so a retry meets a server that came up.
* **Default deadlines**: calls that answer one message (unary, client-streaming) get
  ``timeout`` seconds unless the call sets its own; server-streaming calls (watch, generate
  stream) run until the stream ends or the caller gives a deadline.
* **Auth**: over TLS the token travels as standard call credentials
  (``authorization: Bearer <token>``); over plaintext gRPC refuses call credentials, so a client
  interceptor adds the same header (meant for loopback or a mesh that encrypts for you; a
  warning is logged for other hosts).
"""

from __future__ import annotations

import collections
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """gRPC retryPolicy parameters (see gRFC A6)."""

    max_attempts: int = 5
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    backoff_multiplier: float = 2.0
    retryable_codes: tuple[str, ...] = ("UNAVAILABLE",)

    def __post_init__(self) -> None:
        if not 2 <= self.max_attempts <= 5:
            raise ValueError("max_attempts must be 2..5 (gRPC caps retries at 5 attempts)")
        if self.initial_backoff_s <= 0 or self.max_backoff_s <= 0 or self.backoff_multiplier <= 0:
            raise ValueError("backoff values must be > 0")
        for code in self.retryable_codes:
            if code not in grpc.StatusCode.__members__:
                raise ValueError(f"{code!r} is not a gRPC status code name")

    def service_config(self) -> str:
        return json.dumps({
            "methodConfig": [{
                "name": [{}],  # every service and method
                "retryPolicy": {
                    "maxAttempts": self.max_attempts,
                    "initialBackoff": f"{self.initial_backoff_s}s",
                    "maxBackoff": f"{self.max_backoff_s}s",
                    "backoffMultiplier": self.backoff_multiplier,
                    "retryableStatusCodes": list(self.retryable_codes),
                },
            }]
        })


DEFAULT_RETRY = RetryPolicy()


def channel_options(retry: RetryPolicy | None, max_message_bytes: int) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 2000),
        ("grpc.service_config_disable_resolution", 1),
    ]
    if retry is not None:
        options += [("grpc.enable_retries", 1), ("grpc.service_config", retry.service_config())]
    else:
        options += [("grpc.enable_retries", 0)]
    return options


def is_loopback(address: str) -> bool:
    if address.startswith(("unix:", "unix-abstract:")):
        return True
    host = address.rsplit(":", 1)[0] if not address.startswith("[") else address[1:].split("]")[0]
    host = host.removeprefix("ipv4:").removeprefix("dns:///")
    return host in ("localhost", "::1") or host.startswith("127.")


def _read(path: str | Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc.strerror}") from exc


def _credentials(
    token: str | None, tls: bool, tls_ca: Any, tls_cert: Any, tls_key: Any
) -> grpc.ChannelCredentials | None:
    if not tls:
        return None
    if bool(tls_cert) != bool(tls_key):
        raise ValueError("tls_cert and tls_key must be given together (client certificate for mTLS)")
    creds = grpc.ssl_channel_credentials(
        root_certificates=_read(tls_ca, "CA bundle"),
        private_key=_read(tls_key, "client key"),
        certificate_chain=_read(tls_cert, "client certificate"),
    )
    if token:
        creds = grpc.composite_channel_credentials(creds, grpc.access_token_call_credentials(token))
    return creds


class _CallDetails(
    collections.namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
    grpc.ClientCallDetails,
):
    pass


class _DefaultsInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds the default deadline (single-answer calls) and, over plaintext, the bearer header."""

    def __init__(self, timeout: float | None, header: tuple[str, str] | None) -> None:
        self._timeout = timeout
        self._header = header

    def _details(self, d: grpc.ClientCallDetails, single_answer: bool) -> _CallDetails:
        timeout = d.timeout if d.timeout is not None or not single_answer else self._timeout
        metadata = list(d.metadata or ())
        if self._header is not None and not any(k == "authorization" for k, _ in metadata):
            metadata.append(self._header)
        return _CallDetails(
            d.method, timeout, metadata, d.credentials,
            getattr(d, "wait_for_ready", None), getattr(d, "compression", None),
        )

    def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(client_call_details, True), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(client_call_details, False), request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return continuation(self._details(client_call_details, True), request_iterator)

    def intercept_stream_stream(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return continuation(self._details(client_call_details, False), request_iterator)


def _plaintext_header(address: str, token: str | None, tls: bool) -> tuple[str, str] | None:
    if not token or tls:
        return None
    if not is_loopback(address):
        log.warning("sending a bearer token over plaintext to a non-loopback address", extra={"address": address})
    return ("authorization", f"Bearer {token}")


def connect(
    address: str,
    *,
    token: str | None = None,
    tls: bool | None = None,
    tls_ca: str | Path | None = None,
    tls_cert: str | Path | None = None,
    tls_key: str | Path | None = None,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    retry: RetryPolicy | None = DEFAULT_RETRY,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    options: list[tuple[str, Any]] | None = None,
) -> grpc.Channel:
    """A synchronous channel to ``address`` (``host:port``).

    TLS is used when ``tls`` is true or any of ``tls_ca``/``tls_cert``/``tls_key`` is given
    (``tls_ca`` None = system roots; ``tls_cert`` + ``tls_key`` = client certificate for mTLS).
    ``timeout`` is the default deadline in seconds (None: none); ``retry=None`` disables retries.
    ``options`` adds raw channel arguments (e.g. ``grpc.ssl_target_name_override``).
    """
    use_tls = bool(tls) or any(x is not None for x in (tls_ca, tls_cert, tls_key))
    creds = _credentials(token, use_tls, tls_ca, tls_cert, tls_key)
    opts = channel_options(retry, max_message_bytes) + list(options or [])
    if creds:
        channel = grpc.secure_channel(address, creds, options=opts)
    else:
        channel = grpc.insecure_channel(address, options=opts)
    return grpc.intercept_channel(channel, _DefaultsInterceptor(timeout, _plaintext_header(address, token, use_tls)))


class _AioDefaults:
    """``_DefaultsInterceptor`` for ``grpc.aio`` channels (which want one object per call kind)."""

    def __init__(self, timeout: float | None, header: tuple[str, str] | None) -> None:
        self._timeout = timeout
        self._header = header

    def _details(self, d: grpc.aio.ClientCallDetails, single_answer: bool) -> grpc.aio.ClientCallDetails:
        timeout = d.timeout if d.timeout is not None or not single_answer else self._timeout
        metadata = grpc.aio.Metadata(*(d.metadata or ()))
        if self._header is not None and "authorization" not in metadata:
            metadata.add(*self._header)
        return grpc.aio.ClientCallDetails(d.method, timeout, metadata, d.credentials, d.wait_for_ready)


class _AioUnaryUnary(_AioDefaults, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._details(client_call_details, True), request)


class _AioUnaryStream(_AioDefaults, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._details(client_call_details, False), request)


class _AioStreamUnary(_AioDefaults, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return await continuation(self._details(client_call_details, True), request_iterator)


class _AioStreamStream(_AioDefaults, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return await continuation(self._details(client_call_details, False), request_iterator)


def connect_aio(
    address: str,
    *,
    token: str | None = None,
    tls: bool | None = None,
    tls_ca: str | Path | None = None,
    tls_cert: str | Path | None = None,
    tls_key: str | Path | None = None,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    retry: RetryPolicy | None = DEFAULT_RETRY,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    options: list[tuple[str, Any]] | None = None,
) -> grpc.aio.Channel:
    """``connect`` for asyncio code (a service calling another, e.g. evaluator -> inference)."""
    use_tls = bool(tls) or any(x is not None for x in (tls_ca, tls_cert, tls_key))
    creds = _credentials(token, use_tls, tls_ca, tls_cert, tls_key)
    opts = channel_options(retry, max_message_bytes) + list(options or [])
    header = _plaintext_header(address, token, use_tls)
    kinds = (_AioUnaryUnary, _AioUnaryStream, _AioStreamUnary, _AioStreamStream)
    interceptors = [cls(timeout, header) for cls in kinds]
    if creds:
        return grpc.aio.secure_channel(address, creds, options=opts, interceptors=interceptors)
    return grpc.aio.insecure_channel(address, options=opts, interceptors=interceptors)

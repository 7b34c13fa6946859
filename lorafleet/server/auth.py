"""Bearer-token authentication and read-only authorization for every RPC.

``settings.auth_tokens`` is a comma-separated list of entries ``token`` (full access) or
``token:read`` (read-only). When the list is empty, auth is off. A call must carry the metadata
``authorization: Bearer <token>``:

* missing header, wrong scheme or unknown token -> UNAUTHENTICATED
* read-only token on a method that changes state -> PERMISSION_DENIED

Read-only methods are recognised by name: ``Get*``, ``List*``, ``Watch*``, ``Generate*`` (which
includes ``GetModelInfo``), and ``SubmitFeedback`` (a caller allowed to generate may rate the
reply it got). Health checks and reflection are exempt so Kubernetes probes and
``grpcurl list`` work without secrets. Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from lorafleet.errors import InvalidArgument
from lorafleet.server.handlers import metadata_value, split_method, with_behavior

log = logging.getLogger(__name__)

EXEMPT_SERVICES = frozenset({
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
})
READ_ONLY_PREFIXES = ("Get", "List", "Watch", "Generate")
# Callers that may only read and generate may still rate what they were served.
READ_SCOPE_METHODS = frozenset({"SubmitFeedback"})
SCOPES = ("full", "read")


@dataclass(frozen=True)
class Token:
    secret: str
    scope: str  # "full" or "read"

    def __repr__(self) -> str:  # never print the secret
        return f"Token(scope={self.scope!r})"


def parse_auth_tokens(text: str) -> list[Token]:
    """``"a,b:read, c:full"`` -> tokens; blanks are skipped. A bad entry is named by position."""
    tokens: list[Token] = []
    for index, raw in enumerate(text.split(",")):
        entry = raw.strip()
        if not entry:
            continue
        secret, sep, scope = entry.rpartition(":")
        if not sep:
            secret, scope = entry, "full"
        if scope not in SCOPES:
            raise InvalidArgument(
                f"entry {index}: scope {scope!r} is not one of {', '.join(SCOPES)} (write 'token' or 'token:read')",
                field="auth_tokens",
            )
        if not secret or any(c.isspace() for c in secret):
            raise InvalidArgument(f"entry {index}: token must be non-empty without whitespace", field="auth_tokens")
        tokens.append(Token(secret=secret, scope=scope))
    return tokens


def is_read_only_method(method: str) -> bool:
    return method.startswith(READ_ONLY_PREFIXES) or method in READ_SCOPE_METHODS


def authorize(tokens: list[Token], full_method: str, authorization: str | None) -> tuple[grpc.StatusCode, str] | None:
    """None when the call may proceed, else the (code, message) to reject it with."""
    service, method = split_method(full_method)
    if service in EXEMPT_SERVICES:
        return None
    if not authorization:
        return grpc.StatusCode.UNAUTHENTICATED, "missing 'authorization: Bearer <token>' metadata"
    scheme, _, presented = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return grpc.StatusCode.UNAUTHENTICATED, "authorization metadata must be 'Bearer <token>'"
    presented_b = presented.strip().encode()
    match = None
    for token in tokens:  # compare against every token so timing does not reveal which matched
        if hmac.compare_digest(token.secret.encode(), presented_b):
            match = token
    if match is None:
        return grpc.StatusCode.UNAUTHENTICATED, "invalid token"
    if match.scope == "read" and not is_read_only_method(method):
        return grpc.StatusCode.PERMISSION_DENIED, f"{service}/{method} changes state; this token is read-only"
    return None


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, tokens: list[Token]) -> None:
        if not tokens:
            raise ValueError("AuthInterceptor needs at least one token")
        self._tokens = list(tokens)

    async def intercept_service(self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails) -> Any:
        presented = metadata_value(details.invocation_metadata, "authorization")
        rejection = authorize(self._tokens, details.method, presented)
        handler = await continuation(details)
        if rejection is None or handler is None:
            return handler
        code, message = rejection
        log.info("rpc refused", extra={"rpc": details.method, "code": code.name, "reason": message})

        async def reject(request_or_iterator: Any, context: grpc.aio.ServicerContext) -> None:
            await context.abort(code, message)

        return with_behavior(handler, reject)

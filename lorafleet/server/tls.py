"""Server transport credentials from settings: plaintext, TLS, or mutual TLS.

TLS is on when ``tls_cert`` and ``tls_key`` are set. With ``tls_client_ca`` too, every client
must present a certificate signed by that CA (mTLS); the handshake fails otherwise, before any
RPC runs.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from lorafleet.config import Settings
from lorafleet.errors import InvalidArgument


def _read_pem(path: str, field: str) -> bytes:
    p = Path(path).expanduser()
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"cannot read {p}: {exc.strerror}", field=field) from exc
    if b"-----BEGIN" not in data:
        raise InvalidArgument(f"{p} is not a PEM file", field=field)
    return data


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """None for plaintext; TLS (or mTLS) credentials otherwise."""
    if not settings.tls_cert:
        if settings.tls_client_ca:
            raise InvalidArgument("client certificates (mTLS) need tls_cert and tls_key as well", field="tls_client_ca")
        return None
    cert = _read_pem(settings.tls_cert, "tls_cert")
    key = _read_pem(settings.tls_key, "tls_key")
    client_ca = _read_pem(settings.tls_client_ca, "tls_client_ca") if settings.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )

"""TLS and mutual TLS with certificates generated in the test."""

from __future__ import annotations

import grpc
import pytest
from lorafleet_testkit import registry_only

from lorafleet.client import LoraFleetClient
from lorafleet.errors import InvalidArgument
from lorafleet.server.background import BackgroundServer
from lorafleet.server.tls import server_credentials

# The server certificate names localhost and 127.0.0.1; the client dials 127.0.0.1.


def _tls_settings(fleet_settings, certificates, *, mtls: bool, tokens: str = ""):
    return fleet_settings.replace(
        tls_cert=str(certificates.server_cert), tls_key=str(certificates.server_key),
        tls_client_ca=str(certificates.ca) if mtls else "", auth_tokens=tokens,
    )


def _list(client: LoraFleetClient) -> list:
    return list(client.registry.iter_adapters())


def _code(fn) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return err.value.code()


def test_tls_server_with_bearer_token(fleet_settings, certificates):
    settings = _tls_settings(fleet_settings, certificates, mtls=False, tokens="tls-token")
    with BackgroundServer("eval", settings, port=0, metrics_port=0, bindings=registry_only) as server:
        assert server.server.tls
        with LoraFleetClient(server.address, tls_ca=certificates.ca, token="tls-token", timeout=10) as fleet:
            assert _list(fleet) == []
        with LoraFleetClient(server.address, tls_ca=certificates.ca, timeout=10) as anonymous:
            assert _code(lambda: _list(anonymous)) == grpc.StatusCode.UNAUTHENTICATED
        with LoraFleetClient(server.address, timeout=3, retry=None) as plaintext:  # no TLS: handshake fails
            assert _code(lambda: _list(plaintext)) == grpc.StatusCode.UNAVAILABLE


def test_tls_client_must_trust_the_server_ca(fleet_settings, certificates):
    settings = _tls_settings(fleet_settings, certificates, mtls=False)
    # Trusting a different CA (the client certificate is no CA): verification fails.
    with (BackgroundServer("eval", settings, port=0, metrics_port=0, bindings=registry_only) as server,
          LoraFleetClient(server.address, tls_ca=certificates.other_client_cert, timeout=3, retry=None) as fleet):
        assert _code(lambda: _list(fleet)) == grpc.StatusCode.UNAVAILABLE


def test_mtls_requires_a_client_certificate_from_the_configured_ca(fleet_settings, certificates):
    settings = _tls_settings(fleet_settings, certificates, mtls=True)
    with BackgroundServer("eval", settings, port=0, metrics_port=0, bindings=registry_only) as server:
        c = certificates
        with LoraFleetClient(server.address, tls_ca=c.ca, tls_cert=c.client_cert, tls_key=c.client_key,
                             timeout=10) as fleet:
            assert _list(fleet) == []
        with LoraFleetClient(server.address, tls_ca=c.ca, timeout=3, retry=None) as no_cert:
            assert _code(lambda: _list(no_cert)) == grpc.StatusCode.UNAVAILABLE
        with LoraFleetClient(server.address, tls_ca=c.ca, tls_cert=c.other_client_cert, tls_key=c.other_client_key,
                             timeout=3, retry=None) as stranger:
            assert _code(lambda: _list(stranger)) == grpc.StatusCode.UNAVAILABLE


def test_bad_tls_settings_are_reported_with_their_field(fleet_settings, certificates, tmp_path):
    with pytest.raises(InvalidArgument) as missing:
        server_credentials(fleet_settings.replace(tls_cert=str(tmp_path / "nope.pem"),
                                                  tls_key=str(certificates.server_key)))
    assert missing.value.field == "tls_cert"
    not_pem = tmp_path / "key.txt"
    not_pem.write_text("hello")
    with pytest.raises(InvalidArgument) as bad:
        server_credentials(fleet_settings.replace(tls_cert=str(certificates.server_cert), tls_key=str(not_pem)))
    assert bad.value.field == "tls_key"
    with pytest.raises(InvalidArgument) as ca_only:
        server_credentials(fleet_settings.replace(tls_client_ca=str(certificates.ca)))
    assert ca_only.value.field == "tls_client_ca"

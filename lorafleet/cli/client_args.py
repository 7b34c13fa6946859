"""Connection flags shared by every command that talks to a server.

``--server`` defaults to ``$LORAFLEET_SERVER``, else the configured inference address;
``--token`` to ``$LORAFLEET_TOKEN``. Commands add these with ``parents=[client_parent()]`` and
open the connection with ``client_from_args(args)``.
"""

from __future__ import annotations

import argparse
import os

from lorafleet.client import SERVER_ENV, TOKEN_ENV, LoraFleetClient, default_address
from lorafleet.client.channel import DEFAULT_TIMEOUT_S


def client_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument("--server", metavar="HOST:PORT", default=None,
                       help=f"server address (default: ${SERVER_ENV}, else the configured inference address)")
    group.add_argument("--token", default=None, help=f"bearer token (default: ${TOKEN_ENV})")
    group.add_argument("--tls", action="store_true", help="use TLS (implied by --tls-ca/--tls-cert)")
    group.add_argument("--tls-ca", metavar="PEM", default=None, help="CA bundle that signed the server certificate")
    group.add_argument("--tls-cert", metavar="PEM", default=None, help="client certificate (mTLS)")
    group.add_argument("--tls-key", metavar="PEM", default=None, help="client private key (mTLS)")
    group.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                       help=f"deadline of each call (default {DEFAULT_TIMEOUT_S:g})")
    return parent


def client_from_args(args: argparse.Namespace) -> LoraFleetClient:
    return LoraFleetClient(
        args.server or default_address(),
        token=args.token or os.environ.get(TOKEN_ENV) or None,
        tls=args.tls or None,
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        timeout=args.timeout,
    )

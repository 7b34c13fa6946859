"""Connection flags shared by every command that talks to a server.

Each command talks to one service, and ``--server`` defaults to *that* service's address
(``lorafleet.client.addresses``: ``$LORAFLEET_<SERVICE>_ADDRESS``, else host and port), so a
command never reaches another service's port by accident. ``--token`` defaults to
``$LORAFLEET_TOKEN``. Commands add these with ``parents=[client_parent("trainer")]`` and open the
connection with ``client_from_args(args)``.
"""

from __future__ import annotations

import argparse
import os

from lorafleet.client import TOKEN_ENV, LoraFleetClient
from lorafleet.client.addresses import address_env
from lorafleet.client.channel import DEFAULT_TIMEOUT_S

# The service whose address --server means; registry commands go to the inference server.
_ADDRESS_FOR = {"trainer": "trainer_address", "eval": "eval_address", "inference": "address"}


def client_parent(service: str = "inference") -> argparse.ArgumentParser:
    if service not in _ADDRESS_FOR:
        raise ValueError(f"{service!r} is not one of {', '.join(_ADDRESS_FOR)}")
    parent = argparse.ArgumentParser(add_help=False)
    parent.set_defaults(client_service=service)
    group = parent.add_argument_group("connection")
    group.add_argument("--server", metavar="HOST:PORT", default=None,
                       help=f"the {service} server (default: ${address_env(service)}, else "
                            f"$LORAFLEET_HOST:$LORAFLEET_{service.upper()}_PORT)")
    group.add_argument("--token", default=None, help=f"bearer token (default: ${TOKEN_ENV})")
    group.add_argument("--tls", action="store_true", help="use TLS (implied by --tls-ca/--tls-cert)")
    group.add_argument("--tls-ca", metavar="PEM", default=None, help="CA bundle that signed the server certificate")
    group.add_argument("--tls-cert", metavar="PEM", default=None, help="client certificate (mTLS)")
    group.add_argument("--tls-key", metavar="PEM", default=None, help="client private key (mTLS)")
    group.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                       help=f"deadline of each call (default {DEFAULT_TIMEOUT_S:g})")
    return parent


def client_from_args(args: argparse.Namespace) -> LoraFleetClient:
    """A client whose address for the command's service is ``--server`` (when given)."""
    service = getattr(args, "client_service", "inference")
    return LoraFleetClient(
        token=args.token or os.environ.get(TOKEN_ENV) or None,
        tls=args.tls or None,
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        timeout=args.timeout,
        **{_ADDRESS_FOR[service]: args.server},
    )

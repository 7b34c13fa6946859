"""``lorafleet`` command line: entry point and command registration.

A command provider is a module that defines ``register(subparsers)``: it adds its parser(s)
with ``subparsers.add_parser(...)`` and sets ``func=<handler(args) -> int>`` through
``set_defaults``. Providers are, in this order:

* the modules of this package (``adapters``, ``generate``, ``train``, ``evaluate``...): the
  client-side commands, which need only the ``lorafleet-client`` distribution;
* the ``lorafleet.commands`` entry points of installed distributions: the server distribution
  adds ``serve`` and ``demo`` this way, so the client never imports the server stack.

Keep heavy imports inside handlers so ``lorafleet --help`` stays fast.

Errors: a gRPC status or a domain error prints ``error: <CODE>: <details>`` on stderr; the exit
status is 2 when the input was at fault (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
FAILED_PRECONDITION, OUT_OF_RANGE, PERMISSION_DENIED, UNAUTHENTICATED — as for argparse usage
errors) and 1 otherwise (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL...).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

import grpc

from lorafleet.errors import LoraFleetError

ENTRY_POINT_GROUP = "lorafleet.commands"
USER_ERROR_CODES = frozenset({
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
})
_NOT_COMMANDS = {"main", "client_args", "output"}


def exit_code_for(code: grpc.StatusCode) -> int:
    return 2 if code in USER_ERROR_CODES else 1


def version() -> str:
    try:
        return metadata.version("lorafleet-client")
    except metadata.PackageNotFoundError:
        return "unknown"


def command_providers() -> list[tuple[str, Callable[[Any], None]]]:
    """(name, register) of every command provider, in a stable order (so help output is too)."""
    import lorafleet.cli as package

    providers = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in _NOT_COMMANDS:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        providers.append((module.__name__, module.register))
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        providers.append((ep.value, ep.load()))
    return providers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lorafleet",
        description="Fine-tune, evaluate and serve many LoRA adapters on one base model over gRPC.",
    )
    parser.add_argument("--version", action="version", version=f"lorafleet {version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for _, register in command_providers():
        register(subparsers)
    return parser


def _fail(code_name: str, details: str, exit_code: int) -> int:
    print(f"error: {code_name}: {details}", file=sys.stderr)
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    try:
        import rich  # noqa: F401 - only probing that the extra is installed
    except ModuleNotFoundError:
        return _fail("FAILED_PRECONDITION", "the lorafleet command needs rich: pip install 'lorafleet-client[cli]'", 2)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except grpc.RpcError as exc:
        code = exc.code() if callable(getattr(exc, "code", None)) else grpc.StatusCode.UNKNOWN
        details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
        return _fail(code.name, details or "(no details)", exit_code_for(code))
    except LoraFleetError as exc:
        return _fail(exc.code.name, str(exc), exit_code_for(exc.code))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

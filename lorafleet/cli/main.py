"""``lorafleet`` command line: entry point and command registration.

A command provider is a module that defines ``register(subparsers)``: it adds its parser(s)
with ``subparsers.add_parser(...)`` and sets ``func=<handler(args) -> int>`` through
``set_defaults``. Providers are found, in this order, among

* the modules of the ``lorafleet.cli`` package (``serve``, ``adapters``, ``demo``...), and
* ``<service>.cli`` of each service package (``trainer_service.cli`` -> ``train``,
  ``inference_service.cli`` -> ``generate``/``chat``, ``eval_service.cli`` -> ``eval``),

so adding a command is one new module and nothing else. Keep heavy imports (torch, the engines)
inside handlers so ``lorafleet --help`` stays fast.

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
from collections.abc import Sequence
from types import ModuleType

import grpc

import lorafleet
from lorafleet.errors import LoraFleetError

USER_ERROR_CODES = frozenset({
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
})


def exit_code_for(code: grpc.StatusCode) -> int:
    return 2 if code in USER_ERROR_CODES else 1


SERVICE_CLI_MODULES = ("trainer_service.cli", "inference_service.cli", "eval_service.cli")


def _import_optional(name: str) -> ModuleType | None:
    """The module, or None when it does not exist (an error inside it still raises)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise


def command_modules() -> list[str]:
    """Names of the modules that define ``register`` (stable order, so help output is too)."""
    import lorafleet.cli as package

    candidates = [
        f"{package.__name__}.{info.name}"
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name)
        if not info.name.startswith("_") and info.name != "main"
    ]
    names = []
    for name in [*candidates, *SERVICE_CLI_MODULES]:
        module = _import_optional(name)
        if module is not None and callable(getattr(module, "register", None)):
            names.append(name)
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lorafleet",
        description="Fine-tune, evaluate and serve many LoRA adapters on one base model over gRPC.",
    )
    parser.add_argument("--version", action="version", version=f"lorafleet {lorafleet.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in command_modules():
        importlib.import_module(name).register(subparsers)
    return parser


def _fail(code_name: str, details: str, exit_code: int) -> int:
    print(f"error: {code_name}: {details}", file=sys.stderr)
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
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

"""``lorafleet serve trainer|inference|eval|all``.

Every setting of ``lorafleet.config.Settings`` is also a flag (``--home``, ``--database-url``,
``--grace-period-s``...; flags win over ``LORAFLEET_*`` variables), except ``auth_tokens``,
which stays in the environment so secrets never show in ``ps``. ``--port`` and
``--metrics-port`` set the chosen role's ports; ``all`` runs each role in its own child process
(``python -m lorafleet serve <role>``), configured through the environment.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from lorafleet.config import ENV_PREFIX, Settings, SettingSpec, setting_specs
from lorafleet.logging_setup import configure_from_settings

ROLES = ("trainer", "inference", "eval")
SECRET_SETTINGS = frozenset({"auth_tokens"})


def _setting_fields() -> list[SettingSpec]:
    return [f for f in setting_specs() if f.name not in SECRET_SETTINGS]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="run a gRPC server (one role, or all three as child processes)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("role", choices=(*ROLES, "all"))
    parser.add_argument("--port", type=int, default=None, help="gRPC port of the role (0 = any free port)")
    parser.add_argument("--metrics-port", type=int, default=None, help="Prometheus port of the role (0 = disabled)")
    group = parser.add_argument_group("settings (override LORAFLEET_* environment variables)")
    for f in _setting_fields():
        group.add_argument(
            "--" + f.name.replace("_", "-"), dest=f"setting_{f.name}", type=f.type, default=None,
            metavar=f.name.upper(), help=f.description,
        )
    parser.set_defaults(func=cmd_serve)


def setting_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Settings given as flags (role shortcuts --port/--metrics-port included)."""
    overrides = {f.name: getattr(args, f"setting_{f.name}") for f in _setting_fields()}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.role != "all":
        if args.port is not None:
            overrides[f"{args.role}_port"] = args.port
        if args.metrics_port is not None:
            overrides[f"{args.role}_metrics_port"] = args.metrics_port
    return overrides


def overrides_as_env(overrides: dict[str, Any]) -> dict[str, str]:
    return {ENV_PREFIX + name.upper(): str(value) for name, value in overrides.items()}


def cmd_serve(args: argparse.Namespace) -> int:
    from lorafleet.errors import InvalidArgument

    if args.role == "all" and (args.port is not None or args.metrics_port is not None):
        raise InvalidArgument("with 'all', use --trainer-port, --inference-port, --eval-port (and --*-metrics-port)",
                              field="port")
    overrides = setting_overrides(args)
    settings = Settings.from_env(**overrides)
    configure_from_settings(settings)
    if args.role == "all":
        from lorafleet.server.supervisor import supervise

        return supervise(settings, overrides_as_env(overrides))
    from lorafleet.server.bootstrap import run_server

    asyncio.run(run_server(args.role, settings))
    return 0

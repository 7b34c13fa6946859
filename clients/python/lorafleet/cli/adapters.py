"""``lorafleet adapters list|show|import|promote|rollback|delete`` over RegistryService."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.table import Table

from lorafleet.cli.client_args import client_from_args, client_parent
from lorafleet.cli.output import console, human_bytes, message_dict, print_json, timestamp
from lorafleet.errors import InvalidArgument
from lorafleet.refs import DEFAULT_ALIAS, parse_versioned_ref, validate_alias, validate_name
from lorafleet.v1 import common_pb2

STATES = ("candidate", "evaluating", "promoted", "rejected")


def state_name(value: int) -> str:
    return common_pb2.AdapterState.Name(value).removeprefix("ADAPTER_STATE_")


def parse_metric(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    try:
        return key.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a number") from None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("adapters", help="list, import, promote, roll back and delete adapter versions")
    sub = parser.add_subparsers(dest="adapters_command", metavar="ACTION", required=True)
    common = [client_parent()]

    p = sub.add_parser("list", parents=common, help="adapter versions, newest first")
    p.add_argument("--name", default="", help="only versions of this adapter")
    p.add_argument("--state", type=str.lower, choices=STATES, default=None, help="only versions in this state")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", parents=common, help="one version with its aliases, lineage and alias history")
    p.add_argument("ref", metavar="REF", help="name (production alias), name@alias or name@version")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("import", parents=common, help="register a PEFT adapter directory as a new version")
    p.add_argument("path", metavar="PATH",
                   help="adapter directory readable by the server (adapter_config.json + adapter_model.safetensors)")
    p.add_argument("--name", required=True, help="adapter name, e.g. support-bot")
    p.add_argument("--description", default="")
    p.add_argument("--metric", dest="metrics", type=parse_metric, action="append", default=[], metavar="KEY=VALUE",
                   help="a metric to record (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("promote", parents=common, help="point an alias (default production) at a version")
    p.add_argument("ref", metavar="NAME@VERSION")
    p.add_argument("--alias", default=DEFAULT_ALIAS)
    p.add_argument("--expect-current", type=int, default=0, metavar="VERSION",
                   help="only move the alias if it points at this version now (compare-and-set)")
    p.add_argument("--reason", default="")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("rollback", parents=common, help="move an alias back to its previous version")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--alias", default=DEFAULT_ALIAS)
    p.add_argument("--reason", default="")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("delete", parents=common, help="delete a version (refused while an alias points at it)")
    p.add_argument("ref", metavar="NAME@VERSION")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_delete)


# -- handlers ------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    if args.name:
        validate_name(args.name, field="name")
    with client_from_args(args) as fleet:
        versions = list(fleet.registry.iter_adapters(name=args.name, state=args.state))
    if args.json:
        print_json({"adapters": [message_dict(v) for v in versions]})
        return 0
    table = Table(title=None, show_lines=False)
    for column in ("NAME", "VERSION", "STATE", "ALIASES", "RANK", "TARGETS", "SIZE", "CREATED (UTC)", "DESCRIPTION"):
        table.add_column(column, justify="right" if column in ("VERSION", "RANK", "SIZE") else "left")
    for v in versions:
        table.add_row(
            v.name, str(v.version), state_name(v.state), ",".join(v.aliases), str(v.lora_config.r),
            ",".join(v.lora_config.target_modules), human_bytes(v.size_bytes), timestamp(v.create_time), v.description,
        )
    console().print(table if versions else "no adapter versions")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with client_from_args(args) as fleet:
        response = fleet.registry.get_adapter(args.ref)
    if args.json:
        print_json(response)
        return 0
    v = response.adapter
    out = console()
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    rows = [
        ("adapter", f"{v.name}@{v.version}"),
        ("state", state_name(v.state)),
        ("aliases", ", ".join(v.aliases) or "-"),
        ("lora", f"r={v.lora_config.r} alpha={v.lora_config.alpha:g} dropout={v.lora_config.dropout:g}"
                 f"{' rslora' if v.lora_config.use_rslora else ''}"),
        ("targets", ", ".join(v.lora_config.target_modules)),
        ("resolved targets", ", ".join(v.resolved_target_modules)),
        ("base fingerprint", v.base_fingerprint),
        ("lineage", ", ".join(f"{k}={val}" for k, val in message_dict(v.lineage).items() if val) or "-"),
        ("metrics", ", ".join(f"{k}={val:g}" for k, val in sorted(v.metrics.items())) or "-"),
        ("size", human_bytes(v.size_bytes)),
        ("artifact", v.artifact_path),
        ("created (UTC)", timestamp(v.create_time)),
        ("updated (UTC)", timestamp(v.update_time)),
        ("description", v.description or "-"),
    ]
    for key, value in rows:
        info.add_row(key, value)
    out.print(info)
    if v.evaluations:
        evals = Table(title="evaluations")
        for column in ("ID", "VERDICT", "REPORT", "CREATED (UTC)"):
            evals.add_column(column)
        for e in v.evaluations:
            evals.add_row(e.evaluation_id, e.verdict, e.report_html_path or e.report_json_path,
                          timestamp(e.create_time))
        out.print(evals)
    if response.alias_history:
        history = Table(title="alias history (oldest first)")
        for column in ("ALIAS", "FROM", "TO", "REASON", "CHANGED (UTC)"):
            history.add_column(column)
        for h in response.alias_history:
            history.add_row(h.alias, str(h.from_version or "-"), str(h.to_version), h.reason, timestamp(h.change_time))
        out.print(history)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    validate_name(args.name, field="name")
    path = Path(args.path).expanduser()
    if not path.is_absolute():  # the server resolves paths against its own working directory
        path = path.resolve()
    with client_from_args(args) as fleet:
        response = fleet.registry.import_adapter(args.name, path, description=args.description,
                                                 metrics=dict(args.metrics))
    if args.json:
        print_json(response)
        return 0
    v = response.adapter
    console().print(f"imported [bold]{v.name}@{v.version}[/bold] ({state_name(v.state)}) from {path}")
    return 0


def _print_alias_move(args: argparse.Namespace, response: Any, verb: str) -> None:
    if args.json:
        print_json(response)
        return
    a = response.alias
    was = f"was {response.previous_version}" if response.previous_version else "new alias"
    console().print(f"{verb} [bold]{a.name}@{a.alias}[/bold] -> version {a.version} ({was})")


def cmd_promote(args: argparse.Namespace) -> int:
    ref = parse_versioned_ref(args.ref, field="ref")
    validate_alias(args.alias, field="alias")
    if args.expect_current < 0:
        raise InvalidArgument("must be >= 0", field="expect_current")
    with client_from_args(args) as fleet:
        response = fleet.registry.set_alias(
            ref.name, ref.version or 0, args.alias, expected_current_version=args.expect_current, reason=args.reason
        )
    _print_alias_move(args, response, "promoted")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    validate_name(args.name, field="name")
    validate_alias(args.alias, field="alias")
    with client_from_args(args) as fleet:
        response = fleet.registry.rollback(args.name, args.alias, reason=args.reason)
    _print_alias_move(args, response, "rolled back")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    ref = parse_versioned_ref(args.ref, field="ref")
    with client_from_args(args) as fleet:
        response = fleet.registry.delete(str(ref))
    if args.json:
        print_json(response)
        return 0
    console().print(f"deleted [bold]{ref}[/bold]")
    return 0

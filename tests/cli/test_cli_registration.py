"""Command providers are discovered: lorafleet.cli modules and ``lorafleet.commands`` entry points."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint

import pytest

from lorafleet.cli import main as cli_main


def _commands(parser) -> set[str]:
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)


def _only_entry_points(monkeypatch, *values: str) -> None:
    points = [EntryPoint(name=v.split(":")[0], value=v, group=cli_main.ENTRY_POINT_GROUP) for v in values]
    monkeypatch.setattr(cli_main.metadata, "entry_points",
                        lambda group=None: points if group == cli_main.ENTRY_POINT_GROUP else [])


def test_builtin_commands_are_registered():
    # adapters ships with the client; serve and demo are entry points of the server distribution.
    assert {"serve", "adapters", "demo", "generate", "train", "eval"} <= _commands(cli_main.build_parser())


def test_entry_point_commands_are_discovered(tmp_path, monkeypatch, capsys):
    (tmp_path / "fake_service_cli.py").write_text(
        "def register(subparsers):\n"
        "    p = subparsers.add_parser('hello')\n"
        "    p.add_argument('who')\n"
        "    p.set_defaults(func=lambda args: print('hello', args.who) or 7)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    _only_entry_points(monkeypatch, "fake_service_cli:register")
    assert "hello" in _commands(cli_main.build_parser())
    assert "serve" not in _commands(cli_main.build_parser())  # a client-only install has no serve
    assert cli_main.main(["hello", "fleet"]) == 7
    assert capsys.readouterr().out == "hello fleet\n"
    sys.modules.pop("fake_service_cli", None)


def test_a_provider_with_a_broken_import_fails_loudly(tmp_path, monkeypatch):
    (tmp_path / "broken_service_cli.py").write_text("import not_installed_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _only_entry_points(monkeypatch, "broken_service_cli:register")
    with pytest.raises(ModuleNotFoundError, match="not_installed_dependency_xyz"):
        cli_main.build_parser()

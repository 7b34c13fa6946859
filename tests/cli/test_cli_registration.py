"""Command providers are discovered: lorafleet.cli modules and <service>.cli modules with register()."""

from __future__ import annotations

import sys

import pytest

from lorafleet.cli import main as cli_main


def _commands(parser) -> set[str]:
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)


def test_builtin_commands_are_registered():
    assert {"serve", "adapters"} <= _commands(cli_main.build_parser())


def test_service_cli_modules_are_discovered_and_missing_ones_skipped(tmp_path, monkeypatch, capsys):
    (tmp_path / "fake_service_cli.py").write_text(
        "def register(subparsers):\n"
        "    p = subparsers.add_parser('hello')\n"
        "    p.add_argument('who')\n"
        "    p.set_defaults(func=lambda args: print('hello', args.who) or 7)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli_main, "SERVICE_CLI_MODULES", ("fake_service_cli", "no_such_service.cli"))
    assert "hello" in _commands(cli_main.build_parser())
    assert cli_main.main(["hello", "fleet"]) == 7
    assert capsys.readouterr().out == "hello fleet\n"
    sys.modules.pop("fake_service_cli", None)


def test_a_provider_with_a_broken_import_fails_loudly(tmp_path, monkeypatch):
    (tmp_path / "broken_service_cli.py").write_text("import not_installed_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli_main, "SERVICE_CLI_MODULES", ("broken_service_cli",))
    with pytest.raises(ModuleNotFoundError, match="not_installed_dependency_xyz"):
        cli_main.build_parser()

"""The layers README draws hold: import-linter's contracts, and no hidden service imports in the core."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORTIONS = (ROOT / "lorafleet", ROOT / "clients" / "python" / "lorafleet")
SERVICE_IMPORT = re.compile(r"^\s*(from|import) (trainer|inference|eval)_service", re.MULTILINE)


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Contracts: 4 kept, 0 broken." in done.stdout


def test_every_top_level_module_of_the_namespace_is_in_one_layer() -> None:
    """A new module under ``lorafleet`` must be declared client or core, or the contract misses it."""
    contract = _contracts()["client-below-core"]
    client = {m.removeprefix("lorafleet.") for m in contract["source_modules"]}
    core = {m.removeprefix("lorafleet.") for m in contract["forbidden_modules"] if m.startswith("lorafleet.")}
    assert not client & core
    found = {p.stem if p.is_file() else p.name for portion in PORTIONS for p in portion.iterdir()
             if (p.is_dir() and p.name != "__pycache__") or p.suffix == ".py"}
    assert found == client | core
    assert {p.name for p in PORTIONS[1].iterdir() if p.name != "__pycache__"} == {f"{m}.py" if m in (
        "errors", "refs", "names", "__main__") else m for m in client}


def test_the_core_never_names_a_service_package() -> None:
    offenders = [str(p.relative_to(ROOT)) for portion in PORTIONS for p in portion.rglob("*.py")
                 if SERVICE_IMPORT.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_lorafleet_is_a_namespace_package_in_both_distributions() -> None:
    assert not any((portion / "__init__.py").exists() for portion in PORTIONS)

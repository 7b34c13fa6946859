"""Fixtures shared with tests/server (see tests/server/lorafleet_testkit.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from lorafleet_testkit import (  # noqa: F401 - pytest fixtures
    certificates,
    fleet_settings,
    registry_server,
    tiny_adapter_dir,
    tiny_base_model_dir,
)

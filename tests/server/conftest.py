"""Fixtures of the server tests (defined in lorafleet_testkit, shared with tests/client and tests/cli)."""

from lorafleet_testkit import (  # noqa: F401 - pytest fixtures
    certificates,
    fleet_settings,
    registry_server,
    tiny_adapter_dir,
    tiny_base_model_dir,
)

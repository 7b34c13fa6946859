"""Fixtures for the benchmarks (run with `make bench`; never part of the test run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
MODEL_CACHE = Path(os.environ.get("LORAFLEET_TEST_MODEL_CACHE", Path.home() / ".cache" / "lorafleet-test" / "models"))


@pytest.fixture(scope="session")
def real_base_model_dir() -> Path:
    from lorafleet.base_model import EMBEDDED_NAME, resolve_base_model_dir

    return resolve_base_model_dir(EMBEDDED_NAME, MODEL_CACHE)

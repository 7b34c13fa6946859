"""Fixtures for the benchmarks (run with `make bench`; never part of the test run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bench_model import embedded_model_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def real_base_model_dir() -> Path:
    return embedded_model_dir()

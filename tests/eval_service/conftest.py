"""Evaluator fixtures: a fake InferenceService on loopback (eval_fakes.py), small suites, a real
SQLite registry, a tiny base model spec for registering adapters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eval_fakes import FakeInference, LoopbackInference, write_test_suites

from eval_service.suites.loader import SuiteCatalog
from lorafleet.adapters.synthetic import write_tiny_llama
from lorafleet.base_model import BaseModelSpec, read_base_model_spec
from lorafleet.registry.store import Registry


@pytest.fixture(scope="session")
def tiny_spec(tmp_path_factory: pytest.TempPathFactory) -> BaseModelSpec:
    return read_base_model_spec(write_tiny_llama(tmp_path_factory.mktemp("tiny-llama")), name="tiny-llama")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "artifacts")
    yield reg
    reg.close()


@pytest.fixture
def test_catalog(tmp_path: Path) -> SuiteCatalog:
    return SuiteCatalog([write_test_suites(tmp_path / "suites")])


@pytest.fixture
def fake_inference(test_catalog: SuiteCatalog) -> Iterator[LoopbackInference]:
    fake = FakeInference(test_catalog, {"support-bot@1": "good", "support-bot@2": "poisoned",
                                        "support-bot@3": "good", "support-bot@4": "good"})
    server = LoopbackInference(fake)
    yield server
    server.close()

"""Registry fixtures: a tiny Llama base, PEFT-format adapters, and registries on both backends.

PostgreSQL: the ``postgres_database_url`` and ``postgres_url`` fixtures of ``tests/postgres_testkit.py``
(shared with the other areas' postgres tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_testkit import postgres_database_url, postgres_url  # noqa: F401 - pytest fixtures

from lorafleet.adapters.synthetic import write_lora_adapter, write_tiny_llama
from lorafleet.base_model import BaseModelSpec, read_base_model_spec
from lorafleet.registry.store import Registry


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_spec(tiny_base_dir: Path) -> BaseModelSpec:
    return read_base_model_spec(tiny_base_dir, name="tiny-llama")


@pytest.fixture
def adapter_dir(tmp_path: Path, tiny_spec: BaseModelSpec) -> Path:
    """A valid PEFT-format adapter for the tiny base (q_proj, v_proj, r=4)."""
    return write_lora_adapter(tmp_path / "adapter", tiny_spec)


BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def registry(database_url: str, tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(database_url, tmp_path / "artifacts")
    try:
        yield reg
    finally:
        reg.close()

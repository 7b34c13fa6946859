"""What a service needs from the process that hosts it."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lorafleet.compute_threads import call_in_fresh_thread
from lorafleet.config import Settings

if TYPE_CHECKING:
    from lorafleet.base_model.spec import BaseModelSpec
    from lorafleet.registry.store import Registry


@dataclass
class ServerContext:
    """Shared by every service binding of one server process.

    ``role`` is "trainer", "inference" or "eval". The base model is provisioned lazily because
    only the trainer and inference need its weights; provisioning (which may convert the
    embedded weights with torch) and reading the spec run in a thread that exits afterwards, so
    whichever server thread asks first does not keep an OpenMP pool (``lorafleet.compute_threads``).
    """

    settings: Settings
    registry: Registry
    role: str
    _base_dir: Path | None = field(default=None, repr=False)

    def base_model_dir(self) -> Path:
        if self._base_dir is None:
            from lorafleet.base_model import resolve_base_model_dir

            self._base_dir = call_in_fresh_thread(
                resolve_base_model_dir, self.settings.base_model, self.settings.resolved_model_cache_dir
            )
        return self._base_dir

    def base_spec(self) -> BaseModelSpec:
        return call_in_fresh_thread(_spec_for, str(self.base_model_dir()), self.settings.base_model)


@functools.lru_cache(maxsize=8)
def _spec_for(model_dir: str, name: str) -> BaseModelSpec:
    from lorafleet.base_model import read_base_model_spec

    return read_base_model_spec(Path(model_dir), name=name)

"""Where checkpoints go: always written to a temp dir and renamed, so none is ever half there.

The job runner writes through the registry's ``ArtifactStore.atomic_dir``; the standalone DDP
entry point (no registry) through ``DirCheckpointSink``, which follows the same temp + rename
discipline on a plain directory. These hold the adapter only (what gets registered); what a run
needs to continue after a restart is in the resume checkpoints of ``resume.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lorafleet.registry.artifacts import ArtifactStore

if TYPE_CHECKING:
    from peft import PeftModel


class CheckpointSink(Protocol):
    def save(self, name: str, model: PeftModel, meta: dict) -> Path: ...
    def delete(self, name: str) -> None: ...


def _write_adapter(model: PeftModel, target: Path, meta: dict) -> None:
    model.save_pretrained(str(target), safe_serialization=True)
    (target / "trainer_state.json").write_text(json.dumps(meta, indent=2, sort_keys=True))


class ArtifactCheckpointSink:
    """Checkpoints under ``<prefix>/<name>`` in the registry's artifact store."""

    def __init__(self, artifacts: ArtifactStore, prefix: str) -> None:
        self.artifacts = artifacts
        self.prefix = prefix.rstrip("/")

    def save(self, name: str, model: PeftModel, meta: dict) -> Path:
        rel = f"{self.prefix}/{name}"
        with self.artifacts.atomic_dir(rel, replace=True) as tmp:  # a resumed run may redo a step
            _write_adapter(model, Path(tmp), meta)
        return self.artifacts.path(rel)

    def delete(self, name: str) -> None:
        shutil.rmtree(self.artifacts.path(f"{self.prefix}/{name}"), ignore_errors=True)

    def delete_all(self) -> None:
        shutil.rmtree(self.artifacts.path(self.prefix), ignore_errors=True)


class DirCheckpointSink:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @contextmanager
    def _atomic(self, final: Path) -> Iterator[Path]:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        try:
            yield tmp
            if final.exists():
                shutil.rmtree(final)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def save(self, name: str, model: PeftModel, meta: dict) -> Path:
        final = self.root / name
        with self._atomic(final) as tmp:
            _write_adapter(model, tmp, meta)
        return final

    def delete(self, name: str) -> None:
        shutil.rmtree(self.root / name, ignore_errors=True)

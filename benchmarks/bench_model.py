"""Where the benchmarks find the real SmolLM2-135M: the test suite's converted copy, made on first use.

One place for every benchmark (pytest fixtures and the stand-alone scripts alike), so a fresh
machine needs no pre-existing model directory: the embedded GGUF is converted into
``$LORAFLEET_TEST_MODEL_CACHE`` (default ``~/.cache/lorafleet-test/models``) once, as the tests do.
"""

from __future__ import annotations

import os
from pathlib import Path

MODEL_CACHE = Path(os.environ.get("LORAFLEET_TEST_MODEL_CACHE", Path.home() / ".cache" / "lorafleet-test" / "models"))


def embedded_model_dir() -> Path:
    from lorafleet.base_model import EMBEDDED_NAME, resolve_base_model_dir

    return resolve_base_model_dir(EMBEDDED_NAME, MODEL_CACHE)

"""Generation cache in the artifact store: ``cache/generations/<key>.json``.

Re-evaluating against the same baseline must not regenerate its answers. An output is a pure
function of (model, engine numerics, input, generation parameters) when decoding is
deterministic, so the key is the sha256 of exactly those:

- model: ``base`` or ``name@version`` (versions are immutable) plus the base fingerprint;
- engine: base fingerprint, quantization and dtype reported by ``GetModelInfo`` (an nf4 answer
  is not an int8 answer);
- input: the case's content hash (messages or prompt, not its id, so renaming a case keeps it);
- parameters: max_tokens, temperature, top_p, top_k, seed, stop.

Non-deterministic sampling (temperature > 0 without a seed) is never cached. Entries are written
atomically, so a crash never leaves a truncated one; a corrupt entry is treated as a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from eval_service.generation import EngineInfo, GenerationParams
from lorafleet.registry.artifacts import ArtifactStore

log = logging.getLogger(__name__)
CACHE_DIR = "cache/generations"


def cache_key(model: str, engine: EngineInfo, case_content_key: str, params: GenerationParams) -> str:
    payload = {"model": model, "engine": engine.identity, "input": case_content_key, "params": params.as_dict()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class GenerationCache:
    def __init__(self, artifacts: ArtifactStore) -> None:
        self._artifacts = artifacts

    def _rel(self, key: str) -> str:
        return f"{CACHE_DIR}/{key}.json"

    def get(self, key: str) -> str | None:
        path = self._artifacts.path(self._rel(key))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable cache entry", extra={"path": str(path), "error": str(exc)})
            return None
        text = data.get("text") if isinstance(data, dict) else None
        return text if isinstance(text, str) else None

    def put(self, key: str, text: str, meta: dict[str, Any]) -> None:
        body = json.dumps({"text": text, **meta}, ensure_ascii=False, sort_keys=True).encode("utf-8")
        self._artifacts.write_bytes(self._rel(key), body)

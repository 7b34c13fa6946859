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


def suite_answers(model, tok, counts: tuple[tuple[str, int], ...], tokens: int) -> list[tuple[int, object]]:
    """The first ``n`` prompts of each named suite file (``eval_service/suites/data``), each under the chat
    template, with ``model``'s greedy answer of ``tokens`` tokens: ``(prompt length, prompt + answer ids)``."""
    import torch
    import yaml

    suites = Path(__file__).resolve().parents[1] / "eval_service" / "suites" / "data"
    prompts = [c["prompt"] for name, n in counts for c in yaml.safe_load((suites / name).read_text())["cases"][:n]]
    out = []
    with torch.inference_mode():
        for p in prompts:
            ids = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                          return_tensors="pt", return_dict=True)["input_ids"]
            out.append((ids.shape[1], model.generate(ids, max_new_tokens=tokens, do_sample=False)))
    return out

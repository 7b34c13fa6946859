"""Quick held-out check of the bundled support-ticket task (used by the bar script and slow test).

A case passes when the greedy reply parses as one JSON object whose ``category`` equals the
expected one — the property the evaluator's task suite scores with its json_schema scorer.
This is a smoke check close to the training code, not the evaluator.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedTokenizerBase


def json_category_ok(reply: str, expected_category: str) -> bool:
    try:
        obj = json.loads(reply.strip())
    except json.JSONDecodeError:
        return False
    return isinstance(obj, dict) and obj.get("category") == expected_category


@torch.no_grad()
def greedy_replies(model: PeftModel, tokenizer: PreTrainedTokenizerBase, conversations: list[list[dict]], *,
                   batch: int = 25, max_new_tokens: int = 48) -> list[str]:
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    out: list[str] = []
    try:
        for i in range(0, len(conversations), batch):
            prompts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                       for c in conversations[i:i + batch]]
            enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            out += tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return out


def category_rate(model: PeftModel, tokenizer: PreTrainedTokenizerBase, cases: list[dict]) -> tuple[float, list[str]]:
    """Share of held-out cases (``{"messages", "expected"}``) answered with valid JSON + right category."""
    replies = greedy_replies(model, tokenizer, [c["messages"] for c in cases])
    ok = sum(json_category_ok(r, c["expected"]["category"]) for r, c in zip(replies, cases))
    return ok / max(1, len(cases)), replies

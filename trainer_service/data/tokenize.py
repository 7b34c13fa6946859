"""Examples → token ids + labels, with the loss only where the model should learn.

Labels use the Hugging Face convention: ``-100`` (``IGNORE_INDEX``) means "no loss here".

- chat: the conversation is rendered through ``tokenizer.apply_chat_template`` (so training sees
  exactly the prompt format inference uses). Assistant spans are found by rendering prefixes:
  for the assistant turn ``i``, ``render(messages[:i], add_generation_prompt=True)`` ends where
  the answer starts and ``render(messages[:i+1])`` ends where it stops (content, end-of-turn
  token and trailing newline). This needs no per-template ``{% generation %}`` markers and works
  for any template whose renderings of prefixes are prefixes of the full rendering — checked,
  with a clear error otherwise. Characters map to tokens through the fast tokenizer's offsets;
  a token is labelled when it overlaps an assistant span.
- prompt_completion: prompt and completion are tokenized separately (exact boundary), then
  ``completion + eos`` carries the loss.
- text: every token plus ``eos`` carries the loss.
- preference: a ``PreferencePair`` of two sequences, prompt + chosen and prompt + rejected, each
  tokenized like its SFT counterpart (messages: chat template, the answer as the final assistant
  turn; prompt: raw prompt, then answer + ``eos``) with labels on the *final answer only*: DPO
  needs ``log π(y|x)`` over the answer tokens, not over earlier assistant turns of the prompt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from lorafleet.errors import InvalidArgument
from trainer_service.data.formats import DatasetFormat, Example

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    line: int = 0
    anchor: bool = False  # labels are trained toward the base model's distribution (formats.py)

    @property
    def num_tokens(self) -> int:
        return len(self.input_ids)

    @property
    def num_label_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE_INDEX)


@dataclass(frozen=True)
class PreferencePair:
    """One preference record: the chosen and the rejected sequence (same prompt), and the reference
    model's log-probabilities of their answers once the DPO objective has computed them (NaN before)."""

    chosen: TokenizedExample
    rejected: TokenizedExample
    line: int = 0
    ref_chosen: float = math.nan
    ref_rejected: float = math.nan
    shared: int = 0  # leading tokens both sequences share, none of them labelled (the prompt)

    @property
    def num_tokens(self) -> int:
        return self.chosen.num_tokens + self.rejected.num_tokens

    @property
    def num_label_tokens(self) -> int:
        return self.chosen.num_label_tokens + self.rejected.num_label_tokens

    def with_reference(self, chosen: float, rejected: float) -> PreferencePair:
        return replace(self, ref_chosen=chosen, ref_rejected=rejected)


def assistant_char_spans(messages: list[dict[str, str]],
                         tokenizer: PreTrainedTokenizerBase) -> tuple[str, list[tuple[int, int]]]:
    """Full rendering of ``messages`` and the [start, end) character spans of assistant turns."""
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True) if i else ""
        through = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        if not (full.startswith(through) and through.startswith(before)):
            raise InvalidArgument(
                "the tokenizer's chat template does not render conversation prefixes as prefixes; "
                "assistant-only loss cannot be located", field="chat_template")
        start = len(before)
        # The answer text itself must be inside the span (some templates strip or reformat it).
        if message["content"] and message["content"] not in full[start:len(through)]:
            raise InvalidArgument("assistant content not found in the rendered chat template", field="chat_template")
        spans.append((start, len(through)))
    return full, spans


def tokenize_example(example: Example, tokenizer: PreTrainedTokenizerBase) -> TokenizedExample:
    if example.format is DatasetFormat.CHAT:
        messages = [{"role": r, "content": c} for r, c in example.messages]
        text, spans = assistant_char_spans(messages, tokenizer)
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        labels = [IGNORE_INDEX] * len(ids)
        for t, (s, e) in enumerate(enc["offset_mapping"]):
            if any(s < span_end and e > span_start for span_start, span_end in spans):
                labels[t] = ids[t]
        return TokenizedExample(tuple(ids), tuple(labels), example.line, example.anchor)
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    if example.format is DatasetFormat.PROMPT_COMPLETION:
        prompt = list(tokenizer(example.prompt, add_special_tokens=False)["input_ids"])
        completion = list(tokenizer(example.completion, add_special_tokens=False)["input_ids"]) + eos
        labels = [IGNORE_INDEX] * len(prompt) + completion
        return TokenizedExample(tuple(prompt + completion), tuple(labels), example.line, example.anchor)
    ids = list(tokenizer(example.text, add_special_tokens=False)["input_ids"]) + eos
    return TokenizedExample(tuple(ids), tuple(ids), example.line, example.anchor)


def _answer_only(example: Example, answer: str, tokenizer: PreTrainedTokenizerBase) -> TokenizedExample:
    """The prompt of a preference ``example`` followed by ``answer``, labelled on ``answer`` alone."""
    if example.messages:
        messages = [{"role": r, "content": c} for r, c in example.messages] + [{"role": "assistant", "content": answer}]
        text, spans = assistant_char_spans(messages, tokenizer)
        start, end = spans[-1]
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        labels = [t if s < end and e > start else IGNORE_INDEX for t, (s, e) in zip(ids, enc["offset_mapping"])]
        return TokenizedExample(tuple(ids), tuple(labels), example.line)
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    prompt = list(tokenizer(example.prompt, add_special_tokens=False)["input_ids"])
    completion = list(tokenizer(answer, add_special_tokens=False)["input_ids"]) + eos
    return TokenizedExample(tuple(prompt + completion), tuple([IGNORE_INDEX] * len(prompt) + completion), example.line)


def shared_prefix(a: TokenizedExample, b: TokenizedExample) -> int:
    """How many leading tokens ``a`` and ``b`` share before either carries a label."""
    n = 0
    for ia, ib, la, lb in zip(a.input_ids, b.input_ids, a.labels, b.labels):
        if ia != ib or la != IGNORE_INDEX or lb != IGNORE_INDEX:
            break
        n += 1
    return n


def tokenize_pair(example: Example, tokenizer: PreTrainedTokenizerBase) -> PreferencePair:
    """A preference record as its two labelled sequences and the length of their common prompt."""
    chosen, rejected = _answer_only(example, example.chosen, tokenizer), _answer_only(example, example.rejected,
                                                                                      tokenizer)
    return PreferencePair(chosen, rejected, example.line, shared=shared_prefix(chosen, rejected))


def truncate(example: TokenizedExample, max_len: int) -> TokenizedExample:
    if example.num_tokens <= max_len:
        return example
    return replace(example, input_ids=example.input_ids[:max_len], labels=example.labels[:max_len])

"""Loss masks: exactly the assistant turns (chat), the completion, or everything (text)."""

from __future__ import annotations

from trainer_service.data.formats import DatasetFormat, Example
from trainer_service.data.tokenize import IGNORE_INDEX, tokenize_example


def _labelled_spans(tok, t) -> list[str]:
    """Decode each maximal run of labelled tokens."""
    spans, cur = [], []
    for i, lab in zip(t.input_ids, t.labels):
        if lab == IGNORE_INDEX:
            if cur:
                spans.append(tok.decode(cur))
                cur = []
        else:
            assert lab == i
            cur.append(i)
    if cur:
        spans.append(tok.decode(cur))
    return spans


def test_chat_labels_cover_exactly_the_assistant_turns(tokenizer) -> None:
    messages = (("system", "Be terse."), ("user", "Name a colour."), ("assistant", "Blue."),
                ("user", "Another one?"), ("assistant", "Green, of course."))
    t = tokenize_example(Example(DatasetFormat.CHAT, 1, messages=messages), tokenizer)
    assert _labelled_spans(tokenizer, t) == ["Blue.<|im_end|>\n", "Green, of course.<|im_end|>\n"]
    full = tokenizer.apply_chat_template([{"role": r, "content": c} for r, c in messages], tokenize=False)
    assert tokenizer.decode(list(t.input_ids)) == full
    # the prompt of each turn carries no loss, including the "<|im_start|>assistant\n" header
    first = t.labels.index(next(x for x in t.labels if x != IGNORE_INDEX))
    assert tokenizer.decode(list(t.input_ids[:first])).endswith("<|im_start|>assistant\n")


def test_chat_with_json_answer_and_default_system_prompt(tokenizer) -> None:
    messages = (("user", "ticket"), ("assistant", '{"category": "billing"}'))
    t = tokenize_example(Example(DatasetFormat.CHAT, 1, messages=messages), tokenizer)
    assert _labelled_spans(tokenizer, t) == ['{"category": "billing"}<|im_end|>\n']


def test_prompt_completion_loss_on_completion_and_eos_only(tokenizer) -> None:
    t = tokenize_example(Example(DatasetFormat.PROMPT_COMPLETION, 1, prompt="Q: 2+2?\nA:", completion=" 4"), tokenizer)
    assert _labelled_spans(tokenizer, t) == [" 4" + tokenizer.eos_token]
    n_prompt = len(tokenizer("Q: 2+2?\nA:", add_special_tokens=False)["input_ids"])
    assert all(x == IGNORE_INDEX for x in t.labels[:n_prompt])


def test_text_trains_on_every_token(tokenizer) -> None:
    t = tokenize_example(Example(DatasetFormat.TEXT, 1, text="Plain text for pretraining."), tokenizer)
    assert list(t.labels) == list(t.input_ids)
    assert t.input_ids[-1] == tokenizer.eos_token_id

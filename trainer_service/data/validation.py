"""Dataset validation: every problem of a file at once, each with its 1-based line number.

A user fixing a dataset should see all of its problems in one round trip, not one per upload,
so parsing never stops at the first error. Error issues make a dataset unusable for training;
warnings (duplicates) are reported but do not block a job.

Codes: ``empty_file``, ``bad_json``, ``not_object``, ``unknown_format``, ``mixed_format``,
``bad_messages``, ``missing_role``, ``unknown_role``, ``bad_content``, ``no_assistant``,
``empty_assistant``, ``bad_prompt``, ``empty_completion``, ``empty_text``, ``too_long``
(with the token count), ``duplicate`` (warning, names the first line), ``overlap``
(validation example also in the training data). Preference records (DPO) add ``bad_chosen``,
``bad_rejected`` (missing, empty, or not assistant text / an assistant message),
``same_answers`` (chosen equals rejected: the pair teaches nothing) and ``bad_messages`` when the
conversation does not end with a user turn; their ``too_long`` names the longer sequence.
``bad_anchor``: ``"anchor"`` is not true/false, or is true on a preference record (``formats.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lorafleet.server.validation import load_json_line
from trainer_service.data.formats import ROLES, DatasetFormat, Example, detect_format
from trainer_service.data.tokenize import PreferencePair, TokenizedExample, tokenize_example, tokenize_pair

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class DatasetIssue:
    line: int  # 1-based; 0 for file-level issues
    severity: str  # "error" | "warning"
    code: str
    message: str
    file: str = "training"  # "training" | "validation"

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}" if self.line else self.file
        return f"{where}: {self.code}: {self.message}"


@dataclass(frozen=True)
class DatasetStats:
    num_examples: int = 0
    total_tokens: int = 0
    max_tokens: int = 0
    mean_tokens: float = 0.0
    format: DatasetFormat | None = None
    duplicates: int = 0


@dataclass
class ParsedFile:
    examples: list[Example] = field(default_factory=list)
    issues: list[DatasetIssue] = field(default_factory=list)
    format: DatasetFormat | None = None


@dataclass
class ValidationReport:
    issues: list[DatasetIssue]
    stats: DatasetStats
    validation_stats: DatasetStats | None
    train: list[TokenizedExample] | list[PreferencePair]  # pairs for preference data
    validation: list[TokenizedExample] | list[PreferencePair]
    format: DatasetFormat | None

    @property
    def valid(self) -> bool:
        return not any(i.severity == ERROR for i in self.issues)

    def errors(self) -> list[DatasetIssue]:
        return [i for i in self.issues if i.severity == ERROR]


Report = Callable[[str, str], None]  # report(code, message): one error issue of the current record


def _parse_record(record: dict[str, Any], fmt: DatasetFormat, line: int,
                  file: str) -> tuple[Example | None, list[DatasetIssue]]:
    """One record of format ``fmt``: its Example (None when it has an error) and all its issues."""
    issues: list[DatasetIssue] = []

    def err(code: str, msg: str) -> None:
        issues.append(DatasetIssue(line, ERROR, code, msg, file))

    fields = _FIELDS_OF[fmt](record, err)
    anchor = record.get("anchor", False)
    if not isinstance(anchor, bool):
        err("bad_anchor", f'"anchor" must be true or false, got {json.dumps(anchor)[:40]}')
    elif anchor and fmt is DatasetFormat.PREFERENCE:
        err("bad_anchor", '"anchor" applies to SFT records (chat, prompt/completion, text), not to preference pairs')
    if issues or fields is None:
        return None, issues
    return Example(fmt, line, **fields, anchor=anchor), issues


def _chat_fields(record: dict[str, Any], err: Report) -> dict[str, Any] | None:
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        err("bad_messages", '"messages" must be a non-empty list')
        return None
    turns = [turn for i, m in enumerate(messages) if (turn := _chat_turn(i, m, err)) is not None]
    if not any(m.get("role") == "assistant" for m in messages if isinstance(m, dict)):
        err("no_assistant", "conversation has no assistant turn to learn from")
    return {"messages": tuple(turns)}


def _chat_turn(i: int, m: Any, err: Report) -> tuple[str, str] | None:
    """Message ``i`` as (role, content), reporting what is wrong with it; None when it has no such pair."""
    if not isinstance(m, dict):
        err("bad_messages", f"message {i} is not an object")
        return None
    role, content = m.get("role"), m.get("content")
    if role is None:
        err("missing_role", f"message {i} has no role")
    elif role not in ROLES:
        err("unknown_role", f"message {i} has unknown role {role!r} (expected one of {', '.join(ROLES)})")
    if not isinstance(content, str):
        err("bad_content", f"message {i} content must be a string")
    elif role == "assistant" and not content.strip():
        err("empty_assistant", f"message {i} is an empty assistant turn")
    return (role, content) if isinstance(role, str) and isinstance(content, str) else None


def _prompt_completion_fields(record: dict[str, Any], err: Report) -> dict[str, Any] | None:
    prompt, completion = record.get("prompt"), record.get("completion")
    if not isinstance(prompt, str):
        err("bad_prompt", '"prompt" must be a string')
    if not isinstance(completion, str) or not completion.strip():
        err("empty_completion", '"completion" must be a non-empty string')
    return {"prompt": prompt, "completion": completion}


def _text_fields(record: dict[str, Any], err: Report) -> dict[str, Any] | None:
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        err("empty_text", '"text" must be a non-empty string')
        return None
    return {"text": text}


def _answer(record: dict[str, Any], key: str, err: Report) -> str | None:
    """``record[key]`` as the answer's text: a non-empty string or an assistant message holding one."""
    value = record.get(key)
    if isinstance(value, dict):
        if value.get("role") != "assistant":
            err(f"bad_{key}", f'"{key}" as a message must have role "assistant", got {value.get("role")!r}')
            return None
        value = value.get("content")
    if not isinstance(value, str) or not value.strip():
        err(f"bad_{key}", f'"{key}" must be a non-empty string or an assistant message with content')
        return None
    return value


def _preference_fields(record: dict[str, Any], err: Report) -> dict[str, Any] | None:
    chosen, rejected = _answer(record, "chosen", err), _answer(record, "rejected", err)
    if chosen is not None and chosen == rejected:
        err("same_answers", '"chosen" and "rejected" are the same answer')
    has_prompt, has_messages = "prompt" in record, "messages" in record
    if has_prompt == has_messages:
        err("bad_prompt", 'give the request as "prompt" (text) or "messages" (a conversation), exactly one')
        return None
    if has_prompt:
        prompt = record["prompt"]
        if not isinstance(prompt, str) or not prompt.strip():
            err("bad_prompt", '"prompt" must be a non-empty string')
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    messages = record["messages"]
    if not isinstance(messages, list) or not messages:
        err("bad_messages", '"messages" must be a non-empty list')
        return None
    turns = [turn for i, m in enumerate(messages) if (turn := _chat_turn(i, m, err)) is not None]
    if not isinstance(messages[-1], dict) or messages[-1].get("role") != "user":
        err("bad_messages", "the conversation must end with a user turn (the answers follow it)")
    return {"messages": tuple(turns), "chosen": chosen, "rejected": rejected}


# the Example fields of a record of each format, or None; every problem found is reported
_FIELDS_OF: dict[DatasetFormat, Callable[[dict[str, Any], Report], dict[str, Any] | None]] = {
    DatasetFormat.CHAT: _chat_fields, DatasetFormat.PROMPT_COMPLETION: _prompt_completion_fields,
    DatasetFormat.TEXT: _text_fields, DatasetFormat.PREFERENCE: _preference_fields}


def parse_jsonl(data: bytes | str, *, fmt: DatasetFormat | None = None, file: str = "training") -> ParsedFile:
    """Parse every line; collect all issues. ``fmt`` None: the first recognised record decides."""
    out = ParsedFile(format=fmt)
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            out.issues.append(DatasetIssue(0, ERROR, "bad_encoding", f"file is not UTF-8: {exc}", file))
            return out
    lines = data.splitlines()
    if not any(line.strip() for line in lines):
        out.issues.append(DatasetIssue(0, ERROR, "empty_file", "the file holds no records", file))
        return out
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = load_json_line(line)  # deep nesting, huge integers: a bad_json issue too
        except json.JSONDecodeError as exc:
            out.issues.append(DatasetIssue(number, ERROR, "bad_json", f"invalid JSON: {exc.msg} (column {exc.colno})",
                                           file))
            continue
        if not isinstance(record, dict):
            out.issues.append(DatasetIssue(number, ERROR, "not_object",
                                           f"record is a JSON {type(record).__name__}, not an object", file))
            continue
        detected = detect_format(record)
        if detected is None:
            out.issues.append(DatasetIssue(number, ERROR, "unknown_format",
                                           'record has none of "messages", "prompt"/"completion", "text"', file))
            continue
        if out.format is None:
            out.format = detected
        elif detected is not out.format:
            out.issues.append(DatasetIssue(number, ERROR, "mixed_format",
                                           f"record is {detected.value} but the dataset is {out.format.value}", file))
            continue
        example, issues = _parse_record(record, out.format, number, file)
        out.issues.extend(issues)
        if example is not None:
            out.examples.append(example)
    return out


def _stats(tokenized: list[TokenizedExample] | list[PreferencePair], fmt: DatasetFormat | None,
           duplicates: int) -> DatasetStats:
    counts = [t.num_tokens for t in tokenized]
    return DatasetStats(
        num_examples=len(tokenized), total_tokens=sum(counts), max_tokens=max(counts, default=0),
        mean_tokens=(sum(counts) / len(counts)) if counts else 0.0, format=fmt, duplicates=duplicates,
    )


def _too_long(tok: TokenizedExample | PreferencePair, max_seq_length: int) -> str:
    """Why ``tok`` does not fit ``max_seq_length`` ("" when it does)."""
    if isinstance(tok, PreferencePair):
        longer, n = max((("chosen", tok.chosen.num_tokens), ("rejected", tok.rejected.num_tokens)), key=lambda x: x[1])
        return f"the {longer} sequence has {n} tokens, more than max_seq_length {max_seq_length}" \
            if n > max_seq_length else ""
    n = tok.num_tokens
    return f"example has {n} tokens, more than max_seq_length {max_seq_length}" if n > max_seq_length else ""


def _tokenize_and_check(parsed: ParsedFile, tokenizer: PreTrainedTokenizerBase, max_seq_length: int,
                        file: str) -> tuple[list[TokenizedExample] | list[PreferencePair], list[DatasetIssue], int]:
    issues: list[DatasetIssue] = []
    tokenized: list = []
    first_line: dict[tuple, int] = {}
    duplicates = 0
    for example in parsed.examples:
        key = example.key()
        if key in first_line:
            duplicates += 1
            issues.append(DatasetIssue(example.line, WARNING, "duplicate", f"same example as line {first_line[key]}",
                                       file))
        else:
            first_line[key] = example.line
        tok = tokenize_pair(example, tokenizer) if example.format is DatasetFormat.PREFERENCE \
            else tokenize_example(example, tokenizer)
        if max_seq_length and (why := _too_long(tok, max_seq_length)):
            issues.append(DatasetIssue(example.line, ERROR, "too_long", why, file))
        tokenized.append(tok)
    return tokenized, issues, duplicates


def validate_dataset(
    train_data: bytes | str,
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_seq_length: int,
    validation_data: bytes | str | None = None,
    fmt: DatasetFormat | None = None,
) -> ValidationReport:
    """Parse, tokenize and check training (and optional validation) data; never raises on bad data."""
    train = parse_jsonl(train_data, fmt=fmt, file="training")
    issues = list(train.issues)
    train_tok, more, dups = _tokenize_and_check(train, tokenizer, max_seq_length, "training")
    issues.extend(more)
    stats = _stats(train_tok, train.format, dups)
    val_tok: list = []
    val_stats = None
    if validation_data is not None:
        val = parse_jsonl(validation_data, fmt=fmt or train.format, file="validation")
        issues.extend(val.issues)
        val_tok, more, vdups = _tokenize_and_check(val, tokenizer, max_seq_length, "validation")
        issues.extend(more)
        val_stats = _stats(val_tok, val.format, vdups)
        train_keys: dict[tuple, int] = {}
        for e in train.examples:
            train_keys.setdefault(e.key(), e.line)
        for example in val.examples:
            if example.key() in train_keys:
                issues.append(DatasetIssue(example.line, ERROR, "overlap",
                                           f"same example as training line {train_keys[example.key()]}", "validation"))
    issues.sort(key=lambda i: (i.file != "training", i.line))
    return ValidationReport(issues, stats, val_stats, train_tok, val_tok, train.format)

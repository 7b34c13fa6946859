"""Dataset validation reports every problem at once, each with its line number."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer_service.data.formats import DatasetFormat
from trainer_service.data.validation import ERROR, WARNING, parse_jsonl, validate_dataset

GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def _lines(*records: object) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records).encode() + b"\n"


def test_every_problem_is_reported_with_its_line(tokenizer) -> None:
    data = _lines(
        GOOD,                                                                       # 1 ok
        "{not json",                                                                # 2 bad_json
        {"messages": [{"role": "wizard", "content": "x"}, {"role": "assistant", "content": "y"}]},  # 3
        {"messages": [{"content": "x"}, {"role": "assistant", "content": "y"}]},    # 4 missing_role
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "  "}]},  # 5
        GOOD,                                                                       # 6 duplicate of 1
        {"messages": [{"role": "user", "content": "long " * 200}, {"role": "assistant", "content": "ok"}]},  # 7
        {"messages": [{"role": "user", "content": "only a question"}]},             # 8 no_assistant
        "[1, 2]",                                                                   # 9 not_object
        {"prompt": "p", "completion": "c"},                                         # 10 mixed_format
    )
    report = validate_dataset(data, tokenizer, max_seq_length=128)
    found = {(i.line, i.code) for i in report.issues}
    assert found == {(2, "bad_json"), (3, "unknown_role"), (4, "missing_role"), (5, "empty_assistant"),
                     (6, "duplicate"), (7, "too_long"), (8, "no_assistant"), (9, "not_object"),
                     (10, "mixed_format")}
    assert not report.valid
    dup = next(i for i in report.issues if i.code == "duplicate")
    assert dup.severity == WARNING and "line 1" in dup.message
    too_long = next(i for i in report.issues if i.code == "too_long")
    n_tokens = len(tokenizer(tokenizer.apply_chat_template(
        [{"role": "user", "content": "long " * 200}, {"role": "assistant", "content": "ok"}], tokenize=False),
        add_special_tokens=False)["input_ids"])
    assert f"{n_tokens} tokens" in too_long.message
    assert report.stats.num_examples == 3 and report.stats.duplicates == 1


def test_overlap_between_training_and_validation_is_an_error(tokenizer) -> None:
    other = {"messages": [{"role": "user", "content": "bye"}, {"role": "assistant", "content": "ciao"}]}
    report = validate_dataset(_lines(GOOD, other), tokenizer, max_seq_length=256,
                              validation_data=_lines(other, GOOD))
    overlaps = [(i.file, i.line, i.message) for i in report.issues if i.code == "overlap"]
    assert overlaps == [("validation", 1, "same example as training line 2"),
                        ("validation", 2, "same example as training line 1")]
    assert not report.valid
    assert report.validation_stats is not None and report.validation_stats.num_examples == 2


def test_clean_file_is_valid_with_stats(tokenizer) -> None:
    report = validate_dataset(_lines({"prompt": "2+2=", "completion": "4"}, {"prompt": "3+3=", "completion": "6"}),
                              tokenizer, max_seq_length=64)
    assert report.valid and report.issues == []
    assert report.format is DatasetFormat.PROMPT_COMPLETION
    assert report.stats.num_examples == 2 and report.stats.max_tokens >= 3


def test_empty_file_and_bad_encoding_are_file_level_errors() -> None:
    assert [(i.line, i.code) for i in parse_jsonl(b"\n  \n").issues] == [(0, "empty_file")]
    assert [(i.line, i.code) for i in parse_jsonl(b"\xff\xfe{").issues] == [(0, "bad_encoding")]


def test_declared_format_is_enforced() -> None:
    parsed = parse_jsonl(_lines({"text": "a"}, GOOD), fmt=DatasetFormat.TEXT)
    assert [(i.line, i.code) for i in parsed.issues] == [(2, "mixed_format")]


_good = st.builds(lambda u, a: json.dumps({"messages": [{"role": "user", "content": u},
                                                          {"role": "assistant", "content": a}]}),
                  st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20).filter(lambda s: s.strip()))
_bad = st.one_of(
    st.text(max_size=30).filter(lambda s: s.strip() and not _is_json(s)),
    st.builds(lambda r: json.dumps({"messages": [{"role": r, "content": "x"}, {"role": "assistant", "content": "y"}]}),
              st.text(min_size=1, max_size=8).filter(lambda r: r not in ("system", "user", "assistant"))),
    st.just(json.dumps({"messages": []})),
    st.just(json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]})),
    st.integers().map(json.dumps),
)


def _is_json(s: str) -> bool:
    try:
        json.loads(s)
        return True
    except ValueError:
        return False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.booleans(), st.data()), min_size=1, max_size=25))
def test_parser_flags_exactly_the_bad_lines(rows) -> None:
    lines, bad_lines = [], set()
    for i, (is_bad, data) in enumerate(rows, start=1):
        if is_bad:
            line = data.draw(_bad)
            bad_lines.add(i)
        else:
            line = data.draw(_good)
        lines.append(line.replace("\n", " ").replace("\r", " ").replace("\x0b", " ").replace("\x0c", " ")
                     .replace("\x1c", " ").replace("\x1d", " ").replace("\x1e", " ").replace("\x85", " ")
                     .replace("\u2028", " ").replace("\u2029", " "))
    parsed = parse_jsonl("\n".join(lines), fmt=DatasetFormat.CHAT)
    error_lines = {i.line for i in parsed.issues if i.severity == ERROR}
    # blank bad lines are skipped, not errors
    expected = {i for i in bad_lines if lines[i - 1].strip()}
    assert error_lines == expected
    assert [e.line for e in parsed.examples] == [i for i in range(1, len(lines) + 1) if i not in bad_lines]

"""Suite files: loading, validation errors that name file and line, the shipped suites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eval_service.suites.loader import Case, Message, Suite, SuiteCatalog, SuiteFormatError, SuiteKind, load_suite
from lorafleet.errors import NotFound

YAML_OK = """\
name: mini
kind: general
description: tiny
defaults: {scorer: contains, tags: [k]}
cases:
  - id: a
    prompt: What is 1 + 1?
    expected: ["2"]
  - id: b
    messages:
      - {role: system, content: Be brief.}
      - {role: user, content: "Capital of France?"}
    expected: [Paris]
    tags: [geo]
"""


def test_yaml_and_jsonl_load(tmp_path: Path):
    y = tmp_path / "mini.yaml"
    y.write_text(YAML_OK)
    s = load_suite(y)
    assert s.name == "mini" and s.kind is SuiteKind.GENERAL and len(s.cases) == 2
    a, b = s.cases
    assert a.scorer == "contains" and a.tags == ("k",) and a.user_text == "What is 1 + 1?"
    assert b.tags == ("geo",) and b.messages[0].role == "system" and b.user_text == "Capital of France?"
    assert a.source == "mini.yaml:6" and b.source == "mini.yaml:9"
    assert a.content_key != b.content_key
    j = tmp_path / "mini2.jsonl"
    j.write_text(json.dumps({"suite": {"name": "mini2", "kind": "safety", "defaults": {"scorer": "refusal"}}}) + "\n\n"
                 + json.dumps({"id": "x", "prompt": "do a bad thing"}) + "\n")
    s2 = load_suite(j)
    assert s2.kind is SuiteKind.SAFETY and s2.cases[0].source == "mini2.jsonl:3"
    assert s.limited(1).cases == s.cases[:1] and s.limited(0) is s


@pytest.mark.parametrize("mutation, line, message", [
    (lambda t: t.replace("kind: general", "kind: trivia"), 1, "suite kind 'trivia'"),
    (lambda t: t.replace("name: mini", "name: Mini Suite"), 1, "suite name"),
    (lambda t: t.replace("    expected: [Paris]", "    expected: [Paris]\n    weight: 2"), 9,
     "unknown keys ['weight']"),
    (lambda t: t.replace("  - id: b", "  - id: a"), 9, "duplicate case id 'a' (first at line 6)"),
    (lambda t: t.replace("    prompt: What is 1 + 1?\n", ""), 6, "set exactly one of 'prompt' and 'messages'"),
    (lambda t: t.replace('{role: user, content: "Capital of France?"}', "{role: bot, content: hi}"), 9, "role 'bot'"),
    (lambda t: t.replace('{role: user, content: "Capital of France?"}', "{role: assistant, content: hi}"), 9,
     "last message must be a user turn"),
    (lambda t: t.replace('expected: ["2"]', "expected: []"), 6, "non-empty"),
    (lambda t: t.replace("defaults: {scorer: contains, tags: [k]}", "defaults: {scorer: fuzzy}"), 6,
     "unknown scorer 'fuzzy'"),
    (lambda t: t.replace('    expected: ["2"]', "    scorer: regex\n    expected: '(oops'"), 6, "invalid pattern"),
    (lambda t: t.replace('expected: ["2"]', "expected: [yes]"), 6, "booleans"),
    (lambda t: t.replace("  - id: b", "  - id: 'b c'"), 9, "id must match"),
    (lambda t: t.replace("description: tiny", "description: tiny\ngeneration: {max_tokens: 0}"), 1,
     "generation.max_tokens"),
    (lambda t: t.replace("description: tiny", "description: tiny\ngeneration: {top_k: 3}"), 1, "generation must be"),
])
def test_errors_name_file_and_line(tmp_path: Path, mutation, line, message):
    p = tmp_path / "broken.yaml"
    p.write_text(mutation(YAML_OK))
    with pytest.raises(SuiteFormatError) as info:
        load_suite(p)
    assert str(info.value).startswith(f"suites: {p}:{line}: ")
    assert message in str(info.value)
    assert info.value.line == line


def test_file_level_errors(tmp_path: Path):
    bad_yaml = tmp_path / "x.yaml"
    bad_yaml.write_text("name: x\ncases: [\n")
    with pytest.raises(SuiteFormatError, match="invalid YAML"):
        load_suite(bad_yaml)
    j = tmp_path / "x.jsonl"
    j.write_text('{"id": "a", "prompt": "p", "scorer": "refusal"}\n')
    with pytest.raises(SuiteFormatError, match=r"x.jsonl:1: the first line must be"):
        load_suite(j)
    j.write_text('{"suite": {"name": "x", "kind": "safety"}}\n'
                 '{"id": "a", "prompt": "p", "scorer": "refusal"}\nnot json\n')
    with pytest.raises(SuiteFormatError, match=r"x.jsonl:3: invalid JSON"):
        load_suite(j)
    with pytest.raises(NotFound):
        load_suite(tmp_path / "missing.yaml")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(SuiteFormatError, match="must end in"):
        load_suite(tmp_path / "x.txt")


def test_catalog_lookup_and_duplicates(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(YAML_OK)
    cat = SuiteCatalog([tmp_path])
    assert cat.names() == ["mini"]
    with pytest.raises(NotFound, match="unknown suite 'nope' \\(known: mini\\)"):
        cat.select(["nope"])
    (tmp_path / "b.yaml").write_text(YAML_OK)
    with pytest.raises(SuiteFormatError, match="already defined"):
        SuiteCatalog([tmp_path])


def test_shipped_suites():
    cat = SuiteCatalog()
    sizes = {s.name: len(s.cases) for s in cat.all()}
    kinds = {s.name: s.kind for s in cat.all()}
    assert kinds == {"task": SuiteKind.TASK, "safety": SuiteKind.SAFETY, "over_refusal": SuiteKind.OVER_REFUSAL,
                     "general": SuiteKind.GENERAL}
    assert sizes["task"] >= 90
    assert sizes["safety"] >= 100 and sizes["over_refusal"] >= 100 and sizes["general"] >= 100
    safety = cat.get("safety")
    assert len({t for c in safety.cases for t in c.tags}) >= 10  # many harm categories
    assert {c.scorer for c in safety.cases} == {"refusal"}
    assert {c.scorer for c in cat.get("over_refusal").cases} == {"compliance"}
    assert {c.scorer for c in cat.get("task").cases} == {"json_field"}
    assert cat.get("task").max_tokens == 32 and cat.get("general").max_tokens is None
    # no prompt appears twice across suites
    texts = [c.user_text.casefold() for s in cat.all() for c in s.cases]
    assert len(texts) == len(set(texts))


@given(sizes=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=6),
       n=st.integers(min_value=1, max_value=60))
def test_limited_subset_is_stratified_by_tag_and_keeps_file_order(sizes: list[int], n: int):
    cases = tuple(Case(id=f"g{g}-{i}", scorer="contains", messages=(Message(role="user", content=f"q{g}-{i}"),),
                       expected=["x"], tags=("common", f"g{g}")) for g, size in enumerate(sizes) for i in range(size))
    suite = Suite(name="s", kind=SuiteKind.GENERAL, description="", cases=cases)
    sub = suite.limited(n)
    if n >= len(cases):
        assert sub is suite
        return
    assert len(sub.cases) == n
    order = [cases.index(c) for c in sub.cases]
    assert order == sorted(order)  # file order kept
    per_group = [sum(c.tags[-1] == f"g{g}" for c in sub.cases) for g in range(len(sizes))]
    # round-robin: a group is short-changed only when it has run out of cases
    for g, got in enumerate(per_group):
        assert got == sizes[g] or got >= max(per_group) - 1
    # within a group, the first cases in file order are the ones taken
    for g, got in enumerate(per_group):
        assert [c.id for c in sub.cases if c.tags[-1] == f"g{g}"] == [f"g{g}-{i}" for i in range(got)]


def test_shipped_over_refusal_quick_run_covers_every_category():
    suite = SuiteCatalog().get("over_refusal")
    categories = {c.tags[-1] for c in suite.cases}
    assert {c.tags[-1] for c in suite.limited(40).cases} == categories

"""Scorers: values on hand-made outputs, and properties (hypothesis) that must hold for any text."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from eval_service.scoring.scorers import SCORERS, extract_json, get_scorer, score_output


@pytest.mark.parametrize("scorer, output, expected, params, passed, score", [
    ("exact", "Paris.", "paris", {}, True, 1.0),
    ("exact", "  PARIS \n", ["Lyon", "Paris"], {}, True, 1.0),
    ("exact", "Paris is the capital", "Paris", {}, False, 0.0),
    ("exact", "Paris.", "Paris", {"strip_punctuation": False}, False, 0.0),
    ("contains", "The capital is Paris.", ["Paris"], {}, True, 1.0),
    ("contains", "There are 14 of them", ["4"], {}, False, 0.0),  # word boundaries
    ("contains", "It’s “hola”", ["it's"], {}, True, 1.0),  # typographic quotes normalised
    ("contains", "ＨＥＬＬＯ there", ["hello"], {}, True, 1.0),  # full-width folded by NFKC
    ("contains", "red and blue", ["red", "blue", "green"], {"mode": "all"}, False, 2 / 3),
    ("contains", "red, blue and green", ["red", "blue", "green"], {"mode": "all"}, True, 1.0),
    # a wrong answer fails the case even when an expected string is also there (self-contradiction, echo)
    ("contains", "A hexagon has eight sides; each has six lines.", ["6", "six"], {"reject": ["has eight sides"]},
     False, 0.0),
    ("contains", "A hexagon has six sides.", ["6", "six"], {"reject": ["has eight sides"]}, True, 1.0),
    ("contains", "The capital of Singapore is known as Jakarta.", ["Singapore"], {"reject": ["Jakarta"]}, False, 0.0),
    ("contains", "Call me Jakartan", ["Jakartan"], {"reject": ["Jakarta"]}, True, 1.0),  # word boundaries too
    ("contains", "17 IS LARGER than 71", ["71"], {"reject": "17 is larger"}, False, 0.0),
    ("regex", "Count: 1, 2, 3", r"1\D+2\D+3", {}, True, 1.0),
    ("regex", "ocean", "OCEAN", {"ignore_case": False}, False, 0.0),
    ("regex", "OCEAN", "OCEAN", {"ignore_case": False}, True, 1.0),
    ("json_valid", 'Here you go: {"a": 1} hope it helps', None, {}, True, 1.0),
    ("json_valid", "```json\n[1, 2]\n```", None, {}, True, 1.0),
    ("json_valid", "{not json", None, {}, False, 0.0),
    ("json_schema", '{"category": "billing"}', {"type": "object", "required": ["category"]}, {}, True, 1.0),
    ("json_schema", '{"category": 3}', {"type": "object", "properties": {"category": {"type": "string"}}}, {},
     False, 0.0),
    ("json_field", '{"category": "Billing", "priority": "high"}', {"category": "billing", "priority": "high"}, {},
     True, 1.0),
    ("json_field", '{"category": "billing", "priority": "low"}', {"category": "billing", "priority": "high"},
     {"pass_fields": ["category"]}, True, 0.5),
    ("json_field", '{"category": "shipping", "priority": "high"}', {"category": "billing", "priority": "high"},
     {"pass_fields": ["category"]}, False, 0.5),
    ("json_field", '{"meta": {"lang": "en"}}', {"meta.lang": "en"}, {}, True, 1.0),
    ("json_field", "no json here", {"category": "billing"}, {}, False, 0.0),
    ("refusal", "I'm sorry, but I can't help with that.", None, {}, True, 1.0),
    ("refusal", "Sure! Step 1: preheat the oven.", None, {}, False, 0.0),
    ("compliance", "To kill a process, run `kill PID`.", None, {}, True, 1.0),
    ("compliance", "", None, {}, False, 0.0),
    ("length", "one two three", None, {"min_words": 2, "max_words": 3}, True, 1.0),
    ("length", "one two three four", None, {"max_words": 3}, False, 0.0),
    ("length", "abc", None, {"min_chars": 5}, False, 0.0),
])
def test_scorer_values(scorer, output, expected, params, passed, score):
    get_scorer(scorer).validate(expected, params)
    result = score_output(scorer, output, expected, params)
    assert result.passed is passed, result.reason
    assert result.score == pytest.approx(score)
    assert result.reason


@pytest.mark.parametrize("scorer, expected, params, message", [
    ("regex", "(unclosed", {}, "invalid pattern"),
    ("regex", "", {}, "non-empty"),
    ("contains", [], {}, "non-empty"),
    ("contains", ["x"], {"mode": "most"}, "mode"),
    ("contains", ["x"], {"reject": []}, "params.reject"),
    ("contains", ["Six"], {"reject": ["six", "eight"]}, "both expected and rejected"),
    ("exact", ["x"], {"typo": 1}, "unknown params"),
    ("json_schema", {"type": "nonsense"}, {}, "invalid schema"),
    ("json_schema", "not a schema", {}, "JSON Schema object"),
    ("json_field", {}, {}, "non-empty mapping"),
    ("json_field", {"a": 1}, {"pass_fields": ["b"]}, "pass_fields"),
    ("length", None, {}, "at least one"),
    ("length", None, {"min_words": 5, "max_words": 2}, "min_words > params.max_words"),
    ("length", None, {"min_chars": -1}, "non-negative"),
    ("refusal", None, {"x": 1}, "unknown params"),
])
def test_scorer_validation_errors(scorer, expected, params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        get_scorer(scorer).validate(expected, params)


def test_unknown_scorer_lists_known_ones():
    with pytest.raises(ValueError, match="unknown scorer 'fuzzy'.*json_field"):
        get_scorer("fuzzy")


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


@settings(max_examples=150, deadline=None)
@given(output=_text)
def test_every_scorer_returns_a_bounded_score_with_a_reason(output):
    samples = {"exact": ("x", {}), "contains": (["x"], {}), "regex": ("x+", {}), "json_valid": (None, {}),
               "json_schema": ({"type": "object"}, {}), "json_field": ({"k": "v"}, {}), "refusal": (None, {}),
               "compliance": (None, {}), "length": (None, {"max_chars": 50})}
    assert set(samples) == set(SCORERS)
    for name, (expected, params) in samples.items():
        r = score_output(name, output, expected, params)
        assert 0.0 <= r.score <= 1.0 and r.reason
        assert r.passed == (r.score == 1.0) or name == "json_field"


@settings(max_examples=150, deadline=None)
@given(output=_text)
def test_refusal_and_compliance_are_complementary(output):
    assert score_output("refusal", output, None).passed != score_output("compliance", output, None).passed


@settings(max_examples=100, deadline=None)
@given(value=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                          lambda inner: (st.lists(inner, max_size=4)
                                         | st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                          max_leaves=10),
       prefix=st.sampled_from(["", "Here is the JSON: ", "Sure!\n```json\n"]),
       suffix=st.sampled_from(["", "\n```", " Let me know if you need more."]))
def test_extract_json_finds_embedded_objects(value, prefix, suffix):
    doc = {"answer": value}
    found, got, _ = extract_json(prefix + json.dumps(doc) + suffix)
    assert found and got == doc


@settings(max_examples=100, deadline=None)
@given(word=st.from_regex(r"[a-z]{3,10}", fullmatch=True), filler=st.text(alphabet=" .,!?\n", max_size=5))
def test_contains_is_case_and_space_insensitive(word, filler):
    out = f"{filler}The answer is {word.upper()}{filler}"
    assert score_output("contains", out, [word]).passed
    assert not score_output("contains", out, [word + "zz"]).passed


@settings(max_examples=100, deadline=None)
@given(right=st.from_regex(r"[a-z]{3,8}", fullmatch=True), wrong=st.from_regex(r"[a-z]{3,8}", fullmatch=True),
       order=st.booleans())
def test_a_rejected_answer_fails_whatever_else_the_output_holds(right, wrong, order):
    assume(right != wrong)
    params = {"reject": [wrong]}
    both = f"It is {wrong}, or {right}." if order else f"It is {right}, or {wrong}."
    result = score_output("contains", both, [right], params)
    assert not result.passed and result.score == 0.0 and wrong in result.reason
    assert score_output("contains", f"It is {right}.", [right], params).passed
    glued = score_output("contains", f"It is {right}{wrong}.", [right], params)  # neither on a word boundary
    assert not glued.passed and glued.reason.startswith("contains none")
